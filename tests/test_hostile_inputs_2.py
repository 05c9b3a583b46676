"""Hostile and unusual input to the sweep, analysis and comparison commands: every user mistake
gets a clear error (exit 1 or 2) naming the file, line, key and what is allowed, and no traceback;
nothing is simulated when the result could not be used; damaged run folders are never counted as
complete; a sweep never mixes runs of two versions of a scenario."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
import typer

from experiments.sweep import SweepError, SweepSpecError, load_sweep, prepare, sweep_status
from model.scenario import load_scenario
from tests.cli_helpers import invoke, no_traceback
from tests.conftest import DATA, ROOT, TINY
from tests.sweep_helpers import HEAD, ONE_PARAM, fake_runs, write_sweep


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if needle in line)


def sweep_cli(spec: Path, out: Path) -> typer.testing.Result:
    return invoke("sweep", spec, "--out", out, "--in-process", "--no-progress")


def journal_complete(folder: Path) -> None:
    """Journal every run folder as complete (as a real sweep does)."""
    with open(folder / "journal.jsonl", "a", encoding="utf-8") as fh:
        for run in sorted((folder / "runs").iterdir()):
            fh.write(json.dumps({"run_id": run.name, "status": "complete", "error": None, "traceback": None,
                                 "started": 1.0, "finished": 2.0, "wall_time_s": 1.0, "worker": "w"}) + "\n")


@pytest.fixture
def faked(tmp_path: Path) -> Path:
    """A sweep folder of 2 fake complete, journalled runs."""
    spec = write_sweep(tmp_path, HEAD + ONE_PARAM)
    fake_runs(spec, tmp_path / "sw", outcome=lambda row: 0.1 + row["export_growth"])
    journal_complete(tmp_path / "sw")
    return tmp_path / "sw"


# -- the size of a design ----------------------------------------------------------------------------
@pytest.mark.parametrize("body, runs, points", [
    ("replications: 100000\npolicies: [" + ", ".join(f"{{name: p{i}}}" for i in range(100)) + "]\n",
     "10,000,000 runs", "1 design points × 100 policies × 100000 replications"),
    ("uncertain:\n" + "".join(f"  - {{path: economy.{k}, type: real, range: [0.0, 0.1]}}\n" for k in
                              ("export_growth", "import_markup", "frontier_growth"))
     + "design: {method: grid, levels: 1000}\n", "1,000,000,000 runs", "1,000,000,000 design points"),
])
def test_a_sweep_of_too_many_runs_is_refused_before_any_table_is_built(tmp_path, body, runs, points):
    """A design of 10^7 or 10^9 runs used to build its task table (minutes, gigabytes) first."""
    spec = write_sweep(tmp_path, HEAD + body)
    t0 = time.time()
    res = sweep_cli(spec, tmp_path / "sw")
    no_traceback(res)
    assert time.time() - t0 < 30
    assert res.exit_code == 2
    assert f"{spec}:" in res.output and "design" in res.output
    assert runs in res.output and points in res.output and "the limit is 1,000,000 runs" in res.output
    assert not (tmp_path / "sw").exists()


# -- numbers in sweep files ----------------------------------------------------------------------------
@pytest.mark.parametrize("param, key, message", [
    ("{path: economy.export_growth, type: real, range: [0, 0.1], distribution: normal, mean: .nan, sd: 0.1}",
     "uncertain[0].mean", "finite number"),
    ("{path: economy.export_growth, type: real, range: [0, 0.1], distribution: normal, mean: 0.05, sd: .inf}",
     "uncertain[0].sd", "finite number"),
    ("{path: economy.export_growth, type: real, range: [0, 0.1], distribution: lognormal, median: .inf, sd: 1}",
     "uncertain[0].median", "finite number"),
    ("{path: lead_firms.0.employees, type: integer, range: [100, 100000000000000000000000]}",
     "uncertain[0]", "range must lie within"),
    ("{path: economy.export_growth, type: real, range: [true, false]}", "uncertain[0].range[0]", "a number is expected, not true/false"),
])
def test_distribution_parameters_must_be_finite_numbers(tmp_path, param, key, message):
    """NaN or infinite parameters used to pass: every drawn value was NaN and every run failed (a huge
    integer range crashed with a traceback); a boolean range was read as [1.0, 0.0]."""
    spec = write_sweep(tmp_path, HEAD + f"uncertain:\n  - {param}\n")
    res = sweep_cli(spec, tmp_path / "sw")
    no_traceback(res)
    assert res.exit_code == 2
    assert f"{spec}:{line_of(spec, 'path:')}: {key}:" in res.output and message in res.output
    assert not (tmp_path / "sw").exists()


@pytest.mark.parametrize("text, key", [("replications: \"3\"\n", "replications"), ("replications: true\n", "replications"),
                                       ("design: {method: lhs, samples: true}\n", "design.samples")])
def test_a_string_or_a_boolean_is_not_a_count(tmp_path, text, key):
    spec = write_sweep(tmp_path, HEAD + text)
    with pytest.raises(SweepSpecError) as err:
        load_sweep(spec)
    assert f"{spec}:{len(spec.read_text().splitlines())}: {key}:" in str(err.value)
    assert "a number is expected, not " in str(err.value)  # the text (remove the quotes), or true/false


# -- overrides and outcomes of the sweep file -----------------------------------------------------------
@pytest.mark.parametrize("body, needle, key", [
    ("name: t\nseed: 1\nset: {end: 2099-99}\n", "set:", "set.end"),
    ("name: t\nseed: 1\nset: [\"end=2023-02\", \"economy.nope=1\"]\n", "set:", "set[1]"),
    (HEAD + "policies:\n  - {name: a}\n  - {name: b, set: {economy.nope: 1}}\n", "name: b", "policies[1].set.economy.nope"),
])
def test_an_override_the_scenario_rejects_is_an_error_of_the_sweep_file(tmp_path, body, needle, key):
    """It used to be a warning, then every run failed (exit 3) - and as fixing it changes the
    design, `--resume` could never retry them."""
    spec = write_sweep(tmp_path, body)
    res = sweep_cli(spec, tmp_path / "sw")
    no_traceback(res)
    assert res.exit_code == 2, res.output
    assert f"{spec}:{line_of(spec, needle)}: {key}:" in res.output and "rejects this override" in res.output
    assert not (tmp_path / "sw").exists()


def test_an_outcome_month_no_run_reaches_is_refused_before_any_run(tmp_path):
    spec = write_sweep(tmp_path, HEAD + "outcomes: [{indicator: localisation_rate, at: 2099-01}]\n")
    res = sweep_cli(spec, tmp_path / "sw")
    no_traceback(res)
    assert res.exit_code == 2
    assert f"{spec}:{line_of(spec, 'outcomes')}: outcomes[0].at:" in res.output
    assert "2023-01–2023-02" in res.output and "'end'" in res.output
    assert not (tmp_path / "sw").exists()


# -- damaged sweep folders --------------------------------------------------------------------------------
@pytest.mark.parametrize("damage", ["delete a table", "truncate the manifest"])
def test_a_damaged_run_is_not_complete_even_if_journalled(faked, damage):
    """The journal's "complete" used to be trusted whenever a manifest file existed: the damaged run
    was never re-made, and `analyze`/`query` silently used what was left of it."""
    run = faked / "runs" / sorted(p.name for p in (faked / "runs").iterdir())[0]
    if damage == "delete a table":
        (run / "indicators.parquet").unlink()
    else:
        (run / "manifest.json").write_text('{"run_id": "x", "sta', encoding="utf-8")
    index = sweep_status(faked)
    assert index.set_index("run_id")["status"].to_dict() == {run.name: "pending",
                                                             **{r: "complete" for r in index["run_id"] if r != run.name}}
    res = invoke("status", faked)
    assert res.exit_code == 0 and "│        1 │      0 │       1 │" in res.output


def test_a_corrupt_run_table_is_named_with_what_to_do(faked):
    bad = faked / "runs" / sorted(p.name for p in (faked / "runs").iterdir())[0] / "indicators.parquet"
    bad.write_bytes(bad.read_bytes()[:50])
    for args in (("analyze", faked), ("query", faked, "SELECT count(*) FROM indicators")):
        res = invoke(*args)
        no_traceback(res)
        assert res.exit_code == 1
        assert str(bad) in res.output and "--resume" in res.output
    assert not (faked / "analysis" / "report.md").exists()


def test_analyze_and_status_name_what_is_there_instead_of_a_sweep(faked, tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("x", encoding="utf-8")
    (tmp_path / "empty").mkdir()
    run = sorted((faked / "runs").iterdir())[0]
    cases = [(tmp_path / "nope", "does not exist"), (a_file, "is a file, not a sweep folder"),
             (tmp_path / "empty", "holds no sweep"), (run, f"it is a run folder: its sweep folder is {faked}"),
             (faked / "runs", f"its sweep folder is {faked}")]
    for folder, message in cases:
        for command in ("analyze", "status"):
            res = invoke(command, folder)
            no_traceback(res)
            assert res.exit_code == 2, (command, folder, res.output)  # not a sweep folder: invalid input
            assert str(folder.resolve()) in res.output and message in res.output, res.output


def test_analyze_refuses_bad_options_and_leaves_no_finished_looking_report(faked, tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("x", encoding="utf-8")
    assert invoke("analyze", faked).exit_code == 0
    assert (faked / "analysis" / "report.md").is_file()
    cases = [(("--out", a_file), 1, "is a file, not a folder"),
             (("--method", "sobol"), 2, "needs a sweep with a sobol design; this sweep's design is lhs"),
             (("-i", "localisation_rate@2099-01"), 2, "no complete run has the month 2099-01; the runs cover 2023-01–2023-03"),
             (("--prim-threshold", "nan"), 2, "expected a finite number")]
    for opts, code, message in cases:
        res = invoke("analyze", faked, *opts)
        no_traceback(res)
        assert res.exit_code == code and message in res.output, res.output
    assert a_file.read_text(encoding="utf-8") == "x"
    assert not (faked / "analysis" / "report.md").exists()  # the stale report is gone: nothing looks finished


def test_query_csv_to_a_folder_is_named(faked, tmp_path):
    res = invoke("query", faked, "SELECT 1", "--csv", tmp_path)
    no_traceback(res)
    assert res.exit_code == 2 and f"--csv {tmp_path}: is a folder" in res.output


# -- resuming a sweep whose scenario changed -------------------------------------------------------------
def test_resume_refuses_a_sweep_whose_scenario_file_changed(tmp_path):
    """Resuming after the base scenario was edited used to mix runs of both versions silently."""
    shutil.copy(TINY, tmp_path / "tiny.yaml")
    shutil.copy(DATA / "tiny_geo.yaml", tmp_path / "tiny_geo.yaml")
    spec = tmp_path / "sweep.yaml"
    spec.write_text("base: tiny.yaml\n" + HEAD + ONE_PARAM, encoding="utf-8")
    folder = fake_runs(spec, tmp_path / "sw", outcome=lambda row: 0.1)
    _, _, tasks = prepare(spec, tmp_path / "sw")
    for row in tasks.itertuples():  # record each run's scenario hash, as the runner does
        path = folder.runs / row.run_id / "manifest.json"
        man = json.loads(path.read_text())
        man["scenario"] = {"hash": load_scenario(row.scenario, list(row.overrides)).config_hash()}
        path.write_text(json.dumps(man))
    prepare(spec, tmp_path / "sw", resume=True)  # unchanged: fine
    text = (tmp_path / "tiny.yaml").read_text(encoding="utf-8")
    (tmp_path / "tiny.yaml").write_text(text.replace("count: 30", "count: 35"), encoding="utf-8")
    with pytest.raises(SweepError, match="the scenario of policy 'base' changed since the sweep began"):
        prepare(spec, tmp_path / "sw", resume=True)
    res = invoke("sweep", spec, "--out", tmp_path / "sw", "--resume", "--in-process", "--no-progress")
    no_traceback(res)
    assert res.exit_code == 1 and "new --out" in res.output
    (tmp_path / "tiny.yaml").write_text(text, encoding="utf-8")
    prepare(spec, tmp_path / "sw", resume=True)  # restored: fine again


# -- compare --------------------------------------------------------------------------------------------------
@pytest.fixture
def no_simulation(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("simulated although the command could not succeed")

    monkeypatch.setattr("experiments.compare.compare", refuse)


def test_compare_refuses_what_would_only_fail_after_every_run(tmp_path, no_simulation):
    """An output path that is a file used to fail with a traceback after all the simulations;
    an unknown indicator or year was found only after them too."""
    a_file = tmp_path / "a_file"
    a_file.write_text("x", encoding="utf-8")
    late = tmp_path / "late.yaml"
    late.write_text(TINY.read_text(encoding="utf-8").replace("start: 2023-01", "start: 2024-01")
                    .replace("end: 2023-12", "end: 2024-03").replace("tiny_geo.yaml", str(DATA / "tiny_geo.yaml")),
                    encoding="utf-8")
    base = ("compare", TINY, "-n", "1", "-w", "1", "--no-progress")
    cases = [((*base, "-o", a_file), 1, f"--out {a_file} is a file, not a folder"),
             ((*base, "-o", a_file / "sub"), 1, "cannot create the folder"),
             ((*base, "-o", tmp_path / "c", "-i", "nope"), 2, "--indicator: unknown 'nope'; allowed: localisation_rate"),
             ((*base, "-o", tmp_path / "c", "--years", "2099"), 2, "--years 2099: every scenario must simulate the year"),
             (("compare", TINY, late, "-n", "1", "--no-progress", "-o", tmp_path / "c"), 2, "no year in common")]
    for args, code, message in cases:
        res = invoke(*args)
        no_traceback(res)
        assert res.exit_code == code and message in res.output, res.output
    assert a_file.read_text(encoding="utf-8") == "x"


def test_calibration_files_refuse_nan_negative_and_repeated_values(tmp_path):
    """NaN/inf target bounds and negative seeds used to end in tracebacks after every run."""
    from experiments.calibration_spec import CalibrationError, load_calibration

    good = (ROOT / "scenarios" / "calibration" / "targets.yaml").read_text(encoding="utf-8")
    good = good.replace("scenario: ../baseline.yaml", f"scenario: {ROOT / 'scenarios' / 'baseline.yaml'}")
    cases = {
        "low: 0.07, high: 0.09": ("low: .nan, high: 0.09", "targets[0].low", "finite"),
        "seeds: [101, 102, 103, 104]": ("seeds: [101, -1]", "seeds[1]", "greater than or equal to 0"),
        "seeds: [101, 102, 103, 104]#": ("seeds: [101, 101]", "seeds[1]", "repeated seed"),
        "name: baseline_2023": ("name: ..", "name", "pattern"),
        "weight: 2}": ("weight: true}", "targets[0].weight", "number"),
    }
    for old, (new, path, message) in cases.items():
        old = old.rstrip("#")
        assert old in good
        f = tmp_path / "cal.yaml"
        f.write_text(good.replace(old, new, 1), encoding="utf-8")
        with pytest.raises(CalibrationError) as err:
            load_calibration(f)
        text = str(err.value)
        assert "cal.yaml:" in text and path in text and message in text, text
    twice = good.replace("  - {path: sourcing.history_weight", "  - {path: economy.import_markup", 1)
    f.write_text(twice, encoding="utf-8")
    with pytest.raises(CalibrationError, match=r"parameters\[1\]\.path: got 'economy.import_markup'; repeated"):
        load_calibration(f)


def test_a_calibration_report_goes_where_its_file_says(tmp_path):
    """--report used to default to docs/CALIBRATION_REPORT.md for every calibration file."""
    from experiments.calibration_spec import load_calibration

    spec = load_calibration(ROOT / "scenarios" / "calibration" / "targets.yaml")
    assert spec.report_path == (ROOT / "docs" / "CALIBRATION_REPORT.md").resolve()
    text = (ROOT / "scenarios" / "calibration" / "targets.yaml").read_text(encoding="utf-8")
    f = tmp_path / "mine.yaml"
    f.write_text(text.replace("report: ../../docs/CALIBRATION_REPORT.md\n", "").replace(
        "scenario: ../baseline.yaml", f"scenario: {ROOT / 'scenarios' / 'baseline.yaml'}"), encoding="utf-8")
    assert load_calibration(f).report_path is None  # the CLI then writes WORKDIR/report.md


def test_a_rerun_that_changes_only_the_outcomes_updates_what_analyze_reads(tmp_path):
    """The runs stay (same design); sweep.json used to keep the old outcomes, so analyze ignored the edit."""
    spec = write_sweep(tmp_path, HEAD + ONE_PARAM + "outcomes:\n  - {indicator: localisation_rate}\n")
    folder = fake_runs(spec, tmp_path / "sw", outcome=lambda row: 0.1)
    spec.write_text(spec.read_text(encoding="utf-8").replace("localisation_rate}", "employment_total}"),
                    encoding="utf-8")
    prepare(spec, tmp_path / "sw", resume=True)
    assert [o["indicator"] for o in folder.read_meta()["outcomes"]] == ["employment_total"]
    assert "employment_total" in folder.spec_copy.read_text(encoding="utf-8")


@pytest.mark.parametrize("dist", ["distribution: normal, mean: 5.0, sd: 0.01",
                                  "distribution: lognormal, median: 50.0, sd: 0.1"])
def test_a_distribution_with_no_mass_in_its_range_is_refused(tmp_path, dist):
    """Truncated to a range in its far tail, every draw used to come out at a bound."""
    body = HEAD + ("uncertain:\n  - {path: economy.export_growth, type: real, range: [0.0, 0.1], "
                   f"{dist}}}\ndesign: {{method: lhs, samples: 2}}\n")
    with pytest.raises(SweepSpecError, match=r"sweep.yaml:\d+: uncertain\[0\].*every draw would sit at a bound"):
        load_sweep(write_sweep(tmp_path, body))
    ok = body.replace("mean: 5.0", "mean: 0.05").replace("median: 50.0", "median: 0.05")
    assert load_sweep(write_sweep(tmp_path, ok)).uncertain[0].sd > 0
