"""The navigators' own reports (analyst ``self``) of linear-bo and rvae-bo: hand-made cases and unchanged decisions."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import stemscan
from stemscan.agents import make as make_agent
from stemscan.agents.analysts import Detections, make
from stemscan.agents.analysts.outliers import OUTLIER_Z, excess_over_median, family_kinds, suppress
from stemscan.agents.features.latent_report import column_heights, domain_walls, unusual_windows
from stemscan.agents.features.latents import ANGLE
from stemscan.benchmarks.episode import play_episode

ENV = {"image_size": 128, "patch_size": 32, "overview_size": 64}
LATTICE_KINDS = family_kinds("lattice-defects")


def _env(scene: str, **kwargs):
    stemscan.register_envs()
    return gym.make("STEMScan-v0", scene=scene, **{**ENV, **kwargs})


# ------------------------------------------------------------------ shared statistics
def test_modified_z_score_rule_and_suppression():
    values = np.array([1.0, 1.1, 0.9, 1.0, 1.05, 0.95, 5.0])
    # median 1.0, MAD 0.05 -> sigma 0.0741; 5.0 is 54 sigmas above, the rest at most 1.35
    excess = excess_over_median(values)
    assert np.flatnonzero(excess > 0).tolist() == [6]
    assert excess[6] == pytest.approx(4.0 / (1.4826 * 0.05) - OUTLIER_Z)
    assert (excess_over_median(-values) <= 0).all()  # one-sided: low values are not flagged
    assert (excess_over_median(np.ones(5)) == -np.inf).all()  # no spread, no scale: nothing is an outlier
    kept = suppress(np.array([[0.0, 0.0], [0.0, 3.0], [0.0, 10.0]]), np.array([1.0, 2.0, 0.5]), spacing=5.0)
    assert kept.tolist() == [1, 2]
    assert family_kinds("phase-separated")["boundary"] == "interface"
    assert family_kinds("file")["missing"] == "missing-column"


# ------------------------------------------------------------------ rvae-bo: unusual windows
def _square_lattice(spacing: float = 6.0, n: int = 8) -> np.ndarray:
    return np.array([[r * spacing + 10, c * spacing + 10] for r in range(n) for c in range(n)], dtype=np.float64)


def test_unusual_windows_name_a_vacancy_a_dopant_and_a_boundary():
    rng = np.random.default_rng(0)
    sites = _square_lattice()  # 8 x 8 columns, 6 px apart
    vacancy = np.array([28.0, 28.0])  # lattice site (3, 3), removed
    dopant = 5 * 8 + 6  # column (5, 6)
    keep = np.hypot(*(sites - vacancy).T) > 0.1
    centres = sites[keep]
    latents = np.zeros((len(centres), 5))  # (angle, dy, dx, z1, z2)
    latents[:, 3] = rng.normal(0.0, 0.1, len(centres))
    heights = 1.0 + rng.normal(0.0, 0.02, len(centres))
    around = np.flatnonzero(np.abs(np.hypot(*(centres - vacancy).T) - 6.0) < 0.1)  # its 4 neighbours
    latents[around, 3] += 3.0
    d = int(np.flatnonzero(np.hypot(*(centres - sites[dopant]).T) < 0.1)[0])
    latents[d, 3] += 3.0
    heights[d] = 3.0
    lone = int(np.flatnonzero(np.hypot(*(centres - sites[7]).T) < 0.1)[0])  # column (0, 7): unusual, nothing else
    latents[lone, 3] += 3.0
    found = unusual_windows([latents[:30], latents[30:]], [centres[:30], centres[30:]], [heights[:30], heights[30:]],
                            0, LATTICE_KINDS, (128, 128))
    assert sorted(found.kinds) == ["dopant", "grain-boundary", "vacancy"]
    assert np.allclose(found.of_kind("vacancy").positions[0], vacancy, atol=0.5)  # the centre of its 4 neighbours
    assert np.allclose(found.of_kind("dopant").positions[0], sites[dopant])
    assert np.allclose(found.of_kind("grain-boundary").positions[0], sites[7])
    assert ((found.confidence > 0.5) & (found.confidence <= 1)).all()
    # the z target used: another latent shows nothing, and too few windows give no statistics
    assert len(unusual_windows([latents], [centres], [heights], 1, LATTICE_KINDS, (128, 128))) == 0
    assert len(unusual_windows([latents[:10]], [centres[:10]], [heights[:10]], 0, LATTICE_KINDS, (128, 128))) == 0


def test_column_heights_read_the_smoothed_patch():
    patch = np.zeros((16, 16))
    patch[4, 5] = 1.0
    heights = column_heights(patch, np.array([[4.0, 5.0], [12.0, 12.0]]), sigma=0.0)
    assert heights.tolist() == [1.0, 0.0]


# ------------------------------------------------------------------ rvae-bo: walls
def _patch_grid(n: int = 4, size: int = 32) -> np.ndarray:
    return np.array([[r * size + 15.5, c * size + 15.5] for r in range(n) for c in range(n)], dtype=np.float64)


def test_domain_walls_between_patches_of_different_polarisation():
    centres = _patch_grid()
    angle = np.where(centres[:, 1] < 64, 0.0, np.pi / 2)  # left half polarised along 0, right along 90 degrees
    values = np.stack([np.cos(angle), np.sin(angle)], axis=1) * 0.9
    values[5] = np.nan  # a patch without windows
    walls = domain_walls(values, centres, ANGLE, 4, 32, "domain-wall", (128, 128))
    assert len(walls) >= 2 and set(walls.kinds) == {"domain-wall"}
    assert np.allclose(walls.positions[:, 1], 63.5)  # midway between the columns of patches either side
    assert np.allclose(walls.confidence, 0.9)  # R = 0.9, on a polarisation direction
    same = np.tile([[0.9, 0.0]], (16, 1))
    assert len(domain_walls(same, centres, ANGLE, 4, 32, "domain-wall", (128, 128))) == 0
    assert len(domain_walls(None, centres, ANGLE, 4, 32, "domain-wall", (128, 128))) == 0


def test_domain_walls_of_a_z_level_need_an_outlying_step():
    centres = _patch_grid()
    noise = np.random.default_rng(1).normal(0.0, 0.05, (16, 1))
    step = np.where(centres[:, 1:] < 96, 0.0, 2.0) + noise  # a step between the 3rd and 4th columns of patches
    walls = domain_walls(step, centres, 0, 4, 32, "interface", (128, 128))
    assert len(walls) >= 1 and np.allclose(walls.positions[:, 1], 95.5)
    assert len(domain_walls(noise, centres, 0, 4, 32, "interface", (128, 128))) == 0


# ------------------------------------------------------------------ linear-bo
def _texture(rng: np.random.Generator, flat_from: int | None = None) -> np.ndarray:
    y, x = np.mgrid[:32, :32]
    image = 0.5 + 0.3 * np.cos(2 * np.pi * x / 4.0) * np.cos(2 * np.pi * y / 4.0)
    if flat_from is not None:
        image[:, flat_from:] = 0.5
    return image + rng.normal(0.0, 0.01, image.shape)


def test_linear_bo_reports_the_patch_whose_texture_changes_where_it_changes():
    env = _env("phase-separated")
    agent = make_agent("linear-bo", env, seed=0)
    agent.reset(seed=0)
    rng = np.random.default_rng(0)
    assert len(agent.report()) == 0
    cells = [(r, c) for r in range(4) for c in range(4)]
    for k, (r, c) in enumerate(cells):
        patch = _texture(rng, flat_from=16 if (r, c) == (2, 1) else None)
        agent.descriptor({"patch": patch.astype(np.float32), "position": np.array([(r + 0.5) / 4, (c + 0.5) / 4])})
        if k < 4:
            assert len(agent.report()) == 0  # fewer than MIN_REPORT_PATCHES
    report = agent.report()
    assert report.kinds.tolist() == ["interface"]
    row, col = report.positions[0]
    assert 64 <= row < 96 and abs(col - (32 + 16)) <= 4.5  # in patch (2, 1), at the texture's edge
    assert 0.5 < report.confidence[0] <= 1


# ------------------------------------------------------------------ decisions do not change
def _actions(name: str, scene: str, report: bool, **kwargs) -> tuple[list, list[Detections]]:
    env = _env(scene, image_size=192, dose_budget=0.6)
    agent = make_agent(name, env, seed=0, **kwargs)
    analysts = {"self": make("self", env, navigator=agent)} if report else {}
    played = play_episode(env, agent, seed=2, analysts=analysts, checkpoints=tuple(np.linspace(0.05, 1.0, 20)))
    return [np.asarray(a).tolist() for a in played.actions], [d for _, d in played.reports.get("self", [])]


@pytest.mark.parametrize(
    ("name", "scene", "kwargs"),
    [
        ("linear-bo", "phase-separated", {"survey_prior": "gradient"}),  # an episode whose cells cross interfaces
        pytest.param("rvae-bo", "lattice-defects", {}, marks=pytest.mark.slow),  # peak windows: unusual windows
        pytest.param("rvae-bo", "ferroelectric-domains",  # wall mode (as it configures itself on this sample)
                     {"centring": "lattice", "lattice_px": 26.333, "descriptor": "contrast", "boundary": "change",
                      "edge_px": 2}, marks=pytest.mark.slow),
    ],
)
def test_reports_do_not_change_the_decisions(name, scene, kwargs):
    silent, _ = _actions(name, scene, False, **kwargs)
    watched, reports = _actions(name, scene, True, **kwargs)
    assert watched == silent
    assert any(len(d) for d in reports)  # reports were made, and found something
    vocabulary = set(family_kinds(scene).values())
    for detections in reports:
        assert isinstance(detections, Detections) and set(detections.kinds) <= vocabulary
        assert detections.shape == (192, 192)
