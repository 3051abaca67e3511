"""A tiny HTTP apiserver for live-source tests: paginated LISTs, 403s, 410s, a request log.

Serves ``GET /version``, ``GET`` of the ``kube-system`` namespace and collection paths
from an in-memory table; ``limit`` and ``continue`` page like the real apiserver (the
token is an offset, each LIST gets the next resourceVersion). Another namespace exists
(``GET /api/v1/namespaces/NAME``, and in ``GET /api/v1/namespaces``) when a collection
path lies under it, unless ``namespaces`` names them explicitly. The only non-GET it
answers is the ``SelfSubjectReview`` create (which the real apiserver does not store
either); any other write fails the test with a 501.

``faults`` scripts misbehaviour per path, one :class:`Fault` per request in order: any
status with headers (429 with ``Retry-After``, 503 bursts), a truncated body, a hang
before answering, or a body trickled a byte at a time — what a proxy, an overloaded
apiserver or a broken load balancer sends.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from scanner.clusters import pki

KUBE_SYSTEM = "/api/v1/namespaces/kube-system"
REVIEWS = "/apis/authentication.k8s.io/v1/selfsubjectreviews"


@dataclass(frozen=True)
class Fault:
    """One scripted answer; ``status`` 0 means the normal answer, possibly altered."""

    status: int = 0
    headers: tuple[tuple[str, str], ...] = ()
    truncate: int | None = None
    """Send only this many bytes of the body (Content-Length still promises all)."""
    hang: float = 0.0
    """Seconds to wait before answering."""
    trickle: float = 0.0
    """Seconds between body bytes."""
    after: int = 0
    """Apply only from this request to the path on (0: the first)."""


@dataclass
class FakeApiserver:
    collections: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    forbidden: set[str] = field(default_factory=set)
    expire_once: set[str] = field(default_factory=set)
    unauthorized: bool = False
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    namespaces: set[str] | None = None
    kube_system_uid: str = "5f0c3a52-0000-4000-8000-00000000c1d0"
    user: dict[str, Any] | None = field(default_factory=lambda: {
        "username": "system:serviceaccount:shop:scanner", "uid": "sa-uid",
        "groups": ["system:serviceaccounts", "system:authenticated"]})
    resource_version: int = 100
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    authorizations: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, method: str, raw_path: str) -> tuple[int, dict[str, Any]]:
        parsed = urllib.parse.urlsplit(raw_path)
        query = dict(urllib.parse.parse_qsl(parsed.query))
        with self.lock:
            self.requests.append((method, parsed.path, query))
        if self.unauthorized:
            return 401, _status(401, "Unauthorized", "Unauthorized")
        if method == "POST" and parsed.path == REVIEWS and parsed.path not in self.forbidden:
            if self.user is None:
                return 404, _status(404, "NotFound", "the server could not find the resource")
            return 201, {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview",
                         "status": {"userInfo": self.user}}
        if method != "GET" and parsed.path not in self.forbidden:
            return 501, _status(501, "NotImplemented", "read-only fake")
        if parsed.path == KUBE_SYSTEM and parsed.path not in self.forbidden:
            return 200, {"kind": "Namespace", "apiVersion": "v1", "metadata": {
                "name": "kube-system", "uid": self.kube_system_uid}}
        if parsed.path == "/version":
            return 200, {"major": "1", "minor": "32", "gitVersion": "v1.32.0"}
        if parsed.path not in self.forbidden and parsed.path.startswith("/api/v1/namespaces"):
            answer = self._namespaces(parsed.path)
            if answer is not None:
                return answer
        if parsed.path in self.forbidden:
            return 403, _status(403, "Forbidden",
                                f'pods is forbidden: User "system:serviceaccount:x:y" cannot'
                                f" list resource at {parsed.path}")
        if parsed.path not in self.collections:
            return 404, _status(404, "NotFound", "the server could not find the resource")
        token = query.get("continue", "")
        if token and parsed.path in self.expire_once:
            with self.lock:
                self.expire_once.discard(parsed.path)
            return 410, _status(410, "Expired", "The provided continue parameter is too old")
        items = self.collections[parsed.path]
        start = int(token or 0)
        limit = int(query.get("limit", 0)) or len(items)
        page = items[start:start + limit]
        following = start + limit
        if not token:
            with self.lock:
                self.resource_version += 1
        metadata: dict[str, Any] = {"resourceVersion": str(self.resource_version)}
        if following < len(items):
            metadata["continue"] = str(following)
            metadata["remainingItemCount"] = len(items) - following
        return 200, {"kind": "List", "apiVersion": "v1", "metadata": metadata, "items": page}

    def fault(self, path: str) -> Fault | None:
        """The scripted fault for the next request to ``path``, if any (consumed)."""
        with self.lock:
            queue = self.faults.get(path)
            if not queue:
                return None
            seen = sum(1 for _, p, _ in self.requests if p == path)
            if seen <= queue[0].after:
                return None
            return queue.pop(0)
    def existing_namespaces(self) -> set[str]:
        if self.namespaces is not None:
            return self.namespaces
        return {p.split("/")[-2] for p in self.collections if "/namespaces/" in p}

    def _namespaces(self, path: str) -> tuple[int, dict[str, Any]] | None:
        parts = path.strip("/").split("/")  # api v1 namespaces [NAME]
        if len(parts) == 3:
            items = [{"metadata": {"name": n}} for n in sorted(self.existing_namespaces())]
            return 200, {"kind": "NamespaceList", "apiVersion": "v1", "items": items}
        if len(parts) != 4:
            return None
        if parts[3] in self.existing_namespaces():
            return 200, {"kind": "Namespace", "apiVersion": "v1",
                         "metadata": {"name": parts[3]}}
        return 404, _status(404, "NotFound", f'namespaces "{parts[3]}" not found')

    def get_paths(self) -> list[str]:
        return [path for method, path, _ in self.requests if method == "GET"]


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message,
            "reason": reason, "code": code}


@contextmanager
def serve(fake: FakeApiserver, tls: pki.Pki | None = None) -> Iterator[str]:
    """Run ``fake`` on a loopback port; yields its base URL.

    With ``tls``, it serves HTTPS with the PKI's apiserver certificate and, like a real
    apiserver, asks for a client certificate signed by the PKI's CA (optional, since a
    bearer token also authenticates).
    """

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, method: str) -> None:
            fake.authorizations.add(self.headers.get("Authorization") or "")
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)  # keep the connection in step for the next request
            code, body = fake.handle(method, self.path)
            fault = fake.fault(urllib.parse.urlsplit(self.path).path)
            if fault is not None and fault.status:
                code, body = fault.status, _status(fault.status, "Scripted", "scripted fault")
            data = json.dumps(body).encode()
            if fault is not None and fault.hang:
                time.sleep(fault.hang)
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in fault.headers if fault is not None else ():
                self.send_header(name, value)
            self.end_headers()
            if fault is not None and fault.truncate is not None:
                self.wfile.write(data[: fault.truncate])
                self.wfile.flush()
                self.close_connection = True
                return
            if fault is not None and fault.trickle:
                for i in range(len(data)):
                    self.wfile.write(data[i:i + 1])
                    self.wfile.flush()
                    time.sleep(fault.trickle)
                return
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802
            self._reply("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._reply("POST")

        def do_DELETE(self) -> None:  # noqa: N802
            self._reply("DELETE")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    scheme = "http"
    if tls is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(tls.apiserver_crt, tls.apiserver_key)
        context.load_verify_locations(tls.ca_crt)
        context.verify_mode = ssl.CERT_OPTIONAL
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def kubeconfig(path: Path, server: str, *, namespace: str = "shop",
               contexts: tuple[str, ...] = ("test",), cluster: dict[str, Any] | None = None,
               user: dict[str, Any] | None = None) -> Path:
    """Write a kubeconfig with a token user (or ``user``); the first context is current."""
    import yaml

    doc = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server, **(cluster or {})}}],
        "users": [{"name": "u", "user": user or {"token": "t0ken"}}],
        "contexts": [{"name": n, "context": {"cluster": "c", "user": "u", "namespace": namespace}}
                     for n in contexts],
        "current-context": contexts[0],
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def split_by_kind(doc: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Turn a kubectl List into the collections a real apiserver would serve (-A paths)."""
    paths = {
        "Pod": "/api/v1/pods", "Service": "/api/v1/services", "Node": "/api/v1/nodes",
        "ReplicaSet": "/apis/apps/v1/replicasets", "Deployment": "/apis/apps/v1/deployments",
        "StatefulSet": "/apis/apps/v1/statefulsets", "DaemonSet": "/apis/apps/v1/daemonsets",
        "ControllerRevision": "/apis/apps/v1/controllerrevisions",
        "Job": "/apis/batch/v1/jobs", "CronJob": "/apis/batch/v1/cronjobs",
        "ReplicationController": "/api/v1/replicationcontrollers",
    }
    result: dict[str, list[dict[str, Any]]] = {p: [] for p in paths.values()}
    for item in doc["items"]:
        stripped = {k: v for k, v in item.items() if k not in ("kind", "apiVersion")}
        result[paths[item["kind"]]].append(stripped)
        ns = item["metadata"].get("namespace")
        if ns:
            namespaced = paths[item["kind"]].rsplit("/", 1)
            key = f"{namespaced[0]}/namespaces/{ns}/{namespaced[1]}"
            result.setdefault(key, []).append(stripped)
    for path in list(result):
        if "/namespaces/" not in path and path != "/api/v1/nodes":
            base, plural = path.rsplit("/", 1)
            for ns in {i["metadata"]["namespace"] for i in doc["items"]
                       if i["metadata"].get("namespace")}:
                result.setdefault(f"{base}/namespaces/{ns}/{plural}", [])
    return result
