"""The model's random stream replayed in compiled code, draw for draw as NumPy's Generator(PCG64).

The tender kernel (model/tender_kernel.py) draws its uniforms, Gumbel noise and contract lengths
itself, inside one compiled call per category. To keep runs bit-identical to the NumPy path it
turns raw 64-bit draws of the model's generator into exactly the values NumPy's ``random``,
``gumbel`` and ``integers`` would give, in the same order; ``RawStream`` hands the kernel those raw
draws and afterwards leaves the generator exactly where NumPy would have (unused draws put back).
tests/test_kernels.py checks the replay against NumPy's own draws and final state.
"""

from __future__ import annotations

import math

import numpy as np

from model.kernels import njit

# -- the model's random stream, replayed from raw 64-bit draws exactly as NumPy's Generator(PCG64) -----
# ``st`` is [next position in raw, has_uint32, uinteger]: PCG64 keeps the high half of a 64-bit draw for
# the next 32-bit one. random() and gumbel() take one 64-bit draw a value; integers() takes 32-bit ones.

@njit(cache=True, nogil=True)
def _next64(raw, st):
    """The next raw draw. Never reads past ``raw`` (callers check ``st[0] <= len(raw)`` afterwards:
    a raise here would keep numba from optimising the loops that draw)."""
    x = raw[min(st[0], len(raw) - 1)]
    st[0] += 1
    return x


@njit(cache=True, nogil=True)
def _random(raw, st):
    """Generator.random(): the top 53 bits of a 64-bit draw."""
    return np.float64(_next64(raw, st) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True, nogil=True)
def _gumbel(raw, st):
    """Generator.gumbel() with loc 0 and scale 1 (a draw of U == 1 is redrawn)."""
    while True:
        u = 1.0 - _random(raw, st)
        if u < 1.0:
            return 0.0 - 1.0 * math.log(-math.log(u))


GUMBEL_MIN = -math.log(-math.log(2.0**-53))  # the least value _gumbel gives (U = 2**-53)


@njit(cache=True, nogil=True)
def _skip_gumbel(raw, st):
    """Take the draws of one ``_gumbel`` without computing it; returns where ``_gumbel_at`` finds it."""
    while True:
        at = st[0]
        if (_next64(raw, st) >> np.uint64(11)) != 0:  # else U == 1: redrawn
            return at


@njit(cache=True, nogil=True)
def _gumbel_at(raw, at):
    """The Gumbel value of the draw at ``raw[at]`` (one ``_skip_gumbel`` found)."""
    u = 1.0 - np.float64(raw[at] >> np.uint64(11)) * (1.0 / 9007199254740992.0)
    return 0.0 - 1.0 * math.log(-math.log(u))


@njit(cache=True, nogil=True)
def _next32(raw, st):
    if st[1]:
        st[1] = 0
        return np.uint64(st[2])
    x = _next64(raw, st)
    st[1] = 1
    st[2] = np.int64(x >> np.uint64(32))
    return x & np.uint64(0xFFFFFFFF)


@njit(cache=True, nogil=True, error_model="numpy")
def _integer(raw, st, lo, span):
    """One value of Generator.integers(lo, lo + span + 1) for span < 2**32 - 1 (Lemire's method)."""
    if span == 0:
        return lo
    excl = np.uint64(span + 1)
    m = _next32(raw, st) * excl
    rest = m & np.uint64(0xFFFFFFFF)
    if rest < excl:
        threshold = (np.uint64(0xFFFFFFFF) - np.uint64(span)) % excl
        while rest < threshold:
            m = _next32(raw, st) * excl
            rest = m & np.uint64(0xFFFFFFFF)
    return lo + np.int64(m >> np.uint64(32))


class RawStream:
    """Raw 64-bit draws of a ``Generator(PCG64)`` for the compiled kernels, which turn them into the
    values NumPy would (``_random``, ``_gumbel``, ``_integer`` above); ``close`` leaves the generator exactly as
    if NumPy had drawn them (the unused draws are put back)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.bitgen = rng.bit_generator
        self.start = self.bitgen.state
        self.raw = np.zeros(0, np.uint64)
        self.st = np.array([0, self.start["has_uint32"], self.start["uinteger"]], np.int64)
        self.used = 0  # draws consumed before raw[0]
        self.events: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # the kernels' contract events

    @staticmethod
    def fits(rng: np.random.Generator) -> bool:
        """Whether the kernels can replay this generator (PCG64 only)."""
        return rng.bit_generator.state.get("bit_generator") == "PCG64"

    def ensure(self, n: int) -> None:
        """At least ``n`` draws ready after the current position."""
        at = int(self.st[0])
        if len(self.raw) - at >= n:
            return
        more = self.bitgen.random_raw(max(n - (len(self.raw) - at), 4096))
        self.used += at
        self.raw = np.concatenate((self.raw[at:], more))
        self.st[0] = 0

    def close(self) -> None:
        """Set the generator to its start advanced by the draws used (and the half-used 32-bit draw)."""
        self.bitgen.state = self.start
        self.bitgen.advance(self.used + int(self.st[0]))
        state = self.bitgen.state
        state["has_uint32"], state["uinteger"] = int(self.st[1]), int(self.st[2])
        self.bitgen.state = state
