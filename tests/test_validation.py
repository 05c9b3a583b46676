"""The validation experiments (experiments/validation.py) on a small scale: paired checks, the
document they make, and an end too early for the levers refused before any run."""

from __future__ import annotations

import pytest

from experiments import validation
from experiments.validation_doc import write_document


def _check(name: str) -> validation.LeverCheck:
    return next(c for c in validation.lever_checks() if c.name == name)


def test_an_end_before_the_levers_act_is_refused_before_any_run(monkeypatch):
    """--end 2023-03 ran 340 runs and reported every lever check as failed with effects of exactly 0
    (the levers start from 2023-04 or 2023-07), under a header saying the starts were moved inside
    the horizon."""
    monkeypatch.setattr(validation, "run_tasks", lambda *a, **k: pytest.fail("ran before checking the horizon"))
    with pytest.raises(ValueError, match=r"--end 2023-03 is too early for 13 of the 13 lever checks") as err:
        validation.run_validation(seeds=2, end="2023-03")
    message = str(err.value)
    assert "lead-firm exit: first acts in 2023-07, after 2023-03" in message
    assert "infrastructure (earlier parks): first acts in 2023-07" in message  # its park openings, moved
    assert "choose a later --end" in message
    assert validation.horizon_problems("2023-07", validation.lever_checks()) == []  # each acts by then
    assert validation.horizon_problems("2024-12", validation.lever_checks()) == []  # the documented run


def test_environmental_standard_acts_from_its_start_not_its_deadline():
    block = {"start": "2023-07", "end": None, "relocate_by": "2027-12", "relocate_from": ["tn_city"]}
    assert validation.first_action(block) == "2023-07"
    parks = {"start": "2023-01", "park_openings": [{"location": "a", "opens": "2025-07"}],
             "park_expansions": [{"location": "b", "date": "2025-01"}]}
    assert validation.first_action(parks) == "2025-01"


def test_a_small_validation_gives_paired_checks_and_its_document(tmp_path):
    checks = [_check("lead-firm exit"), _check("2022-style demand shock")]
    res = validation.run_validation(seeds=2, end="2023-09", workers=1, checks=checks)
    assert [c.group for c in res.checks] == ["stylized fact"] * 4 + ["lever"] * 2
    rows = res.lever_rows.set_index("lever")
    # a lead firm of 43,000 workers leaving, and a 20% demand slump: lower on every seed, not just the median
    assert rows.loc["lead-firm exit", "median"] < 0 and rows.loc["lead-firm exit", "q95"] < 0
    assert rows.loc["2022-style demand shock", "median"] < 0 and rows.loc["2022-style demand shock", "q95"] < 0
    assert rows["sign_ok"].all() and (rows["p_expected"] == 1.0).all()
    assert rows.loc["2022-style demand shock", "year"] == 2023
    for c in res.checks:
        assert c.q05 <= c.median <= c.q95
    out = write_document(res, tmp_path / "VALIDATION.md", "clusterlink validation --seeds 2 --end 2023-09",
                         notes="A note.")
    text = out.read_text(encoding="utf-8")
    assert "from 2023-01 to 2023-09, over seeds 1–2 (2 seeds)" in text
    assert text.count("| lever | lead-firm exit |") == 1 and "2022-style demand shock" in text
    assert text.rstrip().endswith("A note.") and (tmp_path / "validation_gap.png").stat().st_size > 0


def test_the_validation_command_refuses_an_early_end_without_a_traceback(tmp_path):
    from tests.cli_helpers import invoke, no_traceback

    out = tmp_path / "VALIDATION.md"
    res = invoke("validation", "--seeds", 2, "--end", "2023-03", "--package-seeds", 0, "--out", out)
    no_traceback(res)
    assert res.exit_code == 2
    assert "--end 2023-03 is too early for 13 of the 13 lever checks" in res.output
    assert not out.exists()
