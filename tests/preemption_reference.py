"""The DefaultPreemption victim search as it was before its caches (kept for the equivalence test).

A straight reading of kube-scheduler's SelectVictimsOnNode + pickOneNodeForPreemption over every
candidate node, with no per-node memo and no restriction to eligible nodes: slow and obviously right.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.cluster import ClusterState
from sim.preemption import MIN_CANDIDATES_ABSOLUTE, MIN_CANDIDATES_PERCENTAGE, preemptible


class ReferencePreemption:
    def __init__(self, cluster: ClusterState) -> None:
        self.cluster = cluster
        self.offset = 0

    def find(self, pod: Any) -> tuple[int, list[Any]] | None:
        cluster = self.cluster
        prios = cluster.ledger.below(pod.priority)
        if not prios:
            return None
        n = cluster.n
        mask = pod.shape.node_mask(cluster)
        free = cluster.free[:, :n]
        cum = None
        nodes = None
        for p in prios:
            level = cluster.ledger.level(p)[:, :n]
            cum = level.copy() if cum is None else cum + level
            ok = mask.copy()
            for r, q in pod.shape.req:
                ok &= free[r] + cum[r] >= q
            if ok.any():
                nodes = np.flatnonzero(ok)
                break
        if nodes is None:
            return None
        want = max(MIN_CANDIDATES_ABSOLUTE, n * MIN_CANDIDATES_PERCENTAGE // 100)
        start = int(np.searchsorted(nodes, self.offset % n))
        order = np.concatenate((nodes[start:], nodes[:start]))[:want]
        self.offset = int(order[-1]) + 1
        best = None
        for node in order.tolist():
            victims = self._victims(pod, node, p)
            if victims is None:
                continue
            top = max(v.priority for v in victims)
            latest = min(v.bound_at for v in victims if v.priority == top)
            key = (top, sum(v.priority for v in victims), len(victims), -latest, node)
            if best is None or key < best[0]:
                best = (key, node, victims)
        return None if best is None else (best[1], best[2])

    def _victims(self, pod: Any, node: int, top_level: int) -> list[Any] | None:
        free = list(self.cluster.pyfree[node])
        lower = []
        for p in self.cluster.pods_on[node].values():
            if p.priority <= top_level and preemptible(p):
                lower.append((-p.priority, p.bound_at, p.seq, p))
                for r, q in p.shape.req:
                    free[r] += q
        for r, q in pod.shape.req:
            if free[r] < q:
                return None
        victims = []
        lower.sort()
        for _, _, _, p in lower:
            for r, q in pod.shape.req:
                if free[r] - p.shape.reqvec[r] < q:
                    victims.append(p)
                    break
            else:
                for r, q in p.shape.req:
                    free[r] -= q
        return victims or None
