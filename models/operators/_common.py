"""What every operator integration shares: the workload an operator object becomes, its pods and its gangs.

An AI operator (JobSet, LeaderWorkerSet, KubeRay, Kubeflow, Volcano) turns one custom object into pods
through its own controller; Kueue's integration for that kind turns the same object into a Workload with
one pod set per role. :class:`OperatorWorkload` holds both views:

* the Kueue view, inherited from :class:`~models.manifests.WorkloadManifest`: pod sets (name, count,
  compact template, ``min_count``), queue, priority class;
* the controller view: every pod the controller creates, with the exact name, labels, annotations and role
  it gives it (:class:`OperatorPod`);
* the gang boundaries each gang policy draws (:class:`Gang`): one Kueue Workload per object (per group for
  LeaderWorkerSet), or the PodGroup the operator (or the user) declares for coscheduling or Volcano.

:class:`Reader` reads a raw object strictly: malformed values are :class:`~models.errors.InputError` naming
the file, the field and the fix; fields kubetwin does not model are warnings naming the field.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from models.errors import InputError
from models.manifests import (
    JOB_MIN_PARALLELISM_ANNOTATION,
    POD_GROUP_LABEL,
    PRIORITY_CLASS_LABEL,
    QUEUE_NAME_LABEL,
    PodSetManifest,
    WorkloadManifest,
    compact_pod_template,
)

#: the gang policies a workload can be simulated under (``gang.policy`` of a scenario workload)
GangPolicy = Literal["kueue", "coscheduling", "volcano", "none"]

#: what drew a gang: a Kueue Workload, a coscheduling PodGroup, a Volcano PodGroup, or only the object itself
GangSource = Literal["kueue-workload", "podgroup", "volcano-podgroup", "object"]

#: Volcano's pod annotation naming the PodGroup (``scheduling.k8s.io/group-name``)
VOLCANO_GROUP_ANNOTATION = "scheduling.k8s.io/group-name"
#: Kubeflow Trainer's API group (TrainJob, ClusterTrainingRuntime, TrainingRuntime)
TRAINER_GROUP = "trainer.kubeflow.org"

_METADATA = {"name", "namespace", "labels", "annotations", "uid", "resourceVersion", "generation",
             "creationTimestamp", "managedFields", "finalizers", "selfLink", "ownerReferences", "generateName",
             "deletionTimestamp"}
#: the characters Kubernetes' ``generateName`` suffixes use (``k8s.io/apimachinery/pkg/util/rand``)
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


@dataclass(frozen=True, slots=True)
class OperatorPod:
    """One pod as the operator's controller creates it.

    ``name`` is the name kubetwin gives the pod. When the controller names the pod itself (Volcano,
    PyTorchJob, LeaderWorkerSet) it is the real name. When the real name ends in a random
    ``generateName`` suffix (Job pods of a JobSet, KubeRay pods) ``generate_name`` is the prefix the real
    pod name starts with and ``name`` is that prefix's stem (JobSet: the pod's hostname
    ``<jobset>-<replicatedJob>-<jobIndex>-<podIndex>``) or the prefix plus a deterministic 5-character
    suffix (KubeRay); match recorded pods by ``generate_name`` prefix and ``labels``, not by ``name``.
    """

    name: str
    pod_set: str
    role: str
    labels: dict[str, str]
    annotations: dict[str, str] = field(default_factory=dict)
    generate_name: str | None = None
    hostname: str | None = None


@dataclass(frozen=True, slots=True)
class Gang:
    """A set of pods admitted or scheduled all or nothing.

    ``key`` is ``<namespace>/<name>`` of the Kueue Workload or PodGroup that draws it (for Kueue the name
    kubetwin gives the Workload; Kueue's real name adds a hash suffix). ``min_count`` is the quorum: all
    of ``pods`` for a Kueue Workload, ``minMember``/``minAvailable`` for a PodGroup, None when a PodGroup
    object the user wrote decides it (look it up by ``key`` among the manifests' PodGroups).
    ``pod_sets`` maps each pod set to the number of its pods in this gang; ``min_task_member`` is Volcano's
    per-task minimum (``PodGroup.spec.minTaskMember``).
    """

    key: str
    source: GangSource
    min_count: int | None
    pods: tuple[str, ...]
    pod_sets: dict[str, int]
    min_task_member: dict[str, int] = field(default_factory=dict)
    queue: str | None = None
    #: a Kueue Workload's real name is ``<this prefix><5 hash characters>`` (jobframework's
    #: ``GetWorkloadNameForOwnerWithGVK``): match recorded Workloads by it
    workload_prefix: str | None = None


@dataclass(slots=True)
class OperatorWorkload(WorkloadManifest):
    """An operator object as kubetwin simulates it: Kueue's pod sets plus the controller's pods and gangs.

    ``startup_order`` lists waves of pod-set names: the pods of a wave are created only once the pods of
    the previous wave are Ready (JobSet ``startupPolicy: InOrder``, LeaderWorkerSet ``LeaderReady``);
    one wave when the controller creates everything at once. ``policies`` keeps the object's
    success/failure/restart policies as written, for the engine to apply. ``kueue_gangs`` and
    ``group_gangs`` are the boundaries drawn under Kueue and under a PodGroup-based gang scheduler
    (coscheduling or Volcano); :meth:`gangs_under` picks one.
    """

    pods: list[OperatorPod] = field(default_factory=list)
    kueue_gangs: list[Gang] = field(default_factory=list)
    group_gangs: list[Gang] = field(default_factory=list)
    startup_order: list[list[str]] = field(default_factory=list)
    policies: dict[str, Any] = field(default_factory=dict)
    scheduler_name: str | None = None
    #: the gang policy the object itself selects (its runtime's ``podGroupPolicy``, a PodGroup label or
    #: annotation, ``schedulerName: volcano``, KubeRay's labels…), None when it selects none
    selected_policy: GangPolicy | None = None
    #: the field that selected it, for messages (``runtime spec.podGroupPolicy.coscheduling``…)
    gang_selector: str | None = None
    #: the PodGroup's ``scheduleTimeoutSeconds`` the object sets (coscheduling), None: the default
    schedule_timeout: int | None = None
    #: the object as read, and the TrainJob runtimes it was expanded with (for :func:`models.operators.instance`)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    runtimes: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    def pods_of(self, pod_set: str) -> list[OperatorPod]:
        """The pods of one pod set, in creation order."""
        return [p for p in self.pods if p.pod_set == pod_set]

    def pod_names(self, pod_set: str | None = None) -> list[str]:
        """The names of all pods (or of one pod set's), in creation order."""
        return [p.name for p in self.pods if pod_set is None or p.pod_set == pod_set]

    def gangs_under(self, policy: GangPolicy) -> list[Gang]:
        """The gangs the given gang policy sees: Kueue Workloads, or the PodGroups (``coscheduling``,
        ``volcano``), or for ``none`` the Kueue boundaries (the controller's own grouping)."""
        if policy in ("coscheduling", "volcano"):
            return list(self.group_gangs)
        return list(self.kueue_gangs)

    def default_policy(self) -> GangPolicy:
        """The policy the object itself asks for: Kueue with a queue-name label, else the gang scheduler
        its own fields select (:attr:`selected_policy`: Volcano for a Volcano Job or ``schedulerName:
        volcano``, coscheduling for a PodGroup label or a runtime's ``podGroupPolicy.coscheduling``…),
        else none."""
        if self.queue_name:
            return "kueue"
        return self.selected_policy or "none"


def generated_suffix(*parts: str) -> str:
    """A deterministic stand-in for the random 5-character ``generateName`` suffix."""
    digest = hashlib.sha256("/".join(parts).encode()).digest()
    return "".join(_SUFFIX_ALPHABET[b % len(_SUFFIX_ALPHABET)] for b in digest[:5])


class Reader:
    """Strict reading of one raw object: every error names the file (``file#index``), field and fix."""

    def __init__(self, doc: dict[str, Any], file: str, index: int, warn: list[str] | None) -> None:
        self.doc = doc
        self.file = f"{file}#{index}"
        self.kind = str(doc.get("kind", "?"))
        meta = doc.get("metadata")
        if not isinstance(meta, dict) or not meta.get("name"):
            raise InputError("metadata.name is required", file=self.file, field="metadata.name",
                             fix=f"give the {self.kind} a name")
        self.name = str(meta["name"])
        self.namespace = str(meta.get("namespace") or "default")
        self.uid = str(meta["uid"]) if meta.get("uid") else None
        self.labels = self.str_map(meta.get("labels"), "metadata.labels")
        self.annotations = self.str_map(meta.get("annotations"), "metadata.annotations")
        self.where = f"{self.file} ({self.kind} {self.name})"
        self.warnings = warn if warn is not None else []
        #: each pod template's ``schedulerName`` (path of the field → value), for :func:`scheduler_warnings`
        self.scheduler_names: dict[str, str] = {}
        self.unknown(meta, _METADATA, "metadata")

    # -- errors and warnings

    def error(self, message: str, path: str, fix: str) -> InputError:
        return InputError(message, file=self.file, field=path, fix=fix)

    def warn(self, path: str, what: str = "not modelled by kubetwin; ignored") -> None:
        self.warnings.append(f"{self.where}: {path}: {what}")

    def unknown(self, obj: Any, known: Iterable[str], path: str) -> None:
        """Warn once per field of ``obj`` that is not in ``known``."""
        if isinstance(obj, dict):
            allowed = set(known)
            for k in sorted(obj, key=str):
                if k not in allowed:
                    self.warn(f"{path}.{k}")

    # -- typed fields

    def mapping(self, value: Any, path: str, *, required: bool = False) -> dict[str, Any]:
        if value is None:
            if required:
                raise self.error("is required", path, f"add {path} (see the {self.kind} API)")
            return {}
        if not isinstance(value, dict):
            raise self.error(f"{value!r} is not a mapping", path, f"write {path} as a YAML mapping")
        return value

    def sequence(self, value: Any, path: str, *, required: bool = False) -> list[Any]:
        if value is None:
            if required:
                raise self.error("is required", path, f"add {path} (see the {self.kind} API)")
            return []
        if not isinstance(value, list):
            raise self.error(f"{value!r} is not a list", path, f"write {path} as a YAML list")
        if required and not value:
            raise self.error("must not be empty", path, f"add at least one entry to {path}")
        return value

    def integer(self, value: Any, path: str, default: int, *, minimum: int = 0) -> int:
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise self.error(f"{value!r} is not an integer", path, f"write {path} as a whole number")
        try:
            n = int(value)
        except ValueError:
            raise self.error(f"{value!r} is not an integer", path, f"write {path} as a whole number") from None
        if n < minimum:
            raise self.error(f"{n} is below the minimum {minimum}", path, f"use a value >= {minimum}")
        return n

    def string(self, value: Any, path: str, default: str | None = None, *,
               choices: Iterable[str] | None = None) -> str | None:
        if value is None:
            return default
        if not isinstance(value, str) or not value:
            raise self.error(f"{value!r} is not a non-empty string", path, f"write {path} as a string")
        if choices is not None and value not in set(choices):
            options = ", ".join(sorted(set(choices)))
            raise self.error(f"{value!r} is not one of {options}", path, f"use one of {options}")
        return value

    def str_map(self, value: Any, path: str) -> dict[str, str]:
        return {str(k): str(v) for k, v in self.mapping(value, path).items()}

    # -- pod templates

    def pod_template(self, template: Any, path: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """``(compact template, pod spec, template metadata)`` of a ``PodTemplateSpec`` at ``path``."""
        tmpl = self.mapping(template, path, required=True)
        self.unknown(tmpl, {"metadata", "spec"}, path)
        meta = self.mapping(tmpl.get("metadata"), f"{path}.metadata")
        spec = self.mapping(tmpl.get("spec"), f"{path}.spec", required=True)
        containers = self.sequence(spec.get("containers"), f"{path}.spec.containers", required=True)
        for i, c in enumerate(containers):
            self.mapping(c, f"{path}.spec.containers[{i}]", required=True)
        if "schedulerName" in spec:
            # which scheduler runs the pods is the gang policy's to decide: the operator says what it does
            # with the field (scheduler_warnings), not the generic "not modelled" warning; "" is unset
            name = self.string(spec["schedulerName"] or None, f"{path}.spec.schedulerName")
            if name is not None:
                self.scheduler_names[f"{path}.spec.schedulerName"] = name
            spec = {k: v for k, v in spec.items() if k != "schedulerName"}
        compact = compact_pod_template(spec, file=self.file, path=f"{path}.spec", where=self.where,
                                       warn=self.warnings)
        labels = self.str_map(meta.get("labels"), f"{path}.metadata.labels")
        if labels:
            compact["labels"] = labels
        if spec.get("priorityClassName"):
            compact["priorityClassName"] = str(spec["priorityClassName"])
        return compact, spec, meta

    def min_parallelism(self) -> int | None:
        """Kueue's partial-admission minimum from the ``kueue.x-k8s.io/job-min-parallelism`` annotation."""
        raw = self.annotations.get(JOB_MIN_PARALLELISM_ANNOTATION)
        if raw is None:
            return None
        return self.integer(raw, f"metadata.annotations[{JOB_MIN_PARALLELISM_ANNOTATION}]", 0, minimum=1)

    # -- the result

    def workload(self, pod_sets: list[PodSetManifest], pods: list[OperatorPod], *,
                 kueue_gangs: list[Gang], group_gangs: list[Gang], first_pod_spec: dict[str, Any],
                 startup_order: list[list[str]] | None = None, policies: dict[str, Any] | None = None,
                 scheduler_name: str | None = None, selected: tuple[GangPolicy, str] | None = None,
                 schedule_timeout: int | None = None) -> OperatorWorkload:
        """The object's workload; ``selected`` is ``(policy, field)`` when the object itself selects a gang
        scheduler (the schedulerName warnings are given here, knowing which field selected it)."""
        scheduler_warnings(self, selected[0] if selected else None)
        queue = self.queue_name()
        return OperatorWorkload(
            str(self.doc.get("apiVersion")), self.kind, self.namespace, self.name, pod_sets,
            queue_name=queue, priority_class_name=first_pod_spec.get("priorityClassName"),
            workload_priority_class=self.labels.get(PRIORITY_CLASS_LABEL), labels=self.labels,
            annotations=self.annotations, source=self.where, pods=pods, kueue_gangs=kueue_gangs,
            group_gangs=group_gangs, startup_order=startup_order or [[ps.name for ps in pod_sets]],
            policies=policies or {}, scheduler_name=scheduler_name, raw=self.doc,
            selected_policy=selected[0] if selected else None, gang_selector=selected[1] if selected else None,
            schedule_timeout=schedule_timeout)

    def queue_name(self) -> str | None:
        return self.labels.get(QUEUE_NAME_LABEL) or self.annotations.get(QUEUE_NAME_LABEL)

    def key(self, name: str | None = None) -> str:
        return f"{self.namespace}/{name or self.name}"


def whole_object_gang(r: Reader, pods: list[OperatorPod], source: GangSource = "kueue-workload",
                      name: str | None = None, min_count: int | None = None) -> Gang:
    """One gang of every pod of the object (Kueue: one Workload per object, admitted all or nothing)."""
    counts: dict[str, int] = {}
    for p in pods:
        counts[p.pod_set] = counts.get(p.pod_set, 0) + 1
    prefix = f"{r.kind.lower()}-{name or r.name}-" if source == "kueue-workload" else None
    return Gang(r.key(name), source, len(pods) if min_count is None else min_count,
                tuple(p.name for p in pods), counts, queue=r.queue_name(), workload_prefix=prefix)


def declared_pod_group_gang(r: Reader, pods: list[OperatorPod], templates: dict[str, dict[str, Any]]) -> Gang | None:
    """The PodGroup the user declared on the pod templates (coscheduling label or Volcano annotation), if any.

    ``templates`` maps pod set → template metadata. All templates must name the same group."""
    names: set[tuple[str, GangSource]] = set()
    for meta in templates.values():
        labels = meta.get("labels") or {}
        annotations = meta.get("annotations") or {}
        if isinstance(labels, dict) and labels.get(POD_GROUP_LABEL):
            names.add((str(labels[POD_GROUP_LABEL]), "podgroup"))
        if isinstance(annotations, dict) and annotations.get(VOLCANO_GROUP_ANNOTATION):
            names.add((str(annotations[VOLCANO_GROUP_ANNOTATION]), "volcano-podgroup"))
    if not names:
        return None
    if len(names) > 1:
        listed = ", ".join(sorted(n for n, _ in names))
        raise r.error(f"the pod templates name different PodGroups ({listed})", "spec",
                      "label every pod template with the same PodGroup")
    [(name, source)] = names
    g = whole_object_gang(r, pods, source, name)
    return Gang(g.key, source, None, g.pods, g.pod_sets, queue=g.queue)


#: schedulerName values that mean kube-scheduler itself
_DEFAULT_SCHEDULERS = {"default-scheduler"}


def scheduler_warnings(r: Reader, policy: GangPolicy | None) -> None:
    """Say truthfully what kubetwin does with each pod template's ``schedulerName``: nothing to say when it
    is kube-scheduler's, or when it agrees with the gang scheduler the object selects (``policy``:
    ``volcano`` for Volcano, ``coscheduling`` for any second scheduler running the Coscheduling plugin);
    otherwise the pods run under the workload's gang policy, whatever scheduler they name."""
    for path, name in r.scheduler_names.items():
        if name in _DEFAULT_SCHEDULERS or (policy is not None and (policy == "volcano") == (name == "volcano")):
            continue
        if name == "volcano":
            r.warn(path, f"{name!r} is not used to pick the gang: Volcano's pod-group controller would give "
                   "these pods PodGroups of minMember 1 (no gang of the whole object); kubetwin schedules them "
                   "under the workload's gang policy (kube-scheduler without one). For a Volcano gang set "
                   "gang: {policy: volcano} or the scheduling.k8s.io/group-name annotation")
        else:
            r.warn(path, f"{name!r}: kubetwin schedules these pods under the workload's gang policy "
                   "(kube-scheduler without one), not by scheduler name")


def declared_selection(gang: Gang | None, templates: dict[str, dict[str, Any]], path: str
                       ) -> tuple[GangPolicy, str] | None:
    """``(policy, field)`` a declared PodGroup selects: coscheduling for the ``scheduling.x-k8s.io/pod-group``
    label, Volcano for the ``scheduling.k8s.io/group-name`` annotation; ``path`` formats the template
    path from a pod-set name."""
    if gang is None:
        return None
    for ps, meta in templates.items():
        if gang.source == "podgroup" and POD_GROUP_LABEL in (meta.get("labels") or {}):
            return "coscheduling", path.format(ps) + f".metadata.labels[{POD_GROUP_LABEL}]"
        if gang.source == "volcano-podgroup" and VOLCANO_GROUP_ANNOTATION in (meta.get("annotations") or {}):
            return "volcano", path.format(ps) + f".metadata.annotations[{VOLCANO_GROUP_ANNOTATION}]"
    return None
