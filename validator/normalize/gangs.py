"""Gang APIs other than Kueue: coscheduling PodGroups and the ``scheduling.k8s.io`` Workload (KEP-4671).

Each becomes one WorkloadCreated when first seen: the gang's policy (``coscheduling`` for a
``scheduling.x-k8s.io`` PodGroup with ``minMember``, ``workload-api`` otherwise), its ``minCount`` and,
for a Workload, its pod groups.
"""

from __future__ import annotations

from typing import Any

from models.events import workload_created_data
from validator.normalize.core import Normalizer, RecordContext, Translator
from validator.normalize.fields import as_dict, as_list


def translate_pod_group(norm: Normalizer, ctx: RecordContext, obj: dict[str, Any], deleted: bool) -> None:
    group = norm.track("PodGroup", obj)
    if group is None or deleted or "created" in group.emitted:
        return
    group.emitted.add("created")
    spec = as_dict(obj.get("spec"))
    group.group = f"{group.namespace}/{group.name}" if group.namespace else group.name
    gang = as_dict(as_dict(spec.get("schedulingPolicy")).get("gang"))
    min_count = spec.get("minMember") if isinstance(spec.get("minMember"), int) else gang.get("minCount")
    policy = "coscheduling" if "minMember" in spec else "workload-api"
    size = min_count if isinstance(min_count, int) else 1
    timeout = spec.get("scheduleTimeoutSeconds")
    data = workload_created_data(policy, min_count=size, pods=size, pod_sets=[], priority=0,
                                 timeout=timeout if isinstance(timeout, int) else None)
    t, preexisting = norm.time_of(ctx, as_dict(obj.get("metadata")).get("creationTimestamp"), group)
    norm.emit(ctx, t, preexisting, "WorkloadCreated", group, data=data)


def translate_scheduling_workload(norm: Normalizer, ctx: RecordContext, obj: dict[str, Any],
                                  deleted: bool) -> None:
    workload = norm.track("Workload", obj)
    if workload is None or deleted or "created" in workload.emitted:
        return
    workload.emitted.add("created")
    workload.group = f"{workload.namespace}/{workload.name}" if workload.namespace else workload.name
    spec = as_dict(obj.get("spec"))
    pod_sets = []
    total = 0
    for pod_group in (as_dict(p) for p in as_list(spec.get("podGroups")) + as_list(spec.get("podGroupTemplates"))):
        policy = as_dict(pod_group.get("policy")) or as_dict(pod_group.get("schedulingPolicy"))
        min_count = as_dict(policy.get("gang")).get("minCount")
        entry: dict[str, Any] = {"name": pod_group.get("name"),
                                 "count": min_count if isinstance(min_count, int) else 1}
        if isinstance(min_count, int):
            entry["minCount"] = min_count
        entry["requests"] = {}
        pod_sets.append(entry)
        total += entry["count"]
    t, preexisting = norm.time_of(ctx, as_dict(obj.get("metadata")).get("creationTimestamp"), workload)
    norm.emit(ctx, t, preexisting, "WorkloadCreated", workload, data=workload_created_data(
        "workload-api", min_count=total, pods=total, pod_sets=pod_sets, priority=0))


TRANSLATORS: dict[tuple[str, str], Translator] = {
    ("scheduling.x-k8s.io", "podgroups"): translate_pod_group,
    ("scheduling.k8s.io", "podgroups"): translate_pod_group,
    ("scheduling.k8s.io", "workloads"): translate_scheduling_workload,
}
