"""ClusterQueue quota and usage, and the cohort's lendable pool: Kueue's quota arithmetic.

Mirrors ``pkg/cache/scheduler/resource_node.go`` and ``clusterqueue_snapshot.go`` for ClusterQueues that
stand alone or sit in one flat cohort: a ClusterQueue's nominal quota per flavor-resource, the part of
it it never lends (``nominal − lendingLimit``, Kueue's ``localQuota``), what it can still use
(``Available``), what it could use with the whole cohort idle (``PotentialAvailable``) and whether a
request makes it borrow. Per cohort the sums Kueue's resource nodes aggregate are kept up to date:
Σ lendable nominal quota and Σ usage above guaranteed quota.

Usage changes go through :meth:`QuotaState.add_usage`, which records an undo action (the cells' old
values) in the core's :class:`~sim.snapshot.UndoLog` while a what-if fork is open and costs one truth
test otherwise, so the preemption search can try evictions with ``with quota.what_if(): ...`` (always
reverted) or ``with quota.log.what_if() as fork: ... fork.commit()`` and have them undone exactly.
All quantities are integer milli-units.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from models.kueue import ClusterQueue as ClusterQueueSpec
from sim.kueue.types import FlavorResource
from sim.snapshot import UndoLog

if TYPE_CHECKING:
    from sim.kueue.workload import WorkloadInfo


class Quota:
    """One flavor-resource cell of a ClusterQueue: nominal quota, borrowingLimit, lendingLimit."""

    __slots__ = ("borrowing_limit", "guaranteed", "lending_limit", "nominal")

    def __init__(self, nominal: int, borrowing_limit: int | None, lending_limit: int | None) -> None:
        self.nominal = nominal
        self.borrowing_limit = borrowing_limit
        self.lending_limit = lending_limit
        #: the part of nominal quota never lent to the cohort (Kueue's resourceNode.localQuota)
        self.guaranteed = max(0, nominal - lending_limit) if lending_limit is not None else 0


class ClusterQueue:
    """A ClusterQueue's spec as the scheduler reads it, its usage and its admitted workloads."""

    __slots__ = ("borrow_within_cohort_policy", "borrow_within_cohort_threshold", "cohort", "cohort_quota",
                 "cohort_used", "flavor_preference", "group_of", "groups", "name", "priority_counts", "quotas",
                 "reclaim_within_cohort", "strict_fifo", "usage", "when_can_borrow", "when_can_preempt",
                 "within_cluster_queue", "workloads")

    def __init__(self, spec_object: ClusterQueueSpec) -> None:
        spec = spec_object.spec
        self.name = spec_object.name
        self.cohort = spec.cohort_ref
        self.strict_fifo = spec.queueing_strategy == "StrictFIFO"
        self.within_cluster_queue = spec.preemption.within_cluster_queue
        self.reclaim_within_cohort = spec.preemption.reclaim_within_cohort
        self.borrow_within_cohort_policy = spec.preemption.borrow_within_cohort.policy
        self.borrow_within_cohort_threshold = spec.preemption.borrow_within_cohort.max_priority_threshold
        self.when_can_borrow = spec.flavor_fungibility.when_can_borrow
        self.when_can_preempt = spec.flavor_fungibility.when_can_preempt
        self.flavor_preference = spec.flavor_fungibility.preference
        #: resource groups: (covered resources, flavor names in order)
        self.groups: list[tuple[frozenset[str], list[str]]] = []
        self.quotas: dict[FlavorResource, Quota] = {}
        for group in spec.resource_groups:
            self.groups.append((frozenset(group.covered_resources), [f.name for f in group.flavors]))
            for flavor_quotas in group.flavors:
                for resource in flavor_quotas.resources:
                    self.quotas[(flavor_quotas.name, resource.name)] = Quota(
                        resource.nominal_milli, resource.borrowing_limit_milli, resource.lending_limit_milli)
        self.usage: dict[FlavorResource, int] = {}
        #: its cohort's Σ lendable quota / Σ usage above guaranteed (shared by the members), None alone
        self.cohort_quota: dict[FlavorResource, int] | None = None
        self.cohort_used: dict[FlavorResource, int] | None = None
        self.workloads: dict[str, WorkloadInfo] = {}  # admitted
        self.priority_counts: dict[int, int] = {}  # admitted workloads per priority
        self.group_of: dict[str, int] = {}
        for index, (covered, _) in enumerate(self.groups):
            for resource_name in covered:
                self.group_of.setdefault(resource_name, index)

    def group_for(self, resource: str) -> int | None:
        return self.group_of.get(resource)

    def within_nominal(self, frs: Iterable[FlavorResource]) -> bool:
        usage, quotas = self.usage, self.quotas
        for fr in frs:
            quota = quotas.get(fr)
            if usage.get(fr, 0) > (quota.nominal if quota is not None else 0):
                return False
        return True

    def borrowing_with(self, fr: FlavorResource, value: int) -> bool:
        """Would ``value`` more of ``fr`` take this ClusterQueue above its nominal quota?"""
        quota = self.quotas.get(fr)
        return self.usage.get(fr, 0) + value > (quota.nominal if quota else 0)

    def available(self, fr: FlavorResource) -> int:
        """Kueue's ``Available``: unused guaranteed quota plus what the cohort can still lend it."""
        quota = self.quotas.get(fr)
        if quota is None:
            return 0
        used = self.usage.get(fr, 0)
        if self.cohort_used is None or self.cohort_quota is None:
            return quota.nominal - used
        from_cohort = self.cohort_quota.get(fr, 0) - self.cohort_used.get(fr, 0)
        if quota.borrowing_limit is not None:
            lendable = quota.nominal - quota.guaranteed
            used_from_cohort = max(0, used - quota.guaranteed)
            from_cohort = min(lendable - used_from_cohort + quota.borrowing_limit, from_cohort)
        return max(0, quota.guaranteed - used) + from_cohort

    def potential_available(self, fr: FlavorResource) -> int:
        """Kueue's ``PotentialAvailable``: what it could use with every other cohort member idle."""
        quota = self.quotas.get(fr)
        if quota is None:
            return 0
        if self.cohort_quota is None:
            return quota.nominal
        potential = quota.guaranteed + self.cohort_quota.get(fr, 0)
        if quota.borrowing_limit is not None:
            potential = min(quota.nominal + quota.borrowing_limit, potential)
        return potential

    def forget_priority(self, priority: int) -> None:
        remaining = self.priority_counts[priority] - 1
        if remaining:
            self.priority_counts[priority] = remaining
        else:
            del self.priority_counts[priority]


class RevertingFork:
    """``with quota.what_if():`` a fork of the undo log that is always reverted on exit.

    The same as ``with log.what_if():`` without a handle to commit through, and about eight times
    cheaper: the preemption search opens one for every candidate set it tries.
    """

    __slots__ = ("log",)

    def __init__(self, log: UndoLog) -> None:
        self.log = log

    def __enter__(self) -> None:
        self.log.fork()

    def __exit__(self, *exc_info: object) -> None:
        self.log.revert()


class QuotaState:
    """Every ClusterQueue and cohort, and the undo log that makes their usage forkable."""

    __slots__ = ("_what_if", "cluster_queues", "cohort_quota", "cohort_used", "cohorts", "log")

    def __init__(self, cluster_queues: Iterable[ClusterQueueSpec], log: UndoLog | None = None) -> None:
        self.log = log if log is not None else UndoLog()
        self._what_if = RevertingFork(self.log)
        self.cluster_queues: dict[str, ClusterQueue] = {}
        for spec in sorted(cluster_queues, key=lambda c: c.name):
            self.cluster_queues[spec.name] = ClusterQueue(spec)
        self.cohorts: dict[str, list[ClusterQueue]] = {}
        for cq in self.cluster_queues.values():
            if cq.cohort:
                self.cohorts.setdefault(cq.cohort, []).append(cq)
        #: per cohort and flavor-resource: Σ lendable nominal quota, Σ usage above guaranteed quota
        self.cohort_quota: dict[str, dict[FlavorResource, int]] = {}
        self.cohort_used: dict[str, dict[FlavorResource, int]] = {}
        for name, members in self.cohorts.items():
            lendable = self.cohort_quota[name] = {}
            used = self.cohort_used[name] = {}
            for member in members:
                for fr, quota in member.quotas.items():
                    lendable[fr] = lendable.get(fr, 0) + quota.nominal - quota.guaranteed
            for member in members:
                member.cohort_quota, member.cohort_used = lendable, used

    def what_if(self) -> RevertingFork:
        """A fork of the usage (and of everything else on the same log) reverted when the block ends."""
        return self._what_if

    def cohort_of(self, cq: ClusterQueue) -> list[ClusterQueue] | None:
        return self.cohorts.get(cq.cohort) if cq.cohort else None

    def add_usage(self, cq: ClusterQueue, usage: Mapping[FlavorResource, int], sign: int = 1) -> None:
        """Add (``sign`` 1) or remove (−1) ``usage`` in ``cq`` and its cohort's Σ usage above guaranteed."""
        if self.log.forked:
            self._record_undo(cq, usage)
        own = cq.usage
        if not cq.cohort:
            for fr, value in usage.items():
                own[fr] = own.get(fr, 0) + sign * value
            return
        cohort_used = self.cohort_used[cq.cohort]
        quotas = cq.quotas
        for fr, value in usage.items():
            old = own.get(fr, 0)
            new = own[fr] = old + sign * value
            quota = quotas.get(fr)
            guaranteed = quota.guaranteed if quota else 0
            delta = max(0, new - guaranteed) - max(0, old - guaranteed)
            if delta:
                cohort_used[fr] = cohort_used.get(fr, 0) + delta

    def _record_undo(self, cq: ClusterQueue, usage: Mapping[FlavorResource, int]) -> None:
        """Remember the cells ``add_usage`` is about to change, to put them back exactly on revert."""
        own = cq.usage
        own_before = [(fr, own.get(fr)) for fr in usage]
        cohort = self.cohort_used.get(cq.cohort) if cq.cohort else None
        cohort_before = [(fr, cohort.get(fr)) for fr in usage] if cohort is not None else []

        def undo() -> None:
            _restore(own, own_before)
            if cohort is not None:
                _restore(cohort, cohort_before)

        self.log.record(undo)


def _restore(cells: dict[FlavorResource, int], before: list[tuple[FlavorResource, int | None]]) -> None:
    for fr, value in reversed(before):
        if value is None:
            cells.pop(fr, None)
        else:
            cells[fr] = value
