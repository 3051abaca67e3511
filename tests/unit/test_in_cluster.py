"""In-cluster configuration: the service account folder and the service environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from scanner import errors
from scanner.sources import kubeconfig


def _folder(tmp_path: Path, *, namespace: str | None = "watchers") -> Path:
    folder = tmp_path / "serviceaccount"
    folder.mkdir()
    (folder / "token").write_text("eyJhbGciOi.token.value\n")
    (folder / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    if namespace is not None:
        (folder / "namespace").write_text(namespace)
    return folder


def test_outside_a_pod_there_is_no_in_cluster_endpoint(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    assert kubeconfig.in_cluster(_folder(tmp_path)) is None


def test_service_account_token_ca_and_namespace(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    folder = _folder(tmp_path)
    found = kubeconfig.in_cluster(folder)
    assert found == kubeconfig.Endpoint(
        context="in-cluster", namespace="watchers", server="https://10.96.0.1:443",
        ca_file=str(folder / "ca.crt"), token="eyJhbGciOi.token.value")
    # A rotated token is read again on the next call (a reconnecting watcher).
    (folder / "token").write_text("rotated")
    again = kubeconfig.in_cluster(folder)
    assert again is not None and again.token == "rotated"


def test_ipv6_service_host_and_default_namespace(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "fd00::1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "6443")
    found = kubeconfig.in_cluster(_folder(tmp_path, namespace=None))
    assert found is not None
    assert found.server == "https://[fd00::1]:6443" and found.namespace == "default"


def test_missing_token_is_one_clear_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    folder = _folder(tmp_path)
    (folder / "token").unlink()
    with pytest.raises(errors.ClusterUnreachable, match="cannot read .*token") as info:
        kubeconfig.in_cluster(folder)
    assert "automountServiceAccountToken" in (info.value.hint or "")
