"""What the run's ProvisioningRequests (``autoscaling.x-k8s.io/v1``) came to, for ``summary.json``.

:class:`ProvisioningSummary` watches the ProvisioningRequests the way a metrics exporter watches the
API: it counts requests created, Provisioned (``Provisioned=True``), Failed and BookingExpired, and
times each request from creation to ``Provisioned=True``. It also remembers the workloads (Kueue
Workload keys, the pods' ``group``) that a ProvisioningRequest scale-up was made for: their pods
needed a scale-up, so the autoscaler counts them in ``scaleUpWaitSeconds``. The numbers are those
``validator.autoscaling_summary`` reads back from the timeline.
"""

from __future__ import annotations

import math
from typing import Any

from sim.autoscaler.provreq import BOOKING_EXPIRED, FAILED, PROVISIONED, ProvisioningRequest, ProvisioningRequests


class ProvisioningSummary:
    """Counts and creation → Provisioned times of ProvisioningRequests; workloads scaled up for."""

    def __init__(self, api: ProvisioningRequests) -> None:
        self.created = 0
        #: request key -> seconds from creation to Provisioned=True
        self.provisioned: dict[str, float] = {}
        self.failed: set[str] = set()
        self.expired: set[str] = set()
        #: workload keys (the pods' ``group``) a ProvisioningRequest scale-up was made for
        self.scaled_for: set[str] = set()
        #: pods already counted in ``scaleUpWaitSeconds`` through a scaled-up request
        self.counted: set[int] = set()
        api.watch(create=self._created, update=self._updated)

    def _created(self, pr: ProvisioningRequest) -> None:
        self.created += 1

    def _updated(self, pr: ProvisioningRequest) -> None:
        cond = pr.conditions.get(PROVISIONED)
        if cond is not None and cond.status == "True" and pr.key not in self.provisioned:
            self.provisioned[pr.key] = cond.at - pr.created
        if pr.true(FAILED):
            self.failed.add(pr.key)
        if pr.true(BOOKING_EXPIRED):
            self.expired.add(pr.key)

    def scaled_up(self, group: str | None) -> None:
        """A scale-up was made for a ProvisioningRequest of workload ``group``."""
        if group is not None:
            self.scaled_for.add(group)

    def needed_scale_up(self, pod: Any) -> bool:
        """True once per pod whose workload a ProvisioningRequest scale-up was made for (at its first bind)."""
        if not self.scaled_for or pod.instance.group not in self.scaled_for or pod.seq in self.counted:
            return False
        self.counted.add(pod.seq)
        return True

    def section(self) -> dict[str, Any]:
        """``summary.json``'s ``autoscaling.provisioningRequests``."""
        times = sorted(t for _, t in sorted(self.provisioned.items()))

        def rank(q: float) -> float | None:  # nearest rank
            return times[max(0, math.ceil(q * len(times)) - 1)] if times else None

        return {"created": self.created, "provisioned": len(self.provisioned), "failed": len(self.failed),
                "bookingExpired": len(self.expired),
                "timeToProvisionedSeconds": {"count": len(times), "p50": rank(0.5), "p95": rank(0.95),
                                             "max": times[-1] if times else None}}
