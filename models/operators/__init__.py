"""AI operators' custom objects as workloads: what each controller and Kueue integration makes of them.

Supported kinds (``(group, kind)`` → expander; every version listed in :data:`OPERATOR_CRDS`):

* ``jobset.x-k8s.io`` JobSet — :mod:`models.operators.jobset`
* ``leaderworkerset.x-k8s.io`` LeaderWorkerSet — :mod:`models.operators.leaderworkerset`
* ``ray.io`` RayCluster, RayJob — :mod:`models.operators.ray`
* ``kubeflow.org`` PyTorchJob, ``trainer.kubeflow.org`` TrainJob (+ ClusterTrainingRuntime /
  TrainingRuntime) — :mod:`models.operators.kubeflow`
* ``batch.volcano.sh`` Job — :mod:`models.operators.volcano_job`

:func:`expand` reads one object strictly (an :class:`~models.errors.InputError` for malformed input,
warnings for fields kubetwin does not model) and returns an :class:`OperatorWorkload`. For objects
recorded from a real cluster, :func:`recorded_gangs` is the lenient form the normalizer uses: the gang
key, quorum and pod sets, or nothing when the object cannot be read.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from models.errors import InputError
from models.events import workload_created_data as created_data
from models.operators._common import TRAINER_GROUP, Gang, GangPolicy, OperatorPod, OperatorWorkload


@dataclass(frozen=True, slots=True)
class OperatorCRD:
    """A custom resource the recorder watches and the conformance probe looks for, and its controller."""

    group: str
    version: str
    plural: str
    kind: str
    controller: str  # the controller Deployment's usual name (namespace/name) in an upstream install

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"


#: every CRD kubetwin reads, in the versions it reads (the first of a group is the preferred one)
OPERATOR_CRDS: tuple[OperatorCRD, ...] = (
    OperatorCRD("jobset.x-k8s.io", "v1alpha2", "jobsets", "JobSet", "jobset-system/jobset-controller-manager"),
    OperatorCRD("leaderworkerset.x-k8s.io", "v1", "leaderworkersets", "LeaderWorkerSet",
                "lws-system/lws-controller-manager"),
    OperatorCRD("ray.io", "v1", "rayclusters", "RayCluster", "kuberay-operator"),
    OperatorCRD("ray.io", "v1", "rayjobs", "RayJob", "kuberay-operator"),
    OperatorCRD("trainer.kubeflow.org", "v1alpha1", "trainjobs", "TrainJob",
                "kubeflow-system/kubeflow-trainer-controller-manager"),
    OperatorCRD("trainer.kubeflow.org", "v1alpha1", "clustertrainingruntimes", "ClusterTrainingRuntime",
                "kubeflow-system/kubeflow-trainer-controller-manager"),
    OperatorCRD("trainer.kubeflow.org", "v1alpha1", "trainingruntimes", "TrainingRuntime",
                "kubeflow-system/kubeflow-trainer-controller-manager"),
    OperatorCRD("kubeflow.org", "v1", "pytorchjobs", "PyTorchJob", "kubeflow/training-operator"),
    OperatorCRD("batch.volcano.sh", "v1alpha1", "jobs", "Job", "volcano-system/volcano-controllers"),
    OperatorCRD("scheduling.volcano.sh", "v1beta1", "podgroups", "PodGroup", "volcano-system/volcano-scheduler"),
    OperatorCRD("scheduling.volcano.sh", "v1beta1", "queues", "Queue", "volcano-system/volcano-scheduler"),
)

Expander = Callable[[dict[str, Any], str, int, "list[str] | None"], OperatorWorkload]

#: (apiVersion, kind) -> (module, expander); a module is imported when an object of its kind is first read
#: (a scenario without operator objects does not pay for importing them)
_EXPANDERS: dict[tuple[str, str], tuple[str, str]] = {
    ("jobset.x-k8s.io/v1alpha2", "JobSet"): ("jobset", "expand_jobset"),
    ("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet"): ("leaderworkerset", "expand_leaderworkerset"),
    ("ray.io/v1", "RayCluster"): ("ray", "expand_raycluster"),
    ("ray.io/v1", "RayJob"): ("ray", "expand_rayjob"),
    ("kubeflow.org/v1", "PyTorchJob"): ("kubeflow", "expand_pytorchjob"),
    ("batch.volcano.sh/v1alpha1", "Job"): ("volcano_job", "expand_volcano_job"),
}
_TRAINJOB = (f"{TRAINER_GROUP}/v1alpha1", "TrainJob")


def _expander(key: tuple[str, str]) -> Expander | None:
    where = _EXPANDERS.get(key)
    if where is None:
        return None
    fn: Expander = getattr(importlib.import_module(f"{__name__}.{where[0]}"), where[1])
    return fn


def is_operator_object(api_version: str, kind: str) -> bool:
    """True for the workload kinds :func:`expand` reads (not the runtimes)."""
    return (api_version, kind) in _EXPANDERS or (api_version, kind) == _TRAINJOB


def is_training_runtime(api_version: str, kind: str) -> bool:
    """True for a ``ClusterTrainingRuntime`` / ``TrainingRuntime`` (read by TrainJobs, not workloads)."""
    from models.operators.kubeflow import RUNTIME_KINDS

    return api_version == f"{TRAINER_GROUP}/v1alpha1" and kind in RUNTIME_KINDS


def training_runtime_entry(doc: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``(lookup key, object)`` of a runtime, for the ``runtimes`` mapping :func:`expand` takes."""
    from models.operators.kubeflow import runtime_key

    meta = doc.get("metadata") or {}
    return runtime_key(str(doc.get("kind")), meta.get("namespace"), str(meta.get("name", ""))), doc


def expand(doc: dict[str, Any], file: str = "<manifest>", index: int = 0, warn: list[str] | None = None,
           runtimes: dict[str, dict[str, Any]] | None = None) -> OperatorWorkload:
    """One operator object → its :class:`OperatorWorkload` (pod sets, pods with names/labels/roles, gangs).

    ``file``/``index`` name the object in errors and warnings (appended to ``warn``); ``runtimes`` maps
    :func:`training_runtime_entry` keys to ClusterTrainingRuntime/TrainingRuntime objects for TrainJobs.
    """
    api_version, kind = str(doc.get("apiVersion", "")), str(doc.get("kind", ""))
    if (api_version, kind) == _TRAINJOB:
        from models.operators.kubeflow import expand_trainjob

        return expand_trainjob(doc, file, index, warn, runtimes)
    expander = _expander((api_version, kind))
    if expander is None:
        supported = ", ".join(sorted({f"{a} {k}" for a, k in [*_EXPANDERS, _TRAINJOB]}))
        raise InputError(f"{api_version} {kind} is not an operator kind kubetwin reads", file=f"{file}#{index}",
                         field="apiVersion", fix=f"use one of: {supported}")
    return expander(doc, file, index, warn)


def instance(w: OperatorWorkload, name: str, namespace: str | None = None) -> OperatorWorkload:
    """The same object under another name (and namespace): what the engine creates for each instance of a
    scenario workload whose ``job`` is this object, so pod names and gang keys stay unique per instance.
    Warnings were reported when the object was first read and are not repeated."""
    doc = dict(w.raw)
    meta = dict(doc.get("metadata") or {})
    meta["name"] = name
    if namespace is not None:
        meta["namespace"] = namespace
    meta.pop("uid", None)
    doc["metadata"] = meta
    file, _, index = w.source.split(" ", 1)[0].rpartition("#")
    return expand(doc, file or "<manifest>", int(index) if index.isdigit() else 0, [], w.runtimes)


def workload_created_data(w: OperatorWorkload, gang: Gang, policy: GangPolicy, priority: int = 0) -> dict[str, Any]:
    """The ``data`` of a ``WorkloadCreated`` timeline event for one gang of ``w`` (obj: the gang's
    ``key``), in the shape docs/timeline.md gives: ``policy``, ``queue``?, ``minCount``, ``pods``,
    ``priority``, ``workload`` (the object's name), ``podSets`` [{name, count, minCount?, requests}] and,
    for Volcano, ``minTaskMember``."""
    templates = {ps.name: ps for ps in w.pod_sets}
    pod_sets: list[dict[str, Any]] = []
    for name, count in gang.pod_sets.items():
        entry: dict[str, Any] = {"name": name, "count": count,
                                 "requests": dict(templates[name].template.get("requests") or {})}
        if name in gang.min_task_member and gang.min_task_member[name] < count:
            entry["minCount"] = gang.min_task_member[name]
        elif templates[name].min_count is not None and policy == "kueue":
            entry["minCount"] = templates[name].min_count
        pod_sets.append(entry)
    quorum = gang.min_count if gang.min_count is not None else len(gang.pods)
    return created_data(policy, min_count=quorum, pods=len(gang.pods), pod_sets=pod_sets,
                        priority=priority, workload=w.name, queue=gang.queue or None,
                        min_task_member=gang.min_task_member)


def recorded_gangs(doc: dict[str, Any], policy: GangPolicy | None = None,
                   runtimes: dict[str, dict[str, Any]] | None = None) -> list[Gang]:
    """The gangs a recorded operator object draws (for ``WorkloadCreated``): ``[]`` when it cannot be read.

    ``policy`` None picks the object's own (:meth:`OperatorWorkload.default_policy`). Of the status only a
    RayJob's ``rayClusterName`` is read (it names the cluster's pods and PodGroup); nothing is raised (the
    API server already validated the object).
    """
    api_version, kind = str(doc.get("apiVersion", "")), str(doc.get("kind", ""))
    if not is_operator_object(api_version, kind):
        return []
    try:
        w = expand(doc, "<recorded>", 0, [], runtimes)
    except (InputError, AttributeError, TypeError, ValueError):
        return []
    return w.gangs_under(policy or w.default_policy())


__all__ = [
    "OPERATOR_CRDS",
    "Gang",
    "GangPolicy",
    "OperatorCRD",
    "OperatorPod",
    "OperatorWorkload",
    "expand",
    "instance",
    "is_operator_object",
    "is_training_runtime",
    "recorded_gangs",
    "training_runtime_entry",
    "workload_created_data",
]
