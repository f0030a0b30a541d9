"""models/operators: AI operator objects → Kueue pod sets, the controller's pods (names, labels, roles) and
gang boundaries, pinned on real-shaped manifests (tests/fixtures/operators) with hand-computed values;
malformed fields are InputErrors naming file and field; unmodelled fields are warnings; a property test
checks pod counts against the controllers' formulas over random replica counts."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from models.errors import InputError
from models.manifests import load_manifest_text, load_manifests
from models.operators import (
    OPERATOR_CRDS,
    GangPolicy,
    OperatorWorkload,
    expand,
    instance,
    is_operator_object,
    recorded_gangs,
    workload_created_data,
)
from models.resolution import resolve_workloads
from models.scenario import load_scenario

FIXTURES = Path(__file__).parent / "fixtures" / "operators"


def _load(name: str) -> OperatorWorkload:
    m = load_manifests([name], FIXTURES)
    [w] = m.workloads
    assert isinstance(w, OperatorWorkload)
    return w


def _doc(name: str, index: int = 0) -> dict[str, Any]:
    docs = [d for d in yaml.safe_load_all((FIXTURES / name).read_text()) if d]
    return copy.deepcopy(docs[index])


# ---------------------------------------------------------------------------------------------------
# JobSet


def test_jobset_pod_sets_names_labels_and_gang() -> None:
    w = _load("jobset.yaml")
    assert (w.kind, w.key, w.queue_name) == ("JobSet", "research/pretrain", "training")
    assert [(p.name, p.count, p.template["requests"]) for p in w.pod_sets] == [
        ("driver", 1, {"cpu": "2", "memory": "4Gi"}),
        ("workers", 8, {"cpu": "32", "memory": "256Gi", "nvidia.com/gpu": "8"})]
    assert w.pod_names() == ["pretrain-driver-0-0"] + [f"pretrain-workers-{j}-{k}" for j in (0, 1) for k in range(4)]
    pod = w.pods[6]  # workers job 1, pod 1
    assert (pod.name, pod.role, pod.generate_name, pod.hostname) == (
        "pretrain-workers-1-1", "workers", "pretrain-workers-1-1-", "pretrain-workers-1-1")
    assert pod.labels == {
        "app": "pretrain",
        "jobset.sigs.k8s.io/jobset-name": "pretrain", "jobset.sigs.k8s.io/replicatedjob-name": "workers",
        "jobset.sigs.k8s.io/restart-attempt": "0", "jobset.sigs.k8s.io/replicatedjob-replicas": "2",
        "jobset.sigs.k8s.io/global-replicas": "3", "jobset.sigs.k8s.io/job-index": "1",
        "jobset.sigs.k8s.io/job-key": hashlib.sha1(b"research/pretrain-workers-1").hexdigest(),
        "jobset.sigs.k8s.io/job-global-index": "2",  # driver-0 is 0, workers-0 is 1
        "batch.kubernetes.io/job-name": "pretrain-workers-1", "job-name": "pretrain-workers-1",
        "batch.kubernetes.io/job-completion-index": "1"}
    [gang] = w.gangs_under("kueue")
    assert (gang.key, gang.source, gang.min_count, gang.pod_sets, gang.queue) == (
        "research/pretrain", "kueue-workload", 9, {"driver": 1, "workers": 8}, "training")
    assert gang.pods == tuple(w.pod_names())
    assert w.startup_order == [["driver"], ["workers"]]  # InOrder
    assert w.policies == {"successPolicy": {"operator": "All", "targetReplicatedJobs": ["workers"]},
                          "failurePolicy": {"maxRestarts": 3, "restartStrategy": "Recreate", "rules": []},
                          "startupPolicy": {"startupPolicyOrder": "InOrder"}}
    assert w.default_policy() == "kueue"


def test_jobset_depends_on_orders_waves_and_pod_group_label() -> None:
    doc = _doc("jobset.yaml")
    del doc["spec"]["startupPolicy"]
    doc["spec"]["replicatedJobs"][1]["dependsOn"] = [{"name": "driver", "status": "Ready"}]
    for rj in doc["spec"]["replicatedJobs"]:
        rj["template"]["spec"]["template"].setdefault("metadata", {}).setdefault("labels", {})[
            "scheduling.x-k8s.io/pod-group"] = "pg-pretrain"
    w = expand(doc, "js.yaml")
    assert w.startup_order == [["driver"], ["workers"]]
    assert w.policies["dependsOn"] == {"workers": [("driver", "Ready")]}
    [g] = w.gangs_under("coscheduling")
    assert (g.key, g.source, g.min_count, len(g.pods)) == ("research/pg-pretrain", "podgroup", None, 9)
    doc["spec"]["replicatedJobs"][0]["dependsOn"] = [{"name": "workers"}]
    with pytest.raises(InputError, match=r"replicatedJobs\[0\]\.dependsOn\[0\]\.name"):
        expand(doc, "js.yaml")


def test_existing_jobset_fixture_still_reads() -> None:
    m = load_manifests(["workloads.yaml"], Path(__file__).parent / "fixtures" / "manifests")
    js = m.workloads[1]
    assert isinstance(js, OperatorWorkload)
    assert [(p.name, p.count) for p in js.pod_sets] == [("leader", 1), ("workers", 8)]
    assert js.pod_names("leader") == ["llm-leader-0-0"]


# ---------------------------------------------------------------------------------------------------
# LeaderWorkerSet


def test_leaderworkerset_groups_are_gangs() -> None:
    w = _load("leaderworkerset.yaml")
    gpu = {"cpu": "16", "memory": "128Gi", "nvidia.com/gpu": "8"}
    assert [(p.name, p.count, p.template["requests"]) for p in w.pod_sets] == [("leader", 2, gpu),
                                                                              ("worker", 6, gpu)]
    assert w.pod_names() == ["vllm-0", "vllm-0-1", "vllm-0-2", "vllm-0-3", "vllm-1", "vllm-1-1", "vllm-1-2",
                             "vllm-1-3"]
    assert [p.role for p in w.pods[:4]] == ["leader", "worker", "worker", "worker"]
    key = hashlib.sha1(b"serving/vllm-1").hexdigest()
    assert w.pods[5].labels == {"leaderworkerset.sigs.k8s.io/name": "vllm",
                                "leaderworkerset.sigs.k8s.io/group-index": "1",
                                "leaderworkerset.sigs.k8s.io/group-key": key,
                                "leaderworkerset.sigs.k8s.io/worker-index": "1"}
    assert w.pods[5].annotations == {"leaderworkerset.sigs.k8s.io/size": "4",
                                     "leaderworkerset.sigs.k8s.io/leader-name": "vllm-1"}
    assert w.pods[4].labels["role"] == "leader" and w.pods[4].labels["leaderworkerset.sigs.k8s.io/worker-index"] == "0"
    policies: tuple[GangPolicy, ...] = ("kueue", "coscheduling", "volcano", "none")
    for policy in policies:
        gangs = w.gangs_under(policy)
        assert [(g.key, g.min_count, g.pods, g.pod_sets) for g in gangs] == [
            ("serving/vllm-0", 4, ("vllm-0", "vllm-0-1", "vllm-0-2", "vllm-0-3"), {"leader": 1, "worker": 3}),
            ("serving/vllm-1", 4, ("vllm-1", "vllm-1-1", "vllm-1-2", "vllm-1-3"), {"leader": 1, "worker": 3})]
    assert w.startup_order == [["leader", "worker"]]


def test_leaderworkerset_without_leader_template_and_leader_ready() -> None:
    doc = _doc("leaderworkerset.yaml")
    del doc["spec"]["leaderWorkerTemplate"]["leaderTemplate"]
    doc["spec"]["replicas"] = 1
    w = expand(doc, "lws.yaml")
    assert [(p.name, p.count) for p in w.pod_sets] == [("main", 4)]
    assert [p.pod_set for p in w.pods] == ["main"] * 4
    doc = _doc("leaderworkerset.yaml")
    doc["spec"]["startupPolicy"] = "LeaderReady"
    assert expand(doc, "lws.yaml").startup_order == [["leader"], ["worker"]]


# ---------------------------------------------------------------------------------------------------
# Ray


def test_rayjob_head_workers_submitter() -> None:
    w = _load("rayjob.yaml")
    assert [(p.name, p.count, p.template["requests"]) for p in w.pod_sets] == [
        ("head", 1, {"cpu": "2", "memory": "8Gi"}),
        ("gpu-group", 2, {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "1"}),
        ("submitter", 1, {"cpu": "500m", "memory": "200Mi"})]  # KubeRay's default submitter
    cluster = w.policies["rayCluster"]
    assert cluster.startswith("sweep-") and len(cluster) == len("sweep-") + 5
    head, w1, w2, sub = w.pods
    assert head.generate_name == f"{cluster}-head-" and head.name.startswith(head.generate_name)
    assert head.labels == {"ray.io/cluster": cluster, "ray.io/is-ray-node": "yes",
                           "app.kubernetes.io/name": "kuberay", "app.kubernetes.io/created-by": "kuberay-operator",
                           "ray.io/node-type": "head", "ray.io/group": "headgroup",
                           "ray.io/identifier": f"{cluster}-head"}
    assert w1.generate_name == w2.generate_name == f"{cluster}-gpu-group-worker-" and w1.name != w2.name
    assert (w1.role, w1.labels["ray.io/group"], w1.labels["ray.io/node-type"]) == ("worker", "gpu-group", "worker")
    assert (sub.role, sub.generate_name, sub.labels["batch.kubernetes.io/job-name"]) == ("submitter", "sweep-",
                                                                                         "sweep")
    [g] = w.gangs_under("kueue")
    assert (g.key, g.min_count, g.pod_sets) == ("research/sweep", 4, {"head": 1, "gpu-group": 2, "submitter": 1})
    assert expand(_doc("rayjob.yaml"), "again.yaml").pod_names() == w.pod_names()  # deterministic


def test_rayjob_http_mode_has_no_submitter() -> None:
    doc = _doc("rayjob.yaml")
    doc["spec"]["submissionMode"] = "HTTPMode"
    assert [p.name for p in expand(doc).pod_sets] == ["head", "gpu-group"]


def test_raycluster_volcano_pod_group_and_multi_host() -> None:
    w = _load("raycluster.yaml")
    assert [(p.name, p.count) for p in w.pod_sets] == [("head", 1), ("small-group", 3), ("tpu-slice", 2)]
    assert len(w.pods) == 6
    assert w.pods[4].generate_name == "raycluster-complete-tpu-slice-worker-"
    assert w.pods[4].labels["ray.io/group"] == "TPU-Slice"
    [g] = w.gangs_under("volcano")
    # KubeRay's Volcano PodGroup without the autoscaler: 1 head + the desired workers, replicas 3 × 1 host
    # + replicas 1 × 2 hosts (volcano_scheduler.go: CalculateDesiredReplicas + 1)
    assert (g.key, g.source, g.min_count) == ("default/ray-raycluster-complete-pg", "volcano-podgroup", 6)
    assert w.default_policy() == "volcano"
    # with the autoscaler: 1 head + minReplicas 2 × 1 host + minReplicas 1 × 2 hosts
    doc = _doc("raycluster.yaml")
    doc["spec"]["enableInTreeAutoscaling"] = True
    [g] = expand(doc, "raycluster.yaml", 0, []).gangs_under("volcano")
    assert g.min_count == 5


def test_raycluster_replicas_clamped_to_min_max() -> None:
    doc = _doc("raycluster.yaml")
    doc["spec"]["workerGroupSpecs"][0]["replicas"] = 9  # maxReplicas 5
    doc["spec"]["workerGroupSpecs"][1]["replicas"] = 0  # minReplicas 1
    assert [p.count for p in expand(doc).pod_sets] == [1, 5, 2]


# ---------------------------------------------------------------------------------------------------
# Kubeflow


def test_pytorchjob_master_worker_and_pod_group() -> None:
    w = _load("pytorchjob.yaml")
    assert [(p.name, p.count, p.template["requests"]) for p in w.pod_sets] == [
        ("master", 1, {"nvidia.com/gpu": "1"}), ("worker", 3, {"nvidia.com/gpu": "1"})]
    assert w.pod_names() == ["pytorch-simple-master-0", "pytorch-simple-worker-0", "pytorch-simple-worker-1",
                             "pytorch-simple-worker-2"]
    assert w.pods[0].labels == {"training.kubeflow.org/job-name": "pytorch-simple",
                                "training.kubeflow.org/operator-name": "pytorchjob-controller",
                                "training.kubeflow.org/replica-type": "master",
                                "training.kubeflow.org/replica-index": "0",
                                "training.kubeflow.org/job-role": "master"}
    assert w.pods[3].labels["training.kubeflow.org/replica-index"] == "2"
    assert "training.kubeflow.org/job-role" not in w.pods[3].labels
    [g] = w.gangs_under("volcano")
    assert (g.key, g.source, g.min_count, g.pod_sets) == ("kubeflow/pytorch-simple", "volcano-podgroup", 3,
                                                          {"master": 1, "worker": 3})
    [k] = w.gangs_under("kueue")
    assert k.min_count == 4


def test_trainjob_runtime_num_nodes_resources_and_naming() -> None:
    w = _load("trainjob.yaml")
    assert [(p.name, p.count, p.template["requests"]) for p in w.pod_sets] == [
        ("node", 4, {"cpu": "32", "memory": "256Gi", "nvidia.com/gpu": "8"})]
    assert w.pod_names() == [f"llama-ft-node-0-{i}" for i in range(4)]
    assert w.pods[2].labels["jobset.sigs.k8s.io/jobset-name"] == "llama-ft"
    assert w.pods[2].labels["trainer.kubeflow.org/trainjob-name"] == "llama-ft"
    [g] = w.gangs_under("coscheduling")
    assert (g.key, g.source, g.min_count) == ("research/llama-ft", "podgroup", 4)
    assert w.policies["runtime"] == "ClusterTrainingRuntime/torch-distributed-gang"


def test_trainjob_runtime_from_another_file_builtin_and_missing(tmp_path: Path) -> None:
    tj, rt = (FIXTURES / "trainjob.yaml").read_text().split("\n---\n")
    (tmp_path / "a-trainjob.yaml").write_text(tj)
    (tmp_path / "b-runtime.yaml").write_text(rt)
    m = load_manifests(["a-trainjob.yaml", "b-runtime.yaml"], tmp_path)
    assert [(w.kind, w.pod_sets[0].count) for w in m.workloads] == [("TrainJob", 4)]
    builtin = load_manifest_text(tj.replace("torch-distributed-gang", "torch-distributed"), "tj.yaml")
    assert [p.count for p in builtin.workloads[0].pod_sets] == [4]
    assert any("using kubetwin's copy" in x for x in builtin.warnings)
    with pytest.raises(InputError) as e:
        load_manifests(["a-trainjob.yaml"], tmp_path)
    assert "a-trainjob.yaml#0" in str(e.value) and "spec.runtimeRef.name" in str(e.value)


def test_trainjob_num_nodes_defaults_to_runtime() -> None:
    doc = _doc("trainjob.yaml")
    del doc["spec"]["trainer"]["numNodes"]
    runtime = _doc("trainjob.yaml", 1)
    runtime["spec"]["mlPolicy"]["numNodes"] = 3
    w = expand(doc, runtimes={"ClusterTrainingRuntime/torch-distributed-gang": runtime})
    assert w.pod_sets[0].count == 3


# ---------------------------------------------------------------------------------------------------
# Volcano Job


def test_volcano_job_tasks_names_and_pod_group() -> None:
    w = _load("volcano-job.yaml")
    assert [(p.name, p.count, p.min_count) for p in w.pod_sets] == [("master", 1, None), ("worker", 4, 2)]
    assert w.pod_names() == ["mpi-train-master-0"] + [f"mpi-train-worker-{i}" for i in range(4)]
    pod = w.pods[3]
    assert pod.labels == {"volcano.sh/job-name": "mpi-train", "volcano.sh/task-spec": "worker",
                          "volcano.sh/job-namespace": "default", "volcano.sh/queue-name": "research"}
    assert pod.annotations["scheduling.k8s.io/group-name"] == "mpi-train"
    [g] = w.gangs_under("volcano")
    assert (g.key, g.source, g.min_count, g.min_task_member, g.queue) == (
        "default/mpi-train", "volcano-podgroup", 3, {"master": 1, "worker": 2}, "research")
    assert w.queue_name is None and w.default_policy() == "volcano"


def test_volcano_job_defaults_and_uid_pod_group() -> None:
    doc = _doc("volcano-job.yaml")
    doc["metadata"]["uid"] = "1234"
    doc["spec"]["minAvailable"] = 0  # the webhook treats 0 as unset
    del doc["spec"]["queue"]
    del doc["spec"]["tasks"][0]["name"]
    w = expand(doc)
    [g] = w.gangs_under("volcano")
    assert (g.key, g.min_count, g.queue) == ("default/mpi-train-1234", 3, "default")  # 1 + task minAvailable 2
    assert w.pod_names()[0] == "mpi-train-default0-0"


# ---------------------------------------------------------------------------------------------------
# Errors and warnings


@pytest.mark.parametrize(("fixture", "mutate", "field"), [
    ("jobset.yaml", lambda d: d["spec"].update(replicatedJobs=[]), "spec.replicatedJobs"),
    ("jobset.yaml", lambda d: d["spec"]["replicatedJobs"][1].update(replicas="two"),
     "spec.replicatedJobs[1].replicas"),
    ("jobset.yaml", lambda d: d["spec"]["replicatedJobs"][1].update(name="driver"), "spec.replicatedJobs[1].name"),
    ("jobset.yaml", lambda d: d["spec"]["startupPolicy"].update(startupPolicyOrder="Sometimes"),
     "spec.startupPolicy.startupPolicyOrder"),
    ("jobset.yaml", lambda d: d["spec"]["successPolicy"].update(targetReplicatedJobs=["nope"]),
     "spec.successPolicy.targetReplicatedJobs"),
    ("jobset.yaml", lambda d: d["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]["containers"][0]
     ["resources"]["requests"].update(cpu="lots"),
     "spec.replicatedJobs[0].template.spec.template.spec.containers[0].resources.requests.cpu"),
    ("leaderworkerset.yaml", lambda d: d["spec"]["leaderWorkerTemplate"].update(size=0),
     "spec.leaderWorkerTemplate.size"),
    ("leaderworkerset.yaml", lambda d: d["spec"]["leaderWorkerTemplate"].pop("workerTemplate"),
     "spec.leaderWorkerTemplate.workerTemplate"),
    ("rayjob.yaml", lambda d: d["spec"]["rayClusterSpec"]["workerGroupSpecs"][0].update(maxReplicas=0),
     "spec.rayClusterSpec.workerGroupSpecs[0].maxReplicas"),
    ("rayjob.yaml", lambda d: d["spec"].update(submissionMode="Carrier"), "spec.submissionMode"),
    ("rayjob.yaml", lambda d: d["spec"].update(clusterSelector={"ray.io/cluster": "x"}), "spec.clusterSelector"),
    ("raycluster.yaml", lambda d: d["spec"].pop("headGroupSpec"), "spec.headGroupSpec"),
    ("pytorchjob.yaml", lambda d: d["spec"]["pytorchReplicaSpecs"]["Master"].update(replicas=2),
     "spec.pytorchReplicaSpecs.Master.replicas"),
    ("pytorchjob.yaml", lambda d: d["spec"]["pytorchReplicaSpecs"].update(Chief={}), "spec.pytorchReplicaSpecs.Chief"),
    ("pytorchjob.yaml", lambda d: d["spec"]["runPolicy"]["schedulingPolicy"].update(minAvailable=9),
     "spec.runPolicy.schedulingPolicy.minAvailable"),
    ("volcano-job.yaml", lambda d: d["spec"].update(minAvailable=6), "spec.minAvailable"),
    ("volcano-job.yaml", lambda d: d["spec"]["tasks"][1].update(minAvailable=5), "spec.tasks[1].minAvailable"),
    ("volcano-job.yaml", lambda d: d["spec"]["tasks"][1].update(name="master"), "spec.tasks[1].name"),
    ("volcano-job.yaml", lambda d: d["metadata"].pop("name"), "metadata.name"),
])
def test_malformed_fields_name_file_and_field(fixture: str, mutate: Any, field: str) -> None:
    doc = _doc(fixture)
    mutate(doc)
    with pytest.raises(InputError) as e:
        expand(doc, fixture, 0, runtimes={})
    assert e.value.file == f"{fixture}#0"
    assert e.value.field == field
    assert e.value.fix or "write a number" in e.value.message  # quantity errors carry their fix in the message


def test_malformed_manifest_text_is_an_input_error_not_a_traceback() -> None:
    with pytest.raises(InputError, match=r"x.yaml#0: spec.tasks: .* is not a list"):
        load_manifest_text("apiVersion: batch.volcano.sh/v1alpha1\nkind: Job\nmetadata: {name: j}\n"
                           "spec: {tasks: 3}\n", "x.yaml")


def test_unmodelled_fields_are_warnings_naming_the_field() -> None:
    doc = _doc("leaderworkerset.yaml")
    doc["spec"]["leaderWorkerTemplate"]["subGroupPolicy"] = {"subGroupSize": 2}
    doc["spec"]["surprise"] = True
    warn: list[str] = []
    expand(doc, "lws.yaml", 3, warn)
    assert warn == ["lws.yaml#3 (LeaderWorkerSet vllm): spec.surprise: not modelled by kubetwin; ignored",
                    "lws.yaml#3 (LeaderWorkerSet vllm): spec.leaderWorkerTemplate.subGroupPolicy: "
                    "not modelled by kubetwin; ignored",
                    "lws.yaml#3 (LeaderWorkerSet vllm): spec.leaderWorkerTemplate.restartPolicy: kept, but not "
                    "simulated: a failed pod does not make the group restart"]
    doc = _doc("leaderworkerset.yaml")
    doc["spec"]["startupPolicy"] = "LeaderReady"
    del doc["spec"]["leaderWorkerTemplate"]["restartPolicy"]
    warn = []
    expand(doc, "lws.yaml", 0, warn)
    assert warn == ["lws.yaml#0 (LeaderWorkerSet vllm): spec.startupPolicy: kept, but not simulated: a group's "
                    "workers are created with its leader"]
    m = load_manifests(["jobset.yaml", "rayjob.yaml"], FIXTURES)
    pretrain = "jobset.yaml#0 (JobSet pretrain): "
    assert m.warnings == [
        pretrain + "spec.replicatedJobs[0].template.spec.backoffLimit: not modelled by kubetwin; ignored",
        pretrain + "spec.startupPolicy.startupPolicyOrder: kept, but not simulated: every replicatedJob's pods "
        "are created at once",
        pretrain + "spec.successPolicy: kept, but not simulated: the JobSet finishes when all its pods have",
        pretrain + "spec.failurePolicy.maxRestarts: kept, but not simulated: a failed pod does not make the JobSet "
        "recreate its Jobs"]


def test_expand_rejects_other_kinds() -> None:
    with pytest.raises(InputError, match="not an operator kind"):
        expand({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}}, "d.yaml")
    assert not is_operator_object("apps/v1", "Deployment")


# ---------------------------------------------------------------------------------------------------
# Recorded objects (the normalizer's entry point) and the CRD list


def test_recorded_gangs_are_lenient_and_pick_the_objects_policy() -> None:
    doc = _doc("volcano-job.yaml")
    doc["metadata"]["uid"] = "u-1"
    doc["status"] = {"state": {"phase": "Running"}}
    [g] = recorded_gangs(doc)
    assert (g.key, g.min_count, g.pod_sets) == ("default/mpi-train-u-1", 3, {"master": 1, "worker": 4})
    [k] = recorded_gangs(_doc("jobset.yaml"))
    assert (k.key, k.source, k.min_count) == ("research/pretrain", "kueue-workload", 9)
    assert recorded_gangs({"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": "r"},
                           "spec": {"rayClusterSpec": "broken"}}) == []
    assert recorded_gangs({"apiVersion": "v1", "kind": "Pod"}) == []


def test_crd_list_covers_every_kind() -> None:
    kinds = {(c.api_version, c.kind) for c in OPERATOR_CRDS}
    for api_version, kind in [("jobset.x-k8s.io/v1alpha2", "JobSet"),
                              ("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet"),
                              ("ray.io/v1", "RayJob"), ("ray.io/v1", "RayCluster"),
                              ("trainer.kubeflow.org/v1alpha1", "TrainJob"), ("kubeflow.org/v1", "PyTorchJob"),
                              ("batch.volcano.sh/v1alpha1", "Job")]:
        assert (api_version, kind) in kinds
        assert is_operator_object(api_version, kind)


# ---------------------------------------------------------------------------------------------------
# Property: pod counts equal what each controller creates


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(1, 5), st.integers(1, 5)), min_size=1, max_size=4))
def test_jobset_pod_count_property(rjobs: list[tuple[int, int, int]]) -> None:
    doc = _doc("jobset.yaml")
    base = doc["spec"]["replicatedJobs"][1]
    doc["spec"]["replicatedJobs"] = []
    for i, (replicas, parallelism, completions) in enumerate(rjobs):
        rj = copy.deepcopy(base)
        rj.update(name=f"rj{i}", replicas=replicas)
        rj["template"]["spec"].update(parallelism=parallelism, completions=completions)
        doc["spec"]["replicatedJobs"].append(rj)
    doc["spec"].pop("successPolicy")
    w = expand(doc)
    assert len(w.pods) == sum(r * min(p, c) for r, p, c in rjobs)
    assert [ps.count for ps in w.pod_sets] == [r * min(p, c) for r, p, c in rjobs]
    assert len(set(w.pod_names())) == len(w.pods)
    assert sum(g.min_count or 0 for g in w.gangs_under("kueue")) == len(w.pods)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 6), st.integers(1, 6), st.booleans())
def test_leaderworkerset_pod_count_property(replicas: int, size: int, leader_template: bool) -> None:
    doc = _doc("leaderworkerset.yaml")
    doc["spec"]["replicas"] = replicas
    doc["spec"]["leaderWorkerTemplate"]["size"] = size
    if not leader_template:
        del doc["spec"]["leaderWorkerTemplate"]["leaderTemplate"]
    w = expand(doc)
    assert len(w.pods) == replicas * size == sum(ps.count for ps in w.pod_sets)
    gangs = w.gangs_under("kueue")
    assert len(gangs) == replicas and all(len(g.pods) == g.min_count == size for g in gangs)
    assert sorted(n for g in gangs for n in g.pods) == sorted(w.pod_names())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4), st.integers(0, 6), st.integers(1, 3)),
                min_size=0, max_size=3), st.sampled_from(["K8sJobMode", "HTTPMode"]))
def test_rayjob_pod_count_property(groups: list[tuple[int, int, int, int]], mode: str) -> None:
    doc = _doc("rayjob.yaml")
    base = doc["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]
    doc["spec"]["rayClusterSpec"]["workerGroupSpecs"] = []
    doc["spec"]["submissionMode"] = mode
    expected = 1 + (mode == "K8sJobMode")
    for i, (lo, extra, replicas, hosts) in enumerate(groups):
        wg = copy.deepcopy(base)
        wg.update(groupName=f"g{i}", minReplicas=lo, maxReplicas=lo + extra, replicas=replicas, numOfHosts=hosts)
        doc["spec"]["rayClusterSpec"]["workerGroupSpecs"].append(wg)
        expected += min(max(replicas, lo), lo + extra) * hosts
    w = expand(doc)
    assert len(w.pods) == expected == sum(ps.count for ps in w.pod_sets)
    assert len(set(w.pod_names())) == expected


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 8), st.lists(st.integers(1, 5), min_size=1, max_size=4))
def test_pytorch_and_volcano_pod_count_property(workers: int, tasks: list[int]) -> None:
    doc = _doc("pytorchjob.yaml")
    doc["spec"]["runPolicy"].pop("schedulingPolicy")
    doc["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] = workers
    w = expand(doc)
    assert len(w.pods) == 1 + workers
    assert w.pod_names() == ["pytorch-simple-master-0"] + [f"pytorch-simple-worker-{i}" for i in range(workers)]
    [g] = w.gangs_under("volcano")
    assert g.min_count == 1 + workers
    vj = _doc("volcano-job.yaml")
    base = vj["spec"]["tasks"][1]
    vj["spec"]["tasks"] = [dict(copy.deepcopy(base), name=f"t{i}", replicas=n, minAvailable=n)
                           for i, n in enumerate(tasks)]
    del vj["spec"]["minAvailable"]
    v = expand(vj)
    assert len(v.pods) == sum(tasks)
    [vg] = v.gangs_under("volcano")
    assert vg.min_count == sum(tasks) and vg.min_task_member == {f"t{i}": n for i, n in enumerate(tasks)}


def test_instance_renames_pods_and_gangs() -> None:
    w = _load("trainjob.yaml")
    i = instance(w, "llama-ft-1", "team-b")
    assert i.pod_names() == [f"llama-ft-1-node-0-{k}" for k in range(4)]
    assert [g.key for g in i.gangs_under("kueue")] == ["team-b/llama-ft-1"]
    assert w.pod_names()[0] == "llama-ft-node-0-0"  # the original is unchanged
    v = instance(_load("volcano-job.yaml"), "mpi-train-3")
    assert v.pod_names()[0] == "mpi-train-3-master-0" and v.source.startswith("volcano-job.yaml#0")


def test_workload_created_data_per_gang() -> None:
    v = _load("volcano-job.yaml")
    [g] = v.gangs_under("volcano")
    assert workload_created_data(v, g, "volcano") == {
        "policy": "volcano", "minCount": 3, "pods": 5, "priority": 0, "workload": "mpi-train",
        "queue": "research", "minTaskMember": {"master": 1, "worker": 2},
        "podSets": [{"name": "master", "count": 1, "requests": {"cpu": "1", "memory": "1Gi"}},
                    {"name": "worker", "count": 4, "minCount": 2,
                     "requests": {"cpu": "4", "memory": "8Gi", "nvidia.com/gpu": "1"}}]}
    lws = _load("leaderworkerset.yaml")
    data = workload_created_data(lws, lws.gangs_under("kueue")[1], "kueue", priority=5)
    assert (data["minCount"], data["pods"], data["queue"], data["priority"]) == (4, 4, "inference", 5)
    assert [(p["name"], p["count"]) for p in data["podSets"]] == [("leader", 1), ("worker", 3)]


def test_scenario_job_takes_queue_and_pod_sets_from_an_operator_object(tmp_path: Path) -> None:
    (tmp_path / "lws.yaml").write_text((FIXTURES / "leaderworkerset.yaml").read_text())
    (tmp_path / "sc.yaml").write_text("""
apiVersion: kubetwin.dev/v1alpha1
kind: Scenario
metadata: {name: ops}
spec:
  duration: 1h
  cluster:
    nodePools: [{name: gpu, count: 2, allocatable: {cpu: "64", memory: 512Gi, nvidia.com/gpu: "8"}}]
  workloads:
  - name: serve
    namespace: serving
    job: lws.yaml
    count: 1
    arrival: {every: 1h}
    duration: 10m
""")
    sc = load_scenario(tmp_path / "sc.yaml")
    ms = resolve_workloads(sc)
    assert sc.spec.workloads[0].queue == "inference"  # the LWS's kueue.x-k8s.io/queue-name label
    [w] = ms.workloads
    assert isinstance(w, OperatorWorkload) and [(p.name, p.count) for p in w.pod_sets] == [("leader", 2),
                                                                                          ("worker", 6)]


def test_recorded_rayjob_uses_its_cluster_name_and_kueue_workload_prefixes() -> None:
    doc = _doc("rayjob.yaml")
    doc["metadata"]["labels"] = {"ray.io/scheduler-name": "volcano"}
    doc["status"] = {"rayClusterName": "sweep-x7k2p", "jobStatus": "RUNNING"}
    [g] = recorded_gangs(doc)
    # KubeRay's Volcano PodGroup of a RayJob is named after the RayJob (getAppPodGroupName) and counts
    # 1 head + the desired workers, never the submitter
    assert (g.key, g.source, g.min_count) == ("research/ray-sweep-pg", "volcano-podgroup", 3)
    assert len(g.pods) == 4  # the submitter is in the gang, just not in its quorum
    assert [g.workload_prefix for g in _load("jobset.yaml").gangs_under("kueue")] == ["jobset-pretrain-"]
    assert [g.workload_prefix for g in _load("leaderworkerset.yaml").gangs_under("kueue")] == [
        "leaderworkerset-vllm-0-", "leaderworkerset-vllm-1-"]


@pytest.mark.parametrize(("fixture", "where", "field"), [
    ("jobset.yaml", lambda d: d["spec"], "spec.bogus"),
    ("jobset.yaml", lambda d: d["spec"]["replicatedJobs"][1], "spec.replicatedJobs[1].bogus"),
    ("jobset.yaml", lambda d: d["spec"]["replicatedJobs"][1]["template"]["spec"],
     "spec.replicatedJobs[1].template.spec.bogus"),
    ("leaderworkerset.yaml", lambda d: d["spec"], "spec.bogus"),
    ("leaderworkerset.yaml", lambda d: d["spec"]["leaderWorkerTemplate"], "spec.leaderWorkerTemplate.bogus"),
    ("leaderworkerset.yaml", lambda d: d["spec"]["leaderWorkerTemplate"]["workerTemplate"],
     "spec.leaderWorkerTemplate.workerTemplate.bogus"),
    ("rayjob.yaml", lambda d: d["spec"], "spec.bogus"),
    ("rayjob.yaml", lambda d: d["spec"]["rayClusterSpec"]["workerGroupSpecs"][0],
     "spec.rayClusterSpec.workerGroupSpecs[0].bogus"),
    ("raycluster.yaml", lambda d: d["spec"]["headGroupSpec"], "spec.headGroupSpec.bogus"),
    ("pytorchjob.yaml", lambda d: d["spec"], "spec.bogus"),
    ("pytorchjob.yaml", lambda d: d["spec"]["pytorchReplicaSpecs"]["Worker"], "spec.pytorchReplicaSpecs.Worker.bogus"),
    ("pytorchjob.yaml", lambda d: d["spec"]["runPolicy"], "spec.runPolicy.bogus"),
    ("trainjob.yaml", lambda d: d["spec"], "spec.bogus"),
    ("trainjob.yaml", lambda d: d["spec"]["trainer"], "spec.trainer.bogus"),
    ("volcano-job.yaml", lambda d: d["spec"], "spec.bogus"),
    ("volcano-job.yaml", lambda d: d["spec"]["tasks"][0], "spec.tasks[0].bogus"),
    ("volcano-job.yaml", lambda d: d["metadata"], "metadata.bogus"),
])
def test_every_reader_warns_about_unknown_fields_by_name(fixture: str, where: Any, field: str) -> None:
    doc = _doc(fixture)
    where(doc)["bogus"] = {"x": 1}
    runtimes = None
    if fixture == "trainjob.yaml":
        from models.operators import training_runtime_entry

        runtimes = dict([training_runtime_entry(_doc(fixture, 1))])
    warn: list[str] = []
    expand(doc, fixture, 0, warn, runtimes)
    assert [w for w in warn if "bogus" in w] == [
        f"{fixture}#0 ({doc['kind']} {doc['metadata']['name']}): {field}: not modelled by kubetwin; ignored"]
