"""Hostile input, part 7 (fuzzing round 4): YAML 1.1's octal and base-60 numbers no longer change
what was written; a nested override of a swept path is refused like a dotted one; a sweep re-run
remakes its own damaged files; number errors say what number is wanted; compare's years once each."""

from __future__ import annotations

import re

import pytest

from model.scenario import load_scenario
from model.yamlio import read_yaml
from tests.conftest import TINY
from tests.test_hostile_inputs import TINY_TEXT, problems, write


@pytest.mark.parametrize("written, value", [("017", 17), ("-017", -17), ("0o17", 15), ("0", 0), ("1:30", "1:30"),
                                            ("190:20:30.15", "190:20:30.15"), ("'017'", "017")])
def test_yaml_1_1_octal_and_base_60_read_as_written(tmp_path, written, value):
    """PyYAML read 017 as 15 and 1:30 as 90, and every command took them without a word."""
    path = tmp_path / "v.yaml"
    path.write_text(f"v: {written}\n", encoding="utf-8")
    assert read_yaml(path)[0] == {"v": value}


def test_a_leading_zero_count_is_the_count_written(tmp_path):
    sc = load_scenario(write(tmp_path, TINY_TEXT.replace("count:", "count: 017 #", 1)))
    assert sc.firm_groups[0].count == 17
    assert load_scenario(TINY, ["firm_groups.0.count=017"]).firm_groups[0].count == 17


def test_a_time_like_label_stays_text_and_a_time_like_count_is_refused(tmp_path):
    assert load_scenario(TINY, ["firm_groups.0.label=12:30"]).firm_groups[0].label == "12:30"
    issue, = problems(write(tmp_path, TINY_TEXT.replace("count:", "count: 1:30 #", 1)))
    assert issue.path == "firm_groups[0].count" and "'1:30'" in str(issue)


@pytest.mark.parametrize("where, written", [
    ("policies[1].set.economy.export_growth",
     "policies:\n  - name: a\n  - name: b\n    set:\n      economy:\n        export_growth: 0.05\n"),
    ("set.economy.export_growth", "policies: [{name: a}, {name: b}]\nset: {economy: {export_growth: 0.03}}\n"),
])
def test_a_nested_override_of_a_swept_path_is_refused_like_a_dotted_one(tmp_path, where, written):
    """`set: {economy: {export_growth: 0.05}}` got past the check that refuses
    `economy.export_growth: 0.05`, and the sweep's values silently replaced it in every run."""
    from tests.sweep_helpers import write_sweep
    from tests.test_sweep_cli import BODY, line_of, sweep_error

    path = write_sweep(tmp_path, BODY.replace("policies: [{name: a}, {name: b}]\n", written))
    text = sweep_error(path)
    assert f"{path}:{line_of(path, 'export_growth: 0.0')}: {where}:" in text, text
    assert "sets economy.export_growth, which is also an uncertain parameter (uncertain[0])" in text



@pytest.mark.parametrize("damage", ["delete", "garble"])
def test_a_rerun_remakes_the_sweeps_own_files_and_says_so(tmp_path, damage):
    """With points.parquet or sweep.json deleted or garbled, a re-run said '4/4 complete' and left
    the folder one that analyze refused; both follow from the sweep file and are remade."""
    import json

    import pandas as pd

    from experiments.sweep import run_sweep
    from experiments.sweep_index import require_sweep
    from tests.test_sweep_run import sweep_file

    spec, out = sweep_file(tmp_path, samples=2, end="2023-02"), tmp_path / "out"
    run_sweep(spec, out, executor="inprocess", progress=False)
    points, meta = pd.read_parquet(out / "points.parquet"), json.loads((out / "sweep.json").read_text())
    for name in ("points.parquet", "sweep.json"):
        (out / name).unlink() if damage == "delete" else (out / name).write_bytes(b"junk")
    warnings: list[str] = []
    again = run_sweep(spec, out, executor="inprocess", progress=False, on_warning=warnings.append)
    assert again.ran == 0 and again.complete == again.total
    assert sorted(w.split(" was missing")[0] for w in warnings) == sorted(str(out / n) for n in
                                                                         ("points.parquet", "sweep.json"))
    require_sweep(out)
    pd.testing.assert_frame_equal(pd.read_parquet(out / "points.parquet"), points)
    remade = json.loads((out / "sweep.json").read_text())
    assert {k: v for k, v in remade.items() if k != "created"} == {k: v for k, v in meta.items() if k != "created"}


@pytest.mark.parametrize("written, words", [
    ("replications: 1e0", "a whole number is expected, written without a decimal point or exponent"),
    ("replications: 2.5", "a whole number is expected, not 2.5"),
    ("replications: '2'", "a number is expected, not the text '2' (remove the quotes)"),
])
def test_a_sweep_count_says_what_number_it_wants(tmp_path, written, words):
    """Sweep and calibration files said only 'Input should be a valid integer'."""
    from experiments.sweep_spec import SweepSpecError, load_sweep
    from tests.sweep_helpers import write_sweep
    from tests.test_sweep_cli import BODY

    path = write_sweep(tmp_path, BODY.replace("seed: 5", f"seed: 5\n{written}"))
    with pytest.raises(SweepSpecError) as err:
        load_sweep(path)
    assert "replications: got " in str(err.value) and words in str(err.value), str(err.value)


def test_a_fractional_count_in_a_scenario_says_whole_number():
    with pytest.raises(Exception, match=re.escape("firm_groups[0].count: got 30.5; a whole number is expected, not 30.5")):
        load_scenario(TINY, ["firm_groups.0.count=30.5"])


def test_compare_years_given_twice_are_reported_once():
    """`compare --years 2023,2023` reported the year, and its partial-year note, twice."""
    from experiments.cli_scenarios import _split_years

    assert _split_years("2030, 2025,2030,2025") == [2030, 2025]
