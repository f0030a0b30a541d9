"""The fragmentation experiment of "Beware of Fragmentation" (ATC'23): fill a cluster with a trace's pods.

Mirrors the paper's protocol (its reference simulator's "workload tuning"): for one seed,

1. shuffle the trace's pods (sorted by name first, so the file order does not matter);
2. submit them in that order, then keep submitting pods drawn uniformly at random, with replacement,
   from the whole trace ("resample, never delete"), **stopping at the first pod whose GPU request would
   take the submitted total past** ``target × cluster GPU capacity`` — so the submitted GPU request is at
   most the target and within one pod's request of it;
3. schedule each pod at once, one by one, with one policy (pods that fit nowhere stay unscheduled; no pod
   ever ends), and after each pod record the arrived share (submitted GPU request / capacity), the
   GPU allocation (allocated GPU milli / capacity), the fragmentation ratio (fragmented / free GPU
   milli) and the fragmentation amount (fragmented GPU milli / capacity), all in percent.

The curve is kept compact the way the paper's analysis does it: the per-pod records are grouped by
arrived share rounded to a whole percent, and each group's mean is one point (at most
``100 × target + 1`` points). ``gpuAllocationPercent`` is the allocation after the last pod.
``wallSeconds`` and ``cpuSeconds`` (process CPU time, steadier on a shared machine) cover one run: empty
the cluster, build the fragmentation tracker, schedule and record every pod.

The workload (shuffle and resampling) depends only on the seed, so every policy sees the same pods in
the same order; each policy's own random choices use a second stream of the same seed: a random Node
order that breaks score ties for the whole run (the reference simulator prefixes Node names with a
random permutation and takes the smallest name among equal scores), and Random's draws.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim.gpushare.fragmentation import DEFAULT_COVERAGE, Fragmentation, TargetShape, target_workload
from sim.gpushare.model import Cluster, PodRequest
from sim.gpushare.policies import FGDPolicy, make_policy, select_node

#: The paper's GPU allocation at 130 % arrived (mean over seeds 42–51), per pod list and policy, from the
#: reference simulator's published artifact results (``analysis_allo_discrete.csv``, column 130).
PAPER_ALLOCATION_130: dict[str, dict[str, float]] = {
    "openb_pod_list_default": {"Random": 87.47, "DotProduct": 90.85, "GpuClustering": 91.88, "GpuPacking": 92.00,
                               "BestFit": 93.08, "FGD": 95.39},
    "openb_pod_list_gpushare100": {"Random": 79.44, "DotProduct": 82.42, "GpuClustering": 82.65,
                                   "GpuPacking": 82.57, "BestFit": 85.01, "FGD": 86.90},
    "openb_pod_list_multigpu50": {"Random": 90.28, "DotProduct": 94.85, "GpuClustering": 95.81,
                                  "GpuPacking": 96.18, "BestFit": 95.74, "FGD": 97.18},
    "openb_pod_list_gpuspec33": {"Random": 86.46, "DotProduct": 89.14, "GpuClustering": 92.12,
                                 "GpuPacking": 93.22, "BestFit": 93.09, "FGD": 94.55},
}


@dataclass(slots=True)
class CurvePoint:
    arrivedPercent: int
    allocatedPercent: float
    fragmentationRatioPercent: float
    fragmentationAmountPercent: float

    def to_dict(self) -> dict[str, Any]:
        return {"arrivedPercent": self.arrivedPercent, "allocatedPercent": self.allocatedPercent,
                "fragmentationRatioPercent": self.fragmentationRatioPercent,
                "fragmentationAmountPercent": self.fragmentationAmountPercent}


@dataclass(slots=True)
class RunResult:
    policy: str
    seed: int
    gpuAllocationPercent: float
    wallSeconds: float
    cpuSeconds: float
    podsArrived: int
    podsUnscheduled: int
    arrivedGpuMilli: int
    curve: list[CurvePoint] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"policy": self.policy, "seed": self.seed, "gpuAllocationPercent": self.gpuAllocationPercent,
                "wallSeconds": self.wallSeconds, "cpuSeconds": self.cpuSeconds, "podsArrived": self.podsArrived,
                "podsUnscheduled": self.podsUnscheduled, "arrivedGpuMilli": self.arrivedGpuMilli,
                "curve": [p.to_dict() for p in self.curve]}


def workload_stream(pods: Sequence[PodRequest], names: Sequence[str], capacity_gpu_milli: int, target: float,
                    seed: int) -> list[int]:
    """Indexes into ``pods`` in submission order for one seed (steps 1–2 of the protocol).

    Rule: submit while the running GPU request plus the next pod's request stays ≤ ``target × capacity``;
    the first pod that would exceed it ends the stream (it is not submitted).
    """
    if capacity_gpu_milli <= 0:
        raise ValueError("the cluster has no GPUs")
    if not any(p.total_gpu_milli > 0 for p in pods):
        raise ValueError("the pod list asks for no GPUs: nothing can reach the target")
    budget = target * capacity_gpu_milli
    rng = np.random.default_rng(seed)
    by_name = sorted(range(len(pods)), key=lambda i: names[i])
    order = [by_name[i] for i in rng.permutation(len(pods))]
    stream: list[int] = []
    total = 0
    for i in order:
        req = pods[i].total_gpu_milli
        if total + req > budget:
            return stream
        stream.append(i)
        total += req
    n = len(pods)
    while True:
        for j in rng.integers(n, size=1024):
            req = pods[j].total_gpu_milli
            if total + req > budget:
                return stream
            stream.append(int(j))
            total += req


def run_policy(cluster: Cluster, pods: Sequence[PodRequest], stream: Sequence[int], shapes: Sequence[TargetShape],
               policy_name: str, seed: int) -> RunResult:
    """Schedule ``stream`` on an emptied ``cluster`` with one policy (step 3 of the protocol)."""
    t0, c0 = time.perf_counter(), time.process_time()
    cluster.reset()
    frag = Fragmentation(cluster, shapes)
    rng = np.random.default_rng([seed, 1])
    rank = rng.permutation(len(cluster))  # the per-run Node order that breaks score ties
    policy = make_policy(policy_name, cluster, frag, rng)
    cap = cluster.capacity_gpu_milli
    buckets: dict[int, list[float]] = {}
    arrived = 0
    unscheduled = 0
    # Pods never end here, so free resources only shrink: a request that fits no Node now never will, and
    # later pods asking for the same are unscheduled without filtering the Nodes again.
    fits_nowhere: set[PodRequest] = set()
    for i in stream:
        pod = pods[i]
        arrived += pod.total_gpu_milli
        node = None
        if pod not in fits_nowhere:
            feasible = cluster.feasible(pod)
            if feasible.any():
                node = select_node(policy.score(cluster, pod, feasible), feasible, rank)
            else:
                fits_nowhere.add(pod)
        if node is None:
            unscheduled += 1
        else:
            known = policy.fragmentation_after(cluster, node, pod) if isinstance(policy, FGDPolicy) else None
            cluster.bind(node, policy.pick_gpus(cluster, node, pod), pod)
            frag.refresh(node, known)
        amount = frag.amount
        free = frag.free * frag.freq_sum
        acc = buckets.setdefault(round(100.0 * arrived / cap), [0.0, 0.0, 0.0, 0.0])
        acc[0] += 1
        acc[1] += cluster.used_gpu_milli
        acc[2] += amount / free if free > 0 else 0.0
        acc[3] += amount
    curve = [CurvePoint(arrivedPercent=k, allocatedPercent=round(100.0 * v[1] / v[0] / cap, 3),
                        fragmentationRatioPercent=round(100.0 * v[2] / v[0], 3),
                        fragmentationAmountPercent=round(100.0 * v[3] / v[0] / cap, 3))
             for k, v in sorted(buckets.items())]
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return RunResult(policy=policy_name, seed=seed,
                     gpuAllocationPercent=round(100.0 * cluster.used_gpu_milli / cap, 3),
                     wallSeconds=round(wall, 4), cpuSeconds=round(cpu, 4), podsArrived=len(stream),
                     podsUnscheduled=unscheduled, arrivedGpuMilli=arrived, curve=curve)


@dataclass(slots=True)
class Experiment:
    """A trace (nodes + pods) ready to run under several policies and seeds."""

    cluster: Cluster
    pods: list[PodRequest]
    names: list[str]
    shapes: list[TargetShape]
    target: float

    @classmethod
    def build(cls, cluster: Cluster, pods: Sequence[PodRequest], names: Sequence[str], target: float,
              coverage: float = DEFAULT_COVERAGE) -> Experiment:
        interned: dict[PodRequest, PodRequest] = {}
        reqs = [interned.setdefault(p, p) for p in pods]
        return cls(cluster=cluster, pods=reqs, names=list(names), shapes=target_workload(reqs, coverage),
                   target=target)

    def run(self, policy: str, seed: int) -> RunResult:
        stream = workload_stream(self.pods, self.names, self.cluster.capacity_gpu_milli, self.target, seed)
        return run_policy(self.cluster, self.pods, stream, self.shapes, policy, seed)


def summary_table(runs: Sequence[RunResult]) -> list[dict[str, Any]]:
    """``table``: per policy (first-seen order) the mean GPU allocation over its seeds, and wall times."""
    by_policy: dict[str, list[RunResult]] = {}
    for r in runs:
        by_policy.setdefault(r.policy, []).append(r)
    rows = []
    for policy, rs in by_policy.items():
        walls = [r.wallSeconds for r in rs]
        cpus = [r.cpuSeconds for r in rs]
        rows.append({"policy": policy,
                     "meanGpuAllocationPercent": round(sum(r.gpuAllocationPercent for r in rs) / len(rs), 3),
                     "seeds": [r.seed for r in rs],
                     "meanWallSeconds": round(sum(walls) / len(walls), 4),
                     "maxWallSeconds": round(max(walls), 4),
                     "meanCpuSeconds": round(sum(cpus) / len(cpus), 4)})
    return rows
