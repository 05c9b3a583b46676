"""Invariants over whole runs, and determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model.cluster_model import ClusterModel
from model.firms import LEAD
from model.metrics import INDICATORS
from model.scenario import load_scenario
from tests.conftest import TINY, run_model

SHARES = [name for name, (_, unit, _) in INDICATORS.items() if unit == "share"]


def test_indicator_columns_complete(baseline_short):
    ind = baseline_short.results()["indicators"]
    required = """step date localisation_rate localisation_rate_input local_sourcing_fdi_suppliers
    domestic_tier1_suppliers domestic_tier2_suppliers fdi_firms_with_domestic_supplier_share n_fdi_firms
    n_domestic_firms firm_entries firm_exits spinoffs employment_total employment_fdi employment_domestic
    mean_wage_fdi mean_wage_domestic mean_tech_domestic tech_gap flows_fdi_to_domestic flows_domestic_to_fdi
    contracts_active network_density largest_component_share industrial_output value_added_domestic
    policy_spend""".split()
    assert set(required) <= set(ind.columns)
    assert list(ind.step) == list(range(1, 7))
    assert list(ind.date) == ["2023-01", "2023-02", "2023-03", "2023-04", "2023-05", "2023-06"]


def test_shares_bounded_and_stocks_non_negative(baseline_short):
    r = baseline_short.results()
    ind = r["indicators"]
    for col in SHARES:
        assert ind[col].between(0, 1).all(), col
    counts = ["employment_total", "n_fdi_firms", "n_domestic_firms", "contracts_active", "unemployed_pool",
              "industrial_output", "domestic_tier1_suppliers"]
    assert (ind[counts] >= 0).all().all()
    assert (ind.employment_total == ind.employment_fdi + ind.employment_domestic).all()
    firms = r["firms"]
    assert (firms[["employees", "operators", "technicians", "engineers", "output", "capacity"]] >= 0).all().all()
    assert firms.tech.between(0, 1).all()
    assert (r["contracts"].value >= 0).all()
    prov = r["indicators_province"]
    total = prov.groupby("step").employment_total.sum().to_numpy()
    assert np.array_equal(total, ind.employment_total.to_numpy())


def test_contract_volume_never_exceeds_need():
    m = ClusterModel(load_scenario(TINY, ["economy.demand_volatility=0.2"]), seed=11)
    for _ in range(12):
        m.step()
        n = len(m.need)
        contracted = m.contracts.per_pair(n, len(m.categories))
        assert (contracted <= m.need + 1e-9).all()
        # deliveries never exceed contracts, and suppliers' sales add up to what buyers got
        assert (m.delivered <= m.contracts.value + 1e-12).all()
        got = np.bincount(m.contracts.supplier, weights=m.delivered, minlength=m.firms.n)
        assert np.allclose(got, m.firms.sales_contract[: m.firms.n][: len(got)])


def test_same_seed_same_tables_different_seed_differs(tiny):
    a = run_model(tiny, seed=21).results()
    b = run_model(tiny, seed=21).results()
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True, obj=name)
    c = run_model(tiny, seed=22).results()
    assert not a["indicators"].equals(c["indicators"])


def test_random_streams_are_isolated(tiny):
    m1, m2 = ClusterModel(tiny, seed=9), ClusterModel(tiny, seed=9)
    m2.rng_labour.random(1000)  # extra draws in one mechanism's stream...
    m1.step()
    m2.step()
    assert m1.demand_shock == m2.demand_shock  # ...leave another's untouched
    assert np.array_equal(m1.contracts.value, m2.contracts.value)


def test_seed_is_required(tiny):
    import pytest

    with pytest.raises(ValueError, match="seed"):
        ClusterModel(tiny, seed=None)  # type: ignore[arg-type]


def test_firms_table_is_each_snapshot_in_turn_and_matches_the_model(tiny):
    """The stacked snapshots equal one frame per snapshot, concatenated; the last matches the firm table."""
    from model.recorder import snapshot_frame

    m = run_model(tiny)
    states = m.recorder.snapshots
    assert len(states) >= 2
    one_by_one = pd.concat([snapshot_frame(m, [s]) for s in states], ignore_index=True)
    pd.testing.assert_frame_equal(m.results()["firms"], one_by_one)
    last = one_by_one[one_by_one.step == states[-1]["step"]]
    firms = last[last.owner != "public"]
    f, n_inst = m.firms, len(m.inst.names)
    alive = np.flatnonzero(f.alive[: f.n])
    assert len(last) == len(alive) + n_inst and (last.owner == "public").sum() == n_inst
    assert firms.firm_id.tolist() == f.agent_id[alive].tolist()
    assert firms.employees.tolist() == f.workers[alive].sum(axis=1).tolist()
    assert firms.name.tolist() == [f.names[r] for r in alive]
    assert (firms.owner == np.where(f.foreign[alive], "fdi", "domestic")).all()
    insts = last[last.owner == "public"]
    assert insts.kind.tolist() == m.inst.kind and insts.name.tolist() == m.inst.names
    assert (insts.sector == "education").all() and (insts.employees == 0).all()


def test_frozen_heap_hands_every_object_back(tiny):
    """Runs are stepped with the heap frozen (less garbage-collector work); on leaving the block,
    even by an error, the objects are the collector's again, so a discarded model is freed."""
    import gc
    import weakref

    import pytest
    from mesa import Agent

    from model.cluster_model import frozen_heap

    m = ClusterModel(tiny, seed=5)
    ref = weakref.ref(m)
    with pytest.raises(RuntimeError, match="inside"), frozen_heap():
        assert gc.get_freeze_count() > 0
        m.step()
        raise RuntimeError("inside")
    assert gc.get_freeze_count() == 0
    Agent._ids.pop(m, None)
    del m
    gc.collect()
    assert ref() is None


def test_simulate_frees_its_model_without_the_garbage_collector(tiny, monkeypatch):
    """compare, validation and calibration run model after model in one process: each run's model
    (a web of reference cycles, handed back unfrozen by frozen_heap) stayed in memory, ~17 MB a
    run in ``compare``, until a full collection that the collector's bookkeeping rarely started."""
    import gc
    import weakref

    from experiments import runner
    from model import cluster_model

    made = []

    class Watched(cluster_model.ClusterModel):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(weakref.ref(self))

    monkeypatch.setattr(cluster_model, "ClusterModel", Watched)
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        tables, _ = runner.simulate(tiny, seed=3)
        assert len(made) == 1 and made[0]() is None  # freed by reference counting alone
    finally:
        if was_enabled:
            gc.enable()
    assert len(tables["indicators"]) > 0


def test_a_run_leaves_next_to_no_garbage_for_the_collector(tmp_path):
    """A sweep worker makes run after run: what a run leaves in reference cycles waits for a full
    collection, which frozen_heap's bookkeeping makes rare. Reading the scenario made a YAML loader
    (a cycle) per value, ~2,500 objects a run, and package-version look-ups added more: the
    in-process sweep grew by ~0.1 MB a run."""
    import gc

    from experiments.runner import execute_run
    from tests.conftest import TINY

    execute_run(TINY, 1, tmp_path, run_id="warm")  # imports and caches of a first run
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        execute_run(TINY, 2, tmp_path, run_id="counted")
        left = gc.collect()
    finally:
        if was_enabled:
            gc.enable()
    assert left < 100, f"{left} objects in reference cycles after one run"


def test_simulate_gives_the_tables_of_a_plain_loop(tiny):
    from experiments.runner import simulate

    tables, months = simulate(tiny, seed=21)
    plain = run_model(tiny, seed=21).results()
    assert months == len(plain["indicators"])
    for name in plain:
        pd.testing.assert_frame_equal(tables[name], plain[name], check_exact=True, obj=name)


def test_the_months_output_and_value_added_are_what_firms_sold():
    """Output counts what was made and sold this month: a firm founded after the month's
    production (entrant, spin-off, FDI arrival) has a plan but has made nothing yet."""
    busy = ["demography.sme_entry_rate=1", "labour.p_spinoff=0.01", "demography.fdi_arrivals_per_year=60"]
    m = ClusterModel(load_scenario(TINY, busy), seed=5)
    s = m.sc.sourcing
    newborn_months = 0
    for _ in range(6):
        m.step()
        f, n = m.firms, m.firms.n
        alive, lead, dom = f.alive[:n], f.kind[:n] == LEAD, ~f.foreign[:n]
        sold = np.where(lead, f.revenue[:n], f.sales_contract[:n] + f.sales_other[:n])  # a lead firm's revenue is its output
        row = m.recorder.indicators[-1]
        assert row["industrial_output"] == pytest.approx(sold[alive].sum(), rel=1e-12)
        va = (f.revenue[:n] - (s.material_share + s.supplier_input_share) * sold)[alive & dom].sum()
        assert row["value_added_domestic"] == pytest.approx(va, rel=1e-12)
        provinces = sum(r["industrial_output"] for r in m.recorder.provinces[-len(m.geo.provinces):])
        assert provinces == pytest.approx(row["industrial_output"], rel=1e-12)
        newborn_months += m.stats["firm_entries"] + m.stats["fdi_arrivals"] > 0
    assert newborn_months >= 3  # the identity was tested on months with newborns
