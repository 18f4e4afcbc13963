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


# ------------------------------------------------------------- πBO's prior belief
class _Table:
    """A stand-in acquisition: a fixed value per candidate (its first input coordinate indexes the table)."""

    def __init__(self, values):
        import torch

        self.values = torch.as_tensor(values, dtype=torch.float64)

    def __call__(self, x):
        return self.values[x[..., 0, 0].long()]


def _select(values, belief, exponent, allowed=None):
    import torch

    from stemscan.agents.bo.optim import select_cell_with_belief

    n = len(values)
    candidates = torch.arange(n, dtype=torch.float64).reshape(n, 1)
    allowed = np.ones(n, dtype=bool) if allowed is None else np.asarray(allowed)
    return select_cell_with_belief(_Table(values), candidates, allowed, np.asarray(belief, dtype=float), exponent)


def test_belief_weighting_interpolates_between_acquisition_and_belief() -> None:
    values, belief = [0.0, 1.0, 0.5, 0.2], [0.1, 0.2, 1.0, 0.3]
    assert _select(values, belief, 0.0) == 1  # no weight: the acquisition's best
    assert _select(values, belief, 50.0) == 2  # heavy weight: the belief's best
    assert _select([3.0] * 4, belief, 0.5) == 2  # a constant acquisition: the belief decides
    assert _select(values, belief, 50.0, allowed=[True, True, False, True]) == 3  # never a scanned cell
    # scale-free: multiplying the acquisition changes nothing
    assert _select(np.array(values) * 1e6, belief, 1.0) == _select(values, belief, 1.0)


def test_prior_belief_option() -> None:
    agent = registry.make("linear-bo", small_env(), seed=0)
    assert agent.config()["prior_belief"] == 80.0
    off = registry.make("linear-bo", small_env(), seed=0, prior_belief=0)
    play_episode(small_env(), off, 3, 0)
    assert off._belief() is None
    for bad in (-1.0, float("nan"), float("inf"), "high", True):
        with pytest.raises(ValueError, match="prior_belief"):
            registry.make("linear-bo", small_env(), prior_belief=bad)
