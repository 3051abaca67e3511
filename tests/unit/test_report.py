from __future__ import annotations

import dataclasses
import json
from io import StringIO
from pathlib import Path

import jsonschema
import pytest
from rich.console import Console

from scanner import errors, model
from scanner.report import document as report_model
from scanner.report import json_format, terminal
from tests.unit import helpers

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "scanner" / "schemas"
                     / "report-v1.json").read_text())
B = "sha256:" + "b" * 64


def render_table(report: report_model.Report) -> str:
    out = StringIO()
    terminal.render(report, Console(file=out, width=100, color_system=None))
    return out.getvalue()


@pytest.mark.parametrize("path", helpers.fixture_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_report_validates_and_round_trips(path: Path) -> None:
    report = helpers.report_for(helpers.load(path))
    text = json_format.render(report)
    data = json.loads(text)
    jsonschema.validate(data, SCHEMA, format_checker=jsonschema.FormatChecker())
    assert json_format.parse(text) == report


def test_json_contract_fields() -> None:
    report = helpers.report_for(helpers.load(helpers.FIXTURES / "digest-drift"
                                             / "fires-repushed-tag.json"))
    data = json_format.to_dict(report)
    assert list(data)[:7] == ["schema", "generated_at", "tool", "source", "summary", "gaps",
                              "workloads"]
    assert data["schema"] == "driftscan/report/v1"
    assert data["source"]["type"] == "dump" and data["source"]["all_namespaces"] is True
    assert data["summary"] == {
        "workloads": 2, "with_findings": 1,
        "by_severity": {"info": 0, "low": 1, "medium": 0, "high": 1, "critical": 0},
        "max_score": 48, "pods": 5, "complete": True,
    }
    web = data["workloads"][0]
    assert (web["kind"], web["namespace"], web["name"], web["score"], web["grade"]) == (
        "Deployment", "shop", "web", 48, "D")
    container = web["containers"][0]
    assert container["name"] == "web" and container["init"] is False
    assert container["spec_images"] == ["registry.example.com:5000/shop/web:1.0"]
    assert [(d["digest"][-4:], d["pods"], d["nodes"], d["revisions"])
            for d in container["digests"]] == [
        ("aaaa", ["web-5d9f8c7b6-aaaaa", "web-5d9f8c7b6-bbbbb"], ["node-a"], ["web-5d9f8c7b6"]),
        ("bbbb", ["web-5d9f8c7b6-ccccc", "web-5d9f8c7b6-ddddd"], ["node-b", "node-c"],
         ["web-5d9f8c7b6"]),
    ]
    drift = web["findings"][0]
    assert drift["rule"] == "digest-drift" and drift["severity"] == "high"
    assert drift["title"] == "Pods of one revision run different builds"
    assert drift["pin"]["digest"] == B
    assert drift["pin"]["command"].startswith("kubectl set image deployment/web -n shop web=")
    assert drift["points"] == 43
    assert sum(s["points"] for s in web["score_breakdown"]) == web["score"]
    assert {r["id"] for r in data["rules"]} >= {"digest-drift", "mutable-tag"}


def test_workloads_are_worst_first() -> None:
    report = helpers.report_for(helpers.load(helpers.FIXTURES / "digest-drift"
                                             / "fires-repushed-tag.json"))
    assert [w.name for w in report.workloads] == ["web", "frontend"]
    assert [w.score for w in report.workloads] == sorted((w.score for w in report.workloads),
                                                         reverse=True)


def test_terminal_table_summary_and_details() -> None:
    report = helpers.report_for(helpers.load(helpers.FIXTURES / "overlapping-rollout"
                                             / "fires-three-revisions.json"))
    text = render_table(report)
    lines = text.splitlines()
    assert lines[0].startswith("Scanned dump ") and lines[0].endswith(
        "fires-three-revisions.json, every namespace in the files")
    assert lines[1].split() == ["Score", "Grade", "Workload", "Builds", "Findings"]
    assert lines[3].split()[:5] == ["70", "F", "Deployment", "shop/web", "3"]
    assert "[high] overlapping-rollout +35: 3 revisions hold live pods" in text
    assert lines[-1] == ("1 workloads, 3 pods, 1 with findings; findings: 1 high, 1 medium, "
                         "1 low; max score 70 (F)")
    assert "INCOMPLETE" not in text


def test_clean_report_says_so() -> None:
    report = helpers.report_for(helpers.load(helpers.FIXTURES / "digest-drift"
                                             / "clean-pinned-control.json"))
    text = render_table(report)
    assert text.splitlines()[1:] == [
        "No drift findings.",
        "1 workloads, 3 pods, 0 with findings; no findings; max score 0 (A)",
    ]


def test_gaps_are_shown_first_and_in_the_summary() -> None:
    snap = helpers.load(helpers.FIXTURES / "digest-drift" / "clean-pinned-control.json")
    snap = dataclasses.replace(snap, gaps=(
        model.Gap("Pod", "payments", "forbidden: cannot list pods in namespace payments"),))
    report = helpers.report_for(snap)
    assert report.summary.complete is False
    text = render_table(report)
    assert text.splitlines()[1].strip() == "INCOMPLETE SCAN: 1 part(s) of the cluster were not read"
    assert "forbidden: cannot list pods in namespace payments" in text
    assert text.splitlines()[-1].endswith("; INCOMPLETE: 1 gap(s), see above")
    assert "No drift findings." in text


def test_pods_only_dump_reports_missing_owners_as_gaps(tmp_path: Path) -> None:
    doc = helpers.raw(helpers.FIXTURES / "rollout-version-mix" / "fires-two-revisions.json")
    doc["items"] = [i for i in doc["items"] if i["kind"] == "Pod"]
    path = tmp_path / "pods.json"
    path.write_text(json.dumps(doc))
    report = helpers.report_for(helpers.load(path))
    assert [(g.kind, g.namespace) for g in report.gaps] == [("ReplicaSet", "shop")]
    assert "2 ReplicaSet(s) that own pods are not in the input" in report.gaps[0].reason
    assert {w.kind for w in report.workloads} == {"ReplicaSet"}


def test_parse_rejects_other_documents() -> None:
    with pytest.raises(errors.InputError, match="not JSON"):
        json_format.parse("{", name="r.json")
    with pytest.raises(errors.InputError, match="not a driftscan/report/v1 report"):
        json_format.parse('{"schema": "other"}', name="r.json")
    with pytest.raises(errors.InputError, match="malformed report"):
        json_format.parse('{"schema": "driftscan/report/v1"}', name="r.json")


def test_low_only_workloads_stay_in_the_table_without_details() -> None:
    report = helpers.report_for(helpers.load(helpers.FIXTURES / "mutable-tag"
                                             / "fires-versioned-tag.json"))
    lines = render_table(report).splitlines()
    assert lines[3].split()[:4] == ["5", "A", "Deployment", "shop/web"]
    assert lines[-2] == ("1 workload(s) with only low/info findings: messages and pin commands"
                         " are in --format json.")
    assert not any(line.startswith("    fix:") for line in lines)
