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

from typing import Any, cast

from sim.cluster import Node
from sim.dra.allocator import Inventory
from sim.dra.claims import ClaimEvent, ContainerClaims
from sim.dra.metrics import DRAMetrics
from sim.dra.plugin import DynamicResources, counters_payload, devices_payload
from sim.dra.setup import DRASetup, pod_claim_refs
from sim.host import ControllerHost
from sim.pods import SimPod

#: the node name a pool's devices are gathered under once (see :meth:`DRAController._node_ready`)
_PLACEHOLDER = "kubetwin-node-pool-template.invalid"


class DRAController:
    name = "dra"

    def __init__(self, setup: DRASetup, plugin: DynamicResources) -> None:
        self.setup = setup
        self.plugin = plugin
        self._host: ControllerHost | None = None
        self._created: list[ClaimEvent] = []
        # summary.json's "dra": devices held over time (sim.dra.metrics), claims
        self.metrics = DRAMetrics()
        self._claims_made = 0
        self._claims_allocated: set[str] = set()
        self._bound: set[int] = set()
        #: per (generator id, pod-set name), read once: its claim references, container claims and the
        #: extended resources a DeviceClass serves
        self._refs: dict[tuple[int, str | None], Any] = {}
        #: per node pool: its devices gathered under the placeholder name, and their NodeReady payloads
        self._pool_devices: dict[str, tuple[Inventory, list[dict[str, Any]], list[dict[str, Any]]]] = {}
        #: a host with ``accepts_encoded_data`` takes event payloads already JSON-encoded (``str``) where
        #: ``dict`` is typed, saving an encoding per claim event and per pod; the same bytes either way
        self._encoded = False
        self._containers_json: dict[tuple[int, ...], tuple[tuple[ContainerClaims, ...], str]] = {}

    @property
    def host(self) -> ControllerHost:
        assert self._host is not None, "start() first"
        return self._host

    def start(self, host: ControllerHost) -> None:
        self._host = host
        self._encoded = bool(getattr(host, "accepts_encoded_data", False))
        for ev in self.plugin.controller.start():
            self._emit(ev)
        host.extend_node_ready(self._node_ready)
        host.extend_pod_created(self._pod_data)
        host.subscribe("pod_created", self._claims_created)
        host.subscribe("pod_binding", self._allocated)
        host.subscribe("pod_finished", self._pod_finished)
        host.subscribe("node_removed", self._node_removed)

    def _emit(self, ev: ClaimEvent) -> None:
        self._count(ev)
        data = ev.encoded if self._encoded and ev.encoded is not None else ev.data
        self.host.emit(ev.type, ev.kind, ev.name, ev.namespace, node=ev.node, data=cast(Any, data))

    def _count(self, ev: ClaimEvent) -> None:
        typ = ev.type
        if typ == "ClaimCreated":
            self._claims_made += 1
            return
        key = f"{ev.namespace}/{ev.name}"
        if typ == "ClaimAllocated":
            self._claims_allocated.add(key)
            self.metrics.allocated(self.host.now, key, ev.results)
        elif typ == "ClaimReleased":
            self._claims_allocated.discard(key)
            self.metrics.released(self.host.now, key)

    def summary_section(self, end: float) -> dict[str, Any]:
        """``summary.json``'s ``dra``: devices, their time-weighted use by class and model, shared
        capacity, and the claims."""
        m = self.metrics.section(end)
        return {"dra": {"devices": m["devices"], "deviceAllocationRatio": m["deviceAllocationRatio"],
                        "devicesInUseAtEnd": m["devicesInUseAtEnd"],
                        "claimsCreated": self._claims_made,
                        "claimsAllocatedAtEnd": len(self._claims_allocated),
                        "claimsPendingAtEnd": len(self._pending_claims() - self._claims_allocated),
                        "byDeviceClass": m["byDeviceClass"], "byModel": m["byModel"],
                        "sharedDevices": m["sharedDevices"], "sharedUtilisation": m["sharedUtilisation"]}}

    def _pending_claims(self) -> set[str]:
        """Claims some live pod still waits for (its pod not bound yet)."""
        out: set[str] = set()
        for seq, info in self.plugin.controller.pods.items():
            if seq in self._bound:
                continue
            out.update(k for _, k in info.claims)
        return out

    def _node_ready(self, node: Node) -> dict[str, Any]:
        # a pool's nodes publish the same slices but for the names (every per-node pool is named after
        # its node): gather them once per node pool under a placeholder name, then copy per node
        pool = node.pool.name
        tmpl = self._pool_devices.get(pool)
        if tmpl is None:
            inv = Inventory.from_slices(self.setup.slices_for(pool, _PLACEHOLDER))
            tmpl = self._pool_devices[pool] = (inv, devices_payload(inv), counters_payload(inv))
        name = node.name
        inv = tmpl[0].for_pool(_PLACEHOLDER, name)
        self.plugin.register(node.idx, name, inv)
        out: dict[str, Any] = {}
        if tmpl[1]:
            out["devices"] = [{**e, "pool": name} if e["pool"] == _PLACEHOLDER else e for e in tmpl[1]]
            self.metrics.node_devices(self.host.now, name, inv.devices)
        if tmpl[2]:
            out["sharedCounters"] = [{**e, "pool": name} if e["pool"] == _PLACEHOLDER else e for e in tmpl[2]]
        return out

    def _node_removed(self, node: Node) -> None:
        self.plugin.node_removed(node.idx)
        self.metrics.node_removed(self.host.now, node.name)

    def _pod_data(self, pod: SimPod) -> dict[str, Any] | None:
        generator = pod.instance.generator
        key = (id(generator), pod.pod_set)
        refs = self._refs.get(key)
        if refs is None:
            spec = generator.spec
            template = spec.template
            if spec.podSets is not None:
                template = next((ps.template for ps in spec.podSets if ps.name == pod.pod_set), None)
            refs = self._refs[key] = (*pod_claim_refs(template), self._served(pod))
        claims, containers, served = refs
        if served:
            self.plugin.set_extended_requests(pod.seq, served)
        if not claims:
            return None
        info, events = self.plugin.controller.pod_created(pod.seq, pod.namespace, pod.name, claims, containers)
        self._created = events
        if self._encoded:  # the host takes the payload already encoded: the containers part once per template
            return cast(dict[str, Any], info.encoded(self._containers_json))
        return info.payload()

    def _served(self, pod: SimPod) -> dict[str, int]:
        """The pod's requests for extended resources a DeviceClass serves, in whole devices."""
        if not self.plugin.extended:
            return {}
        pod_set = next((ps for ps in pod.instance.generator.pod_sets if ps.name == pod.pod_set), None)
        if pod_set is None:
            return {}
        reqs = pod_set.requests
        if not any(self.plugin.serves(r) and q >= 1000 for r, q in reqs.items()):
            return {}
        # every requested resource: the request names of the scheduler's claim index into them (sorted)
        return {r: q // 1000 if self.plugin.serves(r) else 0 for r, q in reqs.items()}

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
