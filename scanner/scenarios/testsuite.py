"""JUnit XML for a scenario run: one testcase per scenario.

CI systems (GitHub Actions reporters, GitLab, Jenkins) show each scenario as a test. A
deviated scenario is a ``<failure>`` whose text lists every missed expectation as
"expected … ; found …"; a scenario that could not be carried out (a step failed or timed
out, the cluster could not run it, Ctrl-C) is an ``<error>``; one never started is
``<skipped>``. Time to detect goes into testcase properties.
"""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET

from scanner.scenarios import journal, records

__all__ = ["render"]

SUITE = "driftscan.scenarios"


def render(run: records.RunRecord) -> str:
    """The run as a JUnit XML document."""
    cases = [_testcase(s) for s in run.scenarios]
    outcomes = [_outcome(s) for s in run.scenarios]
    counts = {
        "tests": str(len(cases)),
        "failures": str(outcomes.count("failure")),
        "errors": str(outcomes.count("error")),
        "skipped": str(outcomes.count("skipped")),
        "time": f"{run.duration_s:.3f}",
    }
    root = ET.Element("testsuites", {"name": "driftscan scenarios", **counts})
    suite = ET.SubElement(root, "testsuite", {
        "name": SUITE, **counts, "timestamp": journal.iso(run.started) or "",
        "hostname": socket.gethostname()})
    props = ET.SubElement(suite, "properties")
    for name, value in (("run_id", run.run_id), ("provider", run.provider),
                        ("status", run.status.value), ("cleanup", run.cleanup_policy)):
        ET.SubElement(props, "property", {"name": name, "value": value})
    suite.extend(cases)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def _outcome(s: records.ScenarioRecord) -> str:
    """``passed``, ``failure`` (deviated), ``error`` (not carried out) or ``skipped``."""
    if s.status is records.Status.COMPLETED:
        return "failure" if s.deviated else "passed"
    if s.status is records.Status.ABORTED and (s.skipped or not s.started):
        return "skipped"
    return "error"


def _testcase(s: records.ScenarioRecord) -> ET.Element:
    case = ET.Element("testcase", {"classname": SUITE, "name": s.scenario.name,
                                   "file": str(s.scenario.file), "time": f"{s.duration_s:.3f}"})
    props = ET.SubElement(case, "properties")
    ET.SubElement(props, "property", {"name": "status", "value": s.status.value})
    if s.namespace:
        ET.SubElement(props, "property", {"name": "namespace", "value": s.namespace})
    for scan in s.scans:
        if scan.time_to_detect_s is not None and any(r.kind == "fires" for r in scan.results):
            ET.SubElement(props, "property", {"name": f"time_to_detect.{scan.label}",
                                              "value": f"{scan.time_to_detect_s:.3f}"})
    outcome = _outcome(s)
    if outcome == "failure":
        missed = [r for r in s.results if not r.met]
        failure = ET.SubElement(case, "failure", {
            "type": "deviated",
            "message": f"{len(missed)} of {len(s.results)} expectations missed: "
                       f"{missed[0].scan}: {missed[0].message}"})
        failure.text = "\n".join(f"{r.scan}: {r.message}" for r in missed)
    elif outcome == "skipped":
        ET.SubElement(case, "skipped", {"message": s.error or "not run"})
    elif outcome == "error":
        error = ET.SubElement(case, "error", {"type": s.status.value,
                                              "message": s.error or s.status.value})
        lines = [s.error or s.status.value]
        if s.error_step:
            lines.append(f"at {s.error_step}")
        missed = [r for r in s.results if not r.met]
        lines += [f"{r.scan}: {r.message}" for r in missed]
        error.text = "\n".join(lines)
    out = ET.SubElement(case, "system-out")
    out.text = "\n".join(_log(s)) or None
    return case


def _log(s: records.ScenarioRecord) -> list[str]:
    lines = []
    for st in s.steps:
        lines.append(f"[{st.status.value:>11}] {st.step.path} {st.describe()} "
                     f"({st.duration_s:.2f}s): {st.detail}")
    for r in s.results:
        lines.append(f"[{'met' if r.met else 'MISSED':>11}] {r.scan}: {r.message}")
    if s.cleanup is not None:
        lines.append(f"[    cleanup] namespace {s.cleanup.namespace}: "
                     f"{'deleted' if s.cleanup.namespace_deleted else s.cleanup.kept or 'kept'}")
    return lines
