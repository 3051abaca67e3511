"""Module boundaries, checked like an import-linter contract, with plain ast parsing.

cli → scanning → report → scoring → detectors → graph → model; sources at the edge.
Detectors never import sources, clusters, report, scanning or the kubernetes client;
networkx stays inside graph.py; model imports nothing of the project but errors.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SCANNER = Path(__file__).resolve().parents[2] / "scanner"


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def modules(folder: str) -> list[Path]:
    base = SCANNER / folder
    return sorted(base.rglob("*.py")) if base.is_dir() else [SCANNER / f"{folder}.py"]


def _violations(paths: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    bad = []
    for path in paths:
        for name in imports_of(path):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                bad.append(f"{path.relative_to(SCANNER.parent)} imports {name}")
    return bad


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("detectors", ("scanner.sources", "scanner.clusters", "scanner.report", "scanner.scanning",
                       "scanner.cli", "scanner.scoring", "kubernetes", "networkx", "urllib3",
                       "subprocess", "scanner.registry")),
        ("graph", ("scanner.sources", "scanner.detectors", "scanner.report", "scanner.clusters",
                   "kubernetes")),
        ("model", ("scanner.sources", "scanner.graph", "scanner.detectors", "scanner.report",
                   "kubernetes", "networkx")),
        ("images", ("scanner.sources", "scanner.graph", "scanner.detectors", "kubernetes")),
        ("scoring", ("scanner.sources", "scanner.report", "scanner.clusters", "kubernetes",
                     "networkx")),
        ("report", ("scanner.sources", "scanner.clusters", "scanner.scanning", "kubernetes",
                    "networkx")),
        ("sources", ("scanner.graph", "scanner.detectors", "scanner.report", "scanner.scoring",
                     "scanner.clusters", "networkx")),
    ],
)
def test_layer_contract(layer: str, forbidden: tuple[str, ...]) -> None:
    assert _violations(modules(layer), forbidden) == []


def test_networkx_stays_inside_graph() -> None:
    users = [p.relative_to(SCANNER).as_posix() for p in sorted(SCANNER.rglob("*.py"))
             if any(n == "networkx" or n.startswith("networkx.") for n in imports_of(p))]
    assert users == ["graph.py"]


def test_only_live_source_imports_the_kubernetes_client_in_the_scan_path() -> None:
    scan_path = [*modules("sources"), *modules("detectors"), *modules("report"),
                 SCANNER / "graph.py", SCANNER / "scoring.py", SCANNER / "scanning.py",
                 SCANNER / "model.py", SCANNER / "images.py", SCANNER / "findings.py"]
    users = [p.name for p in scan_path
             if any(n == "kubernetes" or n.startswith("kubernetes.") for n in imports_of(p))]
    assert users == ["live.py"]


def test_internal_code_imports_modules_not_names() -> None:
    bad = []
    for path in [*modules("detectors"), *modules("report"), *modules("sources"),
                 SCANNER / "graph.py", SCANNER / "scoring.py", SCANNER / "scanning.py"]:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(
                    "scanner"):
                for alias in node.names:
                    target = SCANNER.parent / (node.module.replace(".", "/")) / alias.name
                    is_module = target.with_suffix(".py").is_file() or target.is_dir()
                    if not is_module and alias.name != "__version__":
                        bad.append(f"{path.name}: from {node.module} import {alias.name}")
    assert bad == []


@pytest.mark.parametrize("path", [p for p in sorted(SCANNER.rglob("*.py"))
                                  if "clusters" not in p.parts and p.name != "registry.py"],
                         ids=lambda p: p.relative_to(SCANNER).as_posix())
def test_every_module_has_a_docstring(path: Path) -> None:
    assert ast.get_docstring(ast.parse(path.read_text())), f"{path} has no module docstring"


def test_no_secrets_are_ever_listed() -> None:
    from scanner.sources import live

    paths = [r.path(ns) for r in live.RESOURCES for ns in (None, "x")]
    assert not [p for p in paths if "secret" in p.lower()]
