"""kube-scheduler's DefaultPreemption PostFilter: evict lower-priority pods so a pod can run.

When a pod fails Filter on every node, DefaultPreemption looks for nodes where removing pods of lower
priority would let it fit (``SelectVictimsOnNode``): it removes every lower-priority pod, checks the fit,
then *reprieves* as many of them as it can, most important first (higher priority, then earlier start),
keeping the fit. Among candidate nodes it picks one by ``pickOneNodeForPreemption``: the lowest
highest-victim priority, then the lowest sum of victim priorities, then the fewest victims, then the
latest start among the highest-priority victims, then the first node. Like upstream it dry-runs at
least ``minCandidateNodesAbsolute`` (100) or ``minCandidateNodesPercentage`` (10 %) candidates,
starting at a rotating offset.

A vector pre-filter keeps this cheap on large clusters: per priority level the engine keeps the
requests of the preemptible pods bound to each node (``PriorityLedger``), so "which nodes would fit if
every pod up to priority P left" is a few array additions over all nodes, level by level; the first
level where any node fits bounds the best choice, and only those nodes are dry-run.

Simplifications (documented in docs/decisions.md): victims are deleted at once (no graceful
termination) and the preemptor binds in the same instant to the chosen node, which is what the
nominated-node mechanism converges to; pods of gangs and of Kueue workloads are never chosen as
victims (they behave as if a PodDisruptionBudget protected them), and gang members do not preempt.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import numpy.typing as npt

from sim.cluster import ClusterState
from sim.pods import PodShape, SimPod

MIN_CANDIDATES_ABSOLUTE = 100
MIN_CANDIDATES_PERCENTAGE = 10


class PriorityLedger:
    """Requests of preemptible bound pods, per priority level, per node (milli-units)."""

    def __init__(self, cluster: ClusterState) -> None:
        self.cluster = cluster
        self.levels: dict[int, npt.NDArray[np.int64]] = {}
        self.counts: dict[int, int] = {}

    def level(self, prio: int) -> npt.NDArray[np.int64]:
        arr = self.levels.get(prio)
        cap = self.cluster.free.shape
        if arr is None or arr.shape != cap:
            new = np.zeros(cap, dtype=np.int64)
            if arr is not None:
                new[:, : arr.shape[1]] = arr
            self.levels[prio] = arr = new
        return arr

    def add(self, pod: SimPod, node: int, sign: int = 1) -> None:
        arr = self.level(pod.priority)
        for r, q in pod.shape.req:
            arr[r, node] += sign * q
        self.counts[pod.priority] = self.counts.get(pod.priority, 0) + sign

    def below(self, prio: int) -> list[int]:
        return sorted(p for p, c in self.counts.items() if c > 0 and p < prio)


class Preemption:
    """Finds victims for a pod; the engine carries out the evictions."""

    def __init__(self, cluster: ClusterState, ledger: PriorityLedger,
                 pods_on: Callable[[int], Iterable[SimPod]]) -> None:
        self.cluster = cluster
        self.ledger = ledger
        self.pods_on = pods_on
        self.offset = 0
        #: (shape key, priority) -> ClusterState.mutations when preemption last could not help
        self._hopeless: dict[tuple[object, int], int] = {}

    def find(self, pod: SimPod) -> tuple[int, list[SimPod]] | None:
        """(node, victims) for ``pod``, or None when preemption would not help."""
        prios = self.ledger.below(pod.priority)
        if not prios:
            return None
        cluster = self.cluster
        memo = (pod.shape.key, pod.priority)
        if self._hopeless.get(memo) == cluster.mutations:
            return None  # nothing changed since the same pod shape and priority found no candidate
        found = self._find(pod, prios)
        if found is None:
            self._hopeless[memo] = cluster.mutations
        return found

    def _find(self, pod: SimPod, prios: list[int]) -> tuple[int, list[SimPod]] | None:
        """pickOneNodeForPreemption, level by level.

        Adding the lower priority levels one at a time (lowest first), the first level ``p`` at which
        some nodes would fit is the lowest *highest-victim priority* any node can offer: on those nodes
        reprieving keeps every pod above ``p``, so their top victim is exactly ``p``, and every other
        node's is higher. Only those nodes can win the first criterion, so only they are dry-run (up to
        the usual number of candidates, from a rotating offset) for the remaining criteria.
        """
        cluster = self.cluster
        n = cluster.n
        shape: PodShape = pod.shape
        mask = shape.node_mask(cluster)
        free = cluster.free[:, :n]
        cum: npt.NDArray[np.int64] | None = None
        nodes: npt.NDArray[np.intp] | None = None
        for p in prios:
            level = self.ledger.level(p)[:, :n]
            cum = level.copy() if cum is None else cum + level
            ok = mask.copy()
            for r, q in shape.req:
                ok &= free[r] + cum[r] >= q
            if ok.any():
                nodes = np.flatnonzero(ok)
                break
        if nodes is None:
            return None
        want = max(MIN_CANDIDATES_ABSOLUTE, n * MIN_CANDIDATES_PERCENTAGE // 100)
        start = int(np.searchsorted(nodes, self.offset % n))
        order = np.concatenate((nodes[start:], nodes[:start]))[:want]
        self.offset = int(order[-1]) + 1
        best: tuple[tuple[int, int, int, float, int], int, list[SimPod]] | None = None
        top_level = p  # the level at which these nodes first fit
        for node in order.tolist():
            victims = self._victims(pod, node, top_level)
            if victims is None:
                continue
            top = max(v.priority for v in victims)
            latest_start_of_top = min(v.bound_at for v in victims if v.priority == top)
            key = (top, sum(v.priority for v in victims), len(victims), -latest_start_of_top, node)
            if best is None or key < best[0]:
                best = (key, node, victims)
        if best is None:
            return None
        return best[1], best[2]

    def _victims(self, pod: SimPod, node: int, top_level: int) -> list[SimPod] | None:
        """SelectVictimsOnNode: remove every lower-priority pod, then reprieve the most important ones.

        On a node that fits once every pod up to ``top_level`` is gone, reprieving (most important
        first) keeps every pod above that level, so only the pods up to it are considered: the same
        victims, fewer steps.
        """
        free = list(self.cluster.pyfree[node])
        lower = []
        for p in self.pods_on(node):
            if p.priority <= top_level and p.gang is None and not p.instance.kueue:
                lower.append((-p.priority, p.bound_at, p.seq, p))
                for r, q in p.shape.req:
                    free[r] += q
        req = pod.shape.req
        for r, q in req:
            if free[r] < q:
                return None
        victims: list[SimPod] = []
        # most important first: higher priority, then earlier start (kube-scheduler's MoreImportantPod)
        lower.sort()
        for _, _, _, p in lower:
            vec = p.shape.reqvec
            for r, q in req:
                if free[r] - vec[r] < q:
                    victims.append(p)
                    break
            else:
                for r, q in p.shape.req:  # reprieved: it stays
                    free[r] -= q
        return victims or None


def preemptible(pod: SimPod) -> bool:
    """Plain pods only: gang members and Kueue workloads' pods are never victims."""
    return pod.gang is None and not pod.instance.kueue
