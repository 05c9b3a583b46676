"""PRIM scenario discovery: which parameter ranges make an outcome of interest likely.

The Patient Rule Induction Method (Friedman & Fisher 1999, "Bump hunting in high-dimensional
data", Statistics and Computing 9:123–143), peeling phase only, as used for scenario discovery
(Bryant & Lempert 2010). Starting from the box holding every case, each step removes the slice
that raises the share of cases of interest inside the box the most: the lowest or highest
``alpha`` share of a numeric dimension, or one value of a categorical (or boolean) dimension.
Each box on the way is reported with

- coverage: cases of interest inside the box ÷ all cases of interest,
- density: cases of interest inside the box ÷ cases inside the box,
- mass: cases inside the box ÷ all cases.

No pasting step is done (it rarely changes scenario-discovery boxes). We wrote this because the
maintained implementations are GPL-licensed (``prim``) or pull in scikit-learn, statsmodels and
seaborn (``ema_workbench``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class PrimResult:
    trajectory: pd.DataFrame  # step, coverage, density, mass, n_restricted, box (text)
    boxes: list[dict]  # limits per step: column -> (lo, hi) or set of allowed values
    chosen: int  # index into trajectory
    categorical: list[str]

    def box_table(self, step: int | None = None) -> pd.DataFrame:
        """Limits of the restricted dimensions of a box (the chosen one by default)."""
        step = self.chosen if step is None else step
        full, box = self.boxes[0], self.boxes[step]
        rows = []
        for col, lim in box.items():
            if lim == full[col]:
                continue
            if col in self.categorical:
                rows.append({"parameter": col, "restriction": "one of " + ", ".join(map(str, sorted(lim, key=str))),
                             "full range": ", ".join(map(str, sorted(full[col], key=str)))})
            else:
                rows.append({"parameter": col, "restriction": f"{lim[0]:.6g} .. {lim[1]:.6g}",
                             "full range": f"{full[col][0]:.6g} .. {full[col][1]:.6g}"})
        return pd.DataFrame(rows, columns=["parameter", "restriction", "full range"])


def _is_categorical(s: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)


def prim(x: pd.DataFrame, y: np.ndarray, alpha: float = 0.05, min_mass: float = 0.05,
         min_coverage: float = 0.5, min_cases: int = 10) -> PrimResult:
    """Peel boxes over the columns of ``x`` for the boolean cases of interest ``y``.

    A box keeps at least ``min_mass`` of the cases and at least ``min_cases`` of them (or half of
    a smaller sample), so that a box is never one lucky run. The chosen box is the densest one
    whose coverage is at least ``min_coverage``.
    """
    y = np.asarray(y, dtype=bool)
    if len(y) != len(x) or len(y) == 0:
        raise ValueError("x and y must have the same, non-zero length")
    if not y.any():
        raise ValueError("no case of interest: PRIM needs at least one")
    cat = [c for c in x.columns if _is_categorical(x[c])]
    cols = {c: x[c].to_numpy() for c in x.columns}
    inside = np.ones(len(y), dtype=bool)
    box = {c: (set(v.tolist()) if c in cat else (float(v.min()), float(v.max()))) for c, v in cols.items()}
    boxes, rows = [dict(box)], [_stats(inside, y, 0, 0)]
    while True:
        best = _best_peel(cols, cat, y, inside, alpha, max(min_mass * len(y), min(min_cases, len(y) / 2)))
        if best is None:
            break
        col, keep = best
        inside = inside & keep
        v = cols[col][inside]
        box[col] = set(v.tolist()) if col in cat else (float(v.min()), float(v.max()))
        boxes.append(dict(box))
        rows.append(_stats(inside, y, len(boxes) - 1, sum(box[c] != boxes[0][c] for c in box)))
        if rows[-1]["density"] >= 1.0:
            break
    traj = pd.DataFrame(rows)
    ok = traj[traj["coverage"] >= min_coverage]
    chosen = int(ok.sort_values(["density", "coverage"], ascending=False).index[0]) if len(ok) else 0
    return PrimResult(traj, boxes, chosen, cat)


def _stats(inside: np.ndarray, y: np.ndarray, step: int, n_restricted: int) -> dict:
    n_in = int(inside.sum())
    hits = int((y & inside).sum())
    return {"step": step, "coverage": hits / int(y.sum()), "density": hits / n_in if n_in else 0.0,
            "mass": n_in / len(y), "n_cases": n_in, "n_restricted": n_restricted}


def _best_peel(cols: dict, cat: list[str], y: np.ndarray, inside: np.ndarray, alpha: float,
               min_n: float) -> tuple[str, np.ndarray] | None:
    """The peel (column, mask of cases kept) that leaves the densest box of at least ``min_n`` cases."""
    best, best_density = None, -1.0
    for col, v in cols.items():
        vin = v[inside]
        if len(np.unique(vin)) < 2:
            continue
        for keep in _candidates(v, vin, col in cat, alpha):
            new = inside & keep
            n = int(new.sum())
            if n < min_n or n == int(inside.sum()) or n == 0:
                continue
            density = float(y[new].mean())
            if density > best_density + 1e-12:
                best, best_density = (col, keep), density
    return best


def _candidates(v: np.ndarray, vin: np.ndarray, categorical: bool, alpha: float) -> list[np.ndarray]:
    if categorical:
        return [v != value for value in np.unique(vin)]
    lo, hi = np.quantile(vin, alpha), np.quantile(vin, 1 - alpha)
    keep_lo = v >= lo if (vin < lo).any() else v > vin.min()  # ties: drop the lowest value
    keep_hi = v <= hi if (vin > hi).any() else v < vin.max()
    return [keep_lo, keep_hi]
