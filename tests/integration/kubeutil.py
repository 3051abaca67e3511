"""Small helpers the integration tests share: create objects, wait for cluster state.

They talk to the real kube-apiserver through the official client; nothing is faked.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from kubernetes import client

T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 60.0,
             interval: float = 0.25) -> T:
    """Poll ``probe`` until it returns a truthy value; fail with ``what`` on time-out."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")


def deployment(name: str, image: str, replicas: int, *, policy: str | None = None,
               max_surge: int | str = 1, max_unavailable: int | str = 0,
               labels: dict[str, str] | None = None) -> dict[str, Any]:
    """A Deployment manifest with one container named ``app``."""
    container: dict[str, Any] = {"name": "app", "image": image}
    if policy:
        container["imagePullPolicy"] = policy
    match = {"app": name, **(labels or {})}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": match},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {
                "maxSurge": max_surge, "maxUnavailable": max_unavailable}},
            "template": {"metadata": {"labels": match},
                         "spec": {"containers": [container]}},
        },
    }


def pods(api: client.ApiClient, namespace: str, selector: str = "") -> list[Any]:
    """Live (not terminating) pods in ``namespace``."""
    items = client.CoreV1Api(api).list_namespaced_pod(namespace, label_selector=selector).items
    return [p for p in items if p.metadata.deletion_timestamp is None]


def image_ids(pod: Any) -> list[str]:
    """``imageID`` of every container status of ``pod`` (empty strings included)."""
    return [s.image_id or "" for s in (pod.status.container_statuses or [])]


def running_with_image_ids(api: client.ApiClient, namespace: str, selector: str,
                           count: int) -> Callable[[], list[Any] | None]:
    """Probe: exactly ``count`` live pods, all Running with an imageID on every container."""
    def probe() -> list[Any] | None:
        live = pods(api, namespace, selector)
        ok = [p for p in live if p.status.phase == "Running" and image_ids(p)
              and all(image_ids(p))]
        return live if len(live) == count and len(ok) == count else None
    return probe


def digest_of_image_id(image_id: str) -> str:
    """The ``sha256:…`` part of ``repo@sha256:…``."""
    return image_id.rsplit("@", 1)[-1]


def fake_node(name: str) -> dict[str, Any]:
    """A Node that the cluster's KWOK controller manages (its fake kubelet)."""
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "annotations": {"kwok.x-k8s.io/node": "fake"},
                         "labels": {"type": "kwok", "kubernetes.io/hostname": name,
                                    "kubernetes.io/os": "linux"}}}


def node_ready(api: client.ApiClient, name: str) -> bool:
    """True when the node reports Ready=True."""
    node = client.CoreV1Api(api).read_node(name)
    return any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])
