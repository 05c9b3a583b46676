"""Hostile input, part 12 (fuzzing round 11): the model's mechanisms against docs/ODD.md: lead plants
sized by the years before their arrival, a starting utilisation that did not set it, firms stuck
without staff, a wage reference frozen in 2023, a park paid for twice, starting firms' land never
booked, indicators of nothing reported as 0, entrants placed where they would be moved at once."""

from __future__ import annotations

import math

import numpy as np
import pytest

from model.cluster_model import ClusterModel
from model.firms import LEAD, SME, SUPPLIER
from model.labour import labour_demand
from model.metrics import indicator_row
from model.scenario import load_scenario
from model.yamlio import ConfigError
from tests.conftest import BASELINE, TINY


def test_a_lead_plant_arriving_late_starts_at_its_planned_size():
    """Its demand was base output × the export trend since 2023: a plant arriving in 2030 was asked
    for 1.5 times the output (and staff) it was planned for."""
    m = ClusterModel(load_scenario(BASELINE, ["end=2027-12", "demography.p_lead=0.5"]), seed=1)
    start: dict[int, float] = {}
    ratios = []
    while m.running:
        m.step()
        f = m.firms
        for r, cap in list(start.items()):  # the month after its arrival: demand ÷ the plant it was built as
            ratios.append((m.month, f.base_output[r] * f.demand_mult[r] / cap))
            del start[r]
        new = np.flatnonzero((f.kind[: f.n] == LEAD) & (f.entry_step[: f.n] == m.month) & f.alive[: f.n])
        start.update({int(r): float(f.capacity[r]) for r in new if m.month > 0})
    late = [x for month, x in ratios if month >= 36]
    assert len(late) >= 5 and 0.9 < min(late) and max(late) < 1.1  # one month's trend and shock, not years'


def test_the_starting_utilisation_sets_the_starting_firms_plant_capacity():
    for u in (0.5, 0.9):
        m = ClusterModel(load_scenario(TINY, [f"economy.initial_utilisation={u}"]), seed=1)
        f = m.firms
        sme = np.flatnonzero(f.kind[: f.n] == SME)
        staffed_output = f.employees[sme] / f.labour_coef[sme]  # what the starting staff make
        assert np.allclose(np.median(staffed_output / f.capacity[sme]), u, atol=0.02)


def test_no_open_firm_is_left_without_staff():
    """A firm whose contracts took all its capacity sold nothing else; when they ended it planned on
    nothing, shed every worker and, with none, could never sell again, yet counted as operating."""
    m = ClusterModel(load_scenario(BASELINE, ["end=2025-06"]), seed=1)
    while m.running:
        m.step()
        f = m.firms
        shells = np.flatnonzero(f.alive[: f.n] & (f.kind[: f.n] != LEAD) & (f.employees == 0))
        assert not len(shells), (m.current_date, shells[:5])


def test_a_new_supplier_plant_keeps_hiring_toward_its_workforce():
    """A plant that did not fill its vacancies in its first month planned on the little it had sold
    (capped by its staff) and never hired the rest: staff drifted down from 413 to 368 of 535."""
    m = ClusterModel(load_scenario(TINY, ["end=2024-12", "demography.fdi_arrivals_per_year=24",
                                          "demography.p_lead=0"]), seed=1)
    n0, seen = m.firms.n, 0
    while m.running:
        m.step()
        f = m.firms
        want = labour_demand(m).sum(axis=1)
        plants = n0 + np.flatnonzero(f.alive[n0 : f.n] & (f.kind[n0 : f.n] == SUPPLIER))
        seen = max(seen, len(plants))
        planned = np.round(f.labour_coef[plants] * m.sc.economy.initial_utilisation * f.capacity[plants])
        assert (want[plants] >= 0.95 * planned).all()  # it plans on its sales abroad, whatever its staff
    assert seen >= 5


def test_unit_costs_compare_a_firms_wage_with_todays_domestic_average():
    """w̄ of eq. 3.1 stayed at the 2023 wage while wages grew 5-7% a year, so every domestic
    supplier's cost rose against a fixed import price: 6.9% by 2030."""
    m = ClusterModel(load_scenario(BASELINE, ["end=2026-12"]), seed=1)
    start = m.labour.mean_wage_ref
    while m.running:
        m.step()
    f = m.firms
    dom = f.alive[: f.n] & ~f.foreign[: f.n]
    staff = f.employees * dom
    # set in the labour phase; the month's entries and exits come after it
    assert m.labour.mean_wage_ref == pytest.approx(np.dot(f.wage_tech[: f.n], staff) / staff.sum(), rel=0.01)
    assert m.labour.mean_wage_ref > 1.1 * start  # wages did grow, and the reference with them
    from model.contracts import _wage_factor

    factor = _wage_factor(m)
    assert np.average(factor[dom], weights=staff[dom]) == pytest.approx(1.0, rel=0.01)  # the average domestic worker


def test_a_park_opened_twice_is_refused_and_never_paid_twice(tmp_path):
    geo = (TINY.parent / "tiny_geo.yaml").read_text(encoding="utf-8")
    geo += "  - {id: park_c, name: KCN C, kind: kcn, district: d_a, area_ha: 150, opens: 2030-01}\n"
    (tmp_path / "geo.yaml").write_text(geo, encoding="utf-8")

    def block(label: str, date: str) -> str:
        return f"  - {{type: infrastructure, label: {label}, cost_per_ha: 1, park_openings: [{{location: park_c, opens: {date}}}]}}\n"

    def scenario(name: str, blocks: str):
        path = tmp_path / name
        path.write_text(f"extends: {TINY}\nname: t\nend: 2023-06\ngeography: geo.yaml\npolicies:\n{blocks}", encoding="utf-8")
        return path

    with pytest.raises(ConfigError, match=r"policies\[1\].park_openings\[0\].location.*also opened by policies\[0\]"):
        load_scenario(scenario("twice.yaml", block("A", "2023-02") + block("B", "2023-04")))
    # the model's own guard, for a scenario built in code past the loader's checks
    one = load_scenario(scenario("one.yaml", block("A", "2023-02")))
    first = one.policies[0]
    second = first.model_copy(update={"label": "B", "park_openings": [
        first.park_openings[0].model_copy(update={"opens": "2023-04"})]})
    m = ClusterModel(one.model_copy(update={"policies": [first, second]}), seed=1)
    while m.running:
        m.step()
    assert m.policy.year_spend[0] > 0 and m.policy.year_spend[1] == 0.0


def test_starting_firms_hold_the_parks_occupied_land_and_free_it_when_they_close():
    m = ClusterModel(load_scenario(BASELINE, ["end=2025-12"]), seed=2)
    geo = m.geo
    park = geo.kind != 3
    while True:
        f = m.firms
        here = f.alive[: f.n] & park[f.loc[: f.n]]
        held = np.bincount(f.loc[: f.n][here], weights=f.land_ha[: f.n][here], minlength=len(geo.ids))
        assert (held[park] <= geo.occupied[park] + 1e-6).all() and (geo.occupied[park] <= geo.area[park] + 1e-6).all()
        if not m.running:
            break
        m.step()


def test_indicators_of_nothing_are_undefined_not_zero(tmp_path):
    geo = (TINY.parent / "tiny_geo.yaml").read_text(encoding="utf-8")
    (tmp_path / "tiny_geo.yaml").write_text(geo, encoding="utf-8")
    path = tmp_path / "noelec.yaml"
    path.write_text(f"""extends: {TINY}
name: noelec
end: 2023-03
sectors:
  - {{id: mechanical_engineering, name: Mechanical engineering, bom: {{packaging: 0.02, metal_stamping: 0.15}}}}
  - {{id: metals_materials, name: Metals, bom: {{packaging: 0.02, metal_stamping: 0.05}}}}
lead_firms:
  - {{name: Lead A, sector: metals_materials, location: park_a, employees: 2000, output: 600, followers: 4}}
firm_groups:
  - {{label: SMEs A, kind: domestic_sme, count: 30, locations: {{park_a: 1, out_a: 2}}, sectors: {{mechanical_engineering: 1}}}}
demography: {{fdi_sector_shares: {{metals_materials: 1}}}}
""", encoding="utf-8")
    m = ClusterModel(load_scenario(path), seed=1)
    m.step()
    row = indicator_row(m)
    assert math.isnan(row["ellison_glaeser_electronics"])  # there is no electronics sector to measure
    from model.metrics import province_rows

    assert all(math.isnan(r["location_quotient_electronics"]) for r in province_rows(m))
    m = ClusterModel(load_scenario(TINY, ["end=2023-02"]), seed=1)
    m.contracts.drop(np.arange(m.contracts.n))  # a world with no contract at all
    m._edges_cache = None
    from model import metrics

    alive = int(m.firms.alive[: m.firms.n].sum())
    assert metrics.largest_component_share(m) == pytest.approx(1 / alive)  # every firm its own component
    assert math.isnan(metrics._clustering(m))  # no firm with two partners


def test_no_firm_starts_where_the_environmental_standard_is_moving_plants_out():
    ov = ["end=2024-06", "geography.districts.1.province=Thái Nguyên", "demography.sme_entry_rate=0.6",
          "labour.p_spinoff=0.01",
          "policies=[{type: environmental_standard, refuse_polluting: false, relocate_from: [d_a], relocate_by: 2024-06}]"]
    m = ClusterModel(load_scenario(TINY, ov), seed=1)
    out_a = m.geo.index["out_a"]
    n0, there = m.firms.n, int(np.count_nonzero(m.firms.loc[: m.firms.n] == out_a))
    while m.running:
        m.step()
    f = m.firms
    assert f.n > n0 and there > 0  # firms were founded, and there were plants to move
    assert not (f.loc[n0 : f.n] == out_a).any()
    assert m.relocations <= there  # only the plants that were there were moved (and charged)
