"""What the engine takes from a replayed recording: named nodes with their own lifetimes, recorded pod
and workload names, and control-plane latencies (spec.latencies) — each pinned on exact event times."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from test_engine import pool, scenario, simulate, wl

CPU4 = {"cpu": "4", "memory": "8Gi"}


def test_named_nodes_arrive_and_leave_when_told(tmp_path: Path) -> None:
    p = pool("cpu", CPU4, count=2)
    p["nodes"] = [{"name": "node-a", "readyAt": "0s"}, {"name": "node-b", "readyAt": "10m", "removedAt": "30m"}]
    sc = scenario([p], [wl("big", {"cpu": "3"}, at=["0s", "0s"], duration="1h")])
    r = simulate(tmp_path, sc)
    ready = [(e.name, e.t) for e in r.of("NodeReady")]
    assert ready == [("node-a", 0.0), ("node-b", 600.0)]
    assert [(e.name, e.t, e.data) for e in r.of("NodeRemoved")] == [("node-b", 1800.0, {"pool": "cpu"})]
    # big-0 runs on node-a at once; big-1 waits for node-b, then fails with it at 30m and is replaced
    assert (r.node_of("big-0"), r.scheduled_at("big-0")) == ("node-a", 0.0)
    assert (r.node_of("big-1"), r.scheduled_at("big-1")) == ("node-b", 600.0)
    failed = r.one("PodFailed", "big-1")
    assert (failed.t, failed.node, failed.reason) == (1800.0, "node-b", "NodeRemoved")
    assert r.of("PodCreated", "big-1-p1")[0].t == 1800.0


def test_recorded_names_are_kept(tmp_path: Path) -> None:
    single = wl("x", {"cpu": "1"})
    single["names"] = {"pods": ["web-7f9c-abcde"]}
    gang = wl("train", {"cpu": "1"}, replicas=2)
    gang["gang"] = {"policy": "coscheduling"}
    gang["names"] = {"instance": "pg-train", "pods": ["train-worker-0", "train-worker-1"]}
    r = simulate(tmp_path, scenario([pool("cpu", CPU4)], [single, gang]))
    assert {e.name for e in r.of("Scheduled")} == {"web-7f9c-abcde", "train-worker-0", "train-worker-1"}
    created = r.one("WorkloadCreated")
    assert (created.kind, created.name, created.group) == ("PodGroup", "pg-train", "default/pg-train")


def latencies(**kw: Any) -> dict[str, Any]:
    return {"latencies": {k: {"constant": {"value": v}} for k, v in kw.items()}}


def test_pod_startup_latency_delays_running_and_completion(tmp_path: Path) -> None:
    sc = scenario([pool("cpu", CPU4)], [wl("p", {"cpu": "1"}, duration="10m")], **latencies(podStartup="45s"))
    r = simulate(tmp_path, sc)
    assert r.scheduled_at("p-0") == 0.0
    assert r.one("PodRunning", "p-0").t == 45.0
    assert r.one("PodSucceeded", "p-0").t == 645.0


def test_scheduler_queue_latency_delays_the_first_attempt(tmp_path: Path) -> None:
    sc = scenario([pool("cpu", CPU4)], [wl("p", {"cpu": "1"}, at=["5s"], duration="10m")],
                  **latencies(schedulerQueue="2s"))
    r = simulate(tmp_path, sc)
    assert r.one("PodCreated", "p-0").t == 5.0
    assert r.scheduled_at("p-0") == 7.0
