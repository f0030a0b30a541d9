"""A small fake kube-apiserver on 127.0.0.1 that speaks the real list/watch protocol, with faults.

It mirrors the parts of the apiserver a reflector depends on (``staging/src/k8s.io/apiserver``'s
watch cache, seen from the client): one resourceVersion counter shared by all resources (one etcd);
an event history that can be compacted, so a watch from a forgotten RV gets ``410 Expired``; lists
with a consistent RV and ``limit``/``continue`` pages; watches with ``resourceVersion``,
``allowWatchBookmarks`` and ``timeoutSeconds``; and discovery (``/api``, ``/apis``,
``/apis/<group>/<version>``) so a client can tell which kinds are served.

Faults are scripted per request with :class:`Fault` (HTTP status with optional ``Retry-After``; or,
inside a watch stream after N events: an ``ERROR`` 410, a bookmark, a clean EOF, a stall, a TCP abort
in the middle of a line, a non-JSON line). Every request is logged (method, path, query) and every
object change fully written to a client is logged in :attr:`FakeAPI.sent`, so tests can compare a
recording with what the server really emitted. Plain ``aiohttp.web``: kmock cannot abort a TCP
connection mid-chunk, and its watch detection misses ``watch=True``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    resource: str
    kind: str
    namespaced: bool

    @property
    def id(self) -> str:
        return f"{self.group or 'core'}/{self.version}/{self.resource}"

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


DEFAULT_RESOURCES: tuple[Resource, ...] = (
    Resource("", "v1", "pods", "Pod", True),
    Resource("", "v1", "nodes", "Node", False),
    Resource("", "v1", "secrets", "Secret", True),
    Resource("events.k8s.io", "v1", "events", "Event", True),
    Resource("resource.k8s.io", "v1", "resourceclaims", "ResourceClaim", True),
    Resource("resource.k8s.io", "v1", "resourceslices", "ResourceSlice", False),
    Resource("resource.k8s.io", "v1", "deviceclasses", "DeviceClass", False),
    Resource("kueue.x-k8s.io", "v1beta1", "workloads", "Workload", True),
    Resource("kueue.x-k8s.io", "v1beta1", "clusterqueues", "ClusterQueue", False),
    Resource("kueue.x-k8s.io", "v1beta1", "localqueues", "LocalQueue", True),
)


@dataclass
class Fault:
    """One scripted fault, used by the first matching request (then removed).

    ``verb`` is ``list`` or ``watch``; ``resource`` the plural (None: any). Either ``status`` (answer
    with that HTTP status, ``Retry-After`` if set) or ``action`` after ``after`` events of a watch:
    ``error410``, ``bookmark`` (then EOF if ``end``), ``eof``, ``stall`` (``stall`` seconds),
    ``abort``, ``badline``.
    ``then`` runs right after the action (to change objects while the client is away).
    """

    verb: str
    resource: str | None = None
    status: int | None = None
    retry_after: int | None = None
    after: int = 0
    action: str | None = None
    stall: float = 0.0
    end: bool = False  # after a ``bookmark``: end the stream cleanly
    then: Callable[[], None] | None = None
    fired_at: float | None = None


@dataclass
class Change:
    rid: str
    type: str
    uid: str
    rv: int
    namespace: str | None
    obj: dict[str, Any]


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    at: float


@dataclass
class FakeAPI:
    resources: tuple[Resource, ...] = DEFAULT_RESOURCES
    bookmark_interval: float | None = None
    max_watch_seconds: float | None = None
    rv: int = 100
    compacted: int = 0
    requests: list[Request] = field(default_factory=list)
    log: list[Change] = field(default_factory=list)
    sent: list[tuple[str, str, int]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.store: dict[str, dict[tuple[str | None, str], dict[str, Any]]] = {
            r.id: {} for r in self.resources}
        self._by_plural = {(r.group, r.version, r.resource): r for r in self.resources}
        self._changed = asyncio.Event()
        self._uids = 0
        self._snapshots: dict[str, list[dict[str, Any]]] = {}
        self._runner: web.AppRunner | None = None
        self.url = ""

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -- object store ---------------------------------------------------------------------------

    def _res(self, plural: str) -> Resource:
        for r in self.resources:
            if r.resource == plural:
                return r
        raise KeyError(plural)

    def _commit(self, res: Resource, type_: str, obj: dict[str, Any]) -> dict[str, Any]:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        meta = obj["metadata"]
        key = (meta.get("namespace"), meta["name"])
        if type_ == "DELETED":
            self.store[res.id].pop(key, None)
        else:
            self.store[res.id][key] = obj
        self.log.append(Change(res.id, type_, meta["uid"], self.rv, meta.get("namespace"),
                               copy.deepcopy(obj)))
        self._changed.set()
        self._changed = asyncio.Event()
        return obj

    def create(self, plural: str, obj: dict[str, Any]) -> dict[str, Any]:
        res = self._res(plural)
        obj = copy.deepcopy(obj)
        obj.setdefault("kind", res.kind)
        obj.setdefault("apiVersion", res.api_version)
        meta = obj.setdefault("metadata", {})
        if res.namespaced:
            meta.setdefault("namespace", "default")
        self._uids += 1
        meta.setdefault("uid", f"00000000-0000-4000-8000-{self._uids:012d}")
        meta.setdefault("creationTimestamp", "2026-01-01T00:00:00Z")
        return self._commit(res, "ADDED", obj)

    def update(self, plural: str, name: str, fn: Callable[[dict[str, Any]], None],
               namespace: str | None = "default") -> dict[str, Any]:
        res = self._res(plural)
        obj = copy.deepcopy(self.store[res.id][(namespace if res.namespaced else None, name)])
        fn(obj)
        return self._commit(res, "MODIFIED", obj)

    def delete(self, plural: str, name: str, namespace: str | None = "default") -> dict[str, Any]:
        res = self._res(plural)
        obj = copy.deepcopy(self.store[res.id][(namespace if res.namespaced else None, name)])
        return self._commit(res, "DELETED", obj)

    def compact(self) -> None:
        """Forget the event history up to now: a watch from an older RV gets 410."""
        self.compacted = self.rv
        self.log_compacted_upto = self.rv

    def state(self, rid: str) -> dict[str, str]:
        """uid → resourceVersion of every object of a resource now."""
        return {o["metadata"]["uid"]: o["metadata"]["resourceVersion"] for o in self.store[rid].values()}

    # -- HTTP -----------------------------------------------------------------------------------

    def _fault(self, verb: str, plural: str) -> Fault | None:
        for f in self.faults:
            if f.verb == verb and f.resource in (None, plural):
                self.faults.remove(f)
                f.fired_at = time.monotonic()
                return f
        return None

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        query = dict(request.query)
        self.requests.append(Request(request.method, request.path, query, time.monotonic()))
        if request.method != "GET":
            return web.json_response(_status(405, "MethodNotAllowed", "read-only fake"), status=405)
        parts = [p for p in request.path.split("/") if p]
        if parts == ["api"]:
            return web.json_response({"kind": "APIVersions", "versions": ["v1"]})
        if parts == ["apis"]:
            groups: dict[str, list[str]] = {}
            for r in self.resources:
                if r.group and r.version not in groups.setdefault(r.group, []):
                    groups[r.group].append(r.version)
            return web.json_response({"kind": "APIGroupList", "groups": [
                {"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v} for v in vs]}
                for g, vs in groups.items()]})
        if parts[:1] == ["api"] and len(parts) >= 2:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return _not_found()
        namespace: str | None = None
        if len(rest) == 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        if not rest:
            listed = [r for r in self.resources if (r.group, r.version) == (group, version)]
            if not listed:
                return _not_found()
            return web.json_response({"kind": "APIResourceList", "groupVersion": listed[0].api_version,
                                      "resources": [{"name": r.resource, "namespaced": r.namespaced,
                                                     "kind": r.kind, "verbs": ["get", "list", "watch"]}
                                                    for r in listed]})
        res = self._by_plural.get((group, version, rest[0])) if len(rest) == 1 else None
        if res is None:
            return _not_found()
        if query.get("watch", "").lower() in ("true", "1"):
            return await self._watch(request, res, namespace, query)
        return self._list(res, namespace, query)

    def _list(self, res: Resource, namespace: str | None, query: dict[str, str]) -> web.StreamResponse:
        fault = self._fault("list", res.resource)
        if fault is not None and fault.status is not None:
            return _error(fault)
        token = query.get("continue")
        if token:
            if token not in self._snapshots:
                return web.json_response(_status(410, "Expired", "continue token expired"), status=410)
            items, list_rv = self._snapshots.pop(token), int(token.split("-")[1])
        else:
            items = [copy.deepcopy(o) for (ns, _), o in sorted(self.store[res.id].items(),
                                                               key=lambda kv: (kv[0][0] or "", kv[0][1]))
                     if namespace is None or ns == namespace]
            list_rv = self.rv
        limit = int(query.get("limit") or 0)
        meta: dict[str, Any] = {"resourceVersion": str(list_rv)}
        if limit and len(items) > limit:
            token = f"c-{list_rv}-{len(self._snapshots)}-{len(items)}"
            self._snapshots[token] = items[limit:]
            items = items[:limit]
            meta["continue"] = token
        for o in items:
            o.pop("kind", None)
            o.pop("apiVersion", None)
            self.sent.append((res.id, o["metadata"]["uid"], int(o["metadata"]["resourceVersion"])))
        return web.json_response({"kind": f"{res.kind}List", "apiVersion": res.api_version,
                                  "metadata": meta, "items": items})

    async def _watch(self, request: web.Request, res: Resource, namespace: str | None,
                     query: dict[str, str]) -> web.StreamResponse:
        fault = self._fault("watch", res.resource)
        if fault is not None and fault.status is not None:
            return _error(fault)
        rv_text = query.get("resourceVersion", "")
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        bookmarks = query.get("allowWatchBookmarks", "").lower() in ("true", "1")
        timeout = float(query.get("timeoutSeconds") or 1800)
        if self.max_watch_seconds is not None:
            timeout = min(timeout, self.max_watch_seconds)
        deadline = time.monotonic() + timeout
        try:
            if rv_text.isdigit() and int(rv_text) < self.compacted:
                await resp.write(_line({"type": "ERROR", "object": _status(
                    410, "Expired", f"too old resource version: {rv_text} ({self.compacted})")}))
                await resp.write_eof()
                return resp
            if rv_text in ("", "0"):
                pos = self.rv
                for o in list(self.store[res.id].values()):
                    if namespace is None or o["metadata"].get("namespace") == namespace:
                        await self._send(resp, res, "ADDED", o)
            else:
                pos = int(rv_text)
            sent = 0
            last_bookmark = time.monotonic()
            while True:
                if fault is not None and sent >= fault.after:
                    done = await self._act(request, resp, res, fault, pos, namespace)
                    fault = None
                    if done:
                        return resp
                changed, top = self._changed, self.rv
                pending = [c for c in self.log if c.rid == res.id and c.rv > pos
                           and (namespace is None or c.namespace == namespace)]
                for c in pending:
                    if fault is not None and sent >= fault.after:
                        break
                    if request.transport is None or request.transport.is_closing():
                        return resp  # the client hung up (e.g. its read timeout): nothing more is emitted
                    await self._send(resp, res, c.type, c.obj)
                    pos = c.rv
                    sent += 1
                else:
                    pos = max(pos, top)
                if fault is not None and sent >= fault.after:
                    continue
                now = time.monotonic()
                if bookmarks and self.bookmark_interval and now - last_bookmark >= self.bookmark_interval:
                    await resp.write(_line({"type": "BOOKMARK", "object": {
                        "kind": res.kind, "apiVersion": res.api_version,
                        "metadata": {"resourceVersion": str(pos)}}}))
                    last_bookmark = now
                if now >= deadline:
                    await resp.write_eof()
                    return resp
                wait = deadline - now
                if bookmarks and self.bookmark_interval:
                    wait = min(wait, self.bookmark_interval)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), timeout=max(wait, 0.001))
        except (ConnectionResetError, ConnectionError, RuntimeError):
            return resp
        return resp

    async def _send(self, resp: web.StreamResponse, res: Resource, type_: str, obj: dict[str, Any]) -> None:
        await resp.write(_line({"type": type_, "object": obj}))
        self.sent.append((res.id, obj["metadata"]["uid"], int(obj["metadata"]["resourceVersion"])))

    async def _act(self, request: web.Request, resp: web.StreamResponse, res: Resource, fault: Fault,
                   pos: int, namespace: str | None) -> bool:
        """Carry out an in-stream fault; True when the response is finished."""
        action = fault.action
        done = True
        if action == "error410":
            await resp.write(_line({"type": "ERROR", "object": _status(410, "Expired", "too old")}))
            await resp.write_eof()
        elif action == "bookmark":
            # Like the watch cache: the bookmark carries the newest RV once this stream is caught up.
            behind = any(c.rid == res.id and c.rv > pos and (namespace is None or c.namespace == namespace)
                         for c in self.log)
            mark = pos if behind else max(pos, self.rv)
            await resp.write(_line({"type": "BOOKMARK", "object": {
                "kind": res.kind, "apiVersion": res.api_version,
                "metadata": {"resourceVersion": str(mark)}}}))
            if fault.end:
                await resp.write_eof()
            done = fault.end
        elif action == "eof":
            await resp.write_eof()
        elif action == "stall":
            await asyncio.sleep(fault.stall)
            done = False
        elif action == "badline":
            # a proxy's error page in the stream; the proxy then drops the connection (events written
            # after it would count as emitted although the client, rightly, stopped reading at the bad line)
            await resp.write(b"<html><body>502 Bad Gateway</body></html>\n")
            await resp.write_eof()
        elif action == "abort":
            nxt = [c for c in self.log if c.rid == res.id and c.rv > pos
                   and (namespace is None or c.namespace == namespace)]
            line = _line({"type": nxt[0].type, "object": nxt[0].obj}) if nxt else _line(
                {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": str(pos)}}})
            await resp.write(line[: len(line) // 2])
            await asyncio.sleep(0.01)
            assert request.transport is not None
            request.transport.abort()
        if fault.then is not None:
            fault.then()
        return done


def _line(doc: dict[str, Any]) -> bytes:
    return (json.dumps(doc, separators=(",", ":")) + "\n").encode()


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


def _not_found() -> web.Response:
    return web.json_response(_status(404, "NotFound", "the server could not find the requested resource"),
                             status=404)


def _error(fault: Fault) -> web.Response:
    assert fault.status is not None
    headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
    reason = {410: "Expired", 429: "TooManyRequests"}.get(fault.status, "InternalError")
    return web.json_response(_status(fault.status, reason, "injected fault"), status=fault.status,
                             headers=headers)


# -- helpers for tests: run a watcher against the fake and judge the recording -------------------


class SleepLog:
    """An injectable ``sleep`` that logs each requested delay and really sleeps at most ``cap``."""

    def __init__(self, cap: float | None = 0.02) -> None:
        self.cap = cap
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(delay if self.cap is None else min(delay, self.cap))


def change_records(records: list[dict[str, Any]], stream: str) -> list[dict[str, Any]]:
    """The recorded object changes of one stream (watch events and list items), in file order."""
    return [r for r in records if r.get("stream") == stream
            and r["type"] in ("ADDED", "MODIFIED", "DELETED", "LIST_ITEM")]


def replay_state(records: list[dict[str, Any]], stream: str) -> dict[str, str]:
    """uid → resourceVersion after applying a stream's recorded changes in order."""
    state: dict[str, str] = {}
    for r in change_records(records, stream):
        uid = r["object"]["metadata"]["uid"]
        if r["type"] == "DELETED":
            state.pop(uid, None)
        else:
            state[uid] = r["object"]["metadata"]["resourceVersion"]
    return state


def assert_faithful(records: list[dict[str, Any]], fake: FakeAPI, stream: str,
                    lossless_since: tuple[int, dict[str, str]] | None = None) -> None:
    """The recording of ``stream`` holds every change the server emitted, once, in RV order.

    With ``lossless_since=(rv, state)`` (the server's RV and state when recording began) it must
    also hold every change the server made since then: nothing was lost to a gap.
    """
    real = [r for r in change_records(records, stream) if not r.get("synthetic")]
    keys = [(r["object"]["metadata"]["uid"], int(r["object"]["metadata"]["resourceVersion"])) for r in real]
    dupes = {k for k in keys if keys.count(k) > 1}
    assert not dupes, f"recorded more than once: {sorted(dupes)}"
    rvs = [rv for _, rv in keys]
    assert rvs == sorted(rvs), f"not in resourceVersion order: {rvs}"
    emitted = {(uid, rv) for rid, uid, rv in fake.sent if rid == stream}
    assert set(keys) == emitted, (f"missing {sorted(emitted - set(keys))}, "
                                  f"never emitted {sorted(set(keys) - emitted)}")
    assert replay_state(records, stream) == fake.state(stream)
    if lossless_since is not None:
        since, state = lossless_since
        expected = {(uid, int(rv)) for uid, rv in state.items()}
        expected |= {(c.uid, c.rv) for c in fake.log if c.rid == stream and c.rv > since}
        assert set(keys) == expected, f"lost {sorted(expected - set(keys))}"


async def caught_up(fake: FakeAPI, watchers: list[Any], timeout: float = 10.0) -> None:
    """Wait until every watcher has seen the newest change of its stream and all faults fired."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        ok = not fake.faults
        for w in watchers:
            newest = max((c.rv for c in fake.log if c.rid == w.stream.id), default=0)
            last = w.last_rv
            ok = ok and last.isdigit() and int(last) >= newest and w.lists > 0
        if ok:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"watchers did not catch up: {[w.last_rv for w in watchers]} "
                         f"(pending faults: {fake.faults})")
