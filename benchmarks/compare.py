"""This tree against another git revision, in alternating runs: the only fair comparison on a shared VM.

    python benchmarks/compare.py ab3c57c                     # baseline to 2030, 4 pairs
    python benchmarks/compare.py ab3c57c --world 100k --end 2025-06 --pairs 2

The speed of this project's VM drifts by up to a quarter within an hour (docs/BENCHMARKS.md), so
two benchmark tables made at different times do not compare. This script checks the revision out
into a temporary git worktree, compiles its kernels there, and then runs the same world and seed
with the revision and with this tree in turn, one process per run on one core, swapping which
goes first in every pair. It prints each pair, the medians, the ratio of the medians, and the
median time of each phase of the step, and checks that both gave the same contract count (the
world is the same; a difference means the revision changed results). The worktree is removed
at the end.

Compare the run times first. A phase's figure includes the one-time cost of the kernels it is
the first to call in the process (numba loads each from its disk cache at its first call, 10-20 ms
apiece), which can move from one phase to another when the code changes and weighs more on a
short horizon.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORLDS = ("baseline", "1k", "5k", "20k", "100k")

# One run in a tree, through what every revision since the benchmarks began has: the benchmark's
# own world builder and phase timer, and the model.
_RUN = """
import json, sys, time
sys.path.insert(0, {root!r})
from benchmarks.run import _scenario, _timed_steps
from model.cluster_model import ClusterModel
sc = _scenario({world!r}, {end!r})
t0 = time.perf_counter()
m = ClusterModel(sc, seed={seed})
init = time.perf_counter() - t0
try:
    from model.cluster_model import frozen_heap  # runs are stepped inside it since 2026-12-02
except ImportError:
    from contextlib import nullcontext as frozen_heap
with frozen_heap():
    steps, phases = _timed_steps(m)
print(json.dumps({{"run_s": time.perf_counter() - t0, "init_s": init, "months": len(steps),
                  "phases_ms": {{p: 1000 * v / len(steps) for p, v in phases.items()}},
                  "contracts": int(m.contracts.n)}}))
"""


def run_once(tree: Path, world: str, end: str | None, seed: int) -> dict:
    """One run of ``world`` with the code in ``tree``, in a fresh process on one core."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=str(tree))
    code = _RUN.format(root=str(tree), world=world, end=end, seed=seed)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tree)
    if res.returncode != 0:
        raise RuntimeError(f"run in {tree} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def summarise(old: list[dict], new: list[dict]) -> dict:
    """Medians of both sides, the new/old ratio of run time, and per-phase medians."""
    med = statistics.median
    phases = list(old[0]["phases_ms"])
    return {
        "old_run_s": med(r["run_s"] for r in old), "new_run_s": med(r["run_s"] for r in new),
        "ratio": med(r["run_s"] for r in new) / med(r["run_s"] for r in old),
        "old_init_s": med(r["init_s"] for r in old), "new_init_s": med(r["init_s"] for r in new),
        "phases": {p: (med(r["phases_ms"][p] for r in old), med(r["phases_ms"].get(p, float("nan")) for r in new))
                   for p in phases},
        "same_contracts": {r["contracts"] for r in old} == {r["contracts"] for r in new},
    }


def report(rev: str, pairs: list[tuple[dict, dict]], s: dict) -> str:
    lines = [f"{'pair':>4} {'old run s':>10} {'new run s':>10}"]
    lines += [f"{i + 1:>4} {o['run_s']:>10.2f} {n['run_s']:>10.2f}" for i, (o, n) in enumerate(pairs)]
    lines.append(f"median {s['old_run_s']:>8.2f} {s['new_run_s']:>10.2f}   new/old {s['ratio']:.3f} "
                 f"({100 * (1 - s['ratio']):+.1f}% time saved); init {s['old_init_s']:.2f} -> {s['new_init_s']:.2f} s")
    lines.append("\nms per month (medians)   " + " ".join(f"{p:>10}" for p in s["phases"]))
    lines.append(f"{'old ' + rev[:12]:<24} " + " ".join(f"{o:>10.2f}" for o, _ in s["phases"].values()))
    lines.append(f"{'new (this tree)':<24} " + " ".join(f"{n:>10.2f}" for _, n in s["phases"].values()))
    if not s["same_contracts"]:
        lines.append("\nwarning: the two sides ended with different contract counts: the revision changed results")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("rev", help="the git revision to compare against (a commit, tag or branch)")
    ap.add_argument("--world", default="baseline", choices=WORLDS)
    ap.add_argument("--end", help="last month YYYY-MM (default: the scenario's end, 2030-12)")
    ap.add_argument("--pairs", type=int, default=4, help="alternating pairs of runs (default 4)")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    if a.pairs < 1:
        ap.error(f"--pairs: got {a.pairs}; at least 1")

    with tempfile.TemporaryDirectory(prefix="clusterlink-compare-") as tmp:
        tree = Path(tmp) / "old"
        add = subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), a.rev],
                             capture_output=True, text=True)
        if add.returncode != 0:
            print(f"compare: cannot check out {a.rev!r}: {add.stderr.strip()}", file=sys.stderr)
            return 2
        try:
            print(f"compare: {a.rev} in {tree}; compiling its kernels (about 45 s)", flush=True)
            env = dict(os.environ, PYTHONPATH=str(tree))
            subprocess.run([sys.executable, str(tree / "scripts" / "warm_kernels.py")], env=env, cwd=tree,
                           check=True, capture_output=True)
            pairs = []
            for i in range(a.pairs):
                order = [("old", tree), ("new", ROOT)] if i % 2 == 0 else [("new", ROOT), ("old", tree)]
                got = {side: run_once(where, a.world, a.end, a.seed) for side, where in order}
                pairs.append((got["old"], got["new"]))
                print(f"  pair {i + 1}/{a.pairs}: old {got['old']['run_s']:.2f} s, new {got['new']['run_s']:.2f} s",
                      flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], capture_output=True)
    s = summarise([o for o, _ in pairs], [n for _, n in pairs])
    print(f"\n{a.world} to {a.end or 'the scenario end'}, seed {a.seed}, {a.pairs} alternating pairs")
    print(report(a.rev, pairs, s))
    return 0


if __name__ == "__main__":
    sys.exit(main())
