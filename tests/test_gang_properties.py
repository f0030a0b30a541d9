"""Property tests: random clusters, random Kueue queue trees and random gang mixes under pressure.

Hypothesis draws 1-3 node pools (one ResourceFlavor each), 1-2 cohorts with 1-3 ClusterQueues (random
nominal quota, borrowingLimit, lendingLimit, queueing strategy and preemption policies) and a mix of
Kueue, coscheduling, KEP-4671 and plain workloads that asks for more GPUs than the cluster has. Every
simulated timeline must pass the capacity and lifecycle checks and G1-G9, and the same scenario and
seed must give the same bytes.

The runs are kept to 2 simulated hours: a starving coscheduling gang retries every 10 s.
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

GPU_TAINT = [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]
GPU_TOL = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
POOL_NAMES = ["h100", "a100", "l4"]
PRIORITIES = [0, 100, 1000]


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    npools = draw(st.integers(1, 3))
    pools, flavors = [], []
    total_gpus = 0
    for name in POOL_NAMES[:npools]:
        count = draw(st.integers(1, 3))
        gpus = draw(st.sampled_from([4, 8]))
        total_gpus += count * gpus
        pools.append({"name": name, "count": count, "labels": {"pool": name}, "taints": GPU_TAINT,
                      "allocatable": {"cpu": "64", "memory": "512Gi", "nvidia.com/gpu": str(gpus)}})
        flavors.append({"metadata": {"name": name},
                        "spec": {"nodeLabels": {"pool": name}, "tolerations": GPU_TOL}})
    ncohorts = draw(st.integers(1, 2))
    ncqs = draw(st.integers(1, 3))
    cqs, lqs = [], []
    for i in range(ncqs):
        fl = draw(st.lists(st.sampled_from(POOL_NAMES[:npools]), min_size=1, max_size=npools, unique=True))
        fq = []
        for f in fl:
            nominal = draw(st.integers(0, 16))
            gpu: dict[str, Any] = {"name": "nvidia.com/gpu", "nominalQuota": nominal}
            bl = draw(st.none() | st.integers(0, 16))
            if bl is not None:
                gpu["borrowingLimit"] = bl
            ll = draw(st.none() | st.integers(0, nominal))
            if ll is not None:
                gpu["lendingLimit"] = ll
            fq.append({"name": f, "resources": [{"name": "cpu", "nominalQuota": 256},
                                                {"name": "memory", "nominalQuota": "2048Gi"}, gpu]})
        spec: dict[str, Any] = {
            "cohort": f"cohort-{draw(st.integers(0, ncohorts - 1))}",
            "queueingStrategy": draw(st.sampled_from(["BestEffortFIFO", "StrictFIFO"])),
            "resourceGroups": [{"coveredResources": ["cpu", "memory", "nvidia.com/gpu"], "flavors": fq}],
            "preemption": {
                "withinClusterQueue": draw(st.sampled_from(["Never", "LowerPriority",
                                                            "LowerOrNewerEqualPriority"])),
                "reclaimWithinCohort": draw(st.sampled_from(["Never", "LowerPriority", "Any"]))},
        }
        cqs.append({"metadata": {"name": f"cq-{i}"}, "spec": spec})
        lqs.append({"metadata": {"name": f"lq-{i}", "namespace": "default"}, "spec": {"clusterQueue": f"cq-{i}"}})
    wfpr: dict[str, Any] = {"timeout": draw(st.sampled_from(["10m", "30m"])),
                            "blockAdmission": draw(st.booleans())}
    workloads = []
    demand = 0
    nw = draw(st.integers(2, 5))
    for i in range(nw):
        kind = draw(st.sampled_from(["kueue", "kueue-plain", "coscheduling", "workload-api", "plain"]))
        replicas = draw(st.integers(1, 4))
        gpus = draw(st.sampled_from([1, 2, 4, 8]))
        count = draw(st.integers(2, 6))
        demand += replicas * gpus * count
        w: dict[str, Any] = {
            "name": f"w{i}", "priority": draw(st.sampled_from(PRIORITIES)),
            "arrival": {"poisson": {"meanInterval": draw(st.sampled_from(["2m", "10m", "20m"]))}},
            "count": count, "replicas": replicas,
            "template": {"requests": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": str(gpus)}},
            "duration": {"exponential": {"mean": draw(st.sampled_from(["20m", "1h"]))}}}
        if kind.startswith("kueue"):
            w["queue"] = f"lq-{draw(st.integers(0, ncqs - 1))}"
            if kind == "kueue":
                w["gang"] = {"policy": "kueue"}
        else:
            w["template"]["tolerations"] = GPU_TOL
            if kind in ("coscheduling", "workload-api"):
                w["gang"] = {"policy": kind}
                if kind == "coscheduling" and draw(st.booleans()):
                    w["gang"]["timeout"] = draw(st.sampled_from(["30s", "90s"]))
        workloads.append(w)
    # pressure: always more demand than the cluster holds, with one big gang that overfills it
    workloads.append({"name": "pressure", "priority": 100, "arrival": {"every": "15m"}, "count": 3,
                      "replicas": max(2, total_gpus // 4 + 1), "queue": "lq-0", "gang": {"policy": "kueue"},
                      "template": {"requests": {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": "4"}},
                      "duration": "40m"})
    assert demand + 3 * 4 * max(2, total_gpus // 4 + 1) > total_gpus
    return {"apiVersion": "kubetwin.dev/v1alpha1", "kind": "Scenario", "metadata": {"name": "prop"},
            "spec": {"seed": draw(st.integers(0, 2**31 - 1)), "duration": "2h",
                     "cluster": {"nodePools": pools},
                     "kueue": {"resourceFlavors": flavors, "clusterQueues": cqs, "localQueues": lqs,
                               "waitForPodsReady": wfpr},
                     "workloads": workloads}}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_random_gang_mixes_pass_every_invariant(doc: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "prop.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        simulate_to(path, Path(d) / "a")
        simulate_to(path, Path(d) / "b")
        a = (Path(d) / "a" / "timeline.jsonl").read_bytes()
        assert a == (Path(d) / "b" / "timeline.jsonl").read_bytes()
        tl = read_timeline(Path(d) / "a" / "timeline.jsonl")
        assert tl.problems == []
        results = run_checks(tl.events)
        failed = [(r.invariant.id, [f.message for f in r.findings[:3]]) for r in results if r.status == FAILED]
        assert failed == []
        status = {r.invariant.id: r.status for r in results}
        assert status["lifecycle"] != FAILED
        assert status["G6"] == PASSED   # every scenario has Kueue workloads (at least "pressure")
        if any(e.type == "Scheduled" for e in tl.events):
            assert status["capacity"] == PASSED
            assert status["lifecycle"] == PASSED
        # Kueue pods exist only after their workload's admission
        admitted = {e.group for e in tl.events if e.type == "Admitted"}
        kueue_wls = {e.group for e in tl.events if e.type == "WorkloadCreated" and e.data["policy"] == "kueue"}
        created = {e.group for e in tl.events if e.type == "PodCreated" and e.group in kueue_wls}
        assert created <= admitted
