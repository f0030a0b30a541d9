"""The bucket index is only a faster way to the same answer: every scenario must give byte-identical
timelines with it and with the vector scan over nodes (forced by a scan limit of 0)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sim.plugins.noderesources
from kubetwin.cmd_simulate import simulate_to

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))


def both_ways(path: Path, out: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[bytes, bytes]:
    simulate_to(path, out / "buckets", until=None)
    with monkeypatch.context() as m:
        m.setattr(sim.plugins.noderesources, "BUCKET_SCAN_LIMIT", 0)
        simulate_to(path, out / "scan", until=None)
    return ((out / "buckets" / "timeline.jsonl").read_bytes(), (out / "scan" / "timeline.jsonl").read_bytes())


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_bundled_scenarios_identical(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = both_ways(path, tmp_path, monkeypatch)
    assert a == b


POOL = """
    - name: {name}
      count: {count}
      allocatable: {{cpu: "{cpu}", memory: {mem}Gi, nvidia.com/gpu: "{gpu}"}}"""
WL = """
  - name: w{i}
    arrival: {{poisson: {{meanInterval: {every}s}}}}
    count: {count}
    template: {{requests: {{cpu: "{cpu}", memory: {mem}Gi{gpu}}}}}
    duration: {{exponential: {{mean: {mean}s}}}}"""


@st.composite
def scenario(draw: st.DrawFn) -> str:
    scoring = draw(st.sampled_from(["LeastAllocated", "MostAllocated"]))
    weights = draw(st.sampled_from([
        "", "\n    resources: [{name: cpu, weight: 2}, {name: nvidia.com/gpu, weight: 3}]"]))
    pools = "".join(POOL.format(name=f"p{i}", count=draw(st.integers(1, 30)), cpu=draw(st.sampled_from([4, 8, 32])),
                                mem=draw(st.sampled_from([16, 64])), gpu=draw(st.sampled_from([0, 4, 8])))
                    for i in range(draw(st.integers(1, 3))))
    wls = "".join(WL.format(i=i, every=draw(st.integers(1, 60)), count=draw(st.integers(1, 120)),
                            cpu=draw(st.sampled_from(["500m", "1", "2", "3"])), mem=draw(st.sampled_from([1, 2, 5])),
                            gpu=draw(st.sampled_from(["", ', nvidia.com/gpu: "1"', ', nvidia.com/gpu: "2"'])),
                            mean=draw(st.integers(10, 3000)))
                  for i in range(draw(st.integers(1, 4))))
    return (f"apiVersion: kubetwin.dev/v1alpha1\nkind: Scenario\nmetadata: {{name: eq}}\nspec:\n  seed: 1\n"
            f"  duration: 3h\n  scheduler:\n    scoring: {scoring}{weights}\n  cluster:\n    nodePools:{pools}\n"
            f"  workloads:{wls}\n")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=scenario())
def test_random_scenarios_identical(text: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    d = tmp_path_factory.mktemp("eq")
    p = d / "s.yaml"
    p.write_text(text, encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        a, b = both_ways(p, d, mp)
    assert a == b
