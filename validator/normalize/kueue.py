"""Kueue (``kueue.x-k8s.io``): Workloads and their conditions, ClusterQueues and LocalQueues.

A Kueue Workload becomes WorkloadCreated (its pod sets and their effective requests), then one event
per condition that turns True — QuotaReserved (flavors and usage from ``status.admission``; the
admission checks the reservation must pass, from the ClusterQueue's ``admissionChecks`` /
``admissionChecksStrategy`` for the assigned flavors and ``status.admissionChecks``), Admitted,
PodsReady, Evicted, Finished → WorkloadFinished — and Requeued once per backoff
(``status.requeueState.requeueAt``). Each change of a check's state in ``status.admissionChecks[]``
becomes AdmissionCheckUpdated (what Kueue's ``AdmissionCheckUpdated`` Event says), emitted between
QuotaReserved and Admitted of the same update; the initial ``Pending`` and the reset to ``Pending`` when
an eviction clears a ``Retry``/``Rejected`` are not transitions Kueue reports, and are not emitted. A
ClusterQueue or LocalQueue becomes QueueConfigured each time its scheduling-relevant spec changes.
"""

from __future__ import annotations

import json
from typing import Any

from models.events import workload_created_data
from validator.normalize.core import Normalizer, RecordContext, Tracked, Translator
from validator.normalize.fields import (
    as_dict,
    as_list,
    canonical_quantity,
    condition,
    controller_owner,
    parse_time_ns,
    pod_requests,
    sum_resources,
    text,
)

#: Workload conditions that become timeline events when they turn True, in emitting order.
_CONDITION_EVENTS = ("QuotaReserved", "Admitted", "PodsReady", "Evicted", "Finished")
_QUOTA_FIELDS = ("nominalQuota", "borrowingLimit", "lendingLimit")
#: the pod-set annotation Kueue's ProvisioningRequest check puts in ``podSetUpdates``: the request's name
CONSUMES_ANNOTATION = "cluster-autoscaler.kubernetes.io/consume-provisioning-request"


def reservation(admission: dict[str, Any], cluster_queue: str | None) -> dict[str, Any]:
    """QuotaReserved payload from ``status.admission``: flavors per pod set and usage per flavor."""
    flavors: dict[str, dict[str, str]] = {}
    usage_maps: dict[str, list[dict[str, Any]]] = {}
    for assignment in (as_dict(p) for p in as_list(admission.get("podSetAssignments"))):
        pod_set = str(assignment.get("name") or "main")
        by_resource = {str(k): str(v) for k, v in sorted(as_dict(assignment.get("flavors")).items())}
        flavors[pod_set] = by_resource
        for resource, qty in as_dict(assignment.get("resourceUsage")).items():
            flavor = by_resource.get(resource)
            if flavor is not None:
                usage_maps.setdefault(flavor, []).append({resource: qty})
    data: dict[str, Any] = {}
    if cluster_queue:
        data["clusterQueue"] = cluster_queue
    data["flavors"] = flavors
    data["usage"] = {flavor: sum_resources(maps) for flavor, maps in sorted(usage_maps.items())}
    return data


def _created(norm: Normalizer, ctx: RecordContext, obj: dict[str, Any], workload: Tracked,
             cluster_queue: str | None) -> None:
    meta, spec = as_dict(obj.get("metadata")), as_dict(obj.get("spec"))
    pod_sets = []
    min_count = total = 0
    for pod_set in (as_dict(p) for p in as_list(spec.get("podSets"))):
        count: int = pod_set["count"] if isinstance(pod_set.get("count"), int) else 1
        entry: dict[str, Any] = {"name": pod_set.get("name") or "main", "count": count}
        if isinstance(pod_set.get("minCount"), int):
            entry["minCount"] = pod_set["minCount"]
        pod_spec = as_dict(as_dict(pod_set.get("template")).get("spec"))
        entry["requests"] = pod_requests(pod_spec)
        pod_sets.append(entry)
        placement: dict[str, Any] = {}
        for key in ("nodeSelector", "tolerations", "affinity"):
            if pod_spec.get(key):
                placement[key] = pod_spec[key]
        workload.extra.setdefault("podSets", {})[str(entry["name"])] = {**entry, **placement}
        total += count
        min_count += int(entry.get("minCount", count))
    data = workload_created_data(
        "kueue", min_count=min_count, pods=total, pod_sets=pod_sets,
        priority=spec.get("priority") if isinstance(spec.get("priority"), int) else 0,
        queue=spec["queueName"] if text(spec.get("queueName")) else None, cluster_queue=cluster_queue or None)
    t, preexisting = norm.time_of(ctx, meta.get("creationTimestamp"), workload)
    norm.emit(ctx, t, preexisting, "WorkloadCreated", workload, data=data)


def translate_workload(norm: Normalizer, ctx: RecordContext, obj: dict[str, Any], deleted: bool) -> None:
    workload = norm.track("Workload", obj)
    if workload is None:
        return
    meta, status = as_dict(obj.get("metadata")), as_dict(obj.get("status"))
    workload.group = f"{workload.namespace}/{workload.name}" if workload.namespace else workload.name
    owner = controller_owner(meta)
    if owner:
        norm.workload_by_owner[(workload.namespace, owner["kind"], owner["name"])] = workload.group
    admission = as_dict(status.get("admission"))
    cluster_queue = text(admission.get("clusterQueue")) or workload.extra.get("clusterQueue")
    if cluster_queue:
        workload.extra["clusterQueue"] = cluster_queue
    if "created" not in workload.emitted:
        workload.emitted.add("created")
        _created(norm, ctx, obj, workload, cluster_queue)
    for condition_type in _CONDITION_EVENTS:
        if condition_type == "Admitted":
            check_states(norm, ctx, status, workload)
        cond = condition(obj, condition_type)
        if not cond or cond.get("status") != "True":
            continue
        key = f"{condition_type}@{cond.get('lastTransitionTime')}"
        if key in workload.emitted:
            continue
        workload.emitted.add(key)
        t, preexisting = norm.time_of(ctx, cond.get("lastTransitionTime"), workload)
        on_queue = {"clusterQueue": cluster_queue} if cluster_queue else {}
        if condition_type == "QuotaReserved":
            data = reservation(admission, cluster_queue)
            checks = required_checks(norm, status, cluster_queue, data["flavors"])
            if checks:
                data["admissionChecks"] = checks
            workload.extra["checkStates"] = {}
            norm.emit(ctx, t, preexisting, "QuotaReserved", workload, data=data)
        elif condition_type == "Admitted":
            norm.emit(ctx, t, preexisting, "Admitted", workload, data=on_queue or None)
        elif condition_type == "PodsReady":
            norm.emit(ctx, t, preexisting, "PodsReady", workload)
        elif condition_type == "Evicted":
            if text(cond.get("message")):
                on_queue["message"] = cond["message"]
            norm.emit(ctx, t, preexisting, "Evicted", workload, reason=text(cond.get("reason")), data=on_queue)
        else:
            norm.emit(ctx, t, preexisting, "WorkloadFinished", workload, reason=text(cond.get("reason")))
    _requeued(norm, ctx, obj, workload)
    if deleted:
        norm.forget(workload)


def required_checks(norm: Normalizer, status: dict[str, Any], cluster_queue: str | None,
                    flavors: dict[str, dict[str, str]]) -> list[str]:
    """The admission checks a reservation must pass: the ClusterQueue's (``admissionChecks``, and the
    ``admissionChecksStrategy`` entries whose ``onFlavors`` is empty or names an assigned flavor), in its
    order, then any other check ``status.admissionChecks`` lists."""
    assigned = {f for per_resource in flavors.values() for f in per_resource.values()}
    queue = norm.objects.get(("ClusterQueue", None, cluster_queue)) if cluster_queue else None
    out: list[str] = []
    for name, on_flavors in (queue.extra.get("admissionChecks") or []) if queue is not None else []:
        if (not on_flavors or assigned & set(on_flavors)) and name not in out:
            out.append(name)
    for state in (as_dict(x) for x in as_list(status.get("admissionChecks"))):
        name = text(state.get("name"))
        if name and name not in out:
            out.append(name)
    return out


def _consumed_request(state: dict[str, Any]) -> str | None:
    for update in (as_dict(u) for u in as_list(state.get("podSetUpdates"))):
        name = text(as_dict(update.get("annotations")).get(CONSUMES_ANNOTATION))
        if name:
            return name
    return None


def check_states(norm: Normalizer, ctx: RecordContext, status: dict[str, Any], workload: Tracked) -> None:
    """AdmissionCheckUpdated for each check whose ``state`` changed since the workload was last seen."""
    known: dict[str, str] = workload.extra.setdefault("checkStates", {})
    for state in (as_dict(x) for x in as_list(status.get("admissionChecks"))):
        name, to = text(state.get("name")), text(state.get("state"))
        if not name or not to or known.get(name) == to:
            continue
        before = known.get(name)
        known[name] = to
        frm = before or "Pending"
        if to == "Pending" and frm in ("Pending", "Retry", "Rejected"):
            continue  # the initial state, or the reset an eviction makes: Kueue reports neither
        t, preexisting = norm.time_of(ctx, state.get("lastTransitionTime"), workload)
        message = text(state.get("message"))
        data: dict[str, Any] = {"admissionCheck": name, "from": frm, "to": to}
        reason = f"Admission check {name} updated state from {frm} to {to}"
        if message:
            data["message"] = message
            reason += f" with message {message}"
        request = _consumed_request(state) or (workload.extra.get("provisioningRequests") or {}).get(name)
        if request:
            data["provisioningRequest"] = request
        norm.emit(ctx, t, preexisting, "AdmissionCheckUpdated", workload, reason=reason, data=data,
                  derived=before is None)


def _requeued(norm: Normalizer, ctx: RecordContext, obj: dict[str, Any], workload: Tracked) -> None:
    """Requeued: once per ``status.requeueState.requeueAt`` (an eviction with backoff), or when the
    ``Requeued`` condition turns True without any backoff recorded."""
    cond = condition(obj, "Requeued")
    requeue_at = text(as_dict(as_dict(obj.get("status")).get("requeueState")).get("requeueAt"))
    if requeue_at:
        key = f"Requeued@{requeue_at}"
        when = cond.get("lastTransitionTime") if cond else None
    elif cond and cond.get("status") == "True":
        key = f"RequeuedTrue@{cond.get('lastTransitionTime')}"
        when = cond.get("lastTransitionTime")
    else:
        return
    if key in workload.emitted or (not requeue_at and any(k.startswith("Requeued@") for k in workload.emitted)):
        workload.emitted.add(key)
        return
    workload.emitted.add(key)
    t, preexisting = norm.time_of(ctx, when, workload)
    at_ns = parse_time_ns(requeue_at)
    at = max(t, norm.seconds_since_start(at_ns)) if at_ns is not None else t
    norm.emit(ctx, t, preexisting, "Requeued", workload, data={"backoffSeconds": round(at - t, 6),
                                                               "requeueAt": round(at, 6)})


def _resource_groups(spec: dict[str, Any]) -> list[dict[str, Any]]:
    groups = []
    for group in (as_dict(g) for g in as_list(spec.get("resourceGroups"))):
        flavors = []
        for flavor in (as_dict(f) for f in as_list(group.get("flavors"))):
            resources = []
            for quota in (as_dict(x) for x in as_list(flavor.get("resources"))):
                entry: dict[str, Any] = {"name": quota.get("name")}
                for key in _QUOTA_FIELDS:
                    if quota.get(key) is not None:
                        entry[key] = canonical_quantity(quota[key]) or str(quota[key])
                resources.append(entry)
            flavors.append({"name": flavor.get("name"), "resources": resources})
        groups.append({"coveredResources": as_list(group.get("coveredResources")), "flavors": flavors})
    return groups


def translate_cluster_queue(norm: Normalizer, ctx: RecordContext, obj: dict[str, Any], deleted: bool) -> None:
    queue = norm.track("ClusterQueue", obj)
    if queue is None or deleted:
        return
    spec = as_dict(obj.get("spec"))
    data: dict[str, Any] = {}
    cohort = text(spec.get("cohortName")) or text(spec.get("cohort"))
    if cohort:
        data["cohort"] = cohort
    data["queueingStrategy"] = text(spec.get("queueingStrategy")) or "BestEffortFIFO"
    data["resourceGroups"] = _resource_groups(spec)
    if as_dict(spec.get("preemption")):
        data["preemption"] = spec["preemption"]
    checks: list[tuple[str, list[str]]] = [(str(c), []) for c in as_list(spec.get("admissionChecks")) if text(c)]
    for entry in (as_dict(c) for c in as_list(as_dict(spec.get("admissionChecksStrategy")).get("admissionChecks"))):
        if text(entry.get("name")):
            checks.append((str(entry["name"]), [str(f) for f in as_list(entry.get("onFlavors"))]))
    queue.extra["admissionChecks"] = checks
    _queue_configured(norm, ctx, obj, queue, data)


def translate_local_queue(norm: Normalizer, ctx: RecordContext, obj: dict[str, Any], deleted: bool) -> None:
    queue = norm.track("LocalQueue", obj)
    if queue is None or deleted:
        return
    _queue_configured(norm, ctx, obj, queue, {"clusterQueue": as_dict(obj.get("spec")).get("clusterQueue")})


def _queue_configured(norm: Normalizer, ctx: RecordContext, obj: dict[str, Any], queue: Tracked,
                      data: dict[str, Any]) -> None:
    key = "cfg:" + json.dumps(data, sort_keys=True)
    if key in queue.emitted:
        return
    first = not any(k.startswith("cfg:") for k in queue.emitted)
    queue.emitted.add(key)
    when = as_dict(obj.get("metadata")).get("creationTimestamp") if first else None
    t, preexisting = norm.time_of(ctx, when, queue)
    norm.emit(ctx, t, preexisting, "QueueConfigured", queue, data=data)


TRANSLATORS: dict[tuple[str, str], Translator] = {
    ("kueue.x-k8s.io", "workloads"): translate_workload,
    ("kueue.x-k8s.io", "clusterqueues"): translate_cluster_queue,
    ("kueue.x-k8s.io", "localqueues"): translate_local_queue,
}
