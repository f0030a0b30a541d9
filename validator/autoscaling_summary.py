"""What autoscaling cost and bought, from any timeline (simulated or recorded): the numbers a capacity
planner asks the cluster autoscaler about.

:func:`autoscaling_summary` reads the events once:

* ``scaleUpWaitSeconds`` — for pods that triggered a scale-up (``TriggeredScaleUp``), the time from
  ``PodCreated`` to their first ``Scheduled`` (``count``, ``p50``, ``p95``, ``max``; nearest-rank);
* ``pools`` — per node pool: ``nodeHours`` (Ready time of its nodes), ``cost`` (node-hours ×
  ``pricePerHour``, when the nodes carry one), ``scaleUps`` (distinct ``TriggeredScaleUp`` decisions:
  pool, from, to, time), ``nodesRemoved`` by ``ScaleDown``;
* ``idleGpuHours`` — accelerator-hours allocatable on Ready nodes but requested by no bound pod.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from models.quantity import parse_quantity
from models.timeline import Event

_ACCELERATORS = ("nvidia.com/gpu", "amd.com/gpu", "google.com/tpu", "habana.ai/gaudi", "aws.amazon.com/neuron",
                 "gpu.intel.com/i915")


def _gpus(q: dict[str, Any]) -> float:
    return sum(float(parse_quantity(v).value) for r, v in q.items() if r in _ACCELERATORS or r.endswith("/gpu"))


def _rank(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    return s[max(0, math.ceil(q * len(s)) - 1)]


def autoscaling_summary(events: Sequence[Event]) -> dict[str, Any]:
    end = max((e.t for e in events), default=0.0)
    created: dict[str, float] = {}
    requests: dict[str, float] = {}
    triggered: set[str] = set()
    waits: dict[str, float] = {}
    node_pool: dict[str, str] = {}
    ready_at: dict[str, float] = {}
    price: dict[str, float] = {}
    node_gpus: dict[str, float] = {}
    pools: dict[str, dict[str, Any]] = {}
    decisions: set[tuple[str, Any, Any, float]] = set()
    where: dict[str, str] = {}
    gpu_alloc = 0.0
    gpu_used = 0.0
    last = 0.0
    idle = 0.0

    def pool_entry(name: str) -> dict[str, Any]:
        return pools.setdefault(name, {"nodeHours": 0.0, "cost": None, "scaleUps": 0, "nodesRemoved": 0})

    def close(node: str, t: float) -> None:
        start = ready_at.pop(node, None)
        if start is None:
            return
        p = pool_entry(node_pool.get(node, ""))
        hours = (t - start) / 3600
        p["nodeHours"] += hours
        if node in price:
            p["cost"] = (p["cost"] or 0.0) + hours * price[node]

    for e in sorted(events, key=lambda x: (x.t, x.seq)):
        idle += max(0.0, gpu_alloc - gpu_used) * (e.t - last) / 3600
        last = e.t
        key = e.key
        if e.type == "NodeReady":
            pool = str(e.data.get("pool") or "")
            node_pool[e.name] = pool
            pool_entry(pool)
            ready_at[e.name] = e.t
            if isinstance(e.data.get("pricePerHour"), int | float):
                price[e.name] = float(e.data["pricePerHour"])
            g = _gpus(e.data.get("allocatable") or {})
            gpu_alloc += g - node_gpus.get(e.name, 0.0)
            node_gpus[e.name] = g
        elif e.type == "NodeRemoved":
            close(e.name, e.t)
            gpu_alloc -= node_gpus.pop(e.name, 0.0)
        elif e.type == "ScaleDown":
            pool_entry(str(e.data.get("pool") or node_pool.get(e.name, "")))["nodesRemoved"] += 1
        elif e.type == "PodCreated":
            created[key] = e.t
            requests[key] = _gpus(e.data.get("requests") or {})
        elif e.type == "TriggeredScaleUp":
            triggered.add(key)
            pool = str(e.data.get("pool") or "")
            decisions.add((pool, e.data.get("from"), e.data.get("to"), e.t))
        elif e.type == "Scheduled":
            where[key] = e.node or ""
            gpu_used += requests.get(key, 0.0)
            if key in triggered and key not in waits and key in created:
                waits[key] = e.t - created[key]
        elif e.type in ("PodSucceeded", "PodFailed", "PodDeleted", "Preempted") and where.pop(key, None) is not None:
            gpu_used -= requests.get(key, 0.0)
    idle += max(0.0, gpu_alloc - gpu_used) * (end - last) / 3600
    for node in list(ready_at):
        close(node, end)
    for pool, *_ in decisions:
        pool_entry(pool)["scaleUps"] += 1
    w = list(waits.values())
    return {"scaleUpWaitSeconds": {"count": len(w), "p50": _rank(w, 0.5), "p95": _rank(w, 0.95),
                                   "max": max(w) if w else None},
            "pools": {k: {**v, "nodeHours": round(v["nodeHours"], 6),
                          "cost": None if v["cost"] is None else round(v["cost"], 6)}
                      for k, v in sorted(pools.items())},
            "idleGpuHours": round(idle, 6)}


__all__ = ["autoscaling_summary"]
