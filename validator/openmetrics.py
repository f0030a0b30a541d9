"""A timeline as Prometheus metrics: what dcgm-exporter, kube-state-metrics and Kueue would have exposed.

:func:`openmetrics` is a pure function from timeline events to OpenMetrics text with a timestamp on
every sample — the format ``promtool tsdb create-blocks-from openmetrics`` backfills into a Prometheus
TSDB — written with ``prometheus_client``'s OpenMetrics exposition. The state is sampled every
``interval`` seconds (dcgm-exporter's default collect interval, 30 s), as a scrape would:

* per GPU, with dcgm-exporter's labels (``gpu``, ``UUID``, ``device``, ``modelName``, ``Hostname`` and,
  while a pod holds the GPU, ``namespace``, ``pod``, ``container``): ``DCGM_FI_DEV_GPU_UTIL`` (%),
  ``DCGM_FI_DEV_FB_USED`` / ``DCGM_FI_DEV_FB_FREE`` (MiB), ``DCGM_FI_DEV_POWER_USAGE`` (W). A GPU
  held by a pod reads 90 % of its memory used; its utilisation ``u`` is what ``utilization(pod, t)``
  says (an inference pod: its Deployment's served load over its capacity, the value an HPA on
  ``DCGM_FI_DEV_GPU_UTIL`` sees) or, for pods whose work the simulator does not model, 100 %; board
  power is ``10 % + 80 % × u/100`` of the model's (90 % busy). A free GPU reads idle (0 %, 0 MiB, 10 %
  of board power). Memory and board power come from the node's GPU model label
  (``nvidia.com/gpu.product`` or ``cloud.google.com/gke-accelerator``). GPUs are handed out to pods
  lowest index first, as the device plugin does;
* per node pool: ``kubetwin_nodepool_nodes`` (Ready nodes), ``kubetwin_nodepool_allocatable`` and
  ``kubetwin_nodepool_requested`` per resource (``resource`` label, canonical units: cores, bytes,
  devices);
* per Kueue ClusterQueue: ``kueue_pending_workloads`` and ``kueue_admitted_active_workloads``
  (Kueue's own metric names).

Sample timestamps are ``start + t`` (Unix seconds): a recorded timeline's ``startedAt`` by default.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import cast

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.openmetrics.exposition import generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from models.quantity import parse_quantity
from models.timeline import Event

#: dcgm-exporter's DCGM_EXPORTER_INTERVAL default, in seconds
DEFAULT_INTERVAL = 30.0
GPU_RESOURCES = ("nvidia.com/gpu",)
MODEL_LABELS = ("nvidia.com/gpu.product", "cloud.google.com/gke-accelerator")
#: (pattern in the model name, framebuffer MiB, board power W); first match wins
GPU_MODELS: tuple[tuple[str, int, float], ...] = (
    (r"h200", 143771, 700.0), (r"h100", 81559, 700.0), (r"b200", 183359, 1000.0),
    (r"a100.*80", 81920, 400.0), (r"a100", 40960, 400.0), (r"l40", 46068, 350.0), (r"l4", 23034, 72.0),
    (r"a10", 23028, 150.0), (r"t4", 15360, 70.0), (r"v100", 16384, 300.0),
)
DEFAULT_MODEL = ("NVIDIA GPU", 81920, 400.0)
BUSY_UTIL, BUSY_FB, BUSY_POWER, IDLE_POWER = 100.0, 0.9, 0.9, 0.1


def gpu_model(labels: Mapping[str, str]) -> tuple[str, int, float]:
    """(modelName, framebuffer MiB, board power W) from a node's labels."""
    name = next((labels[k] for k in MODEL_LABELS if labels.get(k)), "")
    low = name.lower()
    for pat, fb, power in GPU_MODELS:
        if re.search(pat, low):
            return name, fb, power
    return name or DEFAULT_MODEL[0], DEFAULT_MODEL[1], DEFAULT_MODEL[2]


def _uuid(node: str, i: int) -> str:
    return "GPU-" + str(uuid.UUID(bytes=hashlib.sha256(f"{node}/{i}".encode()).digest()[:16]))


class _Gpu:
    __slots__ = ("fb", "holder", "index", "model", "node", "power", "uuid")

    def __init__(self, node: str, index: int, model: tuple[str, int, float]) -> None:
        self.node = node
        self.index = index
        self.uuid = _uuid(node, index)
        self.model, self.fb, self.power = model
        self.holder: tuple[str, str, str] | None = None  # namespace, pod, container


class _State:
    """The cluster as the events so far left it."""

    def __init__(self) -> None:
        self.gpus: dict[str, list[_Gpu]] = {}
        self.node_pool: dict[str, str] = {}
        self.node_alloc: dict[str, dict[str, float]] = {}
        self.pod_req: dict[str, dict[str, float]] = {}
        self.pod_container: dict[str, str] = {}
        self.bound: dict[str, tuple[str, list[int]]] = {}
        self.requested: dict[tuple[str, str], float] = {}
        self.workload_cq: dict[str, str] = {}
        self.pending: dict[str, set[str]] = {}
        self.admitted: dict[str, set[str]] = {}

    def apply(self, ev: Event) -> None:
        typ, d = ev.type, ev.data
        key = f"{ev.namespace}/{ev.name}" if ev.namespace else ev.name
        if typ == "NodeReady":
            alloc = {str(r): float(parse_quantity(q).value) for r, q in (d.get("allocatable") or {}).items()}
            self.node_pool[ev.name] = str(d.get("pool") or "")
            self.node_alloc[ev.name] = alloc
            n = int(sum(alloc.get(r, 0) for r in GPU_RESOURCES))
            model = gpu_model({str(k): str(v) for k, v in (d.get("labels") or {}).items()})
            self.gpus[ev.name] = [_Gpu(ev.name, i, model) for i in range(n)]
        elif typ == "NodeRemoved":
            self.node_pool.pop(ev.name, None)
            self.node_alloc.pop(ev.name, None)
            self.gpus.pop(ev.name, None)
        elif typ == "PodCreated":
            self.pod_req[key] = {str(r): float(parse_quantity(q).value) for r, q in (d.get("requests") or {}).items()}
            containers = d.get("containers") or []
            first = containers[0].get("name") if containers and isinstance(containers[0], dict) else None
            self.pod_container[key] = str(first or "main")
        elif typ == "Scheduled":
            node = ev.node or ""
            req = self.pod_req.get(key, {})
            pool = self.node_pool.get(node, "")
            for r, q in req.items():
                self.requested[(pool, r)] = self.requested.get((pool, r), 0.0) + q
            want = int(sum(req.get(r, 0) for r in GPU_RESOURCES))
            held: list[int] = []
            for g in self.gpus.get(node, []):
                if len(held) == want:
                    break
                if g.holder is None:
                    g.holder = (ev.namespace or "", ev.name, self.pod_container.get(key, "main"))
                    held.append(g.index)
            self.bound[key] = (node, held)
        elif typ in ("PodSucceeded", "PodFailed", "PodDeleted", "Preempted"):
            got = self.bound.pop(key, None)
            if got is not None:
                node, held = got
                pool = self.node_pool.get(node, "")
                for r, q in self.pod_req.get(key, {}).items():
                    self.requested[(pool, r)] = self.requested.get((pool, r), 0.0) - q
                gpus = self.gpus.get(node, [])
                for i in held:
                    if i < len(gpus):
                        gpus[i].holder = None
            if typ != "Preempted":
                self.pod_req.pop(key, None)
        elif typ == "WorkloadCreated" and d.get("clusterQueue"):
            cq = str(d["clusterQueue"])
            self.workload_cq[key] = cq
            self.pending.setdefault(cq, set()).add(key)
        elif typ in ("QuotaReserved", "Admitted", "Evicted", "WorkloadFinished") and key in self.workload_cq:
            cq = self.workload_cq[key]
            if typ == "Evicted":
                self.admitted.setdefault(cq, set()).discard(key)
                self.pending.setdefault(cq, set()).add(key)
            elif typ == "Admitted":
                self.pending.setdefault(cq, set()).discard(key)
                self.admitted.setdefault(cq, set()).add(key)
            elif typ == "WorkloadFinished":
                self.pending.setdefault(cq, set()).discard(key)
                self.admitted.setdefault(cq, set()).discard(key)


class _Series:
    """Samples collected per family, per label set, in time order."""

    def __init__(self) -> None:
        self.families: dict[str, tuple[str, str, dict[tuple[tuple[str, str], ...], list[tuple[float, float]]]]] = {}

    def add(self, name: str, doc: str, unit: str, labels: Mapping[str, str], value: float, ts: float) -> None:
        fam = self.families.setdefault(name, (doc, unit, {}))
        fam[2].setdefault(tuple(labels.items()), []).append((ts, value))


class _Collector(Collector):
    def __init__(self, series: _Series) -> None:
        self.series = series

    def collect(self) -> Iterator[Metric]:
        for name in sorted(self.series.families):
            doc, unit, by_labels = self.series.families[name]
            keys = [k for k, _ in next(iter(by_labels))] if by_labels else []
            fam = GaugeMetricFamily(name, doc, labels=keys, unit=unit)
            for labels in sorted(by_labels):
                for ts, value in by_labels[labels]:
                    fam.add_metric([v for _, v in labels], value, timestamp=ts)
            yield fam


_DCGM = (
    ("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %)."),
    ("DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB)."),
    ("DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB)."),
    ("DCGM_FI_DEV_POWER_USAGE", "Power draw (in W)."),
)


#: a pod's GPU utilisation (percent) at simulated time t; None: not modelled (reads as busy)
Utilization = Callable[[str, float], float | None]


def gpu_power(board: float, util: float) -> float:
    """Board power (W) at ``util`` percent: 10 % of the board's idle, 90 % fully busy, linear between."""
    return board * (IDLE_POWER + (BUSY_POWER - IDLE_POWER) * util / 100.0)


def _scrape(state: _State, series: _Series, ts: float, t: float = 0.0, utilization: Utilization | None = None) -> None:
    for node in sorted(state.gpus):
        for g in state.gpus[node]:
            ns, pod, container = g.holder or ("", "", "")
            labels = {"gpu": str(g.index), "UUID": g.uuid, "device": f"nvidia{g.index}", "modelName": g.model,
                      "Hostname": node, "container": container, "namespace": ns, "pod": pod}
            busy = g.holder is not None
            used = round(g.fb * BUSY_FB) if busy else 0
            util = 0.0
            if busy:
                u = utilization(f"{ns}/{pod}" if ns else pod, t) if utilization is not None else None
                util = BUSY_UTIL if u is None else round(u, 6)
            values = (util, float(used), float(g.fb - used), round(gpu_power(g.power, util), 6))
            for (name, doc), v in zip(_DCGM, values, strict=True):
                series.add(name, doc, "", labels, v, ts)
    nodes: dict[str, int] = {}
    alloc: dict[tuple[str, str], float] = {}
    for node, pool in state.node_pool.items():
        nodes[pool] = nodes.get(pool, 0) + 1
        for r, q in state.node_alloc.get(node, {}).items():
            alloc[(pool, r)] = alloc.get((pool, r), 0.0) + q
    for pool in sorted(nodes):
        series.add("kubetwin_nodepool_nodes", "Ready nodes in the node pool.", "", {"pool": pool}, nodes[pool], ts)
    for (pool, r) in sorted(alloc):
        labels = {"pool": pool, "resource": r}
        series.add("kubetwin_nodepool_allocatable", "Allocatable of the pool's Ready nodes.", "", labels,
                   alloc[(pool, r)], ts)
        series.add("kubetwin_nodepool_requested", "Requests of the pods bound in the pool.", "", labels,
                   max(0.0, state.requested.get((pool, r), 0.0)), ts)
    for cq in sorted(set(state.pending) | set(state.admitted)):
        series.add("kueue_pending_workloads", "Workloads waiting for admission.", "",
                   {"cluster_queue": cq, "status": "active"}, len(state.pending.get(cq, ())), ts)
        series.add("kueue_admitted_active_workloads", "Admitted workloads that have not finished.", "",
                   {"cluster_queue": cq}, len(state.admitted.get(cq, ())), ts)


def openmetrics(events: Iterable[Event], *, start: float | None = None, interval: float = DEFAULT_INTERVAL,
                end: float | None = None, utilization: Utilization | None = None) -> str:
    """OpenMetrics text (ending in ``# EOF``) for the timeline ``events`` (in timeline order), sampled every
    ``interval`` seconds from t=0 to ``end`` (default: the last event), stamped ``start + t``;
    ``utilization(pod key, t)`` gives a pod's GPU utilisation (percent; None or no function: 100)."""
    evs: Sequence[Event] = events if isinstance(events, Sequence) else list(events)
    if start is None:
        start = 0.0
        head = evs[0].data if evs and evs[0].type == "RunStarted" else {}
        started = head.get("startedAt")
        if isinstance(started, str):
            start = datetime.fromisoformat(started.replace("Z", "+00:00")).timestamp()
    last = end if end is not None else (max(e.t for e in evs) if evs else 0.0)
    state = _State()
    series = _Series()
    i = 0
    k = 0
    while True:
        t = k * interval
        if t > last + 1e-9:
            break
        while i < len(evs) and evs[i].t <= t + 1e-9:
            state.apply(evs[i])
            i += 1
        _scrape(state, series, round(start + t, 3), t, utilization)
        k += 1
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(series))
    return cast(bytes, generate_latest(registry)).decode("utf-8")  # type: ignore[no-untyped-call]


__all__ = ["DEFAULT_INTERVAL", "Utilization", "gpu_model", "gpu_power", "openmetrics"]
