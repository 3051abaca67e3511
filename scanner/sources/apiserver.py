"""The apiserver connection every live reader shares: TLS, credentials, requests, retries.

``sources.live`` (paginated LISTs) and ``watching`` (LIST + WATCH streams) open a
:class:`Connection` with :func:`connect` and talk through :func:`get` / :func:`request`,
or :func:`stream` for a watch. The transport is urllib3 with the kubeconfig's TLS
settings (``sources.kubeconfig``), or the pod's service account when run in a cluster;
the Kubernetes client library is imported only for users authenticating through an
``exec`` plugin or ``auth-provider``, to run it. Every request is read-only except the
SelfSubjectReview POST that asks who the scan runs as.
"""

from __future__ import annotations

import base64
import concurrent.futures
import datetime
import email.utils
import os
import ssl
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson
import urllib3

from scanner import __version__, errors
from scanner.sources import kubeconfig, provenance

__all__ = ["MAX_BACKOFF", "Connection", "Response", "Settings", "ask", "backoff", "connect",
           "deadline_of", "get", "probe", "request", "status_message", "stream", "transport_reason",
           "unauthorized"]

MAX_BACKOFF = 10.0
"""Longest wait between two tries, whatever ``Retry-After`` asks."""
_MAX_BODY = 512 * 1024 * 1024
"""Largest response read (a 500-pod page is a few MiB)."""


@dataclass
class Connection:
    """The chosen context's apiserver: one connection pool and the request headers."""

    endpoint: kubeconfig.Endpoint
    pool: urllib3.PoolManager
    headers: dict[str, str]
    timeout: urllib3.Timeout
    request_timeout: float = 30.0
    """Seconds one request may take in all, retries included (``--request-timeout``)."""

    @property
    def context(self) -> str:
        """The kubeconfig context's name (``in-cluster`` in a pod)."""
        return self.endpoint.context

    @property
    def host(self) -> str:
        """The apiserver URL."""
        return self.endpoint.server

    @property
    def default_namespace(self) -> str:
        """The context's namespace (``default`` when it names none)."""
        return self.endpoint.namespace


# --- connecting ------------------------------------------------------------------------


class Settings(Protocol):
    """What :func:`connect` needs to know (``live.LiveOptions`` and ``watching`` have it)."""

    @property
    def kubeconfig(self) -> str | None:
        """``--kubeconfig``, or None for ``$KUBECONFIG`` / ``~/.kube/config`` / in-cluster."""
    @property
    def context(self) -> str | None:
        """``--context``, or None for the current one."""
    @property
    def connect_timeout(self) -> float:
        """Seconds to connect."""
    @property
    def read_timeout(self) -> float:
        """Seconds between two reads of one response."""
    @property
    def request_timeout(self) -> float:
        """Seconds one request may take in all, retries included."""


def connect(options: Settings) -> Connection:
    """Open the chosen context's apiserver (or the pod's own, in a cluster).

    Raises:
        errors.ClusterUnreachable: no kubeconfig, unknown context, unusable credentials.
    """
    path = kubeconfig.path_of(options.kubeconfig)
    files = [p for p in path.split(os.pathsep) if p]
    if not any(Path(p).expanduser().is_file() for p in files):
        found = None
        if not options.kubeconfig and not options.context:
            found = kubeconfig.in_cluster()
        if found is None:
            raise errors.ClusterUnreachable(
                f"no kubeconfig at {path}",
                hint="pass --kubeconfig PATH, set KUBECONFIG, or scan a dump with --from FILE",
            )
        return _open(found, options)
    try:
        return _open(kubeconfig.endpoint(path, options.context), options)
    except kubeconfig.Delegated as plugin:
        return _open(_through_client_library(plugin), options)


def _through_client_library(plugin: kubeconfig.Delegated) -> kubeconfig.Endpoint:
    """Let the Kubernetes client run the user's exec plugin or auth provider."""
    import yaml
    from kubernetes import config as k8s_config

    try:
        api = k8s_config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=plugin.path, context=plugin.context, persist_config=False
        )
    except (k8s_config.ConfigException, OSError, ValueError, TypeError, KeyError,
            AttributeError, yaml.YAMLError) as e:
        raise errors.ClusterUnreachable(
            f"context {plugin.context!r} in kubeconfig {plugin.path} is unusable:"
            f" {_one_line(e)}", hint=kubeconfig.HINT,
        ) from e
    cfg = api.configuration
    api.close()
    try:
        authorization = cfg.get_api_key_with_prefix("BearerToken") or ""
    except (k8s_config.ConfigException, OSError, ValueError, KeyError) as e:
        raise errors.ClusterUnreachable(
            f"context {plugin.context!r} in kubeconfig {plugin.path}: the credential plugin"
            f" failed: {_one_line(e)}", hint=kubeconfig.HINT) from e
    return kubeconfig.Endpoint(
        context=plugin.context, namespace=plugin.namespace, server=str(cfg.host).rstrip("/"),
        ca_file=cfg.ssl_ca_cert or "", insecure=not cfg.verify_ssl,
        tls_server_name=getattr(cfg, "tls_server_name", None) or "",
        cert_file=cfg.cert_file or "", key_file=cfg.key_file or "",
        authorization=str(authorization),
        proxy=cfg.proxy or "",
    )


def _one_line(e: BaseException) -> str:
    """The client library's message on one line, without its "Invalid kube-config" preamble."""
    text = " ".join(str(e).split()) or type(e).__name__
    for preamble in ("Invalid kube-config file. ", "Invalid kube-config. "):
        text = text.removeprefix(preamble)
    return text


def _open(endpoint: kubeconfig.Endpoint, options: Settings) -> Connection:
    """A connection pool that verifies the apiserver and presents the user's credentials."""
    headers = {"Accept": "application/json", "User-Agent": f"driftscan/{__version__}"}
    if endpoint.authorization:
        headers["Authorization"] = endpoint.authorization
    elif endpoint.token:
        headers["Authorization"] = f"Bearer {endpoint.token}"
    elif endpoint.username:
        basic = f"{endpoint.username}:{endpoint.password}".encode()
        headers["Authorization"] = f"Basic {base64.b64encode(basic).decode()}"
    # One connection per concurrent user: the watcher holds a stream per kind at once, and a
    # pool smaller than that discards (and logs) every connection handed back.
    settings: dict[str, Any] = {"retries": False,
                                "maxsize": int(getattr(options, "pool_size", 1))}
    if endpoint.server.startswith("https://"):
        settings["ssl_context"] = _tls(endpoint)
        if endpoint.tls_server_name:
            settings["server_hostname"] = endpoint.tls_server_name
    pool: urllib3.PoolManager
    if endpoint.proxy:
        pool = urllib3.ProxyManager(endpoint.proxy, **settings)
    else:
        pool = urllib3.PoolManager(**settings)
    timeout = urllib3.Timeout(connect=options.connect_timeout, read=options.read_timeout)
    return Connection(endpoint, pool, headers, timeout, options.request_timeout)


def _tls(endpoint: kubeconfig.Endpoint) -> ssl.SSLContext:
    def unusable(what: str, e: BaseException) -> errors.ClusterUnreachable:
        reason = getattr(e, "strerror", None) or getattr(e, "reason", None) or e
        return errors.ClusterUnreachable(
            f"context {endpoint.context!r}: {what} cannot be loaded ({reason})",
            hint=kubeconfig.HINT)

    context = ssl.create_default_context()
    if endpoint.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        try:
            if endpoint.ca_file or endpoint.ca_data:
                context.load_verify_locations(cafile=endpoint.ca_file or None,
                                              cadata=endpoint.ca_data or None)
        except (OSError, ssl.SSLError, ValueError) as e:
            raise unusable("the certificate authority", e) from e
    if endpoint.cert_file or endpoint.cert_data:
        try:
            _load_client_certificate(context, endpoint)
        except (OSError, ssl.SSLError, ValueError) as e:
            raise unusable("the client certificate", e) from e
    return context


def _load_client_certificate(context: ssl.SSLContext, endpoint: kubeconfig.Endpoint) -> None:
    if not (endpoint.cert_data or endpoint.key_data):
        context.load_cert_chain(endpoint.cert_file, endpoint.key_file or None)
        return
    # ssl loads certificates from files only: a private folder that lives for the call.
    with tempfile.TemporaryDirectory(prefix="driftscan-tls-") as folder:
        cert, key = Path(folder) / "cert.pem", Path(folder) / "key.pem"
        for target, data, source in ((cert, endpoint.cert_data, endpoint.cert_file),
                                     (key, endpoint.key_data, endpoint.key_file)):
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data or (Path(source).read_bytes() if source else b""))
        context.load_cert_chain(str(cert), str(key) if key.stat().st_size else None)


# --- HTTP --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Response:
    """An apiserver answer, read whole."""

    status: int
    body: bytes
    retry_after: str = ""
    """The ``Retry-After`` header, as sent."""


def get(conn: Connection, path: str, query: Sequence[tuple[str, Any]],
         deadline: float | None = None) -> Response:
    """One read-only GET that ends by ``deadline``; see :func:`_request`."""
    return request(conn, "GET", path, query, deadline=deadline)


def ask(conn: Connection, method: str, path: str,
         body: Mapping[str, Any] | None) -> provenance.Answer:
    """One request for ``provenance.learn``."""
    response = request(conn, method, path, (), body)
    return provenance.Answer(response.status, response.body)


def deadline_of(conn: Connection) -> float:
    """When a request started now must have ended (``time.monotonic`` clock)."""
    return time.monotonic() + conn.request_timeout


def request(
    conn: Connection, method: str, path: str, query: Sequence[tuple[str, Any]],
    payload: Mapping[str, Any] | None = None, *, deadline: float | None = None,
) -> Response:
    """One request (GET, or the SelfSubjectReview POST) that ends by ``deadline``.

    Socket timeouts bound each read, not a whole response: an apiserver (or proxy) that
    trickles a byte at a time would never time out. So the exchange runs in a daemon
    thread and this one waits for it until the deadline (``--request-timeout`` from now
    by default), then gives up on it.

    Raises:
        errors.ClusterUnreachable: no complete answer by the deadline, or a transport error.
    """
    remaining = (deadline if deadline is not None else deadline_of(conn)) - time.monotonic()
    if remaining <= 0:
        raise _too_slow(conn, method, path)
    outcome: concurrent.futures.Future[Response] = concurrent.futures.Future()

    def exchange() -> None:
        try:
            outcome.set_result(_exchange(conn, method, path, query, payload, remaining))
        except BaseException as e:  # handed to the waiting thread
            outcome.set_exception(e)

    threading.Thread(target=exchange, name="driftscan-request", daemon=True).start()
    try:
        return outcome.result(timeout=remaining)
    except concurrent.futures.TimeoutError as e:
        raise _too_slow(conn, method, path) from e


def _too_slow(conn: Connection, method: str, path: str) -> errors.ClusterUnreachable:
    return errors.ClusterUnreachable(
        f"the apiserver at {conn.host} (context {conn.context!r}) did not answer {method}"
        f" {path} within {conn.request_timeout:g} s",
        hint="check that the cluster is running and reachable; a slow but healthy one"
        " needs a longer --request-timeout",
    )


def _exchange(
    conn: Connection, method: str, path: str, query: Sequence[tuple[str, Any]],
    payload: Mapping[str, Any] | None, budget: float,
) -> Response:
    headers = conn.headers
    body = None
    if payload is not None:
        headers = {**headers, "Content-Type": "application/json"}
        body = orjson.dumps(dict(payload))
    url = conn.host + path
    if query:
        url += "?" + urllib.parse.urlencode(list(query))
    connect, read = conn.timeout.connect_timeout, conn.timeout.read_timeout
    timeout = urllib3.Timeout(
        connect=min(connect, budget) if isinstance(connect, int | float) else budget,
        read=min(read, budget) if isinstance(read, int | float) else budget)
    try:
        response = conn.pool.request(
            method, url, body=body, headers=headers, timeout=timeout,
            redirect=False, retries=False, preload_content=False,
        )
        try:
            data = response.read(_MAX_BODY + 1)
        finally:
            response.release_conn()
    except (urllib3.exceptions.HTTPError, OSError) as e:
        raise _unreachable(conn, e) from e
    if len(data or b"") > _MAX_BODY:
        raise errors.ClusterUnreachable(
            f"the apiserver at {conn.host} answered {method} {path} with more than"
            f" {_MAX_BODY // 2**20} MiB",
            hint="is the kubeconfig pointing at a Kubernetes apiserver?",
        )
    return Response(int(response.status), data or b"",
                     str(response.headers.get("Retry-After") or ""))


def _unreachable(conn: Connection, e: BaseException) -> errors.ClusterUnreachable:
    return errors.ClusterUnreachable(
        f"cannot reach the apiserver at {conn.host} (context {conn.context!r}):"
        f" {transport_reason(e)}",
        hint="check that the cluster is running and the kubeconfig points at it")


def stream(conn: Connection, path: str, query: Sequence[tuple[str, Any]],
           read_timeout: float) -> urllib3.BaseHTTPResponse:
    """Open a long GET (a watch) and return the response unread, for reading as it arrives.

    The caller reads it line by line and must ``release_conn()`` it. ``read_timeout``
    bounds the silence between two reads (a watch sends a bookmark about every minute).

    Raises:
        errors.ClusterUnreachable: the apiserver cannot be reached.
    """
    url = conn.host + path
    if query:
        url += "?" + urllib.parse.urlencode(list(query))
    connect = conn.timeout.connect_timeout
    try:
        return conn.pool.request(
            "GET", url, headers=conn.headers, redirect=False, retries=False,
            preload_content=False,
            timeout=urllib3.Timeout(
                connect=connect if isinstance(connect, int | float) else None,
                read=read_timeout))
    except (urllib3.exceptions.HTTPError, OSError) as e:
        raise _unreachable(conn, e) from e


def backoff(response: Response, attempt: int) -> float:
    """Seconds to wait before the next try: ``Retry-After`` when given, capped."""
    wait = 0.2 * 2**attempt
    value = response.retry_after.strip()
    if value.isascii() and value.isdigit() and len(value) < 10:
        wait = float(value)
    elif value:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            pass
        else:
            if when.tzinfo is not None:
                wait = (when - datetime.datetime.now(datetime.UTC)).total_seconds()
    return float(min(max(wait, 0.0), MAX_BACKOFF))


def transport_reason(e: BaseException) -> str:
    """A transport error in a few words ("connection refused", "timed out" …)."""
    reason = getattr(e, "reason", None) or e
    text = str(reason)
    for marker in ("Connection refused", "timed out", "Name or service not known",
                   "certificate verify failed", "No route to host"):
        if marker in text:
            return marker.lower()
    return text.splitlines()[0][:200] if text else type(e).__name__


def status_message(body: bytes) -> str:
    """The ``message`` of a Kubernetes ``Status`` body, or the start of a foreign one."""
    try:
        status = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body[:200].decode("utf-8", "replace").strip()
    if isinstance(status, Mapping):
        return str(status.get("message") or status.get("reason") or "")
    return ""


def probe(conn: Connection) -> provenance.Answer:
    """``GET /version``: proves the credentials before anything is listed.

    Raises:
        errors.ClusterUnreachable: no answer, or 401.
    """
    response = get(conn, "/version", ())
    if response.status == 401:
        raise unauthorized(conn)
    return provenance.Answer(response.status, response.body)


def unauthorized(conn: Connection) -> errors.ClusterUnreachable:
    """The error for a 401: the credentials are wrong or expired."""
    return errors.ClusterUnreachable(
        f"the apiserver at {conn.host} rejected the credentials of context"
        f" {conn.context!r} (401 Unauthorized)",
        hint="refresh the token or client certificate in the kubeconfig",
    )

