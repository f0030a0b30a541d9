"""``kubetwin validate TIMELINE``: run every invariant check on a timeline, simulated or recorded.

The checks (``validator.checks``) mirror what Kubernetes itself guarantees — node capacity, the pod
lifecycle, preemption of lower priority only (P1), taints and node selection at bind (placement) — and
what gang schedulers, Kueue, Volcano, DRA, the cluster autoscaler and the HPA promise; the full list is
``docs/invariants.md``, generated from the registry. The verb prints
one table row per invariant, the timeline's unreadable lines and warnings, and optionally writes a
JSON report and a JUnit XML file for CI.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from models.errors import InputError
from models.timeline import Timeline, read_timeline
from validator.checks import FAILED, PASSED, CheckResult, run_checks
from validator.report import build_report, junit_xml, write_json, write_junit

HELP = (
    "Check a timeline against every invariant (docs/invariants.md): node capacity, the pod lifecycle, "
    "placement (taints, nodeSelector, required node affinity at bind), preemption of lower priority only, "
    "gangs and Kueue (G1-G10), DRA (D1-D7), the cluster autoscaler and ProvisioningRequests (CA, PR) and "
    "the HPA (H).\n\n"
    "Exit codes: 0 every invariant holds; 1 at least one is violated; 2 the input is unusable: the file "
    "is missing, a directory, or holds no readable event.\n\n"
    "A timeline with some unreadable (corrupt or torn) lines is checked on its readable events and the "
    "reports are written, but the evidence is incomplete, so the exit code is 2 whatever the checks "
    "found (\"timeline has N unreadable lines; the checks ran on M events\")."
    "\n\n--json - writes the JSON report to stdout and nothing else there (the table goes to stderr). An "
    "output path that is a directory, or cannot be written, is unusable input (exit 2)."
)

_STYLE = {PASSED: "green", FAILED: "bold red", "not-applicable": "dim"}
_MAX_LISTED = 20


def load(path: Path) -> Timeline:
    """Read a timeline, turning an unusable file into an :class:`InputError`."""
    try:
        tl = read_timeline(path)
    except IsADirectoryError:
        raise InputError("is a directory, not a timeline file", file=str(path),
                         fix="pass the timeline.jsonl inside it") from None
    except FileNotFoundError:
        raise InputError("no such file", file=str(path),
                         fix="pass the timeline.jsonl written by 'kubetwin simulate' or "
                             "'kubetwin record'") from None
    except (OSError, UnicodeError) as e:
        raise InputError(f"cannot read the file: {e}", file=str(path)) from None
    if not tl.events:
        first = f"; first problem: {tl.problems[0]}" if tl.problems else ""
        raise InputError(f"no readable timeline events ({len(tl.problems)} unreadable line(s)){first}",
                         file=str(path),
                         fix="a timeline is JSON Lines, one event object per line, starting with RunStarted")
    return tl


def render(console: Console, tl: Timeline, results: list[CheckResult]) -> None:
    """The results table, then the timeline's problems and warnings."""
    table = Table(title=f"{tl.path}: {len(tl.events)} events", title_justify="left")
    table.add_column("invariant")
    table.add_column("title")
    table.add_column("status")
    table.add_column("findings", justify="right")
    table.add_column("first finding", overflow="fold")
    for r in results:
        first = ""
        if r.findings:
            f = r.findings[0]
            first = f"t={f.t:g} {f.message}"
        table.add_row(r.invariant.id, r.invariant.title, f"[{_STYLE[r.status]}]{r.status}[/]",
                      str(len(r.findings)), first)
    console.print(table)
    for label, items, style in (("problem", tl.problems, "red"), ("warning", tl.warnings, "yellow")):
        for line in items[:_MAX_LISTED]:
            console.print(f"[{style}]{label}:[/] {line}", highlight=False, markup=True)
        if len(items) > _MAX_LISTED:
            console.print(f"[{style}]… and {len(items) - _MAX_LISTED} more {label}(s)[/]")


STDOUT = Path("-")


def check_output_path(path: Path | None, flag: str) -> None:
    """Refuse, before any work, a report path that cannot be a file: a directory, or in a missing one."""
    if path is None or path == STDOUT:
        return
    if path.is_dir():
        raise InputError("is a directory", file=str(path), field=flag, fix=f"give {flag} a file name, e.g. report")
    if not path.parent.is_dir():
        raise InputError("its directory does not exist", file=str(path), field=flag,
                         fix=f"create {path.parent} first or choose another path")


def _write(path: Path, flag: str, write: Callable[[], None]) -> None:
    try:
        write()
    except OSError as e:
        raise InputError(f"cannot write the report: {e.strerror or e}", file=str(path), field=flag,
                         fix="choose a writable path") from None


def validate_file(path: Path, json_out: Path | None = None, junit_out: Path | None = None,
                  console: Console | None = None) -> tuple[int, dict[str, Any]]:
    """Validate one timeline file: print, write the reports, return (exit code, report).

    ``-`` as ``json_out`` (or ``junit_out``) writes that report to stdout and the table to stderr.
    Raises :class:`InputError` for an unusable file or report path; a file with unreadable lines gets its
    reports written first and then raises too (exit 2, see :data:`HELP`).
    """
    if json_out == STDOUT and junit_out == STDOUT:
        raise InputError("--json and --junit cannot both write to stdout ('-')", field="--junit",
                         fix="give one of them a file name")
    check_output_path(json_out, "--json")
    check_output_path(junit_out, "--junit")
    tl = load(path)
    results = run_checks(tl.events)
    report = build_report(str(path), len(tl.events), results, tl.problems, tl.warnings)
    to_stdout = STDOUT in (json_out, junit_out)
    if console is None:
        console = Console(highlight=False, stderr=to_stdout)
    render(console, tl, results)
    if json_out == STDOUT:
        sys.stdout.write(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    elif json_out is not None:
        _write(json_out, "--json", lambda: write_json(report, json_out))
    if junit_out == STDOUT:
        sys.stdout.write(junit_xml(report))
    elif junit_out is not None:
        _write(junit_out, "--junit", lambda: write_junit(report, junit_out))
    sys.stdout.flush()
    if tl.problems:
        raise InputError(f"timeline has {len(tl.problems)} unreadable line(s); the checks ran on "
                         f"{len(tl.events)} events, so their verdict is incomplete", file=str(path),
                         fix="repair or drop the lines listed above (a torn last line is safe to delete)")
    return (1 if any(r.status == FAILED for r in results) else 0), report


def register(app: typer.Typer) -> None:
    """Add the ``validate`` verb to the app."""

    @app.command("validate", help=HELP)
    def validate(
        timeline: Annotated[Path, typer.Argument(help="timeline.jsonl to check")],
        json_out: Annotated[Path | None, typer.Option("--json", help="write the JSON report here ('-': stdout)")]
        = None,
        junit: Annotated[Path | None, typer.Option("--junit", help="write JUnit XML here ('-': stdout)")] = None,
    ) -> None:
        code, _ = validate_file(timeline, json_out, junit)
        raise typer.Exit(code)
