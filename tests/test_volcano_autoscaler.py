"""Volcano and the cluster autoscaler: Volcano's per-pod ``PodScheduled=False`` condition (a
``FailedScheduling`` event, published as ``pod_unschedulable``) makes the autoscaler scale up for a
Volcano gang, all of the gang's missing nodes at once; and a Volcano Job's delayed pod creation leaves it
nothing to act on while the PodGroup cannot be enqueued."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from kubetwin.cmd_simulate import simulate_to
from models.timeline import Event, read_timeline
from validator.checks import run_checks

GANG_MSG = ("4/4 tasks in gang unschedulable: pod group is not ready, 4 Pending, 4 minAvailable; "
            "Pending: 4 Unschedulable")


def _scenario(delay: bool | None) -> dict[str, Any]:
    gang: dict[str, Any] = {"policy": "volcano", "minCount": 4}
    if delay is not None:
        gang["delayPodCreation"] = delay
    return {"apiVersion": "kubetwin.dev/v1alpha1", "kind": "Scenario", "metadata": {"name": "volcano-ca"},
            "spec": {"seed": 1, "duration": "2h",
                     "cluster": {"nodePools": [{
                         "name": "h100", "count": 1, "autoscaling": {"minCount": 1, "maxCount": 5},
                         "provisioningDelay": "3m",
                         "allocatable": {"cpu": "96", "memory": "1000Gi", "nvidia.com/gpu": "8"}}]},
                     "workloads": [
                         {"name": "train", "arrival": {"at": ["5s"]}, "replicas": 4, "gang": gang,
                          "template": {"requests": {"cpu": "32", "nvidia.com/gpu": "8"}}, "duration": "30m"},
                         # keeps the run going past the scale-down window (and lands on h100-0 first)
                         {"name": "keeper", "arrival": {"at": ["0s"]}, "template": {"requests": {"cpu": "1"}},
                          "duration": "2h"}]}}


def _run(tmp_path: Path, doc: dict[str, Any]) -> list[Event]:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    simulate_to(path, tmp_path / "out")
    tl = read_timeline(tmp_path / "out" / "timeline.jsonl")
    assert not tl.problems
    return tl.events


def test_pending_volcano_gang_scales_up_atomically_and_binds_in_one_session(tmp_path: Path) -> None:
    evs = _run(tmp_path, _scenario(delay=False))
    # t=5: the PodGroup cannot be enqueued (32 GPUs > 8 × overcommit 1.2); its pods, which exist from
    # submission, get PodScheduled=False/Unschedulable with the gang plugin's job message — once each
    fails = [(e.t, e.name, e.reason, e.data["conditionReason"]) for e in evs if e.type == "FailedScheduling"]
    assert fails == [(5.0, f"train-0-{i}", GANG_MSG, "Unschedulable") for i in range(4)]
    # t=10, the first loop tick after: train-0-0 fits the existing node alone (filter-out-schedulable);
    # the other three need one node each — all three nodes in one scale-up
    ups = [(e.t, e.name, e.data["from"], e.data["to"]) for e in evs if e.type == "TriggeredScaleUp"]
    assert ups == [(10.0, f"train-0-{i}", 1, 4) for i in (1, 2, 3)]
    prov = [(e.t, e.name) for e in evs if e.type == "NodeProvisioning"]
    assert prov == [(10.0, "h100-1"), (10.0, "h100-2"), (10.0, "h100-3")]
    ready = [(e.t, e.name) for e in evs if e.type == "NodeReady"]
    assert ready == [(0.0, "h100-0"), (190.0, "h100-1"), (190.0, "h100-2"), (190.0, "h100-3")]
    # the nodes are Ready at 190 (10 + 3m): the session at 190 enqueues and binds the whole gang
    binds = [(e.t, e.name, e.node) for e in evs if e.type == "Scheduled" and e.name.startswith("train")]
    assert binds == [(190.0, "train-0-0", "h100-1"), (190.0, "train-0-1", "h100-2"),
                     (190.0, "train-0-2", "h100-3"), (190.0, "train-0-3", "h100-0")]
    phases = [(e.t, e.data["phase"]) for e in evs if e.type == "PodGroupPhase"]
    assert phases == [(5.0, "Pending"), (190.0, "Inqueue"), (190.0, "Running"), (1990.0, "Completed")]
    # the gang finishes at 1990; 600 s unneeded → scale-down at the loop tick 2590
    downs = [(e.t, e.name) for e in evs if e.type == "ScaleDown"]
    assert downs == [(2590.0, "h100-0"), (2590.0, "h100-1"), (2590.0, "h100-2")]
    results = {r.invariant.id: r for r in run_checks(evs)}
    for cid in ("CA1", "CA2", "CA3", "CA4", "CA5", "G10", "G8-volcano", "capacity", "lifecycle"):
        assert results[cid].status == "passed", (cid, results[cid].findings[:3])


def test_a_volcano_job_whose_podgroup_cannot_be_enqueued_gives_the_autoscaler_nothing(tmp_path: Path) -> None:
    """Delayed pod creation (the default for a pod-set workload, as for a Volcano Job): no pods while the
    PodGroup is Pending, so no unschedulable pod and no scale-up — as in a real cluster."""
    for delay in (None, True):
        d = tmp_path / str(delay)
        d.mkdir()
        evs = _run(d, _scenario(delay=delay))
        assert not [e for e in evs if e.type in ("FailedScheduling", "TriggeredScaleUp", "NodeProvisioning")]
        assert not [e for e in evs if e.type == "PodCreated" and e.name.startswith("train")]


def test_a_task_volcano_could_place_counts_with_its_gang(tmp_path: Path) -> None:
    """Two Ready nodes, one holding a 1-GPU pod; a Volcano Job of 2 × 8 GPUs is enqueued (16 ≤ 16 × 1.2 − 1).
    The session places train-0-0 on h100-1 tentatively, finds no room for train-0-1 and discards: train-0-0
    is ``Schedulable``, train-0-1 ``Unschedulable`` with its fit error. The autoscaler takes the gang as a
    unit — train-0-0 fits h100-1, train-0-1 needs one new node — instead of finding train-0-1 a place on
    h100-1 and adding nothing."""
    doc = _scenario(delay=None)
    doc["spec"]["duration"] = "1h"
    pool = doc["spec"]["cluster"]["nodePools"][0]
    pool["count"], pool["autoscaling"] = 2, {"minCount": 2, "maxCount": 3}
    train, keeper = doc["spec"]["workloads"]
    train["replicas"], train["gang"] = 2, {"policy": "volcano"}
    keeper["template"]["requests"]["nvidia.com/gpu"], keeper["duration"] = "1", "1h"
    evs = _run(tmp_path, doc)
    fails = [(e.t, e.name, e.reason, e.data["conditionReason"]) for e in evs if e.type == "FailedScheduling"]
    assert fails == [(6.0, "train-0-0", "Pod default/train-0-0 can possibly be assigned to h100-1", "Schedulable"),
                     (6.0, "train-0-1", "0/2 nodes are unavailable: 2 Insufficient nvidia.com/gpu.", "Unschedulable")]
    ups = [(e.t, e.name, e.data["from"], e.data["to"]) for e in evs if e.type == "TriggeredScaleUp"]
    assert ups == [(10.0, "train-0-1", 2, 3)]
    binds = [(e.t, e.name, e.node) for e in evs if e.type == "Scheduled" and e.name.startswith("train")]
    assert binds == [(190.0, "train-0-0", "h100-1"), (190.0, "train-0-1", "h100-2")]
    results = {r.invariant.id: r.status for r in run_checks(evs)}
    assert all(results[c] == "passed" for c in ("CA1", "CA2", "CA3", "CA4", "CA5", "G10")), results
