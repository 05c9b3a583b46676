"""The sweep commands of ``clusterlink``: sweep, status, query, analyze.

``experiments.cli`` calls ``register(app)``; ``python -m experiments.cli_sweep`` runs them alone.

Exit codes (as ``clusterlink run``): 0 success; 1 the work could not be done (the folder holds
another sweep, no Dask workers, a damaged run table, a file that cannot be written, ...); 2 invalid
input (the sweep file, or a scenario it names; a folder that is not a sweep; a bad SQL query,
option or outcome); and for ``sweep``, 3: the sweep went through but some runs failed
(``clusterlink status DIR``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from model.yamlio import ConfigError

if TYPE_CHECKING:
    from experiments.sweep_index import SweepFolder

EXIT_FAILED, EXIT_INVALID, EXIT_RUNS_FAILED = 1, 2, 3


def _fail(message: str, code: int = EXIT_FAILED) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _require_sweep(folder: Path):
    """The sweep folder ``folder``, or exit 2 (invalid input) saying what is there instead."""
    from experiments.sweep_index import SweepError, require_sweep

    try:
        return require_sweep(folder)
    except SweepError as err:
        _fail(str(err), EXIT_INVALID)


def _scheduler_option(value: str | None) -> str | None:
    """--scheduler: refused before anything is read or made unless it looks like tcp://HOST:PORT."""
    from experiments.executors import scheduler_problem

    if value is not None and scheduler_problem(value):
        raise typer.BadParameter(scheduler_problem(value))
    return value


def sweep(
    file: Annotated[Path, typer.Argument(help="sweep file (YAML)", exists=True, dir_okay=False)],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="sweep folder (default: results/sweeps/NAME)")] = None,
    workers: Annotated[int | None, typer.Option("--workers", "-w", min=1,
                                                help="local processes (default: all cores); with --dask, LocalCluster size")] = None,
    scheduler: Annotated[str | None, typer.Option("--scheduler", help="Dask scheduler address, tcp://HOST:PORT",
                                                   callback=_scheduler_option)] = None,
    dask: Annotated[bool, typer.Option("--dask", help="run on a new Dask LocalCluster")] = False,
    in_process: Annotated[bool, typer.Option("--in-process", help="run in this process, one run at a time")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="continue the sweep in --out (it must exist)")] = False,
    idle_timeout: Annotated[float, typer.Option(help="Dask: abort after this many seconds without workers")] = 600.0,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
) -> None:
    """Run a sweep: every (policy, point, replicate) once; finished runs are skipped on a re-run."""
    from experiments.executors import SweepAborted
    from experiments.sweep import SweepError, run_sweep

    if sum([bool(scheduler), dask, in_process]) > 1:
        _fail("choose one of --scheduler, --dask, --in-process")
    kind = "inprocess" if in_process else "dask" if (dask or scheduler) else "pool"
    try:
        summary = run_sweep(file, out, workers=workers, scheduler=scheduler, executor=kind, resume=resume,
                            progress=progress, idle_timeout=idle_timeout)
    except ConfigError as err:
        _fail(str(err), EXIT_INVALID)
    except (SweepError, SweepAborted) as err:
        _fail(str(err))
    except KeyboardInterrupt:
        typer.echo("interrupted: finished runs are kept; run the same command again to resume", err=True)
        raise typer.Exit(130) from None
    typer.echo(f"{summary.out}: {summary.complete}/{summary.total} complete, {summary.failed} failed, "
               f"{summary.pending} pending; ran {summary.ran} now ({summary.skipped} were already complete) "
               f"in {summary.elapsed_s:.1f} s")
    if summary.failed:
        typer.echo(f"some runs failed: clusterlink status {summary.out} --errors; re-run with --resume to retry",
                   err=True)
        raise typer.Exit(EXIT_RUNS_FAILED)


def status(
    folder: Annotated[Path, typer.Argument(help="sweep folder")],
    errors: Annotated[bool, typer.Option("--errors", help="list failed runs with the last line of their error")] = False,
    traceback: Annotated[str | None, typer.Option(help="print the traceback of this run id")] = None,
) -> None:
    """Runs complete, failed and pending in a sweep folder, by policy."""
    from rich.console import Console
    from rich.table import Table

    from experiments.sweep import SweepError, sweep_status

    _require_sweep(folder)
    try:
        index = sweep_status(folder)
    except SweepError as err:
        _fail(str(err))
    if traceback:
        row = index[index["run_id"] == traceback]
        if row.empty:
            _fail(f"no run {traceback!r} in {folder}", EXIT_INVALID)
        text = row["traceback"].iloc[0]
        has = isinstance(text, str) and text.strip()  # a complete or pending run's is empty (NaN in the table)
        typer.echo(text if has else f"{traceback}: status {row['status'].iloc[0]}, no traceback")
        return
    counts = index.pivot_table(index="policy", columns="status", values="run_id", aggfunc="count", fill_value=0)
    table = Table(title=f"{folder} — {len(index)} runs")
    table.add_column("policy")
    for s in ("complete", "failed", "pending"):
        table.add_column(s, justify="right")
    for policy, row in counts.iterrows():
        table.add_row(str(policy), *(str(int(row.get(s, 0))) for s in ("complete", "failed", "pending")))
    Console().print(table)
    if errors:
        for r in index[index["status"] == "failed"].itertuples():
            last = (r.error or "").strip().splitlines()[-1:] or [""]
            typer.echo(f"{r.run_id} (attempts {r.attempts}): {last[0]}")


NOT_CSV = (".parquet", ".json", ".jsonl", ".ndjson", ".xlsx", ".xls", ".arrow", ".feather", ".yaml", ".yml")


def _own_file(sweep_folder: SweepFolder, path: Path) -> bool:
    """True if ``path`` is one of the sweep folder's own files, or inside its runs/."""
    target = path.resolve()
    return target in sweep_folder.files or target.is_relative_to(sweep_folder.runs)


def query(
    folder: Annotated[Path, typer.Argument(help="sweep folder")],
    sql: Annotated[str, typer.Argument(help="SQL over the views runs, indicators, indicators_province, firms, "
                                            "contracts, flows, policy, locations (SQL that starts with a -- "
                                            "comment goes after a lone --: query DIR -- \"$SQL\")")],
    csv: Annotated[Path | None, typer.Option("--csv", help="write the whole result to this CSV file")] = None,
    limit: Annotated[int, typer.Option(min=0, help="rows to print")] = 50,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="let --csv replace a file that exists")] = False,
) -> None:
    """Query a sweep with SQL (DuckDB)."""
    import duckdb
    import pandas as pd
    import pyarrow as pa

    from experiments import query as q
    from experiments.sweep import SweepError
    from experiments.sweep_index import damage_message

    sql = sql.strip().rstrip(";")
    if csv is not None and (csv.is_dir() or not csv.parent.is_dir()):
        _fail(f"--csv {csv}: " + ("is a folder; give a file name" if csv.is_dir()
                                  else f"its folder {csv.parent} does not exist"), EXIT_INVALID)
    if csv is not None and not os.access(csv.parent, os.W_OK | os.X_OK):
        _fail(f"--csv {csv}: its folder {csv.parent} is not writable")
    if csv is not None and csv.suffix.lower() in NOT_CSV:
        _fail(f"--csv {csv}: --csv writes CSV, not {csv.suffix} (give a file name ending .csv)", EXIT_INVALID)
    if csv is not None and (csv.exists() or csv.is_symlink()) and not overwrite:
        _fail(f"--csv {csv}: the file exists; give a new file name, or add --overwrite to replace it", EXIT_INVALID)
    sweep_folder = _require_sweep(folder)
    if csv is not None and _own_file(sweep_folder, csv):
        _fail(f"--csv {csv}: that is the sweep's own file; write the result elsewhere (a name of yours)",
              EXIT_INVALID)
    try:
        try:
            if csv:
                n = q.export_csv(folder, sql, csv)
                typer.echo(f"{n} row{'s' if n != 1 else ''} written to {csv}")
                return
            frame, total = q.query_head(folder, sql, limit)
        except (duckdb.IOException, duckdb.InvalidInputException, pa.ArrowException) as err:
            if csv is not None and str(csv) in str(err):
                raise SweepError(f"--csv {csv}: cannot write it: {str(err).splitlines()[0]}") from None
            message = damage_message(sweep_folder, err)
            if message == str(err) and isinstance(err, duckdb.InvalidInputException):
                raise q.QueryError(message) from None  # no run table is damaged: the query's own error
            raise SweepError(message) from None
    except (q.QueryError, duckdb.Error) as err:  # the query itself: syntax, unknown column, not a SELECT
        _fail(str(err), EXIT_INVALID)
    except SweepError as err:
        _fail(str(err))
    if not total:
        typer.echo("  ".join(map(str, frame.columns)))
        typer.echo("(no rows)")
        return
    if not limit:
        typer.echo(f"{total} row{'s' if total != 1 else ''} (--limit 0 prints none)")
        return
    with pd.option_context("display.width", 250, "display.max_columns", None, "display.max_colwidth", 60):
        typer.echo(frame.to_string(index=False))
    if total > limit:
        more = total - limit
        typer.echo(f"... {more} more row{'s' if more != 1 else ''} (use --limit or --csv)")


def analyze(
    folder: Annotated[Path, typer.Argument(help="sweep folder")],
    outcome: Annotated[list[str] | None, typer.Option("--outcome", "-i",
                                                      help="INDICATOR\\[@YYYY-MM|@end] (repeat; default: the sweep file's outcomes)")] = None,
    method: Annotated[str, typer.Option(help="auto (from the design), sobol, morris or none")] = "auto",
    prim_threshold: Annotated[float | None, typer.Option(help="PRIM: outcome threshold (default: upper quartile)")] = None,
    prim_below: Annotated[bool, typer.Option(help="PRIM: cases of interest are at or below the threshold")] = False,
    out: Annotated[Path | None, typer.Option("--out", "-o", "--dest",
                                             help="output folder (default: DIR/analysis)")] = None,
) -> None:
    """Sensitivity indices, PRIM scenario discovery and fan charts: Markdown + PNG + CSV."""
    import math

    from experiments.analysis import OutcomeSpec
    from experiments.analysis import analyze as run_analysis
    from experiments.sweep import SweepError
    from model.metrics import INDICATOR_COLUMNS

    if method not in ("auto", "sobol", "morris", "none"):
        _fail(f"--method {method!r}: allowed auto, sobol, morris, none", EXIT_INVALID)
    if prim_threshold is not None and not math.isfinite(prim_threshold):
        _fail(f"--prim-threshold {prim_threshold}: expected a finite number", EXIT_INVALID)
    if out is not None and not out.exists() and str(out).split("@")[0] in INDICATOR_COLUMNS:
        _fail(f"--out {out}: that is an outcome, not a folder; -o is the output folder (as in run, sweep "
              "and compare): give outcomes with --outcome or -i", EXIT_INVALID)
    _require_sweep(folder)
    try:
        outcomes = [OutcomeSpec.parse(o) for o in outcome] if outcome else None
        report = run_analysis(folder, outcomes, method, prim_threshold, prim_below, out)
    except ValueError as err:
        _fail(str(err), EXIT_INVALID)
    except SweepError as err:
        _fail(str(err))
    typer.echo(f"report: {report}")


def register(app: typer.Typer) -> None:
    """Add the sweep commands to the ``clusterlink`` app."""
    app.command("sweep")(sweep)
    app.command("status")(status)
    app.command("query")(query)
    app.command("analyze")(analyze)


def main() -> None:
    app = typer.Typer(add_completion=False, help="clusterlink sweeps")
    register(app)
    app()


if __name__ == "__main__":
    main()
