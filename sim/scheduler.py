"""The scheduler: kube-scheduler's framework, kept small.

One scheduling cycle per pod, in the framework's phases:

1. **queue sort** — ``PrioritySort``: higher ``priority`` first, then earlier creation (gang members
   share their group's creation time, so they sit next to each other, as coscheduling's QueueSort
   does);
2. **pre-enqueue** — the gang gate: a gang member enters the queue only once ``minCount`` members
   exist (KEP-4671 PreEnqueue; coscheduling PreFilter);
3. **filter** — TaintToleration, NodeAffinity (``nodeSelector`` + required affinity), NodeResourcesFit;
   like kube-scheduler it stops after ``numFeasibleNodesToFind`` feasible nodes, starting where the
   previous cycle stopped (``nextStartNodeIndex``; kept per pod shape here, so one shape's search
   does not chop another's into pieces — the same spreading, fewer vector operations);
4. **score** — NodeResourcesFit ``LeastAllocated`` or ``MostAllocated`` over weighted resources, with
   kube-scheduler's integer arithmetic; ties go to the first node in filter order;
5. **reserve** — the pod's requests are taken from the node;
6. **permit** — gang members wait here, holding their reservation, until ``minCount`` members are
   reserved or bound; the group deadline (coscheduling ``scheduleTimeoutSeconds``, default 60 s;
   KEP-4671 fixed 5 min) rejects every waiting member;
7. **bind** — ``Scheduled`` with the node.

A pod that fails is parked by shape (its requests and constraints). It is retried only when a
cluster event can make it fit — capacity freed on a node its shape fits, or a node added — never by
polling; on retry it honours kube-scheduler's backoff (1 s doubling to 10 s). ``FailedScheduling``
is emitted on a pod's first failure and whenever the message changes: the Kubernetes event recorder
aggregates identical repeats into one Event with a count, and so does the timeline.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Protocol

import numpy as np
import numpy.typing as npt

from models.duration import go_duration
from sim.cluster import ClusterState
from sim.pods import GangGroup, PodShape, SimPod

#: beyond this many buckets per pod, a vector scan over nodes is cheaper than walking buckets
BUCKET_SCAN_LIMIT = 48
INITIAL_BACKOFF = 1.0
MAX_BACKOFF = 10.0
COSCHEDULING_REJECT_PERCENTAGE = 10


class Cancellable(Protocol):
    def cancel(self) -> bool: ...


class Host(Protocol):
    """What the scheduler needs from the engine around it."""

    @property
    def now(self) -> float: ...

    def on_bind(self, pod: SimPod, node: int) -> None: ...

    def on_failed_scheduling(self, pod: SimPod, message: str) -> None: ...

    def on_gang_timeout(self, group: GangGroup, waiting: list[SimPod]) -> None: ...

    def call_at(self, t: float, fn: Callable[[], None]) -> Cancellable: ...

    def kick(self) -> None: ...

    def try_preempt(self, pod: SimPod) -> bool: ...


def num_feasible_nodes_to_find(n: int, percentage: int) -> int:
    """kube-scheduler's ``numFeasibleNodesToFind``."""
    if n < 100 or percentage >= 100:
        return n
    pct = percentage or max(5, 50 - n // 125)
    return max(n * pct // 100, 100)


class Scheduler:
    def __init__(self, host: Host, cluster: ClusterState, scoring: str,
                 score_resources: list[tuple[str, int]], percentage_of_nodes_to_score: int | None = None) -> None:
        self.host = host
        self.cluster = cluster
        self.most_allocated = scoring == "MostAllocated"
        self.score_resources = [(cluster.ridx[name], w) for name, w in score_resources
                                if name in cluster.ridx]
        if [r for r, _ in self.score_resources] != list(range(len(self.score_resources))):
            raise ValueError("ClusterState must list the scored resources first, in weight order")
        self.nscore = len(self.score_resources)
        weights = [w for _, w in self.score_resources]
        self.wcol = None if all(w == 1 for w in weights) else np.array(weights, dtype=np.int64)[:, None]
        self.pct = percentage_of_nodes_to_score
        self.active: list[tuple[int, float, int, SimPod]] = []
        self.backoff: list[tuple[float, int, SimPod]] = []
        self.shapes_waiting: dict[object, PodShape] = {}
        self.pods_rid = cluster.ridx.get("pods")
        self._wtotal = max(1, sum(w for _, w in self.score_resources))
        self._zero_version = -1
        self._zero = False
        if self.pct is None:
            cluster.enable_buckets(self.score_resources)

    # ------------------------------------------------------------------ queue

    def enqueue(self, pod: SimPod) -> None:
        g = pod.gang
        if g is not None and len(g.members) < g.min_count:
            return  # PreEnqueue: the group has fewer than minCount members yet
        self._push_active(pod)

    def _push_active(self, pod: SimPod) -> None:
        if not pod.queued:
            pod.queued = True
            heapq.heappush(self.active, (-pod.priority, pod.sort_time, pod.seq, pod))

    def release_gate(self, group: GangGroup) -> None:
        """All members exist now: let the gated ones in."""
        for p in group.members:
            if p.phase == "Pending" and p.node < 0:
                self._push_active(p)

    def next_backoff(self) -> float | None:
        return self.backoff[0][0] if self.backoff else None

    def flush_backoff(self, now: float) -> None:
        while self.backoff and self.backoff[0][0] <= now:
            _, _, pod = heapq.heappop(self.backoff)
            pod.queued = False
            if pod.phase == "Pending" and pod.node < 0:
                self._push_active(pod)

    def run_cycle(self) -> None:
        """Schedule every pod in the active queue, in queue order."""
        active = self.active
        while active:
            pod = heapq.heappop(active)[3]
            pod.queued = False
            if pod.phase != "Pending" or pod.node >= 0:
                continue
            self.schedule_one(pod)

    # ------------------------------------------------------------------ one cycle

    def schedule_one(self, pod: SimPod) -> None:
        node = self.find_node(pod.shape)
        if node < 0:
            # PostFilter: DefaultPreemption (gang members do not preempt)
            if pod.gang is None and self.host.try_preempt(pod):
                return
            self._unschedulable(pod, self.fit_error(pod.shape))
            return
        self.cluster.reserve(node, pod.shape.req)          # Reserve
        pod.node = node
        g = pod.gang
        if g is None:
            self.host.on_bind(pod, node)                   # Bind
            return
        # Permit: wait until minCount members are reserved or bound
        pod.phase = "Waiting"
        g.waiting.append(pod)
        if g.bound + len(g.waiting) >= g.min_count:
            waiting, g.waiting = g.waiting, []
            g.deadline_gen += 1
            g.wait_since = -1.0
            if g.timer is not None:
                g.timer.cancel()
                g.timer = None
            for p in waiting:
                p.phase = "Pending"
                g.bound += 1
                self.host.on_bind(p, p.node)
        elif g.wait_since < 0:
            g.wait_since = self.host.now
            g.deadline_gen += 1
            gen = g.deadline_gen
            g.timer = self.host.call_at(self.host.now + g.timeout, lambda: self._permit_timeout(g, gen))

    def _permit_timeout(self, g: GangGroup, gen: int) -> None:
        if gen != g.deadline_gen or not g.waiting:
            return
        waiting = list(g.waiting)
        self.host.on_gang_timeout(g, waiting)
        msg = f"rejected due to timeout after waiting {go_duration(g.timeout)} at plugin {g.plugin}"
        self._reject_waiting(g, msg)

    def _reject_waiting(self, g: GangGroup, message: str) -> None:
        """Unreserve every member waiting at Permit; they go back to the queue with backoff."""
        waiting, g.waiting = g.waiting, []
        g.deadline_gen += 1
        g.wait_since = -1.0
        if g.timer is not None:
            g.timer.cancel()
            g.timer = None
        freed: set[int] = set()
        for p in waiting:
            freed.add(p.node)
            self.cluster.release(p.node, p.shape.req)
            p.node = -1
            p.phase = "Pending"
            self._unschedulable(p, message, force_event=True, filter_failure=False)
        for node in sorted(freed):
            self.capacity_changed(node)

    def _unschedulable(self, pod: SimPod, message: str, force_event: bool = False,
                       filter_failure: bool = True) -> None:
        pod.attempts += 1
        pod.backoff_until = self.host.now + min(INITIAL_BACKOFF * 2 ** min(pod.attempts - 1, 16), MAX_BACKOFF)
        if force_event or message != pod.last_msg:
            pod.last_msg = message
            self.host.on_failed_scheduling(pod, message)
        shape = pod.shape
        heapq.heappush(shape.waiting, (-pod.priority, pod.sort_time, pod.seq, pod))
        self.shapes_waiting[shape.key] = shape
        g = pod.gang
        if filter_failure and g is not None and g.policy == "coscheduling" and g.waiting:
            # coscheduling PostFilter: give up on the group unless it is within 10% of quorum
            assigned = g.bound + len(g.waiting)
            if assigned < g.min_count and \
                    (g.min_count - assigned) * 100 > COSCHEDULING_REJECT_PERCENTAGE * g.min_count:
                # scheduler-plugins' Coscheduling.PostFilter rejects the waiting siblings with this text
                self._reject_waiting(g, "optimistic rejection in PostFilter")

    # ------------------------------------------------------------------ wake-ups

    def capacity_changed(self, node: int) -> None:
        """Capacity was freed on ``node`` (or it was added): move parked pods that may now fit there.

        Per shape, as many parked pods as the freed room can hold are moved, highest priority first (the
        queue order PrioritySort would pop them in); the rest stay parked, which is what trying them
        and failing again would amount to.
        """
        if not self.shapes_waiting:
            return
        cluster = self.cluster
        now = self.host.now
        free = cluster.free
        moved = False
        empty: list[object] = []
        for key, shape in self.shapes_waiting.items():
            waiting = shape.waiting
            if not waiting:
                empty.append(key)
                continue
            mask = shape.node_mask(cluster)
            if node >= mask.shape[0] or not mask[node]:
                continue
            k = len(waiting)
            for r, q in shape.req:
                have = int(free[r, node])
                if have < q:
                    k = 0
                    break
                k = min(k, have // q)
            if k <= 0:
                continue
            while k > 0 and waiting:
                pod = heapq.heappop(waiting)[3]
                if pod.queued or pod.phase != "Pending" or pod.node >= 0:
                    continue
                k -= 1
                self._requeue(pod, now)
                if pod.gang is not None:
                    for sib in pod.gang.members:
                        if sib is not pod and sib.phase == "Pending" and sib.node < 0:
                            self._requeue(sib, now)
            moved = True
        for key in empty:
            del self.shapes_waiting[key]
        if moved:
            self.host.kick()

    def _requeue(self, pod: SimPod, now: float) -> None:
        if pod.queued:
            return
        if pod.backoff_until > now:
            pod.queued = True
            heapq.heappush(self.backoff, (pod.backoff_until, pod.seq, pod))
        else:
            self._push_active(pod)

    # ------------------------------------------------------------------ filter and score

    def find_node(self, shape: PodShape) -> int:
        """Filter then score: the best feasible node, or -1.

        By default every feasible node is scored (kube-scheduler with ``percentageOfNodesToScore:
        100``; ties go to the lowest node index): through the bucket index when the shape's pools hold
        few distinct free vectors, else by a vector scan over the shape's eligible nodes — both give
        the same answer. With an explicit ``percentageOfNodesToScore`` it samples like kube-scheduler:
        filtering starts at ``next_start`` and stops once ``numFeasibleNodesToFind`` feasible nodes are
        found; only those are scored, and the next search starts after the last node examined.
        """
        cluster = self.cluster
        n = cluster.n
        if n == 0 or shape.failed_at == cluster.mutations:
            return -1  # nothing changed since this shape last found no node
        segs = shape.segments(cluster)
        if not segs:
            return -1
        node = self._find_node(shape, segs)
        if node < 0:
            shape.failed_at = cluster.mutations
        return node

    def _find_node(self, shape: PodShape, segs: list[tuple[int, int]]) -> int:
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
            shape.next_start = (last + 1) % n
        return best_node

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
        """NodeResourcesFit score of nodes ``lo:hi`` with kube-scheduler's integer arithmetic.

        The scored resources are the first ``nscore`` rows of the cluster arrays (ClusterState puts
        them first), so this is a handful of 2-D vector operations.
        """
        cluster = self.cluster
        k = self.nscore
        if k == 0:
            return np.zeros(hi - lo, dtype=np.int64)
        f = cluster.free[:k, lo:hi]
        a = cluster.safe_alloc[:k, lo:hi]
        q = shape.scorecol
        s = ((a - f + q) * 100) // a if self.most_allocated else ((f - q) * 100) // a
        zero = self._some_zero()
        if zero:
            s *= cluster.valid[:k, lo:hi]
        if self.wcol is not None:
            s *= self.wcol
        total: npt.NDArray[np.int64] = s[0] if k == 1 else s[0] + s[1] if k == 2 else s.sum(axis=0)
        if zero:
            ws: npt.NDArray[np.int64] = (cluster.valid[:k, lo:hi] * (self.wcol if self.wcol is not None else 1)
                                         ).sum(axis=0)
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

    def fit_error(self, shape: PodShape) -> str:
        """kube-scheduler's FitError text: ``0/N nodes are available: <count> <reason>, ….``"""
        cluster = self.cluster
        if shape.msg_at == cluster.mutations:
            return shape.msg
        shape.msg = self._fit_error(shape)
        shape.msg_at = cluster.mutations
        return shape.msg

    def _fit_error(self, shape: PodShape) -> str:
        cluster = self.cluster
        n = cluster.n
        ready = cluster.ready[:n]
        total = cluster.nready
        counts: dict[str, int] = {}
        for pool in cluster.pools.values():
            if not pool.nodes:
                continue
            if shape.per_node:
                for i in pool.nodes:
                    if ready[i]:
                        reason = shape.reason_for(cluster, i)
                        if reason is not None:
                            counts[reason] = counts.get(reason, 0) + 1
                continue
            reason = shape.reason_for(cluster, pool.nodes[0])
            if reason is not None and pool.ready:
                counts[reason] = counts.get(reason, 0) + pool.ready
        names = ["Too many pods" if r == self.pods_rid else f"Insufficient {cluster.resources[r]}"
                 for r, _ in shape.req]
        buckets = cluster.buckets
        if buckets is not None and not shape.per_node and \
                sum(buckets.pools[p].nlive for p in shape.pools) <= 4 * BUCKET_SCAN_LIMIT:
            # NodeResourcesFit reasons per bucket of identical nodes
            for pname in shape.pools:
                for b in buckets.pools[pname].buckets.values():
                    if b.live:
                        key = b.key
                        for (r, q), name in zip(shape.req, names, strict=True):
                            if key[r] < q:
                                counts[name] = counts.get(name, 0) + b.live
        else:
            mask = shape.node_mask(cluster)
            free = cluster.free
            for (r, q), name in zip(shape.req, names, strict=True):
                cnt = int((mask & (free[r, :n] < q)).sum())
                if cnt:
                    counts[name] = counts.get(name, 0) + cnt
        parts = sorted(f"{c} {reason}" for reason, c in counts.items())
        msg = f"0/{total} nodes are available"
        return msg + (": " + ", ".join(parts) + "." if parts else ".")

