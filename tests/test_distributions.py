"""Runtime/arrival distributions: validation, exact samples from a seeded RNG, CSV sources."""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from models.distributions import Distribution


def dist(d: Any) -> Distribution:
    return Distribution.model_validate(d)


def draws(d: Any, n: int = 5, seed: int = 7, base_dir: Path | None = None) -> list[float]:
    sample = dist(d).compile(base_dir)
    rng = random.Random(seed)
    return [sample(rng) for _ in range(n)]


def test_constant_and_shorthand() -> None:
    assert draws({"constant": {"value": "25m"}}) == [1500.0] * 5
    assert draws("1h30m", 3) == [5400.0] * 3
    assert dist("90s").constant is not None


def test_exponential_matches_random_expovariate() -> None:
    ref = random.Random(7)
    assert draws({"exponential": {"mean": "45m"}}) == [ref.expovariate(1 / 2700) for _ in range(5)]


def test_exponential_zero_mean_is_zero() -> None:
    assert draws({"exponential": {"mean": "0s"}}, 3) == [0.0, 0.0, 0.0]


def test_lognormal_median_is_exp_mu() -> None:
    ref = random.Random(7)
    expected = [ref.lognormvariate(math.log(7200), 0.5) for _ in range(5)]
    assert draws({"lognormal": {"median": "2h", "sigma": 0.5}}) == expected
    # sigma 0: every draw is the median
    assert draws({"lognormal": {"median": "2h", "sigma": 0}}, 3) == pytest.approx([7200.0] * 3)
    assert draws({"lognormal": {"median": "0s", "sigma": 1}}, 2) == [0.0, 0.0]


def test_lognormal_sample_median() -> None:
    xs = sorted(draws({"lognormal": {"median": "1h", "sigma": 0.8}}, 4001, seed=1))
    assert 3300 < xs[2000] < 3900


def test_uniform_matches_random_uniform_and_stays_in_range() -> None:
    ref = random.Random(7)
    assert draws({"uniform": {"min": "5m", "max": "25m"}}) == [ref.uniform(300, 1500) for _ in range(5)]
    xs = draws({"uniform": {"min": "5m", "max": "25m"}}, 500)
    assert all(300 <= x <= 1500 for x in xs)
    assert draws({"uniform": {"min": "1m", "max": "1m"}}, 2) == [60.0, 60.0]


def test_empirical_values_drawn_by_randrange() -> None:
    ref = random.Random(7)
    values = [600.0, 1200.0, 3600.0]
    assert draws({"empirical": {"values": ["10m", "20m", "1h"]}}, 8) == \
        [values[ref.randrange(3)] for _ in range(8)]


def test_empirical_csv_relative_to_base_dir(tmp_path: Path) -> None:
    (tmp_path / "runtimes.csv").write_text("job,minutes\na,10\nb,\nc,2.5\n", encoding="utf-8")
    d = {"empirical": {"csv": "runtimes.csv", "column": "minutes", "unit": "1m"}}
    xs = draws(d, 50, base_dir=tmp_path)
    assert set(xs) == {600.0, 150.0}  # the empty cell is skipped


def test_empirical_csv_default_unit_is_seconds(tmp_path: Path) -> None:
    p = tmp_path / "r.csv"
    p.write_text("s\n42\n", encoding="utf-8")
    assert draws({"empirical": {"csv": str(p), "column": "s"}}, 2) == [42.0, 42.0]


@pytest.mark.parametrize(("content", "message"), [
    ("a,b\n1,2\n", "has no column 's' (columns: a, b)"),
    ("s\nabc\n", "line 2: 'abc' in column 's' is not a number"),
    ("s\n1\n-5\n", "line 3: '-5' must be a finite number >= 0"),
    ("s\nnan\n", "line 2: 'nan' must be a finite number >= 0"),
    ("s\n\n", "column 's' has no values"),
    ("", "has no column 's' (columns: )"),
])
def test_empirical_csv_errors(tmp_path: Path, content: str, message: str) -> None:
    p = tmp_path / "r.csv"
    p.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError) as ei:
        dist({"empirical": {"csv": "r.csv", "column": "s"}}).compile(tmp_path)
    assert message in str(ei.value)
    assert str(p) in str(ei.value)


def test_empirical_csv_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"cannot read CSV .*nope\.csv: No such file or directory"):
        dist({"empirical": {"csv": "nope.csv", "column": "s"}}).compile(tmp_path)


@pytest.mark.parametrize(("d", "message"), [
    ({}, "give exactly one of constant, exponential, lognormal, uniform, empirical"),
    ({"constant": {"value": "1m"}, "exponential": {"mean": "1m"}},
     "give exactly one of constant, exponential, lognormal, uniform, empirical (got constant, exponential)"),
    ({"uniform": {"min": "25m", "max": "5m"}}, "min (25m) is greater than max (5m)"),
    ({"empirical": {}}, "give exactly one of 'values'"),
    ({"empirical": {"values": ["1m"], "csv": "x.csv", "column": "s"}}, "give exactly one of 'values'"),
    ({"empirical": {"values": []}}, "'values' is empty"),
    ({"empirical": {"csv": "x.csv"}}, "'csv' needs 'column'"),
    ({"constant": {"value": "-5m"}}, "'-5m' is negative"),
    ({"exponential": {"mean": "5"}}, "'5' is not a duration"),
    ({"lognormal": {"median": "1h", "sigma": -1}}, "greater than or equal to 0"),
    ({"lognormal": {"median": "1h", "sigma": 11}}, "less than or equal to 10"),
    ({"lognormal": {"median": "1h"}}, "Field required"),
    ({"normal": {"mean": "1h"}}, "Extra inputs are not permitted"),
    ({"constant": {"value": "1m", "unit": "s"}}, "Extra inputs are not permitted"),
    ("banana", "'banana' is not a duration"),
])
def test_invalid(d: Any, message: str) -> None:
    with pytest.raises(ValidationError) as ei:
        dist(d)
    assert message in str(ei.value)


def test_compile_uses_callers_rng_only() -> None:
    sample = dist({"exponential": {"mean": "1m"}}).compile()
    a, b = random.Random(3), random.Random(3)
    assert [sample(a) for _ in range(4)] == [sample(b) for _ in range(4)]
    state = random.getstate()
    sample(random.Random(1))
    assert random.getstate() == state  # the global RNG is untouched
