"""Toxiproxy for the fault-injection tests: a real TCP proxy between driftscan and the
kwok cluster's apiserver and registry, with latency, bandwidth, resets, stalls, slicing
and truncation added and removed through its HTTP API.

The server is ``toxiproxy-server`` (built by ``make cluster-tools``, pinned in
``scanner/clusters/gotools/versions.env``). It runs
in a process group of its own, stopped whole at the end; its API port is picked free and
retried if another process takes it first, and every proxy listens on a port the kernel
picks (``127.0.0.1:0``), which Toxiproxy reports back.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def _binary() -> Path:
    from scanner.clusters import toolchain

    found = toolchain.locate("toxiproxy-server")
    return found if found is not None else Path(".tools/bin/toxiproxy-server")


BINARY = _binary()


@dataclass
class Toxiproxy:
    api: str
    process: subprocess.Popen[bytes]

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.api + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
        return json.loads(text) if text else None

    def proxy(self, name: str, upstream: str) -> str:
        """Create a proxy to ``upstream`` (``host:port``); return its ``host:port``."""
        created = self._call("POST", "/proxies", {"name": name, "listen": "127.0.0.1:0",
                                                   "upstream": upstream, "enabled": True})
        return str(created["listen"])

    @contextmanager
    def toxic(self, proxy: str, kind: str, stream: str = "downstream",
              **attributes: int) -> Iterator[None]:
        """Apply one toxic to ``proxy`` while the block runs."""
        name = f"{kind}_{stream}"
        self._call("POST", f"/proxies/{proxy}/toxics",
                   {"name": name, "type": kind, "stream": stream, "toxicity": 1.0,
                    "attributes": attributes})
        try:
            yield
        finally:
            self._call("DELETE", f"/proxies/{proxy}/toxics/{name}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running(log: Path) -> Iterator[Toxiproxy]:
    """Start ``toxiproxy-server`` on loopback; stop its whole process group afterwards."""
    last = ""
    for _ in range(5):  # a port picked free may be taken before the server binds it
        port = _free_port()
        with log.open("ab") as out:
            process = subprocess.Popen(
                [str(BINARY), "-host", "127.0.0.1", "-port", str(port)],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        proxy = Toxiproxy(f"http://127.0.0.1:{port}", process)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and process.poll() is None:
            try:
                proxy._call("GET", "/version")
                break
            except (urllib.error.URLError, OSError):
                time.sleep(0.05)
        else:
            last = log.read_text(errors="replace")[-300:]
            _stop(process)
            continue
        try:
            yield proxy
        finally:
            _stop(process)
        return
    raise RuntimeError(f"toxiproxy-server did not start: {last}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)
