"""``python -m bench.checks``: how fast the invariant checks of ``kubetwin validate`` read a large timeline.

The checks mirror what Kubernetes guarantees (node capacity, the pod lifecycle, gang quorum…) and must
stay linear in the number of events: one pass per check group, dict state. This benchmark builds a
synthetic timeline of gangs on 1,000 nodes (8,000 gangs of 8 pods: 64,000 pods, ~265,000 events by
default), runs every check on it and reports events per CPU second. It was a timed assertion in the
test suite (20 CPU seconds); speed is measured here instead, and ``--check`` fails (exit 1) when the
run takes longer than ``--target-seconds`` of CPU.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from models.timeline import Event
from validator.checks import FAILED, run_checks

NODES = 1000
GANG_SIZE = 8


def synthetic_timeline(gangs: int) -> list[Event]:
    """A valid timeline: ``NODES`` nodes, then ``gangs`` coscheduling gangs of ``GANG_SIZE`` pods that are
    created, bound, run and succeed, one gang per second (``1 + NODES + 33·gangs`` events)."""
    events: list[Event] = []

    def add(t: float, type_: str, kind: str, name: str, node: str | None = None, group: str | None = None,
            data: dict[str, Any] | None = None) -> None:
        events.append(Event(len(events), t, type_, kind, name, "ns" if kind != "Node" else None, None, node,
                            group, None, dict(data or {})))

    add(0.0, "RunStarted", "Run", "big", data={"schemaVersion": 1, "source": "sim"})
    for i in range(NODES):
        add(0.0, "NodeReady", "Node", f"n{i}", data={"allocatable": {"cpu": "96", "nvidia.com/gpu": "8"}})
    t = 1.0
    for g in range(gangs):
        gang = f"ns/g{g}"
        add(t, "WorkloadCreated", "PodGroup", f"g{g}", group=gang,
            data={"policy": "coscheduling", "minCount": GANG_SIZE, "pods": GANG_SIZE})
        nodes = [f"n{(g * GANG_SIZE + i) % NODES}" for i in range(GANG_SIZE)]
        pods = [f"g{g}-{i}" for i in range(GANG_SIZE)]
        for pod in pods:
            add(t, "PodCreated", "Pod", pod, group=gang, data={"requests": {"cpu": "8", "nvidia.com/gpu": "1"}})
        for pod, node in zip(pods, nodes, strict=True):
            add(t, "Scheduled", "Pod", pod, node=node, group=gang)
        for pod, node in zip(pods, nodes, strict=True):
            add(t, "PodRunning", "Pod", pod, node=node, group=gang)
        for pod, node in zip(pods, nodes, strict=True):
            add(t + 0.5, "PodSucceeded", "Pod", pod, node=node, group=gang)
        t += 1.0
    return events


def measure(gangs: int) -> dict[str, Any]:
    """Run every check once on a synthetic timeline; CPU and wall seconds, events per CPU second."""
    events = synthetic_timeline(gangs)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    results = run_checks(events)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {"gangs": gangs, "events": len(events), "cpuSeconds": round(cpu, 3), "wallSeconds": round(wall, 3),
            "eventsPerCpuSecond": round(len(events) / cpu) if cpu > 0 else None,
            "failed": [r.invariant.id for r in results if r.status == FAILED]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.checks", description=__doc__.splitlines()[0])
    parser.add_argument("--gangs", type=int, default=8000, help="gangs of 8 pods (default 8000: ~265k events)")
    parser.add_argument("--target-seconds", type=float, default=20.0, help="CPU seconds allowed (default 20)")
    parser.add_argument("--json", help="also write the result to this file")
    parser.add_argument("--check", action="store_true", help="exit 1 when the target is missed")
    args = parser.parse_args(argv)
    result = measure(args.gangs)
    result["targetCpuSeconds"] = args.target_seconds
    result["met"] = result["cpuSeconds"] <= args.target_seconds and not result["failed"]
    print(f"{result['events']} events checked in {result['cpuSeconds']} s CPU ({result['wallSeconds']} s wall): "
          f"{result['eventsPerCpuSecond']} events/CPU s; target ≤ {args.target_seconds} s: "
          f"{'met' if result['met'] else 'MISSED'}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=2)
    return 1 if args.check and not result["met"] else 0


if __name__ == "__main__":
    sys.exit(main())
