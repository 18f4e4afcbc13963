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


# --------------------------------------------------------------- signal units
@pytest.fixture
def fractions():
    rng = np.random.default_rng(1)
    return (rng.random((40, 50)) * 2e-3 + 1e-4).astype(np.float32)


@pytest.mark.parametrize("scale", ["fraction", 1.0])
def test_fractions_are_kept_exactly(tmp_path, fractions, scale):
    path = tmp_path / "fractions.npy"
    np.save(path, fractions)
    scene = scenes.load(path, signal_scale=scale)
    np.testing.assert_array_equal(scene.image, fractions)
    assert scene.params["signal_scale"] == scale


def test_auto_still_rescales_arbitrary_units(tmp_path, fractions):
    path = tmp_path / "fractions.npy"
    np.save(path, fractions)
    assert scenes.load(path).image.max() == pytest.approx(1 / 1.05)


def test_float_scale_converts_counts_to_fractions(tmp_path):
    counts = np.array([[0, 5, 10], [20, 0, 1]], dtype=np.uint16)
    path = tmp_path / "counts.npy"
    np.save(path, counts)
    scene = scenes.load(path, signal_scale=1 / 2000)
    np.testing.assert_allclose(scene.image, counts / 2000, rtol=1e-6)


@pytest.mark.parametrize("scale, match", [
    ("counts", "signal_scale must be"), (0.0, "signal_scale must be"), (-1.0, "signal_scale must be"),
    (float("nan"), "signal_scale must be"), (True, "signal_scale must be"), (1.0, r"lies in \[0, 1\]"),
])
def test_bad_signal_scales_are_named(tmp_path, raw, scale, match):
    path = tmp_path / "raw.npy"
    np.save(path, raw)  # uint16 values up to ~1000: not fractions
    with pytest.raises(ValueError, match=match):
        scenes.load(path, signal_scale=scale)


def test_negative_values_with_a_physical_scale_are_refused(tmp_path):
    path = tmp_path / "offset.npy"
    np.save(path, np.array([[-0.1, 0.2], [0.3, 0.4]]))
    with pytest.raises(ValueError, match="subtract the detector offset"):
        scenes.load(path, signal_scale="fraction")


# ----------------------------------------------------------- feature tables
def _write_table(tmp_path, table):
    import json

    path = tmp_path / "features.json"
    path.write_text(json.dumps(table))
    return path


def test_feature_table_keeps_kind_weight_and_footprint(tmp_path, fractions):
    image_path = tmp_path / "image.npy"
    np.save(image_path, fractions)
    label_image = np.zeros(fractions.shape, dtype=np.int32)
    label_image[30:35, 5:15] = 7
    np.save(tmp_path / "extra.npy", label_image)
    table = {"label_image": "extra.npy", "features": [
        {"kind": "vacancy", "weight": 2.0, "center": [10, 10], "radius": 3},
        {"kind": "interface", "polygon": [[0, 30], [0, 49], [12, 49]]},
        {"kind": "grain-boundary", "weight": 0.5, "label": 7},
    ]}
    scene = scenes.load(image_path, labels=_write_table(tmp_path, table), signal_scale="fraction")
    assert scene.scored and scene.feature_kinds() == ["vacancy", "interface", "grain-boundary"]
    assert [f.weight for f in scene.features] == [2.0, 1.0, 0.5]
    disk = scene.labels == 1
    rows, cols = np.nonzero(disk)
    assert disk.sum() == 29 and np.all((rows - 10) ** 2 + (cols - 10) ** 2 <= 9)  # pixels of a radius-3 disk
    assert scene.features[0].centroid == pytest.approx((10.0, 10.0))
    np.testing.assert_array_equal(scene.labels == 3, label_image == 7)
    polygon = np.nonzero(scene.labels == 2)
    assert polygon[0].min() >= 0 and polygon[1].min() >= 30 and len(polygon[0]) > 50
    np.testing.assert_array_equal(scene.image, fractions)


@pytest.mark.parametrize("features, match", [
    ([{"kind": "vacancy"}], "exactly one footprint"),
    ([{"center": [5, 5], "radius": 2, "polygon": [[0, 0], [0, 5], [5, 5]]}], "exactly one footprint"),
    ([{"center": [5, 5]}], "positive 'radius'"),
    ([{"center": [5, 5], "radius": 2, "weight": 0}], "weight must be a positive"),
    ([{"center": [5, 5], "radius": 2, "kind": ""}], "kind must be"),
    ([{"center": [500, 500], "radius": 2}], "covers no pixel"),
    ([{"polygon": [[0, 0], [1, 1]]}], "polygon must be"),
    ([{"label": 3}], "needs a 'label_image'"),
    ([{"center": [5, 5], "radius": 2}, {"center": [5, 5], "radius": 4}], "entirely covered"),
    ("not a list", "'features' list"),
])
def test_bad_feature_tables_are_named(tmp_path, fractions, features, match):
    image_path = tmp_path / "image.npy"
    np.save(image_path, fractions)
    with pytest.raises(ValueError, match=match):
        scenes.load(image_path, labels=_write_table(tmp_path, {"features": features}))


def test_corrupt_feature_table(tmp_path, fractions):
    image_path = tmp_path / "image.npy"
    np.save(image_path, fractions)
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ValueError, match="cannot read the feature table"):
        scenes.load(image_path, labels=tmp_path / "broken.json")


def test_written_feature_table_reproduces_a_generated_scene(tmp_path):
    from stemscan.scenes.feature_table import write_feature_table

    scene = scenes.make("nanoparticles", seed=2, size=128)
    np.save(tmp_path / "image.npy", scene.image)
    table, _ = write_feature_table(scene, tmp_path / "truth.json")
    loaded = scenes.load(tmp_path / "image.npy", labels=table, signal_scale="fraction", pixel_size=scene.pixel_size)
    np.testing.assert_array_equal(loaded.labels, scene.labels)
    assert [f.to_dict() for f in loaded.features] == [f.to_dict() for f in scene.features]
    np.testing.assert_array_equal(loaded.image, scene.image)


# ---------------------------------------------------------------- scene files
def test_scene_file_round_trip_keeps_units_labels_and_kinds(tmp_path):
    from stemscan.scenes.scene_file import save_scene

    scene = scenes.make("lattice-defects", seed=1, size=96)
    path = save_scene(scene, tmp_path / "scene.h5")
    loaded = scenes.load(path)  # "auto": the file says its values are scattered fractions
    np.testing.assert_array_equal(loaded.image, scene.image)
    np.testing.assert_array_equal(loaded.labels, scene.labels)
    assert [f.to_dict() for f in loaded.features] == [f.to_dict() for f in scene.features]
    assert loaded.family == "lattice-defects" and loaded.seed == 1 and loaded.pixel_size == scene.pixel_size
    np.testing.assert_allclose(loaded.atoms, scene.atoms)
    assert loaded.params["file_params"] == scene.params
    # explicit labels override the file's
    mine = np.zeros(scene.shape, dtype=np.int32)
    mine[10:14, 20:24] = 5
    plain = scenes.load(path, labels=mine)
    assert plain.n_features == 1 and plain.family == "file"


def test_scene_file_needs_h5_suffix(tmp_path):
    from stemscan.scenes.scene_file import save_scene

    with pytest.raises(ValueError, match=".h5"):
        save_scene(scenes.make("nanoparticles", seed=0, size=64), tmp_path / "scene.npy")
