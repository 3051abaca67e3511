"""The HTML report in a real browser: Debian's headless Chromium.

Screenshots must be real pages, the main elements visible, the page's own sorting script
must run under its Content-Security-Policy, hostile strings from a dump must run no
script (with and without that policy, and a control page proves the check would notice),
nothing may be fetched, and the page must print. Chromium missing is a failure, not a
skip: CI installs it (.ci/run), and so does `apt-get install -y chromium`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scanner.report import html, json_format, validation
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
