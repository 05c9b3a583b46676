"""ClusterModel: the Mesa model and its monthly step order (ODD §3)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd
from mesa import Model

from agents import Firm
from model.contract_book import ContractBook
from model.contracts import run_demand_phase, run_sourcing_phase
from model.demography import run_demography_phase
from model.firms import LEAD, FirmTable
from model.geography import Geography, month_index, month_label
from model.labour import LabourMarket, run_labour_phase, set_wage_bills
from model.metrics import EVENT_COUNTS
from model.policy import PolicyState
from model.population import build_population
from model.recorder import Recorder
from model.scenario import Scenario
from model.spillover import learn

STREAMS = ("demand", "contracts", "labour", "demography", "policy")


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Keep the objects alive on entry (the imported packages and a built model) out of the cyclic
    garbage collector's full passes until the block ends.

    A month allocates few reference cycles, but each full pass walks every object in the process,
    about 200,000 once numba, pandas, Mesa and the model are loaded; a baseline run makes four or
    five, ~0.17 s in all (measured with ``gc.callbacks``). Objects are still freed by reference
    counting inside the block, and on exit they are handed back to the collector (``gc.unfreeze``).
    Handed back, they do not count as new objects in the collector's bookkeeping, so a model's
    reference cycles can wait for a full pass for dozens of runs (~17 MB a run in ``compare``):
    a caller that is done with a model calls ``ClusterModel.discard`` (``simulate`` does).
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


class ClusterModel(Model):
    """The cluster of a scenario, simulated month by month.

    Each ``step()`` is one month, in this order (docs/ODD.md §3):
        1. policy      - switch on the levers active this month, fire dated events
        2. demand      - lead firms' output from the export-demand path; every firm's component needs
        3. sourcing    - renew or end contracts, tender open needs, deliver, import the rest
        4. learning    - technology spillovers and R&D, gated by absorptive capacity
        5. labour      - graduates, vacancies, hiring, job-to-job moves, spin-off founders
        6. demography  - sales and cash, investment, upgrading, exit, entry, FDI arrivals
        7. record      - indicators and snapshots

    Randomness comes only from per-mechanism generators spawned from ``seed``, so drawing more in
    one mechanism never shifts another's stream.
    """

    def __init__(self, scenario: Scenario, seed: int):
        if seed is None:
            raise ValueError("ClusterModel needs an explicit integer seed (the runner picks and records one)")
        super().__init__(seed=int(seed))
        self.sc = scenario
        self.seed_used = int(seed)
        children = np.random.SeedSequence(int(seed)).spawn(len(STREAMS))
        for name, child in zip(STREAMS, children, strict=True):
            setattr(self, f"rng_{name}", np.random.default_rng(child))
        self.n_months = month_index(scenario.end, scenario.start) + 1
        self.month = 0  # index of the month being simulated (0 = scenario start)
        self._set_products()
        self.geo = Geography(scenario)
        self.firms = FirmTable(len(self.categories))
        self.contracts = ContractBook()
        self.recorder = Recorder(scenario.recording.flows)
        self.firm_agents: dict[int, Firm] = {}
        self.p_review = scenario.sourcing.p_review
        self.refresh_weights()
        self.recorder.enabled = False
        build_population(self)
        self.lead_rows = {self.firms.names[r]: r for r in np.flatnonzero(self.firms.kind[: self.firms.n] == LEAD)}
        self.labour = LabourMarket(self)
        self.labour.seed_pools(self)
        self.policy = PolicyState(self)
        self._init_counters()
        self._warm_start()
        self.firms_at_start = int(np.count_nonzero(self.firms.alive[: self.firms.n]))  # demography.check_growth
        self.recorder.enabled = True

    def _set_products(self) -> None:
        sc = self.sc
        self.categories = list(sc.categories)
        self.category_ids = [c.id for c in sc.categories]
        self.category_threshold = np.array([c.threshold for c in sc.categories])
        self.sector_ids = [s.id for s in sc.sectors]
        self.bom = np.array([[s.bom.get(c, 0.0) for c in self.category_ids] for s in sc.sectors])
        self.bom_total = self.bom.sum(axis=1)
        self.supplier_bom = np.array([sc.sourcing.supplier_bom.get(c, 0.0) for c in self.category_ids])
        self.supplier_bom = self.supplier_bom / max(self.supplier_bom.sum(), 1e-12)
        self.polluting_share = np.array([s.polluting_share for s in sc.sectors])

    def refresh_weights(self) -> None:
        """Distance weights for tenders (per category reach) and commuting, after any road change."""
        km = self.geo.km
        self.reach_weight = [np.where(km <= c.reach_km, np.exp(-km / (c.reach_km / 2)), 0.0) for c in self.categories]
        self.commute_weight = (km <= self.sc.labour.commute_km).astype(float)
        self.demo_decay = np.exp(-km / self.sc.learning.demonstration_km)

    def _init_counters(self) -> None:
        self.stats: dict = {k: 0.0 for k in EVENT_COUNTS}
        self.demand_shock = 0.0
        self.demand_trend = 1.0  # lead firms' demand factor this month (trend × shock), for arrivals' sizing
        self.refused_projects = self.unplaced_projects = self.relocations = 0
        self.learning_channels: dict[str, float] = {}
        self.candidates_drawn = 0  # tender candidates drawn so far, the start's included (for benchmarks)

    def _warm_start(self) -> None:
        """Month 0 before the first step: the contracts and markets the region already has."""
        f = self.firms
        self.month = -1  # the contracts the region already has were signed before the first month
        set_wage_bills(self)  # unit costs (eq. 3.1) price the start's wages too
        self.need = _initial_needs(self)
        run_sourcing_phase(self, initial=True)
        self.month = 0
        # the domestic market absorbs what SMEs sold outside lead-firm chains at the start
        from model.demography import sell_and_produce

        self.domestic_market = np.zeros(len(self.geo.provinces))
        sme = (f.kind[: f.n] == 2) & f.alive[: f.n]
        contract = np.bincount(self.contracts.supplier, weights=self.delivered, minlength=f.n)
        target = np.maximum(self.sc.economy.initial_utilisation * f.capacity[: f.n] - contract, 0.0) * sme
        self.domestic_market = np.bincount(self.geo.province[f.loc[: f.n]], weights=target,
                                           minlength=len(self.geo.provinces))
        sell_and_produce(self, self.delivered)
        f.committed[: f.n] = contract

    # -- the step -------------------------------------------------------------------------------------
    def step(self) -> None:
        """One month (see the class docstring for the order)."""
        self.month = self.steps - 1  # Mesa increments `steps` before calling step()
        self.date = month_label(self.month, self.sc.start)
        self.stats.update({k: 0.0 for k in EVENT_COUNTS if k != "policy_spend_cumulative"})
        self.policy.apply(self)  # 1. policy
        run_demand_phase(self)  # 2. demand
        run_sourcing_phase(self)  # 3. sourcing and contracts
        learn(self, self.delivered)  # 4. technology learning
        run_labour_phase(self)  # 5. labour market
        run_demography_phase(self)  # 6. finance and demography
        self._record()  # 7. record

    def _record(self) -> None:
        lm = self.labour.month_flows
        self.stats.update(flows_fdi_to_domestic=lm["fdi_to_domestic"], flows_domestic_to_fdi=lm["domestic_to_fdi"],
                          policy_spend=float(self.policy.month_spend.sum()),
                          policy_spend_cumulative=self.policy.total_spend)
        if self.month + 1 >= self.n_months:
            self.running = False
        self.recorder.record_month(self)

    # -- helpers used by mechanisms and callers -------------------------------------------------------
    @property
    def current_date(self) -> str:
        return getattr(self, "date", month_label(0, self.sc.start))

    def agent_of_row(self, row: int) -> Firm | None:
        """The agent handle of a firm-table row (None once it has left)."""
        return self.firm_agents.get(row)

    def policy_spend_rows(self) -> list[tuple[str, str, float]]:
        return [(label, b.type, float(s)) for label, b, s in
                zip(self.policy.labels, self.policy.blocks, self.policy.month_spend, strict=True)]

    def locations_table(self) -> pd.DataFrame:
        g = self.geo
        return pd.DataFrame({
            "location_id": g.ids, "name": g.names, "kind": np.array(["kcn", "ccn", "hitech", "outside"])[g.kind],
            "province": np.array(g.provinces)[g.province], "district": np.array(g.district_ids)[g.district],
            "lat": g.lat, "lon": g.lon, "area_ha": g.area, "occupied_ha": g.occupied,
            "opens": [month_label(int(o), self.sc.start) if o > -1200 else "2000-01" for o in g.opens]})

    def results(self, for_store: bool = False) -> dict[str, pd.DataFrame]:
        """Every table of the run so far (see docs/ARCHITECTURE.md); ``for_store``: the text columns of
        the firms and event tables as Arrow dictionary columns, for ``experiments.store.write_run``."""
        return self.recorder.tables(self, for_store)

    def discard(self) -> None:
        """Let go of everything the model holds, now: for callers done with a model (its tables taken).

        A Mesa model is a web of reference cycles (Mesa binds ``step`` to the instance, agents point
        back at the model, and Mesa 3.3's ``Agent._ids`` registry keeps every model alive), so
        without this its arrays wait for the garbage collector. The model is unusable afterwards.
        """
        from mesa import Agent

        Agent._ids.pop(self, None)
        self.__dict__.clear()

    def latest_indicators(self) -> dict:
        return dict(self.recorder.indicators[-1]) if self.recorder.indicators else {}


def _initial_needs(m: ClusterModel) -> np.ndarray:
    from model.contracts import component_needs

    return component_needs(m)
