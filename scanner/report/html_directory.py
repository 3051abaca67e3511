"""The HTML report as a directory (``-o DIR/``): an index page and one scan page per group.

For scans too big for one page (see :data:`SINGLE_PAGE_WORKLOADS`). Each group's page is
an ordinary scan page (``report.html``) of that group's workloads, with its own summary
and detail limit, every ``#w-…`` anchor, and a link back to ``index.html``; the index
shows the whole scan's summary, a table of the groups and the highest-scoring workloads
linked into their pages. Links are relative, so the directory can be zipped, moved or
attached as it is; nothing is fetched and no page needs JavaScript.

Groups are namespaces. A report whose workloads carry a ``cluster`` (a fleet scan,
``scan --context A --context B``) is grouped per cluster instead; nothing else here changes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from scanner import writing
from scanner.report import audit, html, streaming
from scanner.report import document as report_model

__all__ = [
    "INDEX",
    "SINGLE_PAGE_WORKLOADS",
    "TOP_WORKLOADS",
    "Group",
    "groups",
    "is_directory",
    "single_page_note",
    "write",
]

INDEX = "index.html"
SINGLE_PAGE_WORKLOADS = 20_000
"""Past this many workloads one file stops being sensible (benchmarks/html_report.py).

Measured on a shared 2-core machine: at 10,000 workloads (half with high findings) the
page is 9.1 MB, written in about 1 s, first painted at 0.24 s, loaded at 1.2 s; at 50,000
it is 19.6 MB, still written (12 s) and opened (first paint 0.6 s) but its load event
takes about 5 s, most of it the 50,000-row table. ``scan`` and ``report`` point at
``-o DIR/`` when a single page goes past this.
"""
TOP_WORKLOADS = 100
"""The index lists this many of the highest-scoring workloads with findings."""

_UNSAFE = re.compile(r"[^a-z0-9.-]+")


is_directory = writing.is_directory
"""Whether ``-o OUTPUT`` asks for a report directory: a trailing slash or a folder."""


def single_page_note(report: report_model.Report) -> str | None:
    """A hint to write a directory instead, for a single page past the sensible size."""
    if report.summary.workloads <= SINGLE_PAGE_WORKLOADS:
        return None
    return (f"note: {report.summary.workloads} workloads on one page; -o DIR/ writes an index "
            f"and one page per namespace, each quicker to open")


@dataclass(frozen=True)
class Group:
    """The workloads of one namespace (or cluster) and the file of their page."""

    kind: str
    """``namespace`` or ``cluster``."""
    name: str
    file: str
    workloads: tuple[report_model.WorkloadEntry, ...]

    @property
    def label(self) -> str:
        """``namespace shop``."""
        return f"{self.kind} {self.name}"


def _cluster(w: report_model.WorkloadEntry) -> str | None:
    return w.cluster or None


def _file(prefix: str, name: str) -> str:
    """``ns-shop.html``; a hash of the name joins a slug that had to drop characters."""
    slug = _UNSAFE.sub("-", name.lower()).strip("-.")
    if slug != name or not slug:
        slug = f"{slug}-{hashlib.sha256(name.encode()).hexdigest()[:8]}".lstrip("-")
    return f"{prefix}-{slug}.html"


def groups(report: report_model.Report) -> list[Group]:
    """The report's workloads per namespace (per cluster when they carry one), by name.

    Each group keeps the report's order (highest scores first).
    """
    by_cluster = any(_cluster(w) for w in report.workloads)
    kind, prefix = ("cluster", "cluster") if by_cluster else ("namespace", "ns")
    members: dict[str, list[report_model.WorkloadEntry]] = {}
    for w in report.workloads:
        key = (_cluster(w) or "(none)") if by_cluster else w.namespace
        members.setdefault(key, []).append(w)
    return [Group(kind, name, _file(prefix, name), tuple(members[name]))
            for name in sorted(members)]


def part(report: report_model.Report, workloads: Sequence[report_model.WorkloadEntry]
         ) -> report_model.Report:
    """The report narrowed to ``workloads``: their own counts, every gap of the scan.

    Gaps stay on every page: a namespace that looks clean may be clean only because
    something elsewhere was not read.
    """
    severities = dict.fromkeys(report.summary.by_severity, 0)
    pods: set[tuple[str, str]] = set()
    for w in workloads:
        for f in w.findings:
            severities[f.severity] = severities.get(f.severity, 0) + 1
        pods.update((w.namespace, p) for c in w.containers for d in c.digests for p in d.pods)
        pods.update((w.namespace, p) for r in w.revisions for p in r.pods)
    summary = report_model.Summary(
        workloads=len(workloads),
        with_findings=sum(1 for w in workloads if w.findings),
        by_severity=severities,
        max_score=max((w.score for w in workloads), default=0),
        pods=len(pods),
        complete=report.summary.complete,
    )
    return dataclasses.replace(report, workloads=tuple(workloads), summary=summary)


@dataclass(frozen=True)
class GroupRow:
    """A line of the index's group table."""

    label: str
    name: str
    href: str
    workloads: int
    with_findings: int
    detailed: int
    max_score: int
    grade: str
    """The worst grade in the group."""
    worst: str | None


@dataclass(frozen=True)
class TopRow:
    """One of the highest-scoring workloads, linked into its group's page."""

    kind: str
    namespace: str
    name: str
    group: str
    href: str
    score: int
    grade: str
    worst: str | None
    rules: tuple[str, ...]


@dataclass(frozen=True)
class Index:
    """What the index shows besides the scan page's summary."""

    kind: str
    groups: tuple[GroupRow, ...]
    top: tuple[TopRow, ...]
    more: int
    """Workloads with findings past the ones listed in ``top``."""


def _index(report: report_model.Report, parts: Sequence[tuple[Group, report_model.Report]],
           detail: html.Detail) -> Index:
    rows = []
    top: list[TopRow] = []
    for group, sub in parts:
        ids = html.anchors(sub)
        worst_grade = max((w.grade for w in sub.workloads), key=html.GRADES.index, default="A")
        worsts = {html.worst_severity(w) for w in sub.workloads} - {None}
        rows.append(GroupRow(
            label=group.label, name=group.name, href=group.file,
            workloads=len(sub.workloads), with_findings=sub.summary.with_findings,
            detailed=sum(detail.choose(sub.workloads)), max_score=sub.summary.max_score,
            grade=worst_grade,
            worst=next((s for s in html.SEVERITIES if s in worsts), None)))
        top.extend(
            TopRow(w.kind, w.namespace, w.name, group.name,
                   f"{group.file}#{ids[html.workload_key(w)]}", w.score, w.grade,
                   html.worst_severity(w), tuple(dict.fromkeys(f.rule for f in w.findings)))
            for w in sub.workloads[:TOP_WORKLOADS] if w.findings)
    top.sort(key=lambda t: -t.score)  # stable: ties keep the groups' order
    flagged = report.summary.with_findings
    kind = parts[0][0].kind if parts else "namespace"
    return Index(kind, tuple(rows), tuple(top[:TOP_WORKLOADS]),
                 max(0, flagged - TOP_WORKLOADS))


def _pieces(report: report_model.Report, index: Index, detail: html.Detail) -> Iterator[str]:
    return html.environment().get_template("index.html.j2").generate(
        page=html.page(report, detail), index=index, security=html.page_security(),
        audit=audit.view(report, html.anchors(report)))


def write(report: report_model.Report, out_dir: str | Path,
          detail: html.Detail | None = None) -> list[Path]:
    """Write one page per group, then ``index.html``, under ``out_dir``; return the paths.

    Every file is replaced whole, and the index last, so it never links to a page that is
    not there yet.

    Raises:
        errors.InputError: a file cannot be written.
    """
    detail = detail or html.Detail()
    root = Path(out_dir)
    parts = [(g, part(report, g.workloads)) for g in groups(report)]
    written = []
    for group, sub in parts:
        target = root / group.file
        streaming.write_atomically(target, html.stream(
            sub, detail, html.Context(group.label, INDEX)))
        written.append(target)
    index = root / INDEX
    streaming.write_atomically(index, _pieces(report, _index(report, parts, detail), detail))
    return [index, *written]
