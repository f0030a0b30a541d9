"""ClusterState's what-if snapshot (cluster-autoscaler's Fork/Revert/Commit) restores *everything*.

A fork covers free capacity, nodes added and removed, binds and per-node pod lists, the priority
ledger and search cursors; forks nest. The property: after any mix of operations, a fork, more
operations (with nested forks committed or reverted at random) and a revert, the state serializes to
exactly the bytes it had before — and the bucket index still tracks free capacity.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import sim.cluster as cluster_module
from sim.cluster import ClusterState, NodeLog, Pool

RES = ["cpu", "memory", "nvidia.com/gpu", "pods"]


@dataclass
class FakeShape:
    req: tuple[tuple[int, int], ...]


@dataclass
class FakePod:
    seq: int
    priority: int
    shape: FakeShape


class Cursor:
    """A search cursor a decision reads (like a pod shape's nextStartNodeIndex)."""

    def __init__(self) -> None:
        self.value = 0


def cluster() -> ClusterState:
    c = ClusterState(RES, capacity=4)
    c.add_pool(Pool("gpu", {}, [], {"cpu": 8000, "memory": 64000, "nvidia.com/gpu": 8000}, None))
    c.add_pool(Pool("cpu", {}, [], {"cpu": 4000, "memory": 16000}, None))
    c.enable_buckets([(0, 1), (1, 1)])
    for i in range(3):
        c.add_node(f"gpu-{i}", c.pools["gpu"], 0.0)
    for i in range(4):
        c.add_node(f"cpu-{i}", c.pools["cpu"], 0.0)
    return c


def state_bytes(c: ClusterState, cursor: Cursor) -> bytes:
    """Everything a scheduling decision can read, serialized (counters that only grow are left out)."""
    n = c.n
    assert c.buckets is not None
    buckets = {name: sorted((list(k), b.live) for k, b in p.buckets.items() if b.live)
               for name, p in c.buckets.pools.items()}
    ledger = {p: c.ledger.level(p)[:, :n].tolist() for p in sorted(c.ledger.levels)
              if c.ledger.level(p)[:, :n].any()}
    doc: dict[str, Any] = {
        "alloc": c.alloc[:, :n].tolist(), "free": c.free[:, :n].tolist(), "ready": c.ready[:n].tolist(),
        "safe": c.safe_alloc[:, :n].tolist(), "valid": c.valid[:, :n].tolist(), "pyfree": c.pyfree,
        "alloc_zero": c.alloc_zero, "nready": c.nready,
        "nodes": [(x.idx, x.name, x.pool.name, x.ready) for x in c.nodes],
        "pools": {name: (p.nodes, p.ready) for name, p in c.pools.items()},
        "pods_on": [sorted(d) for d in c.pods_on],
        "ledger": ledger, "ledger_counts": {p: k for p, k in sorted(c.ledger.counts.items()) if k},
        "bucket_keys": [list(c.buckets.node_key[i] or ()) for i in range(n)], "buckets": buckets,
        "cursor": cursor.value,
    }
    return json.dumps(doc, sort_keys=True).encode()


#: (operation, node, cpu milli, gpu milli, priority)
Op = tuple[str, int, int, int, int]
ops = st.lists(st.tuples(st.sampled_from(["reserve", "release", "bind", "unbind", "add", "remove", "cursor",
                                          "fork-commit", "fork-revert"]),
                         st.integers(0, 9), st.integers(0, 2000), st.integers(0, 1000), st.integers(-2, 2)),
               max_size=25)


class Driver:
    def __init__(self, c: ClusterState, cursor: Cursor) -> None:
        self.c = c
        self.cursor = cursor
        self.seq = 0
        self.bound: list[tuple[FakePod, int]] = []

    def apply(self, seq: list[Op], depth: int = 0) -> None:
        c = self.c
        for op, node, cpu, gpu, prio in seq:
            node %= c.n
            req = ((0, cpu), (2, gpu)) if gpu else ((0, cpu),)
            if op == "reserve":
                c.reserve(node, req)
            elif op == "release":
                c.release(node, req)
            elif op == "bind":
                pod = FakePod(self.seq, prio, FakeShape(req))
                self.seq += 1
                c.reserve(node, req)
                c.bind(pod, node, preemptible=prio >= 0)
                self.bound.append((pod, node))
            elif op == "unbind" and self.bound:
                pod, at = self.bound.pop(node % len(self.bound))
                if pod.seq in c.pods_on[at]:
                    c.unbind(pod, at, preemptible=pod.priority >= 0)
                    c.release(at, pod.shape.req)
            elif op == "add":
                c.add_node(f"new-{self.seq}", c.pools["gpu" if cpu % 2 else "cpu"], 1.0)
                self.seq += 1
            elif op == "remove" and c.nodes[node].ready and not c.pods_on[node]:
                c.remove_node(node)
            elif op == "cursor":
                old = self.cursor.value
                self.cursor.value = cpu
                c.log.record(lambda old=old: setattr(self.cursor, "value", old))  # type: ignore[misc]
            elif op in ("fork-commit", "fork-revert") and depth < 2:
                bound_before = list(self.bound)
                with c.forked() as inner:
                    self.apply(seq[: node % 4], depth + 1)
                    if op == "fork-commit":
                        inner.commit()
                if op == "fork-revert":
                    self.bound = bound_before


@settings(max_examples=150, deadline=None)
@given(before=ops, inside=ops)
def test_fork_then_revert_restores_every_byte(before: list[Op], inside: list[Op]) -> None:
    c = cluster()
    cursor = Cursor()
    d = Driver(c, cursor)
    d.apply(before)
    saved = state_bytes(c, cursor)
    bound = list(d.bound)
    with c.forked():
        d.apply(inside)
    d.bound = bound
    assert state_bytes(c, cursor) == saved
    # the bucket key of every ready node is its free vector, and every bucket counts its nodes
    assert c.buckets is not None
    for i in range(c.n):
        if c.nodes[i].ready:
            assert c.buckets.node_key[i] == tuple(c.pyfree[i]) == tuple(c.free[:, i].tolist())
    for p in c.buckets.pools.values():
        for key, b in p.buckets.items():
            assert b.live == sum(1 for i in range(c.n) if c.buckets.node_pool[i] is p
                                 and c.buckets.node_key[i] == key)


@settings(max_examples=60, deadline=None)
@given(before=ops, inside=ops)
def test_commit_keeps_the_changes(before: list[Op], inside: list[Op]) -> None:
    c = cluster()
    cursor = Cursor()
    d = Driver(c, cursor)
    d.apply(before)
    with c.forked() as what_if:
        d.apply(inside)
        after = state_bytes(c, cursor)
        what_if.commit()
    assert state_bytes(c, cursor) == after
    assert not c.log.forked


def test_nested_forks_revert_only_their_own_changes() -> None:
    c = cluster()
    with c.forked() as outer:
        c.reserve(0, ((0, 1000),))
        with c.forked():
            c.reserve(0, ((0, 2000),))
            assert c.pyfree[0][0] == 5000
        assert c.pyfree[0][0] == 7000      # the inner fork reverted only its own reservation
        with c.forked() as inner:
            node = c.add_node("extra", c.pools["cpu"], 0.0)
            inner.commit()
        assert c.nodes[node.idx].name == "extra"
        outer.revert()
    assert c.pyfree[0][0] == 8000 and c.n == 7    # the outer revert undid the committed inner fork too


def test_revert_bumps_cache_counters() -> None:
    c = cluster()
    m0, v0 = c.mutations, c.version
    with c.forked():
        c.reserve(0, ((0, 1000),))
    assert c.mutations > m0 + 1 and c.version > v0   # a verdict cached inside the fork is never reused


def test_closing_forks_out_of_order_is_refused() -> None:
    c = cluster()
    with c.forked() as outer:
        c.log.fork()
        with pytest.raises(RuntimeError, match="inner forks first"):
            outer.commit()
        c.log.revert()


def test_a_node_log_never_answers_for_a_mark_from_before_it_started_over(monkeypatch: pytest.MonkeyPatch) -> None:
    """A position in the log is read back only in the same epoch and within the limit; past the cap the log
    starts over under a new epoch, and an old mark then gets None ("cannot tell"), never the new entries."""
    monkeypatch.setattr(cluster_module, "NODE_LOG_CAP", 4)
    log = NodeLog()
    log.add(1)
    log.add(2)
    mark = log.mark()
    assert mark == (0, 2)
    log.add(3)
    log.add(3)
    assert log.since(*mark, 2) == [3, 3]      # repeats kept: callers re-check each node anyway
    assert log.since(*mark, 1) is None        # more changes than the limit: count or search afresh
    log.add(4)                                # the cap: starts over, epoch 1, holding only 4
    assert log.mark() == (1, 1)
    assert log.since(*mark, 100) is None
    assert log.since(1, 0, 100) == [4]


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@example(binds=[(i % 7, (10, 50, 100)[i % 3], 1 + i % 3, i % 4 == 3) for i in range(100)], reads={40}, cap=4)
@given(st.lists(st.tuples(st.integers(0, 6), st.sampled_from([10, 50, 100]), st.integers(1, 3),
                          st.booleans()), min_size=1, max_size=120),
       st.sets(st.integers(0, 119), max_size=3), st.sampled_from([2, 5, 1 << 14]))
def test_priority_ledger_levels_are_the_sums_of_the_bound_pods(binds: list[tuple[int, int, int, bool]],
                                                                 reads: set[int], cap: int) -> None:
    """The ledger queues binds and unbinds per level and applies a level's queue when it is read; a level
    left unread for ``cap`` changes drops its array and is rebuilt from its pods when next read. Whenever
    it is read, each level is exactly the requests of the preemptible pods bound at that priority, per
    node."""
    saved = cluster_module.LEDGER_QUEUE_CAP
    cluster_module.LEDGER_QUEUE_CAP = cap
    try:
        check_ledger(binds, reads)
    finally:
        cluster_module.LEDGER_QUEUE_CAP = saved


def check_ledger(binds: list[tuple[int, int, int, bool]], reads: set[int]) -> None:
    c = cluster()
    bound: list[tuple[FakePod, int]] = []
    for i, (node, prio, cpu, unbind) in enumerate(binds):
        if unbind and bound:
            pod, n = bound.pop(0)
            c.unbind(pod, n, preemptible=True)
        else:
            pod = FakePod(i, prio, FakeShape(((0, cpu * 100), (3, 1000))))
            c.bind(pod, node, preemptible=True)
            bound.append((pod, node))
        if i in reads or i == len(binds) - 1:
            want: dict[int, list[list[int]]] = {}
            for p, n in bound:
                level = want.setdefault(p.priority, [[0] * c.n for _ in RES])
                for r, q in p.shape.req:
                    level[r][n] += q
            got = {p: c.ledger.level(p)[:, :c.n].tolist() for p in sorted(c.ledger.counts)
                   if c.ledger.level(p)[:, :c.n].any()}
            assert got == dict(sorted(want.items()))
