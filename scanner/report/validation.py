"""The scenario validation page: scenarios × expectations, expected vs detected, with links.

The scenario runner (``scanner.scenarios``) writes ``journal.json`` and one report per
scan; :func:`render_validation` turns that journal into ``index.html`` for the run's out
dir, and :func:`write_validation` also writes any scan page the runner did not write (at
``scans/<scenario>--<label>.html``, the runner's own naming). The matrix links each
expectation to the workload's anchor in the page of the scan that checked it.

It reads the runner's ``driftscan/scenario-journal/v1`` (scanner/scenarios/journal.py,
docs/scenarios.md); only these keys are used, unknown ones are ignored and every key may
be missing::

    {"tool": {"name", "version"},
     "run": {"started_at", "duration_s", "status", "provider", "error"},
     "scenarios": [{
        "name", "title", "namespace", "status", "deviated", "passed", "duration_s",
        "error": null | "text" | {"message", "step"},
        "scans": [{"label", "started_at", "duration_s", "time_to_detect_s",
                   "html_file": "scans/NAME--LABEL.html" | null,
                   "report": {… driftscan/report/v1 …}}],
        "expectations": [{"scan", "kind": "fires" | "absent" | "clean",
                          "expected": {"rule", "workload": "Kind/name", …} | …,
                          "description": "digest-drift on Deployment/web (severity ≥ high)",
                          "met": true, "message": "expected …; found …",
                          "time_to_detect_s": 12.3, "html_file": "scans/…html"}]}]}

``status`` is ``completed``, ``failed``, ``aborted`` or ``interrupted`` (a scenario may
also be ``skipped``); ``deviated`` means an expectation was missed. Paths are relative
to the out dir; a path that would leave it is ignored.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scanner import errors, writing
from scanner.report import html, loading
from scanner.report import model as report_model

__all__ = [
    "JOURNAL_SCHEMA",
    "page_path",
    "render_validation",
    "write_validation",
]

JOURNAL_SCHEMA = "driftscan/scenario-journal/v1"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def page_path(scenario: str, label: str) -> str:
    """Where the scan page of ``scenario``'s scan ``label`` goes, relative to index.html."""
    return f"scans/{_file_part(f'{scenario}--{label}')}.html"


def _relative(page: str) -> str | None:
    """``page`` when it is a plain relative path inside the out dir, else None."""
    parts = page.split("/")
    if not page or ":" in page or page.startswith("/") or "\\" in page or ".." in parts:
        return None
    return page


def _file_part(text: str) -> str:
    part = _UNSAFE.sub("-", text).strip("-.")
    return part or "unnamed"


# --- view model ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ScanLink:
    """A scan captured during a scenario, and its page."""

    label: str
    started_at: str
    time_to_detect_s: float | None
    path: str
    """Where the page is written, relative to index.html."""
    href: str
    workloads: int
    with_findings: int
    complete: bool


@dataclass(frozen=True)
class ExpectationRow:
    """One expectation: what should have been found, what was, and where to look."""

    scan: str
    kind: str
    column: str
    expected: str
    detected: str
    met: bool
    time_to_detect_s: float | None
    href: str | None


@dataclass(frozen=True)
class ScenarioView:
    """One scenario's outcome."""

    anchor: str
    name: str
    title: str
    status: str
    deviated: bool
    passed: bool
    skipped: bool
    """The provider could not carry out the scenario: neither passed nor failed."""
    duration_s: float | None
    error: str | None
    scans: tuple[ScanLink, ...]
    expectations: tuple[ExpectationRow, ...]

    def cell(self, column: str) -> tuple[ExpectationRow, ...]:
        """The expectations of this scenario in one matrix column."""
        return tuple(e for e in self.expectations if e.column == column)


@dataclass(frozen=True)
class ValidationPage:
    """The whole index page."""

    title: str
    tool: str
    provider: str
    started_at: str
    duration_s: float | None
    error: str | None
    status: str
    passed: bool
    scenarios: tuple[ScenarioView, ...]
    columns: tuple[str, ...]
    met: int
    missed: int
    scenarios_passed: int
    scenarios_skipped: int


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
        message = _str(value, "message")
        step = _str(value, "step")
        return f"{step}: {message}" if step and message else (message or None)
    return value if isinstance(value, str) and value else None


def _expected(e: Mapping[str, Any]) -> tuple[str, str, str]:
    """(what was expected, rule, workload) of one expectation."""
    spec = e.get("expected")
    spec = spec if isinstance(spec, Mapping) else {}
    rule = _str(spec, "rule") or _str(e, "rule")
    workload = _str(spec, "workload") or _str(e, "workload")
    text = (_str(e, "description") or (e["expected"] if isinstance(e.get("expected"), str)
                                       else "") or " ".join(x for x in (rule, workload) if x))
    return text or _str(e, "kind", "expectation"), rule, workload


def _detected(e: Mapping[str, Any]) -> str:
    """What the scan found: the part of the runner's message after ``expected …;``."""
    message = _str(e, "detected") or _str(e, "message")
    if message.startswith("expected ") and "; " in message:
        return message.split("; ", 1)[1]
    return message


def _scenario(data: Mapping[str, Any]) -> tuple[ScenarioView, dict[str, report_model.Report]]:
    name = _str(data, "name", "unnamed")
    reports: dict[str, report_model.Report] = {}
    scans = []
    paths: dict[str, str] = {}
    for scan in _list(data, "scans"):
        label = _str(scan, "label", "scan")
        path = (_relative(_str(scan, "html_file")) or _relative(_str(scan, "page"))
                or page_path(name, label))
        paths[label] = path
        raw = scan.get("report")
        if raw is None:
            continue
        report = loading.from_data(raw, name=f"journal: scenario {name}, scan {label}")
        reports[label] = report
        scans.append(ScanLink(label, _str(scan, "started_at"), _float(scan, "time_to_detect_s"),
                              path, urllib.parse.quote(path), report.summary.workloads,
                              report.summary.with_findings, report.summary.complete))
    namespace = _str(data, "namespace") or None
    rows = []
    for e in _list(data, "expectations"):
        label = _str(e, "scan")
        kind = _str(e, "kind", "fires")
        expected, rule, workload = _expected(e)
        page = paths.get(label) or _relative(_str(e, "html_file"))
        target = _anchor(reports.get(label), workload, namespace)
        rows.append(ExpectationRow(
            scan=label,
            kind=kind,
            column=rule if kind == "fires" and rule else kind,
            expected=expected,
            detected=_detected(e),
            met=e.get("met") is True,
            time_to_detect_s=_float(e, "time_to_detect_s"),
            href=(urllib.parse.quote(page) + (f"#{target}" if target else "")) if page else None,
        ))
    status = _str(data, "status", "completed")
    deviated = data.get("deviated") is True or any(not r.met for r in rows)
    passed = data.get("passed")
    skipped = data.get("skipped") is True
    view = ScenarioView(
        anchor="s-" + _file_part(name).lower(),
        name=name,
        title=_str(data, "title"),
        status=status,
        deviated=deviated,
        passed=(not skipped and (passed if isinstance(passed, bool)
                                 else status == "completed" and not deviated)),
        skipped=skipped,
        duration_s=_float(data, "duration_s"),
        error=_error(data.get("error")),
        scans=tuple(scans),
        expectations=tuple(rows),
    )
    return view, reports


def _anchor(report: report_model.Report | None, workload: str,
            namespace: str | None) -> str | None:
    """The anchor of ``Kind/name`` in the scan page (in ``namespace`` when known)."""
    if report is None or "/" not in workload:
        return None
    kind, _, name = workload.partition("/")
    if name.count("/") == 1:  # Kind/namespace/name
        namespace, _, name = name.partition("/")
    for (k, ns, n), anchor in html.anchors(report).items():
        if k == kind and n == name and (namespace is None or ns == namespace):
            return anchor
    return None


def _page(journal: Mapping[str, Any]) -> tuple[ValidationPage, list[tuple[str, Any]]]:
    if not isinstance(journal, Mapping) or not isinstance(journal.get("scenarios"), list):
        raise errors.InputError("journal: no `scenarios` list; not a driftscan run journal")
    views = []
    pages: list[tuple[str, Any]] = []
    for data in _list(journal, "scenarios"):
        view, reports = _scenario(data)
        views.append(view)
        pages.extend((link.path, reports[link.label]) for link in view.scans)
    columns: list[str] = []
    for v in views:
        for e in v.expectations:
            if e.column not in columns and e.kind == "fires":
                columns.append(e.column)
    columns.extend(k for k in ("absent", "clean")
                   if any(e.column == k for v in views for e in v.expectations))
    run = journal.get("run")
    run = run if isinstance(run, Mapping) else journal
    tool = journal.get("tool")
    tool_text = (f"{_str(tool, 'name', 'driftscan')} {_str(tool, 'version')}".strip()
                 if isinstance(tool, Mapping) else "driftscan")
    met = sum(e.met for v in views for e in v.expectations)
    missed = sum(not e.met for v in views for e in v.expectations)
    status = _str(run, "status", "completed")
    passed = status == "completed" and all(v.passed or v.skipped for v in views)
    page = ValidationPage(
        title=f"driftscan scenarios: {'PASSED' if passed else 'FAILED'}"
        f" ({met} of {met + missed} expectations met)",
        tool=tool_text,
        provider=_str(run, "provider", "—"),
        started_at=_str(run, "started_at", "—"),
        duration_s=_float(run, "duration_s"),
        error=_error(run.get("error")),
        status=status,
        passed=passed,
        scenarios=tuple(views),
        columns=tuple(columns),
        met=met,
        missed=missed,
        scenarios_passed=sum(v.passed for v in views),
        scenarios_skipped=sum(v.skipped for v in views),
    )
    return page, pages


# --- rendering ----------------------------------------------------------------------------


def render_validation(journal: Mapping[str, Any]) -> str:
    """The index page of a scenario run, from its journal (shape in the module docstring).

    Raises:
        errors.InputError: the journal has no scenarios list, or a scan's report breaks
            the ``driftscan/report/v1`` schema.
    """
    page, _ = _page(journal)
    return html.environment().get_template("validation.html.j2").render(
        page=page, security=html.page_security()
    )


def write_validation(journal: Mapping[str, Any], out_dir: str | Path) -> list[Path]:
    """Write ``index.html`` and every scan page under ``out_dir``; return the paths.

    Raises:
        errors.InputError: as :func:`render_validation`, or a file cannot be written.
    """
    root = Path(out_dir)
    page, pages = _page(journal)
    written = []
    for href, report in pages:
        target = root / href
        html.write(report, target)
        written.append(target)
    index = root / "index.html"
    text = html.environment().get_template("validation.html.j2").render(
        page=page, security=html.page_security()
    )
    try:
        writing.write_text(index, text)
    except OSError as e:
        raise errors.InputError(f"cannot write {index}: {e.strerror}") from e
    return [index, *written]
