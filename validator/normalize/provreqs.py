"""ProvisioningRequests (``autoscaling.x-k8s.io/v1``): Kueue creates them, the cluster autoscaler answers.

A ProvisioningRequest becomes ``ProvisioningRequestCreated`` when first seen (at its
``creationTimestamp``; grouped under the Kueue Workload that owns it), then one event per condition
the autoscaler sets (``status.conditions[]``, at its ``lastTransitionTime``):

* ``Provisioned=True`` → ``Provisioned``; ``Provisioned=False`` → ``NotProvisioned`` (each time its
  transition time changes);
* ``Failed=True`` → ``ProvisioningFailed``;
* ``BookingExpired=True`` → ``BookingExpired``, with ``missing`` the request's pods not bound then (the
  pods of its workload the timeline holds as bound, subtracted from the pod sets' counts).

``Accepted`` and ``CapacityRevoked`` have no timeline event. The payload is the simulator's
(``docs/timeline.md``) less what a recording cannot know: ``Provisioned.nodes`` (the autoscaler does not
name the nodes it booked) and ``NotProvisioned.retryAt`` (nor when it tries again). Kueue names a request
``<workload>-<check>-<attempt>``; the check and attempt are read back from the name (the check as one of
the workload's ``status.admissionChecks`` where it can be), its pod sets from the ``podSets[]`` counts
and the owning workload's pod templates (``podTemplateRef`` ``ppt-<request>-<podSet>``).
"""

from __future__ import annotations

import re
from typing import Any

from validator.normalize.core import Normalizer, RecordContext, Tracked, Translator
from validator.normalize.fields import as_dict, as_list, condition, text

_ATTEMPT = re.compile(r"^(.*)-(\d+)$")
#: the prefix of the PodTemplates Kueue writes for a request's pod sets: ``ppt-<request>-<podSet>``
_TEMPLATE_PREFIX = "ppt-"


def _owner_workload(meta: dict[str, Any]) -> str | None:
    for ref in (as_dict(r) for r in as_list(meta.get("ownerReferences"))):
        if ref.get("kind") == "Workload" and text(ref.get("name")):
            return str(ref["name"])
    return None


def _check_and_attempt(name: str, workload: str | None, checks: list[str]) -> tuple[str, int]:
    """``(admission check, attempt)`` from ``<workload>-<check>-<attempt>``."""
    match = _ATTEMPT.match(name)
    if match is None:
        return "", 1
    head, attempt = match.group(1), int(match.group(2))
    for check in sorted(checks, key=len, reverse=True):
        if head.endswith(f"-{check}") or head == check:
            return check, attempt
    if workload and head.startswith(f"{workload}-"):
        return head[len(workload) + 1:], attempt
    return "", attempt


def _pod_sets(spec: dict[str, Any], name: str, workload: Tracked | None) -> list[dict[str, Any]]:
    templates: dict[str, dict[str, Any]] = (workload.extra.get("podSets") or {}) if workload is not None else {}
    out = []
    for i, pod_set in enumerate(as_dict(p) for p in as_list(spec.get("podSets"))):
        ref = text(as_dict(pod_set.get("podTemplateRef")).get("name")) or ""
        prefix = f"{_TEMPLATE_PREFIX}{name}-"
        set_name = ref[len(prefix):] if ref.startswith(prefix) else ""
        if set_name not in templates and len(templates) == 1:
            set_name = next(iter(templates))
        template = templates.get(set_name) or {}
        entry: dict[str, Any] = {"name": set_name or template.get("name") or f"podset-{i}",
                                 "count": pod_set["count"] if isinstance(pod_set.get("count"), int) else 1,
                                 "requests": dict(template.get("requests") or {})}
        for key in ("nodeSelector", "tolerations", "affinity"):
            if template.get(key):
                entry[key] = template[key]
        out.append(entry)
    return out


def _bound_pods(norm: Normalizer, group: str | None) -> int:
    if group is None:
        return 0
    return sum(1 for o in norm.objects.values()
               if o.kind == "Pod" and o.group == group and "Scheduled" in o.emitted and o.node)


def translate_provisioning_request(norm: Normalizer, ctx: RecordContext, obj: dict[str, Any],
                                   deleted: bool) -> None:
    request = norm.track("ProvisioningRequest", obj)
    if request is None:
        return
    meta, spec = as_dict(obj.get("metadata")), as_dict(obj.get("spec"))
    owner = _owner_workload(meta)
    workload = norm.objects.get(("Workload", request.namespace, owner)) if owner else None
    if owner:
        request.group = f"{request.namespace}/{owner}" if request.namespace else owner
    klass = text(spec.get("provisioningClassName")) or ""
    if "created" not in request.emitted:
        request.emitted.add("created")
        checks = list((workload.extra.get("checkStates") or {}) if workload is not None else [])
        check, attempt = _check_and_attempt(request.name, owner, checks)
        if workload is not None and check:
            workload.extra.setdefault("provisioningRequests", {})[check] = request.name
        data: dict[str, Any] = {"workload": owner or "", "admissionCheck": check, "provisioningClassName": klass,
                                "attempt": attempt}
        parameters = {str(k): str(v) for k, v in sorted(as_dict(spec.get("parameters")).items())}
        if parameters:
            data["parameters"] = parameters
        pod_sets = _pod_sets(spec, request.name, workload)
        data["podSets"] = pod_sets
        request.extra["pods"] = sum(int(p["count"]) for p in pod_sets)
        t, preexisting = norm.time_of(ctx, meta.get("creationTimestamp"), request)
        norm.emit(ctx, t, preexisting, "ProvisioningRequestCreated", request,
                  reason=f'Created ProvisioningRequest: "{request.name}"', data=data)
    for type_, status, event in (("Provisioned", "True", "Provisioned"), ("Provisioned", "False", "NotProvisioned"),
                                 ("Failed", "True", "ProvisioningFailed"),
                                 ("BookingExpired", "True", "BookingExpired")):
        cond = condition(obj, type_)
        if not cond or cond.get("status") != status:
            continue
        key = f"{type_}={status}@{cond.get('lastTransitionTime')}"
        if key in request.emitted:
            continue
        request.emitted.add(key)
        t, preexisting = norm.time_of(ctx, cond.get("lastTransitionTime"), request)
        payload: dict[str, Any] = {"provisioningClassName": klass, "message": text(cond.get("message")) or ""}
        if event == "BookingExpired":
            payload["missing"] = max(0, int(request.extra.get("pods", 0)) - _bound_pods(norm, request.group))
        norm.emit(ctx, t, preexisting, event, request, reason=text(cond.get("reason")), data=payload)
    if deleted:
        norm.forget(request)


TRANSLATORS: dict[tuple[str, str], Translator] = {
    ("autoscaling.x-k8s.io", "provisioningrequests"): translate_provisioning_request,
}
