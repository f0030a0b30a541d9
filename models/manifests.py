"""Real Kubernetes manifests a scenario points at: multi-document YAML files routed by
``(apiVersion, kind)``.

A scenario lists manifest files under ``spec.manifests`` (paths relative to the scenario file). Each
document is one Kubernetes object, the same YAML a user would ``kubectl apply``:

* Kueue ``ResourceFlavor`` / ``ClusterQueue`` / ``LocalQueue`` / ``AdmissionCheck`` /
  ``ProvisioningRequestConfig`` (``kueue.x-k8s.io/v1beta1`` and ``v1beta2``) → the models of
  :mod:`models.kueue`; ``WorkloadPriorityClass`` → its value;
* ``batch/v1`` Job, ``jobset.x-k8s.io/v1alpha2`` JobSet and ``kueue.x-k8s.io`` Workload → a
  :class:`WorkloadManifest`: the pod sets Kueue would build (Job: one pod set of ``min(parallelism,
  completions)`` pods; JobSet: one per replicatedJob of ``replicas × that``), each with a compact pod
  template ``{requests, nodeSelector, tolerations, affinity}``, the LocalQueue from the
  ``kueue.x-k8s.io/queue-name`` label and the priority class;
* AI operator objects - JobSet, ``leaderworkerset.x-k8s.io/v1`` LeaderWorkerSet, ``ray.io/v1``
  RayCluster/RayJob, ``kubeflow.org/v1`` PyTorchJob, ``trainer.kubeflow.org/v1alpha1`` TrainJob (with
  its ClusterTrainingRuntime/TrainingRuntime, from any file) and ``batch.volcano.sh/v1alpha1`` Job - →
  a :class:`models.operators.OperatorWorkload` (a WorkloadManifest plus the controller's pods and gangs);
* ``scheduling.x-k8s.io/v1alpha1`` PodGroup (coscheduling), ``scheduling.k8s.io`` Workload (KEP-4671)
  and ``scheduling.k8s.io/v1`` PriorityClass;
* ``resource.k8s.io/v1`` DeviceClass / ResourceSlice / ResourceClaimTemplate, kept as raw dicts.

A pod's effective request is what kube-scheduler uses, computed by :mod:`models.requests` (init
containers in order, sidecars adding to everything after them, pod-level requests, overhead, limits
defaulting requests).

Anything else - an unknown ``(apiVersion, kind)``, a field we do not model that changes scheduling - is
a warning naming the file and document index, never silence. Fields that cannot change where or when a
pod runs (image, command, env, probes, volumes...) are accepted quietly. YAML syntax errors and invalid
values are :class:`~models.errors.InputError` with file, line and column.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from models.dra import is_dra, parse_dra_object
from models.errors import InputError
from models.kueue import (
    KUEUE_GROUP,
    KUEUE_KINDS,
    KUEUE_VERSIONS,
    AdmissionCheck,
    ClusterQueue,
    KueueSection,
    LocalQueue,
    ProvisioningRequestConfig,
    ResourceFlavor,
    WaitForPodsReady,
    parse_kueue_object,
)
from models.quantity import Quantity, QuantityError, parse_quantity
from models.requests import QuantityReader, pod_spec_requests
from models.yaml_input import load_documents

QUEUE_NAME_LABEL = "kueue.x-k8s.io/queue-name"
PRIORITY_CLASS_LABEL = "kueue.x-k8s.io/priority-class"
JOB_MIN_PARALLELISM_ANNOTATION = "kueue.x-k8s.io/job-min-parallelism"
POD_GROUP_LABEL = "scheduling.x-k8s.io/pod-group"

_SERVER_METADATA = {"uid", "resourceVersion", "generation", "creationTimestamp", "managedFields",
                    "finalizers", "selfLink", "ownerReferences", "generateName", "deletionTimestamp"}
_METADATA = {"name", "namespace", "labels", "annotations"} | _SERVER_METADATA
# fields that cannot change where or when a pod runs
_INERT_POD = {"volumes", "serviceAccountName", "serviceAccount", "automountServiceAccountToken",
              "securityContext", "terminationGracePeriodSeconds", "imagePullSecrets", "hostname",
              "subdomain", "dnsPolicy", "dnsConfig", "enableServiceLinks", "restartPolicy",
              "shareProcessNamespace", "hostAliases", "activeDeadlineSeconds"}
_INERT_CONTAINER = {"name", "image", "command", "args", "env", "envFrom", "ports", "volumeMounts",
                    "workingDir", "imagePullPolicy", "securityContext", "readinessProbe", "livenessProbe",
                    "startupProbe", "lifecycle", "terminationMessagePath", "terminationMessagePolicy",
                    "stdin", "stdinOnce", "tty", "volumeDevices", "resizePolicy", "restartPolicy"}
_INERT_JOB = {"ttlSecondsAfterFinished", "completionMode", "selector", "manualSelector", "suspend"}


@dataclass(slots=True)
class PodSetManifest:
    """One pod set: ``count`` pods from ``template`` = ``{requests: {res: qty}, nodeSelector,
    tolerations, affinity}`` (only required node affinity), ``min_count`` for partial admission."""

    name: str
    count: int
    template: dict[str, Any]
    min_count: int | None = None

    def requests_milli(self) -> dict[str, int]:
        return {r: parse_quantity(q).to_milli() for r, q in self.template["requests"].items()}


@dataclass(slots=True)
class WorkloadManifest:
    """A Job, JobSet or Kueue Workload as Kueue sees it: pod sets, queue, priority."""

    api_version: str
    kind: str
    namespace: str
    name: str
    pod_sets: list[PodSetManifest]
    queue_name: str | None = None
    priority_class_name: str | None = None
    workload_priority_class: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    source: str = ""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(slots=True)
class PodGroupManifest:
    """A coscheduling ``PodGroup`` (``scheduling.x-k8s.io/v1alpha1``)."""

    namespace: str
    name: str
    min_member: int
    min_resources: dict[str, str] = field(default_factory=dict)
    schedule_timeout_seconds: int | None = None
    source: str = ""


@dataclass(slots=True)
class SchedulingWorkloadManifest:
    """A ``scheduling.k8s.io`` Workload (KEP-4671): pod groups with their gang ``minCount`` (None: basic)."""

    api_version: str
    namespace: str
    name: str
    pod_groups: list[tuple[str, int | None]]
    source: str = ""


@dataclass(slots=True)
class PriorityClassManifest:
    """A ``scheduling.k8s.io/v1`` PriorityClass: the value a pod naming it gets (API server admission)."""

    name: str
    value: int
    global_default: bool = False
    preemption_policy: str = "PreemptLowerPriority"
    source: str = ""


@dataclass(slots=True)
class ManifestSet:
    """Everything read from manifest files, by kind, plus the warnings met on the way."""

    resource_flavors: list[ResourceFlavor] = field(default_factory=list)
    cluster_queues: list[ClusterQueue] = field(default_factory=list)
    local_queues: list[LocalQueue] = field(default_factory=list)
    admission_checks: list[AdmissionCheck] = field(default_factory=list)
    provisioning_request_configs: list[ProvisioningRequestConfig] = field(default_factory=list)
    workloads: list[WorkloadManifest] = field(default_factory=list)
    pod_groups: list[PodGroupManifest] = field(default_factory=list)
    scheduling_workloads: list[SchedulingWorkloadManifest] = field(default_factory=list)
    priority_classes: list[PriorityClassManifest] = field(default_factory=list)
    workload_priority_classes: dict[str, int] = field(default_factory=dict)
    device_classes: list[dict[str, Any]] = field(default_factory=list)
    resource_slices: list[dict[str, Any]] = field(default_factory=list)
    resource_claim_templates: list[dict[str, Any]] = field(default_factory=list)
    #: ClusterTrainingRuntime / TrainingRuntime objects by lookup key (models.operators.training_runtime_entry)
    training_runtimes: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: TrainJobs waiting for every file's runtimes: (object, file, document index)
    pending_trainjobs: list[tuple[dict[str, Any], str, int]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def extend(self, other: ManifestSet) -> None:
        for name in self.__dataclass_fields__:
            mine = getattr(self, name)
            if isinstance(mine, dict):
                mine.update(getattr(other, name))
            else:
                mine.extend(getattr(other, name))

    def kueue_section(self, wait_for_pods_ready: WaitForPodsReady | None = None) -> KueueSection:
        return KueueSection(resource_flavors=list(self.resource_flavors),
                            cluster_queues=list(self.cluster_queues), local_queues=list(self.local_queues),
                            admission_checks=list(self.admission_checks),
                            provisioning_request_configs=list(self.provisioning_request_configs),
                            wait_for_pods_ready=wait_for_pods_ready or WaitForPodsReady())

    def priority_of(self, w: WorkloadManifest) -> int:
        """Kueue's priority: the WorkloadPriorityClass label, else the pods' PriorityClass, else the
        global default PriorityClass, else 0."""
        if w.workload_priority_class and w.workload_priority_class in self.workload_priority_classes:
            return self.workload_priority_classes[w.workload_priority_class]
        by_name = {p.name: p.value for p in self.priority_classes}
        if w.priority_class_name and w.priority_class_name in by_name:
            return by_name[w.priority_class_name]
        for p in self.priority_classes:
            if p.global_default:
                return p.value
        return 0


# ---------------------------------------------------------------------------------------------------
# Loading


def load_manifests(paths: Iterable[str | Path], base_dir: str | Path) -> ManifestSet:
    """Read manifest files (relative paths resolve against ``base_dir``, the scenario's folder)."""
    out = ManifestSet()
    for p in paths:
        path = Path(p)
        if not path.is_absolute():
            path = Path(base_dir) / path
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            fix = "check the path under spec.manifests (relative to the scenario file)"
            raise InputError(f"cannot read manifest file: {e.strerror or e}", file=str(p), fix=fix) from None
        out.extend(_parse_manifest_text(text, str(p)))
    _expand_trainjobs(out)
    return out


def load_manifest_text(text: str, file: str = "<manifest>") -> ManifestSet:
    """Parse and route every document of one multi-document YAML text."""
    out = _parse_manifest_text(text, file)
    _expand_trainjobs(out)
    return out


def _parse_manifest_text(text: str, file: str) -> ManifestSet:
    out = ManifestSet()
    for index, doc in _documents(text, file):
        if is_dra(doc):  # validated here, where the file's text gives the error a line and column
            parse_dra_object(doc, file=file, text=text)
        _route(doc, file, index, out)
    return out


def _expand_trainjobs(out: ManifestSet) -> None:
    """TrainJobs once every file's runtimes are known (a TrainJob may name a runtime in another file)."""
    from models.operators import expand  # lazy: models.operators builds on this module

    for doc, file, index in out.pending_trainjobs:
        out.workloads.append(expand(doc, file, index, out.warnings, out.training_runtimes))
    out.pending_trainjobs.clear()


def _documents(text: str, file: str) -> Iterator[tuple[int, dict[str, Any]]]:
    docs = load_documents(text, file)  # libyaml; duplicate keys and alias bombs are InputErrors
    n = 0
    for i, doc in enumerate(docs):
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise InputError(f"document {i} is a {type(doc).__name__}, not a Kubernetes object", file=file,
                             fix="each document needs apiVersion, kind and metadata")
        if str(doc.get("kind", "")).endswith("List") and isinstance(doc.get("items"), list):
            for item in doc.get("items") or []:
                if isinstance(item, dict):
                    yield n, item
                    n += 1
            continue
        yield n, doc
        n += 1


def _route(doc: dict[str, Any], file: str, index: int, out: ManifestSet) -> None:
    api_version = str(doc.get("apiVersion", ""))
    kind = str(doc.get("kind", ""))
    group, _, version = api_version.rpartition("/")
    name = (doc.get("metadata") or {}).get("name", "?")
    where = f"{file}#{index} ({kind} {name})"
    warn = out.warnings

    if group == KUEUE_GROUP and version in KUEUE_VERSIONS and kind in KUEUE_KINDS:
        obj, warnings = parse_kueue_object(doc, file=f"{file}#{index}")
        warn.extend(f"{where}: {w}" for w in warnings)
        if isinstance(obj, ResourceFlavor):
            out.resource_flavors.append(obj)
        elif isinstance(obj, ClusterQueue):
            out.cluster_queues.append(obj)
        elif isinstance(obj, AdmissionCheck):
            out.admission_checks.append(obj)
        elif isinstance(obj, ProvisioningRequestConfig):
            out.provisioning_request_configs.append(obj)
        else:
            out.local_queues.append(obj)
        if "status" in doc:
            warn.append(f"{where}: status is ignored")
        return
    if group == KUEUE_GROUP and kind == "WorkloadPriorityClass":
        out.workload_priority_classes[name] = _int32(doc.get("value", 0), file, index, "value")
        return
    if api_version == "batch/v1" and kind == "Job":
        out.workloads.append(_job(doc, file, index, warn))
        return
    if _route_operator(doc, api_version, kind, file, index, out):
        return
    if group == KUEUE_GROUP and kind == "Workload":
        out.workloads.append(_kueue_workload(doc, file, index, warn))
        return
    if group == "scheduling.x-k8s.io" and kind == "PodGroup":
        spec = doc.get("spec") or {}
        meta = _meta(doc, file, index, warn, where)
        out.pod_groups.append(PodGroupManifest(
            meta["namespace"], meta["name"], _int(spec.get("minMember", 0), file, index, "spec.minMember"),
            _requests(spec.get("minResources") or {}, file, index, "spec.minResources"),
            spec.get("scheduleTimeoutSeconds"), where))
        _warn_unknown(spec, {"minMember", "minResources", "scheduleTimeoutSeconds"}, "spec", where, warn)
        return
    if group == "scheduling.k8s.io" and kind == "Workload":
        out.scheduling_workloads.append(_scheduling_workload(doc, file, index, warn, where))
        return
    if group == "scheduling.k8s.io" and kind == "PriorityClass":
        out.priority_classes.append(PriorityClassManifest(
            name, _int32(doc.get("value", 0), file, index, "value"), bool(doc.get("globalDefault", False)),
            str(doc.get("preemptionPolicy", "PreemptLowerPriority")), where))
        return
    if group == "resource.k8s.io":
        target = {"DeviceClass": out.device_classes, "ResourceSlice": out.resource_slices,
                  "ResourceClaimTemplate": out.resource_claim_templates}.get(kind)
        if target is not None:
            target.append(doc)
            return
    if (api_version, kind) in SERVING_KINDS:
        return  # read by the serving controller's plan (models/serving.py) from the same files
    if group == "scheduling.volcano.sh":
        return  # Volcano Queues and PodGroups: read by models/volcano.py from the same files
    warn.append(f"{where}: {api_version or '<no apiVersion>'} {kind or '<no kind>'} is not an object "
                "kubetwin reads; ignored")


#: inference-serving objects that models/serving.py reads from spec.manifests itself
SERVING_KINDS = frozenset({("apps/v1", "Deployment"), ("autoscaling/v2", "HorizontalPodAutoscaler"),
                           ("gateway.networking.k8s.io/v1", "HTTPRoute")})


# ---------------------------------------------------------------------------------------------------
# Workloads


def _route_operator(doc: dict[str, Any], api_version: str, kind: str, file: str, index: int,
                    out: ManifestSet) -> bool:
    """AI operator objects (JobSet, LeaderWorkerSet, RayCluster/RayJob, PyTorchJob, TrainJob and its
    runtimes, Volcano Job) → :class:`models.operators.OperatorWorkload`; False for any other kind."""
    from models import operators  # lazy: models.operators builds on this module

    if operators.is_training_runtime(api_version, kind):
        key, runtime = operators.training_runtime_entry(doc)
        out.training_runtimes[key] = runtime
        return True
    if not operators.is_operator_object(api_version, kind):
        return False
    if kind == "TrainJob":
        out.pending_trainjobs.append((doc, file, index))
    else:
        out.workloads.append(operators.expand(doc, file, index, out.warnings))
    return True


def _meta(doc: dict[str, Any], file: str, index: int, warn: list[str], where: str) -> dict[str, Any]:
    meta = doc.get("metadata") or {}
    if not isinstance(meta, dict) or not meta.get("name"):
        raise InputError("metadata.name is required", file=f"{file}#{index}", field="metadata.name")
    _warn_unknown(meta, _METADATA, "metadata", where, warn)
    return {"name": str(meta["name"]), "namespace": str(meta.get("namespace") or "default"),
            "labels": dict(meta.get("labels") or {}), "annotations": dict(meta.get("annotations") or {})}


def _job_pod_set(name: str, job_spec: dict[str, Any], replicas: int, file: str, index: int, path: str,
                 where: str, warn: list[str], annotations: dict[str, str]) -> PodSetManifest:
    parallelism = _int(job_spec.get("parallelism", 1), file, index, f"{path}.parallelism")
    completions = job_spec.get("completions")
    count = parallelism if completions is None else min(parallelism,
                                                        _int(completions, file, index, f"{path}.completions"))
    _warn_unknown(job_spec, {"parallelism", "completions", "template"} | _INERT_JOB, path, where, warn)
    template = job_spec.get("template") or {}
    pod_spec = template.get("spec") or {}
    compact = compact_pod_template(pod_spec, file=f"{file}#{index}", path=f"{path}.template.spec",
                                   where=where, warn=warn)
    min_count = None
    if JOB_MIN_PARALLELISM_ANNOTATION in annotations:
        min_count = _int(annotations[JOB_MIN_PARALLELISM_ANNOTATION], file, index,
                         f"metadata.annotations[{JOB_MIN_PARALLELISM_ANNOTATION}]")
    return PodSetManifest(name, count * replicas, compact, min_count)


def _job(doc: dict[str, Any], file: str, index: int, warn: list[str]) -> WorkloadManifest:
    where = f"{file}#{index} (Job {(doc.get('metadata') or {}).get('name', '?')})"
    meta = _meta(doc, file, index, warn, where)
    spec = doc.get("spec") or {}
    ps = _job_pod_set("main", spec, 1, file, index, "spec", where, warn, meta["annotations"])
    return _workload(doc, meta, [ps], (spec.get("template") or {}).get("spec") or {}, where)


def _kueue_workload(doc: dict[str, Any], file: str, index: int, warn: list[str]) -> WorkloadManifest:
    where = f"{file}#{index} (Workload {(doc.get('metadata') or {}).get('name', '?')})"
    meta = _meta(doc, file, index, warn, where)
    spec = doc.get("spec") or {}
    _warn_unknown(spec, {"podSets", "queueName", "priorityClassName", "priority", "priorityClassSource",
                         "active"}, "spec", where, warn)
    pod_sets = []
    for i, ps in enumerate(spec.get("podSets") or []):
        path = f"spec.podSets[{i}]"
        pod_spec = ((ps.get("template") or {}).get("spec")) or {}
        compact = compact_pod_template(pod_spec, file=f"{file}#{index}", path=f"{path}.template.spec",
                                       where=where, warn=warn)
        mc = ps.get("minCount")
        count = _int(ps.get("count", 1), file, index, f"{path}.count")
        min_count = None if mc is None else _int(mc, file, index, f"{path}.minCount")
        pod_sets.append(PodSetManifest(str(ps.get("name", "main")), count, compact, min_count))
    w = WorkloadManifest(str(doc.get("apiVersion")), "Workload", meta["namespace"], meta["name"], pod_sets,
                         queue_name=spec.get("queueName"), priority_class_name=spec.get("priorityClassName"),
                         labels=meta["labels"], annotations=meta["annotations"], source=where)
    if spec.get("priorityClassSource") == f"{KUEUE_GROUP}/workloadpriorityclass":
        w.workload_priority_class = spec.get("priorityClassName")
        w.priority_class_name = None
    return w


def _workload(doc: dict[str, Any], meta: dict[str, Any], pod_sets: list[PodSetManifest],
              pod_spec: dict[str, Any], where: str) -> WorkloadManifest:
    labels = meta["labels"]
    queue = labels.get(QUEUE_NAME_LABEL) or meta["annotations"].get(QUEUE_NAME_LABEL)
    return WorkloadManifest(str(doc.get("apiVersion")), str(doc.get("kind")), meta["namespace"], meta["name"],
                            pod_sets, queue_name=queue, priority_class_name=pod_spec.get("priorityClassName"),
                            workload_priority_class=labels.get(PRIORITY_CLASS_LABEL), labels=labels,
                            annotations=meta["annotations"], source=where)


def _scheduling_workload(doc: dict[str, Any], file: str, index: int, warn: list[str],
                         where: str) -> SchedulingWorkloadManifest:
    meta = _meta(doc, file, index, warn, where)
    spec = doc.get("spec") or {}
    groups: list[tuple[str, int | None]] = []
    items = spec.get("podGroups") or spec.get("podGroupTemplates") or []
    for i, g in enumerate(items):
        policy = g.get("policy") or g.get("schedulingPolicy") or {}
        gang = policy.get("gang")
        mc = None if gang is None else _int(gang.get("minCount", 1), file, index,
                                            f"spec.podGroups[{i}].policy.gang.minCount")
        groups.append((str(g.get("name", f"group{i}")), mc))
    _warn_unknown(spec, {"podGroups", "podGroupTemplates", "controllerRef"}, "spec", where, warn)
    return SchedulingWorkloadManifest(str(doc.get("apiVersion")), meta["namespace"], meta["name"], groups,
                                      where)


# ---------------------------------------------------------------------------------------------------
# Pod templates


def compact_pod_template(pod_spec: dict[str, Any], *, file: str = "<manifest>", path: str = "spec",
                         where: str = "", warn: list[str] | None = None) -> dict[str, Any]:
    """``{requests, nodeSelector, tolerations, affinity}`` of a pod spec; requests as canonical strings."""
    warnings = warn if warn is not None else []
    _warn_unknown(pod_spec, {"containers", "initContainers", "nodeSelector", "tolerations", "affinity",
                             "priorityClassName", "priority", "overhead", "resources"} | _INERT_POD,
                  path, where, warnings)
    for kind in ("containers", "initContainers"):
        for i, c in enumerate(pod_spec.get(kind) or []):
            _warn_unknown(c, {"resources"} | _INERT_CONTAINER, f"{path}.{kind}[{i}]", where, warnings)
    total = pod_spec_requests(pod_spec, _strict_quantity(file), path)
    requests = {r: Quantity(q.value, "BinarySI" if _bytes(r) else "DecimalSI").canonical()
                for r, q in total.items() if q.value}
    out: dict[str, Any] = {"requests": requests}
    if pod_spec.get("nodeSelector"):
        out["nodeSelector"] = {str(k): str(v) for k, v in pod_spec["nodeSelector"].items()}
    if pod_spec.get("tolerations"):
        out["tolerations"] = list(pod_spec["tolerations"])
    affinity = pod_spec.get("affinity") or {}
    required = (affinity.get("nodeAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution")
    # required terms filter (NodeAffinity Filter); preferred terms score (NodeAffinity Score)
    preferred = (affinity.get("nodeAffinity") or {}).get("preferredDuringSchedulingIgnoredDuringExecution")
    node_affinity: dict[str, Any] = {}
    if required:
        node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = required
    if preferred:
        node_affinity["preferredDuringSchedulingIgnoredDuringExecution"] = preferred
    if node_affinity:
        out["affinity"] = {"nodeAffinity": node_affinity}
    for k in sorted(affinity):
        if k != "nodeAffinity":
            warnings.append(f"{where}: {path}.affinity.{k}: not modelled by kubetwin; ignored")
    for k in sorted(affinity.get("nodeAffinity") or {}):
        if k not in ("requiredDuringSchedulingIgnoredDuringExecution",
                     "preferredDuringSchedulingIgnoredDuringExecution"):
            warnings.append(f"{where}: {path}.affinity.nodeAffinity.{k}: not modelled by kubetwin; ignored")
    return out


_NONNEG_FIX = "requests and limits are amounts >= 0, as the API server requires"


def _strict_quantity(file: str) -> QuantityReader:
    """A quantity reader for manifests: a malformed quantity is an InputError naming the field."""
    def read(raw: Any, path: str) -> Quantity:
        try:
            q = parse_quantity(raw)
        except QuantityError as e:
            raise InputError(str(e), file=file, field=path) from None
        if q.value < 0:
            raise InputError(f"{raw!r} is negative", file=file, field=path, fix=_NONNEG_FIX)
        return q
    return read


def _requests_frac(d: dict[str, Any], file: str, path: str) -> dict[str, Fraction]:
    out = {}
    for r, q in d.items():
        try:
            out[str(r)] = parse_quantity(q).value
        except QuantityError as e:
            raise InputError(str(e), file=file, field=f"{path}.{r}") from None
        if out[str(r)] < 0:
            raise InputError(f"{q!r} is negative", file=file, field=f"{path}.{r}", fix=_NONNEG_FIX)
    return out


def _requests(d: dict[str, Any], file: str, index: int, path: str) -> dict[str, str]:
    return {r: Quantity(v, "BinarySI" if _bytes(r) else "DecimalSI").canonical()
            for r, v in sorted(_requests_frac(d, f"{file}#{index}", path).items())}


def _bytes(name: str) -> bool:
    return name in ("memory", "ephemeral-storage") or name.startswith("hugepages-")


def _int(v: Any, file: str, index: int, path: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int | str):
        raise InputError(f"{v!r} is not an integer", file=f"{file}#{index}", field=path)
    try:
        return int(v)
    except ValueError:
        raise InputError(f"{v!r} is not an integer", file=f"{file}#{index}", field=path) from None


def _int32(v: Any, file: str, index: int, path: str) -> int:
    """A priority value: an int32, as ``PriorityClass.value`` and ``PodSpec.priority`` are."""
    n = _int(v, file, index, path)
    if not -(2**31) <= n <= 2**31 - 1:
        raise InputError(f"{n} is outside the int32 range of a priority", file=f"{file}#{index}", field=path,
                         fix="use a value from -2147483648 to 2147483647 (user classes: at most 1000000000)")
    return n


def _warn_unknown(obj: Any, known: set[str], path: str, where: str, warn: list[str]) -> None:
    if not isinstance(obj, dict):
        return
    for k in sorted(obj):
        if k not in known:
            warn.append(f"{where}: {path}.{k}: not modelled by kubetwin; ignored")
