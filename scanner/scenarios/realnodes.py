"""Scenario runs on real nodes (``scenario run --real-nodes N``): placing pods, adapting specs.

A kwok cluster the run starts with real nodes (kubelet + containerd) beside its fake
ones. For each scenario:

* the fake nodes get a ``NoSchedule`` taint naming the run (:func:`taint_fake_nodes`), so
  the scheduler places the scenario's pods — DaemonSet pods too, which tolerate a
  cordon but not an unknown taint — on the real nodes; cleanup removes exactly the
  taints it added (:func:`untaint`);
* the manifests it applies are adapted to builds that hold no real program
  (:func:`adapt`): the builds are busybox that sleeps, so probes written for the real
  program would never pass (they are dropped), a container's own ``command`` would name a
  program that is not there (dropped: the build's entrypoint runs and ignores ``args``),
  and init containers that must finish run ``/bin/true`` (native sidecars keep running);
* the journal records which kind of node ran each scenario's pods (:func:`node_types`).

``add-node`` on such a run starts one more real node (:func:`node_hooks`), labelled with
the run like every object a scenario creates; cleanup stops it and removes what it made.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterable
from typing import Any

from scanner import errors
from scanner.clusters import base
from scanner.scenarios import kubeapi, records

__all__ = ["NODE_TYPE_LABEL", "TAINT_KEY", "adapt", "fake_nodes", "lift_taints", "node_hooks",
           "node_type", "node_types", "record_node_types", "taint_fake_nodes", "untaint"]

NODE_TYPE_LABEL = "driftscan.io/node-type"
TAINT_KEY = "driftscan.io/real-nodes-only"
_KWOK_ANNOTATION = "kwok.x-k8s.io/node"
_PROBES = ("readinessProbe", "livenessProbe", "startupProbe")


def node_type(node: dict[str, Any]) -> str:
    """``real`` or ``fake`` (a KWOK node), by label or KWOK's annotation."""
    meta = node.get("metadata", {})
    label = (meta.get("labels") or {}).get(NODE_TYPE_LABEL)
    if label in ("real", "fake"):
        return str(label)
    return "fake" if (meta.get("annotations") or {}).get(_KWOK_ANNOTATION) == "fake" else "real"


def fake_nodes(nodes: Iterable[dict[str, Any]]) -> list[str]:
    """Names of the fake nodes among ``nodes``."""
    return sorted(n["metadata"]["name"] for n in nodes if node_type(n) == "fake")


def taint_fake_nodes(kube: kubeapi.Kube, run_id: str) -> list[str]:
    """Taint every fake node ``TAINT_KEY=RUN:NoSchedule``; the names of those tainted now."""
    tainted = []
    for node in kube.nodes():
        if node_type(node) != "fake":
            continue
        taints = list(node.get("spec", {}).get("taints") or [])
        if any(t.get("key") == TAINT_KEY for t in taints):
            continue
        taints.append({"key": TAINT_KEY, "value": run_id, "effect": "NoSchedule"})
        kube.patch_node(node["metadata"]["name"], {"spec": {"taints": taints}})
        tainted.append(node["metadata"]["name"])
    return tainted


def untaint(kube: kubeapi.Kube, names: Iterable[str], run_id: str) -> None:
    """Remove the run's taint from ``names`` (and no other taint)."""
    for name in names:
        node = kube.node(name)
        if node is None:
            continue
        taints = list(node.get("spec", {}).get("taints") or [])
        kept = [t for t in taints if not (t.get("key") == TAINT_KEY
                                          and t.get("value") == run_id)]
        if len(kept) != len(taints):
            kube.patch_node(name, {"spec": {"taints": kept or None}})


def _pod_specs(doc: dict[str, Any]) -> list[dict[str, Any]]:
    kind = doc.get("kind")
    spec = doc.get("spec") or {}
    if kind == "Pod":
        return [spec]
    if kind == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec") or {})
    template = (spec.get("template") or {}).get("spec")
    return [template] if isinstance(template, dict) else []


def adapt(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with its pod template fitted to runnable busybox builds (a copy)."""
    out = copy.deepcopy(doc)
    for spec in _pod_specs(out):
        for c in spec.get("containers") or []:
            for key in (*_PROBES, "command"):
                c.pop(key, None)
        for c in spec.get("initContainers") or []:
            for key in _PROBES:
                c.pop(key, None)
            if c.get("restartPolicy") == "Always":
                c.pop("command", None)  # a native sidecar keeps running
            else:
                c["command"], c["args"] = ["/bin/true"], []
        if doc.get("kind") in ("Job", "CronJob"):
            for c in spec.get("containers") or []:
                c["command"], c["args"] = ["/bin/true"], []
    return out


def node_types(kube: kubeapi.Kube, namespace: str) -> list[str]:
    """The kinds of node (``real``, ``fake``) the pods of ``namespace`` run on."""
    kinds = {}
    for node in kube.nodes():
        kinds[node["metadata"]["name"]] = node_type(node)
    found = set()
    for pod in kube.objects("Pod", namespace):
        name = (pod.get("spec") or {}).get("nodeName")
        if name:
            found.add(kinds.get(name, "real"))
    return sorted(found)


def record_node_types(rec: records.ScenarioRecord, kube: kubeapi.Kube) -> None:
    """Note which kinds of node ran the scenario's pods (before cleanup deletes them)."""
    if rec.namespace:
        with contextlib.suppress(errors.DriftscanError):
            rec.node_types = node_types(kube, rec.namespace)


def lift_taints(rec: records.ScenarioRecord, kube: kubeapi.Kube, tainted: list[str],
                run_id: str) -> None:
    """Lift the run's taint from the fake nodes tainted for this scenario; errors recorded."""
    if not tainted:
        return
    try:
        untaint(kube, tainted, run_id)
    except errors.DriftscanError as e:
        if rec.cleanup is not None:
            rec.cleanup.errors.append(f"untaint {', '.join(tainted)}: {e}")


def node_hooks(handle: base.ClusterHandle, say: base.Say) -> dict[str, Any]:
    """``add_node``/``remove_node`` for a scenario's Workspace: real nodes of ``handle``."""
    from scanner.clusters import kwok

    provider = kwok.KwokProvider(handle.name)

    def add(name: str) -> None:
        provider.add_real_node(say, name=name)

    return {"add_node": add, "remove_node": provider.remove_real_node}
