"""Print an HTML report to PDF with headless Chromium, page numbers on every page.

``scan --format pdf`` and ``report REPORT.json --format pdf`` call :func:`write`; it
sits at the edge, beside the scan path rather than in it, because it starts a process. The
page is the HTML report itself (its print CSS keeps tables whole and wraps long
digests); Chromium is driven over the DevTools protocol on a pipe
(``--remote-debugging-pipe``: NUL-separated JSON on file descriptors 3 and 4, no TCP
port) so ``Page.printToPDF`` can add a header (cluster, time) and a footer (digest,
``page N of M``). Debian's ``chromium`` package (or ``$DRIFTSCAN_CHROMIUM``) is used;
without it :func:`browser` raises ``errors.ToolMissing`` saying how to install it or to
print the HTML report instead. The page loads nothing from the network (its
Content-Security-Policy forbids it), and Chromium runs with a throw-away profile.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from markupsafe import escape

from scanner import errors
from scanner.report import document as report_model

__all__ = ["Header", "browser", "render", "write"]

_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
    "--disable-background-networking", "--disable-component-update", "--disable-extensions",
    "--disable-default-apps", "--mute-audio", "--hide-scrollbars",
)
_TIMEOUT = 120.0
_INSTALL_HINT = (
    "install Chromium (`apt-get install -y chromium` on Debian/Ubuntu) or set"
    " DRIFTSCAN_CHROMIUM to its path; or write --format html and print that page from any"
    " browser"
)


@dataclass(frozen=True)
class Header:
    """What every printed page repeats: what the report is about, its digest."""

    title: str
    digest: str

    @classmethod
    def of(cls, report: report_model.Report) -> Header:
        """The header for a scan report."""
        p = report.provenance
        where = report.source.context or "dump"
        if p is not None and p.cluster_id:
            where += f" (cluster {p.cluster_id})"
        digest = report.integrity.digest if report.integrity else ""
        return cls(f"driftscan report — {where} — {report.generated_at}", digest)


def browser() -> str:
    """The Chromium binary to print with.

    Raises:
        errors.ToolMissing: none is installed.
    """
    override = os.environ.get("DRIFTSCAN_CHROMIUM")
    if override:
        if not (Path(override).is_file() and os.access(override, os.X_OK)):
            raise errors.ToolMissing(f"DRIFTSCAN_CHROMIUM={override} is not an executable",
                                     hint=_INSTALL_HINT)
        return override
    for name in _NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise errors.ToolMissing("--format pdf needs Chromium, which is not installed",
                             hint=_INSTALL_HINT)


def _templates(header: Header) -> tuple[str, str]:
    style = "font-size:8px;width:100%;margin:0 12mm;color:#4a5568;font-family:sans-serif;"
    top = f'<div style="{style}">{escape(header.title)}</div>'
    digest = f"{escape(header.digest)} · " if header.digest else ""
    bottom = (f'<div style="{style}display:flex;justify-content:space-between;">'
              f'<span>{digest}</span><span>page <span class="pageNumber"></span> of'
              f' <span class="totalPages"></span></span></div>')
    return top, bottom


def render(html_text: str, header: Header) -> bytes:
    """The PDF of an HTML document (A4, backgrounds printed, header and footer).

    Raises:
        errors.ToolMissing: Chromium is not installed.
        errors.RenderFailed: Chromium failed or did not answer in time.
    """
    exe = browser()
    with tempfile.TemporaryDirectory(prefix="driftscan-pdf-") as work:
        page = Path(work) / "report.html"
        page.write_text(html_text, encoding="utf-8")
        top, bottom = _templates(header)
        with _session(exe, Path(work) / "profile") as devtools:
            devtools.open(page.as_uri())
            result = devtools.call(
                "Page.printToPDF", printBackground=True, displayHeaderFooter=True,
                headerTemplate=top, footerTemplate=bottom, paperWidth=8.27,
                paperHeight=11.69, marginTop=0.6, marginBottom=0.6, marginLeft=0.4,
                marginRight=0.4, preferCSSPageSize=False)
    return base64.b64decode(result["data"])


def write(html_text: str, path: str | Path, header: Header) -> None:
    """Print ``html_text`` to the PDF file ``path`` (parent folders are created).

    Raises:
        errors.ToolMissing: Chromium is not installed.
        errors.RenderFailed: Chromium failed.
        errors.InputError: the file cannot be written.
    """
    data = render(html_text, header)
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.tmp")
        temporary.write_bytes(data)
        temporary.replace(target)  # a reader never sees half a PDF
    except OSError as e:
        raise errors.InputError(f"cannot write {target}: {e.strerror}") from e


class _DevTools:
    """The few DevTools calls printing needs, over Chromium's pipe."""

    def __init__(self, proc: subprocess.Popen[bytes], send: int, receive: int) -> None:
        self._proc, self._send, self._receive = proc, send, receive
        self._buffer = b""
        self._id = 0
        self._session = ""
        self._deadline = time.monotonic() + _TIMEOUT

    def _message(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = self._deadline - time.monotonic()
            if left <= 0 or self._proc.poll() is not None:
                raise errors.RenderFailed("Chromium stopped answering while printing the PDF",
                                          hint=_INSTALL_HINT)
            ready, _, _ = select.select([self._receive], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(self._receive, 1 << 20)
                if not chunk:
                    raise errors.RenderFailed("Chromium closed its DevTools pipe",
                                              hint=_INSTALL_HINT)
                self._buffer += chunk
        raw, _, self._buffer = self._buffer.partition(b"\0")
        message: dict[str, Any] = json.loads(raw)
        return message

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        request: dict[str, Any] = {"id": self._id, "method": method, "params": params}
        if self._session and not method.startswith("Target."):
            request["sessionId"] = self._session
        os.write(self._send, json.dumps(request).encode() + b"\0")
        while True:
            reply = self._message()
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise errors.RenderFailed(f"Chromium refused {method}: "
                                              f"{reply['error'].get('message', reply['error'])}")
                result: dict[str, Any] = reply.get("result", {})
                return result

    def open(self, url: str) -> None:
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self._session = self.call("Target.attachToTarget", targetId=target,
                                  flatten=True)["sessionId"]
        self.call("Page.enable")
        self.call("Page.navigate", url=url)
        while True:  # wait for the load event (fonts and inline SVG included)
            event = self._message()
            if event.get("method") == "Page.loadEventFired":
                return


@contextlib.contextmanager
def _session(exe: str, profile: Path) -> Iterator[_DevTools]:
    to_browser, send = os.pipe()
    receive, from_browser = os.pipe()

    def wire() -> None:  # in the child: Chromium reads fd 3 and writes fd 4
        r = fcntl.fcntl(to_browser, fcntl.F_DUPFD, 10)
        w = fcntl.fcntl(from_browser, fcntl.F_DUPFD, 10)
        os.dup2(r, 3)
        os.dup2(w, 4)

    try:
        proc = subprocess.Popen(
            [exe, *_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe",
             "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=wire, close_fds=False,  # noqa: PLW1509 - only dup2 runs in the child
        )
    except OSError as e:
        for fd in (to_browser, send, receive, from_browser):
            os.close(fd)
        raise errors.ToolMissing(f"cannot start Chromium ({exe}): {e.strerror or e}",
                                 hint=_INSTALL_HINT) from e
    os.close(to_browser)
    os.close(from_browser)
    try:
        yield _DevTools(proc, send, receive)
    finally:
        with contextlib.suppress(OSError):
            os.write(send, json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0")
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        os.close(send)
        os.close(receive)
