"""Hostile input, part 9 (fuzzing round 6): compare --out, analyze -o and query --csv never write
over files of the user's, and an earlier output of the same command is replaced whole."""

from __future__ import annotations

import json

import pytest

from tests.cli_helpers import invoke, no_traceback
from tests.conftest import TINY

COMPARE = ("compare", TINY, "-n", "1", "-w", "1", "--no-progress", "--set", "end=2023-03")


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    from tests.sweep_helpers import write_sweep
    from tests.test_sweep_cli import BODY

    tmp = tmp_path_factory.mktemp("sw")
    res = invoke("sweep", write_sweep(tmp, "set: {end: 2023-02}\n" + BODY), "--out", tmp / "out", "--in-process")
    assert res.exit_code == 0, res.output
    return tmp / "out"


def _words(res) -> str:
    return " ".join(res.output.split())


@pytest.mark.parametrize("mine", ["summary.csv", "notes.txt", "manifest.json"])
def test_compare_never_writes_into_a_folder_of_the_users(tmp_path, mine):
    """compare --out mycmp replaced the user's own summary.csv there without a word."""
    out = tmp_path / "mycmp"
    out.mkdir()
    (out / mine).write_text("mine")
    res = invoke(*COMPARE, "--out", out)
    no_traceback(res)
    assert res.exit_code == 1 and f"holds {mine}, which this comparison did not write" in _words(res), res.output
    assert [p.name for p in out.iterdir()] == [mine] and (out / mine).read_text() == "mine"


def test_a_second_comparison_replaces_the_first_whole(tmp_path):
    """A re-run with fewer indicators left the first run's fan charts beside the new tables."""
    out = tmp_path / "cmp"
    assert invoke(*COMPARE, "--out", out).exit_code == 0
    assert len(list(out.glob("fan_*.png"))) > 1
    res = invoke(*COMPARE, "--out", out, "-i", "localisation_rate")
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "fan_localisation_rate.png", "summary.csv", "yearly.csv"]
    (out / "mine.txt").write_text("added by hand")
    res = invoke(*COMPARE, "--out", out)
    assert res.exit_code == 1 and "holds mine.txt" in _words(res)


def test_an_interrupted_comparison_is_replaced_next_time(tmp_path):
    """What a comparison killed while writing left (its mark says 'writing') is its own."""
    out = tmp_path / "cmp"
    out.mkdir()
    (out / "summary.csv").write_text("half")
    (out / ".clusterlink-output.json").write_text(json.dumps({"kind": "comparison", "state": "writing", "files": []}))
    res = invoke(*COMPARE, "--out", out)
    assert res.exit_code == 0, res.output
    assert (out / "summary.csv").read_text() != "half"


def test_analyze_never_writes_over_a_report_of_the_users(swept, tmp_path):
    """analyze -o mydocs replaced mydocs/report.md; -o into a run folder mixed the report into it."""
    docs = tmp_path / "mydocs"
    docs.mkdir()
    (docs / "report.md").write_text("precious")
    res = invoke("analyze", swept, "-o", docs)
    no_traceback(res)
    assert res.exit_code == 1 and "holds report.md, which this analysis did not write" in _words(res)
    assert (docs / "report.md").read_text() == "precious"
    run = next((swept / "runs").iterdir())
    before = sorted(p.name for p in run.iterdir())
    assert invoke("analyze", swept, "-o", run).exit_code == 1
    assert sorted(p.name for p in run.iterdir()) == before


def test_analyze_rewrites_its_own_folder_also_one_made_before_outputs_were_marked(swept):
    """The sweep's own analysis folder: an analysis again replaces it (unmarked ones included)."""
    assert invoke("analyze", swept).exit_code == 0
    mark = swept / "analysis" / ".clusterlink-output.json"
    mark.unlink()  # as an analysis of an earlier version left it
    (swept / "analysis" / "fan_old_indicator.png").write_bytes(b"old")
    res = invoke("analyze", swept)
    assert res.exit_code == 0, res.output
    assert not (swept / "analysis" / "fan_old_indicator.png").exists() and mark.is_file()


def test_query_csv_refuses_a_file_that_exists_unless_told(swept, tmp_path):
    """query --csv mine.csv replaced the user's file."""
    mine = tmp_path / "mine.csv"
    mine.write_text("mine")
    res = invoke("query", swept, "select run_id from runs", "--csv", mine)
    assert res.exit_code == 2 and "the file exists" in _words(res) and mine.read_text() == "mine"
    res = invoke("query", swept, "select run_id from runs", "--csv", mine, "--overwrite")
    assert res.exit_code == 0 and mine.read_text().splitlines()[0] == "run_id"


# -- calibrate --------------------------------------------------------------------------------------------
def _calibration(tmp_path, parameters="  - {path: economy.import_markup, low: 0.05, high: 0.2}\n", weight=1):
    path = tmp_path / "c.yaml"
    path.write_text(f"""name: c
scenario: {TINY.as_posix()}
end: 2023-02
seeds: [1]
report_seeds: 1
output: fitted.yaml
search: {{initial: 2, iterations: 1, seed: 5}}
parameters:
{parameters}targets:
  - {{key: loc, indicator: localisation_rate, year: 2023, low: 0.5, high: 0.6, source: x, weight: {weight}}}
""", encoding="utf-8")
    return path


def test_calibrate_refuses_targets_that_all_weigh_nothing(tmp_path):
    """All weights 0 'fitted' (best J = 0.000) and wrote fitted.yaml."""
    from experiments.calibration_spec import CalibrationError, load_calibration

    with pytest.raises(CalibrationError, match="every target has weight 0"):
        load_calibration(_calibration(tmp_path, weight=0))
    load_calibration(_calibration(tmp_path, weight=0.5))


def test_calibrate_refuses_a_whole_number_parameter_before_any_run(tmp_path):
    """firm_groups.0.count ended in a traceback: '--set: firm_groups[0].count: got 5.97499; a whole number'."""
    from experiments.calibration_spec import CalibrationError, load_calibration

    path = _calibration(tmp_path, "  - {path: firm_groups.0.count, low: 0, high: 10}\n")
    with pytest.raises(CalibrationError, match=r"parameters\[0\]\.path.*takes whole numbers"):
        load_calibration(path)


@pytest.mark.parametrize("damage", [b"\xff\xfe\n", b"[1, 2]\n", b'{"hash": "h", "seed": 1, "measures": {"loc": "abc"}}\n',
                                    b'{"hash": 3}\n', "folder"])
def test_a_damaged_calibration_journal_is_not_a_traceback(tmp_path, damage):
    """Non-UTF-8 bytes, a list, a text measure or a folder in the journal's place were tracebacks."""
    from experiments.calibrate import Journal, JournalError

    path = tmp_path / "journal.jsonl"
    if damage == "folder":
        path.mkdir()
        with pytest.raises(JournalError, match="is a folder"):
            Journal(path)
        return
    good = b'{"hash": "h", "seed": 2, "params": {}, "measures": {"loc": 0.5}}\n'
    path.write_bytes(damage + good)
    assert Journal(path).rows == {("h", 2): {"loc": 0.5}}  # the damaged line is run again; the good one kept


# -- sweep columns ----------------------------------------------------------------------------------------
def test_a_parameter_named_like_an_indicator_is_refused(tmp_path):
    """name: localisation_rate was accepted, and the parameter vanished from the indicators view."""
    from tests.sweep_helpers import write_sweep
    from tests.test_sweep_cli import sweep_error

    text = sweep_error(write_sweep(tmp_path, "name: t\nseed: 1\ndesign: {method: lhs, samples: 2}\nuncertain:\n"
                                   "  - {path: economy.export_growth, type: real, range: [0, 0.1], "
                                   "name: localisation_rate}\n"))
    assert "uncertain[0].name" in text and "clashes with an indicator" in text


def test_the_policy_view_keeps_the_sweeps_policy_variant(tmp_path):
    """The policy table's own `policy` (the lever's label) hid the run's policy variant."""
    from experiments.query import query
    from tests.sweep_helpers import write_sweep

    body = ("name: t\nseed: 1\nset: {end: 2023-02}\npolicies:\n  - {name: none}\n"
            "  - {name: sdp, set: {policies: [{type: supplier_development, label: SDP}]}}\n")
    res = invoke("sweep", write_sweep(tmp_path, body), "--out", tmp_path / "o", "--in-process")
    assert res.exit_code == 0, res.output
    rows = query(tmp_path / "o", "select distinct run_policy, policy from policy")
    assert rows.values.tolist() == [["sdp", "SDP"]]


# -- links ------------------------------------------------------------------------------------------------
def test_a_loop_of_links_is_an_error_not_a_traceback(tmp_path, monkeypatch, capsys):
    """validate, run, status ... on a loop of symbolic links ended in 'RuntimeError: Symlink loop'."""
    import sys

    from experiments import cli

    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    for command in ("validate", "run", "status"):
        monkeypatch.setattr(sys, "argv", ["clusterlink", command, str(tmp_path / "loop1")])
        with pytest.raises(SystemExit) as err:
            cli.main()
        out = capsys.readouterr()
        assert err.value.code == 2 and "Traceback" not in out.err + out.out, (command, out)
        assert "loop" in out.err and "loop1" in out.err, (command, out.err)


def test_a_sweep_never_follows_a_link_to_nothing(tmp_path):
    """sweep --out broken_link created the link's target folder (anywhere) and wrote the sweep there."""
    from tests.sweep_helpers import write_sweep
    from tests.test_sweep_cli import BODY

    target = tmp_path / "elsewhere" / "x"
    (tmp_path / "link").symlink_to(target)
    res = invoke("sweep", write_sweep(tmp_path, BODY), "--out", tmp_path / "link", "--in-process")
    no_traceback(res)
    assert res.exit_code != 0 and "link to nothing" in _words(res) and not (tmp_path / "elsewhere").exists()


def test_a_relocation_with_no_park_to_move_to_is_warned():
    """Relocating out of the only district with parks in its province moved nothing, without a word."""
    from model.scenario import load_scenario

    block = "policies=[{type: environmental_standard, start: 2023-02, relocate_from: [d_a], relocate_by: 2023-03}]"
    notes = load_scenario(TINY, [block]).idle_policies()
    assert len(notes) == 1 and "Thái Nguyên has no park outside those districts" in notes[0]
    # with park B's district in the same province, there is somewhere to go
    assert not load_scenario(TINY, ["geography.districts.1.province=Thái Nguyên", block]).idle_policies()


# -- compare ----------------------------------------------------------------------------------------------
def test_scenarios_with_different_horizons_are_compared_over_the_months_both_simulate(tmp_path):
    """A run to 2024 against one to March 2023 compared a whole-year mean with a quarter's: the
    same scenario showed Δ localisation +0.014 with P(Δ>0) = 100 %."""
    from experiments.compare import compare

    short = tmp_path / "short.yaml"
    short.write_text(f"extends: {TINY.as_posix()}\nname: short\nend: 2023-03\n", encoding="utf-8")
    cmp = compare([TINY, short], [1, 2], indicators=("localisation_rate",), overrides=(), workers=1)
    row = cmp.summary[(cmp.summary.scenario == "short") & (cmp.summary.year == 2023)].iloc[0]
    assert row["diff_median"] == 0 and row["p_positive"] == 0  # the same runs over the same months
    assert any("horizons differ" in n for n in cmp.notes) and any("Jan–Mar" in n for n in cmp.notes)


def test_cost_per_point_only_where_it_means_something():
    """A lever that spends nothing was 'VND 0 bn per percentage point', a gain within chance too."""
    from types import SimpleNamespace

    import pandas as pd

    from experiments.compare import cost_per_point

    def cmp(gain, gain_q05, spend):
        rows = [dict(indicator="localisation_rate", year=2025, scenario="b", diff_median=gain, diff_q05=gain_q05),
                dict(indicator="policy_spend_cumulative", year=2025, scenario="b", diff_median=spend, diff_q05=spend)]
        return SimpleNamespace(summary=pd.DataFrame(rows), scenarios=["a", "b"])

    assert cost_per_point(cmp(0.02, 0.01, 300.0), 2025) == {"b": pytest.approx(150.0)}
    for gain, q05, spend in ((0.02, 0.01, 0.0), (0.02, -0.01, 300.0), (-0.01, -0.02, 300.0)):
        value = cost_per_point(cmp(gain, q05, spend), 2025)["b"]
        assert value != value, (gain, q05, spend)  # NaN: not printed


# -- smaller things ---------------------------------------------------------------------------------------
def test_status_traceback_of_a_complete_run_says_it_has_none(swept):
    run_id = next((swept / "runs").iterdir()).name
    res = invoke("status", swept, "--traceback", run_id)
    assert res.exit_code == 0 and res.output.strip() == f"{run_id}: status complete, no traceback", res.output


def test_compare_years_of_commas_only_is_refused():
    """--years ,, was ignored without a word (the default years were reported)."""
    res = invoke(*COMPARE, "--years", ",,")
    assert res.exit_code == 2 and "--years expects years separated by commas" in _words(res)


def test_an_index_out_of_range_names_both_ways_of_counting():
    """-1 is the last item, as in Python, but the message for -3 said 'indexes 0 .. 1'."""
    from model.scenario import load_scenario
    from tests.test_hostile_inputs import problems

    assert load_scenario(TINY, ["firm_groups.-1.count=3"]).firm_groups[-1].count == 3
    issue, = problems(TINY, ("firm_groups.-3.count=3",))
    assert "indexes 0 .. 1, or -2 .. -1 from the end" in issue.message


def test_ctrl_c_in_a_command_without_its_own_message_still_says_so(monkeypatch, capsys, tmp_path):
    """Ctrl-C during compare (or analyze, or a command's start) exited 130 without a word."""
    import sys

    from experiments import cli
    from experiments import compare as compare_mod

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(compare_mod, "compare", interrupted)
    monkeypatch.setattr(sys, "argv", ["clusterlink", *map(str, COMPARE), "--out", str(tmp_path / "c")])
    with pytest.raises(SystemExit) as err:
        cli.main()
    assert err.value.code == 130 and capsys.readouterr().err.count("interrupted") == 1


# -- analyze ----------------------------------------------------------------------------------------------
def test_analyze_flags_indices_and_boxes_from_too_few_runs(tmp_path):
    """Sobol' with samples: 2 printed 'S1 -1.475 ± 535' and PRIM on 2-4 runs a box with density
    1.00, with nothing to say they were noise."""
    from experiments.analysis import MIN_PRIM_RUNS, OutcomeSpec, analyze
    from tests.test_sweep_analysis import sweep_folder

    for sub in "sml":
        (tmp_path / sub).mkdir()

    text = analyze(sweep_folder(tmp_path / "s", "{method: sobol, samples: 4}").root,
                   [OutcomeSpec.parse("localisation_rate")]).read_text()
    assert text.count("Too few Saltelli blocks to read these indices") == 2  # one per policy
    assert 4 * 5 * 2 * 2 >= MIN_PRIM_RUNS and "Too few runs for scenario discovery" not in text
    text = analyze(sweep_folder(tmp_path / "m", "{method: morris, samples: 10}").root,
                   [OutcomeSpec.parse("localisation_rate")]).read_text()
    assert "Too few" not in text
    text = analyze(sweep_folder(tmp_path / "l", "{method: lhs, samples: 3}").root,
                   [OutcomeSpec.parse("localisation_rate")]).read_text()
    assert "Too few runs for scenario discovery:** 12" in text


# -- indicators over empty sets ---------------------------------------------------------------------------
def test_an_indicator_over_nothing_is_undefined_not_zero(tmp_path):
    """A world without SMEs reported 'Mean SME technology 0.000' (and a tech gap against 0); lead
    firms with no output a localisation of 0.00 %; a province without firms rows of zeros."""
    import numpy as np

    from model.scenario import load_scenario
    from tests.conftest import run_model

    no_smes = ["end=2023-03", "firm_groups.0.count=0", "firm_groups.1.count=0", "lead_firms.0.followers=0"]
    m = run_model(load_scenario(TINY, no_smes), seed=1)
    ind, prov = m.results()["indicators"], m.results()["indicators_province"]
    assert (ind["n_domestic_firms"] == 0).all()
    assert ind["mean_tech_domestic"].isna().all() and ind["tech_gap"].isna().all()
    assert ind["employment_total"].gt(0).all() and ind["localisation_rate"].notna().all()  # defined: lead output > 0
    assert prov["mean_tech_domestic"].isna().all()
    m = run_model(load_scenario(TINY, ["end=2023-03", "lead_firms.0.output=0"]), seed=1)
    ind = m.results()["indicators"]
    assert np.isnan(ind["localisation_rate"].iloc[0]) and np.isfinite(ind["mean_tech_domestic"]).all()
    res = invoke("run", TINY, *sum((["--set", o] for o in no_smes), []), "--seed", 1, "--out", tmp_path,
                 "--no-progress")  # seed 1, as above: no SME enters in these months
    assert res.exit_code == 0, res.output
    line = next(x for x in res.output.splitlines() if "Mean SME technology" in x)
    assert "0.000" not in line and "–" in line, line
