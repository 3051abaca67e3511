"""Every module of the package declares ``__all__`` and exports only what exists."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import scanner

# Every module of the package, found by walking it, so a new module cannot be missed.
# Packages that only group modules and the CLI entry point have no public names.
_NO_SURFACE = {"scanner.cli", "scanner.clusters", "scanner.oci", "scanner.report",
               "scanner.scenarios", "scanner.sources", "scanner.watching"}
MODULES = sorted(m.name for m in pkgutil.walk_packages(scanner.__path__, "scanner.")
                 if m.name not in _NO_SURFACE and not m.name.endswith("__main__"))


def test_the_walk_finds_the_scan_path() -> None:
    assert {"scanner.decoding", "scanner.detectors.digests", "scanner.report.junit",
            "scanner.clusters.kwok", "scanner.scenarios.running"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_all_is_declared_and_resolvable(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported, f"{name} has no __all__"
    assert sorted(set(exported)) == sorted(exported), f"{name}.__all__ has duplicates"
    missing = [n for n in exported if not hasattr(module, n)]
    assert missing == []
