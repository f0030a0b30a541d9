"""Volcano Job (``batch.volcano.sh/v1alpha1``): tasks of replicated pods gang-scheduled through a PodGroup.

The Volcano job controller names pods ``<job>-<task>-<index>`` and labels them ``volcano.sh/job-name``,
``volcano.sh/task-spec``, ``volcano.sh/job-namespace`` and ``volcano.sh/queue-name``; it annotates them
with the PodGroup (``scheduling.k8s.io/group-name: <job>-<uid>``) and ``volcano.sh/task-spec``. The
admission webhook fills defaults: queue ``default``, ``schedulerName: volcano``, task names
``default<i>``, a task's ``minAvailable`` = its ``replicas``, the job's ``minAvailable`` = Σ task
``minAvailable``; and rejects a job ``minAvailable`` above the total replicas.

The gang is the job's ``scheduling.volcano.sh/v1beta1`` PodGroup: ``minMember = minAvailable`` and
``minTaskMember`` = each task's ``minAvailable``. Kueue has no Volcano Job integration, so the Kueue view
is the same PodGroup (a ``kueue.x-k8s.io/queue-name`` label is warned about and ignored).
"""

from __future__ import annotations

from typing import Any

from models.manifests import QUEUE_NAME_LABEL, PodSetManifest
from models.operators._common import VOLCANO_GROUP_ANNOTATION, Gang, OperatorPod, OperatorWorkload, Reader

API_GROUP = "batch.volcano.sh"
JOB_NAME_LABEL = "volcano.sh/job-name"
TASK_SPEC_LABEL = "volcano.sh/task-spec"
JOB_NAMESPACE_LABEL = "volcano.sh/job-namespace"
QUEUE_NAME_KEY = "volcano.sh/queue-name"
TEMPLATE_UID_ANNOTATION = "volcano.sh/template-uid"
JOB_VERSION_ANNOTATION = "volcano.sh/job-version"

_SPEC = {"schedulerName", "minAvailable", "queue", "tasks", "policies", "plugins", "maxRetry",
         "ttlSecondsAfterFinished", "priorityClassName", "minSuccess", "volumes", "runningEstimate",
         "networkTopology"}
_TASK = {"name", "replicas", "minAvailable", "template", "policies", "topologyPolicy", "maxRetry", "dependsOn",
         "partitionPolicy"}


def pod_group_name(name: str, uid: str | None) -> str:
    """The PodGroup the controller creates: ``<job>-<uid>`` (``<job>`` when the object has no uid yet)."""
    return f"{name}-{uid}" if uid else name


def expand_volcano_job(doc: dict[str, Any], file: str = "<manifest>", index: int = 0,
                       warn: list[str] | None = None) -> OperatorWorkload:
    """A Volcano Job → one pod set per task, pods ``<job>-<task>-<i>`` and its PodGroup gang."""
    r = Reader(doc, file, index, warn)
    spec = r.mapping(doc.get("spec"), "spec", required=True)
    r.unknown(spec, _SPEC, "spec")
    for k in ("policies", "maxRetry", "runningEstimate", "networkTopology", "minSuccess"):
        if k in spec:
            r.warn(f"spec.{k}", "recorded but not simulated")
    if QUEUE_NAME_LABEL in r.labels:
        r.warn(f"metadata.labels[{QUEUE_NAME_LABEL}]", "Kueue has no Volcano Job integration; ignored")
    queue = r.string(spec.get("queue"), "spec.queue", "default") or "default"
    scheduler = r.string(spec.get("schedulerName"), "spec.schedulerName", "volcano") or "volcano"
    tasks = r.sequence(spec.get("tasks"), "spec.tasks", required=True)
    group = pod_group_name(r.name, r.uid)
    pod_sets: list[PodSetManifest] = []
    pods: list[OperatorPod] = []
    min_task: dict[str, int] = {}
    first: dict[str, Any] = {}
    for i, raw in enumerate(tasks):
        path = f"spec.tasks[{i}]"
        task = r.mapping(raw, path, required=True)
        r.unknown(task, _TASK, path)
        for k in ("policies", "maxRetry", "dependsOn", "topologyPolicy", "partitionPolicy"):
            if k in task:
                r.warn(f"{path}.{k}", "recorded but not simulated")
        name = r.string(task.get("name"), f"{path}.name", f"default{i}") or f"default{i}"
        if name in min_task:
            raise r.error(f"task name {name!r} is used twice", f"{path}.name", "give each task a unique name")
        replicas = r.integer(task.get("replicas"), f"{path}.replicas", 1)
        task_min = r.integer(task.get("minAvailable"), f"{path}.minAvailable", replicas)
        if task_min > replicas:
            raise r.error(f"minAvailable {task_min} exceeds the task's {replicas} replicas", f"{path}.minAvailable",
                          f"use at most {replicas}")
        min_task[name] = task_min
        compact, pod_spec, meta = r.pod_template(task.get("template"), f"{path}.template")
        first = first or pod_spec
        pod_sets.append(PodSetManifest(name, replicas, compact, task_min if task_min < replicas else None))
        labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
        labels.update({JOB_NAME_LABEL: r.name, TASK_SPEC_LABEL: name, JOB_NAMESPACE_LABEL: r.namespace,
                       QUEUE_NAME_KEY: queue})
        annotations = {str(k): str(v) for k, v in (meta.get("annotations") or {}).items()}
        annotations.update({TASK_SPEC_LABEL: name, VOLCANO_GROUP_ANNOTATION: group, JOB_NAME_LABEL: r.name,
                            QUEUE_NAME_KEY: queue, JOB_VERSION_ANNOTATION: "0",
                            TEMPLATE_UID_ANNOTATION: f"{r.name}-{name}"})
        for n in range(replicas):
            pod = f"{r.name}-{name}-{n}"
            pods.append(OperatorPod(pod, name, name, dict(labels), dict(annotations), hostname=pod))
    total = len(pods)
    # the webhook treats 0 as unset
    min_available = r.integer(spec.get("minAvailable"), "spec.minAvailable", 0) or sum(min_task.values())
    if min_available > total:
        raise r.error(f"minAvailable {min_available} is greater than the {total} replicas of all tasks",
                      "spec.minAvailable", f"use at most {total}")
    counts = {ps.name: ps.count for ps in pod_sets}
    gang = Gang(r.key(group), "volcano-podgroup", min_available, tuple(p.name for p in pods), counts,
                min_task_member=dict(min_task), queue=queue)
    w = r.workload(pod_sets, pods, kueue_gangs=[gang], group_gangs=[gang], first_pod_spec=first,
                   policies={"queue": queue, "minAvailable": min_available, "minTaskMember": dict(min_task)},
                   scheduler_name=scheduler, selected=("volcano", "kind"))
    w.queue_name = None  # a Volcano queue, not a Kueue LocalQueue
    if spec.get("priorityClassName"):
        w.priority_class_name = str(spec["priorityClassName"])
    return w
