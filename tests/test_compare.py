"""``validator.compare`` and ``kubetwin compare``: statistics pinned by hand, alignment, planted
differences, thresholds and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.timeline import Event
from tests.timeline_builder import TL
from validator.compare import Aliases, compare_events, kendall_tau, ks_distance

ROOT = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------------------------------ statistics

def test_ks_distance_by_hand() -> None:
    # F_A jumps at 1,2,3; F_B at 2,3,4: at x=1 |1/3-0|, x=2 |2/3-1/3|, x=3 |1-2/3|, x=4 0 -> 1/3
    assert ks_distance([1, 2, 3], [2, 3, 4]) == pytest.approx(1 / 3)
    assert ks_distance([0, 0], [1]) == 1.0
    assert ks_distance([5, 1, 3], [3, 5, 1]) == 0.0
    # A = {1, 2}, B = {1.5}: x=1 |1/2 - 0|, x=1.5 |1/2 - 1|, x=2 |1 - 1| -> 1/2
    assert ks_distance([1, 2], [1.5]) == 0.5
    assert ks_distance([], [1]) is None


def test_kendall_tau_by_hand() -> None:
    # b a d c: discordant pairs (a,b) and (c,d) of 6 -> 1 - 2*2/6 = 1/3
    assert kendall_tau(list("abcd"), list("badc")) == pytest.approx(1 / 3)
    assert kendall_tau(list("abc"), list("cba")) == -1.0
    assert kendall_tau(list("abcde"), list("abcde")) == 1.0
    # only common items count: x and y are ignored, a b c is reversed once (b,c) of 3 -> 1/3
    assert kendall_tau(list("abcx"), list("yacb")) == pytest.approx(1 / 3)
    assert kendall_tau(["a"], ["a"]) is None


@given(st.permutations(list(range(12))))
def test_kendall_tau_matches_the_quadratic_definition(perm: list[int]) -> None:
    a = [str(i) for i in range(12)]
    b = [str(i) for i in perm]
    pos = {k: i for i, k in enumerate(b)}
    conc = sum(1 if pos[x] < pos[y] else -1 for x, y in combinations(a, 2))
    assert kendall_tau(a, b) == pytest.approx(conc / 66)


# ------------------------------------------------------------------------------------------ timelines

def base(*, move: bool = False, delay: float = 0.0, drop: bool = False, prefix: str = "") -> TL:
    """3 nodes, 4 plain pods and a coscheduling gang of 2; the switches plant one difference each."""
    tl = TL()
    tl.node("n1", cpu="8").node("n2", cpu="8").node("n3", cpu="8", pool="other")
    tl.pod(f"a/{prefix}p1", 1, cpu="2").bind(f"a/{prefix}p1", "n1", 1).running(f"a/{prefix}p1", 1, "n1")
    tl.pod(f"a/{prefix}p2", 2, cpu="2").bind(f"a/{prefix}p2", "n3" if move else "n2", 2 + delay)
    tl.pod(f"a/{prefix}p3", 3, cpu="2").bind(f"a/{prefix}p3", "n1", 10)
    if not drop:
        tl.pod(f"a/{prefix}p4", 4, cpu="2").bind(f"a/{prefix}p4", "n2", 12)
    tl.workload("a/g", 5, min_count=2)
    tl.pod("a/g-0", 5, group="a/g").pod("a/g-1", 5, group="a/g")
    tl.bind("a/g-0", "n2", 20, group="a/g").bind("a/g-1", "n3", 20, group="a/g")
    return tl


def cmp(a: TL, b: TL, **kw: Any) -> dict[str, Any]:
    return compare_events(a.events, b.events, **kw)


def test_a_timeline_compared_with_itself_shows_no_difference() -> None:
    r = cmp(base(), base(), max_wait_p95_diff=0.0, min_same_node=1.0)
    assert r["identical"] is True and r["withinThresholds"] is True and r["violations"] == []
    assert r["pods"] == {"a": 6, "b": 6, "matched": 6, "onlyInA": 0, "onlyInB": 0, "onlyInAList": [],
                         "onlyInBList": [], "scheduledOnlyInA": 0, "scheduledOnlyInB": 0}
    w = r["waitSeconds"]
    # waits: p1 0, p2 0, p3 7, p4 8, g-0 15, g-1 15
    assert w["a"] == {"count": 6, "p50": 7.5, "p95": 15.0, "p99": 15.0, "max": 15.0}
    assert w["ks"] == 0.0 and w["p95Diff"] == 0.0
    assert r["admissionOrder"]["pods"] == {"compared": 6, "kendallTau": 1.0}
    assert r["placement"]["sameNodeShare"] == 1.0 and r["placement"]["samePoolShare"] == 1.0
    g = r["gangs"]
    assert g["admittedA"] == 1 and g["admissionWaitSeconds"]["a"]["p50"] == 15.0 and g["maxAbsDiff"] == 0.0


def test_a_moved_pod_is_found() -> None:
    r = cmp(base(), base(move=True), min_same_node=1.0)
    pl = r["placement"]
    assert pl["moved"] == [{"a": "a/p2", "b": "a/p2", "nodeA": "n2", "nodeB": "n3"}]
    assert pl["sameNode"] == 5 and pl["sameNodeShare"] == pytest.approx(5 / 6, abs=1e-6)
    assert pl["samePool"] == 5   # n3 is in pool "other"
    assert r["withinThresholds"] is False and r["violations"] == ["same-node share 0.8333 is below 1"]
    assert cmp(base(), base(move=True), min_same_node=0.8)["withinThresholds"] is True


def test_a_delayed_bind_is_found() -> None:
    r = cmp(base(), base(delay=30.0), max_wait_p95_diff=5.0)
    d = r["schedulingDelay"]
    assert d["differing"] == 1 and d["maxAbsDiff"] == 30.0
    assert d["largest"] == [{"a": "a/p2", "b": "a/p2", "waitA": 0.0, "waitB": 30.0, "diff": 30.0}]
    # B's waits sorted: 0 7 8 15 15 30; p95 at position 5*0.95 = 4.75 -> 15 + 0.75*15 = 26.25; A's is 15
    assert r["waitSeconds"]["b"]["p95"] == 26.25 and r["waitSeconds"]["p95Diff"] == 11.25
    # A's order p1 p2 p3 p4 g-0 g-1; B binds p2 last: 4 discordant pairs of 15 -> 1 - 8/15
    assert r["admissionOrder"]["pods"]["kendallTau"] == pytest.approx(7 / 15, abs=1e-6)
    assert r["violations"] == ["wait p95 differs by 11.25s (> 5s)"] and r["withinThresholds"] is False
    assert cmp(base(), base(delay=30.0), max_wait_p95_diff=12.0)["withinThresholds"] is True


def test_a_missing_pod_is_found() -> None:
    r = cmp(base(), base(drop=True), min_same_node=1.0)
    assert r["pods"]["onlyInA"] == 1 and r["pods"]["onlyInAList"] == ["a/p4"] and r["pods"]["onlyInB"] == 0
    assert r["placement"]["scheduledEither"] == 6 and r["placement"]["sameNode"] == 5
    assert r["identical"] is False and r["withinThresholds"] is False


def test_pods_with_other_names_align_by_owner_and_ordinal() -> None:
    a, b = base(), base(prefix="x-")
    # by default both sides' pods belong to owner "a/w" (data.workload), so creation order aligns them
    r = cmp(a, b, min_same_node=1.0)
    assert r["pods"]["matched"] == 6 and r["identical"] is True
    # the aliases of a replay say exactly which B pods stand for which A pods
    for ev in b.events:
        if ev.type == "PodCreated" and ev.name.startswith("x-"):
            ev.data = {**ev.data, "workload": "gen-" + ev.name}
    al = Aliases(pods={f"a/gen-x-p{i}": [f"a/p{i}"] for i in range(1, 5)})
    assert cmp(a, b, aliases=al)["identical"] is True
    assert cmp(a, b)["pods"]["onlyInA"] == 4


def test_replacement_pods_align_with_the_replacements_of_their_victims() -> None:
    def tl(names: tuple[str, str]) -> TL:
        t = TL()
        t.node("n1", cpu="8")
        t.pod(f"a/{names[0]}", 1).bind(f"a/{names[0]}", "n1", 1).preempted(f"a/{names[0]}", 5)
        t.pod(f"a/{names[0]}-p3", 5).bind(f"a/{names[0]}-p3", "n1", 9)
        return t

    a, b = tl(("v", "")), tl(("gen-v-0", ""))
    for ev in b.events:
        if ev.type == "PodCreated":
            ev.data = {**ev.data, "workload": "gen"}
    # the aliases align the victim; only the preemption chain can align the replacement (other owner)
    r = cmp(a, b, aliases=Aliases(pods={"a/gen": ["a/v"]}))
    assert r["pods"]["matched"] == 2 and r["identical"] is True
    assert cmp(a, b)["pods"]["matched"] == 0


def test_gang_admission_difference() -> None:
    a, b = base(), base()
    b.events = [Event(e.seq, 40.0 if e.type == "Scheduled" and e.group else e.t, e.type, e.kind, e.name,
                      e.namespace, e.uid, e.node, e.group, e.reason, e.data) for e in b.events]
    g = cmp(a, b)["gangs"]
    assert g["maxAbsDiff"] == 20.0 and g["largest"] == [{"gang": "a/g", "diff": 20.0}]


def test_scale_up_counts_and_provisioning_latency() -> None:
    a = base()
    a.emit(30, "TriggeredScaleUp", "Pod", "p9", "a", data={"pool": "gpu"})
    a.emit(31, "NodeProvisioning", "Node", "gpu-0", data={"pool": "gpu"})
    a.node("gpu-0", t=121, pool="gpu")
    su = cmp(a, base())["scaleUp"]
    assert su["a"]["triggeredScaleUps"] == 1 and su["a"]["nodesProvisioned"] == 1
    assert su["a"]["nodesReadyAfterStart"] == 1 and su["a"]["provisioningSeconds"]["p50"] == 90.0
    assert su["b"]["triggeredScaleUps"] == 0


# ------------------------------------------------------------------------------------------ the verb

def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kubetwin", "compare", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={"COLUMNS": "80", "PATH": "/usr/bin:/bin"})


def test_cli_exit_codes_and_json(tmp_path: Path) -> None:
    a = base().write(tmp_path / "a.jsonl")
    moved = base(move=True).write(tmp_path / "b.jsonl")
    out = tmp_path / "c.json"
    same = run(str(a), str(a), "--json", str(out), "--max-wait-p95-diff", "0s", "--min-same-node", "1")
    assert same.returncode == 0, same.stderr
    assert "no difference" in same.stdout and "Traceback" not in same.stderr
    assert max(len(line) for line in same.stdout.splitlines()) <= 80
    report = json.loads(out.read_text())
    assert report["identical"] is True and report["a"] == str(a)
    beyond = run(str(a), str(moved), "--min-same-node", "0.9")
    assert beyond.returncode == 1 and "same-node share" in beyond.stdout
    assert run(str(a), str(moved)).returncode == 0          # no threshold: differences are reported only
    for bad in (["--max-wait-p95-diff", "5"], ["--max-wait-p95-diff", "-1s"], ["--min-same-node", "1.5"]):
        r = run(str(a), str(a), *bad)
        assert r.returncode == 2 and "Traceback" not in r.stderr, (bad, r.stderr)
    missing = run(str(a), str(tmp_path / "nope.jsonl"))
    assert missing.returncode == 2 and "no such file" in missing.stderr
    torn = tmp_path / "torn.jsonl"
    torn.write_text(a.read_text() + '{"seq": 99, "t"', encoding="utf-8")
    assert run(str(a), str(torn)).returncode == 2


def test_node_aliases_apply_only_to_names_a_does_not_have() -> None:
    a, b = base(), base()
    renamed = {"n1": "pool-0", "n2": "pool-1", "n3": "other-0"}
    for ev in b.events:
        if ev.node in renamed:
            ev.node = renamed[ev.node]
        if ev.type == "NodeReady":
            ev.name = renamed[ev.name]
    al = Aliases(nodes={v: k for k, v in renamed.items()})
    assert cmp(a, b)["placement"]["sameNode"] == 0
    assert cmp(a, b, aliases=al)["identical"] is True
    # B carries A's own node names: a stale alias (pool-<i> order) must not override them
    assert cmp(a, base(), aliases=Aliases(nodes={"n1": "n2", "n2": "n1"}))["identical"] is True
