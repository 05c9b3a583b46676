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
