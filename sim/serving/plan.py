"""``spec.serving`` and ``spec.actions`` resolved before the clock starts: objects parsed and cross-checked,
metrics classified, load curves compiled. Every problem is an :class:`models.errors.InputError`."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from models.actions import Action
from models.errors import InputError
from models.quantity import format_resources
from models.scenario import Scenario, WorkloadGen
from models.serving import (
    API_VERSIONS,
    KINDS,
    Deployment,
    HorizontalPodAutoscaler,
    HTTPRoute,
    Load,
    ScalingPolicy,
    ScalingRules,
)
from models.yaml_input import load_documents
from sim.serving.load import Curve, compile_curve
from sim.workloads import Generator, resolve_template

#: upstream defaults (kube-controller-manager)
SYNC_PERIOD = 15.0
TOLERANCE = 0.1
# (model_construct: these literal values are valid, and validating them would build the models' validators at
# import; the instances equal the validated ones, fields set included)
DEFAULT_UP = ScalingRules.model_construct(
    stabilizationWindowSeconds=0, selectPolicy="Max",
    policies=[ScalingPolicy.model_construct(type="Pods", value=4, periodSeconds=15),
              ScalingPolicy.model_construct(type="Percent", value=100, periodSeconds=15)])
DEFAULT_DOWN = ScalingRules.model_construct(
    stabilizationWindowSeconds=300, selectPolicy="Max",
    policies=[ScalingPolicy.model_construct(type="Percent", value=100, periodSeconds=15)])
#: how a pod runs "forever": ten years
FOREVER = 315_360_000.0


@dataclass
class DeploymentPlan:
    obj: Deployment
    key: str
    generator: Generator
    hash: str
    capacity: float | None
    ready_after: float


@dataclass
class MetricPlan:
    """One HPA metric: what it measures (``utilization`` percent, ``ratio`` 0–1, ``rps``) and its target."""

    name: str
    type: str
    measure: str
    target_type: str
    target: float


@dataclass
class HPAPlan:
    obj: HorizontalPodAutoscaler
    key: str
    target: str
    metrics: list[MetricPlan]
    up: ScalingRules
    down: ScalingRules


@dataclass
class LoadPlan:
    load: Load
    name: str
    curve: Curve
    slo: float | None


@dataclass
class ServingPlan:
    deployments: dict[str, DeploymentPlan] = field(default_factory=dict)
    hpas: list[HPAPlan] = field(default_factory=list)
    routes: dict[str, HTTPRoute] = field(default_factory=dict)
    loads: list[LoadPlan] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    #: the Deployments, HPAs and HTTPRoutes as read, in the order the scenario gives them
    objects: list[Any] = field(default_factory=list)
    #: the scenario's directory (a trace load's CSV path is relative to it)
    base_dir: Path | None = None

    def header(self) -> dict[str, Any]:
        """What ``RunStarted.data.serving`` records: each HPA's bounds, tolerance and windows; and, so that
        ``kubetwin replay`` and ``--metrics`` can rebuild the traffic, the objects as read, the loads (a
        trace's CSV path made absolute) and the scripted actions."""
        loads = []
        for lp in self.loads:
            ld = lp.load.model_dump(mode="json", exclude_none=True, by_alias=True)
            tr = lp.load.requestsPerSecond.trace
            if tr is not None and not Path(tr.csv).is_absolute() and self.base_dir is not None:
                ld["requestsPerSecond"]["trace"]["csv"] = str((self.base_dir / tr.csv).resolve())
            loads.append(ld)
        return {"horizontalPodAutoscalers": [
            {"name": h.key, "target": h.target, "minReplicas": h.obj.spec.minReplicas,
             "maxReplicas": h.obj.spec.maxReplicas, "tolerance": _tolerance(h.down),
             "scaleUpStabilizationSeconds": h.up.stabilizationWindowSeconds,
             "scaleDownStabilizationSeconds": h.down.stabilizationWindowSeconds, "syncPeriodSeconds": SYNC_PERIOD}
            for h in self.hpas],
            "objects": [o.model_dump(mode="json", exclude_none=True, by_alias=True) for o in self.objects],
            "loads": loads,
            "actions": [a.model_dump(mode="json", exclude_none=True, by_alias=True) for a in self.actions]}


def _tolerance(rules: ScalingRules) -> float:
    return TOLERANCE if rules.tolerance is None else rules.tolerance


def _measure(mtype: str, name: str) -> str | None:
    low = name.lower()
    if mtype in ("Resource", "ContainerResource"):
        return "utilization" if name in ("cpu", "memory", "nvidia.com/gpu") else None
    if low in ("dcgm_fi_dev_gpu_util",) or "gpu_util" in low:
        return "utilization"
    if "engine_active" in low or "tensor_active" in low:
        return "ratio"
    if any(w in low for w in ("requests_per_second", "request_rate", "rps", "qps")):
        return "rps"
    return None


def _rules(given: ScalingRules | None, default: ScalingRules) -> ScalingRules:
    if given is None:
        return default
    return ScalingRules(
        stabilizationWindowSeconds=default.stabilizationWindowSeconds if given.stabilizationWindowSeconds is None
        else given.stabilizationWindowSeconds,
        selectPolicy=given.selectPolicy, policies=default.policies if given.policies is None else given.policies,
        tolerance=given.tolerance)


def plan_from(scenario: Scenario, seed: int) -> ServingPlan | None:
    spec = scenario.spec
    src = str(scenario.source) if scenario.source else None
    if spec.serving is None and not spec.actions and not spec.manifests:
        return None
    plan = ServingPlan(actions=list(spec.actions), base_dir=scenario.base_dir)
    objects = _objects(scenario, src)
    plan.objects = [obj for _, obj in objects]
    if spec.serving is None and not spec.actions and not objects:
        return None
    for where, obj in objects:
        key = f"{obj.metadata.namespace}/{obj.metadata.name}"
        if isinstance(obj, Deployment):
            plan.deployments[key] = _deployment(obj, key, seed, where, src)
        elif isinstance(obj, HTTPRoute):
            plan.routes[key] = obj
    for where, obj in objects:
        if isinstance(obj, HorizontalPodAutoscaler):
            key = f"{obj.metadata.namespace}/{obj.metadata.name}"
            target = f"{obj.metadata.namespace}/{obj.spec.scaleTargetRef.name}"
            d = plan.deployments.get(target)
            if d is None:
                raise InputError(f"HorizontalPodAutoscaler {key} scales Deployment {target}, which is not defined",
                                 file=src, field=f"{where}.spec.scaleTargetRef", fix="define that Deployment")
            metrics = []
            for i, m in enumerate(obj.spec.metrics):
                name, tgt = m.named()
                measure = _measure(m.type, name)
                if measure is None:
                    raise InputError(f"metric {name!r} ({m.type}) is not one kubetwin can compute", file=src,
                                     field=f"{where}.spec.metrics[{i}]",
                                     fix="use Resource cpu/memory/nvidia.com/gpu, DCGM_FI_DEV_GPU_UTIL, "
                                         "DCGM_FI_PROF_GR_ENGINE_ACTIVE or a requests_per_second metric")
                metrics.append(MetricPlan(name, m.type, measure, tgt.type, tgt.number()))
            if metrics and d.capacity is None:
                raise InputError(f"Deployment {target} has an HPA on load but no annotation "
                                 "kubetwin.dev/requests-per-second-per-pod", file=src, field=where,
                                 fix="annotate the Deployment with the requests per second one pod serves")
            b = obj.spec.behavior
            plan.hpas.append(HPAPlan(obj, key, target, metrics, _rules(b.scaleUp if b else None, DEFAULT_UP),
                                     _rules(b.scaleDown if b else None, DEFAULT_DOWN)))
    loads = spec.serving.loads if spec.serving is not None else []
    for i, ld in enumerate(loads):
        where = f"spec.serving.loads[{i}]"
        if ld.route is not None:
            rkey = f"{ld.namespace}/{ld.route}"
            route = plan.routes.get(rkey)
            if route is None:
                raise InputError(f"HTTPRoute {rkey} is not defined", file=src, field=f"{where}.route",
                                 fix="add it under spec.serving.objects")
            for rule in route.spec.rules:
                for ref in rule.backendRefs:
                    bkey = f"{ref.namespace or ld.namespace}/{ref.name}"
                    if bkey not in plan.deployments:
                        raise InputError(f"HTTPRoute {rkey} sends to Service {bkey}, but no Deployment of that "
                                         "name serves it", file=src, field=f"{where}.route",
                                         fix="name the Deployment like the Service (kubetwin's Service = "
                                             "Deployment of the same name)")
            name = rkey
        else:
            name = f"{ld.namespace}/{ld.backend}"
            if name not in plan.deployments:
                raise InputError(f"Deployment {name} is not defined", file=src, field=f"{where}.backend",
                                 fix="add it under spec.serving.objects")
        try:
            curve = compile_curve(ld.requestsPerSecond, scenario.base_dir, f"{seed}/load/{i}")
        except ValueError as e:
            raise InputError(str(e), file=src, field=f"{where}.requestsPerSecond",
                             fix="point csv at a readable file with those columns") from None
        from models.duration import parse_duration

        plan.loads.append(LoadPlan(ld, name, curve, parse_duration(ld.latencySLO) if ld.latencySLO else None))
    check_actions(plan, scenario, src)
    return plan


def _objects(scenario: Scenario, src: str | None) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    serving = scenario.spec.serving
    listed: list[tuple[str, dict[str, Any] | str, bool]] = [
        (f"spec.serving.objects[{i}]", item, False) for i, item in enumerate(serving.objects if serving else [])]
    # Deployments, HPAs and HTTPRoutes may also sit in the files spec.manifests lists (other kinds there
    # are the manifest loader's)
    listed += [(f"spec.manifests[{i}]", path, True) for i, path in enumerate(scenario.spec.manifests)]
    for where, item, from_manifests in listed:
        if isinstance(item, str):
            path = Path(item) if Path(item).is_absolute() else scenario.base_dir / item
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as e:
                raise InputError(f"cannot read {path}: {e.strerror}", file=src, field=where,
                                 fix="give a readable YAML file path, relative to the scenario") from None
            docs = [d for d in load_documents(text, str(path)) if d is not None]
            items = [(f"{item}#{j}", d) for j, d in enumerate(docs)]
        else:
            items = [(where, item)]
        for w, doc in items:
            kind = doc.get("kind") if isinstance(doc, dict) else None
            model = KINDS.get(str(kind))
            if from_manifests and (model is None or doc.get("apiVersion") not in API_VERSIONS):
                continue
            if model is None:
                raise InputError(f"kind {kind!r} is not a serving object", file=src, field=w,
                                 fix=f"use one of {', '.join(KINDS)} (apps/v1, autoscaling/v2, "
                                     "gateway.networking.k8s.io/v1)")
            try:
                out.append((w, model.model_validate(doc)))
            except ValidationError as e:
                err = e.errors()[0]
                loc = ".".join(str(x) for x in err["loc"])
                raise InputError(f"{kind}: {loc}: {err['msg']}", file=src, field=f"{w}.{loc}" if loc else w,
                                 fix="write the object as the Kubernetes API defines it") from None
            except ValueError as e:
                raise InputError(f"{kind}: {e}", file=src, field=w, fix="fix the object") from None
    keys = [f"{type(o).__name__}/{o.metadata.namespace}/{o.metadata.name}" for _, o in out]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise InputError(f"{dup[0]} is defined twice", file=src, field="spec.serving.objects", fix="keep one")
    return out


def _deployment(obj: Deployment, key: str, seed: int, where: str, src: str | None) -> DeploymentPlan:
    pod = obj.spec.template.spec
    template: dict[str, Any] = {"requests": format_resources(obj.requests()), "nodeSelector": pod.nodeSelector,
                                "tolerations": pod.tolerations}
    if pod.affinity:
        template["affinity"] = pod.affinity
    try:
        w = WorkloadGen.model_validate({"name": obj.metadata.name, "namespace": obj.metadata.namespace,
                                        "arrival": {"at": []}, "count": 0, "template": template,
                                        "duration": "1h"})
    except ValidationError as e:
        raise InputError(f"Deployment {key}: {e.errors()[0]['msg']}", file=src, field=f"{where}.spec.template",
                         fix="check the pod template's requests, nodeSelector, tolerations and affinity") from None
    ps = resolve_template(w.template, None, 1, None)
    g = Generator(w, seed, lambda rng: FOREVER, [ps])
    digest = hashlib.sha256(json.dumps(obj.spec.template.model_dump(), sort_keys=True).encode()).hexdigest()
    return DeploymentPlan(obj, key, g, digest[:10], obj.capacity(), obj.ready_after())


__all__ = ["DEFAULT_DOWN", "DEFAULT_UP", "SYNC_PERIOD", "TOLERANCE", "DeploymentPlan", "HPAPlan", "LoadPlan",
           "MetricPlan", "ServingPlan", "plan_from"]


def check_actions(plan: ServingPlan, scenario: Scenario, src: str | None) -> None:
    """Every action names something the scenario defines (nodes are checked when the action runs)."""
    pools = {p.name: p for p in scenario.spec.cluster.nodePools}
    for i, a in enumerate(plan.actions):
        where = f"spec.actions[{i}]"
        if a.scale is not None and f"{a.scale.namespace}/{a.scale.deployment}" not in plan.deployments:
            raise InputError(f"Deployment {a.scale.namespace}/{a.scale.deployment} is not defined", file=src,
                             field=f"{where}.scale.deployment", fix="add it under spec.serving.objects")
        if a.setWeights is not None:
            key = f"{a.setWeights.namespace}/{a.setWeights.route}"
            route = plan.routes.get(key)
            if route is None:
                raise InputError(f"HTTPRoute {key} is not defined", file=src, field=f"{where}.setWeights.route",
                                 fix="add it under spec.serving.objects")
            names = {r.name for rule in route.spec.rules for r in rule.backendRefs}
            unknown = sorted(set(a.setWeights.weights) - names)
            if unknown:
                raise InputError(f"HTTPRoute {key} has no backendRef {unknown[0]!r}", file=src,
                                 field=f"{where}.setWeights.weights", fix=f"use one of {', '.join(sorted(names))}")
        if a.setPoolSize is not None:
            sp = a.setPoolSize
            pool = pools.get(sp.pool)
            if pool is None:
                raise InputError(f"node pool {sp.pool!r} is not defined", file=src, field=f"{where}.setPoolSize.pool",
                                 fix=f"use one of {', '.join(sorted(pools))}")
            if (sp.minCount is not None or sp.maxCount is not None) and pool.autoscaling is None:
                raise InputError(f"pool {sp.pool!r} does not autoscale: minCount/maxCount do not apply", file=src,
                                 field=f"{where}.setPoolSize", fix="give only count, or add autoscaling to the pool")
