"""Run scale scenarios, each in a fresh subprocess, and judge them against their own targets.

A benchmark here is an ordinary scenario file: it goes through :func:`simulate_to`, the same path as
``kubetwin simulate``, and writes the real ``timeline.jsonl`` (to a temporary directory unless
``--out`` is given), because writing the timeline is part of what a user waits for. Each scenario
runs in its own Python process, so the peak resident set size we report belongs to that scenario
alone; the parent reads it from ``os.wait4``'s resource usage of exactly that child (the child also
reports its own ``ru_maxrss``; the larger is kept). The child times ``simulate_to`` as a whole —
loading and validating the scenario, building the cluster, the run, the summary — and also passes on
the engine's own ``sim.wallSeconds`` (the run alone). The interpreter's start and the imports of
numpy and simpy are outside the clock. ``cpuSeconds`` (user + system CPU of the child) is reported
too: on a shared machine it moves less than wall time.

Targets live beside the scenario, in ``metadata.annotations``::

    bench.kubetwin.dev/target-pods-per-second: "20000"    # pods scheduled / wall second, at least
    bench.kubetwin.dev/target-events-per-second: "100000"  # timeline events / wall second, at least
    bench.kubetwin.dev/target-wall-seconds: "60"          # wall seconds, at most
    bench.kubetwin.dev/target-peak-mib: "4096"            # peak RSS in MiB, at most

``--quick`` runs every scenario scaled down (node pool and workload counts divided by ``--factor``,
20 by default, Poisson mean intervals multiplied by it so arrivals still span the same simulated
time): a smoke test of the harness and the scenarios. Targets are stated for the full size, so a
quick run reports them but does not judge them (``met`` is ``null``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path
from typing import Any, Literal

import yaml

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
ANNOTATION_PREFIX = "bench.kubetwin.dev/"

#: annotation suffix -> (result field, True if the result must be at least the target)
TARGETS: dict[str, tuple[str, bool]] = {
    "target-pods-per-second": ("podsPerSecond", True),
    "target-events-per-second": ("eventsPerSecond", True),
    "target-wall-seconds": ("wallSeconds", False),
    "target-peak-mib": ("peakMiB", False),
}


class BenchError(Exception):
    """A problem with the benchmark invocation (unknown scenario name, bad file)."""


@dataclass
class Result:
    """One scenario's measurements, as written to ``--json``."""

    name: str
    scenario: str
    quick: bool
    ok: bool
    error: str | None = None
    podsTotal: int = 0
    podsScheduled: int = 0
    podsPendingAtEnd: int = 0
    simEvents: int = 0
    simulatedSeconds: float = 0.0
    gpuAllocationRatio: float | None = None
    wallSeconds: float = 0.0
    simWallSeconds: float = 0.0
    cpuSeconds: float = 0.0
    podsPerSecond: float = 0.0
    eventsPerSecond: float = 0.0
    peakMiB: float = 0.0
    #: "compiled" when the run loaded the mypyc build of the hot modules (models/native.py), else "python"
    engine: str = ""
    timeline: str | None = None
    targets: dict[str, float] = field(default_factory=dict)
    met: dict[str, bool | None] = field(default_factory=dict)
    targetMet: bool | None = None


# ----------------------------------------------------------------------------------------- scenarios

def discover(names: list[str]) -> list[Path]:
    """Scenario files for ``names``: paths, file stems in ``bench/scenarios``, or unique prefixes of them.

    No names means every scenario in ``bench/scenarios``.
    """
    known = sorted(SCENARIO_DIR.glob("*.yaml"))
    if not names:
        return known
    out: list[Path] = []
    for n in names:
        p = Path(n)
        if p.suffix in (".yaml", ".yml") and p.is_file():
            out.append(p.resolve())
            continue
        exact = [k for k in known if k.stem == n]
        matches = exact or [k for k in known if k.stem.startswith(n)]
        if len(matches) != 1:
            what = "matches several" if matches else "matches none"
            raise BenchError(f"scenario {n!r} {what} of: {', '.join(k.stem for k in known)}")
        out.append(matches[0])
    return out


def targets_of(doc: dict[str, Any]) -> dict[str, float]:
    """The ``bench.kubetwin.dev/target-*`` annotations of a scenario document, by result field."""
    ann = (doc.get("metadata") or {}).get("annotations") or {}
    out: dict[str, float] = {}
    for suffix, (fld, _) in TARGETS.items():
        v = ann.get(ANNOTATION_PREFIX + suffix)
        if v is not None:
            try:
                out[fld] = float(v)
            except ValueError:
                raise BenchError(f"annotation {ANNOTATION_PREFIX + suffix}: {v!r} is not a number") from None
    return out


def _seconds(v: float) -> str:
    """A Go duration in plain seconds (``13500.5s``), without exponent notation."""
    return f"{v:.6f}".rstrip("0").rstrip(".") + "s"


def scale_down(doc: dict[str, Any], factor: int, base_dir: Path) -> dict[str, Any]:
    """A copy of a scenario document with counts divided by ``factor`` over the same simulated time.

    Node pool and workload counts shrink (at least 1 each); Poisson mean intervals grow by the same
    factor so arrivals still span the run; relative CSV paths become absolute (the scaled file is
    written elsewhere).
    """
    from models.duration import parse_duration

    d: dict[str, Any] = json.loads(json.dumps(doc))
    spec = d["spec"]
    for pool in spec["cluster"]["nodePools"]:
        if pool.get("count"):
            pool["count"] = max(1, math.ceil(pool["count"] / factor))
    for w in spec.get("workloads") or []:
        if w.get("count"):
            w["count"] = max(1, math.ceil(w["count"] / factor))
        poisson = (w.get("arrival") or {}).get("poisson")
        if poisson and "meanInterval" in poisson:
            poisson["meanInterval"] = _seconds(parse_duration(poisson["meanInterval"]) * factor)
        emp = (w.get("duration") or {}).get("empirical")
        if isinstance(emp, dict) and emp.get("csv") and not Path(emp["csv"]).is_absolute():
            emp["csv"] = str((base_dir / emp["csv"]).resolve())
    return d


# ----------------------------------------------------------------------------------------- child

def child_main(argv: list[str]) -> int:
    """Runs in the subprocess: ``simulate_to(scenario, out_dir)``, then writes a JSON result file."""
    scenario, out_dir, result_file = argv[0], argv[1], argv[2]
    seed = int(argv[3]) if len(argv) > 3 and argv[3] != "" else None
    import sim.engine  # import numpy/simpy before the clock starts (we time the run); which build ran
    from kubetwin.cmd_simulate import simulate_to

    t0 = time.perf_counter()
    summary = simulate_to(scenario, out_dir, seed=seed)
    wall = time.perf_counter() - t0
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    engine = "compiled" if sim.engine.__file__.endswith(tuple(EXTENSION_SUFFIXES)) else "python"
    Path(result_file).write_text(json.dumps({"summary": summary, "wall": wall, "maxrssKiB": rss_kib,
                                             "engine": engine}), encoding="utf-8")
    return 0


def _run_child(scenario: Path, out_dir: Path, work: Path,
               seed: int | None) -> tuple[dict[str, Any], float, float]:
    """Run one scenario in a fresh interpreter; returns (its report, peak RSS in MiB, CPU seconds)."""
    result_file = work / "result.json"
    log = work / "child.log"
    cmd = [sys.executable, "-m", "bench.harness", "--child", str(scenario), str(out_dir), str(result_file),
           "" if seed is None else str(seed)]
    with open(log, "wb") as logf:
        proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0 or not result_file.exists():
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-15:]
        raise RuntimeError(f"child exited {proc.returncode}:\n" + "\n".join(tail))
    report: dict[str, Any] = json.loads(result_file.read_text(encoding="utf-8"))
    peak_kib = max(usage.ru_maxrss, int(report.get("maxrssKiB", 0)))  # Linux: KiB
    if sys.platform == "darwin":  # macOS reports bytes
        peak_kib //= 1024
    return report, peak_kib / 1024, usage.ru_utime + usage.ru_stime


def judge(res: Result, quick: bool) -> None:
    for fld, target in res.targets.items():
        value = getattr(res, fld)
        at_least = next(lo for f, lo in TARGETS.values() if f == fld)
        res.met[fld] = None if quick else (value >= target if at_least else value <= target)
    verdicts = list(res.met.values())
    res.targetMet = None if quick or not verdicts or not res.ok else all(bool(v) for v in verdicts)


def run_one(path: Path, *, quick: bool, factor: int, out: Path | None, seed: int | None) -> Result:
    """Run one scenario file in a subprocess and measure it."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(doc, dict) or "metadata" not in doc:
        raise BenchError(f"{path}: not a scenario document")
    name = str(doc["metadata"]["name"])
    res = Result(name=name, scenario=str(path), quick=quick, ok=False, targets=targets_of(doc))
    with tempfile.TemporaryDirectory(prefix=f"kubetwin-bench-{name}-") as tmp:
        work = Path(tmp)
        scenario = path
        if quick:
            scenario = work / path.name
            scenario.write_text(yaml.safe_dump(scale_down(doc, factor, path.parent), sort_keys=False),
                                encoding="utf-8")
        out_dir = (out / name) if out is not None else work / "out"
        try:
            report, peak_mib, cpu = _run_child(scenario, out_dir, work, seed)
        except RuntimeError as e:
            res.error = str(e)
            judge(res, quick)
            return res
    s = report["summary"]
    wall = float(report["wall"])
    res.ok = True
    res.podsTotal = int(s["pods"]["total"])
    res.podsScheduled = int(s["pods"]["scheduled"])
    res.podsPendingAtEnd = int(s["pods"]["pendingAtEnd"])
    res.simEvents = int(s["sim"]["events"])
    res.simulatedSeconds = float(s["sim"]["endTime"])
    res.gpuAllocationRatio = s["gpu"]["allocationRatio"]
    res.simWallSeconds = float(s["sim"]["wallSeconds"])
    res.wallSeconds = round(wall, 3)
    res.cpuSeconds = round(cpu, 3)
    res.podsPerSecond = round(res.podsScheduled / wall, 1) if wall > 0 else 0.0
    res.eventsPerSecond = round(res.simEvents / wall, 1) if wall > 0 else 0.0
    res.peakMiB = round(peak_mib, 1)
    res.engine = str(report.get("engine", ""))
    res.timeline = str(out_dir / "timeline.jsonl") if out is not None else None
    judge(res, quick)
    return res


# ----------------------------------------------------------------------------------------- report

def _commit() -> str | None:
    """The repository's HEAD commit, with ``+dirty`` when sim/ or models/ have uncommitted changes."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "-uno", "--", "sim", "models", "kubetwin"],
                               cwd=root, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "")


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"python": platform.python_version(), "implementation": platform.python_implementation(),
            "commit": _commit(), "platform": platform.platform(), "cpu": cpu, "cpus": os.cpu_count()}


def table(results: list[Result], quick: bool) -> Any:
    from rich.table import Table

    engines = sorted({r.engine for r in results if r.engine})
    t = Table(title="kubetwin bench" + (" (quick: scaled down, targets not judged)" if quick else "")
              + (f" — engine: {', '.join(engines)}" if engines else ""))
    Just = Literal["left", "right", "center"]
    cols: list[tuple[str, Just]] = [
        ("scenario", "left"), ("pods total", "right"), ("scheduled", "right"), ("pods/s", "right"),
        ("events/s", "right"), ("wall s", "right"), ("cpu s", "right"), ("peak MiB", "right"),
        ("target", "left"), ("met", "center")]
    for col, just in cols:
        t.add_column(col, justify=just)
    units = {"podsPerSecond": "≥{:,.0f} pods/s", "eventsPerSecond": "≥{:,.0f} ev/s",
             "wallSeconds": "≤{:g} s", "peakMiB": "≤{:,.0f} MiB"}
    for r in results:
        target = ", ".join(units[f].format(v) for f, v in r.targets.items()) or "—"
        if not r.ok:
            t.add_row(r.name, "—", "—", "—", "—", "—", "—", "—", target, "[red]error[/red]")
            continue
        met = {True: "[green]yes[/green]", False: "[red]no[/red]", None: "—"}[r.targetMet]
        t.add_row(r.name, f"{r.podsTotal:,}", f"{r.podsScheduled:,}", f"{r.podsPerSecond:,.0f}",
                  f"{r.eventsPerSecond:,.0f}", f"{r.wallSeconds:,.2f}",
                  f"{r.cpuSeconds:,.2f}", f"{r.peakMiB:,.0f}", target, met)
    return t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench",
                                 description="Run scale scenarios against their targets.")
    ap.add_argument("names", nargs="*", help="scenario names (stems or prefixes) or YAML paths; default: all")
    ap.add_argument("--json", dest="json_file", type=Path, help="write the results as JSON here")
    ap.add_argument("--out", type=Path, help="keep each timeline in OUT/<name>/ (default: a temp dir)")
    ap.add_argument("--quick", action="store_true", help="scaled-down smoke run; targets not judged")
    ap.add_argument("--factor", type=int, default=20, help="scale-down factor for --quick (default 20)")
    ap.add_argument("--seed", type=int, help="override spec.seed")
    ap.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = ap.parse_args(argv)
    if args.factor < 1:
        ap.error("--factor must be >= 1")

    from rich.console import Console

    console = Console()
    if not console.is_terminal:
        console = Console(width=150)
    try:
        paths = discover(args.names)
    except BenchError as e:
        console.print(f"[red]error:[/red] {e}")
        return 2
    where = machine()  # before the runs: the commit they ran
    results: list[Result] = []
    for p in paths:
        console.print(f"running {p.stem}{' (quick)' if args.quick else ''} …")
        try:
            r = run_one(p, quick=args.quick, factor=args.factor, out=args.out, seed=args.seed)
        except BenchError as e:
            console.print(f"[red]error:[/red] {e}")
            return 2
        if r.error:
            console.print(f"[red]{r.name} failed:[/red] {r.error}")
        results.append(r)
    console.print(table(results, args.quick))
    if any(r.engine == "python" for r in results):
        console.print("the hot modules ran as Python: python -m kubetwin.native compiles them (about 0.7x the "
                      "time; docs/benchmarks.md)")
    doc = {"machine": where, "quick": args.quick, "factor": args.factor if args.quick else 1,
           "results": [asdict(r) for r in results]}
    if args.json_file:
        args.json_file.parent.mkdir(parents=True, exist_ok=True)
        args.json_file.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    if any(not r.ok for r in results):
        return 1
    if args.check and any(r.targetMet is False for r in results):
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        sys.exit(child_main(sys.argv[2:]))
    sys.exit(main())
