"""Sourcing and the contract book (ODD §7.3).

Each month a buyer's component needs (lead firms: output × bill of materials; suppliers: tier-2
inputs) are first covered by active contracts; expiring contracts are renewed with a probability
that falls with poor delivery; open needs go to tender. A tender draws candidate suppliers by
distance, keeps those that qualify (τ and certification meet the category's threshold), scores
delivered cost (unit cost from τ and wages, transport by road km, incentives) less relationship
history, and awards the open need to the best few that beat the import price (multi-sourcing),
within their spare capacity. What is left is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from model import kernels, kernels_phases, tender_kernel
from model.firms import LEAD
from model.random_replay import KernelStream
from model.recorder import EVENT_NAMES
from model.sampling import drop_duplicates, sample_by_location

if TYPE_CHECKING:
    from model.cluster_model import ClusterModel

def unit_cost(m: ClusterModel, threshold: float | np.ndarray, wage: np.ndarray | None = None) -> np.ndarray:
    """Unit cost of each firm's output in a category, relative to the world price (eq. 3.1); with an
    array of thresholds, one row per threshold.

    Cost falls with τ, but technology beyond what the part needs (threshold + headroom) buys
    nothing more; labour costs enter through the firm's wage relative to the domestic average.
    """
    s, f = m.sc.sourcing, m.firms
    useful = np.minimum(f.tech[: f.n], np.asarray(threshold)[..., None] + s.cost_tech_headroom)
    return s.unit_cost_base * np.exp(-s.cost_tech_elasticity * useful) * (_wage_factor(m) if wage is None else wage)


def _wage_factor(m: ClusterModel) -> np.ndarray:
    """The labour-cost factor of each firm's unit cost (the same in every category)."""
    s, f = m.sc.sourcing, m.firms
    n = f.n
    wage_rel = np.where(f.wage_tech[:n] > 0, f.wage_tech[:n] / max(m.labour.mean_wage_ref, 1e-9), 1.0)
    return 1 + s.wage_cost_share * (wage_rel - 1)


def qualifies(m: ClusterModel, rows: np.ndarray, cat: int) -> np.ndarray:
    """Whether firms ``rows`` may supply category ``cat`` now (eq. 3.2)."""
    return _qualification(m)(cat)[rows]


def _qualification(m: ClusterModel) -> Callable[[int | np.ndarray], np.ndarray]:
    """Whether each firm may supply category ``cat`` now (eq. 3.2), for category after category,
    sharing the parts that are the same in all; given an array of categories, one row per category."""
    f, n = m.firms, m.firms.n
    may = f.alive[:n] & (f.kind[:n] != LEAD)
    tech = f.tech[:n] + np.where(f.coached_until[:n] >= m.month, m.policy.qualification_bonus, 0.0)

    def of(cat: int | np.ndarray) -> np.ndarray:
        cats = np.atleast_1d(cat)
        certification = np.array([m.categories[c].certification for c in cats])
        ok = (may & f.caps[:n, cats].T & (tech >= m.category_threshold[cats][:, None])
              & (f.certified[:n] | ~certification[:, None]))
        return ok if np.ndim(cat) else ok[0]

    return of


def renew_or_end(m: ClusterModel, compact: bool = True, qualified: np.ndarray | None = None) -> np.ndarray | None:
    """Contracts reaching their end are renewed (∝ delivery performance) or ended.

    With ``compact=False`` the ended contracts stay in the book and their positions (sorted) are
    returned (``fit_to_needs`` then drops them with the too-small ones in one compaction).
    ``qualified``: ``_qualification`` of every category, if the caller has it.
    """
    book, s = m.contracts, m.sc.sourcing
    due = book.end <= m.month
    if not due.any():
        return None
    idx = np.flatnonzero(due)
    if qualified is None:
        qualified = _qualification(m)(np.arange(len(m.categories)))  # (category, firm)
    still = qualified[book.cat[idx], book.supplier[idx]] & m.firms.alive[book.buyer[idx]]
    p = s.renewal_base * book.perf[idx] ** s.renewal_performance_power * still
    renew = m.rng_contracts.random(len(idx)) < p
    r = idx[renew]
    book.end[r] = m.month + m.rng_contracts.integers(s.contract_months_min, s.contract_months_max + 1, len(r))
    m.recorder.contract_events(m, "renewed", r)
    ended = idx[~renew]
    m.recorder.contract_events(m, "ended", ended)
    if not compact:
        return ended
    book.drop(ended)
    return None


def end_contracts_of(m: ClusterModel, rows: np.ndarray) -> None:
    """End every contract of firms that exit (as buyer or supplier)."""
    book = m.contracts
    leaving = np.zeros(m.firms.n, dtype=bool)
    leaving[rows] = True
    gone = np.flatnonzero(leaving[book.buyer] | leaving[book.supplier])
    if len(gone):
        m.recorder.contract_events(m, "ended", gone)
        book.drop(gone)


def fit_to_needs(m: ClusterModel, need: np.ndarray, ended: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Scale contract volumes down where a buyer's need fell below what it contracted (volume ≤ need).

    ``ended`` (from ``renew_or_end(m, compact=False)``: sorted book positions) marks contracts no
    longer running; they count for nothing and leave the book with the ones that became too small.
    Returns what the book then holds: value contracted per (buyer, category), shaped like ``need``,
    and committed per supplier.
    """
    book = m.contracts
    n, n_cat = need.shape
    if not book.n:
        return np.zeros_like(need), np.zeros(n)
    floor = 0.5 * m.sc.sourcing.min_tender_value  # volumes too small to keep a contract alive
    if kernels.use_compiled():  # the sums and the positions to drop come out of the same pass
        tiny, drops, contracted, committed = kernels.fit_volumes(
            book.buyer, book.supplier, book.cat, book.value,
            np.zeros(0, np.int64) if ended is None else ended.astype(np.int64, copy=False), need, floor)
        m.recorder.contract_events(m, "ended", tiny)
        book.drop(drops)
        return contracted, committed
    active = None
    if ended is not None:
        active = np.ones(book.n, bool)
        active[ended] = False
    weights = book.value if active is None else np.where(active, book.value, 0.0)
    contracted = np.bincount(book.buyer * n_cat + book.cat, weights=weights,
                             minlength=n * n_cat).reshape(n, n_cat)
    ratio = np.where(contracted > need, need / np.maximum(contracted, 1e-12), 1.0)
    book.value *= ratio[book.buyer, book.cat]
    tiny = book.value < floor
    if active is not None:
        tiny &= active
    _drop_tiny(m, tiny, active)
    return book.per_pair(n, n_cat), np.bincount(book.supplier, weights=book.value, minlength=n)


def _drop_tiny(m: ClusterModel, tiny: np.ndarray, active: np.ndarray | None) -> None:
    """End the contracts marked ``tiny`` and drop them (with the inactive ones) in one compaction."""
    book = m.contracts
    if tiny.any():
        m.recorder.contract_events(m, "ended", np.flatnonzero(tiny))
    if active is not None:
        book.keep(active & ~tiny)
    elif tiny.any():
        book.keep(~tiny)


def run_tenders(m: ClusterModel, need: np.ndarray, contracted: np.ndarray, spare: np.ndarray,
                review_all: bool = False, qualified: np.ndarray | None = None) -> None:
    """Award open needs (``need`` less the ``contracted`` value per buyer and category) to qualified
    suppliers (``qualified``: ``_qualification`` of every category, if the caller has it); ``spare``
    (capacity left per firm) is updated in place.

    Buyers review imported needs with probability ``p_review`` a month (all of them at the start).
    For each category, hardest first, a buyer runs up to ``tender_rounds`` rounds: it draws
    candidates, ranks those that beat the import price by delivered cost, and awards in that order
    up to each one's spare capacity and at most ``max_share`` of the open need per supplier.
    """
    f, s = m.firms, m.sc.sourcing
    rng = m.rng_contracts
    draw = rng.random(need.shape)  # which buyers review their imported needs this month
    h_max = float(m.contracts.hist.max()) if len(m.contracts.hist) else 0.0  # records don't change in tenders
    wage = _wage_factor(m)
    order = np.argsort(-m.category_threshold, kind="stable")
    rounds = s.initial_tender_rounds if review_all else s.tender_rounds
    if qualified is None:
        qualified = _qualification(m)(np.arange(len(m.categories)))  # tenders change no firm's qualification
    if kernels.use_compiled() and KernelStream.fits(rng):
        open_t, cap_t = kernels.open_needs(need, contracted, draw, s.p_review, review_all, f.alive, order, s.max_share)
        _tenders_compiled(m, order, rounds, open_t, cap_t, qualified[order], spare, review_all, wage, h_max)
        return
    review = review_all | (draw < s.p_review)
    open_need = np.where(review & f.alive[: len(need), None], need - contracted, 0.0)
    for c in order:
        left = open_need[:, c].copy()
        if not (left > s.min_tender_value).any():
            continue  # no buyer: the first round would stop before drawing
        if not (qualified[c] & (spare[: len(need)] > 1e-9)).any():
            continue  # no supplier: likewise
        cap_share = s.max_share * open_need[:, c]
        unit = unit_cost(m, m.categories[c].threshold, wage)
        for _ in range(rounds):
            buyers = np.flatnonzero(left > s.min_tender_value)
            pool = np.flatnonzero(qualified[c] & (spare[: len(need)] > 1e-9))
            if not len(buyers) or not len(pool):
                break
            m.candidates_drawn += len(buyers) * s.n_candidates
            _tender_round(m, int(c), buyers, pool, unit, left, cap_share, spare, review_all)


def _tender_round(m: ClusterModel, c: int, buyers: np.ndarray, pool: np.ndarray, unit: np.ndarray,
                  left: np.ndarray, cap_share: np.ndarray, spare: np.ndarray, initial: bool) -> None:
    """One round of tenders for category ``c`` (eq. 3.3–3.4); updates ``left`` and ``spare``."""
    s, book, rng = m.sc.sourcing, m.contracts, m.rng_contracts
    awards = _awards(m, c, buyers, pool, unit, left, cap_share, spare)
    if awards is None:
        left[buyers] = 0.0  # nothing beat the import price: import the rest this month
        return
    bb, ss, vv = awards
    np.subtract.at(spare, ss, vv)
    np.maximum(spare, 0, out=spare)
    np.subtract.at(left, bb, vv)
    # a supplier that already holds a contract with this buyer for this category gets more volume on it
    pos = book.find(bb, ss, c)
    ext = pos >= 0
    if ext.any():
        np.add.at(book.value, pos[ext], vv[ext])
        m.recorder.contract_events(m, "extended", np.unique(pos[ext]))
    bb, ss, vv = bb[~ext], ss[~ext], vv[~ext]
    lo = 1 if initial else s.contract_months_min  # at the start, stagger ends so renewals spread out
    dur = rng.integers(lo, s.contract_months_max + 1, len(bb))
    book.add(bb, ss, np.full(len(bb), c), vv, m.month, m.month + dur)
    m.recorder.contract_events(m, "signed", np.arange(book.n - len(bb), book.n))


def _awards(m: ClusterModel, c: int, buyers: np.ndarray, pool: np.ndarray, unit: np.ndarray, left: np.ndarray,
            cap_share: np.ndarray, spare: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(buyer, supplier, value) awarded in a round, or None if nothing beat the import price.

    Each buyer draws candidates, ranks those that beat the import price by delivered cost, and asks
    each in turn for up to its spare capacity and ``max_share`` of the need; suppliers asked for
    more than their spare capacity scale every ask down in proportion.
    """
    f, s, book, rng = m.firms, m.sc.sourcing, m.contracts, m.rng_contracts
    cand = drop_duplicates(sample_by_location(rng, f.loc[buyers], pool, f.loc[pool], m.reach_weight[c], s.n_candidates))
    cand[cand == buyers[:, None]] = -1
    valid = cand >= 0
    cs = np.where(valid, cand, 0)
    b = np.broadcast_to(buyers[:, None], cand.shape)
    cost = unit[cs] * (1 + m.sc.economy.transport_cost_per_km * m.geo.km[f.loc[b], f.loc[cs]])
    foreign_buyer = f.foreign[b]
    credit = m.policy.local_credit[c][m.geo.province[f.loc[b]]]
    cost -= np.where(~f.foreign[cs] & foreign_buyer, credit * unit[cs], 0.0)
    cost -= np.where((f.coached_until[cs] >= m.month) & foreign_buyer, m.policy.matchmaking, 0.0)
    cost -= s.history_weight * book.history(b.ravel(), cs.ravel()).reshape(cand.shape)
    cost += s.score_noise * rng.gumbel(size=cand.shape)
    valid &= cost < (1 + m.sc.economy.import_markup) * (1 + m.policy.import_spike[c])
    order = np.argsort(np.where(valid, cost, np.inf), axis=1, kind="stable")
    win = np.take_along_axis(cand, order, 1)
    ok = np.take_along_axis(valid, order, 1)
    offer = np.where(ok, np.minimum(spare[np.where(ok, win, 0)], cap_share[buyers][:, None]), 0.0)
    before = np.cumsum(offer, axis=1) - offer
    ask = np.clip(left[buyers][:, None] - before, 0.0, offer)
    sup = np.where(ok, win, 0)
    asked = np.bincount(sup.ravel(), weights=ask.ravel(), minlength=len(spare))
    scale = np.where(asked > spare, spare / np.maximum(asked, 1e-12), 1.0)
    award = ask * scale[sup]
    keep = ok & (award > s.min_tender_value)
    if not keep.any():
        return None
    return b[keep], win[keep], award[keep]


def _tenders_compiled(m: ClusterModel, order: np.ndarray, rounds: int, open_t: np.ndarray, cap_t: np.ndarray,
                      qualified: np.ndarray, spare: np.ndarray, initial: bool, wage: np.ndarray, h_max: float) -> None:
    """``run_tenders``' loop over categories (in ``order``) in compiled calls
    (tender_kernel.month_tenders): the same awards, contracts, events and draws as ``_tender_round``
    category by category and round by round. Each category's inputs are one row of a table (open
    needs ``open_t``, caps on a supplier's share ``cap_t``, ``qualified``: category in ``order``, firm)."""
    f, s, book, geo, pol = m.firms, m.sc.sourcing, m.contracts, m.geo, m.policy
    unit = unit_cost(m, m.category_threshold[order], wage)
    table = [np.ascontiguousarray(x) for x in (qualified, unit, cap_t, open_t, pol.local_credit[order][:, geo.province])]
    limit = (1 + m.sc.economy.import_markup) * (1 + pol.import_spike[order])
    reach = np.stack([m.reach_weight[c] for c in order])
    lo = 1 if initial else s.contract_months_min  # at the start, stagger ends so renewals spread out
    segments, base_seg = book.pair_segments(f.n), book.base_segments(f.n)
    stream = KernelStream(m.rng_contracts)
    first, ci, r = book.n, 0, 0
    first_new, new_head, new_next = book.n, np.full(f.n, -1, np.int64), np.zeros(0, np.int64)
    while True:
        b = book._buf
        (base_keys, base_pos), (tail_keys, tail_pos) = book._ix["base"], book._ix["tail"]
        ci, r, status, n_book, next_id, need, first_new, new_next, tag, pos, val, drawn = tender_kernel.month_tenders(
            order, ci, r, rounds, s.n_candidates, s.min_tender_value, *table[:4], spare, f.loc, f.foreign,
            f.coached_until, table[4], m.month, float(pol.matchmaking), geo.km, m.sc.economy.transport_cost_per_km,
            s.history_weight, s.score_noise, limit, reach, book.pair_keys, book.pair_ids, book.hist, h_max,
            book._key_base, segments, *book.pair_filter_for(f.n), base_keys, base_pos, base_seg,
            tail_keys, tail_pos, b["cid"], b["buyer"], b["supplier"], b["cat"], b["value"], b["start"], b["end"],
            b["perf"], b["pair"], book.n, book.next_id, lo, s.contract_months_max - lo, stream.st, first_new, new_head, new_next)
        book.appended(n_book, next_id)
        m.candidates_drawn += drawn
        stream.events.append((tag, pos, val))  # logged after the month's tenders (positions don't move)
        if status != 1:
            break
        book.reserve(need)
    book.index_from(first)  # each category's look-ups were of its own contracts only
    stream.close()
    _log_events(m, *(np.concatenate(x) for x in zip(*stream.events, strict=True)))


def _log_events(m: ClusterModel, tag: np.ndarray, pos: np.ndarray, val: np.ndarray) -> None:
    """Log a kernel's contract events in order, in one recorder call, with the contract's value as
    at the event (a later round may extend a contract signed earlier)."""
    if not len(tag) or not m.recorder.enabled:
        return
    code = np.where(tag % 2 == 1, EVENT_NAMES.index("signed"), EVENT_NAMES.index("extended")).astype(np.int8)
    m.recorder.contract_events(m, code, pos, val)


def deliver(m: ClusterModel, cap: np.ndarray | None = None) -> np.ndarray:
    """Suppliers deliver what their capacity (``cap``: effective capacity) allows; returns delivered
    value per contract."""
    f, book = m.firms, m.contracts
    cap = f.effective_capacity(m.sc.labour.labour_tech_elasticity) if cap is None else cap
    if kernels.use_compiled():
        committed, share, delivered = kernels.deliver_shares(book.supplier, book.value, book.perf, cap)
        f.deliver_share[: f.n] = share
        f.committed[: f.n] = committed
        return delivered
    committed = np.bincount(book.supplier, weights=book.value, minlength=f.n)
    share = np.where(committed > 0, np.minimum(1.0, cap / np.maximum(committed, 1e-12)), 1.0)
    f.deliver_share[: f.n] = share
    f.committed[: f.n] = committed
    delivered = book.value * share[book.supplier]
    book.perf[:] = 0.7 * book.perf + 0.3 * share[book.supplier]
    return delivered


def component_needs(m: ClusterModel) -> np.ndarray:
    """Value each firm needs per category this month (VND bn): lead firms' output × bill of
    materials; suppliers' last output × their input share × the supplier input mix (eq. 2.1)."""
    f, s = m.firms, m.sc.sourcing
    n = f.n
    cap = f.effective_capacity(m.sc.labour.labour_tech_elasticity)
    if kernels.use_compiled():
        return kernels_phases.component_needs(f.kind[:n], f.alive, f.base_output, f.demand_mult, cap, f.sector, m.bom,
                                              f.output, s.supplier_input_share, m.supplier_bom, LEAD)
    alive = f.alive[:n]
    lead = (f.kind[:n] == LEAD) & alive
    lead_out = np.minimum(f.base_output[:n] * f.demand_mult[:n], cap)
    need = np.where(lead[:, None], lead_out[:, None] * m.bom[f.sector[:n]], 0.0)
    sup = ~lead & alive
    need += np.where(sup[:, None], (s.supplier_input_share * f.output[:n])[:, None] * m.supplier_bom[None, :], 0.0)
    return need


def run_demand_phase(m: ClusterModel) -> None:
    """Phase 2: lead firms' demand path (trend × AR(1) shock) and every firm's component needs."""
    e = m.sc.economy
    m.demand_shock = e.demand_persistence * m.demand_shock + e.demand_volatility * m.rng_demand.standard_normal()
    trend = (1 + e.export_growth) ** (m.month / 12) * np.exp(m.demand_shock)
    m.demand_trend = float(trend)  # a lead plant arriving this month is sized for demand as it is now
    f = m.firms
    # lead firms' parents add plant capacity as demand requires (workers remain the constraint)
    if kernels.use_compiled():
        kernels_phases.lead_demand(f.kind[: f.n], f.demand_mult, f.capacity, f.base_output, float(trend), LEAD)
    else:
        f.demand_mult[: f.n] *= trend
        lead = f.kind[: f.n] == LEAD
        f.capacity[: f.n] = np.where(lead, np.maximum(f.capacity[: f.n], f.base_output[: f.n] * f.demand_mult[: f.n]),
                                     f.capacity[: f.n])
    m.need = component_needs(m)


def run_sourcing_phase(m: ClusterModel, initial: bool = False) -> None:
    """Phase 3: renew or end, fit contracts to needs, tender open needs, deliver, import the rest."""
    f, book = m.firms, m.contracts
    n = f.n
    qualified = _qualification(m)(np.arange(len(m.categories)))  # no firm's qualification changes in this phase
    ended = None if initial else renew_or_end(m, compact=False, qualified=qualified)
    contracted, committed = fit_to_needs(m, m.need, ended)  # one compaction drops ended and too-small ones
    cap = f.effective_capacity(m.sc.labour.labour_tech_elasticity)
    spare = np.maximum(cap - committed, 0.0) * (f.alive[:n] & (f.kind[:n] != LEAD))
    run_tenders(m, m.need, contracted, spare, review_all=initial, qualified=qualified)
    m.delivered = deliver(m, cap)  # no firm's capacity changes in this phase
    book.update_history(m.sc.sourcing.history_decay)
    m.policy.account_local_credit(m, m.delivered)
    _sourcing_stats(m, cap)


def _sourcing_stats(m: ClusterModel, cap: np.ndarray | None = None) -> None:
    """Where lead firms' inputs came from this month (for the indicators); ``cap``: effective capacity."""
    f, book = m.firms, m.contracts
    n = f.n
    if kernels.use_compiled():
        got, from_dom, dom_buyer, from_fdi = kernels.lead_sourcing(
            book.buyer, book.supplier, book.cat, m.delivered, f.kind[:n] == LEAD, f.foreign[:n], n, len(m.categories))
    else:
        lead_buy = f.kind[book.buyer] == LEAD
        dom = lead_buy & ~f.foreign[book.supplier]
        fsup = lead_buy & f.foreign[book.supplier]
        got = np.bincount(book.buyer * len(m.categories) + book.cat, weights=m.delivered,
                          minlength=n * len(m.categories)).reshape(n, len(m.categories))
        from_dom, dom_buyer, from_fdi = m.delivered[dom], book.buyer[dom], m.delivered[fsup]
    m.imports = np.maximum(m.need - got, 0.0)
    lead = (f.kind[:n] == LEAD) & f.alive[:n]
    if cap is None:
        cap = f.effective_capacity(m.sc.labour.labour_tech_elasticity)
    lead_out = np.minimum(f.base_output[:n] * f.demand_mult[:n], cap) * lead
    prov = m.geo.province[f.loc[:n]]
    n_p = len(m.geo.provinces)
    m.stats.update(
        lead_output=float(lead_out.sum()), lead_inputs=float(m.need[lead].sum()),
        lead_from_domestic=float(from_dom.sum()), lead_from_fdi_suppliers=float(from_fdi.sum()),
        lead_imports=float(m.imports[lead].sum()),
        lead_output_by_province=np.bincount(prov, weights=lead_out, minlength=n_p),
        lead_from_domestic_by_province=np.bincount(prov[dom_buyer], weights=from_dom, minlength=n_p))
