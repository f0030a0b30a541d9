"""``kubetwin sweep``: the Sweep document, scenario patching, seeds, statistics, resume, shards, failures."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sweep_fixture import write_sweep

from kubetwin import cmd_sweep, sweep_exec
from kubetwin import sweep as sw
from kubetwin.cmd_simulate import simulate_to
from models.errors import InputError
from models.sweep import Constraint, RangeSpec, load_sweep


def read_csv(p: Path) -> list[dict[str, str]]:
    with open(p, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


# ------------------------------------------------------------------------------------ the document

def test_path_patching_selects_by_name_index_and_quoted_key() -> None:
    doc: dict[str, Any] = {"spec": {"cluster": {"nodePools": [{"name": "a", "count": 1}, {"name": "h100", "count": 2}]},
                                    "workloads": [{"name": "w", "template": {"nodeSelector": {}}}]}}
    sw.set_path(doc, "spec.cluster.nodePools[name=h100].count", 12)
    sw.set_path(doc, "spec.workloads[0].count", 5)
    sw.set_path(doc, 'spec.workloads[name=w].template.nodeSelector["cloud.google.com/gke-accelerator"]', "l4")
    sw.set_path(doc, "spec.scheduler.scoring", "MostAllocated")   # missing maps are created
    assert doc["spec"]["cluster"]["nodePools"] == [{"name": "a", "count": 1}, {"name": "h100", "count": 12}]
    assert doc["spec"]["workloads"][0]["count"] == 5
    assert doc["spec"]["workloads"][0]["template"]["nodeSelector"] == {"cloud.google.com/gke-accelerator": "l4"}
    assert doc["spec"]["scheduler"] == {"scoring": "MostAllocated"}


def test_path_errors_say_what_exists() -> None:
    doc = {"spec": {"cluster": {"nodePools": [{"name": "a"}, {"name": "b"}]}}}
    with pytest.raises(ValueError, match=r"no item with name=h100; it has name a, b"):
        sw.set_path(doc, "spec.cluster.nodePools[name=h100].count", 1)
    with pytest.raises(ValueError, match=r"has 2 items; index 5 is out of range"):
        sw.set_path(doc, "spec.cluster.nodePools[5].count", 1)
    with pytest.raises(ValueError, match=r"cannot read the path"):
        sw.parse_path("spec..x")


def test_ranges_and_constraints() -> None:
    assert RangeSpec.model_validate({"from": 8, "to": 16, "step": 4}).values() == [8, 12, 16]
    assert RangeSpec.model_validate({"from": 8, "to": 15, "step": 4}).values() == [8, 12]
    assert RangeSpec.model_validate({"from": 0.5, "to": 1.0, "step": 0.25}).values() == [0.5, 0.75, 1.0]
    c = Constraint("waitSeconds.p95 < 10m")
    assert (c.metric, c.op, c.value) == ("waitSeconds.p95", "<", 600.0)
    assert c.holds(599.9) and not c.holds(600.0)
    assert Constraint("gpu.allocationRatio>=0.8").holds(0.8)


def test_seed_derivation_is_stable_and_distinct() -> None:
    p = {"spec.x": 1}
    s = sw.derive_seed(7, p, 0)
    assert s == sw.derive_seed(7, {"spec.x": 1}, 0)
    assert 0 <= s < 2**31
    assert len({sw.derive_seed(7, p, r) for r in range(50)}) == 50
    assert sw.derive_seed(8, p, 0) != s and sw.derive_seed(7, {"spec.x": 2}, 0) != s


def test_mean_and_95_interval_hand_computed() -> None:
    # mean 2, sample sd 1, t(0.975, 2) = 4.303 → half-width 4.303/sqrt(3) = 2.4843381
    assert sw.mean_ci([1.0, 2.0, 3.0]) == (2.0, -0.484338, 4.484338)
    assert sw.mean_ci([5.0]) == (5.0, None, None)
    assert sw.mean_ci([]) == (None, None, None)
    assert sw.mean_ci([4.0, 4.0]) == (4.0, 4.0, 4.0)
    assert sw.t975(30) == 2.042 and abs(sw.t975(1000) - 1.9623) < 1e-3


def test_frontier_keeps_points_no_other_beats_on_both() -> None:
    def pt(i: int, x: float, y: float, failed: int = 0) -> dict[str, Any]:
        return {"point": i, "failed": failed, "mean": {"w": x, "c": y}}

    pts = [pt(0, 10, 100), pt(1, 20, 50), pt(2, 15, 120), pt(3, 30, 50), pt(4, 5, 200), pt(5, 1, 1, failed=1)]
    assert sw.frontier(pts, "w", "c") == [4, 0, 1]


@pytest.mark.parametrize(("body", "field", "needle"), [
    ({"seeds": 0}, "spec.seeds", "greater than or equal to 1"),
    ({"bogus": 1}, "spec.bogus", "unknown field"),
    ({"parameters": {"cluster.nodePools[0].count": [1]}}, "spec.parameters", "inside the scenario's spec"),
    ({"parameters": {"spec.cluster.nodePools[name=h100].count": [1]}},
     'spec.parameters["spec.cluster.nodePools[name=h100].count"]', "no item with name=h100; it has name cpu, gpu"),
    ({"parameters": {"spec.scheduler.scoring": ["Spread"]}}, "spec.parameters", "point 0 makes an invalid scenario"),
    ({"parameters": {"spec.workloads[0].count": []}}, "spec.parameters", "has no values"),
    ({"objective": {"minimize": "cost.total", "subjectTo": ["p95 is small"]}}, "spec.objective", "not 'metric op"),
    ({"objective": {"subjectTo": []}}, "spec.objective", "exactly one of 'minimize' or 'maximize'"),
    ({"parameters": {"spec.workloads[0].count": {"from": 5, "to": 1}}}, "spec.parameters", "'to' must be >= 'from'"),
])
def test_bad_sweep_files_name_file_field_and_fix(tmp_path: Path, body: dict[str, Any], field: str,
                                                 needle: str) -> None:
    p = write_sweep(tmp_path, body)
    with pytest.raises(InputError) as ei:
        sw.plan(load_sweep(p), tmp_path / "out")
    e = ei.value
    assert e.file == str(p.resolve()) or e.file == str(p)
    if field == "spec.seeds":
        assert e.line == p.read_text().splitlines().index("  seeds: 0") + 1
    assert e.field is not None and e.field.startswith(field), e.render()
    assert needle in e.render()
    assert e.fix


def test_not_a_sweep_and_missing_scenario(tmp_path: Path) -> None:
    p = tmp_path / "s.yaml"
    p.write_text("apiVersion: kubetwin.dev/v1alpha1\nkind: Scenario\n", encoding="utf-8")
    with pytest.raises(InputError, match="not a kubetwin sweep"):
        load_sweep(p)
    p = write_sweep(tmp_path, {})
    (tmp_path / "sc" / "tiny.yaml").unlink()
    with pytest.raises(InputError) as ei:
        sw.plan(load_sweep(p), tmp_path / "out")
    assert ei.value.field == "spec.scenario"


# ------------------------------------------------------------------------------------------ running

BODY = {"seed": 3, "seeds": 2,
        "parameters": {"spec.cluster.nodePools[name=gpu].count": [1, 2],
                       "spec.workloads[name=train].duration.empirical.csv": ["durations.csv", "missing.csv"]},
        "objective": {"minimize": "cost.total", "subjectTo": ["waitSeconds.p95 < 1h"]}}


def test_sweep_runs_like_simulate_records_failures_and_resumes(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    p = write_sweep(tmp_path, BODY)
    out = tmp_path / "out"
    body = cmd_sweep.run_sweep(p, out, workers=2)
    rows = read_csv(out / "runs.csv")
    assert [r["run"] for r in rows] == ["p0000-r00", "p0000-r01", "p0001-r00", "p0001-r01", "p0002-r00",
                                        "p0002-r01", "p0003-r00", "p0003-r01"]
    # the missing CSV fails at run time: recorded with its error, the sweep goes on
    failed = [r for r in rows if r["status"] == "failed"]
    assert [r["run"] for r in failed] == ["p0001-r00", "p0001-r01", "p0003-r00", "p0003-r01"]
    assert all("missing.csv" in r["error"] for r in failed)
    assert body["runsFailed"] == 4 and body["runsDone"] == 8
    # a run is exactly `kubetwin simulate` of the patched scenario with the derived seed
    r2 = rows[4]
    assert r2["spec.cluster.nodePools[name=gpu].count"] == "2"
    assert r2["spec.workloads[name=train].duration.empirical.csv"] == "durations.csv"
    assert int(r2["seed"]) == sw.derive_seed(3, {"spec.cluster.nodePools[name=gpu].count": 2,
                                                 "spec.workloads[name=train].duration.empirical.csv":
                                                     "durations.csv"}, 0)
    direct = simulate_to(out / "runs" / "p0000-r00" / "scenario.yaml", tmp_path / "direct",
                         seed=int(rows[0]["seed"]))
    assert rows[0]["pods.total"] == str(direct["pods"]["total"])
    assert rows[0]["waitSeconds.p95"] == repr(float(direct["waitSeconds"]["p95"]))
    assert rows[0]["cost.total"] == repr(float(direct["cost"]["total"]))
    assert (tmp_path / "direct" / "timeline.jsonl").read_bytes() == \
        (out / "runs" / "p0000-r00" / "timeline.jsonl").read_bytes()
    assert "sim.wallSeconds" not in rows[0]
    # cost: (gpu nodes × 10 + 1 cpu node × 1) per hour until the run ends (all pods done, before 2 h)
    for r in rows:
        if r["status"] == "succeeded":
            gpus = int(r["spec.cluster.nodePools[name=gpu].count"])
            assert float(r["cost.total"]) == round((10 * gpus + 1) * float(r["sim.endTime"]) / 3600, 2)
    pts = read_csv(out / "points.csv")
    assert [(q["point"], q["runs"], q["failed"]) for q in pts] == [("0", "2", "0"), ("1", "2", "2"),
                                                                   ("2", "2", "0"), ("3", "2", "2")]
    costs = [float(r["cost.total"]) for r in rows[:2]]
    assert float(pts[0]["cost.total.mean"]) == round(sum(costs) / 2, 6)
    half = 12.706 * abs(costs[0] - costs[1]) / 2 ** 0.5 / 2 ** 0.5   # t(0.975, 1) · sd / sqrt(n)
    assert float(pts[0]["cost.total.ci95High"]) == pytest.approx(sum(costs) / 2 + half, abs=2e-6)
    assert pts[1]["cost.total.mean"] == ""   # every run of point 1 failed
    # objective: failed points never qualify; the rest cheapest first
    meets = [m["point"] for m in body["meetsObjective"]]
    assert meets == [0, 2]
    saved = json.loads((out / "sweep.json").read_text())
    assert saved["meetsObjective"] == body["meetsObjective"] and len(saved["points"]) == 4

    # rerun: succeeded runs are skipped, failed ones are run again
    seen: list[list[str]] = []
    real = sweep_exec.run_local

    def spy(tasks: list[sw.RunTask], workers: int) -> Any:
        seen.append([t.run for t in tasks])
        return real(tasks, workers)

    monkeypatch.setattr(sweep_exec, "run_local", spy)
    before = (out / "runs.csv").read_text()
    (out / "runs" / "p0002-r01" / "result.json").unlink()
    cmd_sweep.run_sweep(p, out, workers=2)
    assert seen == [["p0001-r00", "p0001-r01", "p0002-r01", "p0003-r00", "p0003-r01"]]
    assert (out / "runs.csv").read_text() == before


def test_shards_merge_to_the_unsharded_result(tmp_path: Path) -> None:
    body = {"seed": 1, "seeds": 3, "parameters": {"spec.cluster.nodePools[name=gpu].count": [1, 2]}}
    p = write_sweep(tmp_path, body)
    full = cmd_sweep.run_sweep(p, tmp_path / "full", workers=2)
    s0 = cmd_sweep.run_sweep(p, tmp_path / "s0", workers=1, shard=(0, 2))
    s1 = cmd_sweep.run_sweep(p, tmp_path / "s1", workers=1, shard=(1, 2))
    assert [r["run"] for r in s0["runs"]] == ["p0000-r00", "p0000-r02", "p0001-r01"]
    assert s0["shard"] == "0/2" and s1["runsPlanned"] == 3
    merged = cmd_sweep.merge_sweep(p, [tmp_path / "s0", tmp_path / "s1"], tmp_path / "merged")
    assert merged["runsMissing"] == [] and full["runsDone"] == 6
    for f in ("runs.csv", "points.csv"):
        assert (tmp_path / "merged" / f).read_text() == (tmp_path / "full" / f).read_text()
    partial = cmd_sweep.merge_sweep(p, [tmp_path / "s0"], tmp_path / "partial")
    assert partial["runsMissing"] == ["p0000-r01", "p0001-r00", "p0001-r02"]


def test_shard_flag_parsing() -> None:
    assert sw.parse_shard("3/4") == (3, 4)
    for bad in ("4/4", "x/2", "1"):
        with pytest.raises(InputError, match=r"--shard|not a shard"):
            sw.parse_shard(bad)


def test_cli_sweep_and_merge_verbs(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from kubetwin.cli import app

    p = write_sweep(tmp_path, {"seeds": 1, "parameters": {"spec.cluster.nodePools[name=gpu].count": [1]}})
    r = CliRunner().invoke(app, ["sweep", str(p), "-o", str(tmp_path / "o"), "--workers", "1", "--shard", "0/1"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "o" / "runs.csv").is_file()
    r = CliRunner().invoke(app, ["sweep", "merge", str(p), str(tmp_path / "o"), "-o", str(tmp_path / "m")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "m" / "runs.csv").read_text() == (tmp_path / "o" / "runs.csv").read_text()


REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("file", "runs"), [("docs/examples/sweep-h100.yaml", 18),
                                           ("bench/sweeps/sweep-200.yaml", 200)])
def test_shipped_sweeps_plan(tmp_path: Path, file: str, runs: int) -> None:
    pl = sw.plan(load_sweep(REPO / file), tmp_path)
    assert len(pl.tasks) == runs
    assert len({t.seed for t in pl.tasks}) == runs


def test_indexed_job_example_shards_match_completions() -> None:
    import yaml

    job, merge = yaml.safe_load_all((REPO / "docs/examples/indexed-job-sweep.yaml").read_text(encoding="utf-8"))
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    args = " ".join(spec["template"]["spec"]["containers"][0]["args"])
    assert f"--shard ${{JOB_COMPLETION_INDEX}}/{spec['completions']}" in args
    assert "kubetwin sweep merge" in " ".join(merge["spec"]["template"]["spec"]["containers"][0]["args"])
    ray = yaml.safe_load((REPO / "docs/examples/rayjob-sweep.yaml").read_text(encoding="utf-8"))
    assert ray["kind"] == "RayJob" and "--executor ray" in ray["spec"]["entrypoint"]


# ------------------------------------------------------------------------------------------ properties

@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50), st.integers(0, 1)), min_size=1, max_size=30))
def test_frontier_is_exactly_the_undominated_points(raw: list[tuple[int, int, int]]) -> None:
    pts: list[dict[str, Any]] = [{"point": i, "failed": f, "mean": {"w": float(x), "c": float(y)}}
                                 for i, (x, y, f) in enumerate(raw)]
    front = sw.frontier(pts, "w", "c")
    ok = [p for p in pts if not p["failed"]]

    def dominated(p: dict[str, Any]) -> bool:
        # another point at least as good on both and strictly better on one, or an equal point listed earlier
        px, py = p["mean"]["w"], p["mean"]["c"]
        return any((q["mean"]["w"] <= px and q["mean"]["c"] <= py)
                   and ((q["mean"]["w"], q["mean"]["c"]) != (px, py) or q["point"] < p["point"])
                   for q in ok if q is not p)

    assert sorted(front) == sorted(p["point"] for p in ok if not dominated(p))
    xs = [pts[i]["mean"]["w"] for i in front]
    assert xs == sorted(xs)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 60), st.integers(1, 9))
def test_shards_partition_the_runs(n_runs: int, n: int) -> None:
    tasks = [sw.RunTask(f"r{i}", i, i, 0, i, {}, "", "", "") for i in range(n_runs)]
    parts = [sw.shard_tasks(tasks, (i, n)) for i in range(n)]
    runs = sorted(t.index for part in parts for t in part)
    assert runs == list(range(n_runs))
    assert all(t.index % n == i for i, part in enumerate(parts) for t in part)


def test_ray_executor_without_ray_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)   # import ray → ImportError
    p = write_sweep(tmp_path, {"parameters": {"spec.cluster.nodePools[name=gpu].count": [1]}})
    with pytest.raises(InputError) as ei:
        cmd_sweep.run_sweep(p, tmp_path / "o", executor="ray")
    assert ei.value.field == "--executor" and "kubetwin[ray]" in (ei.value.fix or "")
