"""Invariant ``placement`` (issue 14 item 13): a bound pod tolerates its node's NoSchedule/NoExecute taints
and matches its nodeSelector and required node affinity, as kube-scheduler's filters require."""

from __future__ import annotations

from typing import Any

import pytest
from timeline_builder import TL

from validator.checks import Finding, check, run_checks
from validator.checks.placement import tolerates

GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}


def timeline(pod: dict[str, Any], *, labels: dict[str, str] | None = None,
             taints: list[dict[str, Any]] | None = None) -> TL:
    tl = TL()
    tl.emit(0, "NodeReady", "Node", "n1", data={"pool": "gpu", "labels": labels or {}, "taints": taints or [],
                                                "allocatable": {"cpu": "8"}})
    tl.emit(1, "PodCreated", "Pod", "p", "a", data={"requests": {"cpu": "1"}, "priority": 0, **pod})
    tl.bind("a/p", "n1", 2)
    return tl


def test_untolerated_noschedule_taint_is_found() -> None:
    assert check("placement", timeline({}, taints=[GPU_TAINT]).events) == [Finding(
        "placement", ("Pod a/p", "Node n1"), 2.0,
        "pod a/p was bound at t=2 to node n1 but does not tolerate taint nvidia.com/gpu=present:NoSchedule")]


def test_untolerated_noexecute_taint_is_found() -> None:
    taint = {"key": "maintenance", "effect": "NoExecute"}
    [f] = check("placement", timeline({}, taints=[taint]).events)
    assert f.message.endswith("does not tolerate taint maintenance:NoExecute")


def test_prefer_no_schedule_is_not_a_filter() -> None:
    taint = {"key": "spot", "value": "true", "effect": "PreferNoSchedule"}
    assert check("placement", timeline({}, taints=[taint]).events) == []


@pytest.mark.parametrize("toleration", [
    {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "nvidia.com/gpu", "operator": "Exists"},
    {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present"},
    {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"},
    {"operator": "Exists"},
])
def test_matching_tolerations(toleration: dict[str, Any]) -> None:
    assert tolerates(toleration, GPU_TAINT)
    assert check("placement", timeline({"tolerations": [toleration]}, taints=[GPU_TAINT]).events) == []


@pytest.mark.parametrize("toleration", [
    {"key": "nvidia.com/gpu", "operator": "Equal", "value": "absent"},
    {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoExecute"},
    {"key": "other", "operator": "Exists"},
])
def test_non_matching_tolerations(toleration: dict[str, Any]) -> None:
    assert not tolerates(toleration, GPU_TAINT)
    assert len(check("placement", timeline({"tolerations": [toleration]}, taints=[GPU_TAINT]).events)) == 1


def test_node_selector_mismatch_names_label_and_value() -> None:
    tl = timeline({"nodeSelector": {"accel": "h100"}}, labels={"accel": "a100"})
    [f] = check("placement", tl.events)
    assert f.message == "pod a/p was bound at t=2 to node n1 but does not match its nodeSelector accel=h100 " \
                        "(node has a100)"


def test_node_selector_missing_label() -> None:
    [f] = check("placement", timeline({"nodeSelector": {"accel": "h100"}}).events)
    assert "(node has no such label)" in f.message


def test_node_selector_match_passes() -> None:
    assert check("placement", timeline({"nodeSelector": {"accel": "h100"}}, labels={"accel": "h100"}).events) == []


def affinity(*terms: list[dict[str, Any]]) -> dict[str, Any]:
    return {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": t} for t in terms]}}}}


@pytest.mark.parametrize(("terms", "ok"), [
    ([[{"key": "gen", "operator": "In", "values": ["hopper"]}]], True),
    ([[{"key": "gen", "operator": "In", "values": ["ampere"]}]], False),
    ([[{"key": "gen", "operator": "NotIn", "values": ["ampere"]}]], True),
    ([[{"key": "zone", "operator": "Exists"}]], False),
    ([[{"key": "zone", "operator": "DoesNotExist"}]], True),
    ([[{"key": "mem", "operator": "Gt", "values": ["79"]}]], True),
    ([[{"key": "mem", "operator": "Lt", "values": ["79"]}]], False),
    # terms are ORed, expressions ANDed
    ([[{"key": "gen", "operator": "In", "values": ["ampere"]}],
      [{"key": "gen", "operator": "In", "values": ["hopper"]}]], True),
    ([[{"key": "gen", "operator": "In", "values": ["hopper"]}, {"key": "zone", "operator": "Exists"}]], False),
])
def test_required_node_affinity(terms: list[list[dict[str, Any]]], ok: bool) -> None:
    found = check("placement", timeline(affinity(*terms), labels={"gen": "hopper", "mem": "80"}).events)
    assert (found == []) is ok


def test_latest_node_ready_wins_and_status() -> None:
    tl = timeline({"tolerations": []}, taints=[GPU_TAINT])
    results = {r.invariant.id: r.status for r in run_checks(tl.events)}
    assert results["placement"] == "failed"
    tl2 = TL()
    tl2.emit(0, "NodeReady", "Node", "n1", data={"labels": {}, "taints": [GPU_TAINT]})
    tl2.emit(1, "NodeReady", "Node", "n1", data={"labels": {}, "taints": []})  # taint removed
    tl2.emit(1, "PodCreated", "Pod", "p", "a", data={"requests": {"cpu": "1"}})
    tl2.bind("a/p", "n1", 2)
    assert check("placement", tl2.events) == []


def test_not_applicable_without_binds() -> None:
    tl = TL()
    tl.emit(0, "NodeReady", "Node", "n1", data={"labels": {}, "taints": [GPU_TAINT]})
    results = {r.invariant.id: r.status for r in run_checks(tl.events)}
    assert results["placement"] == "not-applicable"
