"""Small shared pieces of the pages: a chart card with its PNG and CSV downloads, the runs left out."""

from __future__ import annotations

from collections.abc import Sequence

import solara

from dashboard.charts import Chart
from dashboard.data import SkippedRun

CSS = """
.cl-title { color: white; margin: 0; font-size: 1.45rem; font-weight: 500; }
div:has(> b > a[href="https://solara.dev"]) { display: none; }
.cl-card { background: white; border: 1px solid #dde3e8; border-radius: 6px; padding: 6px; }
.cl-card img { width: 100%; height: auto; display: block; }
.cl-month { font-size: 1.6rem; font-weight: 600; color: #1f4e79; min-width: 6.5em; }
.cl-help { color: #4a5560; font-size: 0.95rem; }
.cl-exports .v-btn { min-width: 0 !important; }
.v-application { font-size: 16px; }
/* the tabs' content off the screen's edge, with room for Vuetify rows' negative margins (without
   it the Live page scrolls sideways and cuts its left column when a switch is clicked) */
.v-window-item { padding: 0 14px 12px 14px; }
"""


@solara.component
def ChartCard(chart: Chart | None, name: str, tr, testid: str = "") -> None:
    """A chart image with buttons to download it as PNG and its data as CSV."""
    # The downloads get callables that stay the same from frame to frame and read the chart shown
    # when clicked: a new ``data`` makes FileDownload start a thread and render twice more, eight
    # times per playback frame.
    shown = solara.use_ref(chart)
    shown.current = chart
    png = solara.use_memo(lambda: lambda: shown.current.png, [])
    csv = solara.use_memo(lambda: lambda: shown.current.data().to_csv(index=False).encode("utf-8"), [])
    with solara.Column(classes=["cl-card", f"cl-card-{testid or name}"], gap="2px", style={"min-width": "0"}):
        if chart is None:
            solara.ProgressLinear(True)
            return
        solara.Image(chart.png, width="100%", classes=[f"cl-chart-{testid or name}"])
        with solara.Row(gap="6px", justify="end", classes=["cl-exports"]):
            solara.FileDownload(png, filename=f"{name}.png", label=tr("export.png"), mime_type="image/png")
            solara.FileDownload(csv, filename=f"{name}.csv", label=tr("export.csv"), mime_type="text/csv")


@solara.component
def SkippedRuns(skipped: Sequence[SkippedRun], tr) -> None:
    """Under a run picker: the run folders the list leaves out and the store's reason (none: nothing)."""
    if not skipped:
        return
    with solara.Warning(dense=True, classes=["cl-skipped"]), solara.Column(gap="2px"):
        for s in skipped:
            solara.Text(tr("app.skipped", folder=s.folder, problem=s.problem))
