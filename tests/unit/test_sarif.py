"""SARIF output validates against the official SARIF 2.1.0 schema (vendored, see
tests/fixtures/schemas/README.md) and points at the right lines of multi-document files."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path

import jsonschema
import pytest

from scanner import cli, detectors, manifest_scanning
from scanner.report import sarif
from scanner.sources import manifests
from tests.unit import helpers

SCHEMA = json.loads((helpers.FIXTURES / "schemas" / "sarif-schema-2.1.0.json").read_text())
SHOP = helpers.FIXTURES / "manifests" / "shop"


def validate(log: object) -> None:
    jsonschema.Draft4Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(log)


def test_the_vendored_schema_is_the_official_one() -> None:
    assert SCHEMA["id"].endswith("/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json")
    assert SCHEMA["properties"]["version"]["enum"] == ["2.1.0"]
    # It rejects what SARIF forbids, so validating with it can fail.
    with pytest.raises(jsonschema.ValidationError):
        validate({"version": "2.1.0", "runs": [{"tool": {"driver": {}}}]})
    with pytest.raises(jsonschema.ValidationError):
        validate({"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}},
                                                "results": [{"message": {"text": "m"},
                                                             "level": "fatal"}]}]})


def test_manifest_sarif_validates_with_lines_of_multi_document_files(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(helpers.FIXTURES.parents[1])
    files = manifests.load([str(SHOP)])
    log = sarif.from_manifests(manifest_scanning.check(files))
    validate(log)
    [run] = log["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == list(manifest_scanning.STATIC_RULES)
    results = run["results"]
    assert results
    for result in results:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        location = result["locations"][0]["physicalLocation"]
        uri = location["artifactLocation"]["uri"]
        assert not uri.startswith(("/", "file:"))  # relative to the working directory
        path = Path(urllib.parse.unquote(uri))
        region = location["region"]
        line = path.read_text().splitlines()[region["startLine"] - 1]
        image = result["properties"]["image"]
        assert line[region["startColumn"] - 1:].lstrip("'\"").startswith(image)
        assert region["endColumn"] > region["startColumn"]
    by_doc = {(Path(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]).name,
               r["properties"]["document"]) for r in results}
    assert {("stateful.yaml", 1), ("stateful.yaml", 2), ("stateful.yaml", 3),
            ("jobs.yaml", 1), ("jobs.yaml", 2), ("web.yaml", 2)} <= by_doc


def test_scan_sarif_validates_with_logical_locations_and_gaps() -> None:
    snapshot = helpers.load(helpers.FIXTURES / "digest-drift" / "fires-repushed-tag.json")
    report = helpers.report_for(snapshot)
    log = sarif.from_report(report)
    validate(log)
    [run] = log["runs"]
    assert len(run["tool"]["driver"]["rules"]) == len(detectors.RULES)
    drift = [r for r in run["results"] if r["ruleId"] == "digest-drift"]
    assert drift and drift[0]["level"] == "error"
    names = [loc["fullyQualifiedName"] for loc in drift[0]["locations"][0]["logicalLocations"]]
    assert names == ["Deployment/shop/web", "Deployment/shop/web/web"]
    assert run["invocations"][0]["executionSuccessful"] is True


def test_gaps_become_notifications() -> None:
    import dataclasses

    from scanner import model

    snapshot = helpers.load(helpers.FIXTURES / "latent-drift" / "clean-tag-unchanged.json")
    snapshot = dataclasses.replace(snapshot, gaps=(model.Gap("registry", "shop", "unreachable"),))
    log = sarif.from_report(helpers.report_for(snapshot))
    validate(log)
    [note] = log["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert note["level"] == "error" and "unreachable" in note["message"]["text"]
    assert log["runs"][0]["properties"]["complete"] is False


def test_cli_formats(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert cli.main(["manifests", str(SHOP / "web.yaml"), "--format", "sarif"]) == 0
    validate(json.loads(capsys.readouterr().out))
    dump = str(helpers.FIXTURES / "rollout-version-mix" / "fires-two-revisions.json")
    out = tmp_path / "scan.sarif"
    assert cli.main(["scan", "--from", dump, "--format", "sarif", "-o", str(out)]) in (0, 1)
    capsys.readouterr()
    validate(json.loads(out.read_text()))
