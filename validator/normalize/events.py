"""Kubernetes Events (``events.k8s.io/v1`` and core ``v1``) and the HPA sizes their rescales need.

An Event whose reason is itself a timeline type (:data:`EVENT_REASONS`) is copied onto the object it
regards, once per occurrence (``series.count``/``count``), at its own time; Events from before the
recording are history the timeline does not hold and are counted, not emitted. Details are parsed
from the message where the timeline wants them: the preemptor and node of ``Preempted``, the pool
and sizes of ``TriggeredScaleUp``, the new size and metric of an HPA's ``SuccessfulRescale`` (whose
``from`` is the HPA's size as last watched), the ReplicaSet and sizes of the Deployment controller's
``ScalingReplicaSet``. An Event regarding a recorded object joins that object's
group: the autoscaler's ``TriggeredScaleUp`` on a ProvisioningRequest (:mod:`.provreqs`) lands in the
group of the Kueue Workload that owns the request, as the simulator writes it. Kueue's own
``AdmissionCheckUpdated`` and ``ProvisioningRequestCreated`` Events are not copied: the Workload's
``status.admissionChecks`` and the ProvisioningRequest objects give those events (:mod:`.kueue`,
:mod:`.provreqs`). The autoscaler simulates a request's pods as in-memory Pods named
``<request>-<podSet index>-<pod index>`` that never exist in the API; an Event regarding such a pod
(one the recording never saw, named after a recorded request) is about the request: a
``TriggeredScaleUp`` becomes one event on the request per scale-up (its copies for the other pods, with
the same message within a second, are dropped), and other reasons are dropped.
"""

from __future__ import annotations

import re
from typing import Any

from validator.normalize.core import Normalizer, RecordContext, Tracked, Translator
from validator.normalize.fields import as_dict, text

#: Kubernetes Event reasons copied onto the timeline as events of the same type.
EVENT_REASONS: frozenset[str] = frozenset({
    "FailedScheduling", "TriggeredScaleUp", "NotTriggerScaleUp", "ScaleDown", "SuccessfulRescale",
    "Preempted", "ScalingReplicaSet",
})

_PREEMPTED_BY = re.compile(r"by (?:pod )?(\S+) on node (\S+)")
_SCALE_UP = re.compile(r"\{?([^\s{\[]+) (\d+)->(\d+)")
_RESCALE = re.compile(r"New size: (\d+); reason: (.*)$")
#: the Deployment controller's message: ``from M to N`` today, ``to N from M`` and ``to N`` in older releases
_SCALING_RS = re.compile(r"Scaled (?:up|down) replica set (\S+) (?:from (\d+) to (\d+)|to (\d+)(?: from (\d+))?)$")
_PROVREQ_POD = re.compile(r"^(.+)-\d+-\d+$")
#: Event timestamps, newest meaning first.
_EVENT_TIMES = ("eventTime", "deprecatedLastTimestamp", "lastTimestamp", "deprecatedFirstTimestamp",
                "firstTimestamp")


def translate_hpa(norm: Normalizer, ctx: RecordContext, obj: dict[str, Any], deleted: bool) -> None:
    """HorizontalPodAutoscalers: only their current size, the ``from`` of the next SuccessfulRescale."""
    meta = as_dict(obj.get("metadata"))
    key = f"{meta.get('namespace')}/{meta.get('name')}"
    current = as_dict(obj.get("status")).get("currentReplicas")
    if deleted:
        norm.hpa_replicas.pop(key, None)
    elif isinstance(current, int):
        norm.hpa_replicas[key] = current


def _details(norm: Normalizer, reason: str, note: str | None, count: Any, namespace: str | None, name: str,
             target: Tracked | None) -> tuple[dict[str, Any], str | None]:
    """The payload and node of a copied Event, parsed from its message."""
    data: dict[str, Any] = {}
    node: str | None = None
    if reason == "FailedScheduling" and isinstance(count, int) and count > 1:
        data["attempts"] = count
    elif reason == "Preempted" and note:
        match = _PREEMPTED_BY.search(note)
        if match:
            data["preemptor"] = match.group(1)
            node = match.group(2)
        node = node or (target.node if target else None)
    elif reason == "TriggeredScaleUp" and note:
        match = _SCALE_UP.search(note)
        if match:
            data.update({"pool": match.group(1), "from": int(match.group(2)), "to": int(match.group(3))})
    elif reason == "ScaleDown" and target is not None and target.pool:
        data["pool"] = target.pool
    elif reason == "ScalingReplicaSet" and note:
        match = _SCALING_RS.search(note)
        if match:
            rs, m1, n1, n2, m2 = match.groups()
            old = m1 if m1 is not None else m2
            data.update({"from": int(old)} if old is not None else {})
            data.update({"to": int(n1 if n1 is not None else n2), "replicaSet": rs})
    elif reason == "SuccessfulRescale" and note:
        match = _RESCALE.search(note)
        hpa = f"{namespace}/{name}"
        if match:
            size = int(match.group(1))
            if hpa in norm.hpa_replicas:
                data["from"] = norm.hpa_replicas[hpa]
            data["to"] = size
            data["metric"] = match.group(2)
            norm.hpa_replicas[hpa] = size
    return data, node


def translate_event(norm: Normalizer, ctx: RecordContext, obj: dict[str, Any], deleted: bool) -> None:
    reason = obj.get("reason")
    if deleted or not isinstance(reason, str) or reason not in EVENT_REASONS:
        return
    event = norm.track("Event", obj)
    if event is None:
        return
    regarding = as_dict(obj.get("regarding")) or as_dict(obj.get("involvedObject"))
    kind, name = text(regarding.get("kind")), text(regarding.get("name"))
    if kind is None or name is None:
        return
    namespace = text(regarding.get("namespace"))
    series = as_dict(obj.get("series"))
    count = series.get("count") or obj.get("deprecatedCount") or obj.get("count") or 1
    key = f"n={count}"
    if key in event.emitted:
        return
    event.emitted.add(key)
    when = series.get("lastObservedTime")
    for field_name in _EVENT_TIMES:
        when = when or obj.get(field_name)
    t, preexisting = norm.time_of(ctx, when, None)
    if preexisting:
        norm.events_before_start += 1
        return
    target = norm.objects.get((kind, namespace, name))
    note = text(obj.get("note")) or text(obj.get("message"))
    request = _provreq_of_pod(norm, kind, namespace, name) if target is None else None
    if request is not None:
        last = request.extra.get("lastScaleUp")
        if reason != "TriggeredScaleUp" or (last is not None and last[0] == note and abs(t - last[1]) <= 1.0):
            return
        request.extra["lastScaleUp"] = (note, t)
        target = request
    subject = target or Tracked(kind, name, namespace, text(regarding.get("uid")))
    if target is not None:
        t = max(t, target.last_t)
    data, node = _details(norm, reason, note, count, namespace, name, target)
    norm.emit(ctx, t, False, reason, subject, node=node, reason=note, data=data)


def _provreq_of_pod(norm: Normalizer, kind: str, namespace: str | None, name: str) -> Tracked | None:
    """The recorded ProvisioningRequest an unseen pod is one of the autoscaler's in-memory pods of."""
    match = _PROVREQ_POD.match(name) if kind == "Pod" else None
    return norm.objects.get(("ProvisioningRequest", namespace, match.group(1))) if match else None


TRANSLATORS: dict[tuple[str, str], Translator] = {
    ("events.k8s.io", "events"): translate_event,
    ("", "events"): translate_event,
    ("autoscaling", "horizontalpodautoscalers"): translate_hpa,
}
