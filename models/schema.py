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
