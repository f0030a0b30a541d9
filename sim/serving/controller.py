"""The Deployment (ReplicaSet) controller, the HorizontalPodAutoscaler controller, Gateway API traffic and
scripted actions, as one controller on the host.

* **Deployments** keep ``replicas`` pods (``<name>-<template hash>-<n>``), each a one-pod owner the
  engine replaces when it fails; scaling down deletes pending pods first, then not-Ready ones, then the
  newest (the ReplicaSet controller's preference). A bound pod is Ready ``kubetwin.dev/ready-after``
  later.
* **Traffic** (every 5 s): each load's requests/s goes to a Deployment, or to an HTTPRoute whose first
  rule matching the load's headers splits it over its ``backendRefs`` by weight (the Service of a
  backendRef is the Deployment of that name). Ready pods serve ``kubetwin.dev/requests-per-second-per-pod``
  each; with no Ready pod the traffic is dropped; beyond capacity it queues. A request's latency is an
  M/M/1 sojourn at one pod (rate μ = capacity, arrivals λ = load / ready pods) plus the backlog's wait.
* **HPA** (every 15 s, :mod:`sim.serving.hpa`): ``SuccessfulRescale`` when it changes a Deployment's size.
* **ScalingReplicaSet**: the Deployment controller's event on the Deployment whenever its desired replicas
  change (created, a ``scale`` action, an HPA rescale): ``Scaled up|down replica set <rs> from <m> to <n>``.
* **Actions** (``spec.actions``) run at their time.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from models.actions import Action
from sim.host import ControllerHost
from sim.serving.hpa import limit, metric_value, proposal, stabilize
from sim.serving.plan import SYNC_PERIOD, DeploymentPlan, HPAPlan, ServingPlan, _tolerance
from sim.workloads import Instance

TRAFFIC_STEP = 5.0
#: latency histogram bucket edges, seconds (log-spaced 1 ms .. ~3 h)
EDGES: npt.NDArray[np.float64] = np.concatenate(([0.0], np.logspace(-3, 4, 281)))


class Deployment:
    """One Deployment's replicas."""

    def __init__(self, plan: DeploymentPlan) -> None:
        self.plan = plan
        self.replicas = plan.obj.spec.replicas
        self.owners: list[Instance] = []
        self.seq = 0
        self.backlog = 0.0

    def live(self) -> list[Any]:
        out = []
        for inst in self.owners:
            pod = inst.pods[-1] if inst.pods else None
            if pod is not None and pod.phase in ("Pending", "Waiting", "Running"):
                out.append(pod)
        return out

    def ready(self, now: float) -> tuple[int, int]:
        """(Ready pods, pods not Ready yet)."""
        live = self.live()
        ready = sum(1 for p in live if p.phase == "Running" and now >= p.bound_at + self.plan.ready_after)
        return ready, len(live) - ready


class Stats:
    """What one load (or one Deployment) saw."""

    def __init__(self, slo: float | None) -> None:
        self.slo = slo
        self.offered = self.served = self.dropped = self.slo_misses = 0.0
        self.hist = np.zeros(EDGES.size - 1)

    def add(self, served: float, dropped: float, rate: float, wait: float) -> None:
        """``served`` requests with latency ``wait`` + Exp(``rate``); ``dropped`` never served."""
        self.offered += served + dropped
        self.served += served
        self.dropped += dropped
        if served <= 0:
            return
        above = np.maximum(EDGES - wait, 0.0)
        cdf = np.where(above > 0, 1.0 - np.exp(-rate * above), 0.0)
        self.hist += served * np.diff(cdf)
        if self.slo is not None:
            self.slo_misses += served * (1.0 if wait >= self.slo else math.exp(-rate * (self.slo - wait)))

    def quantile(self, q: float) -> float | None:
        total = self.hist.sum()
        if total <= 0:
            return None
        c = np.cumsum(self.hist) / total
        i = int(np.searchsorted(c, q))
        return float(EDGES[min(i + 1, EDGES.size - 1)])

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"requests": round(self.offered), "served": round(self.served),
                               "dropped": round(self.dropped),
                               "latencySeconds": {"p50": self.quantile(0.5), "p95": self.quantile(0.95),
                                                  "p99": self.quantile(0.99)}}
        if self.slo is not None:
            out["sloMisses"] = round(self.slo_misses)
        return out


class ServingController:
    name = "serving"

    def __init__(self, plan: ServingPlan, autoscaler: Any = None) -> None:
        self.plan = plan
        self.autoscaler = autoscaler
        self.deployments = {k: Deployment(p) for k, p in plan.deployments.items()}
        self.weights = {k: [[ref.weight for ref in rule.backendRefs] for rule in r.spec.rules]
                        for k, r in plan.routes.items()}
        self.recs: dict[str, list[tuple[float, int]]] = {h.key: [] for h in plan.hpas}
        self.changes: dict[str, list[tuple[float, int]]] = {h.key: [] for h in plan.hpas}
        self.load_stats = [Stats(lp.slo) for lp in plan.loads]
        self.deploy_stats = {k: Stats(None) for k in self.deployments}
        self._host: ControllerHost | None = None

    @property
    def host(self) -> ControllerHost:
        assert self._host is not None, "start() first"
        return self._host

    def header(self) -> dict[str, Any]:
        return self.plan.header()

    def start(self, host: ControllerHost) -> None:
        self._host = host
        host.call_at(0.0, self._create_all)
        if self.plan.hpas:
            host.every(SYNC_PERIOD, self.sync_hpas)
        if self.plan.loads:
            host.every(TRAFFIC_STEP, self.traffic, start=TRAFFIC_STEP)
        for a in self.plan.actions:
            from models.duration import parse_duration

            host.call_at(parse_duration(a.at), lambda a=a: self.act(a))  # type: ignore[misc]

    # ------------------------------------------------------------------ Deployments

    def _create_all(self) -> None:
        for k in sorted(self.deployments):
            d = self.deployments[k]
            target, d.replicas = d.replicas, 0
            self.scale(d, target)

    def scale(self, d: Deployment, replicas: int) -> None:
        """Set the Deployment's desired replicas: its ``ScalingReplicaSet`` event (when the size changes),
        then the ReplicaSet's pods follow."""
        old = d.replicas
        if replicas != old:
            meta = d.plan.obj.metadata
            rs = f"{meta.name}-{d.plan.hash}"
            verb = "up" if replicas > old else "down"
            self.host.emit("ScalingReplicaSet", "Deployment", meta.name, meta.namespace,
                           reason=f"Scaled {verb} replica set {rs} from {old} to {replicas}",
                           data={"from": old, "to": replicas, "replicaSet": rs})
            d.replicas = replicas
        self.reconcile(d)

    def reconcile(self, d: Deployment) -> None:
        host = self.host
        live = d.live()
        if len(live) < d.replicas:
            for _ in range(d.replicas - len(live)):
                name = f"{d.plan.obj.metadata.name}-{d.plan.hash}-{d.seq}"
                d.seq += 1
                inst = Instance(d.plan.generator, name, d.plan.obj.metadata.namespace)
                inst.runtime = d.plan.generator.runtime(d.plan.generator.rng)
                d.owners.append(inst)
                host.create_pods(inst, {}, {}, prefix=name)
        elif len(live) > d.replicas:
            now = host.now
            ready_at = d.plan.ready_after

            def rank(p: Any) -> tuple[int, float]:
                state = 0 if p.phase != "Running" else 1 if now < p.bound_at + ready_at else 2
                return state, -p.seq

            doomed = {id(p) for p in sorted(live, key=rank)[: len(live) - d.replicas]}
            for inst in list(d.owners):
                if inst.pods and id(inst.pods[-1]) in doomed:
                    host.delete_pods(inst, "deleted by the ReplicaSet controller: scaled down")
                    d.owners.remove(inst)
        d.owners = [i for i in d.owners if i.pods and i.pods[-1].phase in ("Pending", "Waiting", "Running")]

    # ------------------------------------------------------------------ traffic

    def load_on(self, now: float) -> dict[str, float]:
        """Requests/s reaching each Deployment now, and per load."""
        out = {k: 0.0 for k in self.deployments}
        for lp in self.plan.loads:
            rate = lp.curve(now)
            for key, share in self._targets(lp).items():
                out[key] += rate * share
        return out

    def _targets(self, lp: Any) -> dict[str, float]:
        ld = lp.load
        if ld.backend is not None:
            return {f"{ld.namespace}/{ld.backend}": 1.0}
        route = self.plan.routes[lp.name]
        for i, rule in enumerate(route.spec.rules):
            if rule is route.rule_for(ld.headers):
                w = self.weights[lp.name][i]
                total = sum(w)
                if total == 0:
                    return {}
                out: dict[str, float] = {}
                for ref, wi in zip(rule.backendRefs, w, strict=True):
                    key = f"{ref.namespace or ld.namespace}/{ref.name}"
                    out[key] = out.get(key, 0.0) + wi / total
                return out
        return {}

    def traffic(self) -> None:
        now = self.host.now
        dt = TRAFFIC_STEP
        per_deploy: dict[str, list[tuple[int, float]]] = {k: [] for k in self.deployments}
        for i, lp in enumerate(self.plan.loads):
            rate = lp.curve(now)
            targets = self._targets(lp)
            if not targets:
                self.load_stats[i].add(0.0, rate * dt, 1.0, 0.0)
            for key, share in targets.items():
                per_deploy[key].append((i, rate * share))
        for key, parts in per_deploy.items():
            d = self.deployments[key]
            offered = sum(r for _, r in parts)
            ready, _ = d.ready(now)
            cap = d.plan.capacity
            if ready == 0 or cap is None:
                served, dropped, mu, wait = 0.0, offered * dt, 1.0, 0.0
                d.backlog = 0.0
            else:
                total_cap = ready * cap
                work = offered * dt + d.backlog
                served = min(work, total_cap * dt)
                d.backlog = work - served
                lam = min(offered / ready, cap * 0.999)
                mu = cap - lam
                wait = d.backlog / total_cap
                dropped = 0.0
            self.deploy_stats[key].add(served, dropped, mu, wait)
            for i, r in parts:
                share = r / offered if offered > 0 else 0.0
                self.load_stats[i].add(served * share, dropped * share, mu, wait)

    # ------------------------------------------------------------------ HPA

    def sync_hpas(self) -> None:
        now = self.host.now
        loads = self.load_on(now)
        for h in self.plan.hpas:
            self._sync(h, now, loads.get(h.target, 0.0))

    def _sync(self, h: HPAPlan, now: float, load: float) -> None:
        d = self.deployments[h.target]
        current = d.replicas
        if current == 0:
            return  # scaled to zero by hand: the HPA is inactive (ScalingActive=False)
        ready, unready = d.ready(now)
        cap = d.plan.capacity or 1.0
        best = None
        why = ""
        shown = (0.0, 0.0)
        for m in h.metrics:
            value = metric_value(m, load, ready, cap)
            p = proposal(m, value, ready, unready, current, _tolerance(h.up), _tolerance(h.down))
            if best is None or p > best:
                per = value / current if m.type == "External" and m.target_type == "AverageValue" else value
                best, why, shown = p, m.name, (per, m.target)
        if best is None:
            return
        rec = best
        lo, hi = h.obj.spec.minReplicas, h.obj.spec.maxReplicas
        rec = max(lo, min(hi, rec))
        stab = stabilize(self.recs[h.key], now, rec, current, float(h.up.stabilizationWindowSeconds or 0),
                         float(h.down.stabilizationWindowSeconds or 0))
        self.recs[h.key].append((now, rec))
        horizon = max(float(h.down.stabilizationWindowSeconds or 0), float(h.up.stabilizationWindowSeconds or 0),
                      1800.0)
        self.recs[h.key] = [r for r in self.recs[h.key] if r[0] > now - horizon]
        new = limit(self.changes[h.key], now, current, stab, h.up, h.down)
        new = max(lo, min(hi, new))
        if new == current:
            return
        self.changes[h.key].append((now, new - current))
        self.changes[h.key] = [c for c in self.changes[h.key] if c[0] > now - 1800.0]
        reason = f"{why} above target" if new > current else "All metrics below target"
        ns, name = h.key.split("/", 1)
        self.host.emit("SuccessfulRescale", "HorizontalPodAutoscaler", name, ns,
                       reason=f"New size: {new}; reason: {reason}",
                       data={"from": current, "to": new, "metric": why, "value": round(shown[0], 6),
                             "target": shown[1]})
        self.scale(d, new)

    # ------------------------------------------------------------------ actions

    def act(self, a: Action) -> None:
        host = self.host
        if a.scale is not None:
            self.scale(self.deployments[f"{a.scale.namespace}/{a.scale.deployment}"], a.scale.replicas)
        elif a.setWeights is not None:
            key = f"{a.setWeights.namespace}/{a.setWeights.route}"
            route = self.plan.routes[key]
            for i, rule in enumerate(route.spec.rules):
                for j, ref in enumerate(rule.backendRefs):
                    if ref.name in a.setWeights.weights:
                        self.weights[key][i][j] = a.setWeights.weights[ref.name]
        elif a.cordon is not None or a.drain is not None:
            target = a.cordon or a.drain
            assert target is not None
            idx = next((n.idx for n in host.cluster.nodes if n.name == target.node and n.ready), None)
            if idx is not None:
                if a.drain is not None:
                    host.drain(idx)
                else:
                    host.cordon(idx, "cordoned by a scripted action")
        elif a.deleteNode is not None or a.failNode is not None:
            target = a.deleteNode or a.failNode
            assert target is not None
            idx = next((n.idx for n in host.cluster.nodes if n.name == target.node and n.ready), None)
            if idx is not None:
                host.remove_node(idx, "NodeNotReady: failed by a scripted action" if a.failNode
                                 else "deleted by a scripted action")
        elif a.setPoolSize is not None:
            sp = a.setPoolSize
            pool = host.cluster.pools[sp.pool]
            if self.autoscaler is not None and sp.pool in self.autoscaler.s.groups:
                g = self.autoscaler.s.groups[sp.pool]
                g.min_count = g.min_count if sp.minCount is None else sp.minCount
                g.max_count = g.max_count if sp.maxCount is None else sp.maxCount
            if sp.count is not None:
                while pool.ready < sp.count:
                    host.add_node(pool)
                ready = [i for i in pool.nodes if host.cluster.nodes[i].ready]
                for i in sorted(ready, reverse=True)[: max(0, len(ready) - sp.count)]:
                    host.remove_node(i, "deleted by a scripted action (setPoolSize)")

    # ------------------------------------------------------------------ summary

    def summary_section(self, end: float) -> dict[str, Any]:
        """``summary.json``'s ``serving`` (when there is load)."""
        return {"serving": self.summary()} if self.plan.loads else {}

    def summary(self) -> dict[str, Any]:
        def label(lp: Any) -> str:
            hdr = ",".join(f"{k}={v}" for k, v in sorted(lp.load.headers.items()))
            return f"{lp.name} [{hdr}]" if hdr else lp.name

        return {"loads": {label(lp): s.summary() for lp, s in zip(self.plan.loads, self.load_stats, strict=True)},
                "deployments": {k: {**s.summary(), "replicasAtEnd": self.deployments[k].replicas}
                                for k, s in sorted(self.deploy_stats.items())}}
