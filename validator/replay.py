"""Replay: the scenario a timeline implies — a recording turned back into the simulator's input.

It mirrors what a cluster's objects held when they were recorded: Nodes with their labels, taints and
allocatable (and when they became Ready or were removed), Pods with their requests, placement
constraints (``nodeSelector``, tolerations, required node affinity) and priority, gangs (Kueue
Workloads, PodGroups, scheduling.k8s.io Workloads) with their pod sets and quorum, Kueue's
ClusterQueues and LocalQueues, and how long each pod ran. :func:`derive_scenario` is a pure function
from events to an editable scenario dict (plus the latencies it fitted); nothing here runs the
simulator — ``kubetwin replay`` wires the two together.

The scenario uses the ordinary fields wherever they suffice: one node pool per pool and node shape,
one workload generator per recorded pod or gang, arriving once (``arrival: {at: [t]}``) with a constant
duration. Three fields exist for exact replay: ``nodePools[].nodes`` (each node's name, ``readyAt``
and ``removedAt``), ``workloads[].names`` (the recorded instance and pod names) and ``spec.latencies``
(control-plane delays fitted from the recording, :mod:`validator.latency_fit`). What controllers did —
the cluster autoscaler's node groups, Deployments scaled by HPAs under recorded load, DRA devices and
claims, Volcano queues — is given back to those controllers so they act again
(:mod:`validator.replay_controllers`). See ``docs/replay.md``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from models.timeline import Event
from validator.compare import Aliases
from validator.latency_fit import fit_latencies, go_duration
from validator.replay_controllers import (
    autoscaled_pool,
    autoscaler_spec,
    dra_replay,
    node_actions,
    node_groups,
    node_slices,
    serving_replay,
    volcano_spec,
)

#: up to this many workloads the YAML is block style; beyond it one JSON flow mapping per line
BLOCK_STYLE_MAX = 2000
#: labels every node carries with its own value; they do not make a node shape
PER_NODE_LABELS = frozenset({"kubernetes.io/hostname"})
_DNS = re.compile(r"[^a-z0-9-]+")


def dns_label(name: str, fallback: str = "x") -> str:
    """A DNS-1123 label made from ``name`` (lowercase, invalid runs → ``-``, at most 63 characters)."""
    out = _DNS.sub("-", name.lower()).strip("-")[:63].strip("-")
    return out or fallback


@dataclass(slots=True)
class _Pod:
    key: str
    namespace: str
    name: str
    created: float
    seq: int
    data: dict[str, Any]
    group: str | None
    scheduled: float | None = None
    running: float | None = None
    ended: float | None = None
    failed: bool = False
    gone: bool = False          # preempted: its owner's replacement carries on the work
    deleted: float | None = None  # deleted (e.g. a Deployment scaled down) before it ended
    replacement_of: str | None = None


@dataclass(slots=True)
class _Node:
    name: str
    ready: float
    seq: int
    data: dict[str, Any]
    removed: float | None = None


@dataclass
class ReplayResult:
    """What :func:`derive_scenario` found: the scenario dict, the latencies it fitted, what it could not
    carry over (``notes``), and how the simulation's objects will map back to the recording's."""

    scenario: dict[str, Any]
    fitted: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    @property
    def aliases(self) -> Aliases:
        return aliases_from_scenario(self.scenario)


@dataclass(slots=True)
class _Controllers:
    """What controllers left in the timeline: nodes the autoscaler asked for, HPA rescales, claims."""

    provisioned: set[str] = field(default_factory=set)
    volcano: dict[str, Any] | None = None
    rescales: list[Event] = field(default_factory=list)
    claims: list[Event] = field(default_factory=list)
    #: the timeline position (seq) of each Volcano PodGroup's first ``PodGroupPhase`` Inqueue
    inqueue: dict[str, int] = field(default_factory=dict)


def _collect(events: Sequence[Event], ctl: _Controllers | None = None) -> tuple[
        dict[str, Any], float, dict[str, _Node], dict[str, _Pod], dict[str, Event], list[Event]]:
    ctl = ctl if ctl is not None else _Controllers()
    header: dict[str, Any] = {}
    end = 0.0
    nodes: dict[str, _Node] = {}
    pods: dict[str, _Pod] = {}
    gangs: dict[str, Event] = {}
    queues: list[Event] = []
    for ev in events:
        end = max(end, ev.t)
        tp = ev.type
        if tp == "RunStarted" and not header:
            header = ev.data
        elif tp == "NodeReady":
            if ev.name not in nodes:
                nodes[ev.name] = _Node(ev.name, ev.t, ev.seq, ev.data)
        elif tp == "NodeRemoved":
            n = nodes.get(ev.name)
            if n is not None and n.removed is None:
                n.removed = ev.t
        elif ev.kind == "Pod":
            p = pods.get(ev.key)
            if tp == "PodCreated":
                if p is None:
                    pods[ev.key] = _Pod(ev.key, ev.namespace or "default", ev.name, ev.t, ev.seq, ev.data, ev.group)
                continue
            if p is None:
                continue
            if tp == "Scheduled" and p.scheduled is None:
                p.scheduled = ev.t
            elif tp == "PodRunning" and p.running is None:
                p.running = ev.t
            elif tp in ("PodSucceeded", "PodFailed") and p.ended is None:
                p.ended, p.failed = ev.t, tp == "PodFailed"
            elif tp == "Preempted" and p.ended is None:
                p.gone = True
            elif tp == "PodDeleted" and p.ended is None and p.deleted is None:
                p.deleted = ev.t
        elif tp == "WorkloadCreated":
            gangs.setdefault(ev.group or ev.key, ev)
        elif tp == "QueueConfigured":
            queues.append(ev)
        elif tp == "NodeProvisioning":
            ctl.provisioned.add(ev.name)
        elif tp == "SuccessfulRescale":
            ctl.rescales.append(ev)
        elif tp == "ClaimCreated":
            ctl.claims.append(ev)
        elif tp == "VolcanoConfigured" and ctl.volcano is None:
            ctl.volcano = ev.data
        elif tp == "PodGroupPhase" and ev.data.get("phase") == "Inqueue":
            ctl.inqueue.setdefault(ev.group or ev.key, ev.seq)
    duration = header.get("duration")
    if isinstance(duration, int | float) and not isinstance(duration, bool) and duration > 0:
        end = max(end, float(duration))
    # a pod the owner created to replace a preempted one (kube-scheduler preemption: <victim>-p<n>), or
    # one that failed with its node (the simulator's owner recreates it at once, under the same name form)
    for p in sorted(pods.values(), key=lambda p: (p.created, p.seq)):
        m = re.fullmatch(r"(.+)-p\d+", p.key)
        base = pods.get(m.group(1)) if m is not None else None
        if base is not None and (base.gone or (base.failed and base.ended == p.created)):
            base.gone = True
            p.replacement_of = base.key
    return header, end, nodes, pods, gangs, queues


def _runtime(p: _Pod, replaced_by: Mapping[str, _Pod]) -> float | None:
    """How long the pod ran; None: it was still running (or never ran) at the end — it keeps running."""
    rt = p.data.get("runtimeSeconds")
    if isinstance(rt, int | float) and not isinstance(rt, bool) and rt >= 0:
        return float(rt)   # a simulated timeline states its runtimes
    start = p.running if p.running is not None else p.scheduled
    if start is not None and p.ended is not None and not p.gone:
        return p.ended - start
    nxt = replaced_by.get(p.key)   # preempted: the replacement ran the work
    if nxt is not None:
        return _runtime(nxt, replaced_by)
    if p.deleted is not None and not p.gone:   # deleted by its owner: it ran until then (pending: 0 s)
        return p.deleted - start if start is not None else 0.0
    return None


def _template(data: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    t: dict[str, Any] = {"requests": dict(data.get("requests") or {})}
    for k in ("nodeSelector", "tolerations", "affinity"):
        v = data.get(k)
        if v:
            t[k] = v
    if extra:
        t.update(extra)
    return t


def _slices_shape(node: str, slices: list[dict[str, Any]]) -> str:
    """A node's slices with its own name taken out (nodes whose devices differ only by it share a shape)."""
    return json.dumps(slices, sort_keys=True).replace(json.dumps(node), '"<node>"')


def _pools(nodes: Mapping[str, _Node], taken: frozenset[str] = frozenset()) -> tuple[list[dict[str, Any]], list[str]]:
    """Pools of listed nodes (nodes as they were); pool names in ``taken`` (autoscaled groups) are avoided."""
    notes: list[str] = []
    shapes: dict[str, dict[str, Any]] = {}
    members: dict[str, list[_Node]] = {}
    for n in sorted(nodes.values(), key=lambda n: (n.ready, n.seq)):
        d = n.data
        labels = {k: v for k, v in sorted((d.get("labels") or {}).items()) if k not in PER_NODE_LABELS}
        shape: dict[str, Any] = {"labels": labels, "taints": list(d.get("taints") or []),
                                 "allocatable": dict(d.get("allocatable") or {})}
        if isinstance(d.get("pricePerHour"), int | float):
            shape["pricePerHour"] = d["pricePerHour"]
        slices = node_slices(n.name, d) if d.get("devices") else []
        key = {**shape, "resourceSlices": _slices_shape(n.name, slices)} if slices else shape
        base = dns_label(str(d.get("pool") or "nodes"), "nodes")
        name, i = base, 1
        while name in taken or (name in shapes and shapes[name]["key"] != key):
            i += 1
            name = f"{base}-{i}"
        if name not in shapes:
            shapes[name] = {"key": key, "shape": {**shape, **({"resourceSlices": slices} if slices else {})}}
            members[name] = []
        members[name].append(n)
        if d.get("devices") and not slices:
            notes.append(f"node {n.name}: its DRA devices belong to no per-node pool and are not carried over")
    pools: list[dict[str, Any]] = []
    for name, entry in shapes.items():
        shape = entry["shape"]
        ns = members[name]
        pool: dict[str, Any] = {"name": name, "count": len(ns), **{k: v for k, v in shape.items() if v or
                                                                      k == "allocatable"}}
        pool["nodes"] = [{"name": n.name, "readyAt": go_duration(n.ready),
                          **({"removedAt": go_duration(n.removed)} if n.removed is not None else {})} for n in ns]
        pools.append(pool)
    return pools, notes


def _kueue(queues: Sequence[Event], header: Mapping[str, Any]) -> dict[str, Any] | None:
    cqs, lqs, flavors = [], [], set()
    acs: dict[str, dict[str, Any]] = {}
    for ev in queues:
        d = ev.data
        if ev.kind == "ClusterQueue":
            spec: dict[str, Any] = {}
            for k in ("cohort", "queueingStrategy", "resourceGroups", "preemption", "flavorFungibility",
                      "namespaceSelector"):
                if d.get(k) is not None:
                    spec[k] = d[k]
            for rg in d.get("resourceGroups") or []:
                for f in rg.get("flavors") or []:
                    if isinstance(f, dict) and isinstance(f.get("name"), str):
                        flavors.add(f["name"])
            checks = [c for c in d.get("admissionChecks") or [] if isinstance(c, dict) and c.get("name")]
            if checks:  # Kueue's ProvisioningRequest admission checks, rebuilt from what QueueConfigured holds
                spec["admissionChecksStrategy"] = {"admissionChecks": [
                    {"name": c["name"], "onFlavors": list(c.get("onFlavors") or [])} for c in checks]}
                for c in checks:
                    acs.setdefault(c["name"], c)
            cqs.append({"metadata": {"name": ev.name}, "spec": spec})
        elif ev.kind == "LocalQueue":
            lqs.append({"metadata": {"name": ev.name, "namespace": ev.namespace or "default"},
                        "spec": {"clusterQueue": d.get("clusterQueue")}})
    if not cqs and not lqs:
        return None
    out: dict[str, Any] = {"resourceFlavors": [{"metadata": {"name": f}} for f in sorted(flavors)],
                           "clusterQueues": cqs, "localQueues": lqs}
    if acs:
        out["admissionChecks"] = [
            {"metadata": {"name": n}, "spec": {"controllerName": c.get("controllerName"), "parameters": {
                "apiGroup": "kueue.x-k8s.io", "kind": "ProvisioningRequestConfig",
                "name": c.get("provisioningRequestConfig")}}} for n, c in sorted(acs.items())]
        configs = {str(c.get("provisioningRequestConfig")): c for c in acs.values()}
        out["provisioningRequestConfigs"] = [
            {"metadata": {"name": n}, "spec": {k: c[k] for k in ("provisioningClassName", "parameters",
                                                                 "managedResources", "retryStrategy") if k in c}}
            for n, c in sorted(configs.items())]
    w = header.get("waitForPodsReady")
    if isinstance(w, dict):
        wf: dict[str, Any] = {"enable": bool(w.get("enabled", True))}
        if isinstance(w.get("timeoutSeconds"), int | float):
            wf["timeout"] = go_duration(float(w["timeoutSeconds"]))
        if "blockAdmission" in w:
            wf["blockAdmission"] = bool(w["blockAdmission"])
        rs = {k: w[k] for k in ("backoffBaseSeconds", "backoffMaxSeconds") if isinstance(w.get(k), int)}
        if rs:
            wf["requeuingStrategy"] = rs
        out["waitForPodsReady"] = wf
    return out


def derive_scenario(events: Sequence[Event], *, name: str | None = None, seed: int | None = None,
                    scheduler: Mapping[str, Any] | None = None, fit: bool = True) -> ReplayResult:
    """The scenario ``events`` imply (see the module docstring); pure, deterministic.

    A timeline does not say how the scheduler scored nodes: ``scheduler`` (a ``spec.scheduler``
    mapping) gives the profile, else the ``RunStarted`` header's ``scheduler`` if it has one, else the
    scenario keeps kube-scheduler's default (``LeastAllocated`` over cpu and memory).
    """
    ctl = _Controllers()
    header, end, nodes, pods, gangs, queues = _collect(events, ctl)
    notes: list[str] = []
    serving = serving_replay(header, ctl.rescales)
    notes += serving.notes
    # nodes the replayed actions add and remove again (setPoolSize, deleteNode, failNode) are not listed
    acts = node_actions(serving.actions)
    if acts.pool_times or acts.node_times:
        kept: dict[str, _Node] = {}
        for k, n in nodes.items():
            pool_name = str(n.data.get("pool") or "")
            if acts.added(pool_name, n.ready):
                continue
            gone = n.removed is not None and acts.removed(pool_name, n.name, n.removed)
            kept[k] = _Node(n.name, n.ready, n.seq, n.data, None if gone else n.removed)
        nodes = kept
    # node groups the cluster autoscaler managed grow and shrink again; other nodes are listed as they were
    groups = node_groups(header)
    grouped: dict[str, list[_Node]] = {g: [] for g in groups}
    for n in sorted(nodes.values(), key=lambda n: (n.ready, n.seq)):
        g = str(n.data.get("pool") or "")
        if g in grouped:
            grouped[g].append(n)
    pools, pool_notes = _pools({k: n for k, n in nodes.items() if str(n.data.get("pool") or "") not in groups},
                               frozenset(groups))
    for g, tmpl in groups.items():
        members_g = grouped[g]
        initial = sum(1 for n in members_g if n.ready == 0 and n.name not in ctl.provisioned)
        pool = autoscaled_pool(tmpl, initial, members_g[0].data if members_g else None)
        slices = node_slices(members_g[0].name, members_g[0].data) if members_g else []
        if slices:
            pool["resourceSlices"] = slices
        pools.append(pool)
    # pools in the order their first nodes appeared (the scenario's order: the engine adds nodes so)
    def first_node(pool: Mapping[str, Any]) -> tuple[float, int]:
        members_p = grouped.get(pool["name"]) if pool["name"] in groups else \
            [nodes[x["name"]] for x in pool.get("nodes") or [] if x["name"] in nodes]
        return min(((n.ready, n.seq) for n in members_p or []), default=(float("inf"), 0))

    pools.sort(key=first_node)
    notes += pool_notes
    dra = dra_replay(ctl.claims, {k: p.data for k, p in pods.items()}, header)
    notes += dra.notes
    run_s = max(end, 1.0)
    scen_name = dns_label(name or f"{header.get('scenario') or 'recording'}-replay", "replay")
    used: set[tuple[str, str]] = set()

    def gen_name(ns: str, base: str) -> str:
        n, i = dns_label(base, "pod"), 1
        cand = n
        while (ns, cand) in used:
            i += 1
            cand = f"{n[:58]}-x{i}"
        used.add((ns, cand))
        return cand

    replaced_by: dict[str, _Pod] = {}
    for p in sorted(pods.values(), key=lambda p: (p.created, p.seq)):
        if p.replacement_of is not None:
            replaced_by.setdefault(p.replacement_of, p)
    members: dict[str, list[_Pod]] = {}
    for p in sorted(pods.values(), key=lambda p: (p.created, p.seq)):
        if p.group is not None and p.group in gangs:
            members.setdefault(p.group, []).append(p)
    units: list[tuple[float, int, dict[str, Any]]] = []
    failed = 0
    for gkey, ev in gangs.items():
        d = ev.data
        ns = ev.namespace or "default"
        ps_list = [p for p in members.get(gkey, []) if p.replacement_of is None]
        pod_sets = [x for x in d.get("podSets") or [] if isinstance(x, dict)]
        total = int(d.get("pods") or sum(int(x.get("count") or 0) for x in pod_sets) or len(ps_list) or 1)
        first_pods = ps_list[:total]
        runtimes = [_runtime(p, replaced_by) for p in first_pods]
        rt = run_s if not runtimes or any(r is None for r in runtimes) else max(r for r in runtimes if r is not None)
        failed += sum(1 for p in first_pods if p.failed)
        w: dict[str, Any] = {"name": gen_name(ns, ev.name), "namespace": dns_label(ns, "default"),
                             "arrival": {"at": [go_duration(ev.t)]}}
        if isinstance(d.get("priority"), int):
            w["priority"] = d["priority"]
        by_set: dict[str, list[_Pod]] = {}
        for p in first_pods:
            by_set.setdefault(str(p.data.get("podSet") or "main"), []).append(p)
        sets = []
        for x in pod_sets or [{"name": "main", "count": total}]:
            sname = str(x.get("name") or "main")
            candidates = by_set.get(sname) or first_pods
            tmpl = (_template(candidates[0].data, dra.pod_fields.get(candidates[0].key)) if candidates
                    else {"requests": dict(x.get("requests") or {})})
            if not tmpl["requests"] and x.get("requests"):
                tmpl["requests"] = dict(x["requests"])
            entry: dict[str, Any] = {"name": dns_label(sname, "main"), "replicas": int(x.get("count") or 1),
                                     "template": tmpl}
            if isinstance(x.get("minCount"), int):
                entry["minCount"] = x["minCount"]
            sets.append(entry)
        if len(sets) == 1 and sets[0]["name"] == "main" and "minCount" not in sets[0]:
            w["replicas"] = sets[0]["replicas"]
            w["template"] = sets[0]["template"]
        else:
            w["podSets"] = sets
        w["duration"] = go_duration(rt)
        policy = d.get("policy")
        if policy in ("coscheduling", "workload-api"):
            gang: dict[str, Any] = {"policy": policy}
            if isinstance(d.get("minCount"), int):
                gang["minCount"] = d["minCount"]
            if policy == "coscheduling" and isinstance(d.get("timeoutSeconds"), int | float):
                gang["timeout"] = go_duration(float(d["timeoutSeconds"]))
            w["gang"] = gang
        elif policy == "volcano":
            gang = {"policy": "volcano"}
            for k in ("queue", "minCount", "minTaskMember"):
                if d.get(k) is not None:
                    gang[k] = d[k]
            # pods that existed before the PodGroup was Inqueue were an operator's (JobSet, PyTorchJob, …),
            # not the Volcano Job controller's delayed creation: keep that
            inq = ctl.inqueue.get(gkey)
            if first_pods and (inq is None or min(p.seq for p in first_pods) < inq):
                gang["delayPodCreation"] = False
            w["gang"] = gang
        if d.get("queue") and policy != "volcano":
            w["queue"] = d["queue"]
        elif policy == "kueue":
            notes.append(f"workload {gkey}: Kueue workload without a LocalQueue name; replayed without Kueue")
        if len(first_pods) == sum(s["replicas"] for s in sets):
            w["names"] = {"instance": ev.name, "pods": [p.name for p in first_pods]}
        units.append((ev.t, ev.seq, w))
    for p in sorted(pods.values(), key=lambda p: (p.created, p.seq)):
        if (p.group is not None and p.group in gangs) or p.replacement_of is not None:
            continue
        if serving.owns(p.namespace, p.name):
            continue   # the replayed Deployment's ReplicaSet creates it (and the HPA sizes it) again
        prt = _runtime(p, replaced_by)
        failed += p.failed and not p.gone
        w = {"name": gen_name(p.namespace, p.name), "namespace": dns_label(p.namespace, "default"),
             "arrival": {"at": [go_duration(p.created)]}}
        if isinstance(p.data.get("priority"), int):
            w["priority"] = p.data["priority"]
        w["template"] = _template(p.data, dra.pod_fields.get(p.key))
        w["duration"] = go_duration(run_s if prt is None else prt)
        w["names"] = {"pods": [p.name]}
        units.append((p.created, p.seq, w))
    if failed:
        notes.append(f"{failed} pod(s) failed in the recording; the replay runs them to completion")
    units.sort(key=lambda u: (u[0], u[1]))
    spec: dict[str, Any] = {"seed": seed if seed is not None else int(header.get("seed") or 0),
                            "duration": go_duration(run_s), "cluster": {"nodePools": pools}}
    profile = scheduler if scheduler is not None else header.get("scheduler")
    if isinstance(profile, Mapping) and profile:
        spec["scheduler"] = dict(profile)
    else:
        notes.append("the timeline does not record the scheduler profile; the scenario uses kube-scheduler's "
                     "default (LeastAllocated over cpu and memory) — set spec.scheduler if yours differs")
    auto = autoscaler_spec(header)
    if auto is not None:
        spec["autoscaler"] = auto
    kueue = _kueue(queues, header)
    if kueue is not None:
        spec["kueue"] = kueue
    if dra.dra is not None:
        spec["dra"] = dra.dra
    if ctl.volcano is not None:
        spec["volcano"] = volcano_spec(ctl.volcano)
    if serving.serving is not None:
        spec["serving"] = serving.serving
    if serving.actions:
        spec["actions"] = serving.actions
    fitted = fit_latencies(events) if fit else {}
    lat = {k: v["distribution"] for k, v in fitted.items() if v.get("distribution") is not None}
    if lat:
        spec["latencies"] = lat
    spec["workloads"] = [u[2] for u in units]
    if not pools:
        notes.append("the timeline has no NodeReady events; the scenario has no nodes (add a node pool)")
    scenario = {"apiVersion": "kubetwin.dev/v1alpha1", "kind": "Scenario",
                "metadata": {"name": scen_name}, "spec": spec}
    return ReplayResult(scenario, fitted, notes)


def aliases_from_scenario(scenario: Mapping[str, Any]) -> Aliases:
    """How a simulation of a derived scenario names the recording's objects when the engine does not
    (yet) apply ``names`` and ``nodes``: generator ``g``'s pods stand for ``names.pods`` in order, its
    gang ``ns/g-0`` for ``ns/names.instance``, and node ``<pool>-<i>`` for the pool's i-th listed node."""
    spec = scenario.get("spec") or {}
    pods: dict[str, list[str]] = {}
    groups: dict[str, str] = {}
    for w in spec.get("workloads") or []:
        names = w.get("names")
        if not isinstance(names, dict):
            continue
        ns = w.get("namespace") or "default"
        pods[f"{ns}/{w['name']}"] = [f"{ns}/{n}" for n in names.get("pods") or []]
        if names.get("instance"):
            groups[f"{ns}/{w['name']}-0"] = f"{ns}/{names['instance']}"
    nodes: dict[str, str] = {}
    for pool in (spec.get("cluster") or {}).get("nodePools") or []:
        for i, n in enumerate(pool.get("nodes") or []):
            nodes[f"{pool['name']}-{i}"] = n["name"]
    return Aliases(pods=pods, groups=groups, nodes=nodes)


def scenario_yaml(result: ReplayResult, source: str) -> str:
    """The derived scenario as editable YAML text, with a header saying where it came from."""
    sc = result.scenario
    workloads = sc["spec"].get("workloads") or []
    if len(workloads) <= BLOCK_STYLE_MAX:
        body = yaml.safe_dump(sc, sort_keys=False, default_flow_style=None, width=110, allow_unicode=True)
    else:
        # a big recording: one workload per line as a JSON flow mapping (valid YAML, and fast to write)
        top = {**sc, "spec": {k: v for k, v in sc["spec"].items() if k != "workloads"}}
        body = yaml.safe_dump(top, sort_keys=False, default_flow_style=None, width=110, allow_unicode=True)
        body += "  workloads:\n" + "".join(f"  - {json.dumps(w, ensure_ascii=False)}\n" for w in workloads)
    head = [f"# Derived by 'kubetwin replay' from {source}.",
            "# Edit it and run 'kubetwin simulate' on it (e.g. add nodes to a pool: raise count and list them).",
            "# Each workload is one recorded pod or gang, arriving once at its recorded creation time and",
            "# running for its recorded run time; docs/replay.md explains every field."]
    for k, v in sorted(result.fitted.items()):
        if v.get("distribution") is not None:
            head.append(f"# fitted {k}: {v['kind']} (n={v['count']}, p50 {v['p50']}s, p95 {v['p95']}s, "
                        f"KS {v['ks']})")
    head += [f"# note: {n}" for n in result.notes[:20]]
    return "\n".join(head) + "\n" + body
