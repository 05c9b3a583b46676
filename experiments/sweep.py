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

import numpy as np
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
from experiments.sweep_spec import (
    RealParam,
    SweepSpec,
    SweepSpecError,
    dotted,
    issue_at,
    load_sweep,
)

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
    warn = on_warning or (lambda w: print(f"warning: {w}", file=sys.stderr))
    for warning in preflight(spec, tasks):
        warn(warning)
    tables = {"points": _arrow(points, "points"), "design": _arrow(tasks, "design")}
    if resume and not folder.exists():
        raise SweepError(_nothing_to_resume(folder))
    had = {p: p.exists() for p in (folder.lock_file, folder.root)}
    with folder.lock():
        try:
            restored = _check_or_create(spec, Path(spec_path), folder, tables, tasks, resume)
        except BaseException as err:
            if not folder.exists():  # no sweep was made: take back the folder and lock file if this made them
                for path in (p for p, existed in had.items() if not existed):
                    with contextlib.suppress(OSError):
                        path.rmdir() if path == folder.root else path.unlink()
            if isinstance(err, OSError):  # a full disk or a read-only folder while writing the sweep's files
                raise SweepError(cannot_write(Path(err.filename) if err.filename else folder.root, err)) from None
            raise
    for name in restored:
        warn(f"{folder.root / name} was missing or damaged; remade from {spec_path}")
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
                     tasks: pd.DataFrame, resume: bool) -> list[str]:
    """Create the sweep's folder, or check that the one there holds this sweep; return the names of
    the sweep's own files that were missing or damaged there and are remade (from the sweep file)."""
    if folder.exists():
        old = folder.read_design()
        key = ["run_id", "policy", "point", "replicate", "seed"]
        same = (len(old) == len(tasks) and old[key].equals(tasks[key])
                and [list(o) for o in old["overrides"]] == list(tasks["overrides"]))
        if not same:
            raise SweepError(f"{folder.root} holds a different sweep (its design differs from {spec_path}); "
                             "choose another --out")
        check_same_scenarios(folder, tasks)
        restored = _restore(spec, spec_path, folder, tables)
        _update_outcomes(spec, spec_path, folder)
        return restored
    if resume:
        raise SweepError(_nothing_to_resume(folder))
    foreign = _not_a_sweeps(spec, spec_path, folder)
    if foreign:
        raise SweepError(f"{folder.root} is not a sweep's folder but holds {', '.join(foreign)}, which the sweep "
                         "would overwrite or mix with; nothing was written: choose another --out")
    _create(spec, spec_path, folder, tables)
    return []


def _not_a_sweeps(spec: SweepSpec, spec_path: Path, folder: SweepFolder) -> list[str]:
    """What in a folder without design.parquet a new sweep would overwrite or mix with: files by the
    names a sweep writes that are not the start of this sweep's creation (``_create`` stopped part way:
    its copy of the sweep file, a sweep.json of this sweep, points.parquet after it, an empty runs/),
    and a run folder's manifest. Other files of the user's (notes, say) are left alone beside it."""
    from experiments.store import MANIFEST

    ours_meta = False
    if folder.meta.is_file():
        with contextlib.suppress(SweepError):
            ours_meta = folder.read_meta().get("name") == spec.name
    out = []
    for p in (*folder.files, folder.runs, folder.root / MANIFEST):
        if p == folder.lock_file or not (p.exists() or p.is_symlink()):  # (the lock is held by this process)
            continue
        plain = p.is_file() and not p.is_symlink()
        if p == folder.runs and p.is_dir() and not p.is_symlink():
            with contextlib.suppress(OSError):
                if not any(True for _ in p.iterdir()):
                    continue
            out.append(f"{p.name}/ with files in it")
            continue
        if p == folder.spec_copy and plain:
            with contextlib.suppress(OSError):
                if ours_meta or p.read_bytes() == spec_path.read_bytes():
                    continue
        if p in (folder.meta, folder.points) and plain and ours_meta:
            continue
        out.append(p.name + (" (a run folder's)" if p.name == MANIFEST else ""))
    return out


def _restore(spec: SweepSpec, spec_path: Path, folder: SweepFolder, tables: dict[str, Any]) -> list[str]:
    """Remake points.parquet and sweep.json if they are missing or cannot be read: the design in the
    folder is this sweep file's (checked), so both follow from the file, as when they were first made."""
    import pyarrow.parquet as pq

    out = []
    try:
        pq.read_metadata(folder.points)
    except Exception:  # noqa: BLE001  (missing, or any reader error: the file is damaged)
        atomic_write(folder.points, lambda p: pq.write_table(tables["points"], p))
        out.append(folder.points.name)
    try:
        folder.read_meta()
    except SweepError:
        meta = _meta(spec, spec_path, tables)
        atomic_write(folder.meta, lambda p: p.write_text(json.dumps(meta, indent=1, ensure_ascii=False)))
        out.append(folder.meta.name)
    return out


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


def _meta(spec: SweepSpec, spec_path: Path, tables: dict[str, Any]) -> dict[str, Any]:
    """sweep.json's record of the sweep: what ``analyze`` and ``status`` read back."""
    return {"name": spec.name, "source": str(spec_path.resolve()), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "design": spec.design.model_dump(), "replications": spec.replications, "seed": spec.seed,
            "policies": [v.name for v in spec.policies], "n_points": tables["points"].num_rows,
            "n_runs": tables["design"].num_rows,
            "parameters": [{"column": p.column, **p.model_dump()} for p in spec.uncertain],
            "problem": designs.unit_problem(spec),
            "outcomes": [o.model_dump() for o in spec.outcomes]}


def _create(spec: SweepSpec, spec_path: Path, folder: SweepFolder, tables: dict[str, Any]) -> None:
    """Write a new sweep's files; design.parquet, last, marks the folder as a sweep. If writing
    fails, the files written so far are removed (the folder never looks like a sweep half made)."""
    import pyarrow.parquet as pq

    meta = _meta(spec, spec_path, tables)
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
    issues = _shadowing(spec)
    paths = [p.path for p in spec.uncertain]
    first = tasks.iloc[0] if len(tasks) else None  # the parameter values of design point 0
    at_first = list(first["overrides"])[-len(paths):] if paths and first is not None else []
    loads = _Loads(load_scenario, ScenarioError)
    warnings = []
    horizons = {}
    checked: list[tuple[int, Any, list[str]]] = []  # variants whose parameters are tried: (i, variant, overrides)
    for i, variant in enumerate(spec.policies):
        own = spec.overrides_for(variant)
        set_by_it = {dotted(o.split("=", 1)[0]) for o in own}
        # point 0's values, but not of a parameter this variant sets (reported above): its own value is checked
        params0 = [o for o, path in zip(at_first, paths, strict=True) if dotted(path) not in set_by_it]
        sc = loads.load(spec.scenario_of(variant), own + params0)
        if not isinstance(sc, ScenarioError):
            horizons[variant.name] = _horizon(spec, set_by_it, sc.start, sc.end)
            checked.append((i, variant, own))
            continue
        # an error on a parameter's path is the parameter's (reported below, at the parameter), not the variant's
        varied = [p for p in paths if dotted(p) not in set_by_it]
        of_params = [e for e in sc.errors if e.file == "--set" and _on_paths(e.path, varied)]
        bad_set = [e for e in sc.errors if e.file == "--set" and e not in of_params]
        if bad_set:  # an override written in the sweep file: fixing it changes the design, so refuse now
            issues.append(_set_issue(spec, i, variant, bad_set[0]))
        elif of_params and len(of_params) == len(sc.errors):
            checked.append((i, variant, own))
        else:
            n = int((tasks["policy"] == variant.name).sum())
            warnings.append(f"policy {variant.name!r}: its scenario does not load; its {n} runs will fail:\n{sc}")
    issues += _check_parameters(spec, checked, loads)
    if not spec.uncertain and getattr(spec.design, "samples", 1) > 1:
        warnings.append(f"design: samples {spec.design.samples} is not used: with no uncertain parameters the "
                        "design is one point per policy; to run each policy several times over different seeds, "
                        "set replications")
    warnings += _uneven_morris_levels(spec)
    for k, oc in enumerate(spec.outcomes):
        if oc.at == "end":
            continue
        # (earliest start, latest start, earliest end, latest end) over the runs of each policy
        never = [f"{name} ({_span(h)})" for name, h in horizons.items() if not h[0] <= oc.at <= h[3]]
        some = [f"{name} ({_span(h)})" for name, h in horizons.items() if not h[1] <= oc.at <= h[2]]
        if never and len(never) == len(horizons):
            issues.append(issue_at(spec.file, ("outcomes", k, "at"),
                                   f"no run reaches {oc.at}: outside the horizon of every policy: {', '.join(never)}; "
                                   "use 'end' or a month within the horizon"))
        elif some:
            warnings.append(f"outcome {oc.indicator}@{oc.at}: outside the horizon of "
                            f"{'some runs of ' if len(some) > len(never) else ''}{', '.join(some)}; "
                            "those runs give no value")
    if issues:
        raise SweepSpecError(sorted(issues, key=lambda c: (c.line or 0)))
    return warnings


def _horizon(spec: SweepSpec, set_by_variant: set[str], start: str, end: str) -> tuple[str, str, str, str]:
    """A policy's earliest and latest start, earliest and latest end over its runs: the scenario's
    (at design point 0), widened to the ends of an uncertain ``start`` or ``end`` the policy does not set."""
    starts, ends = [start], [end]
    for param in spec.uncertain:
        key = dotted(param.path)
        if key in ("start", "end") and key not in set_by_variant:
            values = [v for v, _ in _extremes(param) if isinstance(v, str)]
            (starts if key == "start" else ends).extend(values)
    return min(starts), max(starts), min(ends), max(ends)


def _span(h: tuple[str, str, str, str]) -> str:
    """A ``_horizon`` in words: ``2023-01–2023-12``, or its starts and ends where runs differ."""
    if h[0] == h[1] and h[2] == h[3]:
        return f"{h[0]}–{h[2]}"
    return (f"start {h[0]}{f' to {h[1]}' if h[1] != h[0] else ''}, "
            f"end {h[2]}{f' to {h[3]}' if h[3] != h[2] else ''}")


class _Loads:
    """``load_scenario`` memoised on (file, overrides): the scenario, or the ``ScenarioError``."""

    def __init__(self, load: Callable, error: type[Exception]):
        self._load, self._error, self._done = load, error, {}

    def load(self, scenario: Any, overrides: list[str]) -> Any:
        key = (str(scenario), tuple(overrides))
        if key not in self._done:
            try:
                self._done[key] = self._load(scenario, overrides)
            except self._error as err:
                self._done[key] = err
        return self._done[key]


def _check_parameters(spec: SweepSpec, checked: list[tuple[int, Any, list[str]]], loads: _Loads) -> list:
    """Try every uncertain parameter at each of its extreme values in every variant's scenario.

    Each round sets every parameter at once (its k-th extreme value): one load per round and
    variant when all is well; a round the scenario rejects is retried one parameter at a time to
    find the parameter to blame. A parameter is reported once, at its key, naming the variants that
    reject it when the others accept it.
    """
    from model.scenario import ScenarioError

    params = list(spec.uncertain)
    values = [_extremes(p) for p in params]
    paths = [p.path for p in params]
    failures: dict[int, dict[str, tuple[str, str]]] = {}  # param -> variant -> (key blamed, message)
    tried: dict[int, list[str]] = {j: [] for j in range(len(params))}
    for _i, variant, own in checked:
        set_by_it = {dotted(o.split("=", 1)[0]) for o in own}
        mine = [j for j, path in enumerate(paths) if dotted(path) not in set_by_it]  # (a set path is reported)
        for j in mine:
            tried[j].append(variant.name)
        scenario = spec.scenario_of(variant)
        for k in range(max((len(values[j]) for j in mine), default=0)):
            pick = {j: values[j][min(k, len(values[j]) - 1)] for j in mine}
            todo = [j for j in mine if variant.name not in failures.get(j, {})]
            if not todo:
                break
            sc = loads.load(scenario, own + [f"{paths[j]}={pick[j][1]}" for j in todo])
            if not isinstance(sc, ScenarioError):
                for j in todo:
                    _check_type(j, params[j], pick[j][0], sc, variant.name, failures)
                continue
            for j in todo:  # which parameter: one at a time, the others at their first value
                others = [f"{paths[m]}={values[m][0][1]}" for m in todo if m != j]
                one = loads.load(scenario, own + others + [f"{paths[j]}={pick[j][1]}"])
                if not isinstance(one, ScenarioError):
                    _check_type(j, params[j], pick[j][0], one, variant.name, failures)
                    continue
                hits = [e for e in one.errors if (e.file == "--set" or _on_paths(e.path, [paths[j]]))
                        and not _on_paths(e.path, [paths[m] for m in todo if m != j])]
                if hits:
                    bad_path = any(m in hits[0].message for m in ("unknown key", "does not exist"))
                    key = "path" if bad_path else "range" if hasattr(params[j], "range") else \
                        "values" if hasattr(params[j], "values") else "path"
                    failures.setdefault(j, {})[variant.name] = (
                        key, f"the scenario rejects {paths[j]}={pick[j][1]}: {hits[0].message}")
    issues = []
    for j, by_variant in sorted(failures.items()):
        key, text = next(iter(by_variant.values()))
        if len(by_variant) < len(tried[j]):  # some variants only: name them
            accept = [n for n in tried[j] if n not in by_variant]
            text = (f"{_policies(list(by_variant))}: {text} ({_policies(accept)} "
                    f"{'accepts' if len(accept) == 1 else 'accept'} it; every value of a parameter must be allowed "
                    "in every policy's scenario)")
        issues.append(issue_at(spec.file, ("uncertain", j, key), text))
    return issues


def _policies(names: list[str]) -> str:
    return ("policy " if len(names) == 1 else "policies ") + ", ".join(map(repr, names))


def _check_type(j: int, param: Any, value: Any, sc: Any, variant: str, failures: dict) -> None:
    """A value the scenario reads as another type is refused: a quoted '4' read as 4, 8.0 as 8 (the
    results would record a value the run did not use, and a real range on a whole-number key would
    draw values like 3.7 that the scenario refuses). An integer on a real-valued key is fine."""
    from experiments.sweep_spec import BooleanParam, CategoricalParam, yaml_value

    got = _value_at(sc, dotted(param.path).split("."))
    have, want = _kind(got), _kind(value)
    if have is None or want is None or have == want or (want == "integer" and have == "real"):
        return
    if isinstance(param, CategoricalParam | BooleanParam):
        key, hint = ("values" if isinstance(param, CategoricalParam) else "type"), f"give {have} values"
    else:
        key, hint = "type", f"use type: {'categorical' if have == 'text' else have}"
    failures.setdefault(j, {})[variant] = (key, f"the scenario reads {param.path}={yaml_value(value)} as {got!r}, "
                                                f"{'an' if have == 'integer' else 'a'} {have} value, not {want}: {hint}")


def _kind(value: Any) -> str | None:
    """The kind of a scenario value a sweep can vary (None: another kind, not compared)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "real"
    if isinstance(value, str):
        return "text"
    return None


_MISSING = object()


def _value_at(obj: Any, parts: list[str]) -> Any:
    """The value at a dotted path of a loaded scenario (models, mappings, lists), or ``_MISSING``."""
    from pydantic import BaseModel

    for part in parts:
        if isinstance(obj, BaseModel):
            obj = getattr(obj, part, _MISSING)
        elif isinstance(obj, dict):
            obj = obj.get(part, _MISSING)
        elif isinstance(obj, list | tuple) and part.isdigit() and int(part) < len(obj):
            obj = obj[int(part)]
        else:
            return _MISSING
    return obj


def _shadowing(spec: SweepSpec) -> list:
    """An override of the sweep file (``set`` or a policy's ``set``) of a path that is also an
    uncertain parameter: the sweep's value would replace it in every run, so it is refused."""
    params = {dotted(p.path): j for j, p in enumerate(spec.uncertain)}
    out = []
    blocks = [(("set",), spec.set, "the sweep's set")] + [
        (("policies", i, "set"), v.set, f"policy {v.name!r}") for i, v in enumerate(spec.policies)]
    for where, block, who in blocks:
        keys = (_leaf_keys(block) if isinstance(block, dict)
                else [((k,), str(o).split("=", 1)[0]) for k, o in enumerate(block)])
        for at, key in keys:
            j = params.get(dotted(key))
            if j is not None:
                out.append(issue_at(spec.file, (*where, *at), (
                    f"{who} sets {key.strip()}, which is also an uncertain parameter (uncertain[{j}]): the sweep's "
                    "values would replace this one in every run; remove it here, or remove the parameter")))
    return out


def _leaf_keys(block: dict, at: tuple = (), prefix: str = "") -> list[tuple[tuple, str]]:
    """Each value an override mapping sets, as (its place in the mapping, its dotted key path):
    ``{economy: {export_growth: 0.05}}`` sets ``economy.export_growth``, as the scenario merges
    mappings key by key. A list is one value (it replaces the scenario's whole list)."""
    out = []
    for key, value in block.items():
        path = f"{prefix}{key}"
        out += (_leaf_keys(value, (*at, key), f"{path}.") if isinstance(value, dict) and value
                else [((*at, key), path)])
    return out


def _on_paths(path: str, paths: list[str]) -> bool:
    """True if the key path ``path`` (``a[0].b`` or ``a.0.b``) is one of ``paths`` or lies under one."""
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


def _extremes(param: Any) -> list[tuple[Any, str]]:
    """The values a parameter is tried at before running: (value, as written in an override)."""
    from experiments.designs import _choices
    from experiments.sweep_spec import BooleanParam, CategoricalParam, yaml_value

    values = _choices(param) if isinstance(param, CategoricalParam | BooleanParam) else list(param.range)
    return [(v, yaml_value(v)) for v in values]


# -- status --------------------------------------------------------------------------------------
# -- running -------------------------------------------------------------------------------------
def run_sweep(spec_path: str | Path, out: str | Path | None = None, *, workers: int | None = None,
              scheduler: str | None = None, executor: str | None = None, resume: bool = False,
              progress: bool = True, executor_obj: Executor | None = None,
              on_warning: Callable[[str], None] | None = None, idle_timeout: float = 600.0) -> SweepSummary:
    """Run (or resume) a sweep; return counts. Runs already complete are skipped."""
    t0 = time.time()
    from experiments.executors import scheduler_problem

    if scheduler is not None and executor_obj is None and scheduler_problem(scheduler):
        raise SweepError(f"--scheduler {scheduler_problem(scheduler)}")  # before the folder is made
    spec, folder, tasks = prepare(spec_path, out, resume, on_warning)
    with folder.lock():
        index = current_status(folder, tasks)
        todo_ids = set(index.loc[index["status"] != "complete", "run_id"])
        skipped = len(index) - len(todo_ids)
        todo = tasks[tasks["run_id"].isin(todo_ids)]
        by_id = {r: i for i, r in enumerate(index["run_id"])}
        ran = 0
        if len(todo):
            ex = executor_obj or make_executor(workers, scheduler, executor, idle_timeout)
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


def _uneven_morris_levels(spec: SweepSpec) -> list[str]:
    """Morris divides each elementary effect by its step in the unit cube; a whole-number or
    categorical parameter whose levels land on its values unevenly (3 values on 4 levels: 10, 11,
    12, 12) mixes steps of different sizes in real units: a warning, with the levels that fit."""
    if spec.design.method != "morris":
        return []
    out = []
    for p in spec.uncertain:
        if isinstance(p, RealParam):
            continue
        rank = {v: i for i, v in enumerate(dict.fromkeys(designs.to_values(p, np.linspace(0.0, 1.0, 4096))))}

        def even(levels: int, p=p, rank=rank) -> bool:
            return len(set(np.diff([rank[v] for v in designs.to_values(p, np.linspace(0.0, 1.0, levels))]).tolist())) == 1

        if not even(spec.design.levels):
            fits = [n for n in range(2, len(rank) + 1, 2) if even(n)]  # Morris's levels are even
            shown = designs.to_values(p, np.linspace(0.0, 1.0, spec.design.levels))
            out.append(f"uncertain {p.path}: Morris's {spec.design.levels} levels land on its values unevenly "
                       f"({shown}), so its elementary effects mix steps of different sizes; levels: {max(fits)} "
                       "lands on them evenly")
    return out


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
