"""Kubernetes resource quantities (``k8s.io/apimachinery/pkg/api/resource.Quantity``).

A quantity is an exact decimal number with one of three suffix families: binary SI (``Ki``, ``Mi``,
``Gi``, ``Ti``, ``Pi``, ``Ei``), decimal SI (``n``, ``u``, ``m``, ``k``, ``M``, ``G``, ``T``, ``P``,
``E``) or a decimal exponent (``1e3``). Values are kept exactly (``Fraction``); like the API server we
round *up* to nano precision and print the canonical form: no fractional digits, the largest suffix of
the family the value was written in that keeps it an integer (binary values that are not a multiple
of 1024 print in decimal SI).

The simulator works in integer **milli-units** of every resource (``to_milli``), rounding up, which
is what ``Quantity.MilliValue()`` does in Go.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Literal

Format = Literal["BinarySI", "DecimalSI", "DecimalExponent"]

_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_BY_EXP = {v: k for k, v in _DECIMAL.items()}
_RE = re.compile(r"^([+-]?)([0-9]+\.?[0-9]*|\.[0-9]+)(?:(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)|[eE]([+-]?[0-9]+))?$")
_NANO = Fraction(1, 10**9)


class QuantityError(ValueError):
    """The text is not a Kubernetes quantity."""


class Quantity:
    """An exact Kubernetes quantity. Immutable; compares and hashes by value."""

    __slots__ = ("format", "value")

    def __init__(self, value: Fraction | int, fmt: Format = "DecimalSI") -> None:
        v = Fraction(value)
        # Round up to nano precision, as the API server does.
        if (v / _NANO).denominator != 1:
            v = Fraction(math.ceil(v / _NANO)) * _NANO
        self.value: Fraction = v
        self.format: Format = fmt

    @classmethod
    def parse(cls, text: str | int | float) -> Quantity:
        if isinstance(text, bool):
            raise QuantityError(f"{text!r} is not a quantity")
        if isinstance(text, int):
            return cls(text)
        if isinstance(text, float):
            if not math.isfinite(text):
                raise QuantityError(f"{text!r} is not a quantity")
            return cls(Fraction(str(text)))
        s = text.strip()
        m = _RE.match(s)
        if not m:
            raise QuantityError(
                f"{text!r} is not a quantity; write a number with an optional suffix such as "
                "500m, 1.5, 80Gi, 2k or 1e3")
        sign, num, suffix, exp = m.groups()
        v = Fraction(num)
        fmt: Format = "DecimalSI"
        if suffix in _BINARY:
            v *= 2 ** _BINARY[suffix]
            fmt = "BinarySI"
        elif suffix is not None:
            v *= Fraction(10) ** _DECIMAL[suffix]
        elif exp is not None:
            e = int(exp)
            if abs(e) > 100:
                raise QuantityError(f"{text!r}: exponent out of range")
            v *= Fraction(10) ** e
            fmt = "DecimalExponent"
        if sign == "-":
            v = -v
        return cls(v, fmt)

    def to_milli(self) -> int:
        """The value in milli-units, rounded up (Go's ``MilliValue``)."""
        return math.ceil(self.value * 1000)

    def __str__(self) -> str:
        return self.canonical()

    def __repr__(self) -> str:
        return f"Quantity({self.canonical()!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Quantity) and self.value == other.value

    def __hash__(self) -> int:
        return hash(self.value)

    def canonical(self) -> str:
        v = self.value
        if v == 0:
            return "0"
        sign = "-" if v < 0 else ""
        a = -v if v < 0 else v
        if self.format == "BinarySI" and a.denominator == 1 and a >= 1024:
            n = a.numerator
            best = ""
            for suffix, shift in _BINARY.items():
                if n % (1 << shift) == 0:
                    best = suffix
            if best:
                return f"{sign}{n >> _BINARY[best]}{best}"
        # decimal: the largest exponent (multiple of 3) that keeps an integer mantissa
        nano = int(a / _NANO)
        exp = -9
        while exp < 18 and nano % 1000 == 0:
            nano //= 1000
            exp += 3
        if self.format == "DecimalExponent":
            return f"{sign}{nano}" + (f"e{exp}" if exp else "")
        return f"{sign}{nano}{_DECIMAL_BY_EXP[exp]}"


def parse_quantity(text: str | int | float) -> Quantity:
    return Quantity.parse(text)


def milli_to_str(milli: int) -> str:
    """Format a milli-unit integer as a canonical decimal quantity (``1500`` → ``"1500m"``)."""
    return Quantity(Fraction(milli, 1000)).canonical()


def format_resources(milli: dict[str, int]) -> dict[str, str]:
    """Canonical strings for a resource map held in milli-units; memory-like values print in binary SI
    when they are whole multiples of 1024."""
    out: dict[str, str] = {}
    for name in sorted(milli):
        q = Quantity(Fraction(milli[name], 1000), "BinarySI" if _is_bytes(name) else "DecimalSI")
        out[name] = q.canonical()
    return out


def _is_bytes(name: str) -> bool:
    return name in ("memory", "ephemeral-storage") or name.startswith("hugepages-")
