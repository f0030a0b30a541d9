"""validator.normalize: raw watch records → timeline events, with exact payloads and times."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from models.errors import InputError
from models.timeline import read_timeline
from validator.normalize import node_pool, normalize, normalize_file, parse_time_ns, pod_requests

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ai-conformance-evidence"
START = "2026-07-06T13:16:00.000000000Z"


def at(sec: float) -> str:
    """An RFC 3339 time ``sec`` seconds after START (nanosecond digits, like the recorder)."""
    whole = int(sec)
    frac = round((sec - whole) * 1e9)
    m, s = divmod(whole, 60)
    return f"2026-07-06T13:{16 + m:02d}:{s:02d}.{frac:09d}Z"


def ts(sec: int) -> str:
    """A seconds-resolution server timestamp ``sec`` after START (negative = before)."""
    total = 13 * 3600 + 16 * 60 + sec
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"2026-07-06T{h:02d}:{m:02d}:{s:02d}Z"


class Rec:
    """Builds a raw recording record by record."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = [
            {"seq": 1, "recvWall": START, "recvMono": 100.0, "type": "RECORDING_STARTED", "startedAt": START}]

    def add(self, type_: str, stream: str = "", obj: dict[str, Any] | None = None, recv: float = 0.0,
            **extra: Any) -> Rec:
        r: dict[str, Any] = {"seq": len(self.records) + 1, "recvWall": at(recv), "recvMono": 100.0 + recv}
        if stream:
            r["stream"] = stream
        r["type"] = type_
        if obj is not None:
            r["object"] = json.loads(json.dumps(obj))
        r.update(extra)
        self.records.append(r)
        return self

    def stop(self, recv: float, why: str = "duration") -> list[dict[str, Any]]:
        self.add("RECORDING_STOPPED", recv=recv, why=why)
        return self.records


def events(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    evs, _ = normalize(records)
    return evs


def brief(evs: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(e["type"], e["t"], e["obj"]["name"], e.get("node"), e.get("data")) for e in evs]


PODS = "core/v1/pods"


def pod(name: str = "p1", ns: str = "team-a", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "uid": f"uid-{name}", "creationTimestamp": ts(1),
                     "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": "train",
                                          "controller": True, "uid": "j1"}]},
        "spec": {"containers": [
            {"name": "a", "resources": {"requests": {"cpu": "500m", "memory": "1Gi", "nvidia.com/gpu": "1"}}},
            {"name": "b", "resources": {"requests": {"cpu": "1500m", "memory": "512Mi"}}}],
            "priority": 100, **spec},
        "status": {"phase": "Pending"},
    }


def scheduled(p: dict[str, Any], node: str, when: str) -> dict[str, Any]:
    p = json.loads(json.dumps(p))
    p["spec"]["nodeName"] = node
    p["status"]["conditions"] = [{"type": "PodScheduled", "status": "True", "lastTransitionTime": when}]
    return p


def running(p: dict[str, Any], started: str) -> dict[str, Any]:
    p = json.loads(json.dumps(p))
    p["status"]["phase"] = "Running"
    p["status"]["containerStatuses"] = [
        {"name": "a", "state": {"running": {"startedAt": started}}},
        {"name": "b", "state": {"running": {"startedAt": ts(9)}}}]
    return p


def succeeded(p: dict[str, Any], started: str, finished: str) -> dict[str, Any]:
    p = json.loads(json.dumps(p))
    p["status"]["phase"] = "Succeeded"
    p["status"]["containerStatuses"] = [
        {"name": "a", "state": {"terminated": {"startedAt": started, "finishedAt": finished}}}]
    return p


# ------------------------------------------------------------------------------------------------
# helpers

def test_parse_time_ns_handles_nanoseconds_and_offsets() -> None:
    assert parse_time_ns("2026-07-06T13:16:00.000000001Z") == 1783343760_000000001
    assert parse_time_ns("2026-07-06T15:16:00+02:00") == 1783343760_000000000
    assert parse_time_ns("2026-07-06T13:16:00.5Z") == 1783343760_500000000
    assert parse_time_ns("yesterday") is None
    assert parse_time_ns(None) is None


def test_pod_requests_sum_containers_and_take_init_max() -> None:
    spec = {"containers": [{"resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}},
                           {"resources": {"requests": {"cpu": "1500m", "memory": "512Mi"}}}],
            "initContainers": [{"resources": {"requests": {"cpu": "3", "memory": "1Mi"}}},
                               {"restartPolicy": "Always", "resources": {"requests": {"memory": "512Mi"}}}],
            "overhead": {"cpu": "250m"}}
    assert pod_requests(spec) == {"cpu": "3250m", "memory": "2Gi"}


def test_node_pool_label_precedence() -> None:
    assert node_pool({"node.kubernetes.io/instance-type": "a3-highgpu-8g",
                      "cloud.google.com/gke-nodepool": "h100"}) == "h100"
    assert node_pool({"karpenter.sh/nodepool": "gpu"}) == "gpu"
    assert node_pool({"vks.vmware.com/nodepool": "np1"}) == "np1"
    assert node_pool({"node.kubernetes.io/instance-type": "p5.48xlarge"}) == "p5.48xlarge"
    assert node_pool({}) == "default"


# ------------------------------------------------------------------------------------------------
# pods

def test_pod_lifecycle_with_server_times_and_duplicates() -> None:
    p = pod()
    r = Rec().add("ADDED", PODS, p, recv=1.2)
    r.add("MODIFIED", PODS, scheduled(p, "gpu-0", ts(2)), recv=2.4)
    r.add("MODIFIED", PODS, scheduled(p, "gpu-0", ts(2)), recv=2.5)  # duplicate: nothing new
    r.add("MODIFIED", PODS, running(scheduled(p, "gpu-0", ts(2)), ts(4)), recv=5.1)
    r.add("MODIFIED", PODS, running(scheduled(p, "gpu-0", ts(2)), ts(4)), recv=5.2)
    r.add("MODIFIED", PODS, succeeded(scheduled(p, "gpu-0", ts(2)), ts(4), ts(20)), recv=20.3)
    r.add("DELETED", PODS, succeeded(scheduled(p, "gpu-0", ts(2)), ts(4), ts(20)), recv=30.0)
    evs = events(r.stop(31.0))
    assert [e["seq"] for e in evs] == list(range(len(evs)))
    assert evs[0] == {"seq": 0, "t": 0.0, "type": "RunStarted", "obj": {"kind": "Run", "name": "run"},
                      "data": {"schemaVersion": 1, "source": "live", "startedAt": START}}
    assert evs[1] == {
        "seq": 1, "t": 1.0, "type": "PodCreated",
        "obj": {"kind": "Pod", "namespace": "team-a", "name": "p1", "uid": "uid-p1"},
        "data": {"requests": {"cpu": "2", "memory": "1536Mi", "nvidia.com/gpu": "1"}, "priority": 100,
                 "workload": "train", "owner": {"kind": "Job", "name": "train"}}}
    assert evs[2]["reason"] == "Successfully assigned team-a/p1 to gpu-0"
    assert brief(evs[2:]) == [
        ("Scheduled", 2.0, "p1", "gpu-0", None),
        ("PodRunning", 4.0, "p1", "gpu-0", None),
        ("PodSucceeded", 20.0, "p1", "gpu-0", None),
        ("PodDeleted", 30.0, "p1", "gpu-0", None),
        ("RunFinished", 31.0, "run", None, {"pending": 0}),
    ]
    assert evs[-1]["reason"] == "duration"


def test_pod_placement_constraints_and_groups() -> None:
    aff = {"nodeSelectorTerms": [{"matchExpressions": [
        {"key": "gpu", "operator": "In", "values": ["h100"]}]}]}
    p = pod(nodeSelector={"pool": "h100"},
            tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
            affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": aff,
                                       "preferredDuringSchedulingIgnoredDuringExecution": []}},
            resourceClaims=[{"name": "gpu", "resourceClaimTemplateName": "one-gpu"}])
    p["metadata"]["labels"] = {"scheduling.x-k8s.io/pod-group": "pg1"}
    q = pod("p2", workloadRef={"name": "wl", "podGroup": "workers"})
    s = pod("p3", schedulingGroup={"podGroupName": "grp"})
    evs = events(Rec().add("ADDED", PODS, p, recv=1).add("ADDED", PODS, q, recv=1)
                 .add("ADDED", PODS, s, recv=1).stop(2))
    created = [e for e in evs if e["type"] == "PodCreated"]
    assert created[0]["group"] == "team-a/pg1"
    assert created[0]["data"]["nodeSelector"] == {"pool": "h100"}
    assert created[0]["data"]["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert created[0]["data"]["affinity"] == {
        "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": aff}}
    # ResourceClaim names: a template claim never seen is named <pod>-<podClaimName>
    assert created[0]["data"]["claims"] == ["p1-gpu"]
    assert (created[1]["group"], created[1]["data"]["podSet"]) == ("team-a/wl", "workers")
    assert created[2]["group"] == "team-a/grp"
    assert evs[-1]["data"] == {"pending": 3}


def test_preexisting_pod_is_placed_at_zero_and_earlier_stages_are_derived() -> None:
    p = pod()
    p["metadata"]["creationTimestamp"] = ts(-600)
    obj = running(scheduled(p, "gpu-0", ts(-590)), ts(-580))
    evs = events(Rec().add("LIST_BEGIN", PODS, recv=0.1).add("LIST_ITEM", PODS, obj, recv=0.2)
                 .add("LIST_END", PODS, recv=0.3, items=1).stop(5))
    assert brief(evs[1:4]) == [
        ("PodCreated", 0.0, "p1", None, evs[1]["data"]),
        ("Scheduled", 0.0, "p1", "gpu-0", {"derived": True, "preexisting": True}),
        ("PodRunning", 0.0, "p1", "gpu-0", {"preexisting": True}),
    ]
    assert evs[1]["data"]["preexisting"] is True


def test_relist_after_gap_derives_skipped_states() -> None:
    p = pod()
    r = Rec().add("ADDED", PODS, p, recv=1.5)
    r.add("GAP", PODS, recv=3.0, why="410", rv="100")
    r.add("RELIST", PODS, recv=3.1)
    r.add("LIST_BEGIN", PODS, recv=3.2)
    r.add("LIST_ITEM", PODS, succeeded(scheduled(p, "gpu-1", ts(2)), ts(5), ts(40)), recv=45.0)
    r.add("LIST_END", PODS, recv=45.1, items=1)
    evs, warnings = normalize(r.stop(50))
    assert brief(evs[1:-1]) == [
        ("PodCreated", 1.0, "p1", None, evs[1]["data"]),
        ("Scheduled", 2.0, "p1", "gpu-1", {"derived": True}),
        ("PodRunning", 5.0, "p1", "gpu-1", {"derived": True}),
        ("PodSucceeded", 40.0, "p1", "gpu-1", None),
    ]
    assert warnings == ["record 3: stream core/v1/pods broke (410); states between this gap and the "
                        "relist after it may be derived"]


def test_synthetic_delete_is_derived_and_failed_without_running_has_no_running() -> None:
    p = pod()
    failed = scheduled(p, "gpu-0", ts(2))
    failed["status"]["phase"] = "Failed"
    evs = events(Rec().add("ADDED", PODS, p, recv=1).add("MODIFIED", PODS, failed, recv=3)
                 .add("DELETED", PODS, failed, recv=9, synthetic=True).stop(10))
    assert brief(evs[2:-1]) == [
        ("Scheduled", 2.0, "p1", "gpu-0", {"derived": True}),
        ("PodFailed", 3.0, "p1", "gpu-0", None),
        ("PodDeleted", 9.0, "p1", "gpu-0", {"derived": True}),
    ]


def test_server_times_reorder_output_but_never_run_backwards_per_object() -> None:
    a, b = pod("a"), pod("b")
    b["metadata"]["creationTimestamp"] = ts(0)
    # a's scheduling stamp says 1 s, but its creation says 1 s too; b was created at 0 but seen later
    evs = events(Rec().add("ADDED", PODS, a, recv=1.5).add("ADDED", PODS, b, recv=2.0)
                 .add("MODIFIED", PODS, scheduled(a, "n", ts(0)), recv=3.0).stop(4))
    assert [(e["type"], e["obj"]["name"], e["t"]) for e in evs[1:-1]] == [
        ("PodCreated", "b", 0.0), ("PodCreated", "a", 1.0), ("Scheduled", "a", 1.0)]


def test_disruption_target_message_is_the_delete_reason_and_recreated_pod_starts_over() -> None:
    p = pod()
    gone = scheduled(p, "n1", ts(2))
    gone["status"]["conditions"].append({"type": "DisruptionTarget", "status": "True",
                                         "reason": "PreemptionByScheduler",
                                         "message": "Preempted by team-b/hi on node n1"})
    again = pod()
    again["metadata"]["uid"] = "uid-p1-second"
    again["metadata"]["creationTimestamp"] = ts(4)
    evs = events(Rec().add("ADDED", PODS, p, recv=1).add("MODIFIED", PODS, scheduled(p, "n1", ts(2)), recv=2)
                 .add("DELETED", PODS, gone, recv=3).add("ADDED", PODS, again, recv=4).stop(5))
    assert [(e["type"], e.get("reason")) for e in evs[1:-1]] == [
        ("PodCreated", None), ("Scheduled", "Successfully assigned team-a/p1 to n1"),
        ("PodDeleted", "Preempted by team-b/hi on node n1"), ("PodCreated", None)]
    assert evs[-2]["obj"]["uid"] == "uid-p1-second"


# ------------------------------------------------------------------------------------------------
# nodes

def test_node_ready_and_removed() -> None:
    node = {"metadata": {"name": "gpu-0", "uid": "n0", "creationTimestamp": ts(-100),
                         "labels": {"cloud.google.com/gke-nodepool": "h100",
                                    "kubernetes.io/hostname": "gpu-0"}},
            "spec": {"taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]},
            "status": {"allocatable": {"cpu": "95500m", "memory": "1056760Ki", "nvidia.com/gpu": "8",
                                       "pods": "110"},
                       "conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": ts(-100)}]}}
    ready = json.loads(json.dumps(node))
    ready["status"]["conditions"][0].update(status="True", lastTransitionTime=ts(12))
    evs = events(Rec().add("ADDED", "core/v1/nodes", node, recv=1)
                 .add("MODIFIED", "core/v1/nodes", ready, recv=13)
                 .add("MODIFIED", "core/v1/nodes", ready, recv=14)
                 .add("DELETED", "core/v1/nodes", ready, recv=20).stop(21))
    assert brief(evs[1:-1]) == [
        ("NodeReady", 12.0, "gpu-0", None, {
            "pool": "h100",
            "labels": {"cloud.google.com/gke-nodepool": "h100", "kubernetes.io/hostname": "gpu-0"},
            "taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}],
            "allocatable": {"cpu": "95500m", "memory": "1056760Ki", "nvidia.com/gpu": "8", "pods": "110"}}),
        ("NodeRemoved", 20.0, "gpu-0", None, {"pool": "h100"}),
    ]


# ------------------------------------------------------------------------------------------------
# Kueue

WL = "kueue.x-k8s.io/v1beta2/workloads"


def workload() -> dict[str, Any]:
    return {
        "apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "Workload",
        "metadata": {"name": "job-train-1b468", "namespace": "team-a", "uid": "w1",
                     "creationTimestamp": ts(1),
                     "ownerReferences": [{"kind": "Job", "name": "train", "controller": True, "uid": "j1"}]},
        "spec": {"queueName": "lq-team-a", "priority": 10, "podSets": [
            {"name": "main", "count": 4, "template": {"spec": {"containers": [
                {"name": "c", "resources": {"requests": {"cpu": "2", "nvidia.com/gpu": "1"}}}]}}}]},
        "status": {},
    }


def test_kueue_workload_lifecycle_and_pod_group_from_owner() -> None:
    w = workload()
    adm = json.loads(json.dumps(w))
    adm["status"] = {
        "admission": {"clusterQueue": "cluster-queue", "podSetAssignments": [
            {"name": "main", "count": 4, "flavors": {"cpu": "default-flavor", "nvidia.com/gpu": "a100"},
             "resourceUsage": {"cpu": "8", "nvidia.com/gpu": "4"}}]},
        "conditions": [
            {"type": "QuotaReserved", "status": "True", "reason": "QuotaReserved",
             "lastTransitionTime": ts(3)},
            {"type": "Admitted", "status": "True", "reason": "Admitted", "lastTransitionTime": ts(3)}]}
    ready = json.loads(json.dumps(adm))
    ready["status"]["conditions"].append({"type": "PodsReady", "status": "True", "lastTransitionTime": ts(8)})
    evicted = json.loads(json.dumps(adm))
    evicted["status"]["conditions"] = [
        {"type": "QuotaReserved", "status": "False", "lastTransitionTime": ts(40)},
        {"type": "Evicted", "status": "True", "reason": "PodsReadyTimeout", "lastTransitionTime": ts(40),
         "message": "Exceeded the PodsReady timeout team-a/job-train-1b468"},
        {"type": "Requeued", "status": "False", "reason": "Backoff", "lastTransitionTime": ts(40)}]
    evicted["status"]["requeueState"] = {"count": 1, "requeueAt": ts(100)}
    done = json.loads(json.dumps(ready))
    done["status"]["conditions"].append({"type": "Finished", "status": "True", "reason": "Succeeded",
                                         "lastTransitionTime": ts(200)})
    r = Rec().add("ADDED", WL, w, recv=1.1).add("MODIFIED", WL, adm, recv=3.2)
    r.add("ADDED", PODS, pod(), recv=3.5)
    r.add("MODIFIED", WL, ready, recv=8.5).add("MODIFIED", WL, ready, recv=8.6)
    r.add("MODIFIED", WL, evicted, recv=40.5).add("MODIFIED", WL, evicted, recv=41)
    r.add("MODIFIED", WL, done, recv=201)
    evs = events(r.stop(202))
    by_type = {e["type"]: e for e in evs}
    assert by_type["WorkloadCreated"]["group"] == "team-a/job-train-1b468"
    assert by_type["WorkloadCreated"]["data"] == {
        "policy": "kueue", "queue": "lq-team-a", "minCount": 4, "pods": 4, "priority": 10,
        "podSets": [{"name": "main", "count": 4, "requests": {"cpu": "2", "nvidia.com/gpu": "1"}}]}
    assert brief([e for e in evs if e["obj"]["kind"] == "Workload"]) == [
        ("WorkloadCreated", 1.0, "job-train-1b468", None, by_type["WorkloadCreated"]["data"]),
        ("QuotaReserved", 3.0, "job-train-1b468", None, {
            "clusterQueue": "cluster-queue",
            "flavors": {"main": {"cpu": "default-flavor", "nvidia.com/gpu": "a100"}},
            "usage": {"a100": {"nvidia.com/gpu": "4"}, "default-flavor": {"cpu": "8"}}}),
        ("Admitted", 3.0, "job-train-1b468", None, {"clusterQueue": "cluster-queue"}),
        ("PodsReady", 8.0, "job-train-1b468", None, None),
        ("Evicted", 40.0, "job-train-1b468", None, {
            "clusterQueue": "cluster-queue",
            "message": "Exceeded the PodsReady timeout team-a/job-train-1b468"}),
        ("Requeued", 40.0, "job-train-1b468", None, {"backoffSeconds": 60.0, "requeueAt": 100.0}),
        ("WorkloadFinished", 200.0, "job-train-1b468", None, None),
    ]
    assert by_type["Evicted"]["reason"] == "PodsReadyTimeout"
    assert by_type["WorkloadFinished"]["reason"] == "Succeeded"
    assert by_type["PodCreated"]["group"] == "team-a/job-train-1b468"


# ------------------------------------------------------------------------------------------------
# Kubernetes Events

def test_kubernetes_events_map_onto_their_objects() -> None:
    p = pod()
    fs = {"metadata": {"name": "p1.1", "namespace": "team-a", "uid": "e1"}, "reason": "FailedScheduling",
          "eventTime": "2026-07-06T13:16:02.500000Z", "regarding": {"kind": "Pod", "namespace": "team-a",
                                                                    "name": "p1", "uid": "uid-p1"},
          "note": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu. preemption: 0/3 nodes are "
                  "available: 3 Preemption is not helpful for scheduling."}
    fs2 = json.loads(json.dumps(fs))
    fs2["series"] = {"count": 2, "lastObservedTime": "2026-07-06T13:16:04.000000Z"}
    up = {"metadata": {"name": "p1.2", "namespace": "team-a", "uid": "e2"}, "reason": "TriggeredScaleUp",
          "involvedObject": {"kind": "Pod", "namespace": "team-a", "name": "p1"},
          "lastTimestamp": ts(5), "count": 1,
          "message": "pod triggered scale-up: [{https://x/pools/h100-pool 1->3 (max: 8)}]"}
    sched = dict(up, reason="Scheduled", message="Successfully assigned team-a/p1 to n")
    pre = {"metadata": {"name": "p1.3", "namespace": "team-a", "uid": "e3"}, "reason": "Preempted",
           "eventTime": "2026-07-06T13:16:07.000000Z",
           "regarding": {"kind": "Pod", "namespace": "team-a", "name": "p1"},
           "note": "Preempted by pod 1234-abcd on node gpu-3"}
    hpa1 = {"metadata": {"name": "h.1", "namespace": "inf", "uid": "e4"}, "reason": "SuccessfulRescale",
            "eventTime": "2026-07-06T13:16:08.000000Z",
            "regarding": {"kind": "HorizontalPodAutoscaler", "namespace": "inf", "name": "llm"},
            "note": "New size: 3; reason: pods metric gpu_util above target"}
    hpa2 = dict(hpa1, metadata={"name": "h.2", "namespace": "inf", "uid": "e5"},
                eventTime="2026-07-06T13:16:09.000000Z", note="New size: 5; reason: All metrics below target")
    old = dict(hpa1, metadata={"name": "h.0", "namespace": "inf", "uid": "e0"},
               eventTime="2026-07-06T12:00:00.000000Z")
    ev = "events.k8s.io/v1/events"
    r = Rec().add("LIST_ITEM", ev, old, recv=0.1).add("ADDED", PODS, p, recv=1.2)
    r.add("ADDED", ev, fs, recv=3).add("MODIFIED", ev, fs, recv=3.5).add("MODIFIED", ev, fs2, recv=4.2)
    r.add("ADDED", "core/v1/events", up, recv=5.5).add("ADDED", "core/v1/events", sched, recv=5.6)
    hpa = {"metadata": {"name": "llm", "namespace": "inf"}, "status": {"currentReplicas": 1}}
    r.add("ADDED", ev, pre, recv=7.5)
    r.add("LIST_ITEM", "autoscaling/v2/horizontalpodautoscalers", hpa, recv=7.6)
    r.add("ADDED", ev, hpa1, recv=8.5).add("ADDED", ev, hpa2, recv=9.5)
    evs, warnings = normalize(r.stop(10))
    got = [(e["type"], e["t"], e["obj"]["name"], e.get("node"), e.get("reason"), e.get("data"))
           for e in evs[2:-1]]
    assert got == [
        ("FailedScheduling", 2.5, "p1", None, fs["note"], None),
        ("FailedScheduling", 4.0, "p1", None, fs["note"], {"attempts": 2}),
        ("TriggeredScaleUp", 5.0, "p1", None, up["message"],
         {"pool": "https://x/pools/h100-pool", "from": 1, "to": 3}),
        ("Preempted", 7.0, "p1", "gpu-3", pre["note"], {"preemptor": "1234-abcd"}),
        ("SuccessfulRescale", 8.0, "llm", None, hpa1["note"],
         {"from": 1, "to": 3, "metric": "pods metric gpu_util above target"}),
        ("SuccessfulRescale", 9.0, "llm", None, hpa2["note"],
         {"from": 3, "to": 5, "metric": "All metrics below target"}),
    ]
    assert evs[2]["obj"] == {"kind": "Pod", "namespace": "team-a", "name": "p1", "uid": "uid-p1"}
    assert "1 Kubernetes Event(s) from before the recording started were skipped (history the timeline " \
           "does not hold)" in warnings


# ------------------------------------------------------------------------------------------------
# files: torn last line, header, round trip through the timeline reader

def test_normalize_file_skips_torn_last_line_and_round_trips(tmp_path: Path) -> None:
    r = Rec().add("ADDED", PODS, pod(), recv=1.0)
    raw = tmp_path / "raw.jsonl"
    text = "".join(json.dumps(x) + "\n" for x in r.records)
    raw.write_text(text + '{"seq": 3, "recvWall": "2026-07-06T13:16:0', encoding="utf-8")
    out = tmp_path / "timeline.jsonl"
    warnings = normalize_file(raw, out)
    assert warnings[0] == f"{raw}:3: torn last line skipped (the recorder was interrupted)"
    assert "raw recording has no RECORDING_STOPPED" in warnings[1]
    tl = read_timeline(out)
    assert tl.problems == [] and tl.warnings == []
    assert tl.header == {"schemaVersion": 1, "source": "live", "startedAt": START}
    assert [(e.seq, e.type, e.t) for e in tl.events] == [
        (0, "RunStarted", 0.0), (1, "PodCreated", 1.0), (2, "RunFinished", 1.0)]
    assert tl.events[-1].reason == "interrupted"


def test_corrupt_middle_line_is_an_input_error(tmp_path: Path) -> None:
    raw = tmp_path / "raw.jsonl"
    start = json.dumps({"seq": 1, "type": "RECORDING_STARTED", "startedAt": START})
    raw.write_text(start + "\nnot json\n{}\n")
    with pytest.raises(InputError) as e:
        normalize_file(raw, tmp_path / "t.jsonl")
    assert e.value.line == 2


def test_unknown_stream_and_missing_start_are_warned() -> None:
    evs, warnings = normalize([{"seq": 1, "recvWall": START, "stream": "batch/v1/jobs", "type": "ADDED",
                                "object": {"metadata": {"name": "d"}}}])
    assert [e["type"] for e in evs] == ["RunStarted", "RunFinished"]
    assert warnings[:2] == [
        "raw recording does not start with RECORDING_STARTED; times count from the first record",
        "stream 'batch/v1/jobs': no timeline mapping; its records stay in the raw file only"]


# ------------------------------------------------------------------------------------------------
# real objects from the AI-conformance evidence

def _evidence_objects(name: str) -> list[dict[str, Any]]:
    path = DATA / name
    if not path.is_file():
        pytest.skip(f"shared data not present (../shared/data): {path}")
    text = path.read_text(encoding="utf-8")
    objs: list[dict[str, Any]] = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S):
        heredocs = re.findall(r"<<'?EOF'?[^\n]*\n(.*?)\nEOF", block, flags=re.S)
        docs: list[Any] = []
        for body in heredocs or [block]:
            try:
                docs += list(yaml.safe_load_all(body))
            except yaml.YAMLError:
                continue
        for d in docs:
            if isinstance(d, dict) and d.get("kind") == "List":
                objs += [i for i in d.get("items", []) if isinstance(i, dict)]
            elif isinstance(d, dict) and "kind" in d:
                objs.append(d)
    return objs


_STREAMS = {"ResourceClaim": "resource.k8s.io/v1/resourceclaims", "Pod": PODS,
            "ClusterQueue": "kueue.x-k8s.io/v1beta1/clusterqueues",
            "LocalQueue": "kueue.x-k8s.io/v1beta1/localqueues"}


def _as_records(objs: list[dict[str, Any]], started: str = START) -> Rec:
    r = Rec()
    r.records[0]["startedAt"] = started
    r.records[0]["recvWall"] = started
    for o in objs:
        if o["kind"] in _STREAMS:
            r.add("LIST_ITEM", _STREAMS[o["kind"]], o, recv=0.5)
    return r


def test_real_resource_claim_allocation_and_release() -> None:
    objs = [o for o in _evidence_objects("v1.36_vks_dra_support.md") if o["kind"] == "ResourceClaim"]
    assert len(objs) == 1
    claim = objs[0]
    released = json.loads(json.dumps(claim))
    del released["status"]
    # the recording starts 10 s before the claim was created (2026-07-06T13:16:19Z)
    r = Rec().add("ADDED", "resource.k8s.io/v1/resourceclaims", claim, recv=19.5)
    r.add("MODIFIED", "resource.k8s.io/v1/resourceclaims", released, recv=30)
    r.add("DELETED", "resource.k8s.io/v1/resourceclaims", released, recv=31)
    evs = events(r.stop(32))
    name = "dra-gpu-example-798fccd4d-sfl2p-single-gpu-d2jzk"
    devices = [{"request": "single-gpu", "driver": "gpu.nvidia.com", "pool": "conformance-test-np1-qcqc8-bpdtl-wv2gs",
                "device": "gpu-0"}]
    spec = {"devices": {"requests": [{"name": "single-gpu", "exactly": {
        "deviceClassName": "gpu.nvidia.com", "selectors": [], "allocationMode": "ExactCount", "count": 1,
        "tolerations": []}}], "constraints": [], "config": []}}
    assert [(e["type"], e["t"], e["obj"]["namespace"], e["obj"]["name"], e.get("node"), e.get("data"))
            for e in evs[1:-1]] == [
        ("ClaimCreated", 19.0, "gpu-test1", name, None, {"pod": "dra-gpu-example-798fccd4d-sfl2p", "spec": spec}),
        ("ClaimAllocated", 19.0, "gpu-test1", name, "conformance-test-np1-qcqc8-bpdtl-wv2gs",
         {"devices": devices, "reservedFor": ["dra-gpu-example-798fccd4d-sfl2p"]}),
        ("ClaimReleased", 30.0, "gpu-test1", name, "conformance-test-np1-qcqc8-bpdtl-wv2gs",
         {"devices": devices, "pod": "dra-gpu-example-798fccd4d-sfl2p"}),
    ]


def test_real_claim_seen_after_the_fact_is_preexisting() -> None:
    objs = [o for o in _evidence_objects("v1.36_vks_dra_support.md") if o["kind"] == "ResourceClaim"]
    evs = events(_as_records(objs, "2026-07-06T13:20:00.000000000Z").stop(1))
    assert [(e["type"], e["t"], e["data"].get("preexisting")) for e in evs[1:-1]] == [
        ("ClaimCreated", 0.0, True), ("ClaimAllocated", 0.0, True)]


def test_real_pod_with_claim_from_openshift_evidence() -> None:
    objs = [o for o in _evidence_objects("v1.35_openshift_dra-support.md") if o["kind"] == "Pod"]
    evs = events(_as_records(objs).stop(1))
    created = evs[1]
    assert created["type"] == "PodCreated"
    assert created["obj"] == {"kind": "Pod", "namespace": "dra-test", "name": "dra-gpu-test"}
    assert created["t"] == 0.5  # no creationTimestamp in a manifest: receive time
    assert created["data"] == {"requests": {}, "priority": 0, "workload": "dra-gpu-test",
                               "claims": ["gpu-claim"]}  # ResourceClaim names, as the simulator writes them


def test_real_cluster_queues_and_local_queue() -> None:
    objs = [o for o in _evidence_objects("v1.35_vks_gang_scheduling.md") if o["kind"] == "ClusterQueue"]
    objs += [o for o in _evidence_objects("v1.35_viettel-ai-platform_gang_scheduling.md")
             if o["kind"] in ("ClusterQueue", "LocalQueue")]
    evs = events(_as_records(objs).stop(1))
    got = [(e["type"], e["obj"]["kind"], e["obj"].get("namespace"), e["obj"]["name"], e["data"])
           for e in evs[1:-1]]
    assert got == [
        ("QueueConfigured", "ClusterQueue", None, "cluster-queue", {
            "queueingStrategy": "BestEffortFIFO",
            "resourceGroups": [{"coveredResources": ["cpu", "memory", "nvidia.com/gpu", "ephemeral-storage"],
                                "flavors": [{"name": "default-flavor", "resources": [
                                    {"name": "cpu", "nominalQuota": "10"},
                                    {"name": "memory", "nominalQuota": "2Gi"},
                                    {"name": "nvidia.com/gpu", "nominalQuota": "10"},
                                    {"name": "ephemeral-storage", "nominalQuota": "10Gi"}]}]}]}),
        ("QueueConfigured", "ClusterQueue", None, "gang-test-cq", {
            "queueingStrategy": "BestEffortFIFO",
            "resourceGroups": [{"coveredResources": ["cpu", "memory"], "flavors": [
                {"name": "default-flavor", "resources": [{"name": "cpu", "nominalQuota": "10"},
                                                         {"name": "memory", "nominalQuota": "10Gi"}]}]}]}),
        ("QueueConfigured", "LocalQueue", "gang-scheduling-test", "gang-test-lq",
         {"clusterQueue": "gang-test-cq"}),
    ]
    # the same queue seen again (relist, duplicate MODIFIED) is not configured twice
    again = _as_records(objs)
    for o in objs:
        again.add("MODIFIED", _STREAMS[o["kind"]], o, recv=2)
    assert len([e for e in events(again.stop(3)) if e["type"] == "QueueConfigured"]) == 3
