"""A serving pod's GPU utilisation over a run, as dcgm-exporter would read it (``DCGM_FI_DEV_GPU_UTIL``).

It is the same busy share the HorizontalPodAutoscaler sees (:func:`sim.serving.hpa.metric_value`): a
Deployment's Ready pods share its traffic evenly, so each one is ``100 × min(1, load / (ready ×
capacity))`` % busy, where ``load`` is the requests/s reaching the Deployment (each load curve, split
over an HTTPRoute rule's ``backendRefs`` by weight, with ``setWeights`` actions applied from their
time on) and ``capacity`` its ``kubetwin.dev/requests-per-second-per-pod``. A pod that is bound but not
Ready yet (``kubetwin.dev/ready-after``: loading its model) serves nothing: 0 %.

:func:`serving_utilization` rebuilds this from a timeline alone — the ``RunStarted.data.serving``
header (objects, loads, actions) and the pods' ``Scheduled`` / end events — so ``kubetwin simulate
--metrics`` writes it for any simulated timeline.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.actions import Action
from models.duration import parse_duration
from models.serving import Deployment, HTTPRoute, Load
from models.timeline import Event
from sim.serving.load import Curve, compile_curve

#: a pod's utilisation (percent) at simulated time t, or None: not a serving pod
Utilization = Callable[[str, float], float | None]


@dataclass
class _Pod:
    deployment: str
    scheduled: float | None = None
    ended: float | None = None


@dataclass
class _Deploy:
    capacity: float | None
    ready_after: float
    pods: list[_Pod] = field(default_factory=list)

    def ready(self, t: float) -> int:
        return sum(1 for p in self.pods if p.scheduled is not None and p.scheduled + self.ready_after <= t
                   and (p.ended is None or p.ended > t))


@dataclass
class _Load:
    load: Load
    curve: Curve
    route: HTTPRoute | None


class ServingUtilization:
    """The utilisation model of one run (see the module docstring)."""

    def __init__(self, serving: Mapping[str, Any], seed: int) -> None:
        self.deployments: dict[str, _Deploy] = {}
        self.patterns: list[tuple[str, str, re.Pattern[str]]] = []
        routes: dict[str, HTTPRoute] = {}
        for o in serving.get("objects") or []:
            kind = o.get("kind") if isinstance(o, Mapping) else None
            if kind == "Deployment":
                d = Deployment.model_validate(o)
                key = f"{d.metadata.namespace}/{d.metadata.name}"
                self.deployments[key] = _Deploy(d.capacity(), d.ready_after())
                self.patterns.append((d.metadata.namespace, key,
                                      re.compile(re.escape(d.metadata.name) + r"-[0-9a-f]{10}-\d+(-p\d+)*")))
            elif kind == "HTTPRoute":
                r = HTTPRoute.model_validate(o)
                routes[f"{r.metadata.namespace}/{r.metadata.name}"] = r
        self.loads: list[_Load] = []
        for i, raw in enumerate(serving.get("loads") or []):
            ld = Load.model_validate(raw)
            route = routes.get(f"{ld.namespace}/{ld.route}") if ld.route is not None else None
            self.loads.append(_Load(ld, compile_curve(ld.requestsPerSecond, Path("."), f"{seed}/load/{i}"), route))
        #: route key -> [(from time, weights per rule)]
        self.weights: dict[str, list[tuple[float, list[list[int]]]]] = {
            k: [(float("-inf"), [[b.weight for b in rule.backendRefs] for rule in r.spec.rules])]
            for k, r in routes.items()}
        for a in sorted((Action.model_validate(x) for x in serving.get("actions") or []),
                        key=lambda a: parse_duration(a.at)):
            if a.setWeights is None:
                continue
            key = f"{a.setWeights.namespace}/{a.setWeights.route}"
            if key not in routes:
                continue
            w = [list(x) for x in self.weights[key][-1][1]]
            for i, rule in enumerate(routes[key].spec.rules):
                for j, ref in enumerate(rule.backendRefs):
                    if ref.name in a.setWeights.weights:
                        w[i][j] = a.setWeights.weights[ref.name]
            self.weights[key].append((parse_duration(a.at), w))
        self.pods: dict[str, _Pod] = {}
        self._busy: dict[tuple[str, float], float] = {}

    def deployment_of(self, namespace: str, name: str) -> str | None:
        for ns, key, pat in self.patterns:
            if ns == namespace and pat.fullmatch(name):
                return key
        return None

    def observe(self, ev: Event) -> None:
        """Take one timeline event (pods of the Deployments: created, bound, gone)."""
        if ev.kind != "Pod" or not self.patterns:
            return
        key = ev.key
        if ev.type == "PodCreated":
            dep = self.deployment_of(ev.namespace or "default", ev.name)
            if dep is not None and key not in self.pods:
                self.pods[key] = new = _Pod(dep)
                self.deployments[dep].pods.append(new)
            return
        p = self.pods.get(key)
        if p is None:
            return
        if ev.type == "Scheduled" and p.scheduled is None:
            p.scheduled = ev.t
        elif ev.type in ("PodSucceeded", "PodFailed", "PodDeleted", "Preempted") and p.ended is None:
            p.ended = ev.t

    def load_on(self, t: float) -> dict[str, float]:
        """Requests/s reaching each Deployment at ``t`` (as the serving controller routes them)."""
        out = {k: 0.0 for k in self.deployments}
        for lp in self.loads:
            rate = lp.curve(t)
            ld = lp.load
            if ld.backend is not None:
                key = f"{ld.namespace}/{ld.backend}"
                if key in out:
                    out[key] += rate
                continue
            route = lp.route
            if route is None:
                continue
            rule = route.rule_for(ld.headers)
            if rule is None:
                continue
            hist = self.weights[f"{route.metadata.namespace}/{route.metadata.name}"]
            weights = hist[bisect.bisect_right([h[0] for h in hist], t) - 1][1]
            w = weights[route.spec.rules.index(rule)]
            total = sum(w)
            if total == 0:
                continue
            for ref, wi in zip(rule.backendRefs, w, strict=True):
                key = f"{ref.namespace or ld.namespace}/{ref.name}"
                if key in out:
                    out[key] += rate * wi / total
        return out

    def busy(self, deployment: str, t: float) -> float:
        """Each Ready pod's utilisation (percent) of ``deployment`` at ``t`` (remembered per instant: a
        scrape asks once per GPU)."""
        got = self._busy.get((deployment, t))
        if got is not None:
            return got
        d = self.deployments[deployment]
        ready = d.ready(t)
        value = 0.0 if ready == 0 or not d.capacity else \
            100.0 * min(1.0, self.load_on(t)[deployment] / (ready * d.capacity))
        if len(self._busy) > 4096:
            self._busy.clear()
        self._busy[(deployment, t)] = value
        return value

    def __call__(self, pod: str, t: float) -> float | None:
        p = self.pods.get(pod)
        if p is None:
            return None
        d = self.deployments[p.deployment]
        if p.scheduled is None or p.scheduled + d.ready_after > t or (p.ended is not None and p.ended <= t):
            return 0.0
        return self.busy(p.deployment, t)


def serving_utilization(events: Iterable[Event]) -> ServingUtilization | None:
    """The utilisation model of a timeline whose header records serving objects; None otherwise."""
    model: ServingUtilization | None = None
    for ev in events:
        if ev.type == "RunStarted" and model is None:
            serving = ev.data.get("serving")
            if not isinstance(serving, Mapping) or not serving.get("objects"):
                return None
            seed = ev.data.get("seed")
            model = ServingUtilization(serving, int(seed) if isinstance(seed, int) else 0)
            continue
        if model is None:
            return None
        model.observe(ev)
    return model


__all__ = ["ServingUtilization", "Utilization", "serving_utilization"]
