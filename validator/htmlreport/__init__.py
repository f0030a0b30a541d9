"""The HTML report: one static page per run, comparison or sweep — a dashboard that needs no server.

Like a Grafana board over a cluster's metrics, but computed from the timeline itself and frozen into a
single HTML file: plots are inline SVG (:mod:`validator.htmlreport.svg`), there is no JavaScript and
nothing is fetched, so the file opens offline and can be attached to a CI run or a ticket.

:func:`write_report` looks at the folder it is given:

- ``sweep.json`` → a sweep report: cost against p95 wait per point, the frontier, the points meeting
  the objective;
- ``compare.json`` → a comparison: both sides' timelines overlaid;
- ``timeline.jsonl`` → one run: accelerators allocated per pool, pending pods, wait-time CDFs per
  workload and per queue, nodes per pool with scale-up/scale-down marks, a gang admission Gantt chart
  and cost per pool.
"""

from __future__ import annotations

import json
import re
from html import escape
from pathlib import Path
from typing import Any

from models.errors import InputError
from models.timeline import Timeline, read_timeline
from validator.htmlreport import svg
from validator.htmlreport.series import RunData, cdf, derive

#: gangs drawn at most in the Gantt chart (the first by creation)
MAX_GANGS = 80
GANG_COLORS = {"waiting": "#bab0ac", "quota reserved": "#edc948", "admitted": "#4e79a7"}

_CSS = """
body{font-family:sans-serif;margin:24px auto;max-width:900px;color:#222;background:#fafafa}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
figure{margin:12px 0;background:#fff;border:1px solid #e5e5e5;padding:8px}
figcaption{font-weight:bold;margin-bottom:4px}
.legend{font-size:12px;margin-top:4px}.lg{margin-right:14px;white-space:nowrap}
.lg i{display:inline-block;width:22px;margin-right:4px;vertical-align:middle}
svg{max-width:100%;height:auto}
.tbl{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;font-size:13px;background:#fff}
td,th{border:1px solid #ddd;padding:3px 8px;
text-align:right}th{background:#f0f0f0;overflow-wrap:anywhere;min-width:4em}
td:first-child,th:first-child{text-align:left}td.text{text-align:left;overflow-wrap:anywhere}
.empty{color:#888;font-style:italic}.note{color:#666;font-size:12px}
"""


def _page(title: str, body: list[str]) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
            f"<h1>{escape(title)}</h1>" + "\n".join(body) + "</body></html>\n")


def _breakable(text: str) -> str:
    """Escaped ``text`` with line-break opportunities after the separators of a field path
    (``spec.cluster.nodePools[name=h100].count``) and inside camelCase words, so a long column header
    wraps instead of widening the table past the page."""
    out = re.sub(r"(?<=[a-z])(?=[A-Z])", "<wbr>", escape(text))     # camelCase words
    for sep in (".", "]", ",", "="):
        out = out.replace(sep, sep + "<wbr>")
    return out


def _table(header: list[str], rows: list[list[Any]]) -> str:
    """A table in a horizontally scrolling box: headers wrap at path separators and long text cells
    wrap, so it fits the page; only a table that still cannot fit scrolls inside its box."""
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"<td>{v:,.4g}</td>"
        if isinstance(v, str) and len(v) > 40:
            return f'<td class="text">{_breakable(v)}</td>'
        return f"<td>{escape('—' if v is None else str(v))}</td>"

    return ('<div class="tbl"><table><tr>' + "".join(f"<th>{_breakable(h)}</th>" for h in header) + "</tr>"
            + "".join("<tr>" + "".join(cell(v) for v in r) + "</tr>" for r in rows) + "</table></div>")


def _load(path: Path) -> Timeline:
    try:
        return read_timeline(path)
    except (FileNotFoundError, IsADirectoryError):
        raise InputError("timeline not found", file=str(path), fix="pass a kubetwin simulate/record output folder") \
            from None


# ------------------------------------------------------------------------------------------ one run

def run_sections(d: RunData, summary: dict[str, Any] | None) -> list[str]:
    out: list[str] = []
    if summary:
        rows = [[k, v] for k, v in _summary_rows(summary)]
        out.append("<h2>Summary</h2>" + _table(["metric", "value"], rows))
    acc = "/".join(sorted(d.accelerators)) or "none requested in this run"
    out.append("<h2>Capacity</h2>")
    series = []
    for i, pool in enumerate(sorted(set(d.alloc) | {p for p, s in d.capacity.items() if max(s.ys, default=0) > 0})):
        color = svg.PALETTE[i % len(svg.PALETTE)]
        if pool in d.alloc:
            series.append(svg.Series(f"{pool} allocated", d.alloc[pool].xs, d.alloc[pool].ys, color=color))
        if pool in d.capacity:
            series.append(svg.Series(f"{pool} allocatable", d.capacity[pool].xs, d.capacity[pool].ys,
                                     dashed=True, color=color))
    out.append(svg.line_chart(f"Accelerators ({acc}) allocated per node pool", series, ylabel="accelerators",
                              x_end=d.end))
    marks = [svg.Mark(t, lbl, "#59a14f") for t, lbl in d.scale_up] + \
            [svg.Mark(t, lbl, "#e15759") for t, lbl in d.scale_down]
    out.append(svg.line_chart(
        "Ready nodes per pool (▼ green: TriggeredScaleUp, ▼ red: ScaleDown)",
        [svg.Series(p, s.xs, s.ys) for p, s in sorted(d.nodes.items())], ylabel="nodes", x_end=d.end, marks=marks))
    if d.cost and any(v > 0 for v in d.cost.values()):
        out.append(svg.bar_chart("Cost per node pool (node-hours × pricePerHour)",
                                 sorted(d.cost.items()), ylabel="cost"))
    out.append("<h2>Scheduling</h2>")
    pend = [svg.Series("pending pods", d.pending.xs, d.pending.ys)]
    if d.pending_workloads.xs:
        pend.append(svg.Series("pending workloads (gangs not admitted)", d.pending_workloads.xs,
                               d.pending_workloads.ys, dashed=True))
    out.append(svg.line_chart("Pending pods", pend, ylabel="pods / workloads", x_end=d.end))
    for what, waits in (("workload", d.waits_by_workload), ("queue", d.waits_by_queue),
                        ("admission", d.admission_by_queue)):
        if not waits:
            continue
        allw = [w for ws in waits.values() for w in ws]
        scale, unit = svg.time_unit(max(allw) if allw else 1.0)
        ser = []
        for name, ws in sorted(waits.items())[:len(svg.PALETTE)]:
            xs, ys = cdf(ws)
            ser.append(svg.Series(f"{name} (n={len(ws)})", [x / scale for x in xs], ys))
        title = "Admission wait CDF per queue (WorkloadCreated → Admitted, first admission)" \
            if what == "admission" else f"Scheduling wait CDF per {what} (PodCreated → Scheduled)"
        ylabel = "fraction of workloads" if what == "admission" else "fraction of pods"
        out.append(svg.line_chart(title, ser, ylabel=ylabel, time_x=False, xlabel=f"wait ({unit})", ymax=1.0))
    if d.gangs:
        gangs = d.gangs[:MAX_GANGS]
        note = f" — first {MAX_GANGS} of {len(d.gangs)}" if len(d.gangs) > MAX_GANGS else ""
        out.append(svg.gantt(f"Gang admission (WorkloadCreated → QuotaReserved → Admitted → finished){note}",
                             gangs, x_end=d.end or 1.0, colors=GANG_COLORS))
    return out


def _summary_rows(summary: dict[str, Any]) -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for sect in ("pods", "waitSeconds", "gpu", "nodes", "cost", "sim"):
        v = summary.get(sect)
        if isinstance(v, dict):
            rows += [(f"{sect}.{k}", x) for k, x in v.items() if isinstance(x, int | float | str) or x is None]
    return rows


def _read_json(p: Path) -> dict[str, Any] | None:
    try:
        v = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return v if isinstance(v, dict) else None


def run_report(d: Path) -> str:
    tl = _load(d / "timeline.jsonl")
    summary = _read_json(d / "summary.json")
    name = str(tl.header.get("scenario") or d.name)
    body = [f'<p class="note">{escape(str(d))} — {len(tl.events):,} events, source '
            f'{escape(str(tl.header.get("source", "?")))}, seed {escape(str(tl.header.get("seed", "—")))}</p>']
    if tl.problems:
        body.append(f'<p class="note">{len(tl.problems)} unreadable line(s) skipped</p>')
    body += run_sections(derive(tl.events), summary)
    return _page(f"kubetwin report — {name}", body)


# --------------------------------------------------------------------------------------- comparison

def _compare_sides(d: Path, cmp: dict[str, Any]) -> tuple[Path, Path] | None:
    """The two timelines: compare.json's ``a``/``b`` paths (as given, else relative to DIR), else the
    timelines in DIR's sub-folders."""

    def where(v: Any) -> Path | None:
        if not isinstance(v, str):
            return None
        return next((p for p in (Path(v), d / v, d / Path(v).name) if p.is_file()), None)

    a, b = where(cmp.get("a")), where(cmp.get("b"))
    if a is not None and b is not None:
        return a, b
    found = sorted(p for p in d.rglob("timeline.jsonl") if p.parent != d)
    if len(found) >= 2:
        return found[0], found[1]
    if (d / "timeline.jsonl").is_file() and found:
        return d / "timeline.jsonl", found[0]
    return None


def compare_report(d: Path, cmp: dict[str, Any]) -> str:
    body = [f'<p class="note">{escape(str(d / "compare.json"))}</p>']
    flat = [(k, v) for k, v in _flatten(cmp).items() if isinstance(v, int | float) and not isinstance(v, bool)]
    sides = _compare_sides(d, cmp)
    if sides is None:
        body.append('<p class="empty">the two timelines of this comparison were not found beside compare.json; '
                    "only its numbers are shown</p>")
    else:
        a, b = (derive(_load(p).events) for p in sides)
        body.append(f'<p class="note">A (solid): {escape(str(sides[0]))}<br>B (dashed): {escape(str(sides[1]))}</p>')
        end = max(a.end, b.end)
        body.append("<h2>A and B overlaid</h2>")

        def total(steps: dict[str, Any]) -> tuple[list[float], list[float]]:
            ev = sorted((t, dy) for s in steps.values() for t, dy in _deltas(s.xs, s.ys))
            xs: list[float] = []
            ys: list[float] = []
            acc = 0.0
            for t, dy in ev:
                acc += dy
                if xs and xs[-1] == t:
                    ys[-1] = acc
                else:
                    xs.append(t)
                    ys.append(acc)
            return xs, ys

        ser = []
        for label, dd, dashed, color in (("A", a, False, "#4e79a7"), ("B", b, True, "#f28e2b")):
            ser.append(svg.Series(f"{label} allocated", *total(dd.alloc), dashed=dashed, color=color))
        body.append(svg.line_chart("Accelerators allocated (all pools)", ser, ylabel="accelerators", x_end=end))
        body.append(svg.line_chart("Pending pods", [
            svg.Series("A", a.pending.xs, a.pending.ys, color="#4e79a7"),
            svg.Series("B", b.pending.xs, b.pending.ys, dashed=True, color="#f28e2b")], ylabel="pods", x_end=end))
        body.append(svg.line_chart("Ready nodes (all pools)", [
            svg.Series("A", *total(a.nodes), color="#4e79a7"),
            svg.Series("B", *total(b.nodes), dashed=True, color="#f28e2b")], ylabel="nodes", x_end=end))
        wa = [w for ws in a.waits_by_workload.values() for w in ws]
        wb = [w for ws in b.waits_by_workload.values() for w in ws]
        if wa or wb:
            scale, unit = svg.time_unit(max(wa + wb) or 1.0)
            xa, ya = cdf(wa)
            xb, yb = cdf(wb)
            body.append(svg.line_chart("Scheduling wait CDF, all pods", [
                svg.Series(f"A (n={len(wa)})", [x / scale for x in xa], ya, color="#4e79a7"),
                svg.Series(f"B (n={len(wb)})", [x / scale for x in xb], yb, dashed=True, color="#f28e2b")],
                ylabel="fraction of pods", time_x=False, xlabel=f"wait ({unit})", ymax=1.0))
    if flat:
        body.append("<h2>Numbers</h2>" + _table(["compare.json", "value"], [[k, v] for k, v in flat[:200]]))
    return _page(f"kubetwin report — comparison {d.name}", body)


def _deltas(xs: list[float], ys: list[float]) -> list[tuple[float, float]]:
    out = []
    prev = 0.0
    for x, y in zip(xs, ys, strict=True):
        out.append((x, y - prev))
        prev = y
    return out


def _flatten(v: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(v, dict):
        for k, x in v.items():
            out.update(_flatten(x, f"{prefix}{k}."))
    elif prefix:
        out[prefix[:-1]] = v
    return out


# -------------------------------------------------------------------------------------------- sweep

def sweep_report(d: Path, body_json: dict[str, Any]) -> str:
    points = body_json.get("points") or []
    fr = body_json.get("frontier") or {}
    xk, yk = str(fr.get("x", "waitSeconds.p95")), str(fr.get("y", "cost.total"))
    on_frontier = set(fr.get("points") or [])
    meets = {m["point"] for m in body_json.get("meetsObjective") or []}
    obj = body_json.get("objective") or {}
    body = [f'<p class="note">{escape(str(d))} — {body_json.get("runsDone", 0)}/{body_json.get("runsPlanned", 0)} '
            f'runs done, {body_json.get("runsFailed", 0)} failed; {body_json.get("seeds", "?")} seed(s) per point</p>']
    xline = None
    for c in obj.get("subjectTo") or []:
        from models.sweep import Constraint

        try:
            cc = Constraint(c)
        except ValueError:
            continue
        if cc.metric == xk and cc.op in ("<", "<="):
            xline = cc.value
    pts = []
    errs: list[tuple[float, float] | None] = []
    xy: dict[int, tuple[float, float]] = {}
    for p in points:
        x, y = p["mean"].get(xk), p["mean"].get(yk)
        if x is None or y is None:
            continue
        label = f"point {p['point']}: " + ", ".join(f"{k}={v}" for k, v in p["parameters"].items())
        color = "#59a14f" if p["point"] in meets else ("#f28e2b" if p["point"] in on_frontier else "#4e79a7")
        pts.append((float(x), float(y), label, color))
        lo, hi = (p.get("ci95Low") or {}).get(xk), (p.get("ci95High") or {}).get(xk)
        errs.append((float(lo), float(hi)) if lo is not None and hi is not None else None)
        xy[p["point"]] = (float(x), float(y))
    frontier = [xy[i] for i in fr.get("points") or [] if i in xy]
    body.append("<h2>Cost against p95 wait</h2>")
    body.append(svg.scatter(f"{yk} against {xk} (mean across seeds, bar: 95 % interval of {xk}; line: frontier)",
                            pts, xlabel=f"{xk} (s)", ylabel=yk, frontier=frontier, xline=xline, xerr=errs))
    body.append(svg.legend([("meets the objective", "#59a14f", False), ("on the frontier", "#f28e2b", False),
                            ("other points", "#4e79a7", False)]))
    if obj:
        sense = "minimize" if "minimize" in obj else "maximize"
        body.append(f"<h2>Objective: {sense} {escape(str(obj.get(sense)))} subject to "
                    f"{escape(', '.join(obj.get('subjectTo') or []) or 'nothing')}</h2>")
        rows = [[m["point"], ", ".join(f"{k}={v}" for k, v in m["parameters"].items()), m.get(str(obj.get(sense)))]
                for m in body_json.get("meetsObjective") or []]
        body.append(_table(["point", "parameters", str(obj.get(sense))], rows) if rows
                    else '<p class="empty">no point meets the objective</p>')
    params = body_json.get("parameters") or []
    cols = [xk, yk, "gpu.allocationRatio"]
    rows = [[p["point"], *(p["parameters"].get(k) for k in params), p["runs"], p["failed"],
             *(p["mean"].get(c) for c in cols)] for p in points]
    body.append("<h2>Points</h2>" + _table(["point", *params, "runs", "failed", *(f"{c} mean" for c in cols)], rows))
    return _page(f"kubetwin sweep report — {body_json.get('sweep', d.name)}", body)


def render_report(directory: str | Path) -> tuple[str, str]:
    """The report page for ``directory`` and its kind (``run``, ``compare`` or ``sweep``)."""
    d = Path(directory)
    if not d.is_dir():
        raise InputError("not a directory" if d.exists() else "directory not found", file=str(d),
                         fix="pass the -o folder of kubetwin simulate, compare/replay or sweep")
    sweep_json = _read_json(d / "sweep.json")
    if sweep_json is not None and sweep_json.get("kind") == "SweepResult":
        return sweep_report(d, sweep_json), "sweep"
    cmp = _read_json(d / "compare.json")
    if cmp is not None:
        return compare_report(d, cmp), "compare"
    if (d / "timeline.jsonl").is_file():
        return run_report(d), "run"
    raise InputError("no timeline.jsonl, compare.json or sweep.json in this folder", file=str(d),
                     fix="pass the -o folder of kubetwin simulate, compare/replay or sweep")


def write_report(directory: str | Path, out: str | Path) -> str:
    """Write the report for ``directory`` to ``out``; returns its kind."""
    page, kind = render_report(directory)
    o = Path(out)
    try:
        o.write_text(page, encoding="utf-8")
    except OSError as e:
        raise InputError(f"cannot write: {e.strerror}", file=str(o), fix="choose a writable -o") from None
    return kind
