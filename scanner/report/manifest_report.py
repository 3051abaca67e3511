"""What ``driftscan manifests`` found, as a model with its JSON and terminal forms.

A manifest finding is a rule firing on one container's ``image`` field of one workload
in one file, at a line and column. Input that could not be read is part of the model
(:class:`InputProblem`, each with what to do), and so are objects of kinds driftscan does
not check (:class:`SkippedObject`): a partial check never looks clean. ``manifest_scanning``
builds the model; this module renders it as JSON (``driftscan/manifests/v1``) and as a
table — a rich one on a terminal, one plain line per finding otherwise, so a pipe or a
CI log keeps every ``path:line`` whole; ``report.sarif`` renders it as SARIF with
physical locations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from scanner import findings
from scanner.report import document as report_model
from scanner.report import plain, terminal

__all__ = ["SCHEMA", "InputProblem", "ManifestFinding", "ManifestReport", "SkippedObject",
           "render_json", "render_table", "summary_line", "to_dict"]

SCHEMA = "driftscan/manifests/v1"
_Severity = findings.Severity  # the model's ``findings`` field shadows the module in class scope



@dataclass(frozen=True)
class ManifestFinding:
    """One rule firing on one image field of a manifest."""

    rule: str
    severity: str
    message: str
    remediation: str
    file: str
    line: int
    column: int
    end_column: int
    """1-based column just past the image scalar (on ``line``)."""
    document: int
    kind: str
    namespace: str
    """As written in the manifest; "" when absent."""
    name: str
    container: str
    image: str
    field: str
    """Field path inside the object, e.g. ``spec.template.spec.containers[0].image``."""

    @property
    def workload(self) -> str:
        """``Kind/namespace/name`` (namespace omitted when the manifest has none)."""
        ns = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind}/{ns}{self.name}"

    def sort_key(self) -> tuple[str, int, int, str]:
        """File, line, column, rule: the order a reader goes through the files."""
        return (self.file, self.line, self.column, self.rule)


@dataclass(frozen=True)
class InputProblem:
    """Input that could not be read (a file, a document or one object of it)."""

    file: str
    line: int | None
    reason: str
    hint: str
    """What to do about it."""

    @property
    def where(self) -> str:
        """``file:line`` (``file`` alone when the whole file is the problem)."""
        return f"{self.file}:{self.line}" if self.line is not None else self.file


@dataclass(frozen=True)
class SkippedObject:
    """An object with a pod template of a kind driftscan does not check."""

    file: str
    line: int
    kind: str
    api_version: str
    name: str


@dataclass(frozen=True)
class ManifestReport:
    """Every finding of one ``driftscan manifests`` run, with the rules that were checked."""

    generated_at: str
    tool: report_model.ToolEntry
    files: tuple[str, ...]
    workloads: int
    """Workloads (objects with a pod template) read across all files."""
    images: int
    """Image fields read."""
    findings: tuple[ManifestFinding, ...]
    rules: tuple[report_model.RuleEntry, ...]
    unreadable: tuple[InputProblem, ...] = ()
    skipped: tuple[SkippedObject, ...] = ()
    inputs: tuple[report_model.InputEntry, ...] = ()
    """Every file read, with the sha256 of its bytes (provenance for an auditor)."""

    @property
    def complete(self) -> bool:
        """True when every file and object could be read."""
        return not self.unreadable

    def unreadable_files(self) -> list[str]:
        """Files with at least one problem, in order."""
        return list(dict.fromkeys(p.file for p in self.unreadable))

    def worst_severity(self) -> _Severity | None:
        """The most severe finding's severity, or None when nothing fired."""
        ranked = [_Severity(f.severity) for f in self.findings]
        return max(ranked, key=lambda s: s.rank) if ranked else None


def to_dict(report: ManifestReport) -> dict[str, Any]:
    """The report as plain JSON-ready data."""
    counts = {s.value: 0 for s in findings.Severity}
    for f in report.findings:
        counts[f.severity] += 1
    return {
        "schema": SCHEMA,
        "generated_at": report.generated_at,
        "tool": {"name": report.tool.name, "version": report.tool.version},
        "files": list(report.files),
        "inputs": [{"path": i.path, "sha256": i.sha256, "bytes": i.bytes}
                   for i in report.inputs],
        "summary": {
            "workloads": report.workloads,
            "images": report.images,
            "findings": len(report.findings),
            "by_severity": counts,
            "complete": report.complete,
            "unreadable_files": len(report.unreadable_files()),
            "skipped": len(report.skipped),
        },
        "unreadable": [
            {"file": p.file, "line": p.line, "reason": p.reason, "hint": p.hint}
            for p in report.unreadable
        ],
        "skipped": [
            {"file": s.file, "line": s.line, "kind": s.kind, "apiVersion": s.api_version,
             "name": s.name}
            for s in report.skipped
        ],
        "findings": [
            {
                "rule": f.rule,
                "severity": f.severity,
                "message": f.message,
                "remediation": f.remediation,
                "location": {
                    "file": f.file,
                    "line": f.line,
                    "column": f.column,
                    "end_column": f.end_column,
                    "document": f.document,
                    "field": f.field,
                },
                "workload": {"kind": f.kind, "namespace": f.namespace or None,
                             "name": f.name},
                "container": f.container,
                "image": f.image,
            }
            for f in report.findings
        ],
        "rules": [
            {"id": r.id, "severity": r.severity, "title": r.title,
             "rationale": r.rationale, "remediation": r.remediation, "family": r.family}
            for r in report.rules
        ],
    }


def render_json(report: ManifestReport) -> str:
    """The report as indented JSON with a trailing newline."""
    import json

    return json.dumps(to_dict(report), indent=2, ensure_ascii=False) + "\n"


def summary_line(report: ManifestReport) -> str:
    """One line: files, workloads, images and findings per severity."""
    counts: dict[str, int] = {}
    for f in report.findings:
        counts[f.severity] = counts.get(f.severity, 0) + 1
    order = [s.value for s in reversed(list(findings.Severity))]
    found = ", ".join(f"{counts[k]} {k}" for k in order if counts.get(k))
    line = (
        f"{len(report.files)} file(s), {report.workloads} workload(s), {report.images}"
        f" image(s); {'findings: ' + found if found else 'no findings'}"
    )
    if report.skipped:
        line += f"; {len(report.skipped)} object(s) of unchecked kinds skipped"
    if report.unreadable:
        line += (f"; INCOMPLETE: {len(report.unreadable_files())} file(s) not (fully) read,"
                 f" {len(report.unreadable)} problem(s) listed")
    return line


def render_table(report: ManifestReport, console: Console) -> None:
    """Findings ordered by file and line, then what was skipped or unreadable, then a summary.

    On a terminal a rich table when it fits the width (``COLUMNS`` included); anywhere
    else (a pipe, a file, a CI log), or when folding would cut paths and images into
    pieces, one plain line per finding with every column whole, as kubectl's plain output
    does.
    """
    if not console.is_terminal or _plain_width(report) > console.width:
        _render_plain(report, console)
        return
    if report.findings:
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        table.add_column("Location", no_wrap=True)
        table.add_column("Rule", no_wrap=True)
        table.add_column("Workload", overflow="fold")
        table.add_column("Container")
        table.add_column("Image", overflow="fold")
        for f in report.findings:
            table.add_row(
                plain.text(f"{f.file}:{f.line}"),
                plain.text(f"{f.rule} ({f.severity})",
                           terminal.SEVERITY_STYLE.get(f.severity, "")),
                plain.text(f.workload),
                plain.text(f.container),
                plain.text(f.image),
            )
        console.print(table)
        console.print(Text(_FIX, style="dim"), soft_wrap=True)
    else:
        console.print("No findings.", style="green")
    for line in _skipped_lines(report):
        console.print(plain.text(line, "yellow"), soft_wrap=True)
    if report.unreadable:
        console.print(Text(_unreadable_title(report), style="bold red"), soft_wrap=True)
        for p in report.unreadable:
            console.print(plain.text(_problem_line(p)), soft_wrap=True)
    style = "bold red" if report.unreadable else "bold"
    console.print(plain.text(summary_line(report), style), soft_wrap=True)


_FIX = "fix: pin each image to the digest you tested (`driftscan pin PATH --diff`, then --write)."
_HEADERS = ("LOCATION", "RULE", "SEVERITY", "WORKLOAD", "CONTAINER", "IMAGE")


def _rows(report: ManifestReport) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = [_HEADERS]
    rows.extend((f"{f.file}:{f.line}", f.rule, f.severity, f.workload, f.container, f.image)
                for f in report.findings)
    return rows


def _plain_width(report: ManifestReport) -> int:
    """Width of the plain table: its widest cells plus the gaps between them."""
    if not report.findings:
        return 0
    rows = _rows(report)
    return sum(max(len(r[i]) for r in rows) for i in range(len(_HEADERS))) + 3 * 5


def _render_plain(report: ManifestReport, console: Console) -> None:
    rows = _rows(report)
    lines: list[str] = []
    if report.findings:
        widths = [max(len(_plain(r[i])) for r in rows) for i in range(len(_HEADERS))]
        for row in rows:
            cells = [_plain(c).ljust(w) for c, w in zip(row, widths, strict=True)]
            lines.append("   ".join(cells).rstrip())
        lines.append(_FIX)
    else:
        lines.append("No findings.")
    lines.extend(_plain(line) for line in _skipped_lines(report))
    if report.unreadable:
        lines.append(_unreadable_title(report))
        lines.extend(_plain(_problem_line(p)) for p in report.unreadable)
    lines.append(_plain(summary_line(report)))
    console.file.write("\n".join(lines) + "\n")
    console.file.flush()


def _skipped_lines(report: ManifestReport) -> list[str]:
    return [
        f"{s.file}:{s.line}: skipped {s.kind}/{s.name} ({s.api_version or 'no apiVersion'}):"
        " driftscan does not check this kind's pod template"
        for s in report.skipped
    ]


def _unreadable_title(report: ManifestReport) -> str:
    return (f"NOT CHECKED: {len(report.unreadable)} problem(s) in"
            f" {len(report.unreadable_files())} file(s):")


def _problem_line(p: InputProblem) -> str:
    return f"{p.where}: {p.reason} — {p.hint}"


def _plain(text: str) -> str:
    """``text`` with control characters shown as ``?``, so a line stays one line."""
    return "".join(c if c.isprintable() else "?" for c in text)
