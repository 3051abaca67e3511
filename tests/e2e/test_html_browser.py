"""The HTML report in a real browser: Debian's headless Chromium.

Screenshots must be real pages, the main elements visible, the page's own sorting script
must run under its Content-Security-Policy, hostile strings from a dump must run no
script (with and without that policy, and a control page proves the check would notice),
nothing may be fetched, and the page must print. Chromium missing is a failure, not a
skip: CI installs it (.ci/run), and so does `apt-get install -y chromium`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from scanner.report import document as report_model
from scanner.report import html, html_directory, json_format, validation
from tests import htmltree, kubedump
from tests.e2e import chromium
from tests.unit import helpers

pytestmark = pytest.mark.browser

HEADER_BLUE = (0x1A, 0x36, 0x5D)


@pytest.fixture(scope="module")
def exe() -> str:
    found = chromium.binary()
    if found is None:
        pytest.fail("Chromium is not installed: run `apt-get install -y chromium` "
                    "(.ci/run does), or set DRIFTSCAN_CHROMIUM to its path")
    return found


def write_page(tmp_path: Path, dump: Path, name: str = "report.html") -> Path:
    path = tmp_path / name
    html.write(helpers.report_for(helpers.load(dump)), path)
    return path


@pytest.fixture
def sample_page(tmp_path: Path) -> Path:
    return write_page(tmp_path, kubedump.DUMPS / "sample-shop.json")


@pytest.fixture
def xss_page(tmp_path: Path) -> Path:
    return write_page(tmp_path, kubedump.DUMPS / "xss.json", "xss.html")


def test_screenshot_is_a_real_rendered_page(exe: str, sample_page: Path, tmp_path: Path) -> None:
    png = tmp_path / "shot.png"
    chromium.screenshot(exe, sample_page.as_uri(), png, 1400, 2000)
    width, height, rows = chromium.png_pixels(png.read_bytes())
    assert (width, height) == (1400, 2000)
    pixels = [row[i:i + 3] for row in rows[::8] for i in range(0, len(row), 24)]
    colours = set(pixels)
    ink = sum(1 for p in pixels if p != b"\xff\xff\xff")
    assert len(colours) > 50, "a blank or single-colour screenshot"
    assert ink / len(pixels) > 0.10
    # The dark header band is drawn across the top, the body below it is white.
    assert tuple(rows[10][30:33]) == HEADER_BLUE
    assert tuple(rows[300][5:8]) == (255, 255, 255)


def test_dump_dom_shows_summary_table_and_findings(exe: str, sample_page: Path) -> None:
    dom = htmltree.parse(chromium.run(exe, sample_page.as_uri(), "--dump-dom").stdout)
    assert dom.by_id("summary").words == "Summary"
    rows = dom.by_id("workload-table").find("tbody").find_all("tr")
    assert [r.find_all("td")[2].words for r in rows] == [
        "Deployment shop/catalog", "Deployment shop/checkout", "Deployment payments/ledger",
        "Deployment shop/api-gateway", "Deployment shop/frontend"]
    assert len(dom.find_all("section", class_="workload")) == 3
    # The sorting script ran under the page's CSP: it turned each heading into a button.
    assert [b.words for b in dom.by_id("workload-table").find_all("button", class_="sort")] == [
        "Score", "Grade", "Workload", "Builds", "Pods", "Findings"]


VISIBLE = """
(() => {
  const out = {};
  for (const sel of %s) {
    const e = document.querySelector(sel);
    if (!e) { out[sel] = null; continue; }
    const r = e.getBoundingClientRect(), s = getComputedStyle(e);
    out[sel] = {w: r.width, h: r.height, top: r.top + scrollY,
                shown: s.display !== "none" && s.visibility === "visible" && s.opacity !== "0"};
  }
  return out;
})()
"""


def test_main_elements_are_visible_and_nothing_is_fetched(exe: str, sample_page: Path) -> None:
    selectors = ["header.top h1", "#verdict", "#summary", "#grade-counts", "#workload-table",
                 "#w-deployment-shop-checkout", "#w-deployment-shop-checkout pre.cmd",
                 "#w-deployment-shop-catalog svg.graph", "svg.bar", "#rules"]
    with chromium.DevTools(exe) as browser:
        browser.open(sample_page.as_uri())
        boxes = browser.evaluate(VISIBLE % json_list(selectors))
        for sel in selectors:
            box = boxes[sel]
            assert box is not None, sel
            assert box["shown"] and box["w"] > 20 and box["h"] > 8, (sel, box)
        for sel in ("header.top h1", "#verdict", "#summary", "#workload-table"):
            assert boxes[sel]["top"] < 2000, f"{sel} is not on the first screen"
        requests = [p["request"]["url"] for p in browser.methods("Network.requestWillBeSent")]
        assert requests == [sample_page.as_uri()]
        assert browser.methods("Runtime.exceptionThrown") == []
        errors = [p["entry"] for p in browser.methods("Log.entryAdded")
                  if p["entry"]["level"] == "error"]
        assert errors == []
        # Sorting: click "Score" → ascending, click again → descending.
        first = "document.querySelector('#workload-table tbody tr td').textContent"
        click = "document.querySelector('#workload-table th button').click()"
        browser.evaluate(click)
        assert browser.evaluate(first) == "0"
        browser.evaluate(click)
        assert browser.evaluate(first) == "68"


def json_list(items: list[str]) -> str:
    return "[" + ",".join('"' + i.replace('"', '\\"') + '"' for i in items) + "]"


PROBE = """({xss: typeof window.__xss, title: document.title,
            imgs: document.images.length, scripts: document.scripts.length})"""


def test_hostile_strings_run_no_script(exe: str, xss_page: Path, tmp_path: Path) -> None:
    text = xss_page.read_text()
    title = htmltree.parse(text).find("title").text
    # Without the CSP too: escaping alone must keep the payloads inert.
    bare = tmp_path / "xss-no-csp.html"
    bare.write_text(re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", text))
    assert "Content-Security-Policy" not in bare.read_text()
    with chromium.DevTools(exe) as browser:
        for page in (xss_page, bare):
            browser.open(page.as_uri())
            state = browser.evaluate(PROBE)
            assert state == {"xss": "undefined", "title": title, "imgs": 0, "scripts": 1}, page
            assert browser.methods("Page.javascriptDialogOpening") == [], "alert() ran"
            requests = [p["request"]["url"] for p in browser.methods("Network.requestWillBeSent")]
            assert requests == [page.as_uri()], "the page fetched something"
            shown = browser.evaluate("document.body.innerText")
            for payload in kubedump.PAYLOADS:
                assert payload in shown, payload


def test_the_xss_check_notices_a_script_that_runs(exe: str, tmp_path: Path) -> None:
    """Control: the same payloads, unescaped, do run — so the test above would catch it."""
    page = tmp_path / "control.html"
    page.write_text(f"<!DOCTYPE html><title>ok</title><p>{kubedump.XSS_SCRIPT}"
                    f"<p><a title=\"{kubedump.XSS_IMG}\">x</a>"
                    f"<p>{kubedump.XSS_ALERT}")
    with chromium.DevTools(exe) as browser:
        browser.open(page.as_uri())
        state = browser.evaluate(PROBE)
        assert state["xss"] == "number" and state["title"] == "XSS" and state["imgs"] == 1
        assert [d["message"] for d in browser.methods("Page.javascriptDialogOpening")] == ["1"]


def test_dump_dom_of_hostile_page_keeps_its_title_and_has_no_injected_elements(
        exe: str, xss_page: Path) -> None:
    dom_text = chromium.run(exe, xss_page.as_uri(), "--dump-dom",
                            "--virtual-time-budget=3000").stdout
    dom = htmltree.parse(dom_text)
    title = htmltree.parse(xss_page.read_text()).find("title").text
    assert dom.find("title").text == title != "XSS"
    assert dom.find_all("img") == []
    assert len(dom.find_all("script")) == 1


def test_page_prints(exe: str, sample_page: Path, tmp_path: Path) -> None:
    pdf = tmp_path / "report.pdf"
    chromium.run(exe, sample_page.as_uri(), f"--print-to-pdf={pdf}", "--no-pdf-header-footer")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and len(data) > 20_000
    assert len(re.findall(rb"/Type\s*/Page[^s]", data)) >= 2


def test_validation_page_links_open_the_scan_page_at_the_workload(exe: str,
                                                                  tmp_path: Path) -> None:
    def rep(rule: str, name: str) -> dict[str, object]:
        return json_format.to_dict(helpers.report_for(helpers.load(helpers.FIXTURES / rule
                                                                    / name)))

    journal = kubedump.sample_journal({
        "repushed": rep("digest-drift", "fires-repushed-tag.json"),
        "stalled": rep("stalled-rollout", "fires-errimagepull-deadline.json"),
        "control": rep("digest-drift", "clean-pinned-control.json"),
    })
    validation.write_validation(journal, tmp_path)
    with chromium.DevTools(exe) as browser:
        browser.open((tmp_path / "index.html").as_uri())
        assert browser.evaluate("document.querySelectorAll('#matrix-table tbody tr').length") == 3
        href = browser.evaluate("document.querySelector('#matrix-table tbody td.cell a').href")
        assert href.endswith("scans/repushed-tag--after-repush.html#w-deployment-shop-web")
        browser.open(href)
        assert browser.evaluate("document.querySelector(':target').id") == "w-deployment-shop-web"
        assert browser.evaluate("document.querySelector(':target').getBoundingClientRect().top") \
            < 200


# --- big pages and report directories ---------------------------------------------------------

FLEET = 2400
"""1,200 workloads with high findings (past the 1,000-section limit), 600 low, 600 clean."""


@pytest.fixture(scope="module")
def fleet_report(tmp_path_factory: pytest.TempPathFactory) -> report_model.Report:
    path = tmp_path_factory.mktemp("fleet") / "fleet.json"
    path.write_text(json.dumps(kubedump.fleet(FLEET)))
    return helpers.report_for(helpers.load(path))


@pytest.fixture(scope="module")
def big_page(fleet_report: report_model.Report,
             tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "fleet.html"
    html.write(fleet_report, path)
    return path


FIRST_SCREEN = """
(() => {
  const top = (sel) => { const e = document.querySelector(sel);
                         return e ? e.getBoundingClientRect().top + scrollY : null; };
  const section = document.querySelector("section.workload");
  const limit = section.getBoundingClientRect().top + scrollY;
  const rowsAbove = Array.prototype.filter.call(
    document.querySelectorAll("#workload-table tbody tr"),
    (tr) => tr.getBoundingClientRect().top + scrollY < limit).length;
  return {summary: top("#summary"), grades: top("#grade-counts"), note: top("#detail-note"),
          section: limit, sectionId: section.id, rows: document.querySelectorAll(
            "#workload-table tbody tr").length, rowsAbove: rowsAbove, innerHeight: innerHeight};
})()
"""

TARGET = """
(() => { const t = document.querySelector(":target"); if (!t) { return null; }
         const r = t.getBoundingClientRect();
         return {id: t.id, tag: t.tagName, top: r.top, bottom: r.bottom, text: t.innerText}; })()
"""


def test_big_page_shows_summary_grades_and_first_detailed_workload_on_the_first_screen(
        exe: str, big_page: Path, fleet_report: report_model.Report) -> None:
    ids = html.anchors(fleet_report)
    first = next(w for w in fleet_report.workloads if w.findings)
    with chromium.DevTools(exe, width=1400, height=1000) as browser:
        browser.open(big_page.as_uri())
        at = browser.evaluate(FIRST_SCREEN)
        assert at["rows"] == FLEET
        assert at["rowsAbove"] == 0, "the reader scrolls past table rows to reach findings"
        assert at["sectionId"] == ids[(first.kind, first.namespace, first.name)]
        for key in ("summary", "grades", "note", "section"):
            assert 0 < at[key] < at["innerHeight"], (key, at)
        assert browser.methods("Runtime.exceptionThrown") == []
        requests = [p["request"]["url"] for p in browser.methods("Network.requestWillBeSent")]
        assert requests == [big_page.as_uri()]


def test_anchors_open_every_kind_of_workload_on_the_big_page(
        exe: str, big_page: Path, fleet_report: report_model.Report) -> None:
    ids = html.anchors(fleet_report)
    chosen = html.Detail().choose(fleet_report.workloads)
    detailed = [w for w, full in zip(fleet_report.workloads, chosen, strict=True) if full]
    over = [w for w, full in zip(fleet_report.workloads, chosen, strict=True)
            if not full and html.worst_severity(w) == "high"]
    low = [w for w in fleet_report.workloads if html.worst_severity(w) == "low"]
    clean = [w for w in fleet_report.workloads if not w.findings]
    assert len(detailed) == html.DETAIL_LIMIT and over and low and clean
    cases = [(detailed[-1], "SECTION"), (over[-1], "TR"), (low[0], "TR"), (clean[-1], "TR")]
    with chromium.DevTools(exe, width=1400, height=1000) as browser:
        for w, tag in cases:
            anchor = ids[(w.kind, w.namespace, w.name)]
            browser.open("about:blank")  # a fresh load each time, not a same-page jump
            browser.open(f"{big_page.as_uri()}#{anchor}")
            target = browser.evaluate(TARGET)
            assert target is not None and target["id"] == anchor and target["tag"] == tag
            assert -2 < target["top"] < 1000, (anchor, target)
            assert f"{w.namespace}/{w.name}" in target["text"]


def test_report_directory_links_open_namespace_pages_at_the_workload(
        exe: str, fleet_report: report_model.Report, tmp_path: Path) -> None:
    report = html_directory.part(fleet_report, fleet_report.workloads[:200])
    html_directory.write(report, tmp_path)
    with chromium.DevTools(exe, width=1400, height=1000) as browser:
        browser.open((tmp_path / "index.html").as_uri())
        assert browser.evaluate("document.querySelectorAll('#group-table tbody tr').length") \
            == len({w.namespace for w in report.workloads}) > 1
        href = browser.evaluate("document.querySelector('#top-table tbody a').href")
        assert re.search(r"/ns-team-\d\d\.html#w-deployment-team-\d\d-svc-\d+$", href)
        browser.open(href)
        target = browser.evaluate(TARGET)
        assert target is not None and href.endswith("#" + target["id"])
        assert -2 < target["top"] < 1000
        back = browser.evaluate("document.querySelector('#context a').href")
        assert back == (tmp_path / "index.html").as_uri()
        requests = [p["request"]["url"] for p in browser.methods("Network.requestWillBeSent")]
        assert requests == [href.partition("#")[0]]


def test_report_directory_of_hostile_strings_runs_no_script(exe: str, tmp_path: Path) -> None:
    report = helpers.report_for(helpers.load(kubedump.DUMPS / "xss.json"))
    written = html_directory.write(report, tmp_path)
    assert len(written) == 3  # the index, ns-shop and the {{ 7*7 }} namespace's page
    with chromium.DevTools(exe) as browser:
        for page in written:
            browser.open(page.as_uri())
            state = browser.evaluate(PROBE)
            assert state["xss"] == "undefined" and state["imgs"] == 0 and state["scripts"] == 1
            assert state["title"] == htmltree.parse(page.read_text()).find("title").text
            assert browser.methods("Page.javascriptDialogOpening") == [], page
        shown = browser.evaluate("document.body.innerText")
        assert "{{ 7*7 }}" in shown or "shop" in shown
