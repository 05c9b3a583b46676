"""The ``clusterlink`` command line (typer).

This module defines ``run`` and ``validate`` and then adds the commands of other modules: each
module in ``COMMAND_MODULES`` that exists provides ``register(app)``. A module that is not there
yet is skipped; one that is there but fails to import raises (a real error is never hidden).

Exit codes: 0 success; 1 the work could not be done (e.g. the run folder exists); 2 invalid input
(bad scenario file, ``--set`` or ``--until``; a file that cannot be read).
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
import yaml

from model.scenario import ScenarioError
from model.yamlio import parse_key_path

__all__ = ["COMMAND_MODULES", "EXIT_FAILED", "EXIT_INVALID", "app", "main", "register_commands"]

EXIT_FAILED = 1
EXIT_INVALID = 2
COMMAND_MODULES = ("experiments.cli_sweep", "experiments.cli_scenarios", "dashboard.cli")
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_SET = re.compile(r"^\s*[^=\s.][^=]*=")

app = typer.Typer(name="clusterlink", add_completion=False, no_args_is_help=True,
                  pretty_exceptions_show_locals=False,
                  help="clusterlink: an agent-based model of cluster formation around FDI lead firms "
                       "in northern Vietnam. Run `clusterlink COMMAND --help` for one command.")


def _invalid(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(EXIT_INVALID)


def _check_sets(sets: list[str]) -> None:
    bad = [s for s in sets if not _SET.match(s) or not _is_key_path(s.split("=", 1)[0])]
    if bad:
        raise _invalid("--set expects KEY.PATH=VALUE (e.g. --set economy.export_growth=0.05; list items by "
                       "index as policies.0.budget or policies[0].budget); got " + ", ".join(repr(b) for b in bad))


def _is_key_path(key: str) -> bool:
    try:
        parse_key_path(key)
    except ValueError:
        return False
    return True


def _blame_until(err: ScenarioError, until: str | None) -> ScenarioError:
    """``--until`` is applied as the last ``--set end=...``: say ``--until`` for what it caused."""
    if until is None:
        return err
    return ScenarioError([replace(i, file="--until") if (i.file, i.path) == ("--set", "end") else i
                          for i in err.errors])


def _warn_if_extended(scenario: Path, sets: list[str], until: str) -> None:
    """Warn when ``--until`` lies after the end the scenario (with its ``--set``s) has: the run is then
    longer than the scenario was written for, which is allowed but rarely meant."""
    from model.scenario import load_scenario

    try:
        own_end = load_scenario(scenario, sets).end
    except ScenarioError:  # valid only with --until (say a --set start after the file's end): nothing extended
        return
    if until > own_end:
        typer.echo(f"warning: --until {until} is after the scenario's end {own_end}; the run is extended to "
                   f"{until} (policies and trends carry on past the months the scenario was written for)", err=True)


def _check_run_target(out: Path, run_id: str, overwrite: bool, given: bool = True) -> None:
    """Refuse, before simulating, a run folder that could not be written: a bad ``--run-id`` is
    invalid input (exit 2); an ``--out`` that cannot hold runs, a complete run without
    ``--overwrite`` or something at ``<out>/<run_id>`` that a run may not replace fails (exit 1).
    ``given``: the user wrote ``run_id`` (else it is the default, and ``--run-id`` is not blamed)."""
    from experiments.store import NotARunError, RunExistsError, RunIdError, StoreError, check_target

    try:
        check_target(out, run_id, overwrite)
    except RunIdError as err:
        if given:
            raise _invalid(f"--run-id: {err}") from None
        raise _invalid(f"the default run id made of the scenario's name is not usable ({err}); "
                       "give one with --run-id") from None
    except RunExistsError:
        raise _run_exists(out, run_id) from None
    except NotARunError as err:  # something else is at <out>/<run_id>: another name or folder avoids it
        raise _cannot_write(f"{err}; choose another --run-id or --out") from None
    except StoreError as err:  # --out itself cannot hold runs: no --run-id helps
        raise _cannot_write(f"{err}; choose another --out") from None


def _cannot_write(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(EXIT_FAILED)


def _run_exists(out: Path, run_id: str) -> typer.Exit:
    return _cannot_write(f"{out / run_id} already holds a complete run; use --overwrite to replace it or "
                         "--run-id to choose another name")


@app.command()
def run(
    scenario: Annotated[Path, typer.Argument(help="scenario file (YAML)", show_default=False)],
    seed: Annotated[int | None, typer.Option(help="random seed (0 ≤ N < 2^63); drawn and recorded if omitted",
                                             show_default=False)] = None,
    until: Annotated[str | None, typer.Option(help="last month to simulate, YYYY-MM (same as --set end=YYYY-MM; after the "
                                                   "scenario's end it extends the run, with a warning)",
                                              show_default=False)] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="results folder")] = Path("results"),
    sets: Annotated[list[str] | None, typer.Option("--set", help="override a scenario value: KEY.PATH=VALUE "
                                                   "(repeatable; VALUE is YAML)", show_default=False)] = None,
    run_id: Annotated[str | None, typer.Option(help="run folder name \\[<scenario>-s<seed>-<time>]",
                                               show_default=False)] = None,
    overwrite: Annotated[bool, typer.Option(help="replace a complete run folder of the same name (never one "
                                            "holding files of your own)")] = False,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
) -> None:
    """Simulate one scenario, write its run folder, and print a start-versus-end summary."""
    from rich.console import Console

    from experiments.runner import (
        caused_by_interrupt,
        default_run_id,
        draw_seed,
        execute_run,
        run_summary,
    )
    from experiments.store import RunExistsError, StoreError
    from model.demography import RunawayGrowth
    from model.scenario import load_scenario

    overrides = list(sets or [])
    _check_sets(overrides)
    if until is not None:
        if not _MONTH.match(until):
            raise _invalid(f"--until expects a month as YYYY-MM (e.g. 2025-12); got {until!r}")
        overrides.append(f"end={until}")
    if seed is not None and not 0 <= seed < 2**63:
        raise _invalid(f"--seed must be between 0 and 2^63 - 1; got {seed}")
    try:
        sc = load_scenario(scenario, overrides)
    except ScenarioError as err:
        raise _invalid(f"invalid scenario:\n{_blame_until(err, until)}") from None
    except (OSError, yaml.YAMLError) as err:
        raise _invalid(f"{scenario}: {err}") from None
    for note in sc.load_warnings():
        typer.echo(f"warning: {note}", err=True)
    if until is not None:
        _warn_if_extended(scenario, overrides[:-1], sc.end)
    if seed is None:  # drawn here so that the run folder's name is known before the run
        seed = draw_seed()
    given = run_id is not None
    if run_id is None:
        run_id = default_run_id(sc.name, seed)
    _check_run_target(out, run_id, overwrite, given)
    try:
        path = execute_run(sc, seed, out, run_id=run_id, progress=progress, overrides=overrides,
                           overwrite=overwrite)
    except RunExistsError:  # one that appeared while this one ran
        raise _run_exists(out, run_id) from None
    except (StoreError, OSError, RunawayGrowth) as err:
        typer.echo(f"error: {err}" + (f"\nno run folder was written to {out}" if isinstance(err, RunawayGrowth) else ""),
                   err=True)
        raise typer.Exit(EXIT_FAILED) from None
    except BaseException as err:  # a Ctrl-C inside a compiled kernel comes out wrapped in a SystemError
        if not caused_by_interrupt(err):
            raise
        typer.echo(f"interrupted: no run folder was written to {out} (a run is kept only when complete)", err=True)
        raise typer.Exit(130) from None
    console = Console()
    console.print(run_summary(path))
    console.print(f"run folder: {path}", soft_wrap=True, highlight=False)


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="scenario files (YAML)", show_default=False)],
) -> None:
    """Check scenario files; print OK or every problem with file, line, key and allowed values."""
    from model.scenario import load_scenario

    failed = 0
    for file in files:
        try:
            sc = load_scenario(file)
        except ScenarioError as err:
            failed += 1
            n = len(err.errors)
            typer.echo(f"FAIL {file}: {n} problem{'s' if n != 1 else ''}")
            for line in str(err).splitlines():
                typer.echo(f"  {line}")
            continue
        except (OSError, yaml.YAMLError, UnicodeDecodeError) as err:
            failed += 1
            typer.echo(f"FAIL {file}: {err}")
            continue
        n_pol = len(sc.policies)
        typer.echo(f"OK   {file}: {sc.name}, {sc.start} to {sc.end}, {n_pol} polic{'ies' if n_pol != 1 else 'y'}")
        for note in sc.load_warnings():
            typer.echo(f"  warning: {note}")
    if failed:
        raise typer.Exit(EXIT_INVALID)


def _module_exists(name: str) -> bool:
    """True if ``name`` can be imported (its parent package too); never imports ``name`` itself."""
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # the parent package is not there
        return False


def register_commands(target: typer.Typer, modules: tuple[str, ...] = COMMAND_MODULES) -> list[str]:
    """Add the commands of every existing module in ``modules`` (each has ``register(app)``)."""
    added = []
    for name in modules:
        if _module_exists(name):
            importlib.import_module(name).register(target)
            added.append(name)
    return added


register_commands(app)


def main() -> None:
    """Entry point of the ``clusterlink`` console script."""
    try:
        app()
    except SystemExit as err:
        # typer turns a Ctrl-C no command caught (start-up, compare, analyze) into a silent exit 130;
        # the commands that catch their own say what they kept, and raise it without the interrupt as cause
        exiting = err.__context__
        if err.code == 130 and exiting is not None and isinstance(exiting.__cause__, KeyboardInterrupt):
            typer.echo("interrupted: every file is written whole or not at all; run the command again", err=True)
        raise
    except RuntimeError as err:  # pathlib's resolve() on a loop of symbolic links (Python 3.11)
        if not str(err).startswith("Symlink loop"):
            raise
        typer.echo(f"error: {str(err).removeprefix('Symlink loop from ')}: a loop of symbolic links; "
                   "give a real file or folder", err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
