"""The HTML report: content rendered from real dumps, self-containment, escaping, CLI.

Pages are parsed with the standard library (tests/htmltree.py) and checked for what a
reader must see: the right workloads in score order, grades, digests, pods per digest,
the exact ``kubectl set image …@sha256:…`` commands, score sums, gaps, and links.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import hashlib
import json
import re
import shlex
from pathlib import Path

import pytest

from scanner import cli, errors, model
from scanner.report import document as report_model
from scanner.report import html, json_format, saved_report, validation
from tests import htmltree, kubedump
from tests.unit import helpers

SAMPLE = kubedump.DUMPS / "sample-shop.json"
XSS = kubedump.DUMPS / "xss.json"
REGISTRY = kubedump.REGISTRY
D = kubedump.digest


def report_of(path: Path) -> report_model.Report:
    return helpers.report_for(helpers.load(path))


def page_of(path: Path) -> htmltree.Element:
    return htmltree.parse(html.render(report_of(path)))


@pytest.fixture(scope="module")
def sample() -> htmltree.Element:
    return page_of(SAMPLE)


# --- content -------------------------------------------------------------------------------


def table_rows(page: htmltree.Element) -> list[tuple[str, ...]]:
    body = page.by_id("workload-table").find("tbody")
    return [tuple(td.words for td in tr.find_all("td")) for tr in body.find_all("tr")]


def test_workload_table_lists_every_workload_by_score_with_grades(sample: htmltree.Element) -> None:
    rows = table_rows(sample)
    assert [r[:5] for r in rows] == [
        ("68", "F", "Deployment shop/catalog", "3", "5"),
        ("51", "D", "Deployment shop/checkout", "2", "5"),
        ("30", "C", "Deployment payments/ledger", "1", "4"),
        ("0", "A", "Deployment shop/api-gateway", "1", "2"),
        ("0", "A", "Deployment shop/frontend", "1", "3"),
    ]
    assert rows[1][5] == "high digest-drift, mutable-tag"
    assert rows[3][5] == "none"
    badges = [s.attrs["class"] for s in sample.by_id("workload-table").find_all("span")
              if "grade" in (s.attrs.get("class") or "")]
    assert badges == ["grade g-F", "grade g-D", "grade g-C", "grade g-A", "grade g-A"]


def test_summary_counts(sample: htmltree.Element) -> None:
    cards = [c.words for c in sample.find_all("div", class_="card")]
    assert cards[:4] == ["5 workloads scanned", "19 pods", "3 workloads with findings",
                         "68 highest score (of 100)"]
    grades = {e.attrs["data-grade"]: e.text for e in sample.find_all("span")
              if "data-grade" in e.attrs}
    assert grades == {"A": "2", "B": "0", "C": "1", "D": "1", "F": "1"}
    severities = {e.attrs["data-severity"]: e.text for e in sample.find_all("span")
                  if "data-severity" in e.attrs}
    assert severities == {"critical": "0", "high": "3", "medium": "1", "low": "1", "info": "0"}
    assert sample.by_id("verdict").words == (
        "3 of 5 workloads have findings; the worst scores 68/100.")
    assert "gaps" not in {e.attrs.get("id") for e in sample.iter()}


def test_sections_only_for_workloads_with_findings_and_rows_link_to_them(
        sample: htmltree.Element) -> None:
    sections = [s.attrs["id"] for s in sample.find_all("section", class_="workload")]
    assert sections == ["w-deployment-shop-catalog", "w-deployment-shop-checkout",
                        "w-deployment-payments-ledger"]
    links = [a.attrs["href"] for a in sample.by_id("workload-table").find_all("a")]
    assert links == ["#" + s for s in sections]
    # Clean workloads are linkable too: their table row carries the anchor.
    assert sample.by_id("w-deployment-shop-frontend").tag == "tr"


def test_repushed_tag_section_pins_the_majority_build_with_a_ready_command(
        sample: htmltree.Element) -> None:
    section = sample.by_id("w-deployment-shop-checkout")
    drift = section.by_id("w-deployment-shop-checkout-f1")
    assert "digest-drift" in drift.words and "high" in drift.words
    assert "Why it matters: Pods created from the same template run different" in drift.words
    pin = D("checkout-1.4")
    command = drift.find("pre").words
    assert command == (f"kubectl set image deployment/checkout -n shop "
                       f"checkout={REGISTRY}/shop/checkout:1.4@{pin}")
    assert f"pin checkout to {pin}" in drift.find("div", class_="fix").words
    # The other findings of the container point at that command instead of repeating it.
    for fid in ("w-deployment-shop-checkout-f2",):
        fix = section.by_id(fid).find("div", class_="fix")
        assert fix.find("a").attrs["href"] == "#w-deployment-shop-checkout-f1"
        assert pin in fix.words
    builds = [tuple(td.words for td in tr.find_all("td"))
              for tr in section.find("table", class_="digests").find("tbody").find_all("tr")]
    assert [(b[0], b[1], b[3]) for b in builds] == sorted([
        (f"{pin}pin", "3", "node-a, node-b"),
        (D("checkout-1.4-repush"), "2", "node-c"),
    ])


def test_three_revision_rollout_section(sample: htmltree.Element) -> None:
    section = sample.by_id("w-deployment-shop-catalog")
    words = section.words
    assert "overlapping-rollout" in words and "rollout-version-mix" in words
    command = section.find("pre").words
    assert shlex.split(command) == [
        "kubectl", "set", "image", "deployment/catalog", "-n", "shop",
        f"catalog={REGISTRY}/shop/catalog:2.3@{D('catalog-2.3')}"]
    builds = section.find("table", class_="digests").find("tbody").find_all("tr")
    assert sorted(int(tr.find_all("td")[1].text) for tr in builds) == [1, 2, 2]
    graph = section.find("svg", class_="graph")
    labels = [t.text for t in graph.find_all("text")]
    assert labels[:4] == ["callers", "Services", "revisions", "pods"]
    assert "#5 catalog-3f2752166" in labels and "frontend" in labels
    assert sum(1 for t in labels if t.startswith("pod ")) == 5
    assert "called by Deployment/shop/frontend" in section.words


def test_score_breakdown_adds_up_and_links_every_point_to_a_finding(
        sample: htmltree.Element) -> None:
    for section in sample.find_all("section", class_="workload"):
        items = section.find("ol", class_="score-breakdown").find_all("li")
        points = [int(re.match(r"\+(\d+)", li.words).group(1)) for li in items[:-1]]
        score = int(section.find("span", class_="score").words.split()[1].split("/")[0])
        assert sum(points) == score or "capped at 100" in items[-1].words
        assert items[-1].words.startswith(f"= {score}")
        for li in items[:-1]:
            target = li.find("a").attrs["href"][1:]
            assert section.by_id(target).matches("div", class_="finding")


def test_stalled_rollout_section(sample: htmltree.Element) -> None:
    section = sample.by_id("w-deployment-payments-ledger")
    finding = section.find("div", class_="finding")
    assert "stalled-rollout" in finding.words
    assert "ImagePullBackOff" in finding.words
    assert "kubectl rollout undo deployment/ledger -n payments" in finding.words
    assert "waiting for its image" not in section.words  # old pods report their imageID
    assert section.find("svg", class_="graph") is not None


def test_every_internal_link_resolves_and_ids_are_unique() -> None:
    for path in [SAMPLE, XSS, *helpers.rule_fixtures()]:
        page = page_of(path)
        ids = [e.attrs["id"] for e in page.iter() if e.attrs.get("id")]
        assert len(ids) == len(set(ids)), path
        for a in page.find_all("a"):
            href = a.attrs["href"] or ""
            assert href.startswith("#") and href[1:] in ids, (path, href)


# --- self-contained ------------------------------------------------------------------------

_URL_ATTRS = {"src", "href", "xlink:href", "action", "formaction", "poster", "data", "srcset",
              "background", "cite", "longdesc", "manifest", "ping"}


def external_references(text: str) -> list[str]:
    """Every reference that would leave the file (anything but #anchors and data: URLs)."""
    page = htmltree.parse(text)
    found = []
    for e in page.iter():
        if e.tag in ("link", "iframe", "object", "embed", "base", "frame", "audio", "video"):
            found.append(f"<{e.tag}>")
        for name, value in e.attrs.items():
            if name in _URL_ATTRS and not (value or "").startswith(("#", "data:")):
                found.append(f"{name}={value}")
    for url in re.findall(r"url\(\s*['\"]?([^'\")]*)", text):
        if not url.startswith(("#", "data:")):
            found.append(f"url({url})")
    found.extend(re.findall(r"@import[^;]*", text))
    return found


@pytest.mark.parametrize("path", [SAMPLE, XSS, *helpers.rule_fixtures()],
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_page_references_nothing_outside_itself(path: Path) -> None:
    text = html.render(report_of(path))
    assert external_references(text) == []


def test_external_reference_check_catches_what_it_should() -> None:
    bad = ('<link rel="stylesheet" href="https://cdn.example/x.css"><img src="x.png">'
           '<a href="http://example.com">x</a><a href="#ok">ok</a>'
           '<img src="data:image/png;base64,">'
           '<style>body { background: url(https://e.example/b.png) }</style>')
    assert external_references(bad) == [
        "<link>", "href=https://cdn.example/x.css", "src=x.png", "href=http://example.com",
        "url(https://e.example/b.png)"]


def test_content_security_policy_allows_only_the_page_script() -> None:
    page = htmltree.parse(html.render(report_of(SAMPLE)))
    meta = [m for m in page.find_all("meta")
            if m.attrs.get("http-equiv") == "Content-Security-Policy"]
    policy = meta[0].attrs["content"] or ""
    assert "default-src 'none'" in policy and "form-action 'none'" in policy
    scripts = page.find_all("script")
    assert len(scripts) == 1
    digest = base64.b64encode(hashlib.sha256(scripts[0].text.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in policy


# --- escaping ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def xss_text() -> str:
    return html.render(report_of(XSS))


def test_hostile_strings_render_as_text(xss_text: str) -> None:
    for payload in kubedump.PAYLOADS:
        if payload != kubedump.XSS_TEMPLATE:
            assert payload not in xss_text
    assert "web&lt;script&gt;document.title=&#39;XSS&#39;;window.__xss=1&lt;/script&gt;" in xss_text
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in xss_text
    page = htmltree.parse(xss_text)
    text = page.text
    # What a reader sees is the hostile text itself, shown, not executed.
    for payload in kubedump.PAYLOADS:
        assert payload in text, payload
    assert "{{ 7*7 }}" in text and "49" not in page.by_id("workload-table").text
    assert page.find_all("img") == []
    assert [e.tag for e in page.iter() if any(k.startswith("on") for k in e.attrs)] == []
    assert len(page.find_all("script")) == 1
    assert page.find("title").text.startswith("driftscan report")


def test_hostile_workload_gets_a_safe_anchor_and_a_shell_quoted_command(xss_text: str) -> None:
    page = htmltree.parse(xss_text)
    ids = [e.attrs["id"] for e in page.iter() if e.attrs.get("id")]
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", i or "") for i in ids)
    name = f"web{kubedump.XSS_SCRIPT}"
    container = f"c{kubedump.XSS_ALERT_IMG}"
    anchor = html.workload_anchor("Deployment", "shop", name)
    section = page.by_id(anchor)
    command = section.find("pre").text
    pin = D("b")
    assert shlex.split(command) == [
        "kubectl", "set", "image", f"deployment/{name}", "-n", "shop",
        f"{container}={REGISTRY}/shop/web:1.0@{pin}"]
    assert f"{kubedump.XSS_ALERT}" in section.words  # the opt-out annotation, shown as text


# --- model, anchors, commands ----------------------------------------------------------------


def test_anchors_are_stable_and_unique() -> None:
    assert html.workload_anchor("Deployment", "shop", "web") == "w-deployment-shop-web"
    assert html.workload_anchor("StatefulSet", "db", "pg.main") == "w-statefulset-db-pg.main"
    odd = html.workload_anchor("Deployment", "shop", "Web<x>")
    assert re.fullmatch(r"w-deployment-shop-web-x-[0-9a-f]{8}", odd)
    report = report_of(SAMPLE)
    clash = [dataclasses.replace(report.workloads[0], namespace="a-b", name="c"),
             dataclasses.replace(report.workloads[0], namespace="a", name="b-c")]
    ids = html.anchors(dataclasses.replace(report, workloads=tuple(clash)))
    assert len(set(ids.values())) == 2
    assert all(v.startswith("w-deployment-a-b-c-") for v in ids.values())


def test_the_page_shows_the_pin_command_the_finding_worked_out() -> None:
    report = report_of(SAMPLE)
    w = report.workloads[0]
    pin = next(f.pin for f in w.findings if f.pin)
    assert pin.command == (
        f"kubectl set image deployment/catalog -n shop catalog={pin.pinned_image}")
    page = htmltree.parse(html.render(report))
    assert pin.command in [pre.words for pre in page.find_all("pre")]
    # Kinds kubectl cannot change, and image volumes, get no command: none is shown.
    job = dataclasses.replace(w, kind="Job", findings=tuple(
        dataclasses.replace(f, pin=dataclasses.replace(f.pin, command=None) if f.pin else None)
        for f in w.findings))
    page = htmltree.parse(html.render(dataclasses.replace(report, workloads=(job,))))
    assert not [pre for pre in page.find_all("pre") if "kubectl set image" in pre.words]


def test_partial_scan_never_looks_clean() -> None:
    snap = helpers.load(helpers.FIXTURES / "digest-drift" / "clean-pinned-control.json")
    gap = model.Gap("Pod", "payments", "forbidden: cannot list pods in namespace payments")
    page = htmltree.parse(html.render(helpers.report_for(dataclasses.replace(snap, gaps=(gap,)))))
    gaps = page.by_id("gaps")
    assert gaps.attrs["role"] == "alert"
    assert gaps.find("h2").words == "Incomplete scan: 1 part of the cluster was not read"
    assert "forbidden: cannot list pods in namespace payments" in gaps.words
    assert page.by_id("verdict").attrs["class"] == "verdict partial"
    assert page.find("title").text.startswith("INCOMPLETE")
    assert page.find("h1").words.startswith("INCOMPLETE")
    clean = htmltree.parse(html.render(helpers.report_for(snap)))
    assert clean.by_id("verdict").attrs["class"] == "verdict clean"


def test_clean_report_has_no_sections_and_says_so() -> None:
    page = page_of(helpers.FIXTURES / "digest-drift" / "clean-pinned-control.json")
    assert page.find_all("section", class_="workload") == []
    assert page.by_id("verdict").words.startswith("No drift")


# --- JSON round trip, loader, CLI -----------------------------------------------------------


def test_json_round_trip_gives_the_same_page(tmp_path: Path) -> None:
    report = report_of(SAMPLE)
    path = tmp_path / "r.json"
    path.write_text(json_format.render(report))
    assert html.render(saved_report.read(path)) == html.render(report)


def test_older_report_without_revisions_and_services_still_renders(tmp_path: Path) -> None:
    data = json_format.to_dict(report_of(SAMPLE))
    for w in data["workloads"]:
        del w["revisions"], w["services"]
    report = saved_report.from_data(data)
    page = htmltree.parse(html.render(report))
    assert [r[:3] for r in table_rows(page)][0] == ("68", "F", "Deployment shop/catalog")
    graph = page.by_id("w-deployment-shop-checkout").find("svg", class_="graph")
    assert "Services" not in [t.text for t in graph.find_all("text")]


def test_loader_rejects_bad_files_with_every_problem(tmp_path: Path) -> None:
    with pytest.raises(errors.InputError, match="no such file"):
        saved_report.read(tmp_path / "missing.json")
    (tmp_path / "a.json").write_text("{")
    with pytest.raises(errors.InputError, match="not JSON"):
        saved_report.read(tmp_path / "a.json")
    (tmp_path / "b.json").write_text('{"schema": "driftscan/journal/v1"}')
    with pytest.raises(errors.InputError, match="not a driftscan/report/v1 report"):
        saved_report.read(tmp_path / "b.json")
    data = json_format.to_dict(report_of(SAMPLE))
    data["workloads"][0]["grade"] = "Z"
    del data["summary"]["max_score"]
    (tmp_path / "c.json").write_text(json.dumps(data))
    with pytest.raises(errors.InputError, match=r"2 problem\(s\)") as info:
        saved_report.read(tmp_path / "c.json")
    assert "summary: 'max_score' is a required property" in str(info.value)
    assert "workloads/0/grade: 'Z' is not one of" in str(info.value)


def test_cli_scan_html_and_report_command_write_the_same_page(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    direct, saved, again = tmp_path / "a.html", tmp_path / "r.json", tmp_path / "b.html"
    assert cli.main(["scan", "--from", str(SAMPLE), "--format", "html", "-o", str(direct)]) == 1
    assert cli.main(["scan", "--from", str(SAMPLE), "--format", "json", "-o", str(saved)]) == 1
    assert cli.main(["report", str(saved), "-o", str(again)]) == 0
    assert f"wrote {again}" in capsys.readouterr().out
    stamp = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
    # The two commands differ (--format html vs json), so do the recorded command line
    # and with it the digest; everything else is the same page.
    command = re.compile(r"<code>driftscan scan [^<]*</code>|sha256:[0-9a-f]{64}")
    first, second = (command.sub("C", stamp.sub("T", p.read_text())) for p in (direct, again))
    assert first == second
    assert "--format html" in direct.read_text() and "--format json" in again.read_text()
    assert 'id="w-deployment-shop-checkout"' in first


def test_cli_report_command_exits_2_on_a_bad_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "something/else"}')
    assert cli.main(["report", str(bad), "-o", str(tmp_path / "x.html")]) == 2
    err = capsys.readouterr().err
    assert "not a driftscan/report/v1 report" in err and "Traceback" not in err
    assert not (tmp_path / "x.html").exists()
    assert cli.main(["report", str(tmp_path / "none.json"), "-o", str(tmp_path / "x.html")]) == 2


# --- validation page ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def journal() -> dict[str, object]:
    def rep(rule: str, name: str) -> dict[str, object]:
        return json_format.to_dict(report_of(helpers.FIXTURES / rule / name))

    return kubedump.sample_journal({
        "repushed": rep("digest-drift", "fires-repushed-tag.json"),
        "stalled": rep("stalled-rollout", "fires-errimagepull-deadline.json"),
        "control": rep("digest-drift", "clean-pinned-control.json"),
    })


def test_validation_matrix(journal: dict[str, object]) -> None:
    page = htmltree.parse(validation.render_validation(journal))
    table = page.by_id("matrix-table")
    assert [th.words for th in table.find("thead").find_all("th")] == [
        "Scenario", "Result", "digest-drift", "stalled-rollout", "absent", "clean"]
    rows = [[td.words for td in tr.find_all("td")] for tr in table.find("tbody").find_all("tr")]
    assert rows == [
        ["repushed-tag", "pass", "✓ 12.4 s", "·", "✓", "·"],
        ["stalled-rollout", "missed", "✗", "✓ 65.0 s", "·", "·"],
        ["pinned-control", "pass", "·", "·", "·", "✓"],
    ]
    first = table.find("tbody").find("tr").find_all("td")[2].find("a")
    assert first.attrs["href"] == "scans/repushed-tag--after-repush.html#w-deployment-shop-web"
    assert page.by_id("verdict").words == "2 of 3 scenarios passed; 4 of 5 expectations met."
    assert page.find("h1").words == "Scenario validation: FAILED"
    missed = page.by_id("s-stalled-rollout").find("table", class_="expectations")
    assert "MISSED" in missed.words
    assert "found no digest-drift on Deployment/web; its findings: stalled-rollout" in missed.words
    assert "expected" not in missed.find("tbody").find_all("tr")[1].find_all("td")[2].words


def test_skipped_scenarios_neither_pass_nor_fail_the_run(journal: dict[str, object]) -> None:
    run = copy.deepcopy(journal)
    scenarios = run["scenarios"]
    assert isinstance(scenarios, list)
    del scenarios[1]  # drop the one that misses an expectation
    scenarios[1].update({"skipped": True, "passed": False, "expectations": [], "scans": []})
    page = htmltree.parse(validation.render_validation(run))
    assert page.find("h1").words == "Scenario validation: PASSED"
    assert page.by_id("verdict").words.startswith(
        "1 of 2 scenarios passed (1 skipped: the provider cannot carry them out)")
    rows = page.by_id("matrix-table").find("tbody").find_all("tr")
    assert [tr.find_all("td")[1].words for tr in rows] == ["pass", "skipped"]


def test_write_validation_writes_linked_scan_pages(journal: dict[str, object],
                                                   tmp_path: Path) -> None:
    written = validation.write_validation(journal, tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in written] == [
        "index.html", "scans/repushed-tag--after-repush.html",
        "scans/stalled-rollout--stalled.html", "scans/pinned-control--steady.html"]
    index = htmltree.parse((tmp_path / "index.html").read_text())
    for a in index.find_all("a"):
        href = a.attrs["href"] or ""
        if href.startswith("#"):
            assert index.by_id(href[1:])
            continue
        target, _, anchor = href.partition("#")
        page = htmltree.parse((tmp_path / target).read_text())
        if anchor:
            assert page.by_id(anchor)
    assert external_references((tmp_path / "scans/pinned-control--steady.html").read_text()) == []


def test_write_validation_streams_the_same_index_render_gives(journal: dict[str, object],
                                                               tmp_path: Path) -> None:
    validation.write_validation(journal, tmp_path)
    assert (tmp_path / "index.html").read_text() == validation.render_validation(journal)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.html", "scans"]


def test_validation_refuses_paths_outside_the_out_dir_and_bad_journals(
        journal: dict[str, object], tmp_path: Path) -> None:
    evil = copy.deepcopy(journal)
    scenarios = evil["scenarios"]
    assert isinstance(scenarios, list)
    scenarios[0]["scans"][0]["html_file"] = "../../escaped.html"
    scenarios[1]["scans"][0]["html_file"] = "javascript:alert(1)"
    written = validation.write_validation(evil, tmp_path / "out")
    assert all((tmp_path / "out") in p.parents for p in written)
    assert "javascript:" not in (tmp_path / "out" / "index.html").read_text()
    with pytest.raises(errors.InputError, match="no `scenarios` list"):
        validation.render_validation({"schema": "driftscan/journal/v1"})
    broken = copy.deepcopy(journal)
    broken["scenarios"][0]["scans"][0]["report"] = {"schema": "driftscan/report/v1"}  # type: ignore[index]
    with pytest.raises(errors.InputError, match="scenario repushed-tag, scan after-repush"):
        validation.render_validation(broken)


# --- committed artefacts --------------------------------------------------------------------


def test_committed_dumps_match_their_builders() -> None:
    assert json.loads(SAMPLE.read_text()) == kubedump.sample_shop()
    assert json.loads(XSS.read_text()) == kubedump.xss_dump()


def test_sample_report_is_current(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(kubedump.ROOT)  # the page names the dump by its relative path
    committed = (kubedump.ROOT / "docs" / "sample-report.html").read_text()
    report = helpers.report_for(helpers.load(Path("tests/dumps/sample-shop.json")))
    assert committed == html.render(report), "run `python -m tests.kubedump` to refresh it"
