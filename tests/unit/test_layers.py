"""Module boundaries, checked like an import-linter contract, with plain ast parsing.

cli → scanning → report → scoring → detectors → graph → model; sources at the edge.
Detectors never import sources, clusters, report, scanning, the OCI client or the
kubernetes client; networkx stays inside graph.py; model imports nothing of the project
but errors and records. Inside ``scanner/oci/`` each module imports only those below it; the scan
path (sources, scanning, pinning) reaches the registry through the resolver and the
credentials alone and never the synthetic image builder.
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
                       "subprocess", "scanner.oci")),
        ("graph", ("scanner.sources", "scanner.detectors", "scanner.report", "scanner.clusters",
                   "kubernetes")),
        ("model", ("scanner.sources", "scanner.graph", "scanner.detectors", "scanner.report",
                   "kubernetes", "networkx")),
        ("images", ("scanner.sources", "scanner.graph", "scanner.detectors", "kubernetes")),
        ("evidence", ("scanner.sources", "scanner.graph", "scanner.detectors", "scanner.report",
                      "scanner.scoring", "scanner.findings", "scanner.model", "kubernetes",
                      "networkx")),
        ("scoring", ("scanner.sources", "scanner.report", "scanner.clusters", "kubernetes",
                     "networkx")),
        ("report", ("scanner.sources", "scanner.clusters", "scanner.scanning", "kubernetes",
                    "networkx")),
        ("sources", ("scanner.graph", "scanner.detectors", "scanner.report", "scanner.scoring",
                     "scanner.clusters", "networkx", "scanner.oci.synthetic")),
        ("scanning", ("scanner.oci.synthetic", "scanner.clusters", "scanner.scenarios")),
        ("pinning", ("scanner.oci.synthetic", "scanner.clusters", "scanner.scenarios")),
        # fleet merges reports; it calls the one-cluster scan it is given, never scanning.
        ("fleet", ("scanner.oci.synthetic", "scanner.clusters", "scanner.scenarios",
                   "scanner.scanning", "scanner.cli", "kubernetes")),
        ("oci", ("scanner.sources", "scanner.model", "scanner.images", "scanner.graph",
                 "scanner.detectors", "scanner.report", "scanner.scoring", "scanner.scanning",
                 "scanner.clusters", "scanner.scenarios", "scanner.cli", "kubernetes")),
    ],
)
def test_layer_contract(layer: str, forbidden: tuple[str, ...]) -> None:
    assert _violations(modules(layer), forbidden) == []



# The oci modules from the bottom up; each may import only the ones before it.
OCI_ORDER = ("names", "headers", "failures", "credentials", "transport", "auth", "client",
             "resolver", "synthetic")


def _oci_imports(path: Path) -> set[str]:
    return {n.split(".")[2] for n in imports_of(path)
            if n.startswith("scanner.oci.") and n.count(".") >= 2}


def test_oci_modules_import_only_lower_ones() -> None:
    assert sorted(p.stem for p in modules("oci") if p.stem != "__init__") == sorted(OCI_ORDER)
    bad = []
    for position, name in enumerate(OCI_ORDER):
        for used in _oci_imports(SCANNER / "oci" / f"{name}.py"):
            if used not in OCI_ORDER[:position]:
                bad.append(f"oci/{name}.py imports oci.{used}")
    assert bad == []


def test_scan_path_uses_only_the_resolver_and_credentials() -> None:
    scan_path = [*modules("sources"), SCANNER / "scanning.py", SCANNER / "pinning.py"]
    used = {f"{p.relative_to(SCANNER).as_posix()}: oci.{m}" for p in scan_path
            for m in _oci_imports(p) if m not in ("resolver", "credentials")}
    assert used == set()


def test_resolver_does_not_reach_the_synthetic_builder() -> None:
    # Transitively: what the scan path loads from scanner.oci never includes synthetic.
    seen: set[str] = set()
    todo = ["resolver", "credentials"]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(_oci_imports(SCANNER / "oci" / f"{name}.py"))
    assert "synthetic" not in seen
    assert seen == {"names", "headers", "failures", "credentials", "transport", "auth",
                    "client", "resolver"}


def test_only_clusters_and_scenarios_build_synthetic_images() -> None:
    users = sorted(p.relative_to(SCANNER).parts[0] for p in SCANNER.rglob("*.py")
                   if "synthetic" in _oci_imports(p) and p.parent != SCANNER / "oci")
    assert set(users) <= {"clusters", "scenarios"}
    assert users

def test_renderers_take_everything_from_the_report_model() -> None:
    # Commands, short digests and words come with the model (remediation is worked out
    # once, in the finding); only building the model and the scenario validation page,
    # which lists the rules, may reach the detectors.
    users = sorted(p.relative_to(SCANNER).as_posix() for p in modules("report")
                   if any(n == "scanner.detectors" or n.startswith("scanner.detectors.")
                          for n in imports_of(p)))
    assert users == ["report/building.py", "report/validation.py"]


def test_networkx_stays_inside_graph() -> None:
    users = [p.relative_to(SCANNER).as_posix() for p in sorted(SCANNER.rglob("*.py"))
             if any(n == "networkx" or n.startswith("networkx.") for n in imports_of(p))]
    assert users == ["graph.py"]


def test_only_the_apiserver_connection_imports_the_kubernetes_client_in_the_scan_path(
) -> None:
    scan_path = [*modules("sources"), *modules("detectors"), *modules("report"),
                 SCANNER / "graph.py", SCANNER / "scoring.py", SCANNER / "scanning.py",
                 SCANNER / "model.py", SCANNER / "images.py", SCANNER / "findings.py"]
    users = [p.name for p in scan_path
             if any(n == "kubernetes" or n.startswith("kubernetes.") for n in imports_of(p))]
    assert users == ["apiserver.py"]


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
                                  if "clusters" not in p.parts],
                         ids=lambda p: p.relative_to(SCANNER).as_posix())
def test_every_module_has_a_docstring(path: Path) -> None:
    assert ast.get_docstring(ast.parse(path.read_text())), f"{path} has no module docstring"


def test_no_secrets_are_ever_listed() -> None:
    from scanner.sources import live

    paths = [r.path(ns) for r in live.RESOURCES for ns in (None, "x")]
    assert not [p for p in paths if "secret" in p.lower()]


def test_no_two_modules_share_a_name() -> None:
    # A name says where to look: `reading` is file reading, `saved_report` a report read back.
    names = [p.name for p in SCANNER.rglob("*.py")
             if p.name != "__init__.py" and "__pycache__" not in p.parts]
    assert sorted({n for n in names if names.count(n) > 1}) == []
