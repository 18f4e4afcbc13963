"""Image modes become the right intensity plane (issue 17: LA, palette, 16-bit, colour, float TIFF)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from stemscan.scenes import load
from stemscan.scenes.image_files import read_image
from stemscan.scenes.image_modes import LUMA, pil_plane


@pytest.fixture
def grey():
    rng = np.random.default_rng(3)
    return rng.integers(0, 256, size=(24, 32)).astype(np.uint8)


def _png(tmp_path, picture, name="image.png"):
    path = tmp_path / name
    picture.save(path)
    return path


def test_l_keeps_values(tmp_path, grey):
    data, _ = read_image(_png(tmp_path, Image.fromarray(grey)))
    assert data.dtype == np.uint8
    np.testing.assert_array_equal(data, grey)


def test_la_drops_alpha_instead_of_averaging_it(tmp_path, grey):
    alpha = np.full_like(grey, 255)
    alpha[:, :5] = 0
    data, _ = read_image(_png(tmp_path, Image.fromarray(np.stack([grey, alpha], axis=-1), "LA")))
    np.testing.assert_array_equal(data, grey)


def test_palette_gives_palette_luminance_not_indices(tmp_path, grey):
    indices = (grey % 4).astype(np.uint8)
    picture = Image.fromarray(indices, "L").convert("P")
    levels = [250, 150, 60, 0]  # index 0 brightest: contrast inverted relative to the indices
    picture.putpalette([v for level in levels for v in (level, level, level)] + [0] * (768 - 12))
    data, _ = read_image(_png(tmp_path, picture))
    np.testing.assert_allclose(data, np.array(levels, dtype=np.float64)[indices])


def test_colour_palette_uses_bt601_luminance(tmp_path):
    indices = np.array([[0, 1], [2, 0]], dtype=np.uint8)
    picture = Image.fromarray(indices, "L").convert("P")
    picture.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (768 - 9))
    data, _ = read_image(_png(tmp_path, picture))
    np.testing.assert_allclose(data, 255 * LUMA[indices])


def test_sixteen_bit_png_keeps_its_range(tmp_path):
    values = (np.arange(24 * 32).reshape(24, 32) * 85).astype(np.uint16)
    data, _ = read_image(_png(tmp_path, Image.fromarray(values)))
    assert data.dtype == np.uint16 and data.max() > 255
    np.testing.assert_array_equal(data, values)


@pytest.mark.parametrize("mode, dtype", [("I;16", "<u2"), ("I;16B", ">u2")])
def test_sixteen_bit_modes_in_memory(mode, dtype):
    values = np.array([[0, 300], [65535, 1234]], dtype=np.uint16)
    picture = Image.frombytes(mode, (2, 2), values.astype(dtype).tobytes())
    plane = pil_plane(picture)
    assert plane.dtype.kind == "u" and plane.dtype.itemsize == 2 and plane.dtype.isnative
    np.testing.assert_array_equal(plane, values)


@pytest.mark.parametrize("mode, values", [("I", np.array([[-5, 70000], [3, 0]], dtype=np.int32)),
                                          ("F", np.array([[0.25, -1.5], [1e-3, 7.0]], dtype=np.float32))])
def test_32_bit_modes_in_memory(mode, values):
    plane = pil_plane(Image.fromarray(values, mode))
    assert plane.dtype == values.dtype
    np.testing.assert_array_equal(plane, values)


def test_rgb_and_rgba_give_luminance_ignoring_alpha(tmp_path, grey):
    rgb = np.stack([grey, grey[::-1], grey[:, ::-1]], axis=-1)
    expected = rgb.astype(np.float64) @ LUMA
    data, _ = read_image(_png(tmp_path, Image.fromarray(rgb, "RGB"), "rgb.png"))
    np.testing.assert_allclose(data, expected)
    alpha = np.where(grey > 128, 255, 0).astype(np.uint8)
    data, _ = read_image(_png(tmp_path, Image.fromarray(np.dstack([rgb, alpha]), "RGBA"), "rgba.png"))
    np.testing.assert_allclose(data, expected)


def test_bilevel_png(tmp_path, grey):
    bits = grey > 128
    data, _ = read_image(_png(tmp_path, Image.fromarray(bits)))
    assert data.dtype == np.uint8
    np.testing.assert_array_equal(data, bits.astype(np.uint8))
    assert load(tmp_path / "image.png").image.max() > 0


@pytest.mark.parametrize("dtype", [np.int32, np.float32, np.float64, np.uint16, np.int16])
def test_tiff_dtypes_kept(tmp_path, dtype):
    import tifffile

    values = (np.arange(12 * 10).reshape(12, 10) - 30).astype(dtype)
    if np.dtype(dtype).kind == "u":
        values = values + 40
    tifffile.imwrite(tmp_path / "image.tif", values)
    data, _ = read_image(tmp_path / "image.tif")
    assert data.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(data, values)


def test_float_tiff_stays_float_and_exact_as_fractions(tmp_path):
    import tifffile

    fractions = np.random.default_rng(0).random((16, 20)).astype(np.float32) * 0.01
    tifffile.imwrite(tmp_path / "frac.tif", fractions)
    np.testing.assert_array_equal(load(tmp_path / "frac.tif", signal_scale="fraction").image, fractions)
    Image.fromarray(fractions, "F").save(tmp_path / "pil.tif")  # written by Pillow, read by tifffile
    np.testing.assert_array_equal(load(tmp_path / "pil.tif", signal_scale="fraction").image, fractions)


def test_colour_and_palette_tiffs(tmp_path, grey):
    import tifffile

    rgb = np.stack([grey, grey[::-1], grey[:, ::-1]], axis=-1)
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, photometric="rgb")
    np.testing.assert_allclose(read_image(tmp_path / "rgb.tif")[0], rgb @ LUMA)
    tifffile.imwrite(tmp_path / "rgba.tif", np.dstack([rgb, grey]), photometric="rgb", extrasamples=["unassalpha"])
    np.testing.assert_allclose(read_image(tmp_path / "rgba.tif")[0], rgb @ LUMA)
    tifffile.imwrite(tmp_path / "la.tif", np.dstack([grey, 255 - grey]), photometric="minisblack",
                     extrasamples=["unassalpha"])
    np.testing.assert_array_equal(read_image(tmp_path / "la.tif")[0], grey)
    picture = Image.fromarray((grey % 2).astype(np.uint8), "L").convert("P")
    picture.putpalette([255, 255, 255, 0, 0, 0] + [0] * 762)
    picture.save(tmp_path / "palette.tif")
    data = read_image(tmp_path / "palette.tif")[0]
    assert np.all((data > data.min()) == (grey % 2 == 0))  # index 0 is the white entry


def test_min_is_white_tiff_is_inverted(tmp_path, grey):
    import tifffile

    tifffile.imwrite(tmp_path / "white.tif", grey, photometric="miniswhite")
    np.testing.assert_array_equal(read_image(tmp_path / "white.tif")[0], 255 - grey)


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_non_finite_pixels_are_named(tmp_path, bad):
    import tifffile

    values = np.ones((8, 8), dtype=np.float32)
    values[2, 3] = bad
    values[0, 0] = 0
    tifffile.imwrite(tmp_path / "bad.tif", values)
    with pytest.raises(ValueError, match=r"bad\.tif.*1 NaN or infinite.*\(2, 3\)"):
        load(tmp_path / "bad.tif")


def test_unsupported_mode_is_named():
    with pytest.raises(ValueError, match="CMYK"):
        pil_plane(Image.new("CMYK", (2, 2)))
