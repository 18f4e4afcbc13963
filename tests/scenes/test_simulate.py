"""``stemscan scenes simulate``: the multislice scene source (abTEM; slow, skipped without it)."""

from __future__ import annotations

import builtins

import numpy as np
import pytest

import stemscan.scenes as scenes
from stemscan.cli import main


def test_missing_abtem_names_the_extra(monkeypatch):
    real_import = builtins.__import__

    def no_abtem(name, *args, **kwargs):
        if name.split(".")[0] in ("abtem", "ase"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_abtem)
    from stemscan.scenes.simulate import simulate_scene

    with pytest.raises(ImportError, match=r'pip install "stemscan\[physics\]"'):
        simulate_scene(size=32)


@pytest.mark.parametrize("kwargs, match", [({"material": "bn"}, "material"), ({"size": 16}, "size"),
                                           ({"pixel_size": 1.0}, "pixel_size"), ({"vacancy_fraction": 0.5},
                                                                                  "vacancy_fraction")])
def test_bad_parameters_are_named_before_simulating(kwargs, match):
    from stemscan.scenes.simulate import simulate_scene

    with pytest.raises(ValueError, match=match):
        simulate_scene(**kwargs)


def test_cli_help_lists_simulate(capsys):
    assert main(["scenes", "simulate", "--help"]) == 0  # main returns argparse's exit status
    out = capsys.readouterr().out
    assert "--material" in out and "--interpolation" in out


@pytest.mark.slow
def test_simulated_scene_round_trips_with_exact_labels(tmp_path, capsys):
    pytest.importorskip("abtem")
    path = tmp_path / "graphene.h5"
    assert main(["scenes", "simulate", "-o", str(path), "--size", "64", "--seed", "3", "--vacancy-fraction", "0.02",
                 "--dopant-fraction", "0.02", "--no-progress"]) == 0
    assert "wrote" in capsys.readouterr().out
    scene = scenes.load(path)
    assert scene.family == "lattice-defects" and scene.params["file_params"]["source"] == "multislice"
    assert scene.image.shape == (64, 64) and scene.image.dtype == np.float32
    kinds = scene.feature_kinds()
    assert kinds.count("vacancy") >= 1 and kinds.count("dopant") >= 1
    # physical units: pristine graphene scatters ~2.5e-4 of the beam at 60 kV into 80-200 mrad
    assert 1.5e-4 < float(scene.image.mean()) < 4e-4
    for feature in scene.features:
        r, c = np.rint(feature.centroid).astype(int)
        peak = float(scene.image[max(r - 1, 0): r + 2, max(c - 1, 0): c + 2].max())
        if feature.kind == "dopant":  # Si scatters ~4x a C atom
            assert peak > 2.0 * np.percentile(scene.image, 95)
        else:  # no atom at a vacancy
            assert peak < np.percentile(scene.image, 90)
    # and the env takes it as a scene with the graphene dose
    from stemscan.envs.stem_scan_env import STEMScanEnv

    env = STEMScanEnv(scene=scene, patch_size=16)
    assert env.microscope.electrons_per_pixel == pytest.approx(2e4)
    env.reset(seed=0)
