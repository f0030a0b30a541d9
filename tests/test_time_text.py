"""``models.timeline.time_text`` prints an event time as ``repr(event_time(t))`` does, without the float
round trip; the property is checked on the whole range it takes the short way and across its edges."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from models.timeline import event_time, time_text


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
