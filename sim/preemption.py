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
requests of the preemptible pods bound to each node (:class:`sim.cluster.PriorityLedger`), so "which
nodes would fit if every pod up to priority P left" is a few array additions over the pod's eligible
nodes; when not even removing every lower-priority pod makes room anywhere the search stops there, else
the first level where any node fits bounds the best choice, and only those nodes are dry-run. Dry runs
are remembered per node against the node's change stamp, and their pickOneNode keys are kept as columns
(:class:`KeyTable`), so choosing among a thousand candidates is a few vector minimums.

Simplifications (documented in docs/decisions.md): victims are deleted at once (no graceful
termination) and the preemptor binds in the same instant to the chosen node, which is what the
nominated-node mechanism converges to; pods of gangs and of Kueue workloads are never chosen as
victims (they behave as if a PodDisruptionBudget protected them), and gang members do not preempt.
"""

from __future__ import annotations

from array import array

import numpy as np
import numpy.typing as npt

from sim.cluster import ClusterState
from sim.pods import PodShape, SimPod

MIN_CANDIDATES_ABSOLUTE = 100
MIN_CANDIDATES_PERCENTAGE = 10


#: the pickOneNode "top victim priority" of a node where the preemptor cannot fit (never chosen)
NO_FIT = np.iinfo(np.int64).max


class NoRoom:
    """:meth:`Preemption._find`'s answer when not even removing every lower-priority pod makes room on any
    node the pod may use (as opposed to None: room somewhere, but no candidate chosen)."""


NO_ROOM = NoRoom()


class KeyTable:
    """Remembered dry runs for one (top level, requests) context: per node, the node stamp the dry run
    was made at, its pickOneNodeForPreemption key as columns (top victim priority, sum of victim
    priorities, victim count, minus the earliest start among the top-priority victims) and its victims.

    Columns make the choice among a thousand candidates a few vector minimums instead of a Python loop.
    """

    __slots__ = ("count", "late", "stamp", "top", "total", "victims")

    def __init__(self, capacity: int) -> None:
        self.stamp: npt.NDArray[np.int64] = np.full(capacity, -1, dtype=np.int64)
        self.top: npt.NDArray[np.int64] = np.zeros(capacity, dtype=np.int64)
        self.total: npt.NDArray[np.int64] = np.zeros(capacity, dtype=np.int64)
        self.count: npt.NDArray[np.int64] = np.zeros(capacity, dtype=np.int64)
        self.late: npt.NDArray[np.float64] = np.zeros(capacity, dtype=np.float64)
        self.victims: dict[int, list[SimPod]] = {}

    def grow(self, capacity: int) -> None:
        old = self.stamp.shape[0]
        if capacity <= old:
            return
        for name in ("stamp", "top", "total", "count", "late"):
            arr = getattr(self, name)
            new = np.full(capacity, -1, dtype=arr.dtype) if name == "stamp" else np.zeros(capacity, dtype=arr.dtype)
            new[:old] = arr
            setattr(self, name, new)

    def put(self, node: int, stamp: int, victims: list[SimPod] | None) -> None:
        self.stamp[node] = stamp
        if victims is None:
            self.top[node] = NO_FIT
            self.victims.pop(node, None)
            return
        top = max(v.priority for v in victims)
        self.top[node] = top
        self.total[node] = sum(v.priority for v in victims)
        self.count[node] = len(victims)
        self.late[node] = -min(v.bound_at for v in victims if v.priority == top)
        self.victims[node] = victims

    def best(self, nodes: npt.NDArray[np.intp]) -> int:
        """The node of ``nodes`` with the smallest (top, total, count, late, node) key, or -1 when the
        preemptor fits on none of them (pickOneNodeForPreemption's criteria in order)."""
        top = self.top[nodes]
        low = top.min()
        if low == NO_FIT:
            return -1
        sel = nodes[top == low]
        for col in (self.total, self.count, self.late):
            if sel.size == 1:
                break
            vals = col[sel]
            sel = sel[vals == vals.min()]
        return int(sel.min())


class Preemption:
    """Finds victims for a pod; the engine carries out the evictions."""

    def __init__(self, cluster: ClusterState) -> None:
        self.cluster = cluster
        self.ledger = cluster.ledger
        self.offset = 0
        #: (shape key, priority) -> ClusterState.mutations when preemption last could not help
        self._hopeless: dict[tuple[object, int], int] = {}
        #: (shape key, priority) -> ClusterState.mark() when not even removing every lower-priority pod made
        #: room on any node: that stays so until a node the shape may use gains free capacity
        self._no_room: dict[tuple[object, int], tuple[int, ...]] = {}
        #: (top level, requests) -> the dry runs remembered for it, per node
        self._tables: dict[tuple[int, object], KeyTable] = {}

    def find(self, pod: SimPod) -> tuple[int, list[SimPod]] | None:
        """(node, victims) for ``pod``, or None when preemption would not help."""
        prios = self.ledger.below(pod.priority)
        if not prios:
            return None
        cluster = self.cluster
        memo = (pod.shape.key, pod.priority)
        if self._hopeless.get(memo) == cluster.mutations:
            return None  # nothing changed since the same pod shape and priority found no candidate
        mark = self._no_room.get(memo)
        if mark is not None:
            if self._still_no_room(pod, mark):
                self._no_room[memo] = pod.shape.fit_mark(cluster)
                return None
            del self._no_room[memo]
        found = self._find(pod, prios)
        if isinstance(found, NoRoom):
            self._no_room[memo] = pod.shape.fit_mark(cluster)
            return None
        if found is None:
            self._hopeless[memo] = cluster.mutations
        return found

    def _still_no_room(self, pod: SimPod, mark: tuple[int, ...]) -> bool:
        """Is "no node has room even without every lower-priority pod" (found at ``mark``) still true?

        A node's room for the pod — its free capacity plus the requests of the preemptible pods below the
        pod's priority — never grows when a pod binds (a lower-priority bind only moves
        requests from free capacity into the ledger), so only the nodes that gained free capacity since
        need a look.
        """
        cluster = self.cluster
        shape = pod.shape
        grown = shape.grown_since(cluster, mark)
        if grown is None:
            return False
        pyfree = cluster.pyfree
        pods_on = cluster.pods_on
        prio = pod.priority
        for node in grown:
            row = pyfree[node]
            for r, q in shape.req:
                room = row[r]
                if room < q:  # what the ledger's lower levels hold on this node, from its pods
                    for p in pods_on[node].values():
                        if p.priority < prio and preemptible(p):
                            room += p.shape.reqvec[r]
                    if room < q:
                        break
            else:
                return False
        return True

    def _find(self, pod: SimPod, prios: list[int]) -> tuple[int, list[SimPod]] | NoRoom | None:
        """pickOneNodeForPreemption, level by level.

        Adding the lower priority levels one at a time (lowest first), the first level ``p`` at which
        some nodes would fit is the lowest *highest-victim priority* any node can offer: on those nodes
        reprieving keeps every pod above ``p``, so their top victim is exactly ``p``, and every other
        node's is higher. Only those nodes can win the first criterion, so only they are dry-run (up to
        the usual number of candidates, from a rotating offset) for the remaining criteria.

        What keeps it cheap without changing a choice:

        - the level sums are taken over the nodes the pod's shape may use (its pool/node Filter plugins'
          mask) and only for the resources it requests (views, when those are contiguous), adding the
          levels one at a time and stopping at the first that fits; a level with no pod on those nodes
          adds nothing and is skipped (the memos in :meth:`find` keep a pod that fits nowhere from
          coming back here until a node it may use gains room);
        - each node's dry run (its victims and their pickOneNode key) is remembered against the node's
          :attr:`sim.cluster.ClusterState.stamp`, which changes whenever the node's free capacity or
          pods do — under pressure most candidates are the same untouched nodes attempt after attempt;
        - the keys are kept as columns (:class:`KeyTable`), so only the stale candidates are dry-run in
          Python and the best of up to a thousand candidates is a few vector minimums.
        """
        cluster = self.cluster
        n = cluster.n
        shape: PodShape = pod.shape
        shape.node_mask(cluster)
        eligible = shape.idx
        if eligible.size == 0:
            return NO_ROOM
        req = shape.req
        rows, need = shape.reason_rows
        ledger = self.ledger
        cap = cluster.free.shape
        # levels with no pod on a node this pod may use add nothing there: their arrays are not read (nor
        # their queued binds applied); such a level still counts as the first that fits when it is the
        # lowest and the pod fits as things are (then nothing is worth evicting)
        held = set(ledger.below(pod.priority, None if shape.per_node else shape.pools))
        levels = [ledger.level(p) if p in held else None for p in prios]
        # the requested resources of the eligible nodes: a view when those are one contiguous run (a node
        # pool) and the resources too
        if len(shape.segs) == 1:
            where = slice(*shape.segs[0])
            cum = cluster.free[rows, where]
        else:
            where = None
            cum = cluster.free[rows][:, eligible]
        # the first level at which some node fits: the lower levels added one at a time, lowest first
        first = -1
        ok = None
        for i, level in enumerate(levels):
            if level is not None:
                cum = cum + (level[rows, where] if where is not None else level[rows][:, eligible])
            elif i:
                continue  # nothing added: it fits nowhere still
            fit = (cum >= need).all(axis=0)
            if fit.any():
                first, ok = i, fit
                break
        if ok is None:  # not even removing every lower-priority pod makes room anywhere
            return NO_ROOM
        top_level = prios[first]
        nodes = eligible[ok]
        want = max(MIN_CANDIDATES_ABSOLUTE, n * MIN_CANDIDATES_PERCENTAGE // 100)
        start = int(nodes.searchsorted(self.offset % n))
        order = np.concatenate((nodes[start:], nodes[:start]))[:want]
        old = self.offset
        self.offset = int(order[-1]) + 1
        if cluster.log.forked:  # a search cursor: part of the what-if snapshot
            cluster.log.record(lambda: setattr(self, "offset", old))
        table = self._tables.get((top_level, req))
        if table is None:
            table = self._tables[(top_level, req)] = KeyTable(cap[1])
        else:
            table.grow(cap[1])
        stamp = cluster.stamp
        if isinstance(stamp, array):  # the node stamps as int64 without a copy (a view for this call only)
            stamps = np.frombuffer(stamp, dtype=np.int64)[order]
        else:
            stamps = np.fromiter(map(stamp.__getitem__, order.tolist()), dtype=np.int64, count=order.size)
        stale = (table.stamp[order] != stamps).nonzero()[0]
        if stale.size:
            for node, at in zip(order[stale].tolist(), stamps[stale].tolist(), strict=True):
                table.put(node, at, self._victims(pod, node, top_level))
        best = table.best(order)
        if best < 0:
            return None
        return best, list(table.victims[best])

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
