"""Workload generators: when instances of a workload arrive and what pods each one brings.

A generator mirrors a controller that creates pods on a schedule — a CronJob, a batch submitter, a
notebook hub. ``arrival`` is ``poisson`` (exponential inter-arrival times, first arrival after one
draw), ``every`` (at 0, D, 2D, …; ``every: 0s`` = all at once) or ``at`` (explicit times). Each
generator draws from its own ``random.Random`` seeded from the run seed and its name, so adding a
workload does not change the samples of the others.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from models.distributions import Sampler
from models.duration import parse_duration
from models.errors import InputError
from models.events import workload_created_data
from models.quantity import format_resources, parse_quantity
from models.scenario import WorkloadGen


@dataclass
class PodSetSpec:
    """One pod set of a workload instance, resolved: milli-unit requests and constraints."""

    name: str | None
    replicas: int
    min_count: int | None
    requests: dict[str, int]
    node_selector: dict[str, str]
    tolerations: list[dict[str, Any]]
    affinity: dict[str, Any] | None
    labels: dict[str, str] = field(default_factory=dict)

    def created_data(self) -> dict[str, Any]:
        """The static part of ``PodCreated.data`` for pods of this set."""
        d: dict[str, Any] = {"requests": format_resources(self.requests)}
        if self.node_selector:
            d["nodeSelector"] = dict(sorted(self.node_selector.items()))
        if self.tolerations:
            d["tolerations"] = self.tolerations
        if self.affinity:
            d["affinity"] = self.affinity
        return d


def resolve_template(template: Any, name: str | None, replicas: int, min_count: int | None) -> PodSetSpec:
    return PodSetSpec(
        name=name, replicas=replicas, min_count=min_count,
        # with DRA's containers: the pod's requests are its own plus every container's
        requests={k: q.to_milli() for k, q in template.pod_requests().items()} if hasattr(template, "pod_requests")
        else {k: parse_quantity(v).to_milli() for k, v in template.requests.items()},
        node_selector=dict(template.nodeSelector),
        tolerations=[t.model_dump(exclude_none=True) for t in template.tolerations],
        affinity=template.affinity.model_dump(exclude_none=True, exclude_defaults=True)
        if template.affinity else None,
        labels=dict(template.labels),
    )


class Generator:
    """The arrival schedule and runtime sampler of one ``spec.workloads[]`` entry."""

    def __init__(self, spec: WorkloadGen, seed: int, runtime: Sampler, pod_sets: list[PodSetSpec]) -> None:
        self.spec = spec
        self.rng = random.Random(f"{seed}/{spec.namespace}/{spec.name}")
        self.runtime = runtime
        self.pod_sets = pod_sets
        self.total_pods = sum(ps.replicas for ps in pod_sets)
        #: the pods' priority (PriorityClass resolved), read once: the spec is a pydantic model
        self.pod_priority = spec.pod_priority
        #: the Instance shared by this generator's plain single pods (set by the engine)
        self.plain: Any = None
        #: an AI operator's object (``models.operators.OperatorWorkload``) this workload's ``job`` names, and
        #: its pod-set names in the order of ``pod_sets``: its pods are named as its controller names them
        self.operator: Any = None
        self.operator_pod_sets: list[str] = []
        #: an object Kueue admits as several Workloads (a LeaderWorkerSet: one per group): one generator per
        #: gang, each arrival of this generator makes one instance of each (see :meth:`attach_operator`)
        self.groups: list[GroupGenerator] = []

    def attach_operator(self, operator: Any, file: str | None = None, where: str = "spec.workloads[]") -> None:
        """This workload's ``job`` is an AI operator's object (``models.operators.OperatorWorkload``): its
        pods are named as its controller names them, and when its integration draws several gangs per
        object (LeaderWorkerSet: leader + size−1 workers per group) each gang becomes its own instance —
        its own Kueue Workload or PodGroup, admitted, scheduled and finished independently."""
        self.operator = operator
        self.operator_pod_sets = [ps.name for ps in operator.pod_sets]
        gangs = operator.kueue_gangs
        if len(gangs) > 1 or any(g.key.split("/", 1)[1] != operator.name for g in gangs):
            self.groups = [GroupGenerator(self, gang.key.split("/", 1)[1], dict(gang.pod_sets)) for gang in gangs]
            size = min(len(gang.pods) for gang in gangs)
            gang_spec = self.spec.gang
            if gang_spec is not None and gang_spec.minCount is not None and gang_spec.minCount > size:
                raise InputError(f"minCount {gang_spec.minCount} is more than the {size} pods of one "
                                 f"{operator.kind} group (each group is its own gang)", file=file,
                                 field=f"{where}.gang.minCount", fix=f"use at most {size}")

    def instance_name(self, ordinal: int) -> str:
        """The name of the ``ordinal``-th instance (a Job's, a JobSet's, a Workload's): ``<workload>-<i>``."""
        return f"{self.spec.name}-{ordinal}"

    def pod_names(self, instance_name: str, namespace: str) -> Iterator[str] | None:
        """The operator-given pod names of one instance (pod-set order), or None for generic names."""
        if self.operator is None:
            return None
        from models.operators import instance

        op = instance(self.operator, instance_name, namespace)
        return iter([name for ps in self.operator_pod_sets for name in op.pod_names(ps)])

    def arrivals(self, horizon: float) -> Iterator[float]:
        """Absolute arrival times, in order, up to ``horizon``."""
        a = self.spec.arrival
        count = self.spec.instance_count()
        if a.at is not None:
            times = sorted(parse_duration(x) for x in a.at)
            yield from times[: count if count is not None else len(times)]
            return
        if a.every is not None:
            step = parse_duration(a.every)
            assert count is not None
            for i in range(count):
                t = i * step
                if t > horizon:
                    return
                yield t
            return
        assert a.poisson is not None
        rate = 1.0 / parse_duration(a.poisson.meanInterval)
        t = 0.0
        i = 0
        while count is None or i < count:
            t += self.rng.expovariate(rate)
            if t > horizon:
                return
            yield t
            i += 1


class GroupGenerator(Generator):
    """One gang of an operator object that Kueue admits per group (a LeaderWorkerSet group: the leader
    ``<lws>-<g>`` and its workers ``<lws>-<g>-<w>``, w = 1..size−1).

    It has no arrivals of its own: each arrival of its parent makes one instance of every group, named
    ``<parent instance>-<suffix>`` (the group's leader). It shares its parent's spec, runtime sampler and
    random stream, so a run stays deterministic; its pod sets are the parent's with this group's counts.
    """

    def __init__(self, parent: Generator, gang_name: str, counts: dict[str, int]) -> None:
        op = parent.operator
        self.suffix = gang_name.removeprefix(f"{op.name}-")
        self.gang_name = gang_name
        sets = []
        for name, ps in zip(parent.operator_pod_sets, parent.pod_sets, strict=True):
            if counts.get(name):
                sets.append(PodSetSpec(ps.name or name, counts[name], None, dict(ps.requests),
                                       dict(ps.node_selector), list(ps.tolerations), ps.affinity, dict(ps.labels)))
        super().__init__(parent.spec, 0, parent.runtime, sets)
        self.rng = parent.rng
        self.parent = parent
        self.operator = op
        self.operator_pod_sets = [name for name in parent.operator_pod_sets if counts.get(name)]
        # the group's own pod names in pod-set order, relative to its gang name (the leader's): "" for the
        # leader, "-1", "-2", … for the workers
        group = next(g for g in op.kueue_gangs if g.key.split("/", 1)[1] == gang_name)
        members = set(group.pods)
        self._tails = [p.name.removeprefix(gang_name) for ps in self.operator_pod_sets for p in op.pods_of(ps)
                       if p.name in members]

    def instance_name(self, ordinal: int) -> str:
        return f"{self.parent.instance_name(ordinal)}-{self.suffix}"

    def pod_names(self, instance_name: str, namespace: str) -> Iterator[str] | None:
        """The group's pods as the controller names them: the leader is named like the group, worker w is
        ``<group>-<w>`` (also under a re-admission prefix such as ``<group>-r1``)."""
        return iter([instance_name + tail for tail in self._tails])


class GeneratorSource:
    """An arrival source (:class:`sim.host.ArrivalSource`) that plays one generator's schedule."""

    def __init__(self, generator: Generator, horizon: float) -> None:
        self.generator = generator
        self.horizon = horizon

    def start(self, host: Any, arrive: Callable[[Generator, int], None], done: Callable[[], None]) -> None:
        host.process(self._run(host, arrive, done))

    def _run(self, host: Any, arrive: Callable[[Generator, int], None],
             done: Callable[[], None]) -> Iterator[Any]:
        """A process that starts the schedule and ends: each arrival is then a function on the clock
        (:meth:`sim.clock.Clock.call_in`) that sets the next one (a million arrivals in a week; resuming a
        process for each costs more). They are scheduled at the same moments a looping process would
        schedule its timeouts, and take a timeout's place in the clock's order, so events keep their order."""
        g = self.generator
        env = host.env  # the clock itself (sim.clock.Clock)
        schedule = enumerate(g.arrivals(self.horizon))
        pending = 0

        def next_arrivals() -> None:
            nonlocal pending
            for i, t in schedule:
                if t > env.now:
                    pending = i
                    env.call_in(t - env.now, fire)
                    return
                arrive(g, i)
            done()

        def fire() -> None:
            arrive(g, pending)
            next_arrivals()

        next_arrivals()
        return
        yield  # a generator: the schedule starts when the process does, in the same order as before


class Instance:
    """One arrival of a workload generator: a Job-like owner of one or more pod sets."""

    __slots__ = ("bound", "done", "expected", "gang", "generator", "group", "key", "kueue", "name", "namespace",
                 "pods", "runtime")

    def __init__(self, generator: Generator, name: str, namespace: str) -> None:
        self.generator = generator
        self.name = name
        self.namespace = namespace
        self.key = f"{namespace}/{name}"
        self.pods: list[Any] = []
        self.done = 0
        self.bound = 0
        self.gang: Any = None
        self.runtime = 0.0
        #: the gang key carried as ``group`` by this instance's events (gangs and Kueue workloads)
        self.group: str | None = None
        #: admitted through a Kueue LocalQueue (its pods exist only while admitted)
        self.kueue = False
        self.expected = generator.total_pods


def pod_name(prefix: str, pod_set: str | None, index: int, multi: bool) -> str:
    """``<instance>[-<podSet>]-<index>``; a single-pod instance's pod is named like the instance."""
    if pod_set is not None:
        return f"{prefix}-{pod_set}-{index}"
    return f"{prefix}-{index}" if multi else prefix


def workload_created(inst: Instance, policy: str, min_count: int, *, queue: str | None = None,
                     timeout: float | None = None, cluster_queue: str | None = None) -> dict[str, Any]:
    """The ``WorkloadCreated`` payload of a gang (PodGroup / KEP-4671 Workload) or a Kueue Workload.
    ``priority`` is the Workload's: Kueue's (a WorkloadPriorityClass label may set it apart from the
    pods'), else the pods' own."""
    w = inst.generator.spec
    pod_sets = [{"name": ps.name or "main", "count": ps.replicas,
                 **({"minCount": ps.min_count} if ps.min_count else {}), "requests": format_resources(ps.requests)}
                for ps in inst.generator.pod_sets]
    return workload_created_data(policy, min_count=min_count, pods=inst.expected, pod_sets=pod_sets,
                                 priority=w.priority if policy == "kueue" else inst.generator.pod_priority,
                                 workload=w.name, queue=queue, cluster_queue=cluster_queue, timeout=timeout)
