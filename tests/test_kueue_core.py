"""The Kueue admission core (sim/kueue/): queueing strategies, flavor assignment, borrowing and
lending limits, preemption, PodsReady backoff, and the quota invariant G6 as a property."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.kueue import KueueSection
from sim.kueue import KueueCore, PodSetRequest, QueuedWorkload, backoff_seconds


def cq(name: str, quotas: dict[str, dict[str, Any]], *, cohort: str | None = None,
       strategy: str = "BestEffortFIFO", preemption: dict[str, Any] | None = None,
       fungibility: dict[str, Any] | None = None, flavors: list[str] | None = None) -> dict[str, Any]:
    """A ClusterQueue with one resource group; ``quotas`` = {flavor: {resource: nominal | dict}}."""
    flavor_names = flavors or list(quotas)
    covered = sorted({r for fq in quotas.values() for r in fq})
    spec: dict[str, Any] = {
        "queueingStrategy": strategy,
        "resourceGroups": [{
            "coveredResources": covered,
            "flavors": [{"name": f, "resources": [
                {"name": r, **(q if isinstance(q, dict) else {"nominalQuota": q})}
                for r, q in quotas[f].items()]} for f in flavor_names],
        }],
    }
    if cohort:
        spec["cohortName"] = cohort
    if preemption:
        spec["preemption"] = preemption
    if fungibility:
        spec["flavorFungibility"] = fungibility
    return {"metadata": {"name": name}, "spec": spec}


def core(cqs: list[dict[str, Any]], flavors: list[dict[str, Any]] | None = None,
         wfpr: dict[str, Any] | None = None) -> KueueCore:
    names = sorted({f["name"] for c in cqs for g in c["spec"]["resourceGroups"] for f in g["flavors"]})
    fl = flavors or [{"metadata": {"name": n}} for n in names]
    lqs = [{"metadata": {"name": c["metadata"]["name"], "namespace": "ns"},
            "spec": {"clusterQueue": c["metadata"]["name"]}} for c in cqs]
    section = KueueSection.model_validate({"resourceFlavors": fl, "clusterQueues": cqs, "localQueues": lqs,
                                           "waitForPodsReady": wfpr or {}})
    return KueueCore.from_section(section)


def wl(name: str, queue: str, t: float, cpu: int = 0, gpu: int = 0, count: int = 1, priority: int = 0,
       **ps: Any) -> QueuedWorkload:
    req = {}
    if cpu:
        req["cpu"] = cpu * 1000
    if gpu:
        req["nvidia.com/gpu"] = gpu * 1000
    return QueuedWorkload(f"ns/{name}", queue, priority, t, [PodSetRequest("main", count, req, **ps)])


def admitted(r: Any) -> list[str]:
    return [a.workload for a in r.admissions]


# --- queueing strategies ---------------------------------------------------------------------------


@pytest.mark.parametrize("strategy, expect", [("BestEffortFIFO", ["ns/small"]), ("StrictFIFO", [])])
def test_blocked_head_blocks_only_under_strict_fifo(strategy: str, expect: list[str]) -> None:
    k = core([cq("q", {"f": {"cpu": 10}}, strategy=strategy)])
    k.submit(wl("running", "q", 0, cpu=6), 0)
    assert admitted(k.run_cycles(0)) == ["ns/running"]
    k.submit(wl("big", "q", 1, cpu=8), 1)
    k.submit(wl("small", "q", 2, cpu=2), 2)
    r = k.run_cycles(2)
    assert admitted(r) == expect
    big = next(p for p in r.pending if p.workload == "ns/big")
    assert big.reason == "WaitingForQuota"
    assert big.message == ("couldn't assign flavors to pod set main: "
                           "insufficient unused quota for cpu in flavor f, 4 more needed")
    # finishing the running workload lets the big one in under either strategy
    k.finish("ns/running", 3)
    assert admitted(k.run_cycles(3)) == ["ns/big"] if strategy == "BestEffortFIFO" else ["ns/big", "ns/small"]


def test_equivalent_workloads_are_parked_together() -> None:
    k = core([cq("q", {"f": {"cpu": 10}})])
    k.submit(wl("running", "q", 0, cpu=6), 0)
    k.run_cycles(0)
    for i in range(1, 4):
        k.submit(wl(f"big{i}", "q", i, cpu=8), i)
    k.submit(wl("small", "q", 9, cpu=2), 9)
    r = k.run_cycles(9)
    assert admitted(r) == ["ns/small"]
    assert [p.workload for p in r.pending] == ["ns/big1"]  # big2, big3 parked without another try
    assert [k.status(f"ns/big{i}").state for i in range(1, 4)] == ["Inadmissible"] * 3
    assert k.status("ns/big3").message == k.status("ns/big1").message
    k.finish("ns/running", 10)
    assert admitted(k.run_cycles(10)) == ["ns/big1"]


def test_queue_order_is_priority_then_creation() -> None:
    k = core([cq("q", {"f": {"cpu": 1}})])
    k.submit(wl("old-low", "q", 0, cpu=1, priority=0), 0)
    k.submit(wl("new-high", "q", 1, cpu=1, priority=10), 1)
    k.submit(wl("new-low", "q", 2, cpu=1, priority=0), 2)
    assert k.pending_workloads("q") == ["ns/new-high", "ns/old-low", "ns/new-low"]
    assert admitted(k.run_cycles(2)) == ["ns/new-high"]


def test_one_admission_per_cluster_queue_per_cycle() -> None:
    k = core([cq("q", {"f": {"cpu": 10}})])
    for i in range(3):
        k.submit(wl(f"w{i}", "q", i, cpu=1), i)
    assert admitted(k.schedule(3)) == ["ns/w0"]
    assert admitted(k.schedule(3)) == ["ns/w1"]
    assert admitted(k.run_cycles(3)) == ["ns/w2"]


def test_all_pod_sets_reserved_at_once() -> None:
    k = core([cq("q", {"f": {"cpu": 10}})])
    w = QueuedWorkload("ns/js", "q", 0, 0.0, [PodSetRequest("leader", 1, {"cpu": 2000}),
                                               PodSetRequest("workers", 5, {"cpu": 2000})])
    k.submit(w, 0)
    r = k.run_cycles(0)
    assert r.pending[0].message == (
        "couldn't assign flavors to pod set workers: insufficient quota for cpu in flavor f, previously "
        "considered podsets requests (2) + current podset request (10) > maximum capacity (10)")
    assert k.usage() == {"q": {"f": {"cpu": 0}}}


# --- borrowing and lending -------------------------------------------------------------------------


def test_borrowing_stops_at_borrowing_limit() -> None:
    k = core([cq("a", {"f": {"cpu": {"nominalQuota": 10, "borrowingLimit": 5}}}, cohort="c"),
              cq("b", {"f": {"cpu": 10}}, cohort="c")])
    k.submit(wl("a1", "a", 0, cpu=15), 0)
    r = k.run_cycles(0)
    assert admitted(r) == ["ns/a1"]
    assert r.admissions[0].borrowed is True
    assert r.admissions[0].usage == {"f": {"cpu": 15000}}
    assert k.borrowed() == {"a": {"f": {"cpu": 5000}}}
    k.submit(wl("a2", "a", 1, cpu=1), 1)
    r = k.run_cycles(1)
    assert admitted(r) == []
    assert r.pending[0].message.endswith("insufficient unused quota for cpu in flavor f, 1 more needed")
    k.submit(wl("a3", "b", 2, cpu=5), 2)  # b can still use its own quota
    assert admitted(k.run_cycles(2)) == ["ns/a3"]


def test_request_above_nominal_plus_borrowing_limit_never_fits() -> None:
    k = core([cq("a", {"f": {"cpu": {"nominalQuota": 10, "borrowingLimit": 5}}}, cohort="c"),
              cq("b", {"f": {"cpu": 10}}, cohort="c")])
    k.submit(wl("huge", "a", 0, cpu=16), 0)
    r = k.run_cycles(0)
    assert r.pending[0].message.endswith("current podset request (16) > maximum capacity (15)")


def test_lending_limit_caps_what_a_queue_lends() -> None:
    k = core([cq("a", {"f": {"cpu": 10}}, cohort="c"),
              cq("b", {"f": {"cpu": {"nominalQuota": 10, "lendingLimit": 4}}}, cohort="c")])
    k.submit(wl("too-much", "a", 0, cpu=15), 0)
    r = k.run_cycles(0)
    assert r.pending[0].message.endswith("> maximum capacity (14)")
    k.submit(wl("fits", "a", 1, cpu=14), 1)
    assert admitted(k.run_cycles(1)) == ["ns/fits"]
    # b keeps its 6 guaranteed (non-lendable) cpus
    k.submit(wl("b-own", "b", 2, cpu=6), 2)
    assert admitted(k.run_cycles(2)) == ["ns/b-own"]
    assert k.usage() == {"a": {"f": {"cpu": 14000}}, "b": {"f": {"cpu": 6000}}}


def test_no_borrowing_without_cohort() -> None:
    k = core([cq("a", {"f": {"cpu": {"nominalQuota": 10, "borrowingLimit": 5}}})])
    k.submit(wl("a1", "a", 0, cpu=11), 0)
    assert k.run_cycles(0).pending[0].message.endswith("> maximum capacity (10)")


def test_cohort_is_not_over_admitted_in_one_cycle() -> None:
    k = core([cq("a", {"f": {"cpu": 10}}, cohort="c"), cq("b", {"f": {"cpu": 10}}, cohort="c")])
    k.submit(wl("a1", "a", 0, cpu=15), 0)
    k.submit(wl("b1", "b", 1, cpu=15), 1)
    r = k.schedule(1)
    assert admitted(r) == ["ns/a1"]
    assert [(p.workload, p.message) for p in r.pending] == [
        ("ns/b1", "Workload no longer fits after processing another workload")]


def test_non_borrowing_heads_go_first_in_a_cycle() -> None:
    k = core([cq("a", {"f": {"cpu": 10}}, cohort="c"), cq("b", {"f": {"cpu": 10}}, cohort="c")])
    k.submit(wl("a-borrows", "a", 0, cpu=12, priority=100), 0)
    k.submit(wl("b-within", "b", 1, cpu=9), 1)
    r = k.schedule(1)
    assert admitted(r) == ["ns/b-within"]
    assert r.pending[0].workload == "ns/a-borrows"


# --- flavors --------------------------------------------------------------------------------------


FLAVORS = [
    {"metadata": {"name": "spot"}, "spec": {"nodeLabels": {"tier": "spot"},
                                            "tolerations": [{"key": "spot", "operator": "Exists",
                                                             "effect": "NoSchedule"}]}},
    {"metadata": {"name": "on-demand"}, "spec": {"nodeLabels": {"tier": "on-demand"}}},
    {"metadata": {"name": "reserved"}, "spec": {"nodeLabels": {"tier": "reserved"},
                                                "nodeTaints": [{"key": "reserved", "value": "true",
                                                                "effect": "NoSchedule"}]}},
]


def test_flavor_fallthrough_to_second_flavor_and_injected_constraints() -> None:
    k = core([cq("q", {"spot": {"nvidia.com/gpu": 8}, "on-demand": {"nvidia.com/gpu": 8}})], FLAVORS)
    k.submit(wl("w1", "q", 0, gpu=8), 0)
    k.submit(wl("w2", "q", 1, gpu=8), 1)
    r = k.run_cycles(1)
    assert [(a.workload, a.flavors) for a in r.admissions] == [
        ("ns/w1", {"main": {"nvidia.com/gpu": "spot"}}), ("ns/w2", {"main": {"nvidia.com/gpu": "on-demand"}})]
    a1, a2 = r.admissions
    assert a1.node_selector == {"main": {"tier": "spot"}}
    assert a1.tolerations == {"main": [{"key": "spot", "operator": "Exists", "effect": "NoSchedule"}]}
    assert a2.node_selector == {"main": {"tier": "on-demand"}} and a2.tolerations == {"main": []}


def test_flavor_skipped_when_node_selector_conflicts() -> None:
    k = core([cq("q", {"spot": {"cpu": 8}, "on-demand": {"cpu": 8}})], FLAVORS)
    k.submit(wl("w", "q", 0, cpu=1, node_selector={"tier": "on-demand", "other": "x"}), 0)
    assert k.run_cycles(0).admissions[0].flavors == {"main": {"cpu": "on-demand"}}


def test_flavor_skipped_by_required_affinity_and_untolerated_taint() -> None:
    k = core([cq("q", {"reserved": {"cpu": 8}, "spot": {"cpu": 8}, "on-demand": {"cpu": 8}})], FLAVORS)
    terms = [{"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["spot"]}]}]
    k.submit(wl("w", "q", 0, cpu=1, node_affinity_terms=terms), 0)
    r = k.run_cycles(0)
    assert r.admissions[0].flavors == {"main": {"cpu": "on-demand"}}
    k2 = core([cq("q", {"reserved": {"cpu": 8}})], FLAVORS)
    k2.submit(wl("w", "q", 0, cpu=1), 0)
    r2 = k2.run_cycles(0)
    assert r2.pending[0].reason == "NoMatchingFlavor"
    assert r2.pending[0].message == ("couldn't assign flavors to pod set main: "
                                     "untolerated taint {reserved=true:NoSchedule} in flavor reserved")
    k3 = core([cq("q", {"reserved": {"cpu": 8}})], FLAVORS)
    tol = [{"key": "reserved", "operator": "Equal", "value": "true", "effect": "NoSchedule"}]
    k3.submit(wl("w", "q", 0, cpu=1, tolerations=tol), 0)
    assert admitted(k3.run_cycles(0)) == ["ns/w"]


def test_resource_not_covered_is_unavailable() -> None:
    k = core([cq("q", {"f": {"cpu": 8}})])
    k.submit(wl("w", "q", 0, cpu=1, gpu=1), 0)
    p = k.run_cycles(0).pending[0]
    assert p.message == ("couldn't assign flavors to pod set main: "
                         "resource nvidia.com/gpu unavailable in ClusterQueue")


@pytest.mark.parametrize("when_can_borrow, flavor", [("MayStopSearch", "a"), ("TryNextFlavor", "b")])
def test_when_can_borrow(when_can_borrow: str, flavor: str) -> None:
    k = core([cq("q", {"a": {"cpu": 4}, "b": {"cpu": 8}}, cohort="c",
                 fungibility={"whenCanBorrow": when_can_borrow}),
              cq("other", {"a": {"cpu": 8}, "b": {"cpu": 0}}, cohort="c")])
    k.submit(wl("w", "q", 0, cpu=6), 0)
    r = k.run_cycles(0)
    assert r.admissions[0].flavors == {"main": {"cpu": flavor}}
    assert r.admissions[0].borrowed is (flavor == "a")


# --- preemption -----------------------------------------------------------------------------------


@pytest.mark.parametrize("policy, preempts", [("Never", False), ("LowerPriority", True),
                                              ("LowerOrNewerEqualPriority", True)])
def test_within_cluster_queue_preemption(policy: str, preempts: bool) -> None:
    k = core([cq("q", {"f": {"cpu": 10}}, preemption={"withinClusterQueue": policy})])
    k.submit(wl("low", "q", 0, cpu=8, priority=0), 0)
    k.run_cycles(0)
    k.submit(wl("high", "q", 1, cpu=8, priority=100), 1)
    r = k.run_cycles(1)
    if not preempts:
        assert r.evictions == [] and admitted(r) == []
        return
    assert [(e.workload, e.reason, e.preemptor, e.preemption_reason) for e in r.evictions] == [
        ("ns/low", "Preempted", "ns/high", "InClusterQueue")]
    assert r.evictions[0].message.startswith(
        "Preempted to accommodate a workload (ns/high) due to prioritization in the ClusterQueue")
    assert admitted(r) == ["ns/high"]  # in the cycle after the one that preempted
    assert (k.status("ns/low").state, k.status("ns/low").requeue_at) == ("Backoff", 1)
    r = k.run_cycles(2)  # back in the queue, no room: parked
    assert admitted(r) == [] and k.status("ns/low").state == "Inadmissible"


def test_lower_priority_policy_spares_equal_priority() -> None:
    k = core([cq("q", {"f": {"cpu": 10}}, preemption={"withinClusterQueue": "LowerPriority"})])
    k.submit(wl("first", "q", 0, cpu=8, priority=5), 0)
    k.run_cycles(0)
    k.submit(wl("second", "q", 1, cpu=8, priority=5), 1)
    r = k.run_cycles(1)
    assert r.evictions == [] and admitted(r) == []


def test_minimal_victim_set_lowest_priority_newest_first() -> None:
    k = core([cq("q", {"f": {"cpu": 10}}, preemption={"withinClusterQueue": "LowerPriority"})])
    for name, t, cpu, prio in [("p1-old", 0, 3, 1), ("p1-new", 1, 3, 1), ("p0", 2, 2, 0), ("p2", 3, 2, 2)]:
        k.submit(wl(name, "q", t, cpu=cpu, priority=prio), t)
        k.run_cycles(t)
    k.submit(wl("high", "q", 10, cpu=5, priority=10), 10)
    r = k.run_cycles(10)
    # greedy: p0 (2), p1-new (3) -> 5 free; fill-back keeps none of them out unnecessarily
    assert [e.workload for e in r.evictions] == ["ns/p0", "ns/p1-new"]
    assert admitted(r) == ["ns/high"]


def test_reclaim_within_cohort_takes_back_lent_quota() -> None:
    def build(reclaim: str, priority: int = 0) -> KueueCore:
        k = core([cq("a", {"f": {"cpu": 10}}, cohort="c", preemption={"reclaimWithinCohort": reclaim}),
                  cq("b", {"f": {"cpu": 10}}, cohort="c")])
        k.submit(wl("b1", "b", 0, cpu=10), 0)
        k.run_cycles(0)
        k.submit(wl("b2", "b", 1, cpu=6), 1)
        k.run_cycles(1)
        assert k.borrowed() == {"b": {"f": {"cpu": 6000}}}
        k.submit(wl("a1", "a", 2, cpu=8, priority=priority), 2)
        return k

    r = build("Never").run_cycles(2)
    assert r.evictions == [] and admitted(r) == []
    k = build("Any")
    r = k.run_cycles(2)
    assert [(e.workload, e.preemption_reason) for e in r.evictions] == [("ns/b2", "InCohortReclamation")]
    assert admitted(r) == ["ns/a1"]
    assert k.usage() == {"a": {"f": {"cpu": 8000}}, "b": {"f": {"cpu": 10000}}}
    # LowerPriority reclaims only from lower-priority workloads
    r = build("LowerPriority").run_cycles(2)
    assert r.evictions == []
    r = build("LowerPriority", priority=1).run_cycles(2)
    assert [e.workload for e in r.evictions] == ["ns/b2"]


# --- PodsReady timeout ----------------------------------------------------------------------------


def test_backoff_sequence() -> None:
    assert [backoff_seconds(n) for n in range(1, 10)] == [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]


def test_pods_ready_timeout_requeues_with_backoff_and_deactivates() -> None:
    k = core([cq("q", {"f": {"cpu": 10}})], wfpr={"requeuingStrategy": {"backoffLimitCount": 3}})
    k.submit(wl("w", "q", 0, cpu=4), 0)
    now = 0.0
    seen = []
    for _ in range(3):
        assert admitted(k.run_cycles(now)) == ["ns/w"]
        now += 1800
        rq = k.evict("ns/w", now, "PodsReadyTimeout")
        assert k.usage() == {"q": {"f": {"cpu": 0}}}
        seen.append((rq.backoff_seconds, rq.requeue_at))
        assert admitted(k.run_cycles(now)) == []
        assert k.next_requeue_at() == rq.requeue_at
        now = rq.requeue_at or now
    assert seen == [(60, 1860), (120, 3780), (240, 5820)]
    assert admitted(k.run_cycles(now)) == ["ns/w"]
    rq = k.evict("ns/w", now + 1800, "PodsReadyTimeout")
    assert rq.deactivated and rq.requeue_at is None
    assert k.status("ns/w").state == "Deactivated"
    assert admitted(k.run_cycles(now + 10_000)) == []


def test_requeue_timestamp_eviction_puts_workload_behind_newer_ones() -> None:
    k = core([cq("q", {"f": {"cpu": 4}})])
    k.submit(wl("old", "q", 0, cpu=4), 0)
    k.run_cycles(0)
    k.submit(wl("newer", "q", 5, cpu=4), 5)
    k.evict("ns/old", 10, "PodsReadyTimeout")
    k.requeue("ns/old", 70)
    assert k.pending_workloads("q") == ["ns/newer", "ns/old"]
    k2 = core([cq("q", {"f": {"cpu": 4}})], wfpr={"requeuingStrategy": {"timestamp": "Creation"}})
    k2.submit(wl("old", "q", 0, cpu=4), 0)
    k2.run_cycles(0)
    k2.submit(wl("newer", "q", 5, cpu=4), 5)
    k2.evict("ns/old", 10, "PodsReadyTimeout")
    k2.requeue("ns/old", 70)
    assert k2.pending_workloads("q") == ["ns/old", "ns/newer"]


def test_block_admission_waits_for_pods_ready() -> None:
    k = core([cq("q", {"f": {"cpu": 10}})], wfpr={"blockAdmission": True})
    k.submit(wl("a", "q", 0, cpu=1), 0)
    k.submit(wl("b", "q", 1, cpu=1), 1)
    assert admitted(k.run_cycles(1)) == ["ns/a"]
    k.pods_ready("ns/a", 2)
    assert admitted(k.run_cycles(2)) == ["ns/b"]


def test_unknown_local_queue_waits() -> None:
    k = core([cq("q", {"f": {"cpu": 1}})])
    k.submit(wl("w", "nope", 0, cpu=1), 0)
    assert k.status("ns/w").state == "NoQueue"
    assert k.status("ns/w").message == "LocalQueue nope doesn't exist"


# --- property: quota invariant G6 -----------------------------------------------------------------


WITHIN = ["Never", "LowerPriority", "LowerOrNewerEqualPriority"]


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[tuple[str, int, int, int]]]:
    n = draw(st.integers(1, 4))
    cqs = []
    for i in range(n):
        q: dict[str, Any] = {"nominalQuota": draw(st.integers(0, 12))}
        if draw(st.booleans()):
            q["borrowingLimit"] = draw(st.integers(0, 8))
        if draw(st.booleans()):
            q["lendingLimit"] = draw(st.integers(0, q["nominalQuota"]))
        pre: dict[str, Any] = {
            "withinClusterQueue": draw(st.sampled_from(WITHIN)),
            "reclaimWithinCohort": draw(st.sampled_from(["Never", "LowerPriority", "Any"]))}
        if pre["reclaimWithinCohort"] != "Never" and draw(st.booleans()):
            pre["borrowWithinCohort"] = {"policy": "LowerPriority"}
        cohort = draw(st.sampled_from([None, "c1", "c2"]))
        cqs.append(cq(f"q{i}", {"f": {"cpu": q}}, cohort=cohort, preemption=pre,
                      strategy=draw(st.sampled_from(["BestEffortFIFO", "StrictFIFO"]))))
    ops = draw(st.lists(st.tuples(st.sampled_from(["submit", "submit", "finish"]).map(str),
                                  st.integers(0, n - 1), st.integers(1, 10), st.integers(0, 3)),
                        min_size=1, max_size=40))
    return cqs, [(o, q, c, p) for o, q, c, p in ops]


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_usage_never_exceeds_quota(case: tuple[list[dict[str, Any]], list[tuple[str, int, int, int]]],
                                   ) -> None:
    cqs, ops = case
    k = core(cqs)
    twin = core(cqs)  # the same calls on a second core give the same answers
    keys: list[str] = []
    for i, (op, q, cpu, prio) in enumerate(ops):
        running = [key for key in keys if k.status(key).state == "Admitted"]
        for c in (k, twin):
            if op == "submit":
                c.submit(wl(f"w{i}", f"q{q}", float(i), cpu=cpu, priority=prio), float(i))
            elif running:
                c.finish(running[q % len(running)], float(i))
        if op == "submit":
            keys.append(f"ns/w{i}")
        r = k.run_cycles(float(i))
        assert r == twin.run_cycles(float(i))
        assert len(r.evictions) <= len(keys)  # no preemption circle at one instant
        _check_g6(k)
        # the queues' usage is exactly what the admitted workloads hold
        held: dict[str, int] = {}
        for key in keys:
            a = k.admission(key)
            if a is not None:
                held[a.cluster_queue] = held.get(a.cluster_queue, 0) + a.usage["f"]["cpu"]
        assert {n: u["f"]["cpu"] for n, u in k.usage().items() if u["f"]["cpu"]} == held


def _check_g6(k: KueueCore) -> None:
    usage = k.usage()
    for name, per in usage.items():
        for f, res in per.items():
            for r, used in res.items():
                nominal, borrowing_limit, _ = k.quota(name)[f][r]
                assert used >= 0
                if borrowing_limit is not None:
                    assert used <= nominal + borrowing_limit
    members_of = k.cohorts()
    in_cohort = {m for ms in members_of.values() for m in ms}
    for name in usage:
        if name not in in_cohort:
            for f, res in usage[name].items():
                for r, used in res.items():
                    assert used <= k.quota(name)[f][r][0]
    for members in members_of.values():
        total_used = total_nominal = lent = lendable = 0
        for m in members:
            nominal, _, lending = k.quota(m)["f"]["cpu"]
            used = usage[m]["f"]["cpu"]
            guaranteed = max(0, nominal - lending) if lending is not None else 0
            total_used += used
            total_nominal += nominal
            lent += max(0, used - guaranteed)  # what a queue takes from the cohort's shared pool
            lendable += nominal - guaranteed
        assert total_used <= total_nominal
        assert lent <= lendable
