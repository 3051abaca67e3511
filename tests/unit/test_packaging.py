"""What PyPI and pipx users get: one version, `driftscan --version`, complete metadata,
the license text and a changelog entry for the version."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

import scanner
from scanner import cli

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_version_is_written_in_one_place() -> None:
    project = PROJECT["project"]
    assert "version" not in project and project["dynamic"] == ["version"]
    assert PROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "scanner.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", scanner.__version__)


def test_driftscan_version_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out == f"driftscan, version {scanner.__version__}\n"


def test_metadata_is_complete() -> None:
    project = PROJECT["project"]
    assert project["license"] == "Apache-2.0" and project["license-files"] == ["LICENSE"]
    assert {"Homepage", "Documentation", "Source", "Issues", "Changelog"} <= set(
        project["urls"])
    classifiers = project["classifiers"]
    assert "Typing :: Typed" in classifiers
    assert (ROOT / "scanner" / "py.typed").is_file()
    minimum = project["requires-python"].removeprefix(">=")
    assert f"Programming Language :: Python :: {minimum}" in classifiers
    # License classifiers are superseded by the SPDX expression (PEP 639).
    assert not [c for c in classifiers if c.startswith("License ::")]
    assert project["scripts"] == {"driftscan": "scanner.cli:console"}
    assert any(d.startswith("build") for d in project["optional-dependencies"]["dev"])


def test_the_license_file_is_the_apache_2_text() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License\n                           Version 2.0, January 2004" in text
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_the_changelog_has_the_current_version() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    assert f"## [{scanner.__version__}]" in text
    assert "## [Unreleased]" in text
