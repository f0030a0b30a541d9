"""``kubetwin compare A B``: set two timelines side by side — scheduling delays, wait distributions,
admission order, placements, gang admission and scale-ups — and exit 1 when they differ by more than
the given thresholds, so a comparison can gate a CI job. The comparison itself is
:func:`validator.compare.compare_events`; keys of the JSON report are in ``docs/compare.md``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from kubetwin.cmd_validate import load
from models.duration import DurationError, parse_duration
from models.errors import InputError
from models.timeline import Timeline
from validator.compare import Aliases, compare_events

HELP = (
    "Compare timeline B with the reference timeline A (e.g. a simulation with a recording).\n\n"
    "Pods are aligned by name, else by owner and ordinal. Exit codes: 0 within the thresholds (none given: "
    "always 0); 1 beyond a threshold; 2 unusable input (a missing or unreadable timeline, a bad threshold)."
)


#: how many pods the terminal output names per list (the JSON has up to 20)
_LISTED = 5


def parse_wait_threshold(value: str | None) -> float | None:
    """``--max-wait-p95-diff``: a Go duration (``30s``, ``1m``, ``0``); bad values are :class:`InputError`."""
    if value is None:
        return None
    try:
        s = parse_duration(value)
    except DurationError as e:
        raise InputError(str(e), field="--max-wait-p95-diff", fix="give a Go duration, e.g. 30s or 2m") from None
    if s < 0:
        raise InputError("must be >= 0", field="--max-wait-p95-diff", fix="e.g. --max-wait-p95-diff 30s")
    return s


def check_share(value: float | None) -> float | None:
    if value is not None and (math.isnan(value) or not 0.0 <= value <= 1.0):
        raise InputError(f"{value!r} is not a share between 0 and 1", field="--min-same-node",
                         fix="e.g. --min-same-node 0.95")
    return value


def compare_files(a: Path, b: Path, *, max_wait_p95_diff: float | None = None, min_same_node: float | None = None,
                  aliases: Aliases | None = None) -> dict[str, Any]:
    """Read both timelines (unusable or partly unreadable ones are :class:`InputError`) and compare."""
    tla, tlb = _load_whole(a), _load_whole(b)
    result = compare_events(tla.events, tlb.events, aliases=aliases, max_wait_p95_diff=max_wait_p95_diff,
                            min_same_node=min_same_node)
    return {"a": str(a), "b": str(b), **result}


def _load_whole(path: Path) -> Timeline:
    tl = load(path)
    if tl.problems:
        raise InputError(f"timeline has {len(tl.problems)} unreadable line(s), first: {tl.problems[0]}",
                         file=str(path), fix="repair or drop those lines (a torn last line is safe to delete)")
    return tl


def _f(v: Any, unit: str = "") -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:,.3f}".rstrip("0").rstrip(".") + unit
    return f"{v:,}{unit}"


def _share(v: float | None) -> str:
    return "—" if v is None else f"{v:.1%}"


def render(result: dict[str, Any], console: Console) -> None:
    """The comparison as one table that fits in 80 columns, then the verdict."""
    t = Table(title="kubetwin compare", title_justify="left", box=box.SIMPLE_HEAD)
    t.add_column("metric", no_wrap=True, max_width=31)
    for col in ("A", "B", "B − A"):
        t.add_column(col, justify="right", no_wrap=True, max_width=13)
    p, w, d = result["pods"], result["waitSeconds"], result["schedulingDelay"]
    t.add_row("pods", _f(p["a"]), _f(p["b"]), _f(p["b"] - p["a"]))
    t.add_row("pods matched", _f(p["matched"]), _f(p["matched"]), "")
    t.add_row("pods only in A / only in B", _f(p["onlyInA"]), _f(p["onlyInB"]), "")
    t.add_row("scheduled on one side only", _f(p["scheduledOnlyInA"]), _f(p["scheduledOnlyInB"]), "")
    for q in ("p50", "p95", "p99"):
        t.add_row(f"wait {q} (s)", _f(w["a"][q]), _f(w["b"][q]), _f(w[f"{q}Diff"]))
    t.add_row("wait KS distance", "", "", _f(w["ks"]))
    t.add_row("per-pod |Δ wait| mean (s)", "", "", _f(d["meanAbsDiff"]))
    t.add_row("per-pod |Δ wait| max (s)", "", "", _f(d["maxAbsDiff"]))
    t.add_row("pods with another delay", "", "", _f(d["differing"]))
    ao = result["admissionOrder"]
    t.add_row("admission order τ (pods)", "", "", _f(ao["pods"]["kendallTau"]))
    t.add_row("admission order τ (gangs)", "", "", _f(ao["workloads"]["kendallTau"]))
    pl = result["placement"]
    t.add_row("same node", "", "", _share(pl["sameNodeShare"]))
    t.add_row("same pool", "", "", _share(pl["samePoolShare"]))
    g = result["gangs"]
    if g["a"] or g["b"]:
        t.add_row("gangs admitted", _f(g["admittedA"]), _f(g["admittedB"]), _f(g["admittedB"] - g["admittedA"]))
        ga, gb = g["admissionWaitSeconds"]["a"], g["admissionWaitSeconds"]["b"]
        t.add_row("gang admission wait p95 (s)", _f(ga["p95"]), _f(gb["p95"]),
                  _f(None if ga["p95"] is None or gb["p95"] is None else gb["p95"] - ga["p95"]))
        t.add_row("gang admission max |Δ| (s)", "", "", _f(g["maxAbsDiff"]))
    sa, sb = result["scaleUp"]["a"], result["scaleUp"]["b"]
    if sa["triggeredScaleUps"] or sb["triggeredScaleUps"] or sa["nodesProvisioned"] or sb["nodesProvisioned"]:
        t.add_row("TriggeredScaleUp events", _f(sa["triggeredScaleUps"]), _f(sb["triggeredScaleUps"]),
                  _f(sb["triggeredScaleUps"] - sa["triggeredScaleUps"]))
        t.add_row("nodes provisioned", _f(sa["nodesProvisioned"]), _f(sb["nodesProvisioned"]),
                  _f(sb["nodesProvisioned"] - sa["nodesProvisioned"]))
        t.add_row("provisioning p50 (s)", _f(sa["provisioningSeconds"]["p50"]),
                  _f(sb["provisioningSeconds"]["p50"]), "")
    console.print(t)
    for label, key, count in (("only in A", "onlyInAList", "onlyInA"), ("only in B", "onlyInBList", "onlyInB")):
        if p[key]:
            shown = p[key][:_LISTED]
            more = p[count] - len(shown)
            console.print(f"{label}: " + ", ".join(shown) + (f" … and {more} more" if more > 0 else ""),
                          highlight=False)
    for m in pl["moved"][:_LISTED]:
        console.print(f"moved: {m['a']} {m['nodeA']} → {m['nodeB']}", highlight=False)
    for v in result["violations"]:
        console.print(f"[bold red]beyond threshold:[/] {v}", highlight=False)
    if result["identical"]:
        console.print("[green]no difference[/]")
    elif result["withinThresholds"]:
        checked = [k for k, v in result["thresholds"].items() if v is not None]
        console.print("[green]within thresholds[/]" if checked else "differences found (no threshold given)")


def register(app: typer.Typer) -> None:
    """Add the ``compare`` verb to the app."""

    @app.command("compare", help=HELP)
    def compare(
        a: Annotated[Path, typer.Argument(help="reference timeline (e.g. the recording)")],
        b: Annotated[Path, typer.Argument(help="timeline to compare (e.g. the simulation)")],
        json_out: Annotated[Path | None, typer.Option("--json", help="write the JSON report here")] = None,
        max_wait_p95_diff: Annotated[str | None, typer.Option(
            "--max-wait-p95-diff", help="fail when the wait p95 differs by more (Go duration, e.g. 30s)")] = None,
        min_same_node: Annotated[float | None, typer.Option(
            "--min-same-node", help="fail when fewer pods than this share (0-1) land on the same node")] = None,
    ) -> None:
        thr = parse_wait_threshold(max_wait_p95_diff)
        share = check_share(min_same_node)
        result = compare_files(a, b, max_wait_p95_diff=thr, min_same_node=share)
        if json_out is not None:
            write_json(result, json_out)
        render(result, Console(highlight=False))
        raise typer.Exit(0 if result["withinThresholds"] else 1)


def write_json(result: dict[str, Any], path: Path) -> None:
    try:
        path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    except OSError as e:
        raise InputError(f"cannot write the JSON report: {e.strerror}", file=str(path)) from None
