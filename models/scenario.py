"""The scenario: a Kubernetes-style file that describes a cluster and the work that arrives at it.

``apiVersion: kubetwin.dev/v1alpha1``, ``kind: Scenario``, ``metadata``, ``spec`` with camelCase keys,
Kubernetes quantities and Go durations. It is not a CRD; it is a file users keep next to their
manifests. ``spec`` holds ``seed``, ``duration``, ``cluster.nodePools``, ``scheduler`` (the
``KubeSchedulerConfiguration`` profile knobs we model), ``workloads`` (generators: arrival process,
count, replicas, pod template, runtime distribution), and one section per capability.

:func:`load_scenario` is the only way in: it turns every problem into a
:class:`models.errors.InputError` naming the file, the line, the field path and the fix.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from models.actions import Action
from models.autoscaling import AutoscalerSpec, PoolAutoscaling
from models.distributions import Distribution, Duration, NonNegDuration
from models.dra import DeviceShorthand, DRAPodTemplate, DRASpec, ResourceSlice
from models.duration import parse_duration
from models.errors import InputError, did_you_mean
from models.k8s import INT32_MAX, INT32_MIN, K8sModel, QuantityValue, Taint
from models.serving import ServingSpec
from models.yaml_input import load_documents, locate

API_VERSION = "kubetwin.dev/v1alpha1"
KIND = "Scenario"


class Metadata(K8sModel):
    name: str = Field(min_length=1, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class PoolNode(K8sModel):
    """One named node of a pool with its own lifetime (``kubetwin replay``: the nodes as they were)."""

    name: str = Field(min_length=1, max_length=253, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    readyAt: NonNegDuration = Field(default="0s", description="when the node became Ready")
    removedAt: NonNegDuration | None = Field(default=None, description="when it was removed (omitted: never)")

    @model_validator(mode="after")
    def _ordered(self) -> PoolNode:
        if self.removedAt is not None and parse_duration(self.removedAt) < parse_duration(self.readyAt):
            raise ValueError(f"node {self.name!r} is removed ({self.removedAt}) before it is ready ({self.readyAt})")
        return self


class NodePool(K8sModel):
    """A group of identical nodes (a GKE node pool, an EKS node group, a Karpenter NodePool)."""

    name: str = Field(min_length=1, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    count: int = Field(ge=0, le=1_000_000)
    labels: dict[str, str] = Field(default_factory=dict)
    taints: list[Taint] = Field(default_factory=list)
    allocatable: dict[str, QuantityValue]
    pricePerHour: float | None = Field(default=None, ge=0)
    autoscaling: PoolAutoscaling | None = Field(
        default=None,
        description="cluster autoscaler node group bounds {minCount, maxCount}; count is the initial size")
    provisioningDelay: Distribution | None = Field(
        default=None, description="autoscaler: request -> node registered (a distribution; omitted: 0s)")
    driverStartupDelay: Distribution | None = Field(
        default=None, description="autoscaler: registered -> accelerators allocatable (a distribution; omitted: 0s)")
    resourceSlices: list[ResourceSlice | str] = Field(
        default_factory=list, description="DRA: ResourceSlice objects (inline, or YAML file paths relative to the "
                                          "scenario) used as a per-node template: spec.nodeName and spec.pool.name "
                                          "become each node's name")
    devices: DeviceShorthand | list[DeviceShorthand] | None = Field(
        default=None, description="DRA shorthand, per node: {driver, count, namePrefix, attributes, capacity} (or a "
                                  "list of them); device i is <namePrefix>-<i> with the int attribute index: i")
    nodes: list[PoolNode] | None = Field(
        default=None, description="the pool's nodes by name, each with readyAt/removedAt (replay); "
                                  "count must equal their number")

    @model_validator(mode="after")
    def _nodes(self) -> NodePool:
        if self.nodes is not None:
            if len(self.nodes) != self.count:
                raise ValueError(f"pool {self.name!r} lists {len(self.nodes)} nodes but count is {self.count}; "
                                 "make count the number of nodes listed")
            names = [n.name for n in self.nodes]
            dup = sorted({n for n in names if names.count(n) > 1})
            if dup:
                raise ValueError(f"node {dup[0]!r} is listed twice in pool {self.name!r}")
        return self


class Cluster(K8sModel):
    nodePools: list[NodePool] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Cluster:
        seen: set[str] = set()
        for p in self.nodePools:
            if p.name in seen:
                raise ValueError(f"node pool name {p.name!r} is used twice; pool names must be unique")
            seen.add(p.name)
        return self


class ResourceWeight(K8sModel):
    name: str = Field(min_length=1)
    weight: int = Field(default=1, ge=1, le=100)


class PluginRef(K8sModel):
    """A plugin named in a profile (``KubeSchedulerConfiguration.profiles[].plugins``), with its Score
    weight."""

    name: str = Field(min_length=1)
    weight: int | None = Field(default=None, ge=1, le=100)


class PluginSet(K8sModel):
    enabled: list[PluginRef] = Field(default_factory=list)
    disabled: list[PluginRef] = Field(default_factory=list)


class ProfilePlugins(K8sModel):
    """Which plugins run, as a ``KubeSchedulerConfiguration`` profile writes it: ``multiPoint`` enables
    or disables a plugin at every extension point it implements (``name: "*"`` disables every default
    one); ``score`` sets Score weights."""

    multiPoint: PluginSet = Field(default_factory=PluginSet)
    score: PluginSet = Field(default_factory=PluginSet)


class SchedulerSpec(K8sModel):
    """A kube-scheduler profile: the plugins it runs and the ``NodeResourcesFit`` scoring strategy."""

    scoring: Literal["LeastAllocated", "MostAllocated", "Random", "DotProduct", "GpuClustering", "GpuPacking",
                     "BestFit", "FGD"] = Field(
        default="LeastAllocated",
        description="NodeResourcesFit's strategy (LeastAllocated, MostAllocated), or a GPU-sharing policy of "
                    "'Beware of Fragmentation' (Random, DotProduct, GpuClustering, GpuPacking, BestFit, FGD) "
                    "as the profile's Score plugin")
    resources: list[ResourceWeight] = Field(
        default_factory=lambda: [ResourceWeight(name="cpu"), ResourceWeight(name="memory")])
    percentageOfNodesToScore: int | None = Field(
        default=None, ge=0, le=100,
        description="omitted: score every feasible node; 0: kube-scheduler's adaptive sampling; 1-100: that "
                    "percentage (numFeasibleNodesToFind, at least 100 nodes)")
    plugins: ProfilePlugins = Field(default_factory=ProfilePlugins,
                                    description="plugins enabled/disabled beyond the default profile, and weights")

    @model_validator(mode="after")
    def _unique(self) -> SchedulerSpec:
        names = [r.name for r in self.resources]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"resource {dup[0]!r} is listed twice; give each scored resource once")
        if "pods" in names:
            raise ValueError("'pods' is not a scored resource; remove it")
        return self


class Poisson(K8sModel):
    meanInterval: NonNegDuration


class Arrival(K8sModel):
    """When instances of a workload arrive: exactly one of ``poisson``, ``every``, ``at``."""

    poisson: Poisson | None = None
    every: NonNegDuration | None = None
    at: list[NonNegDuration] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Arrival:
        n = sum(x is not None for x in (self.poisson, self.every, self.at))
        if n != 1:
            raise ValueError("give exactly one of poisson: {meanInterval: D}, every: D, at: [D, ...]")
        if self.poisson is not None and parse_duration(self.poisson.meanInterval) == 0:
            raise ValueError("poisson meanInterval must be > 0 (use every: 0s for all at once)")
        return self


class Gang(K8sModel):
    """All-or-nothing scheduling for the pods of one workload instance."""

    policy: Literal["kueue", "coscheduling", "workload-api", "volcano"]
    minCount: int | None = Field(default=None, ge=1)
    timeout: Duration | None = None
    queue: str | None = Field(default=None, description="volcano: the scheduling.volcano.sh Queue (default: default)")
    minTaskMember: dict[str, int] | None = Field(default=None, description="volcano: minimum pods per pod set")
    podGroup: str | None = Field(default=None, description="volcano: a PodGroup (this namespace) giving minMember, "
                                                           "minTaskMember, queue, minResources")
    delayPodCreation: bool | None = Field(
        default=None, description="volcano: create the pods only once the PodGroup is Inqueue, as the Volcano Job "
                                  "controller does (default: true for a pod-set workload or a batch.volcano.sh Job; "
                                  "false for other operators, whose pods exist from submission)")

    @model_validator(mode="after")
    def _volcano_only(self) -> Gang:
        if self.delayPodCreation is not None and self.policy != "volcano":
            raise ValueError("delayPodCreation is a Volcano setting; remove it or use policy volcano")
        return self


class PodSet(K8sModel):
    """One homogeneous set of pods in a workload instance (e.g. 1 launcher + 16 workers)."""

    name: str = Field(min_length=1, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    replicas: int = Field(default=1, ge=1, le=100_000)
    minCount: int | None = Field(default=None, ge=1)
    template: DRAPodTemplate

    @model_validator(mode="after")
    def _quorum(self) -> PodSet:
        if self.minCount is not None and self.minCount > self.replicas:
            raise ValueError(f"minCount {self.minCount} is more than the {self.replicas} replicas of pod set "
                             f"{self.name!r}; the gang could never reach quorum")
        return self


class ReplayNames(K8sModel):
    """The recorded names of a replayed workload instance (``kubetwin replay``), so the replay's pods and
    gang carry the names they had: ``instance`` is the Workload/PodGroup (or owner) name, ``pods`` the
    pod names in pod-set order."""

    instance: str | None = Field(default=None, min_length=1)
    pods: list[str] = Field(min_length=1)


class WorkloadGen(K8sModel):
    """A generator of workload instances: ``count`` arrive per ``arrival``, each with ``replicas`` pods."""

    name: str = Field(min_length=1, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    namespace: str = Field(default="default", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    arrival: Arrival
    count: int | None = Field(default=None, ge=0, le=100_000_000)
    replicas: int = Field(default=1, ge=1, le=100_000)
    priority: int = Field(default=0, ge=INT32_MIN, le=INT32_MAX,
                          description="pod priority (int32); or name a PriorityClass in the pod template")
    template: DRAPodTemplate | None = None
    podSets: list[PodSet] | None = None
    duration: Distribution
    gang: Gang | None = None
    queue: str | None = Field(default=None, description="the Kueue LocalQueue (in this namespace)")
    job: str | None = Field(default=None, description="a Job or JobSet manifest file giving the pod sets")
    names: ReplayNames | None = Field(default=None, description="recorded names of the one instance (replay)")

    @model_validator(mode="after")
    def _shape(self) -> WorkloadGen:
        sources = sum(x is not None for x in (self.template, self.podSets, self.job))
        if sources != 1:
            raise ValueError("give exactly one of template (with replicas), podSets, or job")
        if self.arrival.every is not None and self.count is None:
            raise ValueError("arrival 'every' needs a count (how many instances arrive)")
        if self.arrival.at is not None and self.count is not None and self.count > len(self.arrival.at):
            raise ValueError(f"count {self.count} is more than the {len(self.arrival.at)} times in 'at'")
        if self.gang is not None and self.gang.policy == "kueue" and not self.queue and self.job is None:
            raise ValueError("gang policy kueue needs 'queue' (the LocalQueue name)")
        if self.names is not None:
            if self.instance_count() != 1:
                raise ValueError("'names' names one instance; give arrival at: [one time] (or count: 1)")
            if self.podSets is not None:
                pods = sum(ps.replicas for ps in self.podSets)
            else:
                pods = self.replicas if self.template is not None else len(self.names.pods)
            if len(self.names.pods) != pods:
                raise ValueError(f"'names.pods' lists {len(self.names.pods)} pods but the instance has {pods}")
        return self

    #: the pods' priority once PriorityClasses are resolved (:mod:`models.resolution`); None: ``priority``
    _pod_priority: int | None = None

    @property
    def pod_priority(self) -> int:
        """The priority of this workload's pods (``PodSpec.priority``), which kube-scheduler sorts and
        preempts by. ``priority`` is the Workload's (Kueue's) and differs only under a
        WorkloadPriorityClass label."""
        return self.priority if self._pod_priority is None else self._pod_priority

    def instance_count(self) -> int | None:
        if self.count is not None:
            return self.count
        if self.arrival.at is not None:
            return len(self.arrival.at)
        return None  # poisson without count: until the run ends


class Latencies(K8sModel):
    """Control-plane delays a real cluster adds and the twin otherwise skips (each optional; omitted: 0)."""

    schedulerQueue: Distribution | None = Field(
        default=None, description="PodCreated -> the pod's first scheduling attempt")
    podStartup: Distribution | None = Field(
        default=None, description="Scheduled -> PodRunning (kubelet: sandbox, image pull, container start)")
    jobPodCreation: Distribution | None = Field(
        default=None, description="Kueue Admitted -> PodCreated (Job unsuspended, the Job controller creates pods)")


class Spec(K8sModel):
    seed: int = 0
    duration: Duration
    cluster: Cluster
    scheduler: SchedulerSpec = Field(default_factory=SchedulerSpec)
    workloads: list[WorkloadGen] = Field(default_factory=list)
    manifests: list[str] = Field(default_factory=list)
    kueue: dict[str, Any] | None = None
    latencies: Latencies | None = None
    autoscaler: AutoscalerSpec | None = Field(
        default=None, description="cluster autoscaler flags (scanInterval, expander, scaleDown*, "
                                  "maxNodeProvisionTime); on when present or when a pool has autoscaling")
    serving: ServingSpec | None = Field(
        default=None, description="inference serving: objects (apps/v1 Deployments, autoscaling/v2 "
                                  "HorizontalPodAutoscalers, gateway.networking.k8s.io/v1 HTTPRoutes) and loads")
    actions: list[Action] = Field(default_factory=list, description="scripted what-if actions: [{at: 2h, scale: "
                                                                    "{deployment, replicas}}, ...]")
    dra: DRASpec | None = Field(default=None, description="Dynamic Resource Allocation objects: deviceClasses, "
                                                          "resourceClaimTemplates, resourceClaims")
    volcano: dict[str, Any] | None = Field(
        default=None, description="Volcano's scheduler: schedulePeriod, actions, overcommitFactor and "
                                  "scheduling.volcano.sh/v1beta1 queues and podGroups (docs/scenario.md)")

    @model_validator(mode="after")
    def _checks(self) -> Spec:
        if parse_duration(self.duration) <= 0:
            raise ValueError("duration must be > 0 (e.g. 12h)")
        seen: set[tuple[str, str]] = set()
        for w in self.workloads:
            if (w.namespace, w.name) in seen:
                raise ValueError(f"workload {w.namespace}/{w.name} is defined twice")
            seen.add((w.namespace, w.name))
        return self


class Scenario(K8sModel):
    apiVersion: Literal["kubetwin.dev/v1alpha1"]
    kind: Literal["Scenario"]
    metadata: Metadata
    spec: Spec

    #: where the file was read from (for relative paths); not part of the schema
    _source: Path | None = None
    #: the manifests read by :func:`models.resolution.resolve_workloads` (a ``ManifestSet``), once
    _manifests: Any = None

    @property
    def source(self) -> Path | None:
        return self._source

    @property
    def base_dir(self) -> Path:
        return self._source.parent if self._source else Path.cwd()


# ----------------------------------------------------------------------------------------- loading

def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """Walk the pydantic model tree along ``loc`` to find the model that owns the last key."""
    model: Any = Scenario
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        field = model.model_fields.get(str(part))
        if field is None:
            return model
        model = _unwrap(field.annotation)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _unwrap(tp: Any) -> Any:
    for arg in getattr(tp, "__args__", ()) or ():
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
        inner = _unwrap(arg)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return inner
    return tp


_FIXES = {
    "literal_error": "use one of the allowed values",
    "missing": "add the field",
    "int_parsing": "write a whole number",
    "int_type": "write a whole number",
    "float_parsing": "write a number",
    "string_type": "write a string (quote it)",
    "dict_type": "write a mapping (key: value)",
    "list_type": "write a list (- item)",
    "greater_than_equal": "use a larger value",
    "less_than_equal": "use a smaller value",
    "string_pattern_mismatch": "use lowercase letters, digits and '-' (a DNS label)",
}


def _error_from_validation(e: ValidationError, file: str, text: str) -> InputError:
    # an unknown field is usually a typo of a missing one: report it first, with a did-you-mean
    errs = sorted(e.errors(), key=lambda x: x["type"] != "extra_forbidden")
    first = errs[0]
    loc = tuple(first["loc"])
    # pydantic appends union/function names into loc; keep the parts that are real keys
    clean: tuple[int | str, ...] = tuple(p for p in loc if isinstance(p, int) or ("[" not in str(p)
                                         and not str(p).startswith("function-")))
    msg = str(first["msg"])
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    fix = _FIXES.get(str(first["type"]))
    if first["type"] == "extra_forbidden":
        owner = _model_at(clean[:-1])
        field = str(clean[-1])
        msg = f"unknown field {field!r}"
        if owner is not None:
            known = list(owner.model_fields)
            guess = did_you_mean(field, known)
            fix = (f"did you mean {guess!r}?" if guess else
                   "remove it; known fields here: " + ", ".join(known))
        where = locate(text, clean, key=True)
    else:
        where = locate(text, clean)
        if first["type"] == "literal_error":
            msg = f"got {first.get('input')!r}; {msg}"
    more = len(errs) - 1
    if more:
        msg += f" (and {more} more problem{'s' if more > 1 else ''})"
    line, col = where if where is not None else (None, None)
    return InputError(msg, file=file, field=_path(clean) or None, fix=fix, line=line, column=col)


def parse_scenario_text(text: str, file: str = "<scenario>", source: Path | None = None) -> Scenario:
    """Parse and validate scenario YAML text; raises :class:`InputError`.

    YAML is read by :func:`models.yaml_input.load_documents`: libyaml, no node tree, duplicate keys and
    alias bombs refused."""
    try:
        docs = load_documents(text, file)
    except RecursionError:
        raise InputError("YAML nests too deeply", file=file) from None
    if len(docs) > 1:
        raise InputError(f"the file holds {len(docs)} YAML documents; a scenario is one", file=file,
                         fix="remove the extra '---' documents (put Kubernetes objects under spec.manifests)")
    data = docs[0] if docs else None
    if data is None:
        raise InputError("the file is empty", file=file,
                         fix=f"start with 'apiVersion: {API_VERSION}' and 'kind: {KIND}'")
    if not isinstance(data, dict):
        raise InputError(f"expected a mapping at the top level, got {type(data).__name__}", file=file,
                         fix=f"start with 'apiVersion: {API_VERSION}' and 'kind: {KIND}'")
    api, kind = data.get("apiVersion"), data.get("kind")
    if api != API_VERSION or kind != KIND:
        what = f"apiVersion {api!r}, kind {kind!r}"
        raise InputError(f"this is not a kubetwin scenario ({what})", file=file,
                         field="apiVersion" if api != API_VERSION else "kind",
                         fix=f"use apiVersion: {API_VERSION} and kind: {KIND}")
    try:
        sc = Scenario.model_validate(data)
    except ValidationError as e:
        raise _error_from_validation(e, file, text) from None
    except RecursionError:
        raise InputError("the scenario nests too deeply", file=file) from None
    sc._source = source
    return sc


def load_scenario(path: str | Path) -> Scenario:
    """Load a scenario file; every problem becomes an :class:`InputError`."""
    p = Path(path)
    if not p.exists():
        raise InputError("file not found", file=str(p), fix="check the path")
    if p.is_dir():
        raise InputError("is a directory, not a scenario file", file=str(p),
                         fix="pass a .yaml file, e.g. scenarios/quickstart.yaml")
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror}", file=str(p)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"not UTF-8 text (byte {e.start})", file=str(p),
                         fix="save the file as UTF-8") from None
    sc = parse_scenario_text(text, str(p), p.resolve())
    from models.resolution import resolve_workloads  # it imports this module

    resolve_workloads(sc)
    return sc


def scenario_json_schema() -> str:
    """The JSON Schema of the scenario, for editor completion (``kubetwin schema``): see :mod:`models.schema`."""
    from models.schema import scenario_schema

    return json.dumps(scenario_schema(), indent=2, ensure_ascii=False)


__all__ = ["API_VERSION", "KIND", "Distribution", "NodePool", "Scenario", "WorkloadGen", "load_scenario",
           "parse_scenario_text", "scenario_json_schema"]
