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

import os

import numpy as np

try:
    if os.environ.get("CLUSTERLINK_NUMBA", "1") == "0":
        raise ImportError("disabled by CLUSTERLINK_NUMBA=0")
    from numba import njit

    HAVE_NUMBA = True
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
    Cost Σ over edges u→v of out-degree(v).
    """
    n = len(indptr) - 1
    out_ptr = np.zeros(n + 1, np.int64)
    for u in range(n):
        c = 0
        for p in range(indptr[u], indptr[u + 1]):
            if rank[indices[p]] > rank[u]:
                c += 1
        out_ptr[u + 1] = out_ptr[u] + c
    out = np.empty(out_ptr[n], np.int64)
    for u in range(n):
        t = out_ptr[u]
        for p in range(indptr[u], indptr[u + 1]):
            if rank[indices[p]] > rank[u]:
                out[t] = indices[p]
                t += 1
    tri = np.zeros(n)
    mark = np.zeros(n, np.bool_)
    for u in range(n):
        for p in range(out_ptr[u], out_ptr[u + 1]):
            mark[out[p]] = True
        for p in range(out_ptr[u], out_ptr[u + 1]):
            v = out[p]
            for q in range(out_ptr[v], out_ptr[v + 1]):
                w = out[q]
                if mark[w]:
                    tri[u] += 1.0
                    tri[v] += 1.0
                    tri[w] += 1.0
        for p in range(out_ptr[u], out_ptr[u + 1]):
            mark[out[p]] = False
    return tri


@njit(cache=True, nogil=True)
def history_update(pair, perf, hist, keep_factor, gain, floor):
    """ContractBook.update_history in one pass: fade, move pairs with contracts toward 1, drop faded."""
    n_pairs = len(hist)
    acc = np.zeros((n_pairs, 2))  # per pair: contracts, summed delivery (one cache line per contract)
    for i in range(len(pair)):
        acc[pair[i], 0] += 1.0
        acc[pair[i], 1] += perf[i]
    for p in range(n_pairs):
        h = hist[p] * keep_factor
        if acc[p, 0] > 0:
            h += (1 - h) * gain * (acc[p, 1] / acc[p, 0])
        hist[p] = 0.0 if h <= floor else h


@njit(cache=True, nogil=True)
def _popcount(x):
    """Set bits of a uint64 (SWAR)."""
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return np.int64((x * np.uint64(0x0101010101010101)) >> np.uint64(56))


@njit(cache=True, nogil=True)
def compact_book(mask, int_cols, float_cols, index):
    """ContractBook.keep in place: the contracts where ``mask`` holds move to the front of every column
    (order kept); each (keys, positions) index keeps its entries for them, renumbered. Returns the
    number of contracts and of entries left in each index.

    An index entry's new position is its old one less the contracts dropped before it, read from a
    bit per contract and a count per 64 (1/40 of the book's size: it stays in cache while the index,
    in key order, visits positions at random).
    """
    n = len(mask)
    n_blk = (n + 63) >> 6
    dropped = np.zeros(n_blk, np.uint64)
    kept = np.empty(n, np.int64)
    k = 0
    for i in range(n):
        if mask[i]:
            kept[k] = i
            k += 1
        else:
            dropped[i >> 6] |= np.uint64(1) << np.uint64(i & 63)
    before = np.empty(n_blk, np.int64)  # contracts dropped before each block of 64
    c = 0
    for b in range(n_blk):
        before[b] = c
        c += _popcount(dropped[b])
    first = 0  # contracts before the first one dropped stay where they are
    while first < k and kept[first] == first:
        first += 1
    for col in int_cols:  # column by column: a few sequential streams at a time
        for j in range(first, k):
            col[j] = col[kept[j]]
    for col in float_cols:
        for j in range(first, k):
            col[j] = col[kept[j]]
    sizes = np.zeros(len(index), np.int64)
    for t, (keys, pos) in enumerate(index):
        m = 0
        for i in range(len(keys)):
            p = pos[i]
            w = dropped[p >> 6]
            bit = np.uint64(p & 63)
            if (w >> bit) & np.uint64(1):
                continue
            keys[m] = keys[i]
            pos[m] = p - before[p >> 6] - _popcount(w & ((np.uint64(1) << bit) - np.uint64(1)))
            m += 1
        sizes[t] = m
    return k, sizes


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


@njit(cache=True, nogil=True, error_model="numpy")
def fit_volumes(buyer, supplier, cat, value, active, need, floor):
    """contracts.fit_to_needs' arithmetic in one pass: volumes scaled to ≤ need per (buyer, category),
    counting only ``active`` contracts. Returns which active contracts fell below ``floor`` and, over
    the contracts that stay (active, not too small), in book order as np.bincount adds them, the
    value contracted per (buyer, category) and committed per supplier."""
    n_pair = need.shape[0] * need.shape[1]
    n_cat = need.shape[1]
    # per (buyer, category): need, contracted before, contracted after, side by side so that a
    # contract's look-ups share a cache line (the book visits pairs in no useful order)
    acc = np.zeros((n_pair, 3))
    flat_need = need.ravel()
    for p in range(n_pair):
        acc[p, 0] = flat_need[p]
    for i in range(len(value)):  # np.bincount(buyer * n_cat + cat, weights=...): in book order
        acc[buyer[i] * n_cat + cat[i], 1] += value[i] if active[i] else 0.0
    tiny = np.zeros(len(value), np.bool_)
    committed = np.zeros(need.shape[0])
    for i in range(len(value)):
        p = buyer[i] * n_cat + cat[i]
        want, got = acc[p, 0], acc[p, 1]
        value[i] *= want / max(got, 1e-12) if got > want else 1.0
        tiny[i] = value[i] < floor and active[i]
        if active[i] and not tiny[i]:
            acc[p, 2] += value[i]
            committed[supplier[i]] += value[i]
    return tiny, acc[:, 2].copy().reshape(need.shape[0], n_cat), committed


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
    got = np.zeros(n_firms * n_cat)
    n_dom = n_fdi = 0
    for i in range(len(buyer)):
        got[buyer[i] * n_cat + cat[i]] += delivered[i]
        if lead[buyer[i]]:
            if foreign[supplier[i]]:
                n_fdi += 1
            else:
                n_dom += 1
    dom = np.empty(n_dom)
    dom_buyer = np.empty(n_dom, np.int64)
    fdi = np.empty(n_fdi)
    a = b = 0
    for i in range(len(buyer)):
        if lead[buyer[i]]:
            if foreign[supplier[i]]:
                fdi[b] = delivered[i]
                b += 1
            else:
                dom[a], dom_buyer[a] = delivered[i], buyer[i]
                a += 1
    return got.reshape(n_firms, n_cat), dom, dom_buyer, fdi
