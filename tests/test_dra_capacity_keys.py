"""Capacity names on the timeline: ``NodeReady.data.devices[].capacity`` is keyed as the device
publishes it (the driver's domain dropped), like ``ClaimAllocated.data.devices[].consumedCapacity``,
and D1/D7 read that form (and the older qualified one)."""

from __future__ import annotations

from typing import Any

from models.dra import capacity_key
from tests.test_checks_dra import DRIVER, allocated, base, created, dev, spec
from validator.checks import check
from validator.normalize.claims import claim_devices


def short_dev(name: str, mem: str, **extra: Any) -> dict[str, Any]:
    d = dev(name, mem=mem, **extra)
    d["capacity"] = {"memory": mem}
    return d


def test_capacity_key_drops_only_the_drivers_own_domain() -> None:
    assert capacity_key("gpu.example.com/memory", "gpu.example.com") == "memory"
    assert capacity_key("memory", "gpu.example.com") == "memory"
    assert capacity_key("other.example.com/memory", "gpu.example.com") == "other.example.com/memory"


def test_d1_shared_capacity_with_short_keys() -> None:
    tl = base([short_dev("gpu-0", "24Gi", allowMultipleAllocations=True)])
    share = [{"request": "gpu", "driver": DRIVER, "pool": "n1", "device": "gpu-0", "shareID": "s1",
              "consumedCapacity": {"memory": "16Gi"}}]
    allocated(tl, "x", 1, share, [])
    allocated(tl, "y", 2, [{**share[0], "shareID": "s2"}], [])
    (f,) = check("D1", tl.events)
    assert f.message == ("shared device gpu.example.com/n1/gpu-0 has 32Gi of memory consumed at t=2; "
                         "its capacity is 24Gi")


def test_d7_capacity_selector_with_short_keys() -> None:
    tl = base([short_dev("gpu-0", "40Gi"), short_dev("gpu-1", "80Gi")])
    created(tl, "big", 0, spec(selectors=[f'device.capacity["{DRIVER}"].memory.compareTo(quantity("80Gi")) >= 0']))
    allocated(tl, "big", 1, ["gpu-1"], [])
    assert check("D7", tl.events) == []
    tl2 = base([short_dev("gpu-0", "40Gi"), short_dev("gpu-1", "80Gi")])
    created(tl2, "big", 0, spec(selectors=[f'device.capacity["{DRIVER}"].memory.compareTo(quantity("80Gi")) >= 0']))
    allocated(tl2, "big", 1, ["gpu-0"], [])
    (f,) = check("D7", tl2.events)
    assert "gpu.example.com/n1/gpu-0" in f.message


def test_recorded_consumed_capacity_in_the_drivers_domain_is_written_short() -> None:
    claim = {"status": {"allocation": {"devices": {"results": [
        {"request": "gpu", "driver": DRIVER, "pool": "n1", "device": "gpu-0", "shareID": "s",
         "consumedCapacity": {f"{DRIVER}/memory": "12Gi"}}]}}}}
    assert claim_devices(claim) == [{"request": "gpu", "driver": DRIVER, "pool": "n1", "device": "gpu-0",
                                     "consumedCapacity": {"memory": "12Gi"}, "shareID": "s"}]
