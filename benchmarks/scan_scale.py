"""Scale benchmark: driftscan scan -A beside a bare fetch of the same LISTs, on a kwok cluster.

Fills a kwok cluster (100 fake nodes) with 200 Deployments × 50 replicas, waits until every
pod runs with a registry imageID, then times whole processes, interleaved (one of each
per round, so load from elsewhere hits them alike), median of ``--repeat`` rounds:

* ``driftscan scan -A --format json``              (the full scan + report)
* ``bare_list.py`` with ``json.loads``               (the floor: single-threaded paginated
  fetch + decode of the same ten LISTs, nothing else) — the baseline
* ``bare_list.py --orjson``                          (the same floor with orjson)
* ``kubectl get pods,rs,deploy -A -o json`` and the seed one-liner's jsonpath half

then saves ``kubectl get … -A -o json`` of the cluster and times ``scan --from`` it beside
a bare ``json.load`` (benchmarks/scan_offline.py), and ``driftscan --help``.
Targets: the scan ≤ 1.3× the baseline with peak RSS ≤ 150 MB; offline ≤ 4× json.load;
``--help`` ≤ 0.2 s. ``--before DIR`` adds the same scans run from another source tree
(``git archive main scanner | tar -x -C DIR``) for before/after figures.

    make bench                       # or: .venv/bin/python benchmarks/scan_scale.py
    .venv/bin/python benchmarks/scan_scale.py --deployments 1000   # 50,000 pods
    .venv/bin/python benchmarks/scan_scale.py --deployments 40 --replicas 25   # smaller
    .venv/bin/python benchmarks/scan_scale.py --scheduled-only   # time once pods are bound
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import measure, scan_offline  # noqa: E402
from scanner.clusters import base, kwok, toolchain  # noqa: E402
from scanner.oci import synthetic  # noqa: E402

TARGET_RATIO = 1.3
TARGET_RSS_MB = 150
SCAN = "driftscan scan -A --format json"
BARE = "bare fetch + json.loads (baseline)"
DUMP_KINDS = "pods,rs,deploy,sts,ds,jobs,cronjobs,svc,nodes,controllerrevisions"


def kubectl_json(kubectl: str, env: dict[str, str], *args: str) -> dict:
    out = subprocess.run([kubectl, *args, "-o", "json"], env=env, check=True,
                         capture_output=True).stdout
    return json.loads(out)


def fill(handle: base.ClusterHandle, kubectl: str, env: dict[str, str], deployments: int,
         replicas: int, namespaces: int, wait_minutes: float, need_image_ids: bool = True
         ) -> str:
    """Create the Deployments; wait until every pod runs with an imageID, or (without
    ``need_image_ids``) until every pod exists and is bound to a node.

    Returns the digest the pods' imageIDs end with once pulled.
    """
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
        scheduled, pulled = count_pods(pods, digest)
        print(f"  {len(pods)}/{want} pods exist, {scheduled} on a node, {pulled} running with"
              f" imageID ({time.monotonic() - started:.0f}s)", file=sys.stderr)
        if (pulled if need_image_ids else scheduled) >= want:
            return digest
        if time.monotonic() - started > wait_minutes * 60:
            raise SystemExit(f"pods did not all start within {wait_minutes:g} minutes"
                             " (--keep-cluster and run again to keep waiting)")
        time.sleep(10)


def count_pods(pods: list[dict], digest: str) -> tuple[int, int]:
    """How many pods are bound to a node, and how many run with the image's imageID."""
    scheduled = pulled = 0
    for pod in pods:
        if not pod.get("spec", {}).get("nodeName"):
            continue
        scheduled += 1
        status = pod.get("status", {})
        if status.get("phase") == "Running" and all(
                s.get("imageID", "").endswith(digest)
                for s in status.get("containerStatuses", [{}])):
            pulled += 1
    return scheduled, pulled


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", type=int, default=200)
    parser.add_argument("--replicas", type=int, default=50)
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--namespaces", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--before", type=Path, metavar="DIR",
                        help="also time the scans from this source tree (holding scanner/)")
    parser.add_argument("--no-kubectl", action="store_true", help="skip the kubectl columns")
    parser.add_argument("--no-offline", action="store_true", help="skip the dump scan")
    parser.add_argument("--wait-minutes", type=float, default=15,
                        help="how long to wait for every pod to run with an imageID")
    parser.add_argument("--scheduled-only", action="store_true",
                        help="time the scans once every pod exists on a node, without waiting"
                             " for the image-pull emulator (KWOK marks a pod Running only once"
                             " its pulls are done); the output says how many pods had an"
                             " imageID")
    parser.add_argument("--keep-cluster", action="store_true",
                        help="leave the cluster running (reused by the next run)")
    args = parser.parse_args()

    provider = kwok.KwokProvider("bench", ready_delay_ms=0)
    print(f"starting kwok cluster 'bench' with {args.nodes} nodes", file=sys.stderr)
    handle = provider.up(args.nodes, say=lambda m: print(f"  {m}", file=sys.stderr))
    kubectl = str(toolchain.locate_all(("kubectl",))["kubectl"])
    config = str(handle.kubeconfig)
    env = {**os.environ, "KUBECONFIG": config}
    try:
        digest = fill(handle, kubectl, env, args.deployments, args.replicas, args.namespaces,
                      args.wait_minutes, need_image_ids=not args.scheduled_only)
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
        _, pulled_before = count_pods(kubectl_json(kubectl, env, "get", "pods", "-A")["items"],
                                      digest)
        results = measure.interleaved(commands, args.repeat, env)
        _, pulled_after = count_pods(kubectl_json(kubectl, env, "get", "pods", "-A")["items"],
                                     digest)
        pods = args.deployments * args.replicas
        measure.table(results, BARE, f"live: {pods} pods, {args.deployments} Deployments,"
                      f" {args.nodes} nodes; median of {args.repeat} rounds")
        print(f"pods running with an imageID: {pulled_before}/{pods} before the rounds,"
              f" {pulled_after}/{pods} after")
        ratio = results[SCAN].wall / results[BARE].wall
        ok = ratio <= TARGET_RATIO and results[SCAN].rss_mb <= TARGET_RSS_MB
        print(f"target: scan ≤ {TARGET_RATIO}× the bare fetch ({ratio:.2f}×), peak RSS ≤"
              f" {TARGET_RSS_MB} MB ({results[SCAN].rss_mb:.0f} MB): {'met' if ok else 'MISSED'}")
        if not args.no_offline:
            with tempfile.TemporaryDirectory(prefix="driftscan-bench-") as tmp:
                dump = Path(tmp) / "cluster.json"
                with dump.open("wb") as handle_:
                    subprocess.run([kubectl, "get", DUMP_KINDS, "-A", "-o", "json"], env=env,
                                   check=True, stdout=handle_)
                offline = scan_offline.offline(dump, args.repeat, args.before)
                measure.table(offline, "python -c json.load(DUMP)",
                              f"offline: the cluster's dump ({dump.stat().st_size / 1e6:.0f} MB)")
                ok = scan_offline.verdict(offline) and ok
        return 0 if ok else 1
    finally:
        if not args.keep_cluster:
            provider.down(lambda m: print(f"  {m}", file=sys.stderr))


if __name__ == "__main__":
    raise SystemExit(main())
