"""Property: random Volcano job mixes on random clusters keep every gang whole and every invariant.

Hypothesis draws 1-2 GPU pools, 1-3 Volcano Queues (weights, some with a capability, some not
reclaimable), the session's actions (with or without preempt and reclaim), Volcano jobs (replicas,
minAvailable ≤ replicas, sometimes two pod sets with a minTaskMember, priorities) and plain pods for the
default scheduler, asking for more GPUs than the cluster has. Every timeline must pass every check
(capacity, lifecycle, G1-G10, G8-volcano), each Volcano job's first binds must reach its minAvailable in
one instant on the session grid, and the same scenario must give the same bytes.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubetwin.cmd_simulate import simulate_to
from models.timeline import read_timeline
from validator.checks import FAILED, PASSED, run_checks

GPU = "nvidia.com/gpu"


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    pools = []
    for name in ["a", "b"][: draw(st.integers(1, 2))]:
        pools.append({"name": name, "count": draw(st.integers(1, 4)), "labels": {"pool": name},
                      "allocatable": {"cpu": "32", "memory": "256Gi", GPU: str(draw(st.sampled_from([2, 4, 8])))}})
    queues = []
    for i in range(draw(st.integers(1, 3))):
        spec: dict[str, Any] = {"weight": draw(st.integers(1, 4))}
        if draw(st.booleans()):
            spec["capability"] = {GPU: draw(st.integers(2, 16))}
        if draw(st.integers(0, 3)) == 0:
            spec["reclaimable"] = False
        queues.append({"metadata": {"name": f"q{i}"}, "spec": spec})
    extra = draw(st.lists(st.sampled_from(["preempt", "reclaim"]), unique=True))
    actions = ["enqueue", "allocate", *extra, "backfill"]
    workloads: list[dict[str, Any]] = []
    for i in range(draw(st.integers(2, 5))):
        gpus = draw(st.sampled_from([1, 2, 4]))
        tmpl = {"requests": {"cpu": "2", GPU: str(gpus)}}
        if draw(st.booleans()):
            tmpl["nodeSelector"] = {"pool": "a"}
        w: dict[str, Any] = {
            "name": f"v{i}", "priority": draw(st.sampled_from([0, 10, 100])),
            "arrival": {"poisson": {"meanInterval": draw(st.sampled_from(["1m", "5m"]))}},
            "count": draw(st.integers(1, 4)),
            "duration": {"exponential": {"mean": draw(st.sampled_from(["10m", "30m"]))}},
            "gang": {"policy": "volcano", "queue": f"q{draw(st.integers(0, len(queues) - 1))}"}}
        if draw(st.booleans()):
            masters = 1
            workers = draw(st.integers(1, 4))
            w["podSets"] = [{"name": "master", "replicas": masters, "template": tmpl},
                            {"name": "worker", "replicas": workers, "template": tmpl}]
            w["gang"]["minTaskMember"] = {"master": 1, "worker": draw(st.integers(1, workers))}
            total = masters + workers
        else:
            total = draw(st.integers(1, 6))
            w["replicas"] = total
            w["template"] = tmpl
        w["gang"]["minCount"] = draw(st.integers(1, total))
        workloads.append(w)
    if draw(st.booleans()):
        workloads.append({"name": "plain", "priority": draw(st.sampled_from([0, 1000])),
                          "arrival": {"poisson": {"meanInterval": "3m"}}, "count": draw(st.integers(1, 10)),
                          "template": {"requests": {"cpu": "1", GPU: "1"}},
                          "duration": {"exponential": {"mean": "20m"}}})
    return {"apiVersion": "kubetwin.dev/v1alpha1", "kind": "Scenario", "metadata": {"name": "vprop"},
            "spec": {"seed": draw(st.integers(0, 2**31 - 1)), "duration": "90m",
                     "cluster": {"nodePools": pools},
                     "volcano": {"queues": queues, "actions": ", ".join(actions),
                                 "overcommitFactor": draw(st.sampled_from([1.2, 2.0, 10.0]))},
                     "workloads": workloads}}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_random_volcano_mixes_keep_gangs_whole(doc: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "s.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        simulate_to(path, Path(d) / "a")
        simulate_to(path, Path(d) / "b")
        a = (Path(d) / "a" / "timeline.jsonl").read_bytes()
        assert a == (Path(d) / "b" / "timeline.jsonl").read_bytes()
        tl = read_timeline(Path(d) / "a" / "timeline.jsonl")
        assert tl.problems == [] and tl.warnings == []
        results = run_checks(tl.events)
        failed = [(r.invariant.id, [f.message for f in r.findings[:3]]) for r in results if r.status == FAILED]
        assert failed == []
        status = {r.invariant.id: r.status for r in results}
        assert status["G10"] == PASSED and status["G8-volcano"] == PASSED
        if any(e.type == "Scheduled" for e in tl.events):
            assert status["capacity"] == PASSED
        # independently of G10: each job's first binds reach minCount in one instant, on the 1 s grid
        min_count = {e.group: e.data["minCount"] for e in tl.events if e.type == "WorkloadCreated"
                     and e.data["policy"] == "volcano"}
        first: dict[str, tuple[float, int]] = {}
        for e in tl.events:
            if e.type == "Scheduled" and e.group in min_count:
                t, n = first.get(e.group, (e.t, 0))
                if t == e.t:
                    first[e.group] = (t, n + 1)
        for group, (t, n) in first.items():
            assert n >= min_count[group], group
            assert t == round(t), (group, t)
