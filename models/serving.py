"""Inference serving objects: ``apps/v1`` Deployment, ``autoscaling/v2`` HorizontalPodAutoscaler,
``gateway.networking.k8s.io/v1`` HTTPRoute — the real objects, read for the fields kubetwin models —
and the load that reaches them (``spec.serving.loads``).

``spec.serving.objects`` lists the objects inline or as YAML file paths (relative to the scenario); a
Deployment's pods request what its containers request (plus ``nodeSelector``, ``tolerations``,
``affinity``). Annotations on the Deployment give what a real cluster measures: the requests per second
one ready pod serves (``kubetwin.dev/requests-per-second-per-pod``) and how long a bound pod takes to
become Ready (``kubetwin.dev/ready-after``, e.g. model loading). Fields kubetwin does not read are
ignored, so real manifests load unchanged.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.distributions import Duration, NonNegDuration
from models.duration import parse_duration
from models.k8s import K8sModel
from models.quantity import parse_quantity

RPS_ANNOTATION = "kubetwin.dev/requests-per-second-per-pod"
READY_ANNOTATION = "kubetwin.dev/ready-after"


class _Obj(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, defer_build=True)


class ObjectMeta(_Obj):
    name: str = Field(min_length=1)
    namespace: str = "default"
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class Resources(_Obj):
    requests: dict[str, str | int | float] = Field(default_factory=dict)


class Container(_Obj):
    name: str = "main"
    resources: Resources = Field(default_factory=Resources)


class PodSpec(_Obj):
    containers: list[Container] = Field(min_length=1)
    nodeSelector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[dict[str, Any]] = Field(default_factory=list)
    affinity: dict[str, Any] | None = None


class PodTemplateSpec(_Obj):
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: PodSpec


class DeploymentSpec(_Obj):
    replicas: int = Field(default=1, ge=0)
    template: PodTemplateSpec


class Deployment(_Obj):
    apiVersion: Literal["apps/v1"]
    kind: Literal["Deployment"]
    metadata: ObjectMeta
    spec: DeploymentSpec

    def requests(self) -> dict[str, int]:
        """The pod's requests in milli-units: the sum over its containers."""
        out: dict[str, int] = {}
        for c in self.spec.template.spec.containers:
            for r, q in c.resources.requests.items():
                out[r] = out.get(r, 0) + parse_quantity(q).to_milli()
        return out

    def capacity(self) -> float | None:
        v = self.metadata.annotations.get(RPS_ANNOTATION)
        return float(v) if v is not None else None

    def ready_after(self) -> float:
        return parse_duration(self.metadata.annotations.get(READY_ANNOTATION, "0s"))

    @model_validator(mode="after")
    def _check(self) -> Deployment:
        v = self.metadata.annotations.get(RPS_ANNOTATION)
        if v is not None:
            try:
                ok = float(v) > 0
            except ValueError:
                ok = False
            if not ok:
                raise ValueError(f"annotation {RPS_ANNOTATION}: {v!r} must be a number > 0")
        parse_duration(self.metadata.annotations.get(READY_ANNOTATION, "0s"))
        return self


class CrossVersionObjectReference(_Obj):
    kind: str
    name: str
    apiVersion: str | None = None


class MetricTarget(_Obj):
    type: Literal["Utilization", "Value", "AverageValue"]
    averageUtilization: int | None = Field(default=None, gt=0)
    value: str | int | float | None = None
    averageValue: str | int | float | None = None

    def number(self) -> float:
        """The target as a number (Utilization: percent)."""
        if self.type == "Utilization":
            if self.averageUtilization is None:
                raise ValueError("target type Utilization needs averageUtilization")
            return float(self.averageUtilization)
        raw = self.value if self.type == "Value" else self.averageValue
        if raw is None:
            raise ValueError(f"target type {self.type} needs {'value' if self.type == 'Value' else 'averageValue'}")
        return float(parse_quantity(raw).value)


class MetricIdentifier(_Obj):
    name: str


class ResourceMetric(_Obj):
    name: str
    target: MetricTarget


class NamedMetric(_Obj):
    metric: MetricIdentifier
    target: MetricTarget


class MetricSpec(_Obj):
    type: Literal["Resource", "ContainerResource", "Pods", "Object", "External"]
    resource: ResourceMetric | None = None
    containerResource: ResourceMetric | None = None
    pods: NamedMetric | None = None
    object: NamedMetric | None = None
    external: NamedMetric | None = None

    def named(self) -> tuple[str, MetricTarget]:
        """(metric name, target) whichever the type."""
        if self.type in ("Resource", "ContainerResource"):
            r = self.resource if self.type == "Resource" else self.containerResource
            if r is None:
                raise ValueError(f"metric type {self.type} needs its {self.type[0].lower() + self.type[1:]} field")
            return r.name, r.target
        n = {"Pods": self.pods, "Object": self.object, "External": self.external}[self.type]
        if n is None:
            raise ValueError(f"metric type {self.type} needs its {self.type.lower()} field")
        return n.metric.name, n.target


class ScalingPolicy(_Obj):
    type: Literal["Pods", "Percent"]
    value: int = Field(gt=0)
    periodSeconds: int = Field(gt=0, le=1800)


class ScalingRules(_Obj):
    stabilizationWindowSeconds: int | None = Field(default=None, ge=0, le=3600)
    selectPolicy: Literal["Max", "Min", "Disabled"] = "Max"
    policies: list[ScalingPolicy] | None = None
    tolerance: float | None = Field(default=None, ge=0)


class Behavior(_Obj):
    scaleUp: ScalingRules | None = None
    scaleDown: ScalingRules | None = None


class HPASpec(_Obj):
    scaleTargetRef: CrossVersionObjectReference
    minReplicas: int = Field(default=1, ge=0)
    maxReplicas: int = Field(ge=1)
    metrics: list[MetricSpec] = Field(default_factory=list)
    behavior: Behavior | None = None


class HorizontalPodAutoscaler(_Obj):
    apiVersion: Literal["autoscaling/v2"]
    kind: Literal["HorizontalPodAutoscaler"]
    metadata: ObjectMeta
    spec: HPASpec

    @model_validator(mode="after")
    def _check(self) -> HorizontalPodAutoscaler:
        if self.spec.minReplicas > self.spec.maxReplicas:
            raise ValueError(f"minReplicas {self.spec.minReplicas} is above maxReplicas {self.spec.maxReplicas}")
        if self.spec.scaleTargetRef.kind != "Deployment":
            raise ValueError("kubetwin scales Deployments: scaleTargetRef.kind must be Deployment")
        for m in self.spec.metrics:
            m.named()[1].number()
        return self


class HeaderMatch(_Obj):
    name: str
    value: str
    type: Literal["Exact"] = "Exact"


class RouteMatch(_Obj):
    headers: list[HeaderMatch] = Field(default_factory=list)


class BackendRef(_Obj):
    name: str
    weight: int = Field(default=1, ge=0, le=1_000_000)
    namespace: str | None = None


class RouteRule(_Obj):
    matches: list[RouteMatch] = Field(default_factory=list)
    backendRefs: list[BackendRef] = Field(default_factory=list)


class HTTPRouteSpec(_Obj):
    parentRefs: list[dict[str, Any]] = Field(default_factory=list)
    rules: list[RouteRule] = Field(min_length=1)


class HTTPRoute(_Obj):
    apiVersion: Literal["gateway.networking.k8s.io/v1"]
    kind: Literal["HTTPRoute"]
    metadata: ObjectMeta
    spec: HTTPRouteSpec

    def rule_for(self, headers: dict[str, str]) -> RouteRule | None:
        """The first rule whose matches accept these request headers (a rule without matches takes all)."""
        for rule in self.spec.rules:
            if not rule.matches or any(all(headers.get(h.name) == h.value for h in m.headers) for m in rule.matches):
                return rule
        return None


# ------------------------------------------------------------------------------------------- load curves


class StepPoint(K8sModel):
    at: NonNegDuration
    value: float = Field(ge=0)


class Diurnal(K8sModel):
    """A sine day: ``min`` at ``peakAt`` − period/2, ``max`` at ``peakAt``."""

    min: float = Field(ge=0)
    max: float = Field(ge=0)
    peakAt: NonNegDuration = "14h"
    period: Duration = "24h"


class PoissonLoad(K8sModel):
    """Requests arrive as a Poisson process of this mean rate: each ``interval`` sees a Poisson count."""

    mean: float = Field(ge=0)
    interval: Duration = "15s"


class TraceLoad(K8sModel):
    """A recorded requests-per-second trace (e.g. ``../shared/data/alibaba-genai-qps/qps.csv``): the
    samples of ``valueColumn`` summed per ``timeColumn`` instant, times shifted to start at 0, held until
    the next sample; ``where`` keeps rows whose columns equal these values; ``scale`` multiplies."""

    csv: str
    timeColumn: str = "timestamp_anon"
    valueColumn: str = "value"
    where: dict[str, str] = Field(default_factory=dict)
    scale: float = Field(default=1.0, gt=0)


class LoadCurve(K8sModel):
    """Requests per second over time: exactly one of the kinds."""

    constant: float | None = Field(default=None, ge=0)
    step: list[StepPoint] | None = None
    diurnal: Diurnal | None = None
    poisson: PoissonLoad | None = None
    trace: TraceLoad | None = None

    @model_validator(mode="after")
    def _one(self) -> LoadCurve:
        got = [k for k in ("constant", "step", "diurnal", "poisson", "trace") if getattr(self, k) is not None]
        if len(got) != 1:
            raise ValueError("give exactly one of constant, step, diurnal, poisson, trace"
                             + (f" (got {', '.join(got)})" if got else ""))
        return self


class Load(K8sModel):
    """Traffic sent to an HTTPRoute (with these request headers) or straight to a Deployment's Service."""

    route: str | None = None
    backend: str | None = None
    namespace: str = "default"
    headers: dict[str, str] = Field(default_factory=dict)
    requestsPerSecond: LoadCurve
    latencySLO: Duration | None = Field(default=None, description="a request slower than this misses the SLO")

    @model_validator(mode="after")
    def _one(self) -> Load:
        if (self.route is None) == (self.backend is None):
            raise ValueError("give exactly one of route (an HTTPRoute name) or backend (a Deployment name)")
        return self


class ServingSpec(K8sModel):
    """``spec.serving``: Deployments, HPAs and HTTPRoutes (inline or file paths) and the load."""

    objects: list[dict[str, Any] | str] = Field(default_factory=list)
    loads: list[Load] = Field(default_factory=list)


def read_trace(t: TraceLoad, base_dir: Path | None) -> list[tuple[float, float]]:
    """(seconds since the first sample, requests per second) steps of a trace CSV."""
    path = Path(t.csv)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    sums: dict[float, float] = {}
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            cols = reader.fieldnames or []
            for c in (t.timeColumn, t.valueColumn, *t.where):
                if c not in cols:
                    raise ValueError(f"CSV {path} has no column {c!r} (columns: {', '.join(cols)})")
            for i, row in enumerate(reader, 2):
                if any(row.get(k) != v for k, v in t.where.items()):
                    continue
                try:
                    ts, v = float(row[t.timeColumn]), float(row[t.valueColumn])
                except ValueError:
                    raise ValueError(f"CSV {path} line {i}: time and value must be numbers") from None
                if math.isfinite(ts) and math.isfinite(v):
                    sums[ts] = sums.get(ts, 0.0) + v
    except OSError as e:
        raise ValueError(f"cannot read CSV {path}: {e.strerror}") from None
    if not sums:
        raise ValueError(f"CSV {path} has no rows to use")
    t0 = min(sums)
    return [(ts - t0, v * t.scale) for ts, v in sorted(sums.items())]


ServingObject = Deployment | HorizontalPodAutoscaler | HTTPRoute
API_VERSIONS = ("apps/v1", "autoscaling/v2", "gateway.networking.k8s.io/v1")
KINDS: dict[str, type[ServingObject]] = {"Deployment": Deployment, "HorizontalPodAutoscaler": HorizontalPodAutoscaler,
                                         "HTTPRoute": HTTPRoute}
