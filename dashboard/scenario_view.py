"""The scenario view: a scenario file's levers and timeline in words and as a chart.

A file that does not validate shows the loader's messages (file:line: key: what is allowed) in
the page, never a traceback.
"""

from __future__ import annotations

import textwrap
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd
import solara
from matplotlib.backends.backend_agg import FigureCanvasAgg

from dashboard.charts import Chart, date_axis, encode, new_figure
from dashboard.compare import PALETTE
from dashboard.data import scenarios_dir
from dashboard.levers import choice_label
from dashboard.widgets import ChartCard
from model.policy_schema import LEVER_TYPES
from model.scenario import Scenario, ScenarioError, load_scenario

NOT_SCENARIOS = ("geography", "sweeps", "calibration")
COMMON = ("type", "label", "start", "end", "budget", "provinces")


def scenario_files(root: Path | None = None) -> list[Path]:
    """Scenario files under ``root`` (geography and sweep files left out)."""
    root = root or scenarios_dir()
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*.y*ml") if not set(p.relative_to(root).parts[:-1]) & set(NOT_SCENARIOS))


_LOADED: dict[tuple, tuple[Scenario | None, list[str]]] = {}


def load(path: Path) -> tuple[Scenario | None, list[str]]:
    """The scenario, or the loader's messages (one per problem); kept per process until a file changes."""
    path = Path(path)
    try:  # the file and any it may extend (its folder, the scenarios folder)
        files = {*path.parent.rglob("*.y*ml"), *scenarios_dir().rglob("*.y*ml")}
        stamp = tuple(sorted((str(p), p.stat().st_mtime_ns) for p in files))
    except OSError:
        stamp = ()
    key = (str(path), stamp)
    if key not in _LOADED:
        if len(_LOADED) > 200:
            _LOADED.clear()
        _LOADED[key] = _load(path)
    return _LOADED[key]


def _load(path: Path) -> tuple[Scenario | None, list[str]]:
    try:
        return load_scenario(path), []
    except ScenarioError as err:
        issues = getattr(err, "errors", None) or getattr(err, "issues", None)
        return None, [str(i) for i in issues] if issues else [str(err)]
    except Exception as err:  # unreadable YAML, missing file: still a message, not a traceback
        return None, [f"{path}: {err}"]


def _ym(text: str) -> float:
    return int(text[:4]) + (int(text[5:7]) - 1) / 12


def _value(v: object, tr) -> str:
    """A setting in words: numbers with the language's separators, named choices and per-skill keys
    translated."""
    if v is None:
        return "—"
    if isinstance(v, bool):
        return tr("sc.yes" if v else "sc.no")
    if isinstance(v, float):
        return tr("num_g", n=v)
    if isinstance(v, int):
        return tr("num", n=v)
    if isinstance(v, dict):
        return ", ".join(f"{tr('field.' + k) if tr('field.' + k) != 'field.' + k else k}: {_value(x, tr)}"
                         for k, x in v.items() if x is not None)  # an unset option (area_ha: None) says nothing
    if isinstance(v, list):  # works (park openings, roads) one by one, in brackets
        if v and all(isinstance(x, dict) for x in v):
            return "; ".join(f"({_value(x, tr)})" for x in v)
        return ", ".join(_value(x, tr) for x in v) if v else "—"
    return choice_label(tr, v) if isinstance(v, str) else str(v)


def lever_lines(sc: Scenario, tr) -> list[tuple[str, list[str]]]:
    """Each policy block as a heading (lever and window) and its settings in words."""
    out = []
    for pol in sc.policies:
        window = (tr("sc.window", start=pol.start, end=pol.end) if pol.end
                  else tr("sc.window_open", start=pol.start))
        head = tr("sc.lever_line", lever=(pol.label + " · " if pol.label else "") + tr(f"lever.{pol.type}"),
                  window=window)
        parts = [tr("sc.budget", budget=_value(pol.budget, tr))] if pol.budget is not None else []
        if getattr(pol, "provinces", []):
            parts.append(f"{tr('field.provinces')}: {', '.join(getattr(pol, 'provinces', []))}")
        dumped = pol.model_dump(mode="json")
        for name in type(pol).model_fields:
            if name not in COMMON:
                parts.append(f"{tr('field.' + name)}: {_value(dumped[name], tr)}")
        out.append((head, parts))
    return out


def draw_timeline(sc: Scenario, tr) -> Chart:
    """A Gantt chart of the policy blocks over the scenario's horizon."""
    pols = list(sc.policies)
    fig = new_figure(12.0, max(2.2, 0.9 + 0.45 * max(len(pols), 1)))
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes((0.3, 0.25, 0.67, 0.6))
    t0, t1 = _ym(sc.start), _ym(sc.end) + 1 / 12
    rows = []
    for i, pol in enumerate(pols):
        a, b = _ym(pol.start), (_ym(pol.end) + 1 / 12) if pol.end else t1
        colour = PALETTE[LEVER_TYPES.index(pol.type) % len(PALETTE)]
        ax.barh(i, max(b, t0) - max(a, t0), left=max(a, t0), color=colour, alpha=0.85, height=0.6)
        rows.append({"lever": pol.type, "label": pol.label or "", "start": pol.start, "end": pol.end or sc.end})
    # the block's own label if it has one (else the lever's name), wrapped to fit the left margin
    ax.set_yticks(np.arange(len(pols)), [textwrap.fill(p.label or tr(f"lever.{p.type}"), 30) for p in pols],
                  fontsize=10)
    ax.set_ylim(max(len(pols), 1) - 0.4, -0.6)
    ax.set_xlim(t0, t1)
    ax.grid(axis="x", alpha=0.3)
    date_axis(ax, t0, t1 - 1 / 12, max_ticks=12)
    if not pols:
        ax.set_yticks([])
        ax.text((t0 + t1) / 2, 0, tr("sc.no_policies"), ha="center", va="center", fontsize=12)
    fig.text(0.3, 0.9, tr("sc.timeline"), fontsize=14)
    canvas.draw()
    table = pd.DataFrame(rows, columns=["lever", "label", "start", "end"])
    return Chart(encode(canvas), lambda: table)


@solara.component
def ScenarioView(tr, lang: str) -> None:
    """Pick a scenario file; see it in words and as a timeline, or its validation errors."""
    root = scenarios_dir()
    files = solara.use_memo(lambda: scenario_files(root), [str(root)])
    names = [str(p.relative_to(root)) for p in files]
    choice = solara.use_reactive(next((n for n in names if n == "baseline.yaml"), names[0] if names else None))
    sc, issues = solara.use_memo(lambda: load(root / choice.value) if choice.value else (None, []), [choice.value])
    chart = solara.use_memo(lambda: draw_timeline(sc, tr) if sc else None, [choice.value, lang])
    if not names:
        solara.Info(tr("sc.none_found", path=root))
        return
    solara.Select(tr("sc.file"), values=names, value=choice, style={"max-width": "40em"}, classes=["cl-scenario-file"])
    if issues:
        with solara.Column(classes=["cl-scenario-errors"]):
            solara.Error(tr("sc.invalid"))
            for line in issues:
                solara.Text(line, style={"font-family": "monospace", "white-space": "pre-wrap", "color": "#922b21"})
        return
    assert sc is not None
    n_months = (int(sc.end[:4]) - int(sc.start[:4])) * 12 + int(sc.end[5:]) - int(sc.start[5:]) + 1
    solara.HTML(tag="h3", unsafe_innerHTML=escape(sc.name))
    if sc.description:
        solara.Text(f"{tr('sc.description')}: {sc.description}")
    if sc.question:
        solara.Text(f"{tr('sc.question')}: {sc.question}")
    solara.Text(tr("sc.horizon.one" if n_months == 1 else "sc.horizon", start=sc.start, end=sc.end, n=n_months))
    solara.Text(tr("sc.firms", leads=len(sc.lead_firms), groups=len(sc.firm_groups),
                   firms=sum(g.count for g in sc.firm_groups), insts=len(sc.institutions)))
    solara.HTML(tag="h4", unsafe_innerHTML=escape(tr("sc.levers")))
    lines = lever_lines(sc, tr)
    if not lines:
        solara.Text(tr("sc.no_policies"))
    for head, parts in lines:
        solara.HTML(tag="div", unsafe_innerHTML=f"<b>{escape(head)}</b><ul>"
                    + "".join(f"<li>{escape(p)}</li>" for p in parts) + "</ul>")
    ChartCard(chart, f"timeline_{sc.name}", tr, "timeline")
