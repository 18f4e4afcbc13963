"""Grid cells of the field: tiles where the patch divides the field, every pixel reachable where it does not."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import stemscan  # noqa: F401  (registers STEMScan-v0)
from stemscan.agents import make as make_agent
from stemscan.envs.geometry import PatchGeometry, cell_starts


def test_cells_tile_a_field_the_patch_divides():
    g = PatchGeometry((512, 384), 32)
    assert (g.n_rows, g.n_cols, g.n_cells) == (16, 12, 192)
    assert np.array_equal(g.row_starts, np.arange(16) * 32) and np.array_equal(g.col_starts, np.arange(12) * 32)
    assert g.from_cell(13) == (32, 32) and g.cell_of_pixel(63, 64) == 14
    assert np.allclose(g.cell_centres()[13], [48 / 512, 48 / 384])


@settings(max_examples=60, deadline=None)
@given(length=st.integers(1, 3000), patch=st.integers(1, 256))
def test_cells_cover_every_pixel_and_each_pixel_maps_to_a_cell_holding_it(length: int, patch: int):
    if patch > length:
        patch = length
    starts = cell_starts(length, patch)
    assert len(starts) == -(-length // patch) and starts[0] == 0 and starts[-1] == length - patch
    assert np.all(np.diff(starts) >= 1) and np.all(np.diff(starts) <= patch)  # increasing, no gaps
    g = PatchGeometry((length, patch), patch)
    pixels = np.arange(length)
    rows = g.cell_rows(pixels)
    assert np.all(starts[rows] <= pixels) and np.all(pixels < starts[rows] + patch)


@pytest.mark.parametrize("name", ["random", "raster", "linear-bo"])
def test_agents_reach_features_in_the_border_strip(tmp_path, name: str):
    """A 100-px field with 32-px patches: the old 3 × 3 grid left rows and columns 96-99 unreachable."""
    image = np.random.default_rng(0).random((100, 100)).astype(np.float32)
    np.save(tmp_path / "small.npy", image)
    (tmp_path / "points.csv").write_text("row,col,kind\n97,50,vacancy\n50,50,vacancy\n")
    env = gym.make(
        "STEMScan-v0", scene=f"file:{tmp_path / 'small.npy'}", overview_size=16, dose_budget=3.0,
        scene_kwargs={"labels": str(tmp_path / "points.csv"), "label_radius": 2},
    )
    assert env.unwrapped.geometry.n_cells == 16
    agent = make_agent(name, env, seed=0)
    obs, info = env.reset(seed=0)
    agent.reset(seed=0)
    while True:
        obs, _, terminated, truncated, info = env.step(agent.predict(obs)[0])
        if terminated or truncated:
            break
    assert info["features_found"] == 2


def test_vector_env_grid_actions_land_where_the_single_env_puts_them_on_an_odd_field():
    kwargs = dict(scene="lattice-defects", image_size=100, patch_size=24, overview_size=16, action_mode="grid", dose_budget=1.0)
    vec = gym.make_vec("STEMScan-v0", num_envs=2, vectorization_mode="vector_entry_point", **kwargs)
    singles = [gym.make("STEMScan-v0", **kwargs) for _ in range(2)]
    vec.reset(seed=0)
    for i, single in enumerate(singles):
        single.reset(seed=i)
    for t in range(8):
        actions = np.array([(5 * t) % 25, 24])  # 24: the border cell, flush with the field's last row and column
        obs, *_ = vec.step(actions)
        for i, single in enumerate(singles):
            alone, *_ = single.step(int(actions[i]))
            assert np.array_equal(alone["position"], obs["position"][i]) and np.array_equal(alone["patch"], obs["patch"][i])


@pytest.mark.parametrize("name", ["linear-bo", "random"])
def test_agents_map_float32_positions_to_their_cells_on_a_field_one_pixel_wider_than_the_patch(tmp_path, name: str):
    """17/33 in float32 times 33 is 16.99999: the cell boundary at 16.5 must not catch it."""
    np.save(tmp_path / "img.npy", np.random.default_rng(0).random((33, 33)).astype(np.float32))
    env = gym.make("STEMScan-v0", scene=f"file:{tmp_path / 'img.npy'}", patch_size=32, overview_size=33, action_mode="grid",
                   dose_budget=3.78)
    agent = make_agent(name, env, seed=0)
    assert [agent.field.cell_of_position(c) for c in agent.field.cell_centres] == [0, 1, 2, 3]
    obs, _ = env.reset(seed=0)
    cells = []
    for _ in range(4):
        action, _ = agent.predict(obs)
        cells.append(int(action))
        obs, *_ = env.step(action)
    assert sorted(cells) == [0, 1, 2, 3]
