"""Rows on scenes loaded from files record the scene's digest; verify tells an edited input from a non-reproducing row."""

from __future__ import annotations

import os

import numpy as np
import pytest

from stemscan.benchmarks import run_grid
from stemscan.benchmarks.spec import expand_grid
from stemscan.benchmarks.store import load_results
from stemscan.benchmarks.verify import verify_rows
from stemscan.scenes import load


def _image(path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    np.save(path, rng.random((128, 128)).astype(np.float32))


def _labels(path) -> None:
    path.write_text("row,col,kind\n20,30,vacancy\n90,100,dopant\n")


@pytest.fixture()
def results(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _image(tmp_path / "img.npy")
    _labels(tmp_path / "points.csv")
    specs = expand_grid(["random"], ["file:img.npy"], [0], [0.3], env_kwargs={"scene_kwargs": {"labels": "points.csv"}})
    specs += expand_grid(["random"], ["phase-separated"], [0], [0.3], env_kwargs={"image_size": 128})
    run_grid(specs, tmp_path / "r.sqlite", workers=1, progress=False)
    return tmp_path, load_results(tmp_path / "r.sqlite", as_frame=False)


def test_file_scene_rows_carry_the_scene_digest(results):
    folder, rows = results
    by_scene = {r["scene"]: r for r in rows}
    expected = load(folder / "img.npy", labels=folder / "points.csv").digest()
    assert by_scene["file:img.npy"]["scene_digest"] == expected and len(expected) == 16
    assert by_scene["phase-separated"]["scene_digest"] is None  # a generated scene: seed and parameters identify it
    assert verify_rows(rows).n_differ == 0


def test_an_edited_image_is_reported_as_a_changed_input(results):
    folder, rows = results
    _image(folder / "img.npy", seed=1)
    checks = {c.label.split("/")[1]: c for c in verify_rows(rows).checks}
    assert checks["file:img.npy"].input_changed and not checks["phase-separated"].differences


def test_an_edited_label_file_changes_the_digest(results):
    folder, _ = results
    before = load(folder / "img.npy", labels=folder / "points.csv").digest()
    (folder / "points.csv").write_text("row,col,kind\n20,30,vacancy\n90,100,vacancy\n")
    assert load(folder / "img.npy", labels=folder / "points.csv").digest() != before


def test_verify_from_another_directory_names_the_missing_input(results, tmp_path_factory):
    _, rows = results
    os.chdir(tmp_path_factory.mktemp("elsewhere"))
    with pytest.raises(ValueError, match="run verify from the directory the results were made in"):
        verify_rows(rows)


def test_rows_made_before_digests_were_recorded_are_not_reported_as_changed(results):
    _, rows = results
    old = [{**row, "scene_digest": None} for row in rows]  # as read from a file written before the column existed
    result = verify_rows(old)
    assert result.n_differ == 0 and not any(check.input_changed for check in result.checks)
