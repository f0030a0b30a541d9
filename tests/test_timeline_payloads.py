"""One definition per event payload (models/events.py): the engine's timelines conform to it, every
event type has one, and docs/timeline.md documents exactly those keys."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kubetwin.cmd_simulate import simulate_to
from models.events import PAYLOADS, payload_problems
from models.timeline import EVENT_TYPES, read_timeline

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
#: flags a normalizer may add to any event (documented once, in the prose above the table)
COMMON = {"derived", "preexisting"}


def test_every_event_type_has_one_payload_definition() -> None:
    assert set(EVENT_TYPES) == set(PAYLOADS)


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_simulated_timelines_conform_to_the_payload_models(path: Path, tmp_path: Path) -> None:
    simulate_to(path, tmp_path, until=6 * 3600.0)
    tl = read_timeline(tmp_path / "timeline.jsonl")
    assert not tl.problems
    problems = [f"line {ev.line}: {p}" for ev in tl.events for p in payload_problems(ev.type, ev.data)]
    assert problems == []


def test_payload_problems_names_what_is_wrong() -> None:
    assert payload_problems("RunFinished", {"pending": 3}) == []
    assert payload_problems("RunFinished", {}) == ["RunFinished: missing data key 'pending'",
                                                   "RunFinished: pending: Field required"]
    assert payload_problems("Preempted", {"preemptor": "a/b", "victim": 1}) == [
        "Preempted: unknown data key 'victim'"]
    assert payload_problems("GangTimedOut", {"waitingSince": 1.0, "timeoutSeconds": 60.0, "waiting": "x",
                                             "bound": 0}) == ["GangTimedOut: waiting: Input should be a valid list"]
    assert payload_problems("SomethingNew", {"x": 1}) == []


def doc_rows() -> dict[str, str]:
    """type -> the data column of its row in docs/timeline.md (rows naming two types count for both)."""
    rows: dict[str, str] = {}
    for line in (ROOT / "docs" / "timeline.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 5 or not cells[0].startswith("`"):
            continue
        for type_ in re.findall(r"`([A-Za-z]+)`", cells[0]):
            rows[type_] = cells[-1]
    return rows


@pytest.mark.parametrize("type_", sorted(PAYLOADS))
def test_docs_list_exactly_the_payload_keys(type_: str) -> None:
    rows = doc_rows()
    assert type_ in rows, f"docs/timeline.md has no row for {type_}"
    documented = set(re.findall(r"`([A-Za-z]+)`\??", rows[type_]))
    optional_documented = set(re.findall(r"`([A-Za-z]+)`\?", rows[type_]))
    keys = set(PAYLOADS[type_].__annotations__) - COMMON
    assert keys <= documented, f"{type_}: keys missing from docs/timeline.md: {sorted(keys - documented)}"
    assert optional_documented <= keys, f"{type_}: docs list keys the model lacks: {sorted(optional_documented - keys)}"
