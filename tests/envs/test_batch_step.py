"""The batched step's pieces: generator reads identical to numpy's own, the sampler's draws, copies of envs."""

from __future__ import annotations

import copy
import pickle

import gymnasium as gym
import numpy as np
import pytest

from stemscan.envs import ENV_ID
from stemscan.envs.batch_step import sample_patches
from stemscan.envs.bit_generator import raw_fill, rng_address
from stemscan.envs.shot_noise import ShotNoiseMap
from stemscan.envs.vector_env import STEMScanVectorEnv

from ..conftest import SMALL

KWARGS = {"scene": "nanoparticles", "num_scenes": 2, "dose_budget": 0.3, **SMALL}


@pytest.mark.parametrize("bit_generator", [np.random.PCG64, np.random.PCG64DXSM, np.random.Philox, np.random.MT19937, np.random.SFC64])
def test_raw_fill_reads_what_numpy_draws(bit_generator):
    ours, numpy = np.random.Generator(bit_generator(7)), np.random.Generator(bit_generator(7))
    out = np.empty(1001, dtype=np.uint64)
    raw_fill(ours, out)
    assert np.array_equal(out, numpy.integers(0, 2**64, size=1001, dtype=np.uint64))  # numpy's next_uint64 per value
    assert ours.random() == numpy.random()  # both generators advanced alike
    with pytest.raises(ValueError, match="uint64"):
        raw_fill(ours, np.empty(3, dtype=np.float64))
    with pytest.raises(TypeError, match="numpy array"):
        raw_fill(ours, [0, 0, 0])
    read_only = np.empty(3, dtype=np.uint64)
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        raw_fill(ours, read_only)
    with pytest.raises(TypeError, match="Generator"):
        rng_address(np.random.RandomState(0))


def test_sample_patches_draws_what_shot_noise_map_sample_draws():
    mean = np.random.default_rng(0).gamma(0.8, 6.0, size=(64, 80))  # tabled and PTRS pixels
    noise = ShotNoiseMap(mean)
    corners = np.array([[0, 0], [30, 47], [56, 72]], dtype=np.int64)
    ours, theirs = np.random.default_rng(3), np.random.default_rng(3)
    counts = np.empty((8, 8), dtype=np.int64)
    total = 0
    for r0, c0 in corners:
        want = noise.sample(theirs, int(r0), int(c0), 8, 8)
        total += int(want.sum())
        assert sample_patches(*rng_address(ours), noise.mean, noise.row, noise.aux, noise.means, noise.threshold,
                              noise.alias, noise.log_factorial, np.array([[r0, c0]]), counts) == want.sum()  # fmt: skip
        assert np.array_equal(counts, want)
    assert ours.random() == theirs.random() and total > 0


@pytest.mark.parametrize("generator", [np.random.PCG64, np.random.Philox])
def test_in_line_pcg64_draws_what_the_c_generator_draws(generator):
    """The sampler's counts and the generator's state after them: in-line PCG64 == numpy's C next_uint64."""
    mean = np.random.default_rng(1).gamma(0.7, 20.0, size=(48, 48))  # tabled (fine, coarse) and PTRS pixels
    noise = ShotNoiseMap(mean)
    in_line, called = np.random.Generator(generator(11)), np.random.Generator(generator(11))
    assert (rng_address(in_line)[0] == 0) == (generator is np.random.PCG64)  # only PCG64 itself is stepped in line
    assert rng_address(called, in_line=False)[0] != 0
    corners = np.array([[0, 0], [17, 40], [40, 3]], dtype=np.int64)
    got, want = np.empty((8, 8), dtype=np.int64), np.empty((8, 8), dtype=np.int64)
    tables = (noise.mean, noise.row, noise.aux, noise.means, noise.threshold, noise.alias, noise.log_factorial)
    for corner in corners:
        sample_patches(*rng_address(in_line), *tables, corner[None], got)
        sample_patches(*rng_address(called, in_line=False), *tables, corner[None], want)
        assert np.array_equal(got, want)
    assert in_line.random() == called.random()  # left in the same state


@pytest.mark.parametrize("generator", [np.random.PCG64, np.random.SFC64])
def test_next_uint64_one_draw_at_a_time_is_numpys(generator):
    import numba

    from stemscan.envs.bit_generator import next_uint64

    @numba.njit
    def three(function, state):
        return next_uint64(function, state), next_uint64(function, state), next_uint64(function, state)

    ours, numpy = np.random.Generator(generator(3)), np.random.Generator(generator(3))
    assert list(three(*rng_address(ours))) == numpy.integers(0, 2**64, size=3, dtype=np.uint64).tolist()
    assert ours.random() == numpy.random()


def test_subclassed_pcg64_is_called_not_stepped_in_line():
    class Counted(np.random.PCG64):
        pass

    assert rng_address(np.random.Generator(Counted(0)))[0] != 0


def _rollout(env, steps, n_envs=None):
    """Patches and rewards of ``steps`` fixed actions (a vector env of ``n_envs``, or a single env that resets)."""
    out = []
    for t in range(steps):
        action = np.array([0.3, (0.1 + 0.07 * t) % 1.0], dtype=np.float32)
        obs, reward, terminated, truncated, _ = env.step(action if n_envs is None else np.tile(action, (n_envs, 1)))
        out.append((obs["patch"].copy(), np.copy(reward)))
        if n_envs is None and (terminated or truncated):
            env.reset()
    return out


@pytest.mark.parametrize("clone", [copy.deepcopy, lambda env: pickle.loads(pickle.dumps(env))])
def test_copies_continue_like_the_original_on_their_own_generators(clone):
    vec = STEMScanVectorEnv(num_envs=2, **KWARGS)
    vec.reset(seed=5)
    vec.step(np.full((2, 2), 0.5, dtype=np.float32))
    twin = clone(vec)
    got, want = _rollout(twin, 12, 2), _rollout(vec, 12, 2)
    assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) for a, b in zip(got, want))
    single = gym.make(ENV_ID, **KWARGS).unwrapped
    single.reset(seed=5)
    single.step(np.array([0.5, 0.5], dtype=np.float32))
    twin = clone(single)
    got, want = _rollout(twin, 12), _rollout(single, 12)
    assert all(np.array_equal(a[0], b[0]) and a[1] == b[1] for a, b in zip(got, want))


def test_actions_of_sub_envs_being_reset_are_ignored_even_if_invalid():
    vec = STEMScanVectorEnv(num_envs=2, **KWARGS)
    vec.reset(seed=2)
    ended = np.zeros(2, dtype=bool)
    for _ in range(500):
        _, _, terminated, truncated, _ = vec.step(np.full((2, 2), 0.5, dtype=np.float32))
        ended = terminated | truncated
        if ended.any():
            break
    assert ended.any()
    actions = np.full((2, 2), 0.5, dtype=np.float32)
    actions[ended] = np.nan  # ignored: those sub-envs reset this step
    _, reward, _, _, info = vec.step(actions)
    assert (info["steps"][ended] == 0).all() and (reward[ended] == 0).all()
    with pytest.raises(ValueError, match="NaN"):
        vec.step(np.full((2, 2), np.nan, dtype=np.float32))


def test_a_replaced_generator_is_read_by_the_vector_env_as_by_a_single_env():
    vec = STEMScanVectorEnv(num_envs=2, **KWARGS)
    vec.reset(seed=0)
    single = gym.make(ENV_ID, **KWARGS).unwrapped
    single.reset(seed=0)
    vec.envs[0].np_random = np.random.Generator(np.random.Philox(1))  # mid-episode, by the user
    single.np_random = np.random.Generator(np.random.Philox(1))
    action = np.array([0.3, 0.6], dtype=np.float32)
    for _ in range(3):
        batch, *_ = vec.step(np.tile(action, (2, 1)))
        alone, *_ = single.step(action)
        assert np.array_equal(batch["patch"][0], alone["patch"])


@pytest.mark.parametrize("seed, match", [(True, "got True"), (1.5, "got 1.5"), ([1], "got 1 seeds"), ([1, True], "in the list")])
def test_bad_vector_seeds_are_named(seed, match):
    vec = STEMScanVectorEnv(num_envs=2, **KWARGS)
    with pytest.raises(ValueError, match=match):
        vec.reset(seed=seed)
    vec.reset(seed=np.arange(2))  # an integer array is a list of seeds
