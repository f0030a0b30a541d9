"""ProvisioningRequests and Kueue's admission checks on a (fake) live cluster: record, normalize, validate.

A fake API server (tests/fakeapi.py) serves Kueue and ``autoscaling.x-k8s.io/v1`` ProvisioningRequests.
While ``record`` runs, a Kueue Workload reserves quota in a ClusterQueue guarded by the admission check
``prov``; Kueue's ProvisioningRequest ``<workload>-prov-1`` appears, the cluster autoscaler scales up for
it (a ``TriggeredScaleUp`` Event on the request) and marks it ``Provisioned``; the check goes
Pending → Ready and the workload is Admitted; its pods bind on the new nodes. The normalizer must give
the simulator's events (QuotaReserved.admissionChecks, ProvisioningRequestCreated, Provisioned,
AdmissionCheckUpdated) and ``kubetwin validate`` must pass PR1/PR2 — and fail PR1 when the recording has
the workload Admitted before its check is Ready.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import run_cli
from fakeapi import DEFAULT_RESOURCES, FakeAPI, Resource
from test_operator_recording import _bind, _kubeconfig, _now, record_story

from models.events import payload_problems
from models.kueue import BEST_EFFORT_ATOMIC
from models.timeline import Event
from validator.autoscaling_summary import autoscaling_summary
from validator.checks import FAILED, PASSED, run_checks
from validator.live.kubeclient import connect
from validator.live.recorder import RECORDED_KINDS

PROVREQ = Resource("autoscaling.x-k8s.io", "v1", "provisioningrequests", "ProvisioningRequest", True)
NS = "research"
WL = "job-train-1a2b3"
PR = f"{WL}-prov-1"
GROUP = f"{NS}/{WL}"
PODS = [f"train-{i}-x{i}" for i in range(4)]
FOUND = "Capacity is found in the cluster"
SCALE_UP = "pod triggered scale-up: [{gpu 0->2 (max: 8)}]"


@pytest.fixture
async def fake() -> AsyncIterator[FakeAPI]:
    api = FakeAPI(resources=(*DEFAULT_RESOURCES, PROVREQ))
    await api.start()
    yield api
    await api.stop()


def _owner(kind: str, name: str, api_version: str, uid: str) -> list[dict[str, Any]]:
    return [{"apiVersion": api_version, "kind": kind, "name": name, "uid": uid, "controller": True}]


def _queues(fake: FakeAPI) -> None:
    fake.create("clusterqueues", {"metadata": {"name": "training"}, "spec": {
        "admissionChecks": ["prov"], "resourceGroups": [{
            "coveredResources": ["cpu", "nvidia.com/gpu"], "flavors": [{"name": "default", "resources": [
                {"name": "cpu", "nominalQuota": "64"}, {"name": "nvidia.com/gpu", "nominalQuota": "16"}]}]}]}})
    fake.create("localqueues", {"metadata": {"name": "training", "namespace": NS},
                                "spec": {"clusterQueue": "training"}})


def _workload() -> dict[str, Any]:
    container = {"name": "c", "resources": {"requests": {"cpu": "4", "nvidia.com/gpu": "4"}}}
    return {"metadata": {"name": WL, "namespace": NS, "creationTimestamp": _now(),
                         "ownerReferences": _owner("Job", "train", "batch/v1", "j")},
            "spec": {"queueName": "training", "podSets": [{"name": "main", "count": 4, "template": {
                "spec": {"containers": [container]}}}]}}


def _reserve(o: dict[str, Any]) -> None:
    t = _now()
    o["status"] = {"admission": {"clusterQueue": "training", "podSetAssignments": [
        {"name": "main", "count": 4, "flavors": {"cpu": "default", "nvidia.com/gpu": "default"},
         "resourceUsage": {"cpu": "16", "nvidia.com/gpu": "16"}}]},
        "conditions": [{"type": "QuotaReserved", "status": "True", "reason": "QuotaReserved", "lastTransitionTime": t}],
        "admissionChecks": [{"name": "prov", "state": "Pending", "message": "", "lastTransitionTime": t}]}


def _check_ready(o: dict[str, Any]) -> None:
    o["status"]["admissionChecks"] = [{
        "name": "prov", "state": "Ready", "message": FOUND, "lastTransitionTime": _now(),
        "podSetUpdates": [{"name": "main", "annotations": {
            "cluster-autoscaler.kubernetes.io/consume-provisioning-request": PR}}]}]


def _admitted(o: dict[str, Any]) -> None:
    o["status"]["conditions"].append({"type": "Admitted", "status": "True", "reason": "Admitted",
                                      "lastTransitionTime": _now()})


def _provisioned(o: dict[str, Any]) -> None:
    t = _now()
    o["status"] = {"conditions": [
        {"type": "Accepted", "status": "True", "reason": "Accepted", "lastTransitionTime": t,
         "message": "ProvisioningRequest is accepted by ClusterAutoscaler"},
        {"type": "Provisioned", "status": "True", "reason": "CapacityIsProvisioned", "lastTransitionTime": t,
         "message": FOUND}]}


def _pod(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": NS, "creationTimestamp": _now(),
                         "ownerReferences": _owner("Job", "train", "batch/v1", "j")},
            "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "4", "nvidia.com/gpu": "4"}}}]},
            "status": {"phase": "Pending"}}


def _story(fake: FakeAPI, *, ready_first: bool) -> Callable[[], Awaitable[None]]:
    async def scenario() -> None:
        _queues(fake)
        fake.create("workloads", _workload())
        await asyncio.sleep(0.05)
        fake.update("workloads", WL, _reserve, namespace=NS)
        await asyncio.sleep(0.05)
        wl = fake.store["kueue.x-k8s.io/v1beta1/workloads"][(NS, WL)]
        fake.create("provisioningrequests", {
            "metadata": {"name": PR, "namespace": NS, "creationTimestamp": _now(),
                         "ownerReferences": _owner("Workload", WL, "kueue.x-k8s.io/v1beta1", wl["metadata"]["uid"])},
            "spec": {"provisioningClassName": BEST_EFFORT_ATOMIC,
                     "podSets": [{"podTemplateRef": {"name": f"ppt-{PR}-main"}, "count": 4}]}})
        await asyncio.sleep(0.05)
        fake.update("provisioningrequests", PR, _provisioned, namespace=NS)
        fake.create("events", {"metadata": {"name": f"{PR}.1", "namespace": NS}, "eventTime": _now(),
                               "reason": "TriggeredScaleUp", "note": SCALE_UP, "type": "Normal",
                               "regarding": {"kind": "ProvisioningRequest", "namespace": NS, "name": PR,
                                             "apiVersion": "autoscaling.x-k8s.io/v1"}})
        await asyncio.sleep(0.05)
        for step in ((_check_ready, _admitted) if ready_first else (_admitted, _check_ready)):
            fake.update("workloads", WL, step, namespace=NS)
            await asyncio.sleep(0.05)
        for n in ("gpu-0", "gpu-1"):  # the scale-up's nodes register
            fake.create("nodes", {"metadata": {"name": n, "labels": {"cloud.google.com/gke-nodepool": "gpu"}},
                                  "status": {"allocatable": {"cpu": "64", "nvidia.com/gpu": "8", "pods": "110"},
                                             "conditions": [{"type": "Ready", "status": "True",
                                                             "lastTransitionTime": _now()}]}})
        for name in PODS:
            fake.create("pods", _pod(name))
        await asyncio.sleep(0.05)
        for i, name in enumerate(PODS):
            fake.update("pods", name, _bind(f"gpu-{i // 2}"), namespace=NS)
    return scenario


async def _record(fake: FakeAPI, tmp_path: Path, scenario: Callable[[], Awaitable[None]]) -> list[Event]:
    result, events = await record_story(fake, tmp_path, scenario)
    assert "autoscaling.x-k8s.io/v1/provisioningrequests" in result.counts
    return events


def _statuses(events: list[Event]) -> dict[str, str]:
    return {r.invariant.id: r.status for r in run_checks(events)}


async def test_recorded_provisioning_request_gives_the_simulators_events_and_passes(
        fake: FakeAPI, tmp_path: Path) -> None:
    events = await _record(fake, tmp_path, _story(fake, ready_first=True))
    flags = ("derived", "preexisting")  # the normalizer's marks, allowed on any event
    assert [p for e in events for p in payload_problems(e.type, {k: v for k, v in e.data.items() if k not in flags})
            ] == []
    story = [(e.type, e.kind, e.name, e.group) for e in events
             if e.type in ("QuotaReserved", "ProvisioningRequestCreated", "Provisioned", "TriggeredScaleUp",
                           "AdmissionCheckUpdated", "Admitted")]
    assert story == [("QuotaReserved", "Workload", WL, GROUP),
                     ("ProvisioningRequestCreated", "ProvisioningRequest", PR, GROUP),
                     ("Provisioned", "ProvisioningRequest", PR, GROUP),
                     ("TriggeredScaleUp", "ProvisioningRequest", PR, GROUP),
                     ("AdmissionCheckUpdated", "Workload", WL, GROUP),
                     ("Admitted", "Workload", WL, GROUP)]
    by_type = {e.type: e for e in events}
    assert by_type["QuotaReserved"].data["admissionChecks"] == ["prov"]
    assert by_type["ProvisioningRequestCreated"].data == {
        "workload": WL, "admissionCheck": "prov", "provisioningClassName": BEST_EFFORT_ATOMIC, "attempt": 1,
        "podSets": [{"name": "main", "count": 4, "requests": {"cpu": "4", "nvidia.com/gpu": "4"}}]}
    assert by_type["ProvisioningRequestCreated"].reason == f'Created ProvisioningRequest: "{PR}"'
    assert (by_type["Provisioned"].reason, by_type["Provisioned"].data) == (
        "CapacityIsProvisioned", {"provisioningClassName": BEST_EFFORT_ATOMIC, "message": FOUND})
    assert by_type["TriggeredScaleUp"].data == {"pool": "gpu", "from": 0, "to": 2}
    check = by_type["AdmissionCheckUpdated"]
    assert check.data == {"admissionCheck": "prov", "from": "Pending", "to": "Ready", "message": FOUND,
                          "provisioningRequest": PR}
    assert check.reason == f"Admission check prov updated state from Pending to Ready with message {FOUND}"
    statuses = _statuses(events)
    assert (statuses["PR1"], statuses["PR2"]) == (PASSED, PASSED)
    assert [k for k, v in statuses.items() if v == FAILED] == []
    code, out, _ = run_cli("validate", str(tmp_path / "rec" / "timeline.jsonl"))
    assert code == 0, out
    # the summary: one request, Provisioned; the gang's 4 pods came after the scale-up made for it
    summary = autoscaling_summary(events)
    prs = summary["provisioningRequests"]
    assert (prs["created"], prs["provisioned"], prs["failed"], prs["bookingExpired"]) == (1, 1, 0, 0)
    assert prs["timeToProvisionedSeconds"]["count"] == 1
    assert summary["scaleUpWaitSeconds"]["count"] == 4


async def test_recorded_admission_before_the_check_is_ready_fails_pr1(fake: FakeAPI, tmp_path: Path) -> None:
    events = await _record(fake, tmp_path, _story(fake, ready_first=False))
    order = [e.type for e in events if e.type in ("AdmissionCheckUpdated", "Admitted")]
    assert order == ["Admitted", "AdmissionCheckUpdated"]
    failed = {r.invariant.id: [f.message for f in r.findings] for r in run_checks(events) if r.status == FAILED}
    assert list(failed) == ["PR1"]
    assert failed["PR1"] == [f"workload {GROUP} was admitted at t={_t(events, 'Admitted')} before its admission "
                             "check(s) prov went Ready"]
    code, _, _ = run_cli("validate", str(tmp_path / "rec" / "timeline.jsonl"))
    assert code == 1


def _t(events: list[Event], type_: str) -> str:
    from validator.checks.common import fmt_t

    return fmt_t(next(e.t for e in events if e.type == type_))


def test_the_recorder_watches_provisioning_requests_and_rbac_allows_it() -> None:
    from test_rbac import covered

    [kind] = [k for k in RECORDED_KINDS if k.resource == "provisioningrequests"]
    assert (kind.group, kind.versions, kind.namespaced) == ("autoscaling.x-k8s.io", ("v1",), True)
    for verb in ("list", "watch"):
        assert covered("/apis/autoscaling.x-k8s.io/v1/provisioningrequests", verb)
        assert covered("/apis/autoscaling.x-k8s.io/v1/namespaces/ns/provisioningrequests", verb)


def test_pr2_on_a_recording_takes_the_condition_written_just_before_the_event() -> None:
    from test_provisioning_request import PTL, _atomic

    from validator.checks import check

    def live(gap: float) -> list[Event]:
        tl = _atomic(PTL(source="live"))
        tl = tl.ev(10.0, "Provisioned", "ProvisioningRequest", "ml/w-prov-1", group="ml/w",
                   data={"provisioningClassName": BEST_EFFORT_ATOMIC, "message": FOUND})
        return tl.ev(10.0 + gap, "TriggeredScaleUp", "ProvisioningRequest", "ml/w-prov-1", group="ml/w",
                     data={"pool": "gpu", "from": 1, "to": 5}).events

    # no NodeProvisioning on a recording: the node count is not judged; 0.5 s apart is the same instant
    assert check("PR2", live(0.5)) == []
    assert check("CA2", live(0.5)) == []
    assert [f.message for f in check("PR2", live(3.0))] == [
        "ProvisioningRequest ml/w-prov-1 was scaled up for at t=13 but not Provisioned then"]


async def test_a_cluster_without_the_provisioning_request_crd_is_skipped_with_a_note(tmp_path: Path) -> None:
    from validator.live.watch import discover

    api = FakeAPI(resources=DEFAULT_RESOURCES)
    await api.start()
    try:
        conn = await connect(kubeconfig=str(_kubeconfig(tmp_path, api.url)))
        try:
            streams, skipped = await discover(conn.client, RECORDED_KINDS, ())
        finally:
            await conn.client.close()
    finally:
        await api.stop()
    assert "autoscaling.x-k8s.io/v1/provisioningrequests" not in {s.id for s in streams}
    assert [why for sid, why in skipped if sid == "autoscaling.x-k8s.io/v1/provisioningrequests"] == [
        "not served (discovery: autoscaling.x-k8s.io/v1)"]
