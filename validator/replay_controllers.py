"""Replay of what controllers did: the cluster autoscaler's node groups, Deployments with their
HorizontalPodAutoscalers and Gateway API load, and Dynamic Resource Allocation — turned back into the
scenario fields that make those controllers act again instead of freezing what they produced.

* **Cluster autoscaler** (``RunStarted.data.autoscaler``): each node group becomes a pool with
  ``autoscaling: {minCount, maxCount}``, its ``provisioningDelay`` / ``driverStartupDelay`` and the
  template (labels, taints, allocatable) it recorded; ``count`` is the number of nodes that were there
  from the start (not ``NodeProvisioning``-ed). ``spec.autoscaler`` gets the recorded flags. A
  recording without the header (a real cluster) keeps its nodes as recorded.
* **Deployments and HPAs** (``RunStarted.data.serving``): the objects as read, the loads and the
  scripted actions; the Deployments' pods (``<deployment>-<template hash>-<n>``, and their
  replacements) are then the ReplicaSet controller's, not arrivals. When the header has the objects but
  no load, the recorded ``SuccessfulRescale`` events become ``scale`` actions at their times.
* **DRA**: a node's ``NodeReady.data.devices`` / ``sharedCounters`` become the pool's
  ``resourceSlices`` (one ResourceSlice per driver, a per-node template); the DeviceClasses named by
  ``ClaimCreated.data.deviceClasses`` (with their CEL selectors) become ``spec.dra.deviceClasses``; a
  claim made for one pod from a template (``<pod>-<name>``) becomes a ResourceClaimTemplate with the
  recorded claim spec (one per distinct spec and namespace), any other claim a ResourceClaim.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from models.timeline import Event
from validator.latency_fit import go_duration

#: RunStarted.data.autoscaler keys -> spec.autoscaler fields (durations in seconds there)
_AUTOSCALER_DURATIONS = {"scanInterval": "scanInterval", "scaleDownUnneededTime": "scaleDownUnneededTime",
                         "scaleDownDelayAfterAdd": "scaleDownDelayAfterAdd",
                         "maxNodeProvisionTime": "maxNodeProvisionTime"}


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


# ------------------------------------------------------------------------------------ cluster autoscaler

def autoscaler_spec(header: Mapping[str, Any]) -> dict[str, Any] | None:
    """``spec.autoscaler`` from the header's ``autoscaler`` (None: the run had no autoscaler)."""
    a = header.get("autoscaler")
    if not isinstance(a, Mapping):
        return None
    out: dict[str, Any] = {}
    for key, name in _AUTOSCALER_DURATIONS.items():
        v = _num(a.get(key))
        if v is not None:
            out[name] = go_duration(v)
    if isinstance(a.get("expander"), str) and a["expander"]:
        out["expander"] = a["expander"]
    v = _num(a.get("scaleDownUtilizationThreshold"))
    if v is not None:
        out["scaleDownUtilizationThreshold"] = v
    if isinstance(a.get("scaleDownEnabled"), bool):
        out["scaleDownEnabled"] = a["scaleDownEnabled"]
    pr = a.get("priorities")
    if isinstance(pr, Mapping) and pr:
        out["priorities"] = {int(k): list(v) for k, v in sorted(pr.items(), key=lambda kv: int(kv[0]))}
    return out


def node_groups(header: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The autoscaled node groups the header records, by name."""
    a = header.get("autoscaler")
    groups = a.get("nodeGroups") if isinstance(a, Mapping) else None
    return {str(g["name"]): g for g in groups or [] if isinstance(g, Mapping) and g.get("name")}


def autoscaled_pool(group: Mapping[str, Any], initial: int, node_data: Mapping[str, Any] | None) -> dict[str, Any]:
    """The pool of one node group: its template, bounds and delays; ``initial`` nodes at the start."""
    pool: dict[str, Any] = {"name": str(group["name"]), "count": initial,
                            "autoscaling": {"minCount": int(group.get("minCount") or 0),
                                            "maxCount": int(group.get("maxCount") or 0)}}
    for k in ("provisioningDelay", "driverStartupDelay"):
        if isinstance(group.get(k), Mapping):
            pool[k] = dict(group[k])
    if group.get("labels"):
        pool["labels"] = dict(group["labels"])
    if group.get("taints"):
        pool["taints"] = list(group["taints"])
    pool["allocatable"] = dict(group.get("allocatable") or {})
    price = _num((node_data or {}).get("pricePerHour"))
    if price is not None:
        pool["pricePerHour"] = price
    return pool


# ------------------------------------------------------------------------------------ serving

@dataclass
class ServingReplay:
    """``spec.serving`` and ``spec.actions`` for a replay, and which pods they will create again."""

    serving: dict[str, Any] | None = None
    actions: list[dict[str, Any]] = field(default_factory=list)
    #: Deployment key (namespace/name) -> pod-name pattern of its ReplicaSet's pods
    deployments: dict[str, re.Pattern[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def owns(self, namespace: str, name: str) -> bool:
        """Whether a recorded pod is one the replayed Deployments create (and recreate) themselves."""
        return any(k.split("/", 1)[0] == namespace and p.fullmatch(name) for k, p in self.deployments.items())


def serving_replay(header: Mapping[str, Any], rescales: Sequence[Event]) -> ServingReplay:
    """What the header's ``serving`` holds, as scenario fields (empty when it holds no objects)."""
    s = header.get("serving")
    out = ServingReplay()
    if not isinstance(s, Mapping) or not isinstance(s.get("objects"), list):
        if rescales:
            out.notes.append(f"{len(rescales)} SuccessfulRescale event(s) without the Deployment and HPA objects: "
                             "the Deployments' pods are replayed as recorded arrivals")
        return out
    objects = [o for o in s["objects"] if isinstance(o, Mapping)]
    loads = [dict(x) for x in s.get("loads") or [] if isinstance(x, Mapping)]
    actions = [dict(x) for x in s.get("actions") or [] if isinstance(x, Mapping)]
    for o in objects:
        if o.get("kind") == "Deployment":
            meta = o.get("metadata") or {}
            key = f"{meta.get('namespace') or 'default'}/{meta.get('name')}"
            out.deployments[key] = re.compile(re.escape(str(meta.get("name"))) + r"-[0-9a-f]{10}-\d+(-p\d+)*")
    if not loads:
        # no traffic to drive the HPAs: their recorded decisions become scale actions
        hpas = {f"{(o.get('metadata') or {}).get('namespace') or 'default'}/{(o.get('metadata') or {}).get('name')}":
                o for o in objects if o.get("kind") == "HorizontalPodAutoscaler"}
        for ev in rescales:
            hpa = hpas.get(ev.key)
            to = ev.data.get("to")
            if hpa is None or not isinstance(to, int):
                continue
            ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
            actions.append({"at": go_duration(ev.t), "scale": {"deployment": ref.get("name"),
                                                               "namespace": ev.namespace or "default",
                                                               "replicas": to}})
        if hpas:
            objects = [o for o in objects if o.get("kind") != "HorizontalPodAutoscaler"]
            out.notes.append("the timeline records no load: the HPAs' recorded rescales are replayed as scale actions")
        actions.sort(key=lambda a: _seconds(str(a["at"])))
    if objects or loads:
        out.serving = {"objects": objects, **({"loads": loads} if loads else {})}
    out.actions = actions
    return out


@dataclass
class NodeActions:
    """When the recorded actions themselves add and remove nodes (so a replay must not list those)."""

    #: pool -> times a setPoolSize ran on it
    pool_times: dict[str, set[float]] = field(default_factory=dict)
    #: node -> times a deleteNode / failNode named it
    node_times: dict[str, set[float]] = field(default_factory=dict)

    def added(self, pool: str, ready: float) -> bool:
        """Whether a node of ``pool`` Ready at ``ready`` came from a setPoolSize (not from the start)."""
        return ready > 0 and ready in self.pool_times.get(pool, ())

    def removed(self, pool: str, node: str, t: float) -> bool:
        """Whether the node's removal at ``t`` was an action's."""
        return t in self.pool_times.get(pool, ()) or t in self.node_times.get(node, ())


def node_actions(actions: Sequence[Mapping[str, Any]]) -> NodeActions:
    out = NodeActions()
    for a in actions:
        t = _seconds(str(a.get("at") or "0s"))
        sp = a.get("setPoolSize")
        if isinstance(sp, Mapping) and sp.get("pool"):
            out.pool_times.setdefault(str(sp["pool"]), set()).add(t)
        for verb in ("deleteNode", "failNode"):
            ref = a.get(verb)
            if isinstance(ref, Mapping) and ref.get("node"):
                out.node_times.setdefault(str(ref["node"]), set()).add(t)
    return out


def _seconds(d: str) -> float:
    from models.duration import parse_duration

    return parse_duration(d)


# ------------------------------------------------------------------------------------ Volcano

def volcano_spec(data: Mapping[str, Any]) -> dict[str, Any]:
    """``spec.volcano`` from a ``VolcanoConfigured`` event: the scheduler's settings and its Queues
    (the implicit ``default`` Queue is left out while it has Volcano's defaults)."""
    out: dict[str, Any] = {}
    period = _num(data.get("schedulePeriod"))
    if period is not None:
        out["schedulePeriod"] = go_duration(period)
    if isinstance(data.get("actions"), list) and data["actions"]:
        out["actions"] = ", ".join(str(a) for a in data["actions"])
    factor = _num(data.get("overcommitFactor"))
    if factor is not None:
        out["overcommitFactor"] = factor
    queues = []
    for q in data.get("queues") or []:
        if not isinstance(q, Mapping) or not q.get("name"):
            continue
        spec: dict[str, Any] = {"weight": int(q.get("weight") or 1), "reclaimable": bool(q.get("reclaimable", True))}
        if q.get("capability"):
            spec["capability"] = dict(q["capability"])
        guarantee = q.get("guarantee")
        if isinstance(guarantee, Mapping) and guarantee:
            spec["guarantee"] = {"resource": dict(guarantee.get("resource") or guarantee)}
        if q["name"] == "default" and spec == {"weight": 1, "reclaimable": True}:
            continue
        queues.append({"apiVersion": "scheduling.volcano.sh/v1beta1", "kind": "Queue",
                       "metadata": {"name": str(q["name"])}, "spec": spec})
    if queues:
        out["queues"] = queues
    return out


# ------------------------------------------------------------------------------------ DRA

def _device(d: Mapping[str, Any]) -> dict[str, Any]:
    dev: dict[str, Any] = {"name": str(d.get("device"))}
    if d.get("attributes"):
        dev["attributes"] = dict(sorted(d["attributes"].items()))
    caps = d.get("capacity") or {}
    policies = d.get("requestPolicy") or {}
    if caps:
        dev["capacity"] = {k: ({"value": v, "requestPolicy": policies[k]} if k in policies else {"value": v})
                           for k, v in sorted(caps.items())}
    if d.get("allowMultipleAllocations"):
        dev["allowMultipleAllocations"] = True
    if d.get("consumesCounters"):
        dev["consumesCounters"] = [{"counterSet": c.get("counterSet"),
                                    "counters": {n: {"value": v} for n, v in sorted((c.get("counters") or {}).items())}}
                                   for c in d["consumesCounters"] if isinstance(c, Mapping)]
    if d.get("taints"):
        dev["taints"] = list(d["taints"])
    return dev


def node_slices(node: str, data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A node's ``devices`` / ``sharedCounters`` as ResourceSlices (one per driver and device pool), a
    per-node template: the pool scenario field puts each node's name into ``nodeName`` and ``pool.name``."""
    by: dict[tuple[str, str], dict[str, Any]] = {}
    for d in data.get("devices") or []:
        if not isinstance(d, Mapping) or not d.get("driver") or not d.get("device"):
            continue
        key = (str(d["driver"]), str(d.get("pool") or node))
        by.setdefault(key, {"devices": [], "counters": []})["devices"].append(_device(d))
    for c in data.get("sharedCounters") or []:
        if isinstance(c, Mapping) and c.get("driver") and c.get("name"):
            key = (str(c["driver"]), str(c.get("pool") or node))
            counters = {n: {"value": v} for n, v in sorted((c.get("counters") or {}).items())}
            by.setdefault(key, {"devices": [], "counters": []})["counters"].append(
                {"name": c["name"], "counters": counters})
    out = []
    for (driver, pool), parts in sorted(by.items()):
        if pool != node:
            continue   # a device pool that is not the node's own is not a per-node template
        spec: dict[str, Any] = {"driver": driver, "nodeName": node, "pool": {"name": node, "generation": 0,
                                                                           "resourceSliceCount": 1},
                                "devices": parts["devices"]}
        if parts["counters"]:
            spec["sharedCounters"] = parts["counters"]
        name = re.sub(r"[^a-z0-9.-]+", "-", f"{driver}".lower()).strip("-.") or "slice"
        out.append({"apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice", "metadata": {"name": name},
                    "spec": spec})
    return out


@dataclass
class DRAReplay:
    """``spec.dra`` and each pod's ``resourceClaims`` / ``containers`` for a replay."""

    dra: dict[str, Any] | None = None
    #: pod key (namespace/name) -> template fields (resourceClaims, containers)
    pod_fields: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def dra_replay(claims: Iterable[Event], pods: Mapping[str, Mapping[str, Any]],
               header: Mapping[str, Any] | None = None) -> DRAReplay:
    """``claims``: the ``ClaimCreated`` events; ``pods``: each pod's ``PodCreated.data`` by key;
    ``header``: ``RunStarted.data`` (its ``dra.deviceClasses``, as read, win over what claims recorded)."""
    out = DRAReplay()
    recorded = (header or {}).get("dra")
    given = [dict(c) for c in (recorded.get("deviceClasses") or [] if isinstance(recorded, Mapping) else [])
             if isinstance(c, Mapping) and isinstance(c.get("metadata"), Mapping)]
    classes: dict[str, list[str]] = {}
    templates: dict[tuple[str, str], str] = {}   # (namespace, spec json) -> template name
    tmpl_objs: list[dict[str, Any]] = []
    claim_objs: list[dict[str, Any]] = []
    by_claim: dict[str, Event] = {}
    for cev in claims:
        by_claim.setdefault(cev.key, cev)
        for cls, sels in sorted((cev.data.get("deviceClasses") or {}).items()):
            if isinstance(sels, list):
                classes.setdefault(str(cls), [str(s) for s in sels])
    for key, data in pods.items():
        names = [str(c) for c in data.get("claims") or []]
        if not names:
            continue
        ns, pod = key.split("/", 1)
        entries: list[dict[str, Any]] = []
        for cname in names:
            ev = by_claim.get(f"{ns}/{cname}")
            spec = ev.data.get("spec") if ev is not None else None
            if not isinstance(spec, Mapping):
                out.notes.append(f"pod {key}: claim {cname} has no ClaimCreated with its spec; left out")
                continue
            if cname.startswith(pod + "-") and ev is not None and ev.data.get("pod") == pod:
                entry = cname[len(pod) + 1:]
                sig = (ns, json.dumps(spec, sort_keys=True))
                tname = templates.get(sig)
                if tname is None:
                    tname = templates[sig] = f"replay-claim-{len(templates)}"
                    tmpl_objs.append({"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaimTemplate",
                                      "metadata": {"name": tname, "namespace": ns}, "spec": {"spec": dict(spec)}})
                entries.append({"name": entry, "resourceClaimTemplateName": tname})
            else:
                if not any(c["metadata"]["name"] == cname and c["metadata"]["namespace"] == ns for c in claim_objs):
                    claim_objs.append({"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim",
                                       "metadata": {"name": cname, "namespace": ns}, "spec": dict(spec)})
                entries.append({"name": re.sub(r"[^a-z0-9-]+", "-", cname.lower()).strip("-")[:63] or "claim",
                                "resourceClaimName": cname})
        if not entries:
            continue
        fields: dict[str, Any] = {"resourceClaims": entries}
        known = {e["name"] for e in entries}
        containers = [c for c in data.get("containers") or [] if isinstance(c, Mapping) and c.get("name")]
        refs = [[cc for cc in c.get("claims") or [] if isinstance(cc, Mapping) and cc.get("name")] for c in containers]
        if containers and all(cc["name"] in known for r in refs for cc in r):
            fields["containers"] = [{"name": c["name"], "claims": [
                {"name": cc["name"], **({"request": cc["request"]} if cc.get("request") else {})} for cc in r]}
                for c, r in zip(containers, refs, strict=True)]
        out.pod_fields[key] = fields
    if classes or tmpl_objs or claim_objs or given:
        named = {str(c["metadata"].get("name")) for c in given}
        out.dra = {"deviceClasses": given + [
            {"apiVersion": "resource.k8s.io/v1", "kind": "DeviceClass", "metadata": {"name": name},
             "spec": {"selectors": [{"cel": {"expression": e}} for e in sels]}}
            for name, sels in sorted(classes.items()) if name not in named]}
        if tmpl_objs:
            out.dra["resourceClaimTemplates"] = tmpl_objs
        if claim_objs:
            out.dra["resourceClaims"] = claim_objs
    return out


__all__ = ["DRAReplay", "NodeActions", "ServingReplay", "autoscaled_pool", "autoscaler_spec", "dra_replay",
           "node_actions", "node_groups", "node_slices", "serving_replay", "volcano_spec"]
