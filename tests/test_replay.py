"""``validator.replay``, ``validator.latency_fit`` and ``kubetwin replay``: the scenario a timeline
implies, fitted latencies, and replay(simulate(S)) comparing clean."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.scenario import load_scenario, parse_scenario_text
from models.timeline import read_timeline
from tests.timeline_builder import TL
from validator.latency_fit import fit_distribution, go_duration, latency_samples
from validator.replay import aliases_from_scenario, derive_scenario, dns_label, scenario_yaml

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))


def test_go_duration_and_dns_label() -> None:
    assert go_duration(0) == "0s" and go_duration(90.0) == "90s" and go_duration(1444.2060751) == "1444.206075s"
    assert go_duration(0.5) == "0.5s" and go_duration(-1) == "0s"
    assert dns_label("Train_Job.7") == "train-job-7" and dns_label("---") == "x" and len(dns_label("a" * 99)) == 63


def recording() -> TL:
    tl = TL(source="live", duration=1000.0, waitForPodsReady={"enabled": True, "timeoutSeconds": 600,
                                                              "backoffBaseSeconds": 60, "backoffMaxSeconds": 3600,
                                                              "blockAdmission": False})
    tl.node("n1", cpu="8", memory="32Gi", labels={"kubernetes.io/hostname": "n1", "rack": "r1"})
    tl.node("n2", cpu="8", memory="32Gi", labels={"kubernetes.io/hostname": "n2", "rack": "r1"})
    tl.node("big", t=50, pool="gpu", cpu="64", nvidia__com_gpu="8")
    tl.node_removed("n2", 900)
    tl.cluster_queue("cq", quotas={"gpu": {"nvidia.com/gpu": "8"}}).local_queue("team/lq", "cq")
    # a plain pod that ran 100 s; one still running at the end; one preempted and replaced
    tl.pod("a/p1", 10, cpu="2").bind("a/p1", "n1", 12).running("a/p1", 15, "n1").succeeded("a/p1", 115)
    tl.pod("a/p2", 20, cpu="1").bind("a/p2", "n2", 20).running("a/p2", 21, "n2")
    tl.pod("a/v", 30, cpu="1").bind("a/v", "n1", 30).running("a/v", 31, "n1").preempted("a/v", 40)
    tl.pod("a/v-p1", 40, cpu="1").bind("a/v-p1", "n1", 41).running("a/v-p1", 42, "n1").succeeded("a/v-p1", 242)
    # a Kueue workload of 2 pods
    tl.kueue_workload("team/k", 60, pods=2, queue="lq", cq="cq")
    tl.admitted("team/k", 61)
    for i in range(2):
        tl.pod(f"team/k-{i}", 63, group="team/k", nvidia__com_gpu="4")
        tl.bind(f"team/k-{i}", "big", 64, group="team/k").running(f"team/k-{i}", 66, "big", group="team/k")
        tl.succeeded(f"team/k-{i}", 366, group="team/k")
    return tl


def test_derive_scenario_from_a_recording() -> None:
    r = derive_scenario(recording().events)
    sc = r.scenario
    spec = sc["spec"]
    assert sc["metadata"] == {"name": "recording-replay"} and spec["duration"] == "1000s" and spec["seed"] == 0
    pools = spec["cluster"]["nodePools"]
    assert [(p["name"], p["count"]) for p in pools] == [("pool", 2), ("gpu", 1)]
    assert pools[0]["labels"] == {"rack": "r1"}            # the per-node hostname label is dropped
    assert pools[0]["nodes"] == [{"name": "n1", "readyAt": "0s"}, {"name": "n2", "readyAt": "0s",
                                                                     "removedAt": "900s"}]
    assert pools[1]["nodes"] == [{"name": "big", "readyAt": "50s"}]
    assert pools[1]["allocatable"] == {"cpu": "64", "nvidia.com/gpu": "8"}
    ws = {w["name"]: w for w in spec["workloads"]}
    assert list(ws) == ["p1", "p2", "v", "k"]              # by creation time; the replacement v-p1 is not an arrival
    assert ws["p1"] == {"name": "p1", "namespace": "a", "arrival": {"at": ["10s"]}, "priority": 0,
                        "template": {"requests": {"cpu": "2"}}, "duration": "100s", "names": {"pods": ["p1"]}}
    assert ws["p2"]["duration"] == "1000s"                 # still running at the end: runs to the end
    assert ws["v"]["duration"] == "200s"                   # the replacement's run time
    k = ws["k"]
    assert k["queue"] == "lq" and k["replicas"] == 2 and k["arrival"] == {"at": ["60s"]}
    assert k["template"] == {"requests": {"nvidia.com/gpu": "4"}} and k["duration"] == "300s"
    assert k["names"] == {"instance": "k", "pods": ["k-0", "k-1"]} and "gang" not in k
    kq = spec["kueue"]
    assert kq["resourceFlavors"] == [{"metadata": {"name": "gpu"}}]
    assert kq["localQueues"] == [{"metadata": {"name": "lq", "namespace": "team"}, "spec": {"clusterQueue": "cq"}}]
    assert kq["waitForPodsReady"] == {"enable": True, "timeout": "600s", "blockAdmission": False,
                                      "requeuingStrategy": {"backoffBaseSeconds": 60, "backoffMaxSeconds": 3600}}
    # the fitted latencies: Scheduled -> PodRunning 3,1,1,1,2,2 s; Admitted -> PodCreated 2,2 s
    assert r.fitted["podStartup"]["count"] == 6 and r.fitted["podStartup"]["p50"] == 1.5
    assert r.fitted["jobPodCreation"]["distribution"] == {"constant": {"value": "2s"}}
    assert spec["latencies"]["jobPodCreation"] == {"constant": {"value": "2s"}}
    # it loads as a scenario
    text = scenario_yaml(r, "rec.jsonl")
    assert text.startswith("# Derived by 'kubetwin replay' from rec.jsonl.")
    loaded = parse_scenario_text(text, "replay.yaml")
    assert loaded.spec.cluster.nodePools[0].nodes is not None and loaded.spec.latencies is not None
    al = aliases_from_scenario(sc)
    assert al.pods["team/k"] == ["team/k-0", "team/k-1"] and al.groups == {"team/k-0": "team/k"}
    assert al.nodes == {"pool-0": "n1", "pool-1": "n2", "gpu-0": "big"}


def test_gang_pod_sets_and_coscheduling_policy() -> None:
    tl = TL()
    tl.node("n1", cpu="64")
    tl.workload("ml/train", 5, policy="coscheduling", min_count=3, pods=3, timeout=90,
                podSets=[{"name": "launcher", "count": 1, "requests": {"cpu": "1"}},
                         {"name": "worker", "count": 2, "minCount": 2, "requests": {"cpu": "8"}}])
    tl.pod("ml/train-launcher-0", 5, group="ml/train", pod_set="launcher", cpu="1")
    tl.pod("ml/train-worker-0", 5, group="ml/train", pod_set="worker", cpu="8")
    tl.pod("ml/train-worker-1", 5, group="ml/train", pod_set="worker", cpu="8")
    w = derive_scenario(tl.events).scenario["spec"]["workloads"][0]
    assert w["gang"] == {"policy": "coscheduling", "minCount": 3, "timeout": "90s"}
    assert [(s["name"], s["replicas"], s.get("minCount"), s["template"]["requests"]) for s in w["podSets"]] == [
        ("launcher", 1, None, {"cpu": "1"}), ("worker", 2, 2, {"cpu": "8"})]
    assert w["names"]["pods"] == ["train-launcher-0", "train-worker-0", "train-worker-1"]
    assert w["duration"] == "0s" or w["duration"].endswith("s")
    parse_scenario_text(scenario_yaml(derive_scenario(tl.events), "x"), "x.yaml")


# ------------------------------------------------------------------------------------------ latencies

def test_latency_samples_leave_out_untimed_events() -> None:
    tl = TL()
    tl.pod("a/p", 0).failed("a/p", 2).bind("a/p", "n", 5).running("a/p", 9, "n")
    tl.emit(0, "PodCreated", "Pod", "old", "a", data={"preexisting": True, "requests": {}})
    tl.emit(0, "Scheduled", "Pod", "old", "a", node="n", data={"preexisting": True})
    tl.emit(7, "PodRunning", "Pod", "old", "a", node="n")
    assert latency_samples(tl.events) == {"schedulerQueue": [2.0], "podStartup": [4.0], "jobPodCreation": []}


def test_fit_distribution_by_hand() -> None:
    assert fit_distribution([])["distribution"] is None
    z = fit_distribution([0.0, 0.0, 0.0])
    assert z["kind"] == "zero" and z["distribution"] is None
    c = fit_distribution([2.0, 4.0, 3.0])                    # fewer than 5 samples: the median, constant
    assert c["distribution"] == {"constant": {"value": "3s"}} and c["p50"] == 3.0
    # KS of the constant 3 against {2, 3, 4}: the ECDF is 1/3 just below 3 (F = 0) and 2/3 at 3 (F = 1)
    assert c["ks"] == pytest.approx(1 / 3, abs=1e-6)
    assert fit_distribution([2.0, 2.0])["ks"] == 0.0
    # lognormal quantiles: the lognormal fit recovers median e^1 and sigma 0.5 closely and wins
    qs = np.linspace(0.005, 0.995, 200)
    z_scores = np.array([math.sqrt(2) * _erfinv(2 * q - 1) for q in qs])
    ln = fit_distribution(list(np.exp(1.0 + 0.5 * z_scores)))
    assert ln["kind"] == "lognormal"
    assert float(ln["distribution"]["lognormal"]["median"][:-1]) == pytest.approx(math.e, rel=1e-3)
    assert ln["distribution"]["lognormal"]["sigma"] == pytest.approx(0.5, rel=0.05)
    ex = fit_distribution(list(-10.0 * np.log(1 - qs)))      # exponential quantiles, mean ~10 s
    assert ex["kind"] == "exponential" and ex["ks"] < 0.05
    # two far-apart clusters fit no parametric form: an empirical distribution of quantiles
    bi = fit_distribution([1.0] * 30 + [100.0] * 30)
    assert bi["kind"] == "empirical" and len(bi["distribution"]["empirical"]["values"]) == 60


def _erfinv(y: float) -> float:
    lo, hi = -6.0, 6.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if math.erf(mid) < y:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


# ------------------------------------------------------------------------------------------ end to end

@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from kubetwin.cmd_simulate import simulate_to

    out = {}
    for s in SCENARIOS:
        d = tmp_path_factory.mktemp(s.stem)
        simulate_to(s, d)
        out[s.stem] = d / "timeline.jsonl"
    return out


@pytest.mark.parametrize("scenario", [s.stem for s in SCENARIOS])
def test_derived_scenarios_of_bundled_timelines_load(scenario: str, simulated: dict[str, Path],
                                                     tmp_path: Path) -> None:
    r = derive_scenario(read_timeline(simulated[scenario]).events)
    p = tmp_path / "scenario.yaml"
    p.write_text(scenario_yaml(r, str(simulated[scenario])), encoding="utf-8")
    sc = load_scenario(p)
    assert sc.spec.workloads and sc.spec.cluster.nodePools


@pytest.mark.parametrize("scenario", [s.stem for s in SCENARIOS])
def test_replay_of_a_simulation_compares_clean(scenario: str, simulated: dict[str, Path], tmp_path: Path) -> None:
    from rich.console import Console

    from kubetwin.cmd_replay import replay_to

    src = ROOT / "scenarios" / f"{scenario}.yaml"
    cmp = replay_to(simulated[scenario], tmp_path, scheduler_from=src, max_wait_p95_diff=0.0,
                    min_same_node=1.0, console=Console(file=open(os.devnull, "w")))  # noqa: SIM115
    assert cmp["identical"] is True, json.dumps({k: cmp[k] for k in ("pods", "schedulingDelay", "placement",
                                                                     "gangs")}, indent=1)[:3000]
    assert cmp["withinThresholds"] is True
    for f in ("scenario.yaml", "timeline.jsonl", "summary.json", "compare.json", "replay.json"):
        assert (tmp_path / f).is_file()


def _random_scenario(seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    pools = [{"name": f"p{i}", "count": int(rng.integers(1, 4)),
              "allocatable": {"cpu": str(int(rng.choice([8, 16, 32]))), "memory": "64Gi"}}
             for i in range(int(rng.integers(1, 3)))]
    workloads: list[dict[str, Any]] = []
    for i in range(int(rng.integers(1, 4))):
        w: dict[str, Any] = {"name": f"w{i}", "namespace": "ns", "count": int(rng.integers(3, 20)),
                             "arrival": {"poisson": {"meanInterval": f"{int(rng.integers(1, 20))}m"}},
                             "priority": int(rng.choice([0, 0, 100])),
                             "replicas": int(rng.integers(1, 3)),
                             "template": {"requests": {"cpu": str(int(rng.integers(1, 9)))}},
                             "duration": {"exponential": {"mean": f"{int(rng.integers(5, 90))}m"}}}
        if rng.random() < 0.3:
            w["replicas"] = 2
            w["gang"] = {"policy": "coscheduling"}
        workloads.append(w)
    return {"apiVersion": "kubetwin.dev/v1alpha1", "kind": "Scenario", "metadata": {"name": f"rand-{seed}"},
            "spec": {"seed": seed, "duration": "6h", "cluster": {"nodePools": pools},
                     "scheduler": {"scoring": str(rng.choice(["LeastAllocated", "MostAllocated"]))},
                     "workloads": workloads}}


@settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=2**31 - 1))
def test_property_replay_of_random_scenarios_compares_clean(seed: int) -> None:
    """replay(simulate(S)) compares clean for random scenarios: contention, preemption, gangs, pods
    pending or running at the end (the scenario is a function of the drawn seed, so a failure reproduces)."""
    from rich.console import Console

    from kubetwin.cmd_replay import replay_to
    from kubetwin.cmd_simulate import simulate_to

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        src = d / "s.yaml"
        src.write_text(yaml.safe_dump(_random_scenario(seed)), encoding="utf-8")
        simulate_to(src, d / "sim")
        cmp = replay_to(d / "sim" / "timeline.jsonl", d / "replay", scheduler_from=src,
                        console=Console(file=open(os.devnull, "w")))  # noqa: SIM115
    assert cmp["identical"] is True, json.dumps(cmp["schedulingDelay"])[:2000]


def test_cli_replay(simulated: dict[str, Path], tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kubetwin", "replay", *args], cwd=ROOT, capture_output=True,
                              text=True, timeout=300, env={"COLUMNS": "80", "PATH": "/usr/bin:/bin"})

    ok = run(str(simulated["quickstart"]), "-o", str(tmp_path / "r"), "--min-same-node", "1")
    assert ok.returncode == 0, ok.stderr
    assert "no difference" in ok.stdout and "podStartup" in ok.stdout
    rep = json.loads((tmp_path / "r" / "replay.json").read_text())
    assert set(rep) == {"source", "fittedLatencies", "notes", "aliases"}
    bad = run(str(tmp_path / "missing.jsonl"), "-o", str(tmp_path / "x"))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_replay_fields_are_validated() -> None:
    from models.errors import InputError

    text = scenario_yaml(derive_scenario(recording().events), "rec.jsonl")
    parse_scenario_text(text, "ok.yaml")
    for old, new, message in (
            ("count: 2", "count: 3", "pool 'pool' lists 2 nodes but count is 3"),
            ("readyAt: 0s, removedAt: 900s", "readyAt: 950s, removedAt: 900s",
             "node 'n2' is removed (900s) before it is ready (950s)"),
            ("pods: [k-0, k-1]", "pods: [k-0]", "'names.pods' lists 1 pods but the instance has 2"),
            ("at: [10s]", "at: [10s, 20s]", "'names' names one instance")):
        assert old in text, old
        with pytest.raises(InputError, match=re.escape(message)):
            parse_scenario_text(text.replace(old, new, 1), "bad.yaml")


def test_a_big_recording_is_written_one_workload_per_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import validator.replay as replay

    r = derive_scenario(recording().events)
    monkeypatch.setattr(replay, "BLOCK_STYLE_MAX", 2)
    text = scenario_yaml(r, "rec.jsonl")
    assert '  - {"name": "p1", "namespace": "a", "arrival": {"at": ["10s"]}' in text
    assert yaml.safe_load(text) == r.scenario
    parse_scenario_text(text, "big.yaml")
