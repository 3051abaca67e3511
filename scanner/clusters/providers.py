"""Picks a test-cluster provider and runs its commands for the CLI and the scenario engine.

``auto`` chooses kind when a Docker engine answers and kwok otherwise, and says which.
"""

from __future__ import annotations

import shutil
import subprocess

from scanner import errors
from scanner.clusters import base

__all__ = ["choose", "docker_engine_answers", "down", "env_lines", "get", "handle",
           "status_text", "up"]

KNOWN = ("kwok", "kind")


def docker_engine_answers(timeout: float = 5.0) -> bool:
    """True when a ``docker`` client exists and its engine answers ``docker info``."""
    if shutil.which("docker") is None:
        return False
    try:
        done = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"],
                              capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and bool(done.stdout.strip())


def choose(requested: str, docker: bool | None = None) -> str:
    """Resolve ``auto`` to a provider name; pass other names through after checking them."""
    if requested == "auto":
        if docker is None:
            docker = docker_engine_answers()
        return "kind" if docker else "kwok"
    if requested not in KNOWN:
        raise errors.InputError(f"unknown provider {requested!r}",
                                hint=f"use one of: auto, {', '.join(KNOWN)}")
    return requested


def get(requested: str, name: str, *, real_nodes: int = 0) -> base.Provider:
    """The provider object for ``requested`` (``auto`` resolved) and cluster ``name``.

    Raises:
        errors.InputError: ``real_nodes`` asked of a provider other than kwok.
    """
    chosen = choose(requested)
    if chosen == "kwok":
        from scanner.clusters import kwok

        return kwok.KwokProvider(name, real_nodes=real_nodes)
    if real_nodes:
        raise errors.InputError(f"--real-nodes runs beside KWOK's fake nodes; provider "
                                f"{chosen} has real nodes of its own",
                                hint="add --provider kwok, or drop --real-nodes")
    from scanner.clusters import kind

    return kind.KindProvider(name)


def up(requested: str, *, name: str, nodes: int, say: base.Say,
       real_nodes: int = 0) -> base.ClusterHandle:
    """Start (or reuse) a cluster and return its handle (kwok: with ``real_nodes``)."""
    provider = get(requested, name, real_nodes=real_nodes)
    if requested == "auto":
        say(f"provider: {provider.name} (auto: "
            f"{'a Docker engine answers' if provider.name == 'kind' else 'no Docker engine'})")
    return provider.up(nodes, say)


def down(requested: str, *, name: str, say: base.Say) -> None:
    """Stop a cluster; a no-op when it is not running."""
    get(requested, name).down(say)


def handle(requested: str, *, name: str) -> base.ClusterHandle:
    """The running cluster's handle."""
    return get(requested, name).handle()


def status_text(requested: str, *, name: str) -> str:
    """One line per component: name, running or stopped, detail."""
    return status(requested, name=name)[0]


def status(requested: str, *, name: str) -> tuple[str, bool]:
    """:func:`status_text`, and whether every component of the cluster runs."""
    provider = get(requested, name)
    components = provider.status()
    lines = [f"cluster {name} (provider {provider.name})"]
    for c in components:
        state = "running" if c.running else "stopped"
        lines.append(f"  {c.name:<24} {state:<8} {c.detail}".rstrip())
    return "\n".join(lines), bool(components) and all(c.running for c in components)


def env_lines(h: base.ClusterHandle) -> str:
    """Shell lines that point kubectl and driftscan at the cluster.

    ``DRIFTSCAN_PULL_REGISTRY`` appears when nodes pull under another name than this
    machine pushes to (kind: push ``127.0.0.1:PORT``, pods name ``localhost:PORT``).
    """
    lines = [
        f"export KUBECONFIG={h.kubeconfig}",
        f"export DRIFTSCAN_KUBECONFIG={h.kubeconfig}",
        f"export DRIFTSCAN_REGISTRY={h.registry}",
    ]
    if h.registry_in_cluster and h.registry_in_cluster != h.registry:
        lines.append(f"export DRIFTSCAN_PULL_REGISTRY={h.registry_in_cluster}")
    if h.docker_config is not None:
        lines.append(f"export DOCKER_CONFIG={h.docker_config}")
    return "\n".join(lines)
