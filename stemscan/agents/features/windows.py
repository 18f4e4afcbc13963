"""Atom windows cut from a sub-scan: what the rVAE encodes (torch-free).

* :func:`patch_windows` locates atom columns in a patch and cuts a window
  around each (``centring="peak"``), or on the ideal B sites of a
  perovskite-like lattice (``centring="lattice"``, via
  :func:`lattice_columns`, :func:`bond_angles` and :func:`lattice_windows`).

Positions are ``(row, col)`` in patch pixels; angles in radians, in the
scenes' convention (:func:`stemscan.scenes.lattices.rotation`).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from stemscan.agents.features.lattice_estimate import perovskite_lattice
from stemscan.agents.features.peaks import (
    SUBLATTICES,
    bright_sublattice,
    find_peaks,
    interior_peaks,
    refine_peaks,
    window_corners,
)
from stemscan.validation import check_number

__all__ = ["CENTRINGS", "LatticeWindowCutter", "bond_angles", "lattice_columns", "lattice_windows", "patch_windows"]


#: Where :func:`patch_windows` centres its windows (see there).
CENTRINGS = ("peak", "lattice")


def lattice_columns(
    patch: np.ndarray,
    sigma: float = 1.0,
    min_distance: int = 3,
    threshold: float = 4.0,
    max_peaks: int = 256,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Smoothed patch and sub-pixel positions of its bright and dim columns.

    Peaks are found with :func:`~stemscan.agents.features.peaks.find_peaks`, split
    into sublattices by height (:func:`~stemscan.agents.features.peaks.bright_sublattice`),
    spurious border peaks dropped (:func:`~stemscan.agents.features.peaks.interior_peaks`)
    and refined to sub-pixel precision (:func:`~stemscan.agents.features.peaks.refine_peaks`).

    Returns:
        ``(smooth, bright, dim)``: the (H, W) smoothed patch and ``float64``
        (N, 2) / (M, 2) ``(row, col)`` positions in patch pixels.
    """
    array = np.asarray(patch, dtype=np.float64)
    smooth = ndimage.gaussian_filter(array, sigma) if sigma > 0 else array
    peaks = find_peaks(array, sigma=sigma, min_distance=min_distance, threshold=threshold, max_peaks=max_peaks)
    empty = np.zeros((0, 2), dtype=np.float64)
    if not len(peaks):
        return smooth, empty, empty
    bright = bright_sublattice(smooth[peaks[:, 0].astype(np.int64), peaks[:, 1].astype(np.int64)])
    inner = interior_peaks(peaks, smooth.shape)
    dim = peaks[~bright & inner] if (~bright).any() else empty
    return smooth, refine_peaks(smooth, peaks[bright & inner]), refine_peaks(smooth, dim)


def bond_angles(bright: np.ndarray, dim: np.ndarray, lattice_px: float) -> np.ndarray:
    """Lattice rotation samples from bright-to-dim column bonds of a perovskite-like cell, radians.

    A dim (B-site) column sits near the centre of each square cell of bright
    columns, so a bright-to-dim bond of length ~``lattice_px / sqrt(2)``
    points along a cell diagonal rotated by the lattice angle.  Each such
    bond gives one sample of that angle, in the scenes' convention
    (:func:`stemscan.scenes.lattices.rotation` applied to ``(row, col)``
    vectors), within ±45°.  A B-site off-centring tilts single bonds by a
    few degrees; the median over many bonds (cells and domains) averages it
    out, which is how :class:`~stemscan.agents.rvae_bo.RVAEBOAgent` pools them.

    Args:
        bright, dim: (N, 2) / (M, 2) sub-pixel positions, pixels.
        lattice_px: Cell side of the bright sublattice, pixels.

    Returns:
        ``float64`` (K,) angles, radians; empty when no bond is found.
    """
    if not len(bright) or not len(dim):
        return np.zeros(0, dtype=np.float64)
    bonds = (dim[None, :, :] - bright[:, None, :]).reshape(-1, 2)
    length = np.hypot(bonds[:, 0], bonds[:, 1])
    bonds = bonds[(length > 0.55 * lattice_px) & (length < 0.85 * lattice_px)]
    direction = np.arctan2(bonds[:, 0], bonds[:, 1])  # (row, col): the scene's rotation turns this the other way
    deviation = np.mod(direction - np.pi / 4 + np.pi / 4, np.pi / 2) - np.pi / 4
    return -deviation


def _rotation(angle: float) -> np.ndarray:
    """2×2 matrix rotating ``(row, col)`` vectors by ``angle`` radians (the scenes' convention)."""
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s], [s, c]])


def lattice_windows(
    smooth: np.ndarray,
    bright: np.ndarray,
    window: int,
    lattice_px: float,
    max_windows: int = 64,
    angle: float = 0.0,
    edge_px: float = 0.0,
    scale: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Windows centred on the *ideal* cell-centre sites of a square lattice of bright columns.

    In a perovskite seen along [001] the bright A-site columns form a square
    lattice of side ``lattice_px`` and the dim B-site column sits near each
    cell centre, off-centred by the local polarisation.  From each bright
    column the four points ``A + R(angle) lattice_px / 2 · (±1, ±1)`` are
    candidate ideal sites; candidates closer than ``lattice_px / 4`` (the
    same site seen from several corners) are averaged, and sites where a
    whole window fits inside the image are sampled (bilinear) as window
    centres.  The B column then sits in its window displaced from the centre
    by exactly its off-centring, a signal a peak-centred window removes (it
    centres on the displaced column) and a translation latent absorbs; use
    an rVAE with ``translation=False`` on these windows.  ``angle`` matters:
    at half a cell diagonal (~19 px) a 3° lattice rotation moves the ideal
    site by 1 px, as much as a 15 pm displacement at 0.15 Å/px.

    Args:
        smooth: (H, W) smoothed patch.
        bright: (N, 2) sub-pixel positions of the bright columns, pixels
            (:func:`lattice_columns`).
        window: Window side, pixels.
        lattice_px: Side of the bright sublattice's square cell, pixels (> 0).
        max_windows: At most this many windows.
        angle: Lattice rotation, radians (scenes' convention; :func:`bond_angles`).
        edge_px: How far a window may reach beyond the patch border, pixels
            (>= 0; default 0: whole windows only).  The part outside is
            filled with the smoothed patch's median (background), so a site
            near the border still gives a window (with cells nearly as
            large as the patch, many patches hold no whole window; figures
            in the README).
        scale: Patch pixels per window pixel (> 0; default 1): a window
            covers ``window * scale`` patch pixels, resampled to ``window``,
            so a model trained at one sampling reads a lattice imaged at
            another (``scale`` = this lattice's cell / the training cell).

    Returns:
        ``(windows, centres)``: ``float32`` (M, window, window) and ``float64``
        (M, 2) window centres ``(row, col)`` in patch pixels.
    """
    if not (np.isfinite(lattice_px) and lattice_px > 0):
        raise ValueError(f"lattice_px must be a positive number of pixels, got {lattice_px!r}")
    if not np.isfinite(angle):
        raise ValueError(f"the lattice angle must be a finite number of radians, got {angle!r}")
    check_number("edge_px", edge_px, 0.0, (window - 1) / 2.0)
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive number of patch pixels per window pixel, got {scale!r}")
    h, w = smooth.shape
    half = (window - 1) / 2.0 * scale
    corners = lattice_px / 2.0 * np.array([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]]) @ _rotation(angle).T
    groups: list[list[np.ndarray]] = []
    for a in np.asarray(bright, dtype=np.float64).reshape(-1, 2):
        for site in a + corners:
            for group in groups:
                if np.hypot(*(site - group[0])) < lattice_px / 4.0:
                    group.append(site)
                    break
            else:
                groups.append([site])
    centres = [np.mean(group, axis=0) for group in groups]
    low = half - float(edge_px)
    centres = [c for c in centres if low <= c[0] <= h - 1 - low and low <= c[1] <= w - 1 - low]
    centres_array = np.array(centres[:max_windows], dtype=np.float64).reshape(-1, 2)
    grid = (np.mgrid[:window, :window].reshape(2, -1).astype(np.float64) - (window - 1) / 2.0) * scale
    windows = np.empty((len(centres_array), window, window), dtype=np.float32)
    if edge_px > 0:
        background = float(np.median(smooth))
        for i, centre in enumerate(centres_array):
            windows[i] = ndimage.map_coordinates(
                smooth, grid + centre[:, None], order=1, mode="constant", cval=background
            ).reshape(window, window)
        return windows, centres_array
    for i, centre in enumerate(centres_array):
        windows[i] = ndimage.map_coordinates(smooth, grid + centre[:, None], order=1).reshape(window, window)
    return windows, centres_array


def patch_windows(
    patch: np.ndarray,
    window: int,
    sigma: float = 1.0,
    min_distance: int = 3,
    threshold: float = 4.0,
    max_windows: int = 64,
    sublattice: str = "all",
    centring: str = "peak",
    lattice_px: float | None = None,
    lattice_angle: float = 0.0,
    scale: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Locate atom columns in ``patch`` and cut a window around each.

    The patch is smoothed with a Gaussian of ``sigma`` pixels (shot noise),
    peaks are found with :func:`~stemscan.agents.features.peaks.find_peaks`, and
    windows are cut from the smoothed patch, shifted inside its border.

    Args:
        patch: (P, P) normalised sub-scan.
        window: Window side, pixels (<= P).
        sigma: Smoothing width, pixels.
        min_distance: Smallest distance between two columns, pixels.
        threshold: Peak threshold, in noise standard deviations of the smoothed patch above its median.
        max_windows: At most this many windows (brightest columns first).
        sublattice: Centre windows on ``"all"`` columns, only the ``"bright"``
            ones or only the ``"dim"`` ones (e.g. the B sites of a
            perovskite; :func:`~stemscan.agents.features.peaks.bright_sublattice`).
            With one sublattice only, ``"dim"`` gives no windows.
        centring: ``"peak"``: windows centred on the chosen columns (shifted
            inside the patch near its border); ``"lattice"``: windows centred
            on the ideal cell-centre sites of the bright sublattice
            (:func:`lattice_windows`; ``sublattice`` is ignored).
        lattice_px: Cell side of the bright sublattice, pixels (needed for ``"lattice"``).
        lattice_angle: Rotation of the bright sublattice, radians (``"lattice"``
            only; estimate it with :func:`bond_angles`).
        scale: Patch pixels per window pixel (``"lattice"`` only; :func:`lattice_windows`).

    Returns:
        ``(windows, centres)``: ``float32`` (N, window, window) and ``float64``
        (N, 2) ``(row, col)`` in patch pixels of the column each window is
        centred on (``"peak"``) or of the window centre (``"lattice"``).
    """
    array = np.asarray(patch, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"patch must be a 2D image, got shape {array.shape}")
    if window > min(array.shape):
        raise ValueError(f"window {window} px is larger than the patch {array.shape[0]}×{array.shape[1]} px")
    if sublattice not in SUBLATTICES:
        raise ValueError(f"unknown sublattice {sublattice!r}; valid: {', '.join(SUBLATTICES)}")
    if centring not in CENTRINGS:
        raise ValueError(f"unknown centring {centring!r}; valid: {', '.join(CENTRINGS)}")
    if centring == "lattice":
        if lattice_px is None:
            raise ValueError("centring='lattice' needs lattice_px (the bright sublattice's cell side, pixels)")
        smooth, bright, _ = lattice_columns(array, sigma, min_distance, threshold, 4 * max_windows)
        return lattice_windows(smooth, bright, window, float(lattice_px), max_windows, lattice_angle, scale=scale)
    smooth = ndimage.gaussian_filter(array, sigma) if sigma > 0 else array
    limit = max_windows if sublattice == "all" else 4 * max_windows
    peaks = find_peaks(array, sigma=sigma, min_distance=min_distance, threshold=threshold, max_peaks=limit)
    if sublattice != "all" and len(peaks):
        bright = bright_sublattice(smooth[peaks[:, 0].astype(np.int64), peaks[:, 1].astype(np.int64)])
        peaks = peaks[bright if sublattice == "bright" else ~bright][:max_windows]
    corners = window_corners(peaks, smooth.shape, window)
    windows = np.empty((len(corners), window, window), dtype=np.float32)
    for i, (r0, c0) in enumerate(corners):
        windows[i] = smooth[r0 : r0 + window, c0 : c0 + window]
    return windows, peaks


class LatticeWindowCutter:
    """Lattice-centred windows of an episode's patches, all at the lattice angle pooled over them.

    Each patch's columns are located once (:func:`lattice_columns`) and its
    bright-to-dim bonds (:func:`bond_angles`) join the pool; the lattice
    angle is their median.  When it moves, the earlier patches are re-cut at
    the new angle (cheap: their columns are kept).  With ``reference_px``
    the cell side is pooled too: re-estimated from every patch's bonds
    (:func:`~stemscan.agents.features.lattice_estimate.perovskite_lattice`)
    and the window ``scale`` kept at ``lattice_px / reference_px``.

    Args:
        window: Window side, pixels.
        lattice_px: Cell side of the bright sublattice, pixels.
        smoothing, min_distance, threshold: Peak finding (:func:`lattice_columns`).
        max_windows: At most this many windows per patch.
        edge_px: How far a window may reach past the patch border, pixels (:func:`lattice_windows`).
        scale: Patch pixels per window pixel (:func:`lattice_windows`).
        reference_px: Cell side the windows' model was trained at, pixels;
            given, ``lattice_px`` is only the starting estimate and is
            pooled over the episode.

    Attributes:
        angle: The pooled lattice angle, radians (0 before any bond is seen).
        lattice_px: The cell side in use, pixels.
    """

    def __init__(
        self,
        window: int,
        lattice_px: float,
        smoothing: float,
        min_distance: int,
        threshold: float,
        max_windows: int,
        edge_px: float = 0.0,
        scale: float = 1.0,
        reference_px: float | None = None,
    ) -> None:
        self.window, self.lattice_px, self.edge_px = int(window), float(lattice_px), float(edge_px)
        self.scale = float(scale)
        self.reference_px = None if reference_px is None else float(reference_px)
        self.smoothing, self.min_distance, self.threshold = smoothing, min_distance, threshold
        self.max_windows = int(max_windows)
        self.angle = 0.0
        self._columns: list[tuple[np.ndarray, np.ndarray]] = []  # (smooth patch, bright columns) per patch
        self._sublattices: list[tuple[np.ndarray, np.ndarray]] = []  # (bright, dim) columns per patch
        self._bonds: list[np.ndarray] = []  # bond-angle samples per patch, at cell side _bonds_px
        self._bonds_px = self.lattice_px

    def add(self, patch: np.ndarray) -> tuple[np.ndarray, list[np.ndarray] | None]:
        """The new patch's windows, and every earlier patch's windows re-cut if the angle moved (else None)."""
        smooth, bright, dim = lattice_columns(patch, self.smoothing, self.min_distance, self.threshold,
                                              4 * self.max_windows)
        self._columns.append((smooth, bright))
        self._sublattices.append((bright, dim))
        lattice_px = self.lattice_px
        if self.reference_px is not None:
            estimate = perovskite_lattice(self._sublattices)
            lattice_px = self.lattice_px if estimate is None else estimate.lattice_px
        if lattice_px == self._bonds_px:  # only the new patch's bonds; all again when the cell side moved
            self._bonds.append(bond_angles(bright, dim, lattice_px))
        else:
            self._bonds = [bond_angles(b, d, lattice_px) for b, d in self._sublattices]
            self._bonds_px = lattice_px
        samples = np.concatenate(self._bonds)
        angle = float(np.median(samples)) if samples.size else 0.0
        recut = None
        if angle != self.angle or lattice_px != self.lattice_px:
            self.angle, self.lattice_px = angle, lattice_px
            if self.reference_px is not None:
                self.scale = lattice_px / self.reference_px
            recut = [self._cut(columns) for columns in self._columns[:-1]]
        return self._cut(self._columns[-1]), recut

    def _cut(self, columns: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        smooth, bright = columns
        return lattice_windows(
            smooth, bright, self.window, self.lattice_px, self.max_windows, self.angle, self.edge_px, self.scale
        )[0]
