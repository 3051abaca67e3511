"""Expectations against real reports (rule fixtures through the whole pipeline): met when the
finding is there with the severity and counts asked for, and otherwise a message that says
what was expected and what was found."""

from __future__ import annotations

import dataclasses

import pytest

from scanner import findings
from scanner.report import document as report_model
from scanner.scenarios import definitions as d
from scanner.scenarios import expectations
from tests.unit import helpers


def report(fixture: str) -> report_model.Report:
    return helpers.report_for(helpers.load(helpers.FIXTURES / fixture))


REPUSHED = "digest-drift/fires-repushed-tag.json"
THREE = "rollout-version-mix/fires-three-revisions.json"
PINNED = "digest-drift/clean-pinned-control.json"
WEB = d.WorkloadName("Deployment", "web")


def fires(**kw: object) -> d.ScanExpectation:
    return d.ScanExpectation("s", fires=(d.Fires(**kw),))  # type: ignore[arg-type]


def test_seen_findings_count_digests_and_revisions() -> None:
    seen = {s.rule: s for s in expectations.seen_findings(report(THREE))}
    assert (seen["overlapping-rollout"].digests, seen["overlapping-rollout"].revisions) == (3, 3)
    assert seen["rollout-version-mix"].container == "web"
    assert seen["overlapping-rollout"].family == "rollouts"
    drift = {s.rule: s for s in expectations.seen_findings(report(REPUSHED))}["digest-drift"]
    assert (drift.digests, drift.revisions, drift.severity) == (2, 1, findings.Severity.HIGH)


def test_fires_met_with_severity_and_counts() -> None:
    (result,) = expectations.evaluate(
        fires(rule="digest-drift", workload=WEB, container="web",
              severity=findings.Severity.HIGH, digests=d.Count(2, 2),
              revisions=d.Count(1, 1)), report(REPUSHED), time_to_detect_s=2.5)
    assert result.met and result.kind == "fires"
    assert result.time_to_detect_s == 2.5
    assert result.message == ("expected digest-drift on Deployment/web container web (severity "
                              "≥ high, digests 2, revisions 1); found digest-drift on "
                              "Deployment/web container web (high, 2 digests, 1 revision)")
    # Expected and found are kept as data; the sentence is only their join.
    assert result.wanted == ("digest-drift on Deployment/web container web (severity ≥ high,"
                             " digests 2, revisions 1)")
    assert result.detected == ("found digest-drift on Deployment/web container web (high,"
                               " 2 digests, 1 revision)")
    assert result.found[0]["rule"] == "digest-drift"


@pytest.mark.parametrize(("kw", "found"), [
    ({"severity": findings.Severity.CRITICAL}, "found digest-drift on Deployment/web container "
                                               "web (high, 2 digests, 1 revision)"),
    ({"digests": d.Count(3, 3)}, "(high, 2 digests, 1 revision)"),
    ({"revisions": d.Count(2, None)}, "(high, 2 digests, 1 revision)"),
    ({"container": "sidecar"}, "found no digest-drift on Deployment/web container sidecar; "
                               "its findings: digest-drift (container web) (high)"),
])
def test_fires_missed_says_expected_and_found(kw: dict[str, object], found: str) -> None:
    args: dict[str, object] = {"rule": "digest-drift", "workload": WEB, **kw}
    (result,) = expectations.evaluate(fires(**args), report(REPUSHED), time_to_detect_s=1.0)
    assert not result.met
    assert result.time_to_detect_s is None
    assert result.message.startswith("expected digest-drift on Deployment/web")
    assert found in result.message


def test_fires_missed_names_what_the_workload_has_instead() -> None:
    (result,) = expectations.evaluate(fires(rule="overlapping-rollout", workload=WEB),
                                      report(REPUSHED))
    assert not result.met
    assert result.message == ("expected overlapping-rollout on Deployment/web; found no "
                              "overlapping-rollout on Deployment/web; its findings: "
                              "digest-drift (high); mutable-tag (low)")


def test_fires_missed_for_a_workload_the_scan_did_not_see() -> None:
    (result,) = expectations.evaluate(
        fires(rule="digest-drift", workload=d.WorkloadName("StatefulSet", "db")), report(REPUSHED))
    assert not result.met
    assert "found no workload StatefulSet/db in the scan (it saw 2 workloads)" in result.message


def test_count_ranges() -> None:
    assert d.Count(2, None).holds(3) and not d.Count(2, None).holds(1)
    assert d.Count(None, 2).holds(0) and not d.Count(None, 2).holds(3)
    assert str(d.Count(2, 3)) == "2–3" and str(d.Count(2, 2)) == "2"
    (result,) = expectations.evaluate(
        fires(rule="overlapping-rollout", workload=WEB, digests=d.Count(2, 3)), report(THREE))
    assert result.met


def test_absent_by_rule_by_workload_and_by_container() -> None:
    drift_report = report(REPUSHED)
    expect = d.ScanExpectation("s", absent=(
        d.Absent(rule="overlapping-rollout"),
        d.Absent(rule="digest-drift"),
        d.Absent(workload=WEB),
        d.Absent(workload=WEB, container="other"),
        d.Absent(rule="mutable-tag", workload=d.WorkloadName("Deployment", "frontend")),
    ))
    results = expectations.evaluate(expect, drift_report)
    assert [r.met for r in results] == [True, False, False, True, True]
    assert results[1].message == ("expected no digest-drift anywhere; found digest-drift on "
                                  "Deployment/web container web (high, 2 digests, 1 revision)")
    # A workload without a rule means "no drift finding": tag hygiene does not count.
    assert [f["rule"] for f in results[2].found] == ["digest-drift"]


def test_clean_allows_tag_hygiene_but_not_drift() -> None:
    (drift,) = expectations.evaluate(d.ScanExpectation("s", clean=True), report(REPUSHED))
    assert not drift.met
    assert drift.message.startswith("expected no drift finding; found digest-drift on")
    assert "mutable-tag" not in drift.message
    (pinned,) = expectations.evaluate(d.ScanExpectation("s", clean=True), report(PINNED))
    assert pinned.met and pinned.message == "expected no drift finding; found none"
    (not_clean,) = expectations.evaluate(d.ScanExpectation("s", clean=False), report(PINNED))
    assert not not_clean.met


def test_clean_is_not_proven_by_an_incomplete_scan() -> None:
    partial = dataclasses.replace(report(PINNED), gaps=(
        report_model.GapEntry("Pod", "shop", "forbidden: RBAC denies list"),))
    (result,) = expectations.evaluate(d.ScanExpectation("s", clean=True), partial)
    assert not result.met
    assert "the scan is incomplete (Pod (forbidden: RBAC denies list))" in result.message


def test_results_come_in_file_order() -> None:
    expect = d.ScanExpectation(
        "s", fires=(d.Fires("digest-drift", WEB), d.Fires("mutable-tag", WEB)),
        absent=(d.Absent(rule="paused-rollout"),), clean=False)
    kinds = [r.kind for r in expectations.evaluate(expect, report(REPUSHED))]
    assert kinds == ["fires", "fires", "absent", "clean"]
