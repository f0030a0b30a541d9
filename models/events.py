"""The typed payloads of the timeline: one definition of ``data`` per event type.

A timeline event's envelope (``seq``, ``t``, ``type``, ``obj``, ``node``, ``group``, ``reason``) is fixed
by :mod:`models.timeline`; what each type carries in ``data`` is fixed here, once, as a ``TypedDict``.
The simulator, the live recorder's normalizer and the checks all write or read these shapes; the test
suite validates every event of the bundled scenarios' timelines and of the normalizer's output against
them, and checks ``docs/timeline.md`` lists exactly these keys — so the three cannot drift apart.

Keys are camelCase like Kubernetes'; quantities are canonical Kubernetes strings; times are seconds
since the run started. ``NotRequired`` keys may be absent (e.g. a recording cannot know a pod's
runtime ahead of time).
"""

from typing import Any, NotRequired

from typing_extensions import TypedDict  # pydantic needs it on Python < 3.12

Quantities = dict[str, str]


class RunStartedData(TypedDict):
    schemaVersion: int
    source: str
    seed: NotRequired[int]
    scenario: NotRequired[str]
    startedAt: NotRequired[str]
    duration: NotRequired[float]
    waitForPodsReady: NotRequired[dict[str, Any]]
    scheduler: NotRequired[dict[str, Any]]
    bindWindowSeconds: NotRequired[float]
    autoscaler: NotRequired[dict[str, Any]]
    serving: NotRequired[dict[str, Any]]
    dra: NotRequired[dict[str, Any]]


class RunFinishedData(TypedDict):
    pending: int


class NodeProvisioningData(TypedDict):
    pool: str


class DeviceData(TypedDict):
    driver: str
    pool: str
    device: str
    attributes: NotRequired[dict[str, Any]]
    capacity: NotRequired[dict[str, Any]]
    requestPolicy: NotRequired[dict[str, Any]]
    allowMultipleAllocations: NotRequired[bool]
    consumesCounters: NotRequired[list[dict[str, Any]]]
    taints: NotRequired[list[dict[str, Any]]]


class NodeReadyData(TypedDict):
    pool: NotRequired[str]
    labels: dict[str, str]
    taints: list[dict[str, Any]]
    allocatable: Quantities
    pricePerHour: NotRequired[float]
    devices: NotRequired[list[DeviceData]]
    sharedCounters: NotRequired[list[dict[str, Any]]]
    preexisting: NotRequired[bool]
    derived: NotRequired[bool]


class NodeRemovedData(TypedDict):
    pool: NotRequired[str]
    derived: NotRequired[bool]


class PodCreatedData(TypedDict):
    requests: Quantities
    priority: int
    workload: NotRequired[str]
    owner: NotRequired[dict[str, str]]
    nodeSelector: NotRequired[dict[str, str]]
    tolerations: NotRequired[list[dict[str, Any]]]
    affinity: NotRequired[dict[str, Any]]
    claims: NotRequired[list[str]]
    containers: NotRequired[list[dict[str, Any]]]
    podSet: NotRequired[str]
    runtimeSeconds: NotRequired[float]
    preexisting: NotRequired[bool]
    derived: NotRequired[bool]


class EmptyData(TypedDict):
    derived: NotRequired[bool]
    preexisting: NotRequired[bool]


class FailedSchedulingData(TypedDict):
    attempts: NotRequired[int]
    #: the PodScheduled=False condition's reason a scheduler other than kube-scheduler set (Volcano:
    #: ``Unschedulable`` or ``Schedulable``)
    conditionReason: NotRequired[str]


class PreemptedData(TypedDict):
    preemptor: NotRequired[str]


class PodSetData(TypedDict):
    name: str
    count: int
    minCount: NotRequired[int]
    requests: Quantities


class QueueConfiguredData(TypedDict):
    cohort: NotRequired[str]
    queueingStrategy: NotRequired[str]
    resourceGroups: NotRequired[list[dict[str, Any]]]
    preemption: NotRequired[dict[str, Any]]
    admissionChecks: NotRequired[list[dict[str, Any]]]
    clusterQueue: NotRequired[str]


class WorkloadCreatedData(TypedDict):
    policy: str
    queue: NotRequired[str]
    clusterQueue: NotRequired[str]
    minCount: int
    pods: int
    priority: NotRequired[int]
    workload: NotRequired[str]
    podSets: list[PodSetData]
    timeoutSeconds: NotRequired[float]
    minTaskMember: NotRequired[dict[str, int]]
    preexisting: NotRequired[bool]
    derived: NotRequired[bool]


class QuotaReservedData(TypedDict):
    clusterQueue: str
    flavors: NotRequired[dict[str, dict[str, str]]]
    usage: NotRequired[dict[str, Quantities]]
    borrowed: NotRequired[bool]
    admissionChecks: NotRequired[list[str]]
    derived: NotRequired[bool]


class ProvisioningRequestCreatedData(TypedDict):
    workload: str
    admissionCheck: str
    provisioningClassName: str
    attempt: int
    parameters: NotRequired[dict[str, str]]
    podSets: list[dict[str, Any]]


class ProvisionedData(TypedDict):
    provisioningClassName: str
    message: str
    nodes: NotRequired[list[str]]


class NotProvisionedData(TypedDict):
    provisioningClassName: str
    message: str
    retryAt: NotRequired[float]
    nodeGroups: NotRequired[dict[str, str]]


class ProvisioningFailedData(TypedDict):
    provisioningClassName: str
    message: str


class BookingExpiredData(TypedDict):
    provisioningClassName: str
    message: str
    missing: int


# ``from`` is a Python keyword: the functional form
AdmissionCheckUpdatedData = TypedDict("AdmissionCheckUpdatedData", {
    "admissionCheck": str, "from": str, "to": str, "message": NotRequired[str],
    "provisioningRequest": NotRequired[str]})


class AdmittedData(TypedDict):
    clusterQueue: NotRequired[str]
    derived: NotRequired[bool]


class EvictedData(TypedDict):
    clusterQueue: NotRequired[str]
    preemptor: NotRequired[str]
    message: NotRequired[str]
    derived: NotRequired[bool]


class RequeuedData(TypedDict):
    backoffSeconds: NotRequired[float]
    requeueAt: NotRequired[float | None]
    derived: NotRequired[bool]


class GangTimedOutData(TypedDict):
    waitingSince: float
    timeoutSeconds: float
    waiting: list[str]
    bound: int


class PodGroupPhaseData(TypedDict):
    phase: str
    previous: NotRequired[str]
    message: NotRequired[str]


class PodGroupConditionData(TypedDict):
    type: str
    status: str
    reason: str
    message: str


class VolcanoConfiguredData(TypedDict):
    schedulePeriod: float
    actions: list[str]
    overcommitFactor: float
    queues: list[dict[str, Any]]


class PendingData(TypedDict):
    clusterQueue: NotRequired[str]
    message: NotRequired[str]


class AllocatedDeviceData(TypedDict):
    request: NotRequired[str]
    driver: str
    pool: str
    device: str
    consumedCapacity: NotRequired[Quantities]
    shareID: NotRequired[str]
    adminAccess: NotRequired[bool]
    container: NotRequired[str]


class ClaimCreatedData(TypedDict):
    pod: NotRequired[str]
    spec: NotRequired[dict[str, Any]]
    deviceClasses: NotRequired[dict[str, list[str]]]


class ClaimAllocatedData(TypedDict):
    devices: list[AllocatedDeviceData]
    reservedFor: NotRequired[list[str]]
    containers: NotRequired[dict[str, list[str]]]


class ClaimReleasedData(TypedDict):
    devices: NotRequired[list[AllocatedDeviceData]]
    pod: NotRequired[str]


class ScaleDownData(TypedDict):
    pool: NotRequired[str]


# ``from`` is a Python keyword: the ``from`` keys are declared in the functional form
ScaleUpData = TypedDict("ScaleUpData", {
    "pool": NotRequired[str], "from": NotRequired[int], "to": NotRequired[int], "pods": NotRequired[list[str]]})
RescaleData = TypedDict("RescaleData", {
    "from": NotRequired[int], "to": int, "metric": NotRequired[str], "value": NotRequired[float],
    "target": NotRequired[float]})

ScalingReplicaSetData = TypedDict("ScalingReplicaSetData", {"from": NotRequired[int], "to": int, "replicaSet": str})

#: the ``data`` shape of every event type
PAYLOADS: dict[str, type] = {
    "RunStarted": RunStartedData,
    "RunFinished": RunFinishedData,
    "NodeProvisioning": NodeProvisioningData,
    "NodeReady": NodeReadyData,
    "NodeRemoved": NodeRemovedData,
    "NodeNotSchedulable": NodeRemovedData,
    "NodeSchedulable": NodeRemovedData,
    "PodCreated": PodCreatedData,
    "Scheduled": EmptyData,
    "FailedScheduling": FailedSchedulingData,
    "PodRunning": EmptyData,
    "PodSucceeded": EmptyData,
    "PodFailed": EmptyData,
    "PodDeleted": EmptyData,
    "Preempted": PreemptedData,
    "QueueConfigured": QueueConfiguredData,
    "WorkloadCreated": WorkloadCreatedData,
    "QuotaReserved": QuotaReservedData,
    "Admitted": AdmittedData,
    "PodsReady": EmptyData,
    "Evicted": EvictedData,
    "Requeued": RequeuedData,
    "WorkloadFinished": EmptyData,
    "GangTimedOut": GangTimedOutData,
    "Pending": PendingData,
    "PodGroupPhase": PodGroupPhaseData,
    "PodGroupCondition": PodGroupConditionData,
    "VolcanoConfigured": VolcanoConfiguredData,
    "ClaimCreated": ClaimCreatedData,
    "ClaimAllocated": ClaimAllocatedData,
    "ClaimReleased": ClaimReleasedData,
    "TriggeredScaleUp": ScaleUpData,
    "NotTriggerScaleUp": ScaleUpData,
    "ScaleDown": ScaleDownData,
    "SuccessfulRescale": RescaleData,
    "ScalingReplicaSet": ScalingReplicaSetData,
    "ProvisioningRequestCreated": ProvisioningRequestCreatedData,
    "Provisioned": ProvisionedData,
    "NotProvisioned": NotProvisionedData,
    "ProvisioningFailed": ProvisioningFailedData,
    "BookingExpired": BookingExpiredData,
    "AdmissionCheckUpdated": AdmissionCheckUpdatedData,
}


def workload_created_data(policy: str, *, min_count: int, pods: int, pod_sets: list[dict[str, Any]],
                          priority: int | None = None, workload: str | None = None, queue: str | None = None,
                          cluster_queue: str | None = None, timeout: float | None = None,
                          min_task_member: dict[str, int] | None = None) -> dict[str, Any]:
    """``WorkloadCreated.data`` (:class:`WorkloadCreatedData`) in its one key order — the engine, the
    operators' expansion and the normalizer all build it here."""
    data: dict[str, Any] = {"policy": policy}
    if queue is not None:
        data["queue"] = queue
    data["minCount"] = min_count
    data["pods"] = pods
    if priority is not None:
        data["priority"] = priority
    if workload is not None:
        data["workload"] = workload
    if timeout is not None:
        data["timeoutSeconds"] = timeout
    data["podSets"] = pod_sets
    if cluster_queue is not None:
        data["clusterQueue"] = cluster_queue
    if min_task_member:
        data["minTaskMember"] = dict(min_task_member)
    return data


_adapters: dict[str, Any] = {}


def payload_problems(type_: str, data: dict[str, Any]) -> list[str]:
    """What is wrong with ``data`` as the payload of ``type_`` (unknown keys, missing keys, wrong value
    types); empty when it conforms. Unknown event types have no problems (readers skip them)."""
    shape = PAYLOADS.get(type_)
    if shape is None:
        return []
    from pydantic import TypeAdapter, ValidationError

    keys = shape.__annotations__
    problems = [f"{type_}: unknown data key {k!r}" for k in data if k not in keys]
    problems += [f"{type_}: missing data key {k!r}" for k in sorted(shape.__required_keys__) if k not in data]  # type: ignore[attr-defined]
    adapter = _adapters.get(type_)
    if adapter is None:
        adapter = _adapters[type_] = TypeAdapter(shape)
    try:
        adapter.validate_python(data, strict=False)
    except ValidationError as e:
        problems += [f"{type_}: {'.'.join(str(x) for x in err['loc'])}: {err['msg']}" for err in e.errors()]
    return problems
