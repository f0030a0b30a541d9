"""Replay of a recording end to end: the fake API server → ``kubetwin record`` → ``kubetwin replay``."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fakeapi import FakeAPI
from rich.console import Console

ROOT = Path(__file__).resolve().parent.parent


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _node(name: str, gpus: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "creationTimestamp": _now(),
                         "labels": {"cloud.google.com/gke-nodepool": "gpu", "kubernetes.io/hostname": name}},
            "spec": {"taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]},
            "status": {"allocatable": {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": gpus, "pods": "110"},
                       "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": _now()}]}}


def _pod(name: str, cpu: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ml", "creationTimestamp": _now()},
            "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": cpu, "nvidia.com/gpu": "1"}}}],
                     "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                     "priority": 10},
            "status": {"phase": "Pending"}}


def _bind(node: str) -> Any:
    def fn(o: dict[str, Any]) -> None:
        o["spec"]["nodeName"] = node
        o["status"]["conditions"] = [{"type": "PodScheduled", "status": "True", "lastTransitionTime": _now()}]
    return fn


def _phase(phase: str) -> Any:
    def fn(o: dict[str, Any]) -> None:
        o["status"]["phase"] = phase
        state = ({"running": {"startedAt": _now()}} if phase == "Running" else
                 {"terminated": {"exitCode": 0, "finishedAt": _now()}})
        o["status"]["containerStatuses"] = [{"name": "c", "state": state}]
    return fn


async def _records(path: Path, n: int, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        if path.exists() and path.read_bytes().count(b"\n") >= n:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{path} did not reach {n} records")


async def test_a_fake_api_server_recording_replays(tmp_path: Path) -> None:
    try:
        from validator.normalize import normalize_file  # noqa: F401
    except ImportError:
        pytest.skip("the recording normalizer is not importable")
    api = FakeAPI(max_watch_seconds=0.5)
    await api.start()
    try:
        api.create("nodes", _node("gpu-a", "2"))
        api.create("nodes", _node("gpu-b", "2"))
        api.create("pods", _pod("old", "2"))
        api.update("pods", "old", _bind("gpu-a"), namespace="ml")
        api.update("pods", "old", _phase("Running"), namespace="ml")
        cfg = tmp_path / "kubeconfig"
        cfg.write_text(f"""apiVersion: v1
kind: Config
clusters: [{{name: fake, cluster: {{server: {api.url}}}}}]
users: [{{name: me, user: {{token: t}}}}]
contexts: [{{name: fake-ctx, context: {{cluster: fake, user: me}}}}]
current-context: fake-ctx
""")
        out = tmp_path / "rec"
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "kubetwin.cmd_record", "-o", str(out), "--kubeconfig", str(cfg),
            "--duration", "4s", cwd=ROOT, stderr=asyncio.subprocess.PIPE)
        await _records(out / "raw.jsonl", 8)
        await asyncio.sleep(0.3)
        api.create("pods", _pod("new", "4"))
        await asyncio.sleep(1.1)
        api.update("pods", "new", _bind("gpu-b"), namespace="ml")
        await asyncio.sleep(1.1)
        api.update("pods", "new", _phase("Running"), namespace="ml")
        await asyncio.sleep(0.3)
        api.update("pods", "new", _phase("Succeeded"), namespace="ml")
        _, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
    finally:
        await api.stop()

    from kubetwin.cmd_replay import replay_to

    timeline = out / "timeline.jsonl"
    cmp = replay_to(timeline, tmp_path / "replay", console=Console(file=open(os.devnull, "w")))  # noqa: SIM115
    scenario_text = (tmp_path / "replay" / "scenario.yaml").read_text()
    from models.duration import parse_duration
    from models.scenario import load_scenario

    sc = load_scenario(tmp_path / "replay" / "scenario.yaml")
    pools = sc.spec.cluster.nodePools
    assert [(p.name, p.count) for p in pools] == [("gpu", 2)], scenario_text
    assert pools[0].nodes is not None and [n.name for n in pools[0].nodes] == ["gpu-a", "gpu-b"]
    assert pools[0].allocatable["nvidia.com/gpu"] == "2" and pools[0].taints[0].key == "nvidia.com/gpu"
    ws = {w.name: w for w in sc.spec.workloads}
    assert set(ws) == {"old", "new"}
    new = ws["new"]
    assert new.template is not None and new.template.requests == {"cpu": "4", "nvidia.com/gpu": "1"}
    assert new.priority == 10 and new.template.tolerations[0].key == "nvidia.com/gpu"
    # server timestamps have one-second resolution, so exact times depend on where the second ticks:
    # "new" ran for its recorded run time, at most the run; "old" was running before the recording
    # started and is still running at the end, so it runs for the whole replay
    run = parse_duration(sc.spec.duration)
    assert ws["old"].arrival.at == ["0s"] and new.arrival.at is not None
    assert new.duration.constant is not None and 0 <= parse_duration(new.duration.constant.value) < run
    assert ws["old"].duration.constant is not None and ws["old"].duration.constant.value == sc.spec.duration
    # both pods replayed and aligned; "old" was running before the recording: it keeps running
    assert cmp["pods"]["matched"] == 2 and cmp["pods"]["onlyInA"] == 0 and cmp["pods"]["onlyInB"] == 0
    assert cmp["placement"]["sameNodeShare"] is not None
    fitted = json.loads((tmp_path / "replay" / "replay.json").read_text())["fittedLatencies"]
    # the kubelet's start of "new" (bound, then Running a second later) was observed; "old"'s is unknown
    assert fitted["podStartup"]["count"] == 1 and fitted["podStartup"]["max"] >= 0
