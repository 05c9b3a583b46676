"""Compile the model's numba kernels once, so that the first real run does not pay for it.

numba caches compiled kernels on disk (``cache=True``, beside the modules), but the first process
that calls a kernel on a new machine compiles it: about 40 s for all of them on a 2-core VM.
``scripts/setup.sh`` runs this after installing; with a warm cache it takes a few seconds.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    import mesa

    from model import kernels
    from model.cluster_model import ClusterModel
    from model.scenario import load_scenario

    if not kernels.use_compiled():
        print("warm_kernels: numba is off (not installed or CLUSTERLINK_NUMBA=0); nothing to compile")
        return 0
    t = time.perf_counter()
    sc = load_scenario(ROOT / "scenarios" / "baseline.yaml", ["end=2023-03", "recording.snapshot_every=1"])
    m = ClusterModel(sc, seed=1)  # the month-0 market runs the tender kernel
    while m.running:
        m.step()
    m.results()
    mesa.Agent._ids.pop(m, None)
    print(f"warm_kernels: compiled kernels ready ({time.perf_counter() - t:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
