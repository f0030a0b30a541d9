"""Node-level scheduling constraints: the TaintToleration and NodeAffinity filter plugins.

Mirrors kube-scheduler's ``tainttoleration`` and ``nodeaffinity`` plugins and the helpers in
``k8s.io/component-helpers/scheduling/corev1``: a pod fits a node when it tolerates every
``NoSchedule``/``NoExecute`` taint, its ``nodeSelector`` labels all match, and (if set) one of the
required node-affinity terms matches. Each failing check returns kube-scheduler's reason text so
``FailedScheduling`` messages read like the real ones.

Everything here is pure and works on plain dicts/lists (already validated at the edge).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

UNTOLERATED = "node(s) had untolerated taint {{{key}: {value}}}"
AFFINITY = "node(s) didn't match Pod's node affinity/selector"
HOSTNAME_LABEL = "kubernetes.io/hostname"


def tolerates(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    """``Toleration.ToleratesTaint``: effect, key and (for Equal) value must match."""
    eff = toleration.get("effect")
    if eff and eff != taint["effect"]:
        return False
    key = toleration.get("key")
    if key and key != taint["key"]:
        return False
    op = toleration.get("operator") or "Equal"
    if op == "Exists":
        return True
    return (toleration.get("value") or "") == (taint.get("value") or "")


def untolerated_taint(tolerations: Sequence[Mapping[str, Any]],
                      taints: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The first ``NoSchedule``/``NoExecute`` taint no toleration covers (``PreferNoSchedule`` is a
    scoring matter, not a filter)."""
    for taint in taints:
        if taint["effect"] == "PreferNoSchedule":
            continue
        if not any(tolerates(t, taint) for t in tolerations):
            return taint
    return None


def requirement_matches(req: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A ``NodeSelectorRequirement`` (In, NotIn, Exists, DoesNotExist, Gt, Lt) against node labels."""
    key, op = req.get("key", ""), req.get("operator", "")
    values = [str(v) for v in req.get("values") or []]
    present = key in labels
    if op == "In":
        return present and labels[key] in values
    if op == "NotIn":
        return not present or labels[key] not in values
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    if op in ("Gt", "Lt"):
        if not present or not values:
            return False
        try:
            have, want = int(labels[key]), int(values[0])
        except ValueError:
            return False
        return have > want if op == "Gt" else have < want
    return False


def _field_matches(req: Mapping[str, Any], node_name: str) -> bool:
    if req["key"] != "metadata.name":
        return False
    values = req.get("values") or []
    if req["operator"] == "In":
        return node_name in values
    if req["operator"] == "NotIn":
        return node_name not in values
    return False


def term_matches(term: Mapping[str, Any], labels: Mapping[str, str], node_name: str) -> bool:
    """A ``NodeSelectorTerm``: all its requirements hold; an empty term matches nothing."""
    exprs = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not exprs and not fields:
        return False
    return all(requirement_matches(r, labels) for r in exprs) and \
        all(_field_matches(r, node_name) for r in fields)


def affinity_matches(node_selector: Mapping[str, str], affinity: Mapping[str, Any] | None,
                     labels: Mapping[str, str], node_name: str) -> bool:
    for k, v in node_selector.items():
        if labels.get(k) != v:
            return False
    if not affinity:
        return True
    required = (affinity.get("nodeAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution")
    if not required:
        return True
    return any(term_matches(t, labels, node_name) for t in required.get("nodeSelectorTerms") or [])


def node_reason(tolerations: Sequence[Mapping[str, Any]], node_selector: Mapping[str, str],
                affinity: Mapping[str, Any] | None, labels: Mapping[str, str],
                taints: Sequence[Mapping[str, Any]], node_name: str) -> str | None:
    """Why a node is filtered out before resources are looked at, or ``None`` if it passes.

    Order follows the default filter plugin order: TaintToleration, then NodeAffinity.
    """
    taint = untolerated_taint(tolerations, taints)
    if taint is not None:
        return UNTOLERATED.format(key=taint["key"], value=taint.get("value") or "")
    if not affinity_matches(node_selector, affinity, labels, node_name):
        return AFFINITY
    return None


def depends_on_node_identity(node_selector: Mapping[str, str], affinity: Mapping[str, Any] | None) -> bool:
    """True when a constraint names individual nodes (hostname label or ``matchFields``), so it cannot
    be decided once per node pool."""
    if HOSTNAME_LABEL in node_selector:
        return True
    if not affinity:
        return False
    required = (affinity.get("nodeAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution")
    for term in (required or {}).get("nodeSelectorTerms") or []:
        if term.get("matchFields"):
            return True
        if any(r["key"] == HOSTNAME_LABEL for r in term.get("matchExpressions") or []):
            return True
    return False
