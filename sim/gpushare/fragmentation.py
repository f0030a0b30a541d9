"""GPU fragmentation of a cluster, measured against a target workload ("Beware of Fragmentation", §3).

The target workload is the mix of Pod shapes the cluster is expected to run: each distinct request
(CPU, GPU count, milli per GPU, GPU models) of the trace with its frequency, most popular first, cut at
the smallest prefix that covers 95 % of all pods, then renormalised (the paper's "typical pods";
CPU-only pods included).

For one Node and one target shape ``t``, the Node's free GPU milli is *fragmented* unless ``t`` fits the
Node (enough CPU, an allowed GPU model, and ``num_gpu`` GPUs each with ≥ ``gpu_milli`` free); when it
fits, only the GPUs with less than ``gpu_milli`` free are fragmented. A CPU-only shape cannot use GPUs,
so for it all free GPU milli counts. The Node's fragmentation is the frequency-weighted sum over shapes:

    F(node) = Σ_t f_t · (free_total  if t does not fit  else  Σ_g free_g · [free_g < milli_t])

and the cluster's fragmentation amount is Σ F over Nodes; the fragmentation ratio is that amount over
the cluster's free GPU milli. Memory is not part of the measure (as in the paper).

Computing it is vectorised: per Node and per distinct ``milli_t`` threshold ``u`` keep ``S_u`` (free milli
on GPUs with ≥ u free) and ``C_u`` (how many such GPUs); then ``F = free_total·Σf − Σ_{t fits} f_t·S_u(t)``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from sim.gpushare.model import BoolArray, Cluster, FloatArray, IntArray, PodRequest

#: A pod shape as the target workload counts it: CPU milli, GPU count, milli per GPU, allowed GPU models.
PodKind = tuple[int, int, int, tuple[str, ...]]

#: Share of all pods the target workload must cover (the reference simulator's default: 95 %).
DEFAULT_COVERAGE = 0.95


@dataclass(frozen=True, slots=True)
class TargetShape:
    """One Pod shape of the target workload and its frequency (0..1)."""

    cpu_milli: int
    num_gpu: int
    gpu_milli: int
    gpu_spec: tuple[str, ...]
    frequency: float


def target_workload(pods: Iterable[PodRequest], coverage: float = DEFAULT_COVERAGE) -> list[TargetShape]:
    """The typical pods of a trace: shapes by popularity until ``coverage`` of the pods, renormalised.

    Ties in popularity put the larger shape first (CPU, then milli per GPU, GPU count, models), as the
    reference simulator's descending sort does.
    """
    return target_from_weights(Counter(p.kind for p in pods), coverage)


def target_from_weights(weights: Mapping[PodKind, float], coverage: float = DEFAULT_COVERAGE) -> list[TargetShape]:
    """:func:`target_workload` from each shape's weight (its pod count, or an expected pod count).

    The same rule: shapes by weight, heaviest first (ties: the larger shape first), until ``coverage`` of
    the total weight is covered; each kept shape's frequency is its weight over the kept weight.
    """
    total = sum(weights.values())
    if total <= 0:
        return []
    ranked = sorted(((k, c) for k, c in weights.items() if c > 0),
                    key=lambda kv: (kv[1], kv[0][0], kv[0][2], kv[0][1], "|".join(kv[0][3])), reverse=True)
    need = coverage * total
    taken: list[tuple[PodKind, float]] = []
    covered: float = 0
    for kind, count in ranked:
        if covered >= need:
            break
        taken.append((kind, count))
        covered += count
    return [TargetShape(cpu_milli=k[0], num_gpu=k[1], gpu_milli=k[2], gpu_spec=k[3], frequency=c / covered)
            for k, c in taken]


class Fragmentation:
    """The fragmentation measure for one cluster and target workload, kept up to date per Node.

    ``frag[n]`` is F(node n); call :meth:`refresh` after a bind on a Node. The ``after_*`` methods give F
    of hypothetical Node states (a pod placed) for many Nodes at once — what FGD scores.
    """

    def __init__(self, cluster: Cluster, shapes: Sequence[TargetShape]) -> None:
        self.cluster = cluster
        self.shapes = list(shapes)
        self.freq_sum = float(sum(s.frequency for s in shapes))
        gpu_shapes = [s for s in shapes if s.gpu_milli > 0 and s.num_gpu > 0]
        self.thresholds: IntArray = np.asarray(sorted({s.gpu_milli for s in gpu_shapes}), dtype=np.int64)
        where = {int(u): i for i, u in enumerate(self.thresholds)}
        # Shapes that need the same GPUs (threshold u, count n) form a group; within a group, which shapes
        # fit a Node depends only on its free CPU and GPU model. So per GPU model, CPU level (how many of
        # the shapes' distinct CPU requests the free CPU covers) and group, the frequency of the fitting
        # shapes is tabulated once: weight[model, level, group].
        groups = sorted({(where[s.gpu_milli], s.num_gpu) for s in gpu_shapes})
        gindex = {g: i for i, g in enumerate(groups)}
        self.g_u: IntArray = np.asarray([g[0] for g in groups], dtype=np.int64)
        self.g_n: IntArray = np.asarray([g[1] for g in groups], dtype=np.int64)
        self.cpu_levels: IntArray = np.asarray(sorted({s.cpu_milli for s in gpu_shapes}), dtype=np.int64)
        n_models = len(cluster.model_names)
        self.weight: FloatArray = np.zeros((n_models + 1, len(self.cpu_levels) + 1, len(groups)), dtype=np.float64)
        for shape in gpu_shapes:
            level = int(np.searchsorted(self.cpu_levels, shape.cpu_milli, side="right"))  # this level and up fit
            g = gindex[(where[shape.gpu_milli], shape.num_gpu)]
            for m, model in enumerate(cluster.model_names):
                if not shape.gpu_spec or model in shape.gpu_spec:
                    self.weight[m, level:, g] += shape.frequency
        #: GPU model per Node as a row of ``weight`` (Nodes without GPUs use the all-zero last row)
        self.node_model: IntArray = np.where(cluster.model < 0, n_models, cluster.model).astype(np.int64)
        self._earlier_cache: dict[int, BoolArray] = {}
        self.recompute()

    # -- per-Node state ------------------------------------------------------------------------------
    def _s_c(self, free: IntArray) -> tuple[FloatArray, IntArray]:
        """``S`` (…, U) and ``C`` (…, U) of GPU free vectors ``free`` (…, G)."""
        ge = free[..., :, None] >= self.thresholds
        return (free[..., :, None] * ge).sum(axis=-2).astype(np.float64), ge.sum(axis=-2)

    def _frag(self, cpu: IntArray, total: IntArray, s: FloatArray, c: IntArray, model: IntArray) -> FloatArray:
        """F for states given by CPU free, total GPU free, S, C and GPU model row (leading dims broadcast)."""
        weight = self.weight[model, np.searchsorted(self.cpu_levels, cpu, side="right")]  # …, groups
        enough = c[..., self.g_u] >= self.g_n
        usable: FloatArray = (enough * s[..., self.g_u] * weight).sum(axis=-1)
        return total * self.freq_sum - usable

    def recompute(self) -> None:
        cl = self.cluster
        self.s, self.c = self._s_c(cl.gpu_free)
        self.total: IntArray = cl.gpu_free.sum(axis=1)
        self.frag: FloatArray = self._frag(cl.cpu_free, self.total, self.s, self.c, self.node_model)
        self._amount = float(self.frag.sum())
        self._free = int(self.total.sum())

    def refresh(self, node: int, frag: float | None = None) -> None:
        """Update Node ``node`` after a bind; ``frag`` is its new F when the caller already computed it."""
        cl = self.cluster
        free = cl.gpu_free[node]
        s, c = self._s_c(free)
        self.s[node], self.c[node] = s, c
        total = int(free.sum())
        self._free += total - int(self.total[node])
        self.total[node] = total
        if frag is not None:
            value = frag
        else:
            value = float(self._frag(cl.cpu_free[node:node + 1], self.total[node:node + 1], s[None, :],
                                     c[None, :], self.node_model[node:node + 1])[0])
        self._amount += value - float(self.frag[node])
        self.frag[node] = value

    # -- cluster totals ------------------------------------------------------------------------------
    @property
    def amount(self) -> float:
        """Fragmented GPU milli in the cluster (kept as a running sum)."""
        return self._amount

    @property
    def free(self) -> int:
        """Free GPU milli in the cluster."""
        return self._free

    @property
    def ratio(self) -> float:
        """Fragmented share of the free GPU milli (0..1; 0 when nothing is free)."""
        free = self.free * self.freq_sum
        return self.amount / free if free > 0 else 0.0

    # -- hypothetical placements (FGD) ---------------------------------------------------------------
    def after_whole(self, nodes: IntArray, pod: PodRequest) -> FloatArray:
        """F of each Node in ``nodes`` after placing ``pod`` (no GPU, or whole GPUs) on it."""
        cpu = self.cluster.cpu_free[nodes] - pod.cpu_milli
        n = pod.num_gpu
        # whole GPUs go to fully free GPUs: each had 1000 ≥ every threshold
        s = self.s[nodes] - 1000 * n
        c = self.c[nodes] - n
        total = self.total[nodes] - pod.total_gpu_milli
        return self._frag(cpu, total, s, c, self.node_model[nodes])

    def after_share(self, nodes: IntArray, pod: PodRequest) -> FloatArray:
        """F of each Node in ``nodes`` (K) after placing the GPU share on each of its GPUs: (K, G).

        ``inf`` where the share does not fit, and where an earlier GPU of the same Node has the same free
        milli (placing there gives the same F; the earlier GPU wins ties anyway).
        """
        cl = self.cluster
        free = cl.gpu_free[nodes]  # K, G
        width = free.shape[1]
        earlier_same = (free[:, :, None] == free[:, None, :]) & self._earlier(width)
        valid = (free >= pod.gpu_milli) & ~earlier_same.any(axis=2)
        flat = np.flatnonzero(valid)
        out = np.full(free.shape, np.inf)
        if flat.size == 0:
            return out
        k = nodes[flat // width]
        before = free.ravel()[flat][:, None]  # P, 1
        after = before - pod.gpu_milli
        thr = self.thresholds
        ge_b = before >= thr  # P, U
        ge_a = after >= thr
        s = self.s[k] - before * ge_b + after * ge_a
        c = self.c[k] - ge_b + ge_a
        out.ravel()[flat] = self._frag(cl.cpu_free[k] - pod.cpu_milli, self.total[k] - pod.gpu_milli, s, c,
                                       self.node_model[k])
        return out

    def _earlier(self, width: int) -> BoolArray:
        """``[g, h]`` is True when GPU ``h`` comes before GPU ``g``."""
        got = self._earlier_cache.get(width)
        if got is None:
            got = self._earlier_cache[width] = np.tri(width, width, -1, dtype=np.bool_)
        return got
