"""The GitHub Action (action.yml): valid composite-action metadata, the steps the kind
workflow used to carry (the workflow is now its example), inputs that reach driftscan, and
its shell steps run for real with bash and the real CLI."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from scanner.clusters import kind

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "tests/fixtures/schemas/github-action.json").read_text())
ACTION: dict[str, Any] = yaml.safe_load((ROOT / "action.yml").read_text())
WORKFLOW: dict[str, Any] = yaml.safe_load(
    (ROOT / ".github/workflows/driftscan-kind.yml").read_text())
STEPS = {s.get("name", s.get("uses")): s for s in ACTION["runs"]["steps"]}


def validator() -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    return jsonschema.Draft202012Validator(SCHEMA)


def test_action_yml_is_valid_composite_action_metadata() -> None:
    assert [e.message for e in validator().iter_errors(ACTION)] == []


@pytest.mark.parametrize(("change", "why"), [
    (lambda a: a.pop("description"), "'description' is a required property"),
    (lambda a: a["runs"].update(using="node20"), "'composite' was expected"),
    (lambda a: a["runs"]["steps"][0].pop("shell"), "is not valid under any of the given"),
    (lambda a: a["inputs"]["provider"].pop("description"), "'description' is a required"),
    (lambda a: a["inputs"]["provider"].update(default=True), "True is not of type 'string'"),
    (lambda a: a["outputs"]["exit-code"].pop("value"), "'value' is a required property"),
    (lambda a: a["runs"]["steps"][0].update(timeout=5), "Additional properties"),
    (lambda a: a["branding"].update(color="pink"), "'pink' is not one of"),
])
def test_the_schema_catches_broken_metadata(change: Any, why: str) -> None:
    broken = json.loads(json.dumps(ACTION))
    change(broken)
    messages = [e.message for e in validator().iter_errors(broken)]
    assert any(why in m for m in messages), messages


def test_every_input_is_used_and_every_use_is_declared() -> None:
    text = (ROOT / "action.yml").read_text()
    used = set(re.findall(r"\binputs\.([A-Za-z0-9_-]+)", text))  # in ${{ }} and in `if:`
    assert used == set(ACTION["inputs"])
    for name in ("scenario-dirs", "provider", "fail-on", "python-version", "upload-reports"):
        assert name in ACTION["inputs"], name


def test_inputs_reach_shell_scripts_through_env_only() -> None:
    """`${{ … }}` inside `run:` would paste user text into the script (script injection)."""
    for step in ACTION["runs"]["steps"]:
        if "run" in step:
            assert "${{" not in step["run"], step.get("name")
            assert step["shell"] == "bash"


def test_the_action_carries_the_steps_the_workflow_had() -> None:
    names = [s.get("name", s.get("uses")) for s in ACTION["runs"]["steps"]]
    order = ["actions/setup-python@v6", "Install kind (pinned version, checksum verified)",
             "Show the Docker engine kind will use", "Install driftscan (this action's version)",
             "Run the scenarios", "Upload the reports (HTML, JUnit, journal)",
             "Publish the JUnit results", "Fail the job as fail-on says"]
    assert [n for n in names if n in order] == order
    assert STEPS["actions/setup-python@v6"]["with"]["python-version"] == (
        "${{ inputs.python-version }}")
    install = STEPS["Install kind (pinned version, checksum verified)"]
    assert install["env"]["KIND_VERSION"] == kind.KIND_VERSION
    for arch in ("AMD64", "ARM64"):
        assert re.fullmatch(r"[0-9a-f]{64}", install["env"][f"KIND_SHA256_LINUX_{arch}"])
    assert 'echo "${sum}  kind" | sha256sum -c -' in install["run"]
    assert install["run"].index("sha256sum -c") < install["run"].index("sudo install")
    # driftscan at the action's own version: the action's checkout, not a PyPI release.
    installing = STEPS["Install driftscan (this action's version)"]
    assert installing["env"] == {"ACTION_PATH": "${{ github.action_path }}"}
    assert installing["run"] == 'python -m pip install "$ACTION_PATH"'
    run = STEPS["Run the scenarios"]
    assert run["env"]["DRIFTSCAN_KIND_NODE_IMAGE"].startswith("kindest/node:v1.36.1@sha256:")
    upload = STEPS["Upload the reports (HTML, JUnit, journal)"]
    assert upload["uses"].startswith("actions/upload-artifact@")
    assert upload["if"] == "always() && inputs.upload-reports == 'true'"
    junit = STEPS["Publish the JUnit results"]
    assert junit["if"] == "always()" and junit["with"]["report_paths"].endswith("**/*.xml")
    kwok_only = [n for n, s in STEPS.items() if s.get("if") == "inputs.provider == 'kwok'"]
    assert kwok_only == ["actions/setup-go@v6", "Build the kwok cluster's binaries"]
    assert STEPS["Build the kwok cluster's binaries"]["run"] == "driftscan cluster tools"


def test_the_workflow_is_the_actions_example() -> None:
    job = WORKFLOW["jobs"]["scenarios"]
    checkout, action = job["steps"]
    assert checkout["uses"].startswith("actions/checkout@")
    assert action["uses"] == "./"
    assert set(action["with"]) <= set(ACTION["inputs"])
    assert action["with"]["provider"] == "kind" and action["with"]["fail-on"] == "missed"
    assert WORKFLOW["permissions"] == {"contents": "read", "checks": "write"}
    text = (ROOT / ".github/workflows/driftscan-kind.yml").read_text()
    assert "uses: OWNER/driftscan@v1" in text


def test_readme_and_docs_show_the_one_line_uses() -> None:
    for doc in ("README.md", "docs/ci-kind.md"):
        assert "uses: OWNER/driftscan@v1" in (ROOT / doc).read_text(), doc


# --- the shell steps, run with bash --------------------------------------------------------


def bash(script: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return subprocess.run(["bash", "-e", "-c", script], env={**os.environ, "PATH": path, **env},
                          cwd=cwd, capture_output=True, text=True, check=False, timeout=120)


def run_step(tmp_path: Path, **env: str) -> tuple[str, str]:
    output = tmp_path / "github_output"
    output.write_text("")
    done = bash(STEPS["Run the scenarios"]["run"],
                {"PROVIDER": "kwok", "SCENARIO_DIRS": "", "SCENARIOS": "",
                 "REPORTS": "out", "GITHUB_OUTPUT": str(output), **env}, tmp_path)
    assert done.returncode == 0, done.stderr  # the exit code travels as an output
    return output.read_text(), done.stdout + done.stderr


def test_run_step_passes_dirs_and_names_to_the_real_cli(tmp_path: Path) -> None:
    (tmp_path / "team").mkdir()
    out, said = run_step(tmp_path, SCENARIO_DIRS="team\n  ci/missing", SCENARIOS="")
    assert ("driftscan scenario run --provider kwok --out out --all --dir team "
            "--dir ci/missing") in said
    assert out == "exit-code=2\n"
    assert "scenario folder team holds no *.yaml files" in said
    out, said = run_step(tmp_path, SCENARIOS="nope retag-scale-up")
    assert "--out out nope retag-scale-up" in said
    assert "unknown scenario: nope" in said and out == "exit-code=2\n"


@pytest.mark.parametrize(("fail_on", "code", "fails"), [
    ("missed", "0", False), ("missed", "1", True), ("missed", "2", True),
    ("error", "1", False), ("error", "2", True), ("error", "130", True),
    ("never", "2", False), ("never", "1", False), ("missed", "", True),
])
def test_fail_on_decides_the_job(tmp_path: Path, fail_on: str, code: str, fails: bool) -> None:
    done = bash(STEPS["Fail the job as fail-on says"]["run"],
                {"FAIL_ON": fail_on, "CODE": code}, tmp_path)
    assert (done.returncode != 0) is fails, done.stdout


@pytest.mark.parametrize(("provider", "fail_on", "ok"), [
    ("kind", "missed", True), ("kwok", "never", True), ("docker", "missed", False),
    ("kind", "sometimes", False),
])
def test_bad_inputs_stop_before_anything_runs(tmp_path: Path, provider: str, fail_on: str,
                                              ok: bool) -> None:
    done = bash(STEPS["Check the inputs"]["run"], {"PROVIDER": provider, "FAIL_ON": fail_on},
                tmp_path)
    assert (done.returncode == 0) is ok
    if not ok:
        assert done.stdout.startswith("::error::")
