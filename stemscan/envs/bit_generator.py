"""Raw 64-bit draws from a numpy generator, read inside compiled (numba) code.

Every numpy bit generator (PCG64, the env's ``np_random``; Philox, SFC64,
MT19937, ...) exposes a C interface: ``next_uint64(state)`` is the function
``Generator.integers(0, 2**64, dtype=np.uint64)`` calls per value (and
``random_raw`` for the 64-bit generators).  The env's compiled kernels
call it directly through :func:`next_uint64`, so the shot noise still flows
from the env's own generator (``reset(seed)``) without a Python call or a
scratch buffer per step.  :func:`raw_fill` exposes the same read on its own
(tested against ``Generator.integers``).

The addresses are valid only while the generator lives: callers keep it.
"""

from __future__ import annotations

import ctypes

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic
from stemscan.envs.kernel_cache import ensure_consistent

__all__ = ["next_uint64", "raw_fill", "rng_address", "to_unit"]

# Every kernel module imports this one before any kernel runs: numba's cached kernels are checked here, once,
# against all kernel modules' sources (stemscan.envs.kernel_cache).
ensure_consistent()

#: 2⁻⁵³: ``(x >> 11) · 2⁻⁵³`` is a uniform double in [0, 1), as numpy's ``random()`` makes one.
_TWO_TO_MINUS_53 = 1.0 / 9007199254740992.0


@intrinsic
def next_uint64(typingctx, function, state):  # noqa: ANN001, ANN201, ARG001
    """``function(state)`` for a C ``uint64_t (*)(void *)`` at address ``function`` (:func:`rng_address`)."""
    sig = types.uint64(types.int64, types.int64)

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202, ARG001
        function_type = ir.FunctionType(ir.IntType(64), [cgutils.voidptr_t])
        pointer = builder.inttoptr(args[0], function_type.as_pointer())
        return builder.call(pointer, [builder.inttoptr(args[1], cgutils.voidptr_t)])

    return sig, codegen


@numba.njit(cache=True, nogil=True, inline="always")
def to_unit(x):  # noqa: ANN001, ANN201
    """A uniform double in [0, 1) from the top 53 bits of the 64-bit draw ``x``."""
    return np.float64(x >> np.uint64(11)) * _TWO_TO_MINUS_53


def rng_address(rng: np.random.Generator) -> tuple[int, int]:
    """``(address of next_uint64, address of its state)`` of ``rng``'s bit generator."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"expected a numpy Generator, got {type(rng).__name__}")
    interface = rng.bit_generator.ctypes
    return ctypes.cast(interface.next_uint64, ctypes.c_void_p).value, int(interface.state_address)


@numba.njit(cache=True, nogil=True)
def _raw_fill(function, state, out):  # noqa: ANN001, ANN202
    for k in range(out.shape[0]):
        out[k] = next_uint64(function, state)


def raw_fill(rng: np.random.Generator, out: np.ndarray) -> None:
    """Fill ``uint64`` ``out`` with ``rng.integers(0, 2**64, out.size, dtype=np.uint64)``'s values, advancing ``rng`` alike."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy array, got {type(out).__name__}")
    if out.dtype != np.uint64 or out.ndim != 1 or not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(f"out must be a writeable contiguous 1-D uint64 array, got {out.dtype} {out.shape}")
    _raw_fill(*rng_address(rng), out)
