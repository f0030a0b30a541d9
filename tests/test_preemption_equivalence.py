"""DefaultPreemption's fast victim search picks exactly the node and victims of the plain reference
(tests/preemption_reference.py) on random clusters, across many attempts with binds and completions in
between — so its per-node memo never serves a stale dry run."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from preemption_reference import ReferencePreemption

from sim.cluster import ClusterState, Pool
from sim.pods import PodShape, SimPod
from sim.preemption import NO_ROOM, Preemption

RES = ["cpu", "memory", "nvidia.com/gpu"]


class NotPoolB:
    """A pool-level Filter plugin: shapes asking for it may not use pool ``b``."""

    name = "NotPoolB"
    depends = frozenset({"pool"})

    def __init__(self, cluster: ClusterState) -> None:
        self.cluster = cluster

    def filter(self, pod: Any, node: int, state: Any) -> str | None:
        return "pool b" if self.cluster.nodes[node].pool.name == "b" else None


def shape(cluster: ClusterState, cpu: int, gpu: int, avoid_b: bool) -> PodShape:
    req = tuple((r, q) for r, q in ((0, cpu), (2, gpu)) if q)
    sh = PodShape((req, avoid_b), req, len(RES), [], {}, None, 0, [NotPoolB(cluster)] if avoid_b else [])
    return sh


ops = st.lists(st.tuples(st.sampled_from(["bind", "bind", "unbind", "preempt"]), st.integers(0, 11),
                         st.integers(1, 8), st.integers(0, 4), st.sampled_from([0, 1, 5, 10, 100]),
                         st.booleans()), min_size=5, max_size=60)


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(ops, st.integers(1, 6), st.integers(1, 6))
def test_fast_preemption_matches_the_reference(seq: list[tuple[str, int, int, int, int, bool]],
                                               na: int, nb: int) -> None:
    c = ClusterState(RES, capacity=4)
    c.add_pool(Pool("a", {}, [], {"cpu": 8000, "memory": 64000, "nvidia.com/gpu": 4000}, None))
    c.add_pool(Pool("b", {}, [], {"cpu": 8000, "memory": 64000, "nvidia.com/gpu": 4000}, None))
    for i in range(na):
        c.add_node(f"a-{i}", c.pools["a"], 0.0)
    for i in range(nb):
        c.add_node(f"b-{i}", c.pools["b"], 0.0)
    if na % 2:  # node stamps kept as a plain list: the search reads them one by one instead of as a view
        c.stamp = list(c.stamp)  # type: ignore[assignment]
    fast, ref = Preemption(c), ReferencePreemption(c)
    owner = SimpleNamespace(kueue=False)
    shapes: dict[tuple[int, int, bool], PodShape] = {}
    bound: list[tuple[SimPod, int]] = []
    t = 0.0
    for i, (op, node, cpu, gpu, prio, avoid_b) in enumerate(seq):
        t += 1.0
        key = (cpu * 1000, gpu * 1000, avoid_b)
        sh = shapes.get(key) or shapes.setdefault(key, shape(c, *key))
        pod = SimPod(i, "default", f"p{i}", sh, prio, t, 60.0, owner)
        if sh.example is None:
            sh.example = pod
        if op == "bind":
            n = node % c.n
            if all(c.pyfree[n][r] >= q for r, q in sh.req):
                c.reserve(n, sh.req)
                c.bind(pod, n, preemptible=True)
                pod.node, pod.bound_at = n, t
                bound.append((pod, n))
        elif op == "unbind" and bound:
            victim, n = bound.pop(node % len(bound))
            c.unbind(victim, n, preemptible=True)
            c.release(n, victim.shape.req)
        elif op == "preempt":
            want = ref.find(pod)
            found = fast._find(pod, c.ledger.below(prio)) if c.ledger.below(prio) else None
            got = None if found is NO_ROOM else found
            got_names = (got[0], [v.name for v in got[1]]) if got else None
            want_names = (want[0], [v.name for v in want[1]]) if want else None
            assert got_names == want_names
            assert fast.offset == ref.offset
            if got is not None:   # carry it out, as the engine does, so later attempts see the change
                n, victims = got
                for v in victims:
                    c.unbind(v, n, preemptible=True)
                    c.release(n, v.shape.req)
                    bound = [(p, m) for p, m in bound if p is not v]
                c.reserve(n, sh.req)
                c.bind(pod, n, preemptible=True)
                pod.node, pod.bound_at = n, t
                bound.append((pod, n))


ops2 = st.lists(st.tuples(st.sampled_from(["bind", "bind", "bind", "pin", "unbind", "preempt", "preempt", "add"]),
                          st.integers(0, 15), st.integers(0, 8), st.integers(0, 4),
                          st.sampled_from([0, 1, 5, 10, 100]), st.booleans()), min_size=5, max_size=80)


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(ops2, st.integers(1, 8), st.integers(0, 3))
def test_find_matches_the_reference_with_interleaved_pools_and_protected_pods(
        seq: list[tuple[str, int, int, int, int, bool]], nodes: int, every: int) -> None:
    """Through :meth:`Preemption.find` (its "nothing changed, still hopeless" memo included), on a
    cluster whose pool ``a`` nodes are not contiguous (a shape avoiding pool ``b`` sees several
    segments, the non-slice path), nodes added between attempts, pods that are never victims (``pin``:
    Kueue-owned) and requests that no node can hold even with every lower-priority pod gone (the early
    rejection)."""
    c = ClusterState(RES, capacity=2)
    c.add_pool(Pool("a", {}, [], {"cpu": 8000, "memory": 64000, "nvidia.com/gpu": 4000}, None))
    c.add_pool(Pool("b", {}, [], {"cpu": 8000, "memory": 64000, "nvidia.com/gpu": 4000}, None))
    for i in range(nodes):  # a, b, a, b, ... (or only a when ``every`` is 0)
        pool = "b" if every and i % (every + 1) == every else "a"
        c.add_node(f"{pool}-{i}", c.pools[pool], 0.0)
    fast, ref = Preemption(c), ReferencePreemption(c)
    plain, pinned = SimpleNamespace(kueue=False), SimpleNamespace(kueue=True)
    shapes: dict[tuple[int, int, bool], PodShape] = {}
    bound: list[tuple[SimPod, int]] = []
    t = 0.0
    for i, (op, node, cpu, gpu, prio, avoid_b) in enumerate(seq):
        t += 1.0
        key = (cpu * 1000 + (9000 if op == "preempt" and node == 0 else 0), gpu * 1000, avoid_b)
        sh = shapes.get(key) or shapes.setdefault(key, shape(c, *key))
        pod = SimPod(i, "default", f"p{i}", sh, prio, t, 60.0, pinned if op == "pin" else plain)
        if sh.example is None:
            sh.example = pod
        if op in ("bind", "pin"):
            n = node % c.n
            if all(c.pyfree[n][r] >= q for r, q in sh.req):
                c.reserve(n, sh.req)
                c.bind(pod, n, preemptible=op == "bind")
                pod.node, pod.bound_at = n, t
                bound.append((pod, n))
        elif op == "add":  # the cluster grows past its arrays' capacity between attempts
            pool = "b" if avoid_b else "a"
            c.add_node(f"{pool}-{c.n}", c.pools[pool], t)
        elif op == "unbind" and bound:
            victim, n = bound.pop(node % len(bound))
            c.unbind(victim, n, preemptible=not victim.instance.kueue)
            c.release(n, victim.shape.req)
        elif op == "preempt":
            want = ref.find(pod)
            got = fast.find(pod)
            got_names = (got[0], [v.name for v in got[1]]) if got else None
            want_names = (want[0], [v.name for v in want[1]]) if want else None
            assert got_names == want_names
            assert fast.offset == ref.offset
            if got is None:  # the same attempt again at once: the memo answers, and must agree
                assert fast.find(pod) is None and ref.find(pod) is None
            if got is not None:
                n, victims = got
                assert all(not v.instance.kueue for v in victims)
                for v in victims:
                    c.unbind(v, n, preemptible=True)
                    c.release(n, v.shape.req)
                    bound = [(p, m) for p, m in bound if p is not v]
                c.reserve(n, sh.req)
                c.bind(pod, n, preemptible=True)
                pod.node, pod.bound_at = n, t
                bound.append((pod, n))
