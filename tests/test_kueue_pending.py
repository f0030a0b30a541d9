"""Why a Kueue workload waits (issue 14 item 3): the core reports, per workload that stays pending, Kueue's
inadmissible message (which pod set, which resource, which flavor) in ``CycleResult.pending_events``, and
again only when that message changes (or after the workload was admitted in between)."""

from __future__ import annotations

from typing import Any

from models.kueue import KueueSection
from sim.kueue import KueueCore, Pending, PodSetRequest, QueuedWorkload


def core(quotas: dict[str, dict[str, int]], *, strategy: str = "BestEffortFIFO",
         flavors: list[dict[str, Any]] | None = None) -> KueueCore:
    """One ClusterQueue ``q`` (namespace ``ns``) with one resource group; quotas in whole units."""
    covered = sorted({r for per in quotas.values() for r in per})
    cq = {"metadata": {"name": "q"}, "spec": {
        "queueingStrategy": strategy,
        "resourceGroups": [{"coveredResources": covered, "flavors": [
            {"name": f, "resources": [{"name": r, "nominalQuota": n} for r, n in per.items()]}
            for f, per in quotas.items()]}]}}
    section = KueueSection.model_validate({
        "resourceFlavors": flavors or [{"metadata": {"name": f}} for f in quotas],
        "clusterQueues": [cq],
        "localQueues": [{"metadata": {"name": "q", "namespace": "ns"}, "spec": {"clusterQueue": "q"}}]})
    return KueueCore.from_section(section)


def wl(name: str, t: float, *, queue: str = "q", priority: int = 0, cpu: int = 0, gpu: int = 0,
       pod_sets: list[PodSetRequest] | None = None) -> QueuedWorkload:
    """A workload with one pod of pod set ``main`` asking for ``cpu`` / ``gpu`` whole units."""
    milli = {r: v * 1000 for r, v in (("cpu", cpu), ("nvidia.com/gpu", gpu)) if v}
    return QueuedWorkload(f"ns/{name}", queue, priority, t, pod_sets or [PodSetRequest("main", 1, milli)])


def events(k: KueueCore, now: float) -> list[tuple[str, str, str]]:
    return [(p.workload, p.reason, p.message) for p in k.run_cycles(now).pending_events]


def test_resource_the_cluster_queue_does_not_cover() -> None:
    k = core({"default": {"cpu": 8}})
    k.submit(wl("gpu-job", 0, cpu=1, gpu=1), 0)
    assert events(k, 0) == [("ns/gpu-job", "NoMatchingFlavor", "couldn't assign flavors to pod set main: "
                             "resource nvidia.com/gpu unavailable in ClusterQueue")]
    # quota released in the ClusterQueue: it is tried again, fails the same way, and is not reported again
    k.submit(wl("other", 1, cpu=2), 1)
    assert [a.workload for a in k.run_cycles(1).admissions] == ["ns/other"]
    k.finish("ns/other", 2)
    r = k.run_cycles(2)
    assert [p.workload for p in r.pending] == ["ns/gpu-job"]
    assert r.pending_events == []


def test_request_above_maximum_capacity_names_flavor_and_numbers() -> None:
    k = core({"h100": {"nvidia.com/gpu": 8}})
    k.submit(wl("train", 0, gpu=16), 0)
    assert events(k, 0) == [("ns/train", "WaitingForQuota",
                             "couldn't assign flavors to pod set main: insufficient quota for nvidia.com/gpu in "
                             "flavor h100, previously considered podsets requests (0) + current podset request "
                             "(16) > maximum capacity (8)")]
    k.submit(wl("small", 1, gpu=2), 1)
    assert events(k, 1) == []  # small is admitted; train is parked, not retried
    k.finish("ns/small", 2)
    assert events(k, 2) == []  # retried, same message: no new report


def test_the_pod_set_that_does_not_fit_is_named() -> None:
    k = core({"default": {"cpu": 10}})
    k.submit(wl("jobset", 0, pod_sets=[PodSetRequest("leader", 1, {"cpu": 2000}),
                                       PodSetRequest("workers", 5, {"cpu": 2000})]), 0)
    assert events(k, 0) == [("ns/jobset", "WaitingForQuota",
                             "couldn't assign flavors to pod set workers: insufficient quota for cpu in flavor "
                             "default, previously considered podsets requests (2) + current podset request (10) "
                             "> maximum capacity (10)")]


def test_flavor_skipped_for_an_untolerated_taint() -> None:
    flavors = [{"metadata": {"name": "reserved"},
                "spec": {"nodeTaints": [{"key": "reserved", "value": "true", "effect": "NoSchedule"}]}}]
    k = core({"reserved": {"cpu": 8}}, flavors=flavors)
    k.submit(wl("w", 0, cpu=1), 0)
    assert events(k, 0) == [("ns/w", "NoMatchingFlavor", "couldn't assign flavors to pod set main: "
                             "untolerated taint {reserved=true:NoSchedule} in flavor reserved")]


def test_reported_again_when_the_message_changes_and_after_an_admission() -> None:
    k = core({"f": {"cpu": 10}})
    k.submit(wl("a", 0, cpu=4), 0)
    k.submit(wl("b", 0, cpu=4), 0)
    k.submit(wl("big", 1, cpu=8), 1)
    prefix = "couldn't assign flavors to pod set main: insufficient unused quota for cpu in flavor f, "
    assert events(k, 1) == [("ns/big", "WaitingForQuota", prefix + "6 more needed")]
    k.finish("ns/a", 2)
    assert events(k, 2) == [("ns/big", "WaitingForQuota", prefix + "2 more needed")]
    k.finish("ns/b", 3)
    r = k.run_cycles(3)
    assert [a.workload for a in r.admissions] == ["ns/big"] and r.pending_events == []
    # evicted and back in the queue behind a higher-priority filler: the same message as before its
    # admission is a new report (the Workload's QuotaReserved condition was True in between)
    k.evict("ns/big", 4, "Other")
    k.submit(wl("filler", 4, cpu=4, priority=10), 4)
    r = k.run_cycles(4)
    assert [a.workload for a in r.admissions] == ["ns/filler"]
    assert r.pending_events == [Pending("ns/big", "q", "WaitingForQuota", prefix + "2 more needed")]


def test_strict_fifo_head_retried_every_cycle_is_reported_once() -> None:
    k = core({"f": {"cpu": 10}}, strategy="StrictFIFO")
    k.submit(wl("running", 0, cpu=6), 0)
    k.submit(wl("big", 1, cpu=8), 1)
    r = k.run_cycles(1)
    assert [p.workload for p in r.pending_events] == ["ns/big"]
    for t in (2, 3, 4):
        again = k.schedule(t)
        assert [p.workload for p in again.pending] == ["ns/big"]  # tried (and blocking) every cycle
        assert again.pending_events == []


def test_missing_local_queue_is_reported_by_the_next_cycle() -> None:
    k = core({"f": {"cpu": 10}})
    k.submit(wl("lost", 0, queue="nope", cpu=1), 0)
    r = k.run_cycles(0)
    assert r.pending_events == [Pending("ns/lost", "", "Inadmissible", "LocalQueue nope doesn't exist")]
    assert r.pending == []
    assert k.run_cycles(1).pending_events == []


def test_pending_events_stay_out_of_the_repr() -> None:
    k = core({"f": {"cpu": 1}})
    k.submit(wl("w", 0, cpu=2), 0)
    r = k.run_cycles(0)
    assert len(r.pending_events) == 1 and "pending_events" not in repr(r)
