"""The scenario validation page: scenarios × expectations, expected vs detected, with links.

The scenario runner (``scanner.scenarios``) writes ``journal.json`` and one report per
scan; :func:`render_validation` turns that journal into ``index.html`` for the run's out
dir, and :func:`write_validation` also writes any scan page the runner did not write (at
``scans/<scenario>--<label>.html``, the runner's own naming). The matrix links each
expectation to the workload's anchor in the page of the scan that checked it.

It renders a :class:`scenario_run.Journal`: the runner hands over the one it built from
its records; a saved ``journal.json`` (as a parsed dict) is read with
:func:`scenario_run.from_json` first.

``status`` is ``completed``, ``failed``, ``aborted`` or ``interrupted`` (a scenario may
also be ``skipped``); ``deviated`` means an expectation was missed. Paths are relative
to the out dir; a path that would leave it is ignored.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scanner import detectors
from scanner.report import document as report_model
from scanner.report import html, scenario_run, streaming

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
    drift: int = 0
    """Workloads with a finding of a drift rule (any family but tag hygiene)."""
    hygiene_only: int = 0
    """Workloads whose only findings are tag hygiene (``clean: true`` allows those)."""
    watch_time_to_detect_s: float | None = None
    """When ``driftscan watch`` saw the change (``scenario run --detector watch``)."""


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
    node_types: tuple[str, ...] = ()
    """Kinds of node its pods ran on (``fake``: KWOK, ``real``: kubelet + containerd)."""

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


def _scenario(run: scenario_run.ScenarioRun,
              ) -> tuple[ScenarioView, dict[str, report_model.Report]]:
    reports: dict[str, report_model.Report] = {}
    scans = []
    paths: dict[str, str] = {}
    for scan in run.scans:
        path = _relative(scan.html_file or "") or page_path(run.name, scan.label)
        paths[scan.label] = path
        if scan.report is None:
            continue
        reports[scan.label] = scan.report
        summary = scan.report.summary
        drift, hygiene = _drift_and_hygiene(scan.report)
        scans.append(ScanLink(scan.label, scan.started_at, scan.time_to_detect_s, path,
                              urllib.parse.quote(path), summary.workloads,
                              summary.with_findings, summary.complete, drift, hygiene,
                              scan.watch_time_to_detect_s))
    rows = []
    for e in run.expectations:
        page = paths.get(e.scan) or _relative(e.html_file or "")
        target = _anchor(reports.get(e.scan), e.workload, run.namespace)
        rows.append(ExpectationRow(
            scan=e.scan,
            kind=e.kind,
            column=e.rule if e.kind == "fires" and e.rule else e.kind,
            expected=e.description,
            detected=e.detected,
            met=e.met,
            time_to_detect_s=e.time_to_detect_s,
            href=(urllib.parse.quote(page) + (f"#{target}" if target else "")) if page else None,
        ))
    view = ScenarioView(
        anchor="s-" + _file_part(run.name).lower(),
        name=run.name,
        title=run.title,
        status=run.status,
        deviated=run.deviated or any(not r.met for r in rows),
        passed=run.passed,
        skipped=run.skipped,
        duration_s=run.duration_s,
        error=run.error,
        scans=tuple(scans),
        expectations=tuple(rows),
        node_types=run.node_types,
    )
    return view, reports


def _drift_and_hygiene(report: report_model.Report) -> tuple[int, int]:
    """Workloads with drift findings, and workloads with tag-hygiene findings only.

    A rule's concern (``Rule.drift``) decides; a rule this version does not know counts as
    drift, so an old report never looks cleaner than it is.
    """
    hygiene_rules = set(detectors.RULES.ids(lambda rule: not rule.drift))
    drift = hygiene = 0
    for w in report.workloads:
        found = {f.rule for f in w.findings}
        if found - hygiene_rules:
            drift += 1
        elif found:
            hygiene += 1
    return drift, hygiene


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


def _page(journal: scenario_run.Journal) -> tuple[ValidationPage, list[tuple[str, Any]]]:
    views = []
    pages: list[tuple[str, Any]] = []
    for run in journal.scenarios:
        view, reports = _scenario(run)
        views.append(view)
        pages.extend((link.path, reports[link.label]) for link in view.scans)
    columns: list[str] = []
    for v in views:
        for e in v.expectations:
            if e.column not in columns and e.kind == "fires":
                columns.append(e.column)
    columns.extend(k for k in ("absent", "clean")
                   if any(e.column == k for v in views for e in v.expectations))
    met = sum(e.met for v in views for e in v.expectations)
    missed = sum(not e.met for v in views for e in v.expectations)
    passed = journal.status == "completed" and all(v.passed or v.skipped for v in views)
    page = ValidationPage(
        title=f"driftscan scenarios: {'PASSED' if passed else 'FAILED'}"
        f" ({met} of {met + missed} expectations met)",
        tool=journal.tool,
        provider=journal.provider,
        started_at=journal.started_at,
        duration_s=journal.duration_s,
        error=journal.error,
        status=journal.status,
        passed=passed,
        scenarios=tuple(views),
        columns=tuple(columns),
        met=met,
        missed=missed,
        scenarios_passed=sum(v.passed for v in views),
        scenarios_skipped=sum(v.skipped for v in views),
    )
    return page, pages


def _journal(journal: scenario_run.Journal | Mapping[str, Any]) -> scenario_run.Journal:
    return journal if isinstance(journal, scenario_run.Journal) else scenario_run.from_json(journal)


# --- rendering ----------------------------------------------------------------------------


def render_validation(journal: scenario_run.Journal | Mapping[str, Any]) -> str:
    """The index page of a scenario run, from the runner's model or a parsed journal.json.

    Raises:
        errors.InputError: the journal has no scenarios list, or a scan's report breaks
            the ``driftscan/report/v1`` schema.
    """
    page, _ = _page(_journal(journal))
    return "".join(_pieces(page))


def _pieces(page: ValidationPage) -> Iterator[str]:
    return html.environment().get_template("validation.html.j2").generate(
        page=page, security=html.page_security()
    )


def write_validation(journal: scenario_run.Journal | Mapping[str, Any],
                     out_dir: str | Path) -> list[Path]:
    """Write every scan page, then ``index.html``, under ``out_dir``; return the paths.

    Each file is streamed and replaced whole; scan pages follow the HTML report's default
    detail threshold, so a long run's pages stay as small as what they found.

    Raises:
        errors.InputError: as :func:`render_validation`, or a file cannot be written.
    """
    root = Path(out_dir)
    page, pages = _page(_journal(journal))
    written = []
    for href, report in pages:
        target = root / href
        html.write(report, target)
        written.append(target)
    index = root / "index.html"
    streaming.write_atomically(index, _pieces(page))
    return [index, *written]
