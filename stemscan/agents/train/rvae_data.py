"""Pre-training data of the rVAE: scenes measured with shot noise, cut into windows as the agent cuts them."""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import ndimage

from stemscan.agents.features.peaks import window_corners
from stemscan.agents.features.windows import CENTRINGS, bond_angles, lattice_columns, lattice_windows, patch_windows

__all__ = ["rotate_windows", "windows_from_scenes"]


def rotate_windows(images: torch.Tensor, angles: torch.Tensor, size: int) -> torch.Tensor:
    """Rotate (N, S, S) images about their centres by ``angles`` (radians) and crop the central ``size``.

    Bilinear interpolation; pixels that come from outside the image take the
    border value, which the crop discards when ``S >= size * sqrt(2)``.
    """
    n, s = images.shape[0], images.shape[-1]
    if images.ndim != 3 or images.shape[1] != s or size > s:
        raise ValueError(f"rotate_windows needs (N, S, S) images with S >= size {size}, got {tuple(images.shape)}")
    cos, sin = torch.cos(angles), torch.sin(angles)
    theta = torch.zeros(n, 2, 3, dtype=images.dtype)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = cos, -sin, sin, cos
    grid = torch.nn.functional.affine_grid(theta, (n, 1, s, s), align_corners=False)
    rotated = torch.nn.functional.grid_sample(images[:, None], grid, align_corners=False, padding_mode="border")[:, 0]
    start = (s - size) // 2
    return rotated[:, start : start + size, start : start + size]


def _scene_lattice_windows(
    measured: np.ndarray,
    n_patches: int,
    patch_size: int,
    window: int,
    sigma: float,
    lattice_px: float,
    rng: np.random.Generator,
) -> list[np.ndarray]:
    """Lattice-centred windows of ``n_patches`` random patches of one measured field.

    The lattice angle is the median of every patch's :func:`bond_angles`.
    """
    size = measured.shape[0]
    columns = []
    for _ in range(n_patches):
        r0, c0 = rng.integers(0, size - patch_size + 1, 2)
        columns.append(lattice_columns(measured[r0 : r0 + patch_size, c0 : c0 + patch_size], sigma))
    samples = np.concatenate([bond_angles(bright, dim, lattice_px) for _, bright, dim in columns])
    angle = float(np.median(samples)) if samples.size else 0.0
    out = []
    for smooth, bright, _ in columns:
        cut, _ = lattice_windows(smooth, bright, window, lattice_px, angle=angle)
        if len(cut):
            out.append(cut)
    return out


def windows_from_scenes(
    families: list[str],
    n_scenes: int = 4,
    patches_per_scene: int = 128,
    window: int = 16,
    patch_size: int = 32,
    image_size: int = 512,
    electrons_per_pixel: float = 500.0,
    rotate_deg: float = 45.0,
    sigma: float = 1.0,
    seed: int = 0,
    sublattice: str = "all",
    centring: str = "peak",
    lattice_px: float | None = None,
) -> np.ndarray:
    """Pre-training windows: scenes measured with shot noise, cut as the agent cuts them.

    For each scene the whole field is measured at ``electrons_per_pixel``
    with the env's :class:`~stemscan.envs.microscope.Microscope`; random
    ``patch_size`` patches are drawn, atoms located with
    :func:`patch_windows`, and around each atom a larger crop is rotated by
    a random angle in ``±rotate_deg`` and cut to ``window`` pixels, so the
    rVAE sees every orientation it should be invariant to.  ``sublattice``
    selects the columns windows are centred on (see :func:`patch_windows`).
    With ``centring="lattice"`` the windows are cut exactly as the agent cuts
    them (sub-pixel, on ideal sites, the lattice angle pooled over the
    scene's patches as the agent pools it over an episode) and not rotated
    (``rotate_deg`` is ignored): a rotation would move the ideal site off
    the window centre.

    Returns:
        ``float32`` (N, window, window) windows.
    """
    from stemscan.envs.microscope import Microscope
    from stemscan.scenes import make as make_scene
    from stemscan.scenes import names as scene_names

    if centring not in CENTRINGS:
        raise ValueError(f"unknown centring {centring!r}; valid: {', '.join(CENTRINGS)}")
    if centring == "lattice" and lattice_px is None:
        raise ValueError("centring='lattice' needs lattice_px (the bright sublattice's cell side, pixels)")
    unknown = [name for name in families if name not in scene_names()]
    if unknown or not families:
        raise ValueError(f"unknown scene families {unknown or families!r}; valid names: {', '.join(scene_names())}")
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(int(seed))
    microscope = Microscope(electrons_per_pixel=float(electrons_per_pixel))
    big = int(math.ceil(window * math.sqrt(2))) + 2
    out: list[np.ndarray] = []
    for family in families:
        for _ in range(n_scenes):
            scene = make_scene(family, seed=int(rng.integers(2**31 - 1)), size=image_size)
            counts = microscope.counts(scene.image, microscope.electrons_per_pixel, rng)
            measured = microscope.normalise(counts, microscope.electrons_per_pixel, max(float(scene.image.max()), 1e-6))
            smooth = ndimage.gaussian_filter(measured.astype(np.float64), sigma)
            padded = np.pad(smooth, big, mode="reflect")
            crops = []
            if centring == "lattice":
                out.extend(_scene_lattice_windows(measured, patches_per_scene, patch_size, window, sigma, lattice_px, rng))
                continue
            for _ in range(patches_per_scene):
                r0, c0 = rng.integers(0, image_size - patch_size + 1, 2)
                _, peaks = patch_windows(
                    measured[r0 : r0 + patch_size, c0 : c0 + patch_size], window, sigma, sublattice=sublattice
                )
                corners = window_corners(peaks, (patch_size, patch_size), window)
                for r, c in corners + np.array([r0, c0]):  # window centre in the field, as the agent cuts it
                    cr, cc = r + window // 2 + big, c + window // 2 + big
                    crops.append(padded[cr - big // 2 : cr - big // 2 + big, cc - big // 2 : cc - big // 2 + big])
            if not crops:
                continue
            stack = torch.from_numpy(np.stack(crops).astype(np.float32))
            angles = (torch.rand(len(stack), generator=generator) * 2 - 1) * math.radians(rotate_deg)
            out.append(rotate_windows(stack, angles, window).numpy())
    if not out:
        raise ValueError("no atom columns found in any scene; nothing to train on")
    return np.concatenate(out).astype(np.float32)
