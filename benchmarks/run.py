"""Speed and memory of one run, by world size, with per-phase times and the plain-Mesa yardstick.

    python benchmarks/run.py                 # full table: baseline, 1k, 5k, 20k, 100k firms
    python benchmarks/run.py --quick         # 1k and 5k worlds (+ baseline), reference on 1k: < 3 min
    python benchmarks/run.py --json out.json # also write the headline figures as JSON

Every measurement runs in its own subprocess (so peak memory, ru_maxrss, belongs to one world)
on one core. A run is the model built from its scenario and stepped to the scenario's end
(96 months, 2023-01..2030-12), timed with a copy of ``ClusterModel.step`` that times each phase
(the model has no timers), stepped inside ``frozen_heap`` as ``experiments.runner.simulate`` steps it. Figures are medians over repeats. The step-time scaling exponent is
the least-squares slope of log(step time) on log(firms) over the scaled worlds
(benchmarks/worlds.py). The speed ratio compares the plain-Mesa reference
(benchmarks/mesa_reference) with the model on the same world, in one process, over its first
``--reference-months`` months. Recording overhead compares a baseline run with the recorder on
(snapshots, contract events, labour flows at full detail, then the run folder written by
``experiments.store.write_run``) with one where it is switched off after construction, in one
process, three times with the order alternated; the figure is the median of the three.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PHASES = ("policy", "demand", "sourcing", "learning", "labour", "demography", "record")
FULL_WORLDS = {"baseline": 3, "1k": 3, "5k": 3, "20k": 2, "100k": 1}  # world -> repeats
QUICK_WORLDS = {"baseline": 1, "1k": 3, "5k": 3}
RECORDING_REPEATS = 6  # even: each order (on first, off first) equally often; fewer medians swing by ±6 points


# -- worker side (one measurement per process) -------------------------------------------------------
def _scenario(world: str, end: str | None = None):
    from benchmarks.worlds import BASELINE, WORLDS, scaled_world
    from model.scenario import load_scenario

    if world == "baseline":
        return load_scenario(BASELINE, [f"end={end}"] if end else [])
    return scaled_world(WORLDS[world], end=end)


def _timed_steps(m, months: int | None = None) -> tuple[list[float], dict[str, float]]:
    """Step the model (a copy of ClusterModel.step with a timer per phase)."""
    from model import cluster_model as cm
    from model.geography import month_label
    from model.metrics import EVENT_COUNTS

    phases = {p: 0.0 for p in PHASES}
    steps: list[float] = []
    clock = time.perf_counter
    while m.running and (months is None or len(steps) < months):
        t0 = clock()
        m.steps += 1
        m.month = m.steps - 1
        m.date = month_label(m.month, m.sc.start)
        m.stats.update({k: 0.0 for k in EVENT_COUNTS if k != "policy_spend_cumulative"})
        marks = [clock()]
        m.policy.apply(m)
        marks.append(clock())
        cm.run_demand_phase(m)
        marks.append(clock())
        cm.run_sourcing_phase(m)
        marks.append(clock())
        cm.learn(m, m.delivered)
        marks.append(clock())
        cm.run_labour_phase(m)
        marks.append(clock())
        cm.run_demography_phase(m)
        marks.append(clock())
        m._record()
        marks.append(clock())
        for p, a, b in zip(PHASES, marks, marks[1:], strict=False):
            phases[p] += b - a
        steps.append(clock() - t0)
    return steps, phases


def _check_step_copy() -> str | None:
    """Warn when ClusterModel.step calls phases the benchmark's copy does not."""
    from model.cluster_model import ClusterModel

    src = inspect.getsource(ClusterModel.step)
    calls = ("policy.apply", "run_demand_phase", "run_sourcing_phase", "learn(", "run_labour_phase",
             "run_demography_phase", "_record()")
    body = [ln.strip() for ln in src.splitlines() if ln.strip() and not ln.strip().startswith(("def", '"""', "#"))]
    extra = [ln for ln in body if not any(c in ln for c in calls) and not ln.startswith(("self.month", "self.date",
                                                                                          "self.stats"))]
    return f"ClusterModel.step has lines the benchmark does not time: {extra}" if extra else None


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def worker_model(world: str, seed: int) -> dict:
    import mesa

    from model.cluster_model import ClusterModel, frozen_heap

    sc = _scenario(world)
    t0 = time.perf_counter()
    c0 = time.process_time()
    m = ClusterModel(sc, seed=seed)
    init_s = time.perf_counter() - t0
    drawn_start = m.candidates_drawn
    firms, workers = int(m.firms.alive[: m.firms.n].sum()), int(m.firms.workers[: m.firms.n].sum())
    with frozen_heap():  # as experiments.runner.simulate steps a run
        steps, phases = _timed_steps(m)
    out = {"world": world, "seed": seed, "firms": firms, "workers": workers, "months": len(steps),
           "init_s": init_s, "run_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
           "step_s": sum(steps) / len(steps), "phases_s": {p: v / len(steps) for p, v in phases.items()},
           "firms_end": int(m.firms.alive[: m.firms.n].sum()), "contracts_end": int(m.contracts.n),
           "drawn_start": drawn_start, "drawn_month": (m.candidates_drawn - drawn_start) / len(steps),
           "peak_mib": _peak_mib(), "warning": _check_step_copy()}
    mesa.Agent._ids.pop(m, None)
    return out


def worker_reference(world: str, seed: int, months: int) -> dict:
    """The model and the plain-Mesa reference on the same world, in this one process."""
    import mesa

    from benchmarks.mesa_reference import ReferenceModel
    from model.cluster_model import ClusterModel, frozen_heap

    out = {"world": world, "months": months}
    for name, cls in (("model", ClusterModel), ("reference", ReferenceModel)):
        m = cls(_scenario(world), seed=seed)
        t0 = time.perf_counter()
        with frozen_heap():  # for both, as experiments.runner.simulate steps a run
            for _ in range(months):
                m.step()
        out[f"{name}_step_s"] = (time.perf_counter() - t0) / months
        out[f"{name}_localisation"] = m.latest_indicators()["localisation_rate"]
        mesa.Agent._ids.pop(m, None)
    out["ratio"] = out["reference_step_s"] / out["model_step_s"]
    return out


def worker_recording(world: str, seed: int, on_first: bool = False) -> dict:
    """Run time with the recorder on (+ writing the run folder) and off, in this process (``on_first``
    picks the order; the orchestrator alternates it over repeats)."""
    import mesa

    from experiments.store import write_run
    from model.cluster_model import ClusterModel, frozen_heap
    from model.geography import month_label

    out: dict = {"world": world}
    # warm up first (a year, recorded and written): the process's first run also loads the compiled
    # kernels and pyarrow's writer, about 0.5 s that would fall on whichever timed run came first
    warm = ClusterModel(_scenario(world, end=month_label(11, _scenario(world).start)), seed=seed)
    while warm.running:
        warm.step()
    with tempfile.TemporaryDirectory() as tmp:
        write_run(tmp, "warm", {"seed": seed}, warm.results(for_store=True))
    mesa.Agent._ids.pop(warm, None)
    for enabled in ((True, False) if on_first else (False, True)):
        t0, c0 = time.perf_counter(), time.process_time()
        m = ClusterModel(_scenario(world), seed=seed)
        m.recorder.enabled = enabled
        with frozen_heap():
            while m.running:
                m.step()
        run_s, run_cpu = time.perf_counter() - t0, time.process_time() - c0
        if enabled:
            t1, c1 = time.perf_counter(), time.process_time()
            tables = m.results(for_store=True)
            with tempfile.TemporaryDirectory() as tmp:
                write_run(tmp, "bench", {"seed": seed, "scenario": {"name": m.sc.name}}, tables)
            out["write_s"], out["write_cpu_s"] = time.perf_counter() - t1, time.process_time() - c1
            out["rows"] = {k: len(v) for k, v in tables.items()}
        key = "on" if enabled else "off"
        out[f"{key}_s"], out[f"{key}_cpu_s"] = run_s, run_cpu
        mesa.Agent._ids.pop(m, None)
    total = out["on_s"] + out["write_s"]
    out["overhead"] = (total - out["off_s"]) / total
    # CPU time as well: it leaves out the waits of writing (fsync), so this share runs a little lower;
    # on this VM it scatters across pairs as much as the wall-time one (docs/BENCHMARKS.md)
    total_cpu = out["on_cpu_s"] + out["write_cpu_s"]
    out["overhead_cpu"] = (total_cpu - out["off_cpu_s"]) / total_cpu
    return out


# -- orchestrator side ----------------------------------------------------------------------------------
def _spawn(kind: str, **kw) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, "--args", json.dumps(kw)]
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if res.returncode != 0:
        raise RuntimeError(f"{kind} {kw} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _recording(seed: int, repeats: int = RECORDING_REPEATS) -> dict:
    """The recording cost as medians over paired runs (on and off in one warmed-up process, order
    alternated): one pair differs by more than the cost itself on a shared machine."""
    runs = [_spawn("recording", world="baseline", seed=seed, on_first=bool(i % 2)) for i in range(repeats)]
    out = {k: _median(runs, k) for k in ("off_s", "on_s", "write_s", "overhead", "overhead_cpu")}
    return dict(out, rows=runs[0]["rows"], pairs=[r["overhead"] for r in runs],
                pairs_cpu=[r["overhead_cpu"] for r in runs])


def _median(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def _slope(xs: list[float], ys: list[float]) -> float | None:
    import math

    if len(xs) < 2:
        return None
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly, strict=True)) / sum((a - mx) ** 2 for a in lx)


def _machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{platform.node()}: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"load average {load:.1f} at start")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1k and 5k worlds (+ baseline), reference on 1k")
    ap.add_argument("--json", type=Path, help="also write the headline figures to this JSON file")
    ap.add_argument("--plot", type=Path, help="also draw the figures to this PNG (benchmarks/plot.py)")
    ap.add_argument("--repeats", type=int, help="repeats for every world (default: 3 small, 2 for 20k, 1 for 100k)")
    ap.add_argument("--worlds", help="comma-separated subset of baseline,1k,5k,20k,100k")
    ap.add_argument("--reference-months", type=int, default=12, help="months the reference comparison runs")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--args", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        fn = {"model": worker_model, "reference": worker_reference, "recording": worker_recording}[a.worker]
        print(json.dumps(fn(**json.loads(a.args))))
        return 0

    for out in (a.json, a.plot):  # before minutes of measuring, not after
        if out is not None and not out.resolve().parent.is_dir():
            ap.error(f"cannot write {out}: the folder {out.resolve().parent} does not exist")
    started = time.perf_counter()
    plan = dict(QUICK_WORLDS if a.quick else FULL_WORLDS)
    if a.worlds:
        plan = {w: plan.get(w, FULL_WORLDS[w]) for w in a.worlds.split(",")}
    if a.repeats:
        plan = {w: a.repeats for w in plan}
    print(f"clusterlink benchmarks, {time.strftime('%Y-%m-%d %H:%M %Z')}")
    machine = _machine()  # the load average at the start, as the JSON says too
    print(f"machine: {machine}")
    print(f"plan: {', '.join(f'{w} x{r}' for w, r in plan.items())}; one process per run, one core\n", flush=True)

    results: dict[str, list[dict]] = {}
    for world, reps in plan.items():
        results[world] = [_spawn("model", world=world, seed=a.seed + i) for i in range(reps)]
        r = results[world]
        print(f"  {world:>8}: run {_median(r, 'run_s'):7.2f} s, step {1000 * _median(r, 'step_s'):8.1f} ms, "
              f"peak {_median(r, 'peak_mib'):6.0f} MiB", flush=True)
        for w in {x["warning"] for x in r if x.get("warning")}:
            print(f"  warning: {w}")

    ref_worlds = ["1k"] if a.quick else ["1k", "5k"]
    refs = {w: _spawn("reference", world=w, seed=a.seed, months=a.reference_months) for w in ref_worlds}
    rec = None if a.quick else _recording(a.seed)

    print("\nOne run to the scenario's end (medians over repeats; times are wall clock)")
    head = (f"{'world':>8} {'firms':>7} {'workers':>9} {'months':>6} {'reps':>4} {'init s':>7} {'run s':>8} "
            f"{'step ms':>8} {'cpu s':>7} {'peak MiB':>8} {'contracts':>9}")
    print(head)
    print("-" * len(head))
    for world, r in results.items():
        print(f"{world:>8} {r[0]['firms']:>7} {r[0]['workers']:>9} {r[0]['months']:>6} {len(r):>4} "
              f"{_median(r, 'init_s'):>7.2f} {_median(r, 'run_s'):>8.2f} {1000 * _median(r, 'step_s'):>8.1f} "
              f"{_median(r, 'cpu_s'):>7.2f} {_median(r, 'peak_mib'):>8.0f} {int(_median(r, 'contracts_end')):>9}")

    print("\nTime per phase of the step (ms per month, medians)")
    head = f"{'world':>8} " + " ".join(f"{p:>10}" for p in PHASES)
    print(head)
    print("-" * len(head))
    for world, r in results.items():
        print(f"{world:>8} " + " ".join(f"{1000 * statistics.median(x['phases_s'][p] for x in r):>10.2f}"
                                       for p in PHASES))

    print("\nTender candidates drawn (the sourcing rules' work: each is located, priced, noised, looked up and ranked)")
    head = f"{'world':>8} {'at start':>12} {'per month':>12} {'sourcing ns per candidate':>26}"
    print(head)
    print("-" * len(head))
    for world, r in results.items():
        per_month = _median(r, "drawn_month")
        ns = 1e9 * statistics.median(x["phases_s"]["sourcing"] for x in r) / per_month if per_month else float("nan")
        print(f"{world:>8} {int(_median(r, 'drawn_start')):>12} {int(per_month):>12} {ns:>26.0f}")

    scaled = [w for w in results if w != "baseline"]
    exponent = _slope([results[w][0]["firms"] for w in scaled], [_median(results[w], "step_s") for w in scaled])
    if exponent is not None:
        print(f"\nScaling exponent of step time in firms ({', '.join(scaled)}): {exponent:.2f}")

    print(f"\nPlain-Mesa reference vs the model (same world, same process, first {a.reference_months} months)")
    head = f"{'world':>8} {'model ms/step':>14} {'reference ms/step':>18} {'ratio':>7}"
    print(head)
    print("-" * len(head))
    for world, x in refs.items():
        print(f"{world:>8} {1000 * x['model_step_s']:>14.1f} {1000 * x['reference_step_s']:>18.1f} {x['ratio']:>6.1f}x")

    if rec:
        print("\nRecording at full detail (baseline)")
        print(f"  recorder off {rec['off_s']:.2f} s; on {rec['on_s']:.2f} s + run folder written {rec['write_s']:.2f} s; "
              f"overhead {100 * rec['overhead']:.1f}% of the recorded run (median of {len(rec['pairs'])} paired "
              f"runs: {', '.join(f'{100 * x:.1f}%' for x in rec['pairs'])}; a negative one is run-to-run noise)")
        print(f"  in CPU time {100 * rec['overhead_cpu']:.1f}% (pairs: "
              f"{', '.join(f'{100 * x:.1f}%' for x in rec['pairs_cpu'])})")
        print(f"  rows: {rec['rows']}")

    figures = {
        "baseline_run_s": _median(results["baseline"], "run_s") if "baseline" in results else None,
        "speedup_vs_mesa_reference": refs[ref_worlds[-1]]["ratio"],  # the largest world compared
        "speedup_world": ref_worlds[-1],
        "speedup_by_world": {w: x["ratio"] for w, x in refs.items()},
        "scaling_exponent": exponent,
        "run_100k_s": _median(results["100k"], "run_s") if "100k" in results else None,
        "peak_mib_100k": _median(results["100k"], "peak_mib") if "100k" in results else None,
        "recording_overhead": rec["overhead"] if rec else None,
        "date": time.strftime("%Y-%m-%d"), "machine": machine, "quick": a.quick,
    }
    print("\nFigures: " + json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in figures.items()
                                      if k not in ("machine",)}))
    full = dict(figures, worlds={w: r for w, r in results.items()}, reference=refs, recording=rec)
    if a.json:
        a.json.write_text(json.dumps(full, indent=2))
        print(f"wrote {a.json}")
    if a.plot:
        from benchmarks.plot import draw

        print(f"wrote {draw(json.loads(json.dumps(full)), a.plot)}")  # what the JSON file holds
    print(f"benchmark took {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
