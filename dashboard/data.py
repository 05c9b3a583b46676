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


def find_runs(root: Path | None = None, max_depth: int = 3) -> list[RunEntry]:
    """Every complete run under ``root``: its own runs, and those of sweep folders and subfolders."""
    root = root or results_dir()
    found: list[RunEntry] = []

    def walk(folder: Path, depth: int, sweep: Path | None) -> None:
        runs = list_runs(folder)
        for path in runs:
            try:
                found.append(_entry(path, store.read_run(path).manifest, sweep))
            except StoreError:
                continue
        if depth >= max_depth:
            return
        is_sweep = (folder / "sweep.json").is_file()
        done = set(runs)
        for child in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if child not in done:
                walk(child, depth + 1, folder if is_sweep else sweep)

    if root.is_dir():
        walk(root, 0, None)
    return found


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
