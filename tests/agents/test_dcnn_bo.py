"""Tests of the ``dcnn-bo`` agent."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import stemscan  # noqa: F401  (registers STEMScan-v0)
from stemscan.agents import make as make_agent
from stemscan.agents.dcnn_bo import DCNNBOAgent
from stemscan.benchmarks import play_episode
from stemscan.envs.dose_defaults import default_acquisition

#: The env's default imaging dose on graphene (scenes are in physical scattered fraction), e⁻/px.
GRAPHENE_DOSE = default_acquisition("lattice-defects", {"material": "graphene", "pixel_size": 0.2})[0]


@pytest.fixture()
def env() -> gym.Env:
    torch.set_num_threads(1)
    return gym.make("STEMScan-v0", scene="lattice-defects", image_size=256, dose_budget=0.12)


def rollout(agent: DCNNBOAgent, env: gym.Env, seed: int) -> tuple[list, dict]:
    played = play_episode(env, agent, seed, seed)
    return [np.asarray(action).tolist() for action in played.actions], played.info


def test_registry_builds_dcnn_bo(env: gym.Env) -> None:
    agent = make_agent("dcnn-bo", env, device="cpu")
    assert isinstance(agent, DCNNBOAgent)
    config = agent.config()
    assert config["target"] == "defects" and config["device"] == "cpu"
    again = make_agent("dcnn-bo", env, **config)
    assert again.config() == config


def test_dcnn_bo_reproduces_itself_and_stays_in_the_action_space(env: gym.Env) -> None:
    first, info = rollout(make_agent("dcnn-bo", env, device="cpu"), env, seed=3)
    second, _ = rollout(make_agent("dcnn-bo", env, device="cpu"), env, seed=3)
    assert first == second
    assert len(first) == info["steps"] > 3
    assert all(env.action_space.contains(np.asarray(a, dtype=np.float32)) for a in first)
    cells = [tuple(a) for a in first]
    assert len(set(cells)) == len(cells)  # never rescans a cell within the budget


def test_descriptor_is_higher_on_defects_than_on_clean_lattice(env: gym.Env) -> None:
    from stemscan.agents.train.dcnn_data import measure
    from stemscan.scenes import make as make_scene

    agent = make_agent("dcnn-bo", env, device="cpu")
    clean = make_scene("lattice-defects", seed=1, size=128, vacancy_fraction=0.0, dopant_fraction=0.0,
                       stone_wales_fraction=0.0, grain_boundary=False)
    dirty = make_scene("lattice-defects", seed=1, size=128, vacancy_fraction=0.04, dopant_fraction=0.04,
                       grain_boundary=False)
    rng = np.random.default_rng(0)

    def mean_descriptor(scene) -> float:
        image = measure(scene, GRAPHENE_DOSE, rng)
        values = [agent.descriptor({"patch": image[r:r + 32, c:c + 32]}) for r in range(0, 128, 32)
                  for c in range(0, 128, 32)]
        return float(np.mean(values))

    assert mean_descriptor(dirty) > 2 * mean_descriptor(clean)


def test_vacancy_count_is_higher_where_vacancies_are(env: gym.Env) -> None:
    from stemscan.agents.train.dcnn_data import measure
    from stemscan.scenes import make as make_scene

    agent = make_agent("dcnn-bo", env, device="cpu", target="vacancy")
    rng = np.random.default_rng(1)

    def total(vacancy_fraction: float) -> float:
        scene = make_scene("lattice-defects", seed=4, size=128, vacancy_fraction=vacancy_fraction,
                           dopant_fraction=0.0, stone_wales_fraction=0.0, grain_boundary=False)
        image = measure(scene, GRAPHENE_DOSE, rng)
        return sum(agent.descriptor({"patch": image[r:r + 32, c:c + 32]}) for r in range(0, 128, 32)
                   for c in range(0, 128, 32))

    assert total(0.04) > total(0.0) + 3


def test_bad_options_give_clear_errors(env: gym.Env, tmp_path) -> None:
    with pytest.raises(ValueError, match="unknown target"):
        make_agent("dcnn-bo", env, target="ghost")
    with pytest.raises(ValueError, match="unknown descriptor"):
        make_agent("dcnn-bo", env, descriptor="ghost")
    with pytest.raises(ValueError, match="boundary_weight"):
        make_agent("dcnn-bo", env, boundary_weight=-1.0)
    with pytest.raises(FileNotFoundError):
        make_agent("dcnn-bo", env, weights=str(tmp_path / "none.safetensors"))
    with pytest.raises(TypeError, match="unexpected keyword"):
        make_agent("dcnn-bo", env, colour="red")
    agent = make_agent("dcnn-bo", env, device="cpu")
    obs, _ = env.reset(seed=0)
    obs["patch"] = np.full_like(obs["patch"], np.nan)
    with pytest.raises(ValueError, match="NaN"):
        agent.predict(obs)


def test_lengthscale_cells_reaches_the_bo_core(env: gym.Env) -> None:
    """The documented ``lengthscale_cells`` is accepted, recorded in the config and checked (it used to raise TypeError)."""
    agent = make_agent("dcnn-bo", env, device="cpu", lengthscale_cells=4.0)
    assert agent.lengthscale_cells == 4.0
    config = agent.config()
    assert config["lengthscale_cells"] == 4.0
    assert make_agent("dcnn-bo", env, **config).config() == config
    assert "lengthscale_cells" not in make_agent("dcnn-bo", env, device="cpu").config()
    with pytest.raises(ValueError, match="lengthscale_cells"):
        make_agent("dcnn-bo", env, lengthscale_cells=0.0)


def test_survey_prior_has_one_value_per_cell(env: gym.Env) -> None:
    agent = make_agent("dcnn-bo", env, device="cpu")
    obs, _ = env.reset(seed=2)
    prior = agent.prior(obs)
    assert prior is None or (prior.shape == (agent.n_cells,) and np.isfinite(prior).all())
    assert make_agent("dcnn-bo", env, survey_saliency=False, survey_edges=False).prior(obs) is None
    with pytest.raises(ValueError, match="survey_saliency"):
        make_agent("dcnn-bo", env, survey_saliency="yes")


@pytest.mark.slow
def test_dcnn_bo_beats_raster_and_random_and_is_level_with_linear_bo_on_lattice_defects() -> None:
    """Gain over 5 seeds at the default env settings (the figures in benchmarks/dcnn_bo_gain.py).

    With the learned survey prior both workflows share one navigator, and
    dcnn-bo's DCNN no longer puts it ahead of linear-bo (3.94 against 3.90).
    """
    from stemscan.benchmarks.episode import run_episode

    seeds = range(5)
    gains = {name: np.array([run_episode(name, "lattice-defects", s)["gain"] for s in seeds])
             for name in ("dcnn-bo", "linear-bo", "raster", "random")}
    assert (gains["dcnn-bo"] > gains["raster"]).all() and (gains["dcnn-bo"] > gains["random"]).all(), gains
    assert np.mean(gains["dcnn-bo"]) > 0.85 * np.mean(gains["linear-bo"]), gains
