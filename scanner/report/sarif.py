"""SARIF 2.1.0 output for code scanning, built from rule metadata and findings.

``scanning`` (``scan --format sarif``) calls :func:`from_report` and
``manifest_scanning`` (``manifests --format sarif``) calls :func:`from_manifests`; both
return a SARIF log as plain data and :func:`render` writes it. Each rule of the
registry becomes a ``reportingDescriptor`` (title, why it matters, remediation, default
level); each finding a ``result`` whose ``ruleIndex`` points at it. Manifest findings
carry a ``physicalLocation`` (file URI and the image scalar's line and columns); live
findings name the workload and container as ``logicalLocations``. Gaps of a scan and
unreadable manifest files become error ``toolExecutionNotifications`` (with the file and
line when known) and set ``executionSuccessful`` to false, so a partial result never reads
as a clean one; manifest objects of kinds driftscan does not check are warning
notifications. The invocation carries the report's provenance: ``commandLine`` (secrets
removed), the LIST window as start/end times, and the whole provenance block in its
property bag.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import urllib.parse
from collections.abc import Sequence
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from scanner.report import document as report_model
from scanner.report import json_format, manifest_report

__all__ = ["SARIF_SCHEMA", "SARIF_VERSION", "from_manifests", "from_report", "level", "render"]

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
_LEVELS = {"critical": "error", "high": "error", "medium": "warning", "low": "note",
           "info": "note"}
# GitHub code scanning ranks results by this property (0.0–10.0, CVSS-like bands).
_SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0",
                      "info": "1.0"}
_FINGERPRINT = "driftscan/v1"


def level(severity: str) -> str:
    """The SARIF ``level`` of a driftscan severity."""
    return _LEVELS.get(severity, "warning")


def _rules(rules: Sequence[report_model.RuleEntry]) -> list[dict[str, Any]]:
    return [
        {
            "id": r.id,
            "name": "".join(part.capitalize() for part in r.id.split("-")),
            "shortDescription": {"text": r.title},
            "fullDescription": {"text": r.rationale},
            "help": {
                "text": f"{r.rationale}\n\nRemediation: {r.remediation}",
                "markdown": f"{r.rationale}\n\n**Remediation:** {r.remediation}",
            },
            "defaultConfiguration": {"level": level(r.severity)},
            "properties": {
                "tags": ["kubernetes", "drift", r.family, *r.controls],
                "security-severity": _SECURITY_SEVERITY.get(r.severity, "5.5"),
                "driftscan-severity": r.severity,
            },
        }
        for r in rules
    ]


def _fingerprint(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _invocation(provenance: report_model.ProvenanceEntry | None) -> dict[str, Any]:
    """``invocations[0]``: the command line, LIST window and the provenance block."""
    invocation: dict[str, Any] = {"executionSuccessful": True}
    if provenance is None:
        return invocation
    if provenance.command_line:
        invocation["commandLine"] = " ".join(shlex.quote(a) for a in provenance.command_line)
        invocation["arguments"] = list(provenance.command_line[1:])
    if provenance.list_started_at:
        invocation["startTimeUtc"] = provenance.list_started_at
    if provenance.list_finished_at:
        invocation["endTimeUtc"] = provenance.list_finished_at
    invocation["properties"] = {"provenance": json_format.provenance_dict(provenance)}
    return invocation


def _run(tool: report_model.ToolEntry, rules: Sequence[report_model.RuleEntry],
         results: list[dict[str, Any]], notifications: list[dict[str, Any]],
         properties: dict[str, Any],
         provenance: report_model.ProvenanceEntry | None = None) -> dict[str, Any]:
    invocation = _invocation(provenance)
    invocation["executionSuccessful"] = not any(n.get("level") == "error"
                                                for n in notifications)
    if notifications:
        invocation["toolExecutionNotifications"] = notifications
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": tool.name,
                        "version": tool.version,
                        "semanticVersion": tool.version,
                        "rules": _rules(rules),
                    }
                },
                "invocations": [invocation],
                "columnKind": "unicodeCodePoints",
                "results": results,
                "properties": properties,
            }
        ],
    }


def from_report(report: report_model.Report) -> dict[str, Any]:
    """A SARIF log of a scan: one result per finding, located by workload and container."""
    index = {r.id: i for i, r in enumerate(report.rules)}
    results: list[dict[str, Any]] = []
    for w in report.workloads:
        workload = f"{w.kind}/{w.namespace}/{w.name}"
        if w.cluster:  # a fleet scan: the same name may be in several clusters
            workload = f"{w.cluster}/{workload}"
        for f in w.findings:
            logical: list[dict[str, Any]] = [
                {"name": w.name, "fullyQualifiedName": workload, "kind": "resource"}
            ]
            if f.container:
                logical.append({"name": f.container,
                                "fullyQualifiedName": f"{workload}/{f.container}",
                                "kind": "member"})
            result: dict[str, Any] = {
                "ruleId": f.rule,
                "level": level(f.severity),
                "message": {"text": f"{workload}: {f.message}"},
                "locations": [{"logicalLocations": logical}],
                "partialFingerprints": {
                    _FINGERPRINT: _fingerprint(f.rule, workload, f.container or "")
                },
                "properties": {
                    "severity": f.severity,
                    "workload": workload,
                    "container": f.container,
                    "observed": list(f.observed),
                    "expected": f.expected,
                    "remediation": f.remediation,
                    "points": f.points,
                },
            }
            if f.rule in index:
                result["ruleIndex"] = index[f.rule]
            results.append(result)
    notifications = [
        {
            "level": "error",
            "message": {
                "text": f"not scanned ({g.kind}"
                f"{', namespace ' + g.namespace if g.namespace else ''}): {g.reason}"
            },
            "descriptor": {"id": f"gap-{g.kind}"},
        }
        for g in report.gaps
    ]
    properties: dict[str, Any] = {"source": report.source.type,
                                  "scanned": report.source.describe(),
                                  "complete": report.summary.complete,
                                  "generatedAt": report.generated_at}
    if report.integrity is not None:
        properties["reportDigest"] = report.integrity.digest
    return _run(report.tool, report.rules, results, notifications, properties,
                report.provenance)


def _uri(file: str) -> str:
    """The file's URI: relative under the working directory, else ``file:``.

    Code scanning maps relative URIs to files of the repository it analyses.
    """
    if file == "-":
        return "stdin"
    if PureWindowsPath(file).drive:
        return PureWindowsPath(file).as_uri()
    path = PurePosixPath(file)
    if path.is_absolute():
        try:
            path = path.relative_to(Path.cwd().as_posix())
        except ValueError:
            return path.as_uri()
    return urllib.parse.quote(path.as_posix(), safe="/")


def from_manifests(report: manifest_report.ManifestReport) -> dict[str, Any]:
    """A SARIF log of a manifest check: one result per finding at the image's line."""
    index = {r.id: i for i, r in enumerate(report.rules)}
    results: list[dict[str, Any]] = []
    for f in report.findings:
        result: dict[str, Any] = {
            "ruleId": f.rule,
            "level": level(f.severity),
            "message": {"text": f"{f.workload} {f.message}"},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": _uri(f.file)},
                        "region": {
                            "startLine": f.line,
                            "startColumn": f.column,
                            "endLine": f.line,
                            "endColumn": max(f.end_column, f.column + 1),
                        },
                    },
                    "logicalLocations": [
                        {"name": f.container,
                         "fullyQualifiedName": f"{f.workload}/{f.container}",
                         "kind": "member"}
                    ],
                }
            ],
            "partialFingerprints": {
                _FINGERPRINT: _fingerprint(f.rule, f.file, f.workload, f.container)
            },
            "properties": {
                "severity": f.severity,
                "image": f.image,
                "field": f.field,
                "document": f.document,
                "remediation": f.remediation,
            },
        }
        if f.rule in index:
            result["ruleIndex"] = index[f.rule]
        results.append(result)
    notifications: list[dict[str, Any]] = []
    for p in report.unreadable:
        region = {"region": {"startLine": p.line}} if p.line is not None else {}
        notifications.append({
            "level": "error",
            "message": {"text": f"not checked: {p.where}: {p.reason} ({p.hint})"},
            "descriptor": {"id": "unreadable-input"},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": _uri(p.file)},
                                                **region}}],
        })
    for s in report.skipped:
        notifications.append({
            "level": "warning",
            "message": {"text": f"skipped {s.kind}/{s.name} ({s.api_version}): driftscan"
                        " does not check this kind's pod template"},
            "descriptor": {"id": "skipped-kind"},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": _uri(s.file)},
                                                "region": {"startLine": s.line}}}],
        })
    return _run(report.tool, report.rules, results, notifications,
                {"source": "manifests", "files": list(report.files),
                 "complete": report.complete,
                 "inputs": [{"path": i.path, "sha256": i.sha256, "bytes": i.bytes}
                            for i in report.inputs],
                 "generatedAt": report.generated_at})


def render(log: dict[str, Any]) -> str:
    """A SARIF log as indented JSON with a trailing newline."""
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"
