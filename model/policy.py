"""Applying the scenario's policy timeline (ODD §7.1) and keeping the spending ledger.

At the start of each month ``apply`` resets the lever state and switches on every block whose
window contains the month; mechanisms read the state (e.g. ``local_credit``, ``learning_multiplier``)
and report money spent through the ``spend_*`` methods, so that every VND is booked to a block.
A block whose yearly ``budget`` is used up pauses until January.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from model.firms import SME
from model.geography import month_index
from model.policy_schema import policy_label
from model.population import link_partners

if TYPE_CHECKING:
    from model.cluster_model import ClusterModel


def _months_to_december(m: ClusterModel) -> int:
    """Months left in the budget year, this one included (12 in January, 1 in December)."""
    return 13 - int(m.date[5:7])


class PolicyState:
    """The levers' effect this month and the money they spent."""

    def __init__(self, m: ClusterModel):
        self.blocks = list(m.sc.policies)
        self.labels = [policy_label(b, i) for i, b in enumerate(self.blocks)]
        self.start = [month_index(b.start, m.sc.start) for b in self.blocks]
        self.end = [month_index(b.end, m.sc.start) if b.end else 10**6 for b in self.blocks]
        self.year_spend = np.zeros(len(self.blocks))
        self.month_spend = np.zeros(len(self.blocks))
        self.total_spend = 0.0
        self.done_events: set[tuple[int, int, str]] = set()
        self.closed_firms = 0
        self.partner_links: dict[int, np.ndarray] = {}  # per university_partnership block, the firms it linked
        self.coached_by = np.full(0, -1, np.int64)  # per firm, the supplier_development block coaching it
        self.base_quality = m.inst.quality.copy() if hasattr(m, "inst") else None
        self._reset(m)

    def _reset(self, m: ClusterModel) -> None:
        n_c, n_p = len(m.categories), len(m.geo.provinces)
        self.local_credit = np.zeros((n_c, n_p))
        self.credit_blocks: list[tuple[int, float, np.ndarray]] = []  # (block, rate, its (category, province) cells)
        self.import_spike = np.zeros(n_c)
        self.qualification_bonus = 0.0
        self.matchmaking = 0.0
        self.coaching = False  # a supplier_development block runs this month (coached SMEs get its help)
        self.learning_multiplier = 1.0
        self.rd_rate, self.rd_response, self.rd_block = np.zeros(n_p), 0.0, -1  # rate per province
        self.credit: Any = None
        self.credit_block = -1
        self.extra_graduates = np.zeros((len(m.sc.institutions), 3))
        self.extra_arrivals, self.promo_sector_shares, self.promo_block, self.promo_cost = 0.0, None, -1, 0.0
        self.promo_provinces = np.ones(n_p, bool)  # where promoted projects may settle
        self.incentive = np.zeros(n_p)
        self.refuse_polluting = False
        self.relocate_districts: list[int] = []
        self.relocate_deadline: int | None = None
        self.relocation_cost = 0.0
        self.sector_demand = np.ones((len(m.sector_ids), n_p))  # lead firms' demand factor by sector and province

    # -- the monthly switch -------------------------------------------------------------------------
    def apply(self, m: ClusterModel) -> None:
        """Switch on the blocks active this month and apply dated events."""
        if m.date.endswith("-01"):
            self.year_spend[:] = 0.0
        self.month_spend[:] = 0.0
        self.closed_firms = 0  # lead firms a lead_firm_exit closed this month (counted in firm_exits)
        self._reset(m)
        m.inst.quality[:] = self.base_quality
        f = m.firms
        f.demand_mult[: f.n] = 1.0
        for i, b in enumerate(self.blocks):
            self._events(m, i, b)  # dated events (parks, roads, exits) happen once (see _works, _events)
            if b.type == "supplier_development" and m.month > self.end[i]:
                self._end_coaching(m, i)
            if not (self.start[i] <= m.month <= self.end[i]) or self._exhausted(i, b):
                continue
            getattr(self, "_" + b.type)(m, i, b)
        f.demand_mult[: f.n] *= self.sector_demand[f.sector[: f.n], m.geo.province[f.loc[: f.n]]]

    def _exhausted(self, i: int, b: Any) -> bool:
        return b.budget is not None and self.year_spend[i] >= b.budget

    def _room(self, i: int) -> float:
        """VND bn block ``i`` may still spend this year."""
        b = self.blocks[i]
        return np.inf if b.budget is None else max(b.budget - self.year_spend[i], 0.0)

    def book(self, i: int, amount: float) -> None:
        """Record spending of block ``i``."""
        if i < 0 or amount <= 0:
            return
        self.year_spend[i] += amount
        self.month_spend[i] += amount
        self.total_spend += amount

    def _provinces(self, m: ClusterModel, b: Any) -> np.ndarray:
        mask = np.ones(len(m.geo.provinces), bool)
        if b.provinces:
            mask = np.array([p in b.provinces for p in m.geo.provinces])
        return mask

    def _categories(self, m: ClusterModel, cats: list[str]) -> np.ndarray:
        return np.array([c in cats for c in m.category_ids]) if cats else np.ones(len(m.category_ids), bool)

    # -- levers ---------------------------------------------------------------------------------------
    def _supplier_development(self, m: ClusterModel, i: int, b: Any) -> None:
        f = m.firms
        n = f.n
        self.coaching = True
        self.learning_multiplier = max(self.learning_multiplier, b.learning_multiplier)
        self.qualification_bonus = max(self.qualification_bonus, b.qualification_bonus)
        self.matchmaking = max(self.matchmaking, b.matchmaking)
        mine = self._coached_by(n) == i  # each block pays for the SMEs it enrolled, not another block's
        enrolled = (f.coached_until[:n] >= m.month) & f.alive[:n] & mine
        monthly_cost = b.cost_per_sme / 12
        left = _months_to_december(m)
        # the enrolled SMEs' coaching this year comes first (it is paid from next year's budget after)
        room = self._room(i) - monthly_cost * np.minimum(f.coached_until[:n][enrolled] - m.month + 1, left).sum()
        quota = int(np.floor(b.smes_per_year / 12 + m.rng_policy.random()))
        if np.isfinite(room):  # enrol only as many as the budget left can carry through this year's coaching
            quota = int(min(quota, max(room // max(monthly_cost * min(b.months, left), 1e-9), 0)))
        if quota > 0:
            self._enrol(m, i, b, quota)
        enrolled = (f.coached_until[:n] >= m.month) & f.alive[:n] & (self.coached_by[:n] == i)
        self.book(i, min(enrolled.sum() * monthly_cost, self._room(i)))

    def _end_coaching(self, m: ClusterModel, i: int) -> None:
        """A programme that has ended coaches no more: its SMEs' enrolment ends with it (else another
        block running would give them its help unpaid, and they could not join that block)."""
        f = m.firms
        n = f.n
        mine = self._coached_by(n) == i
        f.coached_until[:n][mine] = np.minimum(f.coached_until[:n][mine], self.end[i])

    def _coached_by(self, n: int) -> np.ndarray:
        """``coached_by`` for the ``n`` firms there are (firms that entered since are coached by none)."""
        have = len(self.coached_by)
        if have < n:
            self.coached_by = np.concatenate([self.coached_by, np.full(max(n, 2 * have) - have, -1)])
        return self.coached_by[:n]

    def _enrol(self, m: ClusterModel, i: int, b: Any, quota: int) -> None:
        f = m.firms
        n = f.n
        cats = self._categories(m, b.categories)
        prov = self._provinces(m, b)[m.geo.province[f.loc[:n]]]
        ok = f.alive[:n] & (f.kind[:n] == SME) & (f.coached_until[:n] < m.month) & prov
        if b.categories:
            ok &= (f.caps[:n] & cats[None, :]).any(axis=1)
        rows = np.flatnonzero(ok)
        if not len(rows):
            return
        if b.selection == "closest_to_threshold":
            thr = m.category_threshold[None, :]
            gap = np.where(cats[None, :] & (thr > f.tech[rows, None]), thr - f.tech[rows, None], np.inf)
            score = -gap.min(axis=1)
        elif b.selection == "largest":
            score = f.workers[rows].sum(axis=1).astype(float)
        else:
            score = m.rng_policy.random(len(rows))
        pick = rows[np.argsort(-score, kind="stable")[:quota]]
        f.coached_until[pick] = m.month + b.months - 1
        self._coached_by(n)[pick] = i

    def _local_content_incentive(self, m: ClusterModel, i: int, b: Any) -> None:
        sel = self._categories(m, b.categories)[:, None] & self._provinces(m, b)[None, :]
        self.local_credit = np.where(sel, np.maximum(self.local_credit, b.credit_rate), self.local_credit)  # the best rate
        self.credit_blocks.append((i, b.credit_rate, sel))

    def account_local_credit(self, m: ClusterModel, delivered: np.ndarray) -> None:
        """Book the credit paid on domestic inputs bought by foreign firms this month.

        Where blocks overlap, the block of the best rate pays (the first of equal ones). A block whose
        budget cannot cover its month pays what is left of it, pro rata, and the next best block pays
        the credit on the rest of those inputs at its own rate, down to a block that can.
        """
        book, f = m.contracts, m.firms
        if not book.n or not self.credit_blocks:
            return
        prov = m.geo.province[f.loc[book.buyer]]
        uncovered = np.where(~f.foreign[book.supplier] & f.foreign[book.buyer], delivered, 0.0)  # not yet paid on
        for i, rate, sel in sorted(self.credit_blocks, key=lambda blk: -blk[1]):  # stable: ties keep block order
            mine = sel[book.cat, prov] & (uncovered > 0)
            due = float((rate * uncovered[mine]).sum())
            if due <= 0:
                continue
            paid = min(due, self._room(i))
            self.book(i, paid)
            uncovered[mine] *= 1 - paid / due

    def _training_expansion(self, m: ClusterModel, i: int, b: Any) -> None:
        j = m.inst.names.index(b.institution)
        extra = np.array(b.extra_graduates.as_tuple())
        cost = extra.sum() * b.cost_per_graduate / 12
        if cost > self._room(i):  # the budget left pays for that share of this month's graduates
            extra = extra * (self._room(i) / cost)
            cost = self._room(i)
        self.extra_graduates[j] += extra
        m.inst.quality[j] = min(1.0, m.inst.quality[j] + b.quality_gain)
        self.book(i, cost)

    def _university_partnership(self, m: ClusterModel, i: int, b: Any) -> None:
        linked = self.partner_links.get(i, np.zeros(0, np.int64))
        links = int(np.count_nonzero(m.firms.alive[linked]))  # a link ends, and is no longer paid, when its firm closes
        quota = int(np.floor(b.partnerships_per_year / 12 + m.rng_policy.random()))
        if b.budget is not None and b.cost_per_partnership > 0:
            # a new link only if the block can pay for all its links through December, and for a full
            # year within its yearly budget (links are kept, so they are paid every year after)
            monthly, left = b.cost_per_partnership / 12, _months_to_december(m)
            this_year = (self._room(i) - links * monthly * left) // (monthly * left)
            every_year = (b.budget - links * b.cost_per_partnership) // b.cost_per_partnership
            quota = int(min(quota, max(min(this_year, every_year), 0)))
        if quota and len(m.inst.names):
            q = m.inst.quality / m.inst.quality.sum() if m.inst.quality.sum() > 0 else None
            inst = int(m.rng_policy.choice(len(m.inst.names), p=q))
            new = link_partners(m, inst, quota, m.rng_policy, self._provinces(m, b))  # not demography's stream
            self.partner_links[i] = np.concatenate((linked, new))
            links += len(new)
        self.book(i, min(links * b.cost_per_partnership / 12, self._room(i)))

    def _sme_credit(self, m: ClusterModel, i: int, b: Any) -> None:
        self.credit, self.credit_block = b, i

    def finance(self, m: ClusterModel, want: np.ndarray, cost: np.ndarray) -> np.ndarray:
        """Which firms can pay ``cost`` now (own cash, or with the SME credit); charges them."""
        f = m.firms
        n = f.n
        own = want & (f.cash[:n] >= cost)
        f.cash[:n] -= np.where(own, cost, 0.0)
        if self.credit is None:
            return own
        c = self.credit
        cover = c.cover_share * cost
        elig = want & ~own & (f.kind[:n] == SME) & (f.tech[:n] >= c.min_tech) & (f.cash[:n] + cover >= cost)
        elig &= self._provinces(m, c)[m.geo.province[f.loc[:n]]]
        rows = np.flatnonzero(elig)
        grant = c.subsidy_share * cover[rows]
        ok = np.cumsum(grant) <= self._room(self.credit_block)
        rows = rows[ok]
        # the firm pays its own share now; the loan, less its grant equivalent, is repaid in monthly
        # instalments (demography.account), so credit lets a cash-poor SME invest without emptying its cash
        f.cash[rows] -= cost[rows] - cover[rows]
        owed = cover[rows] - grant[ok]
        f.debt[rows] += owed
        f.instalment[rows] += owed / c.repayment_months
        self.book(self.credit_block, float(grant[ok].sum()))
        got = own.copy()
        got[rows] = True
        return got

    def _rd_subsidy(self, m: ClusterModel, i: int, b: Any) -> None:
        self.rd_rate, self.rd_response, self.rd_block = b.rate * self._provinces(m, b), b.rd_response, i

    def spend_rd(self, m: ClusterModel, subsidy: np.ndarray) -> np.ndarray:
        """Pay the R&D subsidy within budget; returns the subsidy each firm receives."""
        if self.rd_block < 0:
            return np.zeros_like(subsidy)
        room = self._room(self.rd_block)
        total = subsidy.sum()
        scale = 1.0 if total <= room else room / total
        self.book(self.rd_block, float(total * scale))
        return subsidy * scale

    def _infrastructure(self, m: ClusterModel, i: int, b: Any) -> None:
        pass  # infrastructure acts through its dated events (see _events)

    def _investment_promotion(self, m: ClusterModel, i: int, b: Any) -> None:
        self.extra_arrivals += b.extra_arrivals_per_year
        if b.sector_shares:
            w = np.array([b.sector_shares.get(s, 0.0) for s in m.sector_ids])
            self.promo_sector_shares = w / w.sum() if w.sum() > 0 else None
        self.incentive = np.maximum(self.incentive, b.incentive * self._provinces(m, b))
        self.promo_provinces = self._provinces(m, b)  # the projects it brings settle in its provinces
        self.promo_block, self.promo_cost = i, b.cost_per_project

    def affordable_projects(self, projects: int) -> int:
        """How many of ``projects`` promoted FDI projects the promotion block's budget left pays for."""
        if self.promo_cost <= 0:
            return projects
        return int(min(projects, self._room(self.promo_block) // self.promo_cost))

    def spend_promotion(self, m: ClusterModel, projects: int) -> None:
        self.book(self.promo_block, projects * self.promo_cost)

    def _environmental_standard(self, m: ClusterModel, i: int, b: Any) -> None:
        self.refuse_polluting |= b.refuse_polluting
        self.relocate_districts = [m.geo.district_ids.index(d) for d in b.relocate_from]
        self.relocate_deadline = month_index(b.relocate_by, m.sc.start) if b.relocate_by else None
        self.relocation_cost = b.relocation_cost
        for d in b.no_new_parks_in:
            planned = (m.geo.district == m.geo.district_ids.index(d)) & (m.geo.opens > m.month) & (m.geo.kind != 3)
            m.geo.blocked |= planned

    def closed_to_newcomers(self, m: ClusterModel) -> np.ndarray:
        """Places a new firm may not start in: while an environmental standard moves the outside-park
        plants of some districts into parks, those districts' places outside parks (an entrant there
        would be moved, and charged, within the month)."""
        geo = m.geo
        if not self.relocate_districts:
            return np.zeros(len(geo.ids), bool)
        return (geo.kind == 3) & np.isin(geo.district, self.relocate_districts)

    def _export_demand_shock(self, m: ClusterModel, i: int, b: Any) -> None:
        hit = np.array([not b.sectors or s in b.sectors for s in m.sector_ids])[:, None] & self._provinces(m, b)[None, :]
        self.sector_demand = np.where(hit, self.sector_demand * (1 + b.magnitude), self.sector_demand)

    def _lead_firm_exit(self, m: ClusterModel, i: int, b: Any) -> None:
        row = m.lead_rows[b.firm]
        m.firms.demand_mult[row] *= 1 - b.downsizing

    def _import_cost_spike(self, m: ClusterModel, i: int, b: Any) -> None:
        hit = self._categories(m, b.categories)
        self.import_spike = np.where(hit, self.import_spike + b.magnitude, self.import_spike)

    # -- dated events ---------------------------------------------------------------------------------
    def _events(self, m: ClusterModel, i: int, b: Any) -> None:
        if b.type == "infrastructure":
            self._works(m, i, b)
        elif (b.type == "lead_firm_exit" and b.downsizing >= 1.0 and m.month <= self.end[i]
              and self._due(m, i, 0, "exit", b.start)):  # a window that ended before the month closes nothing
            from model.demography import close_firms

            self.done_events.add((i, 0, "exit"))
            row = m.lead_rows[b.firm]
            if m.firms.alive[row]:
                close_firms(m, np.array([row]))
                self.closed_firms += 1

    def _works(self, m: ClusterModel, i: int, b: Any) -> None:
        """Infrastructure's openings, expansions and roads, in the order listed: each is built in the
        first month from its date that lies in its block's window and in which the block's budget left
        this year covers its cost; until then it waits, and a work that never fits is never built
        (scenario.py refuses dates outside the window and works dearer than a whole year's budget).
        A park an environmental standard keeps from opening is neither opened nor expanded, a park not
        yet open is not expanded (its opening sets its land, and would pay for the expansion again),
        and a park already open is not opened again; none of these costs anything (scenario.py refuses
        the works it can see coming)."""
        if not (self.start[i] <= m.month <= self.end[i]):
            return
        geo = m.geo
        for j, o in enumerate(b.park_openings):
            if self._due(m, i, j, "open", o.opens):
                loc = geo.index[o.location]
                if geo.blocked[loc] or geo.opens[loc] <= m.month:  # kept closed, or opened already (by another block)
                    self.done_events.add((i, j, "open"))
                    continue
                area = geo.area[loc] if o.area_ha is None else max(o.area_ha, geo.occupied[loc])  # never below the land taken
                if self._pay(i, (i, j, "open"), b.cost_per_ha * max(area - geo.occupied[loc], 0.0)):
                    geo.opens[loc] = min(geo.opens[loc], m.month)
                    geo.area[loc] = area
        for j, o in enumerate(b.park_expansions):
            if not self._due(m, i, j, "expand", o.date):
                continue
            loc = geo.index[o.location]
            if geo.blocked[loc] or geo.opens[loc] > m.month:
                self.done_events.add((i, j, "expand"))  # kept closed, or not open yet: its opening sets its land
            elif self._pay(i, (i, j, "expand"), b.cost_per_ha * o.add_ha):
                geo.area[loc] += o.add_ha
        for j, r in enumerate(b.roads):
            if self._due(m, i, j, "road", r.date) and self._pay(i, (i, j, "road"), b.cost_per_road):
                geo.upgrade_road(r.a, r.b, r.factor)
                m.refresh_weights()

    def _pay(self, i: int, event: tuple[int, int, str], cost: float) -> bool:
        """Book a dated work's ``cost`` to block ``i`` if its budget left this year covers it; the work is then done."""
        if cost > self._room(i):
            return False
        self.book(i, cost)
        self.done_events.add(event)
        return True

    def _due(self, m: ClusterModel, i: int, j: int, what: str, date: str) -> bool:
        """A dated event not yet done whose date has come."""
        return (i, j, what) not in self.done_events and month_index(date, m.sc.start) <= m.month

    @property
    def month_by_label(self) -> dict[str, float]:
        return {label: float(v) for label, v in zip(self.labels, self.month_spend, strict=True)}
