"""Per-grid-cell statistics of the low-dose survey, shared by the BO workflows' priors.

The survey (``observation["overview"]``, a coarse ``(1, S, S)`` uint8 image of
the whole field) is too coarse to resolve atoms, but it shows mesoscale
contrast: regions of different phase, thickness or composition.  The
functions here reduce it to one value per grid cell (row-major, as
:attr:`~stemscan.agents.base.FieldConfig.cell_centres`) for
:meth:`~stemscan.agents.bo.BOAgent.prior`.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from stemscan.agents.base import FieldConfig

__all__ = ["cell_of_overview_pixel", "survey_cell_statistics", "survey_edge_prior", "survey_gradient_prior"]


def cell_of_overview_pixel(field: FieldConfig) -> np.ndarray:
    """``(S, S)`` int array: the grid cell containing each overview pixel's centre."""
    size = field.overview_size
    height, width = field.shape
    g = field.geometry
    rows = g.cell_rows(((np.arange(size) + 0.5) * height / size).astype(int))
    cols = g.cell_cols(((np.arange(size) + 0.5) * width / size).astype(int))
    return rows[:, None] * g.n_cols + cols[None, :]


def _overview_image(overview: np.ndarray, field: FieldConfig) -> np.ndarray:
    """The survey as a ``(S, S)`` float image in [0, 1]; checks its shape."""
    image = np.asarray(overview)
    if image.ndim == 3 and image.shape[0] == 1:
        image = image[0]
    size = field.overview_size
    if image.shape != (size, size):
        raise ValueError(f"overview must have shape (1, {size}, {size}) or ({size}, {size}), got {np.shape(overview)}")
    return image.astype(np.float64) / 255.0


def _cell_means(values: np.ndarray, field: FieldConfig) -> np.ndarray | None:
    """``(n_cells,)`` mean of the ``(S, S)`` survey-pixel ``values`` over each grid cell; ``None`` if a cell has no pixel."""
    cells = cell_of_overview_pixel(field).ravel()
    n = field.geometry.n_rows * field.geometry.n_cols
    counts = np.bincount(cells, minlength=n)
    if (counts == 0).any():
        return None
    return np.bincount(cells, weights=values.ravel(), minlength=n) / counts


def survey_cell_statistics(overview: np.ndarray, field: FieldConfig) -> np.ndarray | None:
    """``(n_cells, 3)`` per-cell survey statistics: mean, within-cell spread, gradient magnitude.

    The survey (uint8 counts, scaled to [0, 1]) is averaged over each grid
    cell (noise down by the number of survey pixels per cell); the spread is
    the standard deviation of the survey pixels within the cell; the gradient
    is the Sobel gradient magnitude of the cell-mean map (edges: nearest),
    i.e. where the mesoscale contrast changes — boundaries between regions.
    All three are in survey units (fractions of the survey's full scale).

    Args:
        overview: ``observation["overview"]``, shape ``(1, S, S)`` or ``(S, S)``.
        field: The agent's :class:`~stemscan.agents.base.FieldConfig`.

    Returns:
        The statistics, or ``None`` when some grid cell holds no survey pixel
        (overview coarser than the grid: no per-cell estimate).
    """
    image = _overview_image(overview, field)
    mean = _cell_means(image, field)
    if mean is None:
        return None
    square = _cell_means(image**2, field)
    spread = np.sqrt(np.maximum(square - mean**2, 0.0))
    grid = mean.reshape(field.geometry.n_rows, field.geometry.n_cols)
    gradient = np.hypot(ndimage.sobel(grid, 0, mode="nearest"), ndimage.sobel(grid, 1, mode="nearest")).ravel()
    return np.stack([mean, spread, gradient], axis=1)


def survey_gradient_prior(overview: np.ndarray, field: FieldConfig) -> np.ndarray | None:
    """``(n_cells,)`` Sobel gradient magnitude of the per-cell survey mean (see :func:`survey_cell_statistics`).

    High where the mesoscale contrast changes (interfaces, domain walls,
    particle edges); ``None`` when the overview is coarser than the grid.
    """
    stats = survey_cell_statistics(overview, field)
    return None if stats is None else stats[:, 2]


def survey_edge_prior(overview: np.ndarray, field: FieldConfig, sigma: float = 0.7) -> np.ndarray | None:
    """``(n_cells,)`` mean edge strength of the survey inside each grid cell.

    The survey (scaled to [0, 1]) is smoothed by a Gaussian of ``sigma``
    survey pixels, its Sobel gradient magnitude taken at survey resolution
    (edges: nearest) and averaged over each cell's survey pixels: high in
    cells that hold an edge of their own (a particle's rim, an interface, a
    bright point feature), where :func:`survey_gradient_prior` sees only
    contrast between neighbouring cells' means.  ``None`` when some grid
    cell holds no survey pixel.
    """
    image = _overview_image(overview, field)
    smooth = ndimage.gaussian_filter(image, sigma, mode="nearest") if sigma > 0 else image
    return _cell_means(np.hypot(ndimage.sobel(smooth, 0, mode="nearest"), ndimage.sobel(smooth, 1, mode="nearest")), field)
