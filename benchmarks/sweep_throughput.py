"""Sweep throughput: runs per minute on 1, 2 and all cores, local process pool and Dask LocalCluster.

    python benchmarks/sweep_throughput.py [--runs 8] [--end 2023-12] [--repeat 3] [--workers 1,2,4]

Each configuration runs the same sweep (the baseline scenario, ``--runs`` Latin-hypercube points
over export growth) into a fresh folder, timing the whole ``run_sweep`` call: executor start-up,
every run (model + writing its run folder) and the index. Prints the median over ``--repeat``
repetitions, and the parallel efficiency ``rate(n) / (n × rate(1))`` of each executor, with and without the executor's start-up time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from experiments.executors import make_executor  # noqa: E402
from experiments.sweep import run_sweep  # noqa: E402

SWEEP = """name: bench
base: {base}
set: {{end: {end}}}
uncertain:
  - {{path: economy.export_growth, type: real, range: [0.0, 0.1]}}
design: {{method: lhs, samples: {runs}}}
seed: 7
"""


def time_sweep(tmp: Path, spec: Path, executor: str, workers: int) -> tuple[float, float, float]:
    """(runs/min end to end, runs/min once the executor is up, executor start-up s) of one sweep."""
    out = tmp / f"{executor}-{workers}-{time.time_ns()}"
    t0 = time.perf_counter()
    ex = make_executor(workers, kind=executor)  # a Dask LocalCluster starts here; a pool lazily
    t1 = time.perf_counter()
    try:
        summary = run_sweep(spec, out, executor_obj=ex, progress=False)
    finally:
        ex.close()
    t2 = time.perf_counter()
    if summary.complete != summary.total:
        raise RuntimeError(f"{summary.failed} runs failed in {out}")
    return summary.ran / (t2 - t0) * 60, summary.ran / (t2 - t1) * 60, t1 - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--end", default="2023-12", help="last month of each run")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--workers", default=None, help="comma-separated worker counts [1,2,all cores]")
    ap.add_argument("--executors", default="pool,dask")
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    counts = sorted({int(w) for w in args.workers.split(",")} if args.workers else {1, 2, cores})
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        spec = tmp / "bench.yaml"
        spec.write_text(SWEEP.format(base=ROOT / "scenarios" / "baseline.yaml", end=args.end, runs=args.runs))
        rows: dict[tuple[str, int], tuple[float, float, float]] = {}
        for executor in args.executors.split(","):
            for n in counts:
                samples = [time_sweep(tmp, spec, executor, n) for _ in range(args.repeat)]
                rows[executor, n] = tuple(statistics.median(s[i] for s in samples) for i in range(3))
                print(f"  {executor:5s} {n} workers: " + ", ".join(f"{s[0]:.1f}" for s in samples)
                      + " runs/min end to end", file=sys.stderr, flush=True)
    print(f"\nSweep throughput: {args.runs} baseline runs to {args.end} per sweep, median of {args.repeat}, "
          f"{cores} cores; 1-min load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after "
          "(other processes on the machine take cores from the sweep)\n")
    print(f"{'executor':9s} {'workers':>7s} {'start-up s':>10s} {'runs/min':>9s} {'efficiency':>10s} "
          f"{'runs/min end-to-end':>20s} {'efficiency':>10s}")
    for (executor, n), (e2e, rate, start) in rows.items():
        base = rows.get((executor, 1))
        eff = rate / (n * base[1]) if base else float("nan")
        eff_e2e = e2e / (n * base[0]) if base else float("nan")
        print(f"{executor:9s} {n:7d} {start:10.1f} {rate:9.1f} {eff:10.0%} {e2e:20.1f} {eff_e2e:10.0%}")
    print("\nruns/min: once the executor is up (a pool starts its processes lazily, so its start-up is "
          "inside); end-to-end: including executor start-up. efficiency = rate(n) / (n x rate(1)).")


if __name__ == "__main__":
    main()
