"""The chart's alerts in a real Prometheus scraping a real ``driftscan watch``.

The chart is applied to the kwok cluster (namespaced mode, for the test's namespace);
``driftscan watch`` runs as a process with its ServiceAccount's token (``kubectl create
token``), so it reads with exactly the rights the chart grants. Debian's Prometheus
scrapes it every second and evaluates the chart's rules, rendered with short ``for:``
windows. A tag is re-pushed and the Deployment scaled up: ``DriftscanDigestDrift`` must go
pending, then firing once its window has passed, and resolve when a rollout to one build
has finished. Stopping the watcher makes ``DriftscanWatchDown`` (not scraped) fire.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from scanner.clusters import base
from scanner.oci import synthetic
from tests import helmchart as hc
from tests.integration import kubeutil as ku
from tests.integration import watchproc as wp

pytestmark = pytest.mark.cluster

WINDOW = 10
"""Seconds of the DriftscanDigestDrift ``for:`` window in this test."""
ABSENT_WINDOW = 5
"""Seconds of the "not scraped" DriftscanWatchDown window in this test."""
SLACK = 8.0
"""Scrape (1 s) + evaluation (1 s) intervals and a loaded 2-core machine's delays."""


def _prometheus(rules: str, target: str, tmp: Path) -> contextlib.AbstractContextManager[
        wp.Running]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus is not installed: `make test` installs Debian's prometheus "
                    "package (apt-get install prometheus)")
    (tmp / "driftscan.rules.yaml").write_text(rules)
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s",
                   "scrape_timeout": "1s"},
        "rule_files": [str(tmp / "driftscan.rules.yaml")],
        "scrape_configs": [{"job_name": "driftscan",
                            "static_configs": [{"targets": [target]}]}],
    }
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = wp.free_port()
    argv = [binary, f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=1h"]
    return wp.started(argv, tmp / "prometheus.log", f"http://127.0.0.1:{port}", "/-/ready", 60)


@dataclass(frozen=True)
class Seen:
    """One alert as Prometheus' API reported it, and when the test saw it."""

    state: str
    active_at: str
    labels: dict[str, str]
    at: float


def _alerts(prometheus: wp.Running, name: str) -> list[Seen]:
    status, body = wp.get(prometheus.url + "/api/v1/alerts")
    if status != 200:
        return []
    now = time.monotonic()
    return [Seen(a["state"], a.get("activeAt", ""), a["labels"], now)
            for a in json.loads(body)["data"]["alerts"] if a["labels"]["alertname"] == name]


def _metric_lines(watcher: wp.Running, prefix: str) -> list[str]:
    status, body = wp.get(watcher.url + "/metrics")
    assert status == 200
    return [line for line in body.decode().splitlines() if line.startswith(prefix)]


def test_digest_drift_alert_goes_pending_fires_within_its_window_and_resolves(
        cluster: base.ClusterHandle, kube: client.ApiClient, registry: str,
        tmp_path: Path) -> None:
    rules = hc.plain_rules(f"prometheusRule.alerts.digestDrift.for={WINDOW}s",
                           f"prometheusRule.alerts.watchDown.absentFor={ABSENT_WINDOW}s",
                           "prometheusRule.alerts.watchDown.for=5s")
    with hc.installed(cluster, "namespaces={{NS}}") as chart:
        namespace = chart.namespace
        kubeconfig = hc.token_kubeconfig(cluster, chart, tmp_path / "sa.kubeconfig")
        repo = f"{namespace}/cart"
        d1 = synthetic.push_image(registry, repo, "latest",
                                  synthetic.build_image(f"{namespace}-1"))
        apps = client.AppsV1Api(kube)
        apps.create_namespaced_deployment(namespace, ku.deployment(
            "cart", f"{registry}/{repo}:latest", 2))
        ku.wait_for("2 pods", ku.running_with_image_ids(kube, namespace, "app=cart", 2))

        with wp.watcher(kubeconfig, ["-n", namespace], tmp_path) as watcher, \
                _prometheus(rules, watcher.url.removeprefix("http://"), tmp_path) as prom:
            # Prometheus scrapes the watcher: up, and no drift yet.
            wp.wait("a scrape of driftscan_watch_up 1", lambda: _query(
                prom, "driftscan_watch_up") == ["1"], 30, prom.process, prom.log)
            # (Before its first scrape Prometheus saw no watcher: the "not scraped" alert may
            # have gone active then; it resolves with the first evaluation after a scrape.)
            wp.wait("no DriftscanWatchDown once the watcher is scraped",
                  lambda: not _alerts(prom, "DriftscanWatchDown"), SLACK, prom.process,
                  prom.log)
            assert not _alerts(prom, "DriftscanDigestDrift")
            # The chart's namespaced RBAC lets the watcher read everything it watches.
            assert _query(prom, "driftscan_scan_gaps") == ["0"], wp.get(
                watcher.url + "/report.json")[1][:2000]
            # Every series the chart's alerts and dashboard query is one the watcher serves
            # (the registry check's only with --registry-check).
            served = _served_names(watcher)
            assert _chart_names() - {"driftscan_registry_check_timestamp_seconds"} <= served, \
                _chart_names() - served

            # Re-push the tag and scale up: the new pod pulls the other build.
            d2 = synthetic.push_image(registry, repo, "latest",
                                      synthetic.build_image(f"{namespace}-2"))
            apps.patch_namespaced_deployment_scale("cart", namespace, {"spec": {"replicas": 3}})
            ku.wait_for("3 pods", ku.running_with_image_ids(kube, namespace, "app=cart", 3))
            running_at = time.monotonic()
            assert d1 != d2
            series = wp.wait("driftscan_finding{rule=\"digest-drift\"} 1 on /metrics", lambda: [
                line for line in _metric_lines(watcher, "driftscan_finding{")
                if 'rule="digest-drift"' in line and 'workload="cart"' in line
                and line.endswith(" 1.0")], 30, watcher.process, watcher.log)
            assert f'namespace="{namespace}"' in series[0]

            pending = wp.wait("DriftscanDigestDrift pending", lambda: [
                a for a in _alerts(prom, "DriftscanDigestDrift") if a.state == "pending"],
                SLACK + 5, prom.process, prom.log)
            [p] = pending
            assert p.labels["workload"] == "cart" and p.labels["namespace"] == namespace
            assert p.labels["kind"] == "Deployment" and p.labels["container"] == "app"
            assert p.labels["severity"] == "warning"  # the alert's, for routing
            firing = wp.wait("DriftscanDigestDrift firing", lambda: [
                a for a in _alerts(prom, "DriftscanDigestDrift") if a.state == "firing"],
                WINDOW + SLACK, prom.process, prom.log)
            [f] = firing
            assert f.active_at == p.active_at  # the same alert, now past its window
            held = f.at - p.at
            assert held >= WINDOW - 2, f"fired {held:.1f} s after pending, window {WINDOW} s"
            assert f.at - running_at <= WINDOW + 2 * SLACK
            print(f"DriftscanDigestDrift: pending {p.at - running_at:.1f} s after the new pod "
                  f"ran, firing {held:.1f} s after pending (window {WINDOW} s)")

            # Finish a rollout to one build: the finding, then the alert, go away.
            apps.patch_namespaced_deployment("cart", namespace, {"spec": {"template": {
                "spec": {"containers": [{"name": "app",
                                         "image": f"{registry}/{repo}@{d2}"}]}}}})

            def one_build() -> bool:
                pods = ku.pods(kube, namespace, "app=cart")
                ids = [ku.digest_of_image_id(i) for p in pods for i in ku.image_ids(p)]
                return len(pods) == 3 and len(ids) == 3 and set(ids) == {d2}

            ku.wait_for("the rollout to one build", one_build, timeout=90)
            wp.wait("the digest-drift series to go", lambda: not [
                line for line in _metric_lines(watcher, "driftscan_finding{")
                if 'rule="digest-drift"' in line and 'workload="cart"' in line], 30,
                watcher.process, watcher.log)
            gone_at = time.monotonic()
            wp.wait("DriftscanDigestDrift to resolve",
                  lambda: not _alerts(prom, "DriftscanDigestDrift"), SLACK + 5,
                  prom.process, prom.log)
            print(f"DriftscanDigestDrift resolved {time.monotonic() - gone_at:.1f} s after "
                  "the series went")
            assert not _alerts(prom, "DriftscanWatchDown")

            # The watcher stops: no series, and the "not scraped" alert fires.
            watcher.stop()
            wp.wait("DriftscanWatchDown (not scraped) firing", lambda: [
                a for a in _alerts(prom, "DriftscanWatchDown")
                if a.state == "firing" and a.labels.get("reason") == "not-scraped"],
                ABSENT_WINDOW + 2 * SLACK, prom.process, prom.log)


def _served_names(watcher: wp.Running) -> set[str]:
    status, body = wp.get(watcher.url + "/metrics")
    assert status == 200
    # Declared families count too: a labelled counter has no sample before its first event.
    names = {line.split()[2] + ("_total" if line.split()[3] == "counter" else "")
             for line in body.decode().splitlines() if line.startswith("# TYPE driftscan_")}
    names = {re.sub(r"(_total)+$", "_total", n) for n in names}
    return {re.sub(r"_(bucket|sum|count|created)$", "", n) for n in names}


def _chart_names() -> set[str]:
    """The driftscan series the chart's rules and dashboard name."""
    text = hc.plain_rules() + (hc.CHART / "dashboards" / "driftscan.json").read_text()
    return {re.sub(r"_(bucket|sum|count)$", "", n)
            for n in re.findall(r"\bdriftscan_[a-z_]+", text)}


def _query(prometheus: wp.Running, expr: str) -> list[str]:
    status, body = wp.get(prometheus.url + "/api/v1/query?query="
                        + urllib.parse.quote(expr))
    if status != 200:
        return []
    return [r["value"][1] for r in json.loads(body)["data"]["result"]]
