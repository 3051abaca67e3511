"""The run journal (``journal.json``): one self-contained JSON record of a scenario run.

Modelled on chaostoolkit's journal: tool version, platform, a copy of every scenario
(its YAML text and manifests), start/end/duration, a closed status set kept apart from
``deviated``, and every activity — step, scan, expectation, cleanup — in one shape. Each
scan carries its full report (``driftscan/report/v1``) and the path of the report files
written next to the journal, so the HTML validation page (scenarios × expectations,
expected vs detected, time to detect, links to each scan's page) needs only this file.

The contract is ``driftscan/scenario-journal/v1``, described in docs/scenarios.md and
checked by ``scanner/schemas/scenario-journal-v1.json``.
"""

from __future__ import annotations

import datetime
import platform
import socket
import sys
from collections.abc import Sequence
from typing import Any

from scanner import __version__
from scanner.report import scenario_run
from scanner.scenarios import expectations, records

__all__ = ["SCHEMA", "iso", "to_dict", "to_model"]

SCHEMA = "driftscan/scenario-journal/v1"


def iso(epoch: float) -> str | None:
    """UTC ISO 8601 with milliseconds, ``None`` for an unset time."""
    if not epoch:
        return None
    stamp = datetime.datetime.fromtimestamp(epoch, datetime.UTC)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_dict(run: records.RunRecord, argv: Sequence[str] | None = None) -> dict[str, Any]:
    """The journal of ``run`` as JSON-ready data."""
    scenarios = run.scenarios
    results = [r for s in scenarios for r in s.results]
    return {
        "schema": SCHEMA,
        "tool": {"name": "driftscan", "version": __version__},
        "platform": {
            "system": platform.system(), "release": platform.release(),
            "machine": platform.machine(), "python": platform.python_version(),
            "hostname": socket.gethostname(),
        },
        "run": {
            "id": run.run_id,
            "started_at": iso(run.started), "ended_at": iso(run.ended),
            "duration_s": round(run.duration_s, 3),
            "status": run.status.value, "deviated": run.deviated, "error": run.error,
            "exit_code": run.exit_code(),
            "provider": run.provider, "isolate": run.isolate, "cleanup": run.cleanup_policy,
            "clusters": list(run.clusters),
            "command": list(argv if argv is not None else sys.argv),
        },
        "summary": {
            "scenarios": len(scenarios),
            "passed": sum(s.passed for s in scenarios),
            "deviated": sum(s.deviated for s in scenarios),
            "skipped": sum(s.skipped for s in scenarios),
            **{status.value: sum(s.status is status for s in scenarios)
               for status in records.Status},
            "expectations": {"total": len(results), "met": sum(r.met for r in results),
                             "missed": sum(not r.met for r in results)},
        },
        "scenarios": [_scenario(s) for s in scenarios],
    }


def to_model(run: records.RunRecord) -> scenario_run.Journal:
    """The run as the validation page reads it, built from the records (no JSON between)."""
    return scenario_run.Journal(
        tool=f"driftscan {__version__}",
        provider=run.provider or "—",
        started_at=iso(run.started) or "—",
        duration_s=round(run.duration_s, 3),
        status=run.status.value,
        error=run.error,
        scenarios=tuple(_scenario_model(s) for s in run.scenarios),
    )


def _scenario_model(s: records.ScenarioRecord) -> scenario_run.ScenarioRun:
    scans = {scan.label: scan for scan in s.scans}
    return scenario_run.ScenarioRun(
        name=s.scenario.name,
        title=s.scenario.title,
        namespace=s.namespace,
        status=s.status.value,
        deviated=s.deviated,
        passed=s.passed,
        skipped=s.skipped,
        duration_s=round(s.duration_s, 3),
        error=scenario_run.error_text(s.error, s.error_step),
        node_types=tuple(s.node_types),
        scans=tuple(
            scenario_run.ScanRun(scan.label, iso(scan.started) or "",
                                 _round(scan.time_to_detect_s), scan.html_file, scan.report,
                                 _round(scan.watch_time_to_detect_s))
            for scan in s.scans),
        expectations=tuple(
            scenario_run.ExpectationRun(
                scan=r.scan, kind=r.kind, rule=str(r.expected.get("rule") or ""),
                workload=str(r.expected.get("workload") or ""), description=r.description,
                met=r.met, detected=r.detected, time_to_detect_s=_round(r.time_to_detect_s),
                html_file=scans[r.scan].html_file if r.scan in scans else None)
            for r in s.results),
    )


def _scenario(s: records.ScenarioRecord) -> dict[str, Any]:
    sc = s.scenario
    folder = sc.file.parent
    return {
        "name": sc.name, "title": sc.title, "description": sc.description,
        "tags": list(sc.tags), "file": str(sc.file),
        "definition": dict(sc.source), "definition_text": sc.source_text,
        "manifests": {_relative(p, folder): text for p, text in sc.manifests.items()},
        "namespace": s.namespace, "cluster": dict(s.cluster),
        "node_types": list(s.node_types),
        "started_at": iso(s.started), "ended_at": iso(s.ended),
        "duration_s": round(s.duration_s, 3),
        "status": s.status.value, "deviated": s.deviated, "passed": s.passed,
        "skipped": s.skipped,
        "error": ({"message": s.error, "step": s.error_step} if s.error else None),
        "builds": [{"name": b.name, "label": b.label, "digest": b.digest,
                    "pushed_as": list(b.pushed_as)} for b in s.builds.values()],
        "steps": [_step(st, sc.source) for st in s.steps],
        "scans": [_scan(sc_) for sc_ in s.scans],
        "expectations": [_result(r, s) for r in s.results],
        "missing_scans": s.missing_scans,
        "cleanup": _cleanup(s.cleanup),
    }


def _relative(path: Any, folder: Any) -> str:
    try:
        return str(path.relative_to(folder))
    except ValueError:
        return str(path)


def _step(st: records.StepRecord, source: Any) -> dict[str, Any]:
    step = st.step
    raw = (source.get(step.phase) or [])[step.index] if isinstance(source, dict) else None
    return {
        "phase": step.phase, "index": step.index, "path": step.path, "kind": step.kind,
        "name": step.name, "description": st.describe(), "inject": step.inject,
        "timeout_s": step.timeout, "arguments": raw,
        "started_at": iso(st.started), "ended_at": iso(st.ended),
        "duration_s": round(st.duration_s, 3), "status": st.status.value,
        "detail": st.detail, "output": st.output,
    }


def _scan(scan: records.ScanRecord) -> dict[str, Any]:
    return {
        "label": scan.label, "step": scan.step_path,
        "started_at": iso(scan.started), "ended_at": iso(scan.ended),
        "duration_s": round(scan.duration_s, 3),
        "injected_by": scan.injected_by,
        "time_to_detect_s": _round(scan.time_to_detect_s),
        "watch_time_to_detect_s": _round(scan.watch_time_to_detect_s),
        "report_file": scan.report_file, "html_file": scan.html_file,
        "html_error": scan.html_error,
        "summary": scan.report_json.get("summary"),
        "findings": [f.to_json() for f in expectations.seen_findings(scan.report)],
        "report": scan.report_json,
    }


def _result(r: records.ExpectationResult, s: records.ScenarioRecord) -> dict[str, Any]:
    scan = next((x for x in s.scans if x.label == r.scan), None)
    return {
        "scan": r.scan, "kind": r.kind, "expected": r.expected,
        "description": r.description, "met": r.met, "message": r.message,
        "detected": r.detected, "found": r.found, "time_to_detect_s": _round(r.time_to_detect_s),
        "report_file": scan.report_file if scan else None,
        "html_file": scan.html_file if scan else None,
    }


def _cleanup(c: records.CleanupRecord | None) -> dict[str, Any] | None:
    if c is None:
        return None
    return {"namespace": c.namespace, "namespace_deleted": c.namespace_deleted,
            "namespace_gone": c.namespace_gone,
            "nodes_removed": c.nodes_removed, "nodes_uncordoned": c.nodes_uncordoned,
            "images_deleted": c.images_deleted, "kept": c.kept, "errors": c.errors,
            "duration_s": round(c.duration_s, 3)}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
