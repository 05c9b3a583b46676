"""Sweep orchestration: the sweep folder, its design, journal and index, and resuming.

Sweep folder::

    <out>/sweep.yaml        copy of the sweep file as first run
    <out>/sweep.json        name, source file, design method, counts, SALib problem
    <out>/points.parquet    one row per design point: point, u_<param> (unit cube), <param>
    <out>/design.parquet    one row per run: run_id, policy, point, replicate, seed, scenario, overrides, <param>
    <out>/journal.jsonl     append-only: one line per finished task (fsync'd, so a crash loses nothing)
    <out>/index.parquet     the journal compacted: status of every run (rewritten atomically)
    <out>/runs/<run_id>/    run folders written by ``experiments.runner.execute_run`` (atomic rename)

A run is done when its folder is complete (its manifest says so, with the design's seed): the
folder is trusted over the journal. Running the same sweep again, or with ``--resume``, runs only
the runs that are missing or failed.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from experiments import designs
from experiments.executors import Executor, RunResult, RunTask, make_executor, run_complete
from experiments.sweep_spec import SweepSpec, SweepSpecError, issue_at, load_sweep

INDEX_COLUMNS = ["run_id", "policy", "point", "replicate", "seed", "status", "error", "traceback",
                 "attempts", "started", "finished", "wall_time_s", "worker"]
COMPACT_EVERY_S = 15.0


class SweepError(RuntimeError):
    """A sweep cannot start (folder holds another sweep, is in use, ...)."""


@dataclass
class SweepSummary:
    out: Path
    total: int
    complete: int
    failed: int
    ran: int  # tasks executed by this invocation
    skipped: int  # runs already complete before it started
    elapsed_s: float

    @property
    def pending(self) -> int:
        return self.total - self.complete - self.failed


class SweepFolder:
    """Paths and files of one sweep folder."""

    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()
        self.runs = self.root / "runs"
        self.design = self.root / "design.parquet"
        self.points = self.root / "points.parquet"
        self.index = self.root / "index.parquet"
        self.journal = self.root / "journal.jsonl"
        self.meta = self.root / "sweep.json"
        self.spec_copy = self.root / "sweep.yaml"

    def exists(self) -> bool:
        return self.design.is_file()

    def read_design(self) -> pd.DataFrame:
        return pd.read_parquet(self.design)

    def read_meta(self) -> dict[str, Any]:
        return json.loads(self.meta.read_text(encoding="utf-8"))

    @contextmanager
    def lock(self) -> Iterator[None]:
        """One sweep process per folder (released by the OS if the process dies)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise SweepError(f"{self.root} is being run by another sweep process") from None
            fh.write(str(os.getpid()))
            fh.flush()
            yield


# -- preparing -----------------------------------------------------------------------------------
def default_out(spec: SweepSpec) -> Path:
    return Path("results") / "sweeps" / spec.name


def prepare(spec_path: str | Path, out: str | Path | None = None, resume: bool = False,
            on_warning: Callable[[str], None] | None = None) -> tuple[SweepSpec, SweepFolder, pd.DataFrame]:
    """Validate the sweep file, build its design, check it (``preflight``) and create (or check)
    the sweep folder."""
    spec = load_sweep(spec_path)
    folder = SweepFolder(out or default_out(spec))
    points = designs.points_table(spec)
    tasks = designs.tasks_table(spec, points)
    for warning in preflight(spec, tasks):
        (on_warning or (lambda w: print(f"warning: {w}", file=sys.stderr)))(warning)
    if resume and not folder.exists():
        raise SweepError(f"nothing to resume: {folder.root} holds no sweep")
    with folder.lock():
        _check_or_create(spec, Path(spec_path), folder, points, tasks, resume)
    return spec, folder, tasks


def _check_or_create(spec: SweepSpec, spec_path: Path, folder: SweepFolder, points: pd.DataFrame,
                     tasks: pd.DataFrame, resume: bool) -> None:
    if folder.exists():
        old = folder.read_design()
        key = ["run_id", "policy", "point", "replicate", "seed"]
        same = (len(old) == len(tasks) and old[key].equals(tasks[key])
                and [list(o) for o in old["overrides"]] == list(tasks["overrides"]))
        if not same:
            raise SweepError(f"{folder.root} holds a different sweep (its design differs from {spec_path}); "
                             "choose another --out")
    elif resume:
        raise SweepError(f"nothing to resume: {folder.root} holds no sweep")
    else:
        _create(spec, spec_path, folder, points, tasks)


def _create(spec: SweepSpec, spec_path: Path, folder: SweepFolder, points: pd.DataFrame,
            tasks: pd.DataFrame) -> None:
    folder.runs.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(spec_path, folder.spec_copy)
    meta = {"name": spec.name, "source": str(spec_path.resolve()), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "design": spec.design.model_dump(), "replications": spec.replications, "seed": spec.seed,
            "policies": [v.name for v in spec.policies], "n_points": len(points), "n_runs": len(tasks),
            "parameters": [{"column": p.column, **p.model_dump()} for p in spec.uncertain],
            "problem": designs.unit_problem(spec),
            "outcomes": [o.model_dump() for o in spec.outcomes]}
    _atomic_write(folder.meta, lambda p: p.write_text(json.dumps(meta, indent=1, ensure_ascii=False)))
    _atomic_write(folder.points, lambda p: points.to_parquet(p, index=False))
    _atomic_write(folder.design, lambda p: tasks.to_parquet(p, index=False))  # last: marks the folder


def _atomic_write(path: Path, write: Callable[[Path], Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(tmp)
    os.replace(tmp, path)


def preflight(spec: SweepSpec, tasks: pd.DataFrame) -> list[str]:
    """Check the sweep against the scenario schema before running anything.

    A parameter path or range the scenario rejects is an error in the sweep file (raised as
    ``SweepSpecError`` naming its line). A policy variant whose scenario does not load is reported
    as a warning: its runs will fail, each with the loader's message, and ``--resume`` retries them
    once the scenario is fixed.
    """
    from experiments.sweep_spec import overrides_of
    from model.scenario import ScenarioError, load_scenario

    issues = []
    for j, param in enumerate(spec.uncertain):
        for value in _extremes(param):
            try:
                load_scenario(spec.resolve(spec.base), overrides_of(spec.set) + [f"{param.path}={value}"])
            except ScenarioError as err:
                hits = [e for e in err.errors if e.file == "--set"
                        or e.path.replace("[", ".").replace("]", "").startswith(param.path)]
                if hits:
                    bad_path = any(m in hits[0].message for m in ("unknown key", "does not exist"))
                    key = "path" if bad_path else "range" if hasattr(param, "range") else \
                        "values" if hasattr(param, "values") else "path"
                    issues.append(issue_at(spec.file, ("uncertain", j, key), f"the scenario rejects "
                                           f"{param.path}={value}: {hits[0].message}"))
                    break
    if issues:
        raise SweepSpecError(issues)
    warnings = []
    for variant in spec.policies:
        row = tasks[tasks["policy"] == variant.name].iloc[0]
        try:
            load_scenario(row["scenario"], list(row["overrides"]))
        except ScenarioError as err:
            n = int((tasks["policy"] == variant.name).sum())
            warnings.append(f"policy {variant.name!r}: its scenario does not load; its {n} runs will fail:\n{err}")
    return warnings


def _extremes(param: Any) -> list[str]:
    from experiments.designs import _choices
    from experiments.sweep_spec import BooleanParam, CategoricalParam, yaml_value

    if isinstance(param, CategoricalParam | BooleanParam):
        return [yaml_value(v) for v in _choices(param)]
    return [yaml_value(v) for v in param.range]


# -- status --------------------------------------------------------------------------------------
def read_journal(path: Path) -> dict[str, dict[str, Any]]:
    """Last record per run id (a torn last line from a crash is ignored); ``attempts`` counted."""
    out: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return out
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if rec.get("reused"):
                continue
            rec["attempts"] = out.get(rec["run_id"], {}).get("attempts", 0) + 1
            out[rec["run_id"]] = rec
    return out


def current_status(folder: SweepFolder, tasks: pd.DataFrame) -> pd.DataFrame:
    """The index: every run's status from its folder (trusted) and the journal (errors, timings)."""
    journal = read_journal(folder.journal)
    rows = []
    for run_id, policy, point, rep, seed in tasks[["run_id", "policy", "point", "replicate", "seed"]].itertuples(
            index=False):
        rec = journal.get(run_id, {})
        run_dir = folder.runs / run_id
        if rec.get("status") == "complete" and (run_dir / "manifest.json").is_file():
            status = "complete"
        elif run_complete(run_dir, int(seed)):
            status = "complete"  # finished but not journalled (the sweep was killed meanwhile)
            rec = {**rec, "error": None, "traceback": None}
        else:
            status = "failed" if rec.get("status") == "failed" else "pending"
        rows.append({"run_id": run_id, "policy": policy, "point": point, "replicate": rep, "seed": seed,
                     "status": status, "error": rec.get("error") if status == "failed" else None,
                     "traceback": rec.get("traceback") if status == "failed" else None,
                     "attempts": rec.get("attempts", 0), "started": _ts(rec.get("started")),
                     "finished": _ts(rec.get("finished")), "wall_time_s": rec.get("wall_time_s"),
                     "worker": rec.get("worker")})
    return pd.DataFrame(rows, columns=INDEX_COLUMNS).astype({"attempts": "int64", "wall_time_s": "float64"})


def _ts(value: float | None) -> pd.Timestamp | None:
    return pd.Timestamp(value, unit="s", tz="UTC") if value else None


def write_index(folder: SweepFolder, index: pd.DataFrame) -> None:
    _atomic_write(folder.index, lambda p: index.to_parquet(p, index=False))


def sweep_status(out: str | Path) -> pd.DataFrame:
    """The current index of a sweep folder (recomputed from folders and journal)."""
    folder = SweepFolder(out)
    if not folder.exists():
        raise SweepError(f"{folder.root} holds no sweep (no design.parquet)")
    return current_status(folder, folder.read_design())


# -- running -------------------------------------------------------------------------------------
class Journal:
    """Append-only record of finished tasks; each line is flushed and fsync'd."""

    def __init__(self, path: Path, session: str):
        self.fh = open(path, "a", encoding="utf-8")
        self.session = session

    def append(self, result: RunResult) -> None:
        rec = {**asdict(result), "session": self.session}
        rec.pop("extra", None)
        self.fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
        self.fh.flush()
        os.fsync(self.fh.fileno())

    def close(self) -> None:
        self.fh.close()


def run_sweep(spec_path: str | Path, out: str | Path | None = None, *, workers: int | None = None,
              scheduler: str | None = None, executor: str | None = None, resume: bool = False,
              progress: bool = True, executor_obj: Executor | None = None,
              on_warning: Callable[[str], None] | None = None) -> SweepSummary:
    """Run (or resume) a sweep; return counts. Runs already complete are skipped."""
    t0 = time.time()
    spec, folder, tasks = prepare(spec_path, out, resume, on_warning)
    with folder.lock():
        index = current_status(folder, tasks)
        todo_ids = set(index.loc[index["status"] != "complete", "run_id"])
        skipped = len(index) - len(todo_ids)
        todo = tasks[tasks["run_id"].isin(todo_ids)]
        by_id = {r: i for i, r in enumerate(index["run_id"])}
        ran = 0
        if len(todo):
            ex = executor_obj or make_executor(workers, scheduler, executor)
            journal = Journal(folder.journal, uuid.uuid4().hex[:12])
            bar = _Progress(len(tasks), skipped, ex, enabled=progress)
            last = time.time()
            try:
                for res in ex.imap(_tasks(todo, folder)):
                    journal.append(res)
                    ran += 1
                    _update_row(index, by_id[res.run_id], res)
                    bar.update(res.status)
                    if time.time() - last > COMPACT_EVERY_S:
                        write_index(folder, index)
                        last = time.time()
            finally:
                bar.close()
                journal.close()
                write_index(folder, index)
                if executor_obj is None:
                    ex.close()
        index = current_status(folder, tasks)
        write_index(folder, index)
        if not (index["status"] != "complete").any():
            _clean_tmp(folder)
    counts = index["status"].value_counts()
    return SweepSummary(folder.root, len(index), int(counts.get("complete", 0)), int(counts.get("failed", 0)),
                        ran, skipped, time.time() - t0)


def _tasks(todo: pd.DataFrame, folder: SweepFolder) -> Iterator[RunTask]:
    for row in todo[["run_id", "scenario", "overrides", "seed"]].itertuples(index=False):
        yield RunTask(row.run_id, row.scenario, tuple(row.overrides), int(row.seed), str(folder.runs))


def _update_row(index: pd.DataFrame, i: int, res: RunResult) -> None:
    failed = res.status == "failed"
    index.iloc[i, index.columns.get_indexer(["status", "error", "traceback", "started", "finished",
                                             "wall_time_s", "worker"])] = [
        res.status, res.error if failed else None, res.traceback if failed else None,
        _ts(res.started), _ts(res.finished), res.wall_time_s, res.worker]
    index.iat[i, index.columns.get_loc("attempts")] += 1


def _clean_tmp(folder: SweepFolder) -> None:
    """Remove half-written run folders left by killed workers (only once every run is complete)."""
    for tmp in folder.runs.glob(".tmp-*"):
        shutil.rmtree(tmp, ignore_errors=True)


class _Progress:
    """A rich progress bar: runs done, failed, rate (runs/min) and ETA."""

    def __init__(self, total: int, done: int, ex: Executor, enabled: bool):
        self.total, self.failed, self.enabled = total, 0, enabled
        self.done0 = done
        self.t0 = time.time()
        self.n = 0
        if not enabled:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.p = Progress(TextColumn("[bold]sweep[/]"), BarColumn(), MofNCompleteColumn(),
                          TextColumn("{task.fields[info]}"), transient=False)
        self.task = self.p.add_task("runs", total=total, completed=done, info=self._info())
        self.p.console.print(f"{total} runs, {done} already complete; executor: {ex.describe()}")
        self.p.start()

    def _info(self) -> str:
        elapsed = max(time.time() - self.t0, 1e-9)
        rate = self.n / elapsed * 60
        left = self.total - self.done0 - self.n
        eta = f"{left / rate:.1f} min" if rate > 0 else "?"
        return f"failed {self.failed} · {rate:.1f} runs/min · ETA {eta}"

    def update(self, status: str) -> None:
        self.n += 1
        self.failed += status == "failed"
        if self.enabled:
            self.p.update(self.task, advance=1, info=self._info())

    def close(self) -> None:
        if self.enabled:
            self.p.stop()
