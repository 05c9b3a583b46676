"""The clusterlink dashboard: ``solara run dashboard/app.py`` (or ``clusterlink dashboard``).

Four views in tabs (playback, compare, live, scenario) under one language switch. The results
folder comes from ``CLUSTERLINK_RESULTS`` (set by ``clusterlink dashboard --results DIR``).
"""

from __future__ import annotations

import os

import solara
import solara.lab

from dashboard.compare import Compare
from dashboard.data import results_dir, scan_runs
from dashboard.i18n import make_tr
from dashboard.live import Live
from dashboard.playback import Playback
from dashboard.scenario_view import ScenarioView
from dashboard.widgets import CSS, SkippedRuns

HEADER = {"align-items": "center", "background": "#1f4e79", "padding": "6px 16px", "border-radius": "4px",
          "margin-bottom": "4px"}
LANG_NAMES = {"en": "English", "vi": "Tiếng Việt"}
language = solara.reactive(os.environ.get("CLUSTERLINK_LANG", "en"))  # one value per browser session


@solara.component
def Page() -> None:
    lang = language.value
    tr = make_tr(lang)
    tab = solara.use_reactive(0)
    refresh = solara.use_reactive(0)
    runs, skipped = solara.use_memo(lambda: scan_runs(results_dir()), [refresh.value])
    solara.Title(tr("app.short"))
    solara.Style(CSS)
    with solara.Row(justify="space-between", style=HEADER):
        solara.Text(tr("app.title"), classes=["cl-title"])
        with solara.Row(style={"align-items": "center", "background": "transparent"}, gap="8px"):
            solara.Text(tr("app.lang"), style={"color": "white"})
            solara.ToggleButtonsSingle(value=lang, on_value=language.set,
                                       children=[solara.Button(name, value=code, classes=[f"cl-lang-{code}"])
                                                 for code, name in LANG_NAMES.items()])
    with solara.lab.Tabs(value=tab, lazy=True):
        with solara.lab.Tab(tr("tab.playback"), classes=["cl-tab-playback"]):
            if runs:
                Playback(runs, tr, lang, skipped)
            else:
                solara.Info(tr("app.no_runs", path=results_dir()))
                SkippedRuns(skipped, tr)
        with solara.lab.Tab(tr("tab.compare"), classes=["cl-tab-compare"]):
            if runs:
                Compare(runs, tr, lang, skipped)
            else:
                solara.Info(tr("app.no_runs", path=results_dir()))
                SkippedRuns(skipped, tr)
        with solara.lab.Tab(tr("tab.live"), classes=["cl-tab-live"]):
            Live(tr, lang, on_saved=lambda: refresh.set(refresh.value + 1))
        with solara.lab.Tab(tr("tab.scenario"), classes=["cl-tab-scenario"]):
            ScenarioView(tr, lang)
