"""`driftscan manifests` on a tree mixing good and bad files, as real repositories are.

The fixtures under tests/fixtures/manifests/tree/ are written for these tests; each one
reproduces a problem met on public manifest trees: a CRD enum item `- =`, a duplicate
key, template leftovers, a Helm template, a kustomize `$patch` file, a placeholder image,
ReplicationControllers (also inside a List), an Argo Rollout, a PodTemplate, an image
volume, and a workload kind driftscan does not know.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from scanner import cli, decoding, exits
from scanner.sources import manifests

TREE = Path(__file__).resolve().parents[1] / "fixtures" / "manifests" / "tree"
BAD = {
    "apps/duplicate.yaml": ("duplicate key 'image'", "kubectl apply refuses"),
    "apps/leftover.yaml": ("template leftover", "helm template"),
    "apps/placeholder.yaml": ("placeholder", "put the real image there"),
    "helm/templates/deployment.yaml": ("template leftover", "helm template"),
    "overlay/delete-loadgen.yaml": ("kustomize patch", "kustomize build"),
}


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = cli.main(["manifests", str(TREE), "--format", "json", *args])
    return code, json.loads(capsys.readouterr().out)


# --- YAML as kubectl reads it ----------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("- =", "="),
    ("- y", True), ("- Y", True), ("- yes", True), ("- on", True), ("- ON", True),
    ("- n", False), ("- no", False), ("- off", False),
    ("- ~", None), ("- null", None),
    ("- 1:30", "1:30"),  # no base-60 numbers
    ("- 2024-01-02", "2024-01-02"),  # timestamps stay strings
    ("- 0x1F", 31), ("- 0o17", 15), ("- 017", 15), ("- 1_000", 1000),
    ("- 1.5", 1.5), ("- 1e3", 1000.0), ("- .5", 0.5),
    ("- '='", "="), ('- "yes"', "yes"), ("- .", "."), ("- =~", "=~"),
])
def test_plain_scalars_read_as_kubectl_reads_them(text: str, expected: object) -> None:
    [(_, value)] = list(decoding.yaml_documents(text))
    assert value == [expected] and type(value[0]) is type(expected)


def test_boolean_keys_are_spelled_as_kubectl_spells_them() -> None:
    [(_, value)] = list(decoding.yaml_documents("y: 1\nfalse: 2\n"))
    assert value == {"true": 1, "false": 2}


def test_a_crd_with_an_equals_enum_is_readable() -> None:
    [file] = manifests.load([str(TREE / "apps" / "crd.yaml")])
    assert file.problems == () and file.objects == ()


# --- every file that can be read is checked; every file that cannot is listed -----------------


def test_each_bad_file_is_listed_with_line_reason_and_what_to_do() -> None:
    files = manifests.load([str(TREE)])
    problems = {str(Path(p.file).relative_to(TREE)): p for f in files for p in f.problems}
    assert set(problems) == set(BAD)
    for name, (reason, hint) in BAD.items():
        p = problems[name]
        assert reason in p.reason and hint in p.hint, p
        assert p.line is not None and p.line >= 1
    assert problems["apps/duplicate.yaml"].line == 13
    assert problems["apps/placeholder.yaml"].line == 8
    assert problems["helm/templates/deployment.yaml"].line == 4  # the first {{
    assert f"helm template {TREE / 'helm'} |" in problems["helm/templates/deployment.yaml"].hint


def test_new_kinds_and_image_volumes_are_checked(capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = run_json(capsys, "--fail-on", "critical")
    assert code == exits.INCOMPLETE
    found = {(f["workload"]["kind"], f["workload"]["name"], f["container"], f["rule"])
             for f in doc["findings"]}
    assert found == {
        ("Deployment", "web", "web", "floating-tag"),
        ("ReplicationController", "redis-master", "redis", "floating-tag"),  # inside a List
        ("ReplicationController", "guestbook", "guestbook", "mutable-tag"),
        ("Rollout", "canary", "app", "mutable-tag"),
        ("PodTemplate", "batch-template", "worker", "floating-tag"),
        ("Deployment", "model-server", "volume:weights", "mutable-tag"),
    }
    volume = next(f for f in doc["findings"] if f["container"] == "volume:weights")
    assert volume["location"]["field"] == "spec.template.spec.volumes[0].image.reference"
    assert volume["message"].startswith("image volume weights: image")
    assert doc["skipped"] == [{"file": str(TREE / "apps" / "operator.yaml"), "line": 2,
                               "kind": "CloneSet", "apiVersion": "apps.kruise.io/v1alpha1",
                               "name": "sample"}]
    summary = doc["summary"]
    assert summary["complete"] is False and summary["unreadable_files"] == len(BAD)
    assert {Path(u["file"]).relative_to(TREE).as_posix() for u in doc["unreadable"]} == set(BAD)
    assert all(u["hint"] for u in doc["unreadable"])


def test_exit_codes_findings_win_gaps_fail_unless_allowed(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert run_json(capsys, "--fail-on", "medium")[0] == exits.FINDINGS
    assert run_json(capsys, "--fail-on", "critical")[0] == exits.INCOMPLETE
    assert run_json(capsys, "--fail-on", "critical", "--allow-gaps")[0] == exits.CLEAN
    assert cli.main(["manifests", str(TREE / "apps" / "web.yaml"), "--fail-on",
                     "critical"]) == exits.CLEAN
    assert cli.main(["manifests", str(TREE / "absent")]) == exits.ERROR


def test_sarif_is_written_and_says_the_run_was_incomplete(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ci" / "driftscan.sarif"
    code = cli.main(["manifests", str(TREE), "--format", "sarif", "-o", str(out),
                     "--fail-on", "critical"])
    assert code == exits.INCOMPLETE
    streams = capsys.readouterr()
    assert "INCOMPLETE" in streams.out
    assert streams.err.count("unreadable: ") == len(BAD)
    [invocation] = json.loads(out.read_text())["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is False
    notes = invocation["toolExecutionNotifications"]
    errors = [n for n in notes if n["level"] == "error"]
    assert len(errors) == len(BAD)
    uris = {n["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for n in errors}
    assert any(u.endswith("apps/duplicate.yaml") for u in uris)
    dup = next(n for n in errors if "duplicate" in n["message"]["text"])
    assert dup["locations"][0]["physicalLocation"]["region"] == {"startLine": 13}
    assert [n["descriptor"]["id"] for n in notes if n["level"] == "warning"] == ["skipped-kind"]


def test_the_table_file_lists_every_bad_file(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "table.txt"
    assert cli.main(["manifests", str(TREE), "-o", str(out), "--allow-gaps"]) == exits.CLEAN
    capsys.readouterr()
    text = out.read_text()
    for name in BAD:
        assert str(TREE / name) in text
    assert "skipped CloneSet/sample" in text


# --- a table that survives a pipe ---------------------------------------------------------------


def test_piped_table_has_one_whole_line_per_finding(tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "60", "TERM": "dumb"}
    env.pop("FORCE_COLOR", None)
    result = subprocess.run(
        [sys.executable, "-m", "scanner.cli", "manifests", str(TREE / "apps"), "--fail-on",
         "critical"], capture_output=True, text=True, env=env, timeout=60, check=False)
    assert result.returncode == exits.INCOMPLETE, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["LOCATION", "RULE", "SEVERITY", "WORKLOAD", "CONTAINER", "IMAGE"]
    rows = [ln for ln in lines[1:] if ln.startswith(str(TREE))]
    findings = [ln for ln in rows if ": " not in ln]  # skipped/unreadable lines say "path:N: …"
    assert len(findings) == 6
    for row in findings:
        location, rule, severity, workload, container, image = row.split()
        assert location.startswith(str(TREE / "apps")) and location.rsplit(":", 1)[1].isdigit()
        assert image.startswith("registry.invalid:5000/")
    guestbook = next(r for r in findings if "guestbook" in r)
    assert f"{TREE / 'apps' / 'legacy.yaml'}:30" in guestbook
    assert "\x1b[" not in result.stdout


def test_json_matches_its_schema(capsys: pytest.CaptureFixture[str]) -> None:
    import jsonschema

    schema = json.loads((Path(manifests.__file__).parents[1] / "schemas"
                         / "manifests-v1.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    _, doc = run_json(capsys, "--fail-on", "critical")
    jsonschema.validate(doc, schema)
    broken = dict(doc, unreadable=[{"file": "x.yaml", "line": 0, "reason": "r"}])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_a_file_that_is_not_text_is_listed_in_place(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text((TREE / "apps" / "web.yaml").read_text())
    (tmp_path / "b.yaml").write_bytes(b"\xff\xfe\x00binary")
    (tmp_path / "c.yaml").write_text((TREE / "apps" / "rollout.yaml").read_text())
    files = manifests.load([str(tmp_path)])
    assert [Path(f.name).name for f in files] == ["a.yaml", "b.yaml", "c.yaml"]
    [problem] = files[1].problems
    assert problem.line is None and problem.reason == "not UTF-8 text"
    assert problem.text() == (f"{tmp_path / 'b.yaml'}: not UTF-8 text"
                              " (save it as UTF-8, or leave it out)")
    assert [len(f.objects) for f in files] == [1, 0, 2]


@pytest.mark.parametrize(("width", "rich_table"), [(220, True), (100, False)])
def test_a_terminal_gets_the_rich_table_only_when_it_fits(width: int, rich_table: bool) -> None:
    import io

    from rich.console import Console

    from scanner import manifest_scanning
    from scanner.report import manifest_report

    report = manifest_scanning.check(manifests.load([str(TREE / "apps" / "rollout.yaml")]))
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=width, color_system=None)
    manifest_report.render_table(report, console)
    lines = out.getvalue().splitlines()
    assert lines[0].split()[0] == ("Location" if rich_table else "LOCATION")
    rows = [ln for ln in lines if "rollout.yaml:" in ln]
    assert len(rows) == 2 and all("registry.invalid:5000/shop/" in r for r in rows)


def test_each_document_is_read_on_its_own() -> None:
    path = TREE.parent / "multi-document.yaml"
    text = path.read_text()
    [file] = manifests.load([str(path)])
    assert [(o.name, o.document) for o in file.objects] == [("first", 1), ("last", 4)]
    assert [(p.line, p.reason.split(":")[0]) for p in file.problems] == [
        (18, "duplicate key 'image'"), (22, "invalid YAML")]
    last = file.objects[1].images[0]  # offsets are the file's, so pin edits land in place
    assert text[last.start:last.end] == '"registry.invalid:5000/multi/c"'
    assert last.line == 28
