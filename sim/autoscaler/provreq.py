"""``ProvisioningRequest`` (``autoscaling.x-k8s.io/v1``): capacity for a set of pods, asked for as one.

A ProvisioningRequest names a ``provisioningClassName`` and pod sets (``podSets[]{podTemplateRef,
count}``); the cluster autoscaler answers in its status conditions (``apis/provisioningrequest/
autoscaling.x-k8s.io/v1/types.go``): ``Accepted``, ``Provisioned`` (True: the capacity is there or has
been requested; False with reason ``CapacityIsNotFound``: the autoscaler will try again), ``Failed``,
``BookingExpired`` and ``CapacityRevoked``. Kueue's ProvisioningRequest admission check creates one per
workload and attempt, named ``<workload>-<check>-<attempt>``, and reads the conditions back.

Here the objects live in :class:`ProvisioningRequests`, the API server's slice of them: the creator
(Kueue) and the processor (the cluster autoscaler) both hold it; every create, condition change and
delete is delivered synchronously to the watchers, in the order the watchers registered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ACCEPTED = "Accepted"
PROVISIONED = "Provisioned"
FAILED = "Failed"
BOOKING_EXPIRED = "BookingExpired"


@dataclass(frozen=True, slots=True)
class ProvReqPodSet:
    """One pod set: ``count`` pods of one template (requests in milli-units, placement constraints in
    Kubernetes shape, the flavors' nodeLabels and tolerations already merged in as Kueue does)."""

    name: str
    count: int
    requests: dict[str, int]
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[dict[str, Any], ...] = ()
    affinity: dict[str, Any] | None = None


@dataclass(slots=True)
class Condition:
    status: str
    reason: str
    message: str
    at: float


@dataclass(slots=True)
class ProvisioningRequest:
    namespace: str
    name: str
    class_name: str
    pod_sets: list[ProvReqPodSet]
    created: float
    #: ``namespace/name`` of the Kueue Workload that owns it (its pods consume it)
    owner: str
    check: str
    attempt: int
    parameters: dict[str, str] = field(default_factory=dict)
    conditions: dict[str, Condition] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def pods(self) -> int:
        return sum(ps.count for ps in self.pod_sets)

    def true(self, type_: str) -> bool:
        c = self.conditions.get(type_)
        return c is not None and c.status == "True"

    def message(self, type_: str) -> str:
        c = self.conditions.get(type_)
        return c.message if c is not None else ""


Watcher = Callable[[ProvisioningRequest], None]


class ProvisioningRequests:
    """The ProvisioningRequests of a run, keyed ``namespace/name``, with create/update/delete watches."""

    def __init__(self) -> None:
        self.items: dict[str, ProvisioningRequest] = {}
        self._on_create: list[Watcher] = []
        self._on_update: list[Watcher] = []
        self._on_delete: list[Watcher] = []

    def watch(self, *, create: Watcher | None = None, update: Watcher | None = None,
              delete: Watcher | None = None) -> None:
        for fn, lst in ((create, self._on_create), (update, self._on_update), (delete, self._on_delete)):
            if fn is not None:
                lst.append(fn)

    def create(self, pr: ProvisioningRequest) -> None:
        if pr.key in self.items:
            raise ValueError(f"ProvisioningRequest {pr.key} already exists")
        self.items[pr.key] = pr
        for fn in self._on_create:
            fn(pr)

    def set_condition(self, pr: ProvisioningRequest, type_: str, status: str, reason: str, message: str,
                      now: float) -> None:
        """Add or replace one condition and tell the watchers (a no-op when nothing changes)."""
        old = pr.conditions.get(type_)
        if old is not None and (old.status, old.reason, old.message) == (status, reason, message):
            return
        pr.conditions[type_] = Condition(status, reason, message, now)
        for fn in self._on_update:
            fn(pr)

    def delete(self, key: str) -> None:
        pr = self.items.pop(key, None)
        if pr is not None:
            for fn in self._on_delete:
                fn(pr)

    def pending(self) -> list[ProvisioningRequest]:
        """Requests the autoscaler still has to answer (neither Provisioned, Failed nor BookingExpired), in
        creation order."""
        out = [pr for pr in self.items.values()
               if not (pr.true(PROVISIONED) or pr.true(FAILED) or pr.true(BOOKING_EXPIRED))]
        return sorted(out, key=lambda pr: (pr.created, pr.key))
