"""Pods (``core/v1``): PodCreated, Scheduled, PodRunning, PodSucceeded/PodFailed and PodDeleted.

The pod lifecycle as the kubelet and kube-scheduler report it in the pod's status: ``spec.nodeName``
set means bound, ``status.phase`` Running/Succeeded/Failed the later stages. A pod first seen in a
later stage passed through the earlier ones, which are emitted as *derived*. The pod's gang comes from
the scheduling API (``spec.schedulingGroup``, ``spec.workloadRef``), PodGroup labels or Kueue.
"""

from __future__ import annotations

from typing import Any

from validator.normalize.core import Normalizer, RecordContext, Tracked, Translator
from validator.normalize.fields import (
    as_dict,
    as_list,
    condition,
    controller_owner,
    parse_time_ns,
    pod_requests,
    rfc3339,
    text,
)
from validator.normalize.slices import dra_state

#: Pod lifecycle stages in order; a later stage implies every earlier one happened.
POD_STAGES = ("Scheduled", "PodRunning", "PodTerminal")

#: Labels naming a coscheduling PodGroup.
_POD_GROUP_LABELS = ("scheduling.x-k8s.io/pod-group", "pod-group.scheduling.sigs.k8s.io")
#: Annotations (or labels) naming the Kueue Workload of a pod.
_KUEUE_WORKLOAD_KEYS = ("kueue.x-k8s.io/workload", "kueue.x-k8s.io/workload-name")


def pod_gang(norm: Normalizer, obj: dict[str, Any]) -> tuple[str | None, str | None]:
    """``(gang key, pod set)`` of a pod, from the scheduling API, PodGroup labels or Kueue."""
    meta, spec = as_dict(obj.get("metadata")), as_dict(obj.get("spec"))
    namespace = text(meta.get("namespace")) or ""
    labels, annotations = as_dict(meta.get("labels")), as_dict(meta.get("annotations"))
    scheduling_group = as_dict(spec.get("schedulingGroup"))
    if text(scheduling_group.get("podGroupName")):
        return f"{namespace}/{scheduling_group['podGroupName']}", None
    workload_ref = as_dict(spec.get("workloadRef"))
    if text(workload_ref.get("name")):
        return f"{namespace}/{workload_ref['name']}", text(workload_ref.get("podGroup"))
    pod_set = text(labels.get("kueue.x-k8s.io/podset")) or text(annotations.get("kueue.x-k8s.io/podset"))
    for key in _POD_GROUP_LABELS:
        if text(labels.get(key)):
            return f"{namespace}/{labels[key]}", pod_set
    if text(annotations.get("scheduling.k8s.io/group-name")):  # a Volcano PodGroup
        return f"{namespace}/{annotations['scheduling.k8s.io/group-name']}", pod_set
    for key in _KUEUE_WORKLOAD_KEYS:
        value = text(annotations.get(key)) or text(labels.get(key))
        if value:
            return f"{namespace}/{value}", pod_set
    if text(labels.get("kueue.x-k8s.io/pod-group-name")):
        # plain-pod groups: Kueue names the Workload after the group
        return f"{namespace}/{labels['kueue.x-k8s.io/pod-group-name']}", pod_set
    owner = controller_owner(meta)
    if owner is not None:
        workload = norm.workload_by_owner.get((namespace, owner["kind"], owner["name"]))
        if workload is not None:
            return workload, pod_set
    return None, pod_set


def _created(norm: Normalizer, ctx: RecordContext, obj: dict[str, Any], pod: Tracked) -> None:
    meta, spec = as_dict(obj.get("metadata")), as_dict(obj.get("spec"))
    pod.group, pod_set = pod_gang(norm, obj)
    owner = controller_owner(meta)
    data: dict[str, Any] = {
        "requests": pod_requests(spec),
        "priority": spec.get("priority") if isinstance(spec.get("priority"), int) else 0,
        "workload": owner["name"] if owner else (pod.group.split("/", 1)[1] if pod.group else pod.name),
    }
    if owner:
        data["owner"] = owner
    if as_dict(spec.get("nodeSelector")):
        data["nodeSelector"] = spec["nodeSelector"]
    if as_list(spec.get("tolerations")):
        data["tolerations"] = spec["tolerations"]
    required = as_dict(as_dict(spec.get("affinity")).get("nodeAffinity")).get(
        "requiredDuringSchedulingIgnoredDuringExecution")
    if required:
        data["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": required}}
    if as_list(spec.get("resourceClaims")):
        data["claims"] = spec["resourceClaims"]  # entries become ResourceClaim names at the end
        dra_state(norm)
    if pod_set:
        data["podSet"] = pod_set
    t, preexisting = norm.time_of(ctx, meta.get("creationTimestamp"), pod)
    norm.emit(ctx, t, preexisting, "PodCreated", pod, data=data)


def _stage_reached(spec: dict[str, Any], status: dict[str, Any]) -> int:
    """The index in :data:`POD_STAGES` of the latest stage the pod shows (-1: none yet)."""
    phase = status.get("phase")
    if phase in ("Succeeded", "Failed"):
        return 2
    if phase == "Running":
        return 1
    return 0 if text(spec.get("nodeName")) else -1


def translate_pod(norm: Normalizer, ctx: RecordContext, obj: dict[str, Any], deleted: bool) -> None:
    pod = norm.track("Pod", obj)
    if pod is None:
        return
    spec, status = as_dict(obj.get("spec")), as_dict(obj.get("status"))
    if "created" not in pod.emitted:
        pod.emitted.add("created")
        _created(norm, ctx, obj, pod)
    node = text(spec.get("nodeName"))
    if node:
        pod.node = node
    reached = _stage_reached(spec, status)
    container_states = [as_dict(as_dict(c).get("state")) for c in as_list(status.get("containerStatuses"))]
    for stage in range(reached + 1):
        key = POD_STAGES[stage]
        if key in pod.emitted:
            continue
        pod.emitted.add(key)
        derived = stage < reached
        if stage == 0 and pod.node is None:
            continue
        if stage == 0:
            scheduled = condition(obj, "PodScheduled")
            when = scheduled.get("lastTransitionTime") if scheduled and scheduled.get("status") == "True" else None
            t, preexisting = norm.time_of(ctx, when, pod)
            norm.emit(ctx, t, preexisting, "Scheduled", pod, node=pod.node, derived=derived,
                      reason=f"Successfully assigned {pod.namespace}/{pod.name} to {pod.node}")
        elif stage == 1:
            starts = [as_dict(state).get("startedAt") for states in container_states
                      for state in (as_dict(states.get("running")), as_dict(states.get("terminated")))
                      if as_dict(state).get("startedAt")]
            start_ns = sorted(ns for ns in (parse_time_ns(s) for s in starts) if ns is not None)
            if derived and not start_ns:
                continue  # ended without ever running (e.g. rejected by the kubelet)
            t, preexisting = norm.time_of(ctx, rfc3339(start_ns[0]) if start_ns else None, pod)
            norm.emit(ctx, t, preexisting, "PodRunning", pod, node=pod.node, derived=derived)
        else:
            ends = [parse_time_ns(as_dict(states.get("terminated")).get("finishedAt"))
                    for states in container_states]
            known = [ns for ns in ends if ns is not None]
            t, preexisting = norm.time_of(ctx, rfc3339(max(known)) if known else None, pod)
            norm.emit(ctx, t, preexisting, "PodSucceeded" if status.get("phase") == "Succeeded" else "PodFailed",
                      pod, node=pod.node, derived=derived)
    if deleted and "deleted" not in pod.emitted:
        pod.emitted.add("deleted")
        disruption = condition(obj, "DisruptionTarget")
        why = text(disruption.get("message")) if disruption and disruption.get("status") == "True" else None
        t, preexisting = norm.time_of(ctx, None, pod)
        norm.emit(ctx, t, preexisting, "PodDeleted", pod, node=pod.node, reason=why)
        norm.forget(pod)


TRANSLATORS: dict[tuple[str, str], Translator] = {("", "pods"): translate_pod}
