"""Experimental designs: the list of parameter points of a sweep, and the runs (tasks) it makes.

Every design first draws points in the unit cube (grid levels, Latin hypercube, Saltelli's Sobol'
sequence or Morris trajectories), then maps each coordinate to a parameter value:
- real: through the (truncated) inverse CDF of its distribution on [lo, hi];
- integer: ``lo + floor(u·(hi−lo+1))`` so each integer gets an equal share of [0, 1];
- categorical with k values: value ``floor(u·k)``; boolean: ``u ≥ 0.5`` (the categorical [false, true]).
The unit coordinates are kept (``u_<column>``) because Sobol' and Morris analysis need them.

Everything random is seeded from the sweep's master seed, so the point list is a pure function
of the sweep file. A run's seed comes from ``SeedSequence(master, spawn_key=(point, replicate))``:
the same for every policy variant (common random numbers) and independent of executor, worker
count and execution order.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.stats import qmc

from experiments.sweep_spec import (
    BooleanParam,
    CategoricalParam,
    IntegerParam,
    RealParam,
    SweepSpec,
    yaml_value,
)

DESIGN_KEY = 0x5EED  # spawn key of the design's own random stream (run seeds use 2-part keys)
MAX_RUNS = 1_000_000  # a sweep file whose design makes more runs is refused before any table is built


def run_seed(master: int, point: int, replicate: int) -> int:
    """The seed of run (point, replicate): a 63-bit integer from ``SeedSequence``."""
    ss = np.random.SeedSequence(master, spawn_key=(point, replicate))
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))


def design_rng(master: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(master, spawn_key=(DESIGN_KEY,)))


# -- unit cube -> parameter values ---------------------------------------------------------------
def to_values(param: Any, u: np.ndarray) -> list[Any]:
    """Map unit coordinates to values of ``param`` (Python scalars, ready for YAML overrides)."""
    u = np.clip(np.asarray(u, dtype=float), 0.0, 1.0)
    if isinstance(param, RealParam):
        return [float(v) for v in _real(param, u)]
    if isinstance(param, IntegerParam):
        lo, hi = param.range
        return [int(v) for v in np.minimum(lo + np.floor(u * (hi - lo + 1)), hi)]
    values = _choices(param)
    idx = np.minimum(np.floor(u * len(values)), len(values) - 1).astype(int)
    return [values[i] for i in idx]


def _choices(param: CategoricalParam | BooleanParam) -> list[Any]:
    if isinstance(param, BooleanParam):
        return [False, True]
    vals = list(param.values)
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in vals) and any(
            isinstance(v, float) for v in vals):
        vals = [float(v) for v in vals]  # [1, 2.5] is a real-valued choice
    return vals


def _real(p: RealParam, u: np.ndarray) -> np.ndarray:
    lo, hi = p.range
    if p.distribution == "uniform":
        x = lo + u * (hi - lo)
    elif p.distribution == "triangular":
        x = stats.triang(c=(p.mode - lo) / (hi - lo), loc=lo, scale=hi - lo).ppf(u)
    elif p.distribution == "normal":
        x = stats.truncnorm((lo - p.mean) / p.sd, (hi - p.mean) / p.sd, loc=p.mean, scale=p.sd).ppf(u)
    else:  # lognormal: log X ~ Normal(log median, sd), truncated to [lo, hi]
        m = math.log(p.median)
        a = -np.inf if lo == 0 else (math.log(lo) - m) / p.sd
        x = np.exp(stats.truncnorm(a, (math.log(hi) - m) / p.sd, loc=m, scale=p.sd).ppf(u))
    return np.clip(x, lo, hi)


# -- designs in the unit cube --------------------------------------------------------------------
def unit_points(spec: SweepSpec) -> np.ndarray:
    """The design's points in the unit cube, shape (n_points, n_params)."""
    d, params, design = len(spec.uncertain), spec.uncertain, spec.design
    if d == 0:
        return np.zeros((1, 0))
    rng = design_rng(spec.seed)
    if design.method == "grid":
        axes = [_grid_axis(p, design.levels) for p in params]
        return np.array(list(itertools.product(*axes)), dtype=float)
    if design.method == "lhs":
        return qmc.LatinHypercube(d, rng=rng).random(design.samples)
    problem = unit_problem(spec)
    if design.method == "sobol":
        from SALib.sample import sobol

        return sobol.sample(problem, design.samples, calc_second_order=design.second_order, seed=rng)
    from SALib.sample import morris

    return morris.sample(problem, design.samples, num_levels=design.levels, seed=rng)


def n_points(spec: SweepSpec) -> int:
    """The number of design points, computed without building them."""
    d, design = len(spec.uncertain), spec.design
    if d == 0:
        return 1
    if design.method == "grid":
        return math.prod(len(_grid_axis(p, design.levels)) for p in spec.uncertain)
    if design.method == "lhs":
        return design.samples
    if design.method == "sobol":
        return design.samples * ((2 * d + 2) if design.second_order else (d + 2))
    return design.samples * (d + 1)  # morris


def n_runs(spec: SweepSpec) -> int:
    """Runs of the sweep: design points × policy variants × replications."""
    return n_points(spec) * len(spec.policies) * spec.replications


def unit_problem(spec: SweepSpec) -> dict:
    """The SALib problem over the unit cube (values are mapped afterwards)."""
    return {"num_vars": len(spec.uncertain), "names": [p.column for p in spec.uncertain],
            "bounds": [[0.0, 1.0]] * len(spec.uncertain)}


def _grid_axis(p: Any, levels: int) -> list[float]:
    """Unit coordinates of a grid axis; discrete values sit mid-cell so they map back exactly."""
    if isinstance(p, RealParam):
        return list(np.linspace(0.0, 1.0, levels))
    if isinstance(p, IntegerParam):
        lo, hi = p.range
        n = hi - lo + 1
        ints = range(lo, hi + 1) if n <= levels else sorted({int(round(v)) for v in np.linspace(lo, hi, levels)})
        return [(v - lo + 0.5) / n for v in ints]
    k = len(_choices(p))
    return [(i + 0.5) / k for i in range(k)]


# -- tables -------------------------------------------------------------------------------------
def points_table(spec: SweepSpec) -> pd.DataFrame:
    """One row per design point: ``point``, the unit coordinates ``u_<col>`` and the values ``<col>``."""
    unit = unit_points(spec)
    out: dict[str, Any] = {"point": np.arange(len(unit), dtype=np.int64)}
    for j, p in enumerate(spec.uncertain):
        out[f"u_{p.column}"] = unit[:, j]
    for j, p in enumerate(spec.uncertain):
        out[p.column] = to_values(p, unit[:, j])
    return pd.DataFrame(out)


def run_id(policy: str, point: int, replicate: int, n_points: int, n_reps: int) -> str:
    wp, wr = max(4, len(str(n_points - 1))), max(2, len(str(n_reps - 1)))
    return f"{policy}-p{point:0{wp}d}-r{replicate:0{wr}d}"


def tasks_table(spec: SweepSpec, points: pd.DataFrame) -> pd.DataFrame:
    """One row per run: run_id, policy, point, replicate, seed, scenario, overrides, and the values."""
    cols = [p.column for p in spec.uncertain]
    paths = [p.path for p in spec.uncertain]
    n_points, n_reps = len(points), spec.replications
    values = points[cols].to_dict("records")
    seeds = [[run_seed(spec.seed, i, r) for r in range(n_reps)] for i in range(n_points)]
    rows = []
    for variant in spec.policies:
        scenario, fixed = str(spec.scenario_of(variant)), spec.overrides_for(variant)
        for i, vals in enumerate(values):
            param_set = [f"{path}={yaml_value(_py(vals[c]))}" for path, c in zip(paths, cols, strict=True)]
            for r in range(n_reps):
                rows.append({"run_id": run_id(variant.name, i, r, n_points, n_reps), "policy": variant.name,
                             "point": i, "replicate": r, "seed": seeds[i][r], "scenario": scenario,
                             "overrides": fixed + param_set, **vals})
    frame = pd.DataFrame(rows, columns=["run_id", "policy", "point", "replicate", "seed", "scenario",
                                        "overrides", *cols])
    return frame.astype({"point": "int64", "replicate": "int64", "seed": "int64"})


def _py(value: Any) -> Any:
    """NumPy scalar -> Python scalar (YAML writing needs plain types)."""
    return value.item() if isinstance(value, np.generic) else value
