"""``driftscan diff`` and ``report --history`` over reports from the real pipeline.

"Before" is the sample shop with checkout's pods all on one build; "after" is the
committed sample (a re-pushed tag split checkout across two builds); "fixed" pins it
back. The reports are scanned from dumps by the CLI, so the whole path is exercised.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from scanner import cli, findings
from scanner.report import comparing, history
from scanner.report import document as report_model
from tests import htmltree, kubedump
from tests.unit import helpers

SAMPLE = kubedump.DUMPS / "sample-shop.json"


def _one_build(raw: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The dump with every ``prefix*`` pod on the first such pod's build."""
    data = copy.deepcopy(raw)
    pods = [i for i in data["items"]
            if i["kind"] == "Pod" and i["metadata"]["name"].startswith(prefix)]
    first = pods[0]["status"]["containerStatuses"][0]["imageID"]
    for pod in pods:
        for status in pod["status"]["containerStatuses"]:
            status["imageID"] = first
    return data


@pytest.fixture
def dumps(tmp_path: Path) -> dict[str, Path]:
    raw = json.loads(SAMPLE.read_text())
    paths = {"after": SAMPLE}
    for name, data in (("before", _one_build(raw, "checkout-")),
                       ("fixed", _one_build(raw, "checkout-"))):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(data))
        paths[name] = path
    return paths


def _scan(dump: Path, out: Path) -> Path:
    assert cli.main(["scan", "--from", str(dump), "--format", "json", "-o", str(out)]) in (0, 1)
    return out


def _report(dump: Path, stamp: str) -> report_model.Report:
    return dataclasses.replace(helpers.report_for(helpers.load(dump)), generated_at=stamp)


def test_injection_shows_new_findings_and_a_new_build(
        dumps: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = _scan(dumps["before"], tmp_path / "old.json")
    new = _scan(dumps["after"], tmp_path / "new.json")
    capsys.readouterr()
    assert cli.main(["diff", str(old), str(new), "--format", "json"]) == 1  # new high
    data = json.loads(capsys.readouterr().out)
    assert data["schema"] == "driftscan/diff/v1"
    [checkout] = [w for w in data["workloads"] if w["name"] == "checkout"]
    assert [f["rule"] for f in checkout["new"]] == ["digest-drift"]
    assert checkout["new"][0]["severity"] == "high"
    assert {f["rule"] for f in checkout["persisting"]} == {"mutable-tag"}
    assert [b["pods"] for b in checkout["builds_appeared"]] == [2]
    assert checkout["old_score"] < checkout["new_score"]
    # Old debt persists but is not new: catalog's findings are in both reports.
    [catalog] = [w for w in data["workloads"] if w["name"] == "catalog"]
    assert catalog["new"] == [] and catalog["persisting"]
    assert data["summary"]["new"] == 1
    # The CI gate only looks at new findings: above high nothing is new.
    assert cli.main(["diff", str(old), str(new), "--fail-on", "critical"]) == 0


def test_fix_resolves_and_the_build_disappears(dumps: dict[str, Path], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    after = _scan(dumps["after"], tmp_path / "after-report.json")
    fixed = _scan(dumps["fixed"], tmp_path / "fixed-report.json")
    capsys.readouterr()
    assert cli.main(["diff", str(after), str(fixed), "--fail-on", "info"]) == 0
    table = capsys.readouterr().out
    assert "0 new, 1 resolved" in table
    change = comparing.compare(helpers.report_for(helpers.load(dumps["after"])),
                               helpers.report_for(helpers.load(dumps["fixed"])))
    [checkout] = [w for w in change.workloads if w.name == "checkout"]
    assert [f.rule for f in checkout.resolved] == ["digest-drift"]
    assert len(checkout.builds_disappeared) == 1 and not checkout.builds_appeared
    assert not change.new_at_or_above(findings.Severity.INFO)


def test_diff_html_is_escaped_and_names_both_reports(dumps: dict[str, Path]) -> None:
    hostile = helpers.report_for(helpers.load(kubedump.DUMPS / "xss.json"))
    change = comparing.compare(helpers.report_for(helpers.load(dumps["before"])), hostile)
    page = comparing.render_html(change)
    assert "<script>alert" not in page and "<img src=x" not in page.lower()
    dom = htmltree.parse(page)
    assert dom.find("span", **{"data-count": "new"}).words == str(change.count("new"))
    assert len(dom.by_id("diff-table").find("tbody").find_all("tr")) == len(change.workloads)


def test_diff_warns_about_swapped_arguments_and_incomplete_reports(
        dumps: dict[str, Path]) -> None:
    old = _report(dumps["before"], "2026-01-10T12:00:00Z")
    new = dataclasses.replace(_report(dumps["after"], "2026-01-09T12:00:00Z"),
                              gaps=(report_model.GapEntry("Pod", "shop", "forbidden"),))
    change = comparing.compare(old, new)
    assert any("swapped" in n for n in change.notes)
    assert any("NEW.json is incomplete" in n for n in change.notes)
    assert not change.new_complete


def test_diff_of_an_incomplete_new_report_exits_3(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    shop = json.loads(SAMPLE.read_text())
    pods_only = tmp_path / "pods.json"
    pods_only.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        i for i in shop["items"] if i["kind"] == "Pod"]}))
    old = _scan(pods_only, tmp_path / "a.json")
    new = _scan(pods_only, tmp_path / "b.json")
    assert cli.main(["diff", str(old), str(new)]) == 3
    assert cli.main(["diff", str(old), str(new), "--allow-gaps"]) == 0
    assert cli.main(["diff", str(old), str(tmp_path / "none.json")]) == 2
    assert "Traceback" not in capsys.readouterr().err


# --- history ----------------------------------------------------------------------------------


def test_history_times_drift_and_resolution(dumps: dict[str, Path]) -> None:
    reports = [
        ("1.json", _report(dumps["before"], "2026-01-10T12:00:00Z")),
        ("2.json", _report(dumps["after"], "2026-01-10T12:10:00Z")),
        ("3.json", _report(dumps["after"], "2026-01-10T13:00:00Z")),
        ("4.json", _report(dumps["fixed"], "2026-01-10T14:30:00Z")),
    ]
    page = history.page_of("reports", list(reversed(reports)))
    assert [p.path for p in page.points] == ["1.json", "2.json", "3.json", "4.json"]
    by_workload = {s.workload: s for s in page.longest}
    checkout = by_workload["Deployment shop/checkout"]
    # Drifted from 12:10 until the fix was seen at 14:30.
    assert (checkout.since, checkout.until, checkout.open) == (
        "2026-01-10T12:10:00Z", "2026-01-10T14:30:00Z", False)
    assert checkout.seconds == 2 * 3600 + 20 * 60 and checkout.reports == 2
    catalog = by_workload["Deployment shop/catalog"]  # three builds throughout
    assert catalog.open and catalog.seconds == 2.5 * 3600 and catalog.reports == 4
    assert page.longest[0] == catalog
    # One finding resolved (checkout's digest-drift, after 2h20m); the rest stay open.
    assert page.resolved == 1 and page.mean_seconds_to_resolve == 2 * 3600 + 20 * 60
    assert page.open == sum(len(w.findings) for w in reports[-1][1].workloads)
    assert history.duration(8400) == "2h 20m"


def test_history_page_from_a_folder(dumps: dict[str, Path], tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "saved"
    _scan(dumps["before"], folder / "a" / "1.json")
    _scan(dumps["after"], folder / "b" / "2.json")
    (folder / "journal.json").write_text('{"schema": "driftscan/journal/v1"}')
    out = tmp_path / "history.html"
    capsys.readouterr()
    assert cli.main(["report", "--history", str(folder), "-o", str(out)]) == 0
    assert "2 report(s)" in capsys.readouterr().out
    dom = htmltree.parse(out.read_text())
    assert len(dom.by_id("report-table").find("tbody").find_all("tr")) == 2
    svg = dom.find("svg", class_="history")
    assert len(svg.find_all("rect")) >= 2
    assert "journal.json" in out.read_text() and "<script src" not in out.read_text()


def test_history_of_a_folder_without_reports_is_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "other.json").write_text("{}")
    assert cli.main(["report", "--history", str(tmp_path), "-o", str(tmp_path / "h.html")]) == 2
    assert cli.main(["report", "--history", str(tmp_path / "nope"), "-o", "x.html"]) == 2
    assert cli.main(["report", "--history", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no driftscan JSON report" in err and "Traceback" not in err


def test_history_says_when_reports_come_from_different_clusters(
        dumps: dict[str, Path]) -> None:
    def on(cluster: str, stamp: str) -> report_model.Report:
        report = _report(dumps["after"], stamp)
        assert report.provenance is not None
        return dataclasses.replace(report, provenance=dataclasses.replace(
            report.provenance, cluster_id=cluster))

    page = history.page_of("x", [("a.json", on("uid-a", "2026-01-10T12:00:00Z")),
                                 ("b.json", on("uid-b", "2026-01-10T13:00:00Z"))])
    assert page.clusters == ("uid-a", "uid-b")
    dom = htmltree.parse(history.render(page))
    assert "2 different clusters" in dom.by_id("clusters").words
    same = history.page_of("x", [("a.json", on("uid-a", "2026-01-10T12:00:00Z"))])
    assert "id=\"clusters\"" not in history.render(same)
