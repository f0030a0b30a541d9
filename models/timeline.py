"""The timeline: kubetwin's one record of what happened in a cluster, simulated or real.

A timeline is JSON Lines, one event per line, append-only and streamable. Line one is a
``RunStarted`` header (``schemaVersion``, ``source`` sim|live|replay, seed, scenario, startedAt).
Each event has ``seq`` (total order; ties at equal ``t``), ``t`` (seconds since the run started),
``type``, ``obj`` {kind, namespace?, name, uid?}, and optionally ``node``, ``group`` (the gang key
"namespace/name" of a Kueue Workload or PodGroup), ``reason`` (Kubernetes Event message text) and
``data`` (a small payload). Event types use Kubernetes' own reason words so a real Event maps
straight across (see ``EVENT_TYPES``).

Events carry the *inputs* needed to replay them (``NodeReady`` holds pool, labels, taints and
allocatable; ``PodCreated`` holds requests, priority and placement constraints), not just outcomes.

The reader is forgiving the way a log reader must be: a torn or corrupt line (a recorder killed
mid-write, a disk that filled up) is reported with file and line number and every good event before
and after it is kept; unknown event types are kept and warned about once each.
"""

from __future__ import annotations

import json
import math
import os
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

SCHEMA_VERSION = 1

#: Every event type, by area. Add a type when a new behaviour needs one; never reuse one.
EVENT_TYPES: dict[str, str] = {
    # run
    "RunStarted": "run", "RunFinished": "run",
    # nodes
    "NodeProvisioning": "node", "NodeReady": "node", "NodeRemoved": "node", "NodeNotSchedulable": "node",
    "NodeSchedulable": "node",
    # pods
    "PodCreated": "pod", "Scheduled": "pod", "FailedScheduling": "pod", "PodRunning": "pod",
    "PodSucceeded": "pod", "PodFailed": "pod", "PodDeleted": "pod", "Preempted": "pod",
    # gangs and queues
    "QueueConfigured": "gang", "WorkloadCreated": "gang", "QuotaReserved": "gang", "Admitted": "gang",
    "PodsReady": "gang",
    "Evicted": "gang", "Requeued": "gang", "WorkloadFinished": "gang", "GangTimedOut": "gang", "Pending": "gang",
    # DRA
    "ClaimCreated": "dra", "ClaimAllocated": "dra", "ClaimReleased": "dra",
    # autoscaling
    "TriggeredScaleUp": "autoscaling", "NotTriggerScaleUp": "autoscaling", "ScaleDown": "autoscaling",
    "SuccessfulRescale": "autoscaling", "ScalingReplicaSet": "autoscaling",
    # ProvisioningRequests and Kueue admission checks
    "ProvisioningRequestCreated": "autoscaling", "Provisioned": "autoscaling", "NotProvisioned": "autoscaling",
    "ProvisioningFailed": "autoscaling", "BookingExpired": "autoscaling", "AdmissionCheckUpdated": "gang",
    # Volcano
    "VolcanoConfigured": "gang", "PodGroupPhase": "gang", "PodGroupCondition": "gang",
}


@dataclass(slots=True)
class Event:
    """One timeline event as read back from a file."""

    seq: int
    t: float
    type: str
    kind: str
    name: str
    namespace: str | None = None
    uid: str | None = None
    node: str | None = None
    group: str | None = None
    reason: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    line: int = 0

    @property
    def key(self) -> str:
        """``namespace/name`` (or ``name`` for cluster-scoped objects)."""
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    def to_dict(self) -> dict[str, Any]:
        return event_dict(self.seq, self.t, self.type, self.kind, self.name, self.namespace, self.uid,
                          self.node, self.group, self.reason, self.data or None)


def object_ref(kind: str, name: str, namespace: str | None = None, uid: str | None = None) -> dict[str, Any]:
    """An event's ``obj``: ``{kind, namespace?, name, uid?}`` in that key order."""
    obj: dict[str, Any] = {"kind": kind}
    if namespace:
        obj["namespace"] = namespace
    obj["name"] = name
    if uid:
        obj["uid"] = uid
    return obj


def event_dict(seq: int, t: float, type_: str, kind: str, name: str, namespace: str | None = None,
               uid: str | None = None, node: str | None = None, group: str | None = None,
               reason: str | None = None, data: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON shape of one event, with keys in their fixed order."""
    d: dict[str, Any] = {"seq": seq, "t": t, "type": type_, "obj": object_ref(kind, name, namespace, uid)}
    if node is not None:
        d["node"] = node
    if group is not None:
        d["group"] = group
    if reason is not None:
        d["reason"] = reason
    if data:
        d["data"] = data
    return d


_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
#: the timeline's JSON encoding of any value (compact, UTF-8, no NaN)
dumps = _dumps


def event_time(t: float) -> float:
    """Event times are kept to the microsecond; whole seconds print as ``12.0``."""
    tt = round(t, 6)
    return float(int(tt)) if tt == int(tt) else tt


def _six_decimals(x: float) -> str:
    """``repr(round(x, 6))`` for a float from 0.0001 up to 10⁹, a quarter of the cost: both round the exact
    binary value to six decimals, and a decimal of at most 15 significant digits is the shortest text that
    reads back as its float, so it is what ``repr`` prints (less its trailing zeros)."""
    s = f"{x:.6f}".rstrip("0")
    return s + "0" if s[-1] == "." else s


def time_text(t: float) -> str:
    """``repr(event_time(t))``: an event's time as the timeline prints it."""
    return _six_decimals(t) if 1e-4 <= t < 1e9 else repr(event_time(t))


def seconds_text(x: float | int) -> str:  # (int spelled out: compiled, a float parameter turns 3600 into 3600.0)
    """``encode_value(round(x, 6))``: a duration in seconds as a payload prints it (``runtimeSeconds``)."""
    if type(x) is float and 1e-4 <= x < 1e9:
        return _six_decimals(x)
    return encode_value(round(x, 6))


#: An object reference encoded once: ``(obj, group, plain)`` — ``"obj":{…}``, the ``,"group":…`` that follows
#: it (or ""), and whether its name and namespace need no JSON escaping (texts that embed them can skip
#: the encoder). A plain tuple, not a class: one per pod, and the garbage collector stops tracking tuples
#: of strings.
Ref = tuple[str, str, bool]


def _plain(s: str) -> bool:
    """Does ``s`` encode to JSON as itself between quotes (so it can be embedded without the encoder)?"""
    return s.isprintable() and '"' not in s and "\\" not in s


_plain_known: dict[str, bool] = {}


def _plain_cached(s: str) -> bool:
    """:func:`_plain` for strings that repeat (namespaces, gang keys)."""
    known = _plain_known.get(s)
    if known is None:
        if len(_plain_known) > 100_000:
            _plain_known.clear()
        known = _plain_known[s] = _plain(s)
    return known


def quote(s: str) -> str:
    """``s`` as a JSON string (the encoder's exact output), without the encoder when it is plain."""
    return f'"{s}"' if _plain(s) else _dumps(s)


def ref(kind: str, name: str, namespace: str | None = None, *, uid: str | None = None,
        group: str | None = None) -> Ref:
    """The encoded reference to one object (and its gang key), in :func:`event_dict`'s key order."""
    if uid is None and _plain(name) and (not namespace or _plain_cached(namespace)) and \
            (group is None or _plain_cached(group)):
        ns = f'"namespace":"{namespace}",' if namespace else ""
        return (f'"obj":{{"kind":"{kind}",{ns}"name":"{name}"}}', "" if group is None else f',"group":"{group}"',
                True)
    return (f'"obj":{_dumps(object_ref(kind, name, namespace, uid))}',
            "" if group is None else f',"group":{_dumps(group)}', False)


class RefTemplate:
    """:func:`ref` for many objects of one kind in one namespace and gang: the shared part is encoded once
    and :meth:`make` adds the name (the pods of a generator or a gang). ``make(name)`` returns exactly
    what ``ref(kind, name, namespace, group=group)`` does."""

    __slots__ = ("group", "group_json", "head", "kind", "namespace", "plain")

    def __init__(self, kind: str, namespace: str | None = None, group: str | None = None) -> None:
        self.kind = kind
        self.namespace = namespace
        self.group = group
        #: namespace and gang key need no escaping: a plain name completes the reference with no encoder
        self.plain = (not namespace or _plain_cached(namespace)) and (group is None or _plain_cached(group))
        ns = f'"namespace":"{namespace}",' if namespace else ""
        self.head = f'"obj":{{"kind":"{kind}",{ns}"name":"'
        self.group_json = "" if group is None else f',"group":"{group}"'

    def make(self, name: str) -> Ref:
        if self.plain and name.isprintable() and '"' not in name and "\\" not in name:  # :func:`_plain`
            return (self.head + name + '"}', self.group_json, True)
        return ref(self.kind, name, self.namespace, group=self.group)


def key_prefix(encoded: str, key: str) -> str:
    """The text :func:`with_key` puts before the value: ``with_key(encoded, key, v)`` is
    ``key_prefix(encoded, key) + encode_value(v) + "}"`` (hot loops make the prefix once per template)."""
    if encoded == "{}":
        return f'{{"{key}":'
    return f'{encoded[:-1]},"{key}":'


def encode_value(value: Any) -> str:
    """``value`` as :func:`with_key` encodes it (a finite float as its repr, the encoder's output)."""
    return repr(value) if type(value) is float and math.isfinite(value) else _dumps(value)


def with_key(encoded: str, key: str, value: Any) -> str:
    """An encoded JSON object with one more key at the end (a template's payload plus a per-pod value)."""
    # ``key`` is one of ours (plain); a finite float encodes as its repr, as the encoder writes it
    value_json = repr(value) if type(value) is float and math.isfinite(value) else _dumps(value)
    if encoded == "{}":
        return f'{{"{key}":{value_json}}}'
    return f'{encoded[:-1]},"{key}":{value_json}}}'


#: batches a writer's thread may lag behind (each ~4,096 lines, under a megabyte)
SPOOL_DEPTH = 8


class TimelineWriter:
    """Streams events to a JSONL file, assigning ``seq``.

    ``durable=True`` (the live recorder) flushes and fsyncs every line so a killed process loses
    nothing already written. Otherwise a writer that opened its own file (the simulator's) collects
    lines and writes them 4,096 at a time (one ``write`` per batch costs far less than one per line)
    from a thread of its own: the kernel's copy into the page cache (a few per cent of a large run)
    then overlaps the simulation instead of holding it up. Batches are written in order; ``flush`` and
    ``close`` return once everything collected is written, and a failed write (a full disk) is raised
    by the next ``emit`` that hands over a batch, or by ``flush``/``close``. A writer handed an open
    stream writes each line to it at once.
    """

    def __init__(self, path: str | os.PathLike[str] | IO[str], *, durable: bool = False) -> None:
        if isinstance(path, str | os.PathLike):
            self._fh: IO[str] = open(path, "w", encoding="utf-8", buffering=1 << 20)  # noqa: SIM115
            self._owns = True
        else:
            self._fh = path
            self._owns = False
        self._durable = durable
        #: lines not written yet, and its ``append``; written whenever ``seq & _batch`` is 0 (every line
        #: when durable or writing to a stream it was handed)
        self._lines: list[str] = []
        self._put = self._lines.append
        self._batch = 4095 if self._owns and not durable else 0
        self.seq = 0
        self._last_t = -1.0
        self._last_ts = ""
        #: batches on their way to the file, and the thread that writes them (batching writers only)
        self._spool: queue.Queue[str | None] | None = None
        self._spooler: threading.Thread | None = None
        self._failed: BaseException | None = None
        if self._batch:
            self._spool = queue.Queue(maxsize=SPOOL_DEPTH)
            self._spooler = threading.Thread(target=self._write_batches, args=(self._spool,), name="timeline-writer",
                                             daemon=True)
            self._spooler.start()

    def header(self, source: str, *, seed: int | None = None, scenario: str | None = None,
               started_at: str | None = None, **extra: Any) -> None:
        data: dict[str, Any] = {"schemaVersion": SCHEMA_VERSION, "source": source}
        if seed is not None:
            data["seed"] = seed
        if scenario is not None:
            data["scenario"] = scenario
        if started_at is not None:
            data["startedAt"] = started_at
        data.update(extra)
        self.emit(0.0, "RunStarted", "Run", scenario or "run", data=data)

    def emit(self, t: float, type_: str, kind: str, name: str, namespace: str | None = None, *,
             uid: str | None = None, node: str | None = None, group: str | None = None,
             reason: str | None = None, data: dict[str, Any] | None = None) -> None:
        self.emit_ref(t, type_, ref(kind, name, namespace, uid=uid, group=group),
                      node=None if node is None else _dumps(node),
                      reason=None if reason is None else _dumps(reason),
                      data=_dumps(data) if data else None)

    def emit_ref(self, t: float, type_: str, obj: Ref, *, node: str | None = None, reason: str | None = None,
                 data: str | None = None) -> None:
        """The one encoder every event goes through. ``obj`` is the pre-encoded object reference (and
        gang key) of :func:`ref`, made once per object; ``node``, ``reason`` and ``data`` are already
        JSON-encoded with :data:`dumps` (hot loops encode a node name or a template's payload once).
        Keys come out in the order of :func:`event_dict`."""
        if t != self._last_t:
            self._last_t = t
            self._last_ts = time_text(t)
        if reason is None and data is None:  # most pod lifecycle events: the short form
            if node is None:
                line = f'{{"seq":{self.seq},"t":{self._last_ts},"type":"{type_}",{obj[0]}{obj[1]}}}\n'
            else:
                line = f'{{"seq":{self.seq},"t":{self._last_ts},"type":"{type_}",{obj[0]},"node":{node}{obj[1]}}}\n'
        else:
            nd = "" if node is None else ',"node":' + node
            rs = "" if reason is None else ',"reason":' + reason
            dt = "" if data is None else ',"data":' + data
            line = f'{{"seq":{self.seq},"t":{self._last_ts},"type":"{type_}",{obj[0]}{nd}{obj[1]}{rs}{dt}}}\n'
        self._put(line)
        self.seq += 1
        if not self.seq & self._batch:
            self._drain()

    # Positional short forms of :meth:`emit_ref` for the hottest events (a call with keywords costs more
    # than the line itself); each writes exactly the bytes ``emit_ref`` writes for the same arguments.

    def emit_node(self, t: float, type_: str, obj: Ref, node: str) -> None:
        """``emit_ref(t, type_, obj, node=node)``."""
        if t != self._last_t:
            self._last_t = t
            self._last_ts = time_text(t)
        self._put(f'{{"seq":{self.seq},"t":{self._last_ts},"type":"{type_}",{obj[0]},"node":{node}{obj[1]}}}\n')
        self.seq += 1
        if not self.seq & self._batch:
            self._drain()

    def emit_node_reason(self, t: float, type_: str, obj: Ref, node: str, reason: str) -> None:
        """``emit_ref(t, type_, obj, node=node, reason=reason)``."""
        if t != self._last_t:
            self._last_t = t
            self._last_ts = time_text(t)
        self._put(f'{{"seq":{self.seq},"t":{self._last_ts},"type":"{type_}",{obj[0]},"node":{node}{obj[1]}'
                  f',"reason":{reason}}}\n')
        self.seq += 1
        if not self.seq & self._batch:
            self._drain()

    def emit_data(self, t: float, type_: str, obj: Ref, data: str) -> None:
        """``emit_ref(t, type_, obj, data=data)``."""
        if t != self._last_t:
            self._last_t = t
            self._last_ts = time_text(t)
        self._put(f'{{"seq":{self.seq},"t":{self._last_ts},"type":"{type_}",{obj[0]}{obj[1]},"data":{data}}}\n')
        self.seq += 1
        if not self.seq & self._batch:
            self._drain()

    def _drain(self) -> None:
        """Write the collected lines, or hand them to the writing thread (and, when durable, flush and
        fsync them)."""
        lines = self._lines
        if lines:
            text = lines[0] if len(lines) == 1 else "".join(lines)
            lines.clear()
            spool = self._spool
            if spool is None:
                self._fh.write(text)
            else:
                self._raise_failed()
                spool.put(text)
        if self._durable:
            self._fh.flush()
            os.fsync(self._fh.fileno())

    def _write_batches(self, spool: queue.Queue[str | None]) -> None:
        """The writing thread: batches in the order they were handed over, until ``None``."""
        while True:
            text = spool.get()
            try:
                if text is None:
                    return
                if self._failed is None:  # after a failed write, later batches are dropped, not written
                    self._fh.write(text)
            except BaseException as exc:  # raised in the simulating thread by the next hand-over or flush
                self._failed = exc
            finally:
                spool.task_done()

    def _raise_failed(self) -> None:
        if self._failed is not None:
            raise self._failed

    def write_event(self, ev: Event) -> None:
        """Append an already-built event (re-numbering ``seq``)."""
        self.emit(ev.t, ev.type, ev.kind, ev.name, ev.namespace, uid=ev.uid, node=ev.node,
                  group=ev.group, reason=ev.reason, data=ev.data or None)

    def flush(self) -> None:
        self._drain()
        if self._spool is not None:
            self._spool.join()  # the writing thread has written every batch handed over
            self._raise_failed()
        self._fh.flush()

    def close(self) -> None:
        try:
            self.flush()
        finally:
            if self._spooler is not None and self._spool is not None:  # (set together)
                self._spool.put(None)
                self._spooler.join()
                self._spooler = self._spool = None
            if self._owns:
                self._fh.close()

    def __enter__(self) -> TimelineWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class Timeline:
    """A timeline read back from a file: its events and what was wrong with it."""

    path: str
    events: list[Event]
    problems: list[str]   # corrupt/torn lines, each "file:line: what"
    warnings: list[str]   # unknown event types, missing header, …

    @property
    def header(self) -> dict[str, Any]:
        if self.events and self.events[0].type == "RunStarted":
            return self.events[0].data
        return {}


class TimelineFormatError(ValueError):
    """A line of a timeline is not an event."""


def parse_event(line: str, lineno: int = 0) -> Event:
    """Parse one JSONL line into an :class:`Event`; raises :class:`TimelineFormatError`."""
    try:
        d = json.loads(line)
    except json.JSONDecodeError as e:
        raise TimelineFormatError(f"not valid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(d, dict):
        raise TimelineFormatError("not a JSON object")
    if "obj" not in d and d.get("type") in ("RunStarted", "RunFinished"):
        # the run frame may omit obj (the design's form): it is about the run named by the header
        scenario = (d.get("data") or {}).get("scenario") if isinstance(d.get("data"), dict) else None
        d["obj"] = {"kind": "Run", "name": scenario if isinstance(scenario, str) else "run"}
    try:
        seq, t, type_, obj = d["seq"], d["t"], d["type"], d["obj"]
    except KeyError as e:
        raise TimelineFormatError(f"missing required field {e.args[0]!r}") from None
    if not isinstance(seq, int) or isinstance(seq, bool):
        raise TimelineFormatError("field 'seq' must be an integer")
    if not isinstance(t, int | float) or isinstance(t, bool) or not math.isfinite(t):
        raise TimelineFormatError("field 't' must be a finite number of seconds")
    if not isinstance(type_, str):
        raise TimelineFormatError("field 'type' must be a string")
    if not isinstance(obj, dict) or not isinstance(obj.get("kind"), str) or \
            not isinstance(obj.get("name"), str):
        raise TimelineFormatError("field 'obj' must be an object with string 'kind' and 'name'")
    data = d.get("data") or {}
    if not isinstance(data, dict):
        raise TimelineFormatError("field 'data' must be an object")
    for k in ("node", "group", "reason"):
        if d.get(k) is not None and not isinstance(d[k], str):
            raise TimelineFormatError(f"field {k!r} must be a string")
    ns, uid = obj.get("namespace"), obj.get("uid")
    return Event(seq, float(t), type_, obj["kind"], obj["name"],
                 ns if isinstance(ns, str) else None, uid if isinstance(uid, str) else None,
                 d.get("node"), d.get("group"), d.get("reason"), data, lineno)


def iter_lines(path: str | os.PathLike[str]) -> Iterator[tuple[int, str]]:
    with open(path, encoding="utf-8", errors="replace") as fh:
        yield from enumerate(fh, 1)


def read_timeline(path: str | os.PathLike[str]) -> Timeline:
    """Read a timeline, keeping every good event and reporting every bad line.

    Raises ``FileNotFoundError``/``IsADirectoryError`` for a path that is not a file; everything
    wrong *inside* the file is reported in ``problems``/``warnings`` instead.
    """
    p = str(path)
    if not Path(p).is_file():
        if Path(p).is_dir():
            raise IsADirectoryError(p)
        raise FileNotFoundError(p)
    events: list[Event] = []
    problems: list[str] = []
    warnings: list[str] = []
    unknown: set[str] = set()
    last_line = ""
    for lineno, line in iter_lines(p):
        last_line = line
        if not line.strip():
            continue
        try:
            ev = parse_event(line, lineno)
        except TimelineFormatError as e:
            torn = "" if line.endswith("\n") else " (torn last line: the writer was interrupted)"
            problems.append(f"{p}:{lineno}: {e}{torn}")
            continue
        if ev.type not in EVENT_TYPES and ev.type not in unknown:
            unknown.add(ev.type)
            warnings.append(f"{p}:{lineno}: unknown event type {ev.type!r} (skipped by the checks)")
        events.append(ev)
    del last_line
    if not events or events[0].type != "RunStarted":
        warnings.append(f"{p}: no RunStarted header on line 1")
    else:
        ver = events[0].data.get("schemaVersion")
        if isinstance(ver, int) and ver > SCHEMA_VERSION:
            warnings.append(f"{p}: schemaVersion {ver} is newer than this kubetwin reads "
                            f"({SCHEMA_VERSION}); upgrade kubetwin")
    return Timeline(p, events, problems, warnings)
