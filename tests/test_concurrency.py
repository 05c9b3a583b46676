"""Two processes on the same results, and processes that die at a bad moment: the sweep lock, pool
workers of a killed command, a journal line cut short, a full disk, a killed copy of the sweep file."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from experiments import store
from experiments.executors import RunResult
from experiments.sweep import SweepError, prepare, run_sweep, sweep_status
from experiments.sweep_index import Journal, read_journal
from tests.sweep_helpers import (
    HEAD,
    ONE_PARAM,
    ROOT,
    TINY,
    complete_runs,
    fake_runs,
    journal_records,
    write_sweep,
)

DEV_FULL = Path("/dev/full")  # every write to it fails with ENOSPC: a full disk, for one file
needs_dev_full = pytest.mark.skipif(not DEV_FULL.exists(), reason="needs /dev/full (Linux)")
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def wait_for(predicate, timeout: float = 60.0, every: float = 0.05) -> bool:
    end = time.time() + timeout
    while not predicate():
        if time.time() > end:
            return False
        time.sleep(every)
    return True


def live_in_session(sid: int) -> list[int]:
    """Processes of session ``sid`` that are still running (zombies excluded)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": state, ppid, pgrp, session, ...
        if int(fields[3]) == sid and fields[0] != "Z":
            pids.append(int(entry.name))
    return pids


# -- two sweeps on one folder ---------------------------------------------------------------------
def test_a_second_sweep_on_a_busy_folder_is_refused_naming_the_folder_and_the_holder(tmp_path):
    spec = write_sweep(tmp_path, HEAD + ONE_PARAM)
    _, folder, _ = prepare(spec, tmp_path / "out")  # a sweep that has begun ...
    with folder.lock():  # ... and runs: `clusterlink sweep` holds a flock on <out>/.lock
        for resume in (False, True):
            with pytest.raises(SweepError) as err:
                run_sweep(spec, folder.root, executor="inprocess", resume=resume, progress=False)
            assert str(folder.root) in str(err.value) and "another sweep process" in str(err.value)
            assert f"pid {os.getpid()}" in str(err.value)  # who holds it: the refused process did not wipe it
        assert (folder.root / ".lock").read_text() == str(os.getpid())
        assert complete_runs(folder.root) == [] and not folder.journal.exists()  # nothing was run meanwhile
    summary = run_sweep(spec, folder.root, executor="inprocess", progress=False)  # once it is free
    assert summary.complete == summary.total == 2


def test_a_sweep_folder_that_cannot_be_locked_is_a_clear_error(tmp_path):
    """(A read-only results folder, or a lock file that cannot be opened.)"""
    spec = write_sweep(tmp_path, HEAD + ONE_PARAM)
    (tmp_path / "out" / ".lock").mkdir(parents=True)
    with pytest.raises(SweepError, match=f"cannot lock the sweep folder {tmp_path / 'out'}"):
        run_sweep(spec, tmp_path / "out", executor="inprocess", progress=False)


# -- killing the command, not its workers ---------------------------------------------------------
LONG = """name: t
seed: 7
set: {end: 2031-12}
policies: [{name: a}, {name: b}]
uncertain:
  - {path: economy.export_growth, type: real, range: [0.0, 0.1]}
design: {method: lhs, samples: 3}
"""


@pytest.mark.parametrize("command", ["sweep", "compare"])
def test_pool_workers_end_with_a_killed_command(tmp_path, command):
    """SIGKILL (or the OOM killer) of the command alone, not its process group: its pool workers
    used to go on running the queued runs, into a sweep folder whose lock had died with the
    command (alongside a resumed sweep), and then wait forever on a queue no one fed."""
    out = tmp_path / "out"
    if command == "sweep":
        cmd = [sys.executable, "-m", "experiments.cli_sweep", "sweep", str(write_sweep(tmp_path, LONG)),
               "--out", str(out), "--workers", "2", "--no-progress"]
    else:
        cmd = [sys.executable, "-m", "experiments.cli_scenarios", "compare", str(TINY), str(TINY),
               "--set", "end=2031-12", "--seeds", "4", "--workers", "2", "--no-progress", "--out", str(out)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=ENV, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if command == "sweep":
            started = wait_for(lambda: len(complete_runs(out)) >= 1 or proc.poll() is not None, timeout=120)
        else:
            started = wait_for(lambda: len(live_in_session(proc.pid)) >= 3 or proc.poll() is not None, timeout=120)
            time.sleep(1.0)  # the workers are running their first tasks
        assert started and proc.poll() is None, "the command ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        left = wait_for(lambda: not live_in_session(proc.pid), timeout=15)
        assert left, f"processes of the killed command still running: {live_in_session(proc.pid)}"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if command == "sweep":  # resuming finishes the sweep: every run once, nothing half-written left
        summary = run_sweep(write_sweep(tmp_path, LONG), out, executor="inprocess", progress=False)
        assert summary.complete == summary.total == 6
        assert not list((out / "runs").glob(".tmp-*"))


# -- the journal ----------------------------------------------------------------------------------
def test_a_journal_line_cut_short_does_not_swallow_the_next_sessions_first_record(tmp_path):
    """A sweep whose last journal write was cut short (a full disk, a crash) leaves a line without
    its newline; the next sweep's first record used to be glued to it and lost."""
    broken = tmp_path / "broken.yaml"
    broken.write_text(f"extends: {TINY}\neconomy:\n  import_markup: 7.0\n", encoding="utf-8")
    spec = write_sweep(tmp_path, HEAD + "policies: [{name: broken, scenario: broken.yaml}]\n" + ONE_PARAM)
    _, folder, _ = prepare(spec, tmp_path / "out", on_warning=lambda w: None)
    folder.journal.write_text('{"run_id": "broken-p0000-r00", "status": "fai', encoding="utf-8")
    summary = run_sweep(spec, folder.root, executor="inprocess", progress=False, on_warning=lambda w: None)
    assert summary.failed == summary.total == 2
    index = sweep_status(folder.root)  # every failure is on record, with its error, once
    assert (index["status"] == "failed").all() and index["error"].str.contains("ScenarioError|import_markup").all()
    assert (index["attempts"] == 1).all()
    assert sorted(r["run_id"] for r in read_journal(folder.journal).values()) == sorted(index["run_id"])


# -- a full disk, a folder that cannot be written -------------------------------------------------
def test_a_run_that_cannot_be_written_names_its_folder_and_leaves_nothing(tmp_path, monkeypatch):
    real = store._write_table

    def disk_full_at_flows(path: Path, df: pd.DataFrame) -> int:
        if path.name == "flows.parquet":
            path.write_bytes(b"PAR1 half a file")
            raise OSError(errno.ENOSPC, "Error writing bytes to file. Detail: [errno 28] No space left on device")
        return real(path, df)

    monkeypatch.setattr(store, "_write_table", disk_full_at_flows)
    tables = {t: pd.DataFrame({"step": [1], "date": ["2023-01"]}) for t in ("indicators", "flows", "policy")}
    with pytest.raises(store.StoreError, match=f"{tmp_path / 'r1'}.*No space left on device") as err:
        store.write_run(tmp_path, "r1", {"seed": 1}, tables)
    assert "flows.parquet" in str(err.value)
    assert list(tmp_path.iterdir()) == [] and store.list_runs(tmp_path) == []
    monkeypatch.setattr(store, "_write_table", real)
    assert store.is_complete(store.write_run(tmp_path, "r1", {"seed": 1}, tables))
    with pytest.raises(store.RunExistsError):  # a run there already is still refused as before
        store.write_run(tmp_path, "r1", {"seed": 1}, tables)


@needs_dev_full
def test_a_full_disk_under_the_journal_stops_the_sweep_naming_it_and_resume_finishes(tmp_path):
    spec = write_sweep(tmp_path, HEAD + ONE_PARAM)
    _, folder, _ = prepare(spec, tmp_path / "out")
    folder.journal.symlink_to(DEV_FULL)
    with pytest.raises(SweepError, match=f"cannot write {folder.journal}: No space left on device"):
        run_sweep(spec, folder.root, executor="inprocess", progress=False)
    folder.journal.unlink()  # space again
    summary = run_sweep(spec, folder.root, executor="inprocess", progress=False)
    assert summary.complete == summary.total == 2
    made = [r["run_id"] for r in journal_records(folder.root) if not r.get("reused")]
    assert len(made) == len(set(made))


@needs_dev_full
def test_a_full_disk_under_the_index_names_it_and_leaves_no_temporary_file(tmp_path):
    spec = write_sweep(tmp_path, HEAD + ONE_PARAM)
    _, folder, _ = prepare(spec, tmp_path / "out")
    tmp = folder.root / f".index.parquet.{os.getpid()}.tmp"  # atomic_write's temporary file
    tmp.symlink_to(DEV_FULL)
    with pytest.raises(SweepError, match=f"cannot write {folder.index}"):
        run_sweep(spec, folder.root, executor="inprocess", progress=False)
    assert not tmp.is_symlink() and not folder.index.exists()


@needs_dev_full
def test_an_analysis_that_cannot_be_written_names_its_folder_and_leaves_no_report(tmp_path):
    from experiments.analysis import OutcomeSpec, analyze

    folder = fake_runs(write_sweep(tmp_path, HEAD + ONE_PARAM), tmp_path / "out", lambda row: 0.1)
    import json

    from experiments.output_folder import MARK

    dest = tmp_path / "analysis"  # an earlier analysis's folder
    dest.mkdir()
    (dest / "report.md").write_text("an old report\n")
    (dest / "failed_runs.csv").symlink_to(DEV_FULL)
    (dest / MARK).write_text(json.dumps({"kind": "analysis", "state": "complete",
                                         "files": ["failed_runs.csv", "report.md"]}))
    with pytest.raises(SweepError, match=f"cannot write the analysis to {dest}.*No space left on device"):
        analyze(folder.root, [OutcomeSpec("localisation_rate", "end")], dest=dest)
    assert not (dest / "report.md").exists()


@needs_dev_full
def test_a_comparison_that_cannot_be_written_names_its_folder(tmp_path):
    import typer
    from typer.testing import CliRunner

    from experiments.cli_scenarios import register

    app = typer.Typer()
    register(app)
    out = tmp_path / "cmp"
    out.mkdir()
    (out / f".summary.csv.{os.getpid()}.tmp").symlink_to(DEV_FULL)
    res = CliRunner().invoke(app, ["compare", str(TINY), "--set", "end=2023-03", "--seeds", "1", "--workers", "1",
                                   "--no-progress", "--out", str(out)])
    assert res.exit_code == 1, res.output
    assert f"--out {out}: cannot write" in res.output and "No space left on device" in res.output
    assert not (out / "summary.csv").exists()


# -- the sweep file's copy ------------------------------------------------------------------------
def test_a_copy_of_the_sweep_file_killed_half_way_is_made_again(tmp_path, monkeypatch):
    """A re-run that changes only ``outcomes`` rewrites sweep.json and the sweep.yaml copy; a
    copy cut short used to stay cut short (sweep.json already said the outcomes were current)."""
    import experiments.sweep as sweep_mod

    spec = write_sweep(tmp_path, HEAD + ONE_PARAM)
    prepare(spec, tmp_path / "out")
    spec.write_text(spec.read_text() + "outcomes:\n  - {indicator: employment_total}\n", encoding="utf-8")

    def dies_half_way(src, dst, *a, **k):
        Path(dst).write_text(Path(src).read_text()[:20])
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as mp:
        mp.setattr(sweep_mod.shutil, "copyfile", dies_half_way)
        with pytest.raises((SweepError, OSError)):
            prepare(spec, tmp_path / "out")
    _, folder, _ = prepare(spec, tmp_path / "out")
    assert folder.spec_copy.read_text() == spec.read_text()
    assert json.loads(folder.meta.read_text())["outcomes"][0]["indicator"] == "employment_total"


def test_journal_records_after_a_torn_line_are_read(tmp_path):
    path = tmp_path / "journal.jsonl"
    path.write_text('{"run_id": "a", "status": "complete"}\n{"run_id": "b", "sta', encoding="utf-8")
    journal = Journal(path, "s2")
    journal.append(RunResult("c", "failed", error="boom"))
    journal.close()
    assert read_journal(path)["c"]["error"] == "boom" and set(read_journal(path)) == {"a", "c"}


def test_atomic_write_puts_the_data_on_disk_before_the_rename(tmp_path, monkeypatch):
    """After a crash of the machine a replaced file is the old one or the new one in full, never a
    renamed empty file: the temporary file is synced before the rename, the folder after it."""
    from experiments.sweep_index import atomic_write

    target = tmp_path / "design.json"
    target.write_text("old")
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src, dst) -> None:
        events.append(("replace", str(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    atomic_write(target, lambda p: p.write_text("new"))
    assert target.read_text() == "new"
    kinds = [kind for kind, _ in events]
    assert kinds == ["fsync", "replace", "fsync"], events
    assert events[0][1].endswith(".tmp") and events[2][1] == str(tmp_path)


def _worker_sigint() -> str:
    import signal

    return "default" if signal.getsignal(signal.SIGINT) is signal.default_int_handler else "other"


def test_the_pools_forkserver_ignores_ctrl_c_and_its_workers_take_it(tmp_path, capfd):
    """Ctrl-C while the forkserver imported its preload modules printed its traceback; it now starts
    with SIGINT ignored (so nothing it does prints one), and the workers it forks stop on Ctrl-C."""
    import signal
    from multiprocessing import forkserver

    from experiments.executors import PoolExecutor

    ex = PoolExecutor(workers=1)
    pool = ex._new_pool()
    try:
        forkserver.ensure_running()  # (started by _new_pool)
        time.sleep(0.3)
        os.kill(forkserver._forkserver._forkserver_pid, signal.SIGINT)  # while it imports its preload modules
        assert pool.submit(_worker_sigint).result(timeout=120) == "default"
    finally:
        pool.shutdown(wait=True)
    assert "Traceback" not in capfd.readouterr().err
