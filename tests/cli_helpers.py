"""Calling the command line from tests: its output, and the check that it failed cleanly."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from experiments import cli


def invoke(*args: object) -> typer.testing.Result:
    """``clusterlink ARGS...`` in this process (arguments are turned into strings)."""
    return CliRunner().invoke(cli.app, [str(a) for a in args])


def no_traceback(res: typer.testing.Result) -> None:
    """The command ended by its own exit (any code), not by an exception or a printed traceback."""
    assert "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
