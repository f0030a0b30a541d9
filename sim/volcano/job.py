"""A Volcano job: one PodGroup and its tasks (pods), as the scheduler cache holds it between sessions.

Volcano calls a PodGroup and its pods a *job* (``api.JobInfo``) and each pod a *task* (``api.TaskInfo``)
with a role — the task name of a Volcano Job, a pod set here. A task's status comes from its pod:
``Pending`` (not bound), ``Running`` (bound; Volcano's Bound/Running), ``Succeeded``, ``Failed``. The
gang plugin's counts follow upstream (``pkg/scheduler/api/job_info.go``): *ready* tasks are the bound,
running and succeeded ones; a job is ready when ready tasks plus pending best-effort tasks (no requests)
reach ``minAvailable`` and every task role reaches its ``minTaskMember`` (checked only when
``minAvailable`` is at least the sum of the per-task minimums, as upstream).
"""

from __future__ import annotations

from typing import Any

from sim.pods import SimPod

#: pod phases of tasks Volcano still tracks (a preempted or deleted pod is gone from its cache)
GONE = frozenset({"Preempted", "Deleted"})
PENDING, INQUEUE, RUNNING, UNKNOWN, COMPLETED = "Pending", "Inqueue", "Running", "Unknown", "Completed"


class VolcanoJob:
    """One PodGroup: its template values, its instance's pods and the status Volcano last wrote."""

    __slots__ = (
        "best_effort",
        "condition",
        "create_on_inqueue",
        "created",
        "done",
        "inst",
        "key",
        "memo",
        "min_available",
        "min_resources",
        "min_task_member",
        "name",
        "namespace",
        "phase",
        "pods_created",
        "priority",
        "queue",
        "role_of",
        "seq",
    )

    def __init__(self, inst: Any, seq: int, created: float, *, min_available: int, min_task_member: dict[str, int],
                 queue: str, priority: int, min_resources: dict[str, int] | None, create_on_inqueue: bool,
                 default_role: str) -> None:
        self.inst = inst
        self.key: str = inst.key
        self.namespace: str = inst.namespace
        self.name: str = inst.name
        self.seq = seq
        self.created = created
        self.min_available = min_available
        self.min_task_member = {k: v for k, v in sorted(min_task_member.items()) if v > 0}
        self.queue = queue
        self.priority = priority
        self.min_resources = min_resources
        self.create_on_inqueue = create_on_inqueue
        self.pods_created = not create_on_inqueue
        self.phase = PENDING
        #: the (type, reason, message) of the condition last written
        self.condition: tuple[str, str, str] | None = None
        self.done = False
        self.role_of = default_role
        #: best-effort tasks (no requests) are backfilled and count as ready while pending
        self.best_effort: dict[int, bool] = {}
        #: task lists derived from the pods' phases, kept until :meth:`touch` (a pod created, bound or ended)
        self.memo: dict[str, Any] = {}

    def touch(self) -> None:
        """One of the job's pods changed phase: forget the derived task lists."""
        self.memo.clear()

    # ------------------------------------------------------------------ tasks

    def role(self, pod: SimPod) -> str:
        return pod.pod_set or self.role_of

    def tasks(self) -> list[SimPod]:
        """Every task Volcano knows: live, succeeded and failed pods (not the preempted or deleted ones)."""
        out = self.memo.get("tasks")
        if out is None:
            out = self.memo["tasks"] = [p for p in self.inst.pods if p.phase not in GONE]
        return out  # shared until touch(): callers do not mutate it

    def pending(self) -> list[SimPod]:
        """Pending tasks in task order: priority (higher first), then creation."""
        out = self.memo.get("pending")
        if out is None:
            out = [p for p in self.inst.pods if p.phase == "Pending" and p.node < 0]
            out.sort(key=lambda p: (-p.priority, p.created, p.seq))
            self.memo["pending"] = out
        return out  # shared until touch(): callers do not mutate it

    def ready_tasks(self) -> list[SimPod]:
        out = self.memo.get("ready")
        if out is None:
            out = self.memo["ready"] = [p for p in self.inst.pods if p.phase in ("Running", "Succeeded")]
        return out  # shared until touch(): callers do not mutate it

    def running(self) -> list[SimPod]:
        out = self.memo.get("running")
        if out is None:
            out = self.memo["running"] = [p for p in self.inst.pods if p.phase == "Running"]
        return out  # shared until touch(): callers do not mutate it

    def is_best_effort(self, pod: SimPod) -> bool:
        be = self.best_effort.get(pod.seq)
        if be is None:
            be = self.best_effort[pod.seq] = best_effort(pod)
        return be

    def readiness(self) -> tuple[list[SimPod], int]:
        """The ready tasks and the number of pending best-effort ones (what :meth:`ready_with` adds to)."""
        return self.ready_tasks(), sum(1 for p in self.pending() if self.is_best_effort(p))

    def ready_with(self, ready: list[SimPod], best_effort: int, extra: list[SimPod]) -> bool:
        """:meth:`is_ready` from a :meth:`readiness` taken before ``extra`` (non-best-effort) were allocated."""
        if len(ready) + len(extra) + best_effort < self.min_available:
            return False
        return self.roles_ready(ready + extra)

    def is_ready(self, extra: list[SimPod] | None = None) -> bool:
        """The gang plugin's JobReady: ready (+ tentatively allocated ``extra``) + pending best-effort tasks
        reach minAvailable, and each task role its minTaskMember."""
        if not extra:
            memo = self.memo.get("is_ready")
            if memo is None:
                memo = self.memo["is_ready"] = self._is_ready(None)
            return bool(memo)
        return self._is_ready(extra)

    def _is_ready(self, extra: list[SimPod] | None) -> bool:
        extra = extra or []
        ready = self.ready_tasks()
        taken = {p.seq for p in extra}
        be = [p for p in self.pending() if p.seq not in taken and self.is_best_effort(p)]
        if len(ready) + len(extra) + len(be) < self.min_available:
            return False
        return self.roles_ready(ready + extra)

    def roles_ready(self, occupied: list[SimPod]) -> bool:
        if not self.min_task_member or self.min_available < sum(self.min_task_member.values()):
            return True
        counts: dict[str, int] = {}
        for p in occupied:
            r = self.role(p)
            counts[r] = counts.get(r, 0) + 1
        return all(counts.get(r, 0) >= n for r, n in self.min_task_member.items())

    def valid(self) -> bool:
        """The gang plugin's JobValid: enough pods exist (pending or better) for minAvailable and each role."""
        tasks = [p for p in self.inst.pods if p.phase in ("Pending", "Running", "Succeeded")]
        return len(tasks) >= self.min_available and self.roles_ready(tasks)


def best_effort(pod: SimPod) -> bool:
    """True when the pod requests nothing but its pod slot (Volcano's BestEffort task)."""
    requests = pod.shape.key[0]  # ((resource name, milli), ...): see the engine's pod shapes
    return all(name == "pods" or q <= 0 for name, q in requests)
