"""PCA / NMF of local spectra."""

from __future__ import annotations


import numpy as np
import pytest

import stemscan  # noqa: F401  (registers STEMScan-v0)
from stemscan.agents.features.decomposition import LinearDecomposition


def test_pca_sign_makes_rare_extremes_positive() -> None:
    rng = np.random.default_rng(1)
    direction = np.array([1.0, -2.0, 0.5]) / np.linalg.norm([1.0, -2.0, 0.5])
    amplitude = np.where(rng.random(300) < 0.05, -8.0, 0.0) + rng.normal(0, 0.3, 300)
    x = 5 + amplitude[:, None] * direction + rng.normal(0, 0.05, (300, 3))
    dec = LinearDecomposition("pca", 2).fit(x)
    loadings = dec.transform(x)[:, 0]
    assert loadings.max() > 5 and loadings.min() > -3  # the rare tail is on the positive side


def test_nmf_loadings_are_non_negative() -> None:
    x = np.abs(np.random.default_rng(2).normal(size=(40, 6)))
    loadings = LinearDecomposition("nmf", 3).fit(x).transform(x)
    assert loadings.shape == (40, 3) and (loadings >= 0).all()
    with pytest.raises(ValueError, match="decomposition"):
        LinearDecomposition("ica", 3)
