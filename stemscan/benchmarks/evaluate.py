"""``stemscan.evaluate``: the benchmark protocol for any object with ``predict``.

A zoo agent given by name is built per episode exactly as ``stemscan
bench`` builds it (same env, same seeds, same row); an object with SB3's
``predict`` (a zoo agent, an SB3 model, your own policy) is run as it is,
on the same envs and seeds, and reset with the same agent seed when it has
a ``reset(seed=...)``.  Either way the rows have the fields of the results
store (:mod:`stemscan.benchmarks.store`).
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

    Returns:
        Rows (dicts) with the columns of the results store, in (scene,
        budget, seed) order.

    Raises:
        ValueError: Unknown scene or agent name, bad seeds or budgets,
            ``agent_kwargs`` with an object.
        TypeError: ``agent`` is neither a name nor has ``predict``.
    """
    families = [scenes] if isinstance(scenes, str) else list(scenes)
    by_name = isinstance(agent, str)
    if not by_name and not callable(getattr(agent, "predict", None)):
        raise TypeError(f"agent must be a zoo name or have a predict method, got {type(agent).__name__}")
    if not by_name and agent_kwargs:
        raise ValueError("agent_kwargs only apply to a zoo agent given by name; configure the object yourself")
    name = agent if by_name else _label(agent)
    specs = expand_grid(
        [name] if by_name else ["random"],  # the grid checks names; an object's label is set below
        families,
        parse_seeds(seeds),
        budgets=budgets,
        env_kwargs=dict(env_kwargs) if env_kwargs else None,
        agent_kwargs={name: dict(agent_kwargs)} if by_name and agent_kwargs else None,
    )
    if by_name and deterministic:
        return [run_spec(spec) for spec in specs]
    rows = []
    for spec in specs:
        spec = EpisodeSpec(name, spec.scene, spec.seed, spec.env_kwargs, spec.agent_kwargs)
        rows.append(_run_object(spec, agent, deterministic))
    return rows


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
        played = play_episode(env, policy, spec.seed, seed_agent, deterministic=deterministic)
        config = policy.config() if callable(getattr(policy, "config", None)) else {}
    finally:
        env.close()
    try:
        canonical_json(config)
    except ValueError:
        config = {"repr": repr(config)}
    return episode_row(spec, seed_agent, played, config, time.perf_counter() - wall_start)
