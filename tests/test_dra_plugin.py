"""The DynamicResources plugin and the claim lifecycle, driven by hand as the engine will."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from models.dra import DeviceClass, ResourceClaim, ResourceClaimTemplate, ResourceSlice
from sim.dra.allocator import CANNOT_ALLOCATE
from sim.dra.claims import ClaimController, ContainerClaims, PodClaimRef
from sim.dra.plugin import NOT_AVAILABLE, DynamicResources
from sim.framework import SKIP, Filter, PreBind, PreFilter, Reserve

DRIVER = "gpu.nvidia.com"


def slices(node: str, n: int = 2) -> list[ResourceSlice]:
    return [ResourceSlice.model_validate({"metadata": {"name": f"{node}-gpu"}, "spec": {
        "driver": DRIVER, "nodeName": node, "pool": {"name": node, "generation": 1, "resourceSliceCount": 1},
        "devices": [{"name": f"gpu-{i}", "attributes": {"index": {"int": i}}} for i in range(n)]}})]


CLASS = DeviceClass.model_validate({"metadata": {"name": "gpu.nvidia.com"}, "spec": {
    "selectors": [{"cel": {"expression": f'device.driver == "{DRIVER}"'}}], "extendedResourceName": "nvidia.com/gpu"}})
TEMPLATE = ResourceClaimTemplate.model_validate({"metadata": {"name": "one-gpu", "namespace": "ml"}, "spec": {"spec": {
    "devices": {"requests": [{"name": "gpu", "exactly": {"deviceClassName": "gpu.nvidia.com"}}]}}}})
SHARED = ResourceClaim.model_validate({"metadata": {"name": "shared", "namespace": "ml"}, "spec": {
    "devices": {"requests": [{"name": "gpu", "exactly": {"deviceClassName": "gpu.nvidia.com", "count": 2}}]}}})


def pod(seq: int, name: str) -> Any:
    return SimpleNamespace(seq=seq, name=name, namespace="ml")


def setup() -> DynamicResources:
    plugin = DynamicResources([CLASS], ClaimController([TEMPLATE], [SHARED], [CLASS]))
    assert [e.name for e in plugin.controller.start()] == ["shared"]
    devices = plugin.node_ready(0, "n0", slices("n0"))
    assert devices[0] == {"driver": DRIVER, "pool": "n0", "device": "gpu-0",
                          "attributes": {f"{DRIVER}/index": {"int": 0}}}
    plugin.node_ready(1, "n1", slices("n1"))
    return plugin


def schedule(plugin: DynamicResources, p: Any, node: int) -> str | None:
    state: dict[str, Any] = {}
    pre = plugin.pre_filter(p, state)
    assert pre is None, pre
    reason = plugin.filter(p, node, state)
    if reason is not None:
        return reason
    assert plugin.reserve(p, node, state) is None
    plugin.pre_bind(p, node, state)
    return None


def test_implements_the_framework_protocols() -> None:
    plugin = setup()
    assert isinstance(plugin, PreFilter) and isinstance(plugin, Filter)
    assert isinstance(plugin, Reserve) and isinstance(plugin, PreBind)
    assert plugin.depends == frozenset({"state"}) and plugin.name == "DynamicResources"


def test_template_claims_lifecycle() -> None:
    plugin = setup()
    ctl = plugin.controller
    info, events = ctl.pod_created(1, "ml", "train-0", [PodClaimRef("gpu", resourceClaimTemplateName="one-gpu")],
                                   [ContainerClaims("trainer", (("gpu", None),)), ContainerClaims("sidecar")])
    assert [(e.type, e.name, e.data["pod"]) for e in events] == [("ClaimCreated", "train-0-gpu", "train-0")]
    assert events[0].data["deviceClasses"] == {"gpu.nvidia.com": [f'device.driver == "{DRIVER}"']}
    assert events[0].data["spec"]["devices"]["requests"][0]["exactly"]["deviceClassName"] == "gpu.nvidia.com"
    assert info.payload() == {"claims": ["train-0-gpu"], "containers": [
        {"name": "trainer", "claims": [{"name": "gpu"}]}, {"name": "sidecar", "claims": []}]}
    v0 = plugin.state_version()
    assert schedule(plugin, pod(1, "train-0"), 0) is None
    assert plugin.state_version() != v0
    (ev,) = plugin.events
    assert (ev.type, ev.name, ev.node) == ("ClaimAllocated", "train-0-gpu", "n0")
    assert ev.data == {"devices": [{"request": "gpu", "driver": DRIVER, "pool": "n0", "device": "gpu-0"}],
                       "reservedFor": ["train-0"], "containers": {"trainer": ["gpu"]}}
    # a second and third pod: gpu-1 on n0, then n0 is full
    ctl.pod_created(2, "ml", "train-1", [PodClaimRef("gpu", resourceClaimTemplateName="one-gpu")])
    assert schedule(plugin, pod(2, "train-1"), 0) is None
    ctl.pod_created(3, "ml", "train-2", [PodClaimRef("gpu", resourceClaimTemplateName="one-gpu")])
    assert schedule(plugin, pod(3, "train-2"), 0) == CANNOT_ALLOCATE
    # train-0 ends: its claim is released and deleted, gpu-0 is free again
    released = plugin.pod_finished(pod(1, "train-0"))
    assert [(e.type, e.name, e.data["devices"][0]["device"]) for e in released] == [
        ("ClaimReleased", "train-0-gpu", "gpu-0")]
    assert "ml/train-0-gpu" not in ctl.claims
    assert schedule(plugin, pod(3, "train-2"), 0) is None


def test_shared_claim_outlives_its_pods_and_pins_the_node() -> None:
    plugin = setup()
    ctl = plugin.controller
    ctl.pod_created(1, "ml", "a", [PodClaimRef("gpus", resourceClaimName="shared")])
    ctl.pod_created(2, "ml", "b", [PodClaimRef("gpus", resourceClaimName="shared")])
    assert schedule(plugin, pod(1, "a"), 1) is None
    assert schedule(plugin, pod(2, "b"), 0) == NOT_AVAILABLE
    assert schedule(plugin, pod(2, "b"), 1) is None
    assert plugin.events[-1].data["reservedFor"] == ["a", "b"]
    assert plugin.pod_finished(pod(1, "a")) == []
    (rel,) = plugin.pod_finished(pod(2, "b"))
    assert rel.type == "ClaimReleased" and rel.name == "shared"
    assert ctl.claims["ml/shared"].results is None  # kept, deallocated


def test_missing_claim_and_no_claims() -> None:
    plugin = setup()
    plugin.controller.pod_created(1, "ml", "x", [PodClaimRef("gpu", resourceClaimName="nope")])
    assert plugin.pre_filter(pod(1, "x"), {}) == 'resourceclaims.resource.k8s.io "nope" not found'
    plugin.controller.pod_created(2, "ml", "y", [])
    assert plugin.pre_filter(pod(2, "y"), {}) is SKIP
    assert plugin.pre_filter(pod(3, "z"), {}) is SKIP


def test_unreserve_gives_devices_back() -> None:
    plugin = setup()
    plugin.controller.pod_created(1, "ml", "a", [PodClaimRef("gpus", resourceClaimName="shared")])
    state: dict[str, Any] = {}
    assert plugin.pre_filter(pod(1, "a"), state) is None
    assert plugin.filter(pod(1, "a"), 0, state) is None
    assert plugin.reserve(pod(1, "a"), 0, state) is None
    assert len(plugin.usage[0].exclusive) == 2
    plugin.unreserve(pod(1, "a"), 0, state)
    assert plugin.usage[0].exclusive == set()


def test_extended_resource_served_by_a_device_class() -> None:
    plugin = setup()
    assert plugin.serves("nvidia.com/gpu") and plugin.serves("deviceclass.resource.kubernetes.io/gpu.nvidia.com")
    plugin.set_extended_requests(5, {"nvidia.com/gpu": 2, "cpu": 4})
    p = pod(5, "legacy")
    assert schedule(plugin, p, 1) is None
    (ev,) = plugin.events
    assert ev.name == "legacy-extended-resources" and [d["device"] for d in ev.data["devices"]] == ["gpu-0", "gpu-1"]
    # kube-scheduler's request name: container 0, index of nvidia.com/gpu among the sorted names [cpu, nvidia.com/gpu]
    assert {d["request"] for d in ev.data["devices"]} == {"container-0-request-1"}
    plugin.set_extended_requests(6, {"nvidia.com/gpu": 1})
    assert schedule(plugin, pod(6, "other"), 1) == CANNOT_ALLOCATE
    (rel,) = plugin.pod_finished(p)
    assert rel.type == "ClaimReleased"
    assert schedule(plugin, pod(6, "other"), 1) is None


def test_a_shared_claim_in_flight_is_not_allocated_twice() -> None:
    plugin = setup()
    ctl = plugin.controller
    ctl.pod_created(1, "ml", "a", [PodClaimRef("gpus", resourceClaimName="shared")])
    ctl.pod_created(2, "ml", "b", [PodClaimRef("gpus", resourceClaimName="shared")])
    sa: dict[str, Any] = {}
    assert plugin.pre_filter(pod(1, "a"), sa) is None
    assert plugin.filter(pod(1, "a"), 1, sa) is None
    assert plugin.reserve(pod(1, "a"), 1, sa) is None  # a waits (e.g. at Permit): the claim is in flight
    sb: dict[str, Any] = {}
    assert plugin.pre_filter(pod(2, "b"), sb) is None
    assert plugin.filter(pod(2, "b"), 0, sb) == NOT_AVAILABLE
    assert plugin.filter(pod(2, "b"), 1, sb) is None
    assert plugin.reserve(pod(2, "b"), 1, sb) is None
    plugin.pre_bind(pod(2, "b"), 1, sb)
    plugin.pre_bind(pod(1, "a"), 1, sa)
    assert [e.data["devices"] == plugin.events[0].data["devices"] for e in plugin.events] == [True, True]
    assert [d["device"] for d in plugin.events[0].data["devices"]] == ["gpu-0", "gpu-1"]
    assert plugin.events[-1].data["reservedFor"] == ["b", "a"]
    assert len(plugin.usage[1].exclusive) == 2
