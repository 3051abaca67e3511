"""Rules about rollouts that leave several versions serving at once.

* ``rollout-version-mix`` — live pods of one workload belong to more than one revision
  and those revisions run different digests of a container.
* ``overlapping-rollout`` — more than two revisions hold live pods, or a new rollout
  began before the previous one finished (two or more older revisions still hold pods).
* ``stalled-rollout`` — ``Progressing=False/ProgressDeadlineExceeded``, or pods stuck in
  ``ErrImagePull``/``ImagePullBackOff`` while other pods serve.
* ``paused-rollout`` — ``spec.paused`` while pods run a mix of builds or the template
  names images the pods do not run.

Revision order follows the controllers: the Deployment revision annotation, the
ControllerRevision number, or StatefulSet ``updateRevision`` for the newest.
"""

from __future__ import annotations

from collections import defaultdict

from scanner import evidence, findings, graph, model
from scanner.detectors import common, rules

__all__ = [
    "DETECTORS",
    "OVERLAPPING_ROLLOUT",
    "PAUSED_ROLLOUT",
    "ROLLOUT_VERSION_MIX",
    "STALLED_ROLLOUT",
]

ROLLOUT_VERSION_MIX = rules.Rule(
    id="rollout-version-mix",
    severity=findings.Severity.MEDIUM,
    title="Live pods span revisions running different builds",
    rationale=(
        "Pods of two or more revisions serve at the same time and run different digests. "
        "During a healthy rollout this lasts minutes; when it persists, clients see two "
        "versions, schema or protocol changes meet old code, and incidents cannot be tied "
        "to one build."
    ),
    remediation=(
        "Let the rollout finish (`kubectl rollout status`) or roll back; pin images by "
        "digest so each revision names exactly one build."
    ),
    family="rollouts",
    controls=("NIST-800-53:CM-2", "SOC2:CC8.1"),
    needs=rules.Needs.LIVE,
    concern=rules.Concern.DRIFT,
    counts_builds=True,
)

OVERLAPPING_ROLLOUT = rules.Rule(
    id="overlapping-rollout",
    severity=findings.Severity.HIGH,
    title="A new rollout started before the previous one finished",
    rationale=(
        "The deployment controller never scales an old ReplicaSet back up, but its ready "
        "pods stay until the oldest revision drains, so v1, v2 and v3 can serve together. "
        "Three versions at once multiply compatibility risk and make rollback ambiguous."
    ),
    remediation=(
        "Wait for each rollout to complete before starting the next (gate on `kubectl "
        "rollout status`), or roll back to one known revision."
    ),
    family="rollouts",
    controls=("NIST-800-53:CM-3", "SOC2:CC8.1"),
    needs=rules.Needs.LIVE,
    concern=rules.Concern.DRIFT,
    counts_builds=True,
)

STALLED_ROLLOUT = rules.Rule(
    id="stalled-rollout",
    severity=findings.Severity.HIGH,
    title="Rollout stuck: new pods cannot start while old ones serve",
    rationale=(
        "New pods cannot pull their image (or the rollout exceeded its progress "
        "deadline) while older pods keep serving. Kubernetes does not roll back on its "
        "own; the workload stays split between versions until someone acts."
    ),
    remediation=(
        "Fix the image reference or registry access, or roll back (`kubectl rollout "
        "undo`); alert on Progressing=False."
    ),
    family="rollouts",
    controls=("NIST-800-53:CM-3", "SOC2:CC8.1"),
    needs=rules.Needs.LIVE,
    concern=rules.Concern.DRIFT,
)

PAUSED_ROLLOUT = rules.Rule(
    id="paused-rollout",
    severity=findings.Severity.MEDIUM,
    title="Paused rollout holds a version mix",
    rationale=(
        "A paused Deployment keeps whatever mix of builds it had, and template edits wait "
        "unapplied; no progress deadline applies, so the split can last indefinitely "
        "without any condition turning red."
    ),
    remediation=(
        "Resume the rollout (`kubectl rollout resume`) or roll back, then pin images by "
        "digest."
    ),
    family="rollouts",
    controls=("NIST-800-53:CM-2", "NIST-800-53:CM-3"),
    needs=rules.Needs.LIVE,
    concern=rules.Concern.DRIFT,
)


def _revision_digests(
    view: common.ContainerUses,
) -> dict[str, dict[str, int]]:
    result: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for use in view.comparable:
        result[use.revision][use.image_id.key] += 1
    return {rev: dict(sorted(c.items())) for rev, c in result.items()}


def _names(g: graph.Graph, ref: model.WorkloadRef) -> dict[str, graph.RevisionGroup]:
    return {r.key: r for r in graph.revisions(g, ref)}


def rollout_version_mix(snapshot: model.Snapshot, g: graph.Graph) -> list[findings.Finding]:
    """Fire per container when ≥2 revisions hold live pods and ≥2 digests run among them."""
    del snapshot
    result = []
    for ref in graph.workloads(g):
        views = common.containers(g, ref)
        # Most workloads run one revision: tell that from a set of keys first.
        if all(len({u.revision for u in view.comparable}) < 2 for view in views):
            continue
        groups = _names(g, ref)
        newest = graph.newest_revision(g, ref)
        for view in views:
            per_revision = _revision_digests(view)
            union = {d for counts in per_revision.values() for d in counts}
            if len(per_revision) < 2 or len(union) < 2:
                continue
            ordered = sorted(per_revision, key=lambda k: _order(groups, k))
            parts = []
            for key in ordered:
                group = groups.get(key)
                label = group.name if group else key
                number = f"revision {group.number} " if group and group.number else ""
                parts.append(f"{number}{label}: {common.describe_digests(per_revision[key])}")
            target_uses = [u for u in view.comparable if newest and u.revision == newest.key]
            among = f" of the newest revision {newest.name}" if target_uses and newest else ""
            pin = common.pick(ref, view.name, view.spec_image(),
                              target_uses or list(view.comparable), among=among)
            result.append(
                common.finding(
                    ROLLOUT_VERSION_MIX,
                    ref,
                    f"container {view.name}: live pods of {len(per_revision)} revisions run"
                    f" {len(union)} builds — {'; '.join(parts)}",
                    container=view.name,
                    observed=union,
                    pin=pin,
                    evidence=evidence.VersionMix(
                        revisions=tuple(
                            evidence.RevisionDigests(
                                revision=groups[k].name if k in groups else k,
                                number=groups[k].number if k in groups else None,
                                pods_by_digest=dict(per_revision[k].items()),
                            )
                            for k in ordered
                        ),
                        newest_revision=newest.name if newest else None,
                        services=common.traffic_evidence(g, ref, view.name),
                        callers=tuple(str(c) for c in graph.callers(g, ref)),
                    ),
                    remediation=(
                        f"Finish or undo the rollout (`{status}`). "
                        + common.pin_sentence(pin, ref)
                        if (status := common.rollout_command("status", ref)) and ref.kind != "Pod"
                        else common.pin_sentence(pin, ref)
                    ),
                )
            )
    return result


def _order(groups: dict[str, graph.RevisionGroup], key: str) -> tuple[int, str]:
    keys = list(groups)
    return (keys.index(key) if key in groups else len(keys), key)


def overlapping_rollout(snapshot: model.Snapshot, g: graph.Graph) -> list[findings.Finding]:
    """Fire when >2 revisions hold live pods, or ≥2 revisions older than the newest do."""
    del snapshot
    result = []
    for ref in graph.workloads(g):
        groups = graph.revisions(g, ref)
        if len(groups) < 2:
            continue
        newest = graph.newest_revision(g, ref)
        holding = [r for r in groups if _holds_pods(r)]
        older_holding = [r for r in holding if newest is None or r.key != newest.key]
        if len(holding) <= 2 and len(older_holding) < 2:
            continue
        described = ", ".join(
            f"{r.name}{f' (revision {r.number})' if r.number else ''}:"
            f" {len(r.live_pods)} live pod{'s' if len(r.live_pods) != 1 else ''}"
            for r in holding
        )
        why = (
            f"{len(holding)} revisions hold live pods"
            if len(holding) > 2
            else f"{len(older_holding)} revisions older than {newest.name if newest else '?'}"
            " still hold pods: a new rollout began before the previous one completed"
        )
        digests = {
            u.image_id.key
            for u in graph.digest_uses(g, ref, live_only=True)
            if u.image_id.comparable
        }
        result.append(
            common.finding(
                OVERLAPPING_ROLLOUT,
                ref,
                f"{why} — {described}",
                observed=digests,
                evidence=evidence.OverlappingRollout(
                    revisions=tuple(
                        evidence.RevisionHolding(
                            revision=r.name,
                            number=r.number,
                            live_pods=len(r.live_pods),
                            desired_replicas=r.record.replicas if r.record else None,
                        )
                        for r in holding
                    ),
                    newest_revision=newest.name if newest else None,
                ),
                remediation=(
                    f"Let {newest.name if newest else 'the newest revision'} finish before "
                    "the next change, or roll back to one revision"
                    + (
                        f" (`{common.rollout_command('undo', ref)}`)."
                        if ref.kind in model.ROLLOUT_KINDS
                        else "."
                    )
                ),
            )
        )
    return result


def _holds_pods(group: graph.RevisionGroup) -> bool:
    if group.live_pods:
        return True
    return group.record is not None and (group.record.replicas or 0) > 0


def stalled_rollout(snapshot: model.Snapshot, g: graph.Graph) -> list[findings.Finding]:
    """Fire on ProgressDeadlineExceeded, or on pull failures while other pods serve."""
    del snapshot
    result = []
    for ref in graph.workloads(g):
        record = graph.workload(g, ref)
        progressing = record.condition("Progressing") if record else None
        deadline = (
            progressing is not None
            and progressing.status == "False"
            and progressing.reason == "ProgressDeadlineExceeded"
        )
        live = [p for p in graph.pods(g, ref) if p.live]
        stuck: dict[str, list[str]] = defaultdict(list)
        stuck_images: set[str] = set()
        for pod in live:
            for c in pod.containers:
                if c.waiting_reason in model.PULL_FAILURE_REASONS:
                    stuck[c.waiting_reason].append(pod.name)
                    stuck_images.add(c.image)
        stuck_pods = {p for names in stuck.values() for p in names}
        serving = [p for p in live if p.ready and p.name not in stuck_pods]
        pull_stall = bool(stuck_pods) and bool(serving)
        if not (deadline or pull_stall):
            continue
        reasons = []
        if pull_stall:
            reasons.append(
                f"{len(stuck_pods)} pod{'s' if len(stuck_pods) != 1 else ''} cannot pull"
                f" {', '.join(sorted(stuck_images))}"
                f" ({', '.join(sorted(stuck))}) while {len(serving)} older pod"
                f"{'s' if len(serving) != 1 else ''} serve"
            )
        if deadline and progressing is not None:
            reasons.append("Progressing=False (ProgressDeadlineExceeded)")
        serving_digests = {
            u.image_id.key
            for u in graph.digest_uses(g, ref, live_only=True)
            if u.image_id.comparable and u.pod.name not in stuck_pods
        }
        rollback = common.rollout_command("undo", ref)
        undo = (
            f" or roll back: `{rollback}`"
            if ref.kind in model.ROLLOUT_KINDS and rollback
            else ""
        )
        result.append(
            common.finding(
                STALLED_ROLLOUT,
                ref,
                "; ".join(reasons),
                observed=serving_digests,
                evidence=evidence.StalledRollout(
                    stuck_pods_by_reason={r: tuple(sorted(p)) for r, p in sorted(stuck.items())},
                    stuck_images=tuple(sorted(stuck_images)),
                    serving_pods=len(serving),
                    progress_deadline_exceeded=deadline,
                    condition_message=progressing.message if progressing else None,
                ),
                remediation=(
                    f"Fix the image {', '.join(sorted(stuck_images)) or 'reference'} (does the"
                    f" tag exist? can the nodes reach the registry?){undo}."
                ),
            )
        )
    return result


def paused_rollout(snapshot: model.Snapshot, g: graph.Graph) -> list[findings.Finding]:
    """Fire for paused workloads whose pods mix builds or lag behind the template."""
    del snapshot
    result = []
    for ref in graph.workloads(g):
        record = graph.workload(g, ref)
        if record is None or not record.paused:
            continue
        mixed = []
        observed: set[str] = set()
        for view in common.containers(g, ref):
            digests = view.digests()
            observed |= digests
            if len(digests) > 1:
                mixed.append(f"{view.name} runs {len(digests)} builds")
        template = {c.name: c.image for c in record.containers}
        lagging = sorted(
            {
                f"{u.container.name} ({u.container.image} → {template[u.container.name]})"
                for u in graph.digest_uses(g, ref, live_only=True)
                if u.container.name in template and u.container.image != template[
                    u.container.name]
            }
        )
        if not mixed and not lagging:
            continue
        parts = list(mixed)
        if lagging:
            parts.append("the template changed but pods still run the old images: "
                         + ", ".join(lagging))
        result.append(
            common.finding(
                PAUSED_ROLLOUT,
                ref,
                f"rollout is paused and {'; '.join(parts)}",
                observed=observed,
                evidence=evidence.PausedRollout(
                    mixed_containers=tuple(mixed), pending_template_changes=tuple(lagging)
                ),
                remediation=(
                    f"Resume (`{common.rollout_command('resume', ref)}`) or roll"
                    f" back (`{common.rollout_command('undo', ref)}`)."
                ),
            )
        )
    return result


DETECTORS = (
    rules.Detector(ROLLOUT_VERSION_MIX, rollout_version_mix),
    rules.Detector(OVERLAPPING_ROLLOUT, overlapping_rollout),
    rules.Detector(STALLED_ROLLOUT, stalled_rollout),
    rules.Detector(PAUSED_ROLLOUT, paused_rollout),
)
