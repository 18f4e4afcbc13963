"""The BO core's ablations: prior only (``use_descriptor=False``) and descriptor only (``use_prior=False``)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import stemscan  # noqa: F401  (registers STEMScan-v0)
from stemscan.agents import registry
from stemscan.benchmarks import play_episode

WORKFLOWS = ["linear-bo", "dcnn-bo", "rvae-bo", "dkl-bo"]


def small_env(scene: str = "phase-separated") -> gym.Env:
    return gym.make("STEMScan-v0", scene=scene, image_size=128, patch_size=32, dose_budget=0.6)


@pytest.mark.parametrize("name", WORKFLOWS)
def test_prior_only_never_analyses_a_patch_and_follows_the_prior(name: str, monkeypatch) -> None:
    env = small_env()
    agent = registry.make(name, env, seed=0, use_descriptor=False)
    monkeypatch.setattr(type(agent), "descriptor", lambda self, obs: pytest.fail("descriptor() was called"))
    actions = play_episode(env, agent, 3, 0).actions
    cells = [agent.field.cell_of_position(np.asarray(a)) for a in actions]
    assert len(set(cells)) == len(cells)  # never the same cell twice
    prior = agent.prior_columns
    if prior is not None:  # after the initial design, cells come in order of the prior
        score = prior.mean(axis=1)
        later = cells[agent.n_initial:]
        remaining = [c for c in range(agent.n_cells) if c not in cells[: agent.n_initial]]
        expected = sorted(remaining, key=lambda c: -score[c])[: len(later)]
        assert sorted(score[later]) == pytest.approx(sorted(score[expected]))
    assert agent.config()["use_descriptor"] is False


def test_ablations_are_reproducible_and_config_round_trips() -> None:
    for kwargs in ({"use_descriptor": False}, {"use_prior": False}):
        a = registry.make("linear-bo", small_env(), seed=1, **kwargs)
        b = registry.make("linear-bo", small_env(), **a.config())
        first = play_episode(small_env(), a, 5, 1).actions
        assert [np.asarray(x).tolist() for x in first] == [np.asarray(x).tolist() for x in play_episode(small_env(), b, 5, 1).actions]


@pytest.mark.parametrize("value", ["no", 1, None])
def test_ablation_switches_must_be_bools(value) -> None:
    with pytest.raises(ValueError, match="use_descriptor"):
        registry.make("linear-bo", small_env(), use_descriptor=value)
