"""docs/rbac.yaml: read-only, no wildcards, no secrets, and it covers every path kubetwin reads."""

from __future__ import annotations

import asyncio
import fnmatch
from pathlib import Path
from typing import Any

import yaml
from test_conformance import FakeApi, conformant_cluster, empty_cluster

from validator.live.conformance import probe
from validator.live.watch import KINDS

RBAC = Path(__file__).resolve().parents[1] / "docs" / "rbac.yaml"
READ_VERBS = {"get", "list", "watch"}


def _docs() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(RBAC.read_text(encoding="utf-8")) if d]


def _role() -> dict[str, Any]:
    return next(d for d in _docs() if d["kind"] == "ClusterRole")


def covered(path: str, verb: str | None = None) -> bool:
    """Does a rule of the ClusterRole allow this GET (``verb`` get/list/watch; None = from the path)?

    Like the apiserver's RequestInfo: a path naming a resource (``/api/v1/pods``,
    ``/apis/g/v/namespaces/ns/r/name``) is a resource request and only resource rules apply; anything
    else (``/api``, ``/apis/g/v``, ``/version``) is a non-resource request for ``nonResourceURLs``.
    """
    rules = _role()["rules"]
    path = path.split("?", 1)[0].rstrip("/") or "/"
    parts = path.strip("/").split("/")
    rest: list[str] = []
    group = ""
    if parts[0] == "api" and len(parts) >= 3:
        group, rest = "", parts[2:]
    elif parts[0] == "apis" and len(parts) >= 4:
        group, rest = parts[1], parts[3:]
    if not rest:
        return any(url == path or (url.endswith("*") and fnmatch.fnmatchcase(path, url))
                   for r in rules if "get" in r["verbs"] for url in r.get("nonResourceURLs", []))
    if rest[0] == "namespaces" and len(rest) >= 3:
        rest = rest[2:]
    resource, name = rest[0], (rest[1] if len(rest) > 1 else None)
    want = verb or ("get" if name else "list")
    return any(group in r.get("apiGroups", []) and resource in r.get("resources", []) and want in r["verbs"]
               for r in rules)


def test_rbac_objects_and_binding() -> None:
    docs = _docs()
    assert [d["kind"] for d in docs] == ["ServiceAccount", "ClusterRole", "ClusterRoleBinding"]
    sa, role, binding = docs
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                  "name": role["metadata"]["name"]}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa["metadata"]["name"],
                                    "namespace": sa["metadata"]["namespace"]}]


def test_rbac_is_read_only_without_wildcards_or_secrets() -> None:
    for rule in _role()["rules"]:
        assert set(rule["verbs"]) <= READ_VERBS, rule
        assert "*" not in rule.get("apiGroups", []), rule
        assert "*" not in rule.get("resources", []), rule
        assert not any("/" in r for r in rule.get("resources", [])), rule  # no subresources
        assert "secrets" not in rule.get("resources", []), rule
        assert "configmaps" not in rule.get("resources", []), rule
        if "nonResourceURLs" in rule:
            assert rule["verbs"] == ["get"]
            assert "*" not in rule["nonResourceURLs"]
            assert "apiGroups" not in rule and "resources" not in rule


def test_covered_maps_paths_to_rules() -> None:
    assert covered("/api/v1/pods")
    assert covered("/api/v1/namespaces/team-a/pods/p1")
    assert covered("/apis/resource.k8s.io/v1/resourceslices?limit=500")
    assert covered("/apis/kueue.x-k8s.io/v1beta2")
    assert covered("/version")
    assert not covered("/api/v1/secrets")
    assert not covered("/api/v1/namespaces/kube-system/configmaps/cluster-autoscaler-status")
    assert not covered("/apis/rbac.authorization.k8s.io/v1/clusterroles")
    assert not covered("/healthz")


_GROUPS = [
    "apps", "autoscaling", "apiregistration.k8s.io", "resource.k8s.io", "gateway.networking.k8s.io",
    "kueue.x-k8s.io", "scheduling.volcano.sh", "scheduling.x-k8s.io", "scheduling.k8s.io", "karpenter.sh",
    "autoscaling.x-k8s.io", "monitoring.coreos.com", "monitoring.googleapis.com", "ray.io", "kubeflow.org",
    "trainer.kubeflow.org", "jobset.x-k8s.io", "leaderworkerset.x-k8s.io", "inference.networking.k8s.io",
]
_VERSIONS = ["v1", "v2", "v1beta2", "v1beta1", "v1alpha1"]


class EverythingApi:
    """Serves every group the probe knows at every version, with resources it does not have, so the
    probe walks every path it can ever request."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def get_json(self, path: str) -> dict[str, Any] | None:
        self.paths.append(path)
        if path == "/version":
            return {"gitVersion": "v1.35.0"}
        if path == "/apis":
            return {"groups": [{"name": g, "versions": [{"version": v} for v in _VERSIONS]} for g in _GROUPS]}
        parts = path.strip("/").split("/")
        if parts[0] == "apis" and len(parts) == 3:
            return {"resources": [{"name": "missing"}]}
        if "apiservices" in parts:
            return {"status": {"conditions": []}}
        return {"items": []}


def _probe_paths() -> set[str]:
    api = EverythingApi()
    asyncio.run(probe(api.get_json))
    paths = set(api.paths)
    # ...and with the resources served, so the list paths behind discovery are requested too
    served_api = EverythingApi()

    async def served(path: str) -> dict[str, Any] | None:
        doc = await served_api.get_json(path)
        if path.count("/") == 3 and path.startswith("/apis/"):
            return {"resources": [{"name": n} for n in (
                "resourceslices", "deviceclasses", "httproutes", "gatewayclasses", "gateways", "workloads",
                "podgroups", "nodepools", "provisioningrequests", "servicemonitors", "podmonitors",
                "podmonitorings", "rayclusters", "pytorchjobs", "trainjobs", "jobsets", "leaderworkersets",
                "horizontalpodautoscalers", "deployments", "daemonsets", "statefulsets", "apiservices")]}
        return doc

    asyncio.run(probe(served))
    return paths | set(served_api.paths)


def _cluster_paths() -> set[str]:
    """The paths the probe requests from test_conformance's clusters, probed here (not collected while
    those tests run, so this test gives the same answer alone, first, last or in any order)."""
    paths: set[str] = set()
    for cluster in (conformant_cluster(), empty_cluster()):
        api = FakeApi(cluster)
        asyncio.run(probe(api.get_json))
        paths |= set(api.paths)
    return paths


def test_every_path_the_probe_requests_is_covered() -> None:
    paths = _probe_paths() | _cluster_paths()
    assert "/apis/resource.k8s.io/v1/resourceslices" in paths
    assert "/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.external.metrics.k8s.io" in paths
    assert "/apis/gateway.networking.k8s.io/v1/httproutes" in paths
    missing = sorted(p for p in paths if not covered(p))
    assert missing == []


def test_every_kind_the_recorder_watches_is_covered() -> None:
    assert len(KINDS) >= 10
    for kind in KINDS:
        for version in kind.versions:
            base = f"/apis/{kind.group}/{version}" if kind.group else f"/api/{version}"
            assert covered(base), base
            for verb in ("list", "watch"):
                assert covered(f"{base}/{kind.resource}", verb), (kind, verb)
                assert covered(f"{base}/namespaces/ns/{kind.resource}", verb), (kind, verb)
