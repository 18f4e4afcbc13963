"""Label images and coordinate lists: no silent mis-loading (issue 17)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from stemscan.scenes import load
from stemscan.scenes.label_files import MAX_LABEL_RADIUS, OverlappingFeaturesWarning


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "image.npy"
    np.save(path, np.random.default_rng(0).random((48, 64)))
    return path


def _csv(tmp_path, text, name="points.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


# ------------------------------------------------------------ coordinate lists
@pytest.mark.parametrize("header", ["row,col", "ROW, Col, kind", " row ,col,kind,weight "])
def test_documented_headers_are_recognised(tmp_path, image, header):
    scene = load(image, labels=_csv(tmp_path, f"{header}\n10,12\n30,40\n"))
    assert scene.n_features == 2


def test_first_row_with_a_typo_is_an_error_naming_line_1(tmp_path, image):
    with pytest.raises(ValueError, match=r"points\.csv: line 1: row '1O' is not a number"):
        load(image, labels=_csv(tmp_path, "1O,12\n30,40\n"))
    with pytest.raises(ValueError, match=r"line 1: row 'y' is not a number; a header must be exactly row,col"):
        load(image, labels=_csv(tmp_path, "y,x\n30,40\n"))


def test_bom_never_loses_a_row(tmp_path, image):
    scene = load(image, labels=_csv(tmp_path, "10,12\n30,40\n", encoding="utf-8-sig"))
    assert scene.n_features == 2 and scene.features[0].centroid == pytest.approx((10, 12))
    headed = load(image, labels=_csv(tmp_path, "row,col\n10,12\n30,40\n", "headed.csv", encoding="utf-8-sig"))
    assert headed.n_features == 2


def test_header_only_on_the_first_line(tmp_path, image):
    with pytest.raises(ValueError, match="line 2: row 'row'"):
        load(image, labels=_csv(tmp_path, "10,12\nrow,col\n30,40\n"))


def test_comments_and_blank_lines_before_the_header(tmp_path, image):
    scene = load(image, labels=_csv(tmp_path, "# made by hand\n\nrow,col,kind,weight,\n10,12,dopant,2,\n"))
    assert scene.n_features == 1 and scene.features[0].kind == "dopant" and scene.features[0].weight == 2.0


@pytest.mark.parametrize(
    "text, match",
    [
        ("1,2,a,1,9\n", "5 fields"),
        ("5\n", "expected 'row, col"),
        ("5,6,a,heavy\n", "weight 'heavy'"),
        ("5,6,a,-1\n", "positive"),
        ("nan,6\n", "finite"),
        ("5,6\n\x00\n", "NUL"),
        ('5,"6\n', "line|CSV|number"),
    ],
)
def test_bad_rows_are_named(tmp_path, image, text, match):
    with pytest.raises(ValueError, match=match):
        load(image, labels=_csv(tmp_path, text))


def test_not_utf8_is_named(tmp_path, image):
    path = tmp_path / "points.csv"
    path.write_bytes(b"10,12\n\xff\xfe,3\n")
    with pytest.raises(ValueError, match="UTF-8"):
        load(image, labels=path)


def test_duplicate_coordinates_are_refused_with_their_lines(tmp_path, image):
    with pytest.raises(ValueError, match=r"cannot be told apart \(lines 1, 3 at pixel \(10, 12\)\)"):
        load(image, labels=_csv(tmp_path, "10,12\n30,40\n10.2,11.9\n"))


def test_overlapping_disks_are_warned_with_their_pairs(tmp_path, image):
    with pytest.warns(OverlappingFeaturesWarning, match=r"1 pair\(s\).*label_radius=4.*lines \(1, 2\)"):
        scene = load(image, labels=_csv(tmp_path, "10,12\n10,18\n30,40\n"))
    assert scene.n_features == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load(image, labels=_csv(tmp_path, "10,12\n10,18\n30,40\n"), label_radius=2).n_features == 3


def test_a_disk_covered_by_later_ones_is_an_error(tmp_path, image):
    text = "20,20\n17,20\n23,20\n20,17\n20,23\n"
    with pytest.warns(OverlappingFeaturesWarning), pytest.raises(ValueError, match=r"line\(s\) 1 are entirely covered"):
        load(image, labels=_csv(tmp_path, text), label_radius=3)


@pytest.mark.parametrize("radius", [0, -1, np.inf, np.nan, MAX_LABEL_RADIUS + 1, True, "4"])
def test_label_radius_is_bounded(tmp_path, image, radius):
    with pytest.raises(ValueError, match="label_radius"):
        load(image, labels=_csv(tmp_path, "10,12\n"), label_radius=radius)


def test_npy_coordinates_duplicates_refused(tmp_path, image):
    np.save(tmp_path / "points.npy", np.array([[5.0, 6.0], [20.0, 50.0], [5.0, 6.0]]))
    with pytest.raises(ValueError, match="lines 1, 3"):
        load(image, labels=tmp_path / "points.npy")


# ---------------------------------------------------------------- label images
@pytest.mark.parametrize(
    "value, match",
    [(np.inf, "1 NaN or infinite"), (np.nan, "NaN or infinite"), (2.5, "non-integer value.*2.5"),
     (-3, "negative value.*-3")],
)
def test_bad_label_values_are_named(image, value, match):
    labels = np.zeros((48, 64), dtype=np.float64)
    labels[5:9, 5:9] = 1
    labels[20, 30] = value
    with pytest.raises(ValueError, match=match + r".*\(20, 30\)"):
        load(image, labels=labels)


def test_inf_label_image_from_a_file(tmp_path, image):
    labels = np.full((48, 64), np.inf, dtype=np.float32)
    np.save(tmp_path / "labels.npy", labels)
    with pytest.raises(ValueError, match=r"labels\.npy.*3,?072 NaN or infinite"):
        load(image, labels=tmp_path / "labels.npy")


@pytest.mark.parametrize("dtype", [np.int32, np.uint8, np.float32])
def test_all_zero_label_images_are_refused(tmp_path, image, dtype):
    with pytest.raises(ValueError, match="no feature"):
        load(image, labels=np.zeros((48, 64), dtype=dtype))
    np.save(tmp_path / "zeros.npy", np.zeros((48, 64), dtype=dtype))
    with pytest.raises(ValueError, match=r"zeros\.npy.*no feature"):
        load(image, labels=tmp_path / "zeros.npy")


@pytest.mark.parametrize("dtype", [bool, np.uint16, np.int64, np.float32, np.float64])
def test_label_dtypes_accepted(image, dtype):
    labels = np.zeros((48, 64), dtype=dtype)
    labels[5:9, 5:9] = 1
    labels[30:33, 40:44] = 1 if dtype is bool else 7
    scene = load(image, labels=labels)
    assert scene.n_features == (1 if dtype is bool else 2) and scene.labels.dtype == np.int32


def test_complex_labels_refused(image):
    with pytest.raises(ValueError, match="integers"):
        load(image, labels=np.ones((48, 64), dtype=np.complex64))


def test_feature_table_with_no_feature_or_an_inf_label_image(tmp_path, image):
    (tmp_path / "empty.json").write_text('{"features": []}')
    with pytest.raises(ValueError, match=r"empty\.json.*no feature"):
        load(image, labels=tmp_path / "empty.json")
    np.save(tmp_path / "inf_labels.npy", np.full((48, 64), np.inf))
    (tmp_path / "table.json").write_text('{"label_image": "inf_labels.npy", "features": [{"label": 1}]}')
    with pytest.raises(ValueError, match=r"table\.json: label_image.*NaN or infinite"):
        load(image, labels=tmp_path / "table.json")


def test_scored_scene_file_without_features_is_refused(tmp_path):
    import stemscan.scenes as scenes
    from stemscan.scenes.scene_file import save_scene

    scene = scenes.make("nanoparticles", seed=0, size=64)
    path = save_scene(scene, tmp_path / "scene.h5")
    import h5py

    with h5py.File(path, "a") as handle:
        handle.attrs["features"] = "[]"
    with pytest.raises(ValueError, match=r"scene\.h5.*without features"):
        load(path)


def test_palette_label_pngs_keep_their_indices_and_colour_labels_are_refused(tmp_path, image):
    from PIL import Image

    indices = np.zeros((48, 64), dtype=np.uint8)
    indices[5:9, 5:9] = 3
    indices[30:34, 40:44] = 200
    picture = Image.fromarray(indices, "L").convert("P")
    picture.putpalette([255 - i % 256 for i in range(768)])  # luminance would not be the labels
    picture.save(tmp_path / "mask.png")
    scene = load(image, labels=tmp_path / "mask.png")
    assert scene.n_features == 2
    assert scene.features[0].centroid == pytest.approx((6.5, 6.5))
    Image.fromarray(np.dstack([indices] * 3), "RGB").save(tmp_path / "colour.png")
    with pytest.raises(ValueError, match=r"colour\.png.*one channel.*RGB"):
        load(image, labels=tmp_path / "colour.png")
