"""`driftscan watch` as a real process against the real kube-apiserver of the kwok cluster.

Drift is made for real (a new build pushed under the same tag, then a scale-up; a
rollout that the real controllers carry out), the apiserver process is stopped and
started mid-watch, and what the watcher serves is compared with a fresh `scan`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from prometheus_client.parser import text_string_to_metric_families

from scanner import cli
from scanner.clusters import base, processes
from scanner.oci import synthetic
from tests.integration import kubeutil as ku

pytestmark = pytest.mark.cluster

Series = dict[tuple[str, tuple[tuple[str, str], ...]], float]


class Watch:
    """A `driftscan watch` process and its endpoints."""

    def __init__(self, kubeconfig: Path, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "scanner.cli", "watch", "--kubeconfig", str(kubeconfig),
             "--listen", "127.0.0.1:0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline()
        assert "serving http://127.0.0.1:" in line, line
        self.base = line.strip().rsplit(" ", 1)[-1].removesuffix("/metrics")
        self.errors: list[str] = []
        # Read what it writes as it writes it: a full pipe would block the watcher.
        self._reader = threading.Thread(target=lambda: self.errors.extend(self.proc.stderr
                                                                          or ()), daemon=True)
        self._reader.start()
        ku.wait_for("the first full list", lambda: self.get("/readyz")[0] == 200, 60)

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.base + path, timeout=10) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def series(self) -> Series:
        status, body = self.get("/metrics")
        assert status == 200
        found: Series = {}
        for family in text_string_to_metric_families(body.decode()):
            for sample in family.samples:
                found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return found

    def value(self, name: str, **labels: str) -> float | None:
        return self.series().get((name, tuple(sorted(labels.items()))))

    def stop(self) -> int:
        self.proc.terminate()
        code = self.proc.wait(timeout=30)
        self._reader.join(timeout=10)
        err = "".join(self.errors)
        assert "Traceback" not in err and "pool is full" not in err, err
        return code


@pytest.fixture
def repo(namespace: str) -> str:
    return f"{namespace}/userservice"


def _drift_series(watch: Watch, namespace: str) -> list[tuple[str, ...]]:
    return [tuple(v for _, v in labels) for (name, labels), value in watch.series().items()
            if name == "driftscan_finding" and value == 1
            and ("rule", "digest-drift") in labels and ("namespace", namespace) in labels]


def _comparable(report: dict[str, Any]) -> dict[str, Any]:
    return {k: report[k] for k in ("schema", "source", "summary", "gaps", "workloads",
                                   "rules")}


def _scan(capsys: pytest.CaptureFixture[str], kubeconfig: Path, namespace: str) -> Any:
    capsys.readouterr()
    cli.main(["scan", "--kubeconfig", str(kubeconfig), "-n", namespace, "--format", "json"])
    return json.loads(capsys.readouterr().out)


def _restart_apiserver(cluster: base.ClusterHandle, down_for: float) -> None:
    """Stop the cluster's kube-apiserver process and start it again with the same argv."""
    state_file = cluster.state_dir / "state.json"
    state = base.load_state(state_file)
    assert state is not None
    [entry] = [p for p in state["processes"] if p["name"] == "kube-apiserver"]
    old = processes.Process.from_json(entry)
    argv = Path(f"/proc/{old.pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    processes.stop(old)
    time.sleep(down_for)
    new = processes.start("kube-apiserver", [a.decode() for a in argv], Path(old.log).parent)
    entry.update(new.to_json())
    base.save_state(state_file, state)
    port = state["ports"]["apiserver"]
    ku.wait_for("the apiserver port", lambda: processes.port_open(port), 60)


@pytest.fixture
def drifting(kube: client.ApiClient, namespace: str, registry: str, repo: str) -> str:
    """A Deployment of 6 pods on build 1 of `userservice:latest`; returns build 1's digest."""
    d1 = synthetic.push_image(registry, repo, "latest", synthetic.build_image(f"{namespace}-1"))
    client.AppsV1Api(kube).create_namespaced_deployment(namespace, ku.deployment(
        "userservice", f"{registry}/{repo}:latest", 6))
    ku.wait_for("6 pods", ku.running_with_image_ids(kube, namespace, "app=userservice", 6))
    return d1


def test_repush_and_scale_up_shows_on_metrics_within_2s_then_goes_with_the_rollout(
        cluster: base.ClusterHandle, kube: client.ApiClient, namespace: str, registry: str,
        repo: str, drifting: str, capsys: pytest.CaptureFixture[str]) -> None:
    watch = Watch(cluster.kubeconfig, "-n", namespace)
    try:
        assert watch.value("driftscan_watch_up") == 1
        assert watch.value("driftscan_ready") == 1
        assert _drift_series(watch, namespace) == []
        assert watch.value("driftscan_workload_builds", namespace=namespace,
                           kind="Deployment", workload="userservice", container="app") == 1

        # Scrape every 50 ms on the side, and note when the finding first shows.
        seen_at: list[float] = []
        stop = threading.Event()

        def scrape() -> None:
            while not stop.is_set() and not seen_at:
                if _drift_series(watch, namespace):
                    seen_at.append(time.time())
                stop.wait(0.05)

        scraper = threading.Thread(target=scrape, daemon=True)
        scraper.start()
        synthetic.push_image(registry, repo, "latest", synthetic.build_image(f"{namespace}-2"))
        client.AppsV1Api(kube).patch_namespaced_deployment_scale(
            "userservice", namespace, {"spec": {"replicas": 9}})
        # The moment the last new pod runs, as the apiserver's own records say: the
        # Ready condition's lastTransitionTime (whole seconds) and, sharper, when this
        # test first saw all 9 running.
        ku.wait_for("9 pods", ku.running_with_image_ids(kube, namespace, "app=userservice",
                                                        9), interval=0.05)
        running_at = time.time()
        scraper.join(timeout=10)
        stop.set()
        assert seen_at, "digest-drift never appeared on /metrics"
        latency = seen_at[0] - running_at
        print(f"digest-drift on /metrics {latency:+.2f} s after the 9th pod was seen running")
        assert latency <= 2.0
        [labels] = _drift_series(watch, namespace)
        assert watch.value("driftscan_workload_builds", namespace=namespace,
                           kind="Deployment", workload="userservice", container="app") == 2
        score = watch.value("driftscan_workload_score", namespace=namespace,
                            kind="Deployment", workload="userservice")
        assert score is not None and score > 0

        # (d) the watcher's report is the scan's (both describe "now": the controllers
        # may still be writing status, so the two are compared until they settle).
        _same_as_scan(watch, capsys, cluster.kubeconfig, namespace)

        # Roll the Deployment: every pod is replaced and pulls build 2 → one build again.
        client.AppsV1Api(kube).patch_namespaced_deployment("userservice", namespace, {
            "spec": {"template": {"metadata": {"annotations": {"restarted": namespace}}}}})
        ku.wait_for("the rollout to finish", lambda: not _drift_series(watch, namespace),
                    timeout=90)
        ku.wait_for("one build", lambda: watch.value(
            "driftscan_workload_builds", namespace=namespace, kind="Deployment",
            workload="userservice", container="app") == 1, timeout=30)
        assert ("driftscan_finding", tuple(sorted(zip(
            ("container", "kind", "namespace", "rule", "severity", "workload"),
            labels, strict=True)))) not in watch.series()
        events = watch.value("driftscan_watch_events_total", resource="pods")
        assert events is not None and events > 0
    finally:
        assert watch.stop() == 0  # SIGTERM is a normal end


def test_apiserver_restart_mid_watch_goes_down_then_recovers_to_the_scans_state(
        cluster: base.ClusterHandle, kube: client.ApiClient, namespace: str, registry: str,
        repo: str, drifting: str, capsys: pytest.CaptureFixture[str]) -> None:
    watch = Watch(cluster.kubeconfig, "-n", namespace)
    try:
        assert watch.value("driftscan_watch_up") == 1
        state_file = cluster.state_dir / "state.json"
        if not state_file.is_file():
            pytest.skip("an external cluster: its apiserver is not ours to restart")
        down = threading.Thread(target=_restart_apiserver, args=(cluster, 3.0))
        down.start()
        ku.wait_for("driftscan_watch_up 0", lambda: watch.value("driftscan_watch_up") == 0,
                    timeout=30, interval=0.1)
        down.join()
        assert watch.get("/healthz")[0] == 200  # the process itself is fine
        ku.wait_for("the apiserver", lambda: _answers(kube), timeout=60)
        # A change made right after the restart must still be seen.
        synthetic.push_image(registry, repo, "latest", synthetic.build_image(f"{namespace}-2"))
        client.AppsV1Api(kube).patch_namespaced_deployment_scale(
            "userservice", namespace, {"spec": {"replicas": 8}})
        ku.wait_for("8 pods", ku.running_with_image_ids(kube, namespace, "app=userservice", 8),
                    timeout=90)
        ku.wait_for("driftscan_watch_up 1", lambda: watch.value("driftscan_watch_up") == 1,
                    timeout=60)
        ku.wait_for("digest-drift", lambda: _drift_series(watch, namespace), timeout=30)
        relists = sum(v for (name, _), v in watch.series().items()
                      if name == "driftscan_watch_relists_total")
        print(f"relists after the restart: {relists:g}")
        _same_as_scan(watch, capsys, cluster.kubeconfig, namespace)
    finally:
        assert watch.stop() == 0


def _same_as_scan(watch: Watch, capsys: pytest.CaptureFixture[str], kubeconfig: Path,
                  namespace: str) -> None:
    differences: list[str] = []

    def same() -> bool:
        status, body = watch.get("/report.json")
        assert status == 200
        mine = _comparable(json.loads(body))
        theirs = _comparable(_scan(capsys, kubeconfig, namespace))
        differences[:] = [json.dumps([mine[k], theirs[k]])[:3000] for k in mine
                          if mine[k] != theirs[k]]
        return not differences

    try:
        ku.wait_for("the watcher's report to equal a fresh scan", same, timeout=30,
                    interval=1.0)
    except AssertionError:
        raise AssertionError("\n".join(differences)) from None


def _answers(kube: client.ApiClient) -> bool:
    try:
        client.CoreV1Api(kube).list_namespace(limit=1)
    except Exception:  # noqa: BLE001 — still starting
        return False
    return True


def test_endpoints_are_read_only_and_bad_flags_are_one_line(
        cluster: base.ClusterHandle, namespace: str) -> None:
    watch = Watch(cluster.kubeconfig, "-n", namespace)
    try:
        for method in ("POST", "PUT", "DELETE", "PATCH", "BREW"):
            request = urllib.request.Request(watch.base + "/metrics", method=method, data=b"")
            with pytest.raises(urllib.error.HTTPError) as info:
                urllib.request.urlopen(request, timeout=10)
            assert info.value.code == 405, method
        assert watch.get("/healthz") == (200, b"ok\n")
        status, page = watch.get("/")
        assert status == 200 and b"<html" in page.lower()
        assert watch.get("/nothing-here")[0] == 404
    finally:
        assert watch.stop() == 0
    bad = subprocess.run([sys.executable, "-m", "scanner.cli", "watch", "--kubeconfig",
                          str(cluster.kubeconfig), "--listen", "nowhere"],
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)})
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and bad.stderr.startswith("error: --listen")
