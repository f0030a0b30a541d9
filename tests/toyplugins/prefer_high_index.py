"""A toy Score plugin: prefer the node with the highest index (the opposite of the default tie-break)."""

from __future__ import annotations

from typing import Any

from sim.framework import CycleState, Nodes, Scores, default_normalize, register
from sim.pods import SimPod


class PreferHighIndex:
    name = "PreferHighIndex"
    depends = frozenset({"node"})
    weight = 1

    def __init__(self, context: Any) -> None:
        self.cluster = context.cluster

    def score(self, pod: SimPod, nodes: Nodes, state: CycleState) -> Scores:
        return nodes.astype("int64")

    def normalize(self, scores: Scores) -> Scores:
        return default_normalize(scores)


register("PreferHighIndex")(PreferHighIndex)
