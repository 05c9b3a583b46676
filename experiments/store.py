"""The results store: one folder per run, written atomically, read back lazily.

A run folder (docs/ARCHITECTURE.md, "Run folder") holds ``manifest.json`` and one Parquet file
per table. ``write_run`` writes everything into ``<out>/.tmp-<run_id>-<pid>/``, fsyncs it, writes
the manifest last and only then renames the folder to ``<out>/<run_id>/``. So a crash at any
point leaves either no run folder or a hidden ``.tmp-*`` folder, never a half-written run that
looks finished. A run is complete when its manifest says ``"status": "complete"`` and every table
it lists is present.

What is already at a run's place is replaced only with ``overwrite`` and only when it is a complete
run folder holding nothing but what the store writes (``manifest.json`` and the tables it lists).
Anything else there (a file, a link, a folder of the user's, a manifest of someone else's, a damaged
run, a run the user added files to) is left alone and named in a ``NotARunError``.

This module is the only writer of results; the dashboard and the sweep code read through it.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import json
import os
import platform
import re
import shutil
import stat
import subprocess
import threading
import time
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["FORMAT_VERSION", "KEY_COLUMNS", "MANIFEST", "MAX_RUN_ID_BYTES", "RUN_TABLES", "TABLE_COLUMNS", "TMP_PREFIX",
           "NotARunError", "RunData", "RunExistsError", "RunIdError", "RunWriteError", "StoreError", "check_target",
           "clean_stale_tmp", "collect_versions", "fit_run_id", "fsync_dir", "fsync_file", "git_commit", "is_complete",
           "list_runs", "manifest_problem", "read_run", "run_id_problem", "write_run"]

MANIFEST = "manifest.json"
TMP_PREFIX = ".tmp-"
RUN_TABLES = ("indicators", "indicators_province", "firms", "contracts", "flows", "policy", "locations")
"""The tables of a model run, in the order of docs/ARCHITECTURE.md."""

FORMAT_VERSION = 1
"""The run-folder format this clusterlink writes and reads (``format_version`` in the manifest; absent = 1)."""

_N, _I, _S = "number", "integer", "text"
_COMMON = {"step": _I, "date": _S}
TABLE_COLUMNS: dict[str, dict[str, str]] = {
    "indicators": {**_COMMON, **{c: _N for c in (
        "localisation_rate", "localisation_rate_input", "local_sourcing_fdi_suppliers", "domestic_tier1_suppliers",
        "domestic_tier2_suppliers", "fdi_firms_with_domestic_supplier_share", "n_fdi_firms", "n_domestic_firms",
        "firm_entries", "firm_exits", "spinoffs", "fdi_arrivals", "employment_total", "employment_fdi",
        "employment_domestic", "mean_wage_fdi", "mean_wage_domestic", "mean_tech_domestic", "tech_gap",
        "flows_fdi_to_domestic", "flows_domestic_to_fdi", "contracts_active", "network_density",
        "largest_component_share", "clustering", "industrial_output", "value_added_domestic", "domestic_output_share",
        "policy_spend", "policy_spend_cumulative", "imports_share", "ellison_glaeser_electronics", "unemployed_pool")}},
    "indicators_province": {**_COMMON, "province": _S, **{c: _N for c in (
        "n_fdi_firms", "n_domestic_firms", "n_park_firms", "employment_total", "employment_park", "employment_fdi",
        "employment_domestic", "industrial_output", "domestic_output_share", "localisation_rate",
        "mean_tech_domestic", "location_quotient_electronics")}},
    "firms": {**_COMMON, "firm_id": _I, "name": _S, "kind": _S, "owner": _S, "province": _S, "district": _S,
              "location": _S, "lat": _N, "lon": _N, "sector": _S, "tech": _N, "employees": _N, "operators": _N,
              "technicians": _N, "engineers": _N, "output": _N, "capacity": _N, "cash": _N, "n_customers": _N},
    "contracts": {**_COMMON, "event": _S, "contract_id": _I, "buyer_id": _I, "supplier_id": _I, "buyer_owner": _S,
                  "supplier_owner": _S, "category": _S, "tier": _I, "value": _N},
    "flows": {**_COMMON, "kind": _S, "from_id": _I, "to_id": _I, "from_owner": _S, "to_owner": _S, "skill": _S,
              "count": _N},
    "policy": {**_COMMON, "policy": _S, "lever": _S, "spend": _N},
    "locations": {"location_id": _S, "name": _S, "kind": _S, "province": _S, "district": _S, "lat": _N, "lon": _N,
                  "area_ha": _N, "occupied_ha": _N, "opens": _S},
}
"""The columns of each run table and their kind, as docs/ARCHITECTURE.md documents them."""
KEY_COLUMNS: dict[str, tuple[str, ...]] = {t: ("step",) for t in RUN_TABLES if t != "locations"}
"""What every reader needs of a run table (a reader may ask for more, see ``read_run``)."""

_VERSIONED = ("clusterlink", "mesa", "numpy", "pandas", "pyarrow", "scipy")
MAX_RUN_ID_BYTES = 200  # with the temporary folder's prefix and suffix, under the usual 255-byte name limit
_BAD_CATEGORIES = {"Cc": "control character", "Zl": "line separator", "Zp": "paragraph separator",
                   "Cs": "undecodable byte"}  # C0, DEL and C1 controls are Cc; undecodable argv bytes are Cs
_MAX_MANIFEST_BYTES = 64 << 20  # a manifest clusterlink writes is a few hundred kB at most
_TABLE_OK = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class StoreError(RuntimeError):
    """A run folder cannot be written or read (the message says which and why)."""


class RunExistsError(StoreError, FileExistsError):
    """The target run folder already holds a complete run and ``overwrite`` was not given."""


class RunWriteError(StoreError, OSError):
    """A run folder could not be written (a full disk, a folder made read-only); nothing of it was kept."""


class NotARunError(StoreError, FileExistsError):
    """Something that is not a complete run folder of clusterlink's own is where the run would go (a
    file, a link, a folder without a manifest or with a manifest of someone else's, a damaged run, a
    complete run holding files the store did not write); it is never replaced, even with
    ``overwrite``, and the message names the folder and what is in it."""


class RunIdError(StoreError, ValueError):
    """A run id that is not a plain folder name."""


# -- writing ------------------------------------------------------------------------------------------
def write_run(out_dir: str | Path, run_id: str, manifest: Mapping[str, Any],
              tables: Mapping[str, pd.DataFrame], overwrite: bool = False) -> Path:
    """Write one run folder atomically and return its path ``<out_dir>/<run_id>``.

    ``manifest`` is stored as given plus ``run_id``, ``status: "complete"`` and ``tables``
    (name → row count). Raises ``RunExistsError`` if a complete run is already there, unless
    ``overwrite`` (then the old folder is renamed aside, the new one renamed in, the old deleted),
    ``NotARunError`` if anything else is there (see ``check_target``), and ``RunWriteError`` (an
    ``OSError`` too) naming the folder if it cannot be written (a full disk).
    """
    for name in tables:
        if not _TABLE_OK.match(name):
            raise StoreError(f"table name {name!r} is not a plain identifier")
    final = check_target(out_dir, run_id, overwrite)
    out, run_id = final.parent, final.name
    tmp = _claim_tmp(out, run_id)
    writing = tmp
    try:
        counts = {}
        for name, df in tables.items():
            writing = tmp / f"{name}.parquet"
            counts[name] = _write_table(writing, df)
        full = {**dict(manifest), "run_id": run_id, "status": "complete", "format_version": FORMAT_VERSION,
                "tables": counts}
        writing = tmp / MANIFEST
        _write_json(writing, full)
        writing = tmp
        fsync_dir(tmp)
        _move_into_place(tmp, final, overwrite)
    except BaseException as err:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(err, OSError) and not isinstance(err, StoreError):  # a full disk, a read-only folder:
            why = err.strerror or (str(err).splitlines() or [type(err).__name__])[0]  # (pyarrow names no file)
            step = f"writing {writing.name}" if writing != tmp else "renaming it into place"
            raise RunWriteError(f"cannot write the run folder {final} ({step} failed: {why}); "
                                "nothing of it was kept") from None
        raise
    finally:
        with _IN_USE_LOCK:
            _IN_USE.discard(tmp)
    fsync_dir(out)
    return final


def check_target(out_dir: str | Path, run_id: str, overwrite: bool = False) -> Path:
    """Check that run ``run_id`` can be written under ``out_dir`` (created if missing) and return its
    folder; callers check before simulating, so that a run is not spent on a folder it cannot have.

    Raises ``RunIdError`` (not a plain folder name, see ``run_id_problem``), ``StoreError``
    (``out_dir`` is a file, or cannot be created or written), ``NotARunError`` (what is at the run's
    place is not a complete run folder with nothing but the store's files in it: a file, a link, a
    folder of the user's, a manifest not of clusterlink's, a damaged run, a run the user added files
    to; it is left alone even with ``overwrite``) or ``RunExistsError`` (a complete run is there and
    not ``overwrite``).
    """
    run_id = _check_run_id(run_id)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise StoreError(f"the results folder {out} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise StoreError(f"cannot create the results folder {out}: {err.strerror or err}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise StoreError(f"the results folder {out} is not writable")
    final = out / run_id
    if _refuse_what_is_not_a_run(final) and not overwrite:
        raise RunExistsError(f"{final} already holds a complete run (use overwrite to replace it)")
    return final


_SWAP_ATTEMPTS = 16  # looks at a run's place that keeps changing under racing writers, before giving up
_TAKEN = (errno.ENOTEMPTY, errno.EEXIST)  # what renaming onto a folder that is there gives


@dataclass(frozen=True)
class _Verdict:
    """Why what is at a run's place may not be replaced (``what``, said after the folder's name) and
    what the user can do about it (``advice``)."""

    what: str
    advice: str = ""


_DELETE = "delete it yourself if it is not needed"


def _refuse_what_is_not_a_run(final: Path) -> bool:
    """Raise ``NotARunError`` if something is at ``final`` that a run may not replace (see
    ``_why_not_replaceable``); return True if a replaceable complete run is there, False if nothing is.

    The verdict is about one folder (read through one handle on it) and stands only if that folder is
    still at ``final`` afterwards, so that a run folder another writer renames away or in meanwhile is
    never taken for a folder of the user's (if it keeps changing, ``_move_into_place`` checks what it
    moved aside)."""
    for _ in range(_SWAP_ATTEMPTS):
        try:
            was = os.lstat(final)
        except FileNotFoundError:
            return False
        try:
            verdict, seen = _why_not_replaceable(final)
        except FileNotFoundError:  # moved away meanwhile: look again
            continue
        if verdict is None:
            return True
        try:
            now = os.lstat(final)
        except FileNotFoundError:
            continue
        if (now.st_dev, now.st_ino) == (was.st_dev, was.st_ino) and seen in (None, (was.st_dev, was.st_ino)):
            raise NotARunError(_left_alone(final, verdict))
    return True  # it kept changing: other writers are swapping runs there; the swap checks again


def _why_not_replaceable(folder: Path) -> tuple[_Verdict | None, tuple[int, int] | None]:
    """Why what is at ``folder`` may not be replaced by a run, or None if it is a complete run folder
    holding nothing but what the store writes (its manifest, with ``run_id``, ``status: "complete"``
    and ``tables``, and exactly the table files that lists); and the (device, inode) looked at.

    Raises ``FileNotFoundError`` if nothing is there. The folder is read through one handle, so the
    verdict is about one folder even while other writers rename runs in and out under its name."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as err:
        if isinstance(err, NotADirectoryError) or err.errno == errno.ELOOP:  # a file; a link (O_NOFOLLOW)
            return _Verdict("exists and is not a run folder (it is a file or a link)"), None
        if isinstance(err, FileNotFoundError):
            raise
        return _Verdict(f"exists and cannot be looked into ({err.strerror or err})"), None
    try:
        seen = os.fstat(fd)
        identity = (seen.st_dev, seen.st_ino)
        try:
            names = sorted(os.listdir(fd))
        except OSError as err:
            return _Verdict(f"exists and cannot be looked into ({err.strerror or err})"), identity
        kinds = {n: _kind_at(fd, n) for n in names}
        holds = f"it holds: {_listing(kinds)}" if kinds else "it is empty"
        if kinds.get(MANIFEST) != "file":
            return _Verdict(f"exists and is not a run folder (it has no {MANIFEST}; {holds})"), identity
        raw = _read_at(fd, MANIFEST)
    finally:
        os.close(fd)
    if isinstance(raw, str):
        return _Verdict(f"is not a run folder ({raw}; {holds})"), identity
    data, problem = _parse_manifest(folder / MANIFEST, raw)
    if data is None:
        return _Verdict(f"is not a run folder of clusterlink ({problem}; {holds})"), identity
    lacks = [k for k in ("run_id", "status", "tables") if k not in data]
    if lacks:
        return _Verdict(f"is not a run folder of clusterlink (its {MANIFEST} has no {', '.join(lacks)}, which "
                        f"every run's manifest has; {holds})"), identity
    if problem:
        return _Verdict(f"is a damaged or unfinished run ({problem}; {holds})", _DELETE), identity
    tables = {f"{name}.parquet" for name in data["tables"]}
    missing = sorted(t for t in tables if kinds.get(t) != "file")
    foreign = [n for n in names if n != MANIFEST and n not in tables]
    also = f"what the run did not write: {_listing(kinds, foreign)}" if foreign else ""
    if missing:
        state = "missing" if missing[0] not in kinds else "not a file"
        return _Verdict(f"is a damaged run (its manifest lists {', '.join(missing)}, which "
                        f"{'is' if len(missing) == 1 else 'are'} {state}{'; it also holds ' + also if also else ''})",
                        _DELETE), identity
    if foreign:
        return _Verdict(f"holds a complete run and also {also}",
                        "move that out of the folder to replace the run"), identity
    return None, identity


def _kind_at(fd: int, name: str) -> str:
    """What the entry ``name`` of the open folder ``fd`` is: "file", "folder", "link" or "other"."""
    try:
        mode = os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode
    except OSError:
        return "other"
    return ("file" if stat.S_ISREG(mode) else "folder" if stat.S_ISDIR(mode)
            else "link" if stat.S_ISLNK(mode) else "other")


def _listing(kinds: Mapping[str, str], names: list[str] | None = None) -> str:
    """A few of a folder's entries for a message: ``a.txt, plots/, x (a link) and 3 more``."""
    names = list(kinds) if names is None else names
    shown = [repr(n)[1:-1] + {"folder": "/", "link": " (a link)"}.get(kinds.get(n, ""), "") for n in names[:8]]
    return ", ".join(shown) + (f" and {len(names) - 8} more" if len(names) > 8 else "")


def _read_at(fd: int, name: str) -> bytes | str:
    """The bytes of file ``name`` in the open folder ``fd``, or why it cannot be read (a str)."""
    try:
        f = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=fd)
    except OSError as err:
        return f"its {name} cannot be read: {err.strerror or err}"
    try:
        if os.fstat(f).st_size > _MAX_MANIFEST_BYTES:
            return f"its {name} is larger than any manifest clusterlink writes"
        with os.fdopen(f, "rb", closefd=False) as fh:
            return fh.read()
    except OSError as err:
        return f"its {name} cannot be read: {err.strerror or err}"
    finally:
        os.close(f)


def _left_alone(final: Path, verdict: _Verdict) -> str:
    """The message of a ``NotARunError``: the folder, what is there, that it is left alone, what to do."""
    advice = f" ({verdict.advice})" if verdict.advice else ""
    return f"{final} {verdict.what}; it is left alone, even with overwrite{advice}"


_IN_USE: set[Path] = set()  # temporary folders this process is writing now (threads share a pid)
_IN_USE_LOCK = threading.Lock()


def _claim_tmp(out: Path, run_id: str) -> Path:
    """Create ``<out>/.tmp-<run_id>-<pid>`` (``...-<pid>.<n>`` if another thread writes that one)."""
    base = f"{TMP_PREFIX}{run_id}-{os.getpid()}"
    with _IN_USE_LOCK:
        n = 0
        tmp = out / base
        while tmp in _IN_USE:
            n += 1
            tmp = out / f"{base}.{n}"
        _IN_USE.add(tmp)
    try:
        if tmp.is_symlink() or tmp.is_file():  # not ours to follow: only the name is removed
            tmp.unlink()
        elif tmp.exists():  # left by a crashed process that had the same id: stale
            shutil.rmtree(tmp)
        tmp.mkdir()
    except BaseException:
        with _IN_USE_LOCK:
            _IN_USE.discard(tmp)
        raise
    return tmp


def run_id_problem(run_id: str) -> str | None:
    """Why ``run_id`` cannot be a run folder's name, or None.

    A run id is any text of at most ``MAX_RUN_ID_BYTES`` bytes in UTF-8 that is not empty, does not
    start with ``.`` (hidden, and the store's own temporary folders), has no ``/`` or ``\\``, no
    control character (C0, DEL, C1: a newline, a tab, an escape), no line or paragraph separator and
    no space at either end: such names break shell loops, URLs and file pickers."""
    if not run_id or run_id.startswith("."):
        return "it must not be empty or start with '.'"
    for i, ch in enumerate(run_id, 1):
        if ch in "/\\":
            return f"it must not contain '/' or '\\' (character {i})"
        what = _BAD_CATEGORIES.get(unicodedata.category(ch))
        if what:
            return f"it must not contain a {what} (U+{ord(ch):04X} at character {i})"
    if run_id != run_id.strip():
        return "it must not start or end with a space"
    size = len(run_id.encode("utf-8"))
    if size > MAX_RUN_ID_BYTES:
        return f"it is {size} bytes long; at most {MAX_RUN_ID_BYTES}"
    return None


def _check_run_id(run_id: Any) -> str:
    if not isinstance(run_id, str):
        raise TypeError(f"run_id must be a str, got {type(run_id).__name__} ({run_id!r})")
    problem = run_id_problem(run_id)
    if problem:
        shown = run_id if len(run_id) <= 60 else run_id[:57] + "..."
        raise RunIdError(f"run id {shown!r} is not a valid folder name: {problem}")
    return run_id


def fit_run_id(stem: str, suffix: str = "") -> str:
    """A valid run id ``<stem><suffix>`` made from any ``stem`` (a scenario name): characters a run id
    may not have become ``_``, leading dots and spaces are dropped, and a stem too long for
    ``MAX_RUN_ID_BYTES`` is cut, ending in 8 hex digits of its hash so that stems which differ only
    past the cut still give different ids. ``suffix`` (``-s<seed>-<time>``) is kept whole."""
    clean = "".join("_" if ch in "/\\" or unicodedata.category(ch) in _BAD_CATEGORIES else ch for ch in stem)
    clean = clean.lstrip(". ").rstrip() or "run"
    room = MAX_RUN_ID_BYTES - len(suffix.encode("utf-8"))
    if len(clean.encode("utf-8")) > room:
        tag = "-" + hashlib.sha256(stem.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        cut = clean.encode("utf-8")[:room - len(tag)].decode("utf-8", "ignore").rstrip()
        clean = cut + tag
    run_id = clean + suffix
    if run_id_problem(run_id):
        raise RunIdError(f"no valid run id can be made of {stem[:60]!r} and {suffix!r}: {run_id_problem(run_id)}")
    return run_id


def _write_table(path: Path, df: pd.DataFrame) -> int:
    """One table as a columnar Parquet file (no pandas index); returns its row count.

    Text columns are dictionary-encoded (few distinct values) and integer columns delta-encoded
    (steps and ids run in order): against dictionary-encoding every column, the baseline's run
    folder is written about a quarter faster and comes out about an eighth smaller. Columns that
    arrive as Arrow dictionaries of text (``ClusterModel.results(for_store=True)``) are written as
    their dictionary pages directly, without hashing every string again, and read back as text:
    such a table is stored without the Arrow and pandas schemas, which would make them categories
    (or, for pandas' name of that dtype, unreadable). Min/max statistics are written for the number
    columns only: for text they cost a third of the writing time of the event tables, and the
    ``step`` column's carry the same information as ``date``'s.
    """
    table = pa.Table.from_pandas(df, preserve_index=False)
    coded = any(isinstance(dt, pd.ArrowDtype) and pa.types.is_dictionary(dt.pyarrow_dtype) for dt in df.dtypes)
    if coded:
        table = table.replace_schema_metadata(None)
    text = [f.name for f in table.schema
            if pa.types.is_string(f.type) or pa.types.is_large_string(f.type) or pa.types.is_dictionary(f.type)]
    delta = {f.name: "DELTA_BINARY_PACKED" for f in table.schema if pa.types.is_integer(f.type)}
    stats = [f.name for f in table.schema if f.name not in text]
    pq.write_table(table, path, compression="zstd", use_dictionary=text, column_encoding=delta,
                   write_statistics=stats, store_schema=not coded)
    fsync_file(path)
    return int(table.num_rows)


def _json_default(value: Any) -> Any:
    """JSON for NumPy scalars and arrays, paths and sets in a manifest."""
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"manifest value of type {type(value).__name__} is not JSON-able: {value!r}")


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    text = json.dumps(data, indent=2, ensure_ascii=False, default=_json_default, allow_nan=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def fsync_file(path: Path) -> None:
    """Put a written file's data on disk (before a rename makes it visible)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file in ``path`` durable (a no-op where directories can't be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _move_into_place(tmp: Path, final: Path, overwrite: bool) -> None:
    """Rename the finished temporary folder to its final name.

    Without ``overwrite`` nothing that is there is replaced: the first writer in wins and the others
    get ``RunExistsError``. With it, a complete run folder there (and nothing else, see
    ``_why_not_replaceable``) is renamed aside, checked again, the new one renamed in and the old
    deleted; writers racing to replace one run each swap out what is there, so the folder ends as one
    writer's complete run.
    """
    aside = tmp.with_name(f"{tmp.name}-old")  # unique to this writer, as ``tmp`` is
    for _ in range(_SWAP_ATTEMPTS):
        if not final.exists() and not final.is_symlink():
            try:
                os.rename(tmp, final)
                return
            except OSError as err:
                if err.errno not in _TAKEN:
                    raise
                continue  # someone else got there first: decide again
        _refuse_what_is_not_a_run(final)  # it may have appeared or changed while the run was being written
        if not overwrite:
            if os.path.lexists(final):
                raise RunExistsError(f"{final} already holds a complete run (use overwrite to replace it)")
            continue  # moved away meanwhile
        if aside.exists():
            shutil.rmtree(aside)
        try:
            os.rename(final, aside)
        except FileNotFoundError:  # another writer swapped it out first: decide again
            continue
        try:
            verdict = _why_not_replaceable(aside)[0]
        except FileNotFoundError:  # deleted by someone else: nothing to put back, decide again
            continue
        if verdict is not None:  # not a replaceable run after all (it changed just now): put it back
            try:
                os.rename(aside, final)
            except OSError:  # something else is at its place now: keep it under a name no cleaner removes
                kept = final.with_name(f"{final.name}.kept-{os.getpid()}")
                os.rename(aside, kept)
                raise NotARunError(f"{final} turned out not to be a run folder that may be replaced while this "
                                   f"run was moved into place; it is kept as {kept}") from None
            raise NotARunError(_left_alone(final, verdict))
        try:
            os.rename(tmp, final)
        except BaseException as err:
            if isinstance(err, OSError) and err.errno in _TAKEN:  # another writer's run got in first
                shutil.rmtree(aside, ignore_errors=True)  # (the old run was being replaced anyway)
                continue
            os.rename(aside, final)  # put the old run back
            raise
        shutil.rmtree(aside, ignore_errors=True)
        return
    raise StoreError(f"{final} kept changing while this run was moved into place ({_SWAP_ATTEMPTS} attempts); "
                     "another writer is replacing it")


# -- reading ------------------------------------------------------------------------------------------
def _load_manifest(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """The manifest of run folder ``path`` and, if it is not a usable one, why (naming the file and key)."""
    file = path / MANIFEST
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        return None, f"{file} is missing"
    except IsADirectoryError:
        return None, f"{file} is a folder, not a file"
    except OSError as err:
        return None, f"{file} cannot be read: {err.strerror or err}"
    return _parse_manifest(file, raw)


def _parse_manifest(file: Path, raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """The manifest in ``raw`` (read from ``file``) and, if it is not a usable one, why."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        return None, f"{file} is not UTF-8 text (byte {err.start})"
    except json.JSONDecodeError as err:
        return None, f"{file} is not valid JSON ({err.msg} at line {err.lineno}, column {err.colno})"
    except (ValueError, RecursionError) as err:  # an integer of thousands of digits, nesting too deep
        return None, f"{file} is not a usable JSON manifest ({str(err).splitlines()[0] if str(err) else 'nested too deeply'})"
    if not isinstance(data, dict):
        return None, f"{file} holds {_kind(data) if data is not None else 'null'}; a JSON object is expected"
    return data, _shape_problem(file, data)


def _shape_problem(file: Path, data: dict[str, Any]) -> str | None:
    """Why a manifest's keys do not have the documented types (docs/ARCHITECTURE.md), or None."""
    if data.get("status") != "complete":
        return f"{file}: status is {data.get('status')!r}; 'complete' is expected (the run did not finish)"
    tables = data.get("tables")
    if not isinstance(tables, dict):
        return f"{file}: tables is {_kind(tables)}; an object of table name -> row count is expected"
    for name, rows in tables.items():
        if not _TABLE_OK.match(name):
            return f"{file}: tables: {name!r} is not a table name (letters, digits and _ are expected)"
        if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0:
            return f"{file}: tables.{name} is {rows!r}; a row count (an integer >= 0) is expected"
    expected = {"run_id": (str,), "seed": (int, type(None)), "scenario": (dict, type(None)), "start": (str,),
                "end": (str,), "n_months": (int,), "config": (dict,), "overrides": (list,),
                "versions": (dict,), "format_version": (int,)}
    for key, types in expected.items():
        if key in data and (isinstance(data[key], bool) or not isinstance(data[key], types)):
            want = " or ".join("null" if t is type(None) else _TYPE_NAMES[t] for t in types)
            return f"{file}: {key} is {_kind(data[key])}; {want} is expected"
    scen = data.get("scenario") or {}
    bad = [k for k in ("path", "name", "hash") if k in scen and not isinstance(scen[k], str | type(None))]
    if bad:
        return f"{file}: scenario.{bad[0]} is {_kind(scen[bad[0]])}; a string is expected"
    return None


_TYPE_NAMES = {str: "a string", int: "an integer", dict: "an object", list: "a list"}


def _kind(value: Any) -> str:
    """A short description of a JSON value for a message."""
    text = repr(value)
    if value is None:
        return "null or missing"
    name = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", float: "a number"}.get(
        type(value), type(value).__name__)
    return f"{name} {text[:40] + '...' if len(text) > 40 else text}"


def _checked_manifest(p: Path) -> tuple[dict[str, Any] | None, str | None]:
    """The manifest of run folder ``p`` and why the folder is not a complete run (or None)."""
    manifest, problem = _load_manifest(p)
    if problem or manifest is None:
        return manifest, problem
    missing = [name for name in manifest["tables"] if not (p / f"{name}.parquet").is_file()]
    if missing:
        return manifest, (f"{p}: the manifest lists the table {missing[0]!r}, but {p / (missing[0] + '.parquet')} "
                          f"is {'not a file' if (p / (missing[0] + '.parquet')).exists() else 'missing'}")
    return manifest, None


def manifest_problem(path: str | Path) -> str | None:
    """Why ``path`` is not a complete run folder (naming the file, and the key where it applies), or None."""
    return _checked_manifest(Path(path))[1]


def is_complete(path: str | Path) -> bool:
    """True if ``path`` is a finished run: a well-formed manifest with status "complete" and every
    listed table present (a run of a newer format is complete too; ``read_run`` refuses it)."""
    return manifest_problem(path) is None


@dataclass
class RunData:
    """A run folder read back: the manifest now, tables on first use (then cached).

    ``need`` maps a table name to the columns a reader needs of it (``KEY_COLUMNS`` at least).
    """

    path: Path
    manifest: dict[str, Any]
    _cache: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)
    need: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: KEY_COLUMNS, repr=False)

    @property
    def run_id(self) -> str:
        return str(self.manifest.get("run_id", self.path.name))

    def tables(self) -> list[str]:
        """Names of the tables in this run (architecture order first, then any others)."""
        present = {p.stem for p in self.path.glob("*.parquet")}
        return [t for t in RUN_TABLES if t in present] + sorted(present - set(RUN_TABLES))

    def table(self, name: str, columns: list[str] | None = None) -> pd.DataFrame:
        """One table as a DataFrame; a full read is cached, a column subset is read each time.

        Raises ``KeyError`` (no such table) or ``StoreError`` naming the file (and the column) when
        the file cannot be read or its columns are not those docs/ARCHITECTURE.md documents.
        """
        if name in self._cache:
            df = self._cache[name]
            return df if columns is None else df[columns]
        file = self.path / f"{name}.parquet"
        if not _TABLE_OK.match(name) or not file.is_file():
            raise KeyError(f"run {self.run_id} ({self.path}) has no table {name!r}; it has: {', '.join(self.tables())}")
        try:
            schema = pq.read_schema(file)
            self._check_schema(file, name, schema, columns)
            df = pd.read_parquet(file, columns=columns)
        except (pa.ArrowException, OSError) as err:  # a damaged file in a folder that looks complete
            raise StoreError(f"{file} cannot be read ({str(err).splitlines()[0] if str(err) else type(err).__name__}); "
                             "the run folder is damaged: delete it and make the run again") from None
        if columns is None:
            self._cache[name] = df
        return df

    def _check_schema(self, file: Path, name: str, schema: pa.Schema, columns: list[str] | None) -> None:
        """``StoreError`` if a needed or asked-for column is missing or a documented one has another type."""
        have = {f.name: f.type for f in schema}
        wanted = [*self.need.get(name, ()), *(columns or [])]
        missing = [c for c in dict.fromkeys(wanted) if c not in have]
        if missing:
            raise StoreError(f"{file}: column {missing[0]!r} is missing; it has: {', '.join(have) or 'no columns'}"
                             " (the columns are listed in docs/ARCHITECTURE.md)")
        for col, kind in TABLE_COLUMNS.get(name, {}).items():
            if col in have and not _is_kind(have[col], kind):
                raise StoreError(f"{file}: column {col!r} holds {have[col]}; {kind} is expected "
                                 "(docs/ARCHITECTURE.md)")


def _is_kind(typ: pa.DataType, kind: str) -> bool:
    """True if a Parquet column type fits a documented kind (an all-null column fits any)."""
    if pa.types.is_dictionary(typ):
        typ = typ.value_type
    if pa.types.is_null(typ):
        return True
    if kind == _S:
        return pa.types.is_string(typ) or pa.types.is_large_string(typ)
    if kind == _I:
        return pa.types.is_integer(typ)
    return pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_decimal(typ)


def read_run(path: str | Path, need: Mapping[str, tuple[str, ...]] | None = None) -> RunData:
    """Open a complete run folder; ``StoreError`` says which file and key make it not one.

    ``need``: table name -> columns the reader will use (checked on each table's first read, so a
    table without them is a ``StoreError`` naming the file and the column); ``KEY_COLUMNS`` by default.
    """
    p = Path(path)
    if not p.is_dir():
        raise StoreError(f"{p}: no such run folder")
    manifest, problem = _checked_manifest(p)  # the manifest is read once
    if problem or manifest is None:
        raise StoreError(f"{p} is not a complete run: {problem}")
    version = manifest.get("format_version", 1)
    if version > FORMAT_VERSION:
        raise StoreError(f"{p / MANIFEST}: format_version is {version}; this clusterlink reads run folders of "
                         f"format {FORMAT_VERSION} or older: upgrade clusterlink to read it")
    absent = [t for t in need or {} if not (p / f"{t}.parquet").is_file()]
    if absent:
        raise StoreError(f"{p / (absent[0] + '.parquet')} is missing; the run folder has: "
                         f"{', '.join(RunData(p, manifest).tables()) or 'no tables'}")
    needed = {t: tuple(dict.fromkeys([*KEY_COLUMNS.get(t, ()), *(need or {}).get(t, ())]))
              for t in set(KEY_COLUMNS) | set(need or {})}
    return RunData(p, manifest, need=needed)


def list_runs(results_dir: str | Path) -> list[Path]:
    """The complete run folders directly inside ``results_dir``, sorted by name.

    Hidden folders (``.tmp-*`` being written or left by a crash) and incomplete folders are skipped.
    """
    root = Path(results_dir)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if not p.name.startswith(".") and p.is_dir() and is_complete(p))


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` is running here. A zombie is not: a killed worker whose parent died
    too waits to be reaped by an init that, in a container, may never reap it."""
    try:
        os.kill(pid, 0)
    except PermissionError:  # exists, owned by someone else
        pass
    except (ProcessLookupError, OverflowError):
        return False
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    """True for a zombie or a process gone since os.kill saw it; False where /proc cannot tell."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return Path("/proc/self").exists()  # gone, on a machine with /proc; elsewhere os.kill's answer stands
    except OSError:
        return False
    return stat[stat.rindex(")") + 2:].split(maxsplit=1)[0] == "Z"  # after "pid (comm) ": the state


def clean_stale_tmp(out_dir: str | Path, min_age_s: float = 0.0) -> list[Path]:
    """Delete ``.tmp-*`` folders whose writing process is gone; return what was removed.

    A folder is stale when the process id in its name is not running on this machine and it is
    older than ``min_age_s``. On a folder shared by several machines, pass a generous
    ``min_age_s`` (a process id seen here says nothing about another host's writer).
    """
    root = Path(out_dir)
    if not root.is_dir():
        return []
    removed = []
    now = time.time()
    for p in root.iterdir():
        if not (p.name.startswith(TMP_PREFIX) and p.is_dir()) or p.is_symlink():  # writers make folders only
            continue
        m = re.search(r"-(\d+)(\.\d+)?(-old)?$", p.name)
        if m and _pid_alive(int(m.group(1))):
            continue
        try:
            if now - p.stat().st_mtime < min_age_s:
                continue
        except OSError:
            continue
        shutil.rmtree(p, ignore_errors=True)
        removed.append(p)
    return sorted(removed)


# -- provenance ---------------------------------------------------------------------------------------
def collect_versions() -> dict[str, str | None]:
    """Versions of clusterlink, Python and the packages that shape a run's numbers (None if absent)."""
    return dict(_versions())


@functools.cache
def _versions() -> tuple[tuple[str, str | None], ...]:
    """``collect_versions`` once a process: the code a process runs is the code it loaded, and each
    look-up scans every installed package (a few ms and some garbage a run, in a sweep worker)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return tuple((k, versions[k]) for k in ("clusterlink", "python", *_VERSIONED[1:]))


def git_commit(repo: str | Path | None = None) -> str | None:
    """The commit of the clusterlink checkout (or of ``repo``); None without git or a checkout."""
    where = Path(repo) if repo is not None else Path(__file__).resolve().parent
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True,
                              timeout=10, check=False)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and re.fullmatch(r"[0-9a-f]{40,64}", commit) else None
