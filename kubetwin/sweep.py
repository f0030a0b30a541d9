"""Sweeps: plan, run and aggregate many scenario variants × seeds — a parameter study over the twin.

A sweep mirrors a Kubernetes Indexed Job: a fixed, ordered list of independent tasks (one per point ×
replicate), each identified by its index, each deterministic given its inputs, so any executor — a local
process pool, Ray, or the pods of an Indexed Job each taking one shard — produces the same results.

Phases, one function each:

1. :func:`plan` — expand the parameters into points (cartesian product, file order), patch the base
   scenario for each point (:func:`set_path`), make its file references absolute (:data:`FILE_FIELDS`),
   validate every patched scenario, and derive each run's seed from (sweep seed, point, replicate) with
   :func:`derive_seed`; then :func:`preflight`, still before any run, builds each point as its runs will
   and checks the objective's metric names.
2. :func:`run_one` — one run: write the patched scenario into the run's folder, then simulate it through
   the same :func:`kubetwin.cmd_simulate.simulate_to` as ``kubetwin simulate``. Errors become a failed
   result; they never stop the sweep. A run cut short (Ctrl-C) is ``interrupted``: never recorded.
3. executors (``kubetwin.sweep_exec``) call :func:`run_one` and hand results back to
   :func:`record_result`, which writes ``runs/<id>/result.json`` — the marker that lets a rerun skip it.
4. :func:`aggregate` — ``runs.csv``, ``points.csv`` (mean and 95 % interval across seeds) and
   ``sweep.json`` (both, plus the points meeting the objective, best first, and the cost/p95-wait
   frontier).
"""

from __future__ import annotations

import contextlib
import copy
import csv
import hashlib
import io
import itertools
import json
import math
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from models.errors import InputError
from models.scenario import parse_scenario_text
from models.sweep import Sweep

PLAN_FILE = "plan.json"
RESULT_FILE = "result.json"
#: summary keys that are not results of the model (they differ between executors or repeat the inputs)
_NOT_METRICS = frozenset({"seed", "scenario", "sim.wallSeconds"})

# ------------------------------------------------------------------------------------- path patching

_SEG = re.compile(r'\.?([A-Za-z_][\w\-]*)|\[(\d+)\]|\[([\w.\-/]+)=([^\]]+)\]|\["([^"]+)"\]')


def parse_path(path: str) -> list[tuple[str, Any]]:
    """``spec.cluster.nodePools[name=h100].count`` → ``[("key","spec"), …, ("match",("name","h100")),
    ("key","count")]``. Segments: ``key``, ``[N]`` (list index), ``[field=value]`` (the list item whose
    field equals value), ``["key.with.dots"]`` (a map key such as a label)."""
    out: list[tuple[str, Any]] = []
    pos = 0
    while pos < len(path):
        m = _SEG.match(path, pos)
        if not m or m.end() == pos:
            raise ValueError(f"cannot read the path at {path[pos:]!r}; write segments like "
                             "spec.cluster.nodePools[name=h100].count, workloads[0] or labels[\"a.b/c\"]")
        if m.group(1) is not None:
            out.append(("key", m.group(1)))
        elif m.group(2) is not None:
            out.append(("index", int(m.group(2))))
        elif m.group(3) is not None:
            out.append(("match", (m.group(3), m.group(4))))
        else:
            out.append(("key", m.group(5)))
        pos = m.end()
    return out


def set_path(doc: dict[str, Any], path: str, value: Any) -> str:
    """Set ``value`` at ``path`` inside a scenario document (in place); returns the path with list
    selectors replaced by indexes (``spec.cluster.nodePools[1].count``), as scenario errors name fields.
    Missing map keys are created; list selectors must match an existing item. Raises ``ValueError``
    saying what exists instead."""
    segs = parse_path(path)
    node: Any = doc
    walked = ""
    for i, (kind, arg) in enumerate(segs):
        last = i == len(segs) - 1
        if kind == "key":
            if not isinstance(node, dict):
                raise ValueError(f"{walked or 'the document'} is not a map, cannot take key {arg!r}")
            if last:
                node[arg] = value
                return walked + ("." if walked else "") + str(arg)
            if arg not in node or node[arg] is None:
                node[arg] = {} if segs[i + 1][0] == "key" else []
            node = node[arg]
            walked += ("." if walked else "") + arg
            continue
        if not isinstance(node, list):
            raise ValueError(f"{walked} is not a list, cannot select {arg!r} in it")
        if kind == "index":
            if not 0 <= arg < len(node):
                raise ValueError(f"{walked} has {len(node)} items; index {arg} is out of range")
            idx = arg
        else:
            fld, want = arg
            matches = [j for j, item in enumerate(node) if isinstance(item, dict) and str(item.get(fld)) == want]
            if len(matches) != 1:
                have = sorted(str(item.get(fld)) for item in node if isinstance(item, dict))
                what = "no item" if not matches else f"{len(matches)} items"
                raise ValueError(f"{walked} has {what} with {fld}={want}; it has {fld} {', '.join(have) or '(none)'}")
            idx = matches[0]
        walked += f"[{idx}]"
        if last:
            node[idx] = value
            return walked
        node = node[idx]
    return walked


#: every scenario field that names a file, as (JSON Schema definition, property) → where it sits in the
#: document. ``*`` is every item of a list (only its strings are file names: the others are inline
#: objects); ``**`` is any depth (distributions and load curves can sit in many places).
#: ``tests/test_sweep.py`` walks the JSON Schema so a new file field cannot be missed here.
FILE_FIELDS: dict[tuple[str, str], str] = {
    ("Spec", "manifests"): "spec.manifests.*",
    ("WorkloadGen", "job"): "spec.workloads.*.job",
    ("NodePool", "resourceSlices"): "spec.cluster.nodePools.*.resourceSlices.*",
    ("ServingSpec", "objects"): "spec.serving.objects.*",
    ("Empirical", "csv"): "**.empirical.csv",      # a distribution anywhere: durations, latencies, delays
    ("TraceLoad", "csv"): "**.trace.csv",          # a serving load's requestsPerSecond trace
}


def _fix_at(node: Any, segs: list[str], fix: Any) -> None:
    if not segs:
        return
    head, rest = segs[0], segs[1:]
    if head == "**":
        _fix_at(node, rest, fix)
        for child in (node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()):
            _fix_at(child, segs, fix)
        return
    if head == "*":
        if isinstance(node, list):
            for i, item in enumerate(node):
                if rest:
                    _fix_at(item, rest, fix)
                else:
                    node[i] = fix(item)
        return
    if isinstance(node, dict) and head in node:
        if rest:
            _fix_at(node[head], rest, fix)
        else:
            node[head] = fix(node[head])


def absolutize_paths(doc: dict[str, Any], base_dir: Path) -> None:
    """Make every file reference of the scenario (:data:`FILE_FIELDS`) absolute, resolved against
    ``base_dir`` (the base scenario's folder), so the patched copy can live in the run's folder."""

    def fix(p: Any) -> Any:
        return str((base_dir / p).resolve()) if isinstance(p, str) and p and not Path(p).is_absolute() else p

    for where in FILE_FIELDS.values():
        _fix_at(doc, where.split("."), fix)


# --------------------------------------------------------------------------------------------- plan

def derive_seed(sweep_seed: int, point: dict[str, Any], replicate: int) -> int:
    """A run's seed: a hash of (sweep seed, the point's parameter values, replicate), in [0, 2^31).
    Hashing the values rather than the point's index keeps seeds stable when a value is added."""
    key = json.dumps([sweep_seed, point, replicate], sort_keys=True, separators=(",", ":"), default=str)
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") & 0x7FFF_FFFF


@dataclass(frozen=True, slots=True)
class RunTask:
    """One independent simulation: everything a worker needs, nothing it must look up."""

    run: str                   # "p0003-r1"
    index: int                 # position in the sweep (point-major), the Indexed Job completion index
    point: int
    replicate: int
    seed: int
    params: dict[str, Any]
    scenario_text: str         # the patched scenario, file references absolute
    scenario_sha: str
    out_dir: str               # absolute run folder


@dataclass
class Plan:
    sweep: Sweep
    sweep_file: str
    out: Path
    params: list[str]
    points: list[dict[str, Any]]
    tasks: list[RunTask] = field(default_factory=list)
    #: per point: parameter path → the field it set, with list selectors as indexes (for error messages)
    fields: list[dict[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"sweep": self.sweep.metadata.name, "sweepFile": self.sweep_file,
                "scenario": str(self.sweep.scenario_path()), "seed": self.sweep.spec.seed,
                "seeds": self.sweep.spec.seeds, "parameters": self.params,
                "runs": [{"run": t.run, "index": t.index, "point": t.point, "replicate": t.replicate,
                          "seed": t.seed, "scenarioSha256": t.scenario_sha} for t in self.tasks]}

    def digest(self) -> str:
        body = self.to_json()
        body.pop("sweepFile")
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


def plan(sweep: Sweep, out: str | Path) -> Plan:
    """Expand ``sweep`` into runs; every patched scenario is validated before anything runs."""
    file = sweep.file
    base = sweep.scenario_path()
    try:
        base_text = base.read_text(encoding="utf-8")
        base_doc = yaml.safe_load(base_text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise InputError(f"cannot read the base scenario {base}: {e}", file=file, field="spec.scenario",
                         fix="give a scenario file path relative to the sweep file") from None
    parse_scenario_text(base_text, str(base), base.resolve())  # the base itself must be valid
    if not isinstance(base_doc, dict):
        raise InputError("the base scenario is not a mapping", file=str(base))
    params = list(sweep.spec.parameters)
    grids = [sweep.spec.values(p) for p in params]
    points = [dict(zip(params, combo, strict=True)) for combo in itertools.product(*grids)]
    outp = Path(out).resolve()
    pl = Plan(sweep, file, outp, params, points)
    idx = 0
    for pi, point in enumerate(points):
        doc = copy.deepcopy(base_doc)
        fields: dict[str, str] = {}
        for path, value in point.items():
            try:
                fields[path] = set_path(doc, path, value)
            except ValueError as e:
                raise InputError(str(e), file=file, field=f'spec.parameters["{path}"]',
                                 fix="point the path at a field of the base scenario, selecting list items "
                                     "by [name=...] or [index]") from None
        absolutize_paths(doc, base.resolve().parent)   # after patching: a value may be a file name too
        text = yaml.safe_dump(doc, sort_keys=False)
        pl.fields.append(fields)
        try:
            parse_scenario_text(text, str(base), base.resolve())
        except InputError as e:
            raise point_error(pl, pi, e) from None
        sha = hashlib.sha256(text.encode()).hexdigest()
        for r in range(sweep.spec.seeds):
            run = f"p{pi:04d}-r{r:02d}"
            pl.tasks.append(RunTask(run, idx, pi, r, derive_seed(sweep.spec.seed, point, r), point, text, sha,
                                    str(outp / "runs" / run)))
            idx += 1
    return pl


def _point_label(point: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in point.items()) or "(base)"


def point_error(pl: Plan, pi: int, e: InputError) -> InputError:
    """A point's scenario error as a sweep error: the sweep file, the parameter whose value the scenario
    refused (or ``spec.parameters``), the point and its values, then the scenario's own field and message
    — no line:column, which would point into the patched copy rather than a file the user wrote."""
    point = pl.points[pi]
    inner = e.field or ""
    param = next((p for p, f in pl.fields[pi].items()
                  if inner == f or inner.startswith((f + ".", f + "["))), None)
    if param is None and inner:   # the error names an object holding the parameter's field: if only one
        holders = [p for p, f in pl.fields[pi].items() if f.startswith((inner + ".", inner + "["))]
        param = holders[0] if len(holders) == 1 else None
    copies = {str(pl.sweep.scenario_path()), str(Path(pl.out) / "runs")}
    src = "" if e.file is None or any(e.file.startswith(c) for c in copies) else f"{e.file}: "
    where = f"{e.field}: " if e.field else ""
    field = f'spec.parameters["{param}"]' if param else ("spec.parameters" if point else "spec.scenario")
    return InputError(f"point {pi} ({_point_label(point)}) makes an invalid scenario: {src}{where}{e.message}",
                      file=pl.sweep_file, field=field, fix=e.fix or "use values the scenario accepts")


#: summary.json sections whose keys name the scenario's objects (resources, queues, device classes,
#: loads, pools) and appear only once a run uses them: a metric under these is checked after the runs
_DYNAMIC = ("allocationRatio.", "queues.", "dra.", "serving.", "autoscaling.pools.")


def preflight(pl: Plan, tasks: list[RunTask]) -> None:
    """Before anything runs: build each point's scenario exactly as its runs will (the copy's text, read
    from the run folder, with the run's seed — every file it names is read), then check the objective's
    metric names against the summary of a zero-length run of the first point. Raises :class:`InputError`
    (exit 2) naming the point or the objective field."""
    from kubetwin.cmd_simulate import simulate_to
    from sim.build import build

    first: dict[int, RunTask] = {}
    for t in tasks:
        first.setdefault(t.point, t)
    for pi, t in sorted(first.items()):
        copy_path = Path(t.out_dir) / "scenario.yaml"
        try:
            build(parse_scenario_text(t.scenario_text, str(copy_path), copy_path), seed=t.seed)
        except InputError as e:
            raise point_error(pl, pi, e) from None
    obj = pl.sweep.spec.objective
    if obj is None or not first:
        return
    import tempfile

    t = first[min(first)]
    with tempfile.TemporaryDirectory(prefix="kubetwin-sweep-probe-") as tmp:
        sc = Path(tmp) / "scenario.yaml"
        sc.write_text(t.scenario_text, encoding="utf-8")
        try:
            known = set(flatten(simulate_to(sc, Path(tmp) / "out", seed=t.seed, until=0.0)))
        except InputError as e:
            raise point_error(pl, t.point, e) from None
    names = [("spec.objective." + obj.sense, obj.metric)]
    names += [(f"spec.objective.subjectTo[{i}]", c.metric) for i, c in enumerate(obj.constraints())]
    for fld, name in names:
        if name in known or name.startswith(_DYNAMIC):
            continue
        from models.errors import did_you_mean

        guess = did_you_mean(name, known)
        raise InputError(f"{name!r} is not a number of this scenario's summary.json", file=pl.sweep_file,
                         field=fld, fix=(f"did you mean {guess!r}? " if guess else "")
                         + "the summary numbers are: " + ", ".join(sorted(known))
                         + " (and names under " + ", ".join(p + "…" for p in _DYNAMIC) + ")")


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/N"`` (0 ≤ i < N; i is an Indexed Job's ``JOB_COMPLETION_INDEX``)."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m or not 0 <= int(m.group(1)) < int(m.group(2)):
        raise InputError(f"{text!r} is not a shard i/N with 0 <= i < N", field="--shard",
                         fix="e.g. --shard 0/4 (in an Indexed Job: --shard $JOB_COMPLETION_INDEX/4)")
    return int(m.group(1)), int(m.group(2))


def shard_tasks(tasks: list[RunTask], shard: tuple[int, int] | None) -> list[RunTask]:
    if shard is None:
        return list(tasks)
    i, n = shard
    return [t for t in tasks if t.index % n == i]


# ---------------------------------------------------------------------------------------------- run

#: set in a worker process by the executor (:func:`worker_init`): once set, runs not yet started return
#: ``interrupted`` at once
_STOP: Any = None


def worker_init(stop: Any = None) -> None:
    """Initializer of a local worker process: ignore SIGINT between runs (a terminal's Ctrl-C goes to the
    whole process group; the driver decides what stops), and remember the driver's stop event."""
    import signal

    global _STOP
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _STOP = stop


def run_one(task: RunTask) -> dict[str, Any]:
    """Run one task (in a worker process, a Ray task or an Indexed Job pod); never raises for a failed
    simulation — the error is the result.

    Status ``succeeded`` or ``failed`` — both *done*, recorded — or ``interrupted``: the run was stopped
    (SIGINT/SIGTERM while simulating, a cancelled Ray task, or the sweep was stopping before it started),
    its numbers describe a cut-short run, and it must never be recorded: a rerun runs it again."""
    from kubetwin.cmd_simulate import simulate_to

    t0, c0 = time.perf_counter(), time.process_time()
    res: dict[str, Any] = {"run": task.run, "status": "succeeded", "error": None, "summary": None}
    try:
        if _STOP is not None and _STOP.is_set():
            raise KeyboardInterrupt
        out = Path(task.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        sc_path = out / "scenario.yaml"
        sc_path.write_text(task.scenario_text, encoding="utf-8")
        # in a local worker the run's own messages ("interrupted: finishing the current instant…") would
        # interleave with the driver's progress bar and say the wrong thing: the driver speaks for the sweep
        with contextlib.redirect_stderr(io.StringIO()) if _STOP is not None else contextlib.nullcontext():
            summary = simulate_to(sc_path, out, seed=task.seed)
        if summary.get("interrupted") or (summary.get("sim") or {}).get("endReason") == "interrupted":
            res.update(status=INTERRUPTED, error="interrupted before the run finished")
        else:
            res["summary"] = summary
    except InputError as e:
        res.update(status="failed", error=e.render())
    except KeyboardInterrupt:
        res.update(status=INTERRUPTED, error="interrupted before the run finished")
    except Exception as e:
        res.update(status="failed", error=f"{type(e).__name__}: {e}")
    res["wallSeconds"] = round(time.perf_counter() - t0, 6)
    res["cpuSeconds"] = round(time.process_time() - c0, 6)
    return res


INTERRUPTED = "interrupted"


def is_done(res: dict[str, Any]) -> bool:
    """Whether a run's result may be recorded: it ran to its end (succeeded) or failed for good."""
    return res.get("status") in ("succeeded", "failed")


class SweepInterrupted(Exception):
    """The sweep was stopped (Ctrl-C/SIGTERM) before every run was done; ``body`` is the sweep.json
    written for the runs finished so far. The CLI exits 130."""

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__("interrupted")
        self.body = body


def record_result(task: RunTask, res: dict[str, Any]) -> dict[str, Any]:
    """Write ``runs/<id>/result.json`` (atomically: it is the 'done' marker a rerun trusts). Only for a
    result that :func:`is_done` — an interrupted run is never recorded."""
    if not is_done(res):
        raise ValueError(f"run {task.run} is {res.get('status')}, not done; it is not recorded")
    full = {"run": task.run, "index": task.index, "point": task.point, "replicate": task.replicate,
            "seed": task.seed, "parameters": task.params, "scenarioSha256": task.scenario_sha,
            "status": res["status"], "error": res["error"], "wallSeconds": res.get("wallSeconds"),
            "cpuSeconds": res.get("cpuSeconds"),
            "summary": res["summary"]}
    d = Path(task.out_dir)
    d.mkdir(parents=True, exist_ok=True)
    tmp = d / (RESULT_FILE + ".tmp")
    tmp.write_text(json.dumps(full, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, d / RESULT_FILE)
    return full


def load_result(run_dir: Path, task: RunTask) -> dict[str, Any] | None:
    """The stored result of ``task`` if it is there and belongs to this very run (same seed, same
    patched scenario); ``None`` otherwise."""
    try:
        r: dict[str, Any] = json.loads((run_dir / RESULT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if r.get("seed") != task.seed or r.get("scenarioSha256") != task.scenario_sha:
        return None
    return r


def pending_tasks(tasks: list[RunTask], out: Path) -> tuple[list[RunTask], list[dict[str, Any]]]:
    """Split into runs still to do and results already done. A failed run is run again."""
    todo: list[RunTask] = []
    done: list[dict[str, Any]] = []
    for t in tasks:
        r = load_result(out / "runs" / t.run, t)
        if r is not None and r.get("status") == "succeeded":
            done.append(r)
        else:
            todo.append(t)
    return todo, done


# ---------------------------------------------------------------------------------------- aggregate

def flatten(summary: dict[str, Any] | None, prefix: str = "") -> dict[str, float | None]:
    """The numbers of a summary as dotted keys (``waitSeconds.p95``); lists and strings are left out."""
    out: dict[str, float | None] = {}
    for k, v in (summary or {}).items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        elif isinstance(v, bool) or key in _NOT_METRICS:
            continue
        elif isinstance(v, int | float):
            out[key] = v
        elif v is None:
            out[key] = None
    return out


# two-sided 97.5 % quantiles of Student's t for 1..30 degrees of freedom
_T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
         2.045, 2.042]


def t975(df: int) -> float:
    """Student's t 0.975 quantile (table to 30 degrees of freedom, Cornish–Fisher beyond)."""
    if df <= 30:
        return _T975[df - 1]
    z = 1.959964
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def mean_ci(xs: list[float]) -> tuple[float | None, float | None, float | None]:
    """Mean and 95 % confidence interval (Student's t) of ``xs``; no interval from one value."""
    if not xs:
        return None, None, None
    n = len(xs)
    m = math.fsum(xs) / n
    if n == 1:
        return _r(m), None, None
    sd = math.sqrt(math.fsum((x - m) ** 2 for x in xs) / (n - 1))
    h = t975(n - 1) * sd / math.sqrt(n)
    return _r(m), _r(m - h), _r(m + h)


def _r(x: float) -> float:
    return round(x, 6)


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, dict | list):
        return json.dumps(v, sort_keys=True)
    return str(v)


def frontier(points: list[dict[str, Any]], x: str, y: str) -> list[int]:
    """Pareto frontier minimising both ``x`` and ``y`` (point means): the points no other point beats
    on both. Returns point indices sorted by ``x``."""
    cand = [(p["mean"][x], p["mean"][y], p["point"]) for p in points
            if p["failed"] == 0 and p["mean"].get(x) is not None and p["mean"].get(y) is not None]
    cand.sort()
    out: list[int] = []
    best_y = math.inf
    for _, yv, pi in cand:
        if yv < best_y:
            out.append(pi)
            best_y = yv
    return out


def aggregate(pl: Plan, results: list[dict[str, Any]], out: Path, *, shard: tuple[int, int] | None = None,
              expected: list[RunTask] | None = None) -> dict[str, Any]:
    """Write ``runs.csv``, ``points.csv`` and ``sweep.json`` into ``out``; returns the sweep.json body."""
    expected = pl.tasks if expected is None else expected
    by_run = {r["run"]: r for r in results}
    rows = [by_run[t.run] for t in expected if t.run in by_run]
    missing = [t.run for t in expected if t.run not in by_run]
    metrics: list[str] = []
    seen: set[str] = set()
    flat = {r["run"]: flatten(r.get("summary")) for r in rows}
    for r in rows:
        for k in flat[r["run"]]:
            if k not in seen:
                seen.add(k)
                metrics.append(k)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "runs.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["run", "point", "replicate", "seed", *pl.params, "status", "error", *metrics])
        for r in rows:
            f = flat[r["run"]]
            w.writerow([r["run"], r["point"], r["replicate"], r["seed"],
                        *(_cell(r["parameters"].get(p)) for p in pl.params), r["status"], _cell(r["error"]),
                        *(_cell(f.get(m)) for m in metrics)])
    points: list[dict[str, Any]] = []
    for pi, params in enumerate(pl.points):
        prs = [r for r in rows if r["point"] == pi]
        if not prs:
            continue
        ok = [flat[r["run"]] for r in prs if r["status"] == "succeeded"]
        mean: dict[str, float | None] = {}
        low: dict[str, float | None] = {}
        high: dict[str, float | None] = {}
        for m in metrics:
            xs = [float(v) for f in ok if (v := f.get(m)) is not None]
            mean[m], low[m], high[m] = mean_ci(xs)
        points.append({"point": pi, "parameters": params, "runs": len(prs),
                       "failed": sum(r["status"] != "succeeded" for r in prs),
                       "mean": mean, "ci95Low": low, "ci95High": high})
    with open(out / "points.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["point", *pl.params, "runs", "failed",
                    *(f"{m}.{s}" for m in metrics for s in ("mean", "ci95Low", "ci95High"))])
        for p in points:
            w.writerow([p["point"], *(_cell(p["parameters"][k]) for k in pl.params), p["runs"], p["failed"],
                        *(_cell(p[s][m]) for m in metrics for s in ("mean", "ci95Low", "ci95High"))])
    body: dict[str, Any] = {
        "apiVersion": "kubetwin.dev/v1alpha1", "kind": "SweepResult", "sweep": pl.sweep.metadata.name,
        "scenario": str(pl.sweep.scenario_path()), "seed": pl.sweep.spec.seed, "seeds": pl.sweep.spec.seeds,
        "parameters": pl.params, "planDigest": pl.digest(),
        "shard": f"{shard[0]}/{shard[1]}" if shard else None,
        "runsPlanned": len(expected), "runsDone": len(rows),
        "runsFailed": sum(r["status"] != "succeeded" for r in rows), "runsMissing": missing,
        "warnings": [], "objective": None, "meetsObjective": [],
    }
    obj = pl.sweep.spec.objective
    # the frontier trades p95 wait against what the objective minimises (cost.total by default)
    fy = obj.metric if obj is not None and obj.sense == "minimize" and obj.metric != "waitSeconds.p95" \
        else "cost.total"
    body["frontier"] = {"x": "waitSeconds.p95", "y": fy, "points": frontier(points, "waitSeconds.p95", fy)}
    if obj is not None:
        cons = obj.constraints()
        body["objective"] = {obj.sense: obj.metric, "subjectTo": [c.text for c in cons],
                             "evaluatedOn": "mean across seeds; points with a failed run never qualify"}
        for name in [obj.metric, *(c.metric for c in cons)]:
            if metrics and name not in seen:
                body["warnings"].append(f"objective metric {name!r} is not in any run's summary; known: "
                                        + ", ".join(metrics))
        meets = []
        for p in points:
            v = p["mean"].get(obj.metric)
            if p["failed"] or v is None:
                continue
            vals = [p["mean"].get(c.metric) for c in cons]
            if all(x is not None and c.holds(x) for c, x in zip(cons, vals, strict=True)):
                meets.append({"point": p["point"], "parameters": p["parameters"], obj.metric: v})
        meets.sort(key=lambda m: (m[obj.metric] if obj.sense == "minimize" else -m[obj.metric], m["point"]))
        body["meetsObjective"] = meets
    body["points"] = points
    body["runs"] = [{k: r[k] for k in ("run", "point", "replicate", "seed", "parameters", "status", "error")}
                    | {"summary": flat[r["run"]]} for r in rows]
    (out / "sweep.json").write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    return body


def write_plan(pl: Plan, out: Path, shard: tuple[int, int] | None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    body = pl.to_json() | {"planDigest": pl.digest(), "shard": f"{shard[0]}/{shard[1]}" if shard else None}
    (out / PLAN_FILE).write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
