"""Playback of a recorded run: play, pause, speed and a month slider over four linked charts."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import solara
import solara.lab

from dashboard.charts import draw_map, draw_network, draw_timeseries
from dashboard.data import RunEntry, SkippedRun
from dashboard.flowchart import draw_flows
from dashboard.frames import RunIndex, run_index
from dashboard.widgets import ChartCard, SkippedRuns

DELAYS = {"slow": 1.5, "normal": 0.7, "fast": 0.25}  # seconds between frames (plus the redraw)
FRAMES_KEPT = 120  # rendered frames kept per run (~150 kB each): a whole baseline and some
# one thread draws the next month while the page shows this one (and waits for the next tick)
_AHEAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clusterlink-frame-ahead")
_PENDING: dict[tuple, Future] = {}


def render_frame(idx: RunIndex, step: int, tr, colour_by: str = "kind", firms_only: bool = False) -> dict:
    """The four charts of one playback frame."""
    return {"map": draw_map(idx, step, tr, colour_by), "network": draw_network(idx, step, tr),
            "indicators": draw_timeseries(idx, step, tr), "flows": draw_flows(idx, step, tr, firms_only)}


def frame(idx: RunIndex, step: int, tr, colour_by: str = "kind", firms_only: bool = False,
          ahead: bool = False) -> dict:
    """One playback frame, drawn once per run, month, language and option (then kept a while).

    ``ahead`` marks the call of the drawing-ahead thread (which must not wait for itself).
    """
    key = (step, tr("app.lang"), colour_by, firms_only)
    with idx._frames_lock:
        if key in idx.frames:
            idx.frames.move_to_end(key)
            return idx.frames[key]
        pending = _PENDING.get((id(idx), key))
    if not ahead and pending is not None and pending.running():  # being drawn ahead: wait, do not draw twice
        return pending.result()
    charts = render_frame(idx, step, tr, colour_by, firms_only)
    with idx._frames_lock:
        idx.frames[key] = charts
        while len(idx.frames) > FRAMES_KEPT:
            idx.frames.popitem(last=False)
    return charts


def draw_ahead(idx: RunIndex, step: int, tr, colour_by: str, firms_only: bool) -> None:
    """While playing: draw the next month in the background, so that it shows at once."""
    key = (step, tr("app.lang"), colour_by, firms_only)
    with idx._frames_lock:
        if not 1 <= step <= idx.n_steps or key in idx.frames or (id(idx), key) in _PENDING:
            return
        future = _PENDING[(id(idx), key)] = _AHEAD.submit(frame, idx, step, tr, colour_by, firms_only, True)
    future.add_done_callback(lambda _: _PENDING.pop((id(idx), key), None))


@solara.component
def Playback(runs: list[RunEntry], tr, lang: str, skipped: Sequence[SkippedRun] = ()) -> None:
    """Pick a run, then play it month by month (``skipped``: run folders left out of the list)."""
    labels = [r.label for r in runs]
    choice = solara.use_reactive(labels[-1] if labels else None)
    if choice.value not in labels and labels:
        choice.set(labels[-1])
    entry = next((r for r in runs if r.label == choice.value), None)
    step = solara.use_reactive(1)
    playing = solara.use_reactive(False)
    speed = solara.use_reactive("normal")
    colour_by = solara.use_reactive("kind")
    firms_only = solara.use_reactive(False)

    def load() -> RunIndex | None:
        return run_index(entry.path) if entry else None

    loaded = solara.lab.use_task(load, dependencies=[entry.path if entry else None])
    idx: RunIndex | None = loaded.value if loaded.finished else None
    n = idx.n_steps if idx else 1

    async def advance() -> None:
        while playing.value:
            await asyncio.sleep(DELAYS[speed.value])
            if not playing.value:
                break
            if step.value >= n:
                playing.set(False)
                break
            step.set(step.value + 1)

    solara.lab.use_task(advance, dependencies=[playing.value, speed.value, n])

    def on_run(label: str) -> None:
        playing.set(False)
        step.set(1)
        choice.set(label)

    with solara.Row(style={"align-items": "center", "flex-wrap": "wrap"}, gap="16px"):
        solara.Select(tr("pb.run"), values=labels, value=choice.value, on_value=on_run,
                      style={"min-width": "22em", "max-width": "34em"}, classes=["cl-run"])
        solara.Button(tr("pb.pause") if playing.value else tr("pb.play"),
                      icon_name="mdi-pause" if playing.value else "mdi-play", color="primary",
                      on_click=lambda: (step.set(1) if step.value >= n else None, playing.set(not playing.value)),
                      disabled=idx is None, classes=["cl-play"])
        with solara.Column(gap="0px"):
            solara.Text(tr("pb.speed"), style={"font-size": "0.8rem", "color": "#555"})
            solara.ToggleButtonsSingle(value=speed.value, on_value=speed.set, dense=True, children=[solara.Button(tr(f"pb.speed.{k}"), value=k)
                                                                      for k in DELAYS])
        with solara.Column(gap="0px"):
            solara.Text(tr("pb.colour"), style={"font-size": "0.8rem", "color": "#555"})
            solara.ToggleButtonsSingle(value=colour_by.value, on_value=colour_by.set, dense=True, children=[solara.Button(tr(f"pb.colour.{k}"), value=k)
                                                 for k in ("kind", "owner")])
        solara.Switch(label=tr("pb.flows_firms"), value=firms_only)
    SkippedRuns(skipped, tr)
    cur = min(step.value, n)
    charts = solara.use_memo(
        lambda: frame(idx, cur, _Tr(tr, lang), colour_by.value, firms_only.value) if idx else None,
        [idx, cur, lang, colour_by.value, firms_only.value])

    def ahead() -> None:
        if idx is not None and playing.value:
            draw_ahead(idx, cur + 1, _Tr(tr, lang), colour_by.value, firms_only.value)

    solara.use_effect(ahead, [idx, cur, playing.value, lang, colour_by.value, firms_only.value])
    if idx is None or charts is None:
        if loaded.error:
            solara.Error(tr("app.error", error=loaded.exception))
        else:
            solara.Text(tr("app.loading"))
            solara.ProgressLinear(True)
        return
    with solara.Row(style={"align-items": "center"}, gap="16px"):
        solara.Text(f"{tr('pb.month')}: {idx.date(cur)}", classes=["cl-month"])
        with solara.Column(style={"flex-grow": "1"}):
            solara.SliderInt("", value=cur, min=1, max=n, on_value=step.set, thumb_label=False)
    man = idx.manifest
    solara.Text(tr("pb.info.one" if n == 1 else "pb.info", scenario=(man.get("scenario") or {}).get("name", "?"), seed=man.get("seed"),
                   start=man.get("start"), end=man.get("end"), n_months=n), classes=["cl-help"])
    stem = f"{idx.manifest.get('run_id', 'run')}_{idx.date(cur)}"
    with solara.Columns([1, 1], gutters_dense=True):
        ChartCard(charts["map"], f"map_{stem}", tr, "map")
        ChartCard(charts["network"], f"network_{stem}", tr, "network")
    with solara.Columns([1, 1], gutters_dense=True):
        ChartCard(charts["indicators"], f"indicators_{stem}", tr, "indicators")
        ChartCard(charts["flows"], f"flows_{stem}", tr, "flows")
    solara.Text(tr("pb.help"), classes=["cl-help"])


class _Tr:
    """A translator that also answers ``tr("app.lang")`` with its language (cache key of charts)."""

    def __init__(self, tr, lang: str):
        self.tr, self.lang = tr, lang

    def __call__(self, key: str, **fields: object) -> str:
        return self.lang if key == "app.lang" else self.tr(key, **fields)
