"""``--metrics`` for inference pods: a serving pod's DCGM_FI_DEV_GPU_UTIL (and power) follows its
served load over its capacity — the value an HPA on DCGM_FI_DEV_GPU_UTIL acts on — pinned by hand."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubetwin.cmd_simulate import simulate_to
from kubetwin.metrics_out import write_metrics
from models.timeline import read_timeline
from sim.serving.utilization import serving_utilization
from validator.openmetrics import gpu_power

NOW = 10 * 86_400.0          # "today" for metrics_start: t=0 is stamped 9 days after the epoch
T0 = 9 * 86_400.0


def scenario(tmp: Path, *, hpa: bool, rps: float = 12.0) -> Path:
    objects: list[dict[str, Any]] = [{
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "llm", "namespace": "serve",
                     "annotations": {"kubetwin.dev/requests-per-second-per-pod": "10",
                                     "kubetwin.dev/ready-after": "60s"}},
        "spec": {"replicas": 2, "template": {"spec": {"containers": [
            {"name": "vllm", "resources": {"requests": {"cpu": "4", "nvidia.com/gpu": "1"}}}]}}}}]
    if hpa:
        objects.append({
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "llm", "namespace": "serve"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "llm"},
                     "minReplicas": 2, "maxReplicas": 6,
                     "metrics": [{"type": "Pods", "pods": {
                         "metric": {"name": "DCGM_FI_DEV_GPU_UTIL"},
                         "target": {"type": "AverageValue", "averageValue": "40"}}}]}})
    sc = {"apiVersion": "kubetwin.dev/v1alpha1", "kind": "Scenario", "metadata": {"name": "serve-metrics"},
          "spec": {"seed": 1, "duration": "4m",
                   "cluster": {"nodePools": [{"name": "g", "count": 1,
                                              "labels": {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"},
                                              "allocatable": {"cpu": "64", "memory": "256Gi", "nvidia.com/gpu": "8"}}]},
                   "workloads": [],
                   "serving": {"objects": objects,
                               "loads": [{"backend": "llm", "namespace": "serve",
                                          "requestsPerSecond": {"constant": rps}}]}}}
    path = tmp / "s.yaml"
    path.write_text(yaml.safe_dump(sc), encoding="utf-8")
    return path


def series(text: str, name: str) -> dict[str, list[tuple[float, float]]]:
    """pod -> [(sim time, value)] of a metric's samples held by a pod (free GPUs left out)."""
    out: dict[str, list[tuple[float, float]]] = {}
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        labels, value, ts = line.rsplit(" ", 2)
        pod = labels.split('pod="', 1)[1].split('"', 1)[0]
        if pod:
            out.setdefault(pod, []).append((float(ts) - T0, float(value)))
    return out


def test_constant_load_on_two_replicas(tmp_path: Path) -> None:
    simulate_to(scenario(tmp_path, hpa=False), tmp_path / "out")
    text = write_metrics(tmp_path / "out", now=NOW).read_text(encoding="utf-8")
    util = series(text, "DCGM_FI_DEV_GPU_UTIL")
    assert len(util) == 2 and all(p.startswith("llm-") for p in util)
    # both bound at 0 s, Ready at 60 s (ready-after): loading the model they serve nothing (0 %); then
    # 12 requests/s over 2 ready pods of 10 requests/s each: 60 % each
    want = [(0.0, 0.0), (30.0, 0.0), (60.0, 60.0), (90.0, 60.0), (120.0, 60.0), (150.0, 60.0), (180.0, 60.0),
            (210.0, 60.0), (240.0, 60.0)]
    assert all(v == want for v in util.values()), util
    power = series(text, "DCGM_FI_DEV_POWER_USAGE")
    assert gpu_power(700.0, 60.0) == pytest.approx(406.0) and gpu_power(700.0, 0.0) == pytest.approx(70.0)
    assert all([v for _, v in p] == [70.0, 70.0] + [406.0] * 7 for p in power.values()), power
    fb = series(text, "DCGM_FI_DEV_FB_USED")
    assert all({v for _, v in p} == {float(round(81559 * 0.9))} for p in fb.values())
    # the six free GPUs stay idle
    idle = [line for line in text.splitlines() if line.startswith("DCGM_FI_DEV_GPU_UTIL{") and 'pod=""' in line]
    assert len(idle) == 6 * 9 and all(line.rsplit(" ", 2)[1] == "0.0" for line in idle)


def test_overload_reads_100_percent(tmp_path: Path) -> None:
    simulate_to(scenario(tmp_path, hpa=False, rps=50.0), tmp_path / "out")
    util = series(write_metrics(tmp_path / "out", now=NOW).read_text(encoding="utf-8"), "DCGM_FI_DEV_GPU_UTIL")
    assert all([v for _, v in p] == [0.0, 0.0] + [100.0] * 7 for p in util.values())


def test_the_metric_is_the_one_the_hpa_scales_on(tmp_path: Path) -> None:
    simulate_to(scenario(tmp_path, hpa=True), tmp_path / "out")
    events = read_timeline(tmp_path / "out" / "timeline.jsonl").events
    rescales = [e for e in events if e.type == "SuccessfulRescale"]
    # at 60 s both pods are Ready at 60 % against a 40 % target: ceil(2 × 60/40) = 3
    assert [(e.t, e.data["from"], e.data["to"], e.data["value"]) for e in rescales] == [(60.0, 2, 3, 60.0)]
    util = series(write_metrics(tmp_path / "out", now=NOW).read_text(encoding="utf-8"), "DCGM_FI_DEV_GPU_UTIL")
    model = serving_utilization(events)
    assert model is not None
    for pod, samples in util.items():
        for t, v in samples:
            assert v == pytest.approx(model(f"serve/{pod}", t))
    first = sorted(p for p in util if util[p][0][0] == 0.0)
    third = sorted(set(util) - set(first))
    assert len(first) == 2 and len(third) == 1
    # the two first pods read 60 % until the third is Ready (bound at 60 s, Ready at 120 s), then 12/30 = 40 %
    assert all(dict(util[p])[60.0] == 60.0 and dict(util[p])[90.0] == 60.0 and dict(util[p])[120.0] == 40.0
               for p in first)
    assert util[third[0]] == [(60.0, 0.0), (90.0, 0.0), (120.0, 40.0), (150.0, 40.0), (180.0, 40.0),
                              (210.0, 40.0), (240.0, 40.0)]


@pytest.mark.skipif(shutil.which("promtool") is None,
                    reason="promtool is not installed (Debian package 'prometheus'); CI installs it")
def test_promtool_backfills_serving_metrics(tmp_path: Path) -> None:
    simulate_to(scenario(tmp_path, hpa=True), tmp_path / "out")
    path = write_metrics(tmp_path / "out")
    done = subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", str(path), str(tmp_path / "tsdb")],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
