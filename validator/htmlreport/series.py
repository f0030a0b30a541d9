"""What the report plots, derived from a timeline: the cluster's state over time, as kubectl would show it.

One pass over the events rebuilds the few gauges a cluster operator watches — accelerators allocated
per node pool (kube-scheduler's bound requests), pending pods, Ready nodes per pool with
cluster-autoscaler's scale-up/scale-down marks — plus each pod's scheduling wait (``PodCreated`` →
first ``Scheduled``), each gang's admission history (``WorkloadCreated`` → ``QuotaReserved``/``Admitted``
→ ``Evicted``/``WorkloadFinished``) and node cost (node-hours × ``pricePerHour`` of its pool).
Works the same on simulated and recorded timelines; fields a recording lacks are simply not plotted.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from models.quantity import parse_quantity
from models.timeline import Event

_POD_END = frozenset({"PodSucceeded", "PodFailed", "PodDeleted", "Preempted"})
_WAITING = frozenset({"waiting", "quota reserved"})


def is_accelerator(resource: str) -> bool:
    """Extended resources that are accelerators (``nvidia.com/gpu``, ``amd.com/gpu``, ``google.com/tpu``…)."""
    tail = resource.rsplit("/", 1)[-1].lower()
    return "/" in resource and ("gpu" in tail or "tpu" in tail or "neuron" in tail)


@dataclass
class Step:
    """A step function built from (t, value) changes."""

    xs: list[float] = field(default_factory=list)
    ys: list[float] = field(default_factory=list)
    value: float = 0.0

    def add(self, t: float, delta: float) -> None:
        self.value += delta
        if self.xs and self.xs[-1] == t:
            self.ys[-1] = self.value
        else:
            self.xs.append(t)
            self.ys.append(self.value)


@dataclass
class RunData:
    end: float = 0.0
    alloc: dict[str, Step] = field(default_factory=lambda: defaultdict(Step))        # pool → accelerators
    capacity: dict[str, Step] = field(default_factory=lambda: defaultdict(Step))     # pool → allocatable
    nodes: dict[str, Step] = field(default_factory=lambda: defaultdict(Step))        # pool → Ready nodes
    pending: Step = field(default_factory=Step)
    pending_workloads: Step = field(default_factory=Step)  # gangs created or evicted, not yet admitted
    scale_up: list[tuple[float, str]] = field(default_factory=list)
    scale_down: list[tuple[float, str]] = field(default_factory=list)
    waits_by_workload: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    waits_by_queue: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    admission_by_queue: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    gangs: list[tuple[str, list[tuple[float, float, str]]]] = field(default_factory=list)
    cost: dict[str, float] = field(default_factory=dict)                              # pool → cost
    accelerators: set[str] = field(default_factory=set)


def _accel_count(requests: dict[str, Any]) -> tuple[float, set[str]]:
    total = 0.0
    names = set()
    for k, v in requests.items():
        if is_accelerator(k):
            try:
                total += float(parse_quantity(v).value)
            except (ValueError, TypeError):
                continue
            names.add(k)
    return total, names


def derive(events: list[Event]) -> RunData:
    """Everything the report plots, from one timeline's events (in file order)."""
    d = RunData()
    node_pool: dict[str, str] = {}
    node_accel: dict[str, float] = {}
    node_since: dict[str, tuple[float, float]] = {}          # node → (ready at, price per hour)
    pod_req: dict[str, float] = {}
    pod_node: dict[str, str] = {}
    pod_created: dict[str, float] = {}
    pod_workload: dict[str, str] = {}
    pod_group: dict[str, str] = {}
    pending: set[str] = set()
    group_queue: dict[str, str] = {}
    gang_segs: dict[str, list[tuple[float, float, str]]] = {}
    gang_state: dict[str, tuple[float, str]] = {}
    gang_created: dict[str, float] = {}
    admitted_once: set[str] = set()
    for ev in events:
        t = ev.t
        d.end = max(d.end, t)
        typ = ev.type
        if typ == "NodeReady":
            pool = str(ev.data.get("pool") or "default")
            node_pool[ev.name] = pool
            acc, names = _accel_count(ev.data.get("allocatable") or {})
            d.accelerators |= names
            node_accel[ev.name] = acc
            d.capacity[pool].add(t, acc)
            d.nodes[pool].add(t, 1)
            price = ev.data.get("pricePerHour")
            node_since[ev.name] = (t, float(price) if isinstance(price, int | float) else 0.0)
        elif typ == "NodeRemoved" and ev.name in node_pool:
            pool = node_pool[ev.name]
            d.capacity[pool].add(t, -node_accel.pop(ev.name, 0.0))
            d.nodes[pool].add(t, -1)
            since, price = node_since.pop(ev.name, (t, 0.0))
            d.cost[pool] = d.cost.get(pool, 0.0) + (t - since) / 3600.0 * price
        elif typ == "PodCreated":
            key = ev.key
            pod_created[key] = t
            acc, names = _accel_count(ev.data.get("requests") or {})
            d.accelerators |= names
            pod_req[key] = acc
            wl = ev.data.get("workload")
            pod_workload[key] = str(wl) if wl else (ev.group or ev.namespace or "(none)")
            if ev.group:
                pod_group[key] = ev.group
            pending.add(key)
            d.pending.add(t, 1)
        elif typ == "Scheduled":
            key = ev.key
            if key in pending:
                pending.discard(key)
                d.pending.add(t, -1)
                if key in pod_created:
                    w = t - pod_created[key]
                    d.waits_by_workload[pod_workload.get(key, "(none)")].append(w)
                    q = group_queue.get(pod_group.get(key, ""))
                    if q:
                        d.waits_by_queue[q].append(w)
            if ev.node and key not in pod_node:
                pod_node[key] = ev.node
                acc = pod_req.get(key, 0.0)
                if acc:
                    d.alloc[node_pool.get(ev.node, "default")].add(t, acc)
        elif typ in _POD_END:
            key = ev.key
            if key in pending and typ == "PodDeleted":
                pending.discard(key)
                d.pending.add(t, -1)
            node = pod_node.pop(key, None)
            if node is not None and pod_req.get(key):
                d.alloc[node_pool.get(node, "default")].add(t, -pod_req[key])
        elif typ == "TriggeredScaleUp":
            d.scale_up.append((t, f"scale-up {ev.data.get('pool', '')} {ev.reason or ''}".strip()))
        elif typ == "ScaleDown":
            d.scale_down.append((t, f"scale-down {ev.node or ev.name} {ev.reason or ''}".strip()))
        elif typ == "WorkloadCreated":
            g = ev.group or ev.key
            q = ev.data.get("queue")
            if q:
                group_queue[g] = str(q)
            gang_segs[g] = []
            gang_state[g] = (t, "waiting")
            gang_created[g] = t
            d.pending_workloads.add(t, 1)
        elif typ in ("QuotaReserved", "Admitted", "Evicted", "Requeued", "WorkloadFinished"):
            g = ev.group or ev.key
            if g not in gang_state:
                continue
            since, state = gang_state[g]
            if typ == "Admitted" and g not in admitted_once:
                admitted_once.add(g)
                d.admission_by_queue[group_queue.get(g, "(no queue)")].append(t - gang_created[g])
            new = {"QuotaReserved": "quota reserved", "Admitted": "admitted", "Evicted": "waiting",
                   "Requeued": "waiting", "WorkloadFinished": "finished"}[typ]
            if new == state:
                continue
            if t > since or state != "waiting":
                gang_segs[g].append((since, t, state))
            gang_state[g] = (t, new)
            was, now = state in _WAITING, new in _WAITING
            if was != now:
                d.pending_workloads.add(t, 1 if now else -1)
    for g, (since, state) in gang_state.items():
        if state != "finished":
            gang_segs[g].append((since, d.end, state))
    d.gangs = [(g, [s for s in segs if s[2] != "finished"]) for g, segs in gang_segs.items()]
    for node, (since, price) in node_since.items():
        pool = node_pool[node]
        d.cost[pool] = d.cost.get(pool, 0.0) + (d.end - since) / 3600.0 * price
    return d


def cdf(values: list[float]) -> tuple[list[float], list[float]]:
    """The empirical CDF as (sorted values, fraction ≤ value)."""
    xs = sorted(values)
    n = len(xs)
    return xs, [(i + 1) / n for i in range(n)]
