"""kube-scheduler's ``NodeUnschedulable`` plugin (``plugins/nodeunschedulable``).

A cordoned node (``spec.unschedulable: true``, what ``kubectl cordon`` and ``kubectl drain`` set) takes no
new pods unless they tolerate the ``node.kubernetes.io/unschedulable:NoSchedule`` taint; the reason is
``node(s) were unschedulable``. Pods already there stay. The verdict is per node, so while any node is
cordoned pod shapes are decided node by node (:meth:`NodeUnschedulable.node_dependent`); with none
cordoned the plugin says nothing and the per-pool fast paths stay on.
"""

from __future__ import annotations

from typing import Any

from sim.constraints import tolerates
from sim.framework import CycleState, register
from sim.pods import PodShape, SimPod

REASON = "node(s) were unschedulable"
UNSCHEDULABLE_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}


class NodeUnschedulable:
    name = "NodeUnschedulable"
    depends = frozenset({"node"})

    def __init__(self, context: Any) -> None:
        self.cluster = context.cluster

    def node_dependent(self, shape: PodShape) -> bool:
        return bool(self.cluster.cordoned)

    def filter(self, pod: SimPod, node: int, state: CycleState) -> str | None:
        if node not in self.cluster.cordoned:
            return None
        if any(tolerates(t, UNSCHEDULABLE_TAINT) for t in pod.shape.tolerations):
            return None
        return REASON


register("NodeUnschedulable")(NodeUnschedulable)
