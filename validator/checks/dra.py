"""Dynamic Resource Allocation invariants D1–D7 (``resource.k8s.io``, KEP-4381 and its extensions).

One pass over the timeline keeps the node's devices (``NodeReady.data.devices`` and
``sharedCounters``), each claim's spec and class selectors (``ClaimCreated.data.spec`` /
``deviceClasses``), its live allocation (``ClaimAllocated`` … ``ClaimReleased``) and the pods that end:

* **D1** a device is in at most one live allocation, unless every allocation holding it shares it
  (``shareID``, a device that ``allowMultipleAllocations``) or has ``adminAccess``; shared devices'
  Σ ``consumedCapacity`` stays within their capacity;
* **D2** a pod is bound to node N only with every claim it names allocated on N and reserved for it
  (the ``ClaimAllocated`` may follow the bind by the timeline's bind tolerance);
* **D3** an allocation is never released while a pod in its ``reservedFor`` is still running, and is
  released within :data:`RELEASE_LATENCY_SECONDS` (plus the bind tolerance) after its last consumer
  ended (``PodSucceeded``/``PodFailed``/``PodDeleted``) — the resourceclaim controller's latency; a
  deadline past the end of the timeline is not judged;
* **D4** an ``All`` request holds every device of the node whose selectors match;
* **D5** Σ ``consumesCounters`` of a pool's allocated devices stays within its ``sharedCounters``;
* **D6** at most 32 results per claim and 256 pods in ``reservedFor``;
* **D7** every class and request selector is true for each allocated device, and ``matchAttribute``
  values are equal (``distinctAttribute`` values distinct) across the constrained devices.

Selectors are evaluated with :mod:`models.cel`, the simulator's own evaluator; a selector that fails
to evaluate on an allocated device counts as not satisfied.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from models.cel import CelError, CelRuntimeError, Evaluator, device_variable, semver_value
from models.quantity import Quantity, QuantityError
from models.timeline import Event
from validator.checks.common import Finding, PassResult, fmt_t, prepare, tolerance

MAX_RESULTS = 32
MAX_RESERVED_FOR = 256
#: how long an allocation may outlive its last consumer (kube-controller-manager's resourceclaim
#: controller deallocates within seconds; a simulated cluster at once)
RELEASE_LATENCY_SECONDS = 60.0
DRA_IDS = ("D1", "D2", "D3", "D4", "D5", "D6", "D7")

DevKey = tuple[str, str, str]


def _q(v: Any) -> Fraction | None:
    try:
        return Quantity.parse(v).value
    except (QuantityError, TypeError):
        return None


def _attr_value(typed: Any) -> tuple[Any, Any]:
    """(plain value, CEL value) of a typed attribute ``{int|bool|string|version: v}`` (or a plain value)."""
    if isinstance(typed, dict) and len(typed) == 1:
        (kind, v), = typed.items()
        if kind == "version":
            try:
                return v, semver_value(str(v))
            except ValueError:
                return v, v
        return v, v
    return typed, typed


def _consumed(result: dict[str, Any], short: str, qualified: str) -> Any:
    """A result's ``consumedCapacity`` of one capacity, keyed short (as written) or qualified."""
    cc = result.get("consumedCapacity") or {}
    return cc.get(short, cc.get(qualified)) if isinstance(cc, dict) else None


@dataclass
class _Device:
    node: str
    data: dict[str, Any]
    attrs: dict[str, Any] = field(default_factory=dict)
    cel_attrs: dict[str, Any] = field(default_factory=dict)
    capacity: dict[str, Fraction] = field(default_factory=dict)

    def cel(self) -> dict[str, Any]:
        return device_variable(str(self.data.get("driver", "")), self.cel_attrs,
                               {k: Quantity(v) for k, v in self.capacity.items()},
                               bool(self.data.get("allowMultipleAllocations")))


@dataclass
class _Claim:
    key: str
    spec: dict[str, Any] = field(default_factory=dict)
    classes: dict[str, list[str]] = field(default_factory=dict)
    results: list[dict[str, Any]] | None = None
    node: str | None = None
    reserved: list[str] = field(default_factory=list)


def _request(spec: dict[str, Any], name: str) -> dict[str, Any] | None:
    """The exact request a result names (``req`` or ``req/sub``)."""
    base, _, sub = name.partition("/")
    for r in (spec.get("devices") or {}).get("requests") or []:
        if r.get("name") != base:
            continue
        if sub:
            for s in r.get("firstAvailable") or []:
                if s.get("name") == sub:
                    return dict(s)
            return None
        exact = r.get("exactly")
        if exact is None:  # v1beta1 shape
            exact = {k: v for k, v in r.items() if k != "name"}
        return dict(exact)
    return None


def _applies(requests: list[str], name: str) -> bool:
    return not requests or name in requests or name.split("/")[0] in requests


class _DRAPass:
    def __init__(self, events: Sequence[Event]) -> None:
        self.out = PassResult()
        self.evs = prepare(events)
        self.tol = tolerance(self.evs)
        self.devices: dict[DevKey, _Device] = {}
        self.counters: dict[tuple[str, str, str], dict[str, Fraction]] = {}
        self.claims: dict[str, _Claim] = {}
        self.live_pods: set[str] = set()
        self.pending: list[tuple[float, str, str, list[str]]] = []  # deadline, pod, node, claims
        self.pod_claims: dict[str, list[str]] = {}
        self.evaluator = Evaluator()
        #: D3's release half: claims a pod was reserved in (by pod key), and the claims whose last
        #: consumer ended: key -> (deadline, when it ended, pod), with a heap of deadlines
        self.reserved_in: dict[str, set[str]] = {}
        self.release_due: dict[str, tuple[float, float, str]] = {}
        self.due_heap: list[tuple[float, str, float, str]] = []

    def find(self, inv: str, objects: tuple[str, ...], t: float, msg: str) -> None:
        self.out.findings.append(Finding(inv, objects, t, msg))

    # -- event handlers
    def node_ready(self, ev: Event) -> None:
        for d in ev.data.get("devices") or []:
            if not isinstance(d, dict):
                continue
            key = (str(d.get("driver")), str(d.get("pool")), str(d.get("device")))
            dev = _Device(ev.name, d)
            for name, typed in (d.get("attributes") or {}).items():
                dev.attrs[name], dev.cel_attrs[name] = _attr_value(typed)
            driver = str(d.get("driver"))
            for name, v in (d.get("capacity") or {}).items():
                q = _q(v)
                if q is not None:  # held qualified, as CEL's device.capacity[domain] reads it
                    dev.capacity[name if "/" in name else f"{driver}/{name}"] = q
            self.devices[key] = dev
            self.evaluator.forget(key)
        for cs in ev.data.get("sharedCounters") or []:
            if isinstance(cs, dict):
                self.counters[(str(cs.get("driver")), str(cs.get("pool")), str(cs.get("name")))] = {
                    n: q for n, v in (cs.get("counters") or {}).items() if (q := _q(v)) is not None}

    def claim_created(self, ev: Event, key: str) -> None:
        c = self.claims.setdefault(key, _Claim(key))
        if isinstance(ev.data.get("spec"), dict):
            c.spec = ev.data["spec"]
        if isinstance(ev.data.get("deviceClasses"), dict):
            c.classes = {str(k): [str(e) for e in v] for k, v in ev.data["deviceClasses"].items()}

    def claim_allocated(self, ev: Event, key: str) -> None:
        c = self.claims.setdefault(key, _Claim(key))
        results = [r for r in ev.data.get("devices") or [] if isinstance(r, dict)]
        new = c.results is None
        c.results = results
        c.node = ev.node or c.node
        c.reserved = [str(p) for p in ev.data.get("reservedFor") or []]
        self.out.applicable.update(DRA_IDS)
        objects = (f"ResourceClaim {key}",)
        if len(results) > MAX_RESULTS:
            self.find("D6", objects, ev.t, f"claim {key} has {len(results)} allocation results at "
                                            f"t={fmt_t(ev.t)}; at most {MAX_RESULTS}")
        if len(c.reserved) > MAX_RESERVED_FOR:
            self.find("D6", objects, ev.t, f"claim {key} is reserved for {len(c.reserved)} pods at "
                                            f"t={fmt_t(ev.t)}; at most {MAX_RESERVED_FOR}")
        if new:
            self.check_exclusive(ev, c)
            self.check_counters(ev, c)
            self.check_selectors(ev, c)
            self.check_all_mode(ev, c)
        ns = key.split("/", 1)[0]
        for p in c.reserved:
            self.satisfy(f"{ns}/{p}", ev.t)
            self.reserved_in.setdefault(f"{ns}/{p}", set()).add(key)
        if any(f"{ns}/{p}" in self.live_pods for p in c.reserved):
            self.release_due.pop(key, None)  # a consumer joined: in use again

    def claim_released(self, ev: Event, key: str) -> None:
        c = self.claims.get(key)
        if c is None:
            return
        ns = key.split("/", 1)[0]
        running = sorted(p for p in c.reserved if f"{ns}/{p}" in self.live_pods)
        if running:
            self.find("D3", (f"ResourceClaim {key}", *(f"Pod {ns}/{p}" for p in running)), ev.t,
                      f"claim {key} was deallocated at t={fmt_t(ev.t)} while reserved for running pod(s) "
                      f"{', '.join(running)}")
        c.results = None
        c.node = None
        c.reserved = []
        self.release_due.pop(key, None)

    def pod_ended(self, ev: Event, pod: str) -> None:
        """D3: a pod ended; a claim left without a running consumer must be released in time."""
        self.live_pods.discard(pod)
        ns = pod.split("/", 1)[0]
        for key in sorted(self.reserved_in.pop(pod, ())):
            c = self.claims.get(key)
            if c is None or c.results is None or key in self.release_due:
                continue
            if any(f"{ns}/{p}" in self.live_pods for p in c.reserved):
                continue
            due = (ev.t + RELEASE_LATENCY_SECONDS + self.tol, ev.t, pod)
            self.release_due[key] = due
            heapq.heappush(self.due_heap, (due[0], key, due[1], due[2]))

    def overdue(self, now: float) -> None:
        """Claims still allocated past their release deadline (deadlines before ``now``)."""
        heap = self.due_heap
        while heap and heap[0][0] < now:
            deadline, key, ended, pod = heapq.heappop(heap)
            if self.release_due.get(key) != (deadline, ended, pod):
                continue  # released, or in use again, since
            del self.release_due[key]
            self.find("D3", (f"ResourceClaim {key}", f"Pod {pod}"), deadline,
                      f"claim {key} was still allocated at t={fmt_t(deadline)}, more than "
                      f"{RELEASE_LATENCY_SECONDS:g} s after its last consumer {pod} ended at t={fmt_t(ended)}")

    def scheduled(self, ev: Event, pod: str) -> None:
        claims = self.pod_claims.get(pod) or []
        self.live_pods.add(pod)
        if not claims:
            return
        self.out.applicable.add("D2")
        missing = self.unsatisfied(pod, ev.node or "", claims)
        if missing:
            self.pending.append((ev.t + self.tol, pod, ev.node or "", claims))

    # -- D2 helpers
    def unsatisfied(self, pod: str, node: str, claims: list[str]) -> list[str]:
        ns, _, name = pod.partition("/")
        out = []
        for cname in claims:
            c = self.claims.get(f"{ns}/{cname}")
            if c is None or c.results is None:
                out.append(f"{cname} (not allocated)")
            elif c.node not in (None, node):
                out.append(f"{cname} (allocated on node {c.node})")
            elif name not in c.reserved:
                out.append(f"{cname} (not reserved for the pod)")
        return out

    def satisfy(self, pod: str, t: float) -> None:
        keep = []
        for item in self.pending:
            if item[1] == pod and not self.unsatisfied(item[1], item[2], item[3]):
                continue
            keep.append(item)
        self.pending = keep

    def expire(self, now: float | None) -> None:
        keep = []
        for deadline, pod, node, claims in self.pending:
            if now is not None and now <= deadline:
                keep.append((deadline, pod, node, claims))
                continue
            missing = self.unsatisfied(pod, node, claims)
            if missing:
                self.find("D2", (f"Pod {pod}", f"Node {node}"), deadline - self.tol,
                          f"pod {pod} was bound to node {node} at t={fmt_t(deadline - self.tol)} without its "
                          f"claims: {'; '.join(missing)}")
        self.pending = keep

    # -- D1, D5, D7, D4
    def live_holders(self, key: DevKey, exclude: str) -> list[tuple[_Claim, dict[str, Any]]]:
        out = []
        for c in self.claims.values():
            if c.key == exclude or c.results is None:
                continue
            for r in c.results:
                if (str(r.get("driver")), str(r.get("pool")), str(r.get("device"))) == key:
                    out.append((c, r))
        return out

    def check_exclusive(self, ev: Event, c: _Claim) -> None:
        for r in c.results or []:
            if r.get("adminAccess"):
                continue
            key = (str(r.get("driver")), str(r.get("pool")), str(r.get("device")))
            others = [(o, rr) for o, rr in self.live_holders(key, c.key) if not rr.get("adminAccess")]
            dev = self.devices.get(key)
            shared = r.get("shareID") is not None and all(rr.get("shareID") is not None for _, rr in others)
            dev_name = "/".join(key)
            if others and not shared:
                self.find("D1", (f"ResourceClaim {c.key}", *(f"ResourceClaim {o.key}" for o, _ in others)), ev.t,
                          f"device {dev_name} is allocated to claim {c.key} at t={fmt_t(ev.t)} while claim(s) "
                          f"{', '.join(o.key for o, _ in others)} hold it")
                continue
            if shared and dev is not None:
                for cap, total in dev.capacity.items():
                    short = cap.removeprefix(f"{key[0]}/")
                    used = sum((_q(_consumed(rr, short, cap)) or Fraction(0)) for _, rr in [*others, (c, r)])
                    if used > total:
                        self.find("D1", (f"ResourceClaim {c.key}",), ev.t,
                                  f"shared device {dev_name} has {Quantity(used, 'BinarySI')} of {short} consumed at "
                                  f"t={fmt_t(ev.t)}; its capacity is {Quantity(total, 'BinarySI')}")

    def check_counters(self, ev: Event, c: _Claim) -> None:
        touched = {(str(r.get("driver")), str(r.get("pool"))) for r in c.results or []}
        if not any(k[:2] in touched for k in self.counters):
            return
        used: dict[tuple[str, str, str], dict[str, Fraction]] = {}
        seen: set[DevKey] = set()
        for o in self.claims.values():
            for r in o.results or []:
                key = (str(r.get("driver")), str(r.get("pool")), str(r.get("device")))
                if key in seen or r.get("adminAccess"):
                    continue
                seen.add(key)
                dev = self.devices.get(key)
                for cc in (dev.data.get("consumesCounters") or []) if dev else []:
                    ck = (key[0], key[1], str(cc.get("counterSet")))
                    slot = used.setdefault(ck, {})
                    for n, v in (cc.get("counters") or {}).items():
                        slot[n] = slot.get(n, Fraction(0)) + (_q(v) or Fraction(0))
        for ck, amounts in sorted(used.items()):
            if ck[:2] not in touched:
                continue
            total = self.counters.get(ck, {})
            for n, v in sorted(amounts.items()):
                if n not in total or v > total[n]:
                    has = str(Quantity(total[n])) if n in total else "no such counter"
                    self.find("D5", (f"ResourceClaim {c.key}",), ev.t,
                              f"counter {n} of counter set {ck[2]} in pool {ck[0]}/{ck[1]} is used {Quantity(v)} at "
                              f"t={fmt_t(ev.t)}; the pool has {has}")

    def _matches(self, dev: _Device, key: DevKey, exprs: list[str]) -> str | None:
        """The first selector the device fails (with why), or None."""
        for e in exprs:
            try:
                if not self.evaluator.matches(e, key, dev.cel):
                    return e
            except (CelRuntimeError, CelError) as err:
                return f"{e} (error: {err})"
        return None

    def _selectors(self, c: _Claim, request_name: str) -> tuple[list[str], dict[str, Any] | None]:
        req = _request(c.spec, request_name)
        if req is None:
            return [], None
        exprs = list(c.classes.get(str(req.get("deviceClassName")), []))
        exprs += [str((s.get("cel") or {}).get("expression")) for s in req.get("selectors") or []
                  if isinstance(s, dict)]
        return exprs, req

    def check_selectors(self, ev: Event, c: _Claim) -> None:
        if not c.spec:
            return
        for r in c.results or []:
            key = (str(r.get("driver")), str(r.get("pool")), str(r.get("device")))
            dev = self.devices.get(key)
            if dev is None:
                continue
            exprs, _ = self._selectors(c, str(r.get("request")))
            bad = self._matches(dev, key, exprs)
            if bad is not None:
                self.find("D7", (f"ResourceClaim {c.key}",), ev.t,
                          f"device {'/'.join(key)} allocated to claim {c.key} (request {r.get('request')}) at "
                          f"t={fmt_t(ev.t)} does not satisfy the selector {bad}")
        for con in (c.spec.get("devices") or {}).get("constraints") or []:
            reqs = [str(x) for x in con.get("requests") or []]
            for kind in ("matchAttribute", "distinctAttribute"):
                attr = con.get(kind)
                if not attr:
                    continue
                values = []
                for r in c.results or []:
                    if not _applies(reqs, str(r.get("request"))):
                        continue
                    dev = self.devices.get((str(r.get("driver")), str(r.get("pool")), str(r.get("device"))))
                    values.append(dev.attrs.get(attr, "<missing>") if dev else "<unknown device>")
                wrong = (len(set(map(str, values))) > 1 or "<missing>" in values) if kind == "matchAttribute" \
                    else (len(set(map(str, values))) != len(values) or "<missing>" in values)
                if wrong:
                    self.find("D7", (f"ResourceClaim {c.key}",), ev.t,
                              f"claim {c.key}'s {kind} {attr} does not hold at t={fmt_t(ev.t)}: values "
                              f"{[str(v) for v in values]}")

    def check_all_mode(self, ev: Event, c: _Claim) -> None:
        if not c.spec or c.node is None:
            return
        names = sorted({str(r.get("request")) for r in c.results or []})
        for name in names:
            exprs, req = self._selectors(c, name)
            if req is None or req.get("allocationMode") != "All":
                continue
            have = {(str(r.get("driver")), str(r.get("pool")), str(r.get("device")))
                    for r in c.results or [] if r.get("request") == name}
            want = {k for k, d in self.devices.items() if d.node == c.node and self._matches(d, k, exprs) is None}
            missing = sorted("/".join(k) for k in want - have)
            if missing:
                self.find("D4", (f"ResourceClaim {c.key}", f"Node {c.node}"), ev.t,
                          f"claim {c.key}'s request {name} (allocationMode All) at t={fmt_t(ev.t)} lacks matching "
                          f"device(s) {', '.join(missing)} of node {c.node}")

    def run(self) -> PassResult:
        for ev, k in zip(self.evs, self.evs.keys, strict=True):
            if self.pending:
                self.expire(ev.t)
            if self.due_heap:
                self.overdue(ev.t)
            typ = ev.type
            if typ == "NodeReady":
                self.node_ready(ev)
            elif typ == "ClaimCreated":
                self.claim_created(ev, k)
            elif typ == "ClaimAllocated":
                self.claim_allocated(ev, k)
            elif typ == "ClaimReleased":
                self.claim_released(ev, k)
            elif typ == "PodCreated":
                claims = ev.data.get("claims")
                if isinstance(claims, list):
                    self.pod_claims[k] = [str(x if not isinstance(x, dict) else x.get("name")) for x in claims]
            elif typ == "Scheduled":
                self.scheduled(ev, k)
            elif typ in ("PodSucceeded", "PodFailed", "PodDeleted"):
                self.pod_ended(ev, k)
        self.expire(None)
        return self.out


def dra_pass(events: Sequence[Event]) -> PassResult:
    """One pass over the timeline for D1–D7."""
    return _DRAPass(events).run()
