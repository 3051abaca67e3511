"""Typed evidence: the JSON it writes is the report's contract, and it reads back typed."""

from __future__ import annotations

from pathlib import Path

import pytest

from scanner import detectors, evidence
from tests.unit import helpers


@pytest.mark.parametrize("path", helpers.rule_fixtures(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_finding_round_trips_through_json(path: Path) -> None:
    for f in helpers.analyse(helpers.load(path))[1]:
        assert not isinstance(f.evidence, evidence.Untyped), f.rule
        assert f.rule in type(f.evidence).RULES
        assert evidence.from_json(f.rule, f.evidence.to_json()) == f.evidence


def test_every_rule_has_an_evidence_class() -> None:
    typed = {rule for cls in evidence.Evidence.__subclasses__() for rule in cls.RULES}
    assert typed == {r.id for r in detectors.RULES.rules()}


def test_field_order_is_the_json_key_order() -> None:
    ev = evidence.TagUse(image="app:1", init=False, pull_policy="Always",
                         running_digests={"sha256:a": 2}, nodes=("n1",))
    assert list(ev.to_json()) == ["image", "init", "pull_policy", "running_digests", "nodes"]
    assert ev.to_json()["nodes"] == ["n1"]


def test_a_shape_that_does_not_fit_is_kept_untyped() -> None:
    odd = {"partition": "zero", "pods_behind": {}}
    read = evidence.from_json("partitioned-update", odd)
    assert isinstance(read, evidence.Untyped)
    assert read.to_json() == odd
    assert read.revision_count() is None
    assert evidence.from_json("rule-from-the-future", {"x": [1]}).to_json() == {"x": [1]}


def test_booleans_are_not_counts() -> None:
    doc = {"revisions": [{"revision": "r1", "number": True, "live_pods": 1,
                          "desired_replicas": None}], "newest_revision": None}
    assert isinstance(evidence.from_json("overlapping-rollout", doc), evidence.Untyped)
    doc["revisions"][0]["number"] = 1  # type: ignore[index]
    read = evidence.from_json("overlapping-rollout", doc)
    assert isinstance(read, evidence.OverlappingRollout) and read.revision_count() == 1


def test_scoring_reads_split_services_and_callers_from_fields() -> None:
    ev = evidence.VersionMix(revisions=(), newest_revision=None,
                             services=(evidence.ServiceTraffic("web", {"a": 1, "b": 2}),
                                       evidence.ServiceTraffic("admin", {"a": 1})),
                             callers=("Deployment/shop/frontend",))
    assert [t.service for t in ev.traffic() if t.split] == ["web"]
    assert ev.upstream() == ("Deployment/shop/frontend",)
    assert evidence.TagUse("i", False, "Always", {}, ()).traffic() == ()
