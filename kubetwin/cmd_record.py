"""``kubetwin record``: watch a real cluster, read-only, into ``DIR/raw.jsonl`` and ``DIR/timeline.jsonl``.

The verb is a thin shell around :mod:`validator.live.recorder`: it turns flags into a connection
(kubeconfig/context or in-cluster config, as kubectl resolves them), shows live counts per kind on
stderr (a rich table on a terminal, a periodic line otherwise), stops cleanly on Ctrl-C/SIGTERM or
after ``--duration``, and then derives the timeline from the raw file.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from kubetwin import __version__
from models.duration import DurationError, format_duration, parse_duration
from models.errors import InputError
from validator.live.raw import RawWriter

_SHOWN = ("LIST_ITEM", "ADDED", "MODIFIED", "DELETED", "GAP")


def _table(writer: RawWriter, elapsed: float) -> Table:
    title = f"recording {format_duration(round(elapsed))}  (Ctrl-C to stop)"
    table = Table(title=title, title_justify="left")
    table.add_column("stream")
    for col in ("listed", "added", "modified", "deleted", "gaps"):
        table.add_column(col, justify="right")
    for stream, counts in sorted(writer.counts.items()):
        if stream and not counts.get("SKIPPED"):
            table.add_row(stream, *(str(counts.get(t, 0)) for t in _SHOWN))
    return table


class _Display:
    """Live counts: a rich table on a TTY, else one line every ``every`` seconds."""

    def __init__(self, console: Console, every: float = 10.0) -> None:
        self.console = console
        self.every = every
        self._last = 0.0
        self.live: Live | None = None
        if console.is_terminal:
            self.live = Live(console=console, auto_refresh=False, transient=False)

    def __enter__(self) -> _Display:
        if self.live is not None:
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)

    def tick(self, writer: RawWriter, elapsed: float) -> None:
        if self.live is not None:
            self.live.update(_table(writer, elapsed), refresh=True)
            return
        if elapsed - self._last < self.every:
            return
        self._last = elapsed
        total: Counter[str] = Counter()
        for stream, counts in writer.counts.items():
            if stream:
                total.update(counts)
        changes = sum(total.get(t, 0) for t in _SHOWN[:4])
        self.console.print(f"recording {format_duration(round(elapsed))}: {changes} object changes, "
                           f"{total.get('GAP', 0)} gaps, {writer.seq} records")


def run_record(out: Path, *, context: str | None, kubeconfig: str | None, namespaces: list[str],
               duration: str | None, seed: int, console: Console) -> None:
    """Parse, connect, record, normalize; raises :class:`InputError` for bad input."""
    # imported here: kubernetes_asyncio takes a third of a second to import, and only this verb needs it
    from validator.live.kubeclient import connect
    from validator.live.recorder import TIMELINE_NAME, normalize_recording, record

    seconds: float | None = None
    if duration is not None:
        try:
            seconds = parse_duration(duration)
        except DurationError as e:
            raise InputError(str(e), field="--duration", fix="write e.g. 90s, 30m or 1h30m") from e
        if seconds <= 0:
            raise InputError(f"{duration!r} is not a positive duration", field="--duration",
                             fix="write e.g. 90s, 30m or 1h30m, or leave it out to record until Ctrl-C")

    created = check_output_dir(out)

    async def main() -> None:
        try:
            conn = await connect(kubeconfig=kubeconfig, context=context)
        except InputError:
            raise
        except Exception as e:
            raise InputError(f"cannot connect to the cluster: {e}", file=kubeconfig,
                             field="--context" if context else None,
                             fix="check --kubeconfig/--context (kubectl config get-contexts)") from e
        try:
            console.print(f"connected to context {conn.context!r}; recording into {out}"
                          + (f" for {format_duration(seconds)}" if seconds else " until Ctrl-C"))
            with _Display(console) as display:
                result = await record(conn.client, out, context=conn.context, version=__version__,
                                      namespaces=namespaces, duration=seconds, seed=seed,
                                      on_tick=display.tick)
        finally:
            await conn.client.close()
        for stream_id, why in result.skipped:
            console.print(f"skipped {stream_id}: {why}")
        console.print(f"stopped ({result.why}) after {format_duration(round(result.seconds, 1))}; "
                      f"raw recording: {result.raw_path}")
        timeline = out / TIMELINE_NAME
        warnings = normalize_recording(result.raw_path, timeline)
        if warnings is None:
            console.print("the normalizer is not available; timeline not written "
                          "(the raw file can be normalized later)")
        else:
            console.print(f"timeline: {timeline}" + (f" ({len(warnings)} warnings)" if warnings else ""))

    try:
        asyncio.run(main())
    except InputError as e:
        if _discard_empty(out, created):
            raise InputError(f"{e.message}; nothing was recorded and {out} was not kept", file=e.file,
                             field=e.field, fix=e.fix, line=e.line, column=e.column) from e
        raise
    except BaseException:
        _discard_empty(out, created)
        raise


def check_output_dir(out: Path) -> bool:
    """Refuse an ``-o`` that cannot hold a recording, before connecting; True when this call created it."""
    from validator.live.recorder import RAW_NAME

    fix = "choose a writable directory with -o"
    if out.exists() and not out.is_dir():
        raise InputError("the output path exists and is a file, not a directory", file=str(out), field="-o",
                         fix=fix)
    if (out / RAW_NAME).is_dir():
        raise InputError(f"{RAW_NAME} inside it is a directory", file=str(out), field="-o", fix=fix)
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out, prefix=".kubetwin-write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        if created:
            _discard_empty(out, True)
        raise InputError(f"cannot write the recording there: {e.strerror or e}", file=str(out), field="-o",
                         fix=fix) from None
    return created


def _discard_empty(out: Path, created: bool) -> bool:
    """After a failure before anything was recorded: remove an empty raw file, and the directory if this
    run created it and it is empty. True when nothing was recorded."""
    from validator.live.recorder import RAW_NAME

    raw = out / RAW_NAME
    with contextlib.suppress(OSError):
        if raw.is_file() and raw.stat().st_size == 0:
            raw.unlink()
    if raw.exists():
        return False
    if created:
        with contextlib.suppress(OSError):
            out.rmdir()  # only when empty
    return True


RECORD_HELP = (
    "Record a real cluster (read-only list/watch): raw events and a timeline.\n\n"
    "Exit codes: 0 recorded (stopped by --duration or Ctrl-C); 2 unusable input: a flag, the "
    "kubeconfig/context, an unreachable cluster, or an -o that cannot hold a recording (a recording that "
    "fails before anything was recorded leaves no empty directory behind)."
)


def register(app: typer.Typer) -> None:
    """Add the ``record`` verb to the app."""

    @app.command("record", help=RECORD_HELP)
    def record_cmd(
        out: Annotated[Path, typer.Option("-o", "--out", help="Directory for raw.jsonl and timeline.jsonl.")],
        context: Annotated[str | None, typer.Option("--context", help="kubeconfig context.")] = None,
        kubeconfig: Annotated[str | None, typer.Option("--kubeconfig", help="kubeconfig file.")] = None,
        namespace: Annotated[list[str] | None, typer.Option(
            "-n", "--namespace", help="Record only this namespace (repeatable); default all.")] = None,
        duration: Annotated[str | None, typer.Option(
            "--duration", help="Go duration (e.g. 30m); default: until Ctrl-C.")] = None,
        seed: Annotated[int, typer.Option("--seed", help="Seed for watch timeouts and jitter.")] = 0,
    ) -> None:
        """Record a real cluster (read-only list/watch): raw events and a timeline."""
        run_record(out, context=context, kubeconfig=kubeconfig, namespaces=list(namespace or []),
                   duration=duration, seed=seed, console=Console(stderr=True, highlight=False))


if __name__ == "__main__":  # `python -m kubetwin.cmd_record …`: the verb on its own
    _app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    register(_app)

    @_app.callback()
    def _root() -> None:
        """kubetwin record."""

    try:
        _app(args=["record", *sys.argv[1:]])
    except InputError as _e:
        Console(stderr=True).print(f"error: {_e.render()}", markup=False)
        sys.exit(2)
