"""The HorizontalPodAutoscaler's arithmetic (``pkg/controller/podautoscaler``), as pure functions.

* ``desired = ceil(ratio × readyPods)`` with ``ratio = current metric / target``; no change while
  ``|ratio − 1| ≤ tolerance`` (0.1). On a scale-up, pods not yet Ready count as using nothing and the
  ratio is recomputed over all pods; if that undoes the scale-up, nothing happens. Several metrics:
  the largest proposal.
* Stabilisation: a scale-down takes the *largest* recommendation of the last
  ``scaleDown.stabilizationWindowSeconds`` (300 s), a scale-up the *smallest* of the last
  ``scaleUp.stabilizationWindowSeconds`` (0 s).
* ``behavior`` policies limit the change per period from the size at the period's start: ``Pods``
  adds/removes that many, ``Percent`` that share (up: ``ceil(start × (1 + p/100))``, down:
  ``floor(start × (1 − p/100))``); ``selectPolicy: Max`` takes the policy allowing the largest change,
  ``Min`` the smallest, ``Disabled`` none. Defaults: up 4 pods or 100 % per 15 s, down 100 % per 15 s.
* Finally clamped to [minReplicas, maxReplicas].
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from models.serving import ScalingRules
from sim.serving.plan import TOLERANCE, MetricPlan


def metric_value(m: MetricPlan, load: float, ready: int, capacity: float) -> float:
    """The metric's current value for a Deployment serving ``load`` requests/s with ``ready`` pods."""
    if m.measure == "rps":
        return load if m.target_type == "Value" else load / max(1, ready)
    busy = min(1.0, load / (ready * capacity)) if ready > 0 else 0.0
    return 100.0 * busy if m.measure == "utilization" else busy


def proposal(m: MetricPlan, value: float, ready: int, unready: int, current: int, tol_up: float = TOLERANCE,
             tol_down: float = TOLERANCE) -> int:
    """The replica count this metric asks for (``current`` inside the tolerance)."""
    if ready == 0:
        return current
    if m.target_type == "Value" or (m.type == "External" and m.target_type == "AverageValue"):
        # a whole-Deployment value: usage / target, scaled from the ready pods
        total = value
        if m.target_type == "AverageValue":
            ratio = total / (m.target * max(1, current))
            if abs(ratio - 1) <= (tol_up if ratio > 1 else tol_down):
                return current
            return math.ceil(total / m.target)
        ratio = total / m.target
        if abs(ratio - 1) <= (tol_up if ratio > 1 else tol_down):
            return current
        return math.ceil(ratio * ready)
    ratio = value / m.target
    if abs(ratio - 1) <= (tol_up if ratio > 1 else tol_down):
        return current
    if ratio > 1 and unready > 0:
        ratio = value * ready / (m.target * (ready + unready))
        if ratio <= 1 + tol_up:
            return current
        return math.ceil(ratio * (ready + unready))
    return math.ceil(ratio * ready)


def stabilize(recs: Sequence[tuple[float, int]], now: float, desired: int, current: int, up_window: float,
              down_window: float) -> int:
    """Upstream ``stabilizeRecommendationWithBehaviors``: ``recs`` are earlier (time, recommendation)."""
    up = down = desired
    for t, r in recs:
        if t > now - up_window:
            up = min(up, r)
        if t > now - down_window:
            down = max(down, r)
    out = current
    if out < up:
        out = up
    if out > down:
        out = down
    return out


def _change_in_period(changes: Sequence[tuple[float, int]], now: float, period: float, sign: int) -> int:
    return sum(d * sign for t, d in changes if t > now - period and d * sign > 0)


def limit(changes: Sequence[tuple[float, int]], now: float, current: int, desired: int, up: ScalingRules,
          down: ScalingRules) -> int:
    """Apply the ``behavior`` policies; ``changes`` are earlier (time, replicas added (+) / removed (−))."""
    if desired > current:
        if up.selectPolicy == "Disabled" or not up.policies:
            return current
        limits = []
        for p in up.policies:
            start = current - _change_in_period(changes, now, p.periodSeconds, 1)
            limits.append(start + p.value if p.type == "Pods" else math.ceil(start * (1 + p.value / 100)))
        cap = max(limits) if up.selectPolicy == "Max" else min(limits)
        return min(desired, cap)
    if desired < current:
        if down.selectPolicy == "Disabled" or not down.policies:
            return current
        limits = []
        for p in down.policies:
            start = current + _change_in_period(changes, now, p.periodSeconds, -1)
            limits.append(start - p.value if p.type == "Pods" else math.floor(start * (1 - p.value / 100)))
        floor_ = min(limits) if down.selectPolicy == "Max" else max(limits)
        return max(desired, floor_)
    return current
