"""The ``kubetwin`` command: one typer app, one small module per verb (``kubetwin/cmd_*.py``).

Every verb turns bad input into one clear message on stderr and exit code 2, never a traceback:
modules raise :class:`models.errors.InputError` and :func:`main` prints it.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from models.errors import InputError

app = typer.Typer(
    name="kubetwin",
    help="A digital twin for Kubernetes clusters that run AI/ML work.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _register() -> None:
    from kubetwin import cmd_conformance, cmd_record, cmd_simulate, cmd_validate

    for mod in (cmd_simulate, cmd_validate, cmd_record, cmd_conformance):
        mod.register(app)
    from kubetwin import cmd_version  # issue 14: --version and the exit codes in --help
    cmd_version.register(app)
    from kubetwin import cmd_compare, cmd_replay  # issue 11: compare and replay
    cmd_compare.register(app)
    cmd_replay.register(app)
    from kubetwin import cmd_report, cmd_sweep  # issue 13: sweep and report
    cmd_sweep.register(app)
    cmd_report.register(app)
    from kubetwin import cmd_experiment, cmd_import  # issue 11: fragmentation experiment; issue 9: openb import
    cmd_experiment.register(app)
    cmd_import.register(app)


_register()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    try:
        app(args=argv, standalone_mode=True)
    except InputError as e:
        err.print(f"[bold red]error:[/] {escape(e.render())}", markup=True, highlight=False)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
