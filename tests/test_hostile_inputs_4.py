"""Hostile input, part 4: a policy block's errors name its own keys and bounds; ``--set`` takes the
path form the messages print; ``--until`` and ``compare`` say where a bad value came from; a
calibration file's mistyped parameter path is named once."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from experiments.calibration_spec import CalibrationError, load_calibration
from model.policy_schema import LEVER_TYPES
from model.scenario import load_scenario
from tests.cli_helpers import invoke, no_traceback
from tests.conftest import BASELINE, ROOT, TINY
from tests.test_hostile_inputs import TINY_TEXT, line_of, problems, write

RD_SUBSIDY = ROOT / "scenarios" / "levers" / "rd_subsidy.yaml"


# -- 1. a policy block is checked against its own type --------------------------------------------------
@pytest.mark.parametrize("block, own_key", [
    ("{type: infrastructure, parks: [park_a]}", "park_openings"),
    ("{type: sme_credit, parks: 1}", "subsidy_share"),
    ("{type: training_expansion, institution: College A, extra_graduates: {operator: 1, technician: 1, "
     "engineer: 1}, parks: 1}", "quality_gain"),
    ("{type: lead_firm_exit, firm: Lead A, parks: 1}", "downsizing"),
    ("{type: export_demand_shock, parks: 1}", "magnitude"),
])
def test_an_unknown_key_in_a_policy_lists_the_keys_of_its_own_type(tmp_path, block, own_key):
    text = TINY_TEXT + f"policies:\n  - {block}\n"
    path = write(tmp_path, text)
    issue, = problems(path)
    assert (issue.file, issue.line, issue.path) == (str(path), line_of(text, "parks"), "policies[0].parks")
    assert "unknown key 'parks'; allowed keys:" in issue.message
    assert own_key in issue.message and "smes_per_year" not in issue.message  # not supplier_development's


@pytest.mark.parametrize("block, key, allowed", [
    ("{type: sme_credit, subsidy_share: 2}", "policies[0].subsidy_share", "allowed range: 0 .. 1; grant equivalent"),
    ("{type: lead_firm_exit, firm: Lead A, downsizing: 3}", "policies[0].downsizing", "allowed range: 0 .. 1; fraction"),
    ("{type: infrastructure, roads: [{a: d_a, b: d_b, date: 2024-01, factor: 5}]}", "policies[0].roads[0].factor",
     "allowed range: 0.1 .. 1; road distance multiplier"),
])
def test_a_policy_range_error_gives_its_own_bounds_and_unit(tmp_path, block, key, allowed):
    text = TINY_TEXT + f"policies:\n  - {block}\n"
    path = write(tmp_path, text)
    issue, = problems(path)
    assert (issue.file, issue.line, issue.path) == (str(path), len(text.splitlines()), key)
    assert allowed in issue.message and "None" not in issue.message


def test_a_set_override_of_a_policy_gives_its_own_bounds():
    res = invoke("run", RD_SUBSIDY, "--set", "policies.0.rd_response=20", "--out", "unused")
    no_traceback(res)
    assert res.exit_code == 2
    assert "--set: policies[0].rd_response: got 20;" in res.output
    assert "allowed range: 0 .. 10; R&D intensity rises" in res.output and "None .. None" not in res.output


def test_a_policy_with_an_unknown_or_no_type_lists_the_allowed_types(tmp_path):
    text = TINY_TEXT + "policies:\n  - {type: rd_subsidie, rate: 0.2}\n  - {rate: 0.2}\n"
    path = write(tmp_path, text)
    unknown, missing = problems(path)
    assert (unknown.line, unknown.path) == (line_of(text, "rd_subsidie"), "policies[0]")
    assert (missing.line, missing.path) == (len(text.splitlines()), "policies[1]")
    assert "unknown policy type 'rd_subsidie'" in unknown.message
    assert "required key 'type' is missing" in missing.message
    for issue in (unknown, missing):
        assert all(t in issue.message for t in LEVER_TYPES)


# -- 2. --set takes the path form messages print -------------------------------------------------------
def test_set_accepts_list_items_as_dot_index_or_brackets():
    dotted = load_scenario(RD_SUBSIDY, ["policies.0.budget=200"])
    bracketed = load_scenario(RD_SUBSIDY, ["policies[0].budget=200"])
    assert bracketed.policies[0].budget == 200 and bracketed.config_hash() == dotted.config_hash()
    # the path an error prints can be pasted back into --set
    issue, = problems(RD_SUBSIDY, ("policies[0].rd_response=20",))
    assert (issue.file, issue.path) == ("--set", "policies[0].rd_response")
    assert load_scenario(RD_SUBSIDY, [f"{issue.path}=2"]).policies[0].rd_response == 2


@pytest.mark.parametrize("key", ["policies[x].budget", "policies[0]budget", "policies.[0].budget"])
def test_a_malformed_set_path_names_the_accepted_form(key):
    issue, = problems(RD_SUBSIDY, (f"{key}=1",))
    assert issue.file == "--set" and key in issue.path
    assert "policies.0.budget or policies[0].budget" in issue.message
    res = invoke("run", RD_SUBSIDY, "--set", f"{key}=1", "--out", "unused")
    no_traceback(res)
    assert res.exit_code == 2 and "policies.0.budget or policies[0].budget" in res.output


# -- 3. --until is named, and a one-month run is allowed -------------------------------------------------
def test_an_until_before_the_start_is_blamed_on_until():
    res = invoke("run", BASELINE, "--until", "2022-06", "--out", "unused")
    no_traceback(res)
    assert res.exit_code == 2
    assert "--until: end: got '2022-06'; start 2023-01 must be before end 2022-06" in res.output
    assert "--set: end" not in res.output
    res = invoke("run", BASELINE, "--set", "end=2022-06", "--out", "unused")  # an explicit --set stays --set
    assert res.exit_code == 2 and "--set: end: got '2022-06'" in res.output


def test_a_one_month_run_is_allowed(tmp_path):
    assert load_scenario(TINY, ["end=2023-01"]).end == "2023-01"
    res = invoke("run", TINY, "--until", "2023-01", "--seed", 1, "--run-id", "one", "--out", tmp_path, "--no-progress")
    no_traceback(res)
    assert res.exit_code == 0, res.output
    assert list(pd.read_parquet(tmp_path / "one" / "indicators.parquet")["date"]) == ["2023-01"]


# -- 4. compare names the file a --set does not fit ------------------------------------------------------
def test_compare_names_the_scenario_that_rejects_a_set(tmp_path):
    with_policy = write(tmp_path, TINY_TEXT + "policies:\n  - {type: rd_subsidy}\n", "with_policy.yaml")
    without = write(tmp_path, TINY_TEXT, "without.yaml")
    res = invoke("compare", with_policy, without, "--set", "policies.0.budget=1", "--out", tmp_path / "cmp")
    no_traceback(res)
    assert res.exit_code == 2
    assert f"invalid scenario {without}:" in res.output and "--set: policies[0].budget: got 1" in res.output
    assert str(with_policy) not in res.output


# -- calibrate: a mistyped parameter path ----------------------------------------------------------------
def test_a_mistyped_calibration_path_is_named_once_with_the_path(tmp_path):
    text = (f"name: t\nscenario: {TINY.as_posix()}\nend: 2023-06\nseeds: [1]\noutput: f.yaml\nparameters:\n"
            "  - {path: economy.import_mrkup, low: 0.05, high: 0.2}\n"
            "targets:\n  - {key: loc, indicator: localisation_rate, year: 2023, low: 0.05, high: 0.07, source: t}\n")
    path = Path(tmp_path / "targets.yaml")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CalibrationError) as err:
        load_calibration(path)
    issue, = err.value.errors
    assert (issue.file, issue.line, issue.path) == (str(path), line_of(text, "import_mrkup"), "parameters[0].path")
    assert issue.value == "economy.import_mrkup"
    assert "unknown key 'import_mrkup'" in issue.message and "import_markup" in issue.message
    assert "0.05" not in str(issue)
