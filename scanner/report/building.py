"""Assemble the ``Report`` model from a snapshot, its graph, findings and scores.

Called by ``scanning.scan`` (and tests). Containers list every build each container runs
across all pods in the input, grouped by digest, with pods, nodes and revisions; gaps
join the source's gaps (forbidden LISTs) with the graph's (owners missing from the
input).
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable, Sequence

from scanner import __version__, controls, detectors, findings, graph, images, model, scoring
from scanner.detectors import rules
from scanner.report import document as report_model

__all__ = ["assemble", "build", "control_entries", "now", "provenance", "rule_entries",
           "workload_entries"]


def build(
    snapshot: model.Snapshot,
    g: graph.Graph,
    all_findings: Iterable[findings.Finding],
    rule_set: rules.RuleSet,
    *,
    generated_at: str | None = None,
    command_line: Sequence[str] = (),
) -> report_model.Report:
    """Build the report: score each workload, attach rule metadata, sort worst first.

    Args:
        snapshot: what the scan saw.
        g: its graph.
        all_findings: the detectors' findings.
        rule_set: rule metadata for titles, rationale and remediation.
        generated_at: ISO 8601 timestamp; now (UTC) when None.
        command_line: the command that asked for the report, secrets already removed
            (``redacting.command_line``).

    Returns:
        The report model.
    """
    found = list(all_findings)
    workloads = workload_entries(g, found, rule_set)
    gaps = [*snapshot.gaps, *graph.missing_owners(g)]
    return assemble(snapshot.source, snapshot.provenance, found, workloads, gaps,
                    len(snapshot.pods), rule_set, generated_at=generated_at,
                    command_line=command_line)


def workload_entries(
    g: graph.Graph,
    found: Sequence[findings.Finding],
    rule_set: rules.RuleSet,
    refs: Iterable[model.WorkloadRef] | None = None,
) -> list[report_model.WorkloadEntry]:
    """Score and describe each workload of ``refs`` (every workload of ``g`` when None).

    ``driftscan watch`` calls this for the workloads a change touched and keeps the rest.
    """
    chosen = graph.workloads(g) if refs is None else list(refs)
    scores = scoring.score_all(chosen, found)
    by_workload: dict[model.WorkloadRef, list[findings.Finding]] = defaultdict(list)
    for f in found:
        by_workload[f.workload].append(f)
    return [
        _workload(g, ref, sorted(by_workload[ref], key=lambda f: f.sort_key()), scores[ref],
                  rule_set)
        for ref in chosen
    ]


def assemble(
    src: model.SourceInfo,
    facts: model.Provenance,
    found: Sequence[findings.Finding],
    workload_list: Iterable[report_model.WorkloadEntry],
    gap_list: Iterable[model.Gap],
    pods: int,
    rule_set: rules.RuleSet,
    *,
    generated_at: str | None = None,
    command_line: Sequence[str] = (),
) -> report_model.Report:
    """The report from workload entries already built: sorted, summed up, rules attached.

    Args:
        src: where the objects came from.
        facts: the source's provenance.
        found: every finding of every workload in ``workload_list``.
        workload_list: from :func:`workload_entries`.
        gap_list: the source's gaps, then the graph's (owners missing from the input).
        pods: how many pods were read.
        rule_set: rule metadata.
        generated_at: ISO 8601 timestamp; now (UTC) when None.
        command_line: the command, secrets already removed.
    """
    workloads = sorted(workload_list, key=lambda w: (-w.score, w.kind, w.namespace, w.name))
    gaps = [report_model.GapEntry(gap.kind, gap.namespace, gap.reason) for gap in gap_list]
    severities = {s.value: 0 for s in findings.Severity}
    for f in found:
        severities[f.severity.value] += 1
    summary = report_model.Summary(
        workloads=len(workloads),
        with_findings=sum(1 for w in workloads if w.findings),
        by_severity=severities,
        max_score=max((w.score for w in workloads), default=0),
        pods=pods,
        complete=not gaps,
    )
    return report_model.Report(
        schema=report_model.SCHEMA,
        generated_at=generated_at or now(),
        tool=report_model.ToolEntry("driftscan", __version__),
        source=report_model.SourceEntry(
            type=src.type,
            context=src.context,
            files=src.files,
            namespaces=src.namespaces,
            all_namespaces=src.all_namespaces,
            server=src.server,
        ),
        summary=summary,
        gaps=tuple(gaps),
        workloads=tuple(workloads),
        rules=rule_entries(rule_set),
        provenance=provenance(facts, command_line),
        controls=control_entries(rule_set),
    )


def rule_entries(rule_set: rules.RuleSet) -> tuple[report_model.RuleEntry, ...]:
    """Every rule's metadata, as the report lists it."""
    return tuple(
        report_model.RuleEntry(
            r.id, r.severity.value, r.title, r.rationale, r.remediation, r.family, r.controls,
        )
        for r in rule_set.rules()
    )


def control_entries(rule_set: rules.RuleSet) -> tuple[report_model.ControlEntry, ...]:
    """Every control a rule of ``rule_set`` names."""
    return tuple(
        report_model.ControlEntry(c.id, c.framework, c.title)
        for c in controls.CATALOG
        if any(c.id in r.controls for r in rule_set.rules())
    )


def provenance(facts: model.Provenance,
               command_line: Sequence[str]) -> report_model.ProvenanceEntry:
    """The report's provenance block from what the source learnt and the command line."""
    return report_model.ProvenanceEntry(
        command_line=tuple(command_line),
        server=facts.server,
        cluster_id=facts.cluster_id,
        server_version=facts.server_version,
        identity=(
            report_model.IdentityEntry(facts.user.username, facts.user.uid, facts.user.groups)
            if facts.user
            else None
        ),
        unavailable=dict(facts.unavailable),
        kinds_requested=facts.kinds_requested,
        kinds_read=facts.kinds_read,
        namespaces_requested=facts.namespaces_requested,
        namespaces_read=facts.namespaces_read,
        first_resource_version=facts.first_resource_version,
        last_resource_version=facts.last_resource_version,
        list_started_at=facts.list_started_at,
        list_finished_at=facts.list_finished_at,
        inputs=tuple(report_model.InputEntry(i.path, i.sha256, i.size) for i in facts.inputs),
    )


def now() -> str:
    """The current UTC time as the report writes it."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _workload(
    g: graph.Graph,
    ref: model.WorkloadRef,
    workload_findings: list[findings.Finding],
    score: scoring.WorkloadScore,
    rule_set: rules.RuleSet,
) -> report_model.WorkloadEntry:
    items = list(score.items)
    entries = []
    for f, item in zip(workload_findings, items, strict=True):
        rule = rule_set.rule(f.rule) if f.rule in rule_set else None
        entries.append(
            report_model.FindingEntry(
                rule=f.rule,
                severity=f.severity.value,
                message=f.message,
                evidence=f.evidence.to_json(),
                remediation=f.remediation or (rule.remediation if rule else ""),
                title=rule.title if rule else f.rule,
                rationale=rule.rationale if rule else "",
                rule_remediation=rule.remediation if rule else "",
                container=f.container,
                observed=f.observed,
                expected=f.expected,
                pin=(
                    report_model.PinEntry(
                        f.pin.container, f.pin.image, f.pin.digest, f.pin.pinned_image,
                        f.pin.command, f.pin.reason,
                    )
                    if f.pin
                    else None
                ),
                points=item.points,
                score_reasons=item.reasons,
            )
        )
    ignored = detectors.ignored_rules(g, ref)
    return report_model.WorkloadEntry(
        kind=ref.kind,
        namespace=ref.namespace,
        name=ref.name,
        score=score.score,
        grade=score.grade,
        containers=_containers(g, ref),
        findings=tuple(entries),
        score_breakdown=tuple(
            report_model.ScoreEntry(i.rule, i.container, i.points, i.reasons) for i in items
        ),
        ignored_rules=tuple(sorted(ignored)),
        revisions=tuple(
            report_model.RevisionEntry(
                name=r.name,
                number=r.number,
                pods=tuple(p.name for p in r.pods),
                live_pods=tuple(p.name for p in r.live_pods),
            )
            for r in graph.revisions(g, ref)
        ),
        services=_services(g, ref),
    )


def _services(g: graph.Graph, ref: model.WorkloadRef) -> tuple[report_model.ServiceEntry, ...]:
    own = {p.name: p for p in graph.pods(g, ref)}
    result = []
    for svc in graph.services_selecting(g, ref):
        selected = [own[name] for name in graph.selected_pods(g, svc) if name in own]
        result.append(
            report_model.ServiceEntry(
                name=svc.name,
                pods=tuple(p.name for p in selected),
                ready_pods=tuple(p.name for p in selected if p.live and p.ready),
                callers=tuple(
                    str(c) for c in graph.service_callers(g, svc) if c != ref
                ),
            )
        )
    return tuple(result)


def _containers(g: graph.Graph, ref: model.WorkloadRef) -> tuple[report_model.ContainerEntry, ...]:
    roles: dict[str, model.ContainerRole] = {}
    spec_images: dict[str, set[str]] = defaultdict(set)
    for spec in graph.template(g, ref):
        roles[spec.name] = spec.role
        if spec.image:
            spec_images[spec.name].add(spec.image)
    revision_names = {r.key: r.name for r in graph.revisions(g, ref)}
    # One pass over the uses gathers each (container, digest)'s values; sorting them
    # afterwards costs one call per set instead of a comprehension per field.
    grouped: dict[str, dict[str, _DigestValues]] = defaultdict(dict)
    empty = images.ImageIDKind.EMPTY
    for use in graph.digest_uses(g, ref, live_only=False):
        container = use.container
        name = container.name
        if name not in roles:
            roles[name] = container.role
        if container.image:
            spec_images[name].add(container.image)
        image_id = use.image_id
        if image_id.kind is empty:
            continue
        per_digest = grouped[name]
        values = per_digest.get(image_id.key)
        if values is None:
            values = per_digest[image_id.key] = (image_id, set(), set(), set(), set())
        pod = use.pod
        values[1].add(image_id.raw)
        values[2].add(pod.name)
        if pod.node:
            values[3].add(pod.node)
        values[4].add(revision_names.get(use.revision, use.revision))
    result = []
    for name, role in sorted(roles.items(), key=lambda kv: (_role_order(kv[1]), kv[0])):
        digests = []
        for key, (first, raws, pod_names, nodes, revision_set) in sorted(grouped[name].items()):
            digests.append(
                report_model.DigestEntry(
                    digest=key,
                    kind=first.kind.value,
                    repository=first.repository,
                    image_ids=tuple(sorted(raws)),
                    pods=tuple(sorted(pod_names)),
                    nodes=tuple(sorted(nodes)),
                    revisions=tuple(sorted(revision_set)),
                )
            )
        result.append(
            report_model.ContainerEntry(
                name=name,
                init=role.is_init,
                role=role.value,
                spec_images=tuple(sorted(spec_images[name])),
                digests=tuple(digests),
            )
        )
    return tuple(result)


# The first use's parsed imageID, then the sets of raw imageIDs, pod names, node names
# and revision names of one container's digest.
_DigestValues = tuple[images.ImageID, set[str], set[str], set[str], set[str]]


def _role_order(role: model.ContainerRole) -> int:
    return _ROLE_ORDER[role]


_ROLE_ORDER = {
    model.ContainerRole.INIT: 0,
    model.ContainerRole.SIDECAR: 1,
    model.ContainerRole.MAIN: 2,
    model.ContainerRole.EPHEMERAL: 3,
    model.ContainerRole.VOLUME: 4,
}
