"""The model's monthly rules written the plain Mesa way, as a yardstick for speed.

``ReferenceModel`` starts exactly like ``ClusterModel`` (same population and month-0 contracts,
built by the model's own code), then runs every month with per-agent Python methods called
through ``AgentSet.shuffle_do`` and per-agent loops: demand, sourcing (renewals, tenders with
candidate draws, rationing, contracts), technology learning and the labour market (attrition,
layoffs, hiring, migrants, job-to-job moves). Contracts are kept as Python objects and
relationship records as a dict; the model's contract book is refilled from them once a month so
that demography (reused: it is not a hot loop) and the indicators read the same structures.

The rules are those of model/contracts.py, spillover.py and labour.py (docs/ODD.md); the random
draws are made one at a time, so a run is not the same draw for draw as the vectorised model,
only the same in distribution (tests/test_reference_equivalence.py checks the indicators).
Event logs (contract events, labour flows) are not recorded; the indicators are.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from mesa.agent import AgentSet

from model.cluster_model import ClusterModel
from model.contract_book import HISTORY_GAIN
from model.contracts import _sourcing_stats
from model.demography import run_demography_phase
from model.firms import LEAD
from model.geography import month_label
from model.labour import N_JOB_OFFERS, SKILL_KNOWLEDGE, _inflows, _update_wage_index
from model.metrics import EVENT_COUNTS
from model.spillover import demonstration_pool


@dataclass
class Contract:
    buyer: int
    supplier: int
    cat: int
    value: float
    start: int
    end: int
    perf: float = 1.0
    cid: int = -1


class ReferenceModel(ClusterModel):
    """Same rules, one agent at a time."""

    def __init__(self, scenario, seed: int):
        super().__init__(scenario, seed)
        book = self.contracts
        self.book_list = [Contract(int(b), int(s), int(c), float(v), int(st), int(e), float(p), int(i))
                          for b, s, c, v, st, e, p, i in zip(book.buyer, book.supplier, book.cat, book.value,
                                                             book.start, book.end, book.perf, book.cid, strict=True)]
        base = book._key_base
        self.records = {(int(k // base), int(k % base)): float(book.hist[i])
                        for k, i in zip(book.pair_keys, book.pair_ids, strict=True) if book.hist[i] > 0}

    # -- helpers --------------------------------------------------------------------------------------
    def firm_set(self) -> AgentSet:
        return AgentSet(list(self.firm_agents.values()), random=self.random)

    def eff_cap(self, r: int) -> float:
        f, el = self.firms, self.sc.labour.labour_tech_elasticity
        coef = f.labour_coef[r] * ((1 + f.tech0[r]) / (1 + f.tech[r])) ** el
        return min(f.capacity[r], f.workers[r].sum() / max(coef, 1e-12))

    def qualifies(self, r: int, c: int) -> bool:
        f, cat = self.firms, self.categories[c]
        bonus = self.policy.qualification_bonus if f.coached_until[r] >= self.month else 0.0
        ok = f.alive[r] and f.caps[r, c] and f.kind[r] != LEAD and f.tech[r] + bonus >= cat.threshold
        return bool(ok and (f.certified[r] or not cat.certification))

    def unit_cost(self, r: int, threshold: float) -> float:
        s, f = self.sc.sourcing, self.firms
        wage_rel = f.wage_tech[r] / max(self.labour.mean_wage_ref, 1e-9) if f.wage_tech[r] > 0 else 1.0
        useful = min(f.tech[r], threshold + s.cost_tech_headroom)
        return s.unit_cost_base * math.exp(-s.cost_tech_elasticity * useful) * (1 + s.wage_cost_share * (wage_rel - 1))

    def wage(self, r: int, k: int) -> float:
        f, p = self.firms, self.sc.labour
        premium = 1 + p.fdi_premium * f.foreign[r] + p.tech_wage_slope * (f.tech[r] - 0.3)
        return self.labour.wage_index[self.geo.province[f.loc[r]], k] * max(premium, 0.5)

    # -- the step ---------------------------------------------------------------------------------------
    def step(self) -> None:
        self.month = self.steps - 1
        self.date = month_label(self.month, self.sc.start)
        self.stats.update({k: 0.0 for k in EVENT_COUNTS if k != "policy_spend_cumulative"})
        self.policy.apply(self)
        self.demand_phase()
        self.sourcing_phase()
        self.learning_phase()
        self.labour_phase()
        run_demography_phase(self)
        self.book_list = [k for k in self.book_list if self.firms.alive[k.buyer] and self.firms.alive[k.supplier]]
        self._record()

    # 2. demand
    def demand_phase(self) -> None:
        e = self.sc.economy
        self.demand_shock = e.demand_persistence * self.demand_shock + e.demand_volatility * self.rng_demand.standard_normal()
        trend = (1 + e.export_growth) ** (self.month / 12) * math.exp(self.demand_shock)
        self.need = np.zeros((self.firms.n, len(self.categories)))
        self.firm_set().shuffle_do(plan_demand, self, trend)

    # 3. sourcing
    def sourcing_phase(self) -> None:
        f, s, rng = self.firms, self.sc.sourcing, self.rng_contracts
        kept = []
        for k in self.book_list:  # renew or end
            if k.end <= self.month:
                still = self.qualifies(k.supplier, k.cat) and f.alive[k.buyer]
                if rng.random() < s.renewal_base * k.perf ** s.renewal_performance_power * still:
                    k.end = self.month + int(rng.integers(s.contract_months_min, s.contract_months_max + 1))
                else:
                    continue
            kept.append(k)
        contracted = defaultdict(float)  # fit volumes to needs
        for k in kept:
            contracted[k.buyer, k.cat] += k.value
        self.book_list = []
        for k in kept:
            have, need = contracted[k.buyer, k.cat], self.need[k.buyer, k.cat]
            if have > need:
                k.value *= need / max(have, 1e-12)
            if k.value >= 0.5 * s.min_tender_value:
                self.book_list.append(k)
        self.committed = defaultdict(float)
        for k in self.book_list:
            self.committed[k.supplier] += k.value
        self.spare = {a.row: max(self.eff_cap(a.row) - self.committed[a.row], 0.0)
                      for a in self.firm_agents.values() if f.kind[a.row] != LEAD}
        self.tenders()
        self.deliver_and_learn_history()

    def tenders(self) -> None:
        s, rng = self.sc.sourcing, self.rng_contracts
        contracted = defaultdict(float)
        self.where = {}
        for i, k in enumerate(self.book_list):
            contracted[k.buyer, k.cat] += k.value
            self.where[k.buyer, k.supplier, k.cat] = i
        open_need = {}
        for r in sorted(self.firm_agents):
            for c in range(len(self.categories)):
                reviewed = rng.random() < s.p_review
                open_need[r, c] = self.need[r, c] - contracted[r, c] if reviewed else 0.0
        for c in np.argsort(-self.category_threshold, kind="stable"):
            c = int(c)
            self.left = {r: open_need[r, c] for r in self.firm_agents}
            self.cap_share = {r: s.max_share * open_need[r, c] for r in self.firm_agents}
            qualified = [r for r in self.spare if self.qualifies(r, c)]
            for _ in range(s.tender_rounds):
                buyers = [r for r, v in self.left.items() if v > s.min_tender_value]
                pool = [r for r in qualified if self.spare[r] > 1e-9]
                if not buyers or not pool:
                    break
                self.tender_round(c, buyers, pool)

    def tender_round(self, c: int, buyers: list[int], pool: list[int]) -> None:
        f, s = self.firms, self.sc.sourcing
        self.at_loc = defaultdict(list)
        for r in pool:
            self.at_loc[int(f.loc[r])].append(r)
        self.asks = []
        AgentSet([self.firm_agents[r] for r in buyers], random=self.random).shuffle_do(bid, self, c)
        asked = defaultdict(float)
        for _, sup, ask in self.asks:
            asked[sup] += ask
        awards = []
        for b, sup, ask in self.asks:
            scale = self.spare[sup] / max(asked[sup], 1e-12) if asked[sup] > self.spare[sup] else 1.0
            if ask * scale > s.min_tender_value:
                awards.append((b, sup, ask * scale))
        if not awards:
            for b in buyers:
                self.left[b] = 0.0  # nothing beat the import price: import the rest this month
            return
        for b, sup, v in awards:
            self.spare[sup] = max(self.spare[sup] - v, 0.0)
            self.left[b] -= v
            i = self.where.get((b, sup, c))
            if i is not None:
                self.book_list[i].value += v
            else:
                end = self.month + int(self.rng_contracts.integers(s.contract_months_min, s.contract_months_max + 1))
                self.where[b, sup, c] = len(self.book_list)
                self.book_list.append(Contract(b, sup, c, v, self.month, end))

    def deliver_and_learn_history(self) -> None:
        """Deliver, update records, and refill the model's book for demography and indicators."""
        f, s = self.firms, self.sc.sourcing
        committed = defaultdict(float)
        for k in self.book_list:
            committed[k.supplier] += k.value
        share = {r: min(1.0, self.eff_cap(r) / max(v, 1e-12)) if v > 0 else 1.0 for r, v in committed.items()}
        delivered = []
        for k in self.book_list:
            delivered.append(k.value * share[k.supplier])
            k.perf = 0.7 * k.perf + 0.3 * share[k.supplier]
        f.committed[: f.n] = 0.0
        f.deliver_share[: f.n] = 1.0
        for r, v in committed.items():
            f.committed[r] = v
            f.deliver_share[r] = share[r]
        for pair in self.records:
            self.records[pair] *= 1.0 - s.history_decay
        perf_sum, perf_n = defaultdict(float), defaultdict(int)
        for k in self.book_list:
            perf_sum[k.buyer, k.supplier] += k.perf
            perf_n[k.buyer, k.supplier] += 1
        for pair, total in perf_sum.items():
            h = self.records.get(pair, 0.0)
            self.records[pair] = h + (1 - h) * HISTORY_GAIN * total / perf_n[pair]
        self.records = {p: v for p, v in self.records.items() if v > 1e-3}
        book = self.contracts
        book.keep(np.zeros(book.n, bool))
        if self.book_list:
            cols = list(zip(*[(k.buyer, k.supplier, k.cat, k.value, k.start, k.end, k.perf) for k in self.book_list], strict=True))
            book.add(np.array(cols[0]), np.array(cols[1]), np.array(cols[2]), np.array(cols[3]), 0, np.array(cols[5]))
            book.start[:] = cols[4]
            book.perf[:] = cols[6]
        self.delivered = np.array(delivered)
        self.policy.account_local_credit(self, self.delivered)
        _sourcing_stats(self)

    # 4. learning
    def learning_phase(self) -> None:
        f = self.firms
        self.tech_before = f.tech[: f.n].copy()
        self.sales = defaultdict(float)
        self.sold = defaultdict(list)
        for k, v in zip(self.book_list, self.delivered, strict=True):
            self.sales[k.supplier] += v
            self.sold[k.supplier].append((k, v))
        fdi = f.alive[: f.n] & f.foreign[: f.n]
        emp = f.workers[: f.n].sum(axis=1).astype(float)
        self.seen_tau, self.presence = demonstration_pool(f.loc[: f.n][fdi], self.tech_before[fdi], emp[fdi],
                                                          len(self.geo.ids), self.demo_decay)
        self.firm_set().shuffle_do(learn_one, self)

    # 5. labour
    def labour_phase(self) -> None:
        lm, f, p, rng = self.labour, self.firms, self.sc.labour, self.rng_labour
        n = f.n
        lm.knowledge_inflow = np.zeros(n)
        lm.month_flows = {"fdi_to_domestic": 0, "domestic_to_fdi": 0, "moves": 0}
        _inflows(self)
        firms = self.firm_set()
        firms.shuffle_do(attrition, self)
        pool_gone = rng.binomial(lm.pools, min(1.0, 2 * p.attrition))
        lm.pools -= pool_gone
        lm.outflow_total += int(pool_gone.sum())
        self.want = np.zeros((n, 3), dtype=np.int64)
        self.vac = np.zeros((n, 3), dtype=np.int64)
        firms.shuffle_do(plan_workforce, self)
        self.hire_from_pools()
        firms.shuffle_do(hire_migrants, self)
        self.wages = {r: [self.wage(r, k) for k in range(3)] for r in self.firm_agents}
        for k in range(3):
            self.job_moves(k)
        for r, w in self.wages.items():
            f.wage_tech[r] = sum(w[k] * f.skill_mix[r, k] for k in range(3))
        _update_wage_index(self, self.want)

    def hire_from_pools(self) -> None:
        """Pools split over the places they reach ∝ vacancies; each place shares its hires ∝ vacancies."""
        f, geo, lm = self.firms, self.geo, self.labour
        n_loc, n_d = len(geo.ids), len(geo.district_ids)
        for k in range(3):
            v_loc = [0.0] * n_loc
            for r in self.firm_agents:
                v_loc[f.loc[r]] += self.vac[r, k]
            supply = [float(x) for x in lm.pools[:, k]]
            demand_on = [sum(v_loc[loc] for loc in range(n_loc) if geo.reach[loc, d]) for d in range(n_d)]
            reach_supply = [sum(supply[d] for d in range(n_d) if geo.reach[loc, d]) for loc in range(n_loc)]
            hired_loc = [0] * n_loc
            for loc in range(n_loc):
                for d in range(n_d):
                    if not geo.reach[loc, d] or demand_on[d] <= 0 or reach_supply[loc] <= 0:
                        continue
                    flow = math.floor(min(v_loc[loc] * supply[d] / demand_on[d], supply[d] * v_loc[loc] / reach_supply[loc]))
                    lm.pools[d, k] -= flow
                    hired_loc[loc] += flow
            members = defaultdict(list)
            for r in sorted(self.firm_agents):
                members[int(f.loc[r])].append(r)
            for loc, rows in members.items():  # largest remainder within the place
                total = sum(self.vac[r, k] for r in rows)
                if total <= 0 or hired_loc[loc] <= 0:
                    continue
                shares = {r: hired_loc[loc] * self.vac[r, k] / total for r in rows}
                got = {r: math.floor(x + 1e-9) for r, x in shares.items()}
                left = hired_loc[loc] - sum(got.values())
                for r in sorted(rows, key=lambda r: -(shares[r] - got[r]))[:max(left, 0)]:
                    if self.vac[r, k] > 0:
                        got[r] += 1
                for r, h in got.items():
                    f.workers[r, k] += h
                    self.vac[r, k] -= h

    def job_moves(self, k: int) -> None:
        f, lm = self.firms, self.labour
        targets = [r for r in self.firm_agents if self.vac[r, k] > 0]
        if not targets:
            return
        at_loc = defaultdict(list)
        for r in targets:
            at_loc[int(f.loc[r])].append(r)
        self.move_asks = []
        self.job_targets = (k, at_loc)
        self.firm_set().shuffle_do(search_job, self)
        asked = defaultdict(float)
        for _, d, want in self.move_asks:
            asked[d] += want
        ratio = {d: self.vac[d, k] / total for d, total in asked.items()}  # vacancies before any move
        for o, d, want in self.move_asks:
            count = math.floor(want * min(ratio[d], 1.0))
            if count <= 0:
                continue
            f.workers[o, k] -= count
            f.workers[d, k] += count
            self.vac[d, k] -= count
            lm.knowledge_inflow[d] += count * SKILL_KNOWLEDGE[k] * max(f.tech[o] - f.tech[d], 0.0)
            fo, fd = bool(f.foreign[o]), bool(f.foreign[d])
            lm.month_flows["fdi_to_domestic"] += count if fo and not fd else 0
            lm.month_flows["domestic_to_fdi"] += count if fd and not fo else 0
            lm.month_flows["moves"] += count


# -- agent methods (called through AgentSet.shuffle_do) ---------------------------------------------------
def plan_demand(a, m: ReferenceModel, trend: float) -> None:
    f, r = m.firms, a.row
    f.demand_mult[r] *= trend
    if f.kind[r] == LEAD:
        f.capacity[r] = max(f.capacity[r], f.base_output[r] * f.demand_mult[r])
        m.need[r] = min(f.base_output[r] * f.demand_mult[r], m.eff_cap(r)) * m.bom[f.sector[r]]
    else:
        m.need[r] = m.sc.sourcing.supplier_input_share * f.output[r] * m.supplier_bom


def bid(a, m: ReferenceModel, c: int) -> None:
    """A buyer draws candidates by distance, scores delivered cost and asks the best for volume."""
    f, s, rng, geo = m.firms, m.sc.sourcing, m.rng_contracts, m.geo
    b = a.row
    weight = m.reach_weight[c][f.loc[b]]
    locs = [loc for loc in m.at_loc if weight[loc] > 0]
    cum, total = [], 0.0
    for loc in locs:
        total += weight[loc] * len(m.at_loc[loc])
        cum.append(total)
    if total <= 0:
        return
    picked = []
    for _ in range(s.n_candidates):
        loc = locs[min(bisect_right(cum, rng.random() * total), len(locs) - 1)]
        here = m.at_loc[loc]
        cand = here[min(int(rng.random() * len(here)), len(here) - 1)]
        if cand != b and cand not in picked:
            picked.append(cand)
    threshold = m.categories[c].threshold
    limit = (1 + m.sc.economy.import_markup) * (1 + m.policy.import_spike[c])
    credit = m.policy.local_credit[c][geo.province[f.loc[b]]]
    scored = []
    for sup in picked:
        unit = m.unit_cost(sup, threshold)
        cost = unit * (1 + m.sc.economy.transport_cost_per_km * geo.km[f.loc[b], f.loc[sup]])
        if f.foreign[b] and not f.foreign[sup]:
            cost -= credit * unit
        if f.foreign[b] and f.coached_until[sup] >= m.month:
            cost -= m.policy.matchmaking
        cost -= s.history_weight * m.records.get((b, sup), 0.0)
        cost += s.score_noise * rng.gumbel()
        if cost < limit:
            scored.append((cost, sup))
    before = 0.0
    for _, sup in sorted(scored):
        offer = min(m.spare[sup], m.cap_share[b])
        ask = min(max(m.left[b] - before, 0.0), offer)
        before += offer
        if ask > 0:
            m.asks.append((b, sup, ask))


def learn_one(a, m: ReferenceModel) -> None:
    """Backward linkage, demonstration, labour mobility, university, R&D, less frontier drift."""
    f, p = m.firms, m.sc.learning
    r = a.row
    if f.kind[r] == LEAD or not f.alive[r]:
        return
    tech = m.tech_before
    ops, techs, engs = (float(x) for x in f.workers[r])
    emp = ops + techs + engs
    ac = min(max(((engs + 0.5 * techs) / emp if emp > 0 else 0.0) / p.absorptive_skill_ref, 0.0), 1.0)
    backward = 0.0
    for k, v in m.sold.get(r, ()):
        if f.foreign[k.buyer] and m.sales[r] > 0:
            x = max(tech[k.buyer] - tech[r], 0.0) / p.gap_peak
            backward += v / m.sales[r] * x * math.exp(1.0 - x)
    loc = f.loc[r]
    demo = m.presence[loc] * max(m.seen_tau[loc] - tech[r], 0.0)
    carried = m.labour.knowledge_inflow[r] if r < len(m.labour.knowledge_inflow) else 0.0
    mobility = carried / max(emp, 1.0)
    partner = f.uni_partner[r]
    uni = m.inst.quality[partner] if partner >= 0 else 0.0
    rd = f.rd_spend[r] / f.revenue[r] if f.revenue[r] > 0 else 0.0
    gain = (p.backward * backward + p.demonstration * demo + p.labour_mobility * mobility + p.university * uni
            + p.rd_efficiency * rd)
    mult = p.fdi_supplier_learning if f.foreign[r] else (
        m.policy.learning_multiplier if f.coached_until[r] >= m.month else 1.0)
    delta = ac * mult * gain * (1 - tech[r]) - m.sc.economy.frontier_growth / 12 * tech[r]
    f.tech[r] = min(max(tech[r] + delta, 0.0), 1.0)


def attrition(a, m: ReferenceModel) -> None:
    f, r = m.firms, a.row
    for k in range(3):
        gone = int(m.rng_labour.binomial(f.workers[r, k], m.sc.labour.attrition))
        f.workers[r, k] -= gone
        m.labour.outflow_total += gone


def plan_workforce(a, m: ReferenceModel) -> None:
    """Workers wanted for the output plan; layoffs beyond the slack go to the district pool."""
    f, p, r = m.firms, m.sc.labour, a.row
    if not f.alive[r]:
        return
    plan = (f.base_output[r] * f.demand_mult[r] if f.kind[r] == LEAD
            else min(f.capacity[r], f.committed[r] + f.sales_other[r]))
    coef = f.labour_coef[r] * ((1 + f.tech0[r]) / (1 + f.tech[r])) ** p.labour_tech_elasticity
    district = m.geo.district[f.loc[r]]
    for k in range(3):
        want = math.ceil(plan * coef * f.skill_mix[r, k])
        m.want[r, k] = want
        layoff = max(f.workers[r, k] - math.ceil(want * (1 + p.layoff_slack)), 0)
        f.workers[r, k] -= layoff
        m.labour.pools[district, k] += layoff
        m.vac[r, k] = max(want - f.workers[r, k], 0)


def hire_migrants(a, m: ReferenceModel) -> None:
    f, r = m.firms, a.row
    migrants = min(math.floor(m.vac[r, 0] * m.sc.labour.migration + m.rng_labour.random()), m.vac[r, 0])
    f.workers[r, 0] += migrants
    m.vac[r, 0] -= migrants
    m.labour.inflow_total += migrants


def search_job(a, m: ReferenceModel) -> None:
    """Workers of skill k search; each seeker group takes the best of a few offers within reach."""
    f, p, rng = m.firms, m.sc.labour, m.rng_labour
    k, at_loc = m.job_targets
    r = a.row
    if not f.alive[r]:
        return
    seekers = int(rng.binomial(f.workers[r, k], p.p_search.as_tuple()[k]))
    if seekers <= 0:
        return
    weight = m.commute_weight[f.loc[r]]
    locs = [loc for loc in at_loc if weight[loc] > 0]
    cum, total = [], 0.0
    for loc in locs:
        total += weight[loc] * len(at_loc[loc])
        cum.append(total)
    if total <= 0:
        return
    best, best_wage = -1, -math.inf
    for _ in range(N_JOB_OFFERS):
        here = at_loc[locs[min(bisect_right(cum, rng.random() * total), len(locs) - 1)]]
        d = here[min(int(rng.random() * len(here)), len(here) - 1)]
        if d != r and m.wages[d][k] > best_wage:
            best, best_wage = d, m.wages[d][k]
    match = math.exp(p.match_noise * rng.standard_normal())
    if best >= 0 and best_wage * match > m.wages[r][k] * (1 + p.min_wage_gain):
        m.move_asks.append((r, best, seekers))
