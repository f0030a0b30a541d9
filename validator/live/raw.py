"""The raw recording: what the watchers saw, one JSON record per line, written so nothing is lost.

This mirrors the apiserver's own watch wire format (one ``{"type", "object"}`` JSON document per
line, see the API concepts page "Efficient detection of changes") with a receive-side envelope added,
the way kube-scheduler-simulator's recorder and the audit log's JSON backend add theirs. It is the
ground truth of a recording; ``validator.normalize`` turns it into a timeline later, and may be
re-run on the same file at any time.

Durability
    Every record is appended with one ``write`` to a file opened ``O_APPEND``, then flushed and
    ``fsync``'d before the next one, so a kill at any moment loses nothing already written. At most
    the last line can be torn; :func:`read_raw` tolerates that and reports it as ``file:line``.
    A torn line anywhere else is corruption and raises :class:`~models.errors.InputError`.

Envelope (every record)
    ``seq``       1, 2, 3… in file order.
    ``recvWall``  RFC 3339 UTC wall time with nanoseconds, when the recorder got it.
    ``recvMono``  monotonic clock in seconds (float); only differences are meaningful.
    ``type``      see below.
    ``stream``    ``"<group>/<version>/<resource>"``, with ``core`` as the group of the legacy
                  API (``core/v1/pods``, ``resource.k8s.io/v1/resourceclaims``). Absent on
                  ``RECORDING_*``.
    ``ns``        present when the stream is one namespace of a namespaced resource (``-n``);
                  a LIST then covers that namespace only.
    ``rv``        the resourceVersion the record is about (object RV, bookmark RV, list RV).
    ``object``    the raw object as the server sent it, redacted (below).
    ``why``       on GAP, SKIPPED and RECORDING_STOPPED.
    ``synthetic`` ``true`` on a DELETED the watcher made up (below).

Types
    ``RECORDING_STARTED``  first line: ``kubetwin`` (version), ``context`` (name only, never a
                           credential), ``namespaces`` (empty = all), ``startedAt``, ``seed``.
    ``ADDED``/``MODIFIED``/``DELETED``  a watch event, ``object`` and ``rv`` set. A change that was
                           already recorded (same uid and resourceVersion, e.g. replayed after a
                           reconnect) is never written twice.
    ``BOOKMARK``           kept (rv only, no object): progress of the stream, about once a minute.
    ``LIST_BEGIN`` / ``LIST_ITEM`` / ``LIST_END``  one list (all pages). ``LIST_ITEM`` carries the
                           object and is written only for an object change not recorded before, in
                           resourceVersion order; so the first list of a stream is the complete
                           initial state and a relist writes only what changed during the gap.
                           ``LIST_END`` has the list ``rv`` and ``items`` (the full count).
    ``RELIST``             a new list follows because the watch could not resume (410 Gone).
    ``GAP``                the stream broke: ``why`` is ``410``, ``disconnect``, ``read-timeout``,
                           ``bad-line``, ``http-5xx``, ``429`` or ``http-<code>``; ``rv`` is the last
                           RV seen. A GAP not followed by RELIST resumed the watch at ``rv``, so
                           no change was lost; a GAP then RELIST may have lost intermediate states
                           (the relist shows the latest ones).
    ``DELETED`` + ``synthetic: true``  an object known before a relist and absent from it: it was
                           deleted during the gap. ``rv`` is the relist's RV, ``object`` the last
                           state recorded.
    ``SKIPPED``            the cluster does not serve the kind (``why`` says what discovery said).
    ``RECORDING_STOPPED``  last line of a clean stop: ``why`` is ``duration``, ``SIGINT`` or
                           ``SIGTERM``, plus ``stoppedAt``. A file without it was killed.

Redaction (before anything reaches the disk)
    ``metadata.managedFields`` is dropped from every object. In every container list
    (``containers``, ``initContainers``, ``ephemeralContainers``) anywhere in an object — pods, pod
    templates of Deployments, Kueue pod sets — a literal ``env[].value`` becomes ``"<redacted>"``;
    ``valueFrom`` references are kept. Secrets are never watched at all.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.errors import InputError

REDACTED = "<redacted>"
_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")

CHANGE_TYPES = frozenset({"ADDED", "MODIFIED", "DELETED", "LIST_ITEM"})


def rfc3339_ns(epoch_ns: int) -> str:
    """``2026-11-28T17:46:35.123456789Z`` for a time in nanoseconds since the epoch."""
    secs, frac = divmod(epoch_ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def redact(obj: Any) -> Any:
    """A copy of ``obj`` without managedFields and without literal container env values."""
    if isinstance(obj, list):
        return [redact(x) for x in obj]
    if not isinstance(obj, dict):
        return obj
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if key == "metadata" and isinstance(value, dict):
            out[key] = {k: redact(v) for k, v in value.items() if k != "managedFields"}
        elif key in _CONTAINER_LISTS and isinstance(value, list):
            out[key] = [_redact_container(c) for c in value]
        else:
            out[key] = redact(value)
    return out


def _redact_container(container: Any) -> Any:
    if not isinstance(container, dict):
        return redact(container)
    out = redact({k: v for k, v in container.items() if k != "env"})
    env = container.get("env")
    if isinstance(env, list):
        out["env"] = [
            {**redact(e), "value": REDACTED} if isinstance(e, dict) and "value" in e else redact(e)
            for e in env
        ]
    elif "env" in container:
        out["env"] = env
    return out


class RawWriter:
    """Appends records durably (write + flush + fsync per record) and counts them per stream."""

    def __init__(self, path: str | Path, *, fsync: bool = True) -> None:
        self.path = Path(path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._fsync = fsync
        self.seq = 0
        self.counts: dict[str, Counter[str]] = {}

    def write(self, type_: str, *, stream: str | None = None, **fields: Any) -> dict[str, Any]:
        """Write one record; ``object`` is redacted here. Returns the record as written."""
        if self._fd < 0:
            raise ValueError("RawWriter is closed")
        self.seq += 1
        rec: dict[str, Any] = {
            "seq": self.seq,
            "recvWall": rfc3339_ns(time.time_ns()),
            "recvMono": time.monotonic(),
        }
        if stream is not None:
            rec["stream"] = stream
        rec["type"] = type_
        for key, value in fields.items():
            if value is None:
                continue
            rec[key] = redact(value) if key == "object" else value
        line = (json.dumps(rec, separators=(",", ":"), ensure_ascii=False) + "\n").encode()
        view = memoryview(line)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        if self._fsync:
            os.fsync(self._fd)
        self.counts.setdefault(stream or "", Counter())[type_] += 1
        return rec

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> RawWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class RawFile:
    """A raw recording read back: the complete records, and where a torn last line was, if any."""

    records: list[dict[str, Any]] = field(default_factory=list)
    torn: str | None = None  # "file:line" of a torn (incomplete) last line

    @property
    def stopped(self) -> bool:
        """True when the recording ended cleanly (its last record is RECORDING_STOPPED)."""
        return bool(self.records) and self.records[-1].get("type") == "RECORDING_STOPPED"


def iter_raw(path: str | Path) -> Iterator[tuple[int, dict[str, Any] | None]]:
    """``(line_number, record)`` for every line; ``record`` is None for a torn last line.

    Raises :class:`InputError` (with file and line) for a bad line that is not the last one.
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read raw recording: {e.strerror}", file=str(p),
                         fix="pass the raw.jsonl a `kubetwin record` wrote") from e
    lines = data.split(b"\n")
    complete = data.endswith(b"\n") or not data
    last = len(lines) - 1  # after the final "\n" comes an empty piece
    for i, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw)
            if not isinstance(rec, dict):
                raise ValueError("not an object")
        except ValueError as e:
            if i == last + 1 and not complete:
                yield i, None
                return
            raise InputError(f"line is not a JSON record ({e})", file=str(p), line=i,
                             fix="only the last line of a killed recording may be incomplete") from e
        if i == last + 1 and not complete:
            # A whole JSON document without its newline: the newline itself was lost. Keep it.
            yield i, rec
            return
        yield i, rec


def read_raw(path: str | Path) -> RawFile:
    """Read a whole raw recording, tolerating (and reporting) a torn last line."""
    out = RawFile()
    for line, rec in iter_raw(path):
        if rec is None:
            out.torn = f"{path}:{line}"
        else:
            out.records.append(rec)
    return out
