"""User-facing polish of the command line: help text that keeps its brackets, compare's partial
years, one error per sweep-file mistake, consistent options and exit codes of the sweep commands,
readable empty query results, and the README's command table."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
import typer

from experiments import cli
from experiments import compare as comparing
from tests.cli_helpers import invoke, no_traceback
from tests.conftest import ROOT, TINY
from tests.sweep_helpers import HEAD, ONE_PARAM, fake_runs, write_sweep

EXIT_FAILED, EXIT_INVALID = 1, 2


# -- 1. --help keeps text in square brackets ------------------------------------------------------------
def _squeeze(text: str) -> str:
    """The text without whitespace and box drawing (the help's table wraps and frames it)."""
    return re.sub(r"[\s│╭╮╰╯─]", "", text)


def test_every_help_string_keeps_its_bracketed_text(monkeypatch):
    """Rich read `[middle and last year]` etc. as markup and dropped it from `--help`."""
    monkeypatch.setenv("COLUMNS", "200")
    group = typer.main.get_command(cli.app)
    checked = []
    for name, command in group.commands.items():
        texts = [command.help or ""] + [getattr(p, "help", None) or "" for p in command.params]
        parts = [b for t in texts for b in re.findall(r"\[[^\]]*\]", t.replace("\\[", "["))]
        if not parts:
            continue
        res = invoke(name, "--help")
        assert res.exit_code == 0, res.output
        shown = _squeeze(res.output)
        for part in parts:
            assert _squeeze(part) in shown, f"clusterlink {name} --help drops {part!r}:\n{res.output}"
            checked.append(part)
    for needle in ("[the main ones]", "[results/calibration/NAME]", "[@YYYY-MM|@end]"):
        assert needle in checked


# -- 2. compare and part-years ----------------------------------------------------------------------------
def _monthly(*spans: tuple[str, str, str]) -> pd.DataFrame:
    """Monthly rows of scenarios, each (name, first month, last month)."""
    return pd.concat([pd.DataFrame({"scenario": sc, "seed": 1,
                                    "date": pd.period_range(a, b, freq="M").strftime("%Y-%m")})
                      for sc, a, b in spans], ignore_index=True)


def test_default_years_leave_out_an_incomplete_year():
    assert comparing.default_years(_monthly(("a", "2023-01", "2024-02"))) == [2023]
    assert comparing.default_years(_monthly(("a", "2023-01", "2030-12"))) == [2027, 2030]
    assert comparing.default_years(_monthly(("a", "2023-07", "2027-03"))) == [2025, 2026]  # part-years at both ends
    # a run shorter than a year has no whole year: its only year is still reported
    assert comparing.default_years(_monthly(("a", "2023-01", "2023-06"))) == [2023]
    # a year is whole only if every scenario simulates all of it
    assert comparing.default_years(_monthly(("a", "2023-01", "2024-12"), ("b", "2023-01", "2024-06"))) == [2023]


def test_a_partial_year_gets_a_note_naming_its_months():
    notes = comparing.partial_year_notes(_monthly(("a", "2023-01", "2024-02")), [2023, 2024])
    assert len(notes) == 1 and "2024" in notes[0] and "Jan–Feb" in notes[0] and "2 of 12 months" in notes[0]
    mixed = comparing.partial_year_notes(_monthly(("a", "2023-01", "2023-12"), ("b", "2023-01", "2023-03")), [2023])
    assert len(mixed) == 1 and "a covers Jan–Dec" in mixed[0] and "b covers Jan–Mar" in mixed[0]


def test_compare_reports_whole_years_and_flags_a_partial_one(tmp_path):
    base = ("compare", TINY, "-n", "1", "-w", "1", "--no-progress", "--set", "end=2024-02", "-i", "localisation_rate")
    res = invoke(*base, "-o", tmp_path / "a")
    assert res.exit_code == 0, res.output
    assert set(pd.read_csv(tmp_path / "a" / "summary.csv")["year"]) == {2023}  # not Jan–Feb 2024 alone
    assert "partial year" not in res.output
    assert "and 1 fan chart in" in res.output  # one chart: singular
    res = invoke(*base, "--years", "2023,2024", "-o", tmp_path / "b")
    assert res.exit_code == 0, res.output
    assert "note: 2024 is a partial year" in res.output and "Jan–Feb" in res.output
    assert "2023 is a partial year" not in res.output


# -- 3. one sweep-file mistake, one error -----------------------------------------------------------------
TWO_POLICIES = "policies:\n  - name: a\n  - name: b\n    set: {economy.import_markup: 0.1}\n"


def test_a_typo_in_an_uncertain_path_is_reported_once_at_the_parameter(tmp_path):
    spec = write_sweep(tmp_path, HEAD + TWO_POLICIES + ONE_PARAM.replace("export_growth", "export_grwth"))
    res = invoke("sweep", spec, "--out", tmp_path / "sw", "--in-process", "--no-progress")
    no_traceback(res)
    assert res.exit_code == EXIT_INVALID
    assert "uncertain[0].path: got 'economy.export_grwth'" in res.output
    assert "policies[" not in res.output and "rejects this override" not in res.output, res.output


def test_a_bad_policy_override_is_still_reported_beside_a_bad_parameter(tmp_path):
    body = HEAD + TWO_POLICIES.replace("import_markup", "import_markp") + ONE_PARAM.replace("export_growth", "export_grwth")
    spec = write_sweep(tmp_path, body)
    res = invoke("sweep", spec, "--out", tmp_path / "sw", "--in-process", "--no-progress")
    assert res.exit_code == EXIT_INVALID
    assert "uncertain[0].path" in res.output
    assert "policies[1].set" in res.output and "import_markp" in res.output
    assert "policies[0]" not in res.output, res.output


# -- 4./5. analyze, query, status ---------------------------------------------------------------------------
@pytest.fixture
def faked(tmp_path: Path) -> Path:
    """A sweep folder of 2 fake complete, journalled runs (indicators: localisation_rate, n_fdi_firms)."""
    folder = fake_runs(write_sweep(tmp_path, HEAD + ONE_PARAM), tmp_path / "sw", outcome=lambda r: 0.1)
    with open(folder.journal, "a", encoding="utf-8") as fh:
        for run in sorted(folder.runs.iterdir()):
            fh.write(json.dumps({"run_id": run.name, "status": "complete", "error": None, "traceback": None,
                                 "started": 1.0, "finished": 2.0, "wall_time_s": 1.0, "worker": "w"}) + "\n")
    return folder.root


def test_analyze_o_is_the_output_folder_as_in_the_other_commands(faked, tmp_path):
    res = invoke("analyze", faked, "-i", "localisation_rate@2023-02", "-o", tmp_path / "report")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "report" / "report.md").is_file() and not (faked / "analysis").exists()
    res = invoke("analyze", faked, "-o", "localisation_rate@2023-02")  # the old meaning of -o
    assert res.exit_code == EXIT_INVALID and "--outcome or -i" in res.output, res.output
    assert not Path("localisation_rate@2023-02").exists()


def test_an_unknown_outcome_lists_only_indicators(faked):
    res = invoke("analyze", faked, "-i", "no_such_thing")
    no_traceback(res)
    assert res.exit_code == EXIT_INVALID
    listed = res.output.split("indicators.parquet has:")[1].split()
    listed = [w.strip(",") for w in listed]
    assert "localisation_rate" in listed and "n_fdi_firms" in listed
    for not_an_indicator in ("export_growth", "step", "date", "run_id", "policy", "seed"):
        assert not_an_indicator not in listed, res.output


def test_bad_input_to_the_sweep_commands_exits_2(faked, tmp_path):
    cases = [("query", faked, "SELECT nope FROM runs"), ("query", faked, "SELEC 1"),
             ("query", faked, "COPY (SELECT 1) TO 'x.csv'"), ("query", faked, "SELECT 1", "--csv", tmp_path),
             ("query", tmp_path / "nope", "SELECT 1"), ("analyze", tmp_path / "nope"), ("status", tmp_path / "nope"),
             ("analyze", faked, "--method", "bogus"), ("analyze", faked, "-i", "localisation_rate@2099-01"),
             ("status", faked, "--traceback", "no-such-run")]
    for args in cases:
        res = invoke(*args)
        no_traceback(res)
        assert res.exit_code == EXIT_INVALID and "error:" in res.output, (args, res.output)
    # work that cannot be done is still 1: a damaged run table
    table = sorted((faked / "runs").iterdir())[0] / "indicators.parquet"
    table.write_bytes(table.read_bytes()[:50])
    res = invoke("query", faked, "SELECT count(*) FROM indicators")
    assert res.exit_code == EXIT_FAILED and str(table) in res.output, res.output


def test_a_query_without_rows_prints_its_header(faked):
    res = invoke("query", faked, "SELECT run_id, policy FROM runs WHERE false")
    assert res.exit_code == 0, res.output
    assert "Empty DataFrame" not in res.output and "Index: []" not in res.output
    assert res.output.splitlines() == ["run_id  policy", "(no rows)"]


def test_an_out_that_cannot_be_created_names_only_out(tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("x", encoding="utf-8")
    res = invoke("run", TINY, "--seed", 1, "--out", a_file / "sub", "--no-progress")
    no_traceback(res)
    assert res.exit_code == EXIT_FAILED and "cannot create the results folder" in res.output
    assert "choose another --out" in res.output and "--run-id" not in res.output


# -- 6. README --------------------------------------------------------------------------------------------
def test_the_readme_command_table_has_every_command():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Command line", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `clusterlink ")]
    for name in typer.main.get_command(cli.app).commands:
        assert any(re.search(rf"`clusterlink [^`]*\b{name}\b", row) for row in rows), f"{name} is not in the table"


def test_query_limit_refuses_a_negative_count_and_counts_the_rest(faked):
    """--limit -1 printed all rows but one and '... 5 more rows' of a 4-row result."""
    res = invoke("query", faked, "SELECT run_id FROM runs", "--limit", "-1")
    no_traceback(res)
    assert res.exit_code == EXIT_INVALID and "--limit" in res.output and "greater than or equal to 0" in res.output
    res = invoke("query", faked, "SELECT run_id FROM runs LIMIT 2", "--limit", "1")
    assert res.exit_code == 0 and res.output.splitlines()[-1] == "... 1 more row (use --limit or --csv)", res.output
