"""From a scenario to Volcano's plan: which workloads Volcano schedules, and each one's PodGroup template.

A workload is Volcano's when its ``gang.policy`` is ``volcano``, or when it has no ``gang`` and its
``job:`` object asks for Volcano (a ``batch.volcano.sh`` Job, or an operator object whose PodGroup is a
Volcano one — ``models.operators`` gang source ``volcano-podgroup`` — or ``schedulerName: volcano``).
Each instance of such a workload becomes one Volcano job: a PodGroup with

* ``minMember`` from ``gang.minCount``, else the named ``gang.podGroup`` object's ``minMember``, else
  the operator's PodGroup (a Volcano Job's ``minAvailable``), else every pod;
* ``minTaskMember`` from ``gang.minTaskMember``, the PodGroup object, the operator, or the pod sets'
  ``minCount``;
* ``queue`` from ``gang.queue``, the PodGroup object, the operator, else ``default``;
* ``minResources`` from the PodGroup object, else — as the Volcano job controller computes it — the
  requests of the first ``minMember`` pods in pod-set order;
* the job priority from the PodGroup's ``priorityClassName``, else the pods' priority;
* when its pods are created: ``gang.delayPodCreation``, else once the PodGroup is ``Inqueue`` for a pod-set
  workload or a Volcano Job (the job controller's delayed pod creation), at submission for other operators.

Everything is checked here, before the clock starts: an unknown Queue or PodGroup, a ``minCount`` above
the pod count, a ``minTaskMember`` naming no pod set, a Kueue ``queue`` on a Volcano workload or a gang
``timeout`` (Volcano has none) are :class:`~models.errors.InputError` naming the field and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from models.errors import InputError
from models.manifests import ManifestSet
from models.resolution import SYSTEM_PRIORITY_CLASSES
from models.scenario import Scenario, WorkloadGen
from sim.workloads import Generator

if TYPE_CHECKING:  # models.volcano loads only for a scenario with Volcano in it
    from models.volcano import VolcanoPodGroup, VolcanoSection


@dataclass(slots=True)
class JobTemplate:
    """What every instance of one Volcano workload's PodGroup holds."""

    min_member: int
    min_task_member: dict[str, int]
    queue: str
    priority: int
    min_resources: dict[str, int] | None
    #: pods are created when the PodGroup is Inqueue (Volcano Job controller), not at arrival
    create_on_inqueue: bool
    #: the operator's PodGroup naming (``instance(op, name).gangs_under("volcano")``), when it draws one
    operator_gang: bool = False


@dataclass(slots=True)
class VolcanoPlan:
    """Volcano's section and a :class:`JobTemplate` per Volcano workload (keyed ``namespace/name``)."""

    section: VolcanoSection
    jobs: dict[str, JobTemplate] = field(default_factory=dict)
    scoring: str = "LeastAllocated"


def is_volcano(w: WorkloadGen, g: Generator) -> bool:
    """True when Volcano schedules this workload's pods."""
    if w.gang is not None:
        return w.gang.policy == "volcano"
    op = g.operator
    return op is not None and not w.queue and hasattr(op, "default_policy") and op.default_policy() == "volcano"


def plan_from(scenario: Scenario, manifests: ManifestSet, generators: list[Generator],
              warnings: list[str]) -> VolcanoPlan | None:
    """The Volcano plan, or None when no workload is Volcano's and the scenario defines nothing Volcano."""
    spec = scenario.spec
    src = str(scenario.source) if scenario.source else None
    uses = [(i, g) for i, g in enumerate(generators) if is_volcano(g.spec, g)]
    if not uses and spec.volcano is None:
        return None
    from models.volcano import parse_volcano

    section = parse_volcano(spec.volcano, list(spec.manifests), scenario.base_dir, src)
    warnings.extend(section.warnings)
    classes = dict(SYSTEM_PRIORITY_CLASSES)
    classes.update({p.name: p.value for p in manifests.priority_classes})
    plan = VolcanoPlan(section, scoring=spec.scheduler.scoring)
    for i, g in uses:
        plan.jobs[f"{g.spec.namespace}/{g.spec.name}"] = _template(i, g, section, classes, src)
    return plan


def _template(i: int, g: Generator, section: VolcanoSection, classes: dict[str, int],
              src: str | None) -> JobTemplate:
    from models.volcano import DEFAULT_QUEUE

    w = g.spec
    where = f"spec.workloads[{i}]"
    gang = w.gang
    if w.queue:
        raise InputError("a Volcano workload cannot also name a Kueue LocalQueue", file=src, field=f"{where}.queue",
                         fix="remove queue (use gang.queue for the Volcano Queue) or use gang policy kueue")
    if gang is not None and gang.timeout is not None:
        raise InputError("Volcano gangs have no timeout: an unschedulable job is retried every session", file=src,
                         field=f"{where}.gang.timeout", fix="remove timeout")
    pod_sets = {ps.name or "main": ps for ps in g.pod_sets}
    total = g.total_pods
    pg: VolcanoPodGroup | None = None
    if gang is not None and gang.podGroup is not None:
        pg = section.pod_groups.get(f"{w.namespace}/{gang.podGroup}")
        if pg is None:
            raise InputError(f"PodGroup {w.namespace}/{gang.podGroup} is not defined", file=src,
                             field=f"{where}.gang.podGroup",
                             fix="add a scheduling.volcano.sh/v1beta1 PodGroup of that name (in the workload's "
                                 "namespace) under spec.volcano.podGroups or in a spec.manifests file")
    op_gang = _operator_gang(g)
    if pg is None and op_gang is not None and op_gang.min_count is None:
        pg = section.pod_groups.get(op_gang.key)  # the operator names a PodGroup the user wrote
    min_member = (gang.minCount if gang is not None and gang.minCount else None) or \
        (pg.min_member if pg is not None and pg.min_member else None) or \
        (op_gang.min_count if op_gang is not None and op_gang.min_count else None) or \
        sum(ps.min_count or ps.replicas for ps in g.pod_sets)
    if min_member > total:
        field_ = f"{where}.gang.minCount" if gang is not None and gang.minCount else f"{where}.gang.podGroup"
        raise InputError(f"minMember {min_member} is more than the {total} pods of an instance", file=src,
                         field=field_, fix=f"use at most {total}")
    if gang is not None and gang.minTaskMember is not None:
        mtm, mtm_field = dict(gang.minTaskMember), f"{where}.gang.minTaskMember"
    elif pg is not None and pg.min_task_member:
        mtm, mtm_field = dict(pg.min_task_member), f"{pg.where}: spec.minTaskMember"
    elif op_gang is not None and op_gang.min_task_member:
        mtm, mtm_field = dict(op_gang.min_task_member), f"{where}.job"
    else:
        mtm = {name: ps.min_count for name, ps in pod_sets.items() if ps.min_count}
        mtm_field = f"{where}.podSets"
    for task, n in sorted(mtm.items()):
        ps = pod_sets.get(task)
        if ps is None:
            raise InputError(f"minTaskMember names task {task!r}, which is not a pod set of this workload", file=src,
                             field=mtm_field, fix=f"use one of {', '.join(sorted(pod_sets))}")
        if n > ps.replicas:
            raise InputError(f"minTaskMember {task}: {n} is more than its {ps.replicas} pods", file=src,
                             field=mtm_field, fix=f"use at most {ps.replicas}")
    queue = (gang.queue if gang is not None and gang.queue else None) or (pg.queue if pg is not None else None) or \
        (op_gang.queue if op_gang is not None and op_gang.queue else None) or DEFAULT_QUEUE
    if queue not in section.queues:
        raise InputError(f"Volcano Queue {queue!r} is not defined", file=src, field=f"{where}.gang.queue",
                         fix="add a scheduling.volcano.sh/v1beta1 Queue of that name under spec.volcano.queues or "
                             "in a spec.manifests file (or use the default queue)")
    priority = g.pod_priority
    pcn = pg.priority_class_name if pg is not None else None
    if pcn is None and g.operator is not None:
        pcn = getattr(g.operator, "priority_class_name", None)
    if pcn:
        if pcn not in classes:
            raise InputError(f"PriorityClass {pcn!r} of the PodGroup is not defined", file=src, field=f"{where}.gang",
                             fix="add a scheduling.k8s.io/v1 PriorityClass of that name under spec.manifests")
        priority = classes[pcn]
    min_resources = pg.min_resources if pg is not None else None
    if min_resources is None:
        min_resources = _first_pods_requests(g, min_member)
    api = str(getattr(g.operator, "api_version", "")) if g.operator is not None else ""
    create_on_inqueue = g.operator is None or api.startswith("batch.volcano.sh/")
    if gang is not None and gang.delayPodCreation is not None:
        create_on_inqueue = gang.delayPodCreation
    return JobTemplate(min_member, mtm, queue, priority, min_resources, create_on_inqueue,
                       operator_gang=op_gang is not None)


def _operator_gang(g: Generator) -> Any:
    op = g.operator
    if op is None or not hasattr(op, "gangs_under"):
        return None
    gangs = op.gangs_under("volcano")
    return gangs[0] if gangs else None


def _first_pods_requests(g: Generator, n: int) -> dict[str, int]:
    """The Volcano job controller's ``minResources``: the requests of the first ``n`` pods, in task order."""
    out: dict[str, int] = {}
    left = n
    for ps in g.pod_sets:
        take = min(left, ps.replicas)
        for r, q in ps.requests.items():
            if r != "pods" and q > 0:
                out[r] = out.get(r, 0) + q * take
        left -= take
        if left <= 0:
            break
    return out
