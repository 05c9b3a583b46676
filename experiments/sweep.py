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

import contextlib
import json
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from experiments import designs
from experiments.executors import Executor, RunTask, make_executor
from experiments.sweep_index import (  # noqa: F401  (re-exported: the sweep API in one place)
    INDEX_COLUMNS,
    Journal,
    SweepError,
    SweepFolder,
    atomic_write,
    cannot_write,
    current_status,
    read_journal,
    sweep_status,
    update_row,
    write_index,
)
from experiments.sweep_spec import SweepSpec, SweepSpecError, issue_at, load_sweep

COMPACT_EVERY_S = 15.0


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


# -- preparing -----------------------------------------------------------------------------------
def default_out(spec: SweepSpec) -> Path:
    return Path("results") / "sweeps" / spec.name


def prepare(spec_path: str | Path, out: str | Path | None = None, resume: bool = False,
            on_warning: Callable[[str], None] | None = None) -> tuple[SweepSpec, SweepFolder, pd.DataFrame]:
    """Validate the sweep file, build its design, check it (``preflight``) and create (or check)
    the sweep folder. Nothing is written to the folder before all of that has passed, and a
    folder whose creation fails is removed again (or, if it was there before, left as it was)."""
    spec = load_sweep(spec_path)
    check_size(spec)
    folder = SweepFolder(out or default_out(spec))
    points = designs.points_table(spec)
    tasks = designs.tasks_table(spec, points)
    for warning in preflight(spec, tasks):
        (on_warning or (lambda w: print(f"warning: {w}", file=sys.stderr)))(warning)
    tables = {"points": _arrow(points, "points"), "design": _arrow(tasks, "design")}
    if resume and not folder.exists():
        raise SweepError(_nothing_to_resume(folder))
    had = {p: p.exists() for p in (folder.root / ".lock", folder.root)}
    with folder.lock():
        try:
            _check_or_create(spec, Path(spec_path), folder, tables, tasks, resume)
        except BaseException as err:
            if not folder.exists():  # no sweep was made: take back the folder and lock file if this made them
                for path in (p for p, existed in had.items() if not existed):
                    with contextlib.suppress(OSError):
                        path.rmdir() if path == folder.root else path.unlink()
            if isinstance(err, OSError):  # a full disk or a read-only folder while writing the sweep's files
                raise SweepError(cannot_write(Path(err.filename) if err.filename else folder.root, err)) from None
            raise
    return spec, folder, tasks


def _arrow(frame: pd.DataFrame, what: str) -> Any:
    """A design table as Arrow, so that one that cannot be stored fails before the folder is made."""
    import pyarrow as pa

    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowException, TypeError, ValueError) as err:
        raise SweepError(f"the sweep's {what} table cannot be stored ({str(err).splitlines()[0]}); "
                         "nothing was written") from None


def _nothing_to_resume(folder: SweepFolder) -> str:
    if folder.half_made():
        return (f"nothing to resume: {folder.root} holds no sweep: its creation stopped before design.parquet was "
                "written (no run was made); run the command without --resume to create it")
    return f"nothing to resume: {folder.root} holds no sweep"


def check_size(spec: SweepSpec) -> None:
    """Refuse a design of more than ``designs.MAX_RUNS`` runs before any table is built."""
    total = designs.n_runs(spec)
    if total > designs.MAX_RUNS:
        n, p, r = designs.n_points(spec), len(spec.policies), spec.replications
        raise SweepSpecError([issue_at(spec.file, ("design",), (
            f"this sweep would make {total:,} runs ({n:,} design points × {p} policies × {r} replications); "
            f"the limit is {designs.MAX_RUNS:,} runs per sweep: lower the design's samples or levels, "
            "the replications or the number of policies, or split the sweep into several files"),
            spec.design.model_dump())])


def _check_or_create(spec: SweepSpec, spec_path: Path, folder: SweepFolder, tables: dict[str, Any],
                     tasks: pd.DataFrame, resume: bool) -> None:
    if folder.exists():
        old = folder.read_design()
        key = ["run_id", "policy", "point", "replicate", "seed"]
        same = (len(old) == len(tasks) and old[key].equals(tasks[key])
                and [list(o) for o in old["overrides"]] == list(tasks["overrides"]))
        if not same:
            raise SweepError(f"{folder.root} holds a different sweep (its design differs from {spec_path}); "
                             "choose another --out")
        check_same_scenarios(folder, tasks)
        _update_outcomes(spec, spec_path, folder)
    elif resume:
        raise SweepError(_nothing_to_resume(folder))
    else:
        _create(spec, spec_path, folder, tables)


def _update_outcomes(spec: SweepSpec, spec_path: Path, folder: SweepFolder) -> None:
    """A re-run of the same design may change what the sweep measures (``outcomes``, which
    ``analyze`` reads from sweep.json) without changing any run: keep the folder's record current."""
    meta = folder.read_meta()
    outcomes = [o.model_dump() for o in spec.outcomes]
    if meta.get("outcomes") != outcomes:
        meta["outcomes"] = outcomes
        # the copy first: sweep.json's outcomes are what tells a re-run to make it again
        atomic_write(folder.spec_copy, lambda p: shutil.copyfile(spec_path, p))
        atomic_write(folder.meta, lambda p: p.write_text(json.dumps(meta, indent=1, ensure_ascii=False)))


def _create(spec: SweepSpec, spec_path: Path, folder: SweepFolder, tables: dict[str, Any]) -> None:
    """Write a new sweep's files; design.parquet, last, marks the folder as a sweep. If writing
    fails, the files written so far are removed (the folder never looks like a sweep half made)."""
    import pyarrow.parquet as pq

    meta = {"name": spec.name, "source": str(spec_path.resolve()), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "design": spec.design.model_dump(), "replications": spec.replications, "seed": spec.seed,
            "policies": [v.name for v in spec.policies], "n_points": tables["points"].num_rows,
            "n_runs": tables["design"].num_rows,
            "parameters": [{"column": p.column, **p.model_dump()} for p in spec.uncertain],
            "problem": designs.unit_problem(spec),
            "outcomes": [o.model_dump() for o in spec.outcomes]}
    made: list[Path] = []
    try:
        if not folder.runs.is_dir():
            folder.runs.mkdir()
            made.append(folder.runs)
        for path, write in ((folder.spec_copy, lambda p: shutil.copyfile(spec_path, p)),
                            (folder.meta, lambda p: p.write_text(json.dumps(meta, indent=1, ensure_ascii=False))),
                            (folder.points, lambda p: pq.write_table(tables["points"], p)),
                            (folder.design, lambda p: pq.write_table(tables["design"], p))):  # last: marks the folder
            existed = path.exists()
            atomic_write(path, write)
            if not existed:
                made.append(path)
    except BaseException:
        for path in reversed(made):
            with contextlib.suppress(OSError):
                path.rmdir() if path == folder.runs else path.unlink()
        raise


def preflight(spec: SweepSpec, tasks: pd.DataFrame) -> list[str]:
    """Check the sweep against the scenario schema before running anything.

    A parameter path, range or value the scenario rejects is an error in the sweep file (raised as
    ``SweepSpecError`` naming its line): every uncertain parameter is tried at the ends of its range
    (each value of a categorical) in the scenario of every policy variant (its file with the sweep's
    and the variant's overrides), so a path only the variants' overrides create is fine, and a path
    one variant lacks is an error naming that variant. So is a value the scenario would read as
    another type (a quoted ``'4'`` for a whole number, a real range on a whole-number key), an
    override of the sweep file (``set``, a policy's ``set``) that the scenario rejects or that sets
    a path the sweep also varies (the sweep's value would replace it in every run), and an outcome
    month no run reaches. A policy variant whose scenario file does not load is reported as a
    warning: its runs will fail, each with the loader's message, and ``--resume`` retries them once
    the scenario is fixed.
    """
    from experiments.sweep_spec import overrides_of
    from model.scenario import ScenarioError, load_scenario

    try:
        load_scenario(spec.resolve(spec.base), overrides_of(spec.set))
    except ScenarioError as err:
        bad_set = [e for e in err.errors if e.file == "--set"]
        if bad_set:
            raise SweepSpecError([_set_issue(spec, None, None, bad_set[0])]) from None
    issues = []
    rejected: list[str] = []  # parameter paths the scenario rejects (reported once, at the parameter)
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
                    rejected.append(param.path)
                    break
    warnings = []
    horizons = {}
    for i, variant in enumerate(spec.policies):
        row = tasks[tasks["policy"] == variant.name].iloc[0]
        try:
            sc = load_scenario(row["scenario"], list(row["overrides"]))
            horizons[variant.name] = (sc.start, sc.end)
        except ScenarioError as err:
            # a task's overrides end with its parameter values: a rejected parameter is reported above, not here
            of_params = [e for e in err.errors if e.file == "--set" and _on_paths(e.path, rejected)]
            bad_set = [e for e in err.errors if e.file == "--set" and e not in of_params]
            if of_params and len(of_params) == len(err.errors):
                continue
            if bad_set:  # an override written in the sweep file: fixing it changes the design, so refuse now
                issues.append(_set_issue(spec, i, variant, bad_set[0]))
                continue
            n = int((tasks["policy"] == variant.name).sum())
            warnings.append(f"policy {variant.name!r}: its scenario does not load; its {n} runs will fail:\n{err}")
    for k, oc in enumerate(spec.outcomes):
        outside = [f"{name} ({a}–{b})" for name, (a, b) in horizons.items() if oc.at != "end" and not a <= oc.at <= b]
        if outside and len(outside) == len(horizons):
            issues.append(issue_at(spec.file, ("outcomes", k, "at"),
                                   f"no run reaches {oc.at}: outside the horizon of every policy: {', '.join(outside)}; "
                                   "use 'end' or a month within the horizon"))
        elif outside:
            warnings.append(f"outcome {oc.indicator}@{oc.at}: outside the horizon of {', '.join(outside)}; "
                            "those runs give no value")
    if issues:
        raise SweepSpecError(issues)
    return warnings


def _on_paths(path: str, paths: list[str]) -> bool:
    """True if the key path ``path`` (``a[0].b`` or ``a.0.b``) is one of ``paths`` or lies under one."""
    def dotted(key: str) -> str:
        return key.replace("[", ".").replace("]", "")

    return any(dotted(path) == dotted(p) or dotted(path).startswith(dotted(p) + ".") for p in paths)


def _set_issue(spec: SweepSpec, i: int | None, variant: Any, err: Any) -> Any:
    """The sweep file's override (sweep-wide ``set`` if ``variant`` is None, else the variant's)
    that the scenario rejects."""
    from experiments.sweep_spec import overrides_of
    from model.scenario import ScenarioError, load_scenario

    where: tuple = ("set",) if variant is None else ("policies", i, "set")
    block = spec.set if variant is None else variant.set
    if variant is not None:
        try:
            load_scenario(spec.scenario_of(variant), overrides_of(spec.set))
        except ScenarioError as base_err:
            if any(e.file == "--set" for e in base_err.errors):
                where, block = ("set",), spec.set
    scenario = spec.resolve(spec.base) if variant is None else spec.scenario_of(variant)
    keys = list(block) if isinstance(block, dict) else [str(o).split("=", 1)[0] for o in block]
    path = err.path.replace("[", ".").replace("]", "")
    hit = next((j for j, k in enumerate(keys) if path == k or path.startswith(k + ".")), None)
    if hit is not None:
        where += (keys[hit] if isinstance(block, dict) else hit,)
    return issue_at(spec.file, where, f"the scenario {scenario.name} rejects this override"
                    f"{'' if where[0] == 'set' else f' of policy {variant.name!r}'}: {err}")


def check_same_scenarios(folder: SweepFolder, tasks: pd.DataFrame) -> None:
    """Refuse to continue a sweep whose scenarios changed since its runs were made.

    For each policy, the first complete run's manifest records the hash of the scenario it was made
    from; the same scenario file with the same overrides must give it again, or the resumed runs
    would come from another scenario than the finished ones.
    """
    from experiments.executors import run_complete
    from model.scenario import ScenarioError, load_scenario

    for policy, rows in tasks.groupby("policy", sort=False):
        for row in rows.itertuples(index=False):
            run_dir = folder.runs / row.run_id
            if not run_complete(run_dir, int(row.seed)):
                continue
            try:
                old = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))["scenario"]["hash"]
                new = load_scenario(row.scenario, list(row.overrides)).config_hash()
            except (OSError, ValueError, KeyError, TypeError, ScenarioError):
                break  # cannot compare (a failing scenario is reported by preflight)
            if old != new:
                raise SweepError(
                    f"{folder.root}: the scenario of policy {policy!r} changed since the sweep began: run "
                    f"{row.run_id} was made from a scenario with hash {old[:12]}, but {row.scenario} with the "
                    f"same overrides now gives {new[:12]} (the file, a file it extends or its geography was "
                    "edited). Resuming would mix runs of two scenarios: restore the scenario, or run the sweep "
                    "into a new --out")
            break


def _extremes(param: Any) -> list[str]:
    from experiments.designs import _choices
    from experiments.sweep_spec import BooleanParam, CategoricalParam, yaml_value

    if isinstance(param, CategoricalParam | BooleanParam):
        return [yaml_value(v) for v in _choices(param)]
    return [yaml_value(v) for v in param.range]


# -- status --------------------------------------------------------------------------------------
# -- running -------------------------------------------------------------------------------------
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
                    update_row(index, by_id[res.run_id], res)
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


def _clean_tmp(folder: SweepFolder) -> None:
    """Remove half-written run folders left by killed workers (once every run is complete)."""
    from experiments import store

    store.clean_stale_tmp(folder.runs)


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
