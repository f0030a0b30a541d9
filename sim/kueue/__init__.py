"""Kueue's quota and admission core: queues, flavor assignment, borrowing, preemption and requeueing.

This package mirrors the scheduler of ``kubernetes-sigs/kueue`` for ClusterQueues that stand alone or
sit in one flat cohort (no Cohort objects with quota of their own, no fair sharing, no TAS, no partial
admission; admission checks are the controllers' — :mod:`sim.kueue_provisioning` — the core only releases
and requeues or deactivates on their verdict), one Kueue concept per module:

- :mod:`sim.kueue.types`: the Workload's pod sets and what a cycle decides (admissions, evictions,
  requeues, pending messages);
- :mod:`sim.kueue.workload`: the scheduler's bookkeeping per Workload (``workload.Info``);
- :mod:`sim.kueue.quota`: ClusterQueue and cohort quota arithmetic (``pkg/cache/scheduler``), forkable
  through :class:`sim.snapshot.UndoLog`;
- :mod:`sim.kueue.queues`: the queue manager (``pkg/queue``): heads, StrictFIFO / BestEffortFIFO,
  inadmissible parking;
- :mod:`sim.kueue.flavors`: the flavor assigner (``pkg/scheduler/flavorassigner``);
- :mod:`sim.kueue.preemption`: classical preemption (``pkg/scheduler/preemption``);
- :mod:`sim.kueue.cycle`: :class:`KueueCore`, the scheduling cycle in numbered phases
  (``pkg/scheduler/scheduler.go``) and the Workload lifecycle around it.

It is pure: no simpy, no I/O, no clock of its own. All quantities are integer milli-units.
"""

from sim.kueue.cycle import KueueCore
from sim.kueue.types import (
    Admission,
    CycleResult,
    Eviction,
    Pending,
    PodSetRequest,
    QueuedWorkload,
    Requeue,
    WorkloadStatus,
    backoff_seconds,
    queued_workload,
)

__all__ = [
    "Admission",
    "CycleResult",
    "Eviction",
    "KueueCore",
    "Pending",
    "PodSetRequest",
    "QueuedWorkload",
    "Requeue",
    "WorkloadStatus",
    "backoff_seconds",
    "queued_workload",
]
