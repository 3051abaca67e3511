"""``driftscan report --history DIR``: one page over many saved reports.

:func:`load` reads every ``driftscan/report/v1`` JSON file under DIR (recursively;
other JSON such as a scenario ``journal.json`` is listed as skipped), orders them by
``generated_at`` and computes:

* findings by severity per report, drawn as inline SVG stacked bars (no JavaScript);
* the workloads that stayed drifted longest — *drifted* meaning its pods ran more than
  one build of a container — from the first report that saw it drifted to the first
  later report that saw it on one build (or to the last report, still open);
* mean time to resolve: for every finding (workload, rule, container) that appeared and
  later disappeared from a report that still lists the workload, the time between the
  two reports. A workload missing from a later report (another scope) closes nothing.

:func:`write` renders ``templates/history.html.j2``.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from markupsafe import Markup

from scanner import errors
from scanner.report import document as report_model
from scanner.report import html, saved_report, svg

__all__ = ["HistoryPage", "Point", "Skipped", "Streak", "duration", "load", "page_of",
           "render", "summary_line", "write"]

SEVERITY_COLOURS = {"critical": "#822727", "high": "#c53030", "medium": "#d69e2e",
                    "low": "#90cdf4", "info": "#cbd5e0"}
_LONGEST = 15


@dataclass(frozen=True)
class Point:
    """One report on the time line."""

    path: str
    generated_at: str
    source: str
    by_severity: dict[str, int]
    workloads: int
    with_findings: int
    complete: bool
    cluster_id: str | None = None
    """``provenance.cluster.id``: reports of several clusters in one history show it."""

    @property
    def total(self) -> int:
        """Findings of every severity."""
        return sum(self.by_severity.values())


@dataclass(frozen=True)
class Streak:
    """A workload that stayed drifted across reports."""

    workload: str
    since: str
    until: str
    seconds: float
    reports: int
    open: bool
    """Still drifted in the last report that lists it."""


@dataclass(frozen=True)
class Skipped:
    """A JSON file under DIR that is not a report."""

    path: str
    reason: str


@dataclass(frozen=True)
class HistoryPage:
    """Everything the history page shows."""

    folder: str
    points: tuple[Point, ...]
    chart: Markup
    longest: tuple[Streak, ...]
    resolved: int
    """Findings that appeared and were later resolved."""
    open: int
    """Findings still present in the last report that lists their workload."""
    mean_seconds_to_resolve: float | None
    skipped: tuple[Skipped, ...]

    @property
    def clusters(self) -> tuple[str, ...]:
        """The distinct cluster ids the reports name (empty for dumps and older reports)."""
        return tuple(sorted({p.cluster_id for p in self.points if p.cluster_id}))


def _time(stamp: str) -> datetime.datetime:
    try:
        return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return datetime.datetime.min.replace(tzinfo=datetime.UTC)


def duration(seconds: float) -> str:
    """``3d 4h``, ``2h 5m``, ``4m 10s`` or ``12s``."""
    s = int(round(seconds))
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {s}s"
    return f"{s}s"


def load(folder: str | Path) -> HistoryPage:
    """Read every report under ``folder`` and compute the page.

    Raises:
        errors.InputError: not a folder, or no report in it.
    """
    root = Path(folder)
    if not root.is_dir():
        raise errors.InputError(f"{root}: not a folder",
                                hint="pass the folder your saved JSON reports are in")
    reports: list[tuple[str, report_model.Report]] = []
    skipped: list[Skipped] = []
    for path in sorted(root.rglob("*.json")):
        name = str(path)
        try:
            data = saved_report.read_object(path)
            if data.get("schema") != report_model.SCHEMA:
                skipped.append(Skipped(name, f"not a report (schema {data.get('schema')!r})"))
                continue
            reports.append((name, saved_report.from_data(data, name=name)))
        except errors.InputError as e:
            skipped.append(Skipped(name, e.message))
    if not reports:
        raise errors.InputError(
            f"{root}: no driftscan JSON report in it ({len(skipped)} other JSON file(s))",
            hint="save reports with `driftscan scan --format json -o DIR/scan-$(date +%F).json`")
    return page_of(str(root), reports, skipped)


def page_of(folder: str, reports: list[tuple[str, report_model.Report]],
            skipped: list[Skipped] | None = None) -> HistoryPage:
    """The history of ``reports`` (any order; sorted by ``generated_at``, then path)."""
    ordered = sorted(reports, key=lambda pr: (_time(pr[1].generated_at), pr[0]))
    points = tuple(_point(path, r) for path, r in ordered)
    streaks = _streaks([r for _, r in ordered])
    resolved, still_open = _resolutions([r for _, r in ordered])
    return HistoryPage(
        folder=folder,
        points=points,
        chart=_chart(points),
        longest=tuple(sorted(streaks, key=lambda s: (-s.seconds, -s.reports, s.workload)
                             )[:_LONGEST]),
        resolved=len(resolved),
        open=still_open,
        mean_seconds_to_resolve=sum(resolved) / len(resolved) if resolved else None,
        skipped=tuple(skipped or ()),
    )


def _point(path: str, r: report_model.Report) -> Point:
    src = r.source
    source = f"context {src.context}" if src.type == "live" else "dump"
    if src.namespaces:
        source += " · " + ", ".join(src.namespaces)
    return Point(path, r.generated_at, source, dict(r.summary.by_severity),
                 r.summary.workloads, r.summary.with_findings, not r.gaps,
                 r.provenance.cluster_id if r.provenance else None)


def _drifted(w: report_model.WorkloadEntry) -> bool:
    return any(len(c.digests) > 1 for c in w.containers)


def _streaks(reports: list[report_model.Report]) -> list[Streak]:
    open_since: dict[str, tuple[str, int, str]] = {}  # workload -> (since, reports, last)
    result: list[Streak] = []

    def close(label: str, until: str, still_open: bool) -> None:
        since, count, _ = open_since.pop(label)
        result.append(Streak(label, since, until,
                             (_time(until) - _time(since)).total_seconds(), count, still_open))

    for r in reports:
        for w in r.workloads:
            label = f"{w.kind} {w.namespace}/{w.name}"
            if _drifted(w):
                since, count, _ = open_since.get(label, (r.generated_at, 0, ""))
                open_since[label] = (since, count + 1, r.generated_at)
            elif label in open_since:
                close(label, r.generated_at, False)
    for label in list(open_since):
        close(label, open_since[label][2], True)
    return result


def _resolutions(reports: list[report_model.Report]) -> tuple[list[float], int]:
    opened: dict[str, dict[tuple[str, str], str]] = {}  # workload -> finding -> since
    resolved: list[float] = []
    for r in reports:
        now = _time(r.generated_at)
        for w in r.workloads:
            mine = opened.setdefault(f"{w.kind}/{w.namespace}/{w.name}", {})
            present = {(f.rule, f.container or "") for f in w.findings}
            for key in [k for k in mine if k not in present]:
                resolved.append((now - _time(mine.pop(key))).total_seconds())
            for key in present:
                mine.setdefault(key, r.generated_at)
    return resolved, sum(len(m) for m in opened.values())


def _chart(points: tuple[Point, ...]) -> Markup:
    """Stacked bars of findings per severity, one bar per report, oldest left."""
    height, top, bottom, left = 180, 10, 40, 36
    bar = max(6, min(40, 700 // max(1, len(points))))
    gap = max(2, bar // 4)
    width = left + len(points) * (bar + gap) + 10
    peak = max((p.total for p in points), default=0) or 1
    scale = (height - top - bottom) / peak
    parts = [f'<svg class="history" xmlns="http://www.w3.org/2000/svg" width="{width}"'
             f' height="{height}" viewBox="0 0 {width} {height}" role="img"'
             f' aria-label="findings by severity in each of {len(points)} reports">',
             f'<text x="2" y="{top + 8}" class="axis">{peak}</text>',
             f'<text x="2" y="{height - bottom}" class="axis">0</text>',
             f'<line x1="{left - 4}" y1="{height - bottom}" x2="{width}"'
             f' y2="{height - bottom}" stroke="#a0aec0"/>']
    for i, p in enumerate(points):
        x = left + i * (bar + gap)
        y = float(height - bottom)
        for severity in ("info", "low", "medium", "high", "critical"):
            count = p.by_severity.get(severity, 0)
            if not count:
                continue
            h = count * scale
            y -= h
            parts.append(f'<rect x="{x}" y="{y:.1f}" width="{bar}" height="{h:.1f}"'
                         f' fill="{SEVERITY_COLOURS[severity]}"><title>'
                         f'{svg.escape(p.generated_at)}: {count} {severity}</title></rect>')
        if i == 0 or i == len(points) - 1 or len(points) <= 12:
            parts.append(f'<text x="{x}" y="{height - bottom + 14}" class="axis">'
                         f'{svg.escape(p.generated_at[5:16].replace("T", " "))}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above is escaped or a number


def summary_line(page: HistoryPage) -> str:
    """``12 report(s) from … to …; mean time to resolve 4m 10s (7 resolved, 3 open)``."""
    mttr = (duration(page.mean_seconds_to_resolve)
            if page.mean_seconds_to_resolve is not None else "n/a")
    return (f"{len(page.points)} report(s) from {page.points[0].generated_at} to"
            f" {page.points[-1].generated_at}; mean time to resolve {mttr}"
            f" ({page.resolved} resolved, {page.open} open)")


def render(page: HistoryPage) -> str:
    """The history as one self-contained HTML page."""
    return html.environment().get_template("history.html.j2").render(
        page=page, security=html.page_security(), duration=duration,
        colours=SEVERITY_COLOURS, summary=summary_line(page))


def write(page: HistoryPage, output: str | Path) -> None:
    """Render the page into ``output``.

    Raises:
        errors.InputError: the file cannot be written.
    """
    target = Path(output)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render(page), encoding="utf-8")
    except OSError as e:
        raise errors.InputError(f"cannot write {target}: {e.strerror}") from e
