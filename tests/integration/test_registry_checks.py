"""Registry-aware checks against the kwok cluster's real registry and control plane.

* ``scan --registry-check``: after a re-push, a workload whose pods all run the old build
  gets ``latent-drift`` (single-arch and multi-arch index tags); an unreachable registry is
  a gap.
* ``pin --write`` on the sample manifests produces files that, applied, run exactly the
  digests it resolved; ``pin --diff`` on the pinned tree prints nothing; comments survive.
* ``pin --from-cluster`` pins to the digest the pods run and refuses a drifted workload.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, utils

from scanner import cli
from scanner.clusters import base
from scanner.oci import synthetic
from scanner.sources import manifests
from tests.integration import kubeutil as ku

pytestmark = pytest.mark.cluster

SHOP = Path(__file__).resolve().parents[1] / "fixtures" / "manifests" / "shop"
PLACEHOLDER = "registry.invalid:5000/shop/"
SHOP_IMAGES = ("migrate:1.0", "web:1.0", "sidecar:latest", "report:2.1", "cache:7.2",
               "agent:0.9", "toolbox:latest")


def _scan(capsys: pytest.CaptureFixture[str], kubeconfig: Path, *args: str) -> tuple[int, Any]:
    code = cli.main(["scan", "--kubeconfig", str(kubeconfig), "--format", "json",
                     "--registry-check", *args])
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, json.loads(out.out)


def _findings(report: Any, name: str, rule: str) -> list[Any]:
    [w] = [w for w in report["workloads"] if w["name"] == name]
    return [f for f in w["findings"] if f["rule"] == rule]


def test_repushed_tag_on_a_uniform_workload_is_latent_drift(
        cluster: base.ClusterHandle, kube: client.ApiClient, namespace: str, registry: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    repo = f"{namespace}/orders"
    d1 = synthetic.push_image(registry, repo, "1.0", synthetic.build_image(f"{namespace}-orders-1"))
    apps = client.AppsV1Api(kube)
    apps.create_namespaced_deployment(namespace, ku.deployment(
        "orders", f"{registry}/{repo}:1.0", 3))
    ku.wait_for("3 pods", ku.running_with_image_ids(kube, namespace, "app=orders", 3))

    _, before = _scan(capsys, cluster.kubeconfig, "-n", namespace)
    assert _findings(before, "orders", "latent-drift") == []
    assert before["gaps"] == []

    d2 = synthetic.push_image(registry, repo, "1.0", synthetic.build_image(f"{namespace}-orders-2"))
    assert d2 != d1
    _, after = _scan(capsys, cluster.kubeconfig, "-n", namespace)
    [latent] = _findings(after, "orders", "latent-drift")
    assert latent["observed"] == [d1]
    assert latent["evidence"]["registry_digest"] == d2
    assert latent["evidence"]["registry_digest_is_index"] is False
    assert latent["evidence"]["running_digests"] == {d1: 3}
    assert latent["pin"]["digest"] == d1  # keep what runs, or roll d2 out on purpose
    assert _findings(after, "orders", "digest-drift") == []  # nothing has drifted yet
    assert after["gaps"] == []


def test_multi_arch_tags_compare_index_digests(
        cluster: base.ClusterHandle, kube: client.ApiClient, namespace: str, registry: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    repo = f"{namespace}/gateway"
    platforms = [synthetic.Platform("linux", "amd64"), synthetic.Platform("linux", "arm64")]
    index1 = synthetic.build_index(f"{namespace}-gw-1", platforms)
    i1 = synthetic.push_image(registry, repo, "2.0", index1)
    apps = client.AppsV1Api(kube)
    apps.create_namespaced_deployment(namespace, ku.deployment(
        "gateway", f"{registry}/{repo}:2.0", 2))
    pods = ku.wait_for("2 pods", ku.running_with_image_ids(kube, namespace, "app=gateway", 2))
    assert {ku.digest_of_image_id(i) for p in pods for i in ku.image_ids(p)} == {i1}

    _, same = _scan(capsys, cluster.kubeconfig, "-n", namespace)
    assert _findings(same, "gateway", "latent-drift") == []  # index digest == index digest

    i2 = synthetic.push_image(registry, repo, "2.0",
                              synthetic.build_index(f"{namespace}-gw-2", platforms))
    _, moved = _scan(capsys, cluster.kubeconfig, "-n", namespace)
    [latent] = _findings(moved, "gateway", "latent-drift")
    assert latent["evidence"]["registry_digest"] == i2
    assert latent["evidence"]["registry_digest_is_index"] is True
    assert latent["observed"] == [i1]
    # Neither digest is a platform manifest of the other index.
    images = synthetic.build_index(f"{namespace}-gw-2", platforms).images
    assert i1 not in {img.digest for img in images}


def test_unreachable_registry_is_a_gap_not_a_crash(
        cluster: base.ClusterHandle, kube: client.ApiClient, namespace: str, registry: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    repo = f"{namespace}/ok"
    synthetic.push_image(registry, repo, "1.0", synthetic.build_image(f"{namespace}-ok"))
    apps = client.AppsV1Api(kube)
    apps.create_namespaced_deployment(namespace, ku.deployment("ok", f"{registry}/{repo}:1.0", 1))
    apps.create_namespaced_deployment(namespace, ku.deployment(
        "lost", "127.0.0.1:9/gone/app:1.0", 1))
    apps.create_namespaced_deployment(namespace, ku.deployment(
        "missing", f"{registry}/{namespace}/never-pushed:1.0", 1))
    ku.wait_for("ok running", ku.running_with_image_ids(kube, namespace, "app=ok", 1))
    code, report = _scan(capsys, cluster.kubeconfig, "-n", namespace)
    reasons = {g["reason"].split(" ", 1)[0]: g for g in report["gaps"]}
    assert set(reasons) == {"127.0.0.1:9/gone/app:1.0",
                            f"{registry}/{namespace}/never-pushed:1.0"}, report["gaps"]
    assert "(unreachable)" in reasons["127.0.0.1:9/gone/app:1.0"]["reason"]
    assert "(not-found)" in reasons[f"{registry}/{namespace}/never-pushed:1.0"]["reason"]
    assert all(g["kind"] == "registry" and g["namespace"] == namespace for g in report["gaps"])
    assert report["summary"]["complete"] is False


# --- pin ---------------------------------------------------------------------------------------


def _shop(tmp_path: Path, registry: str, namespace: str) -> Path:
    target = tmp_path / "shop"
    shutil.copytree(SHOP, target)
    for path in target.glob("*.yaml"):
        path.write_text(path.read_text().replace(PLACEHOLDER, f"{registry}/{namespace}/"))
    return target


def _apply(kube: client.ApiClient, namespace: str, folder: Path) -> None:
    for path in sorted(folder.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                utils.create_from_dict(kube, doc, namespace=namespace)


def _pinned_digests(folder: Path) -> dict[tuple[str, str], str]:
    """(workload name, container) → digest written in the pinned manifests."""
    found = {}
    for file in manifests.load([str(folder)]):
        for obj in file.objects:
            for field in obj.images:
                assert field.ref.digest is not None, f"{field.image} is not pinned"
                found[(obj.name, field.container)] = field.ref.digest
    return found


def _owner_name(pod: Any) -> str:
    owners = pod.metadata.owner_references or []
    if not owners:
        return str(pod.metadata.name)
    name = str(owners[0].name)
    if owners[0].kind == "ReplicaSet":
        return name.rsplit("-", 1)[0]
    return name


def test_pin_write_then_apply_runs_exactly_the_resolved_digests(
        cluster: base.ClusterHandle, kube: client.ApiClient, namespace: str, registry: str,
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pushed = {}
    for image in SHOP_IMAGES:
        name, tag = image.split(":")
        pushed[name] = synthetic.push_image(registry, f"{namespace}/{name}", tag,
                                      synthetic.build_image(f"{namespace}-{name}-1"))
    shop = _shop(tmp_path, registry, namespace)
    comments_before = [line for p in sorted(shop.glob("*.yaml"))
                       for line in p.read_text().splitlines() if "#" in line]

    assert cli.main(["pin", str(shop), "--write"]) == 0
    capsys.readouterr()
    pinned = _pinned_digests(shop)
    assert pinned[("web", "web")] == pushed["web"]
    assert pinned[("web", "migrate")] == pushed["migrate"]
    assert pinned[("web", "sidecar")] == pushed["sidecar"]
    assert pinned[("cache", "cache")] == pushed["cache"]
    comments_after = [line.split("#", 1)[1] for p in sorted(shop.glob("*.yaml"))
                      for line in p.read_text().splitlines() if "#" in line]
    assert comments_after == [line.split("#", 1)[1] for line in comments_before]

    # The tags move on; the pinned manifests must not follow them.
    for image in SHOP_IMAGES:
        name, tag = image.split(":")
        synthetic.push_image(registry, f"{namespace}/{name}", tag,
                       synthetic.build_image(f"{namespace}-{name}-2"))

    _apply(kube, namespace, shop)
    ku.wait_for("workloads ready", lambda: _ready(kube, namespace), timeout=120)
    [agent] = client.AppsV1Api(kube).list_namespaced_daemon_set(namespace).items
    nodes = agent.status.desired_number_scheduled
    # web: 2 replicas; cache: 1; agent: one per node; backfill: 1; debug: 1.
    expected = 2 + 1 + nodes + 1 + 1
    pods = ku.wait_for(f"{expected} pods running (the Job's may have completed)",
                       _started_with_image_ids(kube, namespace, expected), timeout=120)
    seen = 0
    for pod in pods:
        owner = _owner_name(pod)
        statuses = [*(pod.status.init_container_statuses or []),
                    *(pod.status.container_statuses or [])]
        for status in statuses:
            assert ku.digest_of_image_id(status.image_id) == pinned[(owner, status.name)], (
                owner, status.name)
            seen += 1
    assert seen == 2 * 3 + 1 + nodes + 1 + 1

    # Already pinned: --diff prints nothing and exits 0.
    assert cli.main(["pin", str(shop), "--diff"]) == 0
    assert capsys.readouterr().out == ""
    # And the static check is clean.
    assert cli.main(["manifests", str(shop), "--fail-on", "info", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["findings"] == []


def _manifest(tmp_path: Path, namespace: str, image: str) -> Path:
    path = tmp_path / "orders.yaml"
    doc = ku.deployment("orders", image, 1, policy="Always")
    doc["metadata"]["namespace"] = namespace
    path.write_text("# orders, deployed by hand\n" + yaml.safe_dump(doc, sort_keys=False))
    return path


def test_pin_from_cluster_uses_the_running_digest_and_refuses_drift(
        cluster: base.ClusterHandle, kube: client.ApiClient, namespace: str, registry: str,
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = f"{namespace}/orders"
    image = f"{registry}/{repo}:1.0"
    d1 = synthetic.push_image(registry, repo, "1.0", synthetic.build_image(f"{namespace}-fc-1"))
    apps = client.AppsV1Api(kube)
    apps.create_namespaced_deployment(namespace, ku.deployment("orders", image, 2,
                                                               policy="Always"))
    ku.wait_for("2 pods", ku.running_with_image_ids(kube, namespace, "app=orders", 2))
    # The registry moves on; --from-cluster still pins what runs.
    d2 = synthetic.push_image(registry, repo, "1.0", synthetic.build_image(f"{namespace}-fc-2"))
    path = _manifest(tmp_path, namespace, image)
    original = path.read_text()

    kubeconfig = str(cluster.kubeconfig)
    assert cli.main(["pin", str(path), "--from-cluster", "--kubeconfig", kubeconfig,
                     "--diff"]) == 0
    diff = capsys.readouterr().out
    added = [line for line in diff.splitlines() if line.startswith("+") and "image:" in line]
    assert len(added) == 1 and added[0].endswith(f"image: {image}@{d1}")
    assert d2 not in diff
    assert path.read_text() == original

    # Scale up: new pods pull the moved tag, the workload now runs two builds.
    apps.patch_namespaced_deployment_scale("orders", namespace, {"spec": {"replicas": 4}})
    ku.wait_for("4 pods", ku.running_with_image_ids(kube, namespace, "app=orders", 4))
    assert cli.main(["pin", str(path), "--from-cluster", "--kubeconfig", kubeconfig,
                     "--write"]) == 2
    err = capsys.readouterr().err
    assert f"Deployment/{namespace}/orders container app" in err
    assert f"{d1} on 2 pods" in err and f"{d2} on 2 pods" in err
    assert path.read_text() == original  # nothing written


APPS = Path(__file__).resolve().parents[2] / "scanner" / "library" / "apps"
APP_FILES = ("online-boutique/cartservice.yaml", "online-boutique/checkoutservice.yaml",
             "online-boutique/emailservice-envoy.yaml",
             "online-boutique/productcatalogservice.yaml",
             "online-boutique/recommendationservice.yaml", "logging/fluent-bit.yaml",
             "bank-of-anthos/frontend.yaml", "bank-of-anthos/ledger-db.yaml",
             "bank-of-anthos/ledgerwriter.yaml")
_PINNED_PLACEHOLDER = re.compile(
    r"\{\{ registry \}\}/\{\{ namespace \}\}/([^:\"]+):([^@\"]+)@\{\{ digest:([^ ]+) \}\}")


def _comments(folder: Path) -> list[str]:
    return [line.split("#", 1)[1] for p in sorted(folder.rglob("*.yaml"))
            for line in p.read_text().splitlines() if "#" in line]


def _started_with_image_ids(kube: client.ApiClient, namespace: str, count: int):  # type: ignore[no-untyped-def]
    """Probe: ``count`` pods, each Running — or Succeeded, for a Job's pod, which KWOK
    completes about a second after it starts — with an imageID on every container."""
    def probe():  # type: ignore[no-untyped-def]
        live = ku.pods(kube, namespace, "")
        ok = [p for p in live
              if (p.status.phase == "Running"
                  or (p.status.phase == "Succeeded" and _owner_kind(p) == "Job"))
              and ku.image_ids(p) and all(ku.image_ids(p))]
        return live if len(live) == count and len(ok) == count else None
    return probe


def _owner_kind(pod) -> str:  # type: ignore[no-untyped-def]
    refs = pod.metadata.owner_references or []
    return refs[0].kind if refs else ""


def _ready(kube: client.ApiClient, namespace: str) -> bool:
    apps = client.AppsV1Api(kube)
    deployments = apps.list_namespaced_deployment(namespace).items
    sets = apps.list_namespaced_stateful_set(namespace).items
    daemons = apps.list_namespaced_daemon_set(namespace).items
    return (all((d.status.ready_replicas or 0) == d.spec.replicas for d in deployments)
            and all((s.status.ready_replicas or 0) == s.spec.replicas for s in sets)
            and all(0 < (d.status.desired_number_scheduled or 0)
                    == (d.status.number_ready or 0) for d in daemons))


@pytest.mark.skipif(not APPS.is_dir(), reason="scanner/library/apps is not in this tree")
def test_pin_write_on_the_scenario_apps_runs_the_resolved_digests(
        cluster: base.ClusterHandle, kube: client.ApiClient, namespace: str, registry: str,
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from scanner.scenarios import definitions

    builds: dict[str, str] = {}
    texts = {name: (APPS / name).read_text() for name in APP_FILES}
    for text in texts.values():
        for repo, tag, build in _PINNED_PLACEHOLDER.findall(text):
            builds[build] = synthetic.push_image(registry, f"{namespace}/{repo}", tag,
                                           synthetic.build_image(f"{namespace}-{build}"))
    values = definitions.Values(registry=registry, namespace=namespace, digests=builds)
    tree = tmp_path / "apps"
    for name, text in texts.items():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_text(definitions.substitute(text, values))
    pushed: dict[str, str] = {}
    for file in manifests.load([str(tree)]):
        for obj in file.objects:
            for field in obj.images:
                tag = field.ref.effective_tag
                if field.ref.is_pinned or tag is None:
                    continue
                key = f"{field.ref.repository}:{tag}"
                if key not in pushed:
                    pushed[key] = synthetic.push_image(registry, field.ref.repository, tag,
                                                 synthetic.build_image(f"{key}-1"))
    assert len(pushed) >= 7
    comments = _comments(tree)

    assert cli.main(["pin", str(tree), "--write"]) == 0
    capsys.readouterr()
    assert _comments(tree) == comments
    pinned = _pinned_digests(tree)
    assert pinned[("emailservice", "envoy")] == pushed[f"{namespace}/envoyproxy/envoy:v1.31-latest"]
    assert pinned[("emailservice", "server")] == builds["email-v0.10.2"]  # was pinned already
    assert pinned[("fluent-bit", "fluent-bit")] == pushed[f"{namespace}/fluent/fluent-bit:3.1.9"]

    for key in pushed:  # every tag moves on after pinning
        repository, tag = key.rsplit(":", 1)
        synthetic.push_image(registry, repository, tag, synthetic.build_image(f"{key}-2"))
    for path in sorted(tree.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                utils.create_from_dict(kube, doc, namespace=namespace)
    ku.wait_for("every workload ready", lambda: _ready(kube, namespace), timeout=180)
    checked = 0
    for pod in ku.pods(kube, namespace):
        owner = _owner_name(pod)
        for status in [*(pod.status.init_container_statuses or []),
                       *(pod.status.container_statuses or [])]:
            assert ku.digest_of_image_id(status.image_id) == pinned[(owner, status.name)], (
                pod.metadata.name, status.name)
            checked += 1
    assert checked >= 40

    assert cli.main(["pin", str(tree), "--diff"]) == 0
    assert capsys.readouterr().out == ""
