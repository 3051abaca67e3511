"""``scenario run --detector watch``: the watcher's time to detect, from its metrics to the page."""

from __future__ import annotations

import json
import threading
import time
from importlib import resources
from typing import Any

import jsonschema

from scanner.report import scenario_run, validation
from scanner.scenarios import definitions as d
from scanner.scenarios import journal, records, watch_detector
from tests.unit.test_scenario_outputs import make_run, scan_record, scenario

METRICS = """# TYPE driftscan_finding gauge
driftscan_finding{container="app",kind="Deployment",namespace="ds-r-1",rule="digest-drift",\
severity="high",workload="web"} 1.0
driftscan_workload_builds{container="app",kind="Deployment",namespace="ds-r-1",\
workload="web"} 2.0
driftscan_workload_builds{container="app",kind="Deployment",namespace="other",\
workload="db"} 1.0
driftscan_watch_up 1.0
"""


def test_series_are_grouped_by_namespace() -> None:
    found = watch_detector._by_namespace(METRICS)
    assert set(found) == {"ds-r-1", "other"}
    assert len(found["ds-r-1"]) == 2
    assert {name for name, _, _ in found["other"]} == {"driftscan_workload_builds"}


class _Proc:
    def terminate(self) -> None: ...

    def wait(self, timeout: float | None = None) -> int:
        return 0


def test_time_from_the_injecting_step_to_the_first_change_in_the_namespace() -> None:
    sc = scenario("retag-scale-up")
    rec = records.ScenarioRecord(sc, namespace="ds-r-1",
                                 cluster={"kubeconfig": "/k", "context": ""})
    detector = watch_detector.WatchDetector()
    watcher = watch_detector._Watcher(_Proc(), "http://127.0.0.1:1/metrics")  # type: ignore[arg-type]
    detector._watchers[("/k", "")] = watcher
    injecting = next(s for s in sc.steps if s.inject)
    before = time.time()
    watcher.changes.append((before - 5, "ds-r-1"))  # set-up, before the injection
    detector.step_started(rec, injecting)
    started = detector._injected[sc.name]
    watcher.changes.append((started + 0.1, "other"))  # another namespace does not count

    def later() -> None:
        time.sleep(0.3)
        with watcher.lock:
            watcher.changes.append((started + 1.25, "ds-r-1"))

    threading.Thread(target=later).start()
    scan = scan_record(sc, "after-scale-up", "digest-drift/fires-repushed-tag.json", 3.0)
    detector.scan_finished(rec, scan)  # waits for the watcher to see it
    assert scan.watch_time_to_detect_s is not None
    assert abs(scan.watch_time_to_detect_s - 1.25) < 1e-6
    assert sc.name not in detector._injected  # the next scan needs a new injection
    detector.close()


def test_without_a_marked_step_the_first_mutating_step_counts() -> None:
    sc = scenario("retag-scale-up")
    unmarked = d.Scenario(**{**sc.__dict__, "steps": tuple(
        d.Step(**{**s.__dict__, "inject": False}) for s in sc.steps)})
    rec = records.ScenarioRecord(unmarked, namespace="ds-r-1")
    detector = watch_detector.WatchDetector()
    mutating = [s for s in unmarked.steps if isinstance(s.action, d.MUTATING)]
    detector.step_started(rec, mutating[0])
    first = detector._injected[unmarked.name]
    detector.step_started(rec, mutating[1])
    assert detector._injected[unmarked.name] == first


def test_the_watch_time_travels_to_the_journal_and_the_validation_page() -> None:
    run = make_run()
    run.scenarios[1].scans[0].watch_time_to_detect_s = 1.5
    data: Any = journal.to_dict(run, argv=["driftscan", "scenario", "run", "--detector",
                                           "watch"])
    schema = json.loads((resources.files("scanner") / "schemas" /
                         "scenario-journal-v1.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(data)
    assert data["scenarios"][1]["scans"][0]["watch_time_to_detect_s"] == 1.5
    assert data["scenarios"][0]["scans"][0]["watch_time_to_detect_s"] is None
    typed = scenario_run.from_json(data)
    assert typed.scenarios[1].scans[0].watch_time_to_detect_s == 1.5
    page = validation.render_validation(typed)
    assert "driftscan watch: 1.5" in page
