"""A scenario run as the validation page reads it: typed, from the runner or from a file.

The runner builds a :class:`Journal` straight from its records
(``scanner.scenarios.journal.to_model``), so inside one process typed data never becomes
a dict to be parsed back. :func:`from_json` reads the same model from a saved
``journal.json`` (``driftscan/scenario-journal/v1``, docs/scenarios.md) leniently: every
key may be missing, unknown keys are ignored, and each scan's embedded report is
validated against ``driftscan/report/v1``.

Keys :func:`from_json` reads (every one may be missing)::

    {"tool": {"name", "version"},
     "run": {"started_at", "duration_s", "status", "provider", "error"},
     "scenarios": [{
        "name", "title", "namespace", "status", "deviated", "passed", "duration_s",
        "node_types": ["fake" | "real", …],
        "error": null | "text" | {"message", "step"},
        "scans": [{"label", "started_at", "duration_s", "time_to_detect_s",
                   "html_file": "scans/NAME--LABEL.html" | null,
                   "report": {… driftscan/report/v1 …}}],
        "expectations": [{"scan", "kind": "fires" | "absent" | "clean",
                          "expected": {"rule", "workload": "Kind/name", …} | …,
                          "description": "digest-drift on Deployment/web (severity ≥ high)",
                          "met": true, "message": "expected …; found …",
                          "detected": "found …",
                          "time_to_detect_s": 12.3, "html_file": "scans/…html"}]}]}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scanner import errors
from scanner.report import document as report_model
from scanner.report import saved_report

__all__ = ["ExpectationRun", "Journal", "ScanRun", "ScenarioRun", "error_text", "from_json"]


@dataclass(frozen=True)
class ExpectationRun:
    """One expectation checked against one scan: what was wanted, what was found."""

    scan: str
    kind: str
    """``fires``, ``absent`` or ``clean``."""
    rule: str
    """The rule a ``fires``/``absent`` expectation names (empty when none)."""
    workload: str
    """``Kind/name`` the expectation names (empty when none)."""
    description: str
    met: bool
    detected: str
    """``found …``, ``found none``, or why the scan could not tell."""
    time_to_detect_s: float | None
    html_file: str | None


@dataclass(frozen=True)
class ScanRun:
    """One scan step and its report."""

    label: str
    started_at: str
    time_to_detect_s: float | None
    html_file: str | None
    report: report_model.Report | None
    watch_time_to_detect_s: float | None = None
    """``scenario run --detector watch``: when the watcher's metrics first changed."""


@dataclass(frozen=True)
class ScenarioRun:
    """One scenario's outcome."""

    name: str
    title: str
    namespace: str | None
    status: str
    """``completed``, ``failed``, ``aborted`` or ``interrupted``."""
    deviated: bool
    passed: bool
    skipped: bool
    duration_s: float | None
    error: str | None
    """``STEP: message`` when a step failed, the message alone otherwise."""
    scans: tuple[ScanRun, ...]
    expectations: tuple[ExpectationRun, ...]
    node_types: tuple[str, ...] = ()
    """Kinds of node the scenario's pods ran on (``fake``, ``real``); empty: not recorded."""


@dataclass(frozen=True)
class Journal:
    """The whole run."""

    tool: str
    """``driftscan 0.1.0``."""
    provider: str
    started_at: str
    duration_s: float | None
    status: str
    error: str | None
    scenarios: tuple[ScenarioRun, ...]


def error_text(message: str | None, step: str | None) -> str | None:
    """``STEP: message`` (the message alone when it names the step), or ``None``."""
    if not message:
        return None
    return f"{step}: {message}" if step and step not in message else message


def from_json(data: Any) -> Journal:
    """Read a parsed ``journal.json``.

    Raises:
        errors.InputError: no ``scenarios`` list, or an embedded report breaks its schema.
    """
    if not isinstance(data, Mapping) or not isinstance(data.get("scenarios"), list):
        raise errors.InputError("journal: no `scenarios` list; not a driftscan run journal")
    run = data.get("run")
    run = run if isinstance(run, Mapping) else data
    tool = data.get("tool")
    tool_text = (f"{_str(tool, 'name', 'driftscan')} {_str(tool, 'version')}".strip()
                 if isinstance(tool, Mapping) else "driftscan")
    return Journal(
        tool=tool_text,
        provider=_str(run, "provider", "—"),
        started_at=_str(run, "started_at", "—"),
        duration_s=_float(run, "duration_s"),
        status=_str(run, "status", "completed"),
        error=_error(run.get("error")),
        scenarios=tuple(_scenario(s) for s in _list(data, "scenarios")),
    )


def _scenario(data: Mapping[str, Any]) -> ScenarioRun:
    name = _str(data, "name", "unnamed")
    scans = []
    for scan in _list(data, "scans"):
        label = _str(scan, "label", "scan")
        raw = scan.get("report")
        report = (saved_report.from_data(raw, name=f"journal: scenario {name}, scan {label}")
                  if raw is not None else None)
        scans.append(ScanRun(label, _str(scan, "started_at"), _float(scan, "time_to_detect_s"),
                             _str(scan, "html_file") or _str(scan, "page") or None, report,
                             _float(scan, "watch_time_to_detect_s")))
    rows = []
    for e in _list(data, "expectations"):
        spec = e.get("expected")
        spec = spec if isinstance(spec, Mapping) else {}
        rule = _str(spec, "rule") or _str(e, "rule")
        workload = _str(spec, "workload") or _str(e, "workload")
        description = (_str(e, "description")
                       or (e["expected"] if isinstance(e.get("expected"), str) else "")
                       or " ".join(x for x in (rule, workload) if x)
                       or _str(e, "kind", "expectation"))
        rows.append(ExpectationRun(
            scan=_str(e, "scan"), kind=_str(e, "kind", "fires"), rule=rule, workload=workload,
            description=description, met=e.get("met") is True,
            detected=_str(e, "detected") or _str(e, "message"),
            time_to_detect_s=_float(e, "time_to_detect_s"),
            html_file=_str(e, "html_file") or None))
    status = _str(data, "status", "completed")
    deviated = data.get("deviated") is True or any(not r.met for r in rows)
    skipped = data.get("skipped") is True
    passed = data.get("passed")
    return ScenarioRun(
        name=name,
        title=_str(data, "title"),
        namespace=_str(data, "namespace") or None,
        status=status,
        deviated=deviated,
        passed=(not skipped and (passed if isinstance(passed, bool)
                                 else status == "completed" and not deviated)),
        skipped=skipped,
        duration_s=_float(data, "duration_s"),
        error=_error(data.get("error")),
        scans=tuple(scans),
        expectations=tuple(rows),
        node_types=tuple(str(t) for t in data.get("node_types") or ()
                         if isinstance(t, str))[:4] if isinstance(data.get("node_types"), list)
        else (),
    )


def _str(data: Mapping[str, Any], key: str, default: str = "") -> str:
    value = data.get(key)
    return value if isinstance(value, str) else default


def _float(data: Mapping[str, Any], key: str) -> float | None:
    value = data.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _list(data: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = data.get(key)
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _error(value: Any) -> str | None:
    if isinstance(value, Mapping):
        return error_text(_str(value, "message") or None, _str(value, "step") or None)
    return value if isinstance(value, str) and value else None
