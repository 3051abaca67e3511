"""Offline benchmark: ``driftscan scan --from`` a 10,000-pod dump beside a bare ``json.load``.

Writes a ``kubectl get … -A -o json``-shaped dump (tests/kubedump.fleet, indented like
kubectl's output: Deployments with their ReplicaSets, pods, Services and nodes; a
quarter drifting) unless ``--dump FILE`` names one, then times whole processes,
interleaved, median of ``--repeat`` rounds:

* ``driftscan scan --from DUMP --format json``  (read, decode, parse, graph, detect, report)
* ``python -c 'json.load(open(DUMP))'``          (the baseline: decoding the file, nothing else)
* ``driftscan --help``                           (start-up: what every command pays)

Targets: the scan within 4× the baseline; ``--help`` within 0.2 s.
``--before DIR`` adds the same scan run from another source tree (e.g. ``git archive main``).

    make bench                                   # runs this among the benchmarks
    .venv/bin/python benchmarks/scan_offline.py --pods 2000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import measure  # noqa: E402

TARGET_RATIO = 4.0
TARGET_HELP_S = 0.2
PODS_PER_WORKLOAD = 2.75  # the fleet's mix: 4, 3, 2 and 2 pods


def write_fleet(path: Path, pods: int) -> None:
    from tests import kubedump

    path.write_text(json.dumps(kubedump.fleet(round(pods / PODS_PER_WORKLOAD)), indent=4))


def offline(dump: Path, repeat: int, before: Path | None = None) -> dict[str, measure.Result]:
    """Scan ``dump`` beside a bare ``json.load`` of it (and ``driftscan --help``)."""
    scan = ("scan", "--from", str(dump), "--format", "json", "-o", os.devnull)
    commands = {
        "driftscan scan --from DUMP --format json": measure.driftscan(*scan),
        "python -c json.load(DUMP)": measure.Command(
            [sys.executable, "-c", f"import json; json.load(open({str(dump)!r}))"]),
        "driftscan --help": measure.driftscan("--help"),
    }
    if before is not None:
        commands["  before: driftscan scan --from DUMP"] = measure.driftscan(*scan, code=before)
        commands["  before: driftscan --help"] = measure.driftscan("--help", code=before)
    return measure.interleaved(commands, repeat)


def verdict(results: dict[str, measure.Result]) -> bool:
    """Print whether the offline targets are met."""
    ratio = (results["driftscan scan --from DUMP --format json"].wall
             / results["python -c json.load(DUMP)"].wall)
    help_s = results["driftscan --help"].wall
    ok = ratio <= TARGET_RATIO and help_s <= TARGET_HELP_S
    print(f"target: scan --from ≤ {TARGET_RATIO:.0f}× json.load ({ratio:.2f}×), "
          f"--help ≤ {TARGET_HELP_S} s ({help_s:.2f} s): {'met' if ok else 'MISSED'}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--dump", type=Path, help="scan this dump instead of a fleet")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--before", type=Path, metavar="DIR",
                        help="also time the scan from this source tree (holding scanner/)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="driftscan-bench-") as tmp:
        dump = args.dump
        if dump is None:
            dump = Path(tmp) / "fleet.json"
            write_fleet(dump, args.pods)
        size = dump.stat().st_size / 1e6
        results = offline(dump.resolve(), args.repeat, args.before)
    measure.table(results, "python -c json.load(DUMP)",
                  f"offline: {dump.name} ({size:.0f} MB); median of {args.repeat} rounds")
    return 0 if verdict(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
