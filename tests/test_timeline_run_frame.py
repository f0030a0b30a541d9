"""``RunStarted``/``RunFinished`` lines without ``obj`` — the form of the timeline design — are read by
every timeline reader: the line parser, ``read_timeline``, the checks and ``kubetwin validate``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from timeline_builder import valid_timeline
from typer.testing import CliRunner

from kubetwin.cli import app
from models.timeline import TimelineFormatError, parse_event, read_timeline
from validator.checks import FAILED, run_checks

HEADER = {"seq": 0, "t": 0.0, "type": "RunStarted",
          "data": {"schemaVersion": 1, "source": "sim", "seed": 7, "scenario": "h100-training"}}


def test_parse_event_accepts_a_header_without_obj() -> None:
    ev = parse_event(json.dumps(HEADER))
    assert (ev.type, ev.kind, ev.name, ev.data["seed"]) == ("RunStarted", "Run", "h100-training", 7)
    footer = parse_event('{"seq":9,"t":12.5,"type":"RunFinished","reason":"idle","data":{"pending":0}}')
    assert (footer.kind, footer.name, footer.reason, footer.t) == ("Run", "run", "idle", 12.5)


def test_other_events_still_need_obj() -> None:
    with pytest.raises(TimelineFormatError, match="'obj'"):
        parse_event('{"seq":1,"t":0,"type":"PodCreated","data":{}}')


def strip_run_obj(path: Path) -> Path:
    lines = []
    for line in path.read_text().splitlines():
        d = json.loads(line)
        if d["type"] in ("RunStarted", "RunFinished"):
            del d["obj"]
        lines.append(json.dumps(d))
    out = path.with_name("no-obj.jsonl")
    out.write_text("\n".join(lines) + "\n")
    return out


def test_readers_accept_the_frame_without_obj(tmp_path: Path) -> None:
    tl = valid_timeline()
    path = strip_run_obj(tl.write(tmp_path / "timeline.jsonl"))
    assert '"type": "RunStarted", "data"' in path.read_text()  # the header really has no obj
    timeline = read_timeline(path)
    assert timeline.problems == [] and len(timeline.events) == len(tl.events)
    assert timeline.header["schemaVersion"] == 1
    assert all(r.status != FAILED for r in run_checks(timeline.events))
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
