"""Go-style durations (``time.ParseDuration``), the way Kubernetes and Kueue configs write them.

``90s``, ``1h30m``, ``250ms``, ``1.5h``, ``0s``. Units: ns, us (µs), ms, s, m, h. A bare number is
refused (as Go refuses it) except ``0``, so a missing unit never silently means seconds.
"""

from __future__ import annotations

import re

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"([0-9]+\.?[0-9]*|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)")


class DurationError(ValueError):
    """The text is not a Go duration."""


def parse_duration(text: str | int | float) -> float:
    """Seconds in a Go duration string. Raises :class:`DurationError` with a fix hint."""
    if isinstance(text, bool):
        raise DurationError(f"{text!r} is not a duration")
    if isinstance(text, int | float):
        if text == 0:
            return 0.0
        raise DurationError(f"{text!r} has no unit; write it as a duration such as {text}s or {text}m")
    s = text.strip()
    if not s:
        raise DurationError("an empty string is not a duration; write e.g. 90s, 1h30m or 250ms")
    if s in ("0", "+0", "-0"):
        return 0.0
    sign = 1.0
    if s[:1] in "+-":
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    pos = 0
    total = 0.0
    if not s:
        raise DurationError(f"{text!r} is not a duration; write e.g. 90s, 1h30m or 250ms")
    while pos < len(s):
        m = _PART.match(s, pos)
        if not m:
            raise DurationError(f"{text!r} is not a duration; write e.g. 90s, 1h30m or 250ms")
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    return sign * total


def format_duration(seconds: float) -> str:
    """A compact Go-style duration for display (``5430`` → ``"1h30m30s"``), to the millisecond."""
    sign = "-" if seconds < 0 else ""
    if seconds == 0:
        return "0s"
    if abs(seconds) < 1:
        return f"{sign}{round(abs(seconds) * 1000, 3):g}ms"
    s = round(abs(seconds), 3)  # before divmod, so 59.9999 prints 1m, not 60s
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    out = ""
    if h:
        out += f"{int(h)}h"
    if m:
        out += f"{int(m)}m"
    if sec or not out:
        out += f"{round(sec, 3):g}s"
    return sign + out


def go_duration(seconds: float) -> str:
    """Go's ``time.Duration.String()``: ``60`` → ``"1m0s"``, ``300`` → ``"5m0s"``, ``0.5`` → ``"500ms"``.

    Used where kubetwin reproduces a message Kubernetes formats with ``%v`` of a Duration.
    """
    ns = round(abs(seconds) * 1e9)
    sign = "-" if seconds < 0 else ""
    if ns == 0:
        return "0s"
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                return f"{sign}{_trim(ns / size)}{unit}"
    h, rem = divmod(ns, 3_600_000_000_000)
    m, rem = divmod(rem, 60_000_000_000)
    secs = _trim(rem / 1e9)
    if h:
        return f"{sign}{h}h{m}m{secs}s"
    if m:
        return f"{sign}{m}m{secs}s"
    return f"{sign}{secs}s"


def _trim(x: float) -> str:
    return f"{x:.9f}".rstrip("0").rstrip(".")
