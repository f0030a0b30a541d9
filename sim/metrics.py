"""Run metrics, kept online while the simulation runs (no second pass over the timeline).

Time-weighted allocation per resource (Σ requests of bound pods / Σ allocatable of ready nodes,
integrated over time), pod wait times (creation → ``Scheduled``; a pod never scheduled has waited
until the end of the run and counts so, ``waitSeconds.stillPending`` says how many), node counts and cost
(``pricePerHour`` × ready hours). ``summary()`` returns the dict written to ``summary.json``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.cluster import ClusterState, is_accelerator


class Metrics:
    def __init__(self, cluster: ClusterState) -> None:
        self.cluster = cluster
        nres = len(cluster.resources)
        self.alloc_total = [0] * nres
        self.area_alloc = [0.0] * nres
        self.area_used = [0.0] * nres
        self.last_t = 0.0
        self.waits: list[float] = []
        self.created = 0
        self.bound = 0
        self.succeeded = 0
        self.failed = 0
        self.deleted = 0
        self.preempted = 0
        self.nodes_ready = 0
        self.nodes_peak = 0
        self.cost = 0.0
        self.node_started: dict[int, float] = {}
        self.accel = [i for i, r in enumerate(cluster.resources) if is_accelerator(r)]

    def _advance(self, now: float) -> None:
        """Integrate allocatable up to ``now`` (node changes are rare; pods integrate themselves)."""
        dt = now - self.last_t
        if dt > 0:
            for r in range(len(self.alloc_total)):
                self.area_alloc[r] += self.alloc_total[r] * dt
            self.last_t = now

    def node_ready(self, idx: int, now: float) -> None:
        self._advance(now)
        for r in range(len(self.alloc_total)):
            self.alloc_total[r] += int(self.cluster.alloc[r, idx])
        self.nodes_ready += 1
        self.nodes_peak = max(self.nodes_peak, self.nodes_ready)
        self.node_started[idx] = now

    def node_removed(self, idx: int, now: float) -> None:
        self._advance(now)
        for r in range(len(self.alloc_total)):
            self.alloc_total[r] -= int(self.cluster.alloc[r, idx])
        self.nodes_ready -= 1
        self._bill(idx, now)

    def _bill(self, idx: int, now: float) -> None:
        start = self.node_started.pop(idx, None)
        price = self.cluster.nodes[idx].pool.price
        if start is not None and price:
            self.cost += price * (now - start) / 3600.0

    def bind(self, wait: float) -> None:
        # allocation is integrated per pod when it leaves (q × time bound), so binding is O(1)
        self.waits.append(wait)
        self.bound += 1

    def unbind(self, req: tuple[tuple[int, int], ...], bound_at: float, now: float) -> None:
        dt = now - bound_at
        area = self.area_used
        for r, q in req:
            area[r] += q * dt

    def summary(self, end: float, pending: int, events: int, wall: float, reason: str,
                running: list[tuple[tuple[tuple[int, int], ...], float]],
                pending_created: list[float] | None = None) -> dict[str, Any]:
        """``running``: (requests, bound_at) of the pods still bound at ``end``; ``pending_created``: the
        creation times of the pods never bound — they have waited until the end, and count so."""
        self._advance(end)
        for req, bound_at in running:
            for r, q in req:
                self.area_used[r] += q * (end - bound_at)
        for idx in sorted(self.node_started):
            self._bill(idx, end)
        still = [end - c for c in pending_created or []]
        waits = np.asarray(self.waits + still, dtype=float)

        def pct(p: float) -> float | None:
            return round(float(np.percentile(waits, p)), 3) if waits.size else None

        alloc_accel = sum(self.area_alloc[r] for r in self.accel)
        used_accel = sum(self.area_used[r] for r in self.accel)
        per_res = {}
        for r, name in enumerate(self.cluster.resources):
            if self.area_alloc[r] > 0:
                per_res[name] = round(self.area_used[r] / self.area_alloc[r], 6)
        has_price = any(p.price is not None for p in self.cluster.pools.values())
        return {
            "pods": {"total": self.created, "scheduled": self.bound, "pendingAtEnd": pending,
                     "runningAtEnd": len(running), "succeeded": self.succeeded, "failed": self.failed,
                     "deleted": self.deleted, "preempted": self.preempted},
            "waitSeconds": {"p50": pct(50), "p95": pct(95), "p99": pct(99),
                            "mean": round(float(waits.mean()), 3) if waits.size else None,
                            "max": round(float(waits.max()), 3) if waits.size else None,
                            "stillPending": len(still)},
            "gpu": {"allocationRatio": round(used_accel / alloc_accel, 6) if alloc_accel else None,
                    "resources": [self.cluster.resources[r] for r in self.accel]},
            "allocationRatio": per_res,
            "nodes": {"peak": self.nodes_peak, "atEnd": self.nodes_ready},
            "cost": {"total": round(self.cost, 2) if has_price else None, "currency": "per pricePerHour unit"},
            "sim": {"events": events, "wallSeconds": round(wall, 3), "endTime": round(end, 3),
                    "endReason": reason},
        }
