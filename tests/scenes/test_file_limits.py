"""Size limits of scene files: checked from the header, before any data are read (issue 17)."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

import stemscan.scenes as scenes
from stemscan.scenes import limits
from stemscan.scenes.limits import FileLimitError


def _npy_header_only(path, shape, descr="<f8"):
    from numpy.lib import format as npy_format

    with open(path, "wb") as handle:
        npy_format.write_array_header_1_0(handle, {"descr": descr, "fortran_order": False, "shape": shape})


def _png_header_only(path, width, height, bit_depth=8, colour_type=0):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
                     + chunk(b"IEND", b""))


def test_npy_header_claiming_100000_squared_is_refused_without_allocating(tmp_path):
    path = tmp_path / "bomb.npy"
    _npy_header_only(path, (100000, 100000))
    with pytest.raises(FileLimitError, match=r"bomb\.npy.*\(100000, 100000\).*67,108,864 pixels.*max_pixels"):
        scenes.load(path)


def test_truncated_npy_is_named(tmp_path):
    path = tmp_path / "short.npy"
    _npy_header_only(path, (64, 64))
    with pytest.raises(ValueError, match=r"short\.npy.*truncated"):
        scenes.load(path)


@pytest.mark.parametrize("descr", ["|O", [("a", "<f4"), ("b", "<f4")], "<c16", "<U4"])
def test_npy_non_numeric_dtypes_refused_from_the_header(tmp_path, descr):
    path = tmp_path / "odd.npy"
    _npy_header_only(path, (4, 4), descr)
    with pytest.raises(ValueError, match=r"odd\.npy.*(objects|numeric)"):
        scenes.load(path)


def test_max_pixels_can_be_lowered_and_raised(tmp_path, monkeypatch):
    path = tmp_path / "image.npy"
    np.save(path, np.arange(40 * 50, dtype=np.float32).reshape(40, 50))
    with pytest.raises(FileLimitError, match=r"\(40, 50\) \(2,000 pixels\).*1,000 pixels"):
        scenes.load(path, max_pixels=1000)
    assert scenes.load(path, max_pixels=2000).shape == (40, 50)
    monkeypatch.setattr(limits, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(FileLimitError):
        scenes.load(path)
    assert scenes.load(path, max_pixels=5000).shape == (40, 50)  # the keyword overrides the module setting


@pytest.mark.parametrize("bad", [0, -5, 2.5, True, "100"])
def test_bad_max_pixels_named(tmp_path, bad):
    path = tmp_path / "image.npy"
    np.save(path, np.arange(16.0).reshape(4, 4))
    with pytest.raises(ValueError, match="max_pixels"):
        scenes.load(path, max_pixels=bad)


def test_byte_cap_counts_bands_and_dtype(tmp_path):
    path = tmp_path / "wide.npy"
    _npy_header_only(path, (100, 100, 64), "<f8")  # 640,000 values of 8 bytes = 5.1 MB
    with pytest.raises(FileLimitError, match="wide.npy"):
        scenes.load(path, max_pixels=100_000)


def test_hdf5_claiming_200000_squared_is_refused(tmp_path):
    import h5py

    path = tmp_path / "bomb.h5"
    with h5py.File(path, "w") as handle:
        handle.create_dataset("data", shape=(200000, 200000), dtype="f4", chunks=(64, 64))
    assert path.stat().st_size < 10_000
    with pytest.raises(FileLimitError, match=r"bomb\.h5.*\(200000, 200000\)"):
        scenes.load(path)


def test_hyperspy_and_scene_file_shapes_checked(tmp_path):
    import h5py

    hspy = tmp_path / "bomb.hspy"
    with h5py.File(hspy, "w") as handle:
        handle.create_dataset("Experiments/haadf/data", shape=(1, 90000, 90000), dtype="u2", chunks=(1, 64, 64))
    with pytest.raises(FileLimitError, match="bomb.hspy"):
        scenes.load(hspy)
    scene = tmp_path / "scene.h5"
    with h5py.File(scene, "w") as handle:
        handle.attrs["stemscan_scene"] = 1
        handle.create_dataset("image", shape=(90000, 90000), dtype="f4", chunks=(64, 64))
        handle.create_dataset("labels", shape=(90000, 90000), dtype="i4", chunks=(64, 64))
    with pytest.raises(FileLimitError, match=r"scene\.h5.*\(90000, 90000\)"):
        scenes.load(scene)


def test_zlib_tiff_is_refused_before_it_is_inflated(tmp_path):
    import tifffile

    path = tmp_path / "zeros.tif"
    tifffile.imwrite(path, np.zeros((2048, 2048), dtype=np.uint16), compression="zlib")
    assert path.stat().st_size < 100_000  # 8 MiB once inflated
    with pytest.raises(FileLimitError, match=r"zeros\.tif.*\(2048, 2048\)"):
        scenes.load(path, max_pixels=2**20)


def test_tiff_with_forged_dimensions_is_refused(tmp_path):
    import tifffile

    path = tmp_path / "forged.tif"
    tifffile.imwrite(path, np.arange(64, dtype=np.uint8).reshape(8, 8))
    raw = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tif:
        tags = tif.pages[0].tags
        spots = [(tags[name].valueoffset, tags[name].dtype) for name in ("ImageWidth", "ImageLength")]
    for offset, dtype in spots:
        fmt = "<H" if int(dtype) == 3 else "<I"
        raw[offset : offset + struct.calcsize(fmt)] = struct.pack(fmt, 60000)
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="forged.tif"):
        scenes.load(path)


def test_png_over_the_limit_is_refused_from_its_header(tmp_path):
    path = tmp_path / "big.png"
    _png_header_only(path, 9000, 9000)  # 81 M pixels: under Pillow's guard, over stemscan's
    with pytest.raises(FileLimitError, match=r"big\.png.*\(9000, 9000\)"):
        scenes.load(path)


def test_pillow_decompression_bomb_becomes_a_clear_error(tmp_path):
    path = tmp_path / "bomb.png"
    _png_header_only(path, 100000, 100000)
    with pytest.raises(FileLimitError, match=r"bomb\.png.*decompression bomb.*MAX_IMAGE_PIXELS"):
        scenes.load(path, max_pixels=10**11)
    warned = tmp_path / "warned.png"
    _png_header_only(warned, 10000, 10000)  # over Pillow's warning threshold only
    with pytest.raises(FileLimitError, match="warned.png"):
        scenes.load(warned, max_pixels=10**9)


def test_label_files_are_limited_too(tmp_path):
    np.save(tmp_path / "image.npy", np.arange(64.0).reshape(8, 8))
    _npy_header_only(tmp_path / "labels.npy", (100000, 100000), "<i4")
    with pytest.raises(FileLimitError, match="labels.npy"):
        scenes.load(tmp_path / "image.npy", labels=tmp_path / "labels.npy")


def test_text_files_have_a_byte_cap(tmp_path, monkeypatch):
    np.save(tmp_path / "image.npy", np.arange(64.0).reshape(8, 8))
    (tmp_path / "points.csv").write_text("1,1\n" * 100)
    (tmp_path / "table.json").write_text('{"features": [' + ", ".join(['{"center": [1, 1], "radius": 1}'] * 50) + "]}")
    monkeypatch.setattr(limits, "MAX_TEXT_BYTES", 100)
    with pytest.raises(FileLimitError, match=r"points\.csv.*400 bytes.*MAX_TEXT_BYTES"):
        scenes.load(tmp_path / "image.npy", labels=tmp_path / "points.csv")
    with pytest.raises(ValueError, match=r"table\.json.*MAX_TEXT_BYTES"):
        scenes.load(tmp_path / "image.npy", labels=tmp_path / "table.json")


def test_coordinate_rows_are_capped(tmp_path, monkeypatch):
    np.save(tmp_path / "image.npy", np.arange(4096.0).reshape(64, 64))
    (tmp_path / "points.csv").write_text("".join(f"{r},{c}\n" for r in range(0, 60, 10) for c in range(0, 60, 10)))
    monkeypatch.setattr(limits, "MAX_FEATURES", 10)
    with pytest.raises(FileLimitError, match="MAX_FEATURES"):
        scenes.load(tmp_path / "image.npy", labels=tmp_path / "points.csv", label_radius=2)


def test_deeply_nested_feature_table_is_a_clear_error(tmp_path):
    np.save(tmp_path / "image.npy", np.arange(64.0).reshape(8, 8))
    (tmp_path / "deep.json").write_text("[" * 100000 + "]" * 100000)
    with pytest.raises(ValueError, match="deep.json"):
        scenes.load(tmp_path / "image.npy", labels=tmp_path / "deep.json")


def test_directory_instead_of_a_file(tmp_path):
    (tmp_path / "folder.npy").mkdir()
    with pytest.raises(ValueError, match="directory"):
        scenes.load(tmp_path / "folder.npy")


def test_env_file_scenes_are_limited_and_take_max_pixels(tmp_path):
    import gymnasium as gym

    import stemscan.envs  # noqa: F401 - registers STEMScan-v0

    bomb = tmp_path / "bomb.npy"
    _npy_header_only(bomb, (100000, 100000))
    with pytest.raises(FileLimitError, match=r"bomb\.npy"):
        gym.make("STEMScan-v0", scene=f"file:{bomb}")
    image = tmp_path / "image.npy"
    np.save(image, np.random.default_rng(0).random((64, 64)))
    with pytest.raises(FileLimitError, match=r"image\.npy.*1,000 pixels"):
        gym.make("STEMScan-v0", scene=f"file:{image}", scene_kwargs={"max_pixels": 1000})
    env = gym.make("STEMScan-v0", scene=f"file:{image}", scene_kwargs={"max_pixels": 4096}, image_size=64,
                   patch_size=16, overview_size=16)
    env.reset(seed=0)
    assert env.unwrapped.scene.shape == (64, 64)


def test_feature_tables_with_huge_or_countless_footprints_fail_fast():
    from stemscan.scenes.feature_table import parse_feature_table

    with pytest.raises(ValueError, match="radius' of at most"):
        parse_feature_table({"features": [{"center": [10, 10], "radius": 1e300}]}, (64, 64))
    many = {"features": [{"center": [10, 10], "radius": 3}] * 200000}
    with pytest.raises(ValueError, match="16 times the image"):
        parse_feature_table(many, (64, 64))
    with pytest.raises(ValueError, match="center must be"):
        parse_feature_table({"features": [{"center": {"a": 1}, "radius": 2}]}, (64, 64))
    with pytest.raises(ValueError, match="polygon must be"):
        parse_feature_table({"features": [{"polygon": [[0, 0], "x", [5, 5]]}]}, (64, 64))


def test_label_footprints_are_looked_up_not_scanned():
    from stemscan.scenes.feature_table import parse_feature_table

    label_image = np.arange(64 * 64).reshape(64, 64) % 500 + 1
    table = {"features": [{"label": value, "kind": "grain"} for value in range(1, 501)]}
    labels, features = parse_feature_table(table, (64, 64), label_image)
    assert len(features) == 500
    np.testing.assert_array_equal(labels, label_image)


def test_corrupt_tiff_gives_one_message_and_nothing_on_stderr(tmp_path, capfd):
    import io

    import tifffile

    buffer = io.BytesIO()
    tifffile.imwrite(buffer, np.zeros((12, 16), dtype=np.uint16), compression="zlib")
    raw = bytearray(buffer.getvalue())
    raw[12] ^= 0x10  # the data type of the ImageWidth tag
    (tmp_path / "bad.tif").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"bad\.tif: cannot read as \.tif \(ZeroDivisionError.*tifffile: .*invalid data"):
        scenes.load(tmp_path / "bad.tif")
    assert capfd.readouterr().err == ""
