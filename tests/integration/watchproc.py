"""Processes the integration tests start on loopback: ``driftscan watch`` (and any server
with a readiness URL), waited for, stopped with SIGTERM, their logs kept for failures."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 — loopback
            return int(response.status), response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return 0, b""


def wait(what: str, probe: Callable[[], Any], timeout: float,
          process: subprocess.Popen[bytes] | None = None, log: Path | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        if process is not None and process.poll() is not None:
            tail = log.read_text()[-3000:] if log else ""
            raise AssertionError(f"{what}: the process exited ({process.returncode}):\n{tail}")
        time.sleep(0.2)
    tail = log.read_text()[-3000:] if log else ""
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{tail}")


@dataclass
class Running:
    """A process of the test, its log and its loopback address."""

    process: subprocess.Popen[bytes]
    log: Path
    url: str

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)


@contextlib.contextmanager
def started(argv: list[str], log: Path, url: str, ready: str, timeout: float,
             env: dict[str, str] | None = None) -> Iterator[Running]:
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env,
                                   start_new_session=True)
    running = Running(process, log, url)
    try:
        wait(f"{argv[0]} {ready}", lambda: get(url + ready)[0] == 200, timeout,
              process, log)
        yield running
    finally:
        running.stop()


def watcher(kubeconfig: Path, scope: list[str], tmp: Path) -> contextlib.AbstractContextManager[
        Running]:
    """``driftscan watch`` as a process on a free loopback port, ready (``/readyz``)."""
    port = free_port()
    argv = [sys.executable, "-m", "scanner.cli", "watch", "--kubeconfig", str(kubeconfig),
            *scope, "--listen", f"127.0.0.1:{port}"]
    # No registry is asked and no credential file is read: only the apiserver is watched.
    env = {**os.environ, "DOCKER_CONFIG": str(tmp / "no-docker-config")}
    return started(argv, tmp / "watch.log", f"http://127.0.0.1:{port}", "/readyz", 60,
                    env=env)
