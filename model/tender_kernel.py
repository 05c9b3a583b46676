"""A category's tender rounds in one compiled call (``tender_rounds``; ODD §7.3, eq. 3.3–3.4).

``model.contracts.run_tenders`` calls ``tender_rounds`` once per category instead of making ~30
rounds of NumPy calls a month; the kernel rebuilds the candidate tables each round, scores and
awards with the same arithmetic in the same order as ``contracts._awards`` (NumPy's pairwise sum
included), finds and extends existing contracts, writes new ones into the book, and draws its
random numbers through model/random_replay.py, so both paths give bit-identical results.
``key_segments`` (each buyer's start in the book's sorted key index) is shared with the book.
"""

from __future__ import annotations

import math

import numpy as np

from model.kernels import njit
from model.random_replay import GUMBEL_MIN, _gumbel_of, _integer, _random, _skip_gumbel, advanced


@njit(cache=True, nogil=True)
def _sum_block(a, lo, n):
    """NumPy's pairwise summation of a block of at most 128 values: 8 lanes, then the rest."""
    if n < 8:
        res = 0.0
        for i in range(n):
            res += a[lo + i]
        return res
    r = np.empty(8)
    for j in range(8):
        r[j] = a[lo + j]
    i = 8
    while i < n - (n % 8):
        for j in range(8):
            r[j] += a[lo + i + j]
        i += 8
    res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@njit(cache=True, nogil=True)
def _pairwise_sum(a, lo, n):
    """``a[lo:lo + n].sum()`` bit for bit: NumPy halves longer runs (at multiples of 8) down to blocks
    of 128 and adds the halves' sums; done here with an explicit stack (no recursion)."""
    if n <= 128:
        return _sum_block(a, lo, n)
    s_lo = np.empty(130, np.int64)
    s_n = np.empty(130, np.int64)
    s_open = np.zeros(130, np.bool_)  # halves already pushed
    vals = np.empty(130)
    top, nv = 0, 0
    s_lo[0], s_n[0] = lo, n
    while top >= 0:
        x, m = s_lo[top], s_n[top]
        if m <= 128:
            vals[nv] = _sum_block(a, x, m)
            nv += 1
            top -= 1
        elif not s_open[top]:
            s_open[top] = True
            half = m // 2
            half -= half % 8
            s_lo[top + 1], s_n[top + 1], s_open[top + 1] = x + half, m - half, False
            s_lo[top + 2], s_n[top + 2], s_open[top + 2] = x, half, False
            top += 2
        else:
            vals[nv - 2] = vals[nv - 2] + vals[nv - 1]
            nv -= 1
            top -= 1
    return vals[0]


def _gumbel_bounds(bits: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Bounds on the Gumbel value of a draw by its top ``bits`` bits (``x >> (64 - bits)``): each
    bucket's least and greatest value (random_replay._gumbel_of at its ends), widened by 1e-9 so
    that no rounding in the logarithms can put a value outside (the values lie in -3.6 .. 36.8)."""
    lo, hi = np.empty(1 << bits), np.empty(1 << bits)
    step = 1 << (53 - bits)  # values of the 53-bit draw r = x >> 11 per bucket; G falls as r rises
    for b in range(1 << bits):
        r_first, r_last = max(b * step, 1), (b + 1) * step - 1  # r = 0 is drawn again
        lo[b] = -math.log(-math.log(1.0 - r_last * (1.0 / 9007199254740992.0))) - 1e-9
        hi[b] = -math.log(-math.log(1.0 - r_first * (1.0 / 9007199254740992.0))) + 1e-9
    return lo, hi


NOISE_BITS = 10  # the Gumbel bounds' buckets: 1,024 (16 KiB of bounds, within the core's first cache)
GUMBEL_LO, GUMBEL_HI = _gumbel_bounds(NOISE_BITS)

GUIDE = 64  # guide-table entries per buyer location (``_location_table``): a power of two, so g / GUIDE is exact


@njit(cache=True, nogil=True, error_model="numpy")
def _location_table(pool, buyers, loc, loc_weight):
    """sampling.location_table for the pool and buyers of a round: rows, counts, offsets, slot, flat,
    reachable, and a guide table for ``_draw_locations``.

    ``slot[l]`` is the index of buyer location ``l`` among the distinct buyer locations (-1: none).
    ``guide[u, g]`` is ``searchsorted(flat row u, u + g / GUIDE, side="right")``: where the search for a
    draw of at least g / GUIDE can start (the weights are >= 0, so a row rises up to its last entry).
    """
    n_loc = loc_weight.shape[0]
    counts = np.zeros(n_loc, np.int64)
    for p in pool:
        counts[loc[p]] += 1
    offsets = np.zeros(n_loc, np.int64)
    for x in range(1, n_loc):
        offsets[x] = offsets[x - 1] + counts[x - 1]
    rows = np.empty(len(pool), np.int64)
    fill = offsets.copy()
    for p in pool:  # stable: pool order within a location
        rows[fill[loc[p]]] = p
        fill[loc[p]] += 1
    slot = np.full(n_loc, -1, np.int64)
    for b in buyers:
        slot[loc[b]] = 0
    n_u = 0
    for x in range(n_loc):
        if slot[x] >= 0:
            slot[x] = n_u
            n_u += 1
    flat = np.empty(n_u * n_loc)
    reachable = np.zeros(n_u, np.bool_)
    w = np.empty(n_loc)
    for x0 in range(n_loc):
        u = slot[x0]
        if u < 0:
            continue
        for x in range(n_loc):
            w[x] = loc_weight[x0, x] * counts[x]
        total = _pairwise_sum(w, 0, n_loc)
        denom = total if total > 0 else 1.0
        acc = 0.0
        for x in range(n_loc):
            acc = w[x] if x == 0 else acc + w[x]
            flat[u * n_loc + x] = acc / denom + u
        flat[u * n_loc + n_loc - 1] = 1.0 + u
        reachable[u] = total > 0
    guide = np.empty((n_u, GUIDE), np.int64)
    for u in range(n_u):  # one merge-like pass per row
        i = 0
        for g in range(GUIDE):
            t = u + g * (1.0 / GUIDE)
            while i < n_loc and flat[u * n_loc + i] <= t:
                i += 1
            guide[u, g] = i
    return rows, counts, offsets, slot, flat, reachable, guide


@njit(cache=True, nogil=True)
def _draw_locations(flat, guide, inv, n_loc, u, out):
    """The locations uniform draws ``u`` pick in row ``inv``, into ``out``: ``searchsorted(flat, u + inv,
    side="right")`` within the row, clipped to it, as ``sampling.sample_by_location`` finds them.

    Below the row's last entry, the entries above ``x = u + inv`` are a suffix of the row (it rises up
    to there), and ``fl(inv + g / GUIDE) <= x`` for ``g = floor(u × GUIDE)``, so the first of them is at
    or after ``guide[inv, g]``: a scan of a step or two instead of a binary search. At or above it (``x``
    rounded up to ``inv + 1``), the binary search, as before. (A buyer's draws in one call: called per
    draw, the tender loop ran 15 % slower.)
    """
    lo = inv * n_loc
    for j in range(len(u)):
        x = u[j] + inv
        if x < flat[lo + n_loc - 1]:
            lp = guide[inv, np.int64(u[j] * GUIDE)]
            while flat[lo + lp] <= x:
                lp += 1
        else:
            lp = min(max(_upper_bound(flat, lo, n_loc, x) - lo, 0), n_loc - 1)
        out[j] = lp


@njit(cache=True, nogil=True)
def _upper_bound(a, lo, n, x):
    """First index in ``a[lo:lo + n]`` (sorted) whose value is > x, or lo + n (no branches to mispredict)."""
    while n > 0:
        half = n >> 1
        right = a[lo + half] <= x
        lo += (half + 1) * right
        n = half + right * (n - 2 * half - 1)
    return lo


@njit(cache=True, nogil=True)
def _lower_bound(a, lo, n, x):
    """First index in ``a[lo:lo + n]`` (sorted) whose value is >= x, or lo + n."""
    while n > 0:
        half = n >> 1
        right = a[lo + half] < x
        lo += (half + 1) * right
        n = half + right * (n - 2 * half - 1)
    return lo


@njit(cache=True, nogil=True)
def _lookup(keys, pos, lo, hi, q):
    """Position stored with key ``q`` in sorted ``keys[lo:hi]`` (the first of equal keys), or -1."""
    at = _lower_bound(keys, lo, hi - lo, q)
    return pos[at] if at < hi and keys[at] == q else -1


_FILTER_MUL = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: 2**64 / golden ratio, odd


@njit(cache=True, nogil=True)
def _filter_slot(key, shift):
    """The bit of pair ``key`` in a region of 2**(64 - shift) bits (the product's top bits)."""
    return (np.uint64(key) * _FILTER_MUL) >> shift


@njit(cache=True, nogil=True)
def filter_layout(segments, bits_per_pair):
    """Each buyer's region of a pair filter (``ContractBook.pair_filter``): its first word and its
    shift (64 - log2 of its bits), at least ``bits_per_pair`` bits for each of its pairs now
    (``segments``: where each buyer's pairs start), a power of two and at least one word."""
    n = len(segments) - 1
    start = np.empty(n + 1, np.int64)
    shift = np.empty(n, np.uint64)
    w = 0
    for b in range(n):
        need = (segments[b + 1] - segments[b]) * bits_per_pair
        lb = 6
        while (1 << lb) < need:
            lb += 1
        start[b] = w
        shift[b] = 64 - lb
        w += 1 << (lb - 6)
    start[n] = w
    return start, shift


@njit(cache=True, nogil=True)
def filter_add(bits, start, shift, keys, key_base):
    """Set the bits of pair ``keys`` in their buyers' regions of ``bits`` (uint64 words; see
    ``ContractBook.pair_filter``); buyers the layout does not cover are left out."""
    for q in keys:
        b = q // key_base
        if b < len(shift):
            h = _filter_slot(q, shift[b])
            bits[start[b] + np.int64(h >> np.uint64(6))] |= np.uint64(1) << (h & np.uint64(63))


@njit(cache=True, nogil=True)
def _may_hold(bits, start, shift, b, key):
    """False only if pair ``key`` of buyer ``b`` (covered by the layout) is surely not in the pair table
    ``bits`` was filled from."""
    h = _filter_slot(key, shift[b])
    return (bits[start[b] + np.int64(h >> np.uint64(6))] >> (h & np.uint64(63))) & np.uint64(1) != np.uint64(0)


@njit(cache=True, nogil=True)
def key_segments(keys, n, per):
    """Where each of ``n`` owners' entries start in sorted ``keys`` (owner = key // per), length n + 1."""
    seg = np.empty(n + 1, np.int64)
    i = 0
    for b in range(n + 1):
        start = b * per  # keys are >= 0, so key // per < b exactly when key < b * per (no division)
        while i < len(keys) and keys[i] < start:
            i += 1
        seg[b] = i
    return seg


@njit(cache=True, nogil=True, error_model="numpy")
def _round_awards(buyers, k, st, rows, counts, offsets, slot, flat, reachable, guide, loc, foreign,
                  coached_until, credit_of_loc, month, matchmaking, unit, km, transport, history_weight,
                  score_noise, noise_floor, limit, pair_keys, pair_ids, hist, h_max, key_base, segments, pair_filter,
                  filter_start, filter_shift, spare, cap_share, left, min_value):
    """Awards of one round, (buyer, supplier, value) in buyer-major, rank order: ``contracts._awards``
    (sample_by_location, drop_duplicates, scoring, ranking, offers, rationing) operation by operation.

    The round's draws are NumPy's: every candidate's first uniform (location), then every one's
    second (candidate within it), then every one's Gumbel noise; three cursors into generator state
    ``st`` read the three blocks buyer by buyer, and ``st`` ends after the last (the noise is
    computed from its draw only when the score needs it). ``h_max`` bounds the relationship records
    (``hist.max()``, or more) and ``noise_floor`` the noise from below (``score_noise`` × the least
    Gumbel value a draw can give, or less). Candidates are handled by their position in ``rows``
    (the pool, grouped by location).
    """
    nb = len(buyers)
    cur1 = st.copy()
    cur2 = advanced(st, nb * k)
    cur3 = advanced(st, 2 * nb * k)
    g = np.empty(k, np.uint64)
    n_loc = len(counts)
    n_rows = len(rows)
    n_pairs = len(pair_keys)
    # When the round's candidates outnumber the pool, the pool's suppliers are packed by position in
    # ``rows`` (row, unit cost, location, foreign + 2 x coached, spare capacity): a candidate's figures
    # in one or two cache lines instead of five arrays, read in a sequential pass. Else the pass
    # would cost more than it saves, and candidates are read from the arrays.
    packed = nb * k >= n_rows
    pa = np.empty((n_rows if packed else 0, 5))
    if packed:
        for t in range(n_rows):
            q = rows[t]
            pa[t, 0] = q
            pa[t, 1] = unit[q]
            pa[t, 2] = loc[q]
            pa[t, 3] = (1.0 if foreign[q] else 0.0) + (2.0 if coached_until[q] >= month else 0.0)
            pa[t, 4] = spare[q]
    # per buyer: its candidates (positions in the pool), their costs and validity, then ranked
    cand = np.empty(k, np.int64)
    base = np.empty(k)  # the cost before the noise
    cost_lo, cost_hi = np.empty(k), np.empty(k)  # bounds on the cost (equal once it is computed)
    valid = np.empty(k, np.bool_)
    again = np.empty(k, np.bool_)  # its cost is computed: its bounds overlap another valid candidate's
    # bounds on the noise by the top bits of its draw (score_noise >= 0, so the product keeps the order)
    noise_lo, noise_hi = score_noise * GUMBEL_LO, score_noise * GUMBEL_HI
    shift = np.uint64(64 - NOISE_BITS)
    u_loc, lps = np.empty(k), np.empty(k, np.int64)
    idx = np.empty(k, np.int64)
    win = np.empty((nb, k), np.int64)
    ok = np.zeros((nb, k), np.bool_)
    ask = np.zeros((nb, k))
    asked = np.zeros(n_rows)  # per pool position (each supplier is in the pool once)
    for i in range(nb):
        b = buyers[i]
        inv = slot[loc[b]]
        for j in range(k):
            u_loc[j] = _random(cur1)
        _draw_locations(flat, guide, inv, n_loc, u_loc, lps)
        for j in range(k):  # location by cumulative weight, then a candidate within it
            cand[j] = -1
            valid[j] = False
            lp = lps[j]
            cnt = counts[lp]
            within = np.int64(_random(cur2) * cnt)
            pick = offsets[lp] + min(within, max(cnt - 1, 0))
            if reachable[inv] and cnt > 0:
                cand[j] = min(pick, n_rows - 1)
        for j in range(k):
            g[j] = _skip_gumbel(cur3)
        for j in range(1, k):  # repeated draws count once (the first)
            for jj in range(j):
                if cand[j] == cand[jj]:
                    cand[j] = -1
                    break
        b_loc, b_foreign, b_credit = loc[b], foreign[b], credit_of_loc[loc[b]]
        seg_lo, seg_hi = segments[b], segments[b + 1]
        filtered = b < len(filter_shift)  # a buyer newer than the filter's layout: its pairs are searched
        for j in range(k):
            pk = cand[j]
            if pk < 0:  # not a candidate: its cost is never used (NumPy scores row 0 for it)
                continue
            if packed:
                s, us, ls, fl = np.int64(pa[pk, 0]), pa[pk, 1], np.int64(pa[pk, 2]), pa[pk, 3]
            else:
                s = rows[pk]
                us, ls = unit[s], loc[s]
                fl = (1.0 if foreign[s] else 0.0) + (2.0 if coached_until[s] >= month else 0.0)
            if s == b:
                cand[j] = -1
                continue
            c = us * (1 + transport * km[b_loc, ls])
            if (fl == 0.0 or fl == 2.0) and b_foreign:  # a domestic supplier
                c -= b_credit * us
            else:
                c -= 0.0
            if fl >= 2.0 and b_foreign:  # a coached supplier
                c -= matchmaking
            else:
                c -= 0.0
            # too dear even with the best record (and the least noise): not scored further; exact, as
            # the cost falls monotonically with the record and the noise
            if (c - history_weight * h_max) + noise_floor >= limit:
                continue
            key = b * key_base + s  # relationship record, as ContractBook.history (within b's pairs)
            h = 0.0
            # most candidates have no record: the filter spares their search
            if seg_lo < seg_hi and (not filtered or _may_hold(pair_filter, filter_start, filter_shift, b, key)):
                lo = _lower_bound(pair_keys, seg_lo, seg_hi - seg_lo, key)
                at = min(lo, n_pairs - 1)
                if lo < seg_hi and pair_keys[at] == key and pair_ids[at] >= 0:
                    h = hist[pair_ids[at]]
            c -= history_weight * h
            base[j] = c
            # the cost is base + noise; the noise's two logarithms are taken only where bounds on it
            # (by its draw's top bits) leave the candidate's validity or its place in the ranking open
            q = np.int64(g[j] >> shift)
            cost_lo[j], cost_hi[j] = c + noise_lo[q], c + noise_hi[q]
            if cost_lo[j] < limit <= cost_hi[j]:
                cost_lo[j] = cost_hi[j] = c + score_noise * _gumbel_of(g[j])
            valid[j] = cost_hi[j] < limit
        for j in range(k):
            if not valid[j]:
                cost_lo[j] = cost_hi[j] = np.inf  # invalid last
        # rank by cost (stable, invalid last) in a counting pass without branches: j's rank is the costs
        # below its own and the equal ones before it (costs are never NaN). Where no two valid
        # candidates' bounds overlap, the bounds rank them as their costs would; those whose bounds
        # overlap another's (found in the same pass, against the bounds as they are) have their costs
        # computed, and the pass is made again with them.
        recount = False
        for j in range(k):
            v_lo, v_hi = cost_lo[j], cost_hi[j]
            rank = 0
            overlap = False
            for jj in range(k):
                rank += (cost_hi[jj] < v_lo) | ((cost_lo[jj] == v_lo) & (jj < j))
                overlap |= valid[jj] & (jj != j) & (cost_lo[jj] <= v_hi) & (v_lo <= cost_hi[jj])
            idx[rank] = j
            again[j] = valid[j] & overlap & (v_lo < v_hi)
            recount |= again[j]
        if recount:
            for j in range(k):
                if again[j]:
                    cost_lo[j] = cost_hi[j] = base[j] + score_noise * _gumbel_of(g[j])
            for j in range(k):  # now any two valid costs are both computed or have bounds apart
                v_lo = cost_lo[j]
                rank = 0
                for jj in range(k):
                    rank += (cost_hi[jj] < v_lo) | ((cost_lo[jj] == v_lo) & (jj < j))
                idx[rank] = j
        run = 0.0
        for j in range(k):
            win[i, j] = cand[idx[j]]
            ok[i, j] = valid[idx[j]]
            # a candidate that is not valid offers, asks and adds nothing
            offer = 0.0
            if ok[i, j]:
                offer = min(pa[win[i, j], 4] if packed else spare[rows[win[i, j]]], cap_share[b])
            run += offer
            before = run - offer
            a = max(left[b] - before, 0.0)
            ask[i, j] = min(a, offer)
            if ok[i, j]:
                asked[win[i, j]] += ask[i, j]
    st[:] = cur3  # the round's draws are taken
    n_keep = 0
    for i in range(nb):  # suppliers asked for more than their spare capacity scale every ask down
        for j in range(k):
            if not ok[i, j]:
                continue
            pk = win[i, j]
            sp = pa[pk, 4] if packed else spare[rows[pk]]
            scale = sp / max(asked[pk], 1e-12) if asked[pk] > sp else 1.0
            ask[i, j] = ask[i, j] * scale  # now the award
            if ask[i, j] > min_value:
                n_keep += 1
    bb = np.empty(n_keep, np.int64)
    ss = np.empty(n_keep, np.int64)
    vv = np.empty(n_keep)
    t = 0
    for i in range(nb):
        for j in range(k):
            if ok[i, j] and ask[i, j] > min_value:
                bb[t] = buyers[i]
                ss[t] = rows[win[i, j]]
                vv[t] = ask[i, j]
                t += 1
    return bb, ss, vv


@njit(cache=True, nogil=True)
def _above(left, min_value, n, out):
    """``np.flatnonzero(left[:n] > min_value)`` in one pass, into the front of ``out``."""
    m = 0
    for i in range(n):
        out[m] = i
        m += left[i] > min_value
    return out[:m]


@njit(cache=True, nogil=True)
def _spare_pool(qualified, spare, n, out):
    """``np.flatnonzero(qualified & (spare[:n] > 1e-9))`` in one pass, into the front of ``out``."""
    m = 0
    for i in range(n):
        out[m] = i
        m += qualified[i] & (spare[i] > 1e-9)
    return out[:m]


@njit(cache=True, nogil=True)
def _grown(a, size):
    out = np.empty(size, a.dtype)
    out[: len(a)] = a
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def tender_rounds(cat, round0, rounds, k, min_value, qualified, unit, cap_share, left, spare, loc, foreign,
                  coached_until, credit_of_loc, month, matchmaking, km, transport, history_weight, score_noise,
                  limit, loc_weight, pair_keys, pair_ids, hist, h_max, key_base, segments, pair_filter, filter_start, filter_shift,
                  base_keys, base_pos, base_seg, tail_keys,
                  tail_pos, cid, buyer, supplier, cat_col, value, start, end, perf, pair, n_book, next_id, dur_lo,
                  dur_span, st, first_new, new_head, new_next):
    """A category's tender rounds from ``round0`` (``contracts.run_tenders``' loop and ``_tender_round``).

    Updates ``left``, ``spare`` and the book's columns in place (extensions add to ``value``; new
    contracts are written from ``n_book`` on) and steps the generator state ``st``
    (random_replay.KernelStream) through the draws the NumPy path makes, in the same order. Stops
    early (status 1), to be called again from the returned round, when the book's buffers might not
    hold the next round's contracts. Returns (next round, status, n_book, next_id, need, event tags,
    positions, values, new_next, drawn): ``need`` is the rows the next round may take; tag = 2 × round +
    (0 extended, 1 signed); the value is the contract's as logged at the event; ``drawn`` counts the
    candidates the rounds drew (buyers × k per round).

    Contracts the category has signed since book position ``first_new`` are not in the key index
    yet: they are found through ``new_head`` (per buyer, its latest one, or -1) and ``new_next``
    (per contract from ``first_new``, the same buyer's one before), which the caller keeps across
    calls for the category (``new_next`` may come back grown).
    """
    n = len(left)
    cap = len(value)
    noise_floor = score_noise * (GUMBEL_MIN - 1e-6)
    ev_tag = np.empty(0, np.int64)
    ev_pos = np.empty(0, np.int64)
    ev_val = np.empty(0)
    n_ev = 0
    status, need, drawn = 0, 0, 0
    r = round0
    scratch_b, scratch_p = np.empty(n, np.int64), np.empty(n, np.int64)
    while r < rounds:
        buyers = _above(left, min_value, n, scratch_b)
        pool = _spare_pool(qualified, spare, n, scratch_p)
        nb = len(buyers)
        if nb == 0 or len(pool) == 0:
            break
        if cap - n_book < nb * k:
            status, need = 1, nb * k
            break
        if n_ev + nb * k > len(ev_pos):
            size = max(2 * len(ev_pos), n_ev + nb * k)
            ev_tag, ev_pos, ev_val = _grown(ev_tag, size), _grown(ev_pos, size), _grown(ev_val, size)
        if n_book - first_new + nb * k > len(new_next):
            new_next = _grown(new_next, max(2 * len(new_next), n_book - first_new + nb * k))
        rows, counts, offsets, slot, flat, reachable, guide = _location_table(pool, buyers, loc, loc_weight)
        drawn += nb * k
        bb, ss, vv = _round_awards(buyers, k, st, rows, counts, offsets, slot, flat, reachable, guide, loc,
                                   foreign, coached_until, credit_of_loc, month, matchmaking, unit, km, transport,
                                   history_weight, score_noise, noise_floor, limit, pair_keys, pair_ids, hist, h_max,
                                   key_base, segments, pair_filter, filter_start, filter_shift, spare, cap_share, left, min_value)
        r += 1
        if not len(bb):
            for b in buyers:  # nothing beat the import price: import the rest this month
                left[b] = 0.0
            continue
        for t in range(len(bb)):  # np.subtract.at, then np.maximum(spare, 0)
            spare[ss[t]] -= vv[t]
        for t in range(len(bb)):
            if spare[ss[t]] < 0:
                spare[ss[t]] = 0.0
        for t in range(len(bb)):
            left[bb[t]] -= vv[t]
        # a supplier that already holds a contract with this buyer for this category gets more volume on it
        pos = np.full(len(bb), -1, np.int64)
        for t in range(len(bb)):
            q = (bb[t] * key_base + ss[t]) * 64 + cat
            p = _lookup(base_keys, base_pos, base_seg[bb[t]], base_seg[bb[t] + 1], q)
            if p < 0:
                p = _lookup(tail_keys, tail_pos, 0, len(tail_keys), q)
            if p < 0:
                p = new_head[bb[t]]
                while p >= 0 and supplier[p] != ss[t]:
                    p = new_next[p - first_new]
            pos[t] = p
            if p >= 0:
                value[p] += vv[t]
        ext = np.sort(pos[pos >= 0])
        for t in range(len(ext)):
            if t == 0 or ext[t] != ext[t - 1]:
                ev_tag[n_ev], ev_pos[n_ev], ev_val[n_ev] = 2 * (r - 1), ext[t], value[ext[t]]
                n_ev += 1
        for t in range(len(bb)):
            if pos[t] >= 0:
                continue
            p = n_book
            dur = _integer(st, dur_lo, dur_span)
            cid[p], buyer[p], supplier[p], cat_col[p], value[p] = next_id, bb[t], ss[t], cat, vv[t]
            start[p], end[p], perf[p], pair[p] = month, month + dur, 1.0, -1
            new_next[p - first_new] = new_head[bb[t]]
            new_head[bb[t]] = p
            ev_tag[n_ev], ev_pos[n_ev], ev_val[n_ev] = 2 * (r - 1) + 1, p, vv[t]
            n_ev += 1
            n_book += 1
            next_id += 1
    return r, status, n_book, next_id, need, ev_tag[:n_ev], ev_pos[:n_ev], ev_val[:n_ev], new_next, drawn


@njit(cache=True, nogil=True, error_model="numpy")
def month_tenders(order, ci0, round0, rounds, k, min_value, qualified, unit, cap_share, left, spare, loc, foreign,
                  coached_until, credit_of_loc, month, matchmaking, km, transport, history_weight, score_noise,
                  limit, loc_weight, pair_keys, pair_ids, hist, h_max, key_base, segments, pair_filter, filter_start, filter_shift,
                  base_keys, base_pos, base_seg, tail_keys, tail_pos, cid, buyer, supplier, cat_col, value, start,
                  end, perf, pair, n_book, next_id, dur_lo, dur_span, st, first_new, new_head, new_next):
    """Every category's ``tender_rounds`` of a month in one call: category ``order[i]`` uses row ``i``
    of ``qualified``, ``unit``, ``cap_share``, ``left``, ``credit_of_loc``, ``limit`` and
    ``loc_weight``. Starts at ``order[ci0]`` from round ``round0`` (with its ``first_new``,
    ``new_head`` and ``new_next`` when resuming, ``round0 > 0``). Stops early (status 1) when the
    book's buffers might not hold the next round's contracts, to be called again from the returned
    (category index, round). Returns (category index, round, status, n_book, next_id, need,
    first_new, new_next, event tags, positions, values, drawn) with the events of every category it
    ran and the candidates its rounds drew.
    """
    drawn = 0
    ev_tag = np.empty(0, np.int64)
    ev_pos = np.empty(0, np.int64)
    ev_val = np.empty(0)
    for ci in range(ci0, len(order)):
        r0 = round0 if ci == ci0 else 0
        if r0 == 0:  # a category's new contracts are tracked from its start (see tender_rounds)
            first_new = n_book
            new_head[:] = -1
        r, status, n_book, next_id, need, tag, pos, val, new_next, got = tender_rounds(
            order[ci], r0, rounds, k, min_value, qualified[ci], unit[ci], cap_share[ci], left[ci], spare, loc,
            foreign, coached_until, credit_of_loc[ci], month, matchmaking, km, transport, history_weight,
            score_noise, limit[ci], loc_weight[ci], pair_keys, pair_ids, hist, h_max, key_base, segments,
            pair_filter, filter_start, filter_shift, base_keys, base_pos, base_seg, tail_keys, tail_pos, cid, buyer, supplier,
            cat_col, value, start, end, perf, pair, n_book, next_id, dur_lo, dur_span, st, first_new, new_head,
            new_next)
        ev_tag = np.concatenate((ev_tag, tag))
        ev_pos = np.concatenate((ev_pos, pos))
        ev_val = np.concatenate((ev_val, val))
        drawn += got
        if status == 1:
            return ci, r, 1, n_book, next_id, need, first_new, new_next, ev_tag, ev_pos, ev_val, drawn
    return len(order), 0, 0, n_book, next_id, 0, first_new, new_next, ev_tag, ev_pos, ev_val, drawn
