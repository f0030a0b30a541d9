"""The cluster autoscaler's main loop (``core/static_autoscaler.go``) as a controller on the host.

Every ``scanInterval`` (ticks at 0, scanInterval, 2·scanInterval, …):

1. **Scale-up.** Pods the scheduler reported unschedulable and still pending are grouped by shape. Pods
   that would fit on *upcoming* nodes (requested and not Ready yet, including nodes whose accelerator
   driver is still starting) are left alone — those nodes are counted, not missing. For every node
   group below its maximum, the binpacking estimator (:mod:`sim.autoscaler.estimator`) says how many
   template nodes the rest would need and which pods they help; the expander chain picks one group,
   which grows at once (``TriggeredScaleUp`` on each helped pod, ``NodeProvisioning`` per node). A pod
   no group can help gets ``NotTriggerScaleUp`` with upstream's message (once per distinct message).
   A node appears after ``provisioningDelay`` + ``driverStartupDelay`` (``NodeReady``); one whose
   provisioning delay exceeds ``maxNodeProvisionTime`` is given up at that time (``NodeRemoved``) and
   its group backs off for 5 minutes. ProvisioningRequests are answered first, each loop
   (:mod:`sim.autoscaler.provisioning`); the pods that consume one are left to it, and capacity booked
   for a request is not counted as room for anything else.
2. **Scale-down** (when no scale-up happened in this loop). A node of a group is *unneeded* while its
   utilisation (GPU nodes: GPU requests / GPU allocatable; others: max of CPU and memory requests over
   allocatable) is below the threshold and its pods could all move to other nodes (simulated on a
   fork, node by node); pods of gangs and Kueue workloads — which nothing would recreate — block it.
   A bind that lifts a node to the threshold ends its unneeded time at once. Outside
   ``scaleDownDelayAfterAdd`` after the last scale-up, nodes unneeded for ``scaleDownUnneededTime`` go
   (``ScaleDown``, then ``NodeRemoved``): empty ones up to 10 per loop, at most one with pods, never
   below ``minCount``; the removed node's pods fail and their owners recreate them.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt

from sim.autoscaler.estimator import pack, size_score, template_verdicts
from sim.autoscaler.expander import Option, choose
from sim.autoscaler.provisioning import ProvisioningRequestProcessor
from sim.autoscaler.provreq import ProvisioningRequests
from sim.autoscaler.provreq_summary import ProvisioningSummary
from sim.autoscaler.settings import AutoscalerSettings
from sim.cluster import ClusterState, Pool, is_accelerator
from sim.host import EXTERNAL_GANG_POLICIES, ControllerHost

#: --initial-node-group-backoff-duration
BACKOFF = 300.0
#: --max-scale-down-parallelism (empty nodes per loop) and --max-drain-parallelism (nodes with pods)
MAX_EMPTY_PER_LOOP = 10
MAX_DRAIN_PER_LOOP = 1
#: --scale-down-non-empty-candidates-count
MAX_NON_EMPTY_CANDIDATES = 30


class ClusterAutoscaler:
    """cluster-autoscaler over the pools that have ``autoscaling``."""

    name = "cluster-autoscaler"

    def __init__(self, settings: AutoscalerSettings, seed: int) -> None:
        self.s = settings
        self.rng = random.Random(f"cluster-autoscaler/{seed}")
        self.delays = random.Random(f"cluster-autoscaler/nodes/{seed}")
        #: pods reported unschedulable, by seq, until bound or gone
        self.pending: dict[int, Any] = {}
        #: per group: names of nodes requested and not Ready yet
        self.upcoming: dict[str, list[str]] = {g: [] for g in settings.groups}
        self.names: dict[str, int] = {g: 0 for g in settings.groups}
        self.backoff_until: dict[str, float] = {}
        self.last_scale_up = float("-inf")
        #: node index -> the loop time it was first found unneeded (continuously since)
        self.since: dict[int, float] = {}
        #: node indexes of autoscaled groups
        self.members: set[int] = set()
        self._mask: npt.NDArray[np.bool_] | None = None
        self.told: dict[int, str] = {}
        self._drain_key: tuple[int, tuple[int, ...]] = (-1, ())
        self._drain_ok: set[int] = set()
        self.tried: dict[int, int] = {}
        self.dirty = False
        self.last_tick = float("-inf")
        #: whether pending pods may still get nodes from a scale-up (then the run must not end idle)
        self.hopeful = False
        self.keep_until = float("-inf")
        self._host: ControllerHost | None = None
        #: the run's ProvisioningRequests (Kueue creates them) and the autoscaler's answers to them
        self.provreqs = ProvisioningRequests()
        self.provisioning = ProvisioningRequestProcessor(self, self.provreqs)
        self.provreq_summary = ProvisioningSummary(self.provreqs)
        # the summary: scale-up waits, node-hours per pool, idle accelerator-hours
        self.triggered: set[int] = set()
        self.waits: list[float] = []
        self.scale_ups: dict[str, int] = {}
        self.removed: dict[str, int] = {}
        self.node_since: dict[int, float] = {}
        self.node_hours: dict[str, float] = {}
        self.node_gpus: dict[int, int] = {}
        self.gpu_alloc = 0
        self.gpu_used = 0
        self.bound: dict[int, int] = {}
        self.idle_gpu_seconds = 0.0
        self.idle_since = 0.0

    @property
    def host(self) -> ControllerHost:
        assert self._host is not None, "start() first"
        return self._host

    def header(self) -> dict[str, Any]:
        return self.s.header()

    def start(self, host: ControllerHost) -> None:
        self._host = host
        host.subscribe("pod_unschedulable", self._unschedulable)
        host.subscribe("pod_bound", self._bound)
        host.subscribe("pod_finished", self._finished)
        host.subscribe("node_added", self._node_added)
        host.subscribe("node_removed", self._node_removed)
        host.every(self.s.scan_interval, self.loop)

    # ------------------------------------------------------------------ watches

    def _unschedulable(self, pod: Any, message: str) -> None:
        self.pending[pod.seq] = pod
        self.dirty = True
        self.keep_alive()
        # the cluster's change clock when the scheduler last refused the pod: a node whose stamp is
        # newer has changed since (a node that registered or freed capacity this instant). A gang
        # scheduler's (Volcano's) refusal is the gang's, not the pod's: every Ready node is worth a try
        # (filter-out-schedulable runs the pod alone against them, as upstream does for any pod)
        external = pod.gang is not None and pod.gang.policy in EXTERNAL_GANG_POLICIES
        self.tried[pod.seq] = -1 if external else self.host.cluster.clock

    def _gpu_change(self, delta_alloc: int, delta_used: int) -> None:
        now = self.host.now
        self.idle_gpu_seconds += max(0, self.gpu_alloc - self.gpu_used) / 1000 * (now - self.idle_since)
        self.idle_since = now
        self.gpu_alloc += delta_alloc
        self.gpu_used += delta_used

    def _gpus_of(self, req: Any) -> int:
        res = self.host.cluster.resources
        return sum(q for r, q in req if is_accelerator(res[r]))

    def _bound(self, pod: Any, node: int) -> None:
        if pod.seq in self.triggered:
            self.triggered.discard(pod.seq)
            self.waits.append(self.host.now - pod.created)
        elif self.provreq_summary.needed_scale_up(pod):
            self.waits.append(self.host.now - pod.created)
        g = self._gpus_of(pod.shape.req)
        if g:
            self.bound[pod.seq] = g
            self._gpu_change(0, g)
        self.pending.pop(pod.seq, None)
        self.tried.pop(pod.seq, None)
        self.dirty = True
        if self.provisioning.bookings:
            self.provisioning.bound(pod, self.host.cluster.nodes[node].name)
        if node in self.since and self._util_of(node) >= self.s.threshold:
            del self.since[node]

    def _finished(self, pod: Any, phase: str) -> None:
        self.triggered.discard(pod.seq)
        g = self.bound.pop(pod.seq, 0)
        if g:
            self._gpu_change(0, -g)
        self.pending.pop(pod.seq, None)
        self.tried.pop(pod.seq, None)
        self.told.pop(pod.seq, None)
        self.dirty = True

    def _node_added(self, node: Any) -> None:
        self.dirty = True
        self.node_since[node.idx] = self.host.now
        g = self._gpus_of(tuple(enumerate(self.host.cluster.pyfree[node.idx])))
        self.node_gpus[node.idx] = g
        self._gpu_change(g, 0)
        if node.pool.name in self.s.groups:
            self.members.add(node.idx)
            self._mask = None

    def _node_removed(self, node: Any) -> None:
        self.dirty = True
        start = self.node_since.pop(node.idx, None)
        if start is not None:
            self.node_hours[node.pool.name] = self.node_hours.get(node.pool.name, 0.0) + (self.host.now - start) / 3600
        self._gpu_change(-self.node_gpus.pop(node.idx, 0), 0)
        self.since.pop(node.idx, None)
        if node.idx in self.members:
            self.members.discard(node.idx)
            self._mask = None

    # ------------------------------------------------------------------ the loop

    def target(self, pool: Pool) -> int:
        """The group's target size: Ready nodes plus upcoming ones."""
        return pool.ready + len(self.upcoming.get(pool.name, ()))

    def loop(self) -> None:
        now = self.host.now
        scaled = self.provisioning.process(now) if self.provreqs.items else False
        scaled = self.scale_up(now) or scaled
        if scaled:
            self.last_scale_up = now
        if self.s.scale_down:
            self.scale_down(now, actuate=not scaled and now - self.last_scale_up >= self.s.delay_after_add)
        if self.hopeful and self.pending:
            self.keep_alive()

    def keep_alive(self) -> None:
        """Hold the run open past the next loop (a run otherwise ends once nothing runs or waits on a
        timer, before the autoscaler could add the nodes its pending pods need)."""
        until = self.host.now + 1.5 * self.s.scan_interval
        if until > self.keep_until + 0.5 * self.s.scan_interval:
            self.keep_until = until
            self.host.call_at(until, lambda: None)

    # ------------------------------------------------------------------ scale-up

    def scale_up(self, now: float) -> bool:
        cluster = self.host.cluster
        if any(self.last_tick < t <= now for t in self.backoff_until.values()):
            self.dirty = True
        self.last_tick = now
        if not self.dirty or not self.pending or not self.s.groups:
            self.hopeful = self.hopeful and bool(self.pending)
            return False
        # the verdict below depends only on the pending pods, the nodes, their free capacity, the
        # upcoming nodes and the backoffs: until one of them changes, the next loop would find the same
        self.dirty = False
        pods = [p for p in self.pending.values() if p.phase == "Pending" and p.node < 0
                and not self.provisioning.consumes(p)]
        self.hopeful = False
        if not pods:
            return False
        siblings = self._gang_siblings(pods)
        if siblings:
            pods = sorted(pods + siblings, key=lambda p: p.seq)
        # one unit per pod shape; a gang's pods form units of their own, scaled up for all or none
        # (best-effort-atomic-scale-up: a gang gets all its nodes or none)
        groups: dict[tuple[int, str], tuple[Any, list[Any]]] = {}
        for p in pods:
            gang = p.gang.key if p.gang is not None else ""
            groups.setdefault((id(p.shape), gang), (p.shape, []))[1].append(p)
        pools = [cluster.pools[g] for g in sorted(self.s.groups)]
        shapes = [s for s, _ in groups.values()]
        verdict = template_verdicts(cluster, pools, shapes, now)
        allocs = {pool.name: cluster.alloc_vector(pool) for pool in pools}
        biggest = [max(allocs[p.name][r] for p in pools) for r in range(len(cluster.resources))]
        order = sorted(groups.values(), key=lambda sp: (-size_score(sp[0].req, biggest), sp[1][0].seq))
        # pods that nodes changed since the scheduler last tried them, then upcoming nodes, will take
        left: list[tuple[Any, list[Any]]] = []
        booked = self.provisioning.booked_nodes() if self.provisioning.bookings else set()
        upnodes = {pool.name: [list(allocs[pool.name]) for n in self.upcoming[pool.name] if n not in booked]
                   for pool in pools}
        stamps = np.asarray(cluster.stamp, dtype=np.int64)
        fresh_free: dict[int, list[int]] = {}
        for shape, members in order:
            members = members[self._fit_changed(cluster, shape, members, stamps, fresh_free):]
            for pool in pools:
                if members and verdict[(id(shape), pool.name)] is None and upnodes[pool.name]:
                    placed, _ = pack(shape.req, len(members), upnodes[pool.name], None, 0)
                    members = members[placed:]
            if members:
                left.append((shape, members))
        if not left:
            self.hopeful = True  # the pods wait for nodes that are coming
            return False
        options: list[Option] = []
        blocked: dict[str, str] = {}
        for pool in pools:
            g = self.s.groups[pool.name]
            room = g.max_count - self.target(pool)
            if self.backoff_until.get(pool.name, -1.0) > now:
                blocked[pool.name] = "in backoff after failed scale-up"
                continue
            if room <= 0:
                blocked[pool.name] = "max node group size reached"
                continue
            nodes: list[list[int]] = []
            helped: list[Any] = []
            requested = [0] * len(cluster.resources)
            for shape, members in left:
                if verdict[(id(shape), pool.name)] is not None:
                    continue
                atomic = members[0].gang is not None
                before = [list(n) for n in nodes] if atomic else []
                placed, _ = pack(shape.req, len(members), nodes, allocs[pool.name], room - len(nodes))
                if atomic and placed < len(members):
                    nodes[:] = before
                    placed = 0
                    blocked.setdefault(pool.name, "max node group size reached")
                helped.extend(members[:placed])
                for r, q in shape.req:
                    requested[r] += q * placed
            if helped:
                options.append(Option(pool.name, len(nodes), helped, requested, allocs[pool.name], pool.price))
        helped_any = {p.seq for o in options for p in o.pods}
        self._not_triggered(left, pools, verdict, blocked, helped_any)
        self.hopeful = bool(options) or any(self.upcoming.values()) or \
            any(self.backoff_until.get(p.name, -1.0) > now for p in pools)
        if not options:
            return False
        best = choose(options, self.s.expander, cluster.resources, self.s.priorities, self.rng)
        self._grow(cluster.pools[best.pool], best, now)
        return True

    def _gang_siblings(self, pods: list[Any]) -> list[Any]:
        """The other pending pods of the gang-scheduler (Volcano) gangs among ``pods``. Volcano marks a task
        it placed in a discarded statement ``Schedulable``, not ``Unschedulable``, so upstream's autoscaler
        never sees it — and, finding the gang's lone unschedulable pod a place where that task went, would
        never add the gang's nodes. kubetwin's autoscaler takes the whole gang as one unit instead."""
        seen = {p.seq for p in pods}
        out: list[Any] = []
        for p in pods:
            if p.gang is None or p.gang.policy not in EXTERNAL_GANG_POLICIES:
                continue
            for q in p.instance.pods:
                if q.seq not in seen and q.phase == "Pending" and q.node < 0 and not self.provisioning.consumes(q):
                    seen.add(q.seq)
                    self.tried.setdefault(q.seq, -1)
                    out.append(q)
        return out

    def _fit_changed(self, cluster: ClusterState, shape: Any, members: list[Any], stamps: npt.NDArray[np.int64],
                     free: dict[int, list[int]]) -> int:
        """How many of ``members`` fit on Ready nodes that changed since the scheduler last refused them
        (upstream's filter-out-schedulable, limited to what the scheduler has not seen yet)."""
        oldest = min(self.tried.get(p.seq, 0) for p in members)
        mask = shape.node_mask(cluster)
        changed = np.flatnonzero(mask & (stamps[: mask.size] > oldest))
        if changed.size == 0:
            return 0
        nodes = [free.setdefault(i, self.provisioning.free_of(cluster, i)) for i in changed.tolist()]
        placed, _ = pack(shape.req, len(members), nodes, None, 0)
        return placed

    def _not_triggered(self, left: list[tuple[Any, list[Any]]], pools: Sequence[Pool],
                       verdict: dict[tuple[int, str], str | None], blocked: dict[str, str],
                       helped: set[int]) -> None:
        for shape, members in left:
            counts: dict[str, int] = {}
            for pool in pools:
                why = verdict[(id(shape), pool.name)] or blocked.get(pool.name)
                if why is not None:
                    counts[why] = counts.get(why, 0) + 1
            if not counts:
                continue
            msg = "pod didn't trigger scale-up: " + ", ".join(sorted(f"{n} {why}" for why, n in counts.items()))
            for p in members:
                if p.seq in helped or self.told.get(p.seq) == msg:
                    continue
                self.told[p.seq] = msg
                self.host.emit("NotTriggerScaleUp", "Pod", p.name, p.namespace, group=p.instance.group, reason=msg)

    def _grow(self, pool: Pool, option: Option, now: float) -> None:
        g = self.s.groups[pool.name]
        before = self.target(pool)
        after = before + option.nodes
        msg = f"pod triggered scale-up: [{{{pool.name} {before}->{after} (max: {g.max_count})}}]"
        data = {"pool": pool.name, "from": before, "to": after}
        self.scale_ups[pool.name] = self.scale_ups.get(pool.name, 0) + 1
        for p in option.pods:
            self.triggered.add(p.seq)
            self.told.pop(p.seq, None)
            self.host.emit("TriggeredScaleUp", "Pod", p.name, p.namespace, group=p.instance.group, reason=msg,
                           data=data)
        self._add_nodes(pool, option.nodes, now)

    def scale_up_for(self, pool: Pool, nodes: int, now: float, kind: str, name: str, namespace: str | None,
                     group: str | None) -> list[str]:
        """Grow ``pool`` by ``nodes`` at once for one object (a ProvisioningRequest): one
        ``TriggeredScaleUp`` on it; returns the new nodes' names."""
        g = self.s.groups[pool.name]
        before = self.target(pool)
        after = before + nodes
        msg = f"pod triggered scale-up: [{{{pool.name} {before}->{after} (max: {g.max_count})}}]"
        self.scale_ups[pool.name] = self.scale_ups.get(pool.name, 0) + 1
        self.provreq_summary.scaled_up(group)
        self.host.emit("TriggeredScaleUp", kind, name, namespace, group=group, reason=msg,
                       data={"pool": pool.name, "from": before, "to": after})
        return self._add_nodes(pool, nodes, now)

    def _add_nodes(self, pool: Pool, count: int, now: float) -> list[str]:
        g = self.s.groups[pool.name]
        out: list[str] = []
        for _ in range(count):
            self.names[pool.name] = k = max(self.names[pool.name], len(pool.nodes) + len(self.upcoming[pool.name]))
            self.names[pool.name] += 1
            name = f"{pool.name}-{k}"
            out.append(name)
            self.upcoming[pool.name].append(name)
            self.host.emit("NodeProvisioning", "Node", name, data={"pool": pool.name})
            provision = g.provisioning(self.delays)
            driver = g.driver_startup(self.delays)
            if provision > self.s.max_provision_time:
                self.host.call_at(now + self.s.max_provision_time, partial(self._give_up, pool, name))
            else:
                self.host.call_at(now + provision + driver, partial(self._ready, pool, name))
        return out

    def _ready(self, pool: Pool, name: str) -> None:
        self.upcoming[pool.name].remove(name)
        self.host.add_node(pool, name)

    def _give_up(self, pool: Pool, name: str) -> None:
        self.upcoming[pool.name].remove(name)
        self.backoff_until[pool.name] = self.host.now + BACKOFF
        self.dirty = True
        self.host.emit("NodeRemoved", "Node", name, data={"pool": pool.name},
                       reason=f"node did not register within maxNodeProvisionTime ({self.s.max_provision_time:g}s)")

    # ------------------------------------------------------------------ scale-down

    def utilization(self, cluster: ClusterState) -> npt.NDArray[np.float64]:
        """Per node: GPU requests / GPU allocatable on nodes with accelerators, else the max of the CPU
        and memory shares (every non-accelerator resource but ``pods`` when the node has neither)."""
        n = cluster.n
        alloc = cluster.alloc[:, :n].astype(np.float64)
        used = alloc - cluster.free[:, :n]
        res = cluster.resources
        gpu = [i for i, r in enumerate(res) if is_accelerator(r)]
        other = [i for i, r in enumerate(res) if r in ("cpu", "memory")] or \
            [i for i, r in enumerate(res) if r != "pods" and not is_accelerator(r)]
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(alloc > 0, used / np.where(alloc > 0, alloc, 1.0), 0.0)
        util = share[other].max(axis=0) if other else np.zeros(n)
        if gpu:
            ga = alloc[gpu].sum(axis=0)
            gu = used[gpu].sum(axis=0)
            util = np.where(ga > 0, gu / np.where(ga > 0, ga, 1.0), util)
        return np.asarray(util, dtype=np.float64)

    def _util_of(self, node: int) -> float:
        """:meth:`utilization` of one node."""
        cluster = self.host.cluster
        gpu = other = 0.0
        ga = gu = 0
        cpu_or_memory = "cpu" in cluster.ridx or "memory" in cluster.ridx
        for r, res in enumerate(cluster.resources):
            alloc = int(cluster.alloc[r, node])
            if alloc <= 0:
                continue
            used = alloc - cluster.pyfree[node][r]
            if is_accelerator(res):
                ga += alloc
                gu += used
            elif res != "pods" and (res in ("cpu", "memory") or not cpu_or_memory):
                other = max(other, used / alloc)
        if ga > 0:
            gpu = gu / ga
            return gpu
        return other

    def _movable(self, pod: Any) -> bool:
        return pod.gang is None and not getattr(pod.instance, "kueue", None)

    def scale_down(self, now: float, *, actuate: bool) -> None:
        cluster = self.host.cluster
        if not self.members:
            self.since.clear()
            return
        n = cluster.n
        if self._mask is None or self._mask.size != n:
            self._mask = np.zeros(n, dtype=bool)
            self._mask[sorted(self.members)] = True
        util = self.utilization(cluster)
        cand = np.flatnonzero(self._mask & cluster.ready[:n] & (util < self.s.threshold))
        if self.provisioning.bookings:  # capacity booked for a ProvisioningRequest is needed
            booked = self.provisioning.booked_nodes()
            cand = np.asarray([i for i in cand.tolist() if cluster.nodes[i].name not in booked], dtype=np.intp)
        unneeded: set[int] = set()
        busy: list[int] = []
        for i in cand.tolist():
            pods = cluster.pods_on[i]
            if not pods:
                unneeded.add(i)
            elif all(self._movable(p) for p in pods.values()):
                busy.append(i)
        if busy:
            # --scale-down-non-empty-candidates-count: the least utilised non-empty nodes only; the drain
            # simulation is redone only when the cluster changed since the last one
            key = (cluster.mutations, tuple(sorted(busy)))
            if key == self._drain_key:
                unneeded |= self._drain_ok
            else:
                ok: set[int] = set()
                with cluster.forked():
                    for i in sorted(busy, key=lambda i: (util[i], i))[:MAX_NON_EMPTY_CANDIDATES]:
                        with cluster.forked() as f:
                            if self._drain_fits(cluster, i):
                                f.commit()
                                ok.add(i)
                unneeded |= ok
                self._drain_ok = ok
                self._drain_key = (cluster.mutations, key[1])
        for i in list(self.since):
            if i not in unneeded:
                del self.since[i]
        for i in sorted(unneeded):
            self.since.setdefault(i, now)
        if actuate:
            self._remove(cluster, now)

    def _drain_fits(self, cluster: ClusterState, node: int) -> bool:
        pods = sorted(cluster.pods_on[node].values(), key=lambda p: p.seq)
        cluster.remove_node(node)
        for p in pods:
            shape = p.shape
            shape.node_mask(cluster)
            idx = shape.idx
            if idx.size == 0:
                return False
            fits = np.flatnonzero((cluster.free[:, idx] >= shape.reqcol).all(axis=0))
            if fits.size == 0:
                return False
            cluster.reserve(int(idx[fits[0]]), shape.req)
        return True

    def _remove(self, cluster: ClusterState, now: float) -> None:
        due = sorted((since, i) for i, since in self.since.items() if now - since >= self.s.unneeded_time)
        size = {g: self.target(cluster.pools[g]) for g in self.s.groups}
        empty = drained = 0
        for _, i in due:
            node = cluster.nodes[i]
            pool = node.pool.name
            if size[pool] <= self.s.groups[pool].min_count:
                continue
            if cluster.pods_on[i]:
                if drained >= MAX_DRAIN_PER_LOOP:
                    continue
                drained += 1
                why = "node removed by cluster autoscaler; its pods are rescheduled"
            else:
                if empty >= MAX_EMPTY_PER_LOOP:
                    continue
                empty += 1
                why = "empty node removed by cluster autoscaler"
            size[pool] -= 1
            del self.since[i]
            self.removed[pool] = self.removed.get(pool, 0) + 1
            self.host.emit("ScaleDown", "Node", node.name, reason="marked the node as toBeDeleted/unschedulable",
                           data={"pool": pool})
            self.host.remove_node(i, why)

    # ------------------------------------------------------------------ summary

    def summary_section(self, end: float) -> dict[str, Any]:
        """``summary.json``'s ``autoscaling``: scale-up waits, per pool node-hours, cost, scale-ups and
        scale-downs, and idle accelerator-hours (allocatable on Ready nodes, requested by no bound pod)."""
        cluster = self.host.cluster
        self._gpu_change(0, 0)
        hours = dict(self.node_hours)
        for idx, start in self.node_since.items():
            name = cluster.nodes[idx].pool.name
            hours[name] = hours.get(name, 0.0) + (end - start) / 3600
        w = sorted(self.waits)

        def rank(q: float) -> float | None:  # nearest rank
            return w[max(0, math.ceil(q * len(w)) - 1)] if w else None

        pools: dict[str, dict[str, Any]] = {}
        for name in sorted(cluster.pools):
            price = cluster.pools[name].price
            h = hours.get(name, 0.0)
            pools[name] = {"nodeHours": h, "cost": None if price is None else h * price,
                           "scaleUps": self.scale_ups.get(name, 0), "nodesRemoved": self.removed.get(name, 0)}
        return {"autoscaling": {"scaleUpWaitSeconds": {"count": len(w), "p50": rank(0.5), "p95": rank(0.95),
                                                       "max": w[-1] if w else None},
                                "pools": pools, "idleGpuHours": self.idle_gpu_seconds / 3600,
                                "provisioningRequests": self.provreq_summary.section()}}
