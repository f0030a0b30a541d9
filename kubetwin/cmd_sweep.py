"""``kubetwin sweep`` and ``kubetwin sweep merge``: run a capacity-planning sweep, or join its shards.

``kubetwin sweep SWEEP.yaml -o DIR`` plans the runs (:mod:`kubetwin.sweep`), skips those already done in
``DIR``, runs the rest on an executor (:mod:`kubetwin.sweep_exec`) with a progress bar on stderr, and
writes ``DIR/runs.csv``, ``DIR/points.csv`` and ``DIR/sweep.json``. ``--shard i/N`` runs every N-th run
starting at i (one pod of a Kubernetes Indexed Job); ``kubetwin sweep merge SWEEP.yaml SHARD_DIR… -o DIR``
aggregates the shards.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from typer.core import TyperGroup

from kubetwin import sweep as sw
from kubetwin import sweep_exec
from kubetwin.runprogress import stop_on_signals
from models.errors import InputError
from models.sweep import load_sweep

_INTERRUPTED = ("interrupted: no new runs start, runs in flight stop; writing the CSVs for the runs finished so far "
                "(press Ctrl-C again to quit at once; rerun the same command to resume)")


def run_sweep(sweep_file: str | Path, out: str | Path, *, executor: str = "local", workers: int | None = 1,
              address: str | None = None, shard: tuple[int, int] | None = None,
              progress: bool = False, say: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run (or resume) a sweep into ``out``; returns the sweep.json body. Library entry point of the verb.

    Every point is built and the objective's metric names checked before any run (:func:`sweep.preflight`;
    a problem is an :class:`InputError`). On SIGINT/SIGTERM it stops, writes the CSVs for the runs
    finished so far and raises :class:`kubetwin.sweep.SweepInterrupted`."""
    if executor not in ("local", "ray"):
        raise InputError(f"unknown executor {executor!r}", field="--executor", fix="use local or ray")
    console = Console(stderr=True, highlight=False)
    say = say or (lambda msg: console.print(escape(msg)))
    pl = sw.plan(load_sweep(sweep_file), out)
    outp = pl.out
    if outp.exists() and not outp.is_dir():
        raise InputError("output path exists and is not a directory", file=str(outp), fix="choose another -o")
    mine = sw.shard_tasks(pl.tasks, shard)
    sw.preflight(pl, mine)
    todo, done = sw.pending_tasks(mine, outp)
    if done:
        say(f"resuming: {len(done)} of {len(mine)} runs already done in {outp} are reused; {len(todo)} to run")
    sw.write_plan(pl, outp, shard)
    stop = threading.Event()
    if executor == "local":
        outcomes = sweep_exec.run_local(todo, workers or os.cpu_count() or 1, stop)
    else:
        outcomes = sweep_exec.run_ray(todo, workers, address, stop)
    results = list(done)
    bar = Progress(TextColumn("[bold]sweep[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("[red]{task.fields[failed]} failed[/]"), TimeElapsedColumn(), TextColumn("ETA"),
                   TimeRemainingColumn(), console=console, disable=not (progress and console.is_terminal))
    try:
        with stop_on_signals(stop.set, say, _INTERRUPTED), bar:
            tid = bar.add_task(escape(pl.sweep.metadata.name), total=len(mine), completed=len(done), failed=0)
            failed = 0
            for task, res in outcomes:
                if not sw.is_done(res):
                    continue    # cut short: not done, a rerun runs it again
                results.append(sw.record_result(task, res))
                failed += res["status"] != "succeeded"
                bar.update(tid, advance=1, failed=failed)
    finally:
        # interrupted or not, the aggregate describes every run finished so far
        body = sw.aggregate(pl, results, outp, shard=shard, expected=mine)
    if stop.is_set() and body["runsMissing"]:
        raise sw.SweepInterrupted(body)
    return body


def merge_sweep(sweep_file: str | Path, shard_dirs: list[Path], out: str | Path) -> dict[str, Any]:
    """Aggregate the results found in ``shard_dirs`` (each a ``--shard`` output) into ``out``."""
    pl = sw.plan(load_sweep(sweep_file), out)
    results: dict[str, dict[str, Any]] = {}
    for d in shard_dirs:
        if not d.is_dir():
            raise InputError("not a directory", file=str(d), fix="pass the -o folders of the shards")
        for t in pl.tasks:
            if t.run in results:
                continue
            r = sw.load_result(d / "runs" / t.run, t)
            if r is not None:
                results[t.run] = r
    return sw.aggregate(pl, list(results.values()), Path(out).resolve())


class _SweepGroup(TyperGroup):
    """``kubetwin sweep SWEEP.yaml …`` runs a sweep; ``kubetwin sweep merge …`` merges shards."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # click.Context (vendored by typer)
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


def _print_outcome(body: dict[str, Any], out: Path) -> None:
    con = Console(stderr=True, highlight=False)
    con.print(escape(f"{body['runsDone']}/{body['runsPlanned']} runs done, {body['runsFailed']} failed"
              + (f", {len(body['runsMissing'])} missing" if body["runsMissing"] else "")
              + f"; wrote {out / 'runs.csv'}, {out / 'points.csv'} and {out / 'sweep.json'}"))
    for w in body["warnings"]:
        con.print(f"[yellow]warning:[/] {escape(w)}")
    if body["objective"] is not None:
        meets = body["meetsObjective"]
        if meets:
            best = meets[0]
            label = ", ".join(f"{k}={v}" for k, v in best["parameters"].items())
            con.print(f"{len(meets)} point(s) meet the objective; best: point {best['point']} ({escape(label)})")
        else:
            con.print("no point meets the objective")


def _exit_code(body: dict[str, Any]) -> int:
    """1 when every run there is failed (none succeeded), else 0."""
    return 1 if body["runsDone"] and body["runsFailed"] == body["runsDone"] else 0


def register(app: typer.Typer) -> None:
    group = typer.Typer(cls=_SweepGroup, no_args_is_help=True,
                        help="Run a capacity-planning sweep (scenario variants × seeds), or merge its shards.")

    @group.command("run")
    def run_cmd(
        sweep_file: Annotated[Path, typer.Argument(metavar="SWEEP", help="sweep YAML file (kind: Sweep)")],
        out: Annotated[Path, typer.Option("-o", "--out", help="output directory (rerun to resume)")] = Path("out"),
        executor: Annotated[str, typer.Option(help="local (process pool) or ray")] = "local",
        workers: Annotated[int | None, typer.Option(
            help="parallel runs (default: CPU count; with ray: the CPUs of a local Ray, ignored when joining one)")]
        = None,
        address: Annotated[str | None, typer.Option(help="Ray cluster address (ray executor)")] = None,
        shard: Annotated[str | None, typer.Option(help="run only shard i/N (Indexed Job fan-out)")] = None,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
    ) -> None:
        """Run SWEEP into OUT: runs.csv, points.csv, sweep.json; skips runs already done there.

        `kubetwin sweep SWEEP -o OUT` is short for `kubetwin sweep run SWEEP -o OUT`. Exit codes: 0 every
        run ran (some may have failed: they are in runs.csv with their error); 1 every run failed; 2
        unusable input: the sweep file, a point's scenario (each point is built before anything runs), an
        objective metric, a flag or OUT; 130 interrupted (Ctrl-C): the CSVs hold the runs finished so far,
        rerun the same command to resume."""
        if workers is not None and workers < 1:
            raise InputError("must be >= 1", field="--workers", fix="e.g. --workers 4")
        if address and executor != "ray":
            raise InputError("--address is for the ray executor", field="--address", fix="add --executor ray")
        try:
            body = run_sweep(sweep_file, out, executor=executor, workers=workers, address=address,
                             shard=sw.parse_shard(shard) if shard else None,
                             progress=not quiet and sys.stderr.isatty())
        except sw.SweepInterrupted as e:
            _print_outcome(e.body, out)
            Console(stderr=True, highlight=False).print("interrupted; rerun the same command to resume")
            raise typer.Exit(130) from None
        except KeyboardInterrupt:   # a second Ctrl-C: the CSVs were still written for the runs finished
            Console(stderr=True, highlight=False).print("interrupted; rerun the same command to resume")
            raise typer.Exit(130) from None
        _print_outcome(body, out)
        raise typer.Exit(_exit_code(body))

    @group.command("merge")
    def merge_cmd(
        sweep_file: Annotated[Path, typer.Argument(metavar="SWEEP", help="the sweep YAML the shards ran")],
        shard_dirs: Annotated[list[Path], typer.Argument(metavar="SHARD_DIR...", help="the shards' -o folders")],
        out: Annotated[Path, typer.Option("-o", "--out", help="output directory")] = Path("out"),
    ) -> None:
        """Merge the shards of a sweep (each run with --shard i/N) into one runs.csv/points.csv/sweep.json.

        Exit codes: 0 merged; 1 every run found failed; 2 unusable input."""
        body = merge_sweep(sweep_file, shard_dirs, out)
        _print_outcome(body, out)
        raise typer.Exit(_exit_code(body))

    app.add_typer(group, name="sweep")
