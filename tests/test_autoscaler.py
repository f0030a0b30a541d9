"""The cluster autoscaler controller: defaults, binpacking, expanders, the loop against hand calculation,
the real-cluster reproduction, and the CA invariants on random configurations."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubetwin.cmd_simulate import simulate_to
from models.errors import InputError
from models.scenario import load_scenario
from models.timeline import Event, read_timeline
from sim.autoscaler.estimator import fit_count, pack
from sim.autoscaler.expander import Option, choose
from sim.autoscaler.settings import settings_from
from sim.build import build
from validator.checks import run_checks

CA = ("CA1", "CA2", "CA3", "CA4", "CA5")


def scenario(pools: list[dict[str, Any]], workloads: list[dict[str, Any]], duration: str = "3h",
             autoscaler: dict[str, Any] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"seed": 1, "duration": duration, "cluster": {"nodePools": pools},
                            "workloads": workloads}
    if autoscaler is not None:
        spec["autoscaler"] = autoscaler
    return {"apiVersion": "kubetwin.dev/v1alpha1", "kind": "Scenario", "metadata": {"name": "ca"}, "spec": spec}


def run(tmp_path: Path, doc: dict[str, Any]) -> list[Event]:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    simulate_to(path, tmp_path / "out")
    tl = read_timeline(tmp_path / "out" / "timeline.jsonl")
    assert not tl.problems
    return tl.events


def gpu_pool(count: int = 2, lo: int = 1, hi: int = 4, **extra: Any) -> dict[str, Any]:
    return {"name": "gpu", "count": count, "autoscaling": {"minCount": lo, "maxCount": hi},
            "allocatable": {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "1"}, **extra}


def pods(name: str, at: list[str], duration: str, gpus: str = "1") -> dict[str, Any]:
    return {"name": name, "arrival": {"at": at}, "duration": duration,
            "template": {"requests": {"cpu": "1", "nvidia.com/gpu": gpus}}}


def of(events: list[Event], *types: str) -> list[tuple[float, str, str]]:
    return [(e.t, e.type, e.name) for e in events if e.type in types]


# ---------------------------------------------------------------------------------------------- defaults


def test_defaults_are_upstreams() -> None:
    s = settings_from(None, [], None)
    assert (s.scan_interval, s.expander, s.unneeded_time, s.delay_after_add, s.threshold,
            s.max_provision_time, s.scale_down) == (10.0, ["least-waste"], 600.0, 600.0, 0.5, 900.0, True)


def test_a_pool_with_autoscaling_turns_the_autoscaler_on(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(scenario([gpu_pool()], [])), encoding="utf-8")
    bp = build(load_scenario(path))
    assert bp.autoscaler is not None and list(bp.autoscaler.groups) == ["gpu"]
    g = bp.autoscaler.groups["gpu"]
    assert (g.min_count, g.max_count) == (1, 4)
    plain = scenario([{"name": "cpu", "count": 1, "allocatable": {"cpu": "4"}}], [])
    path.write_text(yaml.safe_dump(plain), encoding="utf-8")
    assert build(load_scenario(path)).autoscaler is None


@pytest.mark.parametrize(("pool", "autoscaler", "field"), [
    (gpu_pool(count=5, hi=4), None, "spec.cluster.nodePools[0].count"),
    (gpu_pool(), {"expander": "cheapest"}, "spec.autoscaler"),
    (gpu_pool(), {"expander": "priority"}, "spec.autoscaler"),
    ({"name": "cpu", "count": 1, "allocatable": {"cpu": "4"}, "provisioningDelay": "1m"}, None,
     "spec.cluster.nodePools[0].provisioningDelay"),
])
def test_bad_autoscaling_input_is_an_input_error(tmp_path: Path, pool: dict[str, Any],
                                                 autoscaler: dict[str, Any] | None, field: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(scenario([pool], [], autoscaler=autoscaler)), encoding="utf-8")
    with pytest.raises(InputError) as e:
        build(load_scenario(path))
    assert field in str(e.value)


# ---------------------------------------------------------------------------------------------- estimator


def test_fit_count_is_the_tightest_resource() -> None:
    assert fit_count([4000, 10], ((0, 1000), (1, 3))) == 3
    assert fit_count([4000, 10], ()) > 1 << 30


def test_binpacking_opens_nodes_up_to_the_room() -> None:
    alloc = [4000, 32 << 30]
    req = ((0, 1000),)  # 4 per node
    nodes: list[list[int]] = []
    assert pack(req, 10, nodes, alloc, room=5) == (10, 3)   # ceil(10 / 4)
    assert [n[0] for n in nodes] == [0, 0, 2000]
    nodes = []
    assert pack(req, 10, nodes, alloc, room=2) == (8, 2)    # the group's max stops it
    partly = [[2500, 0]]
    assert pack(req, 3, partly, alloc, room=1) == (3, 1)    # 2 on the partly used node, 1 on a new one
    assert pack(((0, 5000),), 1, [], alloc, room=9) == (0, 0)  # bigger than the template


# ---------------------------------------------------------------------------------------------- expanders


def option(pool: str, nodes: int, npods: int, cpu_used: int, price: float | None = None) -> Option:
    return Option(pool, nodes, list(range(npods)), [cpu_used, 0], [8000, 0], price)


def test_expanders_against_hand_calculation() -> None:
    res = ["cpu", "memory"]
    a = option("a", 2, 4, 12000, price=3.0)   # waste (16000 - 12000) / 16000 = 0.25; cost 6/4 = 1.5
    b = option("b", 1, 3, 7000, price=5.0)    # waste 1000 / 8000 = 0.125; cost 5/3 = 1.67; fewest nodes
    c = option("c", 3, 6, 12000)              # waste 0.5; most pods; no price
    rng = random.Random(0)
    assert choose([a, b, c], ["least-waste"], res, {}, rng).pool == "b"
    assert choose([a, b, c], ["most-pods"], res, {}, rng).pool == "c"
    assert choose([a, b, c], ["least-nodes"], res, {}, rng).pool == "b"
    assert choose([a, b, c], ["price"], res, {}, rng).pool == "a"
    assert choose([a, b, c], ["priority"], res, {10: ["^c$"], 5: ["a|b"]}, rng).pool == "c"
    assert choose([a, b, c], ["priority", "least-waste"], res, {5: ["a|b"]}, rng).pool == "b"
    picks = {choose([a, b, c], ["random"], res, {}, random.Random(s)).pool for s in range(40)}
    assert picks == {"a", "b", "c"}
    assert choose([a, b, c], ["random"], res, {}, random.Random(7)).pool == \
        choose([a, b, c], ["random"], res, {}, random.Random(7)).pool


# ---------------------------------------------------------------------------------------------- the loop


def test_reproduces_the_real_cluster_run(tmp_path: Path) -> None:
    """Two one-GPU nodes run two replicas; a third one-GPU pod at t=60 s stays pending until the
    autoscaler adds a node (tick at 70 s; 3 m to register + 1 m of driver start-up → Ready and running at
    310 s, about 4 min after it was created); when it ends, the extra node goes only after the 10 m
    unneeded window."""
    doc = scenario([gpu_pool(provisioningDelay="3m", driverStartupDelay="1m")],
                   [pods("serve", ["0s", "0s"], "3h"), pods("extra", ["60s"], "30m")])
    evs = run(tmp_path, doc)
    assert of(evs, "FailedScheduling", "TriggeredScaleUp", "NodeProvisioning", "ScaleDown", "NodeRemoved") == [
        (60.0, "FailedScheduling", "extra-0"), (70.0, "TriggeredScaleUp", "extra-0"),
        (70.0, "NodeProvisioning", "gpu-2"), (2710.0, "ScaleDown", "gpu-2"), (2710.0, "NodeRemoved", "gpu-2")]
    up = next(e for e in evs if e.type == "TriggeredScaleUp")
    assert up.data == {"pool": "gpu", "from": 2, "to": 3}
    assert up.reason == "pod triggered scale-up: [{gpu 2->3 (max: 4)}]"
    ready = [(e.t, e.name) for e in evs if e.type == "NodeReady" and e.t > 0]
    assert ready == [(310.0, "gpu-2")]                                   # 70 + 180 + 60
    assert [(e.t, e.node) for e in evs if e.type == "Scheduled" and e.name == "extra-0"] == [(310.0, "gpu-2")]
    done = next(e.t for e in evs if e.type == "PodSucceeded" and e.name == "extra-0")
    assert done == 2110.0 and 2710.0 - done == 600.0                     # the whole unneeded window
    header = evs[0].data["autoscaler"]
    assert header["nodeGroups"][0]["maxCount"] == 4
    results = {r.invariant.id: r.status for r in run_checks(evs)}
    assert all(results[i] == "passed" for i in CA), results
    assert results["capacity"] == results["lifecycle"] == "passed"


def test_no_scale_down_below_min_or_within_the_delay_after_add(tmp_path: Path) -> None:
    """Three 10 s pods and a long one on two one-GPU nodes (min 2, max 3). The loop at 10 s runs before
    the first two pods end in that instant, so it adds a node for a-2. a-2 ends at 20 s (after that
    instant's loop): gpu-0 is unneeded from the 30 s loop and goes at 30 + 600 = 630 s — after the delay
    after the add (10 + 600 = 610 s). Then the group is at its minimum (gpu-1, gpu-2): nothing else goes."""
    doc = scenario([gpu_pool(count=2, lo=2, hi=3, provisioningDelay="1m")],
                   [pods("a", ["0s", "0s", "0s"], "10s"), pods("long", ["0s"], "2h")],
                   autoscaler={"scaleDownDelayAfterAdd": "10m"})
    evs = run(tmp_path, doc)
    assert of(evs, "TriggeredScaleUp", "NodeReady", "ScaleDown") == [
        (0.0, "NodeReady", "gpu-0"), (0.0, "NodeReady", "gpu-1"), (10.0, "TriggeredScaleUp", "a-2"),
        (70.0, "NodeReady", "gpu-2"), (630.0, "ScaleDown", "gpu-0")]
    doc["spec"]["autoscaler"]["scaleDownDelayAfterAdd"] = "20m"   # now the delay decides: 10 + 1200
    evs = run(tmp_path, doc)
    assert [t for t, _, _ in of(evs, "ScaleDown")] == [1210.0]


def test_not_trigger_scale_up_messages(tmp_path: Path) -> None:
    doc = scenario([gpu_pool(count=1, lo=1, hi=1)],
                   [pods("big", ["0s"], "1h", gpus="2"), pods("one", ["0s", "0s"], "1h")], duration="1h")
    evs = run(tmp_path, doc)
    msgs = sorted((e.name, e.reason) for e in evs if e.type == "NotTriggerScaleUp")
    assert msgs == [("big-0", "pod didn't trigger scale-up: 1 Insufficient nvidia.com/gpu"),
                    ("one-1", "pod didn't trigger scale-up: 1 max node group size reached")]


def test_a_node_that_does_not_register_in_time_is_given_up(tmp_path: Path) -> None:
    doc = scenario([gpu_pool(count=1, lo=1, hi=3, provisioningDelay="20m")],
                   [pods("a", ["0s", "0s"], "2h")], duration="30m")
    evs = run(tmp_path, doc)
    got = of(evs, "TriggeredScaleUp", "NodeProvisioning", "NodeRemoved")
    # 10 s: scale-up; 910 s: given up (15 m) and the group backs off 5 m; 1210 s: tried again
    assert got == [(10.0, "TriggeredScaleUp", "a-1"), (10.0, "NodeProvisioning", "gpu-1"),
                   (910.0, "NodeRemoved", "gpu-1"), (1210.0, "TriggeredScaleUp", "a-1"),
                   (1210.0, "NodeProvisioning", "gpu-2")]


def test_expander_picks_among_pools(tmp_path: Path) -> None:
    small = {"name": "small", "count": 0, "autoscaling": {"minCount": 0, "maxCount": 10},
             "allocatable": {"cpu": "4", "memory": "16Gi"}, "pricePerHour": 1.0}
    large = {"name": "large", "count": 0, "autoscaling": {"minCount": 0, "maxCount": 10},
             "allocatable": {"cpu": "16", "memory": "64Gi"}, "pricePerHour": 3.0}
    work = [{"name": "w", "arrival": {"at": ["0s"] * 3}, "duration": "1h",
             "template": {"requests": {"cpu": "3", "memory": "12Gi"}}}]
    # least-waste: small 3 nodes, waste (12-9)/12 + (48-36)/48 = 0.5; large 1 node, (16-9)/16 + (64-36)/64 = 0.875
    evs = run(tmp_path, scenario([small, large], work, duration="1h"))
    assert {e.data["pool"] for e in evs if e.type == "TriggeredScaleUp"} == {"small"}
    # least-nodes: large (1 node) beats small (3)
    evs = run(tmp_path, scenario([small, large], work, duration="1h", autoscaler={"expander": "least-nodes"}))
    assert {(e.data["pool"], e.data["to"]) for e in evs if e.type == "TriggeredScaleUp"} == {("large", 1)}


# ---------------------------------------------------------------------------------------------- properties


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(count=st.integers(0, 2), extra=st.integers(0, 3), gpus=st.sampled_from(["1", "2", "4"]),
       prov=st.integers(0, 600), driver=st.integers(0, 300), unneeded=st.sampled_from(["1m", "5m", "10m"]),
       expander=st.sampled_from(["least-waste", "most-pods", "least-nodes", "random"]),
       arrivals=st.lists(st.tuples(st.integers(0, 3600), st.sampled_from(["1", "2", "4"]),
                                   st.integers(60, 5400)), min_size=1, max_size=12))
def test_random_configurations_pass_every_invariant(tmp_path_factory: pytest.TempPathFactory, count: int,
                                                    extra: int, gpus: str, prov: int, driver: int, unneeded: str,
                                                    expander: str, arrivals: list[tuple[int, str, int]]) -> None:
    tmp = tmp_path_factory.mktemp("prop")
    pool = {"name": "gpu", "count": count, "autoscaling": {"minCount": 0, "maxCount": count + extra},
            "provisioningDelay": {"uniform": {"min": "0s", "max": f"{prov}s"}},
            "driverStartupDelay": f"{driver}s",
            "allocatable": {"cpu": "32", "memory": "256Gi", "nvidia.com/gpu": gpus}}
    cpu = {"name": "cpu", "count": 1, "allocatable": {"cpu": "4", "memory": "16Gi"}}
    work = [{"name": f"w{i}", "arrival": {"at": [f"{a}s"]}, "duration": f"{d}s",
             "template": {"requests": {"cpu": "1", "nvidia.com/gpu": g}}} for i, (a, g, d) in enumerate(arrivals)]
    evs = run(tmp, scenario([pool, cpu], work, duration="4h",
                            autoscaler={"expander": expander, "scaleDownUnneededTime": unneeded}))
    bad = [(r.invariant.id, [f.message for f in r.findings]) for r in run_checks(evs) if not r.ok]
    assert bad == []


def test_gangs_scale_up_atomically(tmp_path: Path) -> None:
    """Two gangs of 4 one-node workers; the group may hold 6 nodes. The first gang gets 3 new nodes (1 fits
    the existing node); the second would need 4 more but only 2 are left: no partial scale-up for it."""
    pool = {"name": "gpu", "count": 1, "autoscaling": {"minCount": 1, "maxCount": 6}, "provisioningDelay": "3m",
            "allocatable": {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "2"}}
    gangs = {"name": "train", "arrival": {"at": ["0s", "10m"]}, "replicas": 4, "gang": {"policy": "workload-api"},
             "template": {"requests": {"cpu": "1", "nvidia.com/gpu": "2"}}, "duration": "20m"}
    evs = run(tmp_path, scenario([pool], [gangs], duration="2h"))
    ups = [(e.t, e.name, e.data["to"]) for e in evs if e.type == "TriggeredScaleUp"]
    assert ups == [(10.0, "train-0-1", 4), (10.0, "train-0-2", 4), (10.0, "train-0-3", 4)]
    nots = sorted({(e.name, e.reason) for e in evs if e.type == "NotTriggerScaleUp" and e.name.startswith("train-1")})
    assert nots == [(f"train-1-{i}", "pod didn't trigger scale-up: 1 max node group size reached") for i in range(4)]
    assert not [e for e in evs if e.type == "NodeProvisioning" and e.t >= 600]


def test_the_runs_autoscaling_summary_matches_the_timelines(tmp_path: Path) -> None:
    """summary.json's autoscaling section (kept online by the controller) equals what
    validator.autoscaling_summary reads back from the timeline."""
    from validator.autoscaling_summary import autoscaling_summary

    doc = scenario([gpu_pool(count=2, lo=1, hi=4, provisioningDelay="3m", pricePerHour=2.5)],
                   [pods("serve", ["0s", "0s"], "3h"), pods("extra", ["60s", "90s", "20m"], "30m")])
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    summary = simulate_to(path, tmp_path / "out")
    offline = autoscaling_summary(read_timeline(tmp_path / "out" / "timeline.jsonl").events)
    ours = summary["autoscaling"]
    assert ours["scaleUpWaitSeconds"] == {k: (round(v, 3) if isinstance(v, float) else v)
                                          for k, v in offline["scaleUpWaitSeconds"].items()}
    assert ours["pools"] == {p: {k: (round(v, 3) if isinstance(v, float) else v) for k, v in d.items()}
                             for p, d in offline["pools"].items()}
    assert ours["idleGpuHours"] == round(offline["idleGpuHours"], 3)
    # extra-0 and extra-1 each trigger a scale-up (2->3, 3->4); extra-2 finds the group at its max 4
    assert ours["scaleUpWaitSeconds"]["count"] == 2 and ours["pools"]["gpu"]["scaleUps"] == 2
