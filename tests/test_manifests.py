"""models/manifests.py: routing by (apiVersion, kind), Job/JobSet pod sets, warnings and YAML errors;
and the real conformance-evidence objects run through the Kueue core end to end."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from models.errors import InputError
from models.manifests import ManifestSet, compact_pod_template, load_manifest_text, load_manifests
from sim.kueue import KueueCore, queued_workload

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "manifests"
EVIDENCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "ai-conformance-evidence"


def _load() -> ManifestSet:
    return load_manifests(["kueue-v1beta2.yaml", "workloads.yaml"], FIXTURES)


def test_routes_every_kind() -> None:
    m = _load()
    assert [f.name for f in m.resource_flavors] == ["h100", "spot-h100"]
    assert [c.name for c in m.cluster_queues] == ["team-a"]
    assert [q.key for q in m.local_queues] == ["team-a/training"]
    assert [(w.kind, w.key) for w in m.workloads] == [("Job", "team-a/train"), ("JobSet", "team-a/llm")]
    assert [(p.namespace, p.name, p.min_member, p.min_resources, p.schedule_timeout_seconds)
            for p in m.pod_groups] == [("team-b", "pg-1", 3, {"cpu": "6"}, 120)]
    assert [(w.name, w.pod_groups) for w in m.scheduling_workloads] == [("gang", [("workers", 4),
                                                                                  ("driver", None)])]
    assert [(p.name, p.value) for p in m.priority_classes] == [("high", 10000)]
    assert m.workload_priority_classes == {"prod": 1000}
    assert [d["metadata"]["name"] for d in m.device_classes] == ["gpu.nvidia.com"]


def test_v1beta2_cluster_queue_fields() -> None:
    cq = _load().cluster_queues[0].spec
    assert cq.cohort_ref == "ml" and cq.queueing_strategy == "StrictFIFO"
    gpu = cq.resource_groups[0].flavors[0].resources[2]
    assert (gpu.nominal_milli, gpu.borrowing_limit_milli, gpu.lending_limit_milli) == (16000, 8000, 8000)
    assert cq.preemption.borrow_within_cohort.max_priority_threshold == 100
    assert cq.flavor_fungibility.when_can_borrow == "TryNextFlavor"


def test_warnings_name_file_and_document() -> None:
    assert _load().warnings == [
        "kueue-v1beta2.yaml#2 (ClusterQueue team-a): spec.stopPolicy: field is not modelled by kubetwin "
        "and is ignored",
        "workloads.yaml#1 (Job train): spec.backoffLimit: not modelled by kubetwin; ignored",
    ]   # preferred node affinity is scored now, and a Deployment is read by the serving controller


def test_job_pod_set_and_effective_requests() -> None:
    job = _load().workloads[0]
    assert job.queue_name == "training" and job.priority_class_name == "high"
    [ps] = job.pod_sets
    assert (ps.name, ps.count, ps.min_count) == ("main", 4, None)
    # cpu: max(16 + 0.25 app + 0.5 sidecar, 20 init) = 20; memory: 200Gi + 64Mi + 256Mi sidecar;
    # the GPU request comes from limits
    assert ps.template["requests"] == {"cpu": "20", "memory": "205120Mi", "nvidia.com/gpu": "8"}
    assert ps.template["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-h100-80gb"}
    assert ps.template["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    terms = ps.template["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms["nodeSelectorTerms"][0]["matchExpressions"][0]["key"] == "topology.kubernetes.io/zone"
    assert ps.requests_milli() == {"cpu": 20000, "memory": 205120 * 2**20 * 1000, "nvidia.com/gpu": 8000}


def test_jobset_pod_sets_and_priority() -> None:
    m = _load()
    js = m.workloads[1]
    assert [(p.name, p.count, p.template["requests"]) for p in js.pod_sets] == [
        ("leader", 1, {"cpu": "4"}), ("workers", 8, {"cpu": "8", "nvidia.com/gpu": "8"})]
    assert js.workload_priority_class == "prod"
    assert m.priority_of(js) == 1000
    assert m.priority_of(m.workloads[0]) == 10000


def test_job_parallelism_bounded_by_completions_and_min_parallelism() -> None:
    m = load_manifest_text("""
apiVersion: batch/v1
kind: Job
metadata:
  name: j
  annotations: {kueue.x-k8s.io/job-min-parallelism: "2"}
spec:
  parallelism: 8
  completions: 3
  template: {spec: {containers: [{name: c, resources: {requests: {cpu: 1}}}]}}
""", "j.yaml")
    [ps] = m.workloads[0].pod_sets
    assert (ps.count, ps.min_count) == (3, 2)
    assert m.workloads[0].key == "default/j"


def test_yaml_syntax_error_has_line_and_column() -> None:
    with pytest.raises(InputError) as e:
        load_manifests(["bad-syntax.yaml"], FIXTURES)
    assert (e.value.file, e.value.line, e.value.column) == ("bad-syntax.yaml", 12, 5)
    assert e.value.message.startswith("YAML syntax error")


def test_bad_values_are_input_errors() -> None:
    with pytest.raises(InputError) as e:
        load_manifest_text("apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec:\n  template:\n"
                           "    spec:\n      containers: [{name: c, resources: {requests: {cpu: lots}}}]\n",
                           "x.yaml")
    assert e.value.field == "spec.template.spec.containers[0].resources.requests.cpu"
    with pytest.raises(InputError) as e2:
        load_manifest_text("apiVersion: kueue.x-k8s.io/v1beta1\nkind: ClusterQueue\nmetadata: {name: q}\n"
                           "spec: {queueingStrategy: LIFO}\n", "q.yaml")
    assert (e2.value.file, e2.value.field) == ("q.yaml#0", "spec.queueingStrategy")
    with pytest.raises(InputError):
        load_manifests(["missing.yaml"], FIXTURES)


def test_compact_pod_template_limits_only() -> None:
    resources = {"limits": {"cpu": "2", "memory": "1Gi"}, "requests": {"cpu": "1"}}
    t = compact_pod_template({"containers": [{"name": "c", "resources": resources}]})
    assert t == {"requests": {"cpu": "1", "memory": "1Gi"}}


def test_manifests_feed_the_core() -> None:
    m = _load()
    k = KueueCore.from_section(m.kueue_section())
    k.submit(queued_workload(m.workloads[0], m.priority_of(m.workloads[0]), 0.0), 0.0)
    r = k.run_cycles(0.0)
    # the h100 flavor's taint is tolerated by the pod (and the flavor); 4 x 8 GPUs = 32 > 16 + 8 borrowable
    assert r.admissions == []
    assert "insufficient quota for nvidia.com/gpu in flavor h100" in r.pending[0].message


def _evidence_yaml(name: str) -> str:
    text = (EVIDENCE / name).read_text(encoding="utf-8")
    blocks = re.findall(r"```[a-z]*\n(.*?)```", text, re.S)
    keep = [b for b in blocks if "apiVersion:" in b and "kubectl" not in b.split("apiVersion:")[0]]
    return "\n---\n".join(keep)


@pytest.mark.skipif(not (EVIDENCE / "v1.35_rafay_gang_scheduling.md").is_file(),
                    reason=f"conformance evidence not present at {EVIDENCE}")
def test_rafay_evidence_all_or_nothing() -> None:
    m = load_manifest_text(_evidence_yaml("v1.35_rafay_gang_scheduling.md"), "rafay.md")
    assert [w.kind for w in m.workloads] == ["Job", "Job"]
    assert not any("ClusterQueue" in w or "LocalQueue" in w or "ResourceFlavor" in w for w in m.warnings)
    small, big = m.workloads
    assert [(p.count, p.template["requests"]) for p in small.pod_sets] == [
        (2, {"cpu": "100m", "memory": "64Mi"})]
    assert [(p.count, p.template["requests"]) for p in big.pod_sets] == [(5, {"cpu": "5", "memory": "2Gi"})]
    # as written, the Jobs name namespace gang-test-scheduling; the LocalQueue is in gang-scheduling-test
    k = KueueCore.from_section(m.kueue_section())
    k.submit(queued_workload(small, 0, 0.0), 0.0)
    assert k.status(small.key).message == "LocalQueue gang-test-lq doesn't exist"
    # in the LocalQueue's namespace (what the recorded Workloads show) the small gang is admitted whole,
    # the 25-CPU one stays pending: all or nothing. (Both Jobs are named gang-test-job; the evidence deleted
    # the first before creating the second, so the second gets its own name here.)
    k = KueueCore.from_section(m.kueue_section())
    small.namespace = big.namespace = "gang-scheduling-test"
    big.name = "gang-test-job-5"
    k.submit(queued_workload(small, 0, 0.0), 0.0)
    k.submit(queued_workload(big, 0, 1.0), 1.0)
    r = k.run_cycles(1.0)
    assert [(a.workload, a.usage) for a in r.admissions] == [
        ("gang-scheduling-test/gang-test-job",
         {"default-flavor": {"cpu": 200, "memory": 2 * 64 * 2**20 * 1000}})]
    assert [(p.workload, p.message) for p in r.pending] == [
        ("gang-scheduling-test/gang-test-job-5",
         "couldn't assign flavors to pod set main: insufficient quota for cpu in flavor default-flavor, "
         "previously considered podsets requests (0) + current podset request (25) > maximum capacity (10)")]
    assert k.usage() == {"gang-test-cq": {"default-flavor": {"cpu": 200, "memory": 128 * 2**20 * 1000}}}
