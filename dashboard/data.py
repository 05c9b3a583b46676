"""Where the dashboard finds runs: a thin adapter over ``experiments.store``.

The dashboard reads results only through ``experiments.store`` (docs/ARCHITECTURE.md). This module
adds what a viewer needs on top: listing every run under a results folder (plain runs and the runs
inside sweep folders, with their policy variant) and a label for each.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from experiments import store
from experiments.store import RunData, StoreError, list_runs

RESULTS_ENV = "CLUSTERLINK_RESULTS"
DASHBOARD_NEEDS = {table: tuple(cols) for table, cols in store.TABLE_COLUMNS.items()}
"""The columns the views use: every documented one (a run without them is named, not drawn half)."""
SCENARIOS_ENV = "CLUSTERLINK_SCENARIOS"


@dataclass(frozen=True)
class RunEntry:
    """One complete run found under the results folder."""

    path: Path
    run_id: str
    scenario: str
    seed: int | None
    start: str
    end: str
    group: str  # runs that differ only by seed share a group (a sweep variant, or one scenario)
    sweep: str | None = None

    @property
    def label(self) -> str:
        where = f"{self.sweep} / " if self.sweep else ""
        return f"{where}{self.run_id}  ({self.scenario}, {self.start}–{self.end})"


def read_run(path: str | Path) -> RunData:
    """A run folder as the dashboard reads it: ``StoreError`` naming the file and the column if a
    table lacks a documented column or has it with another type."""
    return store.read_run(path, need=DASHBOARD_NEEDS)


def indicators(run: RunData) -> pd.DataFrame:
    """A run's indicator table, one row per month: ``StoreError`` naming the file and the month if a
    date or a step is in more than one row (a hand-edited or merged file; the store never writes one)."""
    ind = run.table("indicators")
    for col in ("date", "step"):
        counts = ind[col].value_counts(sort=False, dropna=False)
        repeated = counts[counts > 1]
        if len(repeated):
            raise StoreError(f"{run.path / 'indicators.parquet'}: the {col} {repeated.index[0]} is in "
                             f"{repeated.iloc[0]} rows; a run has one row per month (was the file edited or merged?)")
    return ind


def results_dir() -> Path:
    """The results folder given to ``clusterlink dashboard --results``."""
    return Path(os.environ.get(RESULTS_ENV, "results")).expanduser()


def scenarios_dir() -> Path:
    """The folder of scenario files the scenario view and live mode offer."""
    default = Path(__file__).resolve().parents[1] / "scenarios"
    return Path(os.environ.get(SCENARIOS_ENV, str(default))).expanduser()


def _variants(sweep: Path) -> dict[str, str]:
    """run_id → policy variant of a sweep folder (from its design table)."""
    try:
        design = pd.read_parquet(sweep / "design.parquet", columns=["run_id", "policy"])
    except (OSError, ValueError, KeyError):
        return {}
    return dict(zip(design["run_id"].astype(str), design["policy"].astype(str), strict=True))


@dataclass(frozen=True)
class SkippedRun:
    """A run folder the listing leaves out, with the store's reason (shown under the run picker)."""

    path: Path
    folder: str  # the folder's path under the results folder
    problem: str


def scan_runs(root: Path | None = None, max_depth: int = 3) -> tuple[list[RunEntry], list[SkippedRun]]:
    """Every complete run under ``root`` (its own runs, and those of sweep folders and subfolders),
    and the run folders left out because the store refuses them."""
    root = root or results_dir()
    found: list[RunEntry] = []
    skipped: list[SkippedRun] = []

    def skip(path: Path, problem: str) -> None:
        problem = problem.removeprefix(f"{path}: ")  # the folder is named beside it
        skipped.append(SkippedRun(path, path.relative_to(root).as_posix(), problem))

    def walk(folder: Path, depth: int, sweep: Path | None) -> None:
        runs = list_runs(folder)
        for path in runs:
            try:
                found.append(_entry(path, store.read_run(path).manifest, sweep))
            except StoreError as err:
                skip(path, str(err))
        is_sweep = (folder / "sweep.json").is_file()
        done = set(runs)
        for child in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if child in done:
                continue
            if os.path.lexists(child / store.MANIFEST):  # a run folder, but not a complete one
                problem = store.manifest_problem(child)
                if problem:
                    skip(child, problem)
            elif depth < max_depth:
                walk(child, depth + 1, folder if is_sweep else sweep)

    if root.is_dir():
        walk(root, 0, None)
    return found, skipped


def find_runs(root: Path | None = None, max_depth: int = 3) -> list[RunEntry]:
    """Every complete run under ``root`` (``scan_runs`` without the folders it leaves out)."""
    return scan_runs(root, max_depth)[0]


_VARIANT_CACHE: dict[Path, dict[str, str]] = {}
_SEED_SUFFIX = re.compile(r"-s\d+(-\d{8}-\d{6})?$")


def _entry(folder: Path, man: dict[str, Any], sweep: Path | None) -> RunEntry:
    scen = man.get("scenario") or {}
    run_id = str(man.get("run_id", folder.name))
    if sweep is not None:
        variants = _VARIANT_CACHE.setdefault(sweep, _variants(sweep))
        group = f"{sweep.name}: {variants.get(run_id, run_id.split('-p')[0])}"
    else:  # same resolved scenario = same group; named after the run id without its seed
        group = f"{_SEED_SUFFIX.sub('', run_id)}#{str(scen.get('hash', ''))[:8]}"
    return RunEntry(path=folder, run_id=run_id, scenario=str(scen.get("name", "?")),
                    seed=man.get("seed"), start=str(man.get("start", "")), end=str(man.get("end", "")),
                    group=group, sweep=sweep.name if sweep else None)


def groups(runs: list[RunEntry]) -> dict[str, list[RunEntry]]:
    """Runs that differ only by seed, under a readable label (a hash is added only if needed)."""
    by_key: dict[str, list[RunEntry]] = {}
    for r in runs:
        by_key.setdefault(r.group, []).append(r)
    names: dict[str, int] = {}
    for key in by_key:
        names[key.split("#")[0]] = names.get(key.split("#")[0], 0) + 1
    out = {}
    for key, members in by_key.items():
        name, _, digest = key.partition("#")
        label = name if names[name] == 1 or not digest else f"{name} ({digest[:6]})"
        out[label] = members
    return out
