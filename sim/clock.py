"""The simulation clock: simpy's :class:`simpy.Environment` with an event queue bucketed by due time.

Not a Kubernetes concept — the clock every controller and the scheduler of the twin run on. simpy keeps
all scheduled events in one binary heap of ``(time, priority, id, event)`` tuples. An overloaded week
keeps ~16,000 pending pod completions in it, so each of its ~5 million steps pays a dozen tuple
comparisons, each comparing two or three items, to pop the next event.

This clock processes events in exactly simpy's order — due time, then priority, then the order they were
scheduled in — but keeps them as a heap of *distinct due times* (plain number comparisons) and, per due
time, a list of the events due then, in the order they were scheduled. Events of a priority more urgent
than ``NORMAL`` (a process starting, an interrupt, simpy's own ``StopSimulation`` re-queue: a handful per
run) wait in a separate small list per due time, sorted by (priority, order), and go first. The time an
event was scheduled for is kept with it (or is the float its due time is), so ``now`` is what simpy would
set (an ``int`` stays an ``int``). Everything else — events, processes, timeouts, ``run`` — is simpy's.

:meth:`Clock.call_in` schedules a plain function instead of an event, in the same place of that order
as a ``NORMAL`` event scheduled at that moment (a ``Timeout``, an event's ``succeed()``): the engine's own
timers — a million pod completions and arrivals a week, a scheduler round per wake-up — need no event
object, no callback list and no call through simpy's ``Timeout`` constructor.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any

import simpy
from simpy.core import EmptySchedule, Infinity, StopSimulation
from simpy.events import NORMAL, Event, EventPriority


class Clock(simpy.Environment):
    """simpy's environment; only :meth:`schedule`, :meth:`peek` and :meth:`step` are its own."""

    def __init__(self) -> None:
        super().__init__()
        #: the due times that have events, as a heap (each time once)
        self._times: list[Any] = []
        #: due time -> its NORMAL event when it is the only one and the time a float (most), else
        #: [read position, time, event, time, event, …]: its NORMAL events in scheduling order
        self._due: dict[Any, Any] = {}
        #: due time -> sorted [(priority, order, time, event)]: its events more urgent than NORMAL
        self._early: dict[Any, list[tuple[int, int, Any, Event]]] = {}
        self._order = 0

    def call_in(self, delay: float, fn: Callable[[], object]) -> None:
        """Call ``fn()`` ``delay`` from now, where a ``NORMAL`` event scheduled now would be processed."""
        if delay < 0:
            raise ValueError(f"negative delay {delay!r}")
        self._normal(self._now + delay, fn)

    def schedule(self, event: Event, priority: EventPriority = NORMAL, delay: Any = 0) -> None:
        t = self._now + delay
        if priority == NORMAL:
            self._normal(t, event)
            return
        if priority > NORMAL:
            raise ValueError(f"event priority {priority!r}: this clock orders NORMAL and more urgent ones only")
        self._order += 1
        early = self._early.get(t)
        if early is None:
            early = self._early[t] = []
            if t not in self._due:
                heappush(self._times, t)
        bisect.insort(early, (int(priority), self._order, t, event))

    @property
    def now(self) -> Any:  # simpy's own, here so it is compiled with the clock: it is read millions of times
        return self._now

    def _normal(self, t: Any, entry: object) -> None:
        due = self._due
        slot = due.get(t)
        if slot is None:
            due[t] = entry if type(t) is float else [1, t, entry]
            if t not in self._early:
                heappush(self._times, t)
        elif type(slot) is list:
            slot.append(t)
            slot.append(entry)
        else:  # a second event due then; the first one's time was a float equal to t
            due[t] = [1, float(t), slot, t, entry]

    def peek(self) -> Any:
        times = self._times
        return times[0] if times else Infinity

    def step(self) -> None:
        times = self._times
        if not times:
            raise EmptySchedule
        t = times[0]
        early = self._early.get(t) if self._early else None
        entry: Any
        if early is not None:
            _, _, now, entry = early.pop(0)
            if not early:
                del self._early[t]
                if t not in self._due:
                    heappop(times)
        else:
            slot = self._due[t]
            if type(slot) is not list:  # its time was a float equal to t
                now = t if type(t) is float else float(t)
                entry = slot
                del self._due[t]
                heappop(times)
            else:
                i = slot[0]
                now = slot[i]
                entry = slot[i + 1]
                i += 2
                if i == len(slot):
                    del self._due[t]
                    heappop(times)
                else:
                    slot[0] = i
        self._now = now
        if not isinstance(entry, Event):
            entry()
            return
        event: Event = entry
        callbacks = event.callbacks
        # simpy's mark of a processed event
        event.callbacks = None  # type: ignore[assignment]
        i = 0
        try:
            for callback in callbacks:
                i += 1
                callback(event)
        except StopSimulation:
            # the remaining callbacks run when stepping resumes, before anything else due now (simpy's rule)
            event.callbacks = callbacks[i:]
            self.schedule(event, EventPriority(-1))
            raise
        if not event._ok and not hasattr(event, "_defused"):
            value = event._value
            raise type(value)(*value.args) from value
