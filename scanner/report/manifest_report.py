"""What ``driftscan manifests`` found, as a model with its JSON and terminal forms.

A manifest finding is a rule firing on one container's ``image`` field of one workload
in one file, at a line and column. ``manifest_scanning`` builds the model; this module
renders it as JSON (``driftscan/manifests/v1``) and as a rich table; ``report.sarif``
renders it as SARIF with physical locations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from scanner import findings
from scanner.report import model as report_model
from scanner.report import plain, terminal

__all__ = ["SCHEMA", "ManifestFinding", "ManifestReport", "render_json", "render_table",
           "summary_line", "to_dict"]

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
    inputs: tuple[report_model.InputEntry, ...] = ()
    """Every file read, with the sha256 of its bytes (provenance for an auditor)."""

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
        },
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
    return (
        f"{len(report.files)} file(s), {report.workloads} workload(s), {report.images}"
        f" image(s); {'findings: ' + found if found else 'no findings'}"
    )


def render_table(report: ManifestReport, console: Console) -> None:
    """Findings as a table ordered by file and line, then the summary line."""
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
        console.print(Text("fix: pin each image to the digest you tested"
                           " (`driftscan pin PATH --diff`, then --write).", style="dim"),
                      soft_wrap=True)
    else:
        console.print("No findings.", style="green")
    console.print(plain.text(summary_line(report), "bold"), soft_wrap=True)
