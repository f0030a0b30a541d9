"""models.timeline.TimelineWriter: a writer that owns its file writes batches from a thread of its own — the
same bytes, in order, all of them on flush/close, and a failed write reaches the caller."""

from __future__ import annotations

import errno
import io
import threading
from pathlib import Path

import pytest

from models.timeline import TimelineWriter, ref


def _events(w: TimelineWriter, n: int) -> None:
    for i in range(n):
        w.emit_ref(i * 0.5, "PodCreated", ref("Pod", f"p-{i}", "ns"), data=f'{{"i":{i}}}')


def test_the_threaded_writer_writes_the_same_bytes_in_order(tmp_path: Path) -> None:
    stream = io.StringIO()
    plain = TimelineWriter(stream)  # handed a stream: each line at once, no thread
    _events(plain, 20_000)
    with TimelineWriter(tmp_path / "t.jsonl") as w:
        assert w._spooler is not None and w._spooler.is_alive()
        _events(w, 20_000)
    assert (tmp_path / "t.jsonl").read_text() == stream.getvalue()
    assert len(stream.getvalue().splitlines()) == 20_000


def test_flush_returns_once_everything_handed_over_is_in_the_file(tmp_path: Path) -> None:
    w = TimelineWriter(tmp_path / "t.jsonl")
    _events(w, 10_000)  # two batches handed to the thread, the rest collected
    w.flush()
    assert len((tmp_path / "t.jsonl").read_text().splitlines()) == 10_000
    w.close()
    assert w._spooler is None
    assert not [t for t in threading.enumerate() if t.name == "timeline-writer"]


def test_a_failed_write_is_raised_to_the_caller(tmp_path: Path) -> None:
    w = TimelineWriter(tmp_path / "t.jsonl")

    def full(_: str) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    w._fh.write = full  # type: ignore[method-assign]
    with pytest.raises(OSError, match="No space left"):
        _events(w, 50_000)  # a later hand-over raises what the thread's write met
        w.flush()
    with pytest.raises(OSError, match="No space left"):
        w.close()
    assert w._spooler is None  # the thread is stopped all the same
