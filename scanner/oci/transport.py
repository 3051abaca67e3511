"""One HTTP exchange with a registry: connection per request, redirects, unreachable hosts.

:class:`Transport` knows nothing about the distribution API; it sends one request and
returns whatever HTTP answer came back, or raises :class:`failures.Unreachable` with a
hint when none did. What it guarantees, whatever the registry or a proxy sends:

* **a total deadline**: connecting, every redirect and reading the whole body end within
  ``timeout`` seconds; a registry that trickles a byte every few seconds is cut off;
* **a body cap**: manifests and indexes are at most :data:`MAX_MANIFEST_BYTES` (4 MiB,
  what registries themselves enforce); a bigger ``Content-Length`` is refused before
  reading, a body that grows past it while reading is cut off;
* **credentials rules** as the Docker and OCI clients apply them: ``Authorization``
  never travels over plain HTTP except to a loopback host or to the registry the user
  marked insecure, and a redirect that changes scheme or host drops it;
* malformed answers (an unparsable ``Content-Length``, a ``Location`` that is not a
  URL) are :class:`errors.RegistryError`, one line.
"""

from __future__ import annotations

import http.client
import json
import ssl
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any, NoReturn

from scanner import errors
from scanner.oci import failures, names

__all__ = [
    "MAX_BLOB_BYTES",
    "MAX_MANIFEST_BYTES",
    "MAX_REDIRECTS",
    "USER_AGENT",
    "Purpose",
    "Response",
    "Transport",
    "content_length",
    "json_object",
    "may_carry_credentials",
]

USER_AGENT = "driftscan-registry-client"
MAX_REDIRECTS = 5
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
"""Largest manifest, index, token or error body read (distribution's own limit)."""
MAX_BLOB_BYTES = 512 * 1024 * 1024
"""Largest blob read (only test clusters and scenarios fetch blobs)."""
_CHUNK = 64 * 1024


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
        items = json_object(self.body).get("errors")
        if not isinstance(items, list):
            return ""
        parts = [
            " ".join(f"{item.get('code', '?')}: {item.get('message', '')}".split())[:300]
            for item in items[:5]
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
            base_url: ``scheme://host[:port]`` the API answers at; plain ``http`` means
                the user marked the registry insecure (or it is on loopback).
            timeout: Seconds one request may take in all, redirects and body included.
        """
        self.registry = registry
        self.base_url = base_url
        self.timeout = timeout
        self.netloc = urllib.parse.urlsplit(base_url).netloc
        self._origin = _origin(base_url)
        self._ssl = ssl.create_default_context()

    def send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes | None,
        what: Purpose,
        *,
        max_body: int = MAX_MANIFEST_BYTES,
    ) -> Response:
        """One HTTP exchange, following redirects for GET/HEAD, within the deadline.

        Raises:
            failures.Unreachable: no answer, or no complete answer before the deadline.
            errors.RegistryError: a malformed answer, a body over ``max_body``, or too
                many redirects.
        """
        deadline = time.monotonic() + self.timeout
        for _ in range(MAX_REDIRECTS + 1):
            if "Authorization" in headers and not self.may_carry_credentials(url):
                headers = {k: v for k, v in headers.items() if k != "Authorization"}
            response = self._exchange(method, url, headers, body, what, deadline, max_body)
            location = response.header("Location")
            redirected = response.status in (301, 302, 303, 307, 308)
            if not (redirected and location and method in ("GET", "HEAD")):
                return response
            try:
                following = urllib.parse.urljoin(url, location.strip())
                parts = urllib.parse.urlsplit(following)
                parts.port  # noqa: B018 - raises ValueError for a port that is not a number
            except ValueError as exc:
                raise self._malformed(what, f"a redirect to an invalid URL ({location!r:.80})") \
                    from exc
            if parts.scheme not in ("http", "https"):
                raise self._malformed(what, f"a redirect to a {parts.scheme!r} URL")
            if _origin(following) != _origin(url):
                # Docker's rule: credentials are for the origin they were given to.
                headers = {k: v for k, v in headers.items() if k != "Authorization"}
            url = following
        subject = names.subject(what.repository, what.reference)
        raise errors.RegistryError(
            f"registry {self.registry}: {what.action} {subject}"
            f" was redirected more than {MAX_REDIRECTS} times",
            hint="the registry or a proxy in front of it is misconfigured",
        )

    def may_carry_credentials(self, url: str) -> bool:
        """Whether ``Authorization`` may be sent to ``url``.

        Over HTTPS always; over plain HTTP only to a loopback host, or to the registry
        itself when the user marked it insecure (``--insecure-registry``).
        """
        return may_carry_credentials(url, insecure_origin=self._origin
                                     if self._origin[0] == "http" else None)

    def _exchange(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
                  what: Purpose, deadline: float, max_body: int) -> Response:
        try:
            parts = urllib.parse.urlsplit(url)
            host, port = parts.hostname or "", parts.port
        except ValueError as exc:
            raise self._malformed(what, f"an invalid URL ({url!r:.80})") from exc
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            self._unreachable(url, TimeoutError("timed out"), what)
        connection: http.client.HTTPConnection
        if parts.scheme == "https":
            connection = http.client.HTTPSConnection(host, port, timeout=remaining,
                                                     context=self._ssl)
        else:
            connection = http.client.HTTPConnection(host, port, timeout=remaining)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        try:
            connection.request(method, path, body=body, headers=headers)
            raw = connection.getresponse()
            data = b"" if method == "HEAD" else self._read(raw, connection, what, deadline,
                                                          max_body)
            return Response(raw.status, raw.reason, raw.msg, data, url)
        except (OSError, http.client.HTTPException) as exc:
            self._unreachable(url, exc, what)
        finally:
            connection.close()

    def _read(self, raw: http.client.HTTPResponse, connection: http.client.HTTPConnection,
              what: Purpose, deadline: float, max_body: int) -> bytes:
        """The whole body, read against the deadline and the size cap."""
        declared = raw.getheader("Content-Length")
        if declared is not None and content_length(declared) is None:
            raise self._malformed(what, f"an invalid Content-Length ({declared!r:.40})")
        size = content_length(declared) if declared is not None else None
        if size is not None and size > max_body:
            raise self._too_big(what, max_body)
        chunks: list[bytes] = []
        received = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"the answer took longer than {self.timeout:g}s")
            if connection.sock is not None:
                connection.sock.settimeout(remaining)
            chunk = raw.read1(_CHUNK)
            if not chunk:
                return b"".join(chunks)
            received += len(chunk)
            if received > max_body:
                raise self._too_big(what, max_body)
            chunks.append(chunk)

    def _too_big(self, what: Purpose, limit: int) -> errors.RegistryError:
        return errors.RegistryError(
            f"registry {self.registry}: the answer to {what.action}"
            f" {names.subject(what.repository, what.reference)} is larger than"
            f" {limit // 2**20} MiB; refusing to read it",
            hint="a manifest or index is at most 4 MiB: check what serves this registry",
        )

    def _malformed(self, what: Purpose, detail: str) -> errors.RegistryError:
        return errors.RegistryError(
            f"registry {self.registry}: {what.action}"
            f" {names.subject(what.repository, what.reference)} got {detail}",
            hint="the registry or a proxy in front of it sent a malformed answer",
        )

    def _unreachable(self, url: str, exc: BaseException, what: Purpose) -> NoReturn:
        subject = names.subject(what.repository, what.reference)
        detail = str(exc) or type(exc).__name__
        host = urllib.parse.urlsplit(url).netloc
        if host == self.netloc:
            host = self.registry  # the name the user wrote, as in the message
        if isinstance(exc, ssl.SSLCertVerificationError):
            raise failures.Unreachable(
                f"registry {self.registry}: TLS certificate verification failed while trying"
                f" to {what.action} {subject}: {exc.verify_message or detail}",
                hint=f"trust its CA with SSL_CERT_FILE=/path/to/ca.pem, or, if {host} serves"
                " plain HTTP, --insecure-registry " + host,
            ) from exc
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
    except (ValueError, UnicodeDecodeError, RecursionError):
        return {}
    return doc if isinstance(doc, dict) else {}


def content_length(value: str | None) -> int | None:
    """A ``Content-Length`` value as a number; None unless it is plain decimal digits."""
    text = (value or "").strip()
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        return None
    return int(text)


def _origin(url: str) -> tuple[str, str]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def may_carry_credentials(url: str, *, insecure_origin: tuple[str, str] | None = None) -> bool:
    """Whether credentials may travel to ``url``: HTTPS, loopback, or the insecure origin.

    Args:
        url: where the request goes.
        insecure_origin: ``(scheme, netloc)`` of a registry the user marked insecure.
    """
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return False
    if parts.scheme.lower() == "https":
        return True
    if parts.scheme.lower() != "http":
        return False
    if insecure_origin is not None and _origin(url) == insecure_origin:
        return True
    return names.is_loopback(f"[{host}]" if ":" in host else host)
