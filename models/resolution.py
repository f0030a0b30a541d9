"""What the API server and Kueue fill in before anything is scheduled: pod priority and the Workload's queue.

Kubernetes never schedules a pod by the name of its PriorityClass. The API server's ``Priority``
admission plugin turns ``priorityClassName`` into ``spec.priority`` when the pod is created: the
named class's ``value``, the ``globalDefault`` class's when none is named (0 without one), and it
rejects a pod naming a class that does not exist or setting a ``priority`` that differs from its
class. Kueue's Job integration then builds the Workload: its LocalQueue from the Job's
``kueue.x-k8s.io/queue-name`` label, its priority from the ``kueue.x-k8s.io/priority-class`` label
(a ``WorkloadPriorityClass``) when there is one, else from the pods' PriorityClass.

:func:`resolve_workloads` does both at load time, so the simulator reads plain fields afterwards:

* ``WorkloadGen.queue`` — the LocalQueue (the scenario's ``queue`` or the Job's label; both given and
  different is an :class:`~models.errors.InputError` naming both);
* ``WorkloadGen.priority`` — the Workload's priority (Kueue's queue order and preemption);
* ``WorkloadGen.pod_priority`` — the pods' priority (kube-scheduler's queue order and preemption). The
  two differ only when a WorkloadPriorityClass label is given.

It reads the scenario's manifests once and keeps the :class:`~models.manifests.ManifestSet` on the
scenario; calling it again returns the same set and changes nothing.
"""

from __future__ import annotations

from models.errors import InputError, did_you_mean
from models.manifests import (
    PRIORITY_CLASS_LABEL,
    ManifestSet,
    PriorityClassManifest,
    WorkloadManifest,
    load_manifests,
)
from models.scenario import Scenario, WorkloadGen

#: the classes every cluster has (kubernetes/pkg/apis/scheduling: SystemCriticalPriority and above)
SYSTEM_PRIORITY_CLASSES = {"system-cluster-critical": 2_000_000_000, "system-node-critical": 2_000_001_000}


def scenario_manifests(sc: Scenario) -> ManifestSet:
    """Every manifest the scenario names (``spec.manifests`` and each workload's ``job``), read once."""
    if sc._manifests is None:
        paths = list(sc.spec.manifests) + [w.job for w in sc.spec.workloads if w.job]
        sc._manifests = load_manifests(sorted(set(paths)), sc.base_dir) if paths else ManifestSet()
    ms: ManifestSet = sc._manifests
    return ms


def resolve_workloads(sc: Scenario) -> ManifestSet:
    """Fill in each workload's ``queue``, ``priority`` and ``pod_priority``; returns the manifests read."""
    if sc._manifests is not None:
        ms: ManifestSet = sc._manifests
        return ms
    ms = scenario_manifests(sc)
    src = str(sc.source) if sc.source else None
    classes = _priority_classes(ms, src)
    defaults = [p for p in ms.priority_classes if p.global_default]
    for i, w in enumerate(sc.spec.workloads):
        _resolve(w, f"spec.workloads[{i}]", ms, classes, defaults[0] if defaults else None, src)
    return ms


def job_manifest(w: WorkloadGen, ms: ManifestSet, where: str, src: str | None) -> WorkloadManifest:
    """The one Job/JobSet/Workload object of the file a workload's ``job`` names."""
    jobs = [m for m in ms.workloads if m.source.split("#", 1)[0] == w.job]
    if len(jobs) != 1:
        raise InputError(f"{w.job} holds {len(jobs)} Job/JobSet objects; a workload needs exactly one",
                         file=src, field=f"{where}.job", fix="put one Job or JobSet in the file")
    return jobs[0]


def _priority_classes(ms: ManifestSet, src: str | None) -> dict[str, int]:
    classes = dict(SYSTEM_PRIORITY_CLASSES)
    seen: dict[str, PriorityClassManifest] = {}
    for p in ms.priority_classes:
        if p.name in seen:
            raise InputError(f"PriorityClass {p.name!r} is defined twice ({seen[p.name].source} and {p.source})",
                             file=src, field="spec.manifests", fix="keep one of them")
        seen[p.name] = p
        classes[p.name] = p.value
    defaults = [p for p in ms.priority_classes if p.global_default]
    if len(defaults) > 1:
        raise InputError(f"PriorityClasses {defaults[0].name!r} and {defaults[1].name!r} both set "
                         "globalDefault: true; the API server allows one", file=src, field="spec.manifests",
                         fix="set globalDefault on one class only")
    return classes


def _resolve(w: WorkloadGen, where: str, ms: ManifestSet, classes: dict[str, int],
             default: PriorityClassManifest | None, src: str | None) -> None:
    job = job_manifest(w, ms, where, src) if w.job else None
    # 1. the pods' PriorityClass (the first pod set naming one, as Kueue's jobframework takes it)
    named: list[tuple[str, str]] = []
    if w.template is not None and w.template.priorityClassName:
        named.append((w.template.priorityClassName, f"{where}.template.priorityClassName"))
    for j, ps in enumerate(w.podSets or []):
        if ps.template.priorityClassName:
            named.append((ps.template.priorityClassName, f"{where}.podSets[{j}].template.priorityClassName"))
    if job is not None and job.priority_class_name:
        named.append((job.priority_class_name, f"{where}.job"))
    if len({n for n, _ in named}) > 1:
        (a, _), (b, field) = named[0], next(x for x in named if x[0] != named[0][0])
        raise InputError(f"the pod sets name different PriorityClasses ({a!r} and {b!r}); kubetwin gives all "
                         "pods of a workload one priority", file=src, field=field,
                         fix="use one priorityClassName, or split the workload in two")
    explicit = "priority" in w.model_fields_set
    if named:
        name, field = named[0]
        if name not in classes:
            guess = did_you_mean(name, classes)
            raise InputError(f"PriorityClass {name!r} is not defined", file=src, field=field,
                             fix=(f"did you mean {guess!r}? " if guess else "")
                             + "add a scheduling.k8s.io/v1 PriorityClass of that name to a file under "
                               "spec.manifests")
        pod_priority = classes[name]
        if explicit and w.priority != pod_priority:
            raise InputError(f"priority {w.priority} differs from the value {pod_priority} of PriorityClass "
                             f"{name!r}; the API server rejects such a pod", file=src, field=f"{where}.priority",
                             fix="remove priority (the class gives it) or the priorityClassName")
    elif explicit:
        pod_priority = w.priority
    else:
        pod_priority = default.value if default is not None else 0
    # 2. the LocalQueue: Kueue's Job integration reads the queue-name label
    if job is not None and job.queue_name:
        if w.queue and w.queue != job.queue_name:
            raise InputError(f"queue {w.queue!r} differs from the LocalQueue {job.queue_name!r} that {w.job} "
                             "names in its kueue.x-k8s.io/queue-name label", file=src, field=f"{where}.queue",
                             fix="remove queue (the label routes the Job) or make them the same")
        w.queue = job.queue_name
    if job is not None and hasattr(job, "selected_policy"):  # an AI operator's object: its own PodGroup
        from models.operators.scenario_gang import resolve_operator_gang
        resolve_operator_gang(w, job, ms.pod_groups, where, src, ms.warnings)  # type: ignore[arg-type]
    if w.gang is not None and w.gang.policy == "kueue" and not w.queue:
        raise InputError("gang policy kueue needs a LocalQueue: 'queue', or a kueue.x-k8s.io/queue-name label on "
                         "the Job", file=src, field=f"{where}.queue", fix="add queue: <LocalQueue name>")
    # 3. the Workload's priority: a WorkloadPriorityClass label wins (only for a Workload Kueue manages)
    wpc = job.workload_priority_class if job is not None else _template_label(w, PRIORITY_CLASS_LABEL)
    workload_priority = pod_priority
    if wpc and w.queue:
        if wpc not in ms.workload_priority_classes:
            guess = did_you_mean(wpc, ms.workload_priority_classes)
            raise InputError(f"WorkloadPriorityClass {wpc!r} (label {PRIORITY_CLASS_LABEL}) is not defined",
                             file=src, field=f"{where}.job" if job is not None else f"{where}.template.labels",
                             fix=(f"did you mean {guess!r}? " if guess else "")
                             + "add a kueue.x-k8s.io WorkloadPriorityClass to a file under spec.manifests")
        workload_priority = ms.workload_priority_classes[wpc]
    w.priority = workload_priority
    w._pod_priority = pod_priority


def _template_label(w: WorkloadGen, key: str) -> str | None:
    if w.template is not None:
        return w.template.labels.get(key)
    for ps in w.podSets or []:
        if key in ps.template.labels:
            return ps.template.labels[key]
    return None


__all__ = ["SYSTEM_PRIORITY_CLASSES", "job_manifest", "resolve_workloads", "scenario_manifests"]
