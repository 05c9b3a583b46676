"""Creating firms and institutions: the starting population and every later entrant (ODD §5).

One function, ``add_firms``, creates rows in the firm table and their Mesa agents, whether for
the scenario's starting groups, an SME entrant, a spin-off or an arriving FDI project.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from agents import DomesticSME, FDIFirm, TrainingCentre, University
from model.firms import LEAD, SME, SUPPLIER

if TYPE_CHECKING:
    from model.cluster_model import ClusterModel

KIND_CODE = {"fdi_lead": LEAD, "fdi_supplier": SUPPLIER, "domestic_sme": SME}


class Institutions:
    """Columns of universities and training centres."""

    def __init__(self, m: ClusterModel):
        specs = m.sc.institutions
        self.names = [s.name for s in specs]
        self.kind = [s.kind for s in specs]
        self.loc = np.array([m.geo.index[s.location] for s in specs], dtype=np.int64)
        self.graduates = np.array([s.graduates.as_tuple() for s in specs], dtype=float).reshape(-1, 3)
        self.quality = np.array([s.quality for s in specs], dtype=float)
        self.agents = [(University if s.kind == "university" else TrainingCentre)(m, i) for i, s in enumerate(specs)]


def capabilities_for(m: ClusterModel, tech: np.ndarray, sector: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Categories a new firm can make: those of its sector's chain within reach of its τ.

    A firm makes every category of its sector's bill of materials (or the supplier input mix) whose
    threshold is at most τ + 0.05, keeping each with probability 0.75 and at least the easiest one.
    """
    thr = m.category_threshold
    in_chain = (m.bom[sector] > 0) | (m.supplier_bom[None, :] > 0)
    feasible = in_chain & (thr[None, :] <= tech[:, None] + 0.05)
    caps = feasible & (rng.random(feasible.shape) < 0.75)
    # guarantee one capability: the easiest category of the firm's chain
    easiest = np.argmin(np.where(in_chain, thr[None, :], np.inf), axis=1)
    caps[np.arange(len(tech)), easiest] = True
    return caps


def land_needed(m: ClusterModel, employees: np.ndarray | float) -> np.ndarray | float:
    """Park land (ha) a firm planned for ``employees`` workers takes: employees ÷ ``workers_per_ha``
    (eq. 6.8; at least one worker). Known before the firm is made, so a place can be checked for it."""
    return np.maximum(employees, 1.0) / m.sc.demography.workers_per_ha


def add_firms(m: ClusterModel, kind: int, loc: np.ndarray, sector: np.ndarray, tech: np.ndarray,
              employees: np.ndarray, output_per_worker: np.ndarray, *, names: list[str] | None = None,
              certified: np.ndarray | None = None, base_output: np.ndarray | None = None,
              parent: np.ndarray | None = None, utilisation: float = 0.75,
              staff_share: float = 1.0, pollutes: np.ndarray | None = None, founders: bool = False,
              demand_factor: float = 1.0) -> np.ndarray:
    """Create firms (rows + agents); return their rows.

    A firm is sized by ``employees`` (its output plan follows), but starts with ``staff_share`` of
    that workforce and hires the rest. During a run its starting staff are new to the industry
    and booked as a labour inflow. ``pollutes``: whether each pollutes, where it was drawn before the
    firm was placed (``draw_pollutes``; a clean-only park takes no polluting firm), else drawn here.
    ``founders``: each is founded by an engineer come from another firm (a spin-off), one of its staff.
    ``demand_factor``: lead firms' demand factor this month (trend × shock, which every lead firm's
    demand is multiplied by); a lead firm's base output is its output now ÷ that factor.
    """
    f, rng, lab = m.firms, m.rng_demography, m.sc.labour
    count = len(loc)
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    foreign = kind != SME
    mix = np.array((lab.skill_mix_fdi if foreign else lab.skill_mix_domestic).as_tuple())
    employees = np.maximum(np.asarray(employees, dtype=float), 1.0)
    workers = np.floor(employees[:, None] * mix[None, :] + rng.random((count, 3))).astype(np.int64)
    workers[:, 0] = np.maximum(workers[:, 0], 1)
    emp = workers.sum(axis=1)
    if staff_share < 1.0:
        workers = np.maximum(np.floor(workers * staff_share).astype(np.int64), 0)
        workers[:, 0] = np.maximum(workers[:, 0], 1)
    if founders:
        workers[:, 2] = np.maximum(workers[:, 2], 1)
    if hasattr(m, "labour"):  # during a run: the starting staff (but the founders) come from outside the industry
        start = workers - np.array([0, 0, 1 if founders else 0])
        m.labour.inflow_total += int(start.sum())
        m.recorder.pool_flows(m, "start", start, to_pool=False, party="outside", first_row=f.n)
    output = emp * output_per_worker if base_output is None else np.asarray(base_output, dtype=float)
    capacity = output / (1.0 if kind == LEAD else utilisation)
    caps = np.zeros((count, len(m.categories)), bool) if kind == LEAD else capabilities_for(m, tech, sector, rng)
    cert = certified if certified is not None else np.full(count, foreign)
    rows = f.add(
        count, kind=kind, foreign=foreign, sector=sector, loc=loc, tech=tech, tech0=tech, capacity=capacity,
        labour_coef=emp / np.maximum(output, 1e-9), cash=output * m.sc.finance.initial_cash_months,
        base_output=output / demand_factor if kind == LEAD else 0.0, demand_mult=1.0, output=output, certified=cert,
        parent=-1 if parent is None else parent, coached_until=-1, entry_step=m.month,
        land_ha=land_needed(m, employees), deliver_share=1.0, uni_partner=-1,
        pollutes=draw_pollutes(m, sector, rng) if pollutes is None else pollutes)
    f.caps[rows] = caps
    f.workers[rows] = workers
    f.skill_mix[rows] = mix
    label = {LEAD: "FDI", SUPPLIER: "FDI supplier", SME: "SME"}[kind]
    f.names.extend(names if names is not None else [f"{label} {r}" for r in rows])
    cls = FDIFirm if foreign else DomesticSME
    row_list = rows.tolist()
    agents = [cls(m, r) for r in row_list]  # ids in row order
    f.agent_id[rows] = [a.unique_id for a in agents]
    m.firm_agents.update(zip(row_list, agents, strict=True))
    return rows


def draw_pollutes(m: ClusterModel, sector: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Whether each new firm of ``sector`` pollutes (with its sector's polluting share)."""
    return rng.random(len(sector)) < m.polluting_share[sector]


def build_population(m: ClusterModel) -> None:
    """Create the scenario's lead firms, their followers, the firm groups and institutions."""
    sc, rng, geo = m.sc, m.rng_demography, m.geo
    sector_index = {s: i for i, s in enumerate(m.sector_ids)}
    for spec in sc.lead_firms:
        loc = geo.index[spec.location]
        # a named lead firm sits where the scenario puts it: in a clean-only park, it is a clean plant
        dirty = draw_pollutes(m, np.array([sector_index[spec.sector]]), rng) & ~geo.clean_only[[loc]]
        lead = add_firms(m, LEAD, np.array([loc]), np.array([sector_index[spec.sector]]), np.array([spec.tech]),
                         np.array([spec.employees]), np.array([0.0]), names=[spec.name],
                         base_output=np.array([spec.output]), pollutes=dirty)
        if spec.followers:
            k = spec.followers
            sector = np.full(k, sector_index[spec.sector])
            pollutes = draw_pollutes(m, sector, rng)
            near = _nearby_parks(m, loc, sector[0], pollutes, rng)
            emp = spec.follower_employees * np.exp(0.7 * rng.standard_normal(k))
            tech = np.clip(spec.follower_tech + 0.08 * rng.standard_normal(k), 0.3, 0.98)
            rows = add_firms(m, SUPPLIER, near, sector, tech, emp,
                             np.full(k, spec.follower_output_per_worker), parent=np.full(k, lead[0]),
                             names=[f"{spec.name} supplier {i + 1}" for i in range(k)], pollutes=pollutes,
                             utilisation=sc.economy.initial_utilisation)
            m.contracts.seed_history(np.full(k, lead[0]), rows, 1.0)  # followers keep their lead firm's trust
    for grp in sc.firm_groups:
        if grp.count == 0:
            continue
        sec_ids = list(grp.sectors)
        ws = np.array([grp.sectors[x] for x in sec_ids], float)
        sector = np.array([sector_index[x] for x in sec_ids])[rng.choice(len(sec_ids), grp.count, p=ws / ws.sum())]
        pollutes = draw_pollutes(m, sector, rng)
        loc = _group_places(m, grp, sector, pollutes, rng)
        emp = grp.employees_median * np.exp(grp.employees_sigma * rng.standard_normal(grp.count))
        tech = np.clip(grp.tech_mean + grp.tech_sd * rng.standard_normal(grp.count), 0.02, 0.98)
        cert = rng.random(grp.count) < grp.certified_share
        kind = KIND_CODE[grp.kind]
        base = emp * grp.output_per_worker if kind == LEAD else None
        add_firms(m, kind, loc, sector, tech, emp, np.full(grp.count, grp.output_per_worker), certified=cert,
                  base_output=base, pollutes=pollutes, utilisation=sc.economy.initial_utilisation)
    _book_starting_land(m)
    m.inst = Institutions(m)
    _seed_partnerships(m)


def _book_starting_land(m: ClusterModel) -> None:
    """The geography's occupied land of a park is its starting firms' land: each starting firm's
    land is its share of that figure (by its planned employees), so that a firm that closes frees
    what it held; a park with starting firms but no figure has their land booked. (The starting
    firms' land was never booked: 10 of the baseline's 27 parks held more firm land than their
    area, and a closing firm freed land the park's figure had never counted; fuzzing round 11.)"""
    f, geo = m.firms, m.geo
    n = f.n
    in_park = geo.kind[f.loc[:n]] != 3
    held = np.bincount(f.loc[:n][in_park], weights=f.land_ha[:n][in_park], minlength=len(geo.ids))
    given = (geo.occupied > 0) & (held > 0)
    scale = np.where(given, geo.occupied / np.maximum(held, 1e-12), 1.0)
    f.land_ha[:n] = np.where(in_park, f.land_ha[:n] * scale[f.loc[:n]], f.land_ha[:n])
    geo.occupied = np.where((geo.kind != 3) & (geo.occupied <= 0), held, geo.occupied)


def _nearby_parks(m: ClusterModel, loc: int, sector: int, pollutes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Parks for followers: the lead firm's park or others within 30 km (weighted to its own) that
    admit the sector (and, for a polluting follower, are not clean-only); when no such park within
    30 km is open, the lead firm's own place if it admits them, else the nearest open park that does."""
    geo = m.geo
    out = np.empty(len(pollutes), np.int64)
    for dirty in (False, True):
        who = np.flatnonzero(pollutes == dirty)
        if not len(who):
            continue
        ok = geo.admits(sector, dirty)
        near = np.flatnonzero((geo.km[loc] <= 30) & (geo.kind != 3) & geo.is_open(0) & ok)
        if not len(near):  # none nearby (a lead firm outside parks, or its park opens later): its own place,
            near = np.array([loc]) if ok[loc] else np.flatnonzero((geo.kind != 3) & geo.is_open(0) & ok)
            if len(near) > 1:  # ... else the nearest open park that admits them
                near = near[[np.argmin(geo.km[loc, near])]]
            if not len(near):
                raise ValueError(f"no open park admits a {'polluting ' if dirty else ''}{m.sector_ids[sector]} "
                                 f"follower of the lead firm at {geo.ids[loc]}")
        w = np.where(near == loc, 3.0, 1.0)
        out[who] = near[rng.choice(len(near), len(who), p=w / w.sum())]
    return out


def _group_places(m: ClusterModel, grp, sector: np.ndarray, pollutes: np.ndarray,
                  rng: np.random.Generator) -> np.ndarray:
    """Where a firm group's firms sit: drawn by the group's location weights among the places that
    admit each firm's sector (and, if it pollutes, are not clean-only). The scenario's checks make
    sure every sector the group draws has such a place (scenario._placement_problems)."""
    geo = m.geo
    places = np.array([geo.index[x] for x in grp.locations])
    w = np.array(list(grp.locations.values()), float)
    out = np.empty(len(sector), np.int64)
    for s in np.unique(sector):
        for dirty in (False, True):
            who = np.flatnonzero((sector == s) & (pollutes == dirty))
            if not len(who):
                continue
            ws = w * geo.admits(int(s), dirty)[places]
            if ws.sum() <= 0:  # the scenario's checks refuse such a group (scenario._placement_problems)
                raise ValueError(f"firm group {grp.label!r}: none of its locations admits a "
                                 f"{'polluting ' if dirty else ''}{m.sector_ids[s]} firm")
            out[who] = places[rng.choice(len(places), len(who), p=ws / ws.sum())]
    return out


def _seed_partnerships(m: ClusterModel) -> None:
    """Starting firm–institution partnerships: each institution links to the nearest skilled SMEs."""
    for i, count in enumerate(s.partnerships for s in m.sc.institutions):
        link_partners(m, i, count, m.rng_demography)


def link_partners(m: ClusterModel, inst: int, count: int, rng: np.random.Generator,
                  provinces: np.ndarray | None = None) -> np.ndarray:
    """Link up to ``count`` unlinked domestic firms to institution ``inst``, nearest and most skilled first
    (``rng``: the stream of whoever links them, the world's build or the partnership lever), only in
    ``provinces`` (a mask over the geography's provinces) if given; returns their rows."""
    f = m.firms
    n = f.n
    ok = f.alive[:n] & ~f.foreign[:n] & (f.uni_partner[:n] < 0)
    if provinces is not None:
        ok &= provinces[m.geo.province[f.loc[:n]]]
    free = np.flatnonzero(ok)
    if count <= 0 or not len(free):
        return np.zeros(0, np.int64)
    km = m.geo.km[m.inst.loc[inst], f.loc[free]]
    skilled = f.workers[free, 2] / np.maximum(f.workers[free].sum(axis=1), 1)
    score = -km / 50.0 + 5 * skilled + 0.05 * rng.standard_normal(len(free))
    pick = free[np.argsort(-score, kind="stable")[:count]]
    f.uni_partner[pick] = inst
    return pick
