"""Where scenarios come from: the library shipped in the package, a team's ``--dir``
folders and ``--file``; selecting nothing is an error naming what was searched."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

import pytest

import scanner
from scanner import cli, errors, exits
from scanner.scenarios import catalog

ROOT = Path(__file__).resolve().parents[2]

APP = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: app, image: "{{ registry }}/{{ namespace }}/web:v1"}
"""

TEAM = """\
name: {name}
title: "A team's own scenario: {name}"
description: Two builds of web behind one tag.
steps:
- push: {{repository: "{{{{ namespace }}}}/web", tag: v1, build: b1}}
- apply: apps/web.yaml
- wait: {{rollout: Deployment/web}}
- scan: after
expect:
  after:
    clean: true
"""


def team_folder(tmp_path: Path, *names: str) -> Path:
    folder = tmp_path / "team-scenarios"
    (folder / "apps").mkdir(parents=True)
    (folder / "apps" / "web.yaml").write_text(APP)
    for name in names:
        (folder / f"{name}.yaml").write_text(TEAM.format(name=name))
    return folder


def test_the_library_is_package_data_next_to_the_code() -> None:
    assert catalog.library_dir() == Path(scanner.__file__).parent / "library"
    assert len(catalog.library()) == 13
    assert (catalog.library_dir() / "schema.json").is_file()


def test_every_library_file_is_declared_as_package_data() -> None:
    """A file the globs miss would be in a checkout but not in the wheel."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]["scanner"]
    package = Path(scanner.__file__).parent
    files = [p.relative_to(package).as_posix() for p in catalog.library_dir().rglob("*")
             if p.is_file() and "__pycache__" not in p.parts]
    assert len(files) > 13
    missed = [f for f in files if not any(fnmatch.fnmatchcase(f, g) for g in globs)]
    assert missed == []


def test_discover_says_where_each_scenario_comes_from(tmp_path: Path) -> None:
    folder = team_folder(tmp_path, "team-a", "team-b")
    found = catalog.discover([folder])
    origins = {s.name: origin for origin, s in found}
    assert origins["retag-scale-up"] == catalog.LIBRARY
    assert origins["team-a"] == origins["team-b"] == str(folder)
    assert len(found) == 15
    # The same folder twice is searched once.
    assert len(catalog.discover([folder, folder])) == 15


def test_names_and_all_pick_from_the_library_and_every_dir(tmp_path: Path) -> None:
    folder = team_folder(tmp_path, "team-a")
    chosen = catalog.select(["team-a", "pinned-control"], all_=False, files=[], dirs=[folder])
    assert [s.name for s in chosen] == ["team-a", "pinned-control"]
    assert len(catalog.select([], all_=True, files=[], dirs=[folder])) == 14
    with pytest.raises(errors.InputError, match="unknown scenario: team-a") as e:
        catalog.select(["team-a"], all_=False, files=[])
    assert "the library (" in (e.value.hint or "")


def test_a_dir_that_is_missing_or_holds_no_scenarios_is_refused(tmp_path: Path) -> None:
    with pytest.raises(errors.InputError, match="scenario folder .*nope does not exist"):
        catalog.discover([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(errors.InputError, match="empty holds no \\*.yaml files"):
        catalog.select([], all_=True, files=[], dirs=[tmp_path / "empty"])
    with pytest.raises(errors.InputError, match="empty holds no \\*.yaml files"):
        catalog.select([], all_=False, files=[str(team_folder(tmp_path, "t") / "t.yaml")],
                       dirs=[tmp_path / "empty"])


def test_a_dir_reusing_a_library_name_is_invalid(tmp_path: Path) -> None:
    folder = team_folder(tmp_path, "retag-scale-up")
    with pytest.raises(errors.ScenarioInvalid, match="'retag-scale-up' is already used"):
        catalog.discover([folder])


def test_selecting_zero_scenarios_names_what_was_searched(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "library"
    empty.mkdir()
    monkeypatch.setattr(catalog, "library_dir", lambda: empty)
    with pytest.raises(errors.InputError) as e:
        catalog.select([], all_=True, files=[])
    assert e.value.message == f"no scenarios selected: searched the library ({empty})"


def test_cli_run_selecting_nothing_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["scenario", "run", "--provider", "kwok"]) == exits.ERROR
    assert "no scenario selected" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert cli.main(["scenario", "run", "--all", "--provider", "kwok",
                     "--dir", str(tmp_path / "empty")]) == exits.ERROR
    assert "holds no *.yaml files" in capsys.readouterr().err
    library = tmp_path / "library"
    library.mkdir()
    monkeypatch.setattr(catalog, "library_dir", lambda: library)
    assert cli.main(["scenario", "run", "--all", "--provider", "kwok"]) == exits.ERROR
    err = capsys.readouterr().err
    assert f"error: no scenarios selected: searched the library ({library})" in err
    assert "Traceback" not in err
    assert cli.main(["scenario", "list"]) == exits.ERROR
    assert "no scenarios found: searched the library" in capsys.readouterr().err


def test_cli_list_shows_the_origin_column(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    team_folder(tmp_path, "team-a")
    team_folder(tmp_path / "loose", "loose-one")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["scenario", "list", "--dir", "team-scenarios",
                     "--file", "loose/team-scenarios/loose-one.yaml"]) == 0
    out = capsys.readouterr().out
    rows = {line.split("│")[1].strip(): line for line in out.splitlines()
            if line.count("│") >= 4 and line.split("│")[1].strip()}
    assert "library" in rows["retag-scale-up"]
    assert "team-scenarios" in rows["team-a"]
    assert "--file" in rows["loose-one"]
