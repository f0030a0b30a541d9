"""Placement constraints at bind: kube-scheduler's ``TaintToleration`` and ``NodeAffinity`` filters.

kube-scheduler binds a pod only to a node whose ``NoSchedule`` and ``NoExecute`` taints the pod
tolerates (``PreferNoSchedule`` only lowers a score) and whose labels satisfy the pod's
``nodeSelector`` and its required node affinity (``nodeSelectorTerms`` are ORed, the expressions of a
term ANDed). A toleration matches a taint as ``v1.Toleration.ToleratesTaint`` says: same effect
unless the toleration leaves it empty, same key unless the toleration's key is empty (with
``Exists``), and same value for ``Equal``.

Invariant ``placement``: at every ``Scheduled`` event the pod's constraints (its ``PodCreated`` data:
``nodeSelector``, ``tolerations``, ``affinity``) hold on the node as its latest ``NodeReady`` described
it (``labels``, ``taints``). Pods whose creation or node the timeline does not show are skipped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from models.timeline import Event
from validator.checks.common import Finding, PassResult, fmt_t, pod_ref, prepare

_HARD_EFFECTS = ("NoSchedule", "NoExecute")


def tolerates(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    """Whether one toleration matches one taint (``k8s.io/api/core/v1`` ``ToleratesTaint``)."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    op = toleration.get("operator") or "Equal"
    if op == "Exists":
        return True
    return op == "Equal" and (toleration.get("value") or "") == (taint.get("value") or "")


def untolerated(tolerations: Sequence[Mapping[str, Any]], taints: Sequence[Mapping[str, Any]]) -> list[str]:
    """The node's NoSchedule/NoExecute taints that no toleration matches, as ``key=value:Effect``."""
    out = []
    for taint in taints:
        if taint.get("effect") in _HARD_EFFECTS and not any(tolerates(t, taint) for t in tolerations):
            value = taint.get("value")
            out.append(f"{taint.get('key')}{'=' + str(value) if value else ''}:{taint.get('effect')}")
    return out


def _requirement(req: Mapping[str, Any], labels: Mapping[str, str], node: str, field: bool) -> bool:
    key = str(req.get("key", ""))
    op = req.get("operator")
    values = [str(v) for v in req.get("values") or []]
    have = ({"metadata.name": node} if field else labels).get(key)
    if op == "In":
        return have is not None and have in values
    if op == "NotIn":
        return have is None or have not in values
    if op == "Exists":
        return have is not None
    if op == "DoesNotExist":
        return have is None
    if op in ("Gt", "Lt") and have is not None and len(values) == 1:
        try:
            a, b = int(have), int(values[0])
        except ValueError:
            return False
        return a > b if op == "Gt" else a < b
    return False


def selector_problems(data: Mapping[str, Any], labels: Mapping[str, str], node: str) -> list[str]:
    """Why the node's labels fail the pod's nodeSelector and required node affinity (empty: they hold)."""
    out = [f"nodeSelector {k}={v} (node has {labels.get(k, 'no such label')})"
           for k, v in sorted((data.get("nodeSelector") or {}).items()) if labels.get(k) != str(v)]
    affinity = ((data.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution") or {}
    terms = affinity.get("nodeSelectorTerms") or []
    if terms and not any(
            all(_requirement(r, labels, node, False) for r in t.get("matchExpressions") or [])
            and all(_requirement(r, labels, node, True) for r in t.get("matchFields") or [])
            for t in terms):
        out.append(f"required node affinity (none of its {len(terms)} nodeSelectorTerms match)")
    return out


def placement_pass(events: Sequence[Event]) -> PassResult:
    """One pass: each bind against the pod's constraints and the node's latest labels and taints."""
    out = PassResult()
    nodes: dict[str, tuple[dict[str, str], list[dict[str, Any]]]] = {}
    pods: dict[str, dict[str, Any]] = {}
    evs = prepare(events)
    for ev, k in zip(evs, evs.keys, strict=True):
        typ = ev.type
        if typ == "NodeReady":
            d = ev.data
            labels = {str(a): str(b) for a, b in (d.get("labels") or {}).items()}
            nodes[ev.name] = (labels, [t for t in d.get("taints") or [] if isinstance(t, dict)])
        elif typ == "PodCreated":
            pods[k] = ev.data
        elif typ == "Scheduled":
            data = pods.get(k)
            node = ev.node or ""
            if data is None or node not in nodes:
                continue
            out.applicable.add("placement")
            labels, taints = nodes[node]
            tolerations = [t for t in data.get("tolerations") or [] if isinstance(t, dict)]
            problems = [f"does not tolerate taint {t}" for t in untolerated(tolerations, taints)]
            problems += [f"does not match its {p}" for p in selector_problems(data, labels, node)]
            if problems:
                out.findings.append(Finding(
                    "placement", (pod_ref(k), f"Node {node}"), ev.t,
                    f"pod {k} was bound at t={fmt_t(ev.t)} to node {node} but " + "; ".join(problems)))
        elif typ in ("PodDeleted", "PodSucceeded", "PodFailed"):
            pods.pop(k, None)
    return out
