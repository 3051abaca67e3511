"""Shared pytest fixtures: the kwok test cluster (one per session), its registry, and a
fresh namespace per test.

Set ``DRIFTSCAN_KUBECONFIG``, ``DRIFTSCAN_REGISTRY`` and ``DOCKER_CONFIG`` (as printed by
``driftscan cluster env``) to reuse a running cluster instead of starting one.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from scanner.clusters import base


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[base.ClusterHandle]:
    """A running kwok cluster with 3 fake nodes, started once for the whole session."""
    kubeconfig = os.environ.get("DRIFTSCAN_KUBECONFIG")
    registry = os.environ.get("DRIFTSCAN_REGISTRY")
    if kubeconfig and registry:
        yield base.ClusterHandle(name="external", provider="external",
                                 kubeconfig=Path(kubeconfig), registry=registry,
                                 state_dir=Path(kubeconfig).parent)
        return
    from scanner.clusters import kwok

    os.environ.setdefault("DRIFTSCAN_STATE_DIR",
                          str(tmp_path_factory.mktemp("driftscan-state")))
    provider = kwok.KwokProvider(f"pytest-{os.getpid()}")
    handle = provider.up(3, say=lambda _m: None)
    if handle.docker_config is not None:
        # The registry takes only the cluster's own user: clients find it as docker would.
        os.environ["DOCKER_CONFIG"] = str(handle.docker_config)
    try:
        yield handle
    finally:
        provider.down(lambda _m: None)


@pytest.fixture(scope="session")
def registry(cluster: base.ClusterHandle) -> str:
    """``HOST:PORT`` of the cluster's real OCI registry (plain HTTP on loopback)."""
    return cluster.registry


@pytest.fixture(scope="session")
def kube(cluster: base.ClusterHandle):  # type: ignore[no-untyped-def]
    """A kubernetes ApiClient authenticated as the cluster admin."""
    from kubernetes import config as kube_config

    return kube_config.new_client_from_config(config_file=str(cluster.kubeconfig))


@pytest.fixture
def namespace(kube) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A namespace of the test's own, labelled ``created-by=driftscan-tests``; deleted after."""
    from kubernetes import client

    core = client.CoreV1Api(kube)
    name = f"t-{uuid.uuid4().hex[:10]}"
    core.create_namespace({"metadata": {"name": name,
                                        "labels": {"created-by": "driftscan-tests"}}})
    try:
        yield name
    finally:
        core.delete_namespace(name, grace_period_seconds=0)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses the cluster (directly or through another fixture)."""
    for item in items:
        if "cluster" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.cluster)
