"""latent-drift on hand-written snapshots and registry answers, and the edge that asks the
registry (``sources.resolving``) with a fake registry client."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from scanner import errors, evidence, findings, model, scanning
from scanner.oci import client as oci_client
from scanner.oci import failures, names
from scanner.oci import resolver as oci_resolver
from scanner.sources import dump, loading, resolving
from tests.unit import helpers

A, B, C = ("sha256:" + ch * 64 for ch in "abc")
I1, I2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64
P1, P2 = "sha256:" + "e" * 64, "sha256:" + "f" * 64
REG, REPO = "registry.example.com:5000", "shop/web"
FIXTURES = helpers.FIXTURES / "latent-drift"


def latent(name: str) -> list[findings.Finding]:
    return [f for f in helpers.fixture_findings("latent-drift", name) if f.rule == "latent-drift"]


def test_tag_moved_while_every_pod_runs_the_old_build() -> None:
    found = latent("fires-tag-moved.json")
    assert len(found) == 1
    f = found[0]
    assert f.workload == model.WorkloadRef("Deployment", "shop", "web")
    assert f.container == "web" and f.observed == (A,)
    assert isinstance(f.evidence, evidence.LatentDrift)
    assert f.evidence.registry_digest == B
    assert f.evidence.registry_digest_is_index is False
    assert f.evidence.running_digests == {A: 3}
    assert f.pin is not None and f.pin.digest == A
    assert "sha256:bbbbbbbbbbbb (manifest)" in f.message
    assert "on 3 pods" in f.message
    assert f"@{B}" in f.remediation


def test_index_digest_is_compared_with_index_digest() -> None:
    [f] = latent("fires-index-moved.json")
    assert isinstance(f.evidence, evidence.LatentDrift)
    assert f.observed == (I1,) and f.evidence.registry_digest == I2
    assert "(index)" in f.message
    assert latent("clean-index-unchanged.json") == []


def test_platform_manifests_are_never_compared_with_index_digests() -> None:
    # A pod reporting a platform manifest of the current index runs the current build.
    assert latent("clean-platform-manifest-of-current-index.json") == []
    # The tag names a platform manifest and the pods run the index listing it.
    assert latent("clean-pods-run-index-listing-the-manifest.json") == []
    # The index could not be read: not judged at all.
    assert latent("clean-index-children-unknown.json") == []


def test_no_registry_answers_means_no_finding() -> None:
    assert latent("clean-without-registry-check.json") == []


def test_some_builds_but_none_current() -> None:
    [f] = latent("fires-some-builds-none-current.json")
    assert f.observed == (A, C)


# --- the edge ---------------------------------------------------------------------------------


class FakeRegistry(oci_client.Client):
    """HEAD answers per tag, GET answers per digest (indexes)."""

    def __init__(self, name: str, tags: dict[str, tuple[str, str] | BaseException],
                 indexes: dict[str, list[str]]) -> None:
        super().__init__(name)
        self.tags, self.indexes = tags, indexes
        self.heads: list[str] = []
        self.gets: list[str] = []
        self.lock = threading.Lock()

    def head_manifest(self, repository: str, reference: str) -> oci_client.ManifestInfo:
        with self.lock:
            self.heads.append(f"{repository}:{reference}")
        answer = self.tags.get(f"{repository}:{reference}")
        if answer is None:
            raise failures.NotFound(f"registry {self.registry}: cannot resolve"
                               f" {repository}:{reference}: HTTP 404 (MANIFEST_UNKNOWN)",
                               hint="check the tag")
        if isinstance(answer, BaseException):
            raise answer
        return oci_client.ManifestInfo(answer[0], answer[1], 1)

    def get_manifest(self, repository: str, reference: str) -> oci_client.Manifest:
        with self.lock:
            self.gets.append(f"{repository}@{reference}")
        if reference in self.indexes:
            doc = {"schemaVersion": 2, "mediaType": names.OCI_INDEX,
                   "manifests": [{"digest": d, "mediaType": names.OCI_MANIFEST, "size": 1}
                                 for d in self.indexes[reference]]}
            return oci_client.Manifest(names.OCI_INDEX, json.dumps(doc).encode(), reference)
        if reference.startswith("sha256:"):
            return oci_client.Manifest(names.OCI_MANIFEST, b"{}", reference)
        raise failures.NotFound(f"registry {self.registry}: no {reference}")


def plain_snapshot(name: str) -> model.Snapshot:
    return dump.load([str(FIXTURES / name)])


def test_resolve_fills_tags_and_reads_the_index_a_tag_names() -> None:
    fake = FakeRegistry(REG, {f"{REPO}:1.0": (I2, names.OCI_INDEX)}, {I2: [P1, P2]})
    resolver = oci_resolver.Resolver(client_factory=lambda _n: fake)
    snap = resolving.resolve(plain_snapshot("fires-index-moved.json"), resolver)
    assert snap.registry_tags == (model.RegistryTag(REG, REPO, "1.0", I2, True),)
    assert snap.registry_indexes == (model.RegistryIndex(REG, REPO, I2, (P1, P2)),)
    assert snap.gaps == ()
    assert fake.heads == [f"{REPO}:1.0"]  # once, although the template and 2 pods name it


def test_resolve_reads_running_digests_only_when_the_tag_names_a_single_manifest() -> None:
    fake = FakeRegistry(REG, {f"{REPO}:1.0": (P1, names.OCI_MANIFEST)}, {I1: [P1, P2]})
    resolver = oci_resolver.Resolver(client_factory=lambda _n: fake)
    snap = resolving.resolve(plain_snapshot("clean-pods-run-index-listing-the-manifest.json"),
                             resolver)
    assert fake.gets == [f"{REPO}@{I1}"]
    assert snap.registry_indexes == (model.RegistryIndex(REG, REPO, I1, (P1, P2)),)
    g, found = helpers.analyse(snap)
    assert [f for f in found if f.rule == "latent-drift"] == []


@pytest.mark.parametrize(("answer", "status"), [
    (None, "not-found"),
    (failures.Unauthorized("registry r: denied [anonymous access]", hint="docker login r"),
     "unauthorized"),
    (failures.Unreachable("registry r unreachable: connection refused", hint="start it"),
     "unreachable"),
])
def test_failed_lookups_are_gaps_never_findings_or_crashes(
        answer: BaseException | None, status: str) -> None:
    tags: dict[str, tuple[str, str] | BaseException] = {}
    if answer is not None:
        tags[f"{REPO}:1.0"] = answer
    fake = FakeRegistry(REG, tags, {})
    snap = resolving.resolve(plain_snapshot("fires-tag-moved.json"),
                             oci_resolver.Resolver(client_factory=lambda _n: fake))
    assert snap.registry_tags == ()
    [gap] = snap.gaps
    assert gap.kind == "registry" and gap.namespace == "shop"
    assert gap.reason.startswith(f"{REG}/{REPO}:1.0 not resolved ({status}):")
    assert "Deployment/shop/web container web" in gap.reason
    report = helpers.report_for(snap)
    assert report.summary.complete is False
    assert not any(f.rule == "latent-drift" for w in report.workloads for f in w.findings)


def test_an_unreadable_index_is_a_gap() -> None:
    fake = FakeRegistry(REG, {f"{REPO}:1.0": (I2, names.OCI_INDEX)}, {})
    fake.get_manifest = lambda repository, reference: (_ for _ in ()).throw(  # type: ignore[method-assign]
        errors.RegistryError("registry r: HTTP 500"))
    snap = resolving.resolve(plain_snapshot("fires-index-moved.json"),
                             oci_resolver.Resolver(client_factory=lambda _n: fake))
    [gap] = snap.gaps
    assert "names index" in gap.reason and "HTTP 500" in gap.reason
    _, found = helpers.analyse(snap)
    assert not [f for f in found if f.rule == "latent-drift"]


def test_scan_with_a_resolver_reports_latent_drift(tmp_path: Path) -> None:
    fake = FakeRegistry(REG, {f"{REPO}:1.0": (B, names.OCI_MANIFEST)}, {})
    report = scanning.scan(loading.LoadRequest(files=(str(FIXTURES / "fires-tag-moved.json"),)),
                           tag_resolver=oci_resolver.Resolver(client_factory=lambda _n: fake))
    [web] = [w for w in report.workloads if w.name == "web"]
    assert "latent-drift" in {f.rule for f in web.findings}
    assert report.gaps == ()
    # Without a resolver, the same dump has no latent-drift (and no registry traffic).
    plain = scanning.scan(loading.LoadRequest(files=(str(FIXTURES / "fires-tag-moved.json"),)))
    assert not any(f.rule == "latent-drift" for w in plain.workloads for f in w.findings)
