"""The 2023 calibration targets and how each is measured on a run's tables.

Used by docs/ODD.md's 2023 table (``python -m experiments.targets``) and by calibration. Each
target names its figure and source (docs/sources/CALIBRATION.md) and a function of a run's tables.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

Tables = dict[str, pd.DataFrame]


@dataclass(frozen=True)
class Target:
    """One figure the baseline's first year should reproduce."""

    key: str
    label: str
    low: float
    high: float
    source: str
    measure: Callable[[Tables], float]
    unit: str = ""

    def inside(self, value: float) -> bool:
        return self.low <= value <= self.high


def _year(t: Tables, table: str, year: str = "2023") -> pd.DataFrame:
    df = t[table]
    return df[df["date"].str.startswith(year)]


def _province_mean(col: str, province: str) -> Callable[[Tables], float]:
    def measure(t: Tables) -> float:
        df = _year(t, "indicators_province")
        return float(df[df.province == province][col].mean())
    return measure


def _province_last(col: str, province: str) -> Callable[[Tables], float]:
    def measure(t: Tables) -> float:
        df = _year(t, "indicators_province")
        df = df[df.province == province]
        return float(df[df.step == df.step.max()][col].iloc[0])
    return measure


def _mean(col: str) -> Callable[[Tables], float]:
    return lambda t: float(_year(t, "indicators")[col].mean())


def _band(figure: float, tolerance: float = 0.25) -> tuple[float, float]:
    return figure * (1 - tolerance), figure * (1 + tolerance)


TARGETS: list[Target] = [
    Target("tn_localisation", "Domestic share of Thái Nguyên electronics output value (lead firms' domestic inputs ÷ output)",
           0.07, 0.09, "seed 001", _province_mean("localisation_rate", "Thái Nguyên"), "share"),
    Target("localisation", "Electronics localisation by domestic-owned suppliers, whole region",
           0.05, 0.10, "MoIT 2024–25", _mean("localisation_rate"), "share"),
    Target("tn_park_firms", "Operating firms in Thái Nguyên industrial parks (±25% of 199)", *_band(199),
           "seed 001", _province_last("n_park_firms", "Thái Nguyên"), "firms"),
    Target("bg_park_firms", "Operating firms in Bắc Giang industrial parks (±25% of 426)", *_band(426),
           "Công Thương 2024", _province_last("n_park_firms", "Bắc Giang"), "firms"),
    Target("bn_zone_firms", "Firms in Bắc Ninh industrial zones (±25% of 1,767 projects)", *_band(1767),
           "Bắc Ninh IZ authority 2022", _province_last("n_park_firms", "Bắc Ninh"), "firms"),
    Target("hn_si_firms", "Hà Nội supporting-industry firms (±25% of 350)", *_band(350),
           "seed 004", _province_last("n_domestic_firms", "Hà Nội"), "firms"),
    Target("tn_workers", "Industrial workers in Thái Nguyên (±25% of 250,000)", *_band(250_000),
           "seed 001", _province_last("employment_total", "Thái Nguyên"), "persons"),
    Target("bg_park_workers", "Workers in Bắc Giang industrial parks (±25% of 190,400)", *_band(190_400),
           "Công Thương 2024", _province_last("employment_park", "Bắc Giang"), "persons"),
    Target("bn_zone_workers", "Workers in Bắc Ninh industrial zones (±25% of 332,000)", *_band(332_000),
           "FTU 2021", _province_last("employment_park", "Bắc Ninh"), "persons"),
]

# Figures reported beside the table but not calibrated to (the model's region and units differ).
CONTEXT: list[Target] = [
    Target("tn_domestic_output", "Vietnamese firms' share of Thái Nguyên industrial output (≈4.6%)", 0.035, 0.06,
           "VIR 2024 (derived)", _province_mean("domestic_output_share", "Thái Nguyên"), "share"),
    Target("wage_fdi", "Mean monthly income in FDI firms (> VND 11.5m, 2023)", 11.5, 14.0, "MOLISA 2023",
           _mean("mean_wage_fdi"), "VND m"),
    Target("wage_domestic", "Mean monthly income outside FDI (VND 8.0–8.4m, 2023)", 8.0, 8.4, "MOLISA 2023",
           _mean("mean_wage_domestic"), "VND m"),
]


def evaluate(tables: Tables, targets: list[Target] | None = None) -> dict[str, float]:
    """Measure every target on one run's tables."""
    return {t.key: t.measure(tables) for t in (targets or TARGETS + CONTEXT)}


def run_seeds(seeds: list[int], scenario: str = "scenarios/baseline.yaml", end: str = "2023-12") -> pd.DataFrame:
    """Run the scenario's first year once per seed; one row of target values per seed."""
    from model.cluster_model import ClusterModel
    from model.scenario import load_scenario

    sc = load_scenario(scenario, [f"end={end}"])
    rows = []
    for seed in seeds:
        m = ClusterModel(sc, seed=seed)
        while m.running:
            m.step()
        rows.append({"seed": seed} | evaluate(m.results()))
        m.discard()
    return pd.DataFrame(rows)


def markdown_table(values: pd.DataFrame) -> str:
    """Target, source, model median and 90% band over seeds, and whether the median is inside."""
    def fmt(x: float, unit: str) -> str:
        return f"{x:.1%}" if unit == "share" else (f"{x:,.2f}" if unit == "VND m" else f"{x:,.0f}")

    lines = ["| target | source | target range | model median | 90% band | inside |", "|---|---|---|---|---|---|"]
    for group, targets in (("calibrated", TARGETS), ("context", CONTEXT)):
        for t in targets:
            v = values[t.key].to_numpy()
            med, lo, hi = np.median(v), np.quantile(v, 0.05), np.quantile(v, 0.95)
            mark = "yes" if t.inside(med) else ("no" if group == "calibrated" else "no (context)")
            lines.append(f"| {t.label} | {t.source} | {fmt(t.low, t.unit)} – {fmt(t.high, t.unit)} | "
                         f"{fmt(med, t.unit)} | {fmt(lo, t.unit)} – {fmt(hi, t.unit)} | {mark} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="Print the baseline's 2023 calibration table (Markdown).")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--scenario", default="scenarios/baseline.yaml")
    args = parser.parse_args()
    values = run_seeds(list(range(1, args.seeds + 1)), args.scenario)
    print(markdown_table(values))


if __name__ == "__main__":
    main()
