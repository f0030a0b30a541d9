"""kube-scheduler's ``NodeAffinity`` plugin (``plugins/nodeaffinity``).

Filter: the pod's ``nodeSelector`` labels must all match and, when set, one of the required node
affinity terms (``requiredDuringSchedulingIgnoredDuringExecution``); otherwise the reason is
``node(s) didn't match Pod's node affinity/selector``. Score: the sum of the weights of the
``preferredDuringSchedulingIgnoredDuringExecution`` terms the node matches, normalized over the scored
nodes by ``DefaultNormalizeScore(100, reverse=false)``. Default weight 2.

Node labels are the pool's plus ``kubernetes.io/hostname``, so a verdict depends on the pool alone
unless the pod names individual nodes (the hostname label or ``matchFields``); then it depends on the
node (:meth:`NodeAffinity.node_dependent`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.constraints import AFFINITY, HOSTNAME_LABEL, affinity_matches, depends_on_node_identity, term_matches
from sim.framework import CycleState, Nodes, Scores, default_normalize, register
from sim.pods import PodShape, SimPod


def preferred_terms(affinity: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not affinity:
        return []
    terms: list[dict[str, Any]] = (affinity.get("nodeAffinity") or {}).get(
        "preferredDuringSchedulingIgnoredDuringExecution") or []
    return terms


class NodeAffinity:
    name = "NodeAffinity"
    depends = frozenset({"pool", "node"})
    weight = 2

    def __init__(self, context: Any) -> None:
        self.cluster = context.cluster

    @staticmethod
    def node_dependent(shape: PodShape) -> bool:
        """Does this shape's verdict depend on the individual node (not only its pool)?"""
        if depends_on_node_identity(shape.node_selector, shape.affinity):
            return True
        return any(r.get("key") == HOSTNAME_LABEL or term["preference"].get("matchFields")
                   for term in preferred_terms(shape.affinity)
                   for r in term["preference"].get("matchExpressions") or [{}])

    def filter(self, pod: SimPod, node: int, state: CycleState) -> str | None:
        n = self.cluster.nodes[node]
        shape = pod.shape
        if affinity_matches(shape.node_selector, shape.affinity, n.labels, n.name):
            return None
        return AFFINITY

    @staticmethod
    def scores_pod(shape: PodShape) -> bool:
        return bool(preferred_terms(shape.affinity))

    def score(self, pod: SimPod, nodes: Nodes, state: CycleState) -> Scores:
        terms = preferred_terms(pod.shape.affinity)
        out = np.zeros(len(nodes), dtype=np.int64)
        if not terms:
            return out
        for i, idx in enumerate(nodes.tolist()):
            n = self.cluster.nodes[idx]
            out[i] = sum(t["weight"] for t in terms if term_matches(t["preference"], n.labels, n.name))
        return out

    def normalize(self, scores: Scores) -> Scores:
        return default_normalize(scores)


register("NodeAffinity")(NodeAffinity)
