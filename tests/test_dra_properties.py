"""Property: whatever devices and claims hypothesis draws, the simulator's DRA events (allocator +
claim lifecycle through the DynamicResources plugin) never break D1–D7 as the validator checks them."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from models.dra import DeviceClass, ResourceClaimTemplate, ResourceSlice
from models.timeline import Event
from sim.dra.claims import ClaimController, ClaimEvent, PodClaimRef
from sim.dra.plugin import DynamicResources
from validator.checks import run_checks

DRIVER = "gpu.example.com"
ROOT = "resource.kubernetes.io/pcieRoot"
CLASS = DeviceClass.model_validate({"metadata": {"name": "gpu"}, "spec": {
    "selectors": [{"cel": {"expression": f'device.driver == "{DRIVER}"'}}]}})


@st.composite
def inventory(draw: st.DrawFn) -> list[dict[str, Any]]:
    devices = []
    for i in range(draw(st.integers(1, 6))):
        d: dict[str, Any] = {"name": f"gpu-{i}", "attributes": {"index": {"int": i},
                                                                ROOT: {"string": draw(st.sampled_from("ab"))}},
                             "capacity": {"memory": {"value": f"{draw(st.sampled_from([8, 16, 24]))}Gi"}}}
        if draw(st.integers(0, 3)) == 0:
            d["allowMultipleAllocations"] = True
            d["capacity"]["memory"]["requestPolicy"] = {"default": "4Gi",
                                                        "validRange": {"min": "4Gi", "step": "4Gi"}}
        if draw(st.booleans()):
            d["consumesCounters"] = [{"counterSet": "cs", "counters": {"c": {"value": str(draw(st.integers(1, 3)))}}}]
        devices.append(d)
    return devices


@st.composite
def template(draw: st.DrawFn, i: int) -> ResourceClaimTemplate:
    exact: dict[str, Any] = {"deviceClassName": "gpu"}
    mode = draw(st.sampled_from(["one", "count", "all", "share"]))
    if mode == "count":
        exact["count"] = draw(st.integers(1, 3))
    elif mode == "all":
        exact["allocationMode"] = "All"
    elif mode == "share":
        exact["capacity"] = {"requests": {"memory": f"{draw(st.integers(1, 12))}Gi"}}
    if draw(st.booleans()):
        exact["selectors"] = [{"cel": {"expression": f'device.attributes["{DRIVER}"].index != '
                                                     f'{draw(st.integers(0, 5))}'}}]
    constraints = []
    kind = draw(st.sampled_from(["none", "matchAttribute", "distinctAttribute"]))
    if kind != "none":
        constraints.append({kind: ROOT})
    return ResourceClaimTemplate.model_validate({"metadata": {"name": f"t{i}", "namespace": "ml"}, "spec": {"spec": {
        "devices": {"requests": [{"name": "gpu", "exactly": exact}], "constraints": constraints}}}})


def _event(seq: int, t: float, e: ClaimEvent) -> Event:
    return Event(seq, t, e.type, e.kind, e.name, e.namespace, None, e.node, None, None, dict(e.data))


@settings(max_examples=60, deadline=None)
@given(inventory(), st.data())
def test_simulated_dra_events_never_break_d1_to_d7(devices: list[dict[str, Any]], data: st.DataObject) -> None:
    templates = [data.draw(template(i)) for i in range(3)]
    budget = data.draw(st.integers(2, 8))
    sl = ResourceSlice.model_validate({"metadata": {"name": "s"}, "spec": {
        "driver": DRIVER, "nodeName": "n1", "pool": {"name": "n1", "generation": 1, "resourceSliceCount": 1},
        "sharedCounters": [{"name": "cs", "counters": {"c": {"value": str(budget)}}}], "devices": devices}})
    plugin = DynamicResources([CLASS], ClaimController(templates, [], [CLASS]))
    events: list[Event] = [Event(0, 0.0, "RunStarted", "Run", "t", None, None, None, None, None,
                                 {"schemaVersion": 1, "source": "sim"})]

    def emit(t: float, typ: str, kind: str, name: str, ns: str | None = None, node: str | None = None,
             d: dict[str, Any] | None = None) -> None:
        events.append(Event(len(events), t, typ, kind, name, ns, None, node, None, None, d or {}))

    emit(0, "NodeReady", "Node", "n1", d={"pool": "p", "labels": {}, "taints": [], "allocatable": {"cpu": "8"},
                                          "devices": plugin.node_ready(0, "n1", [sl]),
                                          "sharedCounters": plugin.node_counters(0)})
    running: list[Any] = []
    t = 0.0
    for seq in range(1, data.draw(st.integers(1, 10)) + 1):
        t += 1
        if running and data.draw(st.booleans()):
            p = running.pop(data.draw(st.integers(0, len(running) - 1)))
            emit(t, "PodSucceeded", "Pod", p.name, "ml", node="n1")
            for e in plugin.pod_finished(p):
                events.append(_event(len(events), t, e))
            continue
        pod = SimpleNamespace(seq=seq, name=f"p{seq}", namespace="ml")
        tmpl = data.draw(st.integers(0, 2))
        info, created = plugin.controller.pod_created(seq, "ml", pod.name, [PodClaimRef("gpu", None, f"t{tmpl}")])
        emit(t, "PodCreated", "Pod", pod.name, "ml", d={"requests": {"cpu": "1"}, "priority": 0, "workload": "w",
                                                          **info.payload()})
        for e in created:
            events.append(_event(len(events), t, e))
        state: dict[str, Any] = {}
        if plugin.pre_filter(pod, state) is None and plugin.filter(pod, 0, state) is None:
            assert plugin.reserve(pod, 0, state) is None
            plugin.pre_bind(pod, 0, state)
            for e in plugin.events:
                events.append(_event(len(events), t, e))
            plugin.events.clear()
            emit(t, "Scheduled", "Pod", pod.name, "ml", node="n1")
            emit(t, "PodRunning", "Pod", pod.name, "ml", node="n1")
            running.append(pod)
    bad = [f.message for r in run_checks(events) if r.invariant.id.startswith("D") for f in r.findings]
    assert bad == []
