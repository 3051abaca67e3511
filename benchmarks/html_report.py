"""HTML report benchmark: render time and file size for a 2,000-workload report, beside JSON.

Builds a ``kubectl get -o json`` dump of 2,000 Deployments (tests/kubedump.fleet: a quarter
drifting on a re-pushed tag behind their Service, a quarter mid-rollout over three
revisions, a quarter on a versioned tag, a quarter pinned), runs the real pipeline
(dump source → graph → detectors → scoring → report model) once, then renders the same
model as JSON and as HTML ``--repeat`` times and prints the median time and the size of
each, and the time to seal it (the sha256 of its canonical body, which every scan
computes). Targets for HTML: under 2 s and under 10 MB.

    make bench                                          # runs this among the benchmarks
    .venv/bin/python benchmarks/html_report.py --workloads 500
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scanner import detectors, graph  # noqa: E402
from scanner.report import building, html, integrity, json_format  # noqa: E402
from scanner.report import document as report_model  # noqa: E402
from scanner.sources import dump  # noqa: E402
from tests import kubedump  # noqa: E402

TARGET_SECONDS = 2.0
TARGET_BYTES = 10 * 1024 * 1024


def build_report(workloads: int) -> tuple[report_model.Report, float, int]:
    """The report for a fleet dump, how long the scan took, and how many pods it holds."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fleet.json"
        path.write_text(json.dumps(kubedump.fleet(workloads)))
        start = time.perf_counter()
        snapshot = dump.load([str(path)])
        g = graph.build(snapshot)
        report = building.build(snapshot, g, detectors.detect(snapshot, g), detectors.RULES)
        return report, time.perf_counter() - start, len(snapshot.pods)


def measure(render: Callable[[], str], repeat: int) -> tuple[float, int]:
    """Median seconds over ``repeat`` renders, and the size of the output in bytes."""
    times = []
    text = ""
    for _ in range(repeat):
        start = time.perf_counter()
        text = render()
        times.append(time.perf_counter() - start)
    return statistics.median(times), len(text.encode("utf-8"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    report, scan_s, pods = build_report(args.workloads)
    html.render(report)  # warm: template compilation happens once per process
    json_s, json_bytes = measure(lambda: json_format.render(report), args.repeat)
    html_s, html_bytes = measure(lambda: html.render(report), args.repeat)
    # Sealing (every scan does it): the canonical body's sha256, beside the JSON it covers.
    seal_s, _ = measure(lambda: integrity.seal(report).integrity.digest,  # type: ignore[union-attr]
                        args.repeat)
    flagged = report.summary.with_findings

    print(f"report: {report.summary.workloads} workloads ({flagged} with findings), "
          f"{pods} pods; scan from dump {scan_s:.2f} s")
    print(f"{'renderer':<10}{'median time':>14}{'size':>14}")
    print(f"{'json':<10}{json_s:>12.3f} s{json_bytes / 1e6:>11.2f} MB")
    print(f"{'html':<10}{html_s:>12.3f} s{html_bytes / 1e6:>11.2f} MB")
    print(f"{'seal':<10}{seal_s:>12.3f} s{'(digest)':>14}   {seal_s / json_s:.1f}× json render")
    ok = html_s < TARGET_SECONDS and html_bytes < TARGET_BYTES
    print(f"html target < {TARGET_SECONDS:.0f} s and < {TARGET_BYTES / 2**20:.0f} MB: "
          f"{'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
