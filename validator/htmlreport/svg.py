"""Charts as inline SVG text — the panels a cluster dashboard (Grafana over kube-state-metrics) would
draw: step/line charts, bars, a Gantt chart and a scatter with a frontier.

The report is one static HTML file that must open anywhere without a network, so its plots are plain
SVG written here — no JavaScript, no fonts, no bundle. Each function takes plain numbers and returns
an ``<svg>`` element as a string; hovering a mark shows its value through SVG ``<title>``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape

W, H = 860, 280
ML, MR, MT, MB = 64, 16, 12, 36
PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
           "#9c755f", "#bab0ac"]
#: most points drawn per series; longer series are reduced to a min/max envelope per pixel column
MAX_POINTS = 1600


@dataclass
class Series:
    name: str
    xs: list[float]
    ys: list[float]
    step: bool = True
    dashed: bool = False
    color: str | None = None


@dataclass
class Mark:
    """A vertical tick on the x axis (a scale-up, a scale-down)."""

    x: float
    label: str
    color: str


@dataclass
class Axis:
    lo: float
    hi: float
    ticks: list[float] = field(default_factory=list)


def nice_ticks(lo: float, hi: float, n: int = 6, *, integer: bool = False) -> Axis:
    if not math.isfinite(lo) or not math.isfinite(hi):
        lo, hi = 0.0, 1.0
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    if integer:   # counts (nodes, pods) get whole-number ticks
        step = max(1.0, math.ceil(step))
    start = math.floor(lo / step) * step
    end = math.ceil(hi / step) * step
    ticks = [start + i * step for i in range(round((end - start) / step) + 1)]
    return Axis(start, end, ticks)


def time_unit(span: float) -> tuple[float, str]:
    if span >= 3 * 86400:
        return 86400.0, "d"
    if span >= 3 * 3600:
        return 3600.0, "h"
    if span >= 180:
        return 60.0, "min"
    return 1.0, "s"


def fmt(v: float) -> str:
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:.3g}M"
    if a >= 1e4:
        return f"{v / 1e3:.3g}k"
    return f"{v:.4g}"


def downsample(xs: Sequence[float], ys: Sequence[float], n: int = MAX_POINTS) -> tuple[list[float], list[float]]:
    """Keep at most ~2n points: per x bucket the first, min, max and last value, in x order."""
    if len(xs) <= 2 * n:
        return list(xs), list(ys)
    lo, hi = xs[0], xs[-1]
    width = (hi - lo) / n or 1.0
    ox: list[float] = []
    oy: list[float] = []
    i = 0
    while i < len(xs):
        b = math.floor((xs[i] - lo) / width)
        j = i
        imin = imax = i
        while j < len(xs) and math.floor((xs[j] - lo) / width) == b:
            if ys[j] < ys[imin]:
                imin = j
            if ys[j] > ys[imax]:
                imax = j
            j += 1
        for k in sorted({i, imin, imax, j - 1}):
            ox.append(xs[k])
            oy.append(ys[k])
        i = j
    return ox, oy


def _frame(x: Axis, y: Axis, xlabel: str, ylabel: str, xscale: float = 1.0) \
        -> tuple[list[str], Callable[[float], float], Callable[[float], float]]:
    pw, ph = W - ML - MR, H - MT - MB

    def px(v: float) -> float:
        return ML + (v - x.lo) / (x.hi - x.lo) * pw

    def py(v: float) -> float:
        return MT + ph - (v - y.lo) / (y.hi - y.lo) * ph

    out = [f'<rect x="{ML}" y="{MT}" width="{pw}" height="{ph}" fill="#fff" stroke="#ccc"/>']
    for t in y.ticks:
        yy = py(t)
        out.append(f'<line x1="{ML}" x2="{ML + pw}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#eee"/>')
        out.append(f'<text x="{ML - 6}" y="{yy + 4:.1f}" text-anchor="end">{fmt(t)}</text>')
    for t in x.ticks:
        xx = px(t)
        out.append(f'<line x1="{xx:.1f}" x2="{xx:.1f}" y1="{MT + ph}" y2="{MT + ph + 4}" stroke="#888"/>')
        out.append(f'<text x="{xx:.1f}" y="{MT + ph + 16}" text-anchor="middle">{fmt(t / xscale)}</text>')
    out.append(f'<text x="{ML + pw / 2}" y="{H - 4}" text-anchor="middle">{escape(xlabel)}</text>')
    out.append(f'<text transform="translate(14,{MT + ph / 2}) rotate(-90)" text-anchor="middle">'
               f'{escape(ylabel)}</text>')
    return out, px, py


def _svg(body: list[str], title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" '
            f'role="img" aria-label="{escape(title)}" font-family="sans-serif" font-size="11" fill="#333">'
            + "".join(body) + "</svg>")


def legend(names: Sequence[tuple[str, str, bool]]) -> str:
    """An HTML legend: (name, color, dashed)."""
    items = []
    for name, color, dashed in names:
        style = f"border-top:3px {'dashed' if dashed else 'solid'} {color}"
        items.append(f'<span class="lg"><i style="{style}"></i>{escape(name)}</span>')
    return '<div class="legend">' + "".join(items) + "</div>"


def line_chart(title: str, series: Sequence[Series], *, ylabel: str, x_end: float | None = None,
               marks: Sequence[Mark] = (), time_x: bool = True, xlabel: str = "",
               ymin: float | None = 0.0, ymax: float | None = None) -> str:
    """Lines (step or straight) over a shared x axis; ``marks`` are drawn as ticks at the top."""
    series = [s for s in series if s.xs]
    if not series:
        return f'<p class="empty">{escape(title)}: no data</p>'
    xmax = max(max(s.xs) for s in series)
    if x_end is not None:
        xmax = max(xmax, x_end)
    xmin = min(min(s.xs) for s in series)
    ylo = min(min(s.ys) for s in series) if ymin is None else ymin
    yhi = max(max(s.ys) for s in series)
    if time_x:
        scale, unit = time_unit(xmax - xmin)
        ax = nice_ticks(xmin / scale, xmax / scale)
        x = Axis(ax.lo * scale, ax.hi * scale, [t * scale for t in ax.ticks])
        xlabel = xlabel or f"time ({unit})"
    else:
        scale = 1.0
        x = nice_ticks(xmin, xmax)
    counts = ymax is None and all(float(v).is_integer() for s in series for v in s.ys)
    y = nice_ticks(ylo, ymax if ymax is not None else (yhi * 1.05 if yhi > 0 else 1.0), integer=counts)
    body, px, py = _frame(x, y, xlabel, ylabel, scale)
    leg = []
    for i, s in enumerate(series):
        color = s.color or PALETTE[i % len(PALETTE)]
        xs, ys = downsample(s.xs, s.ys)
        pts: list[str] = []
        for j, (a, b) in enumerate(zip(xs, ys, strict=True)):
            if s.step and j:
                pts.append(f"{px(a):.1f},{py(ys[j - 1]):.1f}")
            pts.append(f"{px(a):.1f},{py(b):.1f}")
        if s.step and x_end is not None and xs and xs[-1] < x_end:
            pts.append(f"{px(x_end):.1f},{py(ys[-1]):.1f}")
        dash = ' stroke-dasharray="5,3"' if s.dashed else ""
        body.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.6"{dash} points="{" ".join(pts)}">'
                    f"<title>{escape(s.name)}</title></polyline>")
        leg.append((s.name, color, s.dashed))
    for m in marks:
        xx = px(m.x)
        body.append(f'<path d="M{xx:.1f},{MT} l-4,-0 l4,8 l4,-8 z" fill="{m.color}" stroke="{m.color}">'
                    f"<title>{escape(m.label)}</title></path>")
    return f'<figure><figcaption>{escape(title)}</figcaption>{_svg(body, title)}{legend(leg)}</figure>'


def bar_chart(title: str, items: Sequence[tuple[str, float]], *, ylabel: str) -> str:
    if not items:
        return f'<p class="empty">{escape(title)}: no data</p>'
    y = nice_ticks(0.0, max(v for _, v in items) * 1.1 or 1.0)
    x = Axis(0.0, float(len(items)), [])
    body, px, py = _frame(x, y, "", ylabel)
    bw = (W - ML - MR) / len(items)
    for i, (label, v) in enumerate(items):
        x0 = px(float(i)) + bw * 0.15
        top = py(v)
        body.append(f'<rect x="{x0:.1f}" y="{top:.1f}" width="{bw * 0.7:.1f}" height="{py(0.0) - top:.1f}" '
                    f'fill="{PALETTE[i % len(PALETTE)]}"><title>{escape(label)}: {v:,.2f}</title></rect>')
        body.append(f'<text x="{x0 + bw * 0.35:.1f}" y="{top - 4:.1f}" text-anchor="middle">{v:,.2f}</text>')
        body.append(f'<text x="{x0 + bw * 0.35:.1f}" y="{H - MB + 16}" text-anchor="middle">{escape(label)}</text>')
    return f'<figure><figcaption>{escape(title)}</figcaption>{_svg(body, title)}</figure>'


@dataclass
class _Rect:
    x0: float
    x1: float
    state: str
    t0: float
    t1: float


def gantt(title: str, rows: Sequence[tuple[str, Sequence[tuple[float, float, str]]]], *, x_end: float,
          colors: dict[str, str]) -> str:
    """One row per gang; segments (start, end, state) colored by state."""
    if not rows:
        return f'<p class="empty">{escape(title)}: no gangs</p>'
    rh = 12
    height = MT + MB + rh * len(rows)
    scale, unit = time_unit(x_end)
    ax = nice_ticks(0.0, x_end / scale)
    lo, hi = ax.lo * scale, ax.hi * scale
    pw = W - ML - 110 - MR
    left = ML + 110 - 64

    def px(v: float) -> float:
        return left + (v - lo) / (hi - lo) * pw

    body = [f'<rect x="{left}" y="{MT}" width="{pw}" height="{rh * len(rows)}" fill="#fff" stroke="#ccc"/>']
    for t in ax.ticks:
        xx = px(t * scale)
        body.append(f'<line x1="{xx:.1f}" x2="{xx:.1f}" y1="{MT}" y2="{MT + rh * len(rows)}" stroke="#eee"/>')
        body.append(f'<text x="{xx:.1f}" y="{MT + rh * len(rows) + 14}" text-anchor="middle">{fmt(t)}</text>')
    body.append(f'<text x="{left + pw / 2}" y="{height - 6}" text-anchor="middle">time ({unit})</text>')
    for i, (label, segs) in enumerate(rows):
        yy = MT + i * rh
        body.append(f'<text x="{left - 4}" y="{yy + rh - 3}" text-anchor="end" font-size="9">'
                    f"{escape(label[-26:])}</text>")
        # one rect per run of a state at pixel resolution: sub-pixel flicker (evict/readmit loops) merges
        rects: list[_Rect] = []
        for a, b, state in segs:
            x0, x1 = px(a), max(px(b), px(a) + 0.8)
            last = rects[-1] if rects else None
            if last is not None and (last.state == state or x1 - x0 < 1) and x0 - last.x1 < 1:
                last.x1, last.t1 = max(x1, last.x1), b
                continue
            rects.append(_Rect(x0, x1, state, a, b))
        for r in rects:
            body.append(f'<rect x="{r.x0:.1f}" y="{yy + 1}" width="{r.x1 - r.x0:.1f}" height="{rh - 2}" '
                        f'fill="{colors.get(r.state, "#999")}"><title>{escape(label)} {escape(r.state)} '
                        f"{r.t0:,.0f}s → {r.t1:,.0f}s</title></rect>")
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {height}" width="{W}" height="{height}" '
           f'role="img" aria-label="{escape(title)}" font-family="sans-serif" font-size="11" fill="#333">'
           + "".join(body) + "</svg>")
    leg = legend([(k, v, False) for k, v in colors.items()])
    return f"<figure><figcaption>{escape(title)}</figcaption>{svg}{leg}</figure>"


def scatter(title: str, points: Sequence[tuple[float, float, str, str]], *, xlabel: str, ylabel: str,
            frontier: Sequence[tuple[float, float]] = (), xline: float | None = None,
            xerr: Sequence[tuple[float, float] | None] = ()) -> str:
    """Points (x, y, label, color); the frontier as a line; ``xline`` a vertical limit; ``xerr`` an
    interval (low, high) on x per point, drawn as a horizontal bar."""
    if not points:
        return f'<p class="empty">{escape(title)}: no points</p>'
    xs = [p[0] for p in points] + ([xline] if xline is not None else []) + [e[1] for e in xerr if e]
    x = nice_ticks(0.0, max(xs) * 1.05 or 1.0)
    y = nice_ticks(0.0, max(p[1] for p in points) * 1.05 or 1.0)
    body, px, py = _frame(x, y, xlabel, ylabel)
    if xline is not None:
        body.append(f'<line x1="{px(xline):.1f}" x2="{px(xline):.1f}" y1="{MT}" y2="{H - MB}" stroke="#e15759" '
                    f'stroke-dasharray="4,3"><title>constraint {fmt(xline)}</title></line>')
    if frontier:
        pts = " ".join(f"{px(a):.1f},{py(b):.1f}" for a, b in frontier)
        body.append(f'<polyline fill="none" stroke="#59a14f" stroke-width="2" points="{pts}">'
                    "<title>frontier</title></polyline>")
    for (_, b, label, color), err in zip(points, [*xerr, *([None] * (len(points) - len(xerr)))], strict=True):
        if err is not None:
            lo, hi = max(err[0], x.lo), err[1]
            body.append(f'<line x1="{px(lo):.1f}" x2="{px(hi):.1f}" y1="{py(b):.1f}" y2="{py(b):.1f}" '
                        f'stroke="{color}" stroke-width="1.5"><title>{escape(label)}: 95 % interval '
                        f"{err[0]:,.4g} – {err[1]:,.4g}</title></line>")
    for a, b, label, color in points:
        body.append(f'<circle cx="{px(a):.1f}" cy="{py(b):.1f}" r="5" fill="{color}" fill-opacity="0.8">'
                    f"<title>{escape(label)}: x={a:,.4g} y={b:,.4g}</title></circle>")
    return f'<figure><figcaption>{escape(title)}</figcaption>{_svg(body, title)}</figure>'
