"""A user's labelled image from a file is benchmarked in a suite, as `file:PATH` with load's keywords."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import stemscan.scenes
from stemscan.benchmarks import expand_grid, load_results, load_suite
from stemscan.cli import main


@pytest.fixture
def image_files(tmp_path, monkeypatch):
    """A 128-px phase-separated scene written as an image .npy (scattered fraction) and a label .npy."""
    scene = stemscan.scenes.make("phase-separated", seed=3, size=128)
    np.save(tmp_path / "image.npy", scene.image)
    np.save(tmp_path / "labels.npy", scene.labels)
    monkeypatch.chdir(tmp_path)  # file: paths are relative to the working directory
    return scene


def test_env_loads_a_file_scene_and_keeps_a_json_spec(image_files):
    env = gym.make("STEMScan-v0", scene="file:image.npy", patch_size=32, overview_size=64,
                   scene_kwargs={"labels": "labels.npy", "pixel_size": 0.5, "signal_scale": "fraction"})
    _, info = env.reset(seed=0)
    assert info["features_total"] == len(image_files.features) > 0
    np.testing.assert_array_equal(env.unwrapped.scene.image, image_files.image)  # units kept
    assert '"scene": "file:image.npy"' in env.spec.to_json()
    with pytest.raises(ValueError, match="load's keywords"):
        gym.make("STEMScan-v0", scene="file:image.npy", scene_kwargs={"colour": 1})


def test_suite_with_a_file_scene_runs_and_ranks(image_files, tmp_path, capsys):
    suite = tmp_path / "mine.toml"
    suite.write_text(
        'agents = ["random", "oracle"]\nscenes = ["file:image.npy", "phase-separated"]\nseeds = 2\nbudgets = [0.3]\n'
        '[env]\nimage_size = 128\npatch_size = 32\noverview_size = 64\n'
        '[scene_kwargs."file:image.npy"]\nlabels = "labels.npy"\npixel_size = 0.5\nsignal_scale = "fraction"\n'
    )
    assert len(load_suite(suite).episodes()) == 8
    out = tmp_path / "r.sqlite"
    assert main(["bench", "--suite", str(suite), "--workers", "1", "--no-progress", "--out", str(out)]) == 0
    rows = load_results(out, as_frame=False)
    files = [r for r in rows if r["scene"] == "file:image.npy"]
    assert len(files) == 4 and all(r["features_total"] == len(image_files.features) for r in files)
    assert main(["leaderboard", str(out)]) == 0
    assert "## file:image.npy" in capsys.readouterr().out


def test_missing_files_and_stray_scene_kwargs_are_named(image_files):
    with pytest.raises(ValueError, match="scene 'file:nothing.npy': no such file"):
        expand_grid(["random"], ["file:nothing.npy"], 1)
    with pytest.raises(ValueError, match="scene_kwargs given for scene 'file:other.npy'"):
        expand_grid(["random"], ["file:image.npy"], 1, scene_kwargs={"file:other.npy": {"pixel_size": 1.0}})
