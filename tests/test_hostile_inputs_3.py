"""Damaged or hostile results: every reader (store, dashboard data layer, status/query/analyze)
names the file - and the key or column - and what was expected, exits non-zero without a
traceback, and never writes or deletes anything of the user's."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from dashboard import compare as dash_compare
from dashboard import data as dash_data
from dashboard import frames as dash_frames
from dashboard.i18n import make_tr
from experiments import store
from experiments.store import StoreError, is_complete, list_runs, read_run, write_run
from tests.cli_helpers import invoke, no_traceback
from tests.sweep_helpers import HEAD, ONE_PARAM, fake_runs, write_sweep


def a_run(tmp_path: Path, name: str = "r") -> Path:
    ind = pd.DataFrame({"step": [1, 2], "date": ["2023-01", "2023-02"], "localisation_rate": [0.07, 0.08]})
    return write_run(tmp_path, name, {"scenario": {"name": "s", "hash": "ab"}, "seed": 1, "start": "2023-01",
                                      "end": "2023-02"}, {"indicators": ind})


def a_dashboard_run(tmp_path: Path, name: str, dates: tuple[str, ...] = ("2023-01", "2023-02", "2023-03")) -> Path:
    """A run with every table the dashboard reads: the indicators of ``dates``, the others empty."""
    dtype = {"number": "float64", "integer": "int64", "text": "str"}
    tables = {t: pd.DataFrame({c: pd.Series(dtype=dtype[k]) for c, k in cols.items()})
              for t, cols in store.TABLE_COLUMNS.items()}
    tables["indicators"] = pd.DataFrame({c: 0.1 for c in store.TABLE_COLUMNS["indicators"]} | {
        "step": range(1, len(dates) + 1), "date": list(dates)})
    return write_run(tmp_path, name, {"scenario": {"name": "s", "hash": "ab"}, "seed": 1, "start": dates[0],
                                      "end": dates[-1]}, tables)


def rendered_text(element) -> str:
    """The text a dashboard component shows, one line per string (rendered without a browser)."""
    import solara

    def texts(widget) -> list[str]:
        return [t for c in getattr(widget, "children", ()) for t in ([c] if isinstance(c, str) else texts(c))]

    box, _ = solara.render(element, handle_error=False)
    return "\n".join(texts(box))


@pytest.fixture
def faked(tmp_path: Path) -> Path:
    spec = write_sweep(tmp_path, HEAD + ONE_PARAM)
    fake_runs(spec, tmp_path / "sw", outcome=lambda row: 0.1 + row["export_growth"])
    return tmp_path / "sw"


# -- manifests -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, needle", [
    ("", "is not valid JSON"),
    ("[]", "a JSON object is expected"),
    ('{"status": "complete", "tables": {}, "x": ' + "[" * 100000 + "]" * 100000 + "}", "not a usable JSON manifest"),
    ('{"status": "complete", "tables": ["indicators"]}', "tables is a list"),
    ('{"status": "complete", "tables": {"indicators": 2}, "scenario": "s"}', "scenario is a string"),
    ('{"status": "complete", "tables": {"indicators": 2}, "seed": NaN}', "seed is a number nan"),
    ('{"status": "complete", "tables": {"indicators": 2}, "run_id": 5}', "run_id is int 5"),
])
def test_a_damaged_manifest_is_named_and_never_crashes_a_listing(tmp_path, text, needle):
    """A deeply nested manifest crashed list_runs (RecursionError); a wrong-shaped one was taken for a
    complete run and crashed the dashboard's run list (scenario as a string: AttributeError)."""
    run = a_run(tmp_path)
    (run / "manifest.json").write_text(text, encoding="utf-8")
    assert not is_complete(run) and list_runs(tmp_path) == []
    assert dash_data.find_runs(tmp_path) == []
    with pytest.raises(StoreError) as err:
        read_run(run)
    assert str(run / "manifest.json") in str(err.value) and needle in str(err.value)
    assert (run / "manifest.json").read_text(encoding="utf-8") == text  # nothing rewritten


def test_a_run_of_a_newer_format_is_refused_not_misread(tmp_path):
    run = a_run(tmp_path)
    assert json.loads((run / "manifest.json").read_text())["format_version"] == store.FORMAT_VERSION
    man = json.loads((run / "manifest.json").read_text())
    (run / "manifest.json").write_text(json.dumps({**man, "format_version": store.FORMAT_VERSION + 1}))
    assert is_complete(run)  # complete: a sweep never remakes (deletes) it
    with pytest.raises(StoreError, match=r"manifest.json: format_version is 2; .*upgrade clusterlink"):
        read_run(run)


# -- tables ----------------------------------------------------------------------------------------------
def test_a_table_of_the_wrong_schema_names_the_file_and_the_column(tmp_path):
    """A step column stored as text sorted months as "1", "10", "2" without a word; a missing step
    column was a bare KeyError('step') in the dashboard."""
    run = a_run(tmp_path)
    ind = pd.read_parquet(run / "indicators.parquet")
    ind.astype({"step": str}).to_parquet(run / "indicators.parquet")
    with pytest.raises(StoreError, match=r"indicators\.parquet: column 'step' holds .*string; integer is expected"):
        read_run(run).table("indicators")
    ind.drop(columns=["step"]).to_parquet(run / "indicators.parquet")
    with pytest.raises(StoreError, match=r"indicators\.parquet: column 'step' is missing; it has: date"):
        read_run(run).table("indicators")


def test_the_dashboard_names_a_run_without_the_columns_or_tables_it_draws(tmp_path):
    run = a_run(tmp_path)
    with pytest.raises(StoreError, match=r"r/indicators_province\.parquet is missing; the run folder has: indicators"):
        dash_compare.indicators_of(run)
    need = {"indicators": dash_data.DASHBOARD_NEEDS["indicators"]}
    with pytest.raises(StoreError, match=r"indicators\.parquet: column 'localisation_rate_input' is missing"):
        read_run(run, need=need).table("indicators")
    assert [r.run_id for r in dash_data.find_runs(tmp_path)] == ["r"]  # listed, so its message can be shown


def test_the_dashboard_says_which_run_folders_it_leaves_out_and_why(tmp_path):
    """A damaged run folder was silently missing from the run pickers: the user could not tell why."""
    from dashboard.widgets import SkippedRuns

    a_run(tmp_path, "good")
    (a_run(tmp_path, "bad") / "manifest.json").write_text("{", encoding="utf-8")
    (a_run(tmp_path / "sweep" / "runs", "gone") / "indicators.parquet").unlink()
    newer = a_run(tmp_path, "newer")
    man = json.loads((newer / "manifest.json").read_text())
    (newer / "manifest.json").write_text(json.dumps({**man, "format_version": store.FORMAT_VERSION + 1}))
    (tmp_path / "notes").mkdir()  # not a run folder: not reported
    runs, skipped = dash_data.scan_runs(tmp_path)
    assert [r.run_id for r in runs] == ["good"] == [r.run_id for r in dash_data.find_runs(tmp_path)]
    assert [s.folder for s in skipped] == ["newer", "bad", "sweep/runs/gone"]
    for s in skipped[1:]:
        # the store's own message, without its folder a second time
        assert s.problem == store.manifest_problem(s.path).removeprefix(f"{s.path}: ")
        assert not s.problem.startswith(f"{s.path}: ")
    assert "manifest.json is not valid JSON" in skipped[1].problem
    assert "indicators.parquet is missing" in skipped[2].problem
    assert "format_version is 2" in skipped[0].problem
    for lang, words in (("en", "Not listed"), ("vi", "Không liệt kê")):
        text = rendered_text(SkippedRuns(skipped, make_tr(lang)))
        assert words in text and "sweep/runs/gone" in text and skipped[1].problem in text
    assert rendered_text(SkippedRuns([], make_tr("en"))) == ""
    assert skipped[1].problem in rendered_text(dash_compare.Compare(runs, make_tr("en"), "en", skipped))


@pytest.mark.parametrize("damage, needle", [
    (lambda ind: pd.concat([ind, ind.iloc[[1]]]), "the date 2023-02 is in 2 rows"),  # a row merged in twice
    (lambda ind: ind.assign(step=[1, 2, 2]), "the step 2 is in 2 rows"),
])
def test_a_repeated_month_in_the_indicators_is_named_not_a_crash(tmp_path, damage, needle):
    """Compare crashed (ValueError: cannot reindex on an axis with duplicate labels) on a group with a
    run whose indicators have a month twice, and drew that run a month too long on its own; playback
    showed the month twice on its slider."""
    a_dashboard_run(tmp_path, "a")
    run = a_dashboard_run(tmp_path, "b")
    damage(pd.read_parquet(run / "indicators.parquet")).to_parquet(run / "indicators.parquet", index=False)
    runs = dash_data.find_runs(tmp_path)
    assert [r.run_id for r in runs] == ["a", "b"]  # listed, so its message can be shown
    message = re.escape(f"{run / 'indicators.parquet'}: {needle}; a run has one row per month")
    for selected in ({"seeds": runs}, {"a": runs[:1], "b": runs[1:]}):  # one group's fan; two groups' lines
        with pytest.raises(StoreError, match=message):
            dash_compare.draw_compare(selected, "localisation_rate", make_tr("en"))
    with pytest.raises(StoreError, match=message):
        dash_frames.run_index(run)
    assert dash_frames.run_index(tmp_path / "a").n_steps == 3
    text = rendered_text(dash_compare.Compare(runs, make_tr("en"), "en"))
    assert f"Something went wrong: {run / 'indicators.parquet'}: {needle}" in text


# -- sweep folders ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("damage, needle", [
    (lambda sw: (sw / "design.parquet").write_bytes(b""), "design.parquet cannot be read"),
    (lambda sw: pd.read_parquet(sw / "design.parquet").drop(columns=["seed"]).to_parquet(sw / "design.parquet"),
     "design.parquet: column 'seed' is missing"),
    (lambda sw: (sw / "journal.jsonl").write_text('[1]\n{"status": "failed"}\n\xff\n'), None),
])
def test_a_damaged_sweep_folder_is_an_error_naming_the_file(faked, damage, needle):
    """A zero-byte design or one without a column, or a journal line that is not a record, ended in
    tracebacks (ArrowInvalid, KeyError, AttributeError) in status, query and analyze."""
    damage(faked)
    for args in (("status", faked), ("query", faked, "SELECT count(*) FROM indicators"), ("analyze", faked)):
        res = invoke(*args)
        no_traceback(res)
        if needle is None:
            assert res.exit_code == 0, res.output
        else:
            assert res.exit_code == 1 and str(faked) in res.output and needle in res.output, res.output


def test_analyze_names_a_damaged_sweep_json_key(faked):
    (faked / "sweep.json").write_text('{"name": "x"}', encoding="utf-8")
    res = invoke("analyze", faked)
    no_traceback(res)
    assert res.exit_code == 1 and f"{faked / 'sweep.json'}: design is missing; dict is expected" in res.output


def test_a_stray_folder_in_runs_does_not_break_queries(faked):
    """The views globbed runs/*/TABLE.parquet: a stray folder or a damaged pending run broke every query."""
    (faked / "runs" / "mine").mkdir()
    (faked / "runs" / "mine" / "indicators.parquet").write_text("not parquet", encoding="utf-8")
    res = invoke("query", faked, "SELECT count(DISTINCT run_id) AS n FROM indicators")
    no_traceback(res)
    assert res.exit_code == 0 and res.output.split()[-1] == "2", res.output
    assert (faked / "runs" / "mine" / "indicators.parquet").read_text(encoding="utf-8") == "not parquet"


@pytest.mark.parametrize("sql, needle", [
    ("COPY (SELECT 1) TO '{out}'", "not a SELECT statement but COPY"),
    ("SELECT 1; COPY (SELECT 2) TO '{out}'", "holds 2 statements"),
    ("ATTACH '{out}' AS x", "not a SELECT statement but ATTACH"),
])
def test_a_query_cannot_write_files(faked, tmp_path, sql, needle):
    """`clusterlink query` ran COPY/ATTACH: it wrote (or overwrote) files anywhere."""
    out = tmp_path / "precious.txt"
    out.write_text("precious", encoding="utf-8")
    res = invoke("query", faked, sql.format(out=out))
    no_traceback(res)
    assert res.exit_code == 2 and needle in res.output, res.output  # not a SELECT: invalid input
    assert out.read_text(encoding="utf-8") == "precious"


def test_query_names_a_view_no_run_has_and_an_unwritable_csv(faked):
    res = invoke("query", faked, "SELECT * FROM contracts")
    no_traceback(res)
    assert res.exit_code == 2 and "no complete run of" in res.output and "contracts.parquet" in res.output
    res = invoke("query", faked, "SELECT error('boom')")  # the query's own error: invalid input
    assert res.exit_code == 2 and "boom" in res.output and "cannot read the run tables" not in res.output
    if Path("/sys/kernel").is_dir():  # a folder nobody, not even root, can create files in
        res = invoke("query", faked, "SELECT 1", "--csv", "/sys/kernel/x.csv")
        no_traceback(res)
        assert res.exit_code == 1 and "--csv /sys/kernel/x.csv:" in res.output, res.output
        assert "cannot read the run tables" not in res.output and "damaged" not in res.output


def test_a_linked_temporary_name_is_neither_followed_nor_reported(tmp_path):
    """A ``.tmp-*`` link (writers only ever make folders there) is not followed: a write replaces
    only the link's name, and cleaning leaves it and does not report it as removed."""
    import os

    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    out = tmp_path / "results"
    out.mkdir()
    (out / f"{store.TMP_PREFIX}stale-999999999").symlink_to(target, target_is_directory=True)
    assert store.clean_stale_tmp(out) == []
    (out / f"{store.TMP_PREFIX}r-{os.getpid()}").symlink_to(target, target_is_directory=True)
    a_run(out, "r")
    assert is_complete(out / "r") and (target / "keep.txt").read_text() == "mine"
