"""The scenario's JSON Schema, as editors read it (``kubetwin schema``): what kubectl's OpenAPI is to a CRD.

pydantic derives most of it from :class:`models.scenario.Scenario`; three things it cannot see are
added here so that every file the loader accepts also validates in an editor:

* ``$schema`` (JSON Schema 2020-12, the dialect pydantic writes) and a ``$id``;
* Go durations: a string of number+unit parts (``90s``, ``1h30m``, ``250ms``) or the number ``0`` —
  the loader's own rule (:mod:`models.duration`), as a pattern;
* the distribution shorthand: a bare duration where a distribution goes (``duration: 25m`` means
  ``{constant: {value: 25m}}``).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID = "https://kubetwin.dev/schemas/scenario-v1alpha1.json"
#: a Go duration as :func:`models.duration.parse_duration` accepts it
GO_DURATION_PATTERN = r"^\s*[-+]?(0|((\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h))+)\s*$"
GO_DURATION: dict[str, Any] = {
    "anyOf": [{"type": "string", "pattern": GO_DURATION_PATTERN}, {"const": 0}],
    "description": "a Go duration: 90s, 1h30m, 250ms, 1.5h (a bare number only as 0)",
}


class _ScenarioSchema(GenerateJsonSchema):
    """pydantic's generator, with the loader's duration rule where a duration validator runs."""

    def function_before_schema(self, schema: core_schema.BeforeValidatorFunctionSchema) -> JsonSchemaValue:
        fn = schema.get("function", {}).get("function")
        if getattr(fn, "__name__", "") == "_check_duration":
            return dict(GO_DURATION)
        return super().function_before_schema(schema)


def scenario_schema() -> dict[str, Any]:
    """The JSON Schema of a scenario file as a dict (``$schema`` first)."""
    from models.scenario import Scenario

    body = Scenario.model_json_schema(by_alias=True, schema_generator=_ScenarioSchema)
    defs = body.setdefault("$defs", {})
    if "Distribution" in defs:  # a bare duration is a constant distribution
        defs["DistributionObject"] = defs.pop("Distribution")
        defs["Distribution"] = {
            "anyOf": [{"$ref": "#/$defs/GoDuration"}, {"$ref": "#/$defs/DistributionObject"}],
            "description": "a runtime distribution, or a bare duration meaning {constant: {value: D}}",
        }
        defs["GoDuration"] = dict(GO_DURATION)
    return {"$schema": DIALECT, "$id": SCHEMA_ID, **body}


def without_required(schema: Any) -> Any:
    """A copy of ``schema`` with every ``required`` list removed: checks a fragment of a scenario (a
    doc example showing a few fields) for typos and wrong types without asking for the rest."""
    if isinstance(schema, dict):
        return {k: without_required(v) for k, v in schema.items() if k != "required"}
    if isinstance(schema, list):
        return [without_required(v) for v in schema]
    return schema


__all__ = ["DIALECT", "GO_DURATION_PATTERN", "scenario_schema", "without_required"]


def _type_text(node: Any) -> str:
    """A JSON Schema node as a short type: ``string``, ``list of Taint``, ``map of string``, ``A | B``."""
    if not isinstance(node, dict):
        return ""
    if "$ref" in node:
        name = str(node["$ref"]).rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    if "anyOf" in node or "oneOf" in node:
        parts = [_type_text(x) for x in node.get("anyOf") or node.get("oneOf") or []]
        return " \\| ".join(p for p in dict.fromkeys(parts) if p and p != "null") + \
            (" \\| null" if any(isinstance(x, dict) and x.get("type") == "null"
                                for x in node.get("anyOf") or node.get("oneOf") or []) else "")
    if "enum" in node:
        return " \\| ".join(f"`{v}`" for v in node["enum"])
    if "const" in node:
        return f"`{node['const']}`"
    kind = node.get("type")
    if kind == "array":
        return f"list of {_type_text(node.get('items') or {}) or 'any'}"
    if kind == "object" and isinstance(node.get("additionalProperties"), dict):
        return f"map of {_type_text(node['additionalProperties']) or 'any'}"
    if isinstance(kind, list):
        return " \\| ".join(str(k) for k in kind)
    return str(kind or "any")


def reference_markdown() -> str:
    """The scenario reference (``docs/scenario-reference.md``), generated from the JSON Schema: one table per
    object, its fields with type, default and description. ``kubetwin schema --markdown`` prints it; a test
    keeps the committed file equal to it."""
    schema = scenario_schema()
    defs: dict[str, Any] = schema.get("$defs") or {}
    lines = ["# Scenario reference", "",
             "Generated from the scenario's JSON Schema (`kubetwin schema --markdown`); `docs/scenario.md` "
             "explains the fields with examples. Every object rejects unknown fields.", ""]

    def table(title: str, node: dict[str, Any]) -> None:
        lines.extend([f"## {title}", ""])
        if node.get("description"):
            lines.extend([" ".join(str(node["description"]).split()), ""])
        props: dict[str, Any] = node.get("properties") or {}
        if not props:
            lines.extend([f"Type: {_type_text(node)}", ""])
            return
        required = set(node.get("required") or [])
        lines.extend(["| field | type | required | default | description |", "|---|---|---|---|---|"])
        for name, prop in props.items():
            default = prop.get("default") if isinstance(prop, dict) else None
            desc = " ".join(str(prop.get("description") or "").split()) if isinstance(prop, dict) else ""
            shown = "" if default is None else f"`{json.dumps(default)}`"
            lines.append(f"| `{name}` | {_type_text(prop)} | {'yes' if name in required else ''} | {shown} | "
                         f"{desc.replace('|', '/')} |")
        lines.append("")

    table("Scenario", schema)
    for name in sorted(defs):
        table(name, defs[name])
    return "\n".join(lines).rstrip() + "\n"
