"""Descriptors of encoded atom windows (torch-free): which latent to follow, and one scalar per patch.

The rVAE (:mod:`stemscan.agents.rvae`) encodes each window into
``(angle, dy, dx, z_1..z_k)``; these functions turn a patch's encoded
windows into the scalar the BO core maximises, and find where a latent
field changes (domain walls).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "ANGLE",
    "DESCRIPTORS",
    "choose_target",
    "describe_patches",
    "domain_values",
    "example_target",
    "patch_descriptor",
    "polar_offset",
    "target_values",
    "wall_contrast",
]


#: Per-patch descriptors of the target latent ``v`` over the patch's windows.
DESCRIPTORS = ("outlier", "deviation", "spread", "mean", "similarity", "contrast")


#: The non-``z`` target: the angle latent, used as the unit vector ``(cos, sin)``.
ANGLE = "angle"


def patch_descriptor(kind: str, values: np.ndarray, reference: Any) -> float | None:
    """One patch's descriptor from its windows' target-latent values.

    Args:
        kind: ``"outlier"`` (max over windows of |value − reference|: the
            most unusual atom of the patch, e.g. a point defect; reference =
            median over all measured windows), ``"deviation"`` (|mean −
            reference|: how unusual the patch is as a whole; reference =
            median over measured patches), ``"spread"`` (standard
            deviation within the patch: high where different structures meet,
            e.g. a domain wall), ``"mean"`` (for the angle target: the
            circular mean, radians), ``"similarity"`` (−|mean − reference|:
            close to an example's latent), or ``"contrast"`` (this patch's part
            of :func:`wall_contrast`: its spread).
        values: Target-latent value of each window in the patch, (N,) or
            (N, d) (d = 2 for the angle target's ``(cos, sin)``); distances
            are Euclidean over the d components.
        reference: The reference value (median over patches, or the
            example's), a number or a (d,) vector.

    Returns:
        The descriptor, or None when the patch has no window.
    """
    array = np.asarray(values, dtype=np.float64)
    array = array.reshape(len(array), -1) if array.size else array.reshape(0, 1)
    if kind not in DESCRIPTORS:
        raise ValueError(f"unknown descriptor {kind!r}; valid: {', '.join(DESCRIPTORS)}")
    if len(array) == 0:
        return None
    ref = np.broadcast_to(np.asarray(reference, dtype=np.float64).reshape(-1), array.shape[1:])
    mean = array.mean(axis=0)
    if kind == "outlier":
        return float(np.linalg.norm(array - ref, axis=1).max())
    if kind == "deviation":
        return float(np.linalg.norm(mean - ref))
    if kind in ("spread", "contrast"):
        return float(np.sqrt(array.var(axis=0).sum()))
    if kind == "mean":
        return float(mean[0]) if len(mean) == 1 else float(np.arctan2(mean[1], mean[0]))
    return -float(np.linalg.norm(mean - ref))  # similarity


def target_values(latents: np.ndarray, target: int | str) -> np.ndarray:
    """(N, d) values of ``target`` for encoded windows (N, 3 + latent_dim).

    A ``z`` index gives (N, 1) ``z[target]``; :data:`ANGLE` gives the (N, 2)
    unit vector ``(cos, sin)`` of the angle latent (a circular quantity: an
    angle of π and −π are the same direction).
    """
    latents = np.asarray(latents, dtype=np.float64).reshape(-1, np.shape(latents)[-1])
    if target == ANGLE:
        return np.stack([np.cos(latents[:, 0]), np.sin(latents[:, 0])], axis=1)
    return latents[:, 3 + int(target)][:, None]


def choose_target(patch_latents: list[np.ndarray], candidates: list[int | str]) -> int | str:
    """The candidate target whose per-patch mean varies most across patches, in units of its prior.

    ``z`` latents have a unit-variance prior, and the angle's unit vector
    ``(cos, sin)`` has variance 1 (summed over both components) for
    directions uniform on the circle, so the summed variance of the patch
    means compares them on one scale: the share of the prior's spread that
    is spatial.  Ties (and fewer than two patches with windows) go to the
    first candidate.

    Args:
        patch_latents: Encoded windows (N_i, 3 + latent_dim) of each patch.
        candidates: Targets to choose from (``z`` indices and/or :data:`ANGLE`).
    """
    filled = [z for z in patch_latents if len(z)]
    if len(filled) < 2:
        return candidates[0]
    spatial = [
        float(np.stack([target_values(z, c).mean(axis=0) for z in filled]).var(axis=0).sum()) for c in candidates
    ]
    return candidates[int(np.argmax(spatial))]


def wall_contrast(means: np.ndarray, spreads: np.ndarray, positions: np.ndarray, radius: float) -> np.ndarray:
    """Per patch: how much its target latent differs from nearby patches and within itself.

    ``contrast_i = max(spread_i, max_j exp(−d_ij² / (2 radius²)) · |m_i − m_j|)``
    over the other patches ``j``, with ``m`` the patch means (d-vectors),
    ``d_ij`` the distance between patch centres: high on both sides of a
    boundary between regions of different latent (a domain wall), low inside
    a uniform region.

    Args:
        means: (n, d) patch means of the target latent.
        spreads: (n,) within-patch spreads (:func:`patch_descriptor` ``"spread"``).
        positions: (n, 2) patch centres, in the units of ``radius``.
        radius: Length over which neighbours count, same units (> 0).

    Returns:
        ``float64`` (n,) contrasts.
    """
    means = np.asarray(means, dtype=np.float64).reshape(len(means), -1)
    positions = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
    distance = np.linalg.norm(positions[:, None] - positions[None], axis=-1)
    weight = np.exp(-(distance**2) / (2.0 * radius**2))
    np.fill_diagonal(weight, 0.0)
    change = np.linalg.norm(means[:, None] - means[None], axis=-1)
    neighbour = (weight * change).max(axis=1) if len(means) > 1 else np.zeros(len(means))
    return np.maximum(np.asarray(spreads, dtype=np.float64), neighbour)


def polar_offset(angles: np.ndarray, n_fold: int) -> float:
    """Offset ``φ`` of ``n_fold`` equally spaced directions ``φ + 2πk / n_fold`` that best fit ``angles``.

    The circular mean of ``n_fold · angle`` divided by ``n_fold`` (radians,
    in (−π/n_fold, π/n_fold]); 0 for no angles.  Ferroelectric polarisation
    variants seen along [001] come in ``n_fold = 4`` directions 90° apart,
    so the angle latents of the measured windows cluster around them.
    """
    angles = np.asarray(angles, dtype=np.float64).ravel()
    if not angles.size:
        return 0.0
    total = np.exp(1j * n_fold * angles).sum()
    return float(np.angle(total) / n_fold) if abs(total) > 0 else 0.0


def example_target(latents: list[np.ndarray], example: np.ndarray, candidates: list[int | str]) -> int | str:
    """The candidate target in which an example stands out most from the measured patches (in their spreads).

    Args:
        latents: Encoded windows (N_i, 3 + latent_dim) of each measured patch (at least one non-empty).
        example: Encoded windows of the example.
        candidates: Targets to choose from (``z`` indices and/or :data:`ANGLE`).
    """
    scores = []
    for candidate in candidates:
        means = np.stack([target_values(z, candidate).mean(axis=0) for z in latents if len(z)])
        own = target_values(example, candidate).mean(axis=0)
        scores.append(float(np.linalg.norm((own - np.median(means, axis=0)) / (means.std(axis=0) + 1e-6))))
    return candidates[int(np.argmax(scores))]


def describe_patches(
    latents: list[np.ndarray],
    target: int | str,
    kind: str,
    example: np.ndarray | None,
    positions: np.ndarray,
    radius: float,
) -> list[float]:
    """Every measured patch's descriptor of its windows' ``target`` latent (the scalar the BO core maximises).

    Args:
        latents: Encoded windows (N_i, 3 + latent_dim) of each patch.
        target: A ``z`` index or :data:`ANGLE`.
        kind: One of :data:`DESCRIPTORS` (see :func:`patch_descriptor`).
        example: Encoded windows of an example (its mean is the reference),
            or None (reference: the median over windows for ``"outlier"``,
            over patch means otherwise).
        positions: (n, 2) patch centres, in the units of ``radius`` (``"contrast"`` only).
        radius: Neighbour distance of ``"contrast"`` (:func:`wall_contrast`).

    Returns:
        One float per patch; a patch without windows gets the lowest
        descriptor of the others (0 when none has windows): uninteresting.
    """
    values = [target_values(z, target) for z in latents]
    if example is not None:
        reference = target_values(example, target).mean(axis=0)
    elif kind == "outlier":
        every = np.concatenate(values)
        reference = np.median(every, axis=0) if len(every) else 0.0
    else:
        means = [v.mean(axis=0) for v in values if len(v)]
        reference = np.median(np.stack(means), axis=0) if means else 0.0
    described = [patch_descriptor(kind, v, reference) for v in values]
    have = [i for i, v in enumerate(values) if len(v)]
    if kind == "contrast" and have:
        means = np.stack([values[i].mean(axis=0) for i in have])
        contrast = wall_contrast(means, np.array([described[i] for i in have]), positions[have], radius)
        for i, c in zip(have, contrast):
            described[i] = float(c)
    known = [v for v in described if v is not None]
    fill = float(np.min(known)) if known else 0.0
    return [fill if v is None else v for v in described]


def domain_values(latents: list[np.ndarray], target: int | str, n_fold: int) -> np.ndarray | None:
    """Per patch, its signed domain value (a row of NaN for a patch without windows); None if no patch has any.

    Angle target: the patch mean of ``(cos α, sin α)``, ``α`` the angle
    latent measured from the fitted polarisation frame (:func:`polar_offset`
    with ``n_fold`` directions), so the domain directions sit at
    ``α = 2πk / n_fold``.  ``z`` target: the patch mean minus the median
    over patches (level 0).

    Returns:
        ``float64`` (n_patches, 2) for the angle, (n_patches, 1) for a ``z``.
    """
    have = [i for i, z in enumerate(latents) if len(z)]
    if not have:
        return None
    if target == ANGLE:
        angles = [latents[i][:, 0] for i in have]
        phi = polar_offset(np.concatenate(angles), n_fold)
        values = np.stack([[np.cos(a - phi).mean(), np.sin(a - phi).mean()] for a in angles])
    else:
        means = np.array([target_values(latents[i], target).mean() for i in have])
        values = (means - np.median(means))[:, None]
    out = np.full((len(latents), values.shape[1]), np.nan)
    out[have] = values
    return out
