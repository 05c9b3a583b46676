"""Executors: run sweep tasks in-process, in a local process pool, or on a Dask cluster.

A task is a small picklable ``RunTask`` (scenario path, overrides, seed, run id, output folder);
``run_task`` loads the scenario, calls ``experiments.runner.execute_run`` and returns a
``RunResult``. It never raises: a failing run comes back as ``status="failed"`` with its
traceback. Tasks are idempotent: a run whose folder is already complete (same seed) is not run
again, so a task retried after a worker died, or left over from a killed sweep, is harmless.

Every executor yields results as they finish (``imap``) and keeps only a bounded window of tasks
in flight, so memory stays flat however many runs a sweep has. A dead worker never hangs a sweep:
- local pool: the broken pool is replaced and the tasks that were in flight are resubmitted; a
  task in flight at ``max_attempts`` breakages is recorded failed ("worker process died");
- Dask: the scheduler reschedules a dead worker's tasks on others (up to
  ``distributed.scheduler.allowed-failures`` times, then ``KilledWorker`` → recorded failed), and
  a cluster left without workers for ``idle_timeout`` seconds aborts the sweep (finished runs are
  kept; run it again to resume).
"""

from __future__ import annotations

import gc
import json
import logging
import os
import re
import select
import socket
import threading
import time
import traceback
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor
from concurrent.futures import wait as wait_futures
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["DaskExecutor", "Executor", "InProcessExecutor", "PoolExecutor", "RunResult", "RunTask",
           "SweepAborted", "exit_with", "make_executor", "run_complete", "run_task"]


@dataclass(frozen=True)
class RunTask:
    """What a worker needs to make one run (kept small: it is pickled to the worker)."""

    run_id: str
    scenario: str
    overrides: tuple[str, ...]
    seed: int
    out_dir: str


@dataclass
class RunResult:
    """The outcome of one task, as recorded in the sweep journal."""

    run_id: str
    status: str  # "complete" or "failed"
    error: str | None = None
    traceback: str | None = None
    started: float = 0.0  # Unix time
    finished: float = 0.0
    wall_time_s: float = 0.0
    worker: str = ""
    reused: bool = False  # the run folder was already complete; nothing was run
    extra: dict[str, Any] = field(default_factory=dict)


# glibc malloc: serve allocations below 32 MiB from the heap instead of fresh mmap() pages. A
# Dask nanny sets MALLOC_TRIM_THRESHOLD_=64 KiB, which also freezes glibc's adaptive mmap threshold
# at 128 KiB, so every numpy array of the model was mmap'ed and page-faulted anew: runs took ~40%
# longer (measured on the baseline). Set for pool and LocalCluster workers before they start; a
# value already in the environment wins.
FAST_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "33554432"}


def _start_forkserver() -> None:
    """Start the forkserver with Ctrl-C ignored: it is in the terminal's process group, and a Ctrl-C
    while it imported its preload modules ended in its traceback on the screen (its loop ignores
    SIGINT only once the imports are done). Workers take Ctrl-C again (``exit_with``)."""
    import signal
    from multiprocessing import forkserver

    if threading.current_thread() is not threading.main_thread():
        forkserver.ensure_running()
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited by the forkserver it spawns
    try:
        forkserver.ensure_running()
    finally:
        signal.signal(signal.SIGINT, old)


def exit_with(pid: int) -> None:
    """Pool-worker initializer: end this worker as soon as process ``pid`` (the sweep) ends.

    A worker outlives a sweep killed with SIGKILL (or by the OOM killer): it would go on running
    the tasks already queued into the sweep folder, whose lock died with the sweep, alongside a
    resumed sweep, and then wait forever on a queue no one feeds. A run it is writing is left as a
    ``.tmp-*`` folder, which the next sweep removes.
    """
    import signal

    signal.signal(signal.SIGINT, signal.default_int_handler)  # the forkserver ignored it (see _start_forkserver)
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:  # already gone
        os._exit(1)
    except (AttributeError, OSError):  # no pidfd (old kernel, not Linux): poll instead
        fd = None

    def watch() -> None:
        if fd is not None:
            select.select([fd], [], [])  # readable when the process has ended
        else:
            while True:
                time.sleep(1.0)
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                except OSError:
                    pass
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-sweep", daemon=True).start()


class SweepAborted(RuntimeError):
    """The executor cannot go on (no workers, workers cannot import clusterlink); finished runs are kept."""


def run_complete(folder: Path, seed: int | None = None) -> bool:
    """True if ``folder`` is a finished run (``store.is_complete``), made with ``seed`` if given."""
    from experiments import store

    if not store.is_complete(folder):
        return False
    if seed is None:
        return True
    try:
        return json.loads((folder / store.MANIFEST).read_text(encoding="utf-8")).get("seed") == seed
    except (OSError, ValueError):
        return False


def run_task(task: RunTask) -> RunResult:
    """Make one run; never raises (a failure is returned with its traceback)."""
    import mesa

    started = time.time()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    folder = Path(task.out_dir) / task.run_id
    if run_complete(folder, task.seed):
        return RunResult(task.run_id, "complete", started=started, finished=time.time(), worker=worker, reused=True)
    from experiments.runner import caused_by_interrupt, execute_run

    before = set(mesa.Agent._ids)
    status = "interrupted"  # until the run ends one way or the other
    try:
        execute_run(task.scenario, task.seed, Path(task.out_dir), run_id=task.run_id, overrides=list(task.overrides))
        status, error, tb = "complete", None, None
    except Exception as err:  # a failing run is data, not a crash of the sweep
        if caused_by_interrupt(err):  # Ctrl-C inside a compiled kernel, wrapped in a SystemError
            raise KeyboardInterrupt from err
        if run_complete(folder, task.seed):  # another attempt finished it meanwhile
            status, error, tb = "complete", None, None
        else:
            status, error, tb = "failed", f"{type(err).__name__}: {err}", traceback.format_exc()
    finally:
        # Mesa 3.3.1 keeps every model alive through Agent._ids: drop the ones this run made. A
        # model still running belongs to another thread of a multi-threaded Dask worker: keep it.
        for model in set(mesa.Agent._ids) - before:
            if not getattr(model, "running", True):
                mesa.Agent._ids.pop(model, None)
        if status != "complete":  # simulate frees the models it finishes (ClusterModel.discard); one
            gc.collect()  # that failed half-built is a web of cycles (agents <-> model): free it now
    finished = time.time()
    return RunResult(task.run_id, status, error, tb, started, finished, finished - started, worker)


def _failed(task: RunTask, error: str, tb: str | None = None) -> RunResult:
    now = time.time()
    return RunResult(task.run_id, "failed", error, tb, now, now, 0.0, "")


class Executor:
    """Base: ``with make_executor(...) as ex: for result in ex.imap(tasks): ...``."""

    name = "executor"
    workers = 1

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release processes and connections."""

    def imap(self, tasks: Iterable[RunTask]) -> Iterator[RunResult]:
        raise NotImplementedError

    def describe(self) -> str:
        return f"{self.name} ({self.workers} worker{'s' if self.workers != 1 else ''})"


class InProcessExecutor(Executor):
    """Runs tasks one after another in this process (debugging, tests, tiny sweeps)."""

    name = "in-process"

    def imap(self, tasks: Iterable[RunTask]) -> Iterator[RunResult]:
        for task in tasks:
            yield run_task(task)


class PoolExecutor(Executor):
    """A local process pool (``forkserver`` start method; workers recycled every few tasks)."""

    name = "local pool"

    def __init__(self, workers: int | None = None, max_tasks_per_child: int = 25, max_attempts: int = 3,
                 start_method: str = "forkserver"):
        self.workers = workers or os.cpu_count() or 1
        self.max_tasks_per_child = max_tasks_per_child
        self.max_attempts = max_attempts
        self.start_method = start_method
        self._pool: ProcessPoolExecutor | None = None

    def _new_pool(self) -> ProcessPoolExecutor:
        import multiprocessing as mp

        ctx = mp.get_context(self.start_method)
        for key, value in FAST_MALLOC.items():  # read by the workers' (or the forkserver's) malloc
            os.environ.setdefault(key, value)
        if self.start_method == "forkserver":
            ctx.set_forkserver_preload(["experiments.forkserver_preload", "experiments.executors", "model.cluster_model",
                                        "experiments.runner"])
            _start_forkserver()
        return ProcessPoolExecutor(self.workers, mp_context=ctx, max_tasks_per_child=self.max_tasks_per_child,
                                   initializer=exit_with, initargs=(os.getpid(),))

    def imap(self, tasks: Iterable[RunTask]) -> Iterator[RunResult]:
        todo, retry = iter(tasks), deque()
        pending: dict[Future, tuple[RunTask, int]] = {}
        window = 2 * self.workers
        self._pool = self._new_pool()
        ok = False
        try:
            while True:
                while len(pending) < window:
                    item = retry.popleft() if retry else next(((t, 1) for t in todo), None)
                    if item is None:
                        break
                    pending[self._pool.submit(run_task, item[0])] = item
                if not pending:
                    break
                done, _ = wait_futures(list(pending), return_when=FIRST_COMPLETED)
                broken = False
                for fut in done:
                    task, attempt = pending.pop(fut)
                    try:
                        yield fut.result()
                    except BrokenProcessPool:
                        broken = True
                        retry.append((task, attempt))
                    except Exception as err:  # e.g. the task could not be sent to the worker
                        yield _failed(task, f"{type(err).__name__}: {err}", traceback.format_exc())
                if broken:
                    yield from self._recover(pending, retry)
            ok = True
        finally:
            self._shutdown(kill=not ok)

    def _recover(self, pending: dict, retry: deque) -> Iterator[RunResult]:
        """A worker died: replace the pool; count an attempt for every task that was in flight."""
        logging.getLogger(__name__).warning("a worker process died; restarting the pool")
        in_flight = list(retry) + list(pending.values())
        retry.clear()
        pending.clear()
        self._shutdown(kill=True)
        self._pool = self._new_pool()
        for task, attempt in in_flight:
            if attempt >= self.max_attempts:
                yield _failed(task, f"worker process died while this run was in flight ({attempt} times)")
            else:
                retry.append((task, attempt + 1))

    def _shutdown(self, kill: bool) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if kill:  # don't wait for runs in progress (interrupt, or broken pool)
            for proc in list(getattr(pool, "_processes", {}).values()):
                if proc.is_alive():
                    proc.kill()
        pool.shutdown(wait=True, cancel_futures=True)


SCHEDULER_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")
_ADDRESS = re.compile(r"(?:(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://)?(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)"
                      r":(?P<port>[0-9]+)")


def scheduler_problem(address: str) -> str | None:
    """What is wrong with a Dask scheduler address (None if it has the form SCHEME://HOST:PORT)."""
    m = _ADDRESS.fullmatch(address.strip())
    if m is None:
        why = "no port" if ":" not in address.split("://")[-1] else "not of the form HOST:PORT"
    elif (m["scheme"] or "tcp").lower() not in SCHEDULER_SCHEMES:
        why = f"unknown scheme {m['scheme']!r} (allowed: {', '.join(SCHEDULER_SCHEMES)})"
    elif not 1 <= int(m["port"]) <= 65535:
        why = f"port {m['port']} is not in 1..65535"
    else:
        return None
    return (f"{address!r} is not a Dask scheduler address ({why}); expected tcp://HOST:PORT, "
            "e.g. tcp://10.0.0.1:8786 (the address `dask scheduler` prints)")


class DaskExecutor(Executor):
    """Dask distributed: a new LocalCluster, or an existing scheduler (``tcp://host:port``)."""

    name = "dask"

    def __init__(self, scheduler: str | None = None, workers: int | None = None, idle_timeout: float = 600.0):
        from distributed import Client, LocalCluster

        self.scheduler = scheduler
        self.idle_timeout = idle_timeout
        self.cluster = None
        if scheduler:
            if scheduler_problem(scheduler):
                raise SweepAborted(f"--scheduler {scheduler_problem(scheduler)}")
            try:
                self.client = Client(scheduler, timeout="30s")
            except (OSError, TimeoutError, ValueError) as err:
                raise SweepAborted(f"cannot reach the Dask scheduler at {scheduler}: {err}") from err
        else:
            import dask

            env = {f"distributed.nanny.pre-spawn-environ.{k}": v for k, v in FAST_MALLOC.items()}
            with dask.config.set(env):  # read by each nanny when it is created
                self.cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                                            processes=True, dashboard_address=None, silence_logs=logging.ERROR)
            self.client = Client(self.cluster)
        self.workers = self._slots() or (workers or 0)

    def describe(self) -> str:
        where = self.scheduler or "LocalCluster"
        return f"dask at {where} ({self._slots()} worker threads now)"

    def _slots(self) -> int:
        info = self.client.scheduler_info(n_workers=-1)
        return sum(w.get("nthreads", 1) for w in info.get("workers", {}).values())

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def imap(self, tasks: Iterable[RunTask]) -> Iterator[RunResult]:
        import uuid

        from distributed import wait
        from distributed.scheduler import KilledWorker

        todo = iter(tasks)
        pending: dict[Any, RunTask] = {}
        lost: dict[str, int] = {}  # run id -> times its result was lost with the worker holding it
        idle_since: float | None = None
        exhausted = False

        def submit(task: RunTask) -> None:
            key = f"{task.run_id}-{uuid.uuid4().hex[:8]}"
            pending[self.client.submit(run_task, task, key=key, pure=False)] = task

        while True:
            slots = self._slots()
            window = max(4, 2 * slots)
            while not exhausted and len(pending) < window:
                task = next(todo, None)
                if task is None:
                    exhausted = True
                    break
                submit(task)
            if not pending:
                return
            try:
                done = wait(list(pending), timeout=5, return_when="FIRST_COMPLETED").done
            except TimeoutError:
                done = set()
            if not done:
                idle_since = (idle_since or time.time()) if slots == 0 else None
                if idle_since and time.time() - idle_since > self.idle_timeout:
                    raise SweepAborted(f"no Dask workers for {self.idle_timeout:.0f} s; finished runs are "
                                       "kept - start workers and run the same command again to resume")
                continue
            for fut in done:
                task = pending.pop(fut)
                err = fut.exception() if fut.status == "error" else None
                if err is None and fut.status == "finished":
                    yield fut.result()
                elif fut.status == "lost" and lost.get(task.run_id, 0) < 3:
                    # the worker died after the run but before its result reached us (the run folder
                    # may well be complete): ask again; run_task finds a finished folder and reuses it
                    lost[task.run_id] = lost.get(task.run_id, 0) + 1
                    submit(task)
                elif isinstance(err, KilledWorker):
                    yield _failed(task, "worker died every time this run was tried (KilledWorker: "
                                        f"{err.args[-1] if err.args else '?'} attempts)")
                elif isinstance(err, ImportError):
                    raise SweepAborted(f"Dask workers cannot import clusterlink ({err}); install it on the "
                                       "workers or start them with PYTHONPATH set to the project") from err
                elif fut.status == "lost":
                    yield _failed(task, f"its result was lost with its worker {lost[task.run_id] + 1} times")
                else:
                    yield _failed(task, f"{type(err).__name__}: {err}" if err else f"task {fut.status}")
                fut.release()


def make_executor(workers: int | None = None, scheduler: str | None = None, kind: str | None = None,
                  idle_timeout: float = 600.0) -> Executor:
    """``kind``: "inprocess", "pool" (default) or "dask" (default when ``scheduler`` is given)."""
    kind = kind or ("dask" if scheduler else "pool")
    if kind == "inprocess":
        return InProcessExecutor()
    if kind == "pool":
        return PoolExecutor(workers)
    if kind == "dask":
        return DaskExecutor(scheduler, workers, idle_timeout)
    raise ValueError(f"unknown executor {kind!r}; allowed: inprocess, pool, dask")
