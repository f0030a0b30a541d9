"""Kueue's flavor assigner: which ResourceFlavor each pod set gets for each resource, and why not.

Mirrors ``pkg/scheduler/flavorassigner/flavorassigner.go``. Per pod set and resource group, flavors are
tried in list order. A flavor is skipped when the pod set's nodeSelector / required node affinity
(restricted to the flavor's own label keys) does not match the flavor's ``nodeLabels``, or the flavor has
a NoSchedule/NoExecute ``nodeTaint`` the pod set (plus the flavor's ``tolerations``) does not tolerate. A
resource **fits** a flavor when the request plus what earlier pod sets of the same workload took is
within the ClusterQueue's available quota; above it, preemption may make room (the preemptor is asked
for targets); above the potential quota nothing can. ``flavorFungibility`` decides whether to stop at a
flavor that needs borrowing (``whenCanBorrow: MayStopSearch``, default) or preemption (``whenCanPreempt:
TryNextFlavor``, default: look further, then take the best one seen).

The reasons are Kueue's texts (``fitsResourceQuota``, ``findFlavorForPodSets``,
``checkFlavorForPodSets``), joined per pod set as ``couldn't assign flavors to pod set NAME: ...``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from models.kueue import ResourceFlavor
from models.quantity import format_resources
from sim.constraints import requirement_matches, tolerates
from sim.kueue.preemption import Preemptor, Target
from sim.kueue.quota import ClusterQueue, QuotaState
from sim.kueue.types import FlavorResource, PodSetRequest
from sim.kueue.workload import WorkloadInfo

# preemption modes, worst to best (Kueue's flavorassigner.preemptionMode)
NO_FIT, NO_CANDIDATES, PREEMPT, RECLAIM, FIT = range(5)

#: (preemption mode, borrowing level), compared with :meth:`FlavorAssigner.prefer`
GranularMode = tuple[int, int]
#: per resource group of a pod set: its requests (None: a resource no group covers) and the flavors to
#: try, each with why it is skipped (None: it is not)
PlanStep = tuple[dict[str, int] | None, list[tuple[str, str | None]]]
#: per pod set: (name, steps)
Plan = list[tuple[str, list[PlanStep]]]


class Flavor:
    """A ResourceFlavor: the node labels, taints and tolerations it stands for."""

    __slots__ = ("label_keys", "name", "node_labels", "node_taints", "tolerations")

    def __init__(self, flavor: ResourceFlavor) -> None:
        self.name = flavor.name
        self.node_labels: dict[str, str] = dict(flavor.spec.node_labels)
        self.label_keys = frozenset(self.node_labels)
        self.node_taints: list[dict[str, Any]] = [t.model_dump(by_alias=True, exclude_none=True)
                                                  for t in flavor.spec.node_taints]
        self.tolerations: list[dict[str, Any]] = [t.model_dump(by_alias=True, exclude_none=True)
                                                  for t in flavor.spec.tolerations]


class Assignment:
    """The flavor assignment of one nominated head (Kueue's ``flavorassigner.Assignment``)."""

    __slots__ = ("borrow", "flavors", "message", "mode", "need_preemption", "reason", "targets", "usage")

    def __init__(self) -> None:
        self.flavors: dict[str, dict[str, str]] = {}
        self.usage: dict[FlavorResource, int] = {}
        self.mode = FIT
        self.borrow = 0
        self.need_preemption: set[FlavorResource] = set()
        self.reason = ""
        self.message = ""
        self.targets: list[Target] = []


def flavor_mismatch(pod_set: PodSetRequest, flavor: Flavor) -> str | None:
    """Why ``pod_set`` can never run on ``flavor``'s nodes, or ``None``. Only the flavor's own label keys
    count (Kueue's ``checkFlavorForPodSets``)."""
    tolerations = [*pod_set.tolerations, *flavor.tolerations]
    for taint in flavor.node_taints:
        if taint.get("effect") not in ("NoSchedule", "NoExecute"):
            continue
        if not any(tolerates(t, taint) for t in tolerations):
            text = f"{taint.get('key')}={taint.get('value', '')}:{taint.get('effect')}"
            return f"untolerated taint {{{text}}} in flavor {flavor.name}"
    labels = flavor.node_labels
    for key, value in pod_set.node_selector.items():
        if key in flavor.label_keys and labels[key] != value:
            return f"flavor {flavor.name} doesn't match node affinity"
    terms: list[list[Mapping[str, Any]]] = []
    for term in pod_set.node_affinity_terms:
        expressions = [e for e in term.get("matchExpressions") or [] if e.get("key") in flavor.label_keys]
        if not expressions:  # an emptied term matches every flavor (terms are ORed)
            terms = []
            break
        terms.append(expressions)
    if terms and not any(all(requirement_matches(e, labels) for e in t) for t in terms):
        return f"flavor {flavor.name} doesn't match node affinity"
    return None


_QUANTITY_TEXT: dict[tuple[str, int], str] = {}


def quantity_text(resource: str, milli: int) -> str:
    """``milli`` of ``resource`` as Kubernetes writes it (``16``, ``500m``, ``4Gi``), memoized."""
    text = _QUANTITY_TEXT.get((resource, milli))
    if text is None:
        if len(_QUANTITY_TEXT) > 100_000:
            _QUANTITY_TEXT.clear()
        text = _QUANTITY_TEXT[(resource, milli)] = format_resources({resource: milli})[resource]
    return text


class FlavorAssigner:
    """Assigns flavors to a workload's pod sets against the quota as it stands."""

    __slots__ = ("_last_targets", "_plans", "flavors", "preemptor", "quota")

    def __init__(self, flavors: Iterable[ResourceFlavor], quota: QuotaState, preemptor: Preemptor) -> None:
        self.flavors = {f.name: Flavor(f) for f in flavors}
        self.quota = quota
        self.preemptor = preemptor
        #: per (ClusterQueue, shape): the part of the assignment that does not depend on the quota state
        self._plans: dict[tuple[str, int], Plan] = {}
        #: the last preemption search of the assignment under way: (usage, need, targets)
        self._last_targets: tuple[dict[FlavorResource, int], set[FlavorResource], list[Target]] | None = None

    @staticmethod
    def prefer(cq: ClusterQueue, a: GranularMode, b: GranularMode) -> bool:
        """Kueue's ``isPreferred``: is (mode, borrow) ``a`` better than ``b``."""
        if a[0] == NO_FIT:
            return False
        if b[0] == NO_FIT:
            return True
        if (a[0] == NO_CANDIDATES) != (b[0] == NO_CANDIDATES):
            return a[0] != NO_CANDIDATES
        if cq.flavor_preference == "PreemptionOverBorrowing":
            return a[1] < b[1] if a[1] != b[1] else a[0] > b[0]
        return a[0] > b[0] if a[0] != b[0] else a[1] < b[1]

    @staticmethod
    def _stop_search(cq: ClusterQueue, mode: GranularMode) -> bool:
        """Stop the flavor search at this flavor? (the negation of Kueue's ``shouldTryNextFlavor``)"""
        preemption_mode, borrow = mode
        if preemption_mode in (NO_FIT, NO_CANDIDATES):
            return False
        if preemption_mode in (PREEMPT, RECLAIM) and cq.when_can_preempt == "TryNextFlavor":
            return False
        return not (borrow > 0 and cq.when_can_borrow == "TryNextFlavor")

    def assign(self, cq: ClusterQueue, w: WorkloadInfo) -> Assignment:
        """Kueue's ``assignFlavors``: the best flavors for every pod set, or why there are none."""
        self._last_targets = None
        assignment = Assignment()
        worst: GranularMode = (FIT, 0)
        max_borrow = 0
        reasons: list[str] = []
        plan = self._plans.get((cq.name, w.shape))
        if plan is None:
            plan = self._plans[(cq.name, w.shape)] = self._plan(cq, w)
        if len(plan) == 1 and len(plan[0][1]) == 1:
            group_request, flavor_list = plan[0][1][0]
            one_flavor = len(flavor_list) == 1 and flavor_list[0][1] is None
            if group_request is not None and len(group_request) == 1 and one_flavor:
                return self._assign_one(cq, w, assignment, plan[0][0], group_request, flavor_list[0][0])
        for pod_set, steps in plan:
            pod_set_flavors: dict[str, str] = {}
            for group_request, flavor_list in steps:
                if group_request is None:
                    assignment.mode, assignment.reason = NO_FIT, "NoMatchingFlavor"
                    assignment.message = (f"couldn't assign flavors to pod set {pod_set}: "
                                          f"resource {flavor_list[0][0]} unavailable in ClusterQueue")
                    return assignment
                best: GranularMode = (NO_FIT, 1 << 30)
                best_flavor: str | None = None
                best_modes: dict[str, int] = {}
                group_reasons: list[str] = []
                for flavor_name, skipped_because in flavor_list:
                    if skipped_because is not None:
                        group_reasons.append(skipped_because)
                        continue
                    representative: GranularMode = (FIT, 0)
                    modes: dict[str, int] = {}
                    for resource, request in group_request.items():
                        fr = (flavor_name, resource)
                        before = assignment.usage.get(fr, 0)
                        mode, borrow, message = self._fits_quota(cq, w, fr, before + request, before, request)
                        if message:
                            group_reasons.append(message)
                        modes[resource] = mode
                        if self.prefer(cq, representative, (mode, borrow)):
                            representative = (mode, borrow)
                        if representative[0] == NO_FIT:
                            break
                    stop = self._stop_search(cq, representative)
                    if stop or self.prefer(cq, representative, best):
                        best, best_flavor, best_modes = representative, flavor_name, modes
                    if stop:
                        break
                if best_flavor is None or best[0] == NO_FIT:
                    assignment.mode = NO_FIT
                    any_quota = any("quota" in m for m in group_reasons)
                    assignment.reason = "WaitingForQuota" if any_quota else "NoMatchingFlavor"
                    assignment.message = (f"couldn't assign flavors to pod set {pod_set}: "
                                          + ", ".join(group_reasons))
                    return assignment
                if best[0] != FIT and not reasons:
                    reasons.append(f"couldn't assign flavors to pod set {pod_set}: " + ", ".join(group_reasons))
                for resource, request in group_request.items():
                    pod_set_flavors[resource] = best_flavor
                    fr = (best_flavor, resource)
                    assignment.usage[fr] = assignment.usage.get(fr, 0) + request
                    if best_modes.get(resource, FIT) != FIT:
                        assignment.need_preemption.add(fr)
                max_borrow = max(max_borrow, best[1])
                if self.prefer(cq, worst, best):
                    worst = best
            assignment.flavors[pod_set] = pod_set_flavors
        assignment.mode, assignment.borrow = worst[0], max_borrow
        if assignment.mode != FIT:
            last = self._last_targets
            if last is not None and last[0] == assignment.usage and last[1] == assignment.need_preemption:
                assignment.targets = list(last[2])  # the same question, asked of the same state, by _fits_quota
            else:
                assignment.targets = self.preemptor.targets(cq, w, assignment.usage, assignment.need_preemption)
            assignment.reason = "WaitingForQuota" if not assignment.targets else "Preempting"
            assignment.message = reasons[0] if reasons else ""
        return assignment

    def _assign_one(self, cq: ClusterQueue, w: WorkloadInfo, assignment: Assignment, pod_set: str,
                    group_request: dict[str, int], flavor_name: str) -> Assignment:
        """``assign`` for one pod set asking for one resource, with one flavor to try (the common case)."""
        (resource, request), = group_request.items()
        fr = (flavor_name, resource)
        mode, borrow, message = self._fits_quota(cq, w, fr, request, 0, request)
        representative: GranularMode = (FIT, 0)
        if self.prefer(cq, representative, (mode, borrow)):
            representative = (mode, borrow)
        if representative[0] == NO_FIT:  # nothing else to try
            assignment.mode = NO_FIT
            assignment.reason = "WaitingForQuota" if message and "quota" in message else "NoMatchingFlavor"
            assignment.message = f"couldn't assign flavors to pod set {pod_set}: {message or ''}"
            return assignment
        assignment.flavors[pod_set] = {resource: flavor_name}
        assignment.usage[fr] = request
        if mode != FIT:
            assignment.need_preemption.add(fr)
        if self.prefer(cq, (FIT, 0), representative):
            assignment.mode, assignment.borrow = representative
        else:
            assignment.mode, assignment.borrow = FIT, representative[1]
        if assignment.mode != FIT:
            last = self._last_targets
            if last is not None and last[0] == assignment.usage and last[1] == assignment.need_preemption:
                assignment.targets = list(last[2])  # the same question, asked of the same state, by _fits_quota
            else:
                assignment.targets = self.preemptor.targets(cq, w, assignment.usage, assignment.need_preemption)
            assignment.reason = "WaitingForQuota" if not assignment.targets else "Preempting"
            assignment.message = f"couldn't assign flavors to pod set {pod_set}: {message or ''}"
        return assignment

    def _plan(self, cq: ClusterQueue, w: WorkloadInfo) -> Plan:
        """What the flavor assignment of ``w``'s shape in ``cq`` does not owe to the quota state: per pod set,
        per resource group, the group's requests and the flavors to try, each with why it is skipped (or
        None); a resource no group covers ends the steps with ``(None, [(resource, None)])``."""
        plan: Plan = []
        for pod_set in w.workload.pod_sets:
            total = {r: v * pod_set.count for r, v in sorted(pod_set.requests.items()) if v > 0}
            steps: list[PlanStep] = []
            done: set[str] = set()
            for resource in total:
                if resource in done:
                    continue
                group_index = cq.group_for(resource)
                if group_index is None:
                    steps.append((None, [(resource, None)]))
                    break
                covered, flavor_names = cq.groups[group_index]
                group_request = {r: v for r, v in total.items() if r in covered}
                done.update(group_request)
                flavor_list: list[tuple[str, str | None]] = []
                for flavor_name in flavor_names:
                    flavor = self.flavors.get(flavor_name)
                    flavor_list.append((flavor_name, f"flavor {flavor_name} not found" if flavor is None
                                        else flavor_mismatch(pod_set, flavor) or None))
                steps.append((group_request, flavor_list))
            plan.append((pod_set.name, steps))
            if steps and steps[-1][0] is None:
                break
        return plan

    def _fits_quota(self, cq: ClusterQueue, w: WorkloadInfo, fr: FlavorResource, value: int, before: int,
                    request: int) -> tuple[int, int, str | None]:
        """Kueue's ``fitsResourceQuota``: (mode, borrowing level, reason) for ``value`` of ``fr`` (this pod
        set's ``request`` plus the ``before`` earlier pod sets took).

        ``ClusterQueue.potential_available``/``available``/``borrowing_with`` are inlined: this is the hot
        path.
        """
        flavor, resource = fr
        quota = cq.quotas.get(fr)
        cohort_used, cohort_quota = cq.cohort_used, cq.cohort_quota
        in_cohort = cohort_used is not None
        if quota is None:
            potential = 0
        elif cohort_used is None or cohort_quota is None:
            potential = quota.nominal
        else:
            potential = quota.guaranteed + cohort_quota.get(fr, 0)
            if quota.borrowing_limit is not None:
                potential = min(quota.nominal + quota.borrowing_limit, potential)
        if value > potential:
            return NO_FIT, 0, (f"insufficient quota for {resource} in flavor {flavor}, previously considered "
                               f"podsets requests ({quantity_text(resource, before)}) + current podset request "
                               f"({quantity_text(resource, request)}) > maximum capacity "
                               f"({quantity_text(resource, potential)})")
        used = cq.usage.get(fr, 0)
        if quota is None:  # value <= 0: fits in nothing
            return FIT, 1 if used + value > 0 and in_cohort else 0, None
        borrowing = used + value > quota.nominal
        borrow = 1 if borrowing and in_cohort else 0
        if cohort_used is None or cohort_quota is None:
            available = quota.nominal - used
        else:
            from_cohort = cohort_quota.get(fr, 0) - cohort_used.get(fr, 0)
            if quota.borrowing_limit is not None:
                from_cohort = min(quota.nominal - quota.guaranteed - max(0, used - quota.guaranteed)
                                  + quota.borrowing_limit, from_cohort)
            available = max(0, quota.guaranteed - used) + from_cohort
        if value <= available:
            return FIT, borrow, None
        message = (f"insufficient unused quota for {resource} in flavor {flavor}, "
                   f"{quantity_text(resource, value - available)} more needed")
        may_reclaim = in_cohort and not borrowing
        can_preempt_while_borrowing = cq.borrow_within_cohort_policy != "Never"
        if quota.nominal >= value or may_reclaim or can_preempt_while_borrowing:
            targets = self.preemptor.targets(cq, w, {fr: value}, {fr})
            self._last_targets = ({fr: value}, {fr}, targets)
            if not targets:
                return NO_CANDIDATES, borrow, message
            # would it still borrow with the targets gone? (Kueue's SimulatePreemption)
            quota_state = self.quota
            with quota_state.what_if():
                for victim, _ in targets:
                    quota_state.add_usage(quota_state.cluster_queues[victim.cluster_queue or ""],
                                          victim.total_usage, -1)
                borrow_after = 1 if in_cohort and cq.borrowing_with(fr, value) else 0
            same_queue = any(victim.cluster_queue == cq.name for victim, _ in targets)
            return PREEMPT if same_queue else RECLAIM, borrow_after, message
        return NO_FIT, borrow, message
