"""``driftscan scan``, ``rules`` and ``cluster status`` in-process: exit codes and output."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from scanner import cli
from tests.unit import helpers
from tests.unit.fake_apiserver import FakeApiserver, kubeconfig, serve, split_by_kind

DRIFT = str(helpers.FIXTURES / "digest-drift" / "fires-repushed-tag.json")
CLEAN = str(helpers.FIXTURES / "digest-drift" / "clean-pinned-control.json")
MUTABLE = str(helpers.FIXTURES / "mutable-tag" / "fires-versioned-tag.json")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_error_line(err: str, expected: str) -> None:
    lines = err.splitlines()
    assert lines, "nothing on stderr"
    assert lines[0].startswith("error: ") and expected in lines[0], lines[0]
    assert len(lines) <= 2 and all(ln.startswith("  hint: ") for ln in lines[1:]), err
    assert "Traceback" not in err


def test_drift_dump_exits_1_with_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "scan", "--from", DRIFT)
    assert code == 1
    assert err == ""
    assert "Deployment shop/web" in out
    assert out.splitlines()[-1] == (
        "2 workloads, 5 pods, 1 with findings; findings: 1 high, 1 low; max score 48 (D)")


def test_clean_dump_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "scan", "--from", CLEAN)
    assert code == 0
    assert out.splitlines()[:2] == [f"Scanned dump {CLEAN}, every namespace in the files",
                                    "No drift findings."]


@pytest.mark.parametrize(("fail_on", "expected"), [("critical", 0), ("high", 0), ("medium", 0),
                                                   ("low", 1), ("info", 1)])
def test_fail_on_threshold(capsys: pytest.CaptureFixture[str], fail_on: str,
                           expected: int) -> None:
    code, _, _ = run(capsys, "scan", "--from", MUTABLE, "--fail-on", fail_on)
    assert code == expected


def test_json_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "scan", "--from", DRIFT, "--format", "json")
    assert code == 1
    data = json.loads(out)
    assert data["schema"] == "driftscan/report/v1"
    assert data["source"]["files"] == [DRIFT]
    assert data["workloads"][0]["findings"][0]["rule"] == "digest-drift"


def test_json_to_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "out" / "report.json"
    code, out, _ = run(capsys, "scan", "--from", DRIFT, "--format", "json", "-o", str(target))
    assert code == 1
    assert out.splitlines() == [f"wrote {target}: 2 workloads, 5 pods, 1 with findings; "
                                "findings: 1 high, 1 low; max score 48 (D)"]
    assert json.loads(target.read_text())["summary"]["max_score"] == 48


def test_table_to_file_has_no_color_codes(capsys: pytest.CaptureFixture[str],
                                          tmp_path: Path) -> None:
    target = tmp_path / "report.txt"
    run(capsys, "scan", "--from", DRIFT, "-o", str(target))
    text = target.read_text()
    assert "\x1b[" not in text and "digest-drift" in text


def test_namespace_filter_on_dumps(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "scan", "--from", DRIFT, "-n", "shop")
    assert code == 1
    assert out.splitlines()[0] == f"Scanned dump {DRIFT}, namespace shop"


def test_a_namespace_with_nothing_in_the_dump_is_a_gap(capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    code, out, err = run(capsys, "scan", "--from", DRIFT, "-n", "elsewhere")
    assert code == 3
    assert "no object in the input is in namespace elsewhere" in " ".join(out.split())
    assert "Nothing to scan: no workloads or pods in namespace elsewhere." in out
    assert "No drift findings" not in out
    assert out.splitlines()[-1].startswith("0 workloads, 0 pods")
    assert out.splitlines()[-1].endswith("INCOMPLETE: 1 gap(s), see above")
    assert "exit code 3" in err
    code, out, _ = run(capsys, "scan", "--from", DRIFT, "-n", "elsewhere", "--format", "json")
    data = json.loads(out)
    assert code == 3 and data["summary"]["complete"] is False
    assert data["gaps"][0]["kind"] == "Namespace" and data["gaps"][0]["namespace"] == "elsewhere"


def _listable(fake: FakeApiserver, namespace: str) -> None:
    """Serve empty lists in ``namespace``, as the apiserver does whether or not it exists."""
    for path in [p for p in fake.collections if "/namespaces/shop/" in p]:
        fake.collections[path.replace("/namespaces/shop/", f"/namespaces/{namespace}/")] = []


def _live(tmp_path: Path, fake: FakeApiserver, capsys: pytest.CaptureFixture[str],
          *args: str) -> tuple[int, str, str, str]:
    with serve(fake) as url:
        path = kubeconfig(tmp_path / "kc", url)
        code, out, err = run(capsys, "scan", "--kubeconfig", str(path), *args)
    return code, out, err, url


def test_a_namespace_that_does_not_exist_is_a_gap_not_clean(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    fake = FakeApiserver(collections=split_by_kind(helpers.raw(Path(CLEAN))))
    _listable(fake, "does-not-exist")
    _listable(fake, "shpo")
    fake.namespaces = {"shop", "kube-system"}
    code, out, err, url = _live(tmp_path, fake, capsys, "-n", "does-not-exist")
    assert code == 3
    text = " ".join(out.split())
    assert out.splitlines()[0] == f"Scanned context test ({url}), namespace does-not-exist"
    assert "INCOMPLETE SCAN" in out
    assert "namespace does-not-exist does not exist in context test" in text
    assert "No drift findings" not in out
    assert "exit code 3; --allow-gaps accepts them" in err
    code, out, _, url = _live(tmp_path, fake, capsys, "-n", "shpo", "--format", "json")
    data = json.loads(out)
    assert code == 3
    assert data["summary"]["complete"] is False
    assert data["source"]["server"] == url and data["source"]["namespaces"] == ["shpo"]
    assert data["gaps"] == [{"kind": "Namespace", "namespace": "shpo", "reason":
                             "namespace shpo does not exist in context test; did you mean"
                             " 'shop'? (`kubectl get namespaces` lists them)"}]
    code, _, _, _ = _live(tmp_path, fake, capsys, "-n", "shpo", "--allow-gaps")
    assert code == 0


def test_an_existing_namespace_scans_without_a_namespace_gap(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    fake = FakeApiserver(collections=split_by_kind(helpers.raw(Path(CLEAN))))
    code, out, _, _ = _live(tmp_path, fake, capsys, "-n", "shop")
    assert code == 0 and "INCOMPLETE" not in out and "No drift findings." in out


def test_unverifiable_namespace_with_nothing_in_it_is_a_gap(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    fake = FakeApiserver(collections=split_by_kind(helpers.raw(Path(CLEAN))))
    _listable(fake, "team")
    fake.namespaces = {"shop"}
    fake.forbidden.update({"/api/v1/namespaces/team", "/api/v1/namespaces/shop"})
    code, out, _, _ = _live(tmp_path, fake, capsys, "-n", "team", "--format", "json")
    gap = json.loads(out)["gaps"][0]
    assert code == 3 and gap["kind"] == "Namespace"
    assert gap["reason"].startswith("nothing was found in namespace team and the apiserver did"
                                    " not let the scan check that it exists (GET answered 403")
    # Forbidden to GET the namespace but objects are there: it exists, no gap.
    code, out, _, _ = _live(tmp_path, fake, capsys, "-n", "shop")
    assert code == 0


def test_all_namespaces_of_an_empty_cluster_says_so(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    fake = FakeApiserver(collections={p: [] for p in split_by_kind(helpers.raw(Path(CLEAN)))})
    for path in list(fake.collections):
        if "/namespaces/" in path:
            kind = path.rsplit("/", 1)[1]
            fake.collections[path.replace("/namespaces/shop", "")] = []
            del fake.collections[path]
            assert kind
    code, out, _, url = _live(tmp_path, fake, capsys, "-A")
    assert code == 0
    assert out.splitlines()[:2] == [
        f"Scanned context test ({url}), all namespaces",
        "Nothing to scan: no workloads or pods in all namespaces."]


def test_several_files(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "scan", "--from", DRIFT, "--from", CLEAN, "--format", "json")
    data = json.loads(out)
    assert {w["name"] for w in data["workloads"]} == {"web", "frontend", "cart"}
    assert code == 1


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("this is : not : yaml : [", "not valid JSON or YAML"),
        ("{\"kind\": \"Pod\", ", "not valid JSON or YAML"),
        ('{"apiVersion": "v1", "kind": "Banana", "metadata": {"name": "b"}}',
         "unknown kind 'Banana'"),
        ('{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}}',
         "missing metadata.namespace"),
    ],
)
def test_unreadable_input_is_a_gap_beside_what_was_read(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "input.json"
    path.write_text(content)
    code, out, err = run(capsys, "scan", "--from", str(path), "--from", DRIFT, "--fail-on",
                         "critical", "--format", "json")
    assert code == 3  # incomplete, and nothing at --fail-on
    data = json.loads(out)
    assert data["summary"]["complete"] is False
    [gap] = data["gaps"]
    assert gap["kind"] == "File" and str(path) in gap["reason"] and expected in gap["reason"]
    assert "\n" not in gap["reason"]
    assert {w["name"] for w in data["workloads"]} >= {"web"}  # the readable file was scanned
    assert "incomplete scan" in err and "Traceback" not in err
    code, _, _ = run(capsys, "scan", "--from", str(path), "--from", DRIFT, "--fail-on",
                     "critical", "--allow-gaps", "--format", "json")
    assert code == 0
    code, out, _ = run(capsys, "scan", "--from", str(path), "--from", DRIFT)
    assert code == 1  # findings at --fail-on win over the gap
    assert "INCOMPLETE" in out
    code, _, err = run(capsys, "scan", "--from", str(path))
    assert code == 2  # nothing at all could be read: no scan to report
    assert_one_error_line(err, expected)


def test_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "scan", "--from", str(tmp_path / "nope.json"))
    assert code == 2
    assert_one_error_line(err, "no such file")


def test_unreachable_apiserver(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = kubeconfig(tmp_path / "kc", "https://127.0.0.1:1")
    code, out, err = run(capsys, "scan", "--kubeconfig", str(path))
    assert code == 2 and out == ""
    assert_one_error_line(
        err, "cannot reach the apiserver at https://127.0.0.1:1 (context 'test'): "
             "connection refused")


def test_wrong_context(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = kubeconfig(tmp_path / "kc", "https://127.0.0.1:1")
    code, _, err = run(capsys, "scan", "--kubeconfig", str(path), "--context", "nope")
    assert code == 2
    assert_one_error_line(err, "context 'nope' not found in kubeconfig")
    assert err.splitlines()[1] == "  hint: pass --context, one of: test"


def test_contradictory_options(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "scan", "--from", DRIFT, "--context", "x")
    assert code == 2
    assert_one_error_line(err, "--from reads saved dumps")
    code, _, err = run(capsys, "scan", "--from", DRIFT, "-A", "-n", "x")
    assert code == 2
    assert_one_error_line(err, "exclude each other")


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "scan", "--format", "xml", "--from", DRIFT)
    assert code == 2 and "Invalid value for '--format'" in err
    code, _, err = run(capsys, "scan", "--fail-on", "severe", "--from", DRIFT)
    assert code == 2 and "Invalid value for '--fail-on'" in err


def test_live_scan_with_gaps_still_reflects_findings(capsys: pytest.CaptureFixture[str],
                                                     tmp_path: Path) -> None:
    fake = FakeApiserver(collections=split_by_kind(helpers.raw(helpers.FIXTURES / "digest-drift"
                                                               / "fires-repushed-tag.json")))
    fake.forbidden.add("/api/v1/nodes")
    with serve(fake) as url:
        path = kubeconfig(tmp_path / "kc", url)
        code, out, err = run(capsys, "scan", "--kubeconfig", str(path), "-n", "shop",
                             "--format", "json")
    assert code == 1
    data = json.loads(out)
    assert data["source"] == {"type": "live", "context": "test", "server": url, "files": [],
                              "namespaces": ["shop"], "all_namespaces": False}
    assert data["gaps"][0]["kind"] == "Node"
    assert data["summary"]["complete"] is False
    with serve(fake) as url:
        path = kubeconfig(tmp_path / "kc", url)
        code, out, _ = run(capsys, "scan", "--kubeconfig", str(path), "-n", "shop")
    assert out.splitlines()[-1].endswith("; INCOMPLETE: 1 gap(s), see above")
    assert out.splitlines()[0] == f"Scanned context test ({url}), namespace shop"
    assert "INCOMPLETE SCAN" in out.splitlines()[1]


def test_live_scan_with_gaps_and_no_failing_finding_exits_3(capsys: pytest.CaptureFixture[str],
                                                            tmp_path: Path) -> None:
    fake = FakeApiserver(collections=split_by_kind(helpers.raw(helpers.FIXTURES / "digest-drift"
                                                               / "fires-repushed-tag.json")))
    fake.forbidden.add("/api/v1/nodes")
    with serve(fake) as url:
        path = kubeconfig(tmp_path / "kc", url)
        code, _, err = run(capsys, "scan", "--kubeconfig", str(path), "-n", "shop",
                           "--fail-on", "critical", "--format", "json")
        assert code == 3 and "incomplete scan" in err and "--allow-gaps" in err
        code, _, _ = run(capsys, "scan", "--kubeconfig", str(path), "-n", "shop",
                         "--fail-on", "critical", "--format", "json", "--allow-gaps")
        assert code == 0


def test_no_library_exception_leaks(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import urllib3

    def api_boom(*args: object, **kwargs: object) -> None:
        raise urllib3.exceptions.SSLError("handshake failure")

    monkeypatch.setattr(urllib3.PoolManager, "request", api_boom)
    path = kubeconfig(tmp_path / "kc", "https://127.0.0.1:6443")
    code, _, err = run(capsys, "scan", "--kubeconfig", str(path))
    assert code == 2
    assert_one_error_line(err, "handshake failure")


def test_scan_path_never_runs_subprocesses() -> None:
    # CalledProcessError cannot leak from a scan: nothing on its path starts a process.
    import ast

    root = Path(__file__).resolve().parents[2] / "scanner"
    scan_path = [*root.joinpath("sources").glob("*.py"), *root.joinpath("detectors").glob("*.py"),
                 *root.joinpath("report").glob("*.py"), root / "scanning.py", root / "graph.py",
                 root / "scoring.py", root / "images.py", root / "list_progress.py"]
    for path in scan_path:
        names = {a.name for n in ast.walk(ast.parse(path.read_text()))
                 if isinstance(n, ast.Import) for a in n.names}
        assert "subprocess" not in names, path
    assert subprocess.CalledProcessError.__name__  # the type the check is about


def test_rules_command(capsys: pytest.CaptureFixture[str],
                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # one physical line per rule
    code, out, _ = run(capsys, "rules")
    assert code == 0
    assert out.splitlines()[0].split() == ["Rule", "Severity", "What", "it", "checks", "Fix"]
    assert any(line.split()[:2] == ["digest-drift", "high"] for line in out.splitlines())
    flat = " ".join(out.split())
    assert "Pods of one revision run different builds" in flat
    assert "Pin the image to one digest" in flat  # the fix, not only the title
    assert "driftscan rules RULE" in out
    code, out, _ = run(capsys, "rules", "--format", "markdown")
    assert code == 0 and out.startswith("# driftscan rules\n")


def test_rules_command_explains_one_rule(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "rules", "digest-drift")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[:3] == ["RULE:     digest-drift", "SEVERITY: high (default)",
                         "CHECKED BY: driftscan scan"]
    flat = " ".join(out.split())
    for heading in ("WHAT IT CHECKS:", "WHY IT MATTERS:", "FIX:", "OPT OUT:"):
        assert heading in lines
    assert "every Kubernetes status still reports the workload as healthy" in flat
    assert "Pin the image to one digest" in flat
    assert "driftscan.io/ignore: digest-drift" in flat
    assert lines[-1] == "DOCS: docs/rules.md#digest-drift"


def test_rules_command_unknown_rule_suggests(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "rules", "digest-drfit")
    assert code == 2 and out == ""
    assert_one_error_line(err, "unknown rule 'digest-drfit'; did you mean 'digest-drift'?")
    code, _, err = run(capsys, "rules", "zzz")
    assert code == 2 and "did you mean" not in err and "`driftscan rules` lists" in err


def test_dump_from_stdin(capsys: pytest.CaptureFixture[str],
                         monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(Path(DRIFT).read_text()))
    code, out, _ = run(capsys, "scan", "--from", "-", "--format", "json")
    assert code == 1
    assert json.loads(out)["source"]["files"] == ["-"]


def test_no_kubeconfig_and_no_dump(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    code, _, err = run(capsys, "scan")
    assert code == 2
    assert_one_error_line(err, f"no kubeconfig at {tmp_path / 'missing'}")
    assert "--from FILE" in err


def test_cluster_status_of_a_missing_cluster_exits_3(
        capsys: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFTSCAN_STATE_DIR", str(tmp_path))
    code, out, err = run(capsys, "cluster", "status", "--provider", "kwok", "--name", "gone")
    assert code == 3
    assert out.splitlines() == ["cluster gone (provider kwok)",
                                "  cluster                  stopped  not created"]
    assert err == ("cluster gone is not running; start it: driftscan cluster up --provider"
                   " kwok --name gone\n")


@pytest.mark.parametrize("fmt", ["html", "sarif", "junit"])
def test_every_format_names_context_server_and_namespaces(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, fmt: str) -> None:
    fake = FakeApiserver(collections=split_by_kind(helpers.raw(Path(CLEAN))))
    code, out, _, url = _live(tmp_path, fake, capsys, "-n", "shop", "--format", fmt)
    assert code == 0
    if fmt == "html":
        from tests import htmltree

        page = htmltree.parse(out)
        header = page.find("header", class_="top").words
        assert f"Sourcelive cluster, context test ({url})" in header
        assert "Scopenamespace shop" in header
    else:
        assert f"context test ({url}), namespace shop" in out
