"""The shared BO core: toy descriptor fields (no scene), bookkeeping, options, errors, determinism."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import stemscan  # noqa: F401  (registers STEMScan-v0)
from stemscan.agents.bo import ACQUISITIONS, BOAgent
from stemscan.benchmarks import play_episode

PEAK = np.array([0.80, 0.70])  # (row, col) of the toy field's maximum, far down the raster order


def bump(position: np.ndarray) -> float:
    """A smooth toy descriptor field with one maximum at PEAK."""
    return float(np.exp(-np.sum((np.asarray(position, dtype=np.float64) - PEAK) ** 2) / (2 * 0.12**2)))


class ToyBO(BOAgent):
    """BO on the toy field; the descriptor reads only the observation's position."""

    def descriptor(self, observation: dict[str, np.ndarray]) -> float:
        return bump(observation["position"])


class ToyPriorBO(ToyBO):
    """With a noisy survey-like prior of the toy field."""

    def prior(self, observation: dict[str, np.ndarray]) -> np.ndarray | None:
        centres = self.field.cell_centres
        noise = np.random.default_rng(7).normal(0.0, 0.2, len(centres))
        return np.array([bump(c) for c in centres]) + noise


def make_env(action_mode: str = "continuous", image_size: int = 256) -> gym.Env:
    return gym.make("STEMScan-v0", image_size=image_size, action_mode=action_mode)  # (size / 32)² cells


def synthetic_observation(env: gym.Env, position: np.ndarray) -> dict[str, np.ndarray]:
    """An observation at ``position`` without running the microscope (geometry only)."""
    space = env.observation_space
    return {
        "patch": np.zeros(space["patch"].shape, dtype=np.float32),
        "position": np.asarray(position, dtype=np.float32),
        "dose": np.zeros(1, dtype=np.float32),
        "overview": np.zeros(space["overview"].shape, dtype=np.uint8),
        "visited": np.zeros(space["visited"].shape, dtype=np.uint8),
    }


def run_toy(agent: BOAgent, env: gym.Env, steps: int) -> list[int]:
    """Cells the agent scans in ``steps`` decisions on the toy field."""
    agent.reset(seed=agent.seed)
    obs = synthetic_observation(env, np.array([0.5, 0.5]))
    cells = []
    for _ in range(steps):
        action, _ = agent.predict(obs)
        if agent.field.action_mode == "grid":
            cell = int(action)
        else:
            cell = agent.field.cell_of_position(np.asarray(action))
        cells.append(cell)
        obs = synthetic_observation(env, agent.field.cell_centres[cell])
    return cells


def peak_cell(agent: BOAgent) -> int:
    return agent.field.cell_of_position(PEAK)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_finds_toy_maximum_faster_than_raster(seed: int) -> None:
    env = make_env()
    agent = ToyBO(env, seed=seed)
    target = peak_cell(agent)
    raster_steps = target + 1  # raster reaches the peak cell after this many scans
    cells = run_toy(agent, env, 20)
    assert target in cells, f"BO did not reach the peak cell {target} in 20 steps: {cells}"
    assert cells.index(target) + 1 < raster_steps / 2


def test_prior_seeds_initial_cells_near_the_maximum() -> None:
    env = make_env()
    agent = ToyPriorBO(env, seed=0, n_initial=3)
    cells = run_toy(agent, env, 3)
    centres = agent.field.cell_centres[cells]
    assert np.min(np.linalg.norm(centres - PEAK, axis=1)) < 0.2


def test_never_rescans_until_all_cells_scanned() -> None:
    env = make_env(image_size=128)
    agent = ToyBO(env, seed=0, refit_every=20)
    n = agent.n_cells
    cells = run_toy(agent, env, n + 3)
    assert sorted(cells[:n]) == list(range(n))


@pytest.mark.parametrize("acquisition", ACQUISITIONS)
def test_every_acquisition_decides_in_grid_mode(acquisition: str) -> None:
    env = make_env("grid")
    agent = ToyBO(env, seed=0, acquisition=acquisition, n_initial=2, refit_every=10)
    cells = run_toy(agent, env, 5)
    assert len(set(cells)) == 5
    assert all(0 <= c < agent.n_cells for c in cells)


def test_deterministic_given_seed_and_seed_matters() -> None:
    env = make_env()
    first = run_toy(ToyBO(env, seed=3), env, 7)
    second = run_toy(ToyBO(env, seed=3), env, 7)
    other = run_toy(ToyBO(env, seed=4), env, 7)
    assert first == second
    assert first != other


def test_reset_forgets_previous_episode() -> None:
    env = make_env()
    agent = ToyBO(env, seed=5)
    first = run_toy(agent, env, 6)
    again = run_toy(agent, env, 6)
    assert first == again


def test_works_in_real_env_episode() -> None:
    env = gym.make("STEMScan-v0", image_size=128, scene="lattice-defects", dose_budget=0.5)
    agent = ToyBO(env, seed=0)
    played = play_episode(env, agent, seed=0, seed_agent=0)
    assert all(env.action_space.contains(action) for action in played.actions)
    visited = [agent.field.cell_of_position(action) for action in played.actions]
    assert len(visited) == len(set(visited))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"acquisition": "pi"}, "acquisition"),
        ({"beta": 0.0}, "beta"),
        ({"beta": float("nan")}, "beta"),
        ({"refit_every": 0}, "refit_every"),
        ({"n_initial": 1.5}, "n_initial"),
    ],
)
def test_bad_options_raise(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ToyBO(make_env(), **kwargs)


def test_bad_prior_and_descriptor_raise() -> None:
    env = make_env()

    class WrongPrior(ToyBO):
        def prior(self, observation):
            return np.zeros(3)

    class NanDescriptor(ToyBO):
        def descriptor(self, observation):
            return float("nan")

    with pytest.raises(ValueError, match="prior"):
        run_toy(WrongPrior(env), env, 1)
    with pytest.raises(ValueError, match="descriptor"):
        run_toy(NanDescriptor(env), env, 2)


def test_descriptor_is_abstract() -> None:
    with pytest.raises(TypeError):
        BOAgent(make_env())  # type: ignore[abstract]


def test_multi_column_prior_becomes_gp_inputs() -> None:
    """Several survey statistics: Latin-hypercube start, then a GP with a linear mean in them."""
    env = make_env()

    class StatsPrior(ToyBO):
        def prior(self, observation):
            centres = self.field.cell_centres
            informative = np.array([bump(c) for c in centres])
            constant = np.ones(len(centres))  # dropped: carries nothing
            noise = np.random.default_rng(3).normal(size=len(centres))
            return np.stack([noise, informative, constant], axis=1)

    agent = StatsPrior(env, seed=0, n_initial=3)
    cells = run_toy(agent, env, 8)
    assert agent.prior_columns.shape == (agent.n_cells, 2)
    assert len(set(cells)) == 8
    assert peak_cell(agent) in cells or min(np.linalg.norm(agent.field.cell_centres[cells] - PEAK, axis=1)) < 0.15


def test_bad_lengthscale_raises() -> None:
    env = make_env()

    class BadLength(ToyBO):
        lengthscale_cells = -1.0

    with pytest.raises(ValueError, match="lengthscale_cells"):
        run_toy(BadLength(env, n_initial=1), env, 4)


class ToyWallBO(ToyBO):
    """Boundary search on a toy field with a wall between grid columns 3 and 4 (-1 left of it, +1 right)."""

    def _start_episode(self) -> None:
        super()._start_episode()
        self.positions: list[np.ndarray] = []

    def descriptor(self, observation: dict[str, np.ndarray]) -> float:
        self.positions.append(np.asarray(observation["position"], dtype=np.float64))
        return super().descriptor(observation)

    def field_values(self) -> np.ndarray | None:
        return np.array([[1.0 if p[1] > 0.5 else -1.0] for p in self.positions]) if self.positions else None


def test_change_search_follows_the_wall_of_the_modelled_field() -> None:
    """``search="change"``: once both sides are measured, the next cells lie along the wall."""
    env = make_env(action_mode="grid")  # 8 x 8 cells
    agent = ToyWallBO(env, seed=0, n_initial=2, search="change")
    cells = run_toy(agent, env, 12)
    columns = np.asarray(cells) % agent.field.geometry.n_cols
    assert len(set(cells)) == len(cells)
    assert np.isin(columns[-6:], [3, 4]).all(), columns
    mean, covariance = agent.field_posterior()
    assert mean.shape == (agent.n_cells, 1) and covariance.shape == (1, agent.n_cells, agent.n_cells)


@pytest.mark.parametrize("search", ["change", "straddle"])
def test_boundary_search_reproduces_from_the_seed(search: str) -> None:
    env = make_env(action_mode="grid")
    cells = run_toy(ToyWallBO(env, seed=0, n_initial=2, search=search), env, 10)
    assert len(set(cells)) == len(cells)
    assert cells == run_toy(ToyWallBO(env, seed=0, n_initial=2, search=search), env, 10)


def test_boundary_search_without_contrast_explores_and_bad_search_is_named() -> None:
    env = make_env(action_mode="grid")

    class NoField(ToyBO):  # the default field_values (None): explore, farthest cell first
        pass

    agent = NoField(env, seed=0, n_initial=1, search="change")
    cells = run_toy(agent, env, 3)
    centres = agent.field.cell_centres
    assert np.linalg.norm(centres[cells[2]] - centres[cells[1]]) > 0.5
    with pytest.raises(ValueError, match="search"):
        ToyBO(env, search="walls")
