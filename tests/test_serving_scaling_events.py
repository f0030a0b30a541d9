"""``ScalingReplicaSet``: the Deployment controller's event whenever a Deployment's desired replicas change
(created, a scripted ``scale`` action, an HPA rescale), in the simulator and in the normalizer of recordings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from test_normalize import Rec
from test_serving import deployment, repro, run

from models.events import payload_problems
from validator.normalize import normalize


def scaling(evs: list[Any]) -> list[tuple[float, str, str | None, dict[str, Any]]]:
    return [(e.t, e.name, e.reason, e.data) for e in evs if e.type == "ScalingReplicaSet"]


def test_scale_actions_leave_scaling_replica_set_events(tmp_path: Path) -> None:
    evs = run(tmp_path, repro([{"at": "60s", "scale": {"deployment": "web", "replicas": 3}},
                               {"at": "40m", "scale": {"deployment": "web", "replicas": 2}},
                               {"at": "45m", "scale": {"deployment": "web", "replicas": 2}}]))
    first = next(e for e in evs if e.type == "PodCreated")
    rs = first.name.rsplit("-", 1)[0]          # web-<pod-template-hash>
    assert rs.startswith("web-") and len(rs) > len("web-")
    assert scaling(evs) == [
        (0.0, "web", f"Scaled up replica set {rs} from 0 to 2", {"from": 0, "to": 2, "replicaSet": rs}),
        (60.0, "web", f"Scaled up replica set {rs} from 2 to 3", {"from": 2, "to": 3, "replicaSet": rs}),
        (2400.0, "web", f"Scaled down replica set {rs} from 3 to 2", {"from": 3, "to": 2, "replicaSet": rs}),
    ]  # the 45 m action does not change the size: no event, as upstream
    for e in evs:
        if e.type == "ScalingReplicaSet":
            assert e.kind == "Deployment" and e.namespace == "default"
            assert payload_problems(e.type, e.data) == []
    # the event comes before the pods it causes
    idx = {(e.t, e.type): i for i, e in reversed(list(enumerate(evs)))}
    assert idx[(60.0, "ScalingReplicaSet")] < idx[(60.0, "PodCreated")]
    assert idx[(2400.0, "ScalingReplicaSet")] < idx[(2400.0, "PodDeleted")]


def test_hpa_rescale_is_followed_by_scaling_replica_set(tmp_path: Path) -> None:
    hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
           "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 2, "maxReplicas": 4,
                    "metrics": [{"type": "Pods", "pods": {"metric": {"name": "DCGM_FI_DEV_GPU_UTIL"},
                                                          "target": {"type": "AverageValue", "averageValue": "50"}}}]}}
    doc = repro([])
    doc["spec"]["serving"]["objects"] = [deployment("web", 2, rps="10"), hpa]
    doc["spec"]["serving"]["loads"] = [{"backend": "web", "requestsPerSecond": {"step": [
        {"at": "0s", "value": 15}, {"at": "30m", "value": 5}]}}]
    evs = run(tmp_path, doc)
    # the HPA's rescales (15 s: 2 -> 3, 2085 s: 3 -> 2; see test_serving) each right before the Deployment's
    got = [(e.t, e.type, e.data["from"], e.data["to"]) for e in evs
           if e.type in ("SuccessfulRescale", "ScalingReplicaSet")]
    assert got == [(0.0, "ScalingReplicaSet", 0, 2),
                   (15.0, "SuccessfulRescale", 2, 3), (15.0, "ScalingReplicaSet", 2, 3),
                   (2085.0, "SuccessfulRescale", 3, 2), (2085.0, "ScalingReplicaSet", 3, 2)]
    seqs = [e.seq for e in evs if e.t == 15.0 and e.type in ("SuccessfulRescale", "ScalingReplicaSet")]
    assert seqs[1] == seqs[0] + 1


def test_zero_replica_deployment_writes_nothing_at_creation(tmp_path: Path) -> None:
    doc = repro([{"at": "60s", "scale": {"deployment": "web", "replicas": 1}}])
    doc["spec"]["serving"]["objects"] = [deployment("web", 0)]
    got = [(t, d["from"], d["to"]) for t, _, _, d in scaling(run(tmp_path, doc))]
    assert got == [(60.0, 0, 1)]


def test_normalizer_maps_the_deployment_controllers_events() -> None:
    ev = "events.k8s.io/v1/events"

    def event(uid: str, sec: int, note: str) -> dict[str, Any]:
        return {"metadata": {"name": f"web.{uid}", "namespace": "inf", "uid": uid}, "reason": "ScalingReplicaSet",
                "eventTime": f"2026-07-06T13:16:0{sec}.000000Z", "reportingController": "deployment-controller",
                "regarding": {"kind": "Deployment", "namespace": "inf", "name": "web", "apiVersion": "apps/v1"},
                "note": note}

    notes = ["Scaled up replica set web-7d9f8c6b5 from 0 to 2",      # today's message
             "Scaled up replica set web-7d9f8c6b5 from 2 to 3",
             "Scaled down replica set web-7d9f8c6b5 to 1 from 3",     # 1.26-era message
             "Scaled up replica set web-7d9f8c6b5 to 4"]              # older releases: no "from"
    r = Rec()
    for i, note in enumerate(notes):
        r.add("ADDED", ev, event(f"e{i}", i + 1, note), recv=i + 1.5)
    evs, _ = normalize(r.stop(10))
    got = [(e["t"], e["obj"], e.get("reason"), e.get("data")) for e in evs if e["type"] == "ScalingReplicaSet"]
    obj = {"kind": "Deployment", "namespace": "inf", "name": "web"}
    rs = "web-7d9f8c6b5"
    assert got == [(1.0, obj, notes[0], {"from": 0, "to": 2, "replicaSet": rs}),
                   (2.0, obj, notes[1], {"from": 2, "to": 3, "replicaSet": rs}),
                   (3.0, obj, notes[2], {"from": 3, "to": 1, "replicaSet": rs}),
                   (4.0, obj, notes[3], {"to": 4, "replicaSet": rs})]
    assert all(payload_problems("ScalingReplicaSet", d or {}) == [] for *_, d in got)
