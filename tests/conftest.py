"""Shared fixtures: the tiny test world and helpers to run models."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mesa
import pandas as pd
import pytest

from model.cluster_model import ClusterModel
from model.scenario import Scenario, load_scenario

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
TINY = DATA / "tiny.yaml"
BASELINE = ROOT / "scenarios" / "baseline.yaml"


def run_model(sc: Scenario, seed: int = 1) -> ClusterModel:
    """Run a scenario to its end and free Mesa's global agent registry entry."""
    m = ClusterModel(sc, seed=seed)
    while m.running:
        m.step()
    mesa.Agent._ids.pop(m, None)
    return m


@contextmanager
def kernel_path(compiled: bool) -> Iterator[None]:
    """Run a block on the compiled kernels or on their NumPy fallbacks (tests compare the two)."""
    from model import kernels

    before = kernels.use_compiled()
    kernels.use_compiled(compiled)
    try:
        yield
    finally:
        kernels.use_compiled(before)


@pytest.fixture
def tiny() -> Scenario:
    return load_scenario(TINY)


@pytest.fixture(scope="session")
def baseline_short() -> ClusterModel:
    """The baseline over its first six months (seed 3), shared by read-only tests."""
    return run_model(load_scenario(BASELINE, ["end=2023-06"]), seed=3)


@pytest.fixture
def fake_simulation(monkeypatch):
    """Replace the simulation by one that returns at once (and count the calls)."""
    from experiments import runner

    calls = []

    def simulate(sc, seed, progress_label=None, for_store=False):
        calls.append(seed)
        return {"indicators": pd.DataFrame({"step": [1], "date": [sc.start]})}, 1

    monkeypatch.setattr(runner, "simulate", simulate)
    return calls
