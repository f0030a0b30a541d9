"""DRA through the whole engine: the bundled DRA scenarios simulate, and a checker written here (sharing
no code with validator/checks/dra.py) finds every allocation legal — distinct devices among live claims,
every pod bound only with all its claims allocated on its node, matchAttribute constraints equal; a
DeviceClass's extendedResourceName serves plain extended-resource requests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kubetwin.cmd_simulate import simulate_to
from models.timeline import Event, read_timeline
from validator.checks import FAILED, run_checks

ROOT = Path(__file__).resolve().parent.parent
DRA_SCENARIOS = sorted((ROOT / "scenarios").glob("dra-*.yaml"))


def independent_dra_check(events: list[Event]) -> tuple[list[str], int]:
    bad: list[str] = []
    attrs: dict[tuple[str, str, str], dict[str, Any]] = {}     # (driver, pool, device) -> attributes
    specs: dict[str, dict[str, Any]] = {}                       # claim key -> spec
    live: dict[str, tuple[str, list[tuple[str, str, str]]]] = {}  # claim key -> (node, devices)
    pod_claims: dict[str, list[str]] = {}
    allocations = 0
    for e in events:
        if e.type == "NodeReady":
            for d in e.data.get("devices") or []:
                attrs[(d["driver"], d["pool"], d["device"])] = d.get("attributes") or {}
        elif e.type == "PodCreated":
            pod_claims[e.key] = [f"{e.namespace}/{c}" for c in e.data.get("claims") or []]
        elif e.type == "ClaimCreated":
            specs[e.key] = e.data.get("spec") or {}
        elif e.type == "ClaimAllocated":
            allocations += 1
            devs = [(d["driver"], d["pool"], d["device"]) for d in e.data["devices"]]
            shared = {(d["driver"], d["pool"], d["device"]) for d in e.data["devices"] if "shareID" in d}
            for other, (_, held) in live.items():
                clash = (set(devs) & set(held)) - shared
                if clash:
                    bad.append(f"{e.key} and {other} both hold {sorted(clash)}")
            live[e.key] = (e.node or "", devs)
            for con in (specs.get(e.key, {}).get("devices") or {}).get("constraints") or []:
                name = con.get("matchAttribute")
                if not name:
                    continue
                values = {json.dumps(attrs.get(d, {}).get(name), sort_keys=True) for d in devs}
                if len(values) > 1:
                    bad.append(f"{e.key}: matchAttribute {name} differs: {sorted(values)}")
        elif e.type == "ClaimReleased":
            live.pop(e.key, None)
        elif e.type == "Scheduled":
            for claim in pod_claims.get(e.key, []):
                if claim not in live or live[claim][0] != e.node:
                    bad.append(f"{e.key} bound to {e.node} without {claim} allocated there")
    return bad, allocations


@pytest.mark.parametrize("path", DRA_SCENARIOS, ids=lambda p: p.stem)
def test_dra_scenarios_allocate_legally(path: Path, tmp_path: Path) -> None:
    simulate_to(path, tmp_path)
    tl = read_timeline(tmp_path / "timeline.jsonl")
    assert tl.problems == []
    bad, allocations = independent_dra_check(tl.events)
    assert bad == []
    assert allocations > 0
    assert [r.invariant.id for r in run_checks(tl.events) if r.status == FAILED] == []


def test_extended_resource_served_by_a_device_class(tmp_path: Path) -> None:
    """Two nodes with 4 DRA GPUs each and no nvidia-style allocatable: three pods asking example.com/gpu: 3
    — the class's extendedResourceName — get scheduler-made claims; two run at once, the third waits for a
    node's GPUs to free at 10 min."""
    scenario = {"apiVersion": "kubetwin.dev/v1alpha1", "kind": "Scenario", "metadata": {"name": "ext"},
                "spec": {"seed": 1, "duration": "1h",
                         "cluster": {"nodePools": [{"name": "gpu", "count": 2,
                                                    "allocatable": {"cpu": "32", "memory": "256Gi"},
                                                    "devices": {"driver": "gpu.example.com", "count": 4}}]},
                         "dra": {"deviceClasses": [{
                             "apiVersion": "resource.k8s.io/v1", "kind": "DeviceClass",
                             "metadata": {"name": "gpu.example.com"},
                             "spec": {"selectors": [{"cel": {"expression": 'device.driver == "gpu.example.com"'}}],
                                      "extendedResourceName": "example.com/gpu"}}]},
                         "workloads": [{"name": "job", "arrival": {"every": "0s"}, "count": 3, "duration": "10m",
                                        "template": {"requests": {"cpu": "1", "example.com/gpu": "3"}}}]}}
    path = tmp_path / "ext.yaml"
    path.write_text(json.dumps(scenario), encoding="utf-8")
    summary = simulate_to(path, tmp_path / "out")
    evs = read_timeline(tmp_path / "out" / "timeline.jsonl").events
    # 3 devices 0-600 s (job-0), 3 devices 0-600 s (job-1), 3 devices 600-1200 s (job-2); 8 devices until the
    # run ends idle at 1200 s: 5400 / 9600 = 0.5625 (summary.json keeps 3 decimals, half to even)
    # per class: 6 devices held 0-600 s, 3 held 600-1200 s: 5400 / 1200 = 4.5 on average, 6 at most
    assert summary["dra"] == {"devices": 8, "deviceAllocationRatio": 0.562, "devicesInUseAtEnd": 0,
                              "claimsCreated": 0, "claimsAllocatedAtEnd": 0, "claimsPendingAtEnd": 0,
                              "byDeviceClass": {"gpu.example.com": {"allocatedMean": 4.5, "allocatedPeak": 6,
                                                                    "allocatedAtEnd": 0}},
                              "byModel": {}, "sharedDevices": 0, "sharedUtilisation": {}}
    scheduled = [(e.name, e.t, e.node) for e in evs if e.type == "Scheduled"]
    assert scheduled == [("job-0", 0.0, "gpu-0"), ("job-1", 0.0, "gpu-1"), ("job-2", 600.0, "gpu-0")]
    allocated = [e for e in evs if e.type == "ClaimAllocated"]
    assert [e.name for e in allocated] == ["job-0-extended-resources", "job-1-extended-resources",
                                           "job-2-extended-resources"]
    assert all(len(e.data["devices"]) == 3 for e in allocated)
    # requests [cpu, example.com/gpu] sorted: the GPU is request 1 of container 0 (kube-scheduler's naming)
    assert {d["request"] for e in allocated for d in e.data["devices"]} == {"container-0-request-1"}
    failed = [e for e in evs if e.type == "FailedScheduling"]
    assert [(e.name, e.reason) for e in failed] == [("job-2", "0/2 nodes are available: 2 cannot allocate all claims.")]
    bad, _ = independent_dra_check(evs)
    assert bad == []
