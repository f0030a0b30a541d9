"""The ``kubetwin`` command: one typer app, one small module per verb (``kubetwin/cmd_*.py``).

Every verb turns bad input into one clear message on stderr and exit code 2, never a traceback:
modules raise :class:`models.errors.InputError` and :func:`main` prints it.

A command line that starts with a verb runs an app holding that verb alone (plus the global
``--version`` callback): ``kubetwin simulate`` does not import what ``compare``, ``sweep`` or
``conformance`` need. Anything else (``--help``, no verb, an unknown one) gets the whole app, which is
also what ``kubetwin.cli.app`` is.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from models.errors import InputError

#: the verb modules, in the order their verbs are registered (``--help`` lists them in this order);
#: cmd_version adds the global --version option and the exit codes (issue 14)
MODULES = ("cmd_simulate", "cmd_validate", "cmd_record", "cmd_conformance", "cmd_version", "cmd_compare",
           "cmd_replay", "cmd_sweep", "cmd_report", "cmd_experiment", "cmd_import")
#: verb -> the module that registers it (a verb missing here still works, through the whole app)
VERBS = {"simulate": "cmd_simulate", "schema": "cmd_simulate", "validate": "cmd_validate",
         "record": "cmd_record", "conformance": "cmd_conformance", "compare": "cmd_compare",
         "replay": "cmd_replay", "sweep": "cmd_sweep", "report": "cmd_report", "experiment": "cmd_experiment",
         "import": "cmd_import"}

err = Console(stderr=True, highlight=False, soft_wrap=True)

#: the whole app (every verb); built on first access
app: typer.Typer


def _build(modules: tuple[str, ...]) -> typer.Typer:
    new = typer.Typer(
        name="kubetwin",
        help="A digital twin for Kubernetes clusters that run AI/ML work.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    for mod in modules:
        importlib.import_module(f"kubetwin.{mod}").register(new)
    return new


def _whole() -> typer.Typer:
    whole: typer.Typer | None = globals().get("app")
    if whole is None:
        whole = globals()["app"] = _build(MODULES)
    return whole


def __getattr__(name: str) -> Any:
    if name == "app":
        return _whole()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def app_for(args: list[str]) -> typer.Typer:
    """The app that runs ``kubetwin ARGS``: the verb's own when ARGS starts with a verb, else the whole one."""
    if args and args[0] in VERBS and "app" not in globals():
        return _build(tuple(m for m in MODULES if m in (VERBS[args[0]], "cmd_version")))
    return _whole()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    try:
        app_for(sys.argv[1:] if argv is None else argv)(args=argv, standalone_mode=True)
    except InputError as e:
        err.print(f"[bold red]error:[/] {escape(e.render())}", markup=True, highlight=False)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
