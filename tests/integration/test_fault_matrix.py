"""Fault matrix: Toxiproxy between driftscan and the kwok cluster's real apiserver and
registry; each fault × (`scan`, `scan --registry-check`, `pin`, the scenario scan step).

Every cell asserts the exit-code contract (``scanner.exits``): a result reported as
complete (exit 0/1, ``summary.complete``) equals the fault-free baseline; an incomplete
one says so (exit 3, gaps); an error is one ``error:`` line (and its hint), no traceback,
nothing written. And every cell ends by its deadline. The faults a healthy network
survives (latency, slicing) must give exactly the baseline; the ones that break the
connection (reset, stall, truncation) must never give it. Measured outcomes and times
are appended to ``$DRIFTSCAN_FAULT_LOG`` (JSON lines) when set; docs/reliability.md
shows them.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from scanner import cli, errors
from scanner.clusters import base
from scanner.oci import synthetic
from scanner.scenarios import running, targets
from tests.integration import kubeutil as ku
from tests.integration import toxiproxy

pytestmark = [pytest.mark.cluster,
              pytest.mark.skipif(not toxiproxy.BINARY.exists(),
                                 reason="toxiproxy-server not built: run `make cluster-tools`")]

REQUEST_TIMEOUT = 5.0
"""``--request-timeout`` for the CLI cells, so stalled cells end quickly."""
REGISTRY_TIMEOUT = 10.0
"""The registry client's per-request deadline during ``--registry-check`` and ``pin``."""
SLACK = 5.0

FAULTS: dict[str, tuple[str, dict[str, int], str]] = {
    # name: (toxic type, attributes, expected: "survive" | "break" | "either")
    "latency": ("latency", {"latency": 700, "jitter": 100}, "survive"),
    "bandwidth": ("bandwidth", {"rate": 1}, "either"),  # 1 KB/s
    "reset_peer": ("reset_peer", {"timeout": 0}, "break"),
    "timeout": ("timeout", {"timeout": 0}, "break"),  # stalls: no data, never closes
    "slicer": ("slicer", {"average_size": 64, "size_variation": 32, "delay": 2000},
               "survive"),
    "limit_data": ("limit_data", {"bytes": 100}, "break"),  # cut inside the first answer
}


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[toxiproxy.Toxiproxy]:
    with toxiproxy.running(tmp_path_factory.mktemp("toxiproxy") / "server.log") as server:
        yield server


@pytest.fixture(scope="module")
def world(cluster: base.ClusterHandle, kube: client.ApiClient, proxy: toxiproxy.Toxiproxy,
          tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A namespace with a workload whose image is reached through the registry proxy, and
    a kubeconfig whose apiserver is reached through the apiserver proxy."""
    folder = tmp_path_factory.mktemp("faults")
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    server = config["clusters"][0]["cluster"]["server"]
    scheme, _, address = server.partition("://")
    api_proxy = proxy.proxy("apiserver", address)
    reg_proxy = proxy.proxy("registry", cluster.registry)
    config["clusters"][0]["cluster"]["server"] = f"{scheme}://{api_proxy}"
    kubeconfig = folder / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))

    # The registry proxy is another address: the same credentials, under its name too.
    docker = folder / "docker"
    docker.mkdir()
    auths = {}
    if cluster.docker_config is not None:
        auths = json.loads((cluster.docker_config / "config.json").read_text())["auths"]
        auths[reg_proxy] = auths[cluster.registry]
    (docker / "config.json").write_text(json.dumps({"auths": auths}))
    saved = os.environ.get("DOCKER_CONFIG")
    os.environ["DOCKER_CONFIG"] = str(docker)

    namespace = f"faults-{os.getpid()}"
    core = client.CoreV1Api(kube)
    core.create_namespace({"metadata": {"name": namespace,
                                        "labels": {"created-by": "driftscan-tests"}}})
    repo = f"{namespace}/web"
    digest = synthetic.push_image(cluster.registry, repo, "1.0",
                                  synthetic.build_image(f"{namespace}-1"))
    apps = client.AppsV1Api(kube)
    # Pods pull from the registry itself (the image-pull emulator knows only that address);
    # a second, idle Deployment names the image through the proxy, so `--registry-check`
    # resolves a tag through it and `pin` rewrites a manifest that names it.
    apps.create_namespaced_deployment(namespace, ku.deployment(
        "web", f"{cluster.registry}/{repo}:1.0", 2, policy="IfNotPresent"))
    image = f"{reg_proxy}/{repo}:1.0"
    apps.create_namespaced_deployment(namespace, ku.deployment("idle", image, 0))
    ku.wait_for("2 pods", ku.running_with_image_ids(kube, namespace, "app=web", 2))
    manifest = folder / "web.yaml"
    manifest.write_text(yaml.safe_dump(ku.deployment("web", image, 2)))
    try:
        yield {"kubeconfig": kubeconfig, "namespace": namespace, "manifest": manifest,
               "digest": digest, "image": image, "cluster": cluster}
    finally:
        core.delete_namespace(namespace, grace_period_seconds=0)
        if saved is None:
            os.environ.pop("DOCKER_CONFIG", None)
        else:
            os.environ["DOCKER_CONFIG"] = saved


def _cli(capsys: pytest.CaptureFixture[str], args: list[str]) -> tuple[int, str, str, float]:
    started = time.monotonic()
    code = cli.main(args)
    elapsed = time.monotonic() - started
    out = capsys.readouterr()
    return code, out.out, out.err, elapsed


def _record(fault: str, command: str, outcome: str, code: int | None, elapsed: float) -> None:
    log = os.environ.get("DRIFTSCAN_FAULT_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"fault": fault, "command": command, "outcome": outcome,
                                     "exit": code, "seconds": round(elapsed, 1)}) + "\n")


def _judge(fault: str, command: str, code: int, out: str, err: str, elapsed: float,
           baseline: tuple[int, Any], deadline: float) -> None:
    """The contract every cell meets; see the module docstring."""
    assert "Traceback" not in err and "Traceback" not in out
    assert elapsed <= deadline, f"{fault} × {command}: {elapsed:.1f}s > {deadline:.0f}s"
    expected = FAULTS[fault][2]
    if code in (0, 1):
        report = json.loads(out)
        assert report["summary"]["complete"] is True and report["gaps"] == []
        assert (code, _essence(report)) == baseline, f"{fault} × {command}: differs"
        outcome = "survived (complete, same as without the fault)"
    elif code == 3:
        report = json.loads(out)
        assert report["summary"]["complete"] is False and report["gaps"]
        outcome = "incomplete (exit 3, gaps name it)"
    else:
        assert code == 2, f"{fault} × {command}: exit {code}"
        lines = [line for line in err.splitlines() if line.strip()]
        assert lines and lines[0].startswith("error: ") and len(lines) <= 2, err
        assert out == "", "an error must not print a result"
        outcome = "refused (exit 2, one line)"
    if expected == "survive":
        assert code == baseline[0] and outcome.startswith("survived"), f"{fault} × {command}"
    if expected == "break":
        assert not outcome.startswith("survived"), f"{fault} × {command} looked complete"
    _record(fault, command, outcome, code, elapsed)


def _essence(report: Any) -> Any:
    return sorted((w["kind"], w["name"], sorted(f["rule"] for f in w["findings"]))
                  for w in report["workloads"])


SCAN_COMMANDS = {
    "scan": ("apiserver", lambda w: ["scan", "--kubeconfig", str(w["kubeconfig"]), "-n",
                                     w["namespace"], "--format", "json", "--fail-on", "high",
                                     "--request-timeout", f"{REQUEST_TIMEOUT:g}s"],
             REQUEST_TIMEOUT * 2 + SLACK),
    "scan --registry-check": (
        "registry", lambda w: ["scan", "--kubeconfig", str(w["cluster"].kubeconfig), "-n",
                               w["namespace"], "--format", "json", "--fail-on", "high",
                               "--registry-check"],
        REGISTRY_TIMEOUT * 2 + SLACK),
}


@pytest.fixture(scope="module")
def baselines(world: dict[str, Any]) -> dict[str, tuple[int, Any]]:
    found = {}
    for command, (_, argv, _) in SCAN_COMMANDS.items():
        code = cli.main([*argv(world), "-o", str(world["manifest"].with_suffix(".json"))])
        report = json.loads(world["manifest"].with_suffix(".json").read_text())
        assert report["summary"]["complete"], f"baseline {command} is incomplete"
        found[command] = (code, _essence(report))
    return found


@pytest.mark.parametrize("command", list(SCAN_COMMANDS))
@pytest.mark.parametrize("fault", list(FAULTS))
def test_scan_under_fault(fault: str, command: str, world: dict[str, Any],
                          proxy: toxiproxy.Toxiproxy, baselines: dict[str, tuple[int, Any]],
                          capsys: pytest.CaptureFixture[str]) -> None:
    target, argv, deadline = SCAN_COMMANDS[command]
    kind, attributes, _ = FAULTS[fault]
    with proxy.toxic(target, kind, **attributes):
        code, out, err, elapsed = _cli(capsys, argv(world))
    _judge(fault, command, code, out, err, elapsed, baselines[command], deadline)


@pytest.mark.parametrize("fault", list(FAULTS))
def test_pin_under_fault(fault: str, world: dict[str, Any], proxy: toxiproxy.Toxiproxy,
                         tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = tmp_path / "web.yaml"
    original = world["manifest"].read_text()
    manifest.write_text(original)
    kind, attributes, expected = FAULTS[fault]
    with proxy.toxic("registry", kind, **attributes):
        code, out, err, elapsed = _cli(capsys, ["pin", str(manifest), "--write"])
    assert "Traceback" not in err
    assert elapsed <= REGISTRY_TIMEOUT * 2 + SLACK
    if code == 0:
        assert f"{world['image']}@{world['digest']}" in manifest.read_text()
        outcome = "survived (pinned to the right digest)"
    else:
        # One line, then one indented line per image that did not resolve, and the hint.
        lines = err.strip().splitlines()
        assert code == 2 and lines[0].startswith("error: ")
        assert all(line.startswith("  ") for line in lines[1:]), err
        assert manifest.read_text() == original, "a failed pin must write nothing"
        outcome = "refused (exit 2, one line, nothing written)"
    if expected == "survive":
        assert code == 0
    if expected == "break":
        assert code == 2
    _record(fault, "pin --write", outcome, code, elapsed)


@pytest.mark.parametrize("fault", list(FAULTS))
def test_scenario_scan_step_under_fault(fault: str, world: dict[str, Any],
                                        proxy: toxiproxy.Toxiproxy) -> None:
    """The scan step at its default deadline (30 s): the hung-apiserver figure."""
    handle = world["cluster"]
    target = targets.Target(base.ClusterHandle(
        name=handle.name, provider=handle.provider, kubeconfig=world["kubeconfig"],
        registry=handle.registry, state_dir=handle.state_dir))
    kind, attributes, expected = FAULTS[fault]
    started = time.monotonic()
    with proxy.toxic("apiserver", kind, **attributes):
        try:
            report = running.live_scan(target, world["namespace"])
        except errors.DriftscanError as e:
            elapsed = time.monotonic() - started
            assert "\n" not in e.message
            code, outcome = 2, "step failed (scenario failed, exit 2), one line"
        else:
            elapsed = time.monotonic() - started
            code = 3 if report.gaps else 0
            outcome = ("incomplete (exit 3)" if report.gaps
                       else "survived (complete)")
    # A broken or stalled apiserver is given up on within the 30 s request deadline; a slow
    # but working one (1 KB/s) may take longer in all, each request within its deadline.
    bound = 35.0 if expected == "break" else 120.0
    assert elapsed <= bound, f"{fault}: the scan step took {elapsed:.1f}s"
    if expected == "survive":
        assert code == 0
    if expected == "break":
        assert code != 0
    _record(fault, "scenario scan step", outcome, code, elapsed)
