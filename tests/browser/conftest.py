"""Fixtures of the browser tests: two small recorded runs, scenario files, and the dashboard server.

The runs are made by the real model (the baseline to 2023-06, firms recorded every month) and
written by ``experiments.runner``; the server is ``clusterlink dashboard``'s ``solara run`` on a
free 127.0.0.1 port. Chromium is Debian's (/usr/bin/chromium, installed by ``scripts/test.sh``).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from dashboard.cli import dashboard_command, dashboard_env

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
SHORT = ["end=2023-06", "recording.snapshot_every=1"]
SDP = 'policies=[{type: supplier_development, start: 2023-02, smes_per_year: 400}]'
BAD_SCENARIO = """\
name: broken
extends: baseline.yaml
policies:
  - type: supplier_development
    start: 2024-01
    smes_per_year: -5
"""
TWO_LEVERS = """\
name: two_levers
extends: baseline.yaml
description: Baseline plus supplier development and more engineers.
policies:
  - type: supplier_development
    label: Supplier development
    start: 2024-01
    end: 2027-12
    smes_per_year: 100
  - type: training_expansion
    start: 2025-07
    institution: Thái Nguyên University of Technology (TNUT)
    extra_graduates: {operator: 0, technician: 100, engineer: 300}
"""
# the dashboard's server must not fetch from a CDN either (Solara proxies /_solara/cdn/ to one
# when solara-assets does not hold a file): point it at a closed port, so a miss is an error
NO_CDN = "http://127.0.0.1:9/no-cdn-offline/"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(reason="/usr/bin/chromium is missing: run `bash scripts/setup.sh --browser`")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict:
    """Debian's chromium instead of a browser downloaded by Playwright."""
    return {"executable_path": str(CHROMIUM), "args": FLAGS, "headless": True}


@pytest.fixture(scope="session")
def browser_context_args() -> dict:
    return {"viewport": {"width": 1400, "height": 1000}, "accept_downloads": True}


@pytest.fixture(scope="session")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three small runs of the real model: the baseline (two seeds) and a supplier-development variant."""
    from experiments.runner import execute_run

    out = tmp_path_factory.mktemp("results")
    scenario = ROOT / "scenarios" / "baseline.yaml"
    execute_run(scenario, 1, out, run_id="baseline-s1", overrides=SHORT)
    execute_run(scenario, 2, out, run_id="baseline-s2", overrides=SHORT)
    execute_run(scenario, 1, out, run_id="supplier_dev-s1", overrides=[*SHORT, SDP])
    return out


@pytest.fixture(scope="session")
def scenarios(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The baseline scenario (with its geography), one with two levers, and one invalid file."""
    folder = tmp_path_factory.mktemp("scenarios")
    shutil.copy(ROOT / "scenarios" / "baseline.yaml", folder / "baseline.yaml")
    shutil.copytree(ROOT / "scenarios" / "geography", folder / "geography")
    (folder / "broken.yaml").write_text(BAD_SCENARIO, encoding="utf-8")
    (folder / "two_levers.yaml").write_text(TWO_LEVERS, encoding="utf-8")
    return folder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def dashboard_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The dashboard server's output."""
    return tmp_path_factory.mktemp("server") / "solara.log"


@pytest.fixture(scope="session")
def dashboard_url(results: Path, scenarios: Path, dashboard_log: Path):
    """The dashboard served on 127.0.0.1 against the small runs; stopped after the session."""
    port = _free_port()
    log = dashboard_log
    env = dashboard_env(results, scenarios, "en")
    env["SOLARA_ASSETS_CDN"] = NO_CDN
    with open(log, "w") as fh:
        proc = subprocess.Popen(dashboard_command(port, "127.0.0.1"), env=env, cwd=ROOT, stdout=fh,
                                stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 90
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the dashboard exited with {proc.returncode}:\n{log.read_text()}")
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    else:
        proc.terminate()
        raise RuntimeError(f"the dashboard did not answer on {url}:\n{log.read_text()}")
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()

