"""Recording a live cluster: every watcher at once into one durable raw file, then a timeline.

This is the informer-factory layer of client-go (``SharedInformerFactory.Start``): one reflector
per kind, all running concurrently, started after API discovery decided which kinds exist. Where an
informer feeds a cache, each :class:`~validator.live.watch.Watcher` here feeds the raw recording
(:mod:`validator.live.raw`), so the recording is exactly what the watches saw, in arrival order.

A recording stops after ``duration`` seconds or on SIGINT/SIGTERM; either way the watchers are
cancelled, ``RECORDING_STOPPED`` (with why) is written and the file is closed. A hard kill loses
nothing already written (every record is fsync'd), only the ``RECORDING_STOPPED`` line. The timeline
is derived afterwards by ``validator.normalize`` and can be re-derived from the raw file any time.

Besides the core kinds (:data:`validator.live.watch.KINDS`) the recorder watches the AI operators'
custom resources (:data:`OPERATOR_KINDS`, from :data:`models.operators.OPERATOR_CRDS`: JobSets,
LeaderWorkerSets, RayJobs/RayClusters, TrainJobs and their runtimes, PyTorchJobs, Volcano Jobs,
PodGroups and Queues) — each only when the cluster serves its CRD; the others are skipped with a
``SKIPPED`` note (``not served``), as Kueue's kinds are on a cluster without Kueue.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from models.errors import InputError
from models.operators import OPERATOR_CRDS
from validator.live.kubeclient import ApiError, KubeAPI, StreamBroken
from validator.live.raw import RawWriter, rfc3339_ns
from validator.live.watch import KINDS, KindSpec, Sleep, Tuning, Watcher, discover, stream_rng

#: cluster-scoped operator kinds (every other operator kind is namespaced)
_CLUSTER_SCOPED = frozenset({("trainer.kubeflow.org", "clustertrainingruntimes"), ("scheduling.volcano.sh", "queues")})


def operator_kinds() -> tuple[KindSpec, ...]:
    """The AI operators' custom resources as kinds to record: one per ``(group, plural)`` of
    :data:`models.operators.OPERATOR_CRDS`, with the versions listed there (first = preferred)."""
    versions: dict[tuple[str, str], list[str]] = {}
    for crd in OPERATOR_CRDS:
        listed = versions.setdefault((crd.group, crd.plural), [])
        if crd.version not in listed:
            listed.append(crd.version)
    return tuple(KindSpec(group, tuple(vs), plural, (group, plural) not in _CLUSTER_SCOPED)
                 for (group, plural), vs in versions.items())


#: the operator kinds ``kubetwin record`` watches when served
OPERATOR_KINDS: tuple[KindSpec, ...] = operator_kinds()
#: everything ``kubetwin record`` watches by default
RECORDED_KINDS: tuple[KindSpec, ...] = KINDS + OPERATOR_KINDS

RAW_NAME = "raw.jsonl"
TIMELINE_NAME = "timeline.jsonl"


@dataclass
class RecordResult:
    raw_path: Path
    why: str
    seconds: float
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def prepare_output(out_dir: str | Path) -> Path:
    """Create ``out_dir`` and return the raw file path; refuse to append to an old recording."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError("output path exists and is not a directory", file=str(out), field="-o",
                         fix="pass a directory for the recording")
    raw = out / RAW_NAME
    if raw.exists() and raw.stat().st_size > 0:
        raise InputError("a recording already exists here", file=str(raw), field="-o",
                         fix="choose another -o directory or move the old recording away")
    out.mkdir(parents=True, exist_ok=True)
    return raw


async def record(api: KubeAPI, out_dir: str | Path, *, context: str, version: str,
                 namespaces: Sequence[str] = (), duration: float | None = None, seed: int = 0,
                 kinds: Sequence[KindSpec] = RECORDED_KINDS, tuning: Tuning | None = None,
                 sleep: Sleep = asyncio.sleep, stop: asyncio.Event | None = None,
                 on_tick: Callable[[RawWriter, float], None] | None = None, tick: float = 1.0,
                 handle_signals: bool = True, fsync: bool = True) -> RecordResult:
    """Record until ``duration`` passes, ``stop`` is set, or SIGINT/SIGTERM arrives."""
    raw_path = prepare_output(out_dir)
    try:
        streams, skipped = await discover(api, kinds, namespaces)
    except (ApiError, StreamBroken) as e:
        raise InputError(f"cannot read API discovery from the cluster: {e}", field="--context",
                         fix="check access with `kubectl get --raw /apis`") from e
    stop = stop or asyncio.Event()
    why: list[str] = []

    def request_stop(reason: str) -> None:
        if not why:
            why.append(reason)
        stop.set()

    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    if handle_signals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, request_stop, sig.name)
                installed.append(sig)
    writer = RawWriter(raw_path, fsync=fsync)
    started = time.monotonic()
    tasks: list[asyncio.Task[None]] = []
    try:
        writer.write("RECORDING_STARTED", kubetwin=version, context=context, namespaces=list(namespaces),
                     startedAt=rfc3339_ns(time.time_ns()), seed=seed,
                     streams=[s.id + (f"@{s.namespace}" if s.namespace else "") for s in streams])
        for stream_id, reason in skipped:
            writer.write("SKIPPED", stream=stream_id, why=reason)
        watchers = [Watcher(api, s, writer, rng=stream_rng(seed, s), tuning=tuning, sleep=sleep)
                    for s in streams]
        tasks = [asyncio.create_task(w.run(), name=f"watch {w.stream.id}") for w in watchers]
        stopper = asyncio.create_task(stop.wait())
        deadline = None if duration is None else started + duration
        failed: BaseException | None = None
        while not stop.is_set():
            wait = tick if on_tick is not None else None
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    request_stop("duration")
                    break
                wait = left if wait is None else min(wait, left)
            done, _ = await asyncio.wait([stopper, *tasks], timeout=wait,
                                         return_when=asyncio.FIRST_COMPLETED)
            crashed = [t for t in done if t is not stopper and t.exception() is not None]
            if crashed:
                failed = crashed[0].exception()
                request_stop(f"error: {type(failed).__name__}")
            if on_tick is not None:
                on_tick(writer, time.monotonic() - started)
        if not why:
            why.append("stopped")
        stopper.cancel()
        for t in tasks:
            t.cancel()
        await asyncio.gather(stopper, *tasks, return_exceptions=True)
        writer.write("RECORDING_STOPPED", why=why[0], stoppedAt=rfc3339_ns(time.time_ns()))
        if failed is not None:
            raise failed
    finally:
        for t in tasks:
            t.cancel()
        writer.close()
        for sig in installed:
            loop.remove_signal_handler(sig)
    counts = {s: dict(c) for s, c in writer.counts.items() if s}
    return RecordResult(raw_path, why[0], time.monotonic() - started, counts, skipped)


def normalize_recording(raw_path: str | Path, timeline_path: str | Path) -> list[str] | None:
    """Write the timeline from the raw file; the normalizer's warnings, or None if it is absent."""
    try:
        from validator.normalize import normalize_file
    except ImportError:
        return None
    warnings = normalize_file(raw_path, timeline_path)
    return list(warnings) if isinstance(warnings, list) else []
