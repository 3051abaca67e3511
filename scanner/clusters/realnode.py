"""Real nodes beside the KWOK fake nodes: kubelet + containerd + runc + CNI, all local.

A real node is two supervised processes (``processes``) registered with the kwok
cluster's control plane: a containerd with its own root, state and sockets, and a
kubelet with its own root dir, cert dir, ports on 127.0.0.1 and node name, labelled
``driftscan.io/node-type=real``. Pods get addresses from the node's own bridge and
subnet (CNI bridge + host-local + loopback from ``/usr/lib/cni``). The files are
rendered by ``containerd_config``; the sandbox image is ``busybox_image.pause_image``
pushed to the cluster's registry.

Everything lives under ``CLUSTER/real-nodes/NAME/`` (sockets and kubelet's root dir, which
holds sockets too, under a short ``/run/driftscan-HASH/``: a socket path has at most 107
bytes) except what the kernel or the
runtime keeps elsewhere, which :func:`teardown` finds and removes by identity, never
by a broad name: the containers' cgroups (directories named after the container ids of
this node's containerd, in every hierarchy), their processes (the pids in those
cgroups), the shims (whose command line names this node's socket), the network
namespaces (bind mounts in ``/run/netns`` whose inode is one of this node's sandboxes'),
every mount under the node folder, the bridge, the shim sockets in ``/run/containerd/s``
and kubelet's log links in ``/var/log/containers``.

Needs root, containerd, runc, the CNI plugins and busybox-static;
:func:`missing_prerequisites` says what is absent and :func:`require` turns that into
one line with the apt-get command and ``--real-nodes 0``.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from scanner import errors
from scanner.clusters import busybox_image, containerd_config, processes, toolchain

__all__ = ["NODE_TYPE_LABEL", "PAUSE_REPOSITORY", "RealNode", "cgroup_dirs", "container_ids",
           "layout_for", "leftovers", "load", "missing_prerequisites", "mounts_under",
           "node_processes", "processes_naming", "require", "start", "teardown"]

NODE_TYPE_LABEL = "driftscan.io/node-type"
PAUSE_REPOSITORY = "driftscan/pause"
PAUSE_TAG = "busybox"
CNI_BIN_DIR = Path(os.environ.get("DRIFTSCAN_CNI_BIN_DIR", "/usr/lib/cni"))
CNI_PLUGINS = ("bridge", "host-local", "loopback")
APT_PACKAGES = "containerd runc containernetworking-plugins busybox-static"
_CGROUP_ROOT = Path("/sys/fs/cgroup")
_NETNS_DIR = Path("/run/netns")
_SHIM_SOCKETS = Path("/run/containerd/s")
_CONTAINER_LOGS = Path("/var/log/containers")
_MNT_DETACH = 2

RealNode = dict[str, Any]
"""A real node's record in the cluster's ``state.json``: name, dir, socket, bridge, subnet."""


def missing_prerequisites() -> list[str]:
    """What this machine lacks for real nodes (empty: nothing)."""
    out = []
    if os.geteuid() != 0:
        out.append("root (containerd and kubelet mount, create cgroups and network "
                   "namespaces)")
    for tool in ("containerd", "runc", "containerd-shim-runc-v2"):
        if shutil.which(tool) is None:
            out.append(tool)
    plugins = [p for p in CNI_PLUGINS if not os.access(CNI_BIN_DIR / p, os.X_OK)]
    if plugins:
        out.append(f"CNI plugins {', '.join(plugins)} in {CNI_BIN_DIR}")
    if not busybox_image.available():
        out.append(f"a static busybox at {busybox_image.BUSYBOX}")
    if shutil.which("ip") is None:
        out.append("ip (iproute2)")
    if toolchain.locate("kubelet") is None:
        out.append(f"kubelet (run `{toolchain.build_command()}`)")
    return out


def require() -> None:
    """Raise when real nodes cannot run here.

    Raises:
        errors.ToolMissing: one line naming everything missing (exit code 2).
    """
    missing = missing_prerequisites()
    if missing:
        todo = ["run as root"] if missing[0].startswith("root") else []
        if any(not m.startswith(("root", "kubelet")) for m in missing):
            todo.append(f"apt-get install {APT_PACKAGES}")
        if any(m.startswith("kubelet") for m in missing):
            todo.append(f"`{toolchain.build_command()}`")
        raise errors.ToolMissing(
            f"real nodes need {'; '.join(missing)}",
            hint=f"{', then '.join(todo)}; or run without real nodes: --real-nodes 0")


def _short_hash(text: str, n: int = 6) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def layout_for(cluster_dir: Path, index: int, ports: tuple[int, int]) -> \
        containerd_config.NodeLayout:
    """Node ``index``'s folder, bridge, subnet and ports; unique per cluster folder."""
    tag = _short_hash(str(cluster_dir.resolve()))
    # One /16 per cluster folder, one /24 per node: two clusters on one machine differ.
    second = 64 + int(tag, 16) % 128
    folder = cluster_dir / "real-nodes" / f"real-node-{index}"
    # A unix socket path has at most 107 bytes; a deep checkout would exceed it.
    socket = Path("/run") / f"driftscan-{_short_hash(str(folder.resolve()), 12)}" / "c.sock"
    return containerd_config.NodeLayout(
        name=f"real-node-{index}", dir=folder, bridge=f"dsb{tag}{index}"[:15],
        subnet=f"10.{second}.{index}.0/24", kubelet_port=ports[0], healthz_port=ports[1],
        socket=socket)


def start(cluster_dir: Path, index: int, *, registry: str, username: str, password: str,
          kubeconfig: Path, log_dir: Path, kubelet: Path,
          record: Callable[[processes.Process], None],
          remember: Callable[[RealNode], None], name: str | None = None) -> RealNode:
    """Write node ``index``'s files and start its containerd and kubelet.

    ``remember(node)`` is called before anything starts, with the node's record for
    ``state.json`` (so a failed start is torn down too); ``record(process)`` inside
    ``signals_held`` right after each start, so the caller's state names the process
    before anything can interrupt. Returns the node's record; the caller waits for the
    Node to be Ready.
    """
    layout = layout_for(cluster_dir, index, (processes.free_port(), processes.free_port()))
    if name:
        layout = dataclasses.replace(layout, name=name)
    socket = layout.socket
    node: RealNode = {"name": layout.name, "dir": str(layout.dir), "socket": str(socket),
                      "bridge": layout.bridge, "subnet": layout.subnet}
    for folder in (layout.containerd_root, layout.containerd_state, layout.cni_conf_dir,
                   layout.kubelet_root, layout.pod_logs, layout.certs_d / registry):
        folder.mkdir(parents=True, exist_ok=True)
    socket.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    remember(node)
    config = layout.dir / "containerd.toml"
    fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # holds credentials
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(containerd_config.containerd_toml(
            layout, sandbox_image=f"{registry}/{PAUSE_REPOSITORY}:{PAUSE_TAG}",
            cni_bin_dir=str(CNI_BIN_DIR), registry=registry, username=username,
            password=password))
    (layout.certs_d / registry / "hosts.toml").write_text(containerd_config.hosts_toml(registry))
    (layout.cni_conf_dir / "10-driftscan.conflist").write_text(
        json.dumps(containerd_config.cni_conflist(layout), indent=2))
    kubelet_config = layout.dir / "kubelet.json"
    kubelet_config.write_text(json.dumps(containerd_config.kubelet_config(layout),
                                         indent=2))
    containerd = shutil.which("containerd") or "containerd"
    with processes.signals_held():
        record(processes.start(f"containerd-{layout.name}", [containerd, "--config",
                                                            str(config)], log_dir))
    _wait_socket(socket, log_dir / f"containerd-{layout.name}.log")
    with processes.signals_held():
        record(processes.start(f"kubelet-{layout.name}", [
            str(kubelet), f"--config={kubelet_config}", f"--kubeconfig={kubeconfig}",
            f"--root-dir={layout.kubelet_root}", f"--cert-dir={layout.dir / 'pki'}",
            f"--hostname-override={layout.name}", "--node-ip=127.0.0.1",
            f"--node-labels={NODE_TYPE_LABEL}=real",
        ], log_dir, env={"PATH": f"{CNI_BIN_DIR}:{os.environ.get('PATH', '')}"}))
    return node


def _wait_socket(socket: Path, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if socket.exists():
            return
        time.sleep(0.1)
    raise errors.ProviderError(f"containerd did not open {socket} within {timeout:.0f}s; "
                               f"last lines of {log}:\n{processes.log_tail(log)}",
                               hint="run without real nodes: --real-nodes 0")


# --- teardown ------------------------------------------------------------------------


def container_ids(node: RealNode) -> set[str]:
    """Ids of every sandbox and container this node's containerd ever ran (task dirs)."""
    ids: set[str] = set()
    state = Path(node["dir"]) / "containerd" / "state"
    for sub in ("io.containerd.runtime.v2.task/k8s.io",
                "io.containerd.grpc.v1.cri/sandboxes", "io.containerd.grpc.v1.cri/containers",
                "runc/k8s.io"):
        with contextlib.suppress(OSError):
            ids.update(p.name for p in (state / sub).iterdir())
    root = Path(node["dir"]) / "containerd" / "root" / "io.containerd.grpc.v1.cri"
    for sub in ("sandboxes", "containers"):
        with contextlib.suppress(OSError):
            ids.update(p.name for p in (root / sub).iterdir())
    return {i for i in ids if len(i) == 64 and all(c in "0123456789abcdef" for c in i)}


def cgroup_dirs(ids: Iterable[str], root: Path = _CGROUP_ROOT, depth: int = 4) -> list[Path]:
    """Directories named after one of ``ids`` in every cgroup hierarchy, deepest first."""
    wanted = set(ids)
    found: list[Path] = []
    if not wanted:
        return found

    def walk(folder: Path, left: int) -> None:
        try:
            children = [c for c in folder.iterdir() if c.is_dir() and not c.is_symlink()]
        except OSError:
            return
        for child in children:
            if child.name in wanted:
                found.append(child)
            elif left > 0:
                walk(child, left - 1)

    walk(root, depth)
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def _pids_in(dirs: Iterable[Path]) -> set[int]:
    pids: set[int] = set()
    for folder in dirs:
        for leaf in [folder, *folder.rglob("*")]:
            with contextlib.suppress(OSError, ValueError):
                pids.update(int(x) for x in (leaf / "cgroup.procs").read_text().split())
    return pids


def process_identity(pid: int) -> tuple[int, int] | None:
    """``(pid, start time)`` of a live process, or None when it is gone or a zombie.

    The start time tells a process from a later one that was given the same pid; a zombie
    (killed, its parent gone, not yet reaped by init) holds nothing but its pid.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()  # after "pid (comm)": state is first
    if len(fields) < 20 or fields[0] in ("Z", "X"):
        return None
    return pid, int(fields[19])


def still_running(identities: Iterable[tuple[int, int]]) -> list[int]:
    """The pids among ``identities`` that are still the same live process."""
    return [pid for pid, start in identities if process_identity(pid) == (pid, start)]


def processes_naming(text: str) -> set[int]:
    """Pids whose command line contains ``text`` (the node's socket: its shims)."""
    out: set[int] = set()
    needle = text.encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if needle in (entry / "cmdline").read_bytes():
                    out.add(int(entry.name))
    return out


def _netns_inode(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return None


def _umount(path: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.umount2(path.encode(), _MNT_DETACH) != 0:
        subprocess.run(["umount", "-l", path], check=False, capture_output=True)


def mounts_under(folder: Path) -> list[str]:
    """Mount points at or below ``folder``, deepest first (from /proc/self/mountinfo)."""
    prefix = str(folder.resolve())
    points = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            fields = line.split()
            if len(fields) > 4:
                point = fields[4].encode().decode("unicode_escape")
                if point == prefix or point.startswith(prefix + "/"):
                    points.append(point)
    return sorted(set(points), key=len, reverse=True)


def _shim_socket(socket: str, container: str) -> Path:
    # containerd 1.6/1.7: /run/containerd/s/sha256(grpc address + namespace + id).
    key = os.path.join(socket, "k8s.io", container)
    return _SHIM_SOCKETS / hashlib.sha256(key.encode()).hexdigest()


def teardown(node: RealNode, procs: Iterable[processes.Process]) -> list[str]:
    """Stop the node's processes and remove everything it made; return what was left.

    ``procs`` are the node's kubelet and containerd. The order matters: kubelet first
    (it would start the pods again), then containerd, then the containers and shims.
    """
    procs = list(procs)
    ids = container_ids(node)
    dirs = cgroup_dirs(ids)
    pids = _pids_in(dirs)
    inodes = {i for i in (_netns_inode(p) for p in pids) if i is not None}
    with contextlib.suppress(errors.ProviderError):
        processes.kill_all([p for p in procs if p.name.startswith("kubelet-")])
    with contextlib.suppress(errors.ProviderError):
        processes.kill_all([p for p in procs if not p.name.startswith("kubelet-")])
    shims = processes_naming(node["socket"])
    killed = {i for i in (process_identity(p) for p in pids | shims) if i is not None}
    for pid, _start in killed:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while still_running(killed) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = list(dirs)
    while left and time.monotonic() < deadline:
        for folder in list(left):
            with contextlib.suppress(FileNotFoundError):
                try:
                    for child in sorted(folder.rglob("*"), key=lambda p: len(p.parts),
                                        reverse=True):
                        if child.is_dir():
                            child.rmdir()
                    folder.rmdir()
                except OSError:
                    continue
            left.remove(folder)
            with contextlib.suppress(OSError):
                folder.parent.rmdir()  # containerd's /k8s.io parent, once nothing uses it
        if left:
            time.sleep(0.1)
    with contextlib.suppress(OSError):
        for entry in _NETNS_DIR.iterdir():
            with contextlib.suppress(OSError):
                if entry.stat().st_ino in inodes:
                    _umount(str(entry))
                    entry.unlink()
    for folder in (Path(node["dir"]), Path(node["socket"]).parent):
        for point in mounts_under(folder):
            _umount(point)
    subprocess.run(["ip", "link", "delete", node["bridge"]], check=False, capture_output=True)
    for container in ids:
        _shim_socket(node["socket"], container).unlink(missing_ok=True)
    logs = str(Path(node["dir"]) / "pod-logs")
    with contextlib.suppress(OSError):
        for link in _CONTAINER_LOGS.iterdir():
            if link.is_symlink() and os.readlink(link).startswith(logs):
                link.unlink()
    for empty in (_CONTAINER_LOGS, _NETNS_DIR, _SHIM_SOCKETS, _SHIM_SOCKETS.parent):
        with contextlib.suppress(OSError):
            empty.rmdir()  # only when empty: another runtime may use it
    shutil.rmtree(Path(node["socket"]).parent, ignore_errors=True)
    shutil.rmtree(node["dir"], ignore_errors=True)
    return leftovers(node, ids)


def leftovers(node: RealNode, ids: Iterable[str]) -> list[str]:
    """What of ``node`` is still there (empty after a clean teardown)."""
    ids = set(ids)
    out = [f"cgroup {p}" for p in cgroup_dirs(ids)]
    out += [f"process {pid}" for pid in processes_naming(node["socket"])]
    out += [f"mount {m}" for m in mounts_under(Path(node["dir"]))]
    if Path(f"/sys/class/net/{node['bridge']}").exists():
        out.append(f"bridge {node['bridge']}")
    return out


def load(state: dict[str, Any]) -> list[RealNode]:
    """The real nodes a cluster's state records."""
    return [n for n in state.get("real_nodes", []) if isinstance(n, dict)]


def node_processes(state: dict[str, Any], node: RealNode) -> list[processes.Process]:
    """The node's kubelet and containerd among the cluster's processes."""
    names = {f"kubelet-{node['name']}", f"containerd-{node['name']}"}
    return [processes.Process.from_json(p) for p in state.get("processes", [])
            if p.get("name") in names]
