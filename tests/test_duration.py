"""Go-style durations: parsing (``time.ParseDuration``) and the compact display form."""

from __future__ import annotations

import pytest

from models.duration import DurationError, format_duration, parse_duration


@pytest.mark.parametrize(("text", "seconds"), [
    ("90s", 90.0),
    ("1h30m", 5400.0),
    ("250ms", 0.25),
    ("1.5h", 5400.0),
    ("0s", 0.0),
    ("0", 0.0),
    ("+0", 0.0),
    ("-0", 0.0),
    ("-1.5h", -5400.0),
    ("+2m", 120.0),
    ("1h0m0s", 3600.0),
    ("2h45m30.5s", 9930.5),
    ("1m1m", 120.0),           # Go sums repeated units too
    (".5s", 0.5),
    ("1.s", 1.0),
    ("1us", 1e-6),
    ("1µs", 1e-6),            # U+00B5 micro sign
    ("1μs", 1e-6),            # U+03BC greek mu
    ("1ns", 1e-9),
    ("300ms", 0.3),
    ("12h", 43200.0),
    (" 5s ", 5.0),
])
def test_parse(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds, rel=1e-12, abs=1e-15)


def test_numbers_zero_only() -> None:
    assert parse_duration(0) == 0.0
    assert parse_duration(0.0) == 0.0


@pytest.mark.parametrize(("value", "message"), [
    (5, "5 has no unit; write it as a duration such as 5s or 5m"),
    (1.5, "1.5 has no unit; write it as a duration such as 1.5s or 1.5m"),
    (True, "True is not a duration"),
    (False, "False is not a duration"),
])
def test_numbers_need_a_unit(value: object, message: str) -> None:
    with pytest.raises(DurationError) as ei:
        parse_duration(value)  # type: ignore[arg-type]
    assert str(ei.value) == message


@pytest.mark.parametrize("bad", ["1", "5x", "h", "1hh", "s", "1 s", "--1s", "+", "-", "1.5.5s", "1d",
                                 "1H", "1S", "1sec", "5m3", "ms"])
def test_rejects_with_a_hint(bad: str) -> None:
    with pytest.raises(DurationError) as ei:
        parse_duration(bad)
    assert str(ei.value) == f"{bad!r} is not a duration; write e.g. 90s, 1h30m or 250ms"


@pytest.mark.parametrize("bad", ["", "   "])
def test_empty_is_a_duration_error(bad: str) -> None:
    with pytest.raises(DurationError):
        parse_duration(bad)


def test_non_ascii_digits_rejected() -> None:
    with pytest.raises(DurationError):
        parse_duration("٣s")


def test_duration_error_is_a_value_error() -> None:
    assert issubclass(DurationError, ValueError)


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"),
    (5430, "1h30m30s"),
    (0.25, "250ms"),
    (0.0005, "0.5ms"),
    (90, "1m30s"),
    (1.5, "1.5s"),
    (-90, "-1m30s"),
    (86400, "24h"),
    (45, "45s"),
    (7200 + 5, "2h5s"),
])
def test_format(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize("seconds", [0.25, 1.5, 45, 90, 5430, 86400, 3661, 0.001])
def test_format_parses_back(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)


def test_format_never_prints_60_seconds() -> None:
    assert "60s" not in format_duration(3599.9999)
    assert "60s" not in format_duration(59.9999)
