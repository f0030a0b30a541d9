"""kube-scheduler DefaultPreemption: only lower-priority pods are ever preempted.

Invariant ``P1``: every ``Preempted`` pod has a lower priority (from its ``PodCreated``) than the pod
that preempted it (``data.preemptor`` as ``namespace/name``, or the ``Preempted by <ns>/<name> on node …``
message), and was bound (``Scheduled``) when it was preempted. A preemptor whose priority the timeline
does not show (it was created before a recording started) cannot be judged and is skipped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from models.timeline import Event
from validator.checks.common import Finding, PassResult, fmt_t, pod_ref, prepare

_BY = re.compile(r"Preempted by (?:pod )?(\S+/\S+) on node")


def preemption_pass(events: Sequence[Event]) -> PassResult:
    out = PassResult()
    priority: dict[str, int] = {}
    bound: set[str] = set()
    evs = prepare(events)
    for ev, key in zip(evs, evs.keys, strict=True):
        typ = ev.type
        if typ == "PodCreated":
            p = ev.data.get("priority", 0)
            priority[key] = p if isinstance(p, int) else 0
            bound.discard(key)
        elif typ == "Scheduled":
            bound.add(key)
        elif typ in ("PodSucceeded", "PodFailed", "PodDeleted"):
            bound.discard(key)
        elif typ == "Preempted" and ev.kind == "Pod":
            out.applicable.add("P1")
            pre = ev.data.get("preemptor")
            if not isinstance(pre, str):
                m = _BY.search(ev.reason or "")
                pre = m.group(1) if m else None
            if key not in bound:
                out.findings.append(Finding("P1", (pod_ref(key),), ev.t,
                                            f"pod {key} was preempted at t={fmt_t(ev.t)} while not bound"))
            bound.discard(key)
            if pre is None or pre not in priority or key not in priority:
                continue
            if priority[key] >= priority[pre]:
                out.findings.append(Finding(
                    "P1", (pod_ref(key), pod_ref(pre)), ev.t,
                    f"pod {key} (priority {priority[key]}) was preempted at t={fmt_t(ev.t)} by {pre} "
                    f"(priority {priority[pre]}); DefaultPreemption only evicts lower-priority pods"))
    return out
