"""Read a live cluster into a ``Snapshot`` with paginated, parallel, read-only LISTs.

Connects the way kubectl does (``--kubeconfig``, ``$KUBECONFIG``, ``~/.kube/config`` or
in-cluster; ``--context`` or the current context; the context's namespace unless ``-n``
or ``-A``), then lists pods, replicasets, deployments, statefulsets, daemonsets, jobs,
cronjobs, replicationcontrollers, services, nodes and controllerrevisions — never Secrets,
never a write. Pods of kinds it does not list (an Argo Rollout, an operator's workload) are
grouped under their owner all the same.

Each LIST pages with ``limit``/``continue`` and asks for raw JSON
(``ApiClient.call_api`` returns the undecoded response), so a page is decoded once,
parsed straight into compact records and dropped; kinds and namespaces are listed in
parallel threads. A ``410 Gone`` on an expired continue token restarts that LIST.
``403 Forbidden`` for a kind or namespace becomes a ``model.Gap``; an ``-A`` LIST that is
forbidden cluster-wide falls back to the context's namespace. An apiserver that does not
answer, rejected credentials, an unknown context or a malformed kubeconfig (checked
with the project's safe YAML loader before the client library reads it, and described
in kubeconfig terms) raise ``errors.ClusterUnreachable``.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime
import email.utils
import functools
import json
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import urllib3
import yaml
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from scanner import decoding, errors, model
from scanner.sources import parsing, progress, provenance

__all__ = ["DEFAULT_REQUEST_TIMEOUT", "RESOURCES", "LiveOptions", "Resource", "load"]

_SA_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
_MAX_RESTARTS = 3
_MAX_RETRIES = 8
_MAX_BACKOFF = 10.0
"""Longest wait between two tries, whatever ``Retry-After`` asks."""
_MAX_BODY = 512 * 1024 * 1024
"""Largest response read (a 500-pod page is a few MiB)."""
DEFAULT_REQUEST_TIMEOUT = 30.0
_CONFIG_ERRORS = (
    k8s_config.ConfigException, OSError, ValueError, TypeError, KeyError, AttributeError,
    yaml.YAMLError,
)


@dataclass(frozen=True)
class Resource:
    """One kind driftscan lists and where the apiserver serves it."""

    kind: str
    group_path: str
    plural: str
    namespaced: bool = True

    def path(self, namespace: str | None) -> str:
        """Collection path, cluster-wide for ``namespace=None``."""
        if namespace is None or not self.namespaced:
            return f"{self.group_path}/{self.plural}"
        return f"{self.group_path}/namespaces/{namespace}/{self.plural}"


RESOURCES = (
    Resource("Pod", "/api/v1", "pods"),
    Resource("ReplicaSet", "/apis/apps/v1", "replicasets"),
    Resource("Deployment", "/apis/apps/v1", "deployments"),
    Resource("StatefulSet", "/apis/apps/v1", "statefulsets"),
    Resource("DaemonSet", "/apis/apps/v1", "daemonsets"),
    Resource("ControllerRevision", "/apis/apps/v1", "controllerrevisions"),
    Resource("Job", "/apis/batch/v1", "jobs"),
    Resource("CronJob", "/apis/batch/v1", "cronjobs"),
    Resource("ReplicationController", "/api/v1", "replicationcontrollers"),
    Resource("Service", "/api/v1", "services"),
    Resource("Node", "/api/v1", "nodes", namespaced=False),
)
"""Everything a live scan reads, pods first (the largest LIST starts first)."""


@dataclass(frozen=True)
class LiveOptions:
    """How to reach the cluster and what to list."""

    kubeconfig: str | None = None
    context: str | None = None
    namespaces: tuple[str, ...] = ()
    all_namespaces: bool = False
    page_size: int = 500
    workers: int = 8
    connect_timeout: float = 5.0
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    """Seconds one request may take in all: connecting, every retry and back-off, and
    reading the whole body (``--request-timeout``)."""


@dataclass(frozen=True)
class _Connection:
    api: k8s_client.ApiClient
    context: str
    default_namespace: str
    host: str
    stop: threading.Event = field(default_factory=threading.Event)
    """Set when the scan ends early; listers start no further request."""


def _without_retries(api: k8s_client.ApiClient) -> k8s_client.ApiClient:
    """``api`` with urllib3's own retries off: this module retries, within a deadline.

    urllib3 retries connection errors and reads three times by default, each with the
    full timeout, which turned one hung apiserver into minutes of waiting.
    """
    api.rest_client.pool_manager.connection_pool_kw["retries"] = False
    return api


@dataclass
class _ListResult:
    collector: parsing.Collector
    gaps: list[model.Gap]
    forbidden: bool = False
    resource_version: str | None = None
    """``metadata.resourceVersion`` of the LIST (its first page fixes it for every page)."""
    answered_at: float = 0.0


def load(options: LiveOptions, observer: progress.ListObserver | None = None) -> model.Snapshot:
    """List the cluster's objects and build a snapshot.

    Args:
        options: kubeconfig, context and namespaces, as on the command line.
        observer: told about every page (called from worker threads).

    Returns:
        The snapshot, ``source.type == "live"``; unreadable kinds are in ``gaps``.

    Raises:
        errors.ClusterUnreachable: no kubeconfig/context, or the apiserver did not answer.
        errors.PermissionGap: RBAC forbids every LIST.
    """
    observer = observer or progress.NullObserver()
    conn = _connect(options)
    try:
        started = _stamp()
        facts = provenance.learn(functools.partial(_ask, conn, options), _probe(conn, options))
        namespaces: tuple[str | None, ...]
        if options.all_namespaces:
            namespaces = (None,)
        else:
            namespaces = options.namespaces or (conn.default_namespace,)
        jobs = [
            (resource, namespace)
            for resource in RESOURCES
            for namespace in (namespaces if resource.namespaced else (None,))
        ]
        collector = parsing.Collector()
        gaps: list[model.Gap] = []
        forbidden = 0
        answered: list[tuple[float, str]] = []
        workers = max(1, min(options.workers, len(jobs)))
        with concurrent.futures.ThreadPoolExecutor(workers, "driftscan-list") as pool:
            futures = [
                pool.submit(_list_with_fallback, conn, options, r, ns, observer)
                for r, ns in jobs
            ]
            try:
                for future in futures:
                    result = future.result()
                    collector.merge(result.collector)
                    gaps.extend(result.gaps)
                    forbidden += result.forbidden
                    if result.resource_version is not None:
                        answered.append((result.answered_at, result.resource_version))
            except BaseException:
                # One failure ends the scan: start no more LISTs or pages.
                conn.stop.set()
                pool.shutdown(wait=False, cancel_futures=True)
                raise
        finished = _stamp()
    finally:
        conn.stop.set()
        conn.api.close()  # type: ignore[no-untyped-call]
    if forbidden == len(jobs):
        raise errors.PermissionGap(
            f"RBAC forbids every LIST driftscan needs (context {conn.context!r})",
            hint="grant get/list on pods, replicasets, deployments, statefulsets, daemonsets,"
            " jobs, cronjobs, replicationcontrollers, services, nodes and controllerrevisions,"
            " or pick another -n",
        )
    source = model.SourceInfo(
        type="live",
        context=conn.context,
        namespaces=tuple(ns for ns in namespaces if ns is not None),
        all_namespaces=options.all_namespaces,
    )
    answered.sort()
    facts_seen = model.Provenance(
        server=conn.host,
        cluster_id=facts.cluster_id,
        server_version=facts.server_version,
        user=facts.user,
        unavailable=facts.unavailable,
        kinds_requested=tuple(r.kind for r in RESOURCES),
        kinds_read=tuple(r.kind for r in RESOURCES if not any(g.kind == r.kind for g in gaps)),
        namespaces_requested=source.namespaces,
        namespaces_read=provenance.namespaces_read(source, gaps, conn.default_namespace),
        first_resource_version=answered[0][1] if answered else None,
        last_resource_version=answered[-1][1] if answered else None,
        list_started_at=started,
        list_finished_at=finished,
    )
    snapshot = collector.snapshot(source, finished, sorted(gaps, key=_gap_key))
    return dataclasses.replace(snapshot, provenance=facts_seen)


def _stamp() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _gap_key(gap: model.Gap) -> tuple[str, str, str]:
    return (gap.kind, gap.namespace or "", gap.reason)


# --- connecting ------------------------------------------------------------------------


def _kubeconfig_path(options: LiveOptions) -> str:
    if options.kubeconfig:
        return options.kubeconfig
    return os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")


def _connect(options: LiveOptions) -> _Connection:
    path = _kubeconfig_path(options)
    files = [p for p in path.split(os.pathsep) if p]
    if not any(Path(p).is_file() for p in files):
        if not options.kubeconfig and not options.context and os.environ.get(
            "KUBERNETES_SERVICE_HOST"
        ):
            return _connect_in_cluster()
        raise errors.ClusterUnreachable(
            f"no kubeconfig at {path}",
            hint="pass --kubeconfig PATH, set KUBECONFIG, or scan a dump with --from FILE",
        )
    unusable = [problem for problem in map(_check_kubeconfig, files) if problem]
    if unusable:
        raise errors.ClusterUnreachable("; ".join(unusable), hint=_KUBECONFIG_HINT)
    try:
        contexts, current = k8s_config.list_kube_config_contexts(  # type: ignore[no-untyped-call]
            config_file=path
        )
    except _CONFIG_ERRORS as e:
        raise errors.ClusterUnreachable(
            f"kubeconfig {path} is unusable: {_one_line(e)}", hint=_KUBECONFIG_HINT
        ) from e
    names = [str(c.get("name")) for c in contexts or ()]
    wanted = options.context or (current or {}).get("name")
    if not wanted:
        raise errors.ClusterUnreachable(
            f"kubeconfig {path} has no current context",
            hint=f"pass --context, one of: {', '.join(names) or '(none defined)'}",
        )
    chosen = next((c for c in contexts if c.get("name") == wanted), None)
    if chosen is None:
        raise errors.ClusterUnreachable(
            f"context {wanted!r} not found in kubeconfig {path}",
            hint=f"pass --context, one of: {', '.join(names) or '(none defined)'}",
        )
    namespace = (chosen.get("context") or {}).get("namespace") or "default"
    try:
        api = k8s_config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=path, context=wanted, persist_config=False
        )
    except _CONFIG_ERRORS as e:
        raise errors.ClusterUnreachable(
            f"context {wanted!r} in kubeconfig {path} is unusable: {_one_line(e)}",
            hint=_KUBECONFIG_HINT,
        ) from e
    return _Connection(_without_retries(api), str(wanted), str(namespace),
                       str(api.configuration.host))


_KUBECONFIG_HINT = (
    "fix the file (`kubectl config view --kubeconfig FILE` shows what kubectl reads), pass"
    " --kubeconfig PATH to another one, or scan a dump with --from FILE"
)
_KUBECONFIG_LISTS = (("clusters", "cluster"), ("contexts", "context"), ("users", "user"))


def _check_kubeconfig(file: str) -> str | None:
    """What makes a kubeconfig file unusable, in kubeconfig terms; None when nothing does.

    The client library reports a malformed file with Python internals (``'int' object is
    not iterable``) or a multi-line YAML error, and reads YAML without an alias limit;
    this reads the file with the project's safe loader first and names the file and every
    field that is wrong, on one line. Missing files are skipped, as kubectl skips them
    in ``KUBECONFIG``.
    """
    path = Path(file).expanduser()
    if not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        return f"kubeconfig {file} cannot be read ({e.strerror or e})"
    except UnicodeDecodeError:
        return f"kubeconfig {file} cannot be read (not UTF-8 text)"
    try:
        documents = [data for _, data in decoding.yaml_documents(text)]
    except decoding.Problem as e:
        problems = [f"line {e.line}: {e.message}" if e.line is not None else e.message]
    else:
        problems = _kubeconfig_problems(documents)
    return f"kubeconfig {file} is unusable: {'; '.join(problems)}" if problems else None


def _kubeconfig_problems(documents: list[Any]) -> list[str]:
    if len(documents) > 1:
        return [f"it holds {len(documents)} YAML documents; a kubeconfig is one"]
    config = documents[0] if documents else None
    if config is None:
        return ["the file is empty"]
    if not isinstance(config, dict):
        return [f"the top level must be a mapping (apiVersion, clusters, contexts, users),"
                f" not {_kind_of(config)}"]
    problems: list[str] = []
    for key, inner in _KUBECONFIG_LISTS:
        entries = config.get(key)
        if entries is None:
            continue
        if not isinstance(entries, list):
            problems.append(f"`{key}` must be a list, not {_kind_of(entries)}")
            continue
        for index, entry in enumerate(entries):
            where = f"`{key}[{index}]`"
            if not isinstance(entry, dict):
                problems.append(f"{where} must be a mapping with `name` and `{inner}`, not"
                                f" {_kind_of(entry)}")
                continue
            name = entry.get("name")
            if not isinstance(name, str) or not name:
                problems.append(f"{where} has no `name`")
            else:
                where = f"`{key}[{index}]` ({name})"
            body = entry.get(inner)
            if body is not None and not isinstance(body, dict):
                problems.append(f"{where}: `{inner}` must be a mapping, not {_kind_of(body)}")
            elif inner == "context" and isinstance(body, dict):
                problems.extend(
                    f"{where}: `context.{field}` must be a string, not {_kind_of(body[field])}"
                    for field in ("cluster", "user", "namespace")
                    if body.get(field) is not None and not isinstance(body[field], str)
                )
    current = config.get("current-context")
    if current is not None and not isinstance(current, str):
        problems.append(f"`current-context` must be a string, not {_kind_of(current)}")
    return problems


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _one_line(e: BaseException) -> str:
    """The client library's message on one line, without its "Invalid kube-config" preamble."""
    text = " ".join(str(e).split()) or type(e).__name__
    for preamble in ("Invalid kube-config file. ", "Invalid kube-config. "):
        text = text.removeprefix(preamble)
    return text


def _connect_in_cluster() -> _Connection:
    cfg = k8s_client.Configuration()
    try:
        k8s_config.load_incluster_config(  # type: ignore[no-untyped-call]
            client_configuration=cfg
        )
    except k8s_config.ConfigException as e:
        raise errors.ClusterUnreachable(f"in-cluster configuration is unusable: {e}") from e
    try:
        namespace = _SA_NAMESPACE.read_text(encoding="utf-8").strip() or "default"
    except OSError:
        namespace = "default"
    return _Connection(_without_retries(k8s_client.ApiClient(cfg)), "in-cluster", namespace,
                       str(cfg.host))


# --- HTTP --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Response:
    status: int
    body: bytes
    retry_after: str = ""
    """The ``Retry-After`` header, as sent."""


def _deadline(options: LiveOptions) -> float:
    """When a request started now must have ended (``time.monotonic`` clock)."""
    return time.monotonic() + options.request_timeout


def _get(
    conn: _Connection,
    path: str,
    query: Sequence[tuple[str, Any]],
    options: LiveOptions,
    deadline: float,
) -> _Response:
    """One read-only GET that ends by ``deadline``; see :func:`_request`."""
    return _request(conn, "GET", path, query, options, deadline)


def _ask(conn: _Connection, options: LiveOptions, method: str, path: str,
         body: Mapping[str, Any] | None) -> provenance.Answer:
    response = _request(conn, method, path, (), options, _deadline(options), body)
    return provenance.Answer(response.status, response.body)


def _request(
    conn: _Connection,
    method: str,
    path: str,
    query: Sequence[tuple[str, Any]],
    options: LiveOptions,
    deadline: float,
    payload: Mapping[str, Any] | None = None,
) -> _Response:
    """One request (GET, or the SelfSubjectReview POST) that ends by ``deadline``.

    Socket timeouts bound each read, not a whole response: an apiserver (or proxy) that
    trickles a byte at a time would never time out. So the exchange runs in a daemon
    thread and this one waits for it until the deadline, then gives up on it.

    Raises:
        errors.ClusterUnreachable: no complete answer by the deadline, or a transport error.
    """
    remaining = deadline - time.monotonic()
    if remaining <= 0 or conn.stop.is_set():
        raise _too_slow(conn, method, path, options)
    outcome: concurrent.futures.Future[_Response] = concurrent.futures.Future()

    def exchange() -> None:
        try:
            outcome.set_result(_exchange(conn, method, path, query, options, remaining,
                                         payload))
        except BaseException as e:  # handed to the waiting thread
            outcome.set_exception(e)

    threading.Thread(target=exchange, name="driftscan-request", daemon=True).start()
    try:
        return outcome.result(timeout=remaining)
    except concurrent.futures.TimeoutError as e:
        raise _too_slow(conn, method, path, options) from e


def _too_slow(conn: _Connection, method: str, path: str,
              options: LiveOptions) -> errors.ClusterUnreachable:
    return errors.ClusterUnreachable(
        f"the apiserver at {conn.host} (context {conn.context!r}) did not answer {method}"
        f" {path} within {options.request_timeout:g} s",
        hint="check that the cluster is running and reachable; a slow but healthy one"
        " needs a longer --request-timeout",
    )


def _exchange(
    conn: _Connection,
    method: str,
    path: str,
    query: Sequence[tuple[str, Any]],
    options: LiveOptions,
    budget: float,
    payload: Mapping[str, Any] | None,
) -> _Response:
    headers = {"Accept": "application/json"}
    if payload is not None:
        headers["Content-Type"] = "application/json"
    request = conn.api.param_serialize(
        method,
        path,
        query_params=list(query),
        header_params=headers,
        body=dict(payload) if payload is not None else None,
        auth_settings=["BearerToken"],
    )
    try:
        response = conn.api.call_api(
            *request, _request_timeout=(min(options.connect_timeout, budget), budget)
        )
        raw = response.response
        try:
            body = raw.read(_MAX_BODY + 1)
            answer_headers = raw.headers
        finally:
            raw.release_conn()
    except (urllib3.exceptions.HTTPError, k8s_client.ApiException, OSError) as e:
        raise errors.ClusterUnreachable(
            f"cannot reach the apiserver at {conn.host} (context {conn.context!r}):"
            f" {_transport_reason(e)}",
            hint="check that the cluster is running and the kubeconfig points at it",
        ) from e
    if len(body or b"") > _MAX_BODY:
        raise errors.ClusterUnreachable(
            f"the apiserver at {conn.host} answered {method} {path} with more than"
            f" {_MAX_BODY // 2**20} MiB",
            hint="is the kubeconfig pointing at a Kubernetes apiserver?",
        )
    retry_after = answer_headers.get("Retry-After") if answer_headers is not None else None
    return _Response(int(response.status), bytes(body or b""), str(retry_after or ""))


def _backoff(response: _Response, attempt: int) -> float:
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
    return float(min(max(wait, 0.0), _MAX_BACKOFF))


def _transport_reason(e: BaseException) -> str:
    reason = getattr(e, "reason", None) or e
    text = str(reason)
    for marker in ("Connection refused", "timed out", "Name or service not known",
                   "certificate verify failed", "No route to host"):
        if marker in text:
            return marker.lower()
    return text.splitlines()[0][:200] if text else type(e).__name__


def _status_message(body: bytes) -> str:
    try:
        status = json.loads(body)
    except (ValueError, RecursionError):
        return " ".join(body[:200].decode("utf-8", "replace").split())
    if isinstance(status, Mapping):
        return " ".join(str(status.get("message") or status.get("reason") or "").split())[:300]
    return ""


def _probe(conn: _Connection, options: LiveOptions) -> provenance.Answer:
    response = _get(conn, "/version", (), options, _deadline(options))
    if response.status == 401:
        raise errors.ClusterUnreachable(
            f"the apiserver at {conn.host} rejected the credentials of context"
            f" {conn.context!r} (401 Unauthorized)",
            hint="refresh the token or client certificate in the kubeconfig",
        )
    return provenance.Answer(response.status, response.body)


# --- listing -----------------------------------------------------------------------------


def _list_with_fallback(
    conn: _Connection,
    options: LiveOptions,
    resource: Resource,
    namespace: str | None,
    observer: progress.ListObserver,
) -> _ListResult:
    result = _list(conn, options, resource, namespace, observer)
    if result.forbidden and namespace is None and resource.namespaced:
        # -A needs cluster-wide rights; a namespace-bound Role may still read its own.
        fallback = _list(conn, options, resource, conn.default_namespace, observer)
        if not fallback.forbidden:
            fallback.gaps.extend(result.gaps)
            return fallback
        result.gaps.extend(fallback.gaps)
    return result


def _list(
    conn: _Connection,
    options: LiveOptions,
    resource: Resource,
    namespace: str | None,
    observer: progress.ListObserver,
) -> _ListResult:
    path = resource.path(namespace)
    observer.started(resource.kind, namespace)
    with concurrent.futures.ThreadPoolExecutor(1, "driftscan-page") as fetcher:
        return _pages(conn, options, resource, namespace, path, observer, fetcher)


def _pages(
    conn: _Connection,
    options: LiveOptions,
    resource: Resource,
    namespace: str | None,
    path: str,
    observer: progress.ListObserver,
    fetcher: concurrent.futures.ThreadPoolExecutor,
) -> _ListResult:
    def fetch(token: str, deadline: float | None = None) -> concurrent.futures.Future[_Response]:
        query: list[tuple[str, Any]] = [("limit", options.page_size)]
        if token:
            query.append(("continue", token))
        return fetcher.submit(_get, conn, path, query, options,
                              deadline if deadline is not None else _deadline(options))

    collector = parsing.Collector()
    gaps: list[model.Gap] = []
    token = ""
    restarts = retries = count = 0
    version: str | None = None
    answered_at = 0.0
    deadline = _deadline(options)
    pending = fetch(token, deadline)
    while True:
        response = pending.result()
        if response.status == 200:
            retries = 0
            # Ask for the next page before decoding this one, so the apiserver and the
            # network work while this thread parses.
            ahead = _peek_continue(response.body)
            if ahead:
                deadline = _deadline(options)
                pending = fetch(ahead, deadline)
            try:
                page = json.loads(response.body)
            except (ValueError, RecursionError) as e:
                raise errors.ClusterUnreachable(
                    f"the apiserver at {conn.host} sent invalid JSON for GET {path}",
                    hint="retry; if it persists, a proxy between here and the apiserver"
                    " cuts or alters answers",
                ) from e
            count += _collect(collector, resource, path, page, gaps)
            observer.page(resource.kind, namespace, count)
            metadata = page.get("metadata") if isinstance(page, Mapping) else None
            metadata = metadata if isinstance(metadata, Mapping) else {}
            if version is None:
                version, answered_at = str(metadata.get("resourceVersion") or ""), time.time()
            raw_token = metadata.get("continue")
            token = raw_token if isinstance(raw_token, str) else ""
            del page
            if token != ahead:
                if ahead:
                    pending.result()  # a mis-read token: drop that page, ask properly
                if token:
                    deadline = _deadline(options)
                    pending = fetch(token, deadline)
            if not token:
                observer.finished(resource.kind, namespace, count, None)
                return _ListResult(collector, gaps, resource_version=version or None,
                                   answered_at=answered_at)
            if conn.stop.is_set():
                raise errors.ClusterUnreachable(f"listing {path} was stopped")
            continue
        if response.status == 410 and token and restarts < _MAX_RESTARTS:
            # The continue token expired mid-list: start over for a consistent LIST.
            restarts += 1
            collector, gaps, token, count, version = parsing.Collector(), [], "", 0, None
            deadline = _deadline(options)
            pending = fetch(token, deadline)
            continue
        if response.status in (429, 500, 502, 503, 504) and retries < _MAX_RETRIES:
            # Retry the same page within the same deadline, as long as the wait fits.
            wait = _backoff(response, retries)
            if time.monotonic() + wait < deadline - options.connect_timeout / 10:
                retries += 1
                if conn.stop.wait(wait):
                    raise errors.ClusterUnreachable(f"listing {path} was stopped")
                pending = fetch(token, deadline)
                continue
        if response.status == 401:
            raise errors.ClusterUnreachable(
                f"the apiserver at {conn.host} rejected the credentials of context"
                f" {conn.context!r} (401 Unauthorized)",
                hint="refresh the token or client certificate in the kubeconfig",
            )
        reason = _gap_reason(response, resource, namespace)
        if retries:
            reason += f" (gave up after {retries + 1} tries within {options.request_timeout:g} s)"
        observer.finished(resource.kind, namespace, count, reason)
        return _ListResult(
            parsing.Collector(),
            [model.Gap(resource.kind, namespace, reason)],
            forbidden=response.status == 403,
        )


_ITEMS_KEY = b'"items":'
_CONTINUE_KEY = b'"continue":"'
_PEEK_LIMIT = 4096


def _peek_continue(body: bytes) -> str:
    """The list's continue token read from the head of the raw page, or "" if unsure.

    The apiserver writes ``metadata`` before ``items``; the token is base64 and needs no
    JSON unescaping. Anything unexpected returns "" and the parsed value is used instead.
    """
    end = body.find(_ITEMS_KEY, 0, _PEEK_LIMIT)
    if end < 0:
        return ""
    start = body.find(_CONTINUE_KEY, 0, end)
    if start < 0:
        return ""
    start += len(_CONTINUE_KEY)
    stop = body.find(b'"', start, end)
    if stop < 0:
        return ""
    token = body[start:stop]
    if b"\\" in token:
        return ""
    return token.decode("ascii", "replace")


def _gap_reason(response: _Response, resource: Resource, namespace: str | None) -> str:
    where = f"in namespace {namespace}" if namespace else "cluster-wide"
    message = _status_message(response.body)
    if response.status == 403:
        return f"forbidden: cannot list {resource.plural} {where} ({message})"
    if response.status == 404:
        return f"not served by this apiserver: {resource.group_path}/{resource.plural}"
    if response.status == 410:
        return f"list of {resource.plural} {where} kept expiring; retry the scan"
    return f"apiserver answered {response.status} listing {resource.plural} {where}: {message}"


def _collect(
    collector: parsing.Collector, resource: Resource, path: str, page: Any,
    gaps: list[model.Gap],
) -> int:
    """Parse every item of ``page``; a malformed object becomes a gap naming it."""
    items = page.get("items") if isinstance(page, Mapping) else None
    if not isinstance(items, list):
        raise errors.ClusterUnreachable(f"the apiserver sent no items list for GET {path}")
    for item in items:
        try:
            if not isinstance(item, Mapping):
                raise parsing.ObjectProblem("the item is not an object")
            collector.add(resource.kind, item)
        except parsing.ObjectProblem as e:
            namespace, name = _identity(item)
            gaps.append(model.Gap(
                resource.kind, namespace,
                f"{resource.kind} {(namespace + '/') if namespace else ''}{name} from GET"
                f" {path} is malformed and was not read: {e}",
            ))
    return len(items)


def _identity(item: Any) -> tuple[str | None, str]:
    """``(namespace, name)`` of a raw object, as far as it can be told."""
    meta = item.get("metadata") if isinstance(item, Mapping) else None
    if not isinstance(meta, Mapping):
        return None, "(no metadata)"
    namespace = meta.get("namespace")
    name = meta.get("name")
    return (namespace if isinstance(namespace, str) and namespace else None,
            name if isinstance(name, str) and name else "(no name)")
