"""Image-pull emulator: what kubelet + containerd would pull, for pods on KWOK's fake nodes.

KWOK fakes kubelets and pulls nothing, so on its own every pod would run "no build at
all". This controller watches pods bound to nodes and, for each container (init
containers included), decides what containerd would have reported as ``imageID``:

* the pull policy is the pod's (the apiserver already defaulted it: ``Always`` for
  ``:latest`` or no tag, ``IfNotPresent`` otherwise, digest references included);
* each node has an image store keyed by the normalised reference; ``IfNotPresent``
  uses the node's entry when there is one, ``Always`` asks the registry every time and
  moves the node's entry (a node-wide tag, as containerd's), ``Never`` uses the entry or
  fails with ``ErrImageNeverPull``;
* a tag is resolved with a registry manifest HEAD; a digest reference is used as-is;
* a tag that does not exist (or an unreachable registry) leaves the container waiting in
  ``ErrImagePull`` with an empty imageID, and the pod is retried every ``RETRY_S``
  seconds, as kubelet's back-off does, until the tag appears;
* pulls on one node are serialised (kubelet's default ``serializeImagePulls: true``).
* init containers run in order: after one fails to pull, nothing later is pulled and the
  later containers wait in ``PodInitializing``; the waiting reason is kubelet's
  (``ErrImagePull``, ``ErrImageNeverPull``, ``InvalidImageName``);
* a digest reference is reported (``image``) by a tag the node holds at that digest, else
  by the image's id (its config digest), as containerd names images;
* pods on nodes labelled ``driftscan.io/node-type=real`` are left alone: a real kubelet
  pulls for them.

Measured against kubelet v1.36 + containerd 1.6 (tests/integration/test_real_node.py,
docs/cluster.md "emulator vs kubelet/containerd"); what still differs is listed there.

The verdict is written as pod annotations (see ``stages``) and KWOK's Stages turn it into
``status.containerStatuses``. The node image stores are persisted to a JSON file so a
restarted emulator remembers what each node holds.

Run by the kwok provider as ``python -m scanner.clusters.pullemulator``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scanner import images
from scanner.clusters import stages
from scanner.oci import client, credentials, failures

__all__ = ["NodeImages", "PullResult", "decide", "main"]

RETRY_S = 5.0
REAL_NODE_LABEL = "driftscan.io/node-type"
log = logging.getLogger("pullemulator")


@dataclass(frozen=True)
class PullResult:
    """What containerd reports for one container: an imageID or a waiting reason."""

    image_id: str = ""
    error: str = ""
    reason: str = ""
    """The waiting reason with ``error``: ``ErrImagePull``, ``ErrImageNeverPull``, …"""
    image: str = ""
    """The ``image`` kubelet reports when it differs from the spec's (a digest reference
    of an image the node also holds under a tag: containerd names it by that tag)."""


class NodeImages:
    """Per-node image stores (normalised reference → digest), persisted to a JSON file."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._nodes: dict[str, dict[str, str]] = {}
        if path is not None and path.exists():
            try:
                self._nodes = json.loads(path.read_text())
            except ValueError:
                self._nodes = {}

    def get(self, node: str, ref: str) -> str | None:
        """Digest the node holds for ``ref``, if any."""
        with self._lock:
            return self._nodes.get(node, {}).get(ref)

    def put(self, node: str, ref: str, digest: str) -> None:
        """Record that ``node`` now holds ``ref`` at ``digest``."""
        with self._lock:
            self._nodes.setdefault(node, {})[ref] = digest
            if self.path is not None:
                tmp = self.path.with_suffix(".tmp")
                tmp.write_text(json.dumps(self._nodes))
                tmp.replace(self.path)

    def tags_of(self, node: str, name: str, digest: str) -> list[str]:
        """``name:TAG`` references ``node`` holds at ``digest``, sorted."""
        with self._lock:
            refs = self._nodes.get(node, {})
            return sorted(k for k, v in refs.items()
                          if v == digest and k.startswith(name + ":") and "@" not in k)

    def snapshot(self) -> dict[str, dict[str, str]]:
        """A copy of every node's store."""
        with self._lock:
            return {n: dict(refs) for n, refs in self._nodes.items()}


Resolve = Callable[[str, str, str], str | None]
"""``resolve(registry, repository, tag)`` → digest, ``None`` when the tag does not exist;
raises ``errors.RegistryError`` when the registry cannot be asked."""


ImageIdOf = Callable[[str, str, str], str | None]
"""``image_id_of(registry, repository, manifest digest)`` → the image's config digest (of
the node's platform, for an index): what containerd calls the image's id."""


def decide(image: str, policy: str, node: str, store: NodeImages, resolve: Resolve,
           image_id_of: ImageIdOf | None = None) -> PullResult:
    """Pull ``image`` on ``node`` the way kubelet's image manager and containerd would."""
    ref = images.try_parse(image)
    if ref is None:
        return PullResult(error=f'Failed to apply default image tag "{image}": couldn\'t '
                                f'parse image name "{image}": invalid reference format',
                          reason="InvalidImageName")
    name = ref.name  # registry/repository, as containerd names it
    if ref.digest:
        # Pulling by digest yields exactly that manifest; the store keeps it by digest.
        key = f"{name}@{ref.digest}"
        if policy == "Never" and store.get(node, key) is None:
            return PullResult(error=f'Container image "{image}" is not present with pull '
                                    f'policy of Never', reason="ErrImageNeverPull")
        store.put(node, key, ref.digest)
        # containerd reports an image by its first tag on the node, when it has one, and
        # else by its id (the config digest), not by the reference the pod named.
        tags = store.tags_of(node, name, ref.digest)
        if tags:
            return PullResult(image_id=key, image=tags[0])
        config = None
        if image_id_of is not None:
            with contextlib.suppress(Exception):
                config = image_id_of(ref.registry, ref.repository, ref.digest)
        return PullResult(image_id=key, image=config or "")
    tag = ref.effective_tag or "latest"
    key = f"{name}:{tag}"
    held = store.get(node, key)
    if policy == "Never":
        if held is None:
            return PullResult(error=f'Container image "{image}" is not present with pull '
                                    f'policy of Never', reason="ErrImageNeverPull")
        return PullResult(image_id=f"{name}@{held}")
    if policy != "Always" and held is not None:
        return PullResult(image_id=f"{name}@{held}")
    try:
        digest = resolve(ref.registry, ref.repository, tag)
    except Exception as e:  # noqa: BLE001 - any failure to reach the registry is a pull error
        return PullResult(error=f'failed to pull and unpack image "{key}": {e}',
                          reason="ErrImagePull")
    if digest is None:
        return PullResult(error=f'failed to pull and unpack image "{key}": failed to '
                                f'resolve reference "{key}": {key}: not found',
                          reason="ErrImagePull")
    store.put(node, key, digest)
    return PullResult(image_id=f"{name}@{digest}")


def _default_policy(container: Mapping[str, Any]) -> str:
    # The apiserver defaults the policy before we see the pod; this covers hand-made pods.
    parsed = images.try_parse(str(container.get("image", "")))
    return images.default_pull_policy(parsed) if parsed else "IfNotPresent"


def annotations_for(pod: dict[str, Any], store: NodeImages, resolve: Resolve,
                    image_id_of: ImageIdOf | None = None) -> dict[str, str | None]:
    """The annotation patch that publishes every container's pull result for ``pod``.

    Init containers run one after the other, and kubelet pulls an image only when its
    container is next: after an init container's pull fails, nothing later is pulled and
    every later container waits in ``PodInitializing``.
    """
    spec = pod.get("spec", {})
    node = spec.get("nodeName", "")
    patch: dict[str, str | None] = {}
    failed = blocked = False
    inits = spec.get("initContainers", [])
    for i, c in enumerate([*inits, *spec.get("containers", [])]):
        cname = c.get("name", "")
        if blocked:
            result = PullResult(reason="PodInitializing")
        else:
            result = decide(c.get("image", ""), c.get("imagePullPolicy") or _default_policy(c),
                            node, store, resolve, image_id_of)
            blocked = bool(result.error) and i < len(inits)
        patch[stages.ANNOTATION_IMAGE_ID + cname] = result.image_id or None
        patch[stages.ANNOTATION_ERROR + cname] = result.error or None
        patch[stages.ANNOTATION_REASON + cname] = result.reason or None
        patch[stages.ANNOTATION_IMAGE + cname] = result.image or None
        # A started container has an id, as containerd's: stable per pod and container.
        uid = pod.get("metadata", {}).get("uid", "")
        patch[stages.ANNOTATION_CONTAINER_ID + cname] = (
            "containerd://" + hashlib.sha256(f"{uid}/{cname}".encode()).hexdigest()
            if result.image_id else None)
        failed = failed or bool(result.error) or blocked
    patch[stages.ANNOTATION_STATE] = "failed" if failed else "done"
    return patch


def back_off_statuses(statuses: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """``statuses`` with ``ErrImagePull`` turned into ``ImagePullBackOff``; None: unchanged.

    After a failed pull kubelet waits (10 s, doubling up to 5 min) before it tries again,
    and meanwhile reports ``ImagePullBackOff`` with ``Back-off pulling image "…"``.
    """
    out, changed = [], False
    for s in statuses:
        waiting = (s.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") == "ErrImagePull":
            detail = waiting.get("message", "")
            s = {**s, "state": {"waiting": {
                "reason": "ImagePullBackOff",
                "message": f'Back-off pulling image "{s.get("image", "")}": {detail}'}}}
            changed = True
        out.append(s)
    return out if changed else None


class ApiError(Exception):
    """The apiserver answered with an error status."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status


class Emulator:
    """Watches bound pods and publishes pull results; one instance per cluster."""

    def __init__(self, api: Any, store: NodeImages, resolve: Resolve, workers: int = 16,
                 image_id_of: ImageIdOf | None = None) -> None:
        self.api = api
        self.store = store
        self.resolve = resolve
        self.image_id_of = image_id_of
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pull")
        self._node_locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()
        self._inflight: set[str] = set()
        self._failed: dict[str, tuple[str, str]] = {}  # uid -> (namespace, name)
        self._mu = threading.Lock()
        self._real: dict[str, bool] = {}  # node name -> runs a real kubelet

    def _on_real_node(self, node: str) -> bool:
        """True for a node labelled ``driftscan.io/node-type=real``: its kubelet pulls."""
        known = self._real.get(node)
        if known is None:
            try:
                doc = json.loads(self._call("GET", f"/api/v1/nodes/{node}").read())
            except Exception:  # noqa: BLE001 - unknown for now: asked again next time
                return False
            labels = doc.get("metadata", {}).get("labels") or {}
            known = self._real[node] = labels.get(REAL_NODE_LABEL) == "real"
        return known

    def _call(self, method: str, path: str, *, query: list[tuple[str, Any]] | None = None,
              patch: dict[str, Any] | None = None, timeout: Any = 30) -> Any:
        """One raw request through the kubernetes client's auth; returns the response."""
        headers = {"Accept": "application/json"}
        if patch is not None:
            headers["Content-Type"] = "application/merge-patch+json"
        method, url, headers, _, _ = self.api.param_serialize(
            method, path, query_params=query or [], header_params=headers,
            auth_settings=["BearerToken"])
        resp = self.api.call_api(method, url, header_params=headers, body=patch,
                                 _request_timeout=timeout)
        if resp.status >= 300:
            data = resp.read()
            raise ApiError(resp.status, data[:300].decode(errors="replace"))
        return resp

    def _node_lock(self, node: str) -> threading.Lock:
        with self._locks_lock:
            return self._node_locks.setdefault(node, threading.Lock())

    def consider(self, pod: dict[str, Any]) -> None:
        """Queue ``pod`` when it is bound, alive and not yet handled."""
        meta = pod.get("metadata", {})
        uid = meta.get("uid", "")
        node = pod.get("spec", {}).get("nodeName")
        if (not node or meta.get("deletionTimestamp") or self._on_real_node(node)
                or pod.get("status", {}).get("phase") in ("Succeeded", "Failed")):
            with self._mu:
                self._failed.pop(uid, None)
            return
        state = (meta.get("annotations") or {}).get(stages.ANNOTATION_STATE)
        with self._mu:
            if state == "failed":
                self._failed[uid] = (meta.get("namespace", ""), meta.get("name", ""))
                return
            self._failed.pop(uid, None)
            if state == "done" or uid in self._inflight:
                return
            self._inflight.add(uid)
        self.pool.submit(self._handle, pod)

    def _handle(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        try:
            with self._node_lock(pod["spec"]["nodeName"]):
                patch = annotations_for(pod, self.store, self.resolve, self.image_id_of)
            self._patch(meta["namespace"], meta["name"], patch)
        except Exception:  # noqa: BLE001 - keep the controller alive; the pod is retried
            log.exception("pull emulation failed for %s/%s", meta.get("namespace"),
                          meta.get("name"))
        finally:
            with self._mu:
                self._inflight.discard(meta.get("uid", ""))

    def _patch(self, namespace: str, name: str, annotations: dict[str, str | None]) -> None:
        try:
            self._call("PATCH", f"/api/v1/namespaces/{namespace}/pods/{name}",
                       patch={"metadata": {"annotations": annotations}}).read()
        except ApiError as e:
            if e.status != 404:  # 404: deleted meanwhile
                raise

    def retry_failed(self) -> None:
        """Retry pods whose pulls failed (kubelet's back-off, flattened to a fixed period)."""
        with self._mu:
            pending = list(self._failed.items())
        for uid, (namespace, name) in pending:
            try:
                pod = json.loads(
                    self._call("GET", f"/api/v1/namespaces/{namespace}/pods/{name}").read())
            except Exception:  # noqa: BLE001 - gone or unreachable: drop, the watch re-adds
                with self._mu:
                    self._failed.pop(uid, None)
                continue
            with self._node_lock(pod["spec"]["nodeName"]):
                patch = annotations_for(pod, self.store, self.resolve, self.image_id_of)
            if patch[stages.ANNOTATION_STATE] == "done":
                self._patch(namespace, name, patch)
                with self._mu:
                    self._failed.pop(uid, None)
            else:
                self._back_off(pod)

    def _back_off(self, pod: dict[str, Any]) -> None:
        """Show a pull that failed again as kubelet does between attempts."""
        status = pod.get("status") or {}
        changed = False
        for key in ("initContainerStatuses", "containerStatuses"):
            updated = back_off_statuses(status.get(key) or [])
            if updated is not None:
                status[key], changed = updated, True
        if changed:
            meta = pod["metadata"]
            body = {"status": {k: status[k] for k in ("initContainerStatuses",
                                                        "containerStatuses") if k in status}}
            with contextlib.suppress(ApiError):  # gone meanwhile: nothing to show
                self._call("PATCH", f"/api/v1/namespaces/{meta['namespace']}/pods/"
                           f"{meta['name']}/status", patch=body).read()

    def _list(self) -> tuple[list[dict[str, Any]], str]:
        items: list[dict[str, Any]] = []
        cont = ""
        while True:
            query = [("limit", 500), ("fieldSelector", "spec.nodeName!=")]
            if cont:
                query.append(("continue", cont))
            body = json.loads(self._call("GET", "/api/v1/pods", query=query, timeout=60).read())
            items.extend(body.get("items", []))
            cont = body.get("metadata", {}).get("continue", "")
            if not cont:
                return items, body["metadata"]["resourceVersion"]

    def _watch(self, resource_version: str) -> Iterator[dict[str, Any]]:
        resp = self._call(
            "GET", "/api/v1/pods",
            query=[("watch", "true"), ("resourceVersion", resource_version),
                   ("allowWatchBookmarks", "true"), ("timeoutSeconds", 300),
                   ("fieldSelector", "spec.nodeName!=")],
            timeout=(10, 330))
        buf = b""
        for chunk in resp.response.stream(65536):
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if line.strip():
                    yield json.loads(line)

    def run(self, stop: threading.Event) -> None:
        """List, then watch pods until ``stop`` is set; re-list after errors or 410 Gone."""
        threading.Thread(target=self._retry_loop, args=(stop,), daemon=True).start()
        while not stop.is_set():
            try:
                pods, rv = self._list()
                for pod in pods:
                    self.consider(pod)
                for event in self._watch(rv):
                    if event.get("type") == "ERROR":
                        break  # typically 410 Gone: re-list
                    if event.get("type") in ("ADDED", "MODIFIED"):
                        self.consider(event["object"])
                    elif event.get("type") == "BOOKMARK":
                        continue
            except Exception:  # noqa: BLE001 - apiserver restarts, timeouts: re-list
                log.exception("watch interrupted; listing again")
                stop.wait(1.0)

    def _retry_loop(self, stop: threading.Event) -> None:
        while not stop.wait(RETRY_S):
            try:
                self.retry_failed()
            except Exception:  # noqa: BLE001
                log.exception("retrying failed pulls")


def main(argv: list[str] | None = None) -> None:
    """Entry point: ``python -m scanner.clusters.pullemulator --kubeconfig K --cache F``."""
    from kubernetes import config as kube_config

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--cache", type=Path, default=None,
                        help="JSON file that keeps each node's image store")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    api = kube_config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=args.kubeconfig)
    clients: dict[str, client.Client] = {}
    docker_config = credentials.load_docker_config()

    def resolve(host: str, repository: str, tag: str) -> str | None:
        # No cache across pulls: every pull asks the registry, as containerd does.
        try:
            return client_of(host).resolve(repository, tag)
        except failures.NotFound:
            return None

    def client_of(host: str) -> client.Client:
        found = clients.get(host)
        if found is None:
            found = clients[host] = client.client_for(host, docker_config=docker_config,
                                                      timeout=10)
        return found

    def image_id_of(host: str, repository: str, digest: str) -> str | None:
        registry_client = client_of(host)
        manifest = registry_client.get_manifest(repository, digest)
        if manifest.is_index:  # the node's platform: fake nodes say linux/amd64
            entry = next((m for m in manifest.json().get("manifests") or []
                          if (m.get("platform") or {}).get("os") == "linux"
                          and (m.get("platform") or {}).get("architecture") == "amd64"), None)
            if entry is None:
                return None
            manifest = registry_client.get_manifest(repository, str(entry["digest"]))
        config = (manifest.json().get("config") or {}).get("digest")
        return str(config) if config else None

    emulator = Emulator(api, NodeImages(args.cache), resolve, image_id_of=image_id_of)
    log.info("image-pull emulator watching pods")
    emulator.run(threading.Event())


if __name__ == "__main__":
    main()
