"""Labour market and flows (ODD §7.5).

Workers are counts by skill (operator, technician, engineer) in firms and in district pools.
Each month: graduates and local entrants join pools; some workers leave industry (attrition);
firms size their workforce to their output plan (layoffs go to the pool); vacancies are filled
from pools within commuting reach, then by migrants (operators); employed workers search and move
to better-paying firms within reach; engineers at FDI firms may found spin-offs. Every move is
recorded. Stock identity: employed + pooled = start + inflows − outflows (tested).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from model import kernels, kernels_phases
from model.firms import LEAD, N_SKILLS, SME, SUPPLIER
from model.sampling import drop_duplicates, group_floor_allocate, sample_by_location

if TYPE_CHECKING:
    from model.cluster_model import ClusterModel

SKILL_KNOWLEDGE = np.array([0.1, 0.5, 1.0])  # how much know-how a mover carries, by skill (assumption)
N_JOB_OFFERS = 3


class LabourMarket:
    """Pools, wage indices and the month's flow counters."""

    def __init__(self, m: ClusterModel):
        p = m.sc.labour
        n_d = len(m.geo.district_ids)
        self.pools = np.zeros((n_d, N_SKILLS), dtype=np.int64)
        self.wage_index = np.tile(np.array(p.wage.as_tuple()), (len(m.geo.provinces), 1))
        # w̄ of eq. 3.1, the domestic average wage per worker (set from the firms each month, set_wage_bills)
        self.mean_wage_ref = float(np.dot(p.wage.as_tuple(), p.skill_mix_domestic.as_tuple()))
        self.knowledge_inflow = np.zeros(0)
        self.grad_remainder = np.zeros((len(m.inst.names), N_SKILLS))
        self.inflow_total = 0
        self.outflow_total = 0
        self.month_flows = {"fdi_to_domestic": 0, "domestic_to_fdi": 0, "moves": 0}
        self.vacancy_rate = np.zeros(len(m.geo.provinces))

    def seed_pools(self, m: ClusterModel) -> None:
        """Job seekers at the start: a share of employment in each district, by skill."""
        f = m.firms
        emp = np.zeros((len(m.geo.district_ids), N_SKILLS))
        add_rows(emp, m.geo.district[f.loc[: f.n]], f.workers[: f.n])
        self.pools += np.round(emp * m.sc.labour.initial_pool_share).astype(np.int64)


def add_rows(target: np.ndarray, index: np.ndarray, counts: np.ndarray) -> None:
    """``np.add.at(target, index, counts)`` for worker counts by skill, one bincount per skill.

    The counts are integers, so the sums are exact and equal to ``np.add.at``'s.
    """
    for k in range(counts.shape[1]):
        sums = np.bincount(index, weights=counts[:, k], minlength=len(target))
        target[:, k] += sums.astype(target.dtype) if target.dtype.kind == "i" else sums


def firm_wages(m: ClusterModel) -> np.ndarray:
    """Monthly wage by firm and skill, VND million (eq. 5.1)."""
    f, p = m.firms, m.sc.labour
    n = f.n
    if kernels.use_compiled():
        return kernels_phases.firm_wages(m.labour.wage_index, m.geo.province, f.loc[:n], f.foreign, f.tech,
                                         p.fdi_premium, p.tech_wage_slope)
    base = m.labour.wage_index[m.geo.province[f.loc[:n]]]
    premium = 1 + p.fdi_premium * f.foreign[:n] + p.tech_wage_slope * (f.tech[:n] - 0.3)
    return base * np.maximum(premium, 0.5)[:, None]


def other_sales_planned(m: ClusterModel) -> np.ndarray:
    """The sales outside contracts each firm plans its staff on: last month's, except where those
    were held down by last month's staff (demography.sell_and_produce sells only what the staff
    can make), when it plans on what its market would buy from it fully staffed:

    - a foreign supplier, on its networks abroad, which buy up to its starting utilisation of plant
      capacity whatever its staff: a new plant that did not fill its vacancies in its first month
      planned on the little it had sold and never hired the rest;
    - an SME with neither contracts nor other sales (its contracts took all it could make, and then
      ended), on its share of its province's domestic market at its spare plant capacity: it shed
      every worker, and with none could never sell again (fuzzing round 11). SMEs that sold
      something plan on it, as before (ODD eq. 5.2).
    """
    f, econ = m.firms, m.sc.economy
    n = f.n
    alive, kind, committed, last = f.alive[:n], f.kind[:n], f.committed[:n], f.sales_other[:n]
    spare = np.maximum(f.capacity[:n] - committed, 0.0)
    abroad = np.maximum(econ.initial_utilisation * f.capacity[:n] - committed, 0.0)
    planned = np.where((kind == SUPPLIER) & alive, np.maximum(last, abroad), last)
    idle = (kind == SME) & alive & (committed + last <= 0)
    if idle.any():
        from model.demography import domestic_sales  # demography imports this module

        planned = np.where(idle, domestic_sales(m, spare, (kind == SME) & alive), planned)
    return planned


def set_wage_bills(m: ClusterModel, wages: np.ndarray | None = None) -> None:
    """Each firm's wage per worker at its skill mix, and their domestic average (w̄ of unit costs,
    eq. 3.1): the average over domestic firms' workers, so that wages rising everywhere raise no
    firm's cost against another's or against the world price, while an FDI firm's premium does."""
    f = m.firms
    n = f.n
    wages = firm_wages(m) if wages is None else wages
    f.wage_tech[:n] = (wages * f.skill_mix[:n]).sum(axis=1)
    dom = f.alive[:n] & ~f.foreign[:n]
    staff = f.employees * dom
    if staff.sum() > 0:
        m.labour.mean_wage_ref = float(np.dot(f.wage_tech[:n], staff) / staff.sum())


def labour_demand(m: ClusterModel) -> np.ndarray:
    """Workers each firm wants by skill for this month's output plan (eq. 5.2)."""
    f = m.firms
    n = f.n
    lead = f.kind[:n] == LEAD
    plan = np.where(lead, f.base_output[:n] * f.demand_mult[:n],
                    np.minimum(f.capacity[:n], f.committed[:n] + other_sales_planned(m)))
    # a firm founded since the last sales phase has no sales to plan on yet: it plans on the output it
    # was founded for (an entrant keeps its staff, a new plant hires toward its workforce) rather than
    # shedding everyone before its first month of selling (and, with no workers, never selling)
    new = slice(min(getattr(m, "produced_n", n), n), n)
    plan[new] = np.where(lead[new], plan[new], np.minimum(f.capacity[new], np.maximum(plan[new], f.output[new])))
    need = plan * f.labour_need_per_output(m.sc.labour.labour_tech_elasticity)
    return np.ceil(need[:, None] * f.skill_mix[:n]).astype(np.int64) * f.alive[:n, None]


def run_labour_phase(m: ClusterModel) -> None:
    """One month of the labour market, in the order of the module docstring."""
    lm, f, p, rng = m.labour, m.firms, m.sc.labour, m.rng_labour
    n = f.n
    lm.knowledge_inflow = np.zeros(n)
    lm.month_flows = {"fdi_to_domestic": 0, "domestic_to_fdi": 0, "moves": 0}
    _inflows(m)
    # attrition from firms and from pools
    gone = rng.binomial(f.workers[:n], p.attrition)
    f.workers[:n] -= gone
    pool_gone = rng.binomial(lm.pools, min(1.0, 2 * p.attrition))
    lm.pools -= pool_gone
    lm.outflow_total += int(gone.sum() + pool_gone.sum())
    m.recorder.pool_flows(m, "separation", gone, to_pool=False)

    want = labour_demand(m)
    if kernels.use_compiled():
        layoff = kernels_phases.layoffs(want, f.workers, f.alive, 1 + p.layoff_slack, f.loc, m.geo.district,
                                        lm.pools)
    else:
        excess = f.workers[:n] - np.ceil(want * (1 + p.layoff_slack)).astype(np.int64)
        layoff = np.where(f.alive[:n, None], np.maximum(excess, 0), 0)
        f.workers[:n] -= layoff
        add_rows(lm.pools, m.geo.district[f.loc[:n]], layoff)
    m.recorder.pool_flows(m, "separation", layoff, to_pool=True)

    vac = np.maximum(want - f.workers[:n], 0)
    hires = _hire_from_pools(m, vac)
    vac -= hires
    m.recorder.pool_flows(m, "hire", hires, to_pool=False)
    migrants = np.floor(vac[:, 0] * p.migration + rng.random(n)).astype(np.int64)
    migrants = np.minimum(migrants, vac[:, 0])
    f.workers[:n, 0] += migrants
    vac[:, 0] -= migrants
    lm.inflow_total += int(migrants.sum())
    m.recorder.pool_flows(m, "hire", np.stack([migrants, 0 * migrants, 0 * migrants], axis=1), to_pool=False,
                          party="outside")  # operators from outside the region, never in a pool
    wages = firm_wages(m)
    _job_moves(m, vac, wages)
    set_wage_bills(m, wages)
    _update_wage_index(m, want)


def _inflows(m: ClusterModel) -> None:
    """Graduates (spread over the year) and local entrants join district pools."""
    lm, p, rng = m.labour, m.sc.labour, m.rng_labour
    monthly = (m.inst.graduates + m.policy.extra_graduates) / 12.0 + lm.grad_remainder
    whole = np.floor(monthly).astype(np.int64)
    lm.grad_remainder = monthly - whole
    np.add.at(lm.pools, m.geo.district[m.inst.loc], whole)
    entrants = rng.poisson(m.geo.working_age * p.entrants_per_year / 12.0)
    lm.pools[:, 0] += entrants
    lm.inflow_total += int(whole.sum() + entrants.sum())


def _hire_from_pools(m: ClusterModel, vac: np.ndarray) -> np.ndarray:
    """Fill vacancies from district pools within commuting reach; exact integer accounting."""
    f, geo, lm = m.firms, m.geo, m.labour
    n = f.n
    loc = f.loc[:n]
    if kernels.use_compiled():
        hires = kernels_phases.hire_from_pools(vac, loc, geo.reach, lm.pools)
        f.workers[:n] += hires
        return hires
    hires = np.zeros_like(vac)
    n_loc = len(geo.ids)
    for k in range(N_SKILLS):
        v_loc = np.bincount(loc, weights=vac[:, k], minlength=n_loc)
        supply = lm.pools[:, k].astype(float)
        reach = geo.reach.astype(float)  # (L, D)
        demand_on_pool = reach.T @ v_loc  # (D,)
        # each pool splits its supply over the locations it reaches ∝ their vacancies, and each
        # location takes from the pools it reaches ∝ their size; the lesser of the two binds
        from_pool = np.divide(supply, demand_on_pool, out=np.zeros_like(supply), where=demand_on_pool > 0)
        reach_supply = reach @ supply
        to_loc = np.divide(v_loc, reach_supply, out=np.zeros(n_loc), where=reach_supply > 0)
        flow = np.floor(np.minimum(reach * v_loc[:, None] * from_pool[None, :],
                                   reach * supply[None, :] * to_loc[:, None]))  # (L, D)
        flow = flow.astype(np.int64)
        lm.pools[:, k] -= flow.sum(axis=0)
        h_loc = flow.sum(axis=1)
        hires[:, k] = group_floor_allocate(h_loc, loc, vac[:, k].astype(float))
    f.workers[:n] += hires
    return hires


def _job_moves(m: ClusterModel, vac: np.ndarray, wages: np.ndarray) -> None:
    """Employed workers move to better-paying firms with vacancies within commuting reach."""
    f, p, rng, lm = m.firms, m.sc.labour, m.rng_labour, m.labour
    n = f.n
    search_p = np.array(p.p_search.as_tuple())
    for k in range(N_SKILLS):
        seekers = rng.binomial(f.workers[:n, k], search_p[k]) * f.alive[:n]
        origin = np.flatnonzero(seekers > 0)
        targets = np.flatnonzero((vac[:, k] > 0) & f.alive[:n])
        if not len(origin) or not len(targets):
            continue
        dest, best_offer = _best_offers(m, origin, targets, wages[:, k])
        match = np.exp(p.match_noise * rng.standard_normal(len(origin)))
        if kernels.use_compiled():
            origin, dest, count, to_domestic, to_foreign, moved = kernels_phases.apply_job_moves(
                origin, dest, best_offer, match, seekers, wages[:, k], 1 + p.min_wage_gain, vac[:, k],
                f.workers[:, k], f.tech, f.foreign, lm.knowledge_inflow, SKILL_KNOWLEDGE[k])
            lm.month_flows["fdi_to_domestic"] += int(to_domestic)
            lm.month_flows["domestic_to_fdi"] += int(to_foreign)
            lm.month_flows["moves"] += int(moved)
            m.recorder.flows(m, "move", origin, dest, k, count)
            continue
        gain_ok = (dest >= 0) & (best_offer * match > wages[origin, k] * (1 + p.min_wage_gain))
        origin, dest, want = origin[gain_ok], dest[gain_ok], seekers[origin[gain_ok]]
        if not len(origin):
            continue
        asked = np.bincount(dest, weights=want, minlength=n)
        ratio = np.divide(vac[:, k], asked, out=np.zeros(n), where=asked > 0)
        count = np.floor(want * np.minimum(ratio[dest], 1.0)).astype(np.int64)
        keep = count > 0
        origin, dest, count = origin[keep], dest[keep], count[keep]
        np.subtract.at(f.workers[:, k], origin, count)
        np.add.at(f.workers[:, k], dest, count)
        np.subtract.at(vac[:, k], dest, count)
        carried = count * SKILL_KNOWLEDGE[k] * np.maximum(f.tech[origin] - f.tech[dest], 0.0)
        np.add.at(lm.knowledge_inflow, dest, carried)
        fo, fd = f.foreign[origin], f.foreign[dest]
        lm.month_flows["fdi_to_domestic"] += int(count[fo & ~fd].sum())
        lm.month_flows["domestic_to_fdi"] += int(count[~fo & fd].sum())
        lm.month_flows["moves"] += int(count.sum())
        m.recorder.flows(m, "move", origin, dest, k, count)


def _best_offers(m: ClusterModel, origin: np.ndarray, targets: np.ndarray,
                 wage: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each seeker draws job offers within commuting reach; its best one (firm or -1, wage or -inf)."""
    f, rng = m.firms, m.rng_labour
    if kernels.use_compiled():  # the same draws, in the order sample_by_location makes them
        u1 = rng.random((len(origin), N_JOB_OFFERS))
        u2 = rng.random((len(origin), N_JOB_OFFERS))
        return kernels_phases.best_job_offers(origin, targets, f.loc, m.commute_weight, u1, u2, wage)
    cand = drop_duplicates(sample_by_location(rng, f.loc[origin], targets, f.loc[targets], m.commute_weight,
                                              N_JOB_OFFERS))
    cand[cand == origin[:, None]] = -1
    offer = np.where(cand >= 0, wage[np.maximum(cand, 0)], -np.inf)
    best = np.argmax(offer, axis=1)
    rows = np.arange(len(origin))
    return cand[rows, best], offer[rows, best]


def _update_wage_index(m: ClusterModel, want: np.ndarray) -> None:
    """Province wage indices grow with the trend plus a tightness term (wage curve)."""
    f, p, lm = m.firms, m.sc.labour, m.labour
    n = f.n
    n_p = len(m.geo.provinces)
    if kernels.use_compiled():
        wanted, short = kernels_phases.province_shortfall(want, f.workers, f.loc[:n], m.geo.province, n_p)
    else:
        prov = m.geo.province[f.loc[:n]]
        wanted = np.bincount(prov, weights=want.sum(axis=1), minlength=n_p)
        short = np.bincount(prov, weights=np.maximum(want - f.workers[:n], 0).sum(axis=1), minlength=n_p)
    lm.vacancy_rate = np.divide(short, wanted, out=np.zeros(n_p), where=wanted > 0)
    growth = (p.wage_growth + p.wage_tightness * lm.vacancy_rate) / 12.0
    lm.wage_index *= (1 + growth)[:, None]


def spinoff_founders(m: ClusterModel) -> np.ndarray:
    """Number of engineers leaving each FDI firm this month to found an SME (eq. 5.4)."""
    f = m.firms
    n = f.n
    eligible = f.alive[:n] & f.foreign[:n]
    return m.rng_labour.binomial(f.workers[:n, 2] * eligible, m.sc.labour.p_spinoff)
