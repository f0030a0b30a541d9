"""Node capacity (``capacity``) and its gang view (``G4``)."""

from __future__ import annotations

from timeline_builder import TL, valid_timeline

from validator.checks import Finding, check, run_checks


def test_valid_timeline_passes_every_invariant() -> None:
    results = run_checks(valid_timeline().events)
    assert {r.invariant.id: r.status for r in results} == {
        i: "passed" for i in ("capacity", "lifecycle", "G1", "G2", "G3", "G4", "G5", "G6", "G7", "G8", "G9",
                              "P1", "placement", "CA1", "CA2", "CA3", "CA4", "CA5", "PR1", "PR2", "H1", "H2", "H3",
                              "G8-volcano", "G10",
                              "D1", "D2", "D3", "D4", "D5", "D6", "D7")}


def test_overrun_on_a_node_is_reported_with_pods_node_and_time() -> None:
    tl = TL().node("n1", cpu="8", memory="32Gi")
    tl.pod("a/p1", 1, cpu="6").pod("a/p2", 1, cpu="2500m")
    tl.bind("a/p1", "n1", 2).bind("a/p2", "n1", 3)
    assert check("capacity", tl.events) == [Finding(
        "capacity", ("Pod a/p2", "Node n1"), 3.0,
        "binding pod a/p2 to node n1 at t=3 overcommits it: cpu requested 8500m > allocatable 8 "
        "(1 other pod(s) bound: a/p1)")]


def test_release_then_bind_at_the_same_instant_is_fine_in_seq_order() -> None:
    tl = TL().node("n1", cpu="8").pod("p1", 0, cpu="8").pod("p2", 0, cpu="8")
    tl.bind("p1", "n1", 1).succeeded("p1", 5).bind("p2", "n1", 5)
    assert check("capacity", tl.events) == []


def test_bind_before_release_at_the_same_instant_overruns() -> None:
    tl = TL().node("n1", cpu="8").pod("p1", 0, cpu="8").pod("p2", 0, cpu="8")
    tl.bind("p1", "n1", 1).bind("p2", "n1", 5).succeeded("p1", 5)
    assert [f.objects for f in check("capacity", tl.events)] == [("Pod default/p2", "Node n1")]


def test_extended_resources_and_missing_resources_count() -> None:
    tl = TL().node("n1", cpu="96", nvidia__com_gpu="8")
    tl.pod("p1", 0, nvidia__com_gpu="8").pod("p2", 0, nvidia__com_gpu="1").pod("p3", 0, example__com_fpga="1")
    tl.bind("p1", "n1", 1).bind("p2", "n1", 2).bind("p3", "n1", 3)
    msgs = [f.message for f in check("capacity", tl.events)]
    assert len(msgs) == 2
    assert "nvidia.com/gpu requested 9 > allocatable 8" in msgs[0]
    assert "example.com/fpga requested 1 > allocatable 0" in msgs[1]


def test_memory_is_printed_in_binary_units() -> None:
    tl = TL().node("n1", cpu="8", memory="32Gi").pod("p1", 0, memory="33Gi").bind("p1", "n1", 1)
    assert "memory requested 33Gi > allocatable 32Gi" in check("capacity", tl.events)[0].message


def test_node_removal_frees_its_pods() -> None:
    tl = TL().node("n1", cpu="4").pod("p1", 0, cpu="4").bind("p1", "n1", 1).node_removed("n1", 2)
    tl.node("n1", 3, cpu="4").pod("p2", 3, cpu="4").bind("p2", "n1", 4)
    assert check("capacity", tl.events) == []


def test_preempted_and_deleted_pods_free_capacity() -> None:
    tl = TL().node("n1", cpu="4").pod("p1", 0, cpu="4").pod("p2", 0, cpu="4").pod("p3", 0, cpu="4")
    tl.bind("p1", "n1", 1).preempted("p1", 2).bind("p2", "n1", 2).deleted("p2", 3).bind("p3", "n1", 3)
    assert check("capacity", tl.events) == []


def test_gang_pod_overrun_is_also_reported_under_g4() -> None:
    tl = TL().node("n1", cpu="4").workload("a/g", 0, min_count=2)
    tl.pod("a/g-0", 0, group="a/g", cpu="3").pod("a/g-1", 0, group="a/g", cpu="3")
    tl.bind("a/g-0", "n1", 1, group="a/g").bind("a/g-1", "n1", 1, group="a/g")
    g4 = check("G4", tl.events)
    assert [(f.objects, f.t) for f in g4] == [(("Workload a/g", "Pod a/g-1", "Node n1"), 1.0)]
    assert g4[0].message.startswith("gang a/g: binding pod a/g-1 to node n1")
    assert len(check("capacity", tl.events)) == 1


def test_non_gang_overrun_is_not_g4_and_g4_not_applicable() -> None:
    tl = TL().node("n1", cpu="1").pod("p1", 0, cpu="2").bind("p1", "n1", 1)
    res = {r.invariant.id: r.status for r in run_checks(tl.events)}
    assert res["capacity"] == "failed"
    assert res["G4"] == "not-applicable"


def test_unparsable_request_is_reported() -> None:
    tl = TL().node("n1", cpu="1").pod("p1", 0, cpu="lots")
    assert [f.message for f in check("capacity", tl.events)] == [
        "pod default/p1 has unparsable requests: cpu='lots'"]


def test_out_of_order_events_are_sorted_by_t_then_seq() -> None:
    tl = TL().node("n1", cpu="8").pod("p1", 0, cpu="8").pod("p2", 0, cpu="8")
    tl.bind("p1", "n1", 1).succeeded("p1", 5).bind("p2", "n1", 5)
    evs = list(reversed(tl.events))
    assert check("capacity", evs) == []


def test_extended_resource_served_by_dra_devices_is_not_counted_against_allocatable() -> None:
    """A DeviceClass's extendedResourceName: the scheduler's ``<pod>-extended-resources`` claim holds the
    devices, so a node that does not advertise the resource is not overcommitted by it; one that does
    (a device plugin) still counts it, and a pod without that claim still overruns."""
    def tl_with(claim: bool, **node_alloc: str) -> TL:
        tl = TL().node("n1", cpu="8", **node_alloc).pod("p1", 0, cpu="1", example__com_gpu="3")
        if claim:
            tl.emit(1, "ClaimAllocated", "ResourceClaim", "p1-extended-resources", "default", node="n1",
                    data={"devices": [], "reservedFor": ["p1"]})
        return tl.bind("p1", "n1", 1)

    assert check("capacity", tl_with(True).events) == []
    unserved = check("capacity", tl_with(False).events)
    assert len(unserved) == 1 and "example.com/gpu requested 3 > allocatable 0" in unserved[0].message
    advertised = check("capacity", tl_with(True, example__com_gpu="2").events)
    assert len(advertised) == 1 and "example.com/gpu requested 3 > allocatable 2" in advertised[0].message
