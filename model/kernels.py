"""Compiled kernels for the hottest loop of a step, with the pure-NumPy code as the fallback.

A tender round (model/contracts.py) is a few dozen array operations on a few hundred buyers × k
candidates, run ~30 times a month: NumPy's per-call overhead, not arithmetic, sets its cost. The
kernel here does the same arithmetic, in the same order (so results are bit-identical), in one
compiled call. Random numbers are drawn by the caller with NumPy in the order the NumPy path
draws them, so both paths consume the model's streams identically.

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
def tender_awards(buyers, buyer_loc, buyer_foreign, buyer_credit, inverse, flat, n_loc, reachable, u1, u2, gumbel,
                  counts, offsets, rows, loc, foreign, coached_until, month, matchmaking, unit, km, transport,
                  history_weight, score_noise, limit, pair_keys, pair_ids, hist, key_base, segments, spare, cap_share,
                  left, min_value):
    """Awards of one tender round: (buyer, supplier, value) in buyer-major, rank order.

    Mirrors ``sample_by_location`` + ``drop_duplicates`` + the scoring, ranking, offers and
    rationing of ``contracts._tender_round`` operation by operation.
    """
    nb, k = u1.shape
    n_rows = len(rows)
    n_flat = len(flat)
    n_pairs = len(pair_keys)
    cand = np.full((nb, k), -1, np.int64)
    cost = np.empty((nb, k))
    valid = np.zeros((nb, k), np.bool_)
    for i in range(nb):
        inv = inverse[i]
        for j in range(k):  # location by cumulative weight, then a candidate within it
            x = u1[i, j] + inv
            lo, hi = 0, n_flat
            while lo < hi:  # searchsorted(flat, x, side="right")
                mid = (lo + hi) // 2
                if flat[mid] <= x:
                    lo = mid + 1
                else:
                    hi = mid
            lp = min(max(lo - inv * n_loc, 0), n_loc - 1)
            cnt = counts[lp]
            within = np.int64(u2[i, j] * cnt)
            pick = offsets[lp] + min(within, max(cnt - 1, 0))
            if reachable[inv] and cnt > 0:
                cand[i, j] = rows[min(pick, n_rows - 1)]
        for j in range(1, k):  # repeated draws count once (the first)
            for jj in range(j):
                if cand[i, j] == cand[i, jj]:
                    cand[i, j] = -1
                    break
        b = buyers[i]
        for j in range(k):
            if cand[i, j] == b:
                cand[i, j] = -1
            s = cand[i, j] if cand[i, j] >= 0 else 0
            c = unit[s] * (1 + transport * km[buyer_loc[i], loc[s]])
            if (not foreign[s]) and buyer_foreign[i]:
                c -= buyer_credit[i] * unit[s]
            else:
                c -= 0.0
            if coached_until[s] >= month and buyer_foreign[i]:
                c -= matchmaking
            else:
                c -= 0.0
            key = b * key_base + s  # relationship record, as ContractBook.history (within b's pairs)
            h = 0.0
            if n_pairs:
                lo, hi = segments[b], segments[b + 1]
                while lo < hi:
                    mid = (lo + hi) // 2
                    if pair_keys[mid] < key:
                        lo = mid + 1
                    else:
                        hi = mid
                at = min(lo, n_pairs - 1)
                if lo < segments[b + 1] and pair_keys[at] == key and pair_ids[at] >= 0:
                    h = hist[pair_ids[at]]
            c -= history_weight * h
            c += score_noise * gumbel[i, j]
            cost[i, j] = c
            valid[i, j] = cand[i, j] >= 0 and c < limit
    # rank by cost (stable; invalid last), offers and asks per buyer
    win = np.empty((nb, k), np.int64)
    ok = np.zeros((nb, k), np.bool_)
    ask = np.zeros((nb, k))
    asked = np.zeros(len(spare))
    key_sort = np.empty(k)
    idx = np.empty(k, np.int64)
    for i in range(nb):
        for j in range(k):
            key_sort[j] = cost[i, j] if valid[i, j] else np.inf
            idx[j] = j
        for j in range(1, k):  # insertion sort: stable
            v, t = key_sort[j], idx[j]
            jj = j - 1
            while jj >= 0 and key_sort[jj] > v:
                key_sort[jj + 1] = key_sort[jj]
                idx[jj + 1] = idx[jj]
                jj -= 1
            key_sort[jj + 1] = v
            idx[jj + 1] = t
        run = 0.0
        b = buyers[i]
        for j in range(k):
            win[i, j] = cand[i, idx[j]]
            ok[i, j] = valid[i, idx[j]]
            offer = min(spare[win[i, j] if ok[i, j] else 0], cap_share[b]) if ok[i, j] else 0.0
            run += offer
            before = run - offer
            a = max(left[b] - before, 0.0)
            ask[i, j] = min(a, offer)
            asked[win[i, j] if ok[i, j] else 0] += ask[i, j]
    n_keep = 0
    award = np.zeros((nb, k))
    for i in range(nb):
        for j in range(k):
            s = win[i, j] if ok[i, j] else 0
            scale = spare[s] / max(asked[s], 1e-12) if asked[s] > spare[s] else 1.0
            award[i, j] = ask[i, j] * scale
            if ok[i, j] and award[i, j] > min_value:
                n_keep += 1
    bb = np.empty(n_keep, np.int64)
    ss = np.empty(n_keep, np.int64)
    vv = np.empty(n_keep)
    t = 0
    for i in range(nb):
        for j in range(k):
            if ok[i, j] and award[i, j] > min_value:
                bb[t] = buyers[i]
                ss[t] = win[i, j]
                vv[t] = award[i, j]
                t += 1
    return bb, ss, vv


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
def reciprocal_pairs(indptr, indices):
    """Entries (u, v) of a canonical CSR 0/1 matrix whose mirror (v, u) is also there."""
    n = len(indptr) - 1
    supplies = np.zeros(n, np.bool_)  # only a firm that supplies someone can have a two-way pair
    for p in range(len(indices)):
        supplies[indices[p]] = True
    count = 0
    for u in range(n):
        if not supplies[u]:
            continue
        for p in range(indptr[u], indptr[u + 1]):
            v = indices[p]
            lo, hi = indptr[v], indptr[v + 1]
            while lo < hi:  # rows are sorted
                mid = (lo + hi) // 2
                if indices[mid] < u:
                    lo = mid + 1
                else:
                    hi = mid
            if lo < indptr[v + 1] and indices[lo] == u:
                count += 1
    return count


@njit(cache=True, nogil=True)
def history_update(pair, perf, hist, keep_factor, gain, floor):
    """ContractBook.update_history in one pass: fade, move pairs with contracts toward 1, drop faded."""
    n_pairs = len(hist)
    count = np.zeros(n_pairs, np.int64)
    total = np.zeros(n_pairs)
    for i in range(len(pair)):
        count[pair[i]] += 1
        total[pair[i]] += perf[i]
    for p in range(n_pairs):
        h = hist[p] * keep_factor
        if count[p] > 0:
            h += (1 - h) * gain * (total[p] / count[p])
        hist[p] = 0.0 if h <= floor else h
