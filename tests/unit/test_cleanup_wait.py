"""Cleanup on a cluster that lives on: pods go without a grace period, and the wait for the
namespace controller is announced while it happens and counted in the durations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scanner.scenarios import definitions as d
from scanner.scenarios import kubeapi, observers, outputs, records, running, targets
from tests.unit.test_scenario_running import NAMESPACE, Clusters, FakeKube, handle, scenario


class SlowNamespace(FakeKube):
    """The namespace stays listed for ``polls`` GETs after its deletion."""

    def __init__(self, nodes: list[str], polls: int) -> None:
        super().__init__(nodes)
        self.polls = polls
        self.terminating: dict[str, dict[str, Any]] = {}

    def delete_namespace(self, name: str) -> None:
        found = self.namespaces.get(name)
        super().delete_namespace(name)
        if found is not None:
            self.terminating[name] = found

    def namespace(self, name: str) -> dict[str, Any] | None:
        if name in self.terminating:
            if self.polls <= 0:
                return None
            self.polls -= 1
            return self.terminating[name]
        return super().namespace(name)


class Said(observers.Observer):
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.cleanups: list[records.CleanupRecord] = []

    def say(self, message: str) -> None:
        self.lines.append(message)

    def cleanup_finished(self, record: records.ScenarioRecord,
                         cleanup: records.CleanupRecord) -> None:
        self.cleanups.append(cleanup)


def _run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kube: FakeKube,
         target: targets.Target, wait: float = 10.0) -> tuple[records.RunRecord, Said]:
    monkeypatch.setattr(kubeapi, "Kube", lambda *a, **k: kube)
    monkeypatch.setattr(running, "namespace_for", lambda name: NAMESPACE)
    said = Said()
    record = running.run([scenario(d.Sleep(0.01))], clusters=Clusters(target),
                         outputs_=outputs.Outputs(tmp_path), observer=said,
                         options=running.RunOptions(namespace_wait_s=wait))
    return record, said


def test_the_wait_is_announced_and_counted(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    kube = SlowNamespace(["n1"], polls=3)
    kube.add_pod("web-1", "n1")
    record, said = _run(tmp_path, monkeypatch, kube, targets.Target(handle("kwok")))
    (rec,) = record.scenarios
    assert rec.passed
    assert said.lines == [f"cleanup: waiting for the namespace controller to remove namespace "
                          f"{NAMESPACE} (up to 10s)"]
    (c,) = said.cleanups  # reported after the wait, so the line shows the real duration
    assert c.namespace_gone is True
    assert 0.5 <= c.namespace_wait_s <= c.duration_s <= rec.duration_s
    assert ("delete-pods-now", NAMESPACE) in kube.writes
    assert kube.writes.index(("delete-pods-now", NAMESPACE)) < kube.writes.index(
        ("delete-namespace", NAMESPACE))
    cleanup = json.loads((tmp_path / "journal.json").read_text())["scenarios"][0]["cleanup"]
    assert cleanup["namespace_gone"] is True and cleanup["namespace_wait_s"] >= 0.5


def test_a_namespace_that_stays_is_reported(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    kube = SlowNamespace(["n1"], polls=10_000)
    record, said = _run(tmp_path, monkeypatch, kube, targets.Target(handle("kwok")), wait=0.3)
    (c,) = said.cleanups
    assert c.namespace_gone is False
    assert c.errors == [f"namespace {NAMESPACE} is still terminating after 0.3s"]


def test_nothing_is_awaited_on_a_cluster_the_run_stops(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    kube = SlowNamespace(["n1"], polls=10_000)
    target = targets.Target(handle("kwok"), started=True, stops_at_release=True)
    record, said = _run(tmp_path, monkeypatch, kube, target)
    (c,) = said.cleanups
    assert said.lines == [] and c.namespace_gone is None and c.namespace_wait_s == 0.0
    assert c.namespace_deleted
