"""AI operators on a (fake) live cluster: record their CRDs, normalize, and check the gangs.

A fake API server (tests/fakeapi.py) serves the JobSet CRD (and Kueue, or Volcano's Job CRD); a
JobSet under Kueue and its pods are created while ``record`` runs; the normalizer ties the Job pods
(owned by Jobs, not by the JobSet) to the JobSet's Kueue Workload, so the G invariants judge them like
a simulated gang: a clean run passes, pods bound without admission fail G6, a half-bound Volcano gang
fails G1. The conformance probe's operator requirement is checked with and without operator CRDs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import run_cli
from fakeapi import DEFAULT_RESOURCES, FakeAPI, Resource
from test_conformance import FakeApi, conformant_cluster, discovery, empty_cluster, finding

from models.timeline import Event, read_timeline
from validator.checks import FAILED, PASSED, run_checks
from validator.live.conformance import probe
from validator.live.kubeclient import connect
from validator.live.recorder import OPERATOR_KINDS, RECORDED_KINDS, RecordResult, normalize_recording, record

JOBSET = Resource("jobset.x-k8s.io", "v1alpha2", "jobsets", "JobSet", True)
VCJOB = Resource("batch.volcano.sh", "v1alpha1", "jobs", "Job", True)


def _now() -> str:
    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + f".{(ns // 1000) % 10**6:06d}Z"


def _kubeconfig(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(f"apiVersion: v1\nkind: Config\nclusters:\n- name: f\n  cluster: {{server: {url}}}\n"
                    "users:\n- name: u\n  user: {token: t}\ncontexts:\n- name: c\n  context: {cluster: f, user: u}\n"
                    "current-context: c\n")
    return path


@pytest.fixture
async def fake() -> AsyncIterator[FakeAPI]:
    api = FakeAPI(resources=(*DEFAULT_RESOURCES, JOBSET, VCJOB), max_watch_seconds=0.5)
    await api.start()
    yield api
    await api.stop()


def _jobset(queue: str | None = "training") -> dict[str, Any]:
    labels = {"kueue.x-k8s.io/queue-name": queue} if queue else {}
    pod = {"spec": {"restartPolicy": "Never", "containers": [
        {"name": "trainer", "image": "pytorch", "resources": {"requests": {"cpu": "4", "nvidia.com/gpu": "1"}}}]}}
    return {"metadata": {"name": "pretrain", "namespace": "research", "labels": labels,
                         "creationTimestamp": _now()},
            "spec": {"replicatedJobs": [{"name": "workers", "replicas": 2, "template": {"spec": {
                "parallelism": 2, "completions": 2, "template": pod}}}]}}


def _pod(name: str, job: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    meta = {"name": name, "namespace": "research", "creationTimestamp": _now(),
            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": job, "uid": "j", "controller": True}]}
    meta.update(extra or {})
    return {"metadata": meta, "spec": {"containers": [{"name": "c", "resources": {"requests": {
        "cpu": "4", "nvidia.com/gpu": "1"}}}]}, "status": {"phase": "Pending"}}


def _bind(node: str) -> Any:
    def fn(o: dict[str, Any]) -> None:
        o["spec"]["nodeName"] = node
        o["status"] = {"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": _now()}]}
    return fn


def _admit(o: dict[str, Any]) -> None:
    t = _now()
    o["status"] = {"admission": {"clusterQueue": "training", "podSetAssignments": [
        {"name": "workers", "count": 4, "flavors": {"cpu": "default", "nvidia.com/gpu": "default"},
         "resourceUsage": {"cpu": "16", "nvidia.com/gpu": "4"}}]},
        "conditions": [{"type": "QuotaReserved", "status": "True", "lastTransitionTime": t},
                       {"type": "Admitted", "status": "True", "lastTransitionTime": t}]}


#: the JobSet's pods as the Job controller names them: <jobset>-<rjob>-<job>-<index>-<suffix>
PODS = [(f"pretrain-workers-{j}-{k}-x{j}k{k}z", f"pretrain-workers-{j}") for j in (0, 1) for k in (0, 1)]


async def record_story(fake: FakeAPI, tmp_path: Path,
                       scenario: Callable[[], Awaitable[None]]) -> tuple[RecordResult, list[Event]]:
    """Record ``fake`` while ``scenario`` plays, normalize, and return the result and its clean timeline."""
    conn = await connect(kubeconfig=str(_kubeconfig(tmp_path, fake.url)))
    out = tmp_path / "rec"
    stop = asyncio.Event()
    try:
        task = asyncio.create_task(record(conn.client, out, context="c", version="test", stop=stop,
                                          handle_signals=False, fsync=False))
        await asyncio.sleep(0.3)  # lists done, watches open
        await scenario()
        await asyncio.sleep(0.5)
        stop.set()
        result = await task
    finally:
        await conn.client.close()
    assert normalize_recording(result.raw_path, out / "timeline.jsonl") is not None
    tl = read_timeline(out / "timeline.jsonl")
    assert tl.problems == []
    return result, tl.events


async def _record(fake: FakeAPI, tmp_path: Path, scenario: Callable[[], Awaitable[None]]) -> list[Event]:
    result, events = await record_story(fake, tmp_path, scenario)
    assert ("batch.volcano.sh/v1alpha1/jobs", "not served (discovery: batch.volcano.sh/v1alpha1)") not in result.skipped
    assert ("ray.io/v1/rayjobs", "not served (discovery: ray.io/v1)") in result.skipped  # noted, not watched
    return events


def _nodes(fake: FakeAPI) -> None:
    for n in ("gpu-a", "gpu-b"):
        fake.create("nodes", {"metadata": {"name": n}, "status": {
            "allocatable": {"cpu": "64", "nvidia.com/gpu": "8", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True"}]}})


def _kueue_jobset(fake: FakeAPI, admit: bool) -> Any:
    async def scenario() -> None:
        _nodes(fake)
        fake.create("clusterqueues", {"metadata": {"name": "training"}, "spec": {"resourceGroups": [{
            "coveredResources": ["cpu", "nvidia.com/gpu"], "flavors": [{"name": "default", "resources": [
                {"name": "cpu", "nominalQuota": "64"}, {"name": "nvidia.com/gpu", "nominalQuota": "8"}]}]}]}})
        fake.create("localqueues", {"metadata": {"name": "training", "namespace": "research"},
                                    "spec": {"clusterQueue": "training"}})
        js = fake.create("jobsets", _jobset())
        await asyncio.sleep(0.05)
        fake.create("workloads", {"metadata": {
            "name": "jobset-pretrain-7f3c9", "namespace": "research", "creationTimestamp": _now(),
            "ownerReferences": [{"apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet", "name": "pretrain",
                                 "uid": js["metadata"]["uid"], "controller": True}]},
            "spec": {"queueName": "training", "podSets": [{"name": "workers", "count": 4, "template": {
                "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "4",
                                                                                 "nvidia.com/gpu": "1"}}}]}}}]}})
        await asyncio.sleep(0.05)
        if admit:
            fake.update("workloads", "jobset-pretrain-7f3c9", _admit, namespace="research")
            await asyncio.sleep(0.05)
        for name, job in PODS:
            fake.create("pods", _pod(name, job))
        await asyncio.sleep(0.05)
        for i, (name, _) in enumerate(PODS):
            fake.update("pods", name, _bind("gpu-a" if i < 2 else "gpu-b"), namespace="research")
    return scenario


def _failed(events: list[Event]) -> dict[str, list[str]]:
    return {r.invariant.id: [f.message for f in r.findings[:2]] for r in run_checks(events) if r.status == FAILED}


async def test_recorded_jobset_under_kueue_is_one_gang_and_passes(fake: FakeAPI, tmp_path: Path) -> None:
    events = await _record(fake, tmp_path, _kueue_jobset(fake, admit=True))
    created = [e for e in events if e.type == "WorkloadCreated"]
    assert [(e.name, e.group, e.data["policy"], e.data["minCount"]) for e in created] == [
        ("jobset-pretrain-7f3c9", "research/jobset-pretrain-7f3c9", "kueue", 4)]
    # the Job pods (owned by Jobs, not by the JobSet) carry the JobSet's Kueue Workload as their gang
    bound = [e for e in events if e.type == "Scheduled"]
    assert sorted((e.name, e.group) for e in bound) == sorted((n, "research/jobset-pretrain-7f3c9") for n, _ in PODS)
    assert {e.group for e in events if e.type == "PodCreated"} == {"research/jobset-pretrain-7f3c9"}
    results = {r.invariant.id: r.status for r in run_checks(events)}
    assert _failed(events) == {}
    assert results["G6"] == PASSED and results["G2"] == PASSED
    code, out, _ = run_cli("validate", str(tmp_path / "rec" / "timeline.jsonl"))
    assert code == 0, out


async def test_recorded_jobset_pods_bound_without_admission_fail_g6(fake: FakeAPI, tmp_path: Path) -> None:
    events = await _record(fake, tmp_path, _kueue_jobset(fake, admit=False))
    failed = _failed(events)
    assert "G6" in failed, failed
    code, _, _ = run_cli("validate", str(tmp_path / "rec" / "timeline.jsonl"))
    assert code == 1


async def test_recorded_half_bound_volcano_gang_fails_g1(fake: FakeAPI, tmp_path: Path) -> None:
    # a Volcano Job (minAvailable 4) whose PodGroup was not recorded: the normalizer writes its gang from
    # the Job; only 2 of its 4 pods are ever bound — a partial gang, G1 fails
    async def scenario() -> None:
        _nodes(fake)
        vj = fake.create("jobs", {"metadata": {"name": "mpi", "namespace": "research", "creationTimestamp": _now()},
                                  "spec": {"minAvailable": 4, "schedulerName": "volcano", "tasks": [
                                      {"name": "worker", "replicas": 4, "template": {"spec": {"containers": [
                                          {"name": "w", "image": "mpi", "resources": {"requests": {
                                              "cpu": "4", "nvidia.com/gpu": "1"}}}]}}}]}})
        group = f"mpi-{vj['metadata']['uid']}"
        await asyncio.sleep(0.05)
        for k in range(4):
            fake.create("pods", _pod(f"mpi-worker-{k}", "mpi", {
                "annotations": {"scheduling.k8s.io/group-name": group}, "ownerReferences": [
                    {"apiVersion": "batch.volcano.sh/v1alpha1", "kind": "Job", "name": "mpi", "uid": "v",
                     "controller": True}]}))
        await asyncio.sleep(0.05)
        for k in range(2):
            fake.update("pods", f"mpi-worker-{k}", _bind("gpu-a"), namespace="research")

    events = await _record(fake, tmp_path, scenario)
    [created] = [e for e in events if e.type == "WorkloadCreated"]
    assert (created.kind, created.data["policy"], created.data["minCount"], created.data["pods"]) == (
        "PodGroup", "volcano", 4, 4)
    assert created.group is not None and created.group.startswith("research/mpi-")
    assert {e.group for e in events if e.type == "Scheduled"} == {created.group}
    failed = _failed(events)
    assert "G1" in failed, failed


def test_recorder_watches_every_operator_crd() -> None:
    from models.operators import OPERATOR_CRDS

    assert {(c.group, c.plural) for c in OPERATOR_CRDS} == {(k.group, k.resource) for k in OPERATOR_KINDS}
    assert all(k in RECORDED_KINDS for k in OPERATOR_KINDS)
    assert [k.resource for k in OPERATOR_KINDS if not k.namespaced] == ["clustertrainingruntimes", "queues"]


def test_rbac_covers_the_operator_kinds() -> None:
    from test_rbac import covered

    for kind in OPERATOR_KINDS:
        for version in kind.versions:
            for verb in ("list", "watch"):
                assert covered(f"/apis/{kind.group}/{version}/{kind.resource}", verb), kind
                assert covered(f"/apis/{kind.group}/{version}/namespaces/ns/{kind.resource}", verb), kind


# ---- conformance: robust_controller looks for the operators' CRDs and controllers


def _with_operators(docs: dict[str, Any], groups: dict[str, dict[str, list[str]]],
                    deployments: list[tuple[str, str, int]], objects: dict[str, list[dict[str, Any]]]) -> None:
    extra = discovery(groups)
    docs["/apis"]["groups"] += extra.pop("/apis")["groups"]
    extra.pop("/version")
    docs.update(extra)
    docs["/apis/apps/v1/deployments"] = {"items": docs["/apis/apps/v1/deployments"]["items"] + [
        {"metadata": {"namespace": ns, "name": name}, "spec": {"replicas": 1}, "status": {"readyReplicas": ready}}
        for ns, name, ready in deployments]}
    for path, items in objects.items():
        docs[path] = {"items": items}


def test_conformance_operator_check_without_operator_crds() -> None:
    r = asyncio.run(probe(FakeApi(empty_cluster()).get_json))
    status, summary, evidence = finding(r, "robust_controller")
    assert (status, summary) == ("fail", "no AI operator API is served")
    assert evidence == ["discovery: none of jobset.x-k8s.io, leaderworkerset.x-k8s.io, ray.io, trainer.kubeflow.org, "
                        "kubeflow.org, batch.volcano.sh"]


def test_conformance_operator_check_with_jobset_lws_and_volcano_crds() -> None:
    docs = empty_cluster()
    _with_operators(docs, {"jobset.x-k8s.io": {"v1alpha2": ["jobsets"]},
                           "leaderworkerset.x-k8s.io": {"v1": ["leaderworkersets"]},
                           "batch.volcano.sh": {"v1alpha1": ["jobs"]}},
                    [("jobset-system", "jobset-controller-manager", 1), ("lws-system", "lws-controller-manager", 0),
                     ("volcano-system", "volcano-controllers", 1)],
                    {"/apis/jobset.x-k8s.io/v1alpha2/jobsets": [
                        {"metadata": {"name": "a"}, "status": {"replicatedJobsStatus": []}},
                        {"metadata": {"name": "b"}}]})
    r = asyncio.run(probe(FakeApi(docs).get_json))
    status, summary, evidence = finding(r, "robust_controller")
    assert (status, summary) == ("pass", "AI operator running: JobSet, Volcano Job")
    assert evidence == [
        "JobSet: jobset.x-k8s.io/v1alpha2 serves jobsets; "
        "Deployment jobset-system/jobset-controller-manager (1/1 ready)",
        "LeaderWorkerSet: leaderworkerset.x-k8s.io/v1 serves leaderworkersets; "
        "Deployment lws-system/lws-controller-manager (0/1 ready)",
        "Volcano Job: batch.volcano.sh/v1alpha1 serves jobs; Deployment volcano-system/volcano-controllers (1/1 ready)",
        "JobSet: 1 of 2 jobsets reconciled (have a status)"]
    # only the LWS operator, not Ready: installed but down
    docs = empty_cluster()
    _with_operators(docs, {"leaderworkerset.x-k8s.io": {"v1": ["leaderworkersets"]}},
                    [("lws-system", "lws-controller-manager", 0)], {})
    assert finding(asyncio.run(probe(FakeApi(docs).get_json)), "robust_controller")[:2] == (
        "fail", "AI operator installed but not Ready: LeaderWorkerSet")
    assert finding(asyncio.run(probe(FakeApi(conformant_cluster()).get_json)), "robust_controller")[0] == "pass"


# ---- the normalizer alone: order of records, LeaderWorkerSet groups, RayCluster under coscheduling


def _raw(objects: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    start = "2026-07-06T13:16:00.000000000Z"
    records: list[dict[str, Any]] = [{"seq": 1, "recvWall": start, "type": "RECORDING_STARTED", "startedAt": start}]
    for i, (stream, obj) in enumerate(objects, start=2):
        records.append({"seq": i, "recvWall": f"2026-07-06T13:16:{i:02d}.000000000Z", "type": "ADDED",
                        "stream": stream, "object": obj})
    records.append({"seq": len(records) + 1, "recvWall": "2026-07-06T13:17:00.000000000Z",
                    "type": "RECORDING_STOPPED", "why": "duration"})
    return records


def _raw_pod(name: str, at: int, node: str | None, labels: dict[str, str] | None = None) -> dict[str, Any]:
    t = f"2026-07-06T13:16:{at:02d}Z"
    spec: dict[str, Any] = {"containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}]}
    status: dict[str, Any] = {"phase": "Pending"}
    if node:
        spec["nodeName"] = node
        status["conditions"] = [{"type": "PodScheduled", "status": "True", "lastTransitionTime": t}]
    return {"apiVersion": "v1", "kind": "Pod", "spec": spec, "status": status,
            "metadata": {"name": name, "namespace": "serving", "uid": f"u-{name}", "creationTimestamp": t,
                         "labels": labels or {}}}


def test_lws_pods_recorded_before_the_object_join_their_groups_kueue_workload() -> None:
    from validator.normalize import normalize

    lws = {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet",
           "metadata": {"name": "vllm", "namespace": "serving", "uid": "u-lws",
                        "creationTimestamp": "2026-07-06T13:16:02Z",
                        "labels": {"kueue.x-k8s.io/queue-name": "inference"}},
           "spec": {"replicas": 2, "leaderWorkerTemplate": {"size": 2, "workerTemplate": {"spec": {
               "containers": [{"name": "w", "image": "vllm", "resources": {"requests": {"cpu": "1"}}}]}}}}}

    def workload(group: int, suffix: str) -> dict[str, Any]:
        t = f"2026-07-06T13:16:0{3 + group}Z"
        return {"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "Workload",
                "metadata": {"name": f"leaderworkerset-vllm-{group}-{suffix}", "namespace": "serving",
                             "uid": f"u-wl{group}", "creationTimestamp": t},
                "spec": {"queueName": "inference", "podSets": [{"name": "main", "count": 2, "template": {
                    "spec": {"containers": [{"name": "w", "resources": {"requests": {"cpu": "1"}}}]}}}]},
                "status": {"conditions": [{"type": "QuotaReserved", "status": "True", "lastTransitionTime": t},
                                          {"type": "Admitted", "status": "True", "lastTransitionTime": t}]}}

    pods = [("core/v1/pods", _raw_pod(n, 10, "node-a")) for n in ("vllm-0", "vllm-0-1", "vllm-1", "vllm-1-1")]
    # the pods' records come first, the object and its Workloads after them (another watch's list)
    events, warnings = normalize(_raw([*pods, ("leaderworkerset.x-k8s.io/v1/leaderworkersets", lws),
                                       ("kueue.x-k8s.io/v1beta2/workloads", workload(0, "a1b2c")),
                                       ("kueue.x-k8s.io/v1beta2/workloads", workload(1, "d4e5f"))]))
    assert not [w for w in warnings if "not tied" in w]
    groups = {e["obj"]["name"]: e.get("group") for e in events if e["type"] == "Scheduled"}
    g0, g1 = "serving/leaderworkerset-vllm-0-a1b2c", "serving/leaderworkerset-vllm-1-d4e5f"
    assert groups == {"vllm-0": g0, "vllm-0-1": g0, "vllm-1": g1, "vllm-1-1": g1}
    assert list(next(e for e in events if e["type"] == "Scheduled"))[:6] == ["seq", "t", "type", "obj", "node", "group"]


def test_raycluster_under_volcano_and_one_queued_without_a_kueue_workload() -> None:
    from validator.normalize import normalize

    head = {"spec": {"containers": [{"name": "h", "image": "ray", "resources": {"requests": {"cpu": "1"}}}]}}
    rc: dict[str, Any] = {"apiVersion": "ray.io/v1", "kind": "RayCluster",
                          "metadata": {"name": "rc", "namespace": "serving", "uid": "u-rc",
                                       "creationTimestamp": "2026-07-06T13:16:02Z",
                                       "labels": {"ray.io/gang-scheduling-enabled": "true",
                                                  "ray.io/scheduler-name": "volcano"}},
                          "spec": {"headGroupSpec": {"template": head},
                                   "workerGroupSpecs": [{"groupName": "gpu", "replicas": 1, "minReplicas": 1,
                                                         "maxReplicas": 1, "template": head}]}}
    queued = {**rc, "metadata": {**rc["metadata"], "name": "rq", "uid": "u-rq",
                                 "labels": {"kueue.x-k8s.io/queue-name": "q"}}}
    pods = [("core/v1/pods", _raw_pod("rc-head-abcde", 10, "node-a")),
            ("core/v1/pods", _raw_pod("rc-gpu-worker-fghij", 10, "node-a")),
            ("core/v1/pods", _raw_pod("rq-head-abcde", 10, "node-a"))]
    events, warnings = normalize(_raw([("ray.io/v1/rayclusters", rc), ("ray.io/v1/rayclusters", queued), *pods]))
    created = [e for e in events if e["type"] == "WorkloadCreated"]
    assert [(e["obj"]["kind"], e["group"], e["data"]["policy"], e["data"]["minCount"]) for e in created] == [
        ("PodGroup", "serving/ray-rc-pg", "volcano", 2)]
    groups = {e["obj"]["name"]: e.get("group") for e in events if e["type"] == "Scheduled"}
    assert groups == {"rc-head-abcde": "serving/ray-rc-pg", "rc-gpu-worker-fghij": "serving/ray-rc-pg",
                      "rq-head-abcde": None}
    assert [w for w in warnings if "not tied" in w] == [
        "RayCluster serving/rq: queued in Kueue (q) but no Kueue Workload of serving/rq was recorded; its pods "
        "are not tied to a gang"]


def test_recorded_rayjob_under_kueue_ties_cluster_and_submitter_pods_to_its_workload() -> None:
    import yaml

    from validator.normalize import normalize

    fixture = Path(__file__).parent / "fixtures" / "operators" / "rayjob.yaml"
    rayjob = next(d for d in yaml.safe_load_all(fixture.read_text()) if d)
    rayjob["metadata"].update(uid="u-rj", creationTimestamp="2026-07-06T13:16:02Z")
    rayjob["status"] = {"rayClusterName": "sweep-x7k2p", "jobStatus": "RUNNING"}
    t = "2026-07-06T13:16:04Z"
    workload = {"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "Workload",
                "metadata": {"name": "rayjob-sweep-9c2df", "namespace": "research", "uid": "u-wl",
                             "creationTimestamp": t},
                "spec": {"queueName": "training", "podSets": [
                    {"name": "head", "count": 1, "template": {"spec": {"containers": [{"name": "h"}]}}},
                    {"name": "gpu-group", "count": 2, "template": {"spec": {"containers": [{"name": "w"}]}}},
                    {"name": "submitter", "count": 1, "template": {"spec": {"containers": [{"name": "s"}]}}}]},
                "status": {"conditions": [{"type": "QuotaReserved", "status": "True", "lastTransitionTime": t},
                                          {"type": "Admitted", "status": "True", "lastTransitionTime": t}]}}
    names = ["sweep-x7k2p-head-q2w4z", "sweep-x7k2p-gpu-group-worker-b5n7m", "sweep-x7k2p-gpu-group-worker-k8d9f",
             "sweep-h3j6t"]
    pods = []
    for n in names:
        pod = _raw_pod(n, 10, "node-a")
        pod["metadata"]["namespace"] = "research"
        pods.append(("core/v1/pods", pod))
    stray = _raw_pod("sweep-x7k2p-head-toolong", 10, "node-a")  # not <generateName> + 5 characters
    stray["metadata"]["namespace"] = "research"
    events, _ = normalize(_raw([("ray.io/v1/rayjobs", rayjob), ("kueue.x-k8s.io/v1beta2/workloads", workload),
                                *pods, ("core/v1/pods", stray)]))
    groups = {e["obj"]["name"]: e.get("group") for e in events if e["type"] == "Scheduled"}
    assert groups == {**{n: "research/rayjob-sweep-9c2df" for n in names}, "sweep-x7k2p-head-toolong": None}
