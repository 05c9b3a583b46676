"""Compiled kernels for the record, labour and learning phases, with NumPy code as the fallback.

Each kernel does in one pass what the NumPy path (next to its caller) does in several, with the
same arithmetic in the same order, so both paths give identical values; the switch is the
model's one (``model.kernels.use_compiled``; ``CLUSTERLINK_NUMBA=0`` turns numba off).
``tests/test_kernels_phases.py`` checks that both paths agree.
"""

from __future__ import annotations

import numpy as np

from model.kernels import njit


@njit(cache=True, nogil=True)
def active_pair_csr(pair, pair_keys, pair_ids, n_ids, key_base, n):
    """Directed buyer→supplier graph of the pairs with a contract, as canonical CSR (indptr, indices).

    ``pair`` holds each contract's pair id; ``pair_keys`` (sorted, buyer·key_base + supplier) and
    ``pair_ids`` are the book's pair table, so rows come out sorted without a sort.
    """
    active = np.zeros(n_ids, np.bool_)
    for i in range(len(pair)):
        active[pair[i]] = True
    count = 0
    for j in range(len(pair_keys)):
        if active[pair_ids[j]]:
            count += 1
    indptr = np.zeros(n + 1, np.int64)
    indices = np.empty(count, np.int64)
    t = 0
    for j in range(len(pair_keys)):
        if active[pair_ids[j]]:
            key = pair_keys[j]
            indices[t] = key % key_base
            indptr[key // key_base + 1] += 1
            t += 1
    for i in range(n):
        indptr[i + 1] += indptr[i]
    return indptr, indices


@njit(cache=True, nogil=True)
def two_way_pairs(indptr, indices):
    """Entries (u, v) of a canonical 0/1 CSR graph whose mirror (v, u) is also there.

    Rows are visited in order, so the rows v > u asked "do you hold u?" are asked for ever larger
    u: one cursor per row, moved forward only, answers every question in O(nodes + edges), with no
    transpose and no searches. A found pair counts both its entries; an entry (u, u) is its own mirror.
    """
    n = len(indptr) - 1
    cursor = indptr[:-1].copy()
    count = 0
    for u in range(n):
        for p in range(indptr[u], indptr[u + 1]):
            v = indices[p]
            if v < u:
                continue  # counted from row v, when it asked row u
            if v == u:
                count += 1
                continue
            c, end = cursor[v], indptr[v + 1]
            while c < end and indices[c] < u:
                c += 1
            cursor[v] = c
            if c < end and indices[c] == u:
                count += 2
    return count


@njit(cache=True, nogil=True)
def largest_alive_component(indptr, indices, alive):
    """Most alive nodes in one connected component of a graph (edge direction ignored).

    Union-find with union by size and path halving over the CSR edges.
    """
    n = len(indptr) - 1
    parent = np.arange(n)
    size = np.ones(n, np.int64)
    for u in range(n):
        for p in range(indptr[u], indptr[u + 1]):
            a, b = u, indices[p]
            while parent[a] != a:
                parent[a] = parent[parent[a]]
                a = parent[a]
            while parent[b] != b:
                parent[b] = parent[parent[b]]
                b = parent[b]
            if a != b:
                if size[a] < size[b]:
                    a, b = b, a
                parent[b] = a
                size[a] += size[b]
    count = np.zeros(n, np.int64)
    best = 0
    for u in range(n):
        if alive[u]:
            r = u
            while parent[r] != r:
                r = parent[r]
            count[r] += 1
            if count[r] > best:
                best = count[r]
    return best


@njit(cache=True, nogil=True)
def group_floor_allocate(total, group, weight):
    """``model.sampling.group_floor_allocate`` in one compiled call: the same sums in the same order.

    Members are ranked within their group by descending fractional share, ties by row (the
    stable ``lexsort`` of the NumPy code); the first ``left[g]`` with positive weight get +1.
    """
    n, n_g = len(group), len(total)
    out = np.zeros(n, np.int64)
    if n == 0:
        return out
    gsum = np.zeros(n_g)
    for i in range(n):
        gsum[group[i]] += weight[i]
    share = np.zeros(n)
    base = np.zeros(n, np.int64)
    base_sum = np.zeros(n_g)
    for i in range(n):
        g = group[i]
        if gsum[g] > 0:
            share[i] = total[g] * weight[i] / gsum[g]
        base[i] = np.int64(np.floor(share[i] + 1e-9))
        base_sum[g] += base[i]
    left = np.zeros(n_g, np.int64)
    for g in range(n_g):
        if gsum[g] > 0:
            left[g] = total[g] - np.int64(np.round(base_sum[g]))
    size = np.zeros(n_g + 1, np.int64)  # members by group, in row order (a counting sort)
    for i in range(n):
        size[group[i] + 1] += 1
    for g in range(n_g):
        size[g + 1] += size[g]
    fill = size[:-1].copy()
    members = np.empty(n, np.int64)
    for i in range(n):
        members[fill[group[i]]] = i
        fill[group[i]] += 1
    for g in range(n_g):
        lo, hi = size[g], size[g + 1]
        if left[g] <= 0 or hi == lo:
            for t in range(lo, hi):
                out[members[t]] = base[members[t]]
            continue
        rows = members[lo:hi]
        neg = np.empty(hi - lo)
        for t in range(hi - lo):
            neg[t] = -(share[rows[t]] - base[rows[t]])
        order = np.argsort(neg, kind="mergesort")  # stable: ties keep row order
        for r in range(hi - lo):
            i = rows[order[r]]
            out[i] = base[i] + (1 if (r < left[g] and weight[i] > 0) else 0)
    return out


@njit(cache=True, nogil=True)
def best_job_offers(origin, inverse, flat, n_loc, reachable, u1, u2, counts, offsets, rows, wage):
    """Each seeker's best offer among its drawn vacancies: (destination or -1, its wage or -inf).

    Mirrors ``sample_by_location`` (location by cumulative weight, then a firm within it, from the
    uniform draws ``u1``, ``u2``), ``drop_duplicates``, dropping the seeker's own firm, and the
    first-maximum ``argmax`` of ``labour._job_moves`` operation by operation.
    """
    nb, k = u1.shape
    n_rows, n_flat = len(rows), len(flat)
    dest = np.full(nb, -1, np.int64)
    best = np.full(nb, -np.inf)
    cand = np.empty(k, np.int64)
    for i in range(nb):
        inv = inverse[i]
        for j in range(k):
            cand[j] = -1
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
                cand[j] = rows[min(pick, n_rows - 1)]
        for j in range(1, k):  # repeated draws count once (the first)
            for jj in range(j):
                if cand[j] == cand[jj]:
                    cand[j] = -1
                    break
        bj, bv = 0, -np.inf
        for j in range(k):
            if cand[j] == origin[i]:
                cand[j] = -1
            v = wage[cand[j]] if cand[j] >= 0 else -np.inf
            if j == 0 or v > bv:
                bj, bv = j, v
        dest[i] = cand[bj]
        best[i] = bv
    return dest, best


@njit(cache=True, nogil=True)
def backward_terms(buyer, supplier, delivered, foreign, tech, n):
    """The contracts that carry backward learning: (supplier, share of its sales, buyer τ − supplier τ).

    Those with a foreign buyer and a supplier that sold something (the others weigh 0); sales are
    summed in book order, as ``np.bincount`` does.
    """
    sales = np.zeros(n)
    for i in range(len(supplier)):
        sales[supplier[i]] += delivered[i]
    count = 0
    for i in range(len(supplier)):
        if foreign[buyer[i]] and sales[supplier[i]] > 0:
            count += 1
    sup = np.empty(count, np.int64)
    share = np.empty(count)
    gap = np.empty(count)
    t = 0
    for i in range(len(supplier)):
        s = supplier[i]
        if foreign[buyer[i]] and sales[s] > 0:
            sup[t] = s
            share[t] = delivered[i] / sales[s]
            gap[t] = tech[buyer[i]] - tech[s]
            t += 1
    return sup, share, gap


@njit(cache=True, nogil=True)
def undirected_csr(indptr, indices):
    """The symmetric 0/1 CSR (sorted rows) of a canonical directed CSR graph: each row ∪ its column."""
    n = len(indptr) - 1
    tptr = np.zeros(n + 1, np.int64)
    for p in range(len(indices)):
        tptr[indices[p] + 1] += 1
    for i in range(n):
        tptr[i + 1] += tptr[i]
    fill = tptr[:-1].copy()
    tind = np.empty(len(indices), np.int64)
    for u in range(n):  # transpose by a counting sort: rows come out sorted
        for p in range(indptr[u], indptr[u + 1]):
            tind[fill[indices[p]]] = u
            fill[indices[p]] += 1
    uptr = np.zeros(n + 1, np.int64)
    uind = np.empty(2 * len(indices), np.int64)
    t = 0
    for u in range(n):  # merge row u and column u, once each
        a, a_end = indptr[u], indptr[u + 1]
        b, b_end = tptr[u], tptr[u + 1]
        while a < a_end or b < b_end:
            if b >= b_end or (a < a_end and indices[a] < tind[b]):
                uind[t] = indices[a]
                a += 1
            elif a >= a_end or tind[b] < indices[a]:
                uind[t] = tind[b]
                b += 1
            else:
                uind[t] = indices[a]
                a += 1
                b += 1
            t += 1
        uptr[u + 1] = t
    return uptr, uind[:t].copy()


@njit(cache=True, nogil=True)
def seller_counts(buyer, supplier, foreign, is_lead, n):
    """Domestic firms selling to a lead firm, domestic firms selling to a supplier, lead firms buying domestic."""
    tier1 = np.zeros(n, np.bool_)
    tier2 = np.zeros(n, np.bool_)
    lead_dom = np.zeros(n, np.bool_)
    for i in range(len(supplier)):
        s = supplier[i]
        if not foreign[s]:
            b = buyer[i]
            if is_lead[b]:
                tier1[s] = True
                lead_dom[b] = True
            else:
                tier2[s] = True
    return tier1.sum(), tier2.sum(), lead_dom.sum()
