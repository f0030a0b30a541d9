"""Gang scheduling at the scheduler: G1 quorum, G2 early enqueue, G3 timeout release, G5 group reject."""

from __future__ import annotations

from timeline_builder import TL

from validator.checks import Finding, check, run_checks


def _gang(policy: str = "coscheduling", n: int = 4, timeout: float | None = 60, source: str = "sim") -> TL:
    tl = TL(source=source).node("n1", cpu="64").workload("ml/g", 0, policy=policy, min_count=n, pods=n,
                                                         timeout=timeout)
    for i in range(n):
        tl.pod(f"ml/g-{i}", 0, group="ml/g")
    return tl


def test_gang_bound_together_passes() -> None:
    tl = _gang()
    for i in range(4):
        tl.bind(f"ml/g-{i}", "n1", 5, group="ml/g")
    assert [r.status for r in run_checks(tl.events) if r.invariant.id in ("G1", "G2", "G3", "G5")] == \
        ["passed"] * 4


def test_gang_partly_bound_past_its_timeout_is_g1_and_g3() -> None:
    tl = _gang()
    tl.bind("ml/g-0", "n1", 10, group="ml/g").bind("ml/g-1", "n1", 10, group="ml/g")
    tl.run_finished(200)
    assert check("G1", tl.events) == [Finding(
        "G1", ("PodGroup ml/g", "Pod ml/g-0", "Pod ml/g-1"), 10.0,
        "gang ml/g bound 2 pod(s) at t=10 but only 2 of minCount 4 members were bound in that instant: "
        "ml/g-0, ml/g-1")]
    assert check("G3", tl.events) == [Finding(
        "G3", ("PodGroup ml/g", "Pod ml/g-0", "Pod ml/g-1"), 70.0,
        "gang ml/g stayed partly bound (2 of minCount 4) from t=10 past its 60 s timeout (t=70) with no "
        "GangTimedOut: ml/g-0, ml/g-1")]


def test_partly_bound_within_the_timeout_is_only_g1() -> None:
    tl = _gang()
    tl.bind("ml/g-0", "n1", 10, group="ml/g").bind("ml/g-1", "n1", 10, group="ml/g")
    tl.bind("ml/g-2", "n1", 30, group="ml/g").bind("ml/g-3", "n1", 30, group="ml/g")
    tl.run_finished(500)
    assert [f.t for f in check("G1", tl.events)] == [10.0]
    assert check("G3", tl.events) == []


def test_default_timeout_by_policy() -> None:
    tl = _gang(policy="workload-api", timeout=None)
    tl.bind("ml/g-0", "n1", 10, group="ml/g").run_finished(305)
    assert check("G3", tl.events) == []
    tl.run_finished(311)
    assert [f.t for f in check("G3", tl.events)] == [310.0]


def test_members_already_bound_count_toward_quorum() -> None:
    tl = _gang(n=2)
    tl.bind("ml/g-0", "n1", 5, group="ml/g").bind("ml/g-1", "n1", 5, group="ml/g")
    tl.pod_failed("ml/g-1", 20).deleted("ml/g-1", 21).pod("ml/g-1", 22, group="ml/g")
    tl.bind("ml/g-1", "n1", 23, group="ml/g")
    assert check("G1", tl.events) == []
    assert check("G2", tl.events) == []


def test_live_timelines_allow_a_bind_window() -> None:
    tl = _gang(source="live")
    for i, t in enumerate((10.0, 10.4, 11.2, 12.0)):
        tl.bind(f"ml/g-{i}", "n1", t, group="ml/g")
    assert check("G1", tl.events) == []
    tl2 = _gang(source="live")
    tl2.bind("ml/g-0", "n1", 10, group="ml/g").bind("ml/g-1", "n1", 16, group="ml/g")
    assert [f.t for f in check("G1", tl2.events)] == [10.0, 16.0]


def test_scheduled_before_the_workload_exists() -> None:
    tl = TL().node("n1", cpu="8").pod("ml/x-0", 0, group="ml/x").bind("ml/x-0", "n1", 1, group="ml/x")
    tl.workload("ml/x", 2, min_count=1)
    assert check("G2", tl.events) == [Finding(
        "G2", ("Workload ml/x", "Pod ml/x-0"), 1.0,
        "gang pod ml/x-0 Scheduled at t=1 before its group ml/x was created (no WorkloadCreated yet)")]


def test_scheduled_while_fewer_than_min_count_members_exist() -> None:
    tl = TL().node("n1", cpu="8").workload("ml/g", 0, min_count=3)
    tl.pod("ml/g-0", 1, group="ml/g").pod("ml/g-1", 1, group="ml/g")
    tl.bind("ml/g-0", "n1", 2, group="ml/g").bind("ml/g-1", "n1", 2, group="ml/g")
    tl.pod("ml/g-2", 3, group="ml/g").bind("ml/g-2", "n1", 3, group="ml/g")
    g2 = check("G2", tl.events)
    assert [(f.objects, f.t) for f in g2] == [
        (("PodGroup ml/g", "Pod ml/g-0"), 2.0), (("PodGroup ml/g", "Pod ml/g-1"), 2.0)]
    assert g2[0].message == ("gang pod ml/g-0 Scheduled at t=2 while only 2 of minCount 3 members of ml/g "
                             "existed")


def test_timeout_with_a_waiting_pod_bound() -> None:
    tl = _gang(n=2)
    tl.gang_timed_out("ml/g", 60, ["g-0", "g-1"]).failed("ml/g-0", 60).failed("ml/g-1", 60)
    tl.bind("ml/g-1", "n1", 60, group="ml/g")
    assert [f for f in check("G3", tl.events) if "instead of rejected" in f.message] == [Finding(
        "G3", ("PodGroup ml/g", "Pod ml/g-1"), 60.0,
        "pod ml/g-1 was waiting when gang ml/g timed out at t=60 but was bound at that instant instead "
        "of rejected")]


def test_timeout_naming_pods_that_are_already_bound() -> None:
    tl = _gang(n=2)
    tl.bind("ml/g-0", "n1", 10, group="ml/g")
    tl.gang_timed_out("ml/g", 70, ["g-0", "g-1"], since=10).failed("ml/g-0", 70).failed("ml/g-1", 70)
    assert Finding("G3", ("PodGroup ml/g", "Pod ml/g-0"), 70.0,
                   "gang ml/g timed out at t=70 naming 1 waiting pod(s) that were already bound: ml/g-0") \
        in check("G3", tl.events)


def test_coscheduling_timeout_must_reject_all_waiting_siblings() -> None:
    tl = _gang(n=3)
    tl.gang_timed_out("ml/g", 60, ["g-0", "g-1", "g-2"]).failed("ml/g-0", 60).failed("ml/g-2", 61)
    assert check("G5", tl.events) == [Finding(
        "G5", ("PodGroup ml/g", "Pod ml/g-1", "Pod ml/g-2"), 60.0,
        "gang ml/g timed out at t=60 but 2 waiting member(s) were not rejected (FailedScheduling) at that "
        "instant: ml/g-1, ml/g-2")]


def test_rejection_logged_just_before_the_timeout_event_counts() -> None:
    tl = _gang(n=2)
    tl.failed("ml/g-0", 60).failed("ml/g-1", 60).gang_timed_out("ml/g", 60, ["ml/g-0", "ml/g-1"])
    assert check("G5", tl.events) == []


def test_g5_applies_to_coscheduling_only() -> None:
    tl = _gang(policy="workload-api", n=2)
    tl.gang_timed_out("ml/g", 300, ["g-0", "g-1"])
    res = {r.invariant.id: r.status for r in run_checks(tl.events)}
    assert res["G5"] == "not-applicable"
    assert res["G1"] == "passed"


def test_kueue_workloads_are_not_checked_for_scheduler_quorum() -> None:
    tl = TL().node("n1", cpu="8").cluster_queue("cq", quotas={"f": {"cpu": "8"}})
    tl.kueue_workload("ml/k", 0, pods=2).reserve("ml/k", 1, f={"cpu": "2"}).admitted("ml/k", 1)
    tl.pod("ml/k-0", 1, group="ml/k").bind("ml/k-0", "n1", 2, group="ml/k")
    tl.pod("ml/k-1", 3, group="ml/k").bind("ml/k-1", "n1", 4, group="ml/k").run_finished(1000)
    assert [f for r in run_checks(tl.events) for f in r.findings] == []
