"""Shared helpers for unit tests: load fixtures, run the pipeline, build objects."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from scanner import detectors, findings, graph, model
from scanner.report import building, integrity
from scanner.report import document as report_model
from scanner.sources import dump
from tests import kubedump

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


DATA_FOLDERS = frozenset({"alerts", "manifests", "schemas"})
"""Fixture folders that hold test inputs other than rule fixtures."""


def fixture_files() -> list[Path]:
    return sorted(p for p in FIXTURES.glob("*/*.json") if p.parent.name not in DATA_FOLDERS)


def rule_fixtures() -> list[Path]:
    return [p for p in fixture_files() if p.name.startswith(("fires-", "clean-"))]


def load(path: Path) -> model.Snapshot:
    """The dump, plus the registry's answers a fixture may carry under ``driftscanRegistry``
    (what ``sources.resolving`` adds to a snapshot during ``scan --registry-check``)."""
    snapshot = dump.load([str(path)])
    extra = raw(path).get("driftscanRegistry") if path.suffix == ".json" else None
    if not extra:
        return snapshot
    return dataclasses.replace(
        snapshot,
        registry_tags=tuple(model.RegistryTag(t["registry"], t["repository"], t["tag"],
                                              t["digest"], t["index"]) for t in extra["tags"]),
        registry_indexes=tuple(model.RegistryIndex(i["registry"], i["repository"], i["digest"],
                                                   tuple(i["manifests"]))
                               for i in extra["indexes"]),
    )


def analyse(snapshot: model.Snapshot) -> tuple[graph.Graph, list[findings.Finding]]:
    g = graph.build(snapshot)
    return g, detectors.detect(snapshot, g)


def report_for(snapshot: model.Snapshot,
               command_line: tuple[str, ...] = kubedump.SAMPLE_COMMAND) -> report_model.Report:
    """The report ``scan`` would write (sealed with its digest), at a fixed time."""
    g, found = analyse(snapshot)
    return integrity.seal(building.build(snapshot, g, found, detectors.RULES,
                                         generated_at="2026-01-10T12:00:00Z",
                                         command_line=command_line))


def fixture_findings(rule_dir: str, name: str) -> list[findings.Finding]:
    return analyse(load(FIXTURES / rule_dir / name))[1]


def raw(path: Path) -> Any:
    return json.loads(path.read_text())
