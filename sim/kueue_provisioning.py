"""Kueue's ProvisioningRequest admission check controller (``pkg/controller/admissionchecks/provisioning``).

For each workload that reserves quota in a ClusterQueue with a ``kueue.x-k8s.io/provisioning-request``
AdmissionCheck, the controller keeps one ProvisioningRequest per check, named
``<workload>-<check>-<attempt>``, with the class and parameters of the check's ProvisioningRequestConfig
and one pod set per workload pod set that uses a ``managedResources`` resource (all of them when the list
is empty; none: no request is needed and the check is Ready at once). The pod sets carry the assigned
flavors' nodeLabels and tolerations, as the PodTemplates Kueue writes do.

It maps the request's conditions onto the check's state, as ``syncCheckStates`` does:

* ``Provisioned=True`` → ``Ready`` (the workload is admitted when every check is Ready);
* ``Failed=True``, or ``BookingExpired=True`` before the workload was admitted → ``Retry`` while the
  attempt number is at most ``retryStrategy.backoffLimitCount`` (the workload is evicted and requeued
  after its backoff; its next reservation creates the next attempt), else ``Rejected`` (the workload is
  deactivated);
* anything else (``Accepted``, ``Provisioned=False``) → stays ``Pending``.

On a new reservation a request that is still Provisioned (and neither failed nor expired) is reused: the
check is Ready at once; one still being answered is waited on. The requests are deleted with the
workload when it finishes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from models.kueue import KueueSection, ProvisioningRequestConfig
from models.quantity import format_resources
from sim.autoscaler.provreq import (
    BOOKING_EXPIRED,
    FAILED,
    PROVISIONED,
    ProvisioningRequest,
    ProvisioningRequests,
    ProvReqPodSet,
)
from sim.host import ControllerHost
from sim.kueue import Admission
from sim.workloads import Instance

NO_REQUEST_NEEDED = "The workload does not require a provisioning request"


class KueueWorkload(Protocol):
    """What the check controller reads and writes of :class:`sim.kueue_controller.KueueWorkload`."""

    inst: Instance
    adm: Admission | None
    admitted: bool
    reserved: bool
    checks: dict[str, str]
    provreqs: dict[str, ProvisioningRequest]


class Kueue(Protocol):
    """What the check controller uses of :class:`sim.kueue_controller.KueueController`."""

    section: KueueSection

    @property
    def host(self) -> ControllerHost: ...

    @property
    def workloads(self) -> Mapping[str, KueueWorkload]: ...

    def set_check_state(self, wl: Any, check: str, to: str, message: str,
                        pr: ProvisioningRequest | None = None) -> None: ...

    def maybe_admit(self, wl: Any) -> None: ...

    def retry(self, wl: Any, backoff_base: float, backoff_max: float) -> None: ...

    def reject(self, wl: Any, message: str) -> None: ...


class ProvisioningCheckController:
    """Creates the ProvisioningRequests of Kueue workloads and turns their conditions into check states."""

    def __init__(self, kueue: Kueue, api: ProvisioningRequests) -> None:
        self.kueue = kueue
        self.api = api
        self.cq_specs = {cq.name: cq.spec for cq in kueue.section.cluster_queues}
        api.watch(update=self._updated)

    def checks_for(self, adm: Admission) -> list[str]:
        """The admission checks a reservation must pass: its ClusterQueue's, for the assigned flavors."""
        spec = self.cq_specs.get(adm.cluster_queue)
        if spec is None:
            return []
        flavors = {f for per_resource in adm.flavors.values() for f in per_resource.values()}
        return spec.checks_for(flavors)

    def config(self, check: str) -> ProvisioningRequestConfig:
        cfg = self.kueue.section.provisioning_config(check)
        assert cfg is not None, f"admission check {check} has no ProvisioningRequestConfig (the build checks it)"
        return cfg

    def pod_sets(self, wl: KueueWorkload, cfg: ProvisioningRequestConfig) -> list[ProvReqPodSet]:
        adm = wl.adm
        assert adm is not None
        managed = set(cfg.spec.managed_resources)
        out = []
        for ps in wl.inst.generator.pod_sets:
            if managed and not managed & set(ps.requests):
                continue
            name = ps.name or "main"
            tolerations = list(ps.tolerations) + [t for t in adm.tolerations.get(name, [])
                                                  if t not in ps.tolerations]
            out.append(ProvReqPodSet(name, ps.replicas, dict(ps.requests),
                                     {**ps.node_selector, **adm.node_selector.get(name, {})}, tuple(tolerations),
                                     dict(ps.affinity) if ps.affinity else None))
        return out

    # ------------------------------------------------------------------ reservation and finish

    def sync(self, wl: KueueWorkload, check: str) -> None:
        """On a new quota reservation: reuse a still-Provisioned request, wait on one being answered, or
        create the next attempt."""
        cfg = self.config(check)
        pod_sets = self.pod_sets(wl, cfg)
        if not pod_sets:
            self.kueue.set_check_state(wl, check, "Ready", NO_REQUEST_NEEDED)
            return
        last = wl.provreqs.get(check)
        if last is not None and last.key in self.api.items and not (last.true(FAILED) or last.true(BOOKING_EXPIRED)):
            if last.true(PROVISIONED):
                self.kueue.set_check_state(wl, check, "Ready", last.message(PROVISIONED), last)
            return
        self._create(wl, check, cfg, pod_sets, last.attempt + 1 if last is not None else 1)

    def _create(self, wl: KueueWorkload, check: str, cfg: ProvisioningRequestConfig, pod_sets: list[ProvReqPodSet],
                attempt: int) -> None:
        inst = wl.inst
        host = self.kueue.host
        name = f"{inst.name}-{check}-{attempt}"
        pr = ProvisioningRequest(inst.namespace, name, cfg.spec.provisioning_class_name, pod_sets, host.now,
                                 inst.key, check, attempt, dict(cfg.spec.parameters))
        wl.provreqs[check] = pr
        data: dict[str, Any] = {"workload": inst.name, "admissionCheck": check,
                                "provisioningClassName": pr.class_name, "attempt": attempt}
        if pr.parameters:
            data["parameters"] = dict(sorted(pr.parameters.items()))
        sets = []
        for ps in pod_sets:
            d: dict[str, Any] = {"name": ps.name, "count": ps.count, "requests": format_resources(ps.requests)}
            if ps.node_selector:
                d["nodeSelector"] = dict(sorted(ps.node_selector.items()))
            if ps.tolerations:
                d["tolerations"] = list(ps.tolerations)
            if ps.affinity:
                d["affinity"] = ps.affinity
            sets.append(d)
        data["podSets"] = sets
        host.emit("ProvisioningRequestCreated", "ProvisioningRequest", name, inst.namespace, group=inst.key,
                  reason=f'Created ProvisioningRequest: "{name}"', data=data)
        self.api.create(pr)

    def finished(self, wl: KueueWorkload) -> None:
        """The workload finished: its requests go with it (owner references)."""
        for pr in wl.provreqs.values():
            self.api.delete(pr.key)

    # ------------------------------------------------------------------ conditions -> check states

    def _updated(self, pr: ProvisioningRequest) -> None:
        wl = self.kueue.workloads.get(pr.owner)
        if wl is None or not wl.reserved or wl.provreqs.get(pr.check) is not pr or wl.checks.get(pr.check) != "Pending":
            return
        retry = self.config(pr.check).spec.retry_strategy
        expired = pr.true(BOOKING_EXPIRED) and not wl.admitted
        if pr.true(FAILED) or expired:
            message = pr.message(FAILED) if pr.true(FAILED) else pr.message(BOOKING_EXPIRED)
            if pr.attempt <= retry.backoff_limit_count:
                what = "failure" if pr.true(FAILED) else "booking expired"
                self.kueue.set_check_state(wl, pr.check, "Retry", f"Retrying after {what}: {message}", pr)
                self.kueue.retry(wl, retry.backoff_base_seconds, retry.backoff_max_seconds)
            else:
                self.kueue.set_check_state(wl, pr.check, "Rejected", message, pr)
                self.kueue.reject(wl, f"The workload is deactivated: admission check {pr.check} is Rejected: "
                                      f"{message}")
        elif pr.true(PROVISIONED):
            self.kueue.set_check_state(wl, pr.check, "Ready", pr.message(PROVISIONED), pr)
            self.kueue.maybe_admit(wl)
