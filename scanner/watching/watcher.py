"""The watcher: informers for every kind ``scan`` reads, one thread that applies their news.

Informers (``watching.informer``, one thread each) put LIST results, watch events and
their health on a queue. One processing thread owns the :class:`~watching.state.State`:
it applies each message, and once the queue has been quiet for the debounce interval
(or changes have kept coming for ten of them) it recomputes the touched workloads and
publishes an immutable :class:`Status` that the HTTP threads read without locks. The
registry check (``--registry-check``) runs on its own thread every interval: it asks the
processing thread for a snapshot, resolves the tags, and sends the answers back the same
way, so the state is only ever touched by one thread.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import gc
import queue
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scanner import model
from scanner.sources import apiserver, live, provenance
from scanner.watching import informer
from scanner.watching import state as watch_state

if TYPE_CHECKING:
    from scanner.oci import resolver

__all__ = ["Hooks", "Status", "WatchOptions", "Watcher"]


@dataclass(frozen=True)
class WatchOptions:
    """How to reach the cluster, what to watch and how often to check registries."""

    kubeconfig: str | None = None
    context: str | None = None
    namespaces: tuple[str, ...] = ()
    all_namespaces: bool = False
    debounce: float = 0.2
    registry_interval: float | None = None
    """Seconds between registry checks; None: no ``--registry-check``."""
    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    request_timeout: float = 30.0
    page_size: int = 500
    watch_seconds: int = 300
    pool_size: int = 32
    """Connections kept to the apiserver: one per informer stream and a few for LISTs."""


@dataclass(frozen=True)
class Status:
    """What the HTTP endpoints show, replaced whole after each change."""

    view: watch_state.View | None = None
    """None until the first full list has been detected on."""
    facts: model.Provenance = field(default_factory=model.Provenance)
    up: bool = False
    last_change: float = 0.0
    registry_checked: float | None = None

    @property
    def ready(self) -> bool:
        """True after the first full list."""
        return self.view is not None


@dataclass(frozen=True)
class Hooks:
    """Counters the watcher feeds (``watching.metrics`` binds them to Prometheus)."""

    event: Callable[[str], None] = lambda plural: None
    relist: Callable[[str], None] = lambda plural: None
    recomputed: Callable[[float], None] = lambda seconds: None


@dataclass(frozen=True)
class _SnapshotWanted:
    answer: concurrent.futures.Future[model.Snapshot]


@dataclass(frozen=True)
class _RegistryAnswered:
    snapshot: model.Snapshot


_Message = informer.Message | _SnapshotWanted | _RegistryAnswered
_MAX_DELAY_FACTOR = 10


class Watcher:
    """Owns the informers, the processing thread and the registry check."""

    def __init__(self, options: WatchOptions, hooks: Hooks | None = None,
                 tag_resolver: resolver.Resolver | None = None) -> None:
        self.options = options
        self.hooks = hooks or Hooks()
        self.stop = threading.Event()
        self._resolver = tag_resolver
        self._queue: queue.SimpleQueue[_Message] = queue.SimpleQueue()
        self._status = Status()
        self._conn: apiserver.Connection | None = None
        self._conn_lock = threading.Lock()
        self._informers: list[informer.Informer] = []
        self._threads: list[threading.Thread] = []

    @property
    def status(self) -> Status:
        """The latest published status (safe from any thread)."""
        return self._status

    def start(self) -> None:
        """Connect, learn who we are, and start every thread.

        Raises:
            errors.ClusterUnreachable: no usable kubeconfig, or the apiserver did not answer.
        """
        conn = self._connection(False)
        facts = provenance.learn(functools.partial(apiserver.ask, conn), apiserver.probe(conn))
        namespaces: tuple[str | None, ...]
        if self.options.all_namespaces:
            namespaces = (None,)
        else:
            namespaces = self.options.namespaces or (conn.default_namespace,)
        source = model.SourceInfo(
            type="live", context=conn.context,
            namespaces=tuple(ns for ns in namespaces if ns is not None),
            all_namespaces=self.options.all_namespaces, server=conn.host)
        self._facts = model.Provenance(
            server=conn.host, cluster_id=facts.cluster_id, server_version=facts.server_version,
            user=facts.user, unavailable=facts.unavailable,
            kinds_requested=tuple(r.kind for r in live.RESOURCES),
            namespaces_requested=source.namespaces, list_started_at=live.stamp())
        self._state = watch_state.State(source)
        self._named = [ns for ns in namespaces if ns is not None]
        for resource in live.RESOURCES:
            for ns in (namespaces if resource.namespaced else (None,)):
                self._informers.append(informer.Informer(
                    self._connection, resource, ns, self._queue.put, self.stop,
                    on_event=self.hooks.event, on_relist=self.hooks.relist,
                    page_size=self.options.page_size,
                    watch_seconds=self.options.watch_seconds))
        self._spawn(self._process, "driftscan-watch")
        for each in self._informers:
            self._spawn(each.run, f"driftscan-{each.name}")
        if self._resolver is not None and self.options.registry_interval:
            self._spawn(self._check_registries, "driftscan-registry")

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _connection(self, fresh: bool) -> apiserver.Connection:
        with self._conn_lock:
            if self._conn is None or fresh:
                self._conn = apiserver.connect(self.options)
            return self._conn

    # -- processing ---------------------------------------------------------------------------

    def _process(self) -> None:
        while not self.stop.is_set():
            try:
                self._process_until_stopped()
            except Exception as e:  # noqa: BLE001 — a bug must not freeze the metrics silently
                print(f"driftscan watch: internal error ({type(e).__name__}: {e}); every"
                      " namespace is recomputed at the next change", file=sys.stderr)
                self._publish(up=False)
                self._state.mark_all_dirty()
                self.stop.wait(1.0)

    def _process_until_stopped(self) -> None:
        state = self._state
        synced: set[str] = set()
        health: dict[str, bool] = {}
        everyone = {i.name for i in self._informers}
        debounce = self.options.debounce
        first_change = last_change = 0.0
        previous: tuple[frozenset[watch_state.FindingKey], Mapping[object, int]] | None = None
        while not self.stop.is_set():
            # Idle, only a message matters (health changes come as messages too).
            wait = 5.0 if not state.dirty else max(0.0, last_change + debounce - time.monotonic())
            try:
                message = self._queue.get(timeout=max(wait, 0.005))
            except queue.Empty:
                message = None
            if message is not None:
                if not state.dirty:
                    first_change = time.monotonic()
                last_change = time.monotonic()
                self._handle(message, synced, health)
                behind = time.monotonic() - first_change < debounce * _MAX_DELAY_FACTOR
                if not isinstance(message, informer.Health) and behind:
                    continue
            up = len(health) == len(everyone) and all(health.values())
            if synced != everyone:
                continue
            now = time.monotonic()
            quiet = now - last_change >= debounce
            overdue = now - first_change >= debounce * _MAX_DELAY_FACTOR
            first = self._status.view is None
            if (state.dirty or first) and (quiet or overdue or first):
                started = time.perf_counter()
                if first:
                    self._namespace_gaps()
                state.recompute()
                view = state.view()
                self.hooks.recomputed(time.perf_counter() - started)
                current = (view.finding_keys(), _all_builds(view))
                changed = self._status.last_change
                if current != previous:
                    changed, previous = time.time(), current
                self._publish(view=view, up=up, last_change=changed)
                if first:
                    # The records of the first list live as long as the process: keep the
                    # cycle collector from walking them again on every collection.
                    gc.collect()
                    gc.freeze()
            elif up != self._status.up and self._status.view is not None:
                self._publish(up=up)

    def _handle(self, message: _Message, synced: set[str], health: dict[str, bool]) -> None:
        state = self._state
        if isinstance(message, informer.ListPage):
            state.put_all(message.kind, message.items, message.path)
        elif isinstance(message, informer.Listed):
            state.prune(message.kind, message.namespace, message.keys)
            state.set_list_gaps(message.kind, message.scope, message.gaps)
            for each in self._informers:
                if each.resource.kind == message.kind and each.scope == message.scope:
                    synced.add(each.name)
        elif isinstance(message, informer.Changed):
            state.apply(message.kind, message.type, message.obj, message.path)
        elif isinstance(message, informer.Health):
            health[message.name] = message.up
        elif isinstance(message, _SnapshotWanted):
            message.answer.set_result(state.snapshot())
        else:
            snap = message.snapshot
            registry_gaps = [g for g in snap.gaps if g.kind == "registry"]
            state.set_registry(snap.registry_tags, snap.registry_indexes, registry_gaps)
            self._publish(registry_checked=time.time())

    def _publish(self, **changes: Any) -> None:
        # One assignment: readers see the old status or the new one, never a mix.
        view = changes.get("view")
        if isinstance(view, watch_state.View):
            gaps = view.source_gaps
            self._facts = dataclasses.replace(
                self._facts,
                kinds_read=tuple(r.kind for r in live.RESOURCES
                                 if not any(g.kind == r.kind for g in gaps)),
                namespaces_read=provenance.namespaces_read(
                    view.source, gaps, self._connection(False).default_namespace),
                list_finished_at=self._facts.list_finished_at or live.stamp())
        self._status = dataclasses.replace(self._status, facts=self._facts, **changes)

    def _namespace_gaps(self) -> None:
        """Named namespaces that do not exist are gaps, as in ``scan``."""
        if not self._named:
            return
        try:
            gaps = live.missing_namespaces(self._connection(False), self._named,
                                           self._state.namespaces())
        except Exception:  # noqa: BLE001 — the check is retried at the next relist
            return
        self._state.set_namespace_gaps(gaps)

    # -- registry check -----------------------------------------------------------------------

    def _check_registries(self) -> None:
        from scanner.sources import resolving

        assert self._resolver is not None and self.options.registry_interval
        while not self.stop.is_set():
            if self._status.view is None:
                self.stop.wait(0.2)
                continue
            wanted: concurrent.futures.Future[model.Snapshot] = concurrent.futures.Future()
            self._queue.put(_SnapshotWanted(wanted))
            try:
                snap = wanted.result(timeout=60)
            except concurrent.futures.TimeoutError:
                continue
            self._queue.put(_RegistryAnswered(resolving.resolve(snap, self._resolver)))
            self.stop.wait(self.options.registry_interval)


def _all_builds(view: watch_state.View) -> Mapping[object, int]:
    return {k: v for r in view.results.values() for k, v in r.all_builds().items()}
