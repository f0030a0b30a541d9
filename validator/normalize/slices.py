"""ResourceSlices and DeviceClasses (``resource.k8s.io``, DRA): the devices of ``NodeReady`` and the
selectors of ``ClaimCreated``.

A DRA driver's kubelet plugin publishes each node's devices as ResourceSlices (``spec.nodeName``); an
administrator creates DeviceClasses. Neither has a timeline event of its own: the simulator writes a
node's devices on its ``NodeReady`` (``data.devices``, ``data.sharedCounters``) and a claim's class
selectors on its ``ClaimCreated`` (``data.deviceClasses``), and the D1–D7 checks read them there. A
recording does the same here, once every record is in (slices and classes may arrive in any order
relative to the nodes and claims):

* each ``NodeReady`` gets the devices of the slices naming its node — the last state seen of each slice
  (a slice deleted with its node keeps its last state), the highest generation of each pool, in the
  simulator's format (:func:`models.dra.node_devices_payload`);
* each ``ClaimCreated`` gets the selectors of the DeviceClasses its requests name;
* each ``PodCreated`` gets ``data.claims`` as the names of the ResourceClaims the pod uses (a template
  claim's generated name, from the claim's owner and its ``resource.kubernetes.io/pod-claim-name``
  annotation), as the simulator writes them.

A slice that is not one node's (``nodeSelector``, ``allNodes``) or whose node was never seen Ready, or
an object that does not validate, is reported as a warning.
"""

from __future__ import annotations

from typing import Any

from models.dra import DeviceClass, ResourceSlice, node_devices_payload, parse_dra_object
from models.errors import InputError
from validator.normalize.core import Normalizer, RecordContext, Translator
from validator.normalize.fields import as_dict, as_list, text

#: the annotation the resourceclaim controller puts on a template claim: the pod's claim entry name
POD_CLAIM_ANNOTATION = "resource.kubernetes.io/pod-claim-name"


class DRAState:
    """What the DRA translators remember until the end of the recording; its own finisher."""

    def __init__(self) -> None:
        self.slices: dict[str, ResourceSlice] = {}
        self.classes: dict[str, list[str]] = {}
        #: (namespace, pod, pod claim name) -> generated ResourceClaim name
        self.template_claims: dict[tuple[str | None, str, str], str] = {}
        self.warned: set[str] = set()

    def warn(self, norm: Normalizer, key: str, message: str) -> None:
        if key not in self.warned:
            self.warned.add(key)
            norm.warnings.append(message)

    def __call__(self, norm: Normalizer) -> None:
        by_node: dict[str, list[ResourceSlice]] = {}
        for name in sorted(self.slices):
            s = self.slices[name]
            if s.spec.nodeName:
                by_node.setdefault(s.spec.nodeName, []).append(s)
            else:
                self.warn(norm, f"slice/{name}", f"ResourceSlice {name} is not published for one node "
                                                 "(nodeSelector, allNodes): its devices are not on the timeline")
        ready: set[str] = set()
        for _, _, _, ev in norm.out:
            typ, obj, data = ev["type"], ev["obj"], ev.get("data")
            if typ == "NodeReady" and obj["name"] in by_node and isinstance(data, dict):
                ready.add(obj["name"])
                devices, counters = node_devices_payload(by_node[obj["name"]])
                if devices:
                    data["devices"] = devices
                if counters:
                    data["sharedCounters"] = counters
            elif typ == "ClaimCreated" and isinstance(data, dict) and isinstance(data.get("spec"), dict):
                names = sorted({str(as_dict(alt).get("deviceClassName"))
                                for r in as_list(as_dict(data["spec"].get("devices")).get("requests"))
                                for alt in [as_dict(r).get("exactly"), *as_list(as_dict(r).get("firstAvailable"))]
                                if as_dict(alt).get("deviceClassName")})
                known = {n: self.classes[n] for n in names if n in self.classes}
                if known:
                    data["deviceClasses"] = known
            elif typ == "PodCreated" and isinstance(data, dict) and isinstance(data.get("claims"), list):
                data["claims"] = [self.claim_name(obj.get("namespace"), obj["name"], as_dict(c))
                                  for c in data["claims"] if isinstance(c, dict)]
        for node in sorted(set(by_node) - ready):
            self.warn(norm, f"node/{node}", f"ResourceSlices name node {node}, which the recording never saw "
                                            "Ready: their devices are not on the timeline")

    def claim_name(self, namespace: str | None, pod: str, entry: dict[str, Any]) -> str:
        """The ResourceClaim a ``pod.spec.resourceClaims[]`` entry stands for."""
        name = str(entry.get("name"))
        if entry.get("resourceClaimName"):
            return str(entry["resourceClaimName"])
        return self.template_claims.get((namespace, pod, name), f"{pod}-{name}")


def dra_state(norm: Normalizer) -> DRAState:
    """The normalizer's DRA memory (made, and registered as a finisher, on first use)."""
    for f in norm.finishers:
        if isinstance(f, DRAState):
            return f
    state = DRAState()
    norm.finishers.append(state)
    return state


def _parse(norm: Normalizer, state: DRAState, obj: dict[str, Any]) -> Any:
    try:
        parsed, _ = parse_dra_object(obj)
    except InputError as e:
        name = text(as_dict(obj.get("metadata")).get("name")) or "?"
        state.warn(norm, f"{obj.get('kind')}/{name}", f"{obj.get('kind')} {name}: not read ({e.message})")
        return None
    return parsed


def translate_slice(norm: Normalizer, ctx: RecordContext, obj: dict[str, Any], deleted: bool) -> None:
    state = dra_state(norm)
    obj = {"kind": "ResourceSlice", **obj}
    obj.setdefault("apiVersion", "resource.k8s.io/v1")
    parsed = _parse(norm, state, obj)
    if isinstance(parsed, ResourceSlice):
        state.slices[parsed.metadata.name] = parsed


def translate_device_class(norm: Normalizer, ctx: RecordContext, obj: dict[str, Any], deleted: bool) -> None:
    state = dra_state(norm)
    obj = {"kind": "DeviceClass", **obj}
    obj.setdefault("apiVersion", "resource.k8s.io/v1")
    parsed = _parse(norm, state, obj)
    if isinstance(parsed, DeviceClass):
        state.classes[parsed.metadata.name] = [s.cel.expression for s in parsed.spec.selectors]


TRANSLATORS: dict[tuple[str, str], Translator] = {
    ("resource.k8s.io", "resourceslices"): translate_slice,
    ("resource.k8s.io", "deviceclasses"): translate_device_class,
}
