"""Live: run a scenario in the browser with the policy levers as controls, then save it as a run.

The lever controls come from the scenario schema (``dashboard.levers``); sliders are drawn by
Mesa's ``solara_viz.UserInputs``. The model is created per browser session (never shared between
tabs) and stepped by an async task; a running or finished model is saved through
``experiments.store.write_run`` and then appears in Playback.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any

import mesa
import pandas as pd
import solara
import solara.lab
from matplotlib.backends.backend_agg import FigureCanvasAgg

with warnings.catch_warnings():  # Solara's hook check flags Mesa's own ComponentsView, not ours, at import
    warnings.filterwarnings("ignore", category=UserWarning, module=r"solara\.validate_hooks")
    from mesa.visualization.solara_viz import UserInputs

from dashboard.charts import PANELS, SERIES_COLOURS, Chart, date_axis, encode, new_figure, year_of
from dashboard.data import results_dir, scenarios_dir
from dashboard.levers import block, choice_label, controls_for, lever_classes, overrides
from dashboard.scenario_view import load, scenario_files
from dashboard.widgets import ChartCard
from experiments import store
from experiments.runner import default_run_id
from model.cluster_model import ClusterModel
from model.scenario import Scenario, load_scenario


@dataclass
class LiveRun:
    """One browser session's model and what it has recorded so far."""

    model: ClusterModel
    scenario: Scenario
    seed: int
    overrides: list[str]
    history: list[dict[str, Any]] = field(default_factory=list)

    def step(self) -> None:
        self.model.step()
        self.history.append(self.model.latest_indicators())

    def close(self) -> None:
        mesa.Agent._ids.pop(self.model, None)  # Mesa 3.3.1 keeps every model alive otherwise

    def save(self, out: Path) -> Path:
        """Write what has been simulated so far as a run folder (through the results store)."""
        sc = self.scenario
        stamp = default_run_id(f"live-{sc.name}", self.seed)  # fits whatever the name's length
        for k in range(1, 1000):  # a second save in the same second (or another tab's) gets -2, -3, ...
            run_id = stamp if k == 1 else store.fit_run_id(stamp, f"-{k}")
            try:
                return self._write(out, run_id)
            except store.RunExistsError:
                continue
        raise store.RunExistsError(f"{out}: a thousand live runs named {stamp}[-k] already exist")

    def _write(self, out: Path, run_id: str) -> Path:
        sc, m = self.scenario, self.model
        manifest = {"run_id": run_id, "status": "complete",
                    "scenario": {"path": sc.source_path, "name": sc.name, "hash": sc.config_hash()},
                    "config": sc.resolved_dict(), "seed": self.seed, "start": sc.start, "end": m.current_date,
                    "n_months": len(self.history), "created": datetime.now().astimezone().isoformat(timespec="seconds"),
                    "wall_time_s": None, "versions": store.collect_versions(), "git_commit": store.git_commit(),
                    "tables": {}, "overrides": self.overrides, "live": True}
        return store.write_run(out, run_id, manifest, m.results())


def start_run(path: Path, seed: int, end: str, blocks: list[dict[str, Any]]) -> LiveRun:
    base = load_scenario(path)
    sets = overrides(base, end, blocks)
    sc = load_scenario(path, sets)
    return LiveRun(ClusterModel(sc, seed=seed), sc, seed, sets)


def draw_live(run: LiveRun, tr) -> Chart:
    """The main indicators of the live run so far, on the scenario's whole horizon."""
    hist = pd.DataFrame(run.history)
    fig = new_figure(9.0, 6.0)
    canvas = FigureCanvasAgg(fig)
    axes = fig.subplots(2, 2, gridspec_kw={"left": 0.07, "right": 0.98, "top": 0.86, "bottom": 0.07,
                                           "wspace": 0.22, "hspace": 0.35}).flat
    start, n = run.scenario.start, run.model.n_months
    for ax, (title, cols, scale) in zip(axes, PANELS, strict=True):
        for col, colour in zip(cols, SERIES_COLOURS, strict=True):
            if len(hist):
                ax.plot(year_of(hist["step"].to_numpy(), start), hist[col] * scale, color=colour, lw=2,
                        label=tr(f"lg.{col}"))
        ax.set_xlim(float(year_of(1, start)), float(year_of(n, start)))
        date_axis(ax, float(year_of(1, start)), float(year_of(n, start)), max_ticks=8)
        ax.set_title(tr(title), fontsize=11)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=9)
        if len(hist):
            ax.legend(fontsize=8, loc="best")
    fig.text(0.07, 0.93, tr("live.title"), fontsize=14)
    canvas.draw()
    return Chart(encode(canvas), lambda: hist)


@solara.component
def LeverControls(lever: str, controls, values: solara.Reactive[dict], tr) -> None:
    """The controls of one lever: Mesa sliders for numbers, switches and selects for the rest."""
    current = values.value.get(lever, {c.path: c.value for c in controls})

    def set_value(name: str, value: Any) -> None:
        values.set({**values.value, lever: {**current, name: value}})

    # Mesa's sliders show their value only while dragged: the label carries it, for the room to read
    sliders = {c.path: c.mesa_spec(f"{tr(c.label_key)}: {show_value(current.get(c.path, c.value), tr)}")
               for c in controls if c.kind.startswith("Slider")}
    for c in controls:
        if c.kind == "switch":
            solara.Switch(label=tr(c.label_key), value=bool(current.get(c.path)), on_value=lambda v, p=c.path: set_value(p, v))
        elif c.kind == "select":
            shown = {choice_label(tr, v): v for v in c.choices}
            solara.Select(tr(c.label_key), values=list(shown), value=choice_label(tr, current.get(c.path)),
                          on_value=lambda v, p=c.path, shown=shown: set_value(p, shown.get(v, v)))
    UserInputs({k: {**spec, "value": current.get(k, spec["value"])} for k, spec in sliders.items()},
               on_change=set_value)


def show_value(value: Any, tr: Callable[..., str]) -> str:
    """A slider's value as the room reads it, with its language's separators: 0.04, 1.6, 50, 3,000
    (Vietnamese 0,04, 1,6, 50, 3.000)."""
    if isinstance(value, float) and not value.is_integer():
        return tr("num_short", n=value)
    return tr("num", n=int(value)) if isinstance(value, int | float) else str(value)


@solara.component
def Live(tr, lang: str, on_saved) -> None:
    """Scenario, seed and levers on the left; run controls and the indicators on the right."""
    root = scenarios_dir()
    # every scenario file is offered; only the chosen one is validated (all of them take seconds)
    files = solara.use_memo(lambda: scenario_files(root), [str(root)])
    names = [str(p.relative_to(root)) for p in files]
    choice = solara.use_reactive(next((n for n in names if n == "baseline.yaml"), names[0] if names else None))
    seed = solara.use_reactive("1")
    sc, issues = solara.use_memo(lambda: load(root / choice.value) if choice.value else (None, []), [choice.value])
    months = solara.use_memo(lambda: _months(sc) if sc else [], [choice.value])
    end = solara.use_reactive("")
    on = solara.use_reactive({})  # lever → switched on
    values = solara.use_reactive({})  # lever → {field: value}
    run = solara.use_reactive(None)
    playing = solara.use_reactive(False)
    tick = solara.use_reactive(0)
    # (key, fields) of the message shown, translated as it is shown (it follows a change of language);
    # key None: a text given as it is (the loader's own message)
    message = solara.use_reactive((None, ""))
    controls = solara.use_memo(
        lambda: {t: controls_for(c, sc, months) for t, c in lever_classes().items()} if sc else {}, [choice.value])

    async def loop() -> None:
        while playing.value and run.value is not None and run.value.model.running:
            run.value.step()
            tick.set(tick.value + 1)
            await asyncio.sleep(0.05)
        playing.set(False)

    solara.lab.use_task(loop, dependencies=[playing.value])
    r: LiveRun | None = run.value
    chart = solara.use_memo(lambda: draw_live(r, tr) if r is not None else None, [id(r), tick.value, lang])
    if sc is None:
        if not names:
            solara.Info(tr("sc.none_found", path=root))
            return
        solara.Select(tr("live.scenario"), values=names, value=choice, style={"max-width": "40em"})
        with solara.Column(classes=["cl-scenario-errors"]):
            solara.Error(tr("sc.invalid"))
            for line in issues:
                solara.Text(line, style={"font-family": "monospace", "white-space": "pre-wrap", "color": "#922b21"})
        return

    def restart() -> None:
        playing.set(False)
        if run.value is not None:
            run.value.close()
        blocks = [block(t, {c.path: values.value.get(t, {}).get(c.path, c.value) for c in controls[t]})
                  for t in controls if on.value.get(t) and controls[t]]
        text = str(seed.value).strip() or "0"
        if not text.isdigit():  # the seed box takes any text: say what it wants, in the page's language
            message.set(("live.bad_seed", {"seed": text}))
            return
        try:
            run.set(start_run(root / choice.value, int(text), end.value or months[-1], blocks))
            message.set((None, ""))
        except Exception as err:  # an invalid combination of levers: show the loader's message
            message.set((None, str(err)))

    def save() -> None:
        try:
            path = run.value.save(results_dir())
        except (store.StoreError, OSError) as err:  # a full disk, a read-only results folder
            message.set(("live.save_failed", {"error": str(err)}))
            return
        message.set(("live.saved", {"run_id": path.name}))
        on_saved()

    with solara.Columns([1, 2]):
        with solara.Column(gap="4px"):
            solara.Select(tr("live.scenario"), values=names, value=choice)
            with solara.Row():
                solara.InputText(tr("live.seed"), value=seed)
                solara.Select(tr("live.end"), values=months, value=end.value or months[-1], on_value=end.set)
            solara.HTML(tag="h4", unsafe_innerHTML=escape(tr("live.levers")))
            for lever, ctls in controls.items():
                if not ctls:
                    continue
                solara.Switch(label=tr("live.lever_on", lever=tr(f"lever.{lever}")), value=bool(on.value.get(lever)),
                              on_value=lambda v, t=lever: on.set({**on.value, t: v}))
                if on.value.get(lever):
                    with solara.Column(style={"padding-left": "2em"}):
                        LeverControls(lever, ctls, values, tr)
            solara.Text(tr("live.help"), classes=["cl-help"])
        with solara.Column():
            with solara.Row(style={"align-items": "center"}):
                solara.Button(tr("live.start"), on_click=restart, color="primary", icon_name="mdi-restart")
                solara.Button(tr("live.pause") if playing.value else tr("live.run"),
                              icon_name="mdi-pause" if playing.value else "mdi-play",
                              on_click=lambda: playing.set(not playing.value),
                              disabled=r is None or not r.model.running)
                solara.Button(tr("live.step"), on_click=lambda: (r.step(), tick.set(tick.value + 1)),
                              disabled=r is None or playing.value or not r.model.running)
                solara.Button(tr("live.save"), on_click=save, icon_name="mdi-content-save",
                              disabled=r is None or not r.history or playing.value)
            key, fields = message.value
            if key or fields:
                solara.Info(tr(key, **fields) if key else fields)
            if r is None:
                solara.Text(tr("live.not_started"))
                return
            if r.history:
                solara.Text(tr("live.status", date=r.model.current_date, step=len(r.history), n=r.model.n_months),
                            classes=["cl-month"])
            ChartCard(chart, f"live_{r.scenario.name}", tr, "live")


def _months(sc: Scenario) -> list[str]:
    out, y, m = [], int(sc.start[:4]), int(sc.start[5:7])
    while f"{y:04d}-{m:02d}" <= sc.end:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out
