"""The informer side of normalization: per-object memory, event times, emitting, dispatch to translators.

One :class:`Normalizer` reads a recording record by record. For each object change it finds the
translator registered for the object's API (``(group, resource)``, see
:mod:`validator.normalize.translators`) and hands it the object; the translator compares the object
with what the normalizer remembers about it (:class:`Tracked`) and emits timeline events through
:meth:`Normalizer.emit`. The core owns what every translator shares: the clock (server timestamps,
receive times, "never back in time"), object identity across deletes and re-creates, and the
``RunStarted``/``RunFinished`` frame.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from models.timeline import SCHEMA_VERSION, event_dict
from validator.normalize.fields import as_dict, parse_time_ns, text

#: Streams the recorder keeps for replay that have no timeline event of their own.
KNOWN_UNMAPPED: frozenset[tuple[str, str]] = frozenset({
    ("apps", "deployments"), ("resource.k8s.io", "resourceslices"), ("resource.k8s.io", "deviceclasses"),
    ("kueue.x-k8s.io", "resourceflavors"),
})


@dataclass
class Tracked:
    """What the normalizer knows about one object: its identity and the transitions already emitted."""

    kind: str
    name: str
    namespace: str | None
    uid: str | None
    emitted: set[str] = field(default_factory=set)
    last_t: float = 0.0
    node: str | None = None
    group: str | None = None
    pool: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class RecordContext:
    """One record being processed: its position, receive time and whether its events are derived."""

    seq: int
    recv_ns: int
    synthetic: bool = False
    emitted: int = 0  # events emitted from this record so far: their order among equal times


#: A translator: ``(normalizer, record, object, deleted)``; emits events for one API's objects.
Translator = Callable[["Normalizer", RecordContext, dict[str, Any], bool], None]

#: Watch and list records that carry an object change.
_CHANGES = ("ADDED", "MODIFIED", "DELETED", "LIST_ITEM")


def api_of(stream: str, obj: dict[str, Any]) -> tuple[str, str]:
    """``(api group, resource)`` for a record; the group of the legacy API is ``""``."""
    parts = stream.split("@", 1)[0].split("/")
    if len(parts) >= 3:
        group, resource = parts[0], parts[-1]
    elif len(parts) == 2:
        group, resource = "", parts[-1]
    else:
        api_version = str(obj.get("apiVersion") or "")
        group = api_version.split("/")[0] if "/" in api_version else ""
        resource = str(obj.get("kind") or "").lower() + "s"
    if group == "core":
        group = ""
    return group, resource


class Normalizer:
    """Stateful core of :func:`validator.normalize.normalize`: :meth:`feed` records in file order, then
    :meth:`finish`."""

    def __init__(self, translators: Mapping[tuple[str, str], Translator]) -> None:
        self.translators = translators
        self.start_ns: int | None = None
        self.started_at: str | None = None
        self.start_mono: float | None = None
        self.objects: dict[tuple[str, str | None, str], Tracked] = {}
        self.out: list[tuple[float, int, int, dict[str, Any]]] = []
        self.warnings: list[str] = []
        #: ``(namespace, owner kind, owner name)`` → the gang key of the Kueue Workload it owns.
        self.workload_by_owner: dict[tuple[str | None, str, str], str] = {}
        #: ``namespace/name`` of an HPA → its current replicas (the ``from`` of its next rescale).
        self.hpa_replicas: dict[str, int] = {}
        self.events_before_start = 0
        self.last_recv_ns = 0
        self.stopped: tuple[Any, RecordContext] | None = None
        self._warned_streams: set[str] = set()
        #: run first by :meth:`finish`, once each: translators that can only decide once every record is
        #: in (which pods an operator's object owns) register here
        self.finishers: list[Callable[[Normalizer], None]] = []

    # ---- time -------------------------------------------------------------------------------------
    def _recv_ns(self, rec: dict[str, Any]) -> int:
        ns = parse_time_ns(rec.get("recvWall"))
        if ns is None:
            mono = rec.get("recvMono")
            if isinstance(mono, int | float) and self.start_mono is not None and self.start_ns is not None:
                ns = self.start_ns + int((float(mono) - self.start_mono) * 1e9)
            else:
                ns = self.last_recv_ns
        return ns

    def time_of(self, ctx: RecordContext, server_time: Any, tracked: Tracked | None) -> tuple[float, bool]:
        """Seconds since the start for a server timestamp (else the receive time), and whether it is
        from before the recording; never later than the receive time, never before ``tracked``'s last
        event (which it then becomes)."""
        ns = parse_time_ns(server_time)
        if ns is None or ns > ctx.recv_ns:
            ns = ctx.recv_ns
        assert self.start_ns is not None
        t = (ns - self.start_ns) / 1e9
        preexisting = t < 0
        t = max(t, 0.0)
        if tracked is not None:
            t = max(t, tracked.last_t)
            tracked.last_t = t
        return t, preexisting

    def seconds_since_start(self, ns: int) -> float:
        """Seconds from the recording's start to ``ns`` nanoseconds since the epoch."""
        assert self.start_ns is not None
        return (ns - self.start_ns) / 1e9

    # ---- emitting ---------------------------------------------------------------------------------
    def emit(self, ctx: RecordContext, t: float, preexisting: bool, type_: str, subject: Tracked, *,
             node: str | None = None, reason: str | None = None, data: dict[str, Any] | None = None,
             derived: bool = False) -> None:
        """Add one timeline event about ``subject``; ``derived``/``preexisting`` mark the payload."""
        payload = dict(data or {})
        if derived or ctx.synthetic:
            payload["derived"] = True
        if preexisting:
            payload["preexisting"] = True
        event = event_dict(0, round(t, 6), type_, subject.kind, subject.name, subject.namespace, subject.uid,
                           node, subject.group, reason, payload or None)
        self.out.append((event["t"], ctx.seq, ctx.emitted, event))
        ctx.emitted += 1

    def track(self, kind: str, obj: dict[str, Any]) -> Tracked | None:
        """The memory of ``obj`` (created on first sight; a new uid under a known name starts afresh)."""
        meta = as_dict(obj.get("metadata"))
        name = text(meta.get("name"))
        if name is None:
            return None
        namespace = text(meta.get("namespace"))
        uid = text(meta.get("uid"))
        key = (kind, namespace, name)
        tracked = self.objects.get(key)
        if tracked is not None and uid and tracked.uid and uid != tracked.uid:
            tracked = None  # deleted and re-created under the same name while we were not looking
        if tracked is None:
            tracked = Tracked(kind, name, namespace, uid)
            self.objects[key] = tracked
        return tracked

    def forget(self, tracked: Tracked) -> None:
        """Drop the memory of a deleted object."""
        self.objects.pop((tracked.kind, tracked.namespace, tracked.name), None)

    # ---- records ----------------------------------------------------------------------------------
    def _start(self, rec: dict[str, Any]) -> None:
        if rec.get("type") == "RECORDING_STARTED":
            self.started_at = text(rec.get("startedAt")) or text(rec.get("recvWall"))
            self.start_ns = parse_time_ns(self.started_at)
        if self.start_ns is None:
            self.started_at = text(rec.get("recvWall"))
            self.start_ns = parse_time_ns(self.started_at) or 0
            self.warnings.append("raw recording does not start with RECORDING_STARTED; "
                                 "times count from the first record")
        mono = rec.get("recvMono")
        self.start_mono = float(mono) if isinstance(mono, int | float) else None

    def feed(self, rec: dict[str, Any]) -> None:
        """Process one raw record (in file order)."""
        type_ = rec.get("type")
        if self.start_ns is None:
            self._start(rec)
            if type_ == "RECORDING_STARTED":
                return
        seq = rec.get("seq")
        ctx = RecordContext(seq if isinstance(seq, int) else len(self.out), self._recv_ns(rec),
                            bool(rec.get("synthetic")))
        self.last_recv_ns = max(self.last_recv_ns, ctx.recv_ns)
        stream = str(rec.get("stream") or "")
        if type_ == "RECORDING_STOPPED":
            self.stopped = (rec.get("why"), ctx)
            return
        if type_ == "GAP":
            self.warnings.append(f"record {ctx.seq}: stream {stream} broke ({rec.get('why')}); states "
                                 "between this gap and the relist after it may be derived")
            return
        if type_ == "SKIPPED":
            self.warnings.append(f"record {ctx.seq}: stream {stream} not recorded ({rec.get('why')})")
            return
        if type_ not in _CHANGES:
            return  # BOOKMARK, LIST_BEGIN, LIST_END, RELIST: progress markers only
        obj = as_dict(rec.get("object"))
        if not obj:
            return
        group, resource = api_of(stream, obj)
        translator = self.translators.get((group, resource))
        if translator is None:
            if (group, resource) in KNOWN_UNMAPPED:
                return
            if stream not in self._warned_streams:
                self._warned_streams.add(stream)
                self.warnings.append(f"stream {stream or resource!r}: no timeline mapping; its records "
                                     "stay in the raw file only")
            return
        translator(self, ctx, obj, type_ == "DELETED")

    # ---- end --------------------------------------------------------------------------------------
    def finish(self) -> tuple[list[dict[str, Any]], list[str]]:
        """The timeline events (``RunStarted`` … ``RunFinished``, ``seq`` numbered) and the warnings."""
        for finisher in self.finishers:
            finisher(self)
        if self.start_ns is None:
            self.start_ns = 0
            self.warnings.append("raw recording is empty")
        if self.events_before_start:
            self.warnings.append(f"{self.events_before_start} Kubernetes Event(s) from before the recording "
                                 "started were skipped (history the timeline does not hold)")
        pending = sorted(f"{o.namespace}/{o.name}" for o in self.objects.values()
                         if o.kind == "Pod" and "Scheduled" not in o.emitted)
        if self.stopped is not None:
            stop_why, ctx = self.stopped
            why = "duration" if stop_why == "duration" else "interrupted"
        else:
            ctx = RecordContext(1 << 62, self.last_recv_ns or self.start_ns)
            why = "interrupted"
            self.warnings.append("raw recording has no RECORDING_STOPPED: the recorder was killed; "
                                 "RunFinished is placed at the last record")
        t, _ = self.time_of(ctx, None, None)
        self.out.sort(key=lambda entry: (entry[0], entry[1], entry[2]))
        header = event_dict(0, 0.0, "RunStarted", "Run", "run", data={
            "schemaVersion": SCHEMA_VERSION, "source": "live",
            **({"startedAt": self.started_at} if self.started_at else {})})
        events = [header]
        for i, (_, _, _, event) in enumerate(self.out, start=1):
            event["seq"] = i
            events.append(event)
        events.append(event_dict(len(events), max(t, events[-1]["t"]), "RunFinished", "Run", "run",
                                 reason=why, data={"pending": len(pending)}))
        return events, self.warnings
