"""The checks stay linear: a large timeline is validated in one pass per check group."""

from __future__ import annotations

import time

import pytest

from models.timeline import Event
from validator.checks import run_checks


def _big(gangs: int) -> list[Event]:
    evs: list[Event] = []

    def e(t: float, typ: str, kind: str, name: str, node: str | None = None, group: str | None = None,
          data: dict[str, object] | None = None) -> None:
        evs.append(Event(len(evs), t, typ, kind, name, "ns" if kind != "Node" else None, None, node, group,
                         None, dict(data or {})))

    e(0.0, "RunStarted", "Run", "big", data={"schemaVersion": 1, "source": "sim"})
    for i in range(1000):
        e(0.0, "NodeReady", "Node", f"n{i}", data={"allocatable": {"cpu": "96", "nvidia.com/gpu": "8"}})
    t = 1.0
    for g in range(gangs):
        gk = f"ns/g{g}"
        e(t, "WorkloadCreated", "PodGroup", f"g{g}", group=gk,
          data={"policy": "coscheduling", "minCount": 8, "pods": 8})
        nodes = [f"n{(g * 8 + i) % 1000}" for i in range(8)]
        for i in range(8):
            e(t, "PodCreated", "Pod", f"g{g}-{i}", group=gk,
              data={"requests": {"cpu": "8", "nvidia.com/gpu": "1"}})
        for i in range(8):
            e(t, "Scheduled", "Pod", f"g{g}-{i}", node=nodes[i], group=gk)
        for i in range(8):
            e(t, "PodRunning", "Pod", f"g{g}-{i}", node=nodes[i], group=gk)
        for i in range(8):
            e(t + 0.5, "PodSucceeded", "Pod", f"g{g}-{i}", node=nodes[i], group=gk)
        t += 1.0
    return evs


@pytest.mark.slow
def test_a_quarter_million_events_check_in_seconds() -> None:
    evs = _big(8000)          # 64k pods, ~265k events
    t0 = time.process_time()
    results = run_checks(evs)
    spent = time.process_time() - t0
    assert all(r.status != "failed" for r in results), [r.findings[:1] for r in results if r.findings]
    assert spent < 20, f"{len(evs)} events took {spent:.1f} s of CPU"
