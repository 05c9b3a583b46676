"""The model's random stream replayed in compiled code, draw for draw as NumPy's Generator(PCG64).

The tender kernel (model/tender_kernel.py) draws its uniforms, Gumbel noise and contract lengths
itself, inside one compiled call per category. To keep runs bit-identical to the NumPy path it
steps the generator's own PCG64 state (128-bit LCG, XSL-RR output, as numpy/random/src/pcg64) and
turns each 64-bit draw into exactly the value NumPy's ``random``, ``gumbel`` and ``integers``
would give, in the same order; ``KernelStream`` hands the kernel the generator's state and
afterwards writes the advanced state back, so the generator continues exactly where NumPy's would.
tests/test_kernels.py checks the replay against NumPy's own draws and final state.

numba compiles these functions into the tender kernel; the cached kernels are stamped with a digest
of all the kernel modules (model/kernels.py), so a change here recompiles them.
"""

from __future__ import annotations

import math

import numpy as np

from model.kernels import njit

# ``st`` (uint64) is [state high, state low, increment high, increment low, has_uint32, uinteger]:
# PCG64 keeps the high half of a 64-bit draw for the next 32-bit one. random() and gumbel() take one
# 64-bit draw a value; integers() takes 32-bit ones.
_M32 = np.uint64(0xFFFFFFFF)
_MUL_HI = np.uint64(0x2360ED051FC65DA4)  # PCG_DEFAULT_MULTIPLIER_128
_MUL_LO = np.uint64(0x4385DF649FCCF645)
_MASK64 = (1 << 64) - 1


@njit(cache=True, nogil=True)
def _mulhi(a, b):
    """High 64 bits of the 128-bit product of two uint64 (from 32-bit halves)."""
    a0, a1 = a & _M32, a >> np.uint64(32)
    b0, b1 = b & _M32, b >> np.uint64(32)
    p00, p01, p10, p11 = a0 * b0, a0 * b1, a1 * b0, a1 * b1
    mid = (p00 >> np.uint64(32)) + (p01 & _M32) + (p10 & _M32)
    return p11 + (p01 >> np.uint64(32)) + (p10 >> np.uint64(32)) + (mid >> np.uint64(32))


@njit(cache=True, nogil=True)
def _mul128(ah, al, bh, bl):
    """(ah, al) × (bh, bl) mod 2**128, as (high, low)."""
    return _mulhi(al, bl) + al * bh + ah * bl, al * bl


@njit(cache=True, nogil=True)
def _add128(ah, al, bh, bl):
    lo = al + bl
    return ah + bh + (np.uint64(1) if lo < al else np.uint64(0)), lo


@njit(cache=True, nogil=True)
def _next64(st):
    """PCG64's next draw: state = state × multiplier + increment (mod 2**128), then XSL-RR."""
    hi, lo = _mul128(st[0], st[1], _MUL_HI, _MUL_LO)
    hi, lo = _add128(hi, lo, st[2], st[3])
    st[0], st[1] = hi, lo
    x = hi ^ lo
    rot = hi >> np.uint64(58)
    return (x >> rot) | (x << ((np.uint64(64) - rot) & np.uint64(63)))


@njit(cache=True, nogil=True)
def advanced(st, delta):
    """A copy of state ``st`` moved ``delta`` 64-bit draws on (the LCG's jump ahead in O(log delta)),
    as ``bit_generator.advance(delta)``; the buffered 32-bit half is carried over unchanged."""
    acc_h, acc_l = np.uint64(0), np.uint64(1)
    plus_h, plus_l = np.uint64(0), np.uint64(0)
    cur_h, cur_l = _MUL_HI, _MUL_LO
    inc_h, inc_l = st[2], st[3]
    d = np.uint64(delta)
    while d > np.uint64(0):
        if d & np.uint64(1):
            acc_h, acc_l = _mul128(acc_h, acc_l, cur_h, cur_l)
            plus_h, plus_l = _mul128(plus_h, plus_l, cur_h, cur_l)
            plus_h, plus_l = _add128(plus_h, plus_l, inc_h, inc_l)
        m1_h, m1_l = _add128(cur_h, cur_l, np.uint64(0), np.uint64(1))
        inc_h, inc_l = _mul128(m1_h, m1_l, inc_h, inc_l)
        cur_h, cur_l = _mul128(cur_h, cur_l, cur_h, cur_l)
        d = d >> np.uint64(1)
    out = st.copy()
    sh, sl = _mul128(acc_h, acc_l, st[0], st[1])
    out[0], out[1] = _add128(sh, sl, plus_h, plus_l)
    return out


@njit(cache=True, nogil=True)
def _random(st):
    """Generator.random(): the top 53 bits of a 64-bit draw."""
    return np.float64(_next64(st) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True, nogil=True)
def _gumbel(st):
    """Generator.gumbel() with loc 0 and scale 1 (a draw of U == 1 is redrawn)."""
    while True:
        u = 1.0 - _random(st)
        if u < 1.0:
            return 0.0 - 1.0 * math.log(-math.log(u))


GUMBEL_MIN = -math.log(-math.log(2.0**-53))  # the least value _gumbel gives (U = 2**-53)


@njit(cache=True, nogil=True)
def _skip_gumbel(st):
    """Take the draws of one ``_gumbel`` without computing it; returns the draw ``_gumbel_of`` turns
    into its value."""
    while True:
        x = _next64(st)
        if (x >> np.uint64(11)) != 0:  # else U == 1: redrawn
            return x


@njit(cache=True, nogil=True)
def _gumbel_of(x):
    """The Gumbel value of draw ``x`` (one ``_skip_gumbel`` returned)."""
    u = 1.0 - np.float64(x >> np.uint64(11)) * (1.0 / 9007199254740992.0)
    return 0.0 - 1.0 * math.log(-math.log(u))


@njit(cache=True, nogil=True)
def _next32(st):
    if st[4]:
        st[4] = 0
        return st[5]
    x = _next64(st)
    st[4] = 1
    st[5] = x >> np.uint64(32)
    return x & _M32


@njit(cache=True, nogil=True, error_model="numpy")
def _integer(st, lo, span):
    """One value of Generator.integers(lo, lo + span + 1) for span < 2**32 - 1 (Lemire's method)."""
    if span == 0:
        return lo
    excl = np.uint64(span + 1)
    m = _next32(st) * excl
    rest = m & _M32
    if rest < excl:
        threshold = (_M32 - np.uint64(span)) % excl
        while rest < threshold:
            m = _next32(st) * excl
            rest = m & _M32
    return lo + np.int64(m >> np.uint64(32))


class KernelStream:
    """A ``Generator(PCG64)``'s state as the compiled kernels step it (``st`` above); ``close`` gives
    the generator the advanced state, as if NumPy had made the draws."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.bitgen = rng.bit_generator
        s = self.bitgen.state
        state, inc = s["state"]["state"], s["state"]["inc"]
        self.st = np.array([state >> 64, state & _MASK64, inc >> 64, inc & _MASK64, s["has_uint32"],
                            s["uinteger"]], np.uint64)
        self.events: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # the kernels' contract events

    @staticmethod
    def fits(rng: np.random.Generator) -> bool:
        """Whether the kernels can replay this generator (PCG64 only)."""
        return rng.bit_generator.state.get("bit_generator") == "PCG64"

    def close(self) -> None:
        """Write the kernels' advanced state (and half-used 32-bit draw) back into the generator."""
        s = self.bitgen.state
        st = [int(x) for x in self.st]
        s["state"]["state"] = (st[0] << 64) | st[1]
        s["has_uint32"], s["uinteger"] = st[4], st[5]
        self.bitgen.state = s
