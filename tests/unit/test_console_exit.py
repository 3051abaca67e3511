"""The ``driftscan`` program ends a scan without freeing its report, output flushed first."""

from __future__ import annotations

import json
import subprocess
import sys

from scanner import cli, exits, heap
from tests.unit import helpers

DUMP = helpers.FIXTURES / "digest-drift" / "fires-repushed-tag.json"


def _program(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "scanner.cli", *args], capture_output=True,
                          check=False, timeout=120)


def test_the_whole_report_reaches_a_pipe_and_the_exit_code_is_the_scans() -> None:
    done = _program("scan", "--from", str(DUMP), "--format", "json")
    report = json.loads(done.stdout)  # every byte flushed before the process ended
    assert report["summary"]["workloads"] > 0
    assert done.returncode == exits.FINDINGS


def test_a_table_to_a_pipe_and_its_warning_arrive_whole() -> None:
    done = _program("scan", "--from", str(DUMP), "--fail-on", "critical")
    assert done.returncode == exits.CLEAN
    assert b"workloads" in done.stdout and done.stdout.endswith(b"\n")


def test_in_process_commands_keep_nothing_for_the_exit() -> None:
    # Tests and programs calling main() free their objects as usual: nothing is left.
    assert cli.main(["scan", "--from", str(DUMP), "--format", "json", "-o",
                     "/dev/null"]) == exits.FINDINGS
    assert not heap.left()
