"""Compare runs or sweep variants on the same axes, with fan charts over seeds."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import pandas as pd
import solara
from matplotlib.backends.backend_agg import FigureCanvasAgg

from dashboard.charts import Chart, date_axis, encode, new_figure, year_of
from dashboard.data import RunEntry, SkippedRun, groups, indicators, read_run
from dashboard.i18n import local_ticks
from dashboard.widgets import ChartCard, SkippedRuns
from experiments.store import TABLE_COLUMNS, StoreError

PALETTE = ["#2874a6", "#e67e22", "#27ae60", "#8e44ad", "#c0392b", "#16a085", "#7f8c8d", "#d4ac0d"]
_IND_CACHE: dict[str, pd.DataFrame] = {}
_IND_LOCK = threading.Lock()


def indicators_of(path) -> pd.DataFrame:
    """A run's indicator table (cached per process; small); ``StoreError`` if a month is repeated."""
    key = str(path)
    with _IND_LOCK:
        if key not in _IND_CACHE:
            _IND_CACHE[key] = indicators(read_run(path))
        return _IND_CACHE[key]


def indicator_columns(runs: list[RunEntry]) -> list[str]:
    """The indicator columns of the first run that can be read (the documented ones if none can:
    a damaged run is named when it is drawn)."""
    for r in runs[:5]:
        try:
            return list(indicators_of(r.path).columns)
        except StoreError:
            continue
    return list(TABLE_COLUMNS["indicators"]) if runs else []


def fan_table(members: list[RunEntry], indicator: str) -> pd.DataFrame:
    """Median and 50% / 90% bands of one indicator over a group's runs, by month."""
    series = {}
    for r in members:
        ind = indicators_of(r.path)
        if indicator not in ind.columns:
            raise StoreError(f"{r.path / 'indicators.parquet'}: column {indicator!r} is missing; "
                             f"it has: {', '.join(ind.columns)}")
        series[r.run_id] = ind.set_index("date")[indicator]
    wide = pd.concat(series, axis=1)
    q = wide.quantile([0.05, 0.25, 0.5, 0.75, 0.95], axis=1).T
    q.columns = ["p05", "p25", "median", "p75", "p95"]
    q["runs"] = wide.notna().sum(axis=1)
    return q.reset_index()


def _isolated(y: np.ndarray) -> np.ndarray:
    """Where ``y`` has a value but neither neighbour has one: points a line cannot show."""
    ok = np.isfinite(y)
    before = np.concatenate(([False], ok[:-1]))
    after = np.concatenate((ok[1:], [False]))
    return ok & ~before & ~after


def draw_compare(selected: dict[str, list[RunEntry]], indicator: str, tr) -> Chart:
    """One indicator for every selected group: a line per group, bands when it has several runs."""
    fig = new_figure(12.0, 5.0)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes((0.07, 0.12, 0.66, 0.76))
    scale = 100.0 if indicator in ("localisation_rate", "localisation_rate_input") else 1.0
    rows, span = [], [np.inf, -np.inf]
    for k, (label, members) in enumerate(selected.items()):
        tab = fan_table(members, indicator)
        colour = PALETTE[k % len(PALETTE)]
        start = tab["date"].iloc[0]
        x = year_of(np.arange(1, len(tab) + 1), start)
        span = [min(span[0], float(x[0])), max(span[1], float(x[-1]))]
        if len(members) > 1:
            ax.fill_between(x, tab["p05"] * scale, tab["p95"] * scale, color=colour, alpha=0.15, lw=0)
            ax.fill_between(x, tab["p25"] * scale, tab["p75"] * scale, color=colour, alpha=0.3, lw=0)
        median = tab["median"].to_numpy(dtype=float) * scale
        runs = tr('cmp.n_runs' if len(members) > 1 else 'cmp.one_run', n=len(members))
        if not np.isfinite(median).any():  # undefined in every month (mean SME τ of a world without SMEs)
            runs += "; " + tr("cmp.no_value")
        ax.plot(x, median, color=colour, lw=2.2, label=f"{label} ({runs})")
        alone = _isolated(median)  # a line draws nothing for a month with no neighbour (a one-month run)
        if alone.any():
            ax.plot(x[alone], median[alone], "o", color=colour, ms=6)
        rows.append(tab.assign(group=label, indicator=indicator))
    ax.set_xlabel(tr("cmp.year" if span[1] - span[0] >= 2.5 else "cmp.month"), fontsize=11)
    ax.set_ylabel(tr(f"ind.{indicator}") + (" (%)" if scale == 100 else ""), fontsize=10)
    ax.grid(alpha=0.3)
    local_ticks(ax, tr)
    ax.tick_params(labelsize=10)
    if rows:
        date_axis(ax, *span, max_ticks=9)
    handles, labels = ax.get_legend_handles_labels()
    from matplotlib.patches import Patch

    handles += [Patch(color="#999999", alpha=0.45, label=tr("cmp.band50")),
                Patch(color="#999999", alpha=0.2, label=tr("cmp.band90"))]
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.745, 0.88), fontsize=10, frameon=False)
    fig.text(0.07, 0.93, tr("cmp.title", indicator=tr(f"ind.{indicator}")), fontsize=15)
    canvas.draw()
    data = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    return Chart(encode(canvas), lambda: data)


@solara.component
def Compare(runs: list[RunEntry], tr, lang: str, skipped: Sequence[SkippedRun] = ()) -> None:
    """Pick two or more runs or variants and an indicator (``skipped``: run folders left out of the list)."""
    all_groups = groups(runs)
    names = list(all_groups)
    chosen = solara.use_reactive([n for n in names if not n.startswith("live-")][:2] or names[:2])
    indicator = solara.use_reactive("localisation_rate")
    options = [c for c in indicator_columns(runs) if c not in ("step", "date")]
    labels = {tr(f"ind.{c}"): c for c in options}
    with solara.Row(style={"align-items": "center", "flex-wrap": "wrap"}, gap="16px"):
        solara.SelectMultiple(tr("cmp.runs"), all_values=names, values=[c for c in chosen.value if c in names],
                              on_value=chosen.set, style={"min-width": "30em"}, classes=["cl-compare-runs"])
        solara.Select(tr("cmp.indicator"), values=list(labels), value=tr(f"ind.{indicator.value}"),
                      on_value=lambda v: indicator.set(labels.get(v, "localisation_rate")),
                      style={"min-width": "24em"})
    SkippedRuns(skipped, tr)
    selected = {n: all_groups[n] for n in chosen.value if n in all_groups}
    enough = len(selected) >= 2 or sum(len(v) for v in selected.values()) >= 2

    def draw() -> Chart | StoreError | None:
        try:
            return draw_compare(selected, indicator.value, tr) if enough else None
        except StoreError as err:
            return err

    chart = solara.use_memo(draw, [tuple(selected), indicator.value, lang])
    if not enough:
        solara.Info(tr("cmp.need_two"))
        return
    if isinstance(chart, StoreError):
        solara.Error(tr("app.error", error=chart))
        return
    ChartCard(chart, f"compare_{indicator.value}", tr, "compare")
    solara.Text(tr("cmp.help"), classes=["cl-help"])
