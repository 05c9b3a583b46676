"""Compare scenarios over seeds: medians, 90% bands and paired differences to the first scenario.

Every scenario runs with the same seeds (common random numbers), so the difference to the first
scenario is taken seed by seed and its band is the 5–95% quantile range of those paired
differences. An indicator's value in a year is its mean over that year's simulated months (a
running total's, such as cumulative policy spending, is its value in the last of them); ``n`` counts
the runs with a value (an indicator over an empty set has none). The default years are whole years, and a year the runs cover only in part gets a note (``Comparison.notes``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.scenario_runs import RichProgress, Task, concat, run_tasks, scenario_label

MAIN_INDICATORS = ("localisation_rate", "domestic_tier1_suppliers", "mean_tech_domestic", "imports_share",
                   "employment_total", "industrial_output", "n_fdi_firms", "policy_spend_cumulative")
Q_LO, Q_HI = 0.05, 0.95
MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass
class Comparison:
    """Yearly values per run (``yearly``), the summary table, the monthly runs (``monthly``) and
    a note for each reported year the runs cover only in part (``notes``)."""

    monthly: pd.DataFrame
    yearly: pd.DataFrame
    summary: pd.DataFrame
    scenarios: list[str]
    notes: list[str] = field(default_factory=list)


def make_tasks(paths: Sequence[str | Path], seeds: Sequence[int], overrides: Sequence[str] = ()) -> list[Task]:
    labels = unique_labels([scenario_label(p) for p in paths])
    return [Task(label, str(p), int(s), tuple(overrides)) for p, label in zip(paths, labels, strict=True)
            for s in seeds]


def unique_labels(labels: list[str]) -> list[str]:
    """Make scenario labels unique (a file compared with itself gets ``name#2``)."""
    seen: dict[str, int] = {}
    out = []
    for lab in labels:
        seen[lab] = seen.get(lab, 0) + 1
        out.append(lab if seen[lab] == 1 else f"{lab}#{seen[lab]}")
    return out


def yearly_values(monthly: pd.DataFrame, indicators: Sequence[str]) -> pd.DataFrame:
    """Each indicator's value in each calendar year, per scenario and seed (long format): the mean over
    the year's months, or for a running total (``metrics.RUNNING_TOTALS``) its value in the last month."""
    from model.metrics import RUNNING_TOTALS

    df = monthly.assign(year=monthly["date"].str[:4].astype(int))
    keys = ["scenario", "seed", "year"]
    wide = df.groupby(keys, sort=False)[list(indicators)].mean().reset_index()
    totals = [i for i in indicators if i in RUNNING_TOTALS]
    if totals:
        last = df.sort_values([*keys, "date"], kind="stable").drop_duplicates(keys, keep="last")
        wide = wide.drop(columns=totals).merge(last[[*keys, *totals]], on=keys, how="left")[[*keys, *indicators]]
    return wide.melt(id_vars=keys, var_name="indicator", value_name="value")


def summarise(yearly: pd.DataFrame, years: Sequence[int], scenarios: Sequence[str]) -> pd.DataFrame:
    """Median, 90% band and paired difference to the first scenario (with its band) per indicator,
    year and scenario."""
    first = scenarios[0]
    rows = []
    sel = yearly[yearly["year"].isin(list(years))]
    for (ind, year), g in sel.groupby(["indicator", "year"], sort=False):
        ref = g[g["scenario"] == first].set_index("seed")["value"]
        zero = 0.0 if ref.notna().any() else np.nan  # the first scenario against itself: 0 where it has a value
        for sc in scenarios:
            v = g[g["scenario"] == sc].set_index("seed")["value"]
            d = (v - ref).dropna()
            rows.append(dict(indicator=ind, year=int(year), scenario=sc, n=int(v.notna().sum()),
                             median=v.median(), q05=v.quantile(Q_LO), q95=v.quantile(Q_HI),
                             diff_median=d.median() if sc != first else zero,
                             diff_q05=d.quantile(Q_LO) if sc != first else zero,
                             diff_q95=d.quantile(Q_HI) if sc != first else zero,
                             p_positive=float((d > 0).mean()) if sc != first else np.nan))
    out = pd.DataFrame(rows)
    order = {k: i for i, k in enumerate(yearly["indicator"].unique())}
    out["_o"] = out["indicator"].map(order)
    return out.sort_values(["_o", "year"], kind="stable").drop(columns="_o").reset_index(drop=True)


def months_by_year(monthly: pd.DataFrame) -> dict[int, dict[str, list[int]]]:
    """The months (1–12) each scenario simulates in each calendar year: ``{year: {scenario: months}}``."""
    df = monthly[["scenario", "date"]].drop_duplicates()
    out: dict[int, dict[str, list[int]]] = {}
    for (year, sc), g in df.groupby([df["date"].str[:4].astype(int), "scenario"], sort=True):
        out.setdefault(int(year), {})[sc] = sorted(g["date"].str[5:7].astype(int).unique())
    return out


def default_years(monthly: pd.DataFrame) -> list[int]:
    """The middle and the last year that every scenario simulates whole (all twelve months); for runs
    that cover no year whole (shorter than a year, or two part-years), the middle and last year simulated."""
    months = months_by_year(monthly)
    whole = [y for y, by_sc in months.items() if all(len(m) == 12 for m in by_sc.values())]
    years = whole or sorted(months)
    return sorted({years[len(years) // 2], years[-1]})


def partial_year_notes(monthly: pd.DataFrame, years: Sequence[int]) -> list[str]:
    """A note for each of ``years`` that some scenario simulates only in part, naming the months."""
    def span(m: list[int]) -> str:
        first, last = MONTH_NAMES[m[0] - 1], MONTH_NAMES[m[-1] - 1]
        return (first if first == last else f"{first}–{last}") + f" ({len(m)} of 12 months)"

    notes = []
    months = months_by_year(monthly)
    for year in sorted(years):
        by_sc = months.get(year, {})
        if all(len(m) == 12 for m in by_sc.values()):
            continue
        spans = {sc: span(m) for sc, m in by_sc.items()}
        where = (f"the runs cover only {next(iter(spans.values()))}" if len(set(spans.values())) == 1
                 else "; ".join(f"{sc} covers {s}" for sc, s in spans.items()))
        notes.append(f"{year} is a partial year: {where}; its values are means over those months (a running total's, its value in the last), not the whole year")
    return notes


def compare(paths: Sequence[str | Path], seeds: Sequence[int], indicators: Sequence[str] = MAIN_INDICATORS,
            years: Sequence[int] | None = None, overrides: Sequence[str] = (), workers: int | None = None,
            progress: bool = False) -> Comparison:
    """Run every scenario over ``seeds`` and summarise (see module docstring)."""
    tasks = make_tasks(paths, seeds, overrides)
    bar = RichProgress(len(tasks), "compare", progress)
    try:
        results = run_tasks(tasks, workers, bar)
    finally:
        bar.close()
    monthly = concat(results, "indicators")
    scenarios = list(dict.fromkeys(t.label for t in tasks))
    missing = [i for i in indicators if i not in monthly.columns]
    if missing:
        raise ValueError(f"unknown indicators {missing}; known: {', '.join(c for c in monthly.columns if c not in ('scenario', 'seed', 'step', 'date'))}")
    # a year's values are means over the months every scenario simulates: a scenario run to 2030 and
    # one run to March 2023 are compared over January-March 2023, not a year against a quarter
    dates = monthly.groupby("scenario", sort=False)["date"].agg(set)
    shared = monthly[monthly["date"].isin(set.intersection(*dates))] if len(dates) else monthly.iloc[:0]
    yearly = yearly_values(shared, indicators)
    have = set(yearly["year"])
    if not have:
        raise ValueError("the scenarios simulate no year in common: "
                         + "; ".join(f"{sc} {min(d)}–{max(d)}" for sc, d in dates.items()))
    years = list(years) if years else default_years(shared)
    bad = [y for y in years if y not in have]
    if bad:
        raise ValueError(f"years {bad} are outside the runs' horizon: not simulated by every scenario "
                         f"(years in common: {min(have)}–{max(have)})")
    notes = partial_year_notes(shared, years)
    if len({(min(d), max(d)) for d in dates}) > 1:
        notes.append("the scenarios' horizons differ (" + "; ".join(f"{sc} {min(d)}–{max(d)}" for sc, d in dates.items())
                     + "): each year's values are means over the months all of them simulate")
    return Comparison(monthly, yearly, summarise(yearly, years, scenarios), scenarios, notes)


def fan_frame(monthly: pd.DataFrame, indicator: str) -> pd.DataFrame:
    """Monthly quantiles of one indicator per scenario, in the shape ``analysis_plots.fan_chart`` draws."""
    g = monthly.groupby(["scenario", "date"], sort=False)[indicator]
    fan = g.quantile([0.05, 0.25, 0.5, 0.75, 0.95]).unstack()
    fan.columns = ["q05", "q25", "q50", "q75", "q95"]
    fan["n"] = g.size()
    return fan.reset_index().rename(columns={"scenario": "policy"})


def write_outputs(cmp: Comparison, out: str | Path, legacy: Callable[[str], bool] | None = None) -> list[Path]:
    """summary.csv, yearly.csv and one fan chart PNG per indicator in ``out`` (see ``output_folder``;
    ``legacy`` recognises an unmarked earlier comparison's files)."""
    from experiments import output_folder
    from experiments.analysis_plots import fan_chart
    from experiments.sweep_index import atomic_write

    out = output_folder.claim(Path(out), "comparison", "--out", legacy)  # an earlier comparison's files go
    paths = [out / "summary.csv", out / "yearly.csv"]
    for path, table in zip(paths, (cmp.summary, cmp.yearly), strict=True):  # never a half-written table
        atomic_write(path, lambda p, t=table: t.to_csv(p, index=False))
    for ind in cmp.yearly["indicator"].unique():
        paths.append(fan_chart(fan_frame(cmp.monthly, ind), ind, out / f"fan_{ind}.png"))
    output_folder.done(out, "comparison")
    return paths


def fmt(x: float) -> str:
    if not np.isfinite(x):
        return "–"
    a = abs(x)
    if a == 0:
        return "0"
    if a < 1:
        return f"{x:.4f}"
    if a < 100:
        return f"{x:.2f}"
    return f"{x:,.0f}"


def cost_per_point(cmp: Comparison, year: int) -> dict[str, float]:
    """Median paired extra cumulative policy spend (VND bn) per percentage point of localisation
    gained over the first scenario, in ``year``. NaN where it would mislead: localisation did not
    rise in at least 95 % of the seed pairs (the band's lower end is not above 0: the gain cannot be
    told from chance), or the scenario spends no more than the first (a cost of 0 a point)."""
    s = cmp.summary
    out = {}
    for sc in cmp.scenarios[1:]:
        loc = s[(s.indicator == "localisation_rate") & (s.year == year) & (s.scenario == sc)]
        spend = s[(s.indicator == "policy_spend_cumulative") & (s.year == year) & (s.scenario == sc)]
        if loc.empty or spend.empty:
            continue
        gain, extra = float(loc["diff_median"].iloc[0]) * 100, float(spend["diff_median"].iloc[0])
        sure = float(loc["diff_q05"].iloc[0]) > 0
        out[sc] = extra / gain if gain > 0 and sure and extra > 0 else float("nan")
    return out
