"""Scale benchmark: `driftscan watch -A` holding 10,000 pods, beside `driftscan scan -A`.

Fills the same kwok cluster as ``scan_scale.py`` (100 fake nodes, 200 Deployments × 50
replicas; ``--scheduled-only`` stops waiting once every pod is bound, without waiting for
the image-pull emulator), times one ``scan -A`` of it, then starts ``driftscan watch -A``
as a process and measures:

* time to ready (the first full list and detection);
* idle CPU over ``--idle-seconds`` (60) while nothing changes but node heartbeats;
* a burst: ``--burst`` (1,000) pods of half the Deployments get another build
  (``status.containerStatuses[].imageID`` patched through the status subresource, as a
  kubelet reports a pull), 8 writers at once; the figure is the time from the last
  write's answer to the moment ``/metrics`` shows one more build for every one of those
  Deployments;
* detection latency: ``--probes`` (30) times, one pod of another Deployment gets another
  build, and the time from the write's answer to ``/metrics`` showing it is taken
  (``/metrics`` polled every 10 ms); p50 and p95;
* peak RSS of the watcher (``VmHWM``).

Targets: peak RSS ≤ 200 MB, idle CPU ≤ 1 % of a core, burst ≤ 2 s.

With ``--scheduled-only`` the image-pull emulator would go on marking pods Running all
through the measurements, so nothing would be idle: it is paused (SIGSTOP) while the
watcher is measured and resumed (SIGCONT) afterwards, and the output says how many pods
had been pulled by then.

    .venv/bin/python benchmarks/watch_scale.py                  # as make bench runs it
    .venv/bin/python benchmarks/watch_scale.py --scheduled-only --keep-cluster
    .venv/bin/python benchmarks/watch_scale.py --deployments 40 --replicas 25   # smaller
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import measure, scan_scale  # noqa: E402
from scanner.clusters import kwok, toolchain  # noqa: E402

TARGET_RSS_MB = 200
TARGET_IDLE_PERCENT = 1.0
TARGET_BURST_S = 2.0
# A build no pod ran before this run (a no-op patch would send no watch event).
OTHER_BUILD = "sha256:" + hashlib.sha256(str(time.time()).encode()).hexdigest()
WRITERS = 8


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _events(url: str) -> dict[str, float]:
    """``driftscan_watch_events_total`` per resource."""
    with urllib.request.urlopen(url, timeout=30) as answer:
        text = answer.read().decode()
    found = {}
    for line in text.splitlines():
        if line.startswith('driftscan_watch_events_total{resource="'):
            resource, value = line.split('"')[1], line.rsplit(" ", 1)[1]
            found[resource] = float(value)
    return found


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _builds(url: str) -> dict[tuple[str, str], float]:
    """(namespace, workload) → builds of container ``app``, from /metrics."""
    with urllib.request.urlopen(url, timeout=30) as answer:
        text = answer.read().decode()
    found = {}
    for line in text.splitlines():
        if line.startswith("driftscan_workload_builds{"):
            labels_text, value = line[len("driftscan_workload_builds{"):].rsplit("} ", 1)
            labels = dict(part.split("=", 1) for part in labels_text.split(","))
            found[(labels["namespace"].strip('"'), labels["workload"].strip('"'))] = \
                float(value)
    return found


def _pull_emulator(state_dir: Path) -> int | None:
    state = json.loads((state_dir / "state.json").read_text())
    return next((int(p["pid"]) for p in state["processes"]
                 if p["name"] == "image-pull-emulator"), None)


def _status_patch(pod: dict[str, Any]) -> dict[str, Any]:
    statuses = json.loads(json.dumps(pod["status"].get("containerStatuses") or []))
    if not statuses:
        name = pod["spec"]["containers"][0]["name"]
        image = pod["spec"]["containers"][0]["image"]
        statuses = [{"name": name, "image": image, "imageID": "", "ready": False,
                     "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}]
    for status in statuses:
        repository = (status.get("imageID") or status["image"]).split("@")[0].split(":")[0]
        status["imageID"] = f"{repository}@{OTHER_BUILD}"
    return {"status": {"containerStatuses": statuses}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", type=int, default=200)
    parser.add_argument("--replicas", type=int, default=50)
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--namespaces", type=int, default=10)
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--probes", type=int, default=30)
    parser.add_argument("--idle-seconds", type=float, default=60)
    parser.add_argument("--wait-minutes", type=float, default=20)
    parser.add_argument("--scheduled-only", action="store_true",
                        help="start once every pod is bound to a node, without waiting for"
                        " the image-pull emulator")
    parser.add_argument("--keep-cluster", action="store_true")
    args = parser.parse_args()

    from kubernetes import client
    from kubernetes import config as kube_config

    provider = kwok.KwokProvider("bench", ready_delay_ms=0)
    print(f"starting kwok cluster 'bench' with {args.nodes} nodes", file=sys.stderr)
    handle = provider.up(args.nodes, say=lambda m: print(f"  {m}", file=sys.stderr))
    if handle.docker_config is not None:
        # The registry takes only the cluster's own user: the push finds it as docker would.
        os.environ["DOCKER_CONFIG"] = str(handle.docker_config)
    kubectl = str(toolchain.locate_all(("kubectl",))["kubectl"])
    config = str(handle.kubeconfig)
    env = {**os.environ, "KUBECONFIG": config}
    watch: subprocess.Popen[str] | None = None
    paused: int | None = None
    try:
        digest = scan_scale.fill(handle, kubectl, env, args.deployments, args.replicas,
                        args.namespaces, args.wait_minutes,
                        need_image_ids=not args.scheduled_only)
        paused = _pull_emulator(handle.state_dir) if args.scheduled_only else None
        if paused is not None:
            os.kill(paused, signal.SIGSTOP)
            time.sleep(5)  # let the last pulls' status updates land
        pods = scan_scale.kubectl_json(kubectl, env, "get", "pods", "-A")["items"]
        _, pulled = scan_scale.count_pods(pods, digest)
        scan = measure.run_once(measure.driftscan(
            "scan", "--kubeconfig", config, "-A", "--format", "json", "-o", os.devnull), env)
        print(f"  scan -A: {scan[0]:.2f} s wall, {scan[1]:.2f} s CPU", file=sys.stderr)

        started = time.monotonic()
        watch = subprocess.Popen(
            [str(Path(sys.executable).with_name("driftscan")), "watch", "-A", "--kubeconfig",
             config, "--listen", "127.0.0.1:0"], stderr=subprocess.PIPE, text=True, cwd="/")
        assert watch.stderr is not None
        url = watch.stderr.readline().strip().rsplit(" ", 1)[-1]
        said: list[str] = []
        stream = watch.stderr
        # Read what it writes as it writes it: a full pipe would block the watcher.
        threading.Thread(target=lambda: said.extend(stream), daemon=True).start()
        ready_url = url.replace("/metrics", "/readyz")
        while True:
            try:
                with urllib.request.urlopen(ready_url, timeout=30):
                    break
            except OSError:
                time.sleep(0.1)
        ready_s = time.monotonic() - started
        print(f"  watch ready in {ready_s:.2f} s", file=sys.stderr)

        # Idle means the cluster is quiet: wait until no object but the nodes' heartbeats
        # has changed for 20 s (the controllers and KWOK may still be catching up).
        settled_at = time.monotonic()
        last = _events(url)
        while time.monotonic() - settled_at < 20:
            time.sleep(2)
            now_events = _events(url)
            if sum(v for k, v in now_events.items() if k != "nodes") != sum(
                    v for k, v in last.items() if k != "nodes"):
                settled_at = time.monotonic()
            last = now_events
            if time.monotonic() - started > args.wait_minutes * 60:
                break
        cpu_before = _cpu_seconds(watch.pid)
        time.sleep(args.idle_seconds)
        idle_percent = 100 * (_cpu_seconds(watch.pid) - cpu_before) / args.idle_seconds
        idle_events = {k: v - last.get(k, 0) for k, v in _events(url).items()
                       if v - last.get(k, 0)}
        print(f"  idle CPU {idle_percent:.2f} % of a core; events meanwhile: {idle_events}",
              file=sys.stderr)

        by_workload: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for pod in pods:
            owner = (pod["metadata"].get("labels") or {}).get("app")
            if owner:
                by_workload[(pod["metadata"]["namespace"], owner)].append(pod)
        workloads = sorted(by_workload)
        burst_set = workloads[: len(workloads) // 2]
        probe_set = workloads[len(workloads) // 2:][: args.probes]
        per = max(1, args.burst // len(burst_set))
        burst_pods = [p for w in burst_set for p in by_workload[w][:per]][: args.burst]
        api = kube_config.new_client_from_config(config_file=config)
        api.configuration.connection_pool_maxsize = WRITERS * 2
        core = client.CoreV1Api(api)

        def write(pod: dict[str, Any]) -> None:
            core.patch_namespaced_pod_status(pod["metadata"]["name"],
                                             pod["metadata"]["namespace"], _status_patch(pod))

        before = _builds(url)
        with concurrent.futures.ThreadPoolExecutor(WRITERS) as writers:
            burst_began = time.monotonic()
            list(writers.map(write, burst_pods))
        last_write = time.monotonic()
        wanted = {(p["metadata"]["namespace"], p["metadata"]["labels"]["app"])
                  for p in burst_pods}
        while True:
            builds = _builds(url)
            if all(builds.get(w, 0) > before.get(w, 0) for w in wanted):
                break
            if time.monotonic() - last_write > 300:
                raise SystemExit("the burst did not show on /metrics within 300 s")
            time.sleep(0.01)
        burst_s = time.monotonic() - last_write
        print(f"  burst of {len(burst_pods)} writes took {last_write - burst_began:.2f} s;"
              f" metrics showed all of it {burst_s:.2f} s after the last", file=sys.stderr)

        latencies = []
        for w in probe_set:
            had = _builds(url).get(w, 0)
            write(by_workload[w][0])
            written = time.monotonic()
            while _builds(url).get(w, 0) <= had:
                if time.monotonic() - written > 120:
                    raise SystemExit(f"{w} did not show on /metrics within 120 s")
                time.sleep(0.01)
            latencies.append(time.monotonic() - written)
        latencies.sort()
        p50 = statistics.median(latencies)
        p95 = latencies[min(len(latencies) - 1, int(round(0.95 * (len(latencies) - 1))))]
        rss = _peak_rss_mb(watch.pid)
        watch.terminate()
        code = watch.wait(timeout=30)
        watch = None

        total = len(pods)
        print(f"\nwatch: {total} pods, {args.deployments} Deployments, {args.nodes} nodes"
              f"; {pulled} running with the image's imageID"
              f"{' (--scheduled-only: pulls paused while measured)' if paused else ''}")
        rows = [
            ("driftscan scan -A --format json (wall s)", f"{scan[0]:.2f}", "—"),
            ("driftscan scan -A --format json (CPU s)", f"{scan[1]:.2f}", "—"),
            ("driftscan scan -A peak RSS (MB)", f"{scan[2]:.0f}", "—"),
            ("watch: ready after the first list (s)", f"{ready_s:.2f}", "—"),
            ("watch: peak RSS (MB)", f"{rss:.0f}", f"≤ {TARGET_RSS_MB}"),
            (f"watch: idle CPU over {args.idle_seconds:g} s (% of a core)",
             f"{idle_percent:.2f}", f"≤ {TARGET_IDLE_PERCENT:g}"),
            (f"watch: burst of {len(burst_pods)} pod changes, last write → metrics (s)",
             f"{burst_s:.2f}", f"≤ {TARGET_BURST_S:g}"),
            (f"watch: detection latency p50 over {len(latencies)} changes (s)",
             f"{p50:.3f}", "—"),
            (f"watch: detection latency p95 over {len(latencies)} changes (s)",
             f"{p95:.3f}", "—"),
            ("watch: exit code on SIGTERM", str(code), "0"),
        ]
        print(f"{'measure':<66} {'value':>9}  target")
        for label, value, target in rows:
            print(f"{label:<66} {value:>9}  {target}")
        ok = (rss <= TARGET_RSS_MB and idle_percent <= TARGET_IDLE_PERCENT
              and burst_s <= TARGET_BURST_S and code == 0)
        print(f"targets: {'met' if ok else 'MISSED'}")
        if said:
            print("the watcher wrote:", *said[:5], sep="\n  ")
        return 0 if ok else 1
    finally:
        if paused is not None:
            os.kill(paused, signal.SIGCONT)
        if watch is not None:
            watch.terminate()
            watch.wait(timeout=30)
        if not args.keep_cluster:
            provider.down(lambda m: print(f"  {m}", file=sys.stderr))


if __name__ == "__main__":
    raise SystemExit(main())
