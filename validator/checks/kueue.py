"""Kueue: quota-level all-or-nothing admission, waitForPodsReady and whole-workload eviction.

Kueue admits a Workload by reserving quota for all its pod sets at once in a ClusterQueue
(``QuotaReserved``), then ``Admitted`` unsuspends the Job so its pods are created. A ClusterQueue may
borrow unused nominal quota from the other queues of its cohort, up to its ``borrowingLimit``, and
lends at most its ``lendingLimit``. With ``waitForPodsReady`` a workload whose pods are not all ready
``timeout`` after admission is evicted (reason ``PodsReadyTimeout``) and requeued after an exponential
backoff. An eviction (preemption, timeout, …) suspends the whole Job: all its pods go at once.

Invariants (k8s-semantics §2e), for workloads whose ``WorkloadCreated`` policy is ``kueue``:

* ``G6`` quota all-or-nothing — pods are created and scheduled only while the workload is admitted
  (``Admitted`` needs a ``QuotaReserved`` first; a workload holds one reservation at a time); per
  ClusterQueue/flavor/resource the usage of the workloads holding quota ≤ nominalQuota +
  borrowingLimit (no cohort: ≤ nominalQuota; no borrowingLimit: bounded by the cohort), and per
  cohort Σ usage above each queue's guaranteed part (nominal − lendingLimit) ≤ Σ lendable quota
  (lendingLimit, or nominal when unset).
* ``G7`` PodsReady timeout — with waitForPodsReady on (header ``waitForPodsReady``; Kueue ≥ 0.19
  defaults: enabled, 1800 s, backoff 60 s·2^(n−1) capped at 3600 s, blockAdmission off): a workload
  admitted at tₐ without ``PodsReady`` by tₐ+timeout is ``Evicted``/``PodsReadyTimeout`` at
  tₐ+timeout ± 1 s; its next ``QuotaReserved`` comes no earlier than eviction + backoff; with
  blockAdmission no other workload is admitted while one waits for its pods.
* ``G8`` whole-gang eviction — at ``Evicted`` every active pod of the workload gets ``PodDeleted`` or
  ``Preempted`` at the same instant; no pod runs while its workload holds no admission.

Live recordings: pod and Workload events come from different watches with one-second timestamps, so a
pod event up to the tolerance (1 s) before its workload's ``Admitted`` is accepted; pods of an evicted
workload may take the grace period to disappear; events of objects that pre-date the recording
(``data.preexisting``) are not judged for order, and a pre-existing admission only for a late timeout.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from models.timeline import Event
from validator.checks.common import (
    Finding,
    PassResult,
    fmt_t,
    header,
    milli,
    pod_ref,
    prepare,
    qty,
    tolerance,
    workload_ref,
)

#: Kueue ≥ 0.19 waitForPodsReady defaults (apis/config/v1beta2/defaults.go).
WAIT_FOR_PODS_READY_DEFAULTS: dict[str, Any] = {
    "enabled": True, "timeoutSeconds": 1800, "backoffBaseSeconds": 60, "backoffMaxSeconds": 3600,
    "blockAdmission": False,
}
#: How far a PodsReadyTimeout eviction may be from admission + timeout (the controller's requeue tick).
TIMEOUT_SLACK = 1.0
#: Live recordings see a pod's ``PodDeleted`` when the object is gone, after its termination grace
#: period (30 s by default); an eviction's pods may take this long (header ``evictionGraceSeconds``).
LIVE_EVICTION_GRACE = 60.0

FR = tuple[str, str]          # (flavor, resource)
_WANTED = frozenset({"PodCreated", "Scheduled", "PodRunning", "PodDeleted", "Preempted", "PodSucceeded",
                     "PodFailed", "WorkloadCreated", "QuotaReserved", "Admitted", "PodsReady", "Evicted",
                     "WorkloadFinished", "QueueConfigured"})


@dataclass(slots=True)
class _Quota:
    nominal: int
    borrowing: int | None
    lending: int | None


@dataclass(slots=True)
class _Workload:
    key: str
    kind: str = "Workload"
    kueue: bool = True
    admitted: bool = False
    admitted_t: float = 0.0
    epoch: int = 0
    ready: bool = False
    holding: dict[FR, int] | None = None
    holding_cq: str = ""
    reserved_t: float = 0.0
    admitted_pre: bool = False
    timeouts: int = 0
    not_before: float | None = None
    evicted_t: float = 0.0
    active: set[str] = field(default_factory=set)


def wait_for_pods_ready(events: Sequence[Event]) -> dict[str, Any]:
    """The effective waitForPodsReady settings: the header's, over Kueue's defaults."""
    cfg = dict(WAIT_FOR_PODS_READY_DEFAULTS)
    given = header(events).get("waitForPodsReady")
    if isinstance(given, dict):
        cfg.update({k: v for k, v in given.items() if v is not None})
    return cfg


def backoff_seconds(n: int, base: float, cap: float) -> float:
    """Kueue's requeue delay after the n-th PodsReadyTimeout eviction (without jitter)."""
    return float(min(base * 2 ** max(n - 1, 0), cap))


def kueue_pass(events: Sequence[Event]) -> PassResult:
    """One pass over queue, workload and pod events."""
    out = PassResult()
    evs = prepare(events)
    tol = tolerance(evs)
    live = header(evs).get("source") == "live"
    grace = float(header(evs).get("evictionGraceSeconds", LIVE_EVICTION_GRACE)) if live else tol
    cfg = wait_for_pods_ready(evs)
    wfpr = bool(cfg.get("enabled"))
    timeout = float(cfg.get("timeoutSeconds", 1800))
    base = float(cfg.get("backoffBaseSeconds", 60))
    cap = float(cfg.get("backoffMaxSeconds", 3600))
    block = bool(cfg.get("blockAdmission"))
    wls: dict[str, _Workload] = {}
    group_of: dict[str, str] = {}
    quotas: dict[str, dict[FR, _Quota]] = {}
    cohort_of: dict[str, str] = {}
    members: dict[str, set[str]] = {}
    usage: dict[str, dict[FR, int]] = {}
    deadlines: list[tuple[float, int, str]] = []
    waiting_ready: set[str] = set()           # admitted, not yet PodsReady (blockAdmission)
    evictions: deque[tuple[float, str, set[str]]] = deque()
    early_pods: dict[str, list[Finding]] = {}   # live: pod events that may precede Admitted by a tick

    def add(f: Finding) -> None:
        out.findings.append(f)

    def wl(key: str) -> _Workload:
        w = wls.get(key)
        if w is None:
            w = wls[key] = _Workload(key)
            out.applicable.update(("G6", "G8"))
            if wfpr:
                out.applicable.add("G7")
        return w

    def release(w: _Workload) -> None:
        if w.holding is not None:
            u = usage.get(w.holding_cq, {})
            for fr, m in w.holding.items():
                u[fr] = u.get(fr, 0) - m
            w.holding = None

    def close_deadlines(t: float) -> None:
        while deadlines and deadlines[0][0] + TIMEOUT_SLACK < t:
            d, ep, key = heapq.heappop(deadlines)
            w = wls[key]
            if ep == w.epoch and w.admitted and not w.ready:
                w.epoch += 1
                add(Finding("G7", (workload_ref(key, w.kind),), d,
                            f"workload {key} admitted at t={fmt_t(w.admitted_t)} had no PodsReady by "
                            f"t={fmt_t(d)} (timeout {fmt_t(timeout)} s) and was not evicted with "
                            f"reason PodsReadyTimeout"))

    def close_evictions(t: float) -> None:
        while evictions and evictions[0][0] + grace < t:
            te, key, left = evictions.popleft()
            if left:
                pods = sorted(left)
                add(Finding("G8", (workload_ref(key, wls[key].kind), *map(pod_ref, pods)), te,
                            f"workload {key} was evicted at t={fmt_t(te)} but {len(pods)} of its pods "
                            f"were not deleted at that instant: {', '.join(pods)}"))

    def check_quota(w: _Workload, cq: str, keys: Sequence[FR], t: float) -> None:
        q = quotas.get(cq)
        if q is None:
            return
        u = usage.get(cq, {})
        cohort = cohort_of.get(cq)
        for fr in keys:
            qq = q.get(fr)
            nominal = qq.nominal if qq else 0
            limit: int | None = nominal
            if cohort:
                limit = None if qq is None or qq.borrowing is None else nominal + qq.borrowing
                if qq is None:
                    limit = 0
            used = u.get(fr, 0)
            f, r = fr
            if limit is not None and used > limit:
                what = (f"nominalQuota {qty(r, nominal)}" if not cohort or qq is None
                        else f"nominalQuota {qty(r, nominal)} + borrowingLimit {qty(r, limit - nominal)}")
                add(Finding("G6", (workload_ref(w.key, w.kind), f"ClusterQueue {cq}"), t,
                            f"reserving quota for {w.key} puts ClusterQueue {cq} flavor {f} {r} usage at "
                            f"{qty(r, used)} > {what}"))
            if cohort:
                over = pool = 0
                names = sorted(members.get(cohort, ()))
                for other in names:
                    oq = quotas.get(other, {}).get(fr)
                    n = oq.nominal if oq else 0
                    lend = oq.lending if oq else None
                    guaranteed = n - lend if lend is not None else 0
                    over += max(0, usage.get(other, {}).get(fr, 0) - guaranteed)
                    pool += lend if lend is not None else n
                if over > pool:
                    add(Finding("G6", (workload_ref(w.key, w.kind), f"Cohort {cohort}"), t,
                                f"reserving quota for {w.key} in ClusterQueue {cq} puts cohort {cohort} "
                                f"flavor {f} {r} usage at {qty(r, over)} > {qty(r, pool)}, the quota its "
                                f"ClusterQueues ({', '.join(names)}) lend to it"))

    for ev, k in zip(evs, evs.keys, strict=True):
        typ = ev.type
        if typ not in _WANTED:
            continue
        t = ev.t
        if deadlines and deadlines[0][0] + TIMEOUT_SLACK < t:
            close_deadlines(t)
        if evictions and evictions[0][0] + grace < t:
            close_evictions(t)
        if typ in ("PodCreated", "Scheduled", "PodRunning"):
            key = k
            gk = ev.group or group_of.get(key)
            if not gk:
                continue
            w = wls.get(gk)
            if w is None or not w.kueue:
                if typ == "PodCreated":
                    group_of[key] = gk
                continue
            if typ == "PodCreated":
                group_of[key] = gk
                w.active.add(key)
            if not w.admitted and ev.data.get("preexisting") is not True:
                verb = {"PodCreated": "created", "Scheduled": "scheduled", "PodRunning": "running"}[typ]
                f = Finding("G6" if typ != "PodRunning" else "G8", (workload_ref(gk, w.kind), pod_ref(key)),
                            t, f"pod {key} of Kueue workload {gk} {verb} at t={fmt_t(t)} while the "
                               f"workload is not admitted")
                if live:
                    early_pods.setdefault(gk, []).append(f)
                else:
                    add(f)
        elif typ in ("PodDeleted", "Preempted", "PodSucceeded", "PodFailed"):
            key = k
            gk = group_of.get(key)
            w = wls.get(gk) if gk else None
            if w is not None:
                w.active.discard(key)
                if typ in ("PodDeleted", "Preempted"):
                    for te, ek, left in evictions:
                        if ek == gk and t <= te + grace:
                            left.discard(key)
        elif typ == "WorkloadCreated":
            w = wl(k)
            w.kind = ev.kind
            w.kueue = ev.data.get("policy") == "kueue"
        elif typ == "QuotaReserved":
            w = wl(k)
            if w.holding is not None:
                add(Finding("G6", (workload_ref(w.key, w.kind), f"ClusterQueue {w.holding_cq}"), t,
                            f"workload {w.key} reserved quota again at t={fmt_t(t)} while still holding the "
                            f"reservation of t={fmt_t(w.reserved_t)} "
                            f"(no Evicted or WorkloadFinished between)"))
            release(w)
            w.reserved_t = t
            cq = str(ev.data.get("clusterQueue") or "")
            res: dict[FR, int] = {}
            for flavor, rs in (ev.data.get("usage") or {}).items():
                for r, q in (rs or {}).items():
                    try:
                        res[(flavor, r)] = res.get((flavor, r), 0) + milli(q)
                    except (ValueError, TypeError):
                        add(Finding("G6", (workload_ref(w.key, w.kind),), t,
                                    f"QuotaReserved of {w.key} has an unparsable usage {flavor}/{r}={q!r}"))
            w.holding, w.holding_cq = res, cq
            u = usage.setdefault(cq, {})
            for fr, m in res.items():
                u[fr] = u.get(fr, 0) + m
            check_quota(w, cq, sorted(res), t)
            if w.not_before is not None:
                if t < w.not_before - 1e-6:
                    add(Finding("G7", (workload_ref(w.key, w.kind),), t,
                                f"workload {w.key} reserved quota again at t={fmt_t(t)}, "
                                f"{fmt_t(t - w.evicted_t)} s after its PodsReadyTimeout eviction at "
                                f"t={fmt_t(w.evicted_t)}; backoff #{w.timeouts} is "
                                f"{fmt_t(w.not_before - w.evicted_t)} s "
                                f"(not before t={fmt_t(w.not_before)})"))
                w.not_before = None
        elif typ == "Admitted":
            w = wl(k)
            if w.holding is None:
                add(Finding("G6", (workload_ref(w.key, w.kind),), t,
                            f"workload {w.key} admitted at t={fmt_t(t)} without holding a quota reservation"))
            if wfpr and block:
                others = sorted(waiting_ready - {w.key})
                if others:
                    add(Finding("G7", (workload_ref(w.key, w.kind), *(workload_ref(o) for o in others)), t,
                                f"workload {w.key} admitted at t={fmt_t(t)} while {', '.join(others)} "
                                f"waited for PodsReady (blockAdmission)"))
            for f in early_pods.pop(w.key, []):
                if f.t < t - tol:
                    add(f)
            w.admitted, w.admitted_t, w.ready = True, t, False
            w.admitted_pre = ev.data.get("preexisting") is True
            w.epoch += 1
            if wfpr:
                waiting_ready.add(w.key)
                heapq.heappush(deadlines, (t + timeout, w.epoch, w.key))
        elif typ == "PodsReady":
            w = wl(k)
            w.ready = True
            waiting_ready.discard(w.key)
        elif typ == "Evicted":
            w = wl(k)
            if ev.reason == "PodsReadyTimeout" and wfpr:
                due = w.admitted_t + timeout
                early = t < due - TIMEOUT_SLACK and not w.admitted_pre   # pre-existing: ta unknown
                if w.admitted and not w.ready and (early or t > due + TIMEOUT_SLACK):
                    add(Finding("G7", (workload_ref(w.key, w.kind),), t,
                                f"workload {w.key} admitted at t={fmt_t(w.admitted_t)} was evicted for "
                                f"PodsReadyTimeout at t={fmt_t(t)}, not at t={fmt_t(due)} "
                                f"(timeout {fmt_t(timeout)} s ± {fmt_t(TIMEOUT_SLACK)} s)"))
                w.timeouts += 1
                w.not_before = t + backoff_seconds(w.timeouts, base, cap)
                w.evicted_t = t
            w.admitted = False
            w.epoch += 1
            waiting_ready.discard(w.key)
            release(w)
            evictions.append((t, w.key, set(w.active)))
        elif typ == "WorkloadFinished":
            w = wl(k)
            w.admitted = False
            w.epoch += 1
            waiting_ready.discard(w.key)
            release(w)
        elif typ == "QueueConfigured" and ev.kind == "ClusterQueue":
            _configure(ev, quotas, cohort_of, members)
    end = evs[-1].t if evs else 0.0
    close_deadlines(end)
    close_evictions(float("inf"))
    for fs in early_pods.values():
        out.findings.extend(fs)
    if not any(w.kueue for w in wls.values()):
        out.applicable.clear()
    out.findings.sort(key=lambda f: f.t)
    return out


def _configure(ev: Event, quotas: dict[str, dict[FR, _Quota]], cohort_of: dict[str, str],
               members: dict[str, set[str]]) -> None:
    cq = ev.name
    old = cohort_of.pop(cq, None)
    if old:
        members.get(old, set()).discard(cq)
    cohort = ev.data.get("cohort")
    if cohort:
        cohort_of[cq] = str(cohort)
        members.setdefault(str(cohort), set()).add(cq)
    q: dict[FR, _Quota] = {}
    for rg in ev.data.get("resourceGroups") or []:
        for fl in rg.get("flavors") or []:
            for r in fl.get("resources") or []:
                b, lend = r.get("borrowingLimit"), r.get("lendingLimit")
                q[(str(fl.get("name")), str(r.get("name")))] = _Quota(
                    milli(r.get("nominalQuota", 0)), None if b is None else milli(b),
                    None if lend is None else milli(lend))
    quotas[cq] = q
