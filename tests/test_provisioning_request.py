"""ProvisioningRequests and Kueue's ProvisioningRequest admission check, against hand-computed timelines.

The cluster autoscaler's loop ticks every 10 s (0, 10, 20, …). A gang that arrives at t=15 reserves quota
at once; Kueue creates its ProvisioningRequest ``<workload>-<check>-1`` then, and the autoscaler answers it
at the next tick, t=20. Nodes take ``provisioningDelay`` (5 minutes) to register.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubetwin.cmd_simulate import simulate_to
from models.errors import InputError
from models.kueue import BEST_EFFORT_ATOMIC, CHECK_CAPACITY
from models.scenario import load_scenario
from models.timeline import Event, read_timeline
from sim.build import build
from tests.timeline_builder import TL
from validator.checks import check, run_checks

ROOT = Path(__file__).resolve().parent.parent
GPU8 = {"cpu": "8", "nvidia.com/gpu": "8"}


def scenario(*, max_count: int | None = 5, count: int = 1, klass: str = BEST_EFFORT_ATOMIC,
             parameters: dict[str, str] | None = None, retry: dict[str, int] | None = None,
             workloads: list[dict[str, Any]], latencies: dict[str, Any] | None = None) -> dict[str, Any]:
    pool: dict[str, Any] = {"name": "gpu", "count": count, "allocatable": {"cpu": "96", "memory": "1Ti",
                                                                          "nvidia.com/gpu": "8"}}
    if max_count is not None:
        pool["autoscaling"] = {"minCount": 1, "maxCount": max_count}
        pool["provisioningDelay"] = "5m"
    config: dict[str, Any] = {"provisioningClassName": klass, "managedResources": ["nvidia.com/gpu"]}
    if parameters:
        config["parameters"] = parameters
    if retry:
        config["retryStrategy"] = retry
    spec: dict[str, Any] = {
        "seed": 1, "duration": "3h", "cluster": {"nodePools": [pool]}, "autoscaler": {},
        "kueue": {
            "resourceFlavors": [{"metadata": {"name": "default"}}],
            "clusterQueues": [{"metadata": {"name": "cq"}, "spec": {
                "admissionChecks": ["prov"],
                "resourceGroups": [{"coveredResources": ["cpu", "nvidia.com/gpu"], "flavors": [
                    {"name": "default", "resources": [{"name": "cpu", "nominalQuota": 1000},
                                                      {"name": "nvidia.com/gpu", "nominalQuota": 128}]}]}]}}],
            "localQueues": [{"metadata": {"name": "lq", "namespace": "ml"}, "spec": {"clusterQueue": "cq"}}],
            "admissionChecks": [{"metadata": {"name": "prov"}, "spec": {
                "controllerName": "kueue.x-k8s.io/provisioning-request",
                "parameters": {"apiGroup": "kueue.x-k8s.io", "kind": "ProvisioningRequestConfig",
                               "name": "cfg"}}}],
            "provisioningRequestConfigs": [{"metadata": {"name": "cfg"}, "spec": config}]},
        "workloads": workloads}
    if latencies:
        spec["latencies"] = latencies
    return {"apiVersion": "kubetwin.dev/v1alpha1", "kind": "Scenario", "metadata": {"name": "provreq"},
            "spec": spec}


def gang(name: str, at: str, pods: int = 4, duration: str = "1h") -> dict[str, Any]:
    return {"name": name, "namespace": "ml", "queue": "lq", "gang": {"policy": "kueue"}, "arrival": {"at": [at]},
            "replicas": pods, "duration": duration, "template": {"requests": GPU8}}


def plain(name: str, at: str, duration: str = "2h", count: int = 1) -> dict[str, Any]:
    return {"name": name, "namespace": "ml", "arrival": {"at": [at]}, "replicas": count, "duration": duration,
            "template": {"requests": GPU8}}


def run(tmp_path: Path, doc: dict[str, Any], until: float | None = None) -> list[Event]:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    simulate_to(path, tmp_path / "out", until=until)
    tl = read_timeline(tmp_path / "out" / "timeline.jsonl")
    assert not tl.problems
    return tl.events


PR_TYPES = ("QuotaReserved", "ProvisioningRequestCreated", "TriggeredScaleUp", "Provisioned", "NotProvisioned",
            "ProvisioningFailed", "AdmissionCheckUpdated", "Admitted", "Evicted", "Requeued")


def story(events: list[Event], *types: str) -> list[tuple[float, str, str]]:
    return [(e.t, e.type, e.name) for e in events if e.type in (types or PR_TYPES)]


def all_pass(events: list[Event]) -> None:
    failed = [(r.invariant.id, [f.message for f in r.findings]) for r in run_checks(events) if r.status == "failed"]
    assert failed == []


# ---------------------------------------------------------------------------- best-effort-atomic-scale-up


def test_atomic_gang_gets_all_four_nodes_in_one_scale_up(tmp_path: Path) -> None:
    # gpu-0 is taken by the filler until 2h, so all 4 workers need new nodes: 1 -> 5 at the tick t=20
    events = run(tmp_path, scenario(workloads=[plain("filler", "0s"), gang("train", "15s")]))
    assert story(events) == [
        (15.0, "QuotaReserved", "train-0"),
        (15.0, "ProvisioningRequestCreated", "train-0-prov-1"),
        (20.0, "TriggeredScaleUp", "train-0-prov-1"),
        (20.0, "Provisioned", "train-0-prov-1"),
        (20.0, "AdmissionCheckUpdated", "train-0"),
        (20.0, "Admitted", "train-0"),
    ]
    up = next(e for e in events if e.type == "TriggeredScaleUp")
    assert (up.kind, up.data, up.reason) == ("ProvisioningRequest", {"pool": "gpu", "from": 1, "to": 5},
                                             "pod triggered scale-up: [{gpu 1->5 (max: 5)}]")
    assert story(events, "NodeProvisioning") == [(20.0, "NodeProvisioning", f"gpu-{i}") for i in (1, 2, 3, 4)]
    created = next(e for e in events if e.type == "ProvisioningRequestCreated")
    assert created.data == {"workload": "train-0", "admissionCheck": "prov",
                            "provisioningClassName": BEST_EFFORT_ATOMIC, "attempt": 1,
                            "podSets": [{"name": "main", "count": 4, "requests": GPU8}]}
    assert created.group == "ml/train-0"
    ready = next(e for e in events if e.type == "AdmissionCheckUpdated")
    assert ready.data == {"admissionCheck": "prov", "from": "Pending", "to": "Ready",
                          "message": "Capacity is found in the cluster", "provisioningRequest": "train-0-prov-1"}
    # pods exist only once admitted; all four bind in one instant, when the nodes register (20 + 300)
    assert {e.t for e in events if e.type == "PodCreated" and e.name.startswith("train")} == {20.0}
    binds = [(e.t, e.node) for e in events if e.type == "Scheduled" and e.name.startswith("train")]
    assert binds == [(320.0, "gpu-1"), (320.0, "gpu-2"), (320.0, "gpu-3"), (320.0, "gpu-4")]
    all_pass(events)


def test_atomic_gang_that_cannot_get_all_its_nodes_gets_none(tmp_path: Path) -> None:
    # max 3: at most 2 new nodes, the gang needs 4 -> nothing grows; upstream answers Provisioned=False
    # (CapacityIsNotFound) and tries again after 60, 120, 240, 480, 600, 600 … s; the check stays Pending
    events = run(tmp_path, scenario(max_count=3, workloads=[plain("filler", "0s", "3h"), gang("train", "15s")]),
                 until=1800.0)
    assert story(events, "TriggeredScaleUp", "NodeProvisioning", "Admitted", "AdmissionCheckUpdated") == []
    assert [e.t for e in events if e.type == "NotProvisioned"] == [20.0, 80.0, 200.0, 440.0, 920.0, 1520.0]
    first = next(e for e in events if e.type == "NotProvisioned")
    assert first.reason == "CapacityIsNotFound"
    assert first.data == {"provisioningClassName": BEST_EFFORT_ATOMIC,
                          "message": "Capacity is not found, CA will try to find it later.", "retryAt": 80.0,
                          "nodeGroups": {"gpu": "max node group size reached"}}
    assert not [e for e in events if e.type == "PodCreated" and e.name.startswith("train")]
    all_pass(events)


def test_a_second_atomic_gang_gets_its_own_scale_up_not_the_first_ones_nodes(tmp_path: Path) -> None:
    # both requests are answered at t=20, in creation order: the first one's 4 new nodes are booked for it
    workloads = [plain("filler", "0s"), gang("a", "15s"), gang("b", "16s")]
    events = run(tmp_path, scenario(max_count=9, workloads=workloads))
    ups = [(e.t, e.name, e.data["from"], e.data["to"]) for e in events if e.type == "TriggeredScaleUp"]
    assert ups == [(20.0, "a-0-prov-1", 1, 5), (20.0, "b-0-prov-1", 5, 9)]
    assert [(e.t, e.name, e.data["nodes"]) for e in events if e.type == "Provisioned"] == [
        (20.0, "a-0-prov-1", ["gpu-1", "gpu-2", "gpu-3", "gpu-4"]),
        (20.0, "b-0-prov-1", ["gpu-5", "gpu-6", "gpu-7", "gpu-8"])]
    assert sorted({e.t for e in events if e.type == "Scheduled" and e.group}) == [320.0]
    all_pass(events)
    # with room for one gang only, the second is not given the first one's nodes: nothing grows for it
    events = run(tmp_path, scenario(max_count=5, workloads=workloads), until=600.0)
    assert [(e.t, e.name) for e in events if e.type == "TriggeredScaleUp"] == [(20.0, "a-0-prov-1")]
    refused = next(e for e in events if e.type == "NotProvisioned")
    assert (refused.t, refused.name, refused.data["nodeGroups"]) == (
        20.0, "b-0-prov-1", {"gpu": "max node group size reached"})
    assert "b-0" not in {e.name for e in events if e.type == "Admitted"}


def test_regular_pods_do_not_count_booked_upcoming_nodes_as_room(tmp_path: Path) -> None:
    # the gang's 4 upcoming nodes are booked for it: a plain pod pending at t=25 gets its own node at t=30
    doc = scenario(max_count=9, workloads=[plain("filler", "0s"), gang("train", "15s"), plain("solo", "25s")])
    events = run(tmp_path, doc)
    ups = [(e.t, e.kind, e.name, e.data["from"], e.data["to"]) for e in events if e.type == "TriggeredScaleUp"]
    assert ups == [(20.0, "ProvisioningRequest", "train-0-prov-1", 1, 5), (30.0, "Pod", "solo-0", 5, 6)]
    all_pass(events)


def test_booking_expires_ten_minutes_after_provisioned_when_pods_have_not_come(tmp_path: Path) -> None:
    # nodes take 12 minutes: Provisioned at 20, the booking lapses at the first tick past 20 + 600 (630)
    # with all 4 pods still missing; the workload was admitted already, so Kueue does not retry
    doc = scenario(workloads=[plain("filler", "0s"), gang("train", "15s")])
    doc["spec"]["cluster"]["nodePools"][0]["provisioningDelay"] = "12m"
    events = run(tmp_path, doc)
    expired = [(e.t, e.name, e.reason, e.data) for e in events if e.type == "BookingExpired"]
    assert expired == [(630.0, "train-0-prov-1", "CapacityReservationTimeExpired",
                        {"provisioningClassName": BEST_EFFORT_ATOMIC, "message": "Capacity reservation time is expired",
                         "missing": 4})]
    assert story(events, "Evicted", "Requeued") == []
    assert {e.t for e in events if e.type == "Scheduled" and e.name.startswith("train")} == {740.0}
    all_pass(events)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(workers=st.integers(1, 5), max_count=st.integers(1, 6), busy=st.booleans(),
       klass=st.sampled_from([BEST_EFFORT_ATOMIC, CHECK_CAPACITY]), gangs=st.integers(1, 3))
def test_random_gangs_keep_every_invariant(tmp_path: Path, workers: int, max_count: int, busy: bool, klass: str,
                                           gangs: int) -> None:
    loads = [plain("filler", "0s", "40m")] if busy else []
    loads += [gang(f"g{i}", f"{15 + 7 * i}s", pods=workers, duration="20m") for i in range(gangs)]
    events = run(tmp_path, scenario(max_count=max_count, klass=klass, workloads=loads), until=4 * 3600.0)
    all_pass(events)
    for e in events:
        if e.type == "TriggeredScaleUp" and e.kind == "ProvisioningRequest":
            assert e.data["to"] <= max_count
    # a Provisioned request had room for all its pods: every admitted gang gets all its workers bound
    admitted = {e.name for e in events if e.type == "Admitted"}
    for name in admitted:
        binds = [e.t for e in events if e.type == "Scheduled" and e.group == f"ml/{name}"]
        assert len(binds) == workers, (name, binds)


# ---------------------------------------------------------------------------------------- check-capacity


def test_check_capacity_with_room_books_the_nodes_and_admits(tmp_path: Path) -> None:
    events = run(tmp_path, scenario(max_count=None, count=4, klass=CHECK_CAPACITY, workloads=[gang("train", "15s")]))
    assert story(events) == [
        (15.0, "QuotaReserved", "train-0"),
        (15.0, "ProvisioningRequestCreated", "train-0-prov-1"),
        (20.0, "Provisioned", "train-0-prov-1"),
        (20.0, "AdmissionCheckUpdated", "train-0"),
        (20.0, "Admitted", "train-0"),
    ]
    prov = next(e for e in events if e.type == "Provisioned")
    assert prov.data["nodes"] == ["gpu-0", "gpu-1", "gpu-2", "gpu-3"]
    assert {e.t for e in events if e.type == "Scheduled"} == {20.0}
    all_pass(events)


def test_check_capacity_without_room_waits_for_capacity(tmp_path: Path) -> None:
    # the 4 nodes are busy until t=3600; answers at 20, then after 60,120,240,480,600… s: 80, 200, 440,
    # 920, 1520, 2120, 2720, 3320 (not found), 3920 (found)
    doc = scenario(max_count=None, count=4, klass=CHECK_CAPACITY,
                   workloads=[plain("filler", "0s", "1h", count=4), gang("train", "15s")])
    events = run(tmp_path, doc)
    assert [e.t for e in events if e.type == "NotProvisioned"] == [20.0, 80.0, 200.0, 440.0, 920.0, 1520.0,
                                                                   2120.0, 2720.0, 3320.0]
    assert story(events, "Provisioned", "Admitted") == [(3920.0, "Provisioned", "train-0-prov-1"),
                                                        (3920.0, "Admitted", "train-0")]
    all_pass(events)


def test_check_capacity_no_retry_fails_then_retries_then_rejects(tmp_path: Path) -> None:
    # noRetry: "true" makes CA answer Failed; Kueue retries attempt 1 (backoffLimitCount 1) after 30 s and
    # rejects attempt 2: the workload is deactivated
    doc = scenario(max_count=None, count=1, klass=CHECK_CAPACITY, parameters={"noRetry": "true"},
                   retry={"backoffLimitCount": 1, "backoffBaseSeconds": 30, "backoffMaxSeconds": 600},
                   workloads=[plain("filler", "0s", "3h"), gang("train", "15s")])
    events = run(tmp_path, doc)
    assert story(events) == [
        (15.0, "QuotaReserved", "train-0"),
        (15.0, "ProvisioningRequestCreated", "train-0-prov-1"),
        (20.0, "ProvisioningFailed", "train-0-prov-1"),
        (20.0, "AdmissionCheckUpdated", "train-0"),
        (20.0, "Evicted", "train-0"),
        (20.0, "Requeued", "train-0"),
        # requeued at 20 + 30 = 50, a tick: the new request is answered in that same tick
        (50.0, "QuotaReserved", "train-0"),
        (50.0, "ProvisioningRequestCreated", "train-0-prov-2"),
        (50.0, "ProvisioningFailed", "train-0-prov-2"),
        (50.0, "AdmissionCheckUpdated", "train-0"),
        (50.0, "Evicted", "train-0"),
    ]
    failed = [(e.t, e.name, e.reason, e.data["message"]) for e in events if e.type == "ProvisioningFailed"]
    assert failed == [(20.0, "train-0-prov-1", "CapacityIsNotFound", "CA could not find requested capacity"),
                      (50.0, "train-0-prov-2", "CapacityIsNotFound", "CA could not find requested capacity")]
    updates = [(e.data["from"], e.data["to"]) for e in events if e.type == "AdmissionCheckUpdated"]
    assert updates == [("Pending", "Retry"), ("Pending", "Rejected")]
    evicted = [(e.reason, e.data.get("message")) for e in events if e.type == "Evicted"]
    assert evicted == [("AdmissionCheck", "At least one admission check is false"),
                       ("Deactivated", "The workload is deactivated: admission check prov is Rejected: CA could not "
                                       "find requested capacity")]
    assert not [e for e in events if e.type == "Requeued" and e.t > 20.0]  # deactivated: never requeued
    requeued = next(e for e in events if e.type == "Requeued")
    assert requeued.data == {"backoffSeconds": 30.0, "requeueAt": 50.0}
    all_pass(events)


def test_a_second_gang_does_not_take_capacity_booked_for_the_first(tmp_path: Path) -> None:
    # pods come 2 minutes after admission (jobPodCreation): the 4 free nodes stay booked for train-0 in
    # between, so train-1's request (answered at t=30, then 90 and 210) finds no room
    doc = scenario(max_count=None, count=4, klass=CHECK_CAPACITY, latencies={"jobPodCreation": "2m"},
                   workloads=[gang("train", "15s"), gang("other", "25s", duration="30m")])
    doc["spec"]["workloads"][0]["arrival"] = {"at": ["15s"]}
    events = run(tmp_path, doc)
    assert story(events, "Provisioned", "NotProvisioned", "Admitted")[:5] == [
        (20.0, "Provisioned", "train-0-prov-1"),
        (20.0, "Admitted", "train-0"),
        (30.0, "NotProvisioned", "other-0-prov-1"),
        (90.0, "NotProvisioned", "other-0-prov-1"),
        (210.0, "NotProvisioned", "other-0-prov-1"),
    ]
    assert {e.t for e in events if e.type == "Scheduled" and e.name.startswith("train")} == {140.0}
    all_pass(events)


# ------------------------------------------------------------------------------------------ the scenario


def test_bundled_scenario_runs_and_validates(tmp_path: Path) -> None:
    simulate_to(ROOT / "scenarios" / "kueue-provisioning-request.yaml", tmp_path)
    tl = read_timeline(tmp_path / "timeline.jsonl")
    assert not tl.problems
    types = {e.type for e in tl.events}
    assert {"ProvisioningRequestCreated", "Provisioned", "NotProvisioned", "AdmissionCheckUpdated",
            "TriggeredScaleUp"} <= types
    all_pass(tl.events)


# ------------------------------------------------------------------------------------------------- input


def _build(tmp_path: Path, doc: dict[str, Any]) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    build(load_scenario(path))


def test_a_cluster_queue_naming_a_missing_admission_check_is_an_input_error(tmp_path: Path) -> None:
    doc = scenario(workloads=[gang("train", "15s")])
    doc["spec"]["kueue"]["clusterQueues"][0]["spec"]["admissionChecks"] = ["nope"]
    with pytest.raises(InputError) as e:
        _build(tmp_path, doc)
    assert e.value.field == "spec.kueue.clusterQueues[0].spec.admissionChecks[0]"
    assert "AdmissionCheck 'nope'" in str(e.value) and e.value.fix


def test_bad_admission_check_references_are_input_errors(tmp_path: Path) -> None:
    doc = scenario(workloads=[gang("train", "15s")])
    doc["spec"]["kueue"]["admissionChecks"][0]["spec"]["parameters"]["name"] = "missing"
    with pytest.raises(InputError) as e:
        _build(tmp_path, doc)
    assert e.value.field == "spec.kueue.admissionChecks[0].spec.parameters.name"
    doc = scenario(workloads=[gang("train", "15s")], klass="queued-provisioning.gke.io")
    with pytest.raises(InputError) as e:
        _build(tmp_path, doc)
    assert e.value.field == "spec.kueue.provisioningRequestConfigs[0].spec.provisioningClassName"
    doc = scenario(workloads=[gang("train", "15s")])
    doc["spec"]["kueue"]["admissionChecks"][0]["spec"]["controllerName"] = "example.com/other"
    with pytest.raises(InputError) as e:
        _build(tmp_path, doc)
    assert e.value.field == "spec.kueue.admissionChecks[0].spec.controllerName"
    doc = scenario(max_count=None, workloads=[gang("train", "15s")])
    del doc["spec"]["autoscaler"]
    with pytest.raises(InputError) as e:
        _build(tmp_path, doc)
    assert e.value.field == "spec.autoscaler"


def test_unmodelled_fields_warn_and_manifests_route(tmp_path: Path) -> None:
    manifest = tmp_path / "checks.yaml"
    manifest.write_text(yaml.safe_dump_all([
        {"apiVersion": "kueue.x-k8s.io/v1beta1", "kind": "AdmissionCheck", "metadata": {"name": "prov"},
         "spec": {"controllerName": "kueue.x-k8s.io/provisioning-request",
                  "parameters": {"apiGroup": "kueue.x-k8s.io", "kind": "ProvisioningRequestConfig", "name": "cfg"}}},
        {"apiVersion": "kueue.x-k8s.io/v1beta1", "kind": "ProvisioningRequestConfig", "metadata": {"name": "cfg"},
         "spec": {"provisioningClassName": CHECK_CAPACITY, "podSetMergePolicy": "IdenticalPodTemplates"}},
    ]), encoding="utf-8")
    doc = scenario(workloads=[gang("train", "15s")])
    del doc["spec"]["kueue"]["admissionChecks"]
    del doc["spec"]["kueue"]["provisioningRequestConfigs"]
    doc["spec"]["manifests"] = ["checks.yaml"]
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    bp = build(load_scenario(path))
    assert bp.kueue is not None and bp.kueue.provisioning_config("prov") is not None
    assert any("spec.podSetMergePolicy" in w and "not modelled" in w for w in bp.warnings)
    doc["spec"]["kueue"]["clusterQueues"][0]["spec"]["admissionChecks"] = ["missing"]
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    with pytest.raises(InputError) as e:
        build(load_scenario(path))
    assert e.value.field == "spec.kueue.clusterQueues[0].spec.admissionChecks[0]"


# --------------------------------------------------------------------------------------- the invariants


class PTL(TL):
    """The timeline builder with one generic event method (``ns/name`` keys, bare names: no namespace)."""

    def ev(self, t: float, type_: str, kind: str, key: str, **kw: Any) -> PTL:
        ns, _, name = key.rpartition("/")
        self.emit(t, type_, kind, name, ns or None, **kw)
        return self


def _reserved(tl: PTL, t: float, checks: list[str]) -> PTL:
    return tl.ev(t, "QuotaReserved", "Workload", "ml/w", group="ml/w",
                 data={"clusterQueue": "cq", "admissionChecks": checks})


def test_pr1_catches_admission_before_the_check_is_ready() -> None:
    tl = _reserved(PTL(), 1.0, ["prov"]).ev(2.0, "Admitted", "Workload", "ml/w", group="ml/w",
                                          data={"clusterQueue": "cq"})
    found = check("PR1", tl.events)
    assert [(f.t, f.message) for f in found] == [
        (2.0, "workload ml/w was admitted at t=2 before its admission check(s) prov went Ready")]
    ok = _reserved(PTL(), 1.0, ["prov"]).ev(
        2.0, "AdmissionCheckUpdated", "Workload", "ml/w", group="ml/w",
        data={"admissionCheck": "prov", "from": "Pending", "to": "Ready"}).ev(
        2.0, "Admitted", "Workload", "ml/w", group="ml/w", data={"clusterQueue": "cq"})
    assert check("PR1", ok.events) == []
    # a Ready of an earlier reservation does not count for the next one
    again = _reserved(ok, 3.0, ["prov"]).ev(4.0, "Admitted", "Workload", "ml/w", group="ml/w", data={})
    assert [f.t for f in check("PR1", again.events)] == [4.0]


def _atomic(tl: PTL) -> PTL:
    return tl.ev(1.0, "ProvisioningRequestCreated", "ProvisioningRequest", "ml/w-prov-1", group="ml/w",
                 data={"workload": "w", "admissionCheck": "prov", "provisioningClassName": BEST_EFFORT_ATOMIC,
                       "attempt": 1, "podSets": [{"name": "main", "count": 4, "requests": GPU8}]})


def _scale(tl: PTL, t: float, frm: int, to: int, nodes: int) -> PTL:
    tl = tl.ev(t, "TriggeredScaleUp", "ProvisioningRequest", "ml/w-prov-1", group="ml/w",
               data={"pool": "gpu", "from": frm, "to": to})
    for i in range(nodes):
        tl = tl.ev(t, "NodeProvisioning", "Node", f"gpu-{frm + i}", data={"pool": "gpu"})
    return tl


def test_pr2_catches_partial_and_repeated_atomic_scale_ups() -> None:
    good = _scale(_atomic(PTL()), 10.0, 1, 5, 4).ev(10.0, "Provisioned", "ProvisioningRequest", "ml/w-prov-1",
                                                   group="ml/w", data={})
    assert check("PR2", good.events) == []
    short = _scale(_atomic(PTL()), 10.0, 1, 5, 2).ev(10.0, "Provisioned", "ProvisioningRequest", "ml/w-prov-1",
                                                    group="ml/w", data={})
    assert [f.message for f in check("PR2", short.events)] == [
        "the scale-up of gpu at t=10 for ProvisioningRequest ml/w-prov-1 said 4 nodes but requested 2"]
    partial = _scale(_atomic(PTL()), 10.0, 1, 3, 2).ev(10.0, "NotProvisioned", "ProvisioningRequest", "ml/w-prov-1",
                                                      group="ml/w", data={})
    msgs = [f.message for f in check("PR2", partial.events)]
    assert msgs == ["ProvisioningRequest ml/w-prov-1 was scaled up for at t=10 but reported NotProvisioned at "
                    "t=10: a partial scale-up"]
    twice = _scale(_scale(_atomic(PTL()), 10.0, 1, 3, 2), 20.0, 3, 5, 2).ev(
        20.0, "Provisioned", "ProvisioningRequest", "ml/w-prov-1", group="ml/w", data={})
    assert [f.t for f in check("PR2", twice.events)] == [10.0, 20.0]
