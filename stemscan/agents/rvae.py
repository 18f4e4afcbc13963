"""Training, encoding and safe storage of the rotationally invariant VAE.

* :func:`patch_windows` locates atom columns in a sub-scan and cuts the
  windows the rVAE encodes;
* :func:`train_rvae` fits an :class:`~stemscan.agents.nets.rvae.RVAE` with
  the ELBO (offline, e.g. pre-training on scenes);
* :class:`OnlineTrainer` does a bounded number of gradient steps on a replay
  buffer of windows measured so far (used by the ``rvae-bo`` agent);
* :func:`encode` returns posterior means (angle, dy, dx, z…);
* :func:`save_rvae` / :func:`load_rvae` / :func:`pretrained` store weights as
  safetensors plus a JSON config, validated on load (never pickled);
* :func:`windows_from_scenes` builds a pre-training set from the synthetic
  scene families measured with the env's shot-noise model.

All randomness comes from explicit ``torch.Generator`` / ``numpy`` generators
seeded by the caller; nothing seeds a global generator.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from scipy import ndimage

from stemscan.agents.nets.rvae import RVAE, RVAEConfig
from stemscan.atomic import atomic_path, write_text_atomic
from stemscan.agents.peaks import (
    SUBLATTICES,
    bright_sublattice,
    find_peaks,
    interior_peaks,
    refine_peaks,
    window_corners,
)
from stemscan.validation import check_int, check_number, check_positive

__all__ = [
    "OnlineTrainer",
    "TrainResult",
    "elbo_loss",
    "CENTRINGS",
    "bond_angles",
    "lattice_columns",
    "encode",
    "lattice_windows",
    "load_rvae",
    "patch_windows",
    "pretrained",
    "pretrained_path",
    "rotate_windows",
    "save_rvae",
    "train_rvae",
    "windows_from_scenes",
]

#: Shipped pre-trained weights per window centring (config in the ``.json`` next to each).
_WEIGHTS = {
    "peak": Path(__file__).resolve().parent / "weights" / "rvae.safetensors",
    "lattice": Path(__file__).resolve().parent / "weights" / "rvae_lattice.safetensors",
}


#: Where :func:`patch_windows` centres its windows (see there).
CENTRINGS = ("peak", "lattice")


# --------------------------------------------------------------------- windows
def lattice_columns(
    patch: np.ndarray,
    sigma: float = 1.0,
    min_distance: int = 3,
    threshold: float = 4.0,
    max_peaks: int = 256,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Smoothed patch and sub-pixel positions of its bright and dim columns.

    Peaks are found with :func:`~stemscan.agents.peaks.find_peaks`, split
    into sublattices by height (:func:`~stemscan.agents.peaks.bright_sublattice`),
    spurious border peaks dropped (:func:`~stemscan.agents.peaks.interior_peaks`)
    and refined to sub-pixel precision (:func:`~stemscan.agents.peaks.refine_peaks`).

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
            near the border still gives a window: with a 26-px cell in a
            32-px patch, about 30% of patches hold no whole 10-px window
            around a cell centre, and ~2% with ``edge_px=2``.

    Returns:
        ``(windows, centres)``: ``float32`` (M, window, window) and ``float64``
        (M, 2) window centres ``(row, col)`` in patch pixels.
    """
    if not (np.isfinite(lattice_px) and lattice_px > 0):
        raise ValueError(f"lattice_px must be a positive number of pixels, got {lattice_px!r}")
    if not np.isfinite(angle):
        raise ValueError(f"the lattice angle must be a finite number of radians, got {angle!r}")
    check_number("edge_px", edge_px, 0.0, (window - 1) / 2.0)
    h, w = smooth.shape
    half = (window - 1) / 2.0
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
    grid = np.mgrid[:window, :window].reshape(2, -1).astype(np.float64) - half
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
) -> tuple[np.ndarray, np.ndarray]:
    """Locate atom columns in ``patch`` and cut a window around each.

    The patch is smoothed with a Gaussian of ``sigma`` pixels (shot noise),
    peaks are found with :func:`~stemscan.agents.peaks.find_peaks`, and
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
            perovskite; :func:`~stemscan.agents.peaks.bright_sublattice`).
            With one sublattice only, ``"dim"`` gives no windows.
        centring: ``"peak"``: windows centred on the chosen columns (shifted
            inside the patch near its border); ``"lattice"``: windows centred
            on the ideal cell-centre sites of the bright sublattice
            (:func:`lattice_windows`; ``sublattice`` is ignored).
        lattice_px: Cell side of the bright sublattice, pixels (needed for ``"lattice"``).
        lattice_angle: Rotation of the bright sublattice, radians (``"lattice"``
            only; estimate it with :func:`bond_angles`).

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
        return lattice_windows(smooth, bright, window, float(lattice_px), max_windows, lattice_angle)
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


# ------------------------------------------------------------------------ loss
def elbo_loss(
    model: RVAE,
    windows: torch.Tensor,
    generator: torch.Generator | None = None,
    recon_sigma: float = 0.05,
    kl_weight: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Negative ELBO per window: Gaussian reconstruction + KL to the factorised prior.

    Args:
        model: The rVAE.
        windows: (B, W, W) inputs.
        generator: Source of the reparameterisation noise.
        recon_sigma: Standard deviation of the Gaussian likelihood, in the
            windows' intensity units (about the shot noise of a smoothed patch;
            of a standardised window when the model standardises, see
            :meth:`~stemscan.agents.nets.rvae.RVAE.prepare`).
        kl_weight: Multiplier of the KL term (1 = the ELBO; < 1 a beta-VAE).

    Returns:
        ``(loss, reconstruction term, KL term)``, each a scalar averaged over the batch.
    """
    recon, mean, log_var = model(windows, generator)
    reconstruction = ((recon - model.prepare(windows)) ** 2).sum(dim=(1, 2)).mean() / (2.0 * recon_sigma**2)
    scales = model.prior_scales().to(mean.dtype)
    var = torch.exp(log_var)
    kl = (torch.log(scales) - 0.5 * log_var + (var + mean**2) / (2.0 * scales**2) - 0.5).sum(dim=1).mean()
    return reconstruction + kl_weight * kl, reconstruction, kl


# -------------------------------------------------------------------- training
@dataclass
class TrainResult:
    """A trained model and its per-epoch mean loss (negative ELBO per window)."""

    model: RVAE
    losses: list[float] = field(default_factory=list)


def _check_windows(windows: Any, window: int | None = None) -> np.ndarray:
    array = np.asarray(windows, dtype=np.float32)
    if array.ndim != 3 or array.shape[1] != array.shape[2]:
        raise ValueError(f"windows must be an (N, W, W) array, got shape {array.shape}")
    if window is not None and array.shape[1] != window:
        raise ValueError(f"windows are {array.shape[1]}×{array.shape[2]} px but the rVAE expects {window}×{window}")
    if not np.isfinite(array).all():
        raise ValueError("windows contain NaN or infinity")
    return array


def train_rvae(
    windows: np.ndarray,
    model: RVAE | None = None,
    config: RVAEConfig | None = None,
    epochs: int = 20,
    batch_size: int = 128,
    lr: float = 3e-3,
    recon_sigma: float = 0.05,
    kl_weight: float = 1.0,
    seed: int = 0,
    progress: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Fit an rVAE to windows by minimising the negative ELBO with Adam.

    Args:
        windows: (N, W, W) training windows (e.g. from :func:`windows_from_scenes`).
        model: Model to continue training (warm start); a new one from
            ``config`` (or the default config with ``window = W``) if None.
        config: Architecture of a new model (ignored when ``model`` is given).
        epochs: Passes over the data.
        batch_size: Windows per gradient step.
        lr: Adam learning rate.
        recon_sigma: Likelihood width (see :func:`elbo_loss`).
        kl_weight: KL multiplier (see :func:`elbo_loss`).
        seed: Seeds initialisation, shuffling and sampling (a ``torch.Generator``).
        progress: Called as ``progress(epoch, mean_loss)`` after each epoch.

    Returns:
        :class:`TrainResult` with the model in eval mode.
    """
    check_int("epochs", epochs, 1)
    check_int("batch_size", batch_size, 1)
    check_positive("lr", lr)
    if model is None:
        first = _check_windows(windows)
        config = config or RVAEConfig(window=int(first.shape[1]))
        model = new_model(config, seed)
    data = torch.from_numpy(_check_windows(windows, model.config.window))
    if len(data) == 0:
        raise ValueError("no training windows")
    generator = torch.Generator().manual_seed(int(seed))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    result = TrainResult(model=model)
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(data), generator=generator)
        total, count = 0.0, 0
        for start in range(0, len(data), batch_size):
            batch = data[order[start : start + batch_size]]
            loss, _, _ = elbo_loss(model, batch, generator, recon_sigma, kl_weight)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch)
            count += len(batch)
        result.losses.append(total / count)
        if progress is not None:
            progress(epoch, result.losses[-1])
    model.eval()
    return result


def new_model(config: RVAEConfig, seed: int) -> RVAE:
    """A freshly initialised rVAE, its weights drawn from ``seed`` (no global RNG)."""
    generator = torch.Generator().manual_seed(int(seed))
    model = _build(config)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.ndim == 2:  # Linear weight: uniform(-1/sqrt(fan_in), +) like PyTorch's default
                bound = 1.0 / math.sqrt(parameter.shape[1])
                parameter.copy_((torch.rand(parameter.shape, generator=generator) * 2 - 1) * bound)
            else:
                parameter.zero_()
    return model


def _build(config: RVAEConfig) -> RVAE:
    """An RVAE whose default initialisation leaves torch's global generator untouched (weights are set after)."""
    with torch.random.fork_rng(devices=[]):
        return RVAE(config)


class OnlineTrainer:
    """Bounded online training of an rVAE on a replay buffer of measured windows.

    Args:
        model: The model to train in place.
        seed: Seeds batch sampling and reparameterisation noise.
        buffer_size: Replay buffer capacity, windows (oldest dropped first).
        batch_size: Windows per gradient step.
        lr: Adam learning rate.
        recon_sigma: Likelihood width (see :func:`elbo_loss`).
        kl_weight: KL multiplier.
    """

    def __init__(
        self,
        model: RVAE,
        seed: int = 0,
        buffer_size: int = 2048,
        batch_size: int = 32,
        lr: float = 1e-3,
        recon_sigma: float = 0.05,
        kl_weight: float = 1.0,
    ) -> None:
        self.model = model
        self.generator = torch.Generator().manual_seed(int(seed))
        self.buffer_size = int(buffer_size)
        self.batch_size = int(batch_size)
        self.recon_sigma = float(recon_sigma)
        self.kl_weight = float(kl_weight)
        self.optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        w = model.config.window
        self.buffer = torch.empty((0, w, w), dtype=torch.float32)
        self.steps = 0

    def add(self, windows: np.ndarray) -> None:
        """Append windows to the replay buffer."""
        array = _check_windows(windows, self.model.config.window)
        if len(array):
            self.buffer = torch.cat([self.buffer, torch.from_numpy(array)])[-self.buffer_size :]

    def step(self, n_steps: int = 1) -> float | None:
        """Do ``n_steps`` Adam steps on random buffer batches; mean loss, or None if the buffer is empty."""
        if len(self.buffer) == 0 or n_steps <= 0:
            return None
        self.model.train()
        total = 0.0
        for _ in range(n_steps):
            index = torch.randint(len(self.buffer), (min(self.batch_size, len(self.buffer)),), generator=self.generator)
            loss, _, _ = elbo_loss(self.model, self.buffer[index], self.generator, self.recon_sigma, self.kl_weight)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            total += float(loss.detach())
        self.model.eval()
        self.steps += n_steps
        return total / n_steps


# -------------------------------------------------------------------- encoding
def encode(model: RVAE, windows: np.ndarray) -> np.ndarray:
    """Posterior means of (angle [rad], dy, dx [half-windows], z_1..z_k) for each window.

    Returns:
        ``float64`` (N, 3 + latent_dim); (0, 3 + latent_dim) for no windows.
    """
    if len(windows) == 0:
        return np.zeros((0, model.n_latent), dtype=np.float64)
    array = _check_windows(windows, model.config.window)
    with torch.no_grad():
        mean, _ = model.encode(torch.from_numpy(array))
    return mean.double().numpy()


# --------------------------------------------------------------------- storage
def _config_path(path: Path) -> Path:
    return path.with_suffix(".json")


def save_rvae(model: RVAE, path: str | os.PathLike, metadata: dict[str, Any] | None = None) -> Path:
    """Write weights to ``path`` (safetensors) and the config to ``path`` with suffix ``.json``, atomically.

    Args:
        model: The model.
        path: Target ``.safetensors`` file.
        metadata: Extra JSON-serialisable facts stored in the JSON (e.g. training data).

    Returns:
        The weights path.
    """
    from safetensors.torch import save_file

    target = Path(path)
    if target.suffix != ".safetensors":
        raise ValueError(f"rVAE weights must be saved to a .safetensors file, got {str(target)!r}")
    tensors = {name: value.detach().contiguous().clone() for name, value in model.state_dict().items()}
    document = {"model": "stemscan-rvae", "config": model.config.to_dict(), "metadata": metadata or {}}
    text = json.dumps(document, indent=2, sort_keys=True)
    with atomic_path(target) as tmp:
        save_file(tensors, tmp)
    write_text_atomic(_config_path(target), text + "\n")
    return target


def load_rvae(path: str | os.PathLike) -> RVAE:
    """Load an rVAE saved by :func:`save_rvae`, validating config, names, shapes and values.

    Only safetensors and JSON are read (no pickle).

    Raises:
        FileNotFoundError: The weights or their ``.json`` config are missing.
        ValueError: The files do not describe a valid stemscan rVAE.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    target = Path(path)
    config_file = _config_path(target)
    if not target.is_file():
        raise FileNotFoundError(f"rVAE weights not found: {str(target)!r}")
    if not config_file.is_file():
        raise FileNotFoundError(f"rVAE config not found: {str(config_file)!r} (expected next to the weights)")
    try:
        document = json.loads(config_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{str(config_file)!r} is not valid JSON: {error}") from error
    if not isinstance(document, dict) or document.get("model") != "stemscan-rvae" or "config" not in document:
        raise ValueError(f"{str(config_file)!r} is not a stemscan rVAE config (needs model='stemscan-rvae' and 'config')")
    try:
        config = RVAEConfig.from_dict(document["config"])
    except (TypeError, ValueError) as error:
        raise ValueError(f"invalid rVAE config in {str(config_file)!r}: {error}") from error
    try:
        tensors = load_file(str(target))
    except (SafetensorError, OSError, ValueError) as error:
        raise ValueError(f"{str(target)!r} is not a readable safetensors file: {error}") from error
    model = _build(config)
    expected = model.state_dict()
    if set(tensors) != set(expected):
        missing, extra = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
        raise ValueError(f"{str(target)!r} does not match the rVAE config: missing {missing}, unexpected {extra}")
    for name, value in tensors.items():
        if value.shape != expected[name].shape or value.dtype != expected[name].dtype:
            raise ValueError(
                f"{str(target)!r}: tensor {name!r} has shape {tuple(value.shape)} {value.dtype}, "
                f"expected {tuple(expected[name].shape)} {expected[name].dtype}"
            )
        if not torch.isfinite(value).all():
            raise ValueError(f"{str(target)!r}: tensor {name!r} contains NaN or infinity")
    model.load_state_dict(tensors, strict=True)
    model.eval()
    return model


def pretrained_path(centring: str = "peak") -> Path:
    """Path of the shipped pre-trained weights for windows cut with ``centring``.

    ``"peak"``: atom-centred windows of every scene family (16 px, 2 z,
    translation latent).  ``"lattice"``: windows on the ideal B sites of
    ``ferroelectric-domains`` (10 px, 1 z, no translation latent, a wide
    angle prior and standardised windows, so that the angle latent carries
    the B-site off-centring direction; see :mod:`stemscan.agents.rvae_train`).
    """
    if centring not in CENTRINGS:
        raise ValueError(f"unknown centring {centring!r}; valid: {', '.join(CENTRINGS)}")
    return _WEIGHTS[centring]


def pretrained(centring: str = "peak") -> RVAE:
    """The shipped rVAE for ``centring`` windows, pre-trained on synthetic scenes (``stemscan train rvae``)."""
    return load_rvae(pretrained_path(centring))


# ----------------------------------------------------------------- pretraining
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
