"""Comparing two timelines: did the twin schedule what the cluster scheduled, when and where?

It mirrors the numbers Kubernetes itself publishes about scheduling — kube-scheduler's pod scheduling
latency (``PodCreated`` → ``Scheduled``, the SLI behind ``scheduler_pod_scheduling_sli_duration_seconds``),
the order Kueue admits Workloads in, where pods were bound (``spec.nodeName``), when gangs were
admitted and how often cluster-autoscaler scaled up — and sets them side by side for two timelines
A (the reference, usually reality) and B (usually the simulation).

Objects are aligned by name; pods whose names differ (a replayed workload names its pods after its
generator) are aligned by owner and ordinal: the i-th pod (by creation) of an owner in B is the i-th
pod of the same owner in A. :class:`Aliases` lets the caller that *made* B (``kubetwin replay``)
say which owner, gang and node of B stands for which of A.

:func:`compare_events` is a pure function over two event lists; it does no I/O. Every key of its
result is documented in ``docs/compare.md``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.timeline import Event

#: how many individual pods/gangs each list in the result names at most
MAX_LISTED = 20
#: times closer than this (seconds) are the same time: timelines keep microseconds, and a replay's
#: arrival and run times, each rounded to the microsecond, add up to a few microseconds of drift
TIME_EPS = 1e-3


@dataclass(frozen=True, slots=True)
class Aliases:
    """Which object of B stands for which of A, when B was derived from A under other names.

    ``pods``: B owner key (``namespace/<data.workload>``) → the A pod keys its pods replay, in order.
    ``groups``: B gang key → A gang key. ``nodes``: B node name → A node name.
    """

    pods: Mapping[str, Sequence[str]] = field(default_factory=dict)
    groups: Mapping[str, str] = field(default_factory=dict)
    nodes: Mapping[str, str] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------ statistics

def ks_distance(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Two-sample Kolmogorov–Smirnov distance ``sup_x |F_A(x) − F_B(x)|``; None if a side is empty."""
    if len(a) == 0 or len(b) == 0:
        return None
    xa = np.sort(np.asarray(a, dtype=float))
    xb = np.sort(np.asarray(b, dtype=float))
    grid = np.concatenate([xa, xb])
    fa = np.searchsorted(xa, grid, side="right") / xa.size
    fb = np.searchsorted(xb, grid, side="right") / xb.size
    return float(np.max(np.abs(fa - fb)))


def kendall_tau(order_a: Sequence[str], order_b: Sequence[str]) -> float | None:
    """Kendall's tau between two strict orders of the same items (only items in both count).

    ``1 − 2·discordant / (n(n−1)/2)``; the discordant pairs are the inversions of B's order read in
    A's, counted by merge sort in O(n log n). None with fewer than two common items.
    """
    rank_b = {k: i for i, k in enumerate(order_b)}
    seq = [rank_b[k] for k in order_a if k in rank_b]
    n = len(seq)
    if n < 2:
        return None
    inversions = _count_inversions(seq)
    pairs = n * (n - 1) // 2
    return 1.0 - 2.0 * inversions / pairs


def _count_inversions(xs: list[int]) -> int:
    inv = 0
    width = 1
    cur = list(xs)
    n = len(cur)
    while width < n:
        out: list[int] = []
        for lo in range(0, n, 2 * width):
            mid, hi = min(lo + width, n), min(lo + 2 * width, n)
            i, j = lo, mid
            while i < mid and j < hi:
                if cur[i] <= cur[j]:
                    out.append(cur[i])
                    i += 1
                else:
                    out.append(cur[j])
                    inv += mid - i
                    j += 1
            out.extend(cur[i:mid])
            out.extend(cur[j:hi])
        cur = out
        width *= 2
    return inv


def _pct(values: Sequence[float], p: float) -> float | None:
    """The p-th percentile (0–100), linear interpolation (numpy's default, as ``summary.json``)."""
    if len(values) == 0:
        return None
    return round(float(np.percentile(np.asarray(values, dtype=float), p)), 6)


def _dist(values: Sequence[float]) -> dict[str, Any]:
    return {"count": len(values), "p50": _pct(values, 50), "p95": _pct(values, 95), "p99": _pct(values, 99),
            "max": round(max(values), 6) if values else None}


def _sub(x: float | None, y: float | None) -> float | None:
    return None if x is None or y is None else round(x - y, 6)


# ------------------------------------------------------------------------------------------ extraction

@dataclass(slots=True)
class _Pod:
    key: str
    created: float
    created_seq: int
    owner: str            # namespace/<owner name>: data.owner.name, else data.workload, else the pod
    workload: str         # namespace/<data.workload> (the generator in a simulation)
    group: str | None
    scheduled: float | None = None
    scheduled_seq: int = 0
    node: str | None = None


@dataclass(slots=True)
class _Gang:
    key: str
    created: float | None = None
    min_count: int | None = None
    admitted: float | None = None
    admitted_seq: int = 0
    member_binds: list[float] = field(default_factory=list)

    def admission(self) -> float | None:
        """Kueue's ``Admitted``; for a PodGroup/Workload gang, when its minCount-th member was bound."""
        if self.admitted is not None:
            return self.admitted
        need = self.min_count or 0
        if need and len(self.member_binds) >= need:
            return sorted(self.member_binds)[need - 1]
        return None


@dataclass(slots=True)
class _Side:
    pods: dict[str, _Pod] = field(default_factory=dict)
    gangs: dict[str, _Gang] = field(default_factory=dict)
    node_pool: dict[str, str] = field(default_factory=dict)
    provisioning: dict[str, float] = field(default_factory=dict)
    provision_latency: list[float] = field(default_factory=list)
    triggered_scale_ups: int = 0
    nodes_provisioned: int = 0
    nodes_ready_after_start: int = 0


def _owner(ev: Event) -> tuple[str, str]:
    ns = ev.namespace or ""
    workload = ev.data.get("workload")
    wl = f"{ns}/{workload}" if isinstance(workload, str) and workload else f"{ns}/{ev.name}"
    owner = ev.data.get("owner")
    if isinstance(owner, dict) and isinstance(owner.get("name"), str):
        return f"{ns}/{owner['name']}", wl
    return wl, wl


def _gang(side: _Side, key: str) -> _Gang:
    g = side.gangs.get(key)
    if g is None:
        g = side.gangs[key] = _Gang(key)
    return g


def _extract(events: Sequence[Event]) -> _Side:
    side = _Side()
    for ev in events:
        tp = ev.type
        if ev.kind == "Pod":
            if tp == "PodCreated":
                if ev.key not in side.pods:
                    owner, wl = _owner(ev)
                    side.pods[ev.key] = _Pod(ev.key, ev.t, ev.seq, owner, wl, ev.group)
            elif tp == "Scheduled":
                p = side.pods.get(ev.key)
                if p is None:  # a recording that began after the pod was created
                    p = side.pods[ev.key] = _Pod(ev.key, ev.t, ev.seq, ev.key, ev.key, ev.group)
                if p.scheduled is None:
                    p.scheduled, p.scheduled_seq, p.node = ev.t, ev.seq, ev.node
                    if p.group:
                        _gang(side, p.group).member_binds.append(ev.t)
            elif tp == "TriggeredScaleUp":
                side.triggered_scale_ups += 1
        elif tp == "NodeProvisioning":
            side.nodes_provisioned += 1
            side.provisioning.setdefault(ev.name, ev.t)
        elif tp == "NodeReady":
            pool = ev.data.get("pool")
            side.node_pool[ev.name] = pool if isinstance(pool, str) else ""
            if ev.t > 0:
                side.nodes_ready_after_start += 1
            started = side.provisioning.pop(ev.name, None)
            if started is not None:
                side.provision_latency.append(ev.t - started)
        elif tp == "WorkloadCreated":
            g = _gang(side, ev.group or ev.key)
            if g.created is None:
                g.created = ev.t
                mc = ev.data.get("minCount")
                g.min_count = mc if isinstance(mc, int) else None
        elif tp == "Admitted":
            g = _gang(side, ev.group or ev.key)
            if g.admitted is None:
                g.admitted, g.admitted_seq = ev.t, ev.seq
        elif tp == "TriggeredScaleUp":
            side.triggered_scale_ups += 1
    return side


# ------------------------------------------------------------------------------------------ alignment

def _align(a: _Side, b: _Side, aliases: Aliases) -> tuple[list[tuple[_Pod, _Pod]], list[str], list[str]]:
    """Pairs (A pod, B pod) by name, then by the aliases, then by owner and ordinal."""
    pairs: list[tuple[_Pod, _Pod]] = []
    left_a = dict(a.pods)
    left_b = dict(b.pods)
    for key in sorted(set(left_a) & set(left_b)):
        pairs.append((left_a.pop(key), left_b.pop(key)))

    def by_owner(pods: Mapping[str, _Pod], attr: str) -> dict[str, list[_Pod]]:
        out: dict[str, list[_Pod]] = {}
        for p in sorted(pods.values(), key=lambda p: (p.created, p.created_seq)):
            k = getattr(p, attr)
            if k is not None:
                out.setdefault(k, []).append(p)
        return out

    if aliases.pods:
        for owner, pods in by_owner(left_b, "workload").items():
            targets = [k for k in aliases.pods.get(owner, ()) if k in left_a]
            for pa_key, pb in zip(targets, pods, strict=False):
                pairs.append((left_a.pop(pa_key), left_b.pop(pb.key)))
    _align_replacements(pairs, left_a, left_b)
    # the pods of one gang (e.g. a Kueue workload's pods after re-admission, <workload>-r<n>-…)
    groups_a, groups_b = by_owner(left_a, "group"), by_owner(left_b, "group")
    for gb, pods_b in sorted(groups_b.items()):
        ga = aliases.groups.get(gb, gb)
        if ga in groups_a:
            for pa, pb in zip(groups_a[ga], pods_b, strict=False):
                if pa.key in left_a and pb.key in left_b:
                    pairs.append((left_a.pop(pa.key), left_b.pop(pb.key)))
    owners_a, owners_b = by_owner(left_a, "owner"), by_owner(left_b, "owner")
    for owner in sorted(set(owners_a) & set(owners_b)):
        for pa, pb in zip(owners_a[owner], owners_b[owner], strict=False):
            pairs.append((left_a.pop(pa.key), left_b.pop(pb.key)))
    pairs.sort(key=lambda pr: (pr[0].created, pr[0].created_seq))
    return pairs, sorted(left_a), sorted(left_b)


_REPLACEMENT = re.compile(r"(.+)-p\d+")


def _align_replacements(pairs: list[tuple[_Pod, _Pod]], left_a: dict[str, _Pod], left_b: dict[str, _Pod]) -> None:
    """A preempted pod's owner creates a replacement (``<victim>-p<n>``); the replacements of two aligned
    pods are aligned with each other, in creation order, down the chain."""
    def children(left: Mapping[str, _Pod]) -> dict[str, list[_Pod]]:
        out: dict[str, list[_Pod]] = {}
        for p in sorted(left.values(), key=lambda p: (p.created, p.created_seq)):
            m = _REPLACEMENT.fullmatch(p.key)
            if m is not None:
                out.setdefault(m.group(1), []).append(p)
        return out

    kids_a, kids_b = children(left_a), children(left_b)
    todo = [(pa.key, pb.key) for pa, pb in pairs]
    while todo:
        ka, kb = todo.pop()
        for ca, cb in zip(kids_a.get(ka, ()), kids_b.get(kb, ()), strict=False):
            if ca.key in left_a and cb.key in left_b:
                pairs.append((left_a.pop(ca.key), left_b.pop(cb.key)))
                todo.append((ca.key, cb.key))


# ------------------------------------------------------------------------------------------ comparison

def compare_events(a: Sequence[Event], b: Sequence[Event], *, aliases: Aliases | None = None,
                   max_wait_p95_diff: float | None = None, min_same_node: float | None = None) -> dict[str, Any]:
    """Compare timeline B with the reference A; the result is JSON-ready (keys: ``docs/compare.md``).

    ``max_wait_p95_diff`` (seconds) and ``min_same_node`` (0–1) are the thresholds; ``None`` leaves
    one unchecked. ``result["withinThresholds"]`` is False when any checked threshold is exceeded.
    """
    al = aliases or Aliases()
    sa, sb = _extract(a), _extract(b)
    # node aliases stand in for names B does not have; when B's nodes carry A's names, names decide
    node_alias: Mapping[str, str] = {} if set(sb.node_pool) <= set(sa.node_pool) else al.nodes
    pairs, only_a, only_b = _align(sa, sb, al)

    def wait(p: _Pod) -> float | None:
        return None if p.scheduled is None else p.scheduled - p.created

    waits_a = [w for p in sa.pods.values() if (w := wait(p)) is not None]
    waits_b = [w for p in sb.pods.values() if (w := wait(p)) is not None]
    dist_a, dist_b = _dist(waits_a), _dist(waits_b)

    # per pod
    diffs: list[tuple[float, _Pod, _Pod]] = []
    created_diffs: list[float] = []
    sched_only_a = sched_only_b = 0
    same_node = same_pool = both_scheduled = 0
    for pa, pb in pairs:
        created_diffs.append(abs(pb.created - pa.created))
        wa, wb = wait(pa), wait(pb)
        if wa is not None and wb is not None:
            diffs.append((wb - wa, pa, pb))
            both_scheduled += 1
            node_b = node_alias.get(pb.node or "", pb.node)
            if node_b == pa.node:
                same_node += 1
            if sb.node_pool.get(pb.node or "") == sa.node_pool.get(pa.node or ""):
                same_pool += 1
        elif wa is not None:
            sched_only_a += 1
        elif wb is not None:
            sched_only_b += 1
    scheduled_only_a_pods = sum(1 for k in only_a if sa.pods[k].scheduled is not None)
    scheduled_only_b_pods = sum(1 for k in only_b if sb.pods[k].scheduled is not None)
    # every pod scheduled on either side counts once; an aligned pair counts once
    placed = both_scheduled + sched_only_a + sched_only_b + scheduled_only_a_pods + scheduled_only_b_pods
    abs_d = [abs(d) for d, _, _ in diffs]
    diffs.sort(key=lambda x: (-abs(x[0]), x[1].key))
    largest = [{"a": pa.key, "b": pb.key, "waitA": round(wait(pa) or 0.0, 6), "waitB": round(wait(pb) or 0.0, 6),
                "diff": round(d, 6)} for d, pa, pb in diffs[:MAX_LISTED] if abs(d) > TIME_EPS]
    moved = [{"a": pa.key, "b": pb.key, "nodeA": pa.node, "nodeB": pb.node}
             for pa, pb in pairs if pa.node is not None and pb.node is not None
             and node_alias.get(pb.node, pb.node) != pa.node][:MAX_LISTED]

    # admission order
    def order(pods: Sequence[_Pod]) -> list[str]:
        return [p.key for p in sorted(pods, key=lambda p: (p.scheduled or 0.0, p.scheduled_seq))]

    sched_pairs = [(pa, pb) for pa, pb in pairs if pa.scheduled is not None and pb.scheduled is not None]
    tau_pods = kendall_tau(order([pa for pa, _ in sched_pairs]),
                           [pa.key for pa, _ in sorted(sched_pairs, key=lambda pr: (pr[1].scheduled or 0.0,
                                                                                    pr[1].scheduled_seq))])
    gangs = _compare_gangs(sa, sb, al)

    result: dict[str, Any] = {
        "pods": {"a": len(sa.pods), "b": len(sb.pods), "matched": len(pairs), "onlyInA": len(only_a),
                 "onlyInB": len(only_b), "onlyInAList": only_a[:MAX_LISTED], "onlyInBList": only_b[:MAX_LISTED],
                 "scheduledOnlyInA": sched_only_a, "scheduledOnlyInB": sched_only_b},
        "waitSeconds": {"a": dist_a, "b": dist_b, "p50Diff": _sub(dist_b["p50"], dist_a["p50"]),
                        "p95Diff": _sub(dist_b["p95"], dist_a["p95"]), "p99Diff": _sub(dist_b["p99"], dist_a["p99"]),
                        "ks": _round(ks_distance([round(w, 3) for w in waits_a], [round(w, 3) for w in waits_b]))},
        "schedulingDelay": {"compared": len(diffs),
                            "meanAbsDiff": _round(float(np.mean(abs_d)) if abs_d else None),
                            "p95AbsDiff": _pct(abs_d, 95), "maxAbsDiff": _round(max(abs_d) if abs_d else None),
                            "differing": sum(1 for d in abs_d if d > TIME_EPS),
                            "maxCreatedDiff": _round(max(created_diffs) if created_diffs else None),
                            "largest": largest},
        "admissionOrder": {"pods": {"compared": len(sched_pairs), "kendallTau": _round(tau_pods)},
                           "workloads": gangs.pop("order")},
        "placement": {"scheduledEither": placed, "bothScheduled": both_scheduled,
                      "sameNode": same_node, "samePool": same_pool,
                      "sameNodeShare": _round(same_node / placed if placed else None),
                      "samePoolShare": _round(same_pool / placed if placed else None),
                      "moved": moved},
        "gangs": gangs,
        "scaleUp": {side: {"triggeredScaleUps": s.triggered_scale_ups, "nodesProvisioned": s.nodes_provisioned,
                           "nodesReadyAfterStart": s.nodes_ready_after_start,
                           "provisioningSeconds": _dist(s.provision_latency)}
                    for side, s in (("a", sa), ("b", sb))},
    }
    result["thresholds"] = {"maxWaitP95Diff": max_wait_p95_diff, "minSameNode": min_same_node}
    result["violations"] = threshold_violations(result, max_wait_p95_diff, min_same_node)
    result["withinThresholds"] = not result["violations"]
    result["identical"] = _identical(result)
    return result


def _round(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) else round(x, 6)


def _compare_gangs(sa: _Side, sb: _Side, al: Aliases) -> dict[str, Any]:
    def adm(s: _Side) -> dict[str, tuple[float, float, int]]:
        out = {}
        for k, g in s.gangs.items():
            t = g.admission()
            if t is not None:
                out[k] = (t, t - (g.created if g.created is not None else t), g.admitted_seq)
        return out

    ga, gb_raw = adm(sa), adm(sb)
    gb = {al.groups.get(k, k): v for k, v in gb_raw.items()}
    common = sorted(set(ga) & set(gb))
    diffs = sorted(((gb[k][1] - ga[k][1], k) for k in common), key=lambda x: (-abs(x[0]), x[1]))
    abs_d = [abs(d) for d, _ in diffs]
    # admission order: Kueue Admitted (or quorum bind) time, ties by seq
    oa = [k for k in sorted(common, key=lambda k: (ga[k][0], ga[k][2], k))]
    ob = [k for k in sorted(common, key=lambda k: (gb[k][0], gb[k][2], k))]
    return {
        "a": len(sa.gangs), "b": len(sb.gangs), "admittedA": len(ga), "admittedB": len(gb), "matched": len(common),
        "admissionWaitSeconds": {"a": _dist([v[1] for v in ga.values()]), "b": _dist([v[1] for v in gb.values()])},
        "maxAbsDiff": _round(max(abs_d) if abs_d else None),
        "largest": [{"gang": k, "diff": round(d, 6)} for d, k in diffs[:MAX_LISTED] if abs(d) > TIME_EPS],
        "order": {"compared": len(common), "kendallTau": _round(kendall_tau(oa, ob))},
    }


def threshold_violations(result: Mapping[str, Any], max_wait_p95_diff: float | None,
                         min_same_node: float | None) -> list[str]:
    """One sentence per exceeded threshold (empty: within all of them)."""
    out: list[str] = []
    if max_wait_p95_diff is not None:
        d = result["waitSeconds"]["p95Diff"]
        if d is None:
            a, b = result["waitSeconds"]["a"]["count"], result["waitSeconds"]["b"]["count"]
            if a != b:
                out.append(f"wait p95 cannot be compared: {a} scheduled pod(s) in A, {b} in B")
        elif abs(d) > max_wait_p95_diff + TIME_EPS:
            out.append(f"wait p95 differs by {abs(d):g}s (> {max_wait_p95_diff:g}s)")
    if min_same_node is not None:
        share = result["placement"]["sameNodeShare"]
        if share is not None and share < min_same_node:
            out.append(f"same-node share {share:.4f} is below {min_same_node:g}")
    return out


def _identical(r: Mapping[str, Any]) -> bool:
    p, pl = r["pods"], r["placement"]
    return (p["onlyInA"] == 0 and p["onlyInB"] == 0 and p["scheduledOnlyInA"] == 0 and p["scheduledOnlyInB"] == 0
            and r["schedulingDelay"]["differing"] == 0 and (r["schedulingDelay"]["maxCreatedDiff"] or 0) <= TIME_EPS
            and pl["sameNode"] == pl["bothScheduled"] and (r["gangs"]["maxAbsDiff"] or 0) <= TIME_EPS
            and r["gangs"]["admittedA"] == r["gangs"]["admittedB"])
