"""Scenario validation helps a newcomer: quote-your-placeholder hints, "did you mean", and
``scenario list --file`` that lists just the files and says whether each is valid."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from scanner import cli, suggest
from tests.unit.test_scenario_loading import APP, GOOD, problems_of, write


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_closest_names() -> None:
    assert suggest.closest("selectr", ["selector", "count", "state"]) == "selector"
    assert suggest.closest("digest-drfit", ["digest-drift", "mutable-tag"]) == "digest-drift"
    assert suggest.closest("Scale", ["scale", "scan"]) == "scale"
    assert suggest.closest("zzz", ["selector"]) is None
    assert suggest.did_you_mean("zzz", ["selector"]) == ""
    assert suggest.did_you_mean("v11", ["v1", "v2"]) == "; did you mean 'v1'?"


@pytest.mark.parametrize(("line", "quoted"), [
    ("- push: {repository: {{ namespace }}/web, tag: v1, build: b1}",
     'repository: "{{ namespace }}/web"'),
    ("- set-image: {workload: Deployment/web, container: app, image: {{ registry }}/x:1}",
     'image: "{{ registry }}/x:1"'),
])
def test_unquoted_placeholder_in_a_flow_mapping_gets_a_hint(tmp_path: Path, line: str,
                                                            quoted: str) -> None:
    path = write(tmp_path, "s.yaml", f"name: s\nsteps:\n{line}\n")
    [problem] = problems_of(path)
    assert problem.line == 3
    assert problem.message.startswith("not valid YAML: ")
    assert problem.message.endswith(
        f"; a value that starts with {{{{ must be quoted, e.g. {quoted}")


def test_unquoted_placeholder_in_a_block_mapping_gets_a_hint(tmp_path: Path) -> None:
    path = write(tmp_path, "s.yaml", """\
        name: s
        steps:
        - push:
            repository: {{ namespace }}
            tag: v1
            build: b1
        """)
    [problem] = problems_of(path)
    assert 'must be quoted, e.g. repository: "{{ namespace }}"' in problem.message


def test_other_yaml_errors_get_no_placeholder_hint(tmp_path: Path) -> None:
    path = write(tmp_path, "s.yaml", "name: s\nsteps: [a, b\n")
    [problem] = problems_of(path)
    assert "quoted" not in problem.message


def test_did_you_mean_for_fields_step_kinds_rules_builds_and_labels(tmp_path: Path) -> None:
    text = GOOD.replace("- wait: {rollout: Deployment/web}",
                        "- wait: {rollout: Deployment/web}\n"
                        "- wait: {pods: {selectr: app=web, count: 2}}\n"
                        "- wait: {pods: {selector: app=web, count: 2, build: b11}}\n"
                        "- scael: {workload: Deployment/web, replicas: 3}")
    text = text.replace("rule: digest-drift", "rule: digest-drfit")
    text = text.replace("expect:\n  after:", "expect:\n  aftr:\n    clean: true\n  after:")
    path = write(tmp_path, "s.yaml", text)
    messages = [f"{p.where}: {p.field}: {p.message}" for p in problems_of(path)]
    flat = "\n".join(messages)
    assert "unknown field 'selectr'; did you mean 'selector'?" in flat
    assert "build 'b11' is not pushed by an earlier step; did you mean 'b1'?" in flat
    assert "unknown field 'scael'; did you mean 'scale'?" in flat
    assert "unknown rule 'digest-drfit' (see `driftscan rules`); did you mean 'digest-drift'?" \
        in flat
    assert "no scan step has the label 'aftr' (scans: after); did you mean 'after'?" in flat


def test_digest_placeholder_for_an_unknown_build_suggests_one(tmp_path: Path) -> None:
    path = write(tmp_path, "s.yaml", GOOD.replace("{{ digest:b1 }}", "{{ digest:b11 }}"))
    flat = "\n".join(p.message for p in problems_of(path))
    assert "{{ digest:b11 }} names a build not pushed by an earlier step; did you mean 'b1'?" \
        in flat
    path = write(tmp_path, "s.yaml", GOOD, app=APP.replace("web:v1", "web@{{ digest:b10 }}"))
    flat = "\n".join(p.message for p in problems_of(path))
    assert "names a build not pushed by an earlier step; did you mean 'b1'?" in flat


def test_scenario_list_file_lists_only_the_file_and_says_valid(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "mine.yaml", GOOD)
    code, out, err = run(capsys, "scenario", "list", "--file", str(path))
    assert code == 0 and err == ""
    assert "tiny" in out
    assert "retag-scale-up" not in out  # not the library
    assert out.splitlines()[-1] == f"{path}: valid (scenario tiny)"


def test_scenario_list_file_says_invalid_and_exits_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, "mine.yaml", GOOD)
    bad = tmp_path / "bad.yaml"
    bad.write_text(textwrap.dedent("""\
        name: bad
        steps:
        - scan: one
        expect:
          one: {fires: [{rule: digest-drfit, workload: Deployment/web}]}
        """))
    code, out, err = run(capsys, "scenario", "list", "--file", str(good), "--file", str(bad))
    assert code == 2
    assert out.splitlines()[-2:] == [f"{good}: valid (scenario tiny)",
                                     f"{bad}: invalid (1 problem, listed below)"]
    assert err.startswith(f"error: scenario file {bad} is invalid (1 problem):")
    assert "did you mean 'digest-drift'?" in err and "Traceback" not in err


def test_scenario_list_file_that_does_not_exist(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "scenario", "list", "--file", str(tmp_path / "nope.yaml"))
    assert code == 2 and out == ""
    assert err.splitlines()[0] == f"error: scenario file {tmp_path / 'nope.yaml'} does not exist"
