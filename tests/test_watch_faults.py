"""The fault matrix: the real kubernetes_asyncio transport over a real socket against the fake
apiserver; every case must record each change the server emitted exactly once, in RV order."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from fakeapi import FakeAPI, Fault, SleepLog, assert_faithful, caught_up

from validator.live.kubeclient import RestKubeClient
from validator.live.raw import RawWriter, read_raw
from validator.live.watch import Stream, Tuning, Watcher

PODS = Stream("", "v1", "pods")
FAST = Tuning(min_watch_seconds=0.0)


@pytest.fixture
async def fake() -> AsyncIterator[FakeAPI]:
    api = FakeAPI()
    await api.start()
    yield api
    await api.stop()


def pod(name: str, **extra: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "default", "labels": {"app": "train"}},
            "spec": {"containers": [{"name": "main", "image": "trainer:1"}], **extra},
            "status": {"phase": "Pending"}}


def bump(i: int) -> Callable[[dict[str, Any]], None]:
    def fn(o: dict[str, Any]) -> None:
        o["metadata"].setdefault("annotations", {})["step"] = str(i)
    return fn


async def churn(fake: FakeAPI, n: int, names: tuple[str, ...] = ("p0", "p1", "p2"),
                gap: float = 0.01) -> None:
    for i in range(n):
        await asyncio.sleep(gap)
        fake.update("pods", names[i % len(names)], bump(i))


async def record_stream(fake: FakeAPI, tmp_path: Path, stream: Stream,
                        mutate: Callable[[], Awaitable[None]], *, sleep: SleepLog | None = None,
                        tuning: Tuning = FAST,
                        read_timeout: float = 5.0) -> tuple[list[dict[str, Any]], Watcher]:
    client = RestKubeClient.for_host(fake.url, read_timeout=read_timeout)
    writer = RawWriter(tmp_path / "raw.jsonl", fsync=False)
    w = Watcher(client, stream, writer, rng=random.Random(7), tuning=tuning, sleep=sleep or SleepLog())
    task = asyncio.create_task(w.run())
    try:
        while w.lists == 0 and not task.done():  # changes start after the initial state is listed
            await asyncio.sleep(0.005)
        await mutate()
        await caught_up(fake, [w])
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        writer.close()
        await client.close()
    return read_raw(tmp_path / "raw.jsonl").records, w


def seed(fake: FakeAPI, n: int = 3) -> tuple[int, dict[str, str]]:
    for i in range(n):
        fake.create("pods", pod(f"p{i}"))
    return fake.rv, fake.state("core/v1/pods")


def types(records: list[dict[str, Any]]) -> list[str]:
    return [r["type"] for r in records]


def gaps(records: list[dict[str, Any]]) -> list[str]:
    return [r["why"] for r in records if r["type"] == "GAP"]


async def test_plain_list_then_watch(fake: FakeAPI, tmp_path: Path) -> None:
    since = seed(fake)
    records, _ = await record_stream(fake, tmp_path, PODS, lambda: churn(fake, 6))
    assert types(records)[:5] == ["LIST_BEGIN", "LIST_ITEM", "LIST_ITEM", "LIST_ITEM", "LIST_END"]
    assert gaps(records) == []
    assert_faithful(records, fake, PODS.id, lossless_since=since)
    watch = next(q for q in fake.requests if q.query.get("watch") == "true")
    assert watch.query["allowWatchBookmarks"] == "true"
    assert 300 <= int(watch.query["timeoutSeconds"]) <= 600
    assert watch.query["resourceVersion"] == records[4]["rv"]  # watch starts at the list's RV


async def test_in_stream_410_relists_and_synthesizes_deletes(fake: FakeAPI, tmp_path: Path) -> None:
    seed(fake)

    def during_gap() -> None:  # the client is away: p1 changes twice, p2 goes, history is compacted
        fake.update("pods", "p1", bump(100))
        fake.update("pods", "p1", bump(101))
        fake.delete("pods", "p2")
        fake.compact()

    fake.faults.append(Fault("watch", "pods", after=2, action="error410", then=during_gap))
    records, w = await record_stream(fake, tmp_path, PODS, lambda: churn(fake, 4, ("p0",)))
    assert "410" in gaps(records)
    i = types(records).index("RELIST")
    assert records[i - 1]["type"] == "GAP" and records[i + 1]["type"] == "LIST_BEGIN"
    synthetic = [r for r in records if r.get("synthetic")]
    assert [r["object"]["metadata"]["name"] for r in synthetic] == ["p2"]
    assert synthetic[0]["type"] == "DELETED"
    assert_faithful(records, fake, PODS.id)
    assert w.lists == 2


async def test_watch_from_compacted_rv_gets_410(fake: FakeAPI, tmp_path: Path) -> None:
    seed(fake)

    def change_and_compact() -> None:
        fake.update("pods", "p1", bump(99))
        fake.compact()

    fake.faults.append(Fault("watch", "pods", after=1, action="eof", then=change_and_compact))
    records, _ = await record_stream(fake, tmp_path, PODS, lambda: churn(fake, 4))
    assert "410" in gaps(records) and "RELIST" in types(records)
    assert_faithful(records, fake, PODS.id)


async def test_http_410_on_list(fake: FakeAPI, tmp_path: Path) -> None:
    since = seed(fake)
    fake.faults.append(Fault("list", "pods", status=410))
    records, _ = await record_stream(fake, tmp_path, PODS, lambda: churn(fake, 4))
    assert gaps(records) == ["410"]
    assert_faithful(records, fake, PODS.id, lossless_since=since)


async def test_http_410_on_watch(fake: FakeAPI, tmp_path: Path) -> None:
    seed(fake)
    fake.faults.append(Fault("watch", "pods", status=410))
    records, w = await record_stream(fake, tmp_path, PODS, lambda: churn(fake, 4))
    assert gaps(records) == ["410"] and types(records).count("RELIST") == 1
    assert w.lists == 2
    assert_faithful(records, fake, PODS.id)


async def test_bookmarks_move_the_resume_point(fake: FakeAPI, tmp_path: Path) -> None:
    since = seed(fake)
    fake.faults.append(Fault("watch", "pods", after=1, action="bookmark", end=True))

    async def mutate() -> None:
        await asyncio.sleep(0.05)
        fake.update("pods", "p0", bump(0))
        fake.create("nodes", {"metadata": {"name": "n1"}})  # moves the shared RV past the pods'
        await churn(fake, 3)

    records, _ = await record_stream(fake, tmp_path, PODS, mutate)
    bookmarks = [r for r in records if r["type"] == "BOOKMARK"]
    assert bookmarks and bookmarks[0]["rv"] == str(since[0] + 2) and "object" not in bookmarks[0]
    resumed = [q.query["resourceVersion"] for q in fake.requests if q.query.get("watch")]
    assert bookmarks[0]["rv"] in resumed[1:]
    assert_faithful(records, fake, PODS.id, lossless_since=since)


async def test_periodic_bookmarks(fake: FakeAPI, tmp_path: Path) -> None:
    since = seed(fake)
    fake.bookmark_interval = 0.05

    async def slow() -> None:
        await churn(fake, 3, gap=0.08)

    records, _ = await record_stream(fake, tmp_path, PODS, slow)
    assert types(records).count("BOOKMARK") >= 2
    assert_faithful(records, fake, PODS.id, lossless_since=since)


async def test_clean_end_of_stream_resumes_without_gap(fake: FakeAPI, tmp_path: Path) -> None:
    since = seed(fake)
    fake.faults.extend([Fault("watch", "pods", after=2, action="eof"),
                        Fault("watch", "pods", after=1, action="eof")])
    records, w = await record_stream(fake, tmp_path, PODS, lambda: churn(fake, 8))
    assert gaps(records) == [] and w.lists == 1 and w.watches >= 3
    assert_faithful(records, fake, PODS.id, lossless_since=since)


async def test_stall_past_read_timeout(fake: FakeAPI, tmp_path: Path) -> None:
    since = seed(fake)
    fake.faults.append(Fault("watch", "pods", after=2, action="stall", stall=1.0))
    records, w = await record_stream(fake, tmp_path, PODS, lambda: churn(fake, 6), read_timeout=0.25)
    assert gaps(records) == ["read-timeout"] and w.lists == 1
    assert_faithful(records, fake, PODS.id, lossless_since=since)


async def test_tcp_abort_mid_chunk(fake: FakeAPI, tmp_path: Path) -> None:
    since = seed(fake)
    fake.faults.append(Fault("watch", "pods", after=2, action="abort"))
    records, w = await record_stream(fake, tmp_path, PODS, lambda: churn(fake, 6))
    assert gaps(records) == ["disconnect"] and w.lists == 1
    assert_faithful(records, fake, PODS.id, lossless_since=since)


async def test_non_json_line(fake: FakeAPI, tmp_path: Path) -> None:
    since = seed(fake)
    fake.faults.append(Fault("watch", "pods", after=1, action="badline"))
    records, w = await record_stream(fake, tmp_path, PODS, lambda: churn(fake, 6))
    assert gaps(records) == ["bad-line"] and w.lists == 1
    assert_faithful(records, fake, PODS.id, lossless_since=since)


async def test_429_honours_retry_after(fake: FakeAPI, tmp_path: Path) -> None:
    since = seed(fake)
    fake.faults.append(Fault("watch", "pods", status=429, retry_after=1))
    sleep = SleepLog(cap=None)  # really wait, then check the wall clock between the requests
    records, _ = await record_stream(fake, tmp_path, PODS, lambda: churn(fake, 3), sleep=sleep,
                                     tuning=Tuning(backoff_initial=0.01, min_watch_seconds=0.0))
    assert gaps(records) == ["429"]
    assert sleep.delays and sleep.delays[0] >= 1.0
    watches = [q for q in fake.requests if q.query.get("watch")]
    assert watches[1].at - watches[0].at >= 1.0
    assert_faithful(records, fake, PODS.id, lossless_since=since)


async def test_500s_back_off_exponentially_then_reset(fake: FakeAPI, tmp_path: Path) -> None:
    since = seed(fake)
    fake.faults.extend([Fault("watch", "pods", status=500) for _ in range(3)])
    fake.faults.append(Fault("list", "pods", status=503))
    sleep = SleepLog()

    async def later() -> None:
        await asyncio.sleep(0.2)  # after the retried first list, so the baseline state is the list's
        await churn(fake, 4)

    records, _ = await record_stream(fake, tmp_path, PODS, later, sleep=sleep)
    assert gaps(records) == ["http-5xx"] * 4
    d = sleep.delays
    assert 0.1 <= d[0] < 0.2  # the failed first list: retried within 200 ms
    assert 0.8 <= d[1] <= 1.6  # watch failures have their own backoff, untouched by the list's
    assert 1.6 <= d[2] <= 3.2 and 3.2 <= d[3] <= 6.4
    assert_faithful(records, fake, PODS.id, lossless_since=since)


async def test_backoff_is_deterministic_and_capped() -> None:
    from validator.live.watch import Backoff
    a = [Backoff(random.Random(3), 0.8, 30.0).next() for _ in range(1)]
    b1, b2 = Backoff(random.Random(3), 0.8, 30.0), Backoff(random.Random(3), 0.8, 30.0)
    s1, s2 = [b1.next() for _ in range(10)], [b2.next() for _ in range(10)]
    assert s1 == s2 and s1[0] == a[0] and max(s1) <= 30.0 and s1[-1] == 30.0


CLAIM = {
    "metadata": {"name": "dra-gpu-example-8df4b9554-bb8qn-single-gpu-gghvh", "namespace": "gpu-test1",
                 "generateName": "dra-gpu-example-8df4b9554-bb8qn-single-gpu-",
                 "annotations": {"resource.kubernetes.io/pod-claim-name": "single-gpu"},
                 "ownerReferences": [{"apiVersion": "v1", "kind": "Pod",
                                      "name": "dra-gpu-example-8df4b9554-bb8qn",
                                      "uid": "5a1c7e0e-3f7a-4c53-9a43-2b9a8d2c0f11", "controller": True,
                                      "blockOwnerDeletion": True}],
                 "managedFields": [{"manager": "kube-controller-manager", "operation": "Update"}]},
    "spec": {"devices": {"requests": [{"name": "single-gpu", "exactly": {
        "deviceClassName": "gpu.nvidia.com", "allocationMode": "ExactCount", "count": 1}}]}},
    "status": {},
}


async def test_resourceclaim_watch(fake: FakeAPI, tmp_path: Path) -> None:
    stream = Stream("resource.k8s.io", "v1", "resourceclaims")
    fake.create("resourceclaims", CLAIM)
    since = (fake.rv, fake.state(stream.id))
    name, ns = CLAIM["metadata"]["name"], "gpu-test1"  # type: ignore[index]

    def allocate(o: dict[str, Any]) -> None:
        o["status"] = {"allocation": {
            "devices": {"results": [{"request": "single-gpu", "driver": "gpu.nvidia.com",
                                     "pool": "worker-gpu-0", "device": "gpu-0"}]},
            "nodeSelector": {"nodeSelectorTerms": [{"matchFields": [
                {"key": "metadata.name", "operator": "In", "values": ["worker-gpu-0"]}]}]}}}

    def reserve(o: dict[str, Any]) -> None:
        o["status"]["reservedFor"] = [{"resource": "pods", "name": "dra-gpu-example-8df4b9554-bb8qn",
                                       "uid": "5a1c7e0e-3f7a-4c53-9a43-2b9a8d2c0f11"}]

    fake.faults.append(Fault("watch", "resourceclaims", after=2, action="abort"))

    async def lifecycle() -> None:
        await asyncio.sleep(0.05)
        fake.update("resourceclaims", name, allocate, namespace=ns)
        fake.update("resourceclaims", name, reserve, namespace=ns)
        await asyncio.sleep(0.05)
        fake.delete("resourceclaims", name, namespace=ns)

    records, _ = await record_stream(fake, tmp_path, stream, lifecycle)
    assert [r["type"] for r in records if r.get("stream") == stream.id and "object" in r] == [
        "LIST_ITEM", "MODIFIED", "MODIFIED", "DELETED"]
    alloc = records[types(records).index("MODIFIED")]["object"]["status"]["allocation"]
    assert alloc["devices"]["results"][0]["driver"] == "gpu.nvidia.com"  # raw JSON, nothing dropped
    assert all("managedFields" not in r.get("object", {}).get("metadata", {}) for r in records)
    assert_faithful(records, fake, stream.id, lossless_since=since)


async def test_pagination_and_namespace_filter(fake: FakeAPI, tmp_path: Path) -> None:
    for i in range(5):
        fake.create("pods", pod(f"a{i}") | {"metadata": {"name": f"a{i}", "namespace": "team-a"}})
    fake.create("pods", pod("b0") | {"metadata": {"name": "b0", "namespace": "team-b"}})
    stream = Stream("", "v1", "pods", "team-a")

    async def mutate() -> None:
        await asyncio.sleep(0.05)
        fake.update("pods", "b0", bump(1), namespace="team-b")
        fake.update("pods", "a1", bump(1), namespace="team-a")

    records, _ = await record_stream(fake, tmp_path, stream, mutate,
                                     tuning=Tuning(page_limit=2, min_watch_seconds=0.0))
    lists = [q for q in fake.requests if not q.query.get("watch")]
    assert [q.query.get("continue") is not None for q in lists] == [False, True, True]
    assert all(q.path == "/api/v1/namespaces/team-a/pods" for q in fake.requests)
    names = {r["object"]["metadata"]["name"] for r in records if "object" in r}
    assert names == {f"a{i}" for i in range(5)}
    assert all(r.get("ns") == "team-a" for r in records)


async def test_long_run_with_many_reconnects(tmp_path: Path) -> None:
    fake = FakeAPI(max_watch_seconds=0.15, bookmark_interval=0.05)
    await fake.start()
    rng = random.Random(42)
    streams = [PODS, Stream("", "v1", "nodes"), Stream("resource.k8s.io", "v1", "resourceclaims")]
    for i in range(4):
        fake.create("pods", pod(f"p{i}"))
        fake.create("nodes", {"metadata": {"name": f"n{i}"}})
    actions = ["abort", "badline", "eof", "stall", "error410", "bookmark"]
    for _ in range(30):
        res = rng.choice(["pods", "nodes", "resourceclaims"])
        action = rng.choice([*actions, "500", "429"])
        if action in ("500", "429"):
            retry = 0 if action == "429" else None
            fake.faults.append(Fault("watch", res, status=int(action), retry_after=retry))
        else:
            fake.faults.append(Fault("watch", res, after=rng.randint(0, 3), action=action, stall=0.4,
                                     then=fake.compact if action == "error410" else None))
    client = RestKubeClient.for_host(fake.url, read_timeout=0.2)
    writer = RawWriter(tmp_path / "raw.jsonl", fsync=False)
    watchers = [Watcher(client, s, writer, rng=random.Random(i), tuning=FAST, sleep=SleepLog(cap=0.005))
                for i, s in enumerate(streams)]
    tasks = [asyncio.create_task(w.run()) for w in watchers]
    live = {"pods": [f"p{i}" for i in range(4)], "nodes": [f"n{i}" for i in range(4)], "resourceclaims": []}
    ns = {"pods": "default", "nodes": None, "resourceclaims": "default"}
    try:
        for step in range(300):
            await asyncio.sleep(0.004)
            res = rng.choice(list(live))
            roll = rng.random()
            if roll < 0.2 or not live[res]:
                name = f"{res[:1]}{step}"
                fake.create(res, {"metadata": {"name": name}})
                live[res].append(name)
            elif roll < 0.3:
                fake.delete(res, live[res].pop(rng.randrange(len(live[res]))), namespace=ns[res])
            else:
                fake.update(res, rng.choice(live[res]), bump(step), namespace=ns[res])
        fake.faults.clear()
        await caught_up(fake, watchers, timeout=15)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        writer.close()
        await client.close()
        await fake.stop()
    records = read_raw(tmp_path / "raw.jsonl").records
    assert sum(w.watches for w in watchers) >= 40
    assert len(gaps(records)) >= 10
    for s in streams:
        assert_faithful(records, fake, s.id)
    assert all(q.method == "GET" for q in fake.requests)
