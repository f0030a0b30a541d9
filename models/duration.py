"""Go-style durations (``time.ParseDuration``), the way Kubernetes and Kueue configs write them.

``90s``, ``1h30m``, ``250ms``, ``1.5h``, ``0s``. Units: ns, us (µs), ms, s, m, h. A bare number is
refused (as Go refuses it) except ``0``, so a missing unit never silently means seconds.
"""

from __future__ import annotations

import re

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


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
    """A compact Go-style duration for display (``5430`` → ``"1h30m30s"``)."""
    if seconds == 0:
        return "0s"
    sign = "-" if seconds < 0 else ""
    s = abs(seconds)
    if s < 1:
        return f"{sign}{round(s * 1000, 3):g}ms"
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
