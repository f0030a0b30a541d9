"""Gang and Kueue behaviour pinned on small scenarios, with exact times and values.

Each test writes a tiny scenario, simulates it with :func:`kubetwin.cmd_simulate.simulate_to`, reads
the timeline back and checks the documented semantics (docs/timeline.md, k8s-semantics §2):
Kueue queueing strategies, borrowing limits, preemption policies, waitForPodsReady eviction and
backoff, blockAdmission, flavor injection; coscheduling and KEP-4671 Permit barriers and timeouts.
Every timeline must also pass every invariant check.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubetwin.cmd_simulate import simulate_to
from models.timeline import Event, read_timeline
from validator.checks import FAILED, run_checks

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"

H100 = {"cloud.google.com/gke-accelerator": "nvidia-h100-80gb"}
GPU_TAINT = [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]
GPU_TOL = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]


def pool(count: int, gpus: int = 8, name: str = "h100") -> dict[str, Any]:
    return {"name": name, "count": count, "labels": dict(H100), "taints": GPU_TAINT,
            "allocatable": {"cpu": "208", "memory": "1800Gi", "nvidia.com/gpu": str(gpus)}}


def req(gpus: int) -> dict[str, Any]:
    return {"requests": {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": str(gpus)}}


def req_tol(gpus: int) -> dict[str, Any]:
    return {**req(gpus), "tolerations": GPU_TOL}


def cq(name: str, gpus: int, *, cohort: str | None = None, borrowing: int | None = None,
       strategy: str | None = None, preemption: dict[str, str] | None = None) -> dict[str, Any]:
    gpu: dict[str, Any] = {"name": "nvidia.com/gpu", "nominalQuota": gpus}
    if borrowing is not None:
        gpu["borrowingLimit"] = borrowing
    spec: dict[str, Any] = {"resourceGroups": [{"coveredResources": ["cpu", "memory", "nvidia.com/gpu"],
                                                "flavors": [{"name": "h100", "resources": [
                                                    {"name": "cpu", "nominalQuota": 1000},
                                                    {"name": "memory", "nominalQuota": "10000Gi"}, gpu]}]}]}
    if cohort:
        spec["cohort"] = cohort
    if strategy:
        spec["queueingStrategy"] = strategy
    if preemption:
        spec["preemption"] = preemption
    return {"metadata": {"name": name}, "spec": spec}


def kueue(*cqs: dict[str, Any], wfpr: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceFlavors": [{"metadata": {"name": "h100"},
                             "spec": {"nodeLabels": dict(H100), "tolerations": GPU_TOL}}],
        "clusterQueues": list(cqs),
        "localQueues": [{"metadata": {"name": c["metadata"]["name"], "namespace": "default"},
                         "spec": {"clusterQueue": c["metadata"]["name"]}} for c in cqs]}
    if wfpr is not None:
        out["waitForPodsReady"] = wfpr
    return out


def wl(name: str, at: float | list[float], *, gpus: int, replicas: int = 1, runtime: str = "1h",
       queue: str | None = None, gang: dict[str, Any] | None = None, priority: int = 0,
       tol: bool = False) -> dict[str, Any]:
    ats = at if isinstance(at, list) else [at]
    w: dict[str, Any] = {"name": name, "arrival": {"at": [f"{a}s" for a in ats]}, "replicas": replicas,
                         "priority": priority, "template": req_tol(gpus) if tol else req(gpus),
                         "duration": runtime}
    if queue:
        w["queue"] = queue
    if gang:
        w["gang"] = gang
    return w


def run(tmp_path: Path, pools: list[dict[str, Any]], workloads: list[dict[str, Any]], *,
        kq: dict[str, Any] | None = None, duration: str = "24h", name: str = "t",
        extra: dict[str, Any] | None = None, check: bool = True) -> list[Event]:
    spec: dict[str, Any] = {"seed": 1, "duration": duration, "cluster": {"nodePools": pools},
                            "workloads": workloads}
    if kq is not None:
        spec["kueue"] = kq
    spec.update(extra or {})
    doc = {"apiVersion": "kubetwin.dev/v1alpha1", "kind": "Scenario", "metadata": {"name": name},
           "spec": spec}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    simulate_to(path, tmp_path / f"out-{name}")
    tl = read_timeline(tmp_path / f"out-{name}" / "timeline.jsonl")
    assert tl.problems == []
    if check:
        assert_clean(tl.events)
    return tl.events


def assert_clean(events: list[Event]) -> None:
    results = run_checks(events)
    failed = [(r.invariant.id, [f.message for f in r.findings[:3]]) for r in results if r.status == FAILED]
    assert failed == []


def of(events: list[Event], type_: str, name: str | None = None) -> list[Event]:
    return [e for e in events if e.type == type_ and (name is None or e.name == name)]


def times(events: list[Event], type_: str) -> list[tuple[str, float]]:
    return [(e.name, e.t) for e in events if e.type == type_]


# ------------------------------------------------------------------------------ Kueue queueing


def _fifo(tmp_path: Path, strategy: str) -> list[Event]:
    # one 8-GPU node, one ClusterQueue with 8 GPUs: `hold` takes 4 GPUs for 1h; `big` (8 GPUs) arrives
    # at 60 s and cannot fit until hold ends; `small` (2 GPUs) arrives at 120 s and fits at once.
    return run(tmp_path, [pool(1)], [
        wl("hold", 0, gpus=4, queue="q"), wl("big", 60, gpus=8, queue="q", runtime="30m"),
        wl("small", 120, gpus=2, queue="q", runtime="10m")],
        kq=kueue(cq("q", 8, strategy=strategy)), name=strategy.lower())


def test_best_effort_fifo_lets_small_pass_blocked_big(tmp_path: Path) -> None:
    ev = _fifo(tmp_path, "BestEffortFIFO")
    assert times(ev, "Admitted") == [("hold-0", 0.0), ("small-0", 120.0), ("big-0", 3600.0)]


def test_strict_fifo_blocks_small_behind_big(tmp_path: Path) -> None:
    ev = _fifo(tmp_path, "StrictFIFO")
    # big is admitted when hold finishes (3600); small waits behind it until big finishes (3600+1800)
    assert times(ev, "Admitted") == [("hold-0", 0.0), ("big-0", 3600.0), ("small-0", 5400.0)]


# ------------------------------------------------------------------------------ borrowing


def test_borrowing_stops_at_borrowing_limit(tmp_path: Path) -> None:
    # cohort of a (4 GPUs nominal, borrowingLimit 2) and b (4 GPUs, idle): a may use at most 6 GPUs.
    ev = run(tmp_path, [pool(2)], [wl("job", [0, 1, 2, 3], gpus=2, queue="a", runtime="1h")],
             kq=kueue(cq("a", 4, cohort="c", borrowing=2), cq("b", 4, cohort="c")))
    qr = of(ev, "QuotaReserved")
    assert [(e.name, e.t, e.data["usage"], e.data.get("borrowed", False)) for e in qr[:3]] == [
        ("job-0", 0.0, {"h100": {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": "2"}}, False),
        ("job-1", 1.0, {"h100": {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": "2"}}, False),
        ("job-2", 2.0, {"h100": {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": "2"}}, True),
    ]
    # job-3 would take a to 8 GPUs > 4 + 2: it waits until job-0 finishes, although b's 4 GPUs are idle
    assert [(e.name, e.t) for e in qr[3:]] == [("job-3", 3600.0)]
    assert qr[0].data["clusterQueue"] == "a"


# ------------------------------------------------------------------------------ preemption


def _preempt(tmp_path: Path, policy: str) -> list[Event]:
    return run(tmp_path, [pool(1)], [
        wl("low", 0, gpus=4, replicas=2, queue="q", runtime="10h", priority=10, gang={"policy": "kueue"}),
        wl("high", 100, gpus=8, queue="q", runtime="1h", priority=1000)],
        kq=kueue(cq("q", 8, preemption={"withinClusterQueue": policy})), name=policy.lower())


def test_higher_priority_preempts_with_lower_priority_policy(tmp_path: Path) -> None:
    ev = _preempt(tmp_path, "LowerPriority")
    evicted = of(ev, "Evicted")
    assert [(e.name, e.t, e.reason, e.data["preemptor"]) for e in evicted] == [
        ("low-0", 100.0, "Preempted", "default/high-0")]
    requeued = of(ev, "Requeued", "low-0")
    assert [e.t for e in requeued] == [100.0]
    assert requeued[0].seq > evicted[0].seq
    deleted = of(ev, "PodDeleted")
    assert sorted((e.name, e.t) for e in deleted) == [("low-0-0", 100.0), ("low-0-1", 100.0)]
    assert all(e.reason == "Evicted by Kueue: Preempted" for e in deleted)
    assert times(ev, "Admitted")[:2] == [("low-0", 0.0), ("high-0", 100.0)]
    # the victim gets its quota back when the preemptor finishes (100 + 3600)
    assert times(ev, "Admitted")[2:] == [("low-0", 3700.0)]


def test_no_preemption_with_never(tmp_path: Path) -> None:
    ev = _preempt(tmp_path, "Never")
    assert of(ev, "Evicted") == []
    assert of(ev, "PodDeleted") == []
    assert times(ev, "Admitted") == [("low-0", 0.0), ("high-0", 36000.0)]


# ------------------------------------------------------------------------------ gangs that cannot fit


def test_coscheduling_gang_that_cannot_fit_is_rejected_at_once(tmp_path: Path) -> None:
    # 2 pods x 8 GPUs on one 8-GPU node: the second fails Filter; (2-1)/2 > 10% => reject all waiting
    ev = run(tmp_path, [pool(1)], [wl("g", 0, gpus=8, replicas=2, tol=True, gang={"policy": "coscheduling"})],
             duration="1h")
    assert of(ev, "Scheduled") == []
    first = [e for e in of(ev, "FailedScheduling") if e.data["attempts"] == 1]
    assert sorted((e.name, e.t) for e in first) == [("g-0-0", 0.0), ("g-0-1", 0.0)]
    assert all(e.group == "default/g-0" for e in first)


@pytest.mark.parametrize(("timeout", "expect"), [(None, 60.0), ("90s", 90.0)])
def test_coscheduling_permit_timeout(tmp_path: Path, timeout: str | None, expect: float) -> None:
    # 10 pods x 1 GPU, 9 GPUs: 9 wait at Permit; (10-9)/10 = 10% keeps them waiting until the deadline
    gang: dict[str, Any] = {"policy": "coscheduling"}
    if timeout:
        gang["timeout"] = timeout
    ev = run(tmp_path, [pool(1, gpus=9)], [wl("g", 0, gpus=1, replicas=10, tol=True, gang=gang)],
             duration="150s")
    assert of(ev, "Scheduled") == []
    to = of(ev, "GangTimedOut")
    assert to[0].t == expect
    assert to[0].kind == "PodGroup"
    assert to[0].data["timeoutSeconds"] == expect
    assert to[0].data["waitingSince"] == 0.0
    assert len(to[0].data["waiting"]) == 9
    assert to[0].data["bound"] == 0
    rejected = [e for e in of(ev, "FailedScheduling") if e.t == expect]
    assert len(rejected) == 9
    assert all("rejected due to timeout" in e.reason and "Coscheduling" in e.reason for e in rejected)


def test_workload_api_members_wait_then_time_out_after_300s(tmp_path: Path) -> None:
    ev = run(tmp_path, [pool(1)], [wl("g", 0, gpus=8, replicas=2, tol=True, gang={"policy": "workload-api"})],
             duration="400s")
    assert of(ev, "Scheduled") == []
    to = of(ev, "GangTimedOut")
    assert [(e.kind, e.name, e.t) for e in to] == [("Workload", "g-0", 300.0)]
    assert to[0].data["timeoutSeconds"] == 300.0
    assert to[0].data["waiting"] == ["g-0-0"]
    rejected = [e for e in of(ev, "FailedScheduling") if e.t == 300.0]
    assert [e.name for e in rejected] == ["g-0-0"]
    assert "GangScheduling" in rejected[0].reason


# ------------------------------------------------------------------------------ waitForPodsReady


def test_pods_ready_timeout_evicts_and_backs_off(tmp_path: Path) -> None:
    # quota 16 GPUs but one 8-GPU node: a 2x8 workload is admitted and can never be PodsReady
    ev = run(tmp_path, [pool(1)], [wl("w", 0, gpus=8, replicas=2, queue="q", gang={"policy": "kueue"})],
             kq=kueue(cq("q", 16)), duration="7000s")
    assert times(ev, "Admitted") == [("w-0", 0.0), ("w-0", 1860.0), ("w-0", 3780.0), ("w-0", 5820.0)]
    evicted = of(ev, "Evicted")
    assert [(e.t, e.reason) for e in evicted] == [(1800.0, "PodsReadyTimeout"), (3660.0, "PodsReadyTimeout"),
                                                  (5580.0, "PodsReadyTimeout")]
    rq = of(ev, "Requeued")
    assert [(e.t, e.data["backoffSeconds"], e.data["requeueAt"]) for e in rq] == [
        (1800.0, 60.0, 1860.0), (3660.0, 120.0, 3780.0), (5580.0, 240.0, 5820.0)]
    # all pods of the attempt are deleted at the eviction instant
    assert sorted(e.t for e in of(ev, "PodDeleted")) == [1800.0] * 2 + [3660.0] * 2 + [5580.0] * 2
    assert of(ev, "PodsReady") == []


def test_block_admission_holds_other_admissions(tmp_path: Path) -> None:
    kq = kueue(cq("q", 24), wfpr={"blockAdmission": True, "timeout": "10m"})
    ev = run(tmp_path, [pool(1)], [
        wl("w", 0, gpus=8, replicas=2, queue="q", gang={"policy": "kueue"}, runtime="10h"),
        wl("other", 10, gpus=0, queue="q", runtime="1m")], kq=kq, duration="700s")
    # w admitted at 0, never ready; other (fits: no GPU) is held until w's eviction at 600
    assert times(ev, "Admitted")[:2] == [("w-0", 0.0), ("other-0", 600.0)]
    assert [(e.t, e.reason) for e in of(ev, "Evicted")] == [(600.0, "PodsReadyTimeout")]


def test_without_block_admission_others_are_admitted(tmp_path: Path) -> None:
    kq = kueue(cq("q", 24), wfpr={"timeout": "10m"})
    ev = run(tmp_path, [pool(1)], [
        wl("w", 0, gpus=8, replicas=2, queue="q", gang={"policy": "kueue"}, runtime="10h"),
        wl("other", 10, gpus=0, queue="q", runtime="1m")], kq=kq, duration="700s")
    assert times(ev, "Admitted")[:2] == [("w-0", 0.0), ("other-0", 10.0)]


# ------------------------------------------------------------------------------ pods of Kueue workloads


def test_kueue_pods_created_after_admission_with_flavor_selector(tmp_path: Path) -> None:
    ev = run(tmp_path, [pool(1)], [wl("hold", 0, gpus=8, queue="q", runtime="1h"),
                                   wl("next", 5, gpus=8, queue="q", runtime="1h")],
             kq=kueue(cq("q", 8)), duration="3h")
    adm = {e.name: e for e in of(ev, "Admitted")}
    created = of(ev, "PodCreated")
    assert [(e.name, e.t) for e in created] == [("hold-0", 0.0), ("next-0", 3600.0)]
    for p in created:
        a = adm[p.group.split("/")[1]]
        assert a.seq < p.seq and a.t == p.t
        assert p.data["nodeSelector"] == H100
        assert p.data["tolerations"] == GPU_TOL
    wc = of(ev, "WorkloadCreated", "next-0")
    assert [e.t for e in wc] == [5.0]


def test_job_manifest_workload(tmp_path: Path) -> None:
    (tmp_path / "job.yaml").write_text(yaml.safe_dump({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "ft", "namespace": "default", "labels": {"kueue.x-k8s.io/queue-name": "q"}},
        "spec": {"parallelism": 3, "completions": 3, "suspend": True, "template": {"spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "c", "image": "x", "resources": {"requests": {
                "cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "2"}}}]}}}}), encoding="utf-8")
    w = {"name": "ft", "queue": "q", "job": "job.yaml", "arrival": {"at": ["0s"]}, "duration": "1h"}
    ev = run(tmp_path, [pool(1)], [w], kq=kueue(cq("q", 8)), duration="2h")
    created = of(ev, "PodCreated")
    assert len(created) == 3
    assert all(e.data["requests"] == {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "2"} for e in created)
    assert of(ev, "QuotaReserved")[0].data["usage"] == {"h100": {"cpu": "12", "memory": "48Gi",
                                                                   "nvidia.com/gpu": "6"}}


def test_starving_coscheduling_gang_survives_many_retries(tmp_path: Path) -> None:
    # a 1-GPU pod holds the node for 10h; a 2x4-GPU coscheduling gang reserves 4, fails the second
    # member, rejects the group, and is retried every 10 s (capped backoff) for hours
    run(tmp_path, [pool(1)], [wl("nb", 0, gpus=1, runtime="10h", tol=True),
                              wl("g", 1, gpus=4, replicas=2, tol=True, gang={"policy": "coscheduling"})],
        duration="4h")


# ------------------------------------------------------------------------------ the example scenarios


EXAMPLES = ["kueue-two-teams", "train64-kueue", "train64-coscheduling", "train64-workload-api"]


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_scenario_runs_and_validates(tmp_path: Path, name: str) -> None:
    summary = simulate_to(SCENARIOS / f"{name}.yaml", tmp_path / "out")
    assert summary.get("warnings") is None
    tl = read_timeline(tmp_path / "out" / "timeline.jsonl")
    assert tl.problems == []
    assert_clean(tl.events)
    assert summary["pods"]["scheduled"] > 0
    if name.startswith("train64"):
        created = of(tl.events, "WorkloadCreated")
        assert [e.data["policy"] for e in created] == [name.removeprefix("train64-")] * 5
        assert all(e.data["pods"] == 8 and e.data["minCount"] == 8 for e in created)


def test_train64_variants_differ_only_in_gang_policy() -> None:
    docs = {v: yaml.safe_load((SCENARIOS / f"train64-{v}.yaml").read_text(encoding="utf-8"))
            for v in ("kueue", "coscheduling", "workload-api")}
    norm = {}
    for v, d in docs.items():
        spec = dict(d["spec"])
        spec.pop("kueue", None)
        ws = []
        for w in spec["workloads"]:
            w = dict(w)
            w.pop("queue", None)
            if "gang" in w:
                assert w["gang"]["policy"] == v
                w.pop("gang")
            ws.append(w)
        spec["workloads"] = ws
        norm[v] = json.dumps(spec, sort_keys=True)
    assert len(set(norm.values())) == 1


def test_two_teams_uses_manifests_and_shows_borrowing_and_preemption(tmp_path: Path) -> None:
    d = yaml.safe_load((SCENARIOS / "kueue-two-teams.yaml").read_text(encoding="utf-8"))
    assert d["spec"]["manifests"] == ["manifests/team-b-queues.yaml"]
    for m in d["spec"]["manifests"]:
        kinds = [x["kind"] for x in yaml.safe_load_all((SCENARIOS / m).read_text(encoding="utf-8"))]
        assert kinds == ["ClusterQueue", "LocalQueue"]
    assert [w["job"] for w in d["spec"]["workloads"] if "job" in w] == ["manifests/finetune-job.yaml"]
    simulate_to(SCENARIOS / "kueue-two-teams.yaml", tmp_path / "out")
    ev = read_timeline(tmp_path / "out" / "timeline.jsonl").events
    cqs = {e.name: e.data for e in ev if e.type == "QueueConfigured" and e.kind == "ClusterQueue"}
    assert sorted(cqs) == ["platform", "research"]
    assert cqs["research"]["cohort"] == cqs["platform"]["cohort"] == "h100-pool"
    assert cqs["research"]["preemption"] == {"withinClusterQueue": "LowerPriority", "reclaimWithinCohort": "Any"}
    ft = [e for e in of(ev, "PodCreated") if e.data["workload"] == "finetune"]
    assert ft and len(ft) % 2 == 0   # parallelism 2 from the Job manifest
    assert all(e.data["requests"] == {"cpu": "48", "memory": "400Gi", "nvidia.com/gpu": "4"} for e in ft)
    assert {e.data["clusterQueue"] for e in of(ev, "QuotaReserved") if e.data.get("borrowed")} == \
        {"platform", "research"}
    assert "Preempted" in {e.reason for e in of(ev, "Evicted")}


def test_block_admission_admits_one_workload_when_unblocked(tmp_path: Path) -> None:
    # one 8-GPU node; three ClusterQueues of 16 GPUs; every 2x8 workload is admitted by quota and can
    # never be PodsReady. c is admitted at 0 and blocks; a (queue x) and b (queue y) arrive at 10 s.
    # When c is evicted at 600 s, blockAdmission allows one admission, which then blocks again.
    kq = kueue(cq("x", 16), cq("y", 16), cq("z", 16), wfpr={"blockAdmission": True, "timeout": "10m"})
    ev = run(tmp_path, [pool(1)], [
        wl("c", 0, gpus=8, replicas=2, queue="z", gang={"policy": "kueue"}),
        wl("a", 10, gpus=8, replicas=2, queue="x", gang={"policy": "kueue"}),
        wl("b", 10, gpus=8, replicas=2, queue="y", gang={"policy": "kueue"})], kq=kq, duration="700s",
        check=False)
    assert times(ev, "Admitted")[0] == ("c-0", 0.0)
    assert [t for _, t in times(ev, "Admitted")].count(600.0) == 1
