"""CLI outputs (issue 14 items 9 and 13): unusable output paths are clear errors (exit 2, no traceback),
``--json -`` is stdout and nothing else, ``--version``, exit codes in every verb's help, an 80-column
Kueue table, and summary.json's rounding and version."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from cli_helpers import run_cli
from rich.console import Console
from timeline_builder import TL

from kubetwin import __version__
from kubetwin.cmd_simulate import queues_table, summary_document

REPO = Path(__file__).resolve().parent.parent
QUICKSTART = REPO / "scenarios" / "quickstart.yaml"


def clean_error(code: int, err: str) -> str:
    assert code == 2, err
    assert "Traceback" not in err
    assert err.startswith("error: "), err
    return err


def timeline(tmp_path: Path) -> Path:
    tl = TL().node("n1", cpu="8", memory="32Gi")
    tl.pod("a/p1", 1, cpu="1").bind("a/p1", "n1", 2)
    return tl.write(tmp_path / "timeline.jsonl")


# ------------------------------------------------------------------------------------------- simulate -o

def test_simulate_out_is_a_file(tmp_path: Path) -> None:
    f = tmp_path / "taken"
    f.write_text("x", encoding="utf-8")
    err = clean_error(*run_cli("simulate", str(QUICKSTART), "-o", str(f))[::2])
    assert "exists and is a file, not a directory" in err and str(f) in err


def test_simulate_out_below_a_file(tmp_path: Path) -> None:
    f = tmp_path / "taken"
    f.write_text("x", encoding="utf-8")
    err = clean_error(*run_cli("simulate", str(QUICKSTART), "-o", str(f / "sub"))[::2])
    assert "cannot create the output directory" in err


def test_simulate_out_holds_a_directory_named_like_an_output(tmp_path: Path) -> None:
    (tmp_path / "out" / "summary.json").mkdir(parents=True)
    err = clean_error(*run_cli("simulate", str(QUICKSTART), "-o", str(tmp_path / "out"))[::2])
    assert "summary.json inside it is a directory" in err


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux) to make writes fail with ENOSPC")
def test_simulate_on_a_full_disk_says_so_in_one_line(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "timeline.jsonl").symlink_to("/dev/full")  # every write there fails: "No space left on device"
    err = clean_error(*run_cli("simulate", str(QUICKSTART), "-o", str(out))[::2])
    assert "writing the run's output failed: No space left on device" in err and str(out) in err
    assert "choose another directory with -o" in err


# ------------------------------------------------------------------------------------------- validate

def test_validate_json_to_a_directory(tmp_path: Path) -> None:
    tl = timeline(tmp_path)
    err = clean_error(*run_cli("validate", str(tl), "--json", str(tmp_path))[::2])
    assert "--json: is a directory" in err


def test_validate_junit_in_a_missing_directory(tmp_path: Path) -> None:
    tl = timeline(tmp_path)
    err = clean_error(*run_cli("validate", str(tl), "--junit", str(tmp_path / "no" / "r.xml"))[::2])
    assert "--junit: its directory does not exist" in err


def test_validate_json_dash_is_stdout_only(tmp_path: Path) -> None:
    tl = timeline(tmp_path)
    code, out, err = run_cli("validate", str(tl), "--json", "-")
    assert code == 0, err
    report = json.loads(out)  # stdout holds the report and nothing else
    assert report["ok"] is True and report["events"] == len(TL().events) + 3
    assert "capacity" in err  # the table went to stderr
    assert not (Path.cwd() / "-").exists()


def test_validate_junit_dash_is_stdout_only(tmp_path: Path) -> None:
    code, out, _ = run_cli("validate", str(timeline(tmp_path)), "--junit", "-")
    assert code == 0
    assert out.startswith("<?xml") and out.rstrip().endswith("</testsuites>")


def test_validate_both_to_stdout_is_refused(tmp_path: Path) -> None:
    err = clean_error(*run_cli("validate", str(timeline(tmp_path)), "--json", "-", "--junit", "-")[::2])
    assert "cannot both write to stdout" in err


# ------------------------------------------------------------------------------------------- record -o

def test_record_out_is_a_file(tmp_path: Path) -> None:
    f = tmp_path / "taken"
    f.write_text("x", encoding="utf-8")
    err = clean_error(*run_cli("record", "-o", str(f), "--kubeconfig", str(tmp_path / "none"))[::2])
    assert "exists and is a file" in err


def test_record_failing_before_listing_leaves_no_directory(tmp_path: Path) -> None:
    out = tmp_path / "rec"
    err = clean_error(*run_cli("record", "-o", str(out), "--kubeconfig", str(tmp_path / "missing-kubeconfig"))[::2])
    assert "kubeconfig" in err
    assert f"nothing was recorded and {out} was not kept" in err
    assert "recording into" not in err
    assert not out.exists()


def test_record_failure_keeps_a_directory_that_existed(tmp_path: Path) -> None:
    out = tmp_path / "rec"
    out.mkdir()
    clean_error(*run_cli("record", "-o", str(out), "--kubeconfig", str(tmp_path / "missing-kubeconfig"))[::2])
    assert out.is_dir() and list(out.iterdir()) == []


# ------------------------------------------------------------------------------------------- item 13

def test_version() -> None:
    code, out, _ = run_cli("--version")
    assert (code, out) == (0, f"kubetwin {__version__}\n")


@pytest.mark.parametrize(("verb", "codes"), [
    ((), ["0 success", "1 an invariant", "2 unusable input", "3 conformance", "130 interrupted"]),
    (("simulate",), ["0 the run finished", "2 unusable input", "130 interrupted"]),
    (("validate",), ["0 every invariant holds", "1 at least one is violated", "2 the input is unusable"]),
    (("record",), ["0 recorded", "2 unusable input"]),
    (("conformance",), ["0 every requirement passes", "1 at least one fails", "2 the cluster could not be probed",
                        "3 none fails"]),
])
def test_help_documents_exit_codes(verb: tuple[str, ...], codes: list[str]) -> None:
    code, out, _ = run_cli(*verb, "--help")
    assert code == 0
    text = " ".join(out.replace("│", " ").split())
    assert "Exit codes:" in text
    for c in codes:
        assert c in text, (c, text)


def _queue(name_usage: float) -> dict[str, object]:
    return {"workloads": 2345, "admitted": 1234, "pendingAtEnd": 17, "evictions": {"Preempted": 12},
            "timeToAdmission": {"p50": 1234.5, "p95": 98765.0, "max": 123456.0},
            "usage": {"h100": {"nvidia.com/gpu": {"utilization": name_usage}}}}


def test_kueue_table_headers_fit_80_columns() -> None:
    table = queues_table({"queues": {"clusterQueues": {"platform-research": _queue(0.953), "b": _queue(0.2)}}})
    assert table is not None
    console = Console(width=80, record=True, file=io.StringIO())
    console.print(table)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text
    for word in ("Cluster", "Queue", "admitted", "total", "pending", "at end", "wait", "p50", "p95", "max",
                 "evicted", "busiest", "quota"):
        assert word in text, word
    assert "1234/2345" in text and "20.6m" in text and "27.4h" in text and "34.3h" in text


def test_summary_document_rounds_floats_and_names_the_version() -> None:
    doc = summary_document({"scenario": "x", "waitSeconds": {"p50": 1.23456789, "max": 2.0, "tiny": -0.0001},
                            "gpu": {"allocationRatio": 0.6666666}, "series": [0.33333, 7], "pods": {"total": 3}})
    assert doc == {"kubetwinVersion": __version__, "scenario": "x",
                   "waitSeconds": {"p50": 1.235, "max": 2.0, "tiny": 0.0}, "gpu": {"allocationRatio": 0.667},
                   "series": [0.333, 7], "pods": {"total": 3}}
    assert next(iter(doc)) == "kubetwinVersion"
    assert json.dumps(doc["waitSeconds"]["tiny"]) == "0.0"


def test_simulate_writes_version_and_rounded_floats(tmp_path: Path) -> None:
    code, out, err = run_cli("simulate", str(QUICKSTART), "-o", str(tmp_path / "o"), "--json", "--until", "30m")
    assert code == 0, err
    summary = json.loads((tmp_path / "o" / "summary.json").read_text(encoding="utf-8"))
    assert summary["kubetwinVersion"] == __version__
    assert json.loads(out) == summary

    def floats(v: object) -> list[float]:
        if isinstance(v, float):
            return [v]
        if isinstance(v, dict):
            return [f for x in v.values() for f in floats(x)]
        if isinstance(v, list):
            return [f for x in v for f in floats(x)]
        return []

    assert all(round(f, 3) == f for f in floats(summary))


def test_conformance_json_dash_is_stdout_only(capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    from kubetwin import cmd_conformance

    docs: dict[str, dict[str, object]] = {"/version": {"major": "1", "minor": "35", "gitVersion": "v1.35.1"},
                                          "/apis": {"kind": "APIGroupList", "groups": []}}

    async def get_json(path: str) -> dict[str, object] | None:
        return docs.get(path.split("?", 1)[0])

    code = asyncio.run(cmd_conformance.run(get_json, json_path=Path("-")))
    out, err = capsys.readouterr()
    report = json.loads(out)  # stdout holds the JSON report and nothing else
    assert isinstance(report, dict) and code in (0, 1, 3)
    assert "Kubernetes AI Conformance" in err
    assert not Path("-").exists()
