"""Scale benchmark: driftscan scan vs kubectl on a kwok cluster holding 10,000 pods.

Fills a kwok cluster (100 fake nodes) with 200 Deployments × 50 replicas, waits until every
pod runs with a registry imageID, then times — side by side, in one run — the wall time
and peak RSS of:

* ``driftscan scan -A --format json``                       (the full scan + report)
* ``kubectl get pods,replicasets,deployments -A -o json``   (just reading the objects)
* the seed one-liner's ``kubectl get pods -A -o jsonpath=…imageID`` half

Each command runs ``--repeat`` times in a fresh process; the median is printed. Targets:
driftscan no slower than 1.0× kubectl, peak RSS under 300 MB.

    make bench                       # or: .venv/bin/python benchmarks/scan_scale.py
    .venv/bin/python benchmarks/scan_scale.py --deployments 40 --replicas 25   # smaller
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scanner.clusters import base, kwok, toolchain  # noqa: E402
from scanner.oci import synthetic  # noqa: E402

# A fork of this (large) benchmark process would report this process's RSS as the
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
                  "code": os.waitstatus_to_exitcode(status)}))
"""


def run_measured(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Run ``argv`` once; return (wall seconds, peak RSS in MB) of that process."""
    done = subprocess.run([sys.executable, "-c", _LAUNCHER, *argv], env=env,
                          capture_output=True, check=True)
    result = json.loads(done.stdout.decode().strip().splitlines()[-1])
    if result["code"] not in (0, 1):  # scan exits 1 when it finds drift at --fail-on
        raise SystemExit(f"{argv[0]} failed ({result['code']}): {done.stderr.decode()[-800:]}")
    return result["wall"], result["rss_kb"] / 1024


def kubectl_json(kubectl: str, env: dict[str, str], *args: str) -> dict:
    out = subprocess.run([kubectl, *args, "-o", "json"], env=env, check=True,
                         capture_output=True).stdout
    return json.loads(out)


def fill(handle: base.ClusterHandle, kubectl: str, env: dict[str, str], deployments: int,
         replicas: int, namespaces: int) -> None:
    """Create the Deployments and wait until every pod runs with an imageID."""
    digest = synthetic.push_image(handle.registry, "bench/app", "v1",
                                 synthetic.build_image("bench-v1"))
    image = f"{handle.registry}/bench/app:v1"
    docs = []
    for n in range(namespaces):
        docs.append({"apiVersion": "v1", "kind": "Namespace",
                     "metadata": {"name": f"bench-{n}"}})
    for d in range(deployments):
        name = f"svc-{d:03d}"
        docs.append({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": f"bench-{d % namespaces}"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "app", "image": image}]}}},
        })
    manifest = "\n".join(json.dumps(doc) for doc in docs)
    subprocess.run([kubectl, "apply", "--server-side", "-f", "-"], input=manifest.encode(),
                   env=env, check=True, capture_output=True)
    want = deployments * replicas
    started = time.monotonic()
    while True:
        pods = kubectl_json(kubectl, env, "get", "pods", "-A")["items"]
        running = sum(1 for p in pods if p.get("status", {}).get("phase") == "Running"
                      and all(s.get("imageID", "").endswith(digest)
                              for s in p["status"].get("containerStatuses", [{}])))
        print(f"  {running}/{want} pods running with imageID "
              f"({time.monotonic() - started:.0f}s)", file=sys.stderr)
        if running >= want:
            return
        if time.monotonic() - started > 900:
            raise SystemExit("pods did not all start within 15 minutes")
        time.sleep(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", type=int, default=200)
    parser.add_argument("--replicas", type=int, default=50)
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--namespaces", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep-cluster", action="store_true",
                        help="leave the cluster running (reused by the next run)")
    args = parser.parse_args()

    provider = kwok.KwokProvider("bench", ready_delay_ms=0)
    print(f"starting kwok cluster 'bench' with {args.nodes} nodes", file=sys.stderr)
    handle = provider.up(args.nodes, say=lambda m: print(f"  {m}", file=sys.stderr))
    kubectl = str(toolchain.locate_all(("kubectl",))["kubectl"])
    env = {**os.environ, "KUBECONFIG": str(handle.kubeconfig)}
    try:
        fill(handle, kubectl, env, args.deployments, args.replicas, args.namespaces)
        driftscan = str(Path(sys.executable).with_name("driftscan"))
        commands = {
            "driftscan scan -A --format json": [driftscan, "scan", "--kubeconfig",
                                                str(handle.kubeconfig), "-A",
                                                "--format", "json", "-o", os.devnull],
            "kubectl get pods,rs,deploy -A -o json": [
                kubectl, "get", "pods,replicasets,deployments", "-A", "-o", "json"],
            "kubectl get pods -A -o jsonpath={..imageID}": [
                kubectl, "get", "pods", "-A", "-o",
                "jsonpath={.items[*].status.containerStatuses[*].imageID}"],
        }
        results: dict[str, tuple[float, float]] = {}
        for label, argv in commands.items():
            runs = [run_measured(argv, env) for _ in range(args.repeat)]
            results[label] = (statistics.median(r[0] for r in runs),
                              max(r[1] for r in runs))
        pods = args.deployments * args.replicas
        base_wall = results["kubectl get pods,rs,deploy -A -o json"][0]
        print(f"\n{pods} pods, {args.deployments} Deployments, {args.nodes} nodes; "
              f"median of {args.repeat} runs")
        print(f"{'command':<48} {'wall s':>8} {'× kubectl':>10} {'peak RSS MB':>12}")
        for label, (wall, rss) in results.items():
            print(f"{label:<48} {wall:>8.2f} {wall / base_wall:>10.2f} {rss:>12.0f}")
        scan_wall, scan_rss = results["driftscan scan -A --format json"]
        verdict = "meets" if scan_wall <= base_wall and scan_rss < 300 else "MISSES"
        print(f"\ntarget (≤1.0× kubectl, <300 MB): driftscan {verdict} it")
    finally:
        if not args.keep_cluster:
            provider.down(lambda m: print(f"  {m}", file=sys.stderr))


if __name__ == "__main__":
    main()
