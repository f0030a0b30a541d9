"""Property tests (hypothesis): random scenarios, quantity and timeline round-trips, fuzzed scenario files.

* random small scenarios — pools with random labels, taints and allocatable; workloads with random
  requests, selectors, affinity, tolerations, arrivals, runtimes and gangs — simulate without crashing;
  the timeline reads back with no problems and passes every invariant of ``validator.checks`` and an
  independent capacity + lifecycle checker written here; the summary agrees with the timeline;
* the same scenario and seed give byte-identical timelines;
* quantities and timeline events round-trip through their text forms;
* a fuzzed or truncated scenario file ends in exit 0 (it is still a valid scenario) or exit 2 with one
  ``error:`` line — never a traceback.

Examples are derandomized (the same examples every run) and kept few, so the file runs in well under 60 s.
"""

from __future__ import annotations

import io
import json
import math
import tempfile
from collections import defaultdict
from fractions import Fraction
from pathlib import Path
from typing import Any

from cli_helpers import run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.quantity import Quantity, parse_quantity
from models.scenario import parse_scenario_text
from models.timeline import EVENT_TYPES, Event, TimelineWriter, read_timeline
from sim.build import build
from sim.engine import Simulation
from validator.checks import FAILED, run_checks

REPO = Path(__file__).resolve().parent.parent
QUICKSTART = (REPO / "scenarios" / "quickstart.yaml").read_bytes()

FAST = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# ------------------------------------------------------------------------------------- random scenarios

LABELS = {"zone": ["a", "b", "c"], "acc": ["l4", "a100", "h100"], "gen": ["1", "3", "5", "8"]}
TAINT_KEYS = ["nvidia.com/gpu", "dedicated", "spot"]
TAINT_VALUES = ["present", "infer", ""]
EFFECTS = ["NoSchedule", "NoExecute", "PreferNoSchedule"]


@st.composite
def taints(draw: st.DrawFn) -> list[dict[str, str]]:
    out = []
    if draw(st.booleans()):
        return out
    for key in draw(st.lists(st.sampled_from(TAINT_KEYS), max_size=2, unique=True)):
        t = {"key": key, "effect": draw(st.sampled_from(EFFECTS))}
        v = draw(st.sampled_from(TAINT_VALUES))
        if v:
            t["value"] = v
        out.append(t)
    return out


@st.composite
def node_pool(draw: st.DrawFn, i: int) -> dict[str, Any]:
    alloc: dict[str, Any] = {"cpu": str(draw(st.integers(1, 16))),
                             "memory": f"{draw(st.integers(1, 64))}Gi"}
    gpus = draw(st.integers(0, 8))
    if gpus:
        alloc["nvidia.com/gpu"] = str(gpus)
    labels = {k: draw(st.sampled_from(v)) for k, v in LABELS.items() if draw(st.booleans())}
    p: dict[str, Any] = {"name": f"pool-{i}", "count": draw(st.integers(1, 4)), "allocatable": alloc,
                         "labels": labels, "taints": draw(taints())}
    if draw(st.booleans()):
        p["pricePerHour"] = draw(st.sampled_from([0.5, 1.6, 3.0, 12.25, 88.0]))
    return p


@st.composite
def toleration(draw: st.DrawFn) -> dict[str, str]:
    op = draw(st.sampled_from(["Equal", "Exists"]))
    t: dict[str, str] = {"operator": op}
    key = draw(st.sampled_from([*TAINT_KEYS, ""] if op == "Exists" else TAINT_KEYS))
    if key:
        t["key"] = key
    if op == "Equal":
        v = draw(st.sampled_from(TAINT_VALUES))
        if v:
            t["value"] = v
    if draw(st.booleans()):
        t["effect"] = draw(st.sampled_from(EFFECTS))
    return t


@st.composite
def requirement(draw: st.DrawFn) -> dict[str, Any]:
    key = draw(st.sampled_from(list(LABELS)))
    op = draw(st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]))
    r: dict[str, Any] = {"key": key, "operator": op}
    if op in ("In", "NotIn"):
        r["values"] = draw(st.lists(st.sampled_from(LABELS[key]), min_size=1, max_size=2, unique=True))
    elif op in ("Gt", "Lt"):
        r["values"] = [str(draw(st.integers(0, 9)))]
    return r


@st.composite
def template(draw: st.DrawFn) -> dict[str, Any]:
    req: dict[str, Any] = {"cpu": draw(st.sampled_from(["100m", "500m", "1", "1", "2", "3500m", "8", "20"]))}
    if draw(st.booleans()):
        req["memory"] = draw(st.sampled_from(["256Mi", "1Gi", "4Gi", "16Gi", "100Gi"]))
    if draw(st.integers(0, 2)) == 0:
        req["nvidia.com/gpu"] = str(draw(st.integers(1, 4)))
    t: dict[str, Any] = {"requests": req}
    if draw(st.integers(0, 3)) == 0:
        t["nodeSelector"] = {k: draw(st.sampled_from(v)) for k, v in LABELS.items() if draw(st.booleans())}
    if draw(st.integers(0, 3)) > 0:
        t["tolerations"] = draw(st.lists(toleration(), min_size=1, max_size=3))
    if draw(st.integers(0, 3)) == 0:
        terms = draw(st.lists(st.lists(requirement(), min_size=1, max_size=2), min_size=1, max_size=2))
        t["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": e} for e in terms]}}}
    return t


DURATIONS = st.sampled_from([
    "30s", "5m", {"constant": {"value": "12m"}}, {"exponential": {"mean": "10m"}},
    {"uniform": {"min": "1m", "max": "20m"}}, {"lognormal": {"median": "8m", "sigma": 0.6}},
    {"empirical": {"values": ["1m", "7m", "30m"]}}, {"exponential": {"mean": "0s"}},
])


@st.composite
def workload(draw: st.DrawFn, i: int) -> dict[str, Any]:
    kind = draw(st.sampled_from(["at", "every", "poisson"]))
    w: dict[str, Any] = {"name": f"w{i}", "namespace": draw(st.sampled_from(["default", "ml"])),
                         "duration": draw(DURATIONS), "priority": draw(st.sampled_from([0, 0, 10, 100]))}
    if kind == "at":
        w["arrival"] = {"at": [f"{x}s" for x in draw(st.lists(st.integers(0, 3600), min_size=1, max_size=5))]}
    elif kind == "every":
        w["arrival"] = {"every": draw(st.sampled_from(["0s", "90s", "10m"]))}
        w["count"] = draw(st.integers(1, 6))
    else:
        w["arrival"] = {"poisson": {"meanInterval": draw(st.sampled_from(["30s", "5m", "20m"]))}}
        w["count"] = draw(st.integers(1, 8))
    replicas = draw(st.integers(1, 4))
    if draw(st.integers(0, 4)) == 0:
        w["podSets"] = [{"name": f"s{j}", "replicas": draw(st.integers(1, 3)), "template": draw(template())}
                        for j in range(draw(st.integers(1, 2)))]
        total = sum(ps["replicas"] for ps in w["podSets"])
    else:
        w["template"] = draw(template())
        w["replicas"] = replicas
        total = replicas
    if draw(st.booleans()):
        policy = draw(st.sampled_from(["coscheduling", "workload-api"]))
        g: dict[str, Any] = {"policy": policy}
        if draw(st.booleans()):
            g["minCount"] = draw(st.integers(1, total))
        if policy == "coscheduling" and draw(st.booleans()):
            g["timeout"] = draw(st.sampled_from(["10s", "45s", "2m"]))
        w["gang"] = g
    return w


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    pools = [draw(node_pool(i)) for i in range(draw(st.integers(1, 3)))]
    if draw(st.booleans()):   # a roomy untainted pool, so that many scenarios bind many pods
        pools.append({"name": "roomy", "count": draw(st.integers(1, 3)),
                      "labels": {k: draw(st.sampled_from(v)) for k, v in LABELS.items()},
                      "allocatable": {"cpu": "32", "memory": "128Gi", "nvidia.com/gpu": "8"}})
    wls = [draw(workload(i)) for i in range(draw(st.integers(1, 3)))]
    spec: dict[str, Any] = {"seed": draw(st.integers(0, 2**31)),
                            "duration": draw(st.sampled_from(["30m", "2h"])),
                            "cluster": {"nodePools": pools}, "workloads": wls}
    if draw(st.booleans()):
        spec["scheduler"] = {"scoring": draw(st.sampled_from(["LeastAllocated", "MostAllocated"]))}
    return {"apiVersion": "kubetwin.dev/v1alpha1", "kind": "Scenario", "metadata": {"name": "prop"},
            "spec": spec}


def run_sim(sc: dict[str, Any], path: Path) -> dict[str, Any]:
    s = parse_scenario_text(json.dumps(sc))
    with TimelineWriter(path) as w:
        return Simulation(build(s), w).run()


def independent_check(events: list[Event]) -> list[str]:
    """A small capacity + lifecycle checker that shares no code with ``validator.checks``.

    Besides binds and completions it follows preemption (a ``Preempted`` pod was running on that node,
    had a lower priority than its preemptor, and frees its requests at once) and deletion (a
    ``PodDeleted`` pod was pending or running; a running one frees its node)."""
    bad: list[str] = []
    alloc: dict[str, dict[str, int]] = {}
    used: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    req: dict[str, dict[str, int]] = {}
    prio: dict[str, int] = {}
    state: dict[str, str] = {}
    where: dict[str, str] = {}
    last_t = 0.0

    def free(key: str) -> None:
        for r, q in req[key].items():
            used[where[key]][r] -= q

    for i, e in enumerate(events):
        if e.seq != i:
            bad.append(f"seq {e.seq} at index {i}")
        if e.t < last_t:
            bad.append(f"time goes back at seq {e.seq}")
        last_t = e.t
        key = e.key
        if e.type == "NodeReady":
            alloc[e.name] = {r: parse_quantity(q).to_milli() for r, q in e.data["allocatable"].items()}
        elif e.type == "PodCreated":
            if key in state:
                bad.append(f"{key} created twice")
            state[key] = "Pending"
            req[key] = {r: parse_quantity(q).to_milli() for r, q in e.data["requests"].items()}
            prio[key] = e.data["priority"]
        elif e.type == "Scheduled":
            if state.get(key) != "Pending":
                bad.append(f"{key} scheduled while {state.get(key)}")
            assert e.node is not None
            if e.node not in alloc:
                bad.append(f"{key} bound to unknown node {e.node}")
            state[key] = "Bound"
            where[key] = e.node
            for r, q in req[key].items():
                used[e.node][r] += q
                if used[e.node][r] > alloc.get(e.node, {}).get(r, 0):
                    bad.append(f"{e.node} over {r} at t={e.t} binding {key}")
        elif e.type == "PodRunning":
            if state.get(key) != "Bound" or where.get(key) != e.node:
                bad.append(f"{key} running without a bind to {e.node}")
            state[key] = "Running"
        elif e.type == "PodSucceeded":
            if state.get(key) != "Running" or where.get(key) != e.node:
                bad.append(f"{key} succeeded while {state.get(key)}")
            state[key] = "Done"
            free(key)
        elif e.type == "Preempted":
            preemptor = e.data.get("preemptor", "")
            if state.get(key) != "Running" or where.get(key) != e.node:
                bad.append(f"{key} preempted on {e.node} while {state.get(key)} on {where.get(key)}")
            elif prio.get(preemptor, -(2**31)) <= prio[key]:
                bad.append(f"{key} (priority {prio[key]}) preempted by {preemptor} of priority {prio.get(preemptor)}")
            else:
                free(key)
            state[key] = "Preempted"
        elif e.type == "PodDeleted":
            if state.get(key) == "Running":
                if where.get(key) != e.node:
                    bad.append(f"{key} deleted from {e.node} but ran on {where.get(key)}")
                free(key)
            elif state.get(key) != "Pending":
                bad.append(f"{key} deleted while {state.get(key)}")
            state[key] = "Deleted"
        elif e.type == "FailedScheduling" and state.get(key) != "Pending":
            bad.append(f"{key} failed scheduling while {state.get(key)}")
    return bad


@settings(FAST, max_examples=100)
@given(scenarios())
def test_random_scenarios_pass_every_check(sc: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "timeline.jsonl"
        summary = run_sim(sc, path)
        tl = read_timeline(path)
        assert tl.problems == []
        assert tl.warnings == []
        evs = tl.events
        assert evs[0].type == "RunStarted"
        assert evs[-1].type == "RunFinished"
        assert [e.type for e in evs].count("RunFinished") == 1
        failed = [(r.invariant.id, [f.message for f in r.findings[:3]])
                  for r in run_checks(evs) if r.status == FAILED]
        assert failed == []
        assert independent_check(evs) == []
        # the summary agrees with the timeline
        created = sum(e.type == "PodCreated" for e in evs)
        bound = sum(e.type == "Scheduled" for e in evs)
        assert summary["pods"]["total"] == created
        assert summary["pods"]["scheduled"] == bound
        assert summary["pods"]["pendingAtEnd"] == created - bound == evs[-1].data["pending"]
        assert summary["pods"]["succeeded"] == sum(e.type == "PodSucceeded" for e in evs)
        assert summary["sim"]["events"] == len(evs)
        assert summary["nodes"]["peak"] == sum(e.type == "NodeReady" for e in evs)
        end = evs[-1].t
        assert end <= evs[0].data["duration"]
        assert (evs[-1].reason == "duration") == (end == evs[0].data["duration"]) or evs[-1].reason == "idle"
        ratio = summary["gpu"]["allocationRatio"]
        assert ratio is None or 0.0 <= ratio <= 1.0
        for v in summary["allocationRatio"].values():
            assert 0.0 <= v <= 1.0 + 1e-9
        waits = summary["waitSeconds"]
        if bound:
            # summary.json rounds to the millisecond
            assert 0.0 <= waits["p50"] <= waits["p95"] <= waits["p99"] <= waits["max"] <= round(end, 3)


# ------------------------------------------------------------------------------------- under pressure

@st.composite
def preemption_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    """Full nodes of low-priority pods, then higher-priority pods that fit only by preemption: every
    example must preempt (DefaultPreemption)."""
    cpus = draw(st.sampled_from([4, 8]))
    nodes = draw(st.integers(1, 3))
    pools = [{"name": "p", "count": nodes, "allocatable": {"cpu": str(cpus), "memory": "16Gi"}}]
    split = draw(st.sampled_from([1, 2, 4]))          # filler pods per node
    total = nodes * split
    counts = [total // 2, total - total // 2]          # two priority levels, together filling every node
    fillers = [{"name": f"low{j}", "priority": j * 5, "arrival": {"every": "0s"}, "count": c,
                "template": {"requests": {"cpu": f"{cpus * 1000 // split}m", "memory": "1Gi"}},
                "duration": "10h"} for j, c in enumerate(counts) if c]
    high = []
    for j in range(draw(st.integers(1, 3))):
        high.append({"name": f"high{j}", "priority": draw(st.sampled_from([10, 100, 1000])),
                     "arrival": {"at": [f"{x}s" for x in draw(st.lists(st.integers(1, 3600), min_size=1,
                                                                         max_size=3))]},
                     "template": {"requests": {"cpu": f"{draw(st.integers(1, cpus * 1000))}m",
                                               "memory": draw(st.sampled_from(["1Gi", "4Gi"]))}},
                     "duration": draw(DURATIONS)})
    spec: dict[str, Any] = {"seed": draw(st.integers(0, 2**31)), "duration": "2h",
                            "cluster": {"nodePools": pools}, "workloads": fillers + high,
                            "scheduler": {"scoring": draw(st.sampled_from(["LeastAllocated", "MostAllocated"]))}}
    return {"apiVersion": "kubetwin.dev/v1alpha1", "kind": "Scenario", "metadata": {"name": "preempt"},
            "spec": spec}


@st.composite
def eviction_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    """A ClusterQueue whose quota a low-priority gang fills, then a higher-priority gang that Kueue must
    admit by evicting it (withinClusterQueue: LowerPriority); sometimes a gang that fits the quota but not
    the nodes, which waitForPodsReady evicts after its timeout. Every example evicts and deletes pods."""
    gpus = draw(st.sampled_from([4, 8]))
    nodes = draw(st.integers(1, 3))
    quota = gpus * nodes
    pools = [{"name": "gpu", "count": nodes, "labels": {"acc": "h100"},
              "allocatable": {"cpu": "64", "memory": "512Gi", "nvidia.com/gpu": str(gpus)}}]
    kueue = {"resourceFlavors": [{"metadata": {"name": "h100"}, "spec": {"nodeLabels": {"acc": "h100"}}}],
             "clusterQueues": [{"metadata": {"name": "cq"}, "spec": {
                 "preemption": {"withinClusterQueue": "LowerPriority"},
                 "resourceGroups": [{"coveredResources": ["cpu", "memory", "nvidia.com/gpu"], "flavors": [
                     {"name": "h100", "resources": [{"name": "cpu", "nominalQuota": 1000},
                                                    {"name": "memory", "nominalQuota": "10000Gi"},
                                                    {"name": "nvidia.com/gpu", "nominalQuota": quota * 2}]}]}]}}],
             "localQueues": [{"metadata": {"name": "q", "namespace": "default"}, "spec": {"clusterQueue": "cq"}}],
             "waitForPodsReady": {"enable": True, "timeout": draw(st.sampled_from(["5m", "10m"]))}}

    def gang(name: str, prio: int, at: int, per_pod: int, replicas: int, runtime: Any) -> dict[str, Any]:
        return {"name": name, "priority": prio, "queue": "q", "gang": {"policy": "kueue"},
                "arrival": {"at": [f"{at}s"]}, "replicas": replicas, "duration": runtime,
                "template": {"requests": {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": str(per_pod)}}}

    workloads = [gang("low", 0, 0, gpus, nodes * 2, "10h")]          # quota 2·nodes·gpus, nodes hold half
    workloads.append(gang("high", draw(st.sampled_from([10, 100])), draw(st.integers(60, 3000)),
                          draw(st.sampled_from([1, gpus])), draw(st.integers(1, nodes)), draw(DURATIONS)))
    spec: dict[str, Any] = {"seed": draw(st.integers(0, 2**31)), "duration": "2h",
                            "cluster": {"nodePools": pools}, "workloads": workloads, "kueue": kueue}
    return {"apiVersion": "kubetwin.dev/v1alpha1", "kind": "Scenario", "metadata": {"name": "evict"},
            "spec": spec}


def check_all(sc: dict[str, Any]) -> list[Event]:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "timeline.jsonl"
        run_sim(sc, path)
        tl = read_timeline(path)
    assert tl.problems == []
    failed = [(r.invariant.id, [f.message for f in r.findings[:3]])
              for r in run_checks(tl.events) if r.status == FAILED]
    assert failed == []
    assert independent_check(tl.events) == []
    return tl.events


@settings(FAST, max_examples=40)
@given(preemption_scenarios())
def test_preemption_under_pressure_passes_every_check(sc: dict[str, Any]) -> None:
    evs = check_all(sc)
    preempted = [e for e in evs if e.type == "Preempted"]
    assert preempted, "by construction a higher-priority pod must preempt a filler"
    # each victim is replaced by its owner: a new pod of the same workload is created at the same instant
    created = {(e.name, e.t) for e in evs if e.type == "PodCreated"}
    for e in preempted:
        assert any(name.startswith(f"{e.name}-p") and t == e.t for name, t in created)


@settings(FAST, max_examples=30)
@given(eviction_scenarios())
def test_kueue_evictions_under_pressure_pass_every_check(sc: dict[str, Any]) -> None:
    evs = check_all(sc)
    evicted = [e for e in evs if e.type == "Evicted"]
    assert evicted, "by construction the low workload is evicted (preempted, or timed out)"
    deleted = [e for e in evs if e.type == "PodDeleted"]
    assert deleted
    # all pods of an evicted workload go at the instant of its eviction
    for ev in evicted:
        assert any(d.group == ev.group and d.t == ev.t for d in deleted)


@settings(FAST, max_examples=25)
@given(scenarios())
def test_same_seed_identical_bytes(sc: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as d:
        a, b = Path(d) / "a.jsonl", Path(d) / "b.jsonl"
        sa = run_sim(sc, a)
        sb = run_sim(sc, b)
        assert a.read_bytes() == b.read_bytes()
        sa.pop("sim")
        sb.pop("sim")
        assert sa == sb


# ------------------------------------------------------------------------------------- quantities

SUFFIXES = ["", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]


@st.composite
def quantity_texts(draw: st.DrawFn) -> str:
    sign = draw(st.sampled_from(["", "", "+", "-"]))
    whole = draw(st.integers(0, 10**7))
    frac = draw(st.one_of(st.just(""), st.integers(0, 999999).map(lambda x: f".{x}")))
    if draw(st.integers(0, 4)) == 0:
        return f"{sign}{whole}{frac}e{draw(st.integers(-12, 12))}"
    return f"{sign}{whole}{frac}{draw(st.sampled_from(SUFFIXES))}"


@FAST
@given(quantity_texts())
def test_quantity_canonical_round_trip(text: str) -> None:
    q = Quantity.parse(text)
    c = q.canonical()
    q2 = Quantity.parse(c)
    assert q2 == q
    assert q2.canonical() == c                  # canonical is a fixed point
    assert q.to_milli() == math.ceil(q.value * 1000)
    assert "." not in c                         # canonical form has no fractional digits
    assert (q.value * 10**9).denominator == 1   # nano precision


@FAST
@given(st.fractions(min_value=-10**12, max_value=10**12, max_denominator=10**12),
       st.sampled_from(["DecimalSI", "BinarySI", "DecimalExponent"]))
def test_quantity_from_value_round_trip(v: Fraction, fmt: Any) -> None:
    q = Quantity(v, fmt)
    assert q.value >= v and q.value - v < Fraction(1, 10**9)   # rounded up to nano
    assert Quantity.parse(q.canonical()) == q


# ------------------------------------------------------------------------------------- timeline format

NAMES = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)
JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                         st.floats(allow_nan=False, allow_infinity=False), NAMES)
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(NAMES, inner, max_size=3)), max_leaves=8)


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "t": draw(st.floats(min_value=0, max_value=10**7, allow_nan=False)),
        "type": draw(st.one_of(st.sampled_from(sorted(EVENT_TYPES)))),
        "kind": draw(st.sampled_from(["Pod", "Node", "Workload", "Run", "PodGroup"])),
        "name": draw(NAMES),
        "namespace": draw(st.one_of(st.none(), NAMES)),
        "uid": draw(st.one_of(st.none(), NAMES)),
        "node": draw(st.one_of(st.none(), NAMES)),
        "group": draw(st.one_of(st.none(), NAMES)),
        "reason": draw(st.one_of(st.none(), NAMES)),
        "data": draw(st.dictionaries(NAMES, JSON_VALUES, max_size=4)),
    }


@FAST
@given(st.lists(events(), min_size=1, max_size=15))
def test_timeline_write_read_round_trip(evs: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    w = TimelineWriter(buf)
    for e in evs:
        w.emit(e["t"], e["type"], e["kind"], e["name"], e["namespace"], uid=e["uid"], node=e["node"],
               group=e["group"], reason=e["reason"], data=e["data"] or None)
    w.close()
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "t.jsonl"
        p.write_text(buf.getvalue(), encoding="utf-8")
        tl = read_timeline(p)
        assert tl.problems == []
        assert len(tl.events) == len(evs)
        for i, (got, want) in enumerate(zip(tl.events, evs, strict=True)):
            assert got.seq == i
            assert got.line == i + 1
            assert got.t == round(want["t"], 6)
            fields = ("type", "kind", "name", "namespace", "uid", "node", "group", "reason")
            assert [getattr(got, f) for f in fields] == [want[f] for f in fields]
            assert got.data == want["data"]
        # and an event read back writes the same line again
        buf2 = io.StringIO()
        w2 = TimelineWriter(buf2)
        for ev in tl.events:
            w2.write_event(ev)
        assert buf2.getvalue() == buf.getvalue()


@FAST
@given(st.lists(events(), min_size=2, max_size=8), st.data())
def test_torn_timeline_keeps_every_good_line(evs: list[dict[str, Any]], data: st.DataObject) -> None:
    buf = io.StringIO()
    w = TimelineWriter(buf)
    for e in evs:
        w.emit(e["t"], e["type"], e["kind"], e["name"], e["namespace"], data=e["data"] or None)
    text = buf.getvalue()
    lines = [x + "\n" for x in text.split("\n")[:-1]]   # not splitlines(): U+2028 etc. are data
    cut_line = data.draw(st.integers(0, len(lines) - 1))
    prefix = "".join(lines[:cut_line])
    torn = lines[cut_line][: data.draw(st.integers(1, len(lines[cut_line]) - 2))]
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "t.jsonl"
        p.write_text(prefix + torn, encoding="utf-8")
        tl = read_timeline(p)
        assert [e.seq for e in tl.events] == list(range(cut_line))
        assert len(tl.problems) == 1
        assert tl.problems[0].startswith(f"{p}:{cut_line + 1}: ")
        assert tl.problems[0].endswith("(torn last line: the writer was interrupted)")


# ------------------------------------------------------------------------------------- fuzzed scenario files

def assert_clean_outcome(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "fuzzed.yaml"
        p.write_bytes(content)
        out_dir = Path(d) / "out"
        code, _, err = run_cli("simulate", str(p), "-o", str(out_dir), "--json", "--until", "3h")
        assert "Traceback" not in err
        assert code in (0, 2), (code, err)
        if code == 2:
            lines = err.splitlines()
            assert len(lines) == 1, err
            assert lines[0].startswith(f"error: {p}") or lines[0].startswith(f"error: {p.resolve()}"), err
        else:
            assert err == ""
            assert read_timeline(out_dir / "timeline.jsonl").problems == []


@settings(FAST, max_examples=100)
@given(st.integers(0, len(QUICKSTART) - 1))
def test_truncated_scenario_is_a_clean_error(cut: int) -> None:
    assert_clean_outcome(QUICKSTART[:cut])


@settings(FAST, max_examples=100)
@given(st.lists(st.tuples(st.integers(0, len(QUICKSTART) - 1), st.integers(0, 255)), min_size=1, max_size=4))
def test_byte_mutated_scenario_is_a_clean_error(edits: list[tuple[int, int]]) -> None:
    b = bytearray(QUICKSTART)
    for pos, val in edits:
        b[pos] = val
    assert_clean_outcome(bytes(b))


@settings(FAST, max_examples=100)
@given(st.integers(0, len(QUICKSTART) - 1), st.integers(1, 40),
       st.sampled_from([b"", b":", b"-", b" ", b"\n", b"[", b"{", b"\"", b"'", b"\t", b"&a", b"*a", b"!!",
                        b"0", b"-1", b"1e999", b"~", b"null", b"\xff", b"Gi", b"h"]))
def test_spliced_scenario_is_a_clean_error(pos: int, length: int, insert: bytes) -> None:
    assert_clean_outcome(QUICKSTART[:pos] + insert + QUICKSTART[pos + length:])


def test_fuzz_baseline_is_valid() -> None:
    # the unmodified file runs: the fuzz tests start from a good scenario
    assert_clean_outcome(QUICKSTART)
    code, _, _ = run_cli("simulate", "/nonexistent/x.yaml", "-o", "/tmp/kubetwin-none")
    assert code == 2


def test_control_character_is_a_one_line_error() -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "s.yaml"
        p.write_bytes(b"apiVersion: kubetwin.dev/v1alpha1\nkind: Scen\x00ario\n")
        code, _, err = run_cli("simulate", str(p), "-o", str(Path(d) / "out"))
        assert code == 2
        assert err.splitlines() == [err.splitlines()[0]]
        assert err.startswith(f"error: {p}:2:11: ")
