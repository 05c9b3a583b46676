"""Legal but unusual scenarios: worlds without institutions, domestic firms or open parks, many
categories, and counts too big for 32 bits. Each must run (or be refused with a clear message)
and keep its tables finite and in bounds."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from model.cluster_model import ClusterModel
from model.metrics import INDICATORS
from model.scenario import ScenarioError, load_scenario
from tests.conftest import DATA, kernel_path, run_model

SHARES = [name for name, (_, unit, _) in INDICATORS.items() if unit == "share"]
TINY_GEO = (DATA / "tiny_geo.yaml").as_posix()
LEAD = "lead_firms:\n  - {name: Lead A, sector: electronics_assembly, location: park_a, employees: 2000, output: 600, followers: 4}\n"
SMES = ("firm_groups:\n  - {label: S, kind: domestic_sme, count: 20, locations: {park_a: 1, out_a: 1}, "
        "sectors: {electronics_assembly: 1}}\n")


def write(tmp_path: Path, body: str, name: str = "s.yaml", geography: str = TINY_GEO) -> Path:
    path = tmp_path / name
    path.write_text(f"name: stress\nstart: 2023-01\nend: 2023-04\ngeography: {geography}\n{body}", encoding="utf-8")
    return path


def assert_sound(m: ClusterModel) -> None:
    """Every recorded number finite (an indicator over an empty set, such as a province without
    firms, is NaN: undefined, never infinite), shares in [0, 1], stocks non-negative."""
    tables = m.results()
    for name, table in tables.items():
        numbers = table.select_dtypes("number").to_numpy(float)
        ok = ~np.isinf(numbers) if name.startswith("indicators") else np.isfinite(numbers)
        assert ok.all(), name
    ind = tables["indicators"]
    for col in SHARES:
        assert ind[col].dropna().between(0, 1).all(), col
    assert ind["n_domestic_firms"].gt(0).all() <= ind["mean_tech_domestic"].notna().all()  # NaN only without SMEs
    firms = tables["firms"]
    assert (firms[["employees", "operators", "technicians", "engineers", "output", "capacity"]] >= 0).all().all()
    assert (ind.employment_total == ind.employment_fdi + ind.employment_domestic).all()


@pytest.mark.parametrize("compiled", [True, False])
def test_a_scenario_without_institutions_runs(tmp_path, compiled):
    """Learning looked up institution 0's quality for every firm, so a world without any crashed."""
    sc = load_scenario(write(tmp_path, LEAD + SMES))
    assert not sc.institutions
    with kernel_path(compiled):
        m = run_model(sc, seed=4)
    assert_sound(m)
    assert m.results()["indicators"].n_domestic_firms.iloc[-1] > 0


def test_followers_of_a_lead_firm_with_no_open_park_nearby_start_beside_it(tmp_path):
    """A lead firm outside parks (or in a park that opens later) with followers crashed the build:
    no open park within 30 km to draw their places from."""
    geo = tmp_path / "geo.yaml"
    geo.write_text("provinces: [P]\ndistricts:\n  - {id: d, name: D, province: P, lat: 21.4, lon: 105.8, "
                   "working_age: 20000}\nlocations:\n  - {id: out, name: Out, kind: outside, district: d}\n"
                   "  - {id: later, name: Later, kind: kcn, district: d, area_ha: 50, opens: 2030-01}\n",
                   encoding="utf-8")
    body = ("lead_firms:\n  - {name: Outside, sector: electronics_assembly, location: out, employees: 900, "
            "output: 300, followers: 3}\n  - {name: Early, sector: semiconductors, location: later, employees: 500, "
            "output: 200, followers: 2}\n")
    m = run_model(load_scenario(write(tmp_path, body, geography=geo.as_posix())), seed=2)
    f = m.firms
    lead_loc = {f.names[r]: f.loc[r] for r in range(f.n)}
    for lead, k in (("Outside", 3), ("Early", 2)):
        followers = [r for r in range(f.n) if f.names[r].startswith(f"{lead} supplier")]
        assert len(followers) == k and all(f.loc[r] == lead_loc[lead] for r in followers)
    assert_sound(m)


def test_a_world_without_domestic_firms_reports_finite_learning_channels(tmp_path):
    """The channels averaged over domestic learners were NaN (with a warning) when there were none."""
    body = LEAD + ("firm_groups:\n  - {label: F, kind: fdi_supplier, count: 5, locations: {park_b: 1}, "
                   "sectors: {electronics_assembly: 1}}\n")
    m = ClusterModel(load_scenario(write(tmp_path, body, name="fdi.yaml"), ["demography.fdi_arrivals_per_year=0"]),
                     seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        m.step()
    assert m.learning_channels and all(np.isfinite(v) for v in m.learning_channels.values())


def _categories(k: int) -> str:
    cats = "".join(f"  - {{id: c{i}, name: C{i}, threshold: {0.1 + 0.8 * i / k:.4f}}}\n" for i in range(k))
    bom = ", ".join(f"c{i}: {0.9 / k:.6f}" for i in range(k))
    return (f"categories:\n{cats}sectors:\n  - {{id: electronics_assembly, name: EA, bom: {{{bom}}}}}\n"
            "sourcing: {supplier_bom: {c0: 1, c1: 1}}\ndemography: {fdi_sector_shares: {electronics_assembly: 1}}\n")


def test_more_categories_than_the_contract_index_holds_are_refused(tmp_path):
    """Past 64 categories the book's (buyer, supplier, category) keys collide: contracts were found
    for the wrong pair, and contracted volume exceeded need."""
    text = _categories(65) + LEAD + SMES
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    issue, = err.value.errors
    assert issue.file == str(path) and issue.path == "categories"
    assert issue.line == 6  # where the `categories:` list begins
    assert "at most 64" in issue.message and "65" in issue.message
    # 64 is still safe: volumes stay within needs
    smes = SMES.replace("count: 20", "count: 40").replace("}}\n", "}, tech_mean: 0.9, tech_sd: 0.05}\n")
    m = ClusterModel(load_scenario(write(tmp_path, _categories(64) + LEAD + smes, name="c64.yaml")), seed=1)
    for _ in range(3):
        m.step()
        assert (m.contracts.per_pair(len(m.need), len(m.categories)) <= m.need + 1e-9).all()
    assert m.contracts.n > 0


def test_worker_counts_beyond_32_bits_are_recorded_exactly(tiny):
    """Snapshots and flow logs stored worker counts as int32: a firm grown for decades (export
    growth at its bound from 2000) wrapped to negative employees in the firms table."""
    from model.recorder import _small, snapshot_state

    big = np.array([5, 2**31 + 7, 3 * 2**31])
    assert _small(big).tolist() == big.tolist()
    m = ClusterModel(tiny, seed=1)
    m.step()
    row = int(np.flatnonzero(m.firms.alive[: m.firms.n])[0])
    m.firms.workers[row, 0] = 3 * 2**31
    m.recorder.snapshots.append(snapshot_state(m))
    firms = m.results()["firms"]
    last = firms[firms.step == firms.step.max()]
    got = last.loc[last.firm_id == m.firms.agent_id[row], "operators"]
    assert got.tolist()[-1] == 3 * 2**31  # the snapshot taken after the change


def test_compounding_sme_entry_stops_with_a_message_not_out_of_memory(tmp_path):
    """sme_entry_rate at its bound, with entry_opportunity_ref at its floor (entry at twice the rate
    while any easy category is imported), makes entry compound: entrants add to the SMEs that spawn
    entrants faster than their sales lower the opportunity. (With the reference at its default, the
    entry rate alone compounded only while entrants were left without staff and never sold.) The run
    stops at GROWTH_LIMIT x its start with a message naming the parameters, and the CLI exits 1
    without a traceback or a run folder."""
    from typer.testing import CliRunner

    from experiments import cli
    from model.demography import GROWTH_FLOOR, RunawayGrowth

    sets = ["end=2045-12", "demography.sme_entry_rate=2", "demography.entry_opportunity_ref=0.001"]
    m = ClusterModel(load_scenario(DATA / "tiny.yaml", sets), seed=1)
    with pytest.raises(RunawayGrowth, match="sme_entry_rate=2") as err:
        while m.running:
            m.step()
    alive = int(m.firms.alive[: m.firms.n].sum())
    assert GROWTH_FLOOR < alive < 2 * GROWTH_FLOOR and m.month < 12 * 22  # stopped at the limit, long before the end
    assert "entry_opportunity_ref" in str(err.value)
    res = CliRunner().invoke(cli.app, ["run", str(DATA / "tiny.yaml"), "--out", str(tmp_path), "--seed", "1",
                                       *[x for s in sets for x in ("--set", s)]])
    assert res.exit_code == 1 and "SME entry is compounding" in res.output and "Traceback" not in res.output
    assert not any(tmp_path.iterdir())


def test_the_baseline_stays_far_from_the_growth_limit(baseline_short):
    from model.demography import GROWTH_LIMIT

    alive = int(baseline_short.firms.alive[: baseline_short.firms.n].sum())
    assert alive < 2 * baseline_short.firms_at_start < GROWTH_LIMIT * baseline_short.firms_at_start
