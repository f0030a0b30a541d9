"""Volcano's gang promises, checked on a timeline: session atomicity (G10) and gang-safe eviction (G8).

Volcano binds a job's tasks only from a committed session statement: all the binds of one commit
happen in one session, and only when ready + allocated tasks reach the PodGroup's ``minMember``
(``minAvailable``) and each task's ``minTaskMember``; sessions run every ``schedulePeriod`` (1 s). Its
preempt and reclaim actions take a task only while its job keeps more than ``minAvailable`` ready tasks
(the gang plugin's victim filter). Invariants (k8s-semantics §2e), for groups whose ``WorkloadCreated``
policy is ``volcano``:

* ``G10`` session atomicity — the binds of a group are cut into attempts: binds within one instant
  (sim) or one bind window (live; ``bindWindowSeconds``, default 5 s). At each attempt, the group's
  ready pods (bound earlier and still running, or succeeded) plus the attempt's binds reach
  ``minCount``, and per pod set its ``minTaskMember`` (when ``minCount`` is at least their sum). In a
  simulated run every attempt falls on the session grid ``k × schedulePeriod`` (``VolcanoConfigured``;
  1 s when absent).
* ``G8-volcano`` gang-safe eviction — a pod of a Volcano group that Volcano evicts (``PodDeleted`` with
  its evictor's message ``Pod is evicted, because of reclaim`` / ``preempt``) leaves its group with at
  least ``minCount`` ready pods: an eviction is allowed only while the group holds more than
  ``minCount``. kube-scheduler's preemptions and node failures are outside Volcano's promise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from models.timeline import Event
from validator.checks.common import Finding, PassResult, fmt_t, header, pod_ref, prepare, tolerance, workload_ref

G10, G8V = "G10", "G8-volcano"
LIVE_BIND_WINDOW = 5.0
#: Volcano's evictor message (``pkg/scheduler/cache``): the pod's Evict event, then it is deleted
EVICT_MESSAGE = "Pod is evicted, because of "
DEFAULT_PERIOD = 1.0


@dataclass(slots=True)
class _Job:
    key: str
    min_count: int
    min_task: dict[str, int]
    ready: dict[str, str] = field(default_factory=dict)  # pod key -> pod set
    batch: list[str] = field(default_factory=list)
    batch_t: float = 0.0
    base: dict[str, str] = field(default_factory=dict)


def volcano_pass(events: Sequence[Event]) -> PassResult:
    """One pass over the timeline: Volcano groups, their binds by attempt, and their evictions."""
    out = PassResult()
    evs = prepare(events)
    tol = tolerance(evs)
    hdr = header(evs)
    live = hdr.get("source") == "live"
    window = max(float(hdr.get("bindWindowSeconds", LIVE_BIND_WINDOW if live else 0.0)), tol)
    period = DEFAULT_PERIOD
    jobs: dict[str, _Job] = {}
    pod_set: dict[str, str] = {}

    def close(job: _Job) -> None:
        if not job.batch:
            return
        bound = dict(job.base)
        for p in job.batch:
            bound[p] = pod_set.get(p, "main")
        objs = (workload_ref(job.key, "PodGroup"), *(pod_ref(p) for p in job.batch))
        t = job.batch_t
        if len(bound) < job.min_count:
            out.findings.append(Finding(G10, objs, t, f"{len(job.batch)} pods of Volcano job {job.key} bound at "
                                                      f"t={fmt_t(t)} with {len(job.base)} ready: "
                                                      f"{len(bound)} < minMember {job.min_count}"))
        elif job.min_task and job.min_count >= sum(job.min_task.values()):
            counts: dict[str, int] = {}
            for ps in bound.values():
                counts[ps] = counts.get(ps, 0) + 1
            short = [f"{ps} {counts.get(ps, 0)}/{n}" for ps, n in sorted(job.min_task.items())
                     if counts.get(ps, 0) < n]
            if short:
                out.findings.append(Finding(G10, objs, t, f"Volcano job {job.key} bound at t={fmt_t(t)} short of "
                                                          f"minTaskMember: {', '.join(short)}"))
        if not live:
            k = round(t / period)
            if abs(t - k * period) > tol:
                out.findings.append(Finding(G10, objs, t, f"Volcano job {job.key} bound at t={fmt_t(t)}, not at a "
                                                          f"session (every {fmt_t(period)}s)"))
        job.batch = []

    for i, ev in enumerate(evs):
        typ = ev.type
        if typ == "VolcanoConfigured":
            period = float(ev.data.get("schedulePeriod", DEFAULT_PERIOD)) or DEFAULT_PERIOD
            continue
        if typ == "WorkloadCreated":
            if ev.data.get("policy") == "volcano":
                key = ev.group or evs.keys[i]
                jobs[key] = _Job(key, int(ev.data.get("minCount", 0)),
                                 {str(k): int(v) for k, v in (ev.data.get("minTaskMember") or {}).items()})
                out.applicable.update((G10, G8V))
            continue
        if ev.kind != "Pod" or ev.group is None or ev.group not in jobs:
            continue
        job = jobs[ev.group]
        pkey = evs.keys[i]
        if typ == "PodCreated":
            pod_set[pkey] = str(ev.data.get("podSet") or "main")
        elif typ == "Scheduled":
            if job.batch and ev.t - job.batch_t > window:
                close(job)
            if not job.batch:
                job.batch_t = ev.t
                job.base = dict(job.ready)
            job.batch.append(pkey)
            job.ready[pkey] = pod_set.get(pkey, "main")
        elif typ == "PodDeleted" and (ev.reason or "").startswith(EVICT_MESSAGE):
            if pkey in job.ready and len(job.ready) <= job.min_count:
                why = (ev.reason or "")[len(EVICT_MESSAGE):]
                out.findings.append(Finding(G8V, (pod_ref(pkey), workload_ref(job.key, "PodGroup")), ev.t,
                                            f"Volcano evicted {pkey} ({why}), leaving job {job.key} with "
                                            f"{len(job.ready) - 1} ready pods, below minMember {job.min_count}"))
            job.ready.pop(pkey, None)
        elif typ in ("PodFailed", "PodDeleted", "Preempted"):
            job.ready.pop(pkey, None)
    for job in jobs.values():
        close(job)
    return out
