"""validator.live.conformance and `kubetwin conformance`: exact verdicts over fake discovery and objects."""

from __future__ import annotations

import asyncio
import copy
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import typer
from aiohttp import web
from typer.testing import CliRunner

from kubetwin import cmd_conformance
from models.errors import InputError
from validator.live.conformance import ProbeError, Report, probe

#: every path any fake in this file was asked for (tests/test_rbac.py checks them against rbac.yaml)
SEEN_PATHS: set[str] = set()


class FakeApi:
    """A dict-backed ``get_json``: path (query ignored) → document, exception, or absent (404)."""

    def __init__(self, docs: dict[str, Any]) -> None:
        self.docs = docs
        self.paths: list[str] = []

    async def get_json(self, path: str) -> dict[str, Any] | None:
        self.paths.append(path)
        SEEN_PATHS.add(path)
        doc = self.docs.get(path.split("?", 1)[0])
        if isinstance(doc, Exception):
            raise doc
        return copy.deepcopy(doc)

    def close(self) -> None:
        self.docs = {}


def discovery(groups: dict[str, dict[str, list[str]]]) -> dict[str, Any]:
    """``/version``, ``/apis`` and ``/apis/<g>/<v>`` documents for {group: {version: [resources]}}."""
    docs: dict[str, Any] = {"/version": {"major": "1", "minor": "35", "gitVersion": "v1.35.1"}}
    docs["/apis"] = {"kind": "APIGroupList", "groups": [
        {"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v} for v in vs],
         "preferredVersion": {"groupVersion": f"{g}/{next(iter(vs))}", "version": next(iter(vs))}}
        for g, vs in groups.items()]}
    for g, vs in groups.items():
        for v, resources in vs.items():
            docs[f"/apis/{g}/{v}"] = {"kind": "APIResourceList", "groupVersion": f"{g}/{v}",
                                      "resources": [{"name": r, "namespaced": True} for r in resources]
                                      + [{"name": f"{r}/status"} for r in resources]}
    return docs


def lst(*items: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "List", "items": list(items)}


def meta(name: str, ns: str | None = None) -> dict[str, Any]:
    return {"name": name, **({"namespace": ns} if ns else {})}


def deploy(ns: str, name: str, ready: int, replicas: int = 1) -> dict[str, Any]:
    return {"metadata": meta(name, ns), "spec": {"replicas": replicas},
            "status": {"readyReplicas": ready} if ready else {}}


def ds(ns: str, name: str, ready: int, desired: int) -> dict[str, Any]:
    return {"metadata": meta(name, ns), "status": {"numberReady": ready, "desiredNumberScheduled": desired}}


BASE_GROUPS: dict[str, dict[str, list[str]]] = {
    "apps": {"v1": ["deployments", "daemonsets", "statefulsets"]},
    "autoscaling": {"v2": ["horizontalpodautoscalers"], "v1": ["horizontalpodautoscalers"]},
    "apiregistration.k8s.io": {"v1": ["apiservices"]},
}


def empty_cluster() -> dict[str, Any]:
    docs = discovery(BASE_GROUPS)
    for p in ("/apis/apps/v1/deployments", "/apis/apps/v1/daemonsets", "/apis/apps/v1/statefulsets",
              "/api/v1/nodes", "/api/v1/services", "/apis/autoscaling/v2/horizontalpodautoscalers"):
        docs[p] = lst()
    return docs


def conformant_cluster() -> dict[str, Any]:
    groups = dict(BASE_GROUPS)
    groups.update({
        "resource.k8s.io": {"v1": ["resourceslices", "deviceclasses", "resourceclaims"],
                            "v1beta2": ["resourceslices"]},
        "gateway.networking.k8s.io": {"v1": ["gatewayclasses", "gateways", "httproutes"]},
        "kueue.x-k8s.io": {"v1beta2": ["workloads", "clusterqueues", "localqueues"]},
        "monitoring.coreos.com": {"v1": ["servicemonitors", "podmonitors", "prometheuses"]},
        "ray.io": {"v1": ["rayclusters", "rayjobs", "rayservices"]},
        "custom.metrics.k8s.io": {"v1beta1": []},
    })
    docs = discovery(groups)
    docs["/apis/resource.k8s.io/v1/resourceslices"] = lst(
        {"metadata": meta("n1-gpu.nvidia.com-jfrc8"),
         "spec": {"driver": "gpu.nvidia.com", "nodeName": "n1", "pool": {"name": "n1"},
                  "devices": [{"name": "gpu-0"}, {"name": "gpu-1"}]}})
    docs["/apis/resource.k8s.io/v1/deviceclasses"] = lst(
        {"metadata": meta("gpu.nvidia.com")}, {"metadata": meta("mig.nvidia.com")})
    docs["/apis/gateway.networking.k8s.io/v1/gatewayclasses"] = lst(
        {"metadata": meta("istio"), "spec": {"controllerName": "istio.io/gateway-controller"},
         "status": {"conditions": [{"type": "Accepted", "status": "True"}]}})
    docs["/apis/gateway.networking.k8s.io/v1/gateways"] = lst({"metadata": meta("inference", "llm")})
    docs["/apis/gateway.networking.k8s.io/v1/httproutes"] = lst({"metadata": meta("split", "llm")})
    docs["/apis/apps/v1/deployments"] = lst(
        deploy("kueue-system", "kueue-controller-manager", 1),
        deploy("kube-system", "cluster-autoscaler", 1),
        deploy("ray-system", "kuberay-operator", 1),
        deploy("monitoring", "prometheus-adapter", 1),
        deploy("monitoring", "prometheus-operator", 1))
    docs["/apis/apps/v1/daemonsets"] = lst(
        ds("gpu-operator", "nvidia-dcgm-exporter", 2, 2),
        ds("gpu-operator", "nvidia-device-plugin-daemonset", 2, 2),
        ds("nvidia-dra-driver-gpu", "nvidia-dra-driver-gpu-kubelet-plugin", 2, 2))
    docs["/apis/apps/v1/statefulsets"] = lst(
        {"metadata": meta("prometheus-k8s", "monitoring"), "spec": {"replicas": 2},
         "status": {"readyReplicas": 2}})
    docs["/api/v1/nodes"] = lst(
        {"metadata": meta("n1"), "status": {"allocatable": {"cpu": "32", "nvidia.com/gpu": "2"}}},
        {"metadata": meta("n2"), "status": {"allocatable": {"cpu": "32", "nvidia.com/gpu": "0"}}},
        {"metadata": meta("cp"), "status": {"allocatable": {"cpu": "4"}}})
    docs["/api/v1/services"] = lst(
        {"metadata": meta("nvidia-dcgm-exporter", "gpu-operator"),
         "spec": {"ports": [{"name": "gpu-metrics", "port": 9400}]}})
    docs["/apis/autoscaling/v2/horizontalpodautoscalers"] = lst(
        {"metadata": meta("llm", "llm"), "spec": {"metrics": [{"type": "Pods"}, {"type": "Resource"}]}})
    docs["/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.custom.metrics.k8s.io"] = {
        "metadata": meta("v1beta1.custom.metrics.k8s.io"),
        "spec": {"service": {"namespace": "monitoring", "name": "prometheus-adapter"}},
        "status": {"conditions": [{"type": "Available", "status": "True"}]}}
    return docs


def run_probe(docs: dict[str, Any]) -> Report:
    return asyncio.run(probe(FakeApi(docs).get_json))


def statuses(report: Report) -> dict[str, str]:
    return {f.id: f.status for f in report.findings}


def finding(report: Report, rid: str) -> tuple[str, str, list[str]]:
    f = next(f for f in report.findings if f.id == rid)
    return f.status, f.summary, f.evidence


# ------------------------------------------------------------------------------------------------

def test_conformant_cluster_passes_everything() -> None:
    r = run_probe(conformant_cluster())
    assert statuses(r) == {k: "pass" for k in (
        "dra_support", "ai_inference", "gang_scheduling", "cluster_autoscaling", "pod_autoscaling",
        "accelerator_metrics", "ai_service_metrics", "secure_accelerator_access", "robust_controller")}
    assert r.exit_code == 0
    assert r.server_version == "v1.35.1"
    assert finding(r, "dra_support") == (
        "pass", "DRA v1 served; 2 device(s) published by 1 driver(s)",
        ["discovery: resource.k8s.io/v1 served", "1 ResourceSlice(s), 2 device(s), drivers: gpu.nvidia.com",
         "2 DeviceClass(es): gpu.nvidia.com, mig.nvidia.com"])
    assert finding(r, "ai_inference") == (
        "pass", "Gateway API served with 1 Accepted GatewayClass(es)",
        ["discovery: gateway.networking.k8s.io/v1 serves httproutes",
         "GatewayClass istio (istio.io/gateway-controller): Accepted", "1 Gateway(s), 1 HTTPRoute(s)"])
    assert finding(r, "gang_scheduling") == (
        "pass", "gang scheduling running: Kueue",
        ["Kueue: kueue.x-k8s.io/v1beta2 serves workloads; "
         "Deployment kueue-system/kueue-controller-manager (1/1 ready)"])
    assert finding(r, "cluster_autoscaling") == (
        "pass", "node autoscaler running: cluster-autoscaler",
        ["Deployment kube-system/cluster-autoscaler (1/1 ready)"])
    assert finding(r, "pod_autoscaling") == (
        "pass", "HPA v2 with custom.metrics.k8s.io available",
        ["discovery: autoscaling/v2 served",
         "1 HorizontalPodAutoscaler(s), 1 custom/external metric target(s)",
         "APIService v1beta1.custom.metrics.k8s.io → monitoring/prometheus-adapter: Available"])
    assert finding(r, "accelerator_metrics") == (
        "pass", "accelerator metrics exporter running: nvidia-dcgm-exporter",
        ["DaemonSet gpu-operator/nvidia-dcgm-exporter (2/2 ready)",
         "Service gpu-operator/nvidia-dcgm-exporter exposes port 9400 (DCGM exporter)",
         "1 node(s) with nvidia.com/gpu", "2 DRA device(s) in ResourceSlices"])
    assert finding(r, "ai_service_metrics") == (
        "pass", "metrics collector running: prometheus-k8s",
        ["discovery: monitoring.coreos.com/v1 serves servicemonitors",
         "discovery: monitoring.coreos.com/v1 serves podmonitors",
         "StatefulSet monitoring/prometheus-k8s (2/2 ready)"])
    assert finding(r, "secure_accelerator_access")[:2] == (
        "pass", "accelerators mediated by DRA and device plugin (isolation itself not exercised)")
    assert finding(r, "robust_controller") == (
        "pass", "AI operator running: KubeRay",
        ["KubeRay: ray.io/v1 serves rayclusters; Deployment ray-system/kuberay-operator (1/1 ready)"])


def test_empty_cluster_fails_or_cannot_tell() -> None:
    r = run_probe(empty_cluster())
    assert statuses(r) == {
        "dra_support": "fail", "ai_inference": "fail", "gang_scheduling": "fail",
        "cluster_autoscaling": "cannot-tell", "pod_autoscaling": "cannot-tell",
        "accelerator_metrics": "cannot-tell", "ai_service_metrics": "cannot-tell",
        "secure_accelerator_access": "cannot-tell", "robust_controller": "fail"}
    assert r.exit_code == 1
    assert finding(r, "dra_support") == ("fail", "resource.k8s.io is not served",
                                         ["discovery: no resource.k8s.io group"])
    assert finding(r, "ai_inference") == ("fail", "the Gateway API (HTTPRoute) is not served",
                                          ["discovery: gateway.networking.k8s.io not served"])
    assert finding(r, "pod_autoscaling") == (
        "cannot-tell", "no custom or external metrics API registered (no metrics adapter)",
        ["discovery: autoscaling/v2 served",
         "0 HorizontalPodAutoscaler(s), 0 custom/external metric target(s)"])
    assert finding(r, "accelerator_metrics") == (
        "cannot-tell", "no accelerator metrics exporter found (no accelerators visible)", [])
    assert finding(r, "secure_accelerator_access") == ("cannot-tell", "no accelerators visible", [])


def test_partial_clusters() -> None:
    docs = conformant_cluster()
    # DRA only at beta
    beta = copy.deepcopy(docs)
    beta["/apis"]["groups"] = [g for g in beta["/apis"]["groups"] if g["name"] != "resource.k8s.io"] + [
        {"name": "resource.k8s.io",
         "versions": [{"groupVersion": "resource.k8s.io/v1beta2", "version": "v1beta2"}],
         "preferredVersion": {"version": "v1beta2"}}]
    r = run_probe(beta)
    assert finding(r, "dra_support") == ("fail", "resource.k8s.io is served only at v1beta2; v1.35 needs v1",
                                         ["discovery: resource.k8s.io v1beta2"])
    assert finding(r, "secure_accelerator_access")[:2] == (
        "pass", "accelerators mediated by device plugin (isolation itself not exercised)")
    # DRA v1 without slices; Kueue controller down; adapter registered but unavailable; no autoscaler
    part = copy.deepcopy(docs)
    part["/apis/resource.k8s.io/v1/resourceslices"] = lst()
    part["/apis/apps/v1/deployments"] = lst(deploy("kueue-system", "kueue-controller-manager", 0),
                                            deploy("ray-system", "kuberay-operator", 1))
    svc = part["/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.custom.metrics.k8s.io"]
    svc["status"]["conditions"][0]["status"] = "False"
    part["/apis/gateway.networking.k8s.io/v1/gatewayclasses"] = lst(
        {"metadata": meta("none"), "spec": {"controllerName": "x"}})
    r = run_probe(part)
    assert statuses(r) == {
        "dra_support": "cannot-tell", "ai_inference": "cannot-tell", "gang_scheduling": "fail",
        "cluster_autoscaling": "cannot-tell", "pod_autoscaling": "fail", "accelerator_metrics": "pass",
        "ai_service_metrics": "pass", "secure_accelerator_access": "pass", "robust_controller": "pass"}
    assert finding(r, "gang_scheduling")[:2] == ("fail", "gang scheduling installed but not Ready: Kueue")
    assert finding(r, "pod_autoscaling")[1] == \
        "custom/external metrics APIService registered but not Available"
    # Kueue API without a visible controller, nothing failing otherwise → exit 3
    three = copy.deepcopy(docs)
    three["/apis/apps/v1/deployments"] = lst(deploy("kube-system", "cluster-autoscaler", 1),
                                             deploy("ray-system", "kuberay-operator", 1))
    r = run_probe(three)
    assert finding(r, "gang_scheduling") == (
        "cannot-tell", "gang scheduling API served but its controller was not found: Kueue",
        ["Kueue: kueue.x-k8s.io/v1beta2 serves workloads; controller not found"])
    assert r.exit_code == 3


def test_workload_api_and_karpenter_and_exporter_down() -> None:
    docs = empty_cluster()
    extra = {"scheduling.k8s.io": {"v1alpha1": ["workloads"], "v1": ["priorityclasses"]},
             "karpenter.sh": {"v1": ["nodepools", "nodeclaims"]}}
    docs["/apis"]["groups"] += discovery(extra)["/apis"]["groups"]
    docs["/apis/scheduling.k8s.io/v1alpha1"] = {"resources": [{"name": "workloads"}]}
    docs["/apis/karpenter.sh/v1"] = {"resources": [{"name": "nodepools"}]}
    docs["/apis/apps/v1/deployments"] = lst(deploy("kube-system", "karpenter", 2, 2))
    docs["/apis/apps/v1/daemonsets"] = lst(ds("gpu-operator", "nvidia-dcgm-exporter", 0, 3))
    r = run_probe(docs)
    assert finding(r, "gang_scheduling") == (
        "pass", "gang scheduling running: Workload API",
        ["Workload API: scheduling.k8s.io/v1alpha1 serves workloads (built into the control plane)"])
    assert finding(r, "cluster_autoscaling") == (
        "pass", "node autoscaler running: Karpenter",
        ["discovery: karpenter.sh/v1 serves nodepools", "Deployment kube-system/karpenter (2/2 ready)"])
    assert finding(r, "accelerator_metrics")[:2] == (
        "fail", "accelerator metrics exporter installed but not Ready")


def test_forbidden_read_is_cannot_tell_and_failed_discovery_is_probe_error() -> None:
    docs = conformant_cluster()
    docs["/apis/apps/v1/deployments"] = PermissionError("403 Forbidden")
    r = run_probe(docs)
    assert finding(r, "gang_scheduling") == (
        "cannot-tell", "a read failed", ["could not read /apis/apps/v1/deployments: 403 Forbidden"])
    assert finding(r, "dra_support")[0] == "pass"
    with pytest.raises(ProbeError, match="could not read /version: connection refused"):
        run_probe({"/version": ConnectionRefusedError("connection refused")})
    with pytest.raises(ProbeError, match="not a Kubernetes apiserver"):
        run_probe({"/version": {}})


def test_probe_only_reads_with_get_and_never_twice() -> None:
    api = FakeApi(conformant_cluster())
    asyncio.run(probe(api.get_json))
    assert len(api.paths) == len(set(api.paths))
    assert api.paths[:2] == ["/version", "/apis"]


def test_junit_and_json_reports() -> None:
    r = run_probe(empty_cluster())
    root = ET.fromstring(r.to_junit())
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("9", "4", "5")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases][:3] == ["dra_support", "ai_inference", "gang_scheduling"]
    assert len([c for c in cases if c.find("failure") is not None]) == 4
    assert len([c for c in cases if c.find("skipped") is not None]) == 5
    fail = cases[0].find("failure")
    assert fail is not None and fail.get("message") == "resource.k8s.io is not served"
    d = r.to_dict()
    assert d["summary"] == {"pass": 0, "fail": 4, "cannot-tell": 5}
    assert d["exitCode"] == 1
    assert d["requirements"][0] == {
        "id": "dra_support", "category": "accelerators", "level": "MUST", "status": "fail",
        "summary": "resource.k8s.io is not served", "evidence": ["discovery: no resource.k8s.io group"]}


# ------------------------------------------------------------------------------------------------
# the CLI verb

def _app(monkeypatch: pytest.MonkeyPatch, docs: dict[str, Any]) -> typer.Typer:
    async def fake_connect(kubeconfig: str | None, context: str | None) -> FakeApi:
        assert (kubeconfig, context) == (None, "lab")
        return FakeApi(docs)

    monkeypatch.setattr(cmd_conformance, "_connect", fake_connect)
    app = typer.Typer()
    cmd_conformance.register(app)

    @app.callback()
    def _root() -> None:
        """test app"""

    return app


@pytest.mark.parametrize(("docs", "code"), [(conformant_cluster, 0), (empty_cluster, 1)])
def test_cli_exit_codes_and_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, docs: Any,
                                  code: int) -> None:
    app = _app(monkeypatch, docs())
    out = CliRunner().invoke(app, ["conformance", "--context", "lab", "--json", str(tmp_path / "r.json"),
                                   "--junit", str(tmp_path / "r.xml")])
    assert out.exit_code == code, out.output
    assert "dra_support" in out.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["exitCode"] == code
    assert ET.parse(tmp_path / "r.xml").getroot().find("testsuite") is not None


def test_cli_exit_3_and_unreachable_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = conformant_cluster()
    docs["/apis/apps/v1/deployments"] = lst(deploy("ray-system", "kuberay-operator", 1),
                                            deploy("kueue-system", "kueue-controller-manager", 1))
    out = CliRunner().invoke(_app(monkeypatch, docs), ["conformance", "--context", "lab"])
    assert out.exit_code == 3, out.output
    out = CliRunner().invoke(_app(monkeypatch, {"/version": OSError("no route to host")}),
                             ["conformance", "--context", "lab"])
    assert isinstance(out.exception, InputError)
    assert out.exception.message == "cannot probe the cluster: could not read /version: no route to host"


# ------------------------------------------------------------------------------------------------
# over a real socket

async def test_probe_over_a_real_http_socket() -> None:
    docs = conformant_cluster()

    async def handler(request: web.Request) -> web.Response:
        assert request.method == "GET"
        doc = docs.get(request.path)
        if doc is None:
            return web.json_response({"kind": "Status", "code": 404}, status=404)
        return web.json_response(doc)

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as session:
            async def get_json(path: str) -> dict[str, Any] | None:
                SEEN_PATHS.add(path)
                async with session.get(path) as resp:
                    if resp.status == 404:
                        return None
                    resp.raise_for_status()
                    body: dict[str, Any] = await resp.json()
                    return body

            r = await probe(get_json)
    finally:
        await runner.cleanup()
    assert r.exit_code == 0
    assert statuses(r)["dra_support"] == "pass"
