"""Kueue's classical preemption: which admitted workloads to evict so a pending one fits.

Mirrors ``pkg/scheduler/preemption/preemption.go`` and ``preemption/classical/``. Candidates are
admitted workloads that use a flavor-resource needing preemption, in the preemptor's ClusterQueue
(``withinClusterQueue``) and in cohort ClusterQueues that are above their nominal quota
(``reclaimWithinCohort``, with ``borrowWithinCohort`` deciding whether the preemptor may borrow while
reclaiming). They are ordered: other ClusterQueues first, lower priority, most recently admitted, key.
Victims are taken greedily until the workload fits, then those not needed are given back in reverse order
(``fillBackWorkloads``). Every "remove the victim's usage, test, put it back" is a what-if fork of the
quota state (:meth:`sim.kueue.quota.QuotaState.what_if`, or :meth:`sim.snapshot.UndoLog.what_if` where
fill-back commits a give-back), reverted on exit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from sim.kueue.quota import ClusterQueue, QuotaState
from sim.kueue.types import FlavorResource
from sim.kueue.workload import WorkloadInfo

#: a victim and why it is preempted (``InClusterQueue``, ``InCohortReclamation``,
#: ``InCohortReclaimWhileBorrowing``)
Target = tuple[WorkloadInfo, str]

REASON_TEXT = {
    "InClusterQueue": "prioritization in the ClusterQueue",
    "InCohortReclamation": "reclamation within the cohort",
    "InCohortReclaimWhileBorrowing": "reclamation within the cohort while borrowing",
}


def candidates(policy: str, preemptor: WorkloadInfo, workloads: Iterable[WorkloadInfo],
               need: set[FlavorResource]) -> list[WorkloadInfo]:
    """The admitted ``workloads`` using a resource in ``need`` that ``policy`` lets ``preemptor`` preempt."""
    priority = preemptor.workload.priority
    if policy == "LowerPriority":
        return [c for c in workloads if c.workload.priority < priority and not need.isdisjoint(c.total_usage)]
    if policy == "LowerOrNewerEqualPriority":
        timestamp = preemptor.order_timestamp
        return [c for c in workloads
                if (c.workload.priority < priority
                    or (c.workload.priority == priority and timestamp < c.order_timestamp))
                and not need.isdisjoint(c.total_usage)]
    if policy == "Any":
        return [c for c in workloads if not need.isdisjoint(c.total_usage)]
    return []


def _victim_order(c: WorkloadInfo) -> tuple[int, float, str]:
    return (c.workload.priority, -c.admitted_at, c.workload.key)


class Preemptor:
    """Finds preemption targets against the quota state (which it forks and reverts, never changes)."""

    __slots__ = ("quota",)

    def __init__(self, quota: QuotaState) -> None:
        self.quota = quota

    def remove_usage_of(self, victims: Iterable[WorkloadInfo]) -> None:
        """Take the victims' usage out of their ClusterQueues (inside a what-if fork)."""
        quota = self.quota
        for victim in victims:
            quota.add_usage(quota.cluster_queues[victim.cluster_queue or ""], victim.total_usage, -1)

    def fits_without(self, cq: ClusterQueue, usage: Mapping[FlavorResource, int],
                     victims: Sequence[WorkloadInfo]) -> bool:
        """Does ``usage`` fit in ``cq`` once ``victims`` are gone?"""
        if not victims:  # the common case: no fork needed
            return all(value <= cq.available(fr) for fr, value in usage.items())
        with self.quota.what_if():
            self.remove_usage_of(victims)
            return all(value <= cq.available(fr) for fr, value in usage.items())

    @staticmethod
    def workload_fits(cq: ClusterQueue, usage: Mapping[FlavorResource, int], allow_borrowing: bool) -> bool:
        for fr, value in usage.items():
            if not allow_borrowing and cq.borrowing_with(fr, value):
                return False
            if value > cq.available(fr):
                return False
        return True

    def targets(self, cq: ClusterQueue, w: WorkloadInfo, usage: Mapping[FlavorResource, int],
                need: set[FlavorResource]) -> list[Target]:
        """The minimal greedy set of admitted workloads to evict so ``usage`` fits in ``cq``."""
        ordered = self._ordered_candidates(cq, w, usage, need)
        if not ordered:
            return []
        candidate_list, has_cohort_candidates, hierarchy = ordered
        forbidden = cq.borrow_within_cohort_policy == "Never"
        usage_now, quotas = cq.usage, cq.quotas
        under_nominal = all(usage_now.get(fr, 0) < (quotas[fr].nominal if fr in quotas else 0) for fr in need)
        if not has_cohort_candidates or (forbidden and not under_nominal):
            attempts = [True]
        elif forbidden and not hierarchy:
            attempts = [False, True]
        else:
            attempts = [True, False]
        for allow_borrowing in attempts:
            chosen = self._minimal_set(cq, usage, need, candidate_list, allow_borrowing)
            if chosen is not None:
                return chosen
        return []

    def _ordered_candidates(self, cq: ClusterQueue, w: WorkloadInfo, usage: Mapping[FlavorResource, int],
                            need: set[FlavorResource]) -> tuple[list[tuple[WorkloadInfo, str, bool]], bool,
                                                                bool] | None:
        """Candidates in Kueue's order, each with its reason and whether it is valid while borrowing; then
        whether any is in another ClusterQueue, and whether any is a hierarchy (advantage) reclaim."""
        same_queue: list[WorkloadInfo] = []
        priority = w.workload.priority
        within = cq.within_cluster_queue
        if within != "Never" and cq.workloads and (  # else no admitted workload it may preempt
                within not in ("LowerPriority", "LowerOrNewerEqualPriority")
                or any(p < priority or (p == priority and within != "LowerPriority") for p in cq.priority_counts)):
            same_queue = candidates(within, w, cq.workloads.values(), need)
        hierarchy_candidates: list[WorkloadInfo] = []
        priority_candidates: list[Target] = []
        members = self.quota.cohort_of(cq)
        forbidden = cq.borrow_within_cohort_policy == "Never"
        if members is not None and cq.reclaim_within_cohort != "Never":
            fits_within_nominal: bool | None = None
            for member in members:
                if member is cq or not member.workloads:
                    continue
                member_usage, member_quotas = member.usage, member.quotas
                for fr in need:  # skip members within nominal quota (ClusterQueue.within_nominal, inlined)
                    quota = member_quotas.get(fr)
                    if member_usage.get(fr, 0) > (quota.nominal if quota is not None else 0):
                        break
                else:
                    continue
                # the order key below ends with the (unique) key: no need to go through them sorted
                for c in candidates(cq.reclaim_within_cohort, w, member.workloads.values(), need):
                    if fits_within_nominal is None:
                        fits_within_nominal = all(
                            cq.usage.get(fr, 0) + value <= (cq.quotas[fr].nominal if fr in cq.quotas else 0)
                            for fr, value in usage.items())
                    if fits_within_nominal:
                        hierarchy_candidates.append(c)
                        continue
                    above = c.workload.priority >= priority or (
                        cq.borrow_within_cohort_threshold is not None
                        and c.workload.priority > cq.borrow_within_cohort_threshold)
                    priority_candidates.append((c, "InCohortReclamation" if forbidden or above
                                                else "InCohortReclaimWhileBorrowing"))
        if not same_queue and not hierarchy_candidates and not priority_candidates:
            return None
        ordered = [*((c, "InCohortReclamation", True) for c in sorted(hierarchy_candidates, key=_victim_order)),
                   *((c, why, False) for c, why in sorted(priority_candidates, key=lambda t: _victim_order(t[0]))),
                   *((c, "InClusterQueue", True) for c in sorted(same_queue, key=_victim_order))]
        return ordered, bool(hierarchy_candidates or priority_candidates), bool(hierarchy_candidates)

    def _minimal_set(self, cq: ClusterQueue, usage: Mapping[FlavorResource, int], need: set[FlavorResource],
                     ordered: list[tuple[WorkloadInfo, str, bool]], allow_borrowing: bool) -> list[Target] | None:
        """Take victims greedily until ``usage`` fits, then give back those not needed (fillBackWorkloads).
        Everything happens in a what-if fork: the quota state is unchanged on return."""
        quota = self.quota
        with quota.what_if():
            chosen: list[Target] = []
            for c, why, valid_while_borrowing in ordered:
                victim_cq = quota.cluster_queues[c.cluster_queue or ""]
                if victim_cq is not cq:
                    if allow_borrowing and not valid_while_borrowing and why == "InCohortReclamation":
                        continue  # Kueue's ReclaimWithoutBorrowing
                    if victim_cq.within_nominal(need):
                        continue
                quota.add_usage(victim_cq, c.total_usage, -1)
                chosen.append((c, why))
                if self.workload_fits(cq, usage, allow_borrowing):
                    self._fill_back(cq, usage, chosen, allow_borrowing)
                    return chosen
        return None

    def _fill_back(self, cq: ClusterQueue, usage: Mapping[FlavorResource, int], chosen: list[Target],
                   allow_borrowing: bool) -> None:
        """Give back, newest choice excluded, the victims ``usage`` fits without (Kueue's
        ``fillBackWorkloads``); ``chosen`` keeps only the needed ones."""
        quota = self.quota
        for i in range(len(chosen) - 2, -1, -1):
            back = chosen[i][0]
            with quota.log.what_if() as trial:
                quota.add_usage(quota.cluster_queues[back.cluster_queue or ""], back.total_usage)
                if self.workload_fits(cq, usage, allow_borrowing):
                    chosen.pop(i)
                    trial.commit()
