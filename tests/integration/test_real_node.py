"""Emulator vs runtime, side by side: the same pods on a KWOK fake node and on a real node.

A cluster of its own (one fake node, one real node: kubelet + containerd + runc + CNI)
runs each pod spec twice, once per node, and compares the container statuses field by
field: ``image``, ``imageID`` (form and digest), the state and waiting reason
(``ErrImagePull``, ``ImagePullBackOff``, ``ErrImageNeverPull``), ``restartCount`` and
``ready``, and — through the digests after a re-push — the pull decision of each policy.
Every difference the emulator cannot remove is listed in ``DOCUMENTED`` with its reason
(docs/cluster.md, "emulator vs kubelet/containerd").

Skipped, with the reason, where real nodes cannot run (not root, no containerd, …).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scanner.clusters import base, busybox_image, kwok, realnode
from scanner.oci import client, credentials, synthetic

pytestmark = pytest.mark.cluster

FAKE, REAL = "kwok-node-0", "real-node-0"
PULL_ERRORS = ("ErrImagePull", "ImagePullBackOff")

_missing = realnode.missing_prerequisites()
if _missing:
    pytest.skip(f"real nodes cannot run here: {'; '.join(_missing)}", allow_module_level=True)


@pytest.fixture(scope="module")
def real_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[base.ClusterHandle]:
    """One fake node and one real node under a control plane of their own."""
    os.environ.setdefault("DRIFTSCAN_STATE_DIR", str(tmp_path_factory.mktemp("driftscan-state")))
    provider = kwok.KwokProvider(f"pytest-real-{os.getpid()}", real_nodes=1)
    handle = provider.up(1, say=lambda _m: None)
    try:
        yield handle
    finally:
        provider.down(lambda _m: None)


@pytest.fixture(scope="module")
def api(real_cluster: base.ClusterHandle) -> Any:
    from kubernetes import config as kube_config

    return kube_config.new_client_from_config(config_file=str(real_cluster.kubeconfig))


@pytest.fixture(scope="module")
def registry_client(real_cluster: base.ClusterHandle) -> client.Client:
    assert real_cluster.docker_config is not None
    docker = credentials.load_docker_config(real_cluster.docker_config / "config.json")
    return client.client_for(real_cluster.registry, docker_config=docker)


def _pod(name: str, node: str, containers: list[dict[str, Any]],
         init: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"nodeName": node, "containers": containers,
                            "terminationGracePeriodSeconds": 0,
                            "tolerations": [{"operator": "Exists"}]}
    if init:
        spec["initContainers"] = init
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{name}-{'real' if node == REAL else 'fake'}"}, "spec": spec}


def _view(status: dict[str, Any]) -> dict[str, Any]:
    """What the comparison looks at, for one container status."""
    state = status.get("state") or {}
    kind = next(iter(state), "")
    reason = (state.get(kind) or {}).get("reason", "") if kind != "running" else ""
    if reason in PULL_ERRORS:
        reason = "ErrImagePull|ImagePullBackOff"  # the two alternate while kubelet backs off
    cid = status.get("containerID", "")
    form = ("containerd://<64 hex>" if re.fullmatch(r"containerd://[0-9a-f]{64}", cid)
            else cid)
    return {"image": status.get("image", ""), "imageID": status.get("imageID", ""),
            "containerID": form,
            "state": kind, "reason": reason, "restartCount": status.get("restartCount", 0),
            "ready": status.get("ready", False)}


def _views(pod: dict[str, Any]) -> dict[str, dict[str, Any]]:
    status = pod.get("status") or {}
    out = {}
    for key in ("initContainerStatuses", "containerStatuses"):
        for s in status.get(key) or []:
            out[f"{key[:4]}/{s['name']}"] = _view(s)
    return out


class Pair:
    """A pod spec run on both nodes."""

    def __init__(self, api: Any, namespace: str, name: str, containers: list[dict[str, Any]],
                 init: list[dict[str, Any]] | None = None) -> None:
        from kubernetes import client as kclient

        self.core = kclient.CoreV1Api(api)
        self.api, self.namespace, self.name = api, namespace, name
        self.containers, self.init = containers, init
        self.reasons: dict[str, set[str]] = {FAKE: set(), REAL: set()}
        """Every waiting reason seen so far, per node (the back-off alternates)."""
        self.create()

    def create(self) -> None:
        for node in (FAKE, REAL):
            self.core.create_namespaced_pod(self.namespace,
                                            _pod(self.name, node, self.containers, self.init))

    def read(self, node: str) -> dict[str, Any]:
        pod = self.core.read_namespaced_pod(f"{self.name}-{'real' if node == REAL else 'fake'}",
                                            self.namespace)
        doc: dict[str, Any] = self.api.sanitize_for_serialization(pod)
        return doc

    def views(self) -> tuple[dict[str, Any], dict[str, Any]]:
        out = []
        for node in (FAKE, REAL):
            pod = self.read(node)
            status = pod.get("status") or {}
            for s in [*(status.get("initContainerStatuses") or []),
                      *(status.get("containerStatuses") or [])]:
                reason = ((s.get("state") or {}).get("waiting") or {}).get("reason")
                if reason:
                    self.reasons[node].add(reason)
            out.append(_views(pod))
        return out[0], out[1]

    def delete(self) -> None:
        for node in (FAKE, REAL):
            self.core.delete_namespaced_pod(
                f"{self.name}-{'real' if node == REAL else 'fake'}", self.namespace,
                grace_period_seconds=0)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            names = {p.metadata.name for p in self.core.list_namespaced_pod(self.namespace).items}
            if not names & {f"{self.name}-fake", f"{self.name}-real"}:
                return
            time.sleep(0.5)
        raise AssertionError(f"pods {self.name} not deleted within 60s")


PULL_FAILED = ("ErrImagePull|ImagePullBackOff", "ErrImageNeverPull")


def _settled(views: dict[str, Any], expect: int) -> bool:
    """Every container started (or finished), or a pull failed for one of them."""
    started = len(views) == expect and all(v["state"] in ("running", "terminated")
                                           for v in views.values())
    return started or any(v["reason"] in PULL_FAILED for v in views.values())


def _wait_all(pairs: dict[str, tuple[Pair, int, Any]], timeout: float = 120.0) -> dict[
        str, tuple[dict[str, Any], dict[str, Any]]]:
    """Wait until each pair's pods settle (``until(fake, real)`` true); their views."""
    deadline = time.monotonic() + timeout
    done: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    last: dict[str, Any] = {}
    while time.monotonic() < deadline and len(done) < len(pairs):
        for key, (pair, expect, until) in pairs.items():
            if key in done:
                continue
            fake, real = pair.views()
            last[key] = (fake, real)
            if _settled(fake, expect) and _settled(real, expect) and until(fake, real):
                done[key] = (fake, real)
        time.sleep(1.0)
    for key in pairs:
        if key not in done:  # compared as they are: the differences say what is wrong
            done[key] = last[key]
            UNSETTLED.append(f"{key}: not settled within {timeout:.0f}s")
    return done


UNSETTLED: list[str] = []


def _always(_fake: dict[str, Any], _real: dict[str, Any]) -> bool:
    return True


def _differences(fake: dict[str, Any], real: dict[str, Any]) -> list[str]:
    out = []
    for cname in sorted(set(fake) | set(real)):
        f, r = fake.get(cname, {}), real.get(cname, {})
        for field in sorted(set(f) | set(r)):
            if f.get(field) != r.get(field):
                out.append(f"{cname}.{field}: emulator {f.get(field)!r}, kubelet {r.get(field)!r}")
    return out


def test_emulator_matches_kubelet_and_containerd(real_cluster: base.ClusterHandle, api: Any,
                                                 registry_client: client.Client) -> None:
    from kubernetes import client as kclient

    reg = real_cluster.registry
    namespace = f"side-{os.getpid()}"
    kclient.CoreV1Api(api).create_namespace({"metadata": {"name": namespace}})
    push = synthetic.push_image
    v1 = push(registry_client, "side/app", "v1", busybox_image.build("side-v1"))
    never_tag = push(registry_client, "side/never", "v1", busybox_image.build("side-never"))
    assert never_tag
    platforms = (synthetic.Platform("linux", "amd64"), synthetic.Platform("linux", "arm64"))
    index = busybox_image.build_index("side-multi", platforms)
    index_digest = push(registry_client, "side/multi", "v1", index)
    fresh = push(registry_client, "side/fresh", "t", busybox_image.build("side-fresh"))
    app = f"{reg}/side/app"

    def c(name: str, image: str, policy: str | None = None, **extra: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"name": name, "image": image, **extra}
        if policy:
            out["imagePullPolicy"] = policy
        return out

    def p(name: str, containers: list[dict[str, Any]],
          init: list[dict[str, Any]] | None = None) -> Pair:
        return Pair(api, namespace, name, containers, init)

    # Phase 1: every policy on a fresh node, references by digest, an index, init
    # containers and a native sidecar, a tag not pushed yet.
    first = {
        "always": (p("always", [c("app", f"{app}:v1", "Always")]), 1, _always),
        "ifnp": (p("ifnp", [c("app", f"{app}:v1", "IfNotPresent")]), 1, _always),
        "never": (p("never", [c("app", f"{reg}/side/never:v1", "Never")]), 1, _always),
        "digest-fresh": (p("digest-fresh", [c("app", f"{reg}/side/fresh@{fresh}")]), 1,
                         _always),
        "index": (p("index", [c("app", f"{reg}/side/multi:v1", "IfNotPresent")]), 1, _always),
        "init": (p("init", [c("app", f"{app}:v1")],
                   [c("setup", f"{app}:v1", command=["/bin/true"]),
                    c("proxy", f"{app}:v1", restartPolicy="Always")]), 3, _always),
        "late": (p("late", [c("app", f"{reg}/side/late:v1", "IfNotPresent")]), 1, _always),
        "missing-init": (p("missing-init", [c("app", f"{app}:v1")],
                           [c("setup", f"{reg}/side/absent:v1", command=["/bin/true"])]),
                         2, _always),
    }
    seen = _wait_all(first)
    # By digest, once the node holds the tag (containerd then names the image by it).
    by_digest = {
        "digest": (p("digest", [c("app", f"{app}@{v1}")]), 1, _always),
        "tag-digest": (p("tag-digest", [c("app", f"{app}:other@{v1}")]), 1, _always),
    }
    seen.update(_wait_all(by_digest))
    first.update(by_digest)
    problems: list[str] = []
    for key, (fake, real) in seen.items():
        problems += [f"{key}: {d}" for d in _differences(fake, real)]
    assert seen["index"][1]["cont/app"]["imageID"] == f"{reg}/side/multi@{index_digest}"
    assert seen["always"][1]["cont/app"]["imageID"] == f"{app}@{v1}"

    # A container that exits: kubelet restarts it (restartCount grows, CrashLoopBackOff);
    # KWOK's containers never exit, so the emulator shows it running: documented.
    crash = p("crash", [c("app", f"{app}:v1", "IfNotPresent", command=["/bin/false"])])
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        fake, real = crash.views()
        if real.get("cont/app", {}).get("restartCount", 0) >= 1:
            break
        time.sleep(1.0)
    assert real["cont/app"]["restartCount"] >= 1, real
    assert fake["cont/app"]["state"] == "running" and fake["cont/app"]["restartCount"] == 0
    assert fake["cont/app"]["imageID"] == real["cont/app"]["imageID"] == f"{app}@{v1}"

    # Both back off from the missing tag: ImagePullBackOff between attempts.
    late_pair = first["late"][0]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not all(
            "ImagePullBackOff" in late_pair.reasons[n] for n in (FAKE, REAL)):
        late_pair.views()
        time.sleep(1.0)
    assert all("ImagePullBackOff" in late_pair.reasons[n] for n in (FAKE, REAL)), \
        late_pair.reasons

    # Phase 2: the tag moves; the missing tag appears; a pod is deleted and recreated.
    v2 = push(registry_client, "side/app", "v1", busybox_image.build("side-v2"))
    assert v2 != v1
    late = push(registry_client, "side/late", "v1", busybox_image.build("side-late"))
    first["ifnp"][0].delete()
    first["always"][0].delete()

    def running(fake: dict[str, Any], real: dict[str, Any]) -> bool:
        return all(v["state"] == "running" for v in (*fake.values(), *real.values()))

    # The pull decision, read from the digests: what the node holds, before any Always…
    second = {
        "ifnp-2": (p("ifnp-2", [c("app", f"{app}:v1", "IfNotPresent")]), 1, _always),
        "never-2": (p("never-2", [c("app", f"{app}:v1", "Never")]), 1, _always),
        "ifnp-recreated": (p("ifnp", [c("app", f"{app}:v1", "IfNotPresent")]), 1, _always),
        "late": (first["late"][0], 1, running),
    }
    seen2 = _wait_all(second, timeout=150)
    # … then Always pulls the moved tag, which moves the node's tag for everyone after.
    third = {
        "always-2": (p("always-2", [c("app", f"{app}:v1", "Always")]), 1, _always),
        "always-recreated": (p("always", [c("app", f"{app}:v1", "Always")]), 1, _always),
    }
    seen2.update(_wait_all(third))
    fourth = {"ifnp-3": (p("ifnp-3", [c("app", f"{app}:v1", "IfNotPresent")]), 1, _always)}
    seen2.update(_wait_all(fourth))
    for key, (fake, real) in seen2.items():
        problems += [f"{key}: {d}" for d in _differences(fake, real)]
    real2 = {k: v[1]["cont/app"]["imageID"] for k, v in seen2.items()}
    assert real2["ifnp-2"] == real2["ifnp-recreated"] == real2["never-2"] == f"{app}@{v1}"
    assert real2["always-2"] == real2["always-recreated"] == real2["ifnp-3"] == f"{app}@{v2}"
    assert real2["late"] == f"{reg}/side/late@{late}"
    # Every pod still there, read again after the tag moved on the node.
    alive = {k: v for k, v in {**first, **second, **third, **fourth}.items()
             if k not in ("ifnp", "always")}
    for key, (pair, _n, _u) in alive.items():
        fake, real = pair.views()
        problems += [f"{key} (at the end): {d}" for d in _differences(fake, real)]
    problems += UNSETTLED
    assert not problems, "emulator and kubelet differ:\n" + "\n".join(problems)


def test_down_removes_everything_the_real_node_made(real_cluster: base.ClusterHandle,
                                                    api: Any,
                                                    registry_client: client.Client) -> None:
    """Containers, their processes, shims, cgroups, netns, mounts, bridge: all gone."""
    from kubernetes import client as kclient

    core = kclient.CoreV1Api(api)
    namespace = f"down-{os.getpid()}"
    core.create_namespace({"metadata": {"name": namespace}})
    synthetic.push_image(registry_client, "down/app", "v1", busybox_image.build("down-v1"))
    core.create_namespaced_pod(namespace, _pod("sleeper", REAL, [
        {"name": "app", "image": f"{real_cluster.registry}/down/app:v1"}]))
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        pod = core.read_namespaced_pod("sleeper-real", namespace)
        if pod.status.phase == "Running":
            break
        time.sleep(0.5)
    assert pod.status.phase == "Running"
    state = json.loads((real_cluster.state_dir / "state.json").read_text())
    (node,) = realnode.load(state)
    ids = realnode.container_ids(node)
    assert len(ids) >= 2  # the sandbox and the container at least
    cgroups = realnode.cgroup_dirs(ids)
    assert cgroups, "the containers' cgroups were not found where teardown looks"
    pids = {int(x) for d in cgroups for x in (d / "cgroup.procs").read_text().split()}
    running = {i for i in (realnode.process_identity(p) for p in pids) if i is not None}
    netns = {os.stat(f"/proc/{pid}/ns/net").st_ino for pid in pids}
    netns_mounts = {e.name for e in Path("/run/netns").iterdir()
                    if e.stat().st_ino in netns}
    assert netns_mounts, "the pod's network namespace is not in /run/netns"
    assert Path(f"/sys/class/net/{node['bridge']}").exists()

    kwok.KwokProvider(real_cluster.name).down(lambda _m: None)

    assert realnode.leftovers(node, ids) == []
    # A killed process whose shim is gone is a zombie until init reaps it: it holds nothing.
    assert realnode.still_running(running) == [], "container processes left"
    assert not [p for p in realnode.processes_naming(node["socket"])], "shims left"
    assert not (Path("/run/netns").exists()
                and netns_mounts & {e.name for e in Path("/run/netns").iterdir()})
    assert not [d for d in cgroups if d.exists()]
    assert realnode.mounts_under(real_cluster.state_dir) == []
    assert not Path(node["socket"]).parent.exists() and not Path(node["dir"]).exists()
    assert not Path(f"/sys/class/net/{node['bridge']}").exists()
