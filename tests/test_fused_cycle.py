"""The scheduler's fused cycle and the timeline's short forms are the general code, only faster.

* ``Scheduler.run_cycle`` schedules a pod of the default profile (no PreFilter, Reserve, Permit or
  PreBind plugin; no node-by-node Filter or extra Score plugin for its shape) without calling
  ``schedule_one``: on random scenarios (the generator of ``test_properties``, plus random sampling
  percentages and scoring strategies) the timeline is byte-identical with the fused cycle switched off;
* ``TimelineWriter.emit_node`` / ``emit_node_reason`` / ``emit_data`` write exactly what ``emit_ref``
  writes, ``RefTemplate.make`` is ``ref``, and ``key_prefix`` + ``encode_value`` is ``with_key`` — for
  any names, including ones JSON must escape.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_properties import scenarios

from models.scenario import parse_scenario_text
from models.timeline import RefTemplate, TimelineWriter, encode_value, key_prefix, ref, with_key
from sim.build import build
from sim.engine import Simulation

REPO = Path(__file__).resolve().parent.parent

FAST = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def timeline(sc: dict[str, Any] | str, fused: bool) -> tuple[str, bool]:
    """The timeline of one run, and whether the profile allowed the fused cycle."""
    s = parse_scenario_text(sc if isinstance(sc, str) else json.dumps(sc))
    buf = io.StringIO()
    writer = TimelineWriter(buf)
    sim = Simulation(build(s), writer)
    allowed = sim.scheduler.fused
    sim.scheduler.fused = fused and allowed
    sim.run()
    writer.flush()
    return buf.getvalue(), allowed


@st.composite
def sampled_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    sc: dict[str, Any] = draw(scenarios())
    sched = sc["spec"].setdefault("scheduler", {})
    if draw(st.booleans()):
        sched["percentageOfNodesToScore"] = draw(st.sampled_from([0, 1, 50, 100]))
    if draw(st.booleans()):
        sched["resources"] = [{"name": "nvidia.com/gpu", "weight": 3}, {"name": "cpu"}]
    if draw(st.booleans()):  # fill the cluster with low-priority pods, then a high-priority burst preempts
        smallest = min(int(p["allocatable"]["cpu"]) for p in sc["spec"]["cluster"]["nodePools"])
        anywhere = [{"operator": "Exists"}]
        sc["spec"]["workloads"] += [
            {"name": "filler", "namespace": "default", "priority": -1, "duration": "1h", "count": 150,
             "arrival": {"every": "0s"}, "template": {"requests": {"cpu": "1"}, "tolerations": anywhere}},
            {"name": "urgent", "namespace": "default", "priority": 1000, "duration": "20m", "count": 6,
             "arrival": {"every": "2m"}, "replicas": draw(st.integers(1, 3)),
             "template": {"requests": {"cpu": str(draw(st.integers(1, smallest)))}, "tolerations": anywhere}}]
    return sc


@FAST
@given(sampled_scenarios())
def test_fused_cycle_gives_the_general_timeline(sc: dict[str, Any]) -> None:
    fused, allowed = timeline(sc, True)
    general, _ = timeline(sc, False)
    assert allowed == (not any(w.get("gang") for w in sc["spec"]["workloads"]))  # gangs bring Permit
    assert fused == general


def test_fused_cycle_on_the_bundled_quickstart() -> None:
    text = (REPO / "scenarios" / "quickstart.yaml").read_text()
    fused, allowed = timeline(text, True)
    assert allowed
    assert fused.count('"type":"Scheduled"') > 0
    assert fused == timeline(text, False)[0]


# ------------------------------------------------------------------------------------ timeline short forms

NAMES = st.one_of(st.sampled_from(["train-0", "a.b-c", "", "x"]), st.text(max_size=8))
NAMESPACES = st.one_of(st.none(), st.sampled_from(["", "default", "ml"]), st.text(max_size=6))
GROUPS = st.one_of(st.none(), st.sampled_from(["ml/train", "default/g-1"]), st.text(max_size=6))


def written(emit: Any) -> str:
    buf = io.StringIO()
    w = TimelineWriter(buf)
    emit(w)
    emit(w)  # a second line at the same time reuses the encoded time
    w.flush()
    return buf.getvalue()


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(NAMES, NAMESPACES, GROUPS, st.floats(min_value=0, max_value=1e9, allow_nan=False),
       st.sampled_from(['"n-1"', '"nöde"', '"a\\"b"']), st.text(max_size=10))
def test_short_forms_write_what_emit_ref_writes(name: str, namespace: str | None, group: str | None, t: float,
                                               node: str, reason_text: str) -> None:
    obj = ref("Pod", name, namespace, group=group)
    assert RefTemplate("Pod", namespace, group).make(name) == obj
    reason = json.dumps(reason_text, ensure_ascii=False)
    data = '{"a":1}'
    assert written(lambda w: w.emit_node(t, "PodRunning", obj, node)) == \
        written(lambda w: w.emit_ref(t, "PodRunning", obj, node=node))
    assert written(lambda w: w.emit_node_reason(t, "Scheduled", obj, node, reason)) == \
        written(lambda w: w.emit_ref(t, "Scheduled", obj, node=node, reason=reason))
    assert written(lambda w: w.emit_data(t, "PodCreated", obj, data)) == \
        written(lambda w: w.emit_ref(t, "PodCreated", obj, data=data))


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(st.sampled_from(["{}", '{"a":1}', '{"requests":{"cpu":"1"},"priority":0}']),
       st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-10, 10**12)))
def test_key_prefix_and_encode_value_are_with_key(encoded: str, value: float | int) -> None:
    assert key_prefix(encoded, "runtimeSeconds") + encode_value(round(value, 6)) + "}" == \
        with_key(encoded, "runtimeSeconds", round(value, 6))
