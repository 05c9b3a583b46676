"""Helpers for the sweep tests: sweep files, fake run folders, process teardown."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.sweep import SweepFolder, prepare

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "data" / "tiny.yaml"
HEAD = "name: t\nset: {end: 2023-02}\nseed: 1\n"  # a sweep file's first lines (with write_sweep's base)
ONE_PARAM = "uncertain:\n  - {path: economy.export_growth, type: real, range: [0.0, 0.1]}\ndesign: {method: lhs, samples: 2}\n"


def write_sweep(tmp: Path, body: str, name: str = "sweep.yaml") -> Path:
    """A sweep file over the tiny test world (``base`` is filled in)."""
    path = tmp / name
    path.write_text(f"base: {TINY}\n" + body, encoding="utf-8")
    return path


def fake_runs(spec_path: Path, out: Path, outcome: Callable[[dict], float],
              fail: Callable[[dict], bool] = lambda row: False, months: int = 3) -> SweepFolder:
    """Prepare a sweep folder and write fake complete run folders (manifest + indicators).

    ``outcome(row)`` gives the run's localisation_rate in its last month from its design row
    (policy, point, replicate, seed and the parameter columns); runs where ``fail(row)`` are
    journalled as failed instead.
    """
    _, folder, tasks = prepare(spec_path, out)
    with open(folder.journal, "a", encoding="utf-8") as journal:
        for row in tasks.to_dict("records"):
            if fail(row):
                journal.write(json.dumps({"run_id": row["run_id"], "status": "failed", "error": "ValueError: boom",
                                          "traceback": "Traceback ...\nValueError: boom", "started": 1.0,
                                          "finished": 2.0, "wall_time_s": 1.0, "worker": "w"}) + "\n")
                continue
            run = folder.runs / row["run_id"]
            run.mkdir(parents=True)
            end = outcome(row)
            dates = [f"2023-{m:02d}" for m in range(1, months + 1)]
            pd.DataFrame({"step": np.arange(1, months + 1), "date": dates,
                          "localisation_rate": np.linspace(0.0, end, months),
                          "n_fdi_firms": np.full(months, 5)}).to_parquet(run / "indicators.parquet")
            pd.DataFrame({"step": [months], "date": [dates[-1]], "firm_id": [1],
                          "tech": [end]}).to_parquet(run / "firms.parquet")
            (run / "manifest.json").write_text(json.dumps({"run_id": row["run_id"], "status": "complete",
                                                           "seed": int(row["seed"]),
                                                           "tables": {"indicators": months, "firms": 1}}))
    return folder


TIMING_KEYS = {"created", "wall_time_s", "started", "finished"}


def assert_same_runs(a: Path, b: Path) -> int:
    """Two sweep folders hold the same complete runs with identical tables; returns the run count."""
    runs_a = sorted(p.name for p in (a / "runs").iterdir() if not p.name.startswith("."))
    runs_b = sorted(p.name for p in (b / "runs").iterdir() if not p.name.startswith("."))
    assert runs_a == runs_b
    for run in runs_a:
        tables = sorted(p.name for p in (a / "runs" / run).glob("*.parquet"))
        assert tables == sorted(p.name for p in (b / "runs" / run).glob("*.parquet"))
        assert tables, run
        for name in tables:
            pd.testing.assert_frame_equal(pd.read_parquet(a / "runs" / run / name),
                                          pd.read_parquet(b / "runs" / run / name), check_exact=True)
        ma, mb = (json.loads((d / "runs" / run / "manifest.json").read_text()) for d in (a, b))
        assert {k: v for k, v in ma.items() if k not in TIMING_KEYS} == \
               {k: v for k, v in mb.items() if k not in TIMING_KEYS}
    return len(runs_a)


def journal_records(folder: Path) -> list[dict]:
    path = folder / "journal.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.is_file() else []


def complete_runs(folder: Path) -> list[str]:
    """The sweep's finished run folders. A hidden ``.tmp-*`` folder is a run being written: a
    writer killed after its manifest but before the rename leaves one with a manifest inside."""
    runs = folder / "runs"
    if not runs.is_dir():
        return []
    return sorted(p.name for p in runs.iterdir() if not p.name.startswith(".") and (p / "manifest.json").is_file())
