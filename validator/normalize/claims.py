"""ResourceClaims (``resource.k8s.io``, DRA): ClaimCreated, ClaimAllocated and ClaimReleased.

A claim is allocated when ``status.allocation`` appears (its devices and the node its node selector
names) and released when the allocation goes away or the claim is deleted. The pod a claim serves is
the one in ``status.reservedFor``, else its owning Pod. The payloads are the simulator's:
``ClaimCreated.data.spec`` is the claim's spec in ``resource.k8s.io/v1`` shape (a ``v1beta1``/``v1beta2``
claim is converted), ``ClaimAllocated.data.devices`` the allocation results (request, driver, pool,
device, ``consumedCapacity``, ``shareID``, ``adminAccess``) and ``data.reservedFor`` the pods it is
reserved for — another ``ClaimAllocated`` follows whenever a pod joins ``reservedFor`` of a claim
already allocated (a shared claim). ``deviceClasses`` on ``ClaimCreated`` and the claim names on
``PodCreated`` are filled in at the end (:mod:`validator.normalize.slices`).
"""

from __future__ import annotations

from typing import Any

from models.dra import ResourceClaim, capacity_key, parse_dra_object
from models.errors import InputError
from validator.normalize.core import Normalizer, RecordContext, Translator
from validator.normalize.fields import as_dict, as_list, canonical_quantity, controller_owner, text
from validator.normalize.slices import POD_CLAIM_ANNOTATION, dra_state

#: Node-selector keys that name one node.
_NODE_NAME_KEYS = ("metadata.name", "kubernetes.io/hostname")


def claim_devices(claim: dict[str, Any]) -> list[dict[str, Any]]:
    """``[{request, driver, pool, device, consumedCapacity?, shareID?, adminAccess?}]`` of a claim's
    allocation results (``ClaimAllocated.data.devices``)."""
    results = as_list(as_dict(as_dict(as_dict(claim.get("status")).get("allocation")).get("devices")).get("results"))
    out: list[dict[str, Any]] = []
    for r in results:
        if not isinstance(r, dict):
            continue
        d: dict[str, Any] = {"request": str(r.get("request")), "driver": str(r.get("driver")),
                             "pool": str(r.get("pool")), "device": str(r.get("device"))}
        consumed = {capacity_key(str(k), d["driver"]): q for k, v in sorted(as_dict(r.get("consumedCapacity")).items())
                    if (q := canonical_quantity(v)) is not None}
        if consumed:
            d["consumedCapacity"] = consumed
        if text(r.get("shareID")):
            d["shareID"] = str(r["shareID"])
        if r.get("adminAccess") is True:
            d["adminAccess"] = True
        out.append(d)
    return out


def claim_spec(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The claim's spec in ``resource.k8s.io/v1`` shape, as the simulator writes it (``None`` when the
    object does not validate)."""
    parsed = None
    # an object without apiVersion (older recordings) is read as v1, else in v1beta1's request shape
    for api_version in ("resource.k8s.io/v1", "resource.k8s.io/v1beta1"):
        try:
            parsed, _ = parse_dra_object({"kind": "ResourceClaim", "apiVersion": api_version, **obj})
            break
        except InputError:
            continue
    if not isinstance(parsed, ResourceClaim):
        return None
    return parsed.spec.model_dump(mode="json", by_alias=True, exclude_none=True)


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
    state = dra_state(norm)
    meta, status = as_dict(obj.get("metadata")), as_dict(obj.get("status"))
    owner = controller_owner(meta)
    reserved = [as_dict(r) for r in as_list(status.get("reservedFor")) if as_dict(r).get("resource") == "pods"]
    owner_pod = owner["name"] if owner and owner["kind"] == "Pod" else None
    pod = text(reserved[0].get("name")) if reserved else (owner_pod or claim.extra.get("pod"))
    if pod:
        claim.extra["pod"] = pod
    pod_claim = text(as_dict(meta.get("annotations")).get(POD_CLAIM_ANNOTATION))
    if owner_pod and pod_claim:
        state.template_claims[(claim.namespace, owner_pod, pod_claim)] = claim.name
    if "created" not in claim.emitted:
        claim.emitted.add("created")
        created: dict[str, Any] = {"pod": owner_pod} if owner_pod else {}
        spec = claim_spec(obj)
        if spec is not None:
            created["spec"] = spec
        t, preexisting = norm.time_of(ctx, meta.get("creationTimestamp"), claim)
        norm.emit(ctx, t, preexisting, "ClaimCreated", claim, data=created or None)
    allocation = as_dict(status.get("allocation"))
    names = [str(r.get("name")) for r in reserved if text(r.get("name"))]
    if allocation and "allocated" not in claim.emitted:
        claim.emitted.add("allocated")
        claim.node = allocation_node(allocation)
        claim.extra["devices"] = claim_devices(obj)
        claim.extra["reservedFor"] = names
        t, preexisting = norm.time_of(ctx, allocation.get("allocationTimestamp"), claim)
        norm.emit(ctx, t, preexisting, "ClaimAllocated", claim, node=claim.node,
                  data={"devices": claim.extra["devices"], "reservedFor": names})
    elif allocation and any(n not in claim.extra.get("reservedFor", []) for n in names):
        claim.extra["reservedFor"] = names  # a pod joined the claim's consumers (a shared claim)
        t, preexisting = norm.time_of(ctx, None, claim)
        norm.emit(ctx, t, preexisting, "ClaimAllocated", claim, node=claim.node,
                  data={"devices": claim.extra["devices"], "reservedFor": names})
    elif allocation:
        claim.extra["reservedFor"] = names
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
