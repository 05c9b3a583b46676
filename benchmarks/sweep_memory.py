"""Sweep memory: the sweep process's resident memory as runs accumulate (it should stay flat).

    python benchmarks/sweep_memory.py [--runs 120] [--executor inprocess|pool]

Runs a sweep of the tiny test world and samples the resident set size (RSS) of the sweep process
(and, for a pool, of its workers) after every tenth finished run. In-process is the hard case:
every model is built and dropped in the same process.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from experiments.sweep import run_sweep  # noqa: E402

SWEEP = """name: memory
base: {base}
uncertain:
  - {{path: economy.export_growth, type: real, range: [0.0, 0.1]}}
design: {{method: lhs, samples: {runs}}}
seed: 3
"""


def rss_mb(proc: psutil.Process, children: bool) -> float:
    procs = [proc] + (proc.children(recursive=True) if children else [])
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=120)
    ap.add_argument("--executor", default="inprocess", choices=["inprocess", "pool"])
    args = ap.parse_args()
    me = psutil.Process()
    with tempfile.TemporaryDirectory() as d:
        spec = Path(d) / "memory.yaml"
        spec.write_text(SWEEP.format(base=ROOT / "tests" / "data" / "tiny.yaml", runs=args.runs))
        out = Path(d) / "out"
        samples: list[tuple[int, float, float]] = []
        stop = threading.Event()

        def sample() -> None:
            last = -1
            while not stop.is_set():
                runs = out / "runs"
                n = sum(1 for p in runs.iterdir() if not p.name.startswith(".")) if runs.is_dir() else 0
                if n // 10 != last // 10 and n:
                    samples.append((n, rss_mb(me, False), rss_mb(me, True)))
                    last = n
                time.sleep(0.05)

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        run_sweep(spec, out, executor=args.executor, workers=2, progress=False)
        stop.set()
        thread.join()
    print(f"\nSweep memory, {args.runs} tiny-world runs, executor {args.executor}\n")
    print(f"{'runs done':>9s} {'sweep RSS MB':>13s} {'with workers MB':>16s}")
    for n, own, total in samples:
        print(f"{n:9d} {own:13.1f} {total:16.1f}")


if __name__ == "__main__":
    main()
