"""What a run writes and prints: journal.json (against its JSON Schema), junit.xml, the
terminal summary, and the exit code — from hand-made run records with real reports."""

from __future__ import annotations

import io
import json
import time
import xml.etree.ElementTree as ET
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
from rich.console import Console

from scanner.report import json_format, scenario_run, validation
from scanner.scenarios import catalog, expectations, journal, narrator, outputs, records, testsuite
from scanner.scenarios import definitions as d
from tests.unit import helpers

LIBRARY = Path(__file__).resolve().parents[2] / "scanner" / "library"


def scenario(name: str) -> d.Scenario:
    (found,) = [s for s in catalog.library(LIBRARY) if s.name == name]
    return found


def step_record(step: d.Step, status: records.StepStatus = records.StepStatus.SUCCEEDED,
                detail: str = "ok") -> records.StepRecord:
    now = time.time()
    return records.StepRecord(step, started=now, ended=now + 0.5, duration_s=0.5,
                              status=status, detail=detail)


def scan_record(sc: d.Scenario, label: str, fixture: str,
                detect: float | None) -> records.ScanRecord:
    report = helpers.report_for(helpers.load(helpers.FIXTURES / fixture))
    now = time.time()
    step = next(s for s in sc.steps if isinstance(s.action, d.Scan) and s.action.label == label)
    scan = records.ScanRecord(label, step.path, now, now + 0.2, 0.2, report,
                              json_format.to_dict(report), injected_by="steps[6]: push",
                              time_to_detect_s=detect,
                              report_file=f"scans/{sc.name}--{label}.json")
    scan.results = expectations.evaluate(sc.expect[label], report, detect)
    return scan


def make_run() -> records.RunRecord:
    run = records.RunRecord(run_id="20260101t000000-abcdef", provider="kwok")
    now = time.time()

    passed = records.ScenarioRecord(scenario("pinned-control"), namespace="ds-p-1", started=now,
                                    ended=now + 3, duration_s=3.0,
                                    status=records.Status.COMPLETED)
    passed.steps = [step_record(s) for s in passed.scenario.steps]
    passed.scans = [scan_record(passed.scenario, label, "digest-drift/clean-pinned-control.json",
                                None) for label in ("baseline", "after-operations")]
    passed.cleanup = records.CleanupRecord("ds-p-1", namespace_deleted=True, namespace_gone=True)

    # Detection "missed": the drift scenario's scan saw a clean, pinned workload.
    deviated = records.ScenarioRecord(scenario("retag-scale-up"), namespace="ds-r-1",
                                      started=now, ended=now + 4, duration_s=4.0,
                                      status=records.Status.COMPLETED)
    deviated.steps = [step_record(s) for s in deviated.scenario.steps]
    deviated.scans = [scan_record(deviated.scenario, "after-scale-up",
                                  "digest-drift/clean-pinned-control.json", 2.0)]
    deviated.builds["v1"] = records.BuildRecord("v1", "ds-r-1/v1", "sha256:" + "1" * 64,
                                                ["r/x:latest"])

    failed = records.ScenarioRecord(scenario("stuck-rollout"), namespace="ds-s-1",
                                    started=now, ended=now + 60, duration_s=60.0,
                                    status=records.Status.FAILED,
                                    error="steps[4] wait: timed out after 60s",
                                    error_step="steps[4]")
    failed.steps = [step_record(s) for s in failed.scenario.steps[:4]]
    failed.steps.append(step_record(failed.scenario.steps[4], records.StepStatus.TIMED_OUT,
                                    "timed out after 60s waiting for pods; last seen: 0 of 5"))

    not_run = records.ScenarioRecord(scenario("sidecar-drift"), status=records.Status.ABORTED,
                                     error="not run: the run was interrupted")
    run.scenarios = [passed, deviated, failed, not_run]
    run.status = records.Status.INTERRUPTED
    run.ended = now + 70
    run.duration_s = 70.0
    return run


def test_exit_codes() -> None:
    run = make_run()
    assert run.exit_code() == 130
    run.status = records.Status.COMPLETED
    assert run.exit_code() == 2                      # a scenario failed to run
    run.scenarios = run.scenarios[:2]
    assert run.exit_code() == 1                      # one deviated
    run.scenarios = run.scenarios[:1]
    assert run.exit_code() == 0
    skipped = records.ScenarioRecord(scenario("retag-new-node"), status=records.Status.ABORTED,
                                     error="skipped: add-node needs a kwok cluster",
                                     skipped=True, started=time.time())
    run.scenarios.append(skipped)
    assert run.exit_code() == 0                      # a skip is not a failure
    assert testsuite.render(run).count("<skipped ") == 1


def test_junit_has_one_testcase_per_scenario_with_expected_vs_found() -> None:
    root = ET.fromstring(testsuite.render(make_run()))
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"),
            suite.get("skipped")) == ("4", "1", "1", "1")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert list(cases) == ["pinned-control", "retag-scale-up", "stuck-rollout", "sidecar-drift"]
    assert [c.tag for c in cases["pinned-control"]] == ["properties", "system-out"]
    failure = cases["retag-scale-up"].find("failure")
    assert failure is not None and failure.get("type") == "deviated"
    assert failure.get("message", "").startswith("2 of 3 expectations missed: after-scale-up: "
                                                 "expected digest-drift on Deployment/userservice")
    assert "after-scale-up: expected digest-drift on Deployment/userservice container " \
           "userservice (severity ≥ high, digests 2, revisions 1); found no workload " \
           "Deployment/userservice in the scan" in (failure.text or "")
    error = cases["stuck-rollout"].find("error")
    assert error is not None and error.get("type") == "failed"
    assert "timed out after 60s" in (error.text or "") and "at steps[4]" in (error.text or "")
    skipped = cases["sidecar-drift"].find("skipped")
    assert skipped is not None and skipped.get("message") == "not run: the run was interrupted"
    props = {p.get("name"): p.get("value") for p in cases["retag-scale-up"].iter("property")}
    assert props["time_to_detect.after-scale-up"] == "2.000"
    log = cases["stuck-rollout"].findtext("system-out") or ""
    assert "[  timed-out] steps[4]" in log


def test_journal_matches_its_schema_and_is_self_contained() -> None:
    data = journal.to_dict(make_run(), argv=["driftscan", "scenario", "run", "--all"])
    schema = json.loads((resources.files("scanner") / "schemas" /
                         "scenario-journal-v1.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(data)
    assert data["schema"] == "driftscan/scenario-journal/v1"
    assert data["run"]["status"] == "interrupted" and data["run"]["exit_code"] == 130
    assert data["summary"]["passed"] == 1 and data["summary"]["deviated"] == 1
    assert data["summary"]["expectations"] == {"total": 8, "met": 6, "missed": 2}
    passed, deviated, failed, not_run = data["scenarios"]
    assert passed["definition_text"].startswith("# yaml-language-server")
    assert "apps/bank-of-anthos/userservice-pinned.yaml" in passed["manifests"]
    assert passed["steps"][0]["arguments"] == {"push": {
        "repository": "{{ namespace }}/bank-of-anthos/userservice", "tag": "v0.6.5",
        "build": "v1"}}
    assert passed["scans"][0]["report"]["schema"] == "driftscan/report/v1"
    assert deviated["expectations"][0]["report_file"] == \
        "scans/retag-scale-up--after-scale-up.json"
    assert deviated["expectations"][0]["met"] is False
    assert deviated["missing_scans"] == ["baseline"]
    assert failed["error"] == {"message": "steps[4] wait: timed out after 60s",
                               "step": "steps[4]"}
    assert not_run["started_at"] is None and not_run["status"] == "aborted"
    # The run status and the detection verdict are kept apart.
    assert deviated["status"] == "completed" and deviated["deviated"] is True


def test_terminal_summary() -> None:
    out = io.StringIO()
    narrator.summary(make_run(), Console(file=out, width=100, color_system=None))
    text = out.getvalue()
    for row in ("│ pinned-control │ passed   │          5/5 │              - │     3.0s │",
                "│ retag-scale-up │ deviated │          1/3 │              - │     4.0s │",
                "│ stuck-rollout  │ failed   │            - │              - │    60.0s │",
                "│ sidecar-drift  │ not run  │            - │              - │        - │"):
        assert row in text, row
    assert ("4 scenarios: 1 passed, 1 deviated, 1 failed, 1 not run — run interrupted in "
            "70.0s") in text


def test_outputs_replace_an_earlier_run_and_write_scans(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    (folder / "scans").mkdir(parents=True)
    (folder / "scans" / "old--scan.json").write_text("{}")
    (folder / "journal.json").write_text("{}")
    (folder / "mine.txt").write_text("keep me")
    out = outputs.Outputs(folder)
    out.prepare()
    assert not (folder / "journal.json").exists()
    assert list((folder / "scans").iterdir()) == []
    assert (folder / "mine.txt").read_text() == "keep me"
    report = helpers.report_for(helpers.load(helpers.FIXTURES /
                                             "digest-drift/fires-repushed-tag.json"))
    json_file, html_file, problem = out.write_scan("retag-scale-up", "after scale", report,
                                                   json_format.to_dict(report))
    assert json_file == "scans/retag-scale-up--after-scale.json"
    assert json.loads((folder / json_file).read_text())["schema"] == "driftscan/report/v1"
    assert html_file == "scans/retag-scale-up--after-scale.html" and problem is None
    assert (folder / html_file).read_text().lstrip().lower().startswith("<!doctype html")
    run = make_run()
    assert out.write_results(run, argv=["driftscan"], page=True) is None
    assert json.loads(out.journal.read_text())["run"]["id"] == run.run_id
    # The file names are part of the contract (docs/scenarios.md, CI configurations).
    assert sorted(p.name for p in folder.iterdir() if p.is_file()) == [
        "index.html", "journal.json", "junit.xml", "mine.txt"]
    ET.parse(out.junit)


def test_an_unwritable_out_dir_is_an_input_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    from scanner import errors

    with pytest.raises(errors.InputError, match="pass another --out DIR"):
        outputs.Outputs(blocker / "out").prepare()


def test_validation_page_from_records_equals_the_page_from_the_saved_journal() -> None:
    # In one process the page is built from the runner's records; from a file, from the
    # journal JSON. Both roads must give the same typed journal and the same page.
    run = make_run()
    from_records = journal.to_model(run)
    saved = json.loads(json.dumps(journal.to_dict(run, ["driftscan"]), default=str))
    from_file = scenario_run.from_json(saved)
    assert from_records == from_file
    assert validation.render_validation(from_records) == validation.render_validation(saved)
    missed = [e for s in from_records.scenarios for e in s.expectations if not e.met]
    assert missed and all(e.detected.startswith("found") for e in missed)
