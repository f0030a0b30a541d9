"""``kubetwin --version`` and the exit codes every verb shares, shown under ``kubetwin --help``.

Like ``kubectl version --client`` the version needs no cluster and no input; it is the version written
into ``summary.json`` (``kubetwinVersion``) and into recordings.
"""

from __future__ import annotations

from typing import Annotated

import typer

from kubetwin import __version__

EXIT_CODES = (
    "Exit codes: 0 success; 1 an invariant or requirement failed (validate, conformance); 2 unusable input "
    "(a file, flag or output path; the message names it); 3 conformance could not tell some requirement "
    "read-only; 130 interrupted (Ctrl-C). Each verb's --help lists its own."
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"kubetwin {__version__}")
        raise typer.Exit(0)


def register(app: typer.Typer) -> None:
    """Add the global ``--version`` option and the exit-code epilog to the app."""

    @app.callback(epilog=EXIT_CODES)
    def root(
        version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                              help="print the kubetwin version and exit")] = False,
    ) -> None:
        """A digital twin for Kubernetes clusters that run AI/ML work."""
