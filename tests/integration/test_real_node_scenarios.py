"""A library scenario on real nodes, through the CLI: pods on real nodes, add-node starts a
real node and cleanup removes it, the fake nodes' taints are lifted, nothing is left.

Skipped, with the reason, where real nodes cannot run (not root, no containerd, …).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from scanner import cli
from scanner.clusters import kwok, realnode
from scanner.scenarios import kubeapi, realnodes

pytestmark = pytest.mark.cluster

_missing = realnode.missing_prerequisites()
if _missing:
    pytest.skip(f"real nodes cannot run here: {'; '.join(_missing)}", allow_module_level=True)


def test_a_scenario_with_add_node_runs_on_real_nodes(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFTSCAN_STATE_DIR", str(tmp_path / "state"))
    name = f"pytest-rs-{os.getpid()}"
    out = tmp_path / "out"
    provider = kwok.KwokProvider(name)
    try:
        code = cli.main(["scenario", "run", "retag-new-node", "--provider", "kwok",
                         "--real-nodes", "3", "--name", name, "--keep-cluster",
                         "--out", str(out)])
        journal = json.loads((out / "journal.json").read_text())
        (scenario,) = journal["scenarios"]
        assert code == 0, scenario.get("error")
        assert scenario["passed"] and scenario["node_types"] == ["real"]
        (added,) = scenario["cleanup"]["nodes_removed"]
        kube = kubeapi.Kube(provider.dir / "kubeconfig")
        try:
            nodes = {n["metadata"]["name"]: n for n in kube.nodes()}
        finally:
            kube.close()
        assert added not in nodes
        state = json.loads((provider.dir / "state.json").read_text())
        assert added not in [n["name"] for n in realnode.load(state)]
        assert not [p for p in state["processes"] if p["name"].endswith(added)]
        for node in nodes.values():
            taints = node.get("spec", {}).get("taints") or []
            assert not [t for t in taints if t.get("key") == realnodes.TAINT_KEY], node
        assert sorted(realnodes.node_type(n) for n in nodes.values()).count("real") == 3
        real = realnode.load(state)
    finally:
        provider.down(lambda _m: None)
    for node in real:
        assert realnode.leftovers(node, ()) == []
        assert not Path(node["dir"]).exists()
