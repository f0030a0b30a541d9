"""Recovery after a compaction: the watcher relists at once after 410, retries a failed list within
200 ms, and each resource type recovers on its own — measured on the fake API server with real sleeps.

The loss being measured: while a stream is away (relisting, waiting to retry), every intermediate
state of an object is lost — the relist only shows the latest one. So changes made two seconds after
a compaction plus failing lists are recorded one by one only if the watcher is watching again by then.
With the old reflector timing (backoff before the relist, 0.8 s doubling for lists) it was not.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fakeapi import FakeAPI, Fault, SleepLog, assert_faithful, caught_up

from validator.live.kubeclient import RestKubeClient
from validator.live.raw import RawWriter, read_raw
from validator.live.watch import Stream, Tuning, Watcher

PODS = Stream("", "v1", "pods")
NODES = Stream("", "v1", "nodes")


def bump(i: int) -> Callable[[dict[str, Any]], None]:
    def fn(o: dict[str, Any]) -> None:
        o["metadata"].setdefault("annotations", {})["step"] = str(i)
    return fn


def changes_after(fake: FakeAPI, stream: str, since: int) -> set[tuple[str, int]]:
    return {(c.uid, c.rv) for c in fake.log if c.rid == stream and c.rv > since}


def recorded(records: list[dict[str, Any]], stream: str) -> set[tuple[str, int]]:
    return {(r["object"]["metadata"]["uid"], int(r["object"]["metadata"]["resourceVersion"]))
            for r in records if r.get("stream") == stream and "object" in r and not r.get("synthetic")}


async def test_changes_two_seconds_after_compaction_and_failing_lists_are_recorded(tmp_path: Path) -> None:
    fake = FakeAPI()
    await fake.start()
    for i in range(3):
        fake.create("pods", {"metadata": {"name": f"p{i}"}})
        fake.create("nodes", {"metadata": {"name": f"n{i}"}})
    compacted_at: list[float] = []

    def compact_and_break_lists() -> None:  # the pods watch got 410; its next two lists fail
        fake.compact()
        fake.faults.extend([Fault("list", "pods", status=503), Fault("list", "pods", status=500)])
        compacted_at.append(time.monotonic())

    fake.faults.append(Fault("watch", "pods", after=1, action="error410", then=compact_and_break_lists))
    client = RestKubeClient.for_host(fake.url, read_timeout=5.0)
    writer = RawWriter(tmp_path / "raw.jsonl", fsync=False)
    sleeps = {PODS.id: SleepLog(cap=None), NODES.id: SleepLog(cap=None)}  # real waits: timing is the point
    watchers = [Watcher(client, s, writer, rng=random.Random(i), tuning=Tuning(), sleep=sleeps[s.id])
                for i, s in enumerate((PODS, NODES))]
    tasks = [asyncio.create_task(w.run()) for w in watchers]
    try:
        while len([q for q in fake.requests if q.query.get("watch")]) < 2:  # both streams are watching
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.1)
        fake.update("pods", "p0", bump(0))  # the event after which the pods watch gets 410
        while not compacted_at:
            await asyncio.sleep(0.005)
        for step in range(5):  # the nodes stream keeps flowing while pods are away
            fake.update("nodes", f"n{step % 3}", bump(step))
            await asyncio.sleep(0.05)
        await asyncio.sleep(compacted_at[0] + 2.0 - time.monotonic())
        since = fake.rv
        for step in range(4):  # two seconds after the compaction: every step must be recorded
            fake.update("pods", "p1", bump(100 + step))
            fake.update("nodes", "n1", bump(100 + step))
        await caught_up(fake, watchers, timeout=10)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        writer.close()
        await client.close()
        await fake.stop()
    records = read_raw(tmp_path / "raw.jsonl").records
    assert [r["why"] for r in records if r["type"] == "GAP" and r["stream"] == PODS.id] == [
        "410", "http-5xx", "http-5xx"]
    assert [(r["why"], r.get("rv")) for r in records if r["type"] == "GAP" and r["stream"] == NODES.id] == []
    assert recorded(records, PODS.id) >= changes_after(fake, PODS.id, since)
    assert len(changes_after(fake, PODS.id, since)) == 4
    delays = sleeps[PODS.id].delays
    assert len(delays) == 2 and delays[0] < 0.2 and 0.2 <= delays[1] < 0.4  # no wait before the relist
    assert sleeps[NODES.id].delays == []
    for stream in (PODS.id, NODES.id):
        assert_faithful(records, fake, stream)
    watches = [q for q in fake.requests if q.path == "/api/v1/pods" and q.query.get("watch")]
    resumed = watches[1].at - compacted_at[0]
    print(f"pods watch resumed {resumed * 1000:.0f} ms after the compaction")


async def test_repeated_instant_expiry_backs_off(tmp_path: Path) -> None:
    """list, 410, list, 410…: the first relist is immediate, the following ones wait on the list backoff."""
    fake = FakeAPI()
    await fake.start()
    fake.create("pods", {"metadata": {"name": "p0"}})
    fake.faults.extend([Fault("watch", "pods", status=410) for _ in range(4)])
    client = RestKubeClient.for_host(fake.url, read_timeout=5.0)
    writer = RawWriter(tmp_path / "raw.jsonl", fsync=False)
    sleep = SleepLog()
    watcher = Watcher(client, PODS, writer, rng=random.Random(1), tuning=Tuning(), sleep=sleep)
    task = asyncio.create_task(watcher.run())
    try:
        await caught_up(fake, [watcher])
        for _ in range(500):  # the fifth list follows the last 410
            if watcher.lists == 5 and watcher.watches == 5:
                break
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        writer.close()
        await client.close()
        await fake.stop()
    assert watcher.lists == 5
    assert len(sleep.delays) == 3  # four instant 410s: no wait after the first, then the list backoff
    assert 0.1 <= sleep.delays[0] < 0.2 and 0.2 <= sleep.delays[1] < 0.4 and 0.4 <= sleep.delays[2] < 0.8
