"""Pods, pod shapes and gang groups: the light objects the scheduler's hot loop works on.

A :class:`PodShape` is everything that decides *where* a pod may go — requests and placement
constraints. Pods of one workload template share a shape, so node-pool verdicts (taints, selectors,
affinity) and node masks are computed once per shape, not per pod. A :class:`GangGroup` is the
scheduler-side view of a PodGroup (coscheduling) or a scheduling.k8s.io Workload pod group
(KEP-4671): its ``minCount``, Permit timeout and the members waiting at Permit.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from sim.cluster import ClusterState, Req
from sim.constraints import depends_on_node_identity, node_reason


class PodShape:
    __slots__ = (
        "affinity",
        "eligible",
        "failed_at",
        "key",
        "mask",
        "mask_version",
        "msg",
        "msg_at",
        "next_start",
        "node_selector",
        "per_node",
        "pool_index",
        "pool_index_version",
        "pool_reason",
        "pools",
        "req",
        "reqcol",
        "reqvec",
        "scorecol",
        "segs",
        "tolerations",
        "waiting",
    )

    def __init__(self, key: Any, req: Req, nres: int, tolerations: list[dict[str, Any]],
                 node_selector: dict[str, str], affinity: dict[str, Any] | None, nscore: int = 0) -> None:
        self.key = key
        self.req = req
        vec = [0] * nres
        for r, q in req:
            vec[r] = q
        self.reqvec = vec
        #: requests as a column over every resource (for one 2-D fit test) and over the scored ones
        self.reqcol: npt.NDArray[np.int64] = np.array(vec, dtype=np.int64)[:, None]
        self.scorecol: npt.NDArray[np.int64] = np.array(vec[:nscore], dtype=np.int64)[:, None]
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
        self.msg = ""
        self.msg_at = -1
        self.eligible = 0
        self.tolerations = tolerations
        self.node_selector = node_selector
        self.affinity = affinity
        self.per_node = depends_on_node_identity(node_selector, affinity)
        self.pool_reason: dict[str, str | None] = {}
        self.mask: npt.NDArray[np.bool_] = np.zeros(0, dtype=bool)
        self.mask_version = -1
        #: pods of this shape that failed scheduling: a heap in queue order (priority, creation, seq)
        self.waiting: list[tuple[int, float, int, SimPod]] = []

    def reason_for(self, cluster: ClusterState, idx: int) -> str | None:
        node = cluster.nodes[idx]
        pool = node.pool
        if not self.per_node:
            if pool.name not in self.pool_reason:
                self.pool_reason[pool.name] = node_reason(self.tolerations, self.node_selector,
                                                          self.affinity, pool.labels | {}, pool.taints,
                                                          node.name)
            return self.pool_reason[pool.name]
        return node_reason(self.tolerations, self.node_selector, self.affinity, node.labels, pool.taints,
                           node.name)

    def node_mask(self, cluster: ClusterState) -> npt.NDArray[np.bool_]:
        """Nodes that pass TaintToleration and NodeAffinity (and are Ready)."""
        if self.mask_version != cluster.version:
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
            self.mask_version = cluster.version
            # contiguous runs of eligible nodes (node pools are contiguous, so usually one per pool)
            edges = np.flatnonzero(np.diff(np.concatenate(([0], m.view(np.int8), [0]))))
            self.segs = [(int(edges[i]), int(edges[i + 1])) for i in range(0, len(edges), 2)]
            self.eligible = int(m.sum())
        return self.mask

    def segments(self, cluster: ClusterState) -> list[tuple[int, int]]:
        if self.mask_version != cluster.version:
            self.node_mask(cluster)
        return self.segs


class SimPod:
    __slots__ = (
        "attempts",
        "backoff_until",
        "bound_at",
        "created",
        "gang",
        "gen",
        "instance",
        "last_msg",
        "name",
        "namespace",
        "node",
        "obj",
        "phase",
        "pod_set",
        "priority",
        "queued",
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
        self.bound_at = 0.0
        #: bumped on every bind/unbind; a completion timer carrying an older value is stale
        self.gen = 0
        self.attempts = 0
        self.backoff_until = 0.0
        self.last_msg: str | None = None
        self.queued = False
        #: the encoded static part of its PodCreated data (a replacement pod reuses it)
        self.static = ""
        #: pre-encoded ``"obj":{…}`` (and ``"group"`` is added by the engine) for the fast emit path
        self.obj: tuple[str, str] = ("", "")
        self.phase = "Pending"  # Pending, Waiting (at Permit), Running, Succeeded, Failed, Deleted


class GangGroup:
    """Scheduler-side state of one gang: a coscheduling PodGroup or a KEP-4671 pod group."""

    __slots__ = ("bound", "created", "deadline_gen", "json", "key", "members", "min_count", "plugin", "policy",
                 "timeout", "timer", "wait_since", "waiting")

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
        self.deadline_gen = 0
        self.wait_since = -1.0
        self.timer: Any = None  # the pending Permit deadline (a cancellable engine timer)
