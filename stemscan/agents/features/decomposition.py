"""PCA or NMF of feature vectors, refitted as data arrive; loadings per vector."""

from __future__ import annotations

import warnings

import numpy as np

from stemscan.validation import check_int

__all__ = ["METHODS", "LinearDecomposition"]

#: Decomposition methods accepted by :class:`LinearDecomposition`.
METHODS = ("pca", "nmf")


class LinearDecomposition:
    """A linear decomposition ``X ≈ loadings @ components`` of non-negative feature vectors.

    ``"pca"``: principal components of the centred data (SVD); each
    component's sign is fixed so that its loadings are right-skewed (the rare
    extreme values, the interesting ones, are positive), making the result
    deterministic and "high = unusual".  ``"nmf"``: non-negative matrix
    factorisation (scikit-learn, ``nndsvda`` initialisation: deterministic).

    Args:
        method: ``"pca"`` or ``"nmf"``.
        n_components: Number of components (>= 1).
    """

    def __init__(self, method: str = "pca", n_components: int = 4) -> None:
        if method not in METHODS:
            raise ValueError(f"unknown decomposition {method!r}; valid: {', '.join(METHODS)}")
        check_int("n_components", n_components, 1)
        self.method = method
        self.n_components = int(n_components)
        self.components_: np.ndarray | None = None
        self.mean_: np.ndarray | None = None
        self._nmf = None

    @property
    def fitted(self) -> bool:
        return self.components_ is not None

    def fit(self, features: np.ndarray) -> "LinearDecomposition":
        """Fit on (n, d) features; uses min(n_components, n, d) components if fewer are available."""
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or len(x) < 2:
            raise ValueError(f"decomposition needs at least 2 feature vectors as an (n, d) array, got shape {x.shape}")
        k = min(self.n_components, x.shape[0], x.shape[1])
        if self.method == "pca":
            self.mean_ = x.mean(axis=0)
            _, _, vt = np.linalg.svd(x - self.mean_, full_matrices=False)
            components = vt[:k]
            loadings = (x - self.mean_) @ components.T
            centred = loadings - loadings.mean(axis=0)
            skew = (centred**3).mean(axis=0)
            components = components * np.where(skew < 0, -1.0, 1.0)[:, None]
            self.components_ = components
        else:
            from sklearn.decomposition import NMF

            self._nmf = NMF(n_components=k, init="nndsvda", max_iter=300, tol=1e-3)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._nmf.fit(np.maximum(x, 0.0))
            self.components_ = self._nmf.components_
        return self

    def transform(self, features: np.ndarray) -> np.ndarray:
        """Loadings (n, k) of (n, d) features."""
        if self.components_ is None:
            raise RuntimeError("LinearDecomposition.transform() before fit()")
        x = np.asarray(features, dtype=np.float64)
        if self.method == "pca":
            return (x - self.mean_) @ self.components_.T
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self._nmf.transform(np.maximum(x, 0.0))
