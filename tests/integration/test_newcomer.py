"""What a newcomer meets on the real kwok cluster: a scan of a namespace that does not
exist is a gap (exit 3), never clean, and names context, apiserver and namespaces; a
cluster that was already running is used as it is by ``scenario run`` (no node added, a
scenario needing more nodes aborted with the reason), and cleanup does not sit silently
waiting for the namespace controller."""

from __future__ import annotations

import json
import textwrap
import uuid
from pathlib import Path

import pytest
import yaml

from scanner import cli
from scanner.clusters import base, toolchain
from tests import scenario_files

pytestmark = pytest.mark.cluster


def test_scan_of_a_missing_namespace_is_incomplete(cluster: base.ClusterHandle,
                                                   namespace: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    context = str(yaml.safe_load(cluster.kubeconfig.read_text())["current-context"])
    args = ["scan", "--kubeconfig", str(cluster.kubeconfig)]
    assert cli.main([*args, "-n", "does-not-exist"]) == 3
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].startswith(f"Scanned context {context} (https://127.0.0.1:")
    assert lines[0].endswith("), namespace does-not-exist")
    flat = " ".join(out.split())
    assert f"namespace does-not-exist does not exist in context {context}" in flat
    assert "Nothing to scan: no workloads or pods in namespace does-not-exist." in flat
    assert "No drift findings" not in out
    assert "exit code 3" in err
    # A typo of an existing namespace gets the closest name.
    typo = namespace[:-1] + ("x" if namespace[-1] != "x" else "y")
    assert cli.main([*args, "-n", typo, "--format", "json"]) == 3
    report = json.loads(capsys.readouterr().out)
    assert report["summary"]["complete"] is False
    assert report["source"]["server"].startswith("https://127.0.0.1:")
    assert report["gaps"][0]["reason"].startswith(
        f"namespace {typo} does not exist in context {context}; did you mean '{namespace}'?")
    # The namespace that exists (and is empty) is complete: exit 0, and it says so.
    assert cli.main([*args, "-n", namespace]) == 0
    out, _ = capsys.readouterr()
    assert f"Nothing to scan: no workloads or pods in namespace {namespace}." in out
    assert "INCOMPLETE" not in out


ONE_NODE = scenario_files.CLEAN_RUN


def test_scenario_run_uses_a_running_cluster_as_it_is(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    if not toolchain.ready():
        pytest.fail(f"cluster binaries missing: run `{toolchain.build_command()}`")
    monkeypatch.setenv("DRIFTSCAN_STATE_DIR", str(tmp_path / "state"))
    for var in ("DRIFTSCAN_KUBECONFIG", "DRIFTSCAN_REGISTRY", "KUBECONFIG"):
        monkeypatch.delenv(var, raising=False)
    name = f"reuse-{uuid.uuid4().hex[:6]}"
    args = ["--provider", "kwok", "--name", name]
    assert cli.main(["cluster", "up", *args, "--nodes", "2"]) == 0
    capsys.readouterr()
    try:
        small, small_name = scenario_files.write(tmp_path, ONE_NODE)
        big_dir = tmp_path / "big"
        big_dir.mkdir()
        big, big_name = scenario_files.write(big_dir, "requires: {nodes: 3}\n"
                                      + textwrap.dedent(ONE_NODE))
        out_dir = tmp_path / "out"
        code = cli.main(["scenario", "run", "--file", str(small), "--file", str(big),
                         *args, "--out", str(out_dir)])
        printed = capsys.readouterr()
        assert code == 2, printed.out + printed.err  # one scenario was aborted
        assert (f"kwok cluster '{name}' is already running with 2 nodes: used as it is, no "
                "node added (scenarios that need more nodes are aborted)") in printed.err
        journal = json.loads((out_dir / "journal.json").read_text())
        first, second = journal["scenarios"]
        assert first["passed"] is True
        # The namespace controller's work is not waited for: cleanup takes well under
        # the seconds it needs.
        assert first["cleanup"]["namespace_deleted"] is True
        assert first["cleanup"]["namespace_gone"] is None
        assert first["cleanup"]["duration_s"] < 3, first["cleanup"]
        assert second["name"] == big_name and second["status"] == "aborted"
        assert second["error"]["message"] == (
            f"needs at least 3 schedulable nodes; the cluster has 2 (cluster '{name}' was "
            "already running and is used as it is; stop it (driftscan cluster down) so the "
            "run starts one with enough nodes, or start it with --nodes 3)")
        state = json.loads((tmp_path / "state" / "clusters" / name / "state.json").read_text())
        assert len(state["nodes"]) == 2  # nothing added
        assert cli.main(["cluster", "status", *args]) == 0
        assert "kwok-node-2" not in capsys.readouterr().out
    finally:
        assert cli.main(["cluster", "down", *args]) == 0
    assert "stopped in" in capsys.readouterr().err
