"""Kubernetes quantities: parsing, exact values, canonical strings, milli-units and errors."""

from __future__ import annotations

from fractions import Fraction

import pytest

from models.quantity import (
    Quantity,
    QuantityError,
    format_resources,
    milli_to_str,
    parse_quantity,
)


@pytest.mark.parametrize(("text", "value", "fmt"), [
    ("500m", Fraction(1, 2), "DecimalSI"),
    ("1.5", Fraction(3, 2), "DecimalSI"),
    ("8", Fraction(8), "DecimalSI"),
    ("2k", Fraction(2000), "DecimalSI"),
    ("3M", Fraction(3_000_000), "DecimalSI"),
    ("1G", Fraction(10**9), "DecimalSI"),
    ("1T", Fraction(10**12), "DecimalSI"),
    ("1P", Fraction(10**15), "DecimalSI"),
    ("1E", Fraction(10**18), "DecimalSI"),
    ("1u", Fraction(1, 10**6), "DecimalSI"),
    ("7n", Fraction(7, 10**9), "DecimalSI"),
    ("1Ki", Fraction(1024), "BinarySI"),
    ("80Gi", Fraction(80 * 2**30), "BinarySI"),
    ("1.5Gi", Fraction(3 * 2**29), "BinarySI"),
    ("2Ti", Fraction(2 * 2**40), "BinarySI"),
    ("1Pi", Fraction(2**50), "BinarySI"),
    ("1Ei", Fraction(2**60), "BinarySI"),
    ("1e3", Fraction(1000), "DecimalExponent"),
    ("1E3", Fraction(1000), "DecimalExponent"),
    ("12e-3", Fraction(12, 1000), "DecimalExponent"),
    (".5", Fraction(1, 2), "DecimalSI"),
    ("+5", Fraction(5), "DecimalSI"),
    ("-500m", Fraction(-1, 2), "DecimalSI"),
    (" 4Gi ", Fraction(4 * 2**30), "BinarySI"),
])
def test_parse_exact_value_and_format(text: str, value: Fraction, fmt: str) -> None:
    q = Quantity.parse(text)
    assert q.value == value
    assert q.format == fmt


@pytest.mark.parametrize(("text", "canonical"), [
    ("500m", "500m"),
    ("1.5", "1500m"),
    ("0.5", "500m"),
    ("1.0", "1"),
    ("1.", "1"),
    ("2000", "2k"),
    ("2k", "2k"),
    ("1500", "1500"),
    ("1000000", "1M"),
    ("0.000001", "1u"),
    ("1024Mi", "1Gi"),
    ("1536Mi", "1536Mi"),
    ("1.5Gi", "1536Mi"),
    ("1024Ki", "1Mi"),
    ("0.5Ki", "512"),         # binary below 1024 prints in decimal SI
    ("1024", "1024"),          # written in decimal: stays decimal
    ("1e3", "1e3"),
    ("1.5e3", "1500"),
    ("12e-3", "12e-3"),
    ("0", "0"),
    ("0Gi", "0"),
    ("-1", "-1"),
    ("-500m", "-500m"),
    ("-1Ki", "-1Ki"),
    ("1000E", "1000E"),       # no suffix above E
    ("123456789", "123456789"),
])
def test_canonical(text: str, canonical: str) -> None:
    assert Quantity.parse(text).canonical() == canonical
    assert str(Quantity.parse(text)) == canonical
    assert repr(Quantity.parse(text)) == f"Quantity({canonical!r})"


def test_rounds_up_to_nano_like_the_api_server() -> None:
    assert Quantity.parse("0.1n").value == Fraction(1, 10**9)
    assert Quantity.parse("0.1n").canonical() == "1n"
    assert Quantity.parse("1.0000000001").canonical() == "1000000001n"
    assert Quantity(Fraction(1, 3)).canonical() == "333333334n"


@pytest.mark.parametrize(("text", "milli"), [
    ("1", 1000), ("500m", 500), ("1.5", 1500), ("1n", 1), ("1.5m", 2), ("1u", 1),
    ("80Gi", 80 * 2**30 * 1000), ("0", 0), ("2k", 2_000_000), ("1e3", 1_000_000),
])
def test_to_milli_rounds_up(text: str, milli: int) -> None:
    assert Quantity.parse(text).to_milli() == milli


def test_numbers_from_yaml() -> None:
    assert Quantity.parse(8).value == 8
    assert Quantity.parse(8).canonical() == "8"
    assert Quantity.parse(0.5).canonical() == "500m"
    assert Quantity.parse(0.1).value == Fraction(1, 10)  # via str(): no binary float noise
    assert parse_quantity("4").to_milli() == 4000


def test_equality_and_hash_by_value_across_formats() -> None:
    assert Quantity.parse("1Gi") == Quantity.parse("1073741824")
    assert Quantity.parse("1k") == Quantity.parse("1e3") == Quantity.parse("1000")
    assert hash(Quantity.parse("1k")) == hash(Quantity.parse("1000"))
    assert Quantity.parse("1k") != Quantity.parse("1Ki")
    assert Quantity.parse("1") != "1"
    assert len({Quantity.parse("500m"), Quantity.parse("0.5"), Quantity.parse("1")}) == 2


@pytest.mark.parametrize("bad", [
    "", "   ", "1Gb", "1.5.5", "abc", "1 Gi", "Gi", "1KI", "--1", "1e", "e3", "1mi", "1gi", "0x10",
    "1,5", "1k1", "∞",
])
def test_rejects_non_quantities_with_a_hint(bad: str) -> None:
    with pytest.raises(QuantityError) as ei:
        Quantity.parse(bad)
    assert str(ei.value) == (f"{bad!r} is not a quantity; write a number with an optional suffix such as "
                             "500m, 1.5, 80Gi, 2k or 1e3")


def test_rejects_huge_exponent() -> None:
    with pytest.raises(QuantityError, match="exponent out of range"):
        Quantity.parse("1e1000")
    assert Quantity.parse("1e100").value == 10**100


@pytest.mark.parametrize("bad", [True, False, float("nan"), float("inf"), float("-inf")])
def test_rejects_bools_and_non_finite(bad: object) -> None:
    with pytest.raises(QuantityError):
        Quantity.parse(bad)  # type: ignore[arg-type]


def test_non_ascii_digits_rejected() -> None:
    with pytest.raises(QuantityError):
        Quantity.parse("١Gi")


def test_quantity_error_is_a_value_error() -> None:
    # pydantic turns ValueErrors raised in validators into field errors; anything else escapes
    assert issubclass(QuantityError, ValueError)


def test_milli_to_str() -> None:
    assert milli_to_str(1500) == "1500m"
    assert milli_to_str(2000) == "2"
    assert milli_to_str(1) == "1m"
    assert milli_to_str(0) == "0"
    assert milli_to_str(8_000_000) == "8k"


def test_format_resources_sorted_binary_for_bytes() -> None:
    out = format_resources({
        "nvidia.com/gpu": 8000, "memory": 2**30 * 1000, "cpu": 1500,
        "hugepages-2Mi": 2 * 2**20 * 1000, "ephemeral-storage": 1500 * 1000,
    })
    assert list(out) == ["cpu", "ephemeral-storage", "hugepages-2Mi", "memory", "nvidia.com/gpu"]
    assert out == {"cpu": "1500m", "ephemeral-storage": "1500", "hugepages-2Mi": "2Mi", "memory": "1Gi",
                   "nvidia.com/gpu": "8"}


def test_format_resources_memory_not_a_multiple_of_1024_is_decimal() -> None:
    assert format_resources({"memory": 10**9 * 1000}) == {"memory": "1G"}
    assert format_resources({"memory": 1000 * 1000}) == {"memory": "1k"}
    # an extended resource is never printed in binary, even when it is a multiple of 1024
    assert format_resources({"example.com/foo": 1024 * 1000}) == {"example.com/foo": "1024"}
