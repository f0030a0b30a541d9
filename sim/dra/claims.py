"""The resourceclaim controller (kube-controller-manager): claims from templates, ``reservedFor`` and
deallocation when the last consumer is gone.

Mirrors ``pkg/controller/resourceclaim`` and KEP-4381's claim lifecycle:

1. a pod is created → one ResourceClaim per ``spec.resourceClaims[]`` entry that names a
   ``resourceClaimTemplateName``, named ``<pod>-<podClaimName>`` and owned by the pod (``ClaimCreated``
   with ``data.pod``); an entry naming ``resourceClaimName`` refers to an existing, possibly shared claim;
2. the scheduler's DynamicResources plugin allocates the claims at Reserve and records them at
   PreBind (:meth:`ClaimController.allocated` → ``ClaimAllocated`` with ``node``, ``data.devices``,
   ``data.reservedFor``); a claim already allocated only gains the pod in ``reservedFor``;
3. a pod ends → it leaves every claim's ``reservedFor``; a claim whose ``reservedFor`` becomes empty is
   deallocated (``ClaimReleased``, devices free again); template claims are deleted with their pod,
   user claims stay (and can be allocated again, possibly elsewhere).

A plain class: every method returns the event payloads (:class:`ClaimEvent`) the engine writes, in
order. No simpy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from models.dra import DeviceClass, ResourceClaim, ResourceClaimSpec, ResourceClaimTemplate
from models.timeline import dumps, quote
from sim.dra.allocator import DeviceResult


@dataclass(frozen=True)
class PodClaimRef:
    """One ``pod.spec.resourceClaims[]`` entry."""

    name: str
    resourceClaimName: str | None = None
    resourceClaimTemplateName: str | None = None


@dataclass(frozen=True)
class ContainerClaims:
    """One container's ``resources.claims``: pod claim names, each with an optional request name."""

    name: str
    claims: tuple[tuple[str, str | None], ...] = ()


@dataclass
class Claim:
    """A ResourceClaim in the simulated API: its spec and its status."""

    namespace: str
    name: str
    spec: ResourceClaimSpec
    owner_pod: str | None = None  # made from a template for this pod
    results: list[DeviceResult] | None = None  # status.allocation.devices.results
    node: str | None = None  # where the allocation is usable
    reserved_for: list[str] = field(default_factory=list)  # pod names
    key: str = field(init=False, repr=False)  # namespace/name

    def __post_init__(self) -> None:
        self.key = f"{self.namespace}/{self.name}"

    @property
    def allocated(self) -> bool:
        return self.results is not None


@dataclass
class ClaimInfo:
    """What the engine attaches to a pod (by ``SimPod.seq``): its claims in ``spec.resourceClaims``
    order, as (pod claim name, claim key), and which container holds which claim."""

    pod: str
    namespace: str
    claims: list[tuple[str, str]]
    containers: list[ContainerClaims]
    missing: list[str] = field(default_factory=list)  # claim names that do not exist

    def payload(self) -> dict[str, Any]:
        """``PodCreated.data`` additions: ``claims`` (ResourceClaim names) and ``containers``."""
        return {"claims": [k.split("/", 1)[1] for _, k in self.claims],
                "containers": [{"name": c.name, "claims": [{"name": n, **({"request": r} if r else {})}
                                                            for n, r in c.claims]} for c in self.containers]}

    def encoded(self, containers_json: dict[tuple[int, ...], tuple[tuple[ContainerClaims, ...], str]]) -> str:
        """:meth:`payload` as the timeline encoder writes it (``dumps(self.payload())``), the containers
        part cached in ``containers_json`` (pods of one template share their ContainerClaims objects)."""
        key = tuple(map(id, self.containers))
        hit = containers_json.get(key)
        if hit is None or any(a is not b for a, b in zip(hit[0], self.containers, strict=True)):
            if len(containers_json) > 10_000:
                containers_json.clear()
            hit = containers_json[key] = (tuple(self.containers), dumps(self.payload()["containers"]))
        names = ",".join(quote(k.split("/", 1)[1]) for _, k in self.claims)
        return f'{{"claims":[{names}],"containers":{hit[1]}}}'


@dataclass(frozen=True)
class ClaimEvent:
    """One timeline event to write: ``type``, the ResourceClaim, ``node`` and ``data``."""

    type: str
    namespace: str
    name: str
    data: dict[str, Any]
    node: str | None = None
    kind: str = "ResourceClaim"
    #: ``data`` as the timeline encoder writes it, when it was cheaper to build it so (else None)
    encoded: str | None = None
    #: the allocation results behind ``data.devices`` (ClaimAllocated, ClaimReleased), for summary.json
    results: tuple[DeviceResult, ...] = ()


class ClaimController:
    """The claims of a simulated cluster and their lifecycle."""

    def __init__(self, templates: Iterable[ResourceClaimTemplate] = (), claims: Iterable[ResourceClaim] = (),
                 classes: Iterable[DeviceClass] = ()) -> None:
        self.classes = {c.metadata.name: c for c in classes}
        self.templates: dict[str, ResourceClaimTemplate] = {
            f"{t.metadata.namespace or 'default'}/{t.metadata.name}": t for t in templates}
        self.claims: dict[str, Claim] = {}
        self.pods: dict[int, ClaimInfo] = {}
        self._initial = list(claims)
        self._spec_cache: dict[int, tuple[Any, dict[str, Any]]] = {}
        self._spec_json: dict[int, tuple[Any, str]] = {}

    def start(self) -> list[ClaimEvent]:
        """``ClaimCreated`` for every user-created claim of the scenario (at time 0)."""
        out = []
        for rc in self._initial:
            c = Claim(rc.metadata.namespace or "default", rc.metadata.name, rc.spec)
            self.claims[c.key] = c
            out.append(ClaimEvent("ClaimCreated", c.namespace, c.name, self._spec_data(c)))
        self._initial = []
        return out

    def pod_created(self, seq: int, namespace: str, pod: str, resource_claims: Iterable[PodClaimRef],
                    containers: Iterable[ContainerClaims] = ()) -> tuple[ClaimInfo, list[ClaimEvent]]:
        """Create the pod's template claims; the :class:`ClaimInfo` to keep for it and the events."""
        refs = list(resource_claims)
        events: list[ClaimEvent] = []
        info = ClaimInfo(pod, namespace, [], list(containers) or
                         [ContainerClaims("main", tuple((r.name, None) for r in refs))] if refs else [])
        for r in refs:
            if r.resourceClaimTemplateName is not None:
                tmpl = self.templates.get(f"{namespace}/{r.resourceClaimTemplateName}")
                name = f"{pod}-{r.name}"
                if tmpl is None:
                    info.missing.append(f"resourceclaimtemplates.resource.k8s.io "
                                        f"\"{r.resourceClaimTemplateName}\" not found")
                    continue
                # the template was validated when it loaded: the claim shares its spec
                c = Claim(namespace, name, tmpl.spec.spec, owner_pod=pod)
                self.claims[c.key] = c
                data = {"pod": pod, **self._spec_data(c)}
                events.append(ClaimEvent("ClaimCreated", namespace, name, data,
                                         encoded=f'{{"pod":{quote(pod)},{self._spec_json[id(c.spec)][1]}'))
                info.claims.append((r.name, c.key))
            else:
                key = f"{namespace}/{r.resourceClaimName}"
                if key not in self.claims:
                    info.missing.append(f"resourceclaims.resource.k8s.io \"{r.resourceClaimName}\" not found")
                    continue
                info.claims.append((r.name, key))
        self.pods[seq] = info
        return info, events

    def _spec_data(self, c: Claim) -> dict[str, Any]:
        """``ClaimCreated.data`` besides ``pod``: the claim's ``spec`` (k8s shape) and the selectors of
        the DeviceClasses it names (``deviceClasses: {name: [CEL expression]}``), so a checker of the
        timeline can evaluate every selector (D4, D7) without the scenario."""
        hit = self._spec_cache.get(id(c.spec))
        if hit is None or hit[0] is not c.spec:
            spec = c.spec.model_dump(mode="json", by_alias=True, exclude_none=True)
            names = sorted({alt.deviceClassName for r in c.spec.devices.requests for _, alt in r.alternatives()})
            data = {"spec": spec, "deviceClasses": {
                n: [s.cel.expression for s in self.classes[n].spec.selectors] for n in names if n in self.classes}}
            hit = self._spec_cache[id(c.spec)] = (c.spec, data)
            self._spec_json[id(c.spec)] = (c.spec, dumps(data)[1:])  # what follows a leading "pod" key
        return dict(hit[1])

    def claims_of(self, seq: int) -> list[Claim]:
        info = self.pods.get(seq)
        return [self.claims[k] for _, k in info.claims] if info else []

    def allocated(self, seq: int, node: str, results: Mapping[str, list[DeviceResult]]) -> list[ClaimEvent]:
        """PreBind: write the new allocations (``results`` by claim key) and reserve every claim of the pod
        for it. One ``ClaimAllocated`` per claim newly allocated or newly reserved for this pod."""
        info = self.pods[seq]
        out = []
        for _, key in info.claims:
            c = self.claims[key]
            if key in results:
                c.results = list(results[key])
                c.node = node
            if info.pod not in c.reserved_for:
                c.reserved_for.append(info.pod)
            data: dict[str, Any] = {"devices": [r.payload() for r in c.results or []],
                                    "reservedFor": list(c.reserved_for)}
            holders = self._containers(info, key, c)
            if holders:
                data["containers"] = holders
            out.append(ClaimEvent("ClaimAllocated", c.namespace, c.name, data, node=c.node,
                                  results=tuple(c.results or ())))
        return out

    @staticmethod
    def _containers(info: ClaimInfo, key: str, c: Claim) -> dict[str, list[str]]:
        """``{container: [request]}``: which of this pod's containers get which of the claim's requests
        (a container naming the claim without a request gets all of them)."""
        pod_claim = next(n for n, k in info.claims if k == key)
        requests = [r.name for r in c.spec.devices.requests]
        out: dict[str, list[str]] = {}
        for ctr in info.containers:
            for n, req in ctr.claims:
                if n == pod_claim:
                    out.setdefault(ctr.name, []).extend([req] if req else requests)
        return out

    def unreserved(self, seq: int) -> None:
        """Unreserve after a failed bind: the pod leaves ``reservedFor`` (no event; nothing was written)."""
        info = self.pods.get(seq)
        for _, key in info.claims if info else []:
            c = self.claims[key]
            if info is not None and info.pod in c.reserved_for:
                c.reserved_for.remove(info.pod)

    def pod_finished(self, seq: int) -> tuple[list[DeviceResult], list[ClaimEvent]]:
        """The pod is terminal or deleted: it leaves ``reservedFor``; claims left without consumers are
        deallocated (``ClaimReleased``). Returns the device results freed (for the plugin's usage) and
        the events."""
        info = self.pods.pop(seq, None)
        freed: list[DeviceResult] = []
        out: list[ClaimEvent] = []
        for _, key in info.claims if info else []:
            c = self.claims[key]
            if info is not None and info.pod in c.reserved_for:
                c.reserved_for.remove(info.pod)
            if c.reserved_for or c.results is None:
                if c.owner_pod is not None and not c.reserved_for:
                    del self.claims[key]
                continue
            freed.extend(c.results)
            out.append(ClaimEvent("ClaimReleased", c.namespace, c.name, {
                "devices": [r.payload() for r in c.results], **({"pod": info.pod} if info else {})}, node=c.node,
                results=tuple(c.results)))
            c.results = None
            c.node = None
            if c.owner_pod is not None:
                del self.claims[key]
        return freed, out
