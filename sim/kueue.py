"""Kueue's quota and admission core: queues, flavor assignment, borrowing, preemption and requeueing.

This mirrors the scheduler of ``kubernetes-sigs/kueue`` (``pkg/scheduler/scheduler.go``,
``flavorassigner/``, ``preemption/``, ``pkg/cache/scheduler/resource_node.go``) for ClusterQueues that
stand alone or sit in one flat cohort (no Cohort objects with quota of their own, no fair sharing, no
admission checks, no TAS, no partial admission). It is pure: no simpy, no I/O, no clock of its own.
The engine's Kueue controller process calls it with the simulation time and turns what it returns into
timeline events (``QuotaReserved``, ``Evicted``, ``Requeued``) and pod creations.

A **workload** is a gang of pod sets that takes quota all at once. It enters through a LocalQueue
(``namespace/name``) that points to a ClusterQueue. Each ClusterQueue keeps its pending workloads ordered
by priority (higher first), then queue-order timestamp (creation, or the PodsReadyTimeout eviction time
with ``requeuingStrategy.timestamp: Eviction``), then key.

One :meth:`KueueCore.schedule` call is one Kueue scheduling cycle:

1. take the **head** of every ClusterQueue (at most one workload per ClusterQueue per cycle);
2. **nominate**: assign flavors to every head against the quota as it stands at the start of the cycle;
   for resources that do not fit, look for preemption targets;
3. process the nominated heads ordered by: not borrowing before borrowing, higher priority, older
   timestamp, key. Each is checked again against the quota as earlier entries of the same cycle left it
   ("Workload no longer fits after processing another workload"), so two ClusterQueues of a cohort never
   over-admit borrowed quota in one cycle;
4. a head that fits is admitted (quota reserved); a head that needs preemption evicts its targets (whole
   workloads, quota released at once: the engine deletes their pods) and is admitted in a *later* cycle,
   as in Kueue; its usage is held for the rest of the cycle so no other head takes the freed quota, and
   it sticks at the head of its BestEffortFIFO queue until admitted or found unschedulable (Kueue's
   ``preemptorWorkload``). A preempted workload returns to its queue at the next :meth:`schedule` /
   :meth:`run_cycles` call (or :meth:`requeue`), never inside the run that preempted it: in Kueue it comes
   back only when its pods are gone, and policies such as ``reclaimWithinCohort: Any`` with
   ``borrowWithinCohort`` can otherwise preempt each other in a circle at one instant;
5. a head that cannot be admitted goes back: under ``StrictFIFO`` it stays the head and blocks the
   ClusterQueue; under ``BestEffortFIFO`` it is parked as inadmissible, with every queued workload of the
   same shape (priority, pod sets; Kueue's SchedulingEquivalenceHashing, on by default since 0.18), and
   the next workload becomes the head - until quota is released in its ClusterQueue or cohort (finish,
   eviction), which moves every parked workload there back to the queue.

:meth:`KueueCore.run_cycles` repeats cycles at one instant until nothing changes, which is what Kueue's
back-to-back cycles amount to when no time passes.

**Flavor assignment** (per pod set and resource group, flavors in list order): a flavor is skipped when a
pod set's nodeSelector / required node affinity (restricted to the flavor's own label keys) does not
match the flavor's ``nodeLabels``, or the flavor has a NoSchedule/NoExecute ``nodeTaint`` the pod set (plus
the flavor's ``tolerations``) does not tolerate. A resource **fits** a flavor when the request plus what
earlier pod sets of the same workload took is within the ClusterQueue's available quota: its unused
nominal quota, plus what the cohort can lend, bounded by ``borrowingLimit``; ``lendingLimit`` keeps part of
each ClusterQueue's nominal quota out of the cohort. ``flavorFungibility`` decides whether to stop at a
flavor that needs borrowing (``whenCanBorrow: MayStopSearch``, default) or preemption (``whenCanPreempt:
TryNextFlavor``, default: look further, then take the best one seen).

**Preemption** (classical, ``preemption/preemption.go``): candidates are admitted workloads that use a
flavor-resource needing preemption, in this ClusterQueue (``withinClusterQueue``) and in cohort
ClusterQueues that are borrowing (``reclaimWithinCohort``), ordered: other ClusterQueues first, lower
priority, most recently admitted, key. Victims are taken greedily until the workload fits, then those not
needed are given back in reverse order (the minimal set Kueue's ``fillBackWorkloads`` finds).

**waitForPodsReady**: :meth:`evict` with reason ``PodsReadyTimeout`` requeues after a backoff of
``backoffBaseSeconds·2^(n−1)`` capped at ``backoffMaxSeconds`` (Kueue adds a tiny jitter; here none, so runs
are deterministic) and deactivates the workload after ``backoffLimitCount`` requeues. With
``blockAdmission`` no workload is admitted while an admitted one is not yet PodsReady.

All quantities are integer milli-units. Iteration is always over sorted names, so the same calls give
the same results.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from models.kueue import ClusterQueue, KueueSection, LocalQueue, ResourceFlavor, WaitForPodsReady
from models.manifests import WorkloadManifest
from models.quantity import format_resources
from sim.constraints import requirement_matches, tolerates

__all__ = [
    "Admission",
    "CycleResult",
    "Eviction",
    "KueueCore",
    "Pending",
    "PodSetRequest",
    "QueuedWorkload",
    "Requeue",
    "WorkloadStatus",
    "backoff_seconds",
    "queued_workload",
]

FR = tuple[str, str]  # (flavor, resource)

# preemption modes, worst to best (Kueue's flavorassigner.preemptionMode)
_NO_FIT, _NO_CANDIDATES, _PREEMPT, _RECLAIM, _FIT = range(5)

# workload states
PENDING = "Pending"            # in its ClusterQueue's queue
INADMISSIBLE = "Inadmissible"  # parked (BestEffortFIFO) until quota is released nearby
BACKOFF = "Backoff"            # evicted (PodsReadyTimeout backoff, or preempted), waiting for requeueAt
ADMITTED = "Admitted"          # holds quota
FINISHED = "Finished"
DEACTIVATED = "Deactivated"    # backoffLimitCount exceeded
NO_QUEUE = "NoQueue"           # its LocalQueue does not exist

_REASON_TEXT = {
    "InClusterQueue": "prioritization in the ClusterQueue",
    "InCohortReclamation": "reclamation within the cohort",
    "InCohortReclaimWhileBorrowing": "reclamation within the cohort while borrowing",
}


# ---------------------------------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True, slots=True)
class PodSetRequest:
    """One pod set of a workload: ``count`` pods, each asking for ``requests`` (milli-units).

    ``node_selector``, ``tolerations`` (Kubernetes shape) and ``node_affinity_terms`` (the
    ``requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms`` list, Kubernetes shape) are only
    used to skip flavors whose nodeLabels/nodeTaints the pods could never land on.
    """

    name: str
    count: int
    requests: Mapping[str, int]
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: Sequence[Mapping[str, Any]] = ()
    node_affinity_terms: Sequence[Mapping[str, Any]] = ()
    min_count: int | None = None


@dataclass(frozen=True, slots=True)
class QueuedWorkload:
    """A Kueue Workload as submitted: ``key`` is ``namespace/name``, ``queue`` the LocalQueue name."""

    key: str
    queue: str
    priority: int
    creation: float
    pod_sets: Sequence[PodSetRequest]

    @property
    def namespace(self) -> str:
        return self.key.split("/", 1)[0] if "/" in self.key else "default"


# ---------------------------------------------------------------------------------------------------
# Outputs


@dataclass(frozen=True, slots=True)
class Admission:
    """A quota reservation (``QuotaReserved``): which flavor each pod set got for each resource, what the
    whole workload holds per flavor, whether any of it is borrowed, and what the engine must inject into
    each pod set's pods: the assigned flavors' ``nodeLabels`` (as nodeSelector) and ``tolerations``."""

    workload: str
    cluster_queue: str
    flavors: dict[str, dict[str, str]]
    usage: dict[str, dict[str, int]]
    borrowed: bool
    node_selector: dict[str, dict[str, str]]
    tolerations: dict[str, list[dict[str, Any]]]

    def usage_strings(self) -> dict[str, dict[str, str]]:
        """``usage`` as canonical quantity strings, for the ``QuotaReserved`` event."""
        return {f: format_resources(r) for f, r in self.usage.items()}


@dataclass(frozen=True, slots=True)
class Requeue:
    """When an evicted workload comes back: ``requeue_at`` = eviction time + ``backoff_seconds``
    (``None`` when it was deactivated instead)."""

    workload: str
    backoff_seconds: float
    requeue_at: float | None
    count: int
    deactivated: bool = False


@dataclass(frozen=True, slots=True)
class Eviction:
    """A workload evicted in a cycle (reason ``Preempted``), with the preemptor and Kueue's message."""

    workload: str
    cluster_queue: str
    reason: str
    preemptor: str
    preemption_reason: str
    message: str
    requeue: Requeue


@dataclass(frozen=True, slots=True)
class Pending:
    """A head that was not admitted in a cycle: Kueue's QuotaReserved=False reason and message."""

    workload: str
    cluster_queue: str
    reason: str
    message: str


@dataclass(slots=True)
class CycleResult:
    admissions: list[Admission] = field(default_factory=list)
    evictions: list[Eviction] = field(default_factory=list)
    pending: list[Pending] = field(default_factory=list)
    changed: bool = False

    def extend(self, other: CycleResult) -> None:
        self.admissions.extend(other.admissions)
        self.evictions.extend(other.evictions)
        self.pending.extend(other.pending)
        self.changed = self.changed or other.changed


@dataclass(frozen=True, slots=True)
class WorkloadStatus:
    state: str
    cluster_queue: str | None
    message: str
    requeue_count: int
    requeue_at: float | None


def backoff_seconds(count: int, base: float = 60, cap: float = 3600) -> float:
    """Kueue's PodsReadyTimeout requeue delay for the ``count``-th requeue: ``base·2^(count−1)``, capped."""
    if count <= 0:
        return 0.0
    return float(min(base * 2 ** (count - 1), cap))


# ---------------------------------------------------------------------------------------------------
# Internal state


class _Flavor:
    __slots__ = ("label_keys", "name", "node_labels", "node_taints", "tolerations")

    def __init__(self, rf: ResourceFlavor) -> None:
        self.name = rf.name
        self.node_labels: dict[str, str] = dict(rf.spec.node_labels)
        self.label_keys = frozenset(self.node_labels)
        self.node_taints: list[dict[str, Any]] = [t.model_dump(by_alias=True, exclude_none=True)
                                                  for t in rf.spec.node_taints]
        self.tolerations: list[dict[str, Any]] = [t.model_dump(by_alias=True, exclude_none=True)
                                                  for t in rf.spec.tolerations]


class _Quota:
    __slots__ = ("borrowing_limit", "guaranteed", "lending_limit", "nominal")

    def __init__(self, nominal: int, borrowing_limit: int | None, lending_limit: int | None) -> None:
        self.nominal = nominal
        self.borrowing_limit = borrowing_limit
        self.lending_limit = lending_limit
        # the part of nominal quota never lent to the cohort (Kueue's resourceNode.localQuota)
        self.guaranteed = max(0, nominal - lending_limit) if lending_limit is not None else 0


class _ClusterQueue:
    __slots__ = ("borrow_policy", "borrow_threshold", "c_quota", "c_used", "cohort", "epoch", "group_of",
                 "groups", "heaps", "idle", "name", "parked_shapes", "plog", "plog_limit", "preemptor",
                 "preference", "prio_count", "quotas", "reclaim_policy", "strict", "usage", "when_can_borrow",
                 "when_can_preempt", "within_policy", "workloads")

    def __init__(self, cq: ClusterQueue) -> None:
        spec = cq.spec
        self.name = cq.name
        self.cohort = spec.cohort_ref
        self.strict = spec.queueing_strategy == "StrictFIFO"
        self.within_policy = spec.preemption.within_cluster_queue
        self.reclaim_policy = spec.preemption.reclaim_within_cohort
        self.borrow_policy = spec.preemption.borrow_within_cohort.policy
        self.borrow_threshold = spec.preemption.borrow_within_cohort.max_priority_threshold
        self.when_can_borrow = spec.flavor_fungibility.when_can_borrow
        self.when_can_preempt = spec.flavor_fungibility.when_can_preempt
        self.preference = spec.flavor_fungibility.preference
        # resource groups: (covered resources, flavor names in order)
        self.groups: list[tuple[frozenset[str], list[str]]] = []
        self.quotas: dict[FR, _Quota] = {}
        for rg in spec.resource_groups:
            self.groups.append((frozenset(rg.covered_resources), [f.name for f in rg.flavors]))
            for fq in rg.flavors:
                for rq in fq.resources:
                    self.quotas[(fq.name, rq.name)] = _Quota(
                        rq.nominal_milli, rq.borrowing_limit_milli, rq.lending_limit_milli)
        self.usage: dict[FR, int] = {}
        # its cohort's Σ lendable quota / Σ usage above guaranteed (KueueCore keeps them), None alone
        self.c_quota: dict[FR, int] | None = None
        self.c_used: dict[FR, int] | None = None
        self.workloads: dict[str, _Workload] = {}  # admitted
        self.prio_count: dict[int, int] = {}  # admitted workloads per priority
        self.group_of: dict[str, int] = {}
        for i, (covered, _) in enumerate(self.groups):
            for r in covered:
                self.group_of.setdefault(r, i)
        # queued workloads (pending and parked alike), one heap per equivalence shape:
        # (queue order, queue stamp, workload); entries whose stamp is not the workload's ``qseq`` are stale
        self.heaps: dict[int, list[tuple[tuple[int, float, str], int, _Workload]]] = {}
        # parked workloads are not moved out of their heap: which of them are parked (and with which
        # message) follows from ``plog``, per shape the pops that parked queued workloads of that shape:
        # (stamp, order key of the head returned, or None, message, epoch). Releases start a new epoch.
        self.plog: dict[int, list[tuple[int, tuple[int, float, str] | None, str, int]]] = {}
        self.plog_limit: dict[int, int] = {}  # plog length that triggers pruning
        self.epoch = 0
        # the last pop found no head and nothing was queued, unqueued, parked or released since: the next
        # pop finds none either, and parks nothing new
        self.idle = False
        # the workload waiting for its preemptions to complete; under BestEffortFIFO it sticks at the
        # head until admitted or found unschedulable (Kueue's preemptorWorkload, kueue#6929 / #7101)
        self.preemptor: str | None = None
        # shapes found inadmissible since quota was last released here: queued workloads of these shapes
        # are parked when they reach the head, without a flavor assignment (SchedulingEquivalenceHashing)
        self.parked_shapes: dict[int, str] = {}

    def group_for(self, resource: str) -> int | None:
        return self.group_of.get(resource)


class _Workload:
    __slots__ = ("admission", "admitted_at", "cq", "message", "order_ts", "pods_ready", "q_stamp", "qseq",
                 "requeue_at", "requeue_count", "shape", "sk", "state", "total_usage", "wl", "xmark")

    def __init__(self, wl: QueuedWorkload) -> None:
        self.wl = wl
        self.cq: str | None = None
        self.state = PENDING
        self.order_ts = wl.creation
        self.sk = (-wl.priority, wl.creation, wl.key)  # queue order; refreshed with order_ts
        self.requeue_count = 0
        self.requeue_at: float | None = None
        self.admission: Admission | None = None
        self.admitted_at = 0.0
        self.total_usage: dict[FR, int] = {}
        self.pods_ready = False
        self.message = ""
        self.q_stamp = 0  # when it last joined its queue
        self.qseq = -1  # its live heap entry's stamp while queued, else -1
        self.xmark = -1  # the epoch it was parked in as a failed head (at q_stamp), else -1
        # Kueue's scheduling equivalence hash: workloads with the same shape get the same flavor
        # assignment from the same quota state
        self.shape: Any = (wl.priority, tuple(
            (ps.name, ps.count, tuple(sorted(ps.requests.items())), tuple(sorted(ps.node_selector.items())),
             repr(list(ps.tolerations)), repr(list(ps.node_affinity_terms)), ps.min_count)
            for ps in wl.pod_sets))

    def set_order_ts(self, ts: float) -> None:
        self.order_ts = ts
        self.sk = (-self.wl.priority, ts, self.wl.key)


class _Assignment:
    """The flavor assignment of one nominated head."""

    __slots__ = ("borrow", "flavors", "message", "mode", "need_preemption", "reason", "targets", "usage")

    def __init__(self) -> None:
        self.flavors: dict[str, dict[str, str]] = {}
        self.usage: dict[FR, int] = {}
        self.mode = _FIT
        self.borrow = 0
        self.need_preemption: set[FR] = set()
        self.reason = ""
        self.message = ""
        self.targets: list[tuple[_Workload, str]] = []


# ---------------------------------------------------------------------------------------------------
# Node-constraint matching against a flavor


def _flavor_mismatch(ps: PodSetRequest, flavor: _Flavor) -> str | None:
    """Why ``ps`` can never run on ``flavor``'s nodes, or ``None``. Only the flavor's own label keys count."""
    tolerations = [*ps.tolerations, *flavor.tolerations]
    for taint in flavor.node_taints:
        if taint.get("effect") not in ("NoSchedule", "NoExecute"):
            continue
        if not any(tolerates(t, taint) for t in tolerations):
            text = f"{taint.get('key')}={taint.get('value', '')}:{taint.get('effect')}"
            return f"untolerated taint {{{text}}} in flavor {flavor.name}"
    labels = flavor.node_labels
    for k, v in ps.node_selector.items():
        if k in flavor.label_keys and labels[k] != v:
            return f"flavor {flavor.name} doesn't match node affinity"
    terms: list[list[Mapping[str, Any]]] = []
    for term in ps.node_affinity_terms:
        exprs = [e for e in term.get("matchExpressions") or [] if e.get("key") in flavor.label_keys]
        if not exprs:  # an emptied term matches every flavor (terms are ORed)
            terms = []
            break
        terms.append(exprs)
    if terms and not any(all(requirement_matches(e, labels) for e in t) for t in terms):
        return f"flavor {flavor.name} doesn't match node affinity"
    return None


_FMT: dict[tuple[str, int], str] = {}


def _fmt(resource: str, milli: int) -> str:
    s = _FMT.get((resource, milli))
    if s is None:
        if len(_FMT) > 100_000:
            _FMT.clear()
        s = _FMT[(resource, milli)] = format_resources({resource: milli})[resource]
    return s


# ---------------------------------------------------------------------------------------------------
# The core


class KueueCore:
    """Kueue's admission state machine over ResourceFlavors, ClusterQueues and LocalQueues."""

    def __init__(self, flavors: Iterable[ResourceFlavor], cluster_queues: Iterable[ClusterQueue],
                 local_queues: Iterable[LocalQueue],
                 wait_for_pods_ready: WaitForPodsReady | None = None) -> None:
        self._flavors = {f.name: _Flavor(f) for f in flavors}
        self._cqs: dict[str, _ClusterQueue] = {}
        for cq in sorted(cluster_queues, key=lambda c: c.name):
            self._cqs[cq.name] = _ClusterQueue(cq)
        self._cohorts: dict[str, list[_ClusterQueue]] = {}
        for c in self._cqs.values():
            if c.cohort:
                self._cohorts.setdefault(c.cohort, []).append(c)
        # per cohort and flavor-resource: Σ lendable nominal quota, Σ usage above guaranteed quota
        self._c_quota: dict[str, dict[FR, int]] = {}
        self._c_used: dict[str, dict[FR, int]] = {}
        for name, members in self._cohorts.items():
            cq_quota = self._c_quota[name] = {}
            self._c_used[name] = {}
            for m in members:
                for fr, q in m.quotas.items():
                    cq_quota[fr] = cq_quota.get(fr, 0) + q.nominal - q.guaranteed
            for m in members:
                m.c_quota, m.c_used = cq_quota, self._c_used[name]
        self._lqs = {lq.key: lq.spec.cluster_queue for lq in local_queues}
        self._wfpr = wait_for_pods_ready if wait_for_pods_ready is not None else WaitForPodsReady()
        self._wls: dict[str, _Workload] = {}
        self._shapes: dict[Any, int] = {}
        self._backoff: dict[str, _Workload] = {}  # evicted, waiting for requeue_at
        self._stamp = 0  # orders enqueues and parking pops
        self._unready: set[str] = set()  # admitted, not yet PodsReady
        # the last preemption search of the flavor assignment under way: (usage, need, targets)
        self._plans: dict[tuple[str, int], list[tuple[str, list[tuple[
            dict[str, int] | None, list[tuple[str, str | None]]]]]]] = {}
        self._last_targets: tuple[dict[FR, int], set[FR], list[tuple[_Workload, str]]] | None = None

    @classmethod
    def from_section(cls, section: KueueSection) -> KueueCore:
        return cls(section.resource_flavors, section.cluster_queues, section.local_queues,
                   section.wait_for_pods_ready)

    # -- quota arithmetic (resource_node.go for a one-level cohort) -------------------------------------

    def _cohort_of(self, cq: _ClusterQueue) -> list[_ClusterQueue] | None:
        return self._cohorts.get(cq.cohort) if cq.cohort else None

    def _cohort_lendable(self, members: list[_ClusterQueue], fr: FR) -> tuple[int, int]:
        """(quota the cohort holds, what of it is used): Σ lendable nominal, Σ usage above guaranteed.

        Both sums are kept up to date per cohort (the quota at construction, the usage by ``_add_usage``).
        """
        cohort = members[0].cohort or ""
        return self._c_quota[cohort].get(fr, 0), self._c_used[cohort].get(fr, 0)

    def _available(self, cq: _ClusterQueue, fr: FR) -> int:
        q = cq.quotas.get(fr)
        if q is None:
            return 0
        u = cq.usage.get(fr, 0)
        if cq.c_used is None or cq.c_quota is None:
            return q.nominal - u
        parent = cq.c_quota.get(fr, 0) - cq.c_used.get(fr, 0)
        if q.borrowing_limit is not None:
            stored = q.nominal - q.guaranteed
            used_in_parent = max(0, u - q.guaranteed)
            parent = min(stored - used_in_parent + q.borrowing_limit, parent)
        return max(0, q.guaranteed - u) + parent

    def _potential(self, cq: _ClusterQueue, fr: FR) -> int:
        q = cq.quotas.get(fr)
        if q is None:
            return 0
        members = self._cohort_of(cq)
        if members is None:
            return q.nominal
        c_quota, _ = self._cohort_lendable(members, fr)
        avail = q.guaranteed + c_quota
        if q.borrowing_limit is not None:
            avail = min(q.nominal + q.borrowing_limit, avail)
        return avail

    def _borrowing_with(self, cq: _ClusterQueue, fr: FR, val: int) -> bool:
        q = cq.quotas.get(fr)
        return cq.usage.get(fr, 0) + val > (q.nominal if q else 0)

    def _add_usage(self, cq: _ClusterQueue, usage: Mapping[FR, int], sign: int = 1) -> None:
        cu = cq.usage
        if not cq.cohort:
            for fr, v in usage.items():
                cu[fr] = cu.get(fr, 0) + sign * v
            return
        c_used = self._c_used[cq.cohort]
        quotas = cq.quotas
        for fr, v in usage.items():
            old = cu.get(fr, 0)
            new = cu[fr] = old + sign * v
            q = quotas.get(fr)
            g = q.guaranteed if q else 0
            d = max(0, new - g) - max(0, old - g)
            if d:
                c_used[fr] = c_used.get(fr, 0) + d

    # -- public API --------------------------------------------------------------------------------------

    def submit(self, wl: QueuedWorkload, now: float) -> None:
        """A new Workload (its Job was created suspended). It queues in its LocalQueue's ClusterQueue."""
        if wl.key in self._wls:
            raise ValueError(f"workload {wl.key} was already submitted")
        w = _Workload(wl)
        w.shape = self._shapes.setdefault(w.shape, len(self._shapes))  # intern: compare ints later
        self._wls[wl.key] = w
        lq = f"{wl.namespace}/{wl.queue}"
        cq_name = self._lqs.get(lq)
        if cq_name is None or cq_name not in self._cqs:
            w.state = NO_QUEUE
            w.message = (f"LocalQueue {wl.queue} doesn't exist" if cq_name is None
                         else f"ClusterQueue {cq_name} doesn't exist")
            return
        w.cq = cq_name
        self._enqueue(w)

    def schedule(self, now: float, *, requeue_due: bool = True) -> CycleResult:
        """One Kueue scheduling cycle (see the module docstring).

        First, workloads whose requeue time has come (backoff expired, or preempted by an earlier call) go
        back to their queues, unless ``requeue_due`` is false.
        """
        if requeue_due:
            self._promote_backoffs(now)
        result = CycleResult()
        heads: list[_Workload] = []
        for cq in self._cqs.values():
            if cq.idle:
                continue
            head = self._pop_head(cq)
            if head is not None:
                heads.append(head)
        if not heads:
            return result
        if self._wfpr.enable and self._wfpr.block_admission and self._blocking():
            for w in heads:
                self._enqueue(w)
                msg = "Waiting for all admitted workloads to be in PodsReady condition"
                result.pending.append(Pending(w.wl.key, w.cq or "", "Pending", msg))
            return result
        entries = [(w, self._assign(w, now)) for w in heads]
        entries.sort(key=lambda e: (e[1].borrow, -e[0].wl.priority, e[0].order_ts, e[0].wl.key))
        held: list[tuple[_ClusterQueue, dict[FR, int]]] = []
        preempted: set[str] = set()
        released: set[str] = set()  # ClusterQueues whose quota was released this cycle
        requeue_later: list[tuple[_Workload, bool]] = []  # (workload, immediately)
        block = self._wfpr.enable and self._wfpr.block_admission
        for w, a in entries:
            cq = self._cqs[w.cq or ""]
            if block and self._blocking():
                # an admission earlier in this cycle is not PodsReady yet: blockAdmission holds the rest
                msg = "Waiting for all admitted workloads to be in PodsReady condition"
                result.pending.append(Pending(w.wl.key, cq.name, "Pending", msg))
                requeue_later.append((w, True))
                continue
            if a.mode == _NO_FIT or (a.mode != _FIT and not a.targets):
                if cq.preemptor == w.wl.key:
                    cq.preemptor = None
                reason = a.reason or "Pending"
                result.pending.append(Pending(w.wl.key, cq.name, reason, a.message))
                w.message = a.message
                requeue_later.append((w, False))
                continue
            if a.mode != _FIT and any(t.wl.key in preempted for t, _ in a.targets):
                msg = "Workload has overlapping preemption targets with another workload"
                result.pending.append(Pending(w.wl.key, cq.name, "WaitingForQuota", msg))
                requeue_later.append((w, True))
                continue
            if not self._fits(cq, a.usage, [t for t, _ in a.targets]):
                msg = "Workload no longer fits after processing another workload"
                result.pending.append(Pending(w.wl.key, cq.name, "WaitingForQuota", msg))
                requeue_later.append((w, True))
                continue
            if a.mode == _FIT:
                self._admit(w, cq, a, now, result)
                continue
            # preempt: evict the targets now, hold the preemptor's usage for the rest of the cycle
            for victim, why in a.targets:
                preempted.add(victim.wl.key)
                vcq = self._cqs[victim.cq or ""]
                released.add(vcq.cohort or vcq.name)
                result.evictions.append(self._preempt(victim, w, cq, why, now))
            self._add_usage(cq, a.usage)
            held.append((cq, a.usage))
            cq.preemptor = w.wl.key
            cq.idle = False
            n = len(a.targets)
            msg = f"Pending the preemption of {n} workload(s)"
            result.pending.append(Pending(w.wl.key, cq.name, "WaitingForPreemptedWorkloads", msg))
            w.message = msg
            requeue_later.append((w, True))
            result.changed = True
        for cq, usage in held:
            self._add_usage(cq, usage, -1)
        for w, immediately in requeue_later:
            cq = self._cqs[w.cq or ""]
            if immediately or cq.strict:
                self._enqueue(w)
                continue
            self._enqueue(w)
            w.xmark = cq.epoch
            result.changed = True
            # SchedulingEquivalenceHashing (on by default since Kueue 0.18): every queued workload of the
            # same shape would fail the same way; they are parked as they reach the head
            cq.parked_shapes[w.shape] = w.message
            cq.idle = False
        for scope in sorted(released):
            self._requeue_inadmissible(scope)
        return result

    def run_cycles(self, now: float, max_cycles: int = 10_000) -> CycleResult:
        """Cycles back to back at one instant until one changes nothing (admits, preempts or parks)."""
        total = CycleResult()
        for i in range(max_cycles):
            # workloads preempted by these cycles stay out until the next call: in Kueue they come back
            # only once their pods are gone, which takes time
            r = self.schedule(now, requeue_due=i == 0)
            total.extend(r)
            if not r.changed:
                break
        return total

    def finish(self, key: str, now: float) -> None:
        """The workload finished (Succeeded or Failed): release its quota; parked workloads nearby retry."""
        w = self._wls[key]
        if w.state == ADMITTED:
            self._release(w)
        else:
            self._dequeue(w)
        self._backoff.pop(key, None)
        w.state = FINISHED

    def pods_ready(self, key: str, now: float) -> None:
        """The admitted workload's pods are all running and ready (condition ``PodsReady=True``)."""
        self._wls[key].pods_ready = True
        self._unready.discard(key)

    def evict(self, key: str, now: float, reason: str) -> Requeue:
        """Evict an admitted workload (e.g. ``PodsReadyTimeout``): release its quota and requeue it.

        ``PodsReadyTimeout`` counts a requeue and waits ``backoff_seconds(n)``; when the count would exceed
        ``backoffLimitCount`` the workload is deactivated instead. Other reasons requeue at once. The
        workload returns to its queue by :meth:`requeue` (or by the first :meth:`schedule` at or after
        ``requeue_at``).
        """
        w = self._wls[key]
        if w.state != ADMITTED:
            raise ValueError(f"workload {key} is {w.state}, not admitted")
        self._release(w)
        rs = self._wfpr.requeuing_strategy
        if reason == "PodsReadyTimeout":
            count = w.requeue_count + 1
            if rs.backoff_limit_count is not None and count > rs.backoff_limit_count:
                w.state = DEACTIVATED
                w.message = "exceeding the maximum number of re-queuing retries"
                return Requeue(key, 0.0, None, w.requeue_count, deactivated=True)
            w.requeue_count = count
            delay = backoff_seconds(count, rs.backoff_base_seconds, rs.backoff_max_seconds)
            if rs.timestamp == "Eviction":
                w.set_order_ts(now)
            w.state = BACKOFF
            self._backoff[key] = w
            w.requeue_at = now + delay
            return Requeue(key, delay, now + delay, count)
        self._enqueue(w)
        return Requeue(key, 0.0, now, w.requeue_count)

    def requeue(self, key: str, now: float) -> bool:
        """Put a workload whose backoff expired back in its queue. False if it was not waiting."""
        w = self._wls[key]
        if w.state != BACKOFF:
            return False
        self._backoff.pop(key, None)
        w.requeue_at = None
        self._enqueue(w)
        return True

    def next_requeue_at(self) -> float | None:
        """The earliest ``requeueAt`` among backed-off workloads, for the engine's timer."""
        times = [w.requeue_at for w in self._backoff.values() if w.requeue_at is not None]
        return min(times) if times else None

    def status(self, key: str) -> WorkloadStatus:
        w = self._wls[key]
        state, message = w.state, w.message
        if w.qseq >= 0:
            parked, msg = self._parked(self._cqs[w.cq or ""], w)
            state = INADMISSIBLE if parked else PENDING
            if msg is not None:
                message = msg
        return WorkloadStatus(state, w.cq, message, w.requeue_count, w.requeue_at)

    def admission(self, key: str) -> Admission | None:
        w = self._wls[key]
        return w.admission if w.state == ADMITTED else None

    def usage(self) -> dict[str, dict[str, dict[str, int]]]:
        """Reserved quota per ClusterQueue / flavor / resource (milli), zeros included for every quota."""
        out: dict[str, dict[str, dict[str, int]]] = {}
        for cq in self._cqs.values():
            per: dict[str, dict[str, int]] = {}
            for f, r in sorted(cq.quotas):
                per.setdefault(f, {})[r] = cq.usage.get((f, r), 0)
            out[cq.name] = per
        return out

    def borrowed(self) -> dict[str, dict[str, dict[str, int]]]:
        """Usage above nominal quota per ClusterQueue / flavor / resource (only the borrowing entries)."""
        out: dict[str, dict[str, dict[str, int]]] = {}
        for cq in self._cqs.values():
            for (f, r), q in sorted(cq.quotas.items()):
                over = cq.usage.get((f, r), 0) - q.nominal
                if over > 0:
                    out.setdefault(cq.name, {}).setdefault(f, {})[r] = over
        return out

    def quota(self, cq: str) -> dict[str, dict[str, tuple[int, int | None, int | None]]]:
        """(nominal, borrowingLimit, lendingLimit) per flavor / resource of a ClusterQueue (milli)."""
        out: dict[str, dict[str, tuple[int, int | None, int | None]]] = {}
        for (f, r), q in sorted(self._cqs[cq].quotas.items()):
            out.setdefault(f, {})[r] = (q.nominal, q.borrowing_limit, q.lending_limit)
        return out

    def cohorts(self) -> dict[str, list[str]]:
        return {k: [c.name for c in v] for k, v in sorted(self._cohorts.items())}

    def pending_workloads(self, cq: str) -> list[str]:
        """Keys queued in a ClusterQueue in queue order, then the parked (inadmissible) ones sorted."""
        c = self._cqs[cq]
        queued = [(sk, w) for heap in c.heaps.values() for sk, seq, w in heap if seq == w.qseq]
        pending: list[tuple[tuple[int, float, str], str]] = []
        parked: list[str] = []
        for sk, w in queued:
            if self._parked(c, w)[0]:
                parked.append(w.wl.key)
            else:
                pending.append((sk, w.wl.key))
        return [k for _, k in sorted(pending)] + sorted(parked)

    # -- queues ------------------------------------------------------------------------------------------

    def _enqueue(self, w: _Workload) -> None:
        cq = self._cqs[w.cq or ""]
        self._stamp += 1
        w.state = PENDING
        w.q_stamp = w.qseq = self._stamp
        w.xmark = -1
        heap = cq.heaps.get(w.shape)
        if heap is None:
            heap = cq.heaps[w.shape] = []
        heapq.heappush(heap, (w.sk, w.qseq, w))
        cq.idle = False

    def _unqueue(self, cq: _ClusterQueue, w: _Workload) -> None:
        """Take a queued workload out of its queue, keeping the message its last parking gave it."""
        if cq.plog.get(w.shape):
            msg = self._parked(cq, w)[1]
            if msg is not None:
                w.message = msg
        w.qseq = -1
        cq.idle = False
        heap = cq.heaps.get(w.shape)
        if heap is not None:
            while heap and heap[0][1] != heap[0][2].qseq:
                heapq.heappop(heap)
            if not heap:
                del cq.heaps[w.shape]
                cq.plog.pop(w.shape, None)

    def _parked(self, cq: _ClusterQueue, w: _Workload) -> tuple[bool, str | None]:
        """(is the queued ``w`` parked now, the message of its last parking since it was queued, if any)."""
        inad = w.xmark == cq.epoch and w.xmark >= 0
        recs = cq.plog.get(w.shape)
        if not recs:
            return inad, None
        since, sk = w.q_stamp, w.sk
        i = len(recs) - 1
        while i >= 0 and recs[i][0] > since:
            ep = recs[i][3]
            first: str | None = None
            while i >= 0 and recs[i][3] == ep and recs[i][0] > since:
                h = recs[i][1]
                if h is None or sk < h:
                    first = recs[i][2]
                i -= 1
            if first is not None and ep != w.xmark:
                return inad or ep == cq.epoch, first
        return inad, None

    def _pop_head(self, cq: _ClusterQueue) -> _Workload | None:
        """Kueue's queue head: workloads of parked shapes that come before it are parked (lazily)."""
        if cq.idle:
            return None
        strict = cq.strict
        if cq.preemptor is not None and not strict:
            p = self._wls.get(cq.preemptor)
            if p is not None and p.qseq >= 0 and p.cq == cq.name and not self._parked(cq, p)[0]:
                self._unqueue(cq, p)
                return p
        parked = cq.parked_shapes
        best: tuple[tuple[int, float, str], int, _Workload] | None = None
        empty: list[int] = []
        for shape, heap in cq.heaps.items():
            while heap and heap[0][1] != heap[0][2].qseq:
                heapq.heappop(heap)
            if not heap:
                empty.append(shape)
                continue
            if not strict and shape in parked:
                continue
            if best is None or heap[0][0] < best[0]:
                best = heap[0]
        for shape in empty:
            del cq.heaps[shape]
            cq.plog.pop(shape, None)
        if parked and not strict:
            h = best[0] if best is not None else None
            self._stamp += 1
            for shape, msg in parked.items():
                sheap = cq.heaps.get(shape)
                if not sheap or (h is not None and sheap[0][0] >= h):
                    continue  # nothing of this shape comes before the head
                recs = cq.plog.get(shape)
                if recs is None:
                    recs = cq.plog[shape] = []
                if recs and recs[-1][1] == h and recs[-1][2] == msg and recs[-1][3] == cq.epoch:
                    recs[-1] = (self._stamp, h, msg, cq.epoch)
                else:
                    recs.append((self._stamp, h, msg, cq.epoch))
                    if len(recs) > cq.plog_limit.get(shape, 64):
                        # records before the oldest queued workload of the shape joined can go
                        oldest = min(e[2].q_stamp for e in sheap if e[1] == e[2].qseq)
                        recs[:] = [r for r in recs if r[0] > oldest]
                        cq.plog_limit[shape] = 2 * (len(recs) + len(sheap)) + 64
        if best is None:
            cq.idle = True
            return None
        w = best[2]
        self._unqueue(cq, w)
        return w

    def _dequeue(self, w: _Workload) -> None:
        if w.cq is None:
            return
        cq = self._cqs[w.cq]
        if cq.preemptor == w.wl.key:
            cq.preemptor = None
        if w.qseq >= 0:
            self._unqueue(cq, w)

    def _requeue_inadmissible(self, scope: str) -> None:
        """Quota was released in a ClusterQueue or cohort: every parked workload there retries."""
        members = self._cohorts.get(scope) or ([self._cqs[scope]] if scope in self._cqs else [])
        for cq in members:
            if cq.parked_shapes:
                cq.parked_shapes = {}
                cq.epoch += 1
                cq.idle = False

    def _promote_backoffs(self, now: float) -> None:
        if not self._backoff:
            return
        for key in sorted(self._backoff):
            w = self._backoff[key]
            if w.requeue_at is not None and w.requeue_at <= now:
                self.requeue(key, now)

    def _blocking(self) -> bool:
        return bool(self._unready)

    # -- admission and release ---------------------------------------------------------------------------

    def _admit(self, w: _Workload, cq: _ClusterQueue, a: _Assignment, now: float,
               result: CycleResult) -> None:
        borrowed = any(self._borrowing_with(cq, fr, v) for fr, v in a.usage.items())
        self._add_usage(cq, a.usage)
        usage: dict[str, dict[str, int]] = {}
        for (f, r), v in sorted(a.usage.items()):
            usage.setdefault(f, {})[r] = v
        selectors: dict[str, dict[str, str]] = {}
        tolerations: dict[str, list[dict[str, Any]]] = {}
        for ps, per_res in a.flavors.items():
            sel: dict[str, str] = {}
            tols: list[dict[str, Any]] = []
            for f in sorted(set(per_res.values())):
                sel.update(self._flavors[f].node_labels)
                tols.extend(t for t in self._flavors[f].tolerations if t not in tols)
            selectors[ps] = sel
            tolerations[ps] = tols
        adm = Admission(w.wl.key, cq.name, a.flavors, usage, borrowed, selectors, tolerations)
        w.state = ADMITTED
        w.admission = adm
        w.admitted_at = now
        w.total_usage = dict(a.usage)
        w.pods_ready = False
        w.message = ""
        self._unready.add(w.wl.key)
        cq.workloads[w.wl.key] = w
        cq.prio_count[w.wl.priority] = cq.prio_count.get(w.wl.priority, 0) + 1
        if cq.preemptor == w.wl.key:
            cq.preemptor = None
        result.admissions.append(adm)
        result.changed = True

    def _release(self, w: _Workload) -> None:
        cq = self._cqs[w.cq or ""]
        self._add_usage(cq, w.total_usage, -1)
        if cq.workloads.pop(w.wl.key, None) is not None:
            self._forget_priority(cq, w)
        self._unready.discard(w.wl.key)
        w.admission = None
        w.total_usage = {}
        self._requeue_inadmissible(cq.cohort or cq.name)

    @staticmethod
    def _forget_priority(cq: _ClusterQueue, w: _Workload) -> None:
        n = cq.prio_count[w.wl.priority] - 1
        if n:
            cq.prio_count[w.wl.priority] = n
        else:
            del cq.prio_count[w.wl.priority]

    def _preempt(self, victim: _Workload, preemptor: _Workload, pcq: _ClusterQueue, why: str,
                 now: float) -> Eviction:
        vcq = self._cqs[victim.cq or ""]
        self._add_usage(vcq, victim.total_usage, -1)
        if vcq.workloads.pop(victim.wl.key, None) is not None:
            self._forget_priority(vcq, victim)
        self._unready.discard(victim.wl.key)
        victim.admission = None
        victim.total_usage = {}
        victim.state = BACKOFF
        victim.requeue_at = now
        self._backoff[victim.wl.key] = victim
        msg = (f"Preempted to accommodate a workload ({preemptor.wl.key}) due to {_REASON_TEXT[why]}; "
               f"preemptor path: /{pcq.cohort + '/' if pcq.cohort else ''}{pcq.name}; "
               f"preemptee path: /{vcq.cohort + '/' if vcq.cohort else ''}{vcq.name}")
        victim.message = msg
        return Eviction(victim.wl.key, vcq.name, "Preempted", preemptor.wl.key, why, msg,
                        Requeue(victim.wl.key, 0.0, now, victim.requeue_count))

    def _fits(self, cq: _ClusterQueue, usage: Mapping[FR, int], removed: Sequence[_Workload]) -> bool:
        for v in removed:
            self._add_usage(self._cqs[v.cq or ""], v.total_usage, -1)
        try:
            return all(val <= self._available(cq, fr) for fr, val in usage.items())
        finally:
            for v in removed:
                self._add_usage(self._cqs[v.cq or ""], v.total_usage)

    # -- flavor assignment (flavorassigner.go) -----------------------------------------------------------

    def _prefer(self, cq: _ClusterQueue, a: tuple[int, int], b: tuple[int, int]) -> bool:
        """Kueue's isPreferred: is (mode, borrow) ``a`` better than ``b``."""
        if a[0] == _NO_FIT:
            return False
        if b[0] == _NO_FIT:
            return True
        if (a[0] == _NO_CANDIDATES) != (b[0] == _NO_CANDIDATES):
            return a[0] != _NO_CANDIDATES
        if cq.preference == "PreemptionOverBorrowing":
            return a[1] < b[1] if a[1] != b[1] else a[0] > b[0]
        return a[0] > b[0] if a[0] != b[0] else a[1] < b[1]

    def _assign(self, w: _Workload, now: float) -> _Assignment:
        cq = self._cqs[w.cq or ""]
        self._last_targets = None
        a = _Assignment()
        worst = (_FIT, 0)
        max_borrow = 0
        reasons: list[str] = []
        plan = self._plans.get((cq.name, w.shape))
        if plan is None:
            plan = self._plans[(cq.name, w.shape)] = self._plan(cq, w)
        if len(plan) == 1 and len(plan[0][1]) == 1:
            single = plan[0][1][0]
            one_flavor = len(single[1]) == 1 and single[1][0][1] is None
            if single[0] is not None and len(single[0]) == 1 and one_flavor:
                return self._assign_one(cq, w, a, plan[0][0], single[0], single[1][0][0])
        for ps_name, steps in plan:
            ps_flavors: dict[str, str] = {}
            for group_req, flavor_list in steps:
                if group_req is None:
                    a.mode, a.reason = _NO_FIT, "NoMatchingFlavor"
                    a.message = (f"couldn't assign flavors to pod set {ps_name}: "
                                 f"resource {flavor_list[0][0]} unavailable in ClusterQueue")
                    return a
                best: tuple[int, int] = (_NO_FIT, 1 << 30)
                best_flavor: str | None = None
                best_modes: dict[str, int] = {}
                group_reasons: list[str] = []
                for fname, why in flavor_list:
                    if why is not None:
                        group_reasons.append(why)
                        continue
                    rep = (_FIT, 0)
                    modes: dict[str, int] = {}
                    for r, val0 in group_req.items():
                        fr = (fname, r)
                        val = a.usage.get(fr, 0) + val0
                        mode, borrow, msg = self._fits_quota(cq, w, fr, val, a.usage.get(fr, 0), val0)
                        if msg:
                            group_reasons.append(msg)
                        modes[r] = mode
                        if self._prefer(cq, rep, (mode, borrow)):
                            rep = (mode, borrow)
                        if rep[0] == _NO_FIT:
                            break
                    stop = self._stop_search(cq, rep)
                    if stop or self._prefer(cq, rep, best):
                        best, best_flavor, best_modes = rep, fname, modes
                    if stop:
                        break
                if best_flavor is None or best[0] == _NO_FIT:
                    a.mode = _NO_FIT
                    any_quota = any("quota" in m for m in group_reasons)
                    a.reason = "WaitingForQuota" if any_quota else "NoMatchingFlavor"
                    a.message = (f"couldn't assign flavors to pod set {ps_name}: "
                                 + ", ".join(group_reasons))
                    return a
                if best[0] != _FIT and not reasons:
                    joined = ", ".join(group_reasons)
                    reasons.append(f"couldn't assign flavors to pod set {ps_name}: {joined}")
                for r, v in group_req.items():
                    ps_flavors[r] = best_flavor
                    fr = (best_flavor, r)
                    a.usage[fr] = a.usage.get(fr, 0) + v
                    if best_modes.get(r, _FIT) != _FIT:
                        a.need_preemption.add(fr)
                max_borrow = max(max_borrow, best[1])
                if self._prefer(cq, worst, best):
                    worst = best
            a.flavors[ps_name] = ps_flavors
        a.mode, a.borrow = worst[0], max_borrow
        if a.mode != _FIT:
            last = self._last_targets
            if last is not None and last[0] == a.usage and last[1] == a.need_preemption:
                a.targets = list(last[2])  # the same question, asked of the same state, by _fits_quota
            else:
                a.targets = self._targets(cq, w, a.usage, a.need_preemption)
            a.reason = "WaitingForQuota" if not a.targets else "Preempting"
            a.message = reasons[0] if reasons else ""
        return a

    def _assign_one(self, cq: _ClusterQueue, w: _Workload, a: _Assignment, ps_name: str,
                    group_req: dict[str, int], fname: str) -> _Assignment:
        """``_assign`` for one pod set asking for one resource, with one flavor to try (the common case)."""
        (r, val), = group_req.items()
        fr = (fname, r)
        mode, borrow, msg = self._fits_quota(cq, w, fr, val, 0, val)
        rep = (_FIT, 0)
        if self._prefer(cq, rep, (mode, borrow)):
            rep = (mode, borrow)
        if rep[0] == _NO_FIT:  # nothing else to try
            a.mode = _NO_FIT
            a.reason = "WaitingForQuota" if msg and "quota" in msg else "NoMatchingFlavor"
            a.message = f"couldn't assign flavors to pod set {ps_name}: " + (msg or "")
            return a
        a.flavors[ps_name] = {r: fname}
        a.usage[fr] = val
        if mode != _FIT:
            a.need_preemption.add(fr)
        a.mode, a.borrow = (rep[0], rep[1]) if self._prefer(cq, (_FIT, 0), rep) else (_FIT, rep[1])
        if a.mode != _FIT:
            last = self._last_targets
            if last is not None and last[0] == a.usage and last[1] == a.need_preemption:
                a.targets = list(last[2])
            else:
                a.targets = self._targets(cq, w, a.usage, a.need_preemption)
            a.reason = "WaitingForQuota" if not a.targets else "Preempting"
            a.message = f"couldn't assign flavors to pod set {ps_name}: {msg or ''}"
        return a

    def _plan(self, cq: _ClusterQueue, w: _Workload) -> list[tuple[str, list[tuple[
            dict[str, int] | None, list[tuple[str, str | None]]]]]]:
        """What the flavor assignment of ``w``'s shape in ``cq`` does not owe to the quota state: per pod set,
        per resource group, the group's requests and the flavors to try, each with why it is skipped (or
        None); a resource no group covers ends the steps with ``(None, [(resource, None)])``."""
        plan: list[tuple[str, list[tuple[dict[str, int] | None, list[tuple[str, str | None]]]]]] = []
        for ps in w.wl.pod_sets:
            total = {r: v * ps.count for r, v in sorted(ps.requests.items()) if v > 0}
            steps: list[tuple[dict[str, int] | None, list[tuple[str, str | None]]]] = []
            done: set[str] = set()
            for res in total:
                if res in done:
                    continue
                gi = cq.group_for(res)
                if gi is None:
                    steps.append((None, [(res, None)]))
                    break
                covered, flavor_names = cq.groups[gi]
                group_req = {r: v for r, v in total.items() if r in covered}
                done.update(group_req)
                flavor_list: list[tuple[str, str | None]] = []
                for fname in flavor_names:
                    flavor = self._flavors.get(fname)
                    flavor_list.append((fname, f"flavor {fname} not found" if flavor is None
                                        else _flavor_mismatch(ps, flavor) or None))
                steps.append((group_req, flavor_list))
            plan.append((ps.name, steps))
            if steps and steps[-1][0] is None:
                break
        return plan

    def _stop_search(self, cq: _ClusterQueue, rep: tuple[int, int]) -> bool:
        """Stop the flavor search at this flavor? (the negation of Kueue's ``shouldTryNextFlavor``)"""
        mode, borrow = rep
        if mode in (_NO_FIT, _NO_CANDIDATES):
            return False
        if mode in (_PREEMPT, _RECLAIM) and cq.when_can_preempt == "TryNextFlavor":
            return False
        return not (borrow > 0 and cq.when_can_borrow == "TryNextFlavor")

    def _fits_quota(self, cq: _ClusterQueue, w: _Workload, fr: FR, val: int, before: int,
                    request: int) -> tuple[int, int, str | None]:
        """(mode, borrowing level, reason) for ``val`` of ``fr`` (this podset plus earlier ones).

        ``_potential``, ``_borrowing_with`` and ``_available`` are inlined here: this is the hot path.
        """
        f, r = fr
        q = cq.quotas.get(fr)
        c_used, c_quota = cq.c_used, cq.c_quota
        in_cohort = c_used is not None
        if q is None:
            potential = 0
        elif c_used is None or c_quota is None:
            potential = q.nominal
        else:
            potential = q.guaranteed + c_quota.get(fr, 0)
            if q.borrowing_limit is not None:
                potential = min(q.nominal + q.borrowing_limit, potential)
        if val > potential:
            return _NO_FIT, 0, (f"insufficient quota for {r} in flavor {f}, previously considered podsets "
                                f"requests ({_fmt(r, before)}) + current podset request ({_fmt(r, request)}) "
                                f"> maximum capacity ({_fmt(r, potential)})")
        u = cq.usage.get(fr, 0)
        if q is None:  # val <= 0: fits in nothing
            return _FIT, 1 if u + val > 0 and in_cohort else 0, None
        borrowing = u + val > q.nominal
        borrow = 1 if borrowing and in_cohort else 0
        if c_used is None or c_quota is None:
            available = q.nominal - u
        else:
            parent = c_quota.get(fr, 0) - c_used.get(fr, 0)
            if q.borrowing_limit is not None:
                parent = min(q.nominal - q.guaranteed - max(0, u - q.guaranteed) + q.borrowing_limit, parent)
            available = max(0, q.guaranteed - u) + parent
        if val <= available:
            return _FIT, borrow, None
        msg = f"insufficient unused quota for {r} in flavor {f}, {_fmt(r, val - available)} more needed"
        may_reclaim = in_cohort and not borrowing
        can_preempt_borrowing = cq.borrow_policy != "Never"
        if q.nominal >= val or may_reclaim or can_preempt_borrowing:
            targets = self._targets(cq, w, {fr: val}, {fr})
            self._last_targets = ({fr: val}, {fr}, targets)
            if not targets:
                return _NO_CANDIDATES, borrow, msg
            vcqs = [self._cqs[t.cq or ""] for t, _ in targets]
            for v, _ in targets:
                self._add_usage(self._cqs[v.cq or ""], v.total_usage, -1)
            borrow_after = 1 if in_cohort and self._borrowing_with(cq, fr, val) else 0
            for v, _ in targets:
                self._add_usage(self._cqs[v.cq or ""], v.total_usage)
            mode = _PREEMPT if any(c is cq for c in vcqs) else _RECLAIM
            return mode, borrow_after, msg
        return _NO_FIT, borrow, msg

    # -- preemption (preemption.go, classical/) ----------------------------------------------------------

    @staticmethod
    def _candidates(policy: str, w: _Workload, workloads: Iterable[_Workload],
                    need: set[FR]) -> list[_Workload]:
        """The admitted ``workloads`` using a resource in ``need`` that ``policy`` lets ``w`` preempt."""
        pp = w.wl.priority
        if policy == "LowerPriority":
            return [c for c in workloads if c.wl.priority < pp and not need.isdisjoint(c.total_usage)]
        if policy == "LowerOrNewerEqualPriority":
            ts = w.order_ts
            return [c for c in workloads if (c.wl.priority < pp or (c.wl.priority == pp and ts < c.order_ts))
                    and not need.isdisjoint(c.total_usage)]
        if policy == "Any":
            return [c for c in workloads if not need.isdisjoint(c.total_usage)]
        return []

    def _within_nominal(self, cq: _ClusterQueue, frs: Iterable[FR]) -> bool:
        usage, quotas = cq.usage, cq.quotas
        for fr in frs:
            q = quotas.get(fr)
            if usage.get(fr, 0) > (q.nominal if q is not None else 0):
                return False
        return True

    def _targets(self, cq: _ClusterQueue, w: _Workload, usage: Mapping[FR, int],
                 need: set[FR]) -> list[tuple[_Workload, str]]:
        """The minimal greedy set of admitted workloads to evict so ``usage`` fits in ``cq``."""
        same_c: list[_Workload] = []
        pp = w.wl.priority
        within = cq.within_policy
        if within != "Never" and cq.workloads and (  # else no admitted workload it may preempt
                within not in ("LowerPriority", "LowerOrNewerEqualPriority")
                or any(p < pp or (p == pp and within != "LowerPriority") for p in cq.prio_count)):
            same_c = self._candidates(cq.within_policy, w, cq.workloads.values(), need)
        hier_c: list[_Workload] = []
        prio_c: list[tuple[_Workload, str]] = []
        members = self._cohort_of(cq)
        forbidden = cq.borrow_policy == "Never"
        if members is not None and cq.reclaim_policy != "Never":
            advantage: bool | None = None
            for m in members:
                if m is cq or not m.workloads:
                    continue
                mu, mq = m.usage, m.quotas
                for fr in need:  # skip members within nominal quota (_within_nominal, inlined)
                    q = mq.get(fr)
                    if mu.get(fr, 0) > (q.nominal if q is not None else 0):
                        break
                else:
                    continue
                # the order key below ends with the (unique) key: no need to go through them sorted
                for c in self._candidates(cq.reclaim_policy, w, m.workloads.values(), need):
                    if advantage is None:
                        advantage = all(cq.usage.get(fr, 0) + v <= (cq.quotas[fr].nominal if fr in cq.quotas
                                                                     else 0) for fr, v in usage.items())
                    if advantage:
                        hier_c.append(c)
                        continue
                    above = c.wl.priority >= w.wl.priority or (
                        cq.borrow_threshold is not None and c.wl.priority > cq.borrow_threshold)
                    prio_c.append((c, "InCohortReclamation" if forbidden or above
                                   else "InCohortReclaimWhileBorrowing"))
        if not same_c and not hier_c and not prio_c:
            return []

        def order(c: _Workload) -> tuple[int, float, str]:
            return (c.wl.priority, -c.admitted_at, c.wl.key)

        same = [(c, "InClusterQueue") for c in sorted(same_c, key=order)]
        hierarchy = [(c, "InCohortReclamation") for c in sorted(hier_c, key=order)]
        priority = sorted(prio_c, key=lambda t: order(t[0]))
        candidates = [*((c, why, True) for c, why in hierarchy),
                      *((c, why, False) for c, why in priority), *((c, why, True) for c, why in same)]
        if not candidates:
            return []
        no_other = not hierarchy and not priority
        under_nominal = all(cq.usage.get(fr, 0) < (cq.quotas[fr].nominal if fr in cq.quotas else 0)
                            for fr in need)
        if no_other or (forbidden and not under_nominal):
            attempts = [True]
        elif forbidden and not hierarchy:
            attempts = [False, True]
        else:
            attempts = [True, False]
        for allow_borrowing in attempts:
            chosen: list[tuple[_Workload, str]] = []
            for c, why, always_valid in candidates:
                vcq = self._cqs[c.cq or ""]
                if vcq is not cq:
                    if allow_borrowing and not always_valid and why == "InCohortReclamation":
                        continue  # Kueue's ReclaimWithoutBorrowing
                    if self._within_nominal(vcq, need):
                        continue
                self._add_usage(vcq, c.total_usage, -1)
                chosen.append((c, why))
                if self._workload_fits(cq, usage, allow_borrowing):
                    # give back, newest choice excluded, those not needed (fillBackWorkloads)
                    for i in range(len(chosen) - 2, -1, -1):
                        back = chosen[i][0]
                        bcq = self._cqs[back.cq or ""]
                        self._add_usage(bcq, back.total_usage)
                        if self._workload_fits(cq, usage, allow_borrowing):
                            chosen.pop(i)
                        else:
                            self._add_usage(bcq, back.total_usage, -1)
                    for v, _ in chosen:
                        self._add_usage(self._cqs[v.cq or ""], v.total_usage)
                    return chosen
            for v, _ in chosen:
                self._add_usage(self._cqs[v.cq or ""], v.total_usage)
        return []

    def _workload_fits(self, cq: _ClusterQueue, usage: Mapping[FR, int], allow_borrowing: bool) -> bool:
        for fr, v in usage.items():
            if not allow_borrowing and self._borrowing_with(cq, fr, v):
                return False
            if v > self._available(cq, fr):
                return False
        return True


def queued_workload(m: WorkloadManifest, priority: int, creation: float) -> QueuedWorkload:
    """The :class:`QueuedWorkload` Kueue creates for a Job / JobSet / Workload manifest."""
    pod_sets = []
    for ps in m.pod_sets:
        t = ps.template
        terms = (((t.get("affinity") or {}).get("nodeAffinity") or {})
                 .get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get("nodeSelectorTerms") or ()
        pod_sets.append(PodSetRequest(ps.name, ps.count, ps.requests_milli(),
                                      dict(t.get("nodeSelector") or {}), tuple(t.get("tolerations") or ()),
                                      tuple(terms), ps.min_count))
    return QueuedWorkload(m.key, m.queue_name or "", priority, creation, tuple(pod_sets))
