"""The GPU-sharing policies as scheduler Score plugins (``spec.scheduler.scoring``).

Pinned on hand-made nodes (values computed by hand in the comments), run end to end through
``kubetwin simulate``, and checked against the fragmentation experiment's model: on the same small
cluster and the same pods, the scheduler with the plugin places every pod on the node (and, for a GPU
share, the GPU) the experiment's model picks.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubetwin.cmd_simulate import simulate_to
from models.timeline import read_timeline
from sim.gpushare.fragmentation import Fragmentation, PodKind, TargetShape, target_from_weights
from sim.gpushare.model import Cluster, PodRequest
from sim.gpushare.policies import POLICY_NAMES, make_policy, select_node
from sim.plugins.gpusharing import GpuSharingScore
from tests.cli_helpers import run_cli

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "scenarios" / "gpu-sharing-fgd.yaml"


# ---------------------------------------------------------------------------------------------------
# each policy's score on hand-made nodes

def hand_made() -> Cluster:
    """n0: 64 CPUs free, 4 idle GPUs. n1: 32 CPUs, GPUs [500, 1000, 0, 0], running a share and two
    1-GPU pods. n2: 8 CPUs, GPUs [250, 0], running three shares."""
    return Cluster.from_state(["n0", "n1", "n2"], [64_000, 32_000, 8_000],
                              [[1000] * 4, [500, 1000, 0, 0], [250, 0]], ["v100", "v100", "t4"],
                              [{}, {"share-gpu": 1, "1-gpu": 2}, {"share-gpu": 3}])


SHARE = PodRequest(cpu_milli=4_000, num_gpu=1, gpu_milli=250)
ALL = np.ones(3, dtype=np.bool_)


def scores(name: str, pod: PodRequest = SHARE, shapes: list[TargetShape] | None = None) -> list[int]:
    view = hand_made()
    frag = Fragmentation(view, shapes or []) if name == "FGD" else None
    return [int(x) for x in make_policy(name, view, frag, np.random.default_rng(1)).score(view, pod, ALL)]


def test_dot_product_on_hand_made_nodes() -> None:
    # 100·(1 − ⟨free/max, request/max⟩/2), max = 128 CPUs, 8 GPUs; request (4 CPUs, 250 milli)
    # n0: 0.5·(4/128) + 0.5·(250/8000) = 0.03125 → 98.4 → 98
    # n1: 0.25·0.03125 + (1500/8000)·0.03125 = 0.013671875 → 99.3 → 99
    # n2: 0.0625·0.03125 + (250/8000)·0.03125 = 0.0029296875 → 99.85 → 99
    assert scores("DotProduct") == [98, 99, 99]


def test_gpu_clustering_on_hand_made_nodes() -> None:
    # ⌊25·used/8000⌋ with used = 8000 − free milli, plus 75 (only shares there) / 50 (shares among other
    # classes) / 25 (no GPU pod there)
    # n0: ⌊25·4000/8000⌋ = 12 + 25 = 37;  n1: ⌊25·6500/8000⌋ = 20 + 50 = 70;  n2: ⌊25·7750/8000⌋ = 24 + 75 = 99
    assert scores("GpuClustering") == [37, 70, 99]


def test_gpu_packing_on_hand_made_nodes() -> None:
    # n0 idle: 33 − 4 free GPUs = 29; n1: best-fit GPU has 500 free → 100 − ⌊50/10⌋ = 95;
    # n2: best-fit GPU has 250 free → 100 − ⌊25/10⌋ = 98
    assert scores("GpuPacking") == [29, 95, 98]


def test_best_fit_on_hand_made_nodes() -> None:
    # ⌊100·(1 − ½·(cpu free − 4000)/128000 − ½·(GPU free − 250)/8000)⌋: 53, 81, 98;
    # min-max normalized: (s − 53)·100 // 45 → 0, 62, 100
    assert scores("BestFit") == [0, 62, 100]


def test_fgd_on_hand_made_nodes() -> None:
    # target: A = (2 CPUs, a 500-milli share) 50 %, B = (8 CPUs, one whole GPU) 50 %.
    # F = Σ f·(free if the shape does not fit, else free on GPUs too small for it)
    # n0: F 0 → the share on any GPU: [750, 1000×3]: B finds 750 unusable → F 375; Δ −375 → ⌊100·σ(−0.375)⌋ = 40
    # n1: F = ½·500 = 250; on GPU 0 → [250, 1000, 0, 0]: ½·250 + ½·250 = 250, Δ 0 → 50 (on GPU 1: F 625 → 40)
    # n2: neither fits: F = 250; after → [0, 0]: F 0, Δ +250 → ⌊100·σ(0.25)⌋ = 56
    shapes = [TargetShape(2_000, 1, 500, (), 0.5), TargetShape(8_000, 1, 1000, (), 0.5)]
    assert scores("FGD", shapes=shapes) == [40, 50, 56]
    assert 100 / (1 + math.exp(0.375)) == pytest.approx(40.73, abs=0.01)
    view = hand_made()
    policy = make_policy("FGD", view, Fragmentation(view, shapes), np.random.default_rng(1))
    policy.score(view, SHARE, ALL)
    assert policy.pick_gpus(view, 1, SHARE) == (0,)  # the GPU that keeps F flat
    assert select_node(policy.score(view, SHARE, ALL), ALL) == 2


def test_random_scores_one_feasible_node() -> None:
    got = scores("Random")
    assert sorted(got) == [0, 0, 100]
    assert got == scores("Random")  # the same seed draws the same node


def test_target_workload_from_expected_pod_counts() -> None:
    # weights 6 : 3 : 1 → 95 % of 10 needs all three shapes (6 + 3 = 9 < 9.5)
    kinds: dict[PodKind, float] = {(1000, 1, 500, ()): 6.0, (2000, 2, 1000, ()): 3.0, (1000, 0, 0, ()): 1.0}
    shapes = target_from_weights(kinds)
    assert [(s.cpu_milli, s.num_gpu, s.gpu_milli, s.frequency) for s in shapes] == [
        (1000, 1, 500, 0.6), (2000, 2, 1000, 0.3), (1000, 0, 0, 0.1)]
    # 19 : 1 → the first covers 95 % alone
    two: dict[PodKind, float] = {(1000, 1, 500, ()): 19.0, (1, 0, 0, ()): 1.0}
    assert [s.frequency for s in target_from_weights(two)] == [1.0]


# ---------------------------------------------------------------------------------------------------
# scenarios

DEVICE_CLASS = {
    "apiVersion": "resource.k8s.io/v1", "kind": "DeviceClass", "metadata": {"name": "gpu.kubetwin.dev"},
    "spec": {"selectors": [{"cel": {"expression": 'device.driver == "gpu.kubetwin.dev"'}}],
             "extendedResourceName": "nvidia.com/gpu"}}


def share_template(milli: int) -> dict[str, Any]:
    return {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaimTemplate",
            "metadata": {"name": f"gpu-share-{milli}", "namespace": "default"},
            "spec": {"spec": {"devices": {"requests": [{"name": "gpu", "exactly": {
                "deviceClassName": "gpu.kubetwin.dev", "count": 1,
                "capacity": {"requests": {"milli": str(milli)}}}}]}}}}


def scenario(nodes: list[tuple[int, int]], pods: list[tuple[int, int, int]], scoring: str, dra: bool,
             seed: int = 1) -> dict[str, Any]:
    """One pool per node (CPUs, GPUs); pod i arrives at i+1 s and runs past the end: (CPUs, GPUs, milli)
    — milli < 1000 is a share of one GPU (a DRA claim), else whole GPUs."""
    pools = []
    for i, (cpu, gpus) in enumerate(nodes):
        pool: dict[str, Any] = {"name": f"p{i}", "count": 1, "allocatable": {"cpu": str(cpu), "memory": "1Ti"}}
        if gpus and dra:
            pool["devices"] = {"driver": "gpu.kubetwin.dev", "count": gpus, "allowMultipleAllocations": True,
                               "capacity": {"milli": {"value": "1000", "requestPolicy": {
                                   "default": "1000", "validRange": {"min": "1", "max": "1000"}}}}}
        elif gpus:
            pool["allocatable"]["nvidia.com/gpu"] = str(gpus)
        pools.append(pool)
    workloads = []
    shares = sorted({m for _, g, m in pods if g and m < 1000})
    for i, (cpu, gpus, milli) in enumerate(pods):
        template: dict[str, Any] = {"requests": {"cpu": str(cpu), "memory": "1Gi"}}
        if gpus and milli < 1000:
            template["resourceClaims"] = [{"name": "gpu", "resourceClaimTemplateName": f"gpu-share-{milli}"}]
        elif gpus:
            template["requests"]["nvidia.com/gpu"] = str(gpus)
        workloads.append({"name": f"w{i}", "arrival": {"at": [f"{i + 1}s"]}, "template": template,
                          "duration": "100h"})
    spec: dict[str, Any] = {"seed": seed, "duration": "1h", "scheduler": {"scoring": scoring},
                            "cluster": {"nodePools": pools}, "workloads": workloads}
    if dra:
        spec["dra"] = {"deviceClasses": [DEVICE_CLASS], "resourceClaimTemplates": [share_template(m) for m in shares]}
    return {"apiVersion": "kubetwin.dev/v1alpha1", "kind": "Scenario", "metadata": {"name": "gpushare"},
            "spec": spec}


def simulate(doc: dict[str, Any], out: Path) -> list[Any]:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "scenario.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    simulate_to(path, out / "run")
    return read_timeline(out / "run" / "timeline.jsonl").events


def placements(events: list[Any]) -> tuple[dict[str, str], dict[str, str]]:
    """Pod -> node, and pod -> GPU device of its share claim."""
    nodes = {e.name: e.node for e in events if e.type == "Scheduled"}
    devices = {}
    for e in events:
        if e.type == "ClaimAllocated" and e.name.endswith("-gpu"):
            devices[e.name.removesuffix("-gpu")] = e.data["devices"][0]["device"]
    return nodes, devices


def model_placements(nodes: list[tuple[int, int]], pods: list[tuple[int, int, int]], policy: str,
                     seed: int) -> tuple[dict[str, str], dict[str, str]]:
    """The experiment's model: the same pods, one by one, ties to the lowest node index."""
    cluster = Cluster([f"p{i}-0" for i in range(len(nodes))], [c * 1000 for c, _ in nodes], [1 << 40] * len(nodes),
                      [g for _, g in nodes], [f"p{i}" for i in range(len(nodes))])
    reqs = [PodRequest(cpu_milli=c * 1000, num_gpu=g if g else 0, gpu_milli=(m if g else 0)) for c, g, m in pods]
    reqs = [PodRequest(r.cpu_milli, 0, r.num_gpu, r.gpu_milli if r.gpu_milli < 1000 else 1000) for r in reqs]
    weights: dict[Any, float] = {}
    for r in reqs:
        weights[r.kind] = weights.get(r.kind, 0.0) + 1
    frag = Fragmentation(cluster, target_from_weights(weights))
    p = make_policy(policy, cluster, frag, np.random.default_rng([seed, 11]))
    out_nodes, out_devices = {}, {}
    for i, r in enumerate(reqs):
        feasible = cluster.feasible(r)
        if not feasible.any():
            continue
        node = select_node(p.score(cluster, r, feasible), feasible)
        assert node is not None
        gpus = p.pick_gpus(cluster, node, r)
        cluster.bind(node, gpus, r)
        frag.refresh(node)
        out_nodes[f"w{i}-0"] = cluster.names[node]
        if r.shares_gpu:
            out_devices[f"w{i}-0"] = f"gpu-{gpus[0]}"
    return out_nodes, out_devices


@pytest.mark.parametrize("policy", POLICY_NAMES)
def test_each_policy_simulates_through_the_cli(policy: str, tmp_path: Path) -> None:
    doc = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    doc["spec"]["scheduler"]["scoring"] = policy
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    code, _, err = run_cli("simulate", str(path), "-o", str(tmp_path / "out"))
    assert code == 0, err
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert summary["pods"]["scheduled"] > 100
    header = next(iter(read_timeline(tmp_path / "out" / "timeline.jsonl").events))
    assert header.type == "RunStarted"


def test_example_scenario_runs_with_fgd(tmp_path: Path) -> None:
    summary = simulate_to(EXAMPLE, tmp_path / "out")
    assert summary["pods"]["scheduled"] > 100
    events = read_timeline(tmp_path / "out" / "timeline.jsonl").events
    shared = [e for e in events if e.type == "ClaimAllocated" and e.name.startswith("infer-")]
    assert len(shared) > 50


def test_bad_scoring_name_is_an_input_error(tmp_path: Path) -> None:
    doc = scenario([(8, 2)], [(1, 1, 1000)], "Fgd", dra=False)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    code, _, err = run_cli("simulate", str(path), "-o", str(tmp_path / "out"))
    assert code == 2
    assert "spec.scheduler.scoring" in err and "FGD" in err


def test_best_fit_packs_where_random_spreads(tmp_path: Path) -> None:
    # eight identical idle nodes, eight 1-CPU pods with one GPU each: BestFit fills node 0 (8 GPUs) first;
    # Random spreads them
    nodes = [(16, 8)] * 8
    pods = [(1, 1, 1000)] * 8
    best, _ = placements(simulate(scenario(nodes, pods, "BestFit", dra=False), tmp_path / "bf"))
    rand, _ = placements(simulate(scenario(nodes, pods, "Random", dra=False), tmp_path / "rnd"))
    assert set(best.values()) == {"p0-0"}
    assert len(set(rand.values())) > 1


def test_shares_go_where_the_policy_says(tmp_path: Path) -> None:
    # node p0 has GPUs [1000, 1000]; a 500 share lands on gpu-0, then a 250 share: BestFit puts it on
    # gpu-0 (500 free, the tightest fit), and so does DRA's first fit; a 750 share then needs gpu-1.
    # GpuPacking agrees; FGD (target: these three shapes) keeps gpu-1 whole for the 750 share as well.
    pods = [(1, 1, 500), (1, 1, 250), (1, 1, 750)]
    for policy in ("BestFit", "GpuPacking", "FGD"):
        _, devices = placements(simulate(scenario([(8, 2)], pods, policy, dra=True), tmp_path / policy))
        assert devices == {"w0-0": "gpu-0", "w1-0": "gpu-0", "w2-0": "gpu-1"}, policy


def test_fgd_steers_dra_away_from_first_fit(tmp_path: Path) -> None:
    # one node, GPUs [1000, 1000, 1000]; target: a 250 share (½) and a 500 share (½), 1 CPU each.
    # w0 (250) → gpu-0 (all GPUs alike). w1 (500): DRA alone (first fit) would take gpu-0 (750 free).
    # FGD: on gpu-0 → [250, 1000, 1000]: the 500 shape cannot use 250 → F = ½·250 = 125, Δ −125 → 46;
    # on gpu-1 → [750, 500, 1000]: F = 0, Δ 0 → 50. So gpu-1, and the plugin makes DRA allocate it.
    nodes = [(32, 3)]
    pods = [(1, 1, 250), (1, 1, 500), (1, 1, 250), (1, 1, 500)]
    got = placements(simulate(scenario(nodes, pods, "FGD", dra=True), tmp_path / "fgd"))
    assert got[1] == {"w0-0": "gpu-0", "w1-0": "gpu-1", "w2-0": "gpu-0", "w3-0": "gpu-0"}
    assert got == model_placements(nodes, pods, "FGD", 1)


@pytest.mark.parametrize("policy", ["Random", "FGD"])
def test_same_seed_same_timeline(policy: str, tmp_path: Path) -> None:
    nodes = [(16, 4)] * 4
    pods = [(2, 1, 500), (2, 1, 1000), (4, 2, 1000), (1, 1, 250)] * 3
    doc = scenario(nodes, pods, policy, dra=True, seed=5)
    simulate(doc, tmp_path / "a")
    simulate(doc, tmp_path / "b")
    assert (tmp_path / "a" / "run" / "timeline.jsonl").read_bytes() == \
        (tmp_path / "b" / "run" / "timeline.jsonl").read_bytes()


def test_random_depends_on_the_seed(tmp_path: Path) -> None:
    nodes = [(16, 4)] * 6
    pods = [(1, 1, 1000)] * 6
    runs = [placements(simulate(scenario(nodes, pods, "Random", dra=False, seed=s), tmp_path / str(s)))[0]
            for s in (1, 2, 3)]
    assert len({json.dumps(r, sort_keys=True) for r in runs}) > 1


def run_engine(doc: dict[str, Any], out: Path) -> Any:
    """Simulate ``doc`` and return the engine (to look at the plugin afterwards)."""
    from models.scenario import load_scenario
    from models.timeline import TimelineWriter
    from sim.build import build
    from sim.engine import Simulation

    out.mkdir(parents=True, exist_ok=True)
    path = out / "scenario.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    with TimelineWriter(out / "timeline.jsonl") as writer:
        sim = Simulation(build(load_scenario(path)), writer)
        sim.run()
    return sim


def plugin_of(sim: Any, name: str) -> GpuSharingScore:
    found = [e.plugin for e in sim.scheduler.profile.score if e.plugin.name == name]
    assert len(found) == 1
    plugin = found[0]
    assert isinstance(plugin, GpuSharingScore)
    return plugin


def test_fgd_target_workload_comes_from_the_scenario(tmp_path: Path) -> None:
    # two pools; shares of 250 (a claim on milli capacity) from an open Poisson arrival (1h / 10m = 6
    # instances × 2 replicas = 12 pods), 1-GPU pods at three fixed times (3), 2-CPU pods on pool p1 only
    # via a node selector (count 5). 95 % of 20 = 19 needs all three shapes.
    doc = scenario([(16, 4), (16, 2)], [], "FGD", dra=True)
    doc["spec"]["dra"]["resourceClaimTemplates"] = [share_template(250)]
    doc["spec"]["cluster"]["nodePools"][1]["labels"] = {"zone": "b"}
    doc["spec"]["workloads"] = [
        {"name": "share", "arrival": {"poisson": {"meanInterval": "10m"}}, "replicas": 2, "duration": "1m",
         "template": {"requests": {"cpu": "1"},
                      "resourceClaims": [{"name": "gpu", "resourceClaimTemplateName": "gpu-share-250"}]}},
        {"name": "whole", "arrival": {"at": ["1s", "2s", "3s"]}, "duration": "1m",
         "template": {"requests": {"cpu": "4", "nvidia.com/gpu": "1"}}},
        {"name": "cpu", "arrival": {"every": "1m"}, "count": 5, "duration": "1m",
         "template": {"requests": {"cpu": "2"}, "nodeSelector": {"zone": "b"}}},
    ]
    plugin = plugin_of(run_engine(doc, tmp_path), "FGD")
    assert plugin.workload_weights() == {(1000, 1, 250, ()): 12.0, (4000, 1, 1000, ()): 3.0,
                                         (2000, 0, 0, ("p1",)): 5.0}
    assert [(s.cpu_milli, s.num_gpu, s.gpu_milli, s.gpu_spec, s.frequency) for s in plugin.target_shapes()] == [
        (1000, 1, 250, (), 0.6), (2000, 0, 0, ("p1",), 0.25), (4000, 1, 1000, (), 0.15)]


def test_plugin_reads_dra_and_whole_gpus(tmp_path: Path) -> None:
    # DRA node p0: 4 milli devices; a 250 and a 500 share, both kept running (BestFit: both on gpu-0).
    # Whole-GPU node p1 (nvidia.com/gpu: 2 without DRA devices) runs a 1-GPU pod.
    doc = scenario([(16, 4)], [(1, 1, 250), (1, 1, 500)], "BestFit", dra=True)
    doc["spec"]["cluster"]["nodePools"].append(
        {"name": "p1", "count": 1, "allocatable": {"cpu": "8", "memory": "1Ti", "nvidia.com/gpu": "2"}})
    doc["spec"]["workloads"].append({"name": "w2", "arrival": {"at": ["3s"]}, "duration": "100h",
                                     "template": {"requests": {"cpu": "1", "nvidia.com/gpu": "1"},
                                                  "nodeSelector": {"kubernetes.io/hostname": "p1-0"}}})
    doc["spec"]["dra"]["deviceClasses"] = [json.loads(json.dumps(DEVICE_CLASS))]
    del doc["spec"]["dra"]["deviceClasses"][0]["spec"]["extendedResourceName"]  # p1's GPUs are plain
    plugin = plugin_of(run_engine(doc, tmp_path), "BestFit")
    view = plugin.snapshot([0, 1])
    assert view.gpu_free[0].tolist() == [250, 1000, 1000, 1000]
    assert view.gpu_free[1].tolist()[:2] == [1000, 0]
    assert view.cpu_free.tolist() == [14_000, 7_000]


# ---------------------------------------------------------------------------------------------------
# property: the plugin picks what the experiment's model picks

node_st = st.tuples(st.integers(4, 32), st.sampled_from([0, 1, 2, 4]))
pod_st = st.one_of(
    st.tuples(st.integers(1, 8), st.just(0), st.just(0)),                      # CPU only
    st.tuples(st.integers(1, 8), st.sampled_from([1, 2]), st.just(1000)),       # whole GPUs
    st.tuples(st.integers(1, 4), st.just(1), st.sampled_from([250, 500, 750])),  # a share (DRA only)
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nodes=st.lists(node_st, min_size=1, max_size=4), pods=st.lists(pod_st, min_size=1, max_size=10),
       policy=st.sampled_from(POLICY_NAMES), dra=st.booleans())
def test_plugin_places_like_the_experiment_model(nodes: list[tuple[int, int]], pods: list[tuple[int, int, int]],
                                                 policy: str, dra: bool) -> None:
    if not dra:
        pods = [p for p in pods if p[2] in (0, 1000)]
    with tempfile.TemporaryDirectory() as tmp:
        got = placements(simulate(scenario(nodes, pods, policy, dra=dra, seed=3), Path(tmp)))
    assert got == model_placements(nodes, pods, policy, 3)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(gpus=st.lists(st.integers(1, 4), min_size=1, max_size=2),
       shares=st.lists(st.sampled_from([250, 500, 750]), min_size=2, max_size=10),
       policy=st.sampled_from(POLICY_NAMES))
def test_shares_land_on_the_models_gpus(gpus: list[int], shares: list[int], policy: str) -> None:
    # shares only, on one or two DRA nodes: where a policy's GPU differs from DRA's first fit, the plugin
    # must have steered the allocation to the model's GPU
    nodes = [(64, g) for g in gpus]
    pods = [(1, 1, m) for m in shares]
    with tempfile.TemporaryDirectory() as tmp:
        got = placements(simulate(scenario(nodes, pods, policy, dra=True, seed=4), Path(tmp)))
    assert got == model_placements(nodes, pods, policy, 4)
