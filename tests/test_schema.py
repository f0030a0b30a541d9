"""``kubetwin schema`` (issue 14 item 12): a JSON Schema with ``$schema`` that accepts what the loader accepts —
every bundled scenario and every YAML example in the docs — and still catches typos."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from models.scenario import parse_scenario_text, scenario_json_schema
from models.schema import DIALECT, without_required

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = sorted([*REPO.glob("scenarios/*.yaml"), *REPO.glob("bench/scenarios/*.yaml")])
DOCS = sorted([*REPO.glob("docs/*.md"), REPO / "README.md"])
SCHEMA: dict[str, Any] = json.loads(scenario_json_schema())
FRAGMENT_SCHEMA: dict[str, Any] = without_required(SCHEMA)
_FENCE = re.compile(r"^```yaml\n(.*?)^```", re.S | re.M)


def _validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _errors(schema: dict[str, Any], doc: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in _validator(schema).iter_errors(doc)]


def _drop_placeholders(doc: Any) -> Any:
    """Docs elide a section as ``{...}`` or ``[...]``: drop those keys (their own examples are checked)."""
    if isinstance(doc, dict):
        return {k: _drop_placeholders(v) for k, v in doc.items() if v not in ({"...": None}, ["..."])}
    if isinstance(doc, list):
        return [_drop_placeholders(v) for v in doc]
    return doc


def _doc_examples() -> list[tuple[str, Any]]:
    out = []
    for md in DOCS:
        for i, m in enumerate(_FENCE.finditer(md.read_text(encoding="utf-8"))):
            out.extend((f"{md.relative_to(REPO)}#{i}", _drop_placeholders(d))
                       for d in yaml.safe_load_all(m.group(1)) if d is not None)
    return out


def test_schema_declares_its_dialect() -> None:
    assert SCHEMA["$schema"] == DIALECT == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: str(p.relative_to(REPO)))
def test_bundled_scenarios_validate(path: Path) -> None:
    assert _errors(SCHEMA, yaml.safe_load(path.read_text(encoding="utf-8"))) == []


@pytest.mark.parametrize(("where", "doc"), _doc_examples(), ids=lambda x: x if isinstance(x, str) else "")
def test_doc_examples_validate(where: str, doc: Any) -> None:
    """A full scenario against the schema; a fragment (a few fields, a list of workloads) against the same
    schema without its required lists; Kubernetes manifests shown in the docs are not scenarios."""
    if isinstance(doc, dict) and doc.get("kind") == "Scenario":
        assert _errors(SCHEMA, doc) == [], where
    elif isinstance(doc, dict) and "apiVersion" in doc:
        pytest.skip(f"{where}: a Kubernetes manifest, not a scenario")
    elif isinstance(doc, list):
        item = {"$ref": "#/$defs/WorkloadGen", "$defs": FRAGMENT_SCHEMA["$defs"]}
        for w in doc:
            assert _errors(item, w) == [], where
    else:  # a fragment: from the top of the file, or a few keys of spec
        defs = FRAGMENT_SCHEMA["$defs"]
        top = set(FRAGMENT_SCHEMA["properties"])
        schema = FRAGMENT_SCHEMA
        if isinstance(doc, dict) and not set(doc) <= top and set(doc) <= set(defs["Spec"]["properties"]):
            schema = {"$ref": "#/$defs/Spec", "$defs": defs}
        assert _errors(schema, doc) == [], where


def test_docs_have_examples() -> None:
    assert len(_doc_examples()) >= 3


@pytest.mark.parametrize("shorthand", ["10m", "1h30m", "250ms"])
def test_distribution_shorthand_is_accepted_by_schema_and_loader(shorthand: str) -> None:
    text = (REPO / "scenarios" / "quickstart.yaml").read_text(encoding="utf-8")
    doc = yaml.safe_load(text)
    doc["spec"]["workloads"][0]["duration"] = shorthand
    assert _errors(SCHEMA, doc) == []
    assert parse_scenario_text(yaml.safe_dump(doc)).spec.workloads[0].duration.constant is not None


@pytest.mark.parametrize(("path", "value"), [
    (("spec", "duration"), "10 minutes"),
    (("spec", "duration"), 5),
    (("spec", "workloads", 0, "duration"), "soon"),
    (("spec", "workloads", 0, "cuont"), 3),
    (("spec", "workloads", 0, "priority"), 2**31),
])
def test_schema_still_rejects_what_the_loader_rejects(path: tuple[Any, ...], value: Any) -> None:
    doc = yaml.safe_load((REPO / "scenarios" / "quickstart.yaml").read_text(encoding="utf-8"))
    node = doc
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value
    assert _errors(SCHEMA, doc) != []


def test_zero_duration_is_a_duration() -> None:
    assert _errors({"$ref": "#/$defs/GoDuration", "$defs": SCHEMA["$defs"]}, 0) == []
    assert _errors({"$ref": "#/$defs/GoDuration", "$defs": SCHEMA["$defs"]}, "1.5h") == []


def test_scenario_reference_is_generated_from_the_schema() -> None:
    """docs/scenario-reference.md is `kubetwin schema --markdown`: regenerate it when the models change."""
    from models.schema import reference_markdown

    path = Path(__file__).resolve().parent.parent / "docs" / "scenario-reference.md"
    assert path.read_text(encoding="utf-8") == reference_markdown(), \
        "docs/scenario-reference.md is stale: run `kubetwin schema --markdown > docs/scenario-reference.md`"
