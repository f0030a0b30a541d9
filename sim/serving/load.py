"""Load curves: requests per second over simulated time (constant, step, diurnal, Poisson, a trace)."""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Callable
from pathlib import Path

from models.duration import parse_duration
from models.serving import LoadCurve, read_trace

Curve = Callable[[float], float]


def poisson_count(rng: random.Random, lam: float) -> int:
    """A Poisson draw (Knuth below 30, the normal approximation above)."""
    if lam <= 0:
        return 0
    if lam >= 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def compile_curve(c: LoadCurve, base_dir: Path | None, seed: str) -> Curve:
    """``rate(t)`` in requests per second; deterministic for a seed (a Poisson interval's count is drawn
    once, from an RNG seeded with the seed and the interval's index)."""
    if c.constant is not None:
        v = c.constant
        return lambda t: v
    if c.step is not None:
        pts = sorted((parse_duration(p.at), p.value) for p in c.step)
        times = [p[0] for p in pts]

        def step(t: float) -> float:
            i = bisect.bisect_right(times, t) - 1
            return pts[i][1] if i >= 0 else 0.0
        return step
    if c.diurnal is not None:
        d = c.diurnal
        lo, hi, peak, period = d.min, d.max, parse_duration(d.peakAt), parse_duration(d.period)
        return lambda t: lo + (hi - lo) * (1 + math.cos(2 * math.pi * (t - peak) / period)) / 2
    if c.poisson is not None:
        mean, every = c.poisson.mean, parse_duration(c.poisson.interval)
        memo: dict[int, float] = {}

        def poisson(t: float) -> float:
            k = int(t // every)
            v = memo.get(k)
            if v is None:
                v = memo[k] = poisson_count(random.Random(f"{seed}/{k}"), mean * every) / every
            return v
        return poisson
    assert c.trace is not None
    steps = read_trace(c.trace, base_dir)
    ts = [s[0] for s in steps]

    def trace(t: float) -> float:
        i = bisect.bisect_right(ts, t) - 1
        return steps[i][1] if i >= 0 else 0.0
    return trace
