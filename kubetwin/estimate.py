"""What a run will cost, told before it starts: pods, timeline events, disk and memory.

``kubectl apply`` of a Job with ``completions: 100000000`` is accepted and then floods the cluster; a
planning tool should say so first. :func:`estimate_run` counts the pods a scenario's workload
generators create inside the run (arrivals after the end do not happen) and turns them into timeline
events, timeline bytes, memory and wall time with rates measured by ``python -m bench``
(``docs/benchmarks.md``). ``kubetwin simulate`` refuses a run past :data:`MAX_EVENTS` events or
:data:`MAX_MEMORY_BYTES` of memory unless ``--yes`` is given (limits in ``docs/scenario.md``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from models.duration import parse_duration
from models.errors import InputError
from models.resolution import job_manifest, scenario_manifests
from models.scenario import Scenario, WorkloadGen

#: a pod's lifecycle in the timeline: PodCreated, Scheduled, PodRunning, PodSucceeded
EVENTS_PER_POD = 4
#: a gang or Kueue instance adds WorkloadCreated, QuotaReserved, Admitted, PodsReady, WorkloadFinished…
EVENTS_PER_GROUP = 6
#: measured: week-10000n-1m writes 4.0 M events in 840 MB
BYTES_PER_EVENT = 210
#: measured: ~85 k events/s on one core of the benchmark machine
EVENTS_PER_SECOND = 85_000
#: a pod held in memory (pending or running), with its share of indexes; an upper bound assumes every
#: pod is alive at once, which a queue that never drains makes true
BYTES_PER_POD = 1_024
BASE_MEMORY_BYTES = 150 * 2**20

MAX_EVENTS = 20_000_000
MAX_MEMORY_BYTES = 4 * 2**30


@dataclass(frozen=True, slots=True)
class RunEstimate:
    """The expected size of one run (upper bounds where arrivals are random)."""

    instances: int
    pods: int
    events: int
    timeline_bytes: int
    memory_bytes: int
    wall_seconds: float

    def over_limit(self) -> bool:
        return self.events > MAX_EVENTS or self.memory_bytes > MAX_MEMORY_BYTES

    def describe(self) -> str:
        return (f"about {self.pods:,} pods and {self.events:,} timeline events: a {_size(self.timeline_bytes)} "
                f"timeline, up to {_size(self.memory_bytes)} of memory and ~{_wall(self.wall_seconds)} of "
                "wall time")


def _size(n: int) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n / 1e3:,.0f} kB"


def _wall(s: float) -> str:
    if s >= 86_400:
        return f"{s / 86_400:,.1f} days"
    if s >= 3_600:
        return f"{s / 3_600:,.1f} h"
    return f"{max(s, 1) / 60:,.1f} min" if s >= 60 else f"{max(s, 1):,.0f} s"


def _instances(w: WorkloadGen, horizon: float) -> int:
    """Instances that arrive within ``horizon`` seconds (expected +4σ for Poisson)."""
    a = w.arrival
    if a.at is not None:
        times = sorted(parse_duration(t) for t in a.at)
        n = sum(1 for t in times if t <= horizon)
        return n if w.count is None else min(n, w.count)
    if a.every is not None:
        step = parse_duration(a.every)
        n = w.count or 0
        return n if step == 0 else min(n, math.floor(horizon / step) + 1)
    assert a.poisson is not None
    mean = horizon / parse_duration(a.poisson.meanInterval)
    expected = math.ceil(mean + 4 * math.sqrt(mean))
    return expected if w.count is None else min(expected, w.count)


def estimate_run(sc: Scenario, until: float | None = None) -> RunEstimate:
    """The cost of simulating ``sc`` for ``until`` seconds (default ``spec.duration``)."""
    horizon = parse_duration(sc.spec.duration) if until is None else until
    ms = scenario_manifests(sc)
    src = str(sc.source) if sc.source else None
    instances = pods = events = 0
    for i, w in enumerate(sc.spec.workloads):
        n = _instances(w, horizon)
        if w.template is not None:
            per = w.replicas
        elif w.podSets is not None:
            per = sum(ps.replicas for ps in w.podSets)
        else:
            per = sum(ps.count for ps in job_manifest(w, ms, f"spec.workloads[{i}]", src).pod_sets)
        instances += n
        pods += n * per
        events += n * per * EVENTS_PER_POD + (n * EVENTS_PER_GROUP if (w.gang or w.queue) else 0)
    nodes = sum(p.count for p in sc.spec.cluster.nodePools)
    events += nodes + 2
    return RunEstimate(instances, pods, events, events * BYTES_PER_EVENT,
                       BASE_MEMORY_BYTES + pods * BYTES_PER_POD, events / EVENTS_PER_SECOND)


def check_run_size(sc: Scenario, until: float | None, *, yes: bool) -> RunEstimate:
    """:func:`estimate_run`, refused with an :class:`InputError` past the limits unless ``yes``."""
    est = estimate_run(sc, until)
    if est.over_limit() and not yes:
        raise InputError(f"this run would make {est.describe()}; refusing to start it without --yes",
                         file=str(sc.source) if sc.source else None,
                         fix=f"lower count or duration (limits: {MAX_EVENTS:,} events, {_size(MAX_MEMORY_BYTES)} "
                             "of memory), or pass --yes to run it anyway")
    return est


__all__ = ["MAX_EVENTS", "MAX_MEMORY_BYTES", "RunEstimate", "check_run_size", "estimate_run"]
