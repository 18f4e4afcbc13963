"""What one benchmark episode is: its reproduction key and its seeds.

An episode is fully determined by ``(agent, agent_kwargs, scene, env_kwargs,
seed)``.  From the one *episode seed* ``S`` both seeds are derived:

* env seed = ``S`` (``env.reset(seed=S)``), so every agent meets the same
  sample and the same shot noise stream on the same seed;
* agent seed = the first 32-bit word of ``numpy.random.SeedSequence((S,
  AGENT_STREAM))``, an independent stream — not ``S`` itself, since
  ``default_rng(S)`` would replay the env's own generator.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stemscan.safejson import check_depth
from stemscan.validation import MAX_SEED, MAX_SEEDS, check_number, check_seeds

__all__ = [
    "AGENT_STREAM",
    "EpisodeSpec",
    "MAX_EPISODES",
    "MAX_SEED",
    "MAX_SEEDS",
    "agent_seed",
    "canonical_json",
    "check_env_kwargs",
    "check_envs",
    "expand_grid",
    "parse_seeds",
    "split_pairs",
]

#: Spawn key separating the agent's random stream from the env's.
AGENT_STREAM = 0xA6E7

#: Most episodes in one grid (agents x scenes x budgets x seeds), checked before the list is built.
MAX_EPISODES = 1_000_000

#: Env keywords a grid sets itself (from ``scenes``, ``budgets``); not allowed in ``env_kwargs``.
_GRID_ENV_KEYS = ("scene", "render_mode")


def agent_seed(seed: int) -> int:
    """The agent's seed for episode seed ``seed`` (see the module docstring)."""
    return int(np.random.SeedSequence((int(seed), AGENT_STREAM)).generate_state(1, dtype=np.uint32)[0])


def canonical_json(value: Mapping[str, Any]) -> str:
    """Deterministic JSON text (sorted keys, no spaces) of a kwargs mapping."""
    check_depth(value, "keyword arguments")  # no RecursionError from json.dumps
    try:
        return json.dumps(dict(value), sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ValueError(f"keyword arguments must be JSON-serialisable (finite numbers, strings, lists, dicts): {error}") from error


@dataclass(frozen=True)
class EpisodeSpec:
    """One (agent, scene, seed) episode of a grid.

    Attributes:
        agent: Agent name from :func:`stemscan.agents.names`.
        scene: Scene family from :func:`stemscan.scenes.names`.
        seed: Episode seed (env seed; the agent seed derives from it).
        env_kwargs: Keywords of ``gymnasium.make("STEMScan-v0", scene=scene, **env_kwargs)``
            (``dose_budget`` included).
        agent_kwargs: Keywords of ``stemscan.agents.make(agent, env, seed=..., **agent_kwargs)``.
        analysts: Analysts that watch the episode and are scored on the
            characterisation track (:mod:`stemscan.agents.analysts`); they do
            not change the episode, so they are not part of its key.
    """

    agent: str
    scene: str
    seed: int
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    agent_kwargs: dict[str, Any] = field(default_factory=dict)
    analysts: tuple[str, ...] = ()

    def key(self) -> tuple[str, str, str, str, int]:
        """Unique key of the results store: (agent, agent_kwargs, scene, env_kwargs, seed)."""
        return (self.agent, canonical_json(self.agent_kwargs), self.scene, canonical_json(self.env_kwargs), int(self.seed))

    def __hash__(self) -> int:  # dicts are unhashable; hash the key
        return hash(self.key())

    def label(self) -> str:
        """Short human-readable name, e.g. ``random/lattice-defects/s3``."""
        budget = self.env_kwargs.get("dose_budget")
        return f"{self.agent}/{self.scene}/s{self.seed}" + (f"/b{budget}" if budget is not None else "")


def parse_seeds(seeds: int | str | Sequence[int]) -> list[int]:
    """Seeds from a count ``N`` (→ 0..N-1), a list, or text ``"N"``, ``"3,5,8"``, ``"10-19"``.

    At most :data:`MAX_SEEDS` seeds, each in ``0 .. MAX_SEED``
    (:func:`stemscan.validation.check_seeds`).

    Raises:
        ValueError: Empty, malformed, non-integer, negative, duplicate or too many seeds.
    """
    return check_seeds(seeds)


def check_env_kwargs(env_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Validate env keywords against ``STEMScanEnv``'s signature.

    Raises:
        ValueError: Unknown keywords (listing the valid ones), keywords the
            grid sets itself, or values that are not JSON-serialisable.
    """
    from stemscan.envs.stem_scan_env import STEMScanEnv

    if not isinstance(env_kwargs, Mapping):
        raise ValueError(f"env kwargs must be a mapping, got {type(env_kwargs).__name__}")
    valid = [name for name in inspect.signature(STEMScanEnv.__init__).parameters if name != "self"]
    allowed = [name for name in valid if name not in _GRID_ENV_KEYS]
    for key in env_kwargs:
        if key in _GRID_ENV_KEYS:
            raise ValueError(f"env kwarg {key!r} is set by the benchmark itself (use the scenes list); allowed: {', '.join(allowed)}")
        if key not in valid:
            raise ValueError(f"unknown env kwarg {key!r}; valid: {', '.join(allowed)}")
    canonical_json(env_kwargs)
    return dict(env_kwargs)


def _check_names(kind: str, given: Iterable[str], valid: Sequence[str], accept: Any = None) -> list[str]:
    given = list(given)
    if not given:
        raise ValueError(f"no {kind}s given; valid names: {', '.join(valid)}")
    for name in given:
        if name not in valid and not (accept is not None and accept(name)):
            raise ValueError(f"unknown {kind} {name!r}; valid names: {', '.join(valid)}")
    if len(set(given)) != len(given):
        raise ValueError(f"{kind}s contain duplicates: {given}")
    return given


def _is_scene_file(name: Any) -> bool:
    """``"file:PATH"`` naming an existing file (``ValueError`` if the file is missing)."""
    if not (isinstance(name, str) and name.startswith("file:")):
        return False
    path = Path(name[len("file:"):])
    if path.is_dir():
        raise ValueError(f"scene {name!r}: {path} is a directory, not an image file")
    if not path.is_file():
        raise ValueError(f"scene {name!r}: no such file")
    return True


def _check_agent_kwargs(where: str, name: str, kwargs: Any, agents: Sequence[str]) -> None:
    """Raise ``ValueError`` naming ``where`` unless ``kwargs`` are JSON keywords for a grid agent."""
    if name not in agents:
        raise ValueError(f"{where}: agent {name!r} is not in the grid's agents {list(agents)}")
    if not isinstance(kwargs, Mapping):
        raise ValueError(f"{where} must be a mapping, got {type(kwargs).__name__}")
    if "seed" in kwargs:
        raise ValueError(f"{where} sets 'seed'; the agent seed derives from the episode seed")
    canonical_json(kwargs)


def split_pairs(agents: Sequence[str], analysts: Sequence[str] | None = None) -> tuple[list[str], dict[str, tuple[str, ...]]]:
    """Navigators and the analysts of each, from ``navigator+analyst`` names and a grid-wide analyst list.

    ``"raster+peaks"`` pairs ``raster`` with ``peaks``; a plain name runs
    the discovery track only, unless ``analysts`` (given to every
    navigator) is set.  ``self`` in ``analysts`` applies to navigators with
    a ``report()`` method only; named explicitly (``"dcnn-bo+self"``) it
    must be available.

    Raises:
        ValueError: Unknown analyst (listing the valid ones), ``self`` for a
            navigator without ``report()``, duplicates.
    """
    from stemscan.agents.analysts import SELF, has_report
    from stemscan.agents.analysts import names as analyst_names
    from stemscan.agents.registry import agent_class, is_agent_name

    def check(name: str, where: str) -> str:
        if name not in analyst_names():
            raise ValueError(f"unknown analyst {name!r} in {where}; valid names: {', '.join(analyst_names())}")
        return name

    shared = [check(str(a), "analysts") for a in (analysts or [])]
    if len(set(shared)) != len(shared):
        raise ValueError(f"analysts contain duplicates: {list(shared)}")
    navigators: list[str] = []
    pairs: dict[str, list[str]] = {}
    for name in agents:
        if not isinstance(name, str):
            raise ValueError(f"agent names must be strings, got {name!r}")
        navigator, plus, analyst = name.rpartition("+") if "+" in name else (name, "", "")
        if plus and not is_agent_name(navigator):
            raise ValueError(f"{name!r}: unknown navigator {navigator!r} (write navigator+analyst, e.g. raster+peaks)")
        if navigator not in pairs:
            navigators.append(navigator)
            pairs[navigator] = []
        chosen = pairs[navigator]
        if plus:
            check(analyst, repr(name))
            if analyst == SELF and not has_report(agent_class(navigator)):
                raise ValueError(f"{name!r}: agent {navigator!r} has no report() of its own; pair it with one of "
                                 f"{', '.join(a for a in analyst_names() if a != SELF)}")
            if analyst in chosen:
                raise ValueError(f"agents contain duplicates: {name!r}")
            chosen.append(analyst)
    out: dict[str, tuple[str, ...]] = {}
    for navigator in navigators:
        names = list(pairs[navigator])
        for analyst in shared:
            if analyst in names:
                continue
            if analyst == SELF and not (is_agent_name(navigator) and has_report(agent_class(navigator))):
                continue
            names.append(analyst)
        out[navigator] = tuple(names)
    return navigators, out


def expand_grid(
    agents: Sequence[str],
    scenes: Sequence[str],
    seeds: int | str | Sequence[int],
    budgets: Sequence[float] | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
    agent_kwargs: Mapping[str, Mapping[str, Any]] | None = None,
    scene_agent_kwargs: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
    scene_kwargs: Mapping[str, Mapping[str, Any]] | None = None,
    analysts: Sequence[str] | None = None,
) -> list[EpisodeSpec]:
    """Every (agent, scene, budget, seed) episode, validated.

    Args:
        agents: Agent names, or ``navigator+analyst`` pairs (see
            :func:`split_pairs`): a navigator named with several analysts
            plays each episode once, watched by all of them.
        scenes: Scene family names.
        seeds: Count, list or text (see :func:`parse_seeds`).
        budgets: Dose budgets (fractions of one full frame); ``None`` keeps
            ``env_kwargs``' (or the env's default).
        env_kwargs: Shared env keywords.
        agent_kwargs: Per-agent keywords, ``{agent name: {kw: value}}``.
        scene_agent_kwargs: Per-scene overrides, ``{scene: {agent name: {kw:
            value}}}``, merged over ``agent_kwargs`` for that scene's
            episodes (a workflow configured for one kind of sample).
        scene_kwargs: Per-scene ``scene_kwargs`` of the env, ``{scene: {kw:
            value}}``: family parameters, or for a ``"file:PATH"`` scene the
            keywords of :func:`stemscan.scenes.load` (``labels``,
            ``pixel_size``, ``signal_scale``).  Scenes may be family names or
            ``"file:PATH"`` (an existing image file; paths relative to the
            working directory).
        analysts: Analysts for every navigator (``self`` where the
            navigator has a ``report()``), on top of ``navigator+analyst`` pairs.

    Raises:
        ValueError: Unknown agent/scene names (listing the valid ones), bad
            seeds, budgets or kwargs.
    """
    from stemscan.agents import names as agent_names
    from stemscan.agents.registry import agent_class, check_agent_kwargs, is_agent_name
    from stemscan.scenes import names as scene_names

    if isinstance(agents, str):
        raise ValueError(f"agents must be a list of names, got the string {agents!r}")
    plain = [a for a in agents if isinstance(a, str) and "+" not in a]
    if len(set(plain)) != len(plain):
        raise ValueError(f"agents contain duplicates: {list(agents)}")
    navigators, watching = split_pairs(list(agents), analysts)
    agents = _check_names("agent", navigators, agent_names(), accept=is_agent_name)
    for name in agents:
        if name not in agent_names():
            agent_class(name)  # a module:Class reference must import now, not in every episode
    scenes = _check_names("scene", scenes, scene_names(), accept=_is_scene_file)
    per_scene_env = dict(scene_kwargs or {})
    for scene, kwargs in per_scene_env.items():
        if scene not in scenes:
            raise ValueError(f"scene_kwargs given for scene {scene!r}, which is not in the grid's scenes {scenes}")
        if not isinstance(kwargs, Mapping):
            raise ValueError(f"scene_kwargs[{scene!r}] must be a mapping of keywords, got {type(kwargs).__name__}")
        canonical_json(kwargs)
    seed_list = parse_seeds(seeds)
    base_env = check_env_kwargs(env_kwargs or {})
    per_agent = dict(agent_kwargs or {})
    for name, kwargs in per_agent.items():
        _check_agent_kwargs(f"agent_kwargs[{name!r}]", name, kwargs, agents)
    per_scene: dict[str, dict[str, dict[str, Any]]] = {}
    for scene, table in (scene_agent_kwargs or {}).items():
        if scene not in scenes:
            raise ValueError(f"scene_agent_kwargs given for scene {scene!r}, which is not in the grid's scenes {scenes}")
        if not isinstance(table, Mapping):
            raise ValueError(f"scene_agent_kwargs[{scene!r}] must map agent names to keywords, got {type(table).__name__}")
        for name, kwargs in table.items():
            _check_agent_kwargs(f"scene_agent_kwargs[{scene!r}][{name!r}]", name, kwargs, agents)
            per_scene.setdefault(scene, {})[name] = {**per_agent.get(name, {}), **kwargs}
    if budgets is None:
        budget_list: list[float | None] = [None]
    else:
        budget_list = []
        for budget in budgets:
            budget_list.append(check_number("dose budgets (fraction of a full frame)", budget, 0.0, 1.0, low_open=True))
        if not budget_list:
            raise ValueError("budgets must not be empty")
        if len(set(budget_list)) != len(budget_list):
            raise ValueError(f"budgets contain duplicates: {list(budgets)}")
        if "dose_budget" in base_env:
            raise ValueError("give the dose budget either in budgets or in env kwargs, not both")
    for name in agents:  # every agent's options, per scene too, before anything runs
        for kwargs in [per_agent.get(name, {}), *(table[name] for table in per_scene.values() if name in table)]:
            if kwargs:
                check_agent_kwargs(name, dict(kwargs))
    total = len(scenes) * len(budget_list) * len(agents) * len(seed_list)
    if total > MAX_EPISODES:
        raise ValueError(
            f"the grid has {total} episodes ({len(agents)} agents x {len(scenes)} scenes x {len(budget_list)} budgets x "
            f"{len(seed_list)} seeds); at most {MAX_EPISODES} per grid"
        )
    specs = []
    for scene in scenes:
        for budget in budget_list:
            env = dict(base_env)
            if budget is not None:
                env["dose_budget"] = budget
            if per_scene_env.get(scene):
                env["scene_kwargs"] = {**env.get("scene_kwargs", {}), **per_scene_env[scene]}
            for agent in agents:
                for seed in seed_list:
                    kwargs = per_scene.get(scene, {}).get(agent, per_agent.get(agent, {}))
                    specs.append(EpisodeSpec(agent, scene, seed, dict(env), dict(kwargs), watching[agent]))
    return specs


def check_envs(specs: Iterable[EpisodeSpec]) -> None:
    """Make the env of every distinct (scene, env kwargs) of ``specs`` once, so that a value the env refuses
    (``image_size="big"``, ``patch_size=3``, a dose budget that cannot pay for the survey) is found before
    anything runs or is written.

    Construction draws no scene (that happens on reset); a ``file:`` scene is
    loaded, and a scene pool (``num_scenes``) is checked with a pool of one.

    Raises:
        ValueError: The env's own message, naming the scene and the env kwargs.
    """
    import gymnasium

    from stemscan.envs.registration import ENV_ID, register_envs

    register_envs()
    seen: set[tuple[str, str]] = set()
    for spec in specs:
        key = (spec.scene, canonical_json(spec.env_kwargs))
        if key in seen:
            continue
        seen.add(key)
        kwargs = dict(spec.env_kwargs)
        pool = kwargs.get("num_scenes")
        if isinstance(pool, (int, np.integer)) and not isinstance(pool, bool) and pool >= 1:
            kwargs.update(num_scenes=1, scene_cache_dir=None)  # the same checks, without generating the whole pool
        try:
            env = gymnasium.make(ENV_ID, scene=spec.scene, **kwargs)
        except Exception as error:  # noqa: BLE001 - any refusal of the env is a bad grid value
            raise ValueError(f"scene {spec.scene!r} with env kwargs {key[1]}: {error}") from error
        env.close()
