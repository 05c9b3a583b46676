"""A block's yearly budget stops what it pays for, not only what it books (ODD §7.1): dated works
wait until the budget left covers them, and graduates, links and promoted projects are cut to what
the budget left pays, on the tiny world."""

from __future__ import annotations

import mesa
import numpy as np
import pytest

from model.cluster_model import ClusterModel
from model.scenario import ScenarioError, load_scenario
from tests.conftest import TINY

QUIET = ("demography.fdi_arrivals_per_year=0",)


def _months(sc, months: int, seed: int = 1):
    """Step a model ``months`` months, yielding it after each."""
    m = ClusterModel(sc, seed=seed)
    try:
        for _ in range(months):
            m.step()
            yield m
    finally:
        mesa.Agent._ids.pop(m, None)


def _problems(block: str, *extra: str) -> dict[str, str]:
    with pytest.raises(ScenarioError) as err:
        load_scenario(TINY, [*extra, f"policies=[{block}]"])
    return {e.path: e.message for e in err.value.errors}


def test_a_work_waits_until_the_years_budget_left_covers_it():
    # two 30-ha expansions at VND 2 bn/ha (60 bn each) under a 100 bn yearly budget: the first is built
    # on its date, the second has to wait for January's budget
    sc = load_scenario(TINY, ["end=2024-02", *QUIET, "policies=[{type: infrastructure, label: parks, budget: 100, "
                              "park_expansions: [{location: park_b, date: 2023-03, add_ha: 30}, "
                              "{location: park_b, date: 2023-03, add_ha: 30}]}]"])
    area, spend = [], []
    for m in _months(sc, 14):
        area.append(float(m.geo.area[m.geo.index["park_b"]]))
        spend.append(m.policy.month_by_label["parks"])
    assert area[:2] == [100.0, 100.0] and area[2:12] == [130.0] * 10  # 2023-03: one built
    assert area[12:] == [160.0, 160.0]  # 2024-01: the other
    assert sum(spend[:12]) <= 100 and spend[2] == pytest.approx(60) and spend[12] == pytest.approx(60)


def test_a_road_is_not_built_after_its_block_ends_or_before_it_starts():
    msg = _problems("{type: infrastructure, start: 2024-01, end: 2025-12, roads: [{a: d_a, b: d_b, date: 2023-06, "
                    "factor: 0.5}], park_expansions: [{location: park_a, date: 2026-01, add_ha: 5}]}")
    assert "outside its block's window (2024-01 to 2025-12;" in msg["policies[0].roads[0].date"]
    assert "dated 2026-01" in msg["policies[0].park_expansions[0].date"]


def test_a_work_dearer_than_a_whole_years_budget_is_refused():
    planned = "geography.locations.1.opens=2025-01"  # park_b, brought forward by the opening
    msg = _problems("{type: infrastructure, budget: 100, cost_per_ha: 2, "
                    "park_openings: [{location: park_b, opens: 2023-02, area_ha: 200}]}", planned)
    # 200 ha of which 20 are occupied: 180 ha at 2 bn
    assert "costs VND 360 bn, more than the block's yearly budget of 100 bn" in msg["policies[0].budget"]
    load_scenario(TINY, [planned, "policies=[{type: infrastructure, budget: 360, cost_per_ha: 2, "
                         "park_openings: [{location: park_b, opens: 2023-02, area_ha: 200}]}]"])


def test_training_graduates_are_cut_to_what_the_budget_left_pays():
    # 1,200 extra graduates a year at VND 1 bn each cost 100 bn a month; 250 bn pays 2.5 months
    sc = load_scenario(TINY, ["end=2023-05", *QUIET, "policies=[{type: training_expansion, label: T, budget: 250, "
                              "institution: College A, cost_per_graduate: 1, "
                              "extra_graduates: {operator: 600, technician: 600, engineer: 0}}]"])
    extra, spend = [], []
    for m in _months(sc, 5):
        extra.append(float(m.policy.extra_graduates.sum()))
        spend.append(m.policy.month_by_label["T"])
    assert np.allclose(spend, np.array(extra) / 12)  # each month pays for exactly its graduates
    assert sum(spend) == pytest.approx(250)
    assert extra[0] == extra[1] == 1200 and 0 < extra[2] < 1200 and extra[3] == extra[4] == 0


def test_university_links_are_made_only_as_the_budget_can_pay_them():
    links = "{type: university_partnership, label: U, partnerships_per_year: 120, cost_per_partnership: 12"
    # an all-but-zero budget makes no link (it made its month-1 links and kept them)
    sc = load_scenario(TINY, ["end=2023-03", *QUIET, f"policies=[{links}, budget: 0.5}}]"])
    *_, m = _months(sc, 3)
    assert len(m.policy.partner_links.get(0, ())) == 0 and m.policy.total_spend == 0
    # 36 bn a year pays three links for a whole year
    sc = load_scenario(TINY, ["end=2024-12", *QUIET, f"policies=[{links}, budget: 36}}]"])
    spend = []

    def open_links(m) -> int:  # the links paid for: those whose firm is open
        return int(np.count_nonzero(m.firms.alive[m.policy.partner_links.get(0, np.zeros(0, np.int64))]))

    for m in _months(sc, 24):
        spend.append(m.policy.month_by_label["U"])
        assert open_links(m) <= 3
    assert open_links(m) >= 1
    assert sum(spend[:12]) <= 36 + 1e-9 and sum(spend[12:]) <= 36 + 1e-9
    assert spend[-1] == pytest.approx(open_links(m))  # every link paid in full in the second year


def test_promoted_projects_are_cut_to_what_the_budget_left_pays():
    # with no other arrivals, every FDI project is a promoted one; 60 bn a year pays three at 20 bn
    sc = load_scenario(TINY, ["end=2024-06", *QUIET, "policies=[{type: investment_promotion, label: P, budget: 60, "
                              "extra_arrivals_per_year: 120, cost_per_project: 20}]"])
    spend, fdi = [], []
    for m in _months(sc, 18):
        spend.append(m.policy.month_by_label["P"])
        fdi.append(int(m.firms.foreign[: m.firms.n].sum()))  # FDI firms ever founded (exits included)
    first = ClusterModel(sc, seed=1)
    before = int(first.firms.foreign[: first.firms.n].sum())
    mesa.Agent._ids.pop(first, None)
    assert sum(spend[:12]) == pytest.approx(60) and sum(spend[12:]) == pytest.approx(60)
    assert all(s % 20 == 0 for s in spend)  # whole projects
    assert 0 < fdi[11] - before <= 3 and 0 < fdi[17] - fdi[11] <= 3  # no project beyond the three paid for


def test_supplier_development_enrols_only_what_the_year_can_pay():
    # 600 SMEs a year asked for, 12 bn a year: 2.5 bn a month pays 30 coaching places at 1 bn a year
    sc = load_scenario(TINY, ["end=2024-03", *QUIET, "policies=[{type: supplier_development, label: S, budget: 12, "
                              "smes_per_year: 600, cost_per_sme: 1, months: 6, selection: random}]"])
    spend, enrolled = [], []
    for m in _months(sc, 15):
        f = m.firms
        coached = int(((f.coached_until[: f.n] >= m.month) & f.alive[: f.n]).sum())
        enrolled.append(coached)
        spend.append(m.policy.month_by_label["S"])
    assert sum(spend[:12]) <= 12 + 1e-9 and sum(spend[12:]) <= 12 + 1e-9
    assert max(enrolled) > 0
    # every SME coached in a month is paid for in that month, all year (no place without money)
    assert np.allclose(spend, np.array(enrolled) / 12)
