"""kube-scheduler's ``TaintToleration`` plugin (``plugins/tainttoleration``).

Filter: a node whose ``NoSchedule``/``NoExecute`` taints the pod does not all tolerate is out, with the
reason ``node(s) had untolerated taint {key: value}``. Score: the number of ``PreferNoSchedule`` taints
the pod does not tolerate (only tolerations with an empty or ``PreferNoSchedule`` effect count), then
NormalizeScore reverses it over the scored nodes (``DefaultNormalizeScore(100, reverse=true)``): the
fewer intolerable taints, the higher. Default weight 3. Taints are per node pool, so every verdict
depends on the pool alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.constraints import UNTOLERATED, tolerates, untolerated_taint
from sim.framework import CycleState, Nodes, Scores, default_normalize, register
from sim.pods import PodShape, SimPod


class TaintToleration:
    name = "TaintToleration"
    depends = frozenset({"pool"})
    weight = 3

    def __init__(self, context: Any) -> None:
        self.cluster = context.cluster
        self._prefer_version = -1
        self._prefer = False

    def filter(self, pod: SimPod, node: int, state: CycleState) -> str | None:
        taint = untolerated_taint(pod.shape.tolerations, self.cluster.nodes[node].pool.taints)
        if taint is None:
            return None
        return UNTOLERATED.format(key=taint["key"], value=taint.get("value") or "")

    def scores_pod(self, shape: PodShape) -> bool:
        """Does Score tell any eligible nodes apart for this shape (some pool has PreferNoSchedule
        taints)? When not, every node gets the same score and it cannot change a choice."""
        cluster = self.cluster
        if self._prefer_version != cluster.version:  # pools only change when nodes come and go
            self._prefer = any(t["effect"] == "PreferNoSchedule" for p in cluster.pools.values() for t in p.taints)
            self._prefer_version = cluster.version
        return self._prefer

    def score(self, pod: SimPod, nodes: Nodes, state: CycleState) -> Scores:
        tolerations = [t for t in pod.shape.tolerations if t.get("effect") in (None, "", "PreferNoSchedule")]
        per_pool: dict[str, int] = {}
        out = np.zeros(len(nodes), dtype=np.int64)
        for i, idx in enumerate(nodes.tolist()):
            pool = self.cluster.nodes[idx].pool
            count = per_pool.get(pool.name)
            if count is None:
                count = sum(1 for t in pool.taints if t["effect"] == "PreferNoSchedule"
                            and not any(tolerates(x, t) for x in tolerations))
                per_pool[pool.name] = count
            out[i] = count
        return out

    def normalize(self, scores: Scores) -> Scores:
        return default_normalize(scores, reverse=True)


register("TaintToleration")(TaintToleration)
