"""sim.clock.Clock processes events in exactly simpy's order (time, priority, scheduling order), sets the same
``now`` objects, and keeps simpy's rules for StopSimulation and failed events."""

from __future__ import annotations

from typing import Any

import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st
from simpy.core import StopSimulation

from sim.clock import Clock

# a node of a random program: (how it is scheduled, its delay, its children); run when it fires
DELAYS = st.sampled_from([0, 0, 1, 1.0, 2, 2.5, 0.5, 3])
KINDS = st.sampled_from(["timeout", "timeout", "succeed", "process", "call"])
PROGRAM = st.recursive(
    st.tuples(KINDS, DELAYS, st.just(())),
    lambda kids: st.tuples(KINDS, DELAYS, st.lists(kids, max_size=4).map(tuple)),
    max_leaves=40,
)


def play(env: simpy.Environment, roots: list[Any], *, calls: bool) -> list[tuple[str, Any, type]]:
    """Run the program on ``env``; return (label, now, type of now) in the order things ran. ``calls``:
    schedule "call" nodes with Clock.call_in (else as a timeout, what call_in stands for)."""
    log: list[tuple[str, Any, type]] = []

    def start(node: Any, label: str) -> None:
        kind, delay, kids = node

        def fire(*_: object) -> None:
            log.append((label, env.now, type(env.now)))
            for i, kid in enumerate(kids):
                start(kid, f"{label}.{i}")

        if kind == "call" and calls:
            assert isinstance(env, Clock)
            env.call_in(delay, fire)
        elif kind in ("timeout", "call"):
            env.timeout(delay).callbacks.append(fire)
        elif kind == "succeed":  # an event triggered now (delay ignored): NORMAL priority, no delay
            ev = env.event()
            ev.callbacks.append(fire)
            ev.succeed()
        else:  # a process: it starts URGENT, then waits for its delay
            def body() -> Any:
                log.append((label + ":start", env.now, type(env.now)))
                yield env.timeout(delay)
                fire()

            env.process(body())

    for i, root in enumerate(roots):
        start(root, str(i))
    env.run()
    return log


@settings(max_examples=300, deadline=None)
@given(st.lists(PROGRAM, min_size=1, max_size=6))
def test_the_clock_runs_any_program_in_simpys_order(roots: list[Any]) -> None:
    want = play(simpy.Environment(), roots, calls=False)
    assert play(Clock(), roots, calls=False) == want
    assert play(Clock(), roots, calls=True) == want  # call_in takes a timeout's place exactly


def test_an_int_time_stays_an_int_and_a_float_time_a_float() -> None:
    env = Clock()
    seen: list[Any] = []
    env.timeout(2).callbacks.append(lambda _: seen.append(env.now))
    env.timeout(2.0).callbacks.append(lambda _: seen.append(env.now))
    env.call_in(2, lambda: seen.append(env.now))
    env.run()
    assert seen == [2, 2.0, 2] and [type(x) for x in seen] == [int, float, int]


@pytest.mark.parametrize("make", [simpy.Environment, Clock])
def test_a_float_event_due_with_an_urgent_int_one_runs_at_a_float(make: type[simpy.Environment]) -> None:
    env = make()
    seen: list[Any] = []

    def proc() -> Any:  # starts URGENT at the int time 0
        seen.append(env.now)
        yield env.timeout(0)

    env.timeout(0.0).callbacks.append(lambda _: seen.append(env.now))  # due at the float 0.0
    env.process(proc())
    env.run()
    assert seen == [0, 0.0] and [type(x) for x in seen] == [int, float]


def test_urgent_events_go_before_normal_ones_due_at_the_same_time() -> None:
    env = Clock()
    order: list[str] = []
    env.call_in(0, lambda: order.append("normal"))

    def proc() -> Any:  # a process starts with an URGENT event
        order.append("process")
        yield env.timeout(0)

    env.process(proc())
    env.run()
    assert order == ["process", "normal"]


def test_stop_simulation_keeps_the_remaining_callbacks_for_when_stepping_resumes() -> None:
    env = Clock()
    ev = env.event()
    order: list[str] = []

    def stop(_: object) -> None:
        order.append("stop")
        raise StopSimulation("done")

    ev.callbacks.extend([lambda _: order.append("a"), stop, lambda _: order.append("b")])
    env.call_in(0, lambda: order.append("later"))
    ev.succeed()
    with pytest.raises(StopSimulation):
        while True:
            env.step()
    assert order == ["later", "a", "stop"]
    env.run()
    assert order == ["later", "a", "stop", "b"]  # before anything else due then (simpy's priority -1)


@pytest.mark.parametrize("make", [simpy.Environment, Clock])
def test_run_until_a_time_and_peek(make: type[simpy.Environment]) -> None:
    env = make()
    seen: list[float] = []
    for t in (1.0, 5.0, 9.0):
        env.timeout(t).callbacks.append(lambda _: seen.append(env.now))
    assert env.peek() == 1.0
    env.run(until=6)
    # simpy leaves the spent "until" event queued at 6 (re-queued by StopSimulation)
    assert seen == [1.0, 5.0] and env.now == 6 and env.peek() == 6
    env.run()
    assert seen == [1.0, 5.0, 9.0] and env.peek() == float("inf")
    with pytest.raises(simpy.core.EmptySchedule):
        env.step()


def test_a_failed_process_crashes_the_run_with_its_error() -> None:
    env = Clock()

    def proc() -> Any:
        yield env.timeout(1)
        raise KeyError("gone")

    env.process(proc())
    with pytest.raises(KeyError, match="gone"):
        env.run()


def test_bad_delays_and_priorities_are_refused() -> None:
    env = Clock()
    with pytest.raises(ValueError, match="negative delay"):
        env.call_in(-1.0, lambda: None)
    with pytest.raises(ValueError, match="priority"):
        env.schedule(env.event(), simpy.events.EventPriority(2))
