"""Write the golden indicators that tests/test_golden.py compares fresh runs against.

Run it (``.venv/bin/python tests/golden/make_golden.py``) only when a change of results is
intended (a new rule, a deliberate change of random stream), and say why in the commit.
Worlds: the baseline with seed 1 to 2024-12, and the baseline scaled to 1,000 firms
(benchmarks/worlds.py) with seed 2 to 2024-12.
"""

from __future__ import annotations

import sys
from pathlib import Path

import mesa
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks.worlds import BASELINE, scaled_world  # noqa: E402
from model.cluster_model import ClusterModel  # noqa: E402
from model.scenario import load_scenario  # noqa: E402

GOLDEN = Path(__file__).resolve().parent / "baseline_2024.parquet"
END = "2024-12"


def golden_worlds():
    """(label, scenario, seed) of every world in the golden file."""
    return [("baseline", load_scenario(BASELINE, [f"end={END}"]), 1),
            ("scaled_1k", scaled_world(1_000, end=END), 2)]


def indicators(sc, seed: int) -> pd.DataFrame:
    m = ClusterModel(sc, seed=seed)
    while m.running:
        m.step()
    table = m.results()["indicators"]
    mesa.Agent._ids.pop(m, None)
    return table


def golden_table() -> pd.DataFrame:
    frames = []
    for label, sc, seed in golden_worlds():
        t = indicators(sc, seed)
        t.insert(0, "world", label)
        frames.append(t)
    return pd.concat(frames, ignore_index=True)


if __name__ == "__main__":
    table = golden_table()
    table.to_parquet(GOLDEN, index=False)
    print(f"wrote {GOLDEN} ({len(table)} rows, {table.shape[1]} columns)")
