"""Calibration files found wanting by fuzzing: an output that overwrites the scenario it extends,
output paths that fail only after every run, an invalid scenario blamed on the horizon, and
messages in pydantic's words rather than those of scenario and sweep files."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from experiments.calibration_spec import CalibrationError, load_calibration
from tests.conftest import TINY

GOOD = f"""name: tiny_fit
scenario: {TINY.as_posix()}
end: 2023-06
seeds: [1, 2]
report_seeds: 2
output: fitted.yaml
search: {{initial: 2, iterations: 0, seed: 1}}
parameters:
  - {{path: economy.import_markup, low: 0.05, high: 0.2}}
targets:
  - {{key: loc, indicator: localisation_rate, year: 2023, stat: mean, low: 0.05, high: 0.07, source: test}}
  - {{key: tn_emp, indicator: employment_total, province: Thái Nguyên, year: 2023, stat: last, low: 1000,
     high: 9000, source: test, weight: 2}}
"""


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def write(tmp_path: Path, text: str, name: str = "t.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def edit(old: str, new: str, text: str = GOOD) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def refused(path: Path) -> list:
    with pytest.raises(CalibrationError) as err:
        load_calibration(path)
    return err.value.errors


def one_issue(path: Path, key: str):
    """The one issue of ``path``'s calibration file, which must be at ``key``'s line."""
    issues = refused(path)
    assert len(issues) == 1, [str(i) for i in issues]
    issue = issues[0]
    text = path.read_text(encoding="utf-8")
    assert (issue.file, issue.line, issue.path) == (str(path), line_of(text, f"{key}:"), key), str(issue)
    return issue


# -- D2: an output that is the scenario, or a file of its chain ------------------------------------------------

def test_an_output_that_is_the_scenario_itself_is_refused_and_the_scenario_kept(tmp_path):
    """It was accepted; after fitting, sc.yaml was overwritten by a file saying `extends: sc.yaml`."""
    scenario = write(tmp_path, f"extends: {TINY.as_posix()}\nname: sc\n", "sc.yaml")
    before = scenario.read_text(encoding="utf-8")
    (tmp_path / "sub").mkdir()
    for spelled in ("sc.yaml", "./sub/../sc.yaml", str(scenario)):  # paths are compared resolved
        cal = write(tmp_path, edit("output: fitted.yaml", f"output: {spelled}",
                                   edit(f"scenario: {TINY.as_posix()}", "scenario: sc.yaml")))
        issue = one_issue(cal, "output")
        assert "would overwrite the scenario being calibrated" in issue.message
        assert "extends" in issue.message and str(scenario) in issue.message
    link = tmp_path / "link.yaml"
    os.symlink(scenario, link)
    cal = write(tmp_path, edit("output: fitted.yaml", "output: link.yaml",
                               edit(f"scenario: {TINY.as_posix()}", "scenario: sc.yaml")))
    assert "scenario being calibrated" in one_issue(cal, "output").message
    assert scenario.read_text(encoding="utf-8") == before


def test_an_output_in_the_scenarios_extends_chain_or_its_geography_is_refused(tmp_path):
    chain = write(tmp_path, f"extends: {TINY.as_posix()}\nname: sc\n", "sc.yaml")
    with_chain = edit(f"scenario: {TINY.as_posix()}", f"scenario: {chain.name}")
    for target, words in ((TINY, "which the scenario extends"),
                          (TINY.parent / "tiny_geo.yaml", "geography file")):
        cal = write(tmp_path, edit("output: fitted.yaml", f"output: {target.as_posix()}", with_chain))
        assert words in one_issue(cal, "output").message
    cal = write(tmp_path, edit("output: fitted.yaml", "output: t.yaml"))  # the calibration file itself
    assert "this calibration file" in one_issue(cal, "output").message


def test_a_report_that_is_the_output_or_the_scenario_is_refused(tmp_path):
    cal = write(tmp_path, GOOD + "report: fitted.yaml\n")
    assert "same file as output:" in one_issue(cal, "report").message
    cal = write(tmp_path, edit("output: fitted.yaml", "output: R.png") + "report: R.md\n")
    assert "its plot R.png (written beside it) is the same file as output:" in one_issue(cal, "report").message
    cal = write(tmp_path, GOOD + "report: R.png\n")  # the report and its plot would be one file
    assert "name it .md" in one_issue(cal, "report").message
    cal = write(tmp_path, GOOD + f"report: {TINY.as_posix()}\n")
    assert "scenario being calibrated" in one_issue(cal, "report").message


# -- D7: output paths that cannot be written -------------------------------------------------------------------

def test_outputs_that_cannot_be_written_are_refused_at_their_line(tmp_path):
    """They were accepted; every run was made, then a traceback (IsADirectoryError, FileNotFoundError)."""
    (tmp_path / "a_file").write_text("x", encoding="utf-8")
    cases = [("output", tmp_path.as_posix(), "is a folder"),
             ("output", "a_file/fitted.yaml", "a_file is a file, not a folder"),
             ("output", "/proc/no_such/fitted.yaml", "cannot be written"),
             ("report", tmp_path.as_posix(), "is a folder")]
    for key, value, words in cases:
        text = edit("output: fitted.yaml", f"output: {value}") if key == "output" else GOOD + f"report: {value}\n"
        issue = one_issue(write(tmp_path, text), key)
        assert issue.value == value and words in issue.message, str(issue)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "t.yaml"]  # nothing made while checking
    cal = write(tmp_path, edit("output: fitted.yaml", "output: new/folder/fitted.yaml"))
    assert load_calibration(cal).output_path == tmp_path / "new" / "folder" / "fitted.yaml"  # made when written
    assert not (tmp_path / "new").exists()


def _app() -> typer.Typer:
    from experiments.cli_scenarios import register

    app = typer.Typer()
    register(app)
    return app


def test_a_workdir_or_report_option_that_cannot_be_written_is_refused_before_any_run(tmp_path, monkeypatch):
    """--workdir naming a file ended in FileExistsError after the first batch of runs."""
    import experiments.calibrate as calibrate

    def no_fit(*args, **kwargs):
        raise AssertionError("calibrate ran the fit")

    monkeypatch.setattr(calibrate, "fit", no_fit)
    cal = write(tmp_path, GOOD)
    a_file = write(tmp_path, "mine", "a_file")
    runner = CliRunner()
    for args, words in ((["--workdir", str(a_file)], f"--workdir {a_file} is a file"),
                        (["--workdir", str(tmp_path / "w"), "--report", str(tmp_path)], f"--report {tmp_path} is a folder"),
                        (["--workdir", str(tmp_path / "w"), "--report", str(TINY)], "would overwrite the scenario"),
                        (["--workdir", str(tmp_path / "w"), "--report", str(tmp_path / "fitted.yaml")], "same file as output:"),
                        (["--workdir", str(a_file / "w")], "is a file, not a folder")):
        res = runner.invoke(_app(), ["calibrate", str(cal), *args, "-w", "1", "--no-progress"])
        assert res.exit_code == 1 and not isinstance(res.exception, Exception), res.output
        assert words in res.output, res.output
    assert a_file.read_text(encoding="utf-8") == "mine" and not (tmp_path / "w").exists()
    assert not (tmp_path / "fitted.yaml").exists()


def test_a_failed_write_leaves_neither_the_fitted_scenario_nor_the_report(tmp_path, monkeypatch):
    """The fitted scenario was written first, then the report: a report that failed left one without the other."""
    import experiments.calibrate as calibrate
    import experiments.calibration_report as calibration_report

    best = {"economy.import_markup": 0.1}
    history = pd.DataFrame([best | {"J": 1.0, "stage": "default"}])
    monkeypatch.setattr(calibrate, "fit", lambda *a, **k: calibrate.FitResult(best, 1.0, best, 1.0, history, 0))
    frame = pd.DataFrame({"loc": [0.06, 0.06], "tn_emp": [5000.0, 5000.0], "seed": [1, 2]}).set_index("seed")
    monkeypatch.setattr(calibrate.Evaluator, "measures", lambda self, cands, seeds, targets=None: [frame] * len(cands))

    def full_disk(table, path):
        path.write_bytes(b"half a png")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(calibration_report, "plot", full_disk)
    cal = write(tmp_path, GOOD)
    args = ["calibrate", str(cal), "--workdir", str(tmp_path / "w"), "--report", str(tmp_path / "R.md"), "-w", "1",
            "--no-progress"]
    (tmp_path / "w").mkdir()  # as the fit's runs leave it
    res = CliRunner().invoke(_app(), args)
    assert not (tmp_path / "fitted.yaml").exists() and not (tmp_path / "R.md").exists()
    assert not (tmp_path / "R.png").exists()
    assert res.exit_code == 1 and not isinstance(res.exception, Exception), res.output
    assert "No space left on device" in res.output and "journal" in res.output
    assert not [p.name for p in tmp_path.iterdir() if ".tmp" in p.name]  # no temporary file left behind
    monkeypatch.undo()
    monkeypatch.setattr(calibrate, "fit", lambda *a, **k: calibrate.FitResult(best, 1.0, best, 1.0, history, 0))
    monkeypatch.setattr(calibrate.Evaluator, "measures", lambda self, cands, seeds, targets=None: [frame] * len(cands))
    res = CliRunner().invoke(_app(), args)
    assert res.exit_code == 0, res.output
    assert "R.png" in (tmp_path / "R.md").read_text(encoding="utf-8")
    assert (tmp_path / "R.png").read_bytes().startswith(b"\x89PNG")
    assert "import_markup: 0.1" in (tmp_path / "fitted.yaml").read_text(encoding="utf-8")


# -- D12: the scenario's own problem, not the horizon ----------------------------------------------------------

def test_an_invalid_scenario_is_reported_at_its_own_line_not_blamed_on_the_horizon(tmp_path):
    bad = write(tmp_path, f"extends: {TINY.as_posix()}\nname: b\neconomy: {{import_markup: 9}}\n", "bad.yaml")
    cal = write(tmp_path, edit(f"scenario: {TINY.as_posix()}", "scenario: bad.yaml"))
    issues = refused(cal)
    assert not [i for i in issues if i.path == "end"], [str(i) for i in issues]
    own = [i for i in issues if i.file == str(bad)]
    assert [(i.line, i.path, i.value) for i in own] == [(3, "economy.import_markup", 9)]
    assert "allowed range: 0 .. 2" in own[0].message
    head = [i for i in issues if i.file == str(cal)]
    assert [(i.line, i.path) for i in head] == [(2, "scenario")] and "the scenario is invalid" in head[0].message
    # a genuine horizon problem still says so, at `end`
    cal = write(tmp_path, edit("end: 2023-06", "end: 2022-06"))
    issue = one_issue(cal, "end")
    assert "the scenario rejects this horizon" in issue.message and "start 2023-01" in issue.message


# -- D21: messages in the house format -------------------------------------------------------------------------

RAW = ("Value error", "Field required", "Extra inputs", "String should", "List should", "Input should")


@pytest.mark.parametrize("old, new, key, words", [
    ("name: tiny_fit\n", "name: tiny_fit\ncolour: red\n", "colour",
     "unknown key 'colour'; allowed keys: description, end, name, output, parameters, report"),
    ("source: test}", "source: test, colour: red}", "targets[0].colour",
     "unknown key 'colour'; allowed keys: high, indicator, key, label, low, province, source, stat, weight, year"),
    ("search: {initial: 2,", "search: {initial: 2, step: 3,", "search.step",
     "allowed keys: initial, iterations, seed"),
    ("name: tiny_fit\n", "", "name", "required key is missing"),
    ("key: loc,", "key: Loc Al,", "targets[0].key", "lower-case letters, digits and '_' starting with a letter"),
    ("name: tiny_fit", "name: .hidden", "name", "not starting with '.'"),
    ("end: 2023-06", "end: 2023-13", "end", "must look like YYYY-MM"),
    ("end: 2023-06", "end: 202306", "end", "must look like YYYY-MM"),
    ("path: economy.import_markup", "path: end", "parameters[0].path", "dotted path of a scenario value"),
    ("stat: mean", "stat: median", "targets[0].stat", "allowed values: 'mean' or 'last'"),
    ("low: 0.05, high: 0.2", "low: 0.2, high: 0.05", "parameters[0].high", "low 0.2 must be below high 0.05"),
    ("low: 0.05, high: 0.07", "low: 0.07, high: 0.05", "targets[0].high", "low 0.07 is above high 0.05"),
    ("weight: 2", "weight: -2", "targets[1].weight", "allowed range: 0 .. 100"),
    ("seeds: [1, 2]", "seeds: [1, -2]", "seeds[1]", "allowed range: 0 .. 2**63 - 1"),
    ("source: test}", "source: ''}", "targets[0].source", "must not be empty"),
    ("seeds: [1, 2]", "seeds: []", "seeds", "must list at least 1 item"),
    ("search: {initial: 2, iterations: 0, seed: 1}", "search: 5", "search",
     "must be a mapping of keys to values; allowed keys: initial, iterations, seed"),
])
def test_calibration_file_messages_are_in_the_house_format(tmp_path, old, new, key, words):
    text = edit(old, new)
    path = write(tmp_path, text)
    issues = refused(path)
    assert len(issues) == 1, [str(i) for i in issues]
    issue = issues[0]
    assert issue.path == key and issue.file == str(path), str(issue)
    # at the edited line (a key that is missing: the file's first line)
    assert issue.line == (line_of(text, new.strip().splitlines()[-1].split(",")[0]) if new else 1), str(issue)
    assert words in issue.message, str(issue)
    assert not any(raw in issue.message for raw in RAW), str(issue)


# -- fuzzing round 4: an output or report that is a user's own file ------------------------------------------
def test_an_existing_file_calibrate_did_not_write_is_never_an_output(tmp_path):
    """calibrate replaced any existing file named by output: or report: (and the PNG beside it)."""
    (tmp_path / "other.yaml").write_text("name: mine\n", encoding="utf-8")
    cal = write(tmp_path, edit("output: fitted.yaml", "output: other.yaml"))
    assert "already holds a file that calibrate did not write" in one_issue(cal, "output").message
    (tmp_path / "notes.md").write_text("my notes\n", encoding="utf-8")
    cal = write(tmp_path, GOOD + "report: notes.md\n")
    assert "calibrate did not write" in one_issue(cal, "report").message
    (tmp_path / "essay.png").write_bytes(b"\x89PNG\r\n\x1a\n my picture")  # the plot beside essay.md
    cal = write(tmp_path, GOOD + "report: essay.md\n")
    assert "its plot essay.png (written beside it) already holds a file" in one_issue(cal, "report").message
    assert (tmp_path / "other.yaml").read_text(encoding="utf-8") == "name: mine\n"


def test_files_calibrate_wrote_may_be_written_again(tmp_path):
    from experiments.calibration_spec import CALIBRATE_MARK

    (tmp_path / "fitted.yaml").write_text(f"# {CALIBRATE_MARK} t.yaml` - do not edit by hand.\n", encoding="utf-8")
    (tmp_path / "R.md").write_text(f"# Calibration report\n\n{CALIBRATE_MARK}` from `t.yaml`\n", encoding="utf-8")
    (tmp_path / "R.png").write_bytes(b"\x89PNG\r\n\x1a\n an older plot")  # counts through its report
    load_calibration(write(tmp_path, GOOD + "report: R.md\n"))
