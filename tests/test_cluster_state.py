"""ClusterState: fork/commit/revert (cluster-autoscaler's snapshot) and the bucket index stay exact."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sim.cluster import ClusterState, Pool

RES = ["cpu", "memory", "nvidia.com/gpu", "pods"]


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


def snapshot(c: ClusterState) -> tuple[list[list[int]], list[list[int]], dict[int, tuple[int, ...] | None]]:
    assert c.buckets is not None
    keys = {i: c.buckets.node_key[i] for i in range(c.n)}
    return c.free[:, : c.n].tolist(), [list(r) for r in c.pyfree], keys


ops = st.lists(st.tuples(st.booleans(), st.integers(0, 6), st.integers(0, 2000), st.integers(0, 1000)),
               max_size=30)


@settings(max_examples=60, deadline=None)
@given(before=ops, inside=ops)
def test_revert_restores_everything_and_buckets_track_free(before: list[tuple[bool, int, int, int]],
                                                            inside: list[tuple[bool, int, int, int]]) -> None:
    c = cluster()

    def apply(seq: list[tuple[bool, int, int, int]]) -> None:
        for take, node, cpu, gpu in seq:
            req = ((0, cpu), (2, gpu)) if gpu else ((0, cpu),)
            (c.reserve if take else c.release)(node, req)

    apply(before)
    saved = snapshot(c)
    c.fork()
    apply(inside)
    c.revert()
    assert snapshot(c) == saved
    # the bucket key of every node is its free vector, and every bucket counts its nodes
    assert c.buckets is not None
    for i in range(c.n):
        assert c.buckets.node_key[i] == tuple(c.pyfree[i]) == tuple(c.free[:, i].tolist())
    for p in c.buckets.pools.values():
        for key, b in p.buckets.items():
            assert b.live == sum(1 for i in range(c.n) if c.buckets.node_pool[i] is p
                                 and c.buckets.node_key[i] == key)
    c.fork()
    apply(inside)
    after = snapshot(c)
    c.commit()
    assert snapshot(c) == after
