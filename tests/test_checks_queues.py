"""Per-queue summary metrics (validator.queues)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from timeline_builder import TL

from validator.queues import percentile, queue_summary


@given(st.lists(st.floats(min_value=-1e6, max_value=1e6), min_size=1, max_size=50),
       st.sampled_from([0.0, 0.25, 0.5, 0.95, 0.99, 1.0]))
def test_percentile_matches_numpy_linear(xs: list[float], p: float) -> None:
    assert percentile(xs, p) == pytest.approx(float(np.percentile(xs, p * 100)), rel=1e-9, abs=1e-6)


def test_percentile_of_nothing() -> None:
    assert percentile([], 0.5) is None


def _queues() -> TL:
    tl = TL().cluster_queue("cq-a", cohort="ai", quotas={"h100": {"nvidia.com/gpu": "8"}})
    tl.cluster_queue("cq-b", cohort="ai", quotas={"h100": {"nvidia.com/gpu": "8"}})
    tl.local_queue("a/lq", "cq-a").local_queue("b/lq", "cq-b")
    # a/w1: waits 10 s, holds 12 GPUs (4 borrowed) from 10 to 60, preempted by b/w2
    tl.kueue_workload("a/w1", 0, queue="lq", cq="cq-a")
    tl.reserve("a/w1", 10, cq="cq-a", h100={"nvidia.com/gpu": "12"}).admitted("a/w1", 10, cq="cq-a")
    tl.kueue_workload("b/w2", 20, queue="lq", cq="cq-b")
    tl.emit(60, "Evicted", "Workload", "w1", "a", group="a/w1", reason="Preempted",
            data={"clusterQueue": "cq-a", "preemptor": "b/w2"})
    tl.reserve("b/w2", 60, cq="cq-b", h100={"nvidia.com/gpu": "8"}).admitted("b/w2", 60, cq="cq-b")
    # a/w1 comes back at 80 with 8 GPUs and finishes at 100; a/w3 never gets in
    tl.reserve("a/w1", 80, cq="cq-a", h100={"nvidia.com/gpu": "8"}).admitted("a/w1", 80, cq="cq-a")
    tl.finished("a/w1", 100)
    tl.kueue_workload("a/w3", 90, queue="lq", cq="cq-a")
    tl.run_finished(100)
    return tl


def test_cluster_queue_summary() -> None:
    s = queue_summary(_queues().events)
    assert s["percentileMethod"] == "linear"
    assert s["window"] == {"start": 0.0, "end": 100.0}
    a = s["clusterQueues"]["cq-a"]
    assert (a["workloads"], a["admitted"], a["admissions"], a["pendingAtEnd"]) == (2, 1, 2, 1)
    # a/w3 never admitted: counted as waiting from 90 to the end (100), issue 14 item 4
    assert a["timeToAdmission"] == {"count": 2, "p50": 10.0, "p95": 10.0, "max": 10.0, "stillPending": 1}
    assert a["evictions"] == {"Preempted": 1}
    assert a["preemptions"] == {"victims": 1, "caused": 0}
    gpu = a["usage"]["h100"]["nvidia.com/gpu"]
    # 12 GPUs for 50 s + 8 GPUs for 20 s over a 100 s run
    assert gpu["mean"] == pytest.approx((12 * 50 + 8 * 20) / 100)
    assert (gpu["peak"], gpu["nominal"]) == (12.0, 8.0)
    assert gpu["utilization"] == pytest.approx(7.6 / 8)
    assert gpu["borrowedShare"] == pytest.approx(4 * 50 / (12 * 50 + 8 * 20))
    b = s["clusterQueues"]["cq-b"]
    assert b["timeToAdmission"]["p50"] == 40.0
    assert b["preemptions"] == {"victims": 0, "caused": 1}
    assert b["usage"]["h100"]["nvidia.com/gpu"]["mean"] == pytest.approx(8 * 40 / 100)
    assert b["usage"]["h100"]["nvidia.com/gpu"]["borrowedShare"] == 0.0


def test_local_queue_summary() -> None:
    s = queue_summary(_queues().events)
    assert sorted(s["localQueues"]) == ["a/lq", "b/lq"]
    lq = s["localQueues"]["a/lq"]
    assert (lq["workloads"], lq["admitted"], lq["pendingAtEnd"]) == (2, 1, 1)
    assert "usage" not in lq


def test_time_to_admission_percentiles_over_many() -> None:
    tl = TL().cluster_queue("cq", quotas={"f": {"cpu": "1000"}})
    for i in range(1, 11):
        tl.kueue_workload(f"a/w{i}", 0, cq="cq")
    for i in range(1, 11):
        tl.reserve(f"a/w{i}", i * 10, cq="cq", f={"cpu": "1"}).admitted(f"a/w{i}", i * 10, cq="cq")
    tta = queue_summary(tl.events)["clusterQueues"]["cq"]["timeToAdmission"]
    assert tta == {"count": 10, "p50": 55.0, "p95": pytest.approx(95.5), "max": 100.0, "stillPending": 0}
