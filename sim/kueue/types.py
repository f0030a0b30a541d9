"""The Workload as Kueue's scheduler sees it, and what one scheduling cycle decides about it.

Mirrors the inputs and outputs of ``kubernetes-sigs/kueue``'s scheduler: a Workload's pod sets
(``apis/kueue/v1beta1/workload_types.go`` ``PodSet``), the ``Admission`` written into its status when
quota is reserved, evictions with their requeue (``pkg/workload/workload.go``), and the
``QuotaReserved=False`` reason/message a pending Workload carries. Plain frozen dataclasses; no state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from models.manifests import WorkloadManifest
from models.quantity import format_resources

#: a quota cell: (ResourceFlavor name, resource name), Kueue's ``resources.FlavorResource``
FlavorResource = tuple[str, str]

# Workload states (what :meth:`KueueCore.status` reports)
PENDING = "Pending"            # in its ClusterQueue's queue
INADMISSIBLE = "Inadmissible"  # parked (BestEffortFIFO) until quota is released nearby
BACKOFF = "Backoff"            # evicted (PodsReadyTimeout backoff, or preempted), waiting for requeueAt
ADMITTED = "Admitted"          # holds quota
FINISHED = "Finished"
DEACTIVATED = "Deactivated"    # backoffLimitCount exceeded
NO_QUEUE = "NoQueue"           # its LocalQueue does not exist


# ---------------------------------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True, slots=True)
class PodSetRequest:
    """One pod set of a workload: ``count`` pods, each asking for ``requests`` (milli-units).

    ``node_selector``, ``tolerations`` (Kubernetes shape) and ``node_affinity_terms`` (the
    ``requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms`` list, Kubernetes shape) are only
    used to skip flavors whose nodeLabels/nodeTaints the pods could never land on.
    """

    name: str
    count: int
    requests: Mapping[str, int]
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: Sequence[Mapping[str, Any]] = ()
    node_affinity_terms: Sequence[Mapping[str, Any]] = ()
    min_count: int | None = None


@dataclass(frozen=True, slots=True)
class QueuedWorkload:
    """A Kueue Workload as submitted: ``key`` is ``namespace/name``, ``queue`` the LocalQueue name."""

    key: str
    queue: str
    priority: int
    creation: float
    pod_sets: Sequence[PodSetRequest]

    @property
    def namespace(self) -> str:
        return self.key.split("/", 1)[0] if "/" in self.key else "default"


def queued_workload(manifest: WorkloadManifest, priority: int, creation: float) -> QueuedWorkload:
    """The :class:`QueuedWorkload` Kueue creates for a Job / JobSet / Workload manifest."""
    pod_sets = []
    for pod_set in manifest.pod_sets:
        template = pod_set.template
        terms = (((template.get("affinity") or {}).get("nodeAffinity") or {})
                 .get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get("nodeSelectorTerms") or ()
        pod_sets.append(PodSetRequest(pod_set.name, pod_set.count, pod_set.requests_milli(),
                                      dict(template.get("nodeSelector") or {}),
                                      tuple(template.get("tolerations") or ()), tuple(terms), pod_set.min_count))
    return QueuedWorkload(manifest.key, manifest.queue_name or "", priority, creation, tuple(pod_sets))


# ---------------------------------------------------------------------------------------------------
# Outputs


@dataclass(frozen=True, slots=True)
class Admission:
    """A quota reservation (``QuotaReserved``): which flavor each pod set got for each resource, what the
    whole workload holds per flavor, whether any of it is borrowed, and what the engine must inject into
    each pod set's pods: the assigned flavors' ``nodeLabels`` (as nodeSelector) and ``tolerations``."""

    workload: str
    cluster_queue: str
    flavors: dict[str, dict[str, str]]
    usage: dict[str, dict[str, int]]
    borrowed: bool
    node_selector: dict[str, dict[str, str]]
    tolerations: dict[str, list[dict[str, Any]]]

    def usage_strings(self) -> dict[str, dict[str, str]]:
        """``usage`` as canonical quantity strings, for the ``QuotaReserved`` event."""
        return {flavor: format_resources(resources) for flavor, resources in self.usage.items()}


@dataclass(frozen=True, slots=True)
class Requeue:
    """When an evicted workload comes back: ``requeue_at`` = eviction time + ``backoff_seconds``
    (``None`` when it was deactivated instead)."""

    workload: str
    backoff_seconds: float
    requeue_at: float | None
    count: int
    deactivated: bool = False


@dataclass(frozen=True, slots=True)
class Eviction:
    """A workload evicted in a cycle (reason ``Preempted``), with the preemptor and Kueue's message."""

    workload: str
    cluster_queue: str
    reason: str
    preemptor: str
    preemption_reason: str
    message: str
    requeue: Requeue


@dataclass(frozen=True, slots=True)
class Pending:
    """A workload not admitted in a cycle: Kueue's ``QuotaReserved=False`` reason and message, e.g.
    ``couldn't assign flavors to pod set main: resource nvidia.com/gpu unavailable in ClusterQueue``."""

    workload: str
    cluster_queue: str
    reason: str
    message: str


@dataclass(slots=True)
class CycleResult:
    """What one or more scheduling cycles decided.

    ``pending`` lists every head that was tried and not admitted, cycle by cycle. ``pending_events`` lists
    only the workloads whose pending message *changed* (the first one after submission or admission
    included): what Kueue records as a ``Pending`` event on the Workload. It is left out of ``repr`` so a
    result prints the same as before the field existed (tests compare reprs with an older core).
    """

    admissions: list[Admission] = field(default_factory=list)
    evictions: list[Eviction] = field(default_factory=list)
    pending: list[Pending] = field(default_factory=list)
    changed: bool = False
    pending_events: list[Pending] = field(default_factory=list, repr=False)

    def extend(self, other: CycleResult) -> None:
        self.admissions.extend(other.admissions)
        self.evictions.extend(other.evictions)
        self.pending.extend(other.pending)
        self.pending_events.extend(other.pending_events)
        self.changed = self.changed or other.changed


@dataclass(frozen=True, slots=True)
class WorkloadStatus:
    state: str
    cluster_queue: str | None
    message: str
    requeue_count: int
    requeue_at: float | None


def backoff_seconds(count: int, base: float = 60, cap: float = 3600) -> float:
    """Kueue's PodsReadyTimeout requeue delay for the ``count``-th requeue: ``base·2^(count−1)``, capped."""
    if count <= 0:
        return 0.0
    return float(min(base * 2 ** (count - 1), cap))
