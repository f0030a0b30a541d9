"""Dynamic Resource Allocation objects (``resource.k8s.io``): DeviceClass, ResourceSlice,
ResourceClaim and ResourceClaimTemplate.

These mirror ``k8s.io/api/resource/v1/types.go``; the ``v1beta1`` and ``v1beta2`` shapes load into
the same models:

* ``v1beta1`` wraps a device's fields in ``basic:`` (``devices[].basic.attributes``) — unwrapped here;
* ``v1beta1`` puts the request fields (``deviceClassName``, ``selectors``, ``allocationMode``,
  ``count``, ``adminAccess``, ``tolerations``, ``capacity``) directly on the request instead of under
  ``exactly:`` — folded into :attr:`DeviceRequest.exactly`;
* a capacity written as a bare quantity (``memory: 80Gi``) is read as ``{value: 80Gi}``.

Device attributes are typed (exactly one of ``int``, ``bool``, ``string``, ``version``) and keyed by
qualified name: an attribute without a domain belongs to the driver's domain
(:meth:`Device.qualified_attributes`). Fields kubetwin does not model are kept and reported as
warnings by :func:`parse_dra_object`; server metadata (uid, resourceVersion, ...) and ``status`` are
accepted silently. Every CEL selector is compiled at load time: a bad one is an
:class:`~models.errors.InputError` naming the object, the field and CEL's message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from models.errors import InputError
from models.k8s import K8sModel, PodTemplate, QuantityValue
from models.kueue import field_path, input_error_from, unmodelled_fields
from models.quantity import Quantity, QuantityError
from models.yaml_input import Loader, load_documents, locate

GROUP = "resource.k8s.io"
VERSIONS = ("v1", "v1beta1", "v1beta2")
DRA_KINDS = ("DeviceClass", "ResourceSlice", "ResourceClaim", "ResourceClaimTemplate")
#: resource/v1 limits
MAX_RESULTS_PER_CLAIM = 32
MAX_RESERVED_FOR = 256
#: the implicit extended resource name of a DeviceClass (KEP-5004)
IMPLICIT_EXTENDED_PREFIX = "deviceclass.resource.kubernetes.io/"

_REQUEST_FIELDS = ("deviceClassName", "selectors", "allocationMode", "count", "adminAccess", "tolerations",
                   "capacity")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class DRAModel(BaseModel):
    """Base of the DRA models: field names as the API spells them, unknown fields kept for warnings."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, defer_build=True)


def _check_q(v: Any) -> Any:
    if v is None:
        return v
    if isinstance(v, bool):
        raise ValueError(f"{v!r} is not a quantity")
    try:
        Quantity.parse(v)
    except QuantityError as e:
        raise ValueError(str(e)) from None
    return v


def qty(v: str | int | float) -> Quantity:
    return Quantity.parse(v)


class ObjectMeta(DRAModel):
    name: str = Field(min_length=1)
    namespace: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


# -------------------------------------------------------------------------------------------------
# ResourceSlice


class DeviceAttribute(DRAModel):
    """One typed attribute value: exactly one of int, bool, string, version."""

    int_: int | None = Field(default=None, alias="int")
    bool_: bool | None = Field(default=None, alias="bool")
    string: str | None = None
    version: str | None = None

    @model_validator(mode="after")
    def _one(self) -> DeviceAttribute:
        set_ = [k for k in ("int_", "bool_", "string", "version") if getattr(self, k) is not None]
        if len(set_) != 1:
            raise ValueError("an attribute needs exactly one of int, bool, string, version")
        if self.version is not None:
            from models.cel import semver_value  # models.cel loads when a DRA object is read

            semver_value(self.version)
        if self.int_ is not None and isinstance(self.int_, bool):
            raise ValueError("int must be an integer")
        return self

    @property
    def value(self) -> int | bool | str:
        """The plain value (a version as its text)."""
        for v in (self.int_, self.bool_, self.string, self.version):
            if v is not None:
                return v
        raise AssertionError("validated")

    def cel(self) -> Any:
        from models.cel import semver_value

        return semver_value(self.version) if self.version is not None else self.value


class ValidRange(DRAModel):
    min: str | int = Field(...)
    max: str | int | None = None
    step: str | int | None = None

    _q = field_validator("min", "max", "step")(_check_q)


class RequestPolicy(DRAModel):
    """How much of a consumable capacity one allocation takes (KEP-5075)."""

    default: str | int | None = None
    validValues: list[str | int] | None = None
    validRange: ValidRange | None = None

    _q = field_validator("default")(_check_q)

    @field_validator("validValues")
    @classmethod
    def _vv(cls, v: list[str | int] | None) -> list[str | int] | None:
        for x in v or []:
            _check_q(x)
        return v

    @model_validator(mode="after")
    def _one(self) -> RequestPolicy:
        if self.validValues is not None and self.validRange is not None:
            raise ValueError("set at most one of validValues and validRange")
        return self


class DeviceCapacity(DRAModel):
    value: str | int
    requestPolicy: RequestPolicy | None = None

    _q = field_validator("value")(_check_q)

    @property
    def quantity(self) -> Quantity:
        return qty(self.value)


class Counter(DRAModel):
    value: str | int

    _q = field_validator("value")(_check_q)


class CounterSet(DRAModel):
    name: str = Field(min_length=1)
    counters: dict[str, Counter] = Field(default_factory=dict)


class DeviceCounterConsumption(DRAModel):
    counterSet: str = Field(min_length=1)
    counters: dict[str, Counter] = Field(default_factory=dict)


class DeviceTaint(DRAModel):
    key: str = Field(min_length=1)
    value: str | None = None
    effect: Literal["NoSchedule", "NoExecute", "None"]
    timeAdded: str | None = None


def _capacity_before(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: (c if isinstance(c, dict) else {"value": c}) for k, c in v.items()}
    return v


class Device(DRAModel):
    name: str = Field(min_length=1, max_length=63)
    attributes: dict[str, DeviceAttribute] = Field(default_factory=dict)
    capacity: dict[str, DeviceCapacity] = Field(default_factory=dict)
    consumesCounters: list[DeviceCounterConsumption] = Field(default_factory=list, max_length=2)
    taints: list[DeviceTaint] = Field(default_factory=list, max_length=16)
    allowMultipleAllocations: bool = False
    nodeName: str | None = None
    nodeSelector: dict[str, Any] | None = None
    allNodes: bool | None = None
    bindsToNode: bool | None = None
    bindingConditions: list[str] = Field(default_factory=list)
    bindingFailureConditions: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _fold(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            basic = data.pop("basic", None)  # v1beta1
            if isinstance(basic, dict):
                data.update(basic)
            if "capacity" in data:
                data["capacity"] = _capacity_before(data["capacity"])
        return data

    @field_validator("name")
    @classmethod
    def _dns(cls, v: str) -> str:
        if not _DNS_LABEL.match(v):
            raise ValueError(f"device name {v!r} must be a DNS label (lower-case letters, digits, '-')")
        return v

    @model_validator(mode="after")
    def _limits(self) -> Device:
        if len(self.attributes) + len(self.capacity) > 32:
            raise ValueError("a device has at most 32 attributes and capacities together")
        return self

    def qualified_attributes(self, driver: str) -> dict[str, DeviceAttribute]:
        """Attributes by fully qualified name (an unqualified name gets the driver's domain)."""
        return {qualify(k, driver): v for k, v in self.attributes.items()}

    def qualified_capacity(self, driver: str) -> dict[str, DeviceCapacity]:
        return {qualify(k, driver): v for k, v in self.capacity.items()}


def capacity_key(name: str, driver: str) -> str:
    """A capacity's QualifiedName as the timeline writes it (``NodeReady.data.devices[].capacity``,
    ``requestPolicy`` and ``ClaimAllocated.data.devices[].consumedCapacity`` alike): without the driver's
    own domain, as devices publish it and as ResourceClaim status ``consumedCapacity`` keys it (a name
    without a domain is in the driver's domain, so ``memory`` and ``<driver>/memory`` are one name)."""
    return name.removeprefix(f"{driver}/")


def qualify(name: str, driver: str) -> str:
    """``productName`` of driver ``gpu.nvidia.com`` → ``gpu.nvidia.com/productName``."""
    return name if "/" in name else f"{driver}/{name}"


class ResourcePool(DRAModel):
    name: str = Field(min_length=1)
    generation: int = Field(default=0, ge=0)
    resourceSliceCount: int = Field(default=1, ge=1)


class ResourceSliceSpec(DRAModel):
    driver: str = Field(min_length=1)
    pool: ResourcePool
    nodeName: str | None = None
    nodeSelector: dict[str, Any] | None = None
    allNodes: bool | None = None
    perDeviceNodeSelection: bool | None = None
    devices: list[Device] = Field(default_factory=list, max_length=128)
    sharedCounters: list[CounterSet] = Field(default_factory=list, max_length=8)

    @model_validator(mode="after")
    def _check(self) -> ResourceSliceSpec:
        names = [d.name for d in self.devices]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"device name {dup[0]!r} appears twice in the slice")
        sets = {s.name for s in self.sharedCounters}
        for d in self.devices:
            for c in d.consumesCounters:
                if self.sharedCounters and c.counterSet not in sets:
                    raise ValueError(f"device {d.name!r} consumes counter set {c.counterSet!r}, which this "
                                     f"slice does not define (it defines {sorted(sets)})")
        return self


class ResourceSlice(DRAModel):
    apiVersion: str = f"{GROUP}/v1"
    kind: Literal["ResourceSlice"] = "ResourceSlice"
    metadata: ObjectMeta
    spec: ResourceSliceSpec


# -------------------------------------------------------------------------------------------------
# DeviceClass and requests


class CELSelector(DRAModel):
    expression: str = Field(min_length=1)

    @field_validator("expression")
    @classmethod
    def _compiles(cls, v: str) -> str:
        from models.cel import CelError, compile_selector

        try:
            compile_selector(v)
        except CelError as e:
            raise ValueError(f"CEL selector does not compile: {e}") from None
        return v


class DeviceSelector(DRAModel):
    cel: CELSelector


class DeviceClassSpec(DRAModel):
    selectors: list[DeviceSelector] = Field(default_factory=list, max_length=32)
    config: list[dict[str, Any]] = Field(default_factory=list)
    extendedResourceName: str | None = None


class DeviceClass(DRAModel):
    apiVersion: str = f"{GROUP}/v1"
    kind: Literal["DeviceClass"] = "DeviceClass"
    metadata: ObjectMeta
    spec: DeviceClassSpec = Field(default_factory=DeviceClassSpec)


class DeviceToleration(DRAModel):
    key: str | None = None
    operator: Literal["Exists", "Equal"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "NoExecute"] | None = None
    tolerationSeconds: int | None = None

    def tolerates(self, taint: DeviceTaint) -> bool:
        """core/v1 Toleration.ToleratesTaint applied to a device taint."""
        if self.effect is not None and self.effect != taint.effect:
            return False
        if self.key is not None and self.key != taint.key:
            return False
        if self.operator == "Exists":
            return True
        return (self.value or "") == (taint.value or "")


class CapacityRequirements(DRAModel):
    requests: dict[str, str | int] = Field(default_factory=dict)

    @field_validator("requests")
    @classmethod
    def _qs(cls, v: dict[str, str | int]) -> dict[str, str | int]:
        for x in v.values():
            _check_q(x)
        return v


class ExactDeviceRequest(DRAModel):
    deviceClassName: str = Field(min_length=1)
    selectors: list[DeviceSelector] = Field(default_factory=list, max_length=32)
    allocationMode: Literal["ExactCount", "All"] = "ExactCount"
    count: int = Field(default=1, ge=1)
    adminAccess: bool | None = None
    tolerations: list[DeviceToleration] = Field(default_factory=list, max_length=16)
    capacity: CapacityRequirements | None = None


class DeviceSubRequest(ExactDeviceRequest):
    name: str = Field(min_length=1)


class DeviceRequest(DRAModel):
    name: str = Field(min_length=1)
    exactly: ExactDeviceRequest | None = None
    firstAvailable: list[DeviceSubRequest] | None = Field(default=None, max_length=8)

    @model_validator(mode="before")
    @classmethod
    def _fold_v1beta1(cls, data: Any) -> Any:
        if isinstance(data, dict) and any(k in data for k in _REQUEST_FIELDS):
            data = dict(data)
            exact = {k: data.pop(k) for k in _REQUEST_FIELDS if k in data}
            if data.get("exactly") is not None:
                raise ValueError("set the request fields either under exactly (v1) or on the request "
                                 "(v1beta1), not both")
            data["exactly"] = exact
        return data

    @model_validator(mode="after")
    def _one(self) -> DeviceRequest:
        if (self.exactly is None) == (self.firstAvailable is None):
            raise ValueError(f"request {self.name!r} needs exactly one of exactly and firstAvailable")
        if self.firstAvailable is not None and not self.firstAvailable:
            raise ValueError(f"request {self.name!r}: firstAvailable needs at least one subrequest")
        return self

    def alternatives(self) -> list[tuple[str, ExactDeviceRequest]]:
        """(result request name, request) in the order the allocator tries them."""
        if self.exactly is not None:
            return [(self.name, self.exactly)]
        return [(f"{self.name}/{s.name}", s) for s in self.firstAvailable or []]


class DeviceConstraint(DRAModel):
    requests: list[str] = Field(default_factory=list)
    matchAttribute: str | None = None
    distinctAttribute: str | None = None

    @model_validator(mode="after")
    def _one(self) -> DeviceConstraint:
        if (self.matchAttribute is None) == (self.distinctAttribute is None):
            raise ValueError("a constraint needs exactly one of matchAttribute and distinctAttribute")
        return self


class DeviceClaim(DRAModel):
    requests: list[DeviceRequest] = Field(default_factory=list, max_length=32)
    constraints: list[DeviceConstraint] = Field(default_factory=list, max_length=32)
    config: list[dict[str, Any]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _names(self) -> DeviceClaim:
        names = [r.name for r in self.requests]
        if len(set(names)) != len(names):
            raise ValueError("request names must be unique")
        for i, c in enumerate(self.constraints):
            for r in c.requests:
                base = r.split("/")[0]
                if base not in names:
                    raise ValueError(f"constraints[{i}] names request {r!r}, which the claim does not have")
        return self


class ResourceClaimSpec(DRAModel):
    devices: DeviceClaim = Field(default_factory=DeviceClaim)


def _reject_flat_v1(data: Any) -> None:
    """A v1/v1beta2 claim whose request sets the request fields directly (the v1beta1 shape) is an
    error, as on the API server; the message names the field inside the object and the fix."""
    if not isinstance(data, dict):
        return
    version = str(data.get("apiVersion", f"{GROUP}/v1")).partition("/")[2]
    flat = _flat_v1_request(data) if version != "v1beta1" else None
    if flat is not None:
        loc, key = flat
        raise ValueError(f"{field_path(loc)}: {key!r} is set directly on the request, the {GROUP}/v1beta1 "
                         f"shape; {GROUP}/{version} puts it under `exactly:` (move the request fields under "
                         f"`exactly:`, or set apiVersion: {GROUP}/v1beta1)")


class ResourceClaim(DRAModel):
    apiVersion: str = f"{GROUP}/v1"
    kind: Literal["ResourceClaim"] = "ResourceClaim"
    metadata: ObjectMeta
    spec: ResourceClaimSpec
    status: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _v1_shape(cls, data: Any) -> Any:
        _reject_flat_v1(data)
        return data


class ResourceClaimTemplateSpec(DRAModel):
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: ResourceClaimSpec


class ResourceClaimTemplate(DRAModel):
    apiVersion: str = f"{GROUP}/v1"
    kind: Literal["ResourceClaimTemplate"] = "ResourceClaimTemplate"
    metadata: ObjectMeta
    spec: ResourceClaimTemplateSpec

    @model_validator(mode="before")
    @classmethod
    def _v1_shape(cls, data: Any) -> Any:
        _reject_flat_v1(data)
        return data


DRAObject = DeviceClass | ResourceSlice | ResourceClaim | ResourceClaimTemplate
_KINDS: dict[str, type[DRAModel]] = {
    "DeviceClass": DeviceClass, "ResourceSlice": ResourceSlice, "ResourceClaim": ResourceClaim,
    "ResourceClaimTemplate": ResourceClaimTemplate,
}


# -------------------------------------------------------------------------------------------------
# loading


def is_dra(doc: Any) -> bool:
    return isinstance(doc, dict) and str(doc.get("apiVersion", "")).split("/")[0] == GROUP


def selectors_of(obj: DRAObject) -> Iterator[tuple[str, str]]:
    """(field path, expression) of every CEL selector in the object."""
    if isinstance(obj, DeviceClass):
        for i, s in enumerate(obj.spec.selectors):
            yield f"spec.selectors[{i}].cel.expression", s.cel.expression
        return
    if isinstance(obj, ResourceClaim):
        claim, base = obj.spec, "spec"
    elif isinstance(obj, ResourceClaimTemplate):
        claim, base = obj.spec.spec, "spec.spec"
    else:
        return
    for i, r in enumerate(claim.devices.requests):
        if r.exactly is not None:
            for j, s in enumerate(r.exactly.selectors):
                yield f"{base}.devices.requests[{i}].exactly.selectors[{j}].cel.expression", s.cel.expression
        for k, sub in enumerate(r.firstAvailable or []):
            for j, s in enumerate(sub.selectors):
                yield (f"{base}.devices.requests[{i}].firstAvailable[{k}].selectors[{j}].cel.expression",
                       s.cel.expression)


def _object_label(doc: dict[str, Any]) -> str:
    """``Kind namespace/name`` (or ``Kind name``) of a raw object, for messages."""
    meta = doc.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    name = str(meta.get("name", "?"))
    ns = meta.get("namespace")
    return f"{doc.get('kind', '?')} {ns}/{name}" if ns else f"{doc.get('kind', '?')} {name}"


def _flat_v1_request(doc: dict[str, Any]) -> tuple[tuple[int | str, ...], str] | None:
    """(path, field) of the first request of a v1/v1beta2 claim that sets a request field directly
    (the v1beta1 shape), which the v1 API server rejects: those fields live under ``exactly``."""
    spec = doc.get("spec")
    base: tuple[int | str, ...] = ("spec",)
    if doc.get("kind") == "ResourceClaimTemplate" and isinstance(spec, dict):
        spec, base = spec.get("spec"), ("spec", "spec")
    devices = spec.get("devices") if isinstance(spec, dict) else None
    requests = devices.get("requests") if isinstance(devices, dict) else None
    for i, r in enumerate(requests if isinstance(requests, list) else []):
        if isinstance(r, dict):
            for k in _REQUEST_FIELDS:
                if k in r:
                    return (*base, "devices", "requests", i, k), k
    return None


def _document_position(text: str, doc: dict[str, Any],
                       loc: tuple[int | str, ...]) -> tuple[int, int] | None:
    """(line, column), 1-based, of field ``loc`` of the object ``doc`` inside the YAML stream ``text``
    (the object is found by value among the documents and the items of ``List`` documents)."""
    try:
        docs = load_documents(text, "<position>")
        marks = [(ev.start_mark.index, ev.end_mark.index) for ev in yaml.parse(text, Loader=Loader)
                 if isinstance(ev, yaml.DocumentStartEvent | yaml.DocumentEndEvent)
                 and ev.start_mark is not None and ev.end_mark is not None]
    except (InputError, yaml.YAMLError):
        return None
    for i, d in enumerate(docs):
        inner: tuple[int | str, ...] | None = None
        if d == doc:
            inner = ()
        elif isinstance(d, dict) and isinstance(d.get("items"), list):
            for j, item in enumerate(d["items"]):
                if item == doc:
                    inner = ("items", j)
                    break
        if inner is None or 2 * i + 1 >= len(marks):
            continue
        start, end = marks[2 * i][0], marks[2 * i + 1][1]
        line_start = text.rfind("\n", 0, start) + 1
        where = locate(text[line_start:end] or text[line_start:], (*inner, *loc))
        if where is None:
            return None
        return where[0] + text.count("\n", 0, line_start), where[1]
    return None


def parse_dra_object(doc: dict[str, Any], *, file: str | None = None, prefix: str = "",
                     text: str | None = None) -> tuple[DRAObject, list[str]]:
    """Validate one DRA object and list its unmodelled fields as warnings; compile its selectors.

    With ``text`` (the YAML file the object was read from) an error carries the line and column of the
    offending field, and names the object (``Kind namespace/name``) and the field path inside it."""
    api_version = str(doc.get("apiVersion", ""))
    group, _, version = api_version.partition("/")
    label = _object_label(doc)

    def error(msg: str, loc: tuple[int | str, ...], fix: str | None) -> InputError:
        field = field_path(loc, prefix) or None
        line = column = None
        if text is not None:
            where = _document_position(text, doc, loc)
            if where is not None:
                line, column = where
            field = f"{label}: {field_path(loc)}" if loc else label
        return InputError(msg, file=file, field=field, fix=fix, line=line, column=column)

    if group != GROUP or version not in VERSIONS:
        raise error(f"apiVersion {api_version!r} is not a DRA API kubetwin reads", ("apiVersion",),
                    f"use one of {', '.join(f'{GROUP}/{v}' for v in VERSIONS)}")
    kind = str(doc.get("kind"))
    model = _KINDS.get(kind)
    if model is None:
        raise error(f"kind {kind!r} is not a DRA object kubetwin reads", ("kind",),
                    f"use one of {', '.join(DRA_KINDS)}")
    flat = _flat_v1_request(doc) if version != "v1beta1" else None
    if flat is not None:
        loc, key = flat
        raise error(f"{key!r} is set directly on the request, the {GROUP}/v1beta1 shape; {api_version} "
                    "puts the request fields under `exactly:` and its API server rejects this", loc,
                    f"move {key} (and the other request fields) under `exactly:`, "
                    f"or set apiVersion: {GROUP}/v1beta1")
    try:
        obj: DRAObject = model.model_validate(doc)  # type: ignore[assignment]
    except ValidationError as e:
        first = e.errors()[0]
        loc = tuple(p for p in first["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        err = input_error_from(e, file=file, prefix=prefix)
        fix = err.fix
        if (err.field or "").endswith("cel.expression"):
            if text is None:
                raise InputError(f"{label}: {err.message}", file=file, field=err.field,
                                 fix="write a CEL expression over `device` (driver, attributes, capacity)") from None
            fix = "write a CEL expression over `device` (driver, attributes, capacity)"
        if text is None:
            raise err from None
        raise error(err.message, loc, fix) from None
    warnings = [f"{p}: field is not modelled by kubetwin and is ignored"
                for p in unmodelled_fields(obj, prefix) if not p.endswith(".status") and p != "status"]
    return obj, warnings


def parse_dra_documents(docs: list[Any], *, file: str | None = None,
                        text: str | None = None) -> tuple[list[DRAObject], list[str]]:
    """Every DRA object in ``docs`` (``List`` kinds are opened); other objects are skipped."""
    objs: list[DRAObject] = []
    warnings: list[str] = []
    for i, doc in enumerate(docs):
        if not isinstance(doc, dict):
            continue
        items = doc.get("items") if str(doc.get("kind", "")).endswith("List") else None
        if isinstance(items, list):
            for j, item in enumerate(items):
                if is_dra(item):
                    o, w = parse_dra_object(item, file=file, prefix=f"[{i}].items[{j}]", text=text)
                    objs.append(o)
                    warnings.extend(w)
        elif is_dra(doc):
            o, w = parse_dra_object(doc, file=file, prefix=f"[{i}]" if len(docs) > 1 else "", text=text)
            objs.append(o)
            warnings.extend(w)
    return objs, warnings


# -------------------------------------------------------------------------------------------------
# scenario fields (referenced from models.scenario)


class DeviceShorthand(K8sModel):
    """A node pool's compact device list: ``count`` devices of one driver named ``<namePrefix>-<i>``,
    each with the same attributes and capacity plus the int attribute ``index: i``."""

    driver: str = Field(min_length=1, description="the DRA driver, e.g. gpu.nvidia.com")
    count: int = Field(ge=1, le=128, description="devices per node")
    namePrefix: str = Field(default="gpu", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
                            description="device i is named <namePrefix>-<i>")
    attributes: dict[str, int | bool | str | DeviceAttribute] = Field(
        default_factory=dict, description="name: value (int, bool, string) or {version: 1.2.3}; unqualified "
                                          "names belong to the driver's domain")
    capacity: dict[str, QuantityValue | DeviceCapacity] = Field(
        default_factory=dict, description="name: quantity, or {value, requestPolicy}")
    allowMultipleAllocations: bool = Field(default=False, description="shareable (consumable capacity)")
    taints: list[DeviceTaint] = Field(default_factory=list)

    def devices(self) -> list[dict[str, Any]]:
        out = []
        for i in range(self.count):
            attrs: dict[str, Any] = {}
            for k, v in self.attributes.items():
                if isinstance(v, DeviceAttribute):
                    attrs[k] = v.model_dump(by_alias=True, exclude_none=True)
                elif isinstance(v, bool):
                    attrs[k] = {"bool": v}
                elif isinstance(v, int):
                    attrs[k] = {"int": v}
                else:
                    attrs[k] = {"string": v}
            attrs.setdefault("index", {"int": i})
            caps = {k: (v.model_dump(exclude_none=True) if isinstance(v, DeviceCapacity) else {"value": v})
                    for k, v in self.capacity.items()}
            d: dict[str, Any] = {"name": f"{self.namePrefix}-{i}", "attributes": attrs, "capacity": caps}
            if self.allowMultipleAllocations:
                d["allowMultipleAllocations"] = True
            if self.taints:
                d["taints"] = [t.model_dump(exclude_none=True) for t in self.taints]
            out.append(d)
        return out


class DRASpec(K8sModel):
    """``spec.dra``: the cluster's DRA objects (they may also come from files under ``spec.manifests``)."""

    deviceClasses: list[DeviceClass] = Field(default_factory=list)
    resourceClaimTemplates: list[ResourceClaimTemplate] = Field(default_factory=list)
    resourceClaims: list[ResourceClaim] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> DRASpec:
        for what, objs in (("deviceClasses", self.deviceClasses),
                           ("resourceClaimTemplates", self.resourceClaimTemplates),
                           ("resourceClaims", self.resourceClaims)):
            keys = [(o.metadata.namespace or "default", o.metadata.name) for o in objs]
            dup = sorted({k for k in keys if keys.count(k) > 1})
            if dup:
                raise ValueError(f"{what}: {dup[0][0]}/{dup[0][1]} is defined twice")
        return self

    def warnings(self, prefix: str = "spec.dra") -> list[str]:
        out: list[str] = []
        for what, objs in (("deviceClasses", self.deviceClasses),
                           ("resourceClaimTemplates", self.resourceClaimTemplates),
                           ("resourceClaims", self.resourceClaims)):
            for i, o in enumerate(objs):
                out.extend(f"{p}: field is not modelled by kubetwin and is ignored"
                           for p in unmodelled_fields(o, f"{prefix}.{what}[{i}]") if not p.endswith(".status"))
        return out


class PodResourceClaim(K8sModel):
    """``PodSpec.resourceClaims[]``: a pod-local name for a claim, made from a template or existing."""

    name: str = Field(min_length=1, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    resourceClaimName: str | None = Field(default=None, min_length=1)
    resourceClaimTemplateName: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one(self) -> PodResourceClaim:
        if (self.resourceClaimName is None) == (self.resourceClaimTemplateName is None):
            raise ValueError(f"resource claim {self.name!r} needs exactly one of resourceClaimName and "
                             "resourceClaimTemplateName")
        return self


class ContainerClaim(K8sModel):
    """``containers[].resources.claims[]``: a pod claim name, optionally one request of it."""

    name: str = Field(min_length=1)
    request: str | None = Field(default=None, min_length=1)


class ContainerSpec(K8sModel):
    """One container: its own requests and the claims whose devices it gets."""

    name: str = Field(min_length=1, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    requests: dict[str, QuantityValue] = Field(default_factory=dict)
    claims: list[ContainerClaim] = Field(default_factory=list)


class DRAPodTemplate(PodTemplate):
    """The compact pod template plus DRA's pod fields: ``resourceClaims`` (as PodSpec) and
    ``containers`` (default: one container, ``main``, holding every claim). The pod's requests are
    ``requests`` plus the sum of the containers' requests."""

    resourceClaims: list[PodResourceClaim] = Field(
        default_factory=list, description="PodSpec.resourceClaims: [{name, resourceClaimTemplateName | "
                                          "resourceClaimName}]")
    containers: list[ContainerSpec] | None = Field(
        default=None, description="[{name, requests, claims: [{name, request?}]}]; default: one container "
                                  "holding every claim")

    @model_validator(mode="after")
    def _claims(self) -> DRAPodTemplate:
        names = [c.name for c in self.resourceClaims]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"resource claim name {dup[0]!r} is used twice")
        if self.containers is not None:
            cnames = [c.name for c in self.containers]
            cdup = sorted({n for n in cnames if cnames.count(n) > 1})
            if cdup:
                raise ValueError(f"container name {cdup[0]!r} is used twice")
            for c in self.containers:
                for cc in c.claims:
                    if cc.name not in names:
                        raise ValueError(f"container {c.name!r} names claim {cc.name!r}, which resourceClaims "
                                         f"does not define (it defines {names})")
        return self

    def container_claims(self) -> list[tuple[str, list[tuple[str, str | None]]]]:
        """(container, [(pod claim name, request?)]) with the default applied."""
        if self.containers is None:
            return [("main", [(c.name, None) for c in self.resourceClaims])] if self.resourceClaims else []
        return [(c.name, [(cc.name, cc.request) for cc in c.claims]) for c in self.containers]

    def pod_requests(self) -> dict[str, Quantity]:
        """``requests`` plus every container's requests."""
        out = {k: Quantity.parse(v) for k, v in self.requests.items()}
        for c in self.containers or []:
            for k, v in c.requests.items():
                q = Quantity.parse(v)
                out[k] = Quantity(out[k].value + q.value, q.format) if k in out else q
        return out


def node_slices(templates: list[ResourceSlice], devices: DeviceShorthand | list[DeviceShorthand] | None,
                node: str) -> list[ResourceSlice]:
    """A node's ResourceSlices from its pool's templates (``resourceSlices``, files already read with
    :func:`load_slice_file`) and ``devices`` shorthand (one mapping or a list): ``spec.nodeName`` and
    ``spec.pool.name`` become the node's name whatever the template says; one slice per shorthand entry."""
    if devices is None:
        devices = []
    elif isinstance(devices, DeviceShorthand):
        devices = [devices]
    out = []
    for i, t in enumerate(templates):
        spec = t.spec.model_copy(update={"nodeName": node, "nodeSelector": None, "allNodes": None,
                                         "pool": t.spec.pool.model_copy(update={"name": node})})
        out.append(t.model_copy(update={"spec": spec, "metadata": t.metadata.model_copy(
            update={"name": f"{node}-{t.spec.driver}-{i}"})}))
    for j, d in enumerate(devices):
        out.append(ResourceSlice.model_validate({
            "metadata": {"name": f"{node}-{d.driver}-s{j}"},
            "spec": {"driver": d.driver, "nodeName": node,
                     "pool": {"name": node, "generation": 1, "resourceSliceCount": 1}, "devices": d.devices()}}))
    # several slices of one (driver, pool): the pool has that many slices
    counts: dict[str, int] = {}
    for s in out:
        counts[s.spec.driver] = counts.get(s.spec.driver, 0) + 1
    return [s.model_copy(update={"spec": s.spec.model_copy(update={"pool": s.spec.pool.model_copy(
        update={"resourceSliceCount": counts[s.spec.driver]})})}) for s in out]


def load_slice_file(path: str, base_dir: Path) -> list[ResourceSlice]:
    """The ResourceSlices in a YAML file (a node pool's ``resourceSlices: [path]``), relative to the
    scenario's folder; :class:`InputError` naming the file when it cannot be read or holds none."""
    p = (base_dir / path) if not Path(path).is_absolute() else Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror}", file=str(p), fix="check the path (relative to the scenario)") \
            from None
    docs = load_documents(text, str(p))
    objs, _ = parse_dra_documents(docs, file=str(p), text=text)
    slices = [o for o in objs if isinstance(o, ResourceSlice)]
    if not slices:
        raise InputError("holds no resource.k8s.io ResourceSlice", file=str(p),
                         fix="write ResourceSlice objects (apiVersion: resource.k8s.io/v1)")
    return slices


def _typed_attribute(a: DeviceAttribute) -> dict[str, Any]:
    if a.version is not None:
        return {"version": a.version}
    v = a.value
    if isinstance(v, bool):
        return {"bool": v}
    return {"int": v} if isinstance(v, int) else {"string": v}


def node_devices_payload(slices: Iterable[ResourceSlice]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``NodeReady.data.devices`` and ``sharedCounters`` of the ResourceSlices a node publishes, as the
    simulator writes them: per (driver, pool) in sorted order, only the pool's highest generation, slices
    by name, devices in slice order; attributes by qualified name and typed, capacity as canonical
    quantities (with its ``requestPolicy``) keyed by :func:`capacity_key`, ``allowMultipleAllocations``,
    ``consumesCounters``, taints.
    The normalizer of recorded clusters uses it, so a recording and a simulation read alike."""
    by_pool: dict[tuple[str, str], list[ResourceSlice]] = {}
    for s in slices:
        by_pool.setdefault((s.spec.driver, s.spec.pool.name), []).append(s)
    devices: list[dict[str, Any]] = []
    counters: list[dict[str, Any]] = []
    for (driver, pool) in sorted(by_pool):
        group = by_pool[(driver, pool)]
        top = max(s.spec.pool.generation for s in group)
        current = sorted((s for s in group if s.spec.pool.generation == top), key=lambda s: s.metadata.name)
        sets: dict[str, dict[str, str]] = {}
        for s in current:
            for cs in s.spec.sharedCounters:
                sets[cs.name] = {n: str(Quantity(qty(c.value).value)) for n, c in sorted(cs.counters.items())}
        counters += [{"driver": driver, "pool": pool, "name": n, "counters": c} for n, c in sorted(sets.items())]
        for s in current:
            for d in s.spec.devices:
                caps = d.qualified_capacity(driver)
                e: dict[str, Any] = {"driver": driver, "pool": pool, "device": d.name, "attributes": {
                    k: _typed_attribute(a) for k, a in sorted(d.qualified_attributes(driver).items())}}
                if caps:
                    e["capacity"] = {capacity_key(k, driver): str(Quantity(c.quantity.value, "BinarySI"))
                                     for k, c in sorted(caps.items())}
                policies = {capacity_key(k, driver): c.requestPolicy.model_dump(mode="json", exclude_none=True)
                            for k, c in sorted(caps.items()) if c.requestPolicy is not None}
                if policies:
                    e["requestPolicy"] = policies
                if d.allowMultipleAllocations:
                    e["allowMultipleAllocations"] = True
                if d.consumesCounters:
                    e["consumesCounters"] = [{"counterSet": c.counterSet, "counters": {
                        n: str(Quantity(qty(v.value).value)) for n, v in sorted(c.counters.items())}}
                        for c in d.consumesCounters]
                if d.taints:
                    e["taints"] = [t.model_dump(exclude_none=True) for t in d.taints]
                devices.append(e)
    counters.sort(key=lambda c: (c["driver"], c["pool"], c["name"]))
    return devices, counters


def scenario_warnings(spec: Any) -> list[str]:
    """Warnings for the unmodelled fields of a scenario's DRA objects (``spec.dra`` and the node pools'
    inline ``resourceSlices``); ``spec`` is a :class:`models.scenario.Spec`. The loader adds them to the
    scenario's warnings."""
    out: list[str] = []
    dra = getattr(spec, "dra", None)
    if isinstance(dra, DRASpec):
        out.extend(dra.warnings())
    for i, pool in enumerate(getattr(getattr(spec, "cluster", None), "nodePools", []) or []):
        for j, s in enumerate(getattr(pool, "resourceSlices", []) or []):
            if isinstance(s, ResourceSlice):
                out.extend(f"{p}: field is not modelled by kubetwin and is ignored"
                           for p in unmodelled_fields(s, f"spec.cluster.nodePools[{i}].resourceSlices[{j}]"))
    return out
