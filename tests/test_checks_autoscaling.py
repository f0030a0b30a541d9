"""The cluster-autoscaler invariants CA1–CA5 on hand-made timelines: a clean run passes, each violation
is caught with the objects and time it concerns."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from timeline_builder import TL

from validator.checks import check, run_checks
from validator.checks.autoscaling import utilization

GROUP: dict[str, Any] = {"name": "gpu", "minCount": 1, "maxCount": 3, "labels": {"accel": "h100"},
         "taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}],
         "allocatable": {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "1"}}
HEADER: dict[str, Any] = {"autoscaler": {
    "scanInterval": 10.0, "scaleDownUnneededTime": 600.0, "scaleDownDelayAfterAdd": 600.0,
    "scaleDownUtilizationThreshold": 0.5, "nodeGroups": [GROUP]}}
TOL = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]


def gpu_node(tl: TL, name: str, t: float) -> TL:
    return tl.emit(t, "NodeReady", "Node", name, data={
        "pool": "gpu", "labels": {"accel": "h100"}, "taints": GROUP["taints"], "allocatable": GROUP["allocatable"]})


def gpu_pod(tl: TL, name: str, t: float, gpus: str = "1", **extra: Any) -> TL:
    return tl.emit(t, "PodCreated", "Pod", name, "default", data={
        "requests": {"cpu": "1", "nvidia.com/gpu": gpus}, "priority": 0, "tolerations": TOL, **extra})


def scale_up(tl: TL, pod: str, t: float, frm: int, to: int) -> TL:
    return tl.emit(t, "TriggeredScaleUp", "Pod", pod, "default",
                   reason=f"pod triggered scale-up: [{{gpu {frm}->{to}}}]", data={"pool": "gpu", "from": frm, "to": to})


def scale_down(tl: TL, node: str, t: float) -> TL:
    tl.emit(t, "ScaleDown", "Node", node, data={"pool": "gpu"})
    return tl.emit(t, "NodeRemoved", "Node", node, reason="empty node removed", data={"pool": "gpu"})


def clean() -> TL:
    """Two nodes; p2 pending at 60 → scale-up at the 70 s tick → n2 Ready at 310, p2 runs until 2110;
    n2 unneeded from 2110 → removed at 2710."""
    tl = TL(**HEADER)
    gpu_node(tl, "n0", 0)
    gpu_node(tl, "n1", 0)
    gpu_pod(tl, "p0", 0).bind("p0", "n0", 0)
    gpu_pod(tl, "p1", 0).bind("p1", "n1", 0)
    gpu_pod(tl, "p2", 60).failed("p2", 60)
    scale_up(tl, "p2", 70, 2, 3)
    tl.emit(70, "NodeProvisioning", "Node", "n2", data={"pool": "gpu"})
    gpu_node(tl, "n2", 310)
    tl.bind("p2", "n2", 310).succeeded("p2", 2110)
    return scale_down(tl, "n2", 2710)


def ids(tl: TL) -> dict[str, str]:
    return {r.invariant.id: r.status for r in run_checks(tl.events) if r.invariant.id.startswith("CA")}


def test_clean_timeline_passes() -> None:
    assert ids(clean()) == {"CA1": "passed", "CA2": "passed", "CA3": "passed", "CA4": "passed", "CA5": "passed"}


def test_without_autoscaler_events_nothing_applies() -> None:
    tl = TL()
    tl.node("n0").pod("p").bind("p", "n0", 1)
    assert set(ids(tl).values()) == {"not-applicable"}


def test_utilization_rules() -> None:
    gib = 1 << 30
    # GPU nodes: GPU requests only (the CPU share does not count)
    assert utilization({"cpu": 8000, "nvidia.com/gpu": 2000}, {"cpu": 8000, "nvidia.com/gpu": 1000}) == 0.5
    # others: the larger of the CPU and memory shares
    assert utilization({"cpu": 8000, "memory": 32 * gib * 1000}, {"cpu": 2000, "memory": 24 * gib * 1000}) == 0.75


def test_CA1_scale_up_off_the_loop_grid() -> None:
    tl = TL(**HEADER)
    gpu_node(tl, "n0", 0)
    gpu_pod(tl, "p", 3).failed("p", 3)
    scale_up(tl, "p", 5, 1, 2)
    f = check("CA1", tl.events)
    assert [(x.t, x.objects) for x in f] == [(5.0, ("Pod default/p",))]
    assert "not at a loop tick (every 10s)" in f[0].message
    tl.events[0].data["source"] = "live"   # a live loop's phase is unknown
    assert check("CA1", tl.events) == []


def test_CA2_scale_up_for_a_running_pod_or_one_the_template_does_not_fit() -> None:
    tl = TL(**HEADER)
    gpu_node(tl, "n0", 0)
    gpu_pod(tl, "running", 0).bind("running", "n0", 0)
    gpu_pod(tl, "big", 0, gpus="2").failed("big", 0)
    tl.emit(0, "PodCreated", "Pod", "intolerant", "default",
            data={"requests": {"nvidia.com/gpu": "1"}, "priority": 0, "nodeSelector": {"accel": "a100"}})
    scale_up(tl, "running", 10, 1, 2)
    scale_up(tl, "big", 10, 1, 2)
    scale_up(tl, "intolerant", 10, 1, 2)
    msgs = {x.objects[0]: x.message for x in check("CA2", tl.events)}
    assert set(msgs) == {"Pod default/running", "Pod default/big", "Pod default/intolerant"}
    assert "not pending" in msgs["Pod default/running"]
    assert "requests nvidia.com/gpu beyond the template's 1" in msgs["Pod default/big"]
    assert "does not tolerate taint nvidia.com/gpu=present:NoSchedule" in msgs["Pod default/intolerant"]
    assert "nodeSelector accel=a100 (node has h100)" in msgs["Pod default/intolerant"]


def test_CA3_above_max_and_below_min() -> None:
    tl = TL(**HEADER)
    gpu_node(tl, "n0", 0)
    gpu_pod(tl, "p", 0).failed("p", 0)
    scale_up(tl, "p", 10, 1, 4)
    for i in range(1, 4):
        tl.emit(10, "NodeProvisioning", "Node", f"n{i}", data={"pool": "gpu"})
    f = check("CA3", tl.events)
    assert [x.message for x in f] == [
        "scale-up of gpu at t=10 to 4 nodes, above maxCount 3",
        "group gpu has 4 nodes (Ready or provisioning) at t=10, above maxCount 3"]
    low = TL(**HEADER)
    gpu_node(low, "n0", 0)
    scale_down(low, "n0", 700)
    assert [x.message for x in check("CA3", low.events)] == [
        "scale-down of node n0 at t=700 took group gpu to 0 nodes, below its minCount 1"]


def test_CA4_scale_down_right_after_a_scale_up() -> None:
    tl = TL(**HEADER)
    gpu_node(tl, "n0", 0)
    gpu_node(tl, "n1", 0)
    gpu_pod(tl, "p", 0, gpus="2").failed("p", 0)   # a pod nothing fits; the scale-up is what CA4 reads
    scale_up(tl, "p", 700, 2, 3)
    scale_down(tl, "n1", 900)
    f = check("CA4", tl.events)
    assert [(x.t, x.objects) for x in f] == [(900.0, ("Node n1",))]
    assert "200s after the scale-up at t=700; scaleDownDelayAfterAdd is 600s" in f[0].message


def test_CA5_scale_down_before_the_window_or_of_a_busy_node() -> None:
    tl = TL(**HEADER)
    gpu_node(tl, "n0", 0)
    gpu_node(tl, "n1", 0)
    gpu_node(tl, "n2", 0)
    gpu_pod(tl, "p", 0).bind("p", "n1", 0).succeeded("p", 500)
    gpu_pod(tl, "q", 0).bind("q", "n2", 0)
    scale_down(tl, "n1", 900)     # unneeded since 500: only 400 s
    scale_down(tl, "n2", 1000)    # still full
    msgs = [(x.objects, x.message) for x in check("CA5", tl.events)]
    assert msgs == [
        (("Node n1",), "node n1 was scaled down at t=900 after being unneeded only 400s (since t=500); "
                       "scaleDownUnneededTime is 600s"),
        (("Node n2",), "node n2 was scaled down at t=1000 at utilisation 1.00, not below the threshold 0.5")]


def test_CA5_a_brief_busy_spell_restarts_the_window() -> None:
    tl = TL(**HEADER)
    gpu_node(tl, "n0", 0)
    gpu_node(tl, "n1", 0)
    gpu_pod(tl, "p", 300).bind("p", "n1", 300).succeeded("p", 301)
    scale_down(tl, "n1", 700)     # empty since 0, but busy 300–301: 399 s
    assert [x.t for x in check("CA5", tl.events)] == [700.0]


def test_kubetwin_validate_catches_a_hand_made_violation(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from kubetwin.cli import app

    tl = clean()
    tl.events[-2].t = tl.events[-1].t = 2500.0   # n2 removed 390 s after p2 ended
    path = tl.write(tmp_path / "timeline.jsonl")
    r = CliRunner().invoke(app, ["validate", str(path), "--json", str(tmp_path / "r.json")])
    assert r.exit_code == 1, r.output
    rep = json.loads((tmp_path / "r.json").read_text())
    failed = {c["id"]: c["findings"][0]["message"] for c in rep["checks"] if c["status"] == "failed"}
    assert failed == {"CA5": "node n2 was scaled down at t=2500 after being unneeded only 390s (since t=2110); "
                             "scaleDownUnneededTime is 600s"}


def test_autoscaling_summary_by_hand() -> None:
    from validator.autoscaling_summary import autoscaling_summary

    tl = clean()        # n0, n1 Ready 0–2710 (end); n2 Ready 310–2710; p2 waits 60 -> 310
    tl.emit(3600, "RunFinished", "Run", "test", reason="duration", data={"pending": 0})
    s = autoscaling_summary(tl.events)
    assert s["scaleUpWaitSeconds"] == {"count": 1, "p50": 250.0, "p95": 250.0, "max": 250.0}
    gpu = s["pools"]["gpu"]
    assert (gpu["scaleUps"], gpu["nodesRemoved"]) == (1, 1)
    assert gpu["nodeHours"] == round((3600 * 2 + (2710 - 310)) / 3600, 6)
    # GPUs idle: n0, n1 busy until p0/p1 never end (bound all along); n2: idle 2110–2710 = 600 s
    assert s["idleGpuHours"] == round(600 / 3600, 6)
