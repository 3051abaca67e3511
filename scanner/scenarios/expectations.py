"""Check a scan's report against what the scenario expects; say expected vs found.

``running`` calls :func:`evaluate` after every ``scan`` step. Pure functions over the
report model, so unit tests feed them hand-built reports.

How the counts are read from a finding:

* **digests** — distinct digests the finding observed among live pods (its ``observed``);
* **revisions** — the revisions the finding's evidence names
  (:meth:`scanner.evidence.Evidence.revision_count`: the revisions holding pods, the
  revisions by digest, ``1`` for the single drifted revision); otherwise the revisions of
  the workload's pods that run the finding's container.

``clean: true`` holds when no finding of a drift rule is in the report (``Rule.concern``;
tag hygiene — ``floating-tag``, ``mutable-tag`` and ``pull-policy-divergence`` — may fire)
and the scan saw everything it asked for (no gaps): a partial scan proves nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from scanner import detectors, evidence, findings
from scanner.report import document as report_model
from scanner.scenarios import definitions as d
from scanner.scenarios import records

__all__ = ["Seen", "evaluate", "is_drift", "seen_findings"]


@dataclass(frozen=True)
class Seen:
    """A finding of the report, reduced to what expectations compare."""

    rule: str
    family: str
    drift: bool
    """Whether the rule reports drift (tag hygiene does not break ``clean: true``)."""
    severity: findings.Severity
    kind: str
    namespace: str
    name: str
    container: str | None
    digests: int
    revisions: int
    message: str

    @property
    def workload(self) -> str:
        """``Kind/name``."""
        return f"{self.kind}/{self.name}"

    def describe(self) -> str:
        """``digest-drift on Deployment/x container c (high, 2 digests, 1 revision)``."""
        container = f" container {self.container}" if self.container else ""
        return (f"{self.rule} on {self.workload}{container} ({self.severity.value}, "
                f"{_plural(self.digests, 'digest')}, {_plural(self.revisions, 'revision')})")

    def to_json(self) -> dict[str, Any]:
        """Plain data for the journal."""
        return {"rule": self.rule, "family": self.family, "severity": self.severity.value,
                "workload": self.workload, "namespace": self.namespace,
                "container": self.container, "digests": self.digests,
                "revisions": self.revisions, "message": self.message}


def is_drift(seen: Seen) -> bool:
    """True for drift rules (everything but tag hygiene)."""
    return seen.drift


def seen_findings(report: report_model.Report) -> list[Seen]:
    """Every finding of the report, with its digest and revision counts."""
    families = {r.id: r.family for r in report.rules}
    hygiene = set(detectors.RULES.ids(lambda rule: not rule.drift))
    out = []
    for w in report.workloads:
        for f in w.findings:
            out.append(Seen(
                rule=f.rule, family=families.get(f.rule, "unknown"),
                drift=f.rule not in hygiene,
                severity=findings.Severity(f.severity), kind=w.kind, namespace=w.namespace,
                name=w.name, container=f.container, digests=len(set(f.observed)),
                revisions=_revisions(f, w), message=f.message))
    return out


def _revisions(f: report_model.FindingEntry, w: report_model.WorkloadEntry) -> int:
    named = evidence.from_json(f.rule, f.evidence).revision_count()
    if named is not None:
        return named
    names = {r for c in w.containers if f.container in (None, c.name)
             for dg in c.digests for r in dg.revisions}
    return len(names)


def evaluate(expect: d.ScanExpectation, report: report_model.Report,
             time_to_detect_s: float | None = None) -> list[records.ExpectationResult]:
    """Check every expectation of one scan; one result per expectation, in file order."""
    seen = seen_findings(report)
    results = [_fires(expect.label, e, seen, report, time_to_detect_s) for e in expect.fires]
    results += [_absent(expect.label, e, seen) for e in expect.absent]
    if expect.clean is not None:
        results.append(_clean(expect.label, expect.clean, seen, report))
    return results


def _fires(label: str, e: d.Fires, seen: list[Seen], report: report_model.Report,
           time_to_detect_s: float | None) -> records.ExpectationResult:
    def where(s: Seen) -> bool:
        return s.workload == str(e.workload) and (e.container is None
                                                   or s.container == e.container)

    candidates = [s for s in seen if s.rule == e.rule and where(s)]
    matching = [s for s in candidates if _satisfies(e, s)]
    if matching:
        return records.ExpectationResult(
            scan=label, kind="fires", expected=e.to_json(), description=e.describe(), met=True,
            found=[s.to_json() for s in matching], wanted=e.describe(),
            detected=f"found {_join(s.describe() for s in matching)}",
            time_to_detect_s=time_to_detect_s)
    on_workload = [s for s in seen if s.workload == str(e.workload)]
    if candidates:
        found = f"found {_join(s.describe() for s in candidates)}"
    else:
        target = f"{e.workload}" + (f" container {e.container}" if e.container else "")
        if on_workload:
            found = (f"found no {e.rule} on {target}; its findings: " + _join(
                f"{s.rule}{f' (container {s.container})' if e.container and s.container else ''}"
                f" ({s.severity.value})" for s in on_workload))
        elif any(w.kind == e.workload.kind and w.name == e.workload.name
                 for w in report.workloads):
            found = f"found no finding at all on {e.workload}"
        else:
            found = (f"found no workload {e.workload} in the scan (it saw "
                     f"{_plural(len(report.workloads), 'workload')})")
    return records.ExpectationResult(
        scan=label, kind="fires", expected=e.to_json(), description=e.describe(), met=False,
        found=[s.to_json() for s in candidates], wanted=e.describe(), detected=found)


def _satisfies(e: d.Fires, s: Seen) -> bool:
    return ((e.severity is None or s.severity.rank >= e.severity.rank)
            and (e.digests is None or e.digests.holds(s.digests))
            and (e.revisions is None or e.revisions.holds(s.revisions)))


def _absent(label: str, e: d.Absent, seen: list[Seen]) -> records.ExpectationResult:
    def hit(s: Seen) -> bool:
        if e.rule is not None and s.rule != e.rule:
            return False
        if e.rule is None and not is_drift(s):
            return False
        if e.workload is not None and s.workload != str(e.workload):
            return False
        return e.container is None or s.container == e.container

    offending = [s for s in seen if hit(s)]
    detected = ("found none" if not offending
                else f"found {_join(s.describe() for s in offending)}")
    return records.ExpectationResult(
        scan=label, kind="absent", expected=e.to_json(), description=e.describe(),
        met=not offending, found=[s.to_json() for s in offending], wanted=e.describe(),
        detected=detected)


def _clean(label: str, clean: bool, seen: list[Seen],
           report: report_model.Report) -> records.ExpectationResult:
    drift = [s for s in seen if is_drift(s)]
    description = "clean: no drift finding" if clean else "not clean: some drift finding"
    if clean and report.gaps:
        reasons = _join(f"{g.kind} ({g.reason})" for g in report.gaps)
        return records.ExpectationResult(
            scan=label, kind="clean", expected={"clean": True}, description=description,
            met=False, found=[], wanted="a clean scan",
            detected=f"the scan is incomplete ({reasons}), so it cannot prove that")
    met = not drift if clean else bool(drift)
    found = "found none" if not drift else f"found {_join(s.describe() for s in drift)}"
    return records.ExpectationResult(
        scan=label, kind="clean", expected={"clean": clean}, description=description,
        met=met, found=[s.to_json() for s in drift],
        wanted="no drift finding" if clean else "some drift finding", detected=found)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _join(parts: Iterable[str], limit: int = 6) -> str:
    items = list(parts)
    shown = "; ".join(items[:limit])
    return shown + (f"; and {len(items) - limit} more" if len(items) > limit else "")
