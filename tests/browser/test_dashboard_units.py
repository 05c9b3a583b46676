"""Dashboard pieces without a browser: translations, levers from the schema, one playback frame."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args, get_origin

import numpy as np

from dashboard.data import find_runs, groups
from dashboard.frames import run_index
from dashboard.i18n import EN, VI, make_tr
from dashboard.levers import block, controls_for, lever_classes
from dashboard.playback import render_frame
from dashboard.scenario_view import load
from model.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]


def test_both_languages_have_the_same_keys() -> None:
    assert set(EN) == set(VI)
    assert all(VI[k].strip() for k in VI)


def test_every_lever_and_field_has_a_label() -> None:
    for lever, cls in lever_classes().items():
        assert f"lever.{lever}" in EN
        for name, info in cls.model_fields.items():
            if name != "type":
                assert f"field.{name}" in EN, f"{lever}.{name} has no label in dashboard/i18n.py"
            sub = getattr(info.annotation, "model_fields", {})
            assert all(f"field.{s}" in EN for s in sub)
            if name != "type" and get_origin(info.annotation) is Literal:  # a select's choices, in words
                assert all(f"choice.{c}" in EN for c in get_args(info.annotation)), f"{lever}.{name}"


def test_levers_come_from_the_schema_and_validate() -> None:
    sc = load_scenario(ROOT / "scenarios" / "baseline.yaml")
    ctl = {c.path: c for c in controls_for(lever_classes()["supplier_development"], sc, ["2023-01", "2023-02"])}
    assert ctl["smes_per_year"].kind == "SliderInt" and ctl["smes_per_year"].lo == 0
    assert ctl["learning_multiplier"].hi == 10  # the schema's own bound
    assert ctl["selection"].choices == ["closest_to_threshold", "largest", "random"]
    blocks = [block(t, {c.path: c.value for c in controls_for(cls, sc, ["2023-01", "2023-02"])})
              for t, cls in lever_classes().items()]
    import json

    checked = load_scenario(ROOT / "scenarios" / "baseline.yaml", ["policies=" + json.dumps(blocks)])
    assert len(checked.policies) == len(lever_classes())


def test_a_playback_frame_of_a_recorded_run(results: Path) -> None:
    runs = [r for r in find_runs(results) if not r.run_id.startswith("live-")]  # a browser test may add one
    assert {r.run_id for r in runs} == {"baseline-s1", "baseline-s2", "supplier_dev-s1"}
    assert {k: len(v) for k, v in groups(runs).items()} == {"baseline": 2, "supplier_dev": 1}
    idx = run_index(next(r.path for r in runs if r.run_id == "baseline-s1"))
    assert idx.n_steps == 6
    # contracts signed before the first month are logged only from their first renewal or end
    # (the model does not record the warm start), so a six-month run shows fewer than are active
    active = idx.active_contracts(3)
    assert 0 < len(active) <= int(idx.indicators.loc[3, "contracts_active"])
    for lang in ("en", "vi"):
        frame = render_frame(idx, 3, make_tr(lang))
        for name, chart in frame.items():
            assert chart.png.startswith(b"\x89PNG"), name
            assert len(chart.data()) > 0, name


def test_an_invalid_scenario_gives_messages_not_a_traceback(scenarios: Path) -> None:
    sc, issues = load(scenarios / "broken.yaml")
    assert sc is None and any("smes_per_year" in i for i in issues)


def test_compare_marks_months_a_line_cannot_show() -> None:
    from dashboard.compare import _isolated

    nan = float("nan")
    assert _isolated(np.array([0.3])).tolist() == [True]  # a one-month run
    assert _isolated(np.array([1.0, 2.0, 3.0])).tolist() == [False, False, False]
    assert _isolated(np.array([1.0, nan, 2.0, 3.0, nan])).tolist() == [True, False, False, False, False]
    assert _isolated(np.array([nan, nan])).tolist() == [False, False]


def test_the_flow_chart_names_each_side_of_the_outside_party(results: Path) -> None:
    """Migrants and new firms' staff come from outside, leavers go there: one label for both sides
    ("Left the region") called arrivals departures, and a long one was cut off at both edges."""
    from dashboard.charts import _cached
    from dashboard.flowchart import OWNER_CATS, draw_flows

    idx = run_index(next(r.path for r in find_runs(results) if r.run_id == "baseline-s1"))
    k = OWNER_CATS.index("outside")
    for lang in ("en", "vi"):
        tr = make_tr(lang)
        draw_flows(idx, 3, tr)
        texts = _cached(idx, ("flows", tr("app.lang"), False), lambda: None).moving
        left, right = texts[f"l{k}"], texts[f"r{k}"]
        assert left.get_visible() and right.get_visible()  # arrivals and departures both happen in month 3
        assert left.get_text().startswith(tr("flow.outside_from")) and right.get_text().startswith(tr("flow.outside_to"))
        assert tr("flow.outside_from") != tr("flow.outside_to")


def test_the_scenario_page_writes_works_and_switches_in_words() -> None:
    """Park openings ran together as "location: x, opens: y, area_ha: None, location: ..." and a
    switch read "True", untranslated in both languages."""
    from dashboard.scenario_view import lever_lines

    for lang, yes in (("en", "yes"), ("vi", "có")):
        tr = make_tr(lang)
        lines = [p for sc in ("combined_package.yaml", "levers/environmental_standard.yaml")
                 for _, parts in lever_lines(load_scenario(ROOT / "scenarios" / sc), tr) for p in parts]
        text = "\n".join(lines)
        assert "None" not in text and "True" not in text and "area_ha" not in text and "location:" not in text
        assert f"{tr('field.refuse_polluting')}: {yes}" in text
        openings = next(p for p in lines if p.startswith(tr("field.park_openings")))
        assert openings.count("(") == 2 and "; (" in openings  # one bracket per opening


def test_vietnamese_numbers_use_vietnamese_separators() -> None:
    """Vietnamese text wrote 35,000 and 0.04, which a Vietnamese reader takes for 35 and 0,04."""
    from dashboard.live import show_value

    vi, en = make_tr("vi"), make_tr("en")
    assert "35.000 liên kết mua–bán; 1.200 DN" in vi("net.note", shown=12, total=35000, active=1200)
    assert "35,000 buyer–supplier links; 1,200 firms" in en("net.note", shown=12, total=35000, active=1200)
    assert (show_value(3000, vi), show_value(0.04, vi), show_value(1.6, vi)) == ("3.000", "0,04", "1,6")
    assert (show_value(3000, en), show_value(0.04, en), show_value(50, en)) == ("3,000", "0.04", "50")
    assert "live-2023.1" in vi("live.saved", run_id="live-2023.1")  # a text field is left as it is


def test_a_month_without_contracts_and_a_panel_without_values_say_so(results: Path, monkeypatch) -> None:
    """The network's note read "0 largest of 0 buyer–supplier links" in a month without contracts,
    and a panel whose indicators are undefined in every month drew an empty −0.04…0.04 axis."""
    import dataclasses

    from dashboard import charts

    idx = run_index(next(r.path for r in find_runs(results) if r.run_id == "baseline-s1"))
    for lang in ("en", "vi"):
        tr = make_tr(lang)
        monkeypatch.setattr(idx, "active_contracts", lambda step: np.zeros(0, np.int64))  # a month without any
        chart = charts.draw_network(idx, 3, tr)
        assert len(chart.data()) == 0
        note = charts._cached(idx, ("network", tr("app.lang")), lambda: None).moving["note"].get_text()
        assert note == charts.note_lines(tr("net.note_none"))[0] and "0" not in note
    monkeypatch.undo()
    title, cols, _ = charts.PANELS[3]
    idx = dataclasses.replace(idx, indicators=idx.indicators.copy(), figures={})  # the index may be shared
    idx.indicators[cols] = np.nan
    tr = make_tr("en")
    fig = charts._ts_static(idx, tr).fig
    texts = {ax.get_title(): [t.get_text() for t in ax.texts] for ax in fig.axes}
    assert texts[tr(title)] == [tr("ts.no_value")]
    assert all(not t for name, t in texts.items() if name != tr(title))


def test_vietnamese_chart_ticks_use_a_decimal_comma(results: Path) -> None:
    """The playback panels' value ticks read 0.425 and 10.5 on the Vietnamese page."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from dashboard import charts

    idx = run_index(next(r.path for r in find_runs(results) if r.run_id == "baseline-s1"))
    ticks = {}
    for lang in ("en", "vi"):
        fig = charts._ts_static(idx, make_tr(lang)).fig
        FigureCanvasAgg(fig).draw()
        ticks[lang] = [t.get_text() for ax in fig.axes for t in ax.get_yticklabels()]
    decimals = [t for t in ticks["en"] if "." in t]
    assert decimals and not any("," in t for t in ticks["en"])
    assert ticks["vi"] == [t.replace(".", ",") for t in ticks["en"]]


def test_the_scenario_page_writes_numbers_in_the_pages_language() -> None:
    """The Scenario tab wrote 1.5 and 0.05 on the Vietnamese page (a Vietnamese reader takes 1.5
    for fifteen hundred), where the Live tab wrote 0,05."""
    from dashboard.scenario_view import lever_lines

    sc = load_scenario(ROOT / "scenarios" / "bac_ninh_semiconductor.yaml")
    en = [p for _, parts in lever_lines(sc, make_tr("en")) for p in parts]
    vi = [p for _, parts in lever_lines(sc, make_tr("vi")) for p in parts]
    assert any(p.endswith(": 1.5") for p in en) and any(p.endswith(": 1,5") for p in vi)
    assert any(p.endswith(": 0.05") for p in en) and any(p.endswith(": 0,05") for p in vi)
