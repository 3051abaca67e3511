"""Drive Debian's headless Chromium from tests: one-shot flags and the DevTools protocol.

:func:`run` runs ``chromium --headless … URL`` with the flags CI needs as root (fresh
profile, no sandbox, no network side-channels) for ``--screenshot``, ``--dump-dom`` and
``--print-to-pdf``. :class:`DevTools` speaks the DevTools protocol over
``--remote-debugging-pipe`` (NUL-separated JSON on file descriptors 3 and 4), so tests can
evaluate JavaScript, watch network requests and dialogs, and take screenshots with only
the standard library and no TCP port.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import struct
import subprocess
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--hide-scrollbars",
    "--mute-audio",
)
NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def binary() -> str | None:
    """Path of the Chromium binary, or None."""
    override = os.environ.get("DRIFTSCAN_CHROMIUM")
    if override:
        return override
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def run(exe: str, url: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """One headless run with a fresh profile; raises if Chromium fails."""
    with tempfile.TemporaryDirectory(prefix="driftscan-chromium-") as profile:
        return subprocess.run(
            [exe, *FLAGS, f"--user-data-dir={profile}", *args, url],
            capture_output=True, text=True, timeout=timeout, check=True,
        )


def screenshot(exe: str, url: str, out: Path, width: int = 1400, height: int = 2000) -> None:
    """``--screenshot`` of ``url`` at ``width``×``height``."""
    run(exe, url, f"--screenshot={out}", f"--window-size={width},{height}")


# --- PNG ---------------------------------------------------------------------------------


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit RGB/RGBA, non-interlaced PNG: (width, height, rows of pixel bytes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind = raw[start]
        line = bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line) if bpp == 3 else bytes(
            v for j, v in enumerate(line) if j % 4 != 3))
        prev = line
    return width, height, rows


# --- DevTools protocol over a pipe -------------------------------------------------------------


class DevTools:
    """A headless Chromium driven over ``--remote-debugging-pipe``; use as a context manager."""

    def __init__(self, exe: str, *, width: int = 1400, height: int = 2000) -> None:
        self._profile = tempfile.TemporaryDirectory(prefix="driftscan-cdp-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def wire() -> None:  # in the child: Chromium reads fd 3 and writes fd 4
            r = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
            w = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
            os.dup2(r, 3)
            os.dup2(w, 4)

        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in __exit__
        self.proc = subprocess.Popen(
            [exe, *FLAGS, f"--user-data-dir={self._profile.name}", "--remote-debugging-pipe",
             f"--window-size={width},{height}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
            preexec_fn=wire, close_fds=False,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        self.session = ""
        self.width, self.height = width, height

    def __enter__(self) -> DevTools:
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target,
                                 flatten=True)["sessionId"]
        for domain in ("Page", "Network", "Runtime", "Log"):
            self.call(f"{domain}.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=self.width, height=self.height,
                  deviceScaleFactor=1, mobile=False)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.session = ""
            self.call("Browser.close", timeout=10)
        except Exception:  # noqa: BLE001 - closing is best effort; the kill below is not
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)
        self._log.close()
        self._profile.cleanup()

    def _read(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                self._log.seek(0)
                tail = self._log.read()[-2000:].decode(errors="replace")
                raise TimeoutError(f"no DevTools message from Chromium; its log: {tail}")
            ready, _, _ = select.select([self._from_browser], [], [], left)
            if ready:
                self._buffer += os.read(self._from_browser, 1 << 20)
        message, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(message)

    def call(self, method: str, *, timeout: float = 60, **params: Any) -> dict[str, Any]:
        """Send a command and wait for its result; events seen meanwhile go to ``events``."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if self.session and not method.startswith(("Target.", "Browser.")):
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read(timeout)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self._event(reply)

    def _event(self, event: dict[str, Any]) -> None:
        if "method" not in event:
            return
        self.events.append(event)
        if event["method"] == "Page.javascriptDialogOpening":
            # An alert() would block the page; record it and dismiss it.
            message = {"id": 0, "method": "Page.handleJavaScriptDialog",
                       "params": {"accept": True}, "sessionId": event.get("sessionId")}
            os.write(self._to_browser, json.dumps(message).encode() + b"\0")

    def wait_for(self, method: str, timeout: float = 60) -> dict[str, Any]:
        """The first event ``method`` (already seen or arriving within ``timeout``)."""
        for event in self.events:
            if event["method"] == method:
                return event
        deadline = time.monotonic() + timeout
        while True:
            event = self._read(max(0.1, deadline - time.monotonic()))
            self._event(event)
            if event.get("method") == method:
                return event

    def open(self, url: str) -> None:
        """Navigate and wait for the load event."""
        self.events.clear()
        self.call("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        """The JSON value of ``expression`` in the page."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self) -> bytes:
        """A PNG of the viewport."""
        return base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])

    def methods(self, name: str) -> list[dict[str, Any]]:
        """Events of one kind seen since the last :meth:`open`."""
        return [e.get("params", {}) for e in self.events if e["method"] == name]
