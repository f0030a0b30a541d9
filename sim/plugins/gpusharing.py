"""GPU-sharing placement policies as kube-scheduler Score plugins: ``Random``, ``DotProduct``,
``GpuClustering``, ``GpuPacking``, ``BestFit`` and ``FGD`` ("Beware of Fragmentation", ATC'23).

The paper's simulator runs each policy as the one Score plugin of a kube-scheduler profile, next to a
GPU-sharing filter and a Reserve step that picks the GPUs inside the chosen node. Here each policy is a
Score plugin (and Reserve, for the GPU choice) registered under its own name; ``spec.scheduler.scoring:
FGD`` enables it and sets ``NodeResourcesFit``'s Score weight to 0 (the builder does that), so the
policy alone ranks nodes, as in the paper. The scoring code is the experiment's
(:mod:`sim.gpushare.policies`, one definition of each policy): every Score call takes a snapshot of the
feasible nodes as a :class:`sim.gpushare.model.Cluster` and asks the policy.

**What a node looks like to the policies.** Per node: free CPU (milli), free milli-GPU of each GPU and
the GPU classes of the pods running there (``GpuClustering``). The GPUs of a node are

* its DRA *shareable GPU devices* when it has any: devices with ``allowMultipleAllocations`` and exactly
  one capacity (``milli: 1000`` as ``kubetwin import openb --gpu-sharing dra`` writes them, or e.g.
  ``memory: 24Gi``); a device's free share is ``⌊1000 × (capacity − consumed) / capacity⌋`` milli;
* otherwise its whole GPUs (``nvidia.com/gpu`` and other accelerator resources): each either free
  (1000) or in use (0), by the node's free count.

**What a pod asks for.** CPU from its requests; GPUs as one of: ``n`` whole GPUs (accelerator requests,
also those a DeviceClass serves through ``extendedResourceName``, and DRA requests without a capacity
request), or a share of one GPU: a DRA claim request for ``capacity.requests`` of the GPU devices'
capacity, in milli of the first such device in node order (``⌈1000 × request / capacity⌉``).

**Which GPU.** Whole GPUs go to the first free GPUs, which is what DRA's allocator (devices in slice
order, first fit) picks. A share goes where the policy puts it (best fit, FGD's least-fragmenting GPU,
or Random's draw): at Reserve, before ``DynamicResources`` reserves, the plugin re-runs the pod's DRA
allocation on that node with the policy's GPU first in device order, so the allocator takes it.

**FGD's target workload** comes from the scenario: every pod set of every workload, its shape (CPU,
GPU demand as above) weighted by its expected pod count (instances — ``count``, the ``at`` times, or
``duration / meanInterval`` for an open Poisson arrival — times replicas), cut at 95 % coverage as the
paper does (:func:`sim.gpushare.fragmentation.target_from_weights`). A shape's "GPU models" are the
node pools its node selector, required node affinity and tolerations allow (all pools: any model).

Verdicts read device usage and the pods on each node, so ``depends`` has ``"state"``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from models.duration import parse_duration
from models.quantity import Quantity
from sim.cluster import ClusterState, is_accelerator
from sim.constraints import node_reason
from sim.dra.allocator import consumed_amount
from sim.framework import CycleState, Nodes, Scores, register
from sim.gpushare.fragmentation import Fragmentation, PodKind, TargetShape, target_from_weights
from sim.gpushare.model import GPU_MILLI, Cluster, PodRequest
from sim.gpushare.policies import POLICY_NAMES, Policy, make_policy
from sim.pods import SimPod

_DRA_KEY = "DynamicResources"  # DynamicResources' CycleState entry: (claims to allocate, nodes, per-node results)


class _Gpu:
    """One shareable GPU device of a node: its reference, capacity name (qualified) and capacity."""

    __slots__ = ("capacity", "name", "policy", "ref")

    def __init__(self, ref: Any, name: str, capacity: Fraction, policy: Any) -> None:
        self.ref = ref
        self.name = name
        self.capacity = capacity
        self.policy = policy  # the capacity's requestPolicy (rounds a request up)


def _gpu_devices(inventory: Any) -> list[_Gpu]:
    """The shareable GPU devices of a DRA inventory, in its device order."""
    out = []
    for d in inventory.devices:
        if d.multi and len(d.capacity) == 1:
            (name, cap), = d.capacity.items()
            if cap > 0:
                out.append(_Gpu(d.ref, name, Fraction(cap), d.policies.get(name)))
    return out


def _capacity_key(asked: str, gpu: _Gpu) -> bool:
    """Does a request's capacity name (``milli`` or ``driver/milli``) name this device's capacity?"""
    return asked == gpu.name or f"{gpu.ref.driver}/{asked}" == gpu.name


class GpuSharingScore:
    """One GPU-sharing policy as a Score (and Reserve) plugin."""

    depends = frozenset({"free", "state"})
    weight = 1

    def __init__(self, policy: str, context: Any) -> None:
        if policy not in POLICY_NAMES:
            raise ValueError(f"unknown GPU-sharing policy {policy!r}; known: {', '.join(POLICY_NAMES)}")
        self.name = policy
        self.cluster: ClusterState = context.cluster
        self.host = context.host
        seed = int(getattr(self.host, "seed", 0) or 0)
        #: Random's draws (its node and its GPU); one stream per run
        self.rng = np.random.default_rng([seed, 11])
        self._gpus: dict[int, tuple[Any, list[_Gpu]]] = {}
        #: per node: the free-milli row of its DRA GPUs and the usage (object, version) it was read at
        self._rows: dict[int, tuple[tuple[int, int], list[_Gpu], list[int]]] = {}
        self._tags: dict[int, str] = {}
        self._shapes: list[TargetShape] | None = None
        self._subscribed = False

    # ------------------------------------------------------------------ the cluster as the policies see it

    def _dra(self) -> Any:
        controller = getattr(self.host, "dra", None)
        return getattr(controller, "plugin", None)

    def gpus_of(self, node: int) -> list[_Gpu]:
        """The node's shareable GPU devices (cached per DRA inventory object)."""
        dra = self._dra()
        inv = dra.inventories.get(node) if dra is not None else None
        if inv is None:
            return []
        hit = self._gpus.get(node)
        if hit is None or hit[0] is not inv:
            hit = self._gpus[node] = (inv, _gpu_devices(inv))
        return hit[1]

    def gpu_free(self, node: int) -> list[int]:
        """Free milli of each GPU of ``node`` (DRA shareable devices, else whole accelerators)."""
        devices = self.gpus_of(node)
        if devices:
            usage = self._dra().usage.get(node)
            key = (id(usage), usage.version if usage is not None else -1)
            hit = self._rows.get(node)
            if hit is not None and hit[0] == key and hit[1] is devices:
                return hit[2]
            out = []
            for g in devices:
                if usage is not None and g.ref in usage.exclusive:
                    out.append(0)
                    continue
                used = usage.consumed.get(g.ref, {}).get(g.name, Fraction(0)) if usage is not None else 0
                out.append(max(0, math.floor(GPU_MILLI * (g.capacity - used) / g.capacity)))
            self._rows[node] = (key, devices, out)
            return out
        cluster = self.cluster
        total = free = 0
        for r, name in enumerate(cluster.resources):
            if is_accelerator(name):
                total += int(cluster.alloc[r, node]) // 1000
                free += int(cluster.free[r, node]) // 1000
        return [GPU_MILLI] * free + [0] * (total - free)

    def _reference_gpu(self, asked: str) -> _Gpu | None:
        """The first GPU device (in node order) whose capacity ``asked`` names."""
        dra = self._dra()
        if dra is None:
            return None
        for node in sorted(dra.inventories):
            for g in self.gpus_of(node):
                if _capacity_key(asked, g):
                    return g
        return None

    def _share_milli(self, requests: Mapping[str, Any]) -> int | None:
        """A capacity request in milli of the reference GPU, after its requestPolicy rounds it up."""
        for asked, value in sorted(requests.items()):
            g = self._reference_gpu(asked)
            if g is not None:
                amount = consumed_amount(Quantity.parse(value).value, g.capacity, g.policy)
                if amount is None:
                    return GPU_MILLI
                return min(GPU_MILLI, math.ceil(GPU_MILLI * amount / g.capacity))
        return None

    def _claim_demand(self, specs: Iterable[Any]) -> tuple[int, int]:
        """(whole GPUs, share milli) asked by DRA claim specs (first alternative of each request)."""
        whole = share = 0
        for spec in specs:
            for request in spec.devices.requests:
                alternatives = request.alternatives()
                if not alternatives:
                    continue
                _, exact = alternatives[0]
                asked = exact.capacity.requests if exact.capacity is not None else {}
                milli = self._share_milli(asked) if asked else None
                if milli is not None and milli < GPU_MILLI and exact.count == 1 and not share:
                    share = milli
                elif exact.allocationMode == "ExactCount":
                    whole += exact.count
        return whole, share

    def demand(self, pod: SimPod, with_allocated: bool = False) -> PodRequest:
        """The pod's request as the policies see it (``with_allocated``: count claims already allocated,
        e.g. for a pod already running; else only what this placement must allocate)."""
        cluster = self.cluster
        cpu = 0
        whole = 0
        for r, q in pod.shape.req:
            name = cluster.resources[r]
            if name == "cpu":
                cpu = q
            elif is_accelerator(name):
                whole += q // 1000
        share = 0
        dra = self._dra()
        if dra is not None:
            whole += sum(dra.extended_requests.get(pod.seq, {}).values())
            claims = [c for c in dra.controller.claims_of(pod.seq) if with_allocated or not c.allocated]
            w, share = self._claim_demand(c.spec for c in claims)
            whole += w
        if share and not whole:
            return PodRequest(cpu_milli=cpu, num_gpu=1, gpu_milli=share)
        if whole:
            return PodRequest(cpu_milli=cpu, num_gpu=whole, gpu_milli=GPU_MILLI)
        return PodRequest(cpu_milli=cpu)

    def _tag(self, pod: SimPod) -> str:
        tag = self._tags.get(pod.seq)
        if tag is None:
            tag = self._tags[pod.seq] = self.demand(pod, with_allocated=True).affinity
        return tag

    def snapshot(self, nodes: Sequence[int], cpu_back: int = 0) -> Cluster:
        """The nodes as a :class:`Cluster` (``cpu_back`` is added to free CPU: a pod already reserved)."""
        cluster = self.cluster
        cpu_row = cluster.ridx.get("cpu")
        names, cpu, gpus, models, classes = [], [], [], [], []
        for n in nodes:
            node = cluster.nodes[n]
            names.append(node.name)
            cpu.append((int(cluster.free[cpu_row, n]) if cpu_row is not None else 0) + cpu_back)
            gpus.append(self.gpu_free(n))
            models.append(node.pool.name)
            if self.name == "GpuClustering":
                tags = Counter(self._tag(p) for p in cluster.pods_on[n].values())
                tags.pop("no-gpu", None)
                classes.append(tags)
        return Cluster.from_state(names, cpu, gpus, models, classes)

    def _policy(self, view: Cluster) -> Policy:
        frag = Fragmentation(view, self.target_shapes()) if self.name == "FGD" else None
        return make_policy(self.name, view, frag, self.rng)

    # ------------------------------------------------------------------ FGD's target workload

    def target_shapes(self) -> list[TargetShape]:
        """The scenario's typical pods (see the module docstring), computed once."""
        if self._shapes is None:
            self._shapes = target_from_weights(self.workload_weights())
        return self._shapes

    def workload_weights(self) -> dict[PodKind, float]:
        """Each pod shape of the scenario's workloads with its expected pod count."""
        blueprint = getattr(self.host, "blueprint", None)
        if blueprint is None:
            return {}
        pools = blueprint.node_pools
        templates = {}
        if blueprint.dra is not None:
            for t in blueprint.dra.templates:
                templates[(t.metadata.namespace or "default", t.metadata.name)] = t.spec.spec
        weights: dict[PodKind, float] = {}
        for g in blueprint.generators:
            spec = g.spec
            instances = spec.instance_count()
            if instances is None:
                mean = parse_duration(spec.arrival.poisson.meanInterval) if spec.arrival.poisson else 0.0
                instances = blueprint.duration / mean if mean > 0 else 0
            for ps in g.pod_sets:
                cpu = ps.requests.get("cpu", 0)
                whole = sum(q // 1000 for r, q in ps.requests.items() if is_accelerator(r))
                template = spec.template if spec.podSets is None else next(
                    (x.template for x in spec.podSets if x.name == ps.name), None)
                claims = [templates[(spec.namespace, c.resourceClaimTemplateName)]
                          for c in getattr(template, "resourceClaims", None) or []
                          if (spec.namespace, c.resourceClaimTemplateName) in templates]
                w, share = self._claim_demand(claims)
                whole += w
                eligible = tuple(sorted(p.name for p in pools if node_reason(
                    ps.tolerations, ps.node_selector, ps.affinity, p.labels,
                    [t.model_dump(exclude_none=True) for t in p.taints], "") is None))
                models = () if len(eligible) == len(pools) else eligible
                if share and not whole:
                    kind: PodKind = (cpu, 1, share, models)
                elif whole:
                    kind = (cpu, whole, GPU_MILLI, models)
                else:
                    kind = (cpu, 0, 0, models)
                weights[kind] = weights.get(kind, 0.0) + instances * ps.replicas
        return weights

    # ------------------------------------------------------------------ extension points

    def score(self, pod: SimPod, nodes: Nodes, state: CycleState) -> Scores:
        self._subscribe()
        view = self.snapshot(nodes.tolist())
        scores = self._policy(view).score(view, self.demand(pod), np.ones(len(nodes), dtype=np.bool_))
        return np.array(scores, dtype=np.int64)

    def normalize(self, scores: Scores) -> Scores:
        return scores  # the policies score on 0–100 already (BestFit normalizes over the feasible nodes)

    def pick_gpus(self, pod: SimPod, node: int, reserved: bool = False) -> tuple[int, ...]:
        """The GPU indexes of ``node`` the policy gives ``pod`` (``reserved``: its CPU is taken already)."""
        req = self.demand(pod)
        view = self.snapshot([node], cpu_back=req.cpu_milli if reserved else 0)
        if req.num_gpu == 0 or int((view.gpu_free[0] >= req.gpu_milli).sum()) < req.num_gpu:
            return ()
        policy = self._policy(view)
        if self.name == "FGD":
            policy.score(view, req, np.ones(1, dtype=np.bool_))
        return policy.pick_gpus(view, 0, req)

    def reserve(self, pod: SimPod, node: int, state: CycleState) -> str | None:
        self._tags[pod.seq] = self.demand(pod, with_allocated=True).affinity
        entry = state.get(_DRA_KEY)
        devices = self.gpus_of(node)
        if entry is None or not entry[0] or not devices:
            return None
        chosen = self.pick_gpus(pod, node, reserved=True)
        if chosen:
            self._dra().allocate_preferring(node, [devices[g].ref for g in chosen], state)
        return None

    def unreserve(self, pod: SimPod, node: int, state: CycleState) -> None:
        self._tags.pop(pod.seq, None)

    def state_version(self) -> int:
        dra = self._dra()
        return self.cluster.clock + (int(dra.state_version()) if dra is not None else 0)

    # ------------------------------------------------------------------ helpers

    def _subscribe(self) -> None:
        if self._subscribed:
            return
        self._subscribed = True
        subscribe = getattr(self.host, "subscribe", None)
        if subscribe is not None:
            subscribe("pod_finished", lambda pod, phase: self._tags.pop(pod.seq, None))


def _factory(policy: str) -> Any:
    def make(context: Any) -> GpuSharingScore:
        return GpuSharingScore(policy, context)
    make.__doc__ = f"Registry factory of the {policy} GPU-sharing Score plugin."
    return make


for _name in POLICY_NAMES:
    register(_name)(_factory(_name))
