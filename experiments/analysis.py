"""Sweep analysis: sensitivity indices (SALib), scenario discovery (PRIM) and fan charts.

``analyze(out)`` writes ``<out>/analysis/``: ``report.md``, PNG figures and CSV tables.

Failed runs are handled explicitly and reported: an outcome is taken from complete runs only,
averaged over a point's successful replicates. Sobol' (Saltelli) and Morris estimators need whole
blocks of points (a Saltelli block of D+2 or 2D+2 rows per base sample, a Morris trajectory of D+1
rows), so a block with any point lacking a value is dropped whole and the report says how many.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.prim import prim
from experiments.query import connect
from experiments.sweep import SweepFolder
from experiments.sweep_index import SweepError, damage_message, require_sweep
from model.yamlio import did_you_mean


@dataclass(frozen=True)
class OutcomeSpec:
    indicator: str
    at: str = "end"  # "end" or "YYYY-MM"

    @property
    def label(self) -> str:
        return f"{self.indicator}@{self.at}"

    @property
    def slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9_]+", "_", f"{self.indicator}_{self.at}")

    @classmethod
    def parse(cls, text: str) -> OutcomeSpec:
        name, sep, at = text.partition("@")
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", name) or (sep and not re.fullmatch(r"end|\d{4}-(0[1-9]|1[0-2])", at)):
            what = "nothing after '@'" if sep and not at else f"{at!r} after '@'" if sep else "not an indicator name"
            raise ValueError(f"outcome {text!r}: {what}; expected INDICATOR, INDICATOR@YYYY-MM or INDICATOR@end")
        return cls(name, at or "end")


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)

    def add(self, *text: str) -> None:
        self.lines.extend(text)

    def table(self, frame: pd.DataFrame, floatfmt: str = ".4g") -> None:
        cols = list(frame.columns)
        self.lines.append("| " + " | ".join(map(str, cols)) + " |")
        self.lines.append("|" + "---|" * len(cols))
        for row in frame.itertuples(index=False):
            cells = ["–" if isinstance(v, float) and v != v else format(v, floatfmt) if isinstance(v, float) else str(v)
                     for v in row]
            self.lines.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
        self.lines.append("")


def outcome_values(con, outcome: OutcomeSpec) -> pd.DataFrame:
    """One row per run of the design: run_id, policy, point, replicate, status, value (NaN if missing)."""
    _check_indicator(con, outcome)
    col = '"' + outcome.indicator + '"'
    if outcome.at == "end":
        # the last month's row, whatever it holds (arg_max would skip a NULL, an indicator over an empty
        # set, and give an earlier month's value as the run's end)
        sub = f"""SELECT i.run_id, any_value(i.{col}) AS value FROM indicators i
                  JOIN (SELECT run_id, max(step) AS last FROM indicators GROUP BY run_id) e
                    ON i.run_id = e.run_id AND i.step = e.last GROUP BY i.run_id"""
    else:
        sub = f"SELECT run_id, any_value({col}) AS value FROM indicators WHERE date = '{outcome.at}' GROUP BY run_id"
    return con.execute(f"""SELECT r.run_id, r.policy, r.point, r.replicate, r.status, CAST(v.value AS DOUBLE) AS value
                           FROM runs r LEFT JOIN ({sub}) v USING (run_id)
                           ORDER BY r.policy, r.point, r.replicate""").df()


def _check_indicator(con, outcome: OutcomeSpec) -> None:
    """``ValueError`` unless the runs' indicators table has the outcome's indicator."""
    cols = {r[0] for r in con.execute("DESCRIBE indicators").fetchall()} if _has(con, "indicators") else set()
    # the view also has each run's keys, parameters, step and date: columns, but not indicators
    keys = {r[0] for r in con.execute("DESCRIBE runs").fetchall()} | {"step", "date"} if _has(con, "runs") else set()
    if outcome.indicator not in cols - keys:
        raise ValueError(f"unknown indicator {outcome.indicator!r}{did_you_mean(outcome.indicator, cols - keys)}; "
                         f"indicators.parquet has: {', '.join(sorted(cols - keys))}")


def _has(con, view: str) -> bool:
    return bool(con.execute(f"SELECT count(*) FROM duckdb_views() WHERE view_name = '{view}'").fetchone()[0])


def point_means(values: pd.DataFrame, n_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean outcome per design point over successful replicates (NaN where none) and the count used."""
    ok = values.dropna(subset=["value"])
    g = ok.groupby("point")["value"]
    y = np.full(n_points, np.nan)
    n = np.zeros(n_points, dtype=int)
    y[g.mean().index.to_numpy()] = g.mean().to_numpy()
    n[g.size().index.to_numpy()] = g.size().to_numpy()
    return y, n


def whole_blocks(y: np.ndarray, block: int) -> np.ndarray:
    """Boolean mask over the blocks of ``block`` consecutive points that have no missing value."""
    return ~np.isnan(y.reshape(-1, block)).any(axis=1)


def sobol_indices(meta: dict, y: np.ndarray, seed: int) -> tuple[pd.DataFrame | None, int, int]:
    """First-order and total Sobol' indices with 95% bootstrap intervals; (table, blocks used, blocks)."""
    from SALib.analyze import sobol

    problem, d = meta["problem"], meta["problem"]["num_vars"]
    second = bool(meta["design"].get("second_order"))
    block = 2 * d + 2 if second else d + 2
    keep = whole_blocks(y, block)
    if keep.sum() < 2:
        return None, int(keep.sum()), len(keep)
    yk = y.reshape(-1, block)[keep].ravel()
    res = sobol.analyze(problem, yk, calc_second_order=second, conf_level=0.95, seed=seed)
    table = pd.DataFrame({"parameter": problem["names"], "S1": res["S1"], "S1_conf": res["S1_conf"],
                          "ST": res["ST"], "ST_conf": res["ST_conf"]})
    return table, int(keep.sum()), len(keep)


def morris_indices(meta: dict, unit: np.ndarray, y: np.ndarray, seed: int) -> tuple[pd.DataFrame | None, int, int]:
    """Morris mu*, mu, sigma and the 95% interval of mu*; (table, trajectories used, trajectories)."""
    from SALib.analyze import morris

    problem, d = meta["problem"], meta["problem"]["num_vars"]
    keep = whole_blocks(y, d + 1)
    if keep.sum() < 2:
        return None, int(keep.sum()), len(keep)
    rows = np.repeat(keep, d + 1)
    res = morris.analyze(problem, unit[rows], y[rows], conf_level=0.95, num_levels=meta["design"]["levels"],
                         seed=seed)
    table = pd.DataFrame({"parameter": problem["names"], "mu_star": res["mu_star"],
                          "mu_star_conf": res["mu_star_conf"], "mu": res["mu"], "sigma": res["sigma"]})
    return table, int(keep.sum()), len(keep)


def fan_table(con, indicator: str) -> pd.DataFrame:
    """Quantiles (5, 25, 50, 75, 95%) of an indicator per policy and date over complete runs."""
    col = '"' + indicator + '"'
    q = con.execute(f"""SELECT policy, date, count({col}) AS n,
                          quantile_cont({col}, [0.05, 0.25, 0.5, 0.75, 0.95]) AS q
                        FROM indicators GROUP BY policy, date ORDER BY policy, date""").df()
    # a month in which no run has a value (an indicator over an empty set) is a gap in the fan
    none = [np.nan] * 5
    qs = pd.DataFrame([none if v is None or np.ndim(v) == 0 else list(v) for v in q.pop("q")],
                      columns=["q05", "q25", "q50", "q75", "q95"], dtype=float)
    return pd.concat([q, qs], axis=1)


def analyze(out: str | Path, outcomes: list[OutcomeSpec] | None = None, method: str = "auto",
            prim_threshold: float | None = None, prim_below: bool = False, dest: str | Path | None = None,
            seed: int | None = None) -> Path:
    """Write the analysis of a sweep folder; return the path of ``report.md``."""
    import duckdb
    import matplotlib
    import pyarrow as pa

    matplotlib.use("Agg")
    from experiments import analysis_plots as plots

    folder = require_sweep(out)
    meta = folder.read_meta()
    outcomes = outcomes or [OutcomeSpec(o["indicator"], o["at"]) for o in meta.get("outcomes", [])]
    seed = meta["seed"] if seed is None else seed
    design = meta["design"]["method"]
    if method in ("sobol", "morris") and method != design:
        raise ValueError(f"--method {method} needs a sweep with a {method} design; this sweep's design is "
                         f"{design} (use --method auto or none)")
    method = design if method == "auto" else method
    dest = _dest_folder(Path(dest) if dest else folder.root / "analysis", folder.root / "analysis")
    try:
        return _analyze(folder, meta, dest, outcomes, method, prim_threshold, prim_below, seed, plots)
    except (duckdb.IOException, duckdb.InvalidInputException, pa.ArrowException) as err:
        raise SweepError(damage_message(folder, err)) from None
    except OSError as err:  # a full disk, a folder made read-only: report.md (written last) is not there
        why = err.strerror or (str(err).splitlines() or [type(err).__name__])[0]
        where = f" ({Path(err.filename).name})" if err.filename else ""
        raise SweepError(f"cannot write the analysis to {dest}{where}: {why}; no report was written "
                         "(free space or choose another --out, and run it again)") from None


def _dest_folder(dest: Path, default: Path) -> Path:
    """The output folder, created and claimed for an analysis (``output_folder``: refused if it holds
    anything but an earlier analysis), with the earlier report removed first so that a failed
    analysis never leaves a report that looks finished."""
    from experiments import output_folder

    legacy = _legacy_analysis if dest.resolve() == default.resolve() else None
    try:
        output_folder.claim(dest, "analysis", "--out", legacy)
        (dest / "report.md").unlink(missing_ok=True)
        return dest
    except output_folder.OutputFolderError as err:
        raise SweepError(str(err)) from None
    except OSError as err:
        raise SweepError(f"cannot write the analysis to {dest}: {err.strerror or err}; choose another --out") from None


def _legacy_analysis(name: str) -> bool:
    """A file an analysis wrote before outputs were marked (in the sweep's own analysis folder)."""
    return name == "report.md" or name.endswith((".png", ".csv"))


def check_outcomes(con, outcomes: list[OutcomeSpec]) -> None:
    """Every outcome names an indicator of the runs and, if dated, a month some complete run has."""
    for oc in outcomes:
        _check_indicator(con, oc)
        if oc.at == "end":
            continue
        n, first, last = con.execute("SELECT count(*) FILTER (WHERE date = ?), min(date), max(date) FROM indicators",
                                     [oc.at]).fetchone()
        if not n:
            raise ValueError(f"outcome {oc.label}: no complete run has the month {oc.at}; "
                             f"the runs cover {first}–{last} (use @end or a month in that range)")


def _analyze(folder: SweepFolder, meta: dict, dest: Path, outcomes: list[OutcomeSpec], method: str,
             prim_threshold: float | None, prim_below: bool, seed: int, plots) -> Path:
    points = folder.read_points()
    con = connect(folder.root)
    rep = Report([f"# Sweep analysis: {meta['name']}", "",
                  f"Design: {meta['design']['method']}, {meta['n_points']} points × {len(meta['policies'])} "
                  f"policies × {meta['replications']} replicates = {meta['n_runs']} runs (master seed {meta['seed']}).", ""])
    runs = con.execute("SELECT * FROM runs").df()
    _runs_section(rep, runs, dest)
    if not (runs["status"] == "complete").any():
        rep.add("No run is complete: nothing to analyse.")
        return _write(rep, dest)
    check_outcomes(con, outcomes)
    for oc in outcomes:
        values = outcome_values(con, oc)
        values.to_csv(dest / f"outcome_{oc.slug}.csv", index=False)
        rep.add(f"## Outcome `{oc.label}`", "")
        missing = values[values["value"].isna()]
        rep.add(f"{len(values) - len(missing)} of {len(values)} runs give a value; "
                f"{len(missing)} do not ({(missing['status'] != 'complete').sum()} not complete, "
                f"{(missing['status'] == 'complete').sum()} complete with no value then: the indicator is undefined "
                "there, over an empty set, or the run ends before that date).", "")
        _policy_table(rep, values)
        if method in ("sobol", "morris") and meta["problem"]["num_vars"]:
            _sensitivity(rep, meta, method, values, points, oc, dest, seed, plots)
        elif method != "none":
            rep.add(f"Sensitivity indices need a sobol or morris design; this sweep's design is {method}.", "")
        if meta["problem"]["num_vars"]:
            _prim_section(rep, meta, values, points, oc, dest, prim_threshold, prim_below, plots)
        fan = fan_table(con, oc.indicator)
        fan.to_csv(dest / f"fan_{oc.indicator}.csv", index=False)
        png = plots.fan_chart(fan, oc.indicator, dest / f"fan_{oc.indicator}.png")
        rep.add(f"### Fan chart of `{oc.indicator}` by policy", "",
                "Median, 25–75% and 5–95% bands over all complete runs (every point and replicate).", "",
                f"![fan chart]({png.name})", "")
    con.close()
    return _write(rep, dest)


def _write(rep: Report, dest: Path) -> Path:
    from experiments import output_folder
    from experiments.sweep_index import atomic_write

    path = dest / "report.md"
    atomic_write(path, lambda p: p.write_text("\n".join(rep.lines) + "\n", encoding="utf-8"))
    output_folder.done(dest, "analysis")
    return path


def _runs_section(rep: Report, runs: pd.DataFrame, dest: Path) -> None:
    counts = runs.pivot_table(index="policy", columns="status", values="run_id", aggfunc="count", fill_value=0)
    counts = counts.reindex(columns=["complete", "failed", "pending"], fill_value=0).reset_index()
    rep.add("## Runs", "")
    rep.table(counts)
    failed = runs[runs["status"] == "failed"][["run_id", "policy", "point", "replicate", "attempts", "error"]]
    failed.to_csv(dest / "failed_runs.csv", index=False)
    if len(failed):
        failed = failed.assign(error=failed["error"].fillna("").str.split("\n").str[0].str.slice(0, 160))
        rep.add(f"{len(failed)} runs failed (tracebacks in the sweep index; list in `failed_runs.csv`). "
                "They are excluded from every statistic below, and the sensitivity analysis drops whole "
                "blocks that contain them:", "")
        rep.table(failed.head(20))


def _policy_table(rep: Report, values: pd.DataFrame) -> None:
    """Median and 5–95% range of the outcome per policy variant."""
    if values["value"].isna().all():
        return
    # every variant, also one whose runs give no value (count 0, the figures NaN)
    table = values.groupby("policy", sort=False)["value"].agg(
        runs="count", median="median", p05=lambda v: v.quantile(0.05), p95=lambda v: v.quantile(0.95)).reset_index()
    rep.table(table)


# below these, estimates are mostly noise: Sobol' indices want N in the hundreds (Saltelli et al.
# 2010 use 500-1000 base samples); Morris, ten or more trajectories (Campolongo et al. 2007); PRIM,
# a few dozen runs so that a box's density is more than the luck of a handful of points
MIN_BLOCKS = {"sobol": 64, "morris": 10}
MIN_PRIM_RUNS = 30


def _sensitivity(rep, meta, method, values, points, oc, dest, seed, plots) -> None:
    n_points = meta["n_points"]
    for policy, vals in values.groupby("policy", sort=False):
        y, _ = point_means(vals, n_points)
        if method == "sobol":
            table, used, total = sobol_indices(meta, y, seed)
            what = "Sobol' indices (first order S1, total ST; ± half-width of the 95% bootstrap interval)"
            unit = "Saltelli blocks"
        else:
            unit_cols = [f"u_{c}" for c in meta["problem"]["names"]]
            table, used, total = morris_indices(meta, points[unit_cols].to_numpy(), y, seed)
            what = "Morris elementary effects (mu* with its 95% bootstrap half-width, mu, sigma)"
            unit = "trajectories"
        rep.add(f"### {what} — policy `{policy}`", "", f"{used} of {total} {unit} complete and used"
                + (f"; {total - used} dropped because a point in them has no value." if used < total else "."), "")
        if table is not None and used < MIN_BLOCKS[method]:
            rep.add(f"> **Too few {unit} to read these indices:** {used} (at least {MIN_BLOCKS[method]} are needed "
                    "for estimates steadier than their noise; the intervals show how wide it is). Take them as "
                    "a check that the sweep runs, not as results.", "")
        if table is None:
            rep.add("Too few complete blocks to estimate indices.", "")
            continue
        name = f"{method}_{oc.slug}_{policy}"
        table.to_csv(dest / f"{name}.csv", index=False)
        rep.table(table)
        png = plots.sensitivity_bars(table, method, f"{oc.label} — {policy}", dest / f"{name}.png")
        rep.add(f"![{method}]({png.name})", "")


def _prim_section(rep, meta, values, points, oc, dest, threshold, below, plots) -> None:
    names = meta["problem"]["names"]
    data = values.dropna(subset=["value"]).merge(points[["point"] + names], on="point")
    if data.empty:
        return
    thr = float(np.quantile(data["value"], 0.25 if below else 0.75)) if threshold is None else threshold
    y = (data["value"] <= thr) if below else (data["value"] >= thr)
    rel = "≤" if below else "≥"
    rep.add(f"### Scenario discovery (PRIM): when is `{oc.label}` {rel} {thr:.4g}?", "")
    if not y.any() or y.all():
        rep.add(f"{int(y.sum())} of {len(y)} runs are cases of interest: PRIM needs some of each.", "")
        return
    if len(y) < MIN_PRIM_RUNS:
        rep.add(f"> **Too few runs for scenario discovery:** {len(y)} (at least {MIN_PRIM_RUNS}); with so few, "
                "a box can fit the cases of interest by chance. Take it as a check that the sweep runs.", "")
    x = data[names + ["policy"]] if data["policy"].nunique() > 1 else data[names]
    res = prim(x, y.to_numpy())
    res.trajectory.to_csv(dest / f"prim_{oc.slug}.csv", index=False)
    row = res.trajectory.iloc[res.chosen]
    rep.add(f"{int(y.sum())} of {len(y)} complete runs are cases of interest"
            + (" (threshold: the upper quartile)" if threshold is None and not below else "")
            + (" (threshold: the lower quartile)" if threshold is None and below else "") + ". "
            f"Chosen box (densest with coverage ≥ 50%, peeling step {int(row['step'])}): coverage "
            f"{row['coverage']:.2f}, density {row['density']:.2f}, mass {row['mass']:.2f} "
            f"(base rate {y.mean():.2f}).", "")
    box = res.box_table()
    if box.empty:
        rep.add("No restriction raises the density: the outcome does not depend on these ranges.", "")
    else:
        rep.table(box)
    png = plots.prim_tradeoff(res.trajectory, res.chosen, oc.label, dest / f"prim_{oc.slug}.png")
    rep.add(f"![PRIM peeling trajectory]({png.name})", "")


def load_meta(out: str | Path) -> dict:
    return json.loads((Path(out) / "sweep.json").read_text(encoding="utf-8"))
