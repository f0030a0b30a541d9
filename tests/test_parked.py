"""sim.pods.Parked pops a shape's parked pods in exactly the order one heap of their entries would."""

from __future__ import annotations

import heapq

from hypothesis import given, settings
from hypothesis import strategies as st

from sim.pods import Parked, PodShape, SimPod

SHAPE = PodShape("s", ((0, 1000),), 1, [], {}, None)
# a program: push a pod (priority, creation time) or pop; pods are mostly created in order, as they park
OPS = st.lists(st.one_of(st.tuples(st.just("push"), st.sampled_from([0, 100, 1000]),
                                   st.floats(0, 1000, allow_nan=False)),
                         st.tuples(st.just("push-new"), st.sampled_from([0, 100]), st.just(0.0)),
                         st.tuples(st.just("pop"), st.just(0), st.just(0.0))), max_size=300)


@settings(max_examples=300, deadline=None)
@given(OPS)
def test_parked_pops_in_the_order_of_one_heap(ops: list[tuple[str, int, float]]) -> None:
    parked = Parked()
    heap: list[tuple[int, float, int, SimPod]] = []
    clock = 0.0
    for seq, (op, prio, t) in enumerate(ops):
        if op == "pop":
            if heap:
                assert parked.pop() is heapq.heappop(heap)[3]
            assert len(parked) == len(heap) and bool(parked) == bool(heap)
            continue
        if op == "push-new":  # a pod created now, parked for the first time: the run's case
            clock += 1.0
            t = clock
        pod = SimPod(seq, "ns", f"p{seq}", SHAPE, prio, t, 1.0, None)
        entry = (-prio, t, seq, pod)
        parked.push(entry)
        heapq.heappush(heap, entry)
        assert len(parked) == len(heap)
    while heap:
        assert parked.pop() is heapq.heappop(heap)[3]
    assert not parked and len(parked) == 0


def test_a_long_run_drops_its_popped_prefix() -> None:
    parked = Parked()
    pods = [SimPod(i, "ns", f"p{i}", SHAPE, 0, float(i), 1.0, None) for i in range(10_000)]
    for p in pods:
        parked.push((0, p.sort_time, p.seq, p))
    assert not parked.heap and len(parked.run) == 10_000  # created in order: all in the run
    assert [parked.pop() for _ in range(5_000)] == pods[:5_000]
    assert len(parked.run) < 10_000 and len(parked) == 5_000  # compacted, nothing lost
    late = SimPod(20_000, "ns", "late", SHAPE, 0, 2.5, 1.0, None)  # parked again: an old creation time
    parked.push((0, late.sort_time, late.seq, late))
    assert len(parked.heap) == 1 and parked.pop() is late  # before every pod still in the run
    assert [parked.pop() for _ in range(len(parked))] == pods[5_000:]
