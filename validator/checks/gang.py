"""Gang scheduling at the scheduler: upstream ``GangScheduling`` (KEP-4671) and coscheduling.

Both plugins keep a gang (a ``scheduling.k8s.io`` Workload pod group or a coscheduling ``PodGroup``,
the timeline's ``group``) out of the queue until it exists and ``minCount`` members do (PreEnqueue /
PreFilter), hold reserved members at Permit until ``minCount`` of them are assumed or bound, then
release them together; when the group deadline passes first, every waiting member is rejected.

Invariants (k8s-semantics §2e), for groups whose ``WorkloadCreated`` policy is not ``kueue``:

* ``G1`` quorum at bind — the binds of an attempt, counted with members already bound, reach
  ``minCount`` within the same instant (sim) or bind window (live; ``bindWindowSeconds`` in the
  header, default 5 s).
* ``G2`` no early enqueue — no gang pod is ``Scheduled`` before its ``WorkloadCreated`` (any policy),
  or while fewer than ``minCount`` members exist.
* ``G3`` timeout releases — at ``GangTimedOut`` (D) none of the ``waiting`` pods is bound or binds at D;
  no gang that never reached quorum stays partly bound longer than its timeout
  (``timeoutSeconds``; default 60 s coscheduling, 300 s upstream) without a ``GangTimedOut``.
* ``G5`` group reject (coscheduling) — after ``GangTimedOut`` at D every waiting member gets a
  ``FailedScheduling`` at D — or already carries the same Permit-timeout rejection as its latest
  ``FailedScheduling`` (the event recorder aggregates a repeat of the same message into the earlier
  Event, so a timeline records it only when the message changes).

A live recording places binds from before it started at t = 0 with ``data.preexisting``; they count as
members already bound (the gang is taken to have reached quorum then) and open no attempt of their own.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from models.timeline import Event
from validator.checks.common import (
    Finding,
    PassResult,
    fmt_t,
    header,
    member_key,
    pod_ref,
    prepare,
    tolerance,
    workload_ref,
)

DEFAULT_TIMEOUT = {"coscheduling": 60.0, "workload-api": 300.0}
LIVE_BIND_WINDOW = 5.0
#: the framework's message for a pod rejected when its Permit wait times out
PERMIT_TIMEOUT = "rejected due to timeout after waiting"
_WANTED = frozenset({"Scheduled", "PodCreated", "PodDeleted", "Preempted", "FailedScheduling",
                     "WorkloadCreated", "GangTimedOut", "NodeRemoved"})


@dataclass(slots=True)
class _Gang:
    key: str
    kind: str
    policy: str
    min_count: int
    timeout: float
    alive: int = 0
    bound: set[str] = field(default_factory=set)
    reached: bool = False
    attempt: list[str] | None = None
    attempt_t: float = 0.0
    peak: int = 0
    partial_since: float | None = None
    episode: int = 0
    partial_reported: bool = False


def gang_pass(events: Sequence[Event]) -> PassResult:
    """One pass: gang membership, binds, timeouts and rejections per group."""
    out = PassResult()
    evs = prepare(events)
    tol = tolerance(evs)
    hdr = header(evs)
    window = float(hdr.get("bindWindowSeconds", LIVE_BIND_WINDOW if hdr.get("source") == "live" else 0.0))
    window = max(window, tol)
    gangs: dict[str, _Gang] = {}
    early_members: dict[str, int] = {}     # members created before their WorkloadCreated
    group_of: dict[str, str] = {}
    alive: set[str] = set()
    node_pods: dict[str, set[str]] = {}
    node_of: dict[str, str] = {}
    attempts: deque[tuple[float, str]] = deque()
    deadlines: list[tuple[float, int, str]] = []
    rejected_at: dict[str, tuple[float, str]] = {}
    g5_pending: deque[tuple[float, str, set[str]]] = deque()
    g5_wait: dict[str, tuple[float, set[str]]] = {}
    last_msg: dict[str, str] = {}
    last_fs: dict[str, float] = {}

    def close_attempts(t: float) -> None:
        while attempts and attempts[0][0] + window < t:
            _, gk = attempts.popleft()
            g = gangs[gk]
            pods = g.attempt or []
            if g.peak < g.min_count:
                out.findings.append(Finding(
                    "G1", (workload_ref(gk, g.kind), *map(pod_ref, pods)), g.attempt_t,
                    f"gang {gk} bound {len(pods)} pod(s) at t={fmt_t(g.attempt_t)} but only {g.peak} "
                    f"of minCount {g.min_count} members were bound in that instant: "
                    f"{', '.join(pods)}"))
            g.attempt = None

    def close_deadlines(t: float) -> None:
        while deadlines and deadlines[0][0] + tol < t:
            d, ep, gk = heapq.heappop(deadlines)
            g = gangs[gk]
            if ep != g.episode or g.partial_since is None or g.partial_reported:
                continue
            g.partial_reported = True
            pods = sorted(g.bound)
            out.findings.append(Finding(
                "G3", (workload_ref(gk, g.kind), *map(pod_ref, pods)), d,
                f"gang {gk} stayed partly bound ({len(pods)} of minCount {g.min_count}) from "
                f"t={fmt_t(g.partial_since)} past its {fmt_t(g.timeout)} s timeout (t={fmt_t(d)}) "
                f"with no GangTimedOut: {', '.join(pods)}"))

    def close_rejects(t: float) -> None:
        while g5_pending and g5_pending[0][0] + tol < t:
            d, gk, missing = g5_pending.popleft()
            if missing:
                pods = sorted(missing)
                for p in pods:
                    g5_wait.pop(p, None)
                out.findings.append(Finding(
                    "G5", (workload_ref(gk, gangs[gk].kind), *map(pod_ref, pods)), d,
                    f"gang {gk} timed out at t={fmt_t(d)} but {len(pods)} waiting member(s) were not "
                    f"rejected (FailedScheduling) at that instant: {', '.join(pods)}"))

    def track_partial(g: _Gang, t: float) -> None:
        if g.reached:
            return
        n = len(g.bound)
        if n >= g.min_count:
            g.reached = True
            g.partial_since = None
        elif n == 0:
            g.partial_since = None
            g.partial_reported = False
        elif g.partial_since is None and not g.partial_reported:
            g.partial_since = t
            g.episode += 1
            heapq.heappush(deadlines, (t + g.timeout, g.episode, g.key))

    def unbind(key: str, t: float) -> None:
        node = node_of.pop(key, None)
        if node is not None:
            node_pods.get(node, set()).discard(key)
        gk = group_of.get(key)
        g = gangs.get(gk) if gk else None
        if g is not None and key in g.bound:
            g.bound.discard(key)
            track_partial(g, t)

    for ev, k in zip(evs, evs.keys, strict=True):
        typ = ev.type
        if typ not in _WANTED:
            continue
        t = ev.t
        if attempts and attempts[0][0] + window < t:
            close_attempts(t)
        if deadlines and deadlines[0][0] + tol < t:
            close_deadlines(t)
        if g5_pending and g5_pending[0][0] + tol < t:
            close_rejects(t)
        if typ == "Scheduled":
            key = k
            gk = ev.group or group_of.get(key)
            if not gk:
                continue
            group_of.setdefault(key, gk)
            out.applicable.add("G2")
            g = gangs.get(gk)
            if g is None:
                out.findings.append(Finding("G2", (workload_ref(gk), pod_ref(key)), t,
                                            f"gang pod {key} Scheduled at t={fmt_t(t)} before its "
                                            f"group {gk} was created (no WorkloadCreated yet)"))
                continue
            if g.policy == "kueue":
                continue
            pre = ev.data.get("preexisting") is True
            if g.alive < g.min_count and not pre:
                out.findings.append(Finding(
                    "G2", (workload_ref(gk, g.kind), pod_ref(key)), t,
                    f"gang pod {key} Scheduled at t={fmt_t(t)} while only {g.alive} of minCount "
                    f"{g.min_count} members of {gk} existed"))
            rej = rejected_at.pop(key, None)
            if rej is not None and t <= rej[0] + tol:
                out.findings.append(Finding(
                    "G3", (workload_ref(gk, g.kind), pod_ref(key)), t,
                    f"pod {key} was waiting when gang {gk} timed out at t={fmt_t(rej[0])} but was "
                    f"bound at that instant instead of rejected"))
            node = ev.node or ""
            old = node_of.get(key)
            if old is not None:
                node_pods.get(old, set()).discard(key)
            node_of[key] = node
            node_pods.setdefault(node, set()).add(key)
            g.bound.add(key)
            n = len(g.bound)
            if pre:
                # bound before the recording started: counts as assigned, but the attempt that bound
                # it (and whether quorum held then) is history the timeline does not hold
                g.reached = True
                g.partial_since = None
                continue
            if g.attempt is None:
                g.attempt = [key]
                g.attempt_t = t
                g.peak = n
                attempts.append((t, gk))
            else:
                g.attempt.append(key)
                g.peak = max(g.peak, n)
            track_partial(g, t)
        elif typ == "PodCreated":
            key = k
            gk = ev.group
            if not gk:
                continue
            group_of[key] = gk
            if key not in alive:
                alive.add(key)
                g = gangs.get(gk)
                if g is not None:
                    g.alive += 1
                else:
                    early_members[gk] = early_members.get(gk, 0) + 1
        elif typ in ("PodDeleted", "Preempted"):
            key = k
            if key in alive:
                alive.discard(key)
                gk = group_of.get(key)
                g = gangs.get(gk) if gk else None
                if g is not None:
                    g.alive -= 1
                elif gk:
                    early_members[gk] = early_members.get(gk, 1) - 1
            unbind(key, t)
        elif typ == "FailedScheduling":
            key = k
            last_fs[key] = t
            last_msg[key] = ev.reason or ""
            w = g5_wait.pop(key, None)
            if w is not None and t <= w[0] + tol:
                w[1].discard(key)
        elif typ == "WorkloadCreated":
            gk = k
            policy = str(ev.data.get("policy") or "")
            pods = int(ev.data.get("pods") or 0)
            mc = int(ev.data.get("minCount") or pods or 1)
            to = ev.data.get("timeoutSeconds")
            timeout = float(to) if to is not None else DEFAULT_TIMEOUT.get(policy, 300.0)
            g = _Gang(gk, ev.kind, policy, mc, timeout, alive=early_members.pop(gk, 0))
            gangs[gk] = g
            if policy != "kueue":
                out.applicable.update(("G1", "G2", "G3"))
                if policy == "coscheduling":
                    out.applicable.add("G5")
        elif typ == "GangTimedOut":
            gk = ev.group or k
            g = gangs.get(gk)
            if g is None or g.policy == "kueue":
                continue
            waiting = [member_key(str(n), gk) for n in (ev.data.get("waiting") or [])]
            early = sorted(p for p in waiting if p in g.bound)
            if early:
                out.findings.append(Finding(
                    "G3", (workload_ref(gk, g.kind), *map(pod_ref, early)), t,
                    f"gang {gk} timed out at t={fmt_t(t)} naming {len(early)} waiting pod(s) that were "
                    f"already bound: {', '.join(early)}"))
            for p in waiting:
                rejected_at[p] = (t, gk)
            if g.partial_since is not None:
                g.partial_since = t
                g.partial_reported = False
                g.episode += 1
                heapq.heappush(deadlines, (t + g.timeout, g.episode, gk))
            if g.policy == "coscheduling" and waiting:
                missing = {p for p in waiting if abs(last_fs.get(p, -1e300) - t) > tol
                           and not last_msg.get(p, "").startswith(PERMIT_TIMEOUT)}
                g5_pending.append((t, gk, missing))
                for p in missing:
                    g5_wait[p] = (t, missing)
        elif typ == "NodeRemoved":
            for key in sorted(node_pods.pop(ev.name, set())):
                node_of.pop(key, None)
                gk = group_of.get(key)
                g = gangs.get(gk) if gk else None
                if g is not None and key in g.bound:
                    g.bound.discard(key)
                    track_partial(g, t)
    end = evs[-1].t if evs else 0.0
    close_attempts(float("inf"))
    close_deadlines(end)
    close_rejects(float("inf"))
    out.findings.sort(key=lambda f: f.t)
    return out
