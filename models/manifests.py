"""Real Kubernetes manifests a scenario points at: multi-document YAML files routed by
``(apiVersion, kind)``.

A scenario lists manifest files under ``spec.manifests`` (paths relative to the scenario file). Each
document is one Kubernetes object, the same YAML a user would ``kubectl apply``:

* Kueue ``ResourceFlavor`` / ``ClusterQueue`` / ``LocalQueue`` (``kueue.x-k8s.io/v1beta1`` and
  ``v1beta2``) → the models of :mod:`models.kueue`; ``WorkloadPriorityClass`` → its value;
* ``batch/v1`` Job, ``jobset.x-k8s.io/v1alpha2`` JobSet and ``kueue.x-k8s.io`` Workload → a
  :class:`WorkloadManifest`: the pod sets Kueue would build (Job: one pod set of ``min(parallelism,
  completions)`` pods; JobSet: one per replicatedJob of ``replicas × that``), each with a compact pod
  template ``{requests, nodeSelector, tolerations, affinity}``, the LocalQueue from the
  ``kueue.x-k8s.io/queue-name`` label and the priority class;
* ``scheduling.x-k8s.io/v1alpha1`` PodGroup (coscheduling), ``scheduling.k8s.io`` Workload (KEP-4671)
  and ``scheduling.k8s.io/v1`` PriorityClass;
* ``resource.k8s.io/v1`` DeviceClass / ResourceSlice / ResourceClaimTemplate, kept as raw dicts.

A pod's effective request is what kube-scheduler uses: per resource, the larger of (sum of app
containers + sidecar init containers) and the largest regular init container (plus the sidecars started
before it); a container that sets only ``limits`` requests its limits.

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

import yaml

from models.errors import InputError
from models.kueue import (
    KUEUE_GROUP,
    KUEUE_VERSIONS,
    ClusterQueue,
    KueueSection,
    LocalQueue,
    ResourceFlavor,
    WaitForPodsReady,
    parse_kueue_object,
)
from models.quantity import Quantity, QuantityError, parse_quantity

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
    name: str
    value: int
    global_default: bool = False
    preemption_policy: str = "PreemptLowerPriority"


@dataclass(slots=True)
class ManifestSet:
    """Everything read from manifest files, by kind, plus the warnings met on the way."""

    resource_flavors: list[ResourceFlavor] = field(default_factory=list)
    cluster_queues: list[ClusterQueue] = field(default_factory=list)
    local_queues: list[LocalQueue] = field(default_factory=list)
    workloads: list[WorkloadManifest] = field(default_factory=list)
    pod_groups: list[PodGroupManifest] = field(default_factory=list)
    scheduling_workloads: list[SchedulingWorkloadManifest] = field(default_factory=list)
    priority_classes: list[PriorityClassManifest] = field(default_factory=list)
    workload_priority_classes: dict[str, int] = field(default_factory=dict)
    device_classes: list[dict[str, Any]] = field(default_factory=list)
    resource_slices: list[dict[str, Any]] = field(default_factory=list)
    resource_claim_templates: list[dict[str, Any]] = field(default_factory=list)
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
        out.extend(load_manifest_text(text, str(p)))
    return out


def load_manifest_text(text: str, file: str = "<manifest>") -> ManifestSet:
    """Parse and route every document of one multi-document YAML text."""
    out = ManifestSet()
    for index, doc in _documents(text, file):
        _route(doc, file, index, out)
    return out


def _documents(text: str, file: str) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        problem = getattr(e, "problem", None) or str(e)
        raise InputError(f"YAML syntax error: {problem}", file=file,
                         line=mark.line + 1 if mark else None, column=mark.column + 1 if mark else None,
                         fix="fix the YAML at that position") from None
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

    if group == KUEUE_GROUP and version in KUEUE_VERSIONS and kind in ("ResourceFlavor", "ClusterQueue",
                                                                       "LocalQueue"):
        obj, warnings = parse_kueue_object(doc, file=f"{file}#{index}")
        warn.extend(f"{where}: {w}" for w in warnings)
        if isinstance(obj, ResourceFlavor):
            out.resource_flavors.append(obj)
        elif isinstance(obj, ClusterQueue):
            out.cluster_queues.append(obj)
        else:
            out.local_queues.append(obj)
        if "status" in doc:
            warn.append(f"{where}: status is ignored")
        return
    if group == KUEUE_GROUP and kind == "WorkloadPriorityClass":
        out.workload_priority_classes[name] = _int(doc.get("value", 0), file, index, "value")
        return
    if api_version == "batch/v1" and kind == "Job":
        out.workloads.append(_job(doc, file, index, warn))
        return
    if group == "jobset.x-k8s.io" and kind == "JobSet":
        out.workloads.append(_jobset(doc, file, index, warn))
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
            name, _int(doc.get("value", 0), file, index, "value"), bool(doc.get("globalDefault", False)),
            str(doc.get("preemptionPolicy", "PreemptLowerPriority"))))
        return
    if group == "resource.k8s.io":
        target = {"DeviceClass": out.device_classes, "ResourceSlice": out.resource_slices,
                  "ResourceClaimTemplate": out.resource_claim_templates}.get(kind)
        if target is not None:
            target.append(doc)
            return
    warn.append(f"{where}: {api_version or '<no apiVersion>'} {kind or '<no kind>'} is not an object "
                "kubetwin reads; ignored")


# ---------------------------------------------------------------------------------------------------
# Workloads


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


def _jobset(doc: dict[str, Any], file: str, index: int, warn: list[str]) -> WorkloadManifest:
    where = f"{file}#{index} (JobSet {(doc.get('metadata') or {}).get('name', '?')})"
    meta = _meta(doc, file, index, warn, where)
    spec = doc.get("spec") or {}
    _warn_unknown(spec, {"replicatedJobs", "suspend", "successPolicy", "failurePolicy", "network",
                         "ttlSecondsAfterFinished", "startupPolicy"}, "spec", where, warn)
    pod_sets = []
    first_pod_spec: dict[str, Any] = {}
    for i, rj in enumerate(spec.get("replicatedJobs") or []):
        path = f"spec.replicatedJobs[{i}]"
        replicas = _int(rj.get("replicas", 1), file, index, f"{path}.replicas")
        job_spec = ((rj.get("template") or {}).get("spec")) or {}
        pod_sets.append(_job_pod_set(str(rj.get("name", f"rj{i}")), job_spec, replicas, file, index,
                                     f"{path}.template.spec", where, warn, meta["annotations"]))
        first_pod_spec = first_pod_spec or (job_spec.get("template") or {}).get("spec") or {}
    if not pod_sets:
        raise InputError("a JobSet needs at least one replicatedJob", file=f"{file}#{index}",
                         field="spec.replicatedJobs")
    return _workload(doc, meta, pod_sets, first_pod_spec, where)


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
                             "priorityClassName", "priority"} | _INERT_POD, path, where, warnings)
    app: dict[str, Fraction] = {}
    for i, c in enumerate(pod_spec.get("containers") or []):
        _add(app, _container_requests(c, file, f"{path}.containers[{i}]", where, warnings))
    sidecars: dict[str, Fraction] = {}
    init_peak: dict[str, Fraction] = {}
    for i, c in enumerate(pod_spec.get("initContainers") or []):
        req = _container_requests(c, file, f"{path}.initContainers[{i}]", where, warnings)
        if c.get("restartPolicy") == "Always":  # sidecar: runs alongside everything after it
            _add(sidecars, req)
            continue
        for r, v in req.items():
            init_peak[r] = max(init_peak.get(r, Fraction(0)), v + sidecars.get(r, Fraction(0)))
    total = dict(app)
    _add(total, sidecars)
    for r, v in init_peak.items():
        total[r] = max(total.get(r, Fraction(0)), v)
    requests = {r: Quantity(v, "BinarySI" if _bytes(r) else "DecimalSI").canonical()
                for r, v in sorted(total.items()) if v}
    out: dict[str, Any] = {"requests": requests}
    if pod_spec.get("nodeSelector"):
        out["nodeSelector"] = {str(k): str(v) for k, v in pod_spec["nodeSelector"].items()}
    if pod_spec.get("tolerations"):
        out["tolerations"] = list(pod_spec["tolerations"])
    affinity = pod_spec.get("affinity") or {}
    required = (affinity.get("nodeAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution")
    if required:
        out["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": required}}
    for k in sorted(affinity):
        if k != "nodeAffinity":
            warnings.append(f"{where}: {path}.affinity.{k}: not modelled by kubetwin; ignored")
    for k in sorted(affinity.get("nodeAffinity") or {}):
        if k != "requiredDuringSchedulingIgnoredDuringExecution":
            warnings.append(f"{where}: {path}.affinity.nodeAffinity.{k}: not modelled by kubetwin; ignored")
    return out


def _container_requests(c: dict[str, Any], file: str, path: str, where: str,
                        warn: list[str]) -> dict[str, Fraction]:
    _warn_unknown(c, {"resources"} | _INERT_CONTAINER, path, where, warn)
    res = c.get("resources") or {}
    limits = _requests_frac(res.get("limits") or {}, file, f"{path}.resources.limits")
    requests = _requests_frac(res.get("requests") or {}, file, f"{path}.resources.requests")
    return {**limits, **requests}  # a resource with only a limit requests its limit


def _requests_frac(d: dict[str, Any], file: str, path: str) -> dict[str, Fraction]:
    out = {}
    for r, q in d.items():
        try:
            out[str(r)] = parse_quantity(q).value
        except QuantityError as e:
            raise InputError(str(e), file=file, field=f"{path}.{r}") from None
    return out


def _requests(d: dict[str, Any], file: str, index: int, path: str) -> dict[str, str]:
    return {r: Quantity(v, "BinarySI" if _bytes(r) else "DecimalSI").canonical()
            for r, v in sorted(_requests_frac(d, f"{file}#{index}", path).items())}


def _add(acc: dict[str, Fraction], more: dict[str, Fraction]) -> None:
    for r, v in more.items():
        acc[r] = acc.get(r, Fraction(0)) + v


def _bytes(name: str) -> bool:
    return name in ("memory", "ephemeral-storage") or name.startswith("hugepages-")


def _int(v: Any, file: str, index: int, path: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int | str):
        raise InputError(f"{v!r} is not an integer", file=f"{file}#{index}", field=path)
    try:
        return int(v)
    except ValueError:
        raise InputError(f"{v!r} is not an integer", file=f"{file}#{index}", field=path) from None


def _warn_unknown(obj: Any, known: set[str], path: str, where: str, warn: list[str]) -> None:
    if not isinstance(obj, dict):
        return
    for k in sorted(obj):
        if k not in known:
            warn.append(f"{where}: {path}.{k}: not modelled by kubetwin; ignored")
