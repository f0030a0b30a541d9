"""Cluster state: nodes, their allocatable resources and what is reserved on them.

Mirrors the scheduler cache / cluster-autoscaler ``ClusterSnapshot``: a node's *free* capacity is
allocatable minus the requests of the pods bound (or assumed) on it. State is kept column-wise in
numpy arrays (``free[resource, node]``) so the scheduler can filter and score thousands of nodes with a
few vector operations; all quantities are integer milli-units (``Quantity.MilliValue``).

It also keeps what the scheduler cache knows about binds: the pods bound to each node (``pods_on``)
and, for DefaultPreemption, the requests of the preemptible ones per priority level
(:class:`PriorityLedger`).

``with cluster.forked() as what_if:`` is cluster-autoscaler's snapshot ``Fork``/``Revert``/``Commit``
over *all* of it — free capacity, nodes added or removed, binds, per-node pod lists, the ledger and any
search cursor a decision reads (callers record theirs with ``cluster.log.record``): every change made
inside records an undo action in :class:`sim.snapshot.UndoLog`, forks nest, and leaving the block
reverts unless ``what_if.commit()`` was called. No deep copies.
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import numpy.typing as npt

from sim.buckets import BucketIndex
from sim.constraints import HOSTNAME_LABEL
from sim.snapshot import Fork, UndoLog

Req = tuple[tuple[int, int], ...]  # ((resource index, milli), ...) of the non-zero requests

#: how many nodes a :class:`NodeLog` holds before it starts over (under a new epoch)
NODE_LOG_CAP = 1 << 16
#: past this many logged changes since a verdict or a count was taken, it is searched or counted again
#: rather than brought up to date node by node (:meth:`ClusterState.grown_since`,
#: :meth:`ClusterState.touched_since`)
RECHECK_LIMIT = 256
#: how many binds and unbinds a priority level's queue holds before the level drops its array (it is
#: rebuilt from its pods when next read)
LEDGER_QUEUE_CAP = 1 << 14

#: Extended resources counted as accelerators in GPU metrics.
ACCELERATOR_RESOURCES = ("nvidia.com/gpu", "amd.com/gpu", "google.com/tpu", "habana.ai/gaudi",
                         "aws.amazon.com/neuron", "gpu.intel.com/i915")


#: the kubelet's default ``maxPods``: a pool that does not list ``pods`` allocatable gets this many
DEFAULT_MAX_PODS = 110


def is_accelerator(resource: str) -> bool:
    return resource in ACCELERATOR_RESOURCES or resource.endswith("/gpu")


class NodeLog:
    """Nodes in the order something happened to them (their free capacity grew; it changed), for verdicts
    and counts kept over many nodes that only those nodes can have changed. Capped: past
    :data:`NODE_LOG_CAP` entries it starts over under a new ``epoch``, so a remembered position
    (:meth:`mark`) is never misread."""

    __slots__ = ("epoch", "nodes")

    def __init__(self) -> None:
        self.nodes: list[int] = []
        self.epoch = 0

    def add(self, idx: int) -> None:
        nodes = self.nodes
        if len(nodes) >= NODE_LOG_CAP:
            nodes.clear()
            self.epoch += 1
        nodes.append(idx)

    def mark(self) -> tuple[int, int]:
        return self.epoch, len(self.nodes)

    def since(self, epoch: int, pos: int, limit: int) -> list[int] | None:
        """The nodes logged since ``(epoch, pos)`` (repeats possible), or None when that cannot be told or
        they are more than ``limit``."""
        nodes = self.nodes
        if epoch != self.epoch or len(nodes) - pos > limit:
            return None
        return nodes[pos:]


class Pool:
    """A node pool: nodes that share labels, taints, allocatable and price."""

    __slots__ = ("alloc", "grown", "held", "labels", "name", "nodes", "price", "ready", "taints")

    def __init__(self, name: str, labels: Mapping[str, str], taints: Sequence[Mapping[str, Any]],
                 alloc: Mapping[str, int], price: float | None) -> None:
        self.name = name
        self.labels = dict(labels)
        self.taints = [dict(t) for t in taints]
        self.alloc = dict(alloc)
        self.price = price
        self.nodes: list[int] = []
        self.ready = 0  # how many of its nodes are Ready
        #: per priority level, how many preemptible pods are bound on its nodes (the priority ledger's)
        self.held: dict[int, int] = {}
        #: its nodes whose free capacity grew (a release): a verdict "fits nowhere" reached at a mark of
        #: this log still holds while the node set is the same (``ClusterState.version``) and none of the
        #: nodes logged since can take the pod — binds only ever shrink free capacity
        self.grown = NodeLog()


class Node:
    __slots__ = ("idx", "json", "labels", "name", "plain", "pool", "ready", "ready_at")

    def __init__(self, idx: int, name: str, pool: Pool) -> None:
        self.idx = idx
        self.name = name
        self.json = json.dumps(name, ensure_ascii=False)
        #: the name encodes as itself (no escaping needed when embedded in a JSON string)
        self.plain = self.json == f'"{name}"'
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
        #: ``free``'s rows as memoryviews: reserve/release update single items through them (a third of
        #: numpy's cost; a row indexed by an int, not the array by a tuple: cheaper again)
        self._free_rows = rows_of(self.free)
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
        #: the undo log of open what-if forks (see :meth:`forked`)
        self.log = UndoLog()
        self.log.on_revert.append(self._invalidate)
        #: the free-capacity bucket index (set by :meth:`enable_buckets`), kept in step with ``free``
        self.buckets: BucketIndex | None = None
        #: bound pods per node: pod seq -> pod
        self.pods_on: list[dict[int, Any]] = []
        #: cordoned nodes (``spec.unschedulable``): they keep their pods and take no new ones
        self.cordoned: set[int] = set()
        #: per node, a value that changes whenever its free capacity or its pods change (never reused):
        #: what a per-node memo (DefaultPreemption's victims) is keyed on
        #: (an int64 ``array``: DefaultPreemption reads the stamps of many nodes at once through numpy)
        self.stamp: array[int] = array("q")
        #: the last stamp handed out (a node whose stamp is newer than a remembered clock value changed since)
        self.clock = 0
        #: nodes whose free capacity changed either way (a reserve or a release): counts over many nodes are
        #: kept up to date from it (the FitError text's "Insufficient" counts)
        self.touched = NodeLog()
        #: requests of preemptible bound pods per priority level (DefaultPreemption's dry run reads it)
        self.ledger = PriorityLedger(self)

    def enable_buckets(self, scored: list[tuple[int, int]]) -> None:
        """Keep a :class:`sim.buckets.BucketIndex` for ``scored`` (resource index, weight) resources."""
        self.buckets = BucketIndex(len(self.resources), scored)
        for pool in self.pools.values():
            self.buckets.add_pool(pool.name, self.alloc_vector(pool))
        for node in self.nodes:
            if node.ready:
                self.buckets.add_node(node.idx, node.pool.name, self._key(node.idx))

    def alloc_vector(self, pool: Pool) -> list[int]:
        return [pool.alloc.get(res, DEFAULT_MAX_PODS * 1000 if res == "pods" else 0) for res in self.resources]

    def _key(self, idx: int) -> tuple[int, ...]:
        return tuple(self.pyfree[idx])

    @property
    def n(self) -> int:
        return len(self.nodes)

    def mark(self, pools: Sequence[str]) -> tuple[int, ...]:
        """Where the cluster stands for a "fits nowhere" verdict over the nodes of ``pools`` (see
        :attr:`Pool.grown` and :meth:`grown_since`)."""
        out = [self.version]
        for name in pools:
            out += self.pools[name].grown.mark()
        return tuple(out)

    def grown_since(self, mark: tuple[int, ...], pools: Sequence[str], mask: bytes) -> list[int] | None:
        """The nodes of ``mask`` in ``pools`` (the pools ``mark`` was taken for) whose free capacity grew since
        ``mark`` (repeats possible): the only ones that can have changed a "fits nowhere" verdict reached at
        ``mark``. None when that cannot be told — nodes came, went or were cordoned (a what-if revert counts
        as that too) — or more than :data:`RECHECK_LIMIT` nodes grew (searching again is cheaper)."""
        if mark[0] != self.version:
            return None
        out: list[int] = []
        room = RECHECK_LIMIT
        for i, name in enumerate(pools):
            grown = self.pools[name].grown.since(mark[2 * i + 1], mark[2 * i + 2], room)
            if grown is None:
                return None
            room -= len(grown)
            out += [node for node in grown if mask[node]]
        return out

    def touch_mark(self) -> tuple[int, int, int]:
        """Where the cluster stands for counts kept over its nodes (see :meth:`touched_since`)."""
        return (self.version, *self.touched.mark())

    def touched_since(self, mark: tuple[int, int, int]) -> list[int] | None:
        """The nodes whose free capacity changed since ``mark`` (repeats possible), or None when counts taken
        at ``mark`` cannot be brought up to date from them: the node set changed (or a what-if was
        reverted), or more than :data:`RECHECK_LIMIT` changes happened (counting again is cheaper)."""
        if mark[0] != self.version:
            return None
        return self.touched.since(mark[1], mark[2], RECHECK_LIMIT)

    def add_pool(self, pool: Pool) -> None:
        self.pools[pool.name] = pool
        if self.buckets is not None:
            self.buckets.add_pool(pool.name, self.alloc_vector(pool))

    def _grow(self) -> None:
        cap = self.ready.shape[0] * 2
        for name in ("alloc", "free", "safe_alloc", "valid"):
            old = getattr(self, name)
            new = np.ones((old.shape[0], cap), dtype=np.int64) if name == "safe_alloc" else \
                np.zeros((old.shape[0], cap), dtype=np.int64)
            new[:, : old.shape[1]] = old
            setattr(self, name, new)
        self._free_rows = rows_of(self.free)
        ready = np.zeros(cap, dtype=bool)
        ready[: self.ready.shape[0]] = self.ready
        self.ready = ready

    def add_node(self, name: str, pool: Pool, now: float) -> Node:
        idx = len(self.nodes)
        if idx >= self.ready.shape[0]:
            self._grow()
        node = Node(idx, name, pool)
        self.nodes.append(node)
        self.pods_on.append({})
        self.clock += 1
        self.stamp.append(self.clock)
        pool.nodes.append(idx)
        vec = self.alloc_vector(pool)
        self.pyfree.append(list(vec))
        alloc_zero = list(self.alloc_zero)
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
        if self.log.forked:
            self.log.record(lambda: self._undo_add_node(node, alloc_zero))
        return node

    def _undo_add_node(self, node: Node, alloc_zero: list[bool]) -> None:
        idx = node.idx
        if self.buckets is not None and node.ready:
            self.buckets.remove_node(idx)
        if node.ready:
            self.nready -= 1
            node.pool.ready -= 1
        self.nodes.pop()
        self.pods_on.pop()
        self.stamp.pop()
        self.pyfree.pop()
        node.pool.nodes.pop()
        self.ready[idx] = False
        self.alloc[:, idx] = 0
        self.free[:, idx] = 0
        self.valid[:, idx] = 0
        self.safe_alloc[:, idx] = 1
        self.alloc_zero = alloc_zero

    def remove_node(self, idx: int) -> None:
        """The node leaves (deleted, or NotReady): nothing can be placed on it any more. Its bound pods
        are the caller's to delete first."""
        node = self.nodes[idx]
        was_ready = node.ready
        if self.log.forked:
            saved = (self.alloc[:, idx].copy(), self.free[:, idx].copy(), list(self.pyfree[idx]),
                     self.valid[:, idx].copy(), self.safe_alloc[:, idx].copy(), list(self.alloc_zero))
            self.log.record(lambda: self._undo_remove_node(node, was_ready, saved))
        if node.ready:
            self.nready -= 1
            node.pool.ready -= 1
        node.ready = False
        self.mutations += 1
        self._touch(idx)
        self.ready[idx] = False
        self.alloc[:, idx] = 0
        self.free[:, idx] = 0
        self.pyfree[idx] = [0] * len(self.resources)
        self.valid[:, idx] = 0
        self.safe_alloc[:, idx] = 1
        self.alloc_zero = [True] * len(self.resources)
        if self.buckets is not None and was_ready:
            self.buckets.remove_node(idx)
        self.version += 1

    def _undo_remove_node(self, node: Node, was_ready: bool, saved: tuple[Any, ...]) -> None:
        idx = node.idx
        alloc, free, pyfree, valid, safe, alloc_zero = saved
        self._touch(idx)
        self.alloc[:, idx] = alloc
        self.free[:, idx] = free
        self.pyfree[idx] = pyfree
        self.valid[:, idx] = valid
        self.safe_alloc[:, idx] = safe
        self.alloc_zero = alloc_zero
        if was_ready:
            node.ready = True
            self.ready[idx] = True
            self.nready += 1
            node.pool.ready += 1
            if self.buckets is not None:
                self.buckets.add_node(idx, node.pool.name, self._key(idx))

    # ------------------------------------------------------------------ reservations

    def _touch(self, idx: int) -> None:
        self.clock += 1
        self.stamp[idx] = self.clock

    def reserve(self, idx: int, req: Req) -> None:
        free = self._free_rows
        row = self.pyfree[idx]
        self.mutations += 1
        self.clock = clock = self.clock + 1
        self.stamp[idx] = clock
        self.touched.add(idx)
        for r, q in req:
            free[r][idx] -= q
            row[r] -= q
        buckets = self.buckets
        if buckets is not None:
            buckets.move(idx, tuple(row))
        if self.log.forked:
            self.log.record(lambda: self.release(idx, req))

    def release(self, idx: int, req: Req) -> None:
        free = self._free_rows
        row = self.pyfree[idx]
        self.mutations += 1
        self.nodes[idx].pool.grown.add(idx)
        self.touched.add(idx)
        self.clock = clock = self.clock + 1
        self.stamp[idx] = clock
        for r, q in req:
            free[r][idx] += q
            row[r] += q
        buckets = self.buckets
        if buckets is not None:
            buckets.move(idx, tuple(row))
        if self.log.forked:
            self.log.record(lambda: self.reserve(idx, req))

    def set_unschedulable(self, idx: int, value: bool) -> None:
        """Cordon (``value=True``) or uncordon a node; verdicts cached per shape are dropped."""
        if (idx in self.cordoned) == value:
            return
        if value:
            self.cordoned.add(idx)
        else:
            self.cordoned.discard(idx)
        self.version += 1
        self.mutations += 1
        self._touch(idx)
        if self.log.forked:
            self.log.record(lambda: self.set_unschedulable(idx, not value))

    # ------------------------------------------------------------------ binds

    def bind(self, pod: Any, node: int, preemptible: bool) -> None:
        """Record ``pod`` (already reserved on ``node``) as bound there; ``preemptible`` pods also enter
        the priority ledger."""
        self.pods_on[node][pod.seq] = pod
        self.clock = clock = self.clock + 1
        self.stamp[node] = clock
        if preemptible:
            self.ledger.add(pod, node)
        if self.log.forked:
            self.log.record(lambda: self.unbind(pod, node, preemptible))

    def unbind(self, pod: Any, node: int, preemptible: bool) -> None:
        del self.pods_on[node][pod.seq]
        self.clock = clock = self.clock + 1
        self.stamp[node] = clock
        if preemptible:
            self.ledger.add(pod, node, -1)
        if self.log.forked:
            self.log.record(lambda: self.bind(pod, node, preemptible))

    # ------------------------------------------------------------------ what-if

    @contextmanager
    def forked(self) -> Iterator[Fork]:
        """``with cluster.forked() as what_if:`` — every change inside is reverted on exit unless
        ``what_if.commit()`` is called. Forks nest."""
        with self.log.what_if() as fork:
            yield fork

    def _invalidate(self) -> None:
        # cached verdicts are keyed on these counters: a revert is a change like any other
        self.mutations += 1
        self.version += 1


class PriorityLedger:
    """Requests of preemptible bound pods, per priority level, per node (milli-units).

    DefaultPreemption's dry run asks "which nodes would fit if every pod up to priority P left"; with
    this ledger that is a few array additions over all nodes, level by level.

    Binds and unbinds are queued per level and a level's queue is applied to its array, item by item,
    when that level is next read (:meth:`level`); a level left unread for :data:`LEDGER_QUEUE_CAP`
    changes drops its array and queue and is rebuilt from its pods when read: most runs bind far more
    often than they search for victims, and a level no preemptor can reach (pods on nodes no
    higher-priority pod may use) is never read at all.
    """

    def __init__(self, cluster: ClusterState) -> None:
        self.cluster = cluster
        self._levels: dict[int, npt.NDArray[np.int64]] = {}
        #: per level, its bound preemptible pods: pod seq -> (node, requests)
        self._members: dict[int, dict[int, tuple[int, Req]]] = {}
        #: per level with an array, (node, requests, +1 or -1) not applied to it yet; a level left unread
        #: for ``LEDGER_QUEUE_CAP`` binds and unbinds drops its array and queue, and is rebuilt from its
        #: members when next read (in a run where no pod can preempt them, they are never read at all)
        self._queued: dict[int, list[tuple[int, Req, int]]] = {}
        #: :meth:`below`'s answers, valid while no level gains its first pod or loses its last in a
        #: pool, and the node set stays
        self._below: dict[tuple[int, tuple[str, ...] | None], list[int]] = {}
        self._below_version = -1

    @property
    def counts(self) -> dict[int, int]:
        """Per priority level, how many preemptible pods are bound."""
        return {prio: len(members) for prio, members in self._members.items()}

    @property
    def levels(self) -> dict[int, npt.NDArray[np.int64]]:
        """Per priority level, ``[resource, node]`` requests of the preemptible pods bound there."""
        for prio in list(self._members):
            self.level(prio)
        return self._levels

    def level(self, prio: int) -> npt.NDArray[np.int64]:
        """Level ``prio``'s ``[resource, node]`` requests (its queue applied, or rebuilt when it went unread)."""
        queued = self._queued.get(prio)
        if queued is None:  # no array kept: build it from the level's pods
            self._levels.pop(prio, None)
            queued = self._queued[prio] = [(node, req, 1) for node, req in self._members.get(prio, {}).values()]
        if queued:
            self._apply(prio)
        return self._level(prio)

    def _level(self, prio: int) -> npt.NDArray[np.int64]:
        arr = self._levels.get(prio)
        cap = self.cluster.free.shape
        if arr is None or arr.shape != cap:
            new = np.zeros(cap, dtype=np.int64)
            if arr is not None:
                new[:, : arr.shape[1]] = arr
            self._levels[prio] = arr = new
        return arr

    def add(self, pod: Any, node: int, sign: int = 1) -> None:
        prio = pod.priority
        req = pod.shape.req
        members = self._members.get(prio)
        if members is None:
            members = self._members[prio] = {}
        if sign > 0:
            members[pod.seq] = (node, req)
        else:
            del members[pod.seq]
        queued = self._queued.get(prio)
        if queued is not None:
            queued.append((node, req, sign))
            if len(queued) >= LEDGER_QUEUE_CAP:  # unread for long: keep the members only
                del self._queued[prio]
                del self._levels[prio]
        held = self.cluster.nodes[node].pool.held
        count = held.get(prio, 0) + sign
        held[prio] = count
        if count == 0 or (count == 1 and sign == 1):
            self._below.clear()

    def _apply(self, prio: int) -> None:
        queued = self._queued[prio]
        cells = rows_of(self._level(prio))  # item by item through memoryviews: no per-call setup, unlike ufunc.at
        for node, req, sign in queued:
            if sign > 0:
                for r, q in req:
                    cells[r][node] += q
            else:
                for r, q in req:
                    cells[r][node] -= q
        queued.clear()

    def below(self, prio: int, pools: Sequence[str] | None = None) -> list[int]:
        """The priority levels under ``prio`` that hold preemptible pods (on the nodes of ``pools``, when
        given), lowest first."""
        cluster = self.cluster
        if self._below_version != cluster.version:
            self._below.clear()
            self._below_version = cluster.version
        key = (prio, None if pools is None else tuple(pools))
        known = self._below.get(key)
        if known is None:
            if pools is None:
                held = {p for p, members in self._members.items() if members and p < prio}
            else:
                held = {p for name in pools for p, c in cluster.pools[name].held.items() if c > 0 and p < prio}
            known = self._below[key] = sorted(held)
        return known


def rows_of(arr: npt.NDArray[np.int64]) -> list[memoryview]:
    """The rows of a C-ordered 2-D array as memoryviews, for updating single items from Python."""
    return [arr[r].data for r in range(arr.shape[0])]
