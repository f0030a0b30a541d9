"""The simulation engine: turns a scenario into a timeline.

It wires the parts together on one simpy clock: node pools become nodes at t=0 (``NodeReady``),
workload generators create pods on their arrival schedule (``PodCreated``), one scheduler process
runs kube-scheduler cycles whenever something can change a verdict (``Scheduled`` /
``FailedScheduling``), and each bound pod runs for its sampled runtime (``PodRunning``,
``PodSucceeded``) and frees its node. The run ends with ``RunFinished`` at ``spec.duration``, or
earlier when nothing can happen any more (no arrivals left, nothing running or waiting on a timer).

Pod completions are plain callbacks on simpy timeouts, not processes (a process per pod costs
memory and time); a completion carries the pod's generation so one left over from an evicted
pod is ignored. The same scenario and seed give a byte-identical timeline.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable
from collections.abc import Generator as PyGenerator
from typing import Any

import simpy

from models.duration import parse_duration
from models.errors import InputError
from models.kueue import parse_kueue_section
from models.manifests import ManifestSet, load_manifests
from models.quantity import parse_quantity
from models.scenario import Scenario, WorkloadGen
from models.timeline import TimelineWriter, dumps
from sim.cluster import ClusterState, Pool
from sim.kueue_controller import KueueController, queue_configured
from sim.metrics import Metrics
from sim.pods import GangGroup, PodShape, SimPod
from sim.preemption import Preemption, PriorityLedger, preemptible
from sim.scheduler import Scheduler
from sim.workloads import Generator, PodSetSpec, resolve_template

NATIVE_GANG_TIMEOUT = 300.0       # KEP-4671: fixed, not configurable
COSCHEDULING_DEFAULT_TIMEOUT = 60.0  # scheduler-plugins permitWaitingTimeSeconds


class Instance:
    """One arrival of a workload generator: a Job-like owner of one or more pod sets."""

    __slots__ = ("admissions", "admitted", "attempt", "bound", "done", "expected", "gang", "gen", "group", "key",
                 "kueue", "name", "namespace", "pods", "ready", "runtime", "timer")

    def __init__(self, gen: Generator, name: str, namespace: str) -> None:
        self.gen = gen
        self.name = name
        self.namespace = namespace
        self.key = f"{namespace}/{name}"
        self.pods: list[SimPod] = []
        self.done = 0
        self.gang: GangGroup | None = None
        self.runtime = 0.0
        #: the gang key carried as ``group`` by this instance's events (gangs and Kueue workloads)
        self.group: str | None = None
        self.kueue = False
        self.admitted = False
        self.attempt = 0
        self.admissions = 0
        self.ready = False
        self.bound = 0
        self.expected = gen.total_pods
        self.timer: Timer | None = None


def pod_name(prefix: str, pod_set: str | None, index: int, multi: bool) -> str:
    """``<instance>[-<podSet>]-<index>``; a single-pod instance's pod is named like the instance."""
    if pod_set is not None:
        return f"{prefix}-{pod_set}-{index}"
    return f"{prefix}-{index}" if multi else prefix


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
    """One run of one scenario. ``run()`` writes the timeline and returns the summary."""

    def __init__(self, scenario: Scenario, writer: TimelineWriter, *, seed: int | None = None,
                 until: float | None = None) -> None:
        self.scenario = scenario
        self.writer = writer
        self.emit = writer.emit
        spec = scenario.spec
        self.seed = spec.seed if seed is None else seed
        self.duration = parse_duration(spec.duration) if until is None else until
        self.env = simpy.Environment()
        #: things the input held that we do not model (never silence)
        self.warnings: list[str] = []
        self.manifests = self._load_manifests()
        self.warnings.extend(self.manifests.warnings)
        referenced = {w.job for w in spec.workloads if w.job}
        for m in self.manifests.workloads:
            if m.source.split("#", 1)[0] not in referenced:
                self.warnings.append(f"{m.source}: not simulated; a Job/JobSet runs only when a workload's "
                                     "'job:' field names its file (which also gives its arrival and runtime)")
        self.generators = [self._build_generator(i, w) for i, w in enumerate(spec.workloads)]
        self.cluster = self._build_cluster()
        self.metrics = Metrics(self.cluster)
        self.ledger = PriorityLedger(self.cluster)
        self.preemption = Preemption(self.cluster, self.ledger, lambda node: self.node_pods[node].values())
        self.scheduler = Scheduler(self, self.cluster, spec.scheduler.scoring,
                                   [(r.name, r.weight) for r in spec.scheduler.resources],
                                   spec.scheduler.percentageOfNodesToScore)
        self.shapes: dict[Any, PodShape] = {}
        self.pod_seq = 0
        self.unbound = 0
        self.gens_alive = len(self.generators)
        self.timers = 0
        self.finish = self.env.event()
        self._wake = self.env.event()
        self._created_data: dict[int, str] = {}
        self._shape_of: dict[int, PodShape] = {}
        self._injected: dict[tuple[int, str], PodSetSpec] = {}
        self.running: dict[int, SimPod] = {}
        #: bound pods per node, and the preemptible ones' requests per priority (DefaultPreemption)
        self.node_pods: defaultdict[int, dict[int, SimPod]] = defaultdict(dict)
        self.replacements = 0
        self.kueue = self._build_kueue()

    # ------------------------------------------------------------------ build

    def _build_generator(self, i: int, w: WorkloadGen) -> Generator:
        where = f"spec.workloads[{i}]"
        src = str(self.scenario.source) if self.scenario.source else None
        try:
            runtime = w.duration.compile(self.scenario.base_dir)
        except ValueError as e:
            raise InputError(str(e), file=src, field=f"{where}.duration",
                             fix="point csv at a readable file with that column") from None
        if w.template is not None:
            pod_sets = [resolve_template(w.template, None, w.replicas, None)]
        elif w.podSets is not None:
            pod_sets = [resolve_template(ps.template, ps.name, ps.replicas, ps.minCount) for ps in w.podSets]
        else:
            pod_sets = self._job_pod_sets(w, where, src)
        if w.gang is not None:
            if w.gang.policy == "workload-api" and w.gang.timeout is not None:
                raise InputError("the KEP-4671 gang timeout is fixed at 5m and cannot be set", file=src,
                                 field=f"{where}.gang.timeout", fix="remove timeout, or use coscheduling")
            total = sum(p.replicas for p in pod_sets)
            if w.gang.minCount is not None and w.gang.minCount > total:
                raise InputError(f"minCount {w.gang.minCount} is more than the {total} pods of an instance",
                                 file=src, field=f"{where}.gang.minCount", fix=f"use at most {total}")
        return Generator(w, self.seed, runtime, pod_sets)

    def _load_manifests(self) -> ManifestSet:
        paths = list(self.scenario.spec.manifests)
        paths += [w.job for w in self.scenario.spec.workloads if w.job]
        return load_manifests(sorted(set(paths)), self.scenario.base_dir) if paths else ManifestSet()

    def _job_pod_sets(self, w: WorkloadGen, where: str, src: str | None) -> list[PodSetSpec]:
        """Pod sets from a real Job / JobSet manifest (``spec.workloads[].job``)."""
        assert w.job is not None
        jobs = [m for m in self.manifests.workloads if m.source.split("#", 1)[0] == w.job]
        if len(jobs) != 1:
            raise InputError(f"{w.job} holds {len(jobs)} Job/JobSet objects; a workload needs exactly one",
                             file=src, field=f"{where}.job", fix="put one Job or JobSet in the file")
        m = jobs[0]
        out = []
        for ps in m.pod_sets:
            t = ps.template
            out.append(PodSetSpec(
                name=ps.name if len(m.pod_sets) > 1 else None, replicas=ps.count, min_count=ps.min_count,
                requests=ps.requests_milli(), node_selector=dict(t.get("nodeSelector") or {}),
                tolerations=[dict(x) for x in t.get("tolerations") or []],
                affinity=dict(t["affinity"]) if t.get("affinity") else None))
        return out

    def _build_kueue(self) -> KueueController | None:
        spec = self.scenario.spec
        src = str(self.scenario.source) if self.scenario.source else None
        uses = [w for w in spec.workloads if w.queue or (w.gang and w.gang.policy == "kueue")]
        if spec.kueue is None and not self.manifests.cluster_queues:
            if uses:
                i = spec.workloads.index(uses[0])
                raise InputError("this workload uses a Kueue queue but the scenario defines no Kueue objects",
                                 file=src, field=f"spec.workloads[{i}].queue",
                                 fix="add spec.kueue (resourceFlavors, clusterQueues, localQueues) or list "
                                     "Kueue manifests under spec.manifests")
            return None
        section, warnings = parse_kueue_section(spec.kueue or {}, file=src, prefix="spec.kueue")
        self.warnings.extend(warnings)
        ms = self.manifests
        section.resource_flavors.extend(ms.resource_flavors)
        section.cluster_queues.extend(ms.cluster_queues)
        section.local_queues.extend(ms.local_queues)
        lqs = {lq.key for lq in section.local_queues}
        cqs = {cq.name for cq in section.cluster_queues}
        for lq in section.local_queues:
            if lq.spec.cluster_queue not in cqs:
                raise InputError(f"LocalQueue {lq.key} points to ClusterQueue {lq.spec.cluster_queue!r}, which "
                                 "is not defined", file=src, field="spec.kueue.localQueues",
                                 fix="define that ClusterQueue or fix spec.clusterQueue")
        for i, w in enumerate(spec.workloads):
            if w.queue and f"{w.namespace}/{w.queue}" not in lqs:
                raise InputError(f"LocalQueue {w.namespace}/{w.queue} is not defined", file=src,
                                 field=f"spec.workloads[{i}].queue",
                                 fix="add it under spec.kueue.localQueues (in that namespace)")
        return KueueController(self, section)

    def _build_cluster(self) -> ClusterState:
        pools = self.scenario.spec.cluster.nodePools
        names: set[str] = set()
        for p in pools:
            names.update(p.allocatable)
        for g in self.generators:
            for ps in g.pod_sets:
                names.update(ps.requests)
        self.count_pods = "pods" in names
        names.discard("pods")
        # the scored resources come first so the scheduler scores rows [0, k) of the state arrays
        scored = [r.name for r in self.scenario.spec.scheduler.resources if r.name != "pods"]
        resources = scored + sorted(names - set(scored)) + (["pods"] if self.count_pods else [])
        cluster = ClusterState(resources, capacity=max(64, sum(p.count for p in pools)))
        for p in pools:
            alloc = {k: parse_quantity(v).to_milli() for k, v in p.allocatable.items()}
            cluster.add_pool(Pool(p.name, p.labels, [t.model_dump(exclude_none=True) for t in p.taints],
                                  alloc, p.pricePerHour))
        return cluster

    def _shape(self, ps: PodSetSpec) -> PodShape:
        cached = self._shape_of.get(id(ps))
        if cached is not None:
            return cached
        req = dict(ps.requests)
        if self.count_pods:
            req["pods"] = 1000
        key = (tuple(sorted(req.items())), json.dumps([ps.node_selector, ps.tolerations, ps.affinity],
                                                      sort_keys=True))
        shape = self.shapes.get(key)
        if shape is None:
            ridx = self.cluster.ridx
            vec = tuple(sorted((ridx[r], q) for r, q in req.items() if q > 0))
            shape = PodShape(key, vec, len(ridx), ps.tolerations, ps.node_selector, ps.affinity,
                             self.scheduler.nscore)
            self.shapes[key] = shape
        self._shape_of[id(ps)] = shape
        return shape

    # ------------------------------------------------------------------ host interface for the scheduler

    @property
    def now(self) -> float:
        return float(self.env.now)

    def kick(self) -> None:
        if not self._wake.triggered:
            self._wake.succeed()

    def call_at(self, t: float, fn: Callable[[], None]) -> Timer:
        """Run ``fn`` at time ``t``. A pending timer keeps the run from ending idle until it fires or is
        cancelled (simpy cannot cancel a timeout; the callback just does nothing)."""
        timer = Timer(self)
        self.timers += 1

        def fire(_: object) -> None:
            if timer.cancel():
                fn()
                self._check_idle()

        self.env.timeout(max(0.0, t - self.env.now)).callbacks.append(fire)
        return timer

    def on_bind(self, pod: SimPod, node: int) -> None:
        now = self.env.now
        n = self.cluster.nodes[node]
        obj = pod.obj
        emit = self.writer.emit_json
        emit(now, f'"type":"Scheduled",{obj[0]},"node":{n.json}{obj[1]},'
                  f'"reason":"Successfully assigned {pod.namespace}/{pod.name} to {n.name}"')
        emit(now, f'"type":"PodRunning",{obj[0]},"node":{n.json}{obj[1]}')
        pod.phase = "Running"
        self.running[pod.seq] = pod
        self.node_pods[node][pod.seq] = pod
        pod.bound_at = now
        if preemptible(pod):
            self.ledger.add(pod, node)
        pod.gen += 1
        self.unbound -= 1
        self.metrics.bind(now - pod.created)
        gen = pod.gen
        self.env.timeout(pod.runtime).callbacks.append(lambda _: self._complete(pod, gen))
        inst: Instance = pod.instance
        if inst.kueue and self.kueue is not None:
            inst.bound += 1
            self.kueue.pods_bound(inst)

    def on_failed_scheduling(self, pod: SimPod, message: str) -> None:
        group = pod.gang.key if pod.gang is not None else None
        self.emit(self.env.now, "FailedScheduling", "Pod", pod.name, pod.namespace, group=group,
                  reason=message, data={"attempts": pod.attempts})

    def on_gang_timeout(self, group: GangGroup, waiting: list[SimPod]) -> None:
        ns, name = group.key.split("/", 1)
        kind = "PodGroup" if group.policy == "coscheduling" else "Workload"
        self.emit(self.env.now, "GangTimedOut", kind, name, ns, group=group.key,
                  reason=f"{len(waiting)} pods waited {group.timeout:g}s at Permit without reaching "
                         f"minCount {group.min_count}",
                  data={"waitingSince": round(group.wait_since, 6), "timeoutSeconds": group.timeout,
                        "waiting": [p.name for p in waiting], "bound": group.bound})

    # ------------------------------------------------------------------ processes

    def _scheduler_proc(self) -> PyGenerator[simpy.Event, Any, None]:
        sched = self.scheduler
        env = self.env
        while True:
            sched.flush_backoff(env.now)
            sched.run_cycle()
            self._check_idle()
            self._wake = env.event()
            nb = sched.next_backoff()
            if nb is None:
                yield self._wake
            else:
                yield self._wake | env.timeout(max(0.0, nb - env.now))

    def _generator_proc(self, g: Generator) -> PyGenerator[simpy.Event, Any, None]:
        env = self.env
        for i, t in enumerate(g.arrivals(self.duration)):
            if t > env.now:
                yield env.timeout(t - env.now)
            self._new_instance(g, i)
        self.gens_alive -= 1
        self._check_idle()

    def _new_instance(self, g: Generator, i: int) -> None:
        w = g.spec
        now = self.env.now
        gang = w.gang
        total = g.total_pods
        if total == 1 and gang is None and not w.queue and not g.pod_sets[0].name:
            # the common case, one plain pod: no owner state to keep, so pods share one Instance
            if g.plain is None:
                g.plain = Instance(g, w.name, w.namespace)
            ps = g.pod_sets[0]
            self._create_pod(g.plain, f"{w.name}-{i}", self._shape(ps), self._static_data(ps, w), g.runtime(g.rng),
                             None)
            self.kick()
            return
        inst = Instance(g, f"{w.name}-{i}", w.namespace)
        if self.kueue is not None and (w.queue or (gang is not None and gang.policy == "kueue")):
            inst.kueue = True
            inst.group = inst.key
            inst.runtime = g.runtime(g.rng)
            self.kueue.submit(inst)
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
            self.emit(now, "WorkloadCreated", kind, inst.name, w.namespace, group=inst.key, data={
                "policy": gang.policy, "minCount": min_count, "pods": total, "priority": w.priority,
                "workload": w.name,
                "timeoutSeconds": timeout,
                "podSets": [{"name": ps.name or "main", "count": ps.replicas,
                             **({"minCount": ps.min_count} if ps.min_count else {}),
                             "requests": ps.created_data()["requests"]} for ps in g.pod_sets]})
        multi = total > 1
        for ps in g.pod_sets:
            shape = self._shape(ps)
            static = self._static_data(ps, w)
            for j in range(ps.replicas):
                runtime = inst.runtime if inst.gang is not None else g.runtime(g.rng)
                self._create_pod(inst, pod_name(inst.name, ps.name, j, multi), shape, static, runtime, ps.name)
        if inst.gang is not None:
            self.scheduler.release_gate(inst.gang)
        self.kick()

    def _static_data(self, ps: PodSetSpec, w: WorkloadGen) -> str:
        """The encoded ``PodCreated.data`` shared by every pod of a pod set (``runtimeSeconds`` is
        appended per pod)."""
        key = id(ps)
        d = self._created_data.get(key)
        if d is None:
            data = ps.created_data()
            data["priority"] = w.priority
            data["workload"] = w.name
            if ps.name is not None:
                data["podSet"] = ps.name
            d = dumps(data)
            self._created_data[key] = d
        return d

    def _create_pod(self, inst: Instance, name: str, shape: PodShape, static: str, runtime: float,
                    pod_set: str | None) -> SimPod:
        now = self.env.now
        pod = SimPod(self.pod_seq, inst.namespace, name, shape, inst.gen.spec.priority, now, runtime, inst,
                     pod_set)
        pod.static = static
        self.pod_seq += 1
        g = inst.gang
        if g is not None:
            pod.gang = g
            pod.sort_time = g.created
            g.members.append(pod)
        group = inst.group
        if inst is not inst.gen.plain:  # the shared Instance of plain pods keeps no list
            inst.pods.append(pod)
        self.unbound += 1
        self.metrics.created += 1
        # names are validated DNS labels (no characters JSON would escape), so they are embedded as is
        pod.obj = (f'"obj":{{"kind":"Pod","namespace":"{inst.namespace}","name":"{name}"}}',
                   f',"group":"{group}"' if group else "")
        self.writer.emit_json(now, f'"type":"PodCreated",{pod.obj[0]}{pod.obj[1]},"data":{static[:-1]},'
                                   f'"runtimeSeconds":{round(runtime, 6)!r}}}')
        self.scheduler.enqueue(pod)
        return pod

    def create_admitted_pods(self, inst: Instance, node_selector: dict[str, dict[str, str]],
                             tolerations: dict[str, list[dict[str, Any]]]) -> None:
        """Kueue unsuspended the Job: create its pods with the flavors' nodeLabels and tolerations."""
        w = inst.gen.spec
        inst.pods = []
        prefix = inst.name if inst.admissions <= 1 else f"{inst.name}-r{inst.admissions - 1}"
        multi = inst.expected > 1
        for ps in inst.gen.pod_sets:
            key = ps.name or "main"
            ips = self._inject(ps, node_selector.get(key, {}), tolerations.get(key, []))
            shape = self._shape(ips)
            static = self._static_data(ips, w)
            for j in range(ps.replicas):
                self._create_pod(inst, pod_name(prefix, ps.name, j, multi), shape, static, inst.runtime, ps.name)
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

    def delete_instance_pods(self, inst: Instance, reason: str) -> None:
        """Delete every pod of ``inst`` now (Kueue suspended its Job): capacity is freed at once."""
        now = self.env.now
        freed: list[int] = []
        reason_json = dumps(reason)
        for pod in inst.pods:
            if pod.phase in ("Succeeded", "Failed", "Deleted"):
                continue
            obj = pod.obj
            if pod.phase == "Running":
                node = pod.node
                n = self.cluster.nodes[node]
                self.writer.emit_json(now, f'"type":"PodDeleted",{obj[0]},"node":{n.json}{obj[1]},'
                                           f'"reason":{reason_json}')
                self.cluster.release(node, pod.shape.req)
                self.metrics.unbind(pod.shape.req, pod.bound_at, now)
                self._unbound(pod, node)
                freed.append(node)
            else:
                self.writer.emit_json(now, f'"type":"PodDeleted",{obj[0]}{obj[1]},"reason":{reason_json}')
                self.unbound -= 1
            pod.phase = "Deleted"
            pod.gen += 1
            self.metrics.deleted += 1
        for node in sorted(set(freed)):
            self.scheduler.capacity_changed(node)

    def _complete(self, pod: SimPod, gen: int) -> None:
        if pod.gen != gen or pod.phase != "Running":
            return  # stale: the pod was evicted or preempted since this timer was set
        now = self.env.now
        node = pod.node
        inst: Instance = pod.instance
        obj = pod.obj
        self.writer.emit_json(now, f'"type":"PodSucceeded",{obj[0]},"node":{self.cluster.nodes[node].json}'
                                   f'{obj[1]}')
        pod.phase = "Succeeded"
        self._unbound(pod, node)
        self.cluster.release(node, pod.shape.req)
        self.metrics.unbind(pod.shape.req, pod.bound_at, now)
        self.metrics.succeeded += 1
        inst.done += 1
        if inst.kueue and self.kueue is not None:
            if inst.done == inst.expected:
                self.kueue.finished(inst)
        elif inst.gang is not None and inst.done == len(inst.pods):
            kind = "PodGroup" if inst.gang.policy == "coscheduling" else "Workload"
            self.emit(now, "WorkloadFinished", kind, inst.name, inst.namespace, group=inst.key,
                      reason="Succeeded")
        self.scheduler.capacity_changed(node)
        self._check_idle()

    def _unbound(self, pod: SimPod, node: int) -> None:
        del self.running[pod.seq]
        del self.node_pods[node][pod.seq]
        if preemptible(pod):
            self.ledger.add(pod, node, -1)

    # ------------------------------------------------------------------ DefaultPreemption

    def try_preempt(self, pod: SimPod) -> bool:
        """PostFilter: evict lower-priority pods so ``pod`` fits; it then binds at once (see
        :mod:`sim.preemption`). False when preemption would not help."""
        found = self.preemption.find(pod)
        if found is None:
            return False
        node, victims = found
        n = self.cluster.nodes[node]
        for v in victims:
            self._preempt_victim(v, pod, node, n.name)
        self.cluster.reserve(node, pod.shape.req)
        pod.node = node
        self.on_bind(pod, node)
        self.scheduler.capacity_changed(node)
        return True

    def _preempt_victim(self, v: SimPod, preemptor: SimPod, node: int, node_name: str) -> None:
        now = self.env.now
        who = f"{preemptor.namespace}/{preemptor.name}"
        self.writer.emit_json(now, f'"type":"Preempted",{v.obj[0]},"node":{self.cluster.nodes[node].json}{v.obj[1]},'
                                   f'"reason":{dumps(f"Preempted by {who} on node {node_name}")},'
                                   f'"data":{{"preemptor":{dumps(who)}}}')
        self.cluster.release(node, v.shape.req)
        self.metrics.unbind(v.shape.req, v.bound_at, now)
        self.metrics.preempted += 1
        self._unbound(v, node)
        v.phase = "Preempted"
        v.gen += 1
        # its owner (a Job, a Deployment) replaces it: a new pod that starts over
        self.replacements += 1
        inst: Instance = v.instance
        self._create_pod(inst, f"{v.name}-p{self.replacements}", v.shape, v.static, v.runtime, v.pod_set)

    def _check_idle(self) -> None:
        if (self.gens_alive == 0 and not self.running and self.timers == 0
                and not self.scheduler.active and not self.scheduler.backoff
                and not self.finish.triggered):
            self.finish.succeed("idle")

    def _end_at_duration(self, _: object) -> None:
        if not self.finish.triggered:
            self.finish.succeed("duration")

    # ------------------------------------------------------------------ run

    def run(self) -> dict[str, Any]:
        wall0 = time.perf_counter()
        env = self.env
        extra: dict[str, Any] = {}
        if self.kueue is not None:
            extra["waitForPodsReady"] = self.kueue.header()
        self.writer.header("sim", seed=self.seed, scenario=self.scenario.metadata.name,
                           duration=self.duration, **extra)
        if self.kueue is not None:
            for kind, name, ns, qdata in queue_configured(self.kueue.section):
                self.emit(0.0, "QueueConfigured", kind, name, ns, data=qdata)
        for pool in self.cluster.pools.values():
            spec = next(p for p in self.scenario.spec.cluster.nodePools if p.name == pool.name)
            alloc = {k: str(parse_quantity(v)) for k, v in sorted(spec.allocatable.items())}
            for i in range(spec.count):
                node = self.cluster.add_node(f"{pool.name}-{i}", pool, 0.0)
                data: dict[str, Any] = {"pool": pool.name, "labels": dict(sorted(node.labels.items())),
                                        "taints": pool.taints, "allocatable": alloc}
                if pool.price is not None:
                    data["pricePerHour"] = pool.price
                self.emit(0.0, "NodeReady", "Node", node.name, data=data)
                self.metrics.node_ready(node.idx, 0.0)
        env.process(self._scheduler_proc())
        for g in self.generators:
            env.process(self._generator_proc(g))
        env.timeout(self.duration).callbacks.append(self._end_at_duration)
        env.run(until=self.finish)
        end = float(env.now)
        reason = str(self.finish.value)
        self.emit(end, "RunFinished", "Run", self.scenario.metadata.name, reason=reason,
                  data={"pending": self.unbound})
        self.writer.flush()
        running = [(p.shape.req, p.bound_at) for p in self._running_pods()]
        summary = self.metrics.summary(end, self.unbound, self.writer.seq, time.perf_counter() - wall0, reason,
                                       running)
        if self.warnings:
            summary["warnings"] = list(self.warnings)
        return summary

    def _running_pods(self) -> list[SimPod]:
        return [self.running[k] for k in sorted(self.running)]
