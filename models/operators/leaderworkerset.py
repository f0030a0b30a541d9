"""LeaderWorkerSet (``leaderworkerset.x-k8s.io/v1``): replicated groups of one leader and ``size − 1`` workers.

The LWS controller runs a leader StatefulSet named ``<lws>`` with ``replicas`` pods ``<lws>-<group>``;
each leader pod gets a worker StatefulSet ``<lws>-<group>`` whose pods are ``<lws>-<group>-<worker>``
(worker index 1..size−1; the leader is worker 0). Pods carry the ``leaderworkerset.sigs.k8s.io/name``,
``group-index``, ``worker-index`` and ``group-key`` labels. A leader without ``leaderTemplate`` uses the
worker template. With ``startupPolicy: LeaderReady`` the workers of a group are created only once its
leader is Ready.

Kueue's LeaderWorkerSet integration creates one Workload **per group** (admitted all or nothing, so
the group lands together): pod sets ``leader`` (1) and ``worker`` (size−1) when a leader template is
given, else one pod set ``main`` of ``size``. Every gang policy sees the same boundary: one group.
"""

from __future__ import annotations

import hashlib
from typing import Any

from models.manifests import POD_GROUP_LABEL, PodSetManifest
from models.operators._common import Gang, GangPolicy, GangSource, OperatorPod, OperatorWorkload, Reader

API_GROUP = "leaderworkerset.x-k8s.io"
LABEL_PREFIX = "leaderworkerset.sigs.k8s.io/"
NAME_LABEL = LABEL_PREFIX + "name"
GROUP_INDEX_LABEL = LABEL_PREFIX + "group-index"
WORKER_INDEX_LABEL = LABEL_PREFIX + "worker-index"
GROUP_KEY_LABEL = LABEL_PREFIX + "group-key"
SIZE_ANNOTATION = LABEL_PREFIX + "size"
LEADER_NAME_ANNOTATION = LABEL_PREFIX + "leader-name"

_SPEC = {"replicas", "leaderWorkerTemplate", "startupPolicy", "rolloutStrategy", "networkConfig"}
_TEMPLATE = {"size", "leaderTemplate", "workerTemplate", "restartPolicy", "subGroupPolicy"}


def group_key(namespace: str, leader_name: str) -> str:
    """The ``group-key`` label: the SHA-1 of ``<namespace>/<leader pod name>``."""
    return hashlib.sha1(f"{namespace}/{leader_name}".encode()).hexdigest()


def expand_leaderworkerset(doc: dict[str, Any], file: str = "<manifest>", index: int = 0,
                           warn: list[str] | None = None) -> OperatorWorkload:
    """A LeaderWorkerSet → one pod set per role (counts for all groups), its pods and one gang per group."""
    r = Reader(doc, file, index, warn)
    spec = r.mapping(doc.get("spec"), "spec", required=True)
    r.unknown(spec, _SPEC, "spec")
    replicas = r.integer(spec.get("replicas"), "spec.replicas", 1)
    lwt = r.mapping(spec.get("leaderWorkerTemplate"), "spec.leaderWorkerTemplate", required=True)
    r.unknown(lwt, _TEMPLATE, "spec.leaderWorkerTemplate")
    if "subGroupPolicy" in lwt:
        r.warn("spec.leaderWorkerTemplate.subGroupPolicy")
    size = r.integer(lwt.get("size"), "spec.leaderWorkerTemplate.size", 1, minimum=1)
    restart = r.string(lwt.get("restartPolicy"), "spec.leaderWorkerTemplate.restartPolicy", "RecreateGroupOnPodRestart",
                       choices=("RecreateGroupOnPodRestart", "Default", "None"))
    startup = r.string(spec.get("startupPolicy"), "spec.startupPolicy", "LeaderCreated",
                       choices=("LeaderCreated", "LeaderReady"))
    if startup == "LeaderReady":
        r.warn("spec.startupPolicy", "kept, but not simulated: a group's workers are created with its leader")
    if "restartPolicy" in lwt and restart != "None":
        r.warn("spec.leaderWorkerTemplate.restartPolicy",
               "kept, but not simulated: a failed pod does not make the group restart")
    worker_compact, worker_spec, worker_meta = r.pod_template(lwt.get("workerTemplate"),
                                                              "spec.leaderWorkerTemplate.workerTemplate")
    has_leader = lwt.get("leaderTemplate") is not None
    if has_leader:
        leader_compact, leader_spec, leader_meta = r.pod_template(lwt.get("leaderTemplate"),
                                                                  "spec.leaderWorkerTemplate.leaderTemplate")
        leader_set, worker_set = "leader", "worker"
        pod_sets = [PodSetManifest("leader", replicas, leader_compact),
                    PodSetManifest("worker", replicas * (size - 1), worker_compact)]
        startup_order = [["leader"], ["worker"]] if startup == "LeaderReady" else [["leader", "worker"]]
    else:
        leader_spec, leader_meta = worker_spec, worker_meta
        leader_set = worker_set = "main"
        pod_sets = [PodSetManifest("main", replicas * size, worker_compact)]
        startup_order = [["main"]]
    pods: list[OperatorPod] = []
    kueue: list[Gang] = []
    groups: list[Gang] = []
    # a scheduling.x-k8s.io/pod-group label on the templates selects coscheduling; kubetwin's gang stays
    # one group (upstream, the label's one PodGroup would span every group of the set)
    selected: tuple[GangPolicy, str] | None = None
    for role, meta in (("leaderTemplate", leader_meta if has_leader else None), ("workerTemplate", worker_meta)):
        if selected is None and meta is not None and POD_GROUP_LABEL in (meta.get("labels") or {}):
            field_path = f"spec.leaderWorkerTemplate.{role}.metadata.labels[{POD_GROUP_LABEL}]"
            selected = ("coscheduling", field_path)
            if replicas > 1:
                r.warn(field_path, f"selects coscheduling; kubetwin makes each of the {replicas} groups its own "
                       "PodGroup (leader + workers), where this one label would put every group in one")
    for g in range(replicas):
        leader = f"{r.name}-{g}"
        key = group_key(r.namespace, leader)
        common = {NAME_LABEL: r.name, GROUP_INDEX_LABEL: str(g), GROUP_KEY_LABEL: key}
        group_pods = [OperatorPod(leader, leader_set, "leader",
                                  {**_labels(leader_meta), **common, WORKER_INDEX_LABEL: "0"},
                                  {**_annotations(leader_meta), SIZE_ANNOTATION: str(size)}, hostname=leader)]
        for w in range(1, size):
            name = f"{leader}-{w}"
            group_pods.append(OperatorPod(name, worker_set, "worker",
                                          {**_labels(worker_meta), **common, WORKER_INDEX_LABEL: str(w)},
                                          {**_annotations(worker_meta), SIZE_ANNOTATION: str(size),
                                           LEADER_NAME_ANNOTATION: leader}, hostname=name))
        pods.extend(group_pods)
        counts: dict[str, int] = {}
        for p in group_pods:
            counts[p.pod_set] = counts.get(p.pod_set, 0) + 1
        names = tuple(p.name for p in group_pods)
        kueue.append(Gang(r.key(leader), "kueue-workload", size, names, dict(counts), queue=r.queue_name(),
                          workload_prefix=f"leaderworkerset-{leader}-"))
        source: GangSource = "podgroup" if selected else "object"
        groups.append(Gang(r.key(leader), source, size, names, dict(counts)))
    return r.workload(pod_sets, pods, kueue_gangs=kueue, group_gangs=groups, first_pod_spec=leader_spec,
                      startup_order=startup_order, policies={"restartPolicy": restart, "startupPolicy": startup},
                      selected=selected)


def _labels(meta: dict[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}


def _annotations(meta: dict[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in (meta.get("annotations") or {}).items()}
