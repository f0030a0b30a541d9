"""Live recordings: one-second timestamps, separate watches, objects that pre-date the recording."""

from __future__ import annotations

from timeline_builder import TL

from validator.checks import check


def _kueue(source: str) -> TL:
    tl = TL(source=source).node("n1", cpu="8").cluster_queue("cq", quotas={"f": {"cpu": "8"}})
    return tl.kueue_workload("a/w", 0, pods=1).reserve("a/w", 10, f={"cpu": "1"})


def test_pod_a_tick_before_admitted_is_accepted_live_but_not_in_sim() -> None:
    for source, expected in (("live", []), ("sim", [10.0])):
        tl = _kueue(source).pod("a/w-0", 10, group="a/w").admitted("a/w", 10)
        assert [f.t for f in check("G6", tl.events)] == expected, source


def test_pod_well_before_admission_is_flagged_live() -> None:
    tl = _kueue("live").pod("a/w-0", 5, group="a/w").admitted("a/w", 10)
    assert [(f.objects, f.t) for f in check("G6", tl.events)] == [(("Workload a/w", "Pod a/w-0"), 5.0)]
    tl2 = _kueue("live").pod("a/w-0", 5, group="a/w").run_finished(20)       # never admitted
    assert [f.t for f in check("G6", tl2.events)] == [5.0]


def test_evicted_pods_may_take_their_grace_period_live() -> None:
    tl = _kueue("live").admitted("a/w", 10).pod("a/w-0", 11, group="a/w").bind("a/w-0", "n1", 12)
    tl.pods_ready("a/w", 13).evicted("a/w", 50).deleted("a/w-0", 80, group="a/w")
    assert check("G8", tl.events) == []
    tl2 = _kueue("live").admitted("a/w", 10).pod("a/w-0", 11, group="a/w").bind("a/w-0", "n1", 12)
    tl2.pods_ready("a/w", 13).evicted("a/w", 50).deleted("a/w-0", 200, group="a/w")
    assert [f.t for f in check("G8", tl2.events)] == [50.0]


def test_preexisting_partial_gang_is_not_judged() -> None:
    tl = TL(source="live").node("n1", cpu="8").workload("ml/g", 0, min_count=4)
    for i in range(3):
        tl.pod(f"ml/g-{i}", 0, group="ml/g")
        tl.emit(0, "Scheduled", "Pod", f"g-{i}", "ml", node="n1", group="ml/g", data={"preexisting": True})
    tl.pod("ml/g-3", 30, group="ml/g").bind("ml/g-3", "n1", 31, group="ml/g").run_finished(500)
    assert check("G1", tl.events) == []
    assert check("G2", tl.events) == []
    assert check("G3", tl.events) == []


def test_preexisting_admission_is_only_checked_for_a_late_timeout() -> None:
    tl = TL(source="live", waitForPodsReady={"timeoutSeconds": 300})
    tl.cluster_queue("cq", quotas={"f": {"cpu": "8"}})
    tl.kueue_workload("a/w", 0, pods=1).reserve("a/w", 0, f={"cpu": "1"})
    tl.emit(0, "Admitted", "Workload", "w", "a", group="a/w",
            data={"clusterQueue": "cq", "preexisting": True})
    tl.evicted("a/w", 120, reason="PodsReadyTimeout")
    assert check("G7", tl.events) == []
