"""What a scenario run prints: live progress on stderr, a summary table at the end.

:class:`ProgressObserver` prints one line per step, scan, expectation and cleanup to an
injected rich ``Console`` (the CLI passes ``Console(stderr=True)``); :func:`summary`
renders the final table and the output paths. Tests render into
``Console(file=StringIO(), width=100, color_system=None)`` and compare text.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from scanner.report import plain
from scanner.scenarios import definitions as d
from scanner.scenarios import observers, outputs, records

__all__ = ["ProgressObserver", "result_word", "summary"]

_STEP_MARK = {
    records.StepStatus.SUCCEEDED: "[green]✓[/]",
    records.StepStatus.FAILED: "[red]✗[/]",
    records.StepStatus.TIMED_OUT: "[red]⏱[/]",
    records.StepStatus.SKIPPED: "[dim]-[/]",
    records.StepStatus.INTERRUPTED: "[yellow]![/]",
}


def result_word(rec: records.ScenarioRecord) -> str:
    """One word for the outcome (passed, deviated, failed, skipped, not run and so on)."""
    if rec.status is records.Status.COMPLETED:
        return "deviated" if rec.deviated else "passed"
    if rec.skipped:
        return "skipped"
    if rec.status is records.Status.ABORTED and not rec.started:
        return "not run"
    return rec.status.value


def _safe(value: object) -> str:
    """A cluster- or file-supplied string as inert markup, without control characters.

    Line breaks of the project's own messages (an error and its hint) are kept.
    """
    return escape(plain.clean(value, lines=True))


_STYLE = {"passed": "green", "deviated": "bold red", "failed": "bold red",
          "aborted": "yellow", "skipped": "dim", "interrupted": "yellow", "not run": "dim"}


class ProgressObserver(observers.Observer):
    """Prints the run as it happens."""

    def __init__(self, console: Console, *, verbose: bool = False) -> None:
        """Print to ``console``; ``verbose`` adds each step's detail line."""
        self.console = console
        self.verbose = verbose

    def _print(self, text: str) -> None:
        self.console.print(text, highlight=False, soft_wrap=True)

    def say(self, message: str) -> None:
        """Cluster progress, dimmed."""
        self._print(f"[dim]{_safe(message)}[/]")

    def run_started(self, run: records.RunRecord, scenarios: list[d.Scenario]) -> None:
        """Announce the run."""
        names = ", ".join(s.name for s in scenarios)
        self._print(f"[bold]driftscan scenario run[/] {run.run_id}: {len(scenarios)} "
                    f"scenario{'s' if len(scenarios) != 1 else ''} ({_safe(names)})")

    def scenario_started(self, record: records.ScenarioRecord) -> None:
        """A heading per scenario."""
        self._print(f"\n[bold cyan]▶ {record.scenario.name}[/] — "
                    f"{_safe(record.scenario.title)}")

    def step_finished(self, record: records.ScenarioRecord, step: records.StepRecord) -> None:
        """One line per step: mark, path, description, duration; the reason on failure."""
        mark = _STEP_MARK[step.status]
        line = (f"  {mark} [dim]{step.step.path:<10}[/] {_safe(step.describe())} "
                f"[dim]{step.duration_s:.1f}s[/]")
        self._print(line)
        if step.status is not records.StepStatus.SUCCEEDED:
            self._print(f"      [red]{_safe(step.detail)}[/]")
        elif self.verbose and step.detail:
            self._print(f"      [dim]{_safe(step.detail)}[/]")

    def scan_finished(self, record: records.ScenarioRecord, scan: records.ScanRecord) -> None:
        """The scan's expectations, each met or missed."""
        for r in scan.results:
            if r.met:
                when = (f" [dim](detected {r.time_to_detect_s:.1f}s after injection)[/]"
                        if r.time_to_detect_s is not None else "")
                self._print(f"      [green]✓[/] {_safe(r.description)}{when}")
            else:
                self._print(f"      [red]✗ {_safe(r.message)}[/]")

    def cleanup_finished(self, record: records.ScenarioRecord,
                         cleanup: records.CleanupRecord) -> None:
        """What cleanup removed."""
        parts = []
        if cleanup.kept:
            parts.append(cleanup.kept)
        elif cleanup.namespace_deleted:
            parts.append(f"namespace {cleanup.namespace} deleted")
        if cleanup.nodes_removed:
            parts.append(f"node(s) {', '.join(cleanup.nodes_removed)} removed")
        if cleanup.nodes_uncordoned:
            parts.append(f"node(s) {', '.join(cleanup.nodes_uncordoned)} uncordoned")
        if cleanup.images_deleted:
            parts.append(f"{len(cleanup.images_deleted)} pushed image manifest(s) deleted "
                         "from the registry")
        parts += [f"[red]{_safe(e)}[/]" for e in cleanup.errors]
        if parts:
            self._print(f"  [dim]cleanup: {'; '.join(parts)} ({cleanup.duration_s:.1f}s)[/]")

    def scenario_finished(self, record: records.ScenarioRecord) -> None:
        """The verdict."""
        word = result_word(record)
        why = f": {_safe(record.error)}" if record.error else ""
        self._print(f"  [{_STYLE[word]}]{word.upper()}[/] in {record.duration_s:.1f}s{why}")


def summary(run: records.RunRecord, console: Console, folder: Path | None = None) -> None:
    """The summary table, the totals, and where the files are."""
    table = Table(title="Scenario results", title_justify="left", show_lines=False)
    table.add_column("scenario")
    table.add_column("result")
    table.add_column("expectations", justify="right")
    table.add_column("time to detect", justify="right")
    table.add_column("duration", justify="right")
    for rec in run.scenarios:
        word = result_word(rec)
        results = rec.results
        met = sum(r.met for r in results)
        detect = [s.time_to_detect_s for s in rec.scans if s.time_to_detect_s is not None
                  and any(r.kind == "fires" and r.met for r in s.results)]
        table.add_row(_safe(rec.scenario.name), f"[{_STYLE[word]}]{word}[/]",
                      f"{met}/{len(results)}" if results else "-",
                      ", ".join(f"{t:.1f}s" for t in detect) or "-",
                      f"{rec.duration_s:.1f}s" if rec.started else "-")
    console.print(table)
    counts: dict[str, int] = {}
    for rec in run.scenarios:
        word = result_word(rec)
        counts[word] = counts.get(word, 0) + 1
    totals = ", ".join(f"{n} {w}" for w, n in counts.items())
    many = "scenario" if len(run.scenarios) == 1 else "scenarios"
    console.print(f"{len(run.scenarios)} {many}: {totals or 'none'} — run {run.status.value} "
                  f"in {run.duration_s:.1f}s", highlight=False)
    if run.error:
        console.print(f"[red]{_safe(run.error)}[/]", highlight=False)
    if folder is not None:
        if (folder / outputs.VALIDATION).is_file():
            console.print(f"page:    {folder / outputs.VALIDATION}", highlight=False,
                          soft_wrap=True)
        console.print(f"journal: {folder / outputs.JOURNAL}", highlight=False, soft_wrap=True)
        console.print(f"junit:   {folder / outputs.JUNIT}", highlight=False, soft_wrap=True)
        pages = [s.html_file for rec in run.scenarios for s in rec.scans if s.html_file]
        scans = [s.report_file for rec in run.scenarios for s in rec.scans if s.report_file]
        if scans:
            kind = "HTML and JSON" if pages else "JSON"
            console.print(f"scans:   {folder / outputs.SCANS}/ ({len(scans)} reports, {kind})",
                          highlight=False, soft_wrap=True)
