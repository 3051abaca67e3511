"""A cluster that was already running is used as it is: the run adds no node to it, says
so in one line, and aborts (with the reason) scenarios that need more nodes than it has."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from scanner import errors
from scanner.clusters import base, providers
from scanner.scenarios import definitions as d
from scanner.scenarios import records, targets
from tests.unit.test_scenario_running import FakeKube, handle, run_on, scenario


class Provider:
    """A provider whose cluster runs with two nodes (or not at all); records ``up`` calls."""

    def __init__(self, running: bool) -> None:
        self.running = running
        self.ups: list[int] = []

    def handle(self) -> base.ClusterHandle:
        if not self.running:
            raise errors.ProviderError("not running")
        return dataclasses.replace(handle("kwok"), nodes=("kwok-node-0", "kwok-node-1"))

    def up(self, nodes: int, say: base.Say) -> base.ClusterHandle:
        self.ups.append(nodes)
        return handle("kwok")


def test_a_running_cluster_is_reused_without_adding_nodes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    provider = Provider(running=True)
    monkeypatch.setattr(providers, "get", lambda name, cluster: provider)
    said: list[str] = []
    target = targets.ProviderClusters("kwok", "nc").acquire(None, 4, said.append)
    assert provider.ups == []  # up() would grow it to 4 nodes
    assert not target.started and not target.stops_at_release
    assert said == ["kwok cluster 'c' is already running with 2 nodes: used as it is, no node "
                    "added (scenarios that need more nodes are aborted)"]


def test_a_cluster_that_is_not_running_is_started_with_the_nodes_asked_for(
        monkeypatch: pytest.MonkeyPatch) -> None:
    provider = Provider(running=False)
    monkeypatch.setattr(providers, "get", lambda name, cluster: provider)
    target = targets.ProviderClusters("kwok", "nc").acquire(None, 4, print)
    assert provider.ups == [4] and target.started and target.stops_at_release


def test_a_scenario_needing_more_nodes_than_a_reused_cluster_has_is_aborted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kube = FakeKube(["n1", "n2"])
    sc = dataclasses.replace(scenario(d.Sleep(0.01)), min_nodes=3)
    record = run_on(tmp_path, monkeypatch, kube, targets.Target(handle("kwok")), sc)
    (rec,) = record.scenarios
    assert rec.status is records.Status.ABORTED and rec.steps == []
    assert rec.error == (
        "needs at least 3 schedulable nodes; the cluster has 2 (cluster 'c' was already "
        "running and is used as it is; stop it (driftscan cluster down) so the run starts one "
        "with enough nodes, or start it with --nodes 3)")
    assert kube.writes == []


def test_on_a_cluster_the_run_started_the_hint_is_more_nodes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kube = FakeKube(["n1", "n2"])
    sc = dataclasses.replace(scenario(d.Sleep(0.01)), min_nodes=3)
    record = run_on(tmp_path, monkeypatch, kube, targets.Target(handle("kwok"), started=True),
                    sc)
    (rec,) = record.scenarios
    assert rec.error is not None and rec.error.endswith(
        "(start the cluster with more nodes (--nodes N))")
