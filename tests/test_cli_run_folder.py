"""`clusterlink run` and the place its run folder goes: what is there already is replaced only
when it is a complete run of clusterlink's with nothing else in it, and only with --overwrite;
run ids are plain folder names."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from experiments.store import is_complete
from tests.cli_helpers import invoke, no_traceback
from tests.conftest import TINY


@pytest.fixture
def fake_simulation(monkeypatch):
    """Replace the simulation by one that returns at once (and count the calls)."""
    from experiments import runner

    calls = []

    def simulate(sc, seed, progress_label=None, for_store=False):
        calls.append(seed)
        return {"indicators": pd.DataFrame({"step": [1], "date": [sc.start]})}, 1

    monkeypatch.setattr(runner, "simulate", simulate)
    return calls


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

