"""List-then-watch per resource kind, modelled on client-go's Reflector (``tools/cache/reflector.go``).

A watch alone cannot be trusted to see every change: streams end (the server's ``timeoutSeconds``,
proxies, load balancers), connections go half-open without any error, and the server forgets old
resourceVersions (compaction), answering ``410 Gone``. client-go's reflector — which every
controller's informer uses — handles this with one loop, and so does :class:`Watcher`:

1. **List** the collection (paginated with ``limit``/``continue``) with an unset resourceVersion,
   i.e. a consistent read, and record the items: that is the state the watch starts from.
2. **Watch** from the list's resourceVersion with ``allowWatchBookmarks=true`` and a server timeout
   drawn from [300, 600] s (as the reflector does, so many watchers do not all reconnect at once).
   A client read timeout (``sock_read``, ~90 s; bookmarks come about once a minute) catches a
   silently dead connection.
3. When the stream **ends cleanly**, watch again from the last resourceVersion seen (events and
   bookmarks move it). Nothing is lost: the server replays everything after that RV.
4. On **410 Gone** (an in-stream ``ERROR`` with code 410, or HTTP 410 on a list or watch), the RV is
   too old to resume from: record ``GAP`` + ``RELIST`` and go back to 1 **at once** — a relist is
   exactly what 410 asks for, and every second spent waiting is history the relist cannot show. Only
   when a watch started from a fresh list expires again within ``min_watch_seconds`` with nothing
   delivered (list, 410, list, 410…) does the relist wait, on the list backoff. The relist shows the
   latest state; objects known before and absent now get a synthetic ``DELETED``.
5. A **failed list** is retried quickly: the first retry within 200 ms (``list_retry_initial`` 0.1 s
   with jitter 1.0), then doubling with jitter to 30 s, reset by a successful list.
6. On **other watch failures** — connection errors, truncated chunks, read timeouts, a line that is
   not JSON, 429 (honouring ``Retry-After``, as lists do too), 5xx — record a ``GAP`` and resume the
   watch from the last RV after a jittered exponential backoff (0.8 s doubling to 30 s, reset after
   a success).

Each resource type (each :class:`Stream`) has its own watcher, backoffs and random source, so one
type failing or relisting never delays another.

Why not ``kubernetes_asyncio.watch.Watch``: it re-sends the same stale RV after a 410 (then raises
on the second), reconnects with no backoff, propagates payload errors and has no read timeout; and
its typed models crash on ResourceClaims. kopf's ``watching.py`` makes the same choice.

Every change is recorded exactly once: a change is identified by (uid, resourceVersion), and
resourceVersions of one object only grow (comparable since Kubernetes 1.35, KEP-5504: compare by
length, then lexically), so a replayed event after a reconnect or an unchanged object in a relist is
recognised and skipped. Randomness (server timeouts, jitter) comes from a seeded ``random.Random``
per stream, so a run's request pattern is reproducible. Secrets are never watched.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from validator.live.kubeclient import ApiError, KubeAPI, StreamBroken
from validator.live.raw import RawWriter

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class KindSpec:
    """A kind to record: its group, the versions to try (preferred first), its plural resource."""

    group: str  # "" for the core (legacy) API
    versions: tuple[str, ...]
    resource: str
    namespaced: bool


#: The kinds ``kubetwin record`` watches (never Secrets).
KINDS: tuple[KindSpec, ...] = (
    KindSpec("", ("v1",), "pods", True),
    KindSpec("", ("v1",), "nodes", False),
    KindSpec("events.k8s.io", ("v1",), "events", True),
    KindSpec("apps", ("v1",), "deployments", True),
    KindSpec("autoscaling", ("v2",), "horizontalpodautoscalers", True),
    KindSpec("resource.k8s.io", ("v1",), "resourceclaims", True),
    KindSpec("resource.k8s.io", ("v1",), "resourceslices", False),
    KindSpec("resource.k8s.io", ("v1",), "deviceclasses", False),
    KindSpec("kueue.x-k8s.io", ("v1beta2", "v1beta1"), "workloads", True),
    KindSpec("kueue.x-k8s.io", ("v1beta2", "v1beta1"), "clusterqueues", False),
    KindSpec("kueue.x-k8s.io", ("v1beta2", "v1beta1"), "localqueues", True),
    KindSpec("scheduling.x-k8s.io", ("v1alpha1",), "podgroups", True),
    KindSpec("scheduling.k8s.io", ("v1beta1", "v1alpha2", "v1alpha1"), "workloads", True),
    KindSpec("scheduling.k8s.io", ("v1beta1", "v1alpha2", "v1alpha1"), "podgroups", True),
    KindSpec("autoscaling.x-k8s.io", ("v1",), "provisioningrequests", True),
)


@dataclass(frozen=True)
class Stream:
    """One list/watch target: a served group/version/resource, maybe narrowed to one namespace."""

    group: str
    version: str
    resource: str
    namespace: str | None = None

    @property
    def id(self) -> str:
        """``group/version/resource``, ``core`` standing for the legacy group."""
        return f"{self.group or 'core'}/{self.version}/{self.resource}"

    @property
    def path(self) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespace is not None:
            return f"{base}/namespaces/{self.namespace}/{self.resource}"
        return f"{base}/{self.resource}"


def group_version_path(group: str, version: str) -> str:
    return f"/apis/{group}/{version}" if group else f"/api/{version}"


@dataclass(frozen=True)
class Tuning:
    """Timeouts and backoff; the defaults are client-go's. Tests shrink them."""

    server_timeout: tuple[int, int] = (300, 600)
    backoff_initial: float = 0.8
    backoff_cap: float = 30.0
    page_limit: int = 500
    min_watch_seconds: float = 1.0  # a watch that ends sooner with no event counts as a failure
    list_retry_initial: float = 0.1  # first retry of a failed list in [0.1, 0.2) s


class Backoff:
    """Exponential backoff with jitter (client-go's: factor 2, jitter 1.0), capped, seeded."""

    def __init__(self, rng: random.Random, initial: float, cap: float) -> None:
        self._rng = rng
        self.initial = initial
        self.cap = cap
        self._cur = initial

    def next(self) -> float:
        delay = min(self.cap, self._cur * (1.0 + self._rng.random()))
        self._cur = min(self.cap, self._cur * 2)
        return delay

    def reset(self) -> None:
        self._cur = self.initial


def rv_newer(a: str, b: str) -> bool:
    """True when resourceVersion ``a`` is newer than ``b`` (decimal: by length, then lexically)."""
    if a.isdigit() and b.isdigit():
        return (len(a), a) > (len(b), b)
    return a != b  # opaque RVs: all we can tell is "different"


def _rv_sort_key(rv: str) -> tuple[int, str]:
    return (len(rv), rv)


def _meta(obj: Any) -> dict[str, Any]:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    return meta if isinstance(meta, dict) else {}


class Expired(Exception):
    """410 Gone: the resourceVersion is too old to resume from; relist."""


class Watcher:
    """The reflector loop for one :class:`Stream`, writing raw records to a :class:`RawWriter`."""

    def __init__(self, api: KubeAPI, stream: Stream, writer: RawWriter, *, rng: random.Random,
                 tuning: Tuning | None = None, sleep: Sleep = asyncio.sleep) -> None:
        self.api = api
        self.stream = stream
        self.writer = writer
        self.rng = rng
        self.tuning = tuning or Tuning()
        self.sleep = sleep
        self.backoff = Backoff(rng, self.tuning.backoff_initial, self.tuning.backoff_cap)
        self.list_backoff = Backoff(rng, self.tuning.list_retry_initial, self.tuning.backoff_cap)
        self.last_rv = ""
        self._known: dict[str, dict[str, Any]] = {}  # uid -> last state (objects that exist)
        self._recorded: dict[str, str] = {}  # uid -> newest RV recorded (kept after deletion)
        self.lists = 0
        self.watches = 0
        self._progress = False  # the current watch delivered at least one event or bookmark
        self._watch_started = 0.0
        self._quick_expiries = 0  # watches in a row that expired at once with nothing delivered

    def _write(self, type_: str, **fields: Any) -> None:
        self.writer.write(type_, stream=self.stream.id, ns=self.stream.namespace, **fields)

    def _seen(self, uid: str, rv: str) -> bool:
        prev = self._recorded.get(uid)
        return prev is not None and not rv_newer(rv, prev)

    # -- the loop ---------------------------------------------------------------------------

    async def run(self) -> None:
        """List, then watch, forever (until cancelled)."""
        need_list = True
        while True:
            if need_list:
                try:
                    await self._list()
                except (ApiError, StreamBroken) as e:
                    await self._failed(e, listing=True)
                    continue
                need_list = False
                self.backoff.reset()
                if self._quick_expiries == 0:  # keep backing off while lists lead to instant 410s
                    self.list_backoff.reset()
            self._progress = False
            try:
                await self._watch()
                self._quick_expiries = 0
            except (Expired, ApiError, StreamBroken) as e:
                if isinstance(e, Expired) or (isinstance(e, ApiError) and e.status == 410):
                    self._write("GAP", why="410", rv=self.last_rv or None)
                    self._write("RELIST")
                    need_list = True
                    await self._after_expiry()
                    continue
                self._quick_expiries = 0
                await self._failed(e, listing=False)

    async def _after_expiry(self) -> None:
        """Relist at once after a 410; wait only when expiries repeat at once (list, 410, list, 410…)."""
        quick = not self._progress and time.monotonic() - self._watch_started < self.tuning.min_watch_seconds
        self._quick_expiries = self._quick_expiries + 1 if quick else 0
        if self._quick_expiries >= 2:
            await self.sleep(self.list_backoff.next())

    async def _failed(self, e: ApiError | StreamBroken, *, listing: bool) -> None:
        """Record the GAP for a failed request, then wait before the next attempt."""
        if isinstance(e, StreamBroken):
            why = e.why
        elif e.status == 410:
            why = "410"
        elif e.status == 429:
            why = "429"
        elif e.status >= 500:
            why = "http-5xx"
        else:
            why = f"http-{e.status}"
        self._write("GAP", why=why, rv=self.last_rv or None)
        if listing and why == "410":
            self._write("RELIST")
            if self.lists == 0:
                return  # the very first list hit 410 (e.g. an expired continue token): just retry
        delay = self.list_backoff.next() if listing else self.backoff.next()
        if isinstance(e, ApiError) and e.retry_after is not None:
            delay = max(delay, e.retry_after)
        await self.sleep(delay)

    # -- list -------------------------------------------------------------------------------

    async def _list(self) -> None:
        self._write("LIST_BEGIN")
        items: list[dict[str, Any]] = []
        params: dict[str, str] = {"limit": str(self.tuning.page_limit)}
        list_rv = ""
        while True:
            doc = await self.api.list_raw(self.stream.path, params)
            page = doc.get("items") or []
            items.extend(i for i in page if isinstance(i, dict))
            meta = _meta(doc)
            if not list_rv:
                list_rv = str(meta.get("resourceVersion") or "")
            cont = meta.get("continue")
            if not cont:
                break
            params = {"limit": str(self.tuning.page_limit), "continue": str(cont)}
        self.lists += 1
        present: set[str] = set()
        changed: list[tuple[str, str, dict[str, Any]]] = []
        for item in items:
            meta = _meta(item)
            uid, rv = str(meta.get("uid") or ""), str(meta.get("resourceVersion") or "")
            present.add(uid)
            if not self._seen(uid, rv):
                changed.append((rv, uid, item))
            self._known[uid] = item
        changed.sort(key=lambda c: _rv_sort_key(c[0]))
        for rv, uid, item in changed:
            self._write("LIST_ITEM", rv=rv, object=item)
            self._recorded[uid] = rv
        for uid in [u for u in self._known if u not in present]:
            self._write("DELETED", rv=list_rv or None, object=self._known.pop(uid), synthetic=True)
            if list_rv:
                self._recorded[uid] = list_rv
        self._write("LIST_END", rv=list_rv or None, items=len(items))
        self.last_rv = list_rv

    # -- watch ------------------------------------------------------------------------------

    async def _watch(self) -> None:
        lo, hi = self.tuning.server_timeout
        timeout = self.rng.randint(lo, hi)
        started = self._watch_started = time.monotonic()
        seen_any = False
        self.watches += 1
        async for event in self.api.watch_raw(self.stream.path, self.last_rv, timeout, True):
            type_ = event.get("type")
            obj = event.get("object")
            if type_ == "ERROR":
                code = obj.get("code") if isinstance(obj, dict) else None
                if code == 410:
                    raise Expired()
                message = str(obj.get("message", "")) if isinstance(obj, dict) else ""
                raise ApiError(code if isinstance(code, int) else 500, message)
            if not isinstance(obj, dict):
                raise StreamBroken("bad-line", f"{type_} event without an object")
            rv = str(_meta(obj).get("resourceVersion") or "")
            if type_ == "BOOKMARK":
                if rv:
                    self._write("BOOKMARK", rv=rv)
                    self.last_rv = rv
                seen_any = self._progress = True
                continue
            if type_ not in ("ADDED", "MODIFIED", "DELETED"):
                raise StreamBroken("bad-line", f"unknown event type {type_!r}")
            seen_any = self._progress = True
            self.backoff.reset()
            self._change(str(type_), obj, rv)
        if not seen_any and time.monotonic() - started < self.tuning.min_watch_seconds:
            await self.sleep(self.backoff.next())  # a very short empty watch: don't spin

    def _change(self, type_: str, obj: dict[str, Any], rv: str) -> None:
        uid = str(_meta(obj).get("uid") or "")
        if rv:
            self.last_rv = rv
        if uid and rv and self._seen(uid, rv):
            return
        self._write(type_, rv=rv or None, object=obj)
        if uid and rv:
            self._recorded[uid] = rv
        if type_ == "DELETED":
            self._known.pop(uid, None)
        else:
            self._known[uid] = obj


async def discover(api: KubeAPI, kinds: Sequence[KindSpec] = KINDS,
                   namespaces: Sequence[str] = ()) -> tuple[list[Stream], list[tuple[str, str]]]:
    """The streams to watch and the kinds to skip (``(stream-ish id, why)``), via API discovery."""
    cache: dict[tuple[str, str], set[str] | None] = {}
    streams: list[Stream] = []
    skipped: list[tuple[str, str]] = []
    for kind in kinds:
        chosen: str | None = None
        for version in kind.versions:
            key = (kind.group, version)
            if key not in cache:
                try:
                    doc = await api.get_json(group_version_path(*key))
                except ApiError as e:
                    doc = None
                    if e.status not in (403, 404):
                        raise
                resources = doc.get("resources") if isinstance(doc, dict) else None
                cache[key] = ({str(r.get("name")) for r in resources if isinstance(r, dict)}
                              if isinstance(resources, list) else None)
            served = cache[key]
            if served is not None and kind.resource in served:
                chosen = version
                break
        if chosen is None:
            tried = ", ".join(f"{kind.group or 'core'}/{v}" for v in kind.versions)
            skipped.append((f"{kind.group or 'core'}/{kind.versions[0]}/{kind.resource}",
                            f"not served (discovery: {tried})"))
            continue
        if kind.namespaced and namespaces:
            streams.extend(Stream(kind.group, chosen, kind.resource, ns) for ns in namespaces)
        else:
            streams.append(Stream(kind.group, chosen, kind.resource))
    return streams, skipped


def stream_rng(seed: int, stream: Stream) -> random.Random:
    """The seeded random source of one stream (stable across runs and Python versions)."""
    return random.Random(f"{seed}/{stream.id}/{stream.namespace or ''}")

