"""Hostile and unusual input: every user mistake gets exit 2 (or 1 for an output location) and a
message naming the file, the line, the key and what is allowed; no traceback; nothing of the
user's is ever replaced, and nothing is simulated when the run could not be written anyway."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.scenario import ScenarioError, load_scenario
from tests.cli_helpers import invoke, no_traceback
from tests.conftest import BASELINE, DATA, TINY

TINY_TEXT = TINY.read_text(encoding="utf-8")


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    """A scenario file in ``tmp_path`` next to a copy of the tiny geography."""
    (tmp_path / "tiny_geo.yaml").write_text((DATA / "tiny_geo.yaml").read_text(encoding="utf-8"),
                                            encoding="utf-8")
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def problems(path: Path, overrides: tuple[str, ...] = ()) -> list:
    with pytest.raises(ScenarioError) as err:
        load_scenario(path, list(overrides))
    return err.value.errors


# -- YAML structure --------------------------------------------------------------------------------------
def test_deeply_nested_yaml_is_an_error_not_a_recursion_crash(tmp_path):
    path = write(tmp_path, TINY_TEXT + "description: " + "[" * 5000 + "]" * 5000 + "\n")
    res = invoke("validate", path)
    no_traceback(res)
    assert res.exit_code == 2
    assert str(path) in res.output and "nested too deeply" in res.output

    text = TINY_TEXT + "description: " + "[" * 60 + "]" * 60 + "\n"  # within Python's limit
    issue, = problems(write(tmp_path, text, "d60.yaml"))
    assert issue.line == len(text.splitlines()) and "levels deep" in issue.message


# -- numbers ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
def test_nan_and_infinite_weights_are_refused(tmp_path, value):
    text = TINY_TEXT.replace("locations: {park_b: 1}", f"locations: {{park_b: {value}}}")
    issue, = problems(write(tmp_path, text))
    assert issue.path == "firm_groups[1].locations.park_b"
    assert issue.line == line_of(text, "locations: {park_b:")
    assert "finite number" in issue.message

    text = TINY_TEXT + f"demography:\n  fdi_sector_shares: {{semiconductors: {value}}}\n"
    issue, = problems(write(tmp_path, text))
    assert issue.path == "demography.fdi_sector_shares.semiconductors"
    assert issue.line == len(text.splitlines()) and "finite number" in issue.message


@pytest.mark.parametrize("block, key", [("recording", "snapshot_every"), ("demography", "p_lead"),
                                        ("sourcing", "n_candidates")])
def test_a_boolean_is_not_a_number(tmp_path, block, key):
    text = TINY_TEXT + f"{block}:\n  {key}: true\n"
    path = write(tmp_path, text)
    issue, = problems(path)
    assert (issue.file, issue.line, issue.path) == (str(path), len(text.splitlines()), f"{block}.{key}")
    assert "a number is expected, not true/false" in issue.message
    res = invoke("validate", path)
    assert res.exit_code == 2 and f"{path}:{len(text.splitlines())}: {block}.{key}: got True" in res.output


def test_a_boolean_weight_is_not_a_number(tmp_path):
    text = TINY_TEXT.replace("locations: {park_b: 1}", "locations: {park_b: true}")
    issue, = problems(write(tmp_path, text))
    assert issue.path == "firm_groups[1].locations" and "park_b" in issue.message
    assert "a number is expected" in issue.message


@pytest.mark.parametrize("extra, path, message", [
    ("demography:\n  fdi_sector_shares: {semiconductors: 2, electronics_assembly: -1}\n",
     "demography.fdi_sector_shares.electronics_assembly", "allowed range: 0 .."),
    ("demography:\n  fdi_sector_shares: {}\n", "demography.fdi_sector_shares", "at least one weight > 0"),
    ("demography:\n  fdi_sector_shares: {semiconductors: 0}\n", "demography.fdi_sector_shares",
     "at least one weight > 0"),
    ("sourcing:\n  supplier_bom: {packaging: -5, chips: 1}\n", "sourcing.supplier_bom.packaging", "allowed range: 0 .."),
    ("policies:\n  - {type: investment_promotion, sector_shares: {semiconductors: 2, electronics_assembly: -1}}\n",
     "policies[0].sector_shares.electronics_assembly", "allowed range: 0 .."),
    ("policies:\n  - {type: investment_promotion, sector_shares: {semiconductors: 0}}\n",
     "policies[0].sector_shares", "at least one weight > 0"),
])
def test_negative_or_all_zero_weights_are_refused(tmp_path, extra, path, message):
    """A negative share crashed the run (numpy: probabilities are not non-negative) or was ignored."""
    text = TINY_TEXT + extra
    issue, = problems(write(tmp_path, text))
    assert issue.path == path and message in issue.message
    assert issue.line == len(text.splitlines())


def test_an_all_zero_supplier_bom_still_switches_tier2_demand_off(tmp_path):
    sc = load_scenario(write(tmp_path, TINY_TEXT + "sourcing:\n  supplier_bom: {packaging: 0}\n"))
    assert sc.sourcing.supplier_bom == {"packaging": 0}


def test_job_search_probabilities_are_at_most_one(tmp_path):
    """p_search of 2 passed validation and crashed the run in numpy (p > 1)."""
    text = TINY_TEXT + "labour:\n  p_search: {operator: 0.02, technician: 2, engineer: 0.01}\n"
    issue, = problems(write(tmp_path, text))
    assert issue.path == "labour.p_search.technician" and issue.line == len(text.splitlines())
    assert "allowed range: 0 .. 1" in issue.message
    issues = problems(TINY, ("labour.p_search.engineer=1.5",))
    assert issues[0].file == "--set" and issues[0].path == "labour.p_search.engineer"


@pytest.mark.parametrize("mix", ["{operator: 5, technician: 0, engineer: 0}",
                                 "{operator: 0.5, technician: 0.1, engineer: 0.1}"])
def test_skill_mixes_are_shares_that_sum_to_one(tmp_path, mix):
    """A skill mix of 5 operators per employee silently built five times the workforce."""
    text = TINY_TEXT + f"labour:\n  skill_mix_fdi: {mix}\n"
    issue, = problems(write(tmp_path, text))
    assert issue.path.startswith("labour.skill_mix_fdi") and issue.line == len(text.splitlines())
    assert "0 .. 1" in issue.message or "sum to 1" in issue.message


def test_defaults_still_load():
    sc = load_scenario(TINY)
    assert sc.labour.p_search.operator == 0.025 and sc.labour.skill_mix_fdi.operator == 0.86


# -- references and defaults ------------------------------------------------------------------------------
def test_an_unknown_supplier_bom_category_is_named(tmp_path):
    """It was ignored, switching tier-2 demand off without a word."""
    text = TINY_TEXT + "sourcing:\n  supplier_bom: {unobtainium: 1}\n"
    issue, = problems(write(tmp_path, text))
    assert issue.path == "sourcing.supplier_bom.unobtainium" and issue.line == len(text.splitlines())
    assert "unknown component category" in issue.message and "packaging" in issue.message


@pytest.mark.parametrize("key", ["categories", "sectors"])
def test_an_empty_category_or_sector_list_is_one_clear_error(tmp_path, key):
    """Empty lists gave dozens of 'unknown sector/category' lines, some blamed on the geography file."""
    text = TINY_TEXT + f"{key}: []\n"
    path = write(tmp_path, text)
    issues = problems(path)
    assert len(issues) == 1
    assert (issues[0].file, issues[0].line, issues[0].path) == (str(path), len(text.splitlines()), key)
    assert "at least 1 item" in issues[0].message


def test_an_error_below_a_default_list_keeps_the_list_index():
    """A path into a list the files do not spell out (the default sectors) keeps its index."""
    from model import yamlio

    file, line, path, _ = yamlio.locate({"name": "x"}, ("sectors", 0, "bom", "chips"), {}, "s.yaml")
    assert (file, line) == ("s.yaml", None)
    assert yamlio.format_path(path) == "sectors[0].bom.chips"


def test_a_missing_parent_names_the_extends_line(tmp_path):
    path = write(tmp_path, "# a child\nname: child\nextends: nothere.yaml\n")
    issue, = problems(path)
    assert (issue.file, issue.line, issue.path, issue.value) == (str(path), 3, "extends", "nothere.yaml")
    assert "file not found" in issue.message and str(tmp_path / "nothere.yaml") in issue.message
    res = invoke("validate", path)
    assert res.exit_code == 2 and f"{path}:3: extends: got 'nothere.yaml'; file not found" in res.output


def test_a_missing_geography_names_the_geography_line(tmp_path):
    text = TINY_TEXT.replace("geography: tiny_geo.yaml", "geography: geo/missing.yaml")
    path = write(tmp_path, text)
    issue, = problems(path)
    assert (issue.file, issue.line, issue.path) == (str(path), line_of(text, "geography:"), "geography")
    assert "file not found" in issue.message and str(tmp_path / "geo" / "missing.yaml") in issue.message


# -- --set --------------------------------------------------------------------------------------------------
def test_set_an_item_of_a_list_the_scenario_does_not_have():
    """`policies.5.budget=1` on a file without policies made a mapping {5: ...} and blamed the file."""
    issue, = problems(TINY, ("policies.5.budget=1",))
    assert (issue.file, issue.path) == ("--set", "policies[5].budget")
    assert "does not exist" in issue.message and "no item 5" in issue.message
    issue, = problems(TINY, ("firm_groups.7.count=3",))
    assert (issue.file, issue.path) == ("--set", "firm_groups[7].count")
    assert "firm_groups has 2 items" in issue.message
    res = invoke("run", TINY, "--set", "policies.0.budget=1", "--out", "unused")
    no_traceback(res)
    assert res.exit_code == 2 and "--set: policies[0].budget" in res.output


def test_set_a_negative_index_is_blamed_on_the_set_not_the_file():
    issue, = problems(TINY, ("firm_groups.-1.count=lots",))
    assert (issue.file, issue.path) == ("--set", "firm_groups[1].count")
    assert load_scenario(TINY, ["firm_groups.-1.count=3"]).firm_groups[1].count == 3


def test_set_geography_reads_the_file(tmp_path, monkeypatch):
    """`--set geography=FILE` was never read: 'Input should be a valid dictionary'."""
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "", "unused.yaml")
    sc = load_scenario(TINY, ["geography=tiny_geo.yaml"])
    assert [d.id for d in sc.geography.districts] == ["d_a", "d_b"]
    issue, = problems(TINY, ("geography=nothere.yaml",))
    assert (issue.file, issue.path) == ("--set", "geography") and "file not found" in issue.message


# -- run folder and output location -------------------------------------------------------------------------
@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_run_never_replaces_a_folder_that_is_not_a_run(tmp_path, fake_simulation, overwrite):
    """`--run-id mydata` deleted the user's folder results/mydata (and hid a file of that name)."""
    mine = tmp_path / "mydata"
    mine.mkdir()
    (mine / "notes.txt").write_text("precious", encoding="utf-8")
    (tmp_path / "afile").write_text("precious", encoding="utf-8")
    for name in ("mydata", "afile"):
        res = invoke("run", TINY, "--seed", 1, "--out", tmp_path, "--run-id", name, "--no-progress", *overwrite)
        no_traceback(res)
        assert res.exit_code == 1
        assert str(tmp_path / name) in res.output and "left alone" in res.output
    assert (mine / "notes.txt").read_text(encoding="utf-8") == "precious"
    assert (tmp_path / "afile").read_text(encoding="utf-8") == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "mydata"]
    assert fake_simulation == []


def test_run_replaces_a_complete_run_only_with_overwrite(tmp_path, fake_simulation):
    args = ("run", TINY, "--seed", 1, "--out", tmp_path, "--run-id", "r1", "--no-progress")
    assert invoke(*args).exit_code == 0
    res = invoke(*args)
    assert res.exit_code == 1 and "already holds a complete run" in res.output and str(tmp_path / "r1") in res.output
    assert invoke(*args, "--overwrite").exit_code == 0
    assert len(fake_simulation) == 2


@pytest.mark.parametrize("run_id", ["../escape", "a/b", "..", ".hidden", "", "a\\b", "x" * 201])
def test_a_bad_run_id_is_invalid_input_before_any_simulation(tmp_path, fake_simulation, run_id):
    res = invoke("run", TINY, "--seed", 1, "--out", tmp_path / "out", "--run-id", run_id, "--no-progress")
    no_traceback(res)
    assert res.exit_code == 2 and "--run-id" in res.output
    assert fake_simulation == [] and not (tmp_path / "out").exists() and not (tmp_path / "escape").exists()


def test_an_output_location_that_cannot_hold_runs_fails_before_any_simulation(tmp_path, fake_simulation):
    a_file = tmp_path / "a_file"
    a_file.write_text("x", encoding="utf-8")
    for out, message in ((a_file, "is a file, not a folder"), (a_file / "sub", "cannot create the results folder")):
        res = invoke("run", TINY, "--seed", 1, "--out", out, "--no-progress")
        no_traceback(res)
        assert res.exit_code == 1 and message in res.output and str(out) in res.output
    assert fake_simulation == []
    assert a_file.read_text(encoding="utf-8") == "x"


def test_without_a_seed_the_drawn_seed_names_the_folder(tmp_path, fake_simulation):
    res = invoke("run", TINY, "--out", tmp_path, "--no-progress")
    assert res.exit_code == 0, res.output
    (folder,) = [p for p in tmp_path.iterdir()]
    assert folder.name.startswith(f"tiny-s{fake_simulation[0]}-")


def _sweep_file(tmp_path: Path, outcome: str = "localisation_rate") -> Path:
    return write(tmp_path, f"name: t\nbase: {TINY}\nset: {{end: 2023-02}}\nseed: 1\n"
                           f"outcomes:\n  - {{indicator: {outcome}}}\n", "sweep.yaml")


def test_a_sweep_outcome_must_be_an_indicator_before_any_run(tmp_path):
    """An unknown outcome used to be accepted: the sweep ran, and only `analyze` failed."""
    res = invoke("sweep", _sweep_file(tmp_path, "no_such_indicator"), "--out", tmp_path / "sw", "--in-process",
                 "--no-progress")
    no_traceback(res)
    assert res.exit_code == 2
    assert "sweep.yaml:6" in res.output and "unknown indicator 'no_such_indicator'" in res.output
    assert "localisation_rate" in res.output  # the allowed names are listed
    assert not (tmp_path / "sw").exists()


def test_a_sweep_folder_that_is_a_file_is_an_error_not_a_traceback(tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("x", encoding="utf-8")
    for out, message in ((a_file, "is a file, not a folder"), (a_file / "sub", "cannot create the sweep folder")):
        res = invoke("sweep", _sweep_file(tmp_path), "--out", out, "--in-process", "--no-progress")
        no_traceback(res)
        assert res.exit_code == 1 and message in res.output and str(out) in res.output
    assert a_file.read_text(encoding="utf-8") == "x"


@pytest.mark.parametrize("value", ["202306", "2023"])
def test_a_month_written_as_a_number_says_how_to_write_it(tmp_path, value):
    """YAML reads `end: 202306` as a number; the message used to be "Input should be a valid string"."""
    assert "\nend: 2023-12\n" in TINY_TEXT
    path = write(tmp_path, TINY_TEXT.replace("\nend: 2023-12\n", f"\nend: {value}\n"))
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    text = str(err.value)
    assert f"s.yaml:4: end: got {value}" in text
    assert "YYYY-MM" in text and "Value error" not in text


def test_a_policy_outside_the_simulated_months_is_valid_but_warned_about(tmp_path):
    """A short run of a long scenario has such policies; a typo (2035 for 2025) too: say so."""
    text = TINY_TEXT + ("policies:\n  - {type: sme_credit, start: 2027-01, label: later}\n"
                        "  - {type: sme_credit, start: 2023-01, end: 2023-06}\n")
    path = write(tmp_path, text)
    sc = load_scenario(path)
    assert sc.idle_policies() == ["policy 'later' starts 2027-01, after the scenario's end 2023-12: it never acts"]
    res = invoke("validate", path)
    assert res.exit_code == 0 and "warning: policy 'later' starts 2027-01" in res.output
    assert load_scenario(path, ["end=2027-06"]).idle_policies() == []


def test_a_categories_list_that_drops_defaults_is_one_problem_at_its_line(tmp_path):
    """The default sectors and supplier mix used to give one problem per sector and category, at line 1."""
    path = write(tmp_path, f"extends: {BASELINE}\nname: x\ncategories:\n  - {{id: packaging, name: P}}\n")
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    (issue,) = err.value.errors
    assert issue.line in (3, 4) and issue.path == "categories"
    assert "default sectors and sourcing.supplier_bom" in issue.message and "chips" in issue.message


def test_an_unknown_name_used_in_many_places_is_one_problem(tmp_path):
    """A sectors list that drops the baseline's sectors: one problem per sector, not one per use."""
    path = write(tmp_path, f"extends: {BASELINE}\nsectors:\n  - {{id: s1, name: S, bom: {{chips: 0.5}}}}\n")
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    values = [issue.value for issue in err.value.errors]
    assert len(values) == len(set(values)) and "electronics_assembly" in values
    assert all("unknown sector" in issue.message for issue in err.value.errors)
    assert any("also used at" in issue.message and "more)" in issue.message for issue in err.value.errors)


def test_two_policies_with_one_label_are_refused_at_the_second(tmp_path):
    """policy.parquet names a policy by its label: two with one label made its rows ambiguous."""
    text = TINY_TEXT + ("policies:\n  - {type: sme_credit, label: credit}\n"
                        "  - {type: rd_subsidy, label: credit}\n  - {type: university_partnership}\n"
                        "  - {type: university_partnership}\n")  # unlabelled blocks of one lever get distinct labels
    with pytest.raises(ScenarioError) as err:
        load_scenario(write(tmp_path, text))
    (issue,) = err.value.errors
    assert issue.path == "policies[1].label" and issue.value == "credit" and "duplicate policy label" in issue.message
    assert issue.line == TINY_TEXT.count("\n") + 3
