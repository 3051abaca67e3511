"""One kind in one scope, kept in sync: LIST, then WATCH from its ``resourceVersion``.

Informer semantics as client-go has them: the LIST pages with ``limit``/``continue`` and
fixes a ``resourceVersion``; the WATCH starts there with ``allowWatchBookmarks`` (the
apiserver then sends a bookmark about every minute, so a quiet kind does not fall behind
the etcd compaction window) and a ``timeoutSeconds`` the apiserver ends it at. Each
event moves the version on; a watch that ends is opened again from it. ``410 Gone``
(the version was compacted away) means events were lost: LIST again and let the state
drop what disappeared. A broken connection (an apiserver restart) is retried with capped
exponential back-off plus jitter, so a fleet of watchers does not reconnect in step.
``403 Forbidden`` becomes a gap, as in ``scan``, and is tried again now and then; an
``-A`` LIST forbidden cluster-wide falls back to the context's namespace. Secrets are
never among the kinds (``live.RESOURCES``).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import urllib3

from scanner import errors, model
from scanner.sources import apiserver, live

__all__ = ["Changed", "Health", "Informer", "ListPage", "Listed", "Message", "backoff"]

_BASE_BACKOFF = 0.25
_MAX_BACKOFF = 8.0
_FORBIDDEN_RETRY = 60.0
"""Seconds before a forbidden LIST is tried again (RBAC may have been granted)."""
_MAX_LINE = 64 * 1024 * 1024
_LIST_RETRIES = 5


@dataclass(frozen=True)
class ListPage:
    """One page of a LIST: its objects are put as if ADDED or MODIFIED.

    Pages go to the state one by one, so the raw objects of a 10,000-pod LIST are never
    all in memory at once.
    """

    kind: str
    items: tuple[Mapping[str, Any], ...]
    path: str


@dataclass(frozen=True)
class Listed:
    """A LIST completed: what the state holds and the LIST did not name is gone.

    (Its DELETED event was missed while the watch was disconnected.)
    """

    kind: str
    scope: str | None
    """The informer's scope (None: cluster-wide) — the key of its gaps."""
    namespace: str | None
    """Where the items were listed (the context's namespace after an ``-A`` fallback)."""
    keys: frozenset[tuple[str, str]]
    """(namespace, name) of every object listed."""
    path: str
    gaps: tuple[model.Gap, ...]


@dataclass(frozen=True)
class Changed:
    """One watch event."""

    kind: str
    type: str
    """``ADDED``, ``MODIFIED`` or ``DELETED``."""
    obj: Mapping[str, Any]
    path: str


@dataclass(frozen=True)
class Health:
    """The informer is (not) connected and in sync."""

    name: str
    up: bool


Message = ListPage | Listed | Changed | Health


class _Gone(Exception):
    """The watch's resourceVersion is too old: list again."""


def backoff(attempt: int, rng: random.Random | None = None) -> float:
    """Seconds to wait before try ``attempt + 1``: doubling, capped, with "full jitter"."""
    ceiling = min(_MAX_BACKOFF, _BASE_BACKOFF * 2 ** min(attempt, 16))
    return (rng or random).uniform(ceiling / 2, ceiling)


class Informer:
    """Keeps one kind in one scope in sync and sends what it learns to ``sink``."""

    def __init__(self, connection: Callable[[bool], apiserver.Connection],
                 resource: live.Resource, namespace: str | None,
                 sink: Callable[[Message], None], stop: threading.Event, *,
                 on_event: Callable[[str], None] = lambda plural: None,
                 on_relist: Callable[[str], None] = lambda plural: None,
                 page_size: int = 500, watch_seconds: int = 300) -> None:
        self.resource = resource
        self.scope = namespace
        self.namespace = namespace
        self.name = f"{resource.plural}@{namespace or '*'}"
        self._connection = connection
        self._sink = sink
        self._stop = stop
        self._on_event = on_event
        self._on_relist = on_relist
        self._page_size = page_size
        self._watch_seconds = watch_seconds
        self._rng = random.Random()

    def run(self) -> None:
        """Until ``stop`` is set: list, watch, relist on 410, reconnect after failures."""
        version: str | None = None
        attempt = 0
        listed_once = False
        fresh = False
        while not self._stop.is_set():
            try:
                conn = self._connection(fresh)
                fresh = False
                if version is None:
                    if listed_once:
                        self._on_relist(self.resource.plural)
                    version = self._list(conn)
                    listed_once = True
                    if version is None:  # forbidden: a gap, retried later
                        self._sink(Health(self.name, True))
                        self._stop.wait(_FORBIDDEN_RETRY)
                        continue
                version = self._watch(conn, version)
                attempt = 0
            except _Gone:
                version = None
                self._sink(Health(self.name, False))
            except errors.ClusterUnreachable as e:
                self._sink(Health(self.name, False))
                fresh = "401" in e.message  # a rotated token: read the credentials again
                self._stop.wait(backoff(attempt, self._rng))
                attempt += 1
            except Exception:  # noqa: BLE001 — whatever a hostile answer causes: start over
                self._sink(Health(self.name, False))
                version = None
                self._stop.wait(backoff(attempt, self._rng))
                attempt += 1

    # -- LIST -------------------------------------------------------------------------------

    def _list(self, conn: apiserver.Connection) -> str | None:
        """Every page; sends :class:`Listed` and returns its resourceVersion (None: a gap)."""
        gaps: list[model.Gap] = []
        while True:
            path = self.resource.path(self.namespace)
            status, keys, version, response = self._pages(conn, path)
            if status == 200:
                self._sink(Listed(self.resource.kind, self.scope, self.namespace,
                                  frozenset(keys), path, tuple(gaps)))
                return version
            assert response is not None
            gaps.append(model.Gap(self.resource.kind, self.namespace,
                                  live.gap_reason(response, self.resource, self.namespace)))
            if status == 403 and self.namespace is None and self.resource.namespaced:
                # -A needs cluster-wide rights; a namespace-bound Role may still read its own.
                self.namespace = conn.default_namespace
                continue
            self._sink(Listed(self.resource.kind, self.scope, self.namespace, frozenset(),
                              path, tuple(gaps)))
            return None

    def _pages(self, conn: apiserver.Connection, path: str
               ) -> tuple[int, set[tuple[str, str]], str, apiserver.Response | None]:
        """Send each page as it comes; the keys of everything listed, or a failure."""
        keys: set[tuple[str, str]] = set()
        token, version, retries = "", "", 0
        while True:
            query: list[tuple[str, Any]] = [("limit", self._page_size)]
            if token:
                query.append(("continue", token))
            response = apiserver.get(conn, path, query)
            if response.status == 401:
                raise apiserver.unauthorized(conn)
            if response.status == 410 and token:
                keys, token, version = set(), "", ""  # the continue token expired: start over
                continue
            if response.status in (429, 500, 502, 503, 504) and retries < _LIST_RETRIES:
                retries += 1
                self._stop.wait(apiserver.backoff(response, retries))
                continue
            if response.status != 200:
                return response.status, set(), "", response
            try:
                page = orjson.loads(response.body)
            except orjson.JSONDecodeError as e:
                raise errors.ClusterUnreachable(
                    f"the apiserver at {conn.host} sent invalid JSON for GET {path}") from e
            metadata = page.get("metadata") if isinstance(page, dict) else None
            metadata = metadata if isinstance(metadata, dict) else {}
            version = version or str(metadata.get("resourceVersion") or "")
            listed = page.get("items") if isinstance(page, dict) else None
            items = tuple(i for i in listed or () if isinstance(i, Mapping))
            del page, listed
            keys.update(_key(i) for i in items)
            self._sink(ListPage(self.resource.kind, items, path))
            token = str(metadata.get("continue") or "")
            if not token:
                return 200, keys, version, None

    # -- WATCH ------------------------------------------------------------------------------

    def _watch(self, conn: apiserver.Connection, version: str) -> str:
        """One watch request from ``version``; returns the version to go on from.

        Raises:
            _Gone: 410, the version is gone; list again.
            errors.ClusterUnreachable: the connection failed or broke.
        """
        path = self.resource.path(self.namespace)
        seconds = self._rng.randint(self._watch_seconds * 4 // 5, self._watch_seconds)
        query = [("watch", "true"), ("resourceVersion", version),
                 ("allowWatchBookmarks", "true"), ("timeoutSeconds", seconds)]
        response = apiserver.stream(conn, path, query, read_timeout=seconds + 30)
        try:
            if response.status == 410:
                raise _Gone()
            if response.status == 401:
                raise apiserver.unauthorized(conn)
            if response.status != 200:
                body = response.read(65536)
                raise errors.ClusterUnreachable(
                    f"the apiserver answered {response.status} to a watch of {path}:"
                    f" {apiserver.status_message(body)}")
            self._sink(Health(self.name, True))
            for line in _lines(response, self._stop):
                event = orjson.loads(line)
                kind = event.get("type") if isinstance(event, dict) else None
                obj = event.get("object") if isinstance(event, dict) else None
                if not isinstance(obj, Mapping):
                    continue
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        raise _Gone()
                    raise errors.ClusterUnreachable(
                        f"the watch of {path} ended with an error: {obj.get('message')}")
                meta = obj.get("metadata")
                if isinstance(meta, Mapping) and meta.get("resourceVersion"):
                    version = str(meta["resourceVersion"])
                if kind in ("ADDED", "MODIFIED", "DELETED"):
                    self._on_event(self.resource.plural)
                    self._sink(Changed(self.resource.kind, kind, obj, path))
            return version
        except (urllib3.exceptions.HTTPError, OSError, orjson.JSONDecodeError) as e:
            raise errors.ClusterUnreachable(
                f"the watch of {path} broke: {apiserver.transport_reason(e)}") from e
        finally:
            response.release_conn()


def _key(obj: Mapping[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    namespace, name = meta.get("namespace"), meta.get("name")
    return (namespace if isinstance(namespace, str) else "",
            name if isinstance(name, str) else "")


def _lines(response: urllib3.BaseHTTPResponse, stop: threading.Event) -> Iterator[bytes]:
    """The stream's newline-separated JSON events, as each chunk arrives."""
    buffer = b""
    for chunk in response.stream(65536, decode_content=True):
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if line.strip():
                yield line
        if len(buffer) > _MAX_LINE:
            raise errors.ClusterUnreachable("a watch event is larger than 64 MiB")
        if stop.is_set():
            return
    if buffer.strip():
        yield buffer
