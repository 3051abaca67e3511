"""The scenario runner on the real kwok cluster: library scenarios pass, a scenario whose
expectation cannot hold fails with expected-vs-found, and cleanup leaves no namespace
behind — after success, after a failed step, after an interrupt raised mid-run, and after
SIGINT to a ``driftscan scenario run`` process. A run touches only what it created: the
images it pushed to a shared registry are deleted, drain-node leaves nodes of a cluster
the run did not start alone, and a cluster the CLI starts for a run is gone afterwards.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from scanner import cli
from scanner.clusters import base, kwok, processes
from scanner.oci import client as oci_client
from scanner.oci import credentials, synthetic
from scanner.scenarios import catalog, observers, outputs, records, running, targets
from tests import scenario_files
from tests.integration import kubeutil as ku

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
LABEL_SCENARIO = "scenarios.driftscan.io/scenario"


def namespaces_of(kube: client.ApiClient, scenario: str) -> list[Any]:
    return client.CoreV1Api(kube).list_namespace(
        label_selector=f"{LABEL_SCENARIO}={scenario}").items


def node_states(kube: client.ApiClient) -> dict[str, bool]:
    """Every node's name → whether it is cordoned."""
    out = {}
    for n in client.CoreV1Api(kube).list_node().items:
        assert n.metadata is not None and n.spec is not None
        out[str(n.metadata.name)] = bool(n.spec.unschedulable)
    return out


def assert_no_namespace_left(kube: client.ApiClient, scenario: str) -> None:
    ku.wait_for(f"namespaces of {scenario} to be gone",
                lambda: not namespaces_of(kube, scenario) or None, timeout=90)


def run_cli(args: list[str]) -> int:
    return cli.main(["scenario", "run", *args])


# --- library scenarios -------------------------------------------------------------------


def test_two_library_scenarios_pass_through_the_cli(
        cluster: base.ClusterHandle, kube: client.ApiClient, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = run_cli(["retag-scale-up", "statefulset-partition", "--out", str(out),
                    *scenario_files.existing_args(cluster)])
    printed = capsys.readouterr()
    assert code == 0, printed.out + printed.err
    assert "2 scenarios: 2 passed — run completed" in printed.out
    data = json.loads((out / "journal.json").read_text())
    assert data["run"]["status"] == "completed" and data["run"]["exit_code"] == 0
    first = data["scenarios"][0]
    assert first["passed"] and first["cleanup"]["namespace_deleted"] is True
    drift = next(e for e in first["expectations"] if e["expected"].get("rule") == "digest-drift")
    assert drift["met"] and 0 < drift["time_to_detect_s"] < 30
    assert (out / drift["report_file"]).is_file()
    scan = next(s for s in first["scans"] if s["label"] == "after-scale-up")
    assert scan["injected_by"].startswith("steps[6]: CI re-pushes :latest")
    assert {b["name"] for b in first["builds"]} == {"v1", "v2", "frontend-v0.6.5"}
    suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "2" and suite.get("failures") == "0"
    for name in ("retag-scale-up", "statefulset-partition"):
        assert_no_namespace_left(kube, name)  # the namespace controller finishes it


def test_the_whole_library_passes_in_a_shared_cluster(
        cluster: base.ClusterHandle, kube: client.ApiClient, tmp_path: Path) -> None:
    scenarios = catalog.library()
    started = time.monotonic()
    # The session's cluster is a throw-away one of its own: its nodes may be drained.
    record = running.run(scenarios, clusters=targets.GivenCluster(cluster, started=True),
                         outputs_=outputs.Outputs(tmp_path))
    took = time.monotonic() - started
    failed = {s.scenario.name: (s.status.value, s.error, [r.message for r in s.results
                                                          if not r.met])
              for s in record.scenarios if not s.passed}
    assert failed == {}
    assert record.exit_code() == 0
    assert took < 300, f"the library took {took:.0f}s"
    nodes = node_states(kube)
    assert not [n for n in nodes if n.startswith("ds-")], "added nodes were removed"
    assert not any(nodes.values())
    for s in scenarios:
        assert_no_namespace_left(kube, s.name)


# --- a scenario whose expectation cannot hold --------------------------------------------


def test_a_missed_expectation_fails_the_run_with_expected_vs_found(
        cluster: base.ClusterHandle, kube: client.ApiClient, tmp_path: Path) -> None:
    # The image is pinned by digest: re-pushing the tag cannot make the pods drift.
    path, name = scenario_files.write(tmp_path, """\
        steps:
        - push: {repository: "{{ namespace }}/shop/web", tag: "1.0", build: b1}
        - apply: app.yaml
        - wait: {rollout: Deployment/web}
        - push: {repository: "{{ namespace }}/shop/web", tag: "1.0", build: b2}
        - scale: {workload: Deployment/web, replicas: 5}
        - wait: {pods: {selector: app=web, count: 5}}
        - scan: after
        expect:
          after:
            fires:
            - {rule: digest-drift, workload: Deployment/web, severity: high, digests: 2}
            absent:
            - {rule: mutable-tag}
        """)
    out = tmp_path / "out"
    assert run_cli(["--file", str(path), "--out", str(out),
                    *scenario_files.existing_args(cluster)]) == 1
    case = ET.parse(out / "junit.xml").getroot().find("testsuite/testcase")
    assert case is not None and case.get("name") == name
    failure = case.find("failure")
    assert failure is not None
    assert failure.get("message") == (
        "1 of 2 expectations missed: after: expected digest-drift on Deployment/web "
        "(severity ≥ high, digests 2); found no finding at all on Deployment/web")
    journal = json.loads((out / "journal.json").read_text())
    (scenario,) = journal["scenarios"]
    assert scenario["status"] == "completed" and scenario["deviated"] is True
    assert journal["run"]["status"] == "completed" and journal["run"]["deviated"] is True
    assert_no_namespace_left(kube, name)


# --- cleanup ------------------------------------------------------------------------------


def test_cleanup_after_a_failed_step(cluster: base.ClusterHandle, kube: client.ApiClient,
                                     tmp_path: Path) -> None:
    path, name = scenario_files.write(tmp_path, """\
        steps:
        - push: {repository: "{{ namespace }}/shop/web", tag: "1.0", build: b1}
        - apply: app.yaml
        - name: wait for pods that never come
          wait: {pods: {selector: app=web, count: 9}}
          timeout: 3s
        - scan: never
        finally:
        - name: scale down even though a step failed
          scale: {workload: Deployment/web, replicas: 0}
        expect:
          never: {clean: true}
        """)
    out = tmp_path / "out"
    assert run_cli(["--file", str(path), "--out", str(out),
                    *scenario_files.existing_args(cluster)]) == 2
    (scenario,) = json.loads((out / "journal.json").read_text())["scenarios"]
    assert scenario["status"] == "failed"
    assert scenario["error"]["step"] == "steps[2]"
    assert "timed out after 3s waiting for 9 pod(s) matching app=web ready" in \
        scenario["error"]["message"]
    *tried, cleanup_step = scenario["steps"]
    assert tried[-1]["status"] == "timed-out" and tried[-1]["path"] == "steps[2]"
    assert (cleanup_step["phase"], cleanup_step["status"]) == ("finally", "succeeded")
    assert cleanup_step["output"] == {"workload": "Deployment/web", "from": 3, "to": 0}
    assert scenario["missing_scans"] == ["never"]
    assert scenario["cleanup"]["namespace_deleted"] is True
    error = ET.parse(out / "junit.xml").getroot().find("testsuite/testcase/error")
    assert error is not None and error.get("type") == "failed"
    assert_no_namespace_left(kube, name)


class InterruptAfter(observers.Observer):
    """Raises KeyboardInterrupt (as Ctrl-C would) once a given step has finished."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.namespaces: list[str] = []
        self.cleanups: list[records.CleanupRecord] = []

    def step_finished(self, record: records.ScenarioRecord, step: records.StepRecord) -> None:
        if record.namespace:
            self.namespaces.append(record.namespace)
        if step.step.kind == self.kind:
            raise KeyboardInterrupt

    def cleanup_finished(self, record: records.ScenarioRecord,
                         cleanup: records.CleanupRecord) -> None:
        self.cleanups.append(cleanup)


def test_cleanup_after_an_interrupt_mid_run(cluster: base.ClusterHandle,
                                            kube: client.ApiClient, tmp_path: Path) -> None:
    path, name = scenario_files.write(tmp_path, scenario_files.CLEAN_RUN)
    first = catalog.load_file(path)
    second = dataclasses.replace(first, name=name + "-2")
    watcher = InterruptAfter("apply")
    record = running.run([first, second], clusters=targets.GivenCluster(cluster),
                         outputs_=outputs.Outputs(tmp_path / "out"), observer=watcher)
    assert record.status is records.Status.INTERRUPTED and record.exit_code() == 130
    one, two = record.scenarios
    assert one.status is records.Status.INTERRUPTED
    assert one.steps[-1].status is records.StepStatus.SUCCEEDED  # interrupted right after it
    assert two.status is records.Status.ABORTED and two.error == "not run: the run was interrupted"
    (cleanup,) = watcher.cleanups
    assert cleanup.namespace_deleted and cleanup.namespace == watcher.namespaces[0]
    journal = json.loads((tmp_path / "out" / "journal.json").read_text())
    assert journal["run"]["status"] == "interrupted"
    assert [s["status"] for s in journal["scenarios"]] == ["interrupted", "aborted"]
    assert_no_namespace_left(kube, name)


def _default_sigint() -> None:
    # A shell that starts pytest in the background ignores SIGINT for it, and children
    # inherit that; Python then installs no KeyboardInterrupt handler. Undo it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_to_a_running_process_cleans_up(cluster: base.ClusterHandle,
                                                 kube: client.ApiClient, tmp_path: Path,
                                                 signum: signal.Signals) -> None:
    path, name = scenario_files.write(tmp_path, """\
        steps:
        - push: {repository: "{{ namespace }}/shop/web", tag: "1.0", build: b1}
        - apply: app.yaml
        - wait: {rollout: Deployment/web}
        - name: a long step to interrupt
          sleep: 60s
        - scan: s
        expect:
          s: {clean: true}
        """)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "scanner.cli", "scenario", "run", "--file", str(path),
         "--out", str(out), *scenario_files.existing_args(cluster)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"}, preexec_fn=_default_sigint)
    try:
        def sleeping() -> bool | None:
            if proc.poll() is not None:
                raise AssertionError(f"the run ended early: {proc.communicate()}")
            spaces = namespaces_of(kube, name)
            if not spaces:
                return None
            pods = ku.pods(kube, spaces[0].metadata.name, "app=web")
            return len(pods) == 3 and all(p.status.phase == "Running" for p in pods) or None

        ku.wait_for("the scenario to reach its sleep", sleeping, timeout=60)
        time.sleep(1.0)
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stdout + stderr
    assert "INTERRUPTED" in stderr and "cleanup: namespace ds-" in stderr
    journal = json.loads((out / "journal.json").read_text())
    assert journal["run"]["status"] == "interrupted"
    (scenario,) = journal["scenarios"]
    assert scenario["status"] == "interrupted"
    assert scenario["steps"][-1]["status"] == "interrupted"
    assert scenario["cleanup"]["namespace_deleted"] is True
    assert_no_namespace_left(kube, name)


def test_existing_provider_skips_node_steps(cluster: base.ClusterHandle, tmp_path: Path,
                                            kube: client.ApiClient,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = run_cli(["retag-new-node", "sidecar-drift", "--out", str(out),
                    *scenario_files.existing_args(cluster)])
    printed = capsys.readouterr()
    assert code == 0, printed.out + printed.err  # a skip is reported, not a failure
    assert "2 scenarios: 1 skipped, 1 passed" in printed.out
    skipped, passed = json.loads((out / "journal.json").read_text())["scenarios"]
    assert skipped["status"] == "aborted" and skipped["skipped"] is True
    assert "do not run on --provider existing" in skipped["error"]["message"]
    assert skipped["namespace"] is None and skipped["steps"] == []
    assert passed["passed"] is True
    case = ET.parse(out / "junit.xml").getroot().find("testsuite/testcase")
    assert case is not None and case.find("skipped") is not None
    assert not namespaces_of(kube, "retag-new-node")


# --- a run touches only what it created -------------------------------------------------


def test_existing_provider_deletes_the_images_it_pushed(
        cluster: base.ClusterHandle, kube: client.ApiClient, tmp_path: Path) -> None:
    reg = oci_client.client_for(cluster.registry,
                                docker_config=credentials.load_docker_config())
    other = f"others-{uuid.uuid4().hex[:8]}/web"
    theirs = synthetic.push_image(reg, other, "1.0", synthetic.build_image(f"{other}-1"))
    path, name = scenario_files.write(tmp_path, """\
        steps:
        - push: {repository: "{{ namespace }}/shop/web", tag: "1.0", build: b1}
        - push: {repository: "{{ namespace }}/shop/web", tag: "1.0", build: b2}
        - push: {repository: "{{ namespace }}/shop/web", tag: "1.1", build: b1}
        - push: {repository: "{{ namespace }}/shop/api", tag: "1.0", build: b1}
        - apply: app.yaml
        - wait: {rollout: Deployment/web}
        - scan: s
        expect:
          s: {clean: true}
        """)
    out = tmp_path / "out"
    assert run_cli(["--file", str(path), "--out", str(out),
                    *scenario_files.existing_args(cluster)]) == 0
    (scenario,) = json.loads((out / "journal.json").read_text())["scenarios"]
    namespace = scenario["namespace"]
    digests = {b["name"]: b["digest"] for b in scenario["builds"]}
    assert sorted(scenario["cleanup"]["images_deleted"]) == sorted([
        f"{namespace}/shop/web@{digests['b1']}", f"{namespace}/shop/web@{digests['b2']}",
        f"{namespace}/shop/api@{digests['b1']}"])
    assert scenario["cleanup"]["errors"] == []
    for repository in ("shop/web", "shop/api"):
        for reference in ("1.0", "1.1", digests["b1"], digests["b2"]):
            assert not reg.manifest_exists(f"{namespace}/{repository}", reference)
    assert reg.resolve(other, "1.0") == theirs  # what the run did not push is still there
    assert_no_namespace_left(kube, name)


def test_drain_node_leaves_nodes_of_a_cluster_the_run_did_not_start_alone(
        cluster: base.ClusterHandle, kube: client.ApiClient, tmp_path: Path) -> None:
    hosting, _ = scenario_files.write(tmp_path, """\
        steps:
        - push: {repository: "{{ namespace }}/shop/web", tag: "1.0", build: b1}
        - apply: app.yaml
        - wait: {rollout: Deployment/web}
        - drain-node: {hosting: app=web}
        - scan: s
        expect:
          s: {clean: true}
        """)
    added, _ = scenario_files.write(tmp_path, """\
        steps:
        - push: {repository: "{{ namespace }}/shop/web", tag: "1.0", build: b1}
        - add-node: extra
        - apply: app.yaml
        - wait: {rollout: Deployment/web}
        - drain-node: {node: extra}
        - wait: {pods: {selector: app=web, count: 3}}
        - scan: s
        expect:
          s: {clean: true}
        """)
    before = node_states(kube)
    assert not any(before.values())
    record = running.run(catalog.load_files([hosting, added]),
                         clusters=targets.GivenCluster(cluster),  # reused: not the run's
                         outputs_=outputs.Outputs(tmp_path / "out"))
    assert record.exit_code() == 0
    skipped, drained = record.scenarios
    assert skipped.skipped and skipped.status is records.Status.ABORTED
    assert skipped.error is not None and skipped.error.startswith(
        "skipped: steps[3] drain-node {hosting: app=web} could cordon a node this run did "
        "not create")
    assert skipped.namespace is None and skipped.steps == []
    assert drained.passed, drained.error
    (drain,) = [st for st in drained.steps if st.step.kind == "drain-node"]
    assert drain.output["node"] not in before and drain.output["node"].endswith("-extra")
    assert drained.cleanup is not None
    assert drained.cleanup.nodes_uncordoned == [drain.output["node"]]
    assert drained.cleanup.nodes_removed == [drain.output["node"]]
    assert node_states(kube) == before  # the added node is gone; no node stays cordoned
    journal = json.loads((tmp_path / "out" / "journal.json").read_text())
    assert journal["scenarios"][0]["skipped"] is True
    assert journal["scenarios"][0]["error"]["message"] == skipped.error
    case = ET.parse(tmp_path / "out" / "junit.xml").getroot().find("testsuite/testcase")
    assert case is not None and case.find("skipped") is not None


def test_the_cli_starts_and_stops_a_cluster_of_its_own(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state"
    monkeypatch.setenv("DRIFTSCAN_STATE_DIR", str(state))
    for var in ("DRIFTSCAN_KUBECONFIG", "DRIFTSCAN_REGISTRY", "KUBECONFIG"):
        monkeypatch.delenv(var, raising=False)
    name = f"own-{uuid.uuid4().hex[:6]}"
    started: list[processes.Process] = []
    save = kwok.KwokProvider._save

    def spy(self: kwok.KwokProvider, data: dict[str, Any]) -> None:
        started.extend(processes.Process.from_json(p) for p in data.get("processes", []))
        save(self, data)

    monkeypatch.setattr(kwok.KwokProvider, "_save", spy)
    out = tmp_path / "out"
    # retag-node-drain drains a node it did not add: allowed on a cluster the run started.
    code = run_cli(["retag-node-drain", "--provider", "kwok", "--name", name,
                    "--out", str(out)])
    printed = capsys.readouterr()
    assert code == 0, printed.out + printed.err
    assert "1 scenario: 1 passed" in printed.out
    for file in ("journal.json", "junit.xml", "index.html"):
        assert (out / file).is_file(), file
    journal = json.loads((out / "journal.json").read_text())
    assert [c["name"] for c in journal["run"]["clusters"]] == [name]
    (scenario,) = journal["scenarios"]
    assert scenario["name"] == "retag-node-drain" and scenario["passed"] is True
    suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
    assert suite is not None and (suite.get("tests"), suite.get("failures"),
                                  suite.get("errors"), suite.get("skipped")) == ("1", "0", "0",
                                                                                 "0")
    assert {p.name for p in started} >= {"etcd", "kube-apiserver", "kwok", "registry"}
    assert [p.name for p in started if processes.alive(p)] == []
    assert not (state / "clusters" / name).exists()
