"""``kubetwin experiment fragmentation``: the GPU-fragmentation experiment of "Beware of Fragmentation".

Fills a GPU-sharing cluster (an openb-style node list) with a trace's pods, shuffled and resampled until
their GPU requests reach ``--target`` × the cluster's GPUs, under each placement policy (kube-scheduler
score plugins, :mod:`sim.gpushare.policies`) and each seed, and reports the GPU allocation reached and the
fragmentation curve. The protocol is :mod:`sim.gpushare.experiment`; ``docs/experiments.md`` explains it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from models.errors import InputError, did_you_mean
from models.openb import read_nodes, read_pods
from sim.gpushare.experiment import PAPER_ALLOCATION_130, Experiment, RunResult, summary_table
from sim.gpushare.model import Cluster, PodRequest
from sim.gpushare.policies import POLICY_NAMES

HELP = (
    "Reproduce the fragmentation experiment of 'Beware of Fragmentation' (ATC'23) on an openb-style trace: "
    "per seed, shuffle the pods, resample until GPU requests reach TARGET × cluster GPUs, schedule one by one "
    "under each policy, and record GPU allocation and fragmentation.\n\n"
    "Exit codes: 0 done; 2 unusable input."
)


def parse_seeds(text: str) -> list[int]:
    """``42-51`` (inclusive range), ``42,45,50`` or ``42``."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            part = part.strip()
            if "-" in part:
                lo, hi = part.split("-", 1)
                a, b = int(lo), int(hi)
                if b < a:
                    raise ValueError
                seeds.extend(range(a, b + 1))
            else:
                seeds.append(int(part))
    except ValueError:
        raise InputError(f"bad seed list {text!r}", field="--seeds",
                         fix="write a range like 42-51, a list like 42,43,44, or one seed (seeds are ≥ 0)") from None
    if not seeds:
        raise InputError("no seeds", field="--seeds", fix="write a range like 42-51")
    return seeds


def parse_policies(text: str) -> list[str]:
    names = [p.strip() for p in text.split(",") if p.strip()]
    if not names:
        raise InputError("no policy named", field="--policy", fix=f"choose from {', '.join(POLICY_NAMES)}")
    for name in names:
        if name not in POLICY_NAMES:
            guess = did_you_mean(name, POLICY_NAMES)
            raise InputError(f"unknown policy {name!r}", field="--policy",
                             fix=f"did you mean {guess!r}?" if guess else f"choose from {', '.join(POLICY_NAMES)}")
    return names


def run_fragmentation(nodes: Path, pods: Path, policies: list[str], target: float, seeds: list[int],
                      console: Console | None = None) -> dict[str, Any]:
    """Run every (policy, seed) and return the JSON document (``runs``, ``table`` and the inputs)."""
    if not target > 0:
        raise InputError(f"target {target} is not positive", field="--target",
                         fix="give the share of cluster GPUs to submit, e.g. 1.3 for 130 %")
    node_rows = read_nodes(nodes)
    pod_rows = read_pods(pods)
    cluster = Cluster.from_trace(node_rows)
    if cluster.capacity_gpu_milli == 0:
        raise InputError("the node list has no GPUs", file=str(nodes), field="gpu",
                         fix="use a node list with GPU nodes, e.g. openb_node_list_gpu_node.csv")
    if not any(p.num_gpu for p in pod_rows):
        raise InputError("no pod asks for a GPU", file=str(pods), field="num_gpu",
                         fix="use a pod list with GPU pods: the experiment fills the cluster's GPUs")
    exp = Experiment.build(cluster, [PodRequest.from_trace(p) for p in pod_rows], [p.name for p in pod_rows],
                           target)
    runs: list[RunResult] = []
    for policy in policies:
        for seed in seeds:
            r = exp.run(policy, seed)
            runs.append(r)
            if console is not None:
                console.print(f"[dim]{policy:<14} seed {seed:<5} allocation {r.gpuAllocationPercent:7.3f} %  "
                              f"{r.podsArrived} pods ({r.podsUnscheduled} unscheduled)  {r.wallSeconds:.3f} s[/]")
    table = summary_table(runs)
    reference = PAPER_ALLOCATION_130.get(pods.stem) if abs(target - 1.3) < 1e-9 else None
    if reference:
        for row in table:
            if row["policy"] in reference:
                row["paperGpuAllocationPercent"] = reference[row["policy"]]
    return {"nodes": str(nodes), "pods": str(pods), "target": target, "clusterGpus": cluster.capacity_gpu_milli // 1000,
            "podsInTrace": len(pod_rows), "targetWorkloadShapes": len(exp.shapes),
            "runs": [r.to_dict() for r in runs], "table": table}


def render(console: Console, doc: dict[str, Any]) -> None:
    table = Table(title=f"fragmentation experiment: {Path(doc['pods']).name} on {Path(doc['nodes']).name} "
                        f"({doc['clusterGpus']} GPUs), target {100 * doc['target']:g} %", title_justify="left")
    table.add_column("policy", no_wrap=True)
    table.add_column("mean GPU allocation %", justify="right")
    table.add_column("paper %", justify="right")
    table.add_column("diff", justify="right")
    table.add_column("seeds", justify="right")
    table.add_column("mean s/run", justify="right")
    table.add_column("max s/run", justify="right")
    table.add_column("CPU s/run", justify="right")
    for row in doc["table"]:
        paper = row.get("paperGpuAllocationPercent")
        diff = "" if paper is None else f"{row['meanGpuAllocationPercent'] - paper:+.2f}"
        seeds = row["seeds"]
        seed_text = f"{seeds[0]}–{seeds[-1]}" if len(seeds) > 1 else str(seeds[0])
        table.add_row(row["policy"], f"{row['meanGpuAllocationPercent']:.2f}",
                      "" if paper is None else f"{paper:.2f}", diff, seed_text,
                      f"{row['meanWallSeconds']:.3f}", f"{row['maxWallSeconds']:.3f}",
                      f"{row['meanCpuSeconds']:.3f}")
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the ``experiment`` verb group (``experiment fragmentation``) to the app."""
    experiment = typer.Typer(help="Published experiments reproduced on real traces.", no_args_is_help=True)
    app.add_typer(experiment, name="experiment")

    @experiment.command("fragmentation", help=HELP)
    def fragmentation(
        nodes: Annotated[Path, typer.Option("--nodes", help="node list CSV (sn, cpu_milli, memory_mib, gpu, model)")],
        pods: Annotated[Path, typer.Option("--pods", help="pod list CSV (name, cpu_milli, memory_mib, num_gpu, "
                                                          "gpu_milli[, gpu_spec])")],
        policy: Annotated[str, typer.Option("--policy", help="policies, comma-separated")] = ",".join(POLICY_NAMES),
        target: Annotated[float, typer.Option("--target", help="submit GPU requests up to this × cluster GPUs")] = 1.3,
        seeds: Annotated[str, typer.Option("--seeds", help="seeds: a range 42-51 or a list 42,43")] = "42-51",
        json_out: Annotated[Path | None, typer.Option("--json", help="write runs and table as JSON here")] = None,
        quiet: Annotated[bool, typer.Option("--quiet", help="no per-run lines")] = False,
    ) -> None:
        console = Console(highlight=False, width=max(110, Console().width))
        progress = None if quiet else Console(stderr=True, highlight=False)
        doc = run_fragmentation(nodes, pods, parse_policies(policy), target, parse_seeds(seeds), progress)
        if json_out is not None:
            try:
                json_out.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
            except OSError as e:
                raise InputError(f"cannot write the JSON report: {e}", file=str(json_out)) from None
        render(console, doc)
        sys.stdout.flush()
