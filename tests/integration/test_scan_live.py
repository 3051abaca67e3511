"""`driftscan scan` against the real kube-apiserver of the kwok cluster.

Drift is created for real — a new build pushed under the same tag, real rollouts carried
out by the real controllers — and the scan's JSON must report it. A ServiceAccount
bound to a namespace-only Role proves that forbidden reads become gaps, not a crash and
not a clean-looking report.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from scanner import cli
from scanner.clusters import base
from scanner.oci import synthetic
from tests.integration import kubeutil as ku

pytestmark = pytest.mark.cluster


def _scan(capsys: pytest.CaptureFixture[str], kubeconfig: Path, *args: str) -> tuple[int, Any]:
    code = cli.main(["scan", "--kubeconfig", str(kubeconfig), "--format", "json", *args])
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, json.loads(out.out)


def _workload(report: Any, kind: str, name: str) -> Any:
    found = [w for w in report["workloads"] if w["kind"] == kind and w["name"] == name]
    assert found, f"{kind}/{name} not in report: {[w['name'] for w in report['workloads']]}"
    return found[0]


def _rules(workload: Any) -> dict[str, str]:
    return {f["rule"]: f["severity"] for f in workload["findings"]}


def _pod_counts(workload: Any, container: str = "app") -> Counter[str]:
    [c] = [c for c in workload["containers"] if c["name"] == container]
    return Counter({d["digest"]: len(d["pods"]) for d in c["digests"]})


def test_repushed_tag_and_scale_up_is_digest_drift(
        cluster: base.ClusterHandle, kube: client.ApiClient, namespace: str, registry: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    repo = f"{namespace}/userservice"
    d1 = synthetic.push_image(registry, repo, "latest", synthetic.build_image(f"{namespace}-1"))
    apps = client.AppsV1Api(kube)
    apps.create_namespaced_deployment(namespace, ku.deployment(
        "userservice", f"{registry}/{repo}:latest", 6))  # :latest defaults to Always
    ku.wait_for("6 pods", ku.running_with_image_ids(kube, namespace, "app=userservice", 6))

    code, clean = _scan(capsys, cluster.kubeconfig, "-n", namespace)
    w = _workload(clean, "Deployment", "userservice")
    assert "digest-drift" not in _rules(w)
    assert _pod_counts(w) == Counter({d1: 6})
    assert "floating-tag" in _rules(w)

    d2 = synthetic.push_image(registry, repo, "latest", synthetic.build_image(f"{namespace}-2"))
    apps.patch_namespaced_deployment_scale("userservice", namespace, {"spec": {"replicas": 9}})
    ku.wait_for("9 pods", ku.running_with_image_ids(kube, namespace, "app=userservice", 9))

    code, report = _scan(capsys, cluster.kubeconfig, "-n", namespace, "--fail-on", "high")
    w = _workload(report, "Deployment", "userservice")
    assert _pod_counts(w) == Counter({d1: 6, d2: 3})
    rules = _rules(w)
    assert rules["digest-drift"] in ("high", "critical")
    assert code == 1  # findings at or above --fail-on
    [c] = w["containers"]
    assert len({r for d in c["digests"] for r in d["revisions"]}) == 1  # one ReplicaSet
    assert report["gaps"] == []


def test_stalled_then_paused_rollout(
        cluster: base.ClusterHandle, kube: client.ApiClient, namespace: str, registry: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    repo = f"{namespace}/checkout"
    d1 = synthetic.push_image(registry, repo, "v1", synthetic.build_image(f"{namespace}-v1"))
    apps = client.AppsV1Api(kube)
    apps.create_namespaced_deployment(namespace, ku.deployment(
        "checkout", f"{registry}/{repo}:v1", 4, max_surge=1, max_unavailable=0))
    ku.wait_for("4 v1 pods", ku.running_with_image_ids(kube, namespace, "app=checkout", 4))
    # v2 is not pushed yet: the new ReplicaSet's pod waits in ErrImagePull.
    apps.patch_namespaced_deployment("checkout", namespace, {"spec": {"template": {"spec": {
        "containers": [{"name": "app", "image": f"{registry}/{repo}:v2"}]}}}})

    def stuck() -> bool:
        pods = ku.pods(kube, namespace, "app=checkout")
        waiting = [p for p in pods if any(
            s.state.waiting and s.state.waiting.reason == "ErrImagePull"
            for s in p.status.container_statuses or [])]
        return len(waiting) == 1 and len(pods) == 5

    ku.wait_for("one pod in ErrImagePull", stuck)
    _, report = _scan(capsys, cluster.kubeconfig, "-n", namespace)
    w = _workload(report, "Deployment", "checkout")
    assert "stalled-rollout" in _rules(w)
    assert _pod_counts(w)[d1] == 4

    apps.patch_namespaced_deployment("checkout", namespace, {"spec": {"paused": True}})
    d2 = synthetic.push_image(registry, repo, "v2", synthetic.build_image(f"{namespace}-v2"))
    # The emulator retries the failed pull, as kubelet's back-off does; the rollout stays
    # paused with 4 old pods and 1 new one.
    ku.wait_for("5 running pods", ku.running_with_image_ids(kube, namespace, "app=checkout", 5),
                timeout=60)
    _, report = _scan(capsys, cluster.kubeconfig, "-n", namespace)
    w = _workload(report, "Deployment", "checkout")
    rules = _rules(w)
    assert {"paused-rollout", "rollout-version-mix"} <= set(rules)
    assert "stalled-rollout" not in rules
    assert _pod_counts(w) == Counter({d1: 4, d2: 1})


def _token_kubeconfig(cluster: base.ClusterHandle, kube: client.ApiClient, namespace: str,
                      path: Path) -> Path:
    core, rbac = client.CoreV1Api(kube), client.RbacAuthorizationV1Api(kube)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "scanner"}})
    rbac.create_namespaced_role(namespace, {
        "metadata": {"name": "scanner"},
        "rules": [
            {"apiGroups": [""], "resources": ["pods", "services", "replicationcontrollers"],
             "verbs": ["get", "list"]},
            {"apiGroups": ["apps"], "resources": ["deployments", "replicasets",
                                                  "statefulsets", "daemonsets",
                                                  "controllerrevisions"],
             "verbs": ["get", "list"]},
            {"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"],
             "verbs": ["get", "list"]}]})
    rbac.create_namespaced_role_binding(namespace, {
        "metadata": {"name": "scanner"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "scanner"},
        "subjects": [{"kind": "ServiceAccount", "name": "scanner", "namespace": namespace}]})
    token = core.create_namespaced_service_account_token(
        "scanner", namespace, {"spec": {"expirationSeconds": 3600}}).status.token
    server, ca = kube.configuration.host, Path(kube.configuration.ssl_ca_cert).read_bytes()
    config = {"apiVersion": "v1", "kind": "Config", "current-context": "sa",
              "clusters": [{"name": "c", "cluster": {
                  "server": server,
                  "certificate-authority-data": base64.b64encode(ca).decode()}}],
              "users": [{"name": "sa", "user": {"token": token}}],
              "contexts": [{"name": "sa", "context": {"cluster": "c", "user": "sa",
                                                      "namespace": namespace}}]}
    path.write_text(json.dumps(config))
    return path


def test_namespace_only_role_scans_what_it_may_and_lists_gaps(
        cluster: base.ClusterHandle, kube: client.ApiClient, namespace: str, registry: str,
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = f"{namespace}/api"
    d1 = synthetic.push_image(registry, repo, "latest", synthetic.build_image(f"{namespace}-r1"))
    apps = client.AppsV1Api(kube)
    apps.create_namespaced_deployment(namespace, ku.deployment(
        "api", f"{registry}/{repo}:latest", 3))
    ku.wait_for("3 pods", ku.running_with_image_ids(kube, namespace, "app=api", 3))
    d2 = synthetic.push_image(registry, repo, "latest", synthetic.build_image(f"{namespace}-r2"))
    apps.patch_namespaced_deployment_scale("api", namespace, {"spec": {"replicas": 5}})
    ku.wait_for("5 pods", ku.running_with_image_ids(kube, namespace, "app=api", 5))

    kubeconfig = _token_kubeconfig(cluster, kube, namespace, tmp_path / "sa.kubeconfig")
    code, report = _scan(capsys, kubeconfig, "-n", namespace, "-n", "kube-system",
                         "--fail-on", "high")
    w = _workload(report, "Deployment", "api")
    assert _pod_counts(w) == Counter({d1: 3, d2: 2})
    assert "digest-drift" in _rules(w)
    gaps = report["gaps"]
    assert any(g.get("namespace") == "kube-system" for g in gaps), gaps
    assert any(g["kind"].lower().startswith("node") for g in gaps), gaps  # cluster-scoped
    assert all(g.get("namespace") != namespace for g in gaps), gaps
    assert report["summary"]["complete"] is False
    assert code == 1  # gaps do not hide findings: the exit code still reflects them

    # The table says the scan is partial.
    assert cli.main(["scan", "--kubeconfig", str(kubeconfig), "-n", namespace,
                     "-n", "kube-system"]) == 1
    table = capsys.readouterr().out
    assert "kube-system" in table and "gap" in table.lower()


def test_replication_controller_drift_is_found_live(
        cluster: base.ClusterHandle, kube: client.ApiClient, namespace: str, registry: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A ReplicationController (core/v1) is listed and its pods are grouped under it; its
    explicit `Always` on a versioned tag is the pull-policy risk the tag rules do not say."""
    repo = f"{namespace}/guestbook"
    d1 = synthetic.push_image(registry, repo, "v3", synthetic.build_image(f"{namespace}-rc1"))
    rc = ku.deployment("guestbook", f"{registry}/{repo}:v3", 3, policy="Always")
    rc["apiVersion"], rc["kind"] = "v1", "ReplicationController"
    rc["spec"] = {"replicas": 3, "selector": {"app": "guestbook"},
                  "template": rc["spec"]["template"]}
    core = client.CoreV1Api(kube)
    core.create_namespaced_replication_controller(namespace, rc)
    ku.wait_for("3 pods", ku.running_with_image_ids(kube, namespace, "app=guestbook", 3))
    d2 = synthetic.push_image(registry, repo, "v3", synthetic.build_image(f"{namespace}-rc2"))
    core.patch_namespaced_replication_controller_scale(
        "guestbook", namespace, {"spec": {"replicas": 5}})
    ku.wait_for("5 pods", ku.running_with_image_ids(kube, namespace, "app=guestbook", 5))

    code, report = _scan(capsys, cluster.kubeconfig, "-n", namespace, "--fail-on", "high")
    w = _workload(report, "ReplicationController", "guestbook")
    assert _pod_counts(w) == Counter({d1: 3, d2: 2})
    rules = _rules(w)
    assert rules["digest-drift"] in ("high", "critical")
    assert rules["mutable-tag"] == "low" and rules["pull-policy-divergence"] == "low"
    assert code == 1 and report["gaps"] == []
