"""The report as JSON (``driftscan/report/v1``) and back.

:func:`render` writes the contract documented in docs/report-schema.md and validated by
scanner/schemas/report-v1.json; :func:`parse` reads such a file back into the model (for
``driftscan report REPORT.json -o OUT.html``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import orjson

from scanner import errors
from scanner.report import model as report_model

__all__ = ["parse", "render", "to_dict"]


def to_dict(report: report_model.Report) -> dict[str, Any]:
    """The report as plain JSON-ready data, keys in contract order."""
    return {
        "schema": report.schema,
        "generated_at": report.generated_at,
        "tool": {"name": report.tool.name, "version": report.tool.version},
        "source": {
            "type": report.source.type,
            "context": report.source.context,
            "files": list(report.source.files),
            "namespaces": list(report.source.namespaces),
            "all_namespaces": report.source.all_namespaces,
        },
        "summary": {
            "workloads": report.summary.workloads,
            "with_findings": report.summary.with_findings,
            "by_severity": dict(report.summary.by_severity),
            "max_score": report.summary.max_score,
            "pods": report.summary.pods,
            "complete": report.summary.complete,
        },
        "gaps": [
            {"kind": g.kind, "namespace": g.namespace, "reason": g.reason} for g in report.gaps
        ],
        "workloads": [_workload(w) for w in report.workloads],
        "rules": [
            {
                "id": r.id,
                "severity": r.severity,
                "title": r.title,
                "rationale": r.rationale,
                "remediation": r.remediation,
                "family": r.family,
            }
            for r in report.rules
        ],
    }


def _workload(w: report_model.WorkloadEntry) -> dict[str, Any]:
    return {
        "kind": w.kind,
        "namespace": w.namespace,
        "name": w.name,
        "score": w.score,
        "grade": w.grade,
        "containers": [
            {
                "name": c.name,
                "init": c.init,
                "role": c.role,
                "spec_images": list(c.spec_images),
                "digests": [
                    {
                        "digest": d.digest,
                        "kind": d.kind,
                        "repository": d.repository,
                        "image_ids": list(d.image_ids),
                        "pods": list(d.pods),
                        "nodes": list(d.nodes),
                        "revisions": list(d.revisions),
                    }
                    for d in c.digests
                ],
            }
            for c in w.containers
        ],
        "findings": [
            {
                "rule": f.rule,
                "severity": f.severity,
                "message": f.message,
                "evidence": _plain(f.evidence),
                "remediation": f.remediation,
                "title": f.title,
                "rationale": f.rationale,
                "rule_remediation": f.rule_remediation,
                "container": f.container,
                "observed": list(f.observed),
                "expected": f.expected,
                "pin": (
                    {
                        "container": f.pin.container,
                        "image": f.pin.image,
                        "digest": f.pin.digest,
                        "pinned_image": f.pin.pinned_image,
                        "command": f.pin.command,
                    }
                    if f.pin
                    else None
                ),
                "points": f.points,
                "score_reasons": list(f.score_reasons),
            }
            for f in w.findings
        ],
        "score_breakdown": [
            {"rule": s.rule, "container": s.container, "points": s.points,
             "reasons": list(s.reasons)}
            for s in w.score_breakdown
        ],
        "ignored_rules": list(w.ignored_rules),
        "revisions": [
            {"name": r.name, "number": r.number, "pods": list(r.pods),
             "live_pods": list(r.live_pods)}
            for r in w.revisions
        ],
        "services": [
            {"name": s.name, "pods": list(s.pods), "ready_pods": list(s.ready_pods),
             "callers": list(s.callers)}
            for s in w.services
        ],
    }


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def render(report: report_model.Report, *, indent: int | None = None) -> str:
    """The report as JSON text with a trailing newline.

    Compact by default, written by ``orjson``; with ``indent`` (for people reading it)
    by the standard library, which is ten times slower on a 10,000-pod report.
    """
    if indent is None:
        return orjson.dumps(to_dict(report), option=orjson.OPT_APPEND_NEWLINE).decode()
    return json.dumps(to_dict(report), indent=indent, ensure_ascii=False) + "\n"


def parse(text: str, *, name: str = "report") -> report_model.Report:
    """Read a ``driftscan/report/v1`` JSON document back into the model.

    Raises:
        errors.InputError: not JSON, another schema, or a required field is missing.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise errors.InputError(f"{name}: not JSON (line {e.lineno}: {e.msg})") from e
    if not isinstance(data, dict) or data.get("schema") != report_model.SCHEMA:
        raise errors.InputError(
            f"{name}: not a {report_model.SCHEMA} report",
            hint="write one with `driftscan scan --format json -o FILE`",
        )
    try:
        return _report(data)
    except (KeyError, TypeError, ValueError) as e:
        raise errors.InputError(f"{name}: malformed report ({type(e).__name__}: {e})") from e


def _report(d: dict[str, Any]) -> report_model.Report:
    src = d["source"]
    summ = d["summary"]
    return report_model.Report(
        schema=d["schema"],
        generated_at=d["generated_at"],
        tool=report_model.ToolEntry(d["tool"]["name"], d["tool"]["version"]),
        source=report_model.SourceEntry(
            type=src["type"],
            context=src.get("context"),
            files=tuple(src.get("files", ())),
            namespaces=tuple(src.get("namespaces", ())),
            all_namespaces=bool(src.get("all_namespaces", False)),
        ),
        summary=report_model.Summary(
            workloads=summ["workloads"],
            with_findings=summ["with_findings"],
            by_severity=dict(summ["by_severity"]),
            max_score=summ["max_score"],
            pods=summ.get("pods", 0),
            complete=summ.get("complete", not d["gaps"]),
        ),
        gaps=tuple(
            report_model.GapEntry(g["kind"], g.get("namespace"), g["reason"]) for g in d["gaps"]
        ),
        workloads=tuple(_workload_from(w) for w in d["workloads"]),
        rules=tuple(
            report_model.RuleEntry(
                r["id"], r["severity"], r["title"], r["rationale"], r["remediation"],
                r.get("family", ""),
            )
            for r in d.get("rules", ())
        ),
    )


def _workload_from(w: dict[str, Any]) -> report_model.WorkloadEntry:
    return report_model.WorkloadEntry(
        kind=w["kind"],
        namespace=w["namespace"],
        name=w["name"],
        score=w["score"],
        grade=w["grade"],
        containers=tuple(
            report_model.ContainerEntry(
                name=c["name"],
                init=c["init"],
                role=c.get("role", "init" if c["init"] else "main"),
                spec_images=tuple(c["spec_images"]),
                digests=tuple(
                    report_model.DigestEntry(
                        digest=x["digest"],
                        kind=x.get("kind", "repo-digest"),
                        repository=x.get("repository"),
                        image_ids=tuple(x.get("image_ids", ())),
                        pods=tuple(x["pods"]),
                        nodes=tuple(x["nodes"]),
                        revisions=tuple(x["revisions"]),
                    )
                    for x in c["digests"]
                ),
            )
            for c in w["containers"]
        ),
        findings=tuple(_finding_from(f) for f in w["findings"]),
        score_breakdown=tuple(
            report_model.ScoreEntry(s["rule"], s.get("container"), s["points"],
                                    tuple(s.get("reasons", ())))
            for s in w.get("score_breakdown", ())
        ),
        ignored_rules=tuple(w.get("ignored_rules", ())),
        revisions=tuple(
            report_model.RevisionEntry(r["name"], r.get("number"), tuple(r["pods"]),
                                       tuple(r.get("live_pods", r["pods"])))
            for r in w.get("revisions", ())
        ),
        services=tuple(
            report_model.ServiceEntry(s["name"], tuple(s["pods"]),
                                      tuple(s.get("ready_pods", ())),
                                      tuple(s.get("callers", ())))
            for s in w.get("services", ())
        ),
    )


def _finding_from(f: dict[str, Any]) -> report_model.FindingEntry:
    pin = f.get("pin")
    return report_model.FindingEntry(
        rule=f["rule"],
        severity=f["severity"],
        message=f["message"],
        evidence=f["evidence"],
        remediation=f["remediation"],
        title=f.get("title", f["rule"]),
        rationale=f.get("rationale", ""),
        rule_remediation=f.get("rule_remediation", ""),
        container=f.get("container"),
        observed=tuple(f.get("observed", ())),
        expected=f.get("expected"),
        pin=(
            report_model.PinEntry(pin["container"], pin["image"], pin["digest"],
                                  pin["pinned_image"], pin.get("command"))
            if pin
            else None
        ),
        points=f.get("points", 0),
        score_reasons=tuple(f.get("score_reasons", ())),
    )
