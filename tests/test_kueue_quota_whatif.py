"""Kueue's quota usage is forkable (sim/kueue/quota.py on sim/snapshot.py's UndoLog): random usage adds and
removes inside ``what_if()`` — nested forks committed or reverted included — leave every ClusterQueue's
usage and every cohort's Σ usage above guaranteed exactly as before, and the cohort sums stay consistent
with the per-queue usage inside the forks."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from models.kueue import KueueSection
from sim.kueue.quota import QuotaState

FLAVOR_RESOURCES = [("f", "cpu"), ("g", "cpu"), ("f", "nvidia.com/gpu")]


@st.composite
def quota_states(draw: st.DrawFn) -> QuotaState:
    cluster_queues = []
    for i in range(draw(st.integers(1, 4))):
        flavors: dict[str, list[dict[str, Any]]] = {}
        for flavor, resource in FLAVOR_RESOURCES:
            quota: dict[str, Any] = {"name": resource, "nominalQuota": draw(st.integers(0, 12))}
            if draw(st.booleans()):
                quota["borrowingLimit"] = draw(st.integers(0, 8))
            if draw(st.booleans()):
                quota["lendingLimit"] = draw(st.integers(0, quota["nominalQuota"]))
            flavors.setdefault(flavor, []).append(quota)
        spec: dict[str, Any] = {"resourceGroups": [{"coveredResources": ["cpu", "nvidia.com/gpu"], "flavors": [
            {"name": f, "resources": rs} for f, rs in flavors.items()]}]}
        cohort = draw(st.sampled_from([None, "c1", "c1", "c2"]))
        if cohort:
            spec["cohortName"] = cohort
        cluster_queues.append({"metadata": {"name": f"q{i}"}, "spec": spec})
    section = KueueSection.model_validate({"resourceFlavors": [{"metadata": {"name": "f"}},
                                                               {"metadata": {"name": "g"}}],
                                           "clusterQueues": cluster_queues})
    return QuotaState(section.cluster_queues)


# an operation: ("add", queue index, flavor-resource index, milli, sign) | ("fork", commit?) | ("close",)
OPERATION = st.one_of(
    st.tuples(st.just("add"), st.integers(0, 3), st.integers(0, len(FLAVOR_RESOURCES) - 1),
              st.integers(0, 20_000), st.sampled_from([1, -1])),
    st.tuples(st.just("fork"), st.booleans()),
    st.tuples(st.just("close")),
)


def _state(quota: QuotaState) -> Any:
    return ({name: dict(cq.usage) for name, cq in quota.cluster_queues.items()},
            copy.deepcopy(quota.cohort_used))


def _apply(quota: QuotaState, op: tuple[Any, ...]) -> None:
    queues = list(quota.cluster_queues.values())
    cq = queues[op[1] % len(queues)]
    quota.add_usage(cq, {FLAVOR_RESOURCES[op[2]]: op[3]}, op[4])


def _check_cohort_sums(quota: QuotaState) -> None:
    """Σ usage above guaranteed per cohort, recomputed from scratch, equals the kept sum."""
    for name, members in quota.cohorts.items():
        expected: dict[tuple[str, str], int] = {}
        for cq in members:
            for fr, used in cq.usage.items():
                q = cq.quotas.get(fr)
                guaranteed = q.guaranteed if q else 0
                expected[fr] = expected.get(fr, 0) + max(0, used - guaranteed)
        kept = quota.cohort_used[name]
        assert {fr: v for fr, v in kept.items() if v} == {fr: v for fr, v in expected.items() if v}


@settings(max_examples=200, deadline=None)
@given(quota_states(), st.lists(OPERATION, max_size=12), st.lists(OPERATION, min_size=1, max_size=40))
def test_what_if_over_quota_usage_restores_it_exactly(quota: QuotaState, setup: list[tuple[Any, ...]],
                                                      operations: list[tuple[Any, ...]]) -> None:
    for op in setup:  # committed usage before the fork (outside forks nothing is recorded)
        if op[0] == "add":
            _apply(quota, op)
    assert quota.log.depth == 0
    before = _state(quota)
    changed = False
    with quota.log.what_if():
        inner = []  # open nested forks: (handle context manager, commit on close?)
        for op in operations:
            if op[0] == "add":
                _apply(quota, op)
                changed = changed or op[3] != 0
            elif op[0] == "fork":
                manager = quota.log.what_if()
                inner.append((manager, manager.__enter__(), op[1]))
            elif inner:
                manager, fork, commit = inner.pop()
                if commit:
                    fork.commit()
                manager.__exit__(None, None, None)
            _check_cohort_sums(quota)
        while inner:
            manager, fork, commit = inner.pop()
            if commit:
                fork.commit()
            manager.__exit__(None, None, None)
    assert quota.log.depth == 0 and not quota.log.forked
    assert _state(quota) == before
    _check_cohort_sums(quota)


def test_a_what_if_really_changes_usage_inside_and_a_committed_one_keeps_it() -> None:
    section = KueueSection.model_validate({
        "resourceFlavors": [{"metadata": {"name": "f"}}],
        "clusterQueues": [{"metadata": {"name": n}, "spec": {"cohortName": "c", "resourceGroups": [
            {"coveredResources": ["cpu"], "flavors": [{"name": "f", "resources": [
                {"name": "cpu", "nominalQuota": 10, "lendingLimit": 4}]}]}]}} for n in ("a", "b")]})
    quota = QuotaState(section.cluster_queues)
    a = quota.cluster_queues["a"]
    quota.add_usage(a, {("f", "cpu"): 7000})  # 1 above a's 6 guaranteed: 1 taken from the cohort
    assert quota.cohort_used["c"] == {("f", "cpu"): 1000}
    with quota.log.what_if():
        quota.add_usage(a, {("f", "cpu"): 2000})
        assert a.usage == {("f", "cpu"): 9000} and quota.cohort_used["c"] == {("f", "cpu"): 3000}
        assert a.available(("f", "cpu")) == 4000 + 1000  # b's 4 lendable + a's 1 lendable left
    assert a.usage == {("f", "cpu"): 7000} and quota.cohort_used["c"] == {("f", "cpu"): 1000}
    with quota.log.what_if() as fork:
        quota.add_usage(a, {("f", "cpu"): 7000}, -1)
        fork.commit()
    assert a.usage == {("f", "cpu"): 0} and quota.cohort_used["c"] == {("f", "cpu"): 0}
