"""The gang a scenario workload gets from its operator object: the PodGroup the object's controller creates.

An operator object chooses its gang scheduler itself — a TrainJob's runtime ``podGroupPolicy``, a
``scheduling.x-k8s.io/pod-group`` label on its pod templates, a PyTorchJob's ``schedulerName``, KubeRay's
``ray.io/scheduler-name`` / ``ray.io/gang-scheduling-enabled`` labels, a Volcano Job always
(:attr:`~models.operators.OperatorWorkload.selected_policy`). Its controller then creates the PodGroup with
the object's ``minMember`` and ``scheduleTimeoutSeconds``. :func:`resolve_operator_gang` carries that into
the scenario workload at load time (as :mod:`models.resolution` carries the queue-name label into
``queue``), so a workload without ``gang:`` runs under the object's gang, and a ``gang:`` that leaves
``minCount``/``timeout`` out gets the object's:

* coscheduling: ``gang`` becomes ``{policy: coscheduling, minCount, timeout}`` with the object's quorum
  (or the ``scheduling.x-k8s.io`` PodGroup manifest its label names) and ``scheduleTimeoutSeconds``;
* Volcano: left to ``sim.volcano.setup``, which reads the object's PodGroup itself;
* a Volcano Job with a Kueue ``queue`` or a non-Volcano ``gang.policy`` is an
  :class:`~models.errors.InputError`: Kueue has no Volcano Job integration and its pods are Volcano's.
"""

from __future__ import annotations

from models.errors import InputError
from models.manifests import PodGroupManifest
from models.operators._common import OperatorWorkload
from models.scenario import Gang, WorkloadGen

VOLCANO_JOB_API = "batch.volcano.sh/v1alpha1"


def resolve_operator_gang(w: WorkloadGen, op: OperatorWorkload, pod_groups: list[PodGroupManifest], where: str,
                          src: str | None, warnings: list[str]) -> None:
    """Fill in ``w.gang`` from the object ``op`` its ``job`` names (see the module docstring); warnings name
    the field when the scenario overrides the object's own choice."""
    if op.api_version == VOLCANO_JOB_API:
        _check_volcano_job(w, op, where, src)
        return
    selected = op.selected_policy
    if w.queue:
        return  # Kueue's Workload: the PodGroup is not created while Kueue suspends the object
    if w.gang is not None and selected is not None and w.gang.policy != selected:
        warnings.append(f"{src or '<scenario>'}: {where}.gang.policy: {w.gang.policy!r} overrides the "
                        f"{selected} gang that {op.source} selects with {op.gang_selector}")
    policy = w.gang.policy if w.gang is not None else selected
    if policy != "coscheduling":
        return
    gangs = op.gangs_under("coscheduling")
    if not gangs or gangs[0].source != "podgroup":
        return  # the object draws no PodGroup of its own: the scenario's gang (every pod, 60 s) stands
    gang = gangs[0]
    quorum = gang.min_count
    timeout = op.schedule_timeout
    if quorum is None:  # the user's PodGroup named by the label decides
        pg = next((p for p in pod_groups if f"{p.namespace}/{p.name}" == gang.key), None)
        if pg is None:
            warnings.append(f"{op.source}: PodGroup {gang.key} (named by {op.gang_selector}) is not among the "
                            "manifests; kubetwin takes every pod as its minMember")
        else:
            quorum = pg.min_member or None
            timeout = int(pg.schedule_timeout_seconds) if pg.schedule_timeout_seconds else None
    if quorum is not None and quorum > len(gang.pods):
        raise InputError(f"PodGroup {gang.key} asks for minMember {quorum} but the object has {len(gang.pods)} pods",
                         file=src, field=f"{where}.job", fix=f"use a minMember of at most {len(gang.pods)}")
    update: dict[str, object] = {}
    if quorum is not None and quorum != len(gang.pods):
        update["minCount"] = quorum
    if timeout:
        update["timeout"] = f"{timeout}s"
    if w.gang is None:
        w.gang = Gang(policy="coscheduling", **update)
    else:
        keep = {k: v for k, v in update.items() if getattr(w.gang, k) is None}
        if keep:
            w.gang = w.gang.model_copy(update=keep)


def _check_volcano_job(w: WorkloadGen, op: OperatorWorkload, where: str, src: str | None) -> None:
    if w.queue:
        raise InputError(f"{op.source} is a Volcano Job: Kueue has no Volcano Job integration, so it cannot wait "
                         f"in LocalQueue {w.queue!r}", file=src, field=f"{where}.queue",
                         fix="remove queue (Volcano schedules the job; set its Volcano Queue with gang: {policy: "
                             "volcano, queue: <Queue>} or the Job's spec.queue), or write the pods as a Job/JobSet "
                             "for Kueue")
    if w.gang is not None and w.gang.policy != "volcano":
        raise InputError(f"{op.source} is a Volcano Job: its pods are scheduled by Volcano through the job's "
                         f"PodGroup, not by gang policy {w.gang.policy!r}", file=src, field=f"{where}.gang.policy",
                         fix="use gang: {policy: volcano} or leave gang out")
