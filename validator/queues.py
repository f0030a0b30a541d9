"""Per-queue metrics from a timeline: how Kueue's ClusterQueues and LocalQueues served their workloads.

Kueue users watch each ClusterQueue's pending and admitted workloads, its usage against nominal quota
and how much it borrows from its cohort (``kueue_pending_workloads``, ``kueue_cluster_queue_resource_usage``,
``kueue_admission_wait_time_seconds``…). :func:`queue_summary` computes the same picture from any
timeline, per ClusterQueue and per LocalQueue, as plain dicts:

* ``workloads`` created, ``admitted`` (distinct workloads admitted at least once), ``admissions``
  (``Admitted`` events, re-admissions included), ``pendingAtEnd`` (created, not finished, not admitted
  when the timeline ends);
* ``timeToAdmission`` — ``WorkloadCreated`` → first ``Admitted``, seconds: ``count``, ``p50``, ``p95``,
  ``max``. A workload never admitted by the end of the timeline has waited until the end: it is
  counted with that wait, and ``stillPending`` says how many of ``count`` were counted so.
  Percentiles use **linear interpolation between closest ranks** (numpy's default ``linear``
  method): for sorted values x₀…xₙ₋₁ and fraction p, position (n−1)·p, interpolated between its
  neighbours;
* ``usage`` (ClusterQueues) — per flavor and resource, from quota reservations held between
  ``QuotaReserved`` and ``Evicted``/``WorkloadFinished``: time-weighted ``mean`` and ``peak`` over the run
  (resource units: cores, bytes, devices), ``nominal``, ``utilization`` = mean / nominal, and
  ``borrowedShare`` = the fraction of usage (integrated over time) above nominal quota;
* ``evictions`` by reason; ``preemptions`` — ``victims`` (this queue's workloads evicted with reason
  ``Preempted``) and ``caused`` (evictions whose ``preemptor`` belongs to this queue).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from models.timeline import Event
from validator.checks.common import milli, prepare


def percentile(values: Sequence[float], p: float) -> float | None:
    """The p-th quantile (0 ≤ p ≤ 1) with linear interpolation (numpy's default); None if empty."""
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * p
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


@dataclass(slots=True)
class _Wl:
    created: float | None = None
    cls: str | None = None  # the workload class: WorkloadCreated data.workload (the generator / Job name)
    cq: str | None = None
    lq: str | None = None
    first_admitted: float | None = None
    admitted: bool = False
    finished: bool = False
    holding: dict[tuple[str, str], int] | None = None
    holding_cq: str | None = None


@dataclass(slots=True)
class _Series:
    """A piecewise-constant usage curve integrated as it goes."""

    value: int = 0
    last_t: float = 0.0
    area: float = 0.0
    over_area: float = 0.0
    peak: int = 0
    nominal: int | None = None

    def step(self, t: float, delta: int) -> None:
        self.advance(t)
        self.value += delta
        self.peak = max(self.peak, self.value)

    def advance(self, t: float) -> None:
        dt = t - self.last_t
        if dt > 0:
            self.area += self.value * dt
            if self.nominal is not None and self.value > self.nominal:
                self.over_area += (self.value - self.nominal) * dt
            self.last_t = t


@dataclass(slots=True)
class _Queue:
    workloads: set[str] = field(default_factory=set)
    admitted: set[str] = field(default_factory=set)
    admissions: int = 0
    waits: list[float] = field(default_factory=list)
    still_pending: int = 0
    evictions: dict[str, int] = field(default_factory=dict)
    victims: int = 0
    caused: int = 0


def _never_admitted(w: _Wl) -> bool:
    """Created, never admitted and not finished: pending at the end of the timeline."""
    return w.created is not None and w.first_admitted is None and not w.finished


def queue_summary(events: Sequence[Event]) -> dict[str, Any]:
    """Per-ClusterQueue and per-LocalQueue admission, usage and eviction metrics."""
    evs = prepare(events)
    start = evs[0].t if evs else 0.0
    end = evs[-1].t if evs else 0.0
    lq_to_cq: dict[str, str] = {}
    wls: dict[str, _Wl] = {}
    cqs: dict[str, _Queue] = {}
    lqs: dict[str, _Queue] = {}
    series: dict[str, dict[tuple[str, str], _Series]] = {}
    nominal: dict[str, dict[tuple[str, str], int]] = {}

    def queues_of(w: _Wl) -> list[_Queue]:
        out = []
        if w.cq:
            out.append(cqs.setdefault(w.cq, _Queue()))
        if w.lq:
            out.append(lqs.setdefault(w.lq, _Queue()))
        return out

    def curve(cq: str, fr: tuple[str, str], t: float) -> _Series:
        s = series.setdefault(cq, {}).get(fr)
        if s is None:
            s = series[cq][fr] = _Series(last_t=start, nominal=nominal.get(cq, {}).get(fr))
            s.advance(t)
        return s

    def release(w: _Wl, t: float) -> None:
        if w.holding is not None and w.holding_cq is not None:
            for fr, m in w.holding.items():
                curve(w.holding_cq, fr, t).step(t, -m)
        w.holding = None

    for ev, k in zip(evs, evs.keys, strict=True):
        typ, t = ev.type, ev.t
        if typ == "WorkloadCreated":
            d = ev.data
            if d.get("policy") != "kueue" and not d.get("queue"):
                continue
            w = wls.setdefault(k, _Wl())
            w.created = t
            w.cls = str(d["workload"]) if d.get("workload") else None
            w.lq = f"{ev.namespace}/{d['queue']}" if d.get("queue") and ev.namespace else d.get("queue")
            w.cq = d.get("clusterQueue") or (lq_to_cq.get(w.lq) if w.lq else None)
            for q in queues_of(w):
                q.workloads.add(k)
        elif typ == "QuotaReserved":
            w = wls.setdefault(k, _Wl())
            release(w, t)
            cq = str(ev.data.get("clusterQueue") or w.cq or "")
            if w.cq is None:
                w.cq = cq
                cqs.setdefault(cq, _Queue()).workloads.add(k)
            held: dict[tuple[str, str], int] = {}
            for flavor, rs in (ev.data.get("usage") or {}).items():
                for r, q in (rs or {}).items():
                    try:
                        held[(flavor, r)] = held.get((flavor, r), 0) + milli(q)
                    except (ValueError, TypeError):
                        continue
            for fr, m in held.items():
                curve(cq, fr, t).step(t, m)
            w.holding, w.holding_cq = held, cq
        elif typ == "Admitted":
            w = wls.setdefault(k, _Wl())
            if w.cq is None and ev.data.get("clusterQueue"):
                w.cq = str(ev.data["clusterQueue"])
            w.admitted = True
            first = w.first_admitted is None
            if first:
                w.first_admitted = t
            for q in queues_of(w):
                q.admissions += 1
                q.workloads.add(k)
                q.admitted.add(k)
                if first and w.created is not None:
                    q.waits.append(t - w.created)
        elif typ == "Evicted":
            w = wls.setdefault(k, _Wl())
            w.admitted = False
            release(w, t)
            reason = ev.reason or "Unknown"
            for q in queues_of(w):
                q.evictions[reason] = q.evictions.get(reason, 0) + 1
                if reason == "Preempted":
                    q.victims += 1
            pre = ev.data.get("preemptor")
            pw = wls.get(str(pre)) if pre else None
            if pw is not None:
                for q in queues_of(pw):
                    q.caused += 1
        elif typ == "WorkloadFinished":
            w = wls.setdefault(k, _Wl())
            w.admitted = False
            w.finished = True
            release(w, t)
        elif typ == "QueueConfigured":
            if ev.kind == "LocalQueue" and ev.data.get("clusterQueue"):
                lq_to_cq[k] = str(ev.data["clusterQueue"])
            elif ev.kind == "ClusterQueue":
                nom: dict[tuple[str, str], int] = {}
                for rg in ev.data.get("resourceGroups") or []:
                    for fl in rg.get("flavors") or []:
                        for r in fl.get("resources") or []:
                            fr = (str(fl.get("name")), str(r.get("name")))
                            try:
                                nom[fr] = milli(r.get("nominalQuota", 0))
                            except (ValueError, TypeError):
                                continue
                nominal[ev.name] = nom
                cqs.setdefault(ev.name, _Queue())
                for fr2, s in series.get(ev.name, {}).items():
                    s.advance(t)
                    s.nominal = nom.get(fr2)
    span = end - start
    pending: dict[int, int] = {}
    for w in wls.values():
        if not w.admitted and not w.finished:
            for q in queues_of(w):
                pending[id(q)] = pending.get(id(q), 0) + 1
        if _never_admitted(w):
            assert w.created is not None
            for q in queues_of(w):  # it has waited until the end of the timeline, and still waits
                q.waits.append(end - w.created)
                q.still_pending += 1

    def common(q: _Queue) -> dict[str, Any]:
        return {
            "workloads": len(q.workloads),
            "admitted": len(q.admitted),
            "admissions": q.admissions,
            "pendingAtEnd": pending.get(id(q), 0),
            "timeToAdmission": {"count": len(q.waits), "p50": percentile(q.waits, 0.5),
                                "p95": percentile(q.waits, 0.95), "max": max(q.waits) if q.waits else None,
                                "stillPending": q.still_pending},
            "evictions": dict(sorted(q.evictions.items())),
            "preemptions": {"victims": q.victims, "caused": q.caused},
        }

    out_cq: dict[str, Any] = {}
    for name in sorted(cqs):
        d = common(cqs[name])
        usage: dict[str, dict[str, Any]] = {}
        frs = set(series.get(name, {})) | set(nominal.get(name, {}))
        for fr in sorted(frs):
            s = series.get(name, {}).get(fr) or _Series(last_t=start, nominal=nominal.get(name, {}).get(fr))
            s.advance(end)
            mean = s.area / span / 1000 if span > 0 else s.value / 1000
            nq = None if s.nominal is None else s.nominal / 1000
            usage.setdefault(fr[0], {})[fr[1]] = {
                "mean": mean,
                "peak": s.peak / 1000,
                "nominal": nq,
                "utilization": mean / nq if nq else None,
                "borrowedShare": s.over_area / s.area if s.area > 0 else None,
            }
        d["usage"] = usage
        out_cq[name] = d
    classes: dict[str, list[float]] = {}
    counts: dict[str, int] = {}
    still: dict[str, int] = {}
    for w in wls.values():
        if w.cls is None:
            continue
        counts[w.cls] = counts.get(w.cls, 0) + 1
        waits = classes.setdefault(w.cls, [])
        if w.first_admitted is not None and w.created is not None:
            waits.append(w.first_admitted - w.created)
        elif _never_admitted(w) and w.created is not None:
            waits.append(end - w.created)
            still[w.cls] = still.get(w.cls, 0) + 1
    by_class = {c: {"workloads": counts[c], "admitted": len(v) - still.get(c, 0),
                    "meanTimeToAdmission": sum(v) / len(v) if v else None,
                    "p50": percentile(v, 0.5), "p95": percentile(v, 0.95), "max": max(v) if v else None,
                    "stillPending": still.get(c, 0)}
                for c, v in sorted(classes.items())}
    return {
        "percentileMethod": "linear",
        "window": {"start": start, "end": end},
        "clusterQueues": out_cq,
        "localQueues": {name: common(lqs[name]) for name in sorted(lqs)},
        "workloadClasses": by_class,
    }
