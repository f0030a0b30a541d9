"""Distributions for arrivals and runtimes, written the way a scenario file writes them.

Each distribution is a one-key mapping whose parameters are Go durations::

    {constant: {value: 25m}}
    {exponential: {mean: 45m}}
    {lognormal: {median: 2h, sigma: 0.5}}      # median = exp(mu); sigma of the underlying normal
    {uniform: {min: 5m, max: 25m}}
    {empirical: {values: [10m, 20m, 1h]}}      # drawn uniformly from the list
    {empirical: {csv: runtimes.csv, column: seconds, unit: s}}   # a CSV column of numbers

``compile()`` turns a validated distribution into a plain ``sample(rng) -> seconds`` closure for
the simulator's hot loop; the ``random.Random`` it takes is the caller's, so a run is deterministic.
"""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from models.duration import parse_duration

Sampler = Callable[[random.Random], float]


def _check_duration(v: Any) -> str:
    """Runs before pydantic's string check, so an unquoted ``every: 1`` gets the unit hint, not
    "should be a string"."""
    if isinstance(v, bool) or not isinstance(v, str | int | float):
        raise ValueError(f"{v!r} is not a duration; write e.g. 90s, 1h30m or 250ms")
    parse_duration(v)
    return v if isinstance(v, str) else "0s"


#: A Go duration string (``90s``, ``1h30m``); validated at load time.
Duration = Annotated[str, BeforeValidator(_check_duration)]


def _nonneg(v: str) -> str:
    if parse_duration(v) < 0:
        raise ValueError(f"{v!r} is negative; durations here must be >= 0")
    return v


NonNegDuration = Annotated[str, BeforeValidator(_check_duration), AfterValidator(_nonneg)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Constant(_Strict):
    value: NonNegDuration


class Exponential(_Strict):
    mean: NonNegDuration


class LogNormal(_Strict):
    median: NonNegDuration
    sigma: float = Field(ge=0, le=10)


class Uniform(_Strict):
    min: NonNegDuration
    max: NonNegDuration

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if parse_duration(self.min) > parse_duration(self.max):
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class Empirical(_Strict):
    values: list[NonNegDuration] | None = None
    csv: str | None = Field(default=None, description="CSV file, relative to the scenario file")
    column: str | None = None
    unit: NonNegDuration = Field(default="1s", description="what one unit of a CSV number means")

    @model_validator(mode="after")
    def _one_source(self) -> Empirical:
        if (self.values is None) == (self.csv is None):
            raise ValueError("give exactly one of 'values' (a list of durations) or 'csv' with 'column'")
        if self.values is not None and not self.values:
            raise ValueError("'values' is empty; list at least one duration")
        if self.csv is not None and not self.column:
            raise ValueError("'csv' needs 'column' (the header of the column to draw from)")
        return self


class Distribution(_Strict):
    """Exactly one of the distribution kinds."""

    constant: Constant | None = None
    exponential: Exponential | None = None
    lognormal: LogNormal | None = None
    uniform: Uniform | None = None
    empirical: Empirical | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        # a bare duration means a constant: ``duration: 25m``
        if isinstance(v, str):
            return {"constant": {"value": v}}
        return v

    @model_validator(mode="after")
    def _exactly_one(self) -> Distribution:
        set_ = [k for k in ("constant", "exponential", "lognormal", "uniform", "empirical")
                if getattr(self, k) is not None]
        if len(set_) != 1:
            raise ValueError("give exactly one of constant, exponential, lognormal, uniform, empirical"
                             + (f" (got {', '.join(set_)})" if set_ else ""))
        return self

    def compile(self, base_dir: Path | None = None) -> Sampler:
        if self.constant is not None:
            c = parse_duration(self.constant.value)
            return lambda rng: c
        if self.exponential is not None:
            mean = parse_duration(self.exponential.mean)
            if mean == 0:
                return lambda rng: 0.0
            rate = 1.0 / mean
            return lambda rng: rng.expovariate(rate)
        if self.lognormal is not None:
            median = parse_duration(self.lognormal.median)
            if median == 0:
                return lambda rng: 0.0
            mu, sigma = math.log(median), self.lognormal.sigma
            return lambda rng: rng.lognormvariate(mu, sigma)
        if self.uniform is not None:
            lo, hi = parse_duration(self.uniform.min), parse_duration(self.uniform.max)
            return lambda rng: rng.uniform(lo, hi)
        assert self.empirical is not None
        values = self._empirical_values(self.empirical, base_dir)
        return lambda rng: values[rng.randrange(len(values))]

    @staticmethod
    def _empirical_values(e: Empirical, base_dir: Path | None) -> list[float]:
        if e.values is not None:
            return [parse_duration(v) for v in e.values]
        assert e.csv is not None and e.column is not None
        path = Path(e.csv)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        unit = parse_duration(e.unit)
        out: list[float] = []
        try:
            with open(path, newline="", encoding="utf-8") as fh:
                reader = csv.DictReader(fh)
                if reader.fieldnames is None or e.column not in reader.fieldnames:
                    raise ValueError(f"CSV {path} has no column {e.column!r} "
                                     f"(columns: {', '.join(reader.fieldnames or [])})")
                for i, row in enumerate(reader, 2):
                    cell = (row.get(e.column) or "").strip()
                    if not cell:
                        continue
                    try:
                        x = float(cell)
                    except ValueError:
                        raise ValueError(f"CSV {path} line {i}: {cell!r} in column {e.column!r} is not "
                                         "a number") from None
                    if not math.isfinite(x) or x < 0:
                        raise ValueError(f"CSV {path} line {i}: {cell!r} must be a finite number >= 0")
                    out.append(x * unit)
        except OSError as err:
            raise ValueError(f"cannot read CSV {path}: {err.strerror}") from None
        if not out:
            raise ValueError(f"CSV {path} column {e.column!r} has no values")
        return out
