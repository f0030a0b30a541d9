"""The gang an operator object selects itself, as its controller would create it (not only the scenario's ``gang:``).

A TrainJob whose runtime has ``podGroupPolicy.coscheduling`` makes PodGroup ``<trainjob>`` with the runtime's
``scheduleTimeoutSeconds``; a PyTorchJob's ``schedulerName`` picks Volcano or the scheduler-plugins
PodGroup; KubeRay's labels pick Volcano or scheduler-plugins; a ``scheduling.x-k8s.io/pod-group`` label on
JobSet/LWS templates picks coscheduling (with the named PodGroup manifest's ``minMember``/timeout). A Volcano
Job cannot wait in a Kueue LocalQueue. Expectations are hand-computed from the manifests below.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubetwin.cmd_simulate import simulate_to
from models.errors import InputError
from models.operators import expand
from models.scenario import load_scenario
from models.timeline import Event, read_timeline
from sim.build import build
from validator.checks import FAILED, run_checks

GPU_POOL = {"name": "gpu", "count": 2, "allocatable": {"cpu": "64", "memory": "512Gi", "nvidia.com/gpu": "8"}}

RUNTIME: dict[str, Any] = {
    "apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "ClusterTrainingRuntime",
    "metadata": {"name": "torch-cosched"},
    "spec": {"podGroupPolicy": {"coscheduling": {"scheduleTimeoutSeconds": 120}},
             "mlPolicy": {"numNodes": 1, "torch": {"numProcPerNode": "auto"}},
             "template": {"spec": {"replicatedJobs": [{"name": "node", "template": {
                 "metadata": {"labels": {"trainer.kubeflow.org/trainjob-ancestor-step": "trainer"}},
                 "spec": {"template": {"spec": {"containers": [{"name": "node", "image": "pytorch/pytorch"}]}}}}}]}}},
}
TRAINJOB: dict[str, Any] = {
    "apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob",
    "metadata": {"name": "fsdp", "namespace": "ml"},
    "spec": {"runtimeRef": {"name": "torch-cosched"},
             "trainer": {"numNodes": 3, "resourcesPerNode": {"requests": {"cpu": "8", "nvidia.com/gpu": "4"},
                                                             "limits": {"nvidia.com/gpu": "4"}}}},
}


def _pytorchjob(**template_spec: Any) -> dict[str, Any]:
    tmpl = {"spec": {"containers": [{"name": "pytorch", "image": "pytorch",
                                     "resources": {"limits": {"nvidia.com/gpu": "1"}}}], **template_spec}}
    return {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": {"name": "ptj", "namespace": "ml"},
            "spec": {"runPolicy": {"schedulingPolicy": {"minAvailable": 3}},
                     "pytorchReplicaSpecs": {"Master": {"replicas": 1, "template": copy.deepcopy(tmpl)},
                                             "Worker": {"replicas": 3, "template": copy.deepcopy(tmpl)}}}}


VOLCANO_JOB: dict[str, Any] = {
    "apiVersion": "batch.volcano.sh/v1alpha1", "kind": "Job", "metadata": {"name": "mpi", "namespace": "ml"},
    "spec": {"minAvailable": 2, "schedulerName": "volcano", "tasks": [
        {"name": "worker", "replicas": 2, "template": {"spec": {"containers": [
            {"name": "w", "image": "mpi", "resources": {"requests": {"cpu": "1"}}}]}}}]},
}
KUEUE: dict[str, Any] = {"resourceFlavors": [{"metadata": {"name": "default"}}],
         "clusterQueues": [{"metadata": {"name": "cq"}, "spec": {"resourceGroups": [{
             "coveredResources": ["cpu"], "flavors": [{"name": "default", "resources": [
                 {"name": "cpu", "nominalQuota": 100}]}]}]}}],
         "localQueues": [{"metadata": {"name": "user-queue", "namespace": "ml"}, "spec": {"clusterQueue": "cq"}}]}


def _scenario(tmp_path: Path, docs: list[dict[str, Any]], workload: dict[str, Any], **spec: Any) -> Path:
    (tmp_path / "obj.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False), encoding="utf-8")
    body: dict[str, Any] = {"seed": 1, "duration": "4h", "cluster": {"nodePools": [GPU_POOL]},
                            "manifests": ["obj.yaml"],
                            "workloads": [{"name": "w", "namespace": "ml", "job": "obj.yaml", "count": 1,
                                           "arrival": {"at": ["0s"]}, "duration": "1h", **workload}], **spec}
    doc = {"apiVersion": "kubetwin.dev/v1alpha1", "kind": "Scenario", "metadata": {"name": "gangs"}, "spec": body}
    path = tmp_path / "sc.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def _run(path: Path) -> list[Event]:
    simulate_to(path, path.parent / "out")
    tl = read_timeline(path.parent / "out" / "timeline.jsonl")
    assert tl.problems == []
    assert [r.invariant.id for r in run_checks(tl.events) if r.status == FAILED] == []
    return tl.events


def _created(events: list[Event]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(e.kind, e.name, e.data) for e in events if e.type == "WorkloadCreated"]


# -- 1. the object's own gang


def test_trainjob_runtime_coscheduling_makes_its_podgroup_without_scenario_gang(tmp_path: Path) -> None:
    events = _run(_scenario(tmp_path, [RUNTIME, TRAINJOB], {}))
    [(kind, name, data)] = _created(events)
    assert (kind, name, data["policy"], data["minCount"], data["pods"], data["timeoutSeconds"]) == \
        ("PodGroup", "w-0", "coscheduling", 3, 3, 120.0)
    # all three pods bound in one instant (the gang), each 4 of the 16 GPUs
    assert len({e.t for e in events if e.type == "Scheduled"}) == 1
    assert sum(e.type == "Scheduled" for e in events) == 3


def test_scenario_gang_without_timeout_takes_the_runtime_timeout(tmp_path: Path) -> None:
    [(_, _, data)] = _created(_run(_scenario(tmp_path, [RUNTIME, TRAINJOB], {"gang": {"policy": "coscheduling"}})))
    assert data["timeoutSeconds"] == 120.0  # not the 60 s default
    tmp2 = tmp_path / "explicit"
    tmp2.mkdir()
    [(_, _, data)] = _created(_run(_scenario(tmp2, [RUNTIME, TRAINJOB],
                                             {"gang": {"policy": "coscheduling", "timeout": "30s"}})))
    assert data["timeoutSeconds"] == 30.0  # the scenario's own value wins


def test_runtime_timeout_zero_or_unset_is_the_api_default_60() -> None:
    rt = copy.deepcopy(RUNTIME)
    rt["spec"]["podGroupPolicy"] = {"coscheduling": {}}
    w = expand(TRAINJOB, "t.yaml", 0, [], {"ClusterTrainingRuntime/torch-cosched": rt})
    assert (w.default_policy(), w.schedule_timeout, w.gang_selector) == \
        ("coscheduling", 60, "runtime spec.podGroupPolicy.coscheduling")


def test_pytorchjob_scheduler_plugins_podgroup_quorum_and_timeout(tmp_path: Path) -> None:
    job = _pytorchjob(schedulerName="scheduler-plugins-scheduler")
    job["spec"]["runPolicy"] = {"schedulingPolicy": {"minAvailable": 3, "scheduleTimeoutSeconds": 90}}
    warn: list[str] = []
    w = expand(job, "p.yaml", 0, warn)
    assert (w.default_policy(), w.gang_selector) == \
        ("coscheduling", "spec.pytorchReplicaSpecs.Master.template.spec.schedulerName")
    assert warn == []  # the schedulerName is what selected the gang: nothing "ignored" about it
    [(_, _, data)] = _created(_run(_scenario(tmp_path, [job], {})))
    assert (data["policy"], data["minCount"], data["pods"], data["timeoutSeconds"]) == ("coscheduling", 3, 4, 90.0)


def test_raycluster_gang_scheduling_label_selects_scheduler_plugins(tmp_path: Path) -> None:
    ray = {"apiVersion": "ray.io/v1", "kind": "RayCluster",
           "metadata": {"name": "rc", "namespace": "ml", "labels": {"ray.io/gang-scheduling-enabled": "true"}},
           "spec": {"headGroupSpec": {"template": {"spec": {"containers": [
               {"name": "head", "image": "ray", "resources": {"requests": {"cpu": "1"}}}]}}},
                    "workerGroupSpecs": [{"groupName": "gpu", "replicas": 2, "minReplicas": 1, "maxReplicas": 4,
                                          "template": {"spec": {"containers": [
                                              {"name": "w", "image": "ray",
                                               "resources": {"limits": {"nvidia.com/gpu": "4"}}}]}}}]}}
    w = expand(ray, "r.yaml", 0, [])
    [g] = w.gangs_under("coscheduling")
    # scheduler-plugins' PodGroup <cluster>: 1 head + 2 desired workers
    assert (w.default_policy(), g.key, g.min_count) == ("coscheduling", "ml/rc", 3)
    [(_, _, data)] = _created(_run(_scenario(tmp_path, [ray], {})))
    assert (data["policy"], data["minCount"], data["pods"], data["timeoutSeconds"]) == ("coscheduling", 3, 3, 60.0)


def test_jobset_pod_group_label_takes_the_podgroup_manifest(tmp_path: Path) -> None:
    tmpl = {"metadata": {"labels": {"scheduling.x-k8s.io/pod-group": "pretrain-pg"}},
            "spec": {"containers": [{"name": "t", "image": "t", "resources": {"limits": {"nvidia.com/gpu": "2"}}}]}}
    jobset = {"apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet",
              "metadata": {"name": "pretrain", "namespace": "ml"},
              "spec": {"replicatedJobs": [{"name": "workers", "replicas": 2, "template": {
                  "spec": {"parallelism": 2, "completions": 2, "template": tmpl}}}]}}
    pg = {"apiVersion": "scheduling.x-k8s.io/v1alpha1", "kind": "PodGroup",
          "metadata": {"name": "pretrain-pg", "namespace": "ml"},
          "spec": {"minMember": 3, "scheduleTimeoutSeconds": 45}}
    assert expand(jobset, "j.yaml", 0, []).gang_selector == \
        "spec.replicatedJobs[workers].template.spec.template.metadata.labels[scheduling.x-k8s.io/pod-group]"
    [(_, _, data)] = _created(_run(_scenario(tmp_path, [jobset, pg], {})))
    assert (data["policy"], data["minCount"], data["pods"], data["timeoutSeconds"]) == ("coscheduling", 3, 4, 45.0)


def test_lws_pod_group_label_is_coscheduling_per_group() -> None:
    lws = {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet",
           "metadata": {"name": "vllm", "namespace": "ml"},
           "spec": {"replicas": 2, "leaderWorkerTemplate": {"size": 2, "workerTemplate": {
               "metadata": {"labels": {"scheduling.x-k8s.io/pod-group": "vllm"}},
               "spec": {"containers": [{"name": "w", "image": "vllm"}]}}}}}
    warn: list[str] = []
    w = expand(lws, "l.yaml", 0, warn)
    assert w.default_policy() == "coscheduling"
    assert [(g.key, g.source, g.min_count) for g in w.gangs_under("coscheduling")] == [
        ("ml/vllm-0", "podgroup", 2), ("ml/vllm-1", "podgroup", 2)]
    assert len(warn) == 1 and "each of the 2 groups its own PodGroup" in warn[0]


@pytest.mark.parametrize(("doc", "policy"), [
    (_pytorchjob(), "none"),  # schedulingPolicy alone: the training-operator's flag decides, not the object
    (_pytorchjob(schedulerName="volcano"), "volcano"),
    (VOLCANO_JOB, "volcano"),
    (TRAINJOB, "coscheduling"),
])
def test_default_policy_per_object(doc: dict[str, Any], policy: str) -> None:
    assert expand(doc, "x.yaml", 0, [], {"ClusterTrainingRuntime/torch-cosched": RUNTIME}).default_policy() == policy


# -- 2. a Volcano Job is not Kueue's


def test_volcano_job_with_kueue_queue_is_an_input_error(tmp_path: Path) -> None:
    path = _scenario(tmp_path, [VOLCANO_JOB], {"queue": "user-queue"}, kueue=KUEUE)
    with pytest.raises(InputError) as e:
        build(load_scenario(path))
    assert e.value.field == "spec.workloads[0].queue"
    assert str(path) in str(e.value) and "Kueue has no Volcano Job integration" in str(e.value)
    assert "remove queue" in str(e.value)


def test_volcano_job_with_other_gang_policy_is_an_input_error(tmp_path: Path) -> None:
    path = _scenario(tmp_path, [VOLCANO_JOB], {"gang": {"policy": "coscheduling"}})
    with pytest.raises(InputError) as e:
        build(load_scenario(path))
    assert e.value.field == "spec.workloads[0].gang.policy"


# -- 3. truthful schedulerName warnings


def test_scheduler_name_that_selects_volcano_is_not_called_ignored() -> None:
    warn: list[str] = []
    expand(_pytorchjob(schedulerName="volcano"), "p.yaml", 0, warn)
    assert not any("schedulerName" in x for x in warn)


def test_scheduler_name_that_selects_nothing_says_what_happens() -> None:
    jobset = {"apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet", "metadata": {"name": "js"},
              "spec": {"replicatedJobs": [{"name": "w", "template": {"spec": {"template": {"spec": {
                  "schedulerName": "volcano", "containers": [{"name": "c", "image": "c"}]}}}}}]}}
    warn: list[str] = []
    w = expand(jobset, "j.yaml", 0, warn)
    assert w.default_policy() == "none"
    [msg] = [x for x in warn if "schedulerName" in x]
    assert "spec.replicatedJobs[0].template.spec.template.spec.schedulerName" in msg
    assert "ignored" not in msg and "gang: {policy: volcano}" in msg


def test_pytorchjob_scheduling_policy_alone_warns_how_to_get_the_gang() -> None:
    warn: list[str] = []
    expand(_pytorchjob(), "p.yaml", 0, warn)
    [msg] = warn
    assert "spec.runPolicy.schedulingPolicy:" in msg and "gang: {policy: coscheduling}" in msg


def test_scenario_gang_overriding_the_objects_choice_warns(tmp_path: Path) -> None:
    path = _scenario(tmp_path, [RUNTIME, TRAINJOB], {"gang": {"policy": "workload-api"}})
    bp = build(load_scenario(path))
    assert any("spec.workloads[0].gang.policy: 'workload-api' overrides the coscheduling gang" in x
               and "runtime spec.podGroupPolicy.coscheduling" in x for x in bp.warnings)


# -- 4. pods recreated after a Kueue re-admission: the documented -r<n> names (docs/operators.md)


def test_lws_pods_after_kueue_readmission_are_named_as_documented(tmp_path: Path) -> None:
    lws = {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet",
           "metadata": {"name": "vllm", "namespace": "ml"},
           "spec": {"replicas": 1, "leaderWorkerTemplate": {"size": 2, "workerTemplate": {"spec": {"containers": [
               {"name": "w", "image": "vllm", "resources": {"limits": {"nvidia.com/gpu": "4"}}}]}}}}}
    kueue = copy.deepcopy(KUEUE)
    cq = kueue["clusterQueues"][0]["spec"]
    cq["preemption"] = {"withinClusterQueue": "LowerPriority"}
    cq["resourceGroups"] = [{"coveredResources": ["nvidia.com/gpu"], "flavors": [{"name": "default", "resources": [
        {"name": "nvidia.com/gpu", "nominalQuota": 8}]}]}]
    urgent = {"name": "urgent", "namespace": "ml", "queue": "user-queue", "priority": 100, "count": 1,
              "arrival": {"at": ["10m"]}, "duration": "30m", "replicas": 1,
              "template": {"requests": {"nvidia.com/gpu": "8"}}}
    path = _scenario(tmp_path, [lws], {"queue": "user-queue", "duration": "2h"}, kueue=kueue)
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["spec"]["workloads"].append(urgent)
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    events = _run(path)
    created = [(e.t, e.name) for e in events if e.type == "PodCreated" and e.name.startswith("w-")]
    # admitted at 0, preempted at 10m by the urgent job, re-admitted when it ends at 40m: kubetwin names the
    # recreated group <group>-r1 (leader) and <group>-r1-<w> (workers), where the LWS StatefulSets would
    # reuse w-0-0 and w-0-0-1 — docs/operators.md "One difference" pins exactly this
    assert [n for _, n in created] == ["w-0-0", "w-0-0-1", "w-0-0-r1", "w-0-0-r1-1"]
    assert {e.group for e in events if e.type == "PodCreated" and e.name.startswith("w-")} == {"ml/w-0-0"}
    doc_text = (Path(__file__).parents[1] / "docs" / "operators.md").read_text(encoding="utf-8")
    assert "`serve-0-1-r1` and `serve-0-1-r1-1`" in doc_text
    assert created[0][0] == 0.0 and created[2][0] == pytest.approx(2400.0)
