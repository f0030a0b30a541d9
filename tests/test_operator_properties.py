"""Property: random mixes of AI-operator objects (JobSet, LeaderWorkerSet, RayJob, PyTorchJob, TrainJob)
simulated under Kueue, coscheduling and Volcano keep every gang whole, create exactly the pods the
controllers would, and never overfill a node.

The checker here is independent of kubetwin's validator and of ``models.operators``: pod counts come
from each controller's formula applied to the generated manifest's numbers, gangs from the timeline's
``group``, capacity from ``NodeReady.allocatable`` and the ``PodCreated`` requests.

* Kueue: GPU pods take a whole node (8 GPUs) and the ClusterQueue's GPU quota equals the cluster's GPUs,
  so quota admission implies the pods fit — every admitted Workload's pods are created at its admission
  and bound at one instant.
* coscheduling: GPU pods take 1, 2, 4 or 8 GPUs; the Permit barrier binds a gang's pods at one instant
  or none of them (a gang whose deadline passes is rejected whole).
* Volcano: GPU pods as for coscheduling; a session commits a job's statement (all its pods) or discards it.
"""

from __future__ import annotations

import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubetwin.cmd_simulate import simulate_to
from models.quantity import parse_quantity
from models.timeline import Event, read_timeline

KINDS = ("JobSet", "LeaderWorkerSet", "RayJob", "PyTorchJob", "TrainJob")
NODES = 4


def _container(gpus: int, cpu: str = "4") -> dict[str, Any]:
    res: dict[str, Any] = {"requests": {"cpu": cpu, "memory": "8Gi"}}
    if gpus:
        res["limits"] = {"nvidia.com/gpu": str(gpus)}
    return {"name": "c", "image": "img", "resources": res}


def _pod(gpus: int, cpu: str = "4") -> dict[str, Any]:
    return {"spec": {"restartPolicy": "Never", "containers": [_container(gpus, cpu)]}}


def _object(kind: str, name: str, n: tuple[int, int, int], gpus: int) -> tuple[list[dict[str, Any]], list[int]]:
    """A manifest (plus a runtime for a TrainJob) and the pod count of each gang its controller makes
    under Kueue (one Workload per object; per group for a LeaderWorkerSet)."""
    a, b, c = n
    meta = {"name": name, "namespace": "ml"}
    if kind == "JobSet":
        rjobs = [{"name": f"rj{i}", "replicas": r, "template": {"spec": {
            "parallelism": p, "completions": p, "template": _pod(gpus)}}} for i, (r, p) in enumerate([(a, b), (1, c)])]
        return [{"apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet", "metadata": meta,
                 "spec": {"replicatedJobs": rjobs}}], [a * b + c]
    if kind == "LeaderWorkerSet":
        lwt: dict[str, Any] = {"size": b, "workerTemplate": _pod(gpus)}
        if c % 2:
            lwt["leaderTemplate"] = _pod(gpus)
        return [{"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet", "metadata": meta,
                 "spec": {"replicas": a, "leaderWorkerTemplate": lwt}}], [b] * a
    if kind == "RayJob":
        head = {"rayStartParams": {}, "template": _pod(0, "2")}
        workers = [{"groupName": "gpu", "replicas": a, "minReplicas": a, "maxReplicas": a, "rayStartParams": {},
                    "template": _pod(gpus)}]
        return [{"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": meta,
                 "spec": {"entrypoint": "python x.py", "rayClusterSpec": {
                     "headGroupSpec": head, "workerGroupSpecs": workers}}}], [1 + a + 1]  # head, workers, submitter
    if kind == "PyTorchJob":
        specs: dict[str, Any] = {"Master": {"replicas": 1, "template": _pod(gpus)}}
        if b - 1:
            specs["Worker"] = {"replicas": b - 1, "template": _pod(gpus)}
        return [{"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": meta,
                 "spec": {"pytorchReplicaSpecs": specs}}], [b]
    runtime = {"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "ClusterTrainingRuntime",
               "metadata": {"name": f"rt-{name}"},
               "spec": {"mlPolicy": {"numNodes": 1, "torch": {"numProcPerNode": "auto"}}, "template": {"spec": {
                   "replicatedJobs": [{"name": "node", "template": {
                       "metadata": {"labels": {"trainer.kubeflow.org/trainjob-ancestor-step": "trainer"}},
                       "spec": {"template": {"spec": {"containers": [
                           {"name": "node", "image": "pytorch"}]}}}}}]}}}}
    per_node = {"requests": {"cpu": "4", "memory": "8Gi"}, "limits": {"nvidia.com/gpu": str(gpus)}}
    return [{"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob", "metadata": meta,
             "spec": {"runtimeRef": {"name": f"rt-{name}"},
                      "trainer": {"numNodes": b, "resourcesPerNode": per_node}}}, runtime], [b]


_objects = st.lists(st.tuples(st.sampled_from(KINDS), st.tuples(st.integers(1, 2), st.integers(1, 3),
                                                                  st.integers(1, 2)),
                              st.sampled_from([1, 2, 4, 8]), st.integers(0, 3600), st.sampled_from([1, 2])),
                    min_size=1, max_size=4)


def _scenario(tmp: Path, policy: str, mix: list[Any]) -> dict[str, list[int]]:
    """Write the scenario; return workload name → the pod count of each gang of one instance."""
    workloads = []
    expected: dict[str, list[int]] = {}
    for i, (kind, n, gpus, at, count) in enumerate(mix):
        name = f"w{i}"
        docs, gangs = _object(kind, name, n, 8 if policy == "kueue" else gpus)
        (tmp / f"{name}.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False), encoding="utf-8")
        w: dict[str, Any] = {"name": name, "namespace": "ml", "job": f"{name}.yaml", "count": count,
                             "arrival": {"at": [f"{at + 1800 * k}s" for k in range(count)]},
                             "duration": {"exponential": {"mean": "30m"}}}
        if policy == "kueue":
            w["queue"] = "q"
        elif policy == "coscheduling":
            w["gang"] = {"policy": policy, "timeout": "60s"}
        else:
            w["gang"] = {"policy": policy}  # Volcano has no gang timeout: the job is retried every session
        workloads.append(w)
        expected[name] = gangs
    spec: dict[str, Any] = {
        "seed": 1, "duration": "6h", "workloads": workloads,
        "cluster": {"nodePools": [{"name": "gpu", "count": NODES,
                                   "allocatable": {"cpu": "64", "memory": "512Gi", "nvidia.com/gpu": "8"}}]},
        "scheduler": {"scoring": "MostAllocated", "resources": [{"name": "nvidia.com/gpu"}]}}
    if policy == "kueue":
        spec["kueue"] = {"resourceFlavors": [{"metadata": {"name": "default"}}],
                         "clusterQueues": [{"metadata": {"name": "q"}, "spec": {"resourceGroups": [{
                             "coveredResources": ["cpu", "memory", "nvidia.com/gpu"],
                             "flavors": [{"name": "default", "resources": [
                                 {"name": "cpu", "nominalQuota": 10_000}, {"name": "memory", "nominalQuota": "100Ti"},
                                 {"name": "nvidia.com/gpu", "nominalQuota": 8 * NODES}]}]}]}}],
                         "localQueues": [{"metadata": {"name": "q", "namespace": "ml"}, "spec": {"clusterQueue": "q"}}]}
    doc = {"apiVersion": "kubetwin.dev/v1alpha1", "kind": "Scenario", "metadata": {"name": "mix"}, "spec": spec}
    (tmp / "mix.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return expected


def _check(events: list[Event], expected: dict[str, list[int]], policy: str) -> None:
    # --- gangs: one WorkloadCreated per gang, sized as the controller's formula says
    sizes: dict[str, list[int]] = defaultdict(list)
    gang_size: dict[str, int] = {}
    for e in events:
        if e.type == "WorkloadCreated":
            assert e.group is not None and e.group not in gang_size
            gang_size[e.group] = e.data["pods"]
            sizes[e.data["workload"]].append(e.data["pods"])
    for name, gangs in expected.items():
        got = sizes.get(name, [])
        assert len(got) % len(gangs) == 0 and got == gangs * (len(got) // len(gangs)), (name, got, gangs)
    # --- every gang's pods: created in full, bound all at one instant or not at all (per attempt)
    created: dict[str, list[str]] = defaultdict(list)
    binds: dict[str, dict[str, float]] = defaultdict(dict)
    attempt: dict[str, int] = defaultdict(int)
    for e in events:
        if e.type == "Admitted" and e.group is not None:
            attempt[e.group] += 1
        g = e.group
        if e.kind != "Pod" or g is None:
            continue
        key = f"{g}#{attempt[g]}"
        if e.type == "PodCreated":
            assert e.name not in created[key]
            created[key].append(e.name)
        elif e.type == "Scheduled":
            binds[key][e.name] = e.t
    for key, names in created.items():
        group = key.rsplit("#", 1)[0]
        assert len(names) == gang_size[group], (key, names)
        bound = binds.get(key, {})
        assert len(bound) in (0, len(names)), (key, bound, names)
        assert len(set(bound.values())) <= 1, (key, bound)
    if policy == "kueue":
        assert all(not b for k, b in binds.items() if k.endswith("#0"))  # nothing runs before admission
    # --- capacity: per node and resource, Σ requests of bound pods ≤ allocatable at every instant
    alloc: dict[str, dict[str, int]] = {}
    used: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    req: dict[tuple[str | None, str], dict[str, int]] = {}
    where: dict[tuple[str | None, str], str] = {}
    for e in events:
        if e.type == "NodeReady":
            alloc[e.name] = {r: parse_quantity(q).to_milli() for r, q in e.data["allocatable"].items()}
        elif e.type == "PodCreated":
            req[(e.namespace, e.name)] = {r: parse_quantity(q).to_milli() for r, q in e.data["requests"].items()}
        elif e.type == "Scheduled":
            assert e.node is not None
            where[(e.namespace, e.name)] = e.node
            for r, q in req[(e.namespace, e.name)].items():
                used[e.node][r] += q
                assert used[e.node][r] <= alloc[e.node].get(r, 0), (e.node, r, e.t)
        elif e.type in ("PodSucceeded", "PodFailed", "PodDeleted", "Preempted"):
            node = where.pop((e.namespace, e.name), None)
            if node is not None:
                for r, q in req[(e.namespace, e.name)].items():
                    used[node][r] -= q


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_objects, st.sampled_from(["kueue", "coscheduling", "volcano"]))
def test_random_operator_mixes_keep_gangs_whole(mix: list[Any], policy: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        expected = _scenario(tmp, policy, mix)
        simulate_to(tmp / "mix.yaml", tmp / "out")
        tl = read_timeline(tmp / "out" / "timeline.jsonl")
        assert tl.problems == []
        _check(tl.events, expected, policy)
