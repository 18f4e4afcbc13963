"""Run one benchmark episode and turn it into a result row.

The loop is the evaluation protocol of the design card::

    env = gymnasium.make("STEMScan-v0", scene=scene, **env_kwargs)
    agent = stemscan.agents.make(name, env, seed=agent_seed, **agent_kwargs)
    obs, info = env.reset(seed=seed); agent.reset(seed=agent_seed)
    loop: action, _ = agent.predict(obs, episode_start=first)   # timed
          obs, reward, terminated, truncated, info = env.step(action)

:func:`play_episode` is that loop, the only one in the project
(:func:`stemscan.evaluate`, ``stemscan bench`` and ``stemscan replay`` run
it); :func:`episode_row` turns what it saw into a result row.  Scores come
from ``info`` only (never from the reward).  Seeds: see
:mod:`stemscan.benchmarks.spec`.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stemscan.benchmarks import metrics
from stemscan.benchmarks.spec import EpisodeSpec, agent_seed, canonical_json

__all__ = ["CHECKPOINTS", "ENV_ID", "TIMING_COLUMNS", "PlayedEpisode", "episode_row", "play_episode", "run_episode", "run_spec"]

ENV_ID = "STEMScan-v0"

#: Columns that measure this machine, not the episode: they differ between runs.
TIMING_COLUMNS = frozenset(
    {
        "latency_ms_median",
        "latency_ms_p90",
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


@dataclass
class PlayedEpisode:
    """What :func:`play_episode` saw (units: seconds, fractions of the budget's frame).

    Attributes:
        info: The env's ``info`` after the last step (after reset if none).
        curve: ``(dose_fraction, found_fraction)`` after reset and after each step.
        latencies_s: Wall time of each ``predict`` call.
        env_time_s: Wall time spent in ``env.reset`` and ``env.step``.
        agent_reset_s: Wall time of the agent's ``reset`` (0 without one).
        budget_fraction: The env's dose budget as a fraction of one full frame.
        actions: The agent's actions, in order.
        terminated: The episode ended with every feature found.
        truncated: The episode ended because the budget cannot pay for another patch.
        scene_digest: :meth:`~stemscan.scenes.base.Scene.digest` of a scene
            loaded from a file (None for a generated scene: its seed and
            parameters are its identity).
    """

    info: dict[str, Any]
    curve: list[tuple[float, float]] = field(default_factory=list)
    latencies_s: list[float] = field(default_factory=list)
    env_time_s: float = 0.0
    agent_reset_s: float = 0.0
    budget_fraction: float = 0.0
    actions: list[Any] = field(default_factory=list)
    terminated: bool = False
    truncated: bool = False
    reports: dict[str, list[tuple[float, Any]]] = field(default_factory=dict)
    analyst_time_s: dict[str, float] = field(default_factory=dict)
    scene_digest: str | None = None


#: Dose checkpoints of the characterisation track, fractions of the dose budget.
CHECKPOINTS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def play_episode(
    env: Any,
    agent: Any,
    seed: int,
    seed_agent: int | None = None,
    deterministic: bool = True,
    on_step: Callable[[dict[str, Any], dict[str, Any]], None] | None = None,
    analysts: dict[str, Any] | None = None,
    checkpoints: tuple[float, ...] = CHECKPOINTS,
) -> PlayedEpisode:
    """The one episode loop: reset ``env`` with ``seed``, then ``agent.predict`` / ``env.step`` until it ends.

    Args:
        env: A ``STEMScan-v0`` env (wrapped or not).
        agent: Anything with SB3's ``predict(obs, state, episode_start,
            deterministic)``; its ``reset(seed=seed_agent)`` is called after
            the env's reset when it has one (zoo agents do, SB3 models do not).
        seed: The env seed (``env.reset(seed=seed)``).
        seed_agent: The agent's seed; default ``agent_seed(seed)``
            (:func:`~stemscan.benchmarks.spec.agent_seed`), as the benchmark derives it.
        deterministic: Passed to ``predict``.
        on_step: Called as ``on_step(obs, info)`` after the reset and after each step.
        analysts: ``{name: analyst}`` watching the same episode (the
            characterisation track): each gets ``observe(obs,
            episode_start=True)`` after the reset and ``observe(obs)`` after
            each step (observations only), and is asked to ``report()`` at
            the first observation whose dose reaches each of ``checkpoints``
            (fractions of the budget, ``info["budget_fraction"]``) and at the
            episode's end; the reports land in ``PlayedEpisode.reports`` as
            ``(budget_fraction, detections)``.  Their time is not the agent's.
        checkpoints: Increasing budget fractions at which analysts report.

    Returns:
        A :class:`PlayedEpisode`.  Scores come from ``info`` only, never from the reward.
    """
    seed_agent = agent_seed(seed) if seed_agent is None else int(seed_agent)
    t0 = time.perf_counter()
    obs, info = env.reset(seed=int(seed))
    env_time = time.perf_counter() - t0
    t0 = time.perf_counter()
    if hasattr(agent, "reset"):
        agent.reset(seed=seed_agent)
    agent_reset = time.perf_counter() - t0
    watch = _Watch(analysts or {}, checkpoints)
    watch.see(obs, info, start=True)
    if on_step is not None:
        on_step(obs, info)
    curve = [(float(info["dose_fraction"]), _found(info))]
    latencies: list[float] = []
    actions: list[Any] = []
    first = True
    terminated = truncated = False
    while not (terminated or truncated):
        t0 = time.perf_counter()
        action, _ = agent.predict(obs, episode_start=first, deterministic=deterministic)
        t1 = time.perf_counter()
        obs, _reward, terminated, truncated, info = env.step(action)
        t2 = time.perf_counter()
        latencies.append(t1 - t0)
        actions.append(action)
        env_time += t2 - t1
        first = False
        curve.append((float(info["dose_fraction"]), _found(info)))
        watch.see(obs, info, end=terminated or truncated)
        if on_step is not None:
            on_step(obs, info)
    base = env.unwrapped
    budget_fraction = float(base.budget / base.frame_dose)
    scene = getattr(base, "scene", None)
    digest = scene.digest() if scene is not None and "path" in scene.params else None  # loaded from a file
    return PlayedEpisode(info, curve, latencies, env_time, agent_reset, budget_fraction, actions, terminated, truncated,
                         watch.reports, watch.seconds, digest)


class _Watch:
    """The analysts of one episode: feed them observations, collect reports at the dose checkpoints."""

    def __init__(self, analysts: dict[str, Any], checkpoints: tuple[float, ...]) -> None:
        marks = [float(c) for c in checkpoints]
        if any(not 0 < c <= 1 for c in marks) or marks != sorted(set(marks)):
            raise ValueError(f"checkpoints must be increasing budget fractions in (0, 1], got {checkpoints!r}")
        self.analysts = analysts
        self.marks = marks
        self.next = 0
        self.reports: dict[str, list[tuple[float, Any]]] = {name: [] for name in analysts}
        self.seconds: dict[str, float] = {name: 0.0 for name in analysts}

    def see(self, obs: dict[str, Any], info: dict[str, Any], start: bool = False, end: bool = False) -> None:
        if not self.analysts:
            return
        fraction = float(info["budget_fraction"])
        due = end
        while self.next < len(self.marks) and fraction >= self.marks[self.next] - 1e-12:
            self.next += 1
            due = True
        for name, analyst in self.analysts.items():
            t0 = time.perf_counter()
            analyst.observe(obs, episode_start=start)
            if due:
                self.reports[name].append((fraction, analyst.report()))
            self.seconds[name] += time.perf_counter() - t0


def run_spec(spec: EpisodeSpec) -> dict[str, Any]:
    """Play ``spec``'s episode (a zoo agent built by name) to its end and return its result row (a flat dict).

    Raises:
        ValueError: Unknown agent/scene or bad kwargs (from the env / agent).
        RuntimeError: The agent left the action space or the env misbehaved.
    """
    import gymnasium

    import stemscan
    import stemscan.agents

    stemscan.register_envs()
    wall_start = time.perf_counter()
    seed_agent = agent_seed(spec.seed)
    t0 = time.perf_counter()
    env = gymnasium.make(ENV_ID, scene=spec.scene, **spec.env_kwargs)
    env_time = time.perf_counter() - t0
    agent: Any = None
    try:
        t0 = time.perf_counter()
        agent = stemscan.agents.make(spec.agent, env, seed=seed_agent, **spec.agent_kwargs)
        agent_build = time.perf_counter() - t0
        analysts: dict[str, Any] = {}
        if spec.analysts:
            from stemscan.benchmarks.characterise import build_analysts

            analysts = build_analysts(spec, env, agent, seed_agent)
        _limit_torch_threads()
        played = play_episode(env, agent, spec.seed, seed_agent, analysts=analysts)
        agent_config = agent.config() if hasattr(agent, "config") else {}
        identifications: list[dict[str, Any]] = []
        if analysts:
            from stemscan.benchmarks.characterise import identification_rows

            configs = {name: analyst.config() for name, analyst in analysts.items()}
            identifications = identification_rows(spec, played, env.unwrapped.scene, configs)
    finally:
        t0 = time.perf_counter()
        env.close()
        agent = None  # freeing the agent and the scene's arrays is env/agent
        del env  # time, not runner overhead
        env_time += time.perf_counter() - t0
    wall = time.perf_counter() - wall_start
    row = episode_row(spec, seed_agent, played, agent_config, wall, env_time, agent_build)
    if spec.analysts:
        row["identifications"] = identifications  # the characterisation track's rows, filed apart by the runner
    return row


def episode_row(
    spec: EpisodeSpec,
    seed_agent: int,
    played: PlayedEpisode,
    agent_config: dict[str, Any],
    wall_s: float,
    extra_env_s: float = 0.0,
    agent_build_s: float = 0.0,
) -> dict[str, Any]:
    """The result row of a played episode (the columns of the results store).

    ``extra_env_s`` / ``agent_build_s``: time spent making / closing the env
    and building the agent outside :func:`play_episode`, seconds.
    """
    agent_time = agent_build_s + played.agent_reset_s + sum(played.latencies_s)
    row = _row(spec, seed_agent, played.info, played.curve, played.latencies_s, agent_config, wall_s,
               extra_env_s + played.env_time_s, agent_time, played.budget_fraction)
    row["scene_digest"] = played.scene_digest
    return row


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
        "latency_ms_p90": _none_if_nan(latency["p90"]),
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
