"""Configuration files for a real node: containerd, its registry hosts, CNI and kubelet.

Pure functions, one file each; ``realnode`` writes them into the node's folder and starts
the processes. Every path, socket and port is the node's own, so several nodes (and
several clusters) run side by side on one machine without sharing state:

* containerd keeps ``root``, ``state`` and its gRPC/ttrpc sockets under the node folder;
  its CRI plugin reads registry settings from ``certs.d/HOST/hosts.toml`` (the cluster's
  registry is plain HTTP on loopback) and the registry's credentials from the config
  (file mode 0600), so kubelet pulls anonymously as far as it knows;
* ``restrict_oom_score_adj = true``: without it runc tries to lower a sandbox's
  ``oom_score_adj`` below the parent's and fails in a container-like host without
  ``CAP_SYS_RESOURCE`` over it, so every sandbox fails to start;
* the sandbox ("pause") image is one built locally (no public registry is reachable);
* CNI: a bridge of the node's own name with a per-node ``host-local`` subnet, no IP
  masquerade (nothing leaves the machine), plus ``loopback``;
* kubelet: cgroupfs driver without per-QoS cgroups or node allocatable enforcement (no
  systemd here, and cgroup v1 accepted with ``failCgroupV1: false``), its ports on
  127.0.0.1, image garbage collection off (a test's cached image must stay cached).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["NodeLayout", "cni_conflist", "containerd_toml", "hosts_toml", "kubelet_config"]


@dataclass(frozen=True)
class NodeLayout:
    """Where one real node keeps everything, and its network settings."""

    name: str
    dir: Path
    bridge: str
    """Linux bridge name (at most 15 characters)."""
    subnet: str
    """The node's pod CIDR, e.g. ``10.88.3.0/24``."""
    kubelet_port: int
    healthz_port: int
    socket: Path
    """containerd's gRPC socket (short: a unix socket path has at most 107 bytes)."""

    @property
    def containerd_root(self) -> Path:
        """Containerd's content and snapshots."""
        return self.dir / "containerd" / "root"

    @property
    def containerd_state(self) -> Path:
        """Containerd's runtime state (tasks, runc)."""
        return self.dir / "containerd" / "state"

    @property
    def certs_d(self) -> Path:
        """Per-registry ``hosts.toml`` folders."""
        return self.dir / "containerd" / "certs.d"

    @property
    def cni_conf_dir(self) -> Path:
        """The node's CNI network list."""
        return self.dir / "cni" / "net.d"

    @property
    def kubelet_root(self) -> Path:
        """Kubelet's ``--root-dir``, beside the socket: it holds sockets of its own too."""
        return self.socket.parent / "kubelet"

    @property
    def pod_logs(self) -> Path:
        """Kubelet's ``podLogsDir``."""
        return self.dir / "pod-logs"


def _toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def containerd_toml(layout: NodeLayout, *, sandbox_image: str, cni_bin_dir: str,
                    registry: str, username: str, password: str) -> str:
    """The containerd 1.6/1.7 ``config.toml`` (version 2) for ``layout``."""
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    s = _toml_string
    return "\n".join([
        "version = 2",
        f"root = {s(str(layout.containerd_root))}",
        f"state = {s(str(layout.containerd_state))}",
        # Plugins that need kernel features or paths outside the node folder.
        'disabled_plugins = ["io.containerd.snapshotter.v1.aufs",'
        ' "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",'
        ' "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp",'
        ' "io.containerd.internal.v1.tracing"]',
        "",
        "[grpc]",
        f"  address = {s(str(layout.socket))}",
        "",
        "[ttrpc]",
        f"  address = {s(str(layout.socket) + '.ttrpc')}",
        "",
        "[debug]",
        '  address = ""',
        '  level = "info"',
        "",
        "[metrics]",
        '  address = ""',
        "",
        '[plugins."io.containerd.internal.v1.opt"]',
        f"  path = {s(str(layout.dir / 'containerd' / 'opt'))}",
        "",
        f"[{cri}]",
        f"  sandbox_image = {s(sandbox_image)}",
        "  restrict_oom_score_adj = true",
        '  stream_server_address = "127.0.0.1"',
        '  stream_server_port = "0"',
        "  enable_selinux = false",
        "  disable_apparmor = true",
        "  max_concurrent_downloads = 3",
        "",
        f"[{cri}.containerd]",
        '  snapshotter = "overlayfs"',
        '  default_runtime_name = "runc"',
        "",
        f"[{cri}.containerd.runtimes.runc]",
        '  runtime_type = "io.containerd.runc.v2"',
        "",
        f"[{cri}.containerd.runtimes.runc.options]",
        "  SystemdCgroup = false",
        # runc's state beside containerd's, not in the machine-wide /run/containerd/runc.
        f"  Root = {s(str(layout.containerd_state / 'runc'))}",
        "",
        f"[{cri}.cni]",
        f"  bin_dir = {s(cni_bin_dir)}",
        f"  conf_dir = {s(str(layout.cni_conf_dir))}",
        "  max_conf_num = 1",
        "",
        f"[{cri}.registry]",
        f"  config_path = {s(str(layout.certs_d))}",
        "",
        f"[{cri}.registry.configs.{s(registry)}.auth]",
        f"  username = {s(username)}",
        f"  password = {s(password)}",
        "",
    ])


def hosts_toml(registry: str) -> str:
    """``certs.d/REGISTRY/hosts.toml``: the cluster registry over plain HTTP."""
    return "\n".join([
        f"server = {_toml_string('http://' + registry)}",
        "",
        f"[host.{_toml_string('http://' + registry)}]",
        '  capabilities = ["pull", "resolve"]',
        "",
    ])


def cni_conflist(layout: NodeLayout) -> dict[str, Any]:
    """The node's CNI network: its own bridge and subnet, loopback; nothing masqueraded."""
    return {
        "cniVersion": "0.4.0",
        "name": f"driftscan-{layout.bridge}",
        "plugins": [
            {"type": "bridge", "bridge": layout.bridge, "isGateway": True, "ipMasq": False,
             "hairpinMode": False,
             "ipam": {"type": "host-local", "ranges": [[{"subnet": layout.subnet}]],
                      "dataDir": str(layout.dir / "cni" / "ipam")}},
            {"type": "loopback"},
        ],
    }


def kubelet_config(layout: NodeLayout) -> dict[str, Any]:
    """``KubeletConfiguration`` for ``layout`` (written as JSON, which YAML reads)."""
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": "127.0.0.1",
        "port": layout.kubelet_port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": layout.healthz_port,
        "authentication": {"anonymous": {"enabled": False},
                           "webhook": {"enabled": False}},
        "authorization": {"mode": "AlwaysAllow"},
        "cgroupDriver": "cgroupfs",
        "cgroupsPerQOS": False,
        "enforceNodeAllocatable": [],
        "failCgroupV1": False,
        "failSwapOn": False,
        "containerRuntimeEndpoint": f"unix://{layout.socket}",
        "podCIDR": layout.subnet,
        "podLogsDir": str(layout.pod_logs),
        "evictionHard": {},
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "imageMinimumGCAge": "87600h",
        "serializeImagePulls": True,
        "registerNode": True,
        "syncFrequency": "5s",
        "fileCheckFrequency": "20s",
        "nodeStatusUpdateFrequency": "10s",
        "runtimeRequestTimeout": "2m",
        "hairpinMode": "none",
        "localStorageCapacityIsolation": False,
        "protectKernelDefaults": False,
        "makeIPTablesUtilChains": False,
        "resolvConf": "/etc/resolv.conf",
        "logging": {"format": "text", "verbosity": 1},
    }
