"""The structured-parameters allocator against hand-computed answers, plus properties (hypothesis)."""

from __future__ import annotations

import itertools
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.dra import DeviceClaim, DeviceClass, ResourceSlice
from sim.dra.allocator import (
    AllocationError,
    Allocator,
    ClaimToAllocate,
    DeviceRef,
    DeviceResult,
    Inventory,
    Usage,
    consumed_amount,
)

DRIVER = "gpu.example.com"
GI = 2**30


def slice_(devices: list[dict[str, Any]], counters: list[dict[str, Any]] | None = None, pool: str = "n1",
           generation: int = 1, count: int = 1, name: str = "s") -> ResourceSlice:
    return ResourceSlice.model_validate({
        "metadata": {"name": name},
        "spec": {"driver": DRIVER, "nodeName": pool, "pool": {"name": pool, "generation": generation,
                                                               "resourceSliceCount": count},
                 "devices": devices, "sharedCounters": counters or []}})


def gpu(i: int, root: str = "a", mem: str = "80Gi", **extra: Any) -> dict[str, Any]:
    return {"name": f"gpu-{i}",
            "attributes": {"index": {"int": i}, "resource.kubernetes.io/pcieRoot": {"string": root}},
            "capacity": {"memory": {"value": mem}}, **extra}


CLASSES = {"gpu": DeviceClass.model_validate({"metadata": {"name": "gpu"}, "spec": {"selectors": [
    {"cel": {"expression": f'device.driver == "{DRIVER}"'}}]}})}


def claim(requests: list[dict[str, Any]], constraints: list[dict[str, Any]] | None = None,
          key: str = "ns/c") -> ClaimToAllocate:
    return ClaimToAllocate(key, DeviceClaim.model_validate({"requests": requests, "constraints": constraints or []}))


def exact(name: str = "gpu", **kw: Any) -> dict[str, Any]:
    return {"name": name, "exactly": {"deviceClassName": "gpu", **kw}}


def run(claims: list[ClaimToAllocate], slices: list[ResourceSlice],
        usage: Usage | None = None) -> dict[str, list[str]] | None:
    out = Allocator().allocate(claims, CLASSES, Inventory.from_slices(slices), usage or Usage())
    if out is None:
        return None
    return {k: [f"{r.request}:{r.device}" for r in v] for k, v in out.items()}


FOUR = [slice_([gpu(0, "a"), gpu(1, "a"), gpu(2, "b"), gpu(3, "b")])]


def test_exact_count_takes_the_first_devices() -> None:
    assert run([claim([exact(count=2)])], FOUR) == {"ns/c": ["gpu:gpu-0", "gpu:gpu-1"]}


def test_devices_in_use_are_skipped() -> None:
    usage = Usage(exclusive={DeviceRef(DRIVER, "n1", "gpu-0")})
    assert run([claim([exact(count=2)])], FOUR, usage) == {"ns/c": ["gpu:gpu-1", "gpu:gpu-2"]}
    assert run([claim([exact(count=4)])], FOUR, usage) is None


def test_all_mode() -> None:
    assert run([claim([exact(allocationMode="All")])], FOUR) == {"ns/c": [f"gpu:gpu-{i}" for i in range(4)]}
    usage = Usage(exclusive={DeviceRef(DRIVER, "n1", "gpu-3")})
    assert run([claim([exact(allocationMode="All")])], FOUR, usage) is None
    incomplete = [slice_([gpu(0)], count=2)]
    with pytest.raises(AllocationError, match="complete pools"):
        run([claim([exact(allocationMode="All")])], incomplete)


def test_selectors_on_capacity_and_attributes() -> None:
    mixed = [slice_([gpu(0, mem="40Gi"), gpu(1, mem="80Gi"), gpu(2, mem="40Gi"), gpu(3, mem="80Gi")])]
    sel = [{"cel": {"expression": f'device.capacity["{DRIVER}"].memory.compareTo(quantity("80Gi")) >= 0'}}]
    assert run([claim([exact(count=2, selectors=sel)])], mixed) == {"ns/c": ["gpu:gpu-1", "gpu:gpu-3"]}
    odd = [{"cel": {"expression": f'device.attributes["{DRIVER}"].index % 2 == 0'}}]
    assert run([claim([exact(count=2, selectors=odd)])], mixed) == {"ns/c": ["gpu:gpu-0", "gpu:gpu-2"]}
    assert run([claim([exact(count=3, selectors=odd)])], mixed) is None


def test_match_attribute_backtracks_to_the_other_root() -> None:
    usage = Usage(exclusive={DeviceRef(DRIVER, "n1", "gpu-1")})
    c = claim([exact(count=2)], [{"matchAttribute": "resource.kubernetes.io/pcieRoot"}])
    assert run([c], FOUR, usage) == {"ns/c": ["gpu:gpu-2", "gpu:gpu-3"]}


def test_distinct_attribute() -> None:
    c = claim([exact(count=2)], [{"distinctAttribute": "resource.kubernetes.io/pcieRoot"}])
    assert run([c], FOUR) == {"ns/c": ["gpu:gpu-0", "gpu:gpu-2"]}
    c3 = claim([exact(count=3)], [{"distinctAttribute": "resource.kubernetes.io/pcieRoot"}])
    assert run([c3], FOUR) is None


def test_backtracking_across_claims() -> None:
    devs = [slice_([gpu(0, "a"), gpu(1, "a"), gpu(2, "b")])]
    first = claim([exact()], key="ns/one")
    pair = claim([exact(count=2)], [{"matchAttribute": "resource.kubernetes.io/pcieRoot"}], key="ns/two")
    assert run([first, pair], devs) == {"ns/one": ["gpu:gpu-2"], "ns/two": ["gpu:gpu-0", "gpu:gpu-1"]}


def test_first_available_in_order() -> None:
    req = {"name": "gpu", "firstAvailable": [{"name": "big", "deviceClassName": "gpu", "count": 4},
                                              {"name": "small", "deviceClassName": "gpu", "count": 2}]}
    assert run([claim([req])], FOUR) == {"ns/c": ["gpu/big:gpu-0", "gpu/big:gpu-1", "gpu/big:gpu-2", "gpu/big:gpu-3"]}
    usage = Usage(exclusive={DeviceRef(DRIVER, "n1", "gpu-0")})
    assert run([claim([req])], FOUR, usage) == {"ns/c": ["gpu/small:gpu-1", "gpu/small:gpu-2"]}


def test_constraint_on_a_subrequest_name() -> None:
    req = {"name": "gpu", "firstAvailable": [{"name": "pair", "deviceClassName": "gpu", "count": 2}]}
    c = claim([req], [{"requests": ["gpu/pair"], "matchAttribute": "resource.kubernetes.io/pcieRoot"}])
    usage = Usage(exclusive={DeviceRef(DRIVER, "n1", "gpu-0")})
    assert run([c], FOUR, usage) == {"ns/c": ["gpu/pair:gpu-2", "gpu/pair:gpu-3"]}


def test_device_taints_need_tolerations() -> None:
    tainted = [slice_([gpu(0, taints=[{"key": "maintenance", "effect": "NoSchedule"}]), gpu(1)])]
    assert run([claim([exact(count=2)])], tainted) is None
    tol = [{"key": "maintenance", "operator": "Exists", "effect": "NoSchedule"}]
    assert run([claim([exact(count=2, tolerations=tol)])], tainted) == {"ns/c": ["gpu:gpu-0", "gpu:gpu-1"]}
    info = [slice_([gpu(0, taints=[{"key": "note", "effect": "None"}])])]
    assert run([claim([exact()])], info) == {"ns/c": ["gpu:gpu-0"]}


def _mig() -> list[ResourceSlice]:
    def part(name: str, slices: int) -> dict[str, Any]:
        return {"name": name, "attributes": {"profile": {"string": name}},
                "consumesCounters": [{"counterSet": "gpu-0", "counters": {"memory-slices": {"value": str(slices)}}}]}
    return [slice_([part("gpu-0-full", 7), part("gpu-0-3g-a", 3), part("gpu-0-3g-b", 3), part("gpu-0-1g-a", 1)],
                   counters=[{"name": "gpu-0", "counters": {"memory-slices": {"value": "7"}}}])]


def test_partitions_exclude_one_another_through_counters() -> None:
    mig = _mig()
    inv = Inventory.from_slices(mig)
    alloc = Allocator()
    usage = Usage()
    full = [{"cel": {"expression": f'device.attributes["{DRIVER}"].profile == "gpu-0-full"'}}]
    out = alloc.allocate([claim([exact(selectors=full)])], CLASSES, inv, usage)
    assert out is not None and [r.device for r in out["ns/c"]] == ["gpu-0-full"]
    usage.add(out["ns/c"], inv.by_ref())
    assert usage.counters[(DRIVER, "n1", "gpu-0")] == {"memory-slices": Fraction(7)}
    assert alloc.allocate([claim([exact()], key="ns/d")], CLASSES, inv, usage) is None
    usage.remove(out["ns/c"], inv.by_ref())
    # without the full GPU: two 3g + one 1g fit exactly (3+3+1 = 7); a fourth partition does not exist
    assert run([claim([exact(count=3)])], mig) == {"ns/c": ["gpu:gpu-0-3g-a", "gpu:gpu-0-3g-b", "gpu:gpu-0-1g-a"]}
    assert run([claim([exact(count=2)])], mig) == {"ns/c": ["gpu:gpu-0-3g-a", "gpu:gpu-0-3g-b"]}


def _shared() -> list[ResourceSlice]:
    return [slice_([{"name": "gpu-0", "allowMultipleAllocations": True, "capacity": {"memory": {
        "value": "80Gi", "requestPolicy": {"default": "10Gi", "validRange": {"min": "10Gi", "step": "10Gi"}}}}}])]


def test_consumable_capacity_rounds_up_by_request_policy() -> None:
    inv = Inventory.from_slices(_shared())
    alloc = Allocator()
    usage = Usage()
    req = exact(capacity={"requests": {"memory": "15Gi"}})
    for i in range(4):
        out = alloc.allocate([claim([req], key=f"ns/c{i}")], CLASSES, inv, usage)
        assert out is not None
        (r,) = out[f"ns/c{i}"]
        assert r.device == "gpu-0" and r.consumed_capacity == {f"{DRIVER}/memory": Fraction(20 * GI)}
        assert r.share_id is not None
        assert r.payload()["consumedCapacity"] == {"memory": "20Gi"}
        usage.add(out[f"ns/c{i}"], inv.by_ref())
    assert alloc.allocate([claim([req], key="ns/c4")], CLASSES, inv, usage) is None
    # the default (10Gi) still... does not fit either: 80Gi are consumed
    assert alloc.allocate([claim([exact()], key="ns/c5")], CLASSES, inv, usage) is None


def test_consumed_amount_policies() -> None:
    from models.dra import RequestPolicy
    vv = RequestPolicy.model_validate({"validValues": ["10Gi", "40Gi"]})
    assert consumed_amount(Fraction(20 * GI), Fraction(80 * GI), vv) == 40 * GI
    assert consumed_amount(Fraction(50 * GI), Fraction(80 * GI), vv) is None
    assert consumed_amount(None, Fraction(80 * GI), None) == 80 * GI
    rng = RequestPolicy.model_validate({"validRange": {"min": "1", "max": "4", "step": "1"}})
    assert consumed_amount(Fraction(5), Fraction(10), rng) is None


def test_thirty_two_result_limit_and_cel_errors() -> None:
    many = [slice_([gpu(i) for i in range(40)])]
    with pytest.raises(AllocationError, match="more than 32"):
        run([claim([exact(count=33)])], many)
    assert run([claim([exact(count=32)])], many) is not None
    bad = [{"cel": {"expression": f'device.attributes["{DRIVER}"].noSuchAttribute == 1'}}]
    with pytest.raises(AllocationError, match="no such key"):
        run([claim([exact(selectors=bad)])], FOUR)


def test_highest_pool_generation_only() -> None:
    old = slice_([gpu(0), gpu(1)], generation=1, name="old")
    new = slice_([gpu(5)], generation=2, name="new")
    assert run([claim([exact()])], [old, new]) == {"ns/c": ["gpu:gpu-5"]}


# --------------------------------------------------------------------------------------------------
# properties: legality (D1, D5, D7) and completeness against brute force on small cases

ROOT = "resource.kubernetes.io/pcieRoot"


@st.composite
def cases(draw: st.DrawFn) -> tuple[list[dict[str, Any]], int, list[list[dict[str, Any]]], list[int]]:
    n = draw(st.integers(1, 5))
    devices = []
    for i in range(n):
        d = gpu(i, draw(st.sampled_from("ab")))
        if draw(st.booleans()):
            d["consumesCounters"] = [{"counterSet": "cs", "counters": {"c": {"value": str(draw(st.integers(1, 3)))}}}]
        devices.append(d)
    budget = draw(st.integers(1, 6))
    claims = []
    for _ in range(draw(st.integers(1, 2))):
        reqs = []
        for r in range(draw(st.integers(1, 2))):
            kw: dict[str, Any] = {"count": draw(st.integers(1, 3))}
            if draw(st.booleans()):
                banned = draw(st.integers(0, 4))
                kw["selectors"] = [{"cel": {"expression": f'device.attributes["{DRIVER}"].index != {banned}'}}]
            reqs.append(exact(f"r{r}", **kw))
        cons = []
        kind = draw(st.sampled_from(["none", "matchAttribute", "distinctAttribute"]))
        if kind != "none":
            cons.append({kind: ROOT})
        claims.append([reqs, cons])  # type: ignore[list-item]
    in_use = draw(st.lists(st.integers(0, n - 1), unique=True, max_size=2))
    return devices, budget, claims, in_use  # type: ignore[return-value]


def _legal(assign: list[tuple[int, dict[str, Any], Any]], devices: list[dict[str, Any]], budget: int,
           in_use: list[int], claims: list[Any]) -> bool:
    used = [i for _, _, i in assign]
    if len(set(used)) != len(used) or set(used) & set(in_use):
        return False
    total = sum(int(devices[i]["consumesCounters"][0]["counters"]["c"]["value"])
                for i in set(used) | set(in_use) if "consumesCounters" in devices[i])
    if total > budget:
        return False
    for _, req, i in assign:
        for s in req["exactly"].get("selectors", []):
            if devices[i]["attributes"]["index"]["int"] == int(s["cel"]["expression"].rsplit(" ", 1)[1]):
                return False
    for ci, (_, cons) in enumerate(claims):
        roots = [devices[i]["attributes"][ROOT]["string"] for cj, _, i in assign if cj == ci]
        for c in cons:
            if "matchAttribute" in c and len(set(roots)) > 1:
                return False
            if "distinctAttribute" in c and len(set(roots)) != len(roots):
                return False
    return True


@settings(max_examples=150, deadline=None)
@given(cases())
def test_allocations_are_legal_and_complete(case: Any) -> None:
    devices, budget, claims, in_use = case
    slices = [slice_(devices, counters=[{"name": "cs", "counters": {"c": {"value": str(budget)}}}])]
    inv = Inventory.from_slices(slices)
    usage = Usage()
    refs = inv.by_ref()
    usage.add([DeviceResult("x", DRIVER, "n1", f"gpu-{i}") for i in in_use], refs)
    if any("consumesCounters" in devices[i] and
           int(devices[i]["consumesCounters"][0]["counters"]["c"]["value"]) > budget for i in in_use):
        return
    if sum(int(devices[i]["consumesCounters"][0]["counters"]["c"]["value"])
           for i in in_use if "consumesCounters" in devices[i]) > budget:
        return
    to_alloc = [claim(reqs, cons, key=f"ns/c{k}") for k, (reqs, cons) in enumerate(claims)]
    out = Allocator().allocate(to_alloc, CLASSES, inv, usage)
    slots = [(ci, req) for ci, (reqs, _) in enumerate(claims) for req in reqs for _ in range(req["exactly"]["count"])]
    brute = any(_legal([(ci, req, i) for (ci, req), i in zip(slots, pick, strict=True)],
                       devices, budget, in_use, claims)
                for pick in itertools.product(range(len(devices)), repeat=len(slots)))
    assert (out is not None) == brute
    if out is not None:
        assign = []
        for ci, (reqs, _) in enumerate(claims):
            by_name = {r["name"]: r for r in reqs}
            for r in out[f"ns/c{ci}"]:
                assign.append((ci, by_name[r.request], int(r.device.split("-")[1])))
        assert _legal(assign, devices, budget, in_use, claims)


def test_admin_access_sees_devices_in_use_and_takes_nothing() -> None:
    inv = Inventory.from_slices(FOUR)
    usage = Usage(exclusive={DeviceRef(DRIVER, "n1", f"gpu-{i}") for i in range(4)})
    out = Allocator().allocate([claim([exact(count=4, adminAccess=True)])], CLASSES, inv, usage)
    assert out is not None and [r.device for r in out["ns/c"]] == [f"gpu-{i}" for i in range(4)]
    assert all(r.admin_access and r.payload()["adminAccess"] for r in out["ns/c"])
    before = set(usage.exclusive)
    usage.add(out["ns/c"], inv.by_ref())
    assert usage.exclusive == before


def test_usage_add_remove_round_trip() -> None:
    inv = Inventory.from_slices(_mig())
    usage = Usage()
    out = Allocator().allocate([claim([exact(count=2)])], CLASSES, inv, usage)
    assert out is not None
    usage.add(out["ns/c"], inv.by_ref())
    assert usage.counters[(DRIVER, "n1", "gpu-0")] == {"memory-slices": Fraction(6)}  # the two 3g slices
    usage.remove(out["ns/c"], inv.by_ref())
    assert usage.exclusive == set() and usage.counters[(DRIVER, "n1", "gpu-0")] == {"memory-slices": Fraction(0)}
