"""The kind provider: kind clusters with a local registry, set up as kind documents it.

kind runs real kubelets and containerd in Docker containers, so pods really pull and
start, and ``imageID`` is what containerd resolved.

Called by ``providers`` (for ``driftscan cluster …`` and the scenario engine). It follows
kind's "Local Registry" recipe (``site/static/examples/kind-with-registry.sh`` in
kubernetes-sigs/kind), step by step:

1. a ``registry:2`` container ``NAME-registry`` published on ``127.0.0.1:PORT``;
2. ``kind create cluster`` with one control-plane node, N workers and the containerd
   patch ``config_path = "/etc/containerd/certs.d"``;
3. ``/etc/containerd/certs.d/localhost:PORT/hosts.toml`` on every node, pointing
   ``localhost:PORT`` at ``http://NAME-registry:5000`` (inside a node, localhost is the
   node itself, so containerd needs the alias);
4. ``docker network connect kind NAME-registry`` so nodes reach the registry by name;
5. the ConfigMap ``kube-public/local-registry-hosting`` (KEP-1755) naming the registry.

So this machine pushes to ``127.0.0.1:PORT`` and pods name ``localhost:PORT/…``; both
reach the same registry, and ``imageID`` reports real registry digests.

Every command is built by a pure function below (argv lists and file texts, checked by
unit tests) and run through an injectable ``Runner``; no ``CalledProcessError`` or
``FileNotFoundError`` reaches the caller. State: ``.driftscan/clusters/NAME/`` holds
``state.json``, ``kind-config.yaml`` and ``kubeconfig`` (the user's ``~/.kube/config``
is never touched).
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import socket
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from scanner import errors
from scanner.clusters import base, toolchain

__all__ = [
    "CERTS_DIR",
    "DOCKER_INSTALL",
    "KIND_INSTALL",
    "KIND_VERSION",
    "NODE_KUBECONFIG",
    "REGISTRY_HELP",
    "REGISTRY_IMAGE",
    "use_kwok",
    "Completed",
    "KindProvider",
    "Runner",
    "cluster_config",
    "control_plane",
    "create_cluster_argv",
    "delete_cluster_argv",
    "docker_info_argv",
    "free_port",
    "get_clusters_argv",
    "get_kubeconfig_argv",
    "get_nodes_argv",
    "hosts_dir",
    "hosts_toml",
    "inspect_running_argv",
    "kind_version_argv",
    "kubectl_argv",
    "local_registry_hosting",
    "mkdir_hosts_argv",
    "network_connect_argv",
    "parse_docker_info",
    "parse_port",
    "registry_container",
    "registry_networks_argv",
    "registry_port_argv",
    "remove_container_argv",
    "run_registry_argv",
    "run_subprocess",
    "start_container_argv",
    "wait_nodes_argv",
    "worker_count",
    "write_hosts_argv",
]

CERTS_DIR = "/etc/containerd/certs.d"
NODE_KUBECONFIG = "/etc/kubernetes/admin.conf"
"""Admin kubeconfig inside the control-plane node; kind applies its own manifests with it."""
REGISTRY_IMAGE = "registry:2"
REGISTRY_HELP = "https://kind.sigs.k8s.io/docs/user/local-registry/"
KIND_VERSION = "v0.32.0"
KIND_INSTALL = (f"install kind: `go install sigs.k8s.io/kind@{KIND_VERSION}` or a release "
                "binary (https://kind.sigs.k8s.io/docs/user/quick-start/#installation)")
DOCKER_INSTALL = ("install Docker Engine (https://docs.docker.com/engine/install/) or "
                  "Docker Desktop and start it")


def use_kwok() -> str:
    """The way out without Docker, naming the build command of this installation."""
    out = "or run without Docker: --provider kwok"
    if toolchain.ready():
        return out
    return f"{out} (build its binaries once: `{toolchain.build_command()}`, needs Go)"


def _install_hint(executable: str) -> str | None:
    if executable == "kind":
        return KIND_INSTALL
    if executable == "docker":
        return f"{DOCKER_INSTALL}, {use_kwok()}"
    return None

_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]*$")


# --- running commands ------------------------------------------------------------------


@dataclass(frozen=True)
class Completed:
    """What a finished command returned."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str = ""
    stderr: str = ""

    @property
    def ok(self) -> bool:
        """True when the command exited 0."""
        return self.returncode == 0


class Runner(Protocol):
    """Runs one command; raises only ``errors.DriftscanError`` subclasses."""

    def __call__(self, argv: Sequence[str], *, stdin: str | None = None,
                 timeout: float = 120.0) -> Completed:
        """Run ``argv`` with ``stdin`` as input; never raise for a non-zero exit."""
        ...


def run_subprocess(argv: Sequence[str], *, stdin: str | None = None,
                   timeout: float = 120.0) -> Completed:
    """Run ``argv`` and capture its output; the default ``Runner``.

    Raises:
        errors.ToolMissing: the executable is not on ``PATH`` (the hint names how to
            install it).
        errors.ProviderError: it could not be started or did not finish in time.
    """
    try:
        done = subprocess.run(list(argv), input=stdin, capture_output=True, text=True,
                              timeout=timeout, check=False)
    except FileNotFoundError as e:
        raise errors.ToolMissing(f"the kind provider needs `{argv[0]}`, which is not on PATH",
                                 hint=_install_hint(argv[0])) from e
    except subprocess.TimeoutExpired as e:
        raise errors.ProviderError(f"`{shlex.join(argv)}` did not finish within "
                                   f"{timeout:.0f}s") from e
    except OSError as e:
        raise errors.ProviderError(f"could not run `{shlex.join(argv)}`: {e}") from e
    return Completed(tuple(argv), done.returncode, done.stdout, done.stderr)


# --- names, argv lists and file texts (pure) ------------------------------------------


def registry_container(cluster: str) -> str:
    """Name of the registry container that belongs to ``cluster`` (kind's ``kind-registry``)."""
    return f"{cluster}-registry"


def control_plane(cluster: str) -> str:
    """Name of the control-plane node container (and Kubernetes node) kind creates."""
    return f"{cluster}-control-plane"


def worker_count(cluster: str, nodes: Sequence[str]) -> int:
    """How many of ``nodes`` (``kind get nodes`` output) are workers of ``cluster``."""
    pattern = re.compile(rf"^{re.escape(cluster)}-worker\d*$")
    return sum(1 for n in nodes if pattern.match(n))


def cluster_config(workers: int) -> str:
    """The kind ``Cluster`` config file text for ``workers`` worker nodes.

    One control-plane node, ``workers`` workers, and the containerd patch that makes
    containerd read ``hosts.toml`` files from ``CERTS_DIR``. Node images from kind
    v0.27.0 on already set ``config_path``; the patch keeps older images working, as
    kind's recipe notes.
    """
    lines = [
        "# Written by driftscan (kind provider); kind's local-registry recipe.",
        "kind: Cluster",
        "apiVersion: kind.x-k8s.io/v1alpha4",
        "nodes:",
        "- role: control-plane",
        *["- role: worker"] * workers,
        "containerdConfigPatches:",
        "- |-",
        '  [plugins."io.containerd.grpc.v1.cri".registry]',
        f'    config_path = "{CERTS_DIR}"',
    ]
    return "\n".join(lines) + "\n"


def hosts_dir(port: int) -> str:
    """The containerd host namespace directory for ``localhost:PORT`` on a node."""
    return f"{CERTS_DIR}/localhost:{port}"


def hosts_toml(registry: str) -> str:
    """``hosts.toml`` that sends pulls of ``localhost:PORT/…`` to the registry container."""
    return f'[host."http://{registry}:5000"]\n'


def local_registry_hosting(port: int) -> str:
    """The ``kube-public/local-registry-hosting`` ConfigMap (KEP-1755) as YAML."""
    return (
        "apiVersion: v1\n"
        "kind: ConfigMap\n"
        "metadata:\n"
        "  name: local-registry-hosting\n"
        "  namespace: kube-public\n"
        "data:\n"
        "  localRegistryHosting.v1: |\n"
        f'    host: "localhost:{port}"\n'
        f'    help: "{REGISTRY_HELP}"\n'
    )


def docker_info_argv() -> list[str]:
    """Asks the Docker engine for its version and platform; fails when no engine answers."""
    return ["docker", "info", "--format", "{{.ServerVersion}} {{.OSType}}/{{.Architecture}}"]


_ARCHITECTURES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
                  "armv7l": "arm/v7", "armhf": "arm/v7", "ppc64le": "ppc64le",
                  "s390x": "s390x"}


def parse_docker_info(output: str) -> tuple[str, str]:
    """Engine version and OCI platform (``linux/amd64``) from ``docker_info_argv`` output.

    Docker reports the kernel's architecture names (``x86_64``, ``aarch64``); node
    containers run images of the matching OCI platform.
    """
    version, _, platform = output.strip().partition(" ")
    os_type, _, arch = platform.partition("/")
    return version, f"{os_type or 'linux'}/{_ARCHITECTURES.get(arch, arch or 'amd64')}"


def kind_version_argv() -> list[str]:
    """Prints the installed kind version."""
    return ["kind", "version"]


def inspect_running_argv(container: str) -> list[str]:
    """Prints ``true``/``false`` for a container; exits non-zero when it does not exist."""
    return ["docker", "container", "inspect", "--format", "{{.State.Running}}", container]


def run_registry_argv(registry: str, port: int, image: str = REGISTRY_IMAGE, *,
                      cluster: str = "") -> list[str]:
    """Starts the registry container on ``127.0.0.1:PORT`` (recipe step 1)."""
    argv = ["docker", "run", "-d", "--restart=always", "-p", f"127.0.0.1:{port}:5000",
            "--network", "bridge", "--name", registry]
    if cluster:
        argv += ["--label", f"io.driftscan.cluster={cluster}"]
    return [*argv, image]


def start_container_argv(container: str) -> list[str]:
    """Starts a stopped container."""
    return ["docker", "start", container]


def registry_port_argv(registry: str) -> list[str]:
    """Prints the host address the registry's port 5000 is published on."""
    return ["docker", "port", registry, "5000/tcp"]


def remove_container_argv(container: str) -> list[str]:
    """Removes a container, running or not, with its anonymous volumes."""
    return ["docker", "rm", "--force", "--volumes", container]


def get_clusters_argv() -> list[str]:
    """Lists kind clusters, one name per line."""
    return ["kind", "get", "clusters"]


def get_nodes_argv(cluster: str) -> list[str]:
    """Lists the node containers of ``cluster``, one per line."""
    return ["kind", "get", "nodes", "--name", cluster]


def create_cluster_argv(cluster: str, config: Path, kubeconfig: Path,
                        node_image: str | None = None) -> list[str]:
    """Creates the cluster from ``config``, writing its kubeconfig to ``kubeconfig`` only."""
    argv = ["kind", "create", "cluster", "--name", cluster, "--config", str(config),
            "--kubeconfig", str(kubeconfig)]
    if node_image:
        argv += ["--image", node_image]
    return argv


def delete_cluster_argv(cluster: str, kubeconfig: Path) -> list[str]:
    """Deletes the cluster (a no-op in kind when it does not exist)."""
    return ["kind", "delete", "cluster", "--name", cluster, "--kubeconfig", str(kubeconfig)]


def get_kubeconfig_argv(cluster: str) -> list[str]:
    """Prints the cluster's kubeconfig (host-reachable apiserver address)."""
    return ["kind", "get", "kubeconfig", "--name", cluster]


def mkdir_hosts_argv(node: str, port: int) -> list[str]:
    """Creates the ``hosts.toml`` directory on a node (recipe step 3)."""
    return ["docker", "exec", node, "mkdir", "-p", hosts_dir(port)]


def write_hosts_argv(node: str, port: int) -> list[str]:
    """Copies stdin to the node's ``hosts.toml`` (recipe step 3)."""
    return ["docker", "exec", "-i", node, "cp", "/dev/stdin", f"{hosts_dir(port)}/hosts.toml"]


def registry_networks_argv(registry: str, network: str) -> list[str]:
    """Prints the registry's endpoint on ``network`` as JSON, ``null`` when not connected."""
    return ["docker", "container", "inspect", "--format",
            f'{{{{json (index .NetworkSettings.Networks "{network}")}}}}', registry]


def network_connect_argv(network: str, registry: str) -> list[str]:
    """Connects the registry to the nodes' Docker network (recipe step 4)."""
    return ["docker", "network", "connect", network, registry]


def kubectl_argv(node: str, *args: str, stdin: bool = False) -> list[str]:
    """Runs kubectl inside the control-plane node with its admin kubeconfig.

    kind applies its own manifests the same way, so no kubectl is needed on this machine.
    """
    return ["docker", "exec", *(["-i"] if stdin else []), node, "kubectl",
            f"--kubeconfig={NODE_KUBECONFIG}", *args]


def wait_nodes_argv(node: str, timeout_s: int) -> list[str]:
    """Waits until every node reports Ready."""
    return kubectl_argv(node, "wait", "--for=condition=Ready", "nodes", "--all",
                        f"--timeout={timeout_s}s")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (for the registry)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def parse_port(docker_port_output: str) -> int | None:
    """The port from ``docker port`` output such as ``127.0.0.1:5001``."""
    for line in docker_port_output.splitlines():
        host, sep, port = line.strip().rpartition(":")
        if sep and host and port.isdigit():
            return int(port)
    return None


# --- the provider ----------------------------------------------------------------------


class KindProvider:
    """Runs the kind test cluster named ``cluster`` and its local registry."""

    name = "kind"

    def __init__(self, cluster: str, *, runner: Runner | None = None,
                 registry_port: int | None = None, node_image: str | None = None,
                 registry_image: str | None = None, network: str | None = None,
                 ready_timeout_s: int = 300) -> None:
        if not _NAME.match(cluster):
            raise errors.InputError(
                f"{cluster!r} is not a valid kind cluster name",
                hint="use lower-case letters, digits, '.' and '-' (kind's own rule)")
        self.cluster = cluster
        self.dir = base.state_root() / cluster
        self.run: Runner = runner or run_subprocess
        self.registry = registry_container(cluster)
        self.registry_port = registry_port
        self.node_image = node_image or os.environ.get("DRIFTSCAN_KIND_NODE_IMAGE") or None
        self.registry_image = (registry_image or os.environ.get("DRIFTSCAN_KIND_REGISTRY_IMAGE")
                               or REGISTRY_IMAGE)
        # kind itself honours this variable; the registry must join the same network.
        self.network = network or os.environ.get("KIND_EXPERIMENTAL_DOCKER_NETWORK") or "kind"
        self.ready_timeout_s = ready_timeout_s

    # --- state -----------------------------------------------------------------------

    @property
    def kubeconfig(self) -> Path:
        """Where the cluster's kubeconfig is written."""
        return self.dir / "kubeconfig"

    @property
    def _state_file(self) -> Path:
        return self.dir / "state.json"

    def _load_state(self) -> dict[str, Any] | None:
        return base.load_state(self._state_file)

    def _save(self, state: dict[str, Any]) -> None:
        base.save_state(self._state_file, state)

    # --- commands --------------------------------------------------------------------

    def _check(self, argv: Sequence[str], what: str, *, stdin: str | None = None,
               timeout: float = 120.0) -> Completed:
        done = self.run(argv, stdin=stdin, timeout=timeout)
        if not done.ok:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
            raise errors.ProviderError(
                f"{what} failed (exit {done.returncode}): `{shlex.join(argv)}`"
                + (f"\n{tail}" if tail else ""))
        return done

    def _require_docker(self) -> tuple[str, str]:
        """The Docker engine's version and platform; raises with what to do when none answers."""
        done = self.run(docker_info_argv(), timeout=20.0)
        version, platform = parse_docker_info(done.stdout)
        if done.ok and version:
            return version, platform
        said = (done.stderr or done.stdout).strip().splitlines()
        first = said[0] if said else ""
        action = ("let your user reach the Docker socket (`sudo usermod -aG docker $USER`, "
                  "then log in again)" if "permission denied" in first.lower()
                  else "start Docker (Docker Desktop, or `sudo systemctl start docker`)")
        raise errors.ProviderError(
            "the kind provider needs a running Docker engine, and none answers"
            + (f" (docker info: {first})" if first else ""),
            hint=f"{action}, {use_kwok()}")

    def _require_kind(self) -> str:
        return self._check(kind_version_argv(), "kind version", timeout=20.0).stdout.strip()

    def _running(self, container: str) -> bool | None:
        """True/False for an existing container, None when it does not exist."""
        done = self.run(inspect_running_argv(container), timeout=20.0)
        if not done.ok:
            return None
        return done.stdout.strip() == "true"

    def _clusters(self) -> list[str]:
        done = self._check(get_clusters_argv(), "kind get clusters", timeout=30.0)
        return [line.strip() for line in done.stdout.splitlines() if line.strip()]

    def _nodes(self) -> list[str]:
        done = self.run(get_nodes_argv(self.cluster), timeout=30.0)
        if not done.ok:
            return []
        return sorted(line.strip() for line in done.stdout.splitlines() if line.strip())

    # --- up / down ---------------------------------------------------------------------

    def up(self, nodes: int, say: base.Say) -> base.ClusterHandle:
        """Start the registry and a cluster with ``nodes`` workers, or reuse running ones.

        Raises:
            errors.ToolMissing: ``docker`` or ``kind`` is not installed.
            errors.ProviderError: no Docker engine answers, a command failed, or a running
                cluster has fewer workers than asked for.
        """
        other = os.environ.get("KIND_EXPERIMENTAL_PROVIDER", "docker")
        if other not in ("", "docker"):
            raise errors.ProviderError(
                f"KIND_EXPERIMENTAL_PROVIDER={other} makes kind use {other}, but driftscan's "
                "kind provider runs its registry with docker",
                hint="unset KIND_EXPERIMENTAL_PROVIDER, or use --provider kwok")
        docker_version, platform = self._require_docker()
        kind_version = self._require_kind()
        self.dir.mkdir(parents=True, exist_ok=True)
        port = self._ensure_registry(say)
        created = False
        if self.cluster in self._clusters():
            current = self._nodes()
            if current and all(self._running(n) for n in current):
                have = worker_count(self.cluster, current)
                if have < nodes:
                    raise errors.ProviderError(
                        f"kind cluster {self.cluster!r} runs {have} workers, {nodes} asked "
                        "for; kind cannot add nodes to a running cluster",
                        hint=f"recreate it: driftscan cluster down --provider kind --name "
                             f"{self.cluster}, then cluster up --provider kind --nodes {nodes}")
                say(f"kind cluster {self.cluster!r} is already running ({have} workers)")
            else:
                say(f"kind cluster {self.cluster!r} is not healthy; recreating it")
                self._check(delete_cluster_argv(self.cluster, self.kubeconfig),
                            "kind delete cluster", timeout=300.0)
                created = self._create(nodes, say)
        else:
            created = self._create(nodes, say)
        try:
            current = self._nodes()
            self._connect_registry(current, port, say)
            say("waiting for every node to be Ready")
            self._check(wait_nodes_argv(control_plane(self.cluster), self.ready_timeout_s),
                        "waiting for nodes", timeout=self.ready_timeout_s + 30.0)
            kubeconfig = self._check(get_kubeconfig_argv(self.cluster),
                                     "kind get kubeconfig").stdout
            self.kubeconfig.write_text(kubeconfig)
            self.kubeconfig.chmod(0o600)
            self._save({"cluster": self.cluster, "registry_container": self.registry,
                        "registry_port": port, "network": self.network,
                        "nodes": current, "workers": worker_count(self.cluster, current),
                        "platform": platform, "kind": kind_version,
                        "docker": docker_version})
        except BaseException:
            if created:
                # Leave nothing half-configured behind; the original error is what counts.
                with contextlib.suppress(errors.DriftscanError):
                    self.down(lambda _m: None)
            raise
        h = self.handle()
        say(f"kind cluster {self.cluster!r} ready ({len(current)} nodes; push to "
            f"{h.registry}, pods pull {h.registry_in_cluster})")
        return h

    def _create(self, workers: int, say: base.Say) -> bool:
        config = self.dir / "kind-config.yaml"
        config.write_text(cluster_config(workers))
        say(f"creating kind cluster {self.cluster!r}: 1 control-plane + {workers} workers "
            "(about a minute)")
        self._check(create_cluster_argv(self.cluster, config, self.kubeconfig, self.node_image),
                    "kind create cluster", timeout=900.0)
        return True

    def _ensure_registry(self, say: base.Say) -> int:
        """Start (or reuse) the registry container; returns its host port (recipe step 1)."""
        running = self._running(self.registry)
        if running is False:
            say(f"starting registry container {self.registry}")
            self._check(start_container_argv(self.registry), "docker start")
        elif running is None:
            state = self._load_state() or {}
            port = self.registry_port or state.get("registry_port") or free_port()
            say(f"starting registry container {self.registry} on 127.0.0.1:{port}")
            self._check(run_registry_argv(self.registry, int(port), self.registry_image,
                                          cluster=self.cluster),
                        "starting the registry container", timeout=300.0)
        port_out = self._check(registry_port_argv(self.registry), "docker port").stdout
        found = parse_port(port_out)
        if found is None:
            raise errors.ProviderError(
                f"registry container {self.registry} publishes no port for 5000/tcp",
                hint=f"remove it (docker rm -f {self.registry}) and run cluster up again")
        return found

    def _connect_registry(self, current: Sequence[str], port: int, say: base.Say) -> None:
        """Recipe steps 3–5: hosts.toml per node, network connect, the ConfigMap."""
        if not current:
            raise errors.ProviderError(f"kind reports no nodes for cluster {self.cluster!r}")
        say(f"pointing containerd on {len(current)} nodes at {self.registry}")
        for node in current:
            self._check(mkdir_hosts_argv(node, port), f"creating {hosts_dir(port)} on {node}")
            self._check(write_hosts_argv(node, port), f"writing hosts.toml on {node}",
                        stdin=hosts_toml(self.registry))
        joined = self._check(registry_networks_argv(self.registry, self.network),
                             "docker container inspect").stdout.strip()
        if joined in ("", "null"):
            self._check(network_connect_argv(self.network, self.registry),
                        "docker network connect")
        self._check(kubectl_argv(control_plane(self.cluster), "apply", "-f", "-", stdin=True),
                    "applying kube-public/local-registry-hosting",
                    stdin=local_registry_hosting(port))

    def down(self, say: base.Say) -> None:
        """Delete the cluster and its registry container, then the state (idempotent)."""
        try:
            self._require_docker()
            self._require_kind()
        except errors.DriftscanError:
            if not self.dir.exists():
                return  # nothing of ours can be running
            raise
        self._check(delete_cluster_argv(self.cluster, self.kubeconfig), "kind delete cluster",
                    timeout=300.0)
        if self._running(self.registry) is not None:
            self._check(remove_container_argv(self.registry), "removing the registry container")
        shutil.rmtree(self.dir, ignore_errors=True)
        say(f"kind cluster {self.cluster!r} and registry {self.registry} deleted")

    # --- inspection --------------------------------------------------------------------

    def status(self) -> list[base.ComponentStatus]:
        """The Docker engine, each node container and the registry container."""
        try:
            version, platform = self._require_docker()
        except errors.DriftscanError as e:
            return [base.ComponentStatus("docker", False, e.message)]
        out = [base.ComponentStatus("docker", True, f"engine {version}, {platform}")]
        try:
            current = self._nodes()
        except errors.DriftscanError as e:
            return [*out, base.ComponentStatus("kind", False, e.message)]
        if not current:
            out.append(base.ComponentStatus("cluster", False, "not created"))
        for node in current:
            out.append(base.ComponentStatus(node, bool(self._running(node)), "node"))
        running = self._running(self.registry)
        if running is None:
            out.append(base.ComponentStatus(self.registry, False, "not created"))
        else:
            port = parse_port(self.run(registry_port_argv(self.registry)).stdout)
            detail = (f"push 127.0.0.1:{port}, pods pull localhost:{port}" if port
                      else "no published port")
            out.append(base.ComponentStatus(self.registry, running, detail))
        return out

    def handle(self) -> base.ClusterHandle:
        """The running cluster's handle; ``ProviderError`` when it is not up."""
        state = self._load_state()
        if (state is None or not self.kubeconfig.exists()
                or not self._running(control_plane(self.cluster))
                or not self._running(self.registry)):
            raise errors.ProviderError(
                f"kind cluster {self.cluster!r} is not running",
                hint=f"start it: driftscan cluster up --provider kind --name {self.cluster}")
        port = int(state["registry_port"])
        return base.ClusterHandle(
            name=self.cluster, provider=self.name, kubeconfig=self.kubeconfig,
            registry=f"127.0.0.1:{port}", state_dir=self.dir,
            nodes=tuple(state.get("nodes", [])), registry_in_cluster=f"localhost:{port}")

    def add_node(self, name: str) -> None:
        """Always raises ``ProviderError``: kind cannot add a node to a running cluster."""
        raise errors.ProviderError(
            f"cannot add node {name!r}: kind cannot add nodes to a running cluster",
            hint=f"recreate the cluster with more workers (driftscan cluster down --provider "
                 f"kind --name {self.cluster}; driftscan cluster up --provider kind --name "
                 f"{self.cluster} --nodes K), or run scenarios with add-node steps on "
                 "--provider kwok")
