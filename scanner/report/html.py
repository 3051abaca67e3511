"""The HTML scan report: one self-contained page rendered from the ``Report`` model.

``scanning`` calls :func:`write` (or :func:`stream` for stdout) for ``driftscan scan
--format html``; the ``report`` command calls it on a model read back from JSON
(``json_format.read``), so both give the same page; the scenario validation page
(``report.validation``) links into these pages with :func:`anchors`; ``report.html_directory``
writes the ``-o DIR/`` form (an index plus one of these pages per namespace).

The page's size follows what matters, not the cluster's size: workloads whose worst finding
is at or above the detail threshold (:class:`Detail`, default medium) get a full section;
every other workload is one compact table row that keeps its ``#w-…`` anchor and is
counted in every summary, and the page says what it summarised. Small pages put the
table first; past :data:`TABLE_FIRST_ROWS` rows the sections come first so the reader
meets the findings before thousands of rows.

This module turns the model into a view model (plain frozen dataclasses: everything the
template shows, computed here from the model, whose findings carry their shell-quoted
``kubectl set image`` commands, and the inline SVG from ``report.svg``); the markup lives
in ``templates/scan.html.j2`` with autoescaping on. The page loads nothing: CSS and SVG
are inline, a Content-Security-Policy forbids every fetch and allows only the page's own
sorting script (by hash), and it reads fully without JavaScript.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import jinja2
from markupsafe import Markup

from scanner import errors, images
from scanner.report import audit, pictures, streaming, svg
from scanner.report import document as report_model

__all__ = [
    "DEFAULT_DETAIL",
    "DETAIL_LIMIT",
    "GRADES",
    "SEVERITIES",
    "TABLE_FIRST_ROWS",
    "Detail",
    "anchors",
    "environment",
    "page",
    "page_security",
    "render",
    "stream",
    "workload_anchor",
    "workload_key",
    "worst_severity",
    "write",
]

SEVERITIES = ("critical", "high", "medium", "low", "info")
"""Most severe first, as the page lists them."""
GRADES = ("A", "B", "C", "D", "F")
DEFAULT_DETAIL = "medium"
"""Findings at or above this severity earn their workload a full section by default."""
DETAIL_LIMIT = 1000
"""Full sections one page holds by default (highest scores first).

Measured (benchmarks/html_report.py): a full section weighs 4–7 kB, a table row about
0.25 kB, so 1,000 sections plus 10,000 rows stay under 10 MB and paint in about a second.
Past the limit the rest are table rows, and the page says how to see them in full.
"""
TABLE_FIRST_ROWS = 100
"""Up to this many workloads the table comes before the sections; past it, after them."""

_SLUG_UNSAFE = re.compile(r"[^a-z0-9.-]+")


# --- anchors and commands ----------------------------------------------------------------


def workload_anchor(kind: str, namespace: str, name: str) -> str:
    """``w-<kind>-<namespace>-<name>``, lower case; a hash suffix when characters were dropped.

    Kubernetes names already fit an HTML id; anything else (a hand-edited dump) is
    replaced by ``-`` and the id gets 8 hex digits of the full identity so it stays
    unique and stable.
    """
    raw = f"{kind}-{namespace}-{name}".lower()
    slug = _SLUG_UNSAFE.sub("-", raw).strip("-")
    base = f"w-{slug}"
    if slug != raw:
        base += "-" + _digest(kind, namespace, name)
    return base


def _digest(kind: str, namespace: str, name: str) -> str:
    return hashlib.sha256(f"{kind}/{namespace}/{name}".encode()).hexdigest()[:8]


def anchors(report: report_model.Report) -> dict[tuple[str, str, str], str]:
    """The id of every workload's place in the page, by (kind, namespace, name).

    Two workloads whose ids would collide (``ns a-b`` + ``name c`` against ``ns a`` +
    ``name b-c``) both get the hash suffix, so neither depends on the other's order.
    """
    base = {workload_key(w): workload_anchor(*workload_key(w)) for w in report.workloads}
    counts = Counter(base.values())
    return {
        key: (value if counts[value] == 1 else f"{value}-{_digest(*key)}")
        for key, value in base.items()
    }


def workload_key(w: report_model.WorkloadEntry) -> tuple[str, str, str]:
    """``(kind, namespace, name)``, the key of :func:`anchors`.

    In a fleet report the namespace is prefixed with the cluster (``prod/shop``): one
    name may be in several clusters.
    """
    return (w.kind, w.namespace if w.cluster is None else f"{w.cluster}/{w.namespace}", w.name)


def worst_severity(w: report_model.WorkloadEntry) -> str | None:
    """The most severe of the workload's findings (a name in :data:`SEVERITIES`), or None."""
    present = {f.severity for f in w.findings}
    return next((s for s in SEVERITIES if s in present), None)


@dataclass(frozen=True)
class Detail:
    """Which workloads the page shows in full.

    A workload gets a full section when its worst finding is at or above ``threshold``
    (``info`` shows every workload with findings), up to ``limit`` sections per page in
    the report's order (highest scores first; None for no limit); the rest are one table
    row each.
    """

    threshold: str = DEFAULT_DETAIL
    limit: int | None = DETAIL_LIMIT

    def __post_init__(self) -> None:
        if self.threshold not in SEVERITIES:
            raise errors.InputError(f"unknown detail level {self.threshold!r}",
                                    hint=f"use one of {', '.join(reversed(SEVERITIES))}")
        if self.limit is not None and self.limit < 1:
            raise errors.InputError(f"detail limit {self.limit} is below 1",
                                    hint="give a number of sections, or 0 on the command "
                                    "line for no limit")

    def qualifies(self, w: report_model.WorkloadEntry) -> bool:
        """Whether ``w``'s findings reach the threshold (before the limit applies)."""
        worst = worst_severity(w)
        return worst is not None and _RANK[worst] >= _RANK[self.threshold]

    def choose(self, workloads: Sequence[report_model.WorkloadEntry]) -> list[bool]:
        """For each workload in order, whether it gets a full section on one page."""
        left = self.limit
        chosen = []
        for w in workloads:
            full = self.qualifies(w) and (left is None or left > 0)
            if full and left is not None:
                left -= 1
            chosen.append(full)
        return chosen


_RANK = {s: len(SEVERITIES) - i for i, s in enumerate(SEVERITIES)}

# --- view model ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DigestView:
    """One build of a container and where it runs."""

    digest: str
    short: str
    kind: str
    repository: str | None
    colour: str
    pods: tuple[str, ...]
    nodes: tuple[str, ...]
    revisions: tuple[str, ...]
    pinned: bool
    """The build the findings say to pin to."""
    pods_text: str
    nodes_text: str
    revisions_text: str


@dataclass(frozen=True)
class ContainerView:
    """A container's builds, drawn as one stacked bar."""

    name: str
    role: str
    spec_images: tuple[str, ...]
    digests: tuple[DigestView, ...]
    pods: int
    bar: Markup


@dataclass(frozen=True)
class FindingView:
    """A finding as the page shows it."""

    anchor: str
    rule: str
    severity: str
    title: str
    message: str
    rationale: str
    rationale_inline: bool
    """False when the page already wrote this rule's rationale out: link to it instead."""
    remediation: str
    rule_remediation: str
    container: str | None
    pin_digest: str | None
    pinned_image: str | None
    pin_reason: str
    """Why that digest (``run by 20 of 25 pods; …``), "" when unknown."""
    command: str | None
    command_above: str | None
    """Anchor of an earlier finding of the workload showing the same command."""
    points: int


@dataclass(frozen=True)
class ScoreLine:
    """One line of a score breakdown, pointing at the finding that earned it."""

    finding_anchor: str
    rule: str
    container: str | None
    points: int
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class WorkloadRow:
    """A row of the workload table."""

    anchor: str
    kind: str
    namespace: str
    name: str
    score: int
    grade: str
    builds: int
    pods: int
    findings: int
    worst: str | None
    rules: tuple[str, ...]
    has_section: bool
    cluster: str | None = None
    """The kubeconfig context, in a fleet report."""


@dataclass(frozen=True)
class WorkloadSection:
    """Everything shown for one workload with findings."""

    anchor: str
    kind: str
    namespace: str
    name: str
    score: int
    grade: str
    uncapped: int
    findings: tuple[FindingView, ...]
    score_lines: tuple[ScoreLine, ...]
    containers: tuple[ContainerView, ...]
    bars: bool
    """Draw each container's pods-per-build bar (not when the picture shows the split)."""
    graph: Markup | None
    services_text: str
    """``web (3 ready of 4; called by Deployment/shop/frontend), …``."""
    ignored_rules: tuple[str, ...]
    cluster: str | None = None
    """The kubeconfig context, in a fleet report."""


@dataclass(frozen=True)
class Count:
    """A labelled number with its share of the total (for summary bars)."""

    key: str
    count: int


@dataclass(frozen=True)
class DetailNote:
    """What the page shows in full and what it summarises."""

    threshold: str
    detailed: int
    """Workloads with a full section."""
    over_limit: int
    """Workloads at or above the threshold past the page's limit: one row each."""
    limit: int | None
    below: int
    """Workloads whose findings are all below the threshold: one row each."""
    clean: int
    """Workloads without findings: one row each."""


@dataclass(frozen=True)
class Context:
    """Where a page sits in a report directory (``-o DIR/``); absent for a single file."""

    group: str
    """``namespace shop``: what this page covers."""
    index_href: str
    """The index page, relative to this one."""


@dataclass(frozen=True)
class ScanPage:
    """The whole scan page."""

    title: str
    tool: str
    generated_at: str
    source: str
    scope: str
    complete: bool
    gaps: tuple[report_model.GapEntry, ...]
    workloads: int
    pods: int
    with_findings: int
    max_score: int
    grades: tuple[Count, ...]
    grade_bar: Markup
    severities: tuple[Count, ...]
    detail: DetailNote
    table_first: bool
    """Small pages: the table before the sections (see :data:`TABLE_FIRST_ROWS`)."""
    rows: streaming.Lazy[WorkloadRow]
    sections: streaming.Lazy[WorkloadSection]
    rules: tuple[report_model.RuleEntry, ...]
    context: Context | None
    clusters: tuple[report_model.ClusterEntry, ...] = ()
    """A fleet report's clusters; the tables get a cluster column when there are two or more."""


def page(report: report_model.Report, detail: Detail | None = None,
         context: Context | None = None) -> ScanPage:
    """Compute everything the scan page shows; rows and sections are built as they stream."""
    detail = detail or Detail()
    ids = anchors(report)
    shown = detail.choose(report.workloads)
    detailed = sum(shown)
    qualifying = sum(1 for w in report.workloads if detail.qualifies(w))
    with_findings = sum(1 for w in report.workloads if w.findings)

    def rows() -> Iterator[WorkloadRow]:
        for w, full in zip(report.workloads, shown, strict=True):
            yield _row(w, ids[workload_key(w)], full)

    def sections() -> Iterator[WorkloadSection]:
        explained: set[str] = set()  # rules whose rationale the page already wrote out
        for w, full in zip(report.workloads, shown, strict=True):
            if full:
                yield _section(w, ids[workload_key(w)], explained)

    s = report.summary
    grade_counts = Counter(w.grade for w in report.workloads)
    grades = tuple(Count(g, grade_counts.get(g, 0)) for g in GRADES)
    status = "INCOMPLETE: " if report.gaps else ""
    where = f" in {context.group}" if context else ""
    return ScanPage(
        title=f"{status}driftscan report{where}: {s.with_findings} of {s.workloads} workloads"
        f" drift or risk drift",
        tool=f"{report.tool.name} {report.tool.version}",
        generated_at=report.generated_at,
        source=_source(report.source, report.clusters),
        scope=f"{context.group} (of {_scope(report.source)})" if context else _scope(report.source),
        complete=not report.gaps,
        gaps=report.gaps,
        workloads=s.workloads,
        pods=s.pods,
        with_findings=s.with_findings,
        max_score=s.max_score,
        grades=grades,
        grade_bar=svg.stacked_bar(
            [svg.Segment(c.count, svg.GRADE_COLOURS[c.key], f"grade {c.key}: {c.count}")
             for c in grades],
            label="workloads by grade: "
            + ", ".join(f"{c.key} {c.count}" for c in grades),
            height=14,
        ),
        severities=tuple(Count(k, s.by_severity.get(k, 0)) for k in SEVERITIES),
        detail=DetailNote(detail.threshold, detailed, qualifying - detailed, detail.limit,
                          with_findings - qualifying, len(report.workloads) - with_findings),
        table_first=len(report.workloads) <= TABLE_FIRST_ROWS,
        rows=streaming.Lazy(len(report.workloads), rows),
        sections=streaming.Lazy(detailed, sections),
        rules=report.rules,
        context=context,
        clusters=report.clusters,
    )


def _source(src: report_model.SourceEntry,
            clusters: tuple[report_model.ClusterEntry, ...] = ()) -> str:
    if clusters:
        return f"{len(clusters)} live clusters: " + ", ".join(
            c.name + (f" ({c.server})" if c.server else "") + ("" if c.reachable
                                                               else " (unreachable)")
            for c in clusters)
    if src.type == "dump":
        files = ", ".join(src.files) or "(stdin)"
        return f"dump files: {files}"
    server = f" ({src.server})" if src.server else ""
    return f"live cluster, context {src.context or '(current)'}{server}"


def _scope(src: report_model.SourceEntry) -> str:
    return src.scope()


def _row(w: report_model.WorkloadEntry, anchor: str, full: bool) -> WorkloadRow:
    worst = worst_severity(w)
    rules = tuple(dict.fromkeys(f.rule for f in w.findings))
    pods = {p for c in w.containers for d in c.digests for p in d.pods}
    pods.update(p for r in w.revisions for p in r.pods)
    return WorkloadRow(
        anchor=anchor,
        kind=w.kind,
        namespace=w.namespace,
        name=w.name,
        score=w.score,
        grade=w.grade,
        builds=max((len(c.digests) for c in w.containers), default=0),
        pods=len(pods),
        findings=len(w.findings),
        worst=worst,
        rules=rules,
        has_section=full,
        cluster=w.cluster,
    )


def _section(w: report_model.WorkloadEntry, anchor: str,
             explained: set[str]) -> WorkloadSection:
    views = []
    lines = []
    shown: dict[str, str] = {}
    for i, f in enumerate(w.findings, start=1):
        fid = f"{anchor}-f{i}"
        command = f.pin.command if f.pin else None
        above = shown.get(command) if command else None
        if command and above is None:
            shown[command] = fid
        views.append(
            FindingView(
                anchor=fid,
                rule=f.rule,
                severity=f.severity,
                title=f.title,
                message=f.message,
                rationale=f.rationale,
                rationale_inline=_explain(f, explained),
                remediation=f.remediation,
                rule_remediation=f.rule_remediation,
                container=f.container,
                pin_digest=f.pin.digest if f.pin else None,
                pinned_image=f.pin.pinned_image if f.pin else None,
                pin_reason=f.pin.reason if f.pin else "",
                command=command,
                command_above=above,
                points=f.points,
            )
        )
        lines.append(ScoreLine(fid, f.rule, f.container, f.points, f.score_reasons))
    containers = tuple(_container(w, c) for c in w.containers)
    graph = pictures.workload(w)
    return WorkloadSection(
        anchor=anchor,
        kind=w.kind,
        namespace=w.namespace,
        name=w.name,
        score=w.score,
        grade=w.grade,
        uncapped=sum(f.points for f in w.findings),
        findings=tuple(views),
        score_lines=tuple(lines),
        containers=containers,
        bars=graph is None or len(containers) > 1,
        graph=graph,
        services_text=", ".join(
            f"{s.name} ({len(s.ready_pods)} ready of {len(s.pods)}"
            + (f"; called by {', '.join(s.callers)}" if s.callers else "") + ")"
            for s in w.services
        ),
        ignored_rules=w.ignored_rules,
        cluster=w.cluster,
    )


def _explain(f: report_model.FindingEntry, explained: set[str]) -> bool:
    """Write the rationale out the first time the page meets a medium-or-worse rule.

    Later findings of that rule link to it in the rules table: on a big page the same
    paragraph would otherwise repeat thousands of times.
    """
    if not f.rationale or f.severity in ("low", "info") or f.rule in explained:
        return False
    explained.add(f.rule)
    return True


def _few(items: Sequence[str], limit: int) -> str:
    """``a, b, c and 4 more``."""
    text = ", ".join(items[:limit])
    return text + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _container(w: report_model.WorkloadEntry, c: report_model.ContainerEntry) -> ContainerView:
    pinned = {f.pin.digest for f in w.findings if f.pin and f.pin.container == c.name}
    digests = tuple(
        DigestView(
            digest=d.digest,
            short=images.short_digest(d.digest),
            kind=d.kind,
            repository=d.repository,
            colour=svg.digest_colour(i),
            pods=d.pods,
            nodes=d.nodes,
            revisions=d.revisions,
            pinned=d.digest in pinned,
            pods_text=_few(d.pods, 6),
            nodes_text=_few(d.nodes, 5),
            revisions_text=_few(d.revisions, 5),
        )
        for i, d in enumerate(c.digests)
    )
    bar = svg.stacked_bar(
        [svg.Segment(len(d.pods), d.colour, f"{d.short}: {len(d.pods)} pod(s)")
         for d in digests],
        label=f"pods of container {c.name} per build",
    )
    return ContainerView(
        name=c.name,
        role=c.role,
        spec_images=c.spec_images,
        digests=digests,
        pods=sum(len(d.pods) for d in digests),
        bar=bar,
    )


# --- rendering ----------------------------------------------------------------------------


@functools.cache
def environment() -> jinja2.Environment:
    """The jinja2 environment for every HTML page (autoescape on, strict undefined)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("scanner.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["anchor_slug"] = lambda text: _SLUG_UNSAFE.sub("-", str(text).lower())
    return env


@dataclass(frozen=True)
class PageSecurity:
    """The inline script and the Content-Security-Policy that allows only it."""

    script: Markup
    policy: str


@functools.cache
def page_security() -> PageSecurity:
    """The sorting script and a policy: no fetches of any kind, only that script runs."""
    script = environment().get_template("sort.js").render()
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    policy = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:;"
        f" script-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'"
    )
    return PageSecurity(Markup(script), policy)


def stream(report: report_model.Report, detail: Detail | None = None,
           context: Context | None = None) -> Iterator[str]:
    """The page in pieces, produced while the template walks the workloads.

    Nothing holds the whole document: write the pieces out as they come
    (:func:`write`), or join them (:func:`render`) for a small page.
    """
    return environment().get_template("scan.html.j2").generate(
        page=page(report, detail, context), security=page_security(),
        audit=audit.view(report, anchors(report)),
    )


def render(report: report_model.Report, detail: Detail | None = None) -> str:
    """The report as one self-contained HTML document."""
    return "".join(stream(report, detail))


def write(report: report_model.Report, path: str | Path, detail: Detail | None = None) -> None:
    """Stream the page into ``path`` (parent folders are created, the file replaced whole).

    Raises:
        errors.InputError: the file cannot be written.
    """
    streaming.write_atomically(path, stream(report, detail))
