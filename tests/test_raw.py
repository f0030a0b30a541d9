"""The raw recording format: redaction, durable appends, and a reader that survives a torn tail."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from models.errors import InputError
from validator.live.raw import REDACTED, RawWriter, read_raw, redact, rfc3339_ns


def test_redact_env_values_everywhere_and_drop_managed_fields() -> None:
    pod: dict[str, Any] = {
        "kind": "Pod", "metadata": {"name": "p", "managedFields": [{"manager": "kubectl"}]},
           "spec": {"containers": [{"name": "c", "env": [
               {"name": "TOKEN", "value": "s3cret"},
               {"name": "FROM", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}],
               "initContainers": [{"name": "i", "env": [{"name": "A", "value": "x"}]}],
               "ephemeralContainers": [{"name": "e", "env": [{"name": "B", "value": ""}]}]}}
    out = redact(pod)
    assert "managedFields" not in out["metadata"]
    env = out["spec"]["containers"][0]["env"]
    assert env[0] == {"name": "TOKEN", "value": REDACTED}
    assert env[1] == {"name": "FROM", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}
    assert out["spec"]["initContainers"][0]["env"][0]["value"] == REDACTED
    assert out["spec"]["ephemeralContainers"][0]["env"][0]["value"] == REDACTED
    assert pod["spec"]["containers"][0]["env"][0]["value"] == "s3cret"  # input untouched
    deployment = {"spec": {"template": {"metadata": {"managedFields": []},
                                        "spec": {"containers": [{"env": [{"name": "T", "value": "v"}]}]}}}}
    red = redact(deployment)
    assert red["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] == REDACTED
    assert "managedFields" not in red["spec"]["template"]["metadata"]


def test_writer_envelope_and_redaction_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "raw.jsonl"
    with RawWriter(path) as w:
        w.write("RECORDING_STARTED", kubetwin="0.1.0", context="kind", namespaces=[])
        w.write("ADDED", stream="core/v1/pods", rv="5", object={
            "metadata": {"name": "p", "uid": "u"},
            "spec": {"containers": [{"name": "c", "env": [{"name": "TOKEN", "value": "s3cret"}]}]}})
        assert w.counts["core/v1/pods"]["ADDED"] == 1
    text = path.read_text()
    assert "s3cret" not in text
    recs = [json.loads(line) for line in text.splitlines()]
    assert [r["seq"] for r in recs] == [1, 2]
    assert recs[1]["stream"] == "core/v1/pods" and recs[1]["rv"] == "5"
    assert recs[0]["recvWall"].endswith("Z") and len(recs[0]["recvWall"].split(".")[1]) == 10
    assert isinstance(recs[0]["recvMono"], float)
    assert "stream" not in recs[0] and "why" not in recs[1]  # absent fields are left out


def test_rfc3339_ns() -> None:
    assert rfc3339_ns(1_700_000_000_123_456_789) == "2023-11-14T22:13:20.123456789Z"


def test_reader_reports_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "raw.jsonl"
    with RawWriter(path, fsync=False) as w:
        for i in range(3):
            w.write("BOOKMARK", stream="core/v1/pods", rv=str(i))
    with path.open("ab") as f:
        f.write(b'{"seq":4,"recvWall":"2026-')
    raw = read_raw(path)
    assert [r["seq"] for r in raw.records] == [1, 2, 3]
    assert raw.torn == f"{path}:4"
    assert not raw.stopped


def test_reader_keeps_a_complete_record_missing_its_newline(tmp_path: Path) -> None:
    path = tmp_path / "raw.jsonl"
    path.write_bytes(b'{"seq":1,"type":"RECORDING_STARTED"}\n{"seq":2,"type":"RECORDING_STOPPED"}')
    raw = read_raw(path)
    assert raw.torn is None and raw.stopped and len(raw.records) == 2


def test_reader_refuses_corruption_before_the_end(tmp_path: Path) -> None:
    path = tmp_path / "raw.jsonl"
    path.write_bytes(b'{"seq":1}\n{"seq":2,"ty\n{"seq":3}\n')
    with pytest.raises(InputError) as e:
        read_raw(path)
    assert e.value.line == 2 and e.value.file == str(path)


def test_reader_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        read_raw(tmp_path / "nope.jsonl")
