"""Folders that commands fill with their outputs (``compare --out``, ``analyze -o``).

A command writes only into a new or empty folder, or one holding an earlier output of the same
command, which it recognises by the mark it leaves (``.clusterlink-output.json``: the command and
the files it wrote). A folder holding anything else, files of the user's, a run folder, a sweep,
is refused before anything is computed, so nothing of the user's is overwritten and outputs of
two kinds never mix. The earlier output's files that the new one does not write again are removed
when it is finished (a new comparison never sits beside the fan charts of an old one); the mark
says "writing" until then, so what an interrupted command left is recognised and replaced next time.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable
from pathlib import Path

from experiments.sweep_index import atomic_write

MARK = ".clusterlink-output.json"
_TMP = re.compile(r"^\..*\.tmp$")  # a temporary file of atomic_write, left by a process that died


class OutputFolderError(Exception):
    """The folder cannot take the command's output; ``str(err)`` says why and what to do."""


def _mark(folder: Path) -> dict | None:
    try:
        mark = json.loads((folder / MARK).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    ok = isinstance(mark, dict) and isinstance(mark.get("files"), list) and isinstance(mark.get("kind"), str)
    return mark if ok and all(isinstance(f, str) for f in mark["files"]) else None


def check(folder: Path, kind: str, option: str, legacy: Callable[[str], bool] | None = None) -> list[str]:
    """Raise ``OutputFolderError`` naming what is in the way if ``folder`` cannot take a ``kind``
    output; else return the names in it (all of an earlier output). ``legacy`` recognises, by
    name, the files of an output made before outputs were marked (given at the default place)."""
    if folder.is_symlink() and not folder.exists():
        raise OutputFolderError(f"{option} {folder} is a link to nothing ({folder.readlink()}); choose another {option}")
    if folder.exists() and not folder.is_dir():
        raise OutputFolderError(f"{option} {folder} is a file, not a folder; choose another {option}")
    names = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    mark = _mark(folder) if MARK in names else None
    theirs = [n for n in names if n != MARK and not _TMP.match(n)]
    if mark is not None and mark["kind"] == kind:
        if mark.get("state") == "complete":  # anything beyond what it wrote was added by someone else
            theirs = [n for n in theirs if n not in mark["files"]]
        else:  # an interrupted output: everything in the folder is what it wrote
            theirs = []
    elif legacy is not None and mark is None:
        theirs = [n for n in theirs if not legacy(n)]
    if theirs:
        shown = ", ".join(theirs[:5]) + (f" and {len(theirs) - 5} more" if len(theirs) > 5 else "")
        what = f"an earlier {mark['kind']}'s output" if mark is not None and mark["kind"] != kind else shown
        raise OutputFolderError(
            f"{option} {folder} holds {what}, which this {kind} did not write; nothing was written: choose "
            f"another {option} (a new or empty folder, or one an earlier {kind} wrote)")
    return names


def claim(folder: Path, kind: str, option: str, legacy: Callable[[str], bool] | None = None) -> Path:
    """``check`` the folder, create it and mark it as being written by a ``kind`` output. The earlier
    output's files stay until ``done`` (a failed write leaves them as they were, each file being
    written whole or not at all), which removes those the new output did not write again."""
    names = check(folder, kind, option, legacy)
    folder.mkdir(parents=True, exist_ok=True)
    earlier = [n for n in names if n != MARK and not _TMP.match(n)]
    _write_mark(folder, kind, earlier, "writing")  # its time is when the new output began (see done)
    return folder


def done(folder: Path, kind: str) -> None:
    """Mark ``folder``'s ``kind`` output finished: the earlier output's files not written again since
    ``claim`` are removed, and what is in the folder now is recorded as what the command wrote."""
    mark = _mark(folder) or {}
    # the file system's own clock: a file written after the mark has a time no earlier than it
    since = (folder / MARK).stat().st_mtime_ns
    for name in mark.get("files", []) if mark.get("state") == "writing" else []:
        p = folder / name
        with contextlib.suppress(OSError):
            if p.is_file() and not p.is_symlink() and p.stat().st_mtime_ns < since:
                p.unlink()
    files = sorted(p.name for p in folder.iterdir() if p.name != MARK and not _TMP.match(p.name))
    _write_mark(folder, kind, files, "complete")


def _write_mark(folder: Path, kind: str, files: list[str], state: str) -> None:
    text = json.dumps({"kind": kind, "state": state, "files": files}, indent=1)
    atomic_write(folder / MARK, lambda p: p.write_text(text, encoding="utf-8"))
