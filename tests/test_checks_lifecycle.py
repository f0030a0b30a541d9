"""Pod lifecycle (``lifecycle``)."""

from __future__ import annotations

from timeline_builder import TL

from validator.checks import Finding, check


def _base() -> TL:
    return TL().node("n1", cpu="8")


def test_scheduled_before_created() -> None:
    tl = _base().bind("a/p", "n1", 2).pod("a/p", 3)
    assert check("lifecycle", tl.events)[0] == Finding(
        "lifecycle", ("Pod a/p",), 2.0, "pod a/p: Scheduled before PodCreated (t=2)")


def test_bound_twice() -> None:
    tl = _base().node("n2", cpu="8").pod("a/p", 1).bind("a/p", "n1", 2).bind("a/p", "n2", 3)
    assert check("lifecycle", tl.events) == [Finding(
        "lifecycle", ("Pod a/p", "Node n1"), 3.0,
        "pod a/p: bound twice: Scheduled to n2 while already bound to n1 (t=3)")]


def test_recreated_pod_is_a_new_life() -> None:
    tl = _base().pod("a/p", 1).bind("a/p", "n1", 2).running("a/p", 3).preempted("a/p", 4).deleted("a/p", 4)
    tl.pod("a/p", 5).bind("a/p", "n1", 6).running("a/p", 7).pod_failed("a/p", 8).deleted("a/p", 9)
    tl.pod("a/p", 10).bind("a/p", "n1", 11)
    assert check("lifecycle", tl.events) == []


def test_bound_to_a_node_that_never_was_ready() -> None:
    tl = _base().pod("a/p", 1).bind("a/p", "ghost", 2)
    assert check("lifecycle", tl.events) == [Finding(
        "lifecycle", ("Pod a/p", "Node ghost"), 2.0,
        "pod a/p: Scheduled to node ghost which is not Ready (never reported NodeReady) (t=2)")]


def test_bound_to_a_removed_node() -> None:
    tl = _base().pod("a/p", 1).node_removed("n1", 2).bind("a/p", "n1", 3)
    assert check("lifecycle", tl.events) == [Finding(
        "lifecycle", ("Pod a/p", "Node n1"), 3.0,
        "pod a/p: Scheduled to node n1 which is not Ready (removed at t=2) (t=3)")]


def test_bound_to_a_node_that_became_ready_later() -> None:
    tl = TL().pod("a/p", 1).bind("a/p", "n1", 2).node("n1", 3)
    assert [f.t for f in check("lifecycle", tl.events)] == [2.0]


def test_running_before_scheduled() -> None:
    tl = _base().pod("a/p", 1).running("a/p", 2, "n1").bind("a/p", "n1", 3)
    assert check("lifecycle", tl.events) == [Finding(
        "lifecycle", ("Pod a/p",), 2.0, "pod a/p: PodRunning before Scheduled (t=2)")]


def test_succeeded_twice_and_events_after_the_end() -> None:
    tl = _base().pod("a/p", 1).bind("a/p", "n1", 2).succeeded("a/p", 3).succeeded("a/p", 4)
    tl.running("a/p", 5).deleted("a/p", 6).running("a/p", 7)
    msgs = [f.message for f in check("lifecycle", tl.events)]
    assert msgs == [
        "pod a/p: PodSucceeded after PodSucceeded at t=3: a pod ends at most once per life (t=4)",
        "pod a/p: PodRunning after the pod finished (PodSucceeded at t=3) (t=5)",
        "pod a/p: PodRunning after the pod was deleted (PodDeleted at t=6) (t=7)",
    ]


def test_failed_before_scheduled_and_created_twice() -> None:
    tl = _base().pod("a/p", 1).pod_failed("a/p", 2).pod("a/q", 1).pod("a/q", 2)
    msgs = [f.message for f in check("lifecycle", tl.events)]
    assert msgs == ["pod a/p: PodFailed before Scheduled (t=2)",
                    "pod a/q: PodCreated again while its previous life is still going (no PodDeleted, "
                    "PodSucceeded, PodFailed or Preempted in between) (t=2)"]


def test_failed_scheduling_after_the_pod_is_gone() -> None:
    tl = _base().pod("a/p", 1).failed("a/p", 2).deleted("a/p", 3).failed("a/p", 4)
    assert [f.message for f in check("lifecycle", tl.events)] == [
        "pod a/p: FailedScheduling after the pod was deleted (PodDeleted at t=3) (t=4)"]


def test_preempting_an_equal_priority_pod_is_p1() -> None:
    tl = _base().pod("a/x", 1, priority=5).bind("a/x", "n1", 2)
    tl.pod("a/y", 3, priority=5).preempted("a/x", 3, by="a/y")
    [f] = check("P1", tl.events)
    assert (f.objects, f.t) == (("Pod a/x", "Pod a/y"), 3.0)
    assert f.message == ("pod a/x (priority 5) was preempted at t=3 by a/y (priority 5); DefaultPreemption "
                         "only evicts lower-priority pods")


def test_preempting_an_unbound_pod_is_p1() -> None:
    tl = _base().pod("a/x", 1).pod("a/y", 3, priority=9).preempted("a/x", 3, by="a/y")
    [f] = check("P1", tl.events)
    assert f.message == "pod a/x was preempted at t=3 while not bound"
