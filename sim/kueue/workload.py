"""The scheduler's bookkeeping for one Workload, the way Kueue's ``workload.Info`` carries it.

Mirrors ``pkg/workload/workload.go`` (``Info``: the Workload, its ClusterQueue, its total requests and
the queue-order timestamp) plus the state the queue manager and the admission path keep on it: where it
sits in its ClusterQueue's queue, its requeue count and backoff, its admission and usage, and the last
pending message reported for it.
"""

from __future__ import annotations

from typing import Any

from sim.kueue.types import PENDING, Admission, FlavorResource, QueuedWorkload

#: a queue position: (−priority, queue-order timestamp, key): smaller comes first
QueueOrder = tuple[int, float, str]


class WorkloadInfo:
    __slots__ = ("admission", "admitted_at", "cluster_queue", "enqueued_stamp", "heap_stamp", "key", "message",
                 "order_timestamp", "parked_epoch", "pods_ready", "queue_order", "reported_message",
                 "requeue_at", "requeue_count", "shape", "state", "total_usage", "workload")

    def __init__(self, workload: QueuedWorkload) -> None:
        self.workload = workload
        self.key = workload.key  # ``namespace/name``
        self.cluster_queue: str | None = None
        self.state = PENDING
        #: Kueue's queue-order timestamp: creation, or the eviction time (requeuingStrategy Eviction)
        self.order_timestamp = workload.creation
        self.queue_order: QueueOrder = (-workload.priority, workload.creation, workload.key)
        self.requeue_count = 0
        self.requeue_at: float | None = None
        self.admission: Admission | None = None
        self.admitted_at = 0.0
        self.total_usage: dict[FlavorResource, int] = {}
        self.pods_ready = False
        self.message = ""
        #: the pending message last reported in ``CycleResult.pending_events`` (None: none since admission)
        self.reported_message: str | None = None
        #: the stamp of the enqueue that put it in its queue last
        self.enqueued_stamp = 0
        #: the stamp of its live heap entry while it is queued, else −1 (older heap entries are stale)
        self.heap_stamp = -1
        #: the parking epoch of its ClusterQueue in which it was parked as a failed head, else −1
        self.parked_epoch = -1
        #: Kueue's scheduling equivalence hash: workloads with the same shape get the same flavor
        #: assignment from the same quota state (interned to an int on submission)
        self.shape: Any = (workload.priority, tuple(
            (ps.name, ps.count, tuple(sorted(ps.requests.items())), tuple(sorted(ps.node_selector.items())),
             repr(list(ps.tolerations)), repr(list(ps.node_affinity_terms)), ps.min_count)
            for ps in workload.pod_sets))

    def set_order_timestamp(self, timestamp: float) -> None:
        self.order_timestamp = timestamp
        self.queue_order = (-self.workload.priority, timestamp, self.workload.key)
