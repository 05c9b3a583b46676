"""The plain-Mesa reference (benchmarks/mesa_reference) and the model produce the same indicators.

Both implement the same rules but draw random numbers in a different order, so runs agree only
in distribution: over several seeds on a small scaled world, the difference of the two means of
each indicator (averaged over the run) must lie within a few standard errors computed from the
seed-to-seed spread of both.
"""

from __future__ import annotations

import mesa
import numpy as np
import pytest

from benchmarks.mesa_reference import ReferenceModel
from benchmarks.worlds import scaled_world
from model.cluster_model import ClusterModel

SEEDS = (1, 2, 3, 4, 5)
N_FIRMS, END = 600, "2023-12"
Z = 4.0  # standard errors of the difference allowed (a deterministic seed set: no flakiness)
INDICATORS = ("localisation_rate", "imports_share", "domestic_tier1_suppliers", "domestic_tier2_suppliers",
              "contracts_active", "mean_tech_domestic", "tech_gap", "employment_total", "employment_domestic",
              "mean_wage_domestic", "industrial_output", "n_domestic_firms", "largest_component_share",
              "network_density", "unemployed_pool")


def _run(cls, seed: int) -> dict[str, float]:
    m = cls(scaled_world(N_FIRMS, end=END), seed=seed)
    while m.running:
        m.step()
    table = m.results()["indicators"]
    mesa.Agent._ids.pop(m, None)
    return {k: float(table[k].mean()) for k in INDICATORS}


@pytest.fixture(scope="module")
def runs() -> dict[str, list[dict[str, float]]]:
    return {name: [_run(cls, s) for s in SEEDS] for name, cls in (("model", ClusterModel), ("reference", ReferenceModel))}


@pytest.mark.slow
@pytest.mark.parametrize("name", INDICATORS)
def test_indicator_agrees(runs, name):
    a = np.array([r[name] for r in runs["model"]])
    b = np.array([r[name] for r in runs["reference"]])
    se = np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    tol = max(Z * se, 1e-9 * max(abs(a.mean()), abs(b.mean()), 1.0))
    assert abs(a.mean() - b.mean()) <= tol, (
        f"{name}: model {a.mean():.6g} ± {a.std(ddof=1):.3g}, reference {b.mean():.6g} ± {b.std(ddof=1):.3g} "
        f"(difference {a.mean() - b.mean():.3g} > {Z} SE = {tol:.3g})")
