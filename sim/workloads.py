"""Workload generators: when instances of a workload arrive and what pods each one brings.

A generator mirrors a controller that creates pods on a schedule — a CronJob, a batch submitter, a
notebook hub. ``arrival`` is ``poisson`` (exponential inter-arrival times, first arrival after one
draw), ``every`` (at 0, D, 2D, …; ``every: 0s`` = all at once) or ``at`` (explicit times). Each
generator draws from its own ``random.Random`` seeded from the run seed and its name, so adding a
workload does not change the samples of the others.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from models.distributions import Sampler
from models.duration import parse_duration
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
        requests={k: parse_quantity(v).to_milli() for k, v in template.requests.items()},
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
        #: the Instance shared by this generator's plain single pods (set by the engine)
        self.plain: Any = None

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
