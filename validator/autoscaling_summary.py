"""What autoscaling cost and bought, from any timeline (simulated or recorded): the numbers a capacity
planner asks the cluster autoscaler about.

:func:`autoscaling_summary` reads the events once:

* ``scaleUpWaitSeconds`` — for pods that needed a scale-up, the time from ``PodCreated`` to their first
  ``Scheduled`` (``count``, ``p50``, ``p95``, ``max``; nearest-rank). A pod needed one when it triggered
  a ``TriggeredScaleUp`` itself, or when it belongs to a workload (its ``group``) one of whose
  ProvisioningRequests triggered one before the pod was created (the pods of a gang admitted through
  Kueue's ProvisioningRequest admission check exist only after the scale-up made for them);
* ``pools`` — per node pool: ``nodeHours`` (Ready time of its nodes), ``cost`` (node-hours ×
  ``pricePerHour``, when the nodes carry one), ``scaleUps`` (distinct ``TriggeredScaleUp`` decisions:
  pool, from, to, time), ``nodesRemoved`` by ``ScaleDown``;
* ``idleGpuHours`` — accelerator-hours allocatable on Ready nodes but requested by no bound pod;
* ``provisioningRequests`` — ``created`` (``ProvisioningRequestCreated``), ``provisioned`` (requests that
  went ``Provisioned``), ``failed`` (``ProvisioningFailed``), ``bookingExpired`` (``BookingExpired``) and
  ``timeToProvisionedSeconds`` (``count``, ``p50``, ``p95``, ``max``: ``ProvisioningRequestCreated`` →
  first ``Provisioned`` of each request; nearest-rank).
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
    pr_created: dict[str, float] = {}
    pr_provisioned: dict[str, float] = {}
    pr_failed: set[str] = set()
    pr_expired: set[str] = set()
    pr_scaled: set[str] = set()  # groups (workloads) a ProvisioningRequest scale-up was made for
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
            if e.group is not None and e.group in pr_scaled:
                triggered.add(key)
        elif e.type == "TriggeredScaleUp":
            if e.kind == "ProvisioningRequest":
                if e.group is not None:
                    pr_scaled.add(e.group)
            else:
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
        elif e.type == "ProvisioningRequestCreated":
            pr_created.setdefault(key, e.t)
        elif e.type == "Provisioned":
            pr_provisioned.setdefault(key, e.t)
        elif e.type == "ProvisioningFailed":
            pr_failed.add(key)
        elif e.type == "BookingExpired":
            pr_expired.add(key)
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
            "idleGpuHours": round(idle, 6),
            "provisioningRequests": _provisioning(pr_created, pr_provisioned, len(pr_failed), len(pr_expired))}


def _provisioning(created: dict[str, float], provisioned: dict[str, float], failed: int,
                  expired: int) -> dict[str, Any]:
    """The ``provisioningRequests`` block: counts and ``ProvisioningRequestCreated`` → ``Provisioned``."""
    times = [t - created[k] for k, t in sorted(provisioned.items()) if k in created]
    return {"created": len(created), "provisioned": len(provisioned), "failed": failed, "bookingExpired": expired,
            "timeToProvisionedSeconds": {"count": len(times), "p50": _rank(times, 0.5), "p95": _rank(times, 0.95),
                                         "max": max(times) if times else None}}


__all__ = ["autoscaling_summary"]
