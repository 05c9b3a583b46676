"""Compiled kernels for the hottest loops of a step, with the pure-NumPy code as the fallback.

NumPy's per-call overhead, not arithmetic, sets the cost of many small passes a month over the
contract book and the contract network; these kernels make each such pass one compiled loop with
the same arithmetic in the same order, so results are bit-identical to the NumPy path: book
compaction, index merges, relationship records, fitting volumes to needs, delivery, lead firms'
sourcing figures, and the network's triangle and two-way-pair counts. The tender rounds are in
model/tender_kernel.py (their random draws in model/random_replay.py), the labour, learning and
indicator kernels in model/kernels_phases.py; all share this module's switch.

numba is optional: without it (or with ``CLUSTERLINK_NUMBA=0`` in the environment) the NumPy
path runs. ``use_compiled(False)`` switches at run time (tests compare the two paths).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

# Every module whose kernels are compiled; a kernel may inline helpers from any of them.
KERNEL_SOURCES = ("kernels.py", "kernels_phases.py", "random_replay.py", "tender_kernel.py")


def kernel_sources_digest() -> str:
    """SHA-256 over the kernel modules' sources: the stamp every cached kernel is checked against."""
    here = Path(__file__).resolve().parent
    return hashlib.sha256(b"".join((here / name).read_bytes() for name in KERNEL_SOURCES)).hexdigest()


def _stamp_caches_with_all_kernel_sources() -> None:
    """Make numba's on-disk cache of our kernels go stale when any kernel module changes.

    numba checks a cached kernel against its own file's time and size only, but kernels here call
    helpers in the other kernel modules, whose code is compiled into them: after an update of
    tender_kernel.py, say, a cached kernels_phases kernel would go on running the old helper. Our
    kernels' caches are stamped with a digest of all four modules instead. If numba's caching
    internals differ from what this expects, numba's own stamps are left in place.
    """
    try:
        from numba.core import caching

        impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl  # the public name in numba 0.68
        bases = [c for c in impl._locator_classes if issubclass(c, caching._SourceFileBackedLocatorMixin)]
    except (ImportError, AttributeError):  # pragma: no cover - another numba
        return
    if any(getattr(c, "_clusterlink", False) for c in impl._locator_classes):
        return
    here = Path(__file__).resolve().parent
    stamp = ("clusterlink kernel sources", kernel_sources_digest())

    def ours(base: type) -> type:
        class Locator(base):  # type: ignore[misc, valid-type]
            _clusterlink = True

            @classmethod
            def from_function(cls, py_func, py_file):  # noqa: ANN001, ANN206 - numba's signature
                if Path(py_file).resolve().parent != here:
                    return None  # someone else's kernel: numba's own locators
                return super().from_function(py_func, py_file)

            def get_source_stamp(self) -> tuple[str, str]:
                return stamp

        Locator.__name__ = Locator.__qualname__ = f"ClusterlinkStamped{base.__name__}"
        return Locator

    impl._locator_classes = [ours(c) for c in bases] + list(impl._locator_classes)


try:
    if os.environ.get("CLUSTERLINK_NUMBA", "1") == "0":
        raise ImportError("disabled by CLUSTERLINK_NUMBA=0")
    from numba import njit

    HAVE_NUMBA = True
    _stamp_caches_with_all_kernel_sources()
except ImportError:  # pragma: no cover - depends on the environment
    HAVE_NUMBA = False

    def njit(*args, **kwargs):  # type: ignore[no-redef]
        return (lambda fn: fn) if not args or not callable(args[0]) else args[0]


_state = {"compiled": HAVE_NUMBA}


def use_compiled(on: bool | None = None) -> bool:
    """Whether the compiled kernels run (``on`` switches them, if numba is there)."""
    if on is not None:
        _state["compiled"] = bool(on) and HAVE_NUMBA
    return _state["compiled"]


@njit(cache=True, nogil=True)
def triangles_oriented(indptr, indices, rank):
    """Triangles through each node of a symmetric 0/1 CSR graph (exact counts, as float64).

    Forward algorithm: edges point from lower to higher rank (degree order), so hubs have few
    out-edges; each node marks its out-neighbours, and every out-neighbour's marked
    out-neighbours close a triangle, found exactly once and credited to its three nodes.
    Cost Σ over edges u→v of out-degree(v). Marks are added as 0/1 instead of tested: a
    branch taken at random costs more than the add.
    """
    n = len(indptr) - 1
    out_ptr = np.zeros(n + 1, np.int64)
    out = np.empty(len(indices), np.int64)
    t = 0
    for u in range(n):
        ru = rank[u]
        for p in range(indptr[u], indptr[u + 1]):
            out[t] = indices[p]
            t += rank[indices[p]] > ru
        out_ptr[u + 1] = t
    tri = np.zeros(n, np.int64)
    mark = np.zeros(n, np.uint8)  # a byte a node: 8x less cache than int64 (100k world: 120 -> 108 ms)
    for u in range(n):
        for p in range(out_ptr[u], out_ptr[u + 1]):
            mark[out[p]] = 1
        at_u = 0
        for p in range(out_ptr[u], out_ptr[u + 1]):
            v = out[p]
            at_v = 0
            for q in range(out_ptr[v], out_ptr[v + 1]):
                hit = np.int64(mark[out[q]])
                at_v += hit
                tri[out[q]] += hit
            at_u += at_v
            tri[v] += at_v
        tri[u] += at_u
        for p in range(out_ptr[u], out_ptr[u + 1]):
            mark[out[p]] = 0
    return tri.astype(np.float64)


@njit(cache=True, nogil=True)
def history_update(pair, perf, hist, keep_factor, gain, floor, work):
    """ContractBook.update_history in one pass: fade, move pairs with contracts toward 1, drop faded.
    ``work``: scratch space of 2 × len(hist) (ContractBook.scratch)."""
    n_pairs = len(hist)
    count, total = work[:n_pairs], work[n_pairs : 2 * n_pairs]  # per pair: contracts, summed delivery
    count[:] = 0.0
    total[:] = 0.0
    for i in range(len(pair)):
        count[pair[i]] += 1.0
        total[pair[i]] += perf[i]
    for p in range(n_pairs):
        h = hist[p] * keep_factor
        h += (1 - h) * gain * (total[p] / max(count[p], 1.0))  # no contract: + 0.0 (no branch)
        hist[p] = 0.0 if h <= floor else h


@njit(cache=True, nogil=True)
def _popcount(x):
    """Set bits of a uint64 (SWAR)."""
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return np.int64((x * np.uint64(0x0101010101010101)) >> np.uint64(56))


@njit(cache=True, nogil=True)
def _copy(dst, src):
    """dst[i] = src[i] for equal-length 1-d views, in increasing i (so ``dst`` may start below ``src``
    in the same array): a plain loop from 0 the compiler vectorises."""
    for i in range(len(src)):
        dst[i] = src[i]


@njit(cache=True, nogil=True)
def _close_gaps(col, drops, n):
    """Shift each run of ``col[:n]`` between dropped positions (``drops``, sorted) left over the gaps."""
    nd = len(drops)
    for k in range(nd):
        s = drops[k] + 1
        e = drops[k + 1] if k + 1 < nd else n
        _copy(col[s - k - 1 : e - k - 1], col[s:e])


@njit(cache=True, nogil=True)
def shift_segments(seg, keys, per, sign):
    """Keep ``seg`` (tender_kernel.key_segments of a sorted key table, for owners 0..len(seg) - 2)
    current when sorted ``keys`` join the table (``sign`` 1) or leave it (-1): ``seg[b]`` moves by the
    number of them with owner < b. One pass over the owners and the keys, not over the table
    (an empty ``seg``: nothing to keep)."""
    i = 0
    for b in range(len(seg)):
        start = b * per
        while i < len(keys) and keys[i] < start:
            i += 1
        seg[b] += sign * i


@njit(cache=True, nogil=True)
def compact_book(drops, n, int_cols, float_cols, index, seg, per):
    """ContractBook.drop in place: the contracts at positions ``drops`` (sorted, distinct, < ``n``)
    leave every column, the others move to the front in order; each (keys, positions) index keeps
    its entries for them, renumbered, and ``seg`` (the first index's per-owner starts, owner = key //
    ``per``; may be empty) is kept current. Returns the number of entries left in each index.

    An index entry's new position is its old one less the contracts dropped before it, read from a
    bit per contract and a count per 64 (1/40 of the book's size: it stays in cache while the index,
    in key order, visits positions at random).
    """
    n_blk = (n + 63) >> 6
    dropped = np.zeros(n_blk, np.uint64)
    for p in drops:
        dropped[p >> 6] |= np.uint64(1) << np.uint64(p & 63)
    before = np.empty(n_blk, np.int64)  # contracts dropped before each block of 64
    c = 0
    for b in range(n_blk):
        before[b] = c
        c += _popcount(dropped[b])
    for col in int_cols:  # column by column: one sequential stream at a time
        _close_gaps(col, drops, n)
    for col in float_cols:
        _close_gaps(col, drops, n)
    sizes = np.zeros(len(index), np.int64)
    gone = np.empty(len(drops), np.int64)  # an index holds each position at most once
    n_gone = 0
    for t, (keys, pos) in enumerate(index):
        m = 0
        for i in range(len(keys)):
            p = pos[i]
            w = dropped[p >> 6]
            bit = np.uint64(p & 63)
            if (w >> bit) & np.uint64(1):
                if t == 0:
                    gone[n_gone] = keys[i]
                    n_gone += 1
                continue
            keys[m] = keys[i]
            pos[m] = p - before[p >> 6] - _popcount(w & ((np.uint64(1) << bit) - np.uint64(1)))
            m += 1
        sizes[t] = m
    shift_segments(seg, gone[:n_gone], per, -1)
    return sizes


@njit(cache=True, nogil=True)
def merge_sorted(keys, vals, new_keys, new_vals):
    """``contracts._merge_sorted`` for new keys already sorted (stably): each new entry goes after the
    entries with an equal key, as ``np.insert`` at ``searchsorted(side="right")`` puts it."""
    n, m = len(keys), len(new_keys)
    out_k = np.empty(n + m, keys.dtype)
    out_v = np.empty(n + m, vals.dtype)
    i = j = t = 0
    while j < m:
        while i < n and keys[i] <= new_keys[j]:
            out_k[t], out_v[t] = keys[i], vals[i]
            i += 1
            t += 1
        out_k[t], out_v[t] = new_keys[j], new_vals[j]
        j += 1
        t += 1
    while i < n:
        out_k[t], out_v[t] = keys[i], vals[i]
        i += 1
        t += 1
    return out_k, out_v


@njit(cache=True, nogil=True)
def _copy_back(dst, src):
    """dst[i] = src[i] for equal-length 1-d views, in decreasing i (so ``dst`` may start above ``src``
    in the same array)."""
    for i in range(len(src) - 1, -1, -1):
        dst[i] = src[i]


@njit(cache=True, nogil=True)
def file_pairs(key_buf, id_buf, n, keys, next_id, seg, per):
    """ContractBook._file_pairs for pair ``keys`` in sorted order, on the pair table ``key_buf[:n]``,
    ``id_buf[:n]`` (buffers with room for ``len(keys)`` more): the id of each key (new pairs get
    ``next_id`` on, one per distinct key, in key order as ``np.unique`` numbers them), the new pairs
    merged into the table in place, and ``seg`` (the table's per-owner starts, owner = key // ``per``;
    may be empty) kept current. Returns (ids, number of new pairs)."""
    m = len(keys)
    ids = np.empty(m, np.int64)
    at = np.empty(m, np.int64)  # each new pair's key and where it goes in the old table
    new_keys = np.empty(m, keys.dtype)
    n_new = j = 0
    for k in range(m):
        q = keys[k]
        if n_new and q == keys[k - 1] and ids[k - 1] >= next_id:
            ids[k] = ids[k - 1]  # the same new pair again
            continue
        j += np.searchsorted(key_buf[j:n], q)  # keys are sorted: search on from the last one
        if j < n and key_buf[j] == q:
            ids[k] = id_buf[j]
        else:
            ids[k] = next_id + n_new
            at[n_new], new_keys[n_new] = j, q
            n_new += 1
    end = n  # from the back: each run of the old table moves right past the new pairs before it
    for r in range(n_new - 1, -1, -1):
        s = at[r]
        _copy_back(key_buf[s + r + 1 : end + r + 1], key_buf[s:end])
        _copy_back(id_buf[s + r + 1 : end + r + 1], id_buf[s:end])
        key_buf[s + r], id_buf[s + r] = new_keys[r], next_id + r
        end = s
    shift_segments(seg, new_keys[:n_new], per, 1)
    return ids, n_new


@njit(cache=True, nogil=True, error_model="numpy")
def fit_volumes(buyer, supplier, cat, value, ended, need, floor):
    """contracts.fit_to_needs' arithmetic in one call: volumes scaled to ≤ need per (buyer, category),
    counting only running contracts (not at the sorted positions ``ended``). Returns the positions of
    the running contracts that fell below ``floor``, the positions to drop (ended or too small, sorted)
    and, over the contracts that stay, in book order as np.bincount adds them, the value contracted
    per (buyer, category) and committed per supplier."""
    n_cat = need.shape[1]
    n_pair = need.shape[0] * n_cat
    n, n_end = len(value), len(ended)
    # per (buyer, category), one flat array per quantity: the book visits pairs in no useful order, and
    # three arrays of 8 bytes a pair stay in cache better than one of 24 (the pass took 3x as long)
    flat_need = need.ravel()
    got = np.zeros(n_pair)
    e = 0
    for i in range(n):  # np.bincount(buyer * n_cat + cat, weights=...): in book order
        if e < n_end and ended[e] == i:
            e += 1  # counts for nothing (its weight 0.0 leaves a sum from +0.0 unchanged)
            continue
        got[buyer[i] * n_cat + cat[i]] += value[i]
    ratio = np.empty(n_pair)  # the factor a pair's volumes are scaled by
    for p in range(n_pair):
        want, g = flat_need[p], got[p]
        ratio[p] = want / max(g, 1e-12) if g > want else 1.0
    after = np.zeros(n_pair)
    tiny = np.empty(n, np.int64)
    drops = np.empty(n, np.int64)
    committed = np.zeros(need.shape[0])
    n_tiny = n_drop = e = 0
    for i in range(n):
        p = buyer[i] * n_cat + cat[i]
        value[i] *= ratio[p]
        if e < n_end and ended[e] == i:
            e += 1
            drops[n_drop] = i
            n_drop += 1
        elif value[i] < floor:
            tiny[n_tiny] = i
            drops[n_drop] = i
            n_tiny += 1
            n_drop += 1
        else:
            after[p] += value[i]
            committed[supplier[i]] += value[i]
    return tiny[:n_tiny].copy(), drops[:n_drop].copy(), after.reshape(need.shape[0], n_cat), committed


@njit(cache=True, nogil=True, error_model="numpy")
def deliver_shares(supplier, value, perf, cap):
    """contracts.deliver in one pass: each supplier's committed value and delivered share, the value
    delivered per contract, and the contracts' delivery records (updated in place)."""
    committed = np.zeros(len(cap))
    for i in range(len(value)):
        committed[supplier[i]] += value[i]
    share = np.empty(len(cap))
    for r in range(len(cap)):
        share[r] = min(1.0, cap[r] / max(committed[r], 1e-12)) if committed[r] > 0 else 1.0
    delivered = np.empty(len(value))
    for i in range(len(value)):
        sh = share[supplier[i]]
        delivered[i] = value[i] * sh
        perf[i] = 0.7 * perf[i] + 0.3 * sh
    return committed, share, delivered


@njit(cache=True, nogil=True)
def lead_sourcing(buyer, supplier, cat, delivered, lead, foreign, n_firms, n_cat):
    """For contracts._sourcing_stats: value delivered per (buyer, category), and the deliveries to
    lead firms from domestic and from foreign suppliers (book order) with the domestic ones' buyers."""
    n = len(buyer)
    got = np.zeros(n_firms * n_cat)
    kind = np.empty(n, np.int8)  # 0: not to a lead firm, 1: to one from a domestic supplier, 2: from a foreign one
    n_dom = n_fdi = 0
    for i in range(n):
        got[buyer[i] * n_cat + cat[i]] += delivered[i]
        k = np.int8(lead[buyer[i]]) * (np.int8(1) + np.int8(foreign[supplier[i]]))
        kind[i] = k
        n_dom += k == 1
        n_fdi += k == 2
    # every contract writes its slot, only the right kind moves on: no branch on an unpredictable kind
    dom, dom_buyer, fdi = np.empty(n_dom + 1), np.empty(n_dom + 1, np.int64), np.empty(n_fdi + 1)
    a = b = 0
    for i in range(n):
        dom[a], dom_buyer[a], fdi[b] = delivered[i], buyer[i], delivered[i]
        a += kind[i] == 1
        b += kind[i] == 2
    return got.reshape(n_firms, n_cat), dom[:n_dom], dom_buyer[:n_dom], fdi[:n_fdi]


@njit(cache=True, nogil=True)
def open_needs(need, contracted, draw, p_review, review_all, alive, order, max_share):
    """run_tenders' open needs as tender_kernel.month_tenders takes them: ``need`` less ``contracted``
    where the buyer reviews it this month (``draw`` < ``p_review``, or ``review_all``) and is alive,
    else 0, and ``max_share`` of it (a supplier's cap); both (category in ``order``, firm) tables."""
    n = need.shape[0]
    open_t = np.empty((len(order), n))
    cap_t = np.empty((len(order), n))
    for i in range(n):
        for j in range(len(order)):
            c = order[j]
            v = need[i, c] - contracted[i, c]  # computed either way: a select, not a branch taken at random
            v = v if (review_all | (draw[i, c] < p_review)) & alive[i] else 0.0
            open_t[j, i] = v
            cap_t[j, i] = max_share * v
    return open_t, cap_t
