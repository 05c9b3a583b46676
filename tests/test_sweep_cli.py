"""The sweep commands (typer) and the shipped smoke sweep file."""

from __future__ import annotations

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from experiments import designs
from experiments.cli_sweep import register
from experiments.sweep import preflight
from experiments.sweep_spec import load_sweep
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
