"""Hostile input, part 8 (fuzzing round 5): impossible calendar dates get the month message, not a
traceback; a sweep never overwrites files of the user's in its --out; a budget on a lever that
spends nothing, works that cost without doing anything and a relocation without its other half are
refused; sweep paths take the form messages print; query --csv writes only CSV, elsewhere than
the sweep's own files."""

from __future__ import annotations

import pytest

from model.scenario import load_scenario
from tests.cli_helpers import invoke, no_traceback
from tests.conftest import TINY
from tests.test_hostile_inputs import TINY_TEXT, problems, write


# -- dates ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("date", ["2023-02-30", "2023-13-01", "2023-12-15"])
def test_a_calendar_date_gets_the_month_message_in_a_file_and_in_set(tmp_path, date):
    """PyYAML turned 2023-02-30 into a ValueError traceback (exit 1) from its timestamp constructor."""
    path = write(tmp_path, TINY_TEXT.replace("end: 2023-12", f"end: {date}"))
    res = invoke("validate", path)
    no_traceback(res)
    assert res.exit_code == 2 and f"{path}:4: end: got '{date}'; must look like YYYY-MM" in res.output, res.output
    issue, = problems(TINY, (f"end={date}",))
    assert issue.path == "end" and repr(date) in str(issue)


# -- sweep --out ------------------------------------------------------------------------------------------
def _sweep(tmp_path, out):
    from tests.sweep_helpers import write_sweep
    from tests.test_sweep_cli import BODY

    return invoke("sweep", write_sweep(tmp_path, "set: {end: 2023-02}\n" + BODY), "--out", out, "--in-process")


@pytest.mark.parametrize("name, text", [("sweep.yaml", "my own notes\n"), ("sweep.json", '{"mine": 1}'),
                                        ("manifest.json", '{"a run": true}'), ("journal.jsonl", "x\n")])
def test_a_sweep_never_overwrites_or_mixes_with_files_of_the_users(tmp_path, name, text):
    """A folder holding a sweep.yaml (or sweep.json) that no sweep wrote had it replaced by the sweep's."""
    out = tmp_path / "out"
    out.mkdir()
    (out / name).write_text(text)
    res = _sweep(tmp_path, out)
    no_traceback(res)
    words = " ".join(res.output.split())
    assert res.exit_code == 1 and f"holds {name}" in words and "choose another --out" in words, res.output
    assert sorted(p.name for p in out.iterdir()) == [name] and (out / name).read_text() == text


def test_a_sweep_still_completes_its_own_half_made_folder_and_sits_beside_notes(tmp_path):
    """The start of a sweep's own creation (its copy of the sweep file, an empty runs/) is taken up,
    and a file of another name is left beside the sweep."""
    from tests.sweep_helpers import write_sweep
    from tests.test_sweep_cli import BODY

    path = write_sweep(tmp_path, "set: {end: 2023-02}\n" + BODY)
    out = tmp_path / "out"
    (out / "runs").mkdir(parents=True)
    (out / "sweep.yaml").write_bytes(path.read_bytes())
    (out / "notes.txt").write_text("mine")
    res = invoke("sweep", path, "--out", out, "--in-process")
    assert res.exit_code == 0, res.output
    assert (out / "design.parquet").is_file() and (out / "notes.txt").read_text() == "mine"


# -- levers -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("block", [
    "{type: export_demand_shock, magnitude: -0.3, budget: 0}",
    "{type: lead_firm_exit, firm: Lead A, downsizing: 0.5, budget: 10}",
    "{type: import_cost_spike, magnitude: 0.5, budget: 0}",
    "{type: environmental_standard, budget: 0}",
])
def test_a_budget_on_a_lever_that_spends_nothing_is_refused(tmp_path, block):
    """`budget: 0` silently switched these blocks off (a spend of 0 counted as the budget used up)."""
    text = TINY_TEXT + f"policies:\n  - {block}\n"
    issue, = problems(write(tmp_path, text))
    assert issue.path == "policies[0].budget" and issue.line == len(text.splitlines())
    assert "spends no public money" in issue.message


def test_the_same_levers_without_a_budget_still_load(tmp_path):
    text = TINY_TEXT + ("policies:\n  - {type: export_demand_shock, magnitude: -0.3}\n"
                        "  - {type: import_cost_spike, magnitude: 0.5}\n")
    assert len(load_scenario(write(tmp_path, text)).policies) == 2


def _infra(works: str) -> str:
    return TINY_TEXT + f"policies:\n  - type: infrastructure\n{works}"


def test_opening_a_park_already_open_is_refused(tmp_path):
    """park_a is open from the start; 'opening' it charged the block for its free land and did nothing."""
    text = _infra("    park_openings: [{location: park_a, opens: 2023-06}]\n")
    issue, = problems(write(tmp_path, text))
    assert issue.path == "policies[0].park_openings[0].location" and "already open" in issue.message
    assert "park_expansions" in issue.message


def test_opening_a_planned_park_earlier_is_still_allowed(tmp_path):
    geo = (tmp_path / "tiny_geo.yaml")
    path = write(tmp_path, _infra("    park_openings: [{location: park_b, opens: 2023-03}]\n"))
    geo.write_text(geo.read_text().replace("occupied_ha: 20}", "occupied_ha: 0, opens: 2024-06}"))
    assert load_scenario(path).policies[0].park_openings[0].opens == "2023-03"


def test_a_road_from_a_district_to_itself_is_refused(tmp_path):
    text = _infra("    roads: [{a: d_a, b: d_a, date: 2023-06, factor: 0.8}]\n")
    issue, = problems(write(tmp_path, text))
    assert issue.path == "policies[0].roads[0].b" and "two different districts" in issue.message


@pytest.mark.parametrize("keys, blamed, words", [
    ("relocate_by: 2025-12", "relocate_by", "relocate_from lists no district"),
    ("relocate_from: [d_a]", "relocate_from", "needs relocate_by"),
    ("relocate_from: [d_a], relocate_by: 2022-12", "relocate_by", "before the block's start"),
    ("relocate_from: [d_a], relocate_by: 2023-12, end: 2023-06", "relocate_by", "after the block's end"),
])
def test_a_relocation_needs_both_its_districts_and_a_deadline_in_the_window(tmp_path, keys, blamed, words):
    """relocate_by without relocate_from (or the other way round) did nothing without a word; a
    deadline before the start moved every plant in the first month."""
    text = TINY_TEXT + f"policies:\n  - {{type: environmental_standard, start: 2023-01, {keys}}}\n"
    issue, = problems(write(tmp_path, text))
    assert issue.path == f"policies[0].{blamed}" and words in issue.message, issue.message


# -- sweep paths and query --------------------------------------------------------------------------------
def test_a_sweep_path_may_be_written_as_messages_print_it(tmp_path):
    """`firm_groups[0].count` was refused with the raw pattern '^[A-Za-z_][A-Za-z0-9_]*(...)*$'."""
    from experiments.sweep_spec import load_sweep
    from tests.sweep_helpers import write_sweep
    from tests.test_sweep_cli import sweep_error

    body = "name: t\nseed: 1\ndesign: {method: lhs, samples: 2}\nuncertain:\n"
    spec = load_sweep(write_sweep(tmp_path, body + "  - {path: 'firm_groups[0].count', type: integer, "
                                  "range: [10, 20]}\n"))
    assert spec.uncertain[0].path == "firm_groups.0.count"
    text = sweep_error(write_sweep(tmp_path, body + "  - {path: 'bad path!', type: real, range: [0, 1]}\n", "b.yaml"))
    assert "uncertain[0].path: got 'bad path!'; must be a scenario path" in text and "^[" not in text


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("q")
    res = _sweep(tmp, tmp / "out")
    assert res.exit_code == 0, res.output
    return tmp / "out"


@pytest.mark.parametrize("name", ["out.parquet", "out.json"])
def test_query_csv_refuses_another_format(swept, tmp_path, name):
    """DuckDB took the suffix for the format and failed with a raw error (or wrote Parquet)."""
    res = invoke("query", swept, "select run_id from runs", "--csv", tmp_path / name)
    no_traceback(res)
    assert res.exit_code == 2 and "--csv writes CSV" in " ".join(res.output.split())
    assert not (tmp_path / name).exists()


def test_query_csv_never_writes_over_the_sweeps_own_files(swept):
    """--csv <sweep>/sweep.yaml replaced the sweep's copy of its file, which a re-run does not remake."""
    before = (swept / "sweep.yaml").read_bytes()
    for target in (swept / "sweep.yaml", swept / ".lock", swept / "runs" / "x.csv"):
        res = invoke("query", swept, "select run_id from runs", "--csv", target)
        assert res.exit_code == 2, res.output
    assert (swept / "sweep.yaml").read_bytes() == before and not (swept / "runs" / "x.csv").exists()
    res = invoke("query", swept, "select run_id from runs", "--csv", swept / "mine.csv")
    assert res.exit_code == 0 and (swept / "mine.csv").read_text().splitlines()[0] == "run_id"


def test_query_limit_zero_prints_the_count_not_an_empty_frame(swept):
    res = invoke("query", swept, "select run_id from runs", "--limit", 0)
    assert res.exit_code == 0 and "Empty DataFrame" not in res.output and "8 rows" in res.output, res.output


@pytest.mark.parametrize("at, refused", [("2023-04", False), ("2023-06", False), ("2023-08", True)])
def test_an_outcome_month_is_checked_against_every_horizon_an_uncertain_end_gives(tmp_path, at, refused):
    """With `end` uncertain, the outcome month was checked against design point 0's horizon only:
    `at: 2023-04` was refused though half the runs reach it."""
    from experiments.designs import points_table, tasks_table
    from experiments.sweep import preflight
    from experiments.sweep_spec import SweepSpecError, load_sweep
    from tests.sweep_helpers import write_sweep

    spec = load_sweep(write_sweep(tmp_path, (
        "name: t\nseed: 1\ndesign: {method: grid}\nuncertain:\n"
        "  - {path: end, type: categorical, values: ['2023-02', '2023-06']}\n"
        f"outcomes:\n  - {{indicator: localisation_rate, at: '{at}'}}\n")))
    tasks = tasks_table(spec, points_table(spec))
    if refused:
        with pytest.raises(SweepSpecError, match=f"no run reaches {at}"):
            preflight(spec, tasks)
    else:
        warnings = preflight(spec, tasks)
        assert any(f"@{at}: outside the horizon of some runs of base (start 2023-01, end 2023-02 to 2023-06)" in w
                   for w in warnings), warnings


# -- smaller things ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("written, words", [("localisation_rate@", "nothing after '@'"),
                                            ("localisation_rate@2023-13", "'2023-13' after '@'"),
                                            ("Localisation", "not an indicator name")])
def test_an_outcome_option_with_a_bad_month_is_refused(written, words):
    """`-i localisation_rate@` was taken as the end of the run."""
    from experiments.analysis import OutcomeSpec

    with pytest.raises(ValueError, match=words):
        OutcomeSpec.parse(written)
    assert OutcomeSpec.parse("localisation_rate").at == OutcomeSpec.parse("localisation_rate@end").at == "end"


@pytest.mark.parametrize("override, words", [("learning=null", "a block of keys is expected"),
                                             ("learning=[1]", "a block of keys is expected"),
                                             ("firm_groups=3", "a list is expected")])
def test_null_or_a_value_where_a_block_goes_says_what_goes_there(override, words):
    """`--set learning=null` said 'Input should be a valid dictionary or instance of Learning'."""
    issue, = problems(TINY, (override,))
    assert words in issue.message and "Input should" not in issue.message


def test_morris_levels_must_be_even(tmp_path):
    """levels: 3 ran, with SALib's UserWarning printed in the middle of the progress bar."""
    from tests.sweep_helpers import ONE_PARAM, write_sweep
    from tests.test_sweep_cli import sweep_error

    body = "name: t\nseed: 1\n" + ONE_PARAM.replace("{method: lhs, samples: 2}", "{method: morris, samples: 2, levels: 3}")
    assert "design.levels: got 3; levels must be even" in sweep_error(write_sweep(tmp_path, body))


@pytest.mark.parametrize("given, expected, kind", [("sweep", "scenario", "sweep"), ("scenario", "sweep", "scenario"),
                                                   ("scenario", "calibration", "scenario"),
                                                   ("geography", "scenario", "geography")])
def test_a_file_of_another_kind_gets_one_line_saying_so(tmp_path, given, expected, kind):
    """A sweep file given to validate got a line per key ('unknown key base', 'unknown key uncertain', ...)."""
    from tests.conftest import DATA
    from tests.sweep_helpers import ONE_PARAM, write_sweep

    files = {"sweep": lambda: write_sweep(tmp_path, "name: t\nseed: 1\n" + ONE_PARAM),
             "scenario": lambda: write(tmp_path, TINY_TEXT), "geography": lambda: DATA / "tiny_geo.yaml"}
    path = files[given]()
    command = {"scenario": "validate", "sweep": "sweep", "calibration": "calibrate"}[expected]
    res = invoke(command, path, *(["--out", tmp_path / "o"] if command == "sweep" else []))
    no_traceback(res)
    text = " ".join(res.output.split())
    assert res.exit_code == 2 and f"this is a {kind} file" in text and f"not a {expected} file" in text, text
    assert "unknown key" not in text


def test_a_scenario_given_as_geography_is_named(tmp_path):
    path = write(tmp_path, TINY_TEXT.replace("geography: tiny_geo.yaml", "geography: other.yaml"))
    (tmp_path / "other.yaml").write_text(TINY_TEXT)
    issue, = problems(path)
    assert "this is a scenario file" in issue.message and "not a geography file" in issue.message


def test_samples_without_uncertain_parameters_is_a_warning(tmp_path):
    from experiments.sweep import prepare
    from tests.sweep_helpers import write_sweep

    seen: list[str] = []
    path = write_sweep(tmp_path, "name: t\nseed: 1\nset: {end: 2023-02}\ndesign: {method: lhs, samples: 4}\n")
    prepare(path, tmp_path / "o", on_warning=seen.append)
    assert any("samples 4 is not used" in w and "replications" in w for w in seen), seen
