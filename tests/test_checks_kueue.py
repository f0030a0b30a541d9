"""Kueue: G6 quota all-or-nothing, G7 waitForPodsReady, G8 whole-workload eviction."""

from __future__ import annotations

from typing import Any

from timeline_builder import TL

from validator.checks import Finding, check, run_checks
from validator.checks.kueue import backoff_seconds


def _cohort(**header: Any) -> TL:
    tl = TL(**header).node("n1", cpu="64", nvidia__com_gpu="64")
    tl.cluster_queue("cq-a", cohort="ai", quotas={"h100": {"nvidia.com/gpu": "8"}})
    tl.cluster_queue("cq-b", cohort="ai", quotas={"h100": {"nvidia.com/gpu": "8"}})
    return tl


def _admit(tl: TL, wl: str, t: float, cq: str, gpus: str, pods: int = 0) -> TL:
    tl.kueue_workload(wl, t, pods=max(pods, 1), cq=cq)
    tl.reserve(wl, t, cq=cq, h100={"nvidia.com/gpu": gpus}).admitted(wl, t, cq=cq)
    for i in range(pods):
        tl.pod(f"{wl}-{i}", t, group=wl, nvidia__com_gpu="1")
    return tl


def test_borrowing_within_the_cohort_passes() -> None:
    tl = _admit(_cohort(), "a/w1", 1, "cq-a", "12")
    _admit(tl, "b/w2", 2, "cq-b", "4")
    assert check("G6", tl.events) == []


def test_quota_overrun_in_a_cohort() -> None:
    tl = _admit(_cohort(), "a/w1", 1, "cq-a", "12")
    _admit(tl, "b/w2", 2, "cq-b", "8")
    assert check("G6", tl.events) == [Finding(
        "G6", ("Workload b/w2", "Cohort ai"), 2.0,
        "reserving quota for b/w2 in ClusterQueue cq-b puts cohort ai flavor h100 nvidia.com/gpu usage at "
        "20 > 16, the quota its ClusterQueues (cq-a, cq-b) lend to it")]


def test_quota_released_by_eviction_and_finish() -> None:
    tl = _admit(_cohort(), "a/w1", 1, "cq-a", "12")
    tl.evicted("a/w1", 2, cq="cq-a")
    _admit(tl, "b/w2", 3, "cq-b", "16")
    tl.finished("b/w2", 4)
    _admit(tl, "a/w3", 5, "cq-a", "16")
    assert check("G6", tl.events) == []


def test_borrowing_limit_of_a_cluster_queue() -> None:
    tl = TL().cluster_queue("cq-a", cohort="ai", quotas={"h100": {"nvidia.com/gpu": ("8", "2", None)}})
    tl.cluster_queue("cq-b", cohort="ai", quotas={"h100": {"nvidia.com/gpu": "8"}})
    _admit(tl, "a/w1", 1, "cq-a", "11")
    assert check("G6", tl.events) == [Finding(
        "G6", ("Workload a/w1", "ClusterQueue cq-a"), 1.0,
        "reserving quota for a/w1 puts ClusterQueue cq-a flavor h100 nvidia.com/gpu usage at 11 > "
        "nominalQuota 8 + borrowingLimit 2")]


def test_no_cohort_means_no_borrowing() -> None:
    tl = TL().cluster_queue("solo", quotas={"h100": {"nvidia.com/gpu": "8"}})
    _admit(tl, "a/w1", 1, "solo", "9")
    assert [f.message for f in check("G6", tl.events)] == [
        "reserving quota for a/w1 puts ClusterQueue solo flavor h100 nvidia.com/gpu usage at 9 > "
        "nominalQuota 8"]


def test_lending_limit_caps_what_a_queue_lends() -> None:
    tl = TL().cluster_queue("cq-a", cohort="ai", quotas={"h100": {"nvidia.com/gpu": "8"}})
    tl.cluster_queue("cq-b", cohort="ai", quotas={"h100": {"nvidia.com/gpu": ("8", None, "2")}})
    _admit(tl, "a/w1", 1, "cq-a", "10")
    assert check("G6", tl.events) == []
    _admit(tl, "a/w2", 2, "cq-a", "1")
    f = check("G6", tl.events)
    assert [(x.objects, x.t) for x in f] == [(("Workload a/w2", "Cohort ai"), 2.0)]
    assert "usage at 11 > 10" in f[0].message


def test_pods_started_before_admission() -> None:
    tl = _cohort().kueue_workload("a/w", 1, pods=1, cq="cq-a")
    tl.pod("a/w-0", 2, group="a/w").bind("a/w-0", "n1", 3, group="a/w").running("a/w-0", 4, group="a/w")
    tl.reserve("a/w", 5, cq="cq-a", h100={"nvidia.com/gpu": "1"}).admitted("a/w", 5, cq="cq-a")
    assert check("G6", tl.events) == [
        Finding("G6", ("Workload a/w", "Pod a/w-0"), 2.0,
                "pod a/w-0 of Kueue workload a/w created at t=2 while the workload is not admitted"),
        Finding("G6", ("Workload a/w", "Pod a/w-0"), 3.0,
                "pod a/w-0 of Kueue workload a/w scheduled at t=3 while the workload is not admitted"),
    ]
    assert check("G8", tl.events) == [
        Finding("G8", ("Workload a/w", "Pod a/w-0"), 4.0,
                "pod a/w-0 of Kueue workload a/w running at t=4 while the workload is not admitted")]


def test_admitted_without_quota_reservation() -> None:
    tl = _cohort().kueue_workload("a/w", 1, cq="cq-a").admitted("a/w", 2, cq="cq-a")
    assert [f.message for f in check("G6", tl.events)] == [
        "workload a/w admitted at t=2 without holding a quota reservation"]


def test_eviction_that_left_pods_running() -> None:
    tl = _admit(_cohort(), "a/w", 1, "cq-a", "3", pods=3)
    for i in range(3):
        tl.bind(f"a/w-{i}", "n1", 2, group="a/w").running(f"a/w-{i}", 3, group="a/w")
    tl.pods_ready("a/w", 3).evicted("a/w", 50, cq="cq-a").deleted("a/w-0", 50, group="a/w")
    tl.deleted("a/w-1", 52, group="a/w")
    assert check("G8", tl.events) == [Finding(
        "G8", ("Workload a/w", "Pod a/w-1", "Pod a/w-2"), 50.0,
        "workload a/w was evicted at t=50 but 2 of its pods were not deleted at that instant: a/w-1, a/w-2")]


def test_whole_eviction_passes_and_finished_pods_need_no_deletion() -> None:
    tl = _admit(_cohort(), "a/w", 1, "cq-a", "2", pods=2)
    tl.bind("a/w-0", "n1", 2, group="a/w").bind("a/w-1", "n1", 2, group="a/w").pods_ready("a/w", 3)
    tl.succeeded("a/w-0", 9).evicted("a/w", 10, cq="cq-a").preempted("a/w-1", 10)
    assert check("G8", tl.events) == []


def test_pods_ready_timeout_not_enforced() -> None:
    tl = _admit(_cohort(), "a/w", 10, "cq-a", "1")
    tl.run_finished(2000)
    assert check("G7", tl.events) == [Finding(
        "G7", ("Workload a/w",), 1810.0,
        "workload a/w admitted at t=10 had no PodsReady by t=1810 (timeout 1800 s) and was not evicted "
        "with reason PodsReadyTimeout")]


def test_pods_ready_timeout_from_the_header_and_tolerance() -> None:
    tl = _admit(_cohort(waitForPodsReady={"timeoutSeconds": 300}), "a/w", 10, "cq-a", "1")
    tl.evicted("a/w", 310.8, reason="PodsReadyTimeout", cq="cq-a")
    tl.run_finished(400)
    assert check("G7", tl.events) == []


def test_pods_ready_timeout_enforced_early() -> None:
    tl = _admit(_cohort(waitForPodsReady={"timeoutSeconds": 300}), "a/w", 10, "cq-a", "1")
    tl.evicted("a/w", 200, reason="PodsReadyTimeout", cq="cq-a")
    assert [f.message for f in check("G7", tl.events)] == [
        "workload a/w admitted at t=10 was evicted for PodsReadyTimeout at t=200, not at t=310 "
        "(timeout 300 s ± 1 s)"]


def test_requeue_before_backoff() -> None:
    tl = _admit(_cohort(waitForPodsReady={"timeoutSeconds": 300}), "a/w", 0, "cq-a", "1")
    tl.evicted("a/w", 300, reason="PodsReadyTimeout", cq="cq-a")
    tl.reserve("a/w", 360, cq="cq-a", h100={"nvidia.com/gpu": "1"}).admitted("a/w", 360, cq="cq-a")
    tl.evicted("a/w", 660, reason="PodsReadyTimeout", cq="cq-a")
    tl.reserve("a/w", 750, cq="cq-a", h100={"nvidia.com/gpu": "1"})
    assert check("G7", tl.events) == [Finding(
        "G7", ("Workload a/w",), 750.0,
        "workload a/w reserved quota again at t=750, 90 s after its PodsReadyTimeout eviction at t=660; "
        "backoff #2 is 120 s (not before t=780)")]


def test_backoff_doubles_and_caps() -> None:
    assert [backoff_seconds(n, 60, 3600) for n in (1, 2, 3, 6, 7, 20)] == [60, 120, 240, 1920, 3600, 3600]


def test_block_admission() -> None:
    tl = _admit(_cohort(waitForPodsReady={"blockAdmission": True}), "a/w1", 1, "cq-a", "1")
    _admit(tl, "b/w2", 2, "cq-b", "1")
    tl.pods_ready("a/w1", 3).pods_ready("b/w2", 3)
    _admit(tl, "a/w3", 4, "cq-a", "1")
    assert check("G7", tl.events) == [Finding(
        "G7", ("Workload b/w2", "Workload a/w1"), 2.0,
        "workload b/w2 admitted at t=2 while a/w1 waited for PodsReady (blockAdmission)")]


def test_wait_for_pods_ready_disabled_in_the_header() -> None:
    tl = _admit(_cohort(waitForPodsReady={"enabled": False}), "a/w", 10, "cq-a", "1").run_finished(5000)
    assert {r.invariant.id: r.status for r in run_checks(tl.events)}["G7"] == "not-applicable"


def test_no_kueue_workloads_means_not_applicable() -> None:
    tl = TL().node("n1", cpu="1").pod("p", 0).bind("p", "n1", 1)
    res = {r.invariant.id: r.status for r in run_checks(tl.events)}
    assert (res["G6"], res["G7"], res["G8"], res["G9"]) == ("not-applicable",) * 4


def test_second_reservation_without_release() -> None:
    tl = _admit(_cohort(), "a/w", 1, "cq-a", "2")
    tl.reserve("a/w", 5, cq="cq-a", h100={"nvidia.com/gpu": "2"})
    assert check("G6", tl.events) == [Finding(
        "G6", ("Workload a/w", "ClusterQueue cq-a"), 5.0,
        "workload a/w reserved quota again at t=5 while still holding the reservation of t=1 (no Evicted or "
        "WorkloadFinished between)")]
