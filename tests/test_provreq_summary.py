"""summary.json's ProvisioningRequest numbers (``autoscaling.provisioningRequests`` and the pods of a
ProvisioningRequest scale-up in ``autoscaling.scaleUpWaitSeconds``), hand-computed on the set-ups of
tests/test_provisioning_request.py, and equal to what validator.autoscaling_summary reads back from the
timeline.

The autoscaler ticks every 10 s; a gang of 4 × 8-GPU pods arriving at t=15 gets its ProvisioningRequest
at t=15, the request is answered at the tick t=20 (scale-up 1 → 5 and Provisioned: 5 s after creation),
the workload is admitted and its pods created at t=20, and they bind when the nodes register at
t=20 + 300 = 320: each waited 300 s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_provisioning_request import gang, plain, scenario

from kubetwin.cmd_simulate import simulate_to
from models.kueue import BEST_EFFORT_ATOMIC, CHECK_CAPACITY
from models.timeline import read_timeline
from validator.autoscaling_summary import autoscaling_summary


def _both(tmp_path: Path, doc: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(summary.json's autoscaling section, the same read back from the timeline)."""
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    summary = simulate_to(path, tmp_path / "out")
    offline = autoscaling_summary(read_timeline(tmp_path / "out" / "timeline.jsonl").events)
    return summary["autoscaling"], offline


def _none(count: int = 0) -> dict[str, Any]:
    return {"count": count, "p50": None, "p95": None, "max": None}


def test_atomic_gang_counts_one_provisioned_request_and_four_scale_up_waits(tmp_path: Path) -> None:
    ours, offline = _both(tmp_path, scenario(workloads=[plain("filler", "0s"), gang("train", "15s")]))
    want_prs = {"created": 1, "provisioned": 1, "failed": 0, "bookingExpired": 0,
                "timeToProvisionedSeconds": {"count": 1, "p50": 5.0, "p95": 5.0, "max": 5.0}}
    # the filler binds on gpu-0 at once (no scale-up); the gang's 4 pods: created 20, bound 320
    want_waits = {"count": 4, "p50": 300.0, "p95": 300.0, "max": 300.0}
    for side in (ours, offline):
        assert side["provisioningRequests"] == want_prs
        assert side["scaleUpWaitSeconds"] == want_waits
    assert ours["pools"]["gpu"]["scaleUps"] == offline["pools"]["gpu"]["scaleUps"] == 1


def test_check_capacity_without_a_scale_up_adds_no_scale_up_waits(tmp_path: Path) -> None:
    # 4 free nodes: Provisioned at the tick t=20 with no scale-up; the pods bind at once
    doc = scenario(max_count=None, count=4, klass=CHECK_CAPACITY, workloads=[gang("train", "15s")])
    ours, offline = _both(tmp_path, doc)
    for side in (ours, offline):
        assert side["provisioningRequests"] == {
            "created": 1, "provisioned": 1, "failed": 0, "bookingExpired": 0,
            "timeToProvisionedSeconds": {"count": 1, "p50": 5.0, "p95": 5.0, "max": 5.0}}
        assert side["scaleUpWaitSeconds"] == _none()


def test_failed_requests_are_counted_and_never_provisioned(tmp_path: Path) -> None:
    # noRetry: attempts 1 (t=15) and 2 (t=50) both fail; the workload is rejected
    doc = scenario(max_count=None, count=1, klass=CHECK_CAPACITY, parameters={"noRetry": "true"},
                   retry={"backoffLimitCount": 1, "backoffBaseSeconds": 30, "backoffMaxSeconds": 600},
                   workloads=[plain("filler", "0s", "3h"), gang("train", "15s")])
    ours, offline = _both(tmp_path, doc)
    for side in (ours, offline):
        assert side["provisioningRequests"] == {"created": 2, "provisioned": 0, "failed": 2, "bookingExpired": 0,
                                                "timeToProvisionedSeconds": _none()}


def test_an_expired_booking_is_counted_and_its_pods_still_count_as_scale_up_waits(tmp_path: Path) -> None:
    # nodes take 12 minutes: Provisioned at 20, booking expired at 630, pods (created 20) bind at 740
    doc = scenario(workloads=[plain("filler", "0s"), gang("train", "15s")])
    doc["spec"]["cluster"]["nodePools"][0]["provisioningDelay"] = "12m"
    ours, offline = _both(tmp_path, doc)
    for side in (ours, offline):
        assert side["provisioningRequests"]["bookingExpired"] == 1
        assert side["provisioningRequests"]["provisioned"] == 1
        assert side["scaleUpWaitSeconds"] == {"count": 4, "p50": 720.0, "p95": 720.0, "max": 720.0}


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(workers=st.integers(1, 5), max_count=st.integers(1, 6), busy=st.booleans(),
       klass=st.sampled_from([BEST_EFFORT_ATOMIC, CHECK_CAPACITY]), gangs=st.integers(1, 3))
def test_the_simulators_numbers_are_what_the_timeline_says(tmp_path: Path, workers: int, max_count: int,
                                                           busy: bool, klass: str, gangs: int) -> None:
    loads = [plain("filler", "0s", "40m")] if busy else []
    loads += [gang(f"g{i}", f"{15 + 7 * i}s", pods=workers, duration="20m") for i in range(gangs)]
    ours, offline = _both(tmp_path, scenario(max_count=max_count, klass=klass, workloads=loads))
    rounded = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in offline["scaleUpWaitSeconds"].items()}
    assert ours["scaleUpWaitSeconds"] == rounded
    prs = dict(offline["provisioningRequests"])
    prs["timeToProvisionedSeconds"] = {k: (round(v, 3) if isinstance(v, float) else v)
                                       for k, v in prs["timeToProvisionedSeconds"].items()}
    assert ours["provisioningRequests"] == prs
    assert prs["created"] >= gangs and prs["provisioned"] + prs["failed"] <= prs["created"]
