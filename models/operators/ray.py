"""KubeRay (``ray.io/v1``) RayCluster and RayJob, and Kueue's Ray integrations.

A RayCluster is one head pod plus, per ``workerGroupSpecs[i]``, ``replicas`` worker replicas (kept
within ``[minReplicas, maxReplicas]``) of ``numOfHosts`` pods each. KubeRay names pods with
``generateName``: ``<cluster>-head-`` for the head and ``<cluster>-<group>-worker-`` for workers, and
labels them ``ray.io/cluster``, ``ray.io/node-type`` (``head``/``worker``), ``ray.io/group``
(``headgroup`` or the group name) and ``ray.io/identifier``. A RayJob creates a RayCluster named
``<rayjob>-<5 random characters>`` from ``rayClusterSpec`` and, in the default ``K8sJobMode``, a
submitter batch Job named ``<rayjob>`` whose one pod runs ``ray job submit`` (default template: 500m CPU,
200Mi memory requested).

Kueue builds one Workload per RayCluster/RayJob: pod set ``head`` (1), one per worker group named after
the group (lower-cased; ``replicas × numOfHosts``) and, for a K8sJobMode RayJob, ``submitter`` (1).
KubeRay's gang integrations create one PodGroup with ``minMember`` = 1 + the desired worker pods
(``replicas × numOfHosts``; with ``enableInTreeAutoscaling`` ``minReplicas × numOfHosts``), never
counting a RayJob's submitter: Volcano's ``ray-<RayCluster or RayJob>-pg`` (label ``ray.io/scheduler-name:
volcano``; Queue from ``volcano.sh/queue-name``), scheduler-plugins' ``<cluster>`` (label
``ray.io/gang-scheduling-enabled``, or kubetwin's ``ray.io/scheduler-name: scheduler-plugins``).
Without such a label the object selects no gang scheduler.
"""

from __future__ import annotations

import re
from typing import Any

from models.manifests import PodSetManifest
from models.operators._common import (
    Gang,
    GangPolicy,
    GangSource,
    OperatorPod,
    OperatorWorkload,
    Reader,
    generated_suffix,
    whole_object_gang,
)

API_GROUP = "ray.io"
CLUSTER_LABEL = "ray.io/cluster"
NODE_TYPE_LABEL = "ray.io/node-type"
GROUP_LABEL = "ray.io/group"
IDENTIFIER_LABEL = "ray.io/identifier"
IS_RAY_NODE_LABEL = "ray.io/is-ray-node"
#: KubeRay's label choosing a batch scheduler for the cluster's pods (``volcano``, ``scheduler-plugins``...)
SCHEDULER_NAME_LABEL = "ray.io/scheduler-name"
#: KubeRay's label turning on gang scheduling with its ``scheduler-plugins`` batch scheduler
GANG_SCHEDULING_LABEL = "ray.io/gang-scheduling-enabled"
#: the Volcano Queue of a RayCluster's PodGroup
VOLCANO_QUEUE_LABEL = "volcano.sh/queue-name"
HEAD_GROUP = "headgroup"

_CLUSTER_SPEC = {"headGroupSpec", "workerGroupSpecs", "rayVersion", "enableInTreeAutoscaling", "autoscalerOptions",
                 "headServiceAnnotations", "suspend", "managedBy", "gcsFaultToleranceOptions", "upgradeStrategy"}
_HEAD = {"template", "rayStartParams", "serviceType", "enableIngress", "headService"}
_WORKER = {"groupName", "replicas", "minReplicas", "maxReplicas", "numOfHosts", "template", "rayStartParams",
           "scaleStrategy", "suspend", "idleTimeoutSeconds"}
_RAYJOB_SPEC = {"entrypoint", "rayClusterSpec", "clusterSelector", "submissionMode", "submitterPodTemplate",
                "submitterConfig", "shutdownAfterJobFinishes", "ttlSecondsAfterFinished", "activeDeadlineSeconds",
                "backoffLimit", "runtimeEnvYAML", "jobId", "metadata", "entrypointNumCpus", "entrypointNumGpus",
                "entrypointResources", "suspend", "managedBy", "deletionStrategy"}
_MODES = ("K8sJobMode", "HTTPMode", "InteractiveMode", "SidecarMode")
#: KubeRay's default submitter pod (``GetDefaultSubmitterContainer``): requests 500m CPU and 200Mi memory
DEFAULT_SUBMITTER = {"containers": [{"name": "ray-job-submitter",
                                     "resources": {"requests": {"cpu": "500m", "memory": "200Mi"},
                                                   "limits": {"cpu": "1", "memory": "1Gi"}}}]}


def pod_set_name(group: str) -> str:
    """Kueue's pod-set name for a worker group: lower-cased, characters outside ``[a-z0-9-]`` as ``-``."""
    return re.sub(r"[^a-z0-9-]", "-", group.lower())


def expand_raycluster(doc: dict[str, Any], file: str = "<manifest>", index: int = 0,
                      warn: list[str] | None = None) -> OperatorWorkload:
    """A RayCluster → head and worker-group pod sets, its pods and gangs."""
    r = Reader(doc, file, index, warn)
    spec = r.mapping(doc.get("spec"), "spec", required=True)
    pod_sets, pods, min_members, first = _cluster(r, spec, "spec", r.name)
    return _finish(r, pod_sets, pods, min_members, first, {})


def expand_rayjob(doc: dict[str, Any], file: str = "<manifest>", index: int = 0,
                  warn: list[str] | None = None) -> OperatorWorkload:
    """A RayJob → its RayCluster's pod sets plus the submitter's, its pods and gangs."""
    r = Reader(doc, file, index, warn)
    spec = r.mapping(doc.get("spec"), "spec", required=True)
    r.unknown(spec, _RAYJOB_SPEC, "spec")
    for k in ("activeDeadlineSeconds", "backoffLimit"):
        if k in spec:
            r.warn(f"spec.{k}", "recorded but not simulated")
    if spec.get("clusterSelector"):
        raise r.error("a RayJob that selects an existing RayCluster creates no cluster pods; kubetwin needs "
                      "rayClusterSpec", "spec.clusterSelector",
                      "replace clusterSelector with the cluster's rayClusterSpec, or simulate the RayCluster")
    mode = r.string(spec.get("submissionMode"), "spec.submissionMode", "K8sJobMode", choices=_MODES)
    status = doc.get("status")
    recorded = status.get("rayClusterName") if isinstance(status, dict) else None
    # a recorded RayJob names its cluster in status; otherwise KubeRay's <rayjob>-<5 random characters>
    cluster_name = str(recorded) if recorded else f"{r.name}-{generated_suffix(r.namespace, r.name, 'raycluster')}"
    cluster_spec = r.mapping(spec.get("rayClusterSpec"), "spec.rayClusterSpec", required=True)
    pod_sets, pods, min_members, first = _cluster(r, cluster_spec, "spec.rayClusterSpec", cluster_name)
    if mode == "K8sJobMode":
        tmpl = spec.get("submitterPodTemplate")
        compact, _, meta = r.pod_template(tmpl if tmpl is not None else {"spec": DEFAULT_SUBMITTER},
                                          "spec.submitterPodTemplate")
        pod_sets.append(PodSetManifest("submitter", 1, compact))
        labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
        labels.update({"batch.kubernetes.io/job-name": r.name, "job-name": r.name})
        pods.append(OperatorPod(f"{r.name}-{generated_suffix(r.namespace, r.name, 'submitter')}", "submitter",
                                "submitter", labels, generate_name=f"{r.name}-"))
    policies = {"submissionMode": mode, "rayCluster": cluster_name,
                "shutdownAfterJobFinishes": bool(spec.get("shutdownAfterJobFinishes", False))}
    return _finish(r, pod_sets, pods, min_members, first, policies)


def _finish(r: Reader, pod_sets: list[PodSetManifest], pods: list[OperatorPod], min_members: int,
            first: dict[str, Any], policies: dict[str, Any]) -> OperatorWorkload:
    kueue = [whole_object_gang(r, pods)]
    scheduler = r.labels.get(SCHEDULER_NAME_LABEL)
    selected: tuple[GangPolicy, str] | None = None
    source: GangSource = "object"
    if scheduler == "volcano":
        source, selected = "volcano-podgroup", ("volcano", f"metadata.labels[{SCHEDULER_NAME_LABEL}]")
    elif scheduler == "scheduler-plugins":
        source, selected = "podgroup", ("coscheduling", f"metadata.labels[{SCHEDULER_NAME_LABEL}]")
    elif GANG_SCHEDULING_LABEL in r.labels:
        # KubeRay run with batchScheduler scheduler-plugins: PodGroup <cluster>, pods labelled with it
        source, selected = "podgroup", ("coscheduling", f"metadata.labels[{GANG_SCHEDULING_LABEL}]")
    elif scheduler is not None:
        r.warn(f"metadata.labels[{SCHEDULER_NAME_LABEL}]", f"{scheduler!r} is not a gang scheduler kubetwin models "
               "(volcano, scheduler-plugins); the pods run under the workload's gang policy")
    # the submitter is never part of minMember (it waits for the cluster: the gang would wait for it)
    quorum = len(pods) if source == "object" else min_members
    whole = whole_object_gang(r, pods, source, _pod_group_name(r, policies, source), quorum)
    queue = r.labels.get(VOLCANO_QUEUE_LABEL) if source == "volcano-podgroup" else None
    group = [Gang(whole.key, whole.source, whole.min_count, whole.pods, whole.pod_sets, queue=queue)]
    return r.workload(pod_sets, pods, kueue_gangs=kueue, group_gangs=group, first_pod_spec=first,
                      policies=policies, scheduler_name="volcano" if source == "volcano-podgroup" else None,
                      selected=selected)


def _pod_group_name(r: Reader, policies: dict[str, Any], source: GangSource) -> str:
    """KubeRay's PodGroup: ``ray-<RayCluster or RayJob>-pg`` for Volcano, ``<cluster>`` for scheduler-plugins."""
    if source == "volcano-podgroup":
        return f"ray-{r.name}-pg"
    return str(policies.get("rayCluster", r.name))


def _cluster(r: Reader, spec: dict[str, Any], path: str, cluster: str
             ) -> tuple[list[PodSetManifest], list[OperatorPod], int, dict[str, Any]]:
    """``(pod sets, pods, PodGroup minMember, head pod spec)`` of a RayCluster spec at ``path``."""
    r.unknown(spec, _CLUSTER_SPEC, path)
    if spec.get("enableInTreeAutoscaling"):
        r.warn(f"{path}.enableInTreeAutoscaling", "the Ray autoscaler is not simulated; worker groups stay at "
               "their replicas")
    # KubeRay's PodGroup minMember: 1 + the desired worker pods, or 1 + the minimum ones with the autoscaler
    autoscaling = bool(spec.get("enableInTreeAutoscaling"))
    head = r.mapping(spec.get("headGroupSpec"), f"{path}.headGroupSpec", required=True)
    r.unknown(head, _HEAD, f"{path}.headGroupSpec")
    head_compact, head_spec, head_meta = r.pod_template(head.get("template"), f"{path}.headGroupSpec.template")
    pod_sets = [PodSetManifest("head", 1, head_compact)]
    base = {CLUSTER_LABEL: cluster, IS_RAY_NODE_LABEL: "yes", "app.kubernetes.io/name": "kuberay",
            "app.kubernetes.io/created-by": "kuberay-operator"}
    head_labels = {**_str(head_meta.get("labels")), **base, NODE_TYPE_LABEL: "head", GROUP_LABEL: HEAD_GROUP,
                   IDENTIFIER_LABEL: f"{cluster}-head"}
    prefix = f"{cluster}-head-"
    pods = [OperatorPod(prefix + generated_suffix(r.namespace, cluster, "head"), "head", "head", head_labels,
                        _str(head_meta.get("annotations")), generate_name=prefix)]
    min_members = 1
    seen: set[str] = set()
    for i, raw in enumerate(r.sequence(spec.get("workerGroupSpecs"), f"{path}.workerGroupSpecs")):
        p = f"{path}.workerGroupSpecs[{i}]"
        wg = r.mapping(raw, p, required=True)
        r.unknown(wg, _WORKER, p)
        group = r.string(wg.get("groupName"), f"{p}.groupName")
        if group is None:
            raise r.error("is required", f"{p}.groupName", "name every worker group")
        ps_name = pod_set_name(group)
        if ps_name in seen or ps_name == "head":
            raise r.error(f"worker group {group!r} gives the pod set name {ps_name!r} twice", f"{p}.groupName",
                          "give each worker group a distinct name (other than head)")
        seen.add(ps_name)
        lo = r.integer(wg.get("minReplicas"), f"{p}.minReplicas", 0)
        hi = r.integer(wg.get("maxReplicas"), f"{p}.maxReplicas", 2**31 - 1)
        if hi < lo:
            raise r.error(f"maxReplicas {hi} is below minReplicas {lo}", f"{p}.maxReplicas",
                          "make maxReplicas >= minReplicas")
        replicas = min(max(r.integer(wg.get("replicas"), f"{p}.replicas", lo), lo), hi)
        hosts = r.integer(wg.get("numOfHosts"), f"{p}.numOfHosts", 1, minimum=1)
        if wg.get("suspend"):
            r.warn(f"{p}.suspend", "a suspended worker group has no pods")
            replicas = 0
        compact, _, meta = r.pod_template(wg.get("template"), f"{p}.template")
        pod_sets.append(PodSetManifest(ps_name, replicas * hosts, compact, None))
        min_members += (min(lo, replicas) if autoscaling else replicas) * hosts
        labels = {**_str(meta.get("labels")), **base, NODE_TYPE_LABEL: "worker", GROUP_LABEL: group,
                  IDENTIFIER_LABEL: f"{cluster}-worker"}
        wprefix = f"{cluster}-{group}-worker-".lower()
        for n in range(replicas * hosts):
            pods.append(OperatorPod(wprefix + generated_suffix(r.namespace, cluster, group, str(n)), ps_name,
                                    "worker", dict(labels), _str(meta.get("annotations")), generate_name=wprefix))
    return pod_sets, pods, min_members, head_spec


def _str(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}
