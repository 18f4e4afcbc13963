"""The ``rvae-bo`` agent: episodes, determinism, human target selection, config, errors; slow: domains and gain."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
import torch

import stemscan  # noqa: F401  (registers STEMScan-v0)
from stemscan.agents import registry
from stemscan.agents.rvae_bo import DESCRIPTORS, RVAEBOAgent, patch_descriptor

torch.set_num_threads(1)


def small_env(scene: str = "lattice-defects", action_mode: str = "continuous", patch_size: int = 32) -> gym.Env:
    """128×128 field, 16 cells of 32 px, budget for a handful of patches."""
    return gym.make("STEMScan-v0", scene=scene, image_size=128, patch_size=patch_size, dose_budget=0.5,
                    action_mode=action_mode)


def rollout(agent: RVAEBOAgent, env: gym.Env, seed: int) -> list:
    obs, _ = env.reset(seed=seed)
    agent.reset(seed)
    actions, done = [], False
    while not done:
        action, _ = agent.predict(obs)
        actions.append(np.asarray(action).tolist())
        obs, _, terminated, truncated, _ = env.step(action)
        done = terminated or truncated
    return actions


def test_episode_runs_and_descriptors_are_finite() -> None:
    env = small_env()
    agent = registry.make("rvae-bo", env, seed=0)
    actions = rollout(agent, env, seed=1)
    assert len(actions) >= 5
    assert len(set(map(tuple, actions))) == len(actions)  # no cell scanned twice
    assert np.isfinite(agent._values).all() and len(agent._values) == len(actions) - 1
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
    assert len(values) == len(agent._values)


def test_example_position_is_scanned_first_and_becomes_the_reference() -> None:
    env = small_env()
    agent = registry.make("rvae-bo", env, seed=0, example=[0.9, 0.1])
    actions = rollout(agent, env, seed=2)
    cell = agent.field.cell_of_position(np.array([0.9, 0.1]))
    assert agent.field.cell_of_position(np.array(actions[0])) == cell
    assert agent.descriptor_kind == "similarity"
    assert agent._example_windows is not None
    # the example patch is the most similar to itself
    assert int(np.argmax(agent._values)) == 0


def test_example_patch_steers_the_search() -> None:
    """A patch of empty support as the example ranks atom-poor patches above crystalline ones."""
    env = small_env()
    obs, _ = env.reset(seed=0)
    y, x = np.mgrid[:32, :32]
    example = (0.05 + 0.6 * np.exp(-((y - 16) ** 2 + (x - 16) ** 2) / 6.0)).astype(np.float32)  # one isolated column
    agent = registry.make("rvae-bo", env, seed=0, example=example)
    rollout(agent, env, seed=0)
    assert agent._example_windows is not None and len(agent._example_windows) == 1
    assert all(v <= 0 for v in agent._values)  # similarity = -distance


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
        ({"weights": "/nonexistent/rvae.safetensors"}, FileNotFoundError, "weights not found"),
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


def test_patch_descriptor_kinds() -> None:
    values = np.array([0.0, 1.0, 5.0])
    assert patch_descriptor("outlier", values, 1.0) == 4.0
    assert patch_descriptor("deviation", values, 1.0) == 1.0
    assert patch_descriptor("spread", values, 0.0) == pytest.approx(values.std())
    assert patch_descriptor("mean", values, 0.0) == 2.0
    assert patch_descriptor("similarity", values, 1.0) == -1.0
    assert all(patch_descriptor(kind, np.zeros(0), 0.0) is None for kind in DESCRIPTORS)
    with pytest.raises(ValueError, match="unknown descriptor"):
        patch_descriptor("fancy", values, 0.0)


# -------------------------------------------------------------------- slow
@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="known limitation of the shipped, peak-centred model: a 16 px window centred on a B column is centred "
    "on the *displaced* column (the polarisation is removed by the centring), one on an A column holds no B "
    "column (the perovskite cell is 26 px), and the translation latent absorbs what is left. Lattice-centred "
    "windows with the translation latent off do separate domains: "
    "test_lattice_centred_latent_differs_across_ferroelectric_domains.",
)
@pytest.mark.parametrize("displacement", [15.0, 60.0])
def test_chosen_latent_differs_across_ferroelectric_domains(displacement: float) -> None:
    """On ``ferroelectric-domains`` windows of B-site columns in different domains encode differently.

    Ground truth (atom positions, evaluation only) gives each B column's
    polarisation quadrant; the automatically chosen latent's mean must differ
    between the two largest domains by several standard errors.
    """
    from stemscan.agents.rvae import pretrained

    latents, domains, target = domain_latents(pretrained(), 2, displacement=displacement, noise_seed=0)
    first, second = np.argsort(-np.bincount(domains, minlength=4))[:2]
    a, b = latents[domains == first, target], latents[domains == second, target]
    t = abs(a.mean() - b.mean()) / np.sqrt(a.var() / len(a) + b.var() / len(b))
    assert t > 3.0, f"target latent z{target - 3}: means {a.mean():.3f} vs {b.mean():.3f} (t = {t:.2f})"


def domain_latents(
    model, scene_seed: int, displacement: float | None = None, noise_seed: int | None = None, **window_kwargs
) -> tuple[np.ndarray, np.ndarray, int]:
    """Latents of B-site windows of a measured ``ferroelectric-domains`` scene, their domain, the chosen z.

    Ground truth (atom positions, evaluation only) gives each B column's
    polarisation quadrant; the target is chosen as the agent does (largest
    variance of per-patch means of z).  ``displacement`` (pm) overrides the
    scene's default; the shot noise is seeded by ``noise_seed`` (default: the
    scene seed).
    """
    from scipy.spatial import cKDTree

    from stemscan.agents.rvae import encode, patch_windows
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
    b_tree = cKDTree(b_sites)
    latents, domains, patch_means = [], [], []
    for r in range(0, 512, 32):
        for c in range(0, 512, 32):
            windows, centres = patch_windows(measured[r : r + 32, c : c + 32], model.config.window, **window_kwargs)
            if not len(windows):
                continue
            z = encode(model, windows)
            patch_means.append(z[:, 3:].mean(axis=0))
            distance, index = b_tree.query(centres + [r, c])
            on_b = distance < 4
            latents.extend(z[on_b])
            domains.extend(quadrant[index[on_b]])
    target = 3 + int(np.argmax(np.var(patch_means, axis=0)))
    return np.array(latents), np.array(domains), target


@pytest.mark.slow
def test_lattice_centred_latent_differs_across_ferroelectric_domains() -> None:
    """Windows on the ideal B sites of the A lattice, translation latent off: a z latent separates domains.

    The model is trained here as ``stemscan train rvae --scenes ferroelectric-domains --n-scenes 4
    --patches 400 --window 12 --centring lattice --lattice-px 26.33 --no-translation --epochs 15``
    (training scenes from seed 0; evaluated on held-out scene seeds 1000, 1001).  The *automatically*
    chosen latent (largest variance of patch means) is not always this one: measured, it picked the
    weaker z on both held-out scenes, so this test asserts the best z, the same one on both scenes
    (measured: AUC 0.92 and 0.70, Welch t 2.9 on scene 1001, hence t > 2.5).
    """
    from sklearn.metrics import roc_auc_score

    from stemscan.agents.nets.rvae import RVAEConfig
    from stemscan.agents.rvae import train_rvae, windows_from_scenes

    lattice = {"centring": "lattice", "lattice_px": 3.95 / 0.15}
    windows = windows_from_scenes(["ferroelectric-domains"], n_scenes=4, patches_per_scene=400, window=12, seed=0,
                                  **lattice)
    model = train_rvae(windows, config=RVAEConfig(window=12, translation=False), epochs=15, batch_size=64, seed=0).model
    best = []
    for scene_seed in (1000, 1001):
        latents, domains, _ = domain_latents(model, scene_seed, **lattice)
        first, second = np.argsort(-np.bincount(domains, minlength=4))[:2]
        pair = np.isin(domains, [first, second])
        scores = {}
        for k in range(3, latents.shape[1]):
            a, b = latents[domains == first, k], latents[domains == second, k]
            t = abs(a.mean() - b.mean()) / np.sqrt(a.var() / len(a) + b.var() / len(b))
            auc = roc_auc_score(domains[pair] == first, latents[pair, k])
            scores[k - 3] = (t, max(auc, 1 - auc))
        k_best = max(scores, key=lambda k: scores[k][1])
        best.append(k_best)
        t, auc = scores[k_best]
        assert t > 2.5 and auc > 0.65, f"scene {scene_seed}: per-latent (t, AUC) {scores}"
    assert best[0] == best[1], f"different latents separate domains on the two scenes: {best}"
