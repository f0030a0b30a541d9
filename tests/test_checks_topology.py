"""Topology-aware scheduling (G9)."""

from __future__ import annotations

from typing import Any

from timeline_builder import TL

from validator.checks import Finding, check, run_checks


def _cluster() -> TL:
    tl = TL()
    for name, rack in (("n1", "r1"), ("n2", "r1"), ("n3", "r2"), ("n4", None)):
        tl.node(name, cpu="8", labels={"rack": rack} if rack else {})
    return tl.cluster_queue("cq", quotas={"f": {"cpu": "100"}})


def _wl(tl: TL, **extra: Any) -> TL:
    tl.kueue_workload("ml/t", 0, pods=3, **extra).reserve("ml/t", 0, f={"cpu": "3"}).admitted("ml/t", 0)
    for i in range(3):
        tl.pod(f"ml/t-{i}", 0, group="ml/t", pod_set="workers")
    return tl


def test_one_domain_passes() -> None:
    tl = _wl(_cluster(), topology={"level": "rack", "mode": "required"})
    tl.bind("ml/t-0", "n1", 1, group="ml/t").bind("ml/t-1", "n2", 1, group="ml/t")
    tl.bind("ml/t-2", "n1", 1, group="ml/t")
    assert check("G9", tl.events) == []
    assert {r.invariant.id: r.status for r in run_checks(tl.events)}["G9"] == "passed"


def test_topology_split() -> None:
    tl = _wl(_cluster(), topology={"level": "rack", "mode": "required"})
    tl.bind("ml/t-0", "n1", 1, group="ml/t").bind("ml/t-1", "n3", 1, group="ml/t")
    assert check("G9", tl.events) == [Finding(
        "G9", ("Workload ml/t", "Pod ml/t-1", "Node n3"), 1.0,
        "pod set workers of ml/t requires one rack domain, but pod ml/t-1 was bound at t=1 to node n3 "
        "(rack=r2) while its siblings are bound 1 in rack=r1 (ml/t-0)")]


def test_node_without_the_label() -> None:
    tl = _wl(_cluster(), topology={"level": "rack", "mode": "required"})
    tl.bind("ml/t-0", "n4", 1, group="ml/t")
    assert [f.message for f in check("G9", tl.events)] == [
        "pod set workers of ml/t requires one rack domain, but pod ml/t-0 was bound at t=1 to node n4 "
        "(no rack label)"]


def test_per_pod_set_topology_and_preferred_mode_is_not_checked() -> None:
    tl = _wl(_cluster(), podSets=[{"name": "workers", "count": 3,
                                   "topology": {"level": "rack", "mode": "preferred"}}])
    tl.bind("ml/t-0", "n1", 1, group="ml/t").bind("ml/t-1", "n3", 1, group="ml/t")
    assert check("G9", tl.events) == []
    tl2 = _wl(_cluster(), podSets=[{"name": "workers", "count": 3, "topology": {"level": "rack"}}])
    tl2.bind("ml/t-0", "n1", 1, group="ml/t").bind("ml/t-1", "n3", 1, group="ml/t")
    assert len(check("G9", tl2.events)) == 1


def test_readmission_may_move_to_another_domain() -> None:
    tl = _wl(_cluster(), topology={"level": "rack", "mode": "required"})
    tl.bind("ml/t-0", "n1", 1, group="ml/t").evicted("ml/t", 5).deleted("ml/t-0", 5, group="ml/t")
    tl.deleted("ml/t-1", 5, group="ml/t").deleted("ml/t-2", 5, group="ml/t")
    tl.reserve("ml/t", 70, f={"cpu": "3"}).admitted("ml/t", 70)
    tl.pod("ml/t-0", 70, group="ml/t", pod_set="workers").bind("ml/t-0", "n3", 71, group="ml/t")
    assert [f for r in run_checks(tl.events) for f in r.findings] == []
