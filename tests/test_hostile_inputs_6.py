"""Hostile input, part 6 (the rest of fuzzing round 3): a quoted number is text, not a number; a
name written with decomposed accents says so; ``--until`` past the scenario's end warns; the
dashboard's saved runs get a valid run id whatever the scenario's name."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from dashboard.live import LiveRun
from experiments.store import MAX_RUN_ID_BYTES, is_complete
from experiments.sweep_spec import SweepSpecError, load_sweep
from model.cluster_model import ClusterModel
from model.scenario import load_scenario
from model.yamlio import read_yaml
from tests.cli_helpers import invoke, no_traceback
from tests.conftest import TINY
from tests.test_hostile_inputs import TINY_TEXT, line_of, problems, write


# -- D18: '0.1' in quotes is text ---------------------------------------------------------------------
@pytest.mark.parametrize("block, key", [
    ("economy:\n  export_growth: '0.1'\n", "export_growth"),
    ("economy:\n  export_growth: \"7\"\n", "export_growth"),
    ("policies:\n  - {type: rd_subsidy, rate: '0.3', rd_response: 1.0}\n", "rate"),
])
def test_a_quoted_number_is_refused_at_its_line(tmp_path, block, key):
    text = TINY_TEXT + block
    path = write(tmp_path, text)
    issue, = problems(path)
    assert issue.line == line_of(text, key) and issue.path.endswith(key)
    assert "a number is expected, not the text" in issue.message and "quotes" in issue.message


def test_a_quoted_weight_is_refused_at_its_key(tmp_path):
    text = TINY_TEXT + "demography:\n  fdi_sector_shares: {electronics: '1'}\n"
    issue, = problems(write(tmp_path, text))
    assert issue.line == line_of(text, "fdi_sector_shares") and "fdi_sector_shares" in issue.path
    assert "not the text '1'" in issue.message


def test_a_quoted_number_through_set_is_refused_too():
    with pytest.raises(Exception, match="not the text '0.1'"):
        load_scenario(TINY, ["economy.export_growth='0.1'"])
    assert load_scenario(TINY, ["economy.export_growth=0.1"]).economy.export_growth == 0.1


@pytest.mark.parametrize("written, value", [("1e-3", 0.001), ("2.5E-2", 0.025), (".05", 0.05), ("-1e-2", -0.01)])
def test_an_unquoted_number_in_exponent_form_is_a_number(tmp_path, written, value):
    """PyYAML (YAML 1.1) reads 1e-3 as text; with the quoted-number check it would have been refused."""
    path = write(tmp_path, TINY_TEXT + f"economy:\n  export_growth: {written}\n")
    assert load_scenario(path).economy.export_growth == value
    assert load_scenario(TINY, [f"economy.export_growth={written}"]).economy.export_growth == value


def test_a_key_in_exponent_form_stays_a_key(tmp_path):
    """Only values become numbers: a key such as 1e2 is a name, and keys must be text."""
    path = tmp_path / "keys.yaml"
    path.write_text("a: 1e3\n1e2: x\nb: '1e3'\n")
    data, _ = read_yaml(path)
    assert data == {"a": 1000.0, "1e2": "x", "b": "1e3"}


@pytest.mark.parametrize("written, what", [("1e3", "a number"), ("2030", "a number"), ("true", "true/false")])
def test_text_written_as_a_number_is_told_to_take_quotes(tmp_path, written, what):
    """YAML reads `name: 2030` (and now 1e3) as a number; pydantic said only "should be a valid string"."""
    text = TINY_TEXT.replace("name: tiny", f"name: {written}", 1)
    issue, = problems(write(tmp_path, text))
    assert issue.line == line_of(text, "name:") and issue.path == "name"
    assert f"text is expected, not {what} (put it in quotes" in issue.message


def test_a_number_too_large_for_a_float_says_why(tmp_path):
    """1e400 reads as inf, which a reader never wrote: the message says big numbers are refused."""
    issue, = problems(write(tmp_path, TINY_TEXT + "economy:\n  export_growth: 1e400\n"))
    assert issue.path == "economy.export_growth" and "beyond ±1.8e308" in issue.message


def test_a_sweep_name_written_as_a_number_is_told_to_take_quotes(tmp_path):
    from tests.sweep_helpers import write_sweep

    path = write_sweep(tmp_path, "name: 2030\nseed: 5\npolicies: [{name: a}]\n"
                       "uncertain:\n  - {path: economy.export_growth, type: real, range: [0.0, 0.1]}\n"
                       "design: {method: lhs, samples: 4}\n")
    with pytest.raises(SweepSpecError) as err:
        load_sweep(path)
    line = line_of(path.read_text(encoding="utf-8"), "name: 2030")
    assert f"{path}:{line}: name: got 2030; text is expected, not a number" in str(err.value)


def test_text_that_is_no_number_gets_no_advice_about_quotes(tmp_path):
    issue, = problems(write(tmp_path, TINY_TEXT + "economy:\n  export_growth: fast\n"))
    assert "number" in issue.message and "quotes" not in issue.message


def test_text_fields_still_take_text_that_looks_like_a_number(tmp_path):
    path = write(tmp_path, TINY_TEXT.replace("name: tiny", "name: '2030'", 1))
    assert load_scenario(path).name == "2030"


# -- D17: decomposed accents --------------------------------------------------------------------------
def test_a_name_in_decomposed_unicode_says_why_it_is_unknown(tmp_path):
    nfd = unicodedata.normalize("NFD", "Thái Nguyên")
    assert nfd != "Thái Nguyên"
    text = TINY_TEXT + f"policies:\n  - {{type: rd_subsidy, rate: 0.3, rd_response: 1.0, provinces: [{nfd}]}}\n"
    path = write(tmp_path, text)
    issue, = problems(path)
    shown = str(issue)
    assert "unknown province" in shown and "decomposed accents" in shown and "NFD" in shown
    nfc_text = text.replace(nfd, "Thái Nguyên")
    assert load_scenario(write(tmp_path, nfc_text)).policies[0].provinces == ["Thái Nguyên"]


def test_a_plain_unknown_name_gets_no_unicode_note(tmp_path):
    text = TINY_TEXT + "policies:\n  - {type: rd_subsidy, rate: 0.3, rd_response: 1.0, provinces: [Hải Phòng]}\n"
    issue, = problems(write(tmp_path, text))
    assert "unknown province" in str(issue) and "decomposed" not in str(issue)


# -- D20: --until after the end -----------------------------------------------------------------------
def test_until_after_the_scenarios_end_warns_and_extends(tmp_path):
    res = invoke("run", TINY, "--set", "end=2023-01", "--until", "2023-02", "--seed", 1, "--run-id", "x",
                 "--out", tmp_path, "--no-progress")
    no_traceback(res)
    assert res.exit_code == 0, res.output
    assert "warning: --until 2023-02 is after the scenario's end 2023-01" in " ".join(res.output.split())
    assert is_complete(tmp_path / "x")


def test_until_within_the_scenario_gives_no_warning(tmp_path):
    res = invoke("run", TINY, "--set", "end=2023-03", "--until", "2023-02", "--seed", 1, "--run-id", "x",
                 "--out", tmp_path, "--no-progress")
    assert res.exit_code == 0, res.output
    assert "--until" not in res.output


# -- the dashboard's run id -----------------------------------------------------------------------------
def test_a_live_run_with_a_long_name_saves_under_a_valid_run_id(tmp_path: Path):
    sc = load_scenario(TINY, ["name=" + "n" * 250, "end=2023-02"])
    live = LiveRun(ClusterModel(sc, seed=1), sc, 1, [])
    try:
        live.step()
        path = live.save(tmp_path)
    finally:
        live.close()
    assert is_complete(path) and path.name.startswith("live-nnnn")
    assert len(path.name.encode("utf-8")) <= MAX_RUN_ID_BYTES
