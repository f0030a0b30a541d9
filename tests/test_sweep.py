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
    ({"parameters": {"spec.scheduler.scoring": ["Spread"]}}, 'spec.parameters["spec.scheduler.scoring"]',
     "point 0 (spec.scheduler.scoring=Spread) makes an invalid scenario: spec.scheduler.scoring: got 'Spread'"),
    ({"parameters": {"spec.workloads[0].count": []}}, "spec.parameters", "has no values"),
    ({"objective": {"minimize": "cost.total", "subjectTo": ["p95 is small"]}}, "spec.objective", "not 'metric op"),
    ({"objective": {"subjectTo": []}}, "spec.objective", "exactly one of 'minimize' or 'maximize'"),
    ({"parameters": {"spec.workloads[0].count": {"from": 5, "to": 1}}}, "spec.parameters", "'to' must be >= 'from'"),
    ({"parameters": {"spec.workloads[0].count": {"from": 1, "to": 5, "step": -1}}},
     'spec.parameters["spec.workloads[0].count"].step', "greater than 0"),
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
                       "spec.workloads[name=train].duration.empirical.csv": ["durations.csv", "other.csv"]},
        "objective": {"minimize": "cost.total", "subjectTo": ["waitSeconds.p95 < 1h"]}}
FAILING = ["p0001-r00", "p0001-r01", "p0003-r00", "p0003-r01"]


def break_runs(out: Path, runs: list[str]) -> None:
    """Make these runs fail at run time (every point is valid, so nothing fails before): a directory
    where the run writes its scenario copy."""
    for r in runs:
        (out / "runs" / r / "scenario.yaml").mkdir(parents=True)


def test_sweep_runs_like_simulate_records_failures_and_resumes(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    p = write_sweep(tmp_path, BODY)
    (tmp_path / "sc" / "other.csv").write_text("seconds\n60\n", encoding="utf-8")
    out = tmp_path / "out"
    break_runs(out, FAILING)
    body = cmd_sweep.run_sweep(p, out, workers=2)
    rows = read_csv(out / "runs.csv")
    assert [r["run"] for r in rows] == ["p0000-r00", "p0000-r01", "p0001-r00", "p0001-r01", "p0002-r00",
                                        "p0002-r01", "p0003-r00", "p0003-r01"]
    # a run that fails at run time is recorded with its error, the sweep goes on
    failed = [r for r in rows if r["status"] == "failed"]
    assert [r["run"] for r in failed] == FAILING
    assert all(r["error"].startswith("IsADirectoryError") and "scenario.yaml" in r["error"] for r in failed)
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

    def spy(tasks: list[sw.RunTask], workers: int, stop: Any = None) -> Any:
        seen.append([t.run for t in tasks])
        return real(tasks, workers, stop)

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


# ------------------------------------------------------------------------ file references, pre-flight

def test_file_fields_cover_every_file_field_of_the_schema() -> None:
    """Every scenario field that can name a file is in FILE_FIELDS (so the run copy makes it absolute):
    a string field whose description speaks of a file or path, a csv/manifests field, or a list of
    'inline object or file path' items."""
    import re

    from models.scenario import scenario_json_schema

    schema = json.loads(scenario_json_schema())

    def variants(p: dict[str, Any]) -> list[dict[str, Any]]:
        return [p, *p.get("anyOf", [])]

    found: set[tuple[str, str]] = set()
    for dname, d in schema["$defs"].items():
        for pname, prop in (d.get("properties") or {}).items():
            items = [i for v in variants(prop) if isinstance(v.get("items"), dict) for i in variants(v["items"])]
            kinds = variants(prop) + items
            if not any(k.get("type") == "string" for k in kinds):
                continue
            mixed = any(k.get("type") == "string" for k in items) and \
                any(k.get("type") == "object" or "$ref" in k for k in items)
            if re.search(r"\b(files?|paths?)\b", prop.get("description") or "", re.I) or \
                    pname in ("csv", "manifests") or mixed:
                found.add((dname, pname))
    assert found == set(sw.FILE_FIELDS)


def _relative_file_strings(node: Any, base: Path) -> list[str]:
    """Every string in a scenario document that names an existing file relative to ``base``."""
    if isinstance(node, dict):
        return [s for v in node.values() for s in _relative_file_strings(v, base)]
    if isinstance(node, list):
        return [s for v in node for s in _relative_file_strings(v, base)]
    if isinstance(node, str) and node and not Path(node).is_absolute() and len(node) < 300:
        try:
            return [node] if (base / node).is_file() else []
        except OSError:
            return []
    return []


TRACE_SCENARIO = """\
apiVersion: kubetwin.dev/v1alpha1
kind: Scenario
metadata: {name: traced}
spec:
  seed: 1
  duration: 30m
  cluster:
    nodePools:
    - name: h100
      count: 2
      labels: {cloud.google.com/gke-accelerator: nvidia-h100-80gb}
      taints: [{key: nvidia.com/gpu, value: present, effect: NoSchedule}]
      allocatable: {cpu: "208", memory: 1800Gi, nvidia.com/gpu: "8"}
      pricePerHour: 88.0
  workloads:
  - name: train
    namespace: ml
    arrival: {every: 5m}
    count: 4
    template:
      tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
      requests: {cpu: "8", memory: 64Gi, nvidia.com/gpu: "1"}
    duration: {empirical: {csv: data/durations.csv, column: seconds}}
  serving:
    objects: [serving/llm.yaml]
    loads:
    - route: llm
      headers: {x-model: llama-3-70b}
      requestsPerSecond: {trace: {csv: data/qps.csv, timeColumn: t, valueColumn: v}}
"""


def _traced(tmp: Path) -> Path:
    """A scenario naming a serving objects file, a load trace CSV and an empirical CSV, all relative."""
    sc = tmp / "sc"
    (sc / "data").mkdir(parents=True)
    (sc / "serving").mkdir()
    (sc / "serving" / "llm.yaml").write_bytes((REPO / "scenarios/serving/llm.yaml").read_bytes())
    (sc / "data" / "durations.csv").write_text("seconds\n300\n600\n", encoding="utf-8")
    (sc / "data" / "qps.csv").write_text("t,v\n0,20\n600,40\n1200,10\n", encoding="utf-8")
    (sc / "traced.yaml").write_text(TRACE_SCENARIO, encoding="utf-8")
    return sc / "traced.yaml"


def _sweep_of(tmp: Path, scenario: Path, body: dict[str, Any]) -> Path:
    import yaml

    p = tmp / "sweeps" / "s.yaml"      # another folder than the scenario's
    p.parent.mkdir(exist_ok=True)
    doc = {"apiVersion": "kubetwin.dev/v1alpha1", "kind": "Sweep", "metadata": {"name": "f"},
           "spec": {"scenario": str(scenario.resolve()), **body}}
    p.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return p


@pytest.mark.parametrize("scenario", ["scenarios/dra-h100-training.yaml", "scenarios/llm-serving-hpa.yaml",
                                      "scenarios/jobset-rayjob-cohort.yaml", "scenarios/training-mix-kueue.yaml",
                                      "scenarios/training-mix-volcano.yaml", "traced"])
def test_the_run_copy_names_every_file_absolutely_and_builds_from_the_run_folder(tmp_path: Path,
                                                                                 scenario: str) -> None:
    import yaml

    base = _traced(tmp_path) if scenario == "traced" else REPO / scenario
    assert _relative_file_strings(yaml.safe_load(base.read_text(encoding="utf-8")), base.parent)
    p = _sweep_of(tmp_path, base, {"parameters": {"spec.duration": ["30m"]}})
    pl = sw.plan(load_sweep(p), tmp_path / "out")
    doc = yaml.safe_load(pl.tasks[0].scenario_text)
    assert _relative_file_strings(doc, base.parent) == []
    sw.preflight(pl, pl.tasks)     # builds the copy as if it sat in its run folder: every file is read


def test_sweeps_of_scenarios_naming_files_run(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from kubetwin.cli import app

    for i, base in enumerate([_traced(tmp_path), REPO / "scenarios/dra-h100-training.yaml"]):
        p = _sweep_of(tmp_path, base, {"seeds": 1, "parameters": {"spec.duration": ["30m"]}})
        out = tmp_path / f"o{i}"
        r = CliRunner().invoke(app, ["sweep", str(p), "-o", str(out), "--workers", "1", "-q"])
        assert r.exit_code == 0, r.output
        rows = read_csv(out / "runs.csv")
        assert [(x["status"], x["error"]) for x in rows] == [("succeeded", "")]
        assert int(rows[0]["pods.total"]) > 0


def test_a_broken_point_stops_the_sweep_before_any_run(tmp_path: Path) -> None:
    from kubetwin.cli import main

    path = "spec.workloads[name=train].duration.empirical.csv"
    p = write_sweep(tmp_path, {"parameters": {path: ["durations.csv", "missing.csv"]}})
    with pytest.raises(InputError) as ei:
        cmd_sweep.run_sweep(p, tmp_path / "out")
    e = ei.value
    assert e.file == str(p) and e.field == f'spec.parameters["{path}"]'
    assert e.render().startswith(f'{p}: spec.parameters["{path}"]: point 1 ({path}=missing.csv) makes an '
                                 "invalid scenario: spec.workloads[0].duration: cannot read CSV "
                                 f"{(tmp_path / 'sc' / 'missing.csv').resolve()}: ")
    assert not (tmp_path / "out" / "runs").exists()
    with pytest.raises(SystemExit) as ex:
        main(["sweep", str(p), "-o", str(tmp_path / "out")])
    assert ex.value.code == 2


def test_a_bad_value_names_the_parameter_without_line_numbers_of_the_copy(tmp_path: Path) -> None:
    import re

    p = write_sweep(tmp_path, {"parameters": {"spec.cluster.nodePools[name=gpu].count": [1],
                                              "spec.workloads[name=train].count": [3, "many"]}})
    with pytest.raises(InputError) as ei:
        sw.plan(load_sweep(p), tmp_path / "out")
    text = ei.value.render()
    assert ei.value.field == 'spec.parameters["spec.workloads[name=train].count"]'
    assert "point 1 (spec.cluster.nodePools[name=gpu].count=1, spec.workloads[name=train].count=many) makes " \
           "an invalid scenario: spec.workloads[0].count: " in text
    assert not re.search(r":\d+:\d+:", text), text


@pytest.mark.parametrize(("objective", "field", "guess"), [
    ({"minimize": "cost.totl"}, "spec.objective.minimize", "cost.total"),
    ({"maximize": "gpu.allocationRatio", "subjectTo": ["pods.pendingAtEnd < 1", "waitSecond.p95 < 10m"]},
     "spec.objective.subjectTo[1]", "waitSeconds.p95"),
])
def test_objective_metric_typos_stop_the_sweep_before_any_run(tmp_path: Path, objective: dict[str, Any],
                                                              field: str, guess: str) -> None:
    p = write_sweep(tmp_path, {"parameters": {"spec.cluster.nodePools[name=gpu].count": [1, 2]},
                               "objective": objective})
    with pytest.raises(InputError) as ei:
        cmd_sweep.run_sweep(p, tmp_path / "out")
    e = ei.value
    assert e.file == str(p) and e.field == field
    assert f"did you mean {guess!r}?" in (e.fix or "")
    # the valid names in full, the last one too
    assert "cost.total, gpu.allocationRatio" in (e.fix or "") and "waitSeconds.stillPending" in (e.fix or "")
    assert not (tmp_path / "out" / "runs").exists()


def test_a_dynamic_metric_passes_the_check(tmp_path: Path) -> None:
    p = write_sweep(tmp_path, {"parameters": {"spec.cluster.nodePools[name=gpu].count": [1]},
                               "objective": {"minimize": "cost.total",
                                             "subjectTo": ["allocationRatio.nvidia.com/gpu > 0.1"]}})
    pl = sw.plan(load_sweep(p), tmp_path / "out")
    sw.preflight(pl, pl.tasks)


def test_exit_codes_all_failed_is_1_some_failed_is_0(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from kubetwin.cli import app

    p = write_sweep(tmp_path, {"seeds": 2, "parameters": {"spec.cluster.nodePools[name=gpu].count": [1]}})
    out = tmp_path / "o"
    break_runs(out, ["p0000-r00", "p0000-r01"])
    r = CliRunner().invoke(app, ["sweep", str(p), "-o", str(out), "--workers", "1"])
    assert r.exit_code == 1, r.output
    assert "2/2 runs done, 2 failed" in " ".join(r.output.split())
    (out / "runs" / "p0000-r01" / "scenario.yaml").rmdir()
    r = CliRunner().invoke(app, ["sweep", str(p), "-o", str(out), "--workers", "1"])
    assert r.exit_code == 0, r.output    # p0000-r00 failed again, p0000-r01 succeeded: some ran
    assert "2/2 runs done, 1 failed" in " ".join(r.output.split())
    r = CliRunner().invoke(app, ["sweep", str(p), "-o", str(out), "--workers", "1"])
    assert r.exit_code == 0, r.output
    assert "resuming: 1 of 2 runs already done" in " ".join(r.output.split())


def test_an_interrupted_run_is_never_recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import kubetwin.cmd_simulate as cs

    def cut_short(*_: Any, **__: Any) -> dict[str, Any]:
        return {"pods": {"total": 2}, "sim": {"endReason": "interrupted"}, "interrupted": True}

    monkeypatch.setattr(cs, "simulate_to", cut_short)
    task = sw.RunTask("p0000-r00", 0, 0, 0, 1, {}, "x: 1\n", "sha", str(tmp_path / "r"))
    res = sw.run_one(task)
    assert (res["status"], res["summary"]) == ("interrupted", None)
    assert not sw.is_done(res)
    with pytest.raises(ValueError, match="not done"):
        sw.record_result(task, res)
    assert not (tmp_path / "r" / sw.RESULT_FILE).exists()

    def ctrl_c(*_: Any, **__: Any) -> dict[str, Any]:
        raise KeyboardInterrupt

    monkeypatch.setattr(cs, "simulate_to", ctrl_c)
    assert sw.run_one(task)["status"] == "interrupted"
