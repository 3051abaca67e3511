"""Ctrl-C during a step: the record, the journal and the HTML page all name that step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scanner.scenarios import definitions as d
from scanner.scenarios import records, steps, targets
from tests.htmltree import parse as parse_html
from tests.unit.test_scenario_running import FakeKube, handle, run_on, scenario


def test_the_interrupted_step_is_named_everywhere(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    real = steps.execute

    def execute(step: d.Step, ws: steps.Workspace, timeout: float) -> steps.Outcome:
        if step.index == 1:
            raise KeyboardInterrupt
        return real(step, ws, timeout)

    monkeypatch.setattr(steps, "execute", execute)
    sc = scenario(d.Sleep(0.01), d.Sleep(30))
    record = run_on(tmp_path, monkeypatch, FakeKube(["n1"]), targets.Target(handle("kwok")), sc)
    (rec,) = record.scenarios
    assert rec.status is records.Status.INTERRUPTED
    assert rec.error_step == "steps[1]"
    assert rec.error == "interrupted (Ctrl-C or SIGTERM) during steps[1] sleep 30s"
    assert record.error == ("interrupted (Ctrl-C or SIGTERM) in scenario t during steps[1] "
                            "sleep 30s")
    journal = json.loads((tmp_path / "journal.json").read_text())
    assert journal["scenarios"][0]["error"] == {"step": "steps[1]", "message": rec.error}
    page = (tmp_path / "index.html").read_text()
    text = parse_html(page).words
    assert f"Interrupted: {record.error}" in text
    assert f"Interrupted: {rec.error}" in text
    assert "The run failed" not in text
