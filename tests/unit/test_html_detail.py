"""The HTML report at scale: detail threshold and limit, streaming writes, report directories.

Pages come from tests/kubedump.fleet dumps (a quarter of the workloads on a re-pushed
tag, a quarter mid-rollout — both high —, a quarter on a versioned tag — low —, a quarter
pinned and clean) run through the real pipeline, and are parsed with tests/htmltree.py.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from scanner import cli, errors
from scanner.report import document as report_model
from scanner.report import html, html_directory, json_format, streaming
from tests import htmltree, kubedump
from tests.unit import helpers


def fleet_report(folder: Path, workloads: int) -> report_model.Report:
    path = folder / f"fleet-{workloads}.json"
    path.write_text(json.dumps(kubedump.fleet(workloads)))
    return helpers.report_for(helpers.load(path))


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> report_model.Report:
    """40 workloads: 20 with high findings, 10 with only low ones, 10 clean."""
    return fleet_report(tmp_path_factory.mktemp("fleet"), 40)


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> report_model.Report:
    """240 workloads: more than html.TABLE_FIRST_ROWS, so the sections come first."""
    return fleet_report(tmp_path_factory.mktemp("fleet"), 240)


def section_ids(page: htmltree.Element) -> list[str]:
    return [s.attrs["id"] or "" for s in page.find_all("section", class_="workload")]


def row_cells(page: htmltree.Element) -> list[list[str]]:
    body = page.by_id("workload-table").find("tbody")
    return [[td.words for td in tr.find_all("td")] for tr in body.find_all("tr")]


def has_id(page: htmltree.Element, id_: str) -> bool:
    return bool(page.find_all(None, id=id_))


def worst(w: report_model.WorkloadEntry) -> str | None:
    return html.worst_severity(w)


def test_fleet_has_the_mix_the_tests_rely_on(small: report_model.Report) -> None:
    assert sorted(str(worst(w)) for w in small.workloads) == sorted(
        ["high"] * 20 + ["low"] * 10 + ["None"] * 10)


def test_default_threshold_details_medium_and_above_and_summarises_the_rest(
        small: report_model.Report) -> None:
    page = htmltree.parse(html.render(small))
    ids = html.anchors(small)
    wanted = [ids[(w.kind, w.namespace, w.name)] for w in small.workloads
              if worst(w) in ("critical", "high", "medium")]
    assert section_ids(page) == wanted and len(wanted) == 20
    # Every workload is a row, still searchable by name, and every one has its anchor.
    rows = row_cells(page)
    assert len(rows) == 40
    assert [r[2] for r in rows] == [f"{w.kind} {w.namespace}/{w.name}" for w in small.workloads]
    for w in small.workloads:
        target = page.by_id(ids[(w.kind, w.namespace, w.name)])
        assert target.tag == ("section" if worst(w) == "high" else "tr")
    low_rows = [r for r in rows if r[5].startswith("low")]
    assert len(low_rows) == 10
    assert {r[5] for r in low_rows} == {"low mutable-tag"}
    # Nothing summarised silently: the note counts what is summarised and says how to see it.
    note = page.by_id("detail-note").words
    assert "Shown in full: 20 workloads with findings at medium or above" in note
    assert page.by_id("detail-below").words.startswith(
        "10 whose findings are all below medium: write the page with --detail info")
    assert page.by_id("detail-clean").words.startswith("10 without findings")
    assert not has_id(page, "detail-over-limit")


def test_summaries_count_every_workload_whatever_the_threshold(
        small: report_model.Report) -> None:
    def counts(text: str) -> tuple[list[str], dict[str, str | None], dict[str, str | None]]:
        page = htmltree.parse(text)
        return ([c.words for c in page.find_all("div", class_="card")],
                {e.attrs["data-grade"] or "": e.text for e in page.find_all("span")
                 if "data-grade" in e.attrs},
                {e.attrs["data-severity"] or "": e.text for e in page.find_all("span")
                 if "data-severity" in e.attrs})

    pages = {level: html.render(small, html.Detail(level)) for level in html.SEVERITIES}
    first = counts(pages["info"])
    assert first[0][:3] == ["40 workloads scanned", "110 pods", "30 workloads with findings"]
    assert all(counts(text) == first for text in pages.values())
    sections = {level: len(section_ids(htmltree.parse(text))) for level, text in pages.items()}
    assert sections == {"info": 30, "low": 30, "medium": 20, "high": 20, "critical": 0}


def test_detail_info_shows_every_workload_with_findings_and_keeps_clean_ones_as_rows(
        small: report_model.Report) -> None:
    page = htmltree.parse(html.render(small, html.Detail("info")))
    assert len(section_ids(page)) == 30
    # Nothing summarised on a small page whose table comes first: no note to make.
    assert not has_id(page, "detail-note")
    assert len(row_cells(page)) == 40


def test_limit_keeps_the_highest_scores_in_full_and_says_how_to_see_the_rest(
        small: report_model.Report) -> None:
    page = htmltree.parse(html.render(small, html.Detail("medium", limit=3)))
    ids = html.anchors(small)
    high = [w for w in small.workloads if worst(w) == "high"]
    assert section_ids(page) == [ids[(w.kind, w.namespace, w.name)] for w in high[:3]]
    assert high[0].score >= high[3].score
    over = page.by_id("detail-over-limit").words
    assert over.startswith("17 more at medium or above: one page shows at most 3 workloads")
    assert "-o DIR/" in over and "--detail-limit 0" in over
    for w in high[3:]:  # summarised past the limit: the row carries the anchor
        assert page.by_id(ids[(w.kind, w.namespace, w.name)]).tag == "tr"
    with pytest.raises(errors.InputError, match="unknown detail level"):
        html.Detail("severe")
    with pytest.raises(errors.InputError, match="below 1"):
        html.Detail("low", limit=0)


def test_big_page_puts_summary_and_sections_before_the_long_table(
        big: report_model.Report) -> None:
    text = html.render(big)
    page = htmltree.parse(text)
    order = [text.index(marker) for marker in (
        'id="summary"', 'id="grade-counts"', 'id="detail-note"', 'id="findings"',
        'class="workload"', 'id="workloads"', 'id="workload-table"')]
    assert order == sorted(order)
    assert len(row_cells(page)) == 240
    assert page.by_id("detail-note").find("a").attrs["href"] == "#findings"
    # A small page keeps its table first.
    small_text = html.render(fleet_report_from(big, 12))
    assert small_text.index('id="workloads"') < small_text.index('id="findings"')


def fleet_report_from(report: report_model.Report, n: int) -> report_model.Report:
    return html_directory.part(report, report.workloads[:n])


def test_a_rules_rationale_is_written_out_once_then_linked(big: report_model.Report) -> None:
    page = htmltree.parse(html.render(big))
    whys = [(f.attrs["id"], f.find("p", class_="why")) for s in page.find_all(
        "section", class_="workload") for f in s.find_all("div", class_="finding")]
    written = [fid for fid, why in whys if why.words.startswith("Why it matters:")]
    linked = [why.find("a").attrs["href"] for _, why in whys if why.find_all("a")]
    assert len(written) == 3  # digest-drift, overlapping-rollout, rollout-version-mix
    assert len(linked) == len(whys) - 3
    rule_rows = {e.attrs.get("id") for e in page.find_all("tr")}
    assert all((href or "#")[1:] in rule_rows for href in linked)


def test_sections_are_built_only_for_workloads_shown_in_full(
        big: report_model.Report, monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []
    real = html._section

    def counting(w: report_model.WorkloadEntry, anchor: str,
                 explained: set[str]) -> html.WorkloadSection:
        built.append(anchor)
        return real(w, anchor, explained)

    monkeypatch.setattr(html, "_section", counting)
    view = html.page(big, html.Detail("medium", limit=25))
    assert built == [] and len(view.sections) == 25 and len(view.rows) == 240
    pieces = html.stream(big, html.Detail("medium", limit=25))
    next(pieces)
    assert built == []  # nothing is computed before the template reaches it
    rest = "".join(pieces)
    assert len(built) == 25 and rest.endswith("</html>")


def test_stream_gives_the_rendered_page_in_many_pieces(small: report_model.Report) -> None:
    pieces = list(html.stream(small))
    assert len(pieces) > 1000
    assert "".join(pieces) == html.render(small)


def test_write_replaces_the_file_whole_or_not_at_all(small: report_model.Report,
                                                     tmp_path: Path) -> None:
    target = tmp_path / "deep" / "report.html"
    html.write(small, target)
    first = target.read_text()
    assert first == html.render(small)

    def failing() -> Iterator[str]:
        yield "<!DOCTYPE html><p>half a page"
        raise errors.InputError("the report broke mid-way")

    with pytest.raises(errors.InputError, match="mid-way"):
        streaming.write_atomically(target, failing())
    assert target.read_text() == first
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.html"]
    blocked = tmp_path / "file"
    blocked.write_text("x")
    with pytest.raises(errors.InputError, match=r"cannot write .*file/report\.html"):
        html.write(small, blocked / "report.html")


# --- report directory ---------------------------------------------------------------------


def links(page: htmltree.Element) -> list[str]:
    return [a.attrs["href"] or "" for a in page.find_all("a")]


def test_directory_has_an_index_and_one_page_per_namespace_with_working_links(
        small: report_model.Report, tmp_path: Path) -> None:
    out = tmp_path / "out"
    written = html_directory.write(small, out)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["index.html", *sorted(f"ns-team-{i:02d}.html" for i in range(20))]
    assert written[0] == out / "index.html" and len(written) == 21
    pages = {name: htmltree.parse((out / name).read_text()) for name in names}
    seen: list[str] = []
    for name, page in pages.items():
        for href in links(page):
            assert not re.match(r"[a-z]+:|/|\.\.", href), (name, href)
            target, _, anchor = href.partition("#")
            dest = pages[target] if target else page
            if anchor:
                dest.by_id(anchor)
        if name != "index.html":
            assert page.by_id("context").find("a").attrs["href"] == "index.html"
            seen.extend(e.attrs["id"] or "" for e in page.iter()
                        if (e.attrs.get("id") or "").startswith("w-") and "-f" not in
                        (e.attrs.get("id") or "")[-3:])
    # Every workload is on exactly one page, with its anchor.
    ids = html.anchors(small)
    assert sorted(seen) == sorted(ids.values())
    index = pages["index.html"]
    groups = [[td.words for td in tr.find_all("td")]
              for tr in index.by_id("group-table").find("tbody").find_all("tr")]
    assert [g[0] for g in groups] == [f"team-{i:02d}" for i in range(20)]
    assert sum(int(g[1]) for g in groups) == 40
    assert index.by_id("verdict").words.startswith("30 of 40 workloads have findings")
    top = index.by_id("top-table").find("tbody").find_all("tr")
    assert len(top) == 30
    scores = [int(tr.find("td").words) for tr in top]
    assert scores == sorted(scores, reverse=True)


def test_a_namespace_page_counts_its_own_workloads(small: report_model.Report,
                                                    tmp_path: Path) -> None:
    html_directory.write(small, tmp_path)
    page = htmltree.parse((tmp_path / "ns-team-00.html").read_text())
    cards = [c.words for c in page.find_all("div", class_="card")]
    assert cards[0] == "2 workloads scanned"
    assert page.find("title").text.startswith("driftscan report in namespace team-00: ")
    assert f"namespace team-00 (of {small.source.scope()})" in page.find("header").words


def test_directory_file_names_are_safe_for_hostile_namespaces(small: report_model.Report,
                                                              tmp_path: Path) -> None:
    odd = [dataclasses.replace(w, namespace=ns) for w, ns in zip(
        small.workloads[:3], ["../../etc", "Shop<script>", "shop"], strict=True)]
    report = dataclasses.replace(small, workloads=tuple(odd))
    files = [g.file for g in html_directory.groups(report)]
    assert len(set(files)) == 3
    assert all(re.fullmatch(r"ns-[a-z0-9.-]+\.html", f) and ".." not in f for f in files)
    written = html_directory.write(report, tmp_path / "out")
    assert all(p.parent == tmp_path / "out" for p in written)


def test_directory_groups_by_cluster_when_workloads_carry_one(small: report_model.Report) -> None:
    fleet = [dataclasses.replace(w, cluster="prod-eu" if i % 2 else "prod-us")
             for i, w in enumerate(small.workloads)]
    report = dataclasses.replace(small, workloads=tuple(fleet))
    groups = html_directory.groups(report)
    assert [(g.kind, g.name, g.file, len(g.workloads)) for g in groups] == [
        ("cluster", "prod-eu", "cluster-prod-eu.html", 20),
        ("cluster", "prod-us", "cluster-prod-us.html", 20)]


def test_is_directory() -> None:
    assert html_directory.is_directory("out/") and html_directory.is_directory(".")
    assert not html_directory.is_directory("out/report.html")


# --- command line ---------------------------------------------------------------------------


def test_cli_detail_options_and_report_directory(small: report_model.Report, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    saved = tmp_path / "r.json"
    saved.write_text(json_format.render(small))
    dump = tmp_path / "fleet.json"
    dump.write_text(json.dumps(kubedump.fleet(40)))
    page = tmp_path / "info.html"
    assert cli.main(["scan", "--from", str(dump), "--format", "html", "--detail", "info",
                     "-o", str(page)]) == 1
    assert len(section_ids(htmltree.parse(page.read_text()))) == 30
    assert cli.main(["report", str(saved), "--detail", "high", "--detail-limit", "5",
                     "-o", str(page)]) == 0
    assert len(section_ids(htmltree.parse(page.read_text()))) == 5
    assert cli.main(["report", str(saved), "--detail-limit", "0", "-o", str(page)]) == 0
    assert len(section_ids(htmltree.parse(page.read_text()))) == 20
    assert cli.main(["report", str(saved), "-o", str(tmp_path / "dir") + "/"]) == 0
    assert "wrote " + str(tmp_path / "dir" / "index.html") + " and 20 page(s)" in \
        capsys.readouterr().out
    assert cli.main(["scan", "--from", str(dump), "--format", "html", "-o",
                     str(tmp_path / "dir2") + "/"]) == 1
    assert (tmp_path / "dir2" / "ns-team-19.html").is_file()
    capsys.readouterr()


@pytest.mark.parametrize("args, message", [
    (["--format", "json", "--detail", "info"], "--detail and --detail-limit shape the HTML"),
    (["--detail-limit", "3"], "--detail and --detail-limit shape the HTML"),
    (["--format", "json", "-o", "DIR/"], "a report directory is written only for --format html"),
])
def test_cli_refuses_html_options_for_other_formats(
        args: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["scan", "--from", str(kubedump.DUMPS / "sample-shop.json"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "DIR").exists()


def test_cli_rejects_an_unknown_detail_level(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["scan", "--from", str(kubedump.DUMPS / "sample-shop.json"),
                     "--format", "html", "--detail", "severe"]) == 2
    assert "severe" in capsys.readouterr().err
