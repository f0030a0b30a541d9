"""``kubetwin simulate --metrics``: the run's timeline as ``OUT/metrics.om`` (OpenMetrics, for Prometheus).

The samples are stamped so the simulated span ends at or before the last UTC midnight: the first
sample sits at midnight UTC ``ceil(end / 1 day)`` days before today's, so the same run on the same
day writes the same file, and ``promtool tsdb create-blocks-from openmetrics`` puts it in the recent
past, where Grafana's default time ranges find it. Inference pods' GPUs read their Deployment's served
load over its capacity (:mod:`sim.serving.utilization`, rebuilt from the timeline's header).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from models.timeline import read_timeline
from validator.openmetrics import openmetrics

DAY = 86_400


def metrics_start(end: float, now: float | None = None) -> float:
    """The Unix time of simulated t=0: whole days before the last UTC midnight, covering ``end``."""
    midnight = math.floor((time.time() if now is None else now) / DAY) * DAY
    return float(midnight - max(1, math.ceil(end / DAY)) * DAY)


def write_metrics(out: Path, now: float | None = None) -> Path:
    """Write ``out/metrics.om`` from ``out/timeline.jsonl``; returns its path. Inference pods' GPUs
    (Deployments the header records, :mod:`sim.serving.utilization`) read their served load."""
    from sim.serving.utilization import serving_utilization

    tl = read_timeline(out / "timeline.jsonl")
    end = max((e.t for e in tl.events), default=0.0)
    path = out / "metrics.om"
    path.write_text(openmetrics(tl.events, start=metrics_start(end, now), utilization=serving_utilization(tl.events)),
                    encoding="utf-8")
    return path
