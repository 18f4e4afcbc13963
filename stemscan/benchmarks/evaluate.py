"""``stemscan.evaluate``: the benchmark protocol for any object with ``predict``.

A zoo agent given by name is built per episode exactly as ``stemscan
bench`` builds it (same env, same seeds, same row); an object with SB3's
``predict`` (a zoo agent, an SB3 model, your own policy) is run as it is,
on the same envs and seeds, and reset with the same agent seed when it has
a ``reset(seed=...)``.  Either way the rows have the fields of the results
store (:mod:`stemscan.benchmarks.store`).

With ``analysts=`` the same episodes are also scored on the
characterisation track: each analyst watches the episode (the navigator
plays it once) and each row gains ``"identifications"``, one row per
analyst with the fields of table ``identifications``
(:mod:`stemscan.benchmarks.characterise`: precision, recall, F1, DEC-AUC,
...), exactly what ``stemscan bench --analysts`` stores.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from stemscan.benchmarks.episode import ENV_ID, episode_row, play_episode, run_spec
from stemscan.benchmarks.spec import EpisodeSpec, agent_seed, canonical_json, expand_grid, parse_seeds

__all__ = ["evaluate"]


def evaluate(
    agent: Any,
    scenes: str | Sequence[str] = ("lattice-defects",),
    seeds: int | Sequence[int] = 1,
    budgets: Sequence[float] | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
    agent_kwargs: Mapping[str, Any] | None = None,
    deterministic: bool = True,
    analysts: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Run ``agent`` for every (scene, budget, seed) and return one result row per episode.

    Args:
        agent: A zoo name (``"raster"``, ``"module:Class"``; built per episode
            with :func:`stemscan.agents.make` and ``agent_kwargs``), or any
            object with ``predict`` (used as it is; ``agent_kwargs`` must be
            empty).
        scenes: Scene families (:func:`stemscan.scenes.names`).
        seeds: Episode seeds, or a count ``N`` meaning ``0..N-1``.  The env
            is reset with the seed; the agent gets
            :func:`~stemscan.benchmarks.spec.agent_seed` of it.
        budgets: Dose budgets (fractions of one full frame); ``None`` keeps
            ``env_kwargs``' (or the env's default).
        env_kwargs: Further ``STEMScan-v0`` keywords.
        agent_kwargs: Keywords of a zoo agent built by name.
        deterministic: Passed to ``predict`` (zoo agents: True by default).
        analysts: Analysts scored on the characterisation track
            (:func:`stemscan.agents.analysts.names`: ``"peaks"``, ``"dcnn"``,
            ``"self"`` — the agent's own ``report()``, which it must have).
            ``None`` (default): the discovery track only.

    Returns:
        Rows (dicts) with the columns of the results store, in (scene,
        budget, seed) order.  With ``analysts``, each row also holds
        ``"identifications"``: a list of one dict per analyst (in the order
        given) with the columns of table ``identifications`` (``analyst``,
        ``precision``, ``recall``, ``f1``, ``localisation_f1``, ``dec_auc``,
        ``per_kind``, ``curve``, ...); empty for an unscored scene (an
        image without labels).

    Raises:
        ValueError: Unknown scene, agent or analyst name, bad seeds or
            budgets, ``agent_kwargs`` with an object, ``"self"`` for an
            agent without ``report()``.
        TypeError: ``agent`` is neither a name nor has ``predict``.
    """
    families = [scenes] if isinstance(scenes, str) else list(scenes)
    by_name = isinstance(agent, str)
    if not by_name and not callable(getattr(agent, "predict", None)):
        raise TypeError(f"agent must be a zoo name or have a predict method, got {type(agent).__name__}")
    if not by_name and agent_kwargs:
        raise ValueError("agent_kwargs only apply to a zoo agent given by name; configure the object yourself")
    name = agent if by_name else _label(agent)
    if by_name and "+" in agent and ":" not in agent:
        navigator, _, analyst = agent.partition("+")
        raise ValueError(f"evaluate() takes the navigator and its analysts apart: agent={navigator!r}, "
                         f"analysts=[{analyst!r}] (the 'navigator+analyst' names are for stemscan bench)")
    watching = _check_analysts(analysts, agent, by_name)
    specs = expand_grid(
        [name] if by_name else ["random"],  # the grid checks names; an object's label is set below
        families,
        parse_seeds(seeds),
        budgets=budgets,
        env_kwargs=dict(env_kwargs) if env_kwargs else None,
        agent_kwargs={name: dict(agent_kwargs)} if by_name and agent_kwargs else None,
    )
    specs = [EpisodeSpec(name, s.scene, s.seed, s.env_kwargs, s.agent_kwargs, watching) for s in specs]
    if by_name and deterministic:
        return [run_spec(spec) for spec in specs]
    return [_run_object(spec, agent, deterministic) for spec in specs]


def _check_analysts(analysts: Sequence[str] | None, agent: Any, by_name: bool) -> tuple[str, ...]:
    """The analysts as a tuple, checked: known names, no duplicates, ``self`` only for an agent with ``report()``."""
    if analysts is None:
        return ()
    from stemscan.agents.analysts import SELF, has_report
    from stemscan.agents.analysts import names as analyst_names

    if isinstance(analysts, str) or not all(isinstance(a, str) for a in analysts):
        raise ValueError(f"analysts must be a list of analyst names, got {analysts!r}")
    chosen = tuple(analysts)
    for analyst in chosen:
        if analyst not in analyst_names():
            raise ValueError(f"unknown analyst {analyst!r}; valid names: {', '.join(analyst_names())}")
    if len(set(chosen)) != len(chosen):
        raise ValueError(f"analysts contain duplicates: {list(chosen)}")
    if SELF in chosen:
        if by_name:
            from stemscan.agents.registry import agent_class

            owner: Any = agent_class(agent)
        else:
            owner = agent
        if not has_report(owner):
            label = agent if by_name else _label(agent)
            raise ValueError(f"analyst 'self': agent {label!r} has no report() of its own")
    return chosen


def _label(agent: Any) -> str:
    """An object's name in the ``agent`` column: its zoo ``name``, else its class."""
    name = getattr(agent, "name", "")
    return name if isinstance(name, str) and name else type(agent).__name__


def _run_object(spec: EpisodeSpec, agent: Any, deterministic: bool) -> dict[str, Any]:
    import gymnasium

    import stemscan
    import stemscan.agents

    stemscan.register_envs()
    wall_start = time.perf_counter()
    seed_agent = agent_seed(spec.seed)
    env = gymnasium.make(ENV_ID, scene=spec.scene, **spec.env_kwargs)
    try:
        policy = agent
        if isinstance(agent, str):
            policy = stemscan.agents.make(spec.agent, env, seed=seed_agent, **spec.agent_kwargs)
        watchers: dict[str, Any] = {}
        if spec.analysts:
            from stemscan.benchmarks.characterise import build_analysts

            watchers = build_analysts(spec, env, policy, seed_agent)
        played = play_episode(env, policy, spec.seed, seed_agent, deterministic=deterministic, analysts=watchers)
        config = policy.config() if callable(getattr(policy, "config", None)) else {}
        identifications: list[dict[str, Any]] = []
        if watchers:
            from stemscan.benchmarks.characterise import identification_rows

            configs = {analyst: watcher.config() for analyst, watcher in watchers.items()}
            identifications = identification_rows(spec, played, env.unwrapped.scene, configs)
    finally:
        env.close()
    try:
        canonical_json(config)
    except ValueError:
        config = {"repr": repr(config)}
    row = episode_row(spec, seed_agent, played, config, time.perf_counter() - wall_start)
    if spec.analysts:
        row["identifications"] = identifications
    return row
