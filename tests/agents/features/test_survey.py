"""Tests of the shared survey prior (:mod:`stemscan.agents.features.survey`) and its use by the BO workflows."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import stemscan  # noqa: F401  (registers STEMScan-v0)
from stemscan.agents import make as make_agent
from stemscan.agents.base import FieldConfig
from stemscan.agents.features.survey import cell_of_overview_pixel, survey_cell_statistics, survey_edge_prior, survey_gradient_prior
from stemscan.agents.survey_saliency import survey_saliency_edge_prior, survey_saliency_prior


@pytest.fixture()
def env() -> gym.Env:
    torch.set_num_threads(1)
    return gym.make("STEMScan-v0", scene="phase-separated", image_size=256, dose_budget=0.12)


def step_overview(field: FieldConfig) -> np.ndarray:
    """A survey dark on the left half of the field, bright on the right half."""
    size = field.overview_size
    overview = np.zeros((1, size, size), dtype=np.uint8)
    overview[0, :, size // 2:] = 200
    return overview


def test_cells_cover_the_overview_evenly(env: gym.Env) -> None:
    field = FieldConfig(env)
    cells = cell_of_overview_pixel(field)
    counts = np.bincount(cells.ravel(), minlength=field.geometry.n_rows * field.geometry.n_cols)
    assert cells.shape == (field.overview_size, field.overview_size)
    assert counts.min() == counts.max() > 0


def test_gradient_marks_the_boundary_between_regions(env: gym.Env) -> None:
    field = FieldConfig(env)
    g = field.geometry
    gradient = survey_gradient_prior(step_overview(field), field)
    assert gradient is not None and gradient.shape == (g.n_rows * g.n_cols,)
    grid = gradient.reshape(g.n_rows, g.n_cols)
    boundary = [g.n_cols // 2 - 1, g.n_cols // 2]
    assert np.all(grid[:, boundary] > 0)
    assert np.allclose(np.delete(grid, boundary, axis=1), 0.0)
    stats = survey_cell_statistics(step_overview(field), field)
    assert stats is not None
    assert np.allclose(stats[:, 0].reshape(g.n_rows, g.n_cols)[:, -1], 200 / 255)
    assert np.allclose(stats[:, 1], 0.0, atol=1e-6)  # each cell is uniform
    assert np.array_equal(stats[:, 2], gradient)


def textured_overview(field: FieldConfig) -> np.ndarray:
    """Every cell of the same mean: stripes 2 survey pixels wide in the left half, flat grey in the right half."""
    size = field.overview_size
    assert size % 4 == 0 and (size // field.geometry.n_cols) % 4 == 0  # whole stripe periods in every cell
    cols = np.arange(size // 2)
    overview = np.full((1, size, size), 100, dtype=np.uint8)
    overview[0, :, : size // 2] = np.where((cols // 2) % 2 == 0, 50, 150)[None, :]
    return overview


def test_edges_see_structure_inside_cells_that_the_cell_mean_gradient_misses(env: gym.Env) -> None:
    field = FieldConfig(env)
    g = field.geometry
    overview = textured_overview(field)
    gradient = survey_gradient_prior(overview, field)
    assert gradient is not None and np.allclose(gradient, 0.0)  # every cell mean is 100
    for sigma in (0.0, 0.7):
        edges = survey_edge_prior(overview, field, sigma=sigma)
        assert edges is not None and edges.shape == (g.n_rows * g.n_cols,) and np.isfinite(edges).all()
        grid = edges.reshape(g.n_rows, g.n_cols)
        textured, flat = grid[:, : g.n_cols // 2 - 1], grid[:, g.n_cols // 2 + 1 :]
        assert textured.min() > 0.05 and np.allclose(flat, 0.0)
    step = survey_edge_prior(step_overview(field), field).reshape(g.n_rows, g.n_cols)
    boundary = [g.n_cols // 2 - 1, g.n_cols // 2]  # the step lies between these cells
    assert np.all(step[:, boundary] > 0) and np.allclose(np.delete(step, boundary, axis=1), 0.0, atol=1e-3)
    assert np.allclose(survey_edge_prior(np.full_like(overview, 77), field), 0.0)  # nothing to see


def test_bad_overview_shape_is_rejected(env: gym.Env) -> None:
    field = FieldConfig(env)
    for prior in (survey_gradient_prior, survey_edge_prior):
        with pytest.raises(ValueError, match="overview must have shape"):
            prior(np.zeros((3, 5), dtype=np.uint8), field)


def test_linear_bo_prior_is_the_shared_learned_prior(env: gym.Env) -> None:
    obs, _ = env.reset(seed=3)
    agent = make_agent("linear-bo", env)
    assert agent.config()["survey_prior"] == "saliency+edges"
    assert np.array_equal(agent.prior(obs), survey_saliency_edge_prior(obs["overview"], agent.field))
    learned = make_agent("linear-bo", env, survey_prior="saliency")
    assert np.array_equal(learned.prior(obs), survey_saliency_prior(obs["overview"], agent.field))
    edges = make_agent("linear-bo", env, survey_prior="edges")
    assert np.array_equal(edges.prior(obs), survey_edge_prior(obs["overview"], agent.field))
    gradient = make_agent("linear-bo", env, survey_prior="gradient")
    assert np.array_equal(gradient.prior(obs), survey_gradient_prior(obs["overview"], agent.field))


def test_dcnn_bo_adds_the_gradient_as_a_second_column(env: gym.Env) -> None:
    obs, _ = env.reset(seed=3)
    # a mildly textured survey with a bright corner, so the bright-share column is not constant (the real
    # survey of a physically calibrated phase-separated scene is a few counts per sample: too noisy for 3 sigmas)
    obs["overview"][0] = np.random.default_rng(0).integers(90, 111, obs["overview"].shape[1:], dtype=np.uint8)
    obs["overview"][0, :4, :4] = 255
    expected = survey_gradient_prior(obs["overview"], FieldConfig(env))
    plain = make_agent("dcnn-bo", env, device="cpu")
    assert plain.config()["survey_gradient"] is False and plain.config()["survey_prior"] is False
    assert np.array_equal(plain.prior(obs), survey_saliency_edge_prior(obs["overview"], FieldConfig(env)))  # the default
    learned = make_agent("dcnn-bo", env, device="cpu", survey_edges=False)
    assert np.array_equal(learned.prior(obs), survey_saliency_prior(obs["overview"], FieldConfig(env)))
    edges = make_agent("dcnn-bo", env, device="cpu", survey_saliency=False, survey_edges=True)
    assert np.array_equal(edges.prior(obs), survey_edge_prior(obs["overview"], FieldConfig(env)))
    bright = make_agent("dcnn-bo", env, device="cpu", survey_saliency=False, survey_edges=False, survey_prior=True)
    assert bright.prior(obs).shape == (bright.n_cells,)
    both = make_agent("dcnn-bo", env, device="cpu", survey_saliency=False, survey_edges=False, survey_prior=True,
                      survey_gradient=True)
    prior = both.prior(obs)
    assert prior.shape == (both.n_cells, 2)
    assert np.array_equal(prior[:, 0], bright.prior(obs))
    assert np.array_equal(prior[:, 1], expected)
    only = make_agent("dcnn-bo", env, device="cpu", survey_saliency=False, survey_edges=False, survey_gradient=True)
    assert np.array_equal(only.prior(obs), expected)
    assert make_agent("dcnn-bo", env, device="cpu", survey_gradient=True).prior(obs).shape == (plain.n_cells, 2)


def test_rvae_bo_uses_the_hedged_learned_prior_by_default(env: gym.Env) -> None:
    obs, _ = env.reset(seed=3)
    agent = make_agent("rvae-bo", env, seed=0)
    assert agent.config()["use_prior"] is True and agent.config()["survey_prior"] == "saliency+edges"
    assert np.array_equal(agent.prior(obs), survey_saliency_edge_prior(obs["overview"], agent.field))
    edges = make_agent("rvae-bo", env, seed=0, survey_prior="edges")
    assert np.array_equal(edges.prior(obs), survey_edge_prior(obs["overview"], agent.field))
    gradient = make_agent("rvae-bo", env, seed=0, survey_prior="gradient")
    assert np.array_equal(gradient.prior(obs), survey_gradient_prior(obs["overview"], agent.field))
    agent.reset(seed=0)
    agent.predict(obs)
    assert agent.prior_columns is not None and agent.prior_columns.shape == (agent.n_cells, 1)
    off = make_agent("rvae-bo", env, seed=0, use_prior=False)
    off.reset(seed=0)
    off.predict(obs)
    assert off.prior_columns is None
    with pytest.raises(ValueError, match="survey_prior"):
        make_agent("rvae-bo", env, survey_prior="pca")
