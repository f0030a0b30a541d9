"""Bad scenario input: exit code 2 and one clear message naming file, field path and fix; never a traceback.

Most cases run ``kubetwin.cli.main`` in-process (an uncaught exception fails the test, which is what a
traceback would be); one runs ``python -m kubetwin`` in a subprocess to prove the real entry point.
"""

from __future__ import annotations

import io
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from kubetwin.cli import main
from models.errors import InputError, did_you_mean
from models.scenario import load_scenario, parse_scenario_text

REPO = Path(__file__).resolve().parent.parent
QUICKSTART = REPO / "scenarios" / "quickstart.yaml"

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


def run_cli(*args: str) -> tuple[int, str, str]:
    """Run the console entry point in-process; returns (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    code: int = 0
    with redirect_stdout(out), redirect_stderr(err):
        try:
            main(list(args))
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return code, out.getvalue(), err.getvalue()


def simulate_text(tmp_path: Path, text: str | bytes, *extra: str) -> tuple[int, str, str, Path]:
    p = tmp_path / "scenario.yaml"
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8")
    code, out, err = run_cli("simulate", str(p), "-o", str(tmp_path / "out"), "--json", *extra)
    return code, out, err, p


def one_error(err: str) -> str:
    """The stderr of a clean input error: exactly one line, ``error: <message>``; returns the message."""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    return lines[0][len("error: "):]


def expect_error(tmp_path: Path, text: str | bytes, *extra: str) -> tuple[str, Path]:
    code, out, err, p = simulate_text(tmp_path, text, *extra)
    assert code == 2, (code, out, err)
    assert out == ""
    return one_error(err), p


# ----------------------------------------------------------------------------------- the good baseline

def test_good_scenario_runs(tmp_path: Path) -> None:
    code, out, err, _ = simulate_text(tmp_path, GOOD)
    assert (code, err) == (0, "")
    assert '"total": 3' in out
    assert (tmp_path / "out" / "timeline.jsonl").is_file()


# ----------------------------------------------------------------------------------- unknown fields

@pytest.mark.parametrize(("old", "new", "where", "expected"), [
    ("  count: 2\n", "  cuont: 2\n", "10:7",
     "spec.cluster.nodePools[0].cuont: unknown field 'cuont' (and 1 more problem) "
     "(fix: did you mean 'count'?)"),
    ("      requests:", "      requets:", "17:7",
     "spec.workloads[0].template.requets: unknown field 'requets' (fix: did you mean 'requests'?)"),
    ("  duration: 1h\n", "  duraton: 1h\n", "6:3",
     "spec.duraton: unknown field 'duraton' (and 1 more problem) (fix: did you mean 'duration'?)"),
    ("      allocatable:", "      alocatable:", "11:7",
     "spec.cluster.nodePools[0].alocatable: unknown field 'alocatable' (and 1 more problem) "
     "(fix: did you mean 'allocatable'?)"),
    ("    arrival: {every: 1m}", "    arrival: {evry: 1m}", "14:15",
     "spec.workloads[0].arrival.evry: unknown field 'evry' (fix: did you mean 'every'?)"),
])
def test_unknown_field_with_did_you_mean(tmp_path: Path, old: str, new: str, where: str,
                                        expected: str) -> None:
    assert old in GOOD
    msg, p = expect_error(tmp_path, GOOD.replace(old, new))
    assert msg == f"{p}:{where}: {expected}"


def test_unknown_field_without_a_close_match_lists_known_fields(tmp_path: Path) -> None:
    msg, p = expect_error(tmp_path, GOOD.replace("  duration: 1h\n", "  duration: 1h\n  zzzqqq: 1\n"))
    assert msg == (f"{p}:7:3: spec.zzzqqq: unknown field 'zzzqqq' (fix: remove it; known fields here: seed, "
                   "duration, cluster, scheduler, workloads, manifests, kueue, latencies, autoscaler, serving, "
                   "actions, dra, volcano)")


def test_unknown_top_level_field(tmp_path: Path) -> None:
    msg, p = expect_error(tmp_path, GOOD.replace("spec:\n", "spc:\n"))
    assert msg == f"{p}:5:1: spc: unknown field 'spc' (and 1 more problem) (fix: did you mean 'spec'?)"


def test_unknown_field_inside_a_distribution(tmp_path: Path) -> None:
    text = GOOD.replace("duration: 5m", "duration: {lognormal: {median: 5m, sigm: 1}}")
    msg, p = expect_error(tmp_path, text)
    assert msg.startswith(f"{p}:18:40: ")
    assert "spec.workloads[0].duration.lognormal.sigm: unknown field 'sigm'" in msg
    assert msg.endswith("(fix: did you mean 'sigma'?)")


def test_did_you_mean() -> None:
    assert did_you_mean("cuont", ["count", "labels"]) == "count"
    assert did_you_mean("tolerations", ["toleration", "tolerations"]) == "tolerations"
    assert did_you_mean("xyz", ["count", "labels"]) is None


# ----------------------------------------------------------------------------------- bad values

def test_bad_quantity(tmp_path: Path) -> None:
    msg, p = expect_error(tmp_path, GOOD.replace("memory: 16Gi", "memory: 16GB"))
    assert msg == (f"{p}:11:39: spec.cluster.nodePools[0].allocatable.memory: '16GB' is not a quantity; "
                   "write a number with an optional suffix such as 500m, 1.5, 80Gi, 2k or 1e3")


def test_bad_quantity_in_requests(tmp_path: Path) -> None:
    msg, p = expect_error(tmp_path, GOOD.replace('cpu: "1"', "cpu: 1.5.5"))
    assert msg.startswith(f"{p}:17:")
    assert "spec.workloads[0].template.requests.cpu: '1.5.5' is not a quantity" in msg


def test_bad_duration_string(tmp_path: Path) -> None:
    msg, p = expect_error(tmp_path, GOOD.replace("every: 1m", "every: 1x"))
    assert msg == (f"{p}:14:22: spec.workloads[0].arrival.every: '1x' is not a duration; "
                   "write e.g. 90s, 1h30m or 250ms")


def test_negative_duration(tmp_path: Path) -> None:
    msg, p = expect_error(tmp_path, GOOD.replace("duration: 5m", "duration: -5m"))
    assert msg == (f"{p}:18:15: spec.workloads[0].duration.constant.value: '-5m' is negative; "
                   "durations here must be >= 0")


def test_duration_without_unit_says_add_a_unit(tmp_path: Path) -> None:
    msg, _ = expect_error(tmp_path, GOOD.replace("every: 1m", "every: 1"))
    assert "no unit" in msg
    assert "1s" in msg


def test_empty_duration_is_an_input_error(tmp_path: Path) -> None:
    msg, p = expect_error(tmp_path, GOOD.replace("  duration: 1h\n", '  duration: ""\n'))
    assert msg.startswith(f"{p}:6:")


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("  duration: 1h\n", "  duration: 0s\n", "spec: duration must be > 0 (e.g. 12h)"),
    ("count: 2", "count: -1",
     "spec.cluster.nodePools[0].count: Input should be greater than or equal to 0 (fix: use a larger value)"),
    ("count: 2", "count: two",
     "spec.cluster.nodePools[0].count: Input should be a valid integer, unable to parse string as an integer "
     "(fix: write a whole number)"),
    ("  - name: cpu\n", "  - name: CPU_pool\n", "spec.cluster.nodePools[0].name: String should match pattern "
     "'^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' (fix: use lowercase letters, digits and '-' (a DNS label))"),
    ("    duration: 5m\n", "    duration: 5m\n    gang: {policy: slurm}\n",
     "spec.workloads[0].gang.policy: got 'slurm'; Input should be 'kueue', 'coscheduling', 'workload-api' or "
     "'volcano' (fix: use one of the allowed values)"),
])
def test_field_errors(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert old in GOOD
    msg, p = expect_error(tmp_path, GOOD.replace(old, new, 1))
    assert msg.startswith(f"{p}:")
    assert msg.endswith(expected)


def test_scoring_literal(tmp_path: Path) -> None:
    msg, p = expect_error(tmp_path, GOOD.replace("  cluster:\n", "  scheduler: {scoring: LeastAlocated}\n"
                                                 "  cluster:\n"))
    assert msg == (f"{p}:7:24: spec.scheduler.scoring: got 'LeastAlocated'; Input should be 'LeastAllocated', "
                   "'MostAllocated', 'Random', 'DotProduct', 'GpuClustering', 'GpuPacking', 'BestFit' or 'FGD' "
                   "(fix: use one of the allowed values)")


@pytest.mark.parametrize(("template", "expected"), [
    ("tolerations: [{operator: Equal, value: x}]", "a toleration with an empty key must use operator Exists"),
    ("tolerations: [{key: k, operator: Exists, value: x}]",
     "a toleration with operator Exists must not have a value"),
    ("affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: "
     "[{matchExpressions: [{key: a, operator: Gt, values: [x]}]}]}}}",
     "operator Gt needs an integer value, got 'x'"),
    ("affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: "
     "[{matchExpressions: [{key: a, operator: In}]}]}}}", "operator In needs at least one value"),
    ("affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: "
     "[{matchExpressions: [{key: a, operator: Exists, values: [x]}]}]}}}", "operator Exists takes no values"),
    ("affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: "
     "[{matchExpressions: [{key: a, operator: Lt, values: ['1', '2']}]}]}}}",
     "operator Lt needs exactly one value"),
])
def test_constraint_errors(tmp_path: Path, template: str, expected: str) -> None:
    text = GOOD.replace("      requests: {cpu: \"1\", memory: 1Gi}\n",
                        f"      requests: {{cpu: \"1\", memory: 1Gi}}\n      {template}\n")
    msg, p = expect_error(tmp_path, text)
    assert msg.startswith(f"{p}:18:")
    assert "spec.workloads[0].template." in msg
    assert msg.endswith(expected)


# ----------------------------------------------------------------------------------- YAML and envelope

def test_yaml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    msg, p = expect_error(tmp_path, GOOD.replace("  duration: 1h\n", "  duration: 1h\n   bad: [\n"))
    assert msg == (f"{p}:7:7: YAML syntax error: mapping values are not allowed here "
                   "(fix: check indentation, colons and quotes around this place)")


def test_yaml_unclosed_flow_mapping(tmp_path: Path) -> None:
    msg, p = expect_error(tmp_path, GOOD.replace("metadata:\n  name: tiny\n", "metadata: {name: tiny\n"))
    assert msg.startswith(f"{p}:4:")
    assert "YAML syntax error: expected ',' or '}', but got ':'" in msg


def test_yaml_tab_indentation(tmp_path: Path) -> None:
    msg, p = expect_error(tmp_path, GOOD.replace("  duration: 1h\n", "\tduration: 1h\n"))
    assert msg.startswith(f"{p}:6:1: YAML syntax error: found character '\\t' that cannot start any token")


def test_yaml_python_tag_refused(tmp_path: Path) -> None:
    msg, p = expect_error(tmp_path, GOOD.replace("metadata:\n", "metadata: !!python/object:os.system\n"))
    assert msg.startswith(f"{p}:3:11: YAML syntax error: could not determine a constructor")


def test_yaml_nesting_bomb(tmp_path: Path) -> None:
    msg, p = expect_error(tmp_path, "apiVersion: kubetwin.dev/v1alpha1\nkind: Scenario\nspec: "
                          + "[" * 5000 + "]" * 5000 + "\n")
    assert msg == f"{p}: YAML nests too deeply"


@pytest.mark.parametrize(("old", "new", "field", "what"), [
    ("kubetwin.dev/v1alpha1", "kubetwin.dev/v1", "apiVersion",
     "apiVersion 'kubetwin.dev/v1', kind 'Scenario'"),
    ("kind: Scenario", "kind: Pod", "kind", "apiVersion 'kubetwin.dev/v1alpha1', kind 'Pod'"),
    ("apiVersion: kubetwin.dev/v1alpha1\n", "", "apiVersion", "apiVersion None, kind 'Scenario'"),
])
def test_wrong_api_version_or_kind(tmp_path: Path, old: str, new: str, field: str, what: str) -> None:
    msg, p = expect_error(tmp_path, GOOD.replace(old, new))
    assert msg == (f"{p}: {field}: this is not a kubetwin scenario ({what}) "
                   "(fix: use apiVersion: kubetwin.dev/v1alpha1 and kind: Scenario)")


@pytest.mark.parametrize(("content", "expected"), [
    ("", "the file is empty (fix: start with 'apiVersion: kubetwin.dev/v1alpha1' and 'kind: Scenario')"),
    ("# only a comment\n",
     "the file is empty (fix: start with 'apiVersion: kubetwin.dev/v1alpha1' and 'kind: Scenario')"),
    ("- a\n- b\n", "expected a mapping at the top level, got list "
     "(fix: start with 'apiVersion: kubetwin.dev/v1alpha1' and 'kind: Scenario')"),
    ("just text\n", "expected a mapping at the top level, got str "
     "(fix: start with 'apiVersion: kubetwin.dev/v1alpha1' and 'kind: Scenario')"),
])
def test_not_a_scenario(tmp_path: Path, content: str, expected: str) -> None:
    msg, p = expect_error(tmp_path, content)
    assert msg == f"{p}: {expected}"


def test_not_utf8(tmp_path: Path) -> None:
    msg, p = expect_error(tmp_path, b"apiVersion: kubetwin.dev/v1alpha1\n\xff\xfe\n")
    assert msg == f"{p}: not UTF-8 text (byte 34) (fix: save the file as UTF-8)"


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    code, _, err = run_cli("simulate", str(missing), "-o", str(tmp_path / "out"))
    assert code == 2
    assert one_error(err) == f"{missing}: file not found (fix: check the path)"
    assert not (tmp_path / "out").exists()


def test_directory_instead_of_file(tmp_path: Path) -> None:
    code, _, err = run_cli("simulate", str(tmp_path), "-o", str(tmp_path / "out"))
    assert code == 2
    assert one_error(err) == (f"{tmp_path}: is a directory, not a scenario file "
                              "(fix: pass a .yaml file, e.g. scenarios/quickstart.yaml)")


def test_output_path_is_a_file(tmp_path: Path) -> None:
    p = tmp_path / "scenario.yaml"
    p.write_text(GOOD, encoding="utf-8")
    blocker = tmp_path / "out"
    blocker.write_text("x", encoding="utf-8")
    code, _, err = run_cli("simulate", str(p), "-o", str(blocker))
    assert code == 2
    assert one_error(err).startswith(f"{blocker}: ")


@pytest.mark.parametrize(("until", "expected"), [
    ("6x", "<input>: --until: '6x' is not a duration; write e.g. 90s, 1h30m or 250ms (fix: e.g. --until 6h)"),
    ("0s", "<input>: --until: must be > 0 (fix: e.g. --until 6h)"),
    ("-1h", "<input>: --until: must be > 0 (fix: e.g. --until 6h)"),
])
def test_bad_until(tmp_path: Path, until: str, expected: str) -> None:
    msg, _ = expect_error(tmp_path, GOOD, "--until", until)
    assert msg == expected


# ----------------------------------------------------------------------------------- semantic (engine) errors

GANG = GOOD.replace("    duration: 5m\n", "    duration: 5m\n    replicas: 2\n    gang: {GANG}\n")


@pytest.mark.parametrize(("gang", "field", "expected"), [
    ("{policy: workload-api, timeout: 10s}", "spec.workloads[0].gang.timeout",
     "the KEP-4671 gang timeout is fixed at 5m and cannot be set (fix: remove timeout, or use coscheduling)"),
    ("{policy: coscheduling, minCount: 3}", "spec.workloads[0].gang.minCount",
     "minCount 3 is more than the 2 pods of an instance (fix: use at most 2)"),
    ("{policy: kueue}", "spec.workloads[0]", "gang policy kueue needs 'queue' (the LocalQueue name)"),
])
def test_gang_errors(tmp_path: Path, gang: str, field: str, expected: str) -> None:
    msg, p = expect_error(tmp_path, GANG.replace("{GANG}", gang))
    assert f"{field}: {expected}" in msg
    assert msg.startswith((f"{p}:", f"{p.resolve()}:"))


def test_csv_runtime_missing(tmp_path: Path) -> None:
    msg, p = expect_error(tmp_path, GOOD.replace("duration: 5m", "duration: {empirical: {csv: nope.csv, "
                                                                 "column: s}}"))
    assert msg == (f"{p.resolve()}: spec.workloads[0].duration: cannot read CSV "
                   f"{tmp_path.resolve()}/nope.csv: No such file or directory "
                   "(fix: point csv at a readable file with that column)")


def test_pod_set_min_count_above_replicas_is_rejected(tmp_path: Path) -> None:
    text = GOOD.replace("""    template:
      requests: {cpu: "1", memory: 1Gi}
""", """    gang: {policy: coscheduling}
    podSets:
    - name: workers
      replicas: 2
      minCount: 3
      template:
        requests: {cpu: "1", memory: 1Gi}
""")
    msg, _ = expect_error(tmp_path, text)
    assert "minCount" in msg


def test_duplicate_scored_resource_is_an_input_error(tmp_path: Path) -> None:
    code, _, err, _ = simulate_text(tmp_path, GOOD.replace(
        "  cluster:\n", "  scheduler: {resources: [{name: cpu}, {name: cpu, weight: 2}]}\n  cluster:\n"))
    assert code in (0, 2)
    if code == 2:
        one_error(err)


def test_load_scenario_raises_input_error_with_parts(tmp_path: Path) -> None:
    p = tmp_path / "s.yaml"
    p.write_text(GOOD.replace("memory: 16Gi", "memory: 16GB"), encoding="utf-8")
    with pytest.raises(InputError) as ei:
        load_scenario(p)
    e = ei.value
    assert (e.file, e.field, e.line, e.column) == \
        (str(p), "spec.cluster.nodePools[0].allocatable.memory", 11, 39)


def test_parse_scenario_text_default_file_name() -> None:
    with pytest.raises(InputError) as ei:
        parse_scenario_text("kind: Scenario\n")
    assert ei.value.render().startswith("<scenario>: apiVersion: this is not a kubetwin scenario")


def test_input_error_render() -> None:
    assert InputError("bad", file="f.yaml", field="a.b", fix="do x", line=3, column=4).render() == \
        "f.yaml:3:4: a.b: bad (fix: do x)"
    assert InputError("bad").render() == "<input>: bad"
    assert InputError("bad", file="f", line=2).render() == "f:2: bad"


# ----------------------------------------------------------------------------------- the real entry point

def test_subprocess_exit_2_no_traceback(tmp_path: Path) -> None:
    p = tmp_path / "s.yaml"
    p.write_text(QUICKSTART.read_text(encoding="utf-8").replace("count: 4\n", "cuont: 4\n"), encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "kubetwin", "simulate", str(p), "-o", str(tmp_path / "o")],
                       capture_output=True, text=True, cwd=REPO, timeout=120)
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr == (f"error: {p}:11:7: spec.cluster.nodePools[0].cuont: unknown field 'cuont' "
                        "(and 1 more problem) (fix: did you mean 'count'?)\n")
