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
from scanner.report import document as report_model

__all__ = ["exact_dict", "integrity_dict", "parse", "provenance_dict", "remember", "render",
           "render_bytes", "to_dict"]

# The last sealed report and its body without ``integrity`` (see :func:`remember`).
_remembered: tuple[report_model.Report, dict[str, Any]] | None = None


def remember(report: report_model.Report, body: dict[str, Any]) -> None:
    """Keep ``body`` (``to_dict`` of ``report`` without its integrity block) for ``report``.

    Sealing builds that body to hash it; rendering the sealed report then adds the
    integrity block to it instead of building every workload's dict a second time. Only
    the last report is kept (a scan renders the report it has just sealed), and only
    :func:`render` uses it: the body never reaches a caller that could change it.
    """
    global _remembered
    _remembered = (report, body)


def _compact_dict(report: report_model.Report) -> dict[str, Any]:
    if _remembered is not None and _remembered[0] is report and report.integrity:
        return {**_remembered[1], "integrity": integrity_dict(report.integrity)}
    return to_dict(report)


def to_dict(report: report_model.Report) -> dict[str, Any]:
    """The report as plain JSON-ready data, keys in contract order."""
    return _to_dict(report, [])


def exact_dict(report: report_model.Report) -> tuple[dict[str, Any], bool]:
    """:func:`to_dict`, and whether ``orjson`` writes it byte for byte as ``json`` does.

    True when the data holds only ``str``-keyed dicts, lists, strings, integers, booleans
    and None (``integrity`` seals such a body with ``orjson``). Every value comes from a
    typed field of the model (checked by ``mypy --strict`` where the model is built)
    except the findings' ``evidence`` objects, which hold whatever a rule recorded: those
    are checked while they are copied, in the same walk.
    """
    odd: list[Any] = []
    data = _to_dict(report, odd)
    return data, not odd


def _to_dict(report: report_model.Report, odd: list[Any]) -> dict[str, Any]:
    return {
        "schema": report.schema,
        "generated_at": report.generated_at,
        "tool": {"name": report.tool.name, "version": report.tool.version},
        "source": {
            "type": report.source.type,
            "context": report.source.context,
            "server": report.source.server,
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
            {"kind": g.kind, "namespace": g.namespace, "reason": g.reason,
             **({"cluster": g.cluster} if g.cluster is not None else {})}
            for g in report.gaps
        ],
        "workloads": [_workload(w, odd) for w in report.workloads],
        "rules": [
            {
                "id": r.id,
                "severity": r.severity,
                "title": r.title,
                "rationale": r.rationale,
                "remediation": r.remediation,
                "family": r.family,
                "controls": list(r.controls),
            }
            for r in report.rules
        ],
        **({"provenance": provenance_dict(report.provenance)} if report.provenance else {}),
        "controls": [
            {"id": c.id, "framework": c.framework, "title": c.title} for c in report.controls
        ],
        # A fleet scan only: a one-cluster report stays byte for byte what it was.
        **({"clusters": [_cluster(c) for c in report.clusters]} if report.clusters else {}),
        **({"integrity": integrity_dict(report.integrity)} if report.integrity else {}),
    }


def provenance_dict(p: report_model.ProvenanceEntry) -> dict[str, Any]:
    """The ``provenance`` block as JSON-ready data."""
    return {
        "command_line": list(p.command_line),
        "cluster": {"server": p.server, "id": p.cluster_id, "version": p.server_version},
        "identity": (
            {"username": p.identity.username, "uid": p.identity.uid,
             "groups": list(p.identity.groups)}
            if p.identity
            else None
        ),
        "unavailable": dict(p.unavailable),
        "scope": {
            "kinds_requested": list(p.kinds_requested),
            "kinds_read": list(p.kinds_read),
            "namespaces_requested": list(p.namespaces_requested),
            "namespaces_read": list(p.namespaces_read),
        },
        "list_window": {
            "first_resource_version": p.first_resource_version,
            "last_resource_version": p.last_resource_version,
            "started_at": p.list_started_at,
            "finished_at": p.list_finished_at,
        },
        "inputs": [{"path": i.path, "sha256": i.sha256, "bytes": i.bytes} for i in p.inputs],
    }


def _cluster(c: report_model.ClusterEntry) -> dict[str, Any]:
    return {"name": c.name, "server": c.server, "reachable": c.reachable,
            "complete": c.complete, "workloads": c.workloads, "pods": c.pods,
            "provenance": provenance_dict(c.provenance) if c.provenance else None}


def integrity_dict(i: report_model.IntegrityEntry) -> dict[str, Any]:
    """The ``integrity`` block as JSON-ready data."""
    sig = i.signature
    return {
        "algorithm": i.algorithm,
        "canonicalization": i.canonicalization,
        "digest": i.digest,
        "signature": (
            {"algorithm": sig.algorithm, "public_key": sig.public_key,
             "key_fingerprint": sig.key_fingerprint, "value": sig.value}
            if sig
            else None
        ),
    }


def _workload(w: report_model.WorkloadEntry, odd: list[Any]) -> dict[str, Any]:
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
                "evidence": _plain(f.evidence, odd),
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
                        "reason": f.pin.reason,
                    }
                    if f.pin
                    else None
                ),
                "points": f.points,
                "score_reasons": list(f.score_reasons),
                **({"cluster": f.cluster} if f.cluster is not None else {}),
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
        **({"cluster": w.cluster} if w.cluster is not None else {}),
    }


_EXACT = frozenset({str, int, bool, type(None)})


def _plain(value: Any, odd: list[Any]) -> Any:
    """A copy of ``value`` made of dicts with ``str`` keys, lists and leaves.

    A leaf other than a string, an integer, a boolean or None (a float, say) is kept as
    it is and added to ``odd``.
    """
    kind = type(value)
    if kind in _EXACT:
        return value
    if kind is dict:  # an evidence object: leaves copied without a call each
        return {k if type(k) is str else str(k): v if type(v) in _EXACT else _plain(v, odd)
                for k, v in value.items()}
    if kind is list or kind is tuple:
        return [v if type(v) in _EXACT else _plain(v, odd) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v, odd) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, odd) for v in value]
    odd.append(value)
    return value


def render(report: report_model.Report, *, indent: int | None = None) -> str:
    """The report as JSON text with a trailing newline.

    Compact by default, written by ``orjson``; with ``indent`` (for people reading it)
    by the standard library, which is ten times slower on a 10,000-pod report.
    """
    if indent is None:
        return render_bytes(report).decode()
    return json.dumps(to_dict(report), indent=indent, ensure_ascii=False) + "\n"


def render_bytes(report: report_model.Report) -> bytes:
    """:func:`render`'s compact text as UTF-8 bytes, for a file (no decode and re-encode).

    A value orjson cannot write (an integer beyond 64 bits, read from a YAML dump's
    ``replicas``) is written by the standard library instead, in the same compact form.
    """
    data = _compact_dict(report)
    try:
        return orjson.dumps(data, option=orjson.OPT_APPEND_NEWLINE)
    except orjson.JSONEncodeError:
        return (json.dumps(data, separators=(",", ":"), ensure_ascii=False)
                + "\n").encode("utf-8")


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
            server=src.get("server"),
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
            report_model.GapEntry(g["kind"], g.get("namespace"), g["reason"], g.get("cluster"))
            for g in d["gaps"]
        ),
        workloads=tuple(_workload_from(w) for w in d["workloads"]),
        rules=tuple(
            report_model.RuleEntry(
                r["id"], r["severity"], r["title"], r["rationale"], r["remediation"],
                r.get("family", ""), tuple(r.get("controls", ())),
            )
            for r in d.get("rules", ())
        ),
        provenance=_provenance_from(d["provenance"]) if d.get("provenance") else None,
        controls=tuple(
            report_model.ControlEntry(c["id"], c["framework"], c["title"])
            for c in d.get("controls", ())
        ),
        integrity=_integrity_from(d["integrity"]) if d.get("integrity") else None,
        clusters=tuple(
            report_model.ClusterEntry(
                name=c["name"], server=c.get("server"), reachable=c["reachable"],
                complete=c["complete"], workloads=c.get("workloads", 0), pods=c.get("pods", 0),
                provenance=_provenance_from(c["provenance"]) if c.get("provenance") else None)
            for c in d.get("clusters", ())
        ),
    )


def _provenance_from(p: dict[str, Any]) -> report_model.ProvenanceEntry:
    cluster, scope, window = p["cluster"], p["scope"], p["list_window"]
    who = p.get("identity")
    return report_model.ProvenanceEntry(
        command_line=tuple(p["command_line"]),
        server=cluster.get("server"),
        cluster_id=cluster.get("id"),
        server_version=cluster.get("version"),
        identity=(
            report_model.IdentityEntry(who["username"], who.get("uid", ""),
                                       tuple(who.get("groups", ())))
            if who
            else None
        ),
        unavailable=dict(p.get("unavailable", {})),
        kinds_requested=tuple(scope["kinds_requested"]),
        kinds_read=tuple(scope["kinds_read"]),
        namespaces_requested=tuple(scope["namespaces_requested"]),
        namespaces_read=tuple(scope["namespaces_read"]),
        first_resource_version=window.get("first_resource_version"),
        last_resource_version=window.get("last_resource_version"),
        list_started_at=window.get("started_at"),
        list_finished_at=window.get("finished_at"),
        inputs=tuple(
            report_model.InputEntry(i["path"], i["sha256"], i["bytes"]) for i in p["inputs"]
        ),
    )


def _integrity_from(i: dict[str, Any]) -> report_model.IntegrityEntry:
    sig = i.get("signature")
    return report_model.IntegrityEntry(
        algorithm=i["algorithm"],
        canonicalization=i["canonicalization"],
        digest=i["digest"],
        signature=(
            report_model.SignatureEntry(sig["algorithm"], sig["public_key"],
                                        sig["key_fingerprint"], sig["value"])
            if sig
            else None
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
        cluster=w.get("cluster"),
    )


def _finding_from(f: dict[str, Any]) -> report_model.FindingEntry:
    pin = f.get("pin")
    cluster = f.get("cluster")
    entry = (report_model.PinEntry(pin["container"], pin["image"], pin["digest"],
                                   pin["pinned_image"], pin.get("command"),
                                   str(pin.get("reason") or ""))
             if pin else None)
    if entry is not None and cluster:
        entry = entry.in_cluster(cluster)  # a fleet report written before commands said so
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
        pin=entry,
        points=f.get("points", 0),
        score_reasons=tuple(f.get("score_reasons", ())),
        cluster=cluster,
    )
