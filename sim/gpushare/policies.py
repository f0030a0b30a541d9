"""GPU-sharing placement policies as kube-scheduler Score plugins (with NormalizeScore where they have one).

Each policy scores every Node for one Pod at once (``score(cluster, pod, feasible) -> int64[N]``, higher is
better, on kube-scheduler's 0–100 scale with its integer truncation) and, for the Node the scheduler
picks, says which GPUs the Pod gets (``pick_gpus``, the GPU-sharing plugin's Reserve step). The
scheduler takes the best-scoring feasible Node; ties go to the first Node in a fixed order (the reference
simulator's ``selectHost`` takes the smallest Node name, and names carry a random per-run prefix).
Definitions follow "Beware of Fragmentation" (Weng et al., ATC'23) and its reference simulator;
constants there: a Node spec of at most 128 CPUs and 8 GPUs normalises vectors.

- ``Random``: a uniformly random feasible Node; a share goes to a random GPU it fits on.
- ``DotProduct`` (Tetris): ``100·(1 − ⟨free, request⟩/2)`` with both vectors (CPU, total GPU milli) divided
  by the max spec — the least aligned Node wins; shares go best-fit.
- ``GpuClustering``: Nodes already running pods of the same GPU class (share, 1-GPU, 2-GPU, …) first:
  75+ when that is the only class there, 50+ when mixed, 25+ for an empty Node, 0+ otherwise, plus up to
  25 for how much GPU is used.
- ``GpuPacking``: share an already-shared GPU first (100 − free‰/10 of the GPU used, ≥ 50), then free GPUs
  of a used Node (50 − GPUs taken, ≥ 33), then an idle Node (33 − its GPUs).
- ``BestFit``: ``100·(1 − ½·(cpu free − request)/128 CPUs − ½·(GPU free − request)/8 GPUs)``, min-max
  normalised over the feasible Nodes.
- ``FGD``: fragmentation gradient descent — the Node (and GPU) whose fragmentation grows least:
  ``100·sigmoid((F_before − F_after)/1000)``, F as in :mod:`sim.gpushare.fragmentation`.

Whole GPUs always go to the first fully free GPUs by index; a share of one GPU goes where the policy's
GPU selection puts it (best-fit unless said otherwise).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import ClassVar, Protocol

import numpy as np

from sim.gpushare.fragmentation import Fragmentation
from sim.gpushare.model import BoolArray, Cluster, FloatArray, IntArray, PodRequest, best_fit_gpu, first_free_gpus
from sim.gpushare.policy_names import POLICY_NAMES as POLICY_NAMES  # the names live apart (cheap import)

MAX_NODE_SCORE = 100
MAX_SPEC_CPU = 128_000  # milli-CPU
MAX_SPEC_GPU = 8_000  # milli-GPU
_INFEASIBLE = np.iinfo(np.int64).min
_NO_FIT = np.iinfo(np.int64).max


class Policy(Protocol):
    """A Score plugin plus its GPU selection (Reserve)."""

    @property
    def name(self) -> str:
        """The plugin name (``spec.scheduler.scoring``)."""
        ...

    def score(self, cluster: Cluster, pod: PodRequest, feasible: BoolArray) -> IntArray:
        """Scores for every Node (entries of infeasible Nodes are meaningless)."""
        ...

    def pick_gpus(self, cluster: Cluster, node: int, pod: PodRequest) -> tuple[int, ...]:
        """The GPU indexes of ``node`` that ``pod`` gets (``()`` for a pod without GPUs)."""
        ...


def normalize_score(scores: IntArray, feasible: BoolArray) -> IntArray:
    """kube-scheduler's min-max NormalizeScore onto 0–100 (integer division) over the feasible Nodes."""
    vals = scores[feasible]
    if vals.size == 0:
        return scores
    lo, hi = int(vals.min()), int(vals.max())
    if hi == lo:
        return np.zeros_like(scores)
    return (scores - lo) * MAX_NODE_SCORE // (hi - lo)


def select_node(scores: IntArray, feasible: BoolArray, rank: IntArray | None = None) -> int | None:
    """The best-scoring feasible Node; None when nothing is feasible.

    Ties go to the Node with the lowest ``rank`` (default: the lowest index). The reference simulator
    breaks ties by the smallest Node name after prefixing names with a random permutation, i.e. by a
    random but fixed Node order per run: pass that permutation as ``rank``.
    """
    masked = np.where(feasible, scores, _INFEASIBLE)
    top = masked.max()
    if top == _INFEASIBLE:
        return None
    best = np.flatnonzero(masked == top)
    if best.size == 1 or rank is None:
        return int(best[0])
    return int(best[np.argmin(rank[best])])


class _BestFitGpus:
    """GPU selection ``best``: a share goes to the fitting GPU with the least free milli."""

    def pick_gpus(self, cluster: Cluster, node: int, pod: PodRequest) -> tuple[int, ...]:
        if pod.num_gpu == 0:
            return ()
        free = cluster.gpu_free[node]
        if pod.shares_gpu:
            return (best_fit_gpu(free, pod.gpu_milli),)
        return first_free_gpus(free, pod.num_gpu)


class RandomPolicy:
    """``Random``: a uniformly random feasible Node and, for a share, a random GPU it fits on."""

    name: ClassVar[str] = "Random"

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def score(self, cluster: Cluster, pod: PodRequest, feasible: BoolArray) -> IntArray:
        out = np.zeros(len(cluster), dtype=np.int64)
        idx = np.flatnonzero(feasible)
        if idx.size:
            out[idx[self.rng.integers(idx.size)]] = MAX_NODE_SCORE
        return out

    def pick_gpus(self, cluster: Cluster, node: int, pod: PodRequest) -> tuple[int, ...]:
        if pod.num_gpu == 0:
            return ()
        free = cluster.gpu_free[node]
        if pod.shares_gpu:
            fits = np.flatnonzero(free >= pod.gpu_milli)
            return (int(fits[self.rng.integers(fits.size)]),)
        return first_free_gpus(free, pod.num_gpu)


class _NodeLocalScore(_BestFitGpus):
    """A score that depends only on each Node's own state and a key of the pod, cached per key.

    Only the Nodes bound since the last pod with the same key (``Cluster.version``) and feasible now are
    recomputed; an infeasible Node stays stale until it is asked for again (memory filters but is not
    part of the key). ``Cluster.epoch`` (bumped by ``reset``) empties the cache.
    """

    def __init__(self) -> None:
        self._cache: dict[Hashable, tuple[IntArray, IntArray]] = {}
        self._epoch = -1

    def _key(self, pod: PodRequest) -> Hashable:
        raise NotImplementedError

    def _compute(self, cluster: Cluster, pod: PodRequest, nodes: IntArray) -> IntArray:
        """Scores of ``nodes`` (indexes) for ``pod``."""
        raise NotImplementedError

    def _cached(self, cluster: Cluster, pod: PodRequest, feasible: BoolArray) -> IntArray:
        if self._epoch != cluster.epoch:
            self._cache.clear()
            self._epoch = cluster.epoch
        key = self._key(pod)
        entry = self._cache.get(key)
        if entry is None:
            n = len(cluster)
            entry = self._cache[key] = (np.zeros(n, dtype=np.int64), np.full(n, -1, dtype=np.int64))
        scores, stamp = entry
        stale = np.flatnonzero((stamp != cluster.version) & feasible)
        if stale.size:
            scores[stale] = self._compute(cluster, pod, stale)
            stamp[stale] = cluster.version[stale]
        return scores

    def score(self, cluster: Cluster, pod: PodRequest, feasible: BoolArray) -> IntArray:
        return self._cached(cluster, pod, feasible)


class DotProductPolicy(_NodeLocalScore):
    """``DotProduct`` (Tetris alignment), GPU dimensions merged, normalised by the max Node spec."""

    name: ClassVar[str] = "DotProduct"

    def _key(self, pod: PodRequest) -> Hashable:
        return (pod.cpu_milli, pod.total_gpu_milli)

    def _compute(self, cluster: Cluster, pod: PodRequest, nodes: IntArray) -> IntArray:
        # the reference's order of float operations, so truncation lands on the same integers
        dot = ((cluster.cpu_free[nodes] / MAX_SPEC_CPU) * (pod.cpu_milli / MAX_SPEC_CPU)
               + (cluster.gpu_free_total[nodes] / MAX_SPEC_GPU) * (pod.total_gpu_milli / MAX_SPEC_GPU))
        return np.trunc(MAX_NODE_SCORE * (1.0 - dot / 2.0)).astype(np.int64)


class GpuClusteringPolicy(_NodeLocalScore):
    """``GpuClustering``: keep pods of one GPU class together."""

    name: ClassVar[str] = "GpuClustering"

    def _key(self, pod: PodRequest) -> Hashable:
        return pod.affinity

    def score(self, cluster: Cluster, pod: PodRequest, feasible: BoolArray) -> IntArray:
        if pod.num_gpu == 0:
            return np.zeros(len(cluster), dtype=np.int64)
        return self._cached(cluster, pod, feasible)

    def _compute(self, cluster: Cluster, pod: PodRequest, nodes: IntArray) -> IntArray:
        used = (MAX_NODE_SCORE // 4) * (MAX_SPEC_GPU - cluster.gpu_free_total[nodes]) // MAX_SPEC_GPU
        classes = cluster.affinity_classes[nodes]
        same = cluster.affinity_count[nodes, cluster.affinity_tag(pod.affinity)] > 0
        base = np.where(same, np.where(classes == 1, 75, 50), np.where(classes == 0, 25, 0))
        return (used + base).astype(np.int64)


class GpuPackingPolicy(_NodeLocalScore):
    """``GpuPacking``: shared GPUs, then free GPUs of used Nodes, then idle Nodes."""

    name: ClassVar[str] = "GpuPacking"

    def _key(self, pod: PodRequest) -> Hashable:
        return (pod.num_gpu, pod.gpu_milli)

    def score(self, cluster: Cluster, pod: PodRequest, feasible: BoolArray) -> IntArray:
        if pod.total_gpu_milli <= 0:
            return np.zeros(len(cluster), dtype=np.int64)
        return self._cached(cluster, pod, feasible)

    def _compute(self, cluster: Cluster, pod: PodRequest, nodes: IntArray) -> IntArray:
        fully_free = cluster.gpu_fully_free[nodes]
        idle_node = fully_free == cluster.gpu_count[nodes]
        idle_score = MAX_NODE_SCORE // 3 - fully_free
        if pod.shares_gpu:
            free = cluster.gpu_free[nodes]
            chosen = np.where(free >= pod.gpu_milli, free, _NO_FIT).min(axis=1)
            on_free_gpu = chosen == 1000
            free_pct = np.where(chosen > 1000, 0, chosen) * 100 // 1000
            shared_score = np.maximum(MAX_NODE_SCORE - free_pct // 10, MAX_NODE_SCORE // 2)
            used_node = np.where(on_free_gpu, max(MAX_NODE_SCORE // 2 - 1, MAX_NODE_SCORE // 3), shared_score)
        else:
            used_node = np.full(nodes.size, max(MAX_NODE_SCORE // 2 - pod.num_gpu, MAX_NODE_SCORE // 3),
                                dtype=np.int64)
        return np.where(idle_node, idle_score, used_node).astype(np.int64)


class BestFitPolicy(_NodeLocalScore):
    """``BestFit``: least CPU and GPU left over after placing, min-max normalised."""

    name: ClassVar[str] = "BestFit"

    def _key(self, pod: PodRequest) -> Hashable:
        return (pod.cpu_milli, pod.total_gpu_milli)

    def _compute(self, cluster: Cluster, pod: PodRequest, nodes: IntArray) -> IntArray:
        left = ((cluster.cpu_free[nodes] - pod.cpu_milli) / MAX_SPEC_CPU * 0.5
                + (cluster.gpu_free_total[nodes] - pod.total_gpu_milli) / MAX_SPEC_GPU * 0.5)
        return np.trunc((1.0 - left) * MAX_NODE_SCORE).astype(np.int64)

    def score(self, cluster: Cluster, pod: PodRequest, feasible: BoolArray) -> IntArray:
        return normalize_score(self._cached(cluster, pod, feasible), feasible)


class FGDPolicy:
    """``FGD``: place where the cluster's expected fragmentation grows least.

    Scores depend only on a Node's state and the pod's :attr:`PodRequest.kind`, so they are cached per
    kind and recomputed only for Nodes bound since (``Cluster.version``).
    """

    name: ClassVar[str] = "FGD"

    def __init__(self, frag: Fragmentation) -> None:
        self.frag = frag
        # per pod kind: score, best GPU (shares), F after placing, and the Node version they were computed at
        self._cache: dict[tuple[int, int, int, tuple[str, ...]],
                          tuple[IntArray, IntArray, FloatArray, IntArray]] = {}
        self._epoch = -1

    def _entry(self, cluster: Cluster, pod: PodRequest,
               feasible: BoolArray | None = None) -> tuple[IntArray, IntArray, FloatArray, IntArray]:
        """The kind's cache, brought up to date for the (feasible, when given) Nodes bound since."""
        n = len(cluster)
        if self._epoch != cluster.epoch:
            self._cache.clear()
            self._epoch = cluster.epoch
        entry = self._cache.get(pod.kind)
        if entry is None:
            entry = (np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.float64),
                     np.full(n, -1, dtype=np.int64))
            self._cache[pod.kind] = entry
        scores, gpus, after, stamp = entry
        # a Node infeasible now is skipped and stays stale (memory is not part of the kind: another pod of
        # this kind may fit it)
        changed = stamp != cluster.version
        stale = np.flatnonzero(changed & feasible if feasible is not None else changed)
        if stale.size:
            before = self.frag.frag[stale]
            if pod.shares_gpu:
                after_g = self.frag.after_share(stale, pod)  # K, G; inf where the share does not fit
                per_gpu = _sigmoid_score(before[:, None] - after_g)
                per_gpu[after_g == np.inf] = -1
                best = per_gpu.argmax(axis=1)  # the first GPU among the best
                rows = np.arange(stale.size)
                scores[stale] = per_gpu[rows, best]
                gpus[stale] = best
                after[stale] = after_g[rows, best]
            else:
                after_w = self.frag.after_whole(stale, pod)
                scores[stale] = _sigmoid_score(before - after_w)
                after[stale] = after_w
            stamp[stale] = cluster.version[stale]
        return entry

    def score(self, cluster: Cluster, pod: PodRequest, feasible: BoolArray) -> IntArray:
        return self._entry(cluster, pod, feasible)[0]

    def _fresh(self, cluster: Cluster, node: int, pod: PodRequest) -> tuple[IntArray, IntArray, FloatArray, IntArray]:
        entry = self._cache.get(pod.kind)
        if entry is None or self._epoch != cluster.epoch or entry[3][node] != cluster.version[node]:
            entry = self._entry(cluster, pod)
        return entry

    def pick_gpus(self, cluster: Cluster, node: int, pod: PodRequest) -> tuple[int, ...]:
        if pod.num_gpu == 0:
            return ()
        if pod.shares_gpu:
            return (int(self._fresh(cluster, node, pod)[1][node]),)
        return first_free_gpus(cluster.gpu_free[node], pod.num_gpu)

    def fragmentation_after(self, cluster: Cluster, node: int, pod: PodRequest) -> float:
        """F of ``node`` once ``pod`` is placed there as :meth:`pick_gpus` says (saves a recomputation)."""
        return float(self._fresh(cluster, node, pod)[2][node])


def _sigmoid_score(delta_milli: FloatArray) -> IntArray:
    """``int64(sigmoid(Δ/1000) · 100)`` as the reference simulator truncates it."""
    x = delta_milli / -1000.0
    with np.errstate(over="ignore"):
        np.exp(x, out=x)
    x += 1.0
    np.divide(MAX_NODE_SCORE, x, out=x)
    return x.astype(np.int64)  # truncation toward zero = floor for these non-negative values


def make_policy(name: str, cluster: Cluster, frag: Fragmentation | None, rng: np.random.Generator) -> Policy:
    """A policy by name; ``frag`` is the cluster's fragmentation tracker (FGD scores with it; the others
    do not need one). The one definition of each policy: the fragmentation experiment
    (:mod:`sim.gpushare.experiment`) and the scheduler's Score plugins (:mod:`sim.plugins.gpusharing`)
    both make their policies here."""
    def fgd() -> Policy:
        if frag is None:
            raise ValueError("FGD needs the cluster's fragmentation tracker")
        return FGDPolicy(frag)

    factories: dict[str, Callable[[], Policy]] = {
        "Random": lambda: RandomPolicy(rng),
        "DotProduct": DotProductPolicy,
        "GpuClustering": GpuClusteringPolicy,
        "GpuPacking": GpuPackingPolicy,
        "BestFit": BestFitPolicy,
        "FGD": fgd,
    }
    if name not in factories:
        raise KeyError(name)
    return factories[name]()
