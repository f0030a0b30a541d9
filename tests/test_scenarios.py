"""Every example in ``scenarios/`` loads, runs quickly, is deterministic and passes every invariant check."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from kubetwin.cmd_simulate import simulate_to
from models.scenario import load_scenario
from models.timeline import read_timeline
from validator.checks import FAILED, run_checks

SCENARIOS = sorted((Path(__file__).resolve().parent.parent / "scenarios").glob("*.yaml"))
REQUIRED_SUMMARY = {
    "pods": ["total", "scheduled", "pendingAtEnd"],
    "waitSeconds": ["p50", "p95", "p99"],
    "gpu": ["allocationRatio"],
    "nodes": ["peak"],
    "cost": ["total"],
    "sim": ["events", "wallSeconds"],
}

#: where each workload of the curated examples may run (workload → allowed node pools)
PLACEMENT = {
    "quickstart": {"finetune": {"h100"}, "notebooks": {"h100"}, "etl": {"cpu"}},
    "mixed-gpu-cpu": {"notebooks": {"l4-g2"}, "batch-inference": {"l4-g2", "a100-a2"},
                      "finetune": {"a100-a2"}, "etl": {"cpu-n2"}, "cpu-notebooks": {"cpu-n2"}},
    "hetero-fleet": {"pretrain": {"h100"}, "finetune": {"h100", "a100-80"}, "eval": {"h100", "a100-80"},
                     "batch-inference": {"a100-40", "l4"}, "tokenize": {"cpu-n2"}},
}


def test_the_examples_are_there() -> None:
    assert {p.stem for p in SCENARIOS} >= {"quickstart", "mixed-gpu-cpu", "hetero-fleet"}


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_runs_and_passes_every_check(path: Path, tmp_path: Path) -> None:
    sc = load_scenario(path)
    assert sc.metadata.name == path.stem
    summary = simulate_to(path, tmp_path / "out")
    assert summary == json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    for section, keys in REQUIRED_SUMMARY.items():
        for k in keys:
            assert k in summary[section], f"{section}.{k}"
    tl = read_timeline(tmp_path / "out" / "timeline.jsonl")
    assert tl.problems == []
    assert tl.warnings == []
    assert len(tl.events) == summary["sim"]["events"]
    assert summary["pods"]["total"] > 50
    assert summary["pods"]["scheduled"] > 0
    results = run_checks(tl.events)
    failed = [(r.invariant.id, [f.message for f in r.findings[:3]]) for r in results if r.status == FAILED]
    assert failed == []
    assert next(r for r in results if r.invariant.id == "capacity").status == "passed"
    assert next(r for r in results if r.invariant.id == "lifecycle").status == "passed"


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_is_deterministic(path: Path, tmp_path: Path) -> None:
    simulate_to(path, tmp_path / "a")
    simulate_to(path, tmp_path / "b")
    a, b = (tmp_path / d / "timeline.jsonl" for d in ("a", "b"))
    assert a.read_bytes() == b.read_bytes()


EXPLAINED = [p for p in SCENARIOS if p.stem != "quickstart"]   # quickstart predates the convention


def comment_block(path: Path) -> list[str]:
    head = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        head.append(line)
    return head


@pytest.mark.parametrize("path", EXPLAINED, ids=[p.stem for p in EXPLAINED])
def test_scenario_file_starts_with_a_comment_block(path: Path) -> None:
    assert len(comment_block(path)) >= 5, "start with a comment block: what it models, what to look at"


@pytest.mark.parametrize("name", ["mixed-gpu-cpu", "hetero-fleet"])
def test_example_explains_what_it_models_and_what_to_look_at(name: str) -> None:
    block = "\n".join(comment_block(next(p for p in SCENARIOS if p.stem == name))).lower()
    assert "what it models" in block
    assert "what to look at in summary.json" in block
    for key in ("gpu.allocationratio", "waitseconds.p95", "pods.pendingatend", "cost.total"):
        assert key in block


@pytest.mark.parametrize("name", sorted(PLACEMENT))
def test_workloads_land_only_on_their_pools(name: str, tmp_path: Path) -> None:
    path = next(p for p in SCENARIOS if p.stem == name)
    simulate_to(path, tmp_path / "out")
    evs = read_timeline(tmp_path / "out" / "timeline.jsonl").events
    pool_of = {e.name: e.data["pool"] for e in evs if e.type == "NodeReady"}
    workload_of = {e.key: e.data["workload"] for e in evs if e.type == "PodCreated"}
    seen: dict[str, set[str]] = defaultdict(set)
    for e in evs:
        if e.type == "Scheduled":
            assert e.node is not None
            seen[workload_of[e.key]].add(pool_of[e.node])
    allowed = PLACEMENT[name]
    assert set(seen) == set(allowed)                       # every workload got at least one pod placed
    for wl, pools in seen.items():
        assert pools <= allowed[wl], (wl, pools)


def test_mixed_gpu_cpu_gang_binds_whole(tmp_path: Path) -> None:
    path = next(p for p in SCENARIOS if p.stem == "mixed-gpu-cpu")
    simulate_to(path, tmp_path / "out")
    evs = read_timeline(tmp_path / "out" / "timeline.jsonl").events
    binds: dict[str, list[float]] = defaultdict(list)
    for e in evs:
        if e.type == "Scheduled" and e.group:
            binds[e.group].append(e.t)
    assert binds, "the finetune gang should bind at least once"
    for group, ts in binds.items():
        assert len(ts) == 2 and ts[0] == ts[1], (group, ts)
