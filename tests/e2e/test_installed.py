"""driftscan as a user gets it: the wheel, installed into a fresh virtualenv outside the
repository, run from an empty directory.

`python -m build` makes the sdist and then the wheel from the sdist (so the sdist is
proven complete). The installed package must bring the scenario library, its apps and
schema, and the Go pins; `cluster up` must find the kwok binaries in the per-user cache
(~/.cache/driftscan-tools/VERSION/), since an installed package has no checkout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from scanner.clusters import toolchain
from scanner.scenarios import catalog
from tests import scenario_files

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = [s.name for s in catalog.library()]

TEAM_APP = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: worker
  labels: {app: worker}
spec:
  replicas: 4
  selector: {matchLabels: {app: worker}}
  template:
    metadata: {labels: {app: worker}}
    spec:
      containers:
      - name: worker
        image: "{{ registry }}/{{ namespace }}/acme/worker:stable"
        imagePullPolicy: Always
"""

TEAM_SCENARIO = """\
title: "Our nightly job restarts workers after :stable was re-pushed"
description: |
  A team's own scenario, kept in its own folder and run with --dir.
tags: [team]
steps:
- push: {repository: "{{ namespace }}/acme/worker", tag: stable, build: n1}
- apply: apps/worker.yaml
- wait: {rollout: Deployment/worker}
- scan: baseline
- name: CI re-pushes :stable
  push: {repository: "{{ namespace }}/acme/worker", tag: stable, build: n2}
  inject: true
- delete-pods: {selector: app=worker, count: 2}
- wait: {pods: {selector: app=worker, count: 4}}
- wait: {pods: {selector: app=worker, count: 2, build: n2}}
- scan: after-restart
expect:
  baseline:
    clean: true
  after-restart:
    fires:
    - {rule: digest-drift, workload: Deployment/worker, severity: high, digests: 2, revisions: 1}
"""


@dataclass(frozen=True)
class Installed:
    """A virtualenv outside the repository with the wheel installed, and an empty folder."""

    venv: Path
    cwd: Path
    env: dict[str, str]
    wheel: Path

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.venv / "bin" / "driftscan"), *args], cwd=self.cwd,
                              env=self.env, capture_output=True, text=True, timeout=timeout,
                              check=False)

    def python(self, code: str) -> str:
        done = subprocess.run([str(self.venv / "bin" / "python"), "-c", code], cwd=self.cwd,
                              env=self.env, capture_output=True, text=True, check=True)
        return done.stdout.strip()


def _check(argv: list[str], cwd: Path) -> None:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=600,
                          check=False)
    assert done.returncode == 0, f"{argv}: {done.stdout[-2000:]}{done.stderr[-2000:]}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("installed").resolve()
    assert not base.is_relative_to(ROOT)
    dist = base / "dist"
    _check([sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)], base)
    (wheel,) = dist.glob("driftscan-*.whl")
    assert len(list(dist.glob("driftscan-*.tar.gz"))) == 1
    venv = base / "venv"
    _check([sys.executable, "-m", "venv", str(venv)], base)
    _check([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel)], base)
    cwd = base / "empty"
    cwd.mkdir()
    # Nothing of the checkout or of the test session may leak into the installed tool.
    drop = ("PYTHONPATH", "VIRTUAL_ENV", "KUBECONFIG", "DRIFTSCAN_TOOLS_BIN",
            "DRIFTSCAN_STATE_DIR", "DRIFTSCAN_KUBECONFIG", "DRIFTSCAN_REGISTRY",
            "DRIFTSCAN_PULL_REGISTRY")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return Installed(venv, cwd, env, wheel)


def test_the_installed_package_is_not_the_checkout(installed: Installed) -> None:
    where = Path(installed.python("import scanner; print(scanner.__file__)"))
    assert where.is_relative_to(installed.venv) and "site-packages" in where.parts
    assert installed.python("from scanner.clusters import toolchain; "
                            "print(toolchain.checkout_root())") == "None"
    version = installed.python("import scanner; print(scanner.__version__)")
    assert installed.run("--version").stdout == f"driftscan, version {version}\n"


def test_scenario_list_shows_the_13_library_scenarios(installed: Installed) -> None:
    done = installed.run("scenario", "list")
    assert done.returncode == 0, done.stderr
    names = [line.split("│")[1].strip() for line in done.stdout.splitlines()
             if line.startswith("│") and line.split("│")[1].strip()]
    assert names == LIBRARY and len(names) == 13
    assert done.stdout.count("library │") == 13
    assert "site-packages" in done.stdout.replace("\n", "")
    assert list(installed.cwd.iterdir()) == []  # listing writes nothing


def test_scenario_run_from_the_per_user_cache(installed: Installed) -> None:
    for binary in toolchain.CLUSTER_NEEDS:
        cached = toolchain.cache_root() / toolchain.pins().version_of(binary) / binary
        if not os.access(cached, os.X_OK):
            pytest.fail(f"{cached} is missing: run `make cluster-tools` (or `driftscan "
                        "cluster tools`) first")
    # The installed lookup answers with the cache (it has no checkout to fall back to).
    located = installed.python("from scanner.clusters import toolchain; "
                               "print(toolchain.locate_all()['kube-apiserver'])")
    assert Path(located).is_relative_to(toolchain.cache_root())

    done = installed.run("scenario", "run", "retag-scale-up", "pinned-control",
                         "--provider", "kwok", "--out", "out")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    journal = json.loads((installed.cwd / "out" / "journal.json").read_text())
    assert [(s["name"], s["status"], s["passed"]) for s in journal["scenarios"]] == [
        ("retag-scale-up", "completed", True), ("pinned-control", "completed", True)]
    assert (installed.cwd / "out" / "index.html").is_file()
    assert (installed.cwd / "out" / "junit.xml").is_file()


def test_a_dir_of_its_own(installed: Installed) -> None:
    team = installed.cwd / "team-scenarios"
    scenario_files.write(team, TEAM_SCENARIO, {"apps/worker.yaml": TEAM_APP},
                         name="team-worker-restart")

    listed = installed.run("scenario", "list", "--dir", "team-scenarios")
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if "team-worker-restart" in line)
    assert "team-scenarios" in row

    done = installed.run("scenario", "run", "team-worker-restart", "--dir", "team-scenarios",
                         "--provider", "kwok", "--out", "team-out")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    journal = json.loads((installed.cwd / "team-out" / "journal.json").read_text())
    (scenario,) = journal["scenarios"]
    assert (scenario["name"], scenario["status"], scenario["passed"]) == (
        "team-worker-restart", "completed", True)

    # Selecting nothing from an empty folder is an error, never a pass.
    (installed.cwd / "nothing").mkdir()
    empty = installed.run("scenario", "run", "--all", "--dir", "nothing", "--provider", "kwok")
    assert empty.returncode == 2
    assert "scenario folder nothing holds no *.yaml files" in empty.stderr


def test_pipx_installs_the_wheel(installed: Installed, tmp_path: Path) -> None:
    env = {**installed.env, "PIPX_HOME": str(tmp_path / "pipx"),
           "PIPX_BIN_DIR": str(tmp_path / "bin"), "PIPX_MAN_DIR": str(tmp_path / "man")}
    done = subprocess.run([sys.executable, "-m", "pipx", "install", str(installed.wheel)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    driftscan = tmp_path / "bin" / "driftscan"
    listed = subprocess.run([str(driftscan), "scenario", "list"], cwd=installed.cwd, env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.count("library │") == 13
