"""The "fits nowhere" memos are only a faster way to the same answer.

A shape that found no node, and a pod for which not even removing every lower-priority pod made room,
keep that verdict until a node they may use gains free capacity (``ClusterState.grown_since``, over the
pools the shape may use: the scenarios mix shapes of one pool and shapes of several). With
``RECHECK_LIMIT`` at -1 no remembered verdict is ever trusted and every attempt searches again: random
overloaded scenarios with priorities (pods queue, back off, preempt) must give byte-identical timelines
both ways.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sim.cluster
from kubetwin.cmd_simulate import simulate_to

WL = """
  - name: w{i}
    arrival: {{poisson: {{meanInterval: {every}s}}}}
    count: {count}
    priority: {priority}
    template: {{requests: {{cpu: "{cpu}", nvidia.com/gpu: "{gpu}"}}{selector}}}
    duration: {{exponential: {{mean: {mean}s}}}}"""
POOL = ('\n    - {{name: {name}, count: {count}, labels: {{pool: {name}}}, '
        'allocatable: {{cpu: "32", memory: 256Gi, nvidia.com/gpu: "8"}}}}')


@st.composite
def overloaded(draw: st.DrawFn) -> str:
    """One to three GPU pools; a workload asks for one pool (a nodeSelector) or may use them all."""
    pools = [f"gpu{j}" for j in range(draw(st.integers(1, 3)))]
    nodes = "".join(POOL.format(name=name, count=draw(st.integers(1, 3))) for name in pools)
    wls = "".join(WL.format(i=i, every=draw(st.integers(2, 30)), count=draw(st.integers(60, 150)),
                            priority=draw(st.sampled_from([0, 100, 500, 1000])),
                            cpu=draw(st.sampled_from(["1", "4", "8"])), gpu=draw(st.sampled_from([1, 2, 4, 8])),
                            mean=draw(st.integers(1000, 4000)),
                            selector=draw(st.sampled_from(["", *(f", nodeSelector: {{pool: {p}}}" for p in pools)])))
                  for i in range(draw(st.integers(2, 4))))
    return ("apiVersion: kubetwin.dev/v1alpha1\nkind: Scenario\nmetadata: {name: memo}\nspec:\n  seed: 3\n"
            "  duration: 4h\n  scheduler: {scoring: MostAllocated}\n  cluster:\n    nodePools:"
            f"{nodes}\n  workloads:{wls}\n")


def both_ways(path: Path, out: Path) -> tuple[bytes, bytes]:
    simulate_to(path, out / "memo", until=None)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(sim.cluster, "RECHECK_LIMIT", -1)
        simulate_to(path, out / "search", until=None)
    return (out / "memo" / "timeline.jsonl").read_bytes(), (out / "search" / "timeline.jsonl").read_bytes()


@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=overloaded())
def test_remembered_verdicts_change_no_decision(text: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    d = tmp_path_factory.mktemp("memo")
    p = d / "s.yaml"
    p.write_text(text, encoding="utf-8")
    a, b = both_ways(p, d)
    assert a == b
    assert b"FailedScheduling" in a  # the scenarios do reach the pending path


def test_the_pending_path_preempts(tmp_path: Path) -> None:
    """The scenarios above reach preemption (one fixed example, so this cannot silently stop being so)."""
    text = (
        "apiVersion: kubetwin.dev/v1alpha1\nkind: Scenario\nmetadata: {name: memo}\nspec:\n  seed: 3\n"
        "  duration: 4h\n  scheduler: {scoring: MostAllocated}\n  cluster:\n    nodePools:\n"
        "    - {name: gpu, count: 3, allocatable: {cpu: \"32\", memory: 256Gi, nvidia.com/gpu: \"8\"}}\n"
        "  workloads:" + WL.format(i=0, every=5, count=100, priority=0, cpu="1", gpu=1, mean=2000, selector="")
        + WL.format(i=1, every=20, count=40, priority=1000, cpu="8", gpu=8, mean=1000, selector="") + "\n")
    p = tmp_path / "s.yaml"
    p.write_text(text, encoding="utf-8")
    a, b = both_ways(p, tmp_path)
    assert a == b
    assert b'"type":"Preempted"' in a


def test_kept_counts_of_a_pod_with_many_requests(tmp_path: Path) -> None:
    """Shortage counts are kept one bit per requested resource per node: a pod that asks for eight
    resources (cpu, memory, pods and five extended ones), on nodes that are short of every one of them and
    then, freed and partly refilled by a smaller pod, of some, must get the same FailedScheduling texts as
    when every count is taken afresh."""
    extended = [f"example.com/r{j}" for j in range(5)]
    alloc = ", ".join(f'{r}: "2"' for r in extended)
    asks = ", ".join(f'{r}: "1"' for r in extended)
    text = (
        "apiVersion: kubetwin.dev/v1alpha1\nkind: Scenario\nmetadata: {name: memo}\nspec:\n  seed: 3\n"
        "  duration: 2h\n  cluster:\n    nodePools:\n"
        f"    - {{name: p, count: 3, allocatable: {{cpu: \"2\", memory: 8Gi, pods: \"2\", {alloc}}}}}\n"
        "  workloads:\n"
        "  - name: w\n    arrival: {poisson: {meanInterval: 30s}}\n    count: 80\n"
        f"    template: {{requests: {{cpu: \"1\", memory: 4Gi, {asks}}}}}\n"
        "    duration: {exponential: {mean: 600s}}\n"
        "  - name: filler\n    arrival: {poisson: {meanInterval: 45s}}\n    count: 60\n"
        "    template: {requests: {cpu: \"1\", memory: 1Gi}}\n"
        "    duration: {exponential: {mean: 300s}}\n")
    p = tmp_path / "s.yaml"
    p.write_text(text, encoding="utf-8")
    a, b = both_ways(p, tmp_path)
    assert a == b
    assert b"Insufficient example.com/r4" in a and b"Too many pods" in a
