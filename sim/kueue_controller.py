"""Kueue's controllers around the quota core: the Workload lifecycle as the timeline sees it.

Mirrors what Kueue's job reconciler and workload controller do for a suspended Job: the Workload is
created when the Job arrives (``WorkloadCreated``) and queued in its LocalQueue; on admission the
quota for every pod set is reserved at once (``QuotaReserved``, ``Admitted``) and the Job is
unsuspended — only now are its pods created, with the assigned flavors' ``nodeLabels`` injected as
``nodeSelector`` and the flavors' tolerations added. When every pod is running, ``PodsReady``. When
all pods succeed, ``WorkloadFinished`` and the quota is released.

Eviction removes the whole workload: its pods are deleted (``PodDeleted``) at the same instant and its
quota released (``Evicted`` with reason ``Preempted`` or ``PodsReadyTimeout``), then it is requeued
(``Requeued``; after a PodsReadyTimeout, after the backoff ``60·2^(n−1)`` s capped at 3600 s). With
``waitForPodsReady`` (on by default, Kueue ≥ 0.19) an admitted workload that is not PodsReady within
``timeout`` (default 30m) is evicted; with ``blockAdmission`` the core admits nothing else meanwhile.

The quota arithmetic, queueing and preemption choices live in :mod:`sim.kueue` (pure); this module
only turns its decisions into simulated time, pods and events.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from models.kueue import KueueSection
from models.quantity import format_resources
from sim.kueue import Admission, CycleResult, Eviction, KueueCore, PodSetRequest, QueuedWorkload, Requeue

if TYPE_CHECKING:
    from sim.engine import Instance, Simulation, Timer


def queue_configured(section: KueueSection) -> list[tuple[str, str, str | None, dict[str, Any]]]:
    """``QueueConfigured`` payloads (kind, name, namespace, data) for every ClusterQueue and LocalQueue."""
    out: list[tuple[str, str, str | None, dict[str, Any]]] = []
    for cq in sorted(section.cluster_queues, key=lambda c: c.name):
        spec = cq.spec
        groups = []
        for g in spec.resource_groups:
            flavors = []
            for f in g.flavors:
                res = []
                for r in f.resources:
                    d: dict[str, Any] = {"name": r.name,
                                         "nominalQuota": format_resources({r.name: r.nominal_milli})[r.name]}
                    if r.borrowing_limit_milli is not None:
                        d["borrowingLimit"] = format_resources({r.name: r.borrowing_limit_milli})[r.name]
                    if r.lending_limit_milli is not None:
                        d["lendingLimit"] = format_resources({r.name: r.lending_limit_milli})[r.name]
                    res.append(d)
                flavors.append({"name": f.name, "resources": res})
            groups.append({"coveredResources": list(g.covered_resources), "flavors": flavors})
        data: dict[str, Any] = {"queueingStrategy": spec.queueing_strategy, "resourceGroups": groups,
                                "preemption": {
                                    "withinClusterQueue": spec.preemption.within_cluster_queue,
                                    "reclaimWithinCohort": spec.preemption.reclaim_within_cohort}}
        if spec.cohort_ref:
            data["cohort"] = spec.cohort_ref
        out.append(("ClusterQueue", cq.name, None, data))
    for lq in sorted(section.local_queues, key=lambda q: q.key):
        out.append(("LocalQueue", lq.name, lq.namespace, {"clusterQueue": lq.spec.cluster_queue}))
    return out


class KueueController:
    """Drives :class:`sim.kueue.KueueCore` from the engine: submissions, cycles, timers, evictions."""

    def __init__(self, sim: Simulation, section: KueueSection) -> None:
        self.sim = sim
        self.section = section
        self.core = KueueCore.from_section(section)
        wfpr = section.wait_for_pods_ready
        self.wfpr_enabled = wfpr.enable
        self.timeout = wfpr.timeout_seconds
        self.instances: dict[str, Instance] = {}
        self.cluster_queue_of = {lq.key: lq.spec.cluster_queue for lq in section.local_queues}
        self._followup: Timer | None = None

    def header(self) -> dict[str, Any]:
        w = self.section.wait_for_pods_ready
        rs = w.requeuing_strategy
        return {"enabled": w.enable, "timeoutSeconds": w.timeout_seconds, "blockAdmission": w.block_admission,
                "backoffBaseSeconds": rs.backoff_base_seconds, "backoffMaxSeconds": rs.backoff_max_seconds}

    # ------------------------------------------------------------------ inputs from the engine

    def submit(self, inst: Instance) -> None:
        sim = self.sim
        now = sim.now
        spec = inst.gen.spec
        queue = spec.queue or ""
        lq_key = f"{inst.namespace}/{queue}"
        self.instances[inst.key] = inst
        total = sum(ps.replicas for ps in inst.gen.pod_sets)
        min_count = sum(ps.min_count or ps.replicas for ps in inst.gen.pod_sets)
        data: dict[str, Any] = {"policy": "kueue", "queue": queue, "minCount": min_count, "pods": total,
                                "priority": spec.priority, "workload": spec.name,
                                "podSets": [{"name": ps.name or "main", "count": ps.replicas,
                                             **({"minCount": ps.min_count} if ps.min_count else {}),
                                             "requests": format_resources(ps.requests)}
                                            for ps in inst.gen.pod_sets]}
        cq = self.cluster_queue_of.get(lq_key)
        if cq is not None:
            data["clusterQueue"] = cq
        sim.emit(now, "WorkloadCreated", "Workload", inst.name, inst.namespace, group=inst.key, data=data)
        pod_sets = [PodSetRequest(ps.name or "main", ps.replicas, dict(ps.requests), dict(ps.node_selector),
                                  tuple(ps.tolerations), _terms(ps.affinity), ps.min_count)
                    for ps in inst.gen.pod_sets]
        self.core.submit(QueuedWorkload(inst.key, queue, spec.priority, now, tuple(pod_sets)), now)
        self.cycle()

    def pods_bound(self, inst: Instance) -> None:
        """A pod of ``inst`` was bound; when all are, the workload is PodsReady."""
        if inst.ready or inst.bound < inst.expected:
            return
        inst.ready = True
        self._cancel_timer(inst)
        self.core.pods_ready(inst.key, self.sim.now)
        self.sim.emit(self.sim.now, "PodsReady", "Workload", inst.name, inst.namespace, group=inst.key)
        if self.section.wait_for_pods_ready.enable and self.section.wait_for_pods_ready.block_admission:
            self.cycle()  # blockAdmission was holding the others back

    def finished(self, inst: Instance) -> None:
        now = self.sim.now
        self.sim.emit(now, "WorkloadFinished", "Workload", inst.name, inst.namespace, group=inst.key,
                      reason="Succeeded")
        self.core.finish(inst.key, now)
        inst.admitted = False
        self.cycle()

    # ------------------------------------------------------------------ one burst of Kueue cycles

    def cycle(self) -> None:
        """Kueue cycles back to back at this instant until one changes nothing.

        Each cycle's evictions are carried out before its admissions, cycle by cycle (a workload can be
        admitted in one cycle and preempted in the next). Workloads preempted in this burst rejoin their
        queues only at the next burst — the next event that can change a decision, or one second later
        at the latest — the way a real eviction waits for the Job to be suspended before the Workload is
        requeued. This also keeps legal-but-circular preemption configurations from spinning at one
        instant.
        """
        now = self.sim.now
        evicted = False
        for i in range(100_000):
            res: CycleResult = self.core.schedule(now, requeue_due=i == 0)
            for ev in res.evictions:
                self._evicted(ev.workload, "Preempted", ev.requeue, ev)
            for adm in res.admissions:
                self._admit(adm)
            evicted = evicted or bool(res.evictions)
            if not res.changed:
                break
        if evicted and self._followup is None:
            self._followup = self.sim.call_at(now + 1.0, self._follow_up)

    def _follow_up(self) -> None:
        self._followup = None
        self.cycle()

    def _admit(self, adm: Admission) -> None:
        sim = self.sim
        now = sim.now
        inst = self.instances[adm.workload]
        data: dict[str, Any] = {"clusterQueue": adm.cluster_queue, "flavors": adm.flavors,
                                "usage": adm.usage_strings()}
        if adm.borrowed:
            data["borrowed"] = True
        sim.emit(now, "QuotaReserved", "Workload", inst.name, inst.namespace, group=inst.key, data=data)
        sim.emit(now, "Admitted", "Workload", inst.name, inst.namespace, group=inst.key,
                 data={"clusterQueue": adm.cluster_queue})
        inst.admitted = True
        inst.admissions += 1
        inst.attempt += 1
        inst.ready = False
        inst.bound = 0
        inst.done = 0
        attempt = inst.attempt
        sim.create_admitted_pods(inst, adm.node_selector, adm.tolerations)
        if self.wfpr_enabled:
            self._cancel_timer(inst)
            inst.timer = sim.call_at(now + self.timeout, self._timeout_check(inst, attempt))

    def _timeout_check(self, inst: Instance, attempt: int) -> Callable[[], None]:
        def check() -> None:
            if inst.attempt != attempt or not inst.admitted or inst.ready:
                return
            req = self.core.evict(inst.key, self.sim.now, "PodsReadyTimeout")
            self._evicted(inst.key, "PodsReadyTimeout", req, None)
            self.cycle()
        return check

    def _evicted(self, key: str, reason: str, requeue: Requeue, ev: Eviction | None) -> None:
        sim = self.sim
        now = sim.now
        inst = self.instances[key]
        data: dict[str, Any] = {"clusterQueue": self.cluster_queue_of.get(f"{inst.namespace}/"
                                                                          f"{inst.gen.spec.queue}", "")}
        if ev is not None:
            data["preemptor"] = ev.preemptor
            data["message"] = ev.message
        sim.emit(now, "Evicted", "Workload", inst.name, inst.namespace, group=inst.key, reason=reason, data=data)
        inst.admitted = False
        inst.attempt += 1  # invalidates this admission's PodsReady timer
        self._cancel_timer(inst)
        sim.delete_instance_pods(inst, f"Evicted by Kueue: {reason}")
        if requeue.deactivated:
            return
        sim.emit(now, "Requeued", "Workload", inst.name, inst.namespace, group=inst.key,
                 data={"backoffSeconds": requeue.backoff_seconds,
                       "requeueAt": None if requeue.requeue_at is None else round(requeue.requeue_at, 6)})
        if requeue.requeue_at is not None and requeue.requeue_at > now:  # PodsReadyTimeout backoff
            at = requeue.requeue_at
            sim.call_at(at, lambda: self._requeue(key))

    @staticmethod
    def _cancel_timer(inst: Instance) -> None:
        if inst.timer is not None:
            inst.timer.cancel()
            inst.timer = None

    def _requeue(self, key: str) -> None:
        if self.core.requeue(key, self.sim.now):
            self.cycle()


def _terms(affinity: dict[str, Any] | None) -> tuple[dict[str, Any], ...]:
    if not affinity:
        return ()
    req = (affinity.get("nodeAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    return tuple(req.get("nodeSelectorTerms") or ())
