"""Cleanup does not wait for the namespace controller (nothing depends on it), announces
the waits it keeps, and counts them: pods leaving a node before it is removed, and
stopping a cluster the run started (``release_s`` in the journal)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scanner.clusters import base
from scanner.scenarios import definitions as d
from scanner.scenarios import kubeapi, observers, outputs, records, running, targets
from tests.unit.test_scenario_running import NAMESPACE, Clusters, FakeKube, handle, scenario


class Terminating(FakeKube):
    """A deleted namespace stays listed (as while the namespace controller works)."""

    def __init__(self, nodes: list[str]) -> None:
        super().__init__(nodes)
        self.gets = 0

    def delete_namespace(self, name: str) -> None:
        self.writes.append(("delete-namespace", name))

    def namespace(self, name: str) -> dict[str, Any] | None:
        self.gets += 1
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


class Stopping(Clusters):
    """Releasing takes a moment, as stopping a cluster's processes does."""

    def release(self, target: targets.Target, say: base.Say) -> None:
        import time

        time.sleep(0.3)
        say("kwok cluster 'c' stopped in 0.3s")


def _run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kube: FakeKube,
         clusters: Clusters) -> tuple[records.RunRecord, Said]:
    monkeypatch.setattr(kubeapi, "Kube", lambda *a, **k: kube)
    monkeypatch.setattr(running, "namespace_for", lambda name: NAMESPACE)
    said = Said()
    record = running.run([scenario(d.Sleep(0.01))], clusters=clusters,
                         outputs_=outputs.Outputs(tmp_path), observer=said)
    return record, said


def test_a_terminating_namespace_is_not_waited_for(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    kube = Terminating(["n1"])
    record, said = _run(tmp_path, monkeypatch, kube, Clusters(targets.Target(handle("kwok"))))
    (rec,) = record.scenarios
    (c,) = said.cleanups
    assert rec.passed and c.namespace_deleted and c.namespace_gone is None
    assert ("delete-namespace", NAMESPACE) in kube.writes
    assert kube.gets == 1  # the label check before deleting; no polling afterwards
    assert c.duration_s < 1.0
    assert said.lines == []  # nothing awaited, nothing to announce


def test_stopping_a_cluster_the_run_started_is_announced_and_timed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = targets.Target(handle("kwok"), started=True, stops_at_release=True)
    record, said = _run(tmp_path, monkeypatch, FakeKube(["n1"]), Stopping(target))
    assert said.lines == ["stopping kwok cluster 'c' (the run started it)",
                          "kwok cluster 'c' stopped in 0.3s"]
    journal = json.loads((tmp_path / "journal.json").read_text())
    (cluster,) = journal["run"]["clusters"]
    assert 0.3 <= cluster["release_s"] < 2
    assert journal["run"]["duration_s"] >= cluster["release_s"]


def test_removing_an_added_node_announces_the_wait_for_its_pods(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kube = FakeKube(["n1"])
    monkeypatch.setattr(kubeapi, "Kube", lambda *a, **k: kube)
    monkeypatch.setattr(running, "namespace_for", lambda name: NAMESPACE)
    said = Said()
    sc = scenario(d.AddNode("extra"))
    running.run([sc], clusters=Clusters(targets.Target(handle("kwok"), started=True)),
                outputs_=outputs.Outputs(tmp_path), observer=said)
    waits = [ln for ln in said.lines if ln.startswith("cleanup: waiting for the pods of")]
    assert waits and waits[0].startswith(f"cleanup: waiting for the pods of {NAMESPACE} to "
                                         "leave ")
    assert waits[0].endswith(" before removing it (up to 20s)")
