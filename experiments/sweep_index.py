"""The sweep folder's files: layout, journal of finished tasks, and the index of every run's status.

A run is done when its folder is complete (its manifest says so, with the design's seed): the
folder is trusted over the journal, which may lag behind a killed sweep. The journal is
append-only and fsync'd line by line, so a crash never loses a finished run's record; the index
(``index.parquet``) is the journal compacted with the design, rewritten atomically.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from experiments.executors import RunResult, run_complete
from experiments.store import fsync_dir, fsync_file

INDEX_COLUMNS = ["run_id", "policy", "point", "replicate", "seed", "status", "error", "traceback",
                 "attempts", "started", "finished", "wall_time_s", "worker"]


class SweepError(RuntimeError):
    """A sweep cannot start (folder holds another sweep, is in use, ...)."""


DESIGN_COLUMNS = {"run_id": "text", "policy": "text", "point": "integer", "replicate": "integer", "seed": "integer"}
# the shape of sweep.json: a type, {key: shape} (a JSON object with those keys) or [shape] (a list of
# them); keys of OPTIONAL_META may be absent (folders made before they were written)
META_SHAPE: dict[str, Any] = {
    "name": str, "design": {"method": str}, "replications": int, "seed": int, "policies": [str], "n_points": int,
    "n_runs": int, "problem": {"num_vars": int, "names": [str]}}
OPTIONAL_META: dict[str, Any] = {"parameters": [{"column": str}], "outcomes": [{"indicator": str, "at": str}]}
DESIGN_META: dict[str, dict[str, Any]] = {"morris": {"levels": int}}  # what analysis reads per design
_RUN_ID_OK = re.compile(r"^[^/\\\x00.][^/\\\x00]*$")


def _read_table(path: Path, columns: dict[str, str]) -> pd.DataFrame:
    """A sweep folder's Parquet table with the given columns (name -> integer or text), else ``SweepError``."""
    import pyarrow as pa

    try:
        frame = pd.read_parquet(path)
    except (OSError, pa.ArrowException) as err:
        why = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise SweepError(f"{path} cannot be read ({why}); the sweep folder is damaged") from None
    for col, kind in columns.items():
        if col not in frame.columns:
            raise SweepError(f"{path}: column {col!r} is missing; it has: {', '.join(map(str, frame.columns))} "
                             "(the sweep folder is damaged)")
        ok = (pd.api.types.is_integer_dtype(frame[col]) if kind == "integer"
              else pd.api.types.is_string_dtype(frame[col]) or pd.api.types.is_object_dtype(frame[col]))
        if not ok:
            raise SweepError(f"{path}: column {col!r} holds {frame[col].dtype}; {kind} is expected "
                             "(the sweep folder is damaged)")
    return frame


class SweepFolder:
    """Paths and files of one sweep folder."""

    def __init__(self, root: str | Path):
        given = Path(root)
        if given.is_symlink() and not given.exists():  # resolve() would follow it to a folder that is not there
            raise SweepError(f"{given} is a link to nothing ({os.readlink(given)}); give a folder")
        self.root = given.resolve()
        self.runs = self.root / "runs"
        self.design = self.root / "design.parquet"
        self.points = self.root / "points.parquet"
        self.index = self.root / "index.parquet"
        self.journal = self.root / "journal.jsonl"
        self.meta = self.root / "sweep.json"
        self.spec_copy = self.root / "sweep.yaml"
        self.lock_file = self.root / ".lock"
        # every file a sweep writes at its top (runs/ aside)
        self.files = (self.spec_copy, self.meta, self.points, self.design, self.index, self.journal, self.lock_file)

    def exists(self) -> bool:
        return self.design.is_file()

    def half_made(self) -> bool:
        """True if a sweep's creation stopped before design.parquet (written last) and before any run."""
        if self.exists() or not (self.meta.is_file() or self.spec_copy.is_file()):
            return False
        try:
            return not any(self.runs.iterdir()) if self.runs.is_dir() else True
        except OSError:
            return False

    def read_design(self) -> pd.DataFrame:
        """The design table; ``SweepError`` naming the file (and column) if it is damaged."""
        design = _read_table(self.design, DESIGN_COLUMNS)
        bad = [str(r) for r in design["run_id"] if not isinstance(r, str) or not _RUN_ID_OK.match(r)]
        if bad:
            raise SweepError(f"{self.design}: column 'run_id' holds {bad[0]!r}; a plain folder name is expected "
                             "(the sweep folder is damaged)")
        return design

    def read_points(self) -> pd.DataFrame:
        """The design points table; ``SweepError`` naming the file if it is damaged."""
        return _read_table(self.points, {"point": "integer"})

    def read_meta(self) -> dict[str, Any]:
        """sweep.json; ``SweepError`` naming the file and key if it is damaged or of the wrong shape."""
        try:
            meta = json.loads(self.meta.read_bytes().decode("utf-8"))
        except (OSError, ValueError, RecursionError) as err:
            why = getattr(err, "strerror", None) or (str(err).splitlines() or [type(err).__name__])[0]
            raise SweepError(f"{self.meta} cannot be read ({why}); the sweep folder is damaged") from None
        if not isinstance(meta, dict):
            raise SweepError(f"{self.meta} holds a JSON {type(meta).__name__}; a JSON object is expected "
                             "(the sweep folder is damaged)")
        shape = {**META_SHAPE, **{k: v for k, v in OPTIONAL_META.items() if k in meta}}
        design = meta.get("design")
        if isinstance(design, dict) and isinstance(design.get("method"), str):
            shape["design"] = {**shape["design"], **DESIGN_META.get(design["method"], {})}
        problem = _shape_problem(meta, shape, "")
        if problem:
            raise SweepError(f"{self.meta}: {problem} (the sweep folder is damaged)")
        return meta

    @contextmanager
    def lock(self) -> Iterator[None]:
        """One sweep process per folder (released by the OS if the process dies)."""
        if self.root.exists() and not self.root.is_dir():
            raise SweepError(f"the sweep folder {self.root} is a file, not a folder; choose another --out")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise SweepError(f"cannot create the sweep folder {self.root}: {err.strerror or err}; "
                             "choose another --out") from None
        try:  # "a+", not "w": a process refused the lock must not wipe the holder's pid
            fh = open(self.lock_file, "a+", encoding="utf-8")
        except OSError as err:
            raise SweepError(f"cannot lock the sweep folder {self.root}: {self.lock_file}: "
                             f"{err.strerror or err}") from None
        with fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.seek(0)
                holder = fh.read(20).strip()
                raise SweepError(f"{self.root} is being run by another sweep process"
                                 f"{f' (pid {holder})' if holder.isdigit() else ''}; wait for it to finish "
                                 "(or stop it) and run the command again") from None
            try:  # the holder's pid, for the message above (a full disk must not stop the sweep here)
                fh.truncate(0)
                fh.write(str(os.getpid()))
                fh.flush()
            except OSError:
                pass
            yield


def _shape_problem(value: Any, shape: Any, where: str) -> str | None:
    """What in ``value`` does not have ``shape`` (see ``META_SHAPE``): 'key.path is VALUE; TYPE is expected'."""
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return f"{where} is {value!r:.60}; dict is expected"
        for key, inner in shape.items():
            at = f"{where}.{key}" if where else key
            if key not in value:
                return f"{at} is missing; {_shape_name(inner)} is expected"
            problem = _shape_problem(value[key], inner, at)
            if problem:
                return problem
        return None
    if isinstance(shape, list):
        if not isinstance(value, list):
            return f"{where} is {value!r:.60}; list is expected"
        for k, item in enumerate(value):
            problem = _shape_problem(item, shape[0], f"{where}[{k}]")
            if problem:
                return problem
        return None
    if not isinstance(value, shape) or (isinstance(value, bool) and shape is not bool):
        return f"{where} is {value!r:.60}; {shape.__name__} is expected"
    return None


def _shape_name(shape: Any) -> str:
    return "dict" if isinstance(shape, dict) else "list" if isinstance(shape, list) else shape.__name__


def atomic_write(path: Path, write: Callable[[Path], Any]) -> None:
    """Write ``path`` through a temporary file and a rename: readers see the old file or the new one
    in full, after a crash of the machine too (the file is on disk before the rename, and the
    rename before this returns). A failed ``write`` (a full disk) raises, with the temporary file
    removed."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def read_journal(path: Path) -> dict[str, dict[str, Any]]:
    """Last record per run id (a torn last line from a crash, or any line that is not a record, is
    ignored); ``attempts`` counted."""
    out: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return out
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                rec = json.loads(line)
            except (ValueError, RecursionError):
                continue
            if not isinstance(rec, dict) or not isinstance(rec.get("run_id"), str):
                continue  # not a record of this journal (a damaged line): the run folders decide
            if rec.get("reused"):
                continue
            rec["attempts"] = out.get(rec["run_id"], {}).get("attempts", 0) + 1
            out[rec["run_id"]] = rec
    return out


def current_status(folder: SweepFolder, tasks: pd.DataFrame) -> pd.DataFrame:
    """The index: every run's status from its folder (trusted) and the journal (errors, timings),
    with its parameter values."""
    journal = read_journal(folder.journal)
    rows = []
    for run_id, policy, point, rep, seed in tasks[["run_id", "policy", "point", "replicate", "seed"]].itertuples(
            index=False):
        rec = journal.get(run_id, {})
        run_dir = folder.runs / run_id
        if run_complete(run_dir, int(seed)):  # the folder is trusted: a damaged one is not complete
            status = "complete"
            if rec.get("status") != "complete":  # finished but not journalled (the sweep was killed meanwhile):
                rec = {**rec, "error": None, "traceback": None, "attempts": rec.get("attempts", 0) + 1}  # one more try
        else:
            status = "failed" if rec.get("status") == "failed" else "pending"
        rows.append({"run_id": run_id, "policy": policy, "point": point, "replicate": rep, "seed": seed,
                     "status": status, "error": rec.get("error") if status == "failed" else None,
                     "traceback": rec.get("traceback") if status == "failed" else None,
                     "attempts": rec.get("attempts", 0), "started": _ts(rec.get("started")),
                     "finished": _ts(rec.get("finished")), "wall_time_s": rec.get("wall_time_s"),
                     "worker": rec.get("worker")})
    index = pd.DataFrame(rows, columns=INDEX_COLUMNS).astype({"attempts": "int64", "wall_time_s": "float64"})
    for col in param_columns(tasks):  # the run's parameter values, so the index stands on its own
        index[col] = tasks[col].to_numpy()
    return index


def param_columns(tasks: pd.DataFrame) -> list[str]:
    """The uncertain-parameter columns of a design table."""
    fixed = {"run_id", "policy", "point", "replicate", "seed", "scenario", "overrides"}
    return [c for c in tasks.columns if c not in fixed]


def _ts(value: float | None) -> pd.Timestamp | None:
    return pd.Timestamp(value, unit="s", tz="UTC") if value else None


def write_index(folder: SweepFolder, index: pd.DataFrame) -> None:
    try:
        atomic_write(folder.index, lambda p: index.to_parquet(p, index=False))
    except OSError as err:
        raise SweepError(cannot_write(folder.index, err)) from None


def cannot_write(path: Path, err: OSError) -> str:
    """The message for a sweep file that cannot be written (a full disk, a read-only folder)."""
    return (f"cannot write {path}: {err.strerror or err}; the runs finished so far are kept: free space "
            "(or make the folder writable) and run the same command again to resume")


def require_sweep(out: str | Path) -> SweepFolder:
    """The sweep folder at ``out``, or ``SweepError`` saying what is there instead."""
    folder = SweepFolder(out)
    if not folder.root.exists():
        raise SweepError(f"{folder.root} does not exist; give a sweep folder (the --out of `clusterlink sweep`)")
    if not folder.root.is_dir():
        raise SweepError(f"{folder.root} is a file, not a sweep folder")
    if not folder.exists():
        hint = ""
        if (folder.root / "manifest.json").is_file():
            hint = "; it is a run folder: its sweep folder is " + (
                str(folder.root.parent.parent) if folder.root.parent.name == "runs" else "the one holding design.parquet")
        elif (folder.root.parent / "design.parquet").is_file():
            hint = f"; its sweep folder is {folder.root.parent}"
        if folder.half_made():
            hint = ("; its creation stopped before design.parquet was written (no run was made): run "
                    "`clusterlink sweep FILE --out` with this folder again to create it")
        raise SweepError(f"{folder.root} holds no sweep (no design.parquet){hint}")
    for name, path in (("sweep.json", folder.meta), ("points.parquet", folder.points)):
        if not path.is_file():
            raise SweepError(f"{folder.root} is not a complete sweep folder: {name} is missing")
    return folder


def damaged_tables(folder: SweepFolder, run_ids: Iterator[str] | list[str]) -> list[tuple[Path, str]]:
    """Parquet files of the given runs that cannot be read (with the reader's reason)."""
    import pyarrow.parquet as pq

    out = []
    for run_id in run_ids:
        for path in sorted((folder.runs / run_id).glob("*.parquet")):
            try:
                pq.read_metadata(path)
            except Exception as err:  # noqa: BLE001  (any reader error means the file is damaged)
                out.append((path, str(err).splitlines()[0] if str(err) else type(err).__name__))
    return out


def damage_message(folder: SweepFolder, error: Exception) -> str:
    """A reader error on a sweep's run tables, explained: which files are damaged and what to do."""
    index = current_status(folder, folder.read_design())
    bad = damaged_tables(folder, list(index.loc[index["status"] == "complete", "run_id"]))
    if not bad:  # not a damaged run table: the reader's own message (it names its file)
        return str(error)
    runs = sorted({p.parent.name for p, _ in bad})
    lines = [f"{len(bad)} damaged run table(s) in {folder.root}:"] + [f"  {p}: {why}" for p, why in bad[:20]]
    lines.append(f"delete the damaged run folder(s) ({', '.join(runs[:5])}{', ...' if len(runs) > 5 else ''}) "
                 "and run the sweep again with --resume to remake them")
    return "\n".join(lines)


def sweep_status(out: str | Path) -> pd.DataFrame:
    """The current index of a sweep folder (recomputed from folders and journal)."""
    folder = require_sweep(out)
    return current_status(folder, folder.read_design())


class Journal:
    """Append-only record of finished tasks; each line is flushed and fsync'd."""

    def __init__(self, path: Path, session: str):
        self.path = path
        self.session = session
        try:
            self.fh = open(path, "a", encoding="utf-8")
            if _torn(path):  # a write cut short (full disk, crash): end it, or the next record joins it
                self.fh.write("\n")
                self.fh.flush()
        except OSError as err:
            raise SweepError(cannot_write(path, err)) from None

    def append(self, result: RunResult) -> None:
        rec = {**asdict(result), "session": self.session}
        rec.pop("extra", None)
        try:
            self.fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
            self.fh.flush()
            os.fsync(self.fh.fileno())
        except OSError as err:
            raise SweepError(cannot_write(self.path, err)) from None

    def close(self) -> None:
        try:
            self.fh.close()
        except OSError:  # only what a failed append (already raised) left in the buffer
            pass


def _torn(path: Path) -> bool:
    """True if the file does not end with a newline (its last line was cut short)."""
    with open(path, "rb") as fh:
        if fh.seek(0, os.SEEK_END) == 0:
            return False
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) != b"\n"


def update_row(index: pd.DataFrame, i: int, res: RunResult) -> None:
    failed = res.status == "failed"
    index.iloc[i, index.columns.get_indexer(["status", "error", "traceback", "started", "finished",
                                             "wall_time_s", "worker"])] = [
        res.status, res.error if failed else None, res.traceback if failed else None,
        _ts(res.started), _ts(res.finished), res.wall_time_s, res.worker]
    index.iat[i, index.columns.get_loc("attempts")] += 1
