"""ResourceClaims (``resource.k8s.io``, DRA): ClaimCreated, ClaimAllocated and ClaimReleased.

A claim is allocated when ``status.allocation`` appears (its devices and the node its node selector
names) and released when the allocation goes away or the claim is deleted. The pod a claim serves is
the one in ``status.reservedFor``, else its owning Pod.
"""

from __future__ import annotations

from typing import Any

from validator.normalize.core import Normalizer, RecordContext, Translator
from validator.normalize.fields import as_dict, as_list, controller_owner, text

#: Node-selector keys that name one node.
_NODE_NAME_KEYS = ("metadata.name", "kubernetes.io/hostname")


def claim_devices(claim: dict[str, Any]) -> list[dict[str, str]]:
    """``[{driver, pool, device}]`` of a claim's allocation results."""
    results = as_list(as_dict(as_dict(as_dict(claim.get("status")).get("allocation")).get("devices")).get("results"))
    return [{"driver": str(r.get("driver")), "pool": str(r.get("pool")), "device": str(r.get("device"))}
            for r in results if isinstance(r, dict)]


def allocation_node(allocation: dict[str, Any]) -> str | None:
    """The node a claim is allocated on: a node selector that names exactly one node."""
    names: list[str] = []
    for term in as_list(as_dict(allocation.get("nodeSelector")).get("nodeSelectorTerms")):
        for requirement in as_list(as_dict(term).get("matchFields")) + as_list(as_dict(term).get("matchExpressions")):
            req = as_dict(requirement)
            if req.get("key") in _NODE_NAME_KEYS and req.get("operator") == "In":
                names += [v for v in as_list(req.get("values")) if isinstance(v, str)]
    return names[0] if len(set(names)) == 1 else None


def translate_claim(norm: Normalizer, ctx: RecordContext, obj: dict[str, Any], deleted: bool) -> None:
    claim = norm.track("ResourceClaim", obj)
    if claim is None:
        return
    meta, status = as_dict(obj.get("metadata")), as_dict(obj.get("status"))
    owner = controller_owner(meta)
    reserved = [as_dict(r) for r in as_list(status.get("reservedFor")) if as_dict(r).get("resource") == "pods"]
    pod = text(reserved[0].get("name")) if reserved else (
        owner["name"] if owner and owner["kind"] == "Pod" else claim.extra.get("pod"))
    if pod:
        claim.extra["pod"] = pod
    if "created" not in claim.emitted:
        claim.emitted.add("created")
        t, preexisting = norm.time_of(ctx, meta.get("creationTimestamp"), claim)
        norm.emit(ctx, t, preexisting, "ClaimCreated", claim, data={"pod": pod} if pod else None)
    allocation = as_dict(status.get("allocation"))
    if allocation and "allocated" not in claim.emitted:
        claim.emitted.add("allocated")
        claim.node = allocation_node(allocation)
        claim.extra["devices"] = claim_devices(obj)
        data: dict[str, Any] = {"devices": claim.extra["devices"]}
        if pod:
            data["pod"] = pod
        t, preexisting = norm.time_of(ctx, allocation.get("allocationTimestamp"), claim)
        norm.emit(ctx, t, preexisting, "ClaimAllocated", claim, node=claim.node, data=data)
    if "allocated" in claim.emitted and (deleted or not allocation):
        claim.emitted.discard("allocated")
        data = {"devices": claim.extra.get("devices", [])}
        if claim.extra.get("pod"):
            data["pod"] = claim.extra["pod"]
        t, preexisting = norm.time_of(ctx, None, claim)
        norm.emit(ctx, t, preexisting, "ClaimReleased", claim, node=claim.node, data=data)
    if deleted:
        norm.forget(claim)


TRANSLATORS: dict[tuple[str, str], Translator] = {("resource.k8s.io", "resourceclaims"): translate_claim}
