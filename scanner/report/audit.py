"""What an auditor reads in a report: provenance, the audit summary per control, integrity.

``html.render`` calls :func:`view` and hands the result to the template partials
``_provenance.html.j2``, ``_audit_summary.html.j2`` and ``_integrity.html.j2``; the
terminal and diff renderers use :func:`control_summaries` too. Everything is computed
from the ``Report`` model alone, so a page rendered later from JSON says the same.

Compliance per control: a workload is *out* when it has a finding of a rule that names
the control, *in* otherwise. A report with gaps cannot prove *in* for what it did not
read, so its summary says so. The page names up to ``AuditView.listed`` workloads per
list and counts the rest, so a 2,000-workload page stays small; the workload table
above it lists every workload with the rules it breaks.
"""

from __future__ import annotations

from dataclasses import dataclass

from scanner.report import document as report_model

__all__ = ["AuditView", "ControlSummary", "Fact", "control_summaries", "facts", "view"]


@dataclass(frozen=True)
class Fact:
    """One labelled line of the provenance block."""

    label: str
    value: str
    missing: bool = False
    """The fact could not be learnt; ``value`` says why."""


@dataclass(frozen=True)
class WorkloadRef:
    """A workload named in the audit summary, with its anchor in the page."""

    label: str
    anchor: str


@dataclass(frozen=True)
class ControlSummary:
    """One control: which rules evidence it, which workloads are in and out."""

    id: str
    framework: str
    title: str
    rules: tuple[str, ...]
    failing: tuple[WorkloadRef, ...]
    passing: tuple[WorkloadRef, ...]


@dataclass(frozen=True)
class AuditView:
    """The auditor's parts of the page."""

    facts: tuple[Fact, ...]
    controls: tuple[ControlSummary, ...]
    complete: bool
    digest: str | None
    key_fingerprint: str | None
    listed: int = 100
    """Workloads named per list in the page; the rest are counted, not named."""


def _join(items: tuple[str, ...], empty: str = "none") -> str:
    return ", ".join(items) if items else empty


def facts(report: report_model.Report) -> tuple[Fact, ...]:
    """The provenance block as labelled lines (an older report gives what it has)."""
    p = report.provenance
    result = [Fact("Tool", f"{report.tool.name} {report.tool.version}")]
    if report.clusters:
        return (*result, *_fleet_facts(report.clusters))
    if p is None:
        return (*result, Fact("Provenance", "not recorded (report written by an older"
                                            " driftscan)", missing=True))
    if p.command_line:
        result.append(Fact("Command", " ".join(p.command_line)))
    if report.source.type == "live":
        result += _live_facts(p)
    for i in p.inputs:
        result.append(Fact("Input file", f"{i.path} ({i.bytes} bytes, sha256 {i.sha256})"))
    return tuple(result)


def _live_facts(p: report_model.ProvenanceEntry) -> list[Fact]:
    why = p.unavailable
    return [
        Fact("API server", p.server or "unknown", p.server is None),
        _maybe("Cluster id (kube-system UID)", p.cluster_id, why.get("cluster_id")),
        _maybe("Server version", p.server_version, why.get("server_version")),
        _maybe("Scanned as", _identity(p.identity), why.get("identity")),
        Fact("Kinds requested", _join(p.kinds_requested)),
        Fact("Kinds read", _join(p.kinds_read), missing=p.kinds_read != p.kinds_requested),
        Fact("Namespaces requested", _join(p.namespaces_requested, "all")),
        Fact("Namespaces read", _join(p.namespaces_read).replace("*", "all")),
        Fact("LIST window", _window(p)),
    ]


def _fleet_facts(clusters: tuple[report_model.ClusterEntry, ...]) -> list[Fact]:
    """A fleet report: the command once, then each cluster's facts under its name."""
    result: list[Fact] = []
    command = next((c.provenance.command_line for c in clusters
                    if c.provenance and c.provenance.command_line), ())
    if command:
        result.append(Fact("Command", " ".join(command)))
    for c in clusters:
        if c.provenance is None:
            result.append(Fact(f"{c.name}: provenance", "not scanned: the cluster could not be"
                               " reached (see the gaps)" if not c.reachable else
                               "not recorded", missing=True))
            continue
        result += [Fact(f"{c.name}: {f.label}", f.value, f.missing)
                   for f in _live_facts(c.provenance)]
    return result


def _maybe(label: str, value: str | None, why: str | None) -> Fact:
    if value:
        return Fact(label, value)
    return Fact(label, f"unavailable: {why or 'not recorded'}", missing=True)


def _identity(identity: report_model.IdentityEntry | None) -> str | None:
    if identity is None:
        return None
    groups = f" (groups: {', '.join(identity.groups)})" if identity.groups else ""
    return f"{identity.username}{groups}"


def _window(p: report_model.ProvenanceEntry) -> str:
    if p.first_resource_version is None:
        return "no LIST answered"
    versions = (p.first_resource_version if p.first_resource_version == p.last_resource_version
                else f"{p.first_resource_version} … {p.last_resource_version}")
    return f"resourceVersion {versions}, {p.list_started_at} to {p.list_finished_at}"


def control_summaries(report: report_model.Report,
                      anchors: dict[tuple[str, str, str], str] | None = None
                      ) -> tuple[ControlSummary, ...]:
    """Per control named by a rule: workloads with a finding of its rules, and the rest."""
    anchors = anchors or {}
    summaries = []
    for control in report.controls:
        rules = tuple(r.id for r in report.rules if control.id in r.controls)
        failing: list[WorkloadRef] = []
        passing: list[WorkloadRef] = []
        for w in report.workloads:
            ref = WorkloadRef(f"{w.kind} {w.namespace}/{w.name}",
                              anchors.get((w.kind, w.namespace, w.name), ""))
            (failing if any(f.rule in rules for f in w.findings) else passing).append(ref)
        summaries.append(ControlSummary(control.id, control.framework, control.title, rules,
                                        tuple(failing), tuple(passing)))
    return tuple(summaries)


def view(report: report_model.Report,
         anchors: dict[tuple[str, str, str], str] | None = None) -> AuditView:
    """Everything the auditor's partials show."""
    integrity = report.integrity
    signature = integrity.signature if integrity else None
    return AuditView(
        facts=facts(report),
        controls=control_summaries(report, anchors),
        complete=not report.gaps,
        digest=integrity.digest if integrity else None,
        key_fingerprint=signature.key_fingerprint if signature else None,
    )
