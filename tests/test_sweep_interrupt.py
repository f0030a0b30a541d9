"""Ctrl-C on ``kubetwin sweep``: a real subprocess gets SIGINT (to its whole process group, as a terminal
sends it, or to the driver alone); it exits 130, records no cut-short run as done, and a rerun resumes to
exactly the ``runs.csv`` of a sweep that was never interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubetwin import sweep as sw

ROOT = Path(__file__).resolve().parent.parent

# each run simulates ~30,000 pods: long enough (a second or two) to be caught in flight
SCENARIO = {"apiVersion": "kubetwin.dev/v1alpha1", "kind": "Scenario", "metadata": {"name": "long"},
            "spec": {"seed": 1, "duration": "1000h",
                     "cluster": {"nodePools": [{"name": "p", "count": 50, "pricePerHour": 1.0,
                                                "allocatable": {"cpu": "8", "memory": "32Gi"}}]},
                     "workloads": [{"name": "w", "arrival": {"poisson": {"meanInterval": "1s"}}, "count": 30000,
                                    "template": {"requests": {"cpu": "1"}},
                                    "duration": {"exponential": {"mean": "30s"}}}]}}
SWEEP = {"apiVersion": "kubetwin.dev/v1alpha1", "kind": "Sweep", "metadata": {"name": "ctrl-c"},
         "spec": {"scenario": "long.yaml", "seed": 5, "seeds": 2,
                  "parameters": {"spec.cluster.nodePools[name=p].count": [40, 50, 60]}}}
RUNS = [f"p{p:04d}-r{r:02d}" for p in range(3) for r in range(2)]


def _sweep(tmp: Path) -> Path:
    (tmp / "long.yaml").write_text(json.dumps(SCENARIO), encoding="utf-8")
    p = tmp / "sweep.yaml"
    p.write_text(yaml.safe_dump(SWEEP), encoding="utf-8")
    return p


def _cli(*args: str, **kw: Any) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "kubetwin", "sweep", *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def _in_flight(out: Path) -> bool:
    """A run finished, and another one is simulating (its timeline is growing, no result yet)."""
    runs = out / "runs"
    done = [r for r in RUNS if (runs / r / sw.RESULT_FILE).exists()]
    busy = [r for r in RUNS if not (runs / r / sw.RESULT_FILE).exists()
            and (runs / r / "timeline.jsonl").exists() and (runs / r / "timeline.jsonl").stat().st_size > 100_000]
    return bool(done) and bool(busy)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> str:
    """runs.csv of the sweep run to its end."""
    tmp = tmp_path_factory.mktemp("full")
    full = _cli(str(_sweep(tmp)), "-o", str(tmp / "full"), "--workers", "2", "-q")
    _, err = full.communicate(timeout=600)
    assert full.returncode == 0, err
    return (tmp / "full" / "runs.csv").read_text(encoding="utf-8")


def _background_job() -> None:
    # a shell starts a background job with SIGINT ignored; Python then leaves it ignored
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize(("target", "background"), [("process-group", False), ("process-group", True),
                                                    ("driver-only", True)])
def test_ctrl_c_exits_130_records_no_cut_short_run_and_resumes_exactly(tmp_path: Path, uninterrupted: str,
                                                                        target: str, background: bool) -> None:
    p = _sweep(tmp_path)
    out = tmp_path / "out"
    proc = _cli(str(p), "-o", str(out), "--workers", "2", "-q", start_new_session=True,
                preexec_fn=_background_job if background else None)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None and not _in_flight(out):
        time.sleep(0.05)
    assert proc.poll() is None, "the sweep ended before it could be interrupted"
    if target == "process-group":
        os.killpg(proc.pid, signal.SIGINT)      # what a terminal's Ctrl-C does
    else:
        os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    rows = (out / "runs.csv").read_text(encoding="utf-8").splitlines()
    # only runs that ran to their end are recorded, each exactly as in the uninterrupted sweep
    assert 1 <= len(rows) - 1 < len(RUNS)
    assert set(rows) <= set(uninterrupted.splitlines())
    recorded = {r for r in RUNS if (out / "runs" / r / sw.RESULT_FILE).exists()}
    assert len(recorded) == len(rows) - 1
    body = json.loads((out / "sweep.json").read_text(encoding="utf-8"))
    assert body["runsFailed"] == 0 and len(body["runsMissing"]) == len(RUNS) - len(recorded)

    again = _cli(str(p), "-o", str(out), "--workers", "2", "-q")
    _, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    assert f"{len(recorded)} of {len(RUNS)} runs already done" in " ".join(err.split())
    assert (out / "runs.csv").read_text(encoding="utf-8") == uninterrupted
