"""GPU-sharing policies and the fragmentation measure, pinned on hand-made Nodes with hand-computed values.

The cluster (built by binding pods, so every derived array is consistent):

- n0: 32 CPUs, 2 × model A, both GPUs free.
- n1: 16 CPUs, 4 × model B; a 700-milli share on GPU 0, a 500-milli share on GPU 2, a whole pod on
  GPU 3 → free [300, 1000, 500, 0], 8 CPUs free, GPU classes {share-gpu, 1-gpu}.
- n2: 8 CPUs, 1 × model A; a CPU-only pod of 2 CPUs → 6 CPUs free, GPU free [1000].

The pod scored is P: 4 CPUs, a 400-milli share of one GPU. The arithmetic behind each expectation is
written next to it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.gpushare.fragmentation import Fragmentation, TargetShape, target_workload
from sim.gpushare.model import Cluster, PodRequest, best_fit_gpu, first_free_gpus
from sim.gpushare.policies import (
    POLICY_NAMES,
    BestFitPolicy,
    DotProductPolicy,
    FGDPolicy,
    GpuClusteringPolicy,
    GpuPackingPolicy,
    RandomPolicy,
    make_policy,
    normalize_score,
    select_node,
)

P = PodRequest(cpu_milli=4000, memory_mib=1, num_gpu=1, gpu_milli=400)
W2 = PodRequest(cpu_milli=4000, memory_mib=1, num_gpu=2, gpu_milli=1000)

# target workload: T1 (2 CPUs, 500-milli share) 50 %, T2 (8 CPUs, one whole GPU) 30 %, T0 (1 CPU, no GPU) 20 %
SHAPES = [TargetShape(2000, 1, 500, (), 0.5), TargetShape(8000, 1, 1000, (), 0.3), TargetShape(1000, 0, 0, (), 0.2)]


def make_cluster() -> Cluster:
    cl = Cluster(["n0", "n1", "n2"], [32000, 16000, 8000], [64, 64, 64], [2, 4, 1], ["A", "B", "A"])
    cl.bind(1, (0,), PodRequest(2000, 1, 1, 700))
    cl.bind(1, (2,), PodRequest(2000, 1, 1, 500))
    cl.bind(1, (3,), PodRequest(4000, 1, 1, 1000))
    cl.bind(2, (), PodRequest(2000, 1, 0, 0))
    return cl


def test_cluster_state() -> None:
    cl = make_cluster()
    assert cl.gpu_free.tolist() == [[1000, 1000, 0, 0], [300, 1000, 500, 0], [1000, 0, 0, 0]]
    assert cl.cpu_free.tolist() == [32000, 8000, 6000]
    assert cl.gpu_free_total.tolist() == [2000, 1800, 1000]
    assert cl.gpu_fully_free.tolist() == [2, 1, 1]
    assert cl.gpu_max_free.tolist() == [1000, 1000, 1000]
    assert cl.used_gpu_milli == 700 + 500 + 1000
    assert cl.feasible(P).tolist() == [True, True, True]
    assert cl.feasible(W2).tolist() == [True, False, False]  # n1 has one fully free GPU, n2 has one GPU
    assert cl.feasible(PodRequest(4000, 1, 1, 400, ("B",))).tolist() == [False, True, False]
    assert cl.feasible(PodRequest(7000, 1, 0, 0)).tolist() == [True, True, False]
    assert cl.feasible(PodRequest(100, 65, 0, 0)).tolist() == [False, False, False]  # memory


def test_unbind_restores_state() -> None:
    cl = make_cluster()
    fr = Fragmentation(cl, SHAPES)
    pol = FGDPolicy(fr)
    before = pol.score(cl, P, np.ones(3, dtype=bool)).copy()
    cl.bind(0, (1,), P)
    fr.refresh(0)
    assert pol.score(cl, P, np.ones(3, dtype=bool))[0] != before[0]
    cl.unbind(0, (1,), P)
    fr.refresh(0)
    assert cl.gpu_free[0].tolist() == [1000, 1000, 0, 0] and cl.cpu_free[0] == 32000
    assert cl.gpu_fully_free[0] == 2 and cl.gpu_free_total[0] == 2000 and cl.affinity_classes[0] == 0
    assert pol.score(cl, P, np.ones(3, dtype=bool)).tolist() == before.tolist()
    assert fr.frag[0] == pytest.approx(400)
    cl.unbind(1, (2,), PodRequest(2000, 1, 1, 500))  # n1 keeps share-gpu (700 on GPU 0) and 1-gpu
    assert cl.affinity_classes[1] == 2 and cl.gpu_free[1].tolist() == [300, 1000, 1000, 0]
    with pytest.raises(ValueError):
        cl.unbind(1, (1,), PodRequest(0, 0, 1, 500))  # GPU 1 is already fully free


def test_gpu_helpers() -> None:
    free = np.asarray([300, 1000, 500, 0, 1000])
    assert best_fit_gpu(free, 400) == 2
    assert best_fit_gpu(free, 600) == 1  # lowest index among the equal best
    assert first_free_gpus(free, 2) == (1, 4)
    with pytest.raises(ValueError):
        first_free_gpus(free, 3)


def test_dot_product() -> None:
    cl = make_cluster()
    # 100·(1 − (cpu/128000·4000/128000 + L/8000·400/8000)/2), truncated
    # n0: (0.25·0.03125 + 0.25·0.05)/2 = 0.01015625 → 98.98 → 98
    # n1: (0.0625·0.03125 + 0.225·0.05)/2 = 0.0066015625 → 99.34 → 99
    # n2: (0.046875·0.03125 + 0.125·0.05)/2 = 0.003857421875 → 99.61 → 99
    pol = DotProductPolicy()
    assert pol.score(cl, P, cl.feasible(P)).tolist() == [98, 99, 99]
    assert pol.pick_gpus(cl, 1, P) == (2,)  # best fit: 500 is the least free that fits 400


def test_gpu_clustering() -> None:
    cl = make_cluster()
    # used part 25·(8000 − L)//8000: n0 25·6000//8000 = 18, n1 25·6200//8000 = 19, n2 25·7000//8000 = 21
    # n0 no classes → +25 = 43; n1 has share-gpu among 2 classes → +50 = 69; n2 no GPU pods → +25 = 46
    pol = GpuClusteringPolicy()
    assert pol.score(cl, P, cl.feasible(P)).tolist() == [43, 69, 46]
    # a 1-GPU pod: n1 has the class 1-gpu (mixed) → 19 + 50; others as before
    assert pol.score(cl, PodRequest(1000, 1, 1, 1000), cl.feasible(P)).tolist() == [43, 69, 46]
    # a 2-GPU pod: class absent everywhere: n1 has other classes → 19 + 0
    # (scores of infeasible Nodes are not computed unless asked for: ask for all three)
    assert pol.score(cl, W2, np.ones(3, dtype=bool)).tolist() == [43, 19, 46]
    assert pol.score(cl, PodRequest(1000, 1, 0, 0), cl.feasible(P)).tolist() == [0, 0, 0]


def test_gpu_packing() -> None:
    cl = make_cluster()
    # n0 idle node: 33 − 2 free GPUs = 31; n2 idle: 33 − 1 = 32
    # n1 shares GPU 2 (500 free): 100 − (500·100//1000)//10 = 95
    pol = GpuPackingPolicy()
    assert pol.score(cl, P, cl.feasible(P)).tolist() == [31, 95, 32]
    # a 600-milli share on n1 must take a free GPU of a used node: max(50 − 1, 33) = 49
    assert pol.score(cl, PodRequest(1000, 1, 1, 600), cl.feasible(P)).tolist() == [31, 49, 32]
    # two whole GPUs: n0 idle 31; on a used node 50 − 2 = 48
    assert pol.score(cl, W2, cl.feasible(W2))[0] == 31
    assert pol.score(cl, W2, np.ones(3, dtype=bool))[1] == 48
    assert pol.score(cl, PodRequest(1000, 1, 0, 0), cl.feasible(P)).tolist() == [0, 0, 0]


def test_best_fit() -> None:
    cl = make_cluster()
    # raw 100·(1 − ((cpu − 4000)/128000·½ + (L − 400)/8000·½)), truncated:
    # n0: 0.109375 + 0.1 → 79.0625 → 79; n1: 0.015625 + 0.0875 → 89.6875 → 89; n2: 0.0078125 + 0.0375 → 95.47 → 95
    # min-max normalised: (s − 79)·100 // 16 → 0, 62, 100
    pol = BestFitPolicy()
    assert pol.score(cl, P, cl.feasible(P)).tolist() == [0, 62, 100]
    assert normalize_score(np.asarray([79, 89, 95]), np.asarray([True, True, False])).tolist() == [0, 100, 160]
    assert normalize_score(np.asarray([5, 5]), np.asarray([True, True])).tolist() == [0, 0]


def test_fragmentation_measure() -> None:
    cl = make_cluster()
    fr = Fragmentation(cl, SHAPES)
    # n0 free [1000,1000], total 2000: T0 0.2·2000 = 400; T1 and T2 fit with nothing below their size → 400
    # n1 free [300,1000,500,0], 8 CPUs, total 1800: T0 360; T1 fits, below 500: 300 → 150;
    #    T2 fits (8 CPUs, GPU 1), below 1000: 800 → 240; F = 750
    # n2 free [1000], 6 CPUs: T0 200; T1 fits → 0; T2 lacks CPU → 0.3·1000 = 300; F = 500
    assert fr.frag.tolist() == pytest.approx([400, 750, 500])
    assert fr.amount == pytest.approx(1650)
    assert fr.free == 4800
    assert fr.ratio == pytest.approx(1650 / 4800)


def test_fgd_scores_and_gpus() -> None:
    cl = make_cluster()
    fr = Fragmentation(cl, SHAPES)
    pol = FGDPolicy(fr)
    # n0: P on GPU 0 → free [600,1000], 28 CPUs: T0 320 + T1 0 + T2 0.3·600 = 500; Δ = 400 − 500 = −100
    #     → ⌊100·σ(−0.1)⌋ = ⌊47.50⌋ = 47 (GPU 1 ties; the first wins)
    # n1: GPU 1 → [300,600,500,0], 4 CPUs: 280 + 0.5·300 + 0.3·1400 = 850, Δ = −100 → 47;
    #     GPU 2 → [300,1000,100,0]: 280 + 0.5·400 + 420 = 900, Δ = −150 → ⌊46.26⌋ = 46; GPU 0 too small → GPU 1
    # n2: GPU 0 → [600], 2 CPUs: 120 + 0 + 0.3·600 = 300, Δ = +200 → ⌊54.98⌋ = 54
    assert pol.score(cl, P, cl.feasible(P)).tolist() == [47, 47, 54]
    assert [pol.pick_gpus(cl, n, P) for n in range(3)] == [(0,), (1,), (0,)]
    assert pol.fragmentation_after(cl, 1, P) == pytest.approx(850)
    # two whole GPUs on n0 → nothing free: F = 0, Δ = 400 → ⌊100·σ(0.4)⌋ = 59
    assert pol.score(cl, W2, cl.feasible(W2))[0] == 59
    assert pol.pick_gpus(cl, 0, W2) == (0, 1)
    # the cache follows binds: after P lands on n2 (GPU 0) its score is recomputed
    cl.bind(2, (0,), P)
    fr.refresh(2)
    assert fr.frag[2] == pytest.approx(300)
    # n2 now [600], 2 CPUs free (P no longer fits; its score is still defined): another P → [200], −2 CPUs:
    # T0 40 + T1 (does not fit) 0.5·200 + T2 0.3·200 = 200, Δ = 300 − 200 = 100 → ⌊52.50⌋ = 52
    assert cl.feasible(P).tolist() == [True, True, False]
    assert pol.score(cl, P, np.ones(3, dtype=bool)).tolist() == [47, 47, 52]  # all Nodes asked for: all scored


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.sampled_from([0, 1, 2]), st.sampled_from([0, 250, 600, 1000]),
                          st.integers(0, 3000)), max_size=12),
       st.lists(st.tuples(st.integers(0, 1), st.integers(1, 5)), min_size=1, max_size=3))
def test_cached_scores_equal_fresh_scores(binds: list[tuple[int, int, int, int]],
                                          asks: list[tuple[int, int]]) -> None:
    """After any sequence of binds, a policy that cached scores agrees with a new one on the feasible Nodes."""
    pods = [P, W2, PodRequest(1000, 1, 0, 0), PodRequest(2000, 1, 1, 1000), PodRequest(500, 1, 1, 250)]
    cl = make_cluster()
    fr = Fragmentation(cl, SHAPES)
    rng = np.random.default_rng(0)
    old = {name: make_policy(name, cl, fr, rng) for name in POLICY_NAMES if name != "Random"}
    for node, num, milli, cpu in binds:
        pod = PodRequest(cpu, 1, num if milli else 0, milli if num else 0)
        if pod.num_gpu > 1 and pod.gpu_milli < 1000:
            continue
        for pol in old.values():  # warm the caches on the way
            pol.score(cl, pods[(node + num) % len(pods)], cl.feasible(pods[(node + num) % len(pods)]))
        if not cl.feasible(pod)[node]:
            continue
        gpus = old["BestFit"].pick_gpus(cl, node, pod)
        cl.bind(node, gpus, pod)
        fr.refresh(node)
    fresh_fr = Fragmentation(cl, SHAPES)
    for which, _ in asks:
        pod = pods[which]
        feasible = cl.feasible(pod)
        for name, pol in old.items():
            new = make_policy(name, cl, fresh_fr, rng)
            got, want = pol.score(cl, pod, feasible), new.score(cl, pod, feasible)
            assert got[feasible].tolist() == want[feasible].tolist(), name


def test_random_policy() -> None:
    cl = make_cluster()
    pol = RandomPolicy(np.random.default_rng(7))
    feasible = cl.feasible(W2)
    for _ in range(20):
        s = pol.score(cl, W2, feasible)
        assert s.tolist() == [100, 0, 0]
    picks = {pol.pick_gpus(cl, 1, P) for _ in range(50)}
    assert picks == {(1,), (2,)}  # the GPUs with ≥ 400 free, both drawn


def test_select_node_ties_by_rank() -> None:
    scores = np.asarray([5, 9, 9, 9, 1])
    feasible = np.asarray([True, True, False, True, True])
    assert select_node(scores, feasible) == 1
    assert select_node(scores, feasible, np.asarray([0, 4, 1, 2, 3])) == 3
    assert select_node(scores, np.zeros(5, dtype=bool)) is None


def test_make_policy_names() -> None:
    cl = make_cluster()
    fr = Fragmentation(cl, SHAPES)
    for name in POLICY_NAMES:
        assert make_policy(name, cl, fr, np.random.default_rng(0)).name == name
    with pytest.raises(KeyError):
        make_policy("Tetris", cl, fr, np.random.default_rng(0))


def test_target_workload() -> None:
    a, b, c = PodRequest(1000, 1, 1, 500), PodRequest(2000, 1, 1, 1000), PodRequest(500, 1, 0, 0)
    pods = [a] * 10 + [b] * 6 + [c] * 3 + [PodRequest(9000, 1, 2, 1000)]  # 20 pods
    shapes = target_workload(pods, coverage=0.9)  # need 18: a (10) + b (6) = 16 < 18, + c = 19 ≥ 18
    assert [(s.cpu_milli, s.num_gpu, s.gpu_milli) for s in shapes] == [(1000, 1, 500), (2000, 1, 1000), (500, 0, 0)]
    assert [s.frequency for s in shapes] == pytest.approx([10 / 19, 6 / 19, 3 / 19])
    # ties: the larger shape first
    tied = target_workload([a, b], coverage=0.5)
    assert [(s.cpu_milli, s.frequency) for s in tied] == [(2000, 1.0)]


def _brute_frag(cpu: int, free: list[int], model: str, shapes: list[TargetShape]) -> float:
    total = 0.0
    for s in shapes:
        left = sum(free)
        if s.gpu_milli == 0:
            total += s.frequency * left
            continue
        allowed = bool(model) and (not s.gpu_spec or model in s.gpu_spec)
        fits = allowed and cpu >= s.cpu_milli and sum(1 for x in free if x >= s.gpu_milli) >= s.num_gpu
        total += s.frequency * (sum(x for x in free if x < s.gpu_milli) if fits else left)
    return total


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_fragmentation_matches_definition(data: st.DataObject) -> None:
    """The vectorised measure and its FGD shortcuts equal the definition evaluated node by node."""
    gpus = [2, 4, 1, 8, 0]
    models = ["A", "B", "A", "B", ""]
    cl = Cluster([f"n{i}" for i in range(5)], [16000, 32000, 8000, 64000, 4000], [64] * 5, gpus, models)
    for n, g in enumerate(gpus):
        cl.cpu_free[n] = data.draw(st.integers(0, int(cl.cpu_capacity[n])))
        for i in range(g):
            cl.gpu_free[n, i] = data.draw(st.sampled_from([0, 100, 250, 500, 750, 1000]))
    shapes = [TargetShape(0, 0, 0, (), 0.1), TargetShape(4000, 1, 500, (), 0.3),
              TargetShape(2000, 2, 1000, ("A",), 0.25), TargetShape(1000, 1, 250, ("B",), 0.35)]
    fr = Fragmentation(cl, shapes)
    names = [m for m in models]
    for n, g in enumerate(gpus):
        expect = _brute_frag(int(cl.cpu_free[n]), cl.gpu_free[n, :g].tolist(), names[n], shapes)
        assert math.isclose(fr.frag[n], expect, abs_tol=1e-6)
    share = PodRequest(1000, 1, 1, 300)
    after = fr.after_share(np.arange(5), share)
    for n, g in enumerate(gpus):
        for i in range(cl.gpu_free.shape[1]):
            free = cl.gpu_free[n, :g].tolist()
            if i >= g or free[i] < 300 or free[i] in free[:i]:  # no fit, or an earlier GPU gives the same F
                assert after[n, i] == np.inf
                continue
            free[i] -= 300
            assert math.isclose(after[n, i], _brute_frag(int(cl.cpu_free[n]) - 1000, free, names[n], shapes),
                                abs_tol=1e-6)
    whole = PodRequest(1000, 1, 2, 1000)
    after_w = fr.after_whole(np.arange(5), whole)
    for n, g in enumerate(gpus):
        free = cl.gpu_free[n, :g].tolist()
        ids = [i for i, x in enumerate(free) if x == 1000][:2]
        if len(ids) < 2:
            continue
        for i in ids:
            free[i] = 0
        assert math.isclose(after_w[n], _brute_frag(int(cl.cpu_free[n]) - 1000, free, names[n], shapes),
                            abs_tol=1e-6)
