"""Fleet scans (``scan --context A --context B``, ``--all-contexts``): merging each
cluster's report into one, the contexts asked for, and how the report shows the clusters.

The per-cluster reports are real scans of dump fixtures; the live, parallel scan of two
contexts is in tests/integration/test_fleet.py.
"""

from __future__ import annotations

import contextlib
import io
import json
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
import yaml
from rich.console import Console

from scanner import errors, exits, findings, fleet, scanning
from scanner.report import document as report_model
from scanner.report import html, json_format, terminal
from scanner.sources import loading
from tests import htmltree

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "scanner" / "schemas"
                     / "report-v1.json").read_text())
DRIFT = FIXTURES / "digest-drift" / "fires-repushed-tag.json"
CLEAN = FIXTURES / "digest-drift" / "clean-pinned-control.json"


def _report(path: Path) -> report_model.Report:
    return scanning.scan_unsealed(loading.LoadRequest(files=(str(path),)))


def _unreachable() -> errors.ClusterUnreachable:
    return errors.ClusterUnreachable("cannot reach the apiserver at https://127.0.0.1:1 of "
                                     "context 'dead' (connection refused)",
                                     hint="check the context")


def test_merge_tags_every_workload_finding_and_gap_with_its_cluster() -> None:
    drift, clean = _report(DRIFT), _report(CLEAN)
    merged = fleet.merge([("prod-eu", drift), ("prod-us", drift), ("staging", clean)])
    assert [c.name for c in merged.clusters] == ["prod-eu", "prod-us", "staging"]
    assert all(c.reachable and c.complete for c in merged.clusters)
    assert merged.summary.workloads == 2 * drift.summary.workloads + clean.summary.workloads
    assert merged.summary.pods == 2 * drift.summary.pods + clean.summary.pods
    for severity, count in drift.summary.by_severity.items():
        assert merged.summary.by_severity[severity] == (
            2 * count + clean.summary.by_severity[severity])
    assert merged.summary.max_score == drift.summary.max_score
    assert merged.summary.complete and not merged.gaps
    # The same workload in two clusters is two entries, each with its cluster.
    assert {w.cluster for w in merged.workloads} == {"prod-eu", "prod-us", "staging"}
    assert all(f.cluster == w.cluster for w in merged.workloads for f in w.findings)
    scores = [w.score for w in merged.workloads]
    assert scores == sorted(scores, reverse=True)
    assert merged.rules == drift.rules


def test_pin_commands_go_to_their_cluster_and_reading_back_completes_older_reports() -> None:
    drift = _report(DRIFT)
    merged = fleet.merge([("prod eu", drift), ("prod-us", drift)])
    pins = [(f.cluster, f.pin) for w in merged.workloads for f in w.findings if f.pin]
    assert pins and all(p.command is None or p.command.endswith(f" --context {shlex.quote(c)}")
                        for c, p in pins if c)
    # Read back, the commands stay as they are (no second --context) …
    again = json_format.parse(json_format.render(merged))
    assert again.workloads == merged.workloads
    # … and a fleet report written before commands named their context gets it.
    data = json.loads(json_format.render(merged))
    for w in data["workloads"]:
        for f in w["findings"]:
            if f["pin"] and f["pin"]["command"]:
                f["pin"]["command"] = f["pin"]["command"].rsplit(" --context ", 1)[0]
    older = json_format.parse(json.dumps(data))
    assert older.workloads == merged.workloads


def test_an_unreachable_cluster_is_a_gap_and_makes_the_report_incomplete() -> None:
    clean = _report(CLEAN)
    merged = fleet.merge([("staging", clean), ("dead", _unreachable())])
    [gap] = merged.gaps
    assert (gap.cluster, gap.kind, gap.namespace) == ("dead", "Cluster", None)
    assert gap.reason == ("cannot reach the apiserver at https://127.0.0.1:1 of context 'dead' "
                          "(connection refused) (check the context)")
    dead = merged.clusters[1]
    assert (dead.name, dead.reachable, dead.complete, dead.workloads) == ("dead", False,
                                                                          False, 0)
    assert not merged.summary.complete
    assert scanning.exit_code(merged, findings.Severity.HIGH) == exits.INCOMPLETE
    assert scanning.exit_code(merged, findings.Severity.HIGH, allow_gaps=True) == exits.CLEAN
    # Findings at --fail-on still win over the gap.
    with_drift = fleet.merge([("prod", _report(DRIFT)), ("dead", _unreachable())])
    assert scanning.exit_code(with_drift, findings.Severity.HIGH) == exits.FINDINGS


def test_every_cluster_unreachable_is_a_report_of_gaps_not_an_error() -> None:
    merged = fleet.merge([("a", _unreachable()), ("b", _unreachable())])
    assert [g.cluster for g in merged.gaps] == ["a", "b"]
    assert merged.workloads == () and merged.rules
    assert scanning.exit_code(merged, findings.Severity.HIGH) == exits.INCOMPLETE


def test_a_fleet_that_never_answered_states_the_scope_it_was_asked_for() -> None:
    merged = fleet.merge([("a", _unreachable()), ("b", _unreachable())], asked=((), True))
    assert merged.source.all_namespaces and merged.source.scope() == "all namespaces"
    merged = fleet.merge([("a", _unreachable())], asked=(("shop",), False))
    assert merged.source.scope() == "namespace shop"


def test_a_cluster_gap_keeps_its_cluster() -> None:
    clean = _report(CLEAN)
    gapped = report_model.Report(**{**clean.__dict__, "gaps": (
        report_model.GapEntry("Pod", "kube-system", "403 Forbidden"),)})
    merged = fleet.merge([("a", gapped), ("b", clean)])
    assert [(g.cluster, g.namespace) for g in merged.gaps] == [("a", "kube-system")]
    assert [c.complete for c in merged.clusters] == [False, True]


def test_fleet_json_validates_and_reads_back() -> None:
    merged = fleet.merge([("prod-eu", _report(DRIFT)), ("dead", _unreachable())])
    data = json.loads(json_format.render(merged))
    jsonschema.validate(data, SCHEMA, format_checker=jsonschema.FormatChecker())
    assert [c["name"] for c in data["clusters"]] == ["prod-eu", "dead"]
    assert all(w["cluster"] == "prod-eu" for w in data["workloads"])
    assert all(f["cluster"] == "prod-eu" for w in data["workloads"] for f in w["findings"])
    assert data["gaps"][0]["cluster"] == "dead"
    assert json_format.parse(json_format.render(merged)) == merged


def test_a_one_cluster_report_has_no_cluster_fields() -> None:
    data = json.loads(json_format.render(_report(DRIFT)))
    assert "clusters" not in data
    assert all("cluster" not in w for w in data["workloads"])
    assert all("cluster" not in f for w in data["workloads"] for f in w["findings"])
    # An older reader's schema (without the fleet fields) still takes it.
    jsonschema.validate(data, SCHEMA)


def test_the_schema_refuses_a_cluster_of_the_wrong_type() -> None:
    data = json.loads(json_format.render(fleet.merge([("a", _report(DRIFT))])))
    data["workloads"][0]["cluster"] = 7
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, SCHEMA)


def _table(report: report_model.Report) -> str:
    out = io.StringIO()
    terminal.render(report, Console(file=out, width=160, color_system=None))
    return out.getvalue()


def test_the_terminal_shows_a_cluster_column_for_two_clusters_or_more() -> None:
    drift = _report(DRIFT)
    two = _table(fleet.merge([("prod-eu", drift), ("dead", _unreachable())]))
    assert "Scanned 2 clusters (prod-eu, dead (unreachable))" in two
    header = next(line for line in two.splitlines() if "Score" in line and "Grade" in line)
    assert header.split()[:4] == ["Score", "Grade", "Cluster", "Workload"]
    assert any(line.split()[2:3] == ["prod-eu"] for line in two.splitlines()
               if line.strip()[:1].isdigit())
    gaps_header = next(line for line in two.splitlines() if "Reason" in line)
    assert gaps_header.split()[:2] == ["Cluster", "Kind"]
    assert "[prod-eu] Deployment" in two  # the detail heading names the cluster
    one = _table(drift)
    assert "Cluster" not in one


def test_hostile_cluster_names_are_inert_in_terminal_and_html() -> None:
    drift = _report(DRIFT)
    name = "evil\x1b[31m<script>alert(1)</script>"
    merged = fleet.merge([(name, drift), ("b", drift)])
    text = _table(merged)
    assert "\x1b" not in text
    page = html.render(merged)
    assert "<script>alert(1)" not in page


def test_html_has_a_cluster_column_and_unique_anchors_for_the_same_workload() -> None:
    drift = _report(DRIFT)
    merged = fleet.merge([("prod-eu", drift), ("prod-us", drift)])
    page = htmltree.parse(html.render(merged))
    table = page.by_id("workload-table")
    headers = [th.words for th in table.find_all("th")]
    # Cluster after Pods: the numeric columns keep their places (and alignment).
    assert headers == ["Score", "Grade", "Workload", "Builds", "Pods", "Cluster", "Findings"]
    first_row = table.find("tbody").find_all("tr")[0]
    assert [td.words for td in first_row.find_all("td")][5] == merged.workloads[0].cluster
    ids = html.anchors(merged)
    assert len(ids) == len(merged.workloads) == len(set(ids.values()))
    for w in merged.workloads:
        assert page.by_id(ids[html.workload_key(w)]) is not None
    section = page.by_id(ids[html.workload_key(merged.workloads[0])])
    assert merged.workloads[0].cluster in section.words
    # The fix goes to the workload's own cluster.
    pinned = [f for w in merged.workloads for f in w.findings if f.pin]
    commands = {f.pin.command for f in pinned if f.pin}
    assert pinned and all(c.endswith(f" --context {f.cluster}") for f in pinned
                          for c in [f.pin.command] if f.pin and c)
    assert commands and all(c is None or c in page.words for c in commands)
    one = htmltree.parse(html.render(drift))
    assert "Cluster" not in [th.words for th in one.by_id("workload-table").find_all("th")]


def _kubeconfig(tmp_path: Path, names: list[str]) -> Path:
    config = {"apiVersion": "v1", "kind": "Config", "current-context": names[0],
              "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
              "users": [{"name": "u", "user": {"token": "t"}}],
              "contexts": [{"name": n, "context": {"cluster": "c", "user": "u"}}
                           for n in names]}
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(config))
    return path


def test_contexts_are_the_ones_asked_for_or_all(tmp_path: Path) -> None:
    path = str(_kubeconfig(tmp_path, ["a", "b", "c"]))
    request = loading.LoadRequest(kubeconfig=path)
    assert fleet.contexts(request, ("b", "a", "b"), False) == ("b", "a")
    assert fleet.contexts(request, (), True) == ("a", "b", "c")
    with pytest.raises(errors.InputError, match="context 'x' not found") as caught:
        fleet.contexts(request, ("a", "x"), False)
    assert caught.value.hint == "pass --context, one of: a, b, c"
    with pytest.raises(errors.InputError, match="exclude each other"):
        fleet.contexts(request, ("a",), True)
    with pytest.raises(errors.InputError, match="not --from"):
        fleet.contexts(loading.LoadRequest(files=(str(DRIFT),)), ("a", "b"), False)
    (tmp_path / "broken").write_text("contexts: [")
    with pytest.raises(errors.ClusterUnreachable, match="broken"):
        fleet.contexts(loading.LoadRequest(kubeconfig=str(tmp_path / "broken")), (), True)


def test_cli_fleet_of_dead_contexts_exits_3_with_a_gap_each(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from scanner import cli

    path = str(_kubeconfig(tmp_path, ["a", "b", "c"]))
    code = cli.main(["scan", "--kubeconfig", path, "--context", "a", "--context", "b",
                     "--format", "json", "--request-timeout", "3s"])
    out = capsys.readouterr()
    assert code == exits.INCOMPLETE
    assert "Traceback" not in out.err and "scanning 2 cluster(s) in parallel: a, b" in out.err
    report = json.loads(out.out)
    assert [(g["cluster"], g["kind"]) for g in report["gaps"]] == [("a", "Cluster"),
                                                                   ("b", "Cluster")]
    assert [c["reachable"] for c in report["clusters"]] == [False, False]
    code = cli.main(["scan", "--kubeconfig", path, "--all-contexts", "--allow-gaps",
                     "--request-timeout", "3s"])
    out = capsys.readouterr()
    assert code == exits.CLEAN
    assert "3 clusters (a (unreachable), b (unreachable), c (unreachable))" in out.out
    assert cli.main(["scan", "--kubeconfig", path, "--context", "a", "--context", "zz"]) \
        == exits.ERROR
    assert "context 'zz' not found" in capsys.readouterr().err


@contextlib.contextmanager
def _silent_apiservers(tmp_path: Path, count: int) -> Iterator[Path]:
    """``count`` apiservers that accept connections and never answer; yields a kubeconfig
    with a context ``c0``, ``c1``… for each."""
    listeners = [socket.create_server(("127.0.0.1", 0)) for _ in range(count)]
    held: list[socket.socket] = []
    stop = threading.Event()

    def hold(listener: socket.socket) -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    threads = [threading.Thread(target=hold, args=(s,), daemon=True) for s in listeners]
    for t in threads:
        t.start()
    config = {"apiVersion": "v1", "kind": "Config", "current-context": "c0",
              "clusters": [{"name": f"c{i}", "cluster": {
                  "server": f"https://127.0.0.1:{s.getsockname()[1]}"}}
                  for i, s in enumerate(listeners)],
              "users": [{"name": "u", "user": {"token": "t"}}],
              "contexts": [{"name": f"c{i}", "context": {"cluster": f"c{i}", "user": "u"}}
                           for i in range(count)]}
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(config))
    try:
        yield path
    finally:
        stop.set()
        for t in threads:
            t.join()
        for s in [*held, *listeners]:
            s.close()


def test_clusters_are_scanned_at_the_same_time(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """Each silent apiserver costs its whole --request-timeout: one after another, three
    would take three times as long."""
    from scanner import cli

    with _silent_apiservers(tmp_path, 3) as path:
        started = time.monotonic()
        code = cli.main(["scan", "--kubeconfig", str(path), "--all-contexts", "--format",
                         "json", "--request-timeout", "5s"])
        took = time.monotonic() - started
    report = json.loads(capsys.readouterr().out)
    assert code == exits.INCOMPLETE
    assert [g["cluster"] for g in report["gaps"]] == ["c0", "c1", "c2"]
    for gap, server in zip(report["gaps"], [c["server"] for c in report["clusters"]],
                           strict=True):
        assert server is None and "127.0.0.1:" in gap["reason"], gap
        assert "\n" not in gap["reason"] and gap["reason"].count("hint") == 0, gap
    # One after another: at least 15 s.
    assert 5 <= took < 12, f"{took:.1f} s: the clusters were not scanned in parallel"


def test_an_interrupt_ends_a_fleet_scan_at_once(tmp_path: Path) -> None:
    with _silent_apiservers(tmp_path, 2) as path:
        process = subprocess.Popen(
            [sys.executable, "-m", "scanner.cli", "scan", "--kubeconfig", str(path),
             "--all-contexts", "--request-timeout", "60s"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(3)  # both clusters are being waited on
        sent = time.monotonic()
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
        took = time.monotonic() - sent
    assert process.returncode == exits.INTERRUPTED, err
    assert "interrupted" in err and "Traceback" not in err
    assert took < 15, f"{took:.1f} s after SIGINT (the scans would wait 60 s)"


def test_an_error_that_is_no_cluster_failure_is_raised_not_hidden() -> None:
    def one(request: loading.LoadRequest, _resolver: object) -> report_model.Report:
        if request.context == "b":
            raise errors.InputError("bad option")
        if request.context == "c":
            raise errors.ClusterUnreachable("down")
        return _report(CLEAN)

    merged = fleet.scan(loading.LoadRequest(), ["a", "c"], one)
    assert [(c.name, c.reachable) for c in merged.clusters] == [("a", True), ("c", False)]
    with pytest.raises(errors.InputError, match="bad option"):
        fleet.scan(loading.LoadRequest(), ["a", "b", "c"], one)


def test_the_provenance_block_names_each_cluster() -> None:
    from scanner.report import audit

    merged = fleet.merge([("prod-eu", _report(DRIFT)), ("dead", _unreachable())])
    facts = {f.label: f for f in audit.facts(merged)}
    assert "prod-eu: Kinds read" in facts and "prod-eu: LIST window" in facts
    assert facts["dead: provenance"].missing
    assert "could not be reached" in facts["dead: provenance"].value
    assert "Provenance" not in facts  # not the "older driftscan" line of a report without it


def test_a_sealed_fleet_report_verifies_and_a_changed_cluster_does_not() -> None:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from scanner.report import integrity

    key = ed25519.Ed25519PrivateKey.generate()
    merged = fleet.merge([("prod-eu", _report(DRIFT)), ("dead", _unreachable())])
    body = json.loads(json_format.render(integrity.seal(merged, key)))
    assert integrity.verify(body, key.public_key()).ok
    body["workloads"][0]["cluster"] = "prod-us"  # move a finding to another cluster
    verdict = integrity.verify(body, key.public_key())
    assert not verdict.ok and "MISMATCH" in verdict.lines[0]


def test_diff_sarif_and_junit_keep_the_same_workload_of_two_clusters_apart() -> None:
    from scanner.report import comparing, junit, sarif

    drift, clean = _report(DRIFT), _report(CLEAN)
    before = fleet.merge([("prod-eu", drift), ("prod-us", drift)])
    # prod-eu was fixed (its workloads now look like the clean fixture's); prod-us was not.
    after = fleet.merge([("prod-eu", clean), ("prod-us", drift)])
    change = comparing.compare(before, after)
    by_cluster = {(w.cluster, w.name): w for w in change.workloads}
    assert all(not w.new for w in change.workloads)
    assert any(w.resolved for (c, _), w in by_cluster.items() if c == "prod-eu")
    assert all(not w.resolved for (c, _), w in by_cluster.items() if c == "prod-us")
    data = comparing.to_dict(change)
    assert {w["cluster"] for w in data["workloads"]} <= {"prod-eu", "prod-us"}
    assert any(w.label.startswith("[prod-eu] ") for w in change.workloads)

    log = sarif.from_report(before)
    names = {r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]
             for r in log["runs"][0]["results"]}
    assert {n.split("/")[0] for n in names} == {"prod-eu", "prod-us"}
    fingerprints = [next(iter(r["partialFingerprints"].values()))
                    for r in log["runs"][0]["results"]]
    assert len(set(fingerprints)) == len(fingerprints)
    xml = junit.render(before, findings.Severity.HIGH)
    assert 'classname="prod-eu/Deployment/' in xml and 'classname="prod-us/Deployment/' in xml
