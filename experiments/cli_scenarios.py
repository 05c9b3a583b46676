"""The scenario-library commands of ``clusterlink``: compare, calibrate, validation.

``experiments.cli`` calls ``register(app)``; ``python -m experiments.cli_scenarios`` runs them alone.
Exit codes: 0 success; 1 the work could not be done; 2 invalid input (a bad scenario or
calibration file, an unknown indicator or year).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from model.yamlio import ConfigError, did_you_mean

EXIT_FAILED, EXIT_INVALID = 1, 2
DEFAULT_COMPARE_OUT = Path("results/compare")


def _fail(message: str, code: int = EXIT_INVALID) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _split_years(years: str | None) -> list[int] | None:
    if not years:
        return None
    try:
        out = list(dict.fromkeys(int(y) for y in years.replace(" ", "").split(",") if y))  # once each, in order
    except ValueError:
        out = []
    if not out:
        raise _fail(f"--years expects years separated by commas (e.g. 2025,2030); got {years!r}")
    return out


def compare(
    scenarios: Annotated[list[Path], typer.Argument(help="scenario files; differences are to the first",
                                                    exists=True, dir_okay=False, show_default=False)],
    seeds: Annotated[int, typer.Option("--seeds", "-n", min=1, help="seeds per scenario (1..N, shared by all)")] = 10,
    years: Annotated[str | None, typer.Option(help="years to report, e.g. 2025,2030 \\[the middle and last year the "
                                                   "runs cover whole]; a year covered only in part is the mean of "
                                                   "its simulated months, and a note says which")] = None,
    indicators: Annotated[list[str] | None, typer.Option("--indicator", "-i",
                                                         help="indicator to report (repeatable) \\[the main ones]")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="folder for summary.csv, yearly.csv and fan charts")]
    = DEFAULT_COMPARE_OUT,
    sets: Annotated[list[str] | None, typer.Option("--set", help="override applied to every scenario: KEY.PATH=VALUE")] = None,
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, help="processes")] = 2,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
) -> None:
    """Run scenarios over the same seeds; print median, 90% band and the paired difference to the
    first scenario (with its band) for the main indicators at chosen years; write CSV and fan charts.

    A year's value is the mean over its simulated months (cumulative policy spending: the total at
    the last of them). By default the years reported are whole
    years (a run ending in, say, February leaves its last year out); a year the runs cover only in
    part, asked for with --years, is reported with a note naming the months it covers."""
    from experiments import output_folder
    from experiments.compare import MAIN_INDICATORS, cost_per_point, write_outputs
    from experiments.compare import compare as run_compare
    from model.scenario import ScenarioError, load_scenario

    loaded = []
    for path in scenarios:
        try:
            loaded.append(load_scenario(path, list(sets or [])))
        except ScenarioError as err:
            raise _fail(f"invalid scenario {path}:\n{err}") from None
    _check_compare_inputs(scenarios, loaded, indicators, _split_years(years), out)
    try:
        cmp = run_compare(scenarios, list(range(1, seeds + 1)), tuple(indicators or MAIN_INDICATORS),
                          _split_years(years), tuple(sets or ()), workers, progress)
    except ValueError as err:
        raise _fail(str(err)) from None
    try:
        files = write_outputs(cmp, out, _legacy_compare(out))
    except output_folder.OutputFolderError as err:  # changed while the runs ran
        raise _fail(str(err), EXIT_FAILED) from None
    except OSError as err:  # a full disk: each table is written whole or not at all (atomic_write)
        why = err.strerror or (str(err).splitlines() or [type(err).__name__])[0]
        raise _fail(f"--out {out}: cannot write the comparison's files: {why}; free space or choose another --out",
                    EXIT_FAILED) from None
    _print_comparison(cmp, seeds)
    for note in cmp.notes:
        typer.echo(f"note: {note}")
    for year in sorted(cmp.summary["year"].unique()):
        for sc, cost in cost_per_point(cmp, int(year)).items():
            if cost == cost:  # not NaN
                typer.echo(f"{sc}, {year}: VND {cost:,.0f} bn of policy spending per percentage point of localisation")
    n_fans = len(files) - 2
    typer.echo(f"wrote {files[0]}, {files[1]} and {n_fans} fan chart{'' if n_fans == 1 else 's'} in {out}")


def _legacy_compare(out: Path):
    """At compare's default place, an unmarked folder of a comparison's files is an earlier comparison."""
    if out.resolve() != DEFAULT_COMPARE_OUT.resolve():
        return None
    return lambda name: name in ("summary.csv", "yearly.csv") or re.fullmatch(r"fan_[a-z0-9_]+\.png", name) is not None


def _check_compare_inputs(paths: list[Path], loaded: list, indicators: list[str] | None,
                          years: list[int] | None, out: Path) -> None:
    """Refuse, before anything is simulated, what would only fail after every run: an unknown
    indicator, a year some scenario does not simulate, an output folder that cannot be written."""
    from model.metrics import INDICATOR_COLUMNS as known

    bad = [i for i in indicators or [] if i not in known]
    if bad:
        hint = did_you_mean(bad[0], known) if len(bad) == 1 else ""
        raise _fail(f"--indicator: unknown {', '.join(map(repr, bad))}{hint}; allowed: {', '.join(known)}")
    spans = {str(p): (int(sc.start[:4]), int(sc.end[:4])) for p, sc in zip(paths, loaded, strict=True)}
    first, last = max(a for a, _ in spans.values()), min(b for _, b in spans.values())
    horizons = "; ".join(f"{p} {a}–{b}" for p, (a, b) in spans.items())
    if first > last:
        raise _fail(f"the scenarios simulate no year in common ({horizons}): they cannot be compared")
    outside = [y for y in years or [] if not first <= y <= last]
    if outside:
        raise _fail(f"--years {','.join(map(str, outside))}: every scenario must simulate the year; "
                    f"the years in common are {first}–{last} ({horizons})")
    from experiments import output_folder

    try:
        output_folder.check(out, "comparison", "--out", _legacy_compare(out))
        out.mkdir(parents=True, exist_ok=True)
    except output_folder.OutputFolderError as err:
        raise _fail(str(err), EXIT_FAILED) from None
    except OSError as err:
        raise _fail(f"--out {out}: cannot create the folder: {err.strerror or err}; choose another --out",
                    EXIT_FAILED) from None


def _print_comparison(cmp, seeds: int) -> None:
    from rich.console import Console
    from rich.table import Table

    from experiments.compare import fmt

    first = cmp.scenarios[0]
    table = Table(title=f"{seeds} seeds per scenario; yearly means (running totals: at the year's end); median [5%–95%]; "
                        f"difference to {first} paired by seed", title_justify="left")
    for col in ("indicator", "year", "scenario", "median [90% band]", f"Δ vs {first} [90% band]", "P(Δ>0)"):
        table.add_column(col)
    for r in cmp.summary.itertuples():
        base = r.scenario == first
        diff = "" if base else f"{fmt(r.diff_median)} [{fmt(r.diff_q05)} – {fmt(r.diff_q95)}]"
        table.add_row(r.indicator, str(r.year), r.scenario, f"{fmt(r.median)} [{fmt(r.q05)} – {fmt(r.q95)}]",
                      diff, "" if base or r.p_positive != r.p_positive else f"{r.p_positive:.0%}")
    Console(width=160).print(table)


def calibrate(
    file: Annotated[Path, typer.Argument(help="calibration file (YAML)", exists=True, dir_okay=False)]
    = Path("scenarios/calibration/targets.yaml"),
    workdir: Annotated[Path | None, typer.Option(help="journal folder \\[results/calibration/NAME]")] = None,
    report: Annotated[Path | None, typer.Option(help="Markdown report (a PNG is written beside it) "
                                                     "\\[the calibration file's report:, else WORKDIR/report.md]")]
    = None,
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, help="processes")] = 2,
    progress: Annotated[bool, typer.Option(help="show progress bars")] = True,
) -> None:
    """Fit the calibration file's parameters to its targets (method of simulated moments); resumable:
    runs already in the journal are reused. Writes the fitted scenario and the report."""
    from experiments.calibrate import (
        Evaluator,
        Journal,
        JournalError,
        UndefinedTargetError,
        fit,
        report_table,
    )
    from experiments.calibration_report import write_outputs
    from experiments.calibration_spec import (
        files_read,
        folder_problem,
        load_calibration,
        report_problems,
    )

    try:
        spec = load_calibration(file)  # also refuses an output: or report: that cannot be written
    except ConfigError as err:
        raise _fail(f"invalid calibration file:\n{err}") from None
    work = workdir or Path("results") / "calibration" / spec.name
    if why := folder_problem(work):  # before any run: the journal goes there from the first batch
        raise _fail(f"{'--workdir' if workdir else 'the work folder'} {work} {why}", EXIT_FAILED)
    if report is not None or spec.report_path is None:  # (the file's report: is checked with the file)
        where = f"--report {report}" if report else f"the report {work / 'report.md'} (the file has no report:)"
        report = report or work / "report.md"
        if problems := report_problems(report, files_read(spec), {spec.output_path: "output: (the fitted scenario)"}):
            raise _fail(f"{where} {problems[0]}", EXIT_FAILED)
    else:
        report = spec.report_path
    try:
        res = fit(spec, work, workers, progress, log=typer.echo)
        ev = Evaluator(spec, Journal(work / "journal.jsonl"), workers, progress)
        report_seeds = list(range(1, spec.report_seeds + 1))
        default_fr, fitted_fr = ev.measures([res.default, res.best], report_seeds)
    except KeyboardInterrupt:
        typer.echo("interrupted: finished runs are in the journal; run the same command again to resume", err=True)
        raise typer.Exit(130) from None
    except JournalError as err:
        raise _fail(str(err), EXIT_FAILED) from None
    except UndefinedTargetError as err:
        raise _fail(f"{file}: {err}", EXIT_INVALID) from None
    table = report_table(spec, default_fr, fitted_fr)
    try:
        work.mkdir(parents=True, exist_ok=True)  # (there already unless every run came from the journal)
        res.history.to_csv(work / "candidates.csv", index=False)
        scenario, md, png = write_outputs(spec, res, table, report, command=f"clusterlink calibrate {file.as_posix()}")
    except OSError as err:
        raise _fail(f"cannot write the results ({err}); none of the fitted scenario and the report was changed; "
                    "the runs are in the journal, so the same command writes them without running again",
                    EXIT_FAILED) from None
    for k, v in res.best.items():
        typer.echo(f"  {k} = {v:.4g} (default {res.default[k]:.4g})")
    typer.echo(f"{int(table['inside'].sum())}/{len(table)} targets inside their range; "
               f"wrote {scenario}, {md}, {png}")


def validation(
    seeds: Annotated[int, typer.Option("--seeds", "-n", min=2, help="seeds per experiment")] = 20,
    end: Annotated[str, typer.Option(help="last simulated month of the short experiments")] = "2024-12",
    package_seeds: Annotated[int, typer.Option(help="seeds for the combined package to 2030 (0: skip)")] = 10,
    package_csv: Annotated[Path | None, typer.Option(help="reuse the summary.csv of an earlier `clusterlink compare "
                                                     "scenarios/baseline.yaml scenarios/combined_package.yaml`")] = None,
    out: Annotated[Path, typer.Option(help="Markdown document (figures go beside it)")] = Path("docs/VALIDATION.md"),
    notes: Annotated[Path, typer.Option(help="hand-written notes appended to the document (if the file exists)")]
    = Path("docs/validation_notes.md"),
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, help="processes")] = 2,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
) -> None:
    """Re-run the validation experiments (stylized facts, each lever's direction and size, the
    combined package to 2030) and regenerate docs/VALIDATION.md."""
    from experiments.compare import compare as run_compare
    from experiments.validation import run_validation
    from experiments.validation_doc import write_document

    try:
        result = run_validation(seeds=seeds, end=end, workers=workers, progress=progress)
    except ValueError as err:  # an --end too early for the lever checks, found before any run
        raise _fail(str(err)) from None
    package = None
    if package_csv is not None:
        import pandas as pd

        package = pd.read_csv(package_csv)
        package_seeds = int(package["n"].max())
    elif package_seeds:
        package = run_compare(["scenarios/baseline.yaml", "scenarios/combined_package.yaml"],
                              list(range(1, package_seeds + 1)), years=[2025, 2030], workers=workers,
                              progress=progress).summary
    text = notes.read_text(encoding="utf-8") if notes.is_file() else ""
    command = f"clusterlink validation --seeds {seeds} --end {end} --package-seeds {package_seeds}"
    path = write_document(result, out, command, package, package_seeds, text)
    n_ok = sum(c.passed for c in result.checks)
    typer.echo(f"{n_ok}/{len(result.checks)} checks pass; wrote {path}")


def register(app: typer.Typer) -> None:
    """Add the scenario-library commands to the ``clusterlink`` app."""
    app.command("compare")(compare)
    app.command("calibrate")(calibrate)
    app.command("validation")(validation)


def main() -> None:
    app = typer.Typer(add_completion=False, help="clusterlink scenario library")
    register(app)
    app()


if __name__ == "__main__":
    main()
