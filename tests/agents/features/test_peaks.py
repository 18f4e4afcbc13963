"""Peak finding (torch-free): columns in noise, windows inside the patch, sublattices, sub-pixel refinement."""

from __future__ import annotations


import numpy as np
import pytest

from stemscan.agents.features.peaks import find_peaks, window_corners


def test_find_peaks_recovers_columns_in_noise() -> None:
    rng = np.random.default_rng(1)
    y, x = np.mgrid[:32, :32]
    truth = np.array([[8.0, 9.0], [20.0, 24.0], [25.0, 6.0]])
    image = sum(np.exp(-((y - r) ** 2 + (x - c) ** 2) / (2 * 2.0**2)) for r, c in truth)
    image = image + rng.normal(0, 0.05, image.shape)
    peaks = find_peaks(image, sigma=1.0, min_distance=3)
    assert len(peaks) == 3
    distance = np.linalg.norm(peaks[:, None] - truth[None], axis=-1).min(axis=0)
    assert distance.max() <= 1.5


def test_find_peaks_flat_image_has_none() -> None:
    assert find_peaks(np.zeros((16, 16))).shape == (0, 2)


@pytest.mark.parametrize(
    "image, kwargs, match",
    [
        (np.zeros(16), {}, "2D image"),
        (np.full((8, 8), np.nan), {}, "NaN"),
        (np.zeros((8, 8)), {"min_distance": 0}, "min_distance"),
        (np.zeros((8, 8)), {"sigma": -1.0}, "sigma"),
    ],
)
def test_find_peaks_rejects_bad_input(image: np.ndarray, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        find_peaks(image, **kwargs)


def test_window_corners_stay_inside() -> None:
    corners = window_corners(np.array([[0.0, 0.0], [31.0, 31.0], [16.0, 10.0]]), (32, 32), 16)
    assert corners.tolist() == [[0, 0], [16, 16], [8, 2]]
    with pytest.raises(ValueError, match="larger than the image"):
        window_corners(np.zeros((1, 2)), (8, 8), 16)


def test_bright_sublattice_splits_two_levels_only() -> None:
    from stemscan.agents.features.peaks import bright_sublattice

    assert bright_sublattice(np.array([1.0, 0.12, 0.9, 0.1, 0.11])).tolist() == [True, False, True, False, False]
    assert bright_sublattice(np.array([1.0, 0.8, 0.7])).all()  # one sublattice: everything is bright


def test_refine_peaks_finds_sub_pixel_centres_and_interior_drops_border_peaks() -> None:
    from stemscan.agents.features.peaks import interior_peaks, refine_peaks

    y, x = np.mgrid[:24, :24].astype(np.float64)
    truth = np.array([[8.3, 10.6], [15.8, 4.45]])
    image = sum(np.exp(-((y - r) ** 2 + (x - c) ** 2) / (2 * 2.0**2)) for r, c in truth)
    refined = refine_peaks(image, np.rint(truth))
    np.testing.assert_allclose(refined, truth, atol=0.02)
    assert interior_peaks(np.array([[0.0, 5.0], [5.0, 23.0], [1.0, 22.0]]), (24, 24)).tolist() == [False, False, True]
