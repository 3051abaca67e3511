"""The report as rich tables on an injected ``Console``: worst workloads first.

Gaps are printed first and again in the summary line, in red, so a partial scan never
looks clean. Workloads without findings are counted, not listed. Tests render with
``Console(file=StringIO(), width=100, color_system=None)`` and compare text.
"""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from scanner.report import document as report_model
from scanner.report import plain

__all__ = ["render", "summary_line"]

SEVERITY_STYLE = {
    "critical": "bold white on red",
    "high": "bold red",
    "medium": "yellow",
    "low": "cyan",
    "info": "dim",
}
_GRADE_STYLE = {"A": "green", "B": "green", "C": "yellow", "D": "red", "F": "bold red"}
_ORDER = ("critical", "high", "medium", "low", "info")
_MINOR = frozenset({"low", "info"})


def summary_line(report: report_model.Report) -> str:
    """One line: workloads, findings per severity, worst score, and completeness."""
    s = report.summary
    counts = ", ".join(f"{s.by_severity.get(k, 0)} {k}" for k in _ORDER if s.by_severity.get(k))
    findings_text = f"findings: {counts}" if counts else "no findings"
    worst = next((w for w in report.workloads if w.score == s.max_score), None)
    worst_text = f"max score {s.max_score}" + (f" ({worst.grade})" if worst else "")
    line = (
        f"{s.workloads} workloads, {s.pods} pods, {s.with_findings} with findings;"
        f" {findings_text}; {worst_text}"
    )
    if report.gaps:
        line += f"; INCOMPLETE: {len(report.gaps)} gap(s), see above"
    return line


def render(report: report_model.Report, console: Console) -> None:
    """Print what was scanned, gaps, the workload table, finding details and the summary."""
    console.print(plain.text(f"Scanned {_scanned(report)}", "dim"), soft_wrap=True)
    if report.gaps:
        _gaps(report, console)
    flagged = [w for w in report.workloads if w.findings]
    if flagged:
        _table(flagged, console, fleet=len(report.clusters) > 1)
        detailed = [w for w in flagged if any(f.severity not in _MINOR for f in w.findings)]
        for w in detailed:
            _details(w, console)
        if len(detailed) < len(flagged):
            console.print(
                f"{len(flagged) - len(detailed)} workload(s) with only low/info findings:"
                " messages and pin commands are in --format json.",
                style="dim", highlight=False,
            )
    elif not report.workloads and not report.summary.pods:
        console.print(f"Nothing to scan: no workloads or pods in {report.source.scope()}.",
                      style="bold" if report.gaps else "yellow", highlight=False)
    else:
        console.print("No drift findings.", style="green")
    clean = len(report.workloads) - len(flagged)
    if clean and flagged:
        console.print(f"{clean} workload(s) without findings not listed.", style="dim")
    style = "bold red" if report.gaps else ("bold" if flagged else "bold green")
    console.print(plain.text(summary_line(report), style), soft_wrap=True)


def _scanned(report: report_model.Report) -> str:
    """What was scanned; a fleet scan names its clusters and which were unreachable."""
    if not report.clusters:
        return report.source.describe()
    names = ", ".join(c.name + ("" if c.reachable else " (unreachable)")
                      for c in report.clusters)
    return f"{len(report.clusters)} clusters ({names}), {report.source.scope()}"


def _gaps(report: report_model.Report, console: Console) -> None:
    table = Table(
        title=f"INCOMPLETE SCAN: {len(report.gaps)} part(s) of the cluster were not read",
        title_style="bold red",
        box=box.SIMPLE,
        show_edge=False,
    )
    fleet = len(report.clusters) > 1
    if fleet:
        table.add_column("Cluster")
    table.add_column("Kind", style="red")
    table.add_column("Namespace")
    table.add_column("Reason", overflow="fold")
    for gap in report.gaps:
        row = [plain.text(gap.kind), plain.text(gap.namespace or "(all)"),
               plain.text(gap.reason)]
        table.add_row(*([plain.text(gap.cluster or "")] if fleet else []), *row)
    console.print(table)


def _table(workloads: list[report_model.WorkloadEntry], console: Console, *,
           fleet: bool = False) -> None:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("Score", justify="right")
    table.add_column("Grade", justify="center")
    if fleet:
        table.add_column("Cluster", overflow="fold")
    table.add_column("Workload", overflow="fold")
    table.add_column("Builds", justify="right")
    table.add_column("Findings", overflow="fold")
    for w in workloads:
        builds = max((len(c.digests) for c in w.containers), default=0)
        rules = Text()
        for i, f in enumerate(w.findings):
            if i:
                rules.append(", ")
            rules.append(plain.clean(f.rule), style=SEVERITY_STYLE.get(f.severity, ""))
            rules.append(f" ({plain.clean(f.severity)})")
        table.add_row(
            str(w.score),
            plain.text(w.grade, _GRADE_STYLE.get(w.grade, "")),
            *([plain.text(w.cluster or "")] if fleet else []),
            plain.text(w.label),
            str(builds),
            rules,
        )
    console.print(table)


def _details(w: report_model.WorkloadEntry, console: Console) -> None:
    """Findings at medium or above in full, lower ones on one line, each fix once."""
    major = [f for f in w.findings if f.severity not in _MINOR]
    minor = [f for f in w.findings if f.severity in _MINOR]
    where = f"[{w.cluster}] " if w.cluster else ""
    console.print(plain.text(f"{where}{w.label}  score {w.score} ({w.grade})", "bold"))
    fixes: list[str] = []
    for f in major:
        line = Text("  ")
        line.append(plain.clean(f"[{f.severity}] {f.rule}"),
                    style=SEVERITY_STYLE.get(f.severity, ""))
        line.append(plain.clean(f" +{f.points}: {f.message}"))
        console.print(line, soft_wrap=True)
        if f.remediation and f.remediation not in fixes:
            fixes.append(f.remediation)
    if minor:
        names = sorted({f"{f.rule} ({f.severity})" for f in minor})
        console.print(plain.text(f"  also: {', '.join(names)} +{sum(f.points for f in minor)}"))
    for fix in fixes:
        # One physical line, so commands can be copied whole.
        console.print(plain.text(f"    fix: {fix}", "dim"), soft_wrap=True)
