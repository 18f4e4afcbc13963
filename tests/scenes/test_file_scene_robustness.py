"""File scenes: which HDF5 data set is read, plain-number messages, pixel-size bounds, contrast warnings."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import stemscan.scenes as scenes
from stemscan.scenes import loaders
from stemscan.scenes.image_files import AnisotropicPixelWarning
from stemscan.scenes.loaders import ContrastWarning


@pytest.fixture
def raw():
    return np.random.default_rng(0).random((48, 64)) * 3.0


def _write_hspy(path, data, scales=(0.02, 0.02), units="nm", names=("haadf",)):
    import h5py

    with h5py.File(path, "w") as handle:
        for name in names:
            group = handle.create_group(f"Experiments/{name}")
            group.create_dataset("data", data=data)
            for k, scale in enumerate(scales):
                axis = group.create_group(f"axis-{k}")
                axis.attrs["scale"] = scale
                axis.attrs["units"] = units


# 1. Which HDF5 data set -------------------------------------------------------------------------------------------


def _two_images(path):
    import h5py

    rng = np.random.default_rng(1)
    with h5py.File(path, "w") as handle:
        handle["a"] = rng.random((3, 3))
        handle["b"] = rng.random((256, 256))
        handle["meta/vector"] = np.arange(4)
    return path


def test_hdf5_with_several_2d_data_sets_is_refused_listing_them(tmp_path):
    path = _two_images(tmp_path / "two.h5")
    with pytest.raises(ValueError, match="two.h5") as caught:
        scenes.load(path)
    message = str(caught.value)
    assert "/a" in message and "(3, 3)" in message and "/b" in message and "(256, 256)" in message
    assert "dataset=" in message and "vector" not in message


def test_dataset_keyword_picks_the_data_set(tmp_path):
    import h5py

    path = _two_images(tmp_path / "two.h5")
    scene = scenes.load(path, dataset="b")
    with h5py.File(path, "r") as handle:
        expected = loaders.apply_signal_scale(handle["b"][()], "auto")
    np.testing.assert_array_equal(scene.image, expected)
    assert scene.params["dataset"] == "/b"
    assert scenes.load(path, dataset="/a").shape == (3, 3)


def test_dataset_keyword_reaches_the_env_through_scene_kwargs(tmp_path):
    import gymnasium as gym

    import stemscan  # noqa: F401 - registers the env

    path = _two_images(tmp_path / "two.h5")
    env = gym.make("STEMScan-v0", scene=f"file:{path}", scene_kwargs={"dataset": "b"})
    assert env.unwrapped.shape == (256, 256)


def test_single_squeezable_data_set_is_used_and_named(tmp_path, raw):
    import h5py

    path = tmp_path / "stack.h5"
    with h5py.File(path, "w") as handle:
        handle["meta/vector"] = np.arange(4)
        handle["meta/cube"] = np.zeros((2, 4, 4))
        handle["scan/haadf"] = raw[None]
    scene = scenes.load(path)
    assert scene.shape == raw.shape and scene.params["dataset"] == "/scan/haadf"


@pytest.mark.parametrize("dataset, match", [
    ("nope", r"no data set '/?nope'.*'/b'"),
    ("meta", "is a group"),
    ("meta/vector", r"shape \(4,\).*not a 2-D numeric image"),
    ("", "dataset must be"),
    (3, "dataset must be"),
])
def test_bad_dataset_keyword_is_named(tmp_path, dataset, match):
    path = _two_images(tmp_path / "two.h5")
    with pytest.raises(ValueError, match=match):
        scenes.load(path, dataset=dataset)


def test_dataset_keyword_on_a_non_hdf5_file_is_refused(tmp_path, raw):
    np.save(tmp_path / "image.npy", raw)
    with pytest.raises(ValueError, match=r"image\.npy.*dataset= .*HDF5"):
        scenes.load(tmp_path / "image.npy", dataset="b")


def test_dataset_keyword_on_a_scene_file_is_refused(tmp_path):
    from stemscan.scenes.scene_file import save_scene

    path = save_scene(scenes.make("lattice-defects", seed=0, size=64), tmp_path / "scene.h5")
    with pytest.raises(ValueError, match="stemscan scene file"):
        scenes.load(path, dataset="image")


def test_hyperspy_file_with_several_signals_is_refused(tmp_path, raw):
    path = tmp_path / "two.hspy"
    _write_hspy(path, raw, names=("haadf", "bf"))
    with pytest.raises(ValueError, match=r"Experiments/bf/data.*Experiments/haadf/data.*dataset="):
        scenes.load(path)
    scene = scenes.load(path, dataset="Experiments/bf/data")
    assert scene.pixel_size == pytest.approx(0.2) and scene.params["pixel_size_source"] == "file"


# 2. Messages ------------------------------------------------------------------------------------------------------


def test_coordinates_outside_the_image_are_printed_as_plain_numbers(tmp_path, raw):
    np.save(tmp_path / "image.npy", raw)
    (tmp_path / "features.csv").write_text("row,col\n500,20\n")
    with pytest.raises(ValueError, match=r"line 2: \(500, 20\)") as caught:
        scenes.load(tmp_path / "image.npy", labels=tmp_path / "features.csv")
    assert "np." not in str(caught.value)


def test_non_finite_coordinates_are_printed_as_plain_numbers():
    from stemscan.scenes.label_files import coordinate_labels

    with pytest.raises(ValueError, match=r"line 7: \(nan, 2.5\)") as caught:
        coordinate_labels([(np.float64("nan"), np.float64(2.5), "feature", 1.0, 7)], (10, 10), 2.0, "points")
    assert "np." not in str(caught.value)


# 3. Pixel size ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1e-6, 1e6, float("inf"), 0.0, -1.0])
def test_pixel_size_argument_outside_the_range_is_refused(tmp_path, raw, size):
    np.save(tmp_path / "image.npy", raw)
    with pytest.raises(ValueError, match=r"pixel_size .*Å per pixel"):
        scenes.load(tmp_path / "image.npy", pixel_size=size)


@pytest.mark.parametrize("size", [0.01, 0.2, 50.0, 1e4])
def test_pixel_sizes_of_real_images_are_accepted(tmp_path, raw, size):
    np.save(tmp_path / "image.npy", raw)
    assert scenes.load(tmp_path / "image.npy", pixel_size=size).pixel_size == size


def test_file_pixel_size_outside_the_range_is_refused_unless_overridden(tmp_path, raw):
    path = tmp_path / "metres.hspy"
    _write_hspy(path, raw, scales=(2e-11, 2e-11), units="nm")  # metres written as nm: 2e-10 Å
    with pytest.raises(ValueError, match=r"metres\.hspy.*pixel size.*pixel_size="):
        scenes.load(path)
    assert scenes.load(path, pixel_size=0.2).pixel_size == 0.2


def test_anisotropic_hyperspy_scales_warn_and_use_the_x_scale(tmp_path, raw):
    path = tmp_path / "aniso.hspy"
    _write_hspy(path, raw, scales=(0.01, 0.02))  # axis-0 (rows, y) 0.1 Å, axis-1 (columns, x) 0.2 Å
    with pytest.warns(AnisotropicPixelWarning, match=r"aniso\.hspy.*0\.2 Å.*0\.1 Å"):
        scene = scenes.load(path)
    assert scene.pixel_size == pytest.approx(0.2)


def test_scales_within_one_percent_do_not_warn(tmp_path, raw):
    path = tmp_path / "iso.hspy"
    _write_hspy(path, raw, scales=(0.02, 0.02 * 1.005))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert scenes.load(path).pixel_size == pytest.approx(0.201)


# 4. Contrast ------------------------------------------------------------------------------------------------------


def test_hot_pixel_warns_about_lost_contrast(tmp_path, raw):
    hot = raw.copy()
    hot[0, 0] = 1e6
    np.save(tmp_path / "hot.npy", hot)
    with pytest.warns(ContrastWarning, match=r"hot\.npy.*signal_scale='percentile'"):
        scene = scenes.load(tmp_path / "hot.npy")
    np.testing.assert_array_equal(scene.image, loaders._normalise(hot, tmp_path / "hot.npy"))  # scaling unchanged


def test_dead_pixel_warns_too(tmp_path, raw):
    cold = raw.copy()
    cold[5, 5] = -1e6
    np.save(tmp_path / "cold.npy", cold)
    with pytest.warns(ContrastWarning, match="cold.npy"):
        scenes.load(tmp_path / "cold.npy")


def test_ordinary_images_do_not_warn(tmp_path, raw):
    np.save(tmp_path / "image.npy", raw)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scenes.load(tmp_path / "image.npy")
        scenes.load(tmp_path / "image.npy", signal_scale="percentile")


def test_percentile_scaling_clips_outliers(tmp_path, raw):
    hot = raw.copy()
    hot[0, 0] = 1e6
    np.save(tmp_path / "hot.npy", hot)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scene = scenes.load(tmp_path / "hot.npy", signal_scale="percentile")
    low, high = np.percentile(hot, [0.1, 99.9])
    expected = ((np.clip(hot, low, high) - low) / (1.05 * (high - low))).astype(np.float32)
    np.testing.assert_array_equal(scene.image, expected)
    assert scene.image[0, 0] == pytest.approx(1 / 1.05)
    assert np.percentile(scene.image, 50) > 0.3 and scene.params["signal_scale"] == "percentile"


def test_percentile_scaling_of_a_nearly_constant_image_is_refused(tmp_path):
    flat = np.zeros((64, 64))
    flat[0, 0] = 1.0
    np.save(tmp_path / "flat.npy", flat)
    with pytest.raises(ValueError, match=r"flat\.npy.*percentile"):
        scenes.load(tmp_path / "flat.npy", signal_scale="percentile")
