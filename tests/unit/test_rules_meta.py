"""Every rule has metadata, fixtures that fire and stay clean, and a docs entry."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from scanner import detectors, findings, manifest_scanning, rule_listing, scoring
from scanner.detectors import rules
from tests.unit import helpers

DOCS = Path(__file__).resolve().parents[2] / "docs"
FACTS = {"needs": rules.Needs.LIVE, "concern": rules.Concern.DRIFT}
DESIGN_RULES = {
    "digest-drift", "rollout-version-mix", "overlapping-rollout", "stalled-rollout",
    "paused-rollout", "partitioned-update", "ondelete-update", "floating-tag", "mutable-tag",
    "pull-policy-divergence", "unverifiable-image-id", "latent-drift",
}


def test_registry_covers_every_design_rule() -> None:
    assert {r.id for r in detectors.RULES.rules()} == DESIGN_RULES


@pytest.mark.parametrize("rule", detectors.RULES.rules(), ids=lambda r: r.id)
def test_rule_metadata_and_fixtures(rule: rules.Rule) -> None:
    assert re.fullmatch(r"[a-z]+(-[a-z]+)*", rule.id)
    assert isinstance(rule.severity, findings.Severity)
    assert len(rule.title) >= 10 and not rule.title.endswith(".")
    assert len(rule.rationale) >= 80
    assert len(rule.remediation) >= 30
    assert (Path(__file__).resolve().parents[2] / "scanner" / "detectors"
            / f"{rule.family}.py").is_file()
    folder = helpers.FIXTURES / rule.id
    assert list(folder.glob("fires-*.json")), f"no fires-*.json for {rule.id}"
    assert list(folder.glob("clean-*.json")), f"no clean-*.json for {rule.id}"
    assert f"\n## {rule.id}\n" in (DOCS / "rules.md").read_text()


def test_docs_rules_md_is_generated_from_the_registry() -> None:
    assert (DOCS / "rules.md").read_text() == rule_listing.markdown(), (
        "docs/rules.md is stale: run `driftscan rules --format markdown > docs/rules.md`")


def test_fixture_folders_are_rules() -> None:
    folders = {p.name for p in helpers.FIXTURES.iterdir() if p.is_dir()} - helpers.DATA_FOLDERS
    assert folders <= {r.id for r in detectors.RULES.rules()}


def test_registry_refuses_duplicate_ids() -> None:
    detector = next(iter(detectors.RULES))
    with pytest.raises(rules.DuplicateRule, match=detector.rule.id):
        rules.RuleSet([detector, detector])


def test_rule_ids_must_be_kebab_case_and_metadata_complete() -> None:
    with pytest.raises(ValueError, match="kebab-case"):
        rules.Rule("Digest_Drift", findings.Severity.LOW, "t", "r", "x", "f", **FACTS)
    with pytest.raises(ValueError, match="rationale is empty"):
        rules.Rule("ok-id", findings.Severity.LOW, "title", " ", "x", "f", **FACTS)


def test_lists_elsewhere_are_derived_from_the_rules() -> None:
    # What used to be typed by hand in four files now follows from each Rule's facts.
    static = ("floating-tag", "mutable-tag", "pull-policy-divergence")
    multi_build = {"digest-drift", "rollout-version-mix", "overlapping-rollout"}
    assert static == manifest_scanning.STATIC_RULES
    assert multi_build == scoring.MULTI_BUILD_RULES
    assert {r.id for r in detectors.RULES.rules() if not r.drift} == set(
        manifest_scanning.STATIC_RULES)
    assert rule_listing.checked_by(detectors.RULES.rule("latent-drift")) == (
        "`scan --registry-check`")
    assert rule_listing.checked_by(detectors.RULES.rule("mutable-tag")) == "`scan`, `manifests`"
    assert rule_listing.checked_by(detectors.RULES.rule("digest-drift")) == "`scan`"


def test_a_rule_needing_more_than_a_template_is_not_static() -> None:
    assert [r.id for r in detectors.RULES.rules() if r.static] == list(
        manifest_scanning.STATIC_RULES)
    assert all(r.needs is not rules.Needs.TEMPLATE for r in detectors.RULES.rules()
               if r.id not in manifest_scanning.STATIC_RULES)


def test_family_must_name_the_detector_module() -> None:
    detector = detectors.RULES.rule("digest-drift")
    check = next(d.check for d in detectors.RULES if d.rule.id == "digest-drift")
    wrong = dataclasses.replace(detector, family="tags")
    with pytest.raises(ValueError, match="family 'tags'"):
        rules.Detector(wrong, check)
