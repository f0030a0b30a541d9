"""``kubetwin validate``: exit codes 0/1/2, the table, and the JSON/JUnit files."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from timeline_builder import TL, valid_timeline
from typer.testing import CliRunner

from kubetwin.cli import app, main
from models.errors import InputError

runner = CliRunner()


def _bad(path: Path) -> Path:
    tl = TL().node("n1", cpu="1").pod("a/p", 0, cpu="2").bind("a/p", "n1", 1)
    return tl.write(path)


def test_valid_timeline_exits_0_and_writes_reports(tmp_path: Path) -> None:
    p = valid_timeline().write(tmp_path / "timeline.jsonl")
    r = runner.invoke(app, ["validate", str(p), "--json", str(tmp_path / "r.json"),
                            "--junit", str(tmp_path / "j.xml")])
    assert r.exit_code == 0, r.output
    assert "capacity" in r.output and "passed" in r.output
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["ok"] is True and rep["events"] == len(valid_timeline().events)
    suite = ET.parse(tmp_path / "j.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0"


def test_violation_exits_1_and_shows_the_first_finding(tmp_path: Path) -> None:
    p = _bad(tmp_path / "t.jsonl")
    r = runner.invoke(app, ["validate", str(p), "--json", str(tmp_path / "r.json"),
                            "--junit", str(tmp_path / "j.xml")])
    assert r.exit_code == 1, r.output
    assert "failed" in r.output and "overcommits" in r.output
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["ok"] is False
    assert rep["checks"][0]["findings"][0]["objects"] == ["Pod a/p", "Node n1"]
    suite = ET.parse(tmp_path / "j.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "1"


@pytest.mark.parametrize("make", ["missing", "directory", "empty", "not-jsonl"])
def test_unusable_input_is_an_input_error_exit_2(tmp_path: Path, make: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "t.jsonl"
    if make == "directory":
        p.mkdir()
    elif make == "empty":
        p.write_text("")
    elif make == "not-jsonl":
        p.write_text("apiVersion: kubetwin.dev/v1alpha1\nkind: Scenario\n")
    r = runner.invoke(app, ["validate", str(p)])
    assert isinstance(r.exception, InputError), r.output
    assert r.exception.file == str(p) and r.exception.fix
    with pytest.raises(SystemExit) as e:
        main(["validate", str(p)])
    assert e.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_corrupt_lines_run_the_checks_write_reports_then_exit_2(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    p = valid_timeline().write(tmp_path / "t.jsonl")
    lines = p.read_text().splitlines(keepends=True)
    lines.insert(5, "{not json\n")
    p.write_text("".join(lines) + '{"seq": 999, "t": 1')          # and a torn last line
    r = runner.invoke(app, ["validate", str(p), "--json", str(tmp_path / "r.json"),
                            "--junit", str(tmp_path / "j.xml")])
    assert isinstance(r.exception, InputError)
    n = len(valid_timeline().events)
    assert r.exception.message.startswith(f"timeline has 2 unreadable line(s); the checks ran on {n} events")
    assert "problem:" in r.output and "torn last line" in r.output
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["ok"] is False and len(rep["problems"]) == 2
    assert all(c["status"] == "passed" for c in rep["checks"])
    suite = ET.parse(tmp_path / "j.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("errors") == "1"
    with pytest.raises(SystemExit) as e:
        main(["validate", str(p)])
    assert e.value.code == 2
    assert "unreadable line" in capsys.readouterr().err


def test_help_documents_the_exit_codes() -> None:
    r = runner.invoke(app, ["validate", "--help"])
    assert r.exit_code == 0
    assert "unreadable" in r.output and "Exit codes" in r.output
