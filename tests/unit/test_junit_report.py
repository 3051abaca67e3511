"""`driftscan scan --format junit`: drift as failing testcases, gaps as errors."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from scanner import cli

DUMPS = Path(__file__).resolve().parents[1] / "dumps"


def _scan_junit(capsys: pytest.CaptureFixture[str], dump: Path, fail_on: str) -> ET.Element:
    code = cli.main(["scan", "--from", str(dump), "--format", "junit", "--fail-on", fail_on])
    out = capsys.readouterr().out
    root = ET.fromstring(out)
    # exits.for_result: failing findings → 1, else gaps (errors) → 3, else 0
    expected = 1 if int(root.attrib["failures"]) else 3 if int(root.attrib["errors"]) else 0
    assert code == expected
    return root


def test_findings_at_or_above_fail_on_are_failures(capsys: pytest.CaptureFixture[str]) -> None:
    root = _scan_junit(capsys, DUMPS / "sample-shop.json", "high")
    cases = {(c.attrib["classname"], c.attrib["name"]): c for c in root.iter("testcase")}
    drift = cases[("Deployment/shop/checkout", "digest-drift (checkout)")]
    failure = drift.find("failure")
    assert failure is not None and failure.attrib["type"] == "digest-drift"
    assert "kubectl set image deployment/checkout" in (failure.text or "")
    low = cases[("Deployment/shop/checkout", "mutable-tag (checkout)")]
    assert low.find("failure") is None and "[low]" in (low.findtext("system-out") or "")
    assert cases[("Deployment/shop/frontend", "clean")].find("failure") is None
    failures = [c for c in root.iter("testcase") if c.find("failure") is not None]
    assert int(root.attrib["failures"]) == len(failures) == 3
    assert int(root.attrib["tests"]) == len(cases)


def test_lower_threshold_fails_more_and_critical_passes_all(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert int(_scan_junit(capsys, DUMPS / "sample-shop.json", "low").attrib["failures"]) == 5
    assert _scan_junit(capsys, DUMPS / "sample-shop.json", "critical").attrib["failures"] == "0"


def test_gaps_are_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shop = json.loads((DUMPS / "sample-shop.json").read_text())
    pods_only = {"apiVersion": "v1", "kind": "List",
                 "items": [i for i in shop["items"] if i["kind"] == "Pod"]}
    dump = tmp_path / "pods-only.json"
    dump.write_text(json.dumps(pods_only))
    root = _scan_junit(capsys, dump, "critical")
    errors = [c for c in root.iter("testcase") if c.find("error") is not None]
    assert errors and all(c.attrib["classname"] == "scan" for c in errors)
    assert root.attrib["errors"] == str(len(errors))
    props = {p.attrib["name"]: p.attrib["value"] for p in root.iter("property")}
    assert props["complete"] == "false"
