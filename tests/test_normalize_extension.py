"""The normalizer grows by one translator per API: a new ``(group, resource)`` needs one function (in
one new module) and one registry entry, and the core hands it the objects of that API."""

from __future__ import annotations

from typing import Any

from validator.normalize import TRANSLATORS, Normalizer
from validator.normalize.core import RecordContext
from validator.normalize.fields import as_dict

START = "2026-07-06T13:16:00Z"


def translate_widget(norm: Normalizer, ctx: RecordContext, obj: dict[str, Any], deleted: bool) -> None:
    """A toy API: one ``WidgetReady`` per widget when its status says ready."""
    widget = norm.track("Widget", obj)
    if widget is None or deleted or "ready" in widget.emitted or not as_dict(obj.get("status")).get("ready"):
        return
    widget.emitted.add("ready")
    t, preexisting = norm.time_of(ctx, None, widget)
    norm.emit(ctx, t, preexisting, "WidgetReady", widget, data={"size": obj["spec"]["size"]})


def records() -> list[dict[str, Any]]:
    widget = {"metadata": {"name": "w1", "namespace": "ns", "uid": "u1"}, "spec": {"size": 3}, "status": {}}
    ready = {**widget, "status": {"ready": True}}
    return [{"seq": 1, "recvWall": START, "type": "RECORDING_STARTED", "startedAt": START},
            {"seq": 2, "recvWall": "2026-07-06T13:16:01Z", "stream": "example.com/v1/widgets", "type": "ADDED",
             "object": widget},
            {"seq": 3, "recvWall": "2026-07-06T13:16:04Z", "stream": "example.com/v1/widgets", "type": "MODIFIED",
             "object": ready},
            {"seq": 4, "recvWall": "2026-07-06T13:16:05Z", "type": "RECORDING_STOPPED", "why": "duration"}]


def test_a_new_translator_plugs_in_without_touching_the_core() -> None:
    norm = Normalizer({**TRANSLATORS, ("example.com", "widgets"): translate_widget})
    for rec in records():
        norm.feed(rec)
    events, warnings = norm.finish()
    assert [(e["type"], e["t"], e["obj"], e.get("data")) for e in events] == [
        ("RunStarted", 0.0, {"kind": "Run", "name": "run"}, {"schemaVersion": 1, "source": "live",
                                                             "startedAt": START}),
        ("WidgetReady", 4.0, {"kind": "Widget", "namespace": "ns", "name": "w1", "uid": "u1"}, {"size": 3}),
        ("RunFinished", 5.0, {"kind": "Run", "name": "run"}, {"pending": 0})]
    assert warnings == []


def test_without_the_translator_the_stream_is_kept_raw_with_one_warning() -> None:
    norm = Normalizer(TRANSLATORS)
    for rec in records():
        norm.feed(rec)
    events, warnings = norm.finish()
    assert [e["type"] for e in events] == ["RunStarted", "RunFinished"]
    assert warnings == ["stream 'example.com/v1/widgets': no timeline mapping; its records stay in the raw file only"]
