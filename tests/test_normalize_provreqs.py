"""The normalizer on hand-made raw records: a Kueue Workload's admission checks and its
ProvisioningRequests become the simulator's events, at the servers' own times (seconds after START).

The story: the workload reserves quota at 10 s (check ``prov`` Pending), Kueue creates request attempt 1
at 11 s, the autoscaler answers ``Provisioned=False`` at 20 s and ``Failed=True`` at 30 s; the check goes
Retry (31 s), the eviction resets it to Pending (not reported), the workload reserves again at 40 s,
attempt 2 is created at 41 s, Provisioned at 50 s, the check goes Ready at 51 s and the workload is
Admitted at 51 s; one of its two pods binds at 55 s and the booking expires at 700 s with one pod missing.
"""

from __future__ import annotations

from typing import Any

from test_normalize import Rec, events, ts

from models.events import payload_problems
from models.kueue import CHECK_CAPACITY

WORKLOADS = "kueue.x-k8s.io/v1beta1/workloads"
CQS = "kueue.x-k8s.io/v1beta1/clusterqueues"
PROVREQS = "autoscaling.x-k8s.io/v1/provisioningrequests"
PODS = "core/v1/pods"
OWNER = [{"apiVersion": "batch/v1", "kind": "Job", "name": "train", "uid": "j", "controller": True}]


def _workload(conditions: list[dict[str, Any]], checks: list[dict[str, Any]]) -> dict[str, Any]:
    return {"kind": "Workload", "metadata": {"name": "wl", "namespace": "ml", "uid": "w1",
                                             "creationTimestamp": ts(5), "ownerReferences": OWNER},
            "spec": {"queueName": "lq", "podSets": [{"name": "main", "count": 2, "template": {"spec": {
                "nodeSelector": {"pool": "gpu"},
                "containers": [{"name": "c", "resources": {"requests": {"nvidia.com/gpu": "8"}}}]}}}]},
            "status": {"admission": {"clusterQueue": "cq", "podSetAssignments": [
                {"name": "main", "count": 2, "flavors": {"nvidia.com/gpu": "h100"},
                 "resourceUsage": {"nvidia.com/gpu": "16"}}]},
                "conditions": conditions, "admissionChecks": checks}}


def _cond(type_: str, at: int, status: str = "True", reason: str = "", message: str = "") -> dict[str, Any]:
    return {"type": type_, "status": status, "reason": reason or type_, "message": message,
            "lastTransitionTime": ts(at)}


def _check(state: str, at: int, message: str = "") -> dict[str, Any]:
    return {"name": "prov", "state": state, "message": message, "lastTransitionTime": ts(at)}


def _request(attempt: int, created: int, conditions: list[dict[str, Any]]) -> dict[str, Any]:
    name = f"wl-prov-{attempt}"
    return {"kind": "ProvisioningRequest", "metadata": {
        "name": name, "namespace": "ml", "uid": f"pr{attempt}", "creationTimestamp": ts(created),
        "ownerReferences": [{"apiVersion": "kueue.x-k8s.io/v1beta1", "kind": "Workload", "name": "wl",
                             "uid": "w1", "controller": True}]},
        "spec": {"provisioningClassName": CHECK_CAPACITY, "parameters": {"noRetry": "false"},
                 "podSets": [{"podTemplateRef": {"name": f"ppt-{name}-main"}, "count": 2}]},
        "status": {"conditions": conditions}}


def _pod(name: str, node: str | None, at: int) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "resources": {"requests": {"nvidia.com/gpu": "8"}}}]}
    status: dict[str, Any] = {"phase": "Pending"}
    if node:
        spec["nodeName"] = node
        status["conditions"] = [{"type": "PodScheduled", "status": "True", "lastTransitionTime": ts(at)}]
    return {"kind": "Pod", "metadata": {"name": name, "namespace": "ml", "uid": name, "creationTimestamp": ts(52),
                                        "ownerReferences": OWNER}, "spec": spec, "status": status}


def _records() -> list[dict[str, Any]]:
    found = "Capacity is found in the cluster"
    reserved1 = _cond("QuotaReserved", 10)
    reserved2 = _cond("QuotaReserved", 40)
    not_found = _cond("Provisioned", 20, "False", "CapacityIsNotFound", "not yet")
    rec = Rec()
    rec.add("ADDED", CQS, {"kind": "ClusterQueue", "metadata": {"name": "cq", "creationTimestamp": ts(0)}, "spec": {
        "admissionChecksStrategy": {"admissionChecks": [{"name": "prov", "onFlavors": ["h100"]},
                                                        {"name": "other", "onFlavors": ["l4"]}]}}}, recv=1)
    rec.add("ADDED", WORKLOADS, _workload([], []), recv=6)
    rec.add("MODIFIED", WORKLOADS, _workload([reserved1], [_check("Pending", 10)]), recv=10.5)
    rec.add("ADDED", PROVREQS, _request(1, 11, []), recv=11.5)
    rec.add("MODIFIED", PROVREQS, _request(1, 11, [not_found]), recv=20.5)
    rec.add("MODIFIED", PROVREQS, _request(1, 11, [not_found, _cond("Failed", 30, reason="CapacityIsNotFound",
                                                                     message="no capacity")]), recv=30.5)
    rec.add("MODIFIED", WORKLOADS, _workload([reserved1], [_check("Retry", 31, "Retrying")]), recv=31.5)
    rec.add("MODIFIED", WORKLOADS, _workload([_cond("QuotaReserved", 32, "False")], [_check("Pending", 32)]),
            recv=32.5)
    rec.add("MODIFIED", WORKLOADS, _workload([reserved2], [_check("Pending", 32)]), recv=40.5)
    rec.add("ADDED", PROVREQS, _request(2, 41, []), recv=41.5)
    rec.add("MODIFIED", PROVREQS, _request(2, 41, [_cond("Provisioned", 50, reason="CapacityIsFound",
                                                         message=found)]), recv=50.5)
    rec.add("MODIFIED", WORKLOADS, _workload([reserved2, _cond("Admitted", 51)], [_check("Ready", 51, found)]),
            recv=51.5)
    rec.add("ADDED", PODS, _pod("wl-a", None, 0), recv=52.5)
    rec.add("ADDED", PODS, _pod("wl-b", None, 0), recv=52.6)
    rec.add("MODIFIED", PODS, _pod("wl-a", "gpu-1", 55), recv=55.5)
    rec.add("MODIFIED", PROVREQS, _request(2, 41, [
        _cond("Provisioned", 50, reason="CapacityIsFound", message=found),
        _cond("BookingExpired", 700, reason="CapacityReservationTimeExpired", message="expired")]), recv=700.5)
    return rec.stop(800)


def test_admission_checks_and_provisioning_requests_become_the_simulators_events() -> None:
    evs = events(_records())
    kinds = ("QuotaReserved", "ProvisioningRequestCreated", "Provisioned", "NotProvisioned", "ProvisioningFailed",
             "BookingExpired", "AdmissionCheckUpdated", "Admitted")
    got = [(e["type"], e["t"], e["obj"]["name"], e.get("group"), e.get("reason"), e.get("data"))
           for e in evs if e["type"] in kinds]
    quota = {"clusterQueue": "cq", "flavors": {"main": {"nvidia.com/gpu": "h100"}},
             "usage": {"h100": {"nvidia.com/gpu": "16"}}, "admissionChecks": ["prov"]}
    pod_sets = [{"name": "main", "count": 2, "requests": {"nvidia.com/gpu": "8"}, "nodeSelector": {"pool": "gpu"}}]

    def created(attempt: int) -> dict[str, Any]:
        return {"workload": "wl", "admissionCheck": "prov", "provisioningClassName": CHECK_CAPACITY,
                "attempt": attempt, "parameters": {"noRetry": "false"}, "podSets": pod_sets}

    cls = {"provisioningClassName": CHECK_CAPACITY}
    assert got == [
        ("QuotaReserved", 10.0, "wl", "ml/wl", None, quota),
        ("ProvisioningRequestCreated", 11.0, "wl-prov-1", "ml/wl", 'Created ProvisioningRequest: "wl-prov-1"',
         created(1)),
        ("NotProvisioned", 20.0, "wl-prov-1", "ml/wl", "CapacityIsNotFound", {**cls, "message": "not yet"}),
        ("ProvisioningFailed", 30.0, "wl-prov-1", "ml/wl", "CapacityIsNotFound", {**cls, "message": "no capacity"}),
        ("AdmissionCheckUpdated", 31.0, "wl", "ml/wl", "Admission check prov updated state from Pending to Retry "
         "with message Retrying", {"admissionCheck": "prov", "from": "Pending", "to": "Retry",
                                   "message": "Retrying", "provisioningRequest": "wl-prov-1"}),
        ("QuotaReserved", 40.0, "wl", "ml/wl", None, quota),
        ("ProvisioningRequestCreated", 41.0, "wl-prov-2", "ml/wl", 'Created ProvisioningRequest: "wl-prov-2"',
         created(2)),
        ("Provisioned", 50.0, "wl-prov-2", "ml/wl", "CapacityIsFound",
         {**cls, "message": "Capacity is found in the cluster"}),
        ("AdmissionCheckUpdated", 51.0, "wl", "ml/wl", "Admission check prov updated state from Pending to Ready "
         "with message Capacity is found in the cluster",
         {"admissionCheck": "prov", "from": "Pending", "to": "Ready",
          "message": "Capacity is found in the cluster", "provisioningRequest": "wl-prov-2"}),
        ("Admitted", 51.0, "wl", "ml/wl", None, {"clusterQueue": "cq"}),
        ("BookingExpired", 700.0, "wl-prov-2", "ml/wl", "CapacityReservationTimeExpired",
         {**cls, "message": "expired", "missing": 1}),
    ]
    assert [p for e in evs for p in payload_problems(e["type"], e.get("data") or {})] == []


def _event(name: str, pod: str, reason: str, note: str, at: float) -> dict[str, Any]:
    whole = int(at)
    return {"kind": "Event", "metadata": {"name": name, "namespace": "ml", "uid": name},
            "eventTime": ts(whole)[:-1] + f".{round((at - whole) * 1e6):06d}Z", "reason": reason, "note": note,
            "regarding": {"kind": "Pod", "namespace": "ml", "name": pod, "uid": f"ml/{pod}"}}


def test_events_on_the_autoscalers_in_memory_pods_of_a_request_become_one_event_on_the_request() -> None:
    records = _records()
    # the Events arrive right after the request's Provisioned (recorded at 50.5 s)
    at = next(i for i, r in enumerate(records) if r.get("type") == "MODIFIED"
              and (r.get("object") or {}).get("metadata", {}).get("name") == "wl-prov-2") + 1
    message = "pod triggered scale-up: [{gpu 1->3 (max: 8)}]"
    extra = [_event("e1", "wl-prov-2-0-0", "TriggeredScaleUp", message, 50.2),
             _event("e2", "wl-prov-2-0-1", "TriggeredScaleUp", message, 50.3),
             _event("e3", "wl-prov-1-0-0", "NotTriggerScaleUp", "pod didn't trigger scale-up: 1 Insufficient cpu",
                    20.1)]
    here = records[at - 1]
    records[at:at] = [{"seq": here["seq"], "recvWall": here["recvWall"], "recvMono": here["recvMono"],
                       "stream": "events.k8s.io/v1/events", "type": "ADDED", "object": ev} for ev in extra]
    evs = events(records)
    ups = [(e["type"], e["t"], e["obj"]["kind"], e["obj"]["name"], e.get("group"), e.get("data"))
           for e in evs if e["type"] in ("TriggeredScaleUp", "NotTriggerScaleUp")]
    assert ups == [("TriggeredScaleUp", 50.2, "ProvisioningRequest", "wl-prov-2", "ml/wl",
                    {"pool": "gpu", "from": 1, "to": 3})]
    assert not [e for e in evs if e["obj"]["name"].startswith("wl-prov-") and e["obj"]["kind"] == "Pod"]
