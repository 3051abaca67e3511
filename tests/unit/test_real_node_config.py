"""Real nodes: the files a node is configured with, the runnable builds, the prerequisites."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import tarfile
import time
import tomllib
from pathlib import Path

import pytest

from scanner import errors
from scanner.clusters import busybox_image, containerd_config, realnode, toolbuilding, toolchain
from scanner.oci import synthetic


def _layout(tmp_path: Path, index: int = 0) -> containerd_config.NodeLayout:
    return realnode.layout_for(tmp_path / "cluster", index, (41000, 41001))


def test_containerd_config_keeps_everything_under_the_node(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    text = containerd_config.containerd_toml(
        layout, sandbox_image="127.0.0.1:5000/driftscan/pause:busybox",
        cni_bin_dir="/usr/lib/cni", registry="127.0.0.1:5000", username="u",
        password='p"w\\')
    doc = tomllib.loads(text)
    assert doc["root"].startswith(str(layout.dir)) and doc["state"].startswith(str(layout.dir))
    assert doc["grpc"]["address"] == str(layout.socket)
    cri = doc["plugins"]["io.containerd.grpc.v1.cri"]
    # Without it every sandbox fails on a host where runc may not lower oom_score_adj.
    assert cri["restrict_oom_score_adj"] is True
    assert cri["sandbox_image"] == "127.0.0.1:5000/driftscan/pause:busybox"
    assert cri["registry"]["config_path"] == str(layout.certs_d)
    assert cri["registry"]["configs"]["127.0.0.1:5000"]["auth"] == {
        "username": "u", "password": 'p"w\\'}
    runc = cri["containerd"]["runtimes"]["runc"]["options"]
    assert runc["Root"].startswith(str(layout.dir))
    assert len(str(layout.socket)) < 100


def test_hosts_toml_is_plain_http() -> None:
    doc = tomllib.loads(containerd_config.hosts_toml("127.0.0.1:5000"))
    assert doc["server"] == "http://127.0.0.1:5000"
    assert doc["host"]["http://127.0.0.1:5000"]["capabilities"] == ["pull", "resolve"]


def test_nodes_and_clusters_get_distinct_bridges_and_subnets(tmp_path: Path) -> None:
    a0, a1 = _layout(tmp_path, 0), _layout(tmp_path, 1)
    b0 = realnode.layout_for(tmp_path / "other", 0, (1, 2))
    assert len({a0.bridge, a1.bridge, b0.bridge}) == 3
    assert a0.subnet != a1.subnet
    assert all(len(x.bridge) <= 15 for x in (a0, a1, b0))
    net = containerd_config.cni_conflist(a1)
    bridge = net["plugins"][0]
    assert bridge["bridge"] == a1.bridge and bridge["ipMasq"] is False
    assert bridge["ipam"]["ranges"] == [[{"subnet": a1.subnet}]]


def test_kubelet_config_runs_without_systemd_on_cgroup_v1(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    config = containerd_config.kubelet_config(layout)
    assert config["failCgroupV1"] is False and config["cgroupDriver"] == "cgroupfs"
    assert config["cgroupsPerQOS"] is False and config["enforceNodeAllocatable"] == []
    assert config["address"] == "127.0.0.1" and config["readOnlyPort"] == 0
    assert config["port"] == 41000 and config["healthzPort"] == 41001
    assert config["containerRuntimeEndpoint"] == f"unix://{layout.socket}"
    assert config["authentication"]["anonymous"]["enabled"] is False


def test_kubelet_is_built_from_the_kube_module() -> None:
    assert toolchain.BINARIES["kubelet"] == "kube"
    r = toolbuilding.recipe("kubelet", toolchain.pins())
    assert r.package == "k8s.io/kubernetes/cmd/kubelet" and r.module_dir == "kube"
    tools_go = (toolchain.gotools_dir() / "kube" / "tools.go").read_text()
    assert '"k8s.io/kubernetes/cmd/kubelet"' in tools_go


needs_busybox = pytest.mark.skipif(not busybox_image.available(),
                                   reason="busybox-static is not installed")


@needs_busybox
def test_runnable_builds_are_distinct_and_repeatable() -> None:
    v1, v1_again, v2 = (busybox_image.build("v1"), busybox_image.build("v1"),
                        busybox_image.build("v2"))
    assert v1.digest == v1_again.digest and v1.digest != v2.digest
    assert v1.layers[0].blob.digest == v2.layers[0].blob.digest  # one shared base
    config = json.loads(v1.config.data)
    assert config["config"]["Entrypoint"] == list(busybox_image.ENTRYPOINT)
    assert config["rootfs"]["diff_ids"] == [layer.diff_id for layer in v1.layers]
    assert busybox_image.pause_image().digest not in (v1.digest, v2.digest)
    # A runnable build differs from the emulator-only build of the same label.
    assert synthetic.build_image("v1").digest != v1.digest


@needs_busybox
def test_base_layer_holds_busybox_and_its_links() -> None:
    tar = gzip.decompress(busybox_image.base_layer().blob.data)
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        members = {m.name: m for m in archive.getmembers()}
    assert members["bin/busybox"].mode == 0o755 and members["bin/busybox"].mtime == 0
    assert members["bin/sh"].issym() and members["bin/sh"].linkname == "busybox"
    assert members["bin/sleep"].linkname == "busybox"


@needs_busybox
def test_runnable_index_has_an_image_per_platform() -> None:
    platforms = (synthetic.Platform("linux", "amd64"), synthetic.Platform("linux", "arm64"))
    index = busybox_image.build_index("v1", platforms)
    assert [i.platform for i in index.images] == list(platforms)
    assert index.digest not in {i.digest for i in index.images}


def test_prerequisites_name_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(realnode.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(realnode.shutil, "which", lambda name: None)
    monkeypatch.setattr(realnode, "CNI_BIN_DIR", Path("/nonexistent"))
    with pytest.raises(errors.ToolMissing) as caught:
        realnode.require()
    text = f"{caught.value.message} {caught.value.hint}"
    for word in ("root", "containerd", "runc", "CNI plugins bridge", "--real-nodes 0",
                 "apt-get install containerd runc containernetworking-plugins"):
        assert word in text
    assert "\n" not in caught.value.message


def test_cgroup_dirs_finds_only_the_given_ids(tmp_path: Path) -> None:
    ours, theirs = "a" * 64, "b" * 64
    for hierarchy in ("memory", "pids"):
        (tmp_path / hierarchy / "k8s.io" / ours).mkdir(parents=True)
        (tmp_path / hierarchy / "k8s.io" / theirs).mkdir(parents=True)
    found = realnode.cgroup_dirs({ours}, root=tmp_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in found) == [
        f"memory/k8s.io/{ours}", f"pids/k8s.io/{ours}"]
    assert realnode.cgroup_dirs(set(), root=tmp_path) == []


@needs_busybox
def test_kind_and_real_nodes_use_the_local_base_without_any_registry() -> None:
    from scanner.clusters import images_kind

    class NoRegistry:
        registry = "127.0.0.1:1"

        def __getattr__(self, name: str) -> object:
            raise AssertionError(f"the local base needs no registry ({name})")

    builds = images_kind.RunnableBuilds("127.0.0.1:1", synthetic.DEFAULT_PLATFORM,
                                        base_image=images_kind.LOCAL_BASE,
                                        target_client=NoRegistry(),  # type: ignore[arg-type]
                                        source_client=NoRegistry())  # type: ignore[arg-type]
    v1, v2 = builds.build("v1"), builds.build("v2")
    assert v1.digest != v2.digest
    assert v1.layers[0] == busybox_image.base_layer()
    assert json.loads(v1.config.data)["config"]["Entrypoint"] == list(busybox_image.ENTRYPOINT)
    assert images_kind.local_base_fits(synthetic.DEFAULT_PLATFORM) is (
        __import__("platform").machine() == "x86_64")
    assert not images_kind.local_base_fits(synthetic.Platform("linux", "s390x"))


def test_a_process_is_known_by_pid_and_start_time_and_a_zombie_is_gone() -> None:
    me = realnode.process_identity(os.getpid())
    assert me is not None and me[0] == os.getpid()
    assert realnode.still_running([me]) == [os.getpid()]
    assert realnode.still_running([(os.getpid(), me[1] + 1)]) == []  # a later process
    child = subprocess.Popen(["true"])
    deadline = time.monotonic() + 10
    while realnode.process_identity(child.pid) is not None and time.monotonic() < deadline:
        time.sleep(0.01)  # exited, not yet reaped: a zombie
    assert Path(f"/proc/{child.pid}").exists()
    assert realnode.process_identity(child.pid) is None
    child.wait()
    assert realnode.process_identity(child.pid) is None
