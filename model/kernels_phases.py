"""Compiled kernels for the record, labour and learning phases, with NumPy code as the fallback.

Each kernel does in one pass what the NumPy path (next to its caller) does in several, with the
same arithmetic in the same order, so both paths give identical values; the switch is the
model's one (``model.kernels.use_compiled``; ``CLUSTERLINK_NUMBA=0`` turns numba off).
``tests/test_kernels_phases.py`` checks that both paths agree.
"""

from __future__ import annotations

import numpy as np

from model.kernels import njit
from model.tender_kernel import _draw_locations, _location_table


@njit(cache=True, nogil=True)
def two_way_pairs(indptr, indices):
    """Entries (u, v) of a canonical 0/1 CSR graph whose mirror (v, u) is also there."""
    has_in = np.zeros(len(indptr) - 1, np.bool_)
    for p in range(len(indices)):
        has_in[indices[p]] = True
    return _two_way_pairs(indptr, indices, has_in)


@njit(cache=True, nogil=True)
def _two_way_pairs(indptr, indices, has_in):
    """``two_way_pairs`` given the nodes with in-edges (only their rows can hold a mirrored entry).

    Rows are visited in order, so the rows v > u asked "do you hold u?" are asked for ever larger
    u: one cursor per row, moved forward only, answers every question in O(nodes + edges), with no
    transpose and no searches. A found pair counts both its entries; an entry (u, u) is its own mirror.
    """
    n = len(indptr) - 1
    cursor = indptr[:-1].copy()
    count = 0
    for u in range(n):
        if not has_in[u]:
            continue  # a row (u, v) with v > u needs (v, u), an edge into u
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

    Union-find with union by size and path halving over the CSR edges (one find of the row's node
    per row).
    """
    n = len(indptr) - 1
    parent = np.arange(n)
    size = np.ones(n, np.int64)
    for u in range(n):
        if indptr[u] == indptr[u + 1]:
            continue
        a = u
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        for p in range(indptr[u], indptr[u + 1]):
            b = indices[p]
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
    for w in range(n):
        if alive[w]:
            r = w
            while parent[r] != r:
                r = parent[r]
            count[r] += 1
            best = max(best, count[r])
    return best


@njit(cache=True, nogil=True)
def group_floor_allocate(total, group, weight):
    """``model.sampling.group_floor_allocate`` in one compiled call: the same sums in the same order.

    Members are ranked within their group by descending fractional share, ties by row (the
    stable ``lexsort`` of the NumPy code); the first ``left[g]`` with positive weight get +1.
    Members of weight 0 get 0 and add 0 to every sum, so only the others are worked through;
    members with a positive fraction rank before all others, so when a group has at least
    ``left[g]`` of them only they are sorted (else all its members are, as in NumPy).
    """
    n, n_g = len(group), len(total)
    out = np.zeros(n, np.int64)
    live = np.flatnonzero(weight != 0)
    gsum = np.zeros(n_g)
    for i in live:
        gsum[group[i]] += weight[i]
    frac = np.zeros(n)
    base_sum = np.zeros(n_g)
    for i in live:
        g = group[i]
        share = total[g] * weight[i] / gsum[g] if gsum[g] > 0 else 0.0
        out[i] = np.int64(np.floor(share + 1e-9))
        frac[i] = share - out[i]
        base_sum[g] += out[i]
    left = np.zeros(n_g, np.int64)
    for g in range(n_g):
        if gsum[g] > 0:
            left[g] = total[g] - np.int64(np.round(base_sum[g]))
    size = np.zeros(n_g + 1, np.int64)  # positive fractions by group, in row order (a counting sort)
    for i in live:
        if left[group[i]] > 0 and frac[i] > 0:
            size[group[i] + 1] += 1
    for g in range(n_g):
        size[g + 1] += size[g]
    fill = size[:-1].copy()
    pos = np.empty(size[n_g], np.int64)
    for i in live:
        if left[group[i]] > 0 and frac[i] > 0:
            pos[fill[group[i]]] = i
            fill[group[i]] += 1
    for g in range(n_g):
        if left[g] <= 0:
            continue
        ranked = pos[size[g]:size[g + 1]]
        if len(ranked) < left[g]:  # the bonuses reach members without a positive fraction
            ranked = np.flatnonzero(group == g)
        neg = np.empty(len(ranked))
        for t in range(len(ranked)):
            neg[t] = -frac[ranked[t]]
        order = np.argsort(neg, kind="mergesort")  # stable: ties keep row order
        for r in range(min(left[g], len(ranked))):
            i = ranked[order[r]]
            if weight[i] > 0:
                out[i] += 1
    return out


@njit(cache=True, nogil=True)
def best_job_offers(origin, targets, loc, loc_weight, u1, u2, wage):
    """Each seeker's best offer among its drawn vacancies: (destination or -1, its wage or -inf).

    Builds ``sampling.location_table`` (the tender kernel's compiled copy) and mirrors
    ``sample_by_location`` (location by cumulative weight, then a firm within it, from the uniform
    draws ``u1``, ``u2``), ``drop_duplicates``, dropping the seeker's own firm, and the
    first-maximum ``argmax`` of ``labour._best_offers`` operation by operation.
    """
    rows, counts, offsets, slot, flat, reachable, guide = _location_table(targets, origin, loc, loc_weight)
    n_loc = loc_weight.shape[0]
    nb, k = u1.shape
    n_rows = len(rows)
    dest = np.full(nb, -1, np.int64)
    best = np.full(nb, -np.inf)
    cand = np.empty(k, np.int64)
    lps = np.empty(k, np.int64)
    for i in range(nb):
        inv = slot[loc[origin[i]]]
        _draw_locations(flat, guide, inv, n_loc, u1[i], lps)
        for j in range(k):
            cand[j] = -1
            lp = lps[j]
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
def hire_from_pools(vac, loc, reach, pools):
    """``labour._hire_from_pools`` in one call: hires by firm and skill; the flows leave ``pools``.

    The location and pool sums are sums of whole numbers (exact in any order), so they need not
    follow NumPy's order; the flows, divisions and the allocation do, operation by operation.
    """
    n, n_s = vac.shape
    n_loc, n_d = reach.shape
    hires = np.zeros((n, n_s), np.int64)
    weight = np.empty(n)
    for k in range(n_s):
        v_loc = np.zeros(n_loc)
        for i in range(n):
            v_loc[loc[i]] += vac[i, k]
        supply = np.empty(n_d)
        for d in range(n_d):
            supply[d] = pools[d, k]
        from_pool = np.zeros(n_d)
        for d in range(n_d):
            demand = 0.0
            for x in range(n_loc):
                if reach[x, d]:
                    demand += v_loc[x]
            if demand > 0:
                from_pool[d] = supply[d] / demand
        h_loc = np.zeros(n_loc, np.int64)
        for x in range(n_loc):
            reach_supply = 0.0
            for d in range(n_d):
                if reach[x, d]:
                    reach_supply += supply[d]
            to_loc = v_loc[x] / reach_supply if reach_supply > 0 else 0.0
            for d in range(n_d):
                if reach[x, d]:  # elsewhere both terms are 0
                    flow = np.int64(np.floor(min(v_loc[x] * from_pool[d], supply[d] * to_loc)))
                    pools[d, k] -= flow
                    h_loc[x] += flow
        for i in range(n):
            weight[i] = vac[i, k]
        hires[:, k] = group_floor_allocate(h_loc, loc, weight)
    return hires


@njit(cache=True, nogil=True)
def apply_job_moves(origin, dest, best_offer, match, seekers, wage, gain, vac, workers, tech, foreign,
                    knowledge, carry):
    """``labour._job_moves`` for one skill once offers are drawn: who moves, how many, and the effects.

    Seekers whose best offer beats their wage by ``gain`` (after the match noise) ask for their
    number of workers; each firm's vacancies are rationed over those who asked. Moves the workers,
    fills ``vac``, adds carried know-how to ``knowledge`` (in move order, as ``np.add.at``), and
    returns (origin, dest, count) of the moves with the counts foreign→domestic, domestic→foreign, all.
    """
    m = len(origin)
    asked = np.zeros(len(vac))
    ok = np.zeros(m, np.bool_)
    for i in range(m):
        d = dest[i]
        if d >= 0 and best_offer[i] * match[i] > wage[origin[i]] * gain:
            ok[i] = True
            asked[d] += seekers[origin[i]]
    count = np.zeros(m, np.int64)
    n_moves = 0
    for i in range(m):
        if ok[i]:
            d = dest[i]
            ratio = vac[d] / asked[d] if asked[d] > 0 else 0.0
            count[i] = np.int64(np.floor(seekers[origin[i]] * min(ratio, 1.0)))
            if count[i] > 0:
                n_moves += 1
    o_out = np.empty(n_moves, np.int64)
    d_out = np.empty(n_moves, np.int64)
    c_out = np.empty(n_moves, np.int64)
    t = 0
    for i in range(m):
        if ok[i] and count[i] > 0:
            o_out[t], d_out[t], c_out[t] = origin[i], dest[i], count[i]
            t += 1
    to_domestic = to_foreign = moved = 0
    for t in range(n_moves):
        o, d, c = o_out[t], d_out[t], c_out[t]
        workers[o] -= c
        workers[d] += c
        vac[d] -= c
        gap = tech[o] - tech[d]
        if not (gap >= 0.0 or np.isnan(gap)):  # np.maximum(gap, 0.0)
            gap = 0.0
        knowledge[d] += c * carry * gap
        if foreign[o] and not foreign[d]:
            to_domestic += c
        elif foreign[d] and not foreign[o]:
            to_foreign += c
        moved += c
    return o_out, d_out, c_out, to_domestic, to_foreign, moved


@njit(cache=True, nogil=True)
def layoffs(want, workers, alive, slack, loc, district, pools):
    """Workers beyond ``want × slack`` (rounded up) at alive firms, laid off into their district's pool.

    Returns the layoffs by firm and skill; takes them from ``workers`` and adds them to ``pools``.
    """
    n, n_s = want.shape
    layoff = np.zeros((n, n_s), np.int64)
    for i in range(n):
        if not alive[i]:
            continue
        d = district[loc[i]]
        for k in range(n_s):
            excess = workers[i, k] - np.int64(np.ceil(want[i, k] * slack))
            if excess > 0:
                layoff[i, k] = excess
                workers[i, k] -= excess
                pools[d, k] += excess
    return layoff


@njit(cache=True, nogil=True)
def firm_wages(wage_index, province, loc, foreign, tech, fdi_premium, tech_slope):
    """``labour.firm_wages``: the province's wage index × the firm's premium (at least 0.5), by skill."""
    n, n_s = len(loc), wage_index.shape[1]
    out = np.empty((n, n_s))
    for i in range(n):
        premium = 1 + fdi_premium * (1.0 if foreign[i] else 0.0) + tech_slope * (tech[i] - 0.3)
        premium = max(premium, 0.5)
        p = province[loc[i]]
        for k in range(n_s):
            out[i, k] = wage_index[p, k] * premium
    return out


@njit(cache=True, nogil=True)
def province_shortfall(want, workers, loc, province, n_p):
    """Workers wanted and workers missing by province (whole numbers, so the sums are exact)."""
    wanted = np.zeros(n_p)
    short = np.zeros(n_p)
    for i in range(want.shape[0]):
        w = s = 0
        for k in range(want.shape[1]):
            w += want[i, k]
            s += max(want[i, k] - workers[i, k], 0)
        p = province[loc[i]]
        wanted[p] += w
        short[p] += s
    return wanted, short


@njit(cache=True, nogil=True, error_model="numpy")
def backward_gaps(buyer, supplier, delivered, foreign, tech, n, peak):
    """Suppliers' sales (summed in book order, as ``np.bincount`` does) and the contracts that may carry
    backward learning, for NumPy to take the exponential of eq. 4.2's g.

    The contracts are those with a foreign buyer ahead of the supplier (the others add exactly 0);
    ``backward_sums`` drops those whose supplier sold nothing. Returns (sales, their positions,
    x = gap / peak, 1 − x). Indices are read unsigned, which spares numba's negative-index checks.
    """
    sales = np.zeros(n)
    pos = np.empty(len(supplier), np.int64)
    gap = np.empty(len(supplier))
    t = 0
    for i in range(len(supplier)):
        b, s = np.uint64(buyer[i]), np.uint64(supplier[i])
        sales[s] += delivered[i]
        g = tech[b] - tech[s]
        pos[t] = i
        gap[t] = g
        t += foreign[b] & (g > 0)  # branch-free: the slot is kept only if the contract qualifies
    x = np.empty(t)
    one_minus_x = np.empty(t)
    for k in range(t):
        x[k] = gap[k] / peak
        one_minus_x[k] = 1.0 - x[k]
    return sales, pos[:t], x, one_minus_x


@njit(cache=True, nogil=True, error_model="numpy")
def backward_sums(supplier, delivered, sales, pos, x, exp_term, n):
    """Σ per supplier of (delivered / sales) × x·e^(1−x) over ``backward_gaps``' contracts whose
    supplier sold something, in book order (as ``np.bincount`` sums)."""
    out = np.zeros(n)
    for t in range(len(pos)):
        i = np.uint64(pos[t])
        s = np.uint64(supplier[i])
        if sales[s] > 0:
            out[s] += delivered[i] / sales[s] * (x[t] * exp_term[t])
    return out


@njit(cache=True, nogil=True)
def _clip01(v):
    """``np.clip(v, 0.0, 1.0)`` of one value (a bound's equal, −0.0 included, and NaN pass as NumPy's do)."""
    if v < 0.0:
        return 0.0
    return 1.0 if v > 1.0 else v


@njit(cache=True, nogil=True, error_model="numpy")
def learning_update(tech, workers, emp, skill_ref, backward, presence, seen_tau, loc, carried, partner, quality,
                    rd_spend, revenue, coached_until, month, coached_mult, foreign, fdi_mult, alive, is_lead,
                    coef, drift_rate):
    """One month's τ of every learner, in place, with ``learn``'s NumPy arithmetic in its order.

    ``coef`` holds the channel weights (backward, demonstration, labour mobility, university, R&D).
    Returns the domestic learners' backward and demonstration terms (AC × weight × channel), packed.
    """
    n = len(emp)
    chan_b = np.empty(n)
    chan_d = np.empty(n)
    k = 0
    for i in range(n):
        e = emp[i]
        share = (workers[i, 2] + 0.5 * workers[i, 1]) / e if e > 0 else 0.0
        ac = _clip01(share / skill_ref)
        t0 = tech[i]
        lc = np.uint64(loc[i])
        d = seen_tau[lc] - t0
        demo = presence[lc] * (d if d > 0.0 or d != d else 0.0)  # np.maximum(d, 0.0)
        inflow = carried[i] if i < len(carried) else 0.0
        mobility = inflow / (e if e > 1.0 else 1.0)
        uni = quality[np.uint64(partner[i])] if partner[i] >= 0 else 0.0
        rd = rd_spend[i] / revenue[i] if revenue[i] > 0 else 0.0
        gain = (coef[0] * backward[i] + coef[1] * demo + coef[2] * mobility + coef[3] * uni + coef[4] * rd)
        mult = fdi_mult if foreign[i] else (coached_mult if coached_until[i] >= month else 1.0)
        delta = ac * mult * gain * (1 - t0) - drift_rate * t0
        if alive[i] and not is_lead[i]:
            tech[i] = _clip01(t0 + delta)
            if not foreign[i]:
                chan_b[k] = ac * coef[0] * backward[i]
                chan_d[k] = ac * coef[1] * demo
                k += 1
    return chan_b[:k], chan_d[:k]


@njit(cache=True, nogil=True)
def lead_demand(kind, demand_mult, capacity, base_output, trend, lead_kind):
    """run_demand_phase's firm columns in place: demand multipliers × ``trend``; lead firms' plant
    capacity raised to their demand (``np.maximum``'s rule: the second value on a tie, NaN kept)."""
    for i in range(len(kind)):
        demand_mult[i] *= trend
        if kind[i] == lead_kind:
            a, b = capacity[i], base_output[i] * demand_mult[i]
            capacity[i] = a if a > b or a != a else b


@njit(cache=True, nogil=True)
def component_needs(kind, alive, base_output, demand_mult, cap, sector, bom, output, input_share, supplier_bom,
                    lead_kind):
    """contracts.component_needs' table in one pass, each entry summed as its two ``np.where`` terms are."""
    n, n_cat = len(cap), len(supplier_bom)
    need = np.empty((n, n_cat))
    for i in range(n):
        if alive[i] and kind[i] == lead_kind:
            a, b = base_output[i] * demand_mult[i], cap[i]
            out = a if a < b or a != a else b  # np.minimum: the second value on a tie, NaN kept
            row = np.uint64(sector[i])
            for c in range(n_cat):
                need[i, c] = out * bom[row, c] + 0.0
        elif alive[i]:
            v = input_share * output[i]
            for c in range(n_cat):
                need[i, c] = 0.0 + v * supplier_bom[c]
        else:
            for c in range(n_cat):
                need[i, c] = 0.0
    return need


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


@njit(cache=True, nogil=True)
def month_graph(pair, pair_keys, pair_ids, n_ids, key_base, n, foreign, kind, lead, alive):
    """The month's contract graph and its counts in one call, from the book's sorted pair table.

    Returns the directed buyer→supplier graph of the pairs with a contract as canonical CSR
    (indptr, indices; ``pair`` holds each contract's pair id, ``pair_keys`` the sorted keys
    buyer·key_base + supplier, all buyers below ``n``) and the counts of ``two_way_pairs``,
    ``largest_alive_component`` and ``seller_counts`` (from the active pairs: a pair is there when
    a contract is). Written with few unpredictable branches, which cost more than the memory
    traffic here: every key is written and the cursor moves on only for an active pair, and keys
    are split into (buyer, supplier) by following the row, without a division.
    """
    active = np.zeros(n_ids, np.bool_)
    for i in range(len(pair)):
        active[pair[i]] = True
    indptr = np.zeros(n + 1, np.int64)
    indices = np.empty(len(pair_keys), np.int64)
    u, row_key, t = 0, 0, 0  # the current row, its first key and the entries so far
    for j in range(len(pair_keys)):
        key = pair_keys[j]
        while key >= row_key + key_base and u < n:
            indptr[u + 1] = t
            u += 1
            row_key += key_base
        indices[t] = key - row_key
        t += active[pair_ids[j]]
    while u < n:
        indptr[u + 1] = t
        u += 1
    indices = indices[:t]

    lead_buyer = np.zeros(n, np.bool_)  # sells to a lead firm
    other_buyer = np.zeros(n, np.bool_)  # sells to a firm that is not a lead firm
    n_lead_dom = 0
    for u in range(n):
        if kind[u] == lead:
            any_dom = False
            for p in range(indptr[u], indptr[u + 1]):
                lead_buyer[indices[p]] = True
                any_dom |= not foreign[indices[p]]
            n_lead_dom += any_dom
        else:
            for p in range(indptr[u], indptr[u + 1]):
                other_buyer[indices[p]] = True
    n_tier1 = n_tier2 = 0
    for v in range(n):
        n_tier1 += (not foreign[v]) & lead_buyer[v]
        n_tier2 += (not foreign[v]) & other_buyer[v]

    two_way = _two_way_pairs(indptr, indices, lead_buyer | other_buyer)
    largest = largest_alive_component(indptr, indices, alive)
    return indptr, indices, two_way, largest, n_tier1, n_tier2, n_lead_dom
