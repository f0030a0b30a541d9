"""``kubetwin simulate`` and ``kubetwin schema``: run a scenario, print what it means."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from models.duration import DurationError, parse_duration
from models.errors import InputError
from models.scenario import load_scenario, scenario_json_schema
from models.timeline import TimelineWriter


def simulate_to(scenario_path: str | Path, out_dir: str | Path, *, seed: int | None = None,
                until: float | None = None) -> dict[str, Any]:
    """Simulate a scenario file into ``out_dir`` (timeline.jsonl + summary.json); returns the summary."""
    from sim.engine import Simulation

    sc = load_scenario(scenario_path)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"cannot create output directory: {e.strerror}", file=str(out),
                         fix="choose a writable directory with -o") from None
    if not out.is_dir():
        raise InputError("output path exists and is not a directory", file=str(out), fix="choose another -o")
    with TimelineWriter(out / "timeline.jsonl") as writer:
        sim = Simulation(sc, writer, seed=seed, until=until)
        summary = sim.run()
    summary = {"scenario": sc.metadata.name, "seed": seed if seed is not None else sc.spec.seed, **summary}
    if sim.kueue is not None:
        # per-queue metrics come from the timeline itself, through the same function that reads
        # recordings; pod events (most of the file) say nothing about queues and are not parsed
        from models.timeline import iter_lines, parse_event
        from validator.queues import queue_summary

        events = [parse_event(line, i) for i, line in iter_lines(out / "timeline.jsonl")
                  if '"kind":"Pod"' not in line]
        summary["queues"] = queue_summary(events)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def summary_table(summary: dict[str, Any]) -> Table:
    t = Table(title=f"kubetwin simulate — {summary['scenario']} (seed {summary['seed']})", show_header=True)
    t.add_column("metric")
    t.add_column("value", justify="right")

    def fmt(v: Any) -> str:
        if v is None:
            return "—"
        if isinstance(v, float):
            return f"{v:,.3f}".rstrip("0").rstrip(".")
        return f"{v:,}"

    pods, waits, sim = summary["pods"], summary["waitSeconds"], summary["sim"]
    t.add_row("pods created", fmt(pods["total"]))
    t.add_row("pods scheduled", fmt(pods["scheduled"]))
    t.add_row("pods succeeded", fmt(pods["succeeded"]))
    t.add_row("pods pending at end", fmt(pods["pendingAtEnd"]))
    t.add_row("pods running at end", fmt(pods["runningAtEnd"]))
    t.add_row("pods preempted (replaced)", fmt(pods.get("preempted", 0)))
    for p in ("p50", "p95", "p99", "max"):
        t.add_row(f"wait {p} (s)", fmt(waits[p]))
    gpu = summary["gpu"]["allocationRatio"]
    t.add_row("GPU allocation (time-weighted)", "—" if gpu is None else f"{gpu:.1%}")
    for res, ratio in summary["allocationRatio"].items():
        if res not in summary["gpu"]["resources"]:
            t.add_row(f"{res} allocation", f"{ratio:.1%}")
    t.add_row("nodes (peak)", fmt(summary["nodes"]["peak"]))
    cost = summary["cost"]["total"]
    t.add_row("cost", "—" if cost is None else f"{cost:,.2f}")
    t.add_row("simulated time (s)", fmt(sim["endTime"]) + f" ({sim['endReason']})")
    t.add_row("timeline events", fmt(sim["events"]))
    t.add_row("wall time (s)", fmt(sim["wallSeconds"]))
    return t


def queues_table(summary: dict[str, Any]) -> Table | None:
    queues = (summary.get("queues") or {}).get("clusterQueues") or {}
    if not queues:
        return None
    t = Table(title="Kueue ClusterQueues")
    for col in ("ClusterQueue", "workloads", "admitted", "pending", "wait p50 s", "p95 s", "max s",
                "evicted", "busiest quota"):
        t.add_column(col, justify="left" if col == "ClusterQueue" else "right")
    for name, q in sorted(queues.items()):
        tta = q["timeToAdmission"]
        ev = sum(q["evictions"].values())
        # the flavor/resource whose quota is used most (time-weighted usage / nominal)
        util = [(u["utilization"], f"{res} {u['utilization']:.0%}") for per in q["usage"].values()
                for res, u in per.items() if u.get("utilization") is not None]

        def sec(v: float | None) -> str:
            return "—" if v is None else f"{v:,.0f}"

        t.add_row(name, str(q["workloads"]), str(q["admitted"]), str(q["pendingAtEnd"]), sec(tta["p50"]),
                  sec(tta["p95"]), sec(tta["max"]), str(ev), max(util)[1] if util else "—")
    return t


def register(app: typer.Typer) -> None:
    @app.command()
    def simulate(
        scenario: Annotated[Path, typer.Argument(help="scenario YAML file")],
        out: Annotated[Path, typer.Option("-o", "--out", help="output directory")] = Path("out"),
        seed: Annotated[int | None, typer.Option(help="override spec.seed")] = None,
        until: Annotated[str | None, typer.Option(help="override spec.duration (Go duration, e.g. 6h)")]
        = None,
        json_out: Annotated[bool, typer.Option("--json", help="print summary.json instead of a table")]
        = False,
    ) -> None:
        """Simulate SCENARIO: writes OUT/timeline.jsonl and OUT/summary.json and prints a summary."""
        until_s = None
        if until is not None:
            try:
                until_s = parse_duration(until)
            except DurationError as e:
                raise InputError(str(e), field="--until", fix="e.g. --until 6h") from None
            if until_s <= 0:
                raise InputError("must be > 0", field="--until", fix="e.g. --until 6h")
        summary = simulate_to(scenario, out, seed=seed, until=until_s)
        for w in summary.get("warnings", []):
            Console(stderr=True).print(f"[yellow]warning:[/] {escape(w)}")
        if json_out:
            typer.echo(json.dumps(summary, indent=2))
        else:
            Console().print(summary_table(summary))
            qt = queues_table(summary)
            if qt is not None:
                Console().print(qt)
            Console().print(f"wrote {out / 'timeline.jsonl'} and {out / 'summary.json'}")

    @app.command()
    def schema() -> None:
        """Print the scenario JSON Schema (for editor completion)."""
        typer.echo(scenario_json_schema())
