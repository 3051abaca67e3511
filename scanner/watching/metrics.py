"""The Prometheus metrics of ``driftscan watch`` (names and labels: docs/metrics.md).

State-derived series (findings, builds, scores, gaps, health) come from a custom
collector that reads the watcher's current :class:`~watching.watcher.Status` at scrape
time, so a finding that goes takes its series with it — nothing is left behind at its
last value. Counters and the recompute histogram are ordinary ``prometheus_client``
metrics fed by the watcher's hooks. The registry is private (no global state), with
the standard process collector for CPU, memory and file descriptors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from scanner.watching import watcher

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
_RECOMPUTE_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _StateCollector(Collector):
    """Gauges read from the watcher's status at each scrape."""

    def __init__(self, status: Callable[[], watcher.Status], registry_check: bool) -> None:
        self._status = status
        self._registry_check = registry_check

    def collect(self) -> Iterator[Metric]:
        status = self._status()
        yield _gauge("driftscan_watch_up",
                     "1 when every watch is connected and the state is synced with the"
                     " apiserver; 0 while any watch is down or relisting", float(status.up))
        yield _gauge("driftscan_ready", "1 after the first full list completed",
                     float(status.ready))
        finding = GaugeMetricFamily(
            "driftscan_finding", "1 while the finding is present",
            labels=["rule", "severity", "namespace", "kind", "workload", "container"])
        builds = GaugeMetricFamily(
            "driftscan_workload_builds",
            "Distinct builds (image digests) the workload's running pods run for the container",
            labels=["namespace", "kind", "workload", "container"])
        score = GaugeMetricFamily(
            "driftscan_workload_score", "The workload's risk score, the same number as scan",
            labels=["namespace", "kind", "workload"])
        view = status.view
        if view is not None:
            for key in sorted(view.finding_keys()):
                finding.add_metric(list(key), 1.0)
            for ns in sorted(view.results):
                result = view.results[ns]
                for (namespace, kind, name, container), count in result.all_builds().items():
                    builds.add_metric([namespace, kind, name, container], float(count))
                for entry in result.entries.values():
                    score.add_metric([entry.namespace, entry.kind, entry.name],
                                     float(entry.score))
        yield finding
        yield builds
        yield score
        yield _gauge("driftscan_scan_gaps",
                     "Gaps (unreadable kinds or namespaces, unreachable registries) in the"
                     " current state", float(view.gap_count() if view is not None else 0))
        yield _gauge("driftscan_last_change_timestamp_seconds",
                     "Unix time of the last change that altered findings or builds",
                     status.last_change)
        if self._registry_check:
            yield _gauge("driftscan_registry_check_timestamp_seconds",
                         "Unix time of the last finished registry check",
                         status.registry_checked or 0.0)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


class Metrics:
    """The watcher's metrics registry and the hooks that feed its counters."""

    def __init__(self, *, registry_check: bool = False) -> None:
        # ``*_created`` series would double every counter's series for nothing Prometheus
        # needs (it detects resets itself).
        prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        self._events = Counter("driftscan_watch_events", "Watch events processed",
                               ["resource"], registry=self.registry)
        self._relists = Counter("driftscan_watch_relists",
                                "Full relists (410 Gone, reconnect)", ["resource"],
                                registry=self.registry)
        self._recompute = Histogram(
            "driftscan_recompute_duration_seconds",
            "Time to recompute the affected workloads after a debounced batch",
            buckets=_RECOMPUTE_BUCKETS, registry=self.registry)
        self._registry_check = registry_check

    def hooks(self) -> watcher.Hooks:
        """Callbacks for the watcher."""
        return watcher.Hooks(
            event=lambda plural: self._events.labels(plural).inc(),
            relist=lambda plural: self._relists.labels(plural).inc(),
            recomputed=self._recompute.observe,
        )

    def bind(self, status: Callable[[], watcher.Status]) -> None:
        """Serve the state-derived gauges from ``status``."""
        self.registry.register(_StateCollector(status, self._registry_check))

    def exposition(self) -> bytes:
        """The Prometheus text format of every metric now."""
        return generate_latest(self.registry)
