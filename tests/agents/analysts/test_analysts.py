"""Analysts: observations only, reports as Detections, peaks on hand-made images, self, checkpoints."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import stemscan
from stemscan.agents import make as make_agent
from stemscan.agents.analysts import Detections, make
from stemscan.benchmarks.episode import play_episode

SMALL = {"image_size": 64, "patch_size": 16, "dose_budget": 0.6}


def _env(scene: str = "lattice-defects", **kwargs):
    stemscan.register_envs()
    return gym.make("STEMScan-v0", scene=scene, **{**SMALL, **kwargs})


def _feed(analyst, image: np.ndarray, patch: int = 16) -> None:
    """Show ``analyst`` every patch of ``image`` as STEMScan observations (raster order)."""
    h, w = image.shape
    analyst.observe({"patch": np.zeros((patch, patch), np.float32), "position": np.array([0.5, 0.5], np.float32)},
                    episode_start=True)
    for r0 in range(0, h, patch):
        for c0 in range(0, w, patch):
            centre = np.array([(r0 + patch / 2) / h, (c0 + patch / 2) / w], dtype=np.float32)
            analyst.observe({"patch": image[r0 : r0 + patch, c0 : c0 + patch].astype(np.float32), "position": centre})


def _lattice(missing: tuple[int, int] | None, bright: tuple[int, int] | None, spacing: int = 6) -> tuple[np.ndarray, dict]:
    """A 64×64 square lattice of Gaussian columns with one column removed and one three times as bright."""
    y, x = np.mgrid[:64, :64].astype(np.float64)
    image = np.full((64, 64), 0.05)
    sites = {}
    for i, r in enumerate(range(2, 64, spacing)):
        for j, c in enumerate(range(2, 64, spacing)):
            sites[(i, j)] = (r, c)
            if (i, j) == missing:
                continue
            height = 0.9 if (i, j) == bright else 0.3
            image += height * np.exp(-((y - r) ** 2 + (x - c) ** 2) / (2 * 1.2**2))
    return np.clip(image, 0, 1), sites


def test_peaks_finds_a_missing_and_a_bright_column():
    env = _env("lattice-defects")
    analyst = make("peaks", env)
    image, sites = _lattice(missing=(5, 4), bright=(3, 7))
    _feed(analyst, image)
    report = analyst.report()
    vacancies = report.of_kind("vacancy").positions
    dopants = report.of_kind("dopant").positions
    assert len(vacancies) == 1 and np.hypot(*(vacancies[0] - sites[(5, 4)])) < 1.0
    assert len(dopants) == 1 and np.hypot(*(dopants[0] - sites[(3, 7)])) < 1.0
    assert ((report.confidence >= 0) & (report.confidence <= 1)).all()


def test_peaks_reports_no_defect_on_a_perfect_lattice_and_a_boundary_on_a_step():
    env = _env("phase-separated")
    analyst = make("peaks", env)
    image, _ = _lattice(None, None, spacing=8)
    _feed(analyst, image)
    kinds = set(analyst.report().kinds)
    assert not kinds & {"missing-column", "bright-column"}  # (near the field's edge, a lattice may read as a boundary)
    step = np.full((64, 64), 0.2)
    step[:, 32:] = 0.8
    step += np.random.default_rng(0).normal(0, 0.01, step.shape)
    analyst.reset()
    _feed(analyst, step)
    boundaries = analyst.report().of_kind("interface")  # phase-separated calls a contrast boundary an interface
    assert len(boundaries) >= 1 and np.all(np.abs(boundaries.positions[:, 1] - 31.5) <= 2.0)


def test_report_before_any_patch_is_empty_and_bad_observations_are_refused():
    analyst = make("peaks", _env())
    assert len(analyst.report()) == 0
    with pytest.raises(ValueError, match="patch"):
        analyst.observe({"patch": np.full((16, 16), np.nan, np.float32), "position": np.array([0.5, 0.5])})
    with pytest.raises(ValueError, match="unknown analyst 'nope'"):
        make("nope", _env())


def _episode_reports(analyst_name: str, swap: bool) -> list[Detections]:
    env = _env()
    navigator = make_agent("raster", env, seed=0)
    analyst = make(analyst_name, env)
    obs, _ = env.reset(seed=3)
    if swap:  # the hidden truth replaced after reset: observations are unchanged, so reports must be too
        env.unwrapped.scene = stemscan.scenes.make("lattice-defects", seed=99, size=64)
    analyst.observe(obs, episode_start=True)
    reports, done = [], False
    while not done:
        action, _ = navigator.predict(obs)
        obs, _, terminated, truncated, _ = env.step(action)
        analyst.observe(obs)
        reports.append(analyst.report())
        done = terminated or truncated
    return reports


@pytest.mark.parametrize("name", ["peaks", "dcnn"])
def test_analysts_never_read_the_hidden_scene(name):
    assert _episode_reports(name, swap=False) == _episode_reports(name, swap=True)


def test_dcnn_analyst_and_dcnn_bo_self_report_detections():
    env = _env()
    navigator = make_agent("dcnn-bo", env, seed=0, device="cpu")
    analysts = {"dcnn": make("dcnn", env, device="cpu"), "self": make("self", env, navigator=navigator)}
    played = play_episode(env, navigator, seed=1, analysts=analysts)
    for name in analysts:
        final = played.reports[name][-1][1]
        assert isinstance(final, Detections)
        assert set(final.kinds) <= {"dopant", "vacancy", "grain-boundary"}
        assert ((final.confidence >= 0) & (final.confidence <= 1)).all()
    with pytest.raises(ValueError, match="no report"):
        make("self", env, navigator=make_agent("raster", env))


class _Counter:
    """A minimal analyst: counts observations, reports nothing."""

    def __init__(self) -> None:
        self.seen = 0

    def observe(self, observation, episode_start=False):
        self.seen = 0 if episode_start else self.seen + 1

    def report(self) -> Detections:
        return Detections.empty()


def test_play_episode_reports_at_each_dose_checkpoint_and_at_the_end():
    env = _env(dose_budget=1.0)
    counter = _Counter()
    played = play_episode(env, make_agent("raster", env, seed=0), seed=0, analysts={"count": counter}, checkpoints=(0.25, 0.5, 1.0))
    fractions = [f for f, _ in played.reports["count"]]
    assert fractions == sorted(fractions) and len(fractions) <= 3
    assert fractions[0] >= 0.25 and fractions[-1] == pytest.approx(played.info["budget_fraction"])
    assert any(f >= 0.5 for f in fractions[:-1]) or len(fractions) == 2
    assert counter.seen == len(played.actions)
    with pytest.raises(ValueError, match="checkpoints"):
        play_episode(env, make_agent("raster", env, seed=0), seed=0, analysts={"c": _Counter()}, checkpoints=(0.5, 0.2))


def test_dcnn_analyst_calibrated_sees_no_vacancy_on_pristine_mos2_and_says_what_it_cannot_see():
    from stemscan.agents.train.dcnn_data import measure
    from stemscan.scenes import make as make_scene

    env = _env("lattice-defects")
    scene = make_scene("lattice-defects", seed=3, size=64, material="mos2", vacancy_fraction=0.0,
                       dopant_fraction=0.0, grain_boundary=False)
    raw, calibrated = make("dcnn", env, device="cpu", calibrated=False), make("dcnn", env, device="cpu")
    for analyst in (raw, calibrated):
        _feed(analyst, scene.image)
    assert len(raw.report()) > 0  # the uncalibrated network fires on the pristine lattice
    assert not {"vacancy", "grain-boundary"} & set(calibrated.report().kinds)
    assert calibrated.visible["vacancy"] is True
    _feed(calibrated, measure(scene, 20.0, np.random.default_rng(0)))  # ~0.04 detected electrons per pixel
    report = calibrated.report()
    assert calibrated.visible["vacancy"] is False and "vacancy" not in set(report.kinds)
    with pytest.raises(TypeError, match="calibrated"):
        make("dcnn", env, device="cpu", calibrated="yes")
