"""Issue 14 items 1 and 2: a Job's queue-name label routes it to Kueue, and priorityClassName resolves the
way the API server's Priority admission does (Kueue's WorkloadPriorityClass label keeps precedence for
the Workload's priority). Checked on the resolved models the engine reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.errors import InputError
from models.resolution import resolve_workloads
from models.scenario import Scenario, load_scenario

HEAD = """\
apiVersion: kubetwin.dev/v1alpha1
kind: Scenario
metadata: {name: prio}
spec:
  duration: 1h
  cluster:
    nodePools:
    - {name: gpu, count: 1, allocatable: {cpu: "8", nvidia.com/gpu: "8"}}
  manifests: [classes.yaml, queues.yaml]
  workloads:
"""

CLASSES = """\
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: high}
value: 100000
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: low}
value: 10
globalDefault: true
---
apiVersion: kueue.x-k8s.io/v1beta1
kind: WorkloadPriorityClass
metadata: {name: urgent}
value: 777
"""

QUEUES = """\
apiVersion: kueue.x-k8s.io/v1beta1
kind: ResourceFlavor
metadata: {name: default}
---
apiVersion: kueue.x-k8s.io/v1beta1
kind: ClusterQueue
metadata: {name: cq}
spec:
  namespaceSelector: {}
  resourceGroups:
  - coveredResources: [nvidia.com/gpu]
    flavors:
    - name: default
      resources: [{name: nvidia.com/gpu, nominalQuota: 8}]
---
apiVersion: kueue.x-k8s.io/v1beta1
kind: LocalQueue
metadata: {name: team, namespace: default}
spec: {clusterQueue: cq}
"""


def job(labels: str = "", pcn: str = "") -> str:
    return f"""\
apiVersion: batch/v1
kind: Job
metadata:
  name: train
  labels: {{{labels}}}
spec:
  parallelism: 2
  template:
    spec:
      {"priorityClassName: " + pcn if pcn else ""}
      containers:
      - name: t
        resources: {{requests: {{nvidia.com/gpu: "4"}}}}
"""


def write(tmp_path: Path, workloads: str, *, classes: str = CLASSES, job_text: str | None = None) -> Path:
    (tmp_path / "classes.yaml").write_text(classes, encoding="utf-8")
    (tmp_path / "queues.yaml").write_text(QUEUES, encoding="utf-8")
    if job_text is not None:
        (tmp_path / "job.yaml").write_text(job_text, encoding="utf-8")
    p = tmp_path / "s.yaml"
    p.write_text(HEAD + workloads, encoding="utf-8")
    return p


def one(tmp_path: Path, workloads: str, **kw: str) -> Scenario:
    return load_scenario(write(tmp_path, workloads, **kw))


PLAIN = """\
  - name: w
    arrival: {at: [0s]}
    template: {requests: {nvidia.com/gpu: "1"}%s}
    duration: 1m
"""


def test_job_queue_label_routes_to_kueue(tmp_path: Path) -> None:
    sc = one(tmp_path, "  - {name: w, arrival: {at: [0s]}, job: job.yaml, duration: 1m}\n",
             job_text=job("kueue.x-k8s.io/queue-name: team"))
    assert sc.spec.workloads[0].queue == "team"


def test_job_queue_label_satisfies_kueue_gang(tmp_path: Path) -> None:
    sc = one(tmp_path, "  - {name: w, arrival: {at: [0s]}, job: job.yaml, duration: 1m, gang: {policy: kueue}}\n",
             job_text=job("kueue.x-k8s.io/queue-name: team"))
    assert sc.spec.workloads[0].queue == "team"


def test_kueue_gang_without_any_queue_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="gang policy kueue needs a LocalQueue"):
        one(tmp_path, "  - {name: w, arrival: {at: [0s]}, job: job.yaml, duration: 1m, gang: {policy: kueue}}\n",
            job_text=job())


def test_same_queue_in_scenario_and_label_is_fine(tmp_path: Path) -> None:
    sc = one(tmp_path, "  - {name: w, queue: team, arrival: {at: [0s]}, job: job.yaml, duration: 1m}\n",
             job_text=job("kueue.x-k8s.io/queue-name: team"))
    assert sc.spec.workloads[0].queue == "team"


def test_differing_queue_and_label_names_both(tmp_path: Path) -> None:
    with pytest.raises(InputError) as e:
        one(tmp_path, "  - {name: w, queue: other, arrival: {at: [0s]}, job: job.yaml, duration: 1m}\n",
            job_text=job("kueue.x-k8s.io/queue-name: team"))
    msg = e.value.render()
    assert "'other'" in msg and "'team'" in msg and "spec.workloads[0].queue" in msg


def test_job_without_label_stays_outside_kueue(tmp_path: Path) -> None:
    sc = one(tmp_path, "  - {name: w, arrival: {at: [0s]}, job: job.yaml, duration: 1m}\n", job_text=job())
    w = sc.spec.workloads[0]
    assert w.queue is None
    assert (w.priority, w.pod_priority) == (10, 10)  # the globalDefault class


def test_priority_class_name_in_template(tmp_path: Path) -> None:
    w = one(tmp_path, PLAIN % ", priorityClassName: high").spec.workloads[0]
    assert (w.priority, w.pod_priority) == (100000, 100000)


def test_global_default_when_none_named(tmp_path: Path) -> None:
    w = one(tmp_path, PLAIN % "").spec.workloads[0]
    assert (w.priority, w.pod_priority) == (10, 10)


def test_no_classes_at_all_gives_zero(tmp_path: Path) -> None:
    w = one(tmp_path, PLAIN % "", classes="").spec.workloads[0]
    assert (w.priority, w.pod_priority) == (0, 0)


def test_explicit_priority_without_class_is_kept(tmp_path: Path) -> None:
    w = one(tmp_path, PLAIN.replace("    duration", "    priority: 5\n    duration") % "").spec.workloads[0]
    assert (w.priority, w.pod_priority) == (5, 5)


def test_explicit_priority_conflicting_with_class(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"priority 5 differs from the value 100000 of PriorityClass 'high'"):
        one(tmp_path, PLAIN.replace("    duration", "    priority: 5\n    duration") % ", priorityClassName: high")


def test_unknown_class_names_it(tmp_path: Path) -> None:
    with pytest.raises(InputError) as e:
        one(tmp_path, PLAIN % ", priorityClassName: hihg")
    msg = e.value.render()
    assert "PriorityClass 'hihg' is not defined" in msg
    assert "did you mean 'high'?" in msg
    assert "spec.workloads[0].template.priorityClassName" in msg


def test_system_classes_exist_without_manifests(tmp_path: Path) -> None:
    w = one(tmp_path, PLAIN % ", priorityClassName: system-node-critical", classes="").spec.workloads[0]
    assert w.pod_priority == 2_000_001_000


def test_job_pod_template_priority_class(tmp_path: Path) -> None:
    sc = one(tmp_path, "  - {name: w, arrival: {at: [0s]}, job: job.yaml, duration: 1m}\n",
             job_text=job("kueue.x-k8s.io/queue-name: team", pcn="high"))
    w = sc.spec.workloads[0]
    assert (w.queue, w.priority, w.pod_priority) == ("team", 100000, 100000)


def test_workload_priority_class_label_wins_for_the_workload_only(tmp_path: Path) -> None:
    sc = one(tmp_path, "  - {name: w, arrival: {at: [0s]}, job: job.yaml, duration: 1m}\n",
             job_text=job("kueue.x-k8s.io/queue-name: team, kueue.x-k8s.io/priority-class: urgent", pcn="high"))
    w = sc.spec.workloads[0]
    assert (w.priority, w.pod_priority) == (777, 100000)


def test_unknown_workload_priority_class(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="WorkloadPriorityClass 'nope'"):
        one(tmp_path, "  - {name: w, arrival: {at: [0s]}, job: job.yaml, duration: 1m}\n",
            job_text=job("kueue.x-k8s.io/queue-name: team, kueue.x-k8s.io/priority-class: nope"))


def test_pod_sets_with_different_classes(tmp_path: Path) -> None:
    text = """\
  - name: w
    arrival: {at: [0s]}
    podSets:
    - {name: a, template: {requests: {cpu: "1"}, priorityClassName: high}}
    - {name: b, template: {requests: {cpu: "1"}, priorityClassName: low}}
    duration: 1m
"""
    with pytest.raises(InputError, match=r"different PriorityClasses \('high' and 'low'\)"):
        one(tmp_path, text)


def test_two_global_defaults(tmp_path: Path) -> None:
    classes = CLASSES.replace("value: 100000", "value: 100000\nglobalDefault: true")
    with pytest.raises(InputError, match="both set globalDefault"):
        one(tmp_path, PLAIN % "", classes=classes)


def test_priority_class_value_outside_int32(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="outside the int32 range"):
        one(tmp_path, PLAIN % "", classes=CLASSES.replace("value: 100000", "value: 3000000000"))


def test_resolution_is_idempotent(tmp_path: Path) -> None:
    sc = one(tmp_path, "  - {name: w, arrival: {at: [0s]}, job: job.yaml, duration: 1m}\n",
             job_text=job("kueue.x-k8s.io/queue-name: team, kueue.x-k8s.io/priority-class: urgent", pcn="high"))
    first = resolve_workloads(sc)
    assert resolve_workloads(sc) is first
    w = sc.spec.workloads[0]
    assert (w.queue, w.priority, w.pod_priority) == ("team", 777, 100000)
