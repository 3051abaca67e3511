"""Audit reports against the real kwok cluster.

Provenance must be the cluster's own facts (the kube-system UID read back with the
admin client, the apiserver's version, the ServiceAccount a scan ran as); signed
reports verify with the right key only and a tampered one fails. ``diff`` and
``report --history`` run over the outputs of scenario runs: before and after an
injected re-push, and after the fix (the workload pinned to one digest); the history
page over a run of library scenarios is opened in headless Chromium.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from kubernetes import client

from scanner import cli
from scanner.clusters import base
from scanner.oci import synthetic
from tests import htmltree, scenario_files
from tests.e2e import chromium
from tests.integration import kubeutil as ku
from tests.integration.test_scan_live import _token_kubeconfig

pytestmark = pytest.mark.cluster


def _scan_json(kubeconfig: Path, out: Path, *args: str) -> dict[str, Any]:
    code = cli.main(["scan", "--kubeconfig", str(kubeconfig), "--format", "json",
                     "-o", str(out), *args])
    assert code in (0, 1, 3), code
    data: dict[str, Any] = json.loads(out.read_text())
    return data


def _web(namespace: str, registry: str, kube: client.ApiClient, replicas: int = 2) -> None:
    repo = f"{namespace}/web"
    synthetic.push_image(registry, repo, "latest", synthetic.build_image(f"{namespace}-a"))
    client.AppsV1Api(kube).create_namespaced_deployment(namespace, ku.deployment(
        "web", f"{registry}/{repo}:latest", replicas))
    ku.wait_for(f"{replicas} pods", ku.running_with_image_ids(kube, namespace, "app=web",
                                                              replicas))


def test_provenance_names_the_cluster_and_the_identity(
        cluster: base.ClusterHandle, kube: client.ApiClient, namespace: str, registry: str,
        tmp_path: Path) -> None:
    _web(namespace, registry, kube)
    admin = _scan_json(cluster.kubeconfig, tmp_path / "admin.json", "-n", namespace)
    p = admin["provenance"]
    kube_system = client.CoreV1Api(kube).read_namespace("kube-system")
    assert p["cluster"]["id"] == kube_system.metadata.uid
    assert p["cluster"]["server"] == kube.configuration.host
    assert p["cluster"]["version"] == client.VersionApi(kube).get_code().git_version
    # The identity is what the apiserver says the admin credentials are.
    me = client.AuthenticationV1Api(kube).create_self_subject_review(
        {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
    assert p["identity"]["username"] == me.status.user_info.username
    assert p["unavailable"] == {}
    assert p["scope"]["kinds_read"] == p["scope"]["kinds_requested"]
    assert p["scope"]["namespaces_requested"] == p["scope"]["namespaces_read"] == [namespace]
    window = p["list_window"]
    # resourceVersions of the LISTs, no later than what a LIST sees after the scan.
    now = client.CoreV1Api(kube).list_namespaced_pod(namespace).metadata.resource_version
    first, last = int(window["first_resource_version"]), int(window["last_resource_version"])
    assert 0 < first <= last <= int(now)
    assert window["started_at"] <= window["finished_at"] <= admin["generated_at"]
    assert admin["provenance"]["command_line"][:2] == ["driftscan", "scan"]

    # As a ServiceAccount bound to a namespace-only Role.
    sa_config = _token_kubeconfig(cluster, kube, namespace, tmp_path / "sa.kubeconfig")
    sa = _scan_json(sa_config, tmp_path / "sa.json", "-n", namespace, "--allow-gaps")
    q = sa["provenance"]
    assert q["identity"]["username"] == f"system:serviceaccount:{namespace}:scanner"
    assert f"system:serviceaccounts:{namespace}" in q["identity"]["groups"]
    # Reading namespaces is not in its Role: no cluster id, and the report says why.
    assert q["cluster"]["id"] is None
    assert q["unavailable"]["cluster_id"].startswith("forbidden: GET namespace kube-system")
    assert q["cluster"]["version"] == p["cluster"]["version"]
    assert "Node" in q["scope"]["kinds_requested"] and "Node" not in q["scope"]["kinds_read"]
    assert q["scope"]["namespaces_read"] == [namespace]


def _keys(tmp_path: Path) -> tuple[Path, Path, Path]:
    paths = []
    for name in ("mine", "theirs"):
        key = ed25519.Ed25519PrivateKey.generate()
        path = tmp_path / f"{name}.pem"
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
        public = tmp_path / f"{name}.pub.pem"
        public.write_bytes(key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        paths += [path, public]
    return paths[0], paths[1], paths[3]


def test_signed_live_report_verifies_with_its_key_only(
        cluster: base.ClusterHandle, kube: client.ApiClient, namespace: str, registry: str,
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _web(namespace, registry, kube)
    private, public, other = _keys(tmp_path)
    out = tmp_path / "signed.json"
    _scan_json(cluster.kubeconfig, out, "-n", namespace, "--sign-key", str(private))
    capsys.readouterr()
    assert cli.main(["report", "verify", str(out), "--key", str(public)]) == 0
    assert cli.main(["report", "verify", str(out), "--key", str(other)]) == 1
    data = json.loads(out.read_text())
    data["provenance"]["cluster"]["id"] = "another-cluster"
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(data, indent=2))
    assert cli.main(["report", "verify", str(tampered)]) == 1
    assert cli.main(["report", "verify", str(tampered), "--key", str(public)]) == 1
    err = capsys.readouterr().err
    assert "digest MISMATCH" in err and "signature INVALID" in err


INJECT_AND_FIX = """\
title: re-push and scale, then pin the new build
steps:
- push: {repository: "{{ namespace }}/shop/web", tag: latest, build: b1}
- apply: app.yaml
- wait: {rollout: Deployment/web}
- scan: before
- name: re-push latest
  push: {repository: "{{ namespace }}/shop/web", tag: latest, build: b2}
  inject: true
- scale: {workload: Deployment/web, replicas: 4}
- wait: {pods: {selector: app=web, count: 4}}
- wait: {pods: {selector: app=web, count: 1, build: b2}}
- scan: after
- name: pin the new build
  set-image:
    workload: Deployment/web
    container: app
    image: "{{ registry }}/{{ namespace }}/shop/web:latest@{{ digest:b2 }}"
- wait: {rollout: Deployment/web}
- wait: {pods: {selector: app=web, count: 4, build: b2}}
- scan: fixed
expect:
  before:
    clean: true
  after:
    fires:
    - {rule: digest-drift, workload: Deployment/web, digests: 2}
  fixed:
    clean: true
"""

APP = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: app
        image: "{{ registry }}/{{ namespace }}/shop/web:latest"
"""


def test_diff_and_history_over_an_injection_and_its_fix(
        cluster: base.ClusterHandle, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    scenario, name = scenario_files.write(tmp_path, INJECT_AND_FIX, {"app.yaml": APP})
    out = tmp_path / "out"
    code = cli.main(["scenario", "run", "--file", str(scenario), "--out", str(out),
                     *scenario_files.existing_args(cluster)])
    printed = capsys.readouterr()
    assert code == 0, printed.out + printed.err
    before, after, fixed = (out / "scans" / f"{name}--{label}.json"
                            for label in ("before", "after", "fixed"))
    # Each scan of the run records the cluster and the equivalent command line.
    provenance = json.loads(before.read_text())["provenance"]
    assert provenance["cluster"]["id"] and provenance["command_line"][:2] == ["driftscan", "scan"]
    assert provenance["command_line"][-2] == "-n"

    assert cli.main(["diff", str(before), str(after), "--format", "json"]) == 1
    injected = json.loads(capsys.readouterr().out)
    [web] = [w for w in injected["workloads"] if w["name"] == "web"]
    assert [f["rule"] for f in web["new"]] == ["digest-drift"]
    assert len(web["builds_appeared"]) == 1 and web["builds_disappeared"] == []
    assert web["old_score"] < web["new_score"]
    # Only new findings gate: floating-tag was there before the injection.
    assert {f["rule"] for f in web["persisting"]} >= {"floating-tag"}

    assert cli.main(["diff", str(after), str(fixed), "--format", "json", "--fail-on",
                     "info"]) == 0
    repaired = json.loads(capsys.readouterr().out)
    [web] = [w for w in repaired["workloads"] if w["name"] == "web"]
    assert "digest-drift" in {f["rule"] for f in web["resolved"]}
    assert "floating-tag" in {f["rule"] for f in web["resolved"]}  # pinned now
    assert web["new"] == [] and len(web["builds_disappeared"]) == 1
    assert web["new_score"] < web["old_score"]

    page = tmp_path / "history.html"
    assert cli.main(["report", "--history", str(out), "-o", str(page)]) == 0
    assert "3 report(s)" in capsys.readouterr().out
    text = page.read_text()
    assert "journal.json" in text  # listed as skipped, not read as a report
    dom = htmltree.parse(text)
    [row] = dom.by_id("longest-table").find("tbody").find_all("tr")
    assert row.find("td").words.endswith("/web") and "resolved" in row.words
    assert dom.by_id("mttr").words != "n/a"  # digest-drift and floating-tag resolved


def test_history_over_library_scenarios_in_chromium(
        cluster: base.ClusterHandle, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    exe = chromium.binary()
    assert exe is not None, "Chromium is not installed: apt-get install -y chromium"
    out = tmp_path / "out"
    code = cli.main(["scenario", "run", "retag-scale-up", "pinned-control", "stuck-rollout",
                     "--out", str(out), *scenario_files.existing_args(cluster)])
    printed = capsys.readouterr()
    assert code == 0, printed.out + printed.err
    reports = sorted((out / "scans").glob("*.json"))
    assert len(reports) >= 4
    page = tmp_path / "history.html"
    assert cli.main(["report", "--history", str(out), "-o", str(page)]) == 0
    with chromium.DevTools(exe) as browser:
        browser.open(page.as_uri())
        rows = browser.evaluate("document.querySelectorAll('#report-table tbody tr').length")
        assert rows == len(reports)
        bars = browser.evaluate("document.querySelectorAll('svg.history rect').length")
        assert bars >= 2
        width = browser.evaluate("document.querySelector('svg.history')"
                                 ".getBoundingClientRect().width")
        assert width > 50
        assert browser.methods("Runtime.exceptionThrown") == []
        assert [p for p in browser.methods("Log.entryAdded")
                if p["entry"]["level"] == "error"] == []
        requests = [p["request"]["url"] for p in browser.methods("Network.requestWillBeSent")]
        assert requests == [page.as_uri()]
        shot = browser.screenshot()
    (tmp_path / "history.png").write_bytes(shot)
    _, _, pixels = chromium.png_pixels(shot)
    assert len({row[i:i + 3] for row in pixels[::20] for i in range(0, len(row), 60)}) > 20
