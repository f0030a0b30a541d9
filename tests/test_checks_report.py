"""The JSON and JUnit validation reports."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from timeline_builder import TL, valid_timeline

from validator.checks import INVARIANTS, run_checks
from validator.report import build_report, junit_xml, write_json, write_junit


def _overrun(n: int) -> TL:
    tl = TL().node("n1", cpu="1")
    for i in range(n):
        tl.pod(f"p{i}", 0, cpu="1").bind(f"p{i}", "n1", 1)
    return tl


def test_registry_lists_every_invariant_once() -> None:
    ids = [i.id for i in INVARIANTS]
    assert ids == ["capacity", "lifecycle", "G1", "G2", "G3", "G4", "G5", "G6", "G7", "G8", "G8-volcano", "G9",
                   "G10", "P1", "placement", "CA1", "CA2", "CA3", "CA4", "CA5", "PR1", "PR2", "H1", "H2", "H3",
                   "D1", "D2", "D3", "D4", "D5", "D6", "D7"]
    assert all(i.title and i.description for i in INVARIANTS)


def test_json_report_shape(tmp_path: Path) -> None:
    tl = _overrun(3)
    rep = build_report("x.jsonl", len(tl.events), run_checks(tl.events), ["x.jsonl:9: not valid JSON"], ["w"])
    assert rep["ok"] is False
    assert (rep["timeline"], rep["events"], rep["problems"], rep["warnings"]) == \
        ("x.jsonl", len(tl.events), ["x.jsonl:9: not valid JSON"], ["w"])
    cap = rep["checks"][0]
    assert (cap["id"], cap["title"], cap["status"], cap["findingCount"]) == \
        ("capacity", "Node capacity", "failed", 2)
    assert cap["findings"][0] == {"invariant": "capacity", "objects": ["Pod default/p1", "Node n1"], "t": 1.0,
                                  "message": cap["findings"][0]["message"]}
    write_json(rep, tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text()) == rep


def test_json_report_ok_when_clean() -> None:
    tl = valid_timeline()
    rep = build_report("v.jsonl", len(tl.events), run_checks(tl.events))
    assert rep["ok"] is True
    assert {c["status"] for c in rep["checks"]} == {"passed"}


def test_json_findings_are_capped_with_the_true_count() -> None:
    tl = _overrun(30)
    rep = build_report("x", 0, run_checks(tl.events), max_findings=5)
    assert (rep["checks"][0]["findingCount"], len(rep["checks"][0]["findings"])) == (29, 5)


def test_junit_one_case_per_invariant_failures_capped(tmp_path: Path) -> None:
    tl = _overrun(60)
    rep = build_report("x.jsonl", len(tl.events), run_checks(tl.events))
    write_junit(rep, tmp_path / "j.xml")
    root = ET.parse(tmp_path / "j.xml").getroot()
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["kubetwin.validate"]
    suite = suites[0]
    cases = suite.findall("testcase")
    assert len(cases) == len(INVARIANTS)
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == \
        (str(len(INVARIANTS)), "1", "0")
    cap = cases[0]
    assert cap.get("name") == "capacity: Node capacity"
    fail = cap.find("failure")
    assert fail is not None and fail.text is not None
    assert fail.get("message", "").startswith("59 finding(s); first: binding pod default/p1")
    lines = fail.text.splitlines()
    assert len(lines) == 51
    assert lines[0].startswith("t=1 capacity [Pod default/p1, Node n1] binding pod default/p1")
    assert lines[-1] == "… and 9 more finding(s)"
    assert cases[1].find("failure") is None and cases[1].find("skipped") is None     # lifecycle passed
    assert cases[2].find("skipped") is not None                                       # G1: no gangs


def test_junit_problems_are_an_errored_case() -> None:
    tl = valid_timeline()
    rep = build_report("v.jsonl", len(tl.events), run_checks(tl.events), ["v.jsonl:3: not valid JSON"])
    root = ET.fromstring(junit_xml(rep).split("?>", 1)[1])
    suite = root.find("testsuite")
    assert suite is not None and suite.get("errors") == "1"
    err = suite.findall("testcase")[-1].find("error")
    assert err is not None and err.text == "v.jsonl:3: not valid JSON"
    assert err.get("message") == f"1 unreadable line(s); the checks ran on {len(tl.events)} event(s)"
