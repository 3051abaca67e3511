"""Shared helpers for unit tests: load fixtures, run the pipeline, build objects."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scanner import detectors, findings, graph, model
from scanner.report import building
from scanner.report import model as report_model
from scanner.sources import dump

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def fixture_files() -> list[Path]:
    return sorted(FIXTURES.glob("*/*.json"))


def rule_fixtures() -> list[Path]:
    return [p for p in fixture_files() if p.name.startswith(("fires-", "clean-"))]


def load(path: Path) -> model.Snapshot:
    return dump.load([str(path)])


def analyse(snapshot: model.Snapshot) -> tuple[graph.Graph, list[findings.Finding]]:
    g = graph.build(snapshot)
    return g, detectors.detect(snapshot, g)


def report_for(snapshot: model.Snapshot) -> report_model.Report:
    g, found = analyse(snapshot)
    return building.build(snapshot, g, found, detectors.REGISTRY,
                          generated_at="2026-01-10T12:00:00Z")


def fixture_findings(rule_dir: str, name: str) -> list[findings.Finding]:
    return analyse(load(FIXTURES / rule_dir / name))[1]


def raw(path: Path) -> Any:
    return json.loads(path.read_text())
