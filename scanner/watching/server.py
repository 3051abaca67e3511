"""The watcher's read-only HTTP endpoints.

``/metrics`` (Prometheus text format), ``/healthz`` (the process answers), ``/readyz``
(200 once the first full list has been detected on, 503 before), ``/report.json`` (the
``driftscan/report/v1`` document of now, as ``scan --format json`` writes it) and ``/``
(the HTML report of now, autoescaped like every HTML report). GET and HEAD only; any
other method is 405. A threading server: a slow scraper does not hold up the others.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from scanner import errors, model
from scanner.watching import metrics as watch_metrics
from scanner.watching import watcher

__all__ = ["DEFAULT_LISTEN", "Endpoints", "is_loopback", "parse_listen"]

DEFAULT_LISTEN = "127.0.0.1:9847"
_ALLOWED = "GET, HEAD"


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9847`` for IPv6) as a host and a port.

    Raises:
        errors.InputError: not HOST:PORT with a port from 0 to 65535.
    """
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise errors.InputError(f"--listen {text!r} is not HOST:PORT such as {DEFAULT_LISTEN}")
    return host, int(port)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


class _Server6(_Server):
    address_family = socket.AF_INET6


class Endpoints:
    """The HTTP server over a watcher's status and metrics."""

    def __init__(self, host: str, port: int, status: Callable[[], watcher.Status],
                 metrics: watch_metrics.Metrics, command_line: tuple[str, ...] = ()) -> None:
        self._status = status
        self._metrics = metrics
        self._command_line = command_line
        kind = _Server6 if ":" in host else _Server
        try:
            self._server: _Server = kind((host, port), self._handler())
        except OSError as e:
            raise errors.InputError(
                f"cannot listen on {host}:{port}: {e.strerror or e}",
                hint="pick another --listen address or port") from e
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="driftscan-http", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        """Where the server listens (the port chosen when 0 was asked for)."""
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        """Serve on a background thread."""
        self._thread.start()

    def close(self) -> None:
        """Stop serving and release the socket (also when serving never started)."""
        if self._thread.is_alive():
            # shutdown() waits for serve_forever to return: never call it when it never ran.
            self._server.shutdown()
        self._server.server_close()

    def _answer(self, path: str) -> tuple[int, str, bytes]:
        route = path.split("?", 1)[0]
        status = self._status()
        if route == "/metrics":
            return 200, watch_metrics.CONTENT_TYPE, self._metrics.exposition()
        if route == "/healthz":
            return 200, "text/plain; charset=utf-8", b"ok\n"
        if route == "/readyz":
            if status.ready:
                return 200, "text/plain; charset=utf-8", b"ready\n"
            return 503, "text/plain; charset=utf-8", b"not ready: the first list is running\n"
        if route in ("/report.json", "/"):
            if status.view is None:
                return 503, "text/plain; charset=utf-8", b"not ready: the first list is running\n"
            report = _report(status, self._command_line)
            if route == "/":
                from scanner.report import html

                return 200, "text/html; charset=utf-8", html.render(report).encode()
            from scanner.report import json_format

            return 200, "application/json", json_format.render(report).encode()
        return 404, "text/plain; charset=utf-8", b"not found\n"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        endpoints = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "driftscan"
            sys_version = ""

            def _reply(self, body_wanted: bool) -> None:
                try:
                    code, content_type, body = endpoints._answer(self.path)
                except Exception:  # noqa: BLE001 — one failed page must not end the watcher
                    code, content_type, body = 500, "text/plain; charset=utf-8", b"error\n"
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.send_header("X-Content-Type-Options", "nosniff")
                self.end_headers()
                if body_wanted:
                    self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802
                self._reply(True)

            def do_HEAD(self) -> None:  # noqa: N802
                self._reply(False)

            def _refuse(self) -> None:
                self.send_response(405)
                self.send_header("Allow", _ALLOWED)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def __getattr__(self, name: str) -> Any:
                # Every other method (POST, PUT, DELETE, PATCH, OPTIONS, made-up ones) is
                # refused with 405, not the standard library's 501.
                if name.startswith("do_"):
                    return self._refuse
                raise AttributeError(name)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # a scrape every 15 s is not worth a line

        return Handler


def _report(status: watcher.Status, command_line: tuple[str, ...]) -> Any:
    from scanner.report import integrity

    assert status.view is not None
    facts: model.Provenance = status.facts
    return integrity.seal(status.view.report(facts, command_line))
