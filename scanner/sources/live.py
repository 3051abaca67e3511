"""Read a live cluster into a ``Snapshot`` with paginated, read-only LISTs.

Connects the way kubectl does (``--kubeconfig``, ``$KUBECONFIG``, ``~/.kube/config`` or
in-cluster; ``--context`` or the current context; the context's namespace unless ``-n``
or ``-A``), then lists pods, replicasets, deployments, statefulsets, daemonsets, jobs,
cronjobs, replicationcontrollers, services, nodes and controllerrevisions — never Secrets,
never a write. Pods of kinds it does not list (an Argo Rollout, an operator's workload) are
grouped under their owner all the same.

The connection (TLS, credentials, retries) is ``sources.apiserver``'s. Each LIST pages with
``limit``/``continue``; while one page is decoded (once, by ``orjson``) and parsed
straight into compact records, a single helper thread already fetches the next one, so
the apiserver and this process work at the same time without threads contending for the
interpreter. Kinds are listed one after another. A ``410 Gone`` on an expired continue
token restarts that LIST. ``403 Forbidden`` for a kind or namespace becomes a
``model.Gap``; an ``-A`` LIST that is forbidden cluster-wide falls back to the context's
namespace. A namespace that does not exist is a gap too (the apiserver answers an empty
list for it, which must not read as clean), as is an empty one whose existence RBAC does
not let the scan check. An apiserver that does not answer, rejected credentials, an unknown context
or a malformed kubeconfig raise ``errors.ClusterUnreachable``.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime
import functools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from scanner import errors, model, suggest
from scanner.sources import apiserver, parsing, progress, provenance

__all__ = ["DEFAULT_REQUEST_TIMEOUT", "RESOURCES", "LiveOptions", "Resource", "gap_reason", "load",
           "missing_namespaces", "stamp"]

_MAX_RESTARTS = 3
_MAX_RETRIES = 8
DEFAULT_REQUEST_TIMEOUT = 30.0


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
    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    request_timeout: float = 30.0
    """Seconds one request may take in all: connecting, every retry and back-off, and
    reading the whole body (``--request-timeout``)."""


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
        observer: told about every page.

    Returns:
        The snapshot, ``source.type == "live"``; unreadable kinds are in ``gaps``.

    Raises:
        errors.ClusterUnreachable: no kubeconfig/context, or the apiserver did not answer.
        errors.PermissionGap: RBAC forbids every LIST.
    """
    observer = observer or progress.NullObserver()
    conn = apiserver.connect(options)
    try:
        started = stamp()
        facts = provenance.learn(functools.partial(apiserver.ask, conn), apiserver.probe(conn))
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
        with concurrent.futures.ThreadPoolExecutor(1, "driftscan-fetch") as fetcher:
            for resource, namespace in jobs:
                result = _list_with_fallback(conn, options, resource, namespace, observer,
                                             fetcher)
                collector.merge(result.collector)
                gaps.extend(result.gaps)
                forbidden += result.forbidden
                if result.resource_version is not None:
                    answered.append((result.answered_at, result.resource_version))
        named = [ns for ns in namespaces if ns is not None]
        gaps.extend(missing_namespaces(conn, named, collector.namespaces()))
        finished = stamp()
    finally:
        conn.pool.clear()
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
        server=conn.host,
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


def stamp() -> str:
    """Now, UTC, to the second, as reports write it."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _gap_key(gap: model.Gap) -> tuple[str, str, str]:
    return (gap.kind, gap.namespace or "", gap.reason)


# --- namespaces --------------------------------------------------------------------------


def missing_namespaces(
    conn: apiserver.Connection, named: Sequence[str], seen: frozenset[str]
) -> list[model.Gap]:
    """Gaps for scanned namespaces that do not exist, or whose existence cannot be checked.

    LISTs in a namespace that does not exist answer 200 with no items, so without this a
    mistyped ``-n`` would scan as clean.
    """
    gaps: list[model.Gap] = []
    known: list[str] | None = None
    for namespace in named:
        response = apiserver.get(conn, f"/api/v1/namespaces/{namespace}", ())
        if response.status == 200:
            continue
        if response.status == 404:
            if known is None:
                known = _namespace_names(conn)
            hint = suggest.did_you_mean(namespace, known)
            gaps.append(model.Gap(
                "Namespace", namespace,
                f"namespace {namespace} does not exist in context {conn.context}{hint}"
                " (`kubectl get namespaces` lists them)"))
        elif namespace not in seen:
            gaps.append(model.Gap(
                "Namespace", namespace,
                f"nothing was found in namespace {namespace} and the apiserver did not let"
                f" the scan check that it exists (GET answered {response.status}:"
                f" {apiserver.status_message(response.body)})"))
    return gaps


def _namespace_names(conn: apiserver.Connection) -> list[str]:
    """Every namespace's name, or [] when listing them is not allowed."""
    response = apiserver.get(conn, "/api/v1/namespaces", ())
    if response.status != 200:
        return []
    try:
        items = orjson.loads(response.body).get("items") or []
    except (orjson.JSONDecodeError, AttributeError):
        return []
    return [str((i.get("metadata") or {}).get("name")) for i in items if isinstance(i, Mapping)]


# --- listing -----------------------------------------------------------------------------


def _list_with_fallback(
    conn: apiserver.Connection,
    options: LiveOptions,
    resource: Resource,
    namespace: str | None,
    observer: progress.ListObserver,
    fetcher: concurrent.futures.ThreadPoolExecutor,
) -> _ListResult:
    result = _list(conn, options, resource, namespace, observer, fetcher)
    if result.forbidden and namespace is None and resource.namespaced:
        # -A needs cluster-wide rights; a namespace-bound Role may still read its own.
        fallback = _list(conn, options, resource, conn.default_namespace, observer, fetcher)
        if not fallback.forbidden:
            fallback.gaps.extend(result.gaps)
            return fallback
        result.gaps.extend(fallback.gaps)
    return result


def _list(
    conn: apiserver.Connection,
    options: LiveOptions,
    resource: Resource,
    namespace: str | None,
    observer: progress.ListObserver,
    fetcher: concurrent.futures.ThreadPoolExecutor,
) -> _ListResult:
    """Every page of one LIST; ``fetcher`` (one thread) fetches while this thread parses."""
    path = resource.path(namespace)
    observer.started(resource.kind, namespace)

    def fetch(token: str, deadline: float) -> concurrent.futures.Future[apiserver.Response]:
        query: list[tuple[str, Any]] = [("limit", options.page_size)]
        if token:
            query.append(("continue", token))
        return fetcher.submit(apiserver.get, conn, path, query, deadline)

    collector = parsing.Collector()
    gaps: list[model.Gap] = []
    token = ""
    restarts = retries = count = 0
    version: str | None = None
    answered_at = 0.0
    deadline = apiserver.deadline_of(conn)
    pending = fetch(token, deadline)
    while True:
        response = pending.result()
        if response.status == 200:
            retries = 0
            # Ask for the next page before decoding this one, so the apiserver and the
            # network work while this thread parses.
            ahead = _peek_continue(response.body)
            if ahead:
                deadline = apiserver.deadline_of(conn)
                pending = fetch(ahead, deadline)
            try:
                # orjson stops at its own nesting cap rather than recursing without end,
                # and nothing after the parser walks raw values.
                page = orjson.loads(response.body)
            except orjson.JSONDecodeError as e:
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
                    deadline = apiserver.deadline_of(conn)
                    pending = fetch(token, deadline)
            if not token:
                observer.finished(resource.kind, namespace, count, None)
                return _ListResult(collector, gaps, resource_version=version or None,
                                   answered_at=answered_at)
            continue
        if response.status == 410 and token and restarts < _MAX_RESTARTS:
            # The continue token expired mid-list: start over for a consistent LIST.
            restarts += 1
            collector, gaps, token, count, version = parsing.Collector(), [], "", 0, None
            deadline = apiserver.deadline_of(conn)
            pending = fetch(token, deadline)
            continue
        if response.status in (429, 500, 502, 503, 504) and retries < _MAX_RETRIES:
            # Retry the same page within the same deadline, as long as the wait fits.
            wait = apiserver.backoff(response, retries)
            if time.monotonic() + wait < deadline - options.connect_timeout / 10:
                retries += 1
                time.sleep(wait)
                pending = fetch(token, deadline)
                continue
        if response.status == 401:
            raise apiserver.unauthorized(conn)
        reason = gap_reason(response, resource, namespace)
        if retries:
            reason += f" (gave up after {retries + 1} tries within {conn.request_timeout:g} s)"
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


def gap_reason(response: apiserver.Response, resource: Resource, namespace: str | None) -> str:
    """Why a LIST of ``resource`` failed, as a gap's reason."""
    where = f"in namespace {namespace}" if namespace else "cluster-wide"
    message = apiserver.status_message(response.body)
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
