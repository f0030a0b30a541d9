"""The sweep: many variants of one scenario × many seeds, the way a capacity planner asks "what if".

A ``kind: Sweep`` document (``apiVersion: kubetwin.dev/v1alpha1``) is to a scenario what a Kubernetes
Indexed Job is to a pod template: one template (the base scenario, by path), a set of parameters that
vary it, and a number of replicates. Each parameter is a *path into the scenario* —
``spec.cluster.nodePools[name=h100].count`` or ``spec.scheduler.scoring`` — with a list of values or a
range; the points of the sweep are the cartesian product of all parameter values, in file order, and
every point runs ``seeds`` times. An optional objective says what "best" means: minimise (or maximise)
one summary number subject to constraints such as ``waitSeconds.p95 < 10m``.

:func:`load_sweep` is the only way in; every problem becomes an :class:`InputError` naming the file, the
field and the fix. This module only describes the document: patching scenarios and running them is
``kubetwin.sweep``.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from models.duration import DurationError, parse_duration
from models.errors import InputError

API_VERSION = "kubetwin.dev/v1alpha1"
KIND = "Sweep"
#: the most runs one sweep may plan (points × seeds); a typo in a range should not plan a billion runs
MAX_RUNS = 1_000_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class RangeSpec(_Strict):
    """``{from: 8, to: 16, step: 4}`` → 8, 12, 16 (``to`` is included when the steps land on it)."""

    from_: float = Field(alias="from")
    to: float
    step: float = Field(default=1, gt=0)

    @model_validator(mode="after")
    def _order(self) -> RangeSpec:
        if self.to < self.from_:
            raise ValueError("'to' must be >= 'from'")
        if (self.to - self.from_) / self.step >= MAX_RUNS:
            raise ValueError(f"the range has more than {MAX_RUNS:,} values; use a larger step")
        return self

    def values(self) -> list[int | float]:
        n = math.floor((self.to - self.from_) / self.step + 1e-9) + 1
        out: list[int | float] = []
        integral = all(float(x).is_integer() for x in (self.from_, self.step))
        for i in range(n):
            v = self.from_ + i * self.step
            out.append(round(v) if integral else round(v, 12))
        return out


class Metadata(_Strict):
    name: str = Field(min_length=1, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


_CONSTRAINT = re.compile(r"^\s*([A-Za-z_][\w.\-/]*)\s*(<=|>=|<|>|==)\s*(\S+)\s*$")
_METRIC = re.compile(r"^[A-Za-z_][\w.\-/]*$")


class Constraint:
    """``metric op value``: ``waitSeconds.p95 < 10m`` (a Go duration or a plain number)."""

    __slots__ = ("metric", "op", "text", "value")

    def __init__(self, text: str) -> None:
        m = _CONSTRAINT.match(text)
        if not m:
            raise ValueError(f"{text!r} is not 'metric op value' (op one of < <= > >= ==), e.g. "
                             "'waitSeconds.p95 < 10m'")
        self.text = text.strip()
        self.metric, self.op, raw = m.group(1), m.group(2), m.group(3)
        try:
            self.value = float(raw)
        except ValueError:
            try:
                self.value = parse_duration(raw)
            except DurationError as e:
                raise ValueError(f"{raw!r} is neither a number nor a duration ({e})") from None

    def holds(self, x: float) -> bool:
        return {"<": x < self.value, "<=": x <= self.value, ">": x > self.value, ">=": x >= self.value,
                "==": x == self.value}[self.op]


class Objective(_Strict):
    """Minimise (or maximise) one summary number over the points whose constraints hold (on the mean
    across seeds)."""

    minimize: str | None = Field(default=None, description="a summary.json number, e.g. cost.total")
    maximize: str | None = None
    subjectTo: list[str] = Field(default_factory=list,
                                 description="constraints such as 'waitSeconds.p95 < 10m'")

    @model_validator(mode="after")
    def _one(self) -> Objective:
        if (self.minimize is None) == (self.maximize is None):
            raise ValueError("give exactly one of 'minimize' or 'maximize' (a summary number, e.g. cost.total)")
        if not _METRIC.match(self.metric):
            raise ValueError(f"{self.metric!r} is not a summary number path such as cost.total")
        for c in self.subjectTo:
            Constraint(c)
        return self

    @property
    def metric(self) -> str:
        return self.minimize if self.minimize is not None else str(self.maximize)

    @property
    def sense(self) -> Literal["minimize", "maximize"]:
        return "minimize" if self.minimize is not None else "maximize"

    def constraints(self) -> list[Constraint]:
        return [Constraint(c) for c in self.subjectTo]


class SweepSpec(_Strict):
    scenario: str = Field(min_length=1, description="the base scenario file, relative to the sweep file")
    seed: int = Field(default=0, description="the sweep seed; each run's seed derives from it, the point "
                                             "and the replicate")
    seeds: int = Field(default=1, ge=1, le=10_000, description="replicates (seeds) per point")
    parameters: dict[str, list[Any] | RangeSpec] = Field(
        default_factory=dict, description="path into the scenario → list of values or {from, to, step}")
    objective: Objective | None = None

    @field_validator("parameters")
    @classmethod
    def _paths(cls, params: dict[str, list[Any] | RangeSpec]) -> dict[str, list[Any] | RangeSpec]:
        for path, vals in params.items():
            if not path.startswith("spec."):
                raise ValueError(f"parameter {path!r} must be a path inside the scenario's spec, "
                                 "e.g. spec.cluster.nodePools[name=h100].count")
            if isinstance(vals, list) and not vals:
                raise ValueError(f"parameter {path!r} has no values; list at least one")
        return params

    @model_validator(mode="after")
    def _checks(self) -> SweepSpec:
        n = 1
        for vals in self.parameters.values():
            n *= len(vals) if isinstance(vals, list) else len(vals.values())
        if n * self.seeds > MAX_RUNS:
            raise ValueError(f"the sweep plans {n * self.seeds:,} runs (more than {MAX_RUNS:,}); "
                             "fewer values or seeds")
        return self

    def values(self, path: str) -> list[Any]:
        v = self.parameters[path]
        return v.values() if isinstance(v, RangeSpec) else list(v)


class Sweep(_Strict):
    apiVersion: Literal["kubetwin.dev/v1alpha1"]
    kind: Literal["Sweep"]
    metadata: Metadata
    spec: SweepSpec

    _source: Path | None = None
    _file: str = "<sweep>"

    @property
    def source(self) -> Path | None:
        return self._source

    @property
    def file(self) -> str:
        """The sweep file as the user named it (for messages)."""
        return self._file

    def scenario_path(self) -> Path:
        """The base scenario, resolved against the sweep file's folder."""
        p = Path(self.spec.scenario)
        if not p.is_absolute() and self._source is not None:
            p = self._source.parent / p
        return p


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif "." in str(part) or "[" in str(part):
            out += f'["{part}"]'
        else:
            out += ("." if out else "") + str(part)
    return out


_FIXES = {
    "scenario": "give the base scenario file, e.g. scenario: ../scenarios/quickstart.yaml",
    "seeds": "a whole number of replicates per point, e.g. seeds: 5",
    "objective": "e.g. objective: {minimize: cost.total, subjectTo: ['waitSeconds.p95 < 10m']}",
    "parameters": "map a scenario path to a list or a range, e.g. "
                  "spec.cluster.nodePools[name=h100].count: [8, 12, 16] or {from: 8, to: 16, step: 4}",
    "metadata": "e.g. metadata: {name: h100-capacity} (lowercase letters, digits, '-' and '.')",
}


def _line_of(text: str, loc: tuple[int | str, ...]) -> int | None:
    """The 1-based line of the deepest node along ``loc`` in the YAML text (for error messages)."""
    try:
        node: yaml.Node | None = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
        else:
            break
        if node is None:
            break
        line = node.start_mark.line + 1
    return line


def parse_sweep_text(text: str, file: str = "<sweep>", source: Path | None = None) -> Sweep:
    """Parse and validate a sweep document; raises :class:`InputError`."""
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        raise InputError(f"YAML syntax error: {e.problem or e.context}", file=file,
                         line=mark.line + 1 if mark else None, column=mark.column + 1 if mark else None,
                         fix="check indentation, colons and quotes around this place") from None
    except yaml.YAMLError as e:
        raise InputError(f"not valid YAML: {e}", file=file) from None
    if not isinstance(data, dict):
        raise InputError("expected a mapping at the top level", file=file,
                         fix=f"start with 'apiVersion: {API_VERSION}' and 'kind: {KIND}'")
    api, kind = data.get("apiVersion"), data.get("kind")
    if api != API_VERSION or kind != KIND:
        raise InputError(f"this is not a kubetwin sweep (apiVersion {api!r}, kind {kind!r})", file=file,
                         field="apiVersion" if api != API_VERSION else "kind",
                         fix=f"use apiVersion: {API_VERSION} and kind: {KIND}")
    try:
        sw = Sweep.model_validate(data)
    except ValidationError as e:
        errs = e.errors()
        # a parameter is list-or-range: report the error of the member the user meant
        err = next((x for x in errs if x["type"] == "value_error"), None) or \
            next((x for x in errs if x["type"] != "list_type"), errs[0])
        loc = tuple(err["loc"])
        # pydantic names the union member it tried (list[any] / RangeSpec, or the validator wrapping it); drop
        # it from the path
        loc = tuple(p for p in loc if p not in ("list[any]", "RangeSpec") and not str(p).startswith("function-"))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        elif err["type"] == "missing":
            msg = "required field is missing"
        top = next((str(p) for p in loc[1:] if str(p) in _FIXES), None)
        raise InputError(msg, file=file, field=_loc(loc) or None, line=_line_of(text, loc),
                         fix=_FIXES.get(top or "", "see docs/howto-sweep.md for the sweep format")) from None
    sw._source = source
    sw._file = file
    return sw


def load_sweep(path: str | Path) -> Sweep:
    """Load a sweep file; every problem becomes an :class:`InputError`."""
    p = Path(path)
    if not p.is_file():
        raise InputError("file not found" if not p.exists() else "is not a file", file=str(p),
                         fix="pass a sweep YAML file (kind: Sweep)")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read: {e}", file=str(p), fix="save the file as UTF-8 text") from None
    return parse_sweep_text(text, str(p), p.resolve())


__all__ = ["API_VERSION", "KIND", "Constraint", "Objective", "RangeSpec", "Sweep", "SweepSpec", "load_sweep",
           "parse_sweep_text"]
