"""Finance and demography (ODD §7.6): sales, costs, cash, investment, upgrading, exit, entry,
spin-offs and the arrival and location choice of FDI projects."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from model.firms import LEAD, SME, SUPPLIER
from model.labour import firm_wages, spinoff_founders
from model.population import add_firms, draw_pollutes, land_needed

if TYPE_CHECKING:
    from model.cluster_model import ClusterModel

TECH_REF = 0.3  # τ at which a supplier's material cost equals the scenario's material share


def sell_and_produce(m: ClusterModel, delivered: np.ndarray) -> None:
    """Output and revenue: contract deliveries plus other sales (eq. 6.1).

    Lead firms make what demand asks (up to what their workforce can); SMEs sell spare capacity
    on their province's domestic market (rationed ∝ spare × (0.5 + τ)); foreign suppliers sell
    spare capacity to their networks abroad up to their starting utilisation.
    """
    f, econ = m.firms, m.sc.economy
    n = f.n
    cap = f.effective_capacity(m.sc.labour.labour_tech_elasticity)
    contract = np.bincount(m.contracts.supplier, weights=delivered, minlength=n)
    spare = np.maximum(cap - contract, 0.0) * f.alive[:n]
    sme = (f.kind[:n] == SME) & f.alive[:n]
    dom = domestic_sales(m, spare, sme)
    sup = (f.kind[:n] == SUPPLIER) & f.alive[:n]
    export = np.where(sup, np.minimum(spare, np.maximum(econ.initial_utilisation * f.capacity[:n] - contract, 0.0)), 0.0)
    lead = (f.kind[:n] == LEAD) & f.alive[:n]
    lead_out = np.where(lead, np.minimum(f.base_output[:n] * f.demand_mult[:n], cap), 0.0)
    f.sales_contract[:n] = contract
    f.sales_other[:n] = dom + export
    f.output[:n] = np.where(lead, lead_out, contract + dom + export)
    f.revenue[:n] = np.where(lead, lead_out, contract + dom * econ.domestic_market_price + export)
    m.produced_n = n  # firms founded later this month have produced nothing yet (metrics._made)


def domestic_sales(m: ClusterModel, spare: np.ndarray, sme: np.ndarray) -> np.ndarray:
    """What SMEs (``sme``) with ``spare`` capacity sell on their province's domestic market this
    month: the market rationed ∝ spare × (0.5 + τ), at most the spare (eq. 6.1)."""
    f, econ = m.firms, m.sc.economy
    n = f.n
    prov = m.geo.province[f.loc[:n]]
    w = np.where(sme, spare * (0.5 + f.tech[:n]), 0.0)
    wsum = np.bincount(prov, weights=w, minlength=len(m.geo.provinces))
    market = m.domestic_market * (1 + econ.domestic_market_growth) ** (m.month / 12)
    return np.where(sme, np.minimum(spare, market[prov] * np.divide(w, wsum[prov], out=np.zeros(n), where=wsum[prov] > 0)), 0.0)


def account(m: ClusterModel) -> None:
    """Costs, R&D and cash; count loss months (eq. 6.2)."""
    f, s, fin, learn = m.firms, m.sc.sourcing, m.sc.finance, m.sc.learning
    n = f.n
    pay, staff = firm_wages(m), f.workers[:n]
    # the row sum of pay × staff, column by column (the same additions in the same order, without sum(axis=1))
    wages = pay[:, 0] * staff[:, 0]
    wages += pay[:, 1] * staff[:, 1]
    wages += pay[:, 2] * staff[:, 2]
    wages /= 1000.0  # VND bn
    lead = f.kind[:n] == LEAD
    # suppliers' materials cost more per unit the further their τ is below the reference (scrap, rework)
    efficiency = np.exp(-s.cost_tech_elasticity * (f.tech[:n] - TECH_REF))
    materials = np.where(lead, m.bom_total[f.sector[:n]], (s.material_share + s.supplier_input_share) * efficiency) * f.output[:n]
    fixed = fin.fixed_cost_share * f.capacity[:n]
    sme = (f.kind[:n] == SME) & f.alive[:n]
    rate = m.policy.rd_rate[m.geo.province[f.loc[:n]]]  # the R&D subsidy's rate where each firm is
    rd_rate = learn.rd_share * (1 + rate * m.policy.rd_response)
    rd = np.where(sme & (f.cash[:n] > 0), rd_rate * f.revenue[:n], 0.0)
    subsidy = m.policy.spend_rd(m, rd * rate)
    profit = f.revenue[:n] - wages - materials - fixed - rd + subsidy
    f.rd_spend[:n] = rd
    f.profit[:n] = np.where(f.alive[:n], profit, 0.0)
    f.cash[:n] += f.profit[:n]
    f.loss_months[:n] = np.where(f.profit[:n] < 0, f.loss_months[:n] + 1, 0)
    # SME credit: the month's instalments (a firm's loans together; the last one pays what is left)
    pay = np.minimum(f.instalment[:n], f.debt[:n]) * f.alive[:n]
    f.cash[:n] -= pay
    f.debt[:n] -= pay
    f.instalment[:n] = np.where(f.debt[:n] > 1e-12, f.instalment[:n], 0.0)


def invest_and_upgrade(m: ClusterModel) -> None:
    """Capacity investment, capability upgrading and certification (eq. 6.3–6.5)."""
    f, fin, s, rng = m.firms, m.sc.finance, m.sc.sourcing, m.rng_demography
    n = f.n
    alive = f.alive[:n] & (f.kind[:n] != LEAD)
    util = np.divide(f.output[:n], f.capacity[:n], out=np.zeros(n), where=f.capacity[:n] > 0)
    add = f.capacity[:n] * fin.capacity_step
    cost = add * fin.capital_per_capacity
    want = alive & (util > fin.invest_utilisation)
    can = m.policy.finance(m, want, cost)
    f.capacity[:n] += np.where(can, add, 0.0)
    f.capacity[:n] -= fin.capacity_decay * np.maximum(f.capacity[:n] - f.output[:n], 0.0) * alive

    # upgrading: the easiest category of the chain not yet made, if τ reaches its threshold
    sme = alive & (f.kind[:n] == SME)
    nxt, has_next = _next_category(m)
    up_cost = fin.upgrade_cost * (1 + 3 * m.category_threshold[nxt])
    want = sme & has_next & (rng.random(n) < fin.p_upgrade)
    can = m.policy.finance(m, want, up_cost)
    f.caps[np.flatnonzero(can), nxt[can]] = True

    coached = (f.coached_until[:n] >= m.month) & m.policy.coaching  # while a programme runs, as its other help
    p_cert = s.p_certify * np.where(coached, 2.0, 1.0)
    cert = sme & ~f.certified[:n] & (f.tech[:n] >= s.certification_tech) & (rng.random(n) < p_cert) \
        & (f.cash[:n] > s.certification_cost)
    f.certified[:n] |= cert
    f.cash[:n] -= cert * s.certification_cost


def _next_category(m: ClusterModel) -> tuple[np.ndarray, np.ndarray]:
    """Per firm, the easiest category of its chain it does not make and whose threshold its τ reaches
    (the lowest index among equal thresholds; 0 where there is none), and whether there is one.

    One pass per category, hardest first so that the easiest one is written last: the same answer
    as an argmin over a firms × categories table of thresholds, without building the table.
    """
    f, thr = m.firms, m.category_threshold
    n = f.n
    chain = (m.bom > 0) | (m.supplier_bom[None, :] > 0)  # sector × category
    sector, caps, tech = f.sector[:n], f.caps[:n], f.tech[:n]
    nxt = np.zeros(n, dtype=np.int64)
    has_next = np.zeros(n, dtype=bool)
    for c in np.argsort(thr, kind="stable")[::-1]:
        reach = tech >= thr[c]
        reach &= ~caps[:, c]
        if not chain[:, c].all():
            reach &= chain[sector, c]
        nxt[reach] = c
        has_next |= reach
    return nxt, has_next


def exits(m: ClusterModel) -> np.ndarray:
    """Firms with sustained losses and no cash close; their workers return to the pool (eq. 6.6)."""
    f = m.firms
    n = f.n
    gone = np.flatnonzero(f.alive[:n] & (f.kind[:n] != LEAD) & (f.loss_months[:n] >= m.sc.finance.exit_loss_months)
                          & (f.cash[:n] < 0))
    close_firms(m, gone)
    return gone


def close_firms(m: ClusterModel, rows: np.ndarray) -> None:
    """Take firms out: release workers to their district pool, end contracts, free land."""
    if not len(rows):
        return
    from model.contracts import end_contracts_of

    f = m.firms
    released = np.zeros((f.n, 3), dtype=np.int64)
    released[rows] = f.workers[rows]
    np.add.at(m.labour.pools, m.geo.district[f.loc[rows]], f.workers[rows])
    m.recorder.pool_flows(m, "exit", released, to_pool=True)
    f.workers[rows] = 0
    f.alive[rows] = False
    np.subtract.at(m.geo.occupied, f.loc[rows], f.land_ha[rows] * (m.geo.kind[f.loc[rows]] != 3))
    np.maximum(m.geo.occupied, 0, out=m.geo.occupied)
    end_contracts_of(m, rows)
    for r in rows:
        agent = m.firm_agents.pop(int(r), None)
        if agent is not None:
            agent.remove()


def enter_smes(m: ClusterModel, imports_by_buyer_cat: np.ndarray) -> int:
    """New SMEs where unmet local demand for easy categories is large (eq. 6.7)."""
    f, d, rng = m.firms, m.sc.demography, m.rng_demography
    n = f.n
    prov = m.geo.province[f.loc[:n]]
    n_p = len(m.geo.provinces)
    easy = m.category_threshold <= d.entrant_tech + 0.15
    k_rows = len(imports_by_buyer_cat)  # firms born this month after sourcing have no imports yet
    unmet = np.bincount(prov[:k_rows], weights=imports_by_buyer_cat[:, easy].sum(axis=1), minlength=n_p)
    sme = f.alive[:n] & (f.kind[:n] == SME)
    sme_out = np.bincount(prov, weights=f.output[:n] * sme, minlength=n_p)
    n_sme = np.bincount(prov, weights=sme, minlength=n_p)
    opportunity = np.divide(unmet, sme_out + 1.0)
    lam = d.sme_entry_rate / 12 * n_sme * np.minimum(2.0, opportunity / d.entry_opportunity_ref)
    counts = rng.poisson(lam)
    total = 0
    free = m.geo.free_ha(m.month)  # taken down as entrants are placed, each province's and each month's
    closed = m.policy.closed_to_newcomers(m)
    for p in np.flatnonzero(counts):
        k = int(counts[p])
        locs = np.flatnonzero(m.geo.province == p)
        peers = np.flatnonzero(sme & (prov == p))
        sector = f.sector[peers[rng.integers(0, len(peers), k)]] if len(peers) else np.zeros(k, np.int64)
        tech = np.clip(d.entrant_tech + 0.07 * rng.standard_normal(k), 0.02, 0.9)
        emp = d.entrant_employees * np.exp(0.6 * rng.standard_normal(k))
        pollutes = draw_pollutes(m, sector, rng)
        admits = (m.geo.admits(sector, pollutes) & ~closed)[:, locs]  # (entrant, place of p)
        loc = np.array([_take_place(locs[ok], free, x, rng) for x, ok in zip(land_needed(m, emp), admits, strict=True)],
                       dtype=np.int64)
        placed = loc >= 0  # an entrant for which no place in its province admits it with the land is not founded
        if not placed.any():
            continue
        loc, sector, tech, emp, pollutes = loc[placed], sector[placed], tech[placed], emp[placed], pollutes[placed]
        if len(peers):
            staff = f.workers[peers]
            opw = np.full(len(loc), np.median(np.divide(f.output[peers], np.maximum(staff[:, 0] + staff[:, 1] + staff[:, 2], 1))))
        else:
            opw = np.full(len(loc), 0.06)
        rows = add_firms(m, SME, loc, sector, tech, emp, opw, certified=np.zeros(len(loc), bool), pollutes=pollutes)
        _occupy(m, rows)
        total += len(loc)
    return total


def _take_place(locs: np.ndarray, free: np.ndarray, land: float, rng: np.random.Generator) -> int:
    """One of ``locs`` with ``land`` ha free, drawn uniformly, its land taken from ``free``; -1 if none."""
    room = locs[free[locs] >= land]
    if not len(room):
        return -1
    loc = int(room[rng.integers(0, len(room))])
    free[loc] -= land  # outside parks: inf stays inf
    return loc


def spin_off(m: ClusterModel) -> int:
    """Engineers leave FDI firms to found SMEs near their former employer (eq. 5.4)."""
    f, rng = m.firms, m.rng_demography
    founders = spinoff_founders(m)
    parents = np.repeat(np.arange(f.n), founders)
    if not len(parents):
        return 0
    emp = 8.0
    pollutes = draw_pollutes(m, f.sector[parents], rng)
    admits = m.geo.admits(f.sector[parents], pollutes) & ~m.policy.closed_to_newcomers(m)
    locs = _beside_or_outside(m, f.loc[parents], float(land_needed(m, emp)), admits)
    placed = locs >= 0  # a founder who finds no land stays with the parent
    parents, locs, pollutes = parents[placed], locs[placed], pollutes[placed]
    if not len(parents):
        return 0
    # a firm may lose several engineers in a month (founders <= engineers)
    f.workers[: f.n, 2] -= np.bincount(parents, minlength=f.n)
    k = len(parents)
    tech = np.clip(0.6 * f.tech[parents] + 0.03 * rng.standard_normal(k), 0.02, 0.95)
    rows = add_firms(m, SME, locs, f.sector[parents], tech, np.full(k, emp), np.full(k, 0.06),
                     certified=np.zeros(k, bool), parent=parents, pollutes=pollutes, founders=True)
    _occupy(m, rows)
    m.recorder.flows(m, "spinoff", parents, rows, 2, np.ones(k, dtype=np.int64))
    return k


def _beside_or_outside(m: ClusterModel, locs: np.ndarray, land: float, admits: np.ndarray) -> np.ndarray:
    """Where each founder's SME starts: its parent's place while that has ``land`` ha free, else the
    province's first place outside parks; only places that admit it (``admits``: founder, place); -1
    where neither has room or admits it (the land is taken as it goes)."""
    geo = m.geo
    free = geo.free_ha(m.month)
    outside = {p: np.flatnonzero((geo.province == p) & (geo.kind == 3)) for p in range(len(geo.provinces))}
    out = np.full(len(locs), -1, np.int64)
    for i, loc in enumerate(locs):
        for place in (loc, *outside[geo.province[loc]][:1]):
            if admits[i, place] and free[place] >= land:
                out[i] = place
                free[place] -= land
                break
    return out


def _occupy(m: ClusterModel, rows: np.ndarray) -> None:
    f, geo = m.firms, m.geo
    np.add.at(geo.occupied, f.loc[rows], f.land_ha[rows] * (geo.kind[f.loc[rows]] != 3))


def arrive_fdi(m: ClusterModel) -> int:
    """FDI projects arrive (Poisson) and choose a park by a logit (eq. 6.8); full parks take none."""
    d, rng = m.sc.demography, m.rng_demography
    pol = m.policy
    n_base = rng.poisson(d.fdi_arrivals_per_year / 12)
    n_extra = pol.affordable_projects(rng.poisson(pol.extra_arrivals / 12)) if pol.extra_arrivals > 0 else 0
    shares = _norm(np.array([d.fdi_sector_shares.get(s, 0.0) for s in m.sector_ids]))
    sectors = list(rng.choice(len(shares), n_base, p=shares)) if n_base else []
    if n_extra:
        sectors += list(rng.choice(len(shares), n_extra, p=pol.promo_sector_shares if pol.promo_sector_shares is not None else shares))
    arrived = promoted = 0
    counts: dict = {}  # per-sector supplier and peer counts by location, kept current as projects open
    for j, sector in enumerate(sectors):
        kind = LEAD if rng.random() < d.p_lead else SUPPLIER
        emp = d.fdi_employees * np.exp(0.8 * rng.standard_normal())
        pollutes = rng.random() < m.polluting_share[sector]
        if pollutes and pol.refuse_polluting:
            m.refused_projects += 1
            continue
        land = float(land_needed(m, emp))  # what add_firms will book for it
        # a promoted project was brought by the promotion of its provinces, and settles there or not at all
        loc = choose_park(m, sector, land, pollutes, rng, counts, pol.promo_provinces if j >= n_base else None)
        if loc < 0:
            m.unplaced_projects += 1
            continue
        tech = float(np.clip(0.72 + 0.08 * rng.standard_normal(), 0.4, 0.98))
        opw = 0.15 if kind == LEAD else 0.1
        # a lead plant's demand grows from its arrival: it starts at its planned size, not grown by the
        # export growth of the years before (population.add_firms, demand_factor)
        rows = add_firms(m, kind, np.array([loc]), np.array([sector]), np.array([tech]), np.array([emp]),
                         np.array([opw]), base_output=np.array([emp * opw]) if kind == LEAD else None,
                         demand_factor=m.demand_trend,
                         staff_share=0.1, pollutes=np.array([pollutes]))  # a core team, hiring the rest
        _occupy(m, rows)
        arrived += 1
        promoted += j >= n_base
    pol.spend_promotion(m, promoted)  # paid per project that opens: not for one refused or with no land
    return arrived


def choose_park(m: ClusterModel, sector: int, land: float, pollutes: bool, rng: np.random.Generator,
                counts: dict | None = None, provinces: np.ndarray | None = None) -> int:
    """Logit over open parks with room: land, labour, suppliers, agglomeration, incentives, distance.

    ``counts`` (optional, one per month's arrivals) keeps the per-location counts of a sector's
    suppliers and peers and updates them with the firms added since, instead of a pass over
    every firm per project. ``provinces`` (a mask over provinces, optional) limits the choice to
    their parks.
    """
    d, geo, f = m.sc.demography, m.geo, m.firms
    free = geo.free_ha(m.month)
    ok = (geo.kind != 3) & (free >= land) & geo.admits(sector, pollutes)
    if provinces is not None:
        ok &= provinces[geo.province]
    if not ok.any():
        return -1
    labour = geo.reach.astype(float) @ m.labour.pools.sum(axis=1).astype(float)
    n_from, sup_count, same = counts.get(sector, (0, None, None)) if counts is not None else (0, None, None)
    sup_part, same_part = _park_counts(m, sector, n_from, f.n)
    sup_count = sup_part if sup_count is None else sup_count + sup_part
    same = same_part if same is None else same + same_part
    if counts is not None:
        counts[sector] = (f.n, sup_count, same)
    sup_at = sup_count.astype(float)
    sup_near = (geo.km <= 40).astype(float) @ sup_at
    u = (d.beta_land * np.log1p(np.minimum(free, 1e4)) + d.beta_labour * np.log1p(labour)
         + d.beta_suppliers * np.log1p(sup_near) + d.beta_agglomeration * np.log1p(same)
         + d.beta_incentive * m.policy.incentive[geo.province]
         + d.beta_distance * geo.km_hanoi / 100 + d.beta_port * geo.km_port / 100)
    u = np.where(ok, u + rng.gumbel(size=len(u)), -np.inf)
    return int(np.argmax(u))


def _park_counts(m: ClusterModel, sector: int, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """Per location, among firm rows lo..hi: alive suppliers of the sector's chain; alive foreign peers."""
    f, n_loc = m.firms, len(m.geo.ids)
    alive = f.alive[lo:hi]
    in_chain = m.bom[sector] > 0
    supplier = alive & (f.kind[lo:hi] != LEAD) & f.caps[lo:hi][:, in_chain].any(axis=1)
    same = alive & f.foreign[lo:hi] & (f.sector[lo:hi] == sector)
    return (np.bincount(f.loc[lo:hi][supplier], minlength=n_loc), np.bincount(f.loc[lo:hi][same], minlength=n_loc))


def relocate(m: ClusterModel) -> None:
    """Move scattered plants from the listed districts into parks before the deadline."""
    pol = m.policy
    if not pol.relocate_districts or pol.relocate_deadline is None:
        return
    f, geo = m.firms, m.geo
    n = f.n
    src = np.isin(geo.district[f.loc[:n]], pol.relocate_districts) & (geo.kind[f.loc[:n]] == 3) & f.alive[:n]
    rows = np.flatnonzero(src)
    if not len(rows):
        return
    left = pol.relocate_deadline - m.month + 1  # months until the deadline, this one included
    k = len(rows) if left <= 1 else int(np.ceil(len(rows) / left))
    for r in rows[:k]:
        prov = geo.province[f.loc[r]]
        free = geo.free_ha(m.month)
        cand = np.flatnonzero((geo.province == prov) & (geo.kind != 3) & (free >= f.land_ha[r])
                              & ~np.isin(geo.district, pol.relocate_districts) & geo.admits(f.sector[r], f.pollutes[r]))
        if not len(cand):
            continue
        dest = cand[np.argmin(geo.km[f.loc[r], cand])]
        f.loc[r] = dest
        geo.occupied[dest] += f.land_ha[r]
        f.cash[r] -= pol.relocation_cost
        m.relocations += 1


def _norm(w: np.ndarray) -> np.ndarray:
    s = w.sum()
    return w / s if s > 0 else np.full(len(w), 1 / len(w))


def run_demography_phase(m: ClusterModel) -> None:
    """Phase 6: sales and accounts, investment and upgrading, exit, entry, spin-offs, FDI arrivals."""
    sell_and_produce(m, m.delivered)
    account(m)
    invest_and_upgrade(m)
    gone = exits(m)
    spun = spin_off(m)
    entered = enter_smes(m, m.imports)
    arrived = arrive_fdi(m)
    relocate(m)
    m.stats.update(firm_exits=len(gone) + m.policy.closed_firms, spinoffs=spun, firm_entries=entered + spun, fdi_arrivals=arrived)
    check_growth(m)


GROWTH_LIMIT = 20  # times the firms at the start ...
GROWTH_FLOOR = 5_000  # ... or this many, whichever is more


class RunawayGrowth(RuntimeError):
    """The number of firms ran away: the scenario's entry makes entry self-reinforcing."""


def check_growth(m: ClusterModel) -> None:
    """Stop a run whose firms outgrow ``GROWTH_LIMIT`` times the start (at least ``GROWTH_FLOOR``).

    SME entry grows with the number of SMEs (eq. 6.7) and entrants do not lower the opportunity
    until they sell, so a high ``sme_entry_rate`` (or entry opportunity) compounds: with
    ``sme_entry_rate`` = 2, a world of 50 firms started in 2000 had 1.4 million by 2031 and then
    filled the machine's memory. No plausible scenario comes near the limit (the baseline grows by
    about a third to 2030); stopping with a message beats a machine that runs out of memory.
    """
    f = m.firms
    alive = int(np.count_nonzero(f.alive[: f.n]))
    limit = max(GROWTH_LIMIT * m.firms_at_start, GROWTH_FLOOR)
    if alive > limit:
        d = m.sc.demography
        raise RunawayGrowth(
            f"{m.current_date}: the region has {alive:,} firms, past this run's limit of {limit:,} "
            f"({GROWTH_LIMIT}x the {m.firms_at_start:,} it started with, at least {GROWTH_FLOOR:,}): SME entry "
            f"is compounding. Entry grows with the number of SMEs, so demography.sme_entry_rate={d.sme_entry_rate:g} with "
            f"demography.entry_opportunity_ref={d.entry_opportunity_ref:g} makes more entrants each month than "
            "exits remove; lower sme_entry_rate or raise entry_opportunity_ref (docs/ODD.md eq. 6.7)")
