"""``driftscan manifests``: the static rules on YAML before it is applied.

The CLI calls :func:`run`. Each workload read by ``sources.manifests`` becomes a snapshot
of its own (no pods), and the registry's static detectors — ``floating-tag``,
``mutable-tag`` and ``pull-policy-divergence``, the same functions a live scan runs —
check it; each finding is placed at the line and column of the container's ``image``
field. The rollout rules are not run: every one of them is defined by live state
(revisions holding pods, status revisions), which a manifest does not have.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from rich.console import Console

from scanner import __version__, detectors, errors, exits, findings, graph, writing
from scanner.detectors import rules
from scanner.report import manifest_report, plain, sarif
from scanner.report import model as report_model
from scanner.sources import manifests

__all__ = ["FORMATS", "STATIC_RULES", "ManifestOptions", "check", "run", "static_registry"]

FORMATS = ("table", "json", "sarif")
STATIC_RULES = ("floating-tag", "mutable-tag", "pull-policy-divergence")
"""Rules that judge a pod template alone; the only ones a manifest can trigger."""


@dataclass(frozen=True)
class ManifestOptions:
    """Everything ``driftscan manifests`` accepts."""

    paths: tuple[str, ...]
    format: str = "table"
    output: str | None = None
    fail_on: findings.Severity = findings.Severity.HIGH


def static_registry() -> rules.Registry:
    """The registry's detectors for :data:`STATIC_RULES`, in registry order."""
    return rules.Registry(d for d in detectors.REGISTRY if d.rule.id in STATIC_RULES)


def check(files: Sequence[manifests.ManifestFile], *, generated_at: str | None = None,
          ) -> manifest_report.ManifestReport:
    """Run the static rules on every workload of ``files`` and place each finding.

    Raises:
        errors.InputError: a workload lacks a field the detectors need.
    """
    registry = static_registry()
    found: list[manifest_report.ManifestFinding] = []
    workloads = image_count = 0
    for file in files:
        for obj in file.objects:
            workloads += 1
            image_count += len(obj.images)
            snapshot = manifests.snapshot_of(obj)
            g = graph.build(snapshot)
            by_container = {f.container: f for f in obj.images}
            for finding in detectors.detect(snapshot, g, registry=registry):
                field = by_container.get(finding.container or "")
                if field is None:
                    continue
                rule = registry.rule(finding.rule)
                found.append(
                    manifest_report.ManifestFinding(
                        rule=finding.rule,
                        severity=finding.severity.value,
                        message=finding.message,
                        remediation=f"{rule.remediation} `driftscan pin {file.name} --diff`"
                        " shows the change." if file.name != "-" else rule.remediation,
                        file=file.name,
                        line=field.line,
                        column=field.column,
                        end_column=field.end_column if field.end_line == field.line
                        else field.column + len(field.image),
                        document=obj.document,
                        kind=obj.kind,
                        namespace=obj.namespace,
                        name=obj.name,
                        container=field.container,
                        image=field.image,
                        field=field.path,
                    )
                )
    return manifest_report.ManifestReport(
        generated_at=generated_at or _now(),
        tool=report_model.ToolEntry("driftscan", __version__),
        files=tuple(f.name for f in files),
        workloads=workloads,
        images=image_count,
        findings=tuple(sorted(found, key=lambda f: f.sort_key())),
        rules=tuple(
            report_model.RuleEntry(r.id, r.severity.value, r.title, r.rationale,
                                   r.remediation, r.family, r.controls)
            for r in registry.rules()
        ),
        inputs=tuple(_input(f) for f in files),
    )


def _input(file: manifests.ManifestFile) -> report_model.InputEntry:
    data = file.text.encode("utf-8")  # the exact bytes: files are decoded strictly
    return report_model.InputEntry(file.name, hashlib.sha256(data).hexdigest(), len(data))


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def run(options: ManifestOptions, stdout: Console, *, stdin_text: str | None = None) -> int:
    """Check the manifests, write the result where asked, return the exit code.

    Raises:
        errors.DriftscanError: unreadable or unsafe input, unwritable output.
    """
    if options.format not in FORMATS:
        raise errors.InputError(f"unknown format {options.format!r}",
                                hint=f"use one of {', '.join(FORMATS)}")
    report = check(manifests.load(options.paths, stdin_text=stdin_text))
    if options.format == "table":
        if options.output is None:
            manifest_report.render_table(report, stdout)
        else:
            _write(options.output, lambda handle: manifest_report.render_table(
                report, Console(file=handle, width=120, color_system=None)))
    else:
        text = (manifest_report.render_json(report) if options.format == "json"
                else sarif.render(sarif.from_manifests(report)))
        if options.output is None:
            sys.stdout.flush()
            stdout.file.write(text)
            stdout.file.flush()
        else:
            _write(options.output, lambda handle: handle.write(text))
    if options.output is not None:
        stdout.print(plain.text(f"wrote {options.output}: {manifest_report.summary_line(report)}"),
                     highlight=False, soft_wrap=True)
    worst = report.worst_severity()
    return exits.for_result(fails=worst is not None and worst.rank >= options.fail_on.rank,
                            incomplete=False)


def _write(output: str, write: Callable[[TextIO], object]) -> None:
    path = Path(output)
    buffer = io.StringIO()
    write(buffer)  # render completely first: a failure keeps the last good file
    try:
        writing.write_text(path, buffer.getvalue())
    except OSError as e:
        raise errors.InputError(f"cannot write {path}: {e.strerror}") from e
