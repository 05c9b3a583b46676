"""Run scenario files over seeds in a small process pool, keeping only the tables asked for.

Used by ``compare``, ``calibrate`` and ``validation``. A task is (scenario file, overrides, seed);
its result is a dict of the run's tables (copies) tagged with the task's label and seed. Runs of
different scenarios with the same seed share their random numbers up to the first policy
difference (common random numbers), so paired differences by seed have small variance.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

DEFAULT_WORKERS = 2


@dataclass(frozen=True)
class Task:
    """One run: a scenario file with overrides and a seed; ``label`` names it in results."""

    label: str
    path: str
    seed: int
    overrides: tuple[str, ...] = ()
    tables: tuple[str, ...] = ("indicators",)
    extra: dict = field(default_factory=dict, hash=False, compare=False)


def run_task(task: Task) -> dict[str, pd.DataFrame]:
    """Run one task to its scenario's end; return the requested tables with label and seed columns."""
    from experiments.runner import simulate
    from model.scenario import load_scenario

    res, _ = simulate(load_scenario(task.path, list(task.overrides)), task.seed)
    out = {}
    for name in task.tables:
        df = res[name]
        df.insert(0, "seed", task.seed)
        df.insert(0, "scenario", task.label)
        out[name] = df
    return out


def workers_default() -> int:
    return max(1, min(DEFAULT_WORKERS, os.cpu_count() or 1))


def run_tasks(tasks: Sequence[Task], workers: int | None = None,
              on_done: Callable[[Task], None] | None = None) -> list[dict[str, pd.DataFrame]]:
    """Run every task (in a process pool when ``workers`` > 1); results in the tasks' order."""
    workers = workers or workers_default()
    results: list[dict[str, pd.DataFrame] | None] = [None] * len(tasks)
    if workers <= 1 or len(tasks) <= 1:
        for i, t in enumerate(tasks):
            results[i] = run_task(t)
            if on_done:
                on_done(t)
        return results  # type: ignore[return-value]
    from experiments.executors import exit_with

    # a worker ends with this process: a killed compare or calibration does not leave it running
    with ProcessPoolExecutor(max_workers=workers, initializer=exit_with, initargs=(os.getpid(),)) as pool:
        futures = {pool.submit(run_task, t): i for i, t in enumerate(tasks)}
        for fut in as_completed(futures):
            i = futures[fut]
            results[i] = fut.result()
            if on_done:
                on_done(tasks[i])
    return results  # type: ignore[return-value]


def concat(results: Iterable[dict[str, pd.DataFrame]], table: str) -> pd.DataFrame:
    return pd.concat([r[table] for r in results], ignore_index=True)


def scenario_label(path: str | Path) -> str:
    """The scenario's ``name`` (falls back to the file stem when the file cannot be read)."""
    from model.scenario import load_scenario

    try:
        return load_scenario(path).name
    except Exception:  # noqa: BLE001 - the run itself will report the error
        return Path(path).stem


class RichProgress:
    """A rich progress bar usable as ``on_done`` callback (disabled → no output)."""

    def __init__(self, total: int, description: str, enabled: bool = True):
        self.enabled = enabled
        if not enabled:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.p = Progress(TextColumn(f"[bold]{description}[/]"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}"))
        self.task = self.p.add_task(description, total=total, info="")
        self.p.start()

    def __call__(self, task: Task) -> None:
        if self.enabled:
            self.p.update(self.task, advance=1, info=f"{task.label} seed {task.seed}")

    def close(self) -> None:
        if self.enabled:
            self.p.stop()
