"""Kueue's API objects as kubetwin reads them: ResourceFlavor, ClusterQueue, LocalQueue, AdmissionCheck,
ProvisioningRequestConfig and the ``waitForPodsReady`` part of Kueue's Configuration.

These mirror ``kueue.x-k8s.io/v1beta1`` and ``v1beta2`` (``apis/kueue/*/clusterqueue_types.go``,
``resourceflavor_types.go``, ``localqueue_types.go``, ``apis/config/*/configuration_types.go``). Both
versions load into the same models; the few differences are folded in here:

* the cohort is ``spec.cohort`` in v1beta1 and ``spec.cohortName`` in v1beta2 (:attr:`ClusterQueueSpec.
  cohort_ref` reads either);
* ``flavorFungibility`` accepts the deprecated v1beta1 words ``Borrow`` and ``Preempt`` and folds them
  into their new name ``MayStopSearch``;
* ``waitForPodsReady`` is on by default (Kueue >= 0.19, where the v1beta2 Configuration has no
  ``enable`` switch); ``enable: false`` (the v1beta1 spelling, ``enabled`` is accepted too) turns it off.

Admission checks (``apis/kueue/*/admissioncheck_types.go``, ``provisioningrequestconfig_types.go``): a
ClusterQueue lists them in ``spec.admissionChecks`` or ``spec.admissionChecksStrategy``; an AdmissionCheck
names its controller and, for ``kueue.x-k8s.io/provisioning-request``, a ProvisioningRequestConfig with the
ProvisioningRequest class, its parameters, the managed resources and the retry strategy.
:func:`check_admission_checks` rejects references that point nowhere.

Quantities are checked with :mod:`models.quantity` and kept as written; ``*_milli`` helpers give the
integer milli-units the engine works in. Fields we do not model are kept (``extra="allow"``) and
reported by :func:`unmodelled_fields` so a loader can turn each into a warning - never silence.
Server-populated metadata (uid, resourceVersion, creationTimestamp, ...) is accepted without a warning:
it carries no intent.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator
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

#: the AdmissionCheck controller of Kueue's ProvisioningRequest admission check
PROVISIONING_CONTROLLER = "kueue.x-k8s.io/provisioning-request"
#: the ProvisioningRequest classes the cluster autoscaler implements (``autoscaling.x-k8s.io/v1``)
CHECK_CAPACITY = "check-capacity.autoscaling.x-k8s.io"
BEST_EFFORT_ATOMIC = "best-effort-atomic-scale-up.autoscaling.x-k8s.io"
PROVISIONING_CLASSES = (CHECK_CAPACITY, BEST_EFFORT_ATOMIC)

# metadata the API server fills in; accepted silently because it says nothing about intent
_SERVER_METADATA = frozenset({
    "uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "finalizers",
    "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences", "generateName",
})


class KubeModel(BaseModel):
    """Base of every Kubernetes-shaped model: camelCase aliases, unknown fields kept for warnings."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow",
                              frozen=False, defer_build=True)
    #: ``file#index`` of the manifest document it came from (None: inline in the scenario)
    _source: str | None = PrivateAttr(default=None)


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


class AdmissionCheckStrategyRule(KubeModel):
    name: str
    on_flavors: list[str] = Field(default_factory=list)


class AdmissionChecksStrategy(KubeModel):
    admission_checks: list[AdmissionCheckStrategyRule] = Field(default_factory=list)


class ClusterQueueSpec(KubeModel):
    resource_groups: list[ResourceGroup] = Field(default_factory=list)
    cohort: str | None = None  # v1beta1
    cohort_name: str | None = None  # v1beta2
    queueing_strategy: QueueingStrategy = "BestEffortFIFO"
    namespace_selector: dict[str, Any] | None = None
    flavor_fungibility: FlavorFungibility = Field(default_factory=FlavorFungibility)
    preemption: ClusterQueuePreemption = Field(default_factory=ClusterQueuePreemption)
    admission_checks: list[str] = Field(default_factory=list)
    admission_checks_strategy: AdmissionChecksStrategy | None = None

    def checks_for(self, flavors: set[str]) -> list[str]:
        """The admission checks a workload assigned ``flavors`` must pass, in listed order: every
        ``admissionChecks`` entry, or the ``admissionChecksStrategy`` rules whose ``onFlavors`` is empty
        or names one of them."""
        if self.admission_checks_strategy is None:
            return list(self.admission_checks)
        return [r.name for r in self.admission_checks_strategy.admission_checks
                if not r.on_flavors or flavors & set(r.on_flavors)]

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
# AdmissionCheck and ProvisioningRequestConfig


class AdmissionCheckParametersReference(KubeModel):
    api_group: str = KUEUE_GROUP
    kind: str = "ProvisioningRequestConfig"
    name: str


class AdmissionCheckSpec(KubeModel):
    controller_name: str
    parameters: AdmissionCheckParametersReference | None = None
    retry_delay_minutes: int | None = None  # deprecated upstream, never used by Kueue


class AdmissionCheck(KubeModel):
    api_version: str | None = None
    kind: Literal["AdmissionCheck"] | None = None
    metadata: ObjectMeta
    spec: AdmissionCheckSpec

    @property
    def name(self) -> str:
        return self.metadata.name


class ProvisioningRetryStrategy(KubeModel):
    """``retryStrategy``: a failed ProvisioningRequest is retried ``backoffLimitCount`` times, after
    ``backoffBaseSeconds·2^(n−1)`` capped at ``backoffMaxSeconds`` (the workload's requeue backoff)."""

    backoff_limit_count: int = Field(default=3, ge=0)
    backoff_base_seconds: int = Field(default=60, ge=0)
    backoff_max_seconds: int = Field(default=1800, ge=0)


class ProvisioningRequestConfigSpec(KubeModel):
    provisioning_class_name: str
    parameters: dict[str, str] = Field(default_factory=dict)
    managed_resources: list[str] = Field(default_factory=list)
    retry_strategy: ProvisioningRetryStrategy = Field(default_factory=ProvisioningRetryStrategy)


class ProvisioningRequestConfig(KubeModel):
    api_version: str | None = None
    kind: Literal["ProvisioningRequestConfig"] | None = None
    metadata: ObjectMeta
    spec: ProvisioningRequestConfigSpec

    @property
    def name(self) -> str:
        return self.metadata.name


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
    admission_checks: list[AdmissionCheck] = Field(default_factory=list)
    provisioning_request_configs: list[ProvisioningRequestConfig] = Field(default_factory=list)
    wait_for_pods_ready: WaitForPodsReady = Field(default_factory=WaitForPodsReady)

    def provisioning_config(self, check: str) -> ProvisioningRequestConfig | None:
        """The ProvisioningRequestConfig of a ``kueue.x-k8s.io/provisioning-request`` AdmissionCheck."""
        for ac in self.admission_checks:
            if ac.name == check and ac.spec.controller_name == PROVISIONING_CONTROLLER and ac.spec.parameters:
                ref = ac.spec.parameters.name
                return next((c for c in self.provisioning_request_configs if c.name == ref), None)
        return None

    @property
    def uses_provisioning(self) -> bool:
        """Whether any ClusterQueue runs a ProvisioningRequest admission check."""
        return any(self.provisioning_config(name) is not None for cq in self.cluster_queues
                   for name in _all_checks(cq.spec))

    def warnings(self, prefix: str = "spec.kueue") -> list[str]:
        """One message per field present in the input that kubetwin does not model."""
        return [f"{p}: field is not modelled by kubetwin and is ignored"
                for p in unmodelled_fields(self, prefix)]


KueueObject = ResourceFlavor | ClusterQueue | LocalQueue | AdmissionCheck | ProvisioningRequestConfig
_KINDS: dict[str, type[KueueObject]] = {
    "ResourceFlavor": ResourceFlavor, "ClusterQueue": ClusterQueue, "LocalQueue": LocalQueue,
    "AdmissionCheck": AdmissionCheck, "ProvisioningRequestConfig": ProvisioningRequestConfig,
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
    obj._source = file if not prefix else None
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


def _all_checks(spec: ClusterQueueSpec) -> list[str]:
    if spec.admission_checks_strategy is not None:
        return [r.name for r in spec.admission_checks_strategy.admission_checks]
    return list(spec.admission_checks)


def _where(obj: KubeModel, scenario_file: str | None, inline: str, field: str) -> tuple[str | None, str]:
    """(file, field) of ``field`` of an object: its manifest document, or its place in ``spec.kueue``."""
    if obj._source is not None:
        return obj._source, field
    return scenario_file, f"{inline}.{field}"


def check_admission_checks(section: KueueSection, scenario_file: str | None) -> None:
    """Every admission check reference resolves: a ClusterQueue's checks exist, each AdmissionCheck runs
    the ProvisioningRequest controller (the one kubetwin models) and names an existing
    ProvisioningRequestConfig whose class the cluster autoscaler implements."""
    checks = {ac.name: ac for ac in section.admission_checks}
    configs = {c.name for c in section.provisioning_request_configs}
    for i, cq in enumerate(section.cluster_queues):
        inline = f"spec.kueue.clusterQueues[{i}]"
        spec = cq.spec
        if spec.admission_checks and spec.admission_checks_strategy is not None:
            file, field = _where(cq, scenario_file, inline, "spec.admissionChecksStrategy")
            raise InputError(f"ClusterQueue {cq.name} sets both admissionChecks and admissionChecksStrategy",
                             file=file, field=field, fix="keep one of the two (Kueue rejects both at once)")
        names = ([("spec.admissionChecks", j, n) for j, n in enumerate(spec.admission_checks)] +
                 [("spec.admissionChecksStrategy.admissionChecks", j, r.name) for j, r in
                  enumerate(spec.admission_checks_strategy.admission_checks if spec.admission_checks_strategy
                            else [])])
        for path, j, name in names:
            if name not in checks:
                file, field = _where(cq, scenario_file, inline, f"{path}[{j}]")
                known = ", ".join(sorted(checks)) or "none"
                raise InputError(f"ClusterQueue {cq.name} names AdmissionCheck {name!r}, which is not defined "
                                 f"(defined: {known})", file=file, field=field,
                                 fix="add that AdmissionCheck (spec.kueue.admissionChecks or a manifest) or fix "
                                     "the name")
    for i, ac in enumerate(section.admission_checks):
        inline = f"spec.kueue.admissionChecks[{i}]"
        if ac.spec.controller_name != PROVISIONING_CONTROLLER:
            file, field = _where(ac, scenario_file, inline, "spec.controllerName")
            raise InputError(f"AdmissionCheck {ac.name}: controller {ac.spec.controller_name!r} is not one "
                             "kubetwin runs, so its workloads would never be admitted", file=file, field=field,
                             fix=f"use {PROVISIONING_CONTROLLER}")
        ref = ac.spec.parameters
        if ref is None:
            file, field = _where(ac, scenario_file, inline, "spec.parameters")
            raise InputError(f"AdmissionCheck {ac.name} names no ProvisioningRequestConfig", file=file,
                             field=field, fix="set parameters: {apiGroup: kueue.x-k8s.io, kind: "
                                              "ProvisioningRequestConfig, name: <config>}")
        if ref.kind != "ProvisioningRequestConfig" or ref.api_group != KUEUE_GROUP:
            file, field = _where(ac, scenario_file, inline, "spec.parameters.kind")
            raise InputError(f"AdmissionCheck {ac.name}: parameters point at {ref.api_group}/{ref.kind}",
                             file=file, field=field,
                             fix="point them at a kueue.x-k8s.io ProvisioningRequestConfig")
        if ref.name not in configs:
            file, field = _where(ac, scenario_file, inline, "spec.parameters.name")
            raise InputError(f"AdmissionCheck {ac.name} names ProvisioningRequestConfig {ref.name!r}, which is "
                             "not defined", file=file, field=field,
                             fix="add that ProvisioningRequestConfig (spec.kueue.provisioningRequestConfigs or a "
                                 "manifest) or fix the name")
    for i, c in enumerate(section.provisioning_request_configs):
        if c.spec.provisioning_class_name not in PROVISIONING_CLASSES:
            file, field = _where(c, scenario_file, f"spec.kueue.provisioningRequestConfigs[{i}]",
                                 "spec.provisioningClassName")
            raise InputError(f"ProvisioningRequestConfig {c.name}: class {c.spec.provisioning_class_name!r} is not "
                             "one the cluster autoscaler implements", file=file, field=field,
                             fix=f"use {CHECK_CAPACITY} or {BEST_EFFORT_ATOMIC}")
