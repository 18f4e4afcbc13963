"""Every sub-env's step in one compiled call: the vector env's kernel, and the rng read inside it.

:class:`~stemscan.envs.vector_env.STEMScanVectorEnv` steps ``N`` episodes
whose arrays (the scene's sampler state and labels, the episode's maps and
discovery counts) belong to ``N`` :class:`~stemscan.envs.stem_scan_env.STEMScanEnv`
objects and change at each reset.  :func:`step_envs` takes them as a table
of addresses (:func:`env_addresses`, refreshed after each reset of a
sub-env) and runs :func:`~stemscan.envs.record.acquire_patch` for every
active sub-env in one call, with no Python per sub-env.

The random numbers come from each sub-env's own ``np_random``, read in the
kernel through its bit generator's C interface
(:mod:`stemscan.envs.bit_generator`): the same numbers in the same order as
a single env draws them, so every sub-env's noise is bit for bit that of a
single env with the same seed (``tests/envs/test_vector_env.py``,
``tests/envs/test_golden.py``).

A step is memory-bound: a sub-scan at a random place reads ~6 per-pixel
maps (sampler state, labels, episode stamp/measured) over 32 scattered rows each,
and N sub-envs over a scene pool hold hundreds of MB of them.  So the
kernels prefetch (``llvm.prefetch``, a hint with no effect on results) a
sub-scan's rows before drawing it, and the next sub-env's rows
while the current one is drawn: ~2× the steps/s of the same loops without.

The addresses are only valid while the arrays and generators they point to
are alive: the caller keeps the owning sub-env (and :func:`env_addresses`'s
``keep`` list) alive and refreshes the row after anything replaces one.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from stemscan.envs.record import acquire_patch
from stemscan.envs.shot_noise import poisson_fill

__all__ = ["N_ADDRESSES", "acquire_from_rng", "env_addresses", "sample_patches", "step_envs"]

#: Columns of the address table: the arrays of :func:`step_envs`, then ``next_uint64`` and its state.
(_MEAN, _ROW, _AUX, _LABELS, _STAMP, _MEASURED, _LABEL_SCANNED, _PENDING, _SURVEY, _COARSE_SUMS,
 _COARSE_U8, _COUNTS_TO_PATCH, _NEXT_UINT64, _RNG_STATE) = range(14)  # fmt: skip
N_ADDRESSES = 14


@intrinsic
def _as_pointer(typingctx, address):  # noqa: ANN001, ANN202, ARG001
    """``void *`` from an integer address."""
    sig = types.voidptr(types.int64)

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202, ARG001
        return builder.inttoptr(args[0], cgutils.voidptr_t)

    return sig, codegen


@intrinsic
def _prefetch(typingctx, address):  # noqa: ANN001, ANN202, ARG001
    """Hint the CPU to load the cache line at ``address`` (integer) for reading; no effect on results."""
    sig = types.void(types.int64)

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202, ARG001
        int32 = ir.IntType(32)
        function = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [cgutils.voidptr_t, int32, int32, int32]), "llvm.prefetch.p0"
        )
        builder.call(function, [builder.inttoptr(args[0], cgutils.voidptr_t), int32(0), int32(3), int32(1)])
        return context.get_dummy_value()

    return sig, codegen


@numba.njit(cache=True, nogil=True, inline="always")
def _prefetch_patch(a, r0, c0, rows, cols, width):  # noqa: ANN001, ANN202
    """Prefetch the rows of a sub-scan at ``(r0, c0)`` in the per-pixel arrays at addresses ``a``."""
    for r in range(r0, r0 + rows):
        pixel = r * width + c0
        for column, itemsize in ((_ROW, 2), (_AUX, 8), (_MEAN, 8), (_STAMP, 2), (_MEASURED, 4), (_LABELS, 4)):
            start = a[column] + pixel * itemsize
            end = start + cols * itemsize
            line = start - start % 64
            while line < end:
                _prefetch(line)
                line += 64


@numba.njit(cache=True, nogil=True, inline="always")
def _prefetch_rows(array, r0, c0, rows, cols):  # noqa: ANN001, ANN202
    """Prefetch ``array[r0 : r0 + rows, c0 : c0 + cols]`` (C-contiguous 2-D)."""
    itemsize = array.itemsize
    base = np.int64(array.ctypes.data)
    for r in range(r0, r0 + rows):
        start = base + (r * array.shape[1] + c0) * itemsize
        end = start + cols * itemsize
        line = start - start % 64
        while line < end:
            _prefetch(line)
            line += 64


def _address_signatures() -> list:
    """``_data_addresses``'s signatures: each array's dtype and rank, C-contiguous; the scene's labels writeable or not."""

    def array(dtype, ndim, readonly=False):  # noqa: ANN001, ANN202
        return types.Array(dtype, ndim, "C", readonly=readonly)

    f64, i64 = types.float64, types.int64
    signatures = []
    for labels_readonly in (False, True):
        signatures.append(types.void(
            array(i64, 1), array(f64, 2, True), array(types.int16, 2, True), array(f64, 2, True),
            array(types.int32, 2, labels_readonly), array(types.uint16, 2), array(types.float32, 2), array(i64, 1),
            array(i64, 1), array(f64, 2), array(f64, 3), array(types.uint8, 3), array(types.float32, 1, True),
        ))  # fmt: skip
    return signatures


@numba.njit(_address_signatures(), cache=True, nogil=True)
def _data_addresses(out, mean, row, aux, labels, stamp, measured, label_scanned, pending, survey, coarse_sums, coarse_u8, counts_to_patch):  # noqa: ANN001, ANN202, PLR0913
    """The arrays' data addresses into ``out``; the signature admits only the dtypes and C-contiguous layouts ``step_envs`` reads."""
    out[_MEAN] = mean.ctypes.data
    out[_ROW] = row.ctypes.data
    out[_AUX] = aux.ctypes.data
    out[_LABELS] = labels.ctypes.data
    out[_STAMP] = stamp.ctypes.data
    out[_MEASURED] = measured.ctypes.data
    out[_LABEL_SCANNED] = label_scanned.ctypes.data
    out[_PENDING] = pending.ctypes.data
    out[_SURVEY] = survey.ctypes.data
    out[_COARSE_SUMS] = coarse_sums.ctypes.data
    out[_COARSE_U8] = coarse_u8.ctypes.data
    out[_COUNTS_TO_PATCH] = counts_to_patch.ctypes.data


def env_addresses(env, out: np.ndarray, keep: list) -> None:  # noqa: ANN001
    """Write the addresses of reset ``env``'s arrays and generator into ``out`` (int64 (N_ADDRESSES,)).

    Checks each array's dtype, rank and contiguity (``TypeError`` otherwise);
    ``keep`` receives the arrays and the generator (the caller holds them
    while the addresses are in use).
    """
    noise, tracker = env._noise, env.tracker
    labels = env._labels if env._labels.flags.c_contiguous else np.ascontiguousarray(env._labels)  # a scene's own array, unless strided
    arrays = (noise.mean, noise.row, noise.aux, labels, env._stamp, env._measured, tracker.scanned, tracker.pending,
              env._survey, env._coarse_sums, env._coarse_u8, env._counts_to_patch)  # fmt: skip
    _data_addresses(out, *arrays)
    out[_NEXT_UINT64], out[_RNG_STATE] = env._generator_address()
    keep.extend(arrays)
    keep.append(env.np_random)


@numba.njit(cache=True, nogil=True, boundscheck=False)
def step_envs(  # noqa: PLR0913 — the whole batch in one compiled call
    active: np.ndarray,
    corners: np.ndarray,
    addresses: np.ndarray,
    n_labels: np.ndarray,
    table_length: np.ndarray,
    episodes: np.ndarray,
    inverse_full_scale: np.ndarray,
    background: np.float32,
    means: np.ndarray,
    threshold: np.ndarray,
    alias: np.ndarray,
    log_factorial: np.ndarray,
    row_cell: np.ndarray,
    col_cell: np.ndarray,
    cell_scale_255: np.ndarray,
    height: int,
    width: int,
    counts: np.ndarray,
    patches: np.ndarray,
    n_new: np.ndarray,
    due: np.ndarray,
) -> bool:
    """Acquire and record sub-env ``i``'s sub-scan at ``corners[i]`` into ``patches[i]``, for each ``active[i]``.

    Returns False, having stepped none, if an active corner would put the
    sub-scan outside the field (nothing else checks what the kernel reads).

    Args:
        active: ``bool`` (N,), the sub-envs to step.
        corners: ``int64`` (N, 2) top-left pixels ``(r0, c0)``.
        addresses: ``int64`` (N, N_ADDRESSES), :func:`env_addresses` of each sub-env.
        n_labels, table_length: ``int64`` (N,): length of the discovery arrays and of the count→patch table.
        episodes: ``int64`` (N,): each sub-env's episode stamp (:func:`~stemscan.envs.record.record_patch`).
        inverse_full_scale: ``float32`` (N,), per sub-env (its scene's full scale).
        background, means, threshold, alias, log_factorial, row_cell, col_cell, cell_scale_255: shared by the
            sub-envs (:func:`~stemscan.envs.record.acquire_patch`'s arguments of those names).
        height, width: the field, pixels.
        counts: ``int64`` (P, P) scratch.
        patches: ``float32`` (N, P, P), written where active.
        n_new: ``int64`` (N,), pixels newly scanned (written where active).
        due: ``bool`` (N,), a feature may be newly discovered (written where active).
    """
    g = cell_scale_255.shape[0]
    rows, cols = counts.shape
    for i in range(active.shape[0]):
        if active[i] and not (0 <= corners[i, 0] <= height - rows and 0 <= corners[i, 1] <= width - cols):
            return False
    for j in range(active.shape[0]):  # the first active sub-env's pixels; each later one's while the one before computes
        if active[j]:
            _prefetch_patch(addresses[j], corners[j, 0], corners[j, 1], counts.shape[0], counts.shape[1], width)
            break
    for i in range(active.shape[0]):
        if not active[i]:
            continue
        a = addresses[i]
        mean = numba.carray(_as_pointer(a[_MEAN]), (height, width), np.float64)
        row = numba.carray(_as_pointer(a[_ROW]), (height, width), np.int16)
        aux = numba.carray(_as_pointer(a[_AUX]), (height, width), np.float64)
        labels = numba.carray(_as_pointer(a[_LABELS]), (height, width), np.int32)
        stamp = numba.carray(_as_pointer(a[_STAMP]), (height, width), np.uint16)
        measured = numba.carray(_as_pointer(a[_MEASURED]), (height, width), np.float32)
        label_scanned = numba.carray(_as_pointer(a[_LABEL_SCANNED]), (n_labels[i],), np.int64)
        pending = numba.carray(_as_pointer(a[_PENDING]), (n_labels[i],), np.int64)
        survey = numba.carray(_as_pointer(a[_SURVEY]), (g, g), np.float64)
        coarse_sums = numba.carray(_as_pointer(a[_COARSE_SUMS]), (2, g, g), np.float64)
        coarse_u8 = numba.carray(_as_pointer(a[_COARSE_U8]), (2, g, g), np.uint8)
        counts_to_patch = numba.carray(_as_pointer(a[_COUNTS_TO_PATCH]), (table_length[i],), np.float32)
        for j in range(i + 1, active.shape[0]):  # the next active sub-env's pixels load while this one computes
            if active[j]:
                _prefetch_patch(addresses[j], corners[j, 0], corners[j, 1], counts.shape[0], counts.shape[1], width)
                break
        n_new[i], due[i] = acquire_patch(
            a[_NEXT_UINT64], a[_RNG_STATE], mean, row, aux, means, threshold, alias, log_factorial, counts,
            counts_to_patch, background, inverse_full_scale[i], corners[i, 0], corners[i, 1], patches[i], stamp,
            episodes[i], measured, labels, label_scanned, pending, survey, row_cell, col_cell, cell_scale_255,
            coarse_sums, coarse_u8,
        )  # fmt: skip
    return True


@numba.njit(cache=True, nogil=True, boundscheck=False)
def acquire_from_rng(  # noqa: PLR0913 — the single env's whole step in one compiled call
    function: int,
    state: int,
    mean: np.ndarray,
    row: np.ndarray,
    aux: np.ndarray,
    means: np.ndarray,
    threshold: np.ndarray,
    alias: np.ndarray,
    log_factorial: np.ndarray,
    counts: np.ndarray,
    counts_to_patch: np.ndarray,
    background: np.float32,
    inverse_full_scale: np.float32,
    r0: int,
    c0: int,
    patch: np.ndarray,
    stamp: np.ndarray,
    episode: int,
    measured: np.ndarray,
    labels: np.ndarray,
    label_scanned: np.ndarray,
    pending: np.ndarray,
    survey: np.ndarray,
    row_cell: np.ndarray,
    col_cell: np.ndarray,
    cell_scale_255: np.ndarray,
    coarse_sums: np.ndarray,
    coarse_u8: np.ndarray,
) -> tuple[int, bool]:
    """:func:`~stemscan.envs.record.acquire_patch` with the sub-scan's rows prefetched first.

    The single env's step; returns ``(new pixels, any feature due)``.
    """
    rows, cols = counts.shape
    _prefetch_rows(row, r0, c0, rows, cols)  # the sub-scan's pixels load while the first ones are drawn
    _prefetch_rows(aux, r0, c0, rows, cols)
    _prefetch_rows(mean, r0, c0, rows, cols)
    _prefetch_rows(stamp, r0, c0, rows, cols)
    _prefetch_rows(measured, r0, c0, rows, cols)
    _prefetch_rows(labels, r0, c0, rows, cols)
    return acquire_patch(
        function, state, mean, row, aux, means, threshold, alias, log_factorial, counts, counts_to_patch, background,
        inverse_full_scale, r0, c0, patch, stamp, episode, measured, labels, label_scanned, pending, survey,
        row_cell, col_cell, cell_scale_255, coarse_sums, coarse_u8,
    )  # fmt: skip


@numba.njit(cache=True, nogil=True, boundscheck=False)
def sample_patches(  # noqa: PLR0913
    function: int,
    state: int,
    mean: np.ndarray,
    row: np.ndarray,
    aux: np.ndarray,
    means: np.ndarray,
    threshold: np.ndarray,
    alias: np.ndarray,
    log_factorial: np.ndarray,
    corners: np.ndarray,
    counts: np.ndarray,
) -> int:
    """The sampler alone: the counts of a sub-scan at each of ``corners`` (int64 (B, 2)), as a step draws them.

    The env's step without its bookkeeping (the throughput bound
    ``benchmarks/env_throughput.py`` reports); ``counts`` (P, Q) holds the
    last sub-scan.  Returns the total of all counts (so nothing is optimised away).
    """
    rows, cols = counts.shape
    total = 0
    for b in range(corners.shape[0]):
        _prefetch_rows(row, corners[b, 0], corners[b, 1], rows, cols)  # as the env's step does
        _prefetch_rows(aux, corners[b, 0], corners[b, 1], rows, cols)
        _prefetch_rows(mean, corners[b, 0], corners[b, 1], rows, cols)
        poisson_fill(function, state, mean, row, aux, means, threshold, alias, log_factorial, corners[b, 0], corners[b, 1], counts)
        total += counts.sum()
    return total


@numba.njit(cache=True, nogil=True)
def continuous_corners(actions, active, height, width, half, max_r, max_c, corners):  # noqa: ANN001, ANN201, PLR0913
    """Top-left pixels of the active sub-envs' continuous actions, as the single env's ``from_continuous``.

    ``actions`` (N, 2) real, ``corners`` ``int64`` (N, 2) written where
    ``active``.  Returns False (leaving ``corners`` partly written) when an
    active action is not in [0, 1]² (NaN included): the caller then checks
    each one for its error.
    """
    for i in range(actions.shape[0]):
        if not active[i]:
            continue
        row, col = np.float64(actions[i, 0]), np.float64(actions[i, 1])
        if not (0.0 <= row <= 1.0 and 0.0 <= col <= 1.0):
            return False
        corners[i, 0] = min(max(np.int64(np.rint(row * height - half)), 0), max_r)
        corners[i, 1] = min(max(np.int64(np.rint(col * width - half)), 0), max_c)
    return True


@numba.njit(cache=True, nogil=True)
def update_counters(  # noqa: PLR0913 — the single env's per-step scalar updates, for every sub-env at once
    active: np.ndarray,
    corners: np.ndarray,
    n_new: np.ndarray,
    patch_dose: float,
    subscan_time_s: float,
    half: float,
    height: float,
    width: float,
    budget: float,
    budget_limit: float,
    frame_dose: float,
    n_pixels: int,
    dose_used: np.ndarray,
    scan_time_s: np.ndarray,
    steps: np.ndarray,
    n_scanned: np.ndarray,
    position: np.ndarray,
    dose: np.ndarray,
    over: np.ndarray,
    new_features: np.ndarray,
    info_dose_used: np.ndarray,
    info_dose_fraction: np.ndarray,
    info_budget_fraction: np.ndarray,
    info_coverage: np.ndarray,
    info_scan_time_s: np.ndarray,
    info_steps: np.ndarray,
) -> None:
    """After :func:`step_envs`: each active sub-env's dose, time, steps, pixels and position; every row's dose and info.

    The same float operations as the single env's step (``dose_used +=
    patch_dose``, position ``float32((corner + half) / size)``, the dose
    observation ``float32(min(dose_used / budget, 1))``, …), so the same
    values.  ``over[i]``: another sub-scan would exceed the budget
    (``dose_used + patch_dose > budget_limit``, ``budget × (1 + 1e-12)``).
    """
    for i in range(active.shape[0]):
        if active[i]:
            dose_used[i] += patch_dose
            scan_time_s[i] += subscan_time_s
            steps[i] += 1
            n_scanned[i] += n_new[i]
            position[i, 0] = np.float32((corners[i, 0] + half) / height)
            position[i, 1] = np.float32((corners[i, 1] + half) / width)
            new_features[i] = 0
        used = dose_used[i]
        over[i] = used + patch_dose > budget_limit
        fraction = used / budget if budget > 0 else 1.0
        dose[i, 0] = np.float32(min(fraction, 1.0))
        info_budget_fraction[i] = fraction
        info_dose_used[i] = used
        info_dose_fraction[i] = used / frame_dose
        info_coverage[i] = n_scanned[i] / n_pixels
        info_scan_time_s[i] = scan_time_s[i]
        info_steps[i] = steps[i]
