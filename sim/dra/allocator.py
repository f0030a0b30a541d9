"""kube-scheduler's structured-parameters DRA allocator, for one node.

Mirrors ``staging/src/k8s.io/dynamic-resource-allocation/structured/allocator.go``: given the devices a
node's ResourceSlices publish (:class:`Inventory`), what is already allocated on it (:class:`Usage`)
and a pod's claims with their DeviceClasses, find one device per request slot by depth-first search
with backtracking — claims in order, requests in order, ``firstAvailable`` subrequests in order,
devices in pool/slice order — and return the **first** complete solution (DRA does not score).

A device fits a slot when it is not in use (unless it ``allowMultipleAllocations`` and has capacity
left, or the request has ``adminAccess``), every class selector and then every request selector is
true, every ``NoSchedule``/``NoExecute`` device taint is tolerated, its ``consumesCounters`` fit in
what its pool's ``sharedCounters`` have left (partitionable devices) and the claim's
``matchAttribute``/``distinctAttribute`` constraints still hold. ``All`` takes every matching device
(and fails if one is in use, if none match, or if a pool is incomplete). A claim has at most 32
results. A CEL runtime error aborts the attempt, as upstream.

Pure: no simpy, no engine. The caller keeps :class:`Usage` up to date with :meth:`Usage.add` /
:meth:`Usage.remove` as allocations are made and released.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, NamedTuple

from models.cel import CelRuntimeError, Evaluator, device_variable
from models.dra import (
    MAX_RESULTS_PER_CLAIM,
    DeviceClaim,
    DeviceClass,
    DeviceConstraint,
    DeviceTaint,
    ExactDeviceRequest,
    RequestPolicy,
    ResourceSlice,
    capacity_key,
)
from models.quantity import Quantity

#: kube-scheduler's Filter text when the allocator finds no solution on a node
CANNOT_ALLOCATE = "cannot allocate all claims"
#: how many device checks one attempt may make (upstream bounds an attempt by a 10 s filter timeout)
DEFAULT_BUDGET = 200_000

CounterKey = tuple[str, str, str]  # driver, pool, counter set


class DeviceRef(NamedTuple):
    driver: str
    pool: str
    device: str


@dataclass(frozen=True)
class Device:
    """One device as the allocator sees it (attributes and capacity by qualified name)."""

    ref: DeviceRef
    attributes: Mapping[str, Any]  # qualified name -> int | bool | str (versions as text)
    versions: frozenset[str]  # which attributes are versions
    capacity: Mapping[str, Fraction]
    policies: Mapping[str, RequestPolicy | None]
    consumes: tuple[tuple[str, Mapping[str, Fraction]], ...] = ()
    taints: tuple[DeviceTaint, ...] = ()
    multi: bool = False
    #: what a CEL selector can see of the device (driver, attributes, capacity, multi): devices with equal
    #: signatures (the same GPU model on every node of a pool) share cached selector results
    sig: Any = None

    def cel(self) -> dict[str, Any]:
        from models.cel import semver_value
        attrs = {k: (semver_value(v) if k in self.versions else v) for k, v in self.attributes.items()}
        return device_variable(self.ref.driver, attrs, {k: Quantity(v) for k, v in self.capacity.items()},
                               self.multi)


@dataclass
class Inventory:
    """The devices usable on one node: the highest generation of each pool, in a fixed order."""

    devices: list[Device] = field(default_factory=list)
    counters: dict[CounterKey, dict[str, Fraction]] = field(default_factory=dict)
    incomplete: set[tuple[str, str]] = field(default_factory=set)
    _by_ref: dict[DeviceRef, Device] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_slices(cls, slices: Iterable[ResourceSlice]) -> Inventory:
        by_pool: dict[tuple[str, str], list[ResourceSlice]] = {}
        for s in slices:
            by_pool.setdefault((s.spec.driver, s.spec.pool.name), []).append(s)
        inv = cls()
        for key in sorted(by_pool):
            group = by_pool[key]
            top = max(s.spec.pool.generation for s in group)
            current = sorted((s for s in group if s.spec.pool.generation == top), key=lambda s: s.metadata.name)
            if len(current) < max(s.spec.pool.resourceSliceCount for s in current):
                inv.incomplete.add(key)
            driver, pool = key
            for s in current:
                for cs in s.spec.sharedCounters:
                    inv.counters[(driver, pool, cs.name)] = {n: Quantity.parse(c.value).value
                                                              for n, c in cs.counters.items()}
            for s in current:
                for d in s.spec.devices:
                    attrs = d.qualified_attributes(driver)
                    caps = d.qualified_capacity(driver)
                    plain = {k: a.value for k, a in attrs.items()}
                    versions = frozenset(k for k, a in attrs.items() if a.version is not None)
                    capacity = {k: c.quantity.value for k, c in caps.items()}
                    sig = (driver, tuple(sorted((k, type(v).__name__, v) for k, v in plain.items())), versions,
                           tuple(sorted(capacity.items())), d.allowMultipleAllocations)
                    inv.devices.append(Device(
                        sig=sig,
                        ref=DeviceRef(driver, pool, d.name),
                        attributes=plain,
                        versions=versions,
                        capacity=capacity,
                        policies={k: c.requestPolicy for k, c in caps.items()},
                        consumes=tuple((c.counterSet, {n: Quantity.parse(v.value).value
                                                       for n, v in c.counters.items()})
                                       for c in d.consumesCounters),
                        taints=tuple(d.taints),
                        multi=d.allowMultipleAllocations,
                    ))
        return inv

    def for_pool(self, template: str, pool: str) -> Inventory:
        """This inventory with pool ``template`` renamed ``pool`` (a node pool's devices, built once for a
        placeholder node and copied for each node: every per-node pool is named after its node)."""
        inv = Inventory(incomplete={(d, pool if p == template else p) for d, p in self.incomplete})
        inv.counters = {(d, pool if p == template else p, cs): dict(c) for (d, p, cs), c in self.counters.items()}
        inv.devices = [Device(DeviceRef(d.ref.driver, pool, d.ref.device), d.attributes, d.versions, d.capacity,
                              d.policies, d.consumes, d.taints, d.multi, d.sig) if d.ref.pool == template else d
                       for d in self.devices]
        return inv

    def by_ref(self) -> dict[DeviceRef, Device]:
        """Devices by reference (built once; an inventory does not change after it is built)."""
        if self._by_ref is None or len(self._by_ref) != len(self.devices):
            self._by_ref = {d.ref: d for d in self.devices}
        return self._by_ref


@dataclass(frozen=True)
class DeviceResult:
    """One entry of ``status.allocation.devices.results``."""

    request: str
    driver: str
    pool: str
    device: str
    consumed_capacity: Mapping[str, Fraction] | None = None
    share_id: str | None = None
    admin_access: bool = False
    #: the DeviceClass the request named (for summary.json; not part of the allocation result)
    device_class: str = ""

    @property
    def ref(self) -> DeviceRef:
        return DeviceRef(self.driver, self.pool, self.device)

    def payload(self) -> dict[str, Any]:
        """The ``ClaimAllocated.data.devices[]`` entry."""
        out: dict[str, Any] = {"request": self.request, "driver": self.driver, "pool": self.pool,
                               "device": self.device}
        if self.consumed_capacity is not None:
            # keys as the device writes them (its own domain dropped), amounts in canonical quantity form
            out["consumedCapacity"] = {capacity_key(k, self.driver): str(Quantity(v, "BinarySI"))
                                       for k, v in sorted(self.consumed_capacity.items())}
        if self.share_id is not None:
            out["shareID"] = self.share_id
        if self.admin_access:
            out["adminAccess"] = True
        return out


@dataclass
class Usage:
    """What is already allocated on a node: exclusive devices, consumed capacity of shared devices,
    counters used, and how many allocations hold each shared device."""

    exclusive: set[DeviceRef] = field(default_factory=set)
    consumed: dict[DeviceRef, dict[str, Fraction]] = field(default_factory=dict)
    shares: dict[DeviceRef, int] = field(default_factory=dict)
    counters: dict[CounterKey, dict[str, Fraction]] = field(default_factory=dict)
    version: int = 0

    def _counters(self, dev: Device | None, sign: int) -> None:
        if dev is None:
            return
        for cs, amounts in dev.consumes:
            used = self.counters.setdefault((dev.ref.driver, dev.ref.pool, cs), {})
            for n, v in amounts.items():
                used[n] = used.get(n, Fraction(0)) + sign * v

    def add(self, results: Iterable[DeviceResult], inventory: Mapping[DeviceRef, Device]) -> None:
        for r in results:
            if r.admin_access:
                continue
            dev = inventory.get(r.ref)
            if r.share_id is not None or (dev is not None and dev.multi):
                n = self.shares.get(r.ref, 0)
                self.shares[r.ref] = n + 1
                used = self.consumed.setdefault(r.ref, {})
                for k, v in (r.consumed_capacity or {}).items():
                    used[k] = used.get(k, Fraction(0)) + v
                if n == 0:
                    self._counters(dev, +1)
            else:
                self.exclusive.add(r.ref)
                self._counters(dev, +1)
        self.version += 1

    def remove(self, results: Iterable[DeviceResult], inventory: Mapping[DeviceRef, Device]) -> None:
        for r in results:
            if r.admin_access:
                continue
            dev = inventory.get(r.ref)
            if r.ref in self.shares:
                n = self.shares[r.ref] - 1
                used = self.consumed[r.ref]
                for k, v in (r.consumed_capacity or {}).items():
                    used[k] -= v
                if n == 0:
                    del self.shares[r.ref]
                    del self.consumed[r.ref]
                    self._counters(dev, -1)
                else:
                    self.shares[r.ref] = n
            elif r.ref in self.exclusive:
                self.exclusive.discard(r.ref)
                self._counters(dev, -1)
        self.version += 1


@dataclass(frozen=True)
class ClaimToAllocate:
    """One claim a pod needs allocated: its key (``namespace/name``) and its spec."""

    key: str
    spec: DeviceClaim


class AllocationError(Exception):
    """The attempt was aborted (a CEL runtime error, too many results, an incomplete pool for All,
    a missing DeviceClass, the search budget): not just "no fit"."""


# -------------------------------------------------------------------------------------------------
# capacity requests (KEP-5075)


def consumed_amount(requested: Fraction | None, capacity: Fraction, policy: RequestPolicy | None) -> Fraction | None:
    """How much one allocation consumes of a capacity (``None``: the request cannot be met)."""
    if policy is None:
        amount = capacity if requested is None else requested
    else:
        if requested is None:
            amount = Quantity.parse(policy.default).value if policy.default is not None else capacity
        else:
            amount = requested
        if policy.validValues is not None:
            options = sorted(Quantity.parse(v).value for v in policy.validValues)
            bigger = [v for v in options if v >= amount]
            if not bigger:
                return None
            amount = bigger[0]
        elif policy.validRange is not None:
            lo = Quantity.parse(policy.validRange.min).value
            amount = max(amount, lo)
            if policy.validRange.step is not None:
                step = Quantity.parse(policy.validRange.step).value
                amount = lo + step * math.ceil((amount - lo) / step)
            if policy.validRange.max is not None and amount > Quantity.parse(policy.validRange.max).value:
                return None
    return amount if amount <= capacity else None


# -------------------------------------------------------------------------------------------------
# the search


@dataclass
class _Alt:
    """One way to satisfy a request: the plain request or one firstAvailable subrequest."""

    name: str  # result request name ("req" or "req/sub")
    request: ExactDeviceRequest
    cls: DeviceClass
    candidates: list[Device] | None = None


_Plan = list[tuple[int, list[tuple[str, ExactDeviceRequest, DeviceClass]]]]


@dataclass
class _Step:
    claim: int
    alts: list[_Alt]


def _applies(c: DeviceConstraint, result_name: str) -> bool:
    if not c.requests:
        return True
    return result_name in c.requests or result_name.split("/")[0] in c.requests


class Allocator:
    """Allocates claims against one node's inventory; reusable across attempts (caches selector
    results per device through its :class:`Evaluator`)."""

    def __init__(self, evaluator: Evaluator | None = None, budget: int = DEFAULT_BUDGET) -> None:
        self.evaluator = evaluator or Evaluator()
        self.budget = budget
        self._cand_cache: dict[tuple[int, int, int], tuple[Inventory, ExactDeviceRequest, DeviceClass,
                                                             list[Device]]] = {}
        self._plain_lists: dict[int, tuple[list[Device], bool]] = {}
        self._plans: dict[tuple[int, ...], tuple[tuple[DeviceClaim, ...], Mapping[str, DeviceClass], _Plan]] = {}

    # -- per-device checks that do not depend on what is in use
    def _selectors_match(self, dev: Device, alt: _Alt) -> bool:
        exprs = [s.cel.expression for s in alt.cls.spec.selectors] + [s.cel.expression for s in alt.request.selectors]
        for e in exprs:
            try:
                if not self.evaluator.matches(e, dev.sig if dev.sig is not None else dev.ref, dev.cel):
                    return False
            except CelRuntimeError as err:
                raise AllocationError(f"request {alt.name}: selector {e!r} on device "
                                      f"{dev.ref.driver}/{dev.ref.pool}/{dev.ref.device}: CEL runtime error: "
                                      f"{err}") from None
        return True

    @staticmethod
    def _tolerated(dev: Device, req: ExactDeviceRequest) -> bool:
        for t in dev.taints:
            if t.effect == "None":
                continue
            if not any(tol.tolerates(t) for tol in req.tolerations):
                return False
        return True

    def _candidates(self, inv: Inventory, alt: _Alt) -> list[Device]:
        """The devices that pass the request's selectors and tolerations (what is in use aside), cached
        per (inventory, request, class) — the objects are kept in the entry so their ids stay theirs."""
        if alt.candidates is None:
            key = (id(inv), id(alt.request), id(alt.cls))
            hit = self._cand_cache.get(key)
            if hit is None or hit[0] is not inv or hit[1] is not alt.request or hit[2] is not alt.cls:
                cands = [d for d in inv.devices if self._tolerated(d, alt.request) and self._selectors_match(d, alt)]
                hit = self._cand_cache[key] = (inv, alt.request, alt.cls, cands)
            alt.candidates = hit[3]
        return alt.candidates

    def forget(self, inv: Inventory) -> None:
        """Drop the cached candidates of an inventory that went away (a node was removed)."""
        for k in [k for k, v in self._cand_cache.items() if v[0] is inv]:
            self._plain_lists.pop(id(self._cand_cache[k][3]), None)
            del self._cand_cache[k]

    def allocate(self, claims: Sequence[ClaimToAllocate], classes: Mapping[str, DeviceClass], inv: Inventory,
                 usage: Usage) -> dict[str, list[DeviceResult]] | None:
        """The first solution (results per claim key), ``None`` when there is none; raises
        :class:`AllocationError` when the attempt is aborted."""
        plan = self._plan(claims, classes)
        if len(plan) == 1 and len(plan[0][1]) == 1:
            quick = self._first_free(claims[0], *plan[0][1][0], inv, usage)
            if quick is not None:
                return quick
        steps = [_Step(ci, [_Alt(name, req, cls) for name, req, cls in alts]) for ci, alts in plan]
        search = _Search(self, claims, inv, usage)
        if not search.step(steps, 0):
            return None
        out: dict[str, list[DeviceResult]] = {c.key: [] for c in claims}
        for ci, res in search.chosen:
            out[claims[ci].key].append(res)
        return out


    def _plan(self, claims: Sequence[ClaimToAllocate], classes: Mapping[str, DeviceClass]) -> _Plan:
        """Per request slot (claim index, [(result name, request, class)]), cached per claim specs
        (a ResourceClaimTemplate's claims share one spec object)."""
        if len(claims) == 1:  # the common case
            spec = claims[0].spec
            hit = self._plans.get((id(spec),))
            if hit is not None and hit[1] is classes and hit[0][0] is spec:
                return hit[2]
            key: tuple[int, ...] = (id(spec),)
        else:
            key = tuple(id(c.spec) for c in claims)
            hit = self._plans.get(key)
            if hit is not None and hit[1] is classes and all(a is b.spec for a, b in zip(hit[0], claims, strict=True)):
                return hit[2]
        plan: _Plan = []
        for ci, claim in enumerate(claims):
            for r in claim.spec.requests:
                alts = []
                for name, req in r.alternatives():
                    cls = classes.get(req.deviceClassName)
                    if cls is None:
                        raise AllocationError(f"claim {claim.key}, request {name}: device class "
                                              f"{req.deviceClassName} does not exist")
                    alts.append((name, req, cls))
                plan.append((ci, alts))
        if len(self._plans) > 10_000:
            self._plans.clear()
        self._plans[key] = (tuple(c.spec for c in claims), classes, plan)
        return plan

    def _first_free(self, claim: ClaimToAllocate, name: str, req: ExactDeviceRequest, cls: DeviceClass,
                    inv: Inventory, usage: Usage) -> dict[str, list[DeviceResult]] | None:
        """The common case, one request of ``count`` plain devices (no constraints, no admin access, no
        capacity, counters or sharing): the search takes the first ``count`` free candidates in order,
        so this does too. ``None`` when the case is not that simple or too few are free: the full
        search then decides (and raises what it raises)."""
        if (req.allocationMode != "ExactCount" or req.adminAccess or req.capacity is not None
                or claim.spec.constraints or req.count > MAX_RESULTS_PER_CLAIM):
            return None
        key = (id(inv), id(req), id(cls))
        hit = self._cand_cache.get(key)
        if hit is None or hit[0] is not inv or hit[1] is not req or hit[2] is not cls:
            self._candidates(inv, _Alt(name, req, cls))
            hit = self._cand_cache[key]
        cands = hit[3]
        if len(cands) > self.budget or not self._plain(cands):
            return None
        exclusive, shares = usage.exclusive, usage.shares
        out: list[DeviceResult] = []
        for dev in cands:
            ref = dev.ref
            if ref in exclusive or ref in shares:
                continue
            out.append(DeviceResult(name, ref.driver, ref.pool, ref.device, device_class=cls.metadata.name))
            if len(out) == req.count:
                return {claim.key: out}
        return None

    def _plain(self, cands: list[Device]) -> bool:
        """No candidate is shareable or consumes counters (cached per candidate list)."""
        known = self._plain_lists.get(id(cands))
        if known is None or known[0] is not cands:
            known = self._plain_lists[id(cands)] = (cands, not any(d.multi or d.consumes for d in cands))
        return known[1]


class _Search:
    def __init__(self, alloc: Allocator, claims: Sequence[ClaimToAllocate], inv: Inventory, usage: Usage) -> None:
        self.alloc = alloc
        self.claims = claims
        self.inv = inv
        self.usage = usage
        self.chosen: list[tuple[int, DeviceResult]] = []
        self.chosen_devs: list[Device] = []
        self.taken: set[DeviceRef] = set()
        self.consumed: dict[DeviceRef, dict[str, Fraction]] = {}
        self.new_shares: dict[DeviceRef, int] = {}
        self.counters: dict[CounterKey, dict[str, Fraction]] = {}
        self.per_claim = [0] * len(claims)
        self.steps_left = alloc.budget

    # -- state
    def _counters_fit(self, dev: Device) -> bool:
        for cs, amounts in dev.consumes:
            key = (dev.ref.driver, dev.ref.pool, cs)
            total = self.inv.counters.get(key)
            if total is None:
                return False
            used = self.usage.counters.get(key, {})
            extra = self.counters.get(key, {})
            for n, v in amounts.items():
                if n not in total or used.get(n, 0) + extra.get(n, 0) + v > total[n]:
                    return False
        return True

    def _add_counters(self, dev: Device, sign: int) -> None:
        for cs, amounts in dev.consumes:
            extra = self.counters.setdefault((dev.ref.driver, dev.ref.pool, cs), {})
            for n, v in amounts.items():
                extra[n] = extra.get(n, Fraction(0)) + sign * v

    def _share_consumption(self, dev: Device, req: ExactDeviceRequest) -> dict[str, Fraction] | None:
        asked = {k if "/" in k else f"{dev.ref.driver}/{k}": Quantity.parse(v).value
                 for k, v in (req.capacity.requests if req.capacity else {}).items()}
        if any(k not in dev.capacity for k in asked):
            return None
        out: dict[str, Fraction] = {}
        for k, cap in dev.capacity.items():
            amount = consumed_amount(asked.get(k), cap, dev.policies.get(k))
            if amount is None:
                return None
            used = self.usage.consumed.get(dev.ref, {}).get(k, Fraction(0)) + self.consumed.get(dev.ref, {}).get(k, 0)
            if used + amount > cap:
                return None
            out[k] = amount
        return out

    def _constraints_ok(self, ci: int, name: str, dev: Device) -> bool:
        for c in self.claims[ci].spec.constraints:
            if not _applies(c, name):
                continue
            attr = c.matchAttribute or c.distinctAttribute
            assert attr is not None
            if attr not in dev.attributes:
                return False
            value = dev.attributes[attr]
            for (cj, r), other in zip(self.chosen, self.chosen_devs, strict=True):
                if cj != ci or not _applies(c, r.request):
                    continue
                ov = other.attributes.get(attr)
                if c.matchAttribute is not None and ov != value:
                    return False
                if c.distinctAttribute is not None and ov == value:
                    return False
        return True

    def _try(self, ci: int, alt: _Alt, dev: Device) -> DeviceResult | None:
        """Check ``dev`` for one slot and take it; ``None`` if it does not fit now."""
        self.steps_left -= 1
        if self.steps_left < 0:
            raise AllocationError("the allocation search exceeded its budget (kube-scheduler's filter timeout)")
        req = alt.request
        admin = bool(req.adminAccess)
        ref = dev.ref
        share: dict[str, Fraction] | None = None
        if not admin:
            if ref in self.usage.exclusive or ref in self.taken:
                return None
            if dev.multi:
                share = self._share_consumption(dev, req)
                if share is None:
                    return None
            else:
                if ref in self.usage.shares:
                    return None
                if req.capacity and req.capacity.requests:
                    asked = {k if "/" in k else f"{ref.driver}/{k}": Quantity.parse(v).value
                             for k, v in req.capacity.requests.items()}
                    if any(k not in dev.capacity or v > dev.capacity[k] for k, v in asked.items()):
                        return None
            first_use = not dev.multi or (self.usage.shares.get(ref, 0) + self.new_shares.get(ref, 0) == 0)
            if first_use and not self._counters_fit(dev):
                return None
        else:
            first_use = False
        if not self._constraints_ok(ci, alt.name, dev):
            return None
        # take it
        if not admin:
            if dev.multi:
                self.new_shares[ref] = self.new_shares.get(ref, 0) + 1
                used = self.consumed.setdefault(ref, {})
                for k, v in (share or {}).items():
                    used[k] = used.get(k, Fraction(0)) + v
            else:
                self.taken.add(ref)
            if first_use:
                self._add_counters(dev, +1)
        share_id = None
        if dev.multi and not admin:
            seed = f"{self.claims[ci].key}/{alt.name}/{ref.driver}/{ref.pool}/{ref.device}/{len(self.chosen)}"
            share_id = hashlib.sha256(seed.encode()).hexdigest()[:16]
        result = DeviceResult(alt.name, ref.driver, ref.pool, ref.device, consumed_capacity=share,
                              share_id=share_id, admin_access=admin, device_class=alt.cls.metadata.name)
        self.chosen.append((ci, result))
        self.chosen_devs.append(dev)
        self.per_claim[ci] += 1
        return result

    def _undo(self, alt: _Alt, dev: Device) -> None:
        ci, r = self.chosen.pop()
        self.chosen_devs.pop()
        self.per_claim[ci] -= 1
        if r.admin_access:
            return
        ref = dev.ref
        if dev.multi:
            n = self.new_shares[ref] - 1
            if n:
                self.new_shares[ref] = n
            else:
                del self.new_shares[ref]
            for k, v in (r.consumed_capacity or {}).items():
                self.consumed[ref][k] -= v
            if self.usage.shares.get(ref, 0) + n == 0:
                self._add_counters(dev, -1)
        else:
            self.taken.discard(ref)
            self._add_counters(dev, -1)

    # -- depth-first search
    def step(self, steps: list[_Step], i: int) -> bool:
        if i == len(steps):
            return True
        st = steps[i]
        for alt in st.alts:
            req = alt.request
            cands = self.alloc._candidates(self.inv, alt)
            if req.allocationMode == "All":
                pools = {(d.ref.driver, d.ref.pool) for d in cands}
                if pools & self.inv.incomplete:
                    raise AllocationError(f"request {alt.name}: allocation mode All needs complete pools")
                if not cands:
                    continue
                count = len(cands)
            else:
                count = req.count
            if self.per_claim[st.claim] + count > MAX_RESULTS_PER_CLAIM:
                raise AllocationError(f"claim {self.claims[st.claim].key}: more than {MAX_RESULTS_PER_CLAIM} "
                                      "devices requested")
            if req.allocationMode == "All":
                if self._take_all(steps, i, alt, cands):
                    return True
            elif self._slots(steps, i, alt, cands, count, 0):
                return True
        return False

    def _take_all(self, steps: list[_Step], i: int, alt: _Alt, cands: list[Device]) -> bool:
        taken: list[Device] = []
        ok = True
        for dev in cands:
            if self._try(steps[i].claim, alt, dev) is None:
                ok = False
                break
            taken.append(dev)
        if ok and self.step(steps, i + 1):
            return True
        for dev in reversed(taken):
            self._undo(alt, dev)
        return False

    def _slots(self, steps: list[_Step], i: int, alt: _Alt, cands: list[Device], left: int, start: int) -> bool:
        if left == 0:
            return self.step(steps, i + 1)
        ci = steps[i].claim
        for j in range(start, len(cands) - left + 1):
            dev = cands[j]
            if self._try(ci, alt, dev) is None:
                continue
            if self._slots(steps, i, alt, cands, left - 1, j + 1):
                return True
            self._undo(alt, dev)
        return False
