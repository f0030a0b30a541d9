"""Kueue's admission core (``sim.kueue``) against hand-derived expectations and an independent model.

This replaces a test that compared the core with an earlier commit of itself (which could only show that
nothing changed, not that anything was right). Two kinds of evidence:

* **Hand-derived cases**: small ClusterQueue set-ups whose outcome is worked out by hand from Kueue's
  rules (quota, cohort borrowing and lending limits, flavor order, queueing strategies, priority order,
  preemption within a ClusterQueue, the PodsReady backoff) and pinned to exact values.
* **An independent model** for ClusterQueues without a cohort and without preemption, written from the
  Kueue documentation, not from ``sim/kueue.py``: pending workloads in order (priority descending, then
  creation, then key) are admitted greedily into the first flavor with room; ``BestEffortFIFO`` skips one
  that does not fit, ``StrictFIFO`` stops at it. After every ``run_cycles`` the set of admitted workloads
  and their flavors, and every ClusterQueue's usage, must equal the model's.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from models.kueue import KueueSection
from sim.kueue import KueueCore, PodSetRequest, QueuedWorkload, backoff_seconds

# ---------------------------------------------------------------------------------------------------
# Building set-ups


def quota(name: str, nominal: int, borrowing: int | None = None, lending: int | None = None) -> dict[str, Any]:
    q: dict[str, Any] = {"name": "cpu", "nominalQuota": nominal}
    if borrowing is not None:
        q["borrowingLimit"] = borrowing
    if lending is not None:
        q["lendingLimit"] = lending
    return {"name": name, "resources": [q]}


def cluster_queue(name: str, *flavors: dict[str, Any], cohort: str | None = None, strategy: str = "BestEffortFIFO",
                  preemption: dict[str, Any] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"queueingStrategy": strategy,
                            "resourceGroups": [{"coveredResources": ["cpu"], "flavors": list(flavors)}]}
    if cohort:
        spec["cohortName"] = cohort
    if preemption:
        spec["preemption"] = preemption
    return {"metadata": {"name": name}, "spec": spec}


def core(*cqs: dict[str, Any], wait_for_pods_ready: dict[str, Any] | None = None) -> KueueCore:
    lqs = [{"metadata": {"name": c["metadata"]["name"], "namespace": "ns"},
            "spec": {"clusterQueue": c["metadata"]["name"]}} for c in cqs]
    doc: dict[str, Any] = {"resourceFlavors": [{"metadata": {"name": "f"}}, {"metadata": {"name": "g"}}],
                           "clusterQueues": list(cqs), "localQueues": lqs}
    if wait_for_pods_ready:
        doc["waitForPodsReady"] = wait_for_pods_ready
    return KueueCore.from_section(KueueSection.model_validate(doc))


def submit(k: KueueCore, name: str, queue: str, cpu: int, *, priority: int = 0, t: float = 0.0,
           count: int = 1) -> None:
    k.submit(QueuedWorkload(f"ns/{name}", queue, priority, t, (PodSetRequest("main", count, {"cpu": cpu * 1000}),)), t)


def admitted(k: KueueCore, *names: str) -> dict[str, tuple[str, str]]:
    """``name → (ClusterQueue, flavor)`` of the admitted ones among ``names``."""
    out = {}
    for name in names:
        a = k.admission(f"ns/{name}")
        if a is not None:
            out[name] = (a.cluster_queue, a.flavors["main"]["cpu"])
    return out


def state(k: KueueCore, name: str) -> str:
    return k.status(f"ns/{name}").state


# ---------------------------------------------------------------------------------------------------
# Hand-derived cases


def test_borrowing_from_the_cohort_and_reclaiming_it_back_on_finish() -> None:
    # q0 and q1 hold 4 CPU each in cohort c: q0 may use 6 by borrowing 2 of q1's unused quota.
    k = core(cluster_queue("q0", quota("f", 4), cohort="c"), cluster_queue("q1", quota("f", 4), cohort="c"))
    submit(k, "big", "q0", 6)
    k.run_cycles(0)
    assert admitted(k, "big") == {"big": ("q0", "f")}
    assert k.usage() == {"q0": {"f": {"cpu": 6000}}, "q1": {"f": {"cpu": 0}}}
    assert k.borrowed() == {"q0": {"f": {"cpu": 2000}}}
    # q1's own 4 CPU workload finds only 2 left (no preemption configured): it waits...
    submit(k, "own", "q1", 4, t=1)
    k.run_cycles(1)
    assert state(k, "own") in ("Pending", "Inadmissible") and admitted(k, "own") == {}
    # ...until the borrower finishes
    k.finish("ns/big", 2)
    k.run_cycles(2)
    assert admitted(k, "own") == {"own": ("q1", "f")}
    assert k.borrowed() == {}


def test_borrowing_limit_and_lending_limit_bound_what_moves() -> None:
    # q1 lends at most 1 of its 4: q0 (nominal 4) can reach 5, not 6
    k = core(cluster_queue("q0", quota("f", 4), cohort="c"), cluster_queue("q1", quota("f", 4, lending=1), cohort="c"))
    submit(k, "six", "q0", 6)
    submit(k, "five", "q0", 5, t=1)
    k.run_cycles(1)
    assert admitted(k, "six", "five") == {"five": ("q0", "f")}
    # q0 may borrow at most 1 even though q1 lends everything
    k = core(cluster_queue("q0", quota("f", 4, borrowing=1), cohort="c"),
             cluster_queue("q1", quota("f", 4), cohort="c"))
    submit(k, "six", "q0", 6)
    submit(k, "five", "q0", 5, t=1)
    k.run_cycles(1)
    assert admitted(k, "six", "five") == {"five": ("q0", "f")}


def test_flavors_are_tried_in_order() -> None:
    k = core(cluster_queue("q0", quota("f", 2), quota("g", 4)))
    submit(k, "a", "q0", 2)
    submit(k, "b", "q0", 3, t=1)
    submit(k, "c", "q0", 1, t=2)
    k.run_cycles(2)
    # a fills f; b does not fit f (0 left), fits g (4); c: f is full, g has 1 left
    assert admitted(k, "a", "b", "c") == {"a": ("q0", "f"), "b": ("q0", "g"), "c": ("q0", "g")}
    assert k.usage() == {"q0": {"f": {"cpu": 2000}, "g": {"cpu": 4000}}}


def test_best_effort_skips_a_head_that_does_not_fit_strict_waits() -> None:
    for strategy, expected in (("BestEffortFIFO", {"small": ("q0", "f")}), ("StrictFIFO", {})):
        k = core(cluster_queue("q0", quota("f", 4), strategy=strategy))
        submit(k, "huge", "q0", 6)
        submit(k, "small", "q0", 2, t=1)
        k.run_cycles(1)
        assert admitted(k, "huge", "small") == expected, strategy


def test_priority_before_creation_time() -> None:
    k = core(cluster_queue("q0", quota("f", 4)))
    submit(k, "early-low", "q0", 4, priority=0, t=0)
    submit(k, "late-high", "q0", 4, priority=10, t=5)
    k.run_cycles(5)
    assert admitted(k, "early-low", "late-high") == {"late-high": ("q0", "f")}


def test_preemption_within_the_cluster_queue_evicts_the_lower_priority_workload() -> None:
    k = core(cluster_queue("q0", quota("f", 4), preemption={"withinClusterQueue": "LowerPriority"}))
    submit(k, "low", "q0", 3, priority=0)
    k.run_cycles(0)
    submit(k, "high", "q0", 2, priority=5, t=1)
    result = k.run_cycles(1)
    assert [(e.workload, e.reason, e.preemptor) for e in result.evictions] == [("ns/low", "Preempted", "ns/high")]
    k.run_cycles(1.5)  # the victim's pods are gone: the preemptor is admitted in a later cycle
    assert admitted(k, "low", "high") == {"high": ("q0", "f")}
    assert k.usage() == {"q0": {"f": {"cpu": 2000}}}


def test_without_preemption_a_higher_priority_workload_waits() -> None:
    k = core(cluster_queue("q0", quota("f", 4)))
    submit(k, "low", "q0", 3, priority=0)
    k.run_cycles(0)
    submit(k, "high", "q0", 2, priority=5, t=1)
    assert k.run_cycles(1).evictions == []
    assert admitted(k, "low", "high") == {"low": ("q0", "f")}


def test_pods_ready_timeout_backs_off_exponentially_then_deactivates() -> None:
    assert [backoff_seconds(n) for n in range(0, 8)] == [0.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 3600.0]
    k = core(cluster_queue("q0", quota("f", 4)), wait_for_pods_ready={
        "enable": True, "requeuingStrategy": {"timestamp": "Eviction", "backoffLimitCount": 2,
                                              "backoffBaseSeconds": 10}})
    submit(k, "w", "q0", 4)
    k.run_cycles(0)
    first = k.evict("ns/w", 100, "PodsReadyTimeout")
    assert (first.backoff_seconds, first.requeue_at, first.count) == (10.0, 110.0, 1)
    k.run_cycles(105)
    assert admitted(k, "w") == {}  # still backing off
    k.run_cycles(110)
    assert admitted(k, "w") == {"w": ("q0", "f")}
    second = k.evict("ns/w", 200, "PodsReadyTimeout")
    assert (second.backoff_seconds, second.requeue_at, second.count) == (20.0, 220.0, 2)
    k.run_cycles(220)
    third = k.evict("ns/w", 300, "PodsReadyTimeout")
    assert third.deactivated and state(k, "w") == "Deactivated"


# ---------------------------------------------------------------------------------------------------
# The independent model


class Model:
    """ClusterQueues without cohort or preemption, from Kueue's documented queueing behaviour."""

    def __init__(self, nominal: dict[str, dict[str, int]], strategy: dict[str, str]) -> None:
        self.nominal = nominal  # cq → flavor (in order) → milli CPU
        self.strategy = strategy
        self.pending: dict[str, tuple[str, int, float, int]] = {}  # key → (cq, priority, creation, milli)
        self.admitted: dict[str, tuple[str, str, int]] = {}  # key → (cq, flavor, milli)

    def used(self, cq: str, flavor: str) -> int:
        return sum(m for c, f, m in self.admitted.values() if (c, f) == (cq, flavor))

    def submit(self, key: str, cq: str, priority: int, creation: float, milli: int) -> None:
        self.pending[key] = (cq, priority, creation, milli)

    def finish(self, key: str) -> None:
        self.pending.pop(key, None)
        self.admitted.pop(key, None)

    def run(self) -> None:
        for cq in self.nominal:
            queue = sorted((k for k, p in self.pending.items() if p[0] == cq),
                           key=lambda k: (-self.pending[k][1], self.pending[k][2], k))
            for key in queue:
                milli = self.pending[key][3]
                flavor = next((f for f, n in self.nominal[cq].items() if self.used(cq, f) + milli <= n), None)
                if flavor is None:
                    if self.strategy[cq] == "StrictFIFO":
                        break
                    continue
                del self.pending[key]
                self.admitted[key] = (cq, flavor, milli)

    def usage(self) -> dict[str, dict[str, dict[str, int]]]:
        return {cq: {f: {"cpu": self.used(cq, f)} for f in sorted(fl)} for cq, fl in self.nominal.items()}


@st.composite
def setups(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[tuple[str, int, int, int, int, int]]]:
    cqs = []
    for i in range(draw(st.integers(1, 3))):
        names = draw(st.sampled_from([["f"], ["f", "g"], ["g", "f"]]))
        flavors = [quota(name, draw(st.integers(0, 12))) for name in names]
        cqs.append(cluster_queue(f"q{i}", *flavors, strategy=draw(st.sampled_from(["BestEffortFIFO", "StrictFIFO"]))))
    op = st.tuples(st.sampled_from(["submit", "submit", "submit", "finish", "run"]), st.integers(0, len(cqs) - 1),
                   st.integers(1, 8), st.integers(0, 2), st.integers(1, 2), st.integers(0, 1))
    return cqs, draw(st.lists(op, min_size=1, max_size=50))


@settings(max_examples=300, deadline=None)
@given(setups())
def test_core_matches_the_independent_model(setup: tuple[list[dict[str, Any]], list[tuple[Any, ...]]]) -> None:
    cqs, ops = setup
    k = core(*cqs)
    nominal = {c["metadata"]["name"]: {f["name"]: f["resources"][0]["nominalQuota"] * 1000
                                       for f in c["spec"]["resourceGroups"][0]["flavors"]} for c in cqs}
    model = Model(nominal, {c["metadata"]["name"]: c["spec"]["queueingStrategy"] for c in cqs})
    keys: list[str] = []
    t = 0.0
    for i, (op, q, cpu, priority, count, dt) in enumerate(ops):
        t += dt
        if op == "submit":
            name = f"w{i:02d}"
            submit(k, name, f"q{q}", cpu, priority=priority, t=t, count=count)
            model.submit(f"ns/{name}", f"q{q}", priority, t, cpu * count * 1000)
            keys.append(f"ns/{name}")
        elif op == "finish" and keys:
            key = keys[(q * 7 + cpu) % len(keys)]
            if k.status(key).state != "Finished":
                k.finish(key, t)
                model.finish(key)
        elif op == "run":
            k.run_cycles(t)
            model.run()
            got = {key: (a.cluster_queue, a.flavors["main"]["cpu"], a.usage[a.flavors["main"]["cpu"]]["cpu"])
                   for key in keys if (a := k.admission(key)) is not None}
            assert got == model.admitted
        assert k.usage() == model.usage()
