"""stemscan.scenes.load: round-trips per format, labels, corrupt files."""

from __future__ import annotations

import builtins

import numpy as np
import pytest

import stemscan.scenes as scenes


@pytest.fixture
def raw():
    rng = np.random.default_rng(0)
    return (rng.random((48, 64)) * 1000 + 50).astype(np.uint16)


def _expected(raw):
    data = raw.astype(np.float64)
    return ((data - data.min()) / (1.05 * (data.max() - data.min()))).astype(np.float32)


def _write_hspy(path, data, scale=0.02, units="nm"):
    import h5py

    with h5py.File(path, "w") as handle:
        group = handle.create_group("Experiments/haadf")
        group.create_dataset("data", data=data)
        for k in range(2):
            axis = group.create_group(f"axis-{k}")
            axis.attrs["scale"] = scale
            axis.attrs["units"] = units
            axis.attrs["size"] = data.shape[k]


def test_npy_round_trip(tmp_path, raw):
    path = tmp_path / "image.npy"
    np.save(path, raw)
    scene = scenes.load(path)
    np.testing.assert_allclose(scene.image, _expected(raw), rtol=1e-6)
    assert scene.family == "file" and scene.seed is None
    assert not scene.scored and scene.n_features == 0
    assert "nothing is scored" in scene.params["note"]
    assert scene.image.min() == 0 and scene.image.max() < 1


def test_tiff_round_trip(tmp_path, raw):
    import tifffile

    path = tmp_path / "image.tif"
    tifffile.imwrite(path, raw)
    np.testing.assert_allclose(scenes.load(path, pixel_size=0.3).image, _expected(raw), rtol=1e-6)
    assert scenes.load(path, pixel_size=0.3).pixel_size == 0.3


def test_png_round_trip(tmp_path, raw):
    from PIL import Image

    small = (raw // 8).astype(np.uint8)
    path = tmp_path / "image.png"
    Image.fromarray(small).save(path)
    np.testing.assert_allclose(scenes.load(path).image, _expected(small), rtol=1e-6)
    Image.fromarray(np.stack([small] * 3, axis=-1)).save(tmp_path / "rgb.png")
    np.testing.assert_allclose(scenes.load(tmp_path / "rgb.png").image, _expected(small), rtol=1e-6)


def test_hspy_round_trip_reads_pixel_size(tmp_path, raw):
    path = tmp_path / "image.hspy"
    _write_hspy(path, raw, scale=0.02, units="nm")
    scene = scenes.load(path)
    np.testing.assert_allclose(scene.image, _expected(raw), rtol=1e-6)
    assert scene.pixel_size == pytest.approx(0.2)
    assert scene.params["pixel_size_source"] == "file"


def test_plain_hdf5_first_2d_dataset(tmp_path, raw):
    import h5py

    path = tmp_path / "image.h5"
    with h5py.File(path, "w") as handle:
        handle.create_dataset("meta/vector", data=np.arange(4))
        handle.create_dataset("scan/haadf", data=raw)
    np.testing.assert_allclose(scenes.load(path).image, _expected(raw), rtol=1e-6)


def test_label_image(tmp_path, raw):
    labels = np.zeros(raw.shape, dtype=np.int32)
    labels[5:10, 5:10] = 7
    labels[20:25, 30:40] = 3
    np.save(tmp_path / "image.npy", raw)
    scene = scenes.load(tmp_path / "image.npy", labels=labels)
    assert scene.scored and scene.n_features == 2
    assert set(np.unique(scene.labels)) == {0, 1, 2}
    assert scene.features[0].centroid == pytest.approx((22.0, 34.5))  # value 3 comes first
    np.save(tmp_path / "labels.npy", labels)
    again = scenes.load(tmp_path / "image.npy", labels=tmp_path / "labels.npy")
    np.testing.assert_array_equal(again.labels, scene.labels)


def test_coordinate_labels_csv(tmp_path, raw):
    np.save(tmp_path / "image.npy", raw)
    (tmp_path / "features.csv").write_text("row,col,kind,weight\n10,12,dopant,2\n30.5,40,vacancy,\n")
    scene = scenes.load(tmp_path / "image.npy", labels=str(tmp_path / "features.csv"), label_radius=3)
    assert [f.kind for f in scene.features] == ["dopant", "vacancy"]
    assert [f.weight for f in scene.features] == [2.0, 1.0]
    assert scene.features[0].centroid == pytest.approx((10, 12))
    assert scene.labels[10, 12] == 1 and scene.labels[30, 40] == 2


def test_coordinate_labels_npy(tmp_path, raw):
    np.save(tmp_path / "image.npy", raw)
    np.save(tmp_path / "points.npy", np.array([[5.0, 6.0], [20.0, 50.0]]))
    scene = scenes.load(tmp_path / "image.npy", labels=tmp_path / "points.npy")
    assert scene.n_features == 2


@pytest.mark.parametrize(
    "content, match",
    [
        ("1,2\nfoo,bar\n", "line 2"),
        ("500,2\n", "outside"),
        ("", "no feature coordinates"),
    ],
)
def test_bad_coordinate_files(tmp_path, raw, content, match):
    np.save(tmp_path / "image.npy", raw)
    (tmp_path / "features.csv").write_text(content)
    with pytest.raises(ValueError, match=match):
        scenes.load(tmp_path / "image.npy", labels=tmp_path / "features.csv")


def test_label_shape_mismatch(tmp_path, raw):
    np.save(tmp_path / "image.npy", raw)
    with pytest.raises(ValueError, match="shape"):
        scenes.load(tmp_path / "image.npy", labels=np.zeros((3, 3), dtype=np.int32))


@pytest.mark.parametrize("suffix", [".npy", ".tif", ".png", ".hspy"])
def test_corrupt_files_rejected(tmp_path, suffix):
    path = tmp_path / f"broken{suffix}"
    path.write_bytes(b"this is not an image at all" * 3)
    with pytest.raises(ValueError, match="broken"):
        scenes.load(path)


def test_pickled_npy_refused(tmp_path):
    path = tmp_path / "objects.npy"
    np.save(path, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="objects.npy"):
        scenes.load(path)


@pytest.mark.parametrize(
    "array, match",
    [
        (np.zeros((4, 5, 6)), "2-D"),
        (np.zeros((0, 5)), "2-D"),
        (np.ones((8, 8)), "constant"),
        (np.full((8, 8), np.nan), "NaN"),
    ],
)
def test_bad_image_content(tmp_path, array, match):
    path = tmp_path / "bad.npy"
    np.save(path, array)
    with pytest.raises(ValueError, match=match):
        scenes.load(path)


def test_unsupported_and_missing(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="unsupported"):
        scenes.load(tmp_path / "notes.txt")
    with pytest.raises(FileNotFoundError):
        scenes.load(tmp_path / "missing.npy")


def test_dm4_without_extra_names_it(tmp_path, monkeypatch):
    path = tmp_path / "image.dm4"
    path.write_bytes(b"\x00" * 64)
    real_import = builtins.__import__

    def no_rsciio(name, *args, **kwargs):
        if name.startswith("rsciio"):
            raise ImportError("No module named 'rsciio'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_rsciio)
    import importlib

    monkeypatch.setattr(importlib, "import_module", lambda name, *a: no_rsciio(name))
    with pytest.raises(ImportError, match=r'pip install "stemscan\[io\]"'):
        scenes.load(path)
