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

    Only edges between nodes that both have out- and in-edges can be two-way (lead firms buy but
    never sell). Their transpose is built by a counting sort (rows come out sorted), and each
    node's out-row is intersected with its in-row by a merge: O(nodes + edges), no searches.
    """
    n = len(indptr) - 1
    has_in = np.zeros(n, np.bool_)
    for p in range(len(indices)):
        has_in[indices[p]] = True
    tptr = np.zeros(n + 1, np.int64)
    for u in range(n):
        if has_in[u]:
            for p in range(indptr[u], indptr[u + 1]):
                v = indices[p]
                if indptr[v + 1] > indptr[v]:
                    tptr[v + 1] += 1
    for i in range(n):
        tptr[i + 1] += tptr[i]
    fill = tptr[:-1].copy()
    tind = np.empty(tptr[n], np.int64)
    for u in range(n):
        if has_in[u]:
            for p in range(indptr[u], indptr[u + 1]):
                v = indices[p]
                if indptr[v + 1] > indptr[v]:
                    tind[fill[v]] = u
                    fill[v] += 1
    count = 0
    for u in range(n):
        a, a_end = indptr[u], indptr[u + 1]
        b, b_end = tptr[u], tptr[u + 1]
        while a < a_end and b < b_end:
            x, y = indices[a], tind[b]
            if x == y:
                count += 1
                a += 1
                b += 1
            elif x < y:
                a += 1
            else:
                b += 1
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
