"""When is a ``wait`` step done? Pure checks over the objects the apiserver returns.

``steps`` polls the cluster and passes the objects here; unit tests pass hand-written
ones. The rollout checks follow ``kubectl rollout status``
(kubernetes/kubectl ``pkg/polymorphichelpers/rollout_status.go``): nothing counts until
``status.observedGeneration`` has caught up with ``metadata.generation``, so a status
that has not seen the latest template is never trusted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scanner import model
from scanner.scenarios import definitions as d

__all__ = ["Check", "condition", "pod_ready", "pods", "replicasets", "rollout"]

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"


@dataclass(frozen=True)
class Check:
    """The state seen: done or not, in words; ``failed`` when waiting is pointless."""

    done: bool
    detail: str
    failed: bool = False


def _observed(obj: Mapping[str, Any]) -> bool:
    generation = int(obj.get("metadata", {}).get("generation") or 0)
    return int(obj.get("status", {}).get("observedGeneration") or 0) >= generation


def rollout(obj: Mapping[str, Any]) -> Check:
    """Whether a Deployment, StatefulSet or DaemonSet finished rolling out."""
    kind = obj.get("kind")
    if not _observed(obj):
        return Check(False, "the controller has not observed the latest spec yet")
    if kind == "Deployment":
        return _deployment(obj)
    if kind == "StatefulSet":
        return _statefulset(obj)
    return _daemonset(obj)


def _deployment(obj: Mapping[str, Any]) -> Check:
    spec, status = obj.get("spec", {}), obj.get("status", {})
    for c in status.get("conditions") or []:
        if c.get("type") == "Progressing" and c.get("reason") == "ProgressDeadlineExceeded":
            return Check(False, f"rollout exceeded its progress deadline: {c.get('message')}",
                         failed=True)
    want = int(spec.get("replicas", 1))
    updated = int(status.get("updatedReplicas") or 0)
    replicas = int(status.get("replicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    seen = f"{updated} of {want} updated, {replicas} total, {available} available"
    if spec.get("paused"):
        seen += " (paused: the rollout does not progress)"
    if updated < want or replicas > updated or available < updated:
        return Check(False, seen)
    return Check(True, seen)


def _statefulset(obj: Mapping[str, Any]) -> Check:
    spec, status = obj.get("spec", {}), obj.get("status", {})
    want = int(spec.get("replicas", 1))
    ready = int(status.get("readyReplicas") or 0)
    updated = int(status.get("updatedReplicas") or 0)
    strategy = spec.get("updateStrategy") or {}
    seen = f"{ready} of {want} ready, {updated} updated"
    if ready < want:
        return Check(False, seen)
    if strategy.get("type") == "OnDelete":
        return Check(True, seen + " (OnDelete: pods change only when deleted)")
    partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
    if partition > 0:
        if updated < want - partition:
            return Check(False, f"{seen}; partition {partition}: waiting for "
                                f"{want - partition} updated")
        return Check(True, f"{seen}; partitioned roll out complete")
    if status.get("updateRevision") != status.get("currentRevision"):
        return Check(False, f"{seen}; revision {status.get('currentRevision')} → "
                            f"{status.get('updateRevision')}")
    return Check(True, seen)


def _daemonset(obj: Mapping[str, Any]) -> Check:
    spec, status = obj.get("spec", {}), obj.get("status", {})
    desired = int(status.get("desiredNumberScheduled") or 0)
    updated = int(status.get("updatedNumberScheduled") or 0)
    available = int(status.get("numberAvailable") or 0)
    ready = int(status.get("numberReady") or 0)
    seen = f"{ready} of {desired} ready, {updated} updated, {available} available"
    if (spec.get("updateStrategy") or {}).get("type") == "OnDelete":
        return Check(ready >= desired, seen + " (OnDelete: pods change only when deleted)")
    return Check(updated >= desired and available >= desired, seen)


def condition(obj: Mapping[str, Any], want: d.WaitCondition) -> Check:
    """Whether the workload's condition ``want.type`` has the wanted status and reason."""
    if not _observed(obj):
        return Check(False, "the controller has not observed the latest spec yet")
    for c in obj.get("status", {}).get("conditions") or []:
        if c.get("type") != want.type:
            continue
        seen = f"{want.type}={c.get('status')} ({c.get('reason') or 'no reason'})"
        ok = c.get("status") == want.status and (want.reason is None
                                                 or c.get("reason") == want.reason)
        return Check(ok, seen)
    return Check(False, f"no {want.type} condition yet")


def pod_ready(pod: Mapping[str, Any]) -> bool:
    """Ready=True and every container (init ones included) reports an imageID."""
    status = pod.get("status", {})
    ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                for c in status.get("conditions") or [])
    statuses = [*(status.get("initContainerStatuses") or []),
                *(status.get("containerStatuses") or [])]
    return ready and bool(statuses) and all(s.get("imageID") for s in statuses)


def _pull_error(pod: Mapping[str, Any]) -> bool:
    status = pod.get("status", {})
    return any(((s.get("state") or {}).get("waiting") or {}).get("reason")
               in model.PULL_FAILURE_REASONS
               for s in [*(status.get("initContainerStatuses") or []),
                         *(status.get("containerStatuses") or [])])


def _runs(pod: Mapping[str, Any], digest: str) -> bool:
    status = pod.get("status", {})
    return any(str(s.get("imageID") or "").endswith("@" + digest)
               for s in [*(status.get("initContainerStatuses") or []),
                         *(status.get("containerStatuses") or [])])


def live(pods_: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Pods not being deleted and not finished."""
    return [p for p in pods_ if not p.get("metadata", {}).get("deletionTimestamp")
            and p.get("status", {}).get("phase") not in ("Succeeded", "Failed")]


def pods(items: Sequence[Mapping[str, Any]], want: d.WaitPods, digest: str | None) -> Check:
    """Whether at least ``want.count`` live pods are in the wanted state (and build)."""
    alive = live(items)
    in_state = [p for p in alive if (pod_ready(p) if want.state == "ready" else _pull_error(p))]
    if digest is not None:
        in_state = [p for p in in_state if _runs(p, digest)]
    what = "ready" if want.state == "ready" else "in a pull error"
    build = f" running build {want.build}" if want.build else ""
    seen = f"{len(in_state)} of {len(alive)} live pods {what}{build}"
    return Check(len(in_state) >= want.count, seen)


def replicasets(items: Sequence[Mapping[str, Any]], owner_uid: str,
                want: d.WaitReplicaSets) -> Check:
    """Whether the Deployment's ReplicaSets hold what ``want`` says."""
    owned = [rs for rs in items
             if any(o.get("uid") == owner_uid
                    for o in rs.get("metadata", {}).get("ownerReferences") or [])]
    holding = [rs for rs in owned if int(rs.get("status", {}).get("replicas") or 0) > 0]
    parts = [f"{len(holding)} of {len(owned)} ReplicaSets hold pods"]
    ok = want.holding is None or len(holding) == want.holding
    if want.revision is not None:
        rs = next((r for r in owned if (r.get("metadata", {}).get("annotations") or {})
                   .get(REVISION_ANNOTATION) == str(want.revision)), None)
        if rs is None:
            parts.append(f"no ReplicaSet for revision {want.revision} yet")
            ok = False
        else:
            replicas = int(rs.get("spec", {}).get("replicas") or 0)
            available = int(rs.get("status", {}).get("availableReplicas") or 0)
            parts.append(f"revision {want.revision}: {replicas} replicas, {available} available")
            ok = ok and (want.replicas is None or replicas == want.replicas)
            ok = ok and (want.available is None or available >= want.available)
    return Check(ok, "; ".join(parts))
