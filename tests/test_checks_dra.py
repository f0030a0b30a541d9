"""D1–D7 on hand-built timelines: legal ones pass, each violation is caught with an exact message."""

from __future__ import annotations

from typing import Any

from tests.timeline_builder import TL
from validator.checks import FAILED, NOT_APPLICABLE, PASSED, check, run_checks

DRIVER = "gpu.example.com"
CLASS_SEL = {"gpu": [f'device.driver == "{DRIVER}"']}


def dev(name: str, root: str = "a", mem: str = "80Gi", **extra: Any) -> dict[str, Any]:
    return {"driver": DRIVER, "pool": "n1", "device": name,
            "attributes": {f"{DRIVER}/model": {"string": "H100"}, "resource.kubernetes.io/pcieRoot": {"string": root}},
            "capacity": {f"{DRIVER}/memory": mem}, **extra}


def spec(count: int = 1, mode: str = "ExactCount", selectors: list[str] | None = None,
         constraints: list[dict[str, Any]] | None = None, capacity: dict[str, str] | None = None) -> dict[str, Any]:
    exact: dict[str, Any] = {"deviceClassName": "gpu", "count": count, "allocationMode": mode,
                             "selectors": [{"cel": {"expression": e}} for e in selectors or []]}
    if capacity:
        exact["capacity"] = {"requests": capacity}
    return {"devices": {"requests": [{"name": "gpu", "exactly": exact}], "constraints": constraints or []}}


def base(devices: list[dict[str, Any]] | None = None, counters: list[dict[str, Any]] | None = None) -> TL:
    tl = TL()
    data: dict[str, Any] = {"pool": "p", "labels": {}, "taints": [], "allocatable": {"cpu": "8"},
                            "devices": devices if devices is not None else [dev("gpu-0"), dev("gpu-1", "b")]}
    if counters:
        data["sharedCounters"] = counters
    tl.emit(0, "NodeReady", "Node", "n1", data=data)
    return tl


def created(tl: TL, claim: str, t: float, s: dict[str, Any], pod: str | None = None) -> TL:
    data: dict[str, Any] = {"spec": s, "deviceClasses": CLASS_SEL}
    if pod:
        data["pod"] = pod
    return tl.emit(t, "ClaimCreated", "ResourceClaim", claim, "ml", data=data)


def allocated(tl: TL, claim: str, t: float, devices: list[str] | list[dict[str, Any]], pods: list[str],
              node: str = "n1") -> TL:
    results = [d if isinstance(d, dict) else {"request": "gpu", "driver": DRIVER, "pool": "n1", "device": d}
               for d in devices]
    return tl.emit(t, "ClaimAllocated", "ResourceClaim", claim, "ml", node=node,
                   data={"devices": results, "reservedFor": pods})


def released(tl: TL, claim: str, t: float) -> TL:
    return tl.emit(t, "ClaimReleased", "ResourceClaim", claim, "ml", data={})


def pod_with(tl: TL, pod: str, t: float, claims: list[str]) -> TL:
    tl.pod(f"ml/{pod}", t)
    tl.events[-1].data["claims"] = claims
    return tl


def status(tl: TL) -> dict[str, str]:
    return {r.invariant.id: r.status for r in run_checks(tl.events) if r.invariant.id.startswith("D")}


def test_a_legal_timeline_passes_every_dra_invariant() -> None:
    tl = base()
    pod_with(tl, "a", 1, ["a-gpu"])
    created(tl, "a-gpu", 1, spec(), pod="a")
    allocated(tl, "a-gpu", 2, ["gpu-0"], ["a"])
    tl.bind("ml/a", "n1", 2).running("ml/a", 3, node="n1").emit(10, "PodSucceeded", "Pod", "a", "ml", node="n1")
    released(tl, "a-gpu", 10)
    assert status(tl) == {f"D{i}": PASSED for i in range(1, 8)}


def test_no_dra_is_not_applicable() -> None:
    tl = TL().node("n1").pod("p", 0).bind("p", "n1", 1)
    assert set(status(tl).values()) == {NOT_APPLICABLE}


def test_d1_device_in_two_live_claims() -> None:
    tl = base()
    created(tl, "x", 0, spec())
    created(tl, "y", 0, spec())
    allocated(tl, "x", 1, ["gpu-0"], [])
    allocated(tl, "y", 2, ["gpu-0"], [])
    (f,) = check("D1", tl.events)
    assert f.message == "device gpu.example.com/n1/gpu-0 is allocated to claim ml/y at t=2 while claim(s) ml/x hold it"
    # released first: fine
    tl2 = base()
    allocated(tl2, "x", 1, ["gpu-0"], [])
    released(tl2, "x", 2)
    allocated(tl2, "y", 3, ["gpu-0"], [])
    assert check("D1", tl2.events) == []


def test_d1_shared_capacity() -> None:
    tl = base([dev("gpu-0", mem="24Gi", allowMultipleAllocations=True)])
    share = [{"request": "gpu", "driver": DRIVER, "pool": "n1", "device": "gpu-0", "shareID": "s1",
              "consumedCapacity": {"memory": "16Gi"}}]
    allocated(tl, "x", 1, share, [])
    allocated(tl, "y", 2, [{**share[0], "shareID": "s2"}], [])
    (f,) = check("D1", tl.events)
    assert f.message == ("shared device gpu.example.com/n1/gpu-0 has 32Gi of memory consumed at t=2; "
                         "its capacity is 24Gi")


def test_d2_pod_bound_with_an_unallocated_claim() -> None:
    tl = base()
    pod_with(tl, "a", 1, ["a-gpu"])
    created(tl, "a-gpu", 1, spec(), pod="a")
    tl.bind("ml/a", "n1", 2)
    tl.emit(5, "PodRunning", "Pod", "a", "ml", node="n1")
    (f,) = check("D2", tl.events)
    assert f.message == "pod ml/a was bound to node n1 at t=2 without its claims: a-gpu (not allocated)"


def test_d2_claim_on_another_node_or_not_reserved() -> None:
    tl = base()
    pod_with(tl, "a", 1, ["shared"])
    created(tl, "shared", 0, spec())
    allocated(tl, "shared", 1, ["gpu-0"], ["other"], node="n2")
    tl.bind("ml/a", "n1", 2)
    (f,) = check("D2", tl.events)
    assert f.message.endswith("without its claims: shared (allocated on node n2)")


def test_d3_release_while_reserved_for_a_running_pod() -> None:
    tl = base()
    pod_with(tl, "a", 1, ["a-gpu"])
    allocated(tl, "a-gpu", 2, ["gpu-0"], ["a"])
    tl.bind("ml/a", "n1", 2)
    released(tl, "a-gpu", 4)
    (f,) = check("D3", tl.events)
    assert f.message == "claim ml/a-gpu was deallocated at t=4 while reserved for running pod(s) a"


def test_d4_all_mode_missing_a_device() -> None:
    tl = base()
    created(tl, "all", 0, spec(mode="All"))
    allocated(tl, "all", 1, ["gpu-0"], [])
    (f,) = check("D4", tl.events)
    assert f.message == ("claim ml/all's request gpu (allocationMode All) at t=1 lacks matching device(s) "
                         "gpu.example.com/n1/gpu-1 of node n1")


def test_d5_counters_over_capacity() -> None:
    def part(name: str, n: str) -> dict[str, Any]:
        return {**dev(name), "consumesCounters": [{"counterSet": "g0", "counters": {"slices": n}}]}
    tl = base([part("full", "7"), part("half", "4")],
              counters=[{"driver": DRIVER, "pool": "n1", "name": "g0", "counters": {"slices": "7"}}])
    allocated(tl, "x", 1, ["half"], [])
    assert check("D5", tl.events) == []
    allocated(tl, "y", 2, ["full"], [])
    (f,) = check("D5", tl.events)
    assert f.message == ("counter slices of counter set g0 in pool gpu.example.com/n1 is used 11 at t=2; "
                         "the pool has 7")


def test_d6_too_many_results() -> None:
    tl = base([dev(f"gpu-{i}") for i in range(33)])
    allocated(tl, "big", 1, [f"gpu-{i}" for i in range(33)], [])
    (f,) = check("D6", tl.events)
    assert f.message == "claim ml/big has 33 allocation results at t=1; at most 32"


def test_d7_selector_not_satisfied_and_match_attribute() -> None:
    tl = base([dev("gpu-0", mem="40Gi"), dev("gpu-1", "b")])
    created(tl, "big", 0, spec(selectors=[f'device.capacity["{DRIVER}"].memory.compareTo(quantity("80Gi")) >= 0']))
    allocated(tl, "big", 1, ["gpu-0"], [])
    (f,) = check("D7", tl.events)
    assert f.message == ('device gpu.example.com/n1/gpu-0 allocated to claim ml/big (request gpu) at t=1 does not '
                         'satisfy the selector '
                         'device.capacity["gpu.example.com"].memory.compareTo(quantity("80Gi")) >= 0')
    tl2 = base()
    created(tl2, "pair", 0, spec(count=2, constraints=[{"matchAttribute": "resource.kubernetes.io/pcieRoot"}]))
    allocated(tl2, "pair", 1, ["gpu-0", "gpu-1"], [])
    (g,) = check("D7", tl2.events)
    assert g.message == ("claim ml/pair's matchAttribute resource.kubernetes.io/pcieRoot does not hold at t=1: "
                         "values ['a', 'b']")


def test_d7_class_selector_too() -> None:
    tl = base([{**dev("nic-0"), "driver": "net.example.com"}])
    created(tl, "c", 0, spec())
    allocated(tl, "c", 1, [{"request": "gpu", "driver": "net.example.com", "pool": "n1", "device": "nic-0"}], [])
    assert [r.status for r in run_checks(tl.events, only=["D7"])] == [FAILED]
