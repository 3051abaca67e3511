"""JUnit XML for a scan (``driftscan scan --format junit``), for CI test reporters.

One ``<testcase>`` per workload and rule that fired — ``classname`` is the workload
(``Kind/namespace/name``), ``name`` the rule id (and container) — so a CI system lists
drift the way it lists failing tests. A finding at or above ``--fail-on`` is a
``<failure>`` carrying the message and the fix; one below it passes, with the message in
``<system-out>``. A workload with no finding is one passing ``clean`` testcase. Every gap
is an ``<error>`` testcase under ``scan``: part of the cluster was not seen, so the run
must not look green.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from scanner import findings
from scanner.report import document

__all__ = ["render"]

SUITE = "driftscan.scan"


def _case(suite: ET.Element, classname: str, name: str) -> ET.Element:
    return ET.SubElement(suite, "testcase", {"classname": classname, "name": name,
                                             "time": "0"})


def render(report: document.Report, fail_on: findings.Severity) -> str:
    """The report as a JUnit XML document; findings at or above ``fail_on`` fail."""
    root = ET.Element("testsuites", {"name": "driftscan scan"})
    suite = ET.SubElement(root, "testsuite", {"name": SUITE,
                                              "timestamp": report.generated_at})
    props = ET.SubElement(suite, "properties")
    for key, value in (("schema", report.schema), ("source", report.source.type),
                       ("context", report.source.context or ""),
                       ("scanned", report.source.describe()),
                       ("fail_on", fail_on.value),
                       ("complete", str(report.summary.complete).lower()),
                       ("cluster_id", (report.provenance.cluster_id or "")
                        if report.provenance else ""),
                       ("report_digest", report.integrity.digest if report.integrity else "")):
        ET.SubElement(props, "property", {"name": key, "value": value})
    tests = failures = errors = 0
    for w in report.workloads:
        classname = f"{w.kind}/{w.namespace}/{w.name}"
        if w.cluster:  # a fleet scan: the same name may be in several clusters
            classname = f"{w.cluster}/{classname}"
        if not w.findings:
            _case(suite, classname, "clean")
            tests += 1
        for f in w.findings:
            case = _case(suite, classname, f"{f.rule} ({f.container})" if f.container
                         else f.rule)
            tests += 1
            text = f"{f.message}\nfix: {f.remediation}"
            if findings.Severity(f.severity).rank >= fail_on.rank:
                failures += 1
                failure = ET.SubElement(case, "failure", {
                    "type": f.rule, "message": f"[{f.severity}] {f.title}"})
                failure.text = text
            else:
                ET.SubElement(case, "system-out").text = f"[{f.severity}] {text}"
    for gap in report.gaps:
        where = f" in {gap.namespace}" if gap.namespace else ""
        case = _case(suite, "scan", f"gap: {gap.kind}{where}")
        error = ET.SubElement(case, "error", {"type": "gap", "message": gap.reason})
        error.text = f"could not read {gap.kind}{where}: {gap.reason}"
        tests += 1
        errors += 1
    counts = {"tests": str(tests), "failures": str(failures), "errors": str(errors),
              "skipped": "0", "time": "0"}
    for element in (root, suite):
        element.attrib.update(counts)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"
