"""kube-scheduler's ``DynamicResources`` plugin (``pkg/scheduler/framework/plugins/dynamicresources``).

PreFilter: a pod without claims (and without extended resources served by a DeviceClass) is
skipped; a claim that does not exist makes the pod unschedulable with the API's "not found" text.
Filter: claims already allocated must be usable on the node ("resourceclaim not available on the
node"); the others are allocated in memory by :class:`~sim.dra.allocator.Allocator` against the
node's devices — no solution gives kube-scheduler's ``cannot allocate all claims``. Reserve marks the
devices, capacity and counters in use at once (the in-flight map); Unreserve gives them back; PreBind
writes the allocations and ``reservedFor`` (``ClaimAllocated`` events, collected in
:attr:`DynamicResources.events` for the engine to write).

``DeviceClass.spec.extendedResourceName`` (and the implicit ``deviceclass.resource.kubernetes.io/
<class>``): a pod asking for e.g. ``nvidia.com/gpu: 2`` in its container requests gets a claim made by
the scheduler, ``<pod>-extended-resources``, with one ExactCount request per such resource.

Verdicts read device state, so ``depends = {"state"}`` and :meth:`state_version` changes with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from models.dra import IMPLICIT_EXTENDED_PREFIX, DeviceClaim, DeviceClass, ResourceSlice, capacity_key
from models.quantity import Quantity
from sim.dra.allocator import (
    CANNOT_ALLOCATE,
    AllocationError,
    Allocator,
    ClaimToAllocate,
    DeviceResult,
    Inventory,
    Usage,
)
from sim.dra.claims import ClaimController, ClaimEvent
from sim.framework import SKIP, CycleState, Skip, register

#: Filter text for a claim allocated for another node
NOT_AVAILABLE = "resourceclaim not available on the node"
#: PreFilter text for a claim reserved for the maximum number of consumers
IN_USE = "resourceclaim in use"
_KEY = "DynamicResources"
_SIGNATURE = "DynamicResources/signature"


def _signature(to_alloc: list[ClaimToAllocate]) -> tuple[Any, ...]:
    """What an allocation attempt depends on besides the node: the claims' specs (template claims share
    their template's spec object; the scheduler's extended-resource claims one object per request shape)."""
    if len(to_alloc) == 1:
        return (id(to_alloc[0].spec),)  # the common case
    return tuple(id(c.spec) for c in to_alloc)


class DynamicResources:
    name = "DynamicResources"
    depends = frozenset({"state"})

    def __init__(self, classes: Iterable[DeviceClass], controller: ClaimController,
                 node_names: Mapping[int, str] | None = None) -> None:
        self.classes = {c.metadata.name: c for c in classes}
        self.extended: dict[str, str] = {}
        for c in self.classes.values():
            self.extended[f"{IMPLICIT_EXTENDED_PREFIX}{c.metadata.name}"] = c.metadata.name
            if c.spec.extendedResourceName:
                self.extended[c.spec.extendedResourceName] = c.metadata.name
        self.controller = controller
        self.allocator = Allocator()
        self._steering: Allocator | None = None  # trial allocator for allocate_preferring
        self.inventories: dict[int, Inventory] = {}
        self.usage: dict[int, Usage] = {}
        self.node_names: dict[int, str] = dict(node_names or {})
        self.node_index: dict[str, int] = {v: k for k, v in self.node_names.items()}
        self.extended_requests: dict[int, dict[str, int]] = {}
        #: the request name of each extended resource in the pod's scheduler-made claim
        self._ext_names: dict[int, dict[str, str]] = {}
        self._reserved: dict[int, tuple[int, dict[str, list[DeviceResult]]]] = {}
        self._extended_held: dict[int, tuple[int, list[DeviceResult]]] = {}
        #: claims allocated at Reserve but not yet written at PreBind (kube-scheduler's in-flight map):
        #: another pod sharing such a claim must use the same devices on the same node
        self._inflight: dict[str, tuple[int, list[DeviceResult]]] = {}
        #: the scheduler's extended-resource claim spec per request shape ((resource, count, request), ...)
        self._ext_specs: dict[tuple[tuple[str, int, str], ...], DeviceClaim] = {}
        #: per node, bumped whenever its device usage changes; and the nodes where a request shape was last
        #: found unsatisfiable: (node, request signature) -> (node version, reason). Pods from one
        #: ResourceClaimTemplate share a signature, so a full node is tried once per change, not once per pod.
        self._node_version: dict[int, int] = {}
        self._by_signature: dict[tuple[Any, ...], dict[int, tuple[int, str]]] = {}
        #: the same per node as arrays, for the scheduler's vector pre-check: the node's version, and per
        #: request signature, per node: failed there and the node untouched since (cleared when a node is
        #: touched, set when marked failed), and every reason it has failed with
        self._versions = np.zeros(64, dtype=np.int64)
        self._misfit: dict[tuple[Any, ...], npt.NDArray[np.bool_]] = {}
        self._reasons: dict[tuple[Any, ...], set[str]] = {}
        self._version = 0
        #: ClaimAllocated events from PreBind, for the engine to write (and clear)
        self.events: list[ClaimEvent] = []

    # -- cluster side
    def node_ready(self, node: int, name: str, slices: Iterable[ResourceSlice]) -> list[dict[str, Any]]:
        """Register a node's devices; returns ``NodeReady.data.devices``."""
        inv = Inventory.from_slices(slices)
        self.register(node, name, inv)
        return devices_payload(inv)

    def register(self, node: int, name: str, inv: Inventory) -> None:
        """Register a node's devices, already gathered in an inventory."""
        old = self.inventories.get(node)
        if old is not None:
            self.allocator.forget(old)
        self.inventories[node] = inv
        self.usage[node] = Usage()
        self._touch(node)
        self.node_names[node] = name
        self.node_index[name] = node
        self._version += 1

    def node_counters(self, node: int) -> list[dict[str, Any]]:
        """``NodeReady.data.sharedCounters`` for a registered node."""
        inv = self.inventories.get(node)
        return counters_payload(inv) if inv else []

    def node_removed(self, node: int) -> None:
        inv = self.inventories.pop(node, None)
        if inv is not None:
            self.allocator.forget(inv)
        self.usage.pop(node, None)
        self._version += 1

    def set_extended_requests(self, seq: int, requests: Mapping[str, int]) -> None:
        """The pod's container requests (every resource it requests; whole devices for the extended
        resources a DeviceClass serves). kube-scheduler names the request for such a resource
        ``container-<c>-request-<r>``: ``c`` the container's index (kubetwin's pod is one container), ``r``
        the resource's index among the container's requested resource names, sorted."""
        ext = {k: v for k, v in requests.items() if k in self.extended and v > 0}
        if ext:
            self.extended_requests[seq] = ext
            order = sorted(requests)
            self._ext_names[seq] = {k: f"container-0-request-{order.index(k)}" for k in ext}

    def serves(self, resource: str) -> bool:
        """Is ``resource`` an extended resource served by DRA (so NodeResourcesFit must not count it)?"""
        return resource in self.extended

    def _touch(self, node: int) -> None:
        self._node_version[node] = self._node_version.get(node, 0) + 1
        if node >= self._versions.size:
            self._versions = np.concatenate((self._versions, np.zeros(max(node + 1, self._versions.size),
                                                                      dtype=np.int64)))
        self._versions[node] += 1
        for mask in self._misfit.values():
            if node < mask.size:
                mask[node] = False

    def known_misfits(self, pod: Any, nodes: Any, state: CycleState) -> Any:
        """A mask over ``nodes`` (an index array): where the pod's requests are already known not to fit
        (the same requests failed there and the node's devices have not changed since). Exact: the
        scheduler skips those nodes without asking :meth:`filter` one by one; their reason is
        :data:`CANNOT_ALLOCATE`-like and kept in ``reasons``."""
        entry = state.get(_KEY)
        if entry is None or not entry[0] or entry[1]:
            return None
        signature = state.get(_SIGNATURE)
        if signature is None:
            signature = state[_SIGNATURE] = _signature(entry[0])
        misfit = self._misfit.get(signature)
        if misfit is None:
            return None
        try:
            return misfit[nodes]
        except IndexError:  # nodes without devices beyond the array
            pass
        inside = nodes < misfit.size
        mask = np.zeros(nodes.size, dtype=bool)
        mask[inside] = misfit[nodes[inside]]
        return mask

    def misfit_reasons(self, nodes: list[int], state: CycleState) -> dict[str, int]:
        """The reasons (with counts) the nodes :meth:`known_misfits` flagged failed with."""
        signature = state[_SIGNATURE]
        misfit = self._by_signature[signature]
        seen = self._reasons[signature]
        if len(seen) == 1:  # the common case: every failure said the same thing
            return {next(iter(seen)): len(nodes)}
        out: dict[str, int] = {}
        for node in nodes:
            reason = misfit[node][1]
            out[reason] = out.get(reason, 0) + 1
        return out

    def _mark_failed(self, signature: tuple[Any, ...], node: int, reason: str) -> None:
        self._reasons.setdefault(signature, set()).add(reason)
        misfit = self._misfit.get(signature)
        if misfit is None or misfit.size <= node:
            grown = np.zeros(max(self._versions.size, node + 1), dtype=bool)
            if misfit is not None:
                grown[:misfit.size] = misfit
            misfit = self._misfit[signature] = grown
        # a node beyond the version array was never touched: its version (0) matches nothing marked
        misfit[node] = node < self._versions.size

    def state_version(self) -> int:
        return self._version

    # -- extension points
    def pre_filter(self, pod: Any, state: CycleState) -> Skip | str | None:
        info = self.controller.pods.get(pod.seq)
        ext = self.extended_requests.get(pod.seq)
        if (info is None or (not info.claims and not info.missing)) and not ext:
            return SKIP
        if info is not None and info.missing:
            return info.missing[0]
        known = self.controller.claims
        to_alloc: list[ClaimToAllocate] = []
        nodes: set[str] = set()
        for _, key in info.claims if info is not None else ():
            c = known[key]
            if c.results is not None:
                if c.node is not None:
                    nodes.add(c.node)
                if len(c.reserved_for) >= 256 and pod.name not in c.reserved_for:
                    return IN_USE
            elif c.key in self._inflight:
                nodes.add(self.node_names.get(self._inflight[c.key][0], ""))
            elif not any(t.key == c.key for t in to_alloc):
                to_alloc.append(ClaimToAllocate(c.key, c.spec.devices))
        if ext:
            names = self._ext_names[pod.seq]
            shape = tuple(sorted((r, n, names[r]) for r, n in ext.items()))
            spec = self._ext_specs.get(shape)
            if spec is None:  # one spec object per request shape: equal shapes share a signature
                spec = self._ext_specs[shape] = DeviceClaim.model_validate({"requests": [
                    {"name": q, "exactly": {"deviceClassName": self.extended[r], "count": n}}
                    for r, n, q in shape]})
            to_alloc.append(ClaimToAllocate(f"{pod.namespace}/{pod.name}-extended-resources", spec))
        state[_KEY] = (to_alloc, nodes, {})
        return None

    def filter(self, pod: Any, node: int, state: CycleState) -> str | None:
        to_alloc, nodes, cache = state[_KEY]
        name = self.node_names.get(node)
        if nodes and (len(nodes) > 1 or name not in nodes):
            return NOT_AVAILABLE
        if not to_alloc:
            return None
        inv = self.inventories.get(node)
        if inv is None:
            return CANNOT_ALLOCATE
        signature = state.get(_SIGNATURE)
        if signature is None:
            signature = state[_SIGNATURE] = _signature(to_alloc)
        version = self._node_version.get(node, 0)
        misfit = self._by_signature.setdefault(signature, {})
        known = misfit.get(node)
        if known is not None and known[0] == version:
            return known[1]  # the same requests failed here and nothing on the node has changed since
        try:
            out = self.allocator.allocate(to_alloc, self.classes, inv, self.usage[node])
        except AllocationError as e:
            misfit[node] = (version, str(e))
            self._mark_failed(signature, node, str(e))
            return str(e)
        if out is None:
            misfit[node] = (version, CANNOT_ALLOCATE)
            self._mark_failed(signature, node, CANNOT_ALLOCATE)
            return CANNOT_ALLOCATE
        cache[node] = out
        return None

    def allocate_preferring(self, node: int, first: list[Any], state: CycleState) -> None:
        """Re-run the pod's allocation on ``node`` with the devices ``first`` (refs) first in device order.

        For a plugin that picks devices itself (GPU sharing policies) and runs at Reserve before this one:
        on success the cached Filter result for ``node`` is replaced; an aborted attempt keeps it."""
        entry = state.get(_KEY)
        if entry is None or not entry[0]:
            return
        to_alloc, _, cache = entry
        inv = self.inventories[node]
        wanted = set(first)
        by_ref = {d.ref: d for d in inv.devices}
        order = [by_ref[r] for r in first] + [d for d in inv.devices if d.ref not in wanted]
        view = Inventory(devices=order, counters=inv.counters, incomplete=inv.incomplete)
        if self._steering is None:
            self._steering = Allocator(self.allocator.evaluator, self.allocator.budget)
        try:
            out = self._steering.allocate(to_alloc, self.classes, view, self.usage[node])
        except AllocationError:
            out = None
        finally:
            self._steering.forget(view)
        if out is not None:
            cache[node] = out

    def reserve(self, pod: Any, node: int, state: CycleState) -> str | None:
        to_alloc, _, cache = state.get(_KEY, ([], set(), {}))
        out = cache.get(node)
        if out is None and to_alloc:
            reason = self.filter(pod, node, state)
            if reason is not None:
                return reason
            out = cache[node]
        out = out or {}
        if out and node in self.usage:
            self.usage[node].add((r for rs in out.values() for r in rs), self.inventories[node].by_ref())
            self._touch(node)
        self._reserved[pod.seq] = (node, out)
        for key, results in out.items():
            self._inflight[key] = (node, results)
        self._version += 1
        return None

    def unreserve(self, pod: Any, node: int, state: CycleState) -> None:
        held = self._reserved.pop(pod.seq, None)
        if held is None:
            return
        n, out = held
        for key in out:
            self._inflight.pop(key, None)
        # a shared claim another pod has since bound with keeps its devices
        claims = self.controller.claims
        out = {k: v for k, v in out.items() if not (k in claims and claims[k].allocated)}
        if out and n in self.usage:
            self.usage[n].remove((r for rs in out.values() for r in rs), self.inventories[n].by_ref())
            self._touch(n)
        self.controller.unreserved(pod.seq)
        self._version += 1

    def pre_bind(self, pod: Any, node: int, state: CycleState) -> None:
        held = self._reserved.pop(pod.seq, None)
        out = dict(held[1]) if held else {}
        name = self.node_names.get(node, str(node))
        if pod.seq in self.controller.pods:
            for c in self.controller.claims_of(pod.seq):  # shared claims another pod has in flight
                if not c.allocated and c.key not in out and c.key in self._inflight:
                    out[c.key] = self._inflight[c.key][1]
            self.events.extend(self.controller.allocated(pod.seq, name, out))
        for key in out:
            self._inflight.pop(key, None)
        ext_key = f"{pod.namespace}/{pod.name}-extended-resources"
        if ext_key in out:
            self._extended_held[pod.seq] = (node, out[ext_key])
            self.events.append(ClaimEvent("ClaimAllocated", pod.namespace, f"{pod.name}-extended-resources", {
                "devices": [r.payload() for r in out[ext_key]], "reservedFor": [pod.name]}, node=name,
                results=tuple(out[ext_key])))

    def pod_finished(self, pod: Any) -> list[ClaimEvent]:
        """The pod ended or was deleted: release its claims; returns the events to write."""
        freed, events = self.controller.pod_finished(pod.seq)
        # results carry no node; the claim's node is on its ClaimReleased event
        for ev in events:
            n = self.node_index.get(ev.node or "")
            if n is None or n not in self.usage:
                continue
            refs = {(d["driver"], d["pool"], d["device"], d["request"]) for d in ev.data["devices"]}
            mine = [r for r in freed if (r.driver, r.pool, r.device, r.request) in refs]
            self.usage[n].remove(mine, self.inventories[n].by_ref())
            self._touch(n)
        held = self._extended_held.pop(pod.seq, None)
        if held is not None:
            n, results = held
            if n in self.usage:
                self.usage[n].remove(results, self.inventories[n].by_ref())
                self._touch(n)
            events.append(ClaimEvent("ClaimReleased", pod.namespace, f"{pod.name}-extended-resources",
                                     {"devices": [r.payload() for r in results], "pod": pod.name},
                                     node=self.node_names.get(n), results=tuple(results)))
        self.extended_requests.pop(pod.seq, None)
        self._ext_names.pop(pod.seq, None)
        self._version += 1
        return events


def _typed(value: Any, version: bool) -> dict[str, Any]:
    if version:
        return {"version": value}
    if isinstance(value, bool):
        return {"bool": value}
    if isinstance(value, int):
        return {"int": value}
    return {"string": value}


def devices_payload(inv: Inventory) -> list[dict[str, Any]]:
    """``NodeReady.data.devices``: each device with its attributes (qualified names, typed as in a
    ResourceSlice), capacity (canonical quantities, keyed by :func:`models.dra.capacity_key` as
    ``consumedCapacity`` is), ``allowMultipleAllocations``, ``consumesCounters`` and ``taints``; shared
    counters are on the devices' pools in :func:`counters_payload`."""
    out = []
    for d in inv.devices:
        e: dict[str, Any] = {"driver": d.ref.driver, "pool": d.ref.pool, "device": d.ref.device,
                             "attributes": {k: _typed(v, k in d.versions) for k, v in sorted(d.attributes.items())}}
        if d.capacity:
            e["capacity"] = {capacity_key(k, d.ref.driver): str(Quantity(v, "BinarySI"))
                             for k, v in sorted(d.capacity.items())}
        pol = {capacity_key(k, d.ref.driver): p.model_dump(mode="json", exclude_none=True)
               for k, p in sorted(d.policies.items()) if p is not None}
        if pol:  # consumable capacity's requestPolicy (what kubetwin replay needs to rebuild the slice)
            e["requestPolicy"] = pol
        if d.multi:
            e["allowMultipleAllocations"] = True
        if d.consumes:
            e["consumesCounters"] = [{"counterSet": cs, "counters": {n: str(Quantity(v)) for n, v in sorted(c.items())}}
                                     for cs, c in d.consumes]
        if d.taints:
            e["taints"] = [t.model_dump(exclude_none=True) for t in d.taints]
        out.append(e)
    return out


def counters_payload(inv: Inventory) -> list[dict[str, Any]]:
    """``NodeReady.data.sharedCounters``: [{driver, pool, name, counters {name: quantity}}]."""
    return [{"driver": k[0], "pool": k[1], "name": k[2],
             "counters": {n: str(Quantity(v)) for n, v in sorted(c.items())}}
            for k, c in sorted(inv.counters.items())]


def _factory(context: Any) -> DynamicResources:
    """Registry factory: the engine (``context.host``) hands over its plugin as ``dra_plugin`` (built by
    :meth:`sim.dra.setup.DRASetup.plugin`); without one, a plugin with no classes and no claims."""
    plugin = getattr(context.host, "dra_plugin", None)
    if isinstance(plugin, DynamicResources):
        return plugin
    return DynamicResources((), ClaimController())


register("DynamicResources")(_factory)
