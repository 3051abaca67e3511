"""Audit outputs in headless Chromium: the PDF report and the --history page.

The PDF is printed by driftscan itself (``--format pdf``) and read back with poppler's
``pdfinfo``/``pdftotext``: page count, page one (provenance, page numbers) and every row
of the workload table of a report long enough to span pages. The history page is opened
over DevTools: rendered, nothing fetched, no console error, its chart drawn.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from scanner import cli
from scanner.report import json_format
from tests import kubedump
from tests.e2e import chromium
from tests.unit import helpers

pytestmark = pytest.mark.browser

SAMPLE = kubedump.DUMPS / "sample-shop.json"
COPIES = 24


@pytest.fixture(scope="module")
def exe() -> str:
    found = chromium.binary()
    if found is None:
        pytest.fail("Chromium is not installed: run `apt-get install -y chromium`")
    return found


@pytest.fixture(scope="module")
def poppler() -> None:
    if shutil.which("pdftotext") is None or shutil.which("pdfinfo") is None:
        pytest.fail("poppler-utils is not installed: run `apt-get install -y poppler-utils`")


def _many_namespaces(tmp_path: Path) -> Path:
    """The sample shop copied into COPIES namespaces: 120 workloads, several pages."""
    raw = json.loads(SAMPLE.read_text())
    items: list[Any] = []
    for n in range(COPIES):
        for item in copy.deepcopy(raw["items"]):
            if item["metadata"].get("namespace"):
                item["metadata"]["namespace"] = f"{item['metadata']['namespace']}-{n:02d}"
                items.append(item)
            elif n == 0:
                items.append(item)  # nodes once
    path = tmp_path / "many.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    return path


def _text(pdf: Path, *args: str) -> str:
    return subprocess.run(["pdftotext", "-layout", *args, str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout


def test_pdf_has_page_numbers_provenance_first_and_every_table_row(
        exe: str, poppler: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dump = _many_namespaces(tmp_path)
    pdf, saved = tmp_path / "report.pdf", tmp_path / "report.json"
    assert cli.main(["scan", "--from", str(dump), "--format", "pdf", "-o", str(pdf)]) == 1
    assert cli.main(["scan", "--from", str(dump), "--format", "json", "-o", str(saved)]) == 1
    assert pdf.read_bytes().startswith(b"%PDF-")
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True,
                          check=True).stdout
    pages = int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))  # type: ignore[union-attr]
    assert pages >= 5

    first = _text(pdf, "-f", "1", "-l", "1")
    assert "driftscan report" in first and "Provenance" in first
    assert "Command" in first and "--format pdf" in first
    assert "Input file" in first and str(dump.name) in first
    assert re.search(rf"page 1 of {pages}\b", first), first[-400:]

    text = _text(pdf)
    assert re.search(rf"page {pages} of {pages}\b", text)
    report = json.loads(saved.read_text())
    assert len(report["workloads"]) == 5 * COPIES
    # Every row of the workload table, whole: score, grade, workload, builds, pods.
    for w in report["workloads"]:
        builds = max((len(c["digests"]) for c in w["containers"]), default=0)
        row = (rf"^\s*{w['score']}\s+{w['grade']}\s+{w['kind']}\s+"
               rf"{re.escape(w['namespace'])}/{re.escape(w['name'])}\s+{builds}\s+\d+\s")
        assert re.search(row, text, re.M), f"row of {w['namespace']}/{w['name']} missing"
    # Every page's footer names the report's digest (one scan, so one digest).
    footers = re.findall(r"(sha256:[0-9a-f]{64}) ·\s+page \d+ of", text)
    assert len(footers) == pages and len(set(footers)) == 1


def test_report_command_prints_a_saved_report_to_pdf(exe: str, poppler: None,
                                                     tmp_path: Path) -> None:
    saved, pdf = tmp_path / "r.json", tmp_path / "r.pdf"
    saved.write_text(json_format.render(helpers.report_for(helpers.load(SAMPLE))))
    assert cli.main(["report", str(saved), "--format", "pdf", "-o", str(pdf)]) == 0
    first = _text(pdf, "-f", "1", "-l", "1")
    assert "Provenance" in first and "sample-shop.json" in first


HISTORY_PROBE = """(() => {
  const svg = document.querySelector("svg.history"), r = svg.getBoundingClientRect();
  return {w: r.width, h: r.height, bars: svg.querySelectorAll("rect").length,
          rows: document.querySelectorAll("#report-table tbody tr").length,
          longest: document.querySelectorAll("#longest-table tbody tr").length,
          mttr: document.querySelector("#mttr").textContent};
})()"""


def test_history_page_renders_without_errors(exe: str, tmp_path: Path) -> None:
    folder = tmp_path / "saved"
    folder.mkdir()
    raw = json.loads(SAMPLE.read_text())
    fixed = copy.deepcopy(raw)
    checkout = [i for i in fixed["items"] if i["kind"] == "Pod"
                and i["metadata"]["name"].startswith("checkout-")]
    for pod in checkout:
        pod["status"]["containerStatuses"][0]["imageID"] = \
            checkout[0]["status"]["containerStatuses"][0]["imageID"]
    (tmp_path / "fixed-dump.json").write_text(json.dumps(fixed))
    for i, (dump, stamp) in enumerate([(SAMPLE, "2026-01-10T12:00:00Z"),
                                       (SAMPLE, "2026-01-10T13:00:00Z"),
                                       (tmp_path / "fixed-dump.json", "2026-01-10T15:00:00Z")]):
        report = helpers.report_for(helpers.load(dump))
        data = json_format.to_dict(report)
        data["generated_at"] = stamp
        (folder / f"{i}.json").write_text(json.dumps(data))
    page = tmp_path / "history.html"
    assert cli.main(["report", "--history", str(folder), "-o", str(page)]) == 0
    with chromium.DevTools(exe) as browser:
        browser.open(page.as_uri())
        probe = browser.evaluate(HISTORY_PROBE)
        assert probe["w"] > 50 and probe["h"] > 100 and probe["bars"] >= 3
        assert probe["rows"] == 3 and probe["longest"] >= 2
        assert probe["mttr"] == "3h 0m"
        requests = [p["request"]["url"] for p in browser.methods("Network.requestWillBeSent")]
        assert requests == [page.as_uri()]
        assert browser.methods("Runtime.exceptionThrown") == []
        assert [p for p in browser.methods("Log.entryAdded")
                if p["entry"]["level"] == "error"] == []
        assert [p for p in browser.methods("Runtime.consoleAPICalled")
                if p["type"] == "error"] == []
        shot = browser.screenshot()
    (tmp_path / "history.png").write_bytes(shot)
    width, _, rows = chromium.png_pixels(shot)
    pixels = [row[i:i + 3] for row in rows[::10] for i in range(0, len(row), 30)]
    assert len(set(pixels)) > 20, "a blank screenshot"
    assert tuple(rows[10][30:33]) == (0x1A, 0x36, 0x5D)  # the header band
