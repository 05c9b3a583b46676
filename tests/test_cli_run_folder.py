"""`clusterlink run` and the place its run folder goes: what is there already is replaced only
when it is a complete run of clusterlink's with nothing else in it, and only with --overwrite;
run ids are plain folder names; the default run id always fits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments.store import MAX_RUN_ID_BYTES, is_complete, read_run
from tests.cli_helpers import invoke, no_traceback
from tests.conftest import TINY


def run(out: Path, *extra: object) -> object:
    return invoke("run", TINY, "--seed", 1, "--out", out, "--no-progress", *extra)


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_a_folder_with_someone_elses_manifest_is_never_deleted(tmp_path, fake_simulation, overwrite):
    """`--run-id myproj` deleted results/myproj because it had a manifest.json (of a web app)."""
    mine = tmp_path / "myproj"
    mine.mkdir()
    (mine / "manifest.json").write_text('{"name": "my web app"}', encoding="utf-8")
    (mine / "notes.txt").write_text("precious", encoding="utf-8")
    before = files(mine)
    res = run(tmp_path, "--run-id", "myproj", *overwrite)
    no_traceback(res)
    assert res.exit_code == 1, res.output
    assert str(mine) in res.output and "notes.txt" in res.output and "--run-id" in res.output
    assert files(mine) == before and fake_simulation == []


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_a_damaged_run_with_the_users_file_is_never_replaced(tmp_path, fake_simulation, overwrite):
    assert run(tmp_path, "--run-id", "r").exit_code == 0
    folder = tmp_path / "r"
    (folder / "indicators.parquet").unlink()
    (folder / "analysis.md").write_text("my analysis", encoding="utf-8")
    before = files(folder)
    res = invoke("run", TINY, "--seed", 2, "--out", tmp_path, "--no-progress", "--run-id", "r", *overwrite)
    no_traceback(res)
    assert res.exit_code == 1, res.output
    assert str(folder) in res.output and "indicators" in res.output and "analysis.md" in res.output
    assert files(folder) == before and fake_simulation == [1]


def test_overwrite_names_the_users_files_in_a_complete_run_and_keeps_them(tmp_path, fake_simulation):
    assert run(tmp_path, "--run-id", "r").exit_code == 0
    (tmp_path / "r" / "analysis.md").write_text("my analysis", encoding="utf-8")
    res = run(tmp_path, "--run-id", "r", "--overwrite")
    no_traceback(res)
    assert res.exit_code == 1 and "analysis.md" in res.output
    assert (tmp_path / "r" / "analysis.md").read_text(encoding="utf-8") == "my analysis"
    assert is_complete(tmp_path / "r") and fake_simulation == [1]


@pytest.mark.parametrize("run_id", ["a\nb", "a\tb", "bell\x07", "esc\x1b[31m", "del\x7f", "c1\x85", " x", "x "])
def test_a_run_id_with_control_characters_is_invalid_input(tmp_path, fake_simulation, run_id):
    res = run(tmp_path / "out", "--run-id", run_id)
    no_traceback(res)
    assert res.exit_code == 2 and "--run-id" in res.output, res.output
    assert fake_simulation == [] and not (tmp_path / "out").exists()


def scenario_named(tmp_path: Path, name: str) -> Path:
    (tmp_path / "tiny_geo.yaml").write_text((TINY.parent / "tiny_geo.yaml").read_text(encoding="utf-8"))
    text = TINY.read_text(encoding="utf-8").replace("name: tiny\n", f"name: {json.dumps(name)}\n", 1)
    assert name in text
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["n" * 250, ".dotted"])
def test_the_default_run_id_fits_any_valid_scenario_name(tmp_path, fake_simulation, name):
    """A 250-character scenario name failed with `--run-id: run id is 269 bytes long`, though no
    --run-id was given."""
    scenario = scenario_named(tmp_path, name)
    assert invoke("validate", scenario).exit_code == 0
    res = invoke("run", scenario, "--seed", 7, "--out", tmp_path / "out", "--no-progress")
    no_traceback(res)
    assert res.exit_code == 0, res.output
    [folder] = (tmp_path / "out").iterdir()
    assert len(folder.name.encode("utf-8")) <= MAX_RUN_ID_BYTES and "-s7-" in folder.name
    assert name.lstrip(".")[:50] in folder.name
    assert read_run(folder).manifest["scenario"]["name"] == name
