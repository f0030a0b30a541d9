"""``models.timeline.time_text`` prints an event time as ``repr(event_time(t))`` does, and ``seconds_text``
a duration as ``encode_value(round(x, 6))`` does, without the float round trip; the properties are checked
on the whole range they take the short way and across its edges."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from models.timeline import encode_value, event_time, seconds_text, time_text


@settings(max_examples=3000, deadline=None, derandomize=True, database=None)
@example(0.0)
@example(1e-4)
@example(0.00009999999)
@example(12.0)
@example(3600.0000004)
@example(999_999_999.9999996)
@example(1e9)
@example(604_800.0000005)
@given(st.one_of(st.floats(min_value=0.0, max_value=2e9, allow_nan=False),
                 st.floats(min_value=1e9, max_value=1e18, allow_nan=False),
                 st.floats(min_value=0.0, max_value=1e-3),
                 st.integers(0, 10**15).map(lambda m: m / 1e6),  # times that are whole microseconds
                 st.integers(0, 10**9).map(float)))
def test_time_text_is_the_repr_of_the_rounded_time(t: float) -> None:
    assert time_text(t) == repr(event_time(t))


@settings(max_examples=2000, deadline=None, derandomize=True, database=None)
@example(0.0)
@example(5e-5)
@example(3600)
@example(1e9)
@example(float("inf"))
@given(st.one_of(st.floats(min_value=0.0, max_value=1e12, allow_nan=False),
                 st.integers(0, 10**12),
                 st.floats(min_value=-1e3, max_value=1e-3)))
def test_seconds_text_is_the_encoded_rounded_value(x: float) -> None:
    try:
        want = encode_value(round(x, 6))
    except ValueError:  # not JSON (infinite): the short way must not print it either
        want = None
    if want is None:
        with pytest.raises(ValueError):
            seconds_text(x)
    else:
        assert seconds_text(x) == want
