"""A toy Filter plugin: only nodes whose name ends in an odd digit may run pods labelled ``toy: odd``.

Its verdict depends on the node's identity, so it declares ``depends = {"node"}`` and the framework
decides it per node (and still caches it per pod shape)."""

from __future__ import annotations

from typing import Any

from sim.framework import CycleState, register
from sim.pods import SimPod

REASON = "node(s) had an even name"


class OddNodesOnly:
    name = "OddNodesOnly"
    depends = frozenset({"node"})

    def __init__(self, context: Any) -> None:
        self.cluster = context.cluster

    def filter(self, pod: SimPod, node: int, state: CycleState) -> str | None:
        return None if int(self.cluster.nodes[node].name[-1]) % 2 else REASON


register("OddNodesOnly")(OddNodesOnly)
