"""The benchmark's figures as one picture: run time against world size with the targets, where a
month's time goes, the plain-Mesa yardstick and the recording cost.

    python benchmarks/run.py --json bench.json --plot bench.png   # measure, then draw
    python benchmarks/plot.py bench.json -o bench.png             # draw a saved run again

Reads the JSON that ``benchmarks/run.py --json`` writes (per-world runs under ``worlds``, the
reference comparison under ``reference``, the recording pairs under ``recording``); a panel whose
figures the run did not measure (``--quick`` leaves out 20k, 100k and recording) says so.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: benchmarks/ is a package of the project root
    sys.path.insert(0, str(ROOT))

from benchmarks.run import _median  # noqa: E402

# the targets of issue 6: baseline to 2030 and 100k firms for 96 months, in seconds; recording share
TARGET_RUN_S = {"baseline": 2.0, "100k": 60.0}
TARGET_RECORDING = 0.15
TARGET_SPEEDUP = 20.0


def draw(figures: dict, path: Path) -> Path:
    """Write the four-panel picture of one benchmark run (``figures``: run.py's JSON) to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    worlds: dict[str, list[dict]] = figures.get("worlds") or {}
    if not worlds:
        raise ValueError("it has no world runs ('worlds' is missing or empty)")
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    _run_time(axes[0, 0], worlds, figures.get("scaling_exponent"))
    _phases(axes[0, 1], worlds)
    _reference(axes[1, 0], figures.get("reference") or {})
    _recording(axes[1, 1], figures.get("recording"))
    when = " ".join(str(x) for x in (figures.get("date"), figures.get("machine")) if x)
    fig.suptitle(f"clusterlink benchmarks{' (quick)' if figures.get('quick') else ''}\n{when}", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _run_time(ax, worlds: dict[str, list[dict]], exponent: float | None) -> None:
    scaled = [w for w in worlds if w != "baseline"]
    xs = [worlds[w][0]["firms"] for w in scaled]
    ys = [_median(worlds[w], "run_s") for w in scaled]
    ax.loglog(xs, ys, "o-", color="tab:blue", label="scaled worlds (median run)")
    for w, x, y in zip(scaled, xs, ys, strict=True):
        ax.annotate(f"{w}: {y:.1f} s", (x, y), textcoords="offset points", xytext=(-8, 6), ha="right", fontsize=8)
    if "baseline" in worlds:
        b = worlds["baseline"]
        ax.loglog([b[0]["firms"]], [_median(b, "run_s")], "s", color="tab:green",
                  label=f"baseline region: {_median(b, 'run_s'):.2f} s")
    for w, target in TARGET_RUN_S.items():
        if w in worlds:
            ax.loglog([worlds[w][0]["firms"]], [target], "v", color="tab:red", markersize=9)
            ax.annotate(f"target {target:g} s", (worlds[w][0]["firms"], target), textcoords="offset points",
                        xytext=(0, -14), ha="center", fontsize=8, color="tab:red")
    if len(xs) >= 2:  # linear growth through the smallest world, for the eye
        ax.loglog([xs[0], xs[-1]], [ys[0], ys[0] * xs[-1] / xs[0]], ":", color="grey", label="linear growth")
    title = "One run to 2030 (96 months), one core"
    if exponent is not None:
        title += f"\nstep time grows as firms^{exponent:.2f} (target ≤ 1.1)"
    ax.set(title=title, xlabel="firms at the start", ylabel="run time, s (build + 96 months)")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(True, which="both", alpha=0.3)
    ax.margins(x=0.15, y=0.25)


def _phases(ax, worlds: dict[str, list[dict]]) -> None:
    names = list(worlds)
    phases = list(worlds[names[0]][0]["phases_s"])  # in the step's order, as run.py writes them
    per = {w: {p: statistics.median(r["phases_s"][p] for r in worlds[w]) for p in phases} for w in names}
    left = [0.0] * len(names)
    for p, colour in zip(phases, _colours(len(phases)), strict=True):
        share = [per[w][p] / max(sum(per[w].values()), 1e-12) for w in names]
        ax.barh(names, share, left=left, color=colour, label=p)
        left = [a + b for a, b in zip(left, share, strict=True)]
    for i, w in enumerate(names):
        ax.annotate(f"{1000 * sum(per[w].values()):.0f} ms/month", (1.0, i), textcoords="offset points",
                    xytext=(4, -3), fontsize=8)
    ax.set(title="Where a month's time goes (share of the step)", xlim=(0, 1.25), xlabel="share of step time")
    ax.invert_yaxis()
    ax.legend(fontsize=7, ncol=len(phases), loc="upper center", bbox_to_anchor=(0.5, -0.14), frameon=False,
              handlelength=1, columnspacing=0.8)


def _colours(n: int) -> list:
    import matplotlib

    cmap = matplotlib.colormaps["tab10"]
    return [cmap(i) for i in range(n)]


def _reference(ax, refs: dict[str, dict]) -> None:
    if not refs:
        _not_measured(ax, "Plain-Mesa reference")
        return
    names = list(refs)
    model = [1000 * refs[w]["model_step_s"] for w in names]
    ref = [1000 * refs[w]["reference_step_s"] for w in names]
    at = range(len(names))
    ax.bar([i - 0.2 for i in at], ref, width=0.4, color="tab:grey", label="plain-Mesa reference")
    ax.bar([i + 0.2 for i in at], model, width=0.4, color="tab:blue", label="clusterlink")
    for i, w in enumerate(names):
        ax.annotate(f"{refs[w]['ratio']:.0f}x", (i, ref[i]), textcoords="offset points", xytext=(0, 3),
                    ha="center", fontsize=9)
    ax.set_yscale("log")
    ax.set_ylim(min(model) / 2, max(ref) * 3)
    ax.set_xticks(list(at), names)
    months = refs[names[0]].get("months")
    ax.set(title=f"Against the plain-Mesa reference (target ≥ {TARGET_SPEEDUP:g}x on 5k)",
           ylabel=f"ms per month{f' (first {months} months)' if months else ''}")
    ax.legend(fontsize=8)


def _recording(ax, rec: dict | None) -> None:
    if not rec:
        _not_measured(ax, "Recording at full detail")
        return
    pairs = [100 * x for x in rec["pairs"]]
    ax.plot(range(1, len(pairs) + 1), pairs, "o", color="tab:blue", label="paired runs")
    ax.axhline(100 * rec["overhead"], color="tab:blue", label=f"median {100 * rec['overhead']:.1f} %")
    ax.axhline(100 * TARGET_RECORDING, color="tab:red", linestyle="--", label=f"target ≤ {100 * TARGET_RECORDING:g} %")
    ax.axhline(0, color="grey", linewidth=0.5)
    ax.set_ylim(min(0.0, *pairs) - 2, max(100 * TARGET_RECORDING, *pairs) + 8)
    ax.set(title="Recording cost (baseline, recorder on + run folder written vs off)",
           xlabel="pair", ylabel="% of the recorded run", xticks=range(1, len(pairs) + 1))
    ax.legend(fontsize=8, loc="upper left", ncol=3)


def _not_measured(ax, what: str) -> None:
    ax.text(0.5, 0.5, f"{what}:\nnot measured in this run", ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("figures", type=Path, help="JSON written by benchmarks/run.py --json")
    ap.add_argument("-o", "--out", type=Path, help="picture to write (default: the JSON's name, .png)")
    a = ap.parse_args(argv)
    try:
        figures = json.loads(a.figures.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        print(f"plot: cannot read {a.figures}: {e}", file=sys.stderr)
        return 2
    try:
        out = draw(figures, a.out or a.figures.with_suffix(".png"))
    except (ValueError, KeyError, TypeError) as e:
        print(f"plot: {a.figures} is not a benchmarks/run.py --json file: {e}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
