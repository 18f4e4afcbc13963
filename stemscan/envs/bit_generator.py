"""Raw 64-bit draws from a numpy generator, read inside compiled (numba) code.

Every numpy bit generator (PCG64, the env's ``np_random``; Philox, SFC64,
MT19937, ...) exposes a C interface: ``next_uint64(state)`` is the function
``Generator.integers(0, 2**64, dtype=np.uint64)`` calls per value (and
``random_raw`` for the 64-bit generators).  The env's compiled kernels
call it directly through :func:`next_uint64`, so the shot noise still flows
from the env's own generator (``reset(seed)``) without a Python call or a
scratch buffer per step.  :func:`raw_fill` exposes the same read on its own
(tested against ``Generator.integers``).

numpy's PCG64 (the default generator) is stepped in line instead, its
128-bit state read into registers at the start of a kernel's loop and
written back at its end (:func:`rng_begin`, :func:`rng_next`,
:func:`rng_end`): the same numbers, checked against numpy once per process
(:func:`rng_address` falls back to the C call where they differ).

The addresses are valid only while the generator lives: callers keep it.
"""

from __future__ import annotations

import ctypes
from functools import lru_cache

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic
from stemscan.envs.kernel_cache import ensure_consistent

__all__ = ["next_uint64", "raw_fill", "rng_address", "rng_begin", "rng_end", "rng_next", "to_unit"]

# Every kernel module imports this one before any kernel runs: numba's cached kernels are checked here, once,
# against all kernel modules' sources (stemscan.envs.kernel_cache).
ensure_consistent()

#: 2⁻⁵³: ``(x >> 11) · 2⁻⁵³`` is a uniform double in [0, 1), as numpy's ``random()`` makes one.
_TWO_TO_MINUS_53 = 1.0 / 9007199254740992.0


#: PCG64's 128-bit LCG multiplier (``PCG_DEFAULT_MULTIPLIER_128``, numpy's ``pcg64.h``).
_PCG64_MULTIPLIER = 0x2360ED051FC65DA44385DF649FCCF645


@intrinsic
def _call_next_uint64(typingctx, function, state):  # noqa: ANN001, ANN202, ARG001
    """``function(state)`` for a C ``uint64_t (*)(void *)`` at address ``function`` (not 0)."""
    sig = types.uint64(types.int64, types.int64)

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202, ARG001
        function_type = ir.FunctionType(ir.IntType(64), [cgutils.voidptr_t])
        pointer = builder.inttoptr(args[0], function_type.as_pointer())
        return builder.call(pointer, [builder.inttoptr(args[1], cgutils.voidptr_t)])

    return sig, codegen


@intrinsic
def pcg64_load(typingctx, state):  # noqa: ANN001, ANN201, ARG001
    """``(lo, hi, increment lo, increment hi)`` of the PCG64 LCG at address ``state`` (four ``uint64``)."""
    sig = types.UniTuple(types.uint64, 4)(types.int64)

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202, ARG001
        pointer = builder.inttoptr(args[0], ir.IntType(64).as_pointer())
        words = [builder.load(builder.gep(pointer, [ir.IntType(32)(k)]), align=8) for k in range(4)]
        return context.make_tuple(builder, signature.return_type, words)

    return sig, codegen


@intrinsic
def pcg64_store(typingctx, state, lo, hi):  # noqa: ANN001, ANN201, ARG001
    """Write the LCG state ``(lo, hi)`` back to the PCG64 at address ``state``."""
    sig = types.void(types.int64, types.uint64, types.uint64)

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202, ARG001
        pointer = builder.inttoptr(args[0], ir.IntType(64).as_pointer())
        builder.store(args[1], pointer, align=8)
        builder.store(args[2], builder.gep(pointer, [ir.IntType(32)(1)]), align=8)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def pcg64_step(typingctx, lo, hi, increment_lo, increment_hi):  # noqa: ANN001, ANN201, ARG001
    """``(draw, lo, hi)``: PCG64's LCG stepped in registers and its XSL-RR output (numpy's ``pcg64_next64``)."""
    sig = types.UniTuple(types.uint64, 3)(types.uint64, types.uint64, types.uint64, types.uint64)

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202, ARG001
        i64, i128 = ir.IntType(64), ir.IntType(128)

        def join(low, high):  # noqa: ANN001, ANN202
            return builder.or_(builder.zext(low, i128), builder.shl(builder.zext(high, i128), ir.Constant(i128, 64)))

        lcg = builder.add(builder.mul(join(args[0], args[1]), ir.Constant(i128, _PCG64_MULTIPLIER)), join(args[2], args[3]))
        low = builder.trunc(lcg, i64)
        high = builder.trunc(builder.lshr(lcg, ir.Constant(i128, 64)), i64)
        folded = builder.xor(high, low)
        rotate = cgutils.get_or_insert_function(builder.module, ir.FunctionType(i64, [i64, i64, i64]), "llvm.fshr.i64")
        draw = builder.call(rotate, [folded, folded, builder.lshr(high, i64(58))])
        return context.make_tuple(builder, signature.return_type, [draw, low, high])

    return sig, codegen


@numba.njit(cache=True, nogil=True, inline="always")
def rng_begin(function, state):  # noqa: ANN001, ANN201
    """The generator's state held in registers for :func:`rng_next` (in-line PCG64), or zeros (a C call per draw)."""
    if function == 0:
        return pcg64_load(state)
    zero = np.uint64(0)
    return zero, zero, zero, zero


@numba.njit(cache=True, nogil=True, inline="always")
def rng_next(function, state, held):  # noqa: ANN001, ANN201
    """``(draw, held)``: the next 64-bit draw, with ``held`` (:func:`rng_begin`) advanced.

    Kernels draw in a loop ``held = rng_begin(f, s)`` … ``x, held = rng_next(f, s, held)`` …
    ``rng_end(f, s, held)``: the in-line PCG64 then keeps its state in registers.
    """
    if function == 0:
        x, lo, hi = pcg64_step(held[0], held[1], held[2], held[3])
        return x, (lo, hi, held[2], held[3])
    return _call_next_uint64(function, state), held


@numba.njit(cache=True, nogil=True, inline="always")
def rng_end(function, state, held):  # noqa: ANN001, ANN201
    """Write the in-line PCG64's state back (nothing for a C generator, which kept its own)."""
    if function == 0:
        pcg64_store(state, held[0], held[1])


@numba.njit(cache=True, nogil=True, inline="always")
def next_uint64(function, state):  # noqa: ANN001, ANN201
    """One 64-bit draw of the generator at ``(function, state)`` (:func:`rng_address`); loops use :func:`rng_next`.

    ``function`` is the address of the bit generator's C ``next_uint64``, or
    0 for numpy's PCG64 stepped in line (``state`` then addresses its
    128-bit LCG state and increment; the draw is exactly numpy's
    ``pcg64_next64``, checked once per process by :func:`rng_address`).
    """
    held = rng_begin(function, state)
    x, held = rng_next(function, state, held)
    rng_end(function, state, held)
    return x


@numba.njit(cache=True, nogil=True, inline="always")
def to_unit(x):  # noqa: ANN001, ANN201
    """A uniform double in [0, 1) from the top 53 bits of the 64-bit draw ``x``."""
    return np.float64(x >> np.uint64(11)) * _TWO_TO_MINUS_53


def rng_address(rng: np.random.Generator, in_line: bool = True) -> tuple[int, int]:
    """``(function, state)`` for :func:`next_uint64`: the bit generator's C ``next_uint64`` and its state.

    With ``in_line``, ``(0, address of the 128-bit LCG state)`` for numpy's
    ``PCG64`` (every env's ``np_random``) where stepping it in line
    reproduces numpy's draws on this platform (checked once per process):
    the same numbers, without a C call per draw and, in kernels that use
    :func:`rng_begin`, with the state in registers (~1.3× the draws/s).
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"expected a numpy Generator, got {type(rng).__name__}")
    bit_generator = rng.bit_generator
    interface = bit_generator.ctypes
    if in_line and type(bit_generator) is np.random.PCG64 and _inline_pcg64_matches():
        return 0, _pcg64_lcg_address(bit_generator)
    return ctypes.cast(interface.next_uint64, ctypes.c_void_p).value, int(interface.state_address)


def _pcg64_lcg_address(bit_generator: np.random.PCG64) -> int:
    """Address of ``PCG64``'s ``pcg64_random_t`` (128-bit state, then increment): the first field of its state struct."""
    return int(ctypes.c_void_p.from_address(int(bit_generator.ctypes.state_address)).value)


@lru_cache(maxsize=1)
def _inline_pcg64_matches() -> bool:
    """Whether :func:`next_uint64`'s in-line PCG64 gives numpy's draws here (its state layout is the C compiler's)."""
    ours, numpy = np.random.PCG64(20261208), np.random.PCG64(20261208)
    out = np.empty(64, dtype=np.uint64)
    _raw_fill(0, _pcg64_lcg_address(ours), out)
    return bool(np.array_equal(out, numpy.random_raw(64)) and np.array_equal(ours.random_raw(3), numpy.random_raw(3)))


@numba.njit(cache=True, nogil=True)
def _raw_fill(function, state, out):  # noqa: ANN001, ANN202
    held = rng_begin(function, state)
    for k in range(out.shape[0]):
        out[k], held = rng_next(function, state, held)
    rng_end(function, state, held)


def raw_fill(rng: np.random.Generator, out: np.ndarray) -> None:
    """Fill ``uint64`` ``out`` with ``rng.integers(0, 2**64, out.size, dtype=np.uint64)``'s values, advancing ``rng`` alike."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy array, got {type(out).__name__}")
    if out.dtype != np.uint64 or out.ndim != 1 or not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(f"out must be a writeable contiguous 1-D uint64 array, got {out.dtype} {out.shape}")
    _raw_fill(*rng_address(rng), out)
