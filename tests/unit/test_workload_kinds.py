"""ReplicationControllers, Argo Rollouts, PodTemplates and image volumes in `scan` (dump
and live) and `pin`, as in `manifests` (tests/unit/test_manifest_trees.py)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from scanner import graph, model, pinning
from scanner.oci import resolver as oci_resolver
from scanner.sources import dump, live
from tests.unit import helpers
from tests.unit.fake_apiserver import FakeApiserver, kubeconfig, serve
from tests.unit.test_pinning import FakeClient, digest

REG = "registry.example.com:5000"
NS = "shop"


def _pod(name: str, owner: tuple[str, str, str], image: str, sha: str,
         volumes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    api, kind, owner_name = owner
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "uid": f"uid-{name}",
                     "creationTimestamp": "2026-01-10T10:00:00Z",
                     "ownerReferences": [{"apiVersion": api, "kind": kind, "name": owner_name,
                                          "uid": f"uid-{owner_name}", "controller": True}]},
        "spec": {"nodeName": "node-a", "volumes": volumes or [],
                 "containers": [{"name": "app", "image": image}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                   "containerStatuses": [{
                       "name": "app", "image": image, "ready": True, "restartCount": 0,
                       "imageID": f"{image.rsplit(':', 1)[0]}@sha256:{sha * 64}"}]},
    }


def _template(image: str, volumes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": "x"}},
            "spec": {"containers": [{"name": "app", "image": image}],
                     "volumes": volumes or []}}


WEIGHTS = [{"name": "weights", "image": {"reference": f"{REG}/shop/weights:v7"}}]


def shop() -> list[dict[str, Any]]:
    """An RC and a Rollout whose pods run two builds; a Deployment with an image volume."""
    rc_image, canary_image = f"{REG}/guestbook:v3", f"{REG}/shop/canary:1.2"
    meta = {"namespace": NS, "creationTimestamp": "2026-01-10T09:00:00Z"}
    return [
        {"apiVersion": "v1", "kind": "ReplicationController",
         "metadata": {"name": "guestbook", "uid": "uid-guestbook", **meta},
         "spec": {"replicas": 2, "selector": {"app": "x"}, "template": _template(rc_image)}},
        _pod("guestbook-a", ("v1", "ReplicationController", "guestbook"), rc_image, "1"),
        _pod("guestbook-b", ("v1", "ReplicationController", "guestbook"), rc_image, "2"),
        {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
         "metadata": {"name": "canary", "uid": "uid-canary", **meta},
         "spec": {"replicas": 2, "template": _template(canary_image)}},
        {"apiVersion": "apps/v1", "kind": "ReplicaSet",
         "metadata": {"name": "canary-7f9", "uid": "uid-canary-7f9",
                      "labels": {"rollouts-pod-template-hash": "7f9"},
                      "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1",
                                           "kind": "Rollout", "name": "canary",
                                           "uid": "uid-canary", "controller": True}], **meta},
         "spec": {"replicas": 2, "template": _template(canary_image)}},
        _pod("canary-7f9-a", ("apps/v1", "ReplicaSet", "canary-7f9"), canary_image, "3"),
        _pod("canary-7f9-b", ("apps/v1", "ReplicaSet", "canary-7f9"), canary_image, "4"),
        {"apiVersion": "v1", "kind": "PodTemplate",
         "metadata": {"name": "batch", **meta},
         "template": _template(f"{REG}/shop/worker:latest")},
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": "model", "uid": "uid-model", **meta},
         "spec": {"template": _template(f"{REG}/shop/server:2.0@sha256:{'5' * 64}",
                                        WEIGHTS)}},
        _pod("model-a", ("apps/v1", "Deployment", "model"),
             f"{REG}/shop/server:2.0@sha256:{'5' * 64}", "5", WEIGHTS),
    ]


def findings_of(snapshot: model.Snapshot) -> set[tuple[str, str, str, str]]:
    found = helpers.analyse(snapshot)[1]
    return {(f.workload.kind, f.workload.name, f.container or "", f.rule) for f in found}


EXPECTED = {
    ("ReplicationController", "guestbook", "app", "digest-drift"),
    ("ReplicationController", "guestbook", "app", "mutable-tag"),
    ("Rollout", "canary", "app", "digest-drift"),
    ("Rollout", "canary", "app", "mutable-tag"),
    ("PodTemplate", "batch", "app", "floating-tag"),
    ("Deployment", "model", "volume:weights", "mutable-tag"),
}


def test_dump_reads_rc_rollout_podtemplate_and_image_volumes(tmp_path: Path) -> None:
    path = tmp_path / "dump.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": shop()}))
    snapshot = dump.load([str(path)])
    assert snapshot.gaps == ()
    assert findings_of(snapshot) >= EXPECTED
    g = graph.build(snapshot)
    rc = model.WorkloadRef("ReplicationController", NS, "guestbook")
    assert {p.name for p in graph.pods(g, rc)} == {"guestbook-a", "guestbook-b"}
    [volume] = [c for c in graph.template(g, model.WorkloadRef("Deployment", NS, "model"))
                if c.role is model.ContainerRole.VOLUME]
    assert volume.name == "volume:weights" and volume.image.endswith("weights:v7")
    pod = next(p for p in snapshot.pods if p.name == "model-a")
    assert [c.name for c in pod.containers] == ["app", "volume:weights"]
    assert graph.missing_owners(g) == []


def test_a_rollout_with_a_workload_ref_has_no_template_of_its_own(tmp_path: Path) -> None:
    path = tmp_path / "dump.json"
    path.write_text(json.dumps({"kind": "List", "items": [
        {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
         "metadata": {"name": "ref", "namespace": NS},
         "spec": {"workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                  "name": "web"}}},
        _pod("p", ("v1", "ReplicationController", "x"), f"{REG}/a:1", "1")]}))
    snapshot = dump.load([str(path)])
    assert snapshot.gaps == () and [w.name for w in snapshot.workloads] == []


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[Path, FakeApiserver]]:
    """A fake apiserver serving the shop; Rollouts are a CRD driftscan does not list."""
    paths = {"Pod": "/api/v1/pods", "ReplicaSet": "/apis/apps/v1/replicasets",
             "Deployment": "/apis/apps/v1/deployments",
             "ReplicationController": "/api/v1/replicationcontrollers"}
    collections: dict[str, list[dict[str, Any]]] = {p: [] for p in paths.values()}
    for path in ("/apis/apps/v1/statefulsets", "/apis/apps/v1/daemonsets",
                 "/apis/apps/v1/controllerrevisions", "/apis/batch/v1/jobs",
                 "/apis/batch/v1/cronjobs", "/api/v1/services", "/api/v1/nodes"):
        collections[path] = []
        collections[path.replace("/v1/", f"/v1/namespaces/{NS}/")] = []
    for item in shop():
        if item["kind"] in paths:
            body = {k: v for k, v in item.items() if k not in ("kind", "apiVersion")}
            collections[paths[item["kind"]]].append(body)
            namespaced = paths[item["kind"]].replace("/v1/", f"/v1/namespaces/{NS}/")
            collections.setdefault(namespaced, []).append(body)
    fake = FakeApiserver(collections=collections)
    with serve(fake) as url:
        yield kubeconfig(tmp_path / "kubeconfig", url), fake


def test_live_scan_lists_rcs_and_groups_rollout_pods_by_owner(
        cluster: tuple[Path, FakeApiserver]) -> None:
    config, fake = cluster
    snapshot = live.load(live.LiveOptions(kubeconfig=str(config), all_namespaces=True))
    assert "/api/v1/replicationcontrollers" in fake.get_paths()
    assert not [p for p in fake.get_paths() if "argoproj" in p]  # the CRD may be absent
    found = findings_of(snapshot)
    assert ("ReplicationController", "guestbook", "app", "digest-drift") in found
    assert ("Rollout", "canary", "app", "digest-drift") in found
    assert ("Deployment", "model", "volume:weights", "mutable-tag") in found


def test_live_scan_rc_forbidden_is_a_gap(cluster: tuple[Path, FakeApiserver]) -> None:
    config, fake = cluster
    fake.forbidden.update({"/api/v1/replicationcontrollers",
                           f"/api/v1/namespaces/{NS}/replicationcontrollers"})
    snapshot = live.load(live.LiveOptions(kubeconfig=str(config), namespaces=(NS,)))
    assert [g.kind for g in snapshot.gaps] == ["ReplicationController"]
    assert "forbidden" in snapshot.gaps[0].reason
    assert ("Rollout", "canary", "app", "digest-drift") in findings_of(snapshot)


MANIFEST = f"""\
apiVersion: v1
kind: ReplicationController
metadata: {{name: guestbook}}
spec:
  template:
    spec:
      containers:
      - name: app
        image: {REG}/guestbook:v3   # keep this comment
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {{name: canary}}
spec:
  template:
    spec:
      containers: [{{name: app, image: "{REG}/shop/canary:1.2"}}]
      volumes:
      - name: weights
        image: {{reference: '{REG}/shop/weights:v7', pullPolicy: IfNotPresent}}
"""


def test_pin_rewrites_rc_rollout_and_image_volume_references() -> None:
    tags: dict[str, str | BaseException] = {
        "guestbook:v3": digest("g"), "shop/canary:1.2": digest("c"),
        "shop/weights:v7": digest("w")}
    client = FakeClient(REG, tags)
    out = io.StringIO()
    code = pinning.run(pinning.PinOptions(paths=("-",)), Console(file=out),
                       stdin_text=MANIFEST,
                       tag_resolver=oci_resolver.Resolver(client_factory=lambda _name: client))
    assert code == 0
    assert out.getvalue() == (MANIFEST
                              .replace("guestbook:v3", f"guestbook:v3@{digest('g')}")
                              .replace("canary:1.2", f"canary:1.2@{digest('c')}")
                              .replace("weights:v7", f"weights:v7@{digest('w')}"))
