"""Scene pools: seed mapping, sharing, train/test splits, the disk cache and bad input."""

from __future__ import annotations

import gc
import json

import gymnasium as gym
import numpy as np
import pytest

from stemscan.envs import ENV_ID
from stemscan.envs.scene_pool import pool_seeds, scene_pool
from stemscan.scenes import make as make_scene

from ..conftest import SMALL

FAMILY = "nanoparticles"


def test_pool_scene_i_is_the_family_scene_of_seed_start_plus_i():
    pool = scene_pool(FAMILY, 3, start_scene=40, size=128)
    assert list(pool_seeds(40, 3)) == [40, 41, 42]
    for index, scene in enumerate(pool):
        expected = make_scene(FAMILY, seed=40 + index, size=128)
        assert scene.seed == 40 + index and np.array_equal(scene.image, expected.image)
        assert np.array_equal(scene.labels, expected.labels) and scene.features == expected.features


def test_envs_share_one_pool_and_draw_only_its_scenes():
    a = gym.make(ENV_ID, scene=FAMILY, num_scenes=3, start_scene=7, **SMALL).unwrapped
    b = gym.make(ENV_ID, scene=FAMILY, num_scenes=3, start_scene=7, **SMALL).unwrapped
    assert a._pool is b._pool
    seen = set()
    a.reset(seed=0)
    for _ in range(30):
        seen.add(a.scene.seed)
        a.reset()
    assert seen == {7, 8, 9}


def test_same_seed_same_pooled_episode_and_splits_are_disjoint():
    def first_obs(seed, start):
        env = gym.make(ENV_ID, scene=FAMILY, num_scenes=4, start_scene=start, **SMALL).unwrapped
        obs, _ = env.reset(seed=seed)
        obs, reward, *_ = env.step(np.array([0.3, 0.6], dtype=np.float32))
        return env.scene.seed, obs["patch"], reward

    seed_a, patch_a, reward_a = first_obs(3, 0)
    seed_b, patch_b, reward_b = first_obs(3, 0)
    assert seed_a == seed_b and np.array_equal(patch_a, patch_b) and reward_a == reward_b
    test_seed, *_ = first_obs(3, 10**6)
    assert seed_a in range(4) and test_seed in range(10**6, 10**6 + 4)


def test_disk_cache_round_trip_and_verification(tmp_path):
    pool = scene_pool("lattice-defects", 2, start_scene=5, size=64, cache_dir=tmp_path)
    expected = [(s.image.copy(), s.labels.copy(), s.features, s.atoms, s.params) for s in pool]
    (path,) = tmp_path.glob("*.npz")
    del pool
    gc.collect()  # the in-memory pool is gone: the next call reads the file
    again = scene_pool("lattice-defects", 2, start_scene=5, size=64, cache_dir=tmp_path)
    for scene, (image, labels, features, atoms, params) in zip(again, expected):
        assert np.array_equal(scene.image, image) and np.array_equal(scene.labels, labels)
        assert scene.features == features and np.array_equal(scene.atoms, atoms)
        assert json.dumps(scene.params, sort_keys=True) == json.dumps(params, sort_keys=True)
    del again
    gc.collect()
    data = dict(np.load(path))
    data["image"][0, 0, 0] += 0.125  # an edited pixel
    with open(path, "wb") as handle:
        np.savez(handle, **data)
    with pytest.raises(ValueError, match="SHA-256 does not match"):
        scene_pool("lattice-defects", 2, start_scene=5, size=64, cache_dir=tmp_path)
    path.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="corrupt or not a stemscan pool"):
        scene_pool("lattice-defects", 2, start_scene=5, size=64, cache_dir=tmp_path)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_scenes": 0}, "num_scenes must be an integer >= 1"),
        ({"num_scenes": 2.5}, "num_scenes must be an integer"),
        ({"num_scenes": 2, "start_scene": -1}, "start_scene must be an integer >= 0"),
        ({"start_scene": 5}, "need num_scenes"),
        ({"scene_cache_dir": "x"}, "need num_scenes"),
    ],
)
def test_bad_pool_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gym.make(ENV_ID, scene=FAMILY, **SMALL, **kwargs)


def test_a_fixed_scene_has_no_pool():
    scene = make_scene(FAMILY, seed=0, size=128)
    with pytest.raises(ValueError, match="not a Scene"):
        gym.make(ENV_ID, scene=scene, num_scenes=2, patch_size=16)


@pytest.mark.slow  # spawns two worker processes that import stemscan
def test_parallel_generation_gives_the_same_pool():
    serial = [s.image.copy() for s in scene_pool("phase-separated", 3, start_scene=900, size=64)]
    gc.collect()
    parallel = scene_pool("phase-separated", 3, start_scene=901, size=64, workers=2)
    assert np.array_equal(parallel[0].image, serial[1]) and np.array_equal(parallel[1].image, serial[2])
    assert parallel[2].seed == 903


def test_bad_workers():
    with pytest.raises(ValueError, match="workers must be an integer >= 1"):
        scene_pool(FAMILY, 2, workers=0)


def test_a_copied_env_shares_its_pool():
    import copy

    env = gym.make(ENV_ID, scene=FAMILY, num_scenes=2, **SMALL).unwrapped
    assert copy.deepcopy(env)._pool is env._pool
