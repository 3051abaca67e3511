"""`driftscan cluster up|status|env|down` on the kwok provider, through the CLI entry point.

Starts a second, separate kwok cluster (it does not use the shared session cluster), so
it proves start-up from nothing and a clean stop: no process or listening port left.
"""

from __future__ import annotations

import json
import socket
import stat
from pathlib import Path

import pytest

from scanner import cli
from scanner.clusters import processes, toolchain

pytestmark = pytest.mark.cluster


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DRIFTSCAN_STATE_DIR", str(tmp_path))
    return tmp_path


def _needs_tools() -> None:
    if not toolchain.ready():
        pytest.fail(f"cluster binaries missing: run `{toolchain.build_command()}`")


def test_up_status_env_down_leaves_nothing_behind(
        state_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _needs_tools()
    args = ["--provider", "kwok", "--name", "lifecycle"]
    assert cli.main(["cluster", "up", *args, "--nodes", "2"]) == 0
    out = capsys.readouterr()
    assert "ready in" in out.err
    cluster_dir = state_dir / "clusters" / "lifecycle"
    state = json.loads((cluster_dir / "state.json").read_text())
    procs = [processes.Process.from_json(p) for p in state["processes"]]
    assert {p.name for p in procs} == {"etcd", "registry", "kube-apiserver",
                                       "kube-controller-manager", "kube-scheduler", "kwok",
                                       "image-pull-emulator"}
    ports = state["ports"]
    assert all(processes.port_open(ports[k]) for k in ("etcd", "apiserver", "registry"))
    assert f"export KUBECONFIG={cluster_dir / 'kubeconfig'}" in out.out
    assert f"export DRIFTSCAN_REGISTRY=127.0.0.1:{ports['registry']}" in out.out
    # The registry's credentials: private, and exported for docker and driftscan.
    assert f"export DOCKER_CONFIG={cluster_dir / 'docker'}" in out.out
    assert (cluster_dir / "docker" / "config.json").stat().st_mode & 0o777 == 0o600
    assert (cluster_dir / "registry.htpasswd").stat().st_mode & 0o777 == 0o600

    # Idempotent: a second `up` reuses the running cluster (same pids).
    assert cli.main(["cluster", "up", *args, "--nodes", "2"]) == 0
    assert "already running" in capsys.readouterr().err
    again = json.loads((cluster_dir / "state.json").read_text())
    assert [p["pid"] for p in again["processes"]] == [p.pid for p in procs]

    assert cli.main(["cluster", "status", *args]) == 0
    status = capsys.readouterr().out
    for name in ("etcd", "kube-apiserver", "kwok", "image-pull-emulator"):
        assert f"{name}" in status
    assert "stopped" not in status and "ready=yes" in status

    assert cli.main(["cluster", "env", *args]) == 0
    assert "DRIFTSCAN_REGISTRY" in capsys.readouterr().out

    assert cli.main(["cluster", "down", *args]) == 0
    assert not any(processes.alive(p) for p in procs)
    assert not any(processes.port_open(port) for port in ports.values())
    assert not cluster_dir.exists()
    # Down again is a no-op, and env now says the cluster is not running (exit 2).
    assert cli.main(["cluster", "down", *args]) == 0
    assert cli.main(["cluster", "env", *args]) == 2
    assert "not running" in capsys.readouterr().err
    # status of a stopped cluster says so and exits 3, so scripts can tell.
    assert cli.main(["cluster", "status", *args]) == 3
    out = capsys.readouterr()
    assert "cluster                  stopped  not created" in out.out
    assert out.err == ("cluster lifecycle is not running; start it: driftscan cluster up"
                       " --provider kwok --name lifecycle\n")


def test_missing_binaries_name_the_build_command(
        state_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("DRIFTSCAN_TOOLS_BIN", raising=False)
    monkeypatch.setenv("DRIFTSCAN_TOOLS_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(toolchain, "checkout_root", lambda: None)
    assert cli.main(["cluster", "up", "--provider", "kwok", "--name", "nobin"]) == 2
    err = capsys.readouterr().err
    assert "the kwok cluster needs etcd, kube-apiserver" in err
    assert "cluster tools`" in err and "--provider kind" in err and "Traceback" not in err
    assert not (state_dir / "clusters" / "nobin").exists()


def test_a_component_that_dies_shows_its_log_tail(
        state_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    _needs_tools()
    tools = tmp_path / "bin"
    tools.mkdir()
    for name, path in toolchain.locate_all().items():
        (tools / name).symlink_to(path)
    broken = tools / "kube-apiserver"
    broken.unlink()
    broken.write_text("#!/bin/sh\necho 'E0101 bad flag: --simulated-failure' >&2\nexit 1\n")
    broken.chmod(broken.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("DRIFTSCAN_TOOLS_BIN", str(tools))

    assert cli.main(["cluster", "up", "--provider", "kwok", "--name", "dies"]) == 2
    err = capsys.readouterr().err
    assert "kube-apiserver exited during start-up" in err
    assert "--simulated-failure" in err  # the tail of its log
    # Everything that did start (etcd, registry) was stopped again.
    left = state_dir / "clusters" / "dies" / "state.json"
    assert not left.exists()


def test_a_port_in_use_is_named_and_nothing_is_left_running(
        state_dir: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    _needs_tools()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # Another program grabs the port between the free-port probe and the start.
        monkeypatch.setattr(processes, "free_port", lambda: port)
        assert cli.main(["cluster", "up", "--provider", "kwok", "--name", "busy"]) == 2
    err = capsys.readouterr().err
    assert f"port 127.0.0.1:{port} is in use" in err and "Traceback" not in err
    assert not (state_dir / "clusters" / "busy" / "state.json").exists()
