"""The AI-operator example scenarios, pinned: pod counts, the controllers' pod names, roles (pod sets)
and gang boundaries (one Kueue Workload per object — per group for a LeaderWorkerSet), every gang
created at its admission and bound at one instant, and every invariant check passing."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pytest

from kubetwin.cmd_simulate import simulate_to
from models.timeline import Event, read_timeline
from validator.checks import FAILED, run_checks

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def _run(name: str, tmp_path: Path) -> list[Event]:
    simulate_to(SCENARIOS / f"{name}.yaml", tmp_path / name)
    tl = read_timeline(tmp_path / name / "timeline.jsonl")
    assert tl.problems == [] and tl.warnings == []
    failed = [(r.invariant.id, [f.message for f in r.findings[:2]]) for r in run_checks(tl.events)
              if r.status == FAILED]
    assert failed == []
    return tl.events


def _gangs(events: list[Event]) -> dict[str, list[Event]]:
    """Each Kueue Workload's PodCreated events, in order."""
    out: dict[str, list[Event]] = defaultdict(list)
    for e in events:
        if e.type == "PodCreated":
            assert e.group is not None, e.name
            out[e.group].append(e)
    return out


def _whole(events: list[Event]) -> None:
    """Independently of the validator: every admission of a Workload creates all its pods at that instant
    and they are all bound at one instant (or the Workload is evicted before any binds)."""
    expected = {e.group: e.data["pods"] for e in events if e.type == "WorkloadCreated"}
    attempt: dict[str, float] = {}
    created: dict[tuple[str, float], list[str]] = defaultdict(list)
    bound: dict[tuple[str, float], set[float]] = defaultdict(set)
    bound_n: dict[tuple[str, float], int] = defaultdict(int)
    for e in events:
        if e.type == "Admitted":
            assert e.group is not None
            attempt[e.group] = e.t
        elif e.type in ("PodCreated", "Scheduled") and e.group is not None:
            key = (e.group, attempt[e.group])
            if e.type == "PodCreated":
                assert e.t == key[1]
                created[key].append(e.name)
            else:
                bound[key].add(e.t)
                bound_n[key] += 1
    for key, names in created.items():
        assert len(names) == expected[key[0]], key
        assert bound_n[key] in (0, len(names)) and len(bound[key]) <= 1, (key, bound[key], bound_n[key])


def test_training_mix_kueue(tmp_path: Path) -> None:
    events = _run("training-mix-kueue", tmp_path)
    created = [e for e in events if e.type == "WorkloadCreated"]
    per_class = defaultdict(list)
    for e in created:
        per_class[e.data["workload"]].append(
            (e.data["minCount"], [(p["name"], p["count"]) for p in e.data["podSets"]], e.data["queue"]))
    assert dict(per_class) == {
        "pretrain": [(9, [("driver", 1), ("workers", 8)], "research")] * 3,
        "finetune": [(4, [("master", 1), ("worker", 3)], "product")] * 8,
        "eval": [(2, [("eval", 2)], "product")] * 12}
    gangs = _gangs(events)
    assert len(gangs) == 23 and sum(len(v) for v in gangs.values()) == 83
    assert [(e.name, e.data["podSet"]) for e in gangs["research/pretrain-1"]] == [
        ("pretrain-1-driver-0-0", "driver")] + [(f"pretrain-1-workers-{j}-{k}", "workers")
                                                for j in (0, 1) for k in range(4)]
    assert [(e.name, e.data["podSet"]) for e in gangs["product/finetune-3"]] == [
        ("finetune-3-master-0", "master")] + [(f"finetune-3-worker-{i}", "worker") for i in range(3)]
    assert [e.name for e in gangs["product/eval-11"]] == ["eval-11-eval-0-0", "eval-11-eval-0-1"]
    _whole(events)


def test_jobset_rayjob_cohort(tmp_path: Path) -> None:
    events = _run("jobset-rayjob-cohort", tmp_path)
    created = {e.name: e for e in events if e.type == "WorkloadCreated"}
    assert len(created) == 23
    assert [(p["name"], p["count"]) for p in created["pretrain-2"].data["podSets"]] == [
        ("coordinator", 1), ("workers", 6)]
    assert [(p["name"], p["count"]) for p in created["sweep-7"].data["podSets"]] == [
        ("head", 1), ("gpu-workers", 4), ("submitter", 1)]
    assert {e.data["clusterQueue"] for e in created.values() if e.data["workload"] == "sweep"} == {"sweeps"}
    gangs = _gangs(events)
    first = gangs["research/pretrain-0"][:7]
    assert [e.name for e in first] == ["pretrain-0-coordinator-0-0"] + [f"pretrain-0-workers-0-{k}" for k in range(6)]
    # KubeRay: the RayJob's cluster <rayjob>-<5>, its pods <cluster>-head-<5> and <cluster>-<group>-worker-<5>;
    # the submitter Job's pod <rayjob>-<5>
    sfx = "[bcdfghjklmnpqrstvwxz2456789]{5}"
    sweep = [(e.name, e.data["podSet"]) for e in gangs["research/sweep-0"]]
    cluster = sweep[0][0].rsplit("-head-", 1)[0]
    assert re.fullmatch(f"sweep-0-{sfx}", cluster)
    assert [s for _, s in sweep] == ["head"] + ["gpu-workers"] * 4 + ["submitter"]
    assert re.fullmatch(f"{cluster}-head-{sfx}", sweep[0][0])
    assert all(re.fullmatch(f"{cluster}-gpu-workers-worker-{sfx}", n) for n, _ in sweep[1:5])
    assert len({n for n, _ in sweep}) == 6 and re.fullmatch(f"sweep-0-{sfx}", sweep[5][0])
    # the pre-training job borrows the sweeps' quota and is evicted whole (7 pods at once) when they reclaim it
    borrowed = [e for e in events if e.type == "QuotaReserved" and e.data.get("borrowed")]
    assert "pretrain" in {e.name.rsplit("-", 1)[0] for e in borrowed}
    evicted = [e for e in events if e.type == "Evicted"]
    assert evicted and all(e.reason == "Preempted" and e.name.startswith("pretrain-") for e in evicted)
    for ev in evicted:
        deleted = [e for e in events if e.type == "PodDeleted" and e.group == ev.group and e.t == ev.t]
        assert len(deleted) == 7
    _whole(events)


def test_lws_inference_groups_are_gangs(tmp_path: Path) -> None:
    events = _run("lws-inference", tmp_path)
    created = [e for e in events if e.type == "WorkloadCreated"]
    assert [e.name for e in created[:5]] == ["llama-0-0", "llama-0-1", "llama-0-2", "deepseek-0-0", "deepseek-0-1"]
    assert len(created) == 5 + 24 and [e.name for e in created[5:7]] == ["canary-0-0", "canary-1-0"]
    assert [(p["name"], p["count"]) for p in created[0].data["podSets"]] == [("leader", 1), ("worker", 1)]
    assert [(p["name"], p["count"]) for p in created[3].data["podSets"]] == [("main", 4)]
    gangs = _gangs(events)
    assert sum(len(v) for v in gangs.values()) == 3 * 2 + 2 * 4 + 24 * 2
    assert [(e.name, e.data["podSet"]) for e in gangs["serving/llama-0-2"]] == [
        ("llama-0-2", "leader"), ("llama-0-2-1", "worker")]
    assert [e.name for e in gangs["serving/deepseek-0-1"]] == ["deepseek-0-1", *(f"deepseek-0-1-{w}" for w in "123")]
    # the canaries (16 GPUs) wait for quota until deepseek-r1 (64 GPUs) drains at 12h; groups are admitted
    # independently: the services' five groups at 0, each canary group on its own
    admitted = {e.name: e.t for e in events if e.type == "Admitted"}
    assert [admitted[n] for n in ("llama-0-0", "llama-0-1", "llama-0-2", "deepseek-0-0", "deepseek-0-1")] == [0.0] * 5
    assert min(t for n, t in admitted.items() if n.startswith("canary")) == pytest.approx(12 * 3600)
    _whole(events)
