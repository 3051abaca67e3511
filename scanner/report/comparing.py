"""``driftscan diff OLD.json NEW.json``: what changed between two saved reports.

:func:`compare` matches workloads by ``(kind, namespace, name)`` and findings within a
workload by ``(rule, container)``: a finding is *new* when NEW has it and OLD did not,
*resolved* the other way round, *persisting* when both have it. Builds (digests per
container) that appeared or disappeared and score changes are listed per workload.
The CLI gates on new findings only (``Change.new_at_or_above``), so a team can adopt
driftscan on a cluster that already drifts without failing on old debt.

Renderers: :func:`render_table` (rich, to an injected console), :func:`to_dict` (JSON)
and :func:`render_html` (``templates/diff.html.j2``); :func:`write` picks one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from scanner import errors, findings, redacting
from scanner.report import document as report_model
from scanner.report import html

__all__ = [
    "BuildChange",
    "Change",
    "FindingChange",
    "SCHEMA",
    "ReportRef",
    "WorkloadChange",
    "compare",
    "render_html",
    "render_table",
    "summary_line",
    "to_dict",
    "write",
]

SCHEMA = "driftscan/diff/v1"


@dataclass(frozen=True)
class FindingChange:
    """One finding of a workload and whether it is new, resolved or persisting."""

    rule: str
    container: str | None
    severity: str
    """NEW's severity; OLD's for a resolved finding."""
    message: str


@dataclass(frozen=True)
class BuildChange:
    """A build of a container that one report has and the other has not."""

    container: str
    digest: str
    pods: int
    """Pods running it in the report that has it."""


@dataclass(frozen=True)
class WorkloadChange:
    """Everything that changed for one workload."""

    kind: str
    namespace: str
    name: str
    status: str
    """``added`` (only in NEW), ``removed`` (only in OLD) or ``kept``."""
    old_score: int | None
    new_score: int | None
    old_grade: str | None
    new_grade: str | None
    new: tuple[FindingChange, ...]
    resolved: tuple[FindingChange, ...]
    persisting: tuple[FindingChange, ...]
    builds_appeared: tuple[BuildChange, ...]
    builds_disappeared: tuple[BuildChange, ...]
    cluster: str | None = None
    """The kubeconfig context, when the reports are fleet scans."""

    @property
    def label(self) -> str:
        """``Kind namespace/name`` (``[cluster] Kind namespace/name`` in a fleet)."""
        where = f"[{self.cluster}] " if self.cluster else ""
        return f"{where}{self.kind} {self.namespace}/{self.name}"

    @property
    def changed(self) -> bool:
        """Anything but unchanged persisting findings."""
        return bool(self.new or self.resolved or self.builds_appeared
                    or self.builds_disappeared or self.old_score != self.new_score
                    or self.status != "kept")


@dataclass(frozen=True)
class ReportRef:
    """Which report a side of the diff is."""

    generated_at: str
    source: str
    cluster_id: str | None
    digest: str | None
    complete: bool


@dataclass(frozen=True)
class Change:
    """The diff of two reports, workloads with any finding or change only."""

    old: ReportRef
    new: ReportRef
    workloads: tuple[WorkloadChange, ...]
    notes: tuple[str, ...]
    """Warnings for the reader (different clusters, incomplete reports)."""

    @property
    def new_complete(self) -> bool:
        """NEW.json has no gaps."""
        return self.new.complete

    def count(self, which: str) -> int:
        """Number of ``new``, ``resolved`` or ``persisting`` findings."""
        return sum(len(getattr(w, which)) for w in self.workloads)

    def new_at_or_above(self, severity: findings.Severity) -> bool:
        """A new finding is at or above ``severity`` (the CI gate)."""
        return any(findings.Severity(f.severity).rank >= severity.rank
                   for w in self.workloads for f in w.new)


def _ref(report: report_model.Report) -> ReportRef:
    src = report.source
    source = (f"context {src.context}" if src.type == "live"
              else "dump " + (", ".join(src.files) or "(stdin)"))
    p = report.provenance
    return ReportRef(report.generated_at, source, p.cluster_id if p else None,
                     report.integrity.digest if report.integrity else None, not report.gaps)


def _findings(w: report_model.WorkloadEntry | None
              ) -> dict[tuple[str, str | None], FindingChange]:
    result: dict[tuple[str, str | None], FindingChange] = {}
    for f in w.findings if w else ():
        key = (f.rule, f.container)
        known = result.get(key)
        if known is None or findings.Severity(f.severity).rank > \
                findings.Severity(known.severity).rank:
            result[key] = FindingChange(f.rule, f.container, f.severity, f.message)
    return result


def _builds(w: report_model.WorkloadEntry | None) -> dict[tuple[str, str], int]:
    return {(c.name, d.digest): len(d.pods)
            for c in (w.containers if w else ()) for d in c.digests}


def _workload(old: report_model.WorkloadEntry | None,
              new: report_model.WorkloadEntry | None) -> WorkloadChange:
    either = new or old
    assert either is not None
    before, after = _findings(old), _findings(new)
    builds_before, builds_after = _builds(old), _builds(new)
    return WorkloadChange(
        kind=either.kind, namespace=either.namespace, name=either.name,
        status="kept" if old and new else ("added" if new else "removed"),
        old_score=old.score if old else None, new_score=new.score if new else None,
        old_grade=old.grade if old else None, new_grade=new.grade if new else None,
        new=tuple(f for k, f in after.items() if k not in before),
        resolved=tuple(f for k, f in before.items() if k not in after),
        persisting=tuple(f for k, f in after.items() if k in before),
        builds_appeared=tuple(BuildChange(c, d, n) for (c, d), n in builds_after.items()
                              if (c, d) not in builds_before),
        builds_disappeared=tuple(BuildChange(c, d, n) for (c, d), n in builds_before.items()
                                 if (c, d) not in builds_after),
        cluster=either.cluster,
    )


def compare(old: report_model.Report, new: report_model.Report) -> Change:
    """What changed from ``old`` to ``new``; workloads with nothing to say are left out."""
    # A fleet report holds one workload per cluster: the cluster is part of its identity.
    olds = {(w.cluster or "", w.kind, w.namespace, w.name): w for w in old.workloads}
    news = {(w.cluster or "", w.kind, w.namespace, w.name): w for w in new.workloads}
    changes = [_workload(olds.get(k), news.get(k)) for k in sorted(olds.keys() | news.keys())]
    kept = [c for c in changes if c.changed or c.persisting]
    kept.sort(key=lambda c: (-len(c.new), -(c.new_score or 0), c.kind, c.namespace, c.name))
    a, b = _ref(old), _ref(new)
    notes = []
    if a.cluster_id and b.cluster_id and a.cluster_id != b.cluster_id:
        notes.append(f"the reports come from different clusters ({a.cluster_id} and"
                     f" {b.cluster_id}): every difference may be the cluster, not a change")
    if a.generated_at > b.generated_at:
        notes.append("OLD.json was written after NEW.json: are the arguments swapped?")
    for side, ref in (("OLD", a), ("NEW", b)):
        if not ref.complete:
            notes.append(f"{side}.json is incomplete (gaps): findings in the parts it did not"
                         f" read are neither new nor resolved")
    return Change(a, b, tuple(kept), tuple(notes))


# --- renderers ----------------------------------------------------------------------------


def _finding(f: FindingChange) -> dict[str, Any]:
    return {"rule": f.rule, "container": f.container, "severity": f.severity,
            "message": f.message}


def _build(b: BuildChange) -> dict[str, Any]:
    return {"container": b.container, "digest": b.digest, "pods": b.pods}


def to_dict(change: Change) -> dict[str, Any]:
    """The diff as JSON-ready data (``driftscan/diff/v1``)."""
    def ref(r: ReportRef) -> dict[str, Any]:
        return {"generated_at": r.generated_at, "source": r.source, "cluster_id": r.cluster_id,
                "digest": r.digest, "complete": r.complete}

    return {
        "schema": SCHEMA,
        "old": ref(change.old),
        "new": ref(change.new),
        "summary": {k: change.count(k) for k in ("new", "resolved", "persisting")},
        "notes": list(change.notes),
        "workloads": [
            {"kind": w.kind, "namespace": w.namespace, "name": w.name, "status": w.status,
             "old_score": w.old_score, "new_score": w.new_score,
             "old_grade": w.old_grade, "new_grade": w.new_grade,
             "new": [_finding(f) for f in w.new],
             "resolved": [_finding(f) for f in w.resolved],
             "persisting": [_finding(f) for f in w.persisting],
             "builds_appeared": [_build(b) for b in w.builds_appeared],
             "builds_disappeared": [_build(b) for b in w.builds_disappeared],
             **({"cluster": w.cluster} if w.cluster else {})}
            for w in change.workloads
        ],
    }


def _score(w: WorkloadChange) -> str:
    old = "—" if w.old_score is None else f"{w.old_score} {w.old_grade}"
    new = "—" if w.new_score is None else f"{w.new_score} {w.new_grade}"
    return old if old == new else f"{old} → {new}"


def _short(digest: str) -> str:
    return digest.removeprefix("sha256:")[:12]


def _plain(text: str) -> str:
    """Text from a report file, made safe for the terminal (no markup, no control codes)."""
    return escape(redacting.printable(text))


def summary_line(change: Change) -> str:
    """``3 new, 1 resolved, 4 persisting finding(s) in 5 workload(s)``."""
    return (f"{change.count('new')} new, {change.count('resolved')} resolved,"
            f" {change.count('persisting')} persisting finding(s) in"
            f" {len(change.workloads)} workload(s)")


def render_table(change: Change, console: Console) -> None:
    """The diff as a terminal table, one row per workload."""
    console.print(f"OLD {_plain(change.old.generated_at)} ({_plain(change.old.source)}) → NEW"
                  f" {_plain(change.new.generated_at)} ({_plain(change.new.source)})",
                  highlight=False, soft_wrap=True)
    for note in change.notes:
        console.print(f"warning: {_plain(note)}", style="yellow", highlight=False,
                      soft_wrap=True)
    t = Table(box=box.SIMPLE_HEAD, show_edge=False)
    for column in ("Workload", "Score", "New", "Resolved", "Persisting", "Builds"):
        t.add_column(column, overflow="fold")
    for w in change.workloads:
        builds = [f"+{b.container} {_short(b.digest)}" for b in w.builds_appeared]
        builds += [f"-{b.container} {_short(b.digest)}" for b in w.builds_disappeared]
        t.add_row(_plain(w.label) + ("" if w.status == "kept" else f" ({w.status})"),
                  _plain(_score(w)),
                  _plain(", ".join(f"{f.rule} ({f.severity})" for f in w.new)),
                  _plain(", ".join(f.rule for f in w.resolved)),
                  _plain(", ".join(f.rule for f in w.persisting)),
                  _plain(", ".join(builds)))
    console.print(t)
    console.print(summary_line(change), highlight=False)


def render_html(change: Change) -> str:
    """The diff as one self-contained HTML page."""
    return html.environment().get_template("diff.html.j2").render(
        change=change, security=html.page_security(), short=_short, score=_score,
        summary=summary_line(change))


def write(change: Change, fmt: str, output: str | None, console: Console) -> None:
    """Render ``change`` as ``fmt`` to ``output`` (stdout when None).

    Raises:
        errors.InputError: unknown format, or the file cannot be written.
    """
    if fmt == "table":
        if output is None:
            render_table(change, console)
            return
        with _open(output) as handle:
            render_table(change, Console(file=handle, width=120, color_system=None))
        console.print(f"wrote {output}: {summary_line(change)}", highlight=False)
        return
    if fmt == "json":
        text = json.dumps(to_dict(change), indent=2, ensure_ascii=False) + "\n"
    elif fmt == "html":
        text = render_html(change)
    else:
        raise errors.InputError(f"unknown format {fmt!r}", hint="use table, json or html")
    if output is None:
        console.file.write(text)
        return
    with _open(output) as handle:
        handle.write(text)
    console.print(f"wrote {output}: {summary_line(change)}", highlight=False)


def _open(output: str) -> Any:
    path = Path(output)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.open("w", encoding="utf-8")
    except OSError as e:
        raise errors.InputError(f"cannot write {path}: {e.strerror}") from e
