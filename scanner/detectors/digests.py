"""Rules about the builds pods actually run: ``digest-drift`` and ``unverifiable-image-id``.

``digest-drift`` is the re-pushed tag: pods of one revision (same pod-template-hash or
controller-revision-hash, so the same template and the same image string) resolved the
tag at different times or on different nodes and run different registry digests. No
Kubernetes status shows it; only ``imageID`` does.

``unverifiable-image-id`` marks containers whose ``imageID`` is a config id
(``sha256:…`` without a repository: ``kind load``, some runtimes) or an unknown form:
such a value cannot be compared with registry digests, so uniformity cannot be proven.
"""

from __future__ import annotations

from collections import defaultdict

from scanner import evidence, findings, graph, images, model
from scanner.detectors import common, rules

__all__ = ["DETECTORS", "DIGEST_DRIFT", "UNVERIFIABLE_IMAGE_ID"]

DIGEST_DRIFT = rules.Rule(
    id="digest-drift",
    severity=findings.Severity.HIGH,
    title="Pods of one revision run different builds",
    rationale=(
        "Pods created from the same template run different image digests, usually because "
        "the tag was re-pushed and pods pulled it at different times or on different "
        "nodes. Requests are served by two builds at once, no rollout is in progress to "
        "explain it, and every Kubernetes status still reports the workload as healthy."
    ),
    remediation=(
        "Pin the image to one digest (image:tag@sha256:…) so every pod runs the same "
        "build; the change rolls the workload onto it. Stop re-pushing release tags."
    ),
    family="digests",
    controls=("NIST-800-53:CM-2", "NIST-800-53:CM-3", "NIST-800-53:SI-7", "SOC2:CC7.1",
              "SOC2:CC8.1"),
    needs=rules.Needs.LIVE,
    concern=rules.Concern.DRIFT,
    counts_builds=True,
)

UNVERIFIABLE_IMAGE_ID = rules.Rule(
    id="unverifiable-image-id",
    severity=findings.Severity.LOW,
    title="imageID is not a registry digest",
    rationale=(
        "The runtime reports a config id (sha256:… without a repository, as with "
        "`kind load` images) or an unknown form instead of repo@sha256:…. Config ids "
        "cannot be compared with registry digests, so nobody can prove these pods run the "
        "build the registry serves, or the same build as their siblings."
    ),
    remediation=(
        "Pull images from a registry (not side-loaded) and pin them by digest, so the "
        "runtime reports repo@sha256:… for every pod."
    ),
    family="digests",
    controls=("NIST-800-53:SI-7", "SLSA-1.0:verify-artifacts"),
    needs=rules.Needs.LIVE,
    concern=rules.Concern.DRIFT,
)


def digest_drift(snapshot: model.Snapshot, g: graph.Graph) -> list[findings.Finding]:
    """Fire per container and revision when live pods of that revision run >1 digest."""
    result = []
    for ref in graph.workloads(g):
        for view in common.containers(g, ref):
            by_revision: dict[str, list[graph.DigestUse]] = defaultdict(list)
            for use in view.comparable:
                by_revision[use.revision].append(use)
            for revision_key, uses in sorted(by_revision.items()):
                # Most revisions run one build: tell that from a set of keys before
                # counting and sorting pod names per digest.
                if len({u.image_id.key for u in uses}) < 2:
                    continue
                counts = common.count_by_digest(uses)
                result.append(_drift_finding(snapshot, g, ref, view, revision_key, uses,
                                             counts))
    return result


def _drift_finding(
    snapshot: model.Snapshot,
    g: graph.Graph,
    ref: model.WorkloadRef,
    view: common.ContainerUses,
    revision_key: str,
    uses: list[graph.DigestUse],
    counts: dict[str, int],
) -> findings.Finding:
    revision_name = next(
        (r.name for r in graph.revisions(g, ref) if r.key == revision_key), revision_key
    )
    spec_images = sorted({u.container.image for u in uses})
    nodes: dict[str, set[str]] = defaultdict(set)
    for use in uses:
        if use.pod.node:
            nodes[use.image_id.key].add(use.pod.node)
    image = view.spec_image()
    pin = common.pick(ref, view.name, image, uses,
                      tag_digest=common.tag_digest(snapshot, image))
    kind = "init container" if view.role.is_init else "container"
    message = (
        f"{kind} {view.name}: pods of revision {revision_name} run {len(counts)} builds of"
        f" {', '.join(spec_images)}: {common.describe_digests(counts)}"
    )
    return common.finding(
        DIGEST_DRIFT,
        ref,
        message,
        container=view.name,
        observed=counts,
        pin=pin,
        evidence=evidence.DigestDrift(
            revision=revision_name,
            revision_hash=revision_key,
            spec_images=tuple(spec_images),
            pods_by_digest={d: tuple(p) for d, p in common.pods_by_digest(uses).items()},
            nodes_by_digest={d: tuple(sorted(n)) for d, n in sorted(nodes.items())},
            services=common.traffic_evidence(g, ref, view.name),
            callers=tuple(str(c) for c in graph.callers(g, ref)),
        ),
        remediation=common.pin_sentence(pin, ref),
    )


def unverifiable_image_id(snapshot: model.Snapshot, g: graph.Graph) -> list[findings.Finding]:
    """Fire per container when live pods report config ids or unknown imageID forms."""
    del snapshot
    result = []
    for ref in graph.workloads(g):
        for view in common.containers(g, ref):
            odd = [
                u
                for u in view.uses
                if u.image_id.kind in (images.ImageIDKind.CONFIG_ID, images.ImageIDKind.UNKNOWN)
            ]
            if not odd:
                continue
            runtimes = sorted(
                {
                    n.container_runtime
                    for u in odd
                    if (n := graph.node(g, u.pod.node)) is not None and n.container_runtime
                }
            )
            config_ids = sum(u.image_id.kind is images.ImageIDKind.CONFIG_ID for u in odd)
            what = "a config id" if config_ids == len(odd) else "not a registry digest"
            pods = sorted({u.pod.name for u in odd})
            pin = common.pick(ref, view.name, view.spec_image(), view.uses)
            result.append(
                common.finding(
                    UNVERIFIABLE_IMAGE_ID,
                    ref,
                    f"container {view.name}: imageID on {len(pods)} pod"
                    f"{'s' if len(pods) != 1 else ''} is {what}"
                    f" ({', '.join(sorted({u.image_id.raw for u in odd})[:3])}); uniformity"
                    " across pods cannot be proven",
                    container=view.name,
                    observed=[u.image_id.raw for u in odd],
                    pin=pin,
                    evidence=evidence.UnverifiableImageID(
                        image_ids_by_pod={u.pod.name: u.image_id.raw for u in odd},
                        kinds=tuple(sorted({u.image_id.kind.value for u in odd})),
                        runtimes=tuple(runtimes),
                    ),
                    remediation=(
                        common.pin_sentence(pin, ref)
                        if pin
                        else "Push the image to a registry, reference it by digest, and let"
                        " the nodes pull it."
                    ),
                )
            )
    return result


DETECTORS = (
    rules.Detector(DIGEST_DRIFT, digest_drift),
    rules.Detector(UNVERIFIABLE_IMAGE_ID, unverifiable_image_id),
)
