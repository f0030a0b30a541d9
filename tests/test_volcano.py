"""Volcano as a gang policy: sessions, statements, queue shares, capability, reclaim/preempt, input errors.

Every expectation is worked out by hand from Volcano's rules (sim/volcano/session.py, proportion.py):
sessions on the 1 s grid, a Volcano Job's pods created when its PodGroup is Inqueue and bound from the
next session, a statement committed only when the job is ready.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kubetwin.cmd_simulate import simulate_to
from models.errors import InputError
from models.scenario import load_scenario
from models.timeline import Event, read_timeline
from sim.build import build
from sim.volcano.proportion import QueueAttr, deserve
from validator.checks import FAILED, run_checks

GPU = "nvidia.com/gpu"


def scenario(workloads: list[dict[str, Any]], *, nodes: int = 4, gpus: int = 8, volcano: dict[str, Any] | None = None,
             duration: str = "3h") -> dict[str, Any]:
    spec: dict[str, Any] = {"duration": duration,
                            "cluster": {"nodePools": [{"name": "gpu", "count": nodes,
                                                       "allocatable": {"cpu": "64", "memory": "512Gi",
                                                                       GPU: str(gpus)}}]},
                            "workloads": workloads}
    if volcano is not None:
        spec["volcano"] = volcano
    return {"apiVersion": "kubetwin.dev/v1alpha1", "kind": "Scenario", "metadata": {"name": "v"}, "spec": spec}


def job(name: str, at: str, replicas: int, gpus: int = 8, *, hours: float = 1.0, **gang: Any) -> dict[str, Any]:
    return {"name": name, "arrival": {"at": [at]}, "replicas": replicas,
            "gang": {"policy": "volcano", **gang},
            "template": {"requests": {"cpu": "1", GPU: str(gpus)}},
            "duration": {"constant": {"value": f"{int(hours * 3600)}s"}}}


def run(tmp_path: Path, doc: dict[str, Any]) -> list[Event]:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    simulate_to(path, tmp_path / "out")
    tl = read_timeline(tmp_path / "out" / "timeline.jsonl")
    assert tl.problems == [] and tl.warnings == []
    failed = [(r.invariant.id, [f.message for f in r.findings[:2]]) for r in run_checks(tl.events)
              if r.status == FAILED]
    assert failed == []
    return tl.events


def binds(events: list[Event], prefix: str = "") -> list[tuple[float, str]]:
    return [(e.t, e.name) for e in events if e.type == "Scheduled" and e.name.startswith(prefix)]


# ---------------------------------------------------------------------------------------------- statements


def test_statement_discarded_on_three_free_nodes_then_committed_whole(tmp_path: Path) -> None:
    """4 × 8-GPU pods, minAvailable 4, one of 4 nodes held until 1 h: the session at 1 s enqueues the
    PodGroup (its pods are created then and join the next session); the one at 2 s places 3 pods
    tentatively and discards them (nothing bound); the hog ends at 3600 and that instant's session binds
    all 4 together."""
    hog = {"name": "hog", "arrival": {"at": ["0s"]}, "template": {"requests": {"cpu": "1", GPU: "8"}},
           "duration": {"constant": {"value": "1h"}}}
    events = run(tmp_path, scenario([hog, job("train", "0.5s", 4)], volcano={"overcommitFactor": 2.0}))
    assert binds(events, "train") == [(3600.0, f"train-0-{i}") for i in range(4)]
    phases = [(e.t, e.data["phase"]) for e in events if e.type == "PodGroupPhase"]
    assert phases == [(0.5, "Pending"), (1.0, "Inqueue"), (3600.0, "Running"), (7200.0, "Completed")]
    conds = [(e.t, e.data["type"], e.data["message"]) for e in events if e.type == "PodGroupCondition"]
    assert conds == [
        (2.0, "Unschedulable", "1/4 tasks in gang unschedulable: pod group is not ready, 4 Pending, 4 minAvailable; "
                               "Pending: 1 Unschedulable, 3 Schedulable. Origin reason is train-0-3: 0/4 nodes are "
                               "unavailable: 4 Insufficient nvidia.com/gpu."),
        (3600.0, "Scheduled", ""),
    ]


def test_statement_committed_at_a_session_instant(tmp_path: Path) -> None:
    """Arrival at 0.5 s: the session at 1 s enqueues (pods created), the one at 2 s binds all 4 at once."""
    events = run(tmp_path, scenario([job("train", "0.5s", 4)], volcano={"overcommitFactor": 2.0}))
    assert binds(events) == [(2.0, f"train-0-{i}") for i in range(4)]
    assert sorted({n for _, n in binds(events)}) == [f"train-0-{i}" for i in range(4)]
    assert len({e.node for e in events if e.type == "Scheduled"}) == 4


def test_overcommit_keeps_an_oversized_job_pending(tmp_path: Path) -> None:
    """32 GPUs of minResources on 24 GPUs × 1.2: the overcommit plugin never enqueues it; no pod exists."""
    events = run(tmp_path, scenario([job("big", "0s", 4)], nodes=3))
    assert [e.reason for e in events if e.type == "Pending"] == [
        "resource in cluster is overused: overused nvidia.com/gpu"]
    assert not [e for e in events if e.type == "PodCreated"]


def test_min_available_below_replicas_binds_the_quorum_then_the_rest(tmp_path: Path) -> None:
    """6 pods, minAvailable 4, 5 free nodes: the quorum of 4 is committed, then (the job ready) one more
    per allocate turn in the same session: 5 bound at t=1, the 6th when a node frees."""
    events = run(tmp_path, scenario([job("el", "0s", 6, minCount=4)], nodes=5, volcano={"overcommitFactor": 2.0}))
    got = binds(events)
    assert [t for t, _ in got] == [1.0] * 5 + [3601.0]


def test_min_task_member_blocks_a_job_short_of_one_role(tmp_path: Path) -> None:
    """minTaskMember {master: 1, worker: 3} with room for only 3 (a 4-node cluster with one node held):
    nothing is bound before the hog ends."""
    hog = {"name": "hog", "arrival": {"at": ["0s"]}, "template": {"requests": {"cpu": "1", GPU: "8"}},
           "duration": {"constant": {"value": "30m"}}}
    tmpl = {"requests": {"cpu": "1", GPU: "8"}}
    w = {"name": "mpi", "arrival": {"at": ["0s"]}, "gang": {"policy": "volcano", "minCount": 4,
                                                            "minTaskMember": {"master": 1, "worker": 3}},
         "podSets": [{"name": "master", "replicas": 1, "template": tmpl},
                     {"name": "worker", "replicas": 3, "template": tmpl}],
         "duration": {"constant": {"value": "1h"}}}
    events = run(tmp_path, scenario([hog, w], volcano={"overcommitFactor": 2.0}))
    assert {t for t, _ in binds(events, "mpi")} == {1800.0}
    created = [e for e in events if e.type == "WorkloadCreated"]
    assert created[0].data["minTaskMember"] == {"master": 1, "worker": 3}


# ---------------------------------------------------------------------------------------------- proportion


def test_deserved_shares_by_weight_hand_calculated() -> None:
    """8 GPUs, weights 1:3, both asking for 8: round one gives 8·1/4 = 2 and 8·3/4 = 6, nothing remains."""
    a = QueueAttr("a", 1, None, {}, request={GPU: 8000, "cpu": 8000})
    b = QueueAttr("b", 3, None, {}, request={GPU: 8000, "cpu": 8000})
    deserve([a, b], {GPU: 8000, "cpu": 64000})
    assert (a.deserved[GPU], b.deserved[GPU]) == (2000, 6000)
    assert (a.deserved["cpu"], b.deserved["cpu"]) == (8000, 8000)  # capped at the request


def test_capability_caps_deserved_and_the_rest_flows_back() -> None:
    """b capped at 4 GPUs: round 1 a 2, b min(6, 4) = 4; round 2 (2 left) a +0.5, b stays (met);
    round 3 a +1.5 = 4."""
    a = QueueAttr("a", 1, None, {}, request={GPU: 8000})
    b = QueueAttr("b", 3, {GPU: 4000}, {}, request={GPU: 8000})
    deserve([a, b], {GPU: 8000})
    assert (a.deserved[GPU], b.deserved[GPU]) == (4000, 4000)


def test_guarantee_raises_deserved() -> None:
    a = QueueAttr("a", 1, None, {GPU: 5000}, request={GPU: 8000})
    b = QueueAttr("b", 3, None, {}, request={GPU: 8000})
    deserve([a, b], {GPU: 8000})
    assert a.deserved[GPU] == 5000


QUEUES = [{"metadata": {"name": "a"}, "spec": {"weight": 1}},
          {"metadata": {"name": "b"}, "spec": {"weight": 3}}]


def test_queue_shares_in_a_run(tmp_path: Path) -> None:
    """8 one-GPU nodes, 8 one-GPU jobs in each of queues a (weight 1) and b (weight 3), all at t=0: the
    session at 0 enqueues them, the one at 1 s binds a's 2 and b's 6 (deserved 2/6), the rest wait."""
    ws = [{**job(f"{q}{i}", "0s", 1, gpus=1, queue=q)} for q in "ab" for i in range(8)]
    events = run(tmp_path, scenario(ws, nodes=8, gpus=1, volcano={"queues": QUEUES, "overcommitFactor": 3.0}))
    first = [n for t, n in binds(events) if t == 1.0]
    assert (sum(n.startswith("a") for n in first), sum(n.startswith("b") for n in first)) == (2, 6)


def test_capability_caps_a_queue_in_a_run(tmp_path: Path) -> None:
    """Queue a may hold 3 GPUs: with 8 idle GPUs, only 3 of its 1-GPU jobs are enqueued (their pods bound
    at 1 s); the other 3 are enqueued when those finish (3601 s) and bound a session later."""
    queues = [{"metadata": {"name": "a"}, "spec": {"weight": 1, "capability": {GPU: 3}}}]
    ws = [job(f"a{i}", "0s", 1, gpus=1, queue="a") for i in range(6)]
    events = run(tmp_path, scenario(ws, nodes=8, gpus=1, volcano={"queues": queues}))
    assert [t for t, _ in binds(events)] == [1.0] * 3 + [3602.0] * 3


# ---------------------------------------------------------------------------------------------- reclaim, preempt


def reclaim_mix(min_a: int) -> dict[str, Any]:
    queues = [{"metadata": {"name": "a"}, "spec": {"weight": 1}}, {"metadata": {"name": "b"}, "spec": {"weight": 1}}]
    ws = [job("big", "0s", 8, gpus=1, hours=2, queue="a", minCount=min_a),
          job("late", "10s", 4, gpus=1, queue="b")]
    return scenario(ws, nodes=8, gpus=1, volcano={"queues": queues, "overcommitFactor": 2.0,
                                                  "actions": "enqueue, allocate, reclaim, backfill"})


def test_reclaim_takes_only_above_min_available(tmp_path: Path) -> None:
    """a's job holds all 8 GPUs (minAvailable 4); b's 4-pod job arrives: deserved 4/4, reclaim evicts
    exactly 4 of a's pods (a keeps its minAvailable): b is enqueued at 10 s (its pods created then), the
    session at 11 s evicts, the one at 12 s binds b whole."""
    events = run(tmp_path, reclaim_mix(4))
    evicted = [(e.t, e.reason) for e in events if e.type == "PodDeleted"]
    assert evicted == [(11.0, "Pod is evicted, because of reclaim")] * 4
    assert binds(events, "late") == [(12.0, f"late-0-{i}") for i in range(4)]


def test_reclaim_never_below_min_available(tmp_path: Path) -> None:
    """With minAvailable 8 the big job has nothing to give: no eviction, b waits for it to finish (bound
    at 1 s for 2 h: 7201 s)."""
    events = run(tmp_path, reclaim_mix(8))
    assert not [e for e in events if e.type == "PodDeleted"]
    assert {t for t, _ in binds(events, "late")} == {7201.0}


def test_preempt_within_a_queue_by_priority(tmp_path: Path) -> None:
    """One queue: a low-priority elastic job (8 pods, minAvailable 2) fills 8 GPUs; a high-priority
    3-pod job (enqueued at 5 s) preempts 3 of its pods at 6 s (never more than the 6 above its
    minAvailable) and binds at 7 s."""
    low = {**job("low", "0s", 8, gpus=1, hours=2, minCount=2), "priority": 1}
    high = {**job("high", "5s", 3, gpus=1), "priority": 100}
    events = run(tmp_path, scenario([low, high], nodes=8, gpus=1,
                                    volcano={"overcommitFactor": 2.0, "actions": "enqueue, allocate, preempt"}))
    assert [e.reason for e in events if e.type == "PodDeleted"] == ["Pod is evicted, because of preempt"] * 3
    assert binds(events, "high") == [(7.0, f"high-0-{i}") for i in range(3)]


# ---------------------------------------------------------------------------------------------- operators, objects


def test_real_pod_group_and_queue_objects(tmp_path: Path) -> None:
    manifest = tmp_path / "volcano.yaml"
    manifest.write_text("""
apiVersion: scheduling.volcano.sh/v1beta1
kind: Queue
metadata: {name: research}
spec: {weight: 2, reclaimable: false, capability: {nvidia.com/gpu: 16}, affinity: {}}
---
apiVersion: scheduling.volcano.sh/v1beta1
kind: PodGroup
metadata: {name: pg, namespace: default}
spec: {minMember: 2, queue: research, minResources: {nvidia.com/gpu: 16}, colour: blue}
""", encoding="utf-8")
    doc = scenario([job("t", "0s", 3, podGroup="pg")])
    doc["spec"]["manifests"] = ["volcano.yaml"]
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    bp = build(load_scenario(path))
    assert bp.volcano is not None
    t = bp.volcano.jobs["default/t"]
    assert (t.min_member, t.queue, t.min_resources) == (2, "research", {GPU: 16000})
    q = bp.volcano.section.queues["research"]
    assert (q.weight, q.reclaimable, q.capability) == (2, False, {GPU: 16000})
    assert any("spec.affinity: recorded but not simulated" in w for w in bp.warnings)
    assert any("(PodGroup default/pg): spec.colour: not modelled by kubetwin; ignored" in w for w in bp.warnings)


def test_volcano_job_manifest_goes_to_volcano(tmp_path: Path) -> None:
    (tmp_path / "vcjob.yaml").write_text("""
apiVersion: batch.volcano.sh/v1alpha1
kind: Job
metadata: {name: mpi}
spec:
  minAvailable: 3
  schedulerName: volcano
  queue: default
  tasks:
  - name: master
    replicas: 1
    template: {spec: {containers: [{name: m, resources: {requests: {cpu: "1", nvidia.com/gpu: "8"}}}]}}
  - name: worker
    replicas: 2
    template: {spec: {containers: [{name: w, resources: {requests: {cpu: "1", nvidia.com/gpu: "8"}}}]}}
""", encoding="utf-8")
    doc = scenario([{"name": "mpi", "arrival": {"at": ["0s"]}, "job": "vcjob.yaml",
                     "duration": {"constant": {"value": "1h"}}}])
    doc["spec"]["manifests"] = ["vcjob.yaml"]
    events = run(tmp_path, doc)
    created = [e for e in events if e.type == "WorkloadCreated"]
    assert [(e.kind, e.data["policy"], e.data["minCount"], e.data.get("minTaskMember")) for e in created] == [
        ("PodGroup", "volcano", 3, {"master": 1, "worker": 2})]
    # the Volcano Job controller creates the pods once the PodGroup is Inqueue (session at 0), bound at 1 s
    assert [(e.t, e.name) for e in events if e.type == "PodCreated"] == [
        (0.0, "mpi-0-master-0"), (0.0, "mpi-0-worker-0"), (0.0, "mpi-0-worker-1")]
    assert binds(events) == [(1.0, "mpi-0-master-0"), (1.0, "mpi-0-worker-0"), (1.0, "mpi-0-worker-1")]
    assert [e.data["phase"] for e in events if e.type == "PodGroupPhase"] == ["Pending", "Inqueue", "Running",
                                                                             "Completed"]


@pytest.mark.parametrize(("gang", "field", "needle"), [
    ({"queue": "nope"}, "spec.workloads[0].gang.queue", "Queue 'nope' is not defined"),
    ({"podGroup": "missing"}, "spec.workloads[0].gang.podGroup", "PodGroup default/missing is not defined"),
    ({"timeout": "30s"}, "spec.workloads[0].gang.timeout", "no timeout"),
    ({"minTaskMember": {"ps": 1}}, "spec.workloads[0].gang.minTaskMember", "not a pod set"),
])
def test_bad_volcano_input_names_the_field(tmp_path: Path, gang: dict[str, Any], field: str, needle: str) -> None:
    doc = scenario([job("t", "0s", 2, **gang)])
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    with pytest.raises(InputError) as e:
        build(load_scenario(path))
    assert e.value.field == field
    assert needle in e.value.message and e.value.fix


@pytest.mark.parametrize(("volcano", "field"), [
    ({"queues": [{"kind": "Queue", "metadata": {"name": "q"}, "spec": {"weight": 0}}]}, "spec.weight"),
    ({"schedulePeriod": "0s"}, "spec.volcano.schedulePeriod"),
    ({"actions": "enqueue, dance"}, "spec.volcano.actions"),
    ({"overcommitFactor": 0.5}, "spec.volcano.overcommitFactor"),
])
def test_bad_volcano_section(tmp_path: Path, volcano: dict[str, Any], field: str) -> None:
    doc = scenario([job("t", "0s", 2)], volcano=volcano)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    with pytest.raises(InputError) as e:
        build(load_scenario(path))
    assert e.value.field == field and e.value.fix


def test_operator_with_a_volcano_pod_group_goes_to_volcano(tmp_path: Path) -> None:
    """The Kubeflow PyTorchJob fixture (schedulerName volcano, schedulingPolicy.minAvailable 3) with no
    ``gang:``: Volcano's, minMember 3 of its 4 pods; the operator creates the pods at arrival, so the
    session at 0 enqueues and allocates at once. Only 3 GPUs: the quorum of 3 binds at 0, the 4th waits."""
    src = Path(__file__).parent / "fixtures" / "operators" / "pytorchjob.yaml"
    (tmp_path / "pytorchjob.yaml").write_text(src.read_text(encoding="utf-8"), encoding="utf-8")
    doc = scenario([{"name": "pt", "namespace": "kubeflow", "arrival": {"at": ["0s"]}, "job": "pytorchjob.yaml",
                     "duration": {"constant": {"value": "1h"}}}], nodes=3, gpus=1, volcano={"overcommitFactor": 2.0})
    doc["spec"]["manifests"] = ["pytorchjob.yaml"]
    events = run(tmp_path, doc)
    created = [e for e in events if e.type == "WorkloadCreated"]
    assert [(e.kind, e.data["policy"], e.data["minCount"], e.data["pods"]) for e in created] == [
        ("PodGroup", "volcano", 3, 4)]
    got = binds(events)
    assert [t for t, _ in got] == [0.0, 0.0, 0.0, 3600.0]


def test_a_failed_node_leaves_the_job_unknown_then_pending(tmp_path: Path) -> None:
    """A node of a running 2-pod gang (minAvailable 2) fails at 10 min: one pod fails (not replaced), the
    gang has 1 running < 2 and cannot be made whole (no pod pending) — upstream's phase for running tasks in
    an unschedulable gang is Unknown; nothing else is bound for it."""
    doc = scenario([job("g", "0s", 2)], nodes=2, volcano={"overcommitFactor": 2.0})
    doc["spec"]["actions"] = [{"at": "10m", "failNode": {"node": "gpu-0"}}]
    events = run(tmp_path, doc)
    assert [t for t, _ in binds(events)] == [1.0, 1.0]
    phases = [(e.t, e.data["phase"]) for e in events if e.type == "PodGroupPhase"]
    # ... and when the survivor succeeds, failed + succeeded reach minMember, all completed: Completed
    assert phases == [(0.0, "Pending"), (0.0, "Inqueue"), (1.0, "Running"), (600.0, "Unknown"), (3601.0, "Completed")]
    assert [e.data["message"] for e in events if e.type == "PodGroupCondition" and e.t == 600.0] == [
        "1/2 tasks in gang unschedulable: pod group is not ready, 1 Failed, 1 Running, 2 minAvailable"]
