"""Scenario files: the library is valid, and a broken file gets every problem named —
file, line, step and field — in one ScenarioInvalid."""

from __future__ import annotations

import importlib
import json
import textwrap
from pathlib import Path

import jsonschema
import pytest

from scanner import errors
from scanner.scenarios import catalog
from scanner.scenarios import definitions as d

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "scanner" / "library"

APP = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: app
        image: "{{ registry }}/{{ namespace }}/web:v1"
"""

GOOD = """\
name: tiny
steps:
- push: {repository: "{{ namespace }}/web", tag: v1, build: b1}
- apply: app.yaml
- wait: {rollout: Deployment/web}
- set-image: {workload: Deployment/web, container: app, image: "{{ registry }}/x@{{ digest:b1 }}"}
- scan: after
expect:
  after:
    fires:
    - {rule: digest-drift, workload: Deployment/web, severity: high, digests: 2}
"""


def write(folder: Path, name: str, text: str, app: str = APP) -> Path:
    (folder / "app.yaml").write_text(app)
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def problems_of(*paths: Path) -> list[catalog.Problem]:
    with pytest.raises(errors.ScenarioInvalid) as caught:
        catalog.load_files(list(paths))
    assert isinstance(caught.value, catalog.InvalidScenarios)
    return list(caught.value.problems)


# --- the library -------------------------------------------------------------------------


def test_the_library_loads_and_has_the_thirteen_scenarios() -> None:
    scenarios = catalog.library(LIBRARY)
    assert len(scenarios) == 13
    names = [s.name for s in scenarios]
    assert len(set(names)) == 13
    assert {"retag-scale-up", "pinned-control", "blue-green-control"} <= set(names)


@pytest.mark.parametrize("path", catalog.library_files(LIBRARY), ids=lambda p: p.stem)
def test_library_file_is_specific(path: Path) -> None:
    text = path.read_text()
    assert text.startswith("# yaml-language-server: $schema=./schema.json\n")
    scenario = catalog.load_file(path)
    assert scenario.description and scenario.title != scenario.name
    labels = scenario.scan_labels()
    assert labels and set(labels) == set(scenario.expect), "every scan has expectations"
    for expect in scenario.expect.values():
        assert expect.fires or expect.clean is True, expect.label
        for f in expect.fires:
            assert f.severity is not None, f"{expect.label}: {f.rule} has no severity"
        drift = [f for f in expect.fires if f.rule not in
                 ("floating-tag", "mutable-tag", "pull-policy-divergence")]
        for f in drift:
            assert f.digests is not None, f"{expect.label}: {f.rule} has no digest count"


def test_controls_expect_clean_and_drift_scenarios_expect_drift() -> None:
    for scenario in catalog.library(LIBRARY):
        last = scenario.expect[scenario.scan_labels()[-1]]
        if "control" in scenario.tags:
            assert all(e.clean is True for e in scenario.expect.values()), scenario.name
        elif scenario.name != "paused-rollout":  # it ends resumed and clean, on purpose
            assert any(f.rule not in ("floating-tag", "mutable-tag", "pull-policy-divergence")
                       for f in last.fires), scenario.name


def test_the_packaged_schema_is_the_library_schema() -> None:
    library = json.loads((LIBRARY / "schema.json").read_text())
    assert library == catalog.schema()
    jsonschema.Draft202012Validator.check_schema(library)


def test_scenario_modules_declare_their_public_surface() -> None:
    for name in ("builds", "catalog", "commands", "definitions", "expectations", "journal",
                 "kubeapi", "narrator", "observers", "outputs", "records", "resources",
                 "running", "steps", "targets", "testsuite", "waits"):
        module = importlib.import_module(f"scanner.scenarios.{name}")
        exported = module.__all__
        assert [n for n in exported if not hasattr(module, n)] == [], name


def test_select_resolves_names_and_refuses_unknown_ones() -> None:
    chosen = catalog.select(["sidecar-drift", "retag-scale-up"], all_=False, files=[])
    assert [s.name for s in chosen] == ["sidecar-drift", "retag-scale-up"]
    with pytest.raises(errors.InputError, match="unknown scenario: nope"):
        catalog.select(["nope"], all_=False, files=[])
    with pytest.raises(errors.InputError, match="no scenario selected"):
        catalog.select([], all_=False, files=[])


# --- a good file -------------------------------------------------------------------------


def test_a_good_file_becomes_typed_steps(tmp_path: Path) -> None:
    scenario = catalog.load_file(write(tmp_path, "s.yaml", GOOD))
    kinds = [s.kind for s in scenario.steps]
    assert kinds == ["push", "apply", "wait", "set-image", "scan"]
    apply = scenario.steps[1].action
    assert isinstance(apply, d.Apply) and apply.files == ((tmp_path / "app.yaml").resolve(),)
    assert scenario.manifests[(tmp_path / "app.yaml").resolve()] == APP
    assert scenario.steps[2].timeout == d.DEFAULT_WAIT_TIMEOUT
    fires = scenario.expect["after"].fires[0]
    assert fires.digests == d.Count(2, 2) and fires.severity is not None


# --- broken files: every problem, with file, line, step and field ------------------------


def test_a_malformed_file_names_file_step_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.yaml", """\
        name: tiny
        steps:
        - push: {repository: "{{ namespace }}/web", tag: v1, build: b1}
        - apply: app.yaml
        - name: grow
          scale: {workload: Deployment/web, replicas: many}
        - scan: after
        """)
    (problem,) = problems_of(path)
    assert problem.file == path
    assert problem.where == "steps[2] scale 'grow'"
    assert problem.field == "scale.replicas"
    assert "'many' is not of type 'integer'" in problem.message
    assert problem.line == 6
    text = str(problem)
    assert text.startswith(f"{path}:6: steps[2] scale 'grow': scale.replicas:")


def test_every_problem_is_collected_not_just_the_first(tmp_path: Path) -> None:
    path = write(tmp_path, "many.yaml", """\
        name: Bad_Name
        steps:
        - push: {repository: x, tag: v1}
        - {}
        - wait: {rollout: Deployment/web, pods: {selector: a=b, count: 1}}
        - apply: missing.yaml
          timeout: forever
        - set-image: {workload: Deployment/nope, container: c, image: "{{ digest:zz }}"}
        - scan: s1
        - sleep: 1
          scan: s2
        expect:
          s1: {fires: [{rule: no-such-rule, workload: Deployment/web}]}
          s9: {clean: true}
        """)
    problems = problems_of(path)
    text = "\n".join(map(str, problems))
    expected = [
        "name: 'Bad_Name' is not a lower-case kebab-case name",
        "steps[0] push: push: 'build' is a required property",
        "steps[0] push: push.repository: 'x' is not a repository under the scenario's own",
        "steps[1]: a step needs exactly one of: apply, push,",
        "steps[2] wait: wait: a wait has several actions (rollout, pods)",
        "steps[3] apply: cannot read manifest missing.yaml",
        "steps[3] apply: timeout: 'forever' is not a duration",
        "steps[4] set-image: workload: Deployment/nope is not created by an earlier apply step",
        "steps[4] set-image: image: {{ digest:zz }} names a build not pushed",
        "steps[6]: a step has several actions (sleep, scan)",
        "expect.s1: fires[0].rule: unknown rule 'no-such-rule'",
        "expect.s9: no scan step has the label 's9' (scans: s1)",
    ]
    for fragment in expected:
        assert fragment in text, fragment
    assert len(problems) == len(expected)
    assert all(p.file == path and p.line for p in problems)


def test_problems_of_several_files_come_together(tmp_path: Path) -> None:
    a = write(tmp_path, "a.yaml", "name: a\nsteps: []\n")
    b = write(tmp_path, "b.yaml", "name: b\nsteps:\n- scan: x\nexpect: {y: {clean: true}}\n")
    with pytest.raises(errors.ScenarioInvalid) as caught:
        catalog.load_files([a, b])
    message = str(caught.value)
    assert message.startswith("2 scenario files are invalid (2 problems):")
    assert f"{a}:2: steps: [] should be non-empty" in message
    assert f"{b}:4: expect.y: no scan step has the label 'y'" in message


def test_yaml_syntax_errors_carry_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "syntax.yaml", "name: x\nsteps:\n- name: a: b\n")
    (problem,) = problems_of(path)
    assert problem.line == 3 and "not valid YAML" in problem.message


def test_cross_checks_of_manifests_and_references(tmp_path: Path) -> None:
    app = APP.replace('"{{ registry }}/{{ namespace }}/web:v1"', '"{{ regsitry }}/web:v1"')
    app += "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: evil}\n"
    app += ("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm, namespace: default}\n")
    path = write(tmp_path, "refs.yaml", """\
        name: refs
        steps:
        - apply: app.yaml
        - scan: s
        - drain-node: {node: ghost}
        expect:
          s:
            clean: true
            fires: [{rule: digest-drift, workload: Deployment/web}]
            absent: [{container: app}]
        """, app=app)
    text = "\n".join(map(str, problems_of(path)))
    assert "unknown placeholder {{ regsitry }}" in text
    assert "kind 'Namespace' cannot be applied (namespaced kinds only" in text
    assert "ConfigMap/cm sets metadata.namespace" in text
    assert "node 'ghost' is not added by an earlier add-node step" in text
    assert "clean: true contradicts expecting digest-drift to fire" in text
    assert "`container` needs `workload`" in text


def test_push_goes_only_to_repositories_under_the_scenario_namespace(tmp_path: Path) -> None:
    path = write(tmp_path, "push.yaml", """\
        name: push
        steps:
        - push: {repository: "{{ namespace }}/shop/web", tag: v1, build: b1}
        - push: {repository: shared/web, tag: v1, build: b2}
        - push: {repository: "{{ registry }}/{{ namespace }}/web", tag: v1, build: b3}
        - name: the namespace itself is no repository path
          push: {repository: "{{ namespace }}", tag: v1, build: b4}
        - push: {repository: "{{ namespace }}/../other/web", tag: v1, build: b5}
        - push: {repository: "{{namespace}}/Web", tag: v1, build: b6}
        - scan: s
        expect:
          s: {fires: [{rule: no-such-rule, workload: Deployment/web}]}
        """)
    problems = problems_of(path)
    refused = [p for p in problems if p.field == "push.repository"]
    assert [(p.where, p.line) for p in refused] == [
        ("steps[1] push", 4), ("steps[2] push", 5), ("steps[3] push 'the namespace itself is "
                                                     "no repository path'", 7),
        ("steps[4] push", 8), ("steps[5] push", 9)]
    assert all(p.file == path for p in refused)
    assert str(refused[0]) == (
        f"{path}:4: steps[1] push: push.repository: 'shared/web' is not a repository under the "
        "scenario's own namespace, \"{{ namespace }}/NAME\" in lower case (a scenario pushes "
        "only to repositories it creates, so it never moves a tag it did not push)")
    # Collected with the file's other problems, not instead of them.
    assert any("unknown rule 'no-such-rule'" in p.message for p in problems)
    assert len(problems) == len(refused) + 1


def test_the_library_pushes_only_under_each_scenario_namespace() -> None:
    for scenario in catalog.library(LIBRARY):
        for step in scenario.all_steps:
            if isinstance(step.action, d.Push):
                assert step.action.repository.startswith("{{ namespace }}/"), \
                    f"{scenario.name} {step.path}"


def test_set_image_names_a_container_of_the_workload(tmp_path: Path) -> None:
    path = write(tmp_path, "c.yaml", """\
        name: c
        steps:
        - apply: app.yaml
        - set-image: {workload: Deployment/web, container: sidecar, image: x}
        - pause: StatefulSet/web
        """)
    text = "\n".join(map(str, problems_of(path)))
    assert "Deployment/web has no container 'sidecar' (its containers: app)" in text
    assert "StatefulSet/web: this step works on Deployment only" in text


def test_duplicate_names_across_files(tmp_path: Path) -> None:
    one = write(tmp_path, "one.yaml", "name: same\nsteps:\n- sleep: 1\n")
    two = write(tmp_path, "two.yaml", "name: same\nsteps:\n- sleep: 1\n")
    (problem,) = problems_of(one, two)
    assert problem.file == two and f"already used by {one}" in problem.message


# --- small pieces ------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "seconds"), [
    (30, 30.0), (2.5, 2.5), ("500ms", 0.5), ("30s", 30.0), ("2m", 120.0), ("1.5s", 1.5)])
def test_parse_duration(value: float | str, seconds: float) -> None:
    assert d.parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["soon", "10h", 0, -1, True])
def test_parse_duration_refuses(value: object) -> None:
    with pytest.raises(ValueError):
        d.parse_duration(value)  # type: ignore[arg-type]


def test_substitute_is_plain_text_replacement() -> None:
    values = d.Values("127.0.0.1:5000", "ds-x-1", {"v1": "sha256:" + "a" * 64})
    out = d.substitute("{{ registry }}/{{namespace}}/web:v1@{{ digest:v1 }}", values)
    assert out == "127.0.0.1:5000/ds-x-1/web:v1@sha256:" + "a" * 64
    with pytest.raises(errors.ScenarioFailed, match="has not been pushed"):
        d.substitute("{{ digest:v2 }}", values)
    with pytest.raises(errors.ScenarioFailed, match="unknown placeholder"):
        d.substitute("{{ x }}", values)
    # Nothing is evaluated: template-engine syntax stays as it is.
    assert d.substitute("{% if x %}{{'{{'}}", values) == "{% if x %}{{'{{'}}"


def test_scenario_list_command_lists_the_library(capsys: pytest.CaptureFixture[str]) -> None:
    from scanner import cli

    assert cli.main(["scenario", "list"]) == 0
    out = capsys.readouterr().out
    assert "retag-scale-up" in out and "blue-green-control" in out


def test_scenario_run_refuses_contradictory_options(capsys: pytest.CaptureFixture[str]) -> None:
    from scanner import cli

    assert cli.main(["scenario", "run", "retag-scale-up", "--provider", "kwok",
                     "--context", "x"]) == 2
    assert "--context only apply to --provider existing" in capsys.readouterr().err
    assert cli.main(["scenario", "run", "--all", "--provider", "existing"]) == 2
    assert "--provider existing needs --context NAME" in capsys.readouterr().err
    assert cli.main(["scenario", "run", "nope"]) == 2
    assert "unknown scenario: nope" in capsys.readouterr().err
