"""The AI-conformance probe: a read-only look at a cluster for each MUST of Kubernetes AI Conformance v1.35.

The conformance programme asks a vendor to show, requirement by requirement, that a platform supports
AI/ML work (DRA, inference routing, gang scheduling, autoscaling, accelerator and service metrics,
mediated accelerator access, a working AI operator). Much of that can only be *demonstrated* by
running workloads; this probe answers the part that can be *seen* with get/list: which API
group-versions the apiserver serves (discovery, as ``kubectl api-resources`` does), which objects of
those APIs exist, and whether the controllers that make them work are installed and Ready. It never
creates, changes or deletes anything, and reads only what ``docs/rbac.yaml`` grants.

The probe takes an injected ``get_json(path) -> dict | None`` coroutine (``None`` = HTTP 404), so it
has no client library of its own; ``validator.live.kubeclient`` provides one for a real cluster.

Statuses
    ``pass``         the cluster shows what the requirement asks for (rules below).
    ``fail``         positive evidence that it does not: the API the requirement names is not served,
                     or the component that provides it is installed but has nothing Ready.
    ``cannot-tell``  nothing that decides it read-only: a conditional requirement whose feature is
                     absent, a component that may run outside the cluster (managed control planes,
                     hosted monitoring), an API served with no sign it works, or a read that failed
                     (e.g. 403). Run the upstream conformance tests to decide these.

Controllers are found by name among Deployments, DaemonSets and StatefulSets in all namespaces (the
names their official charts and manifests use); "Ready" means at least one ready replica (Deployment,
StatefulSet) or ready pod (DaemonSet).

Rules per requirement
    dra_support
        pass: ``resource.k8s.io/v1`` served and at least one ResourceSlice exists.
        fail: ``resource.k8s.io`` not served, or served only at beta versions.
        cannot-tell: v1 served but no ResourceSlice (no DRA driver publishes devices right now).
    ai_inference
        pass: ``gateway.networking.k8s.io`` serves HTTPRoutes and a GatewayClass is ``Accepted``.
        fail: the Gateway API is not served (or serves no HTTPRoute).
        cannot-tell: served but no GatewayClass is Accepted (CRDs without an implementation).
        Weighted splitting and header matching are HTTPRoute core features; not exercised here.
    gang_scheduling
        pass: a gang-scheduling API is served and its controller is Ready: Kueue (``kueue.x-k8s.io``
        workloads, ``kueue-controller-manager``), Volcano (``scheduling.volcano.sh`` podgroups,
        ``volcano-scheduler``), scheduler-plugins coscheduling (``scheduling.x-k8s.io`` podgroups,
        ``scheduler-plugins``); or the Kubernetes Workload API (``scheduling.k8s.io`` workloads, served
        by kube-scheduler itself; its GangScheduling gate cannot be seen).
        fail: none of these APIs is served, or their controllers are installed with nothing Ready.
        cannot-tell: an API is served but its controller is not found.
    cluster_autoscaling (conditional: "if an autoscaler is provided")
        pass: a ``cluster-autoscaler`` Deployment is Ready, or Karpenter (``karpenter.sh`` served and a
        ``karpenter`` Deployment Ready).
        fail: such an autoscaler is installed with nothing Ready.
        cannot-tell: none found (a managed autoscaler runs outside the cluster); a served
        ProvisioningRequest API (``autoscaling.x-k8s.io``) is reported as evidence.
    pod_autoscaling
        pass: ``autoscaling/v2`` served and the ``custom.metrics.k8s.io`` or ``external.metrics.k8s.io``
        APIService is ``Available``.
        fail: ``autoscaling/v2`` not served, or a custom/external metrics APIService is registered but
        none is Available.
        cannot-tell: no custom or external metrics API is registered (no adapter installed).
    accelerator_metrics
        pass: an accelerator metrics exporter DaemonSet is Ready (``dcgm-exporter``,
        ``device-metrics-exporter`` (AMD), ``neuron-monitor``, ``xpumanager``).
        fail: such an exporter is installed, scheduled on some node, and has nothing Ready.
        cannot-tell: none found (a Service on port 9400 is reported as evidence).
    ai_service_metrics
        pass: a metrics collector is Ready: a workload named ``prometheus`` (not an adapter, exporter
        or the operator alone), ``opentelemetry-collector``/``otel-collector``, ``vmagent`` or
        ``alloy``/``grafana-agent``; or GKE managed collection (``monitoring.googleapis.com`` served and
        its ``collector`` DaemonSet Ready). ServiceMonitor/PodMonitor APIs are reported as evidence.
        fail: such a collector is installed with nothing Ready.
        cannot-tell: none found (monitoring may be hosted outside the cluster).
    secure_accelerator_access
        pass: accelerators are visible (extended resources in node allocatable, or ResourceSlices)
        and mediated: a device-plugin DaemonSet is Ready or a DRA driver publishes ResourceSlices.
        fail: a device plugin or DRA driver DaemonSet is installed and scheduled with nothing Ready.
        cannot-tell: otherwise (no accelerators visible now). Isolation itself needs pods: not tested.
    robust_controller
        pass: an AI operator's API is served and its operator is Ready: KubeRay (``ray.io``
        rayclusters, ``kuberay-operator``), Kubeflow Training Operator (``kubeflow.org`` pytorchjobs,
        ``training-operator``), Kubeflow Trainer (``trainer.kubeflow.org`` trainjobs,
        ``trainer-controller-manager``), JobSet (``jobset-controller-manager``), LeaderWorkerSet
        (``lws-controller-manager``), Volcano Job (``batch.volcano.sh`` jobs, ``volcano-controllers``)
        — the workload kinds of ``models.operators.OPERATOR_CRDS``. How many of each served kind's
        objects carry a ``status`` (were reconciled) is reported as evidence.
        fail: none of these APIs is served, or their operators are installed with nothing Ready.
        cannot-tell: an API is served but its operator is not found.

Exit codes (``kubetwin conformance``)
    0 every requirement passes; 1 at least one fails; 3 none fails but at least one cannot be told;
    2 the cluster could not be probed at all (discovery failed).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from xml.etree import ElementTree as ET

from models.operators import OPERATOR_CRDS, is_operator_object

GetJson = Callable[[str], Awaitable[dict[str, Any] | None]]
Status = Literal["pass", "fail", "cannot-tell"]

VERSION = "v1.35"

#: (id, category, short description in our own words) for each MUST of AI Conformance v1.35.
REQUIREMENTS: tuple[tuple[str, str, str], ...] = (
    ("dra_support", "accelerators", "Dynamic Resource Allocation APIs are available"),
    ("ai_inference", "networking", "Gateway API with advanced traffic management for inference"),
    ("gang_scheduling", "schedulingOrchestration", "an all-or-nothing gang scheduling solution works"),
    ("cluster_autoscaling", "schedulingOrchestration", "node groups of an accelerator type scale with "
     "pending pods"),
    ("pod_autoscaling", "schedulingOrchestration", "HPA works for accelerator pods, on custom metrics"),
    ("accelerator_metrics", "observability", "per-accelerator utilization and memory metrics endpoint"),
    ("ai_service_metrics", "observability", "a monitoring system discovers and scrapes workload metrics"),
    ("secure_accelerator_access", "security", "accelerator access is mediated by a device plugin or DRA"),
    ("robust_controller", "operator", "a complex AI operator with CRDs installs and runs"),
)

ACCELERATOR_RESOURCES: tuple[str, ...] = (
    "nvidia.com/", "amd.com/gpu", "google.com/tpu", "aws.amazon.com/neuron", "gpu.intel.com/", "habana.ai/",
)


class ProbeError(Exception):
    """The cluster could not be probed at all (discovery failed)."""


class _Unreadable(Exception):
    """One read failed (not a 404): the requirement that needed it cannot be told."""


@dataclass
class Finding:
    """The verdict on one requirement and what it rests on."""

    id: str
    category: str
    description: str
    status: Status
    summary: str
    evidence: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "category": self.category, "level": "MUST", "status": self.status,
                "summary": self.summary, "evidence": list(self.evidence)}


@dataclass
class Report:
    """All findings for one cluster."""

    findings: list[Finding]
    server_version: str | None = None

    @property
    def exit_code(self) -> int:
        statuses = {f.status for f in self.findings}
        if "fail" in statuses:
            return 1
        if "cannot-tell" in statuses:
            return 3
        return 0

    def counts(self) -> dict[str, int]:
        return {s: sum(1 for f in self.findings if f.status == s) for s in ("pass", "fail", "cannot-tell")}

    def to_dict(self) -> dict[str, Any]:
        return {"aiConformanceVersion": VERSION, "serverVersion": self.server_version,
                "summary": self.counts(), "exitCode": self.exit_code,
                "requirements": [f.to_dict() for f in self.findings]}

    def to_junit(self) -> str:
        counts = self.counts()
        suites = ET.Element("testsuites", name="kubetwin conformance", tests=str(len(self.findings)),
                            failures=str(counts["fail"]), skipped=str(counts["cannot-tell"]), errors="0")
        suite = ET.SubElement(suites, "testsuite", name=f"ai-conformance-{VERSION}",
                              tests=str(len(self.findings)), failures=str(counts["fail"]),
                              skipped=str(counts["cannot-tell"]), errors="0")
        for f in self.findings:
            case = ET.SubElement(suite, "testcase", classname=f"ai-conformance.{f.category}", name=f.id)
            text = "\n".join(f.evidence)
            if f.status == "fail":
                ET.SubElement(case, "failure", message=f.summary, type="fail").text = text
            elif f.status == "cannot-tell":
                ET.SubElement(case, "skipped", message=f"cannot tell: {f.summary}")
            out = ET.SubElement(case, "system-out")
            out.text = f"{f.summary}\n{text}" if text else f.summary
        ET.indent(suites)
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


# --------------------------------------------------------------------------------------------------
# reading the cluster

@dataclass
class _Workload:
    kind: str
    namespace: str
    name: str
    ready: int
    desired: int

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name} ({self.ready}/{self.desired} ready)"


class Cluster:
    """Memoized reads over ``get_json``: discovery, lists, controller workloads."""

    def __init__(self, get_json: GetJson) -> None:
        self._get_json = get_json
        self._cache: dict[str, dict[str, Any] | None] = {}
        self.groups: dict[str, list[str]] = {}      # group -> versions, preferred first
        self._workloads: list[_Workload] | None = None

    async def get(self, path: str) -> dict[str, Any] | None:
        if path not in self._cache:
            try:
                self._cache[path] = await self._get_json(path)
            except Exception as e:  # 403, 5xx, timeouts: whatever the client raises
                raise _Unreadable(f"could not read {path}: {e}") from e
        return self._cache[path]

    async def discover(self) -> str | None:
        """Read ``/version`` and ``/apis``; raise :class:`ProbeError` if the cluster cannot be read."""
        try:
            version = await self.get("/version")
            apis = await self.get("/apis")
        except _Unreadable as e:
            raise ProbeError(str(e)) from e
        if apis is None:
            raise ProbeError("/apis answered 404: this is not a Kubernetes apiserver")
        for g in apis.get("groups") or []:
            if not isinstance(g, dict) or not isinstance(g.get("name"), str):
                continue
            versions = [v.get("version") for v in g.get("versions") or [] if isinstance(v, dict)]
            preferred = (g.get("preferredVersion") or {}).get("version")
            ordered = ([preferred] if preferred in versions else []) + [v for v in versions if v != preferred]
            self.groups[g["name"]] = [v for v in ordered if isinstance(v, str)]
        return str(version.get("gitVersion")) if version and version.get("gitVersion") else None

    async def served(self, group: str, resource: str) -> str | None:
        """The group-version (preferred first) serving ``resource`` in ``group``, if any."""
        for v in self.groups.get(group, []):
            doc = await self.get(f"/apis/{group}/{v}")
            names = {r.get("name") for r in (doc or {}).get("resources") or [] if isinstance(r, dict)}
            if resource in names:
                return f"{group}/{v}"
        return None

    async def items(self, path: str) -> list[dict[str, Any]]:
        doc = await self.get(path)
        return [i for i in (doc or {}).get("items") or [] if isinstance(i, dict)]

    async def workloads(self) -> list[_Workload]:
        """Every Deployment, DaemonSet and StatefulSet, with ready and desired counts."""
        if self._workloads is None:
            out: list[_Workload] = []
            for kind, res in (("Deployment", "deployments"), ("DaemonSet", "daemonsets"),
                              ("StatefulSet", "statefulsets")):
                for item in await self.items(f"/apis/apps/v1/{res}"):
                    meta, spec, status = item.get("metadata") or {}, item.get("spec") or {}, item.get("status") or {}
                    if kind == "DaemonSet":
                        ready, desired = status.get("numberReady"), status.get("desiredNumberScheduled")
                    else:
                        ready, desired = status.get("readyReplicas"), spec.get("replicas", 1)
                    out.append(_Workload(kind, str(meta.get("namespace", "")), str(meta.get("name", "")),
                                         ready if isinstance(ready, int) else 0,
                                         desired if isinstance(desired, int) else 0))
            self._workloads = out
        return self._workloads

    async def find(self, patterns: tuple[str, ...], *, kinds: tuple[str, ...] = (),
                   exclude: tuple[str, ...] = ()) -> list[_Workload]:
        """Workloads whose name contains one of ``patterns`` (and none of ``exclude``)."""
        return [w for w in await self.workloads()
                if any(p in w.name for p in patterns) and not any(x in w.name for x in exclude)
                and (not kinds or w.kind in kinds)]


def _condition_true(obj: dict[str, Any], type_: str) -> bool:
    return any(isinstance(condition, dict) and condition.get("type") == type_ and condition.get("status") == "True"
               for condition in (obj.get("status") or {}).get("conditions") or [])


def _names(items: list[dict[str, Any]], limit: int = 5) -> str:
    names = sorted(str((i.get("metadata") or {}).get("name")) for i in items)
    more = f", … ({len(names)} in all)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


# --------------------------------------------------------------------------------------------------
# the checks: each returns (status, summary, evidence)

Verdict = tuple[Status, str, list[str]]


async def check_dra_support(cluster: Cluster) -> Verdict:
    versions = cluster.groups.get("resource.k8s.io", [])
    if not versions:
        return "fail", "resource.k8s.io is not served", ["discovery: no resource.k8s.io group"]
    if "v1" not in versions:
        return "fail", "resource.k8s.io is served only at " + ", ".join(versions) + "; v1.35 needs v1", \
            [f"discovery: resource.k8s.io {', '.join(versions)}"]
    evidence = ["discovery: resource.k8s.io/v1 served"]
    slices = await cluster.items("/apis/resource.k8s.io/v1/resourceslices")
    classes = await cluster.items("/apis/resource.k8s.io/v1/deviceclasses")
    drivers = sorted({str((s.get("spec") or {}).get("driver")) for s in slices})
    devices = sum(len((s.get("spec") or {}).get("devices") or []) for s in slices)
    evidence.append(f"{len(slices)} ResourceSlice(s), {devices} device(s)"
              + (f", drivers: {', '.join(drivers)}" if drivers else ""))
    evidence.append(f"{len(classes)} DeviceClass(es)" + (f": {_names(classes)}" if classes else ""))
    if slices:
        return "pass", f"DRA v1 served; {devices} device(s) published by {len(drivers)} driver(s)", evidence
    return "cannot-tell", "DRA v1 is served but no driver publishes ResourceSlices", evidence


async def check_ai_inference(cluster: Cluster) -> Verdict:
    group = "gateway.networking.k8s.io"
    group_version = await cluster.served(group, "httproutes")
    if group_version is None:
        return "fail", "the Gateway API (HTTPRoute) is not served", [
            f"discovery: {group} " + (", ".join(cluster.groups[group]) if group in cluster.groups else "not served")]
    evidence = [f"discovery: {group_version} serves httproutes"]
    classes = await cluster.items(f"/apis/{group_version}/gatewayclasses")
    accepted = [g for g in classes if _condition_true(g, "Accepted")]
    for g in classes:
        name = (g.get("metadata") or {}).get("name")
        ctrl = (g.get("spec") or {}).get("controllerName")
        evidence.append(f"GatewayClass {name} ({ctrl}): {'Accepted' if g in accepted else 'not Accepted'}")
    gateways = await cluster.items(f"/apis/{group_version}/gateways")
    routes = await cluster.items(f"/apis/{group_version}/httproutes")
    evidence.append(f"{len(gateways)} Gateway(s), {len(routes)} HTTPRoute(s)")
    if "inference.networking.k8s.io" in cluster.groups or "inference.networking.x-k8s.io" in cluster.groups:
        evidence.append("discovery: Gateway API Inference Extension (InferencePool) served")
    if accepted:
        return "pass", f"Gateway API served with {len(accepted)} Accepted GatewayClass(es)", evidence
    return "cannot-tell", "Gateway API is served but no GatewayClass is Accepted", evidence


@dataclass
class _Solution:
    label: str
    group: str
    resource: str
    controllers: tuple[str, ...]   # name patterns; empty = built into the control plane


async def _solutions(cluster: Cluster, solutions: list[_Solution], what: str, nothing: Verdict) -> Verdict:
    """pass if one is served with a Ready controller; fail if installed and down; else cannot-tell."""
    evidence: list[str] = []
    ready: list[str] = []
    down: list[str] = []
    unseen: list[str] = []
    for s in solutions:
        group_version = await cluster.served(s.group, s.resource)
        if group_version is None:
            continue
        if not s.controllers:
            evidence.append(f"{s.label}: {group_version} serves {s.resource} (built into the control plane)")
            ready.append(s.label)
            continue
        found = await cluster.find(s.controllers, kinds=("Deployment", "StatefulSet"))
        if not found:
            evidence.append(f"{s.label}: {group_version} serves {s.resource}; controller not found")
            unseen.append(s.label)
            continue
        evidence.append(f"{s.label}: {group_version} serves {s.resource}; " + "; ".join(str(w) for w in found))
        (ready if any(w.ready > 0 for w in found) else down).append(s.label)
    if ready:
        return "pass", f"{what} running: {', '.join(ready)}", evidence
    if down:
        return "fail", f"{what} installed but not Ready: {', '.join(down)}", evidence
    if unseen:
        return "cannot-tell", f"{what} API served but its controller was not found: {', '.join(unseen)}", evidence
    return nothing[0], nothing[1], nothing[2] + evidence


async def check_gang_scheduling(cluster: Cluster) -> Verdict:
    return await _solutions(cluster, [
        _Solution("Kueue", "kueue.x-k8s.io", "workloads", ("kueue-controller-manager",)),
        _Solution("Volcano", "scheduling.volcano.sh", "podgroups", ("volcano-scheduler",)),
        _Solution("coscheduling (scheduler-plugins)", "scheduling.x-k8s.io", "podgroups",
                  ("scheduler-plugins",)),
        _Solution("Workload API", "scheduling.k8s.io", "workloads", ()),
    ], "gang scheduling", ("fail", "no gang-scheduling API is served", [
        "discovery: none of kueue.x-k8s.io, scheduling.volcano.sh, scheduling.x-k8s.io podgroups, "
        "scheduling.k8s.io workloads"]))


async def check_cluster_autoscaling(cluster: Cluster) -> Verdict:
    evidence: list[str] = []
    if await cluster.served("autoscaling.x-k8s.io", "provisioningrequests"):
        evidence.append("discovery: autoscaling.x-k8s.io serves provisioningrequests")
    autoscalers = await cluster.find(("cluster-autoscaler",), kinds=("Deployment",))
    karp_gv = await cluster.served("karpenter.sh", "nodepools")
    karp = await cluster.find(("karpenter",), kinds=("Deployment",)) if karp_gv else []
    if karp_gv:
        evidence.append(f"discovery: {karp_gv} serves nodepools")
    evidence += [str(w) for w in autoscalers + karp]
    if any(w.ready > 0 for w in autoscalers + karp):
        names = (["cluster-autoscaler"] if any(w.ready > 0 for w in autoscalers) else []) + \
            (["Karpenter"] if any(w.ready > 0 for w in karp) else [])
        return "pass", f"node autoscaler running: {', '.join(names)}", evidence
    if autoscalers or karp:
        return "fail", "a node autoscaler is installed but not Ready", evidence
    return "cannot-tell", "no in-cluster node autoscaler found (a managed one may run outside the " \
        "cluster)", evidence


async def check_pod_autoscaling(cluster: Cluster) -> Verdict:
    if "v2" not in cluster.groups.get("autoscaling", []):
        return "fail", "autoscaling/v2 is not served", ["discovery: autoscaling/v2 missing"]
    evidence = ["discovery: autoscaling/v2 served"]
    hpas = await cluster.items("/apis/autoscaling/v2/horizontalpodautoscalers")
    custom = sum(1 for h in hpas for m in (h.get("spec") or {}).get("metrics") or []
                 if isinstance(m, dict) and m.get("type") in ("Pods", "Object", "External"))
    evidence.append(f"{len(hpas)} HorizontalPodAutoscaler(s), {custom} custom/external metric target(s)")
    available: list[str] = []
    registered: list[str] = []
    for group in ("custom.metrics.k8s.io", "external.metrics.k8s.io"):
        for v in ("v1beta2", "v1beta1"):
            svc = await cluster.get(f"/apis/apiregistration.k8s.io/v1/apiservices/{v}.{group}")
            if svc is None:
                continue
            registered.append(f"{v}.{group}")
            ok = _condition_true(svc, "Available")
            backend = (svc.get("spec") or {}).get("service") or {}
            where = f" → {backend.get('namespace')}/{backend.get('name')}" if backend else ""
            evidence.append(f"APIService {v}.{group}{where}: {'Available' if ok else 'not Available'}")
            if ok:
                available.append(group)
    if available:
        return "pass", f"HPA v2 with {', '.join(sorted(set(available)))} available", evidence
    if registered:
        return "fail", "custom/external metrics APIService registered but not Available", evidence
    return "cannot-tell", "no custom or external metrics API registered (no metrics adapter)", evidence


async def _accelerators(cluster: Cluster) -> list[str]:
    """Evidence lines for accelerators the cluster exposes (node extended resources, DRA devices)."""
    found: dict[str, int] = {}
    for node in await cluster.items("/api/v1/nodes"):
        for res, qty in ((node.get("status") or {}).get("allocatable") or {}).items():
            if res.startswith(ACCELERATOR_RESOURCES) and str(qty) not in ("0", ""):
                found[res] = found.get(res, 0) + 1
    out = [f"{n} node(s) with {res}" for res, n in sorted(found.items())]
    if "v1" in cluster.groups.get("resource.k8s.io", []):
        slices = await cluster.items("/apis/resource.k8s.io/v1/resourceslices")
        devices = sum(len((s.get("spec") or {}).get("devices") or []) for s in slices)
        if devices:
            out.append(f"{devices} DRA device(s) in ResourceSlices")
    return out


async def check_accelerator_metrics(cluster: Cluster) -> Verdict:
    exporters = await cluster.find(("dcgm-exporter", "device-metrics-exporter", "neuron-monitor", "xpumanager"),
                             kinds=("DaemonSet", "Deployment"))
    evidence = [str(w) for w in exporters]
    for svc in await cluster.items("/api/v1/services"):
        ports = [p.get("port") for p in (svc.get("spec") or {}).get("ports") or [] if isinstance(p, dict)]
        if 9400 in ports:
            meta = svc.get("metadata") or {}
            evidence.append(f"Service {meta.get('namespace')}/{meta.get('name')} exposes port 9400 (DCGM exporter)")
    accel = await _accelerators(cluster)
    evidence += accel
    if any(w.ready > 0 for w in exporters):
        return "pass", "accelerator metrics exporter running: " + ", ".join(
            sorted({w.name for w in exporters if w.ready > 0})), evidence
    if any(w.desired > 0 for w in exporters):
        return "fail", "accelerator metrics exporter installed but not Ready", evidence
    if exporters:
        return "cannot-tell", "accelerator metrics exporter installed but scheduled on no node", evidence
    return "cannot-tell", "no accelerator metrics exporter found" + (
        "" if accel else " (no accelerators visible)"), evidence


async def check_ai_service_metrics(cluster: Cluster) -> Verdict:
    evidence: list[str] = []
    for group, res in (("monitoring.coreos.com", "servicemonitors"), ("monitoring.coreos.com", "podmonitors"),
                       ("monitoring.googleapis.com", "podmonitorings")):
        group_version = await cluster.served(group, res)
        if group_version:
            evidence.append(f"discovery: {group_version} serves {res}")
    collectors = await cluster.find(("prometheus", "otel-collector", "opentelemetry-collector", "vmagent", "alloy",
                               "grafana-agent"),
                              exclude=("adapter", "exporter", "operator", "blackbox"))
    if "monitoring.googleapis.com" in cluster.groups:
        collectors += [w for w in await cluster.find(("collector",), kinds=("DaemonSet",))
                       if w.namespace in ("gmp-system", "gke-gmp-system") and w not in collectors]
    evidence += [str(w) for w in collectors]
    if any(w.ready > 0 for w in collectors):
        return "pass", "metrics collector running: " + ", ".join(
            sorted({w.name for w in collectors if w.ready > 0})), evidence
    if collectors:
        return "fail", "a metrics collector is installed but not Ready", evidence
    return "cannot-tell", "no in-cluster metrics collector found (monitoring may be hosted)", evidence


async def check_secure_accelerator_access(cluster: Cluster) -> Verdict:
    plugins = await cluster.find(("device-plugin", "kubelet-plugin", "dra-driver"), kinds=("DaemonSet",))
    accel = await _accelerators(cluster)
    evidence = [str(w) for w in plugins] + accel
    dra = any("DRA device" in line for line in accel)
    if accel and (dra or any(w.ready > 0 for w in plugins)):
        how = (["DRA"] if dra else []) + (["device plugin"] if any(w.ready > 0 for w in plugins) else [])
        return "pass", f"accelerators mediated by {' and '.join(how)} (isolation itself not exercised)", evidence
    if any(w.desired > 0 and w.ready == 0 for w in plugins) and not any(w.ready > 0 for w in plugins):
        return "fail", "device plugin / DRA driver installed but not Ready", evidence
    return "cannot-tell", "no accelerators visible" if not accel else \
        "accelerators visible but no device plugin or DRA driver found", evidence


#: further names an operator's controller Deployment goes by (Helm charts and older releases)
_CONTROLLER_ALIASES: dict[str, tuple[str, ...]] = {
    "trainer.kubeflow.org": ("trainer-controller-manager", "kubeflow-trainer"),
    "batch.volcano.sh": ("volcano-controller",),
}
_OPERATOR_LABELS = {"ray.io": "KubeRay", "kubeflow.org": "Kubeflow Training Operator",
                    "trainer.kubeflow.org": "Kubeflow Trainer", "jobset.x-k8s.io": "JobSet",
                    "leaderworkerset.x-k8s.io": "LeaderWorkerSet", "batch.volcano.sh": "Volcano Job"}


def operator_solutions() -> list[_Solution]:
    """One solution per AI operator whose workload kinds kubetwin reads (:data:`models.operators.OPERATOR_CRDS`;
    runtimes, PodGroups and Queues are not workloads): its first workload CRD and its controller."""
    out: dict[str, _Solution] = {}
    for crd in OPERATOR_CRDS:
        if crd.group not in _OPERATOR_LABELS or crd.group in out or not is_operator_object(crd.api_version, crd.kind):
            continue
        controller = crd.controller.rsplit("/", 1)[-1]
        out[crd.group] = _Solution(_OPERATOR_LABELS[crd.group], crd.group, crd.plural,
                                   (controller, *_CONTROLLER_ALIASES.get(crd.group, ())))
    return list(out.values())


async def _reconciled(cluster: Cluster, solutions: list[_Solution]) -> list[str]:
    """Evidence that served operators reconcile their objects: how many carry a ``status``."""
    evidence: list[str] = []
    for s in solutions:
        group_version = await cluster.served(s.group, s.resource)
        if group_version is None:
            continue
        objects = await cluster.items(f"/apis/{group_version}/{s.resource}")
        if objects:
            done = sum(1 for o in objects if o.get("status"))
            evidence.append(f"{s.label}: {done} of {len(objects)} {s.resource} reconciled (have a status)")
    return evidence


async def check_robust_controller(cluster: Cluster) -> Verdict:
    solutions = operator_solutions()
    groups = ", ".join(s.group for s in solutions)
    status, summary, evidence = await _solutions(cluster, solutions, "AI operator", (
        "fail", "no AI operator API is served", [f"discovery: none of {groups}"]))
    return status, summary, evidence + await _reconciled(cluster, solutions)


CHECKS: dict[str, Callable[[Cluster], Awaitable[Verdict]]] = {
    "dra_support": check_dra_support,
    "ai_inference": check_ai_inference,
    "gang_scheduling": check_gang_scheduling,
    "cluster_autoscaling": check_cluster_autoscaling,
    "pod_autoscaling": check_pod_autoscaling,
    "accelerator_metrics": check_accelerator_metrics,
    "ai_service_metrics": check_ai_service_metrics,
    "secure_accelerator_access": check_secure_accelerator_access,
    "robust_controller": check_robust_controller,
}


async def probe(get_json: GetJson) -> Report:
    """Probe a cluster for every MUST; raises :class:`ProbeError` when discovery itself fails."""
    cluster = Cluster(get_json)
    version = await cluster.discover()
    findings: list[Finding] = []
    for rid, category, description in REQUIREMENTS:
        try:
            status, summary, evidence = await CHECKS[rid](cluster)
        except _Unreadable as e:
            status, summary, evidence = "cannot-tell", "a read failed", [str(e)]
        findings.append(Finding(rid, category, description, status, summary, evidence))
    return Report(findings, version)
