"""Fit uncertain parameters to the 2023 targets by the method of simulated moments.

The objective of a candidate θ is J(θ) = Σ_k w_k ((m̄_k(θ) − c_k) / h_k)², where m̄_k is the mean
over the fixed seeds of target k's measure, c_k the midpoint of the figure's range and h_k its
half-width (a diagonal weighting matrix: a figure known only to ±25% weighs less than one known to
±1 point). The search is a Latin hypercube over the parameter box, then Nelder–Mead (scipy,
bounded) from the best point. The same seeds serve every candidate (common random numbers), so
differences between candidates are not seed noise.

Every run's measures are journaled (one JSON line per run, keyed by the resolved scenario's hash
and the seed) in the work folder; a re-run reuses them, so an interrupted calibration resumes
where it stopped and a finished one re-writes its report without running anything.

The fitted scenario, the report and its PNG are written together (``write_together``): each to a
temporary file beside it, and only when all are written are they renamed into place, so a failed
write (a full disk) leaves none of them changed rather than one new and the others old or
missing. Their paths are checked before any run (``calibration_spec``), so a rename does not meet
a folder or a place that cannot be written.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.calibration_spec import CALIBRATE_MARK, CalibrationSpec, FitTarget
from experiments.scenario_runs import RichProgress, Task, run_tasks

SIG = 6  # significant digits of parameter values (journal keys and the fitted file)


def measure(tables: dict[str, pd.DataFrame], t: FitTarget) -> float:
    """Target ``t``'s measure on one run's tables."""
    df = tables["indicators_province"] if t.province else tables["indicators"]
    df = df[df["date"].str.startswith(str(t.year))]
    if t.province:
        df = df[df["province"] == t.province]
    if df.empty:
        return float("nan")
    return float(df[t.indicator].mean() if t.stat == "mean" else df.sort_values("step")[t.indicator].iloc[-1])


def objective(values: dict[str, float], targets: Sequence[FitTarget]) -> float:
    """J = Σ w ((value − midpoint) / half-width)² over targets (values: mean over seeds by key)."""
    return float(sum(t.weight * ((values[t.key] - t.mid) / t.half_width) ** 2 for t in targets))


def round_sig(x: float, sig: int = SIG) -> float:
    return float(f"{x:.{sig}g}")


def to_params(spec: CalibrationSpec, u: np.ndarray) -> dict[str, float]:
    """Unit-cube point → parameter values (rounded to ``SIG`` digits)."""
    u = np.clip(np.asarray(u, float), 0.0, 1.0)
    return {p.path: round_sig(p.low + ui * (p.high - p.low)) for p, ui in zip(spec.parameters, u, strict=True)}


def to_unit(spec: CalibrationSpec, params: dict[str, float]) -> np.ndarray:
    return np.array([(params[p.path] - p.low) / (p.high - p.low) for p in spec.parameters])


class JournalError(Exception):
    """The calibration journal cannot be used; ``str(err)`` says why."""


class UndefinedTargetError(Exception):
    """A target's indicator has no value in the default scenario's runs; ``str(err)`` names it."""


def _record(row: object) -> bool:
    """True if ``row`` is a journal record as ``Journal.add`` writes it (numbers as measures)."""
    if not (isinstance(row, dict) and isinstance(row.get("hash"), str) and type(row.get("seed")) is int
            and isinstance(row.get("measures"), dict)):
        return False
    return all(isinstance(k, str) and type(v) in (int, float) for k, v in row["measures"].items())


class Journal:
    """Append-only JSON-lines file of run measures, keyed by (scenario hash, seed)."""

    def __init__(self, path: Path):
        self.path = path
        self.rows: dict[tuple[str, int], dict[str, float]] = {}
        if path.is_dir():
            raise JournalError(f"the journal {path} is a folder, not a file; move it away or choose another --workdir")
        if path.exists():
            try:
                text = path.read_bytes().decode("utf-8", errors="replace")
            except OSError as err:
                raise JournalError(f"cannot read the journal {path}: {err.strerror or err}") from None
            for line in text.splitlines():
                try:
                    row = json.loads(line)
                except (ValueError, RecursionError):
                    continue  # a line cut by a crash
                if _record(row):  # anything else (a damaged or foreign line) is not a run's record: run it again
                    self.rows.setdefault((row["hash"], row["seed"]), {}).update(row["measures"])

    def get(self, key: tuple[str, int], needed: Sequence[str]) -> dict[str, float] | None:
        row = self.rows.get(key)
        return row if row is not None and all(k in row for k in needed) else None

    def add(self, key: tuple[str, int], params: dict[str, float], measures: dict[str, float]) -> None:
        self.rows.setdefault(key, {}).update(measures)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps({"hash": key[0], "seed": key[1], "params": params, "measures": measures},
                                ensure_ascii=False) + "\n")


@dataclass
class Evaluator:
    """Runs candidates (through the journal) and keeps every evaluation."""

    spec: CalibrationSpec
    journal: Journal
    workers: int | None = None
    progress: bool = False
    runs_made: int = 0

    def overrides(self, params: dict[str, float]) -> list[str]:
        return [f"end={self.spec.end}"] + [f"{k}={v!r}" for k, v in params.items()]

    def _key(self, params: dict[str, float], seed: int) -> tuple[str, int]:
        from model.scenario import load_scenario

        return load_scenario(self.spec.scenario_path, self.overrides(params)).config_hash(), int(seed)

    def measures(self, candidates: Sequence[dict[str, float]], seeds: Sequence[int],
                 targets: Sequence[FitTarget] | None = None) -> list[pd.DataFrame]:
        """Per candidate, a frame of measures (rows: seeds; columns: target keys); runs what the
        journal lacks, all candidates' missing runs together."""
        targets = list(targets or self.spec.targets)
        ids = sorted({t.measure_id for t in targets})
        keys = [[self._key(c, s) for s in seeds] for c in candidates]
        todo: list[tuple[int, int, Task]] = []
        for ci, c in enumerate(candidates):
            for si, s in enumerate(seeds):
                if self.journal.get(keys[ci][si], ids) is None and not any(
                        keys[cj][sj] == keys[ci][si] for cj, sj, _ in todo):
                    todo.append((ci, si, Task(f"candidate {ci}", str(self.spec.scenario_path), int(s),
                                              tuple(self.overrides(c)), ("indicators", "indicators_province"))))
        if todo:
            bar = RichProgress(len(todo), "calibrate", self.progress)
            try:
                results = run_tasks([t for _, _, t in todo], self.workers, bar)
            finally:
                bar.close()
            for (ci, si, _), tables in zip(todo, results, strict=True):
                by_id = {t.measure_id: measure(tables, t) for t in targets}
                self.journal.add(keys[ci][si], candidates[ci], by_id)
            self.runs_made += len(todo)
        frames = []
        for ci in range(len(candidates)):
            rows = [{t.key: self.journal.rows[keys[ci][si]][t.measure_id] for t in targets} | {"seed": s}
                    for si, s in enumerate(seeds)]
            frames.append(pd.DataFrame(rows).set_index("seed"))
        return frames


@dataclass
class FitResult:
    best: dict[str, float]
    best_j: float
    default: dict[str, float]
    default_j: float
    history: pd.DataFrame  # one row per candidate: parameters, J, stage
    runs_made: int


def default_params(spec: CalibrationSpec) -> dict[str, float]:
    """The scenario's own values of the fitted parameters."""
    from model.scenario import load_scenario

    data = load_scenario(spec.scenario_path, [f"end={spec.end}"]).resolved_dict()
    out = {}
    for p in spec.parameters:
        v = data
        for part in p.path.split("."):
            v = v[int(part)] if isinstance(v, list) else v[part]
        out[p.path] = float(v)
    return out


def fit(spec: CalibrationSpec, workdir: Path, workers: int | None = None, progress: bool = False,
        log: Callable[[str], None] = lambda s: None) -> FitResult:
    """Latin hypercube, then bounded Nelder–Mead from the best point; all through the journal."""
    from scipy.optimize import minimize
    from scipy.stats import qmc

    ev = Evaluator(spec, Journal(workdir / "journal.jsonl"), workers, progress)
    seeds = spec.seeds
    history: list[dict] = []

    def record(params: dict[str, float], frame: pd.DataFrame, stage: str) -> float:
        j = objective(frame.mean().to_dict(), spec.targets)
        history.append(params | {"J": j, "stage": stage})
        return j if np.isfinite(j) else np.inf  # a candidate whose runs leave a target undefined is the worst

    default = default_params(spec)
    lhs = qmc.LatinHypercube(d=len(spec.parameters), seed=spec.search.seed).random(spec.search.initial)
    cands = [default] + [to_params(spec, u) for u in lhs]
    frames = ev.measures(cands, seeds)
    if undefined := [t for t in spec.targets if frames[0][t.key].isna().all()]:
        raise UndefinedTargetError(
            "; ".join(f"target {t.key}: {t.indicator} has no value in {t.year} in the default scenario's runs"
                      for t in undefined)
            + " (an indicator over an empty set, such as a province without lead firms, is undefined); "
              "drop the target or choose another indicator, province or year")
    for c, fr in zip(cands, frames, strict=True):
        record(c, fr, "default" if c is default else "lhs")
    default_j = history[0]["J"]
    best_i = int(np.argmin([h["J"] if np.isfinite(h["J"]) else np.inf for h in history]))
    log(f"Latin hypercube: {len(cands)} candidates, best J = {history[best_i]['J']:.3f} (default {default_j:.3f})")

    def f(u: np.ndarray) -> float:
        params = to_params(spec, u)
        return record(params, ev.measures([params], seeds)[0], "nelder-mead")

    if spec.search.iterations > 0:
        x0 = to_unit(spec, {k: history[best_i][k] for k in default})
        d = len(x0)
        simplex = np.vstack([x0] + [np.clip(x0 + 0.15 * np.eye(d)[i] * (1 if x0[i] < 0.85 else -1), 0, 1)
                                    for i in range(d)])
        minimize(f, x0, method="Nelder-Mead", bounds=[(0, 1)] * d,
                 options=dict(maxfev=spec.search.iterations, initial_simplex=simplex, xatol=1e-3, fatol=1e-4))
    hist = pd.DataFrame(history)
    b = int(hist["J"].fillna(np.inf).idxmin())
    best = {k: float(hist.loc[b, k]) for k in default}
    log(f"best J = {hist.loc[b, 'J']:.3f} after {len(hist)} candidates ({ev.runs_made} runs made, the rest from the journal)")
    return FitResult(best, float(hist.loc[b, "J"]), default, default_j, hist, ev.runs_made)


def report_table(spec: CalibrationSpec, default_frame: pd.DataFrame, fitted_frame: pd.DataFrame) -> pd.DataFrame:
    """Per target: figure, source, default and fitted median with 90% band, gap to the range."""
    rows = []
    for t in spec.targets:
        d, v = default_frame[t.key], fitted_frame[t.key]
        med = float(v.median())
        gap = 0.0 if t.low <= med <= t.high else (med - t.high if med > t.high else med - t.low)
        rows.append(dict(key=t.key, label=t.label or t.key, source=t.source, low=t.low, high=t.high,
                         default_median=float(d.median()), fitted_median=med, fitted_q05=float(v.quantile(0.05)),
                         fitted_q95=float(v.quantile(0.95)), gap=gap, gap_rel=gap / t.mid if t.mid else np.nan,
                         inside=t.low <= med <= t.high, n=len(v)))
    return pd.DataFrame(rows)


def _shown(report: str | Path | None) -> str:
    """A report's path as the header of a fitted scenario names it."""
    if report is None:
        return "the calibration report"
    path = Path(report).resolve()
    try:
        return path.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def write_together(writes: Mapping[Path, Callable[[Path], object]]) -> list[Path]:
    """Write several files as one: each ``write(tmp)`` writes a temporary file beside its path (same
    suffix, so writers that go by it work); when all are written and on disk they are renamed into
    place. A write that fails removes every temporary file and raises, with no file changed."""
    from experiments.store import fsync_dir, fsync_file

    tmps: dict[Path, Path] = {}
    try:
        for path, write in writes.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmps[path] = tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
            write(tmp)
            fsync_file(tmp)
        for path, tmp in tmps.items():
            os.replace(tmp, path)
    except BaseException:
        for tmp in tmps.values():
            tmp.unlink(missing_ok=True)
        raise
    for folder in {path.parent for path in tmps}:
        fsync_dir(folder)
    return list(tmps)


def fitted_scenario_text(spec: CalibrationSpec, params: dict[str, float], j: float, default_j: float,
                         report: str | Path | None = None) -> str:
    """The fitted values as a scenario that extends the calibrated one (nested blocks); its header
    points at ``report`` (as a path from the working folder when it lies inside it)."""
    import yaml

    out = spec.output_path
    nested: dict = {}
    for path, value in params.items():
        node = nested
        parts = path.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    rel = os.path.relpath(spec.scenario_path, out.parent)
    header = (f"# {CALIBRATE_MARK} {Path(spec.file).as_posix()}` - do not edit by hand.\n"
              f"# The {spec.scenario} scenario with its uncertain parameters fitted to the {spec.name} targets\n"
              f"# by the method of simulated moments (seeds {spec.seeds}, runs to {spec.end}); objective J =\n"
              f"# {j:.3f} (default values: {default_j:.3f}). Targets, sources and gaps: {_shown(report)}.\n")
    body = {"extends": rel, "name": out.stem,
            "description": f"{spec.scenario} with parameters fitted to the {spec.name} calibration targets.",
            "question": "The baseline with its uncertain parameters fitted to the 2023 figures: what happens if nothing changes?",
            "source_policy": "none (status quo, calibrated)"} | nested
    return header + yaml.safe_dump(body, allow_unicode=True, sort_keys=False)


def write_fitted_scenario(spec: CalibrationSpec, params: dict[str, float], j: float, default_j: float,
                          report: str | Path | None = None) -> Path:
    """Write ``fitted_scenario_text`` to the calibration file's ``output:`` (through a temporary file)."""
    text = fitted_scenario_text(spec, params, j, default_j, report)
    write_together({spec.output_path: lambda tmp: tmp.write_text(text, encoding="utf-8")})
    return spec.output_path
