"""Fitting control-plane latencies from a timeline: how long a real cluster's components took.

It mirrors the delays Kubernetes' own SLIs measure and the twin otherwise skips: the kubelet's pod
startup (``Scheduled`` → ``PodRunning``: sandbox, image pull, container start — the pod startup
latency SLI), the scheduling queue (``PodCreated`` → the pod's first scheduling attempt) and, for
Kueue, the Job controller creating pods once Kueue unsuspends the Job (``Admitted`` → ``PodCreated``).
Each observed sample set is fitted to one of the scenario's distributions (``models.distributions``)
by the smallest one-sample Kolmogorov–Smirnov distance, and written as ``spec.latencies.<name>``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from models.timeline import Event
from validator.compare import ks_distance

#: below this (seconds) every sample counts as no delay at all
ZERO = 1e-6
#: above this KS distance the best parametric fit is replaced by an empirical one (when n >= 20)
EMPIRICAL_KS = 0.1
EMPIRICAL_POINTS = 100


def go_duration(seconds: float) -> str:
    """Seconds as a Go duration the scenario reads back exactly (microseconds kept): ``1444.206075s``."""
    s = round(max(0.0, seconds), 6)
    if s == int(s):
        return f"{int(s)}s"
    return f"{s:.6f}".rstrip("0") + "s"


def latency_samples(events: Sequence[Event]) -> dict[str, list[float]]:
    """The observed delays, per ``spec.latencies`` field name, in timeline order.

    Events a recorder derived or placed at the start for objects that existed before it
    (``data.derived`` / ``data.preexisting``) carry no timing and are left out.
    """
    created: dict[str, float] = {}
    scheduled: dict[str, float] = {}
    attempted: set[str] = set()
    admitted: dict[str, float] = {}
    out: dict[str, list[float]] = {"schedulerQueue": [], "podStartup": [], "jobPodCreation": []}
    for ev in events:
        untimed = bool(ev.data.get("derived") or ev.data.get("preexisting"))
        tp = ev.type
        if tp == "Admitted":
            if untimed:
                admitted.pop(ev.group or ev.key, None)
            else:
                admitted[ev.group or ev.key] = ev.t
            continue
        if ev.kind != "Pod":
            continue
        k = ev.key
        if tp == "PodCreated":
            if k in attempted or k in created:
                continue
            if untimed:
                attempted.add(k)          # its creation time is unknown: no queue sample
            else:
                created[k] = ev.t
                if ev.group is not None and ev.group in admitted:
                    out["jobPodCreation"].append(ev.t - admitted[ev.group])
        elif tp in ("Scheduled", "FailedScheduling"):
            if k not in attempted:
                attempted.add(k)
                # a gang member's first visible attempt waits for its gang (PreEnqueue, Permit): not queue time
                if k in created and not untimed and ev.group is None:
                    out["schedulerQueue"].append(ev.t - created[k])
            if tp == "Scheduled" and k not in scheduled:
                scheduled[k] = math.nan if untimed else ev.t
        elif tp == "PodRunning" and k in scheduled:
            start = scheduled.pop(k)
            scheduled[k] = math.inf       # counted once
            if not untimed and math.isfinite(start):
                out["podStartup"].append(ev.t - start)
    return {k: [max(0.0, x) for x in v] for k, v in out.items()}


def _ks_one(xs: np.ndarray, cdf: np.ndarray) -> float:
    n = xs.size
    i = np.arange(1, n + 1)
    return float(max(np.max(i / n - cdf), np.max(cdf - (i - 1) / n)))


def _erf(z: np.ndarray) -> np.ndarray:
    return np.array([math.erf(float(v)) for v in z], dtype=float)


def fit_distribution(samples: Sequence[float]) -> dict[str, Any]:
    """Fit one sample set: ``{count, mean, p50, p95, max, kind, distribution, ks}``.

    ``distribution`` is in scenario syntax (``{"lognormal": {"median": "2.5s", "sigma": 0.4}}``) or
    None when every sample is zero (the default: no delay). Candidates: constant (all samples equal or
    fewer than 5), exponential (MLE mean), lognormal (MLE on the logs, when every sample is > 0) and
    uniform (min, max); the smallest KS distance wins, and an empirical distribution of
    :data:`EMPIRICAL_POINTS` quantiles replaces a poor winner (KS > :data:`EMPIRICAL_KS`, n ≥ 20).
    """
    xs = np.sort(np.asarray(samples, dtype=float))
    n = int(xs.size)
    if n == 0:
        return {"count": 0, "mean": None, "p50": None, "p95": None, "max": None, "kind": None,
                "distribution": None, "ks": None}
    stats: dict[str, Any] = {"count": n, "mean": round(float(xs.mean()), 6),
                             "p50": round(float(np.percentile(xs, 50)), 6),
                             "p95": round(float(np.percentile(xs, 95)), 6), "max": round(float(xs[-1]), 6)}
    if xs[-1] <= ZERO:
        return {**stats, "kind": "zero", "distribution": None, "ks": 0.0}
    if n < 5 or xs[-1] - xs[0] <= ZERO:
        med = float(np.percentile(xs, 50))
        # sup |ECDF − step at med|: the share of samples below med, or above it
        ks = max(float(np.mean(xs < med)), float(np.mean(xs > med)))
        return {**stats, "kind": "constant", "distribution": {"constant": {"value": go_duration(med)}},
                "ks": round(ks, 6)}
    cands: list[tuple[float, str, dict[str, Any]]] = []
    mean = float(xs.mean())
    cands.append((_ks_one(xs, 1.0 - np.exp(-xs / mean)), "exponential",
                  {"exponential": {"mean": go_duration(mean)}}))
    lo, hi = float(xs[0]), float(xs[-1])
    cands.append((_ks_one(xs, np.clip((xs - lo) / (hi - lo), 0.0, 1.0)), "uniform",
                  {"uniform": {"min": go_duration(lo), "max": go_duration(hi)}}))
    if lo > 0:
        logs = np.log(xs)
        mu, sigma = float(logs.mean()), float(logs.std())
        if sigma > 0:
            sigma = min(sigma, 10.0)
            cdf = 0.5 * (1.0 + _erf((logs - mu) / (sigma * math.sqrt(2.0))))
            cands.append((_ks_one(xs, cdf), "lognormal",
                          {"lognormal": {"median": go_duration(math.exp(mu)), "sigma": round(sigma, 6)}}))
    cands.sort(key=lambda c: (c[0], c[1]))
    ks, kind, dist = cands[0]
    if ks > EMPIRICAL_KS and n >= 20:
        qs = np.percentile(xs, np.linspace(0, 100, min(n, EMPIRICAL_POINTS)))
        ks_emp = ks_distance(xs.tolist(), qs.tolist()) or 0.0
        return {**stats, "kind": "empirical", "distribution": {"empirical": {"values": [go_duration(float(q))
                                                                                         for q in qs]}},
                "ks": round(ks_emp, 6)}
    return {**stats, "kind": kind, "distribution": dist, "ks": round(ks, 6)}


def fit_latencies(events: Sequence[Event]) -> dict[str, dict[str, Any]]:
    """Every latency the timeline lets us observe, fitted (keys: ``spec.latencies`` field names)."""
    return {name: fit_distribution(xs) for name, xs in latency_samples(events).items() if xs}
