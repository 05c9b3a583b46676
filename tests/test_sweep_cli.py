"""The sweep commands (typer) and the shipped smoke sweep file."""

from __future__ import annotations

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from experiments import designs
from experiments.cli_sweep import register
from experiments.sweep import preflight
from experiments.sweep_spec import SweepSpecError, load_sweep
from tests.sweep_helpers import ROOT, fake_runs, write_sweep

BODY = """name: fk
seed: 5
policies: [{name: a}, {name: b}]
uncertain:
  - {path: economy.export_growth, type: real, range: [0.0, 0.1]}
design: {method: lhs, samples: 4}
"""


def app() -> typer.Typer:
    a = typer.Typer()
    register(a)
    return a


def test_commands_are_registered():
    names = {c.name for c in app().registered_commands}
    assert names == {"sweep", "status", "query", "analyze"}


def test_the_clusterlink_command_has_the_sweep_commands():
    cli = pytest.importorskip("experiments.cli")
    for name in ("sweep", "status", "query", "analyze"):
        res = CliRunner().invoke(cli.app, [name, "--help"])
        assert res.exit_code == 0, res.output


def test_query_status_and_analyze_on_a_sweep_folder(tmp_path):
    folder = fake_runs(write_sweep(tmp_path, BODY), tmp_path / "out",
                       lambda r: r["export_growth"], fail=lambda r: r["run_id"] == "b-p0003-r00")
    run = CliRunner().invoke
    res = run(app(), ["query", str(folder.root), "SELECT policy, count(*) AS n FROM runs GROUP BY policy ORDER BY policy;"])
    assert res.exit_code == 0 and "a" in res.output and "4" in res.output
    csv = tmp_path / "ind.csv"
    res = run(app(), ["query", str(folder.root), "SELECT * FROM indicators", "--csv", str(csv)])
    assert res.exit_code == 0
    assert pd.read_csv(csv)["run_id"].nunique() == 7  # 8 runs, one failed
    res = run(app(), ["status", str(folder.root), "--errors"])
    assert res.exit_code == 0 and "b-p0003-r00" in res.output and "ValueError: boom" in res.output
    res = run(app(), ["status", str(folder.root), "--traceback", "b-p0003-r00"])
    assert "Traceback" in res.output
    res = run(app(), ["query", str(folder.root), "SELECT nope FROM runs"])
    assert res.exit_code == 2 and "nope" in res.output  # a bad query is invalid input
    res = run(app(), ["analyze", str(folder.root), "-i", "localisation_rate@2023-02"])
    assert res.exit_code == 0 and (folder.root / "analysis" / "report.md").is_file()


def test_an_invalid_sweep_file_fails_with_its_line(tmp_path):
    path = write_sweep(tmp_path, BODY.replace("seed: 5", "seed: 5\nreplicates: 3"))
    res = CliRunner().invoke(app(), ["sweep", str(path), "--out", str(tmp_path / "out"), "--in-process"])
    assert res.exit_code == 2
    line = path.read_text().splitlines().index("replicates: 3") + 1
    assert f"{path}:{line}: replicates" in res.output and "replications" in res.output


def test_a_parameter_path_the_scenario_rejects_is_an_error_in_the_sweep_file(tmp_path):
    body = BODY.replace("range: [0.0, 0.1]}", "range: [0.0, 0.9]}\n"  # export_growth allows at most 0.5
                        "  - {path: economy.export_grwth, type: real, range: [0.0, 0.1]}")
    path = write_sweep(tmp_path, body)
    res = CliRunner().invoke(app(), ["sweep", str(path), "--out", str(tmp_path / "o"), "--in-process"])
    lines = path.read_text().splitlines()
    first = next(i for i, t in enumerate(lines) if "export_growth" in t) + 1
    second = next(i for i, t in enumerate(lines) if "export_grwth" in t) + 1
    assert res.exit_code == 2
    assert f"{path}:{first}: uncertain[0].range" in res.output and "0.9" in res.output
    assert f"{path}:{second}: uncertain[1].path" in res.output and "export_grwth" in res.output


def test_the_smoke_sweep_is_small_valid_and_loads_every_variant():
    spec = load_sweep(ROOT / "scenarios" / "sweeps" / "smoke.yaml")
    tasks = designs.tasks_table(spec, designs.points_table(spec))
    assert len(tasks) <= 20 and len(spec.policies) == 2 and len(spec.uncertain) == 2 and spec.replications > 1
    assert preflight(spec, tasks) == []


# -- preflight: every variant, every value, the variants' own overrides -----------------------------------
SDP = "{{type: supplier_development, smes_per_year: 100{extra}}}"
VARIANTS_WITH_A_POLICY = f"""name: fk
seed: 5
set: {{end: 2023-02}}
policies:
  - name: sdp_a
    set:
      policies: [{SDP.format(extra="")}]
  - name: sdp_b
    set:
      policies: [{SDP.format(extra=", selection: random")}]
uncertain:
  - {{path: policies.0.smes_per_year, type: integer, range: [50, 300]}}
design: {{method: lhs, samples: 2}}
"""


def checked(path):
    spec = load_sweep(path)
    return preflight(spec, designs.tasks_table(spec, designs.points_table(spec)))


def sweep_error(path) -> str:
    with pytest.raises(SweepSpecError) as err:
        checked(path)
    return str(err.value)


def line_of(path, text: str) -> int:
    return next(i for i, t in enumerate(path.read_text().splitlines()) if text in t) + 1


def test_a_parameter_only_the_variants_create_is_checked_in_each_variant(tmp_path):
    """policies.0.smes_per_year was refused ('policies is not in the scenario') because the path was
    checked in the base scenario only, though every variant (and so every run) has it."""
    assert checked(write_sweep(tmp_path, VARIANTS_WITH_A_POLICY)) == []
    # a variant without it: refused, naming that variant, at the parameter's path
    path = write_sweep(tmp_path, VARIANTS_WITH_A_POLICY.replace("  - name: sdp_b", "  - name: status_quo\n  - name: sdp_b"))
    text = sweep_error(path)
    assert f"{path}:{line_of(path, 'smes_per_year, type')}: uncertain[0].path:" in text
    assert "policy 'status_quo': the scenario rejects policies.0.smes_per_year=50" in text
    assert "policies 'sdp_a', 'sdp_b' accept it" in text
    # a value one variant's scenario refuses: at the range
    path = write_sweep(tmp_path, VARIANTS_WITH_A_POLICY.replace("[50, 300]", "[50, 200000]"))
    assert f"{path}:{line_of(path, 'smes_per_year, type')}: uncertain[0].range:" in sweep_error(path)


@pytest.mark.parametrize("value", ["9", "0.1"])
def test_a_variant_setting_an_uncertain_path_is_refused_and_its_value_checked(tmp_path, value):
    """`set: ['economy.export_growth=9']` in a variant was silently replaced by the uncertain
    parameter's values (rc 0, no word): the override did nothing, and its invalid value went unseen."""
    body = BODY.replace("policies: [{name: a}, {name: b}]",
                        f"policies:\n  - name: a\n  - name: b\n    set: ['economy.export_growth={value}']")
    path = write_sweep(tmp_path, body)
    text = sweep_error(path)
    where = f"{path}:{line_of(path, 'economy.export_growth=')}: policies[1].set[0]:"
    assert f"{where} got 'economy.export_growth={value}'; policy 'b' sets economy.export_growth, which is also an " \
           "uncertain parameter (uncertain[0])" in text
    if value == "9":  # and its value is checked as the variant's own override
        assert text.count(where) == 2 and "rejects this override of policy 'b'" in text and "0.5" in text
    else:
        assert text.count(where) == 1
    # the sweep-wide set as well
    path = write_sweep(tmp_path, BODY.replace("seed: 5", "seed: 5\nset: {economy.export_growth: 0.1}"))
    assert "the sweep's set sets economy.export_growth, which is also an uncertain parameter" in sweep_error(path)


@pytest.mark.parametrize("param, key, fragment", [
    ("{path: sourcing.tender_rounds, type: categorical, values: ['2', '4']}", "values",
     "rejects sourcing.tender_rounds=\"2\": a number is expected, not the text '2' (remove the quotes)"),
    ("{path: sourcing.tender_rounds, type: categorical, values: [2.0, 4.5]}", "values",
     "reads sourcing.tender_rounds=2.0 as 2, an integer value, not real"),
    ("{path: sourcing.tender_rounds, type: real, range: [2.0, 8.0]}", "type", "use type: integer"),
])
def test_a_value_the_scenario_reads_as_another_type_is_refused(tmp_path, param, key, fragment):
    """A value the run would read as another type is refused at its key: the results would record
    one value and the run use another (a quoted number the scenario itself refuses as text)."""
    path = write_sweep(tmp_path, BODY.replace("{path: economy.export_growth, type: real, range: [0.0, 0.1]}", param))
    text = sweep_error(path)
    assert f"{path}:{line_of(path, 'tender_rounds')}: uncertain[0].{key}:" in text and fragment in text, text


def test_an_integer_parameter_on_a_real_key_is_fine(tmp_path):
    path = write_sweep(tmp_path, BODY.replace("type: real, range: [0.0, 0.1]", "type: integer, range: [0, 1]")
                       .replace("economy.export_growth", "sourcing.p_review"))
    assert checked(path) == []


# -- the sweep folder is made only once everything is checked, and never half --------------------------
def test_an_invalid_sweep_makes_no_folder(tmp_path):
    body = BODY.replace("{path: economy.export_growth, type: real, range: [0.0, 0.1]}",
                        "{path: sourcing.tender_rounds, type: categorical, values: [2, '4', 8.0]}")
    path = write_sweep(tmp_path, body)
    res = CliRunner().invoke(app(), ["sweep", str(path), "--out", str(tmp_path / "out"), "--in-process"])
    assert res.exit_code == 2 and "uncertain[0].values" in res.output and "one type" in res.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("existing", [False, True])
def test_a_sweep_folder_whose_creation_fails_is_taken_back(tmp_path, monkeypatch, existing):
    """A failure writing the sweep's first files left .lock, runs/, sweep.json and sweep.yaml, a
    folder that looked like a sweep but was not one."""
    from experiments import sweep as sweep_mod

    out = tmp_path / "out"
    if existing:  # a folder of the user's: kept as it was
        out.mkdir()
        (out / "notes.txt").write_text("mine")
    real = sweep_mod.atomic_write

    def full_disk(path, write):
        if path.name == "design.parquet":  # the last of the sweep's first files
            raise OSError(28, "No space left on device", str(path))
        return real(path, write)

    monkeypatch.setattr(sweep_mod, "atomic_write", full_disk)
    res = CliRunner().invoke(app(), ["sweep", str(write_sweep(tmp_path, BODY)), "--out", str(out), "--in-process"])
    assert res.exit_code == 1 and "No space left on device" in res.output, res.output
    if existing:
        assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    else:
        assert not out.exists()


def test_status_and_resume_explain_a_folder_whose_creation_stopped(tmp_path):
    """A sweep killed while creating its folder (sweep.yaml and sweep.json, no design.parquet)."""
    path = write_sweep(tmp_path, BODY)
    out = tmp_path / "out"
    (out / "runs").mkdir(parents=True)
    (out / "sweep.yaml").write_text(path.read_text())
    (out / "sweep.json").write_text("{}")
    res = CliRunner().invoke(app(), ["status", str(out)])
    assert res.exit_code == 2 and "creation stopped before design.parquet was written" in res.output
    res = CliRunner().invoke(app(), ["sweep", str(path), "--out", str(out), "--resume", "--in-process"])
    assert res.exit_code == 1 and "run the command without --resume to create it" in " ".join(res.output.split())


# -- options -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("address", ["not a url", "tcp://host", "http://10.0.0.1:8786", "tcp://h:99999", "tcp://:1"])
def test_a_scheduler_address_that_is_not_one_is_an_error_on_the_option(tmp_path, address):
    """--scheduler 'not a url' made a sweep folder, then crashed: ValueError: missing port number."""
    res = CliRunner().invoke(app(), ["sweep", str(write_sweep(tmp_path, BODY)), "--out", str(tmp_path / "out"),
                                     "--scheduler", address])
    assert res.exit_code == 2 and "Traceback" not in res.output
    text = " ".join(res.output.replace("│", " ").split())
    assert "--scheduler" in text and "not a Dask scheduler address" in text and "tcp://HOST:PORT" in text, text
    assert not (tmp_path / "out").exists()


def test_good_scheduler_addresses_pass():
    from experiments.executors import scheduler_problem

    for address in ("tcp://10.0.0.1:8786", "10.0.0.1:8786", "tls://node-1.cluster:8786", "tcp://[::1]:8786"):
        assert scheduler_problem(address) is None, address


def test_idle_timeout_reaches_the_executor(tmp_path, monkeypatch):
    """--idle-timeout was accepted and then dropped: the Dask executor always waited 600 s."""
    from experiments import sweep as sweep_mod
    from experiments.executors import SweepAborted

    seen = {}

    def fake(workers, scheduler, kind, idle_timeout=600.0):
        seen.update(scheduler=scheduler, idle_timeout=idle_timeout)
        raise SweepAborted("no workers")

    monkeypatch.setattr(sweep_mod, "make_executor", fake)
    res = CliRunner().invoke(app(), ["sweep", str(write_sweep(tmp_path, BODY)), "--out", str(tmp_path / "out"),
                                     "--scheduler", "tcp://127.0.0.1:8786", "--idle-timeout", "5", "--no-progress"])
    assert res.exit_code == 1 and seen == {"scheduler": "tcp://127.0.0.1:8786", "idle_timeout": 5.0}, res.output
