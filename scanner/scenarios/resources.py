"""The object kinds a scenario may apply, and where the apiserver serves each of them.

Only namespaced kinds are listed: a scenario lives in its own namespace and never
creates cluster-scoped objects. ``loading`` rejects manifests of other kinds;
``kubeapi`` builds request paths from this table.
"""

from __future__ import annotations

from dataclasses import dataclass

from scanner import model

__all__ = ["KINDS", "Resource", "WORKLOAD_KINDS"]


@dataclass(frozen=True)
class Resource:
    """A namespaced kind and its REST collection."""

    kind: str
    api_version: str
    plural: str

    def collection(self, namespace: str) -> str:
        """``/apis/apps/v1/namespaces/NS/deployments``."""
        base = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        return f"{base}/namespaces/{namespace}/{self.plural}"

    def path(self, namespace: str, name: str) -> str:
        """The object's own path."""
        return f"{self.collection(namespace)}/{name}"


KINDS: dict[str, Resource] = {
    r.kind: r
    for r in (
        Resource("Deployment", "apps/v1", "deployments"),
        Resource("StatefulSet", "apps/v1", "statefulsets"),
        Resource("DaemonSet", "apps/v1", "daemonsets"),
        Resource("ReplicaSet", "apps/v1", "replicasets"),
        Resource("Pod", "v1", "pods"),
        Resource("Service", "v1", "services"),
        Resource("ConfigMap", "v1", "configmaps"),
        Resource("ServiceAccount", "v1", "serviceaccounts"),
        Resource("Job", "batch/v1", "jobs"),
        Resource("CronJob", "batch/v1", "cronjobs"),
        Resource("PodDisruptionBudget", "policy/v1", "poddisruptionbudgets"),
        Resource("HorizontalPodAutoscaler", "autoscaling/v2", "horizontalpodautoscalers"),
    )
}
"""Kinds ``apply`` accepts, by kind."""

WORKLOAD_KINDS = model.ROLLOUT_KINDS
"""Kinds that steps such as ``set-image`` and ``wait: rollout`` address."""
