"""The Volcano examples: volcano-training.yaml and the training mix under Volcano next to Kueue."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubetwin.cmd_simulate import simulate_to
from models.timeline import Event, read_timeline
from validator.checks import FAILED, PASSED, run_checks

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def simulate(name: str, out: Path) -> tuple[dict[str, object], list[Event]]:
    summary = simulate_to(SCENARIOS / name, out)
    tl = read_timeline(out / "timeline.jsonl")
    assert tl.problems == [] and tl.warnings == []
    results = run_checks(tl.events)
    assert [r.invariant.id for r in results if r.status == FAILED] == []
    status = {r.invariant.id: r.status for r in results}
    assert (status["G10"], status["G8-volcano"]) == (PASSED, PASSED)
    return summary, tl.events


def test_volcano_training(tmp_path: Path) -> None:
    _, events = simulate("volcano-training.yaml", tmp_path)
    created = {e.group: e.data for e in events if e.type == "WorkloadCreated"}
    assert {g: (d["policy"], d["queue"], d["minCount"]) for g, d in created.items() if g.endswith("-0")} == {
        "research/hpo-0": ("volcano", "batch", 2), "research/sweep-0": ("volcano", "batch", 2),
        "research/mpi-train-0": ("volcano", "research", 5)}
    assert created["research/mpi-train-0"]["minTaskMember"] == {"master": 1, "worker": 4}
    # every gang's first binds reach its minMember in one whole-second session
    first: dict[str, list[Event]] = {}
    for e in events:
        if e.type == "Scheduled" and e.group in created and (e.group not in first or first[e.group][0].t == e.t):
            first.setdefault(e.group, []).append(e)
    assert first
    for group, evs in first.items():
        assert len(evs) >= created[group]["minCount"] and evs[0].t == int(evs[0].t), group
    # research's mpi-train reclaims from batch's elastic hpo job (4 of 6 pods bound, minAvailable 2): only
    # the 2 above its minAvailable, when that (with what notebooks left) fits the whole job; it binds next
    evicted = [(e.t, e.name) for e in events if e.type == "PodDeleted"]
    assert evicted == [(5095.0, "hpo-0-0"), (5095.0, "hpo-0-1")]
    assert {e.t for e in events if e.type == "Scheduled" and e.group == "research/mpi-train-0"} == {5096.0}
    phases: dict[str, list[str]] = {}
    for e in events:
        if e.type == "PodGroupPhase":
            phases.setdefault(e.group or "", []).append(e.data["phase"])
    assert phases["research/mpi-train-0"] == ["Pending", "Inqueue", "Running", "Completed"]


def test_training_mix_under_volcano_and_kueue(tmp_path: Path) -> None:
    if not (SCENARIOS / "training-mix-kueue.yaml").exists():
        pytest.skip("scenarios/training-mix-kueue.yaml (the Kueue variant) is not there")
    volcano, events = simulate("training-mix-volcano.yaml", tmp_path / "v")
    kueue = simulate_to(SCENARIOS / "training-mix-kueue.yaml", tmp_path / "k")
    # the same objects, the same pods, all of them done under both gang policies
    assert volcano["pods"]["total"] == kueue["pods"]["total"] == 83  # type: ignore[index]
    assert volcano["pods"]["pendingAtEnd"] == kueue["pods"]["pendingAtEnd"] == 0  # type: ignore[index]
    policies = {e.data["policy"] for e in events if e.type == "WorkloadCreated"}
    assert policies == {"volcano"}
    assert len([e for e in events if e.type == "WorkloadCreated"]) == 3 + 8 + 12
