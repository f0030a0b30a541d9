"""A free-capacity bucket index: nodes of a pool grouped by their exact free resources.

The scheduler cache keeps one NodeInfo per node; kube-scheduler then filters and scores every node.
Nodes of one pool share allocatable, labels and taints, so two nodes with the same *free* vector get
the same Filter verdict and the same NodeResourcesFit score for any pod. This index keeps, per pool,
one bucket per distinct free vector (with the node indexes in it, lowest first), ordered by a score
*potential* — an upper bound of the ``LeastAllocated`` / ``MostAllocated`` score that does not depend
on the pod. Finding the best node is then a walk over a few buckets in potential order that stops as
soon as no remaining bucket can beat (or tie) the best score found: microseconds, whatever the number
of nodes, as long as the number of distinct free vectors stays small (the scheduler falls back to a
vector scan over nodes when it does not).

The answer is exactly what scoring every feasible node gives: the highest score, ties to the lowest
node index.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Iterable, Sequence


class Bucket:
    __slots__ = ("heap", "key", "live", "pot")

    def __init__(self, key: tuple[int, ...], pot: float) -> None:
        self.key = key
        self.pot = pot
        self.heap: list[tuple[int, int]] = []  # (node index, version); stale entries skipped lazily
        self.live = 0


class PoolIndex:
    """Buckets of one node pool."""

    __slots__ = ("alloc", "buckets", "nlive", "order", "qpart", "scored", "w100", "wsum")

    def __init__(self, alloc: Sequence[int], scored: Sequence[tuple[int, int]]) -> None:
        self.alloc = tuple(alloc)
        #: the scored resources this pool has (allocatable > 0): (resource index, weight)
        self.scored = [(r, w) for r, w in scored if alloc[r] > 0]
        self.wsum = max(1, sum(w for _, w in self.scored))
        self.w100 = sum(w * 100 for _, w in self.scored)
        #: per request vector: Σ w·q·100/alloc (the MostAllocated bound's pod part), cached
        self.qpart: dict[tuple[int, ...], float] = {}
        #: the buckets with at least one node (a bucket is dropped when its last node leaves)
        self.buckets: dict[tuple[int, ...], Bucket] = {}
        #: (potential, key) of those buckets, ascending
        self.order: list[tuple[float, tuple[int, ...]]] = []
        self.nlive = 0  # buckets with at least one node

    def potential(self, free: tuple[int, ...]) -> float:
        """Σ w·free·100/alloc: the LeastAllocated score before the pod's own request is subtracted."""
        a = self.alloc
        total = 0.0
        for r, w in self.scored:  # (a loop, not sum() over a generator: it runs for every new bucket)
            total += w * free[r] * 100 / a[r]
        return total

    def bucket(self, key: tuple[int, ...]) -> Bucket:
        b = self.buckets.get(key)
        if b is None:
            b = Bucket(key, self.potential(key))
            self.buckets[key] = b
            bisect.insort(self.order, (b.pot, key))
        return b

    def drop(self, b: Bucket) -> None:
        """The bucket's last node left: forget it (its heap holds only stale entries), so a walk over
        :attr:`order` meets live buckets only."""
        del self.buckets[b.key]
        order = self.order
        del order[bisect.bisect_left(order, (b.pot, b.key))]

    @staticmethod
    def first(b: Bucket, node_ver: list[int]) -> int:
        """The lowest live node index in a bucket (stale heap entries are dropped). An entry is live while
        its node's version is the one it was pushed with: every move out of a bucket bumps the version."""
        heap = b.heap
        while heap:
            idx, ver = heap[0]
            if node_ver[idx] == ver:
                return idx
            heapq.heappop(heap)
        return -1


class BucketIndex:
    """Per-pool bucket indexes over a cluster's nodes (kept in step by :class:`sim.cluster.ClusterState`)."""

    def __init__(self, nres: int, scored: Sequence[tuple[int, int]]) -> None:
        self.nres = nres
        self.scored = list(scored)
        self.pools: dict[str, PoolIndex] = {}
        self.node_pool: list[PoolIndex | None] = []
        self.node_key: list[tuple[int, ...] | None] = []
        self.node_ver: list[int] = []

    def add_pool(self, name: str, alloc: Sequence[int]) -> None:
        self.pools[name] = PoolIndex(alloc, self.scored)

    def add_node(self, idx: int, pool: str, free: tuple[int, ...]) -> None:
        while len(self.node_key) <= idx:
            self.node_key.append(None)
            self.node_ver.append(0)
            self.node_pool.append(None)
        p = self.pools[pool]
        self.node_pool[idx] = p
        self._put(p, idx, free)

    def remove_node(self, idx: int) -> None:
        p = self.node_pool[idx]
        if p is None:
            return
        self._take(p, idx)
        self.node_pool[idx] = None
        self.node_key[idx] = None

    def move(self, idx: int, free: tuple[int, ...]) -> None:
        """The node's free vector changed (a bind or a release): :meth:`_take` then :meth:`_put`, inlined
        (it runs twice per pod)."""
        p = self.node_pool[idx]
        if p is None:
            return
        node_key = self.node_key
        buckets = p.buckets
        key = node_key[idx]
        if key is not None:
            b = buckets[key]
            b.live -= 1
            if b.live == 0:
                p.nlive -= 1
                p.drop(b)
        ver = self.node_ver[idx] + 1
        self.node_ver[idx] = ver
        b = buckets.get(free) or p.bucket(free)
        if b.live == 0:
            p.nlive += 1
        b.live += 1
        node_key[idx] = free
        heap = b.heap
        heapq.heappush(heap, (idx, ver))
        if len(heap) > 2 * b.live + 64:
            self._compact(b)

    def _take(self, p: PoolIndex, idx: int) -> None:
        key = self.node_key[idx]
        if key is not None:
            b = p.buckets[key]
            b.live -= 1
            if b.live == 0:
                p.nlive -= 1
                p.drop(b)
        self.node_ver[idx] += 1

    def _put(self, p: PoolIndex, idx: int, free: tuple[int, ...]) -> None:
        b = p.bucket(free)
        if b.live == 0:
            p.nlive += 1
        b.live += 1
        ver = self.node_ver[idx]
        self.node_key[idx] = free
        heapq.heappush(b.heap, (idx, ver))
        if len(b.heap) > 2 * b.live + 64:
            self._compact(b)

    def _compact(self, b: Bucket) -> None:
        """Drop a bucket's stale heap entries once they pile up."""
        node_ver = self.node_ver
        b.heap = [e for e in b.heap if node_ver[e[0]] == e[1]]
        heapq.heapify(b.heap)

    def best(self, pools: Sequence[PoolIndex], req: Sequence[tuple[int, int]], reqvec: tuple[int, ...],
             most_allocated: bool, limit: int) -> int | None:
        """The best node for a pod over ``pools``, or -1 if none fits; ``None`` if more than ``limit``
        buckets would have to be looked at (the caller then scans nodes instead)."""
        best_score = -1
        best_node = -1
        seen = 0
        node_ver = self.node_ver
        for p in pools:
            order = p.order
            a = p.alloc
            scored = p.scored
            wsum = p.wsum
            qpart = p.qpart.get(reqvec, -1.0)
            if qpart < 0:
                qpart = p.qpart[reqvec] = sum(w * reqvec[r] * 100 / a[r] for r, w in scored)
            # a bucket that fits the pod has at least its requests free, so its potential is at least
            # ``qpart`` (the same sum over the requests; float products, quotients and sums are monotone):
            # the buckets below that are skipped without a look
            start = bisect.bisect_left(order, (qpart,)) if qpart > 0 else 0
            if most_allocated:
                # the fullest buckets first; bound = Σ w·(alloc − free + q)·100/alloc / wsum
                w100 = p.w100
                it: Iterable[tuple[float, tuple[int, ...]]] = order[start:] if start else order
            else:
                w100 = 0
                it = reversed(order[start:]) if start else reversed(order)
            for pot, key in it:
                bound = ((w100 - pot + qpart) if most_allocated else pot) / wsum
                if bound + 1e-9 < best_score:  # (float slack: a tie must still be looked at)
                    break
                seen += 1
                if seen > limit:
                    return None
                fits = True
                for r, q in req:
                    if key[r] < q:
                        fits = False
                        break
                if not fits:
                    continue
                total = 0
                if most_allocated:
                    for r, w in scored:
                        total += w * ((a[r] - key[r] + reqvec[r]) * 100 // a[r])
                else:
                    for r, w in scored:
                        total += w * ((key[r] - reqvec[r]) * 100 // a[r])
                score = total // wsum
                if score < best_score:
                    continue
                node = PoolIndex.first(p.buckets[key], node_ver)
                if score > best_score or node < best_node:
                    best_score, best_node = score, node
        return best_node
