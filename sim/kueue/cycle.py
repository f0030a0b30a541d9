"""Kueue's scheduler: one scheduling cycle as numbered phases, and the Workload lifecycle around it.

Mirrors ``pkg/scheduler/scheduler.go`` (``schedule()``: heads → nominate → order → admit or preempt →
requeue) and the parts of ``pkg/controller/core/workload_controller.go`` the scheduler depends on
(finish, PodsReady, eviction with ``waitForPodsReady`` backoff). It is pure: no simpy, no I/O, no clock
of its own. The engine's Kueue controller calls it with the simulation time and turns what it returns
into timeline events (``QuotaReserved``, ``Evicted``, ``Requeued``, ``Pending``) and pod creations.

One :meth:`KueueCore.schedule` call is one cycle; each phase is one method:

1. **heads**: take the head of every ClusterQueue (at most one workload per ClusterQueue per cycle);
   workloads whose requeue time has come rejoin their queues first;
2. **blockAdmission**: while an admitted workload is not PodsReady, every head goes back unadmitted;
3. **nominate**: assign flavors to every head against the quota as it stands at the start of the
   cycle; for resources that do not fit, look for preemption targets;
4. **order**: not borrowing before borrowing, higher priority, older timestamp, key;
5. **process** each entry: checked again against the quota as earlier entries of the same cycle left it
   ("Workload no longer fits after processing another workload"); one that fits is admitted (quota
   reserved); one that needs preemption evicts its targets (whole workloads, quota released at once)
   and is admitted in a *later* cycle, as in Kueue: its usage is held for the rest of the cycle so no
   other head takes the freed quota, and it sticks at the head of its BestEffortFIFO queue until
   admitted or found unschedulable. A preempted workload returns to its queue at the next
   :meth:`schedule` / :meth:`run_cycles` call (or :meth:`requeue`), never inside the run that preempted it;
6. **release held usage**;
7. **requeue** the heads not admitted: under ``StrictFIFO`` a head stays the head; under
   ``BestEffortFIFO`` it is parked as inadmissible with its whole shape (see :mod:`sim.kueue.queues`);
8. **retry parked workloads** in the ClusterQueues and cohorts where preemption released quota;
9. **report** each head whose pending message changed (``CycleResult.pending_events``).

:meth:`KueueCore.run_cycles` repeats cycles at one instant until nothing changes, which is what Kueue's
back-to-back cycles amount to when no time passes.

**waitForPodsReady**: :meth:`evict` with reason ``PodsReadyTimeout`` requeues after a backoff of
``backoffBaseSeconds·2^(n−1)`` capped at ``backoffMaxSeconds`` (Kueue adds a tiny jitter; here none, so
runs are deterministic) and deactivates the workload after ``backoffLimitCount`` requeues.

Iteration is always over sorted names, so the same calls give the same results.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from models.kueue import ClusterQueue as ClusterQueueSpec
from models.kueue import KueueSection, LocalQueue, ResourceFlavor, WaitForPodsReady
from sim.kueue.flavors import FIT, NO_FIT, Assignment, FlavorAssigner
from sim.kueue.preemption import REASON_TEXT, Preemptor
from sim.kueue.queues import QueueManager
from sim.kueue.quota import ClusterQueue, QuotaState
from sim.kueue.types import (
    ADMITTED,
    BACKOFF,
    DEACTIVATED,
    FINISHED,
    INADMISSIBLE,
    NO_QUEUE,
    PENDING,
    Admission,
    CycleResult,
    Eviction,
    FlavorResource,
    Pending,
    QueuedWorkload,
    Requeue,
    WorkloadStatus,
    backoff_seconds,
)
from sim.kueue.workload import WorkloadInfo
from sim.snapshot import UndoLog

WAITING_FOR_PODS_READY = "Waiting for all admitted workloads to be in PodsReady condition"
NO_LONGER_FITS = "Workload no longer fits after processing another workload"
OVERLAPPING_TARGETS = "Workload has overlapping preemption targets with another workload"


class _Cycle:
    """What one cycle carries from phase to phase."""

    __slots__ = ("held", "preempted", "released", "requeue", "result")

    def __init__(self, result: CycleResult) -> None:
        self.result = result
        #: preemptors' usage held until the end of the cycle
        self.held: list[tuple[ClusterQueue, dict[FlavorResource, int]]] = []
        self.preempted: set[str] = set()
        #: ClusterQueues (or their cohorts) whose quota a preemption released
        self.released: set[str] = set()
        #: heads to put back: (workload, requeue immediately rather than park)
        self.requeue: list[tuple[WorkloadInfo, bool]] = []


class KueueCore:
    """Kueue's admission state machine over ResourceFlavors, ClusterQueues and LocalQueues."""

    def __init__(self, flavors: Iterable[ResourceFlavor], cluster_queues: Iterable[ClusterQueueSpec],
                 local_queues: Iterable[LocalQueue],
                 wait_for_pods_ready: WaitForPodsReady | None = None, *, log: UndoLog | None = None) -> None:
        #: the what-if log of the quota state (the preemption search forks and reverts it); pass the
        #: cluster's log to have a cluster-wide fork cover Kueue's quota usage too
        self.log = log if log is not None else UndoLog()
        self.quota_state = QuotaState(cluster_queues, self.log)
        self._workloads: dict[str, WorkloadInfo] = {}
        self.queues = QueueManager(self.quota_state.cluster_queues.values(), self.quota_state.cohorts, self._workloads)
        self.preemptor = Preemptor(self.quota_state)
        self.assigner = FlavorAssigner(flavors, self.quota_state, self.preemptor)
        self._cluster_queue_of = {lq.key: lq.spec.cluster_queue for lq in local_queues}
        self._wait_for_pods_ready = wait_for_pods_ready if wait_for_pods_ready is not None else WaitForPodsReady()
        self._shapes: dict[Any, int] = {}
        self._backoff: dict[str, WorkloadInfo] = {}  # evicted, waiting for requeue_at
        self._not_ready: set[str] = set()  # admitted, not yet PodsReady
        #: waitForPodsReady.blockAdmission: nothing is admitted while ``_not_ready`` is not empty
        self._blocks_admission = self._wait_for_pods_ready.enable and self._wait_for_pods_ready.block_admission
        #: pending messages of workloads that never reach a queue, reported by the next cycle
        self._unreported: list[Pending] = []

    @classmethod
    def from_section(cls, section: KueueSection, *, log: UndoLog | None = None) -> KueueCore:
        return cls(section.resource_flavors, section.cluster_queues, section.local_queues,
                   section.wait_for_pods_ready, log=log)

    # -- the Workload lifecycle --------------------------------------------------------------------------

    def submit(self, workload: QueuedWorkload, now: float) -> None:
        """A new Workload (its Job was created suspended). It queues in its LocalQueue's ClusterQueue."""
        if workload.key in self._workloads:
            raise ValueError(f"workload {workload.key} was already submitted")
        w = WorkloadInfo(workload)
        w.shape = self._shapes.setdefault(w.shape, len(self._shapes))  # intern: compare ints later
        self._workloads[workload.key] = w
        cq_name = self._cluster_queue_of.get(f"{workload.namespace}/{workload.queue}")
        if cq_name is None or cq_name not in self.quota_state.cluster_queues:
            w.state = NO_QUEUE
            w.message = (f"LocalQueue {workload.queue} doesn't exist" if cq_name is None
                         else f"ClusterQueue {cq_name} doesn't exist")
            self._unreported.append(Pending(workload.key, cq_name or "", "Inadmissible", w.message))
            return
        w.cluster_queue = cq_name
        self.queues.enqueue(w)

    def finish(self, key: str, now: float) -> None:
        """The workload finished (Succeeded or Failed): release its quota; parked workloads nearby retry."""
        w = self._workloads[key]
        if w.state == ADMITTED:
            self._release(w)
        else:
            self.queues.dequeue(w)
        self._backoff.pop(key, None)
        w.state = FINISHED

    def pods_ready(self, key: str, now: float) -> None:
        """The admitted workload's pods are all running and ready (condition ``PodsReady=True``)."""
        self._workloads[key].pods_ready = True
        self._not_ready.discard(key)

    def evict(self, key: str, now: float, reason: str) -> Requeue:
        """Evict an admitted workload (e.g. ``PodsReadyTimeout``): release its quota and requeue it.

        ``PodsReadyTimeout`` counts a requeue and waits ``backoff_seconds(n)``; when the count would exceed
        ``backoffLimitCount`` the workload is deactivated instead. Other reasons requeue at once. The
        workload returns to its queue by :meth:`requeue` (or by the first :meth:`schedule` at or after
        ``requeue_at``).
        """
        w = self._workloads[key]
        if w.state != ADMITTED:
            raise ValueError(f"workload {key} is {w.state}, not admitted")
        self._release(w)
        strategy = self._wait_for_pods_ready.requeuing_strategy
        if reason == "PodsReadyTimeout":
            count = w.requeue_count + 1
            if strategy.backoff_limit_count is not None and count > strategy.backoff_limit_count:
                w.state = DEACTIVATED
                w.message = "exceeding the maximum number of re-queuing retries"
                return Requeue(key, 0.0, None, w.requeue_count, deactivated=True)
            w.requeue_count = count
            delay = backoff_seconds(count, strategy.backoff_base_seconds, strategy.backoff_max_seconds)
            if strategy.timestamp == "Eviction":
                w.set_order_timestamp(now)
            w.state = BACKOFF
            self._backoff[key] = w
            w.requeue_at = now + delay
            return Requeue(key, delay, now + delay, count)
        self.queues.enqueue(w)
        return Requeue(key, 0.0, now, w.requeue_count)

    def awaiting_checks(self, key: str, waiting: bool) -> None:
        """A workload holding quota waits for its admission checks (``waiting``) or was just admitted after
        them. Only admitted workloads count for ``blockAdmission`` (Kueue: Admitted and not PodsReady)."""
        w = self._workloads[key]
        if waiting:
            self._not_ready.discard(key)
        elif w.state == ADMITTED and not w.pods_ready:
            self._not_ready.add(key)

    def evict_for_admission_check(self, key: str, now: float, backoff_base: float, backoff_max: float) -> Requeue:
        """An admission check of a workload holding quota went ``Retry``: release the quota and requeue
        after ``backoff_base·2^(n−1)`` capped at ``backoff_max`` (the requeue count ``n`` is the one
        waitForPodsReady counts too: Kueue keeps one ``requeueState``)."""
        w = self._workloads[key]
        if w.state != ADMITTED:
            raise ValueError(f"workload {key} is {w.state}, not holding quota")
        self._release(w)
        count = w.requeue_count + 1
        w.requeue_count = count
        delay = backoff_seconds(count, backoff_base, backoff_max)
        if self._wait_for_pods_ready.requeuing_strategy.timestamp == "Eviction":
            w.set_order_timestamp(now)
        w.state = BACKOFF
        self._backoff[key] = w
        w.requeue_at = now + delay
        return Requeue(key, delay, now + delay, count)

    def deactivate(self, key: str, now: float, message: str) -> None:
        """An admission check went ``Rejected``: release the quota; the workload is deactivated
        (``spec.active: false``) and never requeued."""
        w = self._workloads[key]
        if w.state == ADMITTED:
            self._release(w)
        else:
            self.queues.dequeue(w)
            self._backoff.pop(key, None)
        w.state = DEACTIVATED
        w.message = message

    def requeue(self, key: str, now: float) -> bool:
        """Put a workload whose backoff expired back in its queue. False if it was not waiting."""
        w = self._workloads[key]
        if w.state != BACKOFF:
            return False
        self._backoff.pop(key, None)
        w.requeue_at = None
        self.queues.enqueue(w)
        return True

    # -- one scheduling cycle ----------------------------------------------------------------------------

    def schedule(self, now: float, *, requeue_due: bool = True) -> CycleResult:
        """One Kueue scheduling cycle (see the module docstring).

        First, workloads whose requeue time has come (backoff expired, or preempted by an earlier call) go
        back to their queues, unless ``requeue_due`` is false.
        """
        result = CycleResult()
        heads = self._phase1_heads(now, requeue_due)
        if heads:
            cycle = _Cycle(result)
            if not self._phase2_block_admission(cycle, heads):
                entries = self._phase3_nominate(heads)
                self._phase4_order(entries)
                self._phase5_process(cycle, entries, now)
                self._phase6_release_held(cycle)
                self._phase7_requeue(cycle)
                self._phase8_retry_parked_near_releases(cycle)
        if result.pending or self._unreported:
            self._phase9_report_changed_messages(result)
        return result

    def _phase1_heads(self, now: float, requeue_due: bool) -> list[WorkloadInfo]:
        if requeue_due:
            self._promote_backoffs(now)
        heads: list[WorkloadInfo] = []
        for queue in self.queues.queues.values():
            if queue.idle:
                continue
            head = self.queues.pop_head(queue)
            if head is not None:
                heads.append(head)
        return heads

    def _phase2_block_admission(self, cycle: _Cycle, heads: list[WorkloadInfo]) -> bool:
        """blockAdmission with a workload not yet PodsReady: every head goes back. True if so."""
        if not (self._blocks_admission and self._not_ready):
            return False
        for w in heads:
            self.queues.enqueue(w)
            cycle.result.pending.append(Pending(w.key, w.cluster_queue or "", "Pending", WAITING_FOR_PODS_READY))
        return True

    def _phase3_nominate(self, heads: list[WorkloadInfo]) -> list[tuple[WorkloadInfo, Assignment]]:
        cluster_queues = self.quota_state.cluster_queues
        return [(w, self.assigner.assign(cluster_queues[w.cluster_queue or ""], w)) for w in heads]

    @staticmethod
    def _phase4_order(entries: list[tuple[WorkloadInfo, Assignment]]) -> None:
        entries.sort(key=lambda e: (e[1].borrow, -e[0].workload.priority, e[0].order_timestamp, e[0].key))

    def _phase5_process(self, cycle: _Cycle, entries: list[tuple[WorkloadInfo, Assignment]], now: float) -> None:
        """Admit, preempt for, or send back each nominated head, in order."""
        result = cycle.result
        cluster_queues = self.quota_state.cluster_queues
        for w, assignment in entries:
            cq = cluster_queues[w.cluster_queue or ""]
            if self._blocks_admission and self._not_ready:
                # an admission earlier in this cycle is not PodsReady yet: blockAdmission holds the rest
                result.pending.append(Pending(w.key, cq.name, "Pending", WAITING_FOR_PODS_READY))
                cycle.requeue.append((w, True))
                continue
            if assignment.mode == NO_FIT or (assignment.mode != FIT and not assignment.targets):
                queue = self.queues.queues[cq.name]
                if queue.preemptor == w.key:
                    queue.preemptor = None
                result.pending.append(Pending(w.key, cq.name, assignment.reason or "Pending", assignment.message))
                w.message = assignment.message
                cycle.requeue.append((w, False))
                continue
            if assignment.mode != FIT and any(t.key in cycle.preempted for t, _ in assignment.targets):
                result.pending.append(Pending(w.key, cq.name, "WaitingForQuota", OVERLAPPING_TARGETS))
                cycle.requeue.append((w, True))
                continue
            if not self.preemptor.fits_without(cq, assignment.usage, [t for t, _ in assignment.targets]):
                result.pending.append(Pending(w.key, cq.name, "WaitingForQuota", NO_LONGER_FITS))
                cycle.requeue.append((w, True))
                continue
            if assignment.mode == FIT:
                self._admit(w, cq, assignment, now, result)
                continue
            # preempt: evict the targets now, hold the preemptor's usage for the rest of the cycle
            for victim, why in assignment.targets:
                cycle.preempted.add(victim.key)
                victim_cq = self.quota_state.cluster_queues[victim.cluster_queue or ""]
                cycle.released.add(victim_cq.cohort or victim_cq.name)
                result.evictions.append(self._preempt(victim, w, cq, why, now))
            self.quota_state.add_usage(cq, assignment.usage)
            cycle.held.append((cq, assignment.usage))
            queue = self.queues.queues[cq.name]
            queue.preemptor = w.key
            queue.idle = False
            message = f"Pending the preemption of {len(assignment.targets)} workload(s)"
            result.pending.append(Pending(w.key, cq.name, "WaitingForPreemptedWorkloads", message))
            w.message = message
            cycle.requeue.append((w, True))
            result.changed = True

    def _phase6_release_held(self, cycle: _Cycle) -> None:
        for cq, usage in cycle.held:
            self.quota_state.add_usage(cq, usage, -1)

    def _phase7_requeue(self, cycle: _Cycle) -> None:
        for w, immediately in cycle.requeue:
            self.queues.enqueue(w)
            if immediately or self.quota_state.cluster_queues[w.cluster_queue or ""].strict_fifo:
                continue
            self.queues.park(w)
            cycle.result.changed = True

    def _phase8_retry_parked_near_releases(self, cycle: _Cycle) -> None:
        for scope in sorted(cycle.released):
            self.queues.requeue_inadmissible(scope)

    def _phase9_report_changed_messages(self, result: CycleResult) -> None:
        """A ``Pending`` report for each head whose message is not the one last reported for it, after
        those of workloads submitted to a LocalQueue that does not exist."""
        if self._unreported:
            for pending in self._unreported:
                self._workloads[pending.workload].reported_message = pending.message
            result.pending_events.extend(self._unreported)
            self._unreported = []
        for pending in result.pending:
            w = self._workloads[pending.workload]
            if w.reported_message != pending.message:
                w.reported_message = pending.message
                result.pending_events.append(pending)

    def run_cycles(self, now: float, max_cycles: int = 10_000) -> CycleResult:
        """Cycles back to back at one instant until one changes nothing (admits, preempts or parks)."""
        total = CycleResult()
        for i in range(max_cycles):
            # workloads preempted by these cycles stay out until the next call: in Kueue they come back
            # only once their pods are gone, which takes time
            result = self.schedule(now, requeue_due=i == 0)
            total.extend(result)
            if not result.changed:
                break
        return total

    # -- admission, release, preemption ------------------------------------------------------------------

    def _promote_backoffs(self, now: float) -> None:
        if not self._backoff:
            return
        for key in sorted(self._backoff):
            w = self._backoff[key]
            if w.requeue_at is not None and w.requeue_at <= now:
                self.requeue(key, now)

    def _admit(self, w: WorkloadInfo, cq: ClusterQueue, assignment: Assignment, now: float,
               result: CycleResult) -> None:
        borrowed = any(cq.borrowing_with(fr, value) for fr, value in assignment.usage.items())
        self.quota_state.add_usage(cq, assignment.usage)
        usage: dict[str, dict[str, int]] = {}
        for (flavor, resource), value in sorted(assignment.usage.items()):
            usage.setdefault(flavor, {})[resource] = value
        selectors: dict[str, dict[str, str]] = {}
        tolerations: dict[str, list[dict[str, Any]]] = {}
        flavors = self.assigner.flavors
        for pod_set, per_resource in assignment.flavors.items():
            selector: dict[str, str] = {}
            pod_set_tolerations: list[dict[str, Any]] = []
            for flavor_name in sorted(set(per_resource.values())):
                selector.update(flavors[flavor_name].node_labels)
                pod_set_tolerations.extend(t for t in flavors[flavor_name].tolerations
                                           if t not in pod_set_tolerations)
            selectors[pod_set] = selector
            tolerations[pod_set] = pod_set_tolerations
        admission = Admission(w.key, cq.name, assignment.flavors, usage, borrowed, selectors, tolerations)
        w.state = ADMITTED
        w.admission = admission
        w.admitted_at = now
        w.total_usage = dict(assignment.usage)
        w.pods_ready = False
        w.message = ""
        w.reported_message = None
        self._not_ready.add(w.key)
        cq.workloads[w.key] = w
        cq.priority_counts[w.workload.priority] = cq.priority_counts.get(w.workload.priority, 0) + 1
        queue = self.queues.queues[cq.name]
        if queue.preemptor == w.key:
            queue.preemptor = None
        result.admissions.append(admission)
        result.changed = True

    def _take_quota_back(self, w: WorkloadInfo) -> ClusterQueue:
        """Release an admitted workload's quota; returns its ClusterQueue."""
        cq = self.quota_state.cluster_queues[w.cluster_queue or ""]
        self.quota_state.add_usage(cq, w.total_usage, -1)
        if cq.workloads.pop(w.key, None) is not None:
            cq.forget_priority(w.workload.priority)
        self._not_ready.discard(w.key)
        w.admission = None
        w.total_usage = {}
        return cq

    def _release(self, w: WorkloadInfo) -> None:
        cq = self._take_quota_back(w)
        self.queues.requeue_inadmissible(cq.cohort or cq.name)

    def _preempt(self, victim: WorkloadInfo, preemptor: WorkloadInfo, preemptor_cq: ClusterQueue, why: str,
                 now: float) -> Eviction:
        victim_cq = self._take_quota_back(victim)
        victim.state = BACKOFF
        victim.requeue_at = now
        self._backoff[victim.key] = victim
        message = (f"Preempted to accommodate a workload ({preemptor.key}) due to {REASON_TEXT[why]}; "
                   f"preemptor path: /{_path(preemptor_cq)}; preemptee path: /{_path(victim_cq)}")
        victim.message = message
        return Eviction(victim.key, victim_cq.name, "Preempted", preemptor.key, why, message,
                        Requeue(victim.key, 0.0, now, victim.requeue_count))

    # -- what the outside reads --------------------------------------------------------------------------

    def next_requeue_at(self) -> float | None:
        """The earliest ``requeueAt`` among backed-off workloads, for the engine's timer."""
        times = [w.requeue_at for w in self._backoff.values() if w.requeue_at is not None]
        return min(times) if times else None

    def status(self, key: str) -> WorkloadStatus:
        w = self._workloads[key]
        state, message = w.state, w.message
        if w.heap_stamp >= 0:
            parked, parked_message = self.queues.is_parked(w)
            state = INADMISSIBLE if parked else PENDING
            if parked_message is not None:
                message = parked_message
        return WorkloadStatus(state, w.cluster_queue, message, w.requeue_count, w.requeue_at)

    def admission(self, key: str) -> Admission | None:
        w = self._workloads[key]
        return w.admission if w.state == ADMITTED else None

    def usage(self) -> dict[str, dict[str, dict[str, int]]]:
        """Reserved quota per ClusterQueue / flavor / resource (milli), zeros included for every quota."""
        out: dict[str, dict[str, dict[str, int]]] = {}
        for cq in self.quota_state.cluster_queues.values():
            per_flavor: dict[str, dict[str, int]] = {}
            for flavor, resource in sorted(cq.quotas):
                per_flavor.setdefault(flavor, {})[resource] = cq.usage.get((flavor, resource), 0)
            out[cq.name] = per_flavor
        return out

    def borrowed(self) -> dict[str, dict[str, dict[str, int]]]:
        """Usage above nominal quota per ClusterQueue / flavor / resource (only the borrowing entries)."""
        out: dict[str, dict[str, dict[str, int]]] = {}
        for cq in self.quota_state.cluster_queues.values():
            for (flavor, resource), quota in sorted(cq.quotas.items()):
                over = cq.usage.get((flavor, resource), 0) - quota.nominal
                if over > 0:
                    out.setdefault(cq.name, {}).setdefault(flavor, {})[resource] = over
        return out

    def quota(self, cluster_queue: str) -> dict[str, dict[str, tuple[int, int | None, int | None]]]:
        """(nominal, borrowingLimit, lendingLimit) per flavor / resource of a ClusterQueue (milli)."""
        out: dict[str, dict[str, tuple[int, int | None, int | None]]] = {}
        for (flavor, resource), quota in sorted(self.quota_state.cluster_queues[cluster_queue].quotas.items()):
            out.setdefault(flavor, {})[resource] = (quota.nominal, quota.borrowing_limit, quota.lending_limit)
        return out

    def cohorts(self) -> dict[str, list[str]]:
        return {name: [c.name for c in members] for name, members in sorted(self.quota_state.cohorts.items())}

    def pending_workloads(self, cluster_queue: str) -> list[str]:
        """Keys queued in a ClusterQueue in queue order, then the parked (inadmissible) ones sorted."""
        return self.queues.pending_workloads(cluster_queue)


def _path(cq: ClusterQueue) -> str:
    return f"{cq.cohort}/{cq.name}" if cq.cohort else cq.name
