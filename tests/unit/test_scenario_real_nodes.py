"""Scenario runs on real nodes: taints only the run adds and lifts, manifests fitted to
busybox builds, the node kinds recorded, add-node skipped with the reason."""

from __future__ import annotations

import copy
from typing import Any, cast

import pytest

from scanner import errors
from scanner.clusters import base
from scanner.report import scenario_run
from scanner.scenarios import commands, kubeapi, realnodes, records, running, targets
from scanner.scenarios import definitions as d


def _node(name: str, kind: str, taints: list[dict[str, str]] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {realnodes.NODE_TYPE_LABEL: kind}}
    if kind == "fake":
        meta["annotations"] = {"kwok.x-k8s.io/node": "fake"}
    return {"metadata": meta, "spec": {"taints": list(taints or [])}}


class Kube:
    def __init__(self, nodes: list[dict[str, Any]], pods: list[dict[str, Any]] = ()) -> None:
        self._nodes = {n["metadata"]["name"]: n for n in nodes}
        self.pods = list(pods)
        self.patches: list[str] = []

    def nodes(self) -> list[dict[str, Any]]:
        return list(self._nodes.values())

    def node(self, name: str) -> dict[str, Any] | None:
        return self._nodes.get(name)

    def patch_node(self, name: str, patch: dict[str, Any]) -> None:
        self.patches.append(name)
        self._nodes[name]["spec"]["taints"] = patch["spec"]["taints"] or []

    def objects(self, kind: str, namespace: str, selector: str = "") -> list[dict[str, Any]]:
        return self.pods


def test_only_fake_nodes_are_tainted_and_only_the_runs_taint_is_lifted() -> None:
    theirs = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
    kube = Kube([_node("kwok-node-0", "fake", [theirs]), _node("kwok-node-1", "fake"),
                 _node("real-node-0", "real")])
    k = cast(kubeapi.Kube, kube)
    tainted = realnodes.taint_fake_nodes(k, "run1")
    assert tainted == ["kwok-node-0", "kwok-node-1"]
    assert kube.node("real-node-0")["spec"]["taints"] == []  # type: ignore[index]
    assert {"key": realnodes.TAINT_KEY, "value": "run1", "effect": "NoSchedule"} in \
        kube.node("kwok-node-0")["spec"]["taints"]  # type: ignore[index]
    # A node already carrying the key (another run's) is left as it is.
    assert realnodes.taint_fake_nodes(k, "run2") == []
    realnodes.untaint(k, tainted, "run1")
    assert kube.node("kwok-node-0")["spec"]["taints"] == [theirs]  # type: ignore[index]
    assert kube.node("kwok-node-1")["spec"]["taints"] == []  # type: ignore[index]


def test_manifests_are_fitted_to_busybox_builds() -> None:
    doc = {"kind": "Deployment", "metadata": {"name": "web"}, "spec": {"template": {"spec": {
        "initContainers": [
            {"name": "migrate", "image": "x", "command": ["/app/migrate"], "args": ["up"]},
            {"name": "envoy", "image": "y", "restartPolicy": "Always", "args": ["--c"],
             "readinessProbe": {"httpGet": {"port": 9901}}}],
        "containers": [{"name": "app", "image": "z", "command": ["/app/server"],
                        "args": ["--port", "8080"], "livenessProbe": {"grpc": {"port": 1}},
                        "readinessProbe": {"tcpSocket": {"port": 8080}}}]}}}}
    before = copy.deepcopy(doc)
    out = realnodes.adapt(doc)
    assert doc == before  # not changed in place
    spec = out["spec"]["template"]["spec"]
    migrate, envoy = spec["initContainers"]
    assert migrate["command"] == ["/bin/true"] and migrate["args"] == []
    assert "readinessProbe" not in envoy and "command" not in envoy and envoy["args"] == ["--c"]
    (app,) = spec["containers"]
    assert "command" not in app and app["args"] == ["--port", "8080"]
    assert not {"livenessProbe", "readinessProbe"} & set(app)
    job = realnodes.adapt({"kind": "Job", "spec": {"template": {"spec": {
        "containers": [{"name": "once", "image": "z"}]}}}})
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["/bin/true"]
    assert realnodes.adapt({"kind": "Service", "spec": {"ports": []}}) == {
        "kind": "Service", "spec": {"ports": []}}


def test_node_types_come_from_where_the_pods_ran() -> None:
    kube = Kube([_node("kwok-node-0", "fake"), _node("real-node-0", "real")],
                pods=[{"spec": {"nodeName": "real-node-0"}}, {"spec": {}}])
    assert realnodes.node_types(cast(kubeapi.Kube, kube), "ns") == ["real"]
    kube.pods.append({"spec": {"nodeName": "kwok-node-0"}})
    assert realnodes.node_types(cast(kubeapi.Kube, kube), "ns") == ["fake", "real"]


def test_add_node_runs_on_real_nodes_and_is_skipped_elsewhere_with_the_reason() -> None:
    handle = base.ClusterHandle(name="c", provider="kwok", kubeconfig=base.Path("k"),
                                registry="127.0.0.1:1", state_dir=base.Path("."))
    scenario = d.Scenario(name="grow", file=base.Path("grow.yaml"), title="", description="",
                          steps=(d.Step(0, "steps", d.AddNode("extra")),))
    nodes = [_node("kwok-node-0", "fake"), _node("real-node-0", "real")]
    running._check_node_steps(scenario, targets.Target(handle, started=True, real_nodes=3),
                              nodes)  # a real node is started for it: no skip
    with pytest.raises(running._Stop) as stop:
        running._check_node_steps(scenario, targets.Target(handle, started=True), nodes)
    assert stop.value.skip and "add-node needs a kwok cluster" in stop.value.message


def test_real_nodes_need_kwok_and_a_cluster_the_run_starts(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console

    request = commands.RunRequest(all=True, provider="kind", real_nodes=2)
    with pytest.raises(errors.InputError, match="--real-nodes"):
        commands._clusters(request, Console(quiet=True))

    class Running:
        def handle(self) -> base.ClusterHandle:
            return base.ClusterHandle(name="x", provider="kwok", kubeconfig=base.Path("k"),
                                      registry="r", state_dir=base.Path("."))

    monkeypatch.setattr(targets.providers, "get", lambda *_a, **_k: Running())
    with pytest.raises(errors.InputError, match="already running"):
        targets.ProviderClusters("kwok", "x", real_nodes=1).acquire(None, 1, lambda _m: None)


def test_the_journal_keeps_the_node_types() -> None:
    journal = scenario_run.from_json({"scenarios": [
        {"name": "a", "node_types": ["real"]}, {"name": "b"}, {"name": "c", "node_types": 7}]})
    assert [s.node_types for s in journal.scenarios] == [("real",), (), ()]
    assert records.ScenarioRecord.__dataclass_fields__["node_types"]
