"""The benchmark harness, in quick mode on a tiny scenario: the JSON it writes, not how fast it is."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bench.harness import SCENARIO_DIR, BenchError, discover, scale_down, targets_of
from models.scenario import parse_scenario_text

REPO = Path(__file__).resolve().parent.parent

TINY = """\
apiVersion: kubetwin.dev/v1alpha1
kind: Scenario
metadata:
  name: bench-tiny
  annotations:
    bench.kubetwin.dev/target-pods-per-second: "1"
    bench.kubetwin.dev/target-wall-seconds: "600"
    bench.kubetwin.dev/target-peak-mib: "8192"
spec:
  seed: 3
  duration: 2h
  cluster:
    nodePools:
    - name: gpu
      count: 40
      taints:
      - {key: nvidia.com/gpu, value: present, effect: NoSchedule}
      allocatable: {cpu: "96", memory: 1Ti, nvidia.com/gpu: "8", pods: "110"}
    - name: cpu
      count: 40
      allocatable: {cpu: "16", memory: 64Gi, pods: "110"}
  workloads:
  - name: train
    arrival: {poisson: {meanInterval: 30s}}
    count: 200
    template:
      tolerations:
      - {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}
      requests: {cpu: "8", memory: 64Gi, nvidia.com/gpu: "2"}
    duration: {exponential: {mean: 20m}}
  - name: burst
    arrival: {every: 0s}
    count: 400
    template:
      requests: {cpu: 500m, memory: 1Gi}
    duration: {constant: {value: 10m}}
"""

FIELDS = {"name", "scenario", "quick", "ok", "error", "podsTotal", "podsScheduled", "podsPendingAtEnd",
          "simEvents", "simulatedSeconds", "wallSeconds", "simWallSeconds", "cpuSeconds", "podsPerSecond",
          "eventsPerSecond", "peakMiB", "targets", "met", "targetMet", "gpuAllocationRatio", "timeline"}


def test_quick_run_writes_sane_json(tmp_path: Path) -> None:
    sc = tmp_path / "tiny.yaml"
    sc.write_text(TINY, encoding="utf-8")
    out_json = tmp_path / "bench.json"
    out_dir = tmp_path / "timelines"
    proc = subprocess.run([sys.executable, "-m", "bench", str(sc), "--quick", "--factor", "4",
                           "--json", str(out_json), "--out", str(out_dir)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "bench-tiny" in proc.stdout

    doc = json.loads(out_json.read_text(encoding="utf-8"))
    assert doc["quick"] is True and doc["factor"] == 4
    assert set(doc["machine"]) >= {"python", "cpu", "cpus", "commit"}
    [r] = doc["results"]
    assert set(r) >= FIELDS
    assert r["ok"] is True and r["error"] is None and r["name"] == "bench-tiny"
    # scaled down by 4: 10 + 10 nodes, 50 + 100 pods, all of which fit
    assert r["podsTotal"] == 150
    assert r["podsScheduled"] == 150 and r["podsPendingAtEnd"] == 0
    # at least NodeReady x 20, PodCreated/Scheduled/PodRunning per pod, RunFinished
    assert r["simEvents"] >= 20 + 3 * 150 + 1
    assert r["wallSeconds"] > 0
    assert 0 < r["simWallSeconds"] <= r["wallSeconds"]
    assert r["cpuSeconds"] > 0
    # rates come from the unrounded wall time; wallSeconds is printed to the millisecond
    lo, hi = r["wallSeconds"] - 0.0005, r["wallSeconds"] + 0.0005
    assert r["podsScheduled"] / hi - 0.05 <= r["podsPerSecond"] <= r["podsScheduled"] / lo + 0.05
    assert r["simEvents"] / hi - 0.05 <= r["eventsPerSecond"] <= r["simEvents"] / lo + 0.05
    assert 10 < r["peakMiB"] < 8192
    assert 0 < r["gpuAllocationRatio"] <= 1
    assert r["targets"] == {"podsPerSecond": 1.0, "wallSeconds": 600.0, "peakMiB": 8192.0}
    assert r["met"] == {"podsPerSecond": None, "wallSeconds": None, "peakMiB": None}  # quick: not judged
    assert r["targetMet"] is None
    timeline = Path(r["timeline"])
    assert timeline == out_dir / "bench-tiny" / "timeline.jsonl" and timeline.stat().st_size > 0
    assert (out_dir / "bench-tiny" / "summary.json").exists()


def test_failed_child_is_reported(tmp_path: Path) -> None:
    sc = tmp_path / "broken.yaml"
    sc.write_text(TINY.replace("count: 200", "count: -1"), encoding="utf-8")
    out_json = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "bench", str(sc), "--json", str(out_json)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    [r] = json.loads(out_json.read_text(encoding="utf-8"))["results"]
    assert r["ok"] is False and r["error"] and r["targetMet"] is None


def test_shipped_scenarios_are_valid_and_carry_targets() -> None:
    paths = discover([])
    assert {p.stem for p in paths} >= {"scheduling-basic-5000n-10000p", "week-10000n-1m"}
    for p in paths:
        text = p.read_text(encoding="utf-8")
        parse_scenario_text(text, str(p), p)
        doc = yaml.safe_load(text)
        assert targets_of(doc), f"{p.name} has no bench.kubetwin.dev/target-* annotation"
        quick = scale_down(doc, 20, p.parent)
        parse_scenario_text(yaml.safe_dump(quick), str(p), p)


def test_week_scenario_has_exactly_a_million_pods() -> None:
    doc = yaml.safe_load((SCENARIO_DIR / "week-10000n-1m.yaml").read_text(encoding="utf-8"))
    assert sum(p["count"] for p in doc["spec"]["cluster"]["nodePools"]) == 10_000
    assert sum(w["count"] * w.get("replicas", 1) for w in doc["spec"]["workloads"]) == 1_000_000


def test_discover_by_prefix_and_unknown_name() -> None:
    assert discover(["scheduling-basic"])[0].stem == "scheduling-basic-5000n-10000p"
    with pytest.raises(BenchError):
        discover(["no-such-scenario"])
