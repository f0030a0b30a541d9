"""Shared pieces of the invariant checks: findings, event order, quantities and tolerances.

A check reads a timeline the way a Kubernetes controller reads its watch stream: once, in order,
keeping a little state per object in plain dicts. Events are ordered by ``t`` and, at equal ``t``, by
``seq`` (the order the writer saw them), so a release and a bind at the same instant count in the
order they happened.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from models.quantity import QuantityError, format_resources, parse_quantity
from models.timeline import Event

#: A request shape in milli-units: ((resource, milli), ...).
Shape = tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class Finding:
    """One violation of one invariant: which rule, which objects, when, and what happened."""

    invariant: str
    objects: tuple[str, ...]
    t: float
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"invariant": self.invariant, "objects": list(self.objects), "t": self.t,
                "message": self.message}


@dataclass(slots=True)
class PassResult:
    """What one pass over the timeline found, and which invariants it had anything to check for."""

    findings: list[Finding] = field(default_factory=list)
    applicable: set[str] = field(default_factory=set)


class Prepared(list[Event]):
    """Events already in (t, seq) order, with each event's ``ns/name`` key computed once.

    :func:`validator.checks.run_checks` prepares a timeline once and hands the same object to every
    pass; a pass called on a plain sequence prepares it itself.
    """

    __slots__ = ("keys",)

    def __init__(self, events: Sequence[Event]) -> None:
        super().__init__(events)
        self.keys: list[str] = [f"{e.namespace}/{e.name}" if e.namespace else e.name for e in self]


PassFn = Callable[[Sequence[Event]], PassResult]


def prepare(events: Sequence[Event]) -> Prepared:
    """The events ordered by (t, seq) with their keys (the input itself when already prepared)."""
    if isinstance(events, Prepared):
        return events
    return Prepared(ordered(events))


def ordered(events: Sequence[Event]) -> Sequence[Event]:
    """The events in (t, seq) order; the input itself when it already is (the usual case)."""
    if isinstance(events, Prepared):
        return events
    prev_t = float("-inf")
    prev_seq = -1 << 62
    for ev in events:
        if ev.t < prev_t or (ev.t == prev_t and ev.seq < prev_seq):
            return sorted(events, key=lambda e: (e.t, e.seq))
        prev_t, prev_seq = ev.t, ev.seq
    return events


def header(events: Sequence[Event]) -> dict[str, Any]:
    """The ``RunStarted`` payload, or ``{}`` when the timeline has no header."""
    for ev in events[:1]:
        if ev.type == "RunStarted":
            return ev.data
    return {}


def tolerance(events: Sequence[Event]) -> float:
    """Seconds two timestamps may differ and still be "the same instant".

    Simulated timelines are exact (1 µs for float rounding). Live recordings stamp events with the
    time the watcher received them, so things that happen together arrive up to a second apart.
    """
    return 1.0 if header(events).get("source") == "live" else 1e-6


@lru_cache(maxsize=1 << 16)
def milli(q: str | int | float) -> int:
    """A Kubernetes quantity in milli-units (rounded up, like Go's ``MilliValue``)."""
    return parse_quantity(q).to_milli()


_SHAPES: dict[tuple[tuple[str, Any], ...], Shape] = {}


def shape(requests: Mapping[str, Any] | None) -> tuple[Shape, list[str]]:
    """Requests as milli-unit pairs, plus the quantities that could not be parsed."""
    if not requests:
        return (), []
    try:
        k = tuple(requests.items())
        hit = _SHAPES.get(k)
    except TypeError:
        k, hit = None, None
    if hit is not None:
        return hit, []
    out: list[tuple[str, int]] = []
    bad: list[str] = []
    for res, q in requests.items():
        try:
            out.append((res, milli(q)))
        except (QuantityError, TypeError):
            bad.append(f"{res}={q!r}")
    result = tuple(out)
    if k is not None and not bad and len(_SHAPES) < 1 << 16:
        _SHAPES[k] = result
    return result, bad


def qty(res: str, m: int) -> str:
    """A milli-unit amount printed as a canonical quantity (bytes in binary SI when whole)."""
    return format_resources({res: m})[res]


def ref(kind: str, key: str) -> str:
    """An object reference as findings print it: ``Kind ns/name``."""
    return f"{kind} {key}"


def pod_ref(key: str) -> str:
    return f"Pod {key}"


def workload_ref(group: str, kind: str = "Workload") -> str:
    return f"{kind} {group}"


def member_key(name: str, group: str) -> str:
    """A pod named in a gang payload (``waiting``) as ``ns/name``; bare names take the gang's namespace."""
    if "/" in name:
        return name
    ns = group.split("/", 1)[0] if "/" in group else ""
    return f"{ns}/{name}" if ns else name


def fmt_t(t: float) -> str:
    """Seconds printed without noise: ``12`` or ``12.5``."""
    return f"{t:g}" if abs(t) < 1e15 else repr(t)
