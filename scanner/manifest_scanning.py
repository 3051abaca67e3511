"""``driftscan manifests``: the static rules on YAML before it is applied.

The CLI calls :func:`run`. Each workload read by ``sources.manifests`` becomes a snapshot
of its own (no pods), and the static detectors — ``floating-tag``,
``mutable-tag`` and ``pull-policy-divergence``, the same functions a live scan runs —
check it; each finding is placed at the line and column of the container's ``image``
field. The rollout rules are not run: every one of them is defined by live state
(revisions holding pods, status revisions), which a manifest does not have.

A file that cannot be read does not stop the run: it is listed in every format with
what to do, the rest is checked, ``-o`` is written, and the exit code says the result
is incomplete (:mod:`scanner.exits`: 3 unless a finding reaches ``--fail-on``).
"""

from __future__ import annotations

import datetime
import hashlib
import io
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from rich.console import Console

from scanner import __version__, detectors, errors, exits, findings, graph, writing
from scanner.detectors import rules
from scanner.report import document as report_model
from scanner.report import manifest_report, plain, sarif
from scanner.sources import manifests

__all__ = ["FORMATS", "STATIC_RULES", "ManifestOptions", "check", "run", "static_rule_set"]

FORMATS = ("table", "json", "sarif")
STATIC_RULES = detectors.RULES.ids(lambda rule: rule.static)
"""Rules that judge a pod template alone; the only ones a manifest can trigger."""


@dataclass(frozen=True)
class ManifestOptions:
    """Everything ``driftscan manifests`` accepts."""

    paths: tuple[str, ...]
    format: str = "table"
    output: str | None = None
    fail_on: findings.Severity = findings.Severity.HIGH
    allow_gaps: bool = False
    """Exit 0 rather than 3 when input was unreadable and nothing reaches ``fail_on``."""


def static_rule_set() -> rules.RuleSet:
    """The detectors of :data:`STATIC_RULES`, in declaration order."""
    return detectors.RULES.only(lambda rule: rule.static)


def _pin_diff(path: str) -> str:
    return shlex.join(("driftscan", "pin", path, "--diff"))


def check(files: Sequence[manifests.ManifestFile], *, generated_at: str | None = None,
          ) -> manifest_report.ManifestReport:
    """Run the static rules on every workload of ``files`` and place each finding.

    A workload lacking a field the detectors need is listed as unreadable.
    """
    rule_set = static_rule_set()
    found: list[manifest_report.ManifestFinding] = []
    unreadable = [manifest_report.InputProblem(p.file, p.line, p.reason, p.hint)
                  for f in files for p in f.problems]
    objects = [obj for file in files for obj in file.objects]
    snapshots, problems = manifests.snapshots_of(objects)
    for refused, reason in problems:
        unreadable.append(manifest_report.InputProblem(refused.file, refused.line, reason,
                                                       "fix the manifest"))
    workloads = sum(len(refs) for _, refs in snapshots)
    image_count = sum(len(o.images) for _, refs in snapshots for o in refs.values())
    for snapshot, refs in snapshots:
        g = graph.build(snapshot)
        for finding in detectors.detect(snapshot, g, rule_set=rule_set):
            obj = refs.get(finding.workload)
            field = None if obj is None else next(
                (f for f in obj.images if f.container == finding.container), None)
            if obj is None or field is None:
                continue
            rule = rule_set.rule(finding.rule)
            found.append(
                manifest_report.ManifestFinding(
                    rule=finding.rule,
                    severity=finding.severity.value,
                    message=finding.message,
                    remediation=f"{rule.remediation} `{_pin_diff(obj.file)}`"
                    " shows the change." if obj.file != "-" else rule.remediation,
                    file=obj.file,
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
            for r in rule_set.rules()
        ),
        unreadable=tuple(sorted(unreadable, key=lambda p: (p.file, p.line or 0))),
        skipped=tuple(manifest_report.SkippedObject(s.file, s.line, s.kind, s.api_version,
                                                    s.name)
                      for f in files for s in f.skipped),
        # Files that could not be read at all have no bytes to vouch for.
        inputs=tuple(_input(f) for f in files if f.text or not f.problems),
    )


def _input(file: manifests.ManifestFile) -> report_model.InputEntry:
    data = file.text.encode("utf-8")  # the exact bytes: files are decoded strictly
    return report_model.InputEntry(file.name, hashlib.sha256(data).hexdigest(), len(data))


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def run(options: ManifestOptions, stdout: Console, *, stdin_text: str | None = None,
        stderr: Console | None = None) -> int:
    """Check the manifests, write the result where asked, return the exit code.

    Raises:
        errors.DriftscanError: a path that does not exist, unwritable output.
    """
    stderr = stderr or Console(stderr=True)
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
    if not report.complete and (options.output is not None or options.format != "table"):
        # The table lists them already; JSON/SARIF on stdout must stay machine-readable.
        for problem in report.unreadable:
            stderr.print(plain.text(f"unreadable: {problem.where}: {problem.reason}"
                                    f" ({problem.hint})"), highlight=False, soft_wrap=True)
    worst = report.worst_severity()
    return exits.for_result(fails=worst is not None and worst.rank >= options.fail_on.rank,
                            incomplete=not report.complete, allow_gaps=options.allow_gaps)


def _write(output: str, write: Callable[[TextIO], object]) -> None:
    path = Path(output)
    buffer = io.StringIO()
    write(buffer)  # render completely first: a failure keeps the last good file
    try:
        writing.write_text(path, buffer.getvalue())
    except OSError as e:
        raise errors.InputError(f"cannot write {path}: {e.strerror}") from e
