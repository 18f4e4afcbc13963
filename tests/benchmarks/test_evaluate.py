"""``stemscan.evaluate``: the benchmark protocol for a zoo name or any object with ``predict``."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import stemscan
from stemscan.agents import make
from stemscan.benchmarks import TIMING_COLUMNS, play_episode, run_episode

SMALL = {"image_size": 128, "dose_budget": 0.3}
EPISODE_COLUMNS = {"agent_kwargs", "agent_config", "scene", "env_kwargs", "seed", "agent_seed", "features_found",
                   "features_total", "dose_used", "score", "gain", "auc", "curve", "steps"}


def _same_episode(a: dict, b: dict) -> None:
    for column in EPISODE_COLUMNS:
        assert a[column] == b[column], column


def test_a_zoo_name_gives_the_benchmark_rows() -> None:
    rows = stemscan.evaluate("random", scenes=["lattice-defects"], seeds=2, env_kwargs=SMALL)
    assert [r["seed"] for r in rows] == [0, 1]
    for row in rows:
        stored = run_episode("random", "lattice-defects", row["seed"], env_kwargs=SMALL)
        assert set(row) == set(stored)
        assert {k: v for k, v in row.items() if k not in TIMING_COLUMNS} == {
            k: v for k, v in stored.items() if k not in TIMING_COLUMNS
        }


def test_an_agent_object_is_seeded_as_the_benchmark_seeds_it() -> None:
    env = gym.make("STEMScan-v0", scene="phase-separated", **SMALL)
    agent = make("random", env, seed=12345)  # reset with the protocol's agent seed on every episode
    by_object = stemscan.evaluate(agent, scenes="phase-separated", seeds=[3, 4], env_kwargs=SMALL)
    by_name = stemscan.evaluate("random", scenes="phase-separated", seeds=[3, 4], env_kwargs=SMALL)
    assert [r["agent"] for r in by_object] == ["random", "random"]
    for a, b in zip(by_object, by_name):
        _same_episode(a, b)


class _FirstCell:
    """A minimal policy with SB3's ``predict`` and no ``reset``: always the field's top-left corner."""

    def predict(self, observation, state=None, episode_start=None, deterministic=True):
        return np.array([0.0, 0.0], dtype=np.float32), state


def test_any_object_with_predict_runs_and_budgets_expand() -> None:
    rows = stemscan.evaluate(_FirstCell(), scenes="nanoparticles", seeds=1, budgets=[0.1, 0.2], env_kwargs={"image_size": 128})
    assert [r["agent"] for r in rows] == ["_FirstCell", "_FirstCell"]
    assert [r["dose_budget"] for r in rows] == pytest.approx([0.1, 0.2])
    assert rows[0]["steps"] < rows[1]["steps"]
    assert rows[0]["agent_config"] == "{}"


def test_bad_agents_are_named() -> None:
    with pytest.raises(TypeError, match="predict"):
        stemscan.evaluate(object(), scenes="lattice-defects")
    with pytest.raises(ValueError, match="agent_kwargs"):
        stemscan.evaluate(_FirstCell(), scenes="lattice-defects", agent_kwargs={"beta": 1.0})
    with pytest.raises(ValueError, match="unknown agent"):
        stemscan.evaluate("genius", scenes="lattice-defects")
    with pytest.raises(ValueError, match=r"agent='raster', analysts=\['peaks'\]"):
        stemscan.evaluate("raster+peaks", scenes="lattice-defects")


def test_play_episode_reports_every_step_and_how_the_episode_ended() -> None:
    env = gym.make("STEMScan-v0", scene="lattice-defects", **SMALL)
    seen = []
    played = play_episode(env, make("raster", env), seed=5, on_step=lambda obs, info: seen.append(info["steps"]))
    steps = played.info["steps"]
    assert seen == list(range(steps + 1))  # after the reset, then after every step
    assert len(played.actions) == len(played.latencies_s) == steps == len(played.curve) - 1
    assert played.truncated != played.terminated
    assert played.terminated == (played.info["features_found"] == played.info["features_total"])
    assert played.budget_fraction == pytest.approx(0.3)
