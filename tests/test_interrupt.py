"""Ctrl-C ends a run cleanly: the current instant is finished, RunFinished (reason ``interrupted``) and a
summary marked interrupted are written, the timeline validates; the progress bar is off off-terminal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from kubetwin.runprogress import RunProgress
from models.scenario import parse_scenario_text
from models.timeline import TimelineWriter, read_timeline
from sim.build import build
from sim.engine import Simulation
from validator.checks import FAILED, run_checks

ROOT = Path(__file__).resolve().parent.parent

LONG = {"apiVersion": "kubetwin.dev/v1alpha1", "kind": "Scenario", "metadata": {"name": "long"},
        "spec": {"seed": 1, "duration": "10000h",
                 "cluster": {"nodePools": [{"name": "p", "count": 50, "allocatable": {"cpu": "8", "memory": "32Gi"}}]},
                 "workloads": [{"name": "w", "arrival": {"poisson": {"meanInterval": "1s"}}, "count": 5_000_000,
                                "template": {"requests": {"cpu": "1"}}, "duration": {"exponential": {"mean": "30s"}}}]}}


def test_interrupt_finishes_the_instant_and_says_so(tmp_path: Path) -> None:
    sc = parse_scenario_text(json.dumps(LONG))
    path = tmp_path / "timeline.jsonl"
    with TimelineWriter(path) as w:
        sim = Simulation(build(sc, until=100 * 3600.0), w)
        calls = []

        def progress(t: float, events: int) -> None:
            calls.append(t)
            sim.interrupt()

        summary = sim.run(progress=progress)
    tl = read_timeline(path)
    last = tl.events[-1]
    assert (last.type, last.reason) == ("RunFinished", "interrupted")
    assert summary["sim"]["endReason"] == "interrupted"
    assert len(calls) == 1
    assert last.t < 100 * 3600.0
    # nothing after the interrupted instant, and the instant is complete: every event before the end is at
    # or before it, and the timeline passes every invariant
    assert all(e.t <= last.t for e in tl.events)
    assert [r.invariant.id for r in run_checks(tl.events) if r.status == FAILED] == []


def test_sigint_writes_a_valid_timeline_and_exits_130(tmp_path: Path) -> None:
    scenario = tmp_path / "long.yaml"
    scenario.write_text(json.dumps(LONG), encoding="utf-8")
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "kubetwin", "simulate", str(scenario), "-o", str(out), "--yes"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    timeline = out / "timeline.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not timeline.exists() or timeline.stat().st_size < 200_000):
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "interrupted" in err
    tl = read_timeline(timeline)
    assert tl.problems == []
    assert (tl.events[-1].type, tl.events[-1].reason) == ("RunFinished", "interrupted")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True
    assert summary["sim"]["endReason"] == "interrupted"
    assert summary["pods"]["total"] == sum(e.type == "PodCreated" for e in tl.events)


def test_progress_bar_is_off_when_not_a_terminal() -> None:
    bar = RunProgress(100.0)      # pytest's stderr is not a terminal
    assert bar.enabled is False
    bar(50.0, 10)
    assert bar.progress is None


def test_progress_bar_shows_simulated_time_and_rate_on_a_terminal(monkeypatch: object) -> None:
    import io

    import pytest
    from rich.console import Console

    import kubetwin.runprogress as rp

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    monkeypatch.setattr(rp, "SHOW_AFTER", 0.0)
    out = io.StringIO()
    bar = rp.RunProgress(7200.0, enabled=True, console=Console(file=out, force_terminal=True, width=100))
    bar(1800.0, 5000)
    bar(3600.0, 9000)
    bar.close()
    text = out.getvalue()
    assert "1h00m00s of 2h00m00s" in text
    assert "events/s" in text
