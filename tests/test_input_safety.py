"""Unsafe and nonsensical input (issue 14 items 7 and 8): alias bombs, duplicate keys, negative amounts,
priorities outside int32, and runs too large to start without ``--yes``."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from cli_helpers import run_cli
from hypothesis import given, settings
from hypothesis import strategies as st

from kubetwin.estimate import MAX_EVENTS, estimate_run
from models import yaml_input
from models.errors import InputError
from models.manifests import load_manifest_text
from models.scenario import parse_scenario_text
from models.yaml_input import ALIAS_EXPANSION_LIMIT, load_documents, locate

GOOD = """\
apiVersion: kubetwin.dev/v1alpha1
kind: Scenario
metadata:
  name: tiny
spec:
  duration: 1h
  cluster:
    nodePools:
    - name: cpu
      count: 2
      allocatable: {cpu: "4", memory: 16Gi}
  workloads:
  - name: batch
    arrival: {every: 1m}
    count: 3
    template:
      requests: {cpu: "1", memory: 1Gi}
    duration: 5m
"""


def bomb(levels: int = 9) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------- item 7

def test_libyaml_loader_is_used_when_available() -> None:
    if getattr(yaml, "__with_libyaml__", False):
        assert yaml_input.Loader is yaml.CSafeLoader
    else:
        assert yaml_input.Loader is yaml.SafeLoader


def test_alias_bomb_in_a_scenario_is_refused_with_a_short_message() -> None:
    text = GOOD.replace("metadata:\n", "x-bomb:\n" + "".join("  " + line + "\n" for line in bomb().splitlines())
                        + "metadata:\n")
    with pytest.raises(InputError) as e:
        parse_scenario_text(text, "bomb.yaml")
    msg = e.value.render()
    assert msg.startswith("bomb.yaml:")
    assert f"YAML aliases expand to more than {ALIAS_EXPANSION_LIMIT:,} nodes" in msg
    assert len(msg) < 400


def test_alias_bomb_in_a_manifest_is_refused() -> None:
    with pytest.raises(InputError, match="alias bomb"):
        load_manifest_text(bomb(), "m.yaml")


def test_alias_bomb_via_cli_exits_2(tmp_path: Path) -> None:
    p = tmp_path / "s.yaml"
    p.write_text(bomb() + GOOD, encoding="utf-8")
    code, _, err = run_cli("simulate", str(p), "-o", str(tmp_path / "out"))
    assert code == 2
    assert "Traceback" not in err and "alias bomb" in err and len(err) < 600
    assert not (tmp_path / "out").exists()


def test_small_alias_use_is_fine_and_equals_safe_load() -> None:
    text = "base: &b {cpu: '1', memory: 1Gi}\nuse: [*b, *b]\nmerged:\n  <<: *b\n  cpu: '2'\n"
    assert load_documents(text, "t.yaml") == [yaml.safe_load(text)]
    assert load_documents(text, "t.yaml")[0]["merged"] == {"cpu": "2", "memory": "1Gi"}


def test_alias_just_under_the_limit_is_accepted() -> None:
    n = ALIAS_EXPANSION_LIMIT // 10
    text = "a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9]\nb: [" + ", ".join(["*a"] * n) + "]\n"
    assert len(load_documents(text, "t.yaml")[0]["b"]) == n
    # each *a adds 10 nodes (the list and its 9 items): n of them add exactly the limit, one more is refused
    with pytest.raises(InputError, match="alias bomb"):
        load_documents("a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9]\nb: [" + ", ".join(["*a"] * (n + 1)) + "]\n", "t.yaml")


def test_recursive_alias_is_refused() -> None:
    with pytest.raises(InputError, match="recursive alias"):
        load_documents("a: &r\n  b: [*r]\n", "t.yaml")


def test_unknown_alias_is_refused() -> None:
    with pytest.raises(InputError, match=r"\*nope has no anchor"):
        load_documents("a: *nope\n", "t.yaml")


def test_load_documents_matches_safe_load_on_every_bundled_yaml() -> None:
    repo = Path(__file__).resolve().parent.parent
    files = sorted([*repo.glob("scenarios/**/*.yaml"), *repo.glob("bench/scenarios/*.yaml"), *repo.glob("docs/*.yaml")])
    assert files
    for f in files:
        text = f.read_text(encoding="utf-8")
        assert load_documents(text, str(f)) == list(yaml.safe_load_all(text)), f


def test_locate_finds_values_keys_and_nearest_parent() -> None:
    text = "a:\n  b:\n  - x\n  - {c: 1}\n"
    assert locate(text, ("a", "b", 1, "c")) == (4, 9)
    assert locate(text, ("a", "b", 1, "c"), key=True) == (4, 6)
    assert locate(text, ("a", "missing")) == (2, 3)


# ------------------------------------------------------------------------------------------- item 8

def test_duplicate_key_names_key_path_and_both_lines() -> None:
    text = GOOD.replace("    count: 3\n", "    count: 3\n    replicas: 1\n    count: 4\n")
    with pytest.raises(InputError) as e:
        parse_scenario_text(text, "dup.yaml")
    assert e.value.render() == ("dup.yaml:17: spec.workloads[0].count: key 'count' is given twice (lines 15 and 17); "
                                "YAML keeps only the last one (fix: remove one of them or merge their values)")


def test_duplicate_key_in_flow_mapping() -> None:
    with pytest.raises(InputError, match=r"key 'cpu' is given twice \(lines 11 and 11\)"):
        parse_scenario_text(GOOD.replace('{cpu: "4", memory: 16Gi}', '{cpu: "4", cpu: "8"}'), "d.yaml")


def test_duplicate_key_in_a_manifest() -> None:
    text = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: a\n  name: b\n"
    with pytest.raises(InputError, match=r"m.yaml:5: metadata.name: key 'name' is given twice \(lines 4 and 5\)"):
        load_manifest_text(text, "m.yaml")


def test_same_key_in_different_mappings_is_fine() -> None:
    assert load_documents("a: {x: 1}\nb: {x: 2}\n", "t.yaml") == [{"a": {"x": 1}, "b": {"x": 2}}]


@pytest.mark.parametrize(("old", "new", "field"), [
    ('requests: {cpu: "1", memory: 1Gi}', 'requests: {cpu: "-1", memory: 1Gi}',
     "spec.workloads[0].template.requests.cpu"),
    ('allocatable: {cpu: "4", memory: 16Gi}', 'allocatable: {cpu: "4", memory: -16Gi}',
     "spec.cluster.nodePools[0].allocatable.memory"),
])
def test_negative_amounts_are_refused(old: str, new: str, field: str) -> None:
    with pytest.raises(InputError) as e:
        parse_scenario_text(GOOD.replace(old, new), "n.yaml")
    assert e.value.field == field
    assert "is negative" in e.value.message


@pytest.mark.parametrize(("priority", "ok"), [(2**31 - 1, True), (-(2**31), True), (2**31, False),
                                              (-(2**31) - 1, False)])
def test_priority_must_be_int32(priority: int, ok: bool) -> None:
    text = GOOD.replace("    count: 3\n", f"    count: 3\n    priority: {priority}\n")
    if ok:
        assert parse_scenario_text(text).spec.workloads[0].priority == priority
    else:
        with pytest.raises(InputError) as e:
            parse_scenario_text(text, "p.yaml")
        assert e.value.field == "spec.workloads[0].priority"


def test_estimate_counts_pods_and_events_by_hand() -> None:
    # every 1m, count 3 -> 3 instances x 1 pod; 4 events each + 2 nodes + RunStarted/RunFinished
    est = estimate_run(parse_scenario_text(GOOD))
    assert (est.instances, est.pods, est.events) == (3, 3, 3 * 4 + 2 + 2)
    # arrivals past the end do not happen: every 1m for 1h is 61 instances at most
    est = estimate_run(parse_scenario_text(GOOD.replace("count: 3", "count: 1000")))
    assert est.pods == 61


def test_huge_count_is_refused_without_yes(tmp_path: Path) -> None:
    p = tmp_path / "s.yaml"
    p.write_text(GOOD.replace("arrival: {every: 1m}", "arrival: {every: 0s}").replace("count: 3", "count: 100000000"),
                 encoding="utf-8")
    code, _, err = run_cli("simulate", str(p), "-o", str(tmp_path / "out"))
    assert code == 2, err
    assert "Traceback" not in err
    assert "about 100,000,000 pods and 400,000,004 timeline events" in err
    assert "--yes" in err
    assert not (tmp_path / "out").exists()


def test_long_duration_is_estimated_from_the_arrivals(tmp_path: Path) -> None:
    text = (GOOD.replace("duration: 1h", "duration: 1000000h")
            .replace("arrival: {every: 1m}\n    count: 3", "arrival: {poisson: {meanInterval: 1s}}"))
    est = estimate_run(parse_scenario_text(text))
    assert est.events > MAX_EVENTS and est.over_limit()
    p = tmp_path / "s.yaml"
    p.write_text(text, encoding="utf-8")
    code, _, err = run_cli("simulate", str(p), "-o", str(tmp_path / "out"))
    assert code == 2 and "refusing to start it without --yes" in err


def test_negative_request_in_a_job_manifest_is_refused() -> None:
    text = """\
apiVersion: batch/v1
kind: Job
metadata: {name: a}
spec:
  template:
    spec:
      containers:
      - name: c
        resources: {requests: {cpu: "-1"}}
"""
    with pytest.raises(InputError) as e:
        load_manifest_text(text, "j.yaml")
    assert e.value.field == "spec.template.spec.containers[0].resources.requests.cpu"
    assert "'-1' is negative" in e.value.message


_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40),
                     st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8))
_DATA = st.recursive(_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                      st.dictionaries(st.text(max_size=6), inner, max_size=4)),
                     max_leaves=20)


@settings(max_examples=150, deadline=None)
@given(data=_DATA, flow=st.sampled_from([None, True, False]))
def test_load_documents_equals_safe_load(data: object, flow: bool | None) -> None:
    """Whatever PyYAML writes, kubetwin reads back exactly as ``yaml.safe_load`` does."""
    text = yaml.safe_dump(data, default_flow_style=flow, allow_unicode=True)
    assert load_documents(text, "h.yaml") == [yaml.safe_load(text)]
