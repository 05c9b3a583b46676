"""Time one playback frame of the dashboard (all four charts) on a recorded run.

    python benchmarks/dashboard_frame.py RUN_FOLDER [--frames 20] [--lang en]

Prints the time to index the run once, then the median (and 90th percentile) over ``--frames``
consecutive months of a full frame (map, contract network, indicators, labour flows: the PNGs the
page shows) and of each chart. The first frame, which draws the static backgrounds once per run
and language, is timed separately. Besides wall time it prints the process's CPU time per frame,
which other jobs on a shared machine disturb less, and the machine's load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from dashboard.charts import draw_map, draw_network, draw_timeseries
from dashboard.flowchart import draw_flows
from dashboard.frames import build_index
from dashboard.i18n import make_tr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="a run folder (e.g. results/baseline-s1-...)")
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--lang", default="en", choices=["en", "vi"])
    args = ap.parse_args()
    tr = make_tr(args.lang)
    t = time.perf_counter()
    idx = build_index(args.run)
    print(f"run: {args.run} ({idx.n_steps} months, {len(idx.network.node_ids):,} firms in the network, "
          f"{len(idx.network.start):,} contract intervals)")
    print(f"index the run once: {time.perf_counter() - t:.2f} s")
    charts = {"map": lambda s: draw_map(idx, s, tr), "network": lambda s: draw_network(idx, s, tr),
              "indicators": lambda s: draw_timeseries(idx, s, tr), "flows": lambda s: draw_flows(idx, s, tr)}
    t = time.perf_counter()
    for draw in charts.values():
        draw(1)
    print(f"first frame (static backgrounds): {time.perf_counter() - t:.3f} s")
    first = max(2, idx.n_steps // 2 - args.frames // 2)
    steps = [min(first + i, idx.n_steps) for i in range(args.frames)]
    per: dict[str, list[float]] = {name: [] for name in charts}
    total: list[float] = []
    cpu: list[float] = []
    load = os.getloadavg()[0]
    for s in steps:
        t0, c0 = time.perf_counter(), time.process_time()
        for name, draw in charts.items():
            t = time.perf_counter()
            draw(s)
            per[name].append(time.perf_counter() - t)
        total.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    q90 = sorted(total)[int(0.9 * (len(total) - 1))]
    print(f"frame (4 charts), median of {len(total)}: {statistics.median(total) * 1000:.0f} ms "
          f"(p90 {q90 * 1000:.0f} ms; CPU {statistics.median(cpu) * 1000:.0f} ms)")
    for name, times in per.items():
        print(f"  {name:<11} median {statistics.median(times) * 1000:6.0f} ms")
    print(f"load average: {load:.2f} before, {os.getloadavg()[0]:.2f} after, on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
