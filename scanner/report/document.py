"""The report model every renderer takes (terminal table, JSON, HTML, later SARIF, JUnit).

Its JSON form is the versioned contract ``driftscan/report/v1`` (docs/report-schema.md,
scanner/schemas/report-v1.json). Besides the fields CI parses, each finding carries its
rule's metadata (title, why it matters, remediation) and the points it adds to the
workload's score, so a renderer needs nothing but this model.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Mapping
from dataclasses import dataclass

from scanner import findings, initializers

__all__ = [
    "SCHEMA",
    "ClusterEntry",
    "ContainerEntry",
    "ControlEntry",
    "DigestEntry",
    "FindingEntry",
    "GapEntry",
    "IdentityEntry",
    "InputEntry",
    "IntegrityEntry",
    "PinEntry",
    "ProvenanceEntry",
    "Report",
    "RevisionEntry",
    "RuleEntry",
    "ScoreEntry",
    "ServiceEntry",
    "SignatureEntry",
    "SourceEntry",
    "Summary",
    "ToolEntry",
    "WorkloadEntry",
]

SCHEMA = "driftscan/report/v1"


@dataclass(frozen=True)
class ToolEntry:
    """The program that wrote the report."""

    name: str
    version: str


@dataclass(frozen=True)
class SourceEntry:
    """What was scanned."""

    type: str
    """``live`` or ``dump``."""
    context: str | None
    files: tuple[str, ...]
    namespaces: tuple[str, ...]
    all_namespaces: bool
    server: str | None = None
    """The apiserver URL of a live scan. Added within v1: None when read from an older
    report."""

    def describe(self) -> str:
        """``context kwok-nc (https://127.0.0.1:6443), namespaces shop, web`` or the files."""
        if self.type == "dump":
            where = "dump " + (", ".join(self.files) or "(stdin)")
        else:
            where = f"context {self.context or '(current)'}"
            if self.server:
                where += f" ({self.server})"
        return f"{where}, {self.scope()}"

    def scope(self) -> str:
        """Which namespaces were scanned, in words."""
        if self.all_namespaces:
            return "all namespaces" if self.type == "live" else "every namespace in the files"
        if self.namespaces:
            noun = "namespace" if len(self.namespaces) == 1 else "namespaces"
            return f"{noun} {', '.join(self.namespaces)}"
        return "the context's namespace" if self.type == "live" else "everything in the files"


@dataclass(frozen=True)
class InputEntry:
    """A file the report was made from, with the sha256 of its bytes."""

    path: str
    sha256: str
    bytes: int


@dataclass(frozen=True)
class IdentityEntry:
    """Who the apiserver said the scan ran as (``SelfSubjectReview``)."""

    username: str
    uid: str
    groups: tuple[str, ...]


@dataclass(frozen=True)
class ProvenanceEntry:
    """Where the report came from, for an auditor: cluster, identity, scope, time, inputs.

    Added within v1: None when read from an older report. Facts a live scan could not
    learn are None, with the reason in ``unavailable``.
    """

    command_line: tuple[str, ...]
    """The exact command, secrets replaced by ``<redacted>``."""
    server: str | None
    cluster_id: str | None
    """``metadata.uid`` of the ``kube-system`` namespace."""
    server_version: str | None
    identity: IdentityEntry | None
    unavailable: Mapping[str, str]
    kinds_requested: tuple[str, ...]
    kinds_read: tuple[str, ...]
    namespaces_requested: tuple[str, ...]
    namespaces_read: tuple[str, ...]
    first_resource_version: str | None
    last_resource_version: str | None
    list_started_at: str | None
    list_finished_at: str | None
    inputs: tuple[InputEntry, ...]


@dataclass(frozen=True)
class SignatureEntry:
    """An Ed25519 signature over the report's canonical body."""

    algorithm: str
    """Always ``ed25519``."""
    public_key: str
    """The raw 32-byte public key, base64."""
    key_fingerprint: str
    """``sha256:`` and the hex sha256 of the raw public key."""
    value: str
    """The 64-byte signature, base64."""


@dataclass(frozen=True)
class IntegrityEntry:
    """The digest (and optional signature) that lets ``driftscan report verify`` check a file."""

    algorithm: str
    """Always ``sha256``."""
    canonicalization: str
    """How the body is serialised before hashing (docs/report-schema.md)."""
    digest: str
    """``sha256:`` and the hex digest of the canonical body."""
    signature: SignatureEntry | None


@dataclass(frozen=True)
class ControlEntry:
    """A compliance control that rules evidence (NIST SP 800-53, SOC 2, SLSA)."""

    id: str
    framework: str
    title: str


@dataclass(frozen=True)
class Summary:
    """Counts for the summary line and CI gates."""

    workloads: int
    with_findings: int
    by_severity: Mapping[str, int]
    """Findings per severity; every severity is present, most severe last."""
    max_score: int
    pods: int
    complete: bool
    """False when gaps exist: part of the cluster was not seen."""


@dataclass(frozen=True)
class GapEntry:
    """Something the scan could not see."""

    kind: str
    namespace: str | None
    reason: str
    cluster: str | None = None
    """The kubeconfig context of a fleet scan's cluster; None for one cluster."""


@initializers.fast_init
@dataclass(frozen=True)
class DigestEntry:
    """One build of one container, and where it runs."""

    digest: str
    """``sha256:…``; a config id for ``kind == "config-id"``; the raw value if unknown."""
    kind: str
    """``repo-digest``, ``config-id`` or ``unknown`` (see images.ImageIDKind)."""
    repository: str | None
    image_ids: tuple[str, ...]
    """The raw ``imageID`` values grouped under this digest."""
    pods: tuple[str, ...]
    """Every pod in the input running it, finished or terminating ones included."""
    nodes: tuple[str, ...]
    revisions: tuple[str, ...]


@initializers.fast_init
@dataclass(frozen=True)
class ContainerEntry:
    """One container of a workload across all its pods."""

    name: str
    init: bool
    role: str
    """``main``, ``init``, ``sidecar`` (init with restartPolicy Always) or ``ephemeral``."""
    spec_images: tuple[str, ...]
    digests: tuple[DigestEntry, ...]


@initializers.fast_init
@dataclass(frozen=True)
class PinEntry:
    """How to pin a container to one build."""

    container: str
    image: str
    digest: str
    pinned_image: str
    command: str | None
    reason: str = ""
    """Why this digest (``run by 20 of 25 pods; the tag now names sha256:dc83…``); added
    within v1, "" when read from an older report."""

    def in_cluster(self, cluster: str) -> PinEntry:
        """This pin with its command sent to ``cluster``'s kubeconfig context.

        A fleet report's fix goes to the cluster its workload is in. Idempotent: a command
        that already names the context is kept (fleet reports written before the command
        carried it are completed when they are read back).
        """
        if self.command is None:
            return self
        suffix = f" --context {shlex.quote(cluster)}"
        if self.command.endswith(suffix):
            return self
        return dataclasses.replace(self, command=self.command + suffix)


@initializers.fast_init
@dataclass(frozen=True)
class FindingEntry:
    """A finding with its rule's metadata and its share of the score."""

    rule: str
    severity: str
    message: str
    evidence: Mapping[str, findings.JSONValue]
    remediation: str
    """This finding's fix, with the exact digest and command where they apply."""
    title: str
    rationale: str
    rule_remediation: str
    container: str | None
    observed: tuple[str, ...]
    expected: str | None
    pin: PinEntry | None
    points: int
    score_reasons: tuple[str, ...]
    cluster: str | None = None
    """The kubeconfig context of a fleet scan's cluster; None for one cluster."""


@initializers.fast_init
@dataclass(frozen=True)
class ScoreEntry:
    """Points per finding, in the order they were counted."""

    rule: str
    container: str | None
    points: int
    reasons: tuple[str, ...]


@initializers.fast_init
@dataclass(frozen=True)
class RevisionEntry:
    """One revision (ReplicaSet, ControllerRevision, pod template) and its pods."""

    name: str
    number: int | None
    pods: tuple[str, ...]
    """Every pod of the revision in the input, finished or terminating ones included."""
    live_pods: tuple[str, ...]
    """The pods that run or will run (not finished, not being deleted)."""


@initializers.fast_init
@dataclass(frozen=True)
class ServiceEntry:
    """A Service that selects pods of the workload, and who calls it."""

    name: str
    pods: tuple[str, ...]
    """The workload's pods its selector matches."""
    ready_pods: tuple[str, ...]
    """Of those, the live and ready ones: the endpoints that get its traffic."""
    callers: tuple[str, ...]
    """Workloads (``Kind/namespace/name``) whose env or args name this Service."""


@initializers.fast_init
@dataclass(frozen=True)
class WorkloadEntry:
    """One workload: its score, containers with their builds, and findings."""

    kind: str
    namespace: str
    name: str
    score: int
    grade: str
    containers: tuple[ContainerEntry, ...]
    findings: tuple[FindingEntry, ...]
    score_breakdown: tuple[ScoreEntry, ...]
    ignored_rules: tuple[str, ...]
    revisions: tuple[RevisionEntry, ...] = ()
    """Oldest first. Added within v1: empty when read from an older report."""
    services: tuple[ServiceEntry, ...] = ()
    """Added within v1: empty when read from an older report."""
    cluster: str | None = None
    """The kubeconfig context of a fleet scan's cluster (added within v1); None for one
    cluster."""

    @property
    def label(self) -> str:
        """``Kind namespace/name``."""
        return f"{self.kind} {self.namespace}/{self.name}"


@dataclass(frozen=True)
class RuleEntry:
    """A rule's metadata (for SARIF rules, the HTML legend, docs)."""

    id: str
    severity: str
    title: str
    rationale: str
    remediation: str
    family: str
    controls: tuple[str, ...] = ()
    """Ids of the controls this rule evidences (``ControlEntry.id``)."""


@dataclass(frozen=True)
class ClusterEntry:
    """One cluster of a fleet scan (``scan --context A --context B``, ``--all-contexts``)."""

    name: str
    """The kubeconfig context."""
    server: str | None
    reachable: bool
    """False when the cluster could not be scanned at all (its reason is a gap)."""
    complete: bool
    """False when any gap names this cluster."""
    workloads: int
    pods: int
    provenance: ProvenanceEntry | None


@dataclass(frozen=True)
class Report:
    """Everything one scan found, worst workloads first."""

    schema: str
    generated_at: str
    tool: ToolEntry
    source: SourceEntry
    summary: Summary
    gaps: tuple[GapEntry, ...]
    workloads: tuple[WorkloadEntry, ...]
    rules: tuple[RuleEntry, ...]
    provenance: ProvenanceEntry | None = None
    controls: tuple[ControlEntry, ...] = ()
    """Every control a rule names. Added within v1: empty in older reports."""
    integrity: IntegrityEntry | None = None
    """Set by ``integrity.seal``; None until then and in older reports."""
    clusters: tuple[ClusterEntry, ...] = ()
    """The clusters of a fleet scan, in the order asked for; empty for one cluster (added
    within v1)."""

    def worst_severity(self) -> findings.Severity | None:
        """The most severe finding's severity, or None for a clean report."""
        worst: findings.Severity | None = None
        for w in self.workloads:
            for f in w.findings:
                s = findings.Severity(f.severity)
                if worst is None or s.rank > worst.rank:
                    worst = s
        return worst
