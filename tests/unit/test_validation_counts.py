"""The validation page counts drift findings apart from tag-hygiene ones, so a baseline
with only tag findings does not read "1 of 1 workloads with findings" beside "clean"."""

from __future__ import annotations

from scanner import detectors
from scanner.report import json_format, validation
from tests import htmltree, kubedump
from tests.unit import helpers


def _report(rule: str, name: str) -> dict[str, object]:
    return json_format.to_dict(helpers.report_for(helpers.load(helpers.FIXTURES / rule / name)))


def _scan_lines() -> dict[str, str]:
    journal = kubedump.sample_journal({
        "repushed": _report("digest-drift", "fires-repushed-tag.json"),
        "stalled": _report("stalled-rollout", "fires-errimagepull-deadline.json"),
        "control": _report("mutable-tag", "fires-versioned-tag.json"),
    })
    page = htmltree.parse(validation.render_validation(journal))
    lines = {}
    for section in page.find_all("section", class_="workload"):
        for li in section.find("ul").find_all("li"):
            lines[section.attrs["id"]] = li.words
    return lines


def test_scan_lines_count_drift_and_tag_hygiene_apart() -> None:
    lines = _scan_lines()
    # digest-drift plus tag findings on one workload: a drift finding.
    assert lines["s-repushed-tag"].endswith(": 1 of 2 workloads with drift findings")
    # only mutable-tag: no drift, one workload with tag-hygiene findings only.
    assert lines["s-pinned-control"].endswith(
        ": 0 of 1 workloads with drift findings, 1 with tag-hygiene findings only")
    assert "workloads with findings" not in " ".join(lines.values())


def test_hygiene_is_the_rules_concern() -> None:
    # mutable-tag is tag hygiene, digest-drift is drift: the rules say so themselves.
    assert not detectors.RULES.rule("mutable-tag").drift
    assert detectors.RULES.rule("digest-drift").drift
