"""A scripted registry on loopback for the OCI client's hostile-answer tests.

Each route maps a path to a :class:`Answer` (status, headers, body, optionally trickled
a chunk at a time); every request's method, path and headers are recorded, so a test
can check which ``Authorization`` reached which server. ``tls`` serves HTTPS with a
certificate from the test cluster's CA (``clusters.pki``) and plain HTTP on the same
port (the first byte of a connection tells a TLS handshake from a request), so a
redirect can change the scheme and nothing else.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Answer:
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    trickle: float = 0.0
    """Seconds between body bytes (sent one at a time)."""
    length: str | None = None
    """Content-Length to announce; None announces the real length, "-" none at all."""


@dataclass
class FakeRegistry:
    routes: dict[str, Answer] = field(default_factory=dict)
    seen: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    """(scheme, path, headers) per request."""
    url: str = ""

    def authorizations(self, scheme: str | None = None) -> list[str | None]:
        return [h.get("Authorization") for s, _, h in self.seen if scheme in (None, s)]


@contextmanager
def serve(registry: FakeRegistry, *, tls: Path | None = None) -> Iterator[FakeRegistry]:
    """Run ``registry`` on 127.0.0.1; ``tls`` is a ``pki.ensure`` folder for HTTPS."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _reply(self) -> None:
            path = self.path.split("?", 1)[0]
            scheme = "https" if isinstance(self.connection, ssl.SSLSocket) else "http"
            registry.seen.append((scheme, path, dict(self.headers.items())))
            answer = registry.routes.get(path, Answer(404, body=b'{"errors":[]}'))
            self.send_response(answer.status)
            for name, value in answer.headers:
                self.send_header(name, value)
            if answer.length != "-":
                self.send_header("Content-Length", answer.length if answer.length is not None
                                 else str(len(answer.body)))
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command == "HEAD":
                return
            try:
                if answer.trickle:
                    for i in range(len(answer.body)):
                        self.wfile.write(answer.body[i:i + 1])
                        self.wfile.flush()
                        time.sleep(answer.trickle)
                else:
                    self.wfile.write(answer.body)
            except OSError:
                pass  # the client gave up, as it should

        do_GET = do_HEAD = do_PUT = do_POST = _reply  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:
            pass

    context: ssl.SSLContext | None = None
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls / "apiserver.crt", tls / "apiserver.key")

    class Server(ThreadingHTTPServer):
        def get_request(self) -> tuple[socket.socket, Any]:
            conn, address = self.socket.accept()
            if context is not None and conn.recv(1, socket.MSG_PEEK) == b"\x16":
                conn = context.wrap_socket(conn, server_side=True)
            return conn, address

    server = Server(("127.0.0.1", 0), Handler)
    scheme = "https" if tls is not None else "http"
    registry.url = f"{scheme}://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield registry
    finally:
        server.shutdown()
        server.server_close()
