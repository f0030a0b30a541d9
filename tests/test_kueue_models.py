"""models/kueue.py: Kueue objects in v1beta1 and v1beta2 shape, defaults, warnings and errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from models.errors import InputError
from models.kueue import (
    ClusterQueue,
    KueueSection,
    LocalQueue,
    ResourceFlavor,
    WaitForPodsReady,
    parse_kueue_object,
    parse_kueue_section,
)

EVIDENCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "ai-conformance-evidence"


def _cq(spec: dict[str, Any], version: str = "v1beta2") -> dict[str, Any]:
    return {"apiVersion": f"kueue.x-k8s.io/{version}", "kind": "ClusterQueue", "metadata": {"name": "cq"},
            "spec": spec}


def test_cluster_queue_defaults() -> None:
    obj, warnings = parse_kueue_object(_cq({}))
    assert isinstance(obj, ClusterQueue) and warnings == []
    s = obj.spec
    assert s.queueing_strategy == "BestEffortFIFO"
    assert (s.preemption.within_cluster_queue, s.preemption.reclaim_within_cohort,
            s.preemption.borrow_within_cohort.policy) == ("Never", "Never", "Never")
    assert (s.flavor_fungibility.when_can_borrow, s.flavor_fungibility.when_can_preempt) == (
        "MayStopSearch", "TryNextFlavor")
    assert s.cohort_ref is None


def test_cohort_field_per_version() -> None:
    v1, _ = parse_kueue_object(_cq({"cohort": "ml"}, "v1beta1"))
    v2, _ = parse_kueue_object(_cq({"cohortName": "ml"}))
    assert isinstance(v1, ClusterQueue) and isinstance(v2, ClusterQueue)
    assert v1.spec.cohort_ref == v2.spec.cohort_ref == "ml"
    _, warnings = parse_kueue_object(_cq({"cohort": "ml"}))
    assert warnings == [
        "spec.cohort: v1beta2 names the cohort spec.cohortName; spec.cohort (v1beta1) is used"]


def test_v1beta1_fungibility_words_fold_into_new_names() -> None:
    old = {"whenCanBorrow": "Borrow", "whenCanPreempt": "Preempt"}
    obj, _ = parse_kueue_object(_cq({"flavorFungibility": old}, "v1beta1"))
    assert isinstance(obj, ClusterQueue)
    assert obj.spec.flavor_fungibility.when_can_borrow == "MayStopSearch"
    assert obj.spec.flavor_fungibility.when_can_preempt == "MayStopSearch"


def test_quotas_in_milli_units() -> None:
    obj, _ = parse_kueue_object(_cq({"resourceGroups": [{"coveredResources": ["cpu", "memory"], "flavors": [
        {"name": "f", "resources": [{"name": "cpu", "nominalQuota": "1500m", "borrowingLimit": 2},
                                    {"name": "memory", "nominalQuota": "1Gi", "lendingLimit": "512Mi"}]}]}]}))
    assert isinstance(obj, ClusterQueue)
    cpu, mem = obj.spec.resource_groups[0].flavors[0].resources
    assert (cpu.nominal_milli, cpu.borrowing_limit_milli, cpu.lending_limit_milli) == (1500, 2000, None)
    assert (mem.nominal_milli, mem.lending_limit_milli) == (1024**3 * 1000, 512 * 1024**2 * 1000)


def test_bad_quantity_names_the_field() -> None:
    with pytest.raises(InputError) as e:
        parse_kueue_object(_cq({"resourceGroups": [{"coveredResources": ["cpu"], "flavors": [
            {"name": "f", "resources": [{"name": "cpu", "nominalQuota": "ten"}]}]}]}), file="q.yaml")
    assert e.value.file == "q.yaml"
    assert e.value.field == "spec.resourceGroups[0].flavors[0].resources[0].nominalQuota"
    assert "'ten' is not a quantity" in e.value.message


def test_bad_enum_names_the_field_and_choices() -> None:
    with pytest.raises(InputError) as e:
        parse_kueue_object(_cq({"preemption": {"withinClusterQueue": "Always"}}))
    assert e.value.field == "spec.preemption.withinClusterQueue"
    assert e.value.fix is not None and "LowerOrNewerEqualPriority" in e.value.fix


def test_unmodelled_fields_are_warnings_server_metadata_is_not() -> None:
    doc = _cq({"stopPolicy": "Hold", "fairSharing": {"weight": 2},
               "resourceGroups": [{"coveredResources": ["cpu"], "flavors": [
                   {"name": "f", "resources": [{"name": "cpu", "nominalQuota": 1, "extra": 1}]}]}]})
    doc["metadata"].update({"uid": "1", "resourceVersion": "2", "ownerReferences": []})
    _, warnings = parse_kueue_object(doc)
    assert warnings == [
        "spec.fairSharing: field is not modelled by kubetwin and is ignored",
        "spec.stopPolicy: field is not modelled by kubetwin and is ignored",
        "spec.resourceGroups[0].flavors[0].resources[0].extra: field is not modelled by kubetwin and is "
        "ignored",
    ]


def test_resource_flavor_and_local_queue() -> None:
    rf, _ = parse_kueue_object({"kind": "ResourceFlavor", "metadata": {"name": "h100"}, "spec": {
        "nodeLabels": {"gpu": "h100"}, "nodeTaints": [{"key": "gpu", "effect": "NoSchedule"}],
        "tolerations": [{"key": "gpu", "operator": "Exists"}], "topologyName": "t"}})
    assert isinstance(rf, ResourceFlavor)
    assert rf.spec.node_labels == {"gpu": "h100"} and rf.spec.topology_name == "t"
    assert rf.spec.node_taints[0].effect == "NoSchedule"
    lq, _ = parse_kueue_object({"kind": "LocalQueue", "metadata": {"name": "lq", "namespace": "a"},
                                "spec": {"clusterQueue": "cq"}})
    assert isinstance(lq, LocalQueue) and lq.key == "a/lq" and lq.spec.cluster_queue == "cq"
    with pytest.raises(InputError) as e:
        parse_kueue_object({"kind": "LocalQueue", "metadata": {"name": "lq"}, "spec": {}})
    assert e.value.field == "spec.clusterQueue" and e.value.message == "required field is missing"


def test_wait_for_pods_ready_defaults_on() -> None:
    w = WaitForPodsReady()
    assert w.enable is True and w.block_admission is False
    assert w.timeout_seconds == 1800 and w.recovery_timeout_seconds == 1800
    rs = w.requeuing_strategy
    assert (rs.timestamp, rs.backoff_base_seconds, rs.backoff_max_seconds, rs.backoff_limit_count) == (
        "Eviction", 60, 3600, None)
    off = WaitForPodsReady.model_validate({"enable": False, "timeout": "5m", "recoveryTimeout": "0s"})
    assert off.enable is False and off.timeout_seconds == 300 and off.recovery_timeout_seconds is None
    assert WaitForPodsReady.model_validate({"enabled": False}).enable is False


def test_bad_duration_names_the_field() -> None:
    with pytest.raises(InputError) as e:
        parse_kueue_section({"waitForPodsReady": {"timeout": "30"}}, file="s.yaml")
    assert e.value.field == "spec.kueue.waitForPodsReady.timeout"
    assert "has no unit" in e.value.message or "is not a duration" in e.value.message


def test_inline_section() -> None:
    section, warnings = parse_kueue_section({
        "resourceFlavors": [{"metadata": {"name": "f"}}],
        "clusterQueues": [{"metadata": {"name": "cq"}, "spec": {"cohortName": "c"}}],
        "localQueues": [{"metadata": {"name": "lq", "namespace": "ns"}, "spec": {"clusterQueue": "cq"}}],
        "waitForPodsReady": {"timeout": "10m", "unknownKnob": 1},
    })
    assert isinstance(section, KueueSection)
    assert [c.name for c in section.cluster_queues] == ["cq"]
    assert section.wait_for_pods_ready.timeout_seconds == 600
    assert warnings == [
        "spec.kueue.waitForPodsReady.unknownKnob: field is not modelled by kubetwin and is ignored"]


def _evidence_docs() -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    for path in sorted(EVIDENCE.glob("*gang_scheduling*.md")):
        for block in re.findall(r"```[a-z]*\n(.*?)```", path.read_text(encoding="utf-8"), re.S):
            text = "\n".join(line for line in block.splitlines() if not line.startswith(("$", "cat ", "EOF")))
            try:
                docs = list(yaml.safe_load_all(text))
            except yaml.YAMLError:
                continue
            out.extend((path.name, d) for d in docs
                       if isinstance(d, dict) and str(d.get("apiVersion", "")).startswith("kueue.x-k8s.io/"))
    return out


@pytest.mark.skipif(not EVIDENCE.is_dir(), reason=f"conformance evidence not present at {EVIDENCE}")
def test_real_conformance_evidence_objects_load() -> None:
    docs = _evidence_docs()
    kinds = sorted({d["kind"] for _, d in docs})
    assert kinds == ["ClusterQueue", "LocalQueue", "ResourceFlavor"]
    for name, doc in docs:
        obj, warnings = parse_kueue_object(doc, file=name)
        assert warnings == [], (name, warnings)
        if isinstance(obj, ClusterQueue):
            assert obj.spec.queueing_strategy == "BestEffortFIFO"
            assert obj.spec.resource_groups[0].flavors[0].name == "default-flavor"
