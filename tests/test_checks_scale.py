"""The checks on a large synthetic timeline (``bench.checks``): every invariant passes, with exact counts.

Speed is not asserted here (it was, as ``tests/test_checks_perf.py``); ``python -m bench.checks``
measures it.
"""

from __future__ import annotations

from bench.checks import GANG_SIZE, NODES, measure, synthetic_timeline
from validator.checks import FAILED, PASSED, run_checks


def test_synthetic_timeline_is_valid_and_exactly_sized() -> None:
    events = synthetic_timeline(60)
    assert len(events) == 1 + NODES + 60 * (1 + 4 * GANG_SIZE) == 2981
    results = {r.invariant.id: r.status for r in run_checks(events)}
    assert FAILED not in results.values()
    assert results["capacity"] == PASSED and results["lifecycle"] == PASSED and results["G1"] == PASSED


def test_an_overcommitted_node_is_caught_at_scale() -> None:
    events = synthetic_timeline(130)  # gang 125 wraps onto n0..n7 while gang 0 is done: still valid
    assert not [r for r in run_checks(events) if r.status == FAILED]
    pod = next(e for e in events if e.type == "PodCreated" and e.name == "g129-0")
    pod.data["requests"] = {"cpu": "97"}  # more than the node's 96 CPUs
    failed = [r for r in run_checks(events) if r.status == FAILED]
    assert [r.invariant.id for r in failed] == ["capacity", "G4"]  # G4: capacity including gang pods


def test_measure_reports_counts() -> None:
    result = measure(5)
    assert (result["gangs"], result["events"], result["failed"]) == (5, 1 + NODES + 5 * 33, [])
