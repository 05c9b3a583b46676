"""Every file in scenarios/ validates and runs: scenario files over a short horizon with every policy
moved into it (so each lever's code path runs), sweep files through the sweep loader and preflight.
Geography and calibration files are not scenarios (the calibration file has its own test)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from experiments.scenario_runs import Task, run_task
from model.scenario import load_scenario
from tests.conftest import ROOT

SCENARIOS = ROOT / "scenarios"
NOT_SCENARIOS = {"geography", "calibration"}
FILES = sorted(p for p in SCENARIOS.rglob("*.yaml") if not NOT_SCENARIOS & set(p.relative_to(SCENARIOS).parts[:-1]))
SCENARIO_FILES = [p for p in FILES if "sweeps" not in p.relative_to(SCENARIOS).parts]
SWEEP_FILES = [p for p in FILES if "sweeps" in p.relative_to(SCENARIOS).parts]
SHORT_END = "2023-03"


def _ids(paths: list[Path]) -> list[str]:
    return [p.relative_to(SCENARIOS).as_posix() for p in paths]


def compressed_dates(sc) -> list[str]:
    """Overrides that move every policy date into the first months, so a 3-month run applies it."""
    out = []
    for i, pol in enumerate(sc.resolved_dict()["policies"]):
        out.append(f"policies.{i}.start=2023-01")
        if pol.get("end"):
            out.append(f"policies.{i}.end={SHORT_END}")
        if pol.get("relocate_by"):
            out.append(f"policies.{i}.relocate_by={SHORT_END}")
        for key, field in (("park_openings", "opens"), ("park_expansions", "date"), ("roads", "date")):
            for j, _ in enumerate(pol.get(key, [])):
                out.append(f"policies.{i}.{key}.{j}.{field}=2023-02")
    return out


def test_library_is_complete():
    names = {p.stem for p in SCENARIO_FILES}
    assert {"baseline", "combined_package", "southern_thai_nguyen_plan", "bac_ninh_semiconductor",
            "lead_firm_exit", "demand_shock_2022"} <= names
    levers = {pol.type for p in SCENARIO_FILES for pol in load_scenario(p).policies}
    from model.policy_schema import LEVER_TYPES

    assert levers == set(LEVER_TYPES), f"levers without a scenario: {set(LEVER_TYPES) - levers}"


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=_ids(SCENARIO_FILES))
def test_scenario_file_has_a_header_and_its_question(path: Path):
    text = path.read_text(encoding="utf-8")
    assert text.startswith("#"), "a scenario file starts with a header comment"
    sc = load_scenario(path)
    assert sc.question and sc.source_policy, "question: and source_policy: say what the file is for"
    assert "README.md" not in str(path)
    readme = (SCENARIOS / "README.md").read_text(encoding="utf-8")
    assert path.relative_to(SCENARIOS).as_posix() in readme, "scenarios/README.md lists every file"


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=_ids(SCENARIO_FILES))
def test_scenario_file_runs_a_short_horizon(path: Path):
    sc = load_scenario(path)
    ov = (f"end={SHORT_END}",) + tuple(compressed_dates(sc))
    res = run_task(Task(sc.name, str(path), 1, ov, ("indicators", "policy")))
    ind = res["indicators"]
    assert len(ind) == 3
    assert np.isfinite(ind.select_dtypes("number").to_numpy()).all()
    spending = [p for p in sc.policies if p.type not in ("export_demand_shock", "lead_firm_exit", "import_cost_spike",
                                                         "environmental_standard", "local_content_incentive",
                                                         "rd_subsidy", "sme_credit", "investment_promotion")]
    if spending:  # levers that spend every month (or on their dated events) have booked something
        assert res["policy"]["spend"].sum() > 0


@pytest.mark.parametrize("path", SWEEP_FILES, ids=_ids(SWEEP_FILES))
def test_sweep_file_validates_and_its_base_runs(path: Path):
    from experiments.designs import points_table, tasks_table
    from experiments.sweep import preflight
    from experiments.sweep_spec import load_sweep

    spec = load_sweep(path)
    tasks = tasks_table(spec, points_table(spec))
    assert preflight(spec, tasks) == []
    res = run_task(Task(spec.name, str(spec.resolve(spec.base)), 1, (f"end={SHORT_END}",)))
    assert len(res["indicators"]) == 3
