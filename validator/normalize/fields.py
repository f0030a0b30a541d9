"""Reading raw Kubernetes JSON: typed accessors, conditions, owners, times and quantities.

The shared vocabulary of every translator of :mod:`validator.normalize`. A recording holds objects as
the API server sent them, so every accessor tolerates a missing or mistyped field (it answers "absent")
instead of raising: the server validated the object, and a field we cannot read is simply not used.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from models.quantity import Quantity, QuantityError
from models.requests import pod_spec_requests

_RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\d)[Tt ](\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|z|[+-]\d\d:\d\d)$")


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """``value`` if it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []


def text(value: Any) -> str | None:
    """``value`` if it is a non-empty string, else None."""
    return value if isinstance(value, str) and value else None


def parse_time_ns(value: Any) -> int | None:
    """Nanoseconds since the epoch for an RFC 3339 timestamp (any fraction length), else None."""
    if not isinstance(value, str):
        return None
    match = _RFC3339.match(value.strip())
    if not match:
        return None
    day, clock, fraction, zone = match.groups()
    try:
        base = datetime.fromisoformat(f"{day}T{clock}{'+00:00' if zone in ('Z', 'z') else zone}")
    except ValueError:
        return None
    seconds = int(base.astimezone(UTC).timestamp())
    nanos = int((fraction or "0")[:9].ljust(9, "0"))
    return seconds * 1_000_000_000 + nanos


def rfc3339(ns: int) -> str:
    """The RFC 3339 UTC text, with nanoseconds, of ``ns`` nanoseconds since the epoch."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{fraction:09d}Z"


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any] | None:
    """The ``status.conditions`` entry of type ``type_``, if any."""
    for entry in as_list(as_dict(obj.get("status")).get("conditions")):
        if isinstance(entry, dict) and entry.get("type") == type_:
            return entry
    return None


def controller_owner(meta: dict[str, Any]) -> dict[str, str] | None:
    """``{kind, name}`` of the controlling owner reference (else the first one), if any."""
    refs = [r for r in as_list(meta.get("ownerReferences")) if isinstance(r, dict)]
    candidates = [r for r in refs if r.get("controller")] or refs
    if candidates and text(candidates[0].get("kind")) and text(candidates[0].get("name")):
        return {"kind": candidates[0]["kind"], "name": candidates[0]["name"]}
    return None


def canonical_quantity(value: Any) -> str | None:
    """The canonical text of a quantity, or None when it is not one."""
    try:
        return Quantity.parse(value).canonical()
    except (QuantityError, TypeError):
        return None


def _lenient_quantity(value: Any, path: str) -> Quantity | None:
    try:
        return Quantity.parse(value)
    except (QuantityError, TypeError):
        return None


def sum_resources(maps: Iterable[Any]) -> dict[str, str]:
    """Sum resource maps ``{name: quantity}`` into canonical quantity strings, sorted by name."""
    total: dict[str, Quantity] = {}
    for resources in maps:
        for name, value in as_dict(resources).items():
            qty = _lenient_quantity(value, name)
            if qty is None:
                continue
            prev = total.get(name)
            total[name] = qty if prev is None else Quantity(prev.value + qty.value, prev.format)
    return {name: total[name].canonical() for name in sorted(total)}


def pod_requests(spec: dict[str, Any]) -> dict[str, str]:
    """A pod spec's effective requests (:func:`models.requests.pod_spec_requests`) as canonical text.

    The API server already validated a recorded pod, so a value that is not a quantity is left out.
    """
    return {name: qty.canonical() for name, qty in pod_spec_requests(spec, _lenient_quantity).items()}
