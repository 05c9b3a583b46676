"""Hostile input, part 11 (fuzzing round 10): firms that were founded and never worked, firms in parks
that exclude their sector, levers that took `provinces` and ignored it, partnerships paid after
their firm closed, works paid for parks that never open, flows that did not add up."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model.cluster_model import ClusterModel
from model.firms import LEAD
from model.scenario import load_scenario
from model.yamlio import ConfigError
from tests.conftest import BASELINE, TINY, run_model


def _tiny(tmp_path, body: str, name: str = "t.yaml"):
    path = tmp_path / name
    path.write_text(f"extends: {TINY}\nname: t\n" + body, encoding="utf-8")
    return path


def _problems(path, overrides=()) -> str:
    with pytest.raises(ConfigError) as err:
        load_scenario(path, list(overrides))
    return str(err.value)


def test_a_new_firm_keeps_its_staff_until_it_has_sold():
    """A firm founded in month t planned its staff in t + 1 on sales it had not made yet (0), shed
    every worker, and with no workers could never sell: three quarters of the baseline's entrants
    were shells that still counted as operating firms."""
    m = ClusterModel(load_scenario(BASELINE, ["end=2024-12"]), seed=1)
    n0, founded, shells = m.firms.n, 0, 0
    while m.running:
        m.step()
        f = m.firms
        fresh = n0 + np.flatnonzero(f.alive[n0 : f.n] & (f.entry_step[n0 : f.n] == m.month - 1))  # founded last month
        founded += len(fresh)
        shells += int(np.count_nonzero(f.employees[fresh] == 0))
    assert founded > 50 and shells == 0
    f = m.firms
    alive = n0 + np.flatnonzero(f.alive[n0 : f.n])
    assert np.count_nonzero(f.employees[alive] == 0) <= 0.05 * np.count_nonzero(alive)


def test_every_firm_sits_where_the_geography_admits_it():
    """Park sector lists (and clean-only parks) were applied to arriving FDI projects only: the
    baseline's zone suppliers, entrants, founders and relocated plants ignored them."""
    m = ClusterModel(load_scenario(BASELINE, ["end=2024-06"]), seed=2)
    f, geo = m.firms, m.geo
    restricted = ~geo.allows_sector.all(axis=1) | geo.clean_only
    assert restricted.any()  # the check has something to check
    while True:
        n = f.n
        admitted = geo.admits(f.sector[:n], f.pollutes[:n])[np.arange(n), f.loc[:n]]
        assert not (f.alive[:n] & ~admitted).any(), m.current_date
        if not m.running:
            break
        m.step()


def test_a_firm_group_or_lead_firm_placed_where_its_sector_is_excluded_is_refused(tmp_path):
    geo = (TINY.parent / "tiny_geo.yaml").read_text(encoding="utf-8")
    geo = geo.replace("area_ha: 100, occupied_ha: 20}", "area_ha: 100, occupied_ha: 20, sectors: [electronics_assembly]}")
    (tmp_path / "geo.yaml").write_text(geo, encoding="utf-8")
    text = _problems(_tiny(tmp_path, "geography: geo.yaml\n"))
    assert "firm_groups[1].sectors.mechanical_engineering" in text and "'SMEs B' draws a mechanical_engineering firm" in text
    assert "park_b: electronics_assembly" in text
    lead = _tiny(tmp_path, "geography: geo.yaml\nlead_firms:\n  - {name: L, sector: mechanical_engineering, location: park_b,"
                 " employees: 100, output: 10}\nfirm_groups: []\n", "lead.yaml")
    assert "lead_firms[0].location" in _problems(lead) and "L makes mechanical_engineering" in _problems(lead)


@pytest.mark.parametrize("lever", ["lead_firm_exit", "training_expansion", "import_cost_spike", "infrastructure",
                                   "environmental_standard"])
def test_a_lever_that_cannot_target_provinces_refuses_them(tmp_path, lever):
    body = {"lead_firm_exit": "firm: Lead A", "training_expansion": "institution: College A, extra_graduates: "
            "{operator: 10, technician: 0, engineer: 0}", "import_cost_spike": "magnitude: 0.2",
            "infrastructure": "cost_per_ha: 1", "environmental_standard": "refuse_polluting: true"}[lever]
    text = _problems(_tiny(tmp_path, f"policies:\n  - {{type: {lever}, {body}, provinces: [Bắc Giang]}}\n"))
    assert f"unknown key 'provinces' ({lever} takes no provinces:" in text


def _spend(m: ClusterModel) -> float:
    return m.policy.total_spend


def test_rd_subsidy_partnerships_and_demand_shocks_act_only_in_their_provinces(tmp_path):
    """These levers took `provinces` and ignored it: the same spending and effects wherever aimed."""
    def world(body: str) -> ClusterModel:
        return run_model(load_scenario(_tiny(tmp_path, "end: 2023-06\npolicies:\n" + body)), seed=4)

    rd = {p: world(f"  - {{type: rd_subsidy, rate: 0.5, provinces: [{p}]}}\n") for p in ("Thái Nguyên", "Bắc Giang")}
    both = world("  - {type: rd_subsidy, rate: 0.5}\n")
    assert 0 < _spend(rd["Bắc Giang"]) < _spend(both) and 0 < _spend(rd["Thái Nguyên"]) < _spend(both)
    assert _spend(rd["Bắc Giang"]) != _spend(rd["Thái Nguyên"])

    up = world("  - {type: university_partnership, partnerships_per_year: 60, provinces: [Bắc Giang]}\n")
    linked = np.concatenate(list(up.policy.partner_links.values()))
    assert len(linked) and (up.geo.province[up.firms.loc[linked]] == up.geo.provinces.index("Bắc Giang")).all()

    shock = world("  - {type: export_demand_shock, magnitude: -0.5, provinces: [Bắc Giang]}\n")
    f = shock.firms
    lead = np.flatnonzero((f.kind[: f.n] == LEAD) & f.alive[: f.n])
    in_bg = shock.geo.province[f.loc[lead]] == shock.geo.provinces.index("Bắc Giang")
    assert in_bg.any() and (~in_bg).any()  # tiny's lead firm in Thái Nguyên, an arrival in Bắc Giang
    # demand is the month's trend (the same for every lead firm) times the shock where it hits
    assert np.allclose(f.demand_mult[lead[in_bg]], 0.5 * f.demand_mult[lead[~in_bg]].mean())
    assert np.allclose(f.demand_mult[lead[~in_bg]], f.demand_mult[lead[~in_bg]][0])


def test_a_partnership_is_no_longer_paid_once_its_firm_has_closed(tmp_path):
    path = _tiny(tmp_path, "end: 2025-06\nfinance: {exit_loss_months: 1, fixed_cost_share: 0.3}\npolicies:\n"
                 "  - {type: university_partnership, label: UP, partnerships_per_year: 24, cost_per_partnership: 1.2}\n")
    m = ClusterModel(load_scenario(path), seed=1)
    closed = False
    while m.running:
        before = m.policy.partner_links.get(0, np.zeros(0, np.int64))
        paid = int(np.count_nonzero(m.firms.alive[before]))  # as the month's policy phase finds them
        closed |= paid < len(before)
        m.step()
        new = len(m.policy.partner_links.get(0, ())) - len(before)
        assert m.policy.month_spend[0] == pytest.approx((paid + new) * 1.2 / 12)
    assert closed  # some linked firm did close, so the test had something to see


def test_works_on_parks_that_would_never_open_are_refused_and_never_paid(tmp_path):
    geo = (TINY.parent / "tiny_geo.yaml").read_text(encoding="utf-8")
    geo += "  - {id: park_c, name: KCN C, kind: kcn, district: d_a, area_ha: 150, opens: 2030-01}\n"
    (tmp_path / "geo.yaml").write_text(geo, encoding="utf-8")
    env = "  - {type: environmental_standard, label: ENV, no_new_parks_in: [d_a]}\n"
    works = "  - {type: infrastructure, label: INF, cost_per_ha: 2, park_openings: [{location: park_c, opens: 2023-03}]}\n"
    text = _problems(_tiny(tmp_path, "geography: geo.yaml\npolicies:\n" + env + works))
    assert "policies[1].park_openings[0].location" in text and "the opening of park_c would never happen" in text
    # opened in the standard's first month, after it in the list: the park opens (no error)
    late = env.replace("ENV,", "ENV, start: 2023-03,")
    load_scenario(_tiny(tmp_path, "geography: geo.yaml\npolicies:\n" + works + late, "ok.yaml"))
    outside = "  - {type: infrastructure, park_expansions: [{location: out_a, date: 2023-03, add_ha: 10}]}\n"
    assert "out_a is a place outside parks" in _problems(_tiny(tmp_path, "policies:\n" + outside, "out.yaml"))
    # the model pays nothing for a park it finds blocked (a work that waited for its budget, say)
    m = ClusterModel(load_scenario(_tiny(tmp_path, "geography: geo.yaml\nend: 2023-06\npolicies:\n" + works, "r.yaml")), seed=1)
    m.geo.blocked[m.geo.index["park_c"]] = True
    while m.running:
        m.step()
    assert m.policy.total_spend == 0.0 and m.geo.opens[m.geo.index["park_c"]] > m.month


def test_the_flows_table_adds_up_to_the_change_in_employment():
    """Starting staff of new firms were never recorded, and migrants were recorded as hired from the
    pool: employment rose by hundreds a month more than the flows said."""
    m = run_model(load_scenario(BASELINE, ["end=2023-09", "recording.flows=all"]), seed=1)
    tables = m.results()
    flows, ind = tables["flows"], tables["indicators"].set_index("step")
    firm = ("domestic", "fdi")
    into = flows[flows["to_owner"].isin(firm) & ~flows["from_owner"].isin(firm)].groupby("step")["count"].sum()
    out = flows[flows["from_owner"].isin(firm) & ~flows["to_owner"].isin(firm)].groupby("step")["count"].sum()
    net = into.sub(out, fill_value=0).reindex(ind.index, fill_value=0)
    change = ind["employment_total"].diff().dropna()
    assert (flows["kind"] == "start").any()
    pd.testing.assert_series_equal(change.astype(int), net.loc[change.index].astype(int), check_names=False)
    hires = flows[flows["kind"] == "hire"]
    assert set(hires["from_owner"]) == {"pool", "outside"}  # migrants come from outside, the rest from the pool


def test_a_yaml_tag_on_a_list_or_mapping_is_refused(tmp_path):
    path = _tiny(tmp_path, "description: !!python/object/apply:os.system [ls]\n")
    assert "YAML tag 'tag:yaml.org,2002:python/object/apply:os.system' is not allowed" in _problems(path)
    assert "is not allowed" in _problems(TINY, ["economy.export_growth=!!python/tuple [0.1]"])


def test_sme_credit_is_repaid_in_instalments_not_at_once(tmp_path):
    """The credit's loan was taken back in the month it was given ("repaid but for the grant
    equivalent"): a cash-poor SME paid the whole cost at once and ended with negative cash, the
    opposite of what a credit is for. Now the loan less its grant is owed and repaid monthly."""
    def world(term: int) -> ClusterModel:
        block = f"{{type: sme_credit, cover_share: 0.9, subsidy_share: 0.5, min_tech: 0, repayment_months: {term}}}"
        return ClusterModel(load_scenario(TINY, ["end=2024-06", "demography.fdi_arrivals_per_year=0",
                                                 f"policies=[{block}]"]), seed=2)

    m, lent = world(60), 0.0
    while m.running:
        m.step()
        f = m.firms
        assert (f.debt[: f.n] >= 0).all() and (f.debt[: f.n] <= f.instalment[: f.n] * 60 + 1e-9).all()
        lent = max(lent, float(f.debt[: f.n].sum()))
    assert lent > 0  # some SME did borrow
    m = world(1)  # repaid the month after: what is owed at a month's end is that month's loans
    while m.running:
        m.step()
        f = m.firms
        assert np.allclose(f.debt[: f.n], f.instalment[: f.n])
