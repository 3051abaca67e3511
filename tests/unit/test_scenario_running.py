"""The engine touches only what a run created: pushes stay under the scenario's namespace
and are deleted at cleanup where the registry is shared; drain-node cordons only nodes
the run added, or any node of a cluster the run started — otherwise the scenario is
skipped before it begins. A fake API server stands in for the cluster."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from scanner import errors
from scanner.clusters import base, providers
from scanner.oci import client as oci_client
from scanner.oci import failures, names, synthetic
from scanner.scenarios import (
    builds,
    journal,
    kubeapi,
    observers,
    outputs,
    records,
    running,
    steps,
    targets,
)
from scanner.scenarios import definitions as d

NAMESPACE = "ds-t-abc123"
KWOK = {builds.KWOK_ANNOTATION: "fake"}


def ready_node(name: str, *, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": name, "annotations": dict(KWOK), "labels": dict(labels or {})},
            "spec": {},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}}


class FakeKube:
    """Nodes, namespaces and pods in memory; records every write."""

    def __init__(self, nodes: list[str]) -> None:
        self._nodes = {n: ready_node(n) for n in nodes}
        self.namespaces: dict[str, dict[str, Any]] = {}
        self.pods: list[dict[str, Any]] = []
        self.writes: list[tuple[str, str]] = []

    def nodes(self) -> list[dict[str, Any]]:
        return list(self._nodes.values())

    def node(self, name: str) -> dict[str, Any] | None:
        return self._nodes.get(name)

    def create_node(self, body: Mapping[str, Any]) -> None:
        name = body["metadata"]["name"]
        self.writes.append(("create-node", name))
        self._nodes[name] = ready_node(name, labels=body["metadata"]["labels"])

    def delete_node(self, name: str) -> None:
        self.writes.append(("delete-node", name))
        self._nodes.pop(name, None)

    def set_unschedulable(self, name: str, value: bool) -> None:
        self.writes.append(("cordon" if value else "uncordon", name))
        self._nodes[name]["spec"]["unschedulable"] = value

    def create_namespace(self, name: str, labels: Mapping[str, str]) -> None:
        self.writes.append(("create-namespace", name))
        self.namespaces[name] = {"metadata": {"name": name, "labels": dict(labels)}}

    def namespace(self, name: str) -> dict[str, Any] | None:
        return self.namespaces.get(name)

    def delete_namespace(self, name: str) -> None:
        self.writes.append(("delete-namespace", name))
        self.namespaces.pop(name, None)

    def objects(self, kind: str, namespace: str, selector: str = "") -> list[dict[str, Any]]:
        assert kind == "Pod"
        want = dict(part.split("=", 1) for part in selector.split(",") if part)
        return [p for p in self.pods if p["metadata"]["namespace"] == namespace
                and all(p["metadata"]["labels"].get(k) == v for k, v in want.items())]

    def evict(self, namespace: str, name: str) -> bool:
        self.writes.append(("evict", name))
        self.pods = [p for p in self.pods if p["metadata"]["name"] != name]
        return True

    def delete_pod(self, namespace: str, name: str) -> None:
        self.evict(namespace, name)

    def close(self) -> None:
        pass

    def add_pod(self, name: str, node: str, app: str = "web") -> None:
        self.pods.append({"metadata": {"name": name, "namespace": NAMESPACE,
                                       "labels": {"app": app},
                                       "creationTimestamp": "2026-01-01T00:00:00Z"},
                          "spec": {"nodeName": node}, "status": {}})


class MemoryRegistry(oci_client.Client):
    """Manifests in memory; deletes by digest remove every tag pointing at the manifest."""

    def __init__(self, *, refuse_deletes: bool = False) -> None:
        super().__init__("127.0.0.1:5000")
        self.refuse_deletes = refuse_deletes
        self.manifests: dict[tuple[str, str], tuple[bytes, str]] = {}
        self.deleted: list[tuple[str, str]] = []

    def push_blob(self, repository: str, data: bytes) -> str:
        return names.digest_of(data)

    def push_manifest(self, repository: str, reference: str, data: bytes,
                      media_type: str) -> str:
        digest = names.digest_of(data)
        self.manifests[(repository, reference)] = self.manifests[(repository, digest)] = (
            data, media_type)
        return digest

    def get_manifest(self, repository: str, reference: str) -> oci_client.Manifest:
        data, media_type = self.manifests[(repository, reference)]
        return oci_client.Manifest(data=data, media_type=media_type,
                                 digest=names.digest_of(data))

    def delete_manifest(self, repository: str, digest: str) -> None:
        if self.refuse_deletes:
            raise errors.RegistryError(f"registry {self.registry}: delete manifest "
                                       f"{repository}@{digest}: HTTP 405 UNSUPPORTED")
        if (repository, digest) not in self.manifests:
            raise failures.NotFound(f"{repository}@{digest} not found")
        self.deleted.append((repository, digest))
        self.manifests = {k: v for k, v in self.manifests.items()
                          if not (k[0] == repository and names.digest_of(v[0]) == digest)}

    def references(self) -> set[str]:
        return {f"{repo}:{ref}" for repo, ref in self.manifests}


def handle(provider: str) -> base.ClusterHandle:
    return base.ClusterHandle("c", provider, Path("kubeconfig"), "127.0.0.1:5000", Path("."))


def scenario(*actions: d.Action) -> d.Scenario:
    return d.Scenario(name="t", file=Path("t.yaml"), title="t", description="",
                      steps=tuple(d.Step(i, "steps", a) for i, a in enumerate(actions)),
                      source={"name": "t", "steps": [{d.ACTION_NAMES[type(a)]: repr(a)}
                                                     for a in actions]})


def workspace(kube: FakeKube, sc: d.Scenario, client: MemoryRegistry | None = None, *,
              may_drain_any: bool = False) -> steps.Workspace:
    publisher = builds.RegistryBuilds(client or MemoryRegistry(), synthetic.build_image,
                                      "synthetic")
    return steps.Workspace(scenario=sc, namespace=NAMESPACE, run_id="run-1",
                           kube=kube,  # type: ignore[arg-type]
                           publisher=publisher, registry="127.0.0.1:5000",
                           scan=lambda: pytest.fail("no scan here"),
                           can_add_nodes=True, may_drain_any=may_drain_any)


def context(tmp_path: Path, clusters: targets.Clusters, cleanup: str = "always"
            ) -> running.RunContext:
    return running.RunContext(clusters, outputs.Outputs(tmp_path), observers.Observer(),
                              running.RunOptions(cleanup=cleanup),
                              records.RunRecord(run_id="run-1"))


def run_step(action: d.Action, ws: steps.Workspace) -> steps.Outcome:
    return steps.execute(d.Step(0, "steps", action), ws, 5.0)


# --- push: only under the scenario's namespace, deleted on a shared registry ---------------


def test_the_publisher_remembers_and_deletes_what_it_pushed() -> None:
    client = MemoryRegistry()
    publisher = builds.RegistryBuilds(client, synthetic.build_image, "synthetic")
    v1 = publisher.push("ns/web", "1.0", "ns/v1")
    v2 = publisher.push("ns/web", "1.0", "ns/v2")
    assert publisher.push("ns/web", "stable", "ns/v1") == v1     # a re-tag: nothing new
    assert publisher.pushed() == [("ns/web", v1), ("ns/web", v2)]
    publisher.delete("ns/web", v1)
    assert publisher.pushed() == [("ns/web", v2)]
    assert client.references() == {"ns/web:1.0", f"ns/web:{v2}"}
    # The build is gone from the repository: pushing it again uploads it, not re-tags it.
    assert publisher.push("ns/web", "1.1", "ns/v1") == v1
    assert publisher.pushed() == [("ns/web", v2), ("ns/web", v1)]


def test_the_publisher_notes_the_platform_manifests_of_an_index() -> None:
    client = MemoryRegistry()
    index = synthetic.build_index("ns/i1", [synthetic.Platform.parse("linux/amd64"),
                                           synthetic.Platform.parse("linux/arm64")])
    publisher = builds.RegistryBuilds(client, lambda label: index, "synthetic")
    top = publisher.push("ns/web", "1.0", "ns/i1")
    assert publisher.pushed() == [("ns/web", index.images[0].digest),
                                  ("ns/web", index.images[1].digest), ("ns/web", top)]


def test_push_outside_the_scenario_namespace_fails_the_step() -> None:
    client = MemoryRegistry()
    sc = scenario(d.Push("shared/web", "1.0", "b1"))
    ws = workspace(FakeKube(["n1"]), sc, client)
    with pytest.raises(steps.StepFailed, match="not under the scenario's namespace"):
        run_step(d.Push("shared/web", "1.0", "b1"), ws)
    with pytest.raises(steps.StepFailed):
        run_step(d.Push("{{ namespace }}-other/web", "1.0", "b1"), ws)
    assert client.manifests == {}
    outcome = run_step(d.Push("{{ namespace }}/web", "1.0", "b1"), ws)
    assert outcome.output["reference"] == f"127.0.0.1:5000/{NAMESPACE}/web:1.0"


def pushed_workspace(kube: FakeKube, client: MemoryRegistry) -> steps.Workspace:
    sc = scenario(d.Push("{{ namespace }}/web", "1.0", "b1"))
    ws = workspace(kube, sc, client)
    run_step(d.Push("{{ namespace }}/web", "1.0", "b1"), ws)
    run_step(d.Push("{{ namespace }}/web", "1.0", "b2"), ws)       # the re-tag
    run_step(d.Push("{{ namespace }}/api", "2.0", "b1"), ws)
    kube.create_namespace(NAMESPACE, ws.labels())
    return ws


def cleanup(tmp_path: Path, provider: str, ws: steps.Workspace, kube: FakeKube,
            policy: str = "always") -> records.CleanupRecord:
    target = targets.Target(handle(provider))
    ctx = context(tmp_path, targets.GivenCluster(target.handle), policy)
    rec = records.ScenarioRecord(ws.scenario, namespace=NAMESPACE)
    running._cleanup(ctx, rec, target, kube, ws)  # type: ignore[arg-type]
    assert rec.cleanup is not None
    return rec.cleanup


def test_cleanup_deletes_the_pushed_manifests_on_a_shared_registry(tmp_path: Path) -> None:
    kube, client = FakeKube(["n1"]), MemoryRegistry()
    client.push_manifest("someone/else", "1.0", b"{}", "application/json")
    ws = pushed_workspace(kube, client)
    digests = [digest for _, digest in ws.publisher.pushed()]
    c = cleanup(tmp_path, "existing", ws, kube)
    assert c.namespace_deleted and c.errors == []
    assert c.images_deleted == [f"{NAMESPACE}/api@{digests[2]}", f"{NAMESPACE}/web@{digests[1]}",
                                f"{NAMESPACE}/web@{digests[0]}"]
    others = {"someone/else:1.0", f"someone/else:{names.digest_of(b'{}')}"}
    assert client.references() == others
    entry = json.loads(json.dumps(journal._cleanup(c)))
    assert entry["images_deleted"] == c.images_deleted


def test_cleanup_leaves_a_test_cluster_registry_alone(tmp_path: Path) -> None:
    for provider in ("kwok", "kind"):
        kube, client = FakeKube(["n1"]), MemoryRegistry()
        ws = pushed_workspace(kube, client)
        c = cleanup(tmp_path, provider, ws, kube)
        assert c.namespace_deleted and c.images_deleted == [] and client.deleted == []


def test_kept_namespaces_keep_their_images(tmp_path: Path) -> None:
    kube, client = FakeKube(["n1"]), MemoryRegistry()
    ws = pushed_workspace(kube, client)
    c = cleanup(tmp_path, "existing", ws, kube, policy="never")
    assert c.images_deleted == [] and client.deleted == []
    assert c.kept == (f"--cleanup never: namespace {NAMESPACE}, pushed images and added nodes "
                      "kept for inspection")


def test_a_registry_that_refuses_deletes_is_reported_once(tmp_path: Path) -> None:
    kube, client = FakeKube(["n1"]), MemoryRegistry(refuse_deletes=True)
    ws = pushed_workspace(kube, client)
    c = cleanup(tmp_path, "existing", ws, kube)
    assert c.namespace_deleted and c.images_deleted == []
    (error,) = c.errors
    assert "HTTP 405 UNSUPPORTED" in error
    assert error.endswith(f"3 pushed manifest(s) left under 127.0.0.1:5000/{NAMESPACE}/")


# --- drain-node: only nodes the run created ------------------------------------------------


HOSTING = d.DrainNode(None, "app=web")


class Clusters:
    """Hands out one target as given."""

    provider = "kwok"

    def __init__(self, target: targets.Target) -> None:
        self.target = target

    def acquire(self, scenario: str | None, nodes: int, say: base.Say) -> targets.Target:
        return self.target

    def release(self, target: targets.Target, say: base.Say) -> None:
        pass


def run_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kube: FakeKube,
           target: targets.Target, sc: d.Scenario) -> records.RunRecord:
    monkeypatch.setattr(kubeapi, "Kube", lambda *a, **k: kube)
    return running.run([sc], clusters=Clusters(target), outputs_=outputs.Outputs(tmp_path),
                       options=running.RunOptions())


@pytest.mark.parametrize("target", [
    targets.Target(handle("kwok")),                            # reused kwok cluster
    targets.Target(handle("kind")),                            # reused kind cluster
], ids=["kwok", "kind"])
def test_drain_by_hosting_is_skipped_on_a_cluster_the_run_did_not_start(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: targets.Target) -> None:
    kube = FakeKube(["n1", "n2"])
    sc = scenario(d.Sleep(0.01), HOSTING)
    record = run_on(tmp_path, monkeypatch, kube, target, sc)
    (rec,) = record.scenarios
    assert rec.skipped and rec.status is records.Status.ABORTED and rec.steps == []
    assert rec.error is not None and rec.error.startswith(
        "skipped: steps[1] drain-node {hosting: app=web} could cordon a node this run did "
        "not create: cluster 'c' was already running when the run began.")
    assert kube.writes == []
    assert record.exit_code() == 0
    journal = json.loads((tmp_path / "journal.json").read_text())
    (entry,) = journal["scenarios"]
    assert entry["skipped"] is True and entry["error"]["message"] == rec.error


def test_drain_by_hosting_runs_on_a_cluster_the_run_started(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kube = FakeKube(["n1", "n2"])
    sc = scenario(HOSTING)
    monkeypatch.setattr(running, "namespace_for", lambda name: NAMESPACE)
    kube.add_pod("web-1", "n2")
    record = run_on(tmp_path, monkeypatch, kube, targets.Target(handle("kwok"), started=True),
                    sc)
    (rec,) = record.scenarios
    assert rec.status is records.Status.COMPLETED, rec.error
    assert ("cordon", "n2") in kube.writes and ("uncordon", "n2") in kube.writes


def test_drain_of_an_added_node_runs_on_any_kwok_cluster(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kube = FakeKube(["n1", "n2"])
    sc = scenario(d.AddNode("extra"), d.DrainNode("extra", None))
    monkeypatch.setattr(running, "namespace_for", lambda name: NAMESPACE)
    record = run_on(tmp_path, monkeypatch, kube, targets.Target(handle("kwok")), sc)
    (rec,) = record.scenarios
    assert rec.status is records.Status.COMPLETED, rec.error
    added = "ds-abc123-extra"
    assert [w for w in kube.writes if w[0] in ("cordon", "uncordon", "delete-node")] == [
        ("cordon", added), ("uncordon", added), ("delete-node", added)]


def test_drain_node_refuses_a_node_the_run_did_not_create() -> None:
    kube = FakeKube(["n1", "n2"])
    kube.add_pod("web-1", "n2")
    ws = workspace(kube, scenario(HOSTING), may_drain_any=False)
    with pytest.raises(steps.StepFailed, match="node n2 was not added by this scenario"):
        run_step(HOSTING, ws)
    assert kube.writes == []
    ws.nodes_added["mine"] = "n2"          # a node the scenario added may be drained
    assert run_step(HOSTING, ws).output == {"node": "n2", "evicted": ["web-1"]}


def test_only_a_cluster_the_run_starts_counts_as_started(
        monkeypatch: pytest.MonkeyPatch) -> None:
    class Provider:
        def __init__(self, running_: bool) -> None:
            self.running = running_

        def handle(self) -> base.ClusterHandle:
            if not self.running:
                raise errors.ProviderError("not running")
            return handle("kwok")

        def up(self, nodes: int, say: base.Say) -> base.ClusterHandle:
            return handle("kwok")

    for already, keep in ((True, False), (False, False), (False, True)):
        monkeypatch.setattr(providers, "get",
                            lambda provider, name, a=already: Provider(a))
        target = targets.ProviderClusters("kwok", "c", keep=keep).acquire(None, 4, print)
        assert target.started is (not already)
        assert target.stops_at_release is (not already and not keep)
    assert not targets.GivenCluster(handle("kwok")).acquire(None, 1, print).started
    assert targets.GivenCluster(handle("kwok"), started=True).acquire(None, 1, print).started
    existing = targets.ExistingCluster(context="ctx", registry="r:5000")
    assert not existing.acquire(None, 1, print).started
    assert existing.acquire(None, 1, print).shared_registry
