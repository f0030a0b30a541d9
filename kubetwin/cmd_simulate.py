"""``kubetwin simulate`` and ``kubetwin schema``: run a scenario, print what it means."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from kubetwin import __version__
from models.duration import DurationError, parse_duration
from models.errors import InputError
from models.scenario import Scenario, load_scenario, scenario_json_schema
from models.timeline import TimelineWriter

if TYPE_CHECKING:  # the tables, the size estimate and trace summaries load when a command needs them
    from rich.table import Table


def simulate_to(scenario: str | Path | Scenario, out_dir: str | Path, *, seed: int | None = None,
                until: float | None = None, progress: bool = False) -> dict[str, Any]:
    """Simulate a scenario (a file, or one already loaded) into ``out_dir`` (timeline.jsonl +
    summary.json); returns the summary.

    The first SIGINT/SIGTERM ends the run at the end of the current simulated instant with a complete
    timeline (``RunFinished`` reason ``interrupted``) and a summary marked ``interrupted``; a second one
    exits at once. ``progress`` shows a progress bar on a terminal for runs longer than a second.
    """
    from kubetwin.runprogress import RunProgress, stop_on_signals
    from models.openb import trace_summary
    from sim.build import build
    from sim.engine import Simulation

    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    trace = trace_summary(sc.metadata.annotations, None if isinstance(scenario, Scenario) else str(scenario))
    blueprint = build(sc, seed=seed, until=until)
    out = Path(out_dir)
    prepare_output_dir(out)
    err = Console(stderr=True)
    bar = RunProgress(blueprint.duration, enabled=None if progress else False, console=err)
    with TimelineWriter(out / "timeline.jsonl") as writer:
        sim = Simulation(blueprint, writer)
        try:
            with stop_on_signals(sim.interrupt, lambda msg: err.print(f"[yellow]{escape(msg)}[/]")):
                summary = sim.run(progress=bar)
        finally:
            bar.close()
    summary = {"scenario": sc.metadata.name, "seed": blueprint.seed, **summary}
    if summary["sim"]["endReason"] == "interrupted":
        summary["interrupted"] = True
    if sim.kueue is not None:
        # per-queue metrics from the run's own Workload and queue events (kept in memory), through the
        # same function that reads recordings
        from validator.queues import queue_summary

        summary["queues"] = queue_summary(sim.kept)
    if trace is not None:  # an imported trace: its real waits beside the simulated ones
        summary["trace"] = trace
    summary = summary_document(summary)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


#: floats in summary.json keep this many decimals (milliseconds for seconds, 0.1 % for ratios)
SUMMARY_DECIMALS = 3


def _rounded(v: Any) -> Any:
    if isinstance(v, float):
        r = round(v, SUMMARY_DECIMALS)
        return 0.0 if r == 0 else r  # no -0.0
    if isinstance(v, dict):
        return {k: _rounded(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_rounded(x) for x in v]
    return v


def summary_document(summary: dict[str, Any]) -> dict[str, Any]:
    """``summary.json`` as written: the kubetwin version that wrote it first, every float rounded to
    :data:`SUMMARY_DECIMALS` decimals (units: docs/summary.md)."""
    return {"kubetwinVersion": __version__, **_rounded({k: v for k, v in summary.items()
                                                        if k != "kubetwinVersion"})}


def prepare_output_dir(out: Path) -> None:
    """Create ``out`` for timeline.jsonl and summary.json, or say clearly why it cannot be used."""
    fix = "choose a writable directory with -o"
    if out.exists() and not out.is_dir():
        raise InputError("the output path exists and is a file, not a directory", file=str(out), fix=fix)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"cannot create the output directory: {e.strerror or e}", file=str(out), fix=fix) from None
    for name in ("timeline.jsonl", "summary.json"):
        if (out / name).is_dir():
            raise InputError(f"{name} inside it is a directory", file=str(out), fix=f"remove {out / name} or {fix}")
    try:
        fd, probe = tempfile.mkstemp(dir=out, prefix=".kubetwin-write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise InputError(f"cannot write in the output directory: {e.strerror or e}", file=str(out), fix=fix) \
            from None


def summary_table(summary: dict[str, Any]) -> Table:
    from rich.table import Table

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
    dra = summary.get("dra")
    if dra and dra.get("devices"):  # accelerators as DRA devices (ResourceSlices), not allocatable
        ratio = dra.get("deviceAllocationRatio")
        t.add_row(f"DRA devices allocated (time-weighted, {fmt(dra['devices'])} devices)",
                  "—" if ratio is None else f"{ratio:.1%}")
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
    """One row per ClusterQueue, laid out to stay readable in an 80-column terminal: no vertical rules,
    two-line headers, waits in seconds (a workload still pending at the end counts as waiting until
    then)."""
    from rich import box
    from rich.table import Table

    queues = (summary.get("queues") or {}).get("clusterQueues") or {}
    if not queues:
        return None
    t = Table(title="Kueue ClusterQueues (wait: creation to admission)", box=box.SIMPLE_HEAD, show_edge=False,
              pad_edge=False, padding=(0, 1))
    t.add_column("Cluster\nQueue", overflow="fold", min_width=10, ratio=1)
    for header in ("admitted\n/ total", "pending\nat end", "wait\np50", "wait\np95", "wait\nmax", "evicted"):
        t.add_column(header, justify="right", no_wrap=True)
    t.add_column("busiest quota\n(mean use)", overflow="fold", min_width=10, ratio=1)
    for name, q in sorted(queues.items()):
        tta = q["timeToAdmission"]
        ev = sum(q["evictions"].values())
        # the flavor/resource whose quota is used most (time-weighted usage / nominal)
        util = [(u["utilization"], f"{res} {u['utilization']:.0%}") for per in q["usage"].values()
                for res, u in per.items() if u.get("utilization") is not None]

        def sec(v: float | None) -> str:
            if v is None:
                return "—"
            for unit, scale, limit in (("s", 1, 60), ("m", 60, 3_600), ("h", 3_600, 172_800)):
                if v < limit:
                    return f"{v / scale:.0f}{unit}" if unit == "s" else f"{v / scale:.1f}{unit}"
            return f"{v / 86_400:.1f}d"

        t.add_row(name, f"{q['admitted']}/{q['workloads']}", str(q["pendingAtEnd"]), sec(tta["p50"]),
                  sec(tta["p95"]), sec(tta["max"]), str(ev), max(util)[1] if util else "—")
    return t


SIMULATE_HELP = (
    "Simulate SCENARIO: writes OUT/timeline.jsonl and OUT/summary.json and prints a summary.\n\n"
    "Before it starts, the run's size is estimated (pods, timeline events, disk, memory); past 20,000,000 "
    "events or 4 GiB it is refused unless --yes is given.\n\n"
    "Exit codes: 0 the run finished; 2 unusable input: the scenario or a manifest is invalid, a flag is "
    "wrong, OUT cannot be written (or writing it fails: a full disk), or the run is too large without "
    "--yes; 130 interrupted (Ctrl-C): timeline.jsonl and summary.json hold everything simulated up to then "
    "(a second Ctrl-C quits at once)."
)


def register(app: typer.Typer) -> None:
    @app.command(help=SIMULATE_HELP)
    def simulate(
        scenario: Annotated[Path, typer.Argument(help="scenario YAML file")],
        out: Annotated[Path, typer.Option("-o", "--out", help="output directory")] = Path("out"),
        seed: Annotated[int | None, typer.Option(help="override spec.seed")] = None,
        until: Annotated[str | None, typer.Option(help="override spec.duration (Go duration, e.g. 6h)")]
        = None,
        json_out: Annotated[bool, typer.Option("--json", help="print summary.json instead of a table")]
        = False,
        yes: Annotated[bool, typer.Option("--yes", "-y", help="run even when the estimate is past the limits")]
        = False,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
        metrics: Annotated[bool, typer.Option("--metrics", help="also write OUT/metrics.om: DCGM GPU, node-pool "
                                                                 "and Kueue queue series (OpenMetrics)")] = False,
    ) -> None:
        until_s = None
        if until is not None:
            try:
                until_s = parse_duration(until)
            except DurationError as e:
                raise InputError(str(e), field="--until", fix="e.g. --until 6h") from None
            if until_s <= 0:
                raise InputError("must be > 0", field="--until", fix="e.g. --until 6h")
        from kubetwin.estimate import check_run_size

        loaded = load_scenario(scenario)
        est = check_run_size(loaded, until_s, yes=yes)
        if est.over_limit():
            Console(stderr=True).print(f"[yellow]warning:[/] this run will make {escape(est.describe())} (--yes)")
        prepare_output_dir(out)
        try:
            summary = simulate_to(loaded, out, seed=seed, until=until_s, progress=not quiet and not json_out)
        except OSError as e:  # writing the timeline or the summary failed (a full disk, a quota): the files
            # a scenario names are read, and their errors reported, while it is loaded and built
            raise InputError(f"writing the run's output failed: {e.strerror or e}; the timeline holds what was "
                             "written before", file=str(out),
                             fix="free space there, or choose another directory with -o") from None
        if summary.get("interrupted"):
            Console(stderr=True).print(f"[yellow]interrupted at t={summary['sim']['endTime']} s:[/] the timeline "
                                       "and summary hold everything simulated up to then")
        if metrics:
            from kubetwin.metrics_out import write_metrics

            Console(stderr=True).print(f"wrote {escape(str(write_metrics(out)))}")
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
        if summary.get("interrupted"):
            raise typer.Exit(130)

    @app.command()
    def schema(markdown: Annotated[bool, typer.Option("--markdown", help="the scenario reference as Markdown "
                                                      "(docs/scenario-reference.md) instead")] = False) -> None:
        """Print the scenario JSON Schema (for editor completion). Exit code 0."""
        if markdown:
            from models.schema import reference_markdown

            typer.echo(reference_markdown(), nl=False)
            return
        typer.echo(scenario_json_schema())
