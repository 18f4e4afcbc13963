"""Atom windows: around peaks, on ideal lattice sites, at the pooled lattice angle."""

from __future__ import annotations


import numpy as np
import pytest

from stemscan.agents.features.windows import patch_windows


def test_patch_windows_cut_around_atoms() -> None:
    y, x = np.mgrid[:32, :32]
    patch = np.exp(-((y - 10) ** 2 + (x - 20) ** 2) / 8.0).astype(np.float32)
    windows, peaks = patch_windows(patch, 16)
    assert windows.shape == (1, 16, 16) and peaks.shape == (1, 2)
    r, c = np.unravel_index(np.argmax(windows[0]), windows[0].shape)
    assert abs(r - 8) <= 1 and abs(c - 8) <= 1  # the atom sits at the window centre
    with pytest.raises(ValueError, match="larger than the patch"):
        patch_windows(patch, 40)


def perovskite_patch(shift: tuple[float, float], a_px: float = 20.0) -> np.ndarray:
    """32 px patch: bright columns on a square lattice, dim ones at cell centres displaced by ``shift`` px."""
    y, x = np.mgrid[:32, :32].astype(np.float64)
    image = np.full((32, 32), 0.02)
    for i in range(-1, 3):
        for j in range(-1, 3):
            a = np.array([4.0 + i * a_px, 5.0 + j * a_px])
            b = a + a_px / 2 + np.array(shift)
            image += 0.8 * np.exp(-((y - a[0]) ** 2 + (x - a[1]) ** 2) / (2 * 1.5**2))
            image += 0.15 * np.exp(-((y - b[0]) ** 2 + (x - b[1]) ** 2) / (2 * 1.5**2))
    return image.astype(np.float32)


def test_lattice_windows_keep_the_dim_columns_off_centring() -> None:
    """Centred on the ideal site, a window shows the dim column displaced by its off-centring."""
    for shift in [(0.0, 1.5), (-1.5, 0.0)]:
        windows, centres = patch_windows(perovskite_patch(shift), 10, sigma=0.5, centring="lattice", lattice_px=20.0)
        assert len(windows) >= 1
        np.testing.assert_allclose(centres[0], [14.0, 15.0], atol=0.3)  # the ideal site, not the displaced column
        w = windows[0] - windows[0].min()
        rows, cols = np.mgrid[:10, :10] - 4.5
        offset = np.array([(w * rows).sum(), (w * cols).sum()]) / w.sum()
        assert np.dot(offset, shift) > 0.3 * np.dot(shift, shift)  # the column sits off-centre, along the shift
    peak_windows, peaks = patch_windows(perovskite_patch((0.0, 1.5)), 10, sigma=0.5, sublattice="dim")
    assert len(peak_windows) >= 1 and np.all(peaks[:, 1] % 20 != 5)  # dim columns only


def test_lattice_centring_errors() -> None:
    patch = perovskite_patch((0.0, 0.0))
    with pytest.raises(ValueError, match="needs lattice_px"):
        patch_windows(patch, 10, centring="lattice")
    with pytest.raises(ValueError, match="lattice_px must be a positive"):
        patch_windows(patch, 10, centring="lattice", lattice_px=-3.0)
    with pytest.raises(ValueError, match="unknown centring"):
        patch_windows(patch, 10, centring="middle")
    with pytest.raises(ValueError, match="unknown sublattice"):
        patch_windows(patch, 10, sublattice="medium")


def test_bond_angles_recover_the_lattice_rotation() -> None:
    from stemscan.agents.features.windows import bond_angles, _rotation

    a_px, angle = 26.0, np.deg2rad(2.5)
    cells = np.array([[i, j] for i in range(3) for j in range(3)], dtype=np.float64) * a_px
    bright = cells @ _rotation(angle).T
    dim = (np.array([[0, 0], [0, 1], [1, 0], [1, 1]]) * a_px + a_px / 2) @ _rotation(angle).T  # the 4 cell centres
    samples = bond_angles(bright, dim, a_px)
    assert len(samples) == 16  # four bonds per cell centre
    np.testing.assert_allclose(samples, angle, atol=1e-9)
    assert bond_angles(bright, np.zeros((0, 2)), a_px).shape == (0,)


def test_lattice_windows_follow_the_lattice_angle() -> None:
    """With the lattice's rotation given, the window is centred on the rotated ideal site."""
    from stemscan.agents.features.windows import lattice_windows, _rotation

    a_px, angle = 20.0, np.deg2rad(4.0)
    a_site = np.array([6.0, 6.0])
    _, centres = lattice_windows(np.zeros((32, 32)), a_site[None], 10, a_px, angle=angle)
    expected = a_site + _rotation(angle) @ np.array([a_px / 2, a_px / 2])
    np.testing.assert_allclose(centres[0], expected, atol=1e-9)
    with pytest.raises(ValueError, match="lattice angle"):
        lattice_windows(np.zeros((32, 32)), a_site[None], 10, a_px, angle=float("nan"))


def test_lattice_windows_reach_past_the_border_with_edge_px() -> None:
    """``edge_px`` keeps sites near the border (padded with the background); 0 is the old behaviour."""
    from stemscan.agents.features.windows import lattice_windows

    smooth = np.full((32, 32), 0.1)
    bright = np.array([[2.0, 2.0]])  # its cell-centre sites sit at 2 ± 13 px: (15, 15) inside, others outside
    near = np.array([[-9.5, 16.0]])  # a site at row 3.5: a 10-px window reaches 1 px past the border
    whole, centres = lattice_windows(smooth, np.concatenate([bright, near]), 10, 26.0)
    padded, centres_padded = lattice_windows(smooth, np.concatenate([bright, near]), 10, 26.0, edge_px=2.0)
    assert len(padded) == len(whole) + 1 and np.allclose(padded, 0.1)
    assert any(np.allclose(c, [3.5, 3.0]) for c in centres_padded)
    with pytest.raises(ValueError, match="edge_px"):
        lattice_windows(smooth, bright, 10, 26.0, edge_px=5.0)
