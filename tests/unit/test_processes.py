"""Stopping a cluster's processes signals them all at once, so the slowest one sets the time."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from scanner.clusters import processes

# Exits one second after SIGTERM, as a server finishing its requests would.
SLOW_TO_STOP = 'trap "sleep 1; exit 0" TERM; while :; do sleep 0.05; done'


def test_stop_all_stops_in_parallel(tmp_path: Path) -> None:
    bash = shutil.which("bash")
    assert bash is not None
    procs = [processes.start(f"slow-{i}", [bash, "-c", SLOW_TO_STOP], tmp_path)
             for i in range(3)]
    time.sleep(0.3)  # let the traps be installed
    assert all(processes.alive(p) for p in procs)
    began = time.monotonic()
    processes.stop_all(procs)
    took = time.monotonic() - began
    assert not any(processes.alive(p) for p in procs)
    assert 0.9 <= took < 2.5, took  # one at a time would take 3 s


def test_stop_all_of_nothing_running_returns_at_once(tmp_path: Path) -> None:
    gone = processes.Process("gone", 2**22 + 7, "/bin/true", str(tmp_path / "log"))
    began = time.monotonic()
    processes.stop_all([gone])
    assert time.monotonic() - began < 0.5


def test_kill_all_does_not_wait_for_a_graceful_stop(tmp_path: Path) -> None:
    bash = shutil.which("bash")
    assert bash is not None
    procs = [processes.start(f"slow-{i}", [bash, "-c", SLOW_TO_STOP], tmp_path)
             for i in range(3)]
    time.sleep(0.3)
    began = time.monotonic()
    processes.kill_all(procs)
    assert not any(processes.alive(p) for p in procs)
    # SIGKILL, then the whole group reaped: well under the 5 s a graceful stop may take,
    # with room for a loaded machine.
    assert time.monotonic() - began < 4.0
