"""Every fix says why it picks its digest (pod count; what the tag names now), in every format.

The sample shop's checkout runs two builds of ``checkout:1.4``: three of five pods run the
older one, and the newest pod — the last to pull the re-pushed tag — runs the other.
"""

from __future__ import annotations

import dataclasses
import json
from io import StringIO

import pytest
from rich.console import Console

from scanner import cli, findings, images, model
from scanner.report import html, sarif, terminal
from tests.unit import helpers

DRIFT = helpers.FIXTURES / "digest-drift" / "fires-repushed-tag.json"


def _shop() -> model.Snapshot:
    return helpers.load(helpers.FIXTURES.parents[0] / "dumps" / "sample-shop.json")


def _checkout_drift(snapshot: model.Snapshot) -> findings.Finding:
    _, found = helpers.analyse(snapshot)
    return next(f for f in found if f.rule == "digest-drift" and f.workload.name == "checkout")


def _builds(snapshot: model.Snapshot) -> tuple[str, str]:
    f = _checkout_drift(snapshot)
    assert f.pin is not None
    other = next(d for d in f.observed if d != f.pin.digest)
    return f.pin.digest, other


def test_reason_counts_pods_and_names_the_newest_pods_build() -> None:
    snap = _shop()
    pinned, other = _builds(snap)
    f = _checkout_drift(snap)
    assert f.pin is not None
    assert f.pin.reason == ("run by 3 of 5 pods; the newest pod, the last to pull the tag, runs "
                            f"{images.short_digest(other)}")
    assert f.remediation.startswith(f"Pin checkout to {pinned} ({f.pin.reason}): `kubectl set")


def test_reason_names_what_the_registry_says_the_tag_names() -> None:
    snap = _shop()
    pinned, other = _builds(snap)
    tag = model.RegistryTag("registry.example.com", "shop/checkout", "1.4", other)
    f = _checkout_drift(dataclasses.replace(snap, registry_tags=(tag,)))
    assert f.pin is not None and f.pin.digest == pinned
    assert f.pin.reason == f"run by 3 of 5 pods; the tag now names {images.short_digest(other)}"
    same = dataclasses.replace(tag, digest=pinned)
    f = _checkout_drift(dataclasses.replace(snap, registry_tags=(same,)))
    assert f.pin is not None and f.pin.reason == "run by 3 of 5 pods; the tag names it too"


def test_a_tie_says_how_it_was_broken() -> None:
    _, found = helpers.analyse(helpers.load(DRIFT))
    f = next(f for f in found if f.rule == "digest-drift")
    assert f.pin is not None
    assert f.pin.reason.startswith("run by 2 of 4 pods (a tie with sha256:")
    assert f.pin.reason.endswith(", won by the build of the newest pod)")


def _reason() -> str:
    f = _checkout_drift(_shop())
    assert f.pin is not None and f.pin.reason
    return f.pin.reason


def test_terminal_fix_line_says_why() -> None:
    report = helpers.report_for(_shop())
    out = StringIO()
    terminal.render(report, Console(file=out, width=100, color_system=None))
    fix = [ln for ln in out.getvalue().splitlines() if ln.strip().startswith("fix: Pin checkout")]
    assert fix and f"({_reason()})" in fix[0]


def test_json_pin_and_remediation_say_why(capsys: pytest.CaptureFixture[str]) -> None:
    shop = str(helpers.FIXTURES.parents[0] / "dumps" / "sample-shop.json")
    code = cli.main(["scan", "--from", shop, "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 1
    f = next(f for w in data["workloads"] if w["name"] == "checkout" for f in w["findings"]
             if f["rule"] == "digest-drift")
    assert f["pin"]["reason"] == _reason()
    assert f"({_reason()})" in f["remediation"]


def test_html_fix_says_why() -> None:
    page = html.render(helpers.report_for(_shop()))
    assert f"({_reason()}):" in page
    assert page.count(_reason()) >= 1


def test_sarif_result_says_why() -> None:
    doc = json.loads(sarif.render(sarif.from_report(helpers.report_for(_shop()))))
    texts = [r["properties"]["remediation"] for r in doc["runs"][0]["results"]
             if r["ruleId"] == "digest-drift"]
    assert texts and all(f"({_reason()})" in t for t in texts)
