"""AI operators' objects in the engine: a LeaderWorkerSet is one gang per group.

An LWS with ``replicas: N`` is N groups (leader ``<lws>-<g>`` + workers ``<lws>-<g>-<w>``); Kueue's LWS
integration admits each group as its own Workload, coscheduling sees one PodGroup per group. Pinned on a
small scenario with hand-computed quota: only the groups that fit are admitted, and each lands whole.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import yaml

from kubetwin.cmd_simulate import simulate_to
from models.errors import InputError
from models.timeline import Event, read_timeline
from validator.checks import FAILED, run_checks

LWS = {
    "apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet",
    "metadata": {"name": "vllm", "namespace": "serving"},
    "spec": {"replicas": 3, "leaderWorkerTemplate": {
        "size": 4,
        "leaderTemplate": {"metadata": {"labels": {"role": "leader"}}, "spec": {"containers": [
            {"name": "leader", "image": "vllm/vllm-openai:latest",
             "resources": {"requests": {"cpu": "4", "memory": "16Gi"}, "limits": {"nvidia.com/gpu": "2"}}}]}},
        "workerTemplate": {"spec": {"containers": [
            {"name": "worker", "image": "vllm/vllm-openai:latest",
             "resources": {"requests": {"cpu": "4", "memory": "16Gi"}, "limits": {"nvidia.com/gpu": "2"}}}]}}}},
}
POOL = {"name": "gpu", "count": 4, "allocatable": {"cpu": "64", "memory": "512Gi", "nvidia.com/gpu": "8"}}


def _kueue(gpus: int) -> dict[str, Any]:
    return {"resourceFlavors": [{"metadata": {"name": "default"}}],
            "clusterQueues": [{"metadata": {"name": "serving"}, "spec": {"resourceGroups": [{
                "coveredResources": ["cpu", "memory", "nvidia.com/gpu"],
                "flavors": [{"name": "default", "resources": [
                    {"name": "cpu", "nominalQuota": 1000}, {"name": "memory", "nominalQuota": "10000Gi"},
                    {"name": "nvidia.com/gpu", "nominalQuota": gpus}]}]}]}}],
            "localQueues": [{"metadata": {"name": "inference", "namespace": "serving"},
                             "spec": {"clusterQueue": "serving"}}]}


def _run(tmp_path: Path, workload: dict[str, Any], *, kueue: dict[str, Any] | None = None,
         lws: dict[str, Any] | None = None) -> list[Event]:
    (tmp_path / "lws.yaml").write_text(yaml.safe_dump(lws or LWS, sort_keys=False), encoding="utf-8")
    spec: dict[str, Any] = {"seed": 3, "duration": "3h", "cluster": {"nodePools": [POOL]},
                            "workloads": [{"name": "serve", "namespace": "serving", "job": "lws.yaml", "count": 1,
                                           "arrival": {"at": ["0s"]}, "duration": "1h", **workload}]}
    if kueue is not None:
        spec["kueue"] = kueue
    doc = {"apiVersion": "kubetwin.dev/v1alpha1", "kind": "Scenario", "metadata": {"name": "lws"}, "spec": spec}
    (tmp_path / "sc.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    simulate_to(tmp_path / "sc.yaml", tmp_path / "out")
    tl = read_timeline(tmp_path / "out" / "timeline.jsonl")
    assert tl.problems == []
    failed = [(r.invariant.id, [f.message for f in r.findings[:3]]) for r in run_checks(tl.events)
              if r.status == FAILED]
    assert failed == []
    return tl.events


def _of(events: list[Event], type_: str) -> list[Event]:
    return [e for e in events if e.type == type_]


def test_lws_groups_are_separate_kueue_workloads_admitted_independently(tmp_path: Path) -> None:
    # 3 groups x 4 pods x 2 GPUs = 8 GPUs per group; quota 16 GPUs = exactly 2 groups
    ev = _run(tmp_path, {"queue": "inference", "duration": "10h"}, kueue=_kueue(16))
    groups = ["serve-0-0", "serve-0-1", "serve-0-2"]
    created = _of(ev, "WorkloadCreated")
    assert [(e.name, e.group) for e in created] == [(g, f"serving/{g}") for g in groups]
    assert [(e.data["pods"], e.data["minCount"], [(p["name"], p["count"]) for p in e.data["podSets"]])
            for e in created] == [(4, 4, [("leader", 1), ("worker", 3)])] * 3
    assert [e.name for e in _of(ev, "Admitted")] == ["serve-0-0", "serve-0-1"]
    binds = _of(ev, "Scheduled")
    assert len(binds) == 8
    assert sorted(e.name for e in binds) == sorted(
        [g for g in groups[:2]] + [f"{g}-{w}" for g in groups[:2] for w in (1, 2, 3)])
    # each group lands whole at one instant; the third never gets a pod
    for g in groups[:2]:
        assert {e.t for e in binds if e.group == f"serving/{g}"} == {0.0}
    assert not [e for e in _of(ev, "PodCreated") if e.group == "serving/serve-0-2"]
    assert {e.data["podSet"] for e in _of(ev, "PodCreated") if e.name.count("-") == 2} == {"leader"}
    assert [e.name for e in _of(ev, "Pending")][:1] == ["serve-0-2"]


def test_lws_groups_are_separate_podgroups_under_coscheduling(tmp_path: Path) -> None:
    # 4 nodes x 8 GPUs hold all 3 groups; each group is its own PodGroup of minMember 4
    ev = _run(tmp_path, {"gang": {"policy": "coscheduling"}})
    created = _of(ev, "WorkloadCreated")
    assert [(e.kind, e.name, e.data["minCount"], e.data["pods"]) for e in created] == [
        ("PodGroup", f"serve-0-{g}", 4, 4) for g in range(3)]
    binds = _of(ev, "Scheduled")
    assert len(binds) == 12
    assert [e.name for e in _of(ev, "PodCreated")][:4] == ["serve-0-0", "serve-0-0-1", "serve-0-0-2",
                                                             "serve-0-0-3"]
    assert [e.name for e in _of(ev, "WorkloadFinished")] == [f"serve-0-{g}" for g in range(3)]


def test_lws_gang_min_count_above_group_size_is_an_input_error(tmp_path: Path) -> None:
    import pytest

    with pytest.raises(InputError, match="one LeaderWorkerSet group") as e:
        _run(tmp_path, {"gang": {"policy": "coscheduling", "minCount": 5}})
    assert e.value.field == "spec.workloads[0].gang.minCount"


def test_lws_group_generators_carry_the_controllers_names_and_labels(tmp_path: Path) -> None:
    from models.operators import instance
    from models.scenario import load_scenario
    from sim.build import build

    _run(tmp_path, {"queue": "inference"}, kueue=_kueue(24))
    bp = build(load_scenario(tmp_path / "sc.yaml"))
    [g] = bp.generators
    assert [(s.instance_name(0), s.total_pods, [(p.name, p.replicas) for p in s.pod_sets]) for s in g.groups] == [
        (f"serve-0-{k}", 4, [("leader", 1), ("worker", 3)]) for k in range(3)]
    names = g.groups[1].pod_names("serve-0-1", "serving")
    assert names is not None and list(names) == ["serve-0-1", "serve-0-1-1", "serve-0-1-2", "serve-0-1-3"]
    # the labels the LWS controller gives those pods (the engine names pods from this expansion)
    op = instance(g.operator, "serve-0", "serving")
    pod = next(p for p in op.pods if p.name == "serve-0-1-2")
    assert {k: v for k, v in pod.labels.items() if k.startswith("leaderworkerset")} == {
        "leaderworkerset.sigs.k8s.io/name": "serve-0", "leaderworkerset.sigs.k8s.io/group-index": "1",
        "leaderworkerset.sigs.k8s.io/worker-index": "2",
        "leaderworkerset.sigs.k8s.io/group-key": hashlib.sha1(b"serving/serve-0-1").hexdigest()}
    assert (pod.role, pod.annotations["leaderworkerset.sigs.k8s.io/leader-name"]) == ("worker", "serve-0-1")
