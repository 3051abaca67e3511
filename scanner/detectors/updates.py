"""Rules about StatefulSet and DaemonSet update strategies that hold old revisions on purpose.

* ``partitioned-update`` — a StatefulSet ``RollingUpdate`` with ``partition > 0`` keeps
  ordinals below the partition on the old revision (and recreates them there when
  deleted) while higher ordinals run the update revision.
* ``ondelete-update`` — with ``OnDelete`` the controller replaces nothing: pods move to
  the update revision only when someone deletes them, so the mix lasts until then.

The update revision is StatefulSet ``status.updateRevision``; DaemonSets have no revision
fields in status, so it is the newest ControllerRevision (highest ``revision``), or, when
the input has none, ``updatedNumberScheduled < desiredNumberScheduled``.
"""

from __future__ import annotations

import json
from collections import defaultdict

from scanner import evidence, findings, graph, model
from scanner.detectors import common, rules

__all__ = ["DETECTORS", "ONDELETE_UPDATE", "PARTITIONED_UPDATE"]

PARTITIONED_UPDATE = rules.Rule(
    id="partitioned-update",
    severity=findings.Severity.MEDIUM,
    title="StatefulSet partition holds pods on the old revision",
    rationale=(
        "A RollingUpdate partition is a deliberate canary, but it is easy to forget: pods "
        "below the partition stay on the old revision, come back on it when deleted, and "
        "`kubectl rollout status` calls the partitioned rollout complete."
    ),
    remediation=(
        "Finish the staged rollout by lowering spec.updateStrategy.rollingUpdate.partition "
        "to 0, or roll the updated ordinals back."
    ),
    family="updates",
    controls=("NIST-800-53:CM-2", "NIST-800-53:CM-3"),
    needs=rules.Needs.LIVE,
    concern=rules.Concern.DRIFT,
)

ONDELETE_UPDATE = rules.Rule(
    id="ondelete-update",
    severity=findings.Severity.MEDIUM,
    title="OnDelete update strategy left pods on an old revision",
    rationale=(
        "With updateStrategy OnDelete the controller never replaces a running pod: the new "
        "template reaches a pod only when it is deleted or a node is added, so old and new "
        "builds run side by side per node or ordinal for as long as nobody acts. "
        "`kubectl rollout status` cannot track it."
    ),
    remediation=(
        "Delete the pods still on the old revision (one at a time for stateful apps) or "
        "switch the workload to a RollingUpdate strategy."
    ),
    family="updates",
    controls=("NIST-800-53:CM-2", "NIST-800-53:CM-3"),
    needs=rules.Needs.LIVE,
    concern=rules.Concern.DRIFT,
)


def _behind(
    g: graph.Graph, ref: model.WorkloadRef, update: graph.RevisionGroup | None
) -> dict[str, list[str]]:
    """Live pods not on the update revision, by revision name."""
    if update is None:
        return {}
    behind: dict[str, list[str]] = {}
    for group in graph.revisions(g, ref):
        if group.key == update.key:
            continue
        names = sorted(p.name for p in group.live_pods)
        if names:
            behind[group.name] = names
    return behind


def _digests_by_revision(g: graph.Graph, ref: model.WorkloadRef) -> dict[str, list[str]]:
    result: dict[str, set[str]] = defaultdict(set)
    names = {r.key: r.name for r in graph.revisions(g, ref)}
    for use in graph.digest_uses(g, ref, live_only=True):
        if use.image_id.comparable:
            result[names.get(use.revision, use.revision)].add(use.image_id.key)
    return {k: sorted(v) for k, v in sorted(result.items())}


def partitioned_update(snapshot: model.Snapshot, g: graph.Graph) -> list[findings.Finding]:
    """Fire for StatefulSets whose partition keeps live pods on an older revision."""
    del snapshot
    result = []
    for ref in graph.workloads(g):
        record = graph.workload(g, ref)
        if (
            record is None
            or ref.kind != "StatefulSet"
            or record.strategy != "RollingUpdate"
            or record.partition <= 0
        ):
            continue
        update = graph.newest_revision(g, ref)
        behind = _behind(g, ref, update)
        if not behind:
            continue
        held = sum(len(p) for p in behind.values())
        digests = _digests_by_revision(g, ref)
        patch = json.dumps({"spec": {"updateStrategy": {"rollingUpdate": {"partition": 0}}}},
                           separators=(",", ":"))
        result.append(
            common.finding(
                PARTITIONED_UPDATE,
                ref,
                f"partition {record.partition} holds {held} pod{'s' if held != 1 else ''} on"
                f" {', '.join(sorted(behind))} while the update revision is"
                f" {update.name if update else '?'}",
                observed={d for ds in digests.values() for d in ds},
                evidence=evidence.PartitionedUpdate(
                    partition=record.partition,
                    replicas=record.replicas,
                    current_revision=record.current_revision or None,
                    update_revision=update.name if update else None,
                    pods_behind={k: tuple(v) for k, v in behind.items()},
                    digests_by_revision={k: tuple(v) for k, v in digests.items()},
                ),
                remediation=(
                    "Finish the staged rollout: `"
                    + common.kubectl("patch", "statefulset", ref.name, "-n", ref.namespace,
                                     "-p", patch)
                    + "`."
                ),
            )
        )
    return result


def ondelete_update(snapshot: model.Snapshot, g: graph.Graph) -> list[findings.Finding]:
    """Fire for OnDelete StatefulSets/DaemonSets with live pods off the update revision."""
    del snapshot
    result = []
    for ref in graph.workloads(g):
        record = graph.workload(g, ref)
        if record is None or ref.kind not in ("StatefulSet", "DaemonSet"):
            continue
        if record.strategy != "OnDelete":
            continue
        update = graph.newest_revision(g, ref)
        behind = _behind(g, ref, update)
        status_lag = (
            ref.kind == "DaemonSet"
            and record.desired_number_scheduled is not None
            and record.updated_number_scheduled is not None
            and record.updated_number_scheduled < record.desired_number_scheduled
        )
        has_revision_records = any(r.record is not None for r in graph.revisions(g, ref))
        if not behind and not (status_lag and not has_revision_records):
            continue
        held = sum(len(p) for p in behind.values())
        digests = _digests_by_revision(g, ref)
        if behind:
            message = (
                f"OnDelete left {held} pod{'s' if held != 1 else ''} on"
                f" {', '.join(sorted(behind))}; the update revision is"
                f" {update.name if update else '?'}"
            )
        else:
            message = (
                f"OnDelete: {record.updated_number_scheduled} of"
                f" {record.desired_number_scheduled} scheduled pods run the newest template"
            )
        pods_to_delete = sorted(p for names in behind.values() for p in names)
        delete = (
            f" `{common.kubectl('delete', 'pod', '-n', ref.namespace, *pods_to_delete[:10])}`"
            + (" …" if len(pods_to_delete) > 10 else "")
            if pods_to_delete
            else ""
        )
        result.append(
            common.finding(
                ONDELETE_UPDATE,
                ref,
                message,
                observed={d for ds in digests.values() for d in ds},
                evidence=evidence.OnDeleteUpdate(
                    update_revision=update.name if update else None,
                    current_revision=record.current_revision or None,
                    pods_behind={k: tuple(v) for k, v in behind.items()},
                    digests_by_revision={k: tuple(v) for k, v in digests.items()},
                    desired_number_scheduled=record.desired_number_scheduled,
                    updated_number_scheduled=record.updated_number_scheduled,
                ),
                remediation=(
                    "Replace the old pods (one at a time for stateful apps):"
                    f"{delete or ' delete each pod not on the update revision'}, or switch"
                    " to updateStrategy RollingUpdate."
                ),
            )
        )
    return result


DETECTORS = (
    rules.Detector(PARTITIONED_UPDATE, partitioned_update),
    rules.Detector(ONDELETE_UPDATE, ondelete_update),
)
