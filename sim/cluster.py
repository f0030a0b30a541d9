"""Cluster state: nodes, their allocatable resources and what is reserved on them.

Mirrors the scheduler cache / cluster-autoscaler ``ClusterSnapshot``: a node's *free* capacity is
allocatable minus the requests of the pods bound (or assumed) on it. State is kept column-wise in
numpy arrays (``free[resource, node]``) so the scheduler can filter and score thousands of nodes with a
few vector operations; all quantities are integer milli-units (``Quantity.MilliValue``).

``fork()`` / ``commit()`` / ``revert()`` give cheap what-if placement (cluster-autoscaler's snapshot,
Kueue's undo closures): while forked every reserve/release is logged, and ``revert`` undoes them in
reverse order. No deep copies.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from sim.buckets import BucketIndex
from sim.constraints import HOSTNAME_LABEL

Req = tuple[tuple[int, int], ...]  # ((resource index, milli), ...) of the non-zero requests

#: Extended resources counted as accelerators in GPU metrics.
ACCELERATOR_RESOURCES = ("nvidia.com/gpu", "amd.com/gpu", "google.com/tpu", "habana.ai/gaudi",
                         "aws.amazon.com/neuron", "gpu.intel.com/i915")


#: the kubelet's default ``maxPods``: a pool that does not list ``pods`` allocatable gets this many
DEFAULT_MAX_PODS = 110


def is_accelerator(resource: str) -> bool:
    return resource in ACCELERATOR_RESOURCES or resource.endswith("/gpu")


class Pool:
    """A node pool: nodes that share labels, taints, allocatable and price."""

    __slots__ = ("alloc", "labels", "name", "nodes", "price", "ready", "taints")

    def __init__(self, name: str, labels: Mapping[str, str], taints: Sequence[Mapping[str, Any]],
                 alloc: Mapping[str, int], price: float | None) -> None:
        self.name = name
        self.labels = dict(labels)
        self.taints = [dict(t) for t in taints]
        self.alloc = dict(alloc)
        self.price = price
        self.nodes: list[int] = []
        self.ready = 0  # how many of its nodes are Ready


class Node:
    __slots__ = ("idx", "json", "labels", "name", "pool", "ready", "ready_at")

    def __init__(self, idx: int, name: str, pool: Pool) -> None:
        self.idx = idx
        self.name = name
        self.json = json.dumps(name, ensure_ascii=False)
        self.pool = pool
        self.labels = {**pool.labels, HOSTNAME_LABEL: name}
        self.ready = False
        self.ready_at = 0.0


class ClusterState:
    """Nodes and free capacity, with indexes for the scheduler's hot loop."""

    def __init__(self, resources: Sequence[str], capacity: int = 64) -> None:
        self.resources = list(resources)
        self.ridx = {r: i for i, r in enumerate(self.resources)}
        nres = len(self.resources)
        self.alloc: npt.NDArray[np.int64] = np.zeros((nres, capacity), dtype=np.int64)
        self.free: npt.NDArray[np.int64] = np.zeros((nres, capacity), dtype=np.int64)
        self.ready: npt.NDArray[np.bool_] = np.zeros(capacity, dtype=bool)
        #: allocatable with zeros replaced by 1 (a safe divisor for scoring) and whether it was > 0
        self.safe_alloc: npt.NDArray[np.int64] = np.ones((nres, capacity), dtype=np.int64)
        self.valid: npt.NDArray[np.int64] = np.zeros((nres, capacity), dtype=np.int64)
        #: per resource: does any node have zero allocatable of it (scores must skip it there)
        self.alloc_zero = [False] * nres
        self.nodes: list[Node] = []
        self.nready = 0
        #: bumped on every change of free capacity or of the node set; verdicts cached against it
        self.mutations = 0
        #: the same free capacity as ``free``, per node as a Python list (the hot loops read it)
        self.pyfree: list[list[int]] = []
        self.pools: dict[str, Pool] = {}
        #: bumped whenever nodes appear or disappear (invalidates per-shape node masks)
        self.version = 0
        self._undo: list[tuple[int, Req, int]] | None = None
        #: the free-capacity bucket index (set by :meth:`enable_buckets`), kept in step with ``free``
        self.buckets: BucketIndex | None = None

    def enable_buckets(self, scored: list[tuple[int, int]]) -> None:
        """Keep a :class:`sim.buckets.BucketIndex` for ``scored`` (resource index, weight) resources."""
        self.buckets = BucketIndex(len(self.resources), scored)
        for pool in self.pools.values():
            self.buckets.add_pool(pool.name, self._alloc_vector(pool))
        for node in self.nodes:
            if node.ready:
                self.buckets.add_node(node.idx, node.pool.name, self._key(node.idx))

    def _alloc_vector(self, pool: Pool) -> list[int]:
        return [pool.alloc.get(res, DEFAULT_MAX_PODS * 1000 if res == "pods" else 0) for res in self.resources]

    def _key(self, idx: int) -> tuple[int, ...]:
        return tuple(self.pyfree[idx])

    @property
    def n(self) -> int:
        return len(self.nodes)

    def add_pool(self, pool: Pool) -> None:
        self.pools[pool.name] = pool
        if self.buckets is not None:
            self.buckets.add_pool(pool.name, self._alloc_vector(pool))

    def _grow(self) -> None:
        cap = self.ready.shape[0] * 2
        for name in ("alloc", "free", "safe_alloc", "valid"):
            old = getattr(self, name)
            new = np.ones((old.shape[0], cap), dtype=np.int64) if name == "safe_alloc" else \
                np.zeros((old.shape[0], cap), dtype=np.int64)
            new[:, : old.shape[1]] = old
            setattr(self, name, new)
        ready = np.zeros(cap, dtype=bool)
        ready[: self.ready.shape[0]] = self.ready
        self.ready = ready

    def add_node(self, name: str, pool: Pool, now: float) -> Node:
        idx = len(self.nodes)
        if idx >= self.ready.shape[0]:
            self._grow()
        node = Node(idx, name, pool)
        self.nodes.append(node)
        pool.nodes.append(idx)
        vec = self._alloc_vector(pool)
        self.pyfree.append(list(vec))
        for r, milli in enumerate(vec):
            self.alloc[r, idx] = milli
            self.free[r, idx] = milli
            if milli > 0:
                self.safe_alloc[r, idx] = milli
                self.valid[r, idx] = 1
            else:
                self.alloc_zero[r] = True
        self.ready[idx] = True
        self.nready += 1
        pool.ready += 1
        node.ready = True
        node.ready_at = now
        self.version += 1
        self.mutations += 1
        if self.buckets is not None:
            self.buckets.add_node(idx, pool.name, self._key(idx))
        return node

    def remove_node(self, idx: int) -> None:
        node = self.nodes[idx]
        if node.ready:
            self.nready -= 1
            node.pool.ready -= 1
        node.ready = False
        self.mutations += 1
        self.ready[idx] = False
        self.alloc[:, idx] = 0
        self.free[:, idx] = 0
        self.pyfree[idx] = [0] * len(self.resources)
        self.valid[:, idx] = 0
        self.safe_alloc[:, idx] = 1
        self.alloc_zero = [True] * len(self.resources)
        if self.buckets is not None:
            self.buckets.remove_node(idx)
        self.version += 1

    # ------------------------------------------------------------------ reservations

    def reserve(self, idx: int, req: Req) -> None:
        free = self.free
        row = self.pyfree[idx]
        self.mutations += 1
        for r, q in req:
            free[r, idx] -= q
            row[r] -= q
        if self.buckets is not None:
            self.buckets.move(idx, tuple(row))
        if self._undo is not None:
            self._undo.append((idx, req, 1))

    def release(self, idx: int, req: Req) -> None:
        free = self.free
        row = self.pyfree[idx]
        self.mutations += 1
        for r, q in req:
            free[r, idx] += q
            row[r] += q
        if self.buckets is not None:
            self.buckets.move(idx, tuple(row))
        if self._undo is not None:
            self._undo.append((idx, req, -1))

    # ------------------------------------------------------------------ what-if

    def fork(self) -> None:
        if self._undo is not None:
            raise RuntimeError("ClusterState is already forked")
        self._undo = []

    def commit(self) -> None:
        self._undo = None

    def revert(self) -> None:
        undo, self._undo = self._undo, None
        if undo is None:
            raise RuntimeError("ClusterState is not forked")
        free = self.free
        self.mutations += 1
        for idx, req, sign in reversed(undo):
            row = self.pyfree[idx]
            for r, q in req:
                free[r, idx] += q * sign
                row[r] += q * sign
            if self.buckets is not None:
                self.buckets.move(idx, tuple(row))
