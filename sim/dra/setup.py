"""A scenario's DRA world, ready for the engine: DeviceClasses, the claim controller with the
scenario's templates and claims, each node's ResourceSlices and the ``DynamicResources`` plugin.

In a real cluster the DRA driver's kubelet plugin publishes each node's ResourceSlices and the
administrator creates DeviceClasses; here a node pool's ``resourceSlices`` (inline objects or files)
and ``devices`` shorthand are the per-node template (:func:`models.dra.node_slices`) and ``spec.dra``
holds the rest.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from models.dra import (
    DeviceClass,
    DeviceShorthand,
    DRAObject,
    ResourceClaim,
    ResourceClaimTemplate,
    ResourceSlice,
    load_slice_file,
    node_slices,
)
from models.scenario import Scenario

if TYPE_CHECKING:  # claims, plugin, allocator and CEL load only when a scenario uses DRA
    from sim.dra.claims import ContainerClaims, PodClaimRef
    from sim.dra.plugin import DynamicResources


@dataclass
class PoolDevices:
    templates: list[ResourceSlice]
    devices: DeviceShorthand | list[DeviceShorthand] | None


@dataclass
class DRASetup:
    classes: list[DeviceClass] = field(default_factory=list)
    templates: list[ResourceClaimTemplate] = field(default_factory=list)
    claims: list[ResourceClaim] = field(default_factory=list)
    pools: dict[str, PoolDevices] = field(default_factory=dict)

    def slices_for(self, pool: str, node: str) -> list[ResourceSlice]:
        """The ResourceSlices node ``node`` of pool ``pool`` publishes (none for a pool without devices)."""
        p = self.pools.get(pool)
        return node_slices(p.templates, p.devices, node) if p else []

    def plugin(self) -> DynamicResources:
        """A fresh DynamicResources plugin with its own claim controller."""
        from sim.dra.claims import ClaimController
        from sim.dra.plugin import DynamicResources

        return DynamicResources(self.classes, ClaimController(self.templates, self.claims, self.classes))


def dra_setup(sc: Scenario, extra: Iterable[DRAObject] = ()) -> DRASetup | None:
    """The scenario's DRA objects (``spec.dra``, node pools, plus ``extra`` from ``spec.manifests``);
    ``None`` when the scenario uses no DRA at all. Slice files are read here (InputError if unreadable)."""
    out = DRASetup()
    if sc.spec.dra is not None:
        out.classes.extend(sc.spec.dra.deviceClasses)
        out.templates.extend(sc.spec.dra.resourceClaimTemplates)
        out.claims.extend(sc.spec.dra.resourceClaims)
    for o in extra:
        if isinstance(o, DeviceClass):
            out.classes.append(o)
        elif isinstance(o, ResourceClaimTemplate):
            out.templates.append(o)
        elif isinstance(o, ResourceClaim):
            out.claims.append(o)
    for pool in sc.spec.cluster.nodePools:
        templates: list[ResourceSlice] = []
        for s in pool.resourceSlices:
            templates.extend(load_slice_file(s, sc.base_dir) if isinstance(s, str) else [s])
        if templates or pool.devices:
            out.pools[pool.name] = PoolDevices(templates, pool.devices)
    uses_claims = any((w.template is not None and w.template.resourceClaims) or
                      any(ps.template.resourceClaims for ps in w.podSets or []) for w in sc.spec.workloads)
    if not (out.classes or out.templates or out.claims or out.pools or uses_claims):
        return None
    return out


def pod_claim_refs(template: object) -> tuple[list[PodClaimRef], list[ContainerClaims]]:
    """A workload template's ``resourceClaims`` and container claims as the controller takes them."""
    from models.dra import DRAPodTemplate
    from sim.dra.claims import ContainerClaims, PodClaimRef

    if not isinstance(template, DRAPodTemplate):
        return [], []
    refs = [PodClaimRef(c.name, c.resourceClaimName, c.resourceClaimTemplateName) for c in template.resourceClaims]
    containers = [ContainerClaims(name, tuple(claims)) for name, claims in template.container_claims()]
    return refs, containers
