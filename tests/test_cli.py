"""The ``clusterlink`` command end to end: validate, run, the run folder it writes, bad input."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from experiments import cli
from experiments.runner import InterruptBetweenMonths, caused_by_interrupt, execute_run
from experiments.store import RUN_TABLES, is_complete, list_runs, read_run
from model.scenario import load_scenario
from tests.cli_helpers import invoke, no_traceback

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "data" / "tiny.yaml"
BASELINE = ROOT / "scenarios" / "baseline.yaml"
POLICY = "policies=[{type: supplier_development, start: 2023-02, smes_per_year: 10, budget: 50}]"
SETS = ["--set", "economy.export_growth=0.05", "--set", POLICY]
TIMING = {"run_id", "created", "wall_time_s"}


def run_tiny(out: Path, *extra: str) -> typer.testing.Result:
    return invoke("run", TINY, "--until", "2023-04", "--out", out, "--no-progress", *SETS, *extra)


def architecture_columns() -> dict[str, list[str]]:
    """Column names of each table as docs/ARCHITECTURE.md lists them."""
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    tables = {}
    for name, body in re.findall(r"^`(\w+)\.parquet`:(.*?)(?:\n\n|\Z)", text, flags=re.S | re.M):
        while re.search(r"\([^()]*\)", body):
            body = re.sub(r"\([^()]*\)", "", body)
        body = re.sub(r"\s*\.\s*$", "", body.strip())  # the sentence's full stop
        tables[name] = [c.strip() for c in body.split(",")]
        assert all(re.fullmatch(r"\w+", c) for c in tables[name]), (name, tables[name])
    return tables


def readme_section(heading: str) -> str:
    """The README's section ``### <heading>`` (e.g. ``flows.parquet``) up to the next heading."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(f"### {heading}")
    end = min(i for i in (text.find("\n### ", start + 1), text.find("\n## ", start + 1), len(text)) if i > 0)
    return text[start:end]


# -- validate -------------------------------------------------------------------------------------------
def bad_copy(tmp_path: Path) -> tuple[Path, int]:
    """The tiny scenario with an out-of-range month; returns the file and the bad line's number."""
    (tmp_path / "tiny_geo.yaml").write_text((TINY.parent / "tiny_geo.yaml").read_text(encoding="utf-8"))
    lines = TINY.read_text(encoding="utf-8").splitlines()
    line = next(i for i, text in enumerate(lines) if text.startswith("end:"))
    lines[line] = "end: 2023-13"
    path = tmp_path / "bad.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, line + 1


def test_validate_good_files():
    res = invoke("validate", BASELINE, TINY)
    assert res.exit_code == 0, res.output
    assert f"OK   {BASELINE}" in res.output and f"OK   {TINY}" in res.output


def test_validate_bad_file_names_file_line_and_key(tmp_path):
    bad, line = bad_copy(tmp_path)
    res = invoke("validate", TINY, bad)
    assert res.exit_code == 2
    assert f"OK   {TINY}" in res.output
    assert f"FAIL {bad}" in res.output
    assert f"{bad}:{line}: end:" in res.output and "2023-13" in res.output
    no_traceback(res)


@pytest.mark.parametrize("content, expected", [
    (None, "file not found"),
    ("name: [unclosed\n", "YAML syntax error"),
    ("- just\n- a list\n", "must be a mapping"),
])
def test_validate_unreadable_files(tmp_path, content, expected):
    path = tmp_path / "x.yaml"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    res = invoke("validate", path)
    assert res.exit_code == 2 and f"FAIL {path}" in res.output and expected in res.output
    no_traceback(res)


def test_validate_a_directory_is_an_error_not_a_crash(tmp_path):
    res = invoke("validate", tmp_path)
    assert res.exit_code == 2 and f"FAIL {tmp_path}" in res.output
    no_traceback(res)


# -- run --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> tuple[Path, typer.testing.Result]:
    out = tmp_path_factory.mktemp("results")
    res = run_tiny(out, "--seed", "11", "--run-id", "first")
    assert res.exit_code == 0, res.output
    return out / "first", res


def test_run_writes_a_complete_folder_with_every_table(tiny_run):
    path, res = tiny_run
    assert is_complete(path) and list_runs(path.parent) == [path]
    assert f"run folder: {path}" in res.output
    run = read_run(path)
    assert run.tables() == list(RUN_TABLES)
    for name, columns in architecture_columns().items():
        table = run.table(name)
        assert set(columns) <= set(table.columns), (name, set(columns) - set(table.columns))
        assert len(table) == run.manifest["tables"][name] > 0, name
    ind = run.table("indicators")
    assert list(ind["step"]) == [1, 2, 3, 4]
    assert list(ind["date"]) == ["2023-01", "2023-02", "2023-03", "2023-04"]
    assert run.table("policy")["spend"].sum() > 0


def test_the_readme_documents_every_column(tiny_run):
    run = read_run(tiny_run[0])
    for name in RUN_TABLES:
        section = readme_section(f"{name}.parquet")
        missing = [c for c in run.table(name).columns if f"`{c}`" not in section]
        assert not missing, (name, missing)
    manifest_doc = readme_section("manifest.json")
    assert not [k for k in run.manifest if f"`{k}`" not in manifest_doc]


def test_run_manifest_records_what_repeats_the_run(tiny_run):
    path, _ = tiny_run
    man = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    overrides = ["economy.export_growth=0.05", POLICY, "end=2023-04"]
    sc = load_scenario(TINY, overrides)
    assert man["run_id"] == "first" and man["status"] == "complete"
    assert man["seed"] == 11
    assert man["overrides"] == overrides
    assert man["scenario"] == {"path": str(TINY), "name": "tiny", "hash": sc.config_hash()}
    assert man["config"] == sc.resolved_dict()
    assert man["config"]["economy"]["export_growth"] == 0.05
    assert (man["start"], man["end"], man["n_months"]) == ("2023-01", "2023-04", 4)
    assert man["wall_time_s"] > 0
    assert pd.Timestamp(man["created"]).tzinfo is not None
    assert set(man["versions"]) == {"clusterlink", "python", "mesa", "numpy", "pandas", "pyarrow", "scipy"}
    assert man["git_commit"] is None or re.fullmatch(r"[0-9a-f]{40}", man["git_commit"])
    assert man["tables"] == {name: len(pd.read_parquet(path / f"{name}.parquet")) for name in RUN_TABLES}


def assert_same_run(a: Path, b: Path) -> None:
    ra, rb = read_run(a), read_run(b)
    for name in RUN_TABLES:
        pd.testing.assert_frame_equal(ra.table(name), rb.table(name), check_exact=True)
    strip = lambda m: {k: v for k, v in m.items() if k not in TIMING}  # noqa: E731
    assert strip(ra.manifest) == strip(rb.manifest)


def test_same_seed_gives_identical_tables(tiny_run, tmp_path):
    res = run_tiny(tmp_path, "--seed", "11", "--run-id", "again")
    assert res.exit_code == 0, res.output
    assert_same_run(tiny_run[0], tmp_path / "again")
    res = run_tiny(tmp_path, "--seed", "12", "--run-id", "other")
    other = read_run(tmp_path / "other")
    assert any(not other.table(t).equals(read_run(tiny_run[0]).table(t)) for t in ("firms", "flows", "contracts"))


def test_a_drawn_seed_is_recorded_and_repeats_the_run(tmp_path):
    res = run_tiny(tmp_path)
    assert res.exit_code == 0, res.output
    (path,) = list_runs(tmp_path)
    seed = read_run(path).manifest["seed"]
    assert isinstance(seed, int) and 0 <= seed < 2**63
    assert re.fullmatch(rf"tiny-s{seed}-\d{{8}}-\d{{6}}", path.name)  # the default run id
    res = run_tiny(tmp_path, "--seed", str(seed), "--run-id", "repeat")
    assert res.exit_code == 0, res.output
    assert_same_run(path, tmp_path / "repeat")


def test_an_existing_run_needs_overwrite(tiny_run, tmp_path):
    assert run_tiny(tmp_path, "--seed", "1", "--run-id", "r").exit_code == 0
    created = read_run(tmp_path / "r").manifest["created"]
    res = run_tiny(tmp_path, "--seed", "2", "--run-id", "r")
    assert res.exit_code == 1 and "--overwrite" in res.output
    assert read_run(tmp_path / "r").manifest["seed"] == 1 and read_run(tmp_path / "r").manifest["created"] == created
    res = run_tiny(tmp_path, "--seed", "2", "--run-id", "r", "--overwrite")
    assert res.exit_code == 0 and read_run(tmp_path / "r").manifest["seed"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["r"]


def test_progress_lines_name_the_months(tmp_path):
    res = invoke("run", TINY, "--until", "2024-01", "--seed", "1", "--out", tmp_path, "--run-id", "p")
    assert res.exit_code == 0, res.output
    assert "p: 2023-12 (12/13) localisation" in res.output and "p: 2024-01 (13/13)" in res.output
    # the world's build is announced before it starts (a large one takes minutes) and timed after
    firms = load_scenario(TINY).starting_firms()
    building = res.output.index(f"p: building the world ({firms:,} firms, seed 1) ...")
    assert building < res.output.index("p: world built in ") < res.output.index("p: 2023-12")


def test_starting_firms_counts_leads_followers_and_groups():
    sc = load_scenario(TINY)
    grown = load_scenario(TINY, [f"firm_groups[0].count={sc.firm_groups[0].count + 7}",
                                 f"lead_firms[0].followers={sc.lead_firms[0].followers + 3}"])
    assert grown.starting_firms() == sc.starting_firms() + 10
    assert sc.starting_firms() >= len(sc.lead_firms) + sum(g.count for g in sc.firm_groups)


@pytest.mark.parametrize("args, message", [
    (["--set", "economy.export_growth"], "--set expects KEY.PATH=VALUE"),
    (["--set", "=1"], "--set expects KEY.PATH=VALUE"),
    (["--set", "economy..export_growth=1"], "--set expects KEY.PATH=VALUE"),
    (["--set", "economy.export_growth=lots"], "economy.export_growth"),
    (["--set", "economy.no_such_parameter=1"], "no_such_parameter"),
    (["--until", "2023-13"], "--until expects a month as YYYY-MM"),
    (["--until", "June"], "--until expects a month as YYYY-MM"),
    (["--until", "2022-06"], "before end"),
    (["--seed", "-1"], "--seed must be between"),
])
def test_bad_input_exits_2_with_a_message(tmp_path, args, message):
    res = invoke("run", TINY, "--out", tmp_path, "--no-progress", *args)
    assert res.exit_code == 2, res.output
    assert message in res.output
    no_traceback(res)
    assert not any(tmp_path.iterdir())  # nothing was written


def test_missing_or_bad_scenario_file_exits_2(tmp_path):
    res = invoke("run", tmp_path / "nope.yaml", "--out", tmp_path)
    assert res.exit_code == 2 and "file not found" in res.output
    bad, line = bad_copy(tmp_path)
    res = invoke("run", bad, "--out", tmp_path / "out")
    assert res.exit_code == 2 and f"{bad}:{line}" in res.output
    no_traceback(res)


# -- the real console script ---------------------------------------------------------------------------------
CONSOLE = Path(sys.executable).with_name("clusterlink")


@pytest.mark.skipif(not CONSOLE.exists(), reason="clusterlink is not installed in this environment")
def test_console_script_runs_the_baseline_and_rejects_bad_input(tmp_path):
    done = subprocess.run([str(CONSOLE), "run", str(BASELINE), "--until", "2023-02", "--seed", "4",
                           "--out", str(tmp_path), "--run-id", "b"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Localisation rate" in done.stdout and f"run folder: {tmp_path / 'b'}" in done.stdout
    run = read_run(tmp_path / "b")
    assert set(run.table("indicators_province")["province"]) == {"Thái Nguyên", "Bắc Giang", "Bắc Ninh", "Hà Nội"}
    assert run.manifest["n_months"] == 2
    done = subprocess.run([str(CONSOLE), "run", str(BASELINE), "--set", "economy"], capture_output=True, text=True)
    assert done.returncode == 2 and "--set expects" in done.stderr and "Traceback" not in done.stderr + done.stdout


@pytest.fixture
def ctrl_c_delivered():
    """Ctrl-C reaches Python's default handler, as in a terminal, even when the suite was started in
    the background (a shell without job control starts background jobs with SIGINT ignored, and a
    process started so rightly ignores Ctrl-C)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _sigint_default() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # in the child: Python then installs its own handler


@pytest.mark.skipif(not CONSOLE.exists(), reason="clusterlink is not installed in this environment")
def test_ctrl_c_during_a_run_says_so_and_leaves_no_folder(tmp_path):
    proc = subprocess.Popen([str(CONSOLE), "run", str(BASELINE), "--seed", "4", "--out", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_sigint_default)
    for line in proc.stderr:  # the progress lines name the months simulated so far
        if "(12/96)" in line:
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted: no run folder was written" in err and "Traceback" not in err + out
    assert list(tmp_path.iterdir()) == []


def test_a_ctrl_c_mid_month_waits_for_the_month_to_end(tmp_path, monkeypatch, ctrl_c_delivered):
    """SIGINT inside a step (where a compiled kernel would wrap it in a SystemError) is held to the month's end."""
    from model.cluster_model import ClusterModel

    step = ClusterModel.step
    finished = []

    def step_and_press_ctrl_c(self):
        if self.steps == 2:
            signal.raise_signal(signal.SIGINT)  # the handler runs here, in the middle of the month
        step(self)
        finished.append(self.steps)

    monkeypatch.setattr(ClusterModel, "step", step_and_press_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        execute_run(load_scenario(TINY, ["end=2023-06"]), 1, tmp_path, run_id="r")
    assert finished == [1, 2]  # the month in which Ctrl-C came (the second) was finished, and no other began
    assert list(tmp_path.iterdir()) == []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is given back


def test_a_second_ctrl_c_interrupts_at_once(ctrl_c_delivered):
    with InterruptBetweenMonths() as held:
        signal.raise_signal(signal.SIGINT)
        assert held.pending
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
        with pytest.raises(KeyboardInterrupt):
            held.check()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_handler_someone_else_installed_is_left_alone():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with InterruptBetweenMonths() as held:
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            held.check()  # nothing held, nothing raised
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_an_interrupt_wrapped_by_a_kernel_is_still_an_interrupt():
    def kernel_call():
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as err:
            raise SystemError("returned a result with an exception set") from err

    with pytest.raises(SystemError) as wrapped:
        kernel_call()
    assert caused_by_interrupt(wrapped.value) and caused_by_interrupt(KeyboardInterrupt())
    assert not caused_by_interrupt(SystemError("a real failure")) and not caused_by_interrupt(ValueError())


# -- command registration -------------------------------------------------------------------------------
def test_other_modules_add_their_commands(tmp_path, monkeypatch):
    (tmp_path / "fake_cmds.py").write_text(
        "import typer\n"
        "def register(app):\n"
        "    app.command('hello')(lambda: typer.echo('hi'))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    app = typer.Typer()
    app.command("noop")(lambda: None)
    assert cli.register_commands(app, ("fake_cmds", "not_there_xyz.cli")) == ["fake_cmds"]
    res = CliRunner().invoke(app, ["hello"])
    assert res.exit_code == 0 and "hi" in res.output


def test_a_module_that_exists_but_fails_to_import_is_not_hidden(tmp_path, monkeypatch):
    (tmp_path / "broken_cmds.py").write_text("import no_such_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="no_such_dependency_xyz"):
        cli.register_commands(typer.Typer(), ("broken_cmds",))
    assert cli.register_commands(typer.Typer(), ("absent_pkg_xyz.cli", "experiments.absent_xyz")) == []


def test_sweep_commands_are_registered_when_present():
    names = {c.name or c.callback.__name__ for c in cli.app.registered_commands}
    assert {"run", "validate"} <= names
    if cli._module_exists("experiments.cli_sweep"):
        assert {"sweep", "status", "query", "analyze"} <= names
