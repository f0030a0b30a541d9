"""Kueue's queue manager: each ClusterQueue's pending workloads, its head, and inadmissible parking.

Mirrors ``pkg/queue/manager.go`` and ``cluster_queue.go``. A ClusterQueue keeps its queued workloads
ordered by priority (higher first), then queue-order timestamp, then key. ``Heads`` gives at most one
workload per ClusterQueue per cycle. Under ``StrictFIFO`` a head that cannot be admitted stays the head;
under ``BestEffortFIFO`` it is parked as *inadmissible* together with every queued workload of the same
shape (Kueue's SchedulingEquivalenceHashing), until quota is released in its ClusterQueue or cohort
(``QueueInadmissibleWorkloads``). A workload waiting for its preemptions sticks at the head of its
BestEffortFIFO queue (Kueue's ``preemptorWorkload``).

For speed, queued workloads sit in one heap per equivalence shape and parked workloads are not moved out
of their heap: parking is recorded per shape in a *parking log* and read back lazily; a release starts a
new parking *epoch*, which un-parks everything at once.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable

from sim.kueue.quota import ClusterQueue
from sim.kueue.types import PENDING
from sim.kueue.workload import QueueOrder, WorkloadInfo

#: a heap entry: (queue order, enqueue stamp, workload); stale when the stamp is not the workload's
HeapEntry = tuple[QueueOrder, int, WorkloadInfo]
#: a parking record: (stamp, queue order of the head the pop returned or None, message, epoch)
ParkingRecord = tuple[int, QueueOrder | None, str, int]


class PendingQueue:
    """One ClusterQueue's queue: pending and parked workloads, per shape."""

    __slots__ = ("epoch", "heaps", "idle", "name", "parked_shapes", "parking_log", "parking_log_limit",
                 "preemptor", "strict_fifo")

    def __init__(self, cq: ClusterQueue) -> None:
        self.name = cq.name
        self.strict_fifo = cq.strict_fifo
        self.heaps: dict[int, list[HeapEntry]] = {}
        #: per shape, the pops that parked queued workloads of that shape (which are parked, with which
        #: message, follows from it); a release starts a new epoch
        self.parking_log: dict[int, list[ParkingRecord]] = {}
        self.parking_log_limit: dict[int, int] = {}  # log length that triggers pruning
        self.epoch = 0
        #: the last pop found no head and nothing was queued, unqueued, parked or released since: the
        #: next pop finds none either, and parks nothing new
        self.idle = False
        #: the workload waiting for its preemptions to complete (Kueue's preemptorWorkload)
        self.preemptor: str | None = None
        #: shapes found inadmissible since quota was last released here, with their message: queued
        #: workloads of these shapes are parked when they reach the head, without a flavor assignment
        self.parked_shapes: dict[int, str] = {}


class QueueManager:
    """Every ClusterQueue's :class:`PendingQueue`; ``workloads`` is the core's key → workload map."""

    __slots__ = ("_cohorts", "_stamp", "queues", "workloads")

    def __init__(self, cluster_queues: Iterable[ClusterQueue], cohorts: dict[str, list[ClusterQueue]],
                 workloads: dict[str, WorkloadInfo]) -> None:
        self.queues = {cq.name: PendingQueue(cq) for cq in cluster_queues}
        self._cohorts = {name: [self.queues[m.name] for m in members] for name, members in cohorts.items()}
        self.workloads = workloads
        self._stamp = 0  # orders enqueues and parking pops

    def enqueue(self, w: WorkloadInfo) -> None:
        queue = self.queues[w.cluster_queue or ""]
        self._stamp += 1
        w.state = PENDING
        w.enqueued_stamp = w.heap_stamp = self._stamp
        w.parked_epoch = -1
        heap = queue.heaps.get(w.shape)
        if heap is None:
            heap = queue.heaps[w.shape] = []
        heapq.heappush(heap, (w.queue_order, w.heap_stamp, w))
        queue.idle = False

    def park(self, w: WorkloadInfo) -> None:
        """``w`` (just requeued) failed as the head: park it and, from now on, its shape."""
        queue = self.queues[w.cluster_queue or ""]
        w.parked_epoch = queue.epoch
        # SchedulingEquivalenceHashing (on by default since Kueue 0.18): every queued workload of the
        # same shape would fail the same way; they are parked as they reach the head
        queue.parked_shapes[w.shape] = w.message
        queue.idle = False

    def _unqueue(self, queue: PendingQueue, w: WorkloadInfo) -> None:
        """Take a queued workload out of its queue, keeping the message its last parking gave it."""
        if queue.parking_log.get(w.shape):
            message = self.parked(queue, w)[1]
            if message is not None:
                w.message = message
        w.heap_stamp = -1
        queue.idle = False
        heap = queue.heaps.get(w.shape)
        if heap is not None:
            while heap and heap[0][1] != heap[0][2].heap_stamp:
                heapq.heappop(heap)
            if not heap:
                del queue.heaps[w.shape]
                queue.parking_log.pop(w.shape, None)

    def parked(self, queue: PendingQueue, w: WorkloadInfo) -> tuple[bool, str | None]:
        """(is the queued ``w`` parked now, the message of its last parking since it was queued, if any)."""
        parked_as_head = w.parked_epoch == queue.epoch and w.parked_epoch >= 0
        records = queue.parking_log.get(w.shape)
        if not records:
            return parked_as_head, None
        since, order = w.enqueued_stamp, w.queue_order
        i = len(records) - 1
        while i >= 0 and records[i][0] > since:
            epoch = records[i][3]
            first: str | None = None
            while i >= 0 and records[i][3] == epoch and records[i][0] > since:
                head_order = records[i][1]
                if head_order is None or order < head_order:
                    first = records[i][2]
                i -= 1
            if first is not None and epoch != w.parked_epoch:
                return parked_as_head or epoch == queue.epoch, first
        return parked_as_head, None

    def is_parked(self, w: WorkloadInfo) -> tuple[bool, str | None]:
        return self.parked(self.queues[w.cluster_queue or ""], w)

    def pop_head(self, queue: PendingQueue) -> WorkloadInfo | None:
        """Kueue's queue head: workloads of parked shapes that come before it are parked (lazily)."""
        if queue.idle:
            return None
        strict = queue.strict_fifo
        if queue.preemptor is not None and not strict:
            preemptor = self.workloads.get(queue.preemptor)
            if (preemptor is not None and preemptor.heap_stamp >= 0 and preemptor.cluster_queue == queue.name
                    and not self.parked(queue, preemptor)[0]):
                self._unqueue(queue, preemptor)
                return preemptor
        parked_shapes = queue.parked_shapes
        best: HeapEntry | None = None
        empty: list[int] = []
        for shape, heap in queue.heaps.items():
            while heap and heap[0][1] != heap[0][2].heap_stamp:
                heapq.heappop(heap)
            if not heap:
                empty.append(shape)
                continue
            if not strict and shape in parked_shapes:
                continue
            if best is None or heap[0][0] < best[0]:
                best = heap[0]
        for shape in empty:
            del queue.heaps[shape]
            queue.parking_log.pop(shape, None)
        if parked_shapes and not strict:
            self._log_parking(queue, best[0] if best is not None else None)
        if best is None:
            queue.idle = True
            return None
        w = best[2]
        self._unqueue(queue, w)
        return w

    def _log_parking(self, queue: PendingQueue, head_order: QueueOrder | None) -> None:
        """Record that every queued workload of a parked shape ahead of ``head_order`` is parked."""
        self._stamp += 1
        for shape, message in queue.parked_shapes.items():
            shape_heap = queue.heaps.get(shape)
            if not shape_heap or (head_order is not None and shape_heap[0][0] >= head_order):
                continue  # nothing of this shape comes before the head
            records = queue.parking_log.get(shape)
            if records is None:
                records = queue.parking_log[shape] = []
            if (records and records[-1][1] == head_order and records[-1][2] == message
                    and records[-1][3] == queue.epoch):
                records[-1] = (self._stamp, head_order, message, queue.epoch)
            else:
                records.append((self._stamp, head_order, message, queue.epoch))
                if len(records) > queue.parking_log_limit.get(shape, 64):
                    # records before the oldest queued workload of the shape joined can go
                    oldest = min(e[2].enqueued_stamp for e in shape_heap if e[1] == e[2].heap_stamp)
                    records[:] = [r for r in records if r[0] > oldest]
                    queue.parking_log_limit[shape] = 2 * (len(records) + len(shape_heap)) + 64

    def dequeue(self, w: WorkloadInfo) -> None:
        """Take ``w`` out of its queue for good (it finished while pending)."""
        if w.cluster_queue is None:
            return
        queue = self.queues[w.cluster_queue]
        if queue.preemptor == w.key:
            queue.preemptor = None
        if w.heap_stamp >= 0:
            self._unqueue(queue, w)

    def requeue_inadmissible(self, scope: str) -> None:
        """Quota was released in a ClusterQueue or cohort: every parked workload there retries."""
        members = self._cohorts.get(scope) or ([self.queues[scope]] if scope in self.queues else [])
        for queue in members:
            if queue.parked_shapes:
                queue.parked_shapes = {}
                queue.epoch += 1
                queue.idle = False

    def pending_workloads(self, name: str) -> list[str]:
        """Keys queued in a ClusterQueue in queue order, then the parked (inadmissible) ones sorted."""
        queue = self.queues[name]
        queued = [(order, w) for heap in queue.heaps.values() for order, stamp, w in heap
                  if stamp == w.heap_stamp]
        pending: list[tuple[QueueOrder, str]] = []
        parked: list[str] = []
        for order, w in queued:
            if self.parked(queue, w)[0]:
                parked.append(w.key)
            else:
                pending.append((order, w.key))
        return [key for _, key in sorted(pending)] + sorted(parked)
