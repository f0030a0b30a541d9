"""Volcano's ``proportion`` plugin: each Queue's deserved share of the cluster, by weight.

At the start of every session the plugin divides the cluster's total resources among the queues that
have jobs, in rounds (water-filling): each round gives every queue not yet satisfied ``remaining ×
weight / Σweight`` more, capped by its real capability (its ``capability``, and the cluster minus the
other queues' ``guarantee``), by what its jobs request (allocated + pending) and raised to its own
``guarantee``; a queue whose request is met (or whose deserved stopped growing) leaves the rounds, and
what it did not take goes back to the remaining pool. The rounds end when nothing remains or nothing
changed. A queue's **share** is the largest ``allocated / deserved`` over resources; allocate visits
the queue with the lowest share first, a queue is **overused** when ``deserved <= allocated`` in every
resource, and a task fits its queue (``allocatable``) when ``allocated + request <= deserved`` in each
resource it requests. Reclaim takes only from queues holding more than they deserve.

Resources are ``dict[str, int]`` in milli-units; an absent key is 0 (or, for a capability, unlimited).
Mirrors ``volcano-sh/volcano pkg/scheduler/plugins/proportion/proportion.go``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

Res = dict[str, int]
INF = 1 << 62


def add(a: Res, b: Res, sign: int = 1) -> Res:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0) + sign * v
    return out


def acc(target: Res, b: Res, sign: int = 1) -> None:
    """``target += sign × b`` in place."""
    for k, v in b.items():
        target[k] = target.get(k, 0) + sign * v


def clip(a: Res) -> Res:
    """``api.ExceededPart`` against zero: negative parts become 0."""
    return {k: max(0, v) for k, v in a.items()}


def less_equal(a: Res, b: Res, names: Iterable[str] | None = None) -> bool:
    """``a <= b`` in every resource (of ``names``, when given); absent keys are 0."""
    keys = set(a) | set(b) if names is None else set(names)
    return all(a.get(k, 0) <= b.get(k, 0) for k in keys)


@dataclass(slots=True)
class QueueAttr:
    """One queue's numbers in a session (``queueAttr`` upstream)."""

    name: str
    weight: int
    capability: Res | None
    guarantee: Res
    reclaimable: bool = True
    allocated: Res = field(default_factory=dict)
    request: Res = field(default_factory=dict)
    inqueue: Res = field(default_factory=dict)
    elastic: Res = field(default_factory=dict)
    deserved: Res = field(default_factory=dict)
    real_capability: Res = field(default_factory=dict)
    share: float = 0.0

    def update_share(self) -> None:
        share = 0.0
        for k, d in self.deserved.items():
            a = self.allocated.get(k, 0)
            s = (0.0 if a == 0 else 1.0) if d == 0 else a / d
            share = max(share, s)
        for k, a in self.allocated.items():
            if a > 0 and self.deserved.get(k, 0) == 0:
                share = max(share, 1.0)
        self.share = share

    def overused(self) -> bool:
        return less_equal(self.deserved, self.allocated)

    def allocatable(self, req: Res) -> bool:
        names = [k for k, v in req.items() if v > 0]
        return less_equal(add(self.allocated, req), self.deserved, names)


def deserve(attrs: list[QueueAttr], total: Res) -> None:
    """Fill in ``deserved``, ``real_capability`` and ``share`` of every queue (the plugin's rounds)."""
    resources = sorted(total)
    total_guarantee: Res = {}
    for a in attrs:
        total_guarantee = add(total_guarantee, a.guarantee)
    for a in attrs:
        real = add(clip(add(total, total_guarantee, -1)), a.guarantee)
        if a.capability is not None:
            real = {k: min(v, a.capability.get(k, INF)) for k, v in real.items()}
        a.real_capability = real
        a.deserved = {k: 0 for k in resources}
    remaining = dict(total)
    met: set[str] = set()
    while True:
        total_weight = sum(a.weight for a in attrs if a.name not in met)
        if total_weight == 0:
            break
        old_remaining = dict(remaining)
        increased: Res = {}
        decreased: Res = {}
        for a in attrs:
            if a.name in met:
                continue
            old = dict(a.deserved)
            d = {k: a.deserved.get(k, 0) + remaining.get(k, 0) * a.weight // total_weight for k in resources}
            d = {k: min(v, a.real_capability.get(k, INF)) for k, v in d.items()}
            d = {k: min(v, a.request.get(k, 0)) for k, v in d.items()}
            d = {k: max(v, a.guarantee.get(k, 0)) for k, v in d.items()}
            a.deserved = d
            if less_equal(a.request, d) or d == old:
                met.add(a.name)
            for k in resources:
                diff = d[k] - old.get(k, 0)
                if diff > 0:
                    increased[k] = increased.get(k, 0) + diff
                elif diff < 0:
                    decreased[k] = decreased.get(k, 0) - diff
        remaining = clip(add(add(remaining, decreased), increased, -1))
        if all(v == 0 for v in remaining.values()) or remaining == old_remaining:
            break
    for a in attrs:
        a.update_share()
