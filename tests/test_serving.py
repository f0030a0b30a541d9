"""Deployments, the HPA, Gateway API traffic and scripted actions: formulas pinned against hand
calculation, the real-cluster reproduction with a Deployment, HPA invariants on hand-made timelines."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from timeline_builder import TL

from kubetwin.cmd_simulate import simulate_to
from models.errors import InputError
from models.scenario import load_scenario
from models.serving import LoadCurve, ScalingPolicy, ScalingRules
from models.timeline import Event, read_timeline
from sim.build import build
from sim.serving.hpa import limit, metric_value, proposal, stabilize
from sim.serving.load import compile_curve
from sim.serving.plan import DEFAULT_DOWN, DEFAULT_UP, MetricPlan
from validator.checks import check, run_checks

ROOT = Path(__file__).resolve().parent.parent
QPS = ROOT.parent / "shared" / "data" / "alibaba-genai-qps" / "qps.csv"


def gpu_util(target: float = 60.0) -> MetricPlan:
    return MetricPlan("DCGM_FI_DEV_GPU_UTIL", "Pods", "utilization", "AverageValue", target)


# ---------------------------------------------------------------------------------------------- formulas


def test_metric_values() -> None:
    assert metric_value(gpu_util(), load=30.0, ready=4, capacity=10.0) == 75.0      # 30 / 40
    assert metric_value(gpu_util(), load=90.0, ready=4, capacity=10.0) == 100.0     # saturated
    rps = MetricPlan("requests_per_second", "Pods", "rps", "AverageValue", 8.0)
    assert metric_value(rps, load=30.0, ready=4, capacity=10.0) == 7.5
    total = MetricPlan("requests_per_second", "Object", "rps", "Value", 100.0)
    assert metric_value(total, load=30.0, ready=4, capacity=10.0) == 30.0


def test_desired_is_ceil_current_times_ratio_with_tolerance() -> None:
    m = gpu_util(60.0)
    assert proposal(m, 90.0, ready=4, unready=0, current=4) == 6       # ceil(4 × 1.5)
    assert proposal(m, 65.0, ready=4, unready=0, current=4) == 4       # 1.083: inside 0.1
    assert proposal(m, 66.6, ready=4, unready=0, current=4) == 5       # 1.11: ceil(4.44)
    assert proposal(m, 30.0, ready=4, unready=0, current=4) == 2       # ceil(4 × 0.5)
    assert proposal(m, 54.5, ready=4, unready=0, current=4) == 4       # 0.908: inside
    # not-yet-Ready pods count as idle on a scale-up: 90 × 2 / (60 × 4) = 0.75 -> no scale-up
    assert proposal(m, 90.0, ready=2, unready=2, current=4) == 4
    # ... unless the load still needs more: 100 × 3 / (60 × 4) = 1.25 -> ceil(1.25 × 4) = 5
    assert proposal(m, 100.0, ready=3, unready=1, current=4) == 5
    ext = MetricPlan("requests_per_second", "External", "rps", "AverageValue", 10.0)
    assert proposal(ext, 95.0, ready=4, unready=0, current=4) == 10    # ceil(95 / 10)
    assert proposal(m, 90.0, ready=0, unready=3, current=3) == 3       # no metrics: no change


def test_stabilization_windows() -> None:
    recs = [(0.0, 10), (100.0, 8)]
    assert stabilize(recs, 200.0, desired=5, current=10, up_window=0, down_window=300) == 10
    assert stabilize(recs, 350.0, desired=5, current=10, up_window=0, down_window=300) == 8
    assert stabilize(recs, 500.0, desired=5, current=10, up_window=0, down_window=300) == 5
    assert stabilize(recs, 200.0, desired=12, current=10, up_window=0, down_window=300) == 12
    assert stabilize([(150.0, 11)], 200.0, desired=14, current=10, up_window=120, down_window=300) == 11


def test_behavior_policies() -> None:
    # defaults up: max(start + 4, ceil(start × 2)) per 15 s
    assert limit([], 0.0, current=2, desired=20, up=DEFAULT_UP, down=DEFAULT_DOWN) == 6
    assert limit([], 0.0, current=10, desired=40, up=DEFAULT_UP, down=DEFAULT_DOWN) == 20
    # a change 10 s ago counts in the 15 s period: start = 10 - 4 = 6 -> max(10, 12) = 12
    assert limit([(-10.0, 4)], 0.0, current=10, desired=40, up=DEFAULT_UP, down=DEFAULT_DOWN) == 12
    # default down: 100 % -> anything
    assert limit([], 0.0, current=10, desired=1, up=DEFAULT_UP, down=DEFAULT_DOWN) == 1
    slow = ScalingRules(stabilizationWindowSeconds=0, policies=[ScalingPolicy(type="Pods", value=1, periodSeconds=60),
                                                                ScalingPolicy(type="Percent", value=10,
                                                                              periodSeconds=60)])
    assert limit([], 0.0, current=10, desired=1, up=DEFAULT_UP, down=slow) == 9          # Max: the larger change
    slow.selectPolicy = "Min"
    assert limit([], 0.0, current=30, desired=1, up=DEFAULT_UP, down=slow) == 29         # Min: 1 pod, not 3
    slow.selectPolicy = "Disabled"
    assert limit([], 0.0, current=30, desired=1, up=DEFAULT_UP, down=slow) == 30


def test_load_curves() -> None:
    step = compile_curve(LoadCurve.model_validate({"step": [{"at": "0s", "value": 5}, {"at": "1h", "value": 50}]}),
                         None, "s")
    assert (step(0), step(3599), step(3600)) == (5, 5, 50)
    day = compile_curve(LoadCurve.model_validate({"diurnal": {"min": 10, "max": 110, "peakAt": "14h"}}), None, "s")
    assert math.isclose(day(14 * 3600), 110) and math.isclose(day(2 * 3600), 10) and math.isclose(day(8 * 3600), 60)
    p1 = compile_curve(LoadCurve.model_validate({"poisson": {"mean": 100, "interval": "10s"}}), None, "x")
    p2 = compile_curve(LoadCurve.model_validate({"poisson": {"mean": 100, "interval": "10s"}}), None, "x")
    assert [p1(t) for t in range(0, 600, 10)] == [p2(t) for t in range(0, 600, 10)]
    assert 90 < sum(p1(t) for t in range(0, 6000, 10)) / 600 < 110


@pytest.mark.skipif(not QPS.exists(), reason="../shared/data/alibaba-genai-qps is not present")
def test_trace_load_from_the_alibaba_qps_csv() -> None:
    c = LoadCurve.model_validate({"trace": {"csv": "../shared/data/alibaba-genai-qps/qps.csv",
                                            "where": {"request_type": "API Requests"}}})
    curve = compile_curve(c, ROOT, "t")
    assert math.isclose(curve(0.0), 0.09) and curve(-1.0) == 0.0


# ---------------------------------------------------------------------------------------------- end to end


def run(tmp_path: Path, doc: dict[str, Any]) -> list[Event]:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    simulate_to(path, tmp_path / "out")
    return read_timeline(tmp_path / "out" / "timeline.jsonl").events


def deployment(name: str, replicas: int, gpus: str = "1", rps: str | None = None) -> dict[str, Any]:
    ann = {"kubetwin.dev/requests-per-second-per-pod": rps} if rps else {}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "annotations": ann},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [
                {"name": "app", "resources": {"requests": {"cpu": "1", "nvidia.com/gpu": gpus}}}]}}}}


def repro(actions: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"apiVersion": "kubetwin.dev/v1alpha1", "kind": "Scenario", "metadata": {"name": "repro"},
            "spec": {"seed": 1, "duration": "1h", "cluster": {"nodePools": [
                {"name": "gpu", "count": 2, "autoscaling": {"minCount": 2, "maxCount": 4},
                 "provisioningDelay": "3m", "driverStartupDelay": "1m",
                 "allocatable": {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "1"}}]},
                     "serving": {"objects": [deployment("web", 2)], **extra}, "actions": actions}}


def test_real_cluster_reproduction_with_a_deployment(tmp_path: Path) -> None:
    """Two one-GPU nodes; a Deployment of one-GPU pods scaled 2 -> 3 at 60 s: the third pod is pending
    until the autoscaler's node is Ready (tick 70 s + 3 m + 1 m = 310 s: Running ~4 min after the scale,
    as on the real cluster, mostly node start-up); scaled back to 2 at 40 m, the new node goes only after
    the 10 m unneeded window (2400 + 600 s)."""
    evs = run(tmp_path, repro([{"at": "60s", "scale": {"deployment": "web", "replicas": 3}},
                               {"at": "40m", "scale": {"deployment": "web", "replicas": 2}}]))
    third = "web-" + next(e.name for e in evs if e.type == "PodCreated" and e.t == 60).split("-")[1] + "-2"
    got = [(e.t, e.type, e.name) for e in evs if e.type in (
        "FailedScheduling", "TriggeredScaleUp", "NodeProvisioning", "NodeReady", "Scheduled", "PodDeleted",
        "ScaleDown", "NodeRemoved") and e.t > 0]
    assert got == [(60.0, "FailedScheduling", third), (70.0, "TriggeredScaleUp", third),
                   (70.0, "NodeProvisioning", "gpu-2"), (310.0, "NodeReady", "gpu-2"), (310.0, "Scheduled", third),
                   (2400.0, "PodDeleted", third), (3000.0, "ScaleDown", "gpu-2"), (3000.0, "NodeRemoved", "gpu-2")]
    assert all(r.ok for r in run_checks(evs))


def test_hpa_scales_on_gpu_utilization_and_the_autoscaler_follows(tmp_path: Path) -> None:
    hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
           "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 2, "maxReplicas": 4,
                    "metrics": [{"type": "Pods", "pods": {"metric": {"name": "DCGM_FI_DEV_GPU_UTIL"},
                                                          "target": {"type": "AverageValue", "averageValue": "50"}}}]}}
    doc = repro([])
    doc["spec"]["serving"]["objects"] = [deployment("web", 2, rps="10"), hpa]
    doc["spec"]["serving"]["loads"] = [{"backend": "web", "requestsPerSecond": {"step": [
        {"at": "0s", "value": 15}, {"at": "30m", "value": 5}]}}]
    evs = run(tmp_path, doc)
    rescales = [(e.t, e.data["from"], e.data["to"], e.data["value"]) for e in evs if e.type == "SuccessfulRescale"]
    # t=0: no pod Ready yet, no metrics. t=15: 15 rps on 2 pods of 10 = 75 % vs 50 % -> ceil(2 × 1.5) = 3;
    # the third pod triggers a scale-up (tick 20 s, Ready at 260 s): 50 % -> stays. From 30 m: 5 rps on
    # 3 pods = 16.7 % -> ceil(3 × 0.333) = 1 -> min 2; the window keeps the last recommendation of 3
    # (1785 s) until 1785 + 300 = 2085 s
    assert rescales == [(15.0, 2, 3, 75.0), (2085.0, 3, 2, round(100 * 5 / 30, 6))]
    results = {r.invariant.id: r.status for r in run_checks(evs)}
    assert results["H1"] == results["H2"] == results["H3"] == results["CA1"] == "passed"


def test_route_weights_and_set_weights_action(tmp_path: Path) -> None:
    route = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "r"},
             "spec": {"rules": [{"matches": [{"headers": [{"name": "x-model", "value": "m"}]}],
                                 "backendRefs": [{"name": "a", "weight": 90}, {"name": "b", "weight": 10}]}]}}
    doc = repro([{"at": "30m", "setWeights": {"route": "r", "weights": {"a": 0, "b": 100}}}])
    doc["spec"]["cluster"]["nodePools"][0]["allocatable"]["nvidia.com/gpu"] = "2"
    doc["spec"]["serving"]["objects"] = [deployment("a", 1, rps="100"),
                                         deployment("b", 1, rps="100"), route]
    doc["spec"]["serving"]["loads"] = [
        {"route": "r", "headers": {"x-model": "m"}, "requestsPerSecond": {"constant": 10}},
        {"route": "r", "headers": {"x-model": "other"}, "requestsPerSecond": {"constant": 1}}]
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    summary = simulate_to(path, tmp_path / "out")
    dep = summary["serving"]["deployments"]
    # 10 rps, accounted every 5 s at t = 5 … 3600 (720 steps); 359 before the action at 30 m, which runs
    # before that instant's step: a gets 90 % of 359 steps, b 10 % of them and all of the other 361
    assert dep["default/a"]["requests"] == round(10 * 0.9 * 5 * 359)
    assert dep["default/b"]["requests"] == round(10 * 0.1 * 5 * 359 + 10 * 5 * 361)
    unmatched = summary["serving"]["loads"]["default/r [x-model=other]"]   # no rule matches: all dropped
    assert unmatched["requests"] == unmatched["dropped"] == 5 * 720


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda d: d["spec"]["serving"]["objects"].append(
        {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h"},
         "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "nope"}, "maxReplicas": 3}}),
     "spec.serving.objects[1].spec.scaleTargetRef"),
    (lambda d: d["spec"]["actions"].append({"at": "1m", "scale": {"deployment": "x", "replicas": 1}}),
     "spec.actions[0].scale.deployment"),
    (lambda d: d["spec"]["serving"]["objects"].append({"apiVersion": "v1", "kind": "Service",
                                                       "metadata": {"name": "s"}}), "spec.serving.objects[1]"),
])
def test_bad_serving_input(tmp_path: Path, mutate: Any, field: str) -> None:
    doc = repro([])
    mutate(doc)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    with pytest.raises(InputError) as e:
        build(load_scenario(path))
    assert field in str(e.value)


# ---------------------------------------------------------------------------------------------- invariants

HEADER: dict[str, Any] = {"serving": {"horizontalPodAutoscalers": [
    {"name": "default/h", "target": "default/web", "minReplicas": 2, "maxReplicas": 5, "tolerance": 0.1,
     "scaleUpStabilizationSeconds": 0, "scaleDownStabilizationSeconds": 300, "syncPeriodSeconds": 15.0}]}}


def rescale(tl: TL, t: float, frm: int, to: int, value: float, target: float = 60.0) -> TL:
    return tl.emit(t, "SuccessfulRescale", "HorizontalPodAutoscaler", "h", "default",
                   reason=f"New size: {to}; reason: x", data={"from": frm, "to": to, "metric": "m", "value": value,
                                                              "target": target})


def test_hpa_invariants_pass_and_catch_violations() -> None:
    good = TL(**HEADER)
    rescale(good, 15, 2, 4, 120.0)
    rescale(good, 400, 4, 3, 40.0)
    assert {r.invariant.id: r.status for r in run_checks(good.events) if r.invariant.id.startswith("H")} == {
        "H1": "passed", "H2": "passed", "H3": "passed"}
    bad = TL(**HEADER)
    rescale(bad, 15, 2, 6, 200.0)     # above maxReplicas 5
    rescale(bad, 30, 6, 5, 57.0)      # 0.95: inside the tolerance
    rescale(bad, 100, 5, 3, 20.0)     # 85 s after scaling up to 6: inside the 300 s window
    assert [f.message for f in check("H1", bad.events)] == [
        "HPA default/h rescaled to 6 at t=15, outside [2, 5]"]
    assert [f.t for f in check("H2", bad.events)] == [30.0]
    assert [f.message for f in check("H3", bad.events)] == [
        "HPA default/h scaled down to 5 at t=30, 15s after scaling up to 6; the scale-down stabilisation "
        "window is 300s",
        "HPA default/h scaled down to 3 at t=100, 85s after scaling up to 6; the scale-down stabilisation "
        "window is 300s"]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lo=st.integers(1, 3), extra=st.integers(0, 6), cap=st.integers(5, 50), target=st.integers(30, 90),
       steps=st.lists(st.tuples(st.integers(0, 7200), st.integers(0, 400)), min_size=1, max_size=6),
       window=st.sampled_from([0, 60, 300]), pool_max=st.integers(2, 6))
def test_random_loads_pass_every_invariant(tmp_path_factory: pytest.TempPathFactory, lo: int, extra: int, cap: int,
                                           target: int, steps: list[tuple[int, int]], window: int,
                                           pool_max: int) -> None:
    tmp = tmp_path_factory.mktemp("hpa")
    hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
           "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": lo,
                    "maxReplicas": lo + extra,
                    "behavior": {"scaleDown": {"stabilizationWindowSeconds": window}},
                    "metrics": [{"type": "Pods", "pods": {"metric": {"name": "DCGM_FI_DEV_GPU_UTIL"}, "target": {
                        "type": "AverageValue", "averageValue": str(target)}}}]}}
    doc = repro([])
    doc["spec"]["duration"] = "3h"
    pool = doc["spec"]["cluster"]["nodePools"][0]
    pool.update({"count": 1, "autoscaling": {"minCount": 1, "maxCount": pool_max}})
    pool["allocatable"]["nvidia.com/gpu"] = "2"
    doc["spec"]["serving"]["objects"] = [deployment("web", lo, rps=str(cap)), hpa]
    doc["spec"]["serving"]["loads"] = [{"backend": "web", "requestsPerSecond": {"step": [
        {"at": f"{t}s", "value": v} for t, v in sorted(steps)]}}]
    evs = run(tmp, doc)
    bad = [(r.invariant.id, [f.message for f in r.findings[:2]]) for r in run_checks(evs) if not r.ok]
    assert bad == []


def test_serving_objects_from_spec_manifests(tmp_path: Path) -> None:
    (tmp_path / "web.yaml").write_text(yaml.safe_dump(deployment("web", 3)), encoding="utf-8")
    doc = repro([])
    doc["spec"]["serving"]["objects"] = []
    doc["spec"]["manifests"] = ["web.yaml"]
    evs = run(tmp_path, doc)
    assert sorted(e.name for e in evs if e.type == "PodCreated")[0].startswith("web-")
    assert len([e for e in evs if e.type == "PodCreated"]) == 3
