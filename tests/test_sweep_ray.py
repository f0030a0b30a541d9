"""The same sweep gives identical ``runs.csv`` on the local process pool and on Ray (a local Ray instance).

Needs the optional extra ``kubetwin[ray]``; skipped with the reason when Ray is not importable.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from sweep_fixture import write_sweep

from kubetwin import cmd_sweep

pytestmark = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                                reason="ray is not installed (pip install 'kubetwin[ray]'); CI installs it")


def test_local_and_ray_give_identical_runs_csv(tmp_path: Path) -> None:
    body = {"seed": 11, "seeds": 3,
            "parameters": {"spec.cluster.nodePools[name=gpu].count": [1, 2],
                           "spec.scheduler.scoring": ["LeastAllocated", "MostAllocated"],
                           "spec.workloads[name=train].duration.empirical.csv": ["durations.csv", "other.csv"]}}
    p = write_sweep(tmp_path, body)
    (tmp_path / "sc" / "other.csv").write_text("seconds\n60\n", encoding="utf-8")
    # the other.csv points fail at run time (a directory where the run writes its scenario copy)
    failing = [f"p{pt:04d}-r{r:02d}" for pt in (1, 3, 5, 7) for r in range(3)]
    for run in failing:
        (tmp_path / "out" / "runs" / run / "scenario.yaml").mkdir(parents=True)
    local = cmd_sweep.run_sweep(p, tmp_path / "out", executor="local", workers=2)
    (tmp_path / "out").rename(tmp_path / "local")
    for run in failing:
        (tmp_path / "out" / "runs" / run / "scenario.yaml").mkdir(parents=True)
    ray = cmd_sweep.run_sweep(p, tmp_path / "out", executor="ray", workers=2)
    assert local["runsDone"] == ray["runsDone"] == 24
    assert local["runsFailed"] == ray["runsFailed"] == 12   # they fail the same way on both
    for f in ("runs.csv", "points.csv"):
        assert (tmp_path / "out" / f).read_text() == (tmp_path / "local" / f).read_text()
    # the timelines too, byte for byte
    for run in ("p0000-r00", "p0006-r02"):
        assert (tmp_path / "out" / "runs" / run / "timeline.jsonl").read_bytes() == \
            (tmp_path / "local" / "runs" / run / "timeline.jsonl").read_bytes()
