"""Node capacity: the scheduler's ``NodeResourcesFit`` filter, checked after the fact.

kube-scheduler binds a pod to a node only if, for every resource, the requests of the pods already
on the node plus the new pod fit the node's allocatable. A pod holds its requests from ``Scheduled``
until it finishes (``PodSucceeded``/``PodFailed``), is deleted or preempted, or its node is removed.

Invariants:

* ``capacity`` — on every node, for every resource, Σ requests of the bound pods ≤ allocatable.
* ``G4`` — the same rule, reported again for binds of gang members (``group`` set), because gang
  pods waiting at Permit already hold their reservation (k8s-semantics §2e G4).
"""

from __future__ import annotations

from collections.abc import Sequence

from models.timeline import Event
from validator.checks.common import Finding, PassResult, Shape, fmt_t, milli, pod_ref, prepare, qty, shape

_RELEASE = frozenset({"PodSucceeded", "PodFailed", "PodDeleted", "Preempted"})


_EXTENDED_CLAIM = "-extended-resources"


def capacity_pass(events: Sequence[Event]) -> PassResult:
    """One pass: track per-node usage and report every bind that overruns a resource."""
    out = PassResult()
    alloc: dict[str, dict[str, int]] = {}
    used: dict[str, dict[str, int]] = {}
    on_node: dict[str, set[str]] = {}
    req: dict[str, Shape] = {}
    group_of: dict[str, str] = {}
    bound: dict[str, str] = {}          # pod key -> node, while the pod holds its requests
    #: pods whose extended resources a DeviceClass serves (the scheduler's ``<pod>-extended-resources``
    #: claim): on a node that does not advertise such a resource, DRA devices serve it, not allocatable
    dra_served: set[str] = set()
    counted: dict[str, Shape] = {}      # pod key -> the requests its bind counted on its node
    evs = prepare(events)
    for ev, k in zip(evs, evs.keys, strict=True):
        typ = ev.type
        if typ == "Scheduled":
            out.applicable.add("capacity")
            key = k
            node = ev.node
            if node is None:
                continue
            old = bound.pop(key, None)
            if old is not None:
                _release(key, old, counted, used, on_node)
            bound[key] = node
            on_node.setdefault(node, set()).add(key)
            g = ev.group or group_of.get(key)
            if g:
                out.applicable.add("G4")
            a = alloc.get(node)   # None: never Ready; the lifecycle check reports that bind
            u = used.setdefault(node, {})
            over: list[str] = []
            shape_ = req.get(key, ())
            if key in dra_served and a is not None:
                shape_ = tuple((res, m) for res, m in shape_ if res in a or "/" not in res)
            counted[key] = shape_
            for res, m in shape_:
                v = u.get(res, 0) + m
                u[res] = v
                if a is not None and v > a.get(res, 0):
                    over.append(f"{res} requested {qty(res, v)} > allocatable {qty(res, a.get(res, 0))}")
            if over:
                others = sorted(on_node[node] - {key})
                objs = (pod_ref(key), f"Node {node}")
                msg = (f"binding pod {key} to node {node} at t={fmt_t(ev.t)} overcommits it: "
                       f"{', '.join(over)} ({len(others)} other pod(s) bound: {_few(others)})")
                out.findings.append(Finding("capacity", objs, ev.t, msg))
                if g:
                    out.findings.append(Finding("G4", (f"Workload {g}", *objs), ev.t,
                                                f"gang {g}: {msg}"))
        elif typ in _RELEASE:
            key = k
            node = bound.pop(key, None)
            if node is not None:
                _release(key, node, counted, used, on_node)
        elif typ == "PodCreated":
            key = k
            s, bad = shape(ev.data.get("requests"))
            req[key] = s
            if ev.group:
                group_of[key] = ev.group
            if bad:
                out.findings.append(Finding("capacity", (pod_ref(key),), ev.t,
                                            f"pod {key} has unparsable requests: {', '.join(bad)}"))
        elif typ == "ClaimAllocated":
            if k.endswith(_EXTENDED_CLAIM):
                dra_served.add(k[: -len(_EXTENDED_CLAIM)])
        elif typ == "NodeReady":
            a2: dict[str, int] = {}
            bad2: list[str] = []
            for res, q in (ev.data.get("allocatable") or {}).items():
                try:
                    a2[res] = milli(q)
                except (ValueError, TypeError):
                    bad2.append(f"{res}={q!r}")
            alloc[ev.name] = a2
            if bad2:
                out.findings.append(Finding("capacity", (f"Node {ev.name}",), ev.t,
                                            f"node {ev.name} has unparsable allocatable: {', '.join(bad2)}"))
        elif typ == "NodeRemoved":
            alloc.pop(ev.name, None)
            for key in sorted(on_node.pop(ev.name, set())):
                bound.pop(key, None)
            used.pop(ev.name, None)
    return out


def _release(key: str, node: str, req: dict[str, Shape], used: dict[str, dict[str, int]],
             on_node: dict[str, set[str]]) -> None:
    pods = on_node.get(node)
    if pods is not None:
        pods.discard(key)
    u = used.get(node)
    if u is not None:
        for res, m in req.get(key, ()):
            u[res] = u.get(res, 0) - m


def _few(keys: list[str], n: int = 5) -> str:
    if not keys:
        return "none"
    head = ", ".join(keys[:n])
    return head if len(keys) <= n else f"{head}, … {len(keys) - n} more"
