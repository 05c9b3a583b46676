"""Figures of the sweep analysis (matplotlib, Agg backend): fan charts, index bars, PRIM trade-off."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def fan_chart(fan: pd.DataFrame, indicator: str, path: Path) -> Path:
    """Median line with 25–75% and 5–95% bands, one colour per policy."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    dates = sorted(fan["date"].unique())
    pos = {d: i for i, d in enumerate(dates)}
    for k, (policy, f) in enumerate(fan.groupby("policy", sort=False)):
        x = f["date"].map(pos).to_numpy()
        colour = f"C{k}"
        ax.fill_between(x, f["q05"], f["q95"], color=colour, alpha=0.15, linewidth=0)
        ax.fill_between(x, f["q25"], f["q75"], color=colour, alpha=0.3, linewidth=0)
        ax.plot(x, f["q50"], color=colour, label=f"{policy} (n={int(f['n'].max())})")
    step = max(1, len(dates) // 8)
    ax.set_xticks(range(0, len(dates), step), dates[::step], rotation=30)
    ax.set_ylabel(indicator)
    ax.set_title(f"{indicator}: median, 50% and 90% bands")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def sensitivity_bars(table: pd.DataFrame, method: str, title: str, path: Path) -> Path:
    """Sobol' S1/ST or Morris mu* with their 95% intervals."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(table) + 1.5))
    y = np.arange(len(table))
    if method == "sobol":
        ax.barh(y - 0.2, table["S1"], 0.4, xerr=table["S1_conf"], label="first order S1")
        ax.barh(y + 0.2, table["ST"], 0.4, xerr=table["ST_conf"], label="total ST")
        ax.set_xlabel("Sobol' index (95% interval)")
        ax.legend(fontsize=8)
    else:
        ax.barh(y, table["mu_star"], 0.6, xerr=table["mu_star_conf"])
        ax.set_xlabel("Morris mu* (95% interval)")
    ax.set_yticks(y, table["parameter"])
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def prim_tradeoff(traj: pd.DataFrame, chosen: int, title: str, path: Path) -> Path:
    """Coverage against density along the peeling trajectory; the chosen box circled."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    sc = ax.scatter(traj["coverage"], traj["density"], c=traj["n_restricted"], cmap="viridis")
    ax.plot(traj["coverage"], traj["density"], color="grey", linewidth=0.5)
    ax.scatter([traj["coverage"].iloc[chosen]], [traj["density"].iloc[chosen]], s=160, facecolors="none",
               edgecolors="red", label="chosen box")
    fig.colorbar(sc, ax=ax, label="restricted parameters")
    ax.set_xlabel("coverage")
    ax.set_ylabel("density")
    ax.set_title(f"PRIM: {title}", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
