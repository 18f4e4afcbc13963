"""The ``rvae-bo`` agent: episodes, determinism, human target selection, config, errors, ferroelectric domains."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
import torch

import stemscan  # noqa: F401  (registers STEMScan-v0)
from stemscan.agents import registry
from stemscan.agents.rvae_bo import BOUNDARIES, RVAEBOAgent
from stemscan.benchmarks import play_episode

torch.set_num_threads(1)


def small_env(scene: str = "lattice-defects", action_mode: str = "continuous", patch_size: int = 32) -> gym.Env:
    """128×128 field, 16 cells of 32 px, budget for a handful of patches."""
    return gym.make("STEMScan-v0", scene=scene, image_size=128, patch_size=patch_size, dose_budget=0.5,
                    action_mode=action_mode)


def rollout(agent: RVAEBOAgent, env: gym.Env, seed: int) -> list:
    return [np.asarray(action).tolist() for action in play_episode(env, agent, seed, seed).actions]


def test_episode_runs_and_descriptors_are_finite() -> None:
    env = small_env()
    agent = registry.make("rvae-bo", env, seed=0)
    actions = rollout(agent, env, seed=1)
    assert len(actions) >= 5
    assert len(set(map(tuple, actions))) == len(actions)  # no cell scanned twice
    assert np.isfinite(agent.descriptors).all() and len(agent.descriptors) == len(actions) - 1
    assert agent.chosen_target in range(agent.model.config.latent_dim)
    assert agent.trainer.steps == agent.online_steps * (len(actions) - 1)


def test_same_seed_same_actions_and_episodes_are_independent() -> None:
    env_a, env_b = small_env(), small_env()
    a = registry.make("rvae-bo", env_a, seed=3)
    b = registry.make("rvae-bo", env_b, seed=3)
    first = rollout(a, env_a, seed=5)
    assert first == rollout(b, env_b, seed=5)
    assert first == rollout(a, env_a, seed=5)  # online training is undone at each episode start


def test_grid_action_mode() -> None:
    env = small_env(action_mode="grid")
    actions = rollout(registry.make("rvae-bo", env, seed=0), env, seed=0)
    assert all(isinstance(a, int) and 0 <= a < 16 for a in actions)


def test_human_target_is_used() -> None:
    env = small_env()
    agent = registry.make("rvae-bo", env, seed=0, target=1)
    rollout(agent, env, seed=2)
    assert agent.chosen_target == 1
    values = agent.target_latents()
    assert len(values) == len(agent.descriptors)


def test_example_position_is_scanned_first_and_becomes_the_reference() -> None:
    env = small_env()
    agent = registry.make("rvae-bo", env, seed=0, example=[0.9, 0.1])
    actions = rollout(agent, env, seed=2)
    cell = agent.field.cell_of_position(np.array([0.9, 0.1]))
    assert agent.field.cell_of_position(np.array(actions[0])) == cell
    assert agent.descriptor_kind == "similarity"
    assert agent._example_windows is not None
    # the example patch is the most similar to itself
    assert int(np.argmax(agent.descriptors)) == 0


def test_example_patch_steers_the_search() -> None:
    """A patch of empty support as the example ranks atom-poor patches above crystalline ones."""
    env = small_env()
    obs, _ = env.reset(seed=0)
    y, x = np.mgrid[:32, :32]
    example = (0.05 + 0.6 * np.exp(-((y - 16) ** 2 + (x - 16) ** 2) / 6.0)).astype(np.float32)  # one isolated column
    agent = registry.make("rvae-bo", env, seed=0, example=example)
    rollout(agent, env, seed=0)
    assert agent._example_windows is not None and len(agent._example_windows) == 1
    assert all(v <= 0 for v in agent.descriptors)  # similarity = -distance


def test_config_is_json_and_reproduces_the_agent() -> None:
    env = small_env()
    agent = registry.make("rvae-bo", env, seed=4, target=0, online_steps=1, descriptor="spread", example=[0.5, 0.5])
    config = json.loads(json.dumps(agent.config()))
    clone = registry.make("rvae-bo", small_env(), **config)
    assert clone.config() == agent.config()
    assert rollout(agent, env, seed=1) == rollout(clone, small_env(), seed=1)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"target": 7}, ValueError, "target"),
        ({"target": -1}, ValueError, "target"),
        ({"descriptor": "fancy"}, ValueError, "descriptor"),
        ({"online_steps": -1}, ValueError, "online_steps"),
        ({"example": [0.5, 1.5]}, ValueError, "outside"),
        ({"example": np.zeros((5, 5))}, ValueError, "patch or a"),
        ({"example": [np.nan, 0.5]}, ValueError, "NaN"),
        ({"example": "somewhere"}, ValueError, "example"),
        ({"weights": "/nonexistent/rvae.safetensors", "centring": "peak"}, FileNotFoundError, "weights not found"),
        ({"weights": "/nonexistent/rvae.safetensors"}, ValueError, "give centring"),
        ({"boundary": "edges"}, ValueError, "boundary"),
        ({"edge_px": -1.0}, ValueError, "edge_px"),
        ({"acquisition": "magic"}, ValueError, "acquisition"),
        ({"colour": "red"}, TypeError, "colour"),
        ({"centring": "middle"}, ValueError, "centring"),
        ({"centring": "lattice"}, ValueError, "lattice_px"),
        ({"centring": "lattice", "lattice_px": -2.0}, ValueError, "lattice_px"),
    ],
)
def test_bad_options_raise_clear_errors(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        registry.make("rvae-bo", small_env(), **kwargs)


def test_window_larger_than_patch_is_rejected() -> None:
    with pytest.raises(ValueError, match="larger than the env's patch"):
        RVAEBOAgent(small_env(patch_size=8))


def test_example_patch_without_atoms_is_rejected() -> None:
    with pytest.raises(ValueError, match="no atom columns"):
        registry.make("rvae-bo", small_env(), example=np.zeros((32, 32)))


def test_bad_observation_is_rejected() -> None:
    env = small_env()
    agent = registry.make("rvae-bo", env)
    obs, _ = env.reset(seed=0)
    agent.predict(obs)
    obs, *_ = env.step(env.action_space.sample())
    obs["patch"][0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        agent.predict(obs)


# ------------------------------------------------------ ferroelectric domains
#: The perovskite workflow a person configures for ``ferroelectric-domains``: windows on the ideal B
#: sites of the A lattice (3.95 Å at 0.15 Å/px) and the shipped lattice-centred weights.
LATTICE = {"centring": "lattice", "lattice_px": 3.95 / 0.15}


def welch_t(a: np.ndarray, b: np.ndarray) -> float:
    """|mean a − mean b| over its standard error, for (n, d) samples (d = 1: Welch's t; d = 2: summed variances)."""
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    error = np.sqrt(a.var(axis=0).sum() / len(a) + b.var(axis=0).sum() / len(b))
    return float(np.linalg.norm(a.mean(axis=0) - b.mean(axis=0)) / error)


@pytest.mark.parametrize("displacement", [15.0, 60.0])
def test_chosen_latent_differs_across_ferroelectric_domains(displacement: float) -> None:
    """On ``ferroelectric-domains`` windows of B-site columns in different domains encode differently.

    The perovskite workflow (:data:`LATTICE`); the target is chosen automatically, as the agent
    chooses it.  Ground truth (atom positions, evaluation only) gives each B column's polarisation
    quadrant; the chosen target's mean must differ between the two largest domains by several
    standard errors.
    """
    from stemscan.agents.rvae import pretrained

    values, domains, target = domain_latents(pretrained("lattice"), 2, displacement=displacement, noise_seed=0,
                                             **LATTICE)
    first, second = np.argsort(-np.bincount(domains, minlength=4))[:2]
    t = welch_t(values[domains == first], values[domains == second])
    assert t > 3.0, f"target {target!r}: t = {t:.2f}"


def test_default_agent_configures_itself_for_a_perovskite_and_its_latent_separates_domains() -> None:
    """With default keywords on ``ferroelectric-domains`` the agent recognises the perovskite from its first patches.

    It measures the cell side (the scene's 3.95 Å at 0.15 Å/px = 26.3 px) and switches to lattice-centred
    windows and the wall search; the latent of that configuration separates domains (what the generic
    peak-centred latent cannot: a 16 px window centred on a B column is centred on the *displaced* column
    and its rotation-invariant z cannot tell a domain from its rotated neighbour).
    """
    from stemscan.agents.rvae import pretrained

    env = gym.make("STEMScan-v0", scene="ferroelectric-domains", dose_budget=0.05)
    agent = registry.make("rvae-bo", env, seed=0)
    play_episode(env, agent, 2, 0)
    chosen = agent.resolved
    assert chosen["centring"] == "lattice" and chosen["boundary"] == "change" and chosen["descriptor"] == "contrast"
    assert chosen["lattice_px"] == pytest.approx(3.95 / 0.15, rel=0.04)
    assert agent.search == "change" and agent.config()["centring"] == "auto"
    values, domains, target = domain_latents(pretrained("lattice"), 2, noise_seed=0, centring="lattice",
                                             lattice_px=chosen["lattice_px"], scale=chosen["window_scale"])
    first, second = np.argsort(-np.bincount(domains, minlength=4))[:2]
    t = welch_t(values[domains == first], values[domains == second])
    assert t > 3.0, f"target {target!r}: t = {t:.2f}"


@pytest.mark.parametrize("scene", ["nanoparticles", "lattice-defects"])
def test_default_agent_keeps_peak_windows_elsewhere_and_acts_as_configured_by_hand(scene: str) -> None:
    """No perovskite: the self-configured agent is the peak-centred workflow, action for action."""
    env_a, env_b = small_env(scene), small_env(scene)
    auto = registry.make("rvae-bo", env_a, seed=1)
    by_hand = registry.make("rvae-bo", env_b, seed=1, centring="peak", descriptor="outlier", boundary=None)
    assert rollout(auto, env_a, seed=3) == rollout(by_hand, env_b, seed=3)
    assert auto.resolved["centring"] == "peak" and auto.perovskite is None


def test_operator_settings_override_the_self_configuration() -> None:
    env = small_env("ferroelectric-domains")
    agent = registry.make("rvae-bo", env, seed=0, boundary=None, descriptor="spread", lattice_px=26.333)
    rollout(agent, env, seed=2)
    if agent.resolved["centring"] == "lattice":
        assert agent.resolved["lattice_px"] == 26.333 and agent.resolved["window_scale"] == pytest.approx(1.0)
    assert agent.resolved["boundary"] is None and agent.resolved["descriptor"] == "spread"
    assert agent.search == "maximum"


def domain_latents(
    model,
    scene_seed: int,
    displacement: float | None = None,
    noise_seed: int | None = None,
    centring: str = "peak",
    lattice_px: float | None = None,
    scale: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, int | str]:
    """Target values of B-site windows of a measured ``ferroelectric-domains`` scene, their domain, the target.

    The scene (512 px) is measured at the env's dose and cut into the env's 32 px grid patches;
    windows are cut as the agent cuts them (lattice mode: the lattice angle pooled over all patches'
    bonds) and the target is chosen as the agent chooses it
    (:func:`~stemscan.agents.rvae_bo.choose_target` over the agent's candidates).  Ground truth
    (atom positions, evaluation only) gives each B column's polarisation quadrant.
    ``displacement`` (pm) overrides the scene's default; the shot noise is seeded by ``noise_seed``
    (default: the scene seed).

    Returns:
        ``(values, domains, target)``: (N, d) target values of the windows on a B site, their
        quadrant (N,), the chosen target.
    """
    from scipy.spatial import cKDTree

    from stemscan.agents.features.windows import bond_angles, lattice_columns, lattice_windows, patch_windows
    from stemscan.agents.rvae import encode
    from stemscan.agents.features.latents import ANGLE, choose_target, target_values
    from stemscan.envs.microscope import Microscope
    from stemscan.scenes import make

    params = {} if displacement is None else {"displacement": displacement}
    scene = make("ferroelectric-domains", seed=scene_seed, size=512, **params)
    microscope = Microscope()
    rng = np.random.default_rng(scene_seed if noise_seed is None else noise_seed)
    measured = microscope.normalise(microscope.counts(scene.image, 500.0, rng), 500.0, float(scene.image.max()))
    a_sites = scene.atoms[scene.atom_classes == 0]
    b_sites = scene.atoms[scene.atom_classes == 1]
    _, nearest_a = cKDTree(a_sites).query(b_sites, 4)
    polarisation = b_sites - a_sites[nearest_a].mean(axis=1)
    quadrant = np.round(np.arctan2(polarisation[:, 0], polarisation[:, 1]) / (np.pi / 2)).astype(int) % 4
    corners = [(r, c) for r in range(0, 512, 32) for c in range(0, 512, 32)]
    window = model.config.window
    if centring == "lattice":
        columns = [lattice_columns(measured[r : r + 32, c : c + 32]) for r, c in corners]
        angle = float(np.median(np.concatenate([bond_angles(bright, dim, lattice_px) for _, bright, dim in columns])))
        cuts = [lattice_windows(smooth, bright, window, lattice_px, angle=angle, scale=scale)
                for smooth, bright, _ in columns]
        candidates = list(range(model.config.latent_dim)) + [ANGLE]
    else:
        cuts = [patch_windows(measured[r : r + 32, c : c + 32], window) for r, c in corners]
        candidates = list(range(model.config.latent_dim))
    b_tree = cKDTree(b_sites)
    patch_latents, on_b_latents, domains = [], [], []
    for (r, c), (windows, centres) in zip(corners, cuts):
        z = encode(model, windows)
        patch_latents.append(z)
        if not len(windows):
            continue
        distance, index = b_tree.query(centres + [r, c])
        on_b = distance < 4
        on_b_latents.append(z[on_b])
        domains.extend(quadrant[index[on_b]])
    target = choose_target(patch_latents, candidates)
    return target_values(np.concatenate(on_b_latents), target), np.array(domains), target


@pytest.mark.parametrize("scene_seed", [1000, 1001])
def test_lattice_target_separates_domains_on_held_out_scenes(scene_seed: int) -> None:
    """Shipped lattice weights, automatic target, held-out scenes: the target separates the two largest domains.

    AUC of the windows' target projected on the direction between the two domains' mean target values
    (one fitted direction for hundreds of windows), and the Welch statistic of :func:`welch_t`.
    """
    from sklearn.metrics import roc_auc_score

    from stemscan.agents.rvae import pretrained

    values, domains, target = domain_latents(pretrained("lattice"), scene_seed, **LATTICE)
    first, second = np.argsort(-np.bincount(domains, minlength=4))[:2]
    a, b = values[domains == first], values[domains == second]
    pair = np.isin(domains, [first, second])
    score = values[pair] @ (a.mean(axis=0) - b.mean(axis=0))
    auc = roc_auc_score(domains[pair] == first, score)
    assert auc > 0.8 and welch_t(a, b) > 3.0, f"target {target!r}: AUC {auc:.2f}, t {welch_t(a, b):.2f}"


# ---------------------------------------------------- angle target, contrast, lattice mode


def test_lattice_mode_episode_on_ferroelectric_domains() -> None:
    """The perovskite workflow runs, estimates the lattice angle, chooses a target and is reproducible."""
    kwargs = {**LATTICE, "descriptor": "contrast"}
    env_a, env_b = small_env("ferroelectric-domains"), small_env("ferroelectric-domains")
    a = registry.make("rvae-bo", env_a, seed=1, **kwargs)
    b = registry.make("rvae-bo", env_b, seed=1, **kwargs)
    actions = rollout(a, env_a, seed=7)
    assert actions == rollout(b, env_b, seed=7)
    assert a.model.config.window == 10 and not a.model.config.translation  # the shipped lattice weights
    assert abs(a.lattice_angle) < np.deg2rad(6) and a.lattice_angle != 0.0
    assert a.chosen_target in [0, "angle"] and np.isfinite(a.descriptors).all()
    assert len(a.target_latents()) == len(a.descriptors)


def test_human_angle_target_and_bad_contrast_cells() -> None:
    env = small_env("ferroelectric-domains")
    agent = registry.make("rvae-bo", env, seed=0, target="angle", **LATTICE)
    rollout(agent, env, seed=1)
    assert agent.chosen_target == "angle"
    assert all(v.ndim == 2 and v.shape[1] == 2 for v in agent.target_latents() if len(v))
    with pytest.raises(ValueError, match="contrast_cells"):
        registry.make("rvae-bo", small_env(), contrast_cells=0.0)
    with pytest.raises(ValueError, match="target"):
        registry.make("rvae-bo", small_env(), target="rotation")


# ------------------------------------------------------- boundary search


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"boundary": "walls"}, "boundary"),
        ({"boundary": True}, "boundary"),
        ({"boundary_kappa": -1.0}, "boundary_kappa"),
        ({"polar_fold": 1}, "polar_fold"),
        ({"edge_px": -1.0}, "edge_px"),
        ({"edge_px": float("nan")}, "edge_px"),
        ({**LATTICE, "edge_px": 6.0}, "edge_px"),
    ],
)
def test_bad_boundary_options_raise(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        registry.make("rvae-bo", small_env(), **kwargs)


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_boundary_search_episode_is_deterministic(boundary: str) -> None:
    """The wall search runs, is reproducible given the seed, and follows its own GP after the initial cells."""
    kwargs = {**LATTICE, "target": "angle", "boundary": boundary, "edge_px": 2.0, "n_initial": 2}
    env_a, env_b = small_env("ferroelectric-domains"), small_env("ferroelectric-domains")
    a = registry.make("rvae-bo", env_a, seed=2, **kwargs)
    b = registry.make("rvae-bo", env_b, seed=2, **kwargs)
    actions = rollout(a, env_a, seed=3)
    assert actions == rollout(b, env_b, seed=3) == rollout(a, env_a, seed=3)
    assert len(set(map(tuple, actions))) == len(actions)
    values = a.field_values()
    assert values.shape == (len(actions) - 1, 2)  # the last patch is never shown to the agent
    have = np.isfinite(values).all(axis=1)
    assert have.sum() >= 2 and (np.hypot(values[have, 0], values[have, 1]) <= 1 + 1e-9).all()
    assert a.config()["boundary"] == boundary and a.config()["edge_px"] == 2.0


@pytest.mark.slow
def test_default_rvae_bo_beats_linear_bo_random_and_raster_on_ferroelectric_domains() -> None:
    """Issues 7 and 20's claim, on reporting seeds 0-9 at the env defaults (benchmarks/rvae_bo_gain.py measured 0-19).

    The default agent configures the wall search itself.  Measured on seeds
    0-19 (10 % budget, 2026-12-08): mean gain 2.47, IQM 2.50 [1.99, 2.91], against
    linear-bo 1.24, random 0.74 and raster 0.54; here the IQM over seeds 0-9
    must lead every baseline.
    """
    from stemscan.benchmarks.aggregate import iqm
    from stemscan.benchmarks.episode import run_episode

    seeds = range(10)

    def gains(name: str, kwargs: dict | None = None) -> np.ndarray:
        return np.array([run_episode(name, "ferroelectric-domains", s, agent_kwargs=kwargs)["gain"] for s in seeds])

    ours = gains("rvae-bo")  # default keywords: the agent configures the wall search itself
    for baseline in ("linear-bo", "random", "raster"):
        other = gains(baseline)
        assert iqm(ours) > iqm(other), f"rvae-bo {iqm(ours):.2f} <= {baseline} {iqm(other):.2f}"
    assert iqm(ours) > 1.0  # better than uniform scanning


@pytest.mark.parametrize("pixel_size", [0.13, 0.19])
def test_self_configuration_measures_the_cell_at_another_sampling(pixel_size: float) -> None:
    """A perovskite imaged at another sampling than the shipped lattice model's: the cell is measured, windows resampled.

    (At 0.13 Å/px a 30-px cell nearly fills a 32-px sub-scan: recognised in 12 of 12 development episodes,
    seeds 100-111; at 0.12 Å/px, a cell larger than the sub-scan, too few dim columns have a bright corner
    beside them and the agent falls back to peak centring in 3 of 12.)
    """
    env = gym.make("STEMScan-v0", scene="ferroelectric-domains", dose_budget=0.05,
                   scene_kwargs={"pixel_size": pixel_size})
    agent = registry.make("rvae-bo", env, seed=0)
    play_episode(env, agent, 101, 0)
    cell = 3.95 / pixel_size
    assert agent.resolved["centring"] == "lattice"
    assert agent.resolved["lattice_px"] == pytest.approx(cell, rel=0.05)
    assert agent.resolved["window_scale"] == pytest.approx(cell / 26.333, rel=0.05)


def _square_lattice_with_dim_edge_columns(cell: float, size: int = 512) -> np.ndarray:
    """Scattered fraction of bright columns on a square lattice with dim ones at its edge midpoints (no perovskite)."""
    image = np.full((size, size), 0.002)
    sigma, reach = cell / 10.0, 10
    yy, xx = np.mgrid[0 : 2 * reach + 1, 0 : 2 * reach + 1].astype(np.float64)
    for i in np.arange(-1, size / cell + 2):
        for j in np.arange(-1, size / cell + 2):
            for di, dj, amplitude in ((0.0, 0.0, 0.03), (0.5, 0.0, 0.006), (0.0, 0.5, 0.006)):
                r, c = (i + di) * cell + 3.3, (j + dj) * cell + 7.1
                top, left = int(r) - reach, int(c) - reach
                if top + 2 * reach < 0 or left + 2 * reach < 0 or top >= size or left >= size:
                    continue
                blob = amplitude * np.exp(-((yy + top - r) ** 2 + (xx + left - c) ** 2) / (2 * sigma * sigma))
                r0, c0 = max(top, 0), max(left, 0)
                r1, c1 = min(top + 2 * reach + 1, size), min(left + 2 * reach + 1, size)
                image[r0:r1, c0:c1] += blob[r0 - top : r1 - top, c0 - left : c1 - left]
    return image.astype(np.float32)


def test_self_configuration_is_not_fooled_by_dim_columns_at_edge_midpoints() -> None:
    """Their bonds to the corners are 4-fold, as a perovskite's B sites' are; the bright spacing is 1.41× the cell
    those bonds imply.  Before the spacing had to confirm the cell, this was taken for a perovskite from the first
    sub-scan (an external probe: 8 of 8 episodes at cells of 16-28 px)."""
    scene = stemscan.scenes.Scene(image=_square_lattice_with_dim_edge_columns(22.0), labels=np.zeros((512, 512), np.int32),
                                  features=[], pixel_size=0.15, family="file", scored=False)  # fmt: skip
    env = gym.make("STEMScan-v0", scene=scene, dose_budget=0.05, electrons_per_pixel=2250.0)
    agent = registry.make("rvae-bo", env, seed=0)
    play_episode(env, agent, 100, 0)
    assert agent.resolved["centring"] == "peak" and agent.resolved["perovskite"] is None
