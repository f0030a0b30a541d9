"""`kubetwin conformance`: probe a real cluster, read-only, for the Kubernetes AI Conformance MUSTs.

Like a conformance plugin run by sonobuoy it reports one result per requirement, as a table, JSON
and JUnit XML, and its exit code carries the verdict: 0 all pass, 1 any fail, 3 none fails but some
cannot be told read-only, 2 the cluster could not be probed (see ``validator.live.conformance``).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import sys
from pathlib import Path
from typing import Annotated, Any, Protocol

import typer
from rich.console import Console
from rich.table import Table

from models.errors import InputError
from validator.live.conformance import VERSION, GetJson, ProbeError, Report, probe

_STYLE = {"pass": "green", "fail": "bold red", "cannot-tell": "yellow"}


class _Client(Protocol):
    async def get_json(self, path: str) -> dict[str, Any] | None: ...

    def close(self) -> Any: ...


async def _connect(kubeconfig: str | None, context: str | None) -> _Client:
    """A read-only client from ``validator.live.kubeclient``, imported only when a real cluster is probed."""
    from validator.live.kubeclient import connect

    conn = await connect(kubeconfig=kubeconfig, context=context)
    return conn.client


def render(report: Report, console: Console) -> None:
    """The human table: one row per requirement."""
    table = Table(title=f"Kubernetes AI Conformance {VERSION} (read-only probe"
                        + (f", server {report.server_version})" if report.server_version else ")"))
    table.add_column("requirement")
    table.add_column("status")
    table.add_column("evidence")
    for f in report.findings:
        body = f.summary + ("".join(f"\n  • {e}" for e in f.evidence) if f.evidence else "")
        table.add_row(f.id, f"[{_STYLE[f.status]}]{f.status}[/]", body)
    console.print(table)
    c = report.counts()
    console.print(f"{c['pass']} pass, {c['fail']} fail, {c['cannot-tell']} cannot tell")


def _write(path: Path, text: str, what: str) -> None:
    if path == Path("-"):  # stdout, which then holds this report and nothing else
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as e:
        raise InputError(f"cannot write the {what}: {e.strerror}", file=str(path),
                         fix="choose a writable path") from e


async def run(get_json: GetJson, *, json_path: Path | None = None, junit_path: Path | None = None,
              console: Console | None = None) -> int:
    """Probe through ``get_json``, print and write the reports; returns the exit code."""
    try:
        report = await probe(get_json)
    except ProbeError as e:
        raise InputError(f"cannot probe the cluster: {e}",
                         fix="check --context/--kubeconfig and that the apiserver is reachable") from e
    if json_path == Path("-") and junit_path == Path("-"):
        raise InputError("--json and --junit cannot both write to stdout ('-')", field="--junit",
                         fix="give one of them a file name")
    render(report, console or Console(stderr=Path("-") in (json_path, junit_path)))
    if json_path is not None:
        _write(json_path, json.dumps(report.to_dict(), indent=2) + "\n", "JSON report")
    if junit_path is not None:
        _write(junit_path, report.to_junit(), "JUnit report")
    return report.exit_code


async def _main(kubeconfig: str | None, context: str | None, json_path: Path | None,
                junit_path: Path | None) -> int:
    try:
        client = await _connect(kubeconfig, context)
    except InputError:
        raise
    except Exception as e:
        raise InputError(f"cannot connect to the cluster: {e}", file=kubeconfig,
                         field="--context" if context else None,
                         fix="check --kubeconfig/--context (kubectl config get-contexts)") from e
    try:
        return await run(client.get_json, json_path=json_path, junit_path=junit_path)
    finally:
        res = client.close()
        if inspect.isawaitable(res):
            await res


CONFORMANCE_HELP = (
    "Probe a cluster read-only for the AI Conformance MUSTs.\n\n"
    "Exit codes: 0 every requirement passes; 1 at least one fails; 2 the cluster could not be probed "
    "(kubeconfig, context, unreachable apiserver) or a report path cannot be written; 3 none fails but "
    "some cannot be told read-only."
)


def register(app: typer.Typer) -> None:
    """Add the verb to the app."""

    @app.command("conformance", help=CONFORMANCE_HELP)
    def conformance(
        context: Annotated[str | None, typer.Option(help="kubeconfig context to probe")] = None,
        kubeconfig: Annotated[str | None, typer.Option(help="kubeconfig file (default: $KUBECONFIG)")] = None,
        json_out: Annotated[Path | None, typer.Option("--json", help="write the report as JSON ('-': stdout)")]
        = None,
        junit: Annotated[Path | None, typer.Option("--junit", help="write JUnit XML (one testcase per "
                                                                   "requirement)")] = None,
    ) -> None:
        """Probe a cluster read-only for the AI Conformance MUSTs."""
        code = asyncio.run(_main(kubeconfig, context, json_out, junit))
        raise typer.Exit(code)
