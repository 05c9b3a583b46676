"""Distance-weighted candidate draws, shared by sourcing tenders and job search.

Instead of scoring all pairs of firms, each searcher draws ``k`` candidates: first a location
with probability ∝ (weight of that location seen from the searcher's) × (candidates there), then
a candidate uniformly within it. Cost is O(searchers × k × log locations).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


def sample_by_location(rng: np.random.Generator, origin_loc: np.ndarray, cand_rows: np.ndarray,
                       cand_loc: np.ndarray, loc_weight: np.ndarray, k: int) -> np.ndarray:
    """Draw ``k`` candidate rows per origin; -1 where no candidate has positive weight.

    Args:
        origin_loc: location index of each searcher, shape (T,).
        cand_rows: rows that may be drawn, shape (M,).
        cand_loc: location index of each candidate, shape (M,).
        loc_weight: (L, L) weight of destination location seen from origin location.
        k: draws per searcher (with replacement; callers drop duplicates).
    """
    n_orig = len(origin_loc)
    out = np.full((n_orig, k), -1, dtype=np.int64)
    if n_orig == 0 or len(cand_rows) == 0:
        return out
    t = location_table(origin_loc, cand_rows, cand_loc, loc_weight)
    rows, counts, offsets, inverse, flat, n_loc = t.rows, t.counts, t.offsets, t.inverse, t.flat, t.n_loc
    u = rng.random((n_orig, k)) + inverse[:, None]
    loc_pick = np.searchsorted(flat, u, side="right") - inverse[:, None] * n_loc
    loc_pick = np.clip(loc_pick, 0, n_loc - 1)
    within = (rng.random((n_orig, k)) * counts[loc_pick]).astype(np.int64)
    pick = offsets[loc_pick] + np.minimum(within, np.maximum(counts[loc_pick] - 1, 0))
    ok = t.reachable[inverse][:, None] & (counts[loc_pick] > 0)
    out[ok] = rows[np.minimum(pick, len(rows) - 1)][ok]
    return out


class LocationTable(NamedTuple):
    """Candidates grouped by location, and each searcher location's cumulative draw weights."""

    rows: np.ndarray  # candidate rows sorted by location (stable)
    counts: np.ndarray  # candidates per location
    offsets: np.ndarray  # first position of each location in ``rows``
    inverse: np.ndarray  # per searcher, index of its location among the distinct searcher locations
    flat: np.ndarray  # cumulative weights per distinct searcher location, row i shifted by +i, flattened
    reachable: np.ndarray  # per distinct searcher location, whether any candidate has positive weight
    n_loc: int


def location_table(origin_loc: np.ndarray, cand_rows: np.ndarray, cand_loc: np.ndarray,
                   loc_weight: np.ndarray) -> LocationTable:
    """The tables ``sample_by_location`` draws from (also used by the compiled tender kernel)."""
    n_loc = loc_weight.shape[0]
    order = np.argsort(cand_loc, kind="stable")
    rows, locs = cand_rows[order], cand_loc[order]
    counts = np.bincount(locs, minlength=n_loc)
    offsets = np.concatenate(([0], np.cumsum(counts)[:-1]))
    # weights per distinct origin location, then gathered per searcher
    present = np.zeros(n_loc, dtype=bool)
    present[origin_loc] = True
    uniq = np.flatnonzero(present)
    inverse = (np.cumsum(present) - 1)[origin_loc]
    w = loc_weight[uniq] * counts[None, :]
    total = w.sum(axis=1)
    cum = np.cumsum(w, axis=1) / np.where(total > 0, total, 1.0)[:, None]
    cum[:, -1] = 1.0
    flat = (cum + np.arange(len(uniq))[:, None]).ravel()
    return LocationTable(rows, counts, offsets, inverse, flat, total > 0, n_loc)


def drop_duplicates(cand: np.ndarray) -> np.ndarray:
    """Replace repeated candidates within a row by -1 (keeps the first draw)."""
    cand = cand.copy()
    if cand.shape[1] < 2 or not len(cand):
        return cand
    order = np.argsort(cand, axis=1, kind="stable")  # equal draws stay in draw order
    ranked = np.take_along_axis(cand, order, 1)
    dup = np.zeros(cand.shape, dtype=bool)
    np.put_along_axis(dup, order[:, 1:], ranked[:, 1:] == ranked[:, :-1], 1)
    cand[dup] = -1
    return cand


def group_floor_allocate(total: np.ndarray, group: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Split integer ``total[g]`` over members of each group ∝ weight, exactly (largest remainder).

    Every member gets at most ceil(its share); the sum per group equals ``total[g]`` when the group
    has positive weight, else 0.
    """
    out = np.zeros(len(group), dtype=np.int64)
    if len(group) == 0:
        return out
    gsum = np.bincount(group, weights=weight, minlength=len(total))
    share = np.where(gsum[group] > 0, total[group] * weight / np.where(gsum[group] > 0, gsum[group], 1), 0.0)
    base = np.floor(share + 1e-9).astype(np.int64)
    left = total - np.bincount(group, weights=base, minlength=len(total)).round().astype(np.int64)
    left = np.where(gsum > 0, left, 0)
    frac = share - base
    # rank members within their group by descending fractional part; the first `left[g]` get +1
    order = np.lexsort((-frac, group))
    g_sorted = group[order]
    first = np.searchsorted(g_sorted, g_sorted, side="left")
    rank = np.arange(len(order)) - first
    bonus = (rank < left[g_sorted]) & (weight[order] > 0)
    out[order] = base[order] + bonus
    return out
