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
requests of the preemptible pods bound to each node (:class:`sim.cluster.PriorityLedger`), so "which nodes would fit if
every pod up to priority P left" is a few array additions over all nodes, level by level; the first
level where any node fits bounds the best choice, and only those nodes are dry-run.

Simplifications (documented in docs/decisions.md): victims are deleted at once (no graceful
termination) and the preemptor binds in the same instant to the chosen node, which is what the
nominated-node mechanism converges to; pods of gangs and of Kueue workloads are never chosen as
victims (they behave as if a PodDisruptionBudget protected them), and gang members do not preempt.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from sim.cluster import ClusterState
from sim.pods import PodShape, SimPod

MIN_CANDIDATES_ABSOLUTE = 100
MIN_CANDIDATES_PERCENTAGE = 10


class Preemption:
    """Finds victims for a pod; the engine carries out the evictions."""

    def __init__(self, cluster: ClusterState) -> None:
        self.cluster = cluster
        self.ledger = cluster.ledger
        self.offset = 0
        #: (shape key, priority) -> ClusterState.mutations when preemption last could not help
        self._hopeless: dict[tuple[object, int], int] = {}
        #: (node, top level, requests) -> (node stamp, pickOneNode key or None, victims or None)
        self._dry_runs: dict[tuple[int, int, object], tuple[int, Any, list[SimPod] | None]] = {}

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

        Two things keep it cheap without changing a choice: the level sums are taken over the nodes the
        pod's shape may use (its pool/node Filter plugins' mask) and only for the resources it requests;
        and each node's dry run (its victims and their pickOneNode key) is remembered against the
        node's :attr:`sim.cluster.ClusterState.stamp`, which changes whenever the node's free capacity
        or pods do — under pressure most candidates are the same untouched nodes attempt after attempt.
        """
        cluster = self.cluster
        n = cluster.n
        shape: PodShape = pod.shape
        shape.node_mask(cluster)
        eligible = shape.idx
        if eligible.size == 0:
            return None
        # the eligible nodes as one slice when they are contiguous (a node pool): views, not copies
        where: slice | npt.NDArray[np.intp] = eligible
        if len(shape.segs) == 1:
            where = slice(*shape.segs[0])
        free = cluster.free
        have = [free[r, where] for r, _ in shape.req]
        nodes: npt.NDArray[np.intp] | None = None
        for p in prios:
            level = self.ledger.level(p)
            ok: npt.NDArray[np.bool_] | None = None
            for i, (r, q) in enumerate(shape.req):
                have[i] = have[i] + level[r, where]
                fit = have[i] >= q
                ok = fit if ok is None else ok & fit
            if ok is None:
                ok = np.ones(eligible.size, dtype=bool)
            if ok.any():
                nodes = eligible[ok]
                break
        if nodes is None:
            return None
        want = max(MIN_CANDIDATES_ABSOLUTE, n * MIN_CANDIDATES_PERCENTAGE // 100)
        start = int(np.searchsorted(nodes, self.offset % n))
        order = np.concatenate((nodes[start:], nodes[:start]))[:want]
        old = self.offset
        self.offset = int(order[-1]) + 1
        if cluster.log.forked:  # a search cursor: part of the what-if snapshot
            cluster.log.record(lambda: setattr(self, "offset", old))
        top_level = p  # the level at which these nodes first fit
        stamp = cluster.stamp
        cache = self._dry_runs
        req = shape.req
        best_key: tuple[int, int, int, float, int] | None = None
        best_node = -1
        best_victims: list[SimPod] = []
        for node in order.tolist():
            memo_key = (node, top_level, req)
            hit = cache.get(memo_key)
            if hit is None or hit[0] != stamp[node]:
                victims = self._victims(pod, node, top_level)
                key: tuple[int, int, int, float] | None = None
                if victims is not None:
                    top = max(v.priority for v in victims)
                    latest_start_of_top = min(v.bound_at for v in victims if v.priority == top)
                    key = (top, sum(v.priority for v in victims), len(victims), -latest_start_of_top)
                hit = (stamp[node], key, victims)
                cache[memo_key] = hit
            _, key, victims = hit
            if key is None or victims is None:
                continue
            full = (*key, node)
            if best_key is None or full < best_key:
                best_key, best_node, best_victims = full, node, victims
        if best_key is None:
            return None
        return best_node, list(best_victims)

    def _victims(self, pod: SimPod, node: int, top_level: int) -> list[SimPod] | None:
        """SelectVictimsOnNode: remove every lower-priority pod, then reprieve the most important ones.

        On a node that fits once every pod up to ``top_level`` is gone, reprieving (most important
        first) keeps every pod above that level, so only the pods up to it are considered: the same
        victims, fewer steps.
        """
        free = list(self.cluster.pyfree[node])
        lower = []
        for p in self.cluster.pods_on[node].values():
            if p.priority <= top_level and preemptible(p):
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
