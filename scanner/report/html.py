"""The HTML scan report: one self-contained page rendered from the ``Report`` model.

``scanning`` calls :func:`render` for ``driftscan scan --format html``; the ``report``
command calls it on a model read back from JSON (``json_format.read``), so both give the
same page; the scenario validation page (``report.validation``) links into these pages
with :func:`anchors`.

This module turns the model into a view model (plain frozen dataclasses: everything the
template shows, computed here, including the ``kubectl set image`` commands and the
inline SVG from ``report.svg``); the markup lives in ``templates/scan.html.j2`` with
autoescaping on. The page loads nothing: CSS and SVG are inline, a Content-Security-Policy
forbids every fetch and allows only the page's own sorting script (by hash), and it reads
fully without JavaScript.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
import shlex
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import jinja2
from markupsafe import Markup

from scanner import errors, model, writing
from scanner.detectors import common
from scanner.report import audit, pictures, svg
from scanner.report import document as report_model

__all__ = [
    "GRADES",
    "SEVERITIES",
    "anchors",
    "environment",
    "kubectl_command",
    "page_security",
    "render",
    "workload_anchor",
    "write",
]

SEVERITIES = ("critical", "high", "medium", "low", "info")
"""Most severe first, as the page lists them."""
GRADES = ("A", "B", "C", "D", "F")

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
    base = {(w.kind, w.namespace, w.name): workload_anchor(w.kind, w.namespace, w.name)
            for w in report.workloads}
    counts = Counter(base.values())
    return {
        key: (value if counts[value] == 1 else f"{value}-{_digest(*key)}")
        for key, value in base.items()
    }


def kubectl_command(workload: report_model.WorkloadEntry,
                    pin: report_model.PinEntry | None) -> str | None:
    """``kubectl set image deployment/NAME CONTAINER=REPO@sha256:… -n NS``, shell-quoted.

    None without a pin or for kinds kubectl cannot change (Jobs, custom resources).
    """
    if pin is None:
        return None
    resource = common.kubectl_resource(
        model.WorkloadRef(workload.kind, workload.namespace, workload.name)
    )
    if resource is None:
        return None
    return " ".join(
        [
            "kubectl", "set", "image", shlex.quote(resource),
            shlex.quote(f"{pin.container}={pin.pinned_image}"),
            "-n", shlex.quote(workload.namespace),
        ]
    )


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
    graph: Markup | None
    services_text: str
    """``web (3 ready of 4; called by Deployment/shop/frontend), …``."""
    ignored_rules: tuple[str, ...]


@dataclass(frozen=True)
class Count:
    """A labelled number with its share of the total (for summary bars)."""

    key: str
    count: int


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
    rows: tuple[WorkloadRow, ...]
    sections: tuple[WorkloadSection, ...]
    rules: tuple[report_model.RuleEntry, ...]


def page(report: report_model.Report) -> ScanPage:
    """Compute everything the scan page shows."""
    ids = anchors(report)
    rows = []
    sections = []
    for w in report.workloads:
        anchor = ids[(w.kind, w.namespace, w.name)]
        rows.append(_row(w, anchor))
        if w.findings:
            sections.append(_section(w, anchor))
    s = report.summary
    grade_counts = Counter(w.grade for w in report.workloads)
    grades = tuple(Count(g, grade_counts.get(g, 0)) for g in GRADES)
    status = "INCOMPLETE: " if report.gaps else ""
    return ScanPage(
        title=f"{status}driftscan report: {s.with_findings} of {s.workloads} workloads drift"
        f" or risk drift",
        tool=f"{report.tool.name} {report.tool.version}",
        generated_at=report.generated_at,
        source=_source(report.source),
        scope=_scope(report.source),
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
        rows=tuple(rows),
        sections=tuple(sections),
        rules=report.rules,
    )


def _source(src: report_model.SourceEntry) -> str:
    if src.type == "dump":
        files = ", ".join(src.files) or "(stdin)"
        return f"dump files: {files}"
    server = f" ({src.server})" if src.server else ""
    return f"live cluster, context {src.context or '(current)'}{server}"


def _scope(src: report_model.SourceEntry) -> str:
    return src.scope()


def _row(w: report_model.WorkloadEntry, anchor: str) -> WorkloadRow:
    worst = next((s for s in SEVERITIES if any(f.severity == s for f in w.findings)), None)
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
        has_section=bool(w.findings),
    )


def _section(w: report_model.WorkloadEntry, anchor: str) -> WorkloadSection:
    views = []
    lines = []
    shown: dict[str, str] = {}
    for i, f in enumerate(w.findings, start=1):
        fid = f"{anchor}-f{i}"
        command = kubectl_command(w, f.pin)
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
        graph=pictures.workload(w),
        services_text=", ".join(
            f"{s.name} ({len(s.ready_pods)} ready of {len(s.pods)}"
            + (f"; called by {', '.join(s.callers)}" if s.callers else "") + ")"
            for s in w.services
        ),
        ignored_rules=w.ignored_rules,
    )


def _few(items: Sequence[str], limit: int) -> str:
    """``a, b, c and 4 more``."""
    text = ", ".join(items[:limit])
    return text + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _container(w: report_model.WorkloadEntry, c: report_model.ContainerEntry) -> ContainerView:
    pinned = {f.pin.digest for f in w.findings if f.pin and f.pin.container == c.name}
    digests = tuple(
        DigestView(
            digest=d.digest,
            short=common.short(d.digest),
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


def render(report: report_model.Report) -> str:
    """The report as one self-contained HTML document."""
    return environment().get_template("scan.html.j2").render(
        page=page(report), security=page_security(), audit=audit.view(report, anchors(report))
    )


def write(report: report_model.Report, path: str | Path) -> None:
    """Render the report into ``path`` (parent folders are created).

    Raises:
        errors.InputError: the file cannot be written.
    """
    target = Path(path)
    text = render(report)
    try:
        writing.write_text(target, text)
    except OSError as e:
        raise errors.InputError(f"cannot write {target}: {e.strerror}") from e
