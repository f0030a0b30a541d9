"""The simulator on tiny hand-written scenarios: exact placements, messages, times and summaries.

Every scenario here is small enough to work out by hand; each test asserts the exact node, time, message or
number a correct kube-scheduler model must produce. Every timeline produced here also passes the invariant
checks of ``validator.checks``.
"""

from __future__ import annotations

import gc
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kubetwin.cmd_simulate import simulate_to
from models.scenario import parse_scenario_text
from models.timeline import Event, TimelineWriter, read_timeline
from sim.build import build
from sim.engine import RUN_GC_THRESHOLDS, Simulation
from sim.plugins.noderesources import num_feasible_nodes_to_find
from sim.scheduler import Scheduler
from validator.checks import FAILED, run_checks

# --------------------------------------------------------------------------------------------- helpers


def pool(name: str, alloc: dict[str, Any], count: int = 1, labels: dict[str, str] | None = None,
         taints: list[dict[str, str]] | None = None, price: float | None = None) -> dict[str, Any]:
    p: dict[str, Any] = {"name": name, "count": count, "allocatable": alloc}
    if labels:
        p["labels"] = labels
    if taints:
        p["taints"] = taints
    if price is not None:
        p["pricePerHour"] = price
    return p


def wl(name: str, requests: dict[str, Any], *, at: list[str] | None = None, every: str | None = None,
       count: int | None = None, duration: Any = "1h", replicas: int = 1, priority: int = 0,
       namespace: str = "default", **template: Any) -> dict[str, Any]:
    w: dict[str, Any] = {"name": name, "namespace": namespace, "duration": duration,
                         "template": {"requests": requests, **template}}
    if every is not None:
        w["arrival"] = {"every": every}
        w["count"] = count if count is not None else 1
    else:
        w["arrival"] = {"at": at if at is not None else ["0s"]}
        if count is not None:
            w["count"] = count
    if replicas != 1:
        w["replicas"] = replicas
    if priority:
        w["priority"] = priority
    return w


def scenario(pools: list[dict[str, Any]], workloads: list[dict[str, Any]], duration: str = "1h",
             seed: int = 0, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "kubetwin.dev/v1alpha1", "kind": "Scenario", "metadata": {"name": "t"},
            "spec": {"seed": seed, "duration": duration, "cluster": {"nodePools": pools},
                     "workloads": workloads, **spec}}


@dataclass
class Run:
    summary: dict[str, Any]
    events: list[Event]
    raw: bytes

    def of(self, type_: str, name: str | None = None) -> list[Event]:
        return [e for e in self.events if e.type == type_ and (name is None or e.name == name)]

    def one(self, type_: str, name: str | None = None) -> Event:
        evs = self.of(type_, name)
        assert len(evs) == 1, (type_, name, [e.to_dict() for e in evs])
        return evs[0]

    def node_of(self, pod: str) -> str | None:
        return self.one("Scheduled", pod).node

    def scheduled_at(self, pod: str) -> float:
        return self.one("Scheduled", pod).t

    def fail_msg(self, pod: str) -> str | None:
        return self.of("FailedScheduling", pod)[0].reason

    @property
    def finished(self) -> Event:
        return self.events[-1]


def simulate(tmp_path: Path, sc: dict[str, Any], *, seed: int | None = None, until: float | None = None,
             check: bool = True, name: str = "timeline.jsonl") -> Run:
    s = parse_scenario_text(json.dumps(sc))
    path = tmp_path / name
    with TimelineWriter(path) as w:
        summary = Simulation(build(s, seed=seed, until=until), w).run()
    tl = read_timeline(path)
    assert tl.problems == []
    assert tl.warnings == []
    assert tl.events[0].type == "RunStarted"
    assert tl.events[-1].type == "RunFinished"
    assert [e.seq for e in tl.events] == list(range(len(tl.events)))
    if check:
        failed = [(r.invariant.id, [f.message for f in r.findings])
                  for r in run_checks(tl.events) if r.status == FAILED]
        assert failed == []
    return Run(summary, tl.events, path.read_bytes())


CPU4 = {"cpu": "4", "memory": "16Gi"}
BIG = {"cpu": "100"}   # fits nowhere below: the FailedScheduling text then lists every node's verdict

# ------------------------------------------------------------------------------------------- resources


def test_exact_fit_and_one_milli_too_many(tmp_path: Path) -> None:
    r = simulate(tmp_path, scenario([pool("a", CPU4)], [
        wl("exact", {"cpu": "4", "memory": "16Gi"}),
        wl("over", {"cpu": "4001m"}),
    ]))
    assert r.node_of("exact-0") == "a-0"
    assert r.fail_msg("over-0") == "0/1 nodes are available: 1 Insufficient cpu."


def test_fit_picks_the_only_node_with_room(tmp_path: Path) -> None:
    r = simulate(tmp_path, scenario([pool("small", {"cpu": "2", "memory": "4Gi"}),
                                     pool("big", {"cpu": "8", "memory": "32Gi"})],
                                    [wl("w", {"cpu": "3"})]))
    assert r.node_of("w-0") == "big-0"


def test_extended_resource_fit(tmp_path: Path) -> None:
    r = simulate(tmp_path, scenario(
        [pool("cpu", CPU4, count=2), pool("gpu", {**CPU4, "nvidia.com/gpu": "2"})],
        [wl("one", {"cpu": "1", "nvidia.com/gpu": "1"}, at=["0s", "0s", "0s"], duration="10m")]))
    assert [r.node_of(f"one-{i}") for i in (0, 1)] == ["gpu-0", "gpu-0"]
    assert r.fail_msg("one-2") == "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."
    assert r.scheduled_at("one-2") == 600.0


def test_every_insufficient_resource_is_counted(tmp_path: Path) -> None:
    r = simulate(tmp_path, scenario([pool("a", CPU4, count=3)], [wl("w", {"cpu": "5", "memory": "1Ti"})]))
    assert r.fail_msg("w-0") == "0/3 nodes are available: 3 Insufficient cpu, 3 Insufficient memory."


def test_requests_are_released_when_pods_finish(tmp_path: Path) -> None:
    r = simulate(tmp_path, scenario([pool("a", {"cpu": "2"})], [
        wl("w", {"cpu": "1"}, at=["0s", "0s", "0s", "0s"], duration="10m")]))
    assert [r.scheduled_at(f"w-{i}") for i in range(4)] == [0.0, 0.0, 600.0, 600.0]
    assert [e.t for e in r.of("PodSucceeded")] == [600.0, 600.0, 1200.0, 1200.0]
    assert r.finished.t == 1200.0


def test_the_run_collects_garbage_rarely_and_restores_the_thresholds(tmp_path: Path) -> None:
    """While the run steps the collector uses the run's thresholds; the caller's come back afterwards, also
    when the run fails."""
    s = parse_scenario_text(json.dumps(scenario([pool("a", {"cpu": "2"})], [
        wl("w", {"cpu": "1"}, at=["0s", "30s"], duration="1m")])))
    before = gc.get_threshold()
    assert before != RUN_GC_THRESHOLDS
    seen: list[tuple[int, ...]] = []

    def note(pod: Any) -> None:
        seen.append(gc.get_threshold())

    with TimelineWriter(tmp_path / "ok.jsonl") as w:
        sim = Simulation(build(s), w)
        sim.extend_pod_created(note)
        sim.run()
    assert seen == [RUN_GC_THRESHOLDS, RUN_GC_THRESHOLDS]
    assert gc.get_threshold() == before

    def boom(pod: Any) -> None:
        raise RuntimeError("a hook failed")

    with TimelineWriter(tmp_path / "fail.jsonl") as w:
        sim = Simulation(build(s), w)
        sim.extend_pod_created(boom)
        with pytest.raises(RuntimeError, match="a hook failed"):
            sim.run()
    assert gc.get_threshold() == before


# ------------------------------------------------------------------------------------------- selectors

def test_node_selector(tmp_path: Path) -> None:
    pools = [pool("gold", CPU4, labels={"tier": "gold"}), pool("silver", CPU4, labels={"tier": "silver"})]
    r = simulate(tmp_path, scenario(pools, [
        wl("s", {"cpu": "1"}, nodeSelector={"tier": "silver"}),
        wl("none", {"cpu": "1"}, nodeSelector={"tier": "bronze"}),
        wl("two", {"cpu": "1"}, nodeSelector={"tier": "gold", "zone": "a"}),
    ]))
    assert r.node_of("s-0") == "silver-0"
    aff = "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector."
    assert r.fail_msg("none-0") == aff
    assert r.fail_msg("two-0") == aff


AFF_POOLS = [pool("p1", CPU4, labels={"gen": "3", "zone": "a"}),
             pool("p2", CPU4, labels={"gen": "5", "zone": "b"}),
             pool("p3", CPU4)]


def required(*terms: list[dict[str, Any]]) -> dict[str, Any]:
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": t} for t in terms]}}}


def expr(key: str, op: str, *values: str) -> dict[str, Any]:
    e: dict[str, Any] = {"key": key, "operator": op}
    if values:
        e["values"] = list(values)
    return e


MISMATCH = "node(s) didn't match Pod's node affinity/selector"


@pytest.mark.parametrize(("affinity", "eligible"), [
    (required([expr("zone", "In", "b")]), ["p2-0"]),
    (required([expr("zone", "In", "a", "b")]), ["p1-0", "p2-0"]),
    (required([expr("zone", "NotIn", "a")]), ["p2-0", "p3-0"]),      # a missing label is "not in"
    (required([expr("zone", "Exists")]), ["p1-0", "p2-0"]),
    (required([expr("zone", "DoesNotExist")]), ["p3-0"]),
    (required([expr("gen", "Gt", "4")]), ["p2-0"]),                  # missing label never matches Gt/Lt
    (required([expr("gen", "Lt", "4")]), ["p1-0"]),
    (required([expr("gen", "Gt", "5")]), []),                        # strictly greater
    (required([expr("gen", "Lt", "3")]), []),
    (required([expr("zone", "In", "a")], [expr("gen", "Gt", "4")]), ["p1-0", "p2-0"]),  # terms are ORed
    (required([expr("zone", "Exists"), expr("gen", "Lt", "4")]), ["p1-0"]),            # exprs are ANDed
    (required([expr("kubernetes.io/hostname", "In", "p3-0")]), ["p3-0"]),
    (required([expr("kubernetes.io/hostname", "NotIn", "p1-0", "p3-0")]), ["p2-0"]),
    ({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["p3-0"]}]}]}}}, ["p3-0"]),
    ({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["p3-0"]}]}]}}},
     ["p1-0", "p2-0"]),
    ({"nodeAffinity": {}}, ["p1-0", "p2-0", "p3-0"]),                # no required part: no constraint
])
def test_required_node_affinity(tmp_path: Path, affinity: dict[str, Any], eligible: list[str]) -> None:
    r = simulate(tmp_path, scenario(AFF_POOLS, [wl("fits", {"cpu": "1"}, affinity=affinity),
                                                wl("big", BIG, affinity=affinity)]))
    # the small pod lands on the first eligible node (all tie); the big one reveals the eligible set
    if eligible:
        assert r.node_of("fits-0") == eligible[0]
    else:
        assert r.of("Scheduled", "fits-0") == []
    parts = []
    if eligible:
        parts.append(f"{len(eligible)} Insufficient cpu")
    if len(eligible) < 3:
        parts.append(f"{3 - len(eligible)} {MISMATCH}")
    assert r.fail_msg("big-0") == f"0/3 nodes are available: {', '.join(sorted(parts))}."


def test_node_selector_and_affinity_must_both_hold(tmp_path: Path) -> None:
    r = simulate(tmp_path, scenario(AFF_POOLS, [
        wl("both", {"cpu": "1"}, nodeSelector={"zone": "a"}, affinity=required([expr("gen", "Gt", "4")])),
        wl("ok", {"cpu": "1"}, nodeSelector={"zone": "b"}, affinity=required([expr("gen", "Gt", "4")])),
    ]))
    assert r.fail_msg("both-0") == f"0/3 nodes are available: 3 {MISMATCH}."
    assert r.node_of("ok-0") == "p2-0"


def test_node_selector_on_hostname(tmp_path: Path) -> None:
    r = simulate(tmp_path, scenario([pool("a", CPU4, count=3)], [
        wl("pin", {"cpu": "1"}, nodeSelector={"kubernetes.io/hostname": "a-2"}),
        wl("pinbig", BIG, nodeSelector={"kubernetes.io/hostname": "a-1"}),
    ]))
    assert r.node_of("pin-0") == "a-2"
    assert r.fail_msg("pinbig-0") == f"0/3 nodes are available: 1 Insufficient cpu, 2 {MISMATCH}."


def test_pod_created_carries_the_constraints(tmp_path: Path) -> None:
    aff = required([expr("zone", "In", "b")])
    tol = [{"key": "k", "operator": "Exists", "effect": "NoSchedule"}]
    r = simulate(tmp_path, scenario(AFF_POOLS, [
        wl("c", {"memory": "1536Mi", "cpu": "1.5"}, nodeSelector={"z": "1", "a": "2"}, affinity=aff,
           tolerations=tol, priority=7, namespace="ml", duration="90s")]))
    ev = r.one("PodCreated", "c-0")
    assert ev.namespace == "ml"
    assert ev.data == {"requests": {"cpu": "1500m", "memory": "1536Mi"}, "nodeSelector": {"a": "2", "z": "1"},
                       "tolerations": tol, "affinity": aff, "priority": 7, "workload": "c",
                       "runtimeSeconds": 90.0}
    assert list(ev.data["nodeSelector"]) == ["a", "z"]


# ---------------------------------------------------------------------------------------------- taints

TAINT_POOLS = [
    pool("gpu", CPU4, taints=[{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]),
    pool("infer", CPU4, taints=[{"key": "dedicated", "value": "infer", "effect": "NoExecute"}]),
    pool("prefer", CPU4, taints=[{"key": "x", "value": "y", "effect": "PreferNoSchedule"}]),
    pool("plain", CPU4),
]
GPU_TAINT = "node(s) had untolerated taint {nvidia.com/gpu: present}"
INFER_TAINT = "node(s) had untolerated taint {dedicated: infer}"


@pytest.mark.parametrize(("tolerations", "eligible"), [
    ([], ["prefer-0", "plain-0"]),   # PreferNoSchedule never filters
    ([{"key": "nvidia.com/gpu", "operator": "Exists"}], ["gpu-0", "prefer-0", "plain-0"]),
    ([{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
     ["gpu-0", "prefer-0", "plain-0"]),
    ([{"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}],
     ["gpu-0", "prefer-0", "plain-0"]),
    ([{"key": "nvidia.com/gpu", "value": "present"}], ["gpu-0", "prefer-0", "plain-0"]),  # Equal is default
    ([{"key": "nvidia.com/gpu", "operator": "Equal", "value": "absent"}], ["prefer-0", "plain-0"]),
    ([{"key": "nvidia.com/gpu", "operator": "Equal"}], ["prefer-0", "plain-0"]),   # "" != "present"
    ([{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoExecute"}], ["prefer-0", "plain-0"]),
    ([{"key": "dedicated", "operator": "Equal", "value": "infer", "effect": "NoExecute"}],
     ["infer-0", "prefer-0", "plain-0"]),
    ([{"operator": "Exists"}], ["gpu-0", "infer-0", "prefer-0", "plain-0"]),        # empty key: everything
    ([{"operator": "Exists", "effect": "NoExecute"}], ["infer-0", "prefer-0", "plain-0"]),
    ([{"key": "nvidia.com/gpu", "operator": "Exists"}, {"key": "dedicated", "operator": "Exists"}],
     ["gpu-0", "infer-0", "prefer-0", "plain-0"]),
])
def test_taints_and_tolerations(tmp_path: Path, tolerations: list[dict[str, str]],
                                eligible: list[str]) -> None:
    r = simulate(tmp_path, scenario(TAINT_POOLS, [wl("fits", {"cpu": "1"}, tolerations=tolerations),
                                                  wl("big", BIG, tolerations=tolerations)]))
    # PreferNoSchedule never filters, but TaintToleration's Score ranks the node with an intolerable
    # PreferNoSchedule taint lowest (none of these tolerations covers x=y), so it is never the first choice
    assert r.node_of("fits-0") == next(n for n in eligible if n != "prefer-0")
    parts = [f"{len(eligible)} Insufficient cpu"]
    if "gpu-0" not in eligible:
        parts.append(f"1 {GPU_TAINT}")
    if "infer-0" not in eligible:
        parts.append(f"1 {INFER_TAINT}")
    assert r.fail_msg("big-0") == f"0/4 nodes are available: {', '.join(sorted(parts))}."


def test_taint_without_value_prints_empty_value_and_is_tolerated_by_equal_empty(tmp_path: Path) -> None:
    spot = [pool("spot", CPU4, taints=[{"key": "spot", "effect": "NoSchedule"}])]
    r = simulate(tmp_path, scenario(spot, [
        wl("no", {"cpu": "1"}),
        wl("yes", {"cpu": "1"}, tolerations=[{"key": "spot", "operator": "Equal"}]),
    ]))
    assert r.fail_msg("no-0") == "0/1 nodes are available: 1 node(s) had untolerated taint {spot: }."
    assert r.node_of("yes-0") == "spot-0"


def test_first_untolerated_taint_is_reported(tmp_path: Path) -> None:
    two = [pool("two", CPU4, taints=[{"key": "a", "value": "1", "effect": "NoSchedule"},
                                     {"key": "b", "value": "2", "effect": "NoExecute"}])]
    r = simulate(tmp_path, scenario(two, [
        wl("none", {"cpu": "1"}),
        wl("only-a", {"cpu": "1"}, tolerations=[{"key": "a", "operator": "Exists"}]),
    ]))
    assert r.fail_msg("none-0") == "0/1 nodes are available: 1 node(s) had untolerated taint {a: 1}."
    assert r.fail_msg("only-a-0") == "0/1 nodes are available: 1 node(s) had untolerated taint {b: 2}."


def test_taints_filter_before_affinity_and_resources(tmp_path: Path) -> None:
    # a tainted node that also mismatches the selector and lacks cpu counts once, under its taint
    pools = [pool("gpu", CPU4, count=2, labels={"zone": "a"},
                  taints=[{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]),
             pool("cpu", CPU4, count=3, labels={"zone": "a"}), pool("other", CPU4, labels={"zone": "b"})]
    r = simulate(tmp_path, scenario(pools, [wl("w", BIG, nodeSelector={"zone": "a"})]))
    assert r.fail_msg("w-0") == (f"0/6 nodes are available: 1 {MISMATCH}, 2 {GPU_TAINT}, "
                                 "3 Insufficient cpu.")


def test_fit_error_reasons_sorted_as_strings(tmp_path: Path) -> None:
    # kube-scheduler's FitError sorts "<count> <reason>" strings: "10 …" sorts before "2 …"
    pools = [pool("gpu", CPU4, count=10, taints=[{"key": "nvidia.com/gpu", "value": "present",
                                                  "effect": "NoSchedule"}]),
             pool("cpu", {"cpu": "2"}, count=2)]
    r = simulate(tmp_path, scenario(pools, [wl("w", {"cpu": "3"})]))
    assert r.fail_msg("w-0") == f"0/12 nodes are available: 10 {GPU_TAINT}, 2 Insufficient cpu."


def test_quickstart_shaped_fit_error(tmp_path: Path) -> None:
    pools = [pool("h100", {"cpu": "208", "memory": "1800Gi", "nvidia.com/gpu": "8"}, count=4,
                  labels={"cloud.google.com/gke-accelerator": "nvidia-h100-80gb"},
                  taints=[{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]),
             pool("cpu", {"cpu": "32", "memory": "128Gi"}, count=8)]
    tol = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    r = simulate(tmp_path, scenario(pools, [
        wl("fill", {"nvidia.com/gpu": "8"}, at=["0s"] * 4, tolerations=tol),
        wl("late", {"nvidia.com/gpu": "1"}, tolerations=tol),
        wl("untol", {"nvidia.com/gpu": "1"}),
    ]))
    assert sorted(r.node_of(f"fill-{i}") or "" for i in range(4)) == ["h100-0", "h100-1", "h100-2", "h100-3"]
    assert r.fail_msg("late-0") == "0/12 nodes are available: 12 Insufficient nvidia.com/gpu."
    assert r.fail_msg("untol-0") == f"0/12 nodes are available: 4 {GPU_TAINT}, 8 Insufficient nvidia.com/gpu."
    ev = r.one("FailedScheduling", "late-0")
    assert (ev.t, ev.node, ev.data) == (0.0, None, {"attempts": 1})


# --------------------------------------------------------------------------------------------- scoring

def _spread(tmp_path: Path, scoring: str) -> list[str | None]:
    r = simulate(tmp_path, scenario([pool("a", {"cpu": "4", "memory": "8Gi"}, count=3)],
                                    [wl("p", {"cpu": "1", "memory": "1Gi"}, every="0s", count=5)],
                                    scheduler={"scoring": scoring}))
    return [r.node_of(f"p-{i}") for i in range(5)]


def test_least_allocated_spreads(tmp_path: Path) -> None:
    assert _spread(tmp_path, "LeastAllocated") == ["a-0", "a-1", "a-2", "a-0", "a-1"]


def test_most_allocated_packs(tmp_path: Path) -> None:
    assert _spread(tmp_path, "MostAllocated") == ["a-0", "a-0", "a-0", "a-0", "a-1"]


def test_default_scoring_is_least_allocated(tmp_path: Path) -> None:
    r = simulate(tmp_path, scenario([pool("a", {"cpu": "4", "memory": "8Gi"}, count=3)],
                                    [wl("p", {"cpu": "1", "memory": "1Gi"}, every="0s", count=5)]))
    assert [r.node_of(f"p-{i}") for i in range(5)] == ["a-0", "a-1", "a-2", "a-0", "a-1"]


SHAPES = [pool("a", {"cpu": "4", "nvidia.com/gpu": "8"}), pool("b", {"cpu": "16", "nvidia.com/gpu": "2"})]


@pytest.mark.parametrize(("scoring", "resources", "node"), [
    # LeastAllocated: a scores cpu 75, gpu 87; b scores cpu 93, gpu 50
    ("LeastAllocated", None, "b-0"),                                 # cpu+memory by default; memory absent
    ("LeastAllocated", [{"name": "nvidia.com/gpu"}], "a-0"),
    ("LeastAllocated", [{"name": "cpu", "weight": 1}, {"name": "nvidia.com/gpu", "weight": 3}], "a-0"),
    ("LeastAllocated", [{"name": "cpu", "weight": 3}, {"name": "nvidia.com/gpu", "weight": 1}], "b-0"),
    # MostAllocated: a scores cpu 25, gpu 12; b scores cpu 6, gpu 50
    ("MostAllocated", None, "a-0"),
    ("MostAllocated", [{"name": "nvidia.com/gpu"}], "b-0"),
    ("MostAllocated", [{"name": "cpu", "weight": 4}, {"name": "nvidia.com/gpu", "weight": 1}], "a-0"),
    ("MostAllocated", [{"name": "cpu", "weight": 1}, {"name": "nvidia.com/gpu", "weight": 1}], "b-0"),
])
def test_resource_weights(tmp_path: Path, scoring: str, resources: list[dict[str, Any]] | None,
                          node: str) -> None:
    sched: dict[str, Any] = {"scoring": scoring}
    if resources is not None:
        sched["resources"] = resources
    r = simulate(tmp_path, scenario(SHAPES, [wl("p", {"cpu": "1", "nvidia.com/gpu": "1"})], scheduler=sched))
    assert r.node_of("p-0") == node


def test_integer_score_ties_go_to_the_first_node(tmp_path: Path) -> None:
    # (200-10)*100//200 == (201-10)*100//201 == 95: an integer tie although b has more room left
    r = simulate(tmp_path, scenario([pool("a", {"cpu": "200"}), pool("b", {"cpu": "201"})],
                                    [wl("p", {"cpu": "10"})], scheduler={"resources": [{"name": "cpu"}]}))
    assert r.node_of("p-0") == "a-0"
    # (400-10)*100//400 == 97 > 95
    r2 = simulate(tmp_path, scenario([pool("a", {"cpu": "200"}), pool("b", {"cpu": "400"})],
                                     [wl("p", {"cpu": "10"})], scheduler={"resources": [{"name": "cpu"}]}),
                  name="2.jsonl")
    assert r2.node_of("p-0") == "b-0"


def test_num_feasible_nodes_to_find() -> None:
    assert num_feasible_nodes_to_find(50, 0) == 50
    assert num_feasible_nodes_to_find(99, 10) == 99
    assert num_feasible_nodes_to_find(100, 0) == 100
    assert num_feasible_nodes_to_find(1000, 0) == 420      # 50 - 1000/125 = 42 %
    assert num_feasible_nodes_to_find(5000, 0) == 500      # 50 - 40 = 10 %
    assert num_feasible_nodes_to_find(10000, 0) == 500     # floor of 5 %
    assert num_feasible_nodes_to_find(1000, 1) == 100      # never below 100
    assert num_feasible_nodes_to_find(1000, 30) == 300
    assert num_feasible_nodes_to_find(1000, 100) == 1000


# --------------------------------------------------------------------------------------------- retries

ONE_CPU = [pool("a", {"cpu": "1"})]


def test_blocked_pod_scheduled_when_capacity_frees(tmp_path: Path) -> None:
    # failed at t=0 (backoff until 1 s, long past): scheduled the instant the hog finishes
    r = simulate(tmp_path, scenario(ONE_CPU, [wl("hog", {"cpu": "1"}, duration="100s"),
                                              wl("late", {"cpu": "1"}, duration="1s")]))
    assert r.scheduled_at("late-0") == 100.0
    assert r.summary["waitSeconds"]["max"] == 100.0


def test_blocked_pod_waits_out_its_backoff(tmp_path: Path) -> None:
    # failed at 99.5 s → backoff until 100.5 s; the node frees at 100 s; kube-scheduler retries at 100.5
    r = simulate(tmp_path, scenario(ONE_CPU, [wl("hog", {"cpu": "1"}, duration="100s"),
                                              wl("late", {"cpu": "1"}, at=["99.5s"], duration="1s")]))
    assert r.one("FailedScheduling", "late-0").t == 99.5
    assert r.scheduled_at("late-0") == 100.5
    assert r.finished.t == 101.5
    assert r.finished.reason == "idle"


def test_backoff_doubles_and_caps_at_10s(tmp_path: Path) -> None:
    """A waits behind a competitor each time its backoff expires: failures at 0, 1, 3, 7, 15 give backoffs
    1, 2, 4, 8 and then 10 (capped, not 16), so the retry after the node frees at 24.5 is at exactly 25."""
    r = simulate(tmp_path, scenario(ONE_CPU, [
        wl("hog", {"cpu": "1"}, duration="500ms"),
        wl("a", {"cpu": "1"}, duration="1s"),
        wl("c1", {"cpu": "1"}, at=["750ms"], duration="1750ms"),     # holds 0.75 → 2.5
        wl("c2", {"cpu": "1"}, at=["2750ms"], duration="3750ms"),    # holds 2.75 → 6.5
        wl("c3", {"cpu": "1"}, at=["6750ms"], duration="7750ms"),    # holds 6.75 → 14.5
        wl("c4", {"cpu": "1"}, at=["14750ms"], duration="9750ms"),   # holds 14.75 → 24.5
    ]))
    assert [r.scheduled_at(p) for p in ("c1-0", "c2-0", "c3-0", "c4-0")] == [0.75, 2.75, 6.75, 14.75]
    assert r.scheduled_at("a-0") == 25.0
    # identical messages aggregate into the first event, as the Kubernetes event recorder does
    assert [(e.t, e.data) for e in r.of("FailedScheduling", "a-0")] == [(0.0, {"attempts": 1})]


def test_second_failure_doubles_backoff(tmp_path: Path) -> None:
    r = simulate(tmp_path, scenario(ONE_CPU, [
        wl("hog", {"cpu": "1"}, duration="500ms"),
        wl("a", {"cpu": "1"}, duration="1s"),
        wl("z", {"cpu": "1"}, at=["750ms"], duration="1750ms"),      # holds 0.75 → 2.5
    ]))
    assert r.scheduled_at("z-0") == 0.75
    assert r.scheduled_at("a-0") == 3.0                              # failed at 0 and 1: 1 + 2 s


def test_failed_scheduling_is_emitted_again_when_the_message_changes(tmp_path: Path) -> None:
    pools = [pool("a", {"cpu": "2", "memory": "4Gi"}, count=2)]
    r = simulate(tmp_path, scenario(pools, [
        wl("h1", {"cpu": "2"}, duration="1h"),
        wl("h2", {"cpu": "1", "memory": "4Gi"}, duration="10s"),
        wl("p", {"cpu": "2", "memory": "1Gi"}, duration="1m"),
        wl("c", {"cpu": "1"}, at=["10s"], duration="1m", priority=10),   # takes half of the freed node
    ]))
    assert (r.node_of("h1-0"), r.node_of("h2-0"), r.node_of("c-0")) == ("a-0", "a-1", "a-1")
    assert [(e.t, e.reason, e.data) for e in r.of("FailedScheduling", "p-0")] == [
        (0.0, "0/2 nodes are available: 1 Insufficient memory, 2 Insufficient cpu.", {"attempts": 1}),
        (10.0, "0/2 nodes are available: 2 Insufficient cpu.", {"attempts": 2}),
    ]
    assert r.scheduled_at("p-0") == 70.0


def test_retries_are_event_driven_not_polled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    orig = Scheduler.schedule_one

    def counting(self: Scheduler, pod: Any) -> None:
        calls.append(pod.name)
        orig(self, pod)

    monkeypatch.setattr(Scheduler, "schedule_one", counting)
    r = simulate(tmp_path, scenario(ONE_CPU, [wl("hog", {"cpu": "1"}, duration="1000s"),
                                              wl("w", {"cpu": "1"}, duration="1s")]))
    assert r.scheduled_at("w-0") == 1000.0
    assert calls == ["hog-0", "w-0", "w-0"]      # one failure, one success: nothing in between


def test_capacity_elsewhere_does_not_wake_a_pod_that_cannot_use_it(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    orig = Scheduler.schedule_one

    def counting(self: Scheduler, pod: Any) -> None:
        calls.append(pod.name)
        orig(self, pod)

    monkeypatch.setattr(Scheduler, "schedule_one", counting)
    pools = [pool("gpu", {"cpu": "4", "nvidia.com/gpu": "1"}), pool("cpu", {"cpu": "4"})]
    r = simulate(tmp_path, scenario(pools, [
        wl("g", {"nvidia.com/gpu": "1"}, duration="300s"),
        wl("small", {"cpu": "1"}, every="10s", count=5, duration="5s"),   # churns the cpu pool
        wl("wait", {"nvidia.com/gpu": "1"}, duration="1s"),
    ]))
    assert r.scheduled_at("wait-0") == 300.0
    assert calls.count("wait-0") == 2


@pytest.mark.parametrize("high_cpu", ["900m", "1"], ids=["across-shapes", "within-a-shape"])
def test_priority_orders_the_queue(tmp_path: Path, high_cpu: str) -> None:
    r = simulate(tmp_path, scenario(ONE_CPU, [
        # the running hog outranks both, so DefaultPreemption cannot help: this is queue order alone
        wl("hog", {"cpu": "1"}, duration="10s", priority=100),
        wl("low", {"cpu": "1"}, at=["1s"], duration="10s"),
        wl("high", {"cpu": high_cpu}, at=["2s"], duration="10s", priority=10),
    ]))
    assert r.scheduled_at("high-0") == 10.0
    assert r.scheduled_at("low-0") == 20.0


# ---------------------------------------------------------------------------------- DefaultPreemption


def test_higher_priority_pod_preempts_and_victim_is_replaced(tmp_path: Path) -> None:
    r = simulate(tmp_path, scenario(ONE_CPU, [
        wl("batch", {"cpu": "1"}, duration="100s"),
        wl("urgent", {"cpu": "1"}, at=["10s"], duration="30s", priority=1000),
    ]))
    v = r.one("Preempted", "batch-0")
    assert (v.t, v.node, v.reason, v.data) == (10.0, "a-0", "Preempted by default/urgent-0 on node a-0",
                                               {"preemptor": "default/urgent-0"})
    assert (r.scheduled_at("urgent-0"), r.node_of("urgent-0")) == (10.0, "a-0")
    assert r.of("FailedScheduling", "urgent-0") == []
    # the owner replaces the victim; it waits for the room and starts over with its full runtime
    assert r.one("PodCreated", "batch-0-p1").t == 10.0
    assert r.scheduled_at("batch-0-p1") == 40.0
    assert r.one("PodSucceeded", "batch-0-p1").t == 140.0
    assert r.of("PodSucceeded", "batch-0") == []
    assert r.summary["pods"]["preempted"] == 1


def test_equal_priority_never_preempts(tmp_path: Path) -> None:
    r = simulate(tmp_path, scenario(ONE_CPU, [
        wl("a", {"cpu": "1"}, duration="100s", priority=5),
        wl("b", {"cpu": "1"}, at=["10s"], duration="30s", priority=5),
    ]))
    assert r.of("Preempted") == []
    assert r.scheduled_at("b-0") == 100.0


def test_victims_are_the_fewest_lowest_priority_pods(tmp_path: Path) -> None:
    # n-0 runs prio 1 + prio 2 pods, n-1 runs two prio 3 pods; the 2-cpu pod fits on n-0 by evicting
    # only the prio-1 pod (the prio-2 one is reprieved) — lower than anything n-1 would need
    r = simulate(tmp_path, scenario([pool("n", {"cpu": "4"}, count=2)], [
        wl("p3", {"cpu": "2"}, every="0s", count=2, duration="1h", priority=3),
        wl("p1", {"cpu": "2"}, at=["1s"], duration="1h", priority=1),
        wl("p2", {"cpu": "1"}, at=["2s"], duration="1h", priority=2),
        wl("big", {"cpu": "2"}, at=["3s"], duration="1m", priority=10),
    ], scheduler={"scoring": "MostAllocated"}))
    assert [r.node_of(p) for p in ("p3-0", "p3-1", "p1-0", "p2-0")] == ["n-0", "n-0", "n-1", "n-1"]
    assert [(e.name, e.node, e.t) for e in r.of("Preempted")] == [("p1-0", "n-1", 3.0)]
    assert (r.node_of("big-0"), r.scheduled_at("big-0")) == ("n-1", 3.0)


def test_gang_members_are_not_victims(tmp_path: Path) -> None:
    r = simulate(tmp_path, scenario([pool("n", {"cpu": "2"})], [
        {**wl("gang", {"cpu": "1"}, replicas=2, duration="100s"), "gang": {"policy": "coscheduling"}},
        wl("urgent", {"cpu": "1"}, at=["10s"], duration="30s", priority=1000),
    ]))
    assert r.of("Preempted") == []
    assert r.scheduled_at("urgent-0") == 100.0


# --------------------------------------------------------------------------------------------- run end

def test_run_finishes_idle_when_nothing_can_happen(tmp_path: Path) -> None:
    r = simulate(tmp_path, scenario([pool("a", CPU4)], [wl("w", {"cpu": "1"}, duration="10m")],
                                    duration="1h"))
    fin = r.finished
    assert (fin.t, fin.reason, fin.data, fin.name) == (600.0, "idle", {"pending": 0}, "t")
    assert r.summary["sim"]["endTime"] == 600.0
    assert r.summary["sim"]["endReason"] == "idle"


def test_run_finishes_idle_with_a_pod_that_can_never_fit(tmp_path: Path) -> None:
    r = simulate(tmp_path, scenario([pool("a", CPU4)], [wl("w", BIG, at=["30s"])], duration="1h"))
    assert (r.finished.t, r.finished.reason, r.finished.data) == (30.0, "idle", {"pending": 1})
    assert r.summary["pods"]["pendingAtEnd"] == 1


def test_run_finishes_at_duration_while_pods_run(tmp_path: Path) -> None:
    r = simulate(tmp_path, scenario([pool("a", CPU4)], [wl("w", {"cpu": "1"}, duration="2h")], duration="1h"))
    assert (r.finished.t, r.finished.reason, r.finished.data) == (3600.0, "duration", {"pending": 0})
    assert r.of("PodSucceeded") == []


def test_open_ended_poisson_ends_when_the_next_arrival_is_past_the_horizon(tmp_path: Path) -> None:
    w = wl("w", {"cpu": "1"}, duration="1s")
    w["arrival"] = {"poisson": {"meanInterval": "10m"}}
    r = simulate(tmp_path, scenario([pool("a", CPU4)], [w], duration="2h"))
    created = [e.t for e in r.of("PodCreated")]
    assert 3 <= len(created) <= 30
    assert created == sorted(created)
    assert all(0 < t <= 7200 for t in created)
    # the next draw falls after 2 h, so nothing can happen once the last pod is done
    assert (r.finished.t, r.finished.reason) == (created[-1] + 1.0, "idle")


def test_until_overrides_duration(tmp_path: Path) -> None:
    sc = scenario([pool("a", CPU4)], [wl("w", {"cpu": "1"}, duration="2h")], duration="12h")
    r = simulate(tmp_path, sc, until=1800.0)
    assert (r.finished.t, r.finished.reason) == (1800.0, "duration")
    assert r.events[0].data["duration"] == 1800.0


def test_every_arrivals_stop_at_the_horizon(tmp_path: Path) -> None:
    r = simulate(tmp_path, scenario([pool("a", CPU4)], [wl("w", {"cpu": "1"}, every="20m", count=10,
                                                           duration="1m")], duration="1h"))
    assert [e.t for e in r.of("PodCreated")] == [0.0, 1200.0, 2400.0, 3600.0]


# -------------------------------------------------------------------------------------- timeline shape

def test_timeline_header_nodes_and_pod_lifecycle(tmp_path: Path) -> None:
    pools = [pool("gpu", {"cpu": "8", "memory": "64Gi", "nvidia.com/gpu": "4"}, labels={"acc": "l4"},
                  taints=[{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}], price=2.5)]
    r = simulate(tmp_path, scenario(pools, [
        wl("job", {"cpu": "2", "nvidia.com/gpu": "1"}, at=["5s"], duration="1m", namespace="ml",
           tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists"}])], seed=9))
    lines = [json.loads(x) for x in r.raw.decode().splitlines()]
    assert lines[0] == {"seq": 0, "t": 0.0, "type": "RunStarted", "obj": {"kind": "Run", "name": "t"},
                        "data": {"schemaVersion": 1, "source": "sim", "seed": 9, "scenario": "t",
                                 "duration": 3600.0}}
    assert lines[1] == {"seq": 1, "t": 0.0, "type": "NodeReady", "obj": {"kind": "Node", "name": "gpu-0"},
                        "data": {"pool": "gpu", "labels": {"acc": "l4", "kubernetes.io/hostname": "gpu-0"},
                                 "taints": [{"key": "nvidia.com/gpu", "value": "present",
                                             "effect": "NoSchedule"}],
                                 "allocatable": {"cpu": "8", "memory": "64Gi", "nvidia.com/gpu": "4"},
                                 "pricePerHour": 2.5}}
    pod = {"kind": "Pod", "namespace": "ml", "name": "job-0"}
    assert lines[3] == {"seq": 3, "t": 5.0, "type": "Scheduled", "obj": pod, "node": "gpu-0",
                        "reason": "Successfully assigned ml/job-0 to gpu-0"}
    assert lines[4] == {"seq": 4, "t": 5.0, "type": "PodRunning", "obj": pod, "node": "gpu-0"}
    assert lines[5] == {"seq": 5, "t": 65.0, "type": "PodSucceeded", "obj": pod, "node": "gpu-0"}
    assert lines[6] == {"seq": 6, "t": 65.0, "type": "RunFinished", "obj": {"kind": "Run", "name": "t"},
                        "reason": "idle", "data": {"pending": 0}}
    assert [x["type"] for x in lines] == ["RunStarted", "NodeReady", "PodCreated", "Scheduled", "PodRunning",
                                          "PodSucceeded", "RunFinished"]


# ----------------------------------------------------------------------------------------- determinism

DET = scenario(
    [pool("gpu", {"cpu": "32", "memory": "256Gi", "nvidia.com/gpu": "4"}, count=3,
          taints=[{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]),
     pool("cpu", {"cpu": "16", "memory": "64Gi"}, count=4)],
    [{"name": "nb", "arrival": {"poisson": {"meanInterval": "3m"}}, "count": 60,
      "template": {"requests": {"cpu": "2", "nvidia.com/gpu": "1"},
                   "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists"}]},
      "duration": {"exponential": {"mean": "30m"}}},
     {"name": "etl", "arrival": {"poisson": {"meanInterval": "2m"}}, "count": 80,
      "template": {"requests": {"cpu": "6", "memory": "8Gi"}},
      "duration": {"lognormal": {"median": "20m", "sigma": 0.7}}},
     {"name": "train", "arrival": {"every": "40m"}, "count": 5, "replicas": 3,
      "gang": {"policy": "coscheduling"},
      "template": {"requests": {"nvidia.com/gpu": "2"},
                   "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists"}]},
      "duration": {"uniform": {"min": "10m", "max": "50m"}}}],
    duration="6h", seed=11)


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    a = simulate(tmp_path, DET, name="a.jsonl")
    b = simulate(tmp_path, DET, name="b.jsonl")
    assert a.raw == b.raw
    assert len(a.events) > 300
    assert {k: v for k, v in a.summary.items() if k != "sim"} == {k: v for k, v in b.summary.items()
                                                                   if k != "sim"}


def test_other_seed_gives_other_timeline(tmp_path: Path) -> None:
    a = simulate(tmp_path, DET, name="a.jsonl")
    c = simulate(tmp_path, DET, seed=12, name="c.jsonl")
    assert a.raw != c.raw
    assert c.events[0].data["seed"] == 12
    # the seed override equals writing that seed into the scenario
    d = simulate(tmp_path, {**DET, "spec": {**DET["spec"], "seed": 12}}, name="d.jsonl")
    assert c.raw == d.raw


def test_adding_a_workload_keeps_the_others_samples(tmp_path: Path) -> None:
    a = simulate(tmp_path, DET, name="a.jsonl")
    extra = {**DET, "spec": {**DET["spec"], "workloads": [*DET["spec"]["workloads"],
                                                          wl("zz", {"cpu": "1"}, every="1h", count=2)]}}
    b = simulate(tmp_path, extra, name="b.jsonl")

    def created(run: Run) -> list[tuple[float, str, float]]:
        return [(e.t, e.name, e.data["runtimeSeconds"]) for e in run.of("PodCreated")
                if e.data["workload"] == "nb"]

    assert created(a) == created(b)


# ----------------------------------------------------------------------------------------------- gangs

def gang_wl(name: str, requests: dict[str, Any], replicas: int, policy: str = "coscheduling",
            min_count: int | None = None, timeout: str | None = None, **kw: Any) -> dict[str, Any]:
    w = wl(name, requests, replicas=replicas, **kw)
    g: dict[str, Any] = {"policy": policy}
    if min_count is not None:
        g["minCount"] = min_count
    if timeout is not None:
        g["timeout"] = timeout
    w["gang"] = g
    return w


TWO_NODES = [pool("n", {"cpu": "4"}, count=2)]


def test_gang_fits_and_binds_together(tmp_path: Path) -> None:
    r = simulate(tmp_path, scenario(TWO_NODES, [gang_wl("train", {"cpu": "2"}, 3, duration="10m")]))
    wc = r.one("WorkloadCreated")
    assert (wc.kind, wc.namespace, wc.name, wc.group, wc.t) == ("PodGroup", "default", "train-0",
                                                                "default/train-0", 0.0)
    assert wc.data == {"policy": "coscheduling", "minCount": 3, "pods": 3, "priority": 0, "workload": "train",
                       "timeoutSeconds": 60.0, "podSets": [{"name": "main", "count": 3,
                                                            "requests": {"cpu": "2"}}]}
    names = ["train-0-0", "train-0-1", "train-0-2"]
    assert [e.name for e in r.of("PodCreated")] == names
    assert all(e.group == "default/train-0" for e in r.of("PodCreated"))
    assert [(e.name, e.t, e.group) for e in r.of("Scheduled")] == [(n, 0.0, "default/train-0") for n in names]
    assert {e.data["runtimeSeconds"] for e in r.of("PodCreated")} == {600.0}   # one runtime per gang
    assert r.of("FailedScheduling") == []
    fin = r.one("WorkloadFinished")
    assert (fin.t, fin.kind, fin.reason, fin.group) == (600.0, "PodGroup", "Succeeded", "default/train-0")


def test_gang_all_or_nothing_postfilter_rejection(tmp_path: Path) -> None:
    # 5 × 2 cpu into 8 cpu: four reserve and wait at Permit, the fifth fails; 1/5 missing is > 10 %, so
    # coscheduling's PostFilter rejects the waiting four at once and nothing is ever bound
    r = simulate(tmp_path, scenario(TWO_NODES, [gang_wl("train", {"cpu": "2"}, 5)], duration="10m"))
    assert r.of("Scheduled") == []
    assert r.of("GangTimedOut") == []
    t0 = [e for e in r.of("FailedScheduling") if e.t == 0.0]
    assert t0[0].name == "train-0-4"
    assert t0[0].reason == "0/2 nodes are available: 2 Insufficient cpu."
    assert sorted(e.name for e in t0[1:]) == ["train-0-0", "train-0-1", "train-0-2", "train-0-3"]
    assert len({e.reason for e in t0[1:]}) == 1
    assert (r.finished.t, r.finished.reason, r.finished.data) == (600.0, "duration", {"pending": 5})


def test_postfilter_rejection_message_matches_coscheduling(tmp_path: Path) -> None:
    r = simulate(tmp_path, scenario(TWO_NODES, [gang_wl("train", {"cpu": "2"}, 5)], duration="1m"))
    assert r.fail_msg("train-0-0") == "optimistic rejection in PostFilter"


def test_gang_within_ten_percent_waits_then_times_out(tmp_path: Path) -> None:
    # 10 × 1 cpu into 9 cpu: 9 wait at Permit, 1/10 missing is not > 10 %: no PostFilter reject → timeout 60 s
    r = simulate(tmp_path, scenario([pool("n", {"cpu": "9"})], [gang_wl("big", {"cpu": "1"}, 10)],
                                    duration="90s"))
    assert r.of("Scheduled") == []
    to = r.one("GangTimedOut")
    assert (to.t, to.kind, to.namespace, to.name, to.group) == (60.0, "PodGroup", "default", "big-0",
                                                                "default/big-0")
    assert to.reason == "9 pods waited 60s at Permit without reaching minCount 10"
    assert to.data == {"waitingSince": 0.0, "timeoutSeconds": 60.0, "bound": 0,
                       "waiting": [f"big-0-{i}" for i in range(9)]}
    rejected = [e for e in r.of("FailedScheduling") if e.t == 60.0]
    assert sorted(e.name for e in rejected[:9]) == [f"big-0-{i}" for i in range(9)]
    assert all(e.reason is not None and e.reason.startswith("rejected due to timeout after waiting ")
               and e.reason.endswith(" at plugin Coscheduling") for e in rejected[:9])


def test_permit_timeout_message_matches_kube_scheduler(tmp_path: Path) -> None:
    r = simulate(tmp_path, scenario([pool("n", {"cpu": "9"})], [gang_wl("big", {"cpu": "1"}, 10)],
                                    duration="90s"))
    assert r.fail_msg("big-0-0") == "rejected due to timeout after waiting 1m0s at plugin Coscheduling"


def test_coscheduling_custom_timeout(tmp_path: Path) -> None:
    r = simulate(tmp_path, scenario([pool("n", {"cpu": "9"})],
                                    [gang_wl("big", {"cpu": "1"}, 10, timeout="30s")], duration="40s"))
    to = r.one("GangTimedOut")
    assert (to.t, to.data["timeoutSeconds"]) == (30.0, 30.0)
    assert r.one("WorkloadCreated").data["timeoutSeconds"] == 30.0


def test_workload_api_gang_timeout_is_300s_and_no_postfilter(tmp_path: Path) -> None:
    r = simulate(tmp_path, scenario(TWO_NODES, [gang_wl("train", {"cpu": "2"}, 5, policy="workload-api")],
                                    duration="6m"))
    wc = r.one("WorkloadCreated")
    assert (wc.kind, wc.data["policy"], wc.data["timeoutSeconds"]) == ("Workload", "workload-api", 300.0)
    # the fifth fails; the four hold their reservations until the fixed 5-minute timeout
    assert [e.name for e in r.of("FailedScheduling") if e.t == 0.0] == ["train-0-4"]
    to = r.one("GangTimedOut")
    assert (to.t, to.kind, to.name) == (300.0, "Workload", "train-0")
    assert to.data["waiting"] == ["train-0-0", "train-0-1", "train-0-2", "train-0-3"]
    assert r.of("Scheduled") == []
    rejected = [e for e in r.of("FailedScheduling") if e.t == 300.0]
    assert len(rejected) == 4
    assert all(e.reason is not None and e.reason.endswith(" at plugin GangScheduling") for e in rejected)


def test_gang_binds_when_capacity_frees_before_timeout(tmp_path: Path) -> None:
    r = simulate(tmp_path, scenario(TWO_NODES, [
        wl("hog", {"cpu": "2"}, duration="30s"),
        gang_wl("train", {"cpu": "2"}, 4, policy="workload-api", duration="10m"),
    ]))
    assert r.of("GangTimedOut") == []
    assert [e.name for e in r.of("FailedScheduling")] == ["train-0-3"]
    sched = [(e.name, e.t) for e in r.of("Scheduled") if e.name.startswith("train")]
    assert sorted(sched) == [(f"train-0-{i}", 30.0) for i in range(4)]
    assert r.summary["waitSeconds"]["max"] == 30.0


def test_gang_min_count_below_replicas(tmp_path: Path) -> None:
    # minCount 2 of 3: two fit now and bind at once; the third binds when room appears
    r = simulate(tmp_path, scenario([pool("n", {"cpu": "4"})], [
        wl("hog", {"cpu": "2"}, duration="100s"),
        gang_wl("train", {"cpu": "1"}, 3, min_count=2, duration="1000s"),
    ]))
    assert r.one("WorkloadCreated").data["minCount"] == 2
    assert [(e.name, e.t) for e in r.of("Scheduled") if e.name.startswith("train")] == \
        [("train-0-0", 0.0), ("train-0-1", 0.0), ("train-0-2", 100.0)]


def test_gang_pod_sets(tmp_path: Path) -> None:
    w: dict[str, Any] = {"name": "mpi", "arrival": {"at": ["0s"]}, "duration": "5m",
                         "gang": {"policy": "coscheduling"},
                         "podSets": [
                             {"name": "launcher", "replicas": 1, "template": {"requests": {"cpu": "1"}}},
                             {"name": "worker", "replicas": 2, "template": {"requests": {"cpu": "3"}}}]}
    r = simulate(tmp_path, scenario(TWO_NODES, [w]))
    wc = r.one("WorkloadCreated")
    assert wc.data["minCount"] == 3
    assert wc.data["podSets"] == [{"name": "launcher", "count": 1, "requests": {"cpu": "1"}},
                                  {"name": "worker", "count": 2, "requests": {"cpu": "3"}}]
    assert [e.name for e in r.of("PodCreated")] == ["mpi-0-launcher-0", "mpi-0-worker-0", "mpi-0-worker-1"]
    assert r.one("PodCreated", "mpi-0-worker-1").data["podSet"] == "worker"
    assert {e.t for e in r.of("Scheduled")} == {0.0}
    assert len(r.of("Scheduled")) == 3


def test_gang_members_never_bind_before_all_exist(tmp_path: Path) -> None:
    r = simulate(tmp_path, scenario(TWO_NODES, [gang_wl("g", {"cpu": "1"}, 4, every="10m", count=3,
                                                        duration="1m")]))
    for inst in range(3):
        created = [e.t for e in r.of("PodCreated") if e.group == f"default/g-{inst}"]
        bound = [e.t for e in r.of("Scheduled") if e.group == f"default/g-{inst}"]
        assert created == [inst * 600.0] * 4
        assert bound == [inst * 600.0] * 4


# --------------------------------------------------------------------------------------------- summary

SUMMARY_SC = scenario(
    [pool("gpu", {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "4"}, count=2, price=10.0)],
    [wl("w1", {"cpu": "1", "nvidia.com/gpu": "4"}, duration="30m"),
     wl("w2", {"cpu": "1", "nvidia.com/gpu": "4"}, duration="30m"),
     wl("w3", {"cpu": "1", "nvidia.com/gpu": "4"}, duration="30m")],
    duration="2h", seed=5)


def test_summary_exact_values(tmp_path: Path) -> None:
    p = tmp_path / "s.yaml"
    p.write_text(json.dumps(SUMMARY_SC), encoding="utf-8")
    s = simulate_to(p, tmp_path / "out")
    assert s == json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    lines = (tmp_path / "out" / "timeline.jsonl").read_text(encoding="utf-8").splitlines()
    assert (s["scenario"], s["seed"]) == ("t", 5)
    assert s["pods"]["total"] == 3
    assert s["pods"]["scheduled"] == 3
    assert s["pods"]["pendingAtEnd"] == 0
    assert s["pods"]["succeeded"] == 3
    # waits 0, 0, 1800 (w3 waits for the first GPU node to free): numpy linear percentiles
    assert s["waitSeconds"]["p50"] == 0.0
    assert s["waitSeconds"]["p95"] == 1620.0
    assert s["waitSeconds"]["p99"] == 1764.0
    assert s["waitSeconds"]["max"] == 1800.0
    assert s["waitSeconds"]["mean"] == 600.0
    # 8 of 8 GPUs for 30 min, then 4 of 8 for 30 min; the run ends idle at 1 h
    assert s["gpu"]["allocationRatio"] == 0.75
    assert s["gpu"]["resources"] == ["nvidia.com/gpu"]
    assert s["allocationRatio"]["cpu"] == 0.094             # (2·1800 + 1·1800) / (16·3600) = 0.09375, 3 decimals
    assert s["nodes"]["peak"] == 2
    assert s["cost"]["total"] == 20.0                       # 2 nodes × 10/h × 1 h
    assert s["sim"]["events"] == len(lines) == 17
    assert s["sim"]["endTime"] == 3600.0
    assert s["sim"]["endReason"] == "idle"
    assert s["sim"]["wallSeconds"] >= 0.0  # present; speed is measured in bench/
    assert json.loads(lines[-1])["type"] == "RunFinished"
    w3 = [json.loads(x) for x in lines if '"w3-0"' in x and '"Scheduled"' in x]
    assert (w3[0]["t"], w3[0]["node"]) == (1800.0, "gpu-0")


def test_summary_counts_running_pods_to_the_end(tmp_path: Path) -> None:
    r = simulate(tmp_path, scenario(
        [pool("g", {"cpu": "8", "nvidia.com/gpu": "8"}, price=3.5), pool("c", {"cpu": "8"})],
        [wl("w", {"nvidia.com/gpu": "2"}, duration="2h"), wl("never", {"cpu": "9"})], duration="1h"))
    s = r.summary
    assert s["pods"]["total"] == 2
    assert s["pods"]["scheduled"] == 1
    assert s["pods"]["pendingAtEnd"] == 1
    assert s["pods"]["runningAtEnd"] == 1
    assert s["gpu"]["allocationRatio"] == 0.25
    assert s["cost"]["total"] == 3.5                        # the unpriced pool costs nothing
    assert s["nodes"]["peak"] == 2
    assert s["sim"]["endReason"] == "duration"


def test_summary_without_gpus_prices_or_binds(tmp_path: Path) -> None:
    r = simulate(tmp_path, scenario([pool("c", {"cpu": "2"}, count=3)], [wl("never", {"cpu": "9"})]))
    s = r.summary
    assert s["pods"]["scheduled"] == 0
    # the run ends idle at t=0 with the pod still pending: it waited 0 s, and is counted as still pending
    assert s["waitSeconds"] == {"p50": 0.0, "p95": 0.0, "p99": 0.0, "mean": 0.0, "max": 0.0, "stillPending": 1}
    assert s["gpu"]["allocationRatio"] is None
    assert s["cost"]["total"] is None
    assert s["nodes"]["peak"] == 3


def test_pods_that_never_ran_count_as_waiting_until_the_end(tmp_path: Path) -> None:
    """One pod fits no node, one runs at once for 1 h: the run ends at 1 h (idle), the first has waited
    3600 s, the second 0 s (issue: waits used to be all zeros)."""
    r = simulate(tmp_path, scenario([pool("c", {"cpu": "2"})], [wl("never", {"cpu": "9"}), wl("now", {"cpu": "1"})]))
    assert r.finished.t == 3600.0
    assert r.summary["waitSeconds"] == {"p50": 1800.0, "p95": 3420.0, "p99": 3564.0, "mean": 1800.0,
                                        "max": 3600.0, "stillPending": 1}


# -------------------------------------------------------------------------------------- suspected bugs

def test_pods_allocatable_on_one_pool_does_not_block_others(tmp_path: Path) -> None:
    r = simulate(tmp_path, scenario([pool("small", {"cpu": "1", "pods": "110"}), pool("other", {"cpu": "8"})],
                                    [wl("w", {"cpu": "2"})]))
    assert r.node_of("w-0") == "other-0"


def test_pods_allocatable_limits_pod_count(tmp_path: Path) -> None:
    r = simulate(tmp_path, scenario([pool("a", {"cpu": "8", "pods": "2"})],
                                    [wl("w", {"cpu": "1"}, at=["0s"] * 3, duration="1m")]))
    assert r.fail_msg("w-2") == "0/1 nodes are available: 1 Too many pods."
    assert r.scheduled_at("w-2") == 60.0
