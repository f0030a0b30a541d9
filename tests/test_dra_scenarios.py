"""The bundled DRA scenarios load, and their claims allocate on their nodes as hand-computed
(driven through the DynamicResources plugin by hand until the engine wiring lands)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from models.errors import InputError
from models.scenario import load_scenario, parse_scenario_text
from sim.dra.allocator import CANNOT_ALLOCATE
from sim.dra.plugin import DynamicResources
from sim.dra.setup import DRASetup, dra_setup, pod_claim_refs

ROOT = Path(__file__).resolve().parents[1]


def _setup(name: str, nodes: int = 1) -> tuple[Any, DRASetup, DynamicResources]:
    sc = load_scenario(ROOT / "scenarios" / f"{name}.yaml")
    setup = dra_setup(sc)
    assert setup is not None
    plugin = setup.plugin()
    plugin.controller.start()
    pool = sc.spec.cluster.nodePools[0].name
    for i in range(nodes):
        plugin.node_ready(i, f"{pool}-{i}", setup.slices_for(pool, f"{pool}-{i}"))
    return sc, setup, plugin


def _place(plugin: DynamicResources, sc: Any, workload: str, seq: int, node: int = 0) -> tuple[str | None, Any]:
    w = next(w for w in sc.spec.workloads if w.name == workload)
    refs, containers = pod_claim_refs(w.template)
    pod = SimpleNamespace(seq=seq, name=f"{workload}-{seq}", namespace=w.namespace)
    plugin.controller.pod_created(seq, w.namespace, pod.name, refs, containers)
    state: dict[str, Any] = {}
    assert plugin.pre_filter(pod, state) is None
    reason = plugin.filter(pod, node, state)
    if reason is None:
        assert plugin.reserve(pod, node, state) is None
        plugin.pre_bind(pod, node, state)
    return reason, pod


def test_h100_training_takes_four_gpus_on_one_pcie_root() -> None:
    sc, _, plugin = _setup("dra-h100-training")
    devices = plugin.node_ready(0, "h100-0", _setup("dra-h100-training")[1].slices_for("h100", "h100-0"))
    assert [d["device"] for d in devices] == [f"gpu-{i}" for i in range(8)]
    assert {d["pool"] for d in devices} == {"h100-0"}
    assert _place(plugin, sc, "pretrain", 1)[0] is None
    assert _place(plugin, sc, "pretrain", 2)[0] is None
    assert _place(plugin, sc, "pretrain", 3)[0] == CANNOT_ALLOCATE
    first, second = [e for e in plugin.events if e.type == "ClaimAllocated"]
    assert [d["device"] for d in first.data["devices"]] == ["gpu-0", "gpu-1", "gpu-2", "gpu-3"]
    assert [d["device"] for d in second.data["devices"]] == ["gpu-4", "gpu-5", "gpu-6", "gpu-7"]
    assert first.name == "pretrain-1-gpus" and first.data["containers"] == {"trainer": ["gpus"]}


def test_shared_inference_packs_rounded_shares() -> None:
    sc, _, plugin = _setup("dra-shared-inference")
    # 10Gi rounds up to 12Gi: two per 24Gi L4, so 8 fit on a node of four GPUs
    for seq in range(1, 9):
        reason, _ = _place(plugin, sc, "llm-8b", seq)
        assert reason is None
    assert _place(plugin, sc, "llm-8b", 9)[0] == CANNOT_ALLOCATE
    allocs = [e for e in plugin.events if e.type == "ClaimAllocated"]
    assert [a.data["devices"][0]["device"] for a in allocs] == ["gpu-0", "gpu-0", "gpu-1", "gpu-1", "gpu-2", "gpu-2",
                                                                  "gpu-3", "gpu-3"]
    assert allocs[0].data["devices"][0]["consumedCapacity"] == {"memory": "12Gi"}
    # NodeReady.data.devices[].capacity uses the same key as consumedCapacity (the name the device publishes)
    sc2, setup2, plugin2 = _setup("dra-shared-inference")
    pool = sc2.spec.cluster.nodePools[0].name
    devices = plugin2.node_ready(1, f"{pool}-1", setup2.slices_for(pool, f"{pool}-1"))
    assert {k for d in devices for k in d.get("capacity", {})} == {"memory"}
    assert {k for d in devices for k in d.get("requestPolicy", {})} == {"memory"}
    assert len({a.data["devices"][0]["shareID"] for a in allocs}) == 8


def test_mig_partitions_exclude_each_other() -> None:
    sc, _, plugin = _setup("dra-mig-partitions")
    # finetune: a 3g.40gb slice; a second finetune: the other 3g slice; then the memory slices are gone
    assert _place(plugin, sc, "finetune", 1)[0] is None
    assert _place(plugin, sc, "finetune", 2)[0] is None
    assert _place(plugin, sc, "notebooks", 3)[0] == CANNOT_ALLOCATE
    assert _place(plugin, sc, "pretrain", 4)[0] == CANNOT_ALLOCATE
    allocs = [e for e in plugin.events if e.type == "ClaimAllocated"]
    assert [(d["request"], d["device"]) for a in allocs for d in a.data["devices"]] == [
        ("mig/big", "gpu-0-mig-3g-40gb-0"), ("mig/big", "gpu-0-mig-3g-40gb-4")]
    # the first finetune ends: its 3g slice frees; a notebook takes a 1g slice; the whole GPU still cannot fit
    plugin.pod_finished(SimpleNamespace(seq=1, name="finetune-1", namespace="research"))
    assert _place(plugin, sc, "notebooks", 5)[0] is None
    assert _place(plugin, sc, "pretrain", 6)[0] == CANNOT_ALLOCATE


def test_bad_selector_in_a_scenario_names_field_and_cel_message(tmp_path: Path) -> None:
    text = (ROOT / "scenarios" / "dra-shared-inference.yaml").read_text().replace(
        "device.allowMultipleAllocations'", "device.allowMultipleAllocations &&'")
    with pytest.raises(InputError) as e:
        parse_scenario_text(text, "s.yaml")
    assert e.value.field == "spec.dra.deviceClasses[0].spec.selectors[0].cel.expression"
    assert "CEL selector does not compile" in e.value.message and "Syntax error" in e.value.message


def test_container_claim_must_exist(tmp_path: Path) -> None:
    text = (ROOT / "scenarios" / "dra-h100-training.yaml").read_text().replace(
        "claims: [{name: gpus}]", "claims: [{name: gpu}]")
    with pytest.raises(InputError) as e:
        parse_scenario_text(text, "s.yaml")
    assert "names claim 'gpu', which resourceClaims does not define" in e.value.message


def test_missing_slice_file_is_an_input_error(tmp_path: Path) -> None:
    text = (ROOT / "scenarios" / "dra-h100-training.yaml").read_text().replace(
        "manifests/dra/h100-node-slice.yaml", "nope.yaml")
    p = tmp_path / "s.yaml"
    p.write_text(text)
    sc = load_scenario(p)
    with pytest.raises(InputError) as e:
        dra_setup(sc)
    assert e.value.file == str(tmp_path / "nope.yaml")


def test_scenarios_without_dra_have_no_setup() -> None:
    assert dra_setup(load_scenario(ROOT / "scenarios" / "quickstart.yaml")) is None
