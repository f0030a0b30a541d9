"""Normalization: a raw watch recording becomes a timeline, the way an informer becomes events.

A controller in Kubernetes never sees "a pod was scheduled"; it sees successive states of objects
(an informer's ADDED/MODIFIED/DELETED deltas) and derives transitions by comparing what it knew with
what it now sees. This module does the same for a recording: it keeps the last known state of every
Pod, Node, Kueue Workload, queue and ResourceClaim, compares each new state with it, and emits one
timeline event per lifecycle transition (``docs/timeline.md`` fixes each payload). Kubernetes Events
(``events.k8s.io/v1`` or core ``v1``) with a reason that is itself a timeline type are mapped straight
across onto the object they regard.

It is a pure function, raw records → timeline events, so a better normalizer can re-derive the
timeline from the same raw file at any time. The package holds a small core (:mod:`.core`: per-object
memory, times, emitting, dispatch), the raw-JSON vocabulary (:mod:`.fields`) and one translator per
API — :mod:`.pods`, :mod:`.nodes`, :mod:`.kueue`, :mod:`.provreqs`, :mod:`.gangs`, :mod:`.claims`,
:mod:`.events` —
registered in :mod:`.translators`. The rules (which timestamp each event takes, what
counts as pre-existing, when an event is *derived*) are documented per event in
``docs/recording.md``; in short:

* ``t`` is the server's own timestamp for the transition where the object carries one (condition
  ``lastTransitionTime``, container ``startedAt``/``finishedAt``, ``creationTimestamp``, event
  ``eventTime``…), else the receive time, and never later than the receive time;
* events about an object never go back in time (a later transition is clamped to the previous one);
* anything that happened before the recording started is placed at ``t = 0`` with
  ``data.preexisting: true``;
* a transition inferred from a later state (a pod first seen Running was Scheduled before) carries
  ``data.derived: true``, as do events from a DELETED the watcher synthesized after a relist;
* each transition is emitted once per object, however many duplicate MODIFIED events repeat it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from models.timeline import TimelineWriter
from validator.live.raw import read_raw
from validator.normalize.core import Normalizer, Tracked, Translator
from validator.normalize.events import EVENT_REASONS
from validator.normalize.fields import parse_time_ns, pod_requests, sum_resources
from validator.normalize.nodes import POOL_LABELS, node_pool
from validator.normalize.translators import TRANSLATORS

__all__ = ["EVENT_REASONS", "POOL_LABELS", "TRANSLATORS", "Normalizer", "Tracked", "Translator", "node_pool",
           "normalize", "normalize_file", "parse_time_ns", "pod_requests", "read_raw_records", "sum_resources"]


def read_raw_records(path: str | Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The records of a raw recording and warnings; a torn last line is skipped with a warning.

    A bad line that is not the last one is corruption: :class:`InputError` with file and line.
    """
    raw = read_raw(path)
    warnings = [f"{raw.torn}: torn last line skipped (the recorder was interrupted)"] if raw.torn else []
    return raw.records, warnings


def normalize(records: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Turn raw recording records (file order) into timeline events and warnings.

    The events start with the ``RunStarted`` header and end with ``RunFinished``; each is a dict in
    :func:`models.timeline.event_dict` shape with ``seq`` numbered in output order.
    """
    normalizer = Normalizer(TRANSLATORS)
    for rec in records:
        if isinstance(rec, dict):
            normalizer.feed(rec)
    return normalizer.finish()


def normalize_file(raw_path: str | Path, out_path: str | Path) -> list[str]:
    """Normalize a raw recording file into a timeline file; returns the warnings."""
    records, warnings = read_raw_records(raw_path)
    events, more = normalize(records)
    with TimelineWriter(out_path) as writer:
        head = events[0]["data"]
        writer.header("live", started_at=head.get("startedAt"))
        for event in events[1:]:
            obj = event["obj"]
            writer.emit(event["t"], event["type"], obj["kind"], obj["name"], obj.get("namespace"),
                        uid=obj.get("uid"), node=event.get("node"), group=event.get("group"),
                        reason=event.get("reason"), data=event.get("data"))
    return warnings + more
