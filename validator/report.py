"""Validation reports: JSON for machines, JUnit XML for CI dashboards.

The JSON report mirrors what ``kubetwin validate`` prints::

    {"ok": bool, "timeline": path, "events": n,
     "checks": [{"id", "title", "description", "status", "findingCount", "findings": [...]}],
     "problems": [...], "warnings": [...]}

``status`` is ``passed``, ``failed`` or ``not-applicable``. ``findings`` holds at most
``max_findings`` entries per invariant (``findingCount`` is the true number). ``ok`` is true only when
no invariant failed *and* every line of the timeline was readable.

The JUnit file has one ``<testsuite name="kubetwin.validate">`` with one ``<testcase>`` per invariant: a
``<failure>`` listing its findings (the body capped at :data:`JUNIT_MAX_FINDINGS` with a count of the
rest), ``<skipped>`` when not applicable, and, when the timeline had unreadable lines, one more
testcase ``timeline`` with an ``<error>``.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from validator.checks import FAILED, NOT_APPLICABLE, CheckResult, Finding

JUNIT_SUITE = "kubetwin.validate"
JUNIT_MAX_FINDINGS = 50
JSON_MAX_FINDINGS = 1000


def build_report(timeline: str, events: int, results: Sequence[CheckResult], problems: Sequence[str] = (),
                 warnings: Sequence[str] = (), *, max_findings: int = JSON_MAX_FINDINGS) -> dict[str, Any]:
    """The JSON-ready report of one validation run."""
    checks = [{
        "id": r.invariant.id,
        "title": r.invariant.title,
        "description": r.invariant.description,
        "status": r.status,
        "findingCount": len(r.findings),
        "findings": [f.to_dict() for f in r.findings[:max_findings]],
    } for r in results]
    return {
        "ok": not problems and all(r.status != FAILED for r in results),
        "timeline": timeline,
        "events": events,
        "checks": checks,
        "problems": list(problems),
        "warnings": list(warnings),
    }


def write_json(report: dict[str, Any], path: str | Path) -> None:
    Path(path).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def format_finding(f: Finding | dict[str, Any]) -> str:
    """One finding as one line: ``t=12.5 G1 [Workload a/b, Pod a/b-0] message``."""
    d = f.to_dict() if isinstance(f, Finding) else f
    return f"t={d['t']:g} {d['invariant']} [{', '.join(d['objects'])}] {d['message']}"


def junit_xml(report: dict[str, Any], *, max_findings: int = JUNIT_MAX_FINDINGS) -> str:
    """The report as a JUnit XML document."""
    checks: list[dict[str, Any]] = report["checks"]
    problems: list[str] = report["problems"]
    failures = sum(1 for c in checks if c["status"] == FAILED)
    skipped = sum(1 for c in checks if c["status"] == NOT_APPLICABLE)
    suites = ET.Element("testsuites", name="kubetwin")
    suite = ET.SubElement(suites, "testsuite", name=JUNIT_SUITE, tests=str(len(checks) + bool(problems)),
                          failures=str(failures), errors=str(int(bool(problems))), skipped=str(skipped))
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="timeline", value=str(report["timeline"]))
    ET.SubElement(props, "property", name="events", value=str(report["events"]))
    for c in checks:
        case = ET.SubElement(suite, "testcase", classname=JUNIT_SUITE, name=f"{c['id']}: {c['title']}")
        if c["status"] == FAILED:
            n = c["findingCount"]
            shown = c["findings"][:max_findings]
            lines = [format_finding(f) for f in shown]
            if n > len(shown):
                lines.append(f"… and {n - len(shown)} more finding(s)")
            fail = ET.SubElement(case, "failure", type=c["id"],
                                 message=f"{n} finding(s); first: {shown[0]['message'] if shown else ''}")
            fail.text = "\n".join(lines)
        elif c["status"] == NOT_APPLICABLE:
            ET.SubElement(case, "skipped", message="nothing in this timeline for this invariant")
    if problems:
        case = ET.SubElement(suite, "testcase", classname=JUNIT_SUITE, name="timeline: readable input")
        err = ET.SubElement(case, "error", type="InputError",
                            message=f"{len(problems)} unreadable line(s); the checks ran on "
                                    f"{report['events']} event(s)")
        err.text = "\n".join(problems[:max_findings]) + (
            f"\n… and {len(problems) - max_findings} more" if len(problems) > max_findings else "")
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def write_junit(report: dict[str, Any], path: str | Path) -> None:
    Path(path).write_text(junit_xml(report), encoding="utf-8")
