"""DRA objects: the real ones in the AI-conformance evidence, the v1beta1/v1beta2 shapes, bad input."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from models.dra import (
    DeviceClass,
    ResourceClaim,
    ResourceClaimTemplate,
    ResourceSlice,
    parse_dra_documents,
    parse_dra_object,
)
from models.errors import InputError

EVIDENCE = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "ai-conformance-evidence"
_BLOCK = re.compile(r"```[a-z]*\n(.*?)```", re.S)
_HEREDOC = re.compile(r"<<\s*'?EOF'?[^\n]*\n(.*?)\nEOF", re.S)


def _blocks(text: str) -> list[str]:
    out = []
    for m in _BLOCK.finditer(text):
        body = m.group(1)
        docs = _HEREDOC.findall(body)
        out.extend(docs if docs else [body])
    return out


def evidence_documents() -> list[tuple[str, Any]]:
    found = []
    for f in sorted(EVIDENCE.glob("*.md")):
        for block in _blocks(f.read_text()):
            try:
                docs = list(yaml.safe_load_all(block))
            except yaml.YAMLError:
                continue  # shell transcripts, condensed output
            found.extend((f.name, d) for d in docs if isinstance(d, dict))
    return found


@pytest.mark.skipif(not EVIDENCE.is_dir(), reason=f"{EVIDENCE} is missing (the shared AI-conformance evidence)")
def test_every_dra_object_in_the_evidence_loads() -> None:
    kinds: dict[str, int] = {}
    for name, doc in evidence_documents():
        objs, warnings = parse_dra_documents([doc], file=name)
        for o in objs:
            kinds[o.kind] = kinds.get(o.kind, 0) + 1
            if isinstance(o, ResourceSlice) and o.spec.driver == "gpu.nvidia.com":
                attrs = o.spec.devices[0].qualified_attributes(o.spec.driver)
                assert attrs["gpu.nvidia.com/type"].value == "gpu"
                assert "resource.kubernetes.io/pcieRoot" in attrs
                assert attrs["gpu.nvidia.com/cudaComputeCapability"].version == "8.0.0"
        assert not [w for w in warnings if "status" in w]
    # 10 slices (8 in v1.35 vks, 2 in v1.36 vks), 2 claims, 2 templates (heredocs)
    assert kinds == {"ResourceSlice": 10, "ResourceClaim": 2, "ResourceClaimTemplate": 2}


def test_v1beta1_folds_basic_and_request_fields() -> None:
    slice_doc = {
        "apiVersion": "resource.k8s.io/v1beta1", "kind": "ResourceSlice", "metadata": {"name": "s"},
        "spec": {"driver": "gpu.example.com", "nodeName": "n1", "pool": {"name": "n1", "generation": 2},
                 "devices": [{"name": "gpu-0", "basic": {"attributes": {"model": {"string": "H100"}},
                                                         "capacity": {"memory": "80Gi"}}}]},
    }
    s, warnings = parse_dra_object(slice_doc)
    assert isinstance(s, ResourceSlice) and warnings == []
    assert s.spec.devices[0].attributes["model"].value == "H100"
    assert s.spec.devices[0].capacity["memory"].quantity.value == 80 * 2**30
    claim_doc = {
        "apiVersion": "resource.k8s.io/v1beta1", "kind": "ResourceClaim", "metadata": {"name": "c"},
        "spec": {"devices": {"requests": [{"name": "gpu", "deviceClassName": "gpu", "count": 2}]}},
    }
    c, _ = parse_dra_object(claim_doc)
    assert isinstance(c, ResourceClaim)
    r = c.spec.devices.requests[0]
    assert r.exactly is not None and r.exactly.count == 2 and r.exactly.deviceClassName == "gpu"
    assert r.alternatives()[0][0] == "gpu"


def test_v1beta2_and_v1_first_available() -> None:
    doc = {
        "apiVersion": "resource.k8s.io/v1beta2", "kind": "ResourceClaimTemplate", "metadata": {"name": "t"},
        "spec": {"spec": {"devices": {"requests": [{"name": "gpu", "firstAvailable": [
            {"name": "big", "deviceClassName": "gpu", "selectors": [
                {"cel": {"expression": 'device.capacity["gpu.example.com"].memory.compareTo(quantity("80Gi")) >= 0'}}]},
            {"name": "small", "deviceClassName": "gpu", "count": 2}]}]}}},
    }
    t, _ = parse_dra_object(doc)
    assert isinstance(t, ResourceClaimTemplate)
    assert [n for n, _ in t.spec.spec.devices.requests[0].alternatives()] == ["gpu/big", "gpu/small"]


def test_unknown_field_is_a_warning_naming_it() -> None:
    doc = {"apiVersion": "resource.k8s.io/v1", "kind": "DeviceClass", "metadata": {"name": "gpu", "uid": "x"},
           "spec": {"selectors": [], "suitableNodes": {}}}
    obj, warnings = parse_dra_object(doc, file="f.yaml")
    assert isinstance(obj, DeviceClass)
    assert warnings == ["spec.suitableNodes: field is not modelled by kubetwin and is ignored"]


def test_bad_cel_names_object_field_and_message() -> None:
    doc = {"apiVersion": "resource.k8s.io/v1", "kind": "DeviceClass", "metadata": {"name": "gpu"},
           "spec": {"selectors": [{"cel": {"expression": 'device.driver == '}}]}}
    with pytest.raises(InputError) as e:
        parse_dra_object(doc, file="classes.yaml")
    text = str(e.value)
    assert text.startswith("classes.yaml: spec.selectors[0].cel.expression: DeviceClass gpu: CEL selector")
    assert "Syntax error" in text


@pytest.mark.parametrize(("doc", "field"), [
    ({"apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice", "metadata": {"name": "s"},
      "spec": {"driver": "d", "pool": {"name": "p"}, "devices": [{"name": "g", "attributes": {"a": {}}}]}},
     "spec.devices[0].attributes.a"),
    ({"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim", "metadata": {"name": "c"},
      "spec": {"devices": {"requests": [{"name": "r", "exactly": {"deviceClassName": "g", "count": 0}}]}}},
     "spec.devices.requests[0].exactly.count"),
    ({"apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice", "metadata": {"name": "s"},
      "spec": {"driver": "d", "pool": {"name": "p"}, "devices": [{"name": "g", "capacity": {"m": {"value": "lots"}}}]}},
     "spec.devices[0].capacity.m.value"),
    ({"apiVersion": "resource.k8s.io/v2", "kind": "ResourceSlice", "metadata": {"name": "s"}, "spec": {}},
     "apiVersion"),
])
def test_malformed_names_the_field(doc: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as e:
        parse_dra_object(doc, file="x.yaml")
    assert e.value.file == "x.yaml"
    assert e.value.field == field


def test_shorthand_and_per_node_template() -> None:
    from models.dra import DeviceShorthand, node_slices
    short = DeviceShorthand.model_validate({"driver": "gpu.example.com", "count": 2, "namePrefix": "gpu",
                                            "attributes": {"model": "L4", "vram": 24, "mig": False,
                                                           "driverVersion": {"version": "1.2.3"}},
                                            "capacity": {"memory": "24Gi"}})
    template = ResourceSlice.model_validate({"metadata": {"name": "t"}, "spec": {
        "driver": "net.example.com", "nodeName": "template", "pool": {"name": "whatever", "generation": 3},
        "devices": [{"name": "nic-0"}]}})
    slices = node_slices([template], short, "node-7")
    assert [(s.spec.driver, s.spec.nodeName, s.spec.pool.name) for s in slices] == [
        ("net.example.com", "node-7", "node-7"), ("gpu.example.com", "node-7", "node-7")]
    gpus = slices[1].spec.devices
    assert [d.name for d in gpus] == ["gpu-0", "gpu-1"]
    assert {k: a.value for k, a in gpus[1].attributes.items()} == {
        "model": "L4", "vram": 24, "mig": False, "driverVersion": "1.2.3", "index": 1}
    assert gpus[1].attributes["mig"].bool_ is False and gpus[1].attributes["vram"].int_ == 24
    assert gpus[0].capacity["memory"].quantity.value == 24 * 2**30
    assert slices[0].spec.pool.generation == 3


def test_scenario_warnings_name_unmodelled_fields() -> None:
    from models.scenario import parse_scenario_text
    text = (Path(__file__).resolve().parents[1] / "scenarios" / "dra-mig-partitions.yaml").read_text()
    driver = "          driver: gpu.nvidia.com\n"
    text = text.replace(driver, driver + "          futureField: 1\n", 1)
    from models.dra import scenario_warnings
    sc = parse_scenario_text(text, "s.yaml")
    assert scenario_warnings(sc.spec) == [
        "spec.cluster.nodePools[0].resourceSlices[0].spec.futureField: field is not modelled by kubetwin and is "
        "ignored"]


@pytest.mark.skipif(not EVIDENCE.is_dir(), reason=f"{EVIDENCE} is missing (the shared AI-conformance evidence)")
def test_real_claims_allocate_on_real_slices() -> None:
    """The vks 1.36 node slices and the OpenShift/vks claims: one GRID A100 per node, one claim each."""
    from sim.dra.allocator import Allocator, ClaimToAllocate, Inventory, Usage
    objs = [o for name, doc in evidence_documents() for o in parse_dra_documents([doc], file=name)[0]]
    slices = [o for o in objs if isinstance(o, ResourceSlice) and o.spec.driver == "gpu.nvidia.com"]
    claims = [o for o in objs if isinstance(o, ResourceClaim)]
    gpu_class = DeviceClass.model_validate({"metadata": {"name": "gpu.nvidia.com"}, "spec": {"selectors": [
        {"cel": {"expression": "device.driver == 'gpu.nvidia.com'"}},
        {"cel": {"expression": "device.attributes['gpu.nvidia.com'].type == 'gpu'"}}]}})
    node = slices[0].spec.nodeName
    inv = Inventory.from_slices([s for s in slices if s.spec.nodeName == node])
    assert [d.ref.device for d in inv.devices] == ["gpu-0"]
    alloc, usage = Allocator(), Usage()
    first = alloc.allocate([ClaimToAllocate("a/1", claims[0].spec.devices)], {"gpu.nvidia.com": gpu_class}, inv, usage)
    assert first is not None and [r.device for r in first["a/1"]] == ["gpu-0"]
    usage.add(first["a/1"], inv.by_ref())
    assert alloc.allocate([ClaimToAllocate("b/2", claims[1].spec.devices)], {"gpu.nvidia.com": gpu_class},
                          inv, usage) is None
