"""Determinism, dose invariants, the reward rule and bad input."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from stemscan.agents import make as make_agent
from stemscan.benchmarks import play_episode
from stemscan.envs import ENV_ID, STEMScanEnv
from stemscan.scenes import Feature, Scene

from ..conftest import SMALL


def _rollout(seed: int, n: int = 100, mode: str = "continuous"):
    env = gym.make(ENV_ID, action_mode=mode, dose_budget=1.0, **SMALL)
    env.action_space.seed(123)
    actions = [env.action_space.sample() for _ in range(n)]
    obs, info = env.reset(seed=seed)
    trace = [(obs, 0.0, False, False, info)]
    for action in actions:
        step = env.step(action)
        trace.append(step)
        if step[2] or step[3]:
            obs, info = env.reset()
            trace.append((obs, 0.0, False, False, info))
    return trace


def _same(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and np.array_equal(a, b)
    return a == b


@pytest.mark.parametrize("mode", ["continuous", "grid"])
def test_same_seed_same_trajectory(mode):
    assert _same(_rollout(7, mode=mode), _rollout(7, mode=mode))


def test_different_seeds_differ():
    a, b = _rollout(1, n=5), _rollout(2, n=5)
    assert not np.array_equal(a[0][0]["overview"], b[0][0]["overview"])
    assert not np.array_equal(a[3][0]["patch"], b[3][0]["patch"])


def _run(env, agent, seed):
    infos = []
    played = play_episode(env, agent, seed, seed, on_step=lambda obs, info: infos.append(info))
    return infos, played.terminated, played.truncated


def test_dose_never_exceeds_budget_and_truncates_exactly():
    env = gym.make(ENV_ID, **SMALL).unwrapped
    infos, terminated, truncated = _run(env, make_agent("random", env), seed=3)
    assert all(i["dose_used"] <= i["dose_budget"] for i in infos)
    last = infos[-1]
    if truncated:
        assert last["dose_used"] + env.patch_dose > last["dose_budget"]
    # before the last step the next patch could still be paid
    assert infos[-2]["dose_used"] + env.patch_dose <= last["dose_budget"]
    doses = [i["dose_used"] for i in infos]
    assert np.allclose(np.diff(doses), env.patch_dose)
    assert doses[0] == pytest.approx(0.01 * env.frame_dose)  # the survey's cost


def test_step_after_end_raises():
    env = gym.make(ENV_ID, **SMALL).unwrapped
    _run(env, make_agent("raster", env), seed=0)
    with pytest.raises(RuntimeError, match="after the episode ended"):
        env.step(np.array([0.5, 0.5], dtype=np.float32))


def _toy_scene(n: int = 64) -> Scene:
    """Uniform grid of 16 features, each a 4x4 block at the centre of a 16 px cell."""
    image = np.full((n, n), 0.02, dtype=np.float32)
    labels = np.zeros((n, n), dtype=np.int32)
    features = []
    k = 0
    for r in range(0, n, 16):
        for c in range(0, n, 16):
            k += 1
            labels[r + 6 : r + 10, c + 6 : c + 10] = k
            image[r + 6 : r + 10, c + 6 : c + 10] = 0.2
            features.append(Feature(id=k, kind="spot", centroid=(r + 7.5, c + 7.5), weight=1.0))
    return Scene(image=image, labels=labels, features=features, pixel_size=1.0, family="toy")


def test_rescanning_costs_dose_and_rewards_nothing():
    env = STEMScanEnv(scene=_toy_scene(), patch_size=16, overview_size=16, action_mode="grid", dose_budget=1.0)
    env.reset(seed=0)
    _, r1, *_, info1 = env.step(0)
    _, r2, *_, info2 = env.step(0)
    assert r1 == 1.0 and info1["new_features"] == 1
    assert r2 == 0.0 and info2["new_features"] == 0
    assert info2["dose_used"] - info1["dose_used"] == pytest.approx(env.patch_dose)
    assert info2["features_found"] == 1


def test_discovery_needs_half_the_footprint():
    env = STEMScanEnv(scene=_toy_scene(), patch_size=8, overview_size=16, dose_budget=1.0, survey=False)
    env.reset(seed=0)
    # patch rows 0..7, cols 0..7 covers a quarter of feature 1 (rows 6-9, cols 6-9): 4 of 16 pixels
    _, reward, *_ = env.step(np.array([4 / 64, 4 / 64], dtype=np.float32))
    assert reward == 0.0
    # rows 0..7, cols 8..15: another 4 pixels -> 8 of 16 = half -> discovered
    _, reward, *_, info = env.step(np.array([4 / 64, 12 / 64], dtype=np.float32))
    assert reward == 1.0 and info["new_feature_ids"] == [1]


def test_terminates_when_everything_is_found():
    env = STEMScanEnv(scene=_toy_scene(), patch_size=16, overview_size=16, action_mode="grid", dose_budget=1.5)
    env.reset(seed=0)
    terminated = False
    for cell in range(16):
        _, _, terminated, truncated, info = env.step(cell)
    assert terminated and not truncated and info["features_found"] == 16


def test_raster_found_fraction_tracks_dose_on_uniform_features():
    env = STEMScanEnv(scene=_toy_scene(), patch_size=16, overview_size=16, action_mode="grid", dose_budget=0.6, survey=False)
    infos, *_ = _run(env, make_agent("raster", env), seed=0)
    for info in infos[1:]:
        found = info["features_found"] / info["features_total"]
        assert found == pytest.approx(info["dose_fraction"], abs=1 / 16 + 1e-9)


@pytest.mark.parametrize("mode", ["continuous", "grid"])
def test_oracle_finds_at_least_raster(mode):
    for seed in range(3):
        env = gym.make(ENV_ID, action_mode=mode, **SMALL).unwrapped
        oracle, *_ = _run(env, make_agent("oracle", env), seed)
        raster, *_ = _run(env, make_agent("raster", env), seed)
        dose = min(oracle[-1]["dose_used"], raster[-1]["dose_used"])
        at = lambda infos: max(i["features_found"] for i in infos if i["dose_used"] <= dose)  # noqa: E731
        assert at(oracle) >= at(raster)


def test_survey_does_not_discover_point_features():
    env = gym.make(ENV_ID).unwrapped
    _, info = env.reset(seed=0)
    assert info["features_found"] == 0 and info["coverage"] == 0.0
    assert info["dose_fraction"] == pytest.approx(0.01)


def test_unscored_scene_runs_and_says_so():
    scene = _toy_scene()
    bare = Scene(image=scene.image, labels=np.zeros_like(scene.labels), features=[], pixel_size=1.0, family="file", scored=False)
    env = STEMScanEnv(scene=bare, patch_size=16, overview_size=16)
    _, info = env.reset(seed=0)
    assert info["scored"] is False and info["features_total"] == 0
    _, reward, terminated, _, _ = env.step(np.array([0.5, 0.5], dtype=np.float32))
    assert reward == 0.0 and not terminated


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "action, match",
    [
        (np.array([np.nan, 0.5]), "NaN"),
        (np.array([1.5, 0.5]), "outside the action space"),
        (np.array([-0.1, 0.5]), "outside the action space"),
        (np.array([0.5, 0.5, 0.5]), "shape"),
        ("here", "continuous action"),
    ],
)
def test_bad_continuous_actions(action, match):
    env = gym.make(ENV_ID, **SMALL).unwrapped
    env.reset(seed=0)
    with pytest.raises(ValueError, match=match):
        env.step(action)


@pytest.mark.parametrize("action, match", [(64, "outside Discrete"), (-1, "outside Discrete"), (2.5, "integer"), (np.array([1, 2]), "one integer")])
def test_bad_grid_actions(action, match):
    env = gym.make(ENV_ID, action_mode="grid", **SMALL).unwrapped
    env.reset(seed=0)
    with pytest.raises(ValueError, match=match):
        env.step(action)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"scene": "graphene-soup"}, "unknown scene 'graphene-soup'; valid names: .*lattice-defects"),
        ({"patch_size": 256, "image_size": 128}, "larger than the image"),
        ({"dose_budget": 0.001}, "cannot pay"),
        ({"action_mode": "joystick"}, "action_mode"),
        ({"render_mode": "human"}, "render_mode"),
        ({"dose_budget": float("nan")}, "dose_budget"),
        ({"image_size": 10}, "image_size"),
    ],
)
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        STEMScanEnv(**kwargs)


def test_unknown_scene_through_gym_make():
    with pytest.raises(ValueError, match="valid names"):
        gym.make(ENV_ID, scene="nope")


@pytest.mark.parametrize("mode", ["continuous", "grid"])
@pytest.mark.parametrize("survey", [True, False])
def test_overview_and_visited_match_a_fresh_block_sum(mode, survey):
    """The incrementally kept coarse maps equal a from-scratch block sum after every step, re-scans included."""
    env = gym.make(ENV_ID, scene="nanoparticles", action_mode=mode, survey=survey, dose_budget=1.0).unwrapped
    env.action_space.seed(5)
    env.reset(seed=4)
    grid = env.grid
    for _ in range(150):  # 150 patches on a 16 × 16 grid of cells: many overlaps
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        scanned, _ = env.discovery_state()
        n_scanned = grid.block_sum(scanned, 0, grid.size, 0, grid.size)
        measured = grid.block_sum(np.where(scanned, env._measured, 0), 0, grid.size, 0, grid.size)
        overview = np.rint((measured + env._survey * (grid.area - n_scanned)) * grid.scale_255)
        assert np.array_equal(obs["overview"][0], overview)
        assert np.array_equal(obs["visited"][0], np.rint(n_scanned * grid.scale_255))
        assert not (terminated or truncated)


@pytest.mark.parametrize("electrons, full_scale", [(500.0, 0.25), (500.0, 1.0), (20.0, 0.013), (5e4, 0.6)])
def test_normalisation_table_equals_normalise(electrons, full_scale):
    from stemscan.envs.microscope import Microscope

    microscope = Microscope()
    table = microscope.normalisation_table(electrons, full_scale)
    counts = np.arange(int(3 * electrons * full_scale) + 50)
    assert table.dtype == np.float32 and table[-1] == 1.0
    assert np.array_equal(table.take(np.minimum(counts, table.size - 1)), microscope.normalise(counts, electrons, full_scale))


def test_normalisation_table_is_bounded_and_exact_where_it_reaches():
    from stemscan.envs.microscope import MAX_TABLE_ENTRIES, Microscope

    microscope = Microscope()
    table = microscope.normalisation_table(1e12, 0.3)  # 3e11 counts of full scale: once a MemoryError
    assert table.size == MAX_TABLE_ENTRIES
    counts = np.arange(table.size)
    assert np.array_equal(table, microscope.normalise(counts, 1e12, 0.3))
    with pytest.raises(ValueError, match="max_entries"):
        microscope.normalisation_table(500.0, 0.3, max_entries=1)


def test_huge_dose_resets_and_steps_with_bounded_memory():
    import tracemalloc

    env = gym.make(ENV_ID, electrons_per_pixel=1e12, **SMALL).unwrapped
    tracemalloc.start()
    try:
        env.reset(seed=0)
        obs, *_ = env.step(env.action_space.sample())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20  # bytes; a table over every count would take 985 GiB
    scanned, _ = env.discovery_state()  # at this dose a patch is the noiseless signal / full scale, to ~1e-5
    expected = env.scene.image[scanned] / env.scene.image.max()
    assert scanned.any() and np.allclose(env._measured[scanned], expected, rtol=0, atol=1e-4)


def test_a_reset_forgets_the_last_episodes_pixels_and_stamps_wrap():
    """Scanned pixels are an episode stamp: a reset starts from nothing scanned, also when the stamps wrap around."""
    from stemscan.envs.episode import _MAX_EPISODE

    env = gym.make(ENV_ID, num_scenes=1, **SMALL).unwrapped
    env.reset(seed=0)
    env.step(env.action_space.sample())
    assert env.discovery_state()[0].any()
    env._episode = _MAX_EPISODE - 1  # as after 65,533 more episodes
    for _ in range(3):  # to the last stamp, past it (a clear), and one more
        env.reset(seed=0)
        scanned, found = env.discovery_state()
        assert not scanned.any() and not found[1:].any() and 1 <= env._episode <= _MAX_EPISODE
        env.step(env.action_space.sample())
    assert env._episode == 2
    assert np.array_equal(np.unique(env._stamp), [0, 1, 2])  # the stamp 65,535 was cleared when they wrapped
    env.reset(seed=0)
    env.action_space.seed(0)
    a = env.step(env.action_space.sample())[0]
    env.reset(seed=0)
    env.action_space.seed(0)
    b = env.step(env.action_space.sample())[0]
    assert np.array_equal(a["visited"], b["visited"]) and np.array_equal(a["overview"], b["overview"])
