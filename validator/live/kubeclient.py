"""The one door to a real apiserver: raw JSON over GET, through ``kubernetes_asyncio``'s transport.

This mirrors client-go's split between the REST client (``rest.Interface``: paths, auth, TLS) and
the typed clients on top of it. The recorder and the conformance probe only need the REST layer:
they record objects exactly as the server sent them, so no generated model ever touches the data.
Going through ``ApiClient.call_api(..., _preload_content=False)`` keeps the real client's config
loading, auth (tokens, exec plugins, client certs) and TLS, while skipping deserialisation — which
also avoids the ``V1ResourceClaim`` crash of kubernetes_asyncio 36.1.0's ``Watch`` (the model is
``ResourceV1ResourceClaim``) and the loss of fields a model does not know.

Why not ``kubernetes_asyncio.watch.Watch``: it retries a 410 once with the same stale
resourceVersion, reconnects with no backoff, swallows nothing but ``TimeoutError`` and has no read
timeout by default (see ``validator.live.watch``). Here a watch is one HTTP request; every way it can end
is surfaced as an exception the reflector loop in :mod:`validator.live.watch` decides about:

* :class:`ApiError` — a non-2xx answer (``status``, ``retry_after`` from ``Retry-After``);
* :class:`StreamBroken` — ``why`` is ``disconnect`` (reset, truncated chunk, refused),
  ``read-timeout`` (nothing arrived for ``read_timeout`` seconds: a half-open connection) or
  ``bad-line`` (a line that is not a JSON object).

A clean end of the stream (the server's ``timeoutSeconds``) simply ends the iterator.

Only GET is ever sent: the :class:`KubeAPI` seam has no other verb. Credentials stay inside the
client's ``Configuration``; nothing here logs or returns them (only the context *name*).
This is the only module of the repository that imports ``kubernetes_asyncio``.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import yaml
from kubernetes_asyncio import client as k8s_client
from kubernetes_asyncio import config as k8s_config

from models.errors import InputError, did_you_mean

DEFAULT_READ_TIMEOUT = 90.0
DEFAULT_CONNECT_TIMEOUT = 10.0
IN_CLUSTER = "in-cluster"


class ApiError(Exception):
    """The apiserver answered with a non-2xx status."""

    def __init__(self, status: int, reason: str = "", *, retry_after: float | None = None) -> None:
        self.status = status
        self.reason = reason
        self.retry_after = retry_after
        super().__init__(f"HTTP {status}: {reason}" if reason else f"HTTP {status}")


class StreamBroken(Exception):
    """A request or stream ended abnormally; ``why`` is disconnect, read-timeout or bad-line."""

    def __init__(self, why: str, detail: str = "") -> None:
        self.why = why
        self.detail = detail
        super().__init__(f"{why}: {detail}" if detail else why)


class KubeAPI(Protocol):
    """The read-only seam the watchers and the conformance probe use."""

    async def get_json(self, path: str) -> dict[str, Any] | None:
        """GET ``path``; the decoded object, or None on 404."""
        ...

    async def list_raw(self, path: str, params: Mapping[str, str]) -> dict[str, Any]:
        """GET a collection (a LIST); the decoded ``*List`` object."""
        ...

    def watch_raw(self, path: str, resource_version: str, timeout_seconds: int,
                  allow_bookmarks: bool) -> AsyncIterator[dict[str, Any]]:
        """GET ``path?watch=true&…``: the raw watch events ``{"type", "object"}`` as they arrive."""
        ...

    async def close(self) -> None:
        ...


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _status_reason(body: bytes) -> str:
    try:
        doc = json.loads(body)
    except ValueError:
        return body[:200].decode(errors="replace")
    if isinstance(doc, dict):
        return str(doc.get("message") or doc.get("reason") or "")
    return ""


class RestKubeClient:
    """:class:`KubeAPI` over a ``kubernetes_asyncio`` ``ApiClient`` (its aiohttp session and auth)."""

    def __init__(self, api_client: Any, *, read_timeout: float = DEFAULT_READ_TIMEOUT,
                 connect_timeout: float = DEFAULT_CONNECT_TIMEOUT) -> None:
        self._api = api_client
        self.read_timeout = read_timeout
        self.connect_timeout = connect_timeout
        self._refresher: asyncio.Task[None] | None = None

    def keep_token_fresh(self, loader: Any) -> None:
        """For exec-plugin and GCP users: re-run the credential plugin every minute while we record
        (short-lived tokens such as EKS's expire long before a recording ends)."""
        try:
            user = loader._user
            needs = loader.provider == "gcp" or (user is not None and "exec" in user)
        except (AttributeError, TypeError):
            needs = False
        if needs:
            self._refresher = asyncio.create_task(
                k8s_config.refresh_token(loader, self._api.configuration), name="kube token refresh")

    @classmethod
    def for_host(cls, host: str, **kw: Any) -> RestKubeClient:
        """A client for an unauthenticated server URL (tests, ``kubectl proxy``)."""
        cfg = k8s_client.Configuration(host=host)
        return cls(k8s_client.ApiClient(configuration=cfg), **kw)

    async def _get(self, path: str, params: list[tuple[str, str]], read_timeout: float | None) -> Any:
        timeout = aiohttp.ClientTimeout(connect=self.connect_timeout, sock_connect=self.connect_timeout,
                                        sock_read=read_timeout)
        try:
            resp = await self._api.call_api(
                path, "GET", query_params=params, header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"], _preload_content=False, _request_timeout=timeout,
            )
        except TimeoutError as e:  # before OSError/ClientError: aiohttp's timeouts subclass both
            raise StreamBroken("read-timeout", "no response") from e
        except (aiohttp.ClientError, OSError) as e:
            raise StreamBroken("disconnect", type(e).__name__) from e
        if not 200 <= resp.status <= 299:
            try:
                body = await resp.read()
            except (TimeoutError, aiohttp.ClientError, OSError):
                body = b""
            finally:
                resp.release()
            raise ApiError(resp.status, _status_reason(body), retry_after=_retry_after(resp.headers))
        return resp

    async def _read_json(self, path: str, params: list[tuple[str, str]]) -> dict[str, Any]:
        resp = await self._get(path, params, self.read_timeout)
        try:
            body = await resp.read()
        except TimeoutError as e:
            raise StreamBroken("read-timeout", "body") from e
        except (aiohttp.ClientError, OSError) as e:
            raise StreamBroken("disconnect", type(e).__name__) from e
        finally:
            resp.release()
        try:
            doc = json.loads(body)
        except ValueError as e:
            raise StreamBroken("bad-line", "response is not JSON") from e
        if not isinstance(doc, dict):
            raise StreamBroken("bad-line", "response is not a JSON object")
        return doc

    async def get_json(self, path: str) -> dict[str, Any] | None:
        try:
            return await self._read_json(path, [])
        except ApiError as e:
            if e.status == 404:
                return None
            raise

    async def list_raw(self, path: str, params: Mapping[str, str]) -> dict[str, Any]:
        return await self._read_json(path, list(params.items()))

    async def watch_raw(self, path: str, resource_version: str, timeout_seconds: int,
                        allow_bookmarks: bool) -> AsyncIterator[dict[str, Any]]:
        params = [("watch", "true"), ("resourceVersion", resource_version),
                  ("timeoutSeconds", str(int(timeout_seconds)))]
        if allow_bookmarks:
            params.append(("allowWatchBookmarks", "true"))
        resp = await self._get(path, params, self.read_timeout)
        buf = b""
        try:
            while True:
                try:
                    chunk = await resp.content.readany()
                except TimeoutError as e:
                    raise StreamBroken("read-timeout", f"nothing for {self.read_timeout:g}s") from e
                except (aiohttp.ClientError, OSError) as e:
                    raise StreamBroken("disconnect", type(e).__name__) from e
                if not chunk:
                    if buf.strip():
                        yield _decode_line(buf)
                    return
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip():
                        yield _decode_line(line)
        finally:
            resp.release()
            resp.close()

    async def close(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            await asyncio.gather(self._refresher, return_exceptions=True)
        await self._api.close()


def _decode_line(line: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(line)
    except ValueError as e:
        raise StreamBroken("bad-line", f"{len(line)} bytes that are not JSON") from e
    if not isinstance(doc, dict) or "type" not in doc:
        raise StreamBroken("bad-line", "a JSON line that is not a watch event")
    return doc


@dataclass(frozen=True)
class Connection:
    """A connected client and the context name it came from (no credential in here)."""

    client: RestKubeClient
    context: str


def _kubeconfig_paths(kubeconfig: str | None) -> list[Path]:
    if kubeconfig:
        return [Path(kubeconfig).expanduser()]
    env = os.environ.get("KUBECONFIG")
    if env:
        return [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    return [Path("~/.kube/config").expanduser()]


def _contexts(paths: list[Path]) -> tuple[list[str], str | None]:
    names: list[str] = []
    current: str | None = None
    for p in paths:
        try:
            doc = yaml.safe_load(p.read_text())
        except yaml.YAMLError as e:
            raise InputError(f"kubeconfig is not valid YAML: {e}", file=str(p),
                             fix="check the file with `kubectl config view`") from e
        if not isinstance(doc, dict):
            continue
        for ctx in doc.get("contexts") or []:
            if isinstance(ctx, dict) and isinstance(ctx.get("name"), str):
                names.append(ctx["name"])
        if current is None and isinstance(doc.get("current-context"), str) and doc["current-context"]:
            current = doc["current-context"]
    return names, current


async def connect(*, kubeconfig: str | None = None, context: str | None = None,
                  read_timeout: float = DEFAULT_READ_TIMEOUT) -> Connection:
    """Load config the way kubectl does and return a read-only client.

    An explicit ``kubeconfig`` wins; else ``$KUBECONFIG`` (a path list); else ``~/.kube/config``;
    and when none of those exists but ``KUBERNETES_SERVICE_HOST`` is set (running as a pod), the
    in-cluster service-account config.
    """
    paths = _kubeconfig_paths(kubeconfig)
    existing = [p for p in paths if p.is_file()]
    cfg = k8s_client.Configuration()
    if not existing:
        if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST") and context is None:
            try:
                k8s_config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
            except k8s_config.ConfigException as e:
                raise InputError(f"in-cluster config is incomplete: {e}", field="serviceaccount",
                                 fix="mount a service-account token or pass --kubeconfig") from e
            api = k8s_client.ApiClient(configuration=cfg)
            return Connection(RestKubeClient(api, read_timeout=read_timeout), IN_CLUSTER)
        where = str(paths[0]) if len(paths) == 1 else os.pathsep.join(map(str, paths))
        raise InputError("kubeconfig not found", file=where, field="--kubeconfig",
                         fix="pass --kubeconfig FILE, set KUBECONFIG, or run inside a pod")
    names, current = _contexts(existing)
    chosen = context or current
    if chosen is None:
        raise InputError("kubeconfig has no current-context", file=str(existing[0]), field="--context",
                         fix="pass --context NAME" + (f" (one of: {', '.join(names)})" if names else ""))
    if chosen not in names:
        hint = did_you_mean(chosen, names)
        fix = f"did you mean {hint!r}?" if hint else f"use one of: {', '.join(names) or '(none)'}"
        raise InputError(f"context {chosen!r} is not in the kubeconfig", file=str(existing[0]),
                         field="--context", fix=fix)
    try:
        loader = await k8s_config.load_kube_config(config_file=os.pathsep.join(map(str, existing)),
                                                   context=chosen, client_configuration=cfg,
                                                   persist_config=False)
    except k8s_config.ConfigException as e:
        # The message names fields, not their values; still, keep it short and generic.
        raise InputError(f"kubeconfig context {chosen!r} is unusable: {str(e).splitlines()[0][:200]}",
                         file=str(existing[0]), field="--context",
                         fix="check it with `kubectl --context NAME get --raw /version`") from e
    client = RestKubeClient(k8s_client.ApiClient(configuration=cfg), read_timeout=read_timeout)
    client.keep_token_fresh(loader)
    return Connection(client, chosen)
