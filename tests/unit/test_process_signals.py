"""Test-cluster signals and process groups: whole groups stopped, signals held while a
process is started and recorded, SIGHUP treated like SIGTERM."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from scanner import cli
from scanner.clusters import processes


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


def test_stop_ends_the_whole_process_group(tmp_path: Path) -> None:
    # The leader ignores nothing, but its child ignores SIGTERM: only the group kill
    # (and the wait for the group, not the leader) ends it.
    script = tmp_path / "forks.sh"
    script.write_text("#!/bin/sh\n(trap '' TERM; sleep 60) &\necho $! > child.pid\n"
                      "wait\n")
    script.chmod(0o755)
    p = processes.start("forks", [str(script)], tmp_path, cwd=tmp_path)
    pid_file = tmp_path / "child.pid"
    deadline = time.monotonic() + 5
    while not pid_file.exists() or not pid_file.read_text().strip():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    child = int(pid_file.read_text())
    processes.stop(p, timeout=1.0)
    assert _gone(p.pid)
    assert _gone(child), "a forked child outlived stop()"


def test_signals_are_held_until_the_process_is_recorded() -> None:
    seen: list[int] = []
    previous = signal.signal(signal.SIGHUP, lambda signum, frame: seen.append(signum))
    try:
        with processes.signals_held():
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(0.05)
            assert seen == []  # not while the state file does not name the process yet
        assert seen == [signal.SIGHUP]
    finally:
        signal.signal(signal.SIGHUP, previous)


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM])
def test_sighup_and_sigterm_interrupt_a_command_like_ctrl_c(
        sig: signal.Signals, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    def hangup(*args: object, **kwargs: object) -> None:
        os.kill(os.getpid(), sig)
        time.sleep(1)
        raise AssertionError("the signal did not interrupt the command")

    monkeypatch.setattr(cli.cli, "main", hangup)
    assert cli.main(["rules"]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert signal.getsignal(sig) is not cli._interrupt  # handlers restored


def test_sighup_stops_a_scenario_run_like_sigterm() -> None:
    from scanner.scenarios import running

    with pytest.raises(KeyboardInterrupt), running._terminate_as_interrupt():
        os.kill(os.getpid(), signal.SIGHUP)
        time.sleep(1)


def test_start_refuses_a_binary_that_is_not_built(tmp_path: Path) -> None:
    from scanner import errors

    with pytest.raises(errors.ToolMissing, match="make cluster-tools"):
        processes.start("x", [str(tmp_path / "missing")], tmp_path)
