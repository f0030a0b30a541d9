"""DRA on recorded clusters: ResourceSlices, DeviceClasses and ResourceClaims normalized into the
simulator's NodeReady devices and claim events, so D1–D7 run on a recording; and D3's release latency.

Real objects come from the AI-conformance evidence transcripts (``../shared/data``; skipped when
absent); the end-to-end test records the fake API server with the real recorder."""

from __future__ import annotations

import asyncio
import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from fakeapi import FakeAPI
from typer.testing import CliRunner

from kubetwin.cli import app
from models.dra import ResourceSlice, node_devices_payload
from models.timeline import Event, parse_event
from tests.timeline_builder import TL
from validator.checks import FAILED, NOT_APPLICABLE, PASSED, check, run_checks
from validator.normalize import normalize, normalize_file

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ai-conformance-evidence"
START = "2026-07-06T13:16:00.000000000Z"
D_IDS = [f"D{i}" for i in range(1, 8)]
runner = CliRunner()


def at(sec: float) -> str:
    whole = int(sec)
    m, s = divmod(whole, 60)
    return f"2026-07-06T13:{16 + m:02d}:{s:02d}.{round((sec - whole) * 1e9):09d}Z"


class Rec:
    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = [
            {"seq": 1, "recvWall": START, "recvMono": 100.0, "type": "RECORDING_STARTED", "startedAt": START}]

    def add(self, type_: str, stream: str, obj: dict[str, Any], recv: float) -> Rec:
        self.records.append({"seq": len(self.records) + 1, "recvWall": at(recv), "recvMono": 100.0 + recv,
                             "stream": stream, "type": type_, "object": copy.deepcopy(obj)})
        return self

    def stop(self, recv: float) -> list[dict[str, Any]]:
        self.records.append({"seq": len(self.records) + 1, "recvWall": at(recv), "recvMono": 100.0 + recv,
                             "type": "RECORDING_STOPPED", "why": "duration"})
        return self.records


SLICES, CLAIMS, CLASSES = ("resource.k8s.io/v1/resourceslices", "resource.k8s.io/v1/resourceclaims",
                           "resource.k8s.io/v1/deviceclasses")
PODS, NODES = "core/v1/pods", "core/v1/nodes"


def evidence(name: str) -> list[dict[str, Any]]:
    """Every Kubernetes object in a conformance transcript's YAML blocks."""
    path = DATA / name
    if not path.is_file():
        pytest.skip(f"shared data not present (../shared/data): {path}")
    objs: list[dict[str, Any]] = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S):
        heredocs = re.findall(r"<<'?EOF'?[^\n]*\n(.*?)\nEOF", block, flags=re.S)
        for body in heredocs or [block]:
            try:
                docs = list(yaml.safe_load_all(body))
            except yaml.YAMLError:
                continue
            for d in docs:
                if isinstance(d, dict) and d.get("kind") == "List":
                    objs += [i for i in d.get("items", []) if isinstance(i, dict)]
                elif isinstance(d, dict) and "kind" in d:
                    objs.append(d)
    return objs


def node(name: str, ready_at: str = "2026-07-06T13:00:00Z") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "uid": f"uid-{name}"},
            "status": {"allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"},
                       "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": ready_at}]}}


def pod(name: str, ns: str, node_name: str | None, claims: list[dict[str, Any]],
        created: str = "2026-07-06T13:16:18Z", phase: str = "Pending") -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "uid": f"uid-{name}", "creationTimestamp": created},
        "spec": {"containers": [{"name": "ctr", "resources": {"claims": [{"name": c["name"]} for c in claims]}}],
                 "resourceClaims": claims},
        "status": {"phase": phase}}
    if node_name:
        obj["spec"]["nodeName"] = node_name
        obj["status"]["conditions"] = [{"type": "PodScheduled", "status": "True",
                                        "lastTransitionTime": "2026-07-06T13:16:20Z"}]
    return obj


GPU_CLASS = {"apiVersion": "resource.k8s.io/v1", "kind": "DeviceClass", "metadata": {"name": "gpu.nvidia.com"},
             "spec": {"selectors": [{"cel": {"expression": "device.driver == 'gpu.nvidia.com'"}}]}}


def as_events(evs: list[dict[str, Any]]) -> list[Event]:
    return [parse_event(json.dumps(e)) for e in evs]


def statuses(evs: list[dict[str, Any]]) -> dict[str, str]:
    return {r.invariant.id: r.status for r in run_checks(as_events(evs)) if r.invariant.id in D_IDS}


# ------------------------------------------------------------------------------------------------
# the node's devices: one function, the simulator's format


def test_node_devices_payload_matches_the_simulator() -> None:
    """The normalizer's payload function and the simulator's plugin write the same NodeReady devices."""
    from sim.dra.allocator import Inventory
    from sim.dra.plugin import counters_payload, devices_payload

    slices = [ResourceSlice.model_validate({
        "metadata": {"name": "n1-gpu"},
        "spec": {"driver": "gpu.example.com", "nodeName": "n1", "pool": {"name": "n1", "generation": 2},
                 "sharedCounters": [{"name": "gpu-0-counters", "counters": {"memory": {"value": "80Gi"}}}],
                 "devices": [
                     {"name": "gpu-0", "attributes": {"model": {"string": "H100"}, "index": {"int": 0},
                                                      "driverVersion": {"version": "1.2.3"},
                                                      "x.example.com/ok": {"bool": True}},
                      "capacity": {"memory": {"value": "80Gi", "requestPolicy": {
                          "default": "8Gi", "validRange": {"min": "8Gi", "step": "8Gi"}}}},
                      "allowMultipleAllocations": True,
                      "taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}]},
                     {"name": "mig-1g", "consumesCounters": [{"counterSet": "gpu-0-counters",
                                                              "counters": {"memory": {"value": "10Gi"}}}]}]}}),
        ResourceSlice.model_validate({  # an older generation of the pool: ignored
            "metadata": {"name": "n1-old"},
            "spec": {"driver": "gpu.example.com", "nodeName": "n1", "pool": {"name": "n1", "generation": 1},
                     "devices": [{"name": "stale"}]}})]
    inv = Inventory.from_slices(slices)
    devices, counters = node_devices_payload(slices)
    assert devices == devices_payload(inv)
    assert counters == counters_payload(inv)
    assert [d["device"] for d in devices] == ["gpu-0", "mig-1g"]
    assert devices[0]["attributes"] == {
        "gpu.example.com/driverVersion": {"version": "1.2.3"}, "gpu.example.com/index": {"int": 0},
        "gpu.example.com/model": {"string": "H100"}, "x.example.com/ok": {"bool": True}}
    assert counters == [{"driver": "gpu.example.com", "pool": "n1", "name": "gpu-0-counters",
                         "counters": {"memory": "85899345920"}}]  # as the simulator writes counters


# ------------------------------------------------------------------------------------------------
# the real transcripts


def test_real_vks_slices_become_node_ready_devices() -> None:
    slices = [o for o in evidence("v1.35_vks_dra_support.md") if o["kind"] == "ResourceSlice"]
    assert len(slices) == 8
    nodes = sorted({s["spec"]["nodeName"] for s in slices})
    r = Rec()
    for s in slices:
        r.add("LIST_ITEM", SLICES, s, 0.5)
    for n in nodes:
        r.add("LIST_ITEM", NODES, node(n), 0.5)
    evs, warnings = normalize(r.stop(2))
    assert warnings == []
    ready = {e["obj"]["name"]: e["data"] for e in evs if e["type"] == "NodeReady"}
    assert sorted(ready) == nodes
    one = ready["test-ai-0-node-pool-4c-zdfrn-rnkzj-lrj4k"]["devices"]
    # pools sorted by (driver, pool): compute-domain first; devices in slice order
    assert [(d["driver"], d["device"]) for d in one] == [
        ("compute-domain.nvidia.com", "daemon-0"), ("compute-domain.nvidia.com", "channel-0"),
        ("gpu.nvidia.com", "gpu-0")]
    gpu = one[2]
    assert gpu["pool"] == "test-ai-0-node-pool-4c-zdfrn-rnkzj-lrj4k"
    assert gpu["attributes"]["gpu.nvidia.com/type"] == {"string": "gpu"}
    assert all(a.startswith(("gpu.nvidia.com/", "resource.kubernetes.io/")) for a in gpu["attributes"])
    # capacity keyed as the device publishes it (the driver's own domain dropped), as consumedCapacity is
    assert set(gpu["capacity"]) == {"memory"}
    assert statuses(evs) == dict.fromkeys(D_IDS, NOT_APPLICABLE)  # devices, but no claim


def _v136_recording(extra_claim: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The v1.36 VKS transcript's two slices and its allocated template claim, with the Nodes, the
    DeviceClass and the Pod the transcript shows only as text (made to match it)."""
    objs = evidence("v1.36_vks_dra_support.md")
    slices = [o for o in objs if o["kind"] == "ResourceSlice"]
    (claim,) = [o for o in objs if o["kind"] == "ResourceClaim"]
    pod_name = claim["metadata"]["ownerReferences"][0]["name"]
    where = claim["status"]["allocation"]["devices"]["results"][0]["pool"]
    r = Rec().add("LIST_ITEM", CLASSES, GPU_CLASS, 0.5)
    for s in slices:
        r.add("LIST_ITEM", SLICES, s, 0.5)
        r.add("LIST_ITEM", NODES, node(s["spec"]["nodeName"]), 0.5)
    r.add("ADDED", PODS, pod(pod_name, "gpu-test1", None, [
        {"name": "single-gpu", "resourceClaimTemplateName": "single-gpu"}]), 18.5)
    r.add("ADDED", CLAIMS, claim, 19.5)
    r.add("MODIFIED", PODS, pod(pod_name, "gpu-test1", where, [
        {"name": "single-gpu", "resourceClaimTemplateName": "single-gpu"}]), 20.5)
    if extra_claim is not None:
        r.add("ADDED", CLAIMS, extra_claim, 21.5)
    return r.stop(40)


def test_real_vks_claim_runs_d1_to_d7() -> None:
    evs, warnings = normalize(_v136_recording())
    assert warnings == []
    claim = "dra-gpu-example-798fccd4d-sfl2p-single-gpu-d2jzk"
    created = next(e for e in evs if e["type"] == "PodCreated")
    assert created["data"]["claims"] == [claim]  # the generated name, from the claim's annotation
    made = next(e for e in evs if e["type"] == "ClaimCreated")
    assert made["data"]["deviceClasses"] == {"gpu.nvidia.com": ["device.driver == 'gpu.nvidia.com'"]}
    assert made["data"]["spec"]["devices"]["requests"][0]["exactly"]["deviceClassName"] == "gpu.nvidia.com"
    alloc = next(e for e in evs if e["type"] == "ClaimAllocated")
    assert alloc["node"] == "conformance-test-np1-qcqc8-bpdtl-wv2gs"
    assert alloc["data"] == {"devices": [{"request": "single-gpu", "driver": "gpu.nvidia.com",
                                          "pool": "conformance-test-np1-qcqc8-bpdtl-wv2gs", "device": "gpu-0"}],
                             "reservedFor": ["dra-gpu-example-798fccd4d-sfl2p"]}
    assert statuses(evs) == dict.fromkeys(D_IDS, PASSED)


def test_real_vks_claim_double_allocated_is_caught() -> None:
    objs = evidence("v1.36_vks_dra_support.md")
    (claim,) = [o for o in objs if o["kind"] == "ResourceClaim"]
    other = copy.deepcopy(claim)
    other["metadata"].update(name="intruder", uid="uid-intruder", ownerReferences=[])
    other["status"]["reservedFor"] = []
    evs, _ = normalize(_v136_recording(other))
    (f,) = check("D1", as_events(evs))
    assert f.message == ("device gpu.nvidia.com/conformance-test-np1-qcqc8-bpdtl-wv2gs/gpu-0 is allocated to claim "
                         "gpu-test1/intruder at t=19 while claim(s) gpu-test1/"
                         "dra-gpu-example-798fccd4d-sfl2p-single-gpu-d2jzk hold it")


def test_slice_for_a_node_never_ready_is_warned() -> None:
    s = {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice", "metadata": {"name": "s"},
         "spec": {"driver": "d.example.com", "nodeName": "ghost", "pool": {"name": "ghost"},
                  "devices": [{"name": "dev-0"}]}}
    _, warnings = normalize(Rec().add("LIST_ITEM", SLICES, s, 0.5).stop(1))
    assert warnings == ["ResourceSlices name node ghost, which the recording never saw Ready: their devices are "
                        "not on the timeline"]


# ------------------------------------------------------------------------------------------------
# the fake API server, recorded by the real recorder


def _slice(n: str) -> dict[str, Any]:
    return {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice", "metadata": {"name": f"{n}-gpu"},
            "spec": {"driver": "gpu.nvidia.com", "nodeName": n, "pool": {"name": n, "generation": 1,
                                                                          "resourceSliceCount": 1},
                     "devices": [{"name": f"gpu-{i}", "attributes": {"index": {"int": i},
                                                                     "productName": {"string": "H100"}},
                                  "capacity": {"memory": {"value": "80Gi"}}} for i in range(2)]}}


def _claim(name: str, pod_name: str, n: str, device: str) -> dict[str, Any]:
    return {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim",
            "metadata": {"name": name, "namespace": "ml",
                         "annotations": {"resource.kubernetes.io/pod-claim-name": "gpu"},
                         "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": pod_name,
                                              "controller": True, "uid": f"uid-{pod_name}"}]},
            "spec": {"devices": {"requests": [{"name": "gpu", "exactly": {
                "deviceClassName": "gpu.nvidia.com", "selectors": [
                    {"cel": {"expression": "device.attributes['gpu.nvidia.com'].productName == 'H100'"}}]}}]}}}


def _allocate(n: str, device: str, pod_name: str) -> Any:
    def fn(o: dict[str, Any]) -> None:
        o["status"] = {"allocation": {
            "devices": {"results": [{"request": "gpu", "driver": "gpu.nvidia.com", "pool": n, "device": device}]},
            "nodeSelector": {"nodeSelectorTerms": [{"matchFields": [
                {"key": "metadata.name", "operator": "In", "values": [n]}]}]}},
            "reservedFor": [{"resource": "pods", "name": pod_name, "uid": f"uid-{pod_name}"}]}
    return fn


def _bind(n: str) -> Any:
    def fn(o: dict[str, Any]) -> None:
        o["spec"]["nodeName"] = n
        o["status"] = {"phase": "Running", "conditions": [{"type": "PodScheduled", "status": "True"}]}
    return fn


async def _record_fake(tmp_path: Path, double: bool) -> Path:
    from validator.live.kubeclient import RestKubeClient
    from validator.live.recorder import record
    from validator.live.watch import Tuning

    api = FakeAPI(max_watch_seconds=0.5)
    await api.start()
    api.create("deviceclasses", GPU_CLASS)
    for n in ("n1", "n2"):
        api.create("nodes", node(n))
        api.create("resourceslices", _slice(n))
    client = RestKubeClient.for_host(api.url, read_timeout=1.0)
    stop = asyncio.Event()

    async def drive() -> None:
        await asyncio.sleep(0.3)
        for p, device in (("a", "gpu-0"), ("b", "gpu-1"), ("c", "gpu-0" if double else "gpu-1")):
            n = "n2" if p == "c" and not double else "n1"
            api.create("pods", {**pod(p, "ml", None, [{"name": "gpu", "resourceClaimTemplateName": "t"}]),
                                "metadata": {"name": p, "namespace": "ml", "uid": f"uid-{p}"}})
            api.create("resourceclaims", _claim(f"{p}-gpu-x1", p, n, device))
            await asyncio.sleep(0.05)
            api.update("resourceclaims", f"{p}-gpu-x1", _allocate(n, device, p), namespace="ml")
            api.update("pods", p, _bind(n), namespace="ml")
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        stop.set()

    try:
        driver = asyncio.create_task(drive())
        await record(client, tmp_path, context="fake", version="0.1.0", stop=stop, seed=1,
                     tuning=Tuning(min_watch_seconds=0.0), handle_signals=False, fsync=False)
        await driver
    finally:
        await client.close()
        await api.stop()
    out = tmp_path / "timeline.jsonl"
    normalize_file(tmp_path / "raw.jsonl", out)
    return out


@pytest.mark.parametrize("double", [False, True], ids=["legal", "double-allocation"])
async def test_recorded_fake_cluster_validates(tmp_path: Path, double: bool) -> None:
    timeline = await _record_fake(tmp_path, double)
    r = runner.invoke(app, ["validate", str(timeline), "--json", str(tmp_path / "r.json")])
    report = json.loads((tmp_path / "r.json").read_text())
    got = {c["id"]: c["status"] for c in report["checks"] if c["id"] in D_IDS}
    lines = [json.loads(x) for x in timeline.read_text().splitlines()]
    ready = {e["obj"]["name"]: [d["device"] for d in e["data"].get("devices", [])]
             for e in lines if e["type"] == "NodeReady"}
    assert ready == {"n1": ["gpu-0", "gpu-1"], "n2": ["gpu-0", "gpu-1"]}
    pods = {e["obj"]["name"]: e["data"]["claims"] for e in lines if e["type"] == "PodCreated"}
    assert pods == {"a": ["a-gpu-x1"], "b": ["b-gpu-x1"], "c": ["c-gpu-x1"]}
    if not double:
        assert r.exit_code == 0, r.output
        assert got == dict.fromkeys(D_IDS, PASSED)
    else:
        assert r.exit_code == 1, r.output
        assert got["D1"] == FAILED and {k: v for k, v in got.items() if k != "D1"} == \
            dict.fromkeys([i for i in D_IDS if i != "D1"], PASSED)
        (finding,) = next(c for c in report["checks"] if c["id"] == "D1")["findings"]
        assert finding["objects"] == ["ResourceClaim ml/c-gpu-x1", "ResourceClaim ml/a-gpu-x1"]


# ------------------------------------------------------------------------------------------------
# D3: released within the controller's latency after the last consumer ends

DRIVER = "gpu.example.com"


def _d3_timeline(release_at: float | None, end: float = 200.0, shared_until: float | None = None) -> TL:
    tl = TL()
    tl.emit(0, "NodeReady", "Node", "n1", data={"pool": "p", "labels": {}, "taints": [], "allocatable": {},
                                                "devices": [{"driver": DRIVER, "pool": "n1", "device": "gpu-0"}]})
    tl.pod("ml/a", 1)
    tl.events[-1].data["claims"] = ["shared"]
    tl.emit(1, "ClaimCreated", "ResourceClaim", "shared", "ml", data={})
    tl.emit(2, "ClaimAllocated", "ResourceClaim", "shared", "ml", node="n1", data={
        "devices": [{"request": "gpu", "driver": DRIVER, "pool": "n1", "device": "gpu-0"}], "reservedFor": ["a"]})
    tl.bind("ml/a", "n1", 2)
    consumers = ["a"]
    if shared_until is not None:
        tl.pod("ml/b", 3)
        tl.events[-1].data["claims"] = ["shared"]
        tl.emit(4, "ClaimAllocated", "ResourceClaim", "shared", "ml", node="n1", data={
            "devices": [{"request": "gpu", "driver": DRIVER, "pool": "n1", "device": "gpu-0"}],
            "reservedFor": ["a", "b"]})
        tl.bind("ml/b", "n1", 4)
        consumers.append("b")
    tl.emit(10, "PodSucceeded", "Pod", "a", "ml", node="n1")
    if shared_until is not None:
        tl.emit(shared_until, "PodSucceeded", "Pod", "b", "ml", node="n1")
    if release_at is not None:
        tl.emit(release_at, "ClaimReleased", "ResourceClaim", "shared", "ml", node="n1", data={})
    tl.run_finished(end)
    return tl


def test_d3_release_within_the_latency_passes() -> None:
    assert check("D3", _d3_timeline(release_at=10).events) == []
    assert check("D3", _d3_timeline(release_at=70).events) == []  # exactly 60 s after


def test_d3_allocation_kept_past_the_latency_is_caught() -> None:
    (f,) = check("D3", _d3_timeline(release_at=100).events)
    assert (f.invariant, f.objects, f.t) == ("D3", ("ResourceClaim ml/shared", "Pod ml/a"), 70.000001)
    assert f.message == ("claim ml/shared was still allocated at t=70, more than 60 s after its last consumer "
                         "ml/a ended at t=10")
    (never,) = check("D3", _d3_timeline(release_at=None).events)  # never released before the end
    assert never.message == f.message


def test_d3_latency_counts_from_the_last_consumer_and_not_past_the_end() -> None:
    # b keeps the shared claim in use until t=150: released at 200 is within 60 s of that
    assert check("D3", _d3_timeline(release_at=200, end=300, shared_until=150).events) == []
    (f,) = check("D3", _d3_timeline(release_at=250, end=300, shared_until=150).events)
    assert f.message.endswith("last consumer ml/b ended at t=150")
    # the deadline (t=70) is after the end of the timeline (t=50): not judged
    assert check("D3", _d3_timeline(release_at=None, end=50).events) == []
