"""One run: load the scenario, simulate it month by month, write the run folder.

``execute_run`` is the single way a run reaches disk (``clusterlink run``, sweeps and the dashboard
all call it). It records what is needed to repeat the run exactly: the resolved scenario and its
hash, the seed (drawn and recorded when none is given), the ``--set`` overrides, package versions
and the git commit. ``run_summary`` turns a run folder into a start-versus-end table.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.table import Table

from experiments import store
from model.scenario import Scenario, load_scenario

__all__ = ["SUMMARY_INDICATORS", "InterruptBetweenMonths", "caused_by_interrupt", "default_run_id", "draw_seed",
           "execute_run", "run_summary", "simulate"]

MAX_SEED = 2**63 - 1

# indicator column → (label, kind); kind picks the unit and number format of run_summary
SUMMARY_INDICATORS: dict[str, tuple[str, str]] = {
    "localisation_rate": ("Localisation rate", "share"),
    "domestic_tier1_suppliers": ("Domestic tier-1 suppliers", "firms"),
    "n_fdi_firms": ("FDI firms", "firms"),
    "n_domestic_firms": ("Domestic firms", "firms"),
    "employment_total": ("Employment", "persons"),
    "mean_tech_domestic": ("Mean SME technology", "tau"),
    "tech_gap": ("FDI–SME technology gap", "tau"),
    "industrial_output": ("Industrial output", "vnd_month"),
    "contracts_active": ("Active contracts", "contracts"),
    "policy_spend_cumulative": ("Policy spending to date", "vnd"),
}
_UNITS = {"share": "% (share)", "firms": "firms", "persons": "persons", "tau": "τ (0–1)",
          "vnd_month": "VND bn/month", "contracts": "contracts", "vnd": "VND bn"}


def draw_seed() -> int:
    """A fresh seed from the operating system's entropy, reduced to a non-negative 63-bit int."""
    return int(np.random.SeedSequence().entropy) % (MAX_SEED + 1)


def default_run_id(scenario_name: str, seed: int, when: datetime | None = None) -> str:
    """``<scenario name>-s<seed>-<YYYYmmdd-HHMMSS>`` (local time), always a valid run id: a name too
    long for one is cut and ends in a short hash of it, leading dots are dropped
    (``store.fit_run_id``)."""
    when = when or datetime.now()
    return store.fit_run_id(scenario_name, f"-s{seed}-{when:%Y%m%d-%H%M%S}")


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"seed must be an integer, got {seed!r}")
    if not 0 <= int(seed) <= MAX_SEED:
        raise ValueError(f"seed must be between 0 and 2**63 - 1, got {seed}")
    return int(seed)


def execute_run(scenario: Scenario | str | Path, seed: int | None = None, out_dir: str | Path = "results",
                run_id: str | None = None, progress: bool = False, overrides: Iterable[str] = (),
                overwrite: bool = False) -> Path:
    """Simulate one scenario to its end and write its run folder atomically; return the folder.

    Args:
        scenario: a loaded ``Scenario``, or the path of a scenario file (then loaded with
            ``overrides``). With a ``Scenario``, ``overrides`` are the ones already applied to
            it and are only recorded.
        seed: the model's seed; None draws one (it is recorded in the manifest either way).
        out_dir: the results folder; the run goes to ``<out_dir>/<run_id>/``.
        run_id: the folder name; default ``<scenario name>-s<seed>-<YYYYmmdd-HHMMSS>`` (the name
            cut to fit, see ``default_run_id``).
        progress: show a rich progress bar (month, date, live indicators) on stderr.
        overrides: ``KEY.PATH=VALUE`` strings (``--set``), recorded in the manifest.
        overwrite: replace a complete run folder of the same name instead of raising (only one
            holding nothing but the run's own files).

    Raises:
        ScenarioError: the scenario file or an override is invalid.
        RunExistsError: ``<out_dir>/<run_id>`` already holds a complete run and not ``overwrite``.
        NotARunError: something that is not a complete run folder with only the run's files in it
            is at ``<out_dir>/<run_id>`` (left alone, even with ``overwrite``).
        StoreError: the run id is not a folder name, or ``out_dir`` cannot hold runs.
    """
    overrides = [str(o) for o in overrides]
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario, overrides)
    seed = draw_seed() if seed is None else _check_seed(seed)
    run_id = str(run_id) if run_id is not None else default_run_id(sc.name, seed)
    store.check_target(out_dir, run_id, overwrite)  # fail before spending the run's time

    started = time.perf_counter()
    tables, n_months = simulate(sc, seed, progress_label=run_id if progress else None, for_store=True)
    wall_time = time.perf_counter() - started
    manifest = {
        "run_id": run_id,
        "status": "complete",
        "scenario": {"path": sc.source_path, "name": sc.name, "hash": sc.config_hash()},
        "config": sc.resolved_dict(),
        "seed": seed,
        "start": sc.start,
        "end": sc.end,
        "n_months": n_months,
        "created": datetime.now().astimezone().isoformat(timespec="seconds"),
        "wall_time_s": round(wall_time, 3),
        "versions": store.collect_versions(),
        "git_commit": store.git_commit(),
        "tables": {},
        "overrides": overrides,
    }
    return store.write_run(out_dir, run_id, manifest, tables, overwrite=overwrite)


def simulate(sc: Scenario, seed: int, progress_label: str | None = None,
             for_store: bool = False) -> tuple[dict[str, pd.DataFrame], int]:
    """Build the model and step it to the scenario's end; return its tables and its number of months.

    ``for_store``: the tables as ``store.write_run`` writes them fastest (``ClusterModel.results``).

    A Ctrl-C is held to the end of the month in progress (``InterruptBetweenMonths``), then raised
    as ``KeyboardInterrupt``. ``progress_label`` shows a progress bar under that name on stderr.
    """
    from model.cluster_model import ClusterModel, frozen_heap

    model = None
    with InterruptBetweenMonths() as held:
        try:
            model = (ClusterModel(sc, seed=seed) if progress_label is None
                     else _build_with_progress(sc, seed, progress_label))
            held.check()
            with frozen_heap():
                if progress_label is not None:
                    _step_with_progress(model, progress_label, held.check)
                else:
                    while model.running:
                        model.step()
                        held.check()
            return model.results(for_store), int(model.n_months)
        finally:
            if model is not None:  # its tables are taken: free its arrays now, not at some later full GC
                model.discard()


def _build_with_progress(sc: Scenario, seed: int, run_id: str) -> Any:
    """Build the model saying so on stderr: a large world takes long to build before its first month.

    On a terminal a spinner with the elapsed time; otherwise (a log file, CI) a line before and after.
    """
    from rich.console import Console

    from model.cluster_model import ClusterModel

    console = Console(stderr=True)
    what = f"{run_id}: building the world ({sc.starting_firms():,} firms, seed {seed})"
    t0 = time.perf_counter()
    if console.is_terminal:
        with console.status(what, spinner="dots"):
            model = ClusterModel(sc, seed=seed)
    else:
        console.print(f"{what} ...", highlight=False, soft_wrap=True)
        model = ClusterModel(sc, seed=seed)
    console.print(f"{run_id}: world built in {time.perf_counter() - t0:.1f} s", highlight=False, soft_wrap=True)
    return model


def _live(model: Any) -> str:
    ind = model.latest_indicators()
    return (f"localisation {ind.get('localisation_rate', float('nan')):.1%} · "
            f"tier-1 SMEs {ind.get('domestic_tier1_suppliers', 0):,.0f} · "
            f"SME τ {ind.get('mean_tech_domestic', float('nan')):.3f}")


class InterruptBetweenMonths:
    """Hold a Ctrl-C until the month being simulated ends, then raise ``KeyboardInterrupt``.

    A SIGINT that lands inside a compiled kernel, or while numba loads one from its cache, comes
    out as a ``SystemError`` rather than a ``KeyboardInterrupt``, so the interrupt would look like
    a crash. Held to the end of the month (``check``), it is always an interrupt. A second Ctrl-C
    interrupts at once. Only the main thread can own the handler, and a handler someone else
    installed (a worker pool that ignores SIGINT, for one) is left in place.
    """

    def __init__(self) -> None:
        self.pending = False
        self._previous: Any = None

    def __enter__(self) -> InterruptBetweenMonths:
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self._previous = signal.signal(signal.SIGINT, self._hold)
        return self

    def _hold(self, signum: int, frame: Any) -> None:
        if self.pending:
            raise KeyboardInterrupt
        self.pending = True

    def check(self) -> None:
        """Raise the Ctrl-C held since the last check, if any."""
        if self.pending:
            raise KeyboardInterrupt

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def caused_by_interrupt(err: BaseException) -> bool:
    """Whether ``err`` is a ``KeyboardInterrupt`` or was raised because of one (numba wraps them)."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, KeyboardInterrupt):
            return True
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return False


def _step_with_progress(model: Any, run_id: str, after_month: Callable[[], None]) -> None:
    """Step to the end showing the month and a few live indicators on stderr.

    On a terminal this is a rich progress bar; otherwise (a log file, CI) one line per year.
    ``after_month`` runs after every month (the interrupt check).
    """
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    if not console.is_terminal:
        while model.running:
            model.step()
            after_month()
            if model.current_date.endswith("-12") or not model.running:
                console.print(f"{run_id}: {model.current_date} ({model.steps}/{model.n_months}) {_live(model)}",
                              highlight=False, soft_wrap=True)
        return
    columns = (TextColumn("[bold]{task.fields[date]}"), BarColumn(bar_width=30), MofNCompleteColumn(),
               TextColumn("months"), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
               TextColumn("{task.fields[live]}"))
    with Progress(*columns, console=console) as bar:
        task = bar.add_task(run_id, total=model.n_months, date=model.sc.start, live="")
        while model.running:
            model.step()
            after_month()
            bar.update(task, advance=1, date=model.current_date, live=_live(model))


def _fmt(value: float, kind: str) -> str:
    if value is None or not np.isfinite(value):
        return "–"
    if abs(value) >= 1e9 and kind not in ("share", "tau"):  # a number a table column would cut to "74,439,047,3…"
        return f"{value:.3g}"
    if kind == "share":
        return f"{100 * value:.2f} %"
    if kind == "tau":
        return f"{value:.3f}"
    if kind in ("vnd_month", "vnd"):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:,.1f}"
    return f"{value:,.0f}"


def _change(start: float, end: float, kind: str) -> str:
    if not (np.isfinite(start) and np.isfinite(end)):
        return "–"
    diff = end - start
    if kind == "share":
        return f"{100 * diff:+.2f} pp"
    if kind == "tau":
        return f"{diff:+.3f}"
    rel = f" ({diff / start:+.1%})" if start else ""
    return (_fmt(diff, kind) if diff < 0 else "+" + _fmt(diff, kind)) + rel


def run_summary(run_path: str | Path) -> Table:
    """A rich table of the main indicators in the first and the last simulated month."""
    run = store.read_run(run_path)
    ind = run.table("indicators")
    m = run.manifest
    if ind.empty:
        return Table(title=f"{run.run_id}: no months recorded")
    first, last = ind.iloc[0], ind.iloc[-1]
    table = Table(title=f"{run.run_id} (scenario {m.get('scenario', {}).get('name', '?')}, seed {m.get('seed')})",
                  title_justify="left", caption=f"{first['date']} and {last['date']}: the state at the end of the "
                  "first and of the last simulated month; localisation rate: FDI lead firms' inputs bought from "
                  "domestic firms ÷ their output value; τ: technology relative to the world frontier",
                  caption_justify="left")
    table.add_column("indicator")
    table.add_column("unit")
    table.add_column(str(first["date"]), justify="right")
    table.add_column(str(last["date"]), justify="right")
    table.add_column("change", justify="right")
    for col, (label, kind) in SUMMARY_INDICATORS.items():
        if col not in ind.columns:
            continue
        a, b = float(first[col]), float(last[col])
        table.add_row(label, _UNITS[kind], _fmt(a, kind), _fmt(b, kind), _change(a, b, kind))
    return table
