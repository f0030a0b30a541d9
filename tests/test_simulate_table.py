"""The summary table `kubetwin simulate` prints: DRA-only GPU clusters show their device allocation."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from kubetwin.cmd_simulate import summary_table


def _summary(dra: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "scenario": "s", "seed": 1,
        "pods": {"total": 2, "scheduled": 2, "succeeded": 2, "pendingAtEnd": 0, "runningAtEnd": 0},
        "waitSeconds": {"p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0},
        "sim": {"endTime": 10.0, "endReason": "idle", "events": 9, "wallSeconds": 0.01},
        "gpu": {"allocationRatio": None, "resources": []}, "allocationRatio": {"cpu": 0.25},
        "nodes": {"peak": 1}, "cost": {"total": None},
    }
    if dra is not None:
        out["dra"] = dra
    return out


def _text(summary: dict[str, Any]) -> str:
    console = Console(width=120, record=True)
    console.print(summary_table(summary))
    return console.export_text()


def test_dra_devices_row_when_the_cluster_has_dra_devices() -> None:
    text = _text(_summary({"devices": 32, "deviceAllocationRatio": 0.924}))
    assert "DRA devices allocated (time-weighted, 32 devices)" in text and "92.4%" in text


def test_no_dra_row_without_devices() -> None:
    assert "DRA devices" not in _text(_summary(None))
    assert "DRA devices" not in _text(_summary({"devices": 0, "deviceAllocationRatio": None}))
