"""Fleet scans against the kwok cluster's real apiserver: two kubeconfig contexts that
reach it under different names are scanned in parallel into one report, and a third
context whose apiserver is dead is a gap of its own (exit code 3), never silence.
"""

from __future__ import annotations

import json
import socket
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from scanner import cli, exits
from scanner.clusters import base
from scanner.oci import synthetic
from tests.integration import kubeutil as ku

pytestmark = pytest.mark.cluster


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _fleet_kubeconfig(cluster: base.ClusterHandle, namespace: str, path: Path) -> Path:
    """Contexts east and west on the kwok cluster (west with another default namespace),
    and dead on a loopback port nothing listens on."""
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    [real] = admin["clusters"]
    [user] = admin["users"]
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "east",
        "clusters": [real, {"name": "gone", "cluster": {
            "server": f"https://127.0.0.1:{_free_port()}",
            "certificate-authority-data": real["cluster"]["certificate-authority-data"]}}],
        "users": [user],
        "contexts": [
            {"name": "east", "context": {"cluster": real["name"], "user": user["name"],
                                         "namespace": namespace}},
            {"name": "west", "context": {"cluster": real["name"], "user": user["name"],
                                         "namespace": "default"}},
            {"name": "dead", "context": {"cluster": "gone", "user": user["name"]}},
        ],
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def _scan(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any, str]:
    code = cli.main(["scan", "--format", "json", "--request-timeout", "5s", *args])
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, json.loads(out.out), out.err


def test_two_contexts_scan_in_parallel_into_one_report_and_a_dead_one_is_a_gap(
        cluster: base.ClusterHandle, kube: client.ApiClient, namespace: str, registry: str,
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = f"{namespace}/cart"
    d1 = synthetic.push_image(registry, repo, "latest", synthetic.build_image(f"{namespace}-1"))
    apps = client.AppsV1Api(kube)
    apps.create_namespaced_deployment(namespace, ku.deployment(
        "cart", f"{registry}/{repo}:latest", 2))
    ku.wait_for("2 pods", ku.running_with_image_ids(kube, namespace, "app=cart", 2))
    d2 = synthetic.push_image(registry, repo, "latest", synthetic.build_image(f"{namespace}-2"))
    apps.patch_namespaced_deployment_scale("cart", namespace, {"spec": {"replicas": 3}})
    ku.wait_for("3 pods", ku.running_with_image_ids(kube, namespace, "app=cart", 3))
    kubeconfig = str(_fleet_kubeconfig(cluster, namespace, tmp_path / "fleet.kubeconfig"))

    code, report, err = _scan(capsys, "--kubeconfig", kubeconfig, "--context", "east",
                              "--context", "west", "-n", namespace)
    assert "scanning 2 cluster(s) in parallel: east, west" in err
    assert code == exits.FINDINGS
    assert [(c["name"], c["reachable"], c["complete"]) for c in report["clusters"]] == [
        ("east", True, True), ("west", True, True)]
    server = yaml.safe_load(cluster.kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    assert {c["server"] for c in report["clusters"]} == {server}
    # Each cluster's provenance says what it read.
    assert all(c["provenance"]["scope"]["namespaces_requested"] == [namespace]
               for c in report["clusters"])
    carts = [w for w in report["workloads"] if w["name"] == "cart"]
    assert sorted(w["cluster"] for w in carts) == ["east", "west"]
    for w in carts:
        [container] = w["containers"]
        assert Counter({d["digest"]: len(d["pods"]) for d in container["digests"]}) == \
            Counter({d1: 2, d2: 1})
        assert "digest-drift" in {f["rule"] for f in w["findings"]}
        assert all(f["cluster"] == w["cluster"] for f in w["findings"])
    assert report["gaps"] == [] and report["summary"]["complete"] is True
    assert report["summary"]["workloads"] == len(report["workloads"])
    assert report["summary"]["pods"] == 2 * 3

    # The dead context: a gap of its own; the reachable cluster is still fully reported.
    code, report, _ = _scan(capsys, "--kubeconfig", kubeconfig, "--context", "east",
                            "--context", "dead", "-n", namespace)
    assert code == exits.FINDINGS  # findings at --fail-on win over the gap
    [gap] = report["gaps"]
    assert gap["cluster"] == "dead" and gap["kind"] == "Cluster"
    assert "127.0.0.1" in gap["reason"]
    assert [(c["name"], c["reachable"]) for c in report["clusters"]] == [("east", True),
                                                                          ("dead", False)]
    assert [w["cluster"] for w in report["workloads"] if w["name"] == "cart"] == ["east"]

    # Nothing at --fail-on: the gap makes the exit code 3, and the table says so.
    code, report, _ = _scan(capsys, "--kubeconfig", kubeconfig, "--all-contexts",
                            "-n", "kube-public")
    assert code == exits.INCOMPLETE
    assert [c["name"] for c in report["clusters"]] == ["east", "west", "dead"]
    assert cli.main(["scan", "--kubeconfig", kubeconfig, "--all-contexts", "-n", namespace,
                     "--request-timeout", "5s"]) == exits.FINDINGS
    table = capsys.readouterr().out
    assert "Scanned 3 clusters (east, west, dead (unreachable))" in table
    assert "INCOMPLETE" in table
    header = next(line for line in table.splitlines() if "Score" in line and "Grade" in line)
    assert header.split()[:3] == ["Score", "Grade", "Cluster"]
