"""kubectl cordon and drain as scripted actions: NodeUnschedulable keeps new pods off a cordoned node
(FitError "node(s) were unschedulable"), the node keeps its pods; drain evicts them and their owners
recreate them elsewhere."""

from __future__ import annotations

from pathlib import Path

from test_engine import pool, scenario, simulate, wl

CPU4 = {"cpu": "4", "memory": "8Gi"}


def test_cordon_keeps_new_pods_off_and_existing_pods_on(tmp_path: Path) -> None:
    sc = scenario([pool("n", CPU4, count=2)], [wl("early", {"cpu": "1"}, duration="2h"),
                                                wl("late", {"cpu": "3"}, at=["20m", "20m"], duration="1h")],
                  actions=[{"at": "10m", "cordon": {"node": "n-0"}}], duration="3h")
    r = simulate(tmp_path, sc)
    assert r.node_of("early-0") == "n-0"
    cordoned = r.one("NodeNotSchedulable")
    assert (cordoned.name, cordoned.t, cordoned.data) == ("n-0", 600.0, {"pool": "n"})
    assert r.of("PodDeleted") == [] and r.one("PodSucceeded", "early-0").node == "n-0"   # it stays
    # the late pods cannot use n-0: one fits on n-1, the other waits for it
    assert (r.node_of("late-0"), r.scheduled_at("late-0")) == ("n-1", 1200.0)
    assert r.fail_msg("late-1") == "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) were unschedulable."
    assert (r.node_of("late-1"), r.scheduled_at("late-1")) == ("n-1", 4800.0)


def test_drain_evicts_and_owners_recreate_elsewhere(tmp_path: Path) -> None:
    sc = scenario([pool("n", CPU4, count=2)], [wl("web", {"cpu": "1"}, at=["0s", "0s"], duration="2h")],
                  actions=[{"at": "30m", "drain": {"node": "n-0"}}], duration="3h")
    r = simulate(tmp_path, sc)
    # LeastAllocated spreads them: web-0 on n-0, web-1 on n-1
    assert (r.node_of("web-0"), r.node_of("web-1")) == ("n-0", "n-1")
    deleted = r.of("PodDeleted")
    assert [(e.name, e.t, e.node, e.reason) for e in deleted] == [("web-0", 1800.0, "n-0", "Evicted by kubectl drain")]
    assert (r.node_of("web-0-p1"), r.scheduled_at("web-0-p1")) == ("n-1", 1800.0)   # recreated, not on n-0
    assert r.one("PodSucceeded", "web-1").node == "n-1"
