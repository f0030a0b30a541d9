"""The simulation engine: runs a :class:`sim.build.Blueprint` on one simpy clock and writes its timeline.

It is the controller host of :mod:`sim.host`: node pools become nodes at t=0 (``NodeReady``), arrival
sources (workload generators) create workload instances and their pods (``PodCreated``) — or hand
them to a controller that owns them (Kueue admits suspended Jobs) — one scheduler process runs
kube-scheduler cycles whenever something can change a verdict (``Scheduled`` / ``FailedScheduling``),
and each bound pod runs for its sampled runtime (``PodRunning``, ``PodSucceeded``) and frees its node.
Controllers subscribe to those cluster events and act on timers. The run ends with ``RunFinished`` at
the duration, when nothing can happen any more (no arrivals left, nothing running or waiting on a
timer), or when interrupted (the current instant is finished first).

The clock is :class:`sim.clock.Clock` (simpy's environment with a faster event queue). Pod
completions, arrivals and scheduler rounds are plain functions on it (:meth:`sim.clock.Clock.call_in`),
not processes or timeouts (an object per event costs memory and time); a completion carries the pod's
generation so one left over from an evicted pod is ignored. The same scenario and seed give a
byte-identical timeline.
"""

from __future__ import annotations

import gc
import json
import random
import time
from collections.abc import Callable
from collections.abc import Generator as PyGenerator
from typing import TYPE_CHECKING, Any

import simpy
from simpy.core import StopSimulation

from models.duration import parse_duration
from models.quantity import parse_quantity
from models.timeline import (
    SCHEMA_VERSION,
    Event,
    RefTemplate,
    TimelineWriter,
    dumps,
    event_time,
    key_prefix,
    quote,
    ref,
    seconds_text,
    with_key,
)
from sim.build import Blueprint
from sim.clock import Clock
from sim.cluster import ClusterState, Node, Pool
from sim.host import CLUSTER_EVENTS, EXTERNAL_GANG_POLICIES, Admitter, ArrivalSource, Controller
from sim.metrics import Metrics
from sim.pods import GangGroup, PodShape, SimPod
from sim.preemption import preemptible
from sim.scheduler import Scheduler
from sim.workloads import Generator, GeneratorSource, Instance, PodSetSpec, pod_name, workload_created

if TYPE_CHECKING:  # the controllers are imported when a scenario uses them (a plain run does not pay for them)
    from sim.dra.controller import DRAController
    from sim.kueue_controller import KueueController
    from sim.serving import ServingController

NATIVE_GANG_TIMEOUT = 300.0       # KEP-4671: fixed, not configurable
COSCHEDULING_DEFAULT_TIMEOUT = 60.0  # scheduler-plugins permitWaitingTimeSeconds
#: the garbage collector's thresholds while a run steps (generation 0 every 1,000,000 net allocations
#: instead of 700; see :meth:`Simulation.run`)
RUN_GC_THRESHOLDS = (1_000_000, 20, 100)
#: kinds whose events the run keeps in memory for summaries (the queue tables)
KEPT_KINDS = frozenset({"Run", "Workload", "ClusterQueue", "LocalQueue", "PodGroup"})
#: ... except these (the queue tables do not read them)
NOT_KEPT = frozenset({"Pending"})


class Timer:
    """A handle on :meth:`Simulation.call_at`; ``cancel()`` returns True if it was still pending."""

    __slots__ = ("pending", "sim")

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.pending = True

    def cancel(self) -> bool:
        if not self.pending:
            return False
        self.pending = False
        self.sim.timers -= 1
        return True


class Simulation:
    """One run of one blueprint. ``run()`` writes the timeline and returns the summary."""

    def __init__(self, blueprint: Blueprint, writer: TimelineWriter,
                 controllers: list[Controller] | None = None) -> None:
        self.blueprint = blueprint
        self.writer = writer
        self.seed = blueprint.seed
        self.duration = blueprint.duration
        self.env = Clock()
        #: things the input held that we do not model (never silence)
        self.warnings: list[str] = list(blueprint.warnings)
        self.generators = blueprint.generators
        self._cluster = blueprint.new_cluster()
        self.count_pods = blueprint.count_pods
        self.metrics = Metrics(self._cluster)
        sched = blueprint.scheduler
        #: Dynamic Resource Allocation: the DynamicResources plugin and its claim controller
        self.dra: DRAController | None = None
        extra_plugins: list[Any] = []
        if blueprint.dra is not None:
            from sim.dra.controller import DRAController

            plugin = blueprint.dra.plugin()
            self.dra = DRAController(blueprint.dra, plugin)
            extra_plugins.append(plugin)
        self.scheduler = Scheduler(self, self._cluster, scoring=sched.scoring, extra_plugins=extra_plugins,
                                   score_resources=[(r.name, r.weight) for r in sched.resources],
                                   percentage_of_nodes_to_score=sched.percentageOfNodesToScore,
                                   plugins=blueprint.plugins, weights=blueprint.weights)
        self.shapes: dict[Any, PodShape] = {}
        self.pod_seq = 0
        self.unbound = 0
        self.arrivals_alive = 0
        self.timers = 0
        self.finish = self.env.event()
        #: a scheduler round is on its way, so a kick adds nothing (:meth:`kick`); each round clears it. True
        #: from the start: the scheduler's process runs the first round
        self._kicked = True
        #: the backoff timer (:meth:`_cycle`): the time it is armed for, and its number
        self._armed: tuple[float, int] | None = None
        self._timers_armed = 0
        self._created_data: dict[int, str] = {}
        #: per encoded PodCreated template: the text before its per-pod ``runtimeSeconds`` value
        self._created_prefix: dict[str, str] = {}
        #: per (namespace, gang key): the shared part of its pods' encoded references
        self._pod_refs: dict[tuple[str, str | None], RefTemplate] = {}
        self._shape_of: dict[int, PodShape] = {}
        self._injected: dict[tuple[int, str], PodSetSpec] = {}
        self.running: dict[int, SimPod] = {}
        #: pods created and not (yet) bound, deleted or preempted: at the end they have waited until the end
        self.pending: dict[int, SimPod] = {}
        self.replacements = 0
        #: events of :data:`KEPT_KINDS`, kept for the summary (no second pass over the file)
        self.kept: list[Event] = []
        self._pool_data: dict[str, dict[str, Any]] = {}
        #: encoded object references of the objects controllers write about (Workloads, queues, nodes)
        self._refs: dict[tuple[str, str, str | None, str | None], Any] = {}
        self._node_data_hooks: list[Callable[[Node], dict[str, Any]]] = []
        self._pod_data_hooks: list[Callable[[SimPod], dict[str, Any] | None]] = []
        self._listeners: dict[str, list[Callable[..., None]]] = {e: [] for e in CLUSTER_EVENTS}
        self._on_bound = self._listeners["pod_bound"]
        self._on_binding = self._listeners["pod_binding"]
        self._on_created = self._listeners["pod_created"]
        self._on_finished = self._listeners["pod_finished"]
        self.admitters: list[Admitter] = []
        self.kueue: KueueController | None = None
        self.serving: ServingController | None = None
        if controllers is None:
            controllers = []
            if self.dra is not None:
                controllers.append(self.dra)
            if blueprint.kueue is not None:
                from sim.kueue_controller import KueueController

                self.kueue = KueueController(blueprint.kueue)
                controllers.append(self.kueue)
            autoscaler = None
            if blueprint.autoscaler is not None:
                from sim.autoscaler import ClusterAutoscaler

                autoscaler = ClusterAutoscaler(blueprint.autoscaler, blueprint.seed)
                controllers.append(autoscaler)
                if self.kueue is not None:  # Kueue's ProvisioningRequests, answered by the autoscaler
                    self.kueue.use_provisioning(autoscaler.provreqs)
            if blueprint.serving is not None:
                from sim.serving import ServingController

                self.serving = ServingController(blueprint.serving, autoscaler)
                controllers.append(self.serving)
            if blueprint.volcano is not None:
                from sim.volcano import VolcanoScheduler

                controllers.append(VolcanoScheduler(blueprint.volcano))
        self.controllers = controllers
        #: where workload instances come from: one source per workload generator
        self.sources: list[ArrivalSource] = [GeneratorSource(g, self.duration) for g in self.generators]
        #: why the run ends, once it does (the finish event's value, or "interrupted")
        self._ends: list[str] = []
        #: control-plane latencies (spec.latencies): None keeps each step instantaneous
        self.latency_rng = random.Random(f"{blueprint.seed}/latencies")
        self.scheduler_queue_delay = blueprint.latencies.get("schedulerQueue")
        self.pod_startup_delay = blueprint.latencies.get("podStartup")
        self.job_pod_creation_delay = blueprint.latencies.get("jobPodCreation")

    # ------------------------------------------------------------------ the controller host

    @property
    def now(self) -> float:
        return float(self.env.now)

    @property
    def cluster(self) -> ClusterState:
        return self._cluster

    def extend_node_ready(self, fn: Callable[[Node], dict[str, Any]]) -> None:
        """``fn(node)`` adds keys to each ``NodeReady.data`` (e.g. the node's DRA devices)."""
        self._node_data_hooks.append(fn)

    def extend_pod_created(self, fn: Callable[[SimPod], dict[str, Any] | None]) -> None:
        """``fn(pod)`` adds keys to each ``PodCreated.data`` (e.g. the pod's ResourceClaims); it runs
        before the event is written, the ``pod_created`` listeners after."""
        self._pod_data_hooks.append(fn)

    def subscribe(self, event: str, fn: Callable[..., None]) -> None:
        if event not in self._listeners:
            raise ValueError(f"unknown cluster event {event!r}; known: {', '.join(CLUSTER_EVENTS)}")
        self._listeners[event].append(fn)

    def emit(self, type_: str, kind: str, name: str, namespace: str | None = None, *, node: str | None = None,
             group: str | None = None, reason: str | None = None, data: dict[str, Any] | None = None) -> None:
        now = self.env.now
        if kind in KEPT_KINDS and type_ not in NOT_KEPT:
            self.kept.append(Event(self.writer.seq, event_time(now), type_, kind, name, namespace, None, node, group,
                                   reason, data or {}))
        key = (kind, name, namespace, group)
        obj = self._refs.get(key)
        if obj is None:
            if len(self._refs) > 100_000:
                self._refs.clear()
            obj = self._refs[key] = ref(kind, name, namespace, group=group)
        self.writer.emit_ref(now, type_, obj, node=None if node is None else quote(node),
                             reason=None if reason is None else quote(reason), data=dumps(data) if data else None)

    def kick(self) -> None:
        """Ask for a scheduler round now (after what is already due now); kicks before it runs add nothing."""
        if not self._kicked:
            self._kicked = True
            self.env.call_in(0, self._cycle)

    def call_at(self, t: float, fn: Callable[[], None]) -> Timer:
        """Run ``fn`` at time ``t``. A pending timer keeps the run from ending idle until it fires or is
        cancelled (simpy cannot cancel a timeout; the callback just does nothing)."""
        timer = Timer(self)
        self.timers += 1

        def fire() -> None:
            if timer.cancel():
                fn()
                self._check_idle()

        self.env.call_in(max(0.0, t - self.env.now), fire)
        return timer

    def process(self, body: Any) -> None:
        self.env.process(body)

    def every(self, interval: float, fn: Callable[[], None], *, start: float = 0.0) -> None:
        def loop() -> PyGenerator[simpy.Event, Any, None]:
            if start > self.env.now:
                yield self.env.timeout(start - self.env.now)
            while True:
                fn()
                self._check_idle()
                yield self.env.timeout(interval)

        self.env.process(loop())

    def add_node(self, pool: Pool, name: str | None = None) -> Node:
        now = self.now
        node = self._cluster.add_node(name or f"{pool.name}-{len(pool.nodes)}", pool, now)
        data = {"pool": pool.name, "labels": dict(sorted(node.labels.items())), **self._node_data(pool)}
        for hook in self._node_data_hooks:
            data.update(hook(node))
        self.emit("NodeReady", "Node", node.name, data=data)
        self.metrics.node_ready(node.idx, now)
        for fn in self._listeners["node_added"]:
            fn(node)
        self.scheduler.capacity_changed(node.idx)
        return node

    def _node_data(self, pool: Pool) -> dict[str, Any]:
        """The part of ``NodeReady.data`` every node of ``pool`` shares (computed once per pool)."""
        cached = self._pool_data.get(pool.name)
        if cached is None:
            spec = next(p for p in self.blueprint.node_pools if p.name == pool.name)
            cached = {"taints": pool.taints,
                      "allocatable": {k: str(parse_quantity(v)) for k, v in sorted(spec.allocatable.items())}}
            if pool.price is not None:
                cached["pricePerHour"] = pool.price
            self._pool_data[pool.name] = cached
        return cached

    def cordon(self, node: int, reason: str = "cordoned") -> None:
        """``kubectl cordon``: the node takes no new pods (``NodeNotSchedulable``); its pods stay."""
        if node in self._cluster.cordoned or not self._cluster.nodes[node].ready:
            return
        self._cluster.set_unschedulable(node, True)
        n = self._cluster.nodes[node]
        self.emit("NodeNotSchedulable", "Node", n.name, reason=reason, data={"pool": n.pool.name})

    def uncordon(self, node: int) -> None:
        """``kubectl uncordon``: the node takes pods again (``NodeSchedulable``)."""
        if node not in self._cluster.cordoned:
            return
        self._cluster.set_unschedulable(node, False)
        n = self._cluster.nodes[node]
        self.emit("NodeSchedulable", "Node", n.name, data={"pool": n.pool.name})
        self.scheduler.capacity_changed(node)

    def drain(self, node: int) -> None:
        """``kubectl drain``: cordon the node, then evict its pods (``PodDeleted``); a plain pod's owner
        recreates it elsewhere, a gang's or Kueue workload's pod is gone with its reservation."""
        self.cordon(node, "cordoned by kubectl drain")
        for pod in sorted(self._cluster.pods_on[node].values(), key=lambda p: p.seq):
            self._end_pod(pod, "PodDeleted", "Deleted", "Evicted by kubectl drain", replace_deleted=True)

    def _node_lifetime(self, pool: Pool, name: str, ready_at: float, removed_at: float | None) -> None:
        def ready() -> None:
            node = self.add_node(pool, name)
            if removed_at is not None:
                self.call_at(removed_at, lambda: self.remove_node(node.idx, "NodeRemoved"))

        if ready_at <= 0:
            ready()
        else:
            self.call_at(ready_at, ready)

    def remove_node(self, node: int, reason: str) -> None:
        n = self._cluster.nodes[node]
        for pod in sorted(self._cluster.pods_on[node].values(), key=lambda p: p.seq):
            self._end_pod(pod, "PodFailed", "Failed", reason)
        self.metrics.node_removed(node, self.now)
        self._cluster.remove_node(node)
        self.emit("NodeRemoved", "Node", n.name, reason=reason, data={"pool": n.pool.name})
        for fn in self._listeners["node_removed"]:
            fn(n)

    # ------------------------------------------------------------------ host interface for the scheduler

    def on_bind(self, pod: SimPod, node: int) -> None:
        now = self.env.now
        n = self._cluster.nodes[node]
        if self._on_binding:
            for fn in self._on_binding:
                fn(pod, node)
        text = f"Successfully assigned {pod.namespace}/{pod.name} to {n.name}"
        startup = 0.0 if self.pod_startup_delay is None else self.pod_startup_delay(self.latency_rng)
        writer = self.writer
        writer.emit_node_reason(now, "Scheduled", pod.ref, n.json,
                                f'"{text}"' if pod.ref[2] and n.plain else quote(text))
        if startup <= 0:
            writer.emit_node(now, "PodRunning", pod.ref, n.json)
        pod.phase = "Running"
        self.running[pod.seq] = pod
        self._cluster.bind(pod, node, preemptible(pod))
        pod.bound_at = now
        pod.generation = generation = pod.generation + 1
        self.unbound -= 1
        del self.pending[pod.seq]
        self.metrics.bind(now - pod.created)
        if startup > 0:  # the kubelet starts it later (sandbox, image pull); it holds its node meanwhile
            self.env.call_in(startup, lambda: self._started(pod, generation))
        self.env.call_in(startup + pod.runtime, lambda: self._complete(pod, generation))
        for fn in self._on_bound:
            fn(pod, node)

    def on_failed_scheduling(self, pod: SimPod, message: str) -> None:
        self._failed_scheduling(pod, message, f'{{"attempts":{pod.attempts}}}')  # what dumps writes
        for fn in self._listeners["pod_unschedulable"]:
            fn(pod, message)

    def on_gang_timeout(self, group: GangGroup, waiting: list[SimPod]) -> None:
        ns, name = group.key.split("/", 1)
        kind = "PodGroup" if group.policy == "coscheduling" else "Workload"
        self.emit("GangTimedOut", kind, name, ns, group=group.key,
                  reason=f"{len(waiting)} pods waited {group.timeout:g}s at Permit without reaching "
                         f"minCount {group.min_count}",
                  data={"waitingSince": round(group.wait_since, 6), "timeoutSeconds": group.timeout,
                        "waiting": [p.name for p in waiting], "bound": group.bound})

    def bind(self, pod: SimPod, node: int) -> None:
        """Another scheduler (Volcano) binds ``pod`` to ``node`` now: reserve, then the usual bind."""
        self._cluster.reserve(node, pod.shape.req)
        pod.node = node
        self.on_bind(pod, node)

    def report_unschedulable(self, pod: SimPod, reason: str, message: str) -> None:
        self._failed_scheduling(pod, message, dumps({"attempts": pod.attempts, "conditionReason": reason}))
        if reason == "Unschedulable":
            for fn in self._listeners["pod_unschedulable"]:
                fn(pod, message)

    def _failed_scheduling(self, pod: SimPod, message: str, data: str) -> None:
        """``FailedScheduling`` for ``pod``: its group is its gang's key (a Kueue workload's pods carry none
        here), so the pod's own encoded reference serves whenever that is the group it was made with."""
        group = pod.gang.key if pod.gang is not None else None
        obj = pod.ref if group == pod.instance.group else ref("Pod", pod.name, pod.namespace, group=group)
        self.writer.emit_ref(self.env.now, "FailedScheduling", obj, reason=quote(message), data=data)

    def evict(self, pod: SimPod, reason: str) -> None:
        """Another scheduler (Volcano's reclaim/preempt) deletes the bound ``pod`` now; its owner recreates it."""
        self._end_pod(pod, "PodDeleted", "Deleted", reason, replace=False)
        self._replace(pod)

    def preempt(self, pod: SimPod, node: int, victims: list[SimPod]) -> None:
        """DefaultPreemption chose ``victims`` on ``node``: they go at once and ``pod`` binds there."""
        n = self._cluster.nodes[node]
        for v in victims:
            self._preempt_victim(v, pod, node, n.name)
        self.bind(pod, node)
        self.scheduler.capacity_changed(node)

    # ------------------------------------------------------------------ processes

    def _scheduler_proc(self) -> PyGenerator[simpy.Event, Any, None]:
        """The scheduler's first cycle runs when this process starts; each later one runs when a kick or
        the earliest backoff's timer calls :meth:`_cycle` (where a looping process would resume)."""
        self._cycle()
        return
        yield

    def _cycle(self) -> None:
        """One round of the scheduler: backoffs that ended go back to the active queue, every active pod
        gets a cycle, then wait for a kick (:meth:`kick`) or the end of the first backoff.

        One timer stands for the earliest backoff: a round arms a new one only when the earliest backoff
        is not the one already armed, and a timer that fires runs a round at once unless a kick is already
        on its way (a round with nothing due does nothing)."""
        sched = self.scheduler
        env = self.env
        sched.flush_backoff(env.now)
        sched.run_cycle()
        self._check_idle()
        self._kicked = False
        nb = sched.next_backoff()
        if nb is not None and (self._armed is None or self._armed[0] != nb):
            self._timers_armed = n = self._timers_armed + 1
            env.call_in(max(0.0, nb - env.now), lambda: self._backoff_ended(n))
            self._armed = (nb, n)

    def _backoff_ended(self, n: int) -> None:
        if self._armed is not None and n == self._armed[1]:  # (it may fire a hair before its time)
            self._armed = None
        if not self._kicked:
            self._cycle()

    def _arrivals_done(self) -> None:
        self.arrivals_alive -= 1
        self._check_idle()

    # ------------------------------------------------------------------ workload instances and pods

    def _new_instance(self, g: Generator, i: int) -> None:
        if g.groups:  # an object admitted per group (LeaderWorkerSet): one instance per group
            for sub in g.groups:
                self._new_instance(sub, i)
            return
        w = g.spec
        now = self.env.now
        gang = w.gang
        total = g.total_pods
        names = w.names
        if total == 1 and gang is None and not w.queue and not g.pod_sets[0].name:
            # the common case, one plain pod: no owner state to keep, so pods share one Instance
            if g.plain is None:
                g.plain = Instance(g, w.name, w.namespace)
            ps = g.pod_sets[0]
            self._create_pod(g.plain, names.pods[0] if names else f"{w.name}-{i}", self._shape(ps),
                             self._static_data(ps, w), g.runtime(g.rng), None)
            self.kick()
            return
        inst = Instance(g, names.instance if names and names.instance else g.instance_name(i), w.namespace)
        for admitter in self.admitters:
            if admitter.takes(inst):
                inst.group = inst.key
                inst.runtime = g.runtime(g.rng)
                admitter.submit(inst)
                self.kick()
                return
        if gang is not None:
            min_count = gang.minCount or sum(ps.min_count or ps.replicas for ps in g.pod_sets)
            if gang.policy == "coscheduling":
                timeout = parse_duration(gang.timeout) if gang.timeout else COSCHEDULING_DEFAULT_TIMEOUT
            else:
                timeout = NATIVE_GANG_TIMEOUT
            inst.gang = GangGroup(inst.key, gang.policy, min_count, timeout, now)
            inst.group = inst.key
            inst.runtime = g.runtime(g.rng)
            kind = "PodGroup" if gang.policy == "coscheduling" else "Workload"
            self.emit("WorkloadCreated", kind, inst.name, w.namespace, group=inst.key,
                      data=workload_created(inst, gang.policy, min_count, timeout=timeout))
        multi = total > 1
        recorded = iter(names.pods) if names else g.pod_names(inst.name, inst.namespace)
        for ps in g.pod_sets:
            shape = self._shape(ps)
            static = self._static_data(ps, w)
            for j in range(ps.replicas):
                runtime = inst.runtime if inst.gang is not None else g.runtime(g.rng)
                name = next(recorded) if recorded is not None else pod_name(inst.name, ps.name, j, multi)
                self._create_pod(inst, name, shape, static, runtime, ps.name)
        if inst.gang is not None:
            self.scheduler.release_gate(inst.gang)
        self.kick()

    def _shape(self, ps: PodSetSpec) -> PodShape:
        cached = self._shape_of.get(id(ps))
        if cached is not None:
            return cached
        # extended resources a DeviceClass serves (extendedResourceName) are DRA's, not NodeResourcesFit's
        req = {r: q for r, q in ps.requests.items() if not (self.dra is not None and self.dra.plugin.serves(r))}
        if self.count_pods:
            req["pods"] = 1000
        key = (tuple(sorted(req.items())), json.dumps([ps.node_selector, ps.tolerations, ps.affinity],
                                                      sort_keys=True))
        shape = self.shapes.get(key)
        if shape is None:
            ridx = self._cluster.ridx
            vec = tuple(sorted((ridx[r], q) for r, q in req.items() if q > 0))
            shape = PodShape(key, vec, len(ridx), ps.tolerations, ps.node_selector, ps.affinity,
                             self.scheduler.fit.nscore, self.scheduler.static_filters)
            self.shapes[key] = shape
        self._shape_of[id(ps)] = shape
        return shape

    def _static_data(self, ps: PodSetSpec, w: Any) -> str:
        """The encoded ``PodCreated.data`` shared by every pod of a pod set (``runtimeSeconds`` is
        appended per pod)."""
        key = id(ps)
        d = self._created_data.get(key)
        if d is None:
            data = ps.created_data()
            data["priority"] = w.pod_priority  # once per pod set
            data["workload"] = w.name
            if ps.name is not None:
                data["podSet"] = ps.name
            d = dumps(data)
            self._created_data[key] = d
        return d

    def _create_pod(self, inst: Instance, name: str, shape: PodShape, static: str, runtime: float,
                    pod_set: str | None) -> SimPod:
        now = self.env.now
        pod = SimPod(self.pod_seq, inst.namespace, name, shape, inst.generator.pod_priority, now, runtime, inst,
                     pod_set)
        pod.static = static
        self.pod_seq += 1
        g = inst.gang
        if g is not None:
            pod.gang = g
            pod.sort_time = g.created
            g.members.append(pod)
        if inst is not inst.generator.plain:  # the shared Instance of plain pods keeps no list
            inst.pods.append(pod)
        self.unbound += 1
        self.pending[pod.seq] = pod
        self.metrics.created += 1
        refs = self._pod_refs.get((inst.namespace, inst.group))
        if refs is None:
            if len(self._pod_refs) > 100_000:
                self._pod_refs.clear()
            refs = self._pod_refs[(inst.namespace, inst.group)] = RefTemplate("Pod", inst.namespace, inst.group)
        if refs.plain and name.isprintable() and '"' not in name and "\\" not in name:  # RefTemplate.make, inlined
            pod.ref = (refs.head + name + '"}', refs.group_json, True)
        else:
            pod.ref = refs.make(name)
        if self._pod_data_hooks:
            data = static
            for hook in self._pod_data_hooks:
                extra = hook(pod)
                if extra:
                    data = data[:-1] + "," + dumps(extra)[1:] if data != "{}" else dumps(extra)
            data = with_key(data, "runtimeSeconds", round(runtime, 6))
        else:  # the template's encoded payload, then the pod's runtime (what with_key writes)
            head = self._created_prefix.get(static)
            if head is None:
                head = self._created_prefix[static] = key_prefix(static, "runtimeSeconds")
            data = head + seconds_text(runtime) + "}"
        self.writer.emit_data(now, "PodCreated", pod.ref, data)
        if self._on_created:
            for fn in self._on_created:
                fn(pod)
        if g is not None and g.policy in EXTERNAL_GANG_POLICIES:
            return pod  # schedulerName volcano: its controller binds it (bind below), never this queue
        delay = 0.0 if self.scheduler_queue_delay is None else self.scheduler_queue_delay(self.latency_rng)
        if delay <= 0:
            self.scheduler.enqueue(pod)
        else:
            def enqueue() -> None:
                if pod.phase == "Pending":
                    self.scheduler.enqueue(pod)
                    self.kick()
            self.call_at(now + delay, enqueue)
        return pod

    def create_pods(self, inst: Instance, node_selector: dict[str, dict[str, str]],
                    tolerations: dict[str, list[dict[str, Any]]], prefix: str | None = None) -> None:
        """A controller unsuspended ``inst``: create its pods with the extra nodeSelector labels and
        tolerations per pod set (Kueue's flavors) — after ``spec.latencies.jobPodCreation`` when set (the
        Job controller's reaction time)."""
        if self.job_pod_creation_delay is not None:
            delay = self.job_pod_creation_delay(self.latency_rng)
            if delay > 0:
                self.call_at(self.now + delay, lambda: self._create_pods_now(inst, node_selector, tolerations, prefix))
                return
        self._create_pods_now(inst, node_selector, tolerations, prefix)

    def _create_pods_now(self, inst: Instance, node_selector: dict[str, dict[str, str]],
                         tolerations: dict[str, list[dict[str, Any]]], prefix: str | None) -> None:
        w = inst.generator.spec
        inst.pods = []
        multi = inst.expected > 1
        names = w.names
        recorded = iter(names.pods) if names and prefix in (None, inst.name) else \
            inst.generator.pod_names(prefix or inst.name, inst.namespace)
        for ps in inst.generator.pod_sets:
            key = ps.name or "main"
            ips = self._inject(ps, node_selector.get(key, {}), tolerations.get(key, []))
            shape = self._shape(ips)
            static = self._static_data(ips, w)
            for j in range(ps.replicas):
                name = next(recorded) if recorded is not None else pod_name(prefix or inst.name, ps.name, j, multi)
                self._create_pod(inst, name, shape, static, inst.runtime, ps.name)
        self.kick()

    def _inject(self, ps: PodSetSpec, selector: dict[str, str], tolerations: list[dict[str, Any]]) -> PodSetSpec:
        if not selector and not tolerations:
            return ps
        key = (id(ps), dumps([sorted(selector.items()), tolerations]))
        out = self._injected.get(key)
        if out is None:
            tols = list(ps.tolerations) + [t for t in tolerations if t not in ps.tolerations]
            out = PodSetSpec(ps.name, ps.replicas, ps.min_count, dict(ps.requests),
                             {**ps.node_selector, **selector}, tols, ps.affinity, dict(ps.labels))
            self._injected[key] = out
        return out

    def delete_pods(self, inst: Instance, reason: str) -> None:
        """Delete every live pod of ``inst`` now (its Job was suspended): capacity is freed at once."""
        freed: list[int] = []
        for pod in inst.pods:
            if pod.phase in ("Succeeded", "Failed", "Deleted"):
                continue
            if pod.phase == "Running":
                freed.append(pod.node)
            self._end_pod(pod, "PodDeleted", "Deleted", reason, replace=False, wake=False)
        for node in sorted(set(freed)):
            self.scheduler.capacity_changed(node)

    def _end_pod(self, pod: SimPod, type_: str, phase: str, reason: str, *, replace: bool = True,
                 wake: bool = True, replace_deleted: bool = False) -> None:
        """A live pod ends now (deleted, or failed with its node): free what it held, tell listeners."""
        now = self.env.now
        reason_json = dumps(reason)
        if pod.phase == "Running":
            node = pod.node
            self.writer.emit_ref(now, type_, pod.ref, node=self._cluster.nodes[node].json, reason=reason_json)
            self._cluster.release(node, pod.shape.req)
            self.metrics.unbind(pod.shape.req, pod.bound_at, now)
            self._unbound(pod, node)
            if wake:
                self.scheduler.capacity_changed(node)
        else:
            self.writer.emit_ref(now, type_, pod.ref, reason=reason_json)
            self.unbound -= 1
            del self.pending[pod.seq]
        pod.phase = phase
        pod.generation += 1
        if phase == "Deleted":
            self.metrics.deleted += 1
        else:
            self.metrics.failed += 1
        for fn in self._on_finished:
            fn(pod, phase)
        if replace and (phase == "Failed" or replace_deleted) and pod.gang is None and not pod.instance.kueue:
            self._replace(pod)

    def _started(self, pod: SimPod, generation: int) -> None:
        if pod.generation == generation and pod.phase == "Running":
            self.writer.emit_node(self.env.now, "PodRunning", pod.ref, self._cluster.nodes[pod.node].json)

    def _complete(self, pod: SimPod, generation: int) -> None:
        if pod.generation != generation or pod.phase != "Running":
            return  # stale: the pod was evicted or preempted since this timer was set
        now = self.env.now
        node = pod.node
        inst: Instance = pod.instance
        cluster = self._cluster
        self.writer.emit_node(now, "PodSucceeded", pod.ref, cluster.nodes[node].json)
        pod.phase = "Succeeded"
        self._unbound(pod, node)
        req = pod.shape.req
        cluster.release(node, req)
        metrics = self.metrics
        metrics.unbind(req, pod.bound_at, now)
        metrics.succeeded += 1
        inst.done += 1
        for fn in self._on_finished:
            fn(pod, "Succeeded")
        if inst.gang is not None and inst.done == len(inst.pods):
            kind = "PodGroup" if inst.gang.policy in ("coscheduling", "volcano") else "Workload"
            self.emit("WorkloadFinished", kind, inst.name, inst.namespace, group=inst.key, reason="Succeeded")
        self.scheduler.capacity_changed(node)
        self._check_idle()

    def _unbound(self, pod: SimPod, node: int) -> None:
        del self.running[pod.seq]
        self._cluster.unbind(pod, node, preemptible(pod))

    def _preempt_victim(self, v: SimPod, preemptor: SimPod, node: int, node_name: str) -> None:
        now = self.env.now
        who = f"{preemptor.namespace}/{preemptor.name}"
        self.writer.emit_ref(now, "Preempted", v.ref, node=self._cluster.nodes[node].json,
                             reason=dumps(f"Preempted by {who} on node {node_name}"),
                             data=f'{{"preemptor":{dumps(who)}}}')
        self._cluster.release(node, v.shape.req)
        self.metrics.unbind(v.shape.req, v.bound_at, now)
        self.metrics.preempted += 1
        self._unbound(v, node)
        v.phase = "Preempted"
        v.generation += 1
        for fn in self._on_finished:
            fn(v, "Preempted")
        self._replace(v)

    def _replace(self, pod: SimPod) -> None:
        """Its owner (a Job, a Deployment) replaces a lost pod: a new pod that starts over."""
        self.replacements += 1
        self._create_pod(pod.instance, f"{pod.name}-p{self.replacements}", pod.shape, pod.static, pod.runtime,
                         pod.pod_set)
        self.kick()

    # ------------------------------------------------------------------ run

    def _check_idle(self) -> None:
        if (self.arrivals_alive == 0 and not self.running and self.timers == 0
                and not self.scheduler.active and not self.scheduler.backoff
                and not self.finish.triggered):
            self.finish.succeed("idle")

    def _end_at_duration(self, _: object) -> None:
        if not self.finish.triggered:
            self.finish.succeed("duration")

    def interrupt(self) -> None:
        """Stop at the end of the current instant (safe to call from a signal handler)."""
        if not self._ends:
            self._ends.append("interrupted")

    def run(self, progress: Callable[[float, int], None] | None = None) -> dict[str, Any]:
        """Run to the end; ``progress(simulated seconds, events written)`` is called about every 16k
        simulation steps."""
        wall0 = time.perf_counter()
        env = self.env
        # the scheduler profile, as the scenario writes it: a replay of this timeline needs it
        extra: dict[str, Any] = {}
        profile = self.blueprint.scheduler.model_dump(mode="json", exclude_defaults=True)
        if profile:
            extra["scheduler"] = profile
        if self.kueue is not None:
            extra["waitForPodsReady"] = self.kueue.header()
        if self.blueprint.autoscaler is not None:
            extra["autoscaler"] = self.blueprint.autoscaler.header()
        if self.blueprint.serving is not None:
            extra["serving"] = self.blueprint.serving.header()
        if self.blueprint.dra is not None and self.blueprint.dra.classes:
            # the DeviceClasses as read (selectors, extendedResourceName): what a replay needs
            extra["dra"] = {"deviceClasses": [c.model_dump(mode="json", by_alias=True, exclude_none=True)
                                              for c in self.blueprint.dra.classes]}
        self.writer.header("sim", seed=self.seed, scenario=self.blueprint.name, duration=self.duration, **extra)
        self.kept.append(Event(0, 0.0, "RunStarted", "Run", self.blueprint.name,
                               data={"schemaVersion": SCHEMA_VERSION, "source": "sim", "seed": self.seed}))
        for c in self.controllers:
            c.start(self)
            if hasattr(c, "takes"):
                self.admitters.append(c)  # type: ignore[arg-type]
        for pool in self._cluster.pools.values():
            spec = next(p for p in self.blueprint.node_pools if p.name == pool.name)
            if spec.nodes is None:
                for _ in range(spec.count):
                    self.add_node(pool)
                continue
            for listed in spec.nodes:  # named nodes with their own lifetimes (a replayed recording)
                self._node_lifetime(pool, listed.name, parse_duration(listed.readyAt),
                                    None if listed.removedAt is None else parse_duration(listed.removedAt))
        env.process(self._scheduler_proc())
        self.arrivals_alive = len(self.sources)
        for source in self.sources:
            source.start(self, self._new_instance, self._arrivals_done)
        env.timeout(self.duration).callbacks.append(self._end_at_duration)
        # The run allocates millions of short-lived objects and keeps tens of thousands of pods alive for
        # hours of simulated time: with the interpreter's default thresholds the cyclic garbage collector
        # scans the live pods over and over (a seventh of an overloaded week's CPU). A young collection
        # walks every tracked object made since the last one that is still alive — the new pods, however
        # many objects died meanwhile — so its cost barely depends on the threshold: collect rarely while
        # the run lasts (the overloaded week: 3.8 s in ~16 collections at 50,000, 0.1 s at 1,000,000, same
        # peak memory). Cycles (a Job and its pods) are still collected, within a million net allocations.
        thresholds = gc.get_threshold()
        gc.set_threshold(*RUN_GC_THRESHOLDS)
        try:
            reason = self._loop(progress)
        finally:
            gc.set_threshold(*thresholds)
        end = float(env.now)
        self.emit("RunFinished", "Run", self.blueprint.name, reason=reason, data={"pending": self.unbound})
        self.writer.flush()
        running = [(p.shape.req, p.bound_at) for p in self._running_pods()]
        summary = self.metrics.summary(end, self.unbound, self.writer.seq, time.perf_counter() - wall0, reason,
                                       running, [self.pending[k].created for k in sorted(self.pending)])
        for c in self.controllers:  # controllers with a summary section of their own (autoscaling, serving)
            section = getattr(c, "summary_section", None)
            if section is not None:
                summary.update(section(end))
        if self.warnings:
            summary["warnings"] = list(self.warnings)
        return summary

    def _loop(self, progress: Callable[[float, int], None] | None) -> str:
        """simpy's ``run(until=finish)``, in rounds of 16,384 steps so an interrupt can end it between them.

        The finish event's callback records why the run ends and stops the stepping at once (simpy's
        ``StopSimulation``, as ``run`` does); an interrupt (a signal handler through :meth:`interrupt`) is
        seen at the end of a round, and the current instant is finished first."""
        env = self.env
        step = env.step
        ends = self._ends

        def stop(ev: simpy.Event) -> None:
            ends.append(str(ev.value))
            raise StopSimulation

        self.finish.callbacks.append(stop)
        try:
            while True:
                for _ in range(16384):
                    step()
                if ends:  # interrupted
                    now = env.now
                    while env.peek() == now:  # finish the current instant
                        step()
                    return "interrupted"
                if progress is not None:
                    progress(float(env.now), self.writer.seq)
        except StopSimulation:
            pass
        return ends[0]

    def _running_pods(self) -> list[SimPod]:
        return [self.running[k] for k in sorted(self.running)]
