"""``scenario run --detector watch``: time to detect as an always-on watcher sees it.

An observer of the run. When a scenario starts on a cluster, it starts ``driftscan
watch -A`` there (one process per cluster, on a free loopback port) and scrapes its
``/metrics`` every 50 ms on a thread, noting each moment the findings or builds of a
namespace change (``driftscan_finding`` and ``driftscan_workload_builds`` series). The
injecting step is chosen as the runner chooses it (the step marked ``inject: true``, else
the first mutating step since the previous scan); when the scan after it finishes, the
watcher's time to detect — from the start of that step to the first change in the
scenario's namespace — goes into the scan's record beside the scan-based time, and from
there into the journal and the validation page. The watcher stops with the run.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

from scanner.scenarios import definitions as d
from scanner.scenarios import observers, records

__all__ = ["WatchDetector"]

_SCRAPE_INTERVAL = 0.05
_READY_TIMEOUT = 90.0
_SETTLE = 10.0
"""Seconds a finished scan waits for a watcher that has not seen the change yet."""
_SERIES = ("driftscan_finding", "driftscan_workload_builds")


@dataclass
class _Watcher:
    """One ``driftscan watch`` process and the changes its metrics showed."""

    proc: subprocess.Popen[str]
    url: str
    changes: list[tuple[float, str]] = field(default_factory=list)
    """(unix time, namespace) each time a namespace's findings or builds changed."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    error: str | None = None

    def first_change(self, namespace: str, since: float) -> float | None:
        with self.lock:
            return next((t for t, ns in self.changes if ns == namespace and t >= since), None)


class WatchDetector(observers.Observer):
    """Runs a watcher beside the scenarios and times its detection."""

    def __init__(self, argv: Sequence[str] | None = None) -> None:
        self._argv = list(argv or [sys.executable, "-m", "scanner.cli"])
        self._watchers: dict[tuple[str, str], _Watcher] = {}
        self._injected: dict[str, float] = {}

    # -- the run's events ---------------------------------------------------------------------

    def scenario_started(self, record: records.ScenarioRecord) -> None:  # noqa: D102
        kubeconfig = str(record.cluster.get("kubeconfig") or "")
        context = str(record.cluster.get("context") or "")
        if kubeconfig and (kubeconfig, context) not in self._watchers:
            self._watchers[(kubeconfig, context)] = self._start(kubeconfig, context)

    def step_started(self, record: records.ScenarioRecord, step: d.Step) -> None:  # noqa: D102
        marked = any(s.inject for s in record.scenario.steps)
        name = record.scenario.name
        if (step.inject if marked else
                isinstance(step.action, d.MUTATING) and name not in self._injected):
            self._injected[name] = time.time()

    def scan_finished(self, record: records.ScenarioRecord,  # noqa: D102
                      scan: records.ScanRecord) -> None:
        since = self._injected.pop(record.scenario.name, None)
        watcher = self._watcher_of(record)
        if since is None or watcher is None or not record.namespace:
            return
        deadline = time.monotonic() + _SETTLE
        seen = watcher.first_change(record.namespace, since)
        while seen is None and time.monotonic() < deadline and not watcher.stop.is_set():
            time.sleep(_SCRAPE_INTERVAL)
            seen = watcher.first_change(record.namespace, since)
        if seen is not None:
            scan.watch_time_to_detect_s = max(0.0, seen - since)

    def run_finished(self, run: records.RunRecord) -> None:  # noqa: D102
        self.close()

    def close(self) -> None:
        """Stop every watcher (SIGTERM, then SIGKILL after 10 s)."""
        for watcher in self._watchers.values():
            watcher.stop.set()
            watcher.proc.terminate()
            try:
                watcher.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                watcher.proc.kill()
                watcher.proc.wait()
        self._watchers.clear()

    # -- the watcher ----------------------------------------------------------------------------

    def _watcher_of(self, record: records.ScenarioRecord) -> _Watcher | None:
        key = (str(record.cluster.get("kubeconfig") or ""),
               str(record.cluster.get("context") or ""))
        return self._watchers.get(key)

    def _start(self, kubeconfig: str, context: str) -> _Watcher:
        argv = [*self._argv, "watch", "-A", "--kubeconfig", kubeconfig,
                "--listen", "127.0.0.1:0"]
        if context:
            argv += ["--context", context]
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        assert proc.stderr is not None
        line = proc.stderr.readline().strip()
        url = line.rsplit(" ", 1)[-1] if "serving http://" in line else ""
        watcher = _Watcher(proc, url)
        # Keep reading what it writes: a full pipe would block the watcher mid-line.
        threading.Thread(target=_drain, args=(proc,), name="driftscan-watch-stderr",
                         daemon=True).start()
        if not url:
            watcher.error = line or f"driftscan watch exited with {proc.wait()}"
            watcher.stop.set()
            return watcher
        threading.Thread(target=self._scrape, args=(watcher,), name="driftscan-watch-scrape",
                         daemon=True).start()
        deadline = time.monotonic() + _READY_TIMEOUT
        while time.monotonic() < deadline and not _ready(url):
            time.sleep(0.2)
        return watcher

    def _scrape(self, watcher: _Watcher) -> None:
        signatures: dict[str, frozenset[tuple[str, tuple[tuple[str, str], ...], float]]] = {}
        while not watcher.stop.is_set():
            try:
                with urllib.request.urlopen(watcher.url, timeout=5) as answer:
                    text = answer.read().decode()
            except OSError:
                watcher.stop.wait(0.5)
                continue
            now = time.time()
            current = _by_namespace(text)
            with watcher.lock:
                for ns in set(current) | set(signatures):
                    if current.get(ns, frozenset()) != signatures.get(ns, frozenset()):
                        watcher.changes.append((now, ns))
            signatures = current
            watcher.stop.wait(_SCRAPE_INTERVAL)


def _by_namespace(text: str) -> dict[str, frozenset[tuple[str, tuple[tuple[str, str], ...],
                                                      float]]]:
    """Each namespace's finding and builds series, as a comparable set."""
    found: dict[str, set[tuple[str, tuple[tuple[str, str], ...], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in _SERIES:
                namespace = sample.labels.get("namespace", "")
                found.setdefault(namespace, set()).add(
                    (sample.name, tuple(sorted(sample.labels.items())), sample.value))
    return {ns: frozenset(series) for ns, series in found.items()}


def _drain(proc: subprocess.Popen[str]) -> None:
    assert proc.stderr is not None
    for _ in proc.stderr:
        pass


def _ready(metrics_url: str) -> bool:
    try:
        with urllib.request.urlopen(metrics_url.replace("/metrics", "/readyz"),
                                    timeout=5) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False
