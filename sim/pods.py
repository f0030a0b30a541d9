"""Pods, pod shapes and gang groups: the light objects the scheduler's hot loop works on.

A :class:`PodShape` is everything that decides *where* a pod may go — requests and placement
constraints. Pods of one workload template share a shape, so the verdicts of the Filter plugins that
look only at a node's pool or identity (TaintToleration, NodeAffinity — ``depends`` ⊆ {pool, node},
see :mod:`sim.framework`) and the node masks they give are computed once per shape, not per pod. A
:class:`GangGroup` is the scheduler-side view of a PodGroup (coscheduling) or a scheduling.k8s.io Workload pod group
(KEP-4671): its ``minCount``, Permit timeout and the members waiting at Permit.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from sim.cluster import ClusterState, Req


class PodShape:
    __slots__ = (
        "affinity",
        "eligible",
        "example",
        "failed_at",
        "failed_mark",
        "filters",
        "idx",
        "key",
        "mask",
        "mask_bytes",
        "mask_version",
        "msg",
        "msg_at",
        "next_start",
        "node_selector",
        "per_node",
        "plan",
        "plan_version",
        "pool_index",
        "pool_index_version",
        "pool_reason",
        "pools",
        "reason_rows",
        "req",
        "reqcol",
        "reqvec",
        "scorecol",
        "segs",
        "short_bits",
        "short_counts",
        "short_mark",
        "tolerations",
        "waiting",
    )

    def __init__(self, key: Any, req: Req, nres: int, tolerations: list[dict[str, Any]],
                 node_selector: dict[str, str], affinity: dict[str, Any] | None, nscore: int = 0,
                 filters: list[Any] | None = None) -> None:
        self.key = key
        self.req = req
        vec = [0] * nres
        for r, q in req:
            vec[r] = q
        #: requests per resource index (a tuple: it keys per-request caches as it is)
        self.reqvec = tuple(vec)
        #: requests as a column over every resource (for one 2-D fit test) and over the scored ones
        self.reqcol: npt.NDArray[np.int64] = np.array(vec, dtype=np.int64)[:, None]
        self.scorecol: npt.NDArray[np.int64] = np.array(vec[:nscore], dtype=np.int64)[:, None]
        #: the requested resources' rows and amounts (a column): a vector fit test over many nodes at once
        #: (the rows as a slice when they are consecutive, so indexing with them makes a view, not a copy)
        rows = [r for r, _ in req]
        self.reason_rows: tuple[list[int] | slice, npt.NDArray[np.int64]] = (
            slice(rows[0], rows[-1] + 1) if rows and rows == list(range(rows[0], rows[-1] + 1)) else rows,
            np.array([q for _, q in req], dtype=np.int64)[:, None])
        self.segs: list[tuple[int, int]] = []
        #: kube-scheduler's nextStartNodeIndex, per shape
        self.next_start = 0
        #: the node pools this shape may use (taints, selectors, affinity), refreshed with ``mask``
        self.pools: list[str] = []
        #: the bucket indexes of ``pools`` (a ``sim.buckets.PoolIndex`` list), cached per cluster version
        self.pool_index: list[Any] = []
        self.pool_index_version = -1
        #: ClusterState.mutations when this shape last found no node / last FitError text (caches)
        self.failed_at = -1
        #: ClusterState.mark() when this shape last found no node (see ``Scheduler.find_node``)
        self.failed_mark: tuple[int, ...] | None = None
        self.msg = ""
        self.msg_at: object = -1
        #: NodeResourcesFit's FitError counts kept up to date: per node one bit per requested resource it
        #: has too little of (255: not a node of this shape), the number of nodes short of each, and the
        #: ``ClusterState.touch_mark()`` they are true at
        self.short_bits = bytearray()
        self.short_counts: list[int] = []
        self.short_mark: tuple[int, int, int] | None = None
        self.eligible = 0
        self.tolerations = tolerations
        self.node_selector = node_selector
        self.affinity = affinity
        #: the Filter plugins whose verdicts depend only on a node's pool or identity, in profile order
        self.filters: list[Any] = list(filters or [])
        #: a pod of this shape: what those plugins are asked about (their verdicts depend on the shape only)
        self.example: SimPod | None = None
        self.per_node = any("node" in p.depends and (not hasattr(p, "node_dependent") or p.node_dependent(self))
                            for p in self.filters)
        self.pool_reason: dict[str, str | None] = {}
        #: the scheduler's per-shape plan (node-by-node filters, extra scorers), cached per cluster version
        self.plan: Any = None
        self.plan_version = -1
        self.mask: npt.NDArray[np.bool_] = np.zeros(0, dtype=bool)
        self.mask_bytes = b""
        #: the indexes of the nodes in ``mask``
        self.idx: npt.NDArray[np.intp] = np.zeros(0, dtype=np.intp)
        self.mask_version = -1
        #: pods of this shape that failed scheduling, in queue order (priority, creation, seq)
        self.waiting = Parked()

    def reason_for(self, cluster: ClusterState, idx: int) -> str | None:
        """The first pool/node Filter plugin's reason to refuse node ``idx``, or None."""
        if not self.per_node:
            pool = cluster.nodes[idx].pool
            if pool.name not in self.pool_reason:
                self.pool_reason[pool.name] = self._reason(idx)
            return self.pool_reason[pool.name]
        return self._reason(idx)

    def _reason(self, idx: int) -> str | None:
        pod = self.example
        assert pod is not None, "a shape is filtered only once a pod of it exists"
        for plugin in self.filters:
            reason: str | None = plugin.filter(pod, idx, {})
            if reason is not None:
                return reason
        return None

    def node_mask(self, cluster: ClusterState) -> npt.NDArray[np.bool_]:
        """Nodes that pass TaintToleration and NodeAffinity (and are Ready)."""
        if self.mask_version != cluster.version:
            # a plugin's per-node dependence can change with the cluster (a node cordoned)
            per_node = any("node" in p.depends and (not hasattr(p, "node_dependent") or p.node_dependent(self))
                           for p in self.filters)
            if per_node != self.per_node:
                self.per_node = per_node
                self.pool_reason = {}
            n = cluster.n
            m = np.zeros(n, dtype=bool)
            if self.per_node:
                for i in range(n):
                    m[i] = cluster.ready[i] and self.reason_for(cluster, i) is None
            else:
                self.pools = []
                for pool in cluster.pools.values():
                    if pool.nodes and self.reason_for(cluster, pool.nodes[0]) is None:
                        m[pool.nodes] = True
                        self.pools.append(pool.name)
                m &= cluster.ready[:n]
            self.mask = m
            #: the same as bytes (0 or 1 per node): one node's answer without a numpy scalar
            self.mask_bytes = m.tobytes()
            self.mask_version = cluster.version
            # contiguous runs of eligible nodes (node pools are contiguous, so usually one per pool)
            edges = np.flatnonzero(np.diff(np.concatenate(([0], m.view(np.int8), [0]))))
            self.segs = [(int(edges[i]), int(edges[i + 1])) for i in range(0, len(edges), 2)]
            self.idx = np.flatnonzero(m)
            self.eligible = int(self.idx.size)
        return self.mask

    def _pool_names(self, cluster: ClusterState) -> Sequence[str]:
        """The node pools this shape may use (every pool when a node-level plugin decides node by node)."""
        return tuple(cluster.pools) if self.per_node else self.pools

    def fit_mark(self, cluster: ClusterState) -> tuple[int, ...]:
        """Where the cluster stands for a "fits nowhere" verdict about this shape (``node_mask`` current):
        see :meth:`grown_since`."""
        return cluster.mark(self._pool_names(cluster))

    def grown_since(self, cluster: ClusterState, mark: tuple[int, ...]) -> list[int] | None:
        """The nodes this shape may use whose free capacity grew since :meth:`fit_mark` gave ``mark``: the only
        ones that can have changed a verdict "fits nowhere" reached then. None when that cannot be told
        (:meth:`sim.cluster.ClusterState.grown_since`; the node set changed)."""
        if self.mask_version != cluster.version:
            return None
        return cluster.grown_since(mark, self._pool_names(cluster), self.mask_bytes)

    def segments(self, cluster: ClusterState) -> list[tuple[int, int]]:
        if self.mask_version != cluster.version:
            self.node_mask(cluster)
        return self.segs


#: a parked pod's entry: (-priority, sort_time, seq, pod)
ParkedEntry = tuple[int, float, int, "SimPod"]


class Parked:
    """A shape's pods that failed scheduling, popped in queue order (PrioritySort: higher priority, then
    earlier creation, then lower seq) — what one heap of their entries gives, cheaper.

    Under pressure thousands of pods of a shape wait, and most are parked for the first time in the
    order they were created, which is queue order: those go to the end of a sorted *run* (one comparison
    with its last entry), the others (a pod parked again after a requeue) to a heap. A pop takes the
    smaller of the run's head and the heap's top: the order of one heap over both, exactly (entries are
    distinct: seq is), at one or two comparisons instead of a dozen.
    """

    __slots__ = ("head", "heap", "run")

    def __init__(self) -> None:
        self.run: list[ParkedEntry] = []
        #: the run's first entry not popped yet
        self.head = 0
        self.heap: list[ParkedEntry] = []

    def __len__(self) -> int:
        return len(self.run) - self.head + len(self.heap)

    def push(self, entry: ParkedEntry) -> None:
        run = self.run
        if self.head == len(run):  # the run is used up: start it again
            run.clear()
            self.head = 0
            run.append(entry)
        elif entry > run[-1]:
            run.append(entry)
        else:
            heapq.heappush(self.heap, entry)

    def pop(self) -> SimPod:
        """The first pod in queue order (there must be one)."""
        run = self.run
        head = self.head
        heap = self.heap
        if head == len(run) or (heap and heap[0] < run[head]):
            return heapq.heappop(heap)[3]
        entry = run[head]
        head += 1
        if head >= 4096 and 2 * head >= len(run):  # drop the popped prefix now and then
            del run[:head]
            head = 0
        self.head = head
        return entry[3]


class SimPod:
    __slots__ = (
        "attempts",
        "backoff_until",
        "bound_at",
        "created",
        "cycle",
        "gang",
        "generation",
        "instance",
        "last_msg",
        "name",
        "namespace",
        "node",
        "parked",
        "phase",
        "pod_set",
        "priority",
        "queued",
        "ref",
        "runtime",
        "seq",
        "shape",
        "sort_time",
        "static",
    )

    def __init__(self, seq: int, namespace: str, name: str, shape: PodShape, priority: int, created: float,
                 runtime: float, instance: Any, pod_set: str | None = None) -> None:
        self.seq = seq
        self.namespace = namespace
        self.name = name
        self.shape = shape
        self.priority = priority
        self.created = created
        self.sort_time = created
        self.runtime = runtime
        self.instance = instance
        self.pod_set = pod_set
        self.gang: GangGroup | None = None
        self.node = -1
        #: has an entry in its shape's heap of pods that failed scheduling (``PodShape.waiting``)
        self.parked = False
        self.bound_at = 0.0
        #: bumped on every bind/unbind; a completion timer carrying an older value is stale
        self.generation = 0
        self.attempts = 0
        self.backoff_until = 0.0
        self.last_msg: str | None = None
        self.queued = False
        #: the encoded static part of its PodCreated data (a replacement pod reuses it)
        self.static = ""
        #: its encoded object reference and gang key (``models.timeline.ref``), made once
        self.ref: Any = None
        #: the CycleState of the scheduling attempt that reserved it (kept while it waits at Permit)
        self.cycle: dict[str, Any] | None = None
        self.phase = "Pending"  # Pending, Waiting (at Permit), Running, Succeeded, Failed, Deleted


class GangGroup:
    """Scheduler-side state of one gang: a coscheduling PodGroup or a KEP-4671 pod group."""

    __slots__ = ("bound", "created", "deadline_generation", "json", "key", "members", "min_count", "plugin",
                 "policy", "timeout", "timer", "wait_since", "waiting")

    def __init__(self, key: str, policy: str, min_count: int, timeout: float, created: float) -> None:
        self.key = key
        self.json = ""
        self.policy = policy
        self.plugin = "Coscheduling" if policy == "coscheduling" else "GangScheduling"
        self.min_count = min_count
        self.timeout = timeout
        self.created = created
        self.members: list[SimPod] = []
        self.waiting: list[SimPod] = []
        self.bound = 0
        self.deadline_generation = 0
        self.wait_since = -1.0
        self.timer: Any = None  # the pending Permit deadline (a cancellable engine timer)
