"""Wait conditions over apiserver objects, as `kubectl rollout status` judges them."""

from __future__ import annotations

from typing import Any

from scanner.scenarios import definitions as d
from scanner.scenarios import waits


def deployment(generation: int = 2, observed: int = 2, *, replicas: int = 4, updated: int = 4,
               total: int = 4, available: int = 4, paused: bool = False,
               conditions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"kind": "Deployment", "metadata": {"generation": generation},
            "spec": {"replicas": replicas, "paused": paused},
            "status": {"observedGeneration": observed, "updatedReplicas": updated,
                       "replicas": total, "availableReplicas": available,
                       "conditions": conditions or []}}


def test_a_status_that_has_not_seen_the_new_template_is_not_trusted() -> None:
    check = waits.rollout(deployment(generation=3, observed=2))
    assert not check.done and "not observed the latest spec" in check.detail


def test_deployment_rollout_states() -> None:
    assert waits.rollout(deployment()).done
    assert not waits.rollout(deployment(updated=2)).done          # new pods still coming
    assert not waits.rollout(deployment(total=6)).done            # old pods still there
    assert not waits.rollout(deployment(available=3)).done        # not all available
    paused = waits.rollout(deployment(updated=2, paused=True))
    assert not paused.done and "paused" in paused.detail


def test_progress_deadline_exceeded_fails_the_wait_at_once() -> None:
    check = waits.rollout(deployment(updated=1, conditions=[
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
         "message": 'ReplicaSet "web-1" has timed out progressing.'}]))
    assert check.failed and not check.done
    assert "progress deadline" in check.detail


def statefulset(ready: int, updated: int, partition: int | None,
                strategy: str = "RollingUpdate", current: str = "a",
                update: str = "b") -> dict[str, Any]:
    rolling = {"partition": partition} if partition is not None else {}
    return {"kind": "StatefulSet", "metadata": {"generation": 1},
            "spec": {"replicas": 5, "updateStrategy": {"type": strategy,
                                                       "rollingUpdate": rolling}},
            "status": {"observedGeneration": 1, "readyReplicas": ready,
                       "updatedReplicas": updated, "currentRevision": current,
                       "updateRevision": update}}


def test_statefulset_partition_is_complete_when_the_ordinals_above_it_are_updated() -> None:
    assert not waits.rollout(statefulset(5, 1, 3)).done
    done = waits.rollout(statefulset(5, 2, 3))
    assert done.done and "partitioned roll out complete" in done.detail
    assert not waits.rollout(statefulset(4, 2, 3)).done
    assert not waits.rollout(statefulset(5, 5, None)).done        # revisions differ
    assert waits.rollout(statefulset(5, 5, None, update="a")).done
    assert waits.rollout(statefulset(5, 0, None, strategy="OnDelete")).done


def daemonset(desired: int, updated: int, ready: int, strategy: str) -> dict[str, Any]:
    return {"kind": "DaemonSet", "metadata": {"generation": 2},
            "spec": {"updateStrategy": {"type": strategy}},
            "status": {"observedGeneration": 2, "desiredNumberScheduled": desired,
                       "updatedNumberScheduled": updated, "numberReady": ready,
                       "numberAvailable": ready}}


def test_daemonset_rollout() -> None:
    assert not waits.rollout(daemonset(4, 3, 4, "RollingUpdate")).done
    assert waits.rollout(daemonset(4, 4, 4, "RollingUpdate")).done
    # OnDelete: kubectl cannot track it; every scheduled pod ready is "done".
    assert waits.rollout(daemonset(4, 1, 4, "OnDelete")).done
    assert not waits.rollout(daemonset(4, 1, 3, "OnDelete")).done


def pod(name: str, *, ready: bool = True, image_id: str = "r/web@sha256:aa",
        waiting: str | None = None, deleting: bool = False) -> dict[str, Any]:
    status: dict[str, Any] = {"imageID": image_id if not waiting else ""}
    if waiting:
        status["state"] = {"waiting": {"reason": waiting}}
    meta: dict[str, Any] = {"name": name}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "status": {
        "phase": "Running" if ready else "Pending",
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        "containerStatuses": [status]}}


def test_pods_ready_with_image_ids_and_builds() -> None:
    items = [pod("a"), pod("b", image_id="r/web@sha256:bb"), pod("c", ready=False),
             pod("d", deleting=True), pod("e", ready=False, waiting="ErrImagePull")]
    want = d.WaitPods("app=web", 2)
    assert waits.pods(items, want, None).done
    assert waits.pods(items, want, None).detail == "2 of 4 live pods ready"
    assert not waits.pods(items, d.WaitPods("app=web", 3), None).done
    build = waits.pods(items, d.WaitPods("app=web", 1, build="v2"), "sha256:bb")
    assert build.done and build.detail == "1 of 4 live pods ready running build v2"
    assert not waits.pods(items, d.WaitPods("app=web", 2, build="v2"), "sha256:bb").done
    errs = waits.pods(items, d.WaitPods("app=web", 1, state="pull-error"), None)
    assert errs.done and errs.detail == "1 of 4 live pods in a pull error"


def test_a_pod_without_image_ids_is_not_ready() -> None:
    assert not waits.pod_ready(pod("x", image_id=""))


def replicaset(revision: int, replicas: int, available: int,
               owner: str = "uid-1") -> dict[str, Any]:
    return {"metadata": {"annotations": {waits.REVISION_ANNOTATION: str(revision)},
                         "ownerReferences": [{"uid": owner}]},
            "spec": {"replicas": replicas},
            "status": {"replicas": replicas, "availableReplicas": available}}


def test_replicasets_holding_and_revision_state() -> None:
    web = d.WorkloadName("Deployment", "web")
    items = [replicaset(1, 4, 4), replicaset(2, 2, 2), replicaset(3, 2, 0),
             replicaset(1, 9, 9, owner="someone-else")]
    assert waits.replicasets(items, "uid-1", d.WaitReplicaSets(web, holding=3)).done
    assert not waits.replicasets(items, "uid-1", d.WaitReplicaSets(web, holding=2)).done
    assert waits.replicasets(items, "uid-1",
                             d.WaitReplicaSets(web, revision=2, available=2)).done
    check = waits.replicasets(items, "uid-1", d.WaitReplicaSets(web, revision=3, available=1))
    assert not check.done and "revision 3: 2 replicas, 0 available" in check.detail
    assert waits.replicasets(items, "uid-1", d.WaitReplicaSets(web, revision=1, replicas=4)).done
    missing = waits.replicasets(items, "uid-1", d.WaitReplicaSets(web, revision=4, replicas=1))
    assert not missing.done and "no ReplicaSet for revision 4 yet" in missing.detail


def test_condition() -> None:
    want = d.WaitCondition(d.WorkloadName("Deployment", "web"), "Progressing", "False",
                           "ProgressDeadlineExceeded")
    stalled = deployment(conditions=[{"type": "Progressing", "status": "False",
                                      "reason": "ProgressDeadlineExceeded"}])
    assert waits.condition(stalled, want).done
    going = deployment(conditions=[{"type": "Progressing", "status": "True",
                                    "reason": "ReplicaSetUpdated"}])
    check = waits.condition(going, want)
    assert not check.done and check.detail == "Progressing=True (ReplicaSetUpdated)"
    assert not waits.condition(deployment(), want).done
