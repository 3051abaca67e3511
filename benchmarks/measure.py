"""Wall time and peak RSS of whole processes, measured interleaved (shared by the benchmarks).

Commands run in rounds: each round runs every command once, in turn, so load from
anything else on the machine hits all of them alike; the median wall time and the
largest peak RSS over the rounds are reported.
"""

from __future__ import annotations

import compileall
import json
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# A fork of a (large) benchmark process would report that process's RSS as the
# child's peak (the kernel keeps the pre-exec high-water mark), so every command is
# started from a tiny launcher that measures it with wait4.
_LAUNCHER = """
import json, os, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    fd = os.open(os.devnull, os.O_WRONLY)
    os.dup2(fd, 1)
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(json.dumps({"wall": time.perf_counter() - start, "rss_kb": usage.ru_maxrss,
                  "cpu": usage.ru_utime + usage.ru_stime,
                  "code": os.waitstatus_to_exitcode(status)}))
"""


@dataclass
class Command:
    """One process to time: its argv, extra environment, and the exit codes that are fine."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    ok: tuple[int, ...] = (0, 1, 3)  # scan: 1 = findings at --fail-on, 3 = gaps


@dataclass(frozen=True)
class Result:
    wall: float
    """Median wall seconds."""
    cpu: float
    """Median user + system CPU seconds."""
    rss_mb: float
    """Largest peak RSS over the rounds."""


def run_once(command: Command, env: dict[str, str]) -> tuple[float, float, float]:
    """(wall s, CPU s, peak RSS MB) of one run of ``command``."""
    # From "/", so that no checkout in the working directory shadows the code under test.
    done = subprocess.run([sys.executable, "-c", _LAUNCHER, *command.argv], cwd="/",
                          env={**env, **command.env}, capture_output=True, check=True)
    result = json.loads(done.stdout.decode().strip().splitlines()[-1])
    if result["code"] not in command.ok:
        raise SystemExit(f"{' '.join(command.argv[:3])} failed ({result['code']}):"
                         f" {done.stderr.decode()[-800:]}")
    return result["wall"], result["cpu"], result["rss_kb"] / 1024


def interleaved(commands: dict[str, Command], repeat: int,
                env: dict[str, str] | None = None) -> dict[str, Result]:
    """Run every command ``repeat`` times, one of each per round.

    Each round starts one command further along, so every command takes every place in
    turn: the place matters against a live apiserver (the same 10,000-pod scan took
    1.6 s last in a round and 2.7 s first in one, with the same CPU).
    """
    env = env if env is not None else dict(os.environ)
    runs: dict[str, list[tuple[float, float, float]]] = {label: [] for label in commands}
    labels = list(commands)
    for round_ in range(repeat):
        start = round_ % len(labels)
        for label in labels[start:] + labels[:start]:
            runs[label].append(run_once(commands[label], env))
        print(f"  round {round_ + 1}/{repeat} done", file=sys.stderr)
    return {label: Result(statistics.median(r[0] for r in rs),
                          statistics.median(r[1] for r in rs), max(r[2] for r in rs))
            for label, rs in runs.items()}


def driftscan(*args: str, code: Path | None = None) -> Command:
    """``driftscan ARGS`` from this checkout, or from the source tree ``code`` (a "before").

    The tree's modules are compiled to bytecode first, as ``pip install`` does: a
    checkout run with ``PYTHONDONTWRITEBYTECODE`` set would compile every module it
    imports again on each start (about 50 ms), which an installed tool never does.
    """
    compileall.compile_dir(str((code or ROOT) / "scanner"), quiet=1)
    if code is None:
        return Command([str(Path(sys.executable).with_name("driftscan")), *args])
    script = "import sys; from scanner.cli import main; sys.exit(main())"
    return Command([sys.executable, "-c", script, *args], env={"PYTHONPATH": str(code)})


def table(results: dict[str, Result], base: str, title: str) -> None:
    """Print ``results`` with each wall time as a multiple of ``base``'s."""
    base_wall = results[base].wall
    print(f"\n{title}")
    print(f"{'command':<52} {'wall s':>7} {'CPU s':>7} {'× base':>7} {'peak RSS MB':>12}")
    for label, r in results.items():
        print(f"{label:<52} {r.wall:>7.2f} {r.cpu:>7.2f} {r.wall / base_wall:>7.2f}"
              f" {r.rss_mb:>12.0f}")
