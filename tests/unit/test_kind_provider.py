"""The kind provider: exact commands and files, idempotency, provider choice, no-Docker errors.

A ``FakeDocker`` runner stands in for ``docker`` and ``kind``: it keeps a small model of
containers, clusters and networks, answers each command the way the real tools do, and
records every argv (with its stdin) so tests compare the exact command sequence.
"""

from __future__ import annotations

import io
import json
import stat
import sys
import tarfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from scanner import cli, errors
from scanner.clusters import base, images_kind, kind, providers
from scanner.oci import client as oci_client
from scanner.oci import failures, names, synthetic

CLUSTER = "drift"
REG = "drift-registry"
CP = "drift-control-plane"
KUBECONFIG_TEXT = "apiVersion: v1\nkind: Config\ncurrent-context: kind-drift\n"


class FakeDocker:
    """A scripted docker + kind: a model of containers, clusters and one network."""

    def __init__(self, *, engine: bool = True) -> None:
        self.engine = engine
        self.calls: list[tuple[tuple[str, ...], str | None]] = []
        self.containers: dict[str, bool] = {}  # name -> running
        self.ports: dict[str, int] = {}
        self.networks: dict[str, set[str]] = {"kind": set()}
        self.clusters: dict[str, list[str]] = {}
        self.fail: dict[tuple[str, ...], str] = {}  # argv prefix -> stderr of a failure

    @property
    def argvs(self) -> list[tuple[str, ...]]:
        return [argv for argv, _ in self.calls]

    def __call__(self, argv: Sequence[str], *, stdin: str | None = None,
                 timeout: float = 120.0) -> kind.Completed:
        a = tuple(argv)
        self.calls.append((a, stdin))
        for prefix, err in self.fail.items():
            if a[: len(prefix)] == prefix:
                return kind.Completed(a, 1, "", err)
        return self._answer(a, stdin)

    def _ok(self, a: tuple[str, ...], out: str = "") -> kind.Completed:
        return kind.Completed(a, 0, out, "")

    def _answer(self, a: tuple[str, ...], stdin: str | None) -> kind.Completed:
        if a[0] == "docker" and not self.engine:
            return kind.Completed(a, 1, "", "Cannot connect to the Docker daemon at "
                                  "unix:///var/run/docker.sock. Is the docker daemon running?")
        match a:
            case ("docker", "info", *_):
                return self._ok(a, "27.3.1 linux/x86_64\n")
            case ("kind", "version"):
                return self._ok(a, "kind v0.32.0 go1.26.1 linux/amd64\n")
            case ("docker", "container", "inspect", "--format", fmt, name):
                if name not in self.containers:
                    return kind.Completed(a, 1, "", f"Error: No such container: {name}")
                if fmt == "{{.State.Running}}":
                    return self._ok(a, "true\n" if self.containers[name] else "false\n")
                net = fmt.split('"')[1]
                joined = name in self.networks.get(net, set())
                return self._ok(a, '{"NetworkID":"abc"}\n' if joined else "null\n")
            case ("docker", "run", *rest):
                name = rest[rest.index("--name") + 1]
                port = int(rest[rest.index("-p") + 1].split(":")[1])
                self.containers[name], self.ports[name] = True, port
                return self._ok(a, "f00dcafe\n")
            case ("docker", "start", name):
                self.containers[name] = True
                return self._ok(a, name + "\n")
            case ("docker", "port", name, "5000/tcp"):
                return self._ok(a, f"127.0.0.1:{self.ports[name]}\n")
            case ("docker", "rm", "--force", "--volumes", name):
                self.containers.pop(name, None)
                for members in self.networks.values():
                    members.discard(name)
                return self._ok(a, name + "\n")
            case ("docker", "network", "connect", net, name):
                self.networks[net].add(name)
                return self._ok(a)
            case ("docker", "exec", *_):
                return self._ok(a)
            case ("kind", "get", "clusters"):
                return self._ok(a, "".join(f"{c}\n" for c in sorted(self.clusters)))
            case ("kind", "get", "nodes", "--name", name):
                return self._ok(a, "".join(f"{n}\n" for n in self.clusters.get(name, [])))
            case ("kind", "get", "kubeconfig", "--name", name):
                return self._ok(a, KUBECONFIG_TEXT)
            case ("kind", "create", "cluster", "--name", name, "--config", path, *_):
                workers = Path(path).read_text().count("- role: worker")
                nodes = [f"{name}-control-plane"] + [
                    f"{name}-worker{i + 1 if i else ''}" for i in range(workers)]
                self.clusters[name] = nodes
                for n in nodes:
                    self.containers[n] = True
                return self._ok(a)
            case ("kind", "delete", "cluster", "--name", name, *_):
                for n in self.clusters.pop(name, []):
                    self.containers.pop(n, None)
                return self._ok(a)
        raise AssertionError(f"unexpected command {a}")


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "state"
    monkeypatch.setenv("DRIFTSCAN_STATE_DIR", str(root))
    for var in ("KIND_EXPERIMENTAL_DOCKER_NETWORK", "KIND_EXPERIMENTAL_PROVIDER",
                "DRIFTSCAN_KIND_NODE_IMAGE",
                "DRIFTSCAN_KIND_REGISTRY_IMAGE", "DRIFTSCAN_KIND_BASE_IMAGE"):
        monkeypatch.delenv(var, raising=False)
    return root / "clusters"


def provider(docker: FakeDocker, **kw: object) -> kind.KindProvider:
    return kind.KindProvider(CLUSTER, runner=docker, registry_port=5001, **kw)  # type: ignore[arg-type]


def quiet(_m: str) -> None:
    pass


# --- pure functions: file texts ---------------------------------------------------------


def test_cluster_config_has_one_control_plane_n_workers_and_the_containerd_patch() -> None:
    assert kind.cluster_config(3) == (
        "# Written by driftscan (kind provider); kind's local-registry recipe.\n"
        "kind: Cluster\n"
        "apiVersion: kind.x-k8s.io/v1alpha4\n"
        "nodes:\n"
        "- role: control-plane\n"
        "- role: worker\n"
        "- role: worker\n"
        "- role: worker\n"
        "containerdConfigPatches:\n"
        "- |-\n"
        '  [plugins."io.containerd.grpc.v1.cri".registry]\n'
        '    config_path = "/etc/containerd/certs.d"\n'
    )


def test_cluster_config_parses_as_the_yaml_kind_reads() -> None:
    import yaml

    doc = yaml.safe_load(kind.cluster_config(2))
    assert doc["kind"] == "Cluster" and doc["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert [n["role"] for n in doc["nodes"]] == ["control-plane", "worker", "worker"]
    assert doc["containerdConfigPatches"] == [
        '[plugins."io.containerd.grpc.v1.cri".registry]\n'
        '  config_path = "/etc/containerd/certs.d"']


def test_hosts_toml_points_localhost_port_at_the_registry_container() -> None:
    assert kind.hosts_dir(5001) == "/etc/containerd/certs.d/localhost:5001"
    assert kind.hosts_toml("drift-registry") == '[host."http://drift-registry:5000"]\n'


def test_local_registry_hosting_configmap() -> None:
    text = kind.local_registry_hosting(5001)
    assert text == (
        "apiVersion: v1\n"
        "kind: ConfigMap\n"
        "metadata:\n"
        "  name: local-registry-hosting\n"
        "  namespace: kube-public\n"
        "data:\n"
        "  localRegistryHosting.v1: |\n"
        '    host: "localhost:5001"\n'
        '    help: "https://kind.sigs.k8s.io/docs/user/local-registry/"\n'
    )
    import yaml

    doc = yaml.safe_load(text)
    assert yaml.safe_load(doc["data"]["localRegistryHosting.v1"]) == {
        "host": "localhost:5001", "help": "https://kind.sigs.k8s.io/docs/user/local-registry/"}


# --- pure functions: argv --------------------------------------------------------------


def test_argv_lists() -> None:
    assert kind.registry_container("drift") == "drift-registry"
    assert kind.control_plane("drift") == "drift-control-plane"
    assert kind.docker_info_argv() == [
        "docker", "info", "--format", "{{.ServerVersion}} {{.OSType}}/{{.Architecture}}"]
    assert kind.run_registry_argv(REG, 5001, cluster=CLUSTER) == [
        "docker", "run", "-d", "--restart=always", "-p", "127.0.0.1:5001:5000",
        "--network", "bridge", "--name", REG, "--label", "io.driftscan.cluster=drift",
        "registry:2"]
    assert kind.create_cluster_argv(CLUSTER, Path("/s/kind-config.yaml"), Path("/s/kc")) == [
        "kind", "create", "cluster", "--name", "drift", "--config", "/s/kind-config.yaml",
        "--kubeconfig", "/s/kc"]
    assert kind.create_cluster_argv(CLUSTER, Path("/c"), Path("/k"), "kindest/node:v1.36.1")[
        -2:] == ["--image", "kindest/node:v1.36.1"]
    assert kind.delete_cluster_argv(CLUSTER, Path("/s/kc")) == [
        "kind", "delete", "cluster", "--name", "drift", "--kubeconfig", "/s/kc"]
    assert kind.get_nodes_argv(CLUSTER) == ["kind", "get", "nodes", "--name", "drift"]
    assert kind.get_kubeconfig_argv(CLUSTER) == ["kind", "get", "kubeconfig", "--name", "drift"]
    assert kind.mkdir_hosts_argv("n1", 5001) == [
        "docker", "exec", "n1", "mkdir", "-p", "/etc/containerd/certs.d/localhost:5001"]
    assert kind.write_hosts_argv("n1", 5001) == [
        "docker", "exec", "-i", "n1", "cp", "/dev/stdin",
        "/etc/containerd/certs.d/localhost:5001/hosts.toml"]
    assert kind.registry_networks_argv(REG, "kind") == [
        "docker", "container", "inspect", "--format",
        '{{json (index .NetworkSettings.Networks "kind")}}', REG]
    assert kind.network_connect_argv("kind", REG) == ["docker", "network", "connect", "kind", REG]
    assert kind.kubectl_argv(CP, "apply", "-f", "-", stdin=True) == [
        "docker", "exec", "-i", CP, "kubectl", "--kubeconfig=/etc/kubernetes/admin.conf",
        "apply", "-f", "-"]
    assert kind.wait_nodes_argv(CP, 300) == [
        "docker", "exec", CP, "kubectl", "--kubeconfig=/etc/kubernetes/admin.conf",
        "wait", "--for=condition=Ready", "nodes", "--all", "--timeout=300s"]
    assert kind.remove_container_argv(REG) == ["docker", "rm", "--force", "--volumes", REG]


def test_parsers() -> None:
    assert kind.parse_docker_info("27.3.1 linux/x86_64\n") == ("27.3.1", "linux/amd64")
    assert kind.parse_docker_info("28.0.0 linux/aarch64") == ("28.0.0", "linux/arm64")
    assert kind.parse_docker_info("") == ("", "linux/amd64")
    assert kind.parse_port("127.0.0.1:5001\n") == 5001
    assert kind.parse_port("") is None
    assert kind.worker_count("drift", ["drift-control-plane", "drift-worker", "drift-worker2",
                                       "drift-external-load-balancer", "other-worker"]) == 2


def test_public_surface_is_declared() -> None:
    for module in (kind, images_kind):
        public = {n for n, v in vars(module).items()
                  if not n.startswith("_") and getattr(v, "__module__", module.__name__)
                  == module.__name__ and callable(v)}
        assert public <= set(module.__all__), module.__name__
        assert all(hasattr(module, n) for n in module.__all__)


def test_invalid_cluster_name_is_an_input_error() -> None:
    with pytest.raises(errors.InputError, match="not a valid kind cluster name"):
        kind.KindProvider("Bad_Name")


# --- up -----------------------------------------------------------------------------------


def expected_fresh_up(state: Path) -> list[tuple[tuple[str, ...], str | None]]:
    d = state / CLUSTER
    nodes = [CP, "drift-worker", "drift-worker2"]
    seq: list[tuple[tuple[str, ...], str | None]] = [
        (tuple(kind.docker_info_argv()), None),
        (("kind", "version"), None),
        (("docker", "container", "inspect", "--format", "{{.State.Running}}", REG), None),
        (tuple(kind.run_registry_argv(REG, 5001, cluster=CLUSTER)), None),
        (("docker", "port", REG, "5000/tcp"), None),
        (("kind", "get", "clusters"), None),
        (tuple(kind.create_cluster_argv(CLUSTER, d / "kind-config.yaml", d / "kubeconfig")),
         None),
        (("kind", "get", "nodes", "--name", CLUSTER), None),
    ]
    for n in nodes:
        seq.append((tuple(kind.mkdir_hosts_argv(n, 5001)), None))
        seq.append((tuple(kind.write_hosts_argv(n, 5001)),
                    '[host."http://drift-registry:5000"]\n'))
    seq += [
        (tuple(kind.registry_networks_argv(REG, "kind")), None),
        (("docker", "network", "connect", "kind", REG), None),
        (tuple(kind.kubectl_argv(CP, "apply", "-f", "-", stdin=True)),
         kind.local_registry_hosting(5001)),
        (tuple(kind.wait_nodes_argv(CP, 300)), None),
        (("kind", "get", "kubeconfig", "--name", CLUSTER), None),
        # handle(): the control plane and the registry must be running
        (("docker", "container", "inspect", "--format", "{{.State.Running}}", CP), None),
        (("docker", "container", "inspect", "--format", "{{.State.Running}}", REG), None),
    ]
    return seq


def test_up_from_scratch_runs_the_documented_recipe_in_order(state_dir: Path) -> None:
    docker = FakeDocker()
    said: list[str] = []
    h = provider(docker).up(2, said.append)

    assert docker.calls == expected_fresh_up(state_dir)
    d = state_dir / CLUSTER
    assert (d / "kind-config.yaml").read_text() == kind.cluster_config(2)
    assert (d / "kubeconfig").read_text() == KUBECONFIG_TEXT
    assert stat.S_IMODE((d / "kubeconfig").stat().st_mode) == 0o600
    state = json.loads((d / "state.json").read_text())
    assert state == {"cluster": CLUSTER, "registry_container": REG, "registry_port": 5001,
                     "network": "kind", "nodes": [CP, "drift-worker", "drift-worker2"],
                     "workers": 2, "platform": "linux/amd64",
                     "kind": "kind v0.32.0 go1.26.1 linux/amd64", "docker": "27.3.1"}
    assert h == base.ClusterHandle(
        name=CLUSTER, provider="kind", kubeconfig=d / "kubeconfig", registry="127.0.0.1:5001",
        state_dir=d, nodes=(CP, "drift-worker", "drift-worker2"),
        registry_in_cluster="localhost:5001")
    assert h.pull_registry == "localhost:5001"
    assert any("1 control-plane + 2 workers" in m for m in said)
    assert said[-1] == ("kind cluster 'drift' ready (3 nodes; push to 127.0.0.1:5001, "
                        "pods pull localhost:5001)")


def test_up_is_idempotent_and_reuses_the_running_cluster_and_registry() -> None:
    docker = FakeDocker()
    p = provider(docker)
    first = p.up(2, quiet)
    docker.calls.clear()
    said: list[str] = []
    again = provider(docker).up(2, said.append)

    assert again == first
    assert not [a for a in docker.argvs if a[:3] == ("kind", "create", "cluster")]
    assert not [a for a in docker.argvs if a[:2] == ("docker", "run")]
    assert not [a for a in docker.argvs if a[:3] == ("docker", "network", "connect")]
    assert "kind cluster 'drift' is already running (2 workers)" in said
    # hosts.toml and the ConfigMap are written again: cheap, and repairs drift in them
    assert sum(a[:3] == ("docker", "exec", "-i") for a in docker.argvs) == 4


def test_up_with_fewer_nodes_than_running_reuses_the_cluster() -> None:
    docker = FakeDocker()
    provider(docker).up(3, quiet)
    h = provider(docker).up(1, quiet)
    assert len(h.nodes) == 4


def test_up_asking_for_more_workers_than_running_says_kind_cannot_add_nodes() -> None:
    docker = FakeDocker()
    provider(docker).up(1, quiet)
    with pytest.raises(errors.ProviderError) as e:
        provider(docker).up(3, quiet)
    assert "runs 1 workers, 3 asked for; kind cannot add nodes" in e.value.message
    assert "driftscan cluster down --provider kind --name drift" in (e.value.hint or "")


def test_up_recreates_a_cluster_whose_nodes_stopped(state_dir: Path) -> None:
    docker = FakeDocker()
    provider(docker).up(1, quiet)
    docker.containers["drift-worker"] = False
    docker.calls.clear()
    said: list[str] = []
    provider(docker).up(1, said.append)
    d = state_dir / CLUSTER
    assert "kind cluster 'drift' is not healthy; recreating it" in said
    i = docker.argvs.index(tuple(kind.delete_cluster_argv(CLUSTER, d / "kubeconfig")))
    assert docker.argvs[i + 1] == tuple(kind.create_cluster_argv(
        CLUSTER, d / "kind-config.yaml", d / "kubeconfig"))


def test_up_starts_a_stopped_registry_instead_of_creating_another() -> None:
    docker = FakeDocker()
    provider(docker).up(1, quiet)
    docker.containers[REG] = False
    docker.calls.clear()
    provider(docker).up(1, quiet)
    assert ("docker", "start", REG) in docker.argvs
    assert not [a for a in docker.argvs if a[:2] == ("docker", "run")]


def test_up_honours_node_image_and_network_settings(monkeypatch: pytest.MonkeyPatch,
                                                    state_dir: Path) -> None:
    monkeypatch.setenv("DRIFTSCAN_KIND_NODE_IMAGE", "kindest/node:v1.36.1")
    monkeypatch.setenv("KIND_EXPERIMENTAL_DOCKER_NETWORK", "kind")
    docker = FakeDocker()
    provider(docker).up(1, quiet)
    d = state_dir / CLUSTER
    assert tuple(kind.create_cluster_argv(CLUSTER, d / "kind-config.yaml", d / "kubeconfig",
                                          "kindest/node:v1.36.1")) in docker.argvs


def test_up_picks_a_free_port_when_none_is_given() -> None:
    docker = FakeDocker()
    h = kind.KindProvider(CLUSTER, runner=docker).up(1, quiet)
    port = docker.ports[REG]
    assert 0 < port < 65536
    assert h.registry == f"127.0.0.1:{port}" and h.registry_in_cluster == f"localhost:{port}"


def test_a_failing_step_after_create_deletes_what_up_created(state_dir: Path) -> None:
    docker = FakeDocker()
    docker.fail[("docker", "network", "connect")] = "Error response from daemon: boom"
    with pytest.raises(errors.ProviderError) as e:
        provider(docker).up(1, quiet)
    assert "docker network connect failed (exit 1)" in e.value.message
    assert "Error response from daemon: boom" in e.value.message
    assert CLUSTER not in docker.clusters and REG not in docker.containers
    assert not (state_dir / CLUSTER).exists()


def test_kind_create_failure_is_a_provider_error_quoting_kind() -> None:
    docker = FakeDocker()
    docker.fail[("kind", "create", "cluster")] = "ERROR: failed to create cluster: node(s) …"
    with pytest.raises(errors.ProviderError, match="kind create cluster failed") as e:
        provider(docker).up(1, quiet)
    assert "ERROR: failed to create cluster" in str(e.value)


# --- down, status, handle, add_node --------------------------------------------------------


def test_down_deletes_cluster_and_registry_and_state(state_dir: Path) -> None:
    docker = FakeDocker()
    provider(docker).up(1, quiet)
    docker.calls.clear()
    said: list[str] = []
    provider(docker).down(said.append)
    kc = state_dir / CLUSTER / "kubeconfig"
    assert docker.argvs == [
        tuple(kind.docker_info_argv()),
        ("kind", "version"),
        ("kind", "delete", "cluster", "--name", CLUSTER, "--kubeconfig", str(kc)),
        ("docker", "container", "inspect", "--format", "{{.State.Running}}", REG),
        ("docker", "rm", "--force", "--volumes", REG),
    ]
    assert not (state_dir / CLUSTER).exists()
    assert docker.containers == {} and docker.clusters == {}
    assert said == ["kind cluster 'drift' and registry drift-registry deleted"]


def test_down_twice_is_harmless() -> None:
    docker = FakeDocker()
    p = provider(docker)
    p.up(1, quiet)
    p.down(quiet)
    docker.calls.clear()
    p.down(quiet)
    assert ("docker", "rm", "--force", "--volumes", REG) not in docker.argvs


def test_down_without_docker_is_a_no_op_when_nothing_was_started() -> None:
    docker = FakeDocker(engine=False)
    provider(docker).down(quiet)
    assert docker.argvs == [tuple(kind.docker_info_argv())]


def test_down_without_docker_but_with_state_says_docker_is_missing(state_dir: Path) -> None:
    (state_dir / CLUSTER).mkdir(parents=True)
    with pytest.raises(errors.ProviderError, match="needs a running Docker engine"):
        provider(FakeDocker(engine=False)).down(quiet)


def test_status_lists_docker_nodes_and_registry() -> None:
    docker = FakeDocker()
    p = provider(docker)
    assert [(c.name, c.running, c.detail) for c in p.status()] == [
        ("docker", True, "engine 27.3.1, linux/amd64"),
        ("cluster", False, "not created"),
        (REG, False, "not created"),
    ]
    p.up(1, quiet)
    docker.containers["drift-worker"] = False
    assert [(c.name, c.running, c.detail) for c in p.status()] == [
        ("docker", True, "engine 27.3.1, linux/amd64"),
        (CP, True, "node"),
        ("drift-worker", False, "node"),
        (REG, True, "push 127.0.0.1:5001, pods pull localhost:5001"),
    ]


def test_permission_denied_on_the_docker_socket_gets_its_own_hint() -> None:
    docker = FakeDocker()
    docker.fail[("docker", "info")] = ("permission denied while trying to connect to the "
                                       "Docker daemon socket at unix:///var/run/docker.sock")
    with pytest.raises(errors.ProviderError) as e:
        provider(docker).up(1, quiet)
    assert "sudo usermod -aG docker $USER" in (e.value.hint or "")
    assert "--provider kwok" in (e.value.hint or "")


def test_kind_driving_podman_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIND_EXPERIMENTAL_PROVIDER", "podman")
    docker = FakeDocker()
    with pytest.raises(errors.ProviderError, match="KIND_EXPERIMENTAL_PROVIDER=podman"):
        provider(docker).up(1, quiet)
    assert docker.calls == []


def test_status_without_docker_reports_it_instead_of_raising() -> None:
    [c] = provider(FakeDocker(engine=False)).status()
    assert c.name == "docker" and not c.running
    assert "needs a running Docker engine" in c.detail


def test_handle_when_not_running_says_how_to_start() -> None:
    with pytest.raises(errors.ProviderError, match="kind cluster 'drift' is not running") as e:
        provider(FakeDocker()).handle()
    assert e.value.hint == "start it: driftscan cluster up --provider kind --name drift"


def test_add_node_explains_that_kind_cannot() -> None:
    with pytest.raises(errors.ProviderError) as e:
        provider(FakeDocker()).add_node("drift-worker9")
    assert e.value.message == ("cannot add node 'drift-worker9': kind cannot add nodes to a "
                               "running cluster")
    assert "--nodes K" in (e.value.hint or "") and "--provider kwok" in (e.value.hint or "")


# --- the real subprocess runner ----------------------------------------------------------


def empty_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    return empty


def test_missing_tool_is_tool_missing_naming_the_install_command(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty_path(tmp_path, monkeypatch)
    with pytest.raises(errors.ToolMissing) as e:
        kind.run_subprocess(["kind", "version"])
    assert e.value.message == "the kind provider needs `kind`, which is not on PATH"
    assert "go install sigs.k8s.io/kind@v0.32.0" in (e.value.hint or "")
    assert isinstance(e.value.__cause__, FileNotFoundError)


def test_non_zero_exit_and_timeout_never_leak_subprocess_errors() -> None:
    done = kind.run_subprocess([sys.executable, "-c", "import sys; sys.exit(3)"])
    assert done.returncode == 3 and not done.ok
    with pytest.raises(errors.ProviderError, match="did not finish within"):
        kind.run_subprocess([sys.executable, "-c", "import time; time.sleep(5)"], timeout=0.2)


# --- provider choice and the CLI -----------------------------------------------------------


def test_choose() -> None:
    assert providers.choose("auto", docker=True) == "kind"
    assert providers.choose("auto", docker=False) == "kwok"
    assert providers.choose("kind", docker=False) == "kind"
    assert providers.choose("kwok", docker=True) == "kwok"
    with pytest.raises(errors.InputError):
        providers.choose("minikube")


def test_auto_without_docker_on_path_picks_kwok(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    empty_path(tmp_path, monkeypatch)
    assert providers.docker_engine_answers() is False
    assert providers.choose("auto") == "kwok"


def test_auto_with_docker_picks_kind_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    docker = FakeDocker()
    monkeypatch.setattr(providers, "docker_engine_answers", lambda timeout=5.0: True)
    monkeypatch.setattr(kind, "run_subprocess", docker)
    said: list[str] = []
    h = providers.up("auto", name=CLUSTER, nodes=1, say=said.append)
    assert said[0] == "provider: kind (auto: a Docker engine answers)"
    assert h.provider == "kind"
    assert providers.env_lines(h).splitlines()[-2:] == [
        f"export DRIFTSCAN_REGISTRY={h.registry}",
        f"export DRIFTSCAN_PULL_REGISTRY={h.registry_in_cluster}"]


def test_env_lines_for_a_provider_without_a_separate_pull_name(tmp_path: Path) -> None:
    h = base.ClusterHandle(name="k", provider="kwok", kubeconfig=tmp_path / "kc",
                           registry="127.0.0.1:5000", state_dir=tmp_path)
    assert "DRIFTSCAN_PULL_REGISTRY" not in providers.env_lines(h)


def test_cli_provider_kind_without_docker_on_path_exits_2_and_names_kwok(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    empty_path(tmp_path, monkeypatch)
    code = cli.main(["cluster", "up", "--provider", "kind", "--name", CLUSTER, "--nodes", "1"])
    err = capsys.readouterr().err
    assert code == 2
    assert "error: the kind provider needs `docker`, which is not on PATH" in err
    assert "install Docker Engine" in err and "--provider kwok" in err
    assert "Traceback" not in err


def test_cli_provider_kind_when_no_engine_answers_exits_2_and_names_kwok(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    stub = empty_path(tmp_path, monkeypatch) / "docker"
    stub.write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon at "
                    "unix:///var/run/docker.sock. Is the docker daemon running?' >&2\nexit 1\n")
    stub.chmod(0o755)
    code = cli.main(["cluster", "up", "--provider", "kind", "--name", CLUSTER])
    err = capsys.readouterr().err
    assert code == 2
    assert err.splitlines()[0] == (
        "error: the kind provider needs a running Docker engine, and none answers "
        "(docker info: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
        "Is the docker daemon running?)")
    assert "hint: start Docker" in err and "--provider kwok" in err


def test_cli_down_and_status_without_docker_do_not_fail(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    empty_path(tmp_path, monkeypatch)
    assert cli.main(["cluster", "down", "--provider", "kind", "--name", CLUSTER]) == 0
    # status answers (no error) and, the cluster not running, exits 3.
    assert cli.main(["cluster", "status", "--provider", "kind", "--name", CLUSTER]) == 3
    out, err = capsys.readouterr()
    assert "cluster drift (provider kind)" in out and "docker" in out and "stopped" in out
    assert "error" not in err and "cluster drift is not running" in err


# --- runnable builds for kind -------------------------------------------------------------


class MemoryRegistry(oci_client.Client):
    """An in-memory registry speaking the Client API (no network)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.blobs: dict[str, dict[str, bytes]] = {}
        self.manifests: dict[tuple[str, str], tuple[str, bytes]] = {}
        self.reads = 0

    def _missing(self, what: str) -> failures.NotFound:
        return failures.NotFound(f"registry {self.registry}: {what} not found")

    def head_manifest(self, repository: str, reference: str) -> oci_client.ManifestInfo:
        m = self.get_manifest(repository, reference)
        return oci_client.ManifestInfo(m.digest, m.media_type, len(m.data))

    def get_manifest(self, repository: str, reference: str) -> oci_client.Manifest:
        self.reads += 1
        if (repository, reference) not in self.manifests:
            raise self._missing(f"{repository}:{reference}")
        media_type, data = self.manifests[(repository, reference)]
        return oci_client.Manifest(media_type, data, names.digest_of(data))

    def push_manifest(self, repository: str, reference: str, data: bytes,
                      media_type: str) -> str:
        digest = names.digest_of(data)
        self.manifests[(repository, reference)] = (media_type, data)
        self.manifests[(repository, digest)] = (media_type, data)
        return digest

    def blob_exists(self, repository: str, digest: str) -> bool:
        return digest in self.blobs.get(repository, {})

    def get_blob(self, repository: str, digest: str) -> bytes:
        self.reads += 1
        try:
            return self.blobs[repository][digest]
        except KeyError:
            raise self._missing(digest) from None

    def push_blob(self, repository: str, data: bytes) -> str:
        digest = names.digest_of(data)
        self.blobs.setdefault(repository, {})[digest] = data
        return digest


def pause_upstream() -> MemoryRegistry:
    """A registry.k8s.io stand-in holding a two-platform ``pause:3.10`` (Docker media types)."""
    up = MemoryRegistry("registry.k8s.io")
    entries = []
    for arch in ("amd64", "arm64"):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            body = f"pause binary for {arch}".encode()
            info = tarfile.TarInfo("pause")
            info.size, info.mode = len(body), 0o755
            tar.addfile(info, io.BytesIO(body))
        layer = synthetic.Layer.from_tar(buf.getvalue())
        layer = synthetic.Layer(synthetic.Blob(names.DOCKER_LAYER_GZIP, layer.blob.data),
                               layer.diff_id)
        config = json.dumps({"architecture": arch, "os": "linux",
                             "config": {"Entrypoint": ["/pause"], "User": "65535:65535"},
                             "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]}}).encode()
        cfg = synthetic.Blob("application/vnd.docker.container.image.v1+json", config)
        manifest = json.dumps({"schemaVersion": 2, "mediaType": names.DOCKER_MANIFEST,
                               "config": cfg.descriptor(),
                               "layers": [layer.blob.descriptor()]}).encode()
        up.push_blob("pause", layer.blob.data)
        up.push_blob("pause", config)
        digest = up.push_manifest("pause", names.digest_of(manifest), manifest,
                                  names.DOCKER_MANIFEST)
        entries.append({"mediaType": names.DOCKER_MANIFEST, "digest": digest,
                        "size": len(manifest), "platform": {"architecture": arch, "os": "linux"}})
    index = json.dumps({"schemaVersion": 2, "mediaType": names.DOCKER_MANIFEST_LIST,
                        "manifests": entries}).encode()
    up.push_manifest("pause", "3.10", index, names.DOCKER_MANIFEST_LIST)
    return up


AMD64 = synthetic.Platform("linux", "amd64")


def test_cache_location() -> None:
    assert images_kind.cache_location("registry.k8s.io/pause:3.10", AMD64) == (
        "driftscan/base/pause", "3.10-linux-amd64")
    assert images_kind.cache_location("busybox", synthetic.Platform("linux", "arm", "v7")) == (
        "driftscan/base/busybox", "latest-linux-arm-v7")


def test_runnable_builds_keep_the_base_entrypoint_and_differ_per_build() -> None:
    upstream, local = pause_upstream(), MemoryRegistry("127.0.0.1:5001")
    builds = images_kind.RunnableBuilds("127.0.0.1:5001", AMD64, target_client=local,
                                        source_client=upstream)
    v1 = builds.push("shop/web", "v1", build_label="v1")
    v2 = builds.push("shop/web", "v2", build_label="v2")
    again = builds.push("shop/web", "v1-again", build_label="v1")
    assert v1 != v2 and v1 == again
    # the base was copied into the local registry once, for the nodes' platform
    assert ("driftscan/base/pause", "3.10-linux-amd64") in local.manifests
    image = synthetic.fetch_image(local, "shop/web", "v2", platform=AMD64)
    config = json.loads(image.config.data)
    assert config["config"]["Entrypoint"] == ["/pause"]
    assert config["config"]["Labels"] == {synthetic.BUILD_LABEL_KEY: "v2"}
    assert config["architecture"] == "amd64"
    assert len(image.layers) == 2
    assert image.layers[-1] == synthetic.marker_layer("v2")
    assert image.layers[0].blob.media_type == names.OCI_LAYER_GZIP


def test_runnable_builds_reuse_the_local_copy_without_the_upstream_registry() -> None:
    upstream, local = pause_upstream(), MemoryRegistry("127.0.0.1:5001")
    first = images_kind.RunnableBuilds("127.0.0.1:5001", AMD64, target_client=local,
                                       source_client=upstream)
    d1 = first.push("shop/web", "v1", build_label="v1")
    offline = MemoryRegistry("registry.k8s.io")  # holds nothing: every read is a 404
    second = images_kind.RunnableBuilds("127.0.0.1:5001", AMD64, target_client=local,
                                        source_client=offline)
    assert second.push("shop/web", "v1", build_label="v1") == d1
    assert offline.reads == 0


def test_runnable_builds_without_a_reachable_base_say_what_to_do() -> None:
    builds = images_kind.RunnableBuilds("127.0.0.1:5001", AMD64,
                                        target_client=MemoryRegistry("127.0.0.1:5001"),
                                        source_client=MemoryRegistry("registry.k8s.io"))
    with pytest.raises(errors.RegistryError) as e:
        builds.build("v1")
    assert e.value.message.startswith(
        "cannot copy the runnable base image registry.k8s.io/pause:3.10 (linux/amd64) into "
        "127.0.0.1:5001")
    assert "DRIFTSCAN_KIND_BASE_IMAGE" in (e.value.hint or "")


def test_cluster_platform_comes_from_the_kind_state(state_dir: Path) -> None:
    docker = FakeDocker()
    h = provider(docker).up(1, quiet)
    assert images_kind.cluster_platform(h) == AMD64
    state = json.loads((h.state_dir / "state.json").read_text())
    (h.state_dir / "state.json").write_text(json.dumps({**state, "platform": "linux/arm64"}))
    builds = images_kind.RunnableBuilds.for_cluster(h)
    assert builds.platform == synthetic.Platform("linux", "arm64")
    assert builds.target.registry == "127.0.0.1:5001"



# --- the docs of the kind set-up (the action and its workflow: test_github_action.py) ---

ROOT = Path(__file__).resolve().parents[2]


def test_docs_cite_kinds_local_registry_recipe() -> None:
    text = (ROOT / "docs/ci-kind.md").read_text()
    assert "https://kind.sigs.k8s.io/docs/user/local-registry/" in text
    assert "site/static/examples/kind-with-registry.sh" in text
    for piece in (kind.hosts_toml("driftscan-registry").strip(), kind.CERTS_DIR,
                  "docker network connect kind driftscan-registry",
                  "kube-public/local-registry-hosting",
                  "driftscan scenario run --all --provider kind"):
        assert piece in text, piece
