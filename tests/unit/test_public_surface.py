"""Every module of the scan path declares ``__all__`` and exports only what exists."""

from __future__ import annotations

import importlib

import pytest

MODULES = [
    "scanner.images", "scanner.model", "scanner.findings", "scanner.graph", "scanner.scoring",
    "scanner.scanning", "scanner.progress", "scanner.rule_listing",
    "scanner.sources.parsing", "scanner.sources.dump", "scanner.sources.live",
    "scanner.sources.loading", "scanner.sources.progress",
    "scanner.detectors", "scanner.detectors.rules", "scanner.detectors.common",
    "scanner.detectors.digests", "scanner.detectors.rollouts", "scanner.detectors.updates",
    "scanner.detectors.tags", "scanner.detectors.resolutions",
    "scanner.report.model", "scanner.report.building", "scanner.report.json_format",
    "scanner.report.terminal", "scanner.report.sarif", "scanner.report.manifest_report",
    "scanner.sources.manifests", "scanner.sources.resolving",
    "scanner.manifest_scanning", "scanner.pinning",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_is_declared_and_resolvable(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported, f"{name} has no __all__"
    assert sorted(set(exported)) == sorted(exported), f"{name}.__all__ has duplicates"
    missing = [n for n in exported if not hasattr(module, n)]
    assert missing == []
