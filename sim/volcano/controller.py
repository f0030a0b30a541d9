"""Volcano's scheduler as a controller on the host: PodGroups in, sessions on a 1 s clock, binds out.

In a cluster, pods with ``schedulerName: volcano`` are invisible to kube-scheduler; the Volcano scheduler
(``volcano-sh/volcano pkg/scheduler``) opens a session every ``schedulePeriod`` (1 s by default,
``cmd/scheduler/app/options``) and binds whole gangs at once. This controller is that scheduler: it
takes the workload instances that are Volcano's (:func:`sim.volcano.setup.is_volcano`) on arrival, makes
each a PodGroup (``WorkloadCreated`` with policy ``volcano``, phase ``Pending``), creates its pods (a
Volcano Job's when its PodGroup is ``Inqueue``; an operator's at once) — the engine keeps them out of
the default scheduler's queue (:data:`sim.host.EXTERNAL_GANG_POLICIES`) — and runs
:class:`sim.volcano.session.Session` on the period grid ``t = k × schedulePeriod``, binding through
:meth:`sim.host.ControllerHost.bind` and evicting through :meth:`~sim.host.ControllerHost.evict`.

A session that can change nothing changes nothing, so sessions run only on grid instants after
something happened (an arrival, a pod created or finished, a node added or removed) or after a session
that made progress — the timeline is the same as with a session every second, and an idle cluster ends
its run. PodGroup phases and conditions are written when they change: ``PodGroupPhase`` (Pending →
Inqueue → Running → Completed, or Unknown) and ``PodGroupCondition`` (``Unschedulable`` /
``Scheduled`` with the gang plugin's texts); an enqueue rejection is a ``Pending`` event with the
proportion or overcommit plugin's message. Each pending pod's ``PodScheduled=False`` condition (the
scheduler cache's ``taskUnschedulable``) is a ``FailedScheduling`` event when it changes, and an
``Unschedulable`` one is published as ``pod_unschedulable`` — the cluster autoscaler's input, whatever
the scheduler.
"""

from __future__ import annotations

import math
from typing import Any

from models.quantity import format_resources
from sim.host import ControllerHost, Timer
from sim.pods import GangGroup, SimPod
from sim.volcano.job import PENDING, VolcanoJob
from sim.volcano.session import Session
from sim.volcano.setup import VolcanoPlan, is_volcano
from sim.workloads import Instance, workload_created


class VolcanoScheduler:
    """The Volcano scheduler on the controller host (also an :class:`sim.host.Admitter`)."""

    name = "volcano"

    def __init__(self, plan: VolcanoPlan) -> None:
        self.plan = plan
        self.section = plan.section
        self.period = plan.section.schedule_period
        self.scoring = plan.scoring
        self.jobs: dict[str, VolcanoJob] = {}
        self._by_pod: dict[int, VolcanoJob] = {}
        #: each pending pod's PodScheduled=False condition as last written: (reason, message)
        self._pod_cond: dict[int, tuple[str, str]] = {}
        self._host: ControllerHost | None = None
        self._timer: Timer | None = None
        self._current: Session | None = None
        self._armed_k = -1
        self._last_k = -1
        self._seq = 0
        #: jobs not Completed yet, in creation order (what a session looks at)
        self.live: dict[str, VolcanoJob] = {}
        #: how many sessions ran, evictions by action, and each job's first Running time (the summary)
        self.sessions = 0
        self.evictions: dict[str, int] = {}
        self.running_at: dict[str, float] = {}

    @property
    def host(self) -> ControllerHost:
        assert self._host is not None, "start() first"
        return self._host

    def start(self, host: ControllerHost) -> None:
        self._host = host
        queues = []
        for name in sorted(self.section.queues):
            q = self.section.queues[name]
            d: dict[str, Any] = {"name": q.name, "weight": q.weight, "reclaimable": q.reclaimable}
            if q.capability:
                d["capability"] = format_resources(q.capability)
            if q.guarantee:
                d["guarantee"] = format_resources(q.guarantee)
            queues.append(d)
        host.emit("VolcanoConfigured", "Scheduler", "volcano", data={**self.section.header(), "queues": queues})
        host.subscribe("pod_created", self._pod_created)
        host.subscribe("pod_finished", self._pod_finished)
        host.subscribe("pod_bound", self._pod_bound)
        host.subscribe("node_added", lambda _node: self._changed())
        host.subscribe("node_removed", lambda _node: self._changed())

    # ------------------------------------------------------------------ admitter

    def takes(self, inst: Instance) -> bool:
        g = inst.generator
        return f"{g.spec.namespace}/{g.spec.name}" in self.plan.jobs and is_volcano(g.spec, g)

    def submit(self, inst: Instance) -> None:
        g = inst.generator
        t = self.plan.jobs[f"{g.spec.namespace}/{g.spec.name}"]
        now = self.host.now
        default_role = g.operator_pod_sets[0] if g.operator is not None and g.operator_pod_sets else "main"
        job = VolcanoJob(inst, self._seq, now, min_available=t.min_member, min_task_member=t.min_task_member,
                         queue=t.queue, priority=t.priority, min_resources=t.min_resources,
                         create_on_inqueue=t.create_on_inqueue, default_role=default_role)
        self._seq += 1
        self.jobs[job.key] = job
        self.live[job.key] = job
        inst.group = inst.key
        inst.gang = GangGroup(inst.key, "volcano", t.min_member, 0.0, now)
        data = workload_created(inst, "volcano", t.min_member, queue=t.queue)
        if job.min_task_member:
            data["minTaskMember"] = dict(job.min_task_member)
        self.host.emit("WorkloadCreated", "PodGroup", inst.name, inst.namespace, group=inst.key, data=data)
        self.host.emit("PodGroupPhase", "PodGroup", inst.name, inst.namespace, group=inst.key,
                       data={"phase": PENDING})
        if not job.create_on_inqueue:
            self.create_pods(job)
        self._changed()

    def create_pods(self, job: VolcanoJob) -> None:
        self.host.create_pods(job.inst, {}, {})

    def job_of(self, pod: SimPod) -> Any:
        return self._by_pod.get(pod.seq)

    # ------------------------------------------------------------------ cluster events

    def _pod_created(self, pod: SimPod) -> None:
        g = pod.gang
        if g is not None and g.policy == "volcano":
            job = self.jobs.get(g.key)
            if job is not None:
                if pod.shape.example is None:  # the Filter plugins' exemplar (the autoscaler asks them too)
                    pod.shape.example = pod
                self._by_pod[pod.seq] = job
                job.touch()
                if self._current is not None:
                    self._current.new_pods.add(pod.seq)
                self._changed()

    def _pod_bound(self, pod: SimPod, node: int) -> None:
        self._pod_cond.pop(pod.seq, None)
        job = self._by_pod.get(pod.seq)
        if job is not None:
            job.touch()

    def _pod_finished(self, pod: SimPod, phase: str) -> None:
        self._pod_cond.pop(pod.seq, None)
        job = self._by_pod.pop(pod.seq, None)
        if job is not None:
            job.touch()
        if self.live:
            self._changed()

    def _changed(self) -> None:
        """Something happened that a session may act on: run one at the next grid instant."""
        if self._timer is not None:
            return
        now = self.host.now
        k = max(math.ceil(now / self.period - 1e-9), self._last_k + 1)
        self._armed_k = k
        self._timer = self.host.call_at(round(k * self.period, 9), self._session)

    # ------------------------------------------------------------------ sessions

    def _session(self) -> None:
        self._timer = None
        self._last_k = self._armed_k
        self.sessions += 1
        s = Session(self, self.host.now)
        self._current = s
        try:
            s.run()
        finally:
            self._current = None
        for job in s.jobs:
            if job.phase == "Completed" and not job.done:
                job.done = True
                del self.live[job.key]
        if s.progress and self.live:
            self._changed()

    def set_phase(self, job: VolcanoJob, phase: str, message: str | None = None) -> None:
        if phase == job.phase:
            return
        data: dict[str, Any] = {"phase": phase, "previous": job.phase}
        if message:
            data["message"] = message
        job.phase = phase
        if phase == "Running" and job.key not in self.running_at:
            self.running_at[job.key] = self.host.now
        self.host.emit("PodGroupPhase", "PodGroup", job.name, job.namespace, group=job.key, data=data)

    def set_condition(self, job: VolcanoJob, type_: str, reason: str, message: str) -> None:
        cond = (type_, reason, message)
        if cond == job.condition:
            return
        job.condition = cond
        self.host.emit("PodGroupCondition", "PodGroup", job.name, job.namespace, group=job.key,
                       reason=message or reason,
                       data={"type": type_, "status": "True", "reason": reason, "message": message})

    def pod_unschedulable(self, pod: SimPod, reason: str, message: str) -> None:
        """The scheduler cache's ``taskUnschedulable``: the pod's ``PodScheduled=False`` condition with
        ``reason`` (``Unschedulable``, or ``Schedulable`` for a task allocated in a discarded statement) and
        ``message``, written — with a ``FailedScheduling`` event — only when it changes; an ``Unschedulable``
        one reaches the ``pod_unschedulable`` subscribers (the cluster autoscaler)."""
        cond = (reason, message)
        if self._pod_cond.get(pod.seq) == cond:
            return
        self._pod_cond[pod.seq] = cond
        self.host.report_unschedulable(pod, reason, message)

    def enqueue_rejected(self, job: VolcanoJob, message: str) -> None:
        cond = ("Pending", "Unschedulable", message)
        if cond == job.condition:
            return
        job.condition = cond
        self.host.emit("Pending", "PodGroup", job.name, job.namespace, group=job.key, reason=message,
                       data={"message": message})

    def evicted(self, action: str) -> None:
        self.evictions[action] = self.evictions.get(action, 0) + 1

    def summary_section(self, end: float) -> dict[str, Any]:
        """``summary.json``'s ``volcano``: sessions, evictions, and per Queue its jobs and their waits from
        PodGroup creation to first ``Running`` (a job never running has waited until the end)."""
        queues: dict[str, dict[str, Any]] = {}
        by_queue: dict[str, list[VolcanoJob]] = {}
        for job in sorted(self.jobs.values(), key=lambda j: j.seq):
            by_queue.setdefault(job.queue, []).append(job)
        for name in sorted(by_queue):
            jobs = by_queue[name]
            waits = sorted(self.running_at.get(j.key, end) - j.created for j in jobs)
            never = sum(1 for j in jobs if j.key not in self.running_at)
            queues[name] = {"jobs": len(jobs), "completed": sum(1 for j in jobs if j.phase == "Completed"),
                            "timeToRunning": {"count": len(waits), "p50": _rank(waits, 0.5),
                                              "p95": _rank(waits, 0.95), "max": waits[-1], "stillPending": never}}
        return {"volcano": {"sessions": self.sessions, "evictions": dict(sorted(self.evictions.items())),
                            "queues": queues}}


def _rank(values: list[float], q: float) -> float:
    """Nearest-rank percentile of sorted ``values``."""
    return values[max(0, math.ceil(q * len(values)) - 1)]
