"""Scale benchmark: driftscan scan -A beside a bare fetch of the same LISTs, on a kwok cluster.

Fills a kwok cluster (100 fake nodes) with Deployments × 50 running replicas
(benchmarks/bulk_fill.py: written straight through the API, every pod Running with a
registry imageID), then times whole processes, interleaved (one of each per round, so
load from elsewhere hits them alike), median of ``--repeat`` rounds:

* ``driftscan scan -A --format json``              (the full scan + report)
* ``bare_list.py`` with ``json.loads``               (the floor: single-threaded paginated
  fetch + decode of the same ten LISTs, nothing else) — the baseline
* ``bare_list.py --orjson``                          (the same floor with orjson)
* ``kubectl get pods,rs,deploy -A -o json`` and the seed one-liner's jsonpath half

``--deployments 200,1000`` grows the same cluster in steps and measures at each (10,000
then 50,000 pods), then compares the scan's time at the last step with the first's.
At the first step it also saves ``kubectl get … -A -o json`` of the cluster and times
``scan --from`` it beside a bare ``json.load`` (benchmarks/scan_offline.py), and
``driftscan --help``. Targets: the scan ≤ 1.3× the baseline with peak RSS ≤ 150 MB at
10,000 pods; linear growth (the time × pods ratio ≤ 1.1 × the pods ratio); offline ≤ 4×
json.load; ``--help`` ≤ 0.2 s. ``--before DIR`` adds the same scans run from another
source tree (``git archive main scanner | tar -x -C DIR``) for before/after figures.

    make bench                       # or: .venv/bin/python benchmarks/scan_scale.py
    .venv/bin/python benchmarks/scan_scale.py --deployments 200,1000 --no-kubectl  # 10k, 50k
    .venv/bin/python benchmarks/scan_scale.py --deployments 40 --replicas 25   # smaller
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import bulk_fill, measure, scan_offline  # noqa: E402
from scanner.clusters import kwok, toolchain  # noqa: E402

TARGET_RATIO = 1.3
TARGET_RSS_MB = 150
TARGET_RSS_PODS = 10_000  # the memory target is set for 10,000 pods
TARGET_LINEARITY = 1.1  # the scan's time may grow 1.1× as fast as the pods
SCAN = "driftscan scan -A --format json"
BARE = "bare fetch + json.loads (baseline)"
DUMP_KINDS = "pods,rs,deploy,sts,ds,jobs,cronjobs,svc,nodes,controllerrevisions"


def count_pods(api: bulk_fill.Api, digest: str) -> tuple[int, int]:
    """How many pods exist, and how many run with the image's imageID."""
    pods = pulled = 0
    for pod in api.items("/api/v1/pods"):
        pods += 1
        status = pod.get("status", {})
        if status.get("phase") == "Running" and all(
                s.get("imageID", "").endswith(digest)
                for s in status.get("containerStatuses", [{}])):
            pulled += 1
    return pods, pulled


def _steps(text: str) -> list[int]:
    steps = [int(part) for part in text.split(",")]
    if any(b <= a for a, b in zip(steps, steps[1:], strict=False)) or steps[0] < 1:
        raise argparse.ArgumentTypeError("give growing counts, e.g. 200,1000")
    return steps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", type=_steps, default=[200], metavar="N[,N…]",
                        help="Deployments to measure at, growing the cluster (default 200)")
    parser.add_argument("--replicas", type=int, default=50)
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--namespaces", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--before", type=Path, metavar="DIR",
                        help="also time the scans from this source tree (holding scanner/)")
    parser.add_argument("--no-kubectl", action="store_true", help="skip the kubectl columns")
    parser.add_argument("--no-offline", action="store_true", help="skip the dump scan")
    parser.add_argument("--keep-cluster", action="store_true",
                        help="leave the cluster running (reused by the next run)")
    args = parser.parse_args()

    provider = kwok.KwokProvider("bench", ready_delay_ms=0)
    print(f"starting kwok cluster 'bench' with {args.nodes} nodes", file=sys.stderr)
    handle = provider.up(args.nodes, say=lambda m: print(f"  {m}", file=sys.stderr))
    kubectl = str(toolchain.locate_all(("kubectl",))["kubectl"])
    config = str(handle.kubeconfig)
    env = {**os.environ, "KUBECONFIG": config}
    api = bulk_fill.Api(handle.kubeconfig)
    scan = ("scan", "--kubeconfig", config, "-A", "--format", "json", "-o", os.devnull)
    bare = [sys.executable, str(ROOT / "benchmarks" / "bare_list.py"), config]
    commands = {
        SCAN: measure.driftscan(*scan),
        BARE: measure.Command(bare),
        "bare fetch + orjson.loads": measure.Command([*bare, "--orjson"]),
    }
    if args.before is not None:
        commands[f"  before: {SCAN}"] = measure.driftscan(*scan, code=args.before)
    if not args.no_kubectl:
        commands["kubectl get pods,rs,deploy -A -o json"] = measure.Command(
            [kubectl, "get", "pods,replicasets,deployments", "-A", "-o", "json"])
        commands["kubectl get pods -A -o jsonpath={..imageID}"] = measure.Command(
            [kubectl, "get", "pods", "-A", "-o",
             "jsonpath={.items[*].status.containerStatuses[*].imageID}"])
    ok = True
    scan_walls: dict[int, float] = {}
    growth: dict[int, tuple[float, float]] = {}  # pods: (scan CPU s, baseline wall s)
    try:
        filled = 0
        for step, deployments in enumerate(args.deployments):
            print(f"filling to {deployments} Deployments × {args.replicas}", file=sys.stderr)
            digest = bulk_fill.fill(provider, handle, filled, deployments, args.replicas,
                                    args.namespaces)
            filled = deployments
            pods, pulled = count_pods(api, digest)
            results = measure.interleaved(commands, args.repeat, env)
            measure.table(results, BARE, f"live: {pods} pods ({pulled} running with the"
                          f" registry imageID), {deployments} Deployments, {args.nodes} nodes;"
                          f" median of {args.repeat} rounds")
            scan_walls[pods] = results[SCAN].wall
            growth[pods] = (results[SCAN].cpu, results[BARE].wall)
            ratio = results[SCAN].wall / results[BARE].wall
            rss = results[SCAN].rss_mb
            met = ratio <= TARGET_RATIO and (pods > TARGET_RSS_PODS or rss <= TARGET_RSS_MB)
            print(f"target: scan ≤ {TARGET_RATIO}× the bare fetch ({ratio:.2f}×)"
                  + (f", peak RSS ≤ {TARGET_RSS_MB} MB ({rss:.0f} MB)"
                     if pods <= TARGET_RSS_PODS else "")
                  + f": {'met' if met else 'MISSED'}")
            ok = ok and met
            if step == 0 and not args.no_offline:
                ok = _offline(kubectl, env, args.repeat, args.before) and ok
        if len(scan_walls) > 1:
            (first_pods, first), (last_pods, last) = (min(scan_walls.items()),
                                                      max(scan_walls.items()))
            allowed = TARGET_LINEARITY * last_pods / first_pods
            met = last / first <= allowed
            print(f"\ntarget: the scan at {last_pods} pods ≤ {allowed:.1f}× its time at"
                  f" {first_pods} ({last:.2f} s / {first:.2f} s = {last / first:.2f}×):"
                  f" {'met' if met else 'MISSED'}")
            # Beside it, what the apiserver did: the bare fetch's own growth, and the
            # scan's CPU (its own work, without the waits).
            print(f"  the bare fetch grew {growth[last_pods][1] / growth[first_pods][1]:.2f}×,"
                  f" the scan's CPU {growth[last_pods][0] / growth[first_pods][0]:.2f}×")
            ok = ok and met
        return 0 if ok else 1
    finally:
        if not args.keep_cluster:
            provider.down(lambda m: print(f"  {m}", file=sys.stderr))


def _offline(kubectl: str, env: dict[str, str], repeat: int, before: Path | None) -> bool:
    with tempfile.TemporaryDirectory(prefix="driftscan-bench-") as tmp:
        dump = Path(tmp) / "cluster.json"
        with dump.open("wb") as out:
            subprocess.run([kubectl, "get", DUMP_KINDS, "-A", "-o", "json"], env=env,
                           check=True, stdout=out)
        offline = scan_offline.offline(dump, repeat, before)
        measure.table(offline, "python -c json.load(DUMP)",
                      f"offline: the cluster's dump ({dump.stat().st_size / 1e6:.0f} MB)")
        return scan_offline.verdict(offline)


if __name__ == "__main__":
    raise SystemExit(main())
