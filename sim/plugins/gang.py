"""Gang scheduling at the scheduler: scheduler-plugins' ``Coscheduling`` and upstream ``GangScheduling``.

Both keep a gang (a coscheduling ``PodGroup``, or a pod group of a ``scheduling.k8s.io`` Workload —
KEP-4671) together:

* **PreEnqueue** — a member enters the active queue only once ``minCount`` members exist;
* **Permit** — a reserved member *waits*, holding its reservation, until ``minCount`` members of its
  group are reserved or bound; then every waiting member is allowed at once. The first wait starts
  the group's deadline — coscheduling's ``scheduleTimeoutSeconds`` (default 60 s), KEP-4671's fixed
  5 minutes — and when it passes every waiting member is rejected (``GangTimedOut``) and goes back
  to the queue;
* **PostFilter** (Coscheduling only) — when a member fails Filter while siblings wait at Permit and
  the group is more than ``podGroupRejectPercentage`` (10 %) short of quorum, the waiting siblings are
  rejected ("optimistic rejection in PostFilter"), so they do not hold capacity for a gang that cannot
  form. Like upstream, the siblings' rejections land after the failing pod's own FailedScheduling.

One class serves both plugins; each instance acts only on groups of its own policy.
"""

from __future__ import annotations

from typing import Any

from models.duration import go_duration
from sim.framework import CycleState, register
from sim.pods import GangGroup, SimPod

COSCHEDULING_REJECT_PERCENTAGE = 10


class GangPermit:
    depends: frozenset[str] = frozenset()

    def __init__(self, context: Any, name: str, policies: tuple[str, ...]) -> None:
        self.name = name
        self.policies = policies
        self.host = context.host
        self.context = context

    def _mine(self, pod: SimPod) -> GangGroup | None:
        g = pod.gang
        return g if g is not None and g.policy in self.policies else None

    def pre_enqueue(self, pod: SimPod) -> bool:
        g = self._mine(pod)
        return g is None or len(g.members) >= g.min_count

    def permit(self, pod: SimPod, node: int, state: CycleState) -> bool:
        """True: bind now. False: the pod waits at Permit; this plugin allows or rejects it later."""
        g = self._mine(pod)
        if g is None:
            return True
        pod.phase = "Waiting"
        g.waiting.append(pod)
        if g.bound + len(g.waiting) >= g.min_count:
            waiting, g.waiting = g.waiting, []
            self._stop_clock(g)
            for p in waiting:
                p.phase = "Pending"
                g.bound += 1
                self.context.scheduler.bind(p)
        elif g.wait_since < 0:
            now = self.host.now
            g.wait_since = now
            g.deadline_generation += 1
            deadline = g.deadline_generation
            g.timer = self.host.call_at(now + g.timeout, lambda: self._timeout(g, deadline))
        return False

    def _stop_clock(self, g: GangGroup) -> None:
        g.deadline_generation += 1
        g.wait_since = -1.0
        if g.timer is not None:
            g.timer.cancel()
            g.timer = None

    def _timeout(self, g: GangGroup, deadline: int) -> None:
        if deadline != g.deadline_generation or not g.waiting:
            return
        self.host.on_gang_timeout(g, list(g.waiting))
        self.reject_waiting(g, f"rejected due to timeout after waiting {go_duration(g.timeout)} at plugin {g.plugin}")

    def reject_waiting(self, g: GangGroup, message: str) -> None:
        """Unreserve every member waiting at Permit; they go back to the queue with backoff."""
        waiting, g.waiting = g.waiting, []
        self._stop_clock(g)
        self.context.scheduler.reject(waiting, message)

    def post_filter(self, pod: SimPod, state: CycleState) -> bool:
        g = self._mine(pod)
        if g is None or g.policy != "coscheduling" or not g.waiting:
            return False
        assigned = g.bound + len(g.waiting)
        if assigned < g.min_count and \
                (g.min_count - assigned) * 100 > COSCHEDULING_REJECT_PERCENTAGE * g.min_count:
            # after the failing pod's own FailedScheduling, as the asynchronous Reject lands upstream
            state.setdefault("after_failure", []).append(
                lambda: self.reject_waiting(g, "optimistic rejection in PostFilter") if g.waiting else None)
        return False


@register("Coscheduling")
def coscheduling(context: Any) -> GangPermit:
    return GangPermit(context, "Coscheduling", ("coscheduling",))


@register("GangScheduling")
def gang_scheduling(context: Any) -> GangPermit:
    return GangPermit(context, "GangScheduling", ("workload-api",))
