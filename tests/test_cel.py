"""The DRA CEL environment: device variable, Kubernetes quantity and semver functions, errors, caching."""

from __future__ import annotations

import pytest

from models.cel import CelError, CelRuntimeError, Evaluator, compile_selector, device_variable, evaluate, semver_value
from models.quantity import Quantity

D = "gpu.nvidia.com"
DEVICE = device_variable(D, {f"{D}/productName": "NVIDIA H100 80GB HBM3", f"{D}/index": 3, f"{D}/mig": False,
                             f"{D}/driverVersion": semver_value("580.126.9"),
                             "resource.kubernetes.io/pcieRoot": "pci0000:15"},
                         {f"{D}/memory": Quantity.parse("80Gi")}, allow_multiple_allocations=True)


@pytest.mark.parametrize(("expr", "want"), [
    (f'device.driver == "{D}"', True),
    (f'device.attributes["{D}"].productName.startsWith("NVIDIA H100")', True),
    (f'device.attributes["{D}"]["index"] == 3', True),
    (f'device.attributes["{D}"].mig', False),
    ('device.attributes["resource.kubernetes.io"].pcieRoot == "pci0000:15"', True),
    (f'device.capacity["{D}"].memory.compareTo(quantity("80Gi")) == 0', True),
    (f'device.capacity["{D}"].memory.isGreaterThan(quantity("40Gi"))', True),
    (f'device.capacity["{D}"].memory.isLessThan(quantity("81920Mi"))', False),
    (f'device.capacity["{D}"].memory == quantity("85899345920")', True),
    (f'device.capacity["{D}"].memory.sub(quantity("16Gi")).asInteger() == 68719476736', True),
    ('quantity("1500m").isInteger()', False),
    ('quantity("1500m").asApproximateFloat() == 1.5', True),
    ('isQuantity("80Gi") && !isQuantity("eighty")', True),
    (f'device.attributes["{D}"].driverVersion.isGreaterThan(semver("550.54.15"))', True),
    (f'device.attributes["{D}"].driverVersion.compareTo(semver("580.126.9")) == 0', True),
    (f'device.attributes["{D}"].driverVersion.major() == 580', True),
    ('semver("1.0.0-rc.1").isLessThan(semver("1.0.0"))', True),
    ('device.allowMultipleAllocations', True),
    (f'has(device.attributes["{D}"].uuid)', False),
])
def test_selectors(expr: str, want: bool) -> None:
    assert evaluate(expr, DEVICE) is want


@pytest.mark.parametrize(("expr", "msg"), [
    ("device.driver ==", "Syntax error"),
    ("node.name == 'x'", "undeclared reference to 'node'"),
    ("device.driver.nope()", "no matching overload for 'nope'"),
    ("", "empty"),
])
def test_compile_errors(expr: str, msg: str) -> None:
    with pytest.raises(CelError, match=msg):
        compile_selector(expr)


def test_runtime_errors() -> None:
    with pytest.raises(CelRuntimeError, match="no such key: uuid"):
        evaluate(f'device.attributes["{D}"].uuid == "x"', DEVICE)
    with pytest.raises(CelRuntimeError, match="not a bool"):
        evaluate("1 + 1", DEVICE)
    with pytest.raises(CelRuntimeError):
        evaluate(f'device.capacity["{D}"].memory.isGreaterThan(semver("1.0.0"))', DEVICE)


def test_results_are_cached_per_expression_and_device() -> None:
    ev = Evaluator()
    built: list[int] = []

    def make() -> dict[str, object]:
        built.append(1)
        return DEVICE

    for _ in range(3):
        assert ev.matches(f'device.driver == "{D}"', "dev-a", make)
        assert ev.matches('device.allowMultipleAllocations', "dev-a", make)
    assert built == [1]  # the device variable is built once
    assert compile_selector('device.driver == "x"') is compile_selector('device.driver == "x"')
    ev.forget("dev-a")
    assert ev.matches(f'device.driver == "{D}"', "dev-a", make)
    assert built == [1, 1]
