"""The recorder end to end: input errors, a timed run, SIGTERM, and SIGKILL at random moments."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from fakeapi import FakeAPI
from rich.console import Console

from kubetwin.cmd_record import run_record
from models.errors import InputError
from validator.live.kubeclient import connect
from validator.live.raw import read_raw
from validator.live.recorder import prepare_output

ROOT = Path(__file__).resolve().parent.parent


def kubeconfig(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(f"""apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: {url}
users:
- name: me
  user:
    token: do-not-log-me
contexts:
- name: fake-ctx
  context: {{cluster: fake, user: me}}
- name: other
  context: {{cluster: fake, user: me}}
current-context: fake-ctx
""")
    return path


@pytest.fixture
async def fake() -> AsyncIterator[FakeAPI]:
    api = FakeAPI(max_watch_seconds=0.5)
    await api.start()
    for i in range(3):
        api.create("pods", {"metadata": {"name": f"p{i}"}})
    yield api
    await api.stop()


async def churn(fake: FakeAPI, stop: asyncio.Event) -> None:
    i = 0

    def label(step: int) -> Callable[[dict[str, Any]], None]:
        def fn(o: dict[str, Any]) -> None:
            o["metadata"]["labels"] = {"step": str(step)}
        return fn

    while not stop.is_set():
        i += 1
        fake.update("pods", f"p{i % 3}", label(i))
        await asyncio.sleep(0.002)


def quiet() -> Console:
    return Console(stderr=True, quiet=True)


def test_bad_duration(tmp_path: Path) -> None:
    with pytest.raises(InputError) as e:
        run_record(tmp_path, context=None, kubeconfig=None, namespaces=[], duration="10", seed=0,
                   console=quiet())
    assert e.value.field == "--duration"


def test_missing_kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(InputError) as e:
        run_record(tmp_path, context=None, kubeconfig=str(tmp_path / "nope"), namespaces=[], duration="1s",
                   seed=0, console=quiet())
    assert e.value.field == "--kubeconfig" and "nope" in str(e.value.file)


def test_unknown_context_suggests_a_close_one(tmp_path: Path) -> None:
    cfg = kubeconfig(tmp_path, "http://127.0.0.1:1")
    with pytest.raises(InputError) as e:
        run_record(tmp_path / "out", context="fake-ctxx", kubeconfig=str(cfg), namespaces=[],
                   duration="1s", seed=0, console=quiet())
    assert e.value.field == "--context" and "fake-ctx" in str(e.value.fix)
    assert "do-not-log-me" not in e.value.render()


async def test_connect_uses_the_kubeconfig_and_names_the_context(fake: FakeAPI, tmp_path: Path) -> None:
    conn = await connect(kubeconfig=str(kubeconfig(tmp_path, fake.url)), context="other")
    try:
        assert conn.context == "other"
        assert await conn.client.get_json("/api/v1") is not None
        assert await conn.client.get_json("/apis/nope.example.com/v1") is None
    finally:
        await conn.client.close()


def test_refuses_to_overwrite_a_recording(tmp_path: Path) -> None:
    (tmp_path / "raw.jsonl").write_text('{"seq":1}\n')
    with pytest.raises(InputError) as e:
        prepare_output(tmp_path)
    assert e.value.field == "-o"


def _spawn_args(out: Path, cfg: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "kubetwin.cmd_record", "-o", str(out), "--kubeconfig", str(cfg), *extra]


async def _wait_for_records(path: Path, n: int, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        if path.exists() and path.read_bytes().count(b"\n") >= n:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{path} did not reach {n} records")


async def test_duration_run_in_a_subprocess_writes_raw_and_timeline(fake: FakeAPI, tmp_path: Path) -> None:
    cfg = kubeconfig(tmp_path, fake.url)
    stop = asyncio.Event()
    driver = asyncio.create_task(churn(fake, stop))
    proc = await asyncio.create_subprocess_exec(*_spawn_args(tmp_path / "out", cfg, "--duration", "1500ms"),
                                                cwd=ROOT, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    stop.set()
    await driver
    assert proc.returncode == 0, err.decode()
    assert b"do-not-log-me" not in err
    raw = read_raw(tmp_path / "out" / "raw.jsonl")
    assert raw.torn is None and raw.stopped and raw.records[-1]["why"] == "duration"
    assert raw.records[0]["context"] == "fake-ctx"
    assert b"do-not-log-me" not in (tmp_path / "out" / "raw.jsonl").read_bytes()
    try:
        import validator.normalize  # noqa: F401
    except ImportError:
        return
    assert (tmp_path / "out" / "timeline.jsonl").exists()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_signal_stops_cleanly(fake: FakeAPI, tmp_path: Path, sig: signal.Signals) -> None:
    cfg = kubeconfig(tmp_path, fake.url)
    stop = asyncio.Event()
    driver = asyncio.create_task(churn(fake, stop))
    out = tmp_path / "out"
    proc = await asyncio.create_subprocess_exec(*_spawn_args(out, cfg), cwd=ROOT,
                                                stderr=asyncio.subprocess.DEVNULL)
    try:
        await _wait_for_records(out / "raw.jsonl", 30)
        proc.send_signal(sig)
        await asyncio.wait_for(proc.wait(), 20)
    finally:
        stop.set()
        await driver
    assert proc.returncode == 0
    raw = read_raw(out / "raw.jsonl")
    assert raw.torn is None and raw.records[-1]["type"] == "RECORDING_STOPPED"
    assert raw.records[-1]["why"] == sig.name


async def test_sigkill_at_random_moments_loses_no_complete_record(fake: FakeAPI, tmp_path: Path) -> None:
    cfg = kubeconfig(tmp_path, fake.url)
    rng = random.Random(20261128)
    stop = asyncio.Event()
    driver = asyncio.create_task(churn(fake, stop))
    try:
        for attempt in range(3):
            out = tmp_path / f"run{attempt}"
            proc = await asyncio.create_subprocess_exec(*_spawn_args(out, cfg), cwd=ROOT,
                                                        stderr=asyncio.subprocess.DEVNULL)
            await _wait_for_records(out / "raw.jsonl", 5)
            await asyncio.sleep(rng.uniform(0.0, 0.4))
            os.kill(proc.pid, signal.SIGKILL)
            await proc.wait()
            raw = read_raw(out / "raw.jsonl")  # raises on any damage before the last line
            seqs = [r["seq"] for r in raw.records]
            assert seqs == list(range(1, len(seqs) + 1))
            assert raw.records[0]["type"] == "RECORDING_STARTED"
            assert not raw.stopped
            data = (out / "raw.jsonl").read_bytes()
            complete = data.count(b"\n")
            assert len(raw.records) >= complete  # every newline-terminated record came back
            if raw.torn:
                assert raw.torn.endswith(f":{complete + 1}")
    finally:
        stop.set()
        await driver


@pytest.mark.e2e
def test_record_a_real_cluster_for_a_few_seconds(tmp_path: Path) -> None:
    run_record(tmp_path, context=None, kubeconfig=None, namespaces=[], duration="5s", seed=0, console=quiet())
    raw = read_raw(tmp_path / "raw.jsonl")
    assert raw.stopped and any(r["type"] == "LIST_END" for r in raw.records)
