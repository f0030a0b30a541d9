"""The scheduler framework: plugins added in one file each, profiles from the scenario, and the score
plugins kube-scheduler runs by default (TaintToleration's PreferNoSchedule, NodeAffinity's preferred
terms) — every expectation computed by hand below."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import toyplugins.odd_nodes_only
import toyplugins.prefer_high_index
from test_engine import pool, scenario, simulate, wl

from models.errors import InputError

CPU4 = {"cpu": "4", "memory": "8Gi"}


def four_nodes(workloads: list[dict[str, Any]], **sched: Any) -> dict[str, Any]:
    return scenario([pool("cpu", CPU4, count=4)], workloads, scheduler=sched) if sched else \
        scenario([pool("cpu", CPU4, count=4)], workloads)


def test_default_profile_takes_the_lowest_index_on_ties(tmp_path: Path) -> None:
    r = simulate(tmp_path, four_nodes([wl("p", {"cpu": "1"})]))
    assert r.node_of("p-0") == "cpu-0"


def test_a_filter_plugin_in_one_file(tmp_path: Path) -> None:
    sched = {"plugins": {"multiPoint": {"enabled": [{"name": "OddNodesOnly"}]}}}
    r = simulate(tmp_path, four_nodes([wl("p", {"cpu": "3"}, at=["0s"] * 3)], **sched))
    # 3-CPU pods: one per node; only cpu-1 and cpu-3 pass the toy filter
    assert [r.node_of(f"p-{i}") for i in range(2)] == ["cpu-1", "cpu-3"]
    assert r.fail_msg("p-2") == ("0/4 nodes are available: 2 Insufficient cpu, "
                                 f"2 {toyplugins.odd_nodes_only.REASON}.")


def test_a_score_plugin_in_one_file(tmp_path: Path) -> None:
    """NodeResourcesFit LeastAllocated (cpu, memory; weight 1) + PreferHighIndex (weight 1).

    An empty node scores (cpu (4-1)·100/4 = 75 + memory 100) / 2 = 87; with k 1-CPU pods already there
    cpu gives (3-k)·25 → 75, 62, 50. PreferHighIndex normalizes node index i to i·100/3 → 0, 33, 66, 100.
    Pod 0: 87+0, 87+33, 87+66, 87+100 → cpu-3. Pod 1: cpu-3 75+100 = 175 > cpu-2 153 → cpu-3. Pod 2:
    cpu-3 62+100 = 162 > 153 → cpu-3. Pod 3: cpu-3 50+100 = 150 < cpu-2 153 → cpu-2.
    """
    sched = {"plugins": {"multiPoint": {"enabled": [{"name": "PreferHighIndex", "weight": 1}]}}}
    r = simulate(tmp_path, four_nodes([wl("p", {"cpu": "1"}, at=["0s"] * 4)], **sched))
    assert [r.node_of(f"p-{i}") for i in range(4)] == ["cpu-3", "cpu-3", "cpu-3", "cpu-2"]


def test_score_weight_from_the_profile(tmp_path: Path) -> None:
    # weight 3 on PreferHighIndex: pod 3 sees cpu-3 50+300 = 350 > cpu-2 87+198 = 285 → cpu-3 takes all four
    sched = {"plugins": {"multiPoint": {"enabled": [{"name": "PreferHighIndex"}]},
                         "score": {"enabled": [{"name": "PreferHighIndex", "weight": 3}]}}}
    r = simulate(tmp_path, four_nodes([wl("p", {"cpu": "1"}, at=["0s"] * 4)], **sched))
    assert [r.node_of(f"p-{i}") for i in range(4)] == ["cpu-3"] * 4


@pytest.mark.parametrize(("plugins", "needle"), [
    ({"multiPoint": {"enabled": [{"name": "NoSuchPlugin"}]}}, "unknown scheduler plugin 'NoSuchPlugin'"),
    ({"multiPoint": {"disabled": [{"name": "NodeResourcesFit"}]}}, "NodeResourcesFit cannot be disabled"),
    ({"score": {"enabled": [{"name": "PreferHighIndex", "weight": 2}]}}, "does not run"),
])
def test_bad_profiles_are_input_errors(tmp_path: Path, plugins: dict[str, Any], needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        simulate(tmp_path, four_nodes([wl("p", {"cpu": "1"})], plugins=plugins))


PREFER = {"key": "spot", "value": "true", "effect": "PreferNoSchedule"}


@pytest.mark.parametrize(("tolerations", "node"), [
    ([], "plain-0"),                                                          # a-0 ranks lowest
    ([{"key": "spot", "operator": "Exists", "effect": "PreferNoSchedule"}], "spot-0"),  # tolerated: index wins
    ([{"key": "spot", "operator": "Exists"}], "spot-0"),                      # empty effect tolerates too
    ([{"key": "spot", "operator": "Exists", "effect": "NoSchedule"}], "plain-0"),  # wrong effect: not counted
])
def test_prefer_no_schedule_is_scored(tmp_path: Path, tolerations: list[dict[str, str]], node: str) -> None:
    sc = scenario([pool("spot", CPU4, taints=[PREFER]), pool("plain", CPU4)],
                  [wl("p", {"cpu": "1"}, tolerations=tolerations)])
    assert simulate(tmp_path, sc).node_of("p-0") == node


def test_prefer_no_schedule_weighs_three_against_resources(tmp_path: Path) -> None:
    """TaintToleration (weight 3, reversed: 100 for plain, 0 for spot → +300) outweighs NodeResourcesFit:
    plain-0 with three 1-CPU pods scores (25+100)/2 = 62 + 300 = 362 > spot-0's 87 + 0, so all four pods
    go to plain-0."""
    sc = scenario([pool("spot", CPU4, taints=[PREFER]), pool("plain", CPU4)],
                  [wl("p", {"cpu": "1"}, at=["0s"] * 4)])
    r = simulate(tmp_path, sc)
    assert [r.node_of(f"p-{i}") for i in range(4)] == ["plain-0"] * 4


def preferred(*terms: tuple[int, str, str]) -> dict[str, Any]:
    return {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": w, "preference": {"matchExpressions": [{"key": k, "operator": "In", "values": [v]}]}}
        for w, k, v in terms]}}


def test_preferred_node_affinity_is_scored(tmp_path: Path) -> None:
    """NodeAffinity (weight 2): the matching weights sum per node, normalized by the maximum.
    x: zone=x only → 10; y: zone=y, disk=ssd → 50 + 20 = 70. Normalized x 14, y 100; ×2 → 28 vs 200."""
    sc = scenario([pool("x", CPU4, labels={"zone": "x"}), pool("y", CPU4, labels={"zone": "y", "disk": "ssd"})],
                  [wl("p", {"cpu": "1"}, at=["0s"] * 2,
                      affinity=preferred((10, "zone", "x"), (50, "zone", "y"), (20, "disk", "ssd")))])
    r = simulate(tmp_path, sc)
    assert [r.node_of("p-0"), r.node_of("p-1")] == ["y-0", "y-0"]


def test_preferred_affinity_loses_when_the_preferred_node_is_full(tmp_path: Path) -> None:
    sc = scenario([pool("x", CPU4, labels={"zone": "x"}), pool("y", CPU4, labels={"zone": "y"})],
                  [wl("p", {"cpu": "3"}, at=["0s"] * 2, affinity=preferred((100, "zone", "y")))])
    r = simulate(tmp_path, sc)
    assert [r.node_of("p-0"), r.node_of("p-1")] == ["y-0", "x-0"]   # soft: never a filter
