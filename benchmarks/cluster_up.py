"""How long the kwok test cluster takes to start and stop on this machine.

Runs ``driftscan cluster up`` / ``cluster down`` (the real CLI, in fresh processes) a few
times with 3 and with 100 fake nodes and prints the wall times side by side. Target: a
warm ``cluster up`` is ready in under 30 s.

    .venv/bin/python benchmarks/cluster_up.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    driftscan = str(Path(sys.executable).with_name("driftscan"))
    with tempfile.TemporaryDirectory(prefix="driftscan-bench-") as state:
        env = {**os.environ, "DRIFTSCAN_STATE_DIR": state}
        print(f"{'nodes':>5} {'cluster up s (median)':>22} {'max':>6} {'cluster down s':>15}")
        for nodes in (3, 100):
            ups, downs = [], []
            for _ in range(args.repeat):
                base = [driftscan, "cluster"]
                opts = ["--provider", "kwok", "--name", "bench-up"]
                ups.append(timed([*base, "up", *opts, "--nodes", str(nodes)], env))
                downs.append(timed([*base, "down", *opts], env))
            print(f"{nodes:>5} {statistics.median(ups):>22.1f} {max(ups):>6.1f} "
                  f"{statistics.median(downs):>15.1f}")
        print("target: cluster up ready in < 30 s")


if __name__ == "__main__":
    main()
