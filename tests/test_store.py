"""The results store: atomic run folders, what readers see after a crash, overwrite, round trips."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from experiments import store
from experiments.store import (
    RunExistsError,
    StoreError,
    is_complete,
    list_runs,
    read_run,
    write_run,
)

ROOT = Path(__file__).resolve().parents[1]


def sample_tables(scale: float = 1.0) -> dict[str, pd.DataFrame]:
    """Tables with the dtypes a run has: ints, floats with NaN, strings with diacritics, bools."""
    indicators = pd.DataFrame({
        "step": np.arange(1, 5, dtype="int64"),
        "date": pd.array(["2023-01", "2023-02", "2023-03", "2023-04"], dtype="str"),
        "localisation_rate": np.array([0.07, 0.071, np.nan, 0.075]) * scale,
        "n_fdi_firms": np.array([10.0, 11.0, 11.0, 12.0]),
    })
    firms = pd.DataFrame({
        "step": np.array([1, 1, 4], dtype="int64"),
        "firm_id": np.array([1, 2, 3], dtype="int64"),
        "province": pd.array(["Thái Nguyên", "Bắc Giang", "Bắc Ninh"], dtype="str"),
        "tier": np.array([1, 2, 1], dtype="int8"),
        "alive": np.array([True, False, True]),
        "tech": np.array([0.9, 0.31, 0.4]) * scale,
    })
    empty = pd.DataFrame({"step": pd.Series(dtype="int64"), "policy": pd.Series(dtype="str"),
                          "spend": pd.Series(dtype="float64")})
    return {"indicators": indicators, "firms": firms, "policy": empty}


def manifest(seed: int = 5) -> dict:
    return {"scenario": {"path": "s.yaml", "name": "s", "hash": "ab" * 32}, "seed": np.int64(seed),
            "start": "2023-01", "end": "2023-04", "n_months": 4, "overrides": ["end=2023-04"]}


def leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.name.startswith("."))


def test_round_trip_keeps_values_and_dtypes(tmp_path):
    tables = sample_tables()
    path = write_run(tmp_path, "r1", manifest(), tables)
    assert path == tmp_path / "r1" and is_complete(path)
    run = read_run(path)
    assert run.tables() == ["indicators", "firms", "policy"]
    for name, df in tables.items():
        back = run.table(name)
        pd.testing.assert_frame_equal(back, df, check_dtype=True, check_exact=True)
    assert run.table("firms") is run.table("firms")  # read once, then cached
    assert list(run.table("firms", columns=["tech"]).columns) == ["tech"]
    with pytest.raises(KeyError, match="has no table 'nope'.*indicators"):
        run.table("nope")
    assert not leftovers(tmp_path)



def test_every_integer_width_and_extreme_round_trips(tmp_path):
    """Integer columns are delta-encoded on disk: widths, signs, extremes and disorder come back as written."""
    rng = np.random.default_rng(3)
    cols = {f"{t}": np.iinfo(t).min + rng.integers(0, 3, 50, dtype=np.int64).astype(t) for t in
            ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32")}
    cols["big"] = np.array([np.iinfo(np.int64).max, np.iinfo(np.int64).min, 0, -1, 1] * 10, dtype=np.int64)
    cols["shuffled"] = rng.permutation(50).astype(np.int64) * -7919
    cols["top_uint"] = np.full(50, np.iinfo(np.uint64).max, dtype=np.uint64)
    cols["text"] = pd.array(rng.choice(["Thái Nguyên", "Bắc Giang", ""], 50), dtype="str")
    df = pd.DataFrame(cols)
    back = read_run(write_run(tmp_path, "r", manifest(), {"t": df})).table("t")
    pd.testing.assert_frame_equal(back, df, check_dtype=True, check_exact=True)

def test_manifest_is_completed_by_the_store(tmp_path):
    path = write_run(tmp_path, "0001", manifest(seed=9), sample_tables())
    raw = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    assert raw["run_id"] == "0001" and isinstance(raw["run_id"], str)  # never an int (Hive trap)
    assert raw["status"] == "complete"
    assert raw["seed"] == 9 and isinstance(raw["seed"], int)
    assert raw["tables"] == {"indicators": 4, "firms": 3, "policy": 0}
    assert raw["overrides"] == ["end=2023-04"]
    assert read_run(path).manifest == raw and read_run(path).run_id == "0001"


def test_run_id_must_be_a_plain_string(tmp_path):
    with pytest.raises(TypeError, match="run_id must be a str"):
        write_run(tmp_path, 1, manifest(), sample_tables())
    for bad in ("a/b", ".hidden", "..", ""):
        with pytest.raises(StoreError):
            write_run(tmp_path, bad, manifest(), sample_tables())
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "tab\there", "nul\x00", "del\x7f", "c1\x85", "c1\x9b[31m",
                                 "line\u2028sep", "para\u2029sep", " leading", "trailing ", "surrogate\udcff"])
def test_a_run_id_with_control_characters_is_refused(tmp_path, bad):
    """A newline in --run-id made a folder whose name breaks every shell loop and URL."""
    with pytest.raises(store.RunIdError, match="run id") as err:
        store.check_target(tmp_path / "out", bad)
    assert "\n" not in str(err.value)  # the message shows it escaped, on one line
    assert not (tmp_path / "out").exists()


def test_a_run_id_may_have_spaces_and_diacritics(tmp_path):
    for ok in ("Bắc Ninh run 1", "a b", "x.y-z_1+2", "名前"):
        assert write_run(tmp_path, ok, manifest(), sample_tables()).name == ok


def test_an_exception_mid_write_leaves_nothing(tmp_path, monkeypatch):
    calls = []

    def failing(path, df):
        calls.append(path)
        if len(calls) == 2:
            raise OSError("disk full")
        return original(path, df)

    original = store._write_table
    monkeypatch.setattr(store, "_write_table", failing)
    with pytest.raises(OSError, match="disk full"):
        write_run(tmp_path, "r", manifest(), sample_tables())
    assert list(tmp_path.iterdir()) == []


CRASH = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, {root!r}); sys.path.insert(0, {tests!r})
    from experiments import store
    from test_store import manifest, sample_tables
    where = sys.argv[2]
    print(os.getpid(), flush=True)
    def die(*a, **k):
        os._exit(9)  # a hard crash: no cleanup, no exception handlers
    setattr(store, where, die)
    store.write_run(sys.argv[1], "r", manifest(), sample_tables())
""")


@pytest.mark.parametrize("where", ["_write_json", "_move_into_place"])
def test_a_killed_writer_never_leaves_a_complete_looking_run(tmp_path, where):
    """Killed before the manifest, or after it but before the rename: readers see no run."""
    script = CRASH.format(root=str(ROOT), tests=str(ROOT / "tests"))
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path), where], capture_output=True, text=True)
    assert done.returncode == 9, done.stderr
    tmp = list(tmp_path.iterdir())
    assert [p.name for p in tmp] == [f".tmp-r-{int(done.stdout)}"]
    assert not (tmp_path / "r").exists()
    assert list_runs(tmp_path) == []
    with pytest.raises(StoreError):
        read_run(tmp[0] if where == "_write_json" else tmp_path / "r")
    # the writer is dead, so its temporary folder is stale and can go
    assert store.clean_stale_tmp(tmp_path) == tmp
    assert list(tmp_path.iterdir()) == []


def test_list_runs_skips_temporary_and_incomplete_folders(tmp_path):
    write_run(tmp_path, "b", manifest(), sample_tables())
    write_run(tmp_path, "a", manifest(), sample_tables())
    shutil.copytree(tmp_path / "a", tmp_path / ".tmp-c-123")  # complete manifest, still a temp name
    (tmp_path / "running").mkdir()
    (tmp_path / "running" / "manifest.json").write_text(json.dumps({"status": "running"}))
    shutil.copytree(tmp_path / "a", tmp_path / "missing_table")
    (tmp_path / "missing_table" / "firms.parquet").unlink()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "manifest.json").write_text("{not json")
    (tmp_path / "file.txt").write_text("x")
    assert list_runs(tmp_path) == [tmp_path / "a", tmp_path / "b"]
    assert list_runs(tmp_path / "nowhere") == []
    for name in ("running", "missing_table", "broken"):
        with pytest.raises(StoreError, match="not a complete run"):
            read_run(tmp_path / name)


def test_existing_run_is_kept_unless_overwrite(tmp_path):
    path = write_run(tmp_path, "r", manifest(seed=1), sample_tables(1.0))
    before = (path / "indicators.parquet").read_bytes()
    with pytest.raises(RunExistsError, match="already holds a complete run"):
        write_run(tmp_path, "r", manifest(seed=2), sample_tables(2.0))
    assert (path / "indicators.parquet").read_bytes() == before
    assert read_run(path).manifest["seed"] == 1

    write_run(tmp_path, "r", manifest(seed=2), sample_tables(2.0), overwrite=True)
    run = read_run(path)
    assert run.manifest["seed"] == 2
    pd.testing.assert_frame_equal(run.table("indicators"), sample_tables(2.0)["indicators"])
    assert not leftovers(tmp_path)


def test_a_failed_overwrite_keeps_the_old_run(tmp_path, monkeypatch):
    path = write_run(tmp_path, "r", manifest(seed=1), sample_tables())
    monkeypatch.setattr(store, "_write_json", lambda *a: (_ for _ in ()).throw(OSError("boom")))
    with pytest.raises(OSError, match="boom"):
        write_run(tmp_path, "r", manifest(seed=2), sample_tables(), overwrite=True)
    assert read_run(path).manifest["seed"] == 1
    assert not leftovers(tmp_path)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` and its bytes (to see that nothing in it changed)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_damaged_run_is_left_alone(tmp_path, overwrite):
    """A run folder that lost a table (its manifest says complete, a listed table is missing) was
    replaced without a word, the user's analysis.md in it deleted with it, even without overwrite."""
    path = write_run(tmp_path, "r", manifest(seed=1), sample_tables())
    (path / "firms.parquet").unlink()
    (path / "analysis.md").write_text("my notes", encoding="utf-8")
    before = snapshot(path)
    with pytest.raises(store.NotARunError) as err:
        write_run(tmp_path, "r", manifest(seed=2), sample_tables(), overwrite=overwrite)
    message = str(err.value)
    assert str(path) in message and "firms" in message and "analysis.md" in message and "left alone" in message
    assert snapshot(path) == before
    assert not leftovers(tmp_path)


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_folder_with_a_manifest_of_someone_elses_is_left_alone(tmp_path, overwrite):
    """Any folder with a file called manifest.json was taken for a (damaged) run and deleted."""
    mine = tmp_path / "myproj"
    mine.mkdir()
    (mine / "manifest.json").write_text('{"name": "my web app"}', encoding="utf-8")
    (mine / "notes.txt").write_text("precious", encoding="utf-8")
    (mine / "src").mkdir()
    (mine / "src" / "app.js").write_text("precious", encoding="utf-8")
    before = snapshot(mine)
    for run_id in ("myproj",):
        with pytest.raises(store.NotARunError) as err:
            store.check_target(tmp_path, run_id, overwrite)
        assert str(mine) in str(err.value) and "notes.txt" in str(err.value)
        with pytest.raises(store.NotARunError, match="left alone"):
            write_run(tmp_path, run_id, manifest(), sample_tables(), overwrite=overwrite)
    assert snapshot(mine) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["myproj"]


@pytest.mark.parametrize("extra", ["analysis.md", ".hidden", "plots/"])
def test_overwrite_replaces_only_a_run_with_nothing_of_the_users_in_it(tmp_path, extra):
    """A complete run folder the user added files to is refused even with overwrite, naming the files."""
    path = write_run(tmp_path, "r", manifest(seed=1), sample_tables())
    if extra.endswith("/"):
        (path / extra).mkdir()
        (path / extra / "fig.png").write_bytes(b"png")
    else:
        (path / extra).write_text("mine", encoding="utf-8")
    before = snapshot(path)
    for overwrite in (False, True):
        with pytest.raises(store.NotARunError) as err:
            write_run(tmp_path, "r", manifest(seed=2), sample_tables(), overwrite=overwrite)
        assert str(path) in str(err.value) and extra.rstrip("/") in str(err.value)
    assert snapshot(path) == before and read_run(path).manifest["seed"] == 1
    assert not leftovers(tmp_path)
    shutil.rmtree(path / extra) if extra.endswith("/") else (path / extra).unlink()  # taken out: replaceable
    write_run(tmp_path, "r", manifest(seed=2), sample_tables(), overwrite=True)
    assert read_run(path).manifest["seed"] == 2 and not leftovers(tmp_path)


def test_a_file_added_to_the_old_run_while_the_new_one_is_written_is_kept(tmp_path, monkeypatch):
    """Checked again at the swap: a complete run the user writes into during the run is not replaced."""
    path = write_run(tmp_path, "r", manifest(seed=1), sample_tables())
    real = store.fsync_dir

    def fsync_then_add(folder):
        real(folder)
        if folder.name.startswith(".tmp-") and not (path / "analysis.md").exists():
            (path / "analysis.md").write_text("written meanwhile", encoding="utf-8")

    monkeypatch.setattr(store, "fsync_dir", fsync_then_add)
    with pytest.raises(store.NotARunError, match="analysis.md"):
        write_run(tmp_path, "r", manifest(seed=2), sample_tables(), overwrite=True)
    assert (path / "analysis.md").read_text(encoding="utf-8") == "written meanwhile"
    assert read_run(path).manifest["seed"] == 1 and not leftovers(tmp_path)


@pytest.mark.parametrize("overwrite", [False, True])
def test_what_is_not_a_run_is_never_replaced(tmp_path, overwrite):
    """A folder without a manifest, a file or a link where the run would go is someone's own."""
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("precious")
    (tmp_path / "afile").write_text("precious")
    elsewhere = write_run(tmp_path / "other", "r", manifest(), sample_tables())
    (tmp_path / "link").symlink_to(elsewhere, target_is_directory=True)
    for name in ("mine", "afile", "link"):
        with pytest.raises(store.NotARunError, match="left alone"):
            write_run(tmp_path, name, manifest(), sample_tables(), overwrite=overwrite)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "precious"
    assert (tmp_path / "afile").read_text() == "precious"
    assert (tmp_path / "link").resolve() == elsewhere.resolve() and is_complete(elsewhere)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "link", "mine", "other"]


def test_a_folder_that_appears_during_the_write_is_left_alone(tmp_path, monkeypatch):
    """Checked again at the rename: another process may have put something there meanwhile."""
    real = store.fsync_dir

    def fsync_then_intrude(path):
        real(path)
        if path.name.startswith(".tmp-") and not (tmp_path / "r").exists():
            (tmp_path / "r").mkdir()
            (tmp_path / "r" / "notes.txt").write_text("precious")

    monkeypatch.setattr(store, "fsync_dir", fsync_then_intrude)
    with pytest.raises(store.NotARunError):
        write_run(tmp_path, "r", manifest(), sample_tables(), overwrite=True)
    assert (tmp_path / "r" / "notes.txt").read_text() == "precious"
    assert not leftovers(tmp_path)


def test_a_folder_that_appears_after_the_last_check_is_put_back(tmp_path, monkeypatch):
    """What the swap moved aside is checked too: a folder of the user's that slipped in after every
    check (no manifest) is renamed back, not deleted as an old run."""
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "notes.txt").write_text("precious")
    monkeypatch.setattr(store, "_refuse_what_is_not_a_run", lambda final: None)  # the checks all miss it
    with pytest.raises(store.NotARunError, match="is not a run folder"):
        write_run(tmp_path, "r", manifest(), sample_tables(), overwrite=True)
    assert (tmp_path / "r" / "notes.txt").read_text() == "precious"
    assert not leftovers(tmp_path)


def test_execute_run_checks_where_the_run_goes_before_simulating(tmp_path, monkeypatch):
    from experiments import runner

    calls = []
    monkeypatch.setattr(runner, "simulate", lambda *a, **k: calls.append(a))
    (tmp_path / "mine").mkdir()
    (tmp_path / "a_file").write_text("x")
    for out, run_id, err in ((tmp_path, "mine", store.NotARunError), (tmp_path, "../up", store.RunIdError),
                             (tmp_path, "x" * (store.MAX_RUN_ID_BYTES + 1), store.RunIdError),
                             (tmp_path / "a_file", "r", StoreError), (tmp_path / "a_file" / "sub", "r", StoreError)):
        with pytest.raises(err):
            runner.execute_run(ROOT / "tests" / "data" / "tiny.yaml", seed=1, out_dir=out, run_id=run_id)
    assert calls == []


def test_concurrent_writers_of_one_run_leave_one_complete_run(tmp_path):
    """Threads share a process id: their temporary folders must not collide."""
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def write(seed: int) -> None:
        barrier.wait()
        try:
            write_run(tmp_path, "r", manifest(seed=seed), sample_tables(float(seed)))
            outcomes.append("written")
        except RunExistsError:
            outcomes.append("exists")

    threads = [threading.Thread(target=write, args=(s,)) for s in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert "written" in outcomes and len(outcomes) == 4
    run = read_run(tmp_path / "r")
    seed = run.manifest["seed"]  # tables and manifest come from the same writer
    pd.testing.assert_frame_equal(run.table("indicators"), sample_tables(float(seed))["indicators"])
    assert list_runs(tmp_path) == [tmp_path / "r"] and not leftovers(tmp_path)


def test_concurrent_overwriters_of_one_run_each_succeed_and_leave_one_complete_run(tmp_path):
    """With overwrite, writers racing to replace one run each swap out what is there: none fails,
    and the folder ends as one writer's run (manifest and tables from the same writer)."""
    write_run(tmp_path, "r", manifest(seed=99), sample_tables(99.0))
    for attempt in range(5):
        outcomes: list[str] = []
        barrier = threading.Barrier(4)

        def write(seed: int, barrier: threading.Barrier, outcomes: list[str]) -> None:
            barrier.wait()
            try:
                write_run(tmp_path, "r", manifest(seed=seed), sample_tables(float(seed)), overwrite=True)
                outcomes.append("written")
            except Exception as err:  # noqa: BLE001 - the test reports what went wrong
                outcomes.append(f"{type(err).__name__}: {err}")

        threads = [threading.Thread(target=write, args=(10 * attempt + s, barrier, outcomes)) for s in range(1, 5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert outcomes == ["written"] * 4, outcomes
        run = read_run(tmp_path / "r")
        seed = run.manifest["seed"]
        assert seed in {10 * attempt + s for s in range(1, 5)}
        pd.testing.assert_frame_equal(run.table("indicators"), sample_tables(float(seed))["indicators"])
        assert list_runs(tmp_path) == [tmp_path / "r"] and not leftovers(tmp_path)


def test_clean_stale_tmp_keeps_live_writers(tmp_path):
    import os

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    live = tmp_path / f".tmp-a-{os.getpid()}"
    stale = [tmp_path / f".tmp-b-{dead_pid}", tmp_path / f".tmp-c-{dead_pid}-old", tmp_path / f".tmp-d-{dead_pid}.2"]
    for p in [live, *stale]:
        p.mkdir()
    write_run(tmp_path, "done", manifest(), sample_tables())
    assert store.clean_stale_tmp(tmp_path, min_age_s=3600) == []  # all too young
    assert store.clean_stale_tmp(tmp_path) == sorted(stale)
    assert live.exists() and is_complete(tmp_path / "done")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to tell a zombie")
def test_clean_stale_tmp_removes_a_zombie_writers_folder(tmp_path):
    """A SIGKILLed pool worker whose command died too is a zombie until some init reaps it (in a
    container, perhaps never): its pid answers os.kill, but it writes nothing any more."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.time() + 30
        while Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
            assert time.time() < deadline, "the child did not exit"
            time.sleep(0.05)
        left = tmp_path / f".tmp-a-{child.pid}"
        left.mkdir()
        assert store.clean_stale_tmp(tmp_path) == [left]
    finally:
        child.wait()


def test_versions_and_git_commit(tmp_path, monkeypatch):
    versions = store.collect_versions()
    assert list(versions) == ["clusterlink", "python", "mesa", "numpy", "pandas", "pyarrow", "scipy"]
    assert versions["python"] == ".".join(map(str, sys.version_info[:3]))
    assert versions["mesa"].startswith("3.3") and versions["numpy"] == np.__version__

    assert store.git_commit(tmp_path) is None  # not a checkout
    if shutil.which("git"):
        git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "-C", str(tmp_path)]
        subprocess.run([*git, "init", "-q"], check=True)
        subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "x"], check=True)
        head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        assert store.git_commit(tmp_path) == head
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # git not installed
    assert store.git_commit(tmp_path) is None
    assert store.git_commit() is None


def test_a_damaged_table_is_a_store_error_naming_the_file(tmp_path):
    """A folder that looks complete but holds a corrupt Parquet file (the dashboard shows the message)."""
    path = write_run(tmp_path, "r", manifest(), sample_tables())
    (path / "firms.parquet").write_bytes(b"PAR1 not really parquet PAR1")
    run = read_run(path)
    assert run.table("indicators").shape[0] == 4  # the other tables still read
    with pytest.raises(StoreError, match=r"firms\.parquet cannot be read .*damaged"):
        run.table("firms")


def test_the_documented_columns_are_what_a_run_writes(tmp_path, baseline_short):
    """store.TABLE_COLUMNS (what readers check tables against) lists every table's columns with the
    kind the model writes, so a new or retyped column cannot drift away from it unnoticed."""
    folder = write_run(tmp_path, "r", {"seed": 3}, baseline_short.results(for_store=True))
    for name in store.RUN_TABLES:
        schema = pq.read_schema(folder / f"{name}.parquet")
        documented = store.TABLE_COLUMNS[name]
        assert set(schema.names) == set(documented), name
        for column in schema:
            assert store._is_kind(column.type, documented[column.name]), (name, column.name, column.type)


def test_tables_for_the_store_read_back_as_the_in_memory_tables(tmp_path, baseline_short):
    """results(for_store=True) hands the firms and event tables' text columns over as Arrow
    dictionaries (the recorder's codes, no strings made); written and read back, every table equals
    results()."""
    plain = baseline_short.results()
    coded = baseline_short.results(for_store=True)
    assert any(isinstance(dt, pd.ArrowDtype) for dt in coded["flows"].dtypes)
    assert not any(isinstance(dt, pd.ArrowDtype) for t in plain.values() for dt in t.dtypes)
    run = read_run(write_run(tmp_path, "r", {"seed": 3}, coded))
    for name, table in plain.items():
        pd.testing.assert_frame_equal(run.table(name), table, check_dtype=True, obj=name)
    con = duckdb.connect()
    owners = con.execute(f"SELECT DISTINCT from_owner FROM '{run.path / 'flows.parquet'}'").fetchall()
    assert {o for (o,) in owners} == set(plain["flows"]["from_owner"])


def test_a_categorical_column_still_round_trips_as_a_category(tmp_path):
    df = pd.DataFrame({"step": [0, 1, 2], "kind": pd.Categorical(["a", "b", "a"])})
    back = read_run(write_run(tmp_path, "r", {"seed": 1}, {"t": df})).table("t")
    pd.testing.assert_frame_equal(back, df)


def test_the_event_tables_text_columns_are_stored_as_dictionaries(tmp_path, baseline_short):
    """Every text column of the event tables is written as a Parquet dictionary, the start month's
    date too (steps 0 and 1 share it: a label listed twice made the writer store the whole column as
    plain strings); number columns keep min/max statistics, so readers can still skip by step."""
    folder = write_run(tmp_path, "r", {"seed": 3}, baseline_short.results(for_store=True))
    for name in ("contracts", "flows"):
        rg = pq.ParquetFile(folder / f"{name}.parquet").metadata.row_group(0)
        for i in range(rg.num_columns):
            column = rg.column(i)
            kind = store.TABLE_COLUMNS[name][column.path_in_schema]
            if kind == store._S:
                assert "RLE_DICTIONARY" in column.encodings, (name, column.path_in_schema, column.encodings)
            elif column.path_in_schema == "step":
                assert column.is_stats_set and column.statistics.has_min_max, name


def test_the_default_run_id_of_a_long_scenario_name_fits(tmp_path):
    """A valid 250-character scenario name gave a default run id too long for the store."""
    from datetime import datetime

    from experiments.runner import default_run_id

    when = datetime(2024, 5, 6, 7, 8, 9)
    long_a, long_b = "a" * 250, "a" * 249 + "b"
    ids = [default_run_id(name, 2**63 - 1, when) for name in (long_a, long_b)]
    for run_id in ids:
        assert len(run_id.encode("utf-8")) <= store.MAX_RUN_ID_BYTES
        assert run_id.startswith("a" * 100) and run_id.endswith(f"-s{2**63 - 1}-20240506-070809")
        assert store.check_target(tmp_path, run_id) == tmp_path / run_id
    assert ids[0] != ids[1]  # names that differ only past the cut still get their own folders
    assert default_run_id("tiny", 3, when) == "tiny-s3-20240506-070809"  # a short name is kept whole
    for name in (".hidden", "..", "a/b", "a\nb", "ế" * 150):
        run_id = default_run_id(name, 3, when)
        assert store.check_target(tmp_path, run_id) == tmp_path / run_id, name
