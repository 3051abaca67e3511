"""The chart's alert rules, rendered by the real ``helm`` to a plain Prometheus rules file,
checked by Debian's ``promtool``: ``check rules`` and ``test rules`` with the unit tests in
tests/fixtures/alerts/, which make every alert fire and not fire.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests import helmchart as hc

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "alerts" / "driftscan_test.yaml"


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool is not installed: `make test` installs Debian's prometheus "
                    "package (apt-get install prometheus)")
    return found


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_promtool(), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False)


def _prepare(tmp_path: Path, *sets: str) -> Path:
    (tmp_path / "driftscan.rules.yaml").write_text(hc.plain_rules(*sets))
    shutil.copy(FIXTURE, tmp_path / FIXTURE.name)
    return tmp_path


def test_rules_pass_promtool_check_and_unit_tests(tmp_path: Path) -> None:
    where = _prepare(tmp_path)
    check = _run("check", "rules", "driftscan.rules.yaml", cwd=where)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS: 5 rules found" in check.stdout
    test = _run("test", "rules", FIXTURE.name, cwd=where)
    assert test.returncode == 0, test.stdout + test.stderr
    assert "SUCCESS" in test.stdout


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    rules = yaml.safe_load(hc.plain_rules())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    assert alerts == {"DriftscanDigestDrift", "DriftscanRolloutStalled", "DriftscanLatentDrift",
                      "DriftscanWatchDown"}
    cases = [c for t in yaml.safe_load(FIXTURE.read_text())["tests"]
             for c in t["alert_rule_test"]]
    fired = {c["alertname"] for c in cases if c["exp_alerts"]}
    quiet = {c["alertname"] for c in cases if not c["exp_alerts"]}
    assert fired == alerts and quiet == alerts
    # Both DriftscanWatchDown rules (disconnected, not scraped) fire somewhere.
    reasons = {a["exp_labels"].get("reason") for c in cases if c["alertname"] ==
               "DriftscanWatchDown" for a in c["exp_alerts"]}
    assert reasons == {"disconnected", "not-scraped"}


@pytest.mark.parametrize("change", ["prometheusRule.alerts.digestDrift.for=20m",
                                    "prometheusRule.alerts.watchDown.absentFor=30m",
                                    "prometheusRule.alerts.latentDrift.severity=critical"])
def test_the_unit_tests_catch_a_changed_rule(tmp_path: Path, change: str) -> None:
    where = _prepare(tmp_path, change)
    test = _run("test", "rules", FIXTURE.name, cwd=where)
    assert test.returncode != 0 and "FAILED" in test.stdout + test.stderr, test.stdout
