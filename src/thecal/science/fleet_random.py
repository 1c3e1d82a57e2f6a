"""numpy's PCG64 generator and its `Generator.random` doubles, compiled (numba).

The fleet model draws its uniforms from ``numpy.random.default_rng`` (PCG64). Drawing
them inside the compiled kernel, the same numbers in the same places, saves numpy's
per-number function call and the round trip of the draws through memory. This module
reproduces the stream exactly (tested against numpy):

* PCG64 (XSL-RR 128/64): the 128-bit state steps ``s = s * M + inc (mod 2**128)``
  and each step gives ``rotr64(hi(s) ^ lo(s), hi(s) >> 58)``;
* `Generator.random` turns a 64-bit output into ``(x >> 11) * 2**-53``.

A *bank* of streams is one generator's sequence cut into consecutive pieces: stream
``i`` starts ``i * length`` numbers in, reached by PCG's jump-ahead (an affine map of
the state, built by squaring in ``log2(length)`` steps). The pieces are generated side
by side, which the processor overlaps (each stream is one long chain of dependent
multiplications), and numpy's generator is then set to where the last piece ends.

numba's cache keys compiled code on the file that defines it: `fleet_kernel`'s cached
machine code includes these functions, so after editing this file touch
`fleet_kernel.py` (or delete the ``*.nbi``/``*.nbc`` files in ``__pycache__``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic
from numpy.typing import NDArray

__all__ = ["advance", "as_double", "bank", "fill_bank", "get_state", "next_state", "set_state"]

U64 = NDArray[np.uint64]
F64 = NDArray[np.float64]

MULTIPLIER = (2549297995355413924 << 64) + 4865540595714422341  # PCG's default, 128 bits
_MASK64 = (1 << 64) - 1
_MULT_HI = np.uint64(MULTIPLIER >> 64)
_MULT_LO = np.uint64(MULTIPLIER & _MASK64)
_TO_DOUBLE = 1.0 / 9007199254740992.0  # 2**-53

_jit = njit(cache=True, nogil=True)


@intrinsic
def _mul_add(
    typingctx: Any, a_hi: Any, a_lo: Any, b_hi: Any, b_lo: Any, c_hi: Any, c_lo: Any
) -> Any:
    """(a * b + c) mod 2**128 on (high, low) uint64 halves, as one LLVM i128 operation."""
    u64 = types.uint64
    sig = types.UniTuple(u64, 2)(u64, u64, u64, u64, u64, u64)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        i128 = ir.IntType(128)
        shift = ir.Constant(i128, 64)

        def join(hi: Any, lo: Any) -> Any:
            return builder.or_(builder.shl(builder.zext(hi, i128), shift), builder.zext(lo, i128))

        a, b, c = join(args[0], args[1]), join(args[2], args[3]), join(args[4], args[5])
        r = builder.add(builder.mul(a, b), c)
        lo = builder.trunc(r, ir.IntType(64))
        hi = builder.trunc(builder.lshr(r, shift), ir.IntType(64))
        return context.make_tuple(builder, signature.return_type, [hi, lo])

    return sig, codegen


@_jit
def _output(hi: np.uint64, lo: np.uint64) -> float:
    """`Generator.random`'s double from PCG64's XSL-RR output of the state (hi, lo)."""
    x = hi ^ lo
    rot = hi >> np.uint64(58)
    out = (x >> rot) | (x << ((np.uint64(64) - rot) & np.uint64(63)))
    return np.float64(out >> np.uint64(11)) * _TO_DOUBLE


@_jit
def next_state(
    hi: np.uint64, lo: np.uint64, inc_hi: np.uint64, inc_lo: np.uint64
) -> tuple[Any, Any]:
    """PCG64's next state after (hi, lo), with increment (inc_hi, inc_lo)."""
    return _mul_add(hi, lo, _MULT_HI, _MULT_LO, inc_hi, inc_lo)


@_jit
def as_double(hi: np.uint64, lo: np.uint64) -> float:
    """The double `Generator.random` gives for the state (hi, lo) (just stepped to)."""
    return _output(hi, lo)


@_jit
def advance(delta: int, inc_hi: np.uint64, inc_lo: np.uint64) -> tuple[Any, Any, Any, Any]:
    """The affine map (A, C) with state_after_delta_steps = A * state + C (mod 2**128),
    as (A_hi, A_lo, C_hi, C_lo)."""
    zero, one = np.uint64(0), np.uint64(1)
    acc_mult_hi, acc_mult_lo, acc_plus_hi, acc_plus_lo = zero, one, zero, zero
    cur_mult_hi, cur_mult_lo, cur_plus_hi, cur_plus_lo = _MULT_HI, _MULT_LO, inc_hi, inc_lo
    while delta > 0:
        if delta & 1:
            acc_mult_hi, acc_mult_lo = _mul_add(
                acc_mult_hi, acc_mult_lo, cur_mult_hi, cur_mult_lo, zero, zero
            )
            acc_plus_hi, acc_plus_lo = _mul_add(
                acc_plus_hi, acc_plus_lo, cur_mult_hi, cur_mult_lo, cur_plus_hi, cur_plus_lo
            )
        # cur_plus = (cur_mult + 1) * cur_plus; cur_mult = cur_mult ** 2
        cur_plus_hi, cur_plus_lo = _mul_add(
            cur_mult_hi, cur_mult_lo, cur_plus_hi, cur_plus_lo, cur_plus_hi, cur_plus_lo
        )
        cur_mult_hi, cur_mult_lo = _mul_add(
            cur_mult_hi, cur_mult_lo, cur_mult_hi, cur_mult_lo, zero, zero
        )
        delta >>= 1
    return acc_mult_hi, acc_mult_lo, acc_plus_hi, acc_plus_lo


@_jit
def bank(state: U64, count: int, length: int) -> U64:
    """`count` streams of `length` numbers each, from the generator state `state`
    ([state_hi, state_lo, inc_hi, inc_lo]): rows of the same layout, stream i starting
    i * length numbers in. Row `count` (one more) is where the last stream ends."""
    inc_hi, inc_lo = state[2], state[3]
    a_hi, a_lo, c_hi, c_lo = advance(length, inc_hi, inc_lo)
    out = np.empty((count + 1, 4), dtype=np.uint64)
    hi, lo = state[0], state[1]
    for i in range(count + 1):
        out[i, 0], out[i, 1], out[i, 2], out[i, 3] = hi, lo, inc_hi, inc_lo
        hi, lo = _mul_add(a_hi, a_lo, hi, lo, c_hi, c_lo)
    return out


@_jit
def _fill_one(streams: U64, i: int, out: F64, row: int, lo: int, n: int) -> None:
    hi, lo_, inc_hi, inc_lo = streams[i, 0], streams[i, 1], streams[i, 2], streams[i, 3]
    for j in range(n):
        hi, lo_ = _mul_add(hi, lo_, _MULT_HI, _MULT_LO, inc_hi, inc_lo)
        out[row, lo + j] = _output(hi, lo_)
    streams[i, 0], streams[i, 1] = hi, lo_


@_jit
def _fill_two(streams: U64, i: int, out: F64, row: int, lo: int, n: int) -> None:
    # Two independent chains side by side: the processor overlaps their multiplications.
    h0, l0, ih0, il0 = streams[i, 0], streams[i, 1], streams[i, 2], streams[i, 3]
    h1, l1, ih1, il1 = streams[i + 1, 0], streams[i + 1, 1], streams[i + 1, 2], streams[i + 1, 3]
    for j in range(n):
        h0, l0 = _mul_add(h0, l0, _MULT_HI, _MULT_LO, ih0, il0)
        h1, l1 = _mul_add(h1, l1, _MULT_HI, _MULT_LO, ih1, il1)
        out[row, lo + j] = _output(h0, l0)
        out[row + 1, lo + j] = _output(h1, l1)
    streams[i, 0], streams[i, 1] = h0, l0
    streams[i + 1, 0], streams[i + 1, 1] = h1, l1


@_jit
def _fill_four(streams: U64, i: int, out: F64, lo: int, n: int) -> None:
    # Four chains side by side, sharing the generator's increment.
    inc_hi, inc_lo = streams[i, 2], streams[i, 3]
    h0, l0, h1, l1 = streams[i, 0], streams[i, 1], streams[i + 1, 0], streams[i + 1, 1]
    h2, l2, h3, l3 = streams[i + 2, 0], streams[i + 2, 1], streams[i + 3, 0], streams[i + 3, 1]
    for j in range(n):
        h0, l0 = _mul_add(h0, l0, _MULT_HI, _MULT_LO, inc_hi, inc_lo)
        h1, l1 = _mul_add(h1, l1, _MULT_HI, _MULT_LO, inc_hi, inc_lo)
        h2, l2 = _mul_add(h2, l2, _MULT_HI, _MULT_LO, inc_hi, inc_lo)
        h3, l3 = _mul_add(h3, l3, _MULT_HI, _MULT_LO, inc_hi, inc_lo)
        out[i, lo + j] = _output(h0, l0)
        out[i + 1, lo + j] = _output(h1, l1)
        out[i + 2, lo + j] = _output(h2, l2)
        out[i + 3, lo + j] = _output(h3, l3)
    streams[i, 0], streams[i, 1], streams[i + 1, 0], streams[i + 1, 1] = h0, l0, h1, l1
    streams[i + 2, 0], streams[i + 2, 1], streams[i + 3, 0], streams[i + 3, 1] = h2, l2, h3, l3


@_jit
def fill_bank(streams: U64, out: F64, lo: int = 0, n: int = -1) -> None:
    """The next `n` doubles of each stream (row) of `streams` (streams of one generator:
    the same increment) into the same row of `out`, columns from `lo` (`n` < 0: to the
    end of `out`), moving the streams on."""
    count = streams.shape[0]
    if n < 0:
        n = out.shape[1] - lo
    i = 0
    while i + 4 <= count:
        _fill_four(streams, i, out, lo, n)
        i += 4
    if i + 2 <= count:
        _fill_two(streams, i, out, i, lo, n)
        i += 2
    if i < count:
        _fill_one(streams, i, out, i, lo, n)


def get_state(rng: np.random.Generator) -> U64:
    """[state_hi, state_lo, inc_hi, inc_lo] of a PCG64 generator."""
    state = rng.bit_generator.state
    if state["bit_generator"] != "PCG64":
        raise ValueError("only numpy's PCG64 is reproduced")
    s, inc = int(state["state"]["state"]), int(state["state"]["inc"])
    return np.array([s >> 64, s & _MASK64, inc >> 64, inc & _MASK64], dtype=np.uint64)


def set_state(rng: np.random.Generator, state: U64) -> None:
    """Move a PCG64 generator to `state` (as from `get_state`)."""
    current = rng.bit_generator.state
    hi, lo, inc_hi, inc_lo = (int(v) for v in state)
    current["state"] = {"state": (hi << 64) | lo, "inc": (inc_hi << 64) | inc_lo}
    rng.bit_generator.state = current
