"""``kubetwin replay TIMELINE -o DIR``: rebuild the scenario a recording implies, simulate it and
compare the simulation with the recording.

Writes ``DIR/scenario.yaml`` (editable: "what if we had had 4 more nodes last Tuesday?"),
``DIR/timeline.jsonl`` and ``DIR/summary.json`` (the simulation), ``DIR/compare.json`` (the
comparison, keys in ``docs/compare.md``) and ``DIR/replay.json`` (the fitted control-plane latencies
and what the recording held that the scenario cannot express). The derivation is
:func:`validator.replay.derive_scenario`; this module only wires it to the simulator.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kubetwin.cmd_compare import check_share, parse_wait_threshold, render, write_json
from kubetwin.cmd_validate import load
from models.errors import InputError
from validator.compare import compare_events
from validator.replay import derive_scenario, scenario_yaml

HELP = (
    "Rebuild the scenario TIMELINE implies (nodes, pods and gangs as recorded, Kueue queues, run times, "
    "fitted control-plane latencies) into DIR/scenario.yaml, simulate it into DIR/timeline.jsonl and "
    "DIR/summary.json, compare with TIMELINE into DIR/compare.json and print the comparison.\n\n"
    "Exit codes: 0 done (and within the thresholds, if given); 1 beyond a threshold; 2 unusable input."
)


def replay_to(timeline: Path, out_dir: Path, *, seed: int | None = None, max_wait_p95_diff: float | None = None,
              min_same_node: float | None = None, scheduler_from: Path | None = None,
              console: Console | None = None) -> dict[str, Any]:
    """Derive, simulate, compare; returns the comparison (also written to ``out_dir/compare.json``)."""
    from kubetwin.cmd_simulate import simulate_to

    con = console or Console(highlight=False)
    tl = load(timeline)
    for pr in tl.problems[:5]:
        con.print(f"[yellow]warning:[/] skipped unreadable line: {escape(pr)}")
    profile = None
    if scheduler_from is not None:
        from models.scenario import load_scenario

        profile = load_scenario(scheduler_from).spec.scheduler.model_dump(exclude_none=True)
    result = derive_scenario(tl.events, seed=seed, scheduler=profile)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "scenario.yaml").write_text(scenario_yaml(result, str(timeline)), encoding="utf-8")
    except OSError as e:
        raise InputError(f"cannot write the replay: {e.strerror}", file=str(out_dir),
                         fix="choose a writable directory with -o") from None
    aliases = result.aliases
    (out_dir / "replay.json").write_text(json.dumps({
        "source": str(timeline), "fittedLatencies": result.fitted, "notes": result.notes,
        "aliases": {"pods": dict(aliases.pods), "groups": dict(aliases.groups), "nodes": dict(aliases.nodes)},
    }, indent=2) + "\n", encoding="utf-8")
    summary = simulate_to(out_dir / "scenario.yaml", out_dir, seed=seed)
    sim = load(out_dir / "timeline.jsonl")
    cmp = compare_events(tl.events, sim.events, aliases=aliases, max_wait_p95_diff=max_wait_p95_diff,
                         min_same_node=min_same_node)
    cmp = {"a": str(timeline), "b": str(out_dir / "timeline.jsonl"), **cmp}
    write_json(cmp, out_dir / "compare.json")
    con.print(fitted_table(result.fitted))
    for n in result.notes[:10]:
        con.print(f"[yellow]note:[/] {escape(n)}")
    for w in summary.get("warnings", []):
        con.print(f"[yellow]warning:[/] {escape(str(w))}")
    render(cmp, con)
    con.print(f"wrote {out_dir / 'scenario.yaml'}, timeline.jsonl, summary.json, compare.json, replay.json")
    return cmp


def fitted_table(fitted: dict[str, Any]) -> Table:
    t = Table(title="control-plane latencies fitted from the recording", title_justify="left",
              box=box.SIMPLE_HEAD)
    for col in ("spec.latencies", "n", "p50 s", "p95 s", "fit", "KS"):
        t.add_column(col, justify="left" if col in ("spec.latencies", "fit") else "right", no_wrap=True)
    for name, f in sorted(fitted.items()):
        dist = f.get("distribution")
        fit = "none (0s)" if dist is None else _short(dist)
        t.add_row(name, str(f["count"]), f"{f['p50']:g}", f"{f['p95']:g}", fit, f"{f['ks']:g}")
    return t


def _short(dist: dict[str, Any]) -> str:
    (kind, params), = dist.items()
    if kind == "empirical":
        return f"empirical ({len(params['values'])} values)"
    return kind + " " + ", ".join(f"{k} {v}" for k, v in params.items())


def register(app: typer.Typer) -> None:
    """Add the ``replay`` verb to the app."""

    @app.command("replay", help=HELP)
    def replay(
        timeline: Annotated[Path, typer.Argument(help="recorded or simulated timeline.jsonl")],
        out: Annotated[Path, typer.Option("-o", "--out", help="output directory")] = Path("out/replay"),
        seed: Annotated[int | None, typer.Option(help="simulation seed (default: the recording's, else 0)")]
        = None,
        max_wait_p95_diff: Annotated[str | None, typer.Option(
            "--max-wait-p95-diff", help="exit 1 when the wait p95 differs by more (Go duration)")] = None,
        min_same_node: Annotated[float | None, typer.Option(
            "--min-same-node", help="exit 1 when fewer pods than this share (0-1) land on the same node")] = None,
        scheduler_from: Annotated[Path | None, typer.Option(
            "--scheduler-from", help="take spec.scheduler (the scoring profile) from this scenario file")] = None,
    ) -> None:
        cmp = replay_to(timeline, out, seed=seed, max_wait_p95_diff=parse_wait_threshold(max_wait_p95_diff),
                        min_same_node=check_share(min_same_node), scheduler_from=scheduler_from)
        raise typer.Exit(0 if cmp["withinThresholds"] else 1)
