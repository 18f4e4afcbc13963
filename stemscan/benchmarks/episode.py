"""Run one benchmark episode and turn it into a result row.

The loop is the evaluation protocol of the design card::

    env = gymnasium.make("STEMScan-v0", scene=scene, **env_kwargs)
    agent = stemscan.agents.make(name, env, seed=agent_seed, **agent_kwargs)
    obs, info = env.reset(seed=seed); agent.reset(seed=agent_seed)
    loop: action, _ = agent.predict(obs, episode_start=first)   # timed
          obs, reward, terminated, truncated, info = env.step(action)

Scores come from ``info`` only (never from the reward).  Seeds: see
:mod:`stemscan.benchmarks.spec`.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any

from stemscan.benchmarks import metrics
from stemscan.benchmarks.spec import EpisodeSpec, agent_seed, canonical_json

__all__ = ["ENV_ID", "TIMING_COLUMNS", "run_episode", "run_spec"]

ENV_ID = "STEMScan-v0"

#: Columns that measure this machine, not the episode: they differ between runs.
TIMING_COLUMNS = frozenset(
    {
        "latency_ms_median",
        "latency_ms_p95",
        "latency_ms_mean",
        "latency_ms_max",
        "wall_time_s",
        "agent_time_s",
        "env_time_s",
        "finished_at",
    }
)


def _limit_torch_threads() -> None:
    """One torch thread per worker, once an agent has imported torch."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != 1:
        torch.set_num_threads(1)


def run_spec(spec: EpisodeSpec) -> dict[str, Any]:
    """Play ``spec``'s episode to its end and return its result row (a flat dict).

    Raises:
        ValueError: Unknown agent/scene or bad kwargs (from the env / agent).
        RuntimeError: The agent left the action space or the env misbehaved.
    """
    import gymnasium

    import stemscan
    import stemscan.agents

    stemscan.register_envs()
    wall_start = time.perf_counter()
    env_time = 0.0
    seed_agent = agent_seed(spec.seed)

    t0 = time.perf_counter()
    env = gymnasium.make(ENV_ID, scene=spec.scene, **spec.env_kwargs)
    env_time += time.perf_counter() - t0
    agent: Any = None
    try:
        t0 = time.perf_counter()
        agent = stemscan.agents.make(spec.agent, env, seed=seed_agent, **spec.agent_kwargs)
        agent_build = time.perf_counter() - t0
        _limit_torch_threads()

        t0 = time.perf_counter()
        obs, info = env.reset(seed=int(spec.seed))
        env_time += time.perf_counter() - t0
        t0 = time.perf_counter()
        agent.reset(seed=seed_agent)
        agent_build += time.perf_counter() - t0

        curve = [(float(info["dose_fraction"]), _found(info))]
        latencies: list[float] = []
        first = True
        terminated = truncated = False
        while not (terminated or truncated):
            t0 = time.perf_counter()
            action, _ = agent.predict(obs, episode_start=first)
            t1 = time.perf_counter()
            obs, _reward, terminated, truncated, info = env.step(action)
            t2 = time.perf_counter()
            latencies.append(t1 - t0)
            env_time += t2 - t1
            first = False
            curve.append((float(info["dose_fraction"]), _found(info)))
        agent_config = agent.config() if hasattr(agent, "config") else {}
        budget_fraction = float(env.unwrapped.budget / env.unwrapped.frame_dose)
    finally:
        t0 = time.perf_counter()
        env.close()
        agent = None  # freeing the agent and the scene's arrays is env/agent
        del env  # time, not runner overhead
        env_time += time.perf_counter() - t0
    wall = time.perf_counter() - wall_start
    return _row(spec, seed_agent, info, curve, latencies, agent_config, wall, env_time, agent_build + sum(latencies), budget_fraction)


def _found(info: dict[str, Any]) -> float:
    return metrics.found_fraction(int(info["features_found"]), int(info["features_total"]))


def _row(
    spec: EpisodeSpec,
    seed_agent: int,
    info: dict[str, Any],
    curve: list[tuple[float, float]],
    latencies: list[float],
    agent_config: dict[str, Any],
    wall: float,
    env_time: float,
    agent_time: float,
    budget_fraction: float,
) -> dict[str, Any]:
    import stemscan

    found = int(info["features_found"])
    total = int(info["features_total"])
    dose_used = float(info["dose_used"])
    dose_fraction = float(info["dose_fraction"])
    frac = metrics.found_fraction(found, total)
    latency = metrics.latency_summary_ms(latencies)
    try:
        config_json = canonical_json(agent_config)
    except ValueError:
        config_json = canonical_json({"repr": repr(agent_config)})
    return {
        "version": stemscan.__version__,
        "env_id": ENV_ID,
        "agent": spec.agent,
        "agent_kwargs": canonical_json(spec.agent_kwargs),
        "agent_config": config_json,
        "scene": spec.scene,
        "env_kwargs": canonical_json(spec.env_kwargs),
        "seed": int(spec.seed),
        "env_seed": int(spec.seed),
        "agent_seed": int(seed_agent),
        "dose_budget": budget_fraction,
        "features_found": found,
        "features_total": total,
        "found_fraction": frac,
        "weight_found": float(info["weight_found"]),
        "dose_used": dose_used,
        "dose_budget_e": float(info["dose_budget"]),
        "dose_fraction": dose_fraction,
        "score": metrics.score_per_mega_electron(found, dose_used),
        "gain": metrics.gain(frac, dose_fraction),
        "auc": metrics.discovery_auc(curve, budget_fraction),
        "dose_to_50": _none_if_nan(metrics.dose_to_fraction(curve, 0.5)),
        "dose_to_90": _none_if_nan(metrics.dose_to_fraction(curve, 0.9)),
        "coverage": float(info["coverage"]),
        "scan_time_s": float(info["scan_time_s"]),
        "steps": int(info["steps"]),
        "terminated": bool(found == total and total > 0),
        "curve": _curve_json(curve),
        "latency_ms_median": _none_if_nan(latency["median"]),
        "latency_ms_p95": _none_if_nan(latency["p95"]),
        "latency_ms_mean": _none_if_nan(latency["mean"]),
        "latency_ms_max": _none_if_nan(latency["max"]),
        "wall_time_s": wall,
        "agent_time_s": agent_time,
        "env_time_s": env_time,
        "finished_at": time.time(),
    }


def _curve_json(curve: list[tuple[float, float]]) -> str:
    import json

    return json.dumps([[d, f] for d, f in curve], separators=(",", ":"))


def _none_if_nan(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def run_episode(
    agent: str,
    scene: str,
    seed: int,
    env_kwargs: dict[str, Any] | None = None,
    agent_kwargs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run one episode of ``agent`` on a ``scene`` sample drawn from ``seed``; return its row.

    Validates names and kwargs first (``ValueError`` listing valid names).
    """
    from stemscan.benchmarks.spec import expand_grid

    (spec,) = expand_grid([agent], [scene], [int(seed)], env_kwargs=env_kwargs, agent_kwargs={agent: agent_kwargs} if agent_kwargs else None)
    return run_spec(spec)
