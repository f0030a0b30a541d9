"""G10 (Volcano session atomicity) and G8-volcano (gang-safe eviction) on hand-written timelines."""

from __future__ import annotations

from timeline_builder import TL

from validator.checks import check, run_checks

EVICT = "Pod is evicted, because of reclaim"


def volcano_job(tl: TL, key: str, t: float, pods: int, min_count: int, **extra: object) -> TL:
    tl.workload(key, t, policy="volcano", min_count=min_count, pods=pods, **extra)
    for i in range(pods):
        tl.pod(f"{key}-{i}", t, group=key, cpu="1")
    return tl


def base() -> TL:
    tl = TL().node("n1", cpu="8").node("n2", cpu="8")
    tl.emit(0.0, "VolcanoConfigured", "Scheduler", "volcano",
            data={"schedulePeriod": 1.0, "actions": ["enqueue", "allocate"], "overcommitFactor": 1.2, "queues": []})
    return tl


def test_whole_gang_in_one_session_passes() -> None:
    tl = volcano_job(base(), "v/j", 0, 3, 3)
    for i in range(3):
        tl.bind(f"v/j-{i}", "n1", 2, group="v/j")
    assert check("G10", tl.events) == []
    status = {r.invariant.id: r.status for r in run_checks(tl.events)}
    assert (status["G10"], status["G8-volcano"]) == ("passed", "passed")


def test_gang_split_across_sessions_is_caught() -> None:
    tl = volcano_job(base(), "v/j", 0, 3, 3)
    tl.bind("v/j-0", "n1", 2, group="v/j").bind("v/j-1", "n1", 2, group="v/j").bind("v/j-2", "n2", 3, group="v/j")
    found = check("G10", tl.events)
    assert [(f.t, f.message) for f in found] == [
        (2.0, "2 pods of Volcano job v/j bound at t=2 with 0 ready: 2 < minMember 3")]


def test_bind_off_the_session_grid_is_caught() -> None:
    tl = volcano_job(base(), "v/j", 0, 2, 2)
    tl.bind("v/j-0", "n1", 2.5, group="v/j").bind("v/j-1", "n1", 2.5, group="v/j")
    assert [f.message for f in check("G10", tl.events)] == [
        "Volcano job v/j bound at t=2.5, not at a session (every 1s)"]


def test_min_task_member_short_is_caught() -> None:
    tl = base()
    tl.workload("v/m", 0, policy="volcano", min_count=2, pods=3, minTaskMember={"master": 1, "worker": 1})
    tl.pod("v/m-0", 0, group="v/m", pod_set="master").pod("v/m-1", 0, group="v/m", pod_set="worker")
    tl.pod("v/m-2", 0, group="v/m", pod_set="worker")
    tl.bind("v/m-1", "n1", 1, group="v/m").bind("v/m-2", "n1", 1, group="v/m")
    assert [f.message for f in check("G10", tl.events)] == [
        "Volcano job v/m bound at t=1 short of minTaskMember: master 0/1"]


def test_elastic_pods_after_the_quorum_pass() -> None:
    tl = volcano_job(base(), "v/j", 0, 4, 2)
    tl.bind("v/j-0", "n1", 1, group="v/j").bind("v/j-1", "n1", 1, group="v/j").bind("v/j-2", "n2", 5, group="v/j")
    assert check("G10", tl.events) == []


def test_eviction_below_min_available_is_caught() -> None:
    tl = volcano_job(base(), "v/j", 0, 3, 2)
    for i in range(3):
        tl.bind(f"v/j-{i}", "n1", 1, group="v/j")
    tl.deleted("v/j-0", 9, group="v/j", reason=EVICT)   # 3 -> 2: allowed
    tl.deleted("v/j-1", 9, group="v/j", reason=EVICT)   # 2 -> 1: below minMember 2
    found = check("G8-volcano", tl.events)
    assert [(f.t, f.message) for f in found] == [
        (9.0, "Volcano evicted v/j-1 (reclaim), leaving job v/j with 1 ready pods, below minMember 2")]


def test_other_deletions_are_not_volcano_evictions() -> None:
    tl = volcano_job(base(), "v/j", 0, 2, 2)
    tl.bind("v/j-0", "n1", 1, group="v/j").bind("v/j-1", "n1", 1, group="v/j")
    tl.deleted("v/j-0", 9, group="v/j", reason="Evicted by kubectl drain")
    assert check("G8-volcano", tl.events) == []


def test_not_applicable_without_volcano() -> None:
    tl = TL().node("n1", cpu="8")
    status = {r.invariant.id: r.status for r in run_checks(tl.events)}
    assert (status["G10"], status["G8-volcano"]) == ("not-applicable", "not-applicable")
