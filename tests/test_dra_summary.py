"""summary.json's ``dra`` section on a tiny cluster, against hand-computed time-weighted values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kubetwin.cmd_simulate import simulate_to
from models.timeline import read_timeline
from sim.dra.metrics import device_model
from validator.checks import FAILED, run_checks

DRIVER = "gpu.example.com"


def template(name: str, exact: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaimTemplate",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"spec": {"devices": {"requests": [{"name": "gpu", "exactly": {"deviceClassName": "gpu",
                                                                                   **exact}}]}}}}


def scenario() -> dict[str, Any]:
    """One node with two shareable L4s (24Gi each), one with an H100. Three inference pods ask 8Gi of
    a shared GPU for 10 min (first fit: all three on l4-0/gpu-0); one training pod holds the H100 for 20 min."""
    return {"apiVersion": "kubetwin.dev/v1alpha1", "kind": "Scenario", "metadata": {"name": "dra-summary"},
            "spec": {"seed": 1, "duration": "1h",
                     "cluster": {"nodePools": [
                         {"name": "l4", "count": 1, "allocatable": {"cpu": "8", "memory": "32Gi"},
                          "devices": {"driver": DRIVER, "count": 2, "attributes": {"model": "L4"},
                                      "capacity": {"memory": "24Gi"}, "allowMultipleAllocations": True}},
                         {"name": "h100", "count": 1, "allocatable": {"cpu": "8", "memory": "32Gi"},
                          "devices": {"driver": DRIVER, "count": 1, "attributes": {"model": "H100"}}}]},
                     "dra": {"deviceClasses": [{"apiVersion": "resource.k8s.io/v1", "kind": "DeviceClass",
                                                "metadata": {"name": "gpu"}, "spec": {"selectors": [
                                                    {"cel": {"expression": f'device.driver == "{DRIVER}"'}}]}}],
                             "resourceClaimTemplates": [
                                 template("share-8g", {"capacity": {"requests": {"memory": "8Gi"}}}),
                                 template("h100", {"selectors": [{"cel": {"expression":
                                     f'device.attributes["{DRIVER}"].model == "H100"'}}]})]},
                     "workloads": [
                         {"name": "infer", "arrival": {"every": "0s"}, "count": 3, "duration": "10m",
                          "template": {"requests": {"cpu": "1"}, "resourceClaims": [
                              {"name": "gpu", "resourceClaimTemplateName": "share-8g"}]}},
                         {"name": "train", "arrival": {"every": "0s"}, "count": 1, "duration": "20m",
                          "template": {"requests": {"cpu": "1"}, "resourceClaims": [
                              {"name": "gpu", "resourceClaimTemplateName": "h100"}]}}]}}


def test_dra_summary_time_weighted(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(json.dumps(scenario()), encoding="utf-8")
    summary = simulate_to(path, tmp_path / "out")
    evs = read_timeline(tmp_path / "out" / "timeline.jsonl").events
    shares = [(e.name, [(d["pool"], d["device"], d.get("consumedCapacity")) for d in e.data["devices"]])
              for e in evs if e.type == "ClaimAllocated"]
    assert sorted(shares) == [
        ("infer-0-gpu", [("l4-0", "gpu-0", {"memory": "8Gi"})]),
        ("infer-1-gpu", [("l4-0", "gpu-0", {"memory": "8Gi"})]),
        ("infer-2-gpu", [("l4-0", "gpu-0", {"memory": "8Gi"})]),
        ("train-0-gpu", [("h100-0", "gpu-0", None)])]
    assert summary["sim"]["endTime"] == 1200.0
    # held: l4-0/gpu-0 0-600 s, h100-0/gpu-0 0-1200 s → 1800 device-seconds of 3 × 1200
    # class gpu: 2 devices 0-600 s, 1 device 600-1200 s → mean 1800 / 1200 = 1.5, peak 2
    # L4: 600 of 2 × 1200 device-seconds (mean 0.5); H100: 1200 of 1200 (mean 1)
    # shared memory: 24Gi consumed 0-600 s of 48Gi for 1200 s → 0.25
    assert summary["dra"] == {
        "devices": 3, "deviceAllocationRatio": 0.5, "devicesInUseAtEnd": 0,
        "claimsCreated": 4, "claimsAllocatedAtEnd": 0, "claimsPendingAtEnd": 0,
        "byDeviceClass": {"gpu": {"allocatedMean": 1.5, "allocatedPeak": 2, "allocatedAtEnd": 0}},
        "byModel": {"H100": {"devices": 1, "allocatedMean": 1.0, "allocationRatio": 1.0},
                    "L4": {"devices": 2, "allocatedMean": 0.5, "allocationRatio": 0.25}},
        "sharedDevices": 2, "sharedUtilisation": {f"{DRIVER}/memory": 0.25}}
    assert [r.invariant.id for r in run_checks(evs) if r.status == FAILED] == []


def test_pending_claims_at_end(tmp_path: Path) -> None:
    """Four trainers, one H100: the run ends with one holding it and three claims waiting."""
    doc = scenario()
    doc["spec"]["workloads"] = [{**doc["spec"]["workloads"][1], "count": 4, "duration": "2h"}]
    doc["spec"]["duration"] = "30m"
    path = tmp_path / "s.yaml"
    path.write_text(json.dumps(doc), encoding="utf-8")
    dra = simulate_to(path, tmp_path / "out")["dra"]
    assert (dra["claimsCreated"], dra["claimsAllocatedAtEnd"], dra["claimsPendingAtEnd"]) == (4, 1, 3)
    assert dra["byModel"]["H100"] == {"devices": 1, "allocatedMean": 1.0, "allocationRatio": 1.0}
    assert dra["byDeviceClass"]["gpu"] == {"allocatedMean": 1.0, "allocatedPeak": 1, "allocatedAtEnd": 1}
    assert dra["sharedUtilisation"] == {f"{DRIVER}/memory": 0.0}


def test_device_model_attribute() -> None:
    assert device_model({"gpu.nvidia.com/productName": "NVIDIA H100", "gpu.nvidia.com/type": "gpu"}) == "NVIDIA H100"
    assert device_model({"gpu.kubetwin.dev/model": "V100M16", "gpu.kubetwin.dev/index": 0}) == "V100M16"
    assert device_model({"a.example.com/model": "x", "b.example.com/productName": "y"}) == "y"
    assert device_model({"gpu.example.com/index": 3}) is None


def test_encoded_payloads_are_the_same_bytes(tmp_path: Path, monkeypatch: Any) -> None:
    """A host taking payloads already encoded (``accepts_encoded_data``) gets the DRA controller's
    pre-encoded PodCreated and ClaimCreated payloads: the timeline must not change by a byte."""
    import sim.engine
    from models.timeline import dumps

    root = Path(__file__).resolve().parent.parent
    for name in ("dra-h100-training", "dra-shared-inference"):
        simulate_to(root / "scenarios" / f"{name}.yaml", tmp_path / name / "plain")
    monkeypatch.setattr(sim.engine, "dumps", lambda x: x if type(x) is str else dumps(x))
    monkeypatch.setattr(sim.engine.Simulation, "accepts_encoded_data", True, raising=False)
    for name in ("dra-h100-training", "dra-shared-inference"):
        simulate_to(root / "scenarios" / f"{name}.yaml", tmp_path / name / "encoded")
        plain, encoded = ((tmp_path / name / d / "timeline.jsonl").read_text().splitlines()[1:]
                          for d in ("plain", "encoded"))
        assert encoded == plain
        assert any('"type":"ClaimCreated"' in line and '"pod":' in line for line in encoded)
