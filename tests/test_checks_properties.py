"""Property tests: a correct scheduler's timelines are never flagged; one wrong bind always is."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from timeline_builder import TL

from validator.checks import check, run_checks


def _valid_run(data: st.DataObject) -> tuple[TL, dict[str, int], dict[str, int]]:
    """A timeline built by a tiny first-fit scheduler that never overcommits; returns free milli-CPU."""
    n_nodes = data.draw(st.integers(1, 4), label="nodes")
    cap = {f"n{i}": data.draw(st.integers(1, 16), label=f"cpu n{i}") * 1000 for i in range(n_nodes)}
    tl = TL()
    for name, c in cap.items():
        tl.node(name, cpu=f"{c}m")
    free = dict(cap)
    bound: dict[str, tuple[str, int]] = {}
    t = 0.0
    for i in range(data.draw(st.integers(0, 40), label="steps")):
        t += data.draw(st.sampled_from([0.0, 0.0, 0.5, 1.0]), label="dt")
        release: bool = data.draw(st.booleans(), label="release?")
        if bound and release:
            pod = data.draw(st.sampled_from(sorted(bound)), label="victim")
            node, m = bound.pop(pod)
            free[node] += m
            how = data.draw(st.sampled_from(["succeeded", "failed", "deleted", "preempted"]), label="how")
            if how == "succeeded":
                tl.running(pod, t).succeeded(pod, t)
            elif how == "failed":
                tl.pod_failed(pod, t)
            elif how == "deleted":
                tl.deleted(pod, t)
            else:
                tl.preempted(pod, t)
            continue
        m = data.draw(st.integers(1, 8000), label="request")
        pod = f"ns/p{i}"
        tl.pod(pod, t, cpu=f"{m}m")
        fits = [n for n in sorted(free) if free[n] >= m]
        if fits:
            node = data.draw(st.sampled_from(fits), label="node")
            free[node] -= m
            bound[pod] = (node, m)
            tl.bind(pod, node, t)
    return tl, free, cap


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_valid_bind_release_sequences_are_never_flagged(data: st.DataObject) -> None:
    tl, _, _ = _valid_run(data)
    findings = [f for r in run_checks(tl.events) for f in r.findings]
    assert findings == []


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_one_extra_bind_on_a_full_node_is_always_flagged(data: st.DataObject) -> None:
    tl, free, _ = _valid_run(data)
    node = data.draw(st.sampled_from(sorted(free)), label="target")
    t = tl.events[-1].t
    tl.pod("ns/intruder", t, cpu=f"{free[node] + 1}m").bind("ns/intruder", node, t)
    found = check("capacity", tl.events)
    assert [(f.objects, f.t) for f in found] == [(("Pod ns/intruder", f"Node {node}"), t)]


@settings(max_examples=100, deadline=None)
@given(st.integers(2, 8), st.data())
def test_gangs_bound_in_one_instant_pass_and_split_binds_fail_g1(n: int, data: st.DataObject) -> None:
    split = data.draw(st.integers(1, n - 1), label="split")
    for together in (True, False):
        tl = TL().node("n1", cpu="64").workload("ml/g", 0, min_count=n, pods=n, timeout=60)
        for i in range(n):
            tl.pod(f"ml/g-{i}", 0, group="ml/g")
        for i in range(n):
            tl.bind(f"ml/g-{i}", "n1", 5 if together or i < split else 6, group="ml/g")
        g1 = check("G1", tl.events)
        assert (g1 == []) is together
        if not together:
            assert [f.t for f in g1] == [5.0]


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_cohort_admissions_within_quota_pass_and_one_over_is_flagged(data: st.DataObject) -> None:
    nominal = data.draw(st.lists(st.integers(0, 16), min_size=1, max_size=3), label="nominal")
    tl = TL()
    for i, n in enumerate(nominal):
        tl.cluster_queue(f"cq{i}", cohort="ai", quotas={"f": {"nvidia.com/gpu": str(n)}})
    pool = sum(nominal)
    held: dict[str, int] = {}
    t = 0.0
    for j in range(data.draw(st.integers(0, 30), label="steps")):
        t += 1
        finish: bool = data.draw(st.booleans(), label="finish?")
        if held and finish:
            wl = data.draw(st.sampled_from(sorted(held)), label="done")
            del held[wl]
            tl.finished(wl, t)
            continue
        r = data.draw(st.integers(1, 8), label="gpus")
        cq = data.draw(st.integers(0, len(nominal) - 1), label="cq")
        wl = f"a/w{j}"
        tl.kueue_workload(wl, t, pods=1, cq=f"cq{cq}")
        if sum(held.values()) + r <= pool:
            held[wl] = r
            tl.reserve(wl, t, cq=f"cq{cq}", f={"nvidia.com/gpu": str(r)}).admitted(wl, t, cq=f"cq{cq}")
    assert check("G6", tl.events) == []
    over = pool - sum(held.values()) + 1
    tl.kueue_workload("a/over", t + 1, pods=1, cq="cq0")
    tl.reserve("a/over", t + 1, cq="cq0", f={"nvidia.com/gpu": str(over)})
    assert [f.objects for f in check("G6", tl.events)] == [("Workload a/over", "Cohort ai")]
