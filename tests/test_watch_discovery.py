"""Discovery decides which kinds to watch; a whole recording only ever sends GET, never to Secrets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fakeapi import FakeAPI, Fault, Resource, SleepLog

from validator.live.kubeclient import RestKubeClient
from validator.live.raw import read_raw
from validator.live.recorder import record
from validator.live.watch import KINDS, Stream, Tuning, discover


@pytest.fixture
async def fake() -> AsyncIterator[FakeAPI]:
    api = FakeAPI()
    await api.start()
    yield api
    await api.stop()


async def test_discovery_picks_served_versions_and_skips_the_rest(fake: FakeAPI) -> None:
    client = RestKubeClient.for_host(fake.url)
    try:
        streams, skipped = await discover(client, KINDS, namespaces=["ml", "infra"])
    finally:
        await client.close()
    ids = {s.id for s in streams}
    assert "kueue.x-k8s.io/v1beta1/workloads" in ids  # v1beta2 is not served here, v1beta1 is
    assert "resource.k8s.io/v1/resourceclaims" in ids
    assert not any("secrets" in i for i in ids)
    skipped_ids = {s for s, _ in skipped}
    assert {"apps/v1/deployments", "scheduling.k8s.io/v1beta1/workloads",
            "scheduling.x-k8s.io/v1alpha1/podgroups"} <= skipped_ids
    assert Stream("", "v1", "pods", "ml") in streams and Stream("", "v1", "pods", "infra") in streams
    assert Stream("", "v1", "nodes") in streams  # cluster-scoped: no namespace filter
    assert all(q.method == "GET" for q in fake.requests)


async def test_prefers_kueue_v1beta2_when_served() -> None:
    fake = FakeAPI(resources=(Resource("kueue.x-k8s.io", "v1beta1", "workloads", "Workload", True),
                              Resource("kueue.x-k8s.io", "v1beta2", "workloads", "Workload", True)))
    await fake.start()
    client = RestKubeClient.for_host(fake.url)
    try:
        streams, _ = await discover(client, KINDS)
    finally:
        await client.close()
        await fake.stop()
    assert [s.id for s in streams] == ["kueue.x-k8s.io/v1beta2/workloads"]


async def test_a_whole_recording_sends_only_get_never_to_secrets(fake: FakeAPI, tmp_path: Path) -> None:
    fake.create("secrets", {"metadata": {"name": "creds"}, "data": {"token": "czNjcmV0"}})
    fake.create("pods", {"metadata": {"name": "p"}, "spec": {"containers": [
        {"name": "c", "env": [{"name": "TOKEN", "value": "s3cret"}]}]}})
    fake.create("nodes", {"metadata": {"name": "n1"}})
    fake.faults.extend([Fault("watch", "pods", after=0, action="abort"),
                        Fault("watch", "nodes", status=500),
                        Fault("list", "events", status=429, retry_after=0)])
    client = RestKubeClient.for_host(fake.url, read_timeout=1.0)
    stop = asyncio.Event()

    async def drive() -> None:
        await asyncio.sleep(0.2)
        fake.update("pods", "p", lambda o: o["spec"]["containers"][0]["env"].append(
            {"name": "PASSWORD", "value": "hunter2"}))
        fake.create("pods", {"metadata": {"name": "q"}, "spec": {"initContainers": [
            {"name": "i", "env": [{"name": "KEY", "value": "s3cret"}]}]}})
        await asyncio.sleep(0.3)
        stop.set()

    try:
        driver = asyncio.create_task(drive())
        result = await record(client, tmp_path, context="fake", version="0.1.0", stop=stop, seed=1,
                              tuning=Tuning(min_watch_seconds=0.0), sleep=SleepLog(), handle_signals=False,
                              fsync=False)
        await driver
    finally:
        await client.close()
    assert {q.method for q in fake.requests} == {"GET"}
    assert not any("secrets" in q.path for q in fake.requests)
    text = (tmp_path / "raw.jsonl").read_text()
    assert "s3cret" not in text and "hunter2" not in text and "czNjcmV0" not in text
    raw = read_raw(tmp_path / "raw.jsonl")
    assert raw.records[0]["type"] == "RECORDING_STARTED" and raw.records[0]["context"] == "fake"
    assert raw.records[-1] == raw.records[-1] | {"type": "RECORDING_STOPPED", "why": "stopped"}
    skipped = {r["stream"] for r in raw.records if r["type"] == "SKIPPED"}
    assert "apps/v1/deployments" in skipped
    names = {r["object"]["metadata"]["name"] for r in raw.records
             if r.get("stream") == "core/v1/pods" and "object" in r}
    assert names == {"p", "q"}
    assert result.counts["core/v1/pods"]["GAP"] >= 1
