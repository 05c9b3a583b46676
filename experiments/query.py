"""DuckDB views over a sweep folder, so that results are queried with plain SQL.

Views (all lazy: DuckDB streams the run folders' Parquet files, nothing is loaded up front):
- ``runs``: one row per run of the design: run_id, policy, point, replicate, seed, status,
  error, attempts, wall_time_s, worker, and one column per uncertain parameter;
- ``indicators``, ``indicators_province``, ``firms``, ``contracts``, ``flows``, ``policy``,
  ``locations``: the run tables of every *complete* run, each row prefixed with its run's
  run_id, policy, point, replicate, seed and parameter values.

    SELECT policy, median(localisation_rate) FROM indicators WHERE date = '2030-12' GROUP BY policy
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq

from experiments.sweep_index import SweepError, SweepFolder, current_status, param_columns

TABLES = ("indicators", "indicators_province", "firms", "contracts", "flows", "policy", "locations")
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
    con = duckdb.connect()
    con.register("_runs_df", runs)
    con.execute("CREATE VIEW runs AS SELECT * FROM _runs_df")
    complete = runs.loc[runs["status"] == "complete", "run_id"]
    for table in TABLES:
        sample = next((folder.runs / r / f"{table}.parquet" for r in complete
                       if (folder.runs / r / f"{table}.parquet").is_file()), None)
        if sample is None:
            continue  # no complete run has this table (yet)
        cols = set(pq.read_schema(sample).names)
        keep = [c for c in RUN_KEYS + params if c not in cols or c == "run_id"]
        pattern = str(folder.runs / "[!.]*" / f"{table}.parquet")  # skip .tmp-* folders being written
        drop = ", ".join(["filename"] + (["run_id"] if "run_id" in cols else []))
        con.execute(f"""
            CREATE VIEW {_q(table)} AS
            SELECT {", ".join("r." + _q(c) for c in keep)}, t.* EXCLUDE ({drop})
            FROM read_parquet({_lit(pattern)}, filename = true, union_by_name = true) AS t
            JOIN runs AS r ON r.run_id = regexp_extract(t.filename, '([^/]+)/[^/]+$', 1)
            WHERE r.status = 'complete'""")
    return con


def query(out: str | Path, sql: str) -> pd.DataFrame:
    """Run one SQL statement over a sweep folder's views and return the result."""
    con = connect(out)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


def export_csv(out: str | Path, sql: str, path: str | Path) -> int:
    """Write a query's result to CSV (streamed by DuckDB); return the number of rows."""
    con = connect(out)
    try:
        # COPY returns the rows it wrote (reading the file back miscounts when the header looks like data)
        return int(con.execute(f"COPY ({sql}) TO {_lit(str(path))} (HEADER, DELIMITER ',')").fetchone()[0])
    finally:
        con.close()
