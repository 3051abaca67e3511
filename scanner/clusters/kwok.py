"""The kwok provider: a real control plane with KWOK fake nodes, all on loopback.

Besides the control plane it runs a real registry and driftscan's image-pull emulator.

Processes (binaries from ``driftscan cluster tools``, found by ``toolchain.locate_all``):

* etcd 3.6 — the cluster's store (fsync off: the cluster is throw-away);
* kube-apiserver, kube-controller-manager, kube-scheduler — the real upstream
  controllers, so rollouts, proportional scaling and scheduling are Kubernetes' own;
* kwok — fakes a kubelet for every node annotated ``kwok.x-k8s.io/node=fake``, driven by
  the Stages in ``stages``;
* registry — the CNCF distribution registry, storage under the state dir;
* the image-pull emulator (``python -m scanner.clusters.pullemulator``) — resolves each
  pod's images as kubelet + containerd would and hands the digests to the Stages;
* with ``real_nodes`` > 0, real nodes beside the fake ones: a containerd and a kubelet
  each (``realnode``), labelled ``driftscan.io/node-type=real``; fake nodes are labelled
  ``driftscan.io/node-type=fake``.

State: ``.driftscan/clusters/NAME/`` holds ``state.json`` (ports, pids), ``pki/``,
``kubeconfig``, ``etcd/``, ``registry/`` and ``logs/``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import ssl
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from scanner import errors
from scanner.clusters import base, pki, processes, realnode, stages, toolchain

__all__ = ["KwokProvider", "NODE_ANNOTATION"]

NODE_ANNOTATION = "kwok.x-k8s.io/node"


_PORT_ATTEMPTS = 3
REGISTRY_USER = "driftscan"
_PORT_TAKEN = "address already in use"


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by this user only (credentials)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


class KwokProvider:
    """Runs the kwok test cluster named ``name``."""

    name = "kwok"

    def __init__(self, cluster: str, *, ready_delay_ms: int | None = None,
                 real_nodes: int = 0) -> None:
        self.cluster = cluster
        self.real_nodes = real_nodes
        self.dir = base.state_root() / cluster
        self.ready_delay_ms = (int(os.environ.get("DRIFTSCAN_READY_DELAY_MS", "500"))
                               if ready_delay_ms is None else ready_delay_ms)

    # --- state -----------------------------------------------------------------------

    @property
    def _state_file(self) -> Path:
        return self.dir / "state.json"

    def _load_state(self) -> dict[str, Any] | None:
        return base.load_state(self._state_file)

    def _processes(self, state: dict[str, Any]) -> list[processes.Process]:
        return [processes.Process.from_json(p) for p in state.get("processes", [])]

    def handle(self) -> base.ClusterHandle:
        """The running cluster's handle."""
        state = self._load_state()
        if state is None or not self._healthy(state):
            raise errors.ProviderError(
                f"kwok cluster {self.cluster!r} is not running",
                hint=f"start it: driftscan cluster up --provider kwok --name {self.cluster}")
        return self._handle(state)

    def _handle(self, state: dict[str, Any]) -> base.ClusterHandle:
        docker = self.dir / "docker"
        return base.ClusterHandle(
            name=self.cluster, provider=self.name, kubeconfig=self.dir / "kubeconfig",
            registry=f"127.0.0.1:{state['ports']['registry']}", state_dir=self.dir,
            nodes=tuple([*state.get("nodes", []),
                         *(n["name"] for n in realnode.load(state))]),
            docker_config=docker if (docker / "config.json").is_file() else None)

    def _registry_credentials(self, port: int) -> Path:
        """A fresh user and password for the registry, readable by this user only.

        Writes the htpasswd file (bcrypt) the registry checks and a docker ``config.json``
        naming the credentials; returns the htpasswd path. Any local user could otherwise
        push to (or read) the registry; with a password, every push, HEAD and pull goes
        through the registry client's auth path.
        """
        import base64

        import bcrypt

        password = secrets.token_urlsafe(24)
        htpasswd = self.dir / "registry.htpasswd"
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()
        _write_private(htpasswd, f"{REGISTRY_USER}:{hashed}\n")
        auth = base64.b64encode(f"{REGISTRY_USER}:{password}".encode()).decode()
        docker = self.dir / "docker"
        docker.mkdir(mode=0o700, exist_ok=True)
        _write_private(docker / "config.json", json.dumps(
            {"auths": {f"127.0.0.1:{port}": {"auth": auth}}}, indent=2))
        return htpasswd

    def _healthy(self, state: dict[str, Any]) -> bool:
        procs = self._processes(state)
        return bool(procs) and all(processes.alive(p) for p in procs) and self._readyz(state)

    def _ssl(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.dir / "pki" / "ca.crt"))
        ctx.load_cert_chain(str(self.dir / "pki" / "admin.crt"),
                            str(self.dir / "pki" / "admin.key"))
        return ctx

    def _readyz(self, state: dict[str, Any]) -> bool:
        url = f"https://127.0.0.1:{state['ports']['apiserver']}/readyz"
        try:
            with urllib.request.urlopen(url, context=self._ssl(), timeout=2) as r:
                return bool(r.status == 200)
        except (OSError, urllib.error.URLError, ssl.SSLError):
            return False

    # --- up / down ---------------------------------------------------------------------

    def up(self, nodes: int, say: base.Say) -> base.ClusterHandle:
        """Start the cluster with ``nodes`` fake nodes, or return the running one."""
        if self.real_nodes:
            realnode.require()  # before anything starts: one line, exit 2
        state = self._load_state()
        if state is not None:
            if self._healthy(state):
                have = len(state.get("nodes", []))
                for i in range(have, nodes):
                    self.add_node(f"kwok-node-{i}")
                    say(f"added node kwok-node-{i} ({nodes} nodes asked for)")
                for _ in range(len(realnode.load(state)), self.real_nodes):
                    say(f"added real node {self.add_real_node(say)}")
                say(f"kwok cluster {self.cluster!r} is already running")
                return self.handle()
            say(f"kwok cluster {self.cluster!r} is not healthy; restarting it")
            self.down(say)
        started = time.monotonic()
        bin_ = toolchain.locate_all()
        self.dir.mkdir(parents=True, exist_ok=True)
        certs = pki.ensure(self.dir / "pki")
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            # A port found free can be taken by another program before our process binds
            # it; such a start fails with "address already in use" and is tried again on
            # fresh ports.
            ports = {k: processes.free_port() for k in ("etcd", "etcd_peer", "apiserver",
                                                        "registry", "kwok")}
            state = {"ports": ports, "processes": [], "nodes": [],
                     "version": toolchain.pins().kube}
            self._write_kubeconfig(ports["apiserver"], certs)
            try:
                self._start_all(state, certs, say, bin_)
                self._wait_ready(state, say)
                self._save(state)
                for i in range(nodes):
                    self.add_node(f"kwok-node-{i}")
                self._wait_nodes_ready(nodes)
                for _ in range(self.real_nodes):
                    self.add_real_node(say)
            except errors.ProviderError as e:
                if self._load_state() is None:
                    self._save(state)
                self.down(lambda _m: None, keep_logs=True)
                if attempt < _PORT_ATTEMPTS and _PORT_TAKEN in str(e).lower():
                    say(f"a port was taken meanwhile; starting again ({attempt + 1}"
                        f"/{_PORT_ATTEMPTS})")
                    continue
                raise
            except BaseException:
                if self._load_state() is None:
                    self._save(state)
                self.down(lambda _m: None, keep_logs=True)
                raise
            break
        real = f" + {self.real_nodes} real" if self.real_nodes else ""
        say(f"kwok cluster {self.cluster!r} ready in {time.monotonic() - started:.1f}s "
            f"({nodes} nodes{real}, registry 127.0.0.1:{ports['registry']})")
        return self.handle()

    def down(self, say: base.Say, *, keep_logs: bool = False) -> None:
        """Stop every process and remove the state (logs kept on failure).

        The cluster is thrown away, so nothing in it needs a graceful stop: every process
        is killed at once (a graceful stop of the control plane takes seconds). When the
        logs are kept, to explain a failed start, processes get SIGTERM instead — clients
        together, then the apiserver, then etcd — so each finishes writing its log.
        """
        state = self._load_state()
        if state is None:
            if self.dir.exists() and not keep_logs:
                shutil.rmtree(self.dir, ignore_errors=True)
            return
        began = time.monotonic()
        left: list[str] = []
        for node in realnode.load(state):
            # Before the control plane goes: nothing may start the pods again meanwhile.
            left += realnode.teardown(node, realnode.node_processes(state, node))
        procs = [p for p in self._processes(state) if processes.alive(p)]
        if keep_logs:
            last = ("kube-apiserver", "etcd")
            processes.stop_all([p for p in procs if p.name not in last])
            for name in last:
                processes.stop_all([p for p in procs if p.name == name])
        else:
            processes.kill_all(procs)
        if keep_logs:
            for sub in ("etcd", "registry"):
                shutil.rmtree(self.dir / sub, ignore_errors=True)
            self._state_file.unlink(missing_ok=True)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        say(f"kwok cluster {self.cluster!r} stopped in {time.monotonic() - began:.1f}s")
        if left:
            raise errors.ProviderError(f"real nodes left behind: {'; '.join(left)}",
                                       hint="remove them by hand (umount -l, rmdir, kill)")

    def status(self) -> list[base.ComponentStatus]:
        """Each process and whether it runs; the apiserver also reports /readyz."""
        state = self._load_state()
        if state is None:
            return [base.ComponentStatus("cluster", False, "not created")]
        out = []
        for p in self._processes(state):
            detail = f"pid {p.pid}"
            if p.name == "kube-apiserver":
                detail += (f", https://127.0.0.1:{state['ports']['apiserver']}, ready="
                           f"{'yes' if self._readyz(state) else 'no'}")
            if p.name == "registry":
                detail += f", 127.0.0.1:{state['ports']['registry']}"
            out.append(base.ComponentStatus(p.name, processes.alive(p), detail))
        out.append(base.ComponentStatus("nodes (fake)", True,
                                        ", ".join(state.get("nodes", []))))
        real = [n["name"] for n in realnode.load(state)]
        if real:
            out.append(base.ComponentStatus("nodes (real)", True, ", ".join(real)))
        return out

    def _save(self, state: dict[str, Any]) -> None:
        base.save_state(self._state_file, state)

    def _write_kubeconfig(self, port: int, certs: pki.Pki) -> None:
        import base64

        def b64(p: Path) -> str:
            return base64.b64encode(p.read_bytes()).decode()

        ctx = f"kwok-{self.cluster}"
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": ctx,
            "clusters": [{"name": ctx, "cluster": {
                "server": f"https://127.0.0.1:{port}",
                "certificate-authority-data": b64(certs.ca_crt)}}],
            "users": [{"name": f"{ctx}-admin", "user": {
                "client-certificate-data": b64(certs.admin_crt),
                "client-key-data": b64(certs.admin_key)}}],
            "contexts": [{"name": ctx, "context": {"cluster": ctx,
                                                   "user": f"{ctx}-admin"}}],
        }
        path = self.dir / "kubeconfig"
        path.write_text(json.dumps(config, indent=2))
        path.chmod(0o600)

    def _start_all(self, state: dict[str, Any], certs: pki.Pki, say: base.Say,
                   bin_: dict[str, Path]) -> None:
        ports = state["ports"]
        logs = self.dir / "logs"
        kubeconfig = str(self.dir / "kubeconfig")

        def launch(name: str, argv: list[str], wait_port: int | None = None,
                   env: dict[str, str] | None = None) -> None:
            if wait_port is not None and processes.port_open(wait_port):
                raise errors.ProviderError(f"{name}: port 127.0.0.1:{wait_port} is in use"
                                           f" ({_PORT_TAKEN})",
                                           hint="run `driftscan cluster up` again")
            # Ctrl-C, SIGTERM or SIGHUP between starting and recording would leave a
            # process that `down` cannot find: hold them until the state file names it.
            with processes.signals_held():
                p = processes.start(name, argv, logs, env=env)
                state["processes"].append(p.to_json())
                self._save(state)
            if wait_port is not None:
                self._wait_port(p, wait_port)

        say("starting etcd, registry")
        # Client-certificate TLS on both etcd ports: only holders of a certificate from the
        # cluster's CA (the apiserver) may read or write the cluster's state.
        launch("etcd", [str(bin_["etcd"]), "--name", "driftscan",
                        "--data-dir", str(self.dir / "etcd"),
                        "--listen-client-urls", f"https://127.0.0.1:{ports['etcd']}",
                        "--advertise-client-urls", f"https://127.0.0.1:{ports['etcd']}",
                        "--listen-peer-urls", f"https://127.0.0.1:{ports['etcd_peer']}",
                        "--initial-advertise-peer-urls",
                        f"https://127.0.0.1:{ports['etcd_peer']}",
                        "--initial-cluster",
                        f"driftscan=https://127.0.0.1:{ports['etcd_peer']}",
                        "--cert-file", str(certs.etcd_crt), "--key-file", str(certs.etcd_key),
                        "--client-cert-auth", "--trusted-ca-file", str(certs.ca_crt),
                        "--peer-cert-file", str(certs.etcd_crt),
                        "--peer-key-file", str(certs.etcd_key),
                        "--peer-client-cert-auth", "--peer-trusted-ca-file", str(certs.ca_crt),
                        "--unsafe-no-fsync", "--quota-backend-bytes", str(4 << 30),
                        "--log-level", "warn"], ports["etcd"])
        registry_config = self.dir / "registry.yml"
        htpasswd = self._registry_credentials(ports["registry"])
        registry_config.write_text(json.dumps({
            "version": 0.1, "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": str(self.dir / "registry")},
                        "delete": {"enabled": True}},
            "http": {"addr": f"127.0.0.1:{ports['registry']}"},
            "auth": {"htpasswd": {"realm": "driftscan-test-registry", "path": str(htpasswd)}},
        }))
        launch("registry", [str(bin_["registry"]), "serve", str(registry_config)],
               ports["registry"], env={"OTEL_TRACES_EXPORTER": "none"})
        say("starting kube-apiserver")
        launch("kube-apiserver", [
            str(bin_["kube-apiserver"]),
            f"--etcd-servers=https://127.0.0.1:{ports['etcd']}",
            f"--etcd-cafile={certs.ca_crt}", f"--etcd-certfile={certs.etcd_client_crt}",
            f"--etcd-keyfile={certs.etcd_client_key}",
            "--bind-address=127.0.0.1", f"--secure-port={ports['apiserver']}",
            "--advertise-address=127.0.0.1", "--endpoint-reconciler-type=none",
            "--service-cluster-ip-range=10.96.0.0/12",
            f"--client-ca-file={certs.ca_crt}",
            f"--tls-cert-file={certs.apiserver_crt}",
            f"--tls-private-key-file={certs.apiserver_key}",
            f"--service-account-key-file={certs.sa_pub}",
            f"--service-account-signing-key-file={certs.sa_key}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--authorization-mode=RBAC",
            # Fake nodes mount nothing: skip the token volume so pods need no ServiceAccount.
            "--disable-admission-plugins=ServiceAccount",
            "--allow-privileged=true", "--profiling=false",
            "--max-requests-inflight=2000", "--max-mutating-requests-inflight=1000",
            "--enable-priority-and-fairness=false",
            "--event-ttl=15m",
        ], ports["apiserver"])
        self._wait_ready(state, say)
        say("starting kube-controller-manager, kube-scheduler, kwok, image-pull emulator")
        launch("kube-controller-manager", [
            str(bin_["kube-controller-manager"]), f"--kubeconfig={kubeconfig}",
            "--leader-elect=false", "--secure-port=0",
            "--kube-api-qps=2000", "--kube-api-burst=4000",
            f"--service-account-private-key-file={certs.sa_key}",
            f"--root-ca-file={certs.ca_crt}",
            "--concurrent-deployment-syncs=20", "--concurrent-replicaset-syncs=20",
            "--concurrent-statefulset-syncs=10", "--concurrent-daemonset-syncs=10",
            # Fake nodes have no cloud, routes or volumes to manage.
            "--controllers=*,-node-ipam-controller,-service-lb-controller,"
            "-node-route-controller,-cloud-node-lifecycle-controller,"
            "-persistentvolume-binder-controller,-persistentvolume-attach-detach-controller,"
            "-persistentvolume-expander-controller",
        ])
        scheduler_config = self.dir / "scheduler.yaml"
        scheduler_config.write_text(json.dumps({
            "apiVersion": "kubescheduler.config.k8s.io/v1",
            "kind": "KubeSchedulerConfiguration",
            "clientConnection": {"kubeconfig": kubeconfig, "qps": 2000, "burst": 4000},
            "leaderElection": {"leaderElect": False},
        }))
        launch("kube-scheduler", [str(bin_["kube-scheduler"]),
                                  f"--config={scheduler_config}", "--secure-port=0"])
        stage_file = self.dir / "kwok-stages.yaml"
        stage_file.write_text(stages.render(self.ready_delay_ms, self.ready_delay_ms * 2))
        launch("kwok", [str(bin_["kwok"]), f"--kubeconfig={kubeconfig}",
                        f"--config={stage_file}",
                        f"--manage-nodes-with-annotation-selector={NODE_ANNOTATION}=fake",
                        f"--server-address=127.0.0.1:{ports['kwok']}",
                        "--cidr=10.0.0.0/8", "--node-ip=10.255.0.1"],
               env={"KUBECONFIG": kubeconfig})
        launch("image-pull-emulator", [
            sys.executable, "-m", "scanner.clusters.pullemulator",
            "--kubeconfig", kubeconfig, "--cache", str(self.dir / "node-images.json"),
        ], env={"DOCKER_CONFIG": str(self.dir / "docker")})

    def _wait_port(self, p: processes.Process, port: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if processes.port_open(port):
                return
            if not processes.alive(p):
                raise errors.ProviderError(
                    f"{p.name} exited during start-up; last lines of {p.log}:\n"
                    f"{processes.log_tail(p.log)}")
            time.sleep(0.1)
        raise errors.ProviderError(f"{p.name} did not listen on 127.0.0.1:{port} within "
                                   f"{timeout:.0f}s; see {p.log}")

    def _wait_ready(self, state: dict[str, Any], say: base.Say, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for p in self._processes(state):
                if not processes.alive(p):
                    raise errors.ProviderError(
                        f"{p.name} exited during start-up; last lines of {p.log}:\n"
                        f"{processes.log_tail(p.log)}")
            if self._readyz(state):
                return
            time.sleep(0.2)
        raise errors.ProviderError(f"kube-apiserver not ready within {timeout:.0f}s; see "
                                   f"{self.dir / 'logs' / 'kube-apiserver.log'}")

    # --- nodes -------------------------------------------------------------------------

    def _api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        state = self._load_state()
        if state is None:
            raise errors.ProviderError(f"kwok cluster {self.cluster!r} is not running",
                                       hint="start it: driftscan cluster up --provider kwok")
        url = f"https://127.0.0.1:{state['ports']['apiserver']}{path}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, context=self._ssl(), timeout=10) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError:
            raise  # an answer: the caller decides what a status means
        except (OSError, ValueError) as e:
            raise errors.ProviderError(
                f"kube-apiserver of kwok cluster {self.cluster!r} did not answer {method} "
                f"{path}: {e}; see {self.dir / 'logs' / 'kube-apiserver.log'}",
                hint=f"restart it: driftscan cluster down --provider kwok --name {self.cluster}"
                     f" && driftscan cluster up --provider kwok --name {self.cluster}") from e

    def add_node(self, name: str) -> None:
        """Create a fake node that KWOK manages; no-op when it exists."""
        node = {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "annotations": {NODE_ANNOTATION: "fake"},
                         "labels": {"type": "kwok", "kubernetes.io/hostname": name,
                                    realnode.NODE_TYPE_LABEL: "fake",
                                    "kubernetes.io/os": "linux",
                                    "kubernetes.io/arch": "amd64",
                                    "node-role.kubernetes.io/worker": ""}},
            "spec": {},
        }
        try:
            self._api("POST", "/api/v1/nodes", node)
        except urllib.error.HTTPError as e:
            if e.code != 409:
                raise errors.ProviderError(f"creating node {name}: HTTP {e.code} "
                                           f"{e.read()[:300]!r}") from e
        state = self._load_state() or {"nodes": []}
        if name not in state["nodes"]:
            state["nodes"].append(name)
            self._save(state)

    def _wait_nodes_ready(self, count: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            items = self._api("GET", "/api/v1/nodes")["items"]
            ready = [n for n in items if any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in n.get("status", {}).get("conditions", []))]
            if len(ready) >= count:
                return
            time.sleep(0.2)
        raise errors.ProviderError(
            f"fake nodes not Ready within {timeout:.0f}s; see {self.dir / 'logs' / 'kwok.log'}")

    # --- real nodes --------------------------------------------------------------------

    def add_real_node(self, say: base.Say, timeout: float = 120.0, *,
                      name: str | None = None) -> str:
        """Start one more real node (kubelet + containerd), wait until Ready; its name.

        ``name``: the node's name (default ``real-node-N``).

        Raises:
            errors.ToolMissing: this machine cannot run real nodes (what is missing).
            errors.ProviderError: the node did not become Ready (the logs' last lines).
        """
        realnode.require()
        state = self._load_state()
        if state is None:
            raise errors.ProviderError(f"kwok cluster {self.cluster!r} is not running")
        registry = f"127.0.0.1:{state['ports']['registry']}"
        user, password = self._registry_login()
        if not state.get("pause_image"):
            from scanner.clusters import busybox_image
            from scanner.oci import client, credentials, synthetic

            docker = credentials.load_docker_config(self.dir / "docker" / "config.json")
            synthetic.push_image(client.client_for(registry, docker_config=docker),
                                 realnode.PAUSE_REPOSITORY, realnode.PAUSE_TAG,
                                 busybox_image.pause_image())
            state["pause_image"] = True
            self._save(state)
        index = max([-1, *(int(Path(n["dir"]).name.rsplit("-", 1)[1])
                           for n in realnode.load(state))]) + 1

        def record(p: processes.Process) -> None:
            current = self._load_state() or state
            current["processes"].append(p.to_json())
            self._save(current)

        def remember(node: realnode.RealNode) -> None:
            current = self._load_state() or state
            current.setdefault("real_nodes", []).append(node)
            self._save(current)

        kubelet = toolchain.locate("kubelet")
        assert kubelet is not None  # realnode.require checked it
        node = realnode.start(self.dir, index, registry=registry, username=user,
                              password=password, kubeconfig=self.dir / "kubeconfig",
                              log_dir=self.dir / "logs", kubelet=kubelet, record=record,
                              remember=remember, name=name)
        say(f"starting real node {node['name']} (kubelet + containerd)")
        self._wait_real_node(node["name"], timeout)
        return str(node["name"])

    def remove_real_node(self, name: str) -> None:
        """Stop a real node, remove what it made and delete its Node; no-op when unknown.

        Raises:
            errors.ProviderError: something of it was left behind (named).
        """
        state = self._load_state()
        node = next((n for n in realnode.load(state or {}) if n["name"] == name), None)
        if state is None or node is None:
            return
        procs = realnode.node_processes(state, node)
        left = realnode.teardown(node, procs)
        current = self._load_state() or state
        gone = {p.name for p in procs}
        current["processes"] = [p for p in current["processes"] if p["name"] not in gone]
        current["real_nodes"] = [n for n in realnode.load(current) if n["name"] != name]
        self._save(current)
        try:
            self._api("DELETE", f"/api/v1/nodes/{name}")
        except urllib.error.HTTPError as e:
            if e.code != 404:
                raise errors.ProviderError(f"deleting node {name}: HTTP {e.code}") from e
        if left:
            raise errors.ProviderError(f"real node {name} left behind: {'; '.join(left)}")

    def _registry_login(self) -> tuple[str, str]:
        import base64

        config = json.loads((self.dir / "docker" / "config.json").read_text())
        auth = next(iter(config["auths"].values()))["auth"]
        user, _, password = base64.b64decode(auth).decode().partition(":")
        return user, password

    def _wait_real_node(self, name: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self._load_state() or {}
            for p in self._processes(state):
                if p.name.endswith(f"-{name}") and not processes.alive(p):
                    raise errors.ProviderError(
                        f"{p.name} exited while node {name} started; last lines of {p.log}:"
                        f"\n{processes.log_tail(p.log)}",
                        hint="run without real nodes: --real-nodes 0")
            try:
                node = self._api("GET", f"/api/v1/nodes/{name}")
            except urllib.error.HTTPError:
                node = {}
            if any(c.get("type") == "Ready" and c.get("status") == "True"
                   for c in node.get("status", {}).get("conditions", [])):
                return
            time.sleep(0.5)
        log = self.dir / "logs" / f"kubelet-{name}.log"
        raise errors.ProviderError(f"real node {name} not Ready within {timeout:.0f}s; last "
                                   f"lines of {log}:\n{processes.log_tail(log)}",
                                   hint="run without real nodes: --real-nodes 0")
