"""Fuzzing stemscan.scenes.load: any bytes give a Scene or a ValueError naming the file, never a raw traceback or a hang."""

from __future__ import annotations

import io
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from stemscan.scenes import Scene, load
from stemscan.scenes.label_files import OverlappingFeaturesWarning

FUZZ = settings(max_examples=40, deadline=3000, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
SUFFIXES = [".npy", ".png", ".tif", ".h5", ".hspy"]


def _valid_file(suffix: str) -> bytes:
    """A small valid image of the given format, as bytes (the seed that mutations start from)."""
    image = (np.arange(12 * 16).reshape(12, 16) % 37).astype(np.uint16)
    buffer = io.BytesIO()
    if suffix == ".npy":
        np.save(buffer, image)
    elif suffix == ".png":
        from PIL import Image

        Image.fromarray(image.astype(np.uint8)).save(buffer, format="PNG")
    elif suffix == ".tif":
        import tifffile

        tifffile.imwrite(buffer, image, compression="zlib")
    else:
        import h5py

        with h5py.File(buffer, "w") as handle:
            name = "Experiments/haadf/data" if suffix == ".hspy" else "image"
            handle.create_dataset(name, data=image, compression="gzip")
    return buffer.getvalue()


VALID = {suffix: _valid_file(suffix) for suffix in SUFFIXES}


def _load_bytes(data: bytes, suffix: str, **kwargs) -> None:
    """Write ``data`` and load it: a Scene or a ValueError that names the file, nothing else."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"fuzzed{suffix}"
        path.write_bytes(data)
        _expect_scene_or_value_error(lambda: load(path, **kwargs), "fuzzed")


def _expect_scene_or_value_error(call, name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OverlappingFeaturesWarning)
        try:
            scene = call()
        except ValueError as error:
            assert name in str(error), f"the message does not name the file: {error}"
            return
    assert isinstance(scene, Scene) and np.isfinite(scene.image).all()


@FUZZ
@given(data=st.binary(max_size=2048), suffix=st.sampled_from(SUFFIXES))
def test_random_bytes(data, suffix):
    _load_bytes(data, suffix)


@FUZZ
@given(suffix=st.sampled_from(SUFFIXES), flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)),
                                                        min_size=1, max_size=8),
       cut=st.one_of(st.none(), st.integers(0, 10**6)))
def test_mutated_valid_files(suffix, flips, cut):
    raw = bytearray(VALID[suffix])
    for position, mask in flips:
        raw[position % len(raw)] ^= mask
    if cut is not None:
        raw = raw[: cut % len(raw)]
    _load_bytes(bytes(raw), suffix, max_pixels=2**22)


@pytest.fixture(scope="module")
def image_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz") / "image.npy"
    np.save(path, np.random.default_rng(0).random((32, 40)))
    return path


_CSV_ALPHABET = st.sampled_from(list("0123456789.,-+e \n\r\t#\"';") + ["row", "col", "kind", "weight", "\ufeff",
                                                                     "nan", "inf", "Row", "dopant"])


@FUZZ
@given(text=st.lists(_CSV_ALPHABET, max_size=60).map("".join), radius=st.floats(0.5, 6))
def test_coordinate_lists(image_path, text, radius):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzzed.csv"
        path.write_bytes(text.encode("utf-8"))
        _expect_scene_or_value_error(lambda: load(image_path, labels=path, label_radius=radius), "fuzzed")


@FUZZ
@given(data=st.binary(max_size=512))
def test_random_bytes_as_coordinates_or_feature_tables(image_path, data):
    for suffix in (".csv", ".json", ".npy"):
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"fuzzed{suffix}"
            path.write_bytes(data)
            _expect_scene_or_value_error(lambda: load(image_path, labels=path), "fuzzed")


@FUZZ
@given(labels=hnp.arrays(st.sampled_from([np.float32, np.float64, np.int16, np.uint8, np.int64, np.bool_]),
                         (32, 40)))
def test_label_arrays(image_path, labels):
    _expect_scene_or_value_error(lambda: load(image_path, labels=labels), "labels array")
