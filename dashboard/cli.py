"""``clusterlink dashboard``: start the Solara app on a results folder.

``experiments.cli`` imports this module and calls ``register(app)``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import typer

APP = Path(__file__).resolve().parent / "app.py"
ROOT = APP.parents[1]


def dashboard_command(port: int, host: str) -> list[str]:
    """The ``solara run`` command line (its environment comes from ``dashboard_env``)."""
    return [sys.executable, "-m", "solara", "run", str(APP), "--host", host, "--port", str(port), "--production"]


def dashboard_env(results: Path, scenarios: Path | None, lang: str) -> dict[str, str]:
    """The app's settings, passed to the Solara process as environment variables."""
    env = dict(os.environ)
    env["CLUSTERLINK_RESULTS"] = str(results.resolve())
    if scenarios is not None:
        env["CLUSTERLINK_SCENARIOS"] = str(scenarios.resolve())
    env["CLUSTERLINK_LANG"] = lang
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("SOLARA_TELEMETRY_MIXPANEL_ENABLE", "False")  # workshops are often offline
    # served over http on an address: Solara warns at the first page that it keeps the default
    # samesite=lax session cookie (the right one there); a room full of laptops need not see it
    quiet = "ignore:Cookies with samesite=none require https:UserWarning"
    env["PYTHONWARNINGS"] = ",".join(w for w in (env.get("PYTHONWARNINGS", ""), quiet) if w)
    return env


def register(app: typer.Typer) -> None:
    """Add the ``dashboard`` command to the ``clusterlink`` CLI."""

    @app.command("dashboard")
    def dashboard(
        results: Path = typer.Option(Path("results"), "--results", help="folder of run folders (and sweep folders)"),
        port: int = typer.Option(8765, "--port", help="port to serve on"),
        host: str = typer.Option("127.0.0.1", "--host", help="address to serve on (0.0.0.0 for a room's network)"),
        scenarios: Path = typer.Option(None, "--scenarios", help="folder of scenario files (default: scenarios/)"),
        lang: str = typer.Option("en", "--lang", help="starting language: en or vi (switchable in the page)"),
    ) -> None:
        """Play back, compare and run scenarios live in the browser (works offline)."""
        if lang not in ("en", "vi"):
            raise typer.BadParameter("--lang must be en or vi")
        typer.echo(f"clusterlink dashboard: http://{host}:{port}  (results: {results.resolve()})")
        code = subprocess.call(dashboard_command(port, host),
                               env=dashboard_env(results, scenarios, lang))
        raise typer.Exit(code)
