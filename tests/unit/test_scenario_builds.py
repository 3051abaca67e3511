"""Publishing builds: the right kind of image for the cluster, one digest per build, and a
re-tag (no upload) when the repository already holds the build."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from scanner.clusters import base
from scanner.oci import client as oci_client
from scanner.oci import names, synthetic
from scanner.scenarios import builds

SCANNER = Path(__file__).resolve().parents[2] / "scanner"


class RecordingRegistry(oci_client.Client):
    """A registry client that keeps manifests in memory and records every call."""

    def __init__(self) -> None:
        super().__init__("127.0.0.1:5000")
        self.calls: list[tuple[str, str]] = []
        self.manifests: dict[tuple[str, str], tuple[bytes, str]] = {}

    def push_blob(self, repository: str, data: bytes) -> str:
        self.calls.append(("blob", repository))
        return names.digest_of(data)

    def push_manifest(self, repository: str, reference: str, data: bytes,
                      media_type: str) -> str:
        self.calls.append(("manifest", f"{repository}:{reference}"))
        digest = names.digest_of(data)
        # A registry keeps every manifest by digest, whatever tags point at it.
        self.manifests[(repository, reference)] = self.manifests[(repository, digest)] = (
            data, media_type)
        return digest

    def get_manifest(self, repository: str, reference: str) -> oci_client.Manifest:
        self.calls.append(("get", f"{repository}:{reference}"))
        data, media_type = self.manifests[(repository, reference)]
        return oci_client.Manifest(data=data, media_type=media_type,
                                 digest=names.digest_of(data))


def node(annotations: dict[str, str] | None = None, arch: str = "amd64") -> dict[str, Any]:
    return {"metadata": {"name": "n", "annotations": annotations or {}},
            "status": {"nodeInfo": {"operatingSystem": "linux", "architecture": arch}}}


def test_kwok_nodes_get_synthetic_builds_and_real_nodes_runnable_ones() -> None:
    fake = node({builds.KWOK_ANNOTATION: "fake"})
    assert builds.is_kwok([fake, fake]) and not builds.is_kwok([fake, node()])
    assert not builds.is_kwok([])
    handle = base.ClusterHandle("c", "kwok", Path("k"), "127.0.0.1:5000", Path("."))
    assert builds.for_cluster(handle, [fake]).kind == "synthetic"
    existing = base.ClusterHandle("c", "existing", Path("k"), "127.0.0.1:5000", Path("."))
    assert builds.for_cluster(existing, [node(arch="arm64")]).kind == "runnable"
    assert str(builds._platform([node(arch="arm64"), node(arch="arm64"), node()])) == \
        "linux/arm64"


def test_a_build_is_pushed_once_per_repository_then_re_tagged() -> None:
    client = RecordingRegistry()
    publisher = builds.RegistryBuilds(client, synthetic.build_image, "synthetic")
    first = publisher.push("ns/web", "1.0", "ns/v1")
    other = publisher.push("ns/web", "1.0", "ns/v2")       # the re-push moves the tag
    assert other != first
    client.calls.clear()
    again = publisher.push("ns/web", "stable", "ns/v1")    # v1 again: a re-tag, no blobs
    assert again == first
    assert [c[0] for c in client.calls] == ["get", "manifest"]
    assert client.calls[-1] == ("manifest", "ns/web:stable")
    elsewhere = publisher.push("ns/api", "1.0", "ns/v1")   # same build, same digest
    assert elsewhere == first


def test_only_the_command_line_imports_the_scenario_runner() -> None:
    users = []
    for path in SCANNER.rglob("*.py"):
        if path.is_relative_to(SCANNER / "scenarios") or path.name in ("cli.py", "cli_lab.py"):
            continue
        tree = ast.parse(path.read_text())
        for n in ast.walk(tree):
            names = ([a.name for a in n.names] if isinstance(n, ast.Import) else
                     [n.module or ""] if isinstance(n, ast.ImportFrom) else [])
            if any(x == "scanner.scenarios" or x.startswith("scanner.scenarios.")
                   for x in names):
                users.append(str(path.relative_to(SCANNER)))
    assert users == []
