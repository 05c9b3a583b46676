"""Sweeps of the real model through the real runner: failures, resume after a kill, worker deaths."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import mesa
import pytest

from experiments.executors import PoolExecutor
from experiments.sweep import SweepError, run_sweep, sweep_status
from tests.sweep_helpers import (
    ROOT,
    TINY,
    assert_same_runs,
    complete_runs,
    journal_records,
    write_sweep,
)

pytest.importorskip("experiments.runner", reason="the sweep tests run the real runner (experiments/runner.py)")

SWEEP = """name: t
seed: 42
replications: 2
set: {{end: {end}}}
policies:
  - {{name: base}}
  - {{name: markup, set: {{economy.import_markup: 0.3}}}}
uncertain:
  - {{path: economy.export_growth, type: real, range: [0.0, 0.1]}}
  - {{path: firm_groups.0.count, type: integer, range: [10, 40]}}
design: {{method: lhs, samples: {samples}}}
"""


def sweep_file(tmp_path: Path, samples: int = 3, end: str = "2024-06") -> Path:
    return write_sweep(tmp_path, SWEEP.format(samples=samples, end=end))


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, Path]:
    """The test sweep run in-process: (sweep file, sweep folder)."""
    tmp = tmp_path_factory.mktemp("reference")
    spec = sweep_file(tmp)
    models_alive = len(mesa.Agent._ids)
    summary = run_sweep(spec, tmp / "out", executor="inprocess", progress=False)
    assert summary.complete == summary.total == 12 and summary.ran == 12
    assert len(mesa.Agent._ids) == models_alive  # Mesa 3.3.1's registry does not keep the 12 models alive
    return spec, tmp / "out"


def wait_for(predicate, timeout: float = 60.0, every: float = 0.05) -> None:
    end = time.time() + timeout
    while not predicate():
        if time.time() > end:
            raise TimeoutError("condition not met in time")
        time.sleep(every)


def test_rerunning_a_finished_sweep_runs_nothing_and_a_changed_design_is_refused(reference, tmp_path):
    spec, out = reference
    summary = run_sweep(spec, out, executor="inprocess", progress=False)
    assert summary.ran == 0 and summary.skipped == summary.complete == 12
    other = sweep_file(tmp_path, samples=4)
    with pytest.raises(SweepError, match="different sweep"):
        run_sweep(other, out, executor="inprocess", progress=False)


def test_a_failing_run_is_recorded_with_its_traceback_and_resume_retries_it(tmp_path):
    broken = tmp_path / "variant.yaml"
    broken.write_text(f"extends: {TINY}\neconomy:\n  import_markup: 7.0\n", encoding="utf-8")
    spec = write_sweep(tmp_path, SWEEP.format(samples=2, end="2023-06").replace(
        "{name: markup, set: {economy.import_markup: 0.3}}", "{name: variant, scenario: variant.yaml}")
        .replace("replications: 2", "replications: 1"))
    warnings: list[str] = []
    summary = run_sweep(spec, tmp_path / "out", executor="inprocess", progress=False, on_warning=warnings.append)
    assert (summary.total, summary.complete, summary.failed) == (4, 2, 2)
    assert len(warnings) == 1 and "variant" in warnings[0]
    index = sweep_status(tmp_path / "out").set_index("run_id")
    failed = index[index["status"] == "failed"]
    assert list(failed["policy"].unique()) == ["variant"]
    # the exception's class ends the traceback (ScenarioError is ConfigError; source lines may change)
    assert all("ConfigError: " in tb and "import_markup" in tb and "Traceback" in tb for tb in failed["traceback"])
    assert all(f"{broken}:3" in err for err in failed["error"])  # the loader names file and line
    # the researcher fixes the variant; --resume runs only the failed runs
    broken.write_text(f"extends: {TINY}\neconomy:\n  import_markup: 0.5\n", encoding="utf-8")
    done_before = {r: (tmp_path / "out" / "runs" / r / "manifest.json").stat().st_mtime_ns
                   for r in complete_runs(tmp_path / "out")}
    again = run_sweep(spec, tmp_path / "out", executor="inprocess", progress=False, resume=True)
    assert (again.ran, again.complete, again.failed) == (2, 4, 0)
    assert {r["run_id"] for r in journal_records(tmp_path / "out")[-2:]} == set(failed.index)
    for run, mtime in done_before.items():
        assert (tmp_path / "out" / "runs" / run / "manifest.json").stat().st_mtime_ns == mtime
    assert (sweep_status(tmp_path / "out").set_index("run_id").loc[failed.index, "attempts"] == 2).all()



def test_an_interrupt_wrapped_by_a_kernel_stops_the_sweep_instead_of_failing_the_run(tmp_path, monkeypatch):
    import experiments.runner
    from experiments.executors import RunTask, run_task

    def wrapped_ctrl_c(*args, **kwargs):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as err:  # what numba does when SIGINT lands in a compiled kernel
            raise SystemError("returned a result with an exception set") from err

    monkeypatch.setattr(experiments.runner, "execute_run", wrapped_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        run_task(RunTask("r", str(TINY), (), 1, str(tmp_path)))
    monkeypatch.setattr(experiments.runner, "execute_run", lambda *a, **k: 1 / 0)  # a real failure is data
    assert run_task(RunTask("r", str(TINY), (), 1, str(tmp_path))).status == "failed"

def test_pool_survives_a_killed_worker_and_matches_in_process(reference, tmp_path):
    spec, ref_out = reference
    ex = PoolExecutor(workers=2)
    result: dict = {}
    thread = threading.Thread(target=lambda: result.update(s=run_sweep(
        spec, tmp_path / "out", executor_obj=ex, progress=False)))
    thread.start()
    try:
        wait_for(lambda: len(complete_runs(tmp_path / "out")) >= 2 and ex._pool is not None and ex._pool._processes)
        victim = next(iter(ex._pool._processes))
        os.kill(victim, signal.SIGKILL)
    finally:
        thread.join(timeout=120)
    assert not thread.is_alive()
    summary = result["s"]
    assert summary.complete == summary.total == 12
    assert assert_same_runs(ref_out, tmp_path / "out") == 12
    records = journal_records(tmp_path / "out")
    assert sorted({r["run_id"] for r in records}) == complete_runs(tmp_path / "out")
    made = [r["run_id"] for r in records if not r["reused"]]  # (a rerun of a run whose result the
    assert len(made) == len(set(made))                        # broken pool lost finds it done: reused)


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "experiments.cli_sweep", *args]


def test_killing_the_sweep_command_then_rerunning_it_finishes_only_the_missing_runs(reference, tmp_path):
    spec, ref_out = reference
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    cmd = cli("sweep", str(spec), "--out", str(out), "--workers", "2", "--no-progress")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: len(complete_runs(out)) >= 3 or proc.poll() is not None, timeout=120)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the command and its worker processes, mid-run
        proc.wait()
    before = {r: (out / "runs" / r / "manifest.json").stat().st_mtime_ns for r in complete_runs(out)}
    assert 3 <= len(before) < 12, "the sweep was not killed mid-run"
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "ran " + str(12 - len(before)) + " now" in done.stdout
    for run, mtime in before.items():  # finished runs were not run again
        assert (out / "runs" / run / "manifest.json").stat().st_mtime_ns == mtime
    assert assert_same_runs(ref_out, out) == 12
    assert not list((out / "runs").glob(".tmp-*"))
    index = sweep_status(out)
    assert index["run_id"].is_unique and (index["status"] == "complete").all()


def test_a_run_finished_but_not_journalled_counts_its_attempt(tmp_path):
    """A sweep killed between a run folder's rename and its journal line: the folder is complete,
    so the index calls the run complete, with the attempt that made it (not 0)."""
    from tests.sweep_helpers import HEAD, ONE_PARAM, fake_runs, write_sweep

    spec = write_sweep(tmp_path, HEAD + ONE_PARAM)
    fake_runs(spec, tmp_path / "out", outcome=lambda row: 0.1)  # folders written, nothing journalled
    index = sweep_status(tmp_path / "out")
    assert (index["status"] == "complete").all() and (index["attempts"] == 1).all()


def test_a_damaged_run_folder_is_recorded_failed_on_resume_and_never_deleted(tmp_path):
    """Resume used to delete a damaged run folder to remake it, with whatever the user had put in it."""
    spec = write_sweep(tmp_path, SWEEP.format(samples=2, end="2023-03").replace("replications: 2", "replications: 1"))
    out = tmp_path / "out"
    first = run_sweep(spec, out, executor="inprocess", progress=False)
    assert first.complete == first.total == 4
    damaged = sorted(p for p in (out / "runs").iterdir() if p.is_dir())[0]
    (damaged / "firms.parquet").unlink()
    (damaged / "notes.md").write_text("my reading of this run", encoding="utf-8")

    again = run_sweep(spec, out, executor="inprocess", progress=False, resume=True)
    assert (again.ran, again.complete, again.failed) == (1, 3, 1)
    row = sweep_status(out).set_index("run_id").loc[damaged.name]
    assert row["status"] == "failed"
    assert str(damaged) in row["error"] and "firms.parquet" in row["error"] and "notes.md" in row["error"]
    assert (damaged / "notes.md").read_text(encoding="utf-8") == "my reading of this run"

    (damaged / "notes.md").rename(tmp_path / "notes.md")
    for leftover in damaged.iterdir():
        leftover.unlink()
    damaged.rmdir()
    last = run_sweep(spec, out, executor="inprocess", progress=False, resume=True)
    assert (last.ran, last.complete, last.failed) == (1, 4, 0)
