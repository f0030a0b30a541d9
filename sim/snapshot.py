"""What-if state: nested forks that revert every change, the way cluster-autoscaler's ClusterSnapshot does.

cluster-autoscaler's ``ClusterSnapshot`` (``simulator/clustersnapshot``) lets the estimator and the
scale-down simulation add nodes, schedule pods and remove pods on a *fork* of the cluster, then
``Revert()`` to the state before or ``Commit()`` it; forks nest. Kueue's preemption search does the
same with hand-written "remove the victim's usage, test, add it back" pairs. kubetwin has one mechanism
for both: an :class:`UndoLog`. Every piece of mutable simulator state that a what-if may touch
(free capacity, the node set, binds, per-node pod lists, the priority ledger, search cursors, Kueue's
quota usage) records an *undo action* for each change while a fork is open; ``revert`` runs the actions
of the innermost fork in reverse order, ``commit`` keeps its changes (an outer fork can still revert
them). Outside any fork recording costs one truth test, so the hot paths stay fast. No deep copies.

Counters that caches key on (``ClusterState.mutations``, ``version``) only ever grow: a revert bumps
them instead of restoring them, so a cached verdict computed inside a fork is never reused after it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

Undo = Callable[[], None]


class UndoLog:
    """A stack of forks over one log of undo actions."""

    __slots__ = ("_marks", "_ops", "forked", "on_revert")

    def __init__(self) -> None:
        self._ops: list[Undo] = []
        self._marks: list[int] = []
        #: must changes be recorded now? (a fork is open and no revert is replaying undo actions)
        self.forked = False
        #: called after every revert (e.g. to bump cache counters)
        self.on_revert: list[Callable[[], None]] = []

    @property
    def depth(self) -> int:
        return len(self._marks)

    def record(self, undo: Undo) -> None:
        """Remember how to undo a change just made (a no-op outside forks)."""
        if self.forked:
            self._ops.append(undo)

    def fork(self) -> None:
        self._marks.append(len(self._ops))
        self.forked = True

    def commit(self) -> None:
        """Keep the innermost fork's changes (an enclosing fork can still revert them)."""
        if not self._marks:
            raise RuntimeError("commit without a fork")
        self._marks.pop()
        if not self._marks:
            self._ops.clear()
            self.forked = False

    def revert(self) -> None:
        """Undo every change since the innermost fork, newest first."""
        if not self._marks:
            raise RuntimeError("revert without a fork")
        mark = self._marks.pop()
        ops = self._ops
        self.forked = False  # undo actions change state through the same methods: record nothing
        try:
            while len(ops) > mark:
                ops.pop()()
        finally:
            self.forked = bool(self._marks)
        for fn in self.on_revert:
            fn()

    @contextmanager
    def what_if(self) -> Iterator[Fork]:
        """``with log.what_if() as fork: ...`` reverts on exit unless ``fork.commit()`` was called."""
        self.fork()
        handle = Fork(self, self.depth)
        try:
            yield handle
        finally:
            if not handle.done:
                handle.revert()


class Fork:
    """The handle of one open fork: ``commit()`` keeps its changes, ``revert()`` (the default) drops them."""

    __slots__ = ("depth", "done", "log")

    def __init__(self, log: UndoLog, depth: int) -> None:
        self.log = log
        self.depth = depth
        self.done = False

    def _check(self) -> None:
        if self.done:
            raise RuntimeError("this fork is already closed")
        if self.log.depth != self.depth:
            raise RuntimeError("close inner forks first")

    def commit(self) -> None:
        self._check()
        self.done = True
        self.log.commit()

    def revert(self) -> None:
        self._check()
        self.done = True
        self.log.revert()
