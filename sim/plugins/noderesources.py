"""kube-scheduler's ``NodeResourcesFit`` plugin (``plugins/noderesources``): fit and its scoring strategy.

Filter: for every resource the pod requests, the node's free allocatable (allocatable minus the
requests of pods bound or assumed there) must cover it; otherwise one reason per short resource,
``Insufficient <resource>`` (``Too many pods`` for the pod count). Score: the ``LeastAllocated`` or
``MostAllocated`` strategy over the configured resources and weights, with kube-scheduler's integer
arithmetic (``(free − request)·100 / allocatable`` or ``(allocatable − free + request)·100 /
allocatable`` per resource, weighted mean; resources a node has none of are skipped); scores are
already 0–100, so NormalizeScore is the identity.

Verdicts depend only on free capacity, so this plugin owns the simulator's fast paths: the
free-capacity bucket index (:mod:`sim.buckets`) and the vector scan over contiguous node segments,
with kube-scheduler's sampling (``percentageOfNodesToScore``, ``numFeasibleNodesToFind``,
``nextStartNodeIndex``) when a percentage is set.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from sim.cluster import ClusterState
from sim.framework import CycleState, Nodes, Scores, register
from sim.pods import PodShape, SimPod

#: beyond this many buckets per pod, a vector scan over nodes is cheaper than walking buckets
BUCKET_SCAN_LIMIT = 48
#: :attr:`sim.pods.PodShape.short_bits` of a node the shape may not use
OUTSIDE = 255
#: requested resources whose per-node shortage is kept as bits of one ``short_bits`` byte (not eight: a node
#: short of all eight would read as OUTSIDE and never be counted again)
TRACKED = 7


def num_feasible_nodes_to_find(n: int, percentage: int) -> int:
    """kube-scheduler's ``numFeasibleNodesToFind``."""
    if n < 100 or percentage >= 100:
        return n
    pct = percentage or max(5, 50 - n // 125)
    return max(n * pct // 100, 100)


class NodeResourcesFit:
    name = "NodeResourcesFit"
    depends = frozenset({"free"})
    weight = 1

    def __init__(self, context: Any) -> None:
        cluster: ClusterState = context.cluster
        self.cluster = cluster
        self.most_allocated = context.scoring == "MostAllocated"
        self.score_resources = [(cluster.ridx[name], w) for name, w in context.score_resources
                                if name in cluster.ridx]
        if [r for r, _ in self.score_resources] != list(range(len(self.score_resources))):
            raise ValueError("ClusterState must list the scored resources first, in weight order")
        self.nscore = len(self.score_resources)
        weights = [w for _, w in self.score_resources]
        self.wcol = None if all(w == 1 for w in weights) else np.array(weights, dtype=np.int64)[:, None]
        self.pct: int | None = context.percentage_of_nodes_to_score
        self.pods_rid = cluster.ridx.get("pods")
        self._wtotal = max(1, sum(w for _, w in self.score_resources))
        self._zero_version = -1
        self._zero = False
        if self.pct is None:
            cluster.enable_buckets(self.score_resources)

    # ------------------------------------------------------------------ framework extension points

    def filter(self, pod: SimPod, node: int, state: CycleState) -> str | None:
        free = self.cluster.pyfree[node]
        for r, q in pod.shape.req:
            if free[r] < q:
                return self.reason(r)
        return None

    def score(self, pod: SimPod, nodes: Nodes, state: CycleState) -> Scores:
        return self._score_cols(pod.shape, nodes)

    def normalize(self, scores: Scores) -> Scores:
        return scores

    # ------------------------------------------------------------------ vector helpers

    def reason(self, r: int) -> str:
        return "Too many pods" if r == self.pods_rid else f"Insufficient {self.cluster.resources[r]}"

    def fits(self, shape: PodShape, nodes: Nodes) -> npt.NDArray[np.bool_]:
        """Which of ``nodes`` have room for the shape's requests."""
        free = self.cluster.free
        ok = np.ones(len(nodes), dtype=bool)
        for r, q in shape.req:
            ok &= free[r, nodes] >= q
        return ok

    def best_node(self, shape: PodShape, segs: list[tuple[int, int]]) -> int:
        """Filter then score over the shape's eligible segments: the best feasible node, or -1.

        By default every feasible node is scored (kube-scheduler with ``percentageOfNodesToScore:
        100``; ties go to the lowest node index): through the bucket index when the shape's pools hold
        few distinct free vectors, else by a vector scan over the shape's eligible nodes — both give
        the same answer. With an explicit ``percentageOfNodesToScore`` it samples like kube-scheduler:
        filtering starts at ``next_start`` and stops once ``numFeasibleNodesToFind`` feasible nodes are
        found; only those are scored, and the next search starts after the last node examined.
        """
        cluster = self.cluster
        n = cluster.n
        buckets = cluster.buckets
        if buckets is not None and not shape.per_node:
            if shape.pool_index_version != cluster.version:
                shape.pool_index = [buckets.pools[name] for name in shape.pools]
                shape.pool_index_version = cluster.version
            found = buckets.best(shape.pool_index, shape.req, shape.reqvec, self.most_allocated,
                                 BUCKET_SCAN_LIMIT)
            if found is not None:
                return found
        need = n if self.pct is None else num_feasible_nodes_to_find(n, self.pct)
        sampling = need < shape.eligible
        free = cluster.free
        reqcol = shape.reqcol
        best_node, best_score = -1, -1
        last = -1
        for lo, hi in (self._rotated(segs, shape.next_start) if sampling else segs):
            while lo < hi and need > 0:
                end = min(hi, lo + max(need + need // 4, 64)) if sampling else hi
                c = free[:, lo:end] >= reqcol
                fit = c[0]
                for row in c[1:]:
                    fit = fit & row
                nz = np.flatnonzero(fit)
                if nz.size >= need:
                    cut = int(nz[need - 1]) + 1
                    fit = fit[:cut]
                    found = need
                else:
                    cut = end - lo
                    found = int(nz.size)
                if found == 1:
                    node = lo + int(nz[0])
                    score = int(self._score(shape, node, node + 1)[0])
                elif found:
                    scores = np.where(fit, self._score(shape, lo, lo + cut), -1)
                    i = int(np.argmax(scores))
                    node, score = lo + i, int(scores[i])
                if found and score > best_score:
                    best_node, best_score = node, score
                need -= found
                last = lo + cut - 1
                lo += cut
            if need <= 0:
                break
        if sampling and last >= 0:
            old = shape.next_start
            shape.next_start = (last + 1) % n
            if cluster.log.forked:  # a search cursor: part of the what-if snapshot
                cluster.log.record(lambda: setattr(shape, "next_start", old))
        return best_node

    def sample(self, shape: PodShape, feasible: Nodes) -> Nodes:
        """kube-scheduler's sampling over an already filtered node list (the general path): from
        ``next_start`` on, the first ``numFeasibleNodesToFind`` feasible nodes."""
        n = self.cluster.n
        if self.pct is None or feasible.size == 0:
            return feasible
        need = num_feasible_nodes_to_find(n, self.pct)
        if need >= feasible.size:
            return feasible
        start = int(np.searchsorted(feasible, shape.next_start))
        order = np.concatenate((feasible[start:], feasible[:start]))[:need]
        old = shape.next_start
        shape.next_start = (int(order[-1]) + 1) % n
        if self.cluster.log.forked:
            self.cluster.log.record(lambda: setattr(shape, "next_start", old))
        return np.sort(order)

    @staticmethod
    def _rotated(segs: list[tuple[int, int]], start: int) -> list[tuple[int, int]]:
        """The shape's eligible segments in examination order, starting at ``start``."""
        if len(segs) == 1:
            lo, hi = segs[0]
            if start <= lo or start >= hi:
                return segs
            return [(start, hi), (lo, start)]
        head = [(max(lo, start), hi) for lo, hi in segs if hi > start]
        tail = [(lo, min(hi, start)) for lo, hi in segs if lo < start]
        return head + tail

    def _score(self, shape: PodShape, lo: int, hi: int) -> npt.NDArray[np.int64]:
        """The score of nodes ``lo:hi`` (a contiguous range: plain slices, the fast path)."""
        return self._combine(shape, self.cluster.free[:self.nscore, lo:hi],
                             self.cluster.safe_alloc[:self.nscore, lo:hi], self.cluster.valid[:self.nscore, lo:hi])

    def _score_cols(self, shape: PodShape, nodes: Nodes) -> npt.NDArray[np.int64]:
        k = self.nscore
        return self._combine(shape, self.cluster.free[:k, nodes], self.cluster.safe_alloc[:k, nodes],
                             self.cluster.valid[:k, nodes])

    def _combine(self, shape: PodShape, f: npt.NDArray[np.int64], a: npt.NDArray[np.int64],
                 valid: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """NodeResourcesFit score with kube-scheduler's integer arithmetic. The scored resources are
        the first ``nscore`` rows of the cluster arrays (ClusterState puts them first)."""
        k = self.nscore
        if k == 0:
            return np.zeros(f.shape[1], dtype=np.int64)
        q = shape.scorecol
        s = ((a - f + q) * 100) // a if self.most_allocated else ((f - q) * 100) // a
        zero = self._some_zero()
        if zero:
            s *= valid
        if self.wcol is not None:
            s *= self.wcol
        total: npt.NDArray[np.int64] = s[0] if k == 1 else s[0] + s[1] if k == 2 else s.sum(axis=0)
        if zero:
            ws: npt.NDArray[np.int64] = (valid * (self.wcol if self.wcol is not None else 1)).sum(axis=0)
            out: npt.NDArray[np.int64] = total // np.maximum(ws, 1)
            return out
        out = total // self._wtotal
        return out

    def _some_zero(self) -> bool:
        """Does any scored resource have zero allocatable on some node (cached per cluster version)?"""
        if self._zero_version != self.cluster.version:
            self._zero = any(self.cluster.alloc_zero[r] for r, _ in self.score_resources)
            self._zero_version = self.cluster.version
        return self._zero

    def reason_counts(self, shape: PodShape, counts: dict[str, int]) -> None:
        """Add this plugin's FitError reasons over the nodes that passed the pool/node filters: per
        requested resource, how many of them have less of it free than the pod asks.

        The counts are kept on the shape and brought up to date from the nodes whose free capacity changed
        since (:meth:`sim.cluster.ClusterState.touched_since`): a failing pod asks again and again while
        only a few nodes change in between."""
        req = shape.req
        if not req:
            return
        for (r, _), cnt in zip(req, self.short_counts(shape), strict=True):
            if cnt:
                name = self.reason(r)
                counts[name] = counts.get(name, 0) + cnt

    def short_counts(self, shape: PodShape) -> list[int]:
        """Per requested resource, how many of the shape's nodes have too little of it free: brought up to
        date from the nodes that changed since it was last asked (for up to :data:`TRACKED` requested
        resources, one bit each per node), else counted afresh."""
        cluster = self.cluster
        mark = shape.short_mark
        since = None if mark is None or len(shape.req) > TRACKED else cluster.touched_since(mark)
        if since is None:
            return self._count_short(shape)
        bits = shape.short_bits
        short = shape.short_counts
        pyfree = cluster.pyfree
        req = shape.req
        for node in since:
            old = bits[node]
            if old == OUTSIDE:
                continue
            row = pyfree[node]
            new = 0
            bit = 1
            for r, q in req:
                if row[r] < q:
                    new |= bit
                bit <<= 1
            if new != old:
                bits[node] = new
                i = 0
                diff = old ^ new
                while diff:
                    if diff & 1:
                        short[i] += 1 if new >> i & 1 else -1
                    diff >>= 1
                    i += 1
        shape.short_mark = cluster.touch_mark()
        return short

    def _count_short(self, shape: PodShape) -> list[int]:
        """Count afresh (and, for up to :data:`TRACKED` requested resources, remember which nodes are short
        of what)."""
        cluster = self.cluster
        shape.node_mask(cluster)
        eligible = shape.idx
        rows, need = shape.reason_rows
        k = len(shape.req)
        short = cluster.free[rows][:, eligible] < need if eligible.size else np.zeros((k, 0), dtype=bool)
        counts: list[int] = short.sum(axis=1).tolist()
        if k <= TRACKED:
            bits = np.full(cluster.free.shape[1], OUTSIDE, dtype=np.uint8)
            bits[eligible] = (short * (1 << np.arange(k))[:, None]).sum(axis=0)
            shape.short_bits = bytearray(bits.tobytes())
            shape.short_counts = counts
            shape.short_mark = cluster.touch_mark()
        return counts


register("NodeResourcesFit")(NodeResourcesFit)
