"""DRA on the controller host: the resourceclaim controller and the kubelet's view of devices.

Wires :mod:`sim.dra` into a run. In a cluster the DRA driver publishes each node's ResourceSlices when
the node registers, kube-controller-manager's resourceclaim controller creates a pod's claims from its
ResourceClaimTemplates and deallocates a claim when its last consumer is gone, and the scheduler's
DynamicResources plugin allocates claims at Reserve and writes them at PreBind. Here:

* ``NodeReady.data.devices`` (and ``sharedCounters``) — the node's slices, registered with the plugin;
* ``PodCreated.data.claims`` / ``containers``, then ``ClaimCreated`` for each template claim;
* ``ClaimAllocated`` just before the pod's ``Scheduled`` (the plugin's PreBind results);
* ``ClaimReleased`` when a pod ends and it was a claim's last consumer.
"""

from __future__ import annotations

from typing import Any

from sim.cluster import Node
from sim.dra.claims import ClaimEvent
from sim.dra.plugin import DynamicResources
from sim.dra.setup import DRASetup, pod_claim_refs
from sim.host import ControllerHost
from sim.pods import SimPod


class DRAController:
    name = "dra"

    def __init__(self, setup: DRASetup, plugin: DynamicResources) -> None:
        self.setup = setup
        self.plugin = plugin
        self._host: ControllerHost | None = None
        self._created: list[ClaimEvent] = []
        # summary.json's "dra": devices in use over time (a shared device counts once), claims
        self._devices_total = 0
        self._in_use: dict[tuple[str, str, str], int] = {}
        self._since = 0.0
        self._device_seconds = 0.0
        self._capacity_seconds = 0.0
        self._claims_made = 0
        self._claims_allocated: set[str] = set()
        self._bound: set[int] = set()
        #: pod-set claim references per (generator id, pod-set name), read once
        self._refs: dict[tuple[int, str | None], Any] = {}

    @property
    def host(self) -> ControllerHost:
        assert self._host is not None, "start() first"
        return self._host

    def start(self, host: ControllerHost) -> None:
        self._host = host
        for ev in self.plugin.controller.start():
            self._emit(ev)
        host.extend_node_ready(self._node_ready)
        host.extend_pod_created(self._pod_data)
        host.subscribe("pod_created", self._claims_created)
        host.subscribe("pod_binding", self._allocated)
        host.subscribe("pod_finished", self._pod_finished)
        host.subscribe("node_removed", lambda node: self.plugin.node_removed(node.idx))

    def _emit(self, ev: ClaimEvent) -> None:
        self._count(ev)
        self.host.emit(ev.type, ev.kind, ev.name, ev.namespace, node=ev.node, data=ev.data)

    def _advance(self) -> None:
        now = self.host.now
        dt = now - self._since
        if dt > 0:
            self._device_seconds += len(self._in_use) * dt
            self._capacity_seconds += self._devices_total * dt
            self._since = now

    def _count(self, ev: ClaimEvent) -> None:
        key = f"{ev.namespace}/{ev.name}"
        if ev.type == "ClaimCreated":
            self._claims_made += 1
            return
        devices = [(d["driver"], d["pool"], d["device"]) for d in ev.data.get("devices") or []]
        self._advance()
        if ev.type == "ClaimAllocated":
            self._claims_allocated.add(key)
            for d in devices:
                self._in_use[d] = self._in_use.get(d, 0) + 1
        elif ev.type == "ClaimReleased":
            self._claims_allocated.discard(key)
            for d in devices:
                left = self._in_use.get(d, 0) - 1
                if left > 0:
                    self._in_use[d] = left
                else:
                    self._in_use.pop(d, None)

    def summary_section(self, end: float) -> dict[str, Any]:
        """``summary.json``'s ``dra``: devices, their time-weighted share in use, and the claims."""
        self._advance()
        ratio = self._device_seconds / self._capacity_seconds if self._capacity_seconds else None
        return {"dra": {"devices": self._devices_total,
                        "deviceAllocationRatio": None if ratio is None else round(ratio, 6),
                        "devicesInUseAtEnd": len(self._in_use),
                        "claimsCreated": self._claims_made,
                        "claimsAllocatedAtEnd": len(self._claims_allocated),
                        "claimsPendingAtEnd": len(self._pending_claims() - self._claims_allocated)}}

    def _pending_claims(self) -> set[str]:
        """Claims some live pod still waits for (its pod not bound yet)."""
        out: set[str] = set()
        for seq, info in self.plugin.controller.pods.items():
            if seq in self._bound:
                continue
            out.update(k for _, k in info.claims)
        return out

    def _node_ready(self, node: Node) -> dict[str, Any]:
        devices = self.plugin.node_ready(node.idx, node.name, self.setup.slices_for(node.pool.name, node.name))
        out: dict[str, Any] = {}
        if devices:
            out["devices"] = devices
            self._advance()
            self._devices_total += len(devices)
        counters = self.plugin.node_counters(node.idx)
        if counters:
            out["sharedCounters"] = counters
        return out

    def _pod_data(self, pod: SimPod) -> dict[str, Any] | None:
        generator = pod.instance.generator
        key = (id(generator), pod.pod_set)
        refs = self._refs.get(key)
        if refs is None:
            spec = generator.spec
            template = spec.template
            if spec.podSets is not None:
                template = next((ps.template for ps in spec.podSets if ps.name == pod.pod_set), None)
            refs = self._refs[key] = pod_claim_refs(template)
        claims, containers = refs
        served = self._served(pod)
        if served:
            self.plugin.set_extended_requests(pod.seq, served)
        if not claims:
            return None
        info, events = self.plugin.controller.pod_created(pod.seq, pod.namespace, pod.name, claims, containers)
        self._created = events
        return info.payload()

    def _served(self, pod: SimPod) -> dict[str, int]:
        """The pod's requests for extended resources a DeviceClass serves, in whole devices."""
        if not self.plugin.extended:
            return {}
        pod_set = next((ps for ps in pod.instance.generator.pod_sets if ps.name == pod.pod_set), None)
        if pod_set is None:
            return {}
        return {r: q // 1000 for r, q in pod_set.requests.items() if self.plugin.serves(r) and q >= 1000}

    def _claims_created(self, pod: SimPod) -> None:
        events, self._created = self._created, []
        for ev in events:
            self._emit(ev)

    def _allocated(self, pod: SimPod, node: int) -> None:
        self._bound.add(pod.seq)
        events, self.plugin.events = self.plugin.events, []
        for ev in events:
            self._emit(ev)

    def _pod_finished(self, pod: SimPod, phase: str) -> None:
        self._bound.discard(pod.seq)
        for ev in self.plugin.pod_finished(pod):
            self._emit(ev)
