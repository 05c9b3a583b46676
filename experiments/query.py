"""DuckDB views over a sweep folder, so that results are queried with plain SQL.

Views (all lazy: DuckDB streams the run folders' Parquet files, nothing is loaded up front):
- ``runs``: one row per run of the design: run_id, policy, point, replicate, seed, status,
  error, attempts, wall_time_s, worker, and one column per uncertain parameter;
- ``indicators``, ``indicators_province``, ``firms``, ``contracts``, ``flows``, ``policy``,
  ``locations``: the run tables of every *complete* run, each row prefixed with its run's
  run_id, policy, point, replicate, seed and parameter values.

    SELECT policy, median(localisation_rate) FROM indicators WHERE date = '2030-12' GROUP BY policy

A query reads: one SELECT statement (``QueryError`` otherwise), on a connection that installs and
loads no extensions; only ``export_csv`` writes, to the file it is given.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq

from experiments.store import RUN_TABLES
from experiments.sweep_index import SweepError, SweepFolder, current_status, param_columns


class QueryError(SweepError, ValueError):
    """A query that is not one read-only SELECT statement, or names a view the sweep does not have."""

TABLES = RUN_TABLES  # one view per run table
RUN_KEYS = ["run_id", "policy", "point", "replicate", "seed"]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def runs_frame(folder: SweepFolder) -> tuple[pd.DataFrame, list[str]]:
    """The ``runs`` table (the current index without tracebacks) and its parameter columns."""
    index = current_status(folder, folder.read_design())
    params = param_columns(folder.read_design())
    return index.drop(columns=["traceback", "started", "finished"]), params


def connect(out: str | Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the sweep's views."""
    folder = SweepFolder(out)
    if not folder.exists():
        raise SweepError(f"{folder.root} holds no sweep (no design.parquet)")
    runs, params = runs_frame(folder)
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    con.register("_runs_df", runs)
    con.execute("CREATE VIEW runs AS SELECT * FROM _runs_df")
    complete = runs.loc[runs["status"] == "complete", "run_id"]
    for table in TABLES:
        # only the files of complete runs: a stray folder or a damaged pending run is not read
        files = [str(f) for r in complete if (f := folder.runs / r / f"{table}.parquet").is_file()]
        if not files:
            continue  # no complete run has this table (yet)
        cols = set(pq.read_schema(files[0]).names)
        # a run key the table has a column of its own for (policy.parquet's lever `policy`) comes as run_<key>
        keys = [f"r.{_q(c)}" if c not in cols or c == "run_id" else f"r.{_q(c)} AS {_q('run_' + c)}"
                for c in RUN_KEYS + params]
        drop = ", ".join(["filename"] + (["run_id"] if "run_id" in cols else []))
        con.execute(f"""
            CREATE VIEW {_q(table)} AS
            SELECT {", ".join(keys)}, t.* EXCLUDE ({drop})
            FROM read_parquet([{", ".join(map(_lit, files))}], filename = true, union_by_name = true) AS t
            JOIN runs AS r ON r.run_id = regexp_extract(t.filename, '([^/]+)/[^/]+$', 1)""")
    return con


def _check_select(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """``QueryError`` unless ``sql`` is one SELECT statement (a query must not write files, attach
    databases, install extensions or change settings)."""
    statements = con.extract_statements(sql)  # a syntax error raises duckdb.ParserException
    if len(statements) != 1:
        raise QueryError(f"the query holds {len(statements)} statements; give one SELECT statement")
    if statements[0].type != duckdb.StatementType.SELECT:
        kind = str(statements[0].type).rsplit(".", 1)[-1]
        raise QueryError(f"the query is not a SELECT statement but {kind}; only SELECT queries are allowed "
                         "(they read the sweep's views; use --csv to write a result to a file)")


def _run(con: duckdb.DuckDBPyConnection, folder: str | Path, sql: str) -> duckdb.DuckDBPyRelation:
    """The checked query as a relation; a missing view of the sweep is named as such."""
    _check_select(con, sql)
    try:
        return con.sql(sql)
    except duckdb.CatalogException as err:
        missing = [t for t in TABLES if f"name {t} does not exist" in str(err)]
        if missing:
            raise QueryError(f"no complete run of {Path(folder).resolve()} has a {missing[0]} table "
                             f"({missing[0]}.parquet), so the view {missing[0]} is empty and not defined") from None
        raise


def query(out: str | Path, sql: str) -> pd.DataFrame:
    """Run one SQL statement over a sweep folder's views and return the result."""
    con = connect(out)
    try:
        return _run(con, out, sql).df()
    finally:
        con.close()


def query_head(out: str | Path, sql: str, limit: int) -> tuple[pd.DataFrame, int]:
    """The first ``limit`` rows of a query and its number of rows, without holding the whole result
    (DuckDB counts it in a second, streaming pass): what ``clusterlink query`` prints."""
    con = connect(out)
    try:
        rel = _run(con, out, sql)
        total = int(rel.aggregate("count(*)").fetchall()[0][0])
        return rel.limit(limit).df(), total
    finally:
        con.close()


def export_csv(out: str | Path, sql: str, path: str | Path) -> int:
    """Write a query's result to CSV (streamed by DuckDB); return the number of rows."""
    con = connect(out)
    try:
        _run(con, out, sql).create_view("_result")
        # COPY returns the rows it wrote (reading the file back miscounts when the header looks like data)
        return int(con.execute(f"COPY _result TO {_lit(str(path))} (FORMAT CSV, HEADER, DELIMITER ',')").fetchone()[0])
    finally:
        con.close()
