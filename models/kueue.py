"""Kueue's API objects as kubetwin reads them: ResourceFlavor, ClusterQueue, LocalQueue and the
``waitForPodsReady`` part of Kueue's Configuration.

These mirror ``kueue.x-k8s.io/v1beta1`` and ``v1beta2`` (``apis/kueue/*/clusterqueue_types.go``,
``resourceflavor_types.go``, ``localqueue_types.go``, ``apis/config/*/configuration_types.go``). Both
versions load into the same models; the few differences are folded in here:

* the cohort is ``spec.cohort`` in v1beta1 and ``spec.cohortName`` in v1beta2 (:attr:`ClusterQueueSpec.
  cohort_ref` reads either);
* ``flavorFungibility`` accepts the deprecated v1beta1 words ``Borrow`` and ``Preempt`` and folds them
  into their new name ``MayStopSearch``;
* ``waitForPodsReady`` is on by default (Kueue >= 0.19, where the v1beta2 Configuration has no
  ``enable`` switch); ``enable: false`` (the v1beta1 spelling, ``enabled`` is accepted too) turns it off.

Quantities are checked with :mod:`models.quantity` and kept as written; ``*_milli`` helpers give the
integer milli-units the engine works in. Fields we do not model are kept (``extra="allow"``) and
reported by :func:`unmodelled_fields` so a loader can turn each into a warning - never silence.
Server-populated metadata (uid, resourceVersion, creationTimestamp, ...) is accepted without a warning:
it carries no intent.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from models.duration import DurationError, parse_duration
from models.errors import InputError
from models.quantity import QuantityError, parse_quantity

KUEUE_GROUP = "kueue.x-k8s.io"
KUEUE_VERSIONS = ("v1beta1", "v1beta2")

QueueingStrategy = Literal["BestEffortFIFO", "StrictFIFO"]
WithinClusterQueuePolicy = Literal["Never", "LowerPriority", "LowerOrNewerEqualPriority"]
ReclaimWithinCohortPolicy = Literal["Never", "LowerPriority", "Any"]
BorrowWithinCohortPolicy = Literal["Never", "LowerPriority"]
FungibilityPolicy = Literal["MayStopSearch", "TryNextFlavor"]
FungibilityPreference = Literal["BorrowingOverPreemption", "PreemptionOverBorrowing"]
RequeuingTimestamp = Literal["Eviction", "Creation"]

# metadata the API server fills in; accepted silently because it says nothing about intent
_SERVER_METADATA = frozenset({
    "uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "finalizers",
    "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences", "generateName",
})


class KubeModel(BaseModel):
    """Base of every Kubernetes-shaped model: camelCase aliases, unknown fields kept for warnings."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow",
                              frozen=False)


def unmodelled_fields(model: BaseModel, path: str = "") -> list[str]:
    """Dotted paths of every field present in the input that no model field consumed."""
    out: list[str] = []
    for key in sorted(model.model_extra or {}):
        if path.endswith("metadata") and key in _SERVER_METADATA:
            continue
        out.append(f"{path}.{key}" if path else key)
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        alias = info.alias or name
        sub = f"{path}.{alias}" if path else alias
        if isinstance(value, BaseModel):
            out.extend(unmodelled_fields(value, sub))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, BaseModel):
                    out.extend(unmodelled_fields(item, f"{sub}[{i}]"))
    return out


def _check_quantity(v: Any) -> Any:
    if v is None:
        return v
    try:
        parse_quantity(v)
    except QuantityError as e:
        raise ValueError(str(e)) from None
    return v


def _milli(v: str | int | float | None) -> int | None:
    return None if v is None else parse_quantity(v).to_milli()


class ObjectMeta(KubeModel):
    name: str
    namespace: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class Taint(KubeModel):
    key: str
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]


class Toleration(KubeModel):
    key: str | None = None
    operator: Literal["Exists", "Equal"] | None = None
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = None


# ---------------------------------------------------------------------------------------------------
# ResourceFlavor


class ResourceFlavorSpec(KubeModel):
    node_labels: dict[str, str] = Field(default_factory=dict)
    node_taints: list[Taint] = Field(default_factory=list)
    tolerations: list[Toleration] = Field(default_factory=list)
    topology_name: str | None = None


class ResourceFlavor(KubeModel):
    api_version: str | None = None
    kind: Literal["ResourceFlavor"] | None = None
    metadata: ObjectMeta
    spec: ResourceFlavorSpec = Field(default_factory=ResourceFlavorSpec)

    @property
    def name(self) -> str:
        return self.metadata.name


# ---------------------------------------------------------------------------------------------------
# ClusterQueue


QuantityField = str | int | float


class ResourceQuota(KubeModel):
    name: str
    nominal_quota: QuantityField = 0
    borrowing_limit: QuantityField | None = None
    lending_limit: QuantityField | None = None

    @field_validator("nominal_quota", "borrowing_limit", "lending_limit")
    @classmethod
    def _quantity(cls, v: Any) -> Any:
        return _check_quantity(v)

    @property
    def nominal_milli(self) -> int:
        return parse_quantity(self.nominal_quota).to_milli()

    @property
    def borrowing_limit_milli(self) -> int | None:
        return _milli(self.borrowing_limit)

    @property
    def lending_limit_milli(self) -> int | None:
        return _milli(self.lending_limit)


class FlavorQuotas(KubeModel):
    name: str
    resources: list[ResourceQuota] = Field(default_factory=list)


class ResourceGroup(KubeModel):
    covered_resources: list[str] = Field(default_factory=list)
    flavors: list[FlavorQuotas] = Field(default_factory=list)


class BorrowWithinCohort(KubeModel):
    policy: BorrowWithinCohortPolicy = "Never"
    max_priority_threshold: int | None = None


class ClusterQueuePreemption(KubeModel):
    within_cluster_queue: WithinClusterQueuePolicy = "Never"
    reclaim_within_cohort: ReclaimWithinCohortPolicy = "Never"
    borrow_within_cohort: BorrowWithinCohort = Field(default_factory=BorrowWithinCohort)


class FlavorFungibility(KubeModel):
    when_can_borrow: FungibilityPolicy = "MayStopSearch"
    when_can_preempt: FungibilityPolicy = "TryNextFlavor"
    preference: FungibilityPreference | None = None

    @field_validator("when_can_borrow", "when_can_preempt", mode="before")
    @classmethod
    def _old_names(cls, v: Any) -> Any:
        # v1beta1 spelled MayStopSearch as Borrow (whenCanBorrow) and Preempt (whenCanPreempt)
        return "MayStopSearch" if v in ("Borrow", "Preempt") else v


class ClusterQueueSpec(KubeModel):
    resource_groups: list[ResourceGroup] = Field(default_factory=list)
    cohort: str | None = None  # v1beta1
    cohort_name: str | None = None  # v1beta2
    queueing_strategy: QueueingStrategy = "BestEffortFIFO"
    namespace_selector: dict[str, Any] | None = None
    flavor_fungibility: FlavorFungibility = Field(default_factory=FlavorFungibility)
    preemption: ClusterQueuePreemption = Field(default_factory=ClusterQueuePreemption)

    @property
    def cohort_ref(self) -> str | None:
        """The cohort, whichever version's field named it (empty means none)."""
        return self.cohort_name or self.cohort or None


class ClusterQueue(KubeModel):
    api_version: str | None = None
    kind: Literal["ClusterQueue"] | None = None
    metadata: ObjectMeta
    spec: ClusterQueueSpec = Field(default_factory=ClusterQueueSpec)

    @property
    def name(self) -> str:
        return self.metadata.name


# ---------------------------------------------------------------------------------------------------
# LocalQueue


class LocalQueueSpec(KubeModel):
    cluster_queue: str


class LocalQueue(KubeModel):
    api_version: str | None = None
    kind: Literal["LocalQueue"] | None = None
    metadata: ObjectMeta
    spec: LocalQueueSpec

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str:
        return self.metadata.namespace or "default"

    @property
    def key(self) -> str:
        """``namespace/name``, how workloads refer to it (label ``kueue.x-k8s.io/queue-name`` + namespace)."""
        return f"{self.namespace}/{self.name}"


# ---------------------------------------------------------------------------------------------------
# Configuration: waitForPodsReady


class RequeuingStrategy(KubeModel):
    timestamp: RequeuingTimestamp = "Eviction"
    backoff_base_seconds: int = Field(default=60, ge=0)
    backoff_max_seconds: int = Field(default=3600, ge=0)
    backoff_limit_count: int | None = Field(default=None, ge=0)


def _check_duration(v: Any) -> Any:
    if v is None:
        return v
    try:
        parse_duration(v)
    except DurationError as e:
        raise ValueError(str(e)) from None
    return v


class WaitForPodsReady(KubeModel):
    enable: bool = Field(default=True, validation_alias=AliasChoices("enable", "enabled"))
    timeout: str = "30m"
    block_admission: bool = False
    recovery_timeout: str | None = None
    requeuing_strategy: RequeuingStrategy = Field(default_factory=RequeuingStrategy)

    @field_validator("timeout", "recovery_timeout", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> Any:
        return _check_duration(v)

    @property
    def timeout_seconds(self) -> float:
        return parse_duration(self.timeout)

    @property
    def recovery_timeout_seconds(self) -> float | None:
        """Defaults to ``timeout``; ``0s`` (returned as ``None``) disables the recovery check."""
        s = self.timeout_seconds if self.recovery_timeout is None else parse_duration(self.recovery_timeout)
        return s or None


# ---------------------------------------------------------------------------------------------------
# What a scenario holds inline under spec.kueue


class KueueSection(KubeModel):
    resource_flavors: list[ResourceFlavor] = Field(default_factory=list)
    cluster_queues: list[ClusterQueue] = Field(default_factory=list)
    local_queues: list[LocalQueue] = Field(default_factory=list)
    wait_for_pods_ready: WaitForPodsReady = Field(default_factory=WaitForPodsReady)

    def warnings(self, prefix: str = "spec.kueue") -> list[str]:
        """One message per field present in the input that kubetwin does not model."""
        return [f"{p}: field is not modelled by kubetwin and is ignored"
                for p in unmodelled_fields(self, prefix)]


KueueObject = ResourceFlavor | ClusterQueue | LocalQueue
_KINDS: dict[str, type[ResourceFlavor] | type[ClusterQueue] | type[LocalQueue]] = {
    "ResourceFlavor": ResourceFlavor, "ClusterQueue": ClusterQueue, "LocalQueue": LocalQueue,
}
KUEUE_KINDS = tuple(_KINDS)


def field_path(loc: tuple[int | str, ...], prefix: str = "") -> str:
    """``("spec", "resourceGroups", 0, "flavors")`` → ``spec.resourceGroups[0].flavors``."""
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def input_error_from(e: ValidationError, *, file: str | None, prefix: str = "",
                     line: int | None = None) -> InputError:
    """The first pydantic error as an :class:`InputError` naming the field path."""
    err = e.errors()[0]
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    msg = err["msg"].removeprefix("Value error, ")
    fix = None
    if err["type"] == "literal_error":
        fix = f"use one of {err.get('ctx', {}).get('expected', '')}"
    elif err["type"] == "missing":
        msg = "required field is missing"
    return InputError(msg, file=file, field=field_path(loc, prefix) or None, fix=fix, line=line)


def parse_kueue_object(doc: dict[str, Any], *, file: str | None = None,
                       prefix: str = "") -> tuple[KueueObject, list[str]]:
    """Validate one Kueue object (``kind`` selects the model) and list its unmodelled fields."""
    kind = doc.get("kind")
    model = _KINDS.get(str(kind))
    if model is None:
        raise InputError(f"kind {kind!r} is not a Kueue object kubetwin reads", file=file,
                         field=field_path(("kind",), prefix), fix=f"use one of {', '.join(KUEUE_KINDS)}")
    try:
        obj = model.model_validate(doc)
    except ValidationError as e:
        raise input_error_from(e, file=file, prefix=prefix) from None
    warnings = [f"{p}: field is not modelled by kubetwin and is ignored"
                for p in unmodelled_fields(obj, prefix)]
    api_version = doc.get("apiVersion")
    if isinstance(obj, ClusterQueue) and api_version == f"{KUEUE_GROUP}/v1beta2" and obj.spec.cohort:
        warnings.append(f"{field_path(('spec', 'cohort'), prefix)}: v1beta2 names the cohort "
                        "spec.cohortName; spec.cohort (v1beta1) is used")
    return obj, warnings


def parse_kueue_section(data: dict[str, Any], *, file: str | None = None,
                        prefix: str = "spec.kueue") -> tuple[KueueSection, list[str]]:
    """Validate an inline ``spec.kueue`` section; errors name the field, warnings list unmodelled ones."""
    try:
        section = KueueSection.model_validate(data)
    except ValidationError as e:
        raise input_error_from(e, file=file, prefix=prefix) from None
    return section, section.warnings(prefix)
