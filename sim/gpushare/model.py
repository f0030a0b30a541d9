"""Nodes with shareable GPUs and the Pods that ask for them: the state a GPU-sharing scheduler sees.

Mirrors kube-scheduler's NodeInfo for a cluster whose GPUs are shared in milli-GPU units (1000 = one
GPU), as Alibaba's GPU-sharing scheduler and DRA consumable capacity (``allowMultipleAllocations``) do:
each Node has allocatable CPU (milli) and memory (MiB) and a vector of free milli-GPU per GPU. A Pod asks
for CPU, memory and either ``num_gpu`` whole GPUs, a share (``gpu_milli`` < 1000) of one GPU, or no GPU,
optionally only on some GPU models (``gpu_spec``). :meth:`Cluster.feasible` is the Filter step
(NodeResourcesFit for CPU and memory, the GPU-sharing filter for GPUs and GPU model) over all Nodes at
once; :meth:`Cluster.bind` is Reserve/Bind and :meth:`Cluster.unbind` releases a pod's resources.

Everything is numpy arrays indexed by Node (``N`` nodes, ``G`` = most GPUs on one Node; a Node with
fewer GPUs has its missing GPUs at 0 free milli, which no request can use).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from models.openb import OpenbNode, OpenbPod

#: One whole GPU in milli-GPU.
GPU_MILLI = 1000

IntArray = NDArray[np.int64]
_NO_FIT = np.iinfo(np.int64).max
BoolArray = NDArray[np.bool_]
FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class PodRequest:
    """What a Pod asks the scheduler for (the "pod resource" of the paper)."""

    cpu_milli: int
    memory_mib: int = 0
    num_gpu: int = 0
    gpu_milli: int = 0  # per GPU; 1000 for whole GPUs
    gpu_spec: tuple[str, ...] = ()  # allowed GPU models, sorted; () = any

    @property
    def total_gpu_milli(self) -> int:
        return self.num_gpu * self.gpu_milli

    @property
    def shares_gpu(self) -> bool:
        """A share of one GPU (``gpu_milli`` < 1000)."""
        return self.num_gpu == 1 and 0 < self.gpu_milli < GPU_MILLI

    @property
    def affinity(self) -> str:
        """The GPU-clustering tag: ``no-gpu``, ``share-gpu`` or ``<n>-gpu``."""
        if self.num_gpu == 0:
            return "no-gpu"
        if self.shares_gpu:
            return "share-gpu"
        return f"{self.num_gpu}-gpu"

    @property
    def kind(self) -> tuple[int, int, int, tuple[str, ...]]:
        """What node scores depend on (memory only filters): CPU, GPU count, milli per GPU, models."""
        return (self.cpu_milli, self.num_gpu, self.gpu_milli, self.gpu_spec)

    @classmethod
    def from_trace(cls, pod: OpenbPod) -> PodRequest:
        return cls(cpu_milli=pod.cpu_milli, memory_mib=pod.memory_mib, num_gpu=pod.num_gpu,
                   gpu_milli=pod.gpu_milli, gpu_spec=pod.gpu_spec)


class Cluster:
    """All Nodes' capacity and free resources, vectorised over Nodes.

    ``version[n]`` counts the binds on Node ``n``: a policy may cache per-Node scores and recompute only
    the Nodes whose version moved.
    """

    def __init__(self, names: Sequence[str], cpu_milli: Sequence[int], memory_mib: Sequence[int],
                 gpus: Sequence[int], models: Sequence[str]) -> None:
        n = len(names)
        if not (len(cpu_milli) == len(memory_mib) == len(gpus) == len(models) == n):
            raise ValueError("node columns differ in length")
        self.names = list(names)
        self.cpu_capacity: IntArray = np.asarray(cpu_milli, dtype=np.int64)
        self.memory_capacity: IntArray = np.asarray(memory_mib, dtype=np.int64)
        self.gpu_count: IntArray = np.asarray(gpus, dtype=np.int64)
        self.model_names: list[str] = sorted({m for m, g in zip(models, gpus, strict=True) if g > 0})
        index = {m: i for i, m in enumerate(self.model_names)}
        #: model index per Node; -1 for a Node without GPUs
        self.model: IntArray = np.asarray([index[m] if g > 0 else -1 for m, g in zip(models, gpus, strict=True)],
                                          dtype=np.int64)
        width = max(1, int(self.gpu_count.max()) if n else 1)
        self.gpu_capacity: IntArray = np.where(np.arange(width)[None, :] < self.gpu_count[:, None], GPU_MILLI, 0)
        self.gpu_capacity = self.gpu_capacity.astype(np.int64)
        self.capacity_gpu_milli = int(self.gpu_capacity.sum())
        self._affinity_tags: dict[str, int] = {}
        self._access: dict[tuple[str, ...], BoolArray] = {}
        #: bumped by every reset: caches keyed on ``version`` must start over
        self.epoch = 0
        self.reset()

    @classmethod
    def from_trace(cls, nodes: Sequence[OpenbNode]) -> Cluster:
        return cls([x.name for x in nodes], [x.cpu_milli for x in nodes], [x.memory_mib for x in nodes],
                   [x.gpu for x in nodes], [x.model for x in nodes])

    @classmethod
    def from_state(cls, names: Sequence[str], cpu_free: Sequence[int], gpu_free: Sequence[Sequence[int]],
                   models: Sequence[str], classes: Sequence[Mapping[str, int]] = ()) -> Cluster:
        """A snapshot of Nodes as they are now: free CPU (milli), free milli per GPU (each GPU holds 1000)
        and, per Node, how many running pods there are of each GPU-clustering tag (``classes``).

        What a policy sees when it scores a live cluster (the scheduler's Score plugins build one over
        the feasible Nodes); memory is left out (it only filters, and the scheduler filtered already).
        """
        gpus = [len(row) for row in gpu_free]
        view = cls(names, list(cpu_free), [0] * len(names), gpus, models)
        for n, row in enumerate(gpu_free):
            if row:
                view.gpu_free[n, :len(row)] = row
        view.cpu_free = view.cpu_capacity.copy()
        view.gpu_max_free = view.gpu_free.max(axis=1)
        view.gpu_fully_free = (view.gpu_free == GPU_MILLI).sum(axis=1).astype(np.int64)
        view._gpu_free_total = view.gpu_free.sum(axis=1)
        view.used_gpu_milli = int(view.capacity_gpu_milli - view._gpu_free_total.sum())
        for n, counts in enumerate(classes):
            for tag in sorted(counts):
                if counts[tag] > 0:
                    view.affinity_count[n, view.affinity_tag(tag)] = counts[tag]
                    view.affinity_classes[n] += 1
        return view

    def reset(self) -> None:
        """Empty every Node."""
        n = len(self.names)
        self.epoch += 1
        self.cpu_free: IntArray = self.cpu_capacity.copy()
        self.memory_free: IntArray = self.memory_capacity.copy()
        self.gpu_free: IntArray = self.gpu_capacity.copy()
        self.version: IntArray = np.zeros(n, dtype=np.int64)
        #: per Node: most free milli on one GPU, and how many GPUs are fully free (fast filters)
        self.gpu_max_free: IntArray = self.gpu_free.max(axis=1)
        self.gpu_fully_free: IntArray = self.gpu_count.copy()
        self._gpu_free_total: IntArray = self.gpu_free.sum(axis=1)
        #: pods per (Node, GPU-clustering tag); tags are numbered as they first appear
        self.affinity_count: IntArray = np.zeros((n, 8), dtype=np.int64)
        #: how many distinct GPU-clustering tags each Node runs
        self.affinity_classes: IntArray = np.zeros(n, dtype=np.int64)
        self.used_gpu_milli = 0

    def __len__(self) -> int:
        return len(self.names)

    @property
    def gpu_free_total(self) -> IntArray:
        """Free milli-GPU per Node, all GPUs together."""
        return self._gpu_free_total

    def affinity_tag(self, tag: str) -> int:
        """The column of ``affinity_count`` for a GPU-clustering tag."""
        i = self._affinity_tags.get(tag)
        if i is None:
            i = self._affinity_tags[tag] = len(self._affinity_tags)
            if i >= self.affinity_count.shape[1]:
                grown = np.zeros((len(self.names), 2 * self.affinity_count.shape[1]), dtype=np.int64)
                grown[:, :self.affinity_count.shape[1]] = self.affinity_count
                self.affinity_count = grown
        return i

    def model_access(self, spec: tuple[str, ...]) -> BoolArray:
        """Nodes whose GPU model the selector allows (every GPU Node when ``spec`` is empty)."""
        got = self._access.get(spec)
        if got is None:
            if spec:
                allowed = np.asarray([m in spec for m in self.model_names] + [False], dtype=np.bool_)
                got = allowed[self.model]  # model -1 picks the trailing False
            else:
                got = self.model >= 0
            self._access[spec] = got
        return got

    def feasible(self, pod: PodRequest) -> BoolArray:
        """The Filter step: Nodes with room for the pod's CPU, memory and GPUs, of an allowed GPU model."""
        ok = (self.cpu_free >= pod.cpu_milli) & (self.memory_free >= pod.memory_mib)
        if pod.num_gpu > 0:
            if pod.num_gpu == 1:
                fits = self.gpu_max_free >= pod.gpu_milli
            elif pod.gpu_milli == GPU_MILLI:
                fits = self.gpu_fully_free >= pod.num_gpu
            else:
                fits = (self.gpu_free >= pod.gpu_milli).sum(axis=1) >= pod.num_gpu
            ok &= fits & self.model_access(pod.gpu_spec)
        return ok

    def bind(self, node: int, gpus: Sequence[int], pod: PodRequest) -> None:
        """Reserve the pod's CPU, memory and ``gpu_milli`` on each GPU index in ``gpus`` of ``node``."""
        if len(gpus) != pod.num_gpu:
            raise ValueError(f"pod asks for {pod.num_gpu} GPU(s), got indexes {list(gpus)}")
        for g in gpus:
            if self.gpu_free[node, g] < pod.gpu_milli:
                raise ValueError(f"GPU {g} of node {self.names[node]} has {self.gpu_free[node, g]} milli free, "
                                 f"pod asks for {pod.gpu_milli}")
        self.cpu_free[node] -= pod.cpu_milli
        self.memory_free[node] -= pod.memory_mib
        for g in gpus:
            self.gpu_free[node, g] -= pod.gpu_milli
        if pod.num_gpu:
            tag = self.affinity_tag(pod.affinity)
            if self.affinity_count[node, tag] == 0:
                self.affinity_classes[node] += 1
            self.affinity_count[node, tag] += 1
            row = self.gpu_free[node]
            self.gpu_max_free[node] = row.max()
            self.gpu_fully_free[node] = int((row == GPU_MILLI).sum())
            self._gpu_free_total[node] -= pod.total_gpu_milli
        self.used_gpu_milli += pod.total_gpu_milli
        self.version[node] += 1

    def unbind(self, node: int, gpus: Sequence[int], pod: PodRequest) -> None:
        """Release what :meth:`bind` reserved (the pod ended or was deleted)."""
        if len(gpus) != pod.num_gpu:
            raise ValueError(f"pod holds {pod.num_gpu} GPU(s), got indexes {list(gpus)}")
        for g in gpus:
            if self.gpu_free[node, g] + pod.gpu_milli > self.gpu_capacity[node, g]:
                raise ValueError(f"GPU {g} of node {self.names[node]} would have more than its capacity free")
        self.cpu_free[node] += pod.cpu_milli
        self.memory_free[node] += pod.memory_mib
        for g in gpus:
            self.gpu_free[node, g] += pod.gpu_milli
        if pod.num_gpu:
            tag = self.affinity_tag(pod.affinity)
            self.affinity_count[node, tag] -= 1
            if self.affinity_count[node, tag] == 0:
                self.affinity_classes[node] -= 1
            row = self.gpu_free[node]
            self.gpu_max_free[node] = row.max()
            self.gpu_fully_free[node] = int((row == GPU_MILLI).sum())
            self._gpu_free_total[node] += pod.total_gpu_milli
        self.used_gpu_milli -= pod.total_gpu_milli
        self.version[node] += 1


def first_free_gpus(free: IntArray, count: int) -> tuple[int, ...]:
    """The first ``count`` fully free GPUs by index (how whole GPUs are assigned)."""
    idx = np.flatnonzero(free == GPU_MILLI)[:count]
    if len(idx) < count:
        raise ValueError(f"only {len(idx)} fully free GPU(s), need {count}")
    return tuple(int(i) for i in idx)


def best_fit_gpu(free: IntArray, milli: int) -> int:
    """The GPU with the least free milli that still fits ``milli`` (lowest index on ties)."""
    masked = np.where(free >= milli, free, _NO_FIT)
    g = int(np.argmin(masked))
    if free[g] < milli:
        raise ValueError(f"no GPU has {milli} milli free")
    return g
