"""The kwok test cluster behaves like a real one: real controllers, real registry digests,
and image pulls decided as kubelet + containerd decide them.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from kubernetes import client

from scanner.oci import client as oci_client
from scanner.oci import credentials, failures, synthetic
from tests.integration import kubeutil as ku

pytestmark = pytest.mark.cluster


def _push(reg: str, repo: str, tag: str, build: str) -> str:
    return synthetic.push_image(reg, repo, tag, synthetic.build_image(build))


def _create(api: client.ApiClient, ns: str, manifest: dict[str, Any]) -> None:
    client.AppsV1Api(api).create_namespaced_deployment(ns, manifest)


def _scale(api: client.ApiClient, ns: str, name: str, replicas: int) -> None:
    client.AppsV1Api(api).patch_namespaced_deployment_scale(
        name, ns, {"spec": {"replicas": replicas}})


def _digests(pods: list[Any]) -> Counter[str]:
    return Counter(ku.digest_of_image_id(i) for p in pods for i in ku.image_ids(p))


def test_deployment_runs_the_registry_digest_on_three_nodes(
        kube: client.ApiClient, namespace: str, registry: str) -> None:
    digest = _push(registry, f"{namespace}/app", "v1", f"{namespace}-v1")
    authed = oci_client.client_for(registry, docker_config=credentials.load_docker_config())
    assert digest == authed.resolve(f"{namespace}/app", "v1")
    _create(kube, namespace, ku.deployment("app", f"{registry}/{namespace}/app:v1", 6))

    pods = ku.wait_for("6 Running pods with imageIDs",
                       ku.running_with_image_ids(kube, namespace, "app=app", 6))

    assert {i for p in pods for i in ku.image_ids(p)} == {f"{registry}/{namespace}/app@{digest}"}
    assert len({p.spec.node_name for p in pods}) >= 2  # placed by the real scheduler
    assert all(c.ready for p in pods for c in p.status.container_statuses)


def test_retag_then_scale_up_with_always_pulls_the_new_build(
        kube: client.ApiClient, namespace: str, registry: str) -> None:
    repo = f"{namespace}/svc"
    old = _push(registry, repo, "stable", f"{namespace}-a1")
    _create(kube, namespace, ku.deployment("svc", f"{registry}/{repo}:stable", 6,
                                           policy="Always"))
    first = ku.wait_for("6 pods", ku.running_with_image_ids(kube, namespace, "app=svc", 6))
    assert _digests(first) == Counter({old: 6})

    new = _push(registry, repo, "stable", f"{namespace}-a2")  # the re-pushed tag
    assert new != old
    _scale(kube, namespace, "svc", 9)
    pods = ku.wait_for("9 pods", ku.running_with_image_ids(kube, namespace, "app=svc", 9))
    assert _digests(pods) == Counter({old: 6, new: 3})
    # One ReplicaSet: the drift is inside one revision, invisible to rollout status.
    assert len({p.metadata.labels["pod-template-hash"] for p in pods}) == 1


def test_retag_then_scale_up_with_if_not_present_follows_node_caches(
        kube: client.ApiClient, namespace: str, registry: str) -> None:
    core = client.CoreV1Api(kube)
    repo = f"{namespace}/svc"
    old = _push(registry, repo, "stable", f"{namespace}-i1")
    a, b = sorted(n.metadata.name for n in core.list_node().items)[:2]
    extra = f"kwok-extra-{namespace}"
    manifest = ku.deployment("svc", f"{registry}/{repo}:stable", 6, policy="IfNotPresent")
    manifest["spec"]["template"]["spec"]["affinity"] = {"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In",
                                   "values": [a, b, extra]}]}]}}}
    _create(kube, namespace, manifest)
    ku.wait_for("6 pods", ku.running_with_image_ids(kube, namespace, "app=svc", 6))

    new = _push(registry, repo, "stable", f"{namespace}-i2")
    _scale(kube, namespace, "svc", 8)  # lands on a or b, which hold the tag already
    pods = ku.wait_for("8 pods", ku.running_with_image_ids(kube, namespace, "app=svc", 8))
    assert _digests(pods) == Counter({old: 8})

    core.create_node(ku.fake_node(extra))
    try:
        ku.wait_for("extra node Ready", lambda: ku.node_ready(kube, extra))
        for n in (a, b):
            core.patch_node(n, {"spec": {"unschedulable": True}})
        _scale(kube, namespace, "svc", 9)  # only the new node can take it
        pods = ku.wait_for("9 pods", ku.running_with_image_ids(kube, namespace, "app=svc", 9))
    finally:
        for n in (a, b):
            core.patch_node(n, {"spec": {"unschedulable": False}})
        core.delete_node(extra)
    placed = [(p.spec.node_name, ku.digest_of_image_id(ku.image_ids(p)[0])) for p in pods]
    for node, digest in placed:  # cached nodes keep the old build; the new node pulls
        assert digest == (new if node == extra else old), (node, digest)
    assert [node for node, _ in placed].count(extra) == 1
    assert _digests(pods) == Counter({old: 8, new: 1})
    assert len({p.metadata.labels["pod-template-hash"] for p in pods}) == 1


def test_if_not_present_new_node_pulls_the_new_build(
        kube: client.ApiClient, namespace: str, registry: str) -> None:
    repo = f"{namespace}/cache"
    old = _push(registry, repo, "v1", f"{namespace}-c1")
    core = client.CoreV1Api(kube)
    nodes = sorted(n.metadata.name for n in core.list_node().items)
    cached, fresh = nodes[0], nodes[-1]
    pod_spec = lambda node: {  # noqa: E731 - tiny local factory
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": f"p-{node}", "labels": {"app": "cache"}},
        "spec": {"nodeName": node, "containers": [
            {"name": "app", "image": f"{registry}/{repo}:v1",
             "imagePullPolicy": "IfNotPresent"}]}}
    core.create_namespaced_pod(namespace, pod_spec(cached))
    ku.wait_for("first pod", ku.running_with_image_ids(kube, namespace, "app=cache", 1))

    new = _push(registry, repo, "v1", f"{namespace}-c2")
    pod2 = pod_spec(cached)
    pod2["metadata"]["name"] = "p-again"
    core.create_namespaced_pod(namespace, pod2)
    core.create_namespaced_pod(namespace, pod_spec(fresh))
    pods = ku.wait_for("three pods", ku.running_with_image_ids(kube, namespace, "app=cache", 3))
    by_pod = {p.metadata.name: ku.digest_of_image_id(ku.image_ids(p)[0]) for p in pods}
    assert by_pod == {f"p-{cached}": old, "p-again": old, f"p-{fresh}": new}


def test_digest_reference_is_used_as_is(kube: client.ApiClient, namespace: str,
                                        registry: str) -> None:
    repo = f"{namespace}/pinned"
    d1 = _push(registry, repo, "v1", f"{namespace}-p1")
    _push(registry, repo, "v1", f"{namespace}-p2")  # the tag moves; the pin must not
    _create(kube, namespace, ku.deployment("pinned", f"{registry}/{repo}:v1@{d1}", 4,
                                           policy="Always"))
    pods = ku.wait_for("4 pinned pods",
                       ku.running_with_image_ids(kube, namespace, "app=pinned", 4))
    assert _digests(pods) == Counter({d1: 4})


def test_missing_tag_waits_in_err_image_pull(kube: client.ApiClient, namespace: str,
                                             registry: str) -> None:
    _create(kube, namespace, ku.deployment("ghost", f"{registry}/{namespace}/ghost:nope", 2))

    def waiting() -> list[Any] | None:
        pods = ku.pods(kube, namespace, "app=ghost")
        states = [s.state.waiting for p in pods for s in (p.status.container_statuses or [])]
        ok = len(pods) == 2 and len(states) == 2 and all(
            w is not None and w.reason == "ErrImagePull" for w in states)
        return pods if ok else None

    pods = ku.wait_for("2 pods in ErrImagePull", waiting)
    for p in pods:
        assert p.status.phase == "Pending"
        assert ku.image_ids(p) == [""]
        assert "not found" in p.status.container_statuses[0].state.waiting.message


def test_rolling_update_is_done_by_the_real_controllers(
        kube: client.ApiClient, namespace: str, registry: str) -> None:
    repo = f"{namespace}/roll"
    d1 = _push(registry, repo, "v1", f"{namespace}-r1")
    d2 = _push(registry, repo, "v2", f"{namespace}-r2")
    apps = client.AppsV1Api(kube)
    _create(kube, namespace, ku.deployment("roll", f"{registry}/{repo}:v1", 4,
                                           max_surge=1, max_unavailable=0))
    ku.wait_for("v1 pods", ku.running_with_image_ids(kube, namespace, "app=roll", 4))
    apps.patch_namespaced_deployment("roll", namespace, {"spec": {"template": {"spec": {
        "containers": [{"name": "app", "image": f"{registry}/{repo}:v2"}]}}}})

    def complete() -> Any:
        d = apps.read_namespaced_deployment("roll", namespace)
        conds = {c.type: c for c in d.status.conditions or []}
        # As `kubectl rollout status`: only a status that has seen the new template counts.
        done = (d.status.observed_generation >= d.metadata.generation
                and d.status.updated_replicas == 4 and d.status.available_replicas == 4
                and d.status.replicas == 4 and "Progressing" in conds
                and conds["Progressing"].reason == "NewReplicaSetAvailable")
        return d if done else None

    d = ku.wait_for("rollout complete", complete, timeout=90)
    conds = {c.type: c for c in d.status.conditions}
    assert conds["Available"].status == "True"
    assert conds["Available"].reason == "MinimumReplicasAvailable"
    assert conds["Progressing"].status == "True"
    assert d.metadata.annotations["deployment.kubernetes.io/revision"] == "2"

    rss = apps.list_namespaced_replica_set(namespace, label_selector="app=roll").items
    assert len(rss) == 2
    hashes = {rs.metadata.labels["pod-template-hash"] for rs in rss}
    assert {rs.metadata.name for rs in rss} == {f"roll-{h}" for h in hashes}
    by_rev = {rs.metadata.annotations["deployment.kubernetes.io/revision"]: rs for rs in rss}
    assert by_rev["1"].spec.replicas == 0 and by_rev["2"].spec.replicas == 4
    pods = ku.wait_for("4 v2 pods", ku.running_with_image_ids(kube, namespace, "app=roll", 4))
    assert _digests(pods) == Counter({d2: 4})
    assert {p.metadata.labels["pod-template-hash"] for p in pods} == {
        by_rev["2"].metadata.labels["pod-template-hash"]}
    assert d1 != d2


def test_registry_and_etcd_refuse_anyone_without_credentials(
        cluster: Any, namespace: str, registry: str) -> None:
    """A local user without the cluster's credentials gets nothing from either."""
    import json
    import ssl
    import urllib.request

    _push(registry, f"{namespace}/app", "v1", f"{namespace}-v1")  # the cluster's user may
    with pytest.raises(failures.Unauthorized):
        oci_client.Client(registry).resolve(f"{namespace}/app", "v1")
    state = json.loads((cluster.state_dir / "state.json").read_text())
    etcd = f"https://127.0.0.1:{state['ports']['etcd']}/version"
    anonymous = ssl.create_default_context(cafile=str(cluster.state_dir / "pki" / "ca.crt"))
    with pytest.raises((ssl.SSLError, OSError)):
        urllib.request.urlopen(etcd, context=anonymous, timeout=5).read()  # no client cert
    with pytest.raises((OSError, ValueError)):
        urllib.request.urlopen(etcd.replace("https", "http"), timeout=5).read()
    admitted = ssl.create_default_context(cafile=str(cluster.state_dir / "pki" / "ca.crt"))
    admitted.load_cert_chain(cluster.state_dir / "pki" / "etcd-client.crt",
                             cluster.state_dir / "pki" / "etcd-client.key")
    with urllib.request.urlopen(etcd, context=admitted, timeout=5) as answer:
        assert "etcdserver" in json.loads(answer.read())
