"""`driftscan cluster tools` compiles for real: go install (registry) and go build inside a
packaged wrapper module (etcd), into an empty cache of its own.

Needs Go and the Go module proxy (or a warm module cache); with Go's build cache warm from
`make cluster-tools` both link in seconds. Where the per-user cache holds the same pins,
the new binaries must be byte-identical to them (-trimpath, fixed ldflags: reproducible).
"""

from __future__ import annotations

import filecmp
import shutil
import subprocess
from pathlib import Path

import pytest

from scanner.clusters import toolbuilding, toolchain

pytestmark = pytest.mark.cluster


def test_cluster_tools_compiles_into_the_cache_reproducibly(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("go") is None:
        pytest.skip("Go is not installed")
    shared = toolchain.cache_root()
    monkeypatch.setenv("DRIFTSCAN_TOOLS_CACHE", str(tmp_path / "cache"))
    said: list[str] = []
    built = toolbuilding.build(bin_dir=tmp_path / "bin", say=said.append,
                               binaries=("registry", "etcd"))
    pins = toolchain.pins()
    assert built == [tmp_path / "cache" / pins.registry / "registry",
                     tmp_path / "cache" / pins.etcd / "etcd"]
    assert said[:2] == [f"building registry {pins.registry}",
                        f"building etcd {pins.etcd} (a cold build takes several minutes)"]
    version = subprocess.run([str(built[1]), "--version"], capture_output=True, text=True,
                             check=True).stdout
    assert f"etcd Version: {pins.etcd.removeprefix('v')}" in version
    assert (tmp_path / "bin" / ".registry.version").read_text() == pins.registry + "\n"
    for path in built:
        same_pin = shared / path.parent.name / path.name
        if same_pin.is_file():
            assert filecmp.cmp(path, same_pin, shallow=False), path.name
    # A second run finds both in the cache and builds nothing.
    said.clear()
    toolbuilding.build(bin_dir=None, say=said.append, binaries=("registry", "etcd"))
    assert said == [f"2 binaries ready in {tmp_path / 'cache'}"]
