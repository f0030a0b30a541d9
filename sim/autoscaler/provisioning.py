"""cluster-autoscaler's ProvisioningRequest classes and its capacity booking
(``provisioningrequest/checkcapacity``, ``provisioningrequest/besteffortatomic``, ``processors/provreq``).

Each loop, before the scale-up of ordinary pending pods, the autoscaler answers the ProvisioningRequests
it has not answered yet, oldest first, each against the cluster as the earlier answers left it:

* ``check-capacity.autoscaling.x-k8s.io`` — do all the request's pods fit on the Ready nodes now (free
  capacity minus what other requests booked)? Yes: ``Provisioned=True`` (``CapacityIsFound``) and the
  capacity is *booked*. No: ``Provisioned=False`` (``CapacityIsNotFound``, tried again later), or
  ``Failed=True`` when the request's parameter ``noRetry`` is ``"true"``.
* ``best-effort-atomic-scale-up.autoscaling.x-k8s.io`` — the pods that fit on Ready nodes are booked
  there; the rest must fit on new nodes of *one* node group within its maximum, all of them, or none
  is added: the expander picks among the groups that can take the whole rest, the group grows by
  that many nodes at once (``TriggeredScaleUp`` on the request) and the request is ``Provisioned=True``
  at once — upstream's "best effort": it does not wait for the nodes to register. When no group can
  take them all: ``Provisioned=False`` (``CapacityIsNotFound``) and nothing grows.

A request answered ``CapacityIsNotFound`` is tried again after 1 minute, doubling to at most 10 minutes
(``--provisioning-request-initial-backoff-time`` / ``--provisioning-request-max-backoff-time``); one not
provisioned within 7 days gets ``Failed=True`` (``Expired``).

**Booking.** A Provisioned request's pods are held on the nodes they were fitted to (Ready nodes, or the
new nodes of its scale-up by name) until they bind there or the booking expires 10 minutes after
``Provisioned`` (``BookingExpired=True`` when pods are still missing). While booked, that capacity is
taken for every other answer the autoscaler gives: other requests' fits, ordinary pods' "fits on an
upcoming node" and "fits on a changed node" tests, and scale-down (a node with bookings is needed). Pods
that consume a request (Kueue's ``autoscaling.x-k8s.io/consume-provisioning-request`` annotation; here:
the pods of the owning workload) are never scaled up for as ordinary pending pods. kube-scheduler itself
knows nothing of bookings, as upstream.
"""

from __future__ import annotations

import random
from typing import Any, Protocol

from models.kueue import BEST_EFFORT_ATOMIC, CHECK_CAPACITY
from sim.autoscaler.estimator import Req, fit_count, take
from sim.autoscaler.expander import Option, choose
from sim.autoscaler.provreq import (
    ACCEPTED,
    BOOKING_EXPIRED,
    FAILED,
    PROVISIONED,
    ProvisioningRequest,
    ProvisioningRequests,
    ProvReqPodSet,
)
from sim.autoscaler.settings import AutoscalerSettings
from sim.cluster import ClusterState, Pool
from sim.constraints import node_reason
from sim.host import ControllerHost

#: checkcapacity/processor.go: defaultReservationTime, defaultExpirationTime
BOOKING_SECONDS = 600.0
EXPIRY_SECONDS = 7 * 24 * 3600.0
#: --provisioning-request-initial-backoff-time / --provisioning-request-max-backoff-time
RETRY_INITIAL = 60.0
RETRY_MAX = 600.0
FOUND = "Capacity is found in the cluster"
NOT_FOUND = "Capacity is not found, CA will try to find it later."
NO_RETRY_FAILED = "CA could not find requested capacity"
EXPIRED = "ProvisioningRequest is expired"
BOOKING_EXPIRED_MSG = "Capacity reservation time is expired"


class Booking:
    """Capacity held for a Provisioned request: per node name, the pod requests still to arrive."""

    __slots__ = ("nodes", "owner", "pr", "since")

    def __init__(self, pr: ProvisioningRequest, since: float) -> None:
        self.pr = pr
        self.owner = pr.owner
        self.since = since
        #: node name -> [req, count] entries
        self.nodes: dict[str, list[list[Any]]] = {}

    def add(self, node: str, req: Req, count: int) -> None:
        for entry in self.nodes.setdefault(node, []):
            if entry[0] == req:
                entry[1] += count
                return
        self.nodes[node].append([req, count])

    def consume(self, node: str, req: Req) -> None:
        """A pod of the request bound on ``node``: drop one booked pod (on that node if it was booked
        there, else one of the same requests elsewhere, else any)."""
        order = [node, *sorted(n for n in self.nodes if n != node)]
        for exact in (True, False):
            for name in order:
                for entry in self.nodes.get(name, ()):
                    if entry[1] > 0 and (entry[0] == req or not exact):
                        entry[1] -= 1
                        if entry[1] == 0:
                            self.nodes[name].remove(entry)
                            if not self.nodes[name]:
                                del self.nodes[name]
                        return

    @property
    def missing(self) -> int:
        return sum(e[1] for entries in self.nodes.values() for e in entries)


class Autoscaler(Protocol):
    """What the processor uses of :class:`sim.autoscaler.controller.ClusterAutoscaler`."""

    s: AutoscalerSettings
    dirty: bool
    rng: random.Random
    backoff_until: dict[str, float]

    @property
    def host(self) -> ControllerHost: ...

    def keep_alive(self) -> None: ...

    def target(self, pool: Pool) -> int: ...

    def scale_up_for(self, pool: Pool, nodes: int, now: float, kind: str, name: str, namespace: str | None,
                     group: str | None) -> list[str]: ...


class ProvisioningRequestProcessor:
    """The autoscaler's side of ProvisioningRequests: answers, scale-ups for them and bookings."""

    def __init__(self, ca: Autoscaler, api: ProvisioningRequests) -> None:
        self.ca = ca
        self.api = api
        self.bookings: dict[str, Booking] = {}
        #: request key -> (failed answers so far, not before)
        self.retry: dict[str, tuple[int, float]] = {}
        #: workload keys whose pods consume a request
        self.consumers: dict[str, str] = {}
        api.watch(create=self._created, delete=self._deleted)

    # ------------------------------------------------------------------ watches

    def _created(self, pr: ProvisioningRequest) -> None:
        self.consumers[pr.owner] = pr.key
        self.ca.dirty = True
        self.ca.keep_alive()

    def _deleted(self, pr: ProvisioningRequest) -> None:
        if self.bookings.pop(pr.key, None) is not None:
            self.ca.dirty = True
        self.retry.pop(pr.key, None)
        if self.consumers.get(pr.owner) == pr.key:
            del self.consumers[pr.owner]

    def consumes(self, pod: Any) -> bool:
        """Whether the pod consumes a ProvisioningRequest (the autoscaler leaves it to that request)."""
        return bool(self.consumers) and pod.instance.key in self.consumers

    def bound(self, pod: Any, node_name: str) -> None:
        key = self.consumers.get(pod.instance.key)
        booking = self.bookings.get(key) if key is not None else None
        if booking is None:
            return
        booking.consume(node_name, pod.shape.req)
        if booking.missing == 0:
            del self.bookings[booking.pr.key]

    # ------------------------------------------------------------------ what bookings hold

    def booked_on(self, node_name: str) -> list[int] | None:
        """The summed requests booked on a node (a vector over the cluster's resources), or None."""
        out: list[int] | None = None
        for b in self.bookings.values():
            for req, count in b.nodes.get(node_name, ()):
                if out is None:
                    out = [0] * len(self.ca.host.cluster.resources)
                for r, q in req:
                    out[r] += q * count
        return out

    def booked_nodes(self) -> set[str]:
        return {name for b in self.bookings.values() for name in b.nodes}

    def free_of(self, cluster: ClusterState, i: int) -> list[int]:
        """Node ``i``'s free capacity minus what is booked on it."""
        free = list(cluster.pyfree[i])
        booked = self.booked_on(cluster.nodes[i].name) if self.bookings else None
        if booked is not None:
            free = [f - b for f, b in zip(free, booked, strict=True)]
        return free

    # ------------------------------------------------------------------ the loop

    def process(self, now: float) -> bool:
        """Expire bookings and requests, then answer the pending requests. True if a group grew."""
        self._expire(now)
        grew = False
        for pr in self.api.pending():
            if pr.class_name not in (CHECK_CAPACITY, BEST_EFFORT_ATOMIC) or pr.key not in self.api.items:
                continue
            _, not_before = self.retry.get(pr.key, (0, float("-inf")))
            if now < not_before:
                continue
            if not pr.true(ACCEPTED):
                self.api.set_condition(pr, ACCEPTED, "True", "Accepted",
                                       "ProvisioningRequest is accepted by ClusterAutoscaler", now)
            grew = self._answer(pr, now) or grew
        if any(pr.key in self.retry for pr in self.api.pending()):
            self.ca.keep_alive()
        return grew

    def _expire(self, now: float) -> None:
        for key in sorted(self.bookings):
            b = self.bookings[key]
            if now - b.since > BOOKING_SECONDS:
                del self.bookings[key]
                self.ca.dirty = True
                pr = b.pr
                if key in self.api.items and not pr.true(BOOKING_EXPIRED):
                    self.api.set_condition(pr, BOOKING_EXPIRED, "True", "CapacityReservationTimeExpired",
                                           BOOKING_EXPIRED_MSG, now)
                    self.ca.host.emit("BookingExpired", "ProvisioningRequest", pr.name, pr.namespace, group=pr.owner,
                                      reason="CapacityReservationTimeExpired",
                                      data={"provisioningClassName": pr.class_name, "message": BOOKING_EXPIRED_MSG,
                                            "missing": b.missing})
        for pr in self.api.pending():
            if now - pr.created > EXPIRY_SECONDS:
                self._fail(pr, "Expired", EXPIRED, now)

    def _fail(self, pr: ProvisioningRequest, reason: str, message: str, now: float) -> None:
        self.retry.pop(pr.key, None)
        self.ca.host.emit("ProvisioningFailed", "ProvisioningRequest", pr.name, pr.namespace, group=pr.owner,
                          reason=reason, data={"provisioningClassName": pr.class_name, "message": message})
        self.api.set_condition(pr, FAILED, "True", reason, message, now)

    def _not_found(self, pr: ProvisioningRequest, now: float, why: dict[str, str]) -> None:
        if pr.parameters.get("noRetry") == "true" and pr.class_name == CHECK_CAPACITY:
            self._fail(pr, "CapacityIsNotFound", NO_RETRY_FAILED, now)
            return
        n, _ = self.retry.get(pr.key, (0, 0.0))
        delay = min(RETRY_INITIAL * 2 ** n, RETRY_MAX)
        self.retry[pr.key] = (n + 1, now + delay)
        data: dict[str, Any] = {"provisioningClassName": pr.class_name, "message": NOT_FOUND,
                                "retryAt": now + delay}
        if why:
            data["nodeGroups"] = dict(sorted(why.items()))
        self.ca.host.emit("NotProvisioned", "ProvisioningRequest", pr.name, pr.namespace, group=pr.owner,
                          reason="CapacityIsNotFound", data=data)
        self.api.set_condition(pr, PROVISIONED, "False", "CapacityIsNotFound", NOT_FOUND, now)

    def _provisioned(self, pr: ProvisioningRequest, booking: Booking, now: float) -> None:
        self.retry.pop(pr.key, None)
        if booking.missing:
            self.bookings[pr.key] = booking
            self.ca.dirty = True
        self.ca.host.emit("Provisioned", "ProvisioningRequest", pr.name, pr.namespace, group=pr.owner,
                          reason="CapacityIsFound",
                          data={"provisioningClassName": pr.class_name, "message": FOUND,
                                "nodes": sorted(booking.nodes)})
        self.api.set_condition(pr, PROVISIONED, "True", "CapacityIsFound", FOUND, now)

    # ------------------------------------------------------------------ one request

    def _reqs(self, cluster: ClusterState, pr: ProvisioningRequest) -> list[tuple[ProvReqPodSet, Req]]:
        out = []
        for ps in pr.pod_sets:
            req = {cluster.ridx[r]: q for r, q in ps.requests.items() if r in cluster.ridx and q > 0}
            if "pods" in cluster.ridx:
                req[cluster.ridx["pods"]] = 1000
            out.append((ps, tuple(sorted(req.items()))))
        return out

    def _answer(self, pr: ProvisioningRequest, now: float) -> bool:
        cluster = self.ca.host.cluster
        reqs = self._reqs(cluster, pr)
        booking = Booking(pr, now)
        left = self._fit_ready(cluster, reqs, booking)
        if not left:
            self._provisioned(pr, booking, now)
            return False
        if pr.class_name == CHECK_CAPACITY:
            self._not_found(pr, now, {})
            return False
        return self._scale_up(pr, left, booking, now)

    def _fit_ready(self, cluster: ClusterState, reqs: list[tuple[ProvReqPodSet, Req]],
                   booking: Booking) -> list[tuple[ProvReqPodSet, Req, int]]:
        """First-fit the pods on Ready, schedulable nodes that pass their taints and affinity, net of
        bookings; fitted pods go into ``booking``. Returns the pods that did not fit, per pod set."""
        free: dict[int, list[int]] = {}
        left = []
        for ps, req in reqs:
            count = ps.count
            for node in cluster.nodes:
                if count == 0:
                    break
                i = node.idx
                if not node.ready or i in cluster.cordoned or node_reason(
                        ps.tolerations, ps.node_selector, ps.affinity, node.labels, node.pool.taints, node.name):
                    continue
                f = free.get(i)
                if f is None:
                    f = free[i] = self.free_of(cluster, i)
                k = min(count, fit_count(f, req))
                if k > 0:
                    take(f, req, k)
                    booking.add(node.name, req, k)
                    count -= k
            if count:
                left.append((ps, req, count))
        return left

    def _scale_up(self, pr: ProvisioningRequest, left: list[tuple[ProvReqPodSet, Req, int]], booking: Booking,
                  now: float) -> bool:
        ca = self.ca
        cluster = ca.host.cluster
        options: list[Option] = []
        plans: dict[str, list[dict[Req, int]]] = {}
        why: dict[str, str] = {}
        for name in sorted(ca.s.groups):
            pool = cluster.pools[name]
            room = ca.s.groups[name].max_count - ca.target(pool)
            if ca.backoff_until.get(name, -1.0) > now:
                why[name] = "in backoff after failed scale-up"
                continue
            plan, reason = self._plan(cluster, pool, left, room)
            if plan is None:
                why[name] = reason
                continue
            alloc = cluster.alloc_vector(pool)
            requested = [0] * len(cluster.resources)
            for per_node in plan:
                for req, k in per_node.items():
                    for r, q in req:
                        requested[r] += q * k
            pods = sum(k for _, _, k in left)
            options.append(Option(name, len(plan), list(range(pods)), requested, alloc, pool.price))
            plans[name] = plan
        if not options:
            self._not_found(pr, now, why)
            return False
        best = choose(options, ca.s.expander, cluster.resources, ca.s.priorities, ca.rng)
        pool = cluster.pools[best.pool]
        names = ca.scale_up_for(pool, best.nodes, now, "ProvisioningRequest", pr.name, pr.namespace, pr.owner)
        for node_name, per_node in zip(names, plans[best.pool], strict=True):
            for req, k in per_node.items():
                booking.add(node_name, req, k)
        self._provisioned(pr, booking, now)
        return True

    @staticmethod
    def _plan(cluster: ClusterState, pool: Pool, left: list[tuple[ProvReqPodSet, Req, int]],
              room: int) -> tuple[list[dict[Req, int]] | None, str]:
        """New nodes of ``pool`` (at most ``room``) that hold every pod in ``left``, as per-node pod
        counts; or None and why not."""
        alloc = cluster.alloc_vector(pool)
        labels = {**pool.labels, "kubernetes.io/hostname": f"template-node-for-{pool.name}"}
        nodes: list[list[int]] = []
        plan: list[dict[Req, int]] = []
        for ps, req, count in left:
            reason = node_reason(ps.tolerations, ps.node_selector, ps.affinity, labels, pool.taints,
                                 labels["kubernetes.io/hostname"])
            if reason is not None:
                return None, reason
            short = [cluster.resources[r] for r, q in req if alloc[r] < q]
            if short:
                return None, f"Insufficient {short[0]}"
            for free, per_node in zip(nodes, plan, strict=True):
                k = min(count, fit_count(free, req))
                if k > 0:
                    take(free, req, k)
                    per_node[req] = per_node.get(req, 0) + k
                    count -= k
            while count > 0:
                if len(nodes) >= room:
                    return None, "max node group size reached"
                free = list(alloc)
                k = min(count, fit_count(free, req))
                take(free, req, k)
                nodes.append(free)
                plan.append({req: k})
                count -= k
        return plan, ""
