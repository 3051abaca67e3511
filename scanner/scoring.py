"""Per-workload exposure score (0–100) and grade (A–F), every point traced to a finding.

The report shows each workload's score with its breakdown; docs/scoring.md explains the
table below. A finding is worth its severity's points, plus, for rules that observe more
than one build at once (``digest-drift``, ``rollout-version-mix``,
``overlapping-rollout``):

* +5 per distinct build beyond two (at most +15);
* +10 when a Service sends ready traffic to more than one build;
* +3 per upstream workload that calls the drifted one (at most +15), counted once per
  workload, on its first such finding.

The score is the sum, capped at 100. Points depend only on sets that grow when pods are
added and shrink when images are pinned, so adding a drifted pod never lowers a score and
pinning a digest never raises one (both are property-tested).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from scanner import detectors, findings, initializers, model

__all__ = [
    "GRADES",
    "SEVERITY_POINTS",
    "ScoreItem",
    "WorkloadScore",
    "grade",
    "score",
    "score_all",
]

SEVERITY_POINTS = {
    findings.Severity.INFO: 0,
    findings.Severity.LOW: 5,
    findings.Severity.MEDIUM: 15,
    findings.Severity.HIGH: 30,
    findings.Severity.CRITICAL: 50,
}
MULTI_BUILD_RULES = frozenset(detectors.RULES.ids(lambda rule: rule.counts_builds))
"""Rules whose score counts builds, split Services and callers (``Rule.counts_builds``)."""
PER_EXTRA_BUILD = 5
MAX_EXTRA_BUILDS = 15
SPLIT_TRAFFIC = 10
PER_CALLER = 3
MAX_CALLERS = 15
MAX_SCORE = 100

GRADES = (("A", 0), ("B", 10), ("C", 25), ("D", 40), ("F", 60))
"""Grade and the lowest score that earns it."""


@initializers.fast_init
@dataclass(frozen=True)
class ScoreItem:
    """The points one finding contributes, with the reason for each part."""

    rule: str
    container: str | None
    severity: findings.Severity
    points: int
    reasons: tuple[str, ...]


@initializers.fast_init
@dataclass(frozen=True)
class WorkloadScore:
    """A workload's score, grade and the items that add up to it."""

    workload: model.WorkloadRef
    score: int
    grade: str
    items: tuple[ScoreItem, ...]
    uncapped: int
    """Sum of the items before the cap at 100."""


def grade(value: int) -> str:
    """The letter for a score: A 0–9, B 10–24, C 25–39, D 40–59, F 60–100."""
    letter = GRADES[0][0]
    for name, lowest in GRADES:
        if value >= lowest:
            letter = name
    return letter


def _split_services(finding: findings.Finding) -> list[str]:
    return [t.service for t in finding.evidence.traffic() if t.split]


def _callers(finding: findings.Finding) -> int:
    return len(finding.evidence.upstream())


def _item(finding: findings.Finding, *, count_callers: bool) -> ScoreItem:
    base = SEVERITY_POINTS[finding.severity]
    points = base
    reasons = [f"{finding.severity.value} severity: {base}"]
    if finding.rule in MULTI_BUILD_RULES:
        builds = len(finding.observed)
        extra = min(MAX_EXTRA_BUILDS, PER_EXTRA_BUILD * max(0, builds - 2))
        if extra:
            points += extra
            reasons.append(f"{builds} builds at once: +{extra}")
        split = _split_services(finding)
        if split:
            points += SPLIT_TRAFFIC
            reasons.append(
                f"Service {', '.join(sorted(split))} splits traffic across builds:"
                f" +{SPLIT_TRAFFIC}"
            )
        callers = _callers(finding) if count_callers else 0
        if callers:
            extra = min(MAX_CALLERS, PER_CALLER * callers)
            points += extra
            reasons.append(f"{callers} upstream caller(s): +{extra}")
    return ScoreItem(finding.rule, finding.container, finding.severity, points, tuple(reasons))


def score(ref: model.WorkloadRef, workload_findings: Iterable[findings.Finding]) -> WorkloadScore:
    """Score one workload from its findings (order-independent)."""
    ordered = sorted(workload_findings, key=lambda f: f.sort_key())
    items = []
    callers_counted = False
    for finding in ordered:
        count = finding.rule in MULTI_BUILD_RULES and not callers_counted and bool(
            _callers(finding)
        )
        items.append(_item(finding, count_callers=count))
        callers_counted = callers_counted or count
    total = sum(i.points for i in items)
    capped = min(MAX_SCORE, total)
    return WorkloadScore(ref, capped, grade(capped), tuple(items), total)


def score_all(
    refs: Iterable[model.WorkloadRef], all_findings: Iterable[findings.Finding]
) -> dict[model.WorkloadRef, WorkloadScore]:
    """Score every workload in ``refs``; workloads without findings score 0 (A)."""
    grouped: dict[model.WorkloadRef, list[findings.Finding]] = defaultdict(list)
    for finding in all_findings:
        grouped[finding.workload].append(finding)
    return {ref: score(ref, grouped.get(ref, ())) for ref in refs}
