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

**Admission checks.** When the workload's ClusterQueue lists admission checks (``admissionChecks``, or
the ``admissionChecksStrategy`` rules whose ``onFlavors`` match the assigned flavors), a quota
reservation does not admit it yet: each check starts ``Pending`` and Kueue's ProvisioningRequest
controller (:mod:`sim.kueue_provisioning`) creates a ProvisioningRequest
``<workload>-<check>-<attempt>`` with the workload's pod sets (the ones using a ``managedResources``
resource; none: the check is Ready at once) and the ProvisioningRequestConfig's class and parameters
(``ProvisioningRequestCreated``). The cluster autoscaler answers it (:mod:`sim.autoscaler.provisioning`);
``Provisioned=True`` makes the check ``Ready`` (``AdmissionCheckUpdated``), and when every check is
Ready the workload is ``Admitted`` and its pods are created, consuming the request. ``Failed=True`` (or
``BookingExpired`` before admission) makes the check ``Retry`` while the attempt number is at most
``retryStrategy.backoffLimitCount``: the workload is evicted (``Evicted`` reason ``AdmissionCheck``),
its quota released, and it is requeued after ``backoffBaseSeconds·2^(n−1)`` capped at
``backoffMaxSeconds``; its next reservation creates attempt n+1. Beyond the limit the check is
``Rejected`` and the workload deactivated (``Evicted`` reason ``Deactivated``, no requeue). A request that
is still Provisioned when the workload reserves quota again (after a preemption) makes the check Ready
at once, as Kueue reuses it; the requests are deleted when the workload finishes.

The quota arithmetic, queueing and preemption choices live in :mod:`sim.kueue` (pure); this module
only turns its decisions into simulated time, pods and events.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from models.kueue import PROVISIONING_CONTROLLER, ClusterQueueSpec, KueueSection
from models.quantity import format_resources
from sim.autoscaler.provreq import ProvisioningRequest, ProvisioningRequests
from sim.host import ControllerHost, Timer
from sim.kueue import Admission, CycleResult, Eviction, KueueCore, PodSetRequest, QueuedWorkload, Requeue
from sim.kueue_provisioning import ProvisioningCheckController
from sim.pods import SimPod
from sim.workloads import Instance, workload_created


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
        checks = _admission_checks(section, spec)
        if checks:
            data["admissionChecks"] = checks
        out.append(("ClusterQueue", cq.name, None, data))
    for lq in sorted(section.local_queues, key=lambda q: q.key):
        out.append(("LocalQueue", lq.name, lq.namespace, {"clusterQueue": lq.spec.cluster_queue}))
    return out


class KueueWorkload:
    """Kueue's view of one workload instance: its admission state across evictions."""

    __slots__ = ("adm", "admissions", "admitted", "attempt", "checks", "inst", "provreqs", "ready", "reserved",
                 "timer")

    def __init__(self, inst: Instance) -> None:
        self.inst = inst
        self.admitted = False
        #: holds a quota reservation (QuotaReserved, maybe still waiting for admission checks)
        self.reserved = False
        self.adm: Admission | None = None
        #: admission check name -> its state on this reservation (Pending, Ready, Retry, Rejected)
        self.checks: dict[str, str] = {}
        #: admission check name -> the latest ProvisioningRequest created for it
        self.provreqs: dict[str, ProvisioningRequest] = {}
        #: bumped on every admission and eviction: a PodsReady timer of an older attempt is stale
        self.attempt = 0
        self.admissions = 0
        self.ready = False
        self.timer: Timer | None = None


class KueueController:
    """Drives :class:`sim.kueue.KueueCore` on the controller host: submissions, cycles, timers, evictions."""

    name = "kueue"

    def __init__(self, section: KueueSection) -> None:
        self.section = section
        self.core = KueueCore.from_section(section)
        wfpr = section.wait_for_pods_ready
        self.wfpr_enabled = wfpr.enable
        self.timeout = wfpr.timeout_seconds
        self.workloads: dict[str, KueueWorkload] = {}
        self.cluster_queue_of = {lq.key: lq.spec.cluster_queue for lq in section.local_queues}
        self._followup: Timer | None = None
        self._host: ControllerHost | None = None
        #: Kueue's ProvisioningRequest admission check controller (set by :meth:`use_provisioning`)
        self.provisioning: ProvisioningCheckController | None = None

    def use_provisioning(self, api: ProvisioningRequests) -> None:
        """Run the ProvisioningRequest admission check against ``api`` (the cluster autoscaler's)."""
        self.provisioning = ProvisioningCheckController(self, api)

    @property
    def host(self) -> ControllerHost:
        assert self._host is not None, "start() first"
        return self._host

    def start(self, host: ControllerHost) -> None:
        self._host = host
        if self.section.uses_provisioning and self.provisioning is None:
            raise RuntimeError("ProvisioningRequest admission checks need the cluster autoscaler: call "
                               "KueueController.use_provisioning(autoscaler.provreqs) before start()")
        for kind, name, ns, qdata in queue_configured(self.section):
            host.emit("QueueConfigured", kind, name, ns, data=qdata)
        host.subscribe("pod_bound", self._pod_bound)
        host.subscribe("pod_finished", self._pod_finished)

    def header(self) -> dict[str, Any]:
        w = self.section.wait_for_pods_ready
        rs = w.requeuing_strategy
        return {"enabled": w.enable, "timeoutSeconds": w.timeout_seconds, "blockAdmission": w.block_admission,
                "backoffBaseSeconds": rs.backoff_base_seconds, "backoffMaxSeconds": rs.backoff_max_seconds}

    # ------------------------------------------------------------------ inputs from the host

    def takes(self, inst: Instance) -> bool:
        """Kueue's Job integration: a Job with a queue (a LocalQueue name) is Kueue's."""
        spec = inst.generator.spec
        return bool(spec.queue) or (spec.gang is not None and spec.gang.policy == "kueue")

    def submit(self, inst: Instance) -> None:
        host = self.host
        now = host.now
        inst.kueue = True
        spec = inst.generator.spec
        queue = spec.queue or ""
        self.workloads[inst.key] = KueueWorkload(inst)
        min_count = sum(ps.min_count or ps.replicas for ps in inst.generator.pod_sets)
        host.emit("WorkloadCreated", "Workload", inst.name, inst.namespace, group=inst.key,
                  data=workload_created(inst, "kueue", min_count, queue=queue,
                                        cluster_queue=self.cluster_queue_of.get(f"{inst.namespace}/{queue}")))
        pod_sets = [PodSetRequest(ps.name or "main", ps.replicas, dict(ps.requests), dict(ps.node_selector),
                                  tuple(ps.tolerations), _terms(ps.affinity), ps.min_count)
                    for ps in inst.generator.pod_sets]
        self.core.submit(QueuedWorkload(inst.key, queue, spec.priority, now, tuple(pod_sets)), now)
        self.cycle()

    def _pod_bound(self, pod: SimPod, node: int) -> None:
        inst: Instance = pod.instance
        if not inst.kueue:
            return
        inst.bound += 1
        wl = self.workloads[inst.key]
        # a workload is PodsReady when all its pods are bound
        if wl.ready or inst.bound < inst.expected:
            return
        wl.ready = True
        self._cancel_timer(wl)
        host = self.host
        self.core.pods_ready(inst.key, host.now)
        host.emit("PodsReady", "Workload", inst.name, inst.namespace, group=inst.key)
        if self.section.wait_for_pods_ready.enable and self.section.wait_for_pods_ready.block_admission:
            self.cycle()  # blockAdmission was holding the others back

    def _pod_finished(self, pod: SimPod, phase: str) -> None:
        inst: Instance = pod.instance
        if phase != "Succeeded" or not inst.kueue or inst.done != inst.expected:
            return
        host = self.host
        now = host.now
        host.emit("WorkloadFinished", "Workload", inst.name, inst.namespace, group=inst.key, reason="Succeeded")
        self.core.finish(inst.key, now)
        wl = self.workloads[inst.key]
        wl.admitted = wl.reserved = False
        if self.provisioning is not None:
            self.provisioning.finished(wl)
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
        now = self.host.now
        evicted = False
        for i in range(100_000):
            res: CycleResult = self.core.schedule(now, requeue_due=i == 0)
            for ev in res.evictions:
                self._evicted(ev.workload, "Preempted", ev.requeue, ev)
            for adm in res.admissions:
                self._admit(adm)
            for pending in res.pending_events:  # a workload Kueue cannot admit says why, once per message
                wl = self.workloads.get(pending.workload)
                if wl is not None:
                    inst = wl.inst
                    data = {"clusterQueue": pending.cluster_queue} if pending.cluster_queue else None
                    self.host.emit("Pending", "Workload", inst.name, inst.namespace, group=inst.key,
                                   reason=pending.message, data=data)
            evicted = evicted or bool(res.evictions)
            if not res.changed:
                break
        if evicted and self._followup is None:
            self._followup = self.host.call_at(now + 1.0, self._follow_up)

    def _follow_up(self) -> None:
        self._followup = None
        self.cycle()

    def _admit(self, adm: Admission) -> None:
        host = self.host
        wl = self.workloads[adm.workload]
        inst = wl.inst
        data: dict[str, Any] = {"clusterQueue": adm.cluster_queue, "flavors": adm.flavors,
                                "usage": adm.usage_strings()}
        if adm.borrowed:
            data["borrowed"] = True
        checks = self.provisioning.checks_for(adm) if self.provisioning is not None else []
        if checks:
            data["admissionChecks"] = checks
        host.emit("QuotaReserved", "Workload", inst.name, inst.namespace, group=inst.key, data=data)
        wl.reserved = True
        wl.adm = adm
        wl.checks = {c: "Pending" for c in checks}
        if checks:
            self.core.awaiting_checks(inst.key, True)
        if self.provisioning is not None:
            for check in checks:
                self.provisioning.sync(wl, check)
        self.maybe_admit(wl)

    def maybe_admit(self, wl: KueueWorkload) -> None:
        """All admission checks Ready (or none): the workload is admitted."""
        if wl.reserved and not wl.admitted and all(s == "Ready" for s in wl.checks.values()):
            if wl.checks:
                self.core.awaiting_checks(wl.inst.key, False)
            self._admitted(wl)

    def _admitted(self, wl: KueueWorkload) -> None:
        host = self.host
        now = host.now
        adm = wl.adm
        assert adm is not None
        inst = wl.inst
        host.emit("Admitted", "Workload", inst.name, inst.namespace, group=inst.key,
                  data={"clusterQueue": adm.cluster_queue})
        wl.admitted = True
        wl.admissions += 1
        wl.attempt += 1
        wl.ready = False
        inst.bound = 0
        inst.done = 0
        attempt = wl.attempt
        prefix = inst.name if wl.admissions <= 1 else f"{inst.name}-r{wl.admissions - 1}"
        host.create_pods(inst, adm.node_selector, adm.tolerations, prefix)
        if self.wfpr_enabled:
            self._cancel_timer(wl)
            wl.timer = host.call_at(now + self.timeout, self._timeout_check(wl, attempt))

    def set_check_state(self, wl: KueueWorkload, check: str, to: str, message: str,
                        pr: ProvisioningRequest | None = None) -> None:
        """Move an admission check of the current reservation to ``to`` (Kueue's ``AdmissionCheckUpdated``
        event on a change)."""
        before = wl.checks.get(check)
        if before is None or before == to:
            return
        wl.checks[check] = to
        inst = wl.inst
        reason = f"Admission check {check} updated state from {before} to {to}"
        if message:
            reason += f" with message {message}"
        data: dict[str, Any] = {"admissionCheck": check, "from": before, "to": to}
        if message:
            data["message"] = message
        if pr is not None:
            data["provisioningRequest"] = pr.name
        self.host.emit("AdmissionCheckUpdated", "Workload", inst.name, inst.namespace, group=inst.key,
                       reason=reason, data=data)

    def retry(self, wl: KueueWorkload, backoff_base: float, backoff_max: float) -> None:
        """A check went ``Retry``: evict (reason ``AdmissionCheck``), release the quota, requeue after the
        backoff."""
        key = wl.inst.key
        req = self.core.evict_for_admission_check(key, self.host.now, backoff_base, backoff_max)
        self._evicted(key, "AdmissionCheck", req, None, "At least one admission check is false")
        self.cycle()

    def reject(self, wl: KueueWorkload, message: str) -> None:
        """A check went ``Rejected``: the workload is deactivated (``Evicted`` reason ``Deactivated``)."""
        inst = wl.inst
        self.core.deactivate(inst.key, self.host.now, message)
        queue = self.cluster_queue_of.get(f"{inst.namespace}/{inst.generator.spec.queue}", "")
        self.host.emit("Evicted", "Workload", inst.name, inst.namespace, group=inst.key, reason="Deactivated",
                       data={"clusterQueue": queue, "message": message})
        wl.admitted = wl.reserved = False
        wl.checks = {}
        wl.attempt += 1
        self._cancel_timer(wl)
        self.host.delete_pods(inst, "Evicted by Kueue: Deactivated")
        self.cycle()

    def _timeout_check(self, wl: KueueWorkload, attempt: int) -> Callable[[], None]:
        def check() -> None:
            if wl.attempt != attempt or not wl.admitted or wl.ready:
                return
            req = self.core.evict(wl.inst.key, self.host.now, "PodsReadyTimeout")
            self._evicted(wl.inst.key, "PodsReadyTimeout", req, None)
            self.cycle()
        return check

    def _evicted(self, key: str, reason: str, requeue: Requeue, ev: Eviction | None, message: str = "") -> None:
        host = self.host
        now = host.now
        wl = self.workloads[key]
        inst = wl.inst
        data: dict[str, Any] = {"clusterQueue": self.cluster_queue_of.get(f"{inst.namespace}/"
                                                                          f"{inst.generator.spec.queue}", "")}
        if ev is not None:
            data["preemptor"] = ev.preemptor
            data["message"] = ev.message
        elif message:
            data["message"] = message
        host.emit("Evicted", "Workload", inst.name, inst.namespace, group=inst.key, reason=reason, data=data)
        wl.admitted = wl.reserved = False
        wl.checks = {}
        wl.attempt += 1  # invalidates this admission's PodsReady timer
        self._cancel_timer(wl)
        host.delete_pods(inst, f"Evicted by Kueue: {reason}")
        if requeue.deactivated:
            return
        host.emit("Requeued", "Workload", inst.name, inst.namespace, group=inst.key,
                  data={"backoffSeconds": requeue.backoff_seconds,
                        "requeueAt": None if requeue.requeue_at is None else round(requeue.requeue_at, 6)})
        if requeue.requeue_at is not None and requeue.requeue_at > now:  # PodsReadyTimeout backoff
            at = requeue.requeue_at
            host.call_at(at, lambda: self._requeue(key))

    @staticmethod
    def _cancel_timer(wl: KueueWorkload) -> None:
        if wl.timer is not None:
            wl.timer.cancel()
            wl.timer = None

    def _requeue(self, key: str) -> None:
        if self.core.requeue(key, self.host.now):
            self.cycle()


def _admission_checks(section: KueueSection, spec: ClusterQueueSpec) -> list[dict[str, Any]]:
    """A ClusterQueue's admission checks as ``QueueConfigured`` records them: each with its flavors (empty:
    all), its controller and its ProvisioningRequestConfig — enough for a replay to rebuild them."""
    rules = ([(r.name, list(r.on_flavors)) for r in spec.admission_checks_strategy.admission_checks]
             if spec.admission_checks_strategy is not None else [(n, []) for n in spec.admission_checks])
    out: list[dict[str, Any]] = []
    for name, on_flavors in rules:
        d: dict[str, Any] = {"name": name}
        if on_flavors:
            d["onFlavors"] = on_flavors
        cfg = section.provisioning_config(name)
        if cfg is not None:
            c = cfg.spec
            d["controllerName"] = PROVISIONING_CONTROLLER
            d["provisioningRequestConfig"] = cfg.name
            d["provisioningClassName"] = c.provisioning_class_name
            if c.parameters:
                d["parameters"] = dict(sorted(c.parameters.items()))
            if c.managed_resources:
                d["managedResources"] = list(c.managed_resources)
            d["retryStrategy"] = {"backoffLimitCount": c.retry_strategy.backoff_limit_count,
                                  "backoffBaseSeconds": c.retry_strategy.backoff_base_seconds,
                                  "backoffMaxSeconds": c.retry_strategy.backoff_max_seconds}
        out.append(d)
    return out


def _terms(affinity: dict[str, Any] | None) -> tuple[dict[str, Any], ...]:
    if not affinity:
        return ()
    req = (affinity.get("nodeAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    return tuple(req.get("nodeSelectorTerms") or ())

