"""The informer against a scripted apiserver over real HTTP: list, watch, bookmarks, 410, 403."""

from __future__ import annotations

import json
import queue
import random
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from scanner.sources import apiserver, live
from scanner.watching import informer
from tests.unit.fake_apiserver import kubeconfig

PODS = next(r for r in live.RESOURCES if r.kind == "Pod")


def _pod(name: str, version: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "shop", "resourceVersion": version}}


class Script:
    """What the fake apiserver answers, and what it was asked."""

    def __init__(self) -> None:
        self.lists: list[tuple[int, list[dict[str, Any]], str]] = []
        self.watches: list[tuple[int, list[dict[str, Any]]]] = []
        self.asked: list[tuple[str, dict[str, str]]] = []
        self.lock = threading.Lock()


@pytest.fixture
def script() -> Script:
    return Script()


@pytest.fixture
def server(script: Script) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802
            url = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(url.query))
            with script.lock:
                script.asked.append((url.path, query))
                if query.get("watch") == "true":
                    status, events = script.watches.pop(0) if script.watches else (200, [])
                    body = b"".join(json.dumps(e).encode() + b"\n" for e in events)
                else:
                    status, items, version = script.lists.pop(0) if script.lists else (
                        200, [], "1")
                    body = json.dumps({"metadata": {"resourceVersion": version},
                                       "items": items, "message": "nope"}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _run(tmp_path: Path, url: str, namespace: str | None, until: int
         ) -> tuple[list[informer.Message], list[str], list[str]]:
    options = live.LiveOptions(kubeconfig=str(kubeconfig(tmp_path / "config", url)))
    conn = apiserver.connect(options)
    messages: queue.SimpleQueue[informer.Message] = queue.SimpleQueue()
    stop = threading.Event()
    events: list[str] = []
    relists: list[str] = []
    each = informer.Informer(lambda fresh: conn, PODS, namespace, messages.put, stop,
                             on_event=events.append, on_relist=relists.append)
    thread = threading.Thread(target=each.run, daemon=True)
    thread.start()
    seen: list[informer.Message] = []
    while len([m for m in seen
               if not isinstance(m, informer.Health | informer.ListPage)]) < until:
        seen.append(messages.get(timeout=20))
    stop.set()
    return seen, events, relists


def test_list_watch_bookmark_then_410_relists(tmp_path: Path, script: Script,
                                              server: str) -> None:
    script.lists = [(200, [_pod("a", "5")], "10"), (200, [_pod("b", "30")], "31")]
    script.watches = [
        (200, [{"type": "ADDED", "object": _pod("b", "11")},
               {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "20"}}}]),
        (200, [{"type": "ERROR", "object": {"kind": "Status", "code": 410,
                                            "message": "too old resource version"}}]),
    ]
    seen, events, relists = _run(tmp_path, server, "shop", until=3)
    changes = [m for m in seen if not isinstance(m, informer.Health | informer.ListPage)]
    pages = [m for m in seen if isinstance(m, informer.ListPage)]
    assert [[i["metadata"]["name"] for i in p.items] for p in pages] == [["a"], ["b"]]
    first, added, second = changes
    assert isinstance(first, informer.Listed) and first.keys == {("shop", "a")}
    assert isinstance(added, informer.Changed) and added.type == "ADDED"
    assert isinstance(second, informer.Listed) and second.keys == {("shop", "b")}
    watches = [q for p, q in script.asked if q.get("watch") == "true"]
    assert watches[0]["resourceVersion"] == "10"  # from the LIST
    assert watches[0]["allowWatchBookmarks"] == "true"
    assert watches[1]["resourceVersion"] == "20"  # moved on by the bookmark
    assert events == ["pods"] and relists == ["pods"]
    assert all(p == "/api/v1/namespaces/shop/pods" for p, _ in script.asked)


def test_a_forbidden_cluster_wide_list_falls_back_to_the_namespace(
        tmp_path: Path, script: Script, server: str) -> None:
    script.lists = [(403, [], ""), (200, [_pod("a", "5")], "6")]
    seen, _, _ = _run(tmp_path, server, None, until=1)
    [listed] = [m for m in seen if isinstance(m, informer.Listed)]
    assert listed.scope is None and listed.namespace == "shop"
    assert [g.reason.split(":")[0] for g in listed.gaps] == ["forbidden"]
    assert [p for p, _ in script.asked[:2]] == ["/api/v1/pods", "/api/v1/namespaces/shop/pods"]


def test_a_failing_watch_marks_the_informer_down_and_retries(
        tmp_path: Path, script: Script, server: str) -> None:
    script.lists = [(200, [], "3")]
    script.watches = [(500, []), (200, [{"type": "DELETED", "object": _pod("a", "4")}])]
    seen, _, relists = _run(tmp_path, server, "shop", until=2)
    health = [m.up for m in seen if isinstance(m, informer.Health)]
    assert False in health  # down while the watch failed
    assert isinstance(seen[-1], informer.Changed) and seen[-1].type == "DELETED"
    assert relists == []  # a reconnect from the same version is not a relist


def test_backoff_doubles_to_a_cap_with_jitter() -> None:
    rng = random.Random(1)
    waits = [informer.backoff(n, rng) for n in range(12)]
    assert 0.125 <= waits[0] <= 0.25
    assert all(w <= 8.0 for w in waits) and waits[-1] >= 4.0
    assert len({round(w, 6) for w in waits[8:]}) > 1  # jittered, not in step
