"""compare and calibrate logic on tiny inputs: paired summaries, strict calibration files, the
objective, resuming from the journal, the fitted scenario file, and the CLI commands."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from experiments.calibrate import (
    Evaluator,
    Journal,
    fit,
    objective,
    report_table,
    write_fitted_scenario,
)
from experiments.calibration_report import write_report
from experiments.calibration_spec import CalibrationError, load_calibration
from experiments.compare import compare, summarise, write_outputs, yearly_values
from model.scenario import load_scenario
from tests.conftest import TINY


def test_summarise_pairs_by_seed():
    yearly = pd.DataFrame({
        "scenario": ["a"] * 3 + ["b"] * 3, "seed": [1, 2, 3] * 2, "year": 2030, "indicator": "x",
        "value": [1.0, 2.0, 3.0, 1.5, 2.1, 3.9]})
    s = summarise(yearly, [2030], ["a", "b"]).set_index("scenario")
    assert s.loc["a", "median"] == 2.0 and s.loc["a", "diff_median"] == 0.0
    assert s.loc["b", "median"] == 2.1
    assert s.loc["b", "diff_median"] == pytest.approx(0.5)  # paired: 0.5, 0.1, 0.9
    assert s.loc["b", "diff_q05"] == pytest.approx(0.14) and s.loc["b", "diff_q95"] == pytest.approx(0.86)
    assert s.loc["b", "p_positive"] == 1.0


def test_yearly_values_are_means_over_the_year():
    monthly = pd.DataFrame({"scenario": "a", "seed": 1, "date": ["2023-11", "2023-12", "2024-01"], "x": [1.0, 3.0, 7.0]})
    y = yearly_values(monthly, ["x"]).set_index("year")["value"]
    assert y[2023] == 2.0 and y[2024] == 7.0


def test_compare_runs_tiny_scenarios_and_writes_outputs(tmp_path):
    cmp = compare([TINY, TINY], [1, 2], indicators=("localisation_rate", "employment_total"),
                  overrides=("end=2023-06",), workers=1)
    assert cmp.scenarios == ["tiny", "tiny#2"]
    same = cmp.summary[cmp.summary.scenario == "tiny#2"]
    assert (same["diff_median"] == 0).all()  # same scenario, same seeds: identical runs
    files = write_outputs(cmp, tmp_path)
    assert all(p.exists() for p in files) and len(files) == 4
    # a writer that dies half-way leaves the previous table in place, not half of a new one
    before = files[0].read_bytes()

    def dies_half_way(self, path, **kw):
        Path(path).write_text("scenario,indicator\ntiny,loc", encoding="utf-8")
        raise OSError("disk full")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pd.DataFrame, "to_csv", dies_half_way)
        with pytest.raises(OSError, match="disk full"):
            write_outputs(cmp, tmp_path)
    assert files[0].read_bytes() == before
    with pytest.raises(ValueError, match="outside the runs' horizon"):
        compare([TINY], [1], years=[2030], overrides=("end=2023-03",), workers=1)


def _calibration_file(tmp_path, body: str = ""):
    text = f"""
name: tiny_fit
scenario: {TINY.as_posix()}
end: 2023-06
seeds: [1, 2]
report_seeds: 2
output: fitted.yaml
search: {{initial: 2, iterations: 3, seed: 1}}
parameters:
  - {{path: economy.import_markup, low: 0.05, high: 0.2}}
targets:
  - {{key: loc, indicator: localisation_rate, year: 2023, low: 0.05, high: 0.07, source: test}}
  - {{key: tn_emp, indicator: employment_total, province: Thái Nguyên, year: 2023, stat: last, low: 1000, high: 9000, source: test}}
{body}"""
    p = tmp_path / "targets.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_calibration_file_errors_name_the_line(tmp_path):
    p = _calibration_file(tmp_path, "bogus: 1\n")
    with pytest.raises(CalibrationError, match=r"targets.yaml:\d+: bogus"):
        load_calibration(p)
    p.write_text(p.read_text().replace("localisation_rate", "no_such_indicator").replace("bogus: 1\n", ""))
    with pytest.raises(CalibrationError, match=r"targets.yaml:1\d: targets\[0\]\.indicator.*unknown regional indicator"):
        load_calibration(p)
    p.write_text(p.read_text().replace("no_such_indicator", "localisation_rate").replace("economy.import_markup",
                                                                                       "economy.no_such_thing"))
    with pytest.raises(CalibrationError, match="parameters"):
        load_calibration(p)


def test_objective_is_weighted_squared_distance_to_the_midpoint(tmp_path):
    spec = load_calibration(_calibration_file(tmp_path))
    # loc: mid 0.06, half-width 0.01; tn_emp: mid 5000, half-width 4000
    assert objective({"loc": 0.08, "tn_emp": 5000}, spec.targets) == pytest.approx(4.0)
    assert objective({"loc": 0.06, "tn_emp": 1000}, spec.targets) == pytest.approx(1.0)


def test_fit_is_resumable_and_writes_a_loadable_scenario(tmp_path):
    spec = load_calibration(_calibration_file(tmp_path))
    work = tmp_path / "work"
    first = fit(spec, work, workers=1)
    assert first.runs_made > 0 and (work / "journal.jsonl").exists()
    assert first.best_j <= first.default_j
    again = fit(spec, work, workers=1)  # everything comes from the journal
    assert again.runs_made == 0 and again.best == first.best
    out = write_fitted_scenario(spec, first.best, first.best_j, first.default_j, tmp_path / "work" / "report.md")
    assert f"Targets, sources and gaps: {(tmp_path / 'work' / 'report.md').as_posix()}." in out.read_text()
    sc = load_scenario(out, ["end=2023-03"])
    assert sc.economy.import_markup == pytest.approx(first.best["economy.import_markup"])
    ev = Evaluator(spec, Journal(work / "journal.jsonl"), workers=1)
    default_fr, fitted_fr = ev.measures([first.default, first.best], [1, 2])
    table = report_table(spec, default_fr, fitted_fr)
    assert list(table["key"]) == ["loc", "tn_emp"] and table["inside"].dtype == bool
    md, png = write_report(spec, first, table, tmp_path / "REPORT.md")
    assert "| loc | test |" in md.read_text() and "economy.import_markup" in md.read_text() and png.exists()
    from experiments.calibration_spec import _has_mark
    assert _has_mark(md) and _has_mark(png) and _has_mark(out)  # so a later calibration may replace them, and only them


def test_cli_commands(tmp_path):
    from experiments.cli_scenarios import register

    app = typer.Typer()
    register(app)
    runner = CliRunner()
    r = runner.invoke(app, ["compare", str(TINY), str(TINY), "--seeds", "2", "--set", "end=2023-04", "-w", "1",
                            "-o", str(tmp_path / "cmp"), "--no-progress", "-i", "localisation_rate"])
    assert r.exit_code == 0, r.output
    assert "localisation_rate" in r.output and (tmp_path / "cmp" / "summary.csv").exists()
    bad = tmp_path / "bad.yaml"
    bad.write_text("extends: " + TINY.as_posix() + "\nname: bad\nbogus: 1\n")
    r = runner.invoke(app, ["compare", str(bad), "--seeds", "1", "--no-progress"])
    assert r.exit_code == 2 and "bogus" in r.output
    cal = _calibration_file(tmp_path)
    r = runner.invoke(app, ["calibrate", str(cal), "--workdir", str(tmp_path / "w"), "--report",
                            str(tmp_path / "R.md"), "-w", "1", "--no-progress"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "fitted.yaml").exists() and (tmp_path / "R.png").exists()
