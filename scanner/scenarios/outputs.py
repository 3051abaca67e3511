"""The run's output folder: journal.json, junit.xml and one report per scan.

Layout of ``--out DIR`` (default ``reports/scenarios/LATEST``)::

    journal.json                      the whole run (see ``journal``)
    junit.xml                         one testcase per scenario (see ``testsuite``)
    index.html                        the validation page (scenarios × expectations)
    scans/SCENARIO--LABEL.json        each scan's report, driftscan/report/v1
    scans/SCENARIO--LABEL.html        the same report as a page

A new run first removes the files an earlier run left there (only those: the folder may
hold other things). :class:`FilesObserver` rewrites journal and JUnit after every
scenario, so even a run killed halfway leaves readable results. A page that fails to
render is reported and skipped; the journal and JUnit are written regardless.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scanner import errors, writing
from scanner.report import document as report_model
from scanner.report import html, scenario_run, validation
from scanner.scenarios import journal, observers, records, testsuite

__all__ = ["DEFAULT_DIR", "FilesObserver", "Outputs"]

DEFAULT_DIR = Path("reports") / "scenarios" / "LATEST"
JOURNAL = "journal.json"
JUNIT = "junit.xml"
VALIDATION = "index.html"
SCANS = "scans"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class Outputs:
    """Writes the run's files into one folder."""

    def __init__(self, folder: Path) -> None:
        """Prepare ``folder`` (created on :meth:`prepare`)."""
        self.folder = folder

    @property
    def journal(self) -> Path:
        """Path of journal.json."""
        return self.folder / JOURNAL

    @property
    def junit(self) -> Path:
        """Path of junit.xml."""
        return self.folder / JUNIT

    def prepare(self) -> None:
        """Create the folder and remove an earlier run's journal, JUnit and scans.

        Raises:
            errors.InputError: the folder cannot be created or written.
        """
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            for name in (JOURNAL, JUNIT, VALIDATION):
                (self.folder / name).unlink(missing_ok=True)
            shutil.rmtree(self.folder / SCANS, ignore_errors=True)
            (self.folder / SCANS).mkdir()
        except OSError as e:
            raise errors.InputError(f"cannot write to {self.folder}: {e.strerror or e}",
                                    hint="pass another --out DIR") from e

    def write_scan(self, scenario: str, label: str, report: report_model.Report,
                   report_json: dict[str, Any]) -> tuple[str, str | None, str | None]:
        """Write the scan's report; return (json path, html path or None, html error)."""
        stem = _UNSAFE.sub("-", f"{scenario}--{label}").strip("-.") or "scan"
        relative_json = f"{SCANS}/{stem}.json"
        self._write(relative_json, json.dumps(report_json, indent=2) + "\n")
        html, problem = _render_html(report)
        if html is None:
            return relative_json, None, problem
        relative_html = f"{SCANS}/{stem}.html"
        self._write(relative_html, html)
        return relative_json, relative_html, None

    @property
    def validation(self) -> Path:
        """Path of the validation page."""
        return self.folder / VALIDATION

    def write_results(self, run: records.RunRecord, argv: Sequence[str] | None = None,
                      *, page: bool = False) -> str | None:
        """(Re)write journal.json and junit.xml, and with ``page`` the validation page.

        Returns why the validation page was not written, if it was asked for and not.
        """
        data = journal.to_dict(run, argv)
        self._write(JOURNAL, json.dumps(data, indent=2, default=str) + "\n")
        self._write(JUNIT, testsuite.render(run))
        if not page:
            return None
        text, problem = _render_validation(journal.to_model(run))
        if text is not None:
            self._write(VALIDATION, text)
        return problem

    def _write(self, relative: str, text: str) -> None:
        path = self.folder / relative
        try:
            writing.write_text(path, text)
        except OSError as e:
            raise errors.InputError(f"cannot write {path}: {e.strerror or e}",
                                    hint="pass another --out DIR") from e


def _render_html(report: report_model.Report) -> tuple[str | None, str | None]:
    """The scan's HTML page, or why it could not be rendered."""
    try:
        return html.render(report), None
    except Exception as e:  # noqa: BLE001 - a page that cannot render must not stop the run
        return None, f"HTML rendering failed: {type(e).__name__}: {e}"


def _render_validation(run: scenario_run.Journal) -> tuple[str | None, str | None]:
    """The validation page, or why it could not be rendered."""
    try:
        return validation.render_validation(run), None
    except Exception as e:  # noqa: BLE001 - the journal and JUnit are written regardless
        return None, f"validation page failed: {type(e).__name__}: {e}"


class FilesObserver(observers.Observer):
    """Keeps journal.json and junit.xml current: after each scenario and at the end."""

    def __init__(self, outputs: Outputs, argv: Sequence[str] | None = None) -> None:
        """Write through ``outputs``; ``argv`` is recorded as the run's command."""
        self.outputs = outputs
        self.argv = list(argv) if argv is not None else None
        self.run: records.RunRecord | None = None
        self.problem: str | None = None
        """Why the validation page was not written, if it was not."""

    def run_started(self, run: records.RunRecord, scenarios: list[Any]) -> None:
        """Remember the run and write a first journal."""
        self.run = run
        self.outputs.write_results(run, self.argv)

    def scenario_finished(self, record: records.ScenarioRecord) -> None:
        """Rewrite the files with the finished scenario."""
        if self.run is not None:
            self.outputs.write_results(self.run, self.argv)

    def run_finished(self, run: records.RunRecord) -> None:
        """Write the final files, the validation page included."""
        self.problem = self.outputs.write_results(run, self.argv, page=True)
