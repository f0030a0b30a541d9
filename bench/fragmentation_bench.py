"""The fragmentation-experiment benchmark: wall and CPU seconds per run (policy × seed) on the openb trace.

``python -m bench.fragmentation_bench [--pods NAME] [--policies P,…] [--seeds 42-44] [--json F] [--check]``
runs ``kubetwin experiment fragmentation``'s protocol (``sim.gpushare.experiment``) on
``../shared/data/openb/`` (node list ``openb_node_list_gpu_node.csv``, 6,212 GPUs; pod list
``openb_pod_list_<NAME>.csv``, default ``default``) and reports per policy the mean and max wall seconds
and the mean CPU seconds of one run, beside the mean GPU allocation and the paper's value. Target: ≤ 2 s
of wall time per run, FGD included (``--check`` exits 1 when a run's wall time is over it). The trace is
loaded once, outside the clock; a run's clock covers emptying the cluster, building the fragmentation
tracker, and scheduling and recording every pod.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

from kubetwin.cmd_experiment import parse_policies, parse_seeds
from models.openb import read_nodes, read_pods
from sim.gpushare.experiment import PAPER_ALLOCATION_130, Experiment, summary_table
from sim.gpushare.model import Cluster, PodRequest
from sim.gpushare.policies import POLICY_NAMES

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "openb"
TARGET_WALL_SECONDS = 2.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.fragmentation_bench",
                                 description="wall and CPU seconds per fragmentation-experiment run")
    ap.add_argument("--pods", default="default", help="pod list: openb_pod_list_<NAME>.csv (default: default)")
    ap.add_argument("--policies", default=",".join(POLICY_NAMES))
    ap.add_argument("--seeds", default="42-44")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--check", action="store_true", help="exit 1 when a run takes more than 2 s of wall time")
    args = ap.parse_args(argv)
    pods_file = DATA / f"openb_pod_list_{args.pods}.csv"
    if not pods_file.exists():
        print(f"no trace at {pods_file} (the openb data lives in ../shared/data/openb/)", file=sys.stderr)
        return 2
    nodes = read_nodes(DATA / "openb_node_list_gpu_node.csv")
    pods = read_pods(pods_file)
    exp = Experiment.build(Cluster.from_trace(nodes), [PodRequest.from_trace(p) for p in pods],
                           [p.name for p in pods], 1.3)
    runs = [exp.run(policy, seed) for policy in parse_policies(args.policies) for seed in parse_seeds(args.seeds)]
    table = summary_table(runs)
    paper = PAPER_ALLOCATION_130.get(pods_file.stem, {})
    print(f"{'policy':<14} {'alloc %':>8} {'paper %':>8} {'mean s':>7} {'max s':>7} {'cpu s':>7}")
    for row in table:
        ref = paper.get(row["policy"])
        print(f"{row['policy']:<14} {row['meanGpuAllocationPercent']:8.2f} {'' if ref is None else f'{ref:.2f}':>8} "
              f"{row['meanWallSeconds']:7.3f} {row['maxWallSeconds']:7.3f} {row['meanCpuSeconds']:7.3f}")
    worst = max(r.wallSeconds for r in runs)
    met = worst <= TARGET_WALL_SECONDS
    print(f"slowest run {worst:.3f} s; target ≤ {TARGET_WALL_SECONDS} s per run: {'met' if met else 'MISSED'}")
    if args.json is not None:
        args.json.write_text(json.dumps({"pods": pods_file.name, "machine": {"python": platform.python_version(),
                                                                             "processor": platform.processor()},
                                         "targetWallSeconds": TARGET_WALL_SECONDS, "met": met, "table": table,
                                         "runs": [r.to_dict() | {"curve": len(r.curve)} for r in runs]},
                                        indent=1) + "\n")
    return 1 if args.check and not met else 0


if __name__ == "__main__":
    sys.exit(main())
