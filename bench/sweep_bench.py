"""The sweep benchmark: one 200-run sweep on each executor — how a parameter study scales with workers.

``python -m bench.sweep_bench [SWEEP] [--executors local1,local2,ray2] [--json F]`` runs the sweep
(default ``bench/sweeps/sweep-200.yaml``) from scratch once per executor configuration and reports the
wall time, runs per second, the speed-up over one local worker and the per-run overhead: a worker
slot's time per run (wall × workers ÷ runs) minus the run's own ``simulate_to`` time (measured inside
the worker). For Ray, starting the local Ray instance is timed apart from the sweep.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kubetwin.cmd_sweep import run_sweep

DEFAULT = Path(__file__).resolve().parent / "sweeps" / "sweep-200.yaml"


def _run_times(out: Path, key: str) -> list[float]:
    """``wallSeconds`` or ``cpuSeconds`` of every run, as measured inside the worker."""
    vals = []
    for p in sorted((out / "runs").glob("*/result.json")):
        w = json.loads(p.read_text(encoding="utf-8")).get(key)
        if isinstance(w, int | float):
            vals.append(float(w))
    return vals


def measure(sweep: Path, executor: str, workers: int) -> dict[str, Any]:
    init = 0.0
    if executor == "ray":
        import ray

        t0 = time.perf_counter()
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
        init = time.perf_counter() - t0
    try:
        with tempfile.TemporaryDirectory(prefix="kubetwin-sweep-bench-") as tmp:
            t0 = time.perf_counter()
            body = run_sweep(sweep, Path(tmp) / "out", executor=executor, workers=workers)
            wall = time.perf_counter() - t0
            walls = _run_times(Path(tmp) / "out", "wallSeconds")
            cpus = _run_times(Path(tmp) / "out", "cpuSeconds")
    finally:
        if executor == "ray":
            ray.shutdown()
    runs = int(body["runsDone"])
    run_mean = sum(walls) / len(walls) if walls else 0.0
    return {"executor": executor, "workers": workers, "runs": runs, "failed": body["runsFailed"],
            "wallSeconds": round(wall, 3), "startupSeconds": round(init, 3),
            "runsPerSecond": round(runs / wall, 2) if wall else None,
            "runSecondsMean": round(run_mean, 4),
            "runCpuSecondsMean": round(sum(cpus) / len(cpus), 4) if cpus else None,
            "loadAverage1m": round(os.getloadavg()[0], 2),
            "overheadSecondsPerRun": round(wall * workers / runs - run_mean, 4) if runs else None}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.sweep_bench", description=__doc__.splitlines()[0])
    ap.add_argument("sweep", nargs="?", type=Path, default=DEFAULT)
    ap.add_argument("--executors", default="local1,local2,ray2",
                    help="comma-separated: local<N> or ray<N> (N workers), default local1,local2,ray2")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    a = ap.parse_args(argv)
    rows = []
    for spec in a.executors.split(","):
        kind = "ray" if spec.startswith("ray") else "local"
        n = int(spec.removeprefix(kind) or "1")
        rows.append(measure(a.sweep, kind, n))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    base = next((r["wallSeconds"] for r in rows if r["executor"] == "local" and r["workers"] == 1), None)
    print("| executor | workers | runs | wall s | runs/s | speed-up vs 1 local | run s (mean) | run CPU s (mean) "
          "| overhead s/run | load (1 min) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        sp = f"{base / r['wallSeconds']:.2f}×" if base else "—"
        extra = f" (+{r['startupSeconds']} s Ray start)" if r["startupSeconds"] else ""
        print(f"| {r['executor']} | {r['workers']} | {r['runs']} | {r['wallSeconds']}{extra} | {r['runsPerSecond']} "
              f"| {sp} | {r['runSecondsMean']} | {r['runCpuSecondsMean']} | {r['overheadSecondsPerRun']} "
              f"| {r['loadAverage1m']} |")
    if a.json:
        a.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
