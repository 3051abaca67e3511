"""The Helm chart in deploy/helm/driftscan, rendered by the real ``helm`` binary.

``helm`` is one of the Go-built tools (``make cluster-tools``); when it is not built yet
the tests build it through the same version-stamped cache, and skip only when it cannot
be built (no Go, no module proxy).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from scanner import errors
from scanner.clusters import base, toolbuilding, toolchain

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "deploy" / "helm" / "driftscan"


@functools.cache
def _helm_or_reason() -> tuple[Path | None, str]:
    found = toolchain.locate("helm")
    if found is not None:
        return found, ""
    try:
        explicit = os.environ.get("DRIFTSCAN_TOOLS_BIN")  # the only place looked at, then
        toolbuilding.build(bin_dir=Path(explicit) if explicit else None, say=lambda _m: None,
                           binaries=("helm",))
    except errors.DriftscanError as e:
        return None, f"helm cannot be built: {e.message}" + (f" ({e.hint})" if e.hint else "")
    return toolchain.locate("helm"), "helm was built but is not found where it was put"


def helm() -> Path:
    """The pinned ``helm`` binary; skips the test when it cannot be built."""
    path, reason = _helm_or_reason()
    if path is None:
        pytest.skip(reason)
    return path


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``helm ARGS`` with its output captured; fails the test with helm's words on error."""
    done = subprocess.run([str(helm()), *args], capture_output=True, text=True,
                          timeout=120, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed ({done.returncode}):\n"
                             f"{done.stdout}\n{done.stderr}")
    return done


def template_text(*sets: str, namespace: str = "monitoring", release: str = "driftscan",
                  values: Path | None = None, show_only: str | None = None) -> str:
    """``helm template`` of the chart with ``--set`` items, as YAML text."""
    args = ["template", release, str(CHART), "--namespace", namespace]
    if values is not None:
        args += ["--values", str(values)]
    for item in sets:
        args += ["--set", item]
    if show_only is not None:
        args += ["--show-only", show_only]
    return run(*args).stdout


def template(*sets: str, namespace: str = "monitoring", release: str = "driftscan",
             values: Path | None = None) -> list[dict[str, Any]]:
    """The rendered chart's objects (safe-loaded; empty documents dropped)."""
    text = template_text(*sets, namespace=namespace, release=release, values=values)
    return [d for d in yaml.safe_load_all(text) if d]


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """The rendered objects of ``kind``."""
    return [o for o in objects if o.get("kind") == kind]


def plain_rules(*sets: str) -> str:
    """The chart's alert rules as a plain Prometheus rules file (its rules ConfigMap)."""
    text = template_text("prometheusRule.configMap=true", *sets,
                         show_only="templates/rules-configmap.yaml")
    [config_map] = [d for d in yaml.safe_load_all(text) if d]
    rules: str = config_map["data"]["driftscan.rules.yaml"]
    return rules


# --- on the kwok cluster -------------------------------------------------------------------


def kubectl(cluster: base.ClusterHandle, *args: str,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The pinned ``kubectl`` as the cluster's admin."""
    binary = toolchain.locate("kubectl")
    assert binary is not None, "kubectl is built with the cluster: run `make cluster-tools`"
    return subprocess.run([str(binary), "--kubeconfig", str(cluster.kubeconfig), *args],
                          input=stdin, capture_output=True, text=True, timeout=60, check=False)


@dataclass(frozen=True)
class Installed:
    """The rendered chart, applied in a namespace of its own."""

    namespace: str
    account: str
    """The chart's ServiceAccount."""
    objects: list[dict[str, Any]]


@contextlib.contextmanager
def installed(cluster: base.ClusterHandle, *sets: str) -> Iterator[Installed]:
    """The chart rendered with ``--set`` items (``{NS}`` is its namespace), applied
    server-side in a new namespace; everything it created, cluster-scoped objects
    included, is deleted after."""
    namespace = f"t-{uuid.uuid4().hex[:10]}"
    items = [s.replace("{NS}", namespace) for s in sets]
    text = template_text(*items, namespace=namespace, release=f"ds-{namespace}")
    objects = [d for d in yaml.safe_load_all(text) if d]
    created = kubectl(cluster, "create", "namespace", namespace)
    assert created.returncode == 0, created.stderr
    try:
        done = kubectl(cluster, "apply", "--server-side", "--field-manager=driftscan-tests",
                       "-f", "-", stdin=text)
        assert done.returncode == 0, done.stderr
        [account] = of_kind(objects, "ServiceAccount")
        yield Installed(namespace, account["metadata"]["name"], objects)
    finally:
        kubectl(cluster, "delete", "--ignore-not-found", "--wait=false", "-f", "-", stdin=text)
        kubectl(cluster, "delete", "namespace", namespace, "--wait=false")


def token_kubeconfig(cluster: base.ClusterHandle, chart: Installed, path: Path,
                     duration: str = "30m") -> Path:
    """A kubeconfig that authenticates as the chart's ServiceAccount, with a token from
    ``kubectl create token``; the apiserver and its CA are the cluster's."""
    token = kubectl(cluster, "create", "token", chart.account, "--namespace", chart.namespace,
                    "--duration", duration)
    assert token.returncode == 0, token.stderr
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    [entry] = admin["clusters"]
    config = {"apiVersion": "v1", "kind": "Config", "current-context": "chart",
              "clusters": [{"name": "kwok", "cluster": entry["cluster"]}],
              "users": [{"name": "chart", "user": {"token": token.stdout.strip()}}],
              "contexts": [{"name": "chart", "context": {"cluster": "kwok", "user": "chart",
                                                         "namespace": chart.namespace}}]}
    path.write_text(json.dumps(config))
    path.chmod(0o600)
    return path
