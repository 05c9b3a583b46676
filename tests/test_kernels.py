"""The compiled kernels and the NumPy path give bit-identical runs (and draw the same numbers)."""

from __future__ import annotations

import mesa
import numpy as np
import pytest

from benchmarks.worlds import scaled_world
from model import kernels, random_replay, tender_kernel
from model.cluster_model import ClusterModel
from tests.conftest import kernel_path


def _indicators(compiled: bool, sourcing: dict | None = None):
    with kernel_path(compiled):
        sc = scaled_world(400, end="2023-06")
        if sourcing:
            sc = sc.model_copy(update={"sourcing": sc.sourcing.model_copy(update=sourcing)})
        m = ClusterModel(sc, seed=7)
        while m.running:
            m.step()
        book = m.contracts
        res = m.results()
        out = (res["indicators"], res["contracts"], book.value.copy(), book.supplier.copy(), book.end.copy(),
               book.hist.copy(), m.rng_contracts.random(4), np.array([m.candidates_drawn]))
        mesa.Agent._ids.pop(m, None)
        return out


@pytest.mark.skipif(not kernels.HAVE_NUMBA, reason="numba is not installed")
@pytest.mark.parametrize("sourcing", [None, {"score_noise": 0.0}, {"score_noise": 0.3}],
                         ids=["defaults", "no noise: ties", "ten times the noise"])
def test_compiled_tenders_match_numpy(sourcing):
    """The kernel ranks most candidates by bounds on their noise and takes its logarithms only where
    the bounds leave the order open: the ranking stays NumPy's, ties and wide noise included."""
    a, b = _indicators(True, sourcing), _indicators(False, sourcing)
    assert a[0].equals(b[0]) and a[1].equals(b[1])  # indicators; contract events, in order
    for x, y in zip(a[2:], b[2:], strict=True):
        assert np.array_equal(x, y)
    assert a[-1][0] > 0  # both paths count the same candidates drawn


@pytest.mark.skipif(not kernels.HAVE_NUMBA, reason="numba is not installed")
def test_kernel_stream_replays_the_generator():
    """random, gumbel and integers stepped from the PCG64 state are NumPy's values, and the generator
    ends where NumPy's would (including a half-used 32-bit draw)."""
    from model.random_replay import KernelStream

    for seed in range(6):
        ref, rng = np.random.default_rng(seed), np.random.default_rng(seed)
        ref.integers(0, 9, seed % 3)
        rng.integers(0, 9, seed % 3)
        sizes = np.random.default_rng(50 + seed).integers(0, 400, 16)
        want, got = [], []
        stream = KernelStream(rng)
        for t, n in enumerate(sizes):
            if t % 3 == 0:
                want.extend(ref.random(n))
                got.extend(random_replay._random(stream.st) for _ in range(n))
            elif t % 3 == 1:
                want.extend(ref.gumbel(size=n))
                got.extend(random_replay._gumbel(stream.st) for _ in range(n))
            else:
                lo, hi = (1, 25) if seed % 2 else (6, 7 + seed)
                want.extend(ref.integers(lo, hi, n))
                got.extend(random_replay._integer(stream.st, lo, hi - 1 - lo) for _ in range(n))
        stream.close()
        assert np.array_equal(np.array(want, float), np.array(got, float))
        assert rng.bit_generator.state == ref.bit_generator.state
        assert rng.integers(0, 1000, 3).tolist() == ref.integers(0, 1000, 3).tolist()


def test_kernel_stream_steps_pcg64_as_numpy():
    """The 128-bit state arithmetic: raw draws and the state after them are PCG64's own."""
    for seed in (0, 1, 2**63 + 5):
        ref, rng = np.random.default_rng(seed), np.random.default_rng(seed)
        stream = random_replay.KernelStream(rng)
        got = [random_replay._next64(stream.st) for _ in range(2000)]
        assert got == ref.bit_generator.random_raw(2000).tolist()
        stream.close()
        assert rng.bit_generator.state == ref.bit_generator.state


@pytest.mark.skipif(not kernels.HAVE_NUMBA, reason="numba is not installed")
def test_pairwise_sum_is_numpys():
    rng = np.random.default_rng(3)
    for n in [*range(0, 140), 255, 256, 257, 1000, 4099, 70001]:
        w = rng.random((2, n)) * rng.integers(0, 40, n)
        assert (w.sum(axis=1) == [tender_kernel._pairwise_sum(np.ascontiguousarray(row), 0, n) for row in w]).all()


def test_location_draws_find_what_searchsorted_finds():
    """The guide table's short scan (``_draw_locations``) picks the location NumPy's
    ``sample_by_location`` does (``searchsorted`` on the cumulative weights, side right), also for
    locations of no weight, rows of no weight, many locations, and draws next to 0, 1 and the guide's
    steps, where a row's entries and ``u + inv`` round."""
    from model.sampling import location_table

    rng = np.random.default_rng(11)
    edges = np.concatenate([np.arange(tender_kernel.GUIDE + 1) / tender_kernel.GUIDE, [1 - 2.0**-53]])
    near = np.concatenate([edges, np.nextafter(edges, 0), np.nextafter(edges, 1)])
    u = np.concatenate([near[(near >= 0) & (near < 1)], rng.random(3000)])
    for n_loc in (1, 2, 7, 40, 200):
        weight = rng.random((n_loc, n_loc)) * (rng.random((n_loc, n_loc)) < 0.5)  # half the entries 0
        weight[0] = 0.0  # a location nothing is in reach of
        pool = rng.integers(0, n_loc, 5 * n_loc)
        loc = np.concatenate([pool, np.arange(n_loc)])
        pool_rows, buyers = np.arange(len(pool)), len(pool) + np.arange(n_loc)
        rows, counts, offsets, slot, flat, reachable, guide = tender_kernel._location_table(pool_rows, buyers, loc, weight)
        ref = location_table(loc[buyers], pool_rows, loc[pool_rows], weight)
        assert np.array_equal(flat, ref.flat)
        for inv in range(len(reachable)):
            want = np.minimum(np.searchsorted(flat, u + inv, side="right") - inv * n_loc, n_loc - 1).clip(0)
            got = np.empty(len(u), np.int64)
            tender_kernel._draw_locations(flat, guide, inv, n_loc, u, got)
            assert got.tolist() == want.tolist(), (n_loc, inv)


def test_kernel_stream_jumps_ahead_as_numpy():
    """``advanced(st, d)`` is the state ``d`` draws on, as PCG64's own advance (the tender kernel reads
    a round's three blocks of draws with three such cursors)."""
    for seed, d in [(0, 0), (1, 1), (2, 7), (3, 1000), (4, 123_457), (5, 2**40 + 3)]:
        ref, rng = np.random.default_rng(seed), np.random.default_rng(seed)
        rng.random(seed)  # a state other than the first
        ref.random(seed)
        stream = random_replay.KernelStream(rng)
        moved = random_replay.advanced(stream.st, d)
        ref.bit_generator.advance(d)
        assert [random_replay._next64(moved) for _ in range(5)] == ref.bit_generator.random_raw(5).tolist()


@pytest.mark.parametrize("n_keys", [0, 1, 500])
def test_key_segments_are_each_owners_start(n_keys):
    """key_segments(keys, n, per)[b] is where owner b's keys start, as a binary search finds it,
    also for keys exactly at an owner's first key and for owners with no keys."""
    per = (1 << 31) * 64
    rng = np.random.default_rng(n_keys)
    owners = rng.integers(0, 40, n_keys)
    keys = np.sort(owners * per + np.where(rng.random(n_keys) < 0.2, 0, rng.integers(0, per, n_keys)))
    seg = tender_kernel.key_segments(keys, 50, per)
    assert np.array_equal(seg, np.searchsorted(keys, np.arange(51) * per))


@pytest.mark.skipif(not kernels.HAVE_NUMBA, reason="numba is not installed")
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_book_filing_and_dropping_match_numpy(seed):
    """ContractBook's pair filing (in-place merge, repeated and new pairs, new buyers) and compaction
    by positions give the NumPy path's pair table, ids, records, columns and key index."""
    from model.contract_book import ContractBook

    def run(compiled: bool) -> list[np.ndarray]:
        rng = np.random.default_rng(seed)
        out = []
        with kernel_path(compiled):
            book = ContractBook(capacity=8)
            for month in range(6):
                m = int(rng.integers(0, 300))
                buyer, supplier = rng.integers(0, 20 + 10 * month, m), rng.integers(0, 40, m)
                book.add(buyer, supplier, rng.integers(0, 9, m), rng.random(m), month, month + rng.integers(1, 9, m))
                out.append(book._file_pairs(book.buyer[-m:] if m else buyer, book.supplier[-m:] if m else supplier))
                book.hist[:] = rng.random(len(book.hist))
                book.drop(np.flatnonzero(rng.random(book.n) < 0.1 * (month % 3)))
                book.keep(rng.random(book.n) > 0.05)
                out += [book.pair_keys.copy(), book.pair_ids.copy(), book.hist.copy(), book.cid.copy(),
                        book.value.copy(), *(a.copy() for part in book._ix.values() for a in part)]
        return out

    a, b = run(True), run(False)
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x, y)


@pytest.mark.skipif(not kernels.HAVE_NUMBA, reason="numba is not installed")
@pytest.mark.parametrize("seed", [0, 1])
def test_book_segments_stay_current(seed):
    """The per-buyer starts the book keeps current as pairs are filed and contracts dropped (and
    recomputes when the base index is merged or firms are added) are those computed afresh."""
    from model.contract_book import ContractBook

    rng = np.random.default_rng(seed)
    per_pair, per_key = 1 << 31, (1 << 31) * 64
    with kernel_path(True):
        book = ContractBook(capacity=8)
        for month in range(40):
            n_firms = 20 + 3 * month
            m = int(rng.integers(0, 1500))  # enough for the tail to be merged into the base a few times
            buyer, supplier = rng.integers(0, n_firms, m), rng.integers(0, n_firms, m)
            book.add(buyer, supplier, rng.integers(0, 9, m), rng.random(m), month, month + rng.integers(1, 9, m))
            book.update_history(0.1)
            book.drop(np.flatnonzero(rng.random(book.n) < 0.03 * (month % 4)))
            for n in (n_firms, n_firms + 5):
                assert np.array_equal(book.pair_segments(n), tender_kernel.key_segments(book.pair_keys, n, per_pair))
                base = book._ix["base"][0]
                assert np.array_equal(book.base_segments(n), tender_kernel.key_segments(base, n, per_key))


@pytest.mark.skipif(not kernels.HAVE_NUMBA, reason="numba is not installed")
@pytest.mark.parametrize("compiled", [True, False])
def test_pair_filter_passes_every_pair_on_file_and_rejects_most_others(compiled):
    """The tender kernel skips the search of a buyer's pairs where the pair filter says 'surely not
    on file': a pair on file that it rejected would lose its relationship record. Checked as the
    table grows (pairs are added to a layout, which is remade when outgrown), on both paths of pair
    filing, with buyers the layout does not cover yet."""
    from model.contract_book import FILTER_BITS_PER_PAIR, FILTER_REGROW, ContractBook

    rng = np.random.default_rng(3)
    with kernel_path(compiled):
        book = ContractBook(capacity=8)
        layouts = set()
        for month in range(30):
            m = int(rng.integers(0, 3000))
            n_buyers = 50 + 20 * month
            buyer, supplier = rng.integers(0, n_buyers, m), rng.integers(0, 400, m)
            book.add(buyer, supplier, rng.integers(0, 9, m), rng.random(m), month, month + rng.integers(1, 9, m))
            book._file_pairs(book.buyer[-m:] if m else buyer, book.supplier[-m:] if m else supplier)
            if month % 3 == 0:  # the kernel asks for the filter; in the months between, pairs are only added
                bits, start, shift = book.pair_filter_for(n_buyers)
                layouts.add(len(bits))
                region_bits = 64 * np.diff(start)
                assert np.all(region_bits >= 64) and np.all(region_bits & (region_bits - 1) == 0)
                assert np.all(np.left_shift(1, 64 - shift.astype(np.int64)) == region_bits)
            owner = book.pair_keys // book._key_base
            covered = owner < len(book.filter_shift)
            assert 0 < covered.sum()
            assert all(tender_kernel._may_hold(book.pair_filter, book.filter_start, book.filter_shift, b, k)
                       for b, k in zip(owner[covered], book.pair_keys[covered], strict=True))
        bits, start, shift = book.pair_filter_for(n_buyers)
        assert 64 * len(bits) >= FILTER_BITS_PER_PAIR / FILTER_REGROW * len(book.pair_keys)  # remade when outgrown
        others = np.setdiff1d(rng.integers(0, int(book.pair_keys.max()), 20000), book.pair_keys)
        others = others[others // book._key_base < len(shift)]
        passed = np.mean([tender_kernel._may_hold(bits, start, shift, k // book._key_base, k) for k in others])
        assert len(layouts) > 2 and len(book.pair_keys) > 10000
        assert passed < 0.1  # 16-32 bits a pair: a few per cent of pairs not on file are searched


def test_gumbel_bounds_hold_every_draw_of_their_bucket():
    """The tender kernel orders candidates by bounds on their Gumbel noise from the draw's top bits:
    a value outside its bucket's bounds would misrank. Checked at every bucket's ends and inside."""
    shift = 64 - tender_kernel.NOISE_BITS
    step = 1 << (53 - tender_kernel.NOISE_BITS)
    rng = np.random.default_rng(5)
    for b in range(1 << tender_kernel.NOISE_BITS):
        rs = {max(b * step, 1), (b + 1) * step - 1, *rng.integers(max(b * step, 1), (b + 1) * step, 6).tolist()}
        for r in rs:
            x = np.uint64(r) << np.uint64(11) | np.uint64(2047)  # the low bits are not part of the value
            g = random_replay._gumbel_of(x)
            assert int(x) >> shift == b
            assert tender_kernel.GUMBEL_LO[b] <= g <= tender_kernel.GUMBEL_HI[b], (b, r)
    lo, hi = tender_kernel.GUMBEL_LO, tender_kernel.GUMBEL_HI
    assert np.all(np.diff(lo) < 0) and np.all(np.diff(hi) < 0) and np.all(lo < hi)  # G falls as the draw rises
    assert np.all(hi[1:] >= lo[:-1] - 1e-6)  # neighbouring buckets meet: no value falls between them
    assert tender_kernel.GUMBEL_HI[0] > 36 and tender_kernel.GUMBEL_LO[-1] < -3.5  # the two tails
