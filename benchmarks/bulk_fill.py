"""Fill a kwok cluster with running Deployments quickly, for the scale benchmark.

Going through the controllers and the image-pull emulator settles about 5 pods a second
on a loaded machine: 50,000 pods would take hours. This writes the objects those
components would have written, concurrently, straight through the API:

* each Deployment, then its ReplicaSet (owned by it, the Deployment's template plus a
  ``pod-template-hash`` label, selector and name suffix, revision annotations), then the
  ReplicaSet's pods (owned by it, bound to the kwok nodes round-robin with ``nodeName``,
  carrying the emulator's ``pull.driftscan.io`` verdict so the emulator leaves them be);
* each pod's status through the ``/status`` subresource, as KWOK's ``pod-ready`` Stage
  writes it: Running, Ready, the container running with the registry imageID.

While it writes, kube-controller-manager is stopped so the Deployment and ReplicaSet
controllers cannot race it: otherwise the Deployment controller would create a
ReplicaSet of its own and the ReplicaSet controller pods of its own. Started again, they
find a ReplicaSet that matches each Deployment's template and exactly the pods it wants,
and only write the Deployments' and ReplicaSets' status — the objects a real cluster
has after a rollout. :func:`wait_settled` waits for that.
"""

from __future__ import annotations

import datetime
import hashlib
import itertools
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import bare_list  # noqa: E402
from scanner.clusters import base, kwok, processes, stages  # noqa: E402
from scanner.oci import client, credentials, synthetic  # noqa: E402

# Alphabet of Kubernetes' generated name suffixes and template hashes (no vowels).
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_REPOSITORY = "bench/app"
_WORKERS = 12


def _encoded(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, digit = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[digit])
    return "".join(chars)


def _template_hash(name: str) -> str:
    return _encoded(int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big"), 10)


class Api:
    """JSON requests to the cluster in the kubeconfig (thread-safe: urllib3's pool)."""

    def __init__(self, kubeconfig: Path) -> None:
        self.server, self.pool, self.headers = bare_list.connect(str(kubeconfig))
        self.pool.connection_pool_kw["maxsize"] = _WORKERS

    def call(self, method: str, path: str, body: Any = None, *,
             content_type: str = "application/json", ok: tuple[int, ...] = ()) -> Any:
        headers = {**self.headers, "Content-Type": content_type}
        data = orjson.dumps(body) if body is not None else None
        response = self.pool.request(method, self.server + path, body=data, headers=headers,
                                     redirect=False, retries=False)
        if response.status in ok:
            return None
        if response.status >= 300:
            raise SystemExit(f"{method} {path}: HTTP {response.status}:"
                             f" {response.data[:300].decode(errors='replace')}")
        return orjson.loads(response.data)

    def items(self, collection: str) -> Iterator[dict[str, Any]]:
        """Every object of ``collection``, 500 a page."""
        token = ""
        while True:
            query = f"?limit=500{'&continue=' + token if token else ''}"
            page = self.call("GET", collection + query)
            yield from page["items"]
            token = page["metadata"].get("continue") or ""
            if not token:
                return


@contextmanager
def controllers_stopped(provider: kwok.KwokProvider) -> Iterator[None]:
    """Stop the cluster's kube-controller-manager for the block, then start it again.

    A fresh start, rather than a pause: each controller waits until its caches hold every
    object before it acts, so none acts on a partial view (a paused one would resume on
    stale caches and create a ReplicaSet beside the one written here).
    """
    state = provider._load_state() or {}  # noqa: SLF001 - the benchmark owns this cluster
    entry = next((p for p in state.get("processes", [])
                  if p["name"] == "kube-controller-manager"), None)
    old = processes.Process.from_json(entry) if entry is not None else None
    if old is None or not processes.alive(old):
        raise SystemExit("kube-controller-manager of the bench cluster is not running")
    argv = [part.decode() for part in
            Path(f"/proc/{old.pid}/cmdline").read_bytes().split(b"\0") if part]
    processes.stop(old)
    try:
        yield
    finally:
        with processes.signals_held():  # recorded before anything can interrupt
            new = processes.start(old.name, argv, Path(old.log).parent)
            state = provider._load_state() or {}  # noqa: SLF001
            state["processes"] = [new.to_json() if p["name"] == old.name else p
                                  for p in state.get("processes", [])]
            provider._save(state)  # noqa: SLF001


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Filler:
    """Writes Deployments ``svc-NNN`` (``replicas`` pods each) into ``bench-*`` namespaces."""

    def __init__(self, api: Api, registry: str, digest: str, replicas: int,
                 namespaces: int) -> None:
        self.api = api
        self.image = f"{registry}/{_REPOSITORY}:v1"
        self.image_id = f"{registry}/{_REPOSITORY}@{digest}"
        self.replicas = replicas
        self.namespaces = namespaces
        nodes = [n for n in api.items("/api/v1/nodes")
                 if n["metadata"].get("annotations", {}).get(kwok.NODE_ANNOTATION) == "fake"]
        if not nodes:
            raise SystemExit("the bench cluster has no kwok nodes")
        self.nodes = [(n["metadata"]["name"], _internal_ip(n)) for n in nodes]
        self._pod_numbers = itertools.count()

    def namespaces_exist(self) -> None:
        for n in range(self.namespaces):
            self.api.call("POST", "/api/v1/namespaces",
                          {"apiVersion": "v1", "kind": "Namespace",
                           "metadata": {"name": f"bench-{n}"}}, ok=(409,))

    def deployment(self, number: int) -> None:
        """Create Deployment ``number``, its ReplicaSet and its running pods."""
        name = f"svc-{number:03d}"
        namespace = f"bench-{number % self.namespaces}"
        labels = {"app": name}
        template_spec = {"containers": [{"name": "app", "image": self.image}]}
        created = self.api.call("POST", f"/apis/apps/v1/namespaces/{namespace}/deployments", {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": self.replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": template_spec}},
        })
        pod_hash = _template_hash(name)
        rs_name = f"{name}-{pod_hash}"
        rs_labels = {**labels, "pod-template-hash": pod_hash}
        max_surge = -(-self.replicas // 4)  # the default maxSurge, 25% rounded up
        rs = self.api.call("POST", f"/apis/apps/v1/namespaces/{namespace}/replicasets", {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {
                "name": rs_name, "namespace": namespace, "labels": rs_labels,
                "annotations": {
                    "deployment.kubernetes.io/desired-replicas": str(self.replicas),
                    "deployment.kubernetes.io/max-replicas": str(self.replicas + max_surge),
                    "deployment.kubernetes.io/revision": "1",
                },
                "ownerReferences": [_owner("apps/v1", "Deployment", created)],
            },
            "spec": {"replicas": self.replicas, "selector": {"matchLabels": rs_labels},
                     "template": {"metadata": {"labels": rs_labels}, "spec": template_spec}},
        })
        owner = _owner("apps/v1", "ReplicaSet", rs)
        for _ in range(self.replicas):
            self._pod(namespace, rs_name, rs_labels, owner)

    def _pod(self, namespace: str, rs_name: str, labels: dict[str, str],
             owner: dict[str, Any]) -> None:
        number = next(self._pod_numbers)
        node, host_ip = self.nodes[number % len(self.nodes)]
        name = f"{rs_name}-{_encoded(number, 5)}"
        path = f"/api/v1/namespaces/{namespace}/pods"
        self.api.call("POST", path, {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": name, "namespace": namespace, "labels": labels,
                "annotations": {stages.ANNOTATION_STATE: "done",
                                stages.ANNOTATION_IMAGE_ID + "app": self.image_id},
                "ownerReferences": [owner],
            },
            "spec": {"nodeName": node, "containers": [{"name": "app", "image": self.image}]},
        })
        now = _now()
        pod_ip = f"10.{number >> 16 & 255}.{number >> 8 & 255}.{number & 255}"
        conditions = [{"type": kind, "status": "True", "lastTransitionTime": now}
                      for kind in ("Initialized", "Ready", "ContainersReady", "PodScheduled")]
        self.api.call("PATCH", f"{path}/{name}/status", {"status": {
            "phase": "Running", "conditions": conditions, "startTime": now,
            "hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
            "podIP": pod_ip, "podIPs": [{"ip": pod_ip}],
            "containerStatuses": [{
                "name": "app", "image": self.image, "imageID": self.image_id,
                "ready": True, "started": True, "restartCount": 0,
                "state": {"running": {"startedAt": now}},
            }],
        }}, content_type="application/merge-patch+json")


def _owner(api_version: str, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    return {"apiVersion": api_version, "kind": kind, "name": meta["name"], "uid": meta["uid"],
            "controller": True, "blockOwnerDeletion": True}


def _internal_ip(node: dict[str, Any]) -> str:
    for address in node.get("status", {}).get("addresses", []):
        if address.get("type") == "InternalIP":
            return str(address["address"])
    return "10.255.0.1"


def fill(provider: kwok.KwokProvider, handle: base.ClusterHandle, first: int, last: int,
         replicas: int, namespaces: int) -> str:
    """Deployments ``first`` … ``last - 1`` with ``replicas`` running pods each.

    Returns the digest the pods' imageIDs end with.
    """
    docker_config = credentials.load_docker_config(
        handle.docker_config / "config.json" if handle.docker_config is not None else None)
    registry = client.client_for(handle.registry, docker_config=docker_config)
    digest = synthetic.push_image(registry, _REPOSITORY, "v1", synthetic.build_image("bench-v1"))
    api = Api(handle.kubeconfig)
    filler = Filler(api, handle.registry, digest, replicas, namespaces)
    filler.namespaces_exist()
    started = time.monotonic()
    with controllers_stopped(provider), ThreadPoolExecutor(_WORKERS) as pool:
        for done, _ in enumerate(pool.map(filler.deployment, range(first, last)), start=1):
            if done % 50 == 0 or done == last - first:
                print(f"  {done}/{last - first} Deployments written with their pods"
                      f" ({time.monotonic() - started:.0f}s)", file=sys.stderr)
    wait_settled(api, last, replicas, started)
    return digest


def wait_settled(api: Api, deployments: int, replicas: int, started: float,
                 timeout_s: float = 900) -> None:
    """Wait (up to ``timeout_s`` from now) until the controllers report every Deployment
    rolled out and available; ``started`` is when the fill began, for the progress lines.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        ready = sum(
            1 for d in api.items("/apis/apps/v1/deployments")
            if d["metadata"]["name"].startswith("svc-")
            and d.get("status", {}).get("observedGeneration") == d["metadata"]["generation"]
            and d["status"].get("updatedReplicas") == replicas
            and d["status"].get("availableReplicas") == replicas)
        print(f"  {ready}/{deployments} Deployments rolled out and available"
              f" ({time.monotonic() - started:.0f}s)", file=sys.stderr)
        if ready >= deployments:
            return
        if time.monotonic() > deadline:
            raise SystemExit("the controllers did not settle the Deployments in time")
        time.sleep(5)
