"""Queue tables count a workload still pending at the end as having waited until the end (issue 14 item 4,
validator side): ``timeToAdmission`` and ``workloadClasses`` include it, and ``stillPending`` counts it."""

from __future__ import annotations

from timeline_builder import TL

from validator.queues import queue_summary


def _timeline() -> TL:
    tl = TL().cluster_queue("cq", quotas={"f": {"cpu": "1"}}).local_queue("a/lq", "cq")
    tl.kueue_workload("a/fast", 0, queue="lq", cq="cq", workload="train")
    tl.reserve("a/fast", 10, cq="cq", f={"cpu": "1"}).admitted("a/fast", 10, cq="cq")
    tl.kueue_workload("a/stuck", 20, queue="lq", cq="cq", workload="train")  # never admitted
    tl.kueue_workload("a/done", 30, queue="lq", cq="cq", workload="eval")
    tl.finished("a/done", 40)  # finished without admission (deleted): not pending, no wait
    tl.run_finished(100)
    return tl


def test_still_pending_workload_waits_until_the_end() -> None:
    s = queue_summary(_timeline().events)
    tta = s["clusterQueues"]["cq"]["timeToAdmission"]
    # waits: a/fast 10 s, a/stuck 100 - 20 = 80 s (still pending)
    assert tta == {"count": 2, "p50": 45.0, "p95": 76.5, "max": 80.0, "stillPending": 1}
    assert s["localQueues"]["a/lq"]["timeToAdmission"] == tta
    assert s["clusterQueues"]["cq"]["pendingAtEnd"] == 1


def test_workload_classes_count_still_pending() -> None:
    classes = queue_summary(_timeline().events)["workloadClasses"]
    assert classes["train"] == {"workloads": 2, "admitted": 1, "meanTimeToAdmission": 45.0, "p50": 45.0,
                                "p95": 76.5, "max": 80.0, "stillPending": 1}
    assert classes["eval"] == {"workloads": 1, "admitted": 0, "meanTimeToAdmission": None, "p50": None,
                               "p95": None, "max": None, "stillPending": 0}
