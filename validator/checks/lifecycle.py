"""Pod lifecycle: the phases a Pod object moves through, checked in order.

A Pod is created (``PodCreated``), bound to a Ready node once (``Scheduled``, i.e. ``spec.nodeName``
set — the API server refuses a second binding), runs, and ends once: it succeeds or fails, is
preempted or deleted. A pod re-created under the same name after it left (a Job replacing an evicted
pod) is a new *life* and starts again at ``PodCreated``.

Invariant ``lifecycle``:

* no ``Scheduled`` before ``PodCreated``; no second ``Scheduled`` in one life;
* no ``Scheduled`` to a node that is not Ready at that time (never ``NodeReady``, or removed);
* ``PodRunning``/``PodSucceeded``/``PodFailed`` only after ``Scheduled``;
  ``PodSucceeded``/``PodFailed`` at most once per life;
* nothing after a terminal event (``PodSucceeded``, ``PodFailed``, ``Preempted``) except
  ``PodDeleted``, and nothing after ``PodDeleted`` except a new ``PodCreated``.
"""

from __future__ import annotations

from collections.abc import Sequence

from models.timeline import Event
from validator.checks.common import Finding, PassResult, fmt_t, pod_ref, prepare

# pod states, per life
_NONE, _CREATED, _BOUND, _RUNNING, _DONE, _PREEMPTED, _GONE = range(7)
_POD_TYPES = frozenset({"PodCreated", "Scheduled", "FailedScheduling", "PodRunning", "PodSucceeded",
                        "PodFailed", "PodDeleted", "Preempted"})
_ENDED = {_DONE: "finished", _PREEMPTED: "was preempted", _GONE: "was deleted"}


def lifecycle_pass(events: Sequence[Event]) -> PassResult:
    """One pass over the pod and node events; one finding per out-of-order event."""
    out = PassResult()
    state: dict[str, int] = {}
    node_of: dict[str, str] = {}
    ended_by: dict[str, tuple[str, float]] = {}
    ready: set[str] = set()
    removed_at: dict[str, float] = {}

    def bad(ev: Event, msg: str, *extra: str) -> None:
        out.findings.append(Finding("lifecycle", (pod_ref(ev.key), *extra), ev.t,
                                    f"pod {ev.key}: {msg} (t={fmt_t(ev.t)})"))

    def after_end(ev: Event, st: int) -> None:
        what, when = ended_by.get(ev.key, ("?", ev.t))
        bad(ev, f"{ev.type} after the pod {_ENDED[st]} ({what} at t={fmt_t(when)})")

    evs = prepare(events)
    for ev, k in zip(evs, evs.keys, strict=True):
        typ = ev.type
        if typ not in _POD_TYPES:
            if typ == "NodeReady":
                ready.add(ev.name)
                removed_at.pop(ev.name, None)
            elif typ == "NodeRemoved":
                ready.discard(ev.name)
                removed_at[ev.name] = ev.t
            continue
        out.applicable.add("lifecycle")
        key = k
        st = state.get(key, _NONE)
        if typ == "Scheduled":
            node = ev.node or ""
            if st == _NONE:
                bad(ev, "Scheduled before PodCreated")
            elif st in (_BOUND, _RUNNING) and key in node_of:
                bad(ev, f"bound twice: Scheduled to {node or '?'} while already bound to "
                        f"{node_of.get(key, '?')}", f"Node {node_of.get(key, '?')}")
            elif st >= _DONE:
                after_end(ev, st)
            if node not in ready:
                why = (f"removed at t={fmt_t(removed_at[node])}" if node in removed_at
                       else "never reported NodeReady")
                bad(ev, f"Scheduled to node {node or '(none)'} which is not Ready ({why})", f"Node {node}")
            state[key] = _BOUND
            node_of[key] = node
        elif typ == "PodCreated":
            if st in (_CREATED, _BOUND, _RUNNING):
                bad(ev, "PodCreated again while its previous life is still going (no PodDeleted, "
                        "PodSucceeded, PodFailed or Preempted in between)")
            elif st == _DONE:
                after_end(ev, st)
            state[key] = _CREATED
            node_of.pop(key, None)
            ended_by.pop(key, None)
        elif typ == "PodRunning":
            if st in (_NONE, _CREATED):
                bad(ev, "PodRunning before Scheduled")
            elif st >= _DONE:
                after_end(ev, st)
            state[key] = _RUNNING
        elif typ in ("PodSucceeded", "PodFailed"):
            if st in (_NONE, _CREATED):
                bad(ev, f"{typ} before Scheduled")
            elif st == _DONE:
                what, when = ended_by.get(key, ("?", ev.t))
                bad(ev, f"{typ} after {what} at t={fmt_t(when)}: a pod ends at most once per life")
            elif st > _DONE:
                after_end(ev, st)
            if st != _DONE:
                ended_by[key] = (typ, ev.t)
            state[key] = _DONE
        elif typ == "PodDeleted":
            if st == _NONE:
                bad(ev, "PodDeleted before PodCreated")
            elif st == _GONE:
                after_end(ev, st)
            state[key] = _GONE
            ended_by[key] = (typ, ev.t)
        elif typ == "Preempted":
            if st == _NONE:
                bad(ev, "Preempted before PodCreated")
            elif st >= _DONE:
                after_end(ev, st)
            state[key] = _PREEMPTED
            ended_by[key] = (typ, ev.t)
        elif typ == "FailedScheduling" and st >= _DONE:
            after_end(ev, st)
    return out
