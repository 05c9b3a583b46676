"""Hostile input, part 10 (fuzzing round 7): indicators undefined at the end of some or all runs,
policy blocks that overlap, empty worlds in the dashboard."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from experiments.analysis import OutcomeSpec, analyze, outcome_values
from experiments.query import connect
from tests.sweep_helpers import fake_runs, write_sweep

SWEEP = """name: nan
seed: 5
policies: [{name: a}]
uncertain:
  - {path: economy.export_growth, type: real, range: [0.0, 0.1]}
design: {method: lhs, samples: 6}
"""


def test_an_outcome_at_the_end_is_the_last_months_value_even_when_undefined(tmp_path):
    """`X@end` took a run's last *defined* value (DuckDB's arg_max skips NULL): a run whose SMEs had
    all closed reported its tech of months before as its end, and counted as giving a value."""
    folder = fake_runs(write_sweep(tmp_path, SWEEP), tmp_path / "out", lambda row: 0.5)  # 0 .. 0.5 in 3 months
    for run in sorted(folder.runs.iterdir())[::2]:  # three runs whose indicator is undefined at the end
        table = pd.read_parquet(run / "indicators.parquet")
        table.loc[table["step"] == 3, "localisation_rate"] = math.nan
        table.to_parquet(run / "indicators.parquet")
    con = connect(folder.root)
    values = outcome_values(con, OutcomeSpec.parse("localisation_rate@end")).set_index("run_id")
    con.close()
    assert values["value"].isna().sum() == 3 and (values["value"].dropna() == 0.5).all()
    text = analyze(folder.root, [OutcomeSpec.parse("localisation_rate@end")]).read_text()
    assert "3 of 6 runs give a value; 3 do not (0 not complete, 3 complete with no value then" in text


def test_analyze_draws_a_gap_for_a_month_no_run_has_a_value(tmp_path):
    """A month where the indicator was undefined in every run crashed analyze with pandas's "Shape of
    passed values is (18, 1), indices imply (18, 5)" (exit 2, as for bad input)."""
    folder = fake_runs(write_sweep(tmp_path, SWEEP), tmp_path / "out", lambda row: math.nan)
    report = analyze(folder.root, [OutcomeSpec.parse("localisation_rate@end")])
    fan = pd.read_csv(report.parent / "fan_localisation_rate.csv")
    assert list(fan["n"]) == [0, 0, 0] and fan[["q05", "q25", "q50", "q75", "q95"]].isna().all().all()
    assert (report.parent / "fan_localisation_rate.png").is_file()


def test_compare_takes_a_running_total_at_the_years_end_and_counts_runs_with_a_value():
    """compare averaged cumulative spending over the year's months (2,436 for a year that ended at
    4,466: the cost per point of localisation was understated by half a year's spending), and its
    ``n`` counted runs whose indicator was NaN."""
    from experiments.compare import summarise, yearly_values

    months = [f"2024-{m:02d}" for m in range(1, 13)]
    monthly = pd.DataFrame({"scenario": "a", "seed": 1, "date": ["2023-12", *months],
                            "policy_spend_cumulative": [0.0, *[10.0 * m for m in range(1, 13)]],
                            "policy_spend": [0.0, *[10.0] * 12], "mean_tech_domestic": [0.3] * 13})
    monthly = pd.concat([monthly, monthly.assign(seed=2, mean_tech_domestic=math.nan)])
    y = yearly_values(monthly, ["policy_spend_cumulative", "policy_spend", "mean_tech_domestic"])
    y1 = y[y["seed"] == 1].set_index(["indicator", "year"])["value"]
    assert y1["policy_spend_cumulative", 2024] == 120.0 and y1["policy_spend_cumulative", 2023] == 0.0
    assert y1["policy_spend", 2024] == 10.0  # a flow stays the mean month
    s = summarise(y, [2024], ["a"]).set_index("indicator")
    assert s.loc["mean_tech_domestic", "n"] == 1 and s.loc["policy_spend", "n"] == 2


POLICY_BLOCKS = [
    "{type: supplier_development, start: 2023-02, smes_per_year: 60, months: 6}",
    "{type: university_partnership, start: 2023-02, partnerships_per_year: 60, cost_per_partnership: 0.5}",
    "{type: training_expansion, start: 2023-02, institution: College A, extra_graduates: {operator: 0, technician: 0, engineer: 50}}",
    "{type: sme_credit, start: 2023-02, cover_share: 0.5, subsidy_share: 0.2, min_tech: 0.1}",
    "{type: rd_subsidy, start: 2023-02, rate: 0.3, rd_response: 1.0}",
    "{type: investment_promotion, start: 2023-02, extra_arrivals_per_year: 24, cost_per_project: 5}",
    "{type: local_content_incentive, start: 2023-02, credit_rate: 0.05}",
    "{type: environmental_standard, start: 2023-02, refuse_polluting: true}",
]


@pytest.mark.parametrize("block", POLICY_BLOCKS)
def test_a_lever_draws_only_from_the_policy_stream(block):
    """The university-partnership lever drew its links' tie-breaks from the demography stream, so
    switching it on shifted every later entry, exit and arrival: the seed pairing that compare and
    sweeps rely on was lost. The policy phase may draw from ``rng_policy`` alone."""
    from model.cluster_model import ClusterModel
    from model.scenario import load_scenario
    from tests.conftest import TINY

    m = ClusterModel(load_scenario(TINY, ["end=2023-06", f"policies=[{block}]"]), seed=3)
    streams = {k: v for k, v in vars(m).items() if k.startswith("rng_") and k != "rng_policy"}
    assert {"rng_demography", "rng_contracts", "rng_labour"} <= set(streams)
    apply = m.policy.apply
    changed: list[str] = []

    def watched(model):
        before = {k: g.bit_generator.state for k, g in streams.items()}
        apply(model)
        changed.extend(k for k, g in streams.items() if g.bit_generator.state != before[k])

    m.policy.apply = watched
    for _ in range(5):
        m.step()
    assert changed == []


def _spend(block_lines: str, months: int = 6, sets: tuple[str, ...] = ()):
    from model.cluster_model import ClusterModel
    from model.scenario import load_scenario
    from tests.conftest import TINY

    m = ClusterModel(load_scenario(TINY, [f"end=2023-{months:02d}", f"policies=[{block_lines}]", *sets]), seed=2)
    for _ in range(months):
        m.step()
    return m


def test_each_supplier_development_block_pays_for_its_own_smes():
    """Each of two blocks booked the cost of every coached SME (block B, enrolling none, was charged
    as much as A, and the summary doubled): a block pays for the SMEs it enrolled."""
    a = "{type: supplier_development, label: A, start: 2023-01, smes_per_year: 60, months: 12, cost_per_sme: 0.4}"
    b = "{type: supplier_development, label: B, start: 2023-01, smes_per_year: 0, months: 12, cost_per_sme: 0.4}"
    alone, both = _spend(a), _spend(f"{a}, {b}")
    assert alone.policy.total_spend > 0
    assert both.policy.year_spend.tolist() == [alone.policy.total_spend, 0.0]
    assert both.policy.total_spend == alone.policy.total_spend


def test_coaching_helps_only_while_its_programme_runs():
    """An SME enrolled for 12 months by a block that ended after two kept its doubled chance of
    certifying (the learning and matchmaking help stopped, as they should)."""
    from model.demography import invest_and_upgrade

    easy = ("sourcing.p_certify=0.5", "sourcing.certification_tech=0", "sourcing.certification_cost=0")
    m = _spend("{type: supplier_development, start: 2023-01, end: 2023-02, smes_per_year: 240, months: 12}", 4, easy)
    f = m.firms
    coached = np.flatnonzero(f.alive[: f.n] & (m.policy.coached_by[: f.n] == 0))  # the block's SMEs (24 of them)
    assert len(coached) >= 20
    f.certified[coached] = False
    invest_and_upgrade(m)  # a coached SME would certify surely (2 × 0.5); after the end, half of them
    assert 0.2 < f.certified[coached].mean() < 0.8


def test_investment_promotion_pays_only_for_projects_that_open():
    """Promoted projects were paid for before the placement loop refused the polluting ones or found
    them no land: 1,200 VND bn were spent on a promotion none of whose projects came."""
    promo = ("{type: investment_promotion, start: 2023-01, extra_arrivals_per_year: 60, cost_per_project: 5, "
             "sector_shares: {electronics_assembly: 1}}")
    refuse = "{type: environmental_standard, start: 2023-01, refuse_polluting: true}"
    dirty = ("sectors.0.polluting_share=1", "demography.fdi_arrivals_per_year=0")
    refused = _spend(f"{promo}, {refuse}", 6, dirty)
    assert refused.refused_projects > 0 and refused.policy.total_spend == 0.0
    from model.cluster_model import ClusterModel
    from model.scenario import load_scenario
    from tests.conftest import TINY

    opened = ClusterModel(load_scenario(TINY, ["end=2023-06", f"policies=[{promo}]", "demography.fdi_arrivals_per_year=0"]),
                          seed=2)
    n0 = opened.firms.n
    for _ in range(6):
        opened.step()
    arrivals = int(opened.firms.foreign[n0 : opened.firms.n].sum())  # promotion is the only way in here
    assert arrivals > 0 and opened.policy.total_spend == 5 * arrivals


def test_set_reaches_the_default_sectors_and_categories():
    """`--set sectors.0.polluting_share=1` failed with "sectors is not in the scenario" for a file
    that keeps the default sectors, so neither --set nor a sweep could touch them."""
    from model.scenario import load_scenario
    from tests.conftest import TINY

    plain = load_scenario(TINY)
    sc = load_scenario(TINY, ["sectors.0.polluting_share=1", "categories[1].threshold=0.9"])
    assert sc.sectors[0].polluting_share == 1 and sc.categories[1].threshold == 0.9
    assert [s.id for s in sc.sectors] == [s.id for s in plain.sectors]
    assert sc.sectors[1:] == plain.sectors[1:] and sc.economy == plain.economy


def test_a_capped_top_up_credit_leaves_the_rest_to_the_main_credit():
    """A 6% top-up with a small budget took every cell from an uncapped 5% credit: in its month it
    paid its budget, and the main credit, which buyers counted on, was neither paid nor booked
    (about 615 VND bn a January in the baseline region)."""
    from model.cluster_model import ClusterModel
    from model.scenario import load_scenario
    from tests.conftest import TINY

    main = "{type: local_content_incentive, label: main, start: 2023-01, credit_rate: 0.05}"
    top = "{type: local_content_incentive, label: top, start: 2023-01, credit_rate: 0.06, budget: 0.001}"
    spends = []
    for blocks in (main, f"{main}, {top}"):
        m = ClusterModel(load_scenario(TINY, ["end=2023-03", f"policies=[{blocks}]"]), seed=4)
        m.step()
        spends.append(m.policy.month_spend.copy())
    alone, both = spends
    assert alone[0] > 0.01 and both[1] == 0.001  # the top-up pays what its budget holds
    assert both[0] == pytest.approx(alone[0] * (1 - 0.001 / (0.06 / 0.05 * alone[0])), rel=0.2)


@pytest.mark.parametrize("world", [
    ["lead_firms=[]", "firm_groups=[]", "institutions=[]", "demography.fdi_arrivals_per_year=0"],  # nothing at all
    ["lead_firms=[]", "firm_groups=[]", "demography.fdi_arrivals_per_year=0"],  # a college, no contracts
])
def test_the_dashboard_plays_back_a_world_without_firms_or_contracts(tmp_path, world):
    """Valid runs the model writes crashed playback: no firms at all (IndexError in snapshot_at), or
    no contract ever (ValueError from node_value.max()). Playback opens the newest run, so one such
    run in --results broke the page."""
    from dashboard.frames import build_index
    from dashboard.i18n import make_tr
    from dashboard.playback import render_frame
    from experiments.runner import execute_run
    from tests.conftest import TINY

    run = execute_run(TINY, 1, tmp_path, run_id="w", overrides=["end=2023-03", *world])
    idx = build_index(run)
    for step in (1, idx.n_steps):
        for name, chart in render_frame(idx, step, make_tr("en")).items():
            assert chart.png.startswith(b"\x89PNG"), name


def test_live_runs_saved_in_the_same_second_get_their_own_folders(tmp_path):
    """The live run's id went down to the second: a second "Save as a run" within it (a month of a
    small world takes 30 ms), or another tab's, raised RunExistsError, which the page did not catch."""
    from dashboard.live import start_run
    from tests.conftest import TINY

    live = start_run(TINY, 1, "2023-04", [])
    live.step()
    first = live.save(tmp_path)
    live.step()
    second, third = live.save(tmp_path), live.save(tmp_path)
    assert len({first, second, third}) == 3 and all((p / "manifest.json").is_file() for p in (first, second, third))
    import json

    months = [json.loads((p / "manifest.json").read_text())["n_months"] for p in (first, second, third)]
    assert months == [1, 2, 2]


def test_a_world_bigger_than_its_people_is_warned_and_its_numbers_are_not_cut(tmp_path):
    """20,000 SMEs of median 100,000 workers and σ 5 (both allowed) employed 7.4e13 persons in a
    region of 5.4 M of working age, without a word; the summary cut the figure to "74,439,047,3…"."""
    from experiments.runner import _fmt
    from model.scenario import load_scenario
    from tests.cli_helpers import invoke
    from tests.conftest import TINY

    huge = ["firm_groups.0.employees_median=100000", "firm_groups.0.employees_sigma=5", "firm_groups.0.count=2000"]
    assert load_scenario(TINY).load_warnings() == []
    assert "more than the 40,000 people of working age" in " ".join(load_scenario(TINY, huge).load_warnings())
    assert _fmt(7.4439e13, "persons") == "7.44e+13" and _fmt(92_166_464_424.0, "vnd_month") == "9.22e+10"
    assert _fmt(949_500.0, "persons") == "949,500"
    res = invoke("run", TINY, "--seed", "1", "--until", "2023-01", "--out", tmp_path, "--no-progress",
                 *[x for s in huge for x in ("--set", s)])
    assert res.exit_code == 0 and "warning: the starting firms employ about" in res.output
    assert "…" not in res.output.split("run folder")[0].split("┡")[-1]  # no figure in the table is cut


def test_a_finished_programmes_smes_get_no_help_from_another_and_may_join_it():
    """An SME enrolled for 24 months by a block that ended kept its enrolment: while another block
    ran, it had that block's help (learning, matchmaking, certification) unpaid, and that block
    could not enrol it. Its enrolment now ends with its block."""
    short = "{type: supplier_development, label: S, start: 2023-01, end: 2023-02, smes_per_year: 120, months: 24}"
    long_ = "{type: supplier_development, label: L, start: 2023-01, smes_per_year: 0, months: 12}"
    m = _spend(f"{short}, {long_}", 5)
    f, by = m.firms, m.policy.coached_by[: m.firms.n]
    enrolled_by_s = by == 0
    assert enrolled_by_s.sum() >= 10 and m.policy.coaching  # S enrolled some; L still runs
    assert (f.coached_until[: f.n][enrolled_by_s] <= 1).all()  # S's enrolments ended with S (month index 1)


def test_analyze_lists_a_policy_whose_runs_give_no_value():
    """A variant whose indicator was NaN in every run (no SMEs at all) vanished from the outcome's
    policy table, while the line above said half the runs gave no value."""
    body = SWEEP.replace("policies: [{name: a}]", "policies: [{name: a}, {name: b}]")
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        folder = fake_runs(write_sweep(Path(tmp), body), Path(tmp) / "out",
                           lambda row: math.nan if row["policy"] == "b" else 0.5)
        text = analyze(folder.root, [OutcomeSpec.parse("localisation_rate@end")]).read_text()
    assert "6 of 12 runs give a value" in text
    assert "| a | 6 | 0.5 |" in text and "| b | 0 | – | – | – |" in text


def test_calibrate_names_a_target_that_has_no_value_instead_of_crashing(tmp_path):
    """A target on a province without lead firms (localisation NaN in every month) made every J NaN,
    and calibrate ended in "ValueError: Encountered all NA values" from pandas."""
    from tests.cli_helpers import invoke, no_traceback
    from tests.test_hostile_inputs_9 import _calibration

    path = _calibration(tmp_path)
    path.write_text(path.read_text(encoding="utf-8").replace(
        "indicator: localisation_rate, year", "indicator: localisation_rate, province: Bắc Giang, year"), encoding="utf-8")
    res = invoke("calibrate", path, "--workdir", tmp_path / "w", "--workers", "1", "--no-progress")
    no_traceback(res)
    assert res.exit_code == 2 and "target loc: localisation_rate has no value in 2023" in " ".join(res.output.split())
    assert not (tmp_path / "fitted.yaml").exists()


@pytest.mark.parametrize("column", ["step", "seed", "export_growth", "date", "run_id"])
def test_analyze_refuses_a_column_that_is_not_an_indicator(tmp_path, column):
    """`-i step` or `-i seed` 'analysed' the column (medians, Sobol' indices of the seeds), `-i date`
    ended in a DuckDB ConversionException traceback: the check let through any column of the view."""
    folder = fake_runs(write_sweep(tmp_path, SWEEP), tmp_path / "out", lambda row: 0.5)
    with pytest.raises(ValueError, match=f"unknown indicator '{column}'"):
        analyze(folder.root, [OutcomeSpec.parse(column)])


def test_query_prints_its_first_rows_without_holding_the_whole_result(tmp_path):
    """`query --limit 2` of 20 million rows took 1.2 GB: the whole result was made a DataFrame to print
    two rows of it. Now the rows printed are fetched, and the count is a streaming pass."""
    from experiments.query import query_head
    from tests.cli_helpers import invoke

    folder = fake_runs(write_sweep(tmp_path, SWEEP), tmp_path / "out", lambda row: 0.5)
    head, total = query_head(folder.root, "SELECT range AS i FROM range(5000000)", 3)
    assert total == 5_000_000 and head["i"].tolist() == [0, 1, 2]
    res = invoke("query", folder.root, "SELECT range AS i FROM range(1000)", "--limit", "2")
    assert res.exit_code == 0 and "... 998 more rows" in res.output
    res = invoke("query", folder.root, "SELECT 1 AS x", "--csv", tmp_path / "one.csv")
    assert "1 row written to" in res.output


@pytest.mark.parametrize("rng, levels, warned", [([10, 12], 4, True), ([10, 13], 4, False), ([10, 12], 2, False)])
def test_morris_warns_when_its_levels_land_on_whole_numbers_unevenly(tmp_path, rng, levels, warned):
    """Three values on four Morris levels gave 10, 11, 12, 12: one trajectory's step was 2 and
    another's 1, both divided by the same 2/3 in the unit cube, without a word."""
    from experiments.sweep import _uneven_morris_levels
    from experiments.sweep_spec import load_sweep

    body = (f"name: m\nseed: 1\nuncertain:\n  - {{path: firm_groups.0.count, type: integer, range: {rng}}}\n"
            f"  - {{path: economy.export_growth, type: real, range: [0.0, 0.1]}}\n"
            f"design: {{method: morris, samples: 2, levels: {levels}}}\n")
    notes = _uneven_morris_levels(load_sweep(write_sweep(tmp_path, body)))
    assert bool(notes) == warned
    if warned:
        assert "firm_groups.0.count" in notes[0] and "[10, 11, 12, 12]" in notes[0] and "levels: 2" in notes[0]
