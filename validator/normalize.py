"""Normalization: a raw watch recording becomes a timeline, the way an informer becomes events.

A controller in Kubernetes never sees "a pod was scheduled"; it sees successive states of objects
(an informer's ADDED/MODIFIED/DELETED deltas) and derives transitions by comparing what it knew with
what it now sees. This module does the same for a recording: it keeps the last known state of every
Pod, Node, Kueue Workload, queue and ResourceClaim, compares each new state with it, and emits one
timeline event per lifecycle transition (``docs/timeline.md`` fixes each payload). Kubernetes Events
(``events.k8s.io/v1`` or core ``v1``) with a reason that is itself a timeline type are mapped straight
across onto the object they regard.

It is a pure function, raw records → timeline events, so a better normalizer can re-derive the
timeline from the same raw file at any time. The rules (which timestamp each event takes, what
counts as pre-existing, when an event is *derived*) are documented per event in
``docs/recording.md``; in short:

* ``t`` is the server's own timestamp for the transition where the object carries one (condition
  ``lastTransitionTime``, container ``startedAt``/``finishedAt``, ``creationTimestamp``, event
  ``eventTime``…), else the receive time, and never later than the receive time;
* events about an object never go back in time (a later transition is clamped to the previous one);
* anything that happened before the recording started is placed at ``t = 0`` with
  ``data.preexisting: true``;
* a transition inferred from a later state (a pod first seen Running was Scheduled before) carries
  ``data.derived: true``, as do events from a DELETED the watcher synthesized after a relist;
* each transition is emitted once per object, however many duplicate MODIFIED events repeat it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from models.quantity import Quantity, QuantityError
from models.timeline import SCHEMA_VERSION, TimelineWriter, event_dict
from validator.raw import read_raw

#: Node labels naming the node's pool, most specific first.
POOL_LABELS: tuple[str, ...] = (
    "cloud.google.com/gke-nodepool",
    "eks.amazonaws.com/nodegroup",
    "karpenter.sh/nodepool",
    "kubernetes.azure.com/agentpool",
    "vks.vmware.com/nodepool",
    "node.kubernetes.io/instance-type",
)

#: Kubernetes Event reasons copied onto the timeline as events of the same type.
EVENT_REASONS: frozenset[str] = frozenset({
    "FailedScheduling", "TriggeredScaleUp", "NotTriggerScaleUp", "ScaleDown", "SuccessfulRescale",
    "Preempted",
})

_TS_RE = re.compile(r"^(\d{4}-\d\d-\d\d)[Tt ](\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|z|[+-]\d\d:\d\d)$")

#: Streams the recorder keeps for replay that have no timeline event of their own.
_KNOWN_UNMAPPED: frozenset[tuple[str, str]] = frozenset({
    ("apps", "deployments"), ("resource.k8s.io", "resourceslices"), ("resource.k8s.io", "deviceclasses"),
    ("autoscaling.x-k8s.io", "provisioningrequests"), ("kueue.x-k8s.io", "resourceflavors"),
})

#: Pod lifecycle stages in order; a later stage implies every earlier one happened.
_POD_STAGES = ("Scheduled", "PodRunning", "PodTerminal")


def parse_time_ns(text: Any) -> int | None:
    """Nanoseconds since the epoch for an RFC 3339 timestamp (any fraction length), else None."""
    if not isinstance(text, str):
        return None
    m = _TS_RE.match(text.strip())
    if not m:
        return None
    day, clock, frac, zone = m.groups()
    try:
        base = datetime.fromisoformat(f"{day}T{clock}{'+00:00' if zone in ('Z', 'z') else zone}")
    except ValueError:
        return None
    secs = int(base.astimezone(UTC).timestamp())
    nanos = int((frac or "0")[:9].ljust(9, "0"))
    return secs * 1_000_000_000 + nanos


# --------------------------------------------------------------------------------------------------
# reading the raw file

def read_raw_records(path: str | Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The records of a raw recording and warnings; a torn last line is skipped with a warning.

    A bad line that is not the last one is corruption: :class:`InputError` with file and line.
    """
    raw = read_raw(path)
    warnings = [f"{raw.torn}: torn last line skipped (the recorder was interrupted)"] if raw.torn else []
    return raw.records, warnings


# --------------------------------------------------------------------------------------------------
# small helpers over raw Kubernetes JSON

def _d(x: Any) -> dict[str, Any]:
    return x if isinstance(x, dict) else {}


def _l(x: Any) -> list[Any]:
    return x if isinstance(x, list) else []


def _s(x: Any) -> str | None:
    return x if isinstance(x, str) and x else None


def _condition(obj: dict[str, Any], type_: str) -> dict[str, Any] | None:
    for c in _l(_d(obj.get("status")).get("conditions")):
        if isinstance(c, dict) and c.get("type") == type_:
            return c
    return None


def _canonical(qty: Any) -> str | None:
    try:
        return Quantity.parse(qty).canonical()
    except (QuantityError, TypeError):
        return None


def sum_resources(maps: Iterable[Any]) -> dict[str, str]:
    """Sum resource maps ``{name: quantity}`` into canonical quantity strings, sorted by name."""
    total: dict[str, Quantity] = {}
    for m in maps:
        for name, qty in _d(m).items():
            try:
                q = Quantity.parse(qty)
            except (QuantityError, TypeError):
                continue
            prev = total.get(name)
            total[name] = q if prev is None else Quantity(prev.value + q.value, prev.format)
    return {k: total[k].canonical() for k in sorted(total)}


def _max_resources(a: dict[str, str], b: dict[str, str]) -> dict[str, str]:
    out = dict(a)
    for name, qty in b.items():
        if name not in out or Quantity.parse(qty).value > Quantity.parse(out[name]).value:
            out[name] = qty
    return {k: out[k] for k in sorted(out)}


def pod_requests(spec: dict[str, Any]) -> dict[str, str]:
    """A pod's effective requests: ``max(Σ containers, each init container) + overhead``.

    Sidecar init containers (``restartPolicy: Always``) run alongside, so they add to the sum.
    """
    def req(c: Any) -> Any:
        return _d(_d(_d(c).get("resources")).get("requests"))

    inits = _l(spec.get("initContainers"))
    sidecars = [c for c in inits if _d(c).get("restartPolicy") == "Always"]
    out = sum_resources([req(c) for c in _l(spec.get("containers")) + sidecars])
    for c in inits:
        if _d(c).get("restartPolicy") != "Always":
            out = _max_resources(out, sum_resources([req(c)]))
    if spec.get("overhead"):
        out = sum_resources([out, spec["overhead"]])
    return out


def node_pool(labels: dict[str, Any]) -> str:
    """The node's pool from the first well-known pool label it carries, else ``"default"``."""
    for key in POOL_LABELS:
        value = _s(labels.get(key))
        if value:
            return value
    return "default"


def _owner(meta: dict[str, Any]) -> dict[str, str] | None:
    refs = [r for r in _l(meta.get("ownerReferences")) if isinstance(r, dict)]
    ctrl = [r for r in refs if r.get("controller")] or refs
    if ctrl and _s(ctrl[0].get("kind")) and _s(ctrl[0].get("name")):
        return {"kind": ctrl[0]["kind"], "name": ctrl[0]["name"]}
    return None


def _claim_devices(claim: dict[str, Any]) -> list[dict[str, str]]:
    results = _l(_d(_d(_d(claim.get("status")).get("allocation")).get("devices")).get("results"))
    return [{"driver": str(r.get("driver")), "pool": str(r.get("pool")), "device": str(r.get("device"))}
            for r in results if isinstance(r, dict)]


def _allocation_node(alloc: dict[str, Any]) -> str | None:
    """The node a claim is allocated on: a node selector that names exactly one node."""
    names: list[str] = []
    for term in _l(_d(alloc.get("nodeSelector")).get("nodeSelectorTerms")):
        for req in _l(_d(term).get("matchFields")) + _l(_d(term).get("matchExpressions")):
            r = _d(req)
            if r.get("key") in ("metadata.name", "kubernetes.io/hostname") and r.get("operator") == "In":
                names += [v for v in _l(r.get("values")) if isinstance(v, str)]
    return names[0] if len(set(names)) == 1 else None


def _kind_of(stream: str, obj: dict[str, Any]) -> tuple[str, str]:
    """``(api group, resource)`` for a record; the group of the legacy API is ``""``."""
    s = stream.split("@", 1)[0]
    parts = s.split("/")
    if len(parts) >= 3:
        group, resource = parts[0], parts[-1]
    elif len(parts) == 2:
        group, resource = "", parts[-1]
    else:
        api = str(obj.get("apiVersion") or "")
        group = api.split("/")[0] if "/" in api else ""
        resource = str(obj.get("kind") or "").lower() + "s"
    if group == "core":
        group = ""
    return group, resource


# --------------------------------------------------------------------------------------------------
# the normalizer

@dataclass
class _Obj:
    """What the normalizer knows about one object: its identity and the transitions emitted."""

    kind: str
    name: str
    namespace: str | None
    uid: str | None
    done: set[str] = field(default_factory=set)
    last_t: float = 0.0
    node: str | None = None
    group: str | None = None
    pool: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Ctx:
    """One record being processed: its times and whether its events are derived."""

    seq: int
    recv_ns: int
    synthetic: bool = False
    sub: int = 0


class Normalizer:
    """Stateful core of :func:`normalize`; feed records in file order, then call :meth:`finish`."""

    def __init__(self) -> None:
        self.start_ns: int | None = None
        self.started_at: str | None = None
        self.start_mono: float | None = None
        self.objects: dict[tuple[str, str | None, str], _Obj] = {}
        self.out: list[tuple[float, int, int, dict[str, Any]]] = []
        self.warnings: list[str] = []
        self.wl_by_owner: dict[tuple[str | None, str, str], str] = {}
        self.hpa_size: dict[str, int] = {}
        self.old_events = 0
        self.last_recv_ns = 0
        self.stopped: dict[str, Any] | None = None
        self._warned_streams: set[str] = set()

    # ---- time -------------------------------------------------------------------------------------
    def _recv_ns(self, rec: dict[str, Any]) -> int:
        ns = parse_time_ns(rec.get("recvWall"))
        if ns is None:
            mono = rec.get("recvMono")
            if isinstance(mono, int | float) and self.start_mono is not None and self.start_ns is not None:
                ns = self.start_ns + int((float(mono) - self.start_mono) * 1e9)
            else:
                ns = self.last_recv_ns
        return ns

    def _t(self, ctx: _Ctx, server: Any, o: _Obj | None) -> tuple[float, bool]:
        """Seconds since start for a server timestamp (or the receive time); and pre-existing?"""
        ns = parse_time_ns(server)
        if ns is None or ns > ctx.recv_ns:
            ns = ctx.recv_ns
        assert self.start_ns is not None
        t = (ns - self.start_ns) / 1e9
        pre = t < 0
        t = max(t, 0.0)
        if o is not None:
            t = max(t, o.last_t)
            o.last_t = t
        return t, pre

    # ---- emitting ---------------------------------------------------------------------------------
    def _emit(self, ctx: _Ctx, t: float, pre: bool, type_: str, o: _Obj, *, node: str | None = None,
              reason: str | None = None, data: dict[str, Any] | None = None, derived: bool = False) -> None:
        payload = dict(data or {})
        if derived or ctx.synthetic:
            payload["derived"] = True
        if pre:
            payload["preexisting"] = True
        ev = event_dict(0, round(t, 6), type_, o.kind, o.name, o.namespace, o.uid, node, o.group, reason,
                        payload or None)
        self.out.append((ev["t"], ctx.seq, ctx.sub, ev))
        ctx.sub += 1

    def _obj(self, kind: str, obj: dict[str, Any]) -> _Obj | None:
        meta = _d(obj.get("metadata"))
        name = _s(meta.get("name"))
        if name is None:
            return None
        ns = _s(meta.get("namespace"))
        uid = _s(meta.get("uid"))
        key = (kind, ns, name)
        o = self.objects.get(key)
        if o is not None and uid and o.uid and uid != o.uid:
            o = None  # deleted and re-created under the same name while we were not looking
        if o is None:
            o = _Obj(kind, name, ns, uid)
            self.objects[key] = o
        return o

    # ---- records ----------------------------------------------------------------------------------
    def feed(self, rec: dict[str, Any]) -> None:
        type_ = rec.get("type")
        if self.start_ns is None:
            if type_ == "RECORDING_STARTED":
                self.started_at = _s(rec.get("startedAt")) or _s(rec.get("recvWall"))
                self.start_ns = parse_time_ns(self.started_at)
            if self.start_ns is None:
                self.started_at = _s(rec.get("recvWall"))
                self.start_ns = parse_time_ns(self.started_at) or 0
                self.warnings.append("raw recording does not start with RECORDING_STARTED; "
                                     "times count from the first record")
            mono = rec.get("recvMono")
            self.start_mono = float(mono) if isinstance(mono, int | float) else None
            if type_ == "RECORDING_STARTED":
                return
        seq = rec.get("seq")
        ctx = _Ctx(seq if isinstance(seq, int) else len(self.out), self._recv_ns(rec),
                   bool(rec.get("synthetic")))
        self.last_recv_ns = max(self.last_recv_ns, ctx.recv_ns)
        stream = str(rec.get("stream") or "")
        if type_ == "RECORDING_STOPPED":
            self.stopped = {"why": rec.get("why"), "ctx": ctx}
            return
        if type_ == "GAP":
            self.warnings.append(f"record {ctx.seq}: stream {stream} broke ({rec.get('why')}); states "
                                 "between this gap and the relist after it may be derived")
            return
        if type_ == "SKIPPED":
            self.warnings.append(f"record {ctx.seq}: stream {stream} not recorded ({rec.get('why')})")
            return
        if type_ not in ("ADDED", "MODIFIED", "DELETED", "LIST_ITEM"):
            return  # BOOKMARK, LIST_BEGIN, LIST_END, RELIST: progress markers only
        obj = _d(rec.get("object"))
        if not obj:
            return
        group, resource = _kind_of(stream, obj)
        deleted = type_ == "DELETED"
        handler = {
            ("", "pods"): self._pod, ("", "nodes"): self._node,
            ("kueue.x-k8s.io", "workloads"): self._kueue_workload,
            ("kueue.x-k8s.io", "clusterqueues"): self._cluster_queue,
            ("kueue.x-k8s.io", "localqueues"): self._local_queue,
            ("resource.k8s.io", "resourceclaims"): self._claim,
            ("events.k8s.io", "events"): self._event, ("", "events"): self._event,
            ("scheduling.x-k8s.io", "podgroups"): self._podgroup,
            ("scheduling.k8s.io", "workloads"): self._workload_api,
            ("scheduling.k8s.io", "podgroups"): self._podgroup,
            ("autoscaling", "horizontalpodautoscalers"): self._hpa,
        }.get((group, resource))
        if handler is None:
            if (group, resource) in _KNOWN_UNMAPPED:
                return
            if stream not in self._warned_streams:
                self._warned_streams.add(stream)
                self.warnings.append(f"stream {stream or resource!r}: no timeline mapping; its records "
                                     "stay in the raw file only")
            return
        handler(ctx, obj, deleted)

    # ---- pods -------------------------------------------------------------------------------------
    def _pod_group(self, obj: dict[str, Any]) -> tuple[str | None, str | None]:
        """``(gang key, pod set)`` of a pod, from the scheduling API, PodGroup labels or Kueue."""
        meta, spec = _d(obj.get("metadata")), _d(obj.get("spec"))
        ns = _s(meta.get("namespace")) or ""
        labels, ann = _d(meta.get("labels")), _d(meta.get("annotations"))
        sg = _d(spec.get("schedulingGroup"))
        if _s(sg.get("podGroupName")):
            return f"{ns}/{sg['podGroupName']}", None
        wr = _d(spec.get("workloadRef"))
        if _s(wr.get("name")):
            return f"{ns}/{wr['name']}", _s(wr.get("podGroup"))
        pod_set = _s(labels.get("kueue.x-k8s.io/podset")) or _s(ann.get("kueue.x-k8s.io/podset"))
        for key in ("scheduling.x-k8s.io/pod-group", "pod-group.scheduling.sigs.k8s.io"):
            if _s(labels.get(key)):
                return f"{ns}/{labels[key]}", pod_set
        for key in ("kueue.x-k8s.io/workload", "kueue.x-k8s.io/workload-name"):
            value = _s(ann.get(key)) or _s(labels.get(key))
            if value:
                return f"{ns}/{value}", pod_set
        if _s(labels.get("kueue.x-k8s.io/pod-group-name")):
            # plain-pod groups: Kueue names the Workload after the group
            return f"{ns}/{labels['kueue.x-k8s.io/pod-group-name']}", pod_set
        owner = _owner(meta)
        if owner is not None:
            wl = self.wl_by_owner.get((ns, owner["kind"], owner["name"]))
            if wl is not None:
                return wl, pod_set
        return None, pod_set

    def _pod(self, ctx: _Ctx, obj: dict[str, Any], deleted: bool) -> None:
        o = self._obj("Pod", obj)
        if o is None:
            return
        meta, spec, status = _d(obj.get("metadata")), _d(obj.get("spec")), _d(obj.get("status"))
        if "created" not in o.done:
            o.done.add("created")
            o.group, pod_set = self._pod_group(obj)
            owner = _owner(meta)
            data: dict[str, Any] = {
                "requests": pod_requests(spec),
                "priority": spec.get("priority") if isinstance(spec.get("priority"), int) else 0,
                "workload": owner["name"] if owner else (o.group.split("/", 1)[1] if o.group else o.name),
            }
            if owner:
                data["owner"] = owner
            if _d(spec.get("nodeSelector")):
                data["nodeSelector"] = spec["nodeSelector"]
            if _l(spec.get("tolerations")):
                data["tolerations"] = spec["tolerations"]
            required = _d(_d(spec.get("affinity")).get("nodeAffinity")).get(
                "requiredDuringSchedulingIgnoredDuringExecution")
            if required:
                data["affinity"] = {
                    "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": required}}
            if _l(spec.get("resourceClaims")):
                data["claims"] = spec["resourceClaims"]
            if pod_set:
                data["podSet"] = pod_set
            t, pre = self._t(ctx, meta.get("creationTimestamp"), o)
            self._emit(ctx, t, pre, "PodCreated", o, data=data)
        node = _s(spec.get("nodeName"))
        phase = status.get("phase")
        reached = -1
        if node:
            reached = 0
        if phase == "Running":
            reached = 1
        if phase in ("Succeeded", "Failed"):
            reached = 2
        if node:
            o.node = node
        cstats = [_d(c) for c in _l(status.get("containerStatuses"))]
        for stage in range(reached + 1):
            key = _POD_STAGES[stage]
            if key in o.done:
                continue
            o.done.add(key)
            derived = stage < reached
            if stage == 0 and o.node is None:
                continue
            if stage == 0:
                cond = _condition(obj, "PodScheduled")
                when = cond.get("lastTransitionTime") if cond and cond.get("status") == "True" else None
                t, pre = self._t(ctx, when, o)
                self._emit(ctx, t, pre, "Scheduled", o, node=o.node, derived=derived,
                           reason=f"Successfully assigned {o.namespace}/{o.name} to {o.node}")
            elif stage == 1:
                starts = [_d(st).get("startedAt") for c in cstats
                          for st in (_d(c.get("state")).get("running"), _d(c.get("state")).get("terminated"))
                          if _d(st).get("startedAt")]
                ns_times = sorted(n for n in (parse_time_ns(s) for s in starts) if n is not None)
                if derived and not ns_times:
                    continue  # ended without ever running (e.g. rejected by the kubelet)
                t, pre = self._t(ctx, _rfc(ns_times[0]) if ns_times else None, o)
                self._emit(ctx, t, pre, "PodRunning", o, node=o.node, derived=derived)
            else:
                ends = [parse_time_ns(_d(_d(c.get("state")).get("terminated")).get("finishedAt"))
                        for c in cstats]
                known = [n for n in ends if n is not None]
                t, pre = self._t(ctx, _rfc(max(known)) if known else None, o)
                self._emit(ctx, t, pre, "PodSucceeded" if phase == "Succeeded" else "PodFailed", o,
                           node=o.node, derived=derived)
        if deleted and "deleted" not in o.done:
            o.done.add("deleted")
            cond = _condition(obj, "DisruptionTarget")
            why = _s(cond.get("message")) if cond and cond.get("status") == "True" else None
            t, pre = self._t(ctx, None, o)
            self._emit(ctx, t, pre, "PodDeleted", o, node=o.node, reason=why)
            self.objects.pop(("Pod", o.namespace, o.name), None)

    # ---- nodes ------------------------------------------------------------------------------------
    def _node(self, ctx: _Ctx, obj: dict[str, Any], deleted: bool) -> None:
        o = self._obj("Node", obj)
        if o is None:
            return
        meta, spec, status = _d(obj.get("metadata")), _d(obj.get("spec")), _d(obj.get("status"))
        labels = {k: v for k, v in sorted(_d(meta.get("labels")).items())}
        o.pool = node_pool(labels)
        ready = _condition(obj, "Ready")
        if ready and ready.get("status") == "True" and "ready" not in o.done and not deleted:
            o.done.add("ready")
            taints = [{k: tt[k] for k in ("key", "value", "effect") if k in tt}
                      for tt in (_d(x) for x in _l(spec.get("taints")))]
            alloc = {k: c for k, c in ((k, _canonical(v))
                                       for k, v in sorted(_d(status.get("allocatable")).items()))
                     if c is not None}
            t, pre = self._t(ctx, ready.get("lastTransitionTime"), o)
            self._emit(ctx, t, pre, "NodeReady", o, data={
                "pool": o.pool, "labels": labels, "taints": taints, "allocatable": alloc})
        if deleted:
            t, pre = self._t(ctx, None, o)
            self._emit(ctx, t, pre, "NodeRemoved", o, data={"pool": o.pool})
            self.objects.pop(("Node", None, o.name), None)

    # ---- Kueue --------------------------------------------------------------------------------------
    def _kueue_workload(self, ctx: _Ctx, obj: dict[str, Any], deleted: bool) -> None:
        o = self._obj("Workload", obj)
        if o is None:
            return
        meta, spec, status = _d(obj.get("metadata")), _d(obj.get("spec")), _d(obj.get("status"))
        o.group = f"{o.namespace}/{o.name}" if o.namespace else o.name
        owner = _owner(meta)
        if owner:
            self.wl_by_owner[(o.namespace, owner["kind"], owner["name"])] = o.group
        admission = _d(status.get("admission"))
        cq = _s(admission.get("clusterQueue")) or o.extra.get("clusterQueue")
        if cq:
            o.extra["clusterQueue"] = cq
        if "created" not in o.done:
            o.done.add("created")
            pod_sets = []
            min_count = total = 0
            for ps in (_d(p) for p in _l(spec.get("podSets"))):
                count: int = ps["count"] if isinstance(ps.get("count"), int) else 1
                entry: dict[str, Any] = {"name": ps.get("name") or "main", "count": count}
                if isinstance(ps.get("minCount"), int):
                    entry["minCount"] = ps["minCount"]
                entry["requests"] = pod_requests(_d(_d(ps.get("template")).get("spec")))
                pod_sets.append(entry)
                total += count
                min_count += int(entry.get("minCount", count))
            data: dict[str, Any] = {"policy": "kueue"}
            if _s(spec.get("queueName")):
                data["queue"] = spec["queueName"]
            if cq:
                data["clusterQueue"] = cq
            data.update({"minCount": min_count, "pods": total,
                         "priority": spec.get("priority") if isinstance(spec.get("priority"), int) else 0,
                         "podSets": pod_sets})
            t, pre = self._t(ctx, meta.get("creationTimestamp"), o)
            self._emit(ctx, t, pre, "WorkloadCreated", o, data=data)
        for ctype in ("QuotaReserved", "Admitted", "PodsReady", "Evicted", "Finished"):
            cond = _condition(obj, ctype)
            if not cond or cond.get("status") != "True":
                continue
            key = f"{ctype}@{cond.get('lastTransitionTime')}"
            if key in o.done:
                continue
            o.done.add(key)
            t, pre = self._t(ctx, cond.get("lastTransitionTime"), o)
            if ctype == "QuotaReserved":
                self._emit(ctx, t, pre, "QuotaReserved", o, data=_reservation(admission, cq))
            elif ctype == "Admitted":
                self._emit(ctx, t, pre, "Admitted", o, data={"clusterQueue": cq} if cq else None)
            elif ctype == "PodsReady":
                self._emit(ctx, t, pre, "PodsReady", o)
            elif ctype == "Evicted":
                data = {"clusterQueue": cq} if cq else {}
                if _s(cond.get("message")):
                    data["message"] = cond["message"]
                self._emit(ctx, t, pre, "Evicted", o, reason=_s(cond.get("reason")), data=data)
            else:
                self._emit(ctx, t, pre, "WorkloadFinished", o, reason=_s(cond.get("reason")))
        self._requeued(ctx, obj, o)
        if deleted:
            self.objects.pop(("Workload", o.namespace, o.name), None)

    def _requeued(self, ctx: _Ctx, obj: dict[str, Any], o: _Obj) -> None:
        """Requeued: once per ``status.requeueState.requeueAt`` (an eviction with backoff), or when the
        ``Requeued`` condition turns True without any backoff recorded."""
        cond = _condition(obj, "Requeued")
        requeue_at = _s(_d(_d(obj.get("status")).get("requeueState")).get("requeueAt"))
        if requeue_at:
            key = f"Requeued@{requeue_at}"
            when = cond.get("lastTransitionTime") if cond else None
        elif cond and cond.get("status") == "True":
            key = f"RequeuedTrue@{cond.get('lastTransitionTime')}"
            when = cond.get("lastTransitionTime")
        else:
            return
        if key in o.done or (not requeue_at and any(k.startswith("Requeued@") for k in o.done)):
            o.done.add(key)
            return
        o.done.add(key)
        t, pre = self._t(ctx, when, o)
        at_ns = parse_time_ns(requeue_at)
        assert self.start_ns is not None
        at = max(t, (at_ns - self.start_ns) / 1e9) if at_ns is not None else t
        self._emit(ctx, t, pre, "Requeued", o, data={"backoffSeconds": round(at - t, 6),
                                                    "requeueAt": round(at, 6)})

    def _cluster_queue(self, ctx: _Ctx, obj: dict[str, Any], deleted: bool) -> None:
        o = self._obj("ClusterQueue", obj)
        if o is None or deleted:
            return
        spec = _d(obj.get("spec"))
        data: dict[str, Any] = {}
        cohort = _s(spec.get("cohortName")) or _s(spec.get("cohort"))
        if cohort:
            data["cohort"] = cohort
        data["queueingStrategy"] = _s(spec.get("queueingStrategy")) or "BestEffortFIFO"
        groups = []
        for rg in (_d(g) for g in _l(spec.get("resourceGroups"))):
            flavors = []
            for fl in (_d(f) for f in _l(rg.get("flavors"))):
                resources = []
                for r in (_d(x) for x in _l(fl.get("resources"))):
                    res: dict[str, Any] = {"name": r.get("name")}
                    for k in ("nominalQuota", "borrowingLimit", "lendingLimit"):
                        if r.get(k) is not None:
                            res[k] = _canonical(r[k]) or str(r[k])
                    resources.append(res)
                flavors.append({"name": fl.get("name"), "resources": resources})
            groups.append({"coveredResources": _l(rg.get("coveredResources")), "flavors": flavors})
        data["resourceGroups"] = groups
        if _d(spec.get("preemption")):
            data["preemption"] = spec["preemption"]
        self._queue_configured(ctx, obj, o, data)

    def _local_queue(self, ctx: _Ctx, obj: dict[str, Any], deleted: bool) -> None:
        o = self._obj("LocalQueue", obj)
        if o is None or deleted:
            return
        self._queue_configured(ctx, obj, o, {"clusterQueue": _d(obj.get("spec")).get("clusterQueue")})

    def _queue_configured(self, ctx: _Ctx, obj: dict[str, Any], o: _Obj, data: dict[str, Any]) -> None:
        key = "cfg:" + json.dumps(data, sort_keys=True)
        if key in o.done:
            return
        first = not any(k.startswith("cfg:") for k in o.done)
        o.done.add(key)
        when = _d(obj.get("metadata")).get("creationTimestamp") if first else None
        t, pre = self._t(ctx, when, o)
        self._emit(ctx, t, pre, "QueueConfigured", o, data=data)

    # ---- gang APIs other than Kueue ------------------------------------------------------------------
    def _podgroup(self, ctx: _Ctx, obj: dict[str, Any], deleted: bool) -> None:
        o = self._obj("PodGroup", obj)
        if o is None or deleted or "created" in o.done:
            return
        o.done.add("created")
        spec = _d(obj.get("spec"))
        o.group = f"{o.namespace}/{o.name}" if o.namespace else o.name
        gang = _d(_d(spec.get("schedulingPolicy")).get("gang"))
        min_count = spec.get("minMember") if isinstance(spec.get("minMember"), int) else gang.get("minCount")
        policy = "coscheduling" if "minMember" in spec else "workload-api"
        data: dict[str, Any] = {"policy": policy, "minCount": min_count if isinstance(min_count, int) else 1,
                                "pods": min_count if isinstance(min_count, int) else 1, "priority": 0,
                                "podSets": []}
        if isinstance(spec.get("scheduleTimeoutSeconds"), int):
            data["timeoutSeconds"] = spec["scheduleTimeoutSeconds"]
        t, pre = self._t(ctx, _d(obj.get("metadata")).get("creationTimestamp"), o)
        self._emit(ctx, t, pre, "WorkloadCreated", o, data=data)

    def _workload_api(self, ctx: _Ctx, obj: dict[str, Any], deleted: bool) -> None:
        o = self._obj("Workload", obj)
        if o is None or deleted or "created" in o.done:
            return
        o.done.add("created")
        o.group = f"{o.namespace}/{o.name}" if o.namespace else o.name
        spec = _d(obj.get("spec"))
        pod_sets = []
        total = 0
        for pg in (_d(p) for p in _l(spec.get("podGroups")) + _l(spec.get("podGroupTemplates"))):
            pol = _d(pg.get("policy")) or _d(pg.get("schedulingPolicy"))
            mc = _d(pol.get("gang")).get("minCount")
            entry: dict[str, Any] = {"name": pg.get("name"), "count": mc if isinstance(mc, int) else 1}
            if isinstance(mc, int):
                entry["minCount"] = mc
            entry["requests"] = {}
            pod_sets.append(entry)
            total += entry["count"]
        t, pre = self._t(ctx, _d(obj.get("metadata")).get("creationTimestamp"), o)
        self._emit(ctx, t, pre, "WorkloadCreated", o, data={
            "policy": "workload-api", "minCount": total, "pods": total, "priority": 0, "podSets": pod_sets})

    # ---- DRA ----------------------------------------------------------------------------------------
    def _claim(self, ctx: _Ctx, obj: dict[str, Any], deleted: bool) -> None:
        o = self._obj("ResourceClaim", obj)
        if o is None:
            return
        meta, status = _d(obj.get("metadata")), _d(obj.get("status"))
        owner = _owner(meta)
        reserved = [_d(r) for r in _l(status.get("reservedFor")) if _d(r).get("resource") == "pods"]
        pod = _s(reserved[0].get("name")) if reserved else (
            owner["name"] if owner and owner["kind"] == "Pod" else o.extra.get("pod"))
        if pod:
            o.extra["pod"] = pod
        if "created" not in o.done:
            o.done.add("created")
            t, pre = self._t(ctx, meta.get("creationTimestamp"), o)
            self._emit(ctx, t, pre, "ClaimCreated", o, data={"pod": pod} if pod else None)
        alloc = _d(status.get("allocation"))
        if alloc and "allocated" not in o.done:
            o.done.add("allocated")
            o.node = _allocation_node(alloc)
            o.extra["devices"] = _claim_devices(obj)
            data: dict[str, Any] = {"devices": o.extra["devices"]}
            if pod:
                data["pod"] = pod
            t, pre = self._t(ctx, alloc.get("allocationTimestamp"), o)
            self._emit(ctx, t, pre, "ClaimAllocated", o, node=o.node, data=data)
        if "allocated" in o.done and (deleted or not alloc):
            o.done.discard("allocated")
            data = {"devices": o.extra.get("devices", [])}
            if o.extra.get("pod"):
                data["pod"] = o.extra["pod"]
            t, pre = self._t(ctx, None, o)
            self._emit(ctx, t, pre, "ClaimReleased", o, node=o.node, data=data)
        if deleted:
            self.objects.pop(("ResourceClaim", o.namespace, o.name), None)

    # ---- HPAs: only their current size, the ``from`` of the next SuccessfulRescale --------------
    def _hpa(self, ctx: _Ctx, obj: dict[str, Any], deleted: bool) -> None:
        meta = _d(obj.get("metadata"))
        key = f"{meta.get('namespace')}/{meta.get('name')}"
        current = _d(obj.get("status")).get("currentReplicas")
        if deleted:
            self.hpa_size.pop(key, None)
        elif isinstance(current, int):
            self.hpa_size[key] = current

    # ---- Kubernetes Events ----------------------------------------------------------------------------
    def _event(self, ctx: _Ctx, obj: dict[str, Any], deleted: bool) -> None:
        reason = obj.get("reason")
        if deleted or reason not in EVENT_REASONS:
            return
        e = self._obj("Event", obj)
        if e is None:
            return
        regarding = _d(obj.get("regarding")) or _d(obj.get("involvedObject"))
        kind, name = _s(regarding.get("kind")), _s(regarding.get("name"))
        if kind is None or name is None:
            return
        ns = _s(regarding.get("namespace"))
        series = _d(obj.get("series"))
        count = series.get("count") or obj.get("deprecatedCount") or obj.get("count") or 1
        key = f"n={count}"
        if key in e.done:
            return
        e.done.add(key)
        when = (series.get("lastObservedTime") or obj.get("eventTime")
                or obj.get("deprecatedLastTimestamp") or obj.get("lastTimestamp")
                or obj.get("deprecatedFirstTimestamp") or obj.get("firstTimestamp"))
        t, pre = self._t(ctx, when, None)
        if pre:
            self.old_events += 1
            return
        target = self.objects.get((kind, ns, name))
        subject = target or _Obj(kind, name, ns, _s(regarding.get("uid")))
        if target is not None:
            t = max(t, target.last_t)
        note = _s(obj.get("note")) or _s(obj.get("message"))
        data: dict[str, Any] = {}
        node: str | None = None
        if reason == "FailedScheduling" and isinstance(count, int) and count > 1:
            data["attempts"] = count
        elif reason == "Preempted" and note:
            m = re.search(r"by (?:pod )?(\S+) on node (\S+)", note)
            if m:
                data["preemptor"] = m.group(1)
                node = m.group(2)
            node = node or (target.node if target else None)
        elif reason in ("TriggeredScaleUp",) and note:
            m = re.search(r"\{?([^\s{\[]+) (\d+)->(\d+)", note)
            if m:
                data.update({"pool": m.group(1), "from": int(m.group(2)), "to": int(m.group(3))})
        elif reason == "ScaleDown" and target is not None and target.pool:
            data["pool"] = target.pool
        elif reason == "SuccessfulRescale" and note:
            m = re.search(r"New size: (\d+); reason: (.*)$", note)
            hpa = f"{ns}/{name}"
            if m:
                to = int(m.group(1))
                if hpa in self.hpa_size:
                    data["from"] = self.hpa_size[hpa]
                data["to"] = to
                data["metric"] = m.group(2)
                self.hpa_size[hpa] = to
        self._emit(ctx, t, False, reason, subject, node=node, reason=note, data=data)

    # ---- end --------------------------------------------------------------------------------------
    def finish(self) -> tuple[list[dict[str, Any]], list[str]]:
        if self.start_ns is None:
            self.start_ns = 0
            self.warnings.append("raw recording is empty")
        if self.old_events:
            self.warnings.append(f"{self.old_events} Kubernetes Event(s) from before the recording started "
                                 "were skipped (history the timeline does not hold)")
        pending = sorted(f"{o.namespace}/{o.name}" for o in self.objects.values()
                         if o.kind == "Pod" and "Scheduled" not in o.done)
        stopped = self.stopped
        if stopped is not None:
            ctx: _Ctx = stopped["ctx"]
            why = "duration" if stopped["why"] == "duration" else "interrupted"
        else:
            ctx = _Ctx(1 << 62, self.last_recv_ns or self.start_ns)
            why = "interrupted"
            self.warnings.append("raw recording has no RECORDING_STOPPED: the recorder was killed; "
                                 "RunFinished is placed at the last record")
        t, _ = self._t(ctx, None, None)
        self.out.sort(key=lambda x: (x[0], x[1], x[2]))
        header = event_dict(0, 0.0, "RunStarted", "Run", "run", data={
            "schemaVersion": SCHEMA_VERSION, "source": "live",
            **({"startedAt": self.started_at} if self.started_at else {})})
        events = [header]
        for i, (_, _, _, ev) in enumerate(self.out, start=1):
            ev["seq"] = i
            events.append(ev)
        events.append(event_dict(len(events), max(t, events[-1]["t"]), "RunFinished", "Run", "run",
                                 reason=why, data={"pending": len(pending)}))
        return events, self.warnings


def _rfc(ns: int) -> str:
    secs, frac = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:09d}Z"


def _reservation(admission: dict[str, Any], cq: str | None) -> dict[str, Any]:
    """QuotaReserved payload from ``status.admission``: flavors per pod set and usage per flavor."""
    flavors: dict[str, dict[str, str]] = {}
    usage_maps: dict[str, list[dict[str, Any]]] = {}
    for psa in (_d(p) for p in _l(admission.get("podSetAssignments"))):
        ps_name = str(psa.get("name") or "main")
        fl = {str(k): str(v) for k, v in sorted(_d(psa.get("flavors")).items())}
        flavors[ps_name] = fl
        for res, qty in _d(psa.get("resourceUsage")).items():
            flavor = fl.get(res)
            if flavor is not None:
                usage_maps.setdefault(flavor, []).append({res: qty})
    data: dict[str, Any] = {}
    if cq:
        data["clusterQueue"] = cq
    data["flavors"] = flavors
    data["usage"] = {f: sum_resources(maps) for f, maps in sorted(usage_maps.items())}
    return data


def normalize(records: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Turn raw recording records (file order) into timeline events and warnings.

    The events start with the ``RunStarted`` header and end with ``RunFinished``; each is a dict in
    :func:`models.timeline.event_dict` shape with ``seq`` numbered in output order.
    """
    n = Normalizer()
    for rec in records:
        if isinstance(rec, dict):
            n.feed(rec)
    return n.finish()


def normalize_file(raw_path: str | Path, out_path: str | Path) -> list[str]:
    """Normalize a raw recording file into a timeline file; returns the warnings."""
    records, warnings = read_raw_records(raw_path)
    events, more = normalize(records)
    with TimelineWriter(out_path) as w:
        head = events[0]["data"]
        w.header("live", started_at=head.get("startedAt"))
        for ev in events[1:]:
            obj = ev["obj"]
            w.emit(ev["t"], ev["type"], obj["kind"], obj["name"], obj.get("namespace"), uid=obj.get("uid"),
                   node=ev.get("node"), group=ev.get("group"), reason=ev.get("reason"), data=ev.get("data"))
    return warnings + more
