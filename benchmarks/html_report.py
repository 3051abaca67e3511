"""HTML report benchmark: size, write time, peak RSS and time to paint, beside the JSON renderer.

For each size (default 2,000, 10,000 and 50,000 workloads) it builds a ``kubectl get -o
json`` dump with tests/kubedump.fleet (a quarter of the Deployments drifting on a
re-pushed tag behind their Service, a quarter mid-rollout over three revisions, a
quarter on a versioned tag, a quarter pinned), runs the real pipeline once (dump source →
graph → detectors → scoring → report model) and saves the report as JSON. Then, in turns
so both see the same machine load, a fresh process per run loads that JSON report (as
``driftscan report`` does) and writes it as JSON or as HTML; the run's write time, output
size and peak RSS are taken in that process (the peak is reset after loading, so it is
the process at its largest while writing). Finally headless Chromium (the DevTools
harness in tests/e2e/chromium.py) opens the HTML page and reports its first contentful
paint and load event. The largest size is also written as a report directory (``-o
DIR/``) and its index opened.

Targets at 10,000 workloads: ≤ 10 MB, ≤ 3 s to write and ≤ 1.5× the JSON renderer,
≤ 300 MB peak RSS, ≤ 3 s to paint; the largest size must write and open.

    make bench                                          # runs this among the benchmarks
    .venv/bin/python benchmarks/html_report.py --workloads 2000 --repeat 1
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scanner import detectors, graph  # noqa: E402
from scanner.report import building, html, html_directory, integrity, json_format  # noqa: E402
from scanner.report import reading as loading  # noqa: E402
from scanner.sources import dump  # noqa: E402
from tests import kubedump  # noqa: E402
from tests.e2e import chromium  # noqa: E402

TARGET_AT = 10_000
TARGET_BYTES = 10 * 1000 * 1000
TARGET_WRITE_S = 3.0
TARGET_RATIO = 1.5
TARGET_RSS_MB = 300.0
TARGET_PAINT_S = 3.0


# --- the child: load a saved report, write it once, measure --------------------------------


def _status(field: str) -> float:
    """A ``/proc/self/status`` figure in MB (VmRSS, VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def child(fmt: str, report_json: str, out: str) -> None:
    """Load the report, write it as ``fmt`` to ``out``, print the figures as JSON."""
    start = time.perf_counter()
    report = loading.read(report_json)
    load_s = time.perf_counter() - start
    gc.collect()
    base = _status("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM: the peak from here on
    start = time.perf_counter()
    if fmt == "html":
        html.write(report, out)
    elif fmt == "html-dir":
        html_directory.write(report, out)
    else:
        Path(out).write_text(json_format.render(report), encoding="utf-8")
    write_s = time.perf_counter() - start
    target = Path(out)
    size = (sum(p.stat().st_size for p in target.iterdir()) if target.is_dir()
            else target.stat().st_size)
    print(json.dumps({"load_s": load_s, "write_s": write_s, "bytes": size,
                      "rss_before_mb": base, "peak_mb": _status("VmHWM"),
                      "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


# --- the parent --------------------------------------------------------------------------------


@dataclass
class Runs:
    """Figures of the runs of one renderer on one report."""

    write_s: list[float]
    bytes: int = 0
    peak_mb: float = 0.0
    before_mb: float = 0.0

    def add(self, figures: dict[str, float]) -> None:
        self.write_s.append(figures["write_s"])
        self.bytes = int(figures["bytes"])
        self.peak_mb = max(self.peak_mb, figures["peak_mb"])
        self.before_mb = figures["rss_before_mb"]

    @property
    def median_s(self) -> float:
        return statistics.median(self.write_s)


def build_report(workloads: int, folder: Path) -> tuple[Path, int, int, float, float]:
    """Scan a fleet dump and save the report: (report path, pods, workloads with findings,
    scan seconds, seconds to seal it — the canonical body's sha256 every scan computes)."""
    path = folder / f"fleet-{workloads}.json"
    path.write_text(json.dumps(kubedump.fleet(workloads)))
    start = time.perf_counter()
    snapshot = dump.load([str(path)])
    g = graph.build(snapshot)
    report = building.build(snapshot, g, detectors.detect(snapshot, g), detectors.RULES)
    scan_s = time.perf_counter() - start
    start = time.perf_counter()
    report = integrity.seal(report)
    seal_s = time.perf_counter() - start
    saved = folder / f"report-{workloads}.json"
    saved.write_text(json_format.render(report), encoding="utf-8")
    path.unlink()
    return saved, len(snapshot.pods), report.summary.with_findings, scan_s, seal_s


def run_child(fmt: str, report_json: Path, out: Path) -> dict[str, float]:
    done = subprocess.run([sys.executable, __file__, "--child", fmt, str(report_json), str(out)],
                          capture_output=True, text=True, check=True)
    figures: dict[str, float] = json.loads(done.stdout.splitlines()[-1])
    return figures


PAINT = """(() => {
  const fcp = performance.getEntriesByName("first-contentful-paint")[0];
  const nav = performance.getEntriesByType("navigation")[0];
  return {fcp: fcp ? fcp.startTime / 1000 : null, load: nav.loadEventEnd / 1000};
})()"""


def paint(exe: str, page: Path, repeat: int) -> tuple[float | None, float]:
    """Median first contentful paint and load event (seconds from navigation) in Chromium."""
    fcps, loads = [], []
    for _ in range(repeat):
        with chromium.DevTools(exe, width=1400, height=1000) as browser:
            browser.open(page.as_uri())
            figures = browser.evaluate(PAINT)
        if figures["fcp"] is not None:
            fcps.append(figures["fcp"])
        loads.append(figures["load"])
    return (statistics.median(fcps) if fcps else None), statistics.median(loads)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--workloads", type=int, nargs="+", default=[2000, 10_000, 50_000])
    parser.add_argument("--repeat", type=int, default=3,
                        help="writes per renderer and size, taken in turns (median shown)")
    parser.add_argument("--child", nargs=3, metavar=("FORMAT", "REPORT", "OUT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return 0
    exe = chromium.binary()
    if exe is None:
        print("Chromium is missing: apt-get install -y chromium (make browser)", file=sys.stderr)
        return 2

    ok = True
    print(f"{'workloads':>9} {'pods':>7} {'in full':>7} {'renderer':<9}{'size':>10}"
          f"{'write (median)':>16}{'peak RSS':>10}{'RSS loaded':>11}{'first paint':>12}"
          f"{'load event':>11}")
    with tempfile.TemporaryDirectory(prefix="driftscan-bench-") as tmp:
        folder = Path(tmp)
        for n in args.workloads:
            report_json, pods, flagged, scan_s, seal_s = build_report(n, folder)
            runs = {"json": Runs([]), "html": Runs([])}
            outs = {"json": folder / f"out-{n}.json", "html": folder / f"out-{n}.html"}
            for _ in range(args.repeat):
                for fmt in ("json", "html"):
                    runs[fmt].add(run_child(fmt, report_json, outs[fmt]))
            detailed = _detailed(report_json)
            fcp, load = paint(exe, outs["html"], args.repeat)
            for fmt in ("json", "html"):
                r = runs[fmt]
                shown = (f"{fcp:>10.2f} s{load:>9.2f} s" if fmt == "html" and fcp is not None
                         else f"{'–':>12}{'–':>11}")
                print(f"{n:>9} {pods:>7} {detailed if fmt == 'html' else '':>7} {fmt:<9}"
                      f"{r.bytes / 1e6:>7.2f} MB{r.median_s:>14.2f} s{r.peak_mb:>7.0f} MB"
                      f"{r.before_mb:>8.0f} MB{shown}", flush=True)
            ratio = runs["html"].median_s / runs["json"].median_s
            print(f"{'':>9} {flagged} with findings; scan from dump {scan_s:.1f} s; seal "
                  f"(digest) {seal_s:.2f} s; HTML write / JSON write = {ratio:.2f}", flush=True)
            if n == TARGET_AT:
                h = runs["html"]
                painted = fcp if fcp is not None else load
                met = (h.bytes <= TARGET_BYTES and h.median_s <= TARGET_WRITE_S
                       and ratio <= TARGET_RATIO and h.peak_mb <= TARGET_RSS_MB
                       and painted <= TARGET_PAINT_S)
                ok = ok and met
                print(f"{'':>9} targets at {n}: ≤ 10 MB, ≤ 3 s and ≤ 1.5× JSON to write, "
                      f"≤ 300 MB peak RSS, ≤ 3 s to paint: {'met' if met else 'MISSED'}")
            if n == max(args.workloads):
                ok = _directory(exe, report_json, folder / f"dir-{n}") and ok
            for path in (report_json, *outs.values()):
                path.unlink()
    return 0 if ok else 1


def _detailed(report_json: Path) -> int:
    report = loading.read(report_json)
    return sum(html.Detail().choose(report.workloads))


def _directory(exe: str, report_json: Path, out: Path) -> bool:
    """Write the report as a directory and open its index and its biggest page."""
    figures = run_child("html-dir", report_json, out)
    pages = sorted(out.iterdir(), key=lambda p: p.stat().st_size)
    fcp, load = paint(exe, out / html_directory.INDEX, 1)
    big_fcp, big_load = paint(exe, pages[-1], 1)
    print(f"{'':>9} as -o DIR/: {len(pages)} files, {figures['bytes'] / 1e6:.2f} MB in all, "
          f"written in {figures['write_s']:.2f} s, peak RSS {figures['peak_mb']:.0f} MB; "
          f"index painted at {fcp or load:.2f} s; largest page "
          f"({pages[-1].stat().st_size / 1e6:.2f} MB) at {big_fcp or big_load:.2f} s, "
          f"loaded at {big_load:.2f} s")
    return figures["write_s"] > 0 and load > 0


if __name__ == "__main__":
    raise SystemExit(main())
