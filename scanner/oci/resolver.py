"""A per-run, thread-safe tag → digest cache: what ``--registry-check`` and ``pin`` ask.

The scan path's only door into the registry: ``sources.resolving`` (latent-drift) and
``pinning`` resolve ``(registry, repository, reference)`` triples here, concurrently and
once each. Failures become :class:`Resolution` values with a status, never exceptions,
so a gap is recorded instead of a scan dying.
"""

from __future__ import annotations

import concurrent.futures
import enum
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from scanner import errors
from scanner.oci import client as oci_client
from scanner.oci import credentials, failures, names

__all__ = ["Resolution", "ResolutionStatus", "Resolver"]


class ResolutionStatus(enum.StrEnum):
    """How a tag lookup ended; everything but ``resolved`` is a gap to record."""

    RESOLVED = "resolved"
    NOT_FOUND = "not-found"
    UNAUTHORIZED = "unauthorized"
    UNREACHABLE = "unreachable"
    FAILED = "failed"


@dataclass(frozen=True)
class Resolution:
    """The outcome of resolving one ``registry/repository:reference``."""

    registry: str
    repository: str
    reference: str
    status: ResolutionStatus
    digest: str | None = None
    media_type: str | None = None
    message: str = ""
    hint: str = ""

    @property
    def ok(self) -> bool:
        """Whether a digest was found."""
        return self.status is ResolutionStatus.RESOLVED

    @property
    def is_index(self) -> bool:
        """Whether the tag names a multi-arch index (compare with index digests only)."""
        return self.media_type in names.INDEX_MEDIA_TYPES


_Key = tuple[str, str, str]


class Resolver:
    """Per-run, thread-safe tag → digest cache that resolves many references concurrently.

    Each distinct ``(registry, repository, reference)`` is looked up once (concurrent
    callers wait for the same lookup). Failures become :class:`Resolution` values, never
    exceptions; a registry found unreachable is not contacted again during the run. A
    digest reference names itself and is returned without a request.
    """

    def __init__(
        self,
        *,
        docker_config: credentials.DockerConfig | None = None,
        insecure_hosts: Iterable[str] = (),
        timeout: float = 10.0,
        max_workers: int = 8,
        client_factory: Callable[[str], oci_client.Client] | None = None,
    ) -> None:
        """Configure the resolver (no network yet).

        Args:
            docker_config: Credentials (anonymous when ``None``).
            insecure_hosts: Hosts reached over plain HTTP besides loopback ones.
            timeout: Seconds per request.
            max_workers: Threads for :meth:`resolve_all`.
            client_factory: Builds a :class:`Client` per registry (tests, custom TLS).
        """
        hosts = tuple(insecure_hosts)
        self._factory = client_factory or (
            lambda registry: oci_client.client_for(
                registry, docker_config=docker_config, insecure_hosts=hosts, timeout=timeout
            )
        )
        self._max_workers = max(1, max_workers)
        self._lock = threading.Lock()
        self._results: dict[_Key, concurrent.futures.Future[Resolution]] = {}
        self._clients: dict[str, oci_client.Client] = {}
        self._down: dict[str, Resolution] = {}
        self.lookups = 0
        """How many lookups went to a registry (not answered from the cache)."""

    def resolve(self, registry: str, repository: str, reference: str) -> Resolution:
        """Resolve one reference, from the cache when it was asked before."""
        key = (registry, repository, reference)
        with self._lock:
            future = self._results.get(key)
            owner = future is None
            if future is None:
                future = concurrent.futures.Future()
                self._results[key] = future
        if owner:
            try:
                future.set_result(self._lookup(registry, repository, reference))
            except BaseException as exc:  # a bug, not a registry answer: let waiters see it
                future.set_exception(exc)
                raise
        return future.result()

    def resolve_all(self, references: Iterable[_Key]) -> dict[_Key, Resolution]:
        """Resolve ``(registry, repository, reference)`` triples concurrently.

        Returns:
            One :class:`Resolution` per distinct triple, in first-seen order.
        """
        keys = list(dict.fromkeys(references))
        if not keys:
            return {}
        workers = min(self._max_workers, len(keys))
        with concurrent.futures.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="registry-resolve"
        ) as pool:
            results = list(pool.map(lambda key: self.resolve(*key), keys))
        return dict(zip(keys, results, strict=True))

    def client(self, registry: str) -> oci_client.Client:
        """The shared :class:`Client` for ``registry`` (one per run, keeps its tokens)."""
        with self._lock:
            found = self._clients.get(registry)
            if found is None:
                found = self._factory(registry)
                self._clients[registry] = found
            return found

    def _lookup(self, registry: str, repository: str, reference: str) -> Resolution:
        def gap(status: ResolutionStatus, exc: errors.DriftscanError) -> Resolution:
            return Resolution(
                registry,
                repository,
                reference,
                status,
                message=exc.message,
                hint=exc.hint or "",
            )

        if names.is_digest(reference):
            return Resolution(registry, repository, reference, ResolutionStatus.RESOLVED, reference)
        with self._lock:
            down = self._down.get(registry)
        if down is not None:
            message = (
                f"registry {registry}: {names.subject(repository, reference)} not looked up because"
                f" the registry was unreachable earlier in this run ({down.message})"
            )
            return Resolution(
                registry, repository, reference, down.status, message=message, hint=down.hint
            )
        try:
            registry_client = self.client(registry)
            with self._lock:
                self.lookups += 1
            info = registry_client.head_manifest(repository, reference)
        except failures.NotFound as exc:
            return gap(ResolutionStatus.NOT_FOUND, exc)
        except failures.Unauthorized as exc:
            return gap(ResolutionStatus.UNAUTHORIZED, exc)
        except failures.Unreachable as exc:
            result = gap(ResolutionStatus.UNREACHABLE, exc)
            with self._lock:
                self._down.setdefault(registry, result)
            return result
        except errors.DriftscanError as exc:
            return gap(ResolutionStatus.FAILED, exc)
        return Resolution(
            registry,
            repository,
            reference,
            ResolutionStatus.RESOLVED,
            digest=info.digest,
            media_type=info.media_type,
        )
