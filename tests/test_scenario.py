"""Scenario files: valid ones load, bad ones give errors naming file, line, key and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from model import params, policy_schema
from model.scenario import Scenario, ScenarioError, load_scenario
from tests.conftest import BASELINE, DATA, TINY


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    (tmp_path / "tiny_geo.yaml").write_text((DATA / "tiny_geo.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


TINY_TEXT = TINY.read_text(encoding="utf-8")


def test_baseline_and_tiny_load():
    for path in (BASELINE, TINY):
        sc = load_scenario(path)
        assert sc.source_path == str(path)
        assert len(sc.config_hash()) == 64
        assert sc.resolved_dict()["name"] == sc.name


def test_unknown_key_lists_allowed_keys_with_line(tmp_path):
    path = write(tmp_path, TINY_TEXT.replace("end: 2023-12", "end: 2023-12\nhorizon: 12"))
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    msg = str(err.value)
    line = TINY_TEXT.replace("end: 2023-12", "end: 2023-12\nhorizon: 12").splitlines().index("horizon: 12") + 1
    assert f"{path}:{line}:" in msg
    assert "horizon" in msg and "allowed keys:" in msg and "lead_firms" in msg


def test_out_of_range_value_names_range_and_unit(tmp_path):
    text = TINY_TEXT + "economy:\n  export_growth: 3.0\n"
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    issue = err.value.errors[0]
    assert issue.path == "economy.export_growth"
    assert issue.line == len(text.splitlines())
    assert issue.value == 3.0
    assert "-0.5 .. 0.5" in issue.message and "fraction per year" in issue.message


def test_nested_list_error_points_into_the_list(tmp_path):
    text = TINY_TEXT.replace("employees_median: 40\n    tech_mean: 0.3\n    output_per_worker: 0.08\n  - label: SMEs B",
                             "employees_median: 40\n    tech_mean: 1.7\n    output_per_worker: 0.08\n  - label: SMEs B")
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    issue = err.value.errors[0]
    assert issue.path == "firm_groups[0].tech_mean"
    assert text.splitlines()[issue.line - 1].strip() == "tech_mean: 1.7"


def test_bad_date_and_unknown_reference(tmp_path):
    path = write(tmp_path, TINY_TEXT.replace("end: 2023-12", "end: 2023-13"))
    with pytest.raises(ScenarioError, match="YYYY-MM"):
        load_scenario(path)
    path = write(tmp_path, TINY_TEXT.replace("location: park_a, employees: 2000", "location: park_z, employees: 2000"))
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert err.value.errors[0].path == "lead_firms[0].location"
    assert "park_a" in str(err.value)  # lists the allowed ids


@pytest.mark.parametrize("old, new, hint", [
    ("location: park_a, employees: 2000", "location: KCN A, employees: 2000", "did you mean 'park_a'?"),  # the name
    ("sector: electronics_assembly, location", "sector: electronics, location", "did you mean 'electronics_assembly'?"),
    ("end: 2023-12", "end: 2023-12\nlearnig: {}", "did you mean 'learning'?"),
    ("end: 2023-12", "end: 2023-12\npolicies:\n  - {type: sme_credti, start: 2023-02}", "did you mean 'sme_credit'?"),
])
def test_a_misspelt_name_or_key_suggests_the_one_meant(tmp_path, old, new, hint):
    path = write(tmp_path, TINY_TEXT.replace(old, new))
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert hint in str(err.value)


def test_did_you_mean_stays_quiet_when_nothing_is_close():
    from model.yamlio import did_you_mean

    assert did_you_mean("zzz", ["park_a", "park_b"]) == ""
    assert did_you_mean("", ["park_a"]) == "" and did_you_mean(3, ["park_a"]) == ""
    assert did_you_mean("Điềm Thụy", ["tn_diem_thuy", "tn_yen_binh"]) == " (did you mean 'tn_diem_thuy'?)"
    assert did_you_mean("Yên Bình", ["a", "b"], {"a": "KCN Yên Bình", "b": "KCN Điềm Thụy"}) == " (did you mean 'a'?)"


def test_unknown_policy_type_lists_the_levers(tmp_path):
    path = write(tmp_path, TINY_TEXT + "policies:\n  - type: free_money\n    start: 2023-02\n")
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert "supplier_development" in str(err.value) and "free_money" in str(err.value)


def test_policy_field_error_names_the_block(tmp_path):
    text = TINY_TEXT + "policies:\n  - type: local_content_incentive\n    credit_rate: 0.9\n"
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    issue = err.value.errors[0]
    assert issue.path == "policies[0].credit_rate"
    assert issue.line == len(text.splitlines())


@pytest.mark.parametrize("extra, key, value", [
    ("policies:\n  - type: rd_subsidy\n    start: 2023-06\n    end: 2023-03\n", "policies[0].end", "2023-03"),
    ("sourcing:\n  contract_months_min: 30\n  contract_months_max: 12\n", "sourcing.contract_months_min", 30),
    ("sourcing:\n  material_share: 0.9\n  supplier_input_share: 0.2\n", "sourcing.supplier_input_share", 0.2),
])
def test_cross_field_error_points_at_the_key_it_blames(tmp_path, extra, key, value):
    text = TINY_TEXT + extra
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    issue = err.value.errors[0]
    assert (issue.path, issue.value) == (key, value)
    leaf = key.rsplit(".", 1)[-1].split("]")[-1].lstrip(".")
    assert text.splitlines()[issue.line - 1].strip().startswith(f"{leaf}:")


@pytest.mark.parametrize("key", ["material_share", "supplier_input_share"])
def test_a_cross_field_error_names_the_key_the_user_set(key):
    with pytest.raises(ScenarioError) as err:
        load_scenario(TINY, [f"sourcing.{key}=0.9"])
    issue = err.value.errors[0]
    assert (issue.file, issue.path, issue.value) == ("--set", f"sourcing.{key}", 0.9)
    assert "must add up to at most 1" in issue.message


def test_horizon_error_names_the_end_line(tmp_path):
    text = TINY_TEXT.replace("end: 2023-12", "end: 2022-06")
    with pytest.raises(ScenarioError) as err:
        load_scenario(write(tmp_path, text))
    issue = err.value.errors[0]
    assert (issue.path, issue.line, issue.value) == ("end", 4, "2022-06")
    assert "before end 2022-06" in issue.message


def test_duplicate_keys_yaml_errors_and_non_mapping(tmp_path):
    with pytest.raises(ScenarioError, match="duplicate key"):
        load_scenario(write(tmp_path, TINY_TEXT + "name: again\n"))
    with pytest.raises(ScenarioError, match="YAML syntax error"):
        load_scenario(write(tmp_path, TINY_TEXT + "economy: [unclosed\n"))
    with pytest.raises(ScenarioError, match="must be a mapping"):
        load_scenario(write(tmp_path, "- just\n- a list\n"))
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("name: Th\xe1i\n".encode("latin-1"))
    with pytest.raises(ScenarioError, match="not UTF-8"):
        load_scenario(bad)
    with pytest.raises(ScenarioError, match="file not found"):
        load_scenario(tmp_path / "missing.yaml")


def test_alias_bomb_is_refused(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}]" for i in range(1, 9)]
    with pytest.raises(ScenarioError, match="too complex"):
        load_scenario(write(tmp_path, "\n".join(lines) + "\n"))


def test_extends_and_overrides(tmp_path):
    write(tmp_path, TINY_TEXT, "base.yaml")
    child = write(tmp_path, "extends: base.yaml\nname: child\neconomy:\n  export_growth: 0.01\n", "child.yaml")
    sc = load_scenario(child)
    assert sc.name == "child" and sc.economy.export_growth == 0.01
    assert sc.economy.import_markup == params.Economy().import_markup  # untouched defaults stay
    assert len(sc.firm_groups) == 2  # inherited
    sc2 = load_scenario(child, ["economy.export_growth=0.02", "end=2023-06"])
    assert sc2.economy.export_growth == 0.02 and sc2.end == "2023-06"
    with pytest.raises(ScenarioError) as err:
        load_scenario(child, ["economy.export_growth=9"])
    assert err.value.errors[0].file == "--set"
    with pytest.raises(ScenarioError, match="KEY.PATH=VALUE"):
        load_scenario(child, ["economy.export_growth"])
    # an error in the child file is reported in the child file, one in the parent in the parent
    bad_child = write(tmp_path, "extends: base.yaml\nname: child\nsourcing:\n  n_candidates: 0\n", "bad.yaml")
    with pytest.raises(ScenarioError) as err:
        load_scenario(bad_child)
    assert err.value.errors[0].file.endswith("bad.yaml") and err.value.errors[0].line == 4


def test_circular_extends(tmp_path):
    write(tmp_path, "extends: b.yaml\nname: a\n", "a.yaml")
    write(tmp_path, "extends: a.yaml\nname: b\n", "b.yaml")
    with pytest.raises(ScenarioError, match="circular"):
        load_scenario(tmp_path / "a.yaml")


def _numeric_fields(model: type[BaseModel]):
    for name, field in model.model_fields.items():
        if field.annotation in (int, float):
            yield model.__name__, name, field


@pytest.mark.parametrize("block", [params.Economy, params.Sourcing, params.Learning, params.LabourParams,
                                   params.Finance, params.Demography, policy_schema.SupplierDevelopment,
                                   policy_schema.LocalContentIncentive, policy_schema.SmeCredit,
                                   policy_schema.RdSubsidy, policy_schema.InvestmentPromotion])
def test_every_number_has_bounds_unit_and_source(block):
    for owner, name, field in _numeric_fields(block):
        bounds = [m for m in field.metadata if getattr(m, "ge", None) is not None or getattr(m, "le", None) is not None]
        assert len(bounds) >= 2 or (bounds and hasattr(bounds[0], "ge") and hasattr(bounds[0], "le")), f"{owner}.{name} lacks bounds"
        desc = field.description or ""
        assert "." in desc and len(desc.split(".", 1)[1].strip()) > 3, f"{owner}.{name} lacks unit and source"


def test_scenario_is_frozen(tiny):
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        tiny.name = "x"  # type: ignore[misc]
    assert isinstance(tiny, Scenario)


def test_partial_nested_override_keeps_defaults_but_share_maps_are_replaced(tmp_path):
    sc = load_scenario(TINY, ["labour.p_search.operator=0.3"])
    assert sc.labour.p_search.operator == 0.3
    assert sc.labour.p_search.engineer == params.LabourParams().p_search.engineer
    path = write(tmp_path, TINY_TEXT + "demography:\n  fdi_sector_shares: {semiconductors: 1.0}\n")
    assert load_scenario(path).demography.fdi_sector_shares == {"semiconductors": 1.0}


def test_geography_path_is_relative_to_the_file_that_names_it(tmp_path):
    sub = tmp_path / "variants"
    sub.mkdir()
    (sub / "child.yaml").write_text(f"extends: {TINY}\nname: child\n", encoding="utf-8")
    sc = load_scenario(sub / "child.yaml")
    assert [loc.id for loc in sc.geography.locations] == ["park_a", "park_b", "out_a"]


def test_a_policy_without_start_starts_with_the_scenario():
    sc = load_scenario(TINY, ["start=2022-01", "end=2022-12",
                              "policies=[{type: rd_subsidy, label: R, end: 2022-12}, "
                              "{type: rd_subsidy, label: S, start: 2024-01}]"])
    assert [p.start for p in sc.policies] == ["2022-01", "2024-01"]
    assert sc.idle_policies() == ["policy 'S' starts 2024-01, after the scenario's end 2022-12: it never acts"]


def test_a_tab_indent_is_named_as_such(tmp_path):
    path = write(tmp_path, TINY_TEXT.replace("end: 2023-12", "end: 2023-12\n\tlearning: {}"))
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert "s.yaml:" in str(err.value) and "a tab: YAML indents with spaces only" in str(err.value)
