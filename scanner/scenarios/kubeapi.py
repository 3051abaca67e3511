"""The few Kubernetes API calls the scenario engine makes, as plain JSON over REST.

``steps`` and ``running`` use one :class:`Kube` per run. It authenticates through the
official client's kubeconfig handling (certificates, tokens, exec plugins) and sends raw
requests, so objects stay plain dicts — the same shapes a scenario's manifests use.
Server-side apply (``application/apply-patch+yaml``) creates or updates objects; every
write is scoped to a namespace the engine created, except node calls, which only the
node steps make.

Errors: an apiserver that does not answer becomes ``errors.ClusterUnreachable``; a
refused request becomes :class:`ApiError` (an ``errors.ScenarioFailed``) carrying the
HTTP status and the apiserver's message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import urllib3
import yaml
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from scanner import errors
from scanner.scenarios import resources

__all__ = ["ApiError", "FIELD_MANAGER", "Kube"]

FIELD_MANAGER = "driftscan-scenarios"
_TIMEOUT = (5.0, 30.0)


class ApiError(errors.ScenarioFailed):
    """The apiserver refused a request."""

    def __init__(self, status: int, message: str, what: str) -> None:
        super().__init__(f"{what}: HTTP {status}: {message}")
        self.status = status


class Kube:
    """A connection to one cluster (one kubeconfig context)."""

    def __init__(self, kubeconfig: Path, context: str | None = None) -> None:
        """Connect (no request yet).

        Raises:
            errors.ClusterUnreachable: the kubeconfig or context cannot be used.
        """
        try:
            self.api = k8s_config.new_client_from_config(  # type: ignore[no-untyped-call]
                config_file=str(kubeconfig), context=context, persist_config=False)
        except (k8s_config.ConfigException, OSError, ValueError, TypeError, KeyError,
                yaml.YAMLError) as e:
            where = f"context {context!r} of " if context else ""
            raise errors.ClusterUnreachable(f"{where}kubeconfig {kubeconfig} is unusable: {e}",
                                            hint="check --kubeconfig and --context") from e
        self.host = str(self.api.configuration.host)

    def close(self) -> None:
        """Release the connection pool."""
        self.api.close()

    # --- transport ---------------------------------------------------------------------

    def request(self, method: str, path: str, *, body: Any = None,
                query: Sequence[tuple[str, Any]] = (), content_type: str | None = None,
                what: str = "") -> Any:
        """Send one request; return the decoded JSON body (``None`` when empty).

        Raises:
            ApiError: the apiserver answered with a status ≥ 300.
            errors.ClusterUnreachable: the apiserver did not answer.
        """
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type or "application/json"
        serialized = self.api.param_serialize(
            method, path, query_params=list(query), header_params=headers,
            body=body, auth_settings=["BearerToken"])
        try:
            response = self.api.call_api(*serialized, _request_timeout=_TIMEOUT)
            raw = response.response
            try:
                data = raw.data
            finally:
                raw.release_conn()
            status = int(response.status)
        except k8s_client.ApiException as e:
            status, data = int(e.status or 0), (e.body or b"")
            if not status:
                raise errors.ClusterUnreachable(
                    f"cannot reach the apiserver at {self.host}: {e}") from e
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise errors.ClusterUnreachable(
                f"cannot reach the apiserver at {self.host}: {e}",
                hint="check that the cluster is still running") from e
        if isinstance(data, str):
            data = data.encode()
        if status >= 300:
            raise ApiError(status, _status_message(data), what or f"{method} {path}")
        return json.loads(data) if data else None

    def get(self, path: str, what: str = "") -> Any:
        """GET ``path``; ``None`` on 404."""
        try:
            return self.request("GET", path, what=what)
        except ApiError as e:
            if e.status == 404:
                return None
            raise

    # --- namespaces --------------------------------------------------------------------

    def create_namespace(self, name: str, labels: Mapping[str, str]) -> None:
        """Create a namespace with ``labels``."""
        self.request("POST", "/api/v1/namespaces", what=f"create namespace {name}",
                     body={"apiVersion": "v1", "kind": "Namespace",
                           "metadata": {"name": name, "labels": dict(labels)}})

    def namespace(self, name: str) -> dict[str, Any] | None:
        """The namespace object, or ``None``."""
        found: dict[str, Any] | None = self.get(f"/api/v1/namespaces/{name}")
        return found

    def delete_namespace(self, name: str) -> None:
        """Ask for the namespace's deletion (background); a missing one is fine."""
        try:
            self.request("DELETE", f"/api/v1/namespaces/{name}", what=f"delete namespace {name}",
                         body={"propagationPolicy": "Background"})
        except ApiError as e:
            if e.status != 404:
                raise

    def namespaces(self, selector: str) -> list[dict[str, Any]]:
        """Namespaces matching a label selector."""
        body = self.request("GET", "/api/v1/namespaces", query=[("labelSelector", selector)])
        return list(body.get("items", []))

    # --- namespaced objects ------------------------------------------------------------

    def apply(self, doc: Mapping[str, Any], namespace: str) -> dict[str, Any]:
        """Server-side apply ``doc`` into ``namespace`` (creates or updates)."""
        kind = str(doc["kind"])
        resource = resources.KINDS[kind]
        name = str(doc["metadata"]["name"])
        body = dict(doc)
        body["metadata"] = {**doc["metadata"], "namespace": namespace}
        result: dict[str, Any] = self.request(
            "PATCH", resource.path(namespace, name), body=body,
            query=[("fieldManager", FIELD_MANAGER), ("force", "true")],
            content_type="application/apply-patch+yaml", what=f"apply {kind}/{name}")
        return result

    def read(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        """One object; ``ApiError`` 404 when it does not exist."""
        result: dict[str, Any] = self.request(
            "GET", resources.KINDS[kind].path(namespace, name), what=f"read {kind}/{name}")
        return result

    def patch(self, kind: str, namespace: str, name: str, patch: Any, *,
              json_patch: bool = False) -> dict[str, Any]:
        """JSON merge patch (or RFC 6902 JSON patch) one object."""
        content_type = ("application/json-patch+json" if json_patch
                        else "application/merge-patch+json")
        result: dict[str, Any] = self.request(
            "PATCH", resources.KINDS[kind].path(namespace, name), body=patch,
            content_type=content_type, what=f"patch {kind}/{name}")
        return result

    def scale(self, kind: str, namespace: str, name: str, replicas: int) -> None:
        """Set replicas through the scale subresource, as ``kubectl scale`` does."""
        self.request("PATCH", resources.KINDS[kind].path(namespace, name) + "/scale",
                     body={"spec": {"replicas": replicas}},
                     content_type="application/merge-patch+json", what=f"scale {kind}/{name}")

    def objects(self, kind: str, namespace: str, selector: str = "") -> list[dict[str, Any]]:
        """Objects of ``kind`` in ``namespace`` (one page is plenty for a scenario)."""
        query = [("labelSelector", selector)] if selector else []
        body = self.request("GET", resources.KINDS[kind].collection(namespace), query=query,
                            what=f"list {kind}")
        return list(body.get("items", []))

    def delete_pod(self, namespace: str, name: str) -> None:
        """Delete a pod (default grace period); a missing one is fine."""
        try:
            self.request("DELETE", resources.KINDS["Pod"].path(namespace, name),
                         what=f"delete pod {name}")
        except ApiError as e:
            if e.status != 404:
                raise

    def evict(self, namespace: str, name: str) -> bool:
        """Evict a pod through the Eviction API; False when a PodDisruptionBudget refuses."""
        try:
            self.request("POST", resources.KINDS["Pod"].path(namespace, name) + "/eviction",
                         body={"apiVersion": "policy/v1", "kind": "Eviction",
                               "metadata": {"name": name, "namespace": namespace}},
                         what=f"evict pod {name}")
        except ApiError as e:
            if e.status == 404:
                return True
            if e.status == 429:
                return False
            raise
        return True

    # --- nodes -------------------------------------------------------------------------

    def nodes(self) -> list[dict[str, Any]]:
        """Every node."""
        return list(self.request("GET", "/api/v1/nodes", what="list nodes").get("items", []))

    def node(self, name: str) -> dict[str, Any] | None:
        """One node, or ``None``."""
        found: dict[str, Any] | None = self.get(f"/api/v1/nodes/{name}")
        return found

    def create_node(self, body: Mapping[str, Any]) -> None:
        """Create a node object."""
        self.request("POST", "/api/v1/nodes", body=dict(body),
                     what=f"create node {body['metadata']['name']}")

    def delete_node(self, name: str) -> None:
        """Delete a node object; a missing one is fine."""
        try:
            self.request("DELETE", f"/api/v1/nodes/{name}", what=f"delete node {name}")
        except ApiError as e:
            if e.status != 404:
                raise

    def patch_node(self, name: str, patch: Mapping[str, Any]) -> None:
        """Merge-patch a node (lists such as ``spec.taints`` are replaced whole)."""
        self.request("PATCH", f"/api/v1/nodes/{name}", body=dict(patch),
                     content_type="application/merge-patch+json", what=f"patch node {name}")

    def set_unschedulable(self, name: str, value: bool) -> None:
        """Cordon (``True``) or uncordon (``False``) a node."""
        self.request("PATCH", f"/api/v1/nodes/{name}", body={"spec": {"unschedulable": value}},
                     content_type="application/merge-patch+json",
                     what=f"{'cordon' if value else 'uncordon'} node {name}")


def _status_message(body: bytes) -> str:
    try:
        status = json.loads(body)
    except ValueError:
        return body[:300].decode("utf-8", "replace").strip()
    if isinstance(status, Mapping):
        return str(status.get("message") or status.get("reason") or "")
    return ""
