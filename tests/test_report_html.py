"""``kubetwin report``: the series it plots (hand-computed), the three kinds of page, and a real browser.

The browser test renders each page in headless Chromium (Debian package ``chromium``) and checks that
the page logs no console message and that the screenshot is not blank, and measures the laid-out page
in a 1280-px-wide window (no table, plot or legend cut off or hidden behind a scrollbar); it is skipped
with the reason when Chromium is not installed.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sweep_fixture import write_sweep

from kubetwin import cmd_sweep
from kubetwin.cmd_simulate import simulate_to
from models.errors import InputError
from models.timeline import TimelineWriter, read_timeline
from validator.htmlreport import render_report, write_report
from validator.htmlreport.series import derive
from validator.htmlreport.svg import downsample

REPO = Path(__file__).resolve().parent.parent


def hand_timeline(path: Path) -> None:
    gpu = {"cpu": "32", "nvidia.com/gpu": "8"}
    with TimelineWriter(path) as w:
        w.header("sim", seed=1, scenario="hand")
        w.emit(0, "NodeReady", "Node", "n0", data={"pool": "gpu", "allocatable": gpu, "pricePerHour": 2.0})
        w.emit(0, "NodeReady", "Node", "n1", data={"pool": "gpu", "allocatable": gpu, "pricePerHour": 2.0})
        w.emit(0, "WorkloadCreated", "Workload", "g", "ml", group="ml/g", data={"queue": "team-a", "minCount": 1})
        w.emit(0, "PodCreated", "Pod", "a", "ml", group="ml/g",
               data={"requests": {"cpu": "1", "nvidia.com/gpu": "4"}, "workload": "train"})
        w.emit(5, "PodCreated", "Pod", "b", "ml", data={"requests": {"nvidia.com/gpu": "4"}, "workload": "nb"})
        w.emit(8, "QuotaReserved", "Workload", "g", "ml", group="ml/g")
        w.emit(10, "Admitted", "Workload", "g", "ml", group="ml/g")
        w.emit(10, "Scheduled", "Pod", "a", "ml", node="n0", group="ml/g")
        w.emit(20, "TriggeredScaleUp", "Pod", "b", "ml", data={"pool": "gpu"})
        w.emit(50, "Scheduled", "Pod", "b", "ml", node="n1")
        w.emit(80, "PodDeleted", "Pod", "b", "ml")
        w.emit(100, "PodSucceeded", "Pod", "a", "ml", group="ml/g")
        w.emit(100, "WorkloadFinished", "Workload", "g", "ml", group="ml/g")
        w.emit(3600, "ScaleDown", "Node", "n1", node="n1")
        w.emit(3600, "NodeRemoved", "Node", "n1")
        w.emit(7200, "RunFinished", "Run", "hand")


def test_series_hand_computed(tmp_path: Path) -> None:
    hand_timeline(tmp_path / "timeline.jsonl")
    d = derive(read_timeline(tmp_path / "timeline.jsonl").events)
    assert (d.alloc["gpu"].xs, d.alloc["gpu"].ys) == ([10, 50, 80, 100], [4, 8, 4, 0])
    assert (d.capacity["gpu"].xs, d.capacity["gpu"].ys) == ([0, 3600], [16, 8])
    assert (d.nodes["gpu"].xs, d.nodes["gpu"].ys) == ([0, 3600], [2, 1])
    assert (d.pending.xs, d.pending.ys) == ([0, 5, 10, 50], [1, 2, 1, 0])
    assert dict(d.waits_by_workload) == {"train": [10.0], "nb": [45.0]}
    assert (d.pending_workloads.xs, d.pending_workloads.ys) == ([0, 10], [1, 0])
    assert dict(d.waits_by_queue) == {"team-a": [10.0]}
    assert dict(d.admission_by_queue) == {"team-a": [10.0]}
    assert d.gangs == [("ml/g", [(0, 8, "waiting"), (8, 10, "quota reserved"), (10, 100, "admitted")])]
    assert d.cost == {"gpu": 2 * 2.0 + 1 * 2.0}   # n0 for 2 h, n1 for 1 h, at 2/h
    assert [t for t, _ in d.scale_up] == [20] and [t for t, _ in d.scale_down] == [3600]
    assert d.end == 7200 and d.accelerators == {"nvidia.com/gpu"}


def _self_contained(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    low = page.lower()
    for needle in ("<script", " src=", " href=", "@import", "url("):
        assert needle not in low, needle


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("report")
    run = base / "run"
    simulate_to(REPO / "scenarios" / "kueue-two-teams.yaml", run)
    cmp = base / "cmp"
    simulate_to(REPO / "scenarios" / "quickstart.yaml", cmp / "a", seed=1)
    simulate_to(REPO / "scenarios" / "quickstart.yaml", cmp / "b", seed=2)
    (cmp / "compare.json").write_text(json.dumps({"a": str(cmp / "a" / "timeline.jsonl"), "b": "b/timeline.jsonl",
                                                  "waitSeconds": {"p50Diff": 1.5}}), encoding="utf-8")
    p = write_sweep(base, {"seed": 2, "seeds": 2, "parameters": {"spec.cluster.nodePools[name=gpu].count": [1, 2, 3]},
                           "objective": {"minimize": "cost.total", "subjectTo": ["waitSeconds.p95 < 1h"]}})
    cmd_sweep.run_sweep(p, base / "sweep", workers=2)
    return {"run": run, "compare": cmp, "sweep": base / "sweep"}


def test_run_report_has_every_plot(outputs: dict[str, Path]) -> None:
    page, kind = render_report(outputs["run"])
    assert kind == "run"
    _self_contained(page)
    for title in ("Accelerators (nvidia.com/gpu) allocated per node pool", "Ready nodes per pool", "Pending pods",
                  "Scheduling wait CDF per workload", "Scheduling wait CDF per queue",
                  "Admission wait CDF per queue", "Gang admission",
                  "Cost per node pool"):
        assert title in page, title
    summary = json.loads((outputs["run"] / "summary.json").read_text())
    assert f"{summary['cost']['total']:,.2f}" in page   # the cost bars add up to summary's cost.total


def test_compare_and_sweep_reports(outputs: dict[str, Path]) -> None:
    page, kind = render_report(outputs["compare"])
    assert kind == "compare"
    _self_contained(page)
    assert "A (solid)" in page and "waitSeconds.p50Diff" in page and "Scheduling wait CDF, all pods" in page
    page, kind = render_report(outputs["sweep"])
    assert kind == "sweep"
    _self_contained(page)
    body = json.loads((outputs["sweep"] / "sweep.json").read_text())
    assert page.count("<circle") == len(body["points"]) == 3
    assert "<title>frontier</title>" in page and "constraint 3600" in page
    assert len(re.findall(r"<title>point \d+: [^<]*: 95 % interval", page)) == 3   # 2 seeds: an interval each


def test_report_bad_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no timeline\.jsonl, compare\.json or sweep\.json"):
        render_report(tmp_path)
    with pytest.raises(InputError, match="directory not found"):
        render_report(tmp_path / "nope")


# ------------------------------------------------------------------------------------ a real browser

def _png_pixels(data: bytes) -> tuple[int, int, np.ndarray]:
    """Grey levels of an 8-bit RGB/RGBA PNG (what Chromium writes), without Pillow."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, ctype = 8, b"", 0, 0, 0
    while pos < len(data):
        n, typ = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + n]
        if typ == b"IHDR":
            width, height, depth, ctype = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and ctype in (2, 6)
        elif typ == b"IDAT":
            idat += chunk
        pos += 12 + n
    bpp = 4 if ctype == 6 else 3
    stride = width * bpp
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(height, stride + 1)
    img = np.zeros((height, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.uint8)
    for y in range(height):
        f, line = raw[y, 0], raw[y, 1:].astype(np.int64)
        if f == 0:
            out = line
        elif f == 1:   # Sub: a running sum per channel
            out = np.cumsum(line.reshape(width, bpp), axis=0).reshape(stride)
        elif f == 2:   # Up
            out = line + prev
        else:          # Average, Paeth: byte by byte
            cur = [0] * stride
            up = prev.tolist()
            ln = line.tolist()
            for i in range(stride):
                a = cur[i - bpp] if i >= bpp else 0
                b = up[i]
                if f == 3:
                    cur[i] = (ln[i] + (a + b) // 2) & 255
                else:
                    c = up[i - bpp] if i >= bpp else 0
                    q = a + b - c
                    pa, pb, pc = abs(q - a), abs(q - b), abs(q - c)
                    cur[i] = (ln[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
            out = np.array(cur)
        img[y] = (out & 255).astype(np.uint8)
        prev = img[y]
    rgb = img.reshape(height, width, bpp)[:, :, :3].astype(np.float64)
    return width, height, rgb.mean(axis=2)


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(_chromium() is None, reason="chromium is not installed (Debian: apt-get install chromium); "
                                                "CI installs it")
@pytest.mark.parametrize("kind", ["run", "compare", "sweep"])
def test_report_renders_in_headless_chromium(outputs: dict[str, Path], tmp_path: Path, kind: str) -> None:
    html = tmp_path / f"{kind}.html"
    assert write_report(outputs[kind], html) == kind
    png = tmp_path / f"{kind}.png"
    proc = subprocess.run(
        [str(_chromium()), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--enable-logging=stderr", "--v=0", "--user-data-dir=" + str(tmp_path / "profile"),
         "--window-size=900,1800", f"--screenshot={png}", html.as_uri()],
        capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [ln for ln in proc.stderr.splitlines() if ":CONSOLE" in ln]
    assert console == [], console
    width, height, grey = _png_pixels(png.read_bytes())
    assert (width, height) == (900, 1800)
    var = float(grey.var())
    dark = float((grey < 200).mean())
    assert var > 100 and dark > 0.01, (var, dark)   # text, axes and lines, not an empty page


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=5000), st.integers(2, 50))
def test_downsample_keeps_the_envelope(ys: list[float], n: int) -> None:
    xs = [float(i) for i in range(len(ys))]
    ox, oy = downsample(xs, ys, n)
    assert len(ox) <= max(2 * n, 4 * (n + 1))
    assert (ox[0], oy[0], ox[-1], oy[-1]) == (xs[0], ys[0], xs[-1], ys[-1])
    assert max(oy) == max(ys) and min(oy) == min(ys)
    assert ox == sorted(ox) and set(zip(ox, oy, strict=True)) <= set(zip(xs, ys, strict=True))


#: run in the page after load: how far each table, plot, legend and the page itself reach beyond what can
#: be seen without scrolling — beyond the viewport, beyond a scrolling ancestor's visible box, or inside
#: the element's own scroll box (content hidden behind a horizontal scrollbar that overlay scrollbars and
#: screenshots do not show)
_MEASURE = """<script>
addEventListener('load', () => {
  const out = {page: document.documentElement.scrollWidth - innerWidth, clipped: []};
  const scrolls = (el) => ['auto', 'scroll', 'hidden', 'clip'].includes(getComputedStyle(el).overflowX);
  for (const el of document.querySelectorAll('table, svg, figure, .legend, p, h1, h2')) {
    const r = el.getBoundingClientRect();
    const name = el.tagName + ':' + (el.textContent || '').slice(0, 40);
    let worst = r.right - innerWidth;
    if (scrolls(el)) worst = Math.max(worst, el.scrollWidth - el.clientWidth);
    for (let a = el.parentElement; a && a !== document.documentElement; a = a.parentElement) {
      if (scrolls(a)) {
        const box = a.getBoundingClientRect();
        worst = Math.max(worst, r.right - (box.left + a.clientLeft + a.clientWidth));
      }
    }
    if (worst > 1) out.clipped.push([name, Math.round(worst)]);
  }
  const pre = document.createElement('pre');
  pre.id = 'kt-measure';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def wide_sweep(d: Path) -> Path:
    """A sweep.json shaped like a real one with three long parameter paths (the new-user audit's sweep,
    whose Points table was cut off at the right edge)."""
    params = ["spec.cluster.nodePools[name=h100].autoscaling.maxCount", "spec.autoscaler.scaleDownUnneededTime",
              'spec.workloads[name=finetune].template.requests["nvidia.com/gpu"]']
    points: list[dict[str, Any]] = []
    for i in range(12):
        values = {params[0]: 4 + 2 * (i // 4), params[1]: "5m" if i % 4 < 2 else "20m", params[2]: str(4 * (1 + i % 2))}
        mean = {"waitSeconds.p95": 850.0 + 731.5 * i, "cost.total": 1719.77 + 61.3 * i, "gpu.allocationRatio": 0.7317}
        points.append({"point": i, "parameters": values, "runs": 3, "failed": 0, "mean": mean,
                       "ci95Low": {"waitSeconds.p95": 100.0 * i}, "ci95High": {"waitSeconds.p95": 2000.0 + 900 * i}})
    body = {"apiVersion": "kubetwin.dev/v1alpha1", "kind": "SweepResult", "sweep": "newuser-h100-autoscaling",
            "seeds": 3, "parameters": params, "runsPlanned": 36, "runsDone": 36, "runsFailed": 0,
            "objective": {"minimize": "cost.total", "subjectTo": ["waitSeconds.p95 < 10m", "pods.pendingAtEnd < 1"]},
            "meetsObjective": [{"point": p["point"], "parameters": p["parameters"],
                                "cost.total": p["mean"]["cost.total"]} for p in points[:5]],
            "frontier": {"x": "waitSeconds.p95", "y": "cost.total", "points": [0, 2]}, "points": points, "runs": []}
    d.mkdir(parents=True, exist_ok=True)
    (d / "sweep.json").write_text(json.dumps(body), encoding="utf-8")
    return d


@pytest.mark.skipif(_chromium() is None, reason="chromium is not installed (Debian: apt-get install chromium); "
                                                "CI installs it")
@pytest.mark.parametrize("kind", ["run", "compare", "sweep", "wide-sweep"])
def test_report_content_fits_a_1280_px_viewport(outputs: dict[str, Path], tmp_path: Path, kind: str) -> None:
    """Every table, plot and legend can be seen whole in a 1280-px-wide window: none reaches past the
    viewport, none is cut by a scrolling ancestor and none hides columns behind its own scrollbar."""
    src = wide_sweep(tmp_path / "wide") if kind == "wide-sweep" else outputs[kind]
    page, _ = render_report(src)
    html = tmp_path / "measured.html"
    html.write_text(page.replace("</body>", _MEASURE + "</body>"), encoding="utf-8")
    proc = subprocess.run(
        [str(_chromium()), "--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + str(tmp_path / "p"),
         "--window-size=1280,1000", "--dump-dom", html.as_uri()],
        capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    m = re.search(r'<pre id="kt-measure">(.*?)</pre>', proc.stdout, re.S)
    assert m is not None, proc.stdout[-2000:]
    got = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))
    assert got["page"] <= 0, got
    assert got["clipped"] == []
