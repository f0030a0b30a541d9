"""What a long run shows while it runs, and what Ctrl-C does to it.

A run longer than about a second shows a progress bar on stderr — simulated time against the run's
duration, timeline events per wall second and an ETA — when stderr is a terminal and ``--quiet`` is
not given; nothing otherwise (a CI log or a pipe gets no control characters).

The first Ctrl-C (SIGINT) or SIGTERM asks the engine to stop: it finishes the current simulated
instant, writes ``RunFinished`` with reason ``interrupted`` and the summary (marked interrupted), so
the timeline up to that point is complete and valid. A second Ctrl-C exits at once.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, Any

from rich.console import Console

if TYPE_CHECKING:  # rich.progress is imported when a bar is first shown (a quiet run never pays for it)
    from rich.progress import Progress

#: a run must take at least this long (wall seconds) before the bar appears
SHOW_AFTER = 1.0


@contextmanager
def stop_on_signals(interrupt: Callable[[], None], say: Callable[[str], None],
                    message: str = "interrupted: finishing the current instant and writing what was simulated "
                                   "(press Ctrl-C again to quit at once)") -> Iterator[None]:
    """While inside: the first SIGINT/SIGTERM calls ``interrupt()`` and says ``message``, a second one raises
    KeyboardInterrupt at once. Only in the main thread (where signals land); elsewhere it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    hits = 0

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal hits
        hits += 1
        if hits == 1:
            interrupt()
            say(message)
            return
        raise KeyboardInterrupt

    old_int = signal.signal(signal.SIGINT, handler)
    old_term = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)


class RunProgress:
    """A progress callback for ``Simulation.run(progress=...)``: a rich bar on stderr, shown only on a
    terminal and only once the run has taken :data:`SHOW_AFTER` seconds."""

    def __init__(self, duration: float, *, enabled: bool | None = None, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.enabled = (sys.stderr.isatty() and self.console.is_terminal) if enabled is None else enabled
        self.duration = max(duration, 1e-9)
        self.started = time.perf_counter()
        self.progress: Progress | None = None
        self.task: Any = None

    def __call__(self, sim_seconds: float, events: int) -> None:
        if not self.enabled:
            return
        wall = time.perf_counter() - self.started
        if self.progress is None:
            if wall < SHOW_AFTER:
                return
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(TextColumn("simulating"), BarColumn(),
                                     TextColumn("{task.fields[sim]} of {task.fields[horizon]}"),
                                     TextColumn("{task.fields[rate]} events/s"), TimeRemainingColumn(),
                                     console=self.console, transient=True)
            self.progress.start()
            self.task = self.progress.add_task("run", total=self.duration, sim="", rate="",
                                               horizon=_hms(self.duration))
        self.progress.update(self.task, completed=min(sim_seconds, self.duration), sim=_hms(sim_seconds),
                             rate=f"{events / max(wall, 1e-9):,.0f}")

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


def _hms(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m{s % 60:02d}s"
