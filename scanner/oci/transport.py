"""One HTTP exchange with a registry: connection per request, redirects, unreachable hosts.

:class:`Transport` knows nothing about auth or the distribution API; it sends one
request (following redirects for ``GET``/``HEAD``, dropping ``Authorization`` when a
redirect leaves the registry's host) and returns whatever HTTP answer came back, or
raises :class:`failures.Unreachable` with a hint when none did.
"""

from __future__ import annotations

import http.client
import json
import ssl
import urllib.parse
from dataclasses import dataclass
from typing import Any, NoReturn

from scanner import errors
from scanner.oci import failures, names

__all__ = ["MAX_REDIRECTS", "USER_AGENT", "Purpose", "Response", "Transport", "json_object"]

USER_AGENT = "driftscan-registry-client"
MAX_REDIRECTS = 5


@dataclass(frozen=True)
class Response:
    """One HTTP answer, body read in full."""

    status: int
    reason: str
    headers: http.client.HTTPMessage
    body: bytes
    url: str

    def header(self, name: str) -> str | None:
        """The first value of a header, or ``None``."""
        return self.headers.get(name)

    def registry_errors(self) -> str:
        """``CODE: message`` pairs from a distribution error body, if there is one."""
        try:
            doc = json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return ""
        items = doc.get("errors") if isinstance(doc, dict) else None
        if not isinstance(items, list):
            return ""
        parts = [
            f"{item.get('code', '?')}: {item.get('message', '')}".strip()
            for item in items
            if isinstance(item, dict)
        ]
        return "; ".join(parts)


@dataclass(frozen=True)
class Purpose:
    """What a request is for, so failures can say it."""

    action: str
    repository: str
    reference: str = ""
    missing_hint: str = "check the repository and reference, or push the image first"


class Transport:
    """Sends requests to one registry's API host; safe to share between threads.

    Each request opens its own connection, so threads never share a socket.
    """

    def __init__(self, registry: str, base_url: str, *, timeout: float) -> None:
        """Prepare a transport (no network yet).

        Args:
            registry: ``host[:port]`` as users write it, for messages.
            base_url: ``scheme://host[:port]`` the API answers at.
            timeout: Seconds for connecting and for each read.
        """
        self.registry = registry
        self.base_url = base_url
        self.timeout = timeout
        self.netloc = urllib.parse.urlsplit(base_url).netloc
        self._ssl = ssl.create_default_context()

    def send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes | None,
        what: Purpose,
    ) -> Response:
        """One HTTP exchange, following redirects for GET/HEAD (without auth off-host)."""
        for _ in range(MAX_REDIRECTS + 1):
            parts = urllib.parse.urlsplit(url)
            connection: http.client.HTTPConnection
            if parts.scheme == "https":
                connection = http.client.HTTPSConnection(
                    parts.hostname or "", parts.port, timeout=self.timeout, context=self._ssl
                )
            else:
                connection = http.client.HTTPConnection(
                    parts.hostname or "", parts.port, timeout=self.timeout
                )
            path = parts.path or "/"
            if parts.query:
                path += "?" + parts.query
            try:
                connection.request(method, path, body=body, headers=headers)
                raw = connection.getresponse()
                response = Response(raw.status, raw.reason, raw.msg, raw.read(), url)
            except (OSError, http.client.HTTPException) as exc:
                self._unreachable(url, exc, what)
            finally:
                connection.close()
            location = response.header("Location")
            redirected = response.status in (301, 302, 303, 307, 308)
            if not (redirected and location and method in ("GET", "HEAD")):
                return response
            url = urllib.parse.urljoin(url, location)
            if urllib.parse.urlsplit(url).netloc != self.netloc:
                headers = {k: v for k, v in headers.items() if k != "Authorization"}
        subject = names.subject(what.repository, what.reference)
        raise errors.RegistryError(
            f"registry {self.registry}: {what.action} {subject}"
            f" was redirected more than {MAX_REDIRECTS} times",
            hint="the registry or a proxy in front of it is misconfigured",
        )

    def _unreachable(self, url: str, exc: BaseException, what: Purpose) -> NoReturn:
        subject = names.subject(what.repository, what.reference)
        detail = str(exc) or type(exc).__name__
        host = urllib.parse.urlsplit(url).netloc
        if isinstance(exc, ssl.SSLError) and "WRONG_VERSION_NUMBER" in detail:
            hint = f"{host} seems to speak plain HTTP: mark it insecure (--insecure-registry)"
        elif isinstance(exc, ConnectionRefusedError):
            hint = f"nothing listens on {host}: start the registry or fix the port"
        elif isinstance(exc, TimeoutError):
            hint = f"{host} did not answer within {self.timeout:g}s: check the network, retry"
        else:
            hint = f"check that a registry runs at {host} and is reachable from here"
        via = "" if urllib.parse.urlsplit(url).netloc == self.netloc else f" (via {url})"
        raise failures.Unreachable(
            f"registry {self.registry} unreachable while trying to {what.action}"
            f" {subject}{via}: {detail}",
            hint=hint,
        ) from exc


def json_object(data: bytes) -> dict[str, Any]:
    """``data`` parsed as a JSON object; ``{}`` for anything else."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return {}
    return doc if isinstance(doc, dict) else {}
