"""Nodes (``core/v1``): NodeReady when the ``Ready`` condition turns True, NodeRemoved on delete.

A node's pool is read from the first well-known node-pool label of the cloud providers and
autoscalers (GKE, EKS, Karpenter, AKS, VKS), falling back to the instance type.
"""

from __future__ import annotations

from typing import Any

from validator.normalize.core import Normalizer, RecordContext, Translator
from validator.normalize.fields import as_dict, as_list, canonical_quantity, condition, text

#: Node labels naming the node's pool, most specific first.
POOL_LABELS: tuple[str, ...] = (
    "cloud.google.com/gke-nodepool",
    "eks.amazonaws.com/nodegroup",
    "karpenter.sh/nodepool",
    "kubernetes.azure.com/agentpool",
    "vks.vmware.com/nodepool",
    "node.kubernetes.io/instance-type",
)


def node_pool(labels: dict[str, Any]) -> str:
    """The node's pool from the first well-known pool label it carries, else ``"default"``."""
    for key in POOL_LABELS:
        value = text(labels.get(key))
        if value:
            return value
    return "default"


def translate_node(norm: Normalizer, ctx: RecordContext, obj: dict[str, Any], deleted: bool) -> None:
    node = norm.track("Node", obj)
    if node is None:
        return
    meta, spec, status = as_dict(obj.get("metadata")), as_dict(obj.get("spec")), as_dict(obj.get("status"))
    labels = dict(sorted(as_dict(meta.get("labels")).items()))
    node.pool = node_pool(labels)
    ready = condition(obj, "Ready")
    if ready and ready.get("status") == "True" and "ready" not in node.emitted and not deleted:
        node.emitted.add("ready")
        taints = [{k: taint[k] for k in ("key", "value", "effect") if k in taint}
                  for taint in (as_dict(x) for x in as_list(spec.get("taints")))]
        readable = ((name, canonical_quantity(value))
                    for name, value in sorted(as_dict(status.get("allocatable")).items()))
        allocatable = {name: qty for name, qty in readable if qty is not None}
        t, preexisting = norm.time_of(ctx, ready.get("lastTransitionTime"), node)
        norm.emit(ctx, t, preexisting, "NodeReady", node, data={
            "pool": node.pool, "labels": labels, "taints": taints, "allocatable": allocatable})
    if deleted:
        t, preexisting = norm.time_of(ctx, None, node)
        norm.emit(ctx, t, preexisting, "NodeRemoved", node, data={"pool": node.pool})
        norm.forget(node)


TRANSLATORS: dict[tuple[str, str], Translator] = {("", "nodes"): translate_node}
