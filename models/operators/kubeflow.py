"""Kubeflow training: ``kubeflow.org/v1`` PyTorchJob and ``trainer.kubeflow.org/v1alpha1`` TrainJob.

**PyTorchJob** (training-operator): ``pytorchReplicaSpecs.Master`` (at most one replica) and ``Worker``
each with ``replicas`` (default 1) and a pod template. The controller names pods
``<job>-master-0`` and ``<job>-worker-<i>`` and labels them ``training.kubeflow.org/job-name``,
``operator-name: pytorchjob-controller``, ``replica-type`` (lower-case), ``replica-index`` and, on the
master, ``job-role: master``. Kueue's integration builds pod sets ``master`` and ``worker``; with a gang
scheduler the operator creates a PodGroup named after the job with ``minMember =
runPolicy.schedulingPolicy.minAvailable`` (default: all replicas). Which one is the operator's
``--gang-scheduler-name``, seen on the object as the pod templates' ``schedulerName``: ``volcano`` selects
Volcano (Queue ``schedulingPolicy.queue``), any other second scheduler the scheduler-plugins PodGroup
(``scheduleTimeoutSeconds`` from ``schedulingPolicy``); without one the object selects no gang.

**TrainJob** (Kubeflow Trainer v2): names a ``ClusterTrainingRuntime`` (default kind) or namespaced
``TrainingRuntime`` in ``spec.runtimeRef``; the runtime's ``spec.template`` is a JobSet spec. The
trainer creates a JobSet named after the TrainJob from it, with the trainer step (the replicatedJob
labelled ``trainer.kubeflow.org/trainjob-ancestor-step: trainer``, else the one named ``node``) running
``numNodes`` pods (``spec.trainer.numNodes``, else the runtime's ``mlPolicy.numNodes``; one less when an
MPI runtime runs its launcher as a node) and ``spec.trainer.resourcesPerNode`` replacing the ``node``
container's resources. Pods are therefore named like a JobSet's. Kueue's TrainJob integration builds one
pod set per replicatedJob; the runtime's ``podGroupPolicy`` (coscheduling or volcano) makes one PodGroup
named after the TrainJob with every pod as ``minMember``.

The upstream default runtime ``torch-distributed`` is built in (a ``node`` container without requests),
so a TrainJob naming it works without the runtime object; any other runtime must be among the manifests.
"""

from __future__ import annotations

import copy
from typing import Any

from models.manifests import PodSetManifest
from models.operators._common import (
    TRAINER_GROUP,
    Gang,
    GangSource,
    OperatorPod,
    OperatorWorkload,
    Reader,
    declared_pod_group_gang,
    declared_selection,
    whole_object_gang,
)
from models.operators.jobset import jobset_parts

PYTORCH_GROUP = "kubeflow.org"
LABEL_PREFIX = "training.kubeflow.org/"
JOB_NAME_LABEL = LABEL_PREFIX + "job-name"
OPERATOR_NAME_LABEL = LABEL_PREFIX + "operator-name"
REPLICA_TYPE_LABEL = LABEL_PREFIX + "replica-type"
REPLICA_INDEX_LABEL = LABEL_PREFIX + "replica-index"
JOB_ROLE_LABEL = LABEL_PREFIX + "job-role"
ANCESTOR_STEP_LABEL = "trainer.kubeflow.org/trainjob-ancestor-step"
TRAINJOB_NAME_LABEL = "trainer.kubeflow.org/trainjob-name"
RUNTIME_KINDS = ("ClusterTrainingRuntime", "TrainingRuntime")

_PYTORCH_SPEC = {"pytorchReplicaSpecs", "runPolicy", "elasticPolicy", "nprocPerNode"}
_REPLICA = {"replicas", "template", "restartPolicy"}
_RUN_POLICY = {"cleanPodPolicy", "ttlSecondsAfterFinished", "activeDeadlineSeconds", "backoffLimit",
               "schedulingPolicy", "suspend", "managedBy"}
_SCHEDULING_POLICY = {"minAvailable", "queue", "minResources", "priorityClass", "scheduleTimeoutSeconds"}
_TRAINJOB_SPEC = {"runtimeRef", "initializer", "trainer", "labels", "annotations", "podSpecOverrides",
                  "podTemplateOverrides", "suspend", "managedBy"}
_TRAINER = {"image", "command", "args", "env", "numNodes", "resourcesPerNode", "numProcPerNode"}
_RUNTIME_SPEC = {"mlPolicy", "podGroupPolicy", "template"}
_ML_POLICY = {"numNodes", "torch", "mpi"}

#: upstream's default ClusterTrainingRuntime ``torch-distributed`` (manifests/base/runtimes), its shape only
BUILTIN_RUNTIMES: dict[str, dict[str, Any]] = {
    "torch-distributed": {
        "apiVersion": f"{TRAINER_GROUP}/v1alpha1", "kind": "ClusterTrainingRuntime",
        "metadata": {"name": "torch-distributed"},
        "spec": {"mlPolicy": {"numNodes": 1, "torch": {"numProcPerNode": "auto"}},
                 "template": {"spec": {"replicatedJobs": [{
                     "name": "node",
                     "template": {"metadata": {"labels": {ANCESTOR_STEP_LABEL: "trainer"}},
                                  "spec": {"template": {"spec": {"containers": [
                                      {"name": "node", "image": "pytorch/pytorch"}]}}}}}]}}}},
}


# ---------------------------------------------------------------------------------------------------
# PyTorchJob


def expand_pytorchjob(doc: dict[str, Any], file: str = "<manifest>", index: int = 0,
                      warn: list[str] | None = None) -> OperatorWorkload:
    """A PyTorchJob → pod sets ``master``/``worker``, pods ``<job>-<type>-<i>`` and gangs."""
    r = Reader(doc, file, index, warn)
    spec = r.mapping(doc.get("spec"), "spec", required=True)
    r.unknown(spec, _PYTORCH_SPEC, "spec")
    if "elasticPolicy" in spec:
        r.warn("spec.elasticPolicy", "elastic scaling is not simulated; the replicas are used")
    specs = r.mapping(spec.get("pytorchReplicaSpecs"), "spec.pytorchReplicaSpecs", required=True)
    by_type: dict[str, tuple[str, dict[str, Any]]] = {}
    for key in specs:
        canonical = {"master": "Master", "worker": "Worker"}.get(str(key).lower())
        if canonical is None:
            raise r.error(f"replica type {key!r} is not Master or Worker", f"spec.pytorchReplicaSpecs.{key}",
                          "a PyTorchJob has Master and Worker replicas")
        by_type[canonical] = (str(key), r.mapping(specs[key], f"spec.pytorchReplicaSpecs.{key}", required=True))
    if not by_type:
        raise r.error("must not be empty", "spec.pytorchReplicaSpecs", "add a Master and/or Worker replica spec")
    pod_sets: list[PodSetManifest] = []
    pods: list[OperatorPod] = []
    templates: dict[str, dict[str, Any]] = {}
    first: dict[str, Any] = {}
    for rtype in ("Master", "Worker"):
        if rtype not in by_type:
            continue
        key, rs = by_type[rtype]
        path = f"spec.pytorchReplicaSpecs.{key}"
        r.unknown(rs, _REPLICA, path)
        replicas = r.integer(rs.get("replicas"), f"{path}.replicas", 1)
        if rtype == "Master" and replicas != 1:
            raise r.error(f"a PyTorchJob has exactly one master, not {replicas}", f"{path}.replicas",
                          "set Master replicas to 1 (add Worker replicas for more pods)")
        compact, pod_spec, meta = r.pod_template(rs.get("template"), f"{path}.template")
        first = first or pod_spec
        lower = rtype.lower()
        templates[lower] = meta
        pod_sets.append(PodSetManifest(lower, replicas, compact))
        base = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
        base.update({JOB_NAME_LABEL: r.name, OPERATOR_NAME_LABEL: "pytorchjob-controller",
                     REPLICA_TYPE_LABEL: lower})
        for i in range(replicas):
            labels = {**base, REPLICA_INDEX_LABEL: str(i)}
            if rtype == "Master":
                labels[JOB_ROLE_LABEL] = "master"
            name = f"{r.name}-{lower}-{i}"
            pods.append(OperatorPod(name, lower, lower, labels,
                                    {str(k): str(v) for k, v in (meta.get("annotations") or {}).items()},
                                    hostname=name))
    run = r.mapping(spec.get("runPolicy"), "spec.runPolicy")
    r.unknown(run, _RUN_POLICY, "spec.runPolicy")
    for k in ("activeDeadlineSeconds", "backoffLimit"):
        if k in run:
            r.warn(f"spec.runPolicy.{k}", "recorded but not simulated")
    sched = r.mapping(run.get("schedulingPolicy"), "spec.runPolicy.schedulingPolicy")
    r.unknown(sched, _SCHEDULING_POLICY, "spec.runPolicy.schedulingPolicy")
    for k in ("minResources", "priorityClass"):
        if k in sched:
            r.warn(f"spec.runPolicy.schedulingPolicy.{k}")
    min_available = r.integer(sched.get("minAvailable"), "spec.runPolicy.schedulingPolicy.minAvailable", len(pods),
                              minimum=1)
    if min_available > len(pods):
        raise r.error(f"minAvailable {min_available} exceeds the {len(pods)} replicas",
                      "spec.runPolicy.schedulingPolicy.minAvailable", f"use at most {len(pods)}")
    timeout = r.integer(sched.get("scheduleTimeoutSeconds"), "spec.runPolicy.schedulingPolicy.scheduleTimeoutSeconds",
                        0) or None
    kueue = [whole_object_gang(r, pods)]
    declared = declared_pod_group_gang(r, pods, templates)
    selected = declared_selection(declared, templates, "spec.pytorchReplicaSpecs.{}.template")
    # the training-operator's gang scheduler (--gang-scheduler-name) runs the pods under their schedulerName:
    # volcano → a Volcano PodGroup, any other second scheduler → the scheduler-plugins PodGroup (as upstream)
    scheduler = next((v for v in r.scheduler_names.values() if v != "default-scheduler"), None)
    if declared is not None:
        group = declared
    else:
        source: GangSource = "volcano-podgroup" if scheduler == "volcano" else "podgroup"
        whole = whole_object_gang(r, pods, source, r.name, min_available)
        queue = str(sched["queue"]) if source == "volcano-podgroup" and sched.get("queue") else None
        group = Gang(whole.key, source, min_available, whole.pods, whole.pod_sets, queue=queue)
        if scheduler is not None:
            path = next(p for p, v in r.scheduler_names.items() if v == scheduler)
            selected = ("volcano" if scheduler == "volcano" else "coscheduling", path)
        elif sched:
            r.warn("spec.runPolicy.schedulingPolicy", "used only when a gang scheduler runs the pods (the "
                   "training-operator's --gang-scheduler-name sets their schedulerName): this object selects "
                   "none, so kubetwin draws PodGroup " f"{r.name} (minMember {min_available}) only under "
                   "the workload's gang: {policy: coscheduling} or {policy: volcano}")
    if "queue" in sched and group.source != "volcano-podgroup":
        r.warn("spec.runPolicy.schedulingPolicy.queue", "a Volcano Queue: used only when Volcano schedules "
               "the pods (schedulerName: volcano)")
    policies = {"runPolicy": dict(run)} if run else {}
    return r.workload(pod_sets, pods, kueue_gangs=kueue, group_gangs=[group], first_pod_spec=first,
                      policies=policies, scheduler_name=scheduler, selected=selected,
                      schedule_timeout=timeout if group.source == "podgroup" else None)


# ---------------------------------------------------------------------------------------------------
# TrainJob


def runtime_key(kind: str, namespace: str | None, name: str) -> str:
    """How runtimes are looked up: ``ClusterTrainingRuntime/<name>`` or ``TrainingRuntime/<ns>/<name>``."""
    return f"{kind}/{name}" if kind == "ClusterTrainingRuntime" else f"{kind}/{namespace or 'default'}/{name}"


def expand_trainjob(doc: dict[str, Any], file: str = "<manifest>", index: int = 0, warn: list[str] | None = None,
                    runtimes: dict[str, dict[str, Any]] | None = None) -> OperatorWorkload:
    """A TrainJob and its runtime (from ``runtimes``, keyed by :func:`runtime_key`) → its JobSet's pod
    sets, pods and gangs."""
    r = Reader(doc, file, index, warn)
    spec = r.mapping(doc.get("spec"), "spec", required=True)
    r.unknown(spec, _TRAINJOB_SPEC, "spec")
    for k in ("initializer", "podSpecOverrides", "podTemplateOverrides"):
        if k in spec:
            r.warn(f"spec.{k}")
    ref = r.mapping(spec.get("runtimeRef"), "spec.runtimeRef", required=True)
    r.unknown(ref, {"name", "kind", "apiGroup"}, "spec.runtimeRef")
    rt_name = r.string(ref.get("name"), "spec.runtimeRef.name")
    if rt_name is None:
        raise r.error("is required", "spec.runtimeRef.name", "name a ClusterTrainingRuntime or TrainingRuntime")
    rt_kind = r.string(ref.get("kind"), "spec.runtimeRef.kind", "ClusterTrainingRuntime", choices=RUNTIME_KINDS)
    assert rt_kind is not None
    key = runtime_key(rt_kind, r.namespace, rt_name)
    runtime = (runtimes or {}).get(key)
    if runtime is None and rt_kind == "ClusterTrainingRuntime" and rt_name in BUILTIN_RUNTIMES:
        runtime = BUILTIN_RUNTIMES[rt_name]
        r.warn("spec.runtimeRef", f"{rt_kind} {rt_name!r} is not among the manifests; using kubetwin's copy of "
               "the upstream default")
    if runtime is None:
        raise r.error(f"{rt_kind} {rt_name!r} is not among the manifests", "spec.runtimeRef.name",
                      f"add the {rt_kind} object to a file under spec.manifests (or the same file)")
    rt_spec = r.mapping(runtime.get("spec"), f"{key}: spec", required=True)
    r.unknown(rt_spec, _RUNTIME_SPEC, "runtime spec")
    ml = r.mapping(rt_spec.get("mlPolicy"), "runtime spec.mlPolicy")
    r.unknown(ml, _ML_POLICY, "runtime spec.mlPolicy")
    trainer = r.mapping(spec.get("trainer"), "spec.trainer")
    r.unknown(trainer, _TRAINER, "spec.trainer")
    nodes = r.integer(trainer.get("numNodes"), "spec.trainer.numNodes",
                      r.integer(ml.get("numNodes"), "runtime spec.mlPolicy.numNodes", 1, minimum=1), minimum=1)
    mpi = r.mapping(ml.get("mpi"), "runtime spec.mlPolicy.mpi")
    launcher_is_node = bool(mpi.get("runLauncherAsNode", False))
    js_template = r.mapping(rt_spec.get("template"), "runtime spec.template", required=True)
    js_spec = copy.deepcopy(r.mapping(js_template.get("spec"), "runtime spec.template.spec", required=True))
    resources = r.mapping(trainer.get("resourcesPerNode"), "spec.trainer.resourcesPerNode")
    _apply_trainer(r, js_spec, nodes - 1 if launcher_is_node and nodes > 1 else nodes, resources)
    labels = {TRAINJOB_NAME_LABEL: r.name}
    parts = jobset_parts(r, js_spec, "runtime spec.template.spec", r.name, labels)
    kueue = [whole_object_gang(r, parts.pods)]
    pg = r.mapping(rt_spec.get("podGroupPolicy"), "runtime spec.podGroupPolicy")
    declared = declared_pod_group_gang(r, parts.pods, parts.templates)
    selected = declared_selection(declared, parts.templates, "runtime spec.template.spec.replicatedJobs[{}]")
    timeout: int | None = None
    if declared is not None:
        group = [declared]
    elif "volcano" in pg:
        group = [whole_object_gang(r, parts.pods, "volcano-podgroup")]
        selected = ("volcano", "runtime spec.podGroupPolicy.volcano")
    elif "coscheduling" in pg:
        # the Trainer's coscheduling plugin: PodGroup <trainjob>, minMember = every pod, scheduleTimeoutSeconds
        # from the runtime (0 or unset: the API default, 60)
        group = [whole_object_gang(r, parts.pods, "podgroup")]
        selected = ("coscheduling", "runtime spec.podGroupPolicy.coscheduling")
        cos = r.mapping(pg.get("coscheduling"), "runtime spec.podGroupPolicy.coscheduling")
        r.unknown(cos, {"scheduleTimeoutSeconds"}, "runtime spec.podGroupPolicy.coscheduling")
        timeout = r.integer(cos.get("scheduleTimeoutSeconds"),
                            "runtime spec.podGroupPolicy.coscheduling.scheduleTimeoutSeconds", 0) or 60
    else:
        group = [whole_object_gang(r, parts.pods, "object")]
    parts.policies["runtime"] = key
    parts.policies["numNodes"] = nodes
    if pg:
        parts.policies["podGroupPolicy"] = dict(pg)
    w = r.workload(parts.pod_sets, parts.pods, kueue_gangs=kueue, group_gangs=group,
                   first_pod_spec=parts.first_pod_spec, startup_order=parts.startup_order, policies=parts.policies,
                   scheduler_name="volcano" if group[0].source == "volcano-podgroup" else None, selected=selected,
                   schedule_timeout=timeout)
    w.runtimes = {key: runtime}
    return w


def _apply_trainer(r: Reader, js_spec: dict[str, Any], nodes: int, resources: dict[str, Any]) -> None:
    """Set the trainer step's node count and the ``node`` container's resources, as the Trainer's plugins do."""
    rjobs = js_spec.get("replicatedJobs")
    if not isinstance(rjobs, list) or not rjobs:
        raise r.error("the runtime's JobSet template has no replicatedJobs", "runtime spec.template.spec",
                      "add replicatedJobs to the runtime")
    steps = [rj for rj in rjobs if isinstance(rj, dict) and
             ((rj.get("template") or {}).get("metadata") or {}).get("labels", {}).get(ANCESTOR_STEP_LABEL)
             == "trainer"]
    nodes_rjob = [rj for rj in rjobs if isinstance(rj, dict) and rj.get("name") == "node"]
    target = nodes_rjob or steps
    if not target:
        raise r.error("the runtime has no trainer step (a replicatedJob named node or labelled "
                      f"{ANCESTOR_STEP_LABEL}: trainer)", "runtime spec.template.spec.replicatedJobs",
                      "add the trainer's replicatedJob to the runtime")
    for rj in target:
        job_spec = rj.setdefault("template", {}).setdefault("spec", {})
        job_spec["parallelism"] = nodes
        job_spec["completions"] = nodes
    if resources:
        for rj in {id(x): x for x in target + steps}.values():
            pod_spec = (((rj.get("template") or {}).get("spec") or {}).get("template") or {}).get("spec") or {}
            for c in pod_spec.get("containers") or []:
                if isinstance(c, dict) and c.get("name") == "node":
                    c["resources"] = copy.deepcopy(resources)
